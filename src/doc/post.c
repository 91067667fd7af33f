/*
 * post.c - a text index's posting blocks (their form: db/postblock.c) as the document layer
 * keeps them: the writer's changes per word, and the readers (a walk over pairs, a probe for
 * one word).
 *
 * The rule that cuts a word's ids into blocks reads the sorted list from its start: a block
 * ends after an id whose hash has its POST_CUT_MASK bits zero, or once it holds POST_MAX
 * ids. Every block therefore starts where the rule cut, and a change rewrites only the block it
 * falls in and the ones after it up to the first place where the new cutting meets an old cut
 * (as the tree's chunker resynchronises): usually the one block.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "base/varint.h"
#include "doc/post.h"

/* ---- writing ---- */

/* Names a damaged block: what, the key. */
static int block_damage(const char *what, const void *k, size_t kl, int rc)
{
    if (rc == CAIRN_ENOMEM) return rc; /* not the block's doing */
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
    post_ids in, out;
    post_enc enc;            /* a new word's block (fresh_word) */
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
    post_ids_dispose(&a->in);
    post_ids_dispose(&a->out);
    cairn_buf_dispose(&a->enc.body);
    cairn_buf_dispose(&a->key);
    cairn_buf_dispose(&a->val);
    free(a->tmp);
    free(a);
}

bool dv_post_acc_any(const dv_post_acc *a)
{
    return a && a->changes;
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
        a->last_cut = post_cut(id, idlen);
        TRY(cairn_buf_append(&a->ids, l2, 2));
        TRY(cairn_buf_append(&a->ids, id, idlen));
    }
    uint64_t ch = (uint64_t)a->last << 2 | (a->last_cut ? CH_CUT : 0) | (add ? CH_ADD : 0);
    if (w->n && w->ch[w->n - 1] >> 2 == a->last) { /* the id's change before: this one counts
                                                       (a text's word given again) */
        w->ch[w->n - 1] = ch;
        return CAIRN_OK;
    }
    TRY(cairn_array_room(&w->ch, &w->cap, w->n, sizeof *w->ch, 8));
    w->ch[w->n++] = ch;
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
    const char *first = post_ids_at(&a->out, 0, &len);
    a->key.len = a->val.len = 0;
    TRY(post_key(&a->key, f->w->prefix, f->w->plen, first, len));
    TRY(post_encode(&a->val, &a->out, 0, a->out.n));
    TRY(cairn_batch_put(f->b, f->t, a->key.data, a->key.len, a->val.data, a->val.len));
    post_ids_reset(&a->out);
    return CAIRN_OK;
}

/* Appends id to the block being made, cutting it where the rule says (cut: what it says). */
static int feed(flush *f, const char *id, size_t len, bool cut)
{
    TRY(post_ids_push(&f->a->out, id, len));
    if (f->a->out.n == POST_MAX || cut) TRY(emit(f));
    return CAIRN_OK;
}

/* The first id of the block under the cursor. */
static int cur_first(flush *f, const uint8_t **id, size_t *len)
{
    const void *k;
    size_t kl;
    cairn_cursor_get(&k, &kl, NULL, NULL, f->cur);
    if (post_key_id(id, len, k, kl, f->w->plen)) return CAIRN_OK;
    return block_damage(f->what, k, kl, CORRUPT("the key is not a word and an id"));
}

/* Positions cur on the last block of word prefix whose first id is at most id; *at false
 * (cur unpositioned) when the word has none that early. key: scratch for the seek's key. */
static int seek_floor(bool *at, cairn_cursor *cur, cairn_buf *key, const void *prefix,
                      size_t plen, const char *id, size_t len)
{
    *at = false;
    key->len = 0;
    TRY(post_key(key, prefix, plen, id, len));
    int rc = cairn_cursor_seek(cur, key->data, key->len);
    if (rc == CAIRN_OK) {
        const void *k;
        size_t kl;
        cairn_cursor_get(&k, &kl, NULL, NULL, cur);
        if (kl == key->len && memcmp(k, key->data, kl) == 0) {
            *at = true; /* a block's first id */
            return CAIRN_OK;
        }
    }
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) return rc;
    cairn_error_clear();
    rc = cairn_cursor_prev(cur); /* from the block found, or from the end */
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    *at = true;
    return CAIRN_OK;
}

/* Positions the cursor at the block change id falls in: the last whose first id is at most
 * id, else the first. *at: whether the word has a block at all. */
static int locate(flush *f, bool *at, const char *id, size_t len)
{
    *at = false;
    if (!f->cur) return CAIRN_OK;
    TRY(seek_floor(at, f->cur, &f->a->key, f->w->prefix, f->w->plen, id, len));
    if (*at) return CAIRN_OK;
    int rc = cairn_cursor_next(f->cur); /* none before: the first */
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
    post_ids_reset(&a->out);
    for (;;) {
        post_ids_reset(&a->in);
        bool more = false;
        const uint8_t *bound = NULL; /* the next block's first id (NULL: none) */
        size_t blen = 0;
        if (at) {
            const void *k, *v;
            size_t kl, vl;
            cairn_cursor_get(&k, &kl, &v, &vl, f->cur);
            int rc = post_decode(&a->in, v, vl);
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
            if (j < a->in.n) x = post_ids_at(&a->in, j, &xl);
            if (*i < w->n) {
                c = id_of(a, w->ch[*i], &cl);
                if (bound && bytes_cmp(c, cl, bound, blen) >= 0) c = NULL;
            }
            if (!x && !c) break;
            int cmp = !x ? 1 : !c ? -1 : bytes_cmp(x, xl, c, cl);
            if (cmp < 0) {
                TRY(feed(f, x, xl, post_cut(x, xl)));
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

/* A word that has no block yet (a bulk's into a new index): its additions, cut by the rule
 * and encoded straight from the accumulator's ids. */
static int fresh_word(flush *f)
{
    dv_post_acc *a = f->a;
    const pword *w = f->w;
    post_enc *e = &a->enc;
    for (size_t i = 0; i <= w->n; i++) {
        if (i < w->n) {
            if (!(w->ch[i] & CH_ADD)) continue;
            size_t len;
            const char *id = id_of(a, w->ch[i], &len);
            TRY(post_enc_add(e, id, len));
            if (e->n < POST_MAX && !(w->ch[i] & CH_CUT)) continue;
        } else if (!e->n) {
            break;
        }
        TRY(post_enc_finish(e, &a->val));
        a->key.len = 0;
        TRY(post_key(&a->key, w->prefix, w->plen, e->first, e->flen));
        TRY(cairn_batch_put(f->b, f->t, a->key.data, a->key.len, a->val.data, a->val.len));
    }
    return CAIRN_OK;
}

static int flush_word(flush *f)
{
    const pword *w = f->w;
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = w->prefix;
    r.prefix_len = w->plen;
    f->cur = NULL;
    int rc = cairn_cursor_open(&f->cur, f->t, NULL, &r);
    bool blocks = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) { /* the table was never written */
        cairn_error_clear();
        f->cur = NULL;
        rc = CAIRN_OK;
    }
    if (blocks) { /* any for this word? */
        rc = cairn_cursor_next(f->cur);
        blocks = rc == CAIRN_OK;
        if (rc == CAIRN_ENOTFOUND) {
            cairn_error_clear();
            rc = CAIRN_OK;
        }
    }
    if (rc == CAIRN_OK && !blocks) rc = fresh_word(f);
    size_t i = 0;
    while (rc == CAIRN_OK && blocks && i < w->n) rc = region(f, &i);
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
    a->enc.body.len = a->enc.n = 0; /* (a failed flush may leave a block begun) */
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
    post_ids ids;              /* the block under the cursor */
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
        post_ids_reset(&c->ids);
        c->at = 0;
        TRY(cairn_cursor_next(c->cur));
        cairn_cursor_get(&k, &kl, &v, &vl, c->cur);
        c->skippable = true; /* from here on a failure is this block's */
        c->plen = post_prefix_len(k, kl);
        const uint8_t *first;
        size_t flen;
        if (!c->plen || !post_key_id(&first, &flen, k, kl, c->plen))
            return block_damage(c->what, k, kl, CORRUPT("the key is not a word and an id"));
        int rc = post_decode(&c->ids, v, vl);
        if (rc == CAIRN_ENOMEM) c->skippable = false;
        if (rc < 0) {
            post_ids_reset(&c->ids);
            return block_damage(c->what, k, kl, rc);
        }
        const char *id0 = post_ids_at(&c->ids, 0, &len);
        if (len != flen || memcmp(id0, first, flen) != 0) {
            post_ids_reset(&c->ids);
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
        const char *x = post_ids_at(&c->ids, c->at, &len);
        c->key.len = 0;
        TRY(post_key(&c->key, k, c->plen, x, len));
        c->keyed = true;
    }
    if (key) *key = c->key.data;
    if (klen) *klen = c->key.len;
    if (plen) *plen = c->plen;
    if (id) *id = post_ids_at(&c->ids, c->at, idlen);
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
    post_ids_dispose(&c->ids);
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
    cairn_buf val;           /* its value (walked, not decoded: post_walk) */
    post_walk walk;       /* ... as far as the last id asked */
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
    if (post_key_id(id, len, k, kl, p->prefix.len)) return CAIRN_OK;
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
    bool at;
    TRY(seek_floor(&at, p->cur, &p->key, p->prefix.data, p->prefix.len, id, idlen));
    return at ? probe_take(p) : CAIRN_OK;
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
        rc = post_walk_init(&p->walk, p->val.data, p->val.len);
        if (rc == CAIRN_OK)
            rc = post_walk_to(&p->walk, &first, (const char *)p->first.data, p->first.len);
        if (rc == CAIRN_OK && (!first || p->walk.i != 1))
            rc = CORRUPT("the key's id is not the block's first");
    }
    if (rc == CAIRN_OK) rc = post_walk_to(&p->walk, out, id, idlen);
    p->asked.len = 0;
    if (rc == CAIRN_OK) rc = cairn_buf_append(&p->asked, id, idlen);
    if (rc < 0) {
        cairn_buf k = CAIRN_BUF_INIT;
        int krc = post_key(&k, p->prefix.data, p->prefix.len, p->first.data, p->first.len);
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
        *out = blocks * (POST_CUT_MASK + 1);
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
        if (vl < 2 || p[0] != POST_FORM || !varint_get(p + 1, p + vl, &n)) {
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
