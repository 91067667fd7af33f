/*
 * fuzz_tuple.c - the tuple decoder must reject or accept any input without crashing or reading
 * out of bounds. An accepted input is the one canonical encoding of its tuple: re-encoding the
 * decoded elements gives the very same bytes. And the encoding preserves order: the input is
 * also split in two (the first byte gives the split point); when both halves decode, memcmp
 * order of the halves must equal the order of their decoded tuples, which a reference
 * comparator works out from the elements alone.
 */
#include <math.h>
#include <stdlib.h>

#include "db/tuple.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded tuple as a flat token stream: the elements in order, with an END token where each
 * nested tuple closes and one more at the end of the tuple. */
#define TOK_END (-1)

typedef struct tok {
    int type; /* cairn_tuple_type or TOK_END */
    int64_t i;
    double d;
    int b;
    uint8_t *data;
    size_t len;
} tok;

typedef struct toks {
    tok *t;
    size_t n, cap;
    int open; /* nested tuples open after the last token */
} toks;

static tok *push(toks *ts)
{
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? 2 * ts->cap : 16;
        ts->t = realloc(ts->t, ts->cap * sizeof *ts->t);
        if (!ts->t) abort();
    }
    tok *t = &ts->t[ts->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static void close_to(toks *ts, int depth)
{
    while (ts->open > depth) {
        push(ts)->type = TOK_END;
        ts->open--;
    }
}

static int collect(const cairn_tuple_item *it, void *payload)
{
    toks *ts = payload;
    if (it->depth > ts->open) abort(); /* a member of a nested tuple that was never opened */
    close_to(ts, it->depth);
    tok *t = push(ts);
    t->type = (int)it->type;
    t->i = it->i;
    t->d = it->d;
    t->b = it->b;
    if (it->type == CAIRN_TUPLE_BYTES || it->type == CAIRN_TUPLE_STRING) {
        if (!it->data) abort();
        t->data = malloc(it->len + 1);
        if (!t->data) abort();
        memcpy(t->data, it->data, it->len);
        t->len = it->len;
    } else if (it->data || it->len) {
        abort();
    }
    ts->open = it->type == CAIRN_TUPLE_NESTED ? it->depth + 1 : it->depth;
    return 0;
}

static void toks_free(toks *ts)
{
    for (size_t k = 0; k < ts->n; k++) free(ts->t[k].data);
    free(ts->t);
}

static int decode(toks *ts, const uint8_t *data, size_t len)
{
    memset(ts, 0, sizeof *ts);
    int rc = cairn_tuple_decode(data, len, collect, ts);
    if (rc == CAIRN_OK) {
        close_to(ts, 0);
        push(ts)->type = TOK_END;
    } else if (rc != CAIRN_EINVAL) {
        abort(); /* no allocation of note fails here; the callback never stops */
    }
    return rc;
}

/* Re-encodes the tokens and checks the bytes are the input's. */
static void reencode(const toks *ts, const uint8_t *data, size_t len)
{
    cairn_tuple *t;
    if (cairn_tuple_new(&t)) abort();
    for (size_t k = 0; k + 1 < ts->n; k++) {
        const tok *x = &ts->t[k];
        int rc;
        switch (x->type) {
        case TOK_END: rc = cairn_tuple_end_nested(t); break;
        case CAIRN_TUPLE_NULL: rc = cairn_tuple_add_null(t); break;
        case CAIRN_TUPLE_BYTES: rc = cairn_tuple_add_bytes(t, x->data, x->len); break;
        case CAIRN_TUPLE_STRING: rc = cairn_tuple_add_string(t, (const char *)x->data, x->len); break;
        case CAIRN_TUPLE_NESTED: rc = cairn_tuple_begin_nested(t); break;
        case CAIRN_TUPLE_INT: rc = cairn_tuple_add_int(t, x->i); break;
        case CAIRN_TUPLE_DOUBLE: rc = cairn_tuple_add_double(t, x->d); break;
        case CAIRN_TUPLE_BOOL: rc = cairn_tuple_add_bool(t, x->b); break;
        default: abort();
        }
        if (rc) abort();
    }
    size_t elen;
    const void *enc = cairn_tuple_data(&elen, t);
    if (!enc || elen != len || (len && memcmp(enc, data, len))) abort();
    cairn_tuple_free(t);
}

/* -- the reference order, from the elements -- */

static int rank(int type)
{
    static const int ranks[] = { [CAIRN_TUPLE_NULL] = 0, [CAIRN_TUPLE_BYTES] = 1,
                                 [CAIRN_TUPLE_STRING] = 2, [CAIRN_TUPLE_NESTED] = 3,
                                 [CAIRN_TUPLE_INT] = 4, [CAIRN_TUPLE_DOUBLE] = 5,
                                 [CAIRN_TUPLE_BOOL] = 6 };
    return type == TOK_END ? -1 : ranks[type]; /* a tuple's end sorts before any element */
}

static int cmp_double(double a, double b)
{
    int ka = isnan(a) ? (signbit(a) ? -1 : 1) : 0, kb = isnan(b) ? (signbit(b) ? -1 : 1) : 0;
    if (ka != kb) return ka < kb ? -1 : 1;
    if (ka) return 0;
    if (a != b) return a < b ? -1 : 1;
    return (signbit(b) != 0) - (signbit(a) != 0); /* -0.0 before 0.0 */
}

static int cmp_tok(const tok *a, const tok *b)
{
    int ra = rank(a->type), rb = rank(b->type);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (a->type) {
    case CAIRN_TUPLE_BYTES:
    case CAIRN_TUPLE_STRING: {
        for (size_t k = 0; k < a->len && k < b->len; k++)
            if (a->data[k] != b->data[k]) return a->data[k] < b->data[k] ? -1 : 1;
        return (a->len > b->len) - (a->len < b->len);
    }
    case CAIRN_TUPLE_INT: return (a->i > b->i) - (a->i < b->i);
    case CAIRN_TUPLE_DOUBLE: return cmp_double(a->d, b->d);
    case CAIRN_TUPLE_BOOL: return (a->b > b->b) - (a->b < b->b);
    default: return 0; /* null, nested (its members follow), end */
    }
}

/* Equal tokens keep both streams at the same nesting level, so the first difference decides. */
static int cmp_toks(const toks *a, const toks *b)
{
    for (size_t k = 0; k < a->n && k < b->n; k++) {
        int c = cmp_tok(&a->t[k], &b->t[k]);
        if (c) return c;
    }
    if (a->n != b->n) abort(); /* both end with the same END */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    toks all;
    if (decode(&all, data, size) == CAIRN_OK) reencode(&all, data, size);
    toks_free(&all);

    if (size < 1) return 0;
    size_t alen = MIN((size_t)data[0], size - 1);
    const uint8_t *a = data + 1, *b = data + 1 + alen;
    size_t blen = size - 1 - alen;
    toks ta, tb;
    int ra = decode(&ta, a, alen), rb = decode(&tb, b, blen);
    if (ra == CAIRN_OK && rb == CAIRN_OK) {
        reencode(&ta, a, alen);
        reencode(&tb, b, blen);
        int logical = cmp_toks(&ta, &tb), bytes = tuple_cmp(a, alen, b, blen);
        if ((logical > 0) != (bytes > 0) || (logical < 0) != (bytes < 0)) abort();
    }
    toks_free(&ta);
    toks_free(&tb);
    return 0;
}
