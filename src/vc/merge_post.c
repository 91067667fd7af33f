/*
 * merge_post.c - the three-way merge of a text index kept as posting blocks.
 *
 * A merge combines tables key by key (tree_merge). That was right for a text index of one entry
 * per (word, document), but a block holds many of a word's ids, and the two sides of a merge
 * may each have rewritten the same block (or cut a word's list at other places): merged key by
 * key, the blocks could hold an id twice, or one neither side has. So for such a table the merge
 * works on the pairs: for each word either side changed, the ids the merge gives are those both
 * sides kept, and those either side added (an id in the base stays only when both kept it; an
 * id not in the base comes when either added it), exactly what merging one entry per pair gave;
 * they are cut into blocks again by the rule and put over ours. Pairs never conflict.
 */
#include <stdlib.h>

#include "db/postblock.h"
#include "tree/tree.h"
#include "vc/merge_post.h"

bool merge_post_named(const char *table)
{
    return strncmp(table, CAIRN_DOC_INDEX_PREFIX, strlen(CAIRN_DOC_INDEX_PREFIX)) == 0;
}

int merge_post_form(int *out, chunkstore *cs, const cairn_id *root)
{
    *out = POST_FORM_EMPTY;
    if (!root) return CAIRN_OK;
    tree_cursor tc;
    TRY(tc_init(&tc, cs, root, 0, false));
    int rc = tc_first(&tc);
    if (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        *out = vl > 0 && v[0] == POST_FORM ? POST_FORM_BLOCKS : POST_FORM_PAIRS;
    }
    tc_dispose(&tc);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

/* ---- the words either side changed ---- */

typedef struct words {
    cairn_buf bytes;         /* each word's prefix, one after another */
    size_t *off;             /* n + 1 offsets */
    size_t n, cap;
    const char *table;
} words;

static int word_seen(const tree_change *ch, void *payload)
{
    words *w = payload;
    size_t plen = post_prefix_len(ch->key, ch->klen);
    if (!plen) {
        char shown[96];
        bytes_show(shown, sizeof shown, ch->key, ch->klen);
        return CORRUPT("merging %s: the key %s is not a word and an id", w->table, shown);
    }
    if (w->n) { /* in key order: a word's blocks come together */
        size_t last = w->off[w->n - 1];
        if (w->off[w->n] - last == plen && memcmp(w->bytes.data + last, ch->key, plen) == 0)
            return CAIRN_OK;
    }
    if (w->n + 2 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        size_t *o = cairn_realloc(w->off, cap * sizeof *o);
        FAIL_IF(!o, CAIRN_ENOMEM, "out of memory merging %s", w->table);
        w->off = o;
        w->cap = cap;
    }
    if (!w->n) w->off[0] = 0;
    TRY(cairn_buf_append(&w->bytes, ch->key, plen));
    w->off[++w->n] = w->bytes.len;
    return CAIRN_OK;
}

static int words_cmp(const void *x, const void *y, void *p)
{
    const words *w = p;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return bytes_cmp(w->bytes.data + w->off[a], w->off[a + 1] - w->off[a],
                     w->bytes.data + w->off[b], w->off[b + 1] - w->off[b]);
}

/* ---- one word ---- */

/* Names a block or entry of table that is not what it should be. */
static int bad_entry(const char *table, const uint8_t *k, size_t kl, const char *what)
{
    char shown[96];
    bytes_show(shown, sizeof shown, k, kl);
    return CORRUPT("merging %s: the entry under key %s: %s", table, shown, what);
}

/* The ids of word prefix in tree root (NULL: none), in order, from blocks, or from entries of
 * one pair each (a base made before blocks); with keys, its entries' keys are appended there
 * too (each a 4-byte length, then the key). */
static int word_ids(post_ids *out, cairn_buf *keys, chunkstore *cs, const cairn_id *root,
                    const uint8_t *prefix, size_t plen, const char *table)
{
    post_ids_reset(out);
    if (!root) return CAIRN_OK;
    post_ids blk = { 0 };
    tree_cursor tc;
    TRY(tc_init(&tc, cs, root, 0, false));
    int rc = tc_seek(&tc, prefix, plen);
    while (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v, *first;
        size_t kl, vl, flen;
        tc_entry(&tc, &k, &kl, &v, &vl);
        if (kl < plen || memcmp(k, prefix, plen) != 0) break;
        if (!post_key_id(&first, &flen, k, kl, plen)) {
            rc = bad_entry(table, k, kl, "the key is not a word and an id");
        } else if (vl && v[0] == POST_FORM) {
            rc = post_decode(&blk, v, vl);
            if (rc == CAIRN_ECORRUPT)
                rc = bad_entry(table, k, kl, cairn_error_last()->message);
            size_t l0 = 0;
            const char *id0 = rc == CAIRN_OK ? post_ids_at(&blk, 0, &l0) : NULL;
            if (rc == CAIRN_OK && (l0 != flen || memcmp(id0, first, flen) != 0))
                rc = bad_entry(table, k, kl, "the key's id is not the block's first");
        } else { /* one pair: the value is the id */
            post_ids_reset(&blk);
            rc = vl == flen && memcmp(v, first, flen) == 0
                     ? post_ids_push(&blk, first, flen)
                     : bad_entry(table, k, kl, "neither a block nor the id of its key");
        }
        for (size_t i = 0; rc == CAIRN_OK && i < blk.n; i++) {
            size_t len;
            const char *id = post_ids_at(&blk, i, &len);
            size_t l0 = 0;
            const char *last = out->n ? post_ids_at(out, out->n - 1, &l0) : NULL;
            if (last && bytes_cmp(last, l0, id, len) >= 0)
                rc = bad_entry(table, k, kl, "it goes back before the one before it");
            if (rc == CAIRN_OK) rc = post_ids_push(out, id, len);
        }
        if (rc == CAIRN_OK && keys) {
            uint8_t l4[4];
            store_le32(l4, (uint32_t)kl);
            rc = cairn_buf_append(keys, l4, 4);
            if (rc == CAIRN_OK) rc = cairn_buf_append(keys, k, kl);
        }
        if (rc == CAIRN_OK) {
            rc = tc_next(&tc);
            if (rc == CAIRN_ENOTFOUND) {
                cairn_error_clear();
                rc = CAIRN_OK;
                break;
            }
        }
    }
    tc_dispose(&tc);
    post_ids_dispose(&blk);
    return rc;
}

/* The three-way merge of sorted id lists b, o, t into out. */
static int ids_merge(post_ids *out, const post_ids *b, const post_ids *o, const post_ids *t)
{
    post_ids_reset(out);
    size_t ib = 0, io = 0, it = 0;
    while (io < o->n || it < t->n) {
        size_t lb = 0, lo = 0, lt = 0;
        const char *xb = ib < b->n ? post_ids_at(b, ib, &lb) : NULL;
        const char *xo = io < o->n ? post_ids_at(o, io, &lo) : NULL;
        const char *xt = it < t->n ? post_ids_at(t, it, &lt) : NULL;
        const char *x = xo;
        size_t lx = lo;
        if (!x || (xt && bytes_cmp(xt, lt, x, lx) < 0)) {
            x = xt;
            lx = lt;
        }
        while (xb && bytes_cmp(xb, lb, x, lx) < 0) /* removed on both sides */
            xb = ++ib < b->n ? post_ids_at(b, ib, &lb) : NULL;
        bool in_b = xb && bytes_cmp(xb, lb, x, lx) == 0;
        bool in_o = xo && bytes_cmp(xo, lo, x, lx) == 0;
        bool in_t = xt && bytes_cmp(xt, lt, x, lx) == 0;
        if (in_b ? in_o && in_t : in_o || in_t) TRY(post_ids_push(out, x, lx));
        if (in_b) ib++;
        if (in_o) io++;
        if (in_t) it++;
    }
    return CAIRN_OK;
}

/* The merge's edits, their keys and values in one arena (pointers made at the end). */
typedef struct edits {
    cairn_buf arena;
    struct {
        size_t key, klen, val, vlen;
        uint8_t op;
    } *e;
    size_t n, cap;
    const char *table;
} edits;

static int edit_add(edits *x, uint8_t op, const void *k, size_t kl, const void *v, size_t vl)
{
    TRY(cairn_array_room(&x->e, &x->cap, x->n, sizeof *x->e, 64));
    x->e[x->n].op = op;
    x->e[x->n].key = x->arena.len;
    x->e[x->n].klen = kl;
    TRY(cairn_buf_append(&x->arena, k, kl));
    x->e[x->n].val = x->arena.len;
    x->e[x->n].vlen = vl;
    if (vl) TRY(cairn_buf_append(&x->arena, v, vl));
    x->n++;
    return CAIRN_OK;
}

/* Cuts ids into blocks by the rule and adds the edits that turn ours' blocks of the word
 * (old: each a 4-byte length, then the key; in key order) into them. */
static int word_edits(edits *x, const post_ids *ids, const cairn_buf *old, const uint8_t *prefix,
                      size_t plen)
{
    cairn_buf key = CAIRN_BUF_INIT, val = CAIRN_BUF_INIT;
    size_t at = 0, from = 0; /* at: the next old key in old; from: the block's first id */
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i <= ids->n; i++) {
        bool end = i == ids->n;
        if (!end) {
            size_t len;
            const char *id = post_ids_at(ids, i, &len);
            if (i + 1 - from < POST_MAX && !post_cut(id, len) && i + 1 < ids->n) continue;
        } else if (from == ids->n) {
            break;
        }
        size_t to = end ? ids->n : i + 1, flen;
        const char *first = post_ids_at(ids, from, &flen);
        key.len = val.len = 0;
        rc = post_key(&key, prefix, plen, first, flen);
        if (rc == CAIRN_OK) rc = post_encode(&val, ids, from, to);
        /* the old keys before it go; one equal to it is replaced */
        while (rc == CAIRN_OK && at < old->len) {
            size_t kl = load_le32(old->data + at);
            const uint8_t *k = old->data + at + 4;
            int c = bytes_cmp(k, kl, key.data, key.len);
            if (c > 0) break;
            if (c < 0) rc = edit_add(x, EDIT_DEL, k, kl, NULL, 0);
            at += 4 + kl;
        }
        if (rc == CAIRN_OK) rc = edit_add(x, EDIT_PUT, key.data, key.len, val.data, val.len);
        from = to;
        if (end) break;
    }
    while (rc == CAIRN_OK && at < old->len) { /* past the word's last block */
        size_t kl = load_le32(old->data + at);
        rc = edit_add(x, EDIT_DEL, old->data + at + 4, kl, NULL, 0);
        at += 4 + kl;
    }
    cairn_buf_dispose(&key);
    cairn_buf_dispose(&val);
    return rc;
}

int merge_post(chunkstore *cs, cairn_id *out, const cairn_id *base, const cairn_id *ours,
               const cairn_id *theirs, const char *table)
{
    words w = { CAIRN_BUF_INIT, NULL, 0, 0, table };
    edits x = { CAIRN_BUF_INIT, NULL, 0, 0, table };
    post_ids b = { 0 }, o = { 0 }, t = { 0 }, m = { 0 };
    cairn_buf old = CAIRN_BUF_INIT;
    size_t *order = NULL;
    tree_edit *te = NULL;
    int rc = tree_diff(cs, base, ours, NULL, 0, NULL, 0, word_seen, &w);
    if (rc == CAIRN_OK) rc = tree_diff(cs, base, theirs, NULL, 0, NULL, 0, word_seen, &w);
    if (rc == CAIRN_OK && w.n) {
        order = cairn_calloc(w.n, sizeof *order);
        if (!order) rc = ERR(CAIRN_ENOMEM, "out of memory merging %s", table);
    }
    size_t nw = 0;
    if (rc == CAIRN_OK && w.n) { /* the words in order, each once */
        for (size_t i = 0; i < w.n; i++) order[i] = i;
        qsort_r(order, w.n, sizeof *order, words_cmp, &w);
        for (size_t i = 0; i < w.n; i++)
            if (!nw || words_cmp(&order[nw - 1], &order[i], &w) != 0) order[nw++] = order[i];
    }
    for (size_t i = 0; rc == CAIRN_OK && i < nw; i++) {
        const uint8_t *prefix = w.bytes.data + w.off[order[i]];
        size_t plen = w.off[order[i] + 1] - w.off[order[i]];
        old.len = 0;
        rc = word_ids(&b, NULL, cs, base, prefix, plen, table);
        if (rc == CAIRN_OK) rc = word_ids(&o, &old, cs, ours, prefix, plen, table);
        if (rc == CAIRN_OK) rc = word_ids(&t, NULL, cs, theirs, prefix, plen, table);
        if (rc == CAIRN_OK) rc = ids_merge(&m, &b, &o, &t);
        if (rc == CAIRN_OK) rc = word_edits(&x, &m, &old, prefix, plen);
    }
    if (rc == CAIRN_OK && x.n) {
        te = cairn_calloc(x.n, sizeof *te);
        if (!te) rc = ERR(CAIRN_ENOMEM, "out of memory merging %s", table);
    }
    for (size_t i = 0; rc == CAIRN_OK && i < x.n; i++) {
        te[i].op = x.e[i].op;
        te[i].key = x.arena.data + x.e[i].key;
        te[i].klen = (uint32_t)x.e[i].klen;
        te[i].val = x.e[i].vlen ? x.arena.data + x.e[i].val : NULL;
        te[i].vlen = (uint32_t)x.e[i].vlen;
    }
    if (rc == CAIRN_OK) rc = tree_apply(cs, out, ours, te, x.n);
    free(te);
    free(order);
    free(x.e);
    cairn_buf_dispose(&x.arena);
    cairn_buf_dispose(&w.bytes);
    free(w.off);
    cairn_buf_dispose(&old);
    post_ids_dispose(&b);
    post_ids_dispose(&o);
    post_ids_dispose(&t);
    post_ids_dispose(&m);
    return rc;
}
