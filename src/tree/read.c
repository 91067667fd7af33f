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

/* ---- sorted point reads ---- */

/*
 * The keys of a window go down the tree together, one level at a time: at each level every key
 * of the window is searched in its node, the children they need next (each once: sorted keys
 * that share a child are next to each other) are all taken from the cache and their bytes
 * requested, and only then searched. In a tree larger than the CPU's caches a node's search
 * waits for some ten misses one after another (each step depends on the one before); here the
 * misses of a level's nodes overlap. Children missing from the cache go to the read-ahead
 * workers together before this thread loads them in order.
 */
#define SORTED_WINDOW 256 /* keys that go down together: bounds the nodes held at once */

typedef struct tier {
    size_t m;                /* nodes at this tier */
    chunk **c;
    node *n;
    cairn_id *id;
} tier;

typedef struct sorted_ctx {
    chunkstore *cs;
    tier lv[2];              /* the level searched and the one below it */
    uint32_t *at;            /* per key of the window: its node's index in the tier */
    bool *absent;            /* per key: past the last key of the tree */
    cairn_id *missing;       /* children not in the cache, for the read-ahead workers */
    void *block;             /* the memory of the arrays above, when not on the stack */
} sorted_ctx;

static void tier_release(tier *l)
{
    for (size_t j = 0; j < l->m; j++) chunk_release(l->c[j]);
    l->m = 0;
}

/* The arrays of a window of up to SMALL_WINDOW keys (a lone key's read: a bulk insert checks
 * each document's id with one), on the reader's stack. */
#define SMALL_WINDOW 8

typedef struct sorted_small {
    node n[2][SMALL_WINDOW];
    cairn_id id[2][SMALL_WINDOW], missing[SMALL_WINDOW];
    chunk *c[2][SMALL_WINDOW];
    uint32_t at[SMALL_WINDOW];
    bool absent[SMALL_WINDOW];
} sorted_small;

/* Points x's arrays for windows of w keys into small when they fit, else into one allocation
 * (x->block), carved widest alignment first. */
static int sorted_alloc(sorted_ctx *x, size_t w, sorted_small *small)
{
    if (w <= SMALL_WINDOW) {
        for (int i = 0; i < 2; i++) {
            x->lv[i].n = small->n[i];
            x->lv[i].id = small->id[i];
            x->lv[i].c = small->c[i];
        }
        x->missing = small->missing;
        x->at = small->at;
        x->absent = small->absent;
        return CAIRN_OK;
    }
    _Static_assert(sizeof(node) % _Alignof(cairn_id) == 0 &&
                       sizeof(cairn_id) % _Alignof(chunk *) == 0 &&
                       sizeof(chunk *) % _Alignof(uint32_t) == 0,
                   "each array of the block starts aligned for its type");
    size_t per_tier = sizeof(node) + sizeof(cairn_id) + sizeof(chunk *);
    size_t bytes = w * (2 * per_tier + sizeof(cairn_id) + sizeof(uint32_t) + sizeof(bool));
    uint8_t *p = cairn_malloc(bytes);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory reading %zu keys", w);
    x->block = p;
    for (int i = 0; i < 2; i++) {
        x->lv[i].n = (node *)(void *)p;
        p += w * sizeof(node);
    }
    for (int i = 0; i < 2; i++) {
        x->lv[i].id = (cairn_id *)(void *)p;
        p += w * sizeof(cairn_id);
    }
    x->missing = (cairn_id *)(void *)p;
    p += w * sizeof(cairn_id);
    for (int i = 0; i < 2; i++) {
        x->lv[i].c = (chunk **)(void *)p;
        p += w * sizeof(chunk *);
    }
    x->at = (uint32_t *)(void *)p;
    p += w * sizeof(uint32_t);
    x->absent = (bool *)p;
    return CAIRN_OK;
}

static void sorted_free(sorted_ctx *x)
{
    if (!x->lv[0].c) return; /* never carved */
    tier_release(&x->lv[0]);
    tier_release(&x->lv[1]);
    free(x->block);
}

/* Opens the nodes of l (ids set), at level lvl: each looked up in the cache (whose lookup starts
 * fetching its first bytes); the cached ones opened and their search lines requested first; then
 * those missing loaded here in order, all but the first handed to the read-ahead workers
 * before. */
static int tier_load(sorted_ctx *x, tier *l, int lvl)
{
    size_t nmiss = 0;
    for (size_t j = 0; j < l->m; j++) {
        l->c[j] = cache_get(x->cs->cache, &l->id[j]);
        if (!l->c[j]) x->missing[nmiss++] = l->id[j];
    }
    if (nmiss > 1) /* the first, this thread loads at once */
        cs_prefetch(x->cs, x->missing + 1, nmiss - 1);
    int rc = CAIRN_OK;
    for (size_t j = 0; j < l->m; j++) { /* the cached ones first: their lines start coming */
        if (!l->c[j]) continue;
        chunk *c = l->c[j];
        l->c[j] = NULL;
        if (rc == CAIRN_OK) rc = node_open_chunk(&l->c[j], &l->n[j], c, &l->id[j], lvl);
        else chunk_release(c);
        if (rc == CAIRN_OK) node_prefetch_search(&l->n[j]);
    }
    for (size_t j = 0; rc == CAIRN_OK && j < l->m; j++) {
        if (l->c[j]) continue;
        rc = node_load(x->cs, &l->c[j], &l->n[j], &l->id[j], lvl);
        if (rc == CAIRN_OK) node_prefetch_search(&l->n[j]);
    }
    return rc; /* on failure the caller releases what opened (the others are NULL) */
}

/* Whether key sorts at or below entry i of inner node n: then child i, which holds the keys up
 * to that entry's, is the one to go to. */
static bool at_or_below(const node *n, uint32_t i, const void *key, size_t klen)
{
    const uint8_t *k;
    size_t kl;
    node_key(n, i, &k, &kl);
    return bytes_cmp(key, klen, k, kl) <= 0;
}

/* Reads keys [from, to) of the window, root open in x->lv[0] (one node). */
static int sorted_window(sorted_ctx *x, const void *const *keys, const size_t *klens, size_t from,
                         size_t to, tree_got_fn cb, void *payload)
{
    size_t w = to - from;
    memset(x->at, 0, w * sizeof *x->at);
    memset(x->absent, 0, w * sizeof *x->absent);
    int cur = 0;
    while (x->lv[cur].n[0].level > 0) {
        tier *l = &x->lv[cur], *next = &x->lv[!cur];
        next->m = 0;
        uint32_t last_node = UINT32_MAX, last_at = UINT32_MAX;
        for (size_t k = 0; k < w; k++) {
            if (x->absent[k]) continue;
            const node *nd = &l->n[x->at[k]];
            bool same = x->at[k] == last_node; /* the node of the key before (keys ascend) */
            if (same && at_or_below(nd, last_at, keys[from + k], klens[from + k])) {
                x->at[k] = (uint32_t)next->m - 1; /* that key's child too */
                continue;
            }
            bool exact;
            uint32_t a = node_lower_bound_from(nd, same ? last_at + 1 : 0, keys[from + k],
                                               klens[from + k], &exact);
            if (a == nd->count) { /* past the last key of the tree */
                x->absent[k] = true;
                continue;
            }
            last_node = x->at[k];
            last_at = a;
            uint64_t cnt;
            node_child(nd, a, &next->id[next->m], &cnt);
            next->c[next->m] = NULL;
            x->at[k] = (uint32_t)next->m++;
        }
        int lvl = l->n[0].level - 1;
        tier_release(l);
        cur = !cur;
        if (next->m == 0) break; /* every key past the end */
        TRY(tier_load(x, next, lvl));
    }
    tier *l = &x->lv[cur];
    uint32_t last_node = UINT32_MAX, last_at = 0;
    for (size_t k = 0; k < w; k++) {
        const uint8_t *val = NULL;
        size_t vlen = 0;
        if (!x->absent[k] && l->m) {
            const node *nd = &l->n[x->at[k]];
            bool exact;
            uint32_t from_at = x->at[k] == last_node ? last_at : 0; /* keys ascend */
            uint32_t a = node_lower_bound_from(nd, from_at, keys[from + k], klens[from + k], &exact);
            if (exact) node_val(nd, a, &val, &vlen);
            last_node = x->at[k];
            last_at = a;
        }
        int rc = cb(from + k, val, vlen, payload);
        if (rc) return rc;
    }
    tier_release(l);
    return CAIRN_OK;
}

int tree_get_sorted(chunkstore *cs, const cairn_id *root, const void *const *keys,
                    const size_t *klens, size_t n, tree_got_fn cb, void *payload)
{
    if (!n) return CAIRN_OK;
    sorted_ctx x;
    memset(&x, 0, sizeof x);
    x.cs = cs;
    chunk *root_c;
    node rn;
    int rc = node_load(cs, &root_c, &rn, root, -1);
    if (rc < 0) return rc;
    sorted_small small;
    rc = sorted_alloc(&x, MIN(n, (size_t)SORTED_WINDOW), &small);
    for (size_t i = 0; rc == CAIRN_OK && i < n;) {
        size_t end = MIN(n, i + SORTED_WINDOW), bad = end;
        for (size_t j = i ? i : 1; j < end && bad == end; j++)
            if (bytes_cmp(keys[j], klens[j], keys[j - 1], klens[j - 1]) < 0) bad = j;
        chunk_retain(root_c);
        x.lv[0].c[0] = root_c;
        x.lv[0].n[0] = rn;
        x.lv[0].m = 1;
        x.lv[1].m = 0;
        if (bad > i) rc = sorted_window(&x, keys, klens, i, bad, cb, payload);
        tier_release(&x.lv[0]);
        tier_release(&x.lv[1]);
        if (rc == CAIRN_OK && bad < end)
            rc = ERR(CAIRN_EINVAL, "tree_get_sorted: key %zu is below the key before it", bad);
        i = end;
    }
    sorted_free(&x);
    chunk_release(root_c);
    return rc;
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
