/*
 * node.c - decoding and validating prolly tree nodes. node_check() is the one place that
 * decides whether bytes are a well-formed node; everything else reads through node_view()
 * afterwards without re-checking bounds. It is fuzzed (fuzz/fuzz_node.c).
 */
#include "node.h"

/* Checks an array of cumulative end offsets: never decreasing, no entry over max bytes. */
static int check_ends(const uint8_t *ends, bool wide, uint32_t count, uint32_t max,
                      const char *what)
{
    uint32_t prev = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t e = node_off(ends, wide, i);
        FAIL_IF(e < prev, CAIRN_ECORRUPT, "tree node %s offsets decrease at entry %u", what, i);
        FAIL_IF(e - prev > max, CAIRN_ECORRUPT,
                "tree node entry %u has a %s of %u bytes, over the limit", i, what, e - prev);
        prev = e;
    }
    return CAIRN_OK;
}

int node_check(const uint8_t *p, size_t len)
{
    FAIL_IF(len < NODE_HDR, CAIRN_ECORRUPT, "tree node of %zu bytes is shorter than its header",
            len);
    FAIL_IF(p[0] != CHUNK_KIND_NODE, CAIRN_ECORRUPT, "chunk kind %u is not a tree node", p[0]);
    FAIL_IF(p[1] != NODE_VERSION, CAIRN_ECORRUPT,
            "tree node version %u is not supported (this build reads version %u)", p[1],
            NODE_VERSION);
    uint8_t level = p[2], flags = p[3];
    uint32_t count = load_le32(p + 4);
    bool leaf = level == 0, wide = flags & NODE_FLAG_WIDE;
    FAIL_IF(level >= NODE_MAX_LEVEL, CAIRN_ECORRUPT, "tree node level %u is over %d", level,
            NODE_MAX_LEVEL - 1);
    FAIL_IF(flags & ~NODE_FLAG_WIDE, CAIRN_ECORRUPT, "tree node has unknown flags 0x%02x", flags);
    FAIL_IF(!leaf && count == 0, CAIRN_ECORRUPT, "inner tree node has no entries");
    size_t w = wide ? 4 : 2;
    size_t arrays = (size_t)count * w * (leaf ? 2 : 1);
    FAIL_IF(count > len || arrays > len - NODE_HDR, CAIRN_ECORRUPT,
            "tree node declares %u entries, more than its %zu bytes can hold", count, len);
    const uint8_t *koff = p + NODE_HDR, *voff = koff + (size_t)count * w;
    uint32_t keys_len = count ? node_off(koff, wide, count - 1) : 0;
    TRY(check_ends(koff, wide, count, CAIRN_KEY_LEN_MAX, "key"));
    size_t vals_len;
    if (leaf) {
        TRY(check_ends(voff, wide, count, CAIRN_VALUE_LEN_MAX, "value"));
        vals_len = count ? node_off(voff, wide, count - 1) : 0;
    } else {
        vals_len = (size_t)count * NODE_REF_SIZE;
    }
    FAIL_IF(NODE_HDR + arrays + (size_t)keys_len + vals_len != len, CAIRN_ECORRUPT,
            "tree node is %zu bytes but its header and offsets describe %zu", len,
            NODE_HDR + arrays + (size_t)keys_len + vals_len);
    FAIL_IF(wide != node_needs_wide(leaf, keys_len, vals_len), CAIRN_ECORRUPT,
            "tree node uses %s offsets where the format requires %s", wide ? "wide" : "narrow",
            wide ? "narrow" : "wide");

    node n;
    node_view(&n, p, len);
    const uint8_t *pk = NULL;
    size_t pklen = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *k;
        size_t klen;
        node_key(&n, i, &k, &klen);
        FAIL_IF(i > 0 && bytes_cmp(pk, pklen, k, klen) >= 0, CAIRN_ECORRUPT,
                "tree node keys are not strictly increasing at entry %u", i);
        pk = k;
        pklen = klen;
        if (!leaf)
            FAIL_IF(node_child_count(&n, i) == 0, CAIRN_ECORRUPT,
                    "inner tree node entry %u has an empty subtree", i);
    }
    return CAIRN_OK;
}

void node_view(node *n, const uint8_t *p, size_t len)
{
    n->base = p;
    n->len = (uint32_t)len;
    n->level = p[2];
    n->wide = p[3] & NODE_FLAG_WIDE;
    n->count = load_le32(p + 4);
    size_t w = n->wide ? 4 : 2;
    n->koff = p + NODE_HDR;
    n->voff = n->koff + (size_t)n->count * w;
    n->keys = n->level == 0 ? n->voff + (size_t)n->count * w : n->voff;
    n->vals = n->keys + (n->count ? node_off(n->koff, n->wide, n->count - 1) : 0);
}

uint32_t node_lower_bound(const node *n, const void *key, size_t klen, bool *exact)
{
    return node_lower_bound_from(n, 0, key, klen, exact);
}

uint32_t node_lower_bound_from(const node *n, uint32_t from, const void *key, size_t klen,
                               bool *exact)
{
    uint32_t lo = from, hi = n->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *k;
        size_t kl;
        node_key(n, mid, &k, &kl);
        int c = bytes_cmp(k, kl, key, klen);
        if (c < 0) {
            lo = mid + 1;
        } else if (c == 0) {
            *exact = true;
            return mid;
        } else {
            hi = mid;
        }
    }
    *exact = false;
    return lo;
}

int node_open_chunk(chunk **out_chunk, node *out, chunk *c, const cairn_id *id, int expect_level)
{
    if (atomic_load_explicit(&c->checked, memory_order_acquire) != CHUNK_KIND_NODE) {
        int rc = node_check(c->data, c->len);
        if (rc < 0) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, id);
            chunk_release(c);
            return cairn_error_prefix(rc, "tree node %s", hex);
        }
        atomic_store_explicit(&c->checked, CHUNK_KIND_NODE, memory_order_release);
    }
    node_view(out, c->data, c->len);
    if (expect_level >= 0 && out->level != expect_level) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, id);
        int lvl = out->level;
        chunk_release(c);
        return CORRUPT("tree node %s is at level %d where its parent expects level %d; the tree "
                       "is corrupt, run 'cairn verify'",
                       hex, lvl, expect_level);
    }
    if (expect_level >= 0 && out->count == 0) {
        /* only a root may be empty (the empty tree): a parent names no empty child */
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, id);
        chunk_release(c);
        return CORRUPT("tree node %s has no entries but a parent names it; the tree is corrupt, "
                       "run 'cairn verify'",
                       hex);
    }
    *out_chunk = c;
    return CAIRN_OK;
}

/* A chunk missing from the store is CAIRN_ENOTFOUND at the chunk layer, and a root that is not
 * there may be a version retention let go (the callers above ask). But a node its parent names
 * (expect_level >= 0) must be there: its absence is damage, not an absent key or the end of a
 * table, which a reader would otherwise take it for (tests/test_missing.c). */
static int load_failed(int rc, int expect_level)
{
    if (rc == CAIRN_ENOTFOUND && expect_level >= 0)
        return cairn_error_prefix(CAIRN_ECORRUPT, "a node its parent names (level %d)",
                                  expect_level);
    return rc;
}

int node_load(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id, int expect_level)
{
    chunk *c;
    int rc = cs_get(cs, &c, id);
    if (rc < 0) return load_failed(rc, expect_level);
    return node_open_chunk(out_chunk, out, c, id, expect_level);
}

int node_load_uncached(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id,
                       int expect_level)
{
    chunk *c;
    int rc = cs_get_uncached(cs, &c, id);
    if (rc < 0) return load_failed(rc, expect_level);
    return node_open_chunk(out_chunk, out, c, id, expect_level);
}

int node_load_noting(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id,
                     int expect_level, bool *missed)
{
    chunk *c = cache_get(cs->cache, id);
    if (!c) {
        *missed = true;
        int rc = cs_get(cs, &c, id);
        if (rc < 0) return load_failed(rc, expect_level);
    }
    return node_open_chunk(out_chunk, out, c, id, expect_level);
}
