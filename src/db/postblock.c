/*
 * postblock.c - posting blocks, the form a text index keeps a word's ids in (docs/FORMAT.md,
 * "Text index postings"): the cut rule, the codec, block keys, and a walk through a block
 * without decoding it. Below the document layer, so that a merge (src/vc/) can read and
 * write blocks too.
 */
#include <stdlib.h>

#include "base/hash.h"
#include "base/varint.h"
#include "db/postblock.h"
#include "db/tuple.h"

#define CUT_SEED 0x63616972ULL /* "cair": the cut rule's hash seed */

/* ---- lists of ids ---- */

void post_ids_reset(post_ids *l)
{
    l->n = 0;
    l->bytes.len = 0;
}

void post_ids_dispose(post_ids *l)
{
    cairn_buf_dispose(&l->bytes);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* Makes room in l->off for one more id. */
static int ids_room(post_ids *l)
{
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *o = cairn_realloc(l->off, cap * sizeof *o);
        FAIL_IF(!o, CAIRN_ENOMEM, "out of memory reading a text index");
        l->off = o;
        l->cap = cap;
    }
    if (l->n == 0) l->off[0] = l->bytes.len = 0;
    return CAIRN_OK;
}

int post_ids_push(post_ids *l, const void *id, size_t len)
{
    TRY(ids_room(l));
    TRY(cairn_buf_append(&l->bytes, id, len));
    l->off[++l->n] = l->bytes.len;
    return CAIRN_OK;
}

/* ---- blocks ---- */

bool post_cut(const void *id, size_t len)
{
    return (hash_xxh3(id, len, CUT_SEED) & POST_CUT_MASK) == 0;
}

static size_t common_prefix(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Appends id's entry (what it shares with prev, then the rest) to out. */
static int put_entry(cairn_buf *out, const char *prev, size_t plen, const char *id, size_t len)
{
    size_t shared = prev ? common_prefix(prev, plen, id, len) : 0;
    TRY(cairn_buf_reserve(out, out->len + 2 * VARINT_MAX + len - shared));
    out->len += varint_put(out->data + out->len, shared);
    out->len += varint_put(out->data + out->len, len - shared);
    memcpy(out->data + out->len, id + shared, len - shared);
    out->len += len - shared;
    return CAIRN_OK;
}

int post_encode(cairn_buf *out, const post_ids *l, size_t from, size_t to)
{
    uint8_t v[VARINT_MAX];
    TRY(cairn_buf_append(out, (const uint8_t[]){ POST_FORM }, 1));
    TRY(cairn_buf_append(out, v, varint_put(v, to - from)));
    const char *prev = NULL;
    size_t plen = 0;
    for (size_t i = from; i < to; i++) {
        size_t len;
        const char *id = post_ids_at(l, i, &len);
        TRY(put_entry(out, prev, plen, id, len));
        prev = id;
        plen = len;
    }
    return CAIRN_OK;
}

int post_enc_add(post_enc *e, const char *id, size_t len)
{
    TRY(put_entry(&e->body, e->n ? e->prev : NULL, e->plen, id, len));
    if (!e->n) {
        e->first = id;
        e->flen = len;
    }
    e->prev = id;
    e->plen = len;
    e->n++;
    return CAIRN_OK;
}

int post_enc_finish(post_enc *e, cairn_buf *val)
{
    uint8_t v[1 + VARINT_MAX];
    v[0] = POST_FORM;
    val->len = 0;
    TRY(cairn_buf_append(val, v, 1 + varint_put(v + 1, e->n)));
    TRY(cairn_buf_append(val, e->body.data, e->body.len));
    e->body.len = 0;
    e->n = 0;
    return CAIRN_OK;
}

static int decode(post_ids *out, const void *val, size_t vlen);

int post_decode(post_ids *out, const void *val, size_t vlen)
{
    int rc = decode(out, val, vlen);
    if (rc < 0) post_ids_reset(out); /* nothing half read */
    return rc;
}

static int decode(post_ids *out, const void *val, size_t vlen)
{
    post_ids_reset(out);
    const uint8_t *p = val, *end = p + vlen;
    FAIL_IF(vlen == 0 || p[0] != POST_FORM, CAIRN_ECORRUPT,
            "a posting block does not begin with 0x%02x", POST_FORM);
    p++;
    uint64_t n;
    size_t k = varint_get(p, end, &n);
    FAIL_IF(!k || n == 0 || n > POST_MAX, CAIRN_ECORRUPT,
            "a posting block's count is not a number from 1 to %d", POST_MAX);
    p += k;
    TRY(cairn_buf_reserve(&out->bytes, (size_t)n * 24));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t shared, rest;
        size_t a = varint_get(p, end, &shared);
        size_t b = a ? varint_get(p + a, end, &rest) : 0;
        FAIL_IF(!b, CAIRN_ECORRUPT, "posting block: id %llu of %llu is cut short or malformed",
                (unsigned long long)i + 1, (unsigned long long)n);
        p += a + b;
        size_t plen = 0;
        const uint8_t *prev = i ? (const uint8_t *)post_ids_at(out, i - 1, &plen) : NULL;
        FAIL_IF(shared > plen || rest > (uint64_t)(end - p) ||
                    shared + rest > CAIRN_DOC_ID_LEN_MAX || shared + rest == 0,
                CAIRN_ECORRUPT, "posting block: id %llu of %llu has an impossible length",
                (unsigned long long)i + 1, (unsigned long long)n);
        for (uint64_t j = 0; j < rest; j++) {
            uint8_t ch = p[j];
            FAIL_IF(ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\', CAIRN_ECORRUPT,
                    "posting block: id %llu of %llu holds byte 0x%02x, which no id may hold",
                    (unsigned long long)i + 1, (unsigned long long)n, ch);
        }
        /* sorted and stored in its one shortest way: the byte after the shared part differs */
        FAIL_IF(i && (rest == 0 || (shared < plen && p[0] <= prev[shared])), CAIRN_ECORRUPT,
                "posting block: id %llu of %llu is not after the one before it, or does not "
                "share all it could with it", (unsigned long long)i + 1, (unsigned long long)n);
        TRY(ids_room(out));
        size_t at = out->bytes.len;
        TRY(cairn_buf_reserve(&out->bytes, at + shared + rest));
        if (shared) memcpy(out->bytes.data + at, out->bytes.data + out->off[i - 1], shared);
        memcpy(out->bytes.data + at + shared, p, rest);
        FAIL_IF(tuple_utf8_check(out->bytes.data + at, shared + rest) < shared + rest,
                CAIRN_ECORRUPT, "posting block: id %llu of %llu is not valid UTF-8",
                (unsigned long long)i + 1, (unsigned long long)n);
        out->bytes.len = at + shared + rest;
        out->off[++out->n] = out->bytes.len;
        p += rest;
    }
    FAIL_IF(p != end, CAIRN_ECORRUPT, "posting block: %zu bytes after its last id",
            (size_t)(end - p));
    return CAIRN_OK;
}

int post_walk_init(post_walk *w, const void *val, size_t vlen)
{
    const uint8_t *p = val, *end = p + vlen;
    memset(w, 0, offsetof(post_walk, id));
    FAIL_IF(vlen == 0 || p[0] != POST_FORM, CAIRN_ECORRUPT,
            "a posting block does not begin with 0x%02x", POST_FORM);
    size_t k = varint_get(p + 1, end, &w->n);
    FAIL_IF(!k || w->n == 0 || w->n > POST_MAX, CAIRN_ECORRUPT,
            "a posting block's count is not a number from 1 to %d", POST_MAX);
    w->p = p + 1 + k;
    w->end = end;
    return CAIRN_OK;
}

/* How x[0, xl) compares with y[0, yl) (-1, 0, 1), and *m: the length of their common prefix. */
static int cmp_prefix(const char *x, size_t xl, const char *y, size_t yl, size_t *m)
{
    size_t n = xl < yl ? xl : yl, i = 0;
    while (i < n && x[i] == y[i]) i++;
    *m = i;
    if (i < n) return (uint8_t)x[i] < (uint8_t)y[i] ? -1 : 1;
    return (xl > yl) - (xl < yl);
}

int post_walk_to(post_walk *w, bool *found, const char *id, size_t idlen)
{
    *found = false;
    size_t m = 0; /* the common prefix of the id walked last and the target */
    int c = w->i ? cmp_prefix(w->id, w->len, id, idlen, &m) : -1;
    while (c < 0 && w->i < w->n) {
        uint64_t shared, rest;
        size_t a = varint_get(w->p, w->end, &shared);
        size_t b = a ? varint_get(w->p + a, w->end, &rest) : 0;
        FAIL_IF(!b || shared > w->len || rest > (uint64_t)(w->end - w->p - a - b) ||
                    shared + rest > CAIRN_DOC_ID_LEN_MAX, CAIRN_ECORRUPT,
                "posting block: id %llu of %llu is cut short or malformed",
                (unsigned long long)w->i + 1, (unsigned long long)w->n);
        const uint8_t *src = w->p + a + b;
        for (size_t k = 0; k < rest; k++) w->id[shared + k] = (char)src[k]; /* a few bytes */
        w->len = shared + rest;
        w->p += a + b + rest;
        if (w->i++ == 0) {
            c = cmp_prefix(w->id, w->len, id, idlen, &m);
        } else if (shared > m) {
            /* it shares more with the id before than the target does: it differs from the
             * target where that one did, by the same byte, and stays before it */
        } else if (shared < m) {
            c = 1; /* it differs from the target at shared, where it grew past the one before
                      (which agreed with the target there): after it */
        } else { /* the bytes from m decide */
            size_t more;
            c = cmp_prefix(w->id + m, w->len - m, id + m, idlen - m, &more);
            m += more;
        }
    }
    *found = c == 0;
    return CAIRN_OK;
}

int post_key(cairn_buf *out, const void *prefix, size_t plen, const void *id, size_t len)
{
    TRY(cairn_buf_reserve(out, out->len + plen + len + 2));
    memcpy(out->data + out->len, prefix, plen);
    out->data[out->len + plen] = 0x02; /* a tuple string (ids hold no zero byte to escape) */
    memcpy(out->data + out->len + plen + 1, id, len);
    out->data[out->len + plen + 1 + len] = 0x00;
    out->len += plen + len + 2;
    return CAIRN_OK;
}

bool post_key_id(const uint8_t **id, size_t *len, const void *key, size_t klen, size_t plen)
{
    const uint8_t *k = key;
    if (klen < plen + 3 || k[plen] != 0x02 || k[klen - 1] != 0x00) return false;
    if (memchr(k + plen + 1, 0, klen - plen - 2)) return false;
    *id = k + plen + 1;
    *len = klen - plen - 2;
    return true;
}

size_t post_prefix_len(const void *key, size_t klen)
{
    const uint8_t *k = key;
    if (klen < 2 || k[0] != 0x01) return 0;
    const uint8_t *z = memchr(k + 1, 0, klen - 1);
    return z ? (size_t)(z - k) + 1 : 0;
}

