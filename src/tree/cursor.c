/*
 * cursor.c - walking a tree: a cursor keeps the path of pinned nodes from the root down to a
 * node at its stop level, so next/prev cost O(1) amortised and seeks O(depth). Every child is
 * loaded through node_load(), which checks it is one level below its parent.
 */
#include "tree.h"

uint64_t node_subtree_count(const node *n)
{
    if (n->level == 0) return n->count;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n->count; i++) total += node_child_count(n, i);
    return total;
}

int tc_init(tree_cursor *tc, chunkstore *cs, const cairn_id *root, int stop_level, bool nodes)
{
    memset(tc, 0, sizeof *tc);
    tc->cs = cs;
    tc->stop_level = stop_level;
    tc->nodes = nodes;
    if (!nodes && stop_level != 0) return ERR(CAIRN_EINVAL, "entry cursors stop at level 0");
    TRY(node_load(cs, &tc->path[0].c, &tc->path[0].n, root, -1));
    int level = tc->path[0].n.level;
    if (level < stop_level) {
        chunk_release(tc->path[0].c);
        tc->path[0].c = NULL;
        return ERR(CAIRN_EINVAL, "tree of height %d has no level %d", level + 1, stop_level);
    }
    tc->top = level - stop_level;
    return CAIRN_OK;
}

void tc_dispose(tree_cursor *tc)
{
    for (int d = 0; d < NODE_MAX_LEVEL; d++) {
        chunk_release(tc->path[d].c);
        tc->path[d].c = NULL;
    }
    tc->valid = false;
}

/* Loads path[d+1] as the child path[d].i of path[d]. */
static int load_child(tree_cursor *tc, int d)
{
    cairn_id id;
    uint64_t cnt;
    node_child(&tc->path[d].n, tc->path[d].i, &id, &cnt);
    if (tc->path[d + 1].c) {
        if (memcmp(tc->path[d + 1].c->id.bytes, id.bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
        chunk_release(tc->path[d + 1].c);
        tc->path[d + 1].c = NULL;
    }
    return node_load(tc->cs, &tc->path[d + 1].c, &tc->path[d + 1].n, &id,
                     tc->path[d].n.level - 1);
}

enum { TO_FIRST, TO_LAST };

/* Descends from depth d to the bottom, taking the first or last child at each level. */
static int descend_edge(tree_cursor *tc, int d, int edge)
{
    for (;; d++) {
        node *n = &tc->path[d].n;
        tc->path[d].i = edge == TO_FIRST || n->count == 0 ? 0 : n->count - 1;
        if (d == tc->top) break;
        TRY(load_child(tc, d));
    }
    tc->valid = tc->nodes || tc->path[tc->top].n.count > 0;
    return tc->valid ? CAIRN_OK : CAIRN_ENOTFOUND;
}

int tc_first(tree_cursor *tc) { return descend_edge(tc, 0, TO_FIRST); }
int tc_last(tree_cursor *tc) { return descend_edge(tc, 0, TO_LAST); }

int tc_seek(tree_cursor *tc, const void *key, size_t klen)
{
    bool exact;
    for (int d = 0;; d++) {
        node *n = &tc->path[d].n;
        uint32_t i = node_lower_bound(n, key, klen, &exact);
        if (d == tc->top) {
            tc->path[d].i = i;
            tc->valid = tc->nodes || i < n->count;
            return CAIRN_OK;
        }
        tc->path[d].i = i < n->count ? i : n->count - 1;
        TRY(load_child(tc, d));
    }
}

bool tc_at_last_node(const tree_cursor *tc)
{
    for (int d = 0; d < tc->top; d++)
        if (tc->path[d].i + 1 < tc->path[d].n.count) return false;
    return true;
}

int tc_next(tree_cursor *tc)
{
    int d = tc->top;
    if (!tc->nodes) {
        if (tc->path[d].i + 1 < tc->path[d].n.count) {
            tc->path[d].i++;
            tc->valid = true;
            return CAIRN_OK;
        }
    }
    /* climb to the lowest ancestor with a next child */
    for (d = tc->top - 1; d >= 0 && tc->path[d].i + 1 >= tc->path[d].n.count; d--) {}
    if (d < 0) {
        if (!tc->nodes) tc->path[tc->top].i = tc->path[tc->top].n.count; /* past the end */
        tc->valid = false;
        return CAIRN_ENOTFOUND;
    }
    tc->path[d].i++;
    TRY(load_child(tc, d));
    return descend_edge(tc, d + 1, TO_FIRST);
}

int tc_prev(tree_cursor *tc)
{
    int d = tc->top;
    if (!tc->nodes && tc->valid && tc->path[d].i > 0) {
        tc->path[d].i--;
        return CAIRN_OK;
    }
    if (!tc->nodes && !tc->valid && tc->path[d].i > 0 &&
        tc->path[d].i <= tc->path[d].n.count) {
        /* past the end of this leaf (after a seek beyond the last key) */
        tc->path[d].i--;
        tc->valid = true;
        return CAIRN_OK;
    }
    for (d = tc->top - 1; d >= 0 && tc->path[d].i == 0; d--) {}
    if (d < 0) {
        tc->valid = false;
        return CAIRN_ENOTFOUND;
    }
    tc->path[d].i--;
    TRY(load_child(tc, d));
    return descend_edge(tc, d + 1, TO_LAST);
}
