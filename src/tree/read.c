/*
 * read.c - point reads, ranks (counting entries below a key through the subtree counts of inner
 * nodes) and the shape statistics of a tree.
 */
#include <stdlib.h>

#include "tree.h"

/* Replaces (*c, *n) by child i of *n, one level down; on failure *c is released. */
static int descend(chunkstore *cs, chunk **c, node *n, uint32_t i)
{
    cairn_id child;
    uint64_t cnt;
    node_child(n, i, &child, &cnt);
    int level = n->level;
    chunk_release(*c);
    return node_load(cs, c, n, &child, level - 1);
}

int tree_get(chunkstore *cs, const cairn_id *root, const void *key, size_t klen,
             chunk **out_leaf, const uint8_t **val, size_t *vlen)
{
    chunk *c;
    node n;
    TRY(node_load(cs, &c, &n, root, -1));
    for (;;) {
        bool exact;
        node_prefetch_search(&n);
        uint32_t i = node_lower_bound(&n, key, klen, &exact);
        if (n.level == 0) {
            if (!exact) {
                chunk_release(c);
                return CAIRN_ENOTFOUND;
            }
            node_val(&n, i, val, vlen);
            *out_leaf = c;
            return CAIRN_OK;
        }
        if (i == n.count) { /* past the last key of the tree */
            chunk_release(c);
            return CAIRN_ENOTFOUND;
        }
        TRY(descend(cs, &c, &n, i));
    }
}

int tree_rank(chunkstore *cs, const cairn_id *root, const void *key, size_t klen, uint64_t *out)
{
    chunk *c;
    node n;
    uint64_t rank = 0;
    TRY(node_load(cs, &c, &n, root, -1));
    for (;;) {
        if (!key) {
            rank += node_subtree_count(&n);
            break;
        }
        bool exact;
        uint32_t i = node_lower_bound(&n, key, klen, &exact);
        if (n.level == 0) {
            rank += i;
            break;
        }
        for (uint32_t j = 0; j < i && j < n.count; j++) rank += node_child_count(&n, j);
        if (i == n.count) break; /* every entry is below key */
        TRY(descend(cs, &c, &n, i));
    }
    chunk_release(c);
    *out = rank;
    return CAIRN_OK;
}

typedef struct sizes {
    uint32_t *all, *leaves;
    size_t n_all, n_leaves, cap_all, cap_leaves;
} sizes;

static int push_size(uint32_t **v, size_t *n, size_t *cap, uint32_t s)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        uint32_t *nv = cairn_realloc(*v, ncap * sizeof *nv);
        if (!nv) return ERR(CAIRN_ENOMEM, "out of memory collecting tree statistics");
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = s;
    return CAIRN_OK;
}

static int walk(chunkstore *cs, const cairn_id *id, int level, cairn_table_stats *st, sizes *sz)
{
    chunk *c;
    node n;
    TRY(node_load(cs, &c, &n, id, level));
    int rc = CAIRN_OK;
    st->nodes++;
    st->bytes += c->len;
    st->size_hist[MIN(c->len / 1024, 16u)]++;
    rc = push_size(&sz->all, &sz->n_all, &sz->cap_all, c->len);
    if (rc == CAIRN_OK && n.level == 0) {
        st->leaf_nodes++;
        st->entries += n.count;
        rc = push_size(&sz->leaves, &sz->n_leaves, &sz->cap_leaves, c->len);
    }
    for (uint32_t i = 0; rc == CAIRN_OK && n.level > 0 && i < n.count; i++) {
        cairn_id child;
        uint64_t cnt;
        node_child(&n, i, &child, &cnt);
        rc = walk(cs, &child, n.level - 1, st, sz);
    }
    chunk_release(c);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void summarize(uint32_t *v, size_t n, uint32_t *mn, uint32_t *med, uint32_t *mx)
{
    if (!n) {
        *mn = *med = *mx = 0;
        return;
    }
    qsort(v, n, sizeof *v, cmp_u32);
    *mn = v[0];
    *med = v[n / 2];
    *mx = v[n - 1];
}

int tree_stats(chunkstore *cs, const cairn_id *root, cairn_table_stats *out)
{
    cairn_table_stats st;
    memset(&st, 0, sizeof st);
    sizes sz;
    memset(&sz, 0, sizeof sz);
    chunk *c;
    node n;
    TRY(node_load(cs, &c, &n, root, -1));
    st.depth = (uint32_t)n.level + 1;
    chunk_release(c);
    int rc = walk(cs, root, -1, &st, &sz);
    if (rc == CAIRN_OK) {
        summarize(sz.all, sz.n_all, &st.node_min, &st.node_median, &st.node_max);
        summarize(sz.leaves, sz.n_leaves, &st.leaf_min, &st.leaf_median, &st.leaf_max);
        *out = st;
    }
    free(sz.all);
    free(sz.leaves);
    return rc;
}

typedef struct check_state {
    cairn_buf prev;          /* the last key seen in leaf order */
    bool have_prev;
} check_state;

/* Checks the subtree at id; writes its entry count and last key (pointer into a pinned chunk
 * is not kept: the key is copied into last). */
static int check_node(chunkstore *cs, const cairn_id *id, int level, check_state *cst,
                      uint64_t *out_count, cairn_buf *last)
{
    chunk *c;
    node n;
    char hex[CAIRN_ID_HEX_SIZE];
    TRY(node_load(cs, &c, &n, id, level));
    int rc = CAIRN_OK;
    uint64_t total = 0;
    if (n.level == 0) {
        if (n.count) {
            const uint8_t *k;
            size_t kl;
            node_key(&n, 0, &k, &kl);
            if (cst->have_prev && bytes_cmp(cst->prev.data, cst->prev.len, k, kl) >= 0) {
                cairn_id_to_hex(hex, id);
                rc = CORRUPT("tree leaf %s starts with a key not above the previous leaf's", hex);
            }
            node_last_key(&n, &k, &kl);
            if (rc == CAIRN_OK) rc = cairn_buf_set(&cst->prev, k, kl);
            if (rc == CAIRN_OK) rc = cairn_buf_set(last, k, kl);
            cst->have_prev = true;
        }
        total = n.count;
    }
    for (uint32_t i = 0; rc == CAIRN_OK && n.level > 0 && i < n.count; i++) {
        cairn_id child;
        uint64_t cnt, got;
        node_child(&n, i, &child, &cnt);
        rc = check_node(cs, &child, n.level - 1, cst, &got, last);
        if (rc < 0) break;
        const uint8_t *k;
        size_t kl;
        node_key(&n, i, &k, &kl);
        cairn_id_to_hex(hex, id);
        if (got != cnt)
            rc = CORRUPT("tree node %s entry %u claims %llu entries below it, the subtree has %llu",
                         hex, i, (unsigned long long)cnt, (unsigned long long)got);
        else if (bytes_cmp(k, kl, last->data, last->len) != 0)
            rc = CORRUPT("tree node %s entry %u: key differs from its child's last key", hex, i);
        total += cnt;
    }
    chunk_release(c);
    *out_count = total;
    return rc;
}

int tree_check(chunkstore *cs, const cairn_id *root)
{
    check_state cst = { CAIRN_BUF_INIT, false };
    cairn_buf last = CAIRN_BUF_INIT;
    uint64_t count;
    int rc = check_node(cs, root, -1, &cst, &count, &last);
    cairn_buf_dispose(&cst.prev);
    cairn_buf_dispose(&last);
    return rc;
}
