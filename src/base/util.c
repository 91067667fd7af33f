/*
 * util.c - small helpers with no better home: hex, printable renderings of keys for error
 * messages, clocks, the CPU count, and the public id conversions.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

static const char hexdig[] = "0123456789abcdef";

static _Thread_local const void *tls_cb_owner; /* see cairn_cb_enter() */

const void *cairn_cb_enter(const void *owner)
{
    const void *prev = tls_cb_owner;
    tls_cb_owner = owner;
    return prev;
}

void cairn_cb_leave(const void *prev) { tls_cb_owner = prev; }

bool cairn_cb_inside(const void *owner) { return owner && tls_cb_owner == owner; }

/* Eight hex digits of four bytes at once: each byte's nibbles spread to a byte each (high
 * first), then each nibble n made '0' + n, plus 39 more ('a' - '0' - 10) where n > 9. Hashes
 * come out as hex with every stored document read (its _hash), a tenth of a short query. */
static void hex4(char *out, const uint8_t *p)
{
    uint64_t x = load_le32(p);
    x = (x | (x << 16)) & 0x0000ffff0000ffffull;
    x = (x | (x << 8)) & 0x00ff00ff00ff00ffull;      /* byte i in bits 16i..16i+7 */
    uint64_t nib = ((x >> 4) & 0x000f000f000f000full) | ((x & 0x000f000f000f000full) << 8);
    uint64_t over9 = ((nib + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    store_le64((uint8_t *)out, nib + 0x3030303030303030ull + over9 * 39);
}

void hex_encode(char *out, const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) hex4(out + 2 * i, p + i);
    for (; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* lower_hex[c]: 1 + the value of c as a lower-case hex digit; 0 for any other byte */
static const uint8_t lower_hex[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

bool id_from_lower_hex(cairn_id *out, const char *hex)
{
    bool ok = true;
    for (size_t i = 0; i < CAIRN_ID_SIZE; i++) {
        unsigned hi = lower_hex[(uint8_t)hex[2 * i]], lo = lower_hex[(uint8_t)hex[2 * i + 1]];
        ok &= hi != 0 && lo != 0;
        out->bytes[i] = (uint8_t)((hi - 1) << 4 | ((lo - 1) & 15));
    }
    return ok;
}

void cairn_id_to_hex(char out[CAIRN_ID_HEX_SIZE], const cairn_id *id)
{
    hex_encode(out, id->bytes, CAIRN_ID_SIZE);
}

int cairn_id_from_hex(cairn_id *out, const char *hex)
{
    cairn_id id;
    for (size_t i = 0; i < CAIRN_ID_SIZE; i++) {
        int hi = hex_val(hex[2 * i]);
        int lo = hi < 0 ? -1 : hex_val(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ERR(CAIRN_EINVAL, "'%.80s' is not a chunk id: expected 64 hex digits", hex);
        id.bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * CAIRN_ID_SIZE] != '\0')
        return ERR(CAIRN_EINVAL, "'%.80s' is not a chunk id: expected 64 hex digits", hex);
    *out = id;
    return CAIRN_OK;
}

/* Length of the valid UTF-8 sequence of 2..4 bytes at p (lead byte >= 0x80), or 0. */
static size_t utf8_multi(const uint8_t *p, size_t n)
{
    static const struct { uint8_t lead_min, lead_max, len, min1, max1; } SEQ[] = {
        { 0xc2, 0xdf, 2, 0x80, 0xbf }, { 0xe0, 0xe0, 3, 0xa0, 0xbf }, /* no overlong forms */
        { 0xe1, 0xec, 3, 0x80, 0xbf }, { 0xed, 0xed, 3, 0x80, 0x9f }, /* no surrogates */
        { 0xee, 0xef, 3, 0x80, 0xbf }, { 0xf0, 0xf0, 4, 0x90, 0xbf },
        { 0xf1, 0xf3, 4, 0x80, 0xbf }, { 0xf4, 0xf4, 4, 0x80, 0x8f }, /* up to U+10FFFF */
    };
    for (size_t s = 0; s < sizeof SEQ / sizeof SEQ[0]; s++) {
        if (p[0] < SEQ[s].lead_min || p[0] > SEQ[s].lead_max) continue;
        if (n < SEQ[s].len || p[1] < SEQ[s].min1 || p[1] > SEQ[s].max1) return 0;
        for (size_t i = 2; i < SEQ[s].len; i++)
            if ((p[i] & 0xc0) != 0x80) return 0;
        return SEQ[s].len;
    }
    return 0;
}

char *bytes_show(char *out, size_t out_size, const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t o = 0;
    if (out_size < 8) {
        if (out_size) out[0] = '\0';
        return out;
    }
    for (size_t i = 0; i < n;) {
        char tmp[5];
        size_t w = 1, used = 1;
        const char *esc = p[i] == '\t' ? "\\t" : p[i] == '\n' ? "\\n" : p[i] == '\r' ? "\\r"
                          : p[i] == '\\' ? "\\\\" : NULL;
        if (esc) {
            w = 2;
            memcpy(tmp, esc, 2);
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            tmp[0] = (char)p[i];
        } else if (p[i] >= 0x80 && (used = utf8_multi(p + i, n - i)) != 0) {
            w = used;
            memcpy(tmp, p + i, used);
        } else {
            used = 1;
            w = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
        }
        if (o + w + 4 > out_size) {
            memcpy(out + o, "...", 4);
            return out;
        }
        memcpy(out + o, tmp, w);
        o += w;
        i += used;
    }
    out[o] = '\0';
    return out;
}

double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void clock_deadline(struct timespec *out, double seconds)
{
    clock_gettime(CLOCK_REALTIME, out);
    uint64_t ns = (uint64_t)out->tv_nsec + (uint64_t)(seconds * 1e9);
    out->tv_sec += (time_t)(ns / 1000000000);
    out->tv_nsec = (long)(ns % 1000000000);
}

int64_t clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Both count in 400-year eras of 146097 days from March 1st, so that February's day is the last
 * of a year. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;
static int cpus_online = 1; /* set once by count_cpus(), then only read */

static void count_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus_online = n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

int base_cpus(void)
{
    pthread_once(&cpus_once, count_cpus);
    return cpus_online;
}
