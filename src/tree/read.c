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

#define SORTED_PREFETCH_MAX 256 /* leaves handed to the workers at once */

typedef struct spath {
    chunkstore *cs;
    chunk *c[NODE_MAX_LEVEL];
    node n[NODE_MAX_LEVEL];  /* n[0] is the root; n[depth] the lowest node loaded */
    chunk *ahead;            /* the leaf warm_next() expects next, taken from the cache */
    int depth;
    cairn_id prefetched;     /* the leaves' parent whose leaves were handed over */
    bool cold;               /* this call missed the cache (not another thread's reads, which
                                the store's counter would count too): read ahead from now on */
} spath;

/* Whether key lies past the last key of node n (then a node to its right holds it). */
static bool past_node(const node *n, const void *key, size_t klen)
{
    if (n->count == 0) return true;
    const uint8_t *last;
    size_t ll;
    node_last_key(n, &last, &ll);
    return bytes_cmp(key, klen, last, ll) > 0;
}

/* Hands the workers the leaves under the leaves' parent at depth d that keys[from..n) need and
 * the cache lacks, but the first (the reader loads that one now), once per parent. Only once a
 * leaf was missing from the cache: until then the leaves are taken to be cached, and looking
 * each up twice would cost more than the workers save. */
static void prefetch_leaves(spath *sp, int d, const void *const *keys, const size_t *klens,
                            size_t from, size_t n)
{
    const node *p = &sp->n[d];
    if (!sp->cs->pf || !sp->cold ||
        memcmp(sp->prefetched.bytes, sp->c[d]->id.bytes, CAIRN_ID_SIZE) == 0)
        return;
    sp->prefetched = sp->c[d]->id;
    cairn_id ids[SORTED_PREFETCH_MAX];
    size_t m = 0;
    bool exact;
    uint32_t at = node_lower_bound(p, keys[from], klens[from], &exact);
    for (size_t j = from + 1; j < n && at < p->count && m < SORTED_PREFETCH_MAX; j++) {
        const uint8_t *last;
        size_t ll;
        node_key(p, at, &last, &ll); /* the last key of child at */
        if (bytes_cmp(keys[j], klens[j], last, ll) <= 0) continue; /* the same leaf */
        at = node_lower_bound(p, keys[j], klens[j], &exact);
        if (at >= p->count) break; /* past this parent */
        uint64_t cnt;
        node_child(p, at, &ids[m], &cnt);
        chunk *c = cache_peek(sp->cs->cache, &ids[m]);
        if (c) chunk_release(c);
        else m++;
    }
    if (m) cs_prefetch(sp->cs, ids, m);
}

/* Takes from the cache the leaf under n[d] (a leaves' parent) after child i that the keys after
 * key k need next, into sp->ahead, and starts fetching its bytes: they arrive while child i is
 * searched, where otherwise each node switch waits for some ten cache misses one after another
 * (a search's steps depend on each other) once the tree outgrows the CPU's caches. spath_child()
 * then opens that leaf without looking it up again. Looks at most LOOKAHEAD_KEYS keys ahead.
 * The $text probes of a query (thousands of sorted keys, a few to a leaf) went 24% faster. */
#define LOOKAHEAD_KEYS 64
#define WARM_BYTES 8192

static void warm_next(spath *sp, int d, uint32_t i, const void *const *keys, const size_t *klens,
                      size_t k, size_t n)
{
    const node *p = &sp->n[d];
    const uint8_t *last;
    size_t ll;
    node_key(p, i, &last, &ll); /* the last key of child i */
    size_t end = MIN(n, k + 1 + LOOKAHEAD_KEYS);
    for (size_t j = k + 1; j < end; j++) {
        if (bytes_cmp(keys[j], klens[j], last, ll) <= 0) continue; /* child i holds it */
        if (past_node(p, keys[j], klens[j])) return; /* under another parent */
        bool exact;
        uint32_t at = node_lower_bound_from(p, i + 1, keys[j], klens[j], &exact);
        cairn_id id;
        uint64_t cnt;
        node_child(p, at, &id, &cnt);
        chunk *c = cache_get(sp->cs->cache, &id);
        if (!c) return;
        size_t len = MIN(c->len, (size_t)WARM_BYTES);
        for (size_t off = 0; off < len; off += 64) __builtin_prefetch(c->data + off);
        chunk_release(sp->ahead);
        sp->ahead = c;
        return;
    }
}

/* Makes n[d + 1] child i of n[d] (for key k), keeping what is loaded there when it is that
 * child. */
static int spath_child(spath *sp, int d, uint32_t i, const void *const *keys, const size_t *klens,
                       size_t k, size_t n)
{
    cairn_id id;
    uint64_t cnt;
    node_child(&sp->n[d], i, &id, &cnt);
    for (int l = d + 2; l <= sp->depth; l++) { /* below the child: stale unless it stays */
        chunk_release(sp->c[l]);
        sp->c[l] = NULL;
    }
    sp->depth = d + 1;
    if (sp->c[d + 1]) {
        if (memcmp(sp->c[d + 1]->id.bytes, id.bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
        chunk_release(sp->c[d + 1]);
        sp->c[d + 1] = NULL;
    }
    if (sp->ahead && memcmp(sp->ahead->id.bytes, id.bytes, CAIRN_ID_SIZE) == 0) {
        chunk *c = sp->ahead;
        sp->ahead = NULL;
        TRY(node_open_chunk(&sp->c[d + 1], &sp->n[d + 1], c, &id, sp->n[d].level - 1));
    } else {
        TRY(node_load_noting(sp->cs, &sp->c[d + 1], &sp->n[d + 1], &id, sp->n[d].level - 1,
                             &sp->cold));
    }
    node_prefetch_search(&sp->n[d + 1]);
    if (!sp->cold && sp->n[d].level == 1) warm_next(sp, d, i, keys, klens, k, n);
    return CAIRN_OK;
}

/* One key: climbs from the lowest node loaded to the first whose range holds it (keys ascend,
 * so the node on the path holding the previous key starts at or before this one), descends. */
static int sorted_one(spath *sp, const void *const *keys, const size_t *klens, size_t i,
                      size_t n, tree_got_fn cb, void *payload)
{
    int d = sp->depth;
    while (d > 0 && past_node(&sp->n[d], keys[i], klens[i])) d--;
    for (;;) {
        node *nd = &sp->n[d];
        bool exact;
        uint32_t at = node_lower_bound(nd, keys[i], klens[i], &exact);
        if (nd->level == 0) {
            sp->depth = d;
            if (!exact) return cb(i, NULL, 0, payload);
            const uint8_t *val;
            size_t vlen;
            node_val(nd, at, &val, &vlen);
            return cb(i, val, vlen, payload);
        }
        if (at == nd->count) { /* past the last key of the tree */
            sp->depth = d;
            return cb(i, NULL, 0, payload);
        }
        if (nd->level == 1) prefetch_leaves(sp, d, keys, klens, i, n);
        TRY(spath_child(sp, d, at, keys, klens, i, n));
        d++;
    }
}

int tree_get_sorted(chunkstore *cs, const cairn_id *root, const void *const *keys,
                    const size_t *klens, size_t n, tree_got_fn cb, void *payload)
{
    spath sp; /* n[] is only read below depth, where it was loaded: not cleared (10 KiB) */
    memset(sp.c, 0, sizeof sp.c);
    memset(&sp.prefetched, 0, sizeof sp.prefetched);
    sp.ahead = NULL;
    sp.cs = cs;
    sp.depth = 0;
    sp.cold = false;
    int rc = n ? node_load(cs, &sp.c[0], &sp.n[0], root, -1) : CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        if (i && bytes_cmp(keys[i], klens[i], keys[i - 1], klens[i - 1]) < 0)
            rc = ERR(CAIRN_EINVAL, "tree_get_sorted: key %zu is below the key before it", i);
        else
            rc = sorted_one(&sp, keys, klens, i, n, cb, payload);
    }
    for (int d = 0; d < NODE_MAX_LEVEL; d++) chunk_release(sp.c[d]);
    chunk_release(sp.ahead);
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
