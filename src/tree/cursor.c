/*
 * cursor.c - walking a tree: a cursor keeps the path of pinned nodes from the root down to a
 * node at its stop level, so next/prev cost O(1) amortised and seeks O(depth). Every child is
 * loaded through node_load(), which checks it is one level below its parent.
 */
#include "tree.h"

/* Read-ahead for scans. The chunk store's workers get the leaves of the current leaf's parent
 * ahead of the cursor, and those of the next parent too, so that they never idle between
 * parents. Each parent's leaves are handed over once, in reverse order: the workers load from
 * the far end while this thread loads (and reads) from the near end, and they meet wherever the
 * work balances. A leaf no worker has started when the cursor reaches it is loaded here; one a
 * worker is loading is waited for, never hashed twice. (Measured: handing leaves over one at a
 * time cost more in wake-ups than it saved; in order, the cursor waited on the workers leaf after
 * leaf; a fixed every-other split left this thread, which also reads the entries, the larger
 * share; without the next parent, the workers sat idle at every parent boundary.)
 * Read-ahead starts once the cursor has stepped from leaf to leaf READAHEAD_AFTER times, not
 * when it is positioned: most short reads (an index range of a few entries, a top-100) end
 * within a leaf or two, and handing them a parent's leaves cost each a worker wake-up and lock
 * traffic for leaves nobody read (a third of a top-100 document query's time). Nor before the
 * cursor itself has missed the cache once: a scan of cached leaves woke the workers to find
 * every leaf cached (a $text query's scan of a few leaves spent more time in the kernel waking
 * them than in its own work). A big edit's cursor, whose leaves stay out of the cache, counts
 * as cold from its first leaf.
 * The same leaves are named to the store (cs_will_read), which may start reading their bytes in
 * as one range: the local store's pack mappings are advised random, so without the hint a cold
 * scan reads its packs a page a fault, whoever (worker or cursor) faults them. The hint is given
 * also when there are no workers. */
#define READAHEAD_MAX 256
#define READAHEAD_AFTER 2

/* The children of pn after i (forward) or before i, at most READAHEAD_MAX, the farthest first:
 * how many were written to ids (leaves, when pn is a leaves' parent). */
static uint32_t leaves_beside(const node *pn, uint32_t i, bool forward, cairn_id *ids)
{
    uint32_t avail = forward ? pn->count - 1 - i : i;
    uint32_t n = MIN(avail, READAHEAD_MAX);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t j = forward ? i + n - k : i - n + k;
        uint64_t cnt;
        node_child(pn, j, &ids[k], &cnt);
    }
    return n;
}

/* Hands leaves to the workers and tells the store they will be read (cs_will_read: the local
 * store asks the kernel for their pack ranges, which its random-advised mappings would
 * otherwise read a page a fault). */
static void request(tree_cursor *tc, const cairn_id *ids, uint32_t n)
{
    if (!n) return;
    cs_will_read(tc->cs, ids, n);
    cs_prefetch(tc->cs, ids, n);
}

/* Called after each leaf-to-leaf move. */
static void readahead(tree_cursor *tc, bool forward)
{
    if (tc->nodes || tc->top == 0 || (!tc->cs->pf && !cs_takes_hints(tc->cs)) || !tc->cold ||
        ++tc->steps < READAHEAD_AFTER)
        return;
    int d = tc->top - 1;
    const node *pn = &tc->path[d].n;
    const cairn_id *pid = &tc->path[d].c->id;
    cairn_id ids[READAHEAD_MAX + 1];
    if (memcmp(pid->bytes, tc->ra_cur.bytes, CAIRN_ID_SIZE) == 0) return; /* done for this one */
    if (memcmp(pid->bytes, tc->ra_next.bytes, CAIRN_ID_SIZE) != 0) /* not handed over yet */
        request(tc, ids, leaves_beside(pn, tc->path[d].i, forward, ids));
    tc->ra_cur = *pid;
    memset(tc->ra_next.bytes, 0, CAIRN_ID_SIZE);
    if (d == 0) return;
    /* the next parent in the direction of travel, under the same grandparent */
    const node *gn = &tc->path[d - 1].n;
    uint32_t gi = tc->path[d - 1].i;
    if (forward ? gi + 1 >= gn->count : gi == 0) return;
    const cairn_id *gid = &tc->path[d - 1].c->id;
    if (memcmp(gid->bytes, tc->ra_up.bytes, CAIRN_ID_SIZE) != 0) {
        /* the parents ahead, named to the store once per grandparent: each is loaded here, a
         * parent ahead of the cursor, and would otherwise wait for its own page */
        tc->ra_up = *gid;
        uint32_t n = leaves_beside(gn, gi, forward, ids);
        cs_will_read(tc->cs, ids, n);
    }
    cairn_id next;
    uint64_t cnt;
    node_child(gn, forward ? gi + 1 : gi - 1, &next, &cnt);
    chunk *c;
    node nn;
    if (node_load(tc->cs, &c, &nn, &next, gn->level - 1) != CAIRN_OK) return; /* a hint only */
    uint32_t n = leaves_beside(&nn, forward ? 0 : nn.count, forward, ids);
    /* and last, the leaf the cursor starts on there (leaves_beside leaves it out) */
    node_child(&nn, forward ? 0 : nn.count - 1, &ids[n], &cnt);
    request(tc, ids, n + 1);
    chunk_release(c);
    tc->ra_next = next;
}

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
    TRY(node_load_noting(cs, &tc->path[0].c, &tc->path[0].n, root, -1, &tc->cold));
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
    int level = tc->path[d].n.level - 1;
    if (level == 0 && tc->uncached_leaves) {
        tc->cold = true;
        return node_load_uncached(tc->cs, &tc->path[d + 1].c, &tc->path[d + 1].n, &id, 0);
    }
    return node_load_noting(tc->cs, &tc->path[d + 1].c, &tc->path[d + 1].n, &id, level,
                            &tc->cold);
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

/* (a positioning starts the count of leaf steps before read-ahead again) */
int tc_first(tree_cursor *tc)
{
    tc->steps = 0;
    return descend_edge(tc, 0, TO_FIRST);
}

int tc_last(tree_cursor *tc)
{
    tc->steps = 0;
    return descend_edge(tc, 0, TO_LAST);
}

int tc_seek(tree_cursor *tc, const void *key, size_t klen)
{
    bool exact;
    tc->steps = 0;
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
    int rc = descend_edge(tc, d + 1, TO_FIRST);
    readahead(tc, true);
    return rc;
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
    int rc = descend_edge(tc, d + 1, TO_LAST);
    readahead(tc, false);
    return rc;
}
