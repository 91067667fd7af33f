/*
 * test_tuple.c - the tuple encoding: known-answer vectors written by hand from
 * docs/FORMAT.md ("Tuple keys"), round trips and the order property against a reference model (a tree of
 * values with its own comparator), rejection of every non-canonical form with an informative
 * message, allocation failures, and a throughput measurement for a typical key.
 */
#include <math.h>
#include <time.h>

#include "db/tuple.h"
#include "test.h"

/* ---- the reference model: a tuple is an array of values; a nested value owns an array ---- */

typedef struct tv {
    cairn_tuple_type type;
    int64_t i;
    double d;
    int b;
    uint8_t *data; /* bytes, string (malloc'd) */
    size_t len;
    struct tv *kids; /* nested: its elements (malloc'd) */
    size_t nkids;
} tv;

typedef struct model {
    tv *v;
    size_t n;
} model;

static void tv_free(tv *v)
{
    free(v->data);
    for (size_t k = 0; k < v->nkids; k++) tv_free(&v->kids[k]);
    free(v->kids);
}

static void model_free(model *m)
{
    for (size_t k = 0; k < m->n; k++) tv_free(&m->v[k]);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static tv tv_copy(const tv *v)
{
    tv c = *v;
    if (v->data || v->type == CAIRN_TUPLE_BYTES || v->type == CAIRN_TUPLE_STRING) {
        c.data = malloc(v->len + 1);
        if (v->len) memcpy(c.data, v->data, v->len);
    }
    if (v->nkids) {
        c.kids = malloc(v->nkids * sizeof *c.kids);
        for (size_t k = 0; k < v->nkids; k++) c.kids[k] = tv_copy(&v->kids[k]);
    }
    return c;
}

static tv *push(tv **arr, size_t *n)
{
    *arr = realloc(*arr, (*n + 1) * sizeof **arr);
    memset(&(*arr)[*n], 0, sizeof **arr);
    return &(*arr)[(*n)++];
}

/* -- reference order, written from the spec, not from the encoder -- */

static int type_rank(cairn_tuple_type t)
{
    switch (t) {
    case CAIRN_TUPLE_NULL: return 0;
    case CAIRN_TUPLE_BYTES: return 1;
    case CAIRN_TUPLE_STRING: return 2;
    case CAIRN_TUPLE_NESTED: return 3;
    case CAIRN_TUPLE_INT: return 4;
    case CAIRN_TUPLE_DOUBLE: return 5;
    case CAIRN_TUPLE_BOOL: return 6;
    }
    return 99;
}

static int sign3(long long x) { return (x > 0) - (x < 0); }

static int cmp_raw(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    for (size_t k = 0; k < an && k < bn; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return sign3((long long)an - (long long)bn);
}

/* -NaN < -inf < ... < -0.0 < 0.0 < ... < inf < NaN; NaNs of one sign are equal. */
static int cmp_double(double a, double b)
{
    int ka = isnan(a) ? (signbit(a) ? -1 : 1) : 0, kb = isnan(b) ? (signbit(b) ? -1 : 1) : 0;
    if (ka != kb) return ka < kb ? -1 : 1;
    if (ka) return 0;
    if (a < b) return -1;
    if (a > b) return 1;
    return (signbit(b) != 0) - (signbit(a) != 0); /* -0.0 before 0.0 */
}

static int cmp_tuple(const tv *a, size_t an, const tv *b, size_t bn);

static int cmp_value(const tv *a, const tv *b)
{
    int ra = type_rank(a->type), rb = type_rank(b->type);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (a->type) {
    case CAIRN_TUPLE_NULL: return 0;
    case CAIRN_TUPLE_BYTES:
    case CAIRN_TUPLE_STRING: return cmp_raw(a->data, a->len, b->data, b->len);
    case CAIRN_TUPLE_NESTED: return cmp_tuple(a->kids, a->nkids, b->kids, b->nkids);
    case CAIRN_TUPLE_INT: return a->i < b->i ? -1 : a->i > b->i;
    case CAIRN_TUPLE_DOUBLE: return cmp_double(a->d, b->d);
    case CAIRN_TUPLE_BOOL: return sign3(a->b - b->b);
    }
    return 0;
}

static int cmp_tuple(const tv *a, size_t an, const tv *b, size_t bn)
{
    for (size_t k = 0; k < an && k < bn; k++) {
        int c = cmp_value(&a[k], &b[k]);
        if (c) return c;
    }
    return sign3((long long)an - (long long)bn);
}

/* -- model -> encoding through the public builder -- */

static int encode_values(cairn_tuple *t, const tv *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int rc = CAIRN_OK;
        switch (v[k].type) {
        case CAIRN_TUPLE_NULL: rc = cairn_tuple_add_null(t); break;
        case CAIRN_TUPLE_BYTES: rc = cairn_tuple_add_bytes(t, v[k].data, v[k].len); break;
        case CAIRN_TUPLE_STRING: rc = cairn_tuple_add_string(t, (const char *)v[k].data, v[k].len); break;
        case CAIRN_TUPLE_INT: rc = cairn_tuple_add_int(t, v[k].i); break;
        case CAIRN_TUPLE_DOUBLE: rc = cairn_tuple_add_double(t, v[k].d); break;
        case CAIRN_TUPLE_BOOL: rc = cairn_tuple_add_bool(t, v[k].b); break;
        case CAIRN_TUPLE_NESTED:
            if ((rc = cairn_tuple_begin_nested(t)) == CAIRN_OK &&
                (rc = encode_values(t, v[k].kids, v[k].nkids)) == CAIRN_OK)
                rc = cairn_tuple_end_nested(t);
            break;
        }
        if (rc) return rc;
    }
    return CAIRN_OK;
}

/* -- encoding -> model through cairn_tuple_decode -- */

typedef struct builder {
    model top;
    tv **lists[TUPLE_MAX_DEPTH + 1]; /* the element array being filled at each depth */
    size_t *counts[TUPLE_MAX_DEPTH + 1];
    int depth;
    int bad; /* a depth that jumped by more than one */
} builder;

static int build_cb(const cairn_tuple_item *it, void *payload)
{
    builder *bd = payload;
    if (it->depth > bd->depth || it->depth < 0) {
        bd->bad = 1;
        return 1;
    }
    bd->depth = it->depth;
    tv *v = push(bd->lists[it->depth], bd->counts[it->depth]);
    v->type = it->type;
    v->i = it->i;
    v->d = it->d;
    v->b = it->b;
    if (it->type == CAIRN_TUPLE_BYTES || it->type == CAIRN_TUPLE_STRING) {
        v->data = malloc(it->len + 1);
        if (it->len) memcpy(v->data, it->data, it->len);
        v->len = it->len;
    }
    if (it->type == CAIRN_TUPLE_NESTED) {
        bd->depth = it->depth + 1;
        bd->lists[bd->depth] = &v->kids;
        bd->counts[bd->depth] = &v->nkids;
    }
    return 0;
}

static int decode_model(model *out, const void *data, size_t len)
{
    builder bd = { 0 };
    bd.lists[0] = &bd.top.v;
    bd.counts[0] = &bd.top.n;
    int rc = cairn_tuple_decode(data, len, build_cb, &bd);
    if (rc != CAIRN_OK || bd.bad) {
        model_free(&bd.top);
        return rc ? rc : -100;
    }
    *out = bd.top;
    return CAIRN_OK;
}

/* -- random values, biased to the edges where encodings go wrong -- */

static const int64_t edge_ints[] = {
    0, 1, -1, 2, -2, 127, 128, -127, -128, 255, 256, -255, -256, -257, 65535, 65536, -65535,
    -65536, -65537, 0xffffff, 0x1000000, 0xffffffffll, 0x100000000ll, -0xffffffffll,
    -0x100000000ll, 0xffffffffffffffll, 0x100000000000000ll, -0xffffffffffffffll,
    -0x100000000000000ll, INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1,
};

static const uint64_t edge_double_bits[] = {
    0x0000000000000000ull, 0x8000000000000000ull, /* +-0.0 */
    0x7ff0000000000000ull, 0xfff0000000000000ull, /* +-inf */
    0x7ff8000000000000ull, 0xfff8000000000000ull, /* +-quiet NaN */
    0x7ff0000000000001ull, 0xfff0000000000001ull, /* +-signalling NaN with a payload */
    0x7fffffffffffffffull, 0xffffffffffffffffull, /* +-NaN, all payload bits set */
    0x0000000000000001ull, 0x8000000000000001ull, /* +-smallest subnormal */
    0x0010000000000000ull, 0x8010000000000000ull, /* +-DBL_MIN */
    0x7fefffffffffffffull, 0xffefffffffffffffull, /* +-DBL_MAX */
    0x3ff0000000000000ull, 0xbff0000000000000ull, /* +-1.0 */
    0x3ff0000000000001ull, 0xbff0000000000001ull, /* +-(1.0 + ulp) */
};

static const uint8_t edge_bytes[] = { 0x00, 0x00, 0x01, 'a', 'b', 0xfe, 0xff, 0xff };
static const uint32_t edge_cps[] = { 0, 1, 'a', 'b', 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0xd7ff,
                                     0xe000, 0xfffd, 0xffff, 0x10000, 0x1d11e, 0x10ffff };

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xc0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

#define PICK(rng, arr) (arr)[test_rand(rng) % (sizeof(arr) / sizeof((arr)[0]))]

static void gen_value(tv *v, uint64_t *rng, int depth);

static void gen_list(tv **arr, size_t *n, uint64_t *rng, int depth)
{
    size_t count = test_rand(rng) % (depth ? 4 : 5);
    for (size_t k = 0; k < count; k++) gen_value(push(arr, n), rng, depth);
}

static void gen_value(tv *v, uint64_t *rng, int depth)
{
    uint64_t r = test_rand(rng);
    int t = (int)(r % 7);
    if (t == CAIRN_TUPLE_NESTED && depth >= 3) t = CAIRN_TUPLE_INT;
    v->type = (cairn_tuple_type)t;
    r = test_rand(rng);
    switch (v->type) {
    case CAIRN_TUPLE_NULL: break;
    case CAIRN_TUPLE_BYTES: {
        size_t n = r % 5;
        v->data = malloc(n + 1);
        for (size_t k = 0; k < n; k++) v->data[k] = PICK(rng, edge_bytes);
        v->len = n;
        break;
    }
    case CAIRN_TUPLE_STRING: {
        size_t n = r % 4;
        v->data = malloc(4 * n + 1);
        for (size_t k = 0; k < n; k++) v->len += put_utf8(v->data + v->len, PICK(rng, edge_cps));
        break;
    }
    case CAIRN_TUPLE_NESTED: gen_list(&v->kids, &v->nkids, rng, depth + 1); break;
    case CAIRN_TUPLE_INT:
        if (r % 2) v->i = PICK(rng, edge_ints);
        else v->i = (int64_t)(test_rand(rng) >> (1 + (r >> 8) % 63)) * (r & 0x80 ? -1 : 1);
        break;
    case CAIRN_TUPLE_DOUBLE: {
        uint64_t bits = r % 3 ? PICK(rng, edge_double_bits) : test_rand(rng);
        memcpy(&v->d, &bits, 8);
        break;
    }
    case CAIRN_TUPLE_BOOL: v->b = (int)(r >> 5 & 1); break;
    }
}

/* A tuple close to m: a prefix, an extension, or one element changed, so that ties, prefixes
 * and near neighbours are common among the pairs. */
static void gen_near(model *out, const model *m, uint64_t *rng)
{
    out->v = NULL;
    out->n = 0;
    size_t keep = m->n ? test_rand(rng) % (m->n + 1) : 0;
    for (size_t k = 0; k < keep; k++) *push(&out->v, &out->n) = tv_copy(&m->v[k]);
    switch (test_rand(rng) % 4) {
    case 0: break; /* a prefix (or m itself) */
    case 1: gen_list(&out->v, &out->n, rng, 0); break;
    case 2: gen_value(push(&out->v, &out->n), rng, 0); break;
    case 3:
        if (keep < m->n) { /* the next element with a tweak of the same type */
            tv *v = push(&out->v, &out->n);
            *v = tv_copy(&m->v[keep]);
            if (v->type == CAIRN_TUPLE_INT && v->i != INT64_MAX) v->i++;
            else if (v->type == CAIRN_TUPLE_BYTES && v->len) v->len--; /* a payload prefix */
            else if (v->type == CAIRN_TUPLE_STRING) v->len = 0; /* (never cut a code point) */
            else if (v->type == CAIRN_TUPLE_NESTED && v->nkids) {
                tv_free(&v->kids[--v->nkids]);
            }
        }
        break;
    }
}

static void gen_model(model *m, uint64_t *rng)
{
    m->v = NULL;
    m->n = 0;
    gen_list(&m->v, &m->n, rng, 0);
}

/* ---- known answers ---- */

static void check_encodes(cairn_tuple *t, const char *what, const uint8_t *expect, size_t n)
{
    size_t len;
    const uint8_t *got = cairn_tuple_data(&len, t);
    CHECK_MSG(got != NULL, "%s: no data", what);
    CHECK_MSG(len == n && memcmp(got, expect, n) == 0, "%s: wrong encoding (%zu bytes)", what, len);
    /* ... and decodes back to one canonical form without complaint */
    CHECK_OK(cairn_tuple_decode(got, len, NULL, NULL));
}

#define KAT(t, what, ...)                                                                          \
    do {                                                                                           \
        static const uint8_t kat_[] = { __VA_ARGS__ };                                             \
        int kat_failures_ = test_failures;                                                         \
        check_encodes((t), (what), kat_, sizeof kat_);                                             \
        if (test_failures != kat_failures_) return;                                                \
    } while (0)

static void known_answers_scalars(void)
{
    int failures = test_failures;
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));
    size_t len = 99;
    CHECK(cairn_tuple_data(&len, t) != NULL); /* the empty tuple is complete: not NULL */
    CHECK_EQ(len, 0);

    CHECK_OK(cairn_tuple_add_null(t));
    KAT(t, "null", 0x00);
    cairn_tuple_reset(t);
    CHECK_OK(cairn_tuple_add_bool(t, 0));
    CHECK_OK(cairn_tuple_add_bool(t, 42));
    KAT(t, "false, true", 0x26, 0x27);

    /* bytes and strings */
    struct { const char *s; size_t n; int str; uint8_t enc[16]; size_t elen; } bs[] = {
        { "", 0, 0, { 0x01, 0x00 }, 2 },
        { "\0", 1, 0, { 0x01, 0x00, 0xff, 0x00 }, 4 },
        { "a\0b\xff", 4, 0, { 0x01, 'a', 0x00, 0xff, 'b', 0xff, 0x00 }, 7 },
        { "\xff\0\0", 3, 0, { 0x01, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00 }, 7 },
        { "", 0, 1, { 0x02, 0x00 }, 2 },
        { "hello", 5, 1, { 0x02, 'h', 'e', 'l', 'l', 'o', 0x00 }, 7 },
        { "\0", 1, 1, { 0x02, 0x00, 0xff, 0x00 }, 4 },
        { "\xc3\xa9", 2, 1, { 0x02, 0xc3, 0xa9, 0x00 }, 4 },                    /* U+00E9 */
        { "\xe2\x82\xac", 3, 1, { 0x02, 0xe2, 0x82, 0xac, 0x00 }, 5 },          /* U+20AC */
        { "\xf0\x9d\x84\x9e", 4, 1, { 0x02, 0xf0, 0x9d, 0x84, 0x9e, 0x00 }, 6 }, /* U+1D11E */
        { "\xf4\x8f\xbf\xbf", 4, 1, { 0x02, 0xf4, 0x8f, 0xbf, 0xbf, 0x00 }, 6 }, /* U+10FFFF */
    };
    for (size_t k = 0; k < sizeof bs / sizeof bs[0]; k++) {
        cairn_tuple_reset(t);
        if (bs[k].str) CHECK_OK(cairn_tuple_add_string(t, bs[k].s, bs[k].n));
        else CHECK_OK(cairn_tuple_add_bytes(t, bs[k].s, bs[k].n));
        check_encodes(t, bs[k].str ? "string" : "bytes", bs[k].enc, bs[k].elen);
        if (test_failures != failures) return;
    }

    /* integers: 0x14 +- n, then n bytes of magnitude (one's complement when negative) */
    struct { int64_t v; uint8_t enc[9]; size_t elen; } ints[] = {
        { 0, { 0x14 }, 1 },
        { 1, { 0x15, 0x01 }, 2 },
        { -1, { 0x13, 0xfe }, 2 },
        { 42, { 0x15, 0x2a }, 2 },
        { 255, { 0x15, 0xff }, 2 },
        { 256, { 0x16, 0x01, 0x00 }, 3 },
        { -255, { 0x13, 0x00 }, 2 },
        { -256, { 0x12, 0xfe, 0xff }, 3 },
        { -257, { 0x12, 0xfe, 0xfe }, 3 },
        { 65536, { 0x17, 0x01, 0x00, 0x00 }, 4 },
        { 0xffffffffffffffll, { 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 8 },
        { 0x100000000000000ll, { 0x1c, 0x01, 0, 0, 0, 0, 0, 0, 0 }, 9 },
        { INT64_MAX, { 0x1c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
        { INT64_MIN, { 0x0c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
        { INT64_MIN + 1, { 0x0c, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 9 },
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        cairn_tuple_reset(t);
        CHECK_OK(cairn_tuple_add_int(t, ints[k].v));
        check_encodes(t, "int", ints[k].enc, ints[k].elen);
        if (test_failures != failures) return;
        model m;
        CHECK_OK(decode_model(&m, ints[k].enc, ints[k].elen));
        CHECK(m.n == 1 && m.v[0].type == CAIRN_TUPLE_INT && m.v[0].i == ints[k].v);
        model_free(&m);
    }

    /* doubles: positive -> sign bit flipped; negative -> every bit flipped; NaN -> canonical */
    struct { uint64_t bits; uint8_t enc[9]; uint64_t back; } dbl[] = {
        { 0x0000000000000000ull, { 0x21, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 0 },
        { 0x8000000000000000ull, { 0x21, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 },
        { 0x3ff0000000000000ull, { 0x21, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0 }, 0 },            /* 1.0 */
        { 0xbff0000000000000ull, { 0x21, 0x40, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 },
        { 0x7ff0000000000000ull, { 0x21, 0xff, 0xf0, 0, 0, 0, 0, 0, 0 }, 0 },            /* inf */
        { 0xfff0000000000000ull, { 0x21, 0x00, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 },
        { 0x7ff8000000000000ull, { 0x21, 0xff, 0xf8, 0, 0, 0, 0, 0, 0 }, 0 },            /* NaN */
        { 0xfff8000000000000ull, { 0x21, 0x00, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 0 },
        /* NaNs with payloads become the canonical NaN of their sign */
        { 0x7ff0000000000001ull, { 0x21, 0xff, 0xf8, 0, 0, 0, 0, 0, 0 }, 0x7ff8000000000000ull },
        { 0x7fffffffffffffffull, { 0x21, 0xff, 0xf8, 0, 0, 0, 0, 0, 0 }, 0x7ff8000000000000ull },
        { 0xfff4000000000000ull, { 0x21, 0x00, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
          0xfff8000000000000ull },
    };
    for (size_t k = 0; k < sizeof dbl / sizeof dbl[0]; k++) {
        double d;
        memcpy(&d, &dbl[k].bits, 8);
        cairn_tuple_reset(t);
        CHECK_OK(cairn_tuple_add_double(t, d));
        check_encodes(t, "double", dbl[k].enc, 9);
        if (test_failures != failures) return;
        model m;
        CHECK_OK(decode_model(&m, dbl[k].enc, 9));
        uint64_t got;
        memcpy(&got, &m.v[0].d, 8);
        CHECK(m.n == 1 && m.v[0].type == CAIRN_TUPLE_DOUBLE);
        CHECK_MSG(got == (dbl[k].back ? dbl[k].back : dbl[k].bits), "double %zu decodes to %016llx",
                  k, (unsigned long long)got);
        model_free(&m);
    }
    cairn_tuple_free(t);
    cairn_tuple_free(NULL);
}

static void known_answers_tuples(void)
{
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));

    /* a typical index key: ("user", 42, b"\x00\x01") */
    CHECK_OK(cairn_tuple_add_string(t, "user", 4));
    CHECK_OK(cairn_tuple_add_int(t, 42));
    CHECK_OK(cairn_tuple_add_bytes(t, "\0\1", 2));
    KAT(t, "key", 0x02, 'u', 's', 'e', 'r', 0x00, 0x15, 0x2a, 0x01, 0x00, 0xff, 0x01, 0x00);

    /* (()) and ((null)): inside a nested tuple null is 0x00 0xff, 0x00 alone ends it */
    cairn_tuple_reset(t);
    CHECK_OK(cairn_tuple_begin_nested(t));
    size_t len = 99;
    CHECK(cairn_tuple_data(&len, t) == NULL); /* open: no data */
    CHECK_EQ(len, 0);
    CHECK_OK(cairn_tuple_end_nested(t));
    KAT(t, "(())", 0x05, 0x00);
    cairn_tuple_reset(t);
    CHECK_OK(cairn_tuple_begin_nested(t));
    CHECK_OK(cairn_tuple_add_null(t));
    CHECK_OK(cairn_tuple_end_nested(t));
    KAT(t, "((null))", 0x05, 0x00, 0xff, 0x00);

    /* ((1, "a"), null) */
    cairn_tuple_reset(t);
    CHECK_OK(cairn_tuple_begin_nested(t));
    CHECK_OK(cairn_tuple_add_int(t, 1));
    CHECK_OK(cairn_tuple_add_string(t, "a", 1));
    CHECK_OK(cairn_tuple_end_nested(t));
    CHECK_OK(cairn_tuple_add_null(t));
    KAT(t, "((1, a), null)", 0x05, 0x15, 0x01, 0x02, 'a', 0x00, 0x00, 0x00);

    /* (((), null, b"\0")) */
    cairn_tuple_reset(t);
    CHECK_OK(cairn_tuple_begin_nested(t));
    CHECK_OK(cairn_tuple_begin_nested(t));
    CHECK_OK(cairn_tuple_end_nested(t));
    CHECK_OK(cairn_tuple_add_null(t));
    CHECK_OK(cairn_tuple_add_bytes(t, "\0", 1));
    CHECK_OK(cairn_tuple_end_nested(t));
    KAT(t, "(((), null, b0))", 0x05, 0x05, 0x00, 0x00, 0xff, 0x01, 0x00, 0xff, 0x00, 0x00);

    /* items as the decoder reports them: nested opens, members at depth + 1 */
    static const uint8_t enc[] = { 0x05, 0x15, 0x01, 0x02, 'a', 0x00, 0x00, 0x00 };
    model m;
    CHECK_OK(decode_model(&m, enc, sizeof enc));
    CHECK_EQ(m.n, 2);
    CHECK(m.v[0].type == CAIRN_TUPLE_NESTED && m.v[0].nkids == 2);
    CHECK(m.v[0].kids[0].type == CAIRN_TUPLE_INT && m.v[0].kids[0].i == 1);
    CHECK(m.v[0].kids[1].type == CAIRN_TUPLE_STRING && m.v[0].kids[1].len == 1);
    CHECK(m.v[1].type == CAIRN_TUPLE_NULL);
    model_free(&m);

    /* the same through the internal pull reader */
    tuple_reader r;
    cairn_tuple_item it;
    tuple_reader_init(&r, enc, sizeof enc);
    int depths[] = { 0, 1, 1, 0 };
    cairn_tuple_type types[] = { CAIRN_TUPLE_NESTED, CAIRN_TUPLE_INT, CAIRN_TUPLE_STRING,
                                 CAIRN_TUPLE_NULL };
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(tuple_reader_next(&r, &it), 1);
        CHECK_EQ(it.depth, depths[k]);
        CHECK_EQ(it.type, types[k]);
    }
    CHECK_EQ(tuple_reader_next(&r, &it), 0);
    tuple_reader_dispose(&r);
    cairn_tuple_free(t);
}

/* ---- round trips and the order property ---- */

static int encode_model(cairn_tuple *t, const model *m)
{
    cairn_tuple_reset(t);
    return encode_values(t, m->v, m->n);
}

static void random_round_trips(void)
{
    uint64_t rng = test_rng(11);
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));
    for (int iter = 0; iter < 20000; iter++) {
        model m, back;
        gen_model(&m, &rng);
        CHECK_OK(encode_model(t, &m));
        size_t len;
        const uint8_t *enc = cairn_tuple_data(&len, t);
        CHECK(enc != NULL);
        CHECK_OK(decode_model(&back, enc, len));
        CHECK_MSG(cmp_tuple(m.v, m.n, back.v, back.n) == 0, "iteration %d: decoded tuple differs",
                  iter);
        /* re-encoding the decoded tuple gives the same bytes */
        uint8_t *copy = malloc(len + 1);
        memcpy(copy, enc, len);
        CHECK_OK(encode_model(t, &back));
        enc = cairn_tuple_data(&len, t);
        CHECK_MEM(enc, len, copy, len);
        free(copy);
        model_free(&m);
        model_free(&back);
    }
    cairn_tuple_free(t);
}

static void order_preserved(void)
{
    uint64_t rng = test_rng(12);
    cairn_tuple *ta, *tb;
    CHECK_OK(cairn_tuple_new(&ta));
    CHECK_OK(cairn_tuple_new(&tb));
    int seen[3] = { 0, 0, 0 };
    for (int iter = 0; iter < 50000; iter++) {
        model a, b;
        gen_model(&a, &rng);
        if (iter % 3) gen_near(&b, &a, &rng);
        else gen_model(&b, &rng);
        if (iter % 2) { model x = a; a = b; b = x; }
        CHECK_OK(encode_model(ta, &a));
        CHECK_OK(encode_model(tb, &b));
        size_t alen, blen;
        const void *ea = cairn_tuple_data(&alen, ta), *eb = cairn_tuple_data(&blen, tb);
        int logical = cmp_tuple(a.v, a.n, b.v, b.n);
        int bytes = sign3(tuple_cmp(ea, alen, eb, blen));
        CHECK_MSG(logical == bytes, "iteration %d: logical order %d, encoded order %d", iter,
                  logical, bytes);
        seen[logical + 1]++;
        model_free(&a);
        model_free(&b);
    }
    /* the generator really produced ties and both orders */
    CHECK_MSG(seen[0] > 1000 && seen[1] > 1000 && seen[2] > 1000, "lt %d eq %d gt %d", seen[0],
              seen[1], seen[2]);
    cairn_tuple_free(ta);
    cairn_tuple_free(tb);
}

/* [enc(t), enc(t) ‖ 0xff) holds exactly t and the tuples that extend t. */
static void prefix_ranges(void)
{
    uint64_t rng = test_rng(13);
    cairn_tuple *ta, *tb;
    cairn_buf end = CAIRN_BUF_INIT;
    CHECK_OK(cairn_tuple_new(&ta));
    CHECK_OK(cairn_tuple_new(&tb));
    int inside = 0;
    for (int iter = 0; iter < 20000; iter++) {
        model a, b;
        gen_model(&a, &rng);
        gen_near(&b, &a, &rng);
        bool extends = b.n >= a.n && cmp_tuple(a.v, a.n, b.v, a.n) == 0;
        CHECK_OK(encode_model(ta, &a));
        CHECK_OK(encode_model(tb, &b));
        size_t alen, blen;
        const void *ea = cairn_tuple_data(&alen, ta), *eb = cairn_tuple_data(&blen, tb);
        CHECK_OK(tuple_range_end(&end, ea, alen));
        bool in = tuple_cmp(ea, alen, eb, blen) <= 0 && tuple_cmp(eb, blen, end.data, end.len) < 0;
        CHECK_MSG(in == extends, "iteration %d: in range %d, extends %d", iter, in, extends);
        inside += in;
        model_free(&a);
        model_free(&b);
    }
    CHECK(inside > 1000);
    cairn_buf_dispose(&end);
    cairn_tuple_free(ta);
    cairn_tuple_free(tb);
}

/* ---- rejection ---- */

static void expect_invalid(const uint8_t *enc, size_t len, const char *substr, int line)
{
    int rc = cairn_tuple_decode(enc, len, NULL, NULL);
    if (rc != CAIRN_EINVAL) {
        test_fail(__FILE__, line, "decode returned %d, expected CAIRN_EINVAL", rc);
        return;
    }
    if (!strstr(cairn_error_last()->message, substr))
        test_fail(__FILE__, line, "message \"%s\" lacks \"%s\"", cairn_error_last()->message,
                  substr);
}

#define REJECT(substr, ...)                                                                        \
    do {                                                                                           \
        static const uint8_t rej_[] = { __VA_ARGS__ };                                             \
        expect_invalid(rej_, sizeof rej_, (substr), __LINE__);                                     \
    } while (0)

static void rejects_bad_input(void)
{
    REJECT("tuple: bad type code 0x33 at offset 7", 0x02, 'a', 'b', 'c', 'd', 'e', 0x00, 0x33);
    /* every byte that is not a type code */
    for (int c = 0; c < 256; c++) {
        bool valid = c == 0x00 || c == 0x01 || c == 0x02 || c == 0x05 || (c >= 0x0c && c <= 0x1c) ||
                     c == 0x21 || c == 0x26 || c == 0x27;
        uint8_t in[2] = { 0x14, (uint8_t)c };
        if (valid) continue;
        char msg[64];
        snprintf(msg, sizeof msg, "bad type code 0x%02x at offset 1", c);
        expect_invalid(in, 2, msg, __LINE__);
    }
    REJECT("integers beyond int64", 0x1d, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    REJECT("integers beyond int64", 0x0b, 0xf6, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    REJECT("bad type code 0xff at offset 1", 0x00, 0xff); /* nested-style null at the top level */
    REJECT("bad type code 0xfe at offset 2", 0x05, 0x00, 0xfe);
    REJECT("bad type code 0xfe at offset 3", 0x01, 'a', 0x00, 0xfe, 0x00); /* 0x00 0xfe: no escape */

    /* integers: not minimal, or outside int64 */
    REJECT("integer at offset 0 is not minimally encoded", 0x15, 0x00);
    REJECT("integer at offset 1 is not minimally encoded", 0x14, 0x16, 0x00, 0xff);
    REJECT("not minimally encoded", 0x13, 0xff);          /* -0 */
    REJECT("not minimally encoded", 0x12, 0xff, 0x00);    /* -255 in two bytes */
    REJECT("not minimally encoded", 0x1c, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    REJECT("out of the int64 range", 0x1c, 0x80, 0, 0, 0, 0, 0, 0, 0);
    REJECT("out of the int64 range", 0x1c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    REJECT("out of the int64 range", 0x0c, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe);
    REJECT("out of the int64 range", 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0);
    REJECT("integer at offset 0 is truncated", 0x16, 0x01);

    /* NaNs other than the canonical two */
    REJECT("double at offset 0 is a non-canonical NaN", 0x21, 0xff, 0xf0, 0, 0, 0, 0, 0, 0x01);
    REJECT("non-canonical NaN", 0x21, 0xff, 0xf8, 0, 0, 0, 0, 0, 0x01);
    REJECT("non-canonical NaN", 0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    REJECT("non-canonical NaN", 0x21, 0x00, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe);
    REJECT("non-canonical NaN", 0x21, 0x00, 0x00, 0, 0, 0, 0, 0, 0);
    REJECT("double at offset 0 is truncated", 0x21, 0x80, 0, 0, 0, 0, 0, 0);

    /* UTF-8 */
    REJECT("invalid UTF-8 (byte 0xc0) at offset 1", 0x02, 0xc0, 0x80, 0x00); /* overlong NUL */
    REJECT("invalid UTF-8 (byte 0xe0) at offset 2", 0x02, 'a', 0xe0, 0x80, 0x80, 0x00);
    REJECT("invalid UTF-8 (byte 0xf0)", 0x02, 0xf0, 0x80, 0x80, 0x80, 0x00);  /* overlong */
    REJECT("invalid UTF-8 (byte 0xed)", 0x02, 0xed, 0xa0, 0x80, 0x00);        /* U+D800 */
    REJECT("invalid UTF-8 (byte 0xed)", 0x02, 0xed, 0xbf, 0xbf, 0x00);        /* U+DFFF */
    REJECT("invalid UTF-8 (byte 0xf4)", 0x02, 0xf4, 0x90, 0x80, 0x80, 0x00);  /* U+110000 */
    REJECT("invalid UTF-8 (byte 0xf5)", 0x02, 0xf5, 0x80, 0x80, 0x80, 0x00);
    REJECT("invalid UTF-8 (byte 0x80)", 0x02, 0x80, 0x00);                    /* lone continuation */
    REJECT("invalid UTF-8 (byte 0xff)", 0x02, 0xff, 0x00);
    REJECT("invalid UTF-8 (byte 0xc3)", 0x02, 0xc3, 0x00);                    /* cut by the end */
    REJECT("invalid UTF-8 (byte 0xc3) at offset 1", 0x02, 0xc3, 0x00, 0xff, 0xa9, 0x00);
    REJECT("invalid UTF-8 (byte 0xa9) at offset 7 in the string at offset 2", 0x14, 0x14, 0x02,
           'a', 'b', 0x00, 0xff, 0xa9, 0x00);

    /* missing terminators and unclosed nested tuples */
    REJECT("bytes at offset 0 has no terminating 0x00", 0x01, 'a', 'b');
    REJECT("string at offset 0 has no terminating 0x00", 0x02, 'a', 0x00, 0xff);
    REJECT("nested tuple at offset 1 has no terminating 0x00 (input ends at offset 5)", 0x14, 0x05,
           0x05, 0x00, 0x14);
    REJECT("nested tuple at offset 0", 0x05, 0x00, 0xff); /* (null) never closed */
    /* an unescaped 0x00 inside a nested tuple ends it: what follows must parse at the outer level */
    REJECT("bad type code 0x07 at offset 5", 0x05, 0x15, 0x01, 0x00, 0x00, 0x07);
    REJECT("bad type code 0xfe at offset 4", 0x05, 0x01, 0x00, 0x00, 0xfe);

    /* depth: 32 nested tuples are fine, 33 are not */
    uint8_t deep[2 * 33];
    memset(deep, 0x05, 33);
    memset(deep + 33, 0x00, 33);
    CHECK_OK(cairn_tuple_decode(deep + 1, 2 * 32, NULL, NULL));
    CHECK_RC(cairn_tuple_decode(deep, sizeof deep, NULL, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("nested tuple at offset 32 is deeper than 32 levels");

    CHECK_RC(cairn_tuple_decode(NULL, 3, NULL, NULL), CAIRN_EINVAL);
    CHECK_OK(cairn_tuple_decode(NULL, 0, NULL, NULL));
}

static void encoder_rejects_bad_input(void)
{
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));
    CHECK_OK(cairn_tuple_add_int(t, 7));
    const char *bad[] = { "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                          "a\x80", "\xc3", "\xf0\x9d\x84", "\xfe", "ok\xffok" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK_RC(cairn_tuple_add_string(t, bad[k], strlen(bad[k])), CAIRN_EINVAL);
        CHECK_ERRMSG("not valid UTF-8");
    }
    CHECK_RC(cairn_tuple_add_string(t, "ok\xffok", 5), CAIRN_EINVAL);
    CHECK_ERRMSG("byte 0xff at index 2 of 5");
    CHECK_RC(cairn_tuple_add_bytes(t, NULL, 1), CAIRN_EINVAL);
    CHECK_OK(cairn_tuple_add_bytes(t, NULL, 0));
    CHECK_OK(cairn_tuple_add_string(t, NULL, 0));
    /* failed adds left the tuple as it was: (7, b"", "") */
    KAT(t, "after failures", 0x15, 0x07, 0x01, 0x00, 0x02, 0x00);

    CHECK_RC(cairn_tuple_end_nested(t), CAIRN_EINVAL);
    CHECK_ERRMSG("without an open nested tuple");
    cairn_tuple_reset(t);
    for (int k = 0; k < TUPLE_MAX_DEPTH; k++) CHECK_OK(cairn_tuple_begin_nested(t));
    CHECK_RC(cairn_tuple_begin_nested(t), CAIRN_EINVAL);
    CHECK_ERRMSG("deeper than 32");
    CHECK_OK(cairn_tuple_add_null(t));
    CHECK(cairn_tuple_data(NULL, t) == NULL);
    for (int k = 0; k < TUPLE_MAX_DEPTH; k++) CHECK_OK(cairn_tuple_end_nested(t));
    size_t len;
    const void *enc = cairn_tuple_data(&len, t);
    CHECK(enc != NULL);
    CHECK_EQ(len, 2 * TUPLE_MAX_DEPTH + 2);
    CHECK_OK(cairn_tuple_decode(enc, len, NULL, NULL));
    /* reset forgets open nested tuples */
    CHECK_OK(cairn_tuple_begin_nested(t));
    cairn_tuple_reset(t);
    CHECK(cairn_tuple_data(&len, t) != NULL);
    CHECK_EQ(len, 0);
    cairn_tuple_free(t);
}

/* A truncated encoding is rejected, except where the cut makes a shorter valid tuple: at an
 * element boundary, or between a 0x00 and the 0xff after it (("a") is a prefix of ("a\0")). */
static void rejects_truncations(void)
{
    uint64_t rng = test_rng(14);
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));
    long rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
        model m;
        gen_model(&m, &rng);
        /* element boundaries: the encodings of m's first k elements */
        size_t bounds[8], nb = 0;
        for (size_t k = 0; k <= m.n && k < 8; k++) {
            cairn_tuple_reset(t);
            CHECK_OK(encode_values(t, m.v, k));
            cairn_tuple_data(&bounds[nb++], t);
        }
        CHECK_OK(encode_model(t, &m));
        size_t len;
        const uint8_t *enc = cairn_tuple_data(&len, t);
        for (size_t cut = 0; cut < len; cut++) {
            bool boundary = false;
            for (size_t k = 0; k < nb; k++) boundary |= bounds[k] == cut;
            bool escape_cut = cut > 0 && enc[cut - 1] == 0x00 && enc[cut] == 0xff;
            int rc = cairn_tuple_decode(enc, cut, NULL, NULL);
            if (boundary) CHECK_MSG(rc == CAIRN_OK, "iteration %d: cut at boundary %zu: %s", iter,
                                    cut, cairn_error_last()->message);
            else if (!escape_cut) {
                CHECK_MSG(rc == CAIRN_EINVAL, "iteration %d: cut at %zu of %zu returned %d", iter,
                          cut, len, rc);
                CHECK_ERRMSG("at offset");
                rejected++;
            } else {
                CHECK(rc == CAIRN_OK || rc == CAIRN_EINVAL);
            }
        }
        model_free(&m);
    }
    CHECK(rejected > 10000);
    cairn_tuple_free(t);
}

/* ---- callbacks, allocation failures ---- */

static int stop_cb(const cairn_tuple_item *it, void *payload)
{
    (*(int *)payload)++;
    return it->type == CAIRN_TUPLE_INT ? 7 : 0;
}

static void callback_stops(void)
{
    static const uint8_t enc[] = { 0x00, 0x15, 0x01, 0x26 };
    int calls = 0;
    CHECK_EQ(cairn_tuple_decode(enc, sizeof enc, stop_cb, &calls), 7);
    CHECK_EQ(calls, 2);
}

static int count_cb(const cairn_tuple_item *it, void *payload)
{
    size_t *n = payload;
    *n += 1 + it->len;
    return 0;
}

/* Builds and decodes a tuple big enough to grow the buffer several times and to unescape
 * through the heap; every failure must be ENOMEM, leave the tuple as it was and leak nothing. */
static int alloc_scenario(void)
{
    cairn_tuple *t;
    int rc = cairn_tuple_new(&t);
    if (rc) return rc;
    uint8_t big[1000];
    for (size_t k = 0; k < sizeof big; k++) big[k] = (uint8_t)(k % 3 ? k : 0);
    for (int k = 0; k < 50 && rc == CAIRN_OK; k++) {
        size_t before, after;
        cairn_tuple_data(&before, t);
        switch (k % 4) {
        case 0: rc = cairn_tuple_add_bytes(t, big, sizeof big); break;
        case 1: rc = cairn_tuple_add_string(t, "a string of some length\0!", 25); break;
        case 2: rc = cairn_tuple_add_int(t, INT64_MIN + k); break;
        case 3: rc = cairn_tuple_add_double(t, k * 0.5); break;
        }
        cairn_tuple_data(&after, t);
        if (rc && after != before) rc = -1000; /* a failed add changed the tuple */
    }
    if (rc == CAIRN_OK) {
        size_t len, total = 0;
        const void *enc = cairn_tuple_data(&len, t);
        rc = cairn_tuple_decode(enc, len, count_cb, &total);
        if (rc == CAIRN_OK && total != 13 * (1 + sizeof big) + 13 * 26 + 24 * 1) rc = -1001;
    }
    if (rc == CAIRN_OK) {
        cairn_buf end = CAIRN_BUF_INIT;
        rc = tuple_range_end(&end, "\x14", 1);
        cairn_buf_dispose(&end);
    }
    cairn_tuple_free(t);
    return rc;
}

static void allocation_failures(void)
{
    long n;
    for (n = 1; n < 10000; n++) {
        cairn_alloc_fail_after(n);
        int rc = alloc_scenario();
        cairn_alloc_fail_after(0);
        if (rc == CAIRN_OK) break;
        CHECK_MSG(rc == CAIRN_ENOMEM, "failing allocation %ld: returned %d", n, rc);
        CHECK_ERRMSG("memory");
    }
    CHECK(n > 3); /* new, several buffer growths, the decoder's scratch buffer */
    CHECK(n < 10000);
}

/* ---- throughput of a typical key: (string, int, bytes) ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sum_cb(const cairn_tuple_item *it, void *payload)
{
    *(uint64_t *)payload += (uint64_t)it->i + it->len;
    return 0;
}

static void throughput_typical_key(void)
{
    const long iters = getenv("CAIRN_TEST_BENCH") ? 20000000 : 200000;
    cairn_tuple *t;
    CHECK_OK(cairn_tuple_new(&t));
    uint8_t id[16];
    for (int k = 0; k < 16; k++) id[k] = (uint8_t)(k * 37);
    size_t total = 0;
    double t0 = now();
    for (long k = 0; k < iters; k++) {
        cairn_tuple_reset(t);
        id[0] = (uint8_t)k; /* sometimes zero: an escape */
        if (cairn_tuple_add_string(t, "users/email", 11) || cairn_tuple_add_int(t, k) ||
            cairn_tuple_add_bytes(t, id, sizeof id))
            CHECK(0);
        size_t len;
        cairn_tuple_data(&len, t);
        total += len;
    }
    double t1 = now();
    /* decode: a key whose bytes need no unescaping (handed out in place), then one that does */
    double rate[2];
    size_t len = 0, plain_len = 0;
    for (int esc = 0; esc < 2; esc++) {
        id[0] = esc ? 0x00 : 0xff;
        cairn_tuple_reset(t);
        CHECK_OK(cairn_tuple_add_string(t, "users/email", 11));
        CHECK_OK(cairn_tuple_add_int(t, 123456789));
        CHECK_OK(cairn_tuple_add_bytes(t, id, sizeof id));
        const void *enc = cairn_tuple_data(&len, t);
        if (!esc) plain_len = len;
        uint64_t sum = 0;
        double t2 = now();
        for (long k = 0; k < iters; k++) CHECK_OK(cairn_tuple_decode(enc, len, sum_cb, &sum));
        rate[esc] = (double)iters / (now() - t2) / 1e6;
        CHECK(sum > 0);
    }
    CHECK(total > 0);
    printf("  typical key (\"users/email\", 123456789, 16 bytes) = %zu bytes: encode %.1f M "
           "tuples/s, decode %.1f M tuples/s (%.1f M with an escaped zero)\n", plain_len,
           (double)iters / (t1 - t0) / 1e6, rate[0], rate[1]);
    cairn_tuple_free(t);
}

TEST_MAIN(known_answers_scalars, known_answers_tuples, random_round_trips, order_preserved,
          prefix_ranges, rejects_bad_input, encoder_rejects_bad_input, rejects_truncations,
          callback_stops, allocation_failures, throughput_typical_key)
