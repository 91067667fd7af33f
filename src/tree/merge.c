/*
 * merge.c - three-way merge of trees: ours + (theirs - base).
 *
 * Both sides' changes are computed against the base with tree_diff (cost follows the changes)
 * and joined by key. A key changed on one side only takes that side's state. A key changed on
 * both sides to the same state (same value, or both deleted) is no conflict. A key changed on
 * both sides to different states is a conflict: it is reported with its base, ours and theirs
 * values, never resolved in silence; the strategy then keeps ours, takes theirs, or fails.
 * The result is built by applying theirs' side of the changes to ours, so without conflicts
 * merging A into B and B into A give the same contents, hence (history independence) the same
 * root.
 */
#include <stdlib.h>

#include "tree.h"

/* A copied change: key and the side's new state. */
typedef struct side_change {
    size_t key_off, klen;
    size_t new_off, newlen;
    size_t old_off, oldlen;
    bool has_new, has_old;
} side_change;

typedef struct change_list {
    side_change *v;
    size_t n, cap;
    cairn_buf bytes;         /* keys and values, referenced by offset (the buffer may move) */
} change_list;

static int collect(const tree_change *ch, void *payload)
{
    change_list *l = payload;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        side_change *nv = cairn_realloc(l->v, ncap * sizeof *nv);
        if (!nv) return ERR(CAIRN_ENOMEM, "out of memory merging");
        l->v = nv;
        l->cap = ncap;
    }
    side_change *c = &l->v[l->n];
    c->key_off = l->bytes.len;
    c->klen = ch->klen;
    TRY(cairn_buf_append(&l->bytes, ch->key, ch->klen));
    c->has_old = ch->has_old;
    c->old_off = l->bytes.len;
    c->oldlen = ch->has_old ? ch->oldlen : 0;
    if (ch->has_old) TRY(cairn_buf_append(&l->bytes, ch->old, ch->oldlen));
    c->has_new = ch->has_new;
    c->new_off = l->bytes.len;
    c->newlen = ch->has_new ? ch->newlen : 0;
    if (ch->has_new) TRY(cairn_buf_append(&l->bytes, ch->new_, ch->newlen));
    l->n++;
    return CAIRN_OK;
}

static void list_dispose(change_list *l)
{
    free(l->v);
    cairn_buf_dispose(&l->bytes);
    memset(l, 0, sizeof *l);
}

static inline const uint8_t *at(const change_list *l, size_t off) { return l->bytes.data + off; }

static bool same_state(const change_list *o, const side_change *a, const change_list *t,
                       const side_change *b)
{
    if (a->has_new != b->has_new) return false;
    if (!a->has_new) return true; /* both deleted */
    return a->newlen == b->newlen && memcmp(at(o, a->new_off), at(t, b->new_off), a->newlen) == 0;
}

int tree_merge(chunkstore *cs, cairn_id *out_root, const cairn_id *base, const cairn_id *ours,
               const cairn_id *theirs, int strategy,
               int (*on_conflict)(const tree_conflict *c, void *payload), void *payload,
               size_t *out_conflicts)
{
    FAIL_IF(strategy != MERGE_FAIL && strategy != MERGE_OURS && strategy != MERGE_THEIRS,
            CAIRN_EINVAL, "unknown merge strategy %d", strategy);
    change_list lo = { 0 }, lt = { 0 };
    tree_edit *edits = NULL;
    size_t conflicts = 0, ne = 0;
    int rc = tree_diff(cs, base, ours, NULL, 0, NULL, 0, collect, &lo);
    if (rc == CAIRN_OK) rc = tree_diff(cs, base, theirs, NULL, 0, NULL, 0, collect, &lt);
    if (rc == CAIRN_OK && lt.n) {
        edits = cairn_malloc(lt.n * sizeof *edits);
        if (!edits) rc = ERR(CAIRN_ENOMEM, "out of memory merging");
    }
    size_t i = 0; /* index into ours' changes */
    for (size_t j = 0; rc == CAIRN_OK && j < lt.n; j++) {
        const side_change *t = &lt.v[j];
        const uint8_t *tk = at(&lt, t->key_off);
        int c = -1;
        while (i < lo.n && (c = bytes_cmp(at(&lo, lo.v[i].key_off), lo.v[i].klen, tk, t->klen)) < 0) i++;
        bool take = true;
        if (i < lo.n && c == 0) { /* both sides changed this key */
            const side_change *o = &lo.v[i];
            if (same_state(&lo, o, &lt, t)) {
                take = false;
            } else {
                conflicts++;
                tree_conflict cf = { tk, t->klen,
                                     t->has_old, at(&lt, t->old_off), t->oldlen,
                                     o->has_new, at(&lo, o->new_off), o->newlen,
                                     t->has_new, at(&lt, t->new_off), t->newlen };
                if (on_conflict) rc = on_conflict(&cf, payload);
                take = strategy == MERGE_THEIRS;
            }
        }
        if (take)
            edits[ne++] = (tree_edit){ tk, t->has_new ? at(&lt, t->new_off) : NULL, (uint32_t)t->klen,
                                       (uint32_t)t->newlen, t->has_new ? EDIT_PUT : EDIT_DEL };
    }
    if (rc == CAIRN_OK && conflicts && strategy == MERGE_FAIL)
        rc = ERR(CAIRN_ECONFLICT,
                 "%zu key(s) changed differently on both sides; resolve them or merge with "
                 "strategy 'ours' or 'theirs'",
                 conflicts);
    if (rc == CAIRN_OK) rc = tree_apply(cs, out_root, ours, edits, ne);
    if (out_conflicts) *out_conflicts = conflicts;
    free(edits);
    list_dispose(&lo);
    list_dispose(&lt);
    return rc;
}
