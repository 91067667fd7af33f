/*
 * build.c - writing trees: the per-level chunker (level_writer) that accumulates the entries of
 * one node and applies the boundary rule, and the streaming bottom-up builder that feeds each
 * finished node into the level above. Building a tree from n sorted entries is one pass with
 * one open node per level.
 */
#include <stdlib.h>

#include "tree.h"

void lw_init(level_writer *w, int level)
{
    memset(w, 0, sizeof *w);
    w->level = (uint8_t)level;
    w->cache = true;
}

void lw_dispose(level_writer *w)
{
    cairn_buf_dispose(&w->keys);
    cairn_buf_dispose(&w->vals);
    free(w->kend);
    free(w->vend);
    memset(w, 0, sizeof *w);
}

static int lw_grow(level_writer *w)
{
    size_t ncap = w->cap ? w->cap * 2 : 64;
    uint32_t *k = cairn_realloc(w->kend, ncap * sizeof *k);
    if (!k) return ERR(CAIRN_ENOMEM, "out of memory building a tree node");
    w->kend = k;
    uint32_t *v = cairn_realloc(w->vend, ncap * sizeof *v);
    if (!v) return ERR(CAIRN_ENOMEM, "out of memory building a tree node");
    w->vend = v;
    w->cap = ncap;
    return CAIRN_OK;
}

int lw_append(level_writer *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
              uint64_t cnt)
{
    if (UNLIKELY(w->n == w->cap)) TRY(lw_grow(w));
    TRY(cairn_buf_append(&w->keys, key, klen));
    TRY(cairn_buf_append(&w->vals, val, vlen));
    w->kend[w->n] = (uint32_t)w->keys.len;
    w->vend[w->n] = (uint32_t)w->vals.len;
    w->n++;
    w->subtree += cnt;
    return CAIRN_OK;
}

int lw_add(level_writer *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
           uint64_t cnt, bool *boundary)
{
    TRY(lw_append(w, key, klen, val, vlen, cnt));
    *boundary = chunk_boundary(w->level, w->n, w->keys.len + w->vals.len, klen + vlen, key, klen);
    return CAIRN_OK;
}

/* Appends the end offsets of entries [a, b) of an offset array, moved from starting at `from`
 * to starting at `base`. */
static void append_ends(uint32_t *out, const uint8_t *ends, bool wide, uint32_t a, uint32_t b,
                        uint32_t from, size_t base)
{
    for (uint32_t j = a; j < b; j++) *out++ = (uint32_t)(base + node_off(ends, wide, j) - from);
}

int lw_append_run(level_writer *w, const node *N, uint32_t a, uint32_t b)
{
    if (a >= b) return CAIRN_OK;
    uint32_t m = b - a;
    while (UNLIKELY(w->n + m > w->cap)) TRY(lw_grow(w));
    uint32_t k0 = a ? node_off(N->koff, N->wide, a - 1) : 0;
    uint32_t k1 = node_off(N->koff, N->wide, b - 1);
    size_t kbase = w->keys.len, vbase = w->vals.len;
    TRY(cairn_buf_append(&w->keys, N->keys + k0, k1 - k0));
    append_ends(w->kend + w->n, N->koff, N->wide, a, b, k0, kbase);
    if (N->level == 0) {
        uint32_t v0 = a ? node_off(N->voff, N->wide, a - 1) : 0;
        uint32_t v1 = node_off(N->voff, N->wide, b - 1);
        TRY(cairn_buf_append(&w->vals, N->vals + v0, v1 - v0));
        append_ends(w->vend + w->n, N->voff, N->wide, a, b, v0, vbase);
        w->subtree += m;
    } else {
        TRY(cairn_buf_append(&w->vals, node_ref(N, a), (size_t)m * NODE_REF_SIZE));
        for (uint32_t j = 0; j < m; j++) {
            w->vend[w->n + j] = (uint32_t)(vbase + (size_t)(j + 1) * NODE_REF_SIZE);
            w->subtree += node_child_count(N, a + j);
        }
    }
    w->n += m;
    return CAIRN_OK;
}

static void put_offsets(uint8_t *p, const uint32_t *ends, uint32_t n, bool wide)
{
    if (wide) {
        for (uint32_t i = 0; i < n; i++) store_le32(p + 4 * (size_t)i, ends[i]);
    } else {
        for (uint32_t i = 0; i < n; i++) store_le16(p + 2 * (size_t)i, (uint16_t)ends[i]);
    }
}

int lw_flush(level_writer *w, chunkstore *cs, chunk **out, uint64_t *out_count)
{
    bool leaf = w->level == 0;
    bool wide = node_needs_wide(leaf, w->keys.len, w->vals.len);
    size_t size = node_size(leaf, w->n, w->keys.len, w->vals.len, wide);
    chunk *c = chunk_alloc(size);
    if (!c) return CAIRN_ENOMEM;
    uint8_t *p = c->data;
    p[0] = CHUNK_KIND_NODE;
    p[1] = NODE_VERSION;
    p[2] = w->level;
    p[3] = wide ? NODE_FLAG_WIDE : 0;
    store_le32(p + 4, w->n);
    p += NODE_HDR;
    size_t ow = wide ? 4 : 2;
    put_offsets(p, w->kend, w->n, wide);
    p += ow * w->n;
    if (leaf) {
        put_offsets(p, w->vend, w->n, wide);
        p += ow * w->n;
    }
    if (w->keys.len) memcpy(p, w->keys.data, w->keys.len);
    p += w->keys.len;
    if (w->vals.len) memcpy(p, w->vals.data, w->vals.len);
    int rc = cs_put_chunk(cs, c, w->cache);
    if (rc < 0) {
        chunk_release(c);
        return rc;
    }
    atomic_store_explicit(&c->checked, CHUNK_KIND_NODE, memory_order_relaxed);
    *out = c;
    *out_count = w->subtree;
    w->n = 0;
    w->keys.len = w->vals.len = 0;
    w->subtree = 0;
    return CAIRN_OK;
}

int tree_empty(chunkstore *cs, cairn_id *out_root)
{
    level_writer w;
    lw_init(&w, 0);
    chunk *c;
    uint64_t cnt;
    int rc = lw_flush(&w, cs, &c, &cnt);
    lw_dispose(&w);
    if (rc < 0) return rc;
    *out_root = c->id;
    chunk_release(c);
    return CAIRN_OK;
}

void tb_init(tree_builder *b, chunkstore *cs, int base_level)
{
    memset(b, 0, sizeof *b);
    b->cs = cs;
    b->base_level = base_level;
    for (int l = 0; l < NODE_MAX_LEVEL; l++) lw_init(&b->lv[l], l);
}

void tb_skip_leaf_cache(tree_builder *b) { b->lv[0].cache = false; }

void tb_dispose(tree_builder *b)
{
    for (int l = 0; l < NODE_MAX_LEVEL; l++) lw_dispose(&b->lv[l]);
}

static int tb_add_at(tree_builder *b, int level, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen, uint64_t cnt);

/* Ends the open node at `level` and adds it as an entry of the level above. */
static int tb_emit(tree_builder *b, int level)
{
    FAIL_IF(level + 1 >= NODE_MAX_LEVEL, CAIRN_EINVAL, "tree would be deeper than %d levels",
            NODE_MAX_LEVEL);
    chunk *c;
    uint64_t cnt;
    TRY(lw_flush(&b->lv[level], b->cs, &c, &cnt));
    b->emitted[level]++;
    node n;
    node_view(&n, c->data, c->len);
    const uint8_t *k;
    size_t klen;
    node_last_key(&n, &k, &klen);
    uint8_t ref[NODE_REF_SIZE];
    make_ref(ref, &c->id, cnt);
    int rc = tb_add_at(b, level + 1, k, klen, ref, sizeof ref, cnt);
    chunk_release(c);
    return rc;
}

static int tb_add_at(tree_builder *b, int level, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen, uint64_t cnt)
{
    bool boundary;
    TRY(lw_add(&b->lv[level], key, klen, val, vlen, cnt, &boundary));
    if (level + 1 > b->nlevels) b->nlevels = level + 1;
    return boundary ? tb_emit(b, level) : CAIRN_OK;
}

int tb_add(tree_builder *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
           uint64_t cnt)
{
    return tb_add_at(b, b->base_level, key, klen, val, vlen, cnt);
}

int tb_finish(tree_builder *b, cairn_id *out_root)
{
    for (int l = b->base_level; l < NODE_MAX_LEVEL; l++) {
        level_writer *w = &b->lv[l];
        if (b->emitted[l] == 0) {
            /* everything at this level fits in the open node: it is the root */
            if (w->n == 0 && l == 0) return tree_empty(b->cs, out_root);
            FAIL_IF(w->n == 0, CAIRN_EINVAL, "tree builder finished with no entries");
            if (l > 0 && w->n == 1) { /* a single child: the child is the root */
                memcpy(out_root->bytes, w->vals.data, CAIRN_ID_SIZE);
                w->n = 0;
                w->keys.len = w->vals.len = 0;
                return CAIRN_OK;
            }
            chunk *c;
            uint64_t cnt;
            TRY(lw_flush(w, b->cs, &c, &cnt));
            *out_root = c->id;
            chunk_release(c);
            return CAIRN_OK;
        }
        if (w->n > 0) TRY(tb_emit(b, l));
        if (b->emitted[l] == 1) { /* one node at this level: the one entry above points at it */
            level_writer *up = &b->lv[l + 1];
            memcpy(out_root->bytes, up->vals.data, CAIRN_ID_SIZE);
            up->n = 0;
            up->keys.len = up->vals.len = 0;
            up->subtree = 0;
            return CAIRN_OK;
        }
    }
    return ERR(CAIRN_EINVAL, "tree would be deeper than %d levels", NODE_MAX_LEVEL);
}
