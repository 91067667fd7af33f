/*
 * tuple.c - typed, order-preserving tuple keys (after FoundationDB's tuple layer): the element
 * appenders and the reader behind tuple.h, and the public cairn_tuple_* builder and
 * cairn_tuple_decode() on top of them. docs/FORMAT.md ("Tuple keys") describes every byte.
 *
 * The reader accepts only the one canonical encoding of a tuple (minimal integers, the canonical
 * NaN, valid UTF-8, escapes where they belong), so that equal tuples are equal keys and a decoded
 * tuple re-encodes to the very same bytes. Errors carry the byte offset where the input went
 * wrong. Payloads without escaped zero bytes are handed out in place, without copying.
 */
#include <stdlib.h>

#include "db/tuple.h"

#define SIGN_BIT 0x8000000000000000ull
#define EXP_MASK 0x7ff0000000000000ull
#define MANT_MASK 0x000fffffffffffffull
#define QUIET_NAN 0x7ff8000000000000ull /* the one NaN we store, with either sign */
#define INT_MAX_LEN 8                   /* bytes of magnitude in an int64 element */
#define BIGINT_NEG 0x0b                 /* FoundationDB's arbitrary-precision integer codes */
#define BIGINT_POS 0x1d

/* ---- UTF-8 ---- */

static bool ascii8(const uint8_t *s)
{
    uint64_t w;
    memcpy(&w, s, 8);
    return (w & 0x8080808080808080ull) == 0;
}

size_t tuple_utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8 && ascii8(s + i)) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Unicode 15, table 3-7: the second byte's range depends on the first. */
        size_t more;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) more = 1;
        else if (c == 0xe0) more = 2, lo = 0xa0;           /* no overlongs */
        else if (c == 0xed) more = 2, hi = 0x9f;           /* no surrogates */
        else if (c >= 0xe1 && c <= 0xef) more = 2;
        else if (c == 0xf0) more = 3, lo = 0x90;           /* no overlongs */
        else if (c == 0xf4) more = 3, hi = 0x8f;           /* nothing above U+10FFFF */
        else if (c >= 0xf1 && c <= 0xf3) more = 3;
        else return i;                                     /* 0x80..0xc1, 0xf5..0xff */
        if (n - i - 1 < more || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80) return i;
        i += more + 1;
    }
    return n;
}

/* ---- appending ---- */

static size_t count_zeros(const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    const uint8_t *end = p + n, *z;
    while (p < end && (z = memchr(p, 0, (size_t)(end - p))) != NULL) {
        zeros++;
        p = z + 1;
    }
    return zeros;
}

/* code, the payload with every 0x00 written as 0x00 0xff, then 0x00. */
static int append_escaped(cairn_buf *buf, uint8_t code, const uint8_t *p, size_t n)
{
    size_t zeros = n ? count_zeros(p, n) : 0;
    size_t room = SIZE_MAX - buf->len;
    if (n > room || zeros > room - n || room - n - zeros < 2)
        return ERR(CAIRN_ENOMEM, "tuple: a %zu-byte element does not fit in memory", n);
    TRY(cairn_buf_reserve(buf, buf->len + n + zeros + 2));
    uint8_t *o = buf->data + buf->len;
    *o++ = code;
    for (size_t i = 0; i < n;) { /* (p may be NULL when n is 0: no pointer arithmetic then) */
        const uint8_t *z = zeros ? memchr(p + i, 0, n - i) : NULL;
        size_t seg = z ? (size_t)(z - (p + i)) : n - i;
        memcpy(o, p + i, seg);
        o += seg;
        i += seg;
        if (z) {
            *o++ = 0x00;
            *o++ = TUPLE_ESCAPE;
            i++;
        }
    }
    *o++ = 0x00;
    buf->len = (size_t)(o - buf->data);
    return CAIRN_OK;
}

int tuple_append_null(cairn_buf *buf, int depth)
{
    static const uint8_t nested_null[2] = { TUPLE_CODE_NULL, TUPLE_ESCAPE };
    return cairn_buf_append(buf, nested_null, depth > 0 ? 2 : 1);
}

int tuple_append_bytes(cairn_buf *buf, const void *data, size_t len)
{
    FAIL_IF(!data && len, CAIRN_EINVAL, "tuple: bytes element is NULL with length %zu", len);
    return append_escaped(buf, TUPLE_CODE_BYTES, data, len);
}

int tuple_append_string(cairn_buf *buf, const char *str, size_t len)
{
    FAIL_IF(!str && len, CAIRN_EINVAL, "tuple: string element is NULL with length %zu", len);
    const uint8_t *s = (const uint8_t *)str;
    size_t bad = len ? tuple_utf8_check(s, len) : 0;
    FAIL_IF(bad < len, CAIRN_EINVAL,
            "tuple: string is not valid UTF-8 (byte 0x%02x at index %zu of %zu); store "
            "arbitrary bytes as a bytes element",
            s[bad], bad, len);
    return append_escaped(buf, TUPLE_CODE_STRING, s, len);
}

int tuple_append_int(cairn_buf *buf, int64_t value)
{
    uint8_t enc[1 + INT_MAX_LEN];
    /* Magnitude in unsigned arithmetic, so INT64_MIN needs no special case. */
    uint64_t mag = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    int n = mag ? (64 - __builtin_clzll(mag) + 7) / 8 : 0;
    uint64_t body = value < 0 ? ~mag : mag; /* only the low n bytes are written */
    enc[0] = (uint8_t)(value < 0 ? TUPLE_CODE_INT_ZERO - n : TUPLE_CODE_INT_ZERO + n);
    for (int i = 0; i < n; i++) enc[1 + i] = (uint8_t)(body >> (8 * (n - 1 - i)));
    return cairn_buf_append(buf, enc, 1 + (size_t)n);
}

/* IEEE bits -> bits whose unsigned order is the numeric order, and back. */
static uint64_t double_to_ordered(uint64_t bits)
{
    return bits & SIGN_BIT ? ~bits : bits ^ SIGN_BIT;
}

static uint64_t ordered_to_double(uint64_t ord)
{
    return ord & SIGN_BIT ? ord ^ SIGN_BIT : ~ord;
}

static bool bits_are_nan(uint64_t bits)
{
    return (bits & EXP_MASK) == EXP_MASK && (bits & MANT_MASK) != 0;
}

int tuple_append_double(cairn_buf *buf, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (bits_are_nan(bits)) bits = (bits & SIGN_BIT) | QUIET_NAN;
    uint8_t enc[9];
    enc[0] = TUPLE_CODE_DOUBLE;
    store_be64(enc + 1, double_to_ordered(bits));
    return cairn_buf_append(buf, enc, sizeof enc);
}

int tuple_append_bool(cairn_buf *buf, bool value)
{
    uint8_t code = value ? TUPLE_CODE_TRUE : TUPLE_CODE_FALSE;
    return cairn_buf_append(buf, &code, 1);
}

int tuple_append_begin_nested(cairn_buf *buf)
{
    uint8_t code = TUPLE_CODE_NESTED;
    return cairn_buf_append(buf, &code, 1);
}

int tuple_append_end_nested(cairn_buf *buf)
{
    uint8_t end = 0x00;
    return cairn_buf_append(buf, &end, 1);
}

int tuple_range_end(cairn_buf *out, const void *enc, size_t len)
{
    uint8_t esc = TUPLE_ESCAPE;
    TRY(cairn_buf_reserve(out, len + 1));
    TRY(cairn_buf_set(out, enc, len));
    return cairn_buf_append(out, &esc, 1);
}

/* ---- reading ---- */

void tuple_reader_init(tuple_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
    r->depth = 0;
    r->scratch = (cairn_buf)CAIRN_BUF_INIT;
}

void tuple_reader_dispose(tuple_reader *r) { cairn_buf_dispose(&r->scratch); }

/* A bytes or string element at r->pos: find its terminator, check it, unescape if needed. */
static int read_escaped(tuple_reader *r, cairn_tuple_item *out, bool utf8)
{
    const char *what = utf8 ? "string" : "bytes";
    size_t at = r->pos;
    const uint8_t *start = r->data + at + 1, *end = r->data + r->len, *p = start, *z;
    size_t escapes = 0;
    for (;;) {
        z = memchr(p, 0, (size_t)(end - p));
        if (!z)
            return ERR(CAIRN_EINVAL, "tuple: %s at offset %zu has no terminating 0x00 (input "
                       "ends at offset %zu)", what, at, r->len);
        if (utf8) {
            /* 0x00 never continues a UTF-8 sequence, so each run between zeros stands alone. */
            size_t run = (size_t)(z - p), bad = tuple_utf8_check(p, run);
            if (bad < run)
                return ERR(CAIRN_EINVAL, "tuple: invalid UTF-8 (byte 0x%02x) at offset %zu in "
                           "the string at offset %zu", p[bad], (size_t)(p + bad - r->data), at);
        }
        if (end - z < 2 || z[1] != TUPLE_ESCAPE) break; /* the terminator */
        escapes++;
        p = z + 2;
    }
    size_t len = (size_t)(z - start) - escapes;
    out->len = len;
    out->data = start;
    if (escapes) {
        uint8_t *dst = r->inline_buf;
        if (len > sizeof r->inline_buf) {
            int rc = cairn_buf_reserve(&r->scratch, len);
            if (rc < 0)
                return cairn_error_prefix(rc, "tuple: unescaping the %s at offset %zu", what, at);
            dst = r->scratch.data;
        }
        out->data = dst;
        for (p = start; p < z;) {
            const uint8_t *q = memchr(p, 0, (size_t)(z - p));
            size_t seg = q ? (size_t)(q - p) : (size_t)(z - p);
            memcpy(dst, p, seg);
            dst += seg;
            p += seg;
            if (q) {
                *dst++ = 0x00;
                p += 2;
            }
        }
    }
    r->pos = (size_t)(z + 1 - r->data);
    return CAIRN_OK;
}

static int read_int(tuple_reader *r, cairn_tuple_item *out, uint8_t code)
{
    size_t at = r->pos;
    bool neg = code < TUPLE_CODE_INT_ZERO;
    size_t n = neg ? (size_t)(TUPLE_CODE_INT_ZERO - code) : (size_t)(code - TUPLE_CODE_INT_ZERO);
    FAIL_IF(r->len - at - 1 < n, CAIRN_EINVAL,
            "tuple: integer at offset %zu is truncated: %zu bytes expected, %zu left", at, n,
            r->len - at - 1);
    const uint8_t *p = r->data + at + 1;
    uint64_t body = 0;
    for (size_t i = 0; i < n; i++) body = body << 8 | p[i];
    uint64_t mag = neg ? ~body & (UINT64_MAX >> (64 - 8 * n)) : body; /* n >= 1 when neg */
    /* Minimal length: the magnitude's leading byte is not zero (0 itself is just 0x14). */
    FAIL_IF(n > 0 && (mag >> (8 * (n - 1))) == 0, CAIRN_EINVAL,
            "tuple: integer at offset %zu is not minimally encoded (%zu bytes for magnitude "
            "%llu)", at, n, (unsigned long long)mag);
    FAIL_IF(neg ? mag > SIGN_BIT : mag > (uint64_t)INT64_MAX, CAIRN_EINVAL,
            "tuple: integer at offset %zu is out of the int64 range", at);
    out->type = CAIRN_TUPLE_INT;
    out->i = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    r->pos = at + 1 + n;
    return CAIRN_OK;
}

static int read_double(tuple_reader *r, cairn_tuple_item *out)
{
    size_t at = r->pos;
    FAIL_IF(r->len - at - 1 < 8, CAIRN_EINVAL,
            "tuple: double at offset %zu is truncated: 8 bytes expected, %zu left", at,
            r->len - at - 1);
    uint64_t bits = ordered_to_double(load_be64(r->data + at + 1));
    FAIL_IF(bits_are_nan(bits) && (bits & ~SIGN_BIT) != QUIET_NAN, CAIRN_EINVAL,
            "tuple: double at offset %zu is a non-canonical NaN (0x%016llx); only 0x%016llx "
            "and its negative are stored", at, (unsigned long long)bits, QUIET_NAN);
    out->type = CAIRN_TUPLE_DOUBLE;
    memcpy(&out->d, &bits, sizeof bits);
    r->pos = at + 9;
    return CAIRN_OK;
}

/* One element at r->pos: 1 with *out filled, 0 after consuming the end of a nested tuple, or an
 * error. */
static int read_element(tuple_reader *r, cairn_tuple_item *out)
{
    size_t at = r->pos;
    uint8_t code = r->data[at];
    *out = (cairn_tuple_item){ .type = CAIRN_TUPLE_NULL, .depth = r->depth };
    switch (code) {
    case TUPLE_CODE_NULL:
        if (r->depth == 0) {
            r->pos++;
            return 1;
        }
        if (r->len - at >= 2 && r->data[at + 1] == TUPLE_ESCAPE) {
            r->pos += 2;
            return 1;
        }
        r->depth--; /* the end of a nested tuple */
        r->pos++;
        return 0;
    case TUPLE_CODE_BYTES:
        out->type = CAIRN_TUPLE_BYTES;
        TRY(read_escaped(r, out, false));
        return 1;
    case TUPLE_CODE_STRING:
        out->type = CAIRN_TUPLE_STRING;
        TRY(read_escaped(r, out, true));
        return 1;
    case TUPLE_CODE_NESTED:
        FAIL_IF(r->depth == TUPLE_MAX_DEPTH, CAIRN_EINVAL,
                "tuple: nested tuple at offset %zu is deeper than %d levels", at, TUPLE_MAX_DEPTH);
        r->open_at[r->depth++] = at;
        r->pos++;
        out->type = CAIRN_TUPLE_NESTED;
        return 1;
    case TUPLE_CODE_DOUBLE:
        TRY(read_double(r, out));
        return 1;
    case TUPLE_CODE_FALSE:
    case TUPLE_CODE_TRUE:
        out->type = CAIRN_TUPLE_BOOL;
        out->b = code == TUPLE_CODE_TRUE;
        r->pos++;
        return 1;
    case BIGINT_NEG:
    case BIGINT_POS:
        return ERR(CAIRN_EINVAL, "tuple: bad type code 0x%02x at offset %zu (integers beyond "
                   "int64 are not supported)", code, at);
    default:
        if (code >= TUPLE_CODE_INT_NEG8 && code <= TUPLE_CODE_INT_POS8) {
            TRY(read_int(r, out, code));
            return 1;
        }
        return ERR(CAIRN_EINVAL, "tuple: bad type code 0x%02x at offset %zu", code, at);
    }
}

int tuple_reader_next(tuple_reader *r, cairn_tuple_item *out)
{
    for (;;) {
        if (r->pos == r->len) {
            FAIL_IF(r->depth > 0, CAIRN_EINVAL,
                    "tuple: nested tuple at offset %zu has no terminating 0x00 (input ends at "
                    "offset %zu)", r->open_at[r->depth - 1], r->len);
            return 0;
        }
        int rc = read_element(r, out);
        if (rc != 0) return rc;
    }
}

int tuple_validate(const void *data, size_t len)
{
    return cairn_tuple_decode(data, len, NULL, NULL);
}

/* ---- the public API ---- */

struct cairn_tuple {
    cairn_buf buf;
    int depth; /* nested tuples open */
};

int cairn_tuple_new(cairn_tuple **out)
{
    cairn_tuple *t = cairn_calloc(1, sizeof *t);
    if (!t) return ERR(CAIRN_ENOMEM, "tuple: out of memory allocating an encoder");
    *out = t;
    return CAIRN_OK;
}

void cairn_tuple_free(cairn_tuple *tuple)
{
    if (!tuple) return;
    cairn_buf_dispose(&tuple->buf);
    free(tuple);
}

void cairn_tuple_reset(cairn_tuple *tuple)
{
    tuple->buf.len = 0;
    tuple->depth = 0;
}

int cairn_tuple_add_null(cairn_tuple *tuple)
{
    return tuple_append_null(&tuple->buf, tuple->depth);
}

int cairn_tuple_add_bytes(cairn_tuple *tuple, const void *bytes, size_t len)
{
    return tuple_append_bytes(&tuple->buf, bytes, len);
}

int cairn_tuple_add_string(cairn_tuple *tuple, const char *str, size_t len)
{
    return tuple_append_string(&tuple->buf, str, len);
}

int cairn_tuple_add_int(cairn_tuple *tuple, int64_t value)
{
    return tuple_append_int(&tuple->buf, value);
}

int cairn_tuple_add_double(cairn_tuple *tuple, double value)
{
    return tuple_append_double(&tuple->buf, value);
}

int cairn_tuple_add_bool(cairn_tuple *tuple, int value)
{
    return tuple_append_bool(&tuple->buf, value != 0);
}

int cairn_tuple_begin_nested(cairn_tuple *tuple)
{
    FAIL_IF(tuple->depth == TUPLE_MAX_DEPTH, CAIRN_EINVAL,
            "tuple: cannot open a nested tuple deeper than %d levels", TUPLE_MAX_DEPTH);
    TRY(tuple_append_begin_nested(&tuple->buf));
    tuple->depth++;
    return CAIRN_OK;
}

int cairn_tuple_end_nested(cairn_tuple *tuple)
{
    FAIL_IF(tuple->depth == 0, CAIRN_EINVAL,
            "tuple: cairn_tuple_end_nested() without an open nested tuple");
    TRY(tuple_append_end_nested(&tuple->buf));
    tuple->depth--;
    return CAIRN_OK;
}

const void *cairn_tuple_data(size_t *out_len, const cairn_tuple *tuple)
{
    static const uint8_t empty[1];
    if (tuple->depth > 0) {
        if (out_len) *out_len = 0;
        return NULL;
    }
    if (out_len) *out_len = tuple->buf.len;
    return tuple->buf.data ? tuple->buf.data : empty;
}

int cairn_tuple_decode(const void *data, size_t len,
                       int (*cb)(const cairn_tuple_item *item, void *payload), void *payload)
{
    FAIL_IF(!data && len, CAIRN_EINVAL, "tuple: data is NULL with length %zu", len);
    tuple_reader r;
    cairn_tuple_item item;
    int rc;
    tuple_reader_init(&r, data, len);
    while ((rc = tuple_reader_next(&r, &item)) == 1) {
        if (cb && (rc = cb(&item, payload)) != 0) break;
    }
    tuple_reader_dispose(&r);
    return rc;
}
