/*
 * post.c - a text index's posting blocks: the form (docs/FORMAT.md, "Text index postings"),
 * the writer's changes per word, and the readers (a walk over pairs, a probe for one word).
 *
 * The rule that cuts a word's ids into blocks reads the sorted list from its start: a block
 * ends after an id whose hash has its DV_POST_CUT_MASK bits zero, or once it holds DV_POST_MAX
 * ids. Every block therefore starts where the rule cut, and a change rewrites only the block it
 * falls in and the ones after it up to the first place where the new cutting meets an old cut
 * (as the tree's chunker resynchronises): usually the one block.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "base/varint.h"
#include "cairn/doc.h"
#include "db/tuple.h"
#include "doc/post.h"

#define CUT_SEED 0x63616972ULL /* "cair": the cut rule's hash seed */

/* ---- lists of ids ---- */

void dv_ids_reset(dv_ids *l)
{
    l->n = 0;
    l->bytes.len = 0;
}

void dv_ids_dispose(dv_ids *l)
{
    cairn_buf_dispose(&l->bytes);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* Makes room in l->off for one more id. */
static int ids_room(dv_ids *l)
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

int dv_ids_push(dv_ids *l, const void *id, size_t len)
{
    TRY(ids_room(l));
    TRY(cairn_buf_append(&l->bytes, id, len));
    l->off[++l->n] = l->bytes.len;
    return CAIRN_OK;
}

/* ---- blocks ---- */

bool dv_post_cut(const void *id, size_t len)
{
    return (hash_xxh3(id, len, CUT_SEED) & DV_POST_CUT_MASK) == 0;
}

static size_t common_prefix(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

int dv_post_encode(cairn_buf *out, const dv_ids *l, size_t from, size_t to)
{
    uint8_t v[VARINT_MAX];
    TRY(cairn_buf_append(out, (const uint8_t[]){ DV_POST_FORM }, 1));
    TRY(cairn_buf_append(out, v, varint_put(v, to - from)));
    const char *prev = NULL;
    size_t plen = 0;
    for (size_t i = from; i < to; i++) {
        size_t len;
        const char *id = dv_ids_at(l, i, &len);
        size_t shared = prev ? common_prefix(prev, plen, id, len) : 0;
        TRY(cairn_buf_reserve(out, out->len + 2 * VARINT_MAX + len - shared));
        out->len += varint_put(out->data + out->len, shared);
        out->len += varint_put(out->data + out->len, len - shared);
        memcpy(out->data + out->len, id + shared, len - shared);
        out->len += len - shared;
        prev = id;
        plen = len;
    }
    return CAIRN_OK;
}

static int decode(dv_ids *out, const void *val, size_t vlen);

int dv_post_decode(dv_ids *out, const void *val, size_t vlen)
{
    int rc = decode(out, val, vlen);
    if (rc < 0) dv_ids_reset(out); /* nothing half read */
    return rc;
}

static int decode(dv_ids *out, const void *val, size_t vlen)
{
    dv_ids_reset(out);
    const uint8_t *p = val, *end = p + vlen;
    FAIL_IF(vlen == 0 || p[0] != DV_POST_FORM, CAIRN_ECORRUPT,
            "a posting block does not begin with 0x%02x", DV_POST_FORM);
    p++;
    uint64_t n;
    size_t k = varint_get(p, end, &n);
    FAIL_IF(!k || n == 0 || n > DV_POST_MAX, CAIRN_ECORRUPT,
            "a posting block's count is not a number from 1 to %d", DV_POST_MAX);
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
        const uint8_t *prev = i ? (const uint8_t *)dv_ids_at(out, i - 1, &plen) : NULL;
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

int dv_post_walk_init(dv_post_walk *w, const void *val, size_t vlen)
{
    const uint8_t *p = val, *end = p + vlen;
    memset(w, 0, offsetof(dv_post_walk, id));
    FAIL_IF(vlen == 0 || p[0] != DV_POST_FORM, CAIRN_ECORRUPT,
            "a posting block does not begin with 0x%02x", DV_POST_FORM);
    size_t k = varint_get(p + 1, end, &w->n);
    FAIL_IF(!k || w->n == 0 || w->n > DV_POST_MAX, CAIRN_ECORRUPT,
            "a posting block's count is not a number from 1 to %d", DV_POST_MAX);
    w->p = p + 1 + k;
    w->end = end;
    return CAIRN_OK;
}

int dv_post_walk_to(dv_post_walk *w, bool *found, const char *id, size_t idlen)
{
    *found = false;
    int c = w->i ? bytes_cmp(w->id, w->len, id, idlen) : -1;
    while (c < 0 && w->i < w->n) {
        uint64_t shared, rest;
        size_t a = varint_get(w->p, w->end, &shared);
        size_t b = a ? varint_get(w->p + a, w->end, &rest) : 0;
        FAIL_IF(!b || shared > w->len || rest > (uint64_t)(w->end - w->p - a - b) ||
                    shared + rest > CAIRN_DOC_ID_LEN_MAX, CAIRN_ECORRUPT,
                "posting block: id %llu of %llu is cut short or malformed",
                (unsigned long long)w->i + 1, (unsigned long long)w->n);
        memcpy(w->id + shared, w->p + a + b, rest);
        w->len = shared + rest;
        w->p += a + b + rest;
        w->i++;
        c = bytes_cmp(w->id, w->len, id, idlen);
    }
    *found = c == 0;
    return CAIRN_OK;
}

int dv_post_key(cairn_buf *out, const void *prefix, size_t plen, const void *id, size_t len)
{
    TRY(cairn_buf_reserve(out, out->len + plen + len + 2));
    memcpy(out->data + out->len, prefix, plen);
    out->data[out->len + plen] = 0x02; /* a tuple string (ids hold no zero byte to escape) */
    memcpy(out->data + out->len + plen + 1, id, len);
    out->data[out->len + plen + 1 + len] = 0x00;
    out->len += plen + len + 2;
    return CAIRN_OK;
}

bool dv_post_key_id(const uint8_t **id, size_t *len, const void *key, size_t klen, size_t plen)
{
    const uint8_t *k = key;
    if (klen < plen + 3 || k[plen] != 0x02 || k[klen - 1] != 0x00) return false;
    if (memchr(k + plen + 1, 0, klen - plen - 2)) return false;
    *id = k + plen + 1;
    *len = klen - plen - 2;
    return true;
}

size_t dv_post_prefix_len(const void *key, size_t klen)
{
    const uint8_t *k = key;
    if (klen < 2 || k[0] != 0x01) return 0;
    const uint8_t *z = memchr(k + 1, 0, klen - 1);
    return z ? (size_t)(z - k) + 1 : 0;
}

/* ---- writing ---- */

/* Names a damaged block: what, the key. */
static int block_damage(const char *what, const void *k, size_t kl, int rc)
{
    char shown[96];
    bytes_show(shown, sizeof shown, k, kl);
    return cairn_error_prefix(rc, "%s: the block under key %s", what, shown);
}


/* One word's changes: each the offset of its id in the accumulator's ids, times 4, plus 2 when
 * the cut rule cuts after the id (worked out once per id, not once per word), plus 1 for an
 * addition. */
#define CH_ADD 1u
#define CH_CUT 2u
typedef struct pword {
    uint8_t *prefix;         /* NULL: a free slot */
    size_t plen;
    uint64_t *ch;
    size_t n, cap;
} pword;

struct dv_post_acc {
    pword *w;                /* open addressing on the prefix's hash */
    size_t cap, n;
    cairn_buf ids;           /* every id given: a 2-byte length, then its bytes */
    size_t last;             /* offset of the last id stored (SIZE_MAX: none) */
    size_t changes;
    bool last_cut;           /* the cut rule cuts after the last id */
    bool in_order;           /* each id given was after the one before it (a bulk's generated
                                ids): every word's changes are then sorted, and unique */
    bool sorted;             /* dv_post_acc_sort() ran: no more additions */
    /* flushing */
    dv_ids in, out;
    cairn_buf key, val;
    uint64_t *tmp;
    size_t tmp_cap;
};

int dv_post_acc_new(dv_post_acc **out)
{
    *out = cairn_calloc(1, sizeof **out);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory");
    (*out)->last = SIZE_MAX;
    (*out)->in_order = true;
    return CAIRN_OK;
}

void dv_post_acc_free(dv_post_acc *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->cap; i++) {
        free(a->w[i].prefix);
        free(a->w[i].ch);
    }
    free(a->w);
    cairn_buf_dispose(&a->ids);
    dv_ids_dispose(&a->in);
    dv_ids_dispose(&a->out);
    cairn_buf_dispose(&a->key);
    cairn_buf_dispose(&a->val);
    free(a->tmp);
    free(a);
}

bool dv_post_acc_any(const dv_post_acc *a)
{
    return a && a->changes;
}

size_t dv_post_acc_bytes(const dv_post_acc *a)
{
    size_t n = a->cap * sizeof *a->w + a->ids.cap;
    for (size_t i = 0; i < a->cap; i++) n += a->w[i].cap * sizeof(uint64_t) + a->w[i].plen;
    return n;
}

static pword *word_slot(pword *w, size_t cap, const void *prefix, size_t plen)
{
    size_t i = hash_xxh3(prefix, plen, 0) & (cap - 1);
    while (w[i].prefix && (w[i].plen != plen || memcmp(w[i].prefix, prefix, plen) != 0))
        i = (i + 1) & (cap - 1);
    return &w[i];
}

static const char *id_of(const dv_post_acc *a, uint64_t ch, size_t *len)
{
    const uint8_t *p = a->ids.data + (ch >> 2);
    *len = (size_t)p[0] | (size_t)p[1] << 8;
    return (const char *)p + 2;
}

int dv_post_acc_add(dv_post_acc *a, const void *prefix, size_t plen, const char *id,
                    size_t idlen, bool add)
{
    FAIL_IF(a->sorted, CAIRN_ESTATE, "a text index's changes were sorted already");
    if ((a->n + 1) * 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        pword *w = cairn_calloc(cap, sizeof *w);
        FAIL_IF(!w, CAIRN_ENOMEM, "out of memory gathering a text index's changes");
        for (size_t i = 0; i < a->cap; i++)
            if (a->w[i].prefix) *word_slot(w, cap, a->w[i].prefix, a->w[i].plen) = a->w[i];
        free(a->w);
        a->w = w;
        a->cap = cap;
    }
    pword *w = word_slot(a->w, a->cap, prefix, plen);
    if (!w->prefix) {
        w->prefix = cairn_malloc(plen);
        FAIL_IF(!w->prefix, CAIRN_ENOMEM, "out of memory gathering a text index's changes");
        memcpy(w->prefix, prefix, plen);
        w->plen = plen;
        a->n++;
    }
    size_t len = 0;
    const char *last = a->last == SIZE_MAX ? NULL : id_of(a, (uint64_t)a->last << 2, &len);
    if (!last || len != idlen || memcmp(last, id, idlen) != 0) { /* a bulk gives one id 6 times */
        if (last && a->in_order) a->in_order = bytes_cmp(last, len, id, idlen) < 0;
        uint8_t l2[2] = { (uint8_t)idlen, (uint8_t)(idlen >> 8) };
        TRY(cairn_buf_reserve(&a->ids, a->ids.len + 2 + idlen));
        a->last = a->ids.len;
        a->last_cut = dv_post_cut(id, idlen);
        TRY(cairn_buf_append(&a->ids, l2, 2));
        TRY(cairn_buf_append(&a->ids, id, idlen));
    }
    TRY(cairn_array_room(&w->ch, &w->cap, w->n, sizeof *w->ch, 8));
    w->ch[w->n++] = (uint64_t)a->last << 2 | (a->last_cut ? CH_CUT : 0) | (add ? CH_ADD : 0);
    a->changes++;
    return CAIRN_OK;
}

static int ch_cmp(const dv_post_acc *a, uint64_t x, uint64_t y)
{
    size_t xl, yl;
    const char *xi = id_of(a, x, &xl), *yi = id_of(a, y, &yl);
    return bytes_cmp(xi, xl, yi, yl);
}

/* Sorts w's changes by id, keeping their order among equal ids (a merge sort), then keeps the
 * last change of each id. A bulk's generated ids come sorted: one pass checks that. */
static int word_sort(dv_post_acc *a, pword *w)
{
    if (a->in_order) { /* sorted already; one id's changes sit together: keep its last */
        size_t m = 0;
        for (size_t i = 0; i < w->n; i++) {
            if (m && w->ch[m - 1] >> 2 == w->ch[i] >> 2) m--;
            w->ch[m++] = w->ch[i];
        }
        w->n = m;
        return CAIRN_OK;
    }
    bool sorted = true;
    for (size_t i = 1; i < w->n && sorted; i++) sorted = ch_cmp(a, w->ch[i - 1], w->ch[i]) < 0;
    if (!sorted) {
        if (a->tmp_cap < w->n) {
            uint64_t *t = cairn_realloc(a->tmp, w->n * sizeof *t);
            FAIL_IF(!t, CAIRN_ENOMEM, "out of memory sorting a text index's changes");
            a->tmp = t;
            a->tmp_cap = w->n;
        }
        uint64_t *src = w->ch, *dst = a->tmp;
        for (size_t width = 1; width < w->n; width *= 2) {
            for (size_t lo = 0; lo < w->n; lo += 2 * width) {
                size_t mid = MIN(lo + width, w->n), hi = MIN(lo + 2 * width, w->n);
                size_t i = lo, j = mid, k = lo;
                while (i < mid && j < hi)
                    dst[k++] = ch_cmp(a, src[j], src[i]) < 0 ? src[j++] : src[i++];
                while (i < mid) dst[k++] = src[i++];
                while (j < hi) dst[k++] = src[j++];
            }
            uint64_t *t = src;
            src = dst;
            dst = t;
        }
        if (src != w->ch) memcpy(w->ch, src, w->n * sizeof *w->ch);
        size_t m = 0;
        for (size_t i = 0; i < w->n; i++) {
            if (m && ch_cmp(a, w->ch[m - 1], w->ch[i]) == 0) m--; /* the later one counts */
            w->ch[m++] = w->ch[i];
        }
        w->n = m;
    }
    return CAIRN_OK;
}

/* A flush of one word: the batch, the table's blocks of the word (cur: NULL when it has
 * none), the block being made (a->out). */
typedef struct flush {
    dv_post_acc *a;
    cairn_batch *b;
    cairn_table *t;
    const pword *w;
    cairn_cursor *cur;
    const char *what;
} flush;

static int emit(flush *f)
{
    dv_post_acc *a = f->a;
    if (!a->out.n) return CAIRN_OK;
    size_t len;
    const char *first = dv_ids_at(&a->out, 0, &len);
    a->key.len = a->val.len = 0;
    TRY(dv_post_key(&a->key, f->w->prefix, f->w->plen, first, len));
    TRY(dv_post_encode(&a->val, &a->out, 0, a->out.n));
    TRY(cairn_batch_put(f->b, f->t, a->key.data, a->key.len, a->val.data, a->val.len));
    dv_ids_reset(&a->out);
    return CAIRN_OK;
}

/* Appends id to the block being made, cutting it where the rule says (cut: what it says). */
static int feed(flush *f, const char *id, size_t len, bool cut)
{
    TRY(dv_ids_push(&f->a->out, id, len));
    if (f->a->out.n == DV_POST_MAX || cut) TRY(emit(f));
    return CAIRN_OK;
}

/* The first id of the block under the cursor. */
static int cur_first(flush *f, const uint8_t **id, size_t *len)
{
    const void *k;
    size_t kl;
    cairn_cursor_get(&k, &kl, NULL, NULL, f->cur);
    if (dv_post_key_id(id, len, k, kl, f->w->plen)) return CAIRN_OK;
    return block_damage(f->what, k, kl, CORRUPT("the key is not a word and an id"));
}

/* Positions the cursor at the block change id falls in: the last whose first id is at most
 * id, else the first. *at: whether the word has a block at all. */
static int locate(flush *f, bool *at, const char *id, size_t len)
{
    *at = false;
    if (!f->cur) return CAIRN_OK;
    dv_post_acc *a = f->a;
    a->key.len = 0;
    TRY(dv_post_key(&a->key, f->w->prefix, f->w->plen, id, len));
    int rc = cairn_cursor_seek(f->cur, a->key.data, a->key.len);
    if (rc == CAIRN_OK) {
        const void *k;
        size_t kl;
        cairn_cursor_get(&k, &kl, NULL, NULL, f->cur);
        if (kl == a->key.len && memcmp(k, a->key.data, kl) == 0) {
            *at = true;
            return CAIRN_OK;
        }
    }
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) return rc;
    cairn_error_clear();
    rc = cairn_cursor_prev(f->cur); /* from the block found, or from the end */
    if (rc == CAIRN_ENOTFOUND) {    /* none before: the first */
        cairn_error_clear();
        rc = cairn_cursor_next(f->cur);
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    *at = true;
    return CAIRN_OK;
}

/* Rewrites the region of the word's list that starts with the block change i falls in; *i:
 * past the changes it took. */
static int region(flush *f, size_t *i)
{
    dv_post_acc *a = f->a;
    const pword *w = f->w;
    size_t len;
    const char *id = id_of(a, w->ch[*i], &len);
    bool at;
    TRY(locate(f, &at, id, len));
    dv_ids_reset(&a->out);
    for (;;) {
        dv_ids_reset(&a->in);
        bool more = false;
        const uint8_t *bound = NULL; /* the next block's first id (NULL: none) */
        size_t blen = 0;
        if (at) {
            const void *k, *v;
            size_t kl, vl;
            cairn_cursor_get(&k, &kl, &v, &vl, f->cur);
            int rc = dv_post_decode(&a->in, v, vl);
            if (rc < 0) return block_damage(f->what, k, kl, rc);
            TRY(cairn_batch_delete(f->b, f->t, k, kl)); /* a put of the same key comes later */
            rc = cairn_cursor_next(f->cur);
            if (rc == CAIRN_OK) {
                more = true;
                TRY(cur_first(f, &bound, &blen));
            } else if (rc == CAIRN_ENOTFOUND) {
                cairn_error_clear();
            } else {
                return rc;
            }
        }
        /* the block's ids merged with the changes before the next block */
        size_t j = 0;
        while (j < a->in.n || *i < w->n) {
            const char *x = NULL, *c = NULL;
            size_t xl = 0, cl = 0;
            if (j < a->in.n) x = dv_ids_at(&a->in, j, &xl);
            if (*i < w->n) {
                c = id_of(a, w->ch[*i], &cl);
                if (bound && bytes_cmp(c, cl, bound, blen) >= 0) c = NULL;
            }
            if (!x && !c) break;
            int cmp = !x ? 1 : !c ? -1 : bytes_cmp(x, xl, c, cl);
            if (cmp < 0) {
                TRY(feed(f, x, xl, dv_post_cut(x, xl)));
                j++;
                continue;
            }
            if (cmp == 0) j++; /* the change decides whether it stays */
            if (w->ch[*i] & CH_ADD) TRY(feed(f, c, cl, (w->ch[*i] & CH_CUT) != 0));
            (*i)++;
        }
        if (a->out.n == 0) return CAIRN_OK; /* the new cutting met an old cut */
        if (!more) return emit(f);          /* the word's last block */
        at = true;
    }
}

static int flush_word(flush *f)
{
    const pword *w = f->w;
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = w->prefix;
    r.prefix_len = w->plen;
    f->cur = NULL;
    int rc = cairn_cursor_open(&f->cur, f->t, NULL, &r);
    if (rc == CAIRN_ENOTFOUND) { /* the table was never written */
        cairn_error_clear();
        f->cur = NULL;
        rc = CAIRN_OK;
    }
    size_t i = 0;
    while (rc == CAIRN_OK && i < w->n) rc = region(f, &i);
    cairn_cursor_close(f->cur);
    f->cur = NULL;
    return rc;
}

static int pword_cmp(const void *x, const void *y)
{
    const pword *a = x, *b = y;
    return bytes_cmp(a->prefix, a->plen, b->prefix, b->plen);
}

int dv_post_acc_sort(dv_post_acc *a)
{
    if (!a->sorted) { /* the words to the front, in order: the table is no longer a hash's */
        size_t m = 0;
        for (size_t i = 0; i < a->cap; i++)
            if (a->w[i].prefix) a->w[m++] = a->w[i];
        for (size_t i = m; i < a->cap; i++) memset(&a->w[i], 0, sizeof a->w[i]);
        qsort(a->w, m, sizeof *a->w, pword_cmp);
        for (size_t i = 0; i < m; i++) TRY(word_sort(a, &a->w[i]));
        a->sorted = true;
    }
    return (int)MIN(a->n, (size_t)INT32_MAX);
}

void dv_post_acc_word(const dv_post_acc *a, size_t i, const uint8_t **prefix, size_t *plen,
                      size_t *n)
{
    *prefix = a->w[i].prefix;
    *plen = a->w[i].plen;
    *n = a->w[i].n;
}

bool dv_post_acc_change(const dv_post_acc *a, size_t i, size_t j, const char **id, size_t *len)
{
    *id = id_of(a, a->w[i].ch[j], len);
    return a->w[i].ch[j] & CH_ADD;
}

/* Empties a (after a flush). */
static void acc_clear(dv_post_acc *a)
{
    for (size_t i = 0; i < a->cap; i++) {
        free(a->w[i].prefix);
        free(a->w[i].ch);
        memset(&a->w[i], 0, sizeof a->w[i]);
    }
    a->n = a->changes = 0;
    a->ids.len = 0;
    a->last = SIZE_MAX;
    a->sorted = false;
    a->in_order = true;
}

int dv_post_acc_flush(dv_post_acc *a, cairn_batch *b, cairn_table *t, const char *what)
{
    if (!a->changes) return CAIRN_OK;
    /* the words in order (the batch sorts anyway; the tree's nodes are then read in order) */
    int rc = dv_post_acc_sort(a);
    flush f = { a, b, t, NULL, NULL, what };
    for (size_t i = 0; rc >= 0 && i < a->n; i++) {
        f.w = &a->w[i];
        rc = flush_word(&f);
    }
    acc_clear(a);
    return rc < 0 ? rc : CAIRN_OK;
}

/* ---- reading ---- */

struct dv_pcur {
    cairn_cursor *cur;
    const char *what;
    dv_ids ids;              /* the block under the cursor */
    size_t at;               /* the current id in it (n: before the next block) */
    size_t plen;             /* the word prefix of the block's key */
    cairn_buf key;           /* the current pair's key */
    bool keyed;              /* ... made for it */
    cairn_buf prefix;        /* the range's prefix (copied) */
    bool skippable;          /* the last failure was a block's */
};

/* Opens a cursor over the blocks of the words starting with prefix (plen 0: all), which is
 * copied into keep (the cursor's range refers to it). */
static int words_cursor(cairn_cursor **out, cairn_buf *keep, cairn_table *t,
                        const cairn_snapshot *snap, const void *prefix, size_t plen)
{
    *out = NULL;
    TRY(cairn_buf_append(keep, prefix, plen));
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = keep->data;
    r.prefix_len = plen;
    return cairn_cursor_open(out, t, snap, plen ? &r : NULL);
}

int dv_pcur_open(dv_pcur **out, cairn_table *t, const cairn_snapshot *snap, const void *prefix,
                 size_t plen, const char *what)
{
    *out = NULL;
    dv_pcur *c = cairn_calloc(1, sizeof *c);
    FAIL_IF(!c, CAIRN_ENOMEM, "out of memory");
    c->what = what;
    int rc = words_cursor(&c->cur, &c->prefix, t, snap, prefix, plen);
    if (rc < 0) {
        dv_pcur_close(c);
        return rc;
    }
    *out = c;
    return CAIRN_OK;
}

int dv_pcur_next(dv_pcur *c)
{
    const void *k, *v;
    size_t kl, vl, len;
    c->skippable = false;
    if (c->at + 1 < c->ids.n) {
        c->at++;
    } else {
        dv_ids_reset(&c->ids);
        c->at = 0;
        TRY(cairn_cursor_next(c->cur));
        cairn_cursor_get(&k, &kl, &v, &vl, c->cur);
        c->skippable = true; /* from here on a failure is this block's */
        c->plen = dv_post_prefix_len(k, kl);
        const uint8_t *first;
        size_t flen;
        if (!c->plen || !dv_post_key_id(&first, &flen, k, kl, c->plen))
            return block_damage(c->what, k, kl, CORRUPT("the key is not a word and an id"));
        int rc = dv_post_decode(&c->ids, v, vl);
        if (rc == CAIRN_ENOMEM) c->skippable = false;
        if (rc < 0) {
            dv_ids_reset(&c->ids);
            return block_damage(c->what, k, kl, rc);
        }
        const char *id0 = dv_ids_at(&c->ids, 0, &len);
        if (len != flen || memcmp(id0, first, flen) != 0) {
            dv_ids_reset(&c->ids);
            return block_damage(c->what, k, kl, CORRUPT("the key's id is not the block's first"));
        }
        c->skippable = false;
    }
    c->keyed = false;
    return CAIRN_OK;
}

int dv_pcur_get(dv_pcur *c, const uint8_t **key, size_t *klen, size_t *plen, const char **id,
                size_t *idlen)
{
    if ((key || klen) && !c->keyed) { /* made when asked: a query wants the ids alone */
        const void *k;
        size_t kl, len;
        cairn_cursor_get(&k, &kl, NULL, NULL, c->cur);
        const char *x = dv_ids_at(&c->ids, c->at, &len);
        c->key.len = 0;
        TRY(dv_post_key(&c->key, k, c->plen, x, len));
        c->keyed = true;
    }
    if (key) *key = c->key.data;
    if (klen) *klen = c->key.len;
    if (plen) *plen = c->plen;
    if (id) *id = dv_ids_at(&c->ids, c->at, idlen);
    return CAIRN_OK;
}

void dv_pcur_block(const dv_pcur *c, const uint8_t **key, size_t *klen, size_t *at, size_t *n)
{
    const void *k;
    cairn_cursor_get(&k, klen, NULL, NULL, c->cur);
    *key = k;
    *at = c->at;
    *n = c->ids.n;
}

bool dv_pcur_skippable(const dv_pcur *c)
{
    return c->skippable;
}

void dv_pcur_close(dv_pcur *c)
{
    if (!c) return;
    cairn_cursor_close(c->cur);
    dv_ids_dispose(&c->ids);
    cairn_buf_dispose(&c->key);
    cairn_buf_dispose(&c->prefix);
    free(c);
}

struct dv_probe {
    cairn_cursor *cur;       /* NULL: the word has no block; else on the block after the
                                current one (unpositioned when there is none) */
    const char *what;
    cairn_buf prefix;
    cairn_buf key;
    bool have;               /* a current block: the last whose first id is at most the id
                                asked last */
    cairn_buf first;         /* its first id */
    cairn_buf val;           /* its value (walked, not decoded: dv_post_walk) */
    dv_post_walk walk;       /* ... as far as the last id asked */
    cairn_buf asked;         /* that id */
    cairn_buf bound;         /* the first id of the block after it */
    bool bounded;            /* ... when there is one */
};

#define PROBE_STEPS 8        /* blocks stepped over before a seek is cheaper */

int dv_probe_open(dv_probe **out, cairn_table *t, const cairn_snapshot *snap,
                  const void *prefix, size_t plen, const char *what)
{
    *out = NULL;
    dv_probe *p = cairn_calloc(1, sizeof *p);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory");
    p->what = what;
    int rc = words_cursor(&p->cur, &p->prefix, t, snap, prefix, plen);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        p->cur = NULL;
        rc = CAIRN_OK;
    }
    if (rc < 0) {
        dv_probe_close(p);
        return rc;
    }
    *out = p;
    return CAIRN_OK;
}

/* The first id the key under the cursor names. */
static int probe_first(dv_probe *p, const uint8_t **id, size_t *len, const void **v,
                       size_t *vl)
{
    const void *k;
    size_t kl;
    cairn_cursor_get(&k, &kl, v, vl, p->cur);
    if (dv_post_key_id(id, len, k, kl, p->prefix.len)) return CAIRN_OK;
    return block_damage(p->what, k, kl, CORRUPT("the key is not a word and an id"));
}

/* Makes the block under the cursor the current one (copied, not decoded yet) and moves the
 * cursor to the next, whose first id bounds it. */
static int probe_take(dv_probe *p)
{
    const uint8_t *first = NULL;
    size_t flen = 0, vl = 0;
    const void *v;
    TRY(probe_first(p, &first, &flen, &v, &vl));
    p->first.len = p->val.len = 0;
    TRY(cairn_buf_append(&p->first, first, flen));
    TRY(cairn_buf_append(&p->val, v, vl));
    p->have = true;
    p->walk.p = NULL; /* walked from its start when asked */
    p->bounded = false;
    int rc = cairn_cursor_next(p->cur);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    TRY(probe_first(p, &first, &flen, NULL, NULL));
    p->bound.len = 0;
    TRY(cairn_buf_append(&p->bound, first, flen));
    p->bounded = true;
    return CAIRN_OK;
}

/* Finds the block id falls in by a seek: the last whose first id is at most id (p->have
 * false: none, id is before the word's first). */
static int probe_seek(dv_probe *p, const char *id, size_t idlen)
{
    p->have = false;
    p->key.len = 0;
    TRY(dv_post_key(&p->key, p->prefix.data, p->prefix.len, id, idlen));
    int rc = cairn_cursor_seek(p->cur, p->key.data, p->key.len);
    if (rc == CAIRN_OK) {
        const void *k;
        size_t kl;
        cairn_cursor_get(&k, &kl, NULL, NULL, p->cur);
        if (kl == p->key.len && memcmp(k, p->key.data, kl) == 0) return probe_take(p);
    }
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) return rc;
    cairn_error_clear();
    rc = cairn_cursor_prev(p->cur); /* from the block after, or from the end */
    if (rc == CAIRN_ENOTFOUND) {    /* none before */
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    return probe_take(p);
}

int dv_probe_has(dv_probe *p, bool *out, const char *id, size_t idlen)
{
    *out = false;
    if (!p->cur) return CAIRN_OK;
    if (!p->have || bytes_cmp(id, idlen, p->first.data, p->first.len) < 0) {
        TRY(probe_seek(p, id, idlen));
    } else { /* asked in increasing order: a few steps forward beat a seek */
        int steps = 0;
        while (p->bounded && bytes_cmp(id, idlen, p->bound.data, p->bound.len) >= 0) {
            if (++steps > PROBE_STEPS) {
                TRY(probe_seek(p, id, idlen));
                break;
            }
            TRY(probe_take(p)); /* the cursor is on the bound's block */
        }
    }
    if (!p->have) return CAIRN_OK; /* before the word's first id */
    int rc = CAIRN_OK;
    /* the walk rests on the first id at or after the one asked before: a larger id goes on
     * from there (even when it is before that id), a smaller one starts again */
    if (!p->walk.p || bytes_cmp(id, idlen, p->asked.data, p->asked.len) < 0) {
        bool first = false;
        rc = dv_post_walk_init(&p->walk, p->val.data, p->val.len);
        if (rc == CAIRN_OK)
            rc = dv_post_walk_to(&p->walk, &first, (const char *)p->first.data, p->first.len);
        if (rc == CAIRN_OK && (!first || p->walk.i != 1))
            rc = CORRUPT("the key's id is not the block's first");
    }
    if (rc == CAIRN_OK) rc = dv_post_walk_to(&p->walk, out, id, idlen);
    p->asked.len = 0;
    if (rc == CAIRN_OK) rc = cairn_buf_append(&p->asked, id, idlen);
    if (rc < 0) {
        cairn_buf k = CAIRN_BUF_INIT;
        int krc = dv_post_key(&k, p->prefix.data, p->prefix.len, p->first.data, p->first.len);
        rc = krc < 0 ? krc : block_damage(p->what, k.data, k.len, rc);
        cairn_buf_dispose(&k);
        p->have = false;
    }
    return rc;
}

void dv_probe_close(dv_probe *p)
{
    if (!p) return;
    cairn_cursor_close(p->cur);
    cairn_buf_dispose(&p->prefix);
    cairn_buf_dispose(&p->key);
    cairn_buf_dispose(&p->first);
    cairn_buf_dispose(&p->val);
    cairn_buf_dispose(&p->bound);
    cairn_buf_dispose(&p->asked);
    free(p);
}

int dv_post_estimate(uint64_t *out, cairn_table *t, const cairn_snapshot *snap,
                     const void *prefix, size_t plen, const char *what)
{
    *out = 0;
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = prefix;
    r.prefix_len = plen;
    uint64_t blocks = 0;
    int rc = cairn_count(&blocks, t, snap, &r);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    if (blocks > 4) {
        *out = blocks * (DV_POST_CUT_MASK + 1);
        return CAIRN_OK;
    }
    cairn_cursor *cur;
    TRY(cairn_cursor_open(&cur, t, snap, &r));
    while ((rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        const uint8_t *p = v;
        uint64_t n = 0;
        if (vl < 2 || p[0] != DV_POST_FORM || !varint_get(p + 1, p + vl, &n)) {
            rc = block_damage(what, k, kl, CORRUPT("a posting block without its count"));
            break;
        }
        *out += n;
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}
