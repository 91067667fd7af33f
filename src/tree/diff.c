/*
 * diff.c - the differences between two trees, in key order, at a cost that follows the size of
 * the change rather than of the trees.
 *
 * Two entry cursors advance together like a merge join. Whenever both stand at the first entry
 * of subtrees that have the same id (the same node means the same entries), both skip that
 * whole subtree at once; the largest such subtree is taken. History independence makes the two
 * trees share their nodes wherever their contents agree, so after a change region the cursors
 * soon stand at the starts of equal nodes again.
 */
#include "tree.h"

static const cairn_id *node_id_at(const tree_cursor *tc, int level)
{
    return &tc->path[tc->top - level].c->id;
}

/* The highest level at which both cursors start equal subtrees, or -1. */
static int common_subtree(const tree_cursor *a, const tree_cursor *b)
{
    int top = MIN(a->top, b->top);
    for (int level = top; level >= 0; level--) {
        if (!tc_at_subtree_start(a, level) || !tc_at_subtree_start(b, level)) continue;
        if (memcmp(node_id_at(a, level)->bytes, node_id_at(b, level)->bytes, CAIRN_ID_SIZE) == 0)
            return level;
    }
    return -1;
}

static int step(tree_cursor *tc)
{
    int rc = tc_next(tc);
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
}

static int start(tree_cursor *tc, chunkstore *cs, const cairn_id *root, const void *from,
                 size_t from_len)
{
    TRY(tc_init(tc, cs, root, 0, false));
    int rc = from ? tc_seek(tc, from, from_len) : tc_first(tc);
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
}

int tree_diff(chunkstore *cs, const cairn_id *a_root, const cairn_id *b_root, const void *from,
              size_t from_len, const void *to, size_t to_len,
              int (*cb)(const tree_change *ch, void *payload), void *payload)
{
    if (memcmp(a_root->bytes, b_root->bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
    tree_cursor a, b;
    TRY(start(&a, cs, a_root, from, from_len));
    int rc = start(&b, cs, b_root, from, from_len);
    while (rc == CAIRN_OK && (a.valid || b.valid)) {
        if (a.valid && b.valid) {
            int level = common_subtree(&a, &b);
            if (level >= 0) {
                int ra = tc_skip_subtree(&a, level), rb = tc_skip_subtree(&b, level);
                rc = ra < 0 && ra != CAIRN_ENOTFOUND ? ra : rb < 0 && rb != CAIRN_ENOTFOUND ? rb : CAIRN_OK;
                continue;
            }
        }
        tree_change ch;
        memset(&ch, 0, sizeof ch);
        const uint8_t *ka = NULL, *kb = NULL, *va = NULL, *vb = NULL;
        size_t kal = 0, kbl = 0, val = 0, vbl = 0;
        if (a.valid) tc_entry(&a, &ka, &kal, &va, &val);
        if (b.valid) tc_entry(&b, &kb, &kbl, &vb, &vbl);
        int c = !a.valid ? 1 : !b.valid ? -1 : bytes_cmp(ka, kal, kb, kbl);
        const uint8_t *k = c <= 0 ? ka : kb;
        size_t kl = c <= 0 ? kal : kbl;
        if (to && bytes_cmp(k, kl, to, to_len) >= 0) break;
        ch.key = k;
        ch.klen = kl;
        if (c < 0) { /* only in a: removed */
            ch.kind = TREE_CHANGE_REMOVED;
            ch.old = va;
            ch.oldlen = val;
            ch.has_old = true;
            rc = cb(&ch, payload);
            if (rc == CAIRN_OK) rc = step(&a);
        } else if (c > 0) { /* only in b: added */
            ch.kind = TREE_CHANGE_ADDED;
            ch.new_ = vb;
            ch.newlen = vbl;
            ch.has_new = true;
            rc = cb(&ch, payload);
            if (rc == CAIRN_OK) rc = step(&b);
        } else {
            if (val != vbl || (val && memcmp(va, vb, val) != 0)) {
                ch.kind = TREE_CHANGE_MODIFIED;
                ch.old = va;
                ch.oldlen = val;
                ch.new_ = vb;
                ch.newlen = vbl;
                ch.has_old = ch.has_new = true;
                rc = cb(&ch, payload);
            }
            if (rc == CAIRN_OK) rc = step(&a);
            if (rc == CAIRN_OK) rc = step(&b);
        }
    }
    tc_dispose(&a);
    tc_dispose(&b);
    return rc;
}
