/*
 * data.c - the benchmark's data set and small helpers the adapters share.
 *
 * Keys and values come from a counter-based generator (wyrand evaluated at state
 * base + counter * increment, one 64x64->128-bit multiply per 8 bytes), so key i and value i
 * can be made in any order, by any engine, without storing them: the loader and the verifier
 * agree by construction, and the data is identical for every engine run from the same seed.
 * It is cheap on purpose, because it runs inside the timed load and get loops.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define WYRAND_INC 0xa0761d6478bd642full
#define WYRAND_XOR 0xe7037ed1a0b428dbull
/* Streams: independent sequences derived from one seed. */
#define STREAM_KEY 0x6b6579732d2d2d31ull   /* "keys---1" */
#define STREAM_VALUE 0x76616c7565732d32ull /* "values-2" */
#define STREAM_PERM 0x7065726d2d2d2d33ull  /* "perm---3" */
#define STREAM_UPDATE_KEY 0x7570642d6b657934ull /* "upd-key4" */
#define STREAM_UPDATE_VAL 0x7570642d76616c35ull /* "upd-val5" */
/* The first 8 bytes of an update's value: this tag xor the key's index, so a reader can tell
 * an updated value from the loaded one (and from an update of another key). */
#define UPDATE_TAG 0x5550444154454421ull    /* "UPDATED!" */

#define WORD 8
#define KEY_WORDS (BENCH_KEY_SIZE / WORD)
#define VALUE_WORDS ((BENCH_VALUE_SIZE + WORD - 1) / WORD)

/* The splitmix64 finalizer: turns the seed into well-mixed stream bases. */
static uint64_t fmix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t stream_base(const bench_data *data, uint64_t stream)
{
    return fmix(data->seed ^ stream);
}

/* Word number counter of a stream: wyrand's output for the state it has after counter + 1
 * steps from base. */
static uint64_t stream_word(uint64_t base, uint64_t counter)
{
    uint64_t s = base + (counter + 1) * WYRAND_INC;
    __extension__ unsigned __int128 m = (unsigned __int128)s * (s ^ WYRAND_XOR);
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

void bench_key(const bench_data *data, uint64_t i, uint8_t out[BENCH_KEY_SIZE])
{
    uint64_t base = stream_base(data, STREAM_KEY);
    for (unsigned w = 0; w < KEY_WORDS; w++) {
        uint64_t x = stream_word(base, i * KEY_WORDS + w);
        memcpy(out + w * WORD, &x, WORD);
    }
}

void bench_value(const bench_data *data, uint64_t i, uint8_t out[BENCH_VALUE_SIZE])
{
    uint64_t base = stream_base(data, STREAM_VALUE);
    uint8_t buf[VALUE_WORDS * WORD];
    for (unsigned w = 0; w < VALUE_WORDS; w++) {
        uint64_t x = stream_word(base, i * VALUE_WORDS + w);
        memcpy(buf + w * WORD, &x, WORD);
    }
    memcpy(out, buf, BENCH_VALUE_SIZE);
}

/* A plain sum of the value's 8-byte words and trailing bytes: it reads every byte for a few
 * cycles, so the scan's check costs every engine the same small amount. Summed over all values
 * it does not depend on order. */
uint64_t bench_value_digest(const void *val, size_t len)
{
    const uint8_t *p = val;
    uint64_t sum = len;
    size_t i = 0;
    for (; i + WORD <= len; i += WORD) {
        uint64_t x;
        memcpy(&x, p + i, WORD);
        sum += x;
    }
    for (; i < len; i++)
        sum += (uint64_t)p[i] << (8 * (i % WORD));
    return sum;
}

uint64_t bench_update(const bench_data *data, uint64_t u, uint8_t val[BENCH_VALUE_SIZE])
{
    uint64_t i = stream_word(stream_base(data, STREAM_UPDATE_KEY), u) % data->n;
    uint64_t base = stream_base(data, STREAM_UPDATE_VAL);
    uint8_t buf[VALUE_WORDS * WORD];
    for (unsigned w = 0; w < VALUE_WORDS; w++) {
        uint64_t x = stream_word(base, u * VALUE_WORDS + w);
        memcpy(buf + w * WORD, &x, WORD);
    }
    uint64_t tag = UPDATE_TAG ^ i;
    memcpy(buf, &tag, WORD);
    memcpy(val, buf, BENCH_VALUE_SIZE);
    return i;
}

int bench_is_update(uint64_t i, const void *val, size_t len)
{
    uint64_t tag;
    if (len != BENCH_VALUE_SIZE)
        return 0;
    memcpy(&tag, val, WORD);
    return tag == (UPDATE_TAG ^ i);
}

uint32_t *bench_permutation(const bench_data *data)
{
    uint32_t *perm = malloc((data->n ? data->n : 1) * sizeof *perm);
    if (!perm)
        return NULL;
    for (uint64_t i = 0; i < data->n; i++)
        perm[i] = (uint32_t)i;
    uint64_t base = stream_base(data, STREAM_PERM);
    /* Fisher-Yates; the modulo bias of a 64-bit draw over at most 2^32 slots is below 2^-32. */
    for (uint64_t i = data->n; i > 1; i--) {
        uint64_t j = stream_word(base, i) % i;
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    return perm;
}

int bench_mkdir(const char *dir)
{
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
        return BENCH_ERR;
    }
    return 0;
}

char *bench_path(const char *dir, const char *name)
{
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

void bench_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_die(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void bench_pg_conninfo(const char *prog, const char *state_path, char *out, size_t size)
{
    FILE *f = fopen(state_path, "r");
    if (!f) bench_die(prog, "no state file %s", state_path);
    char line[2048];
    out[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "conninfo=", 9) == 0)
            snprintf(out, size, "%.*s", (int)strcspn(line + 9, "\n"), line + 9);
    fclose(f);
    if (!out[0]) bench_die(prog, "state file %s has no conninfo=", state_path);
}
