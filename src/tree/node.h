/*
 * node.h - the prolly tree node: one chunk, read in place (docs/FORMAT.md, "Tree node").
 *
 *   u8 kind (1) | u8 version (1) | u8 level | u8 flags | u32 count |
 *   key_end[count] | leaf: val_end[count] | key bytes | leaf: value bytes, inner: refs[count]
 *
 * key_end/val_end are cumulative end offsets, u16 unless flags bit 0 ("wide") says u32; wide is
 * set exactly when an area is over 65535 bytes, so each node has one encoding. An inner node's
 * entry i is (last key of child i, ref i) where a ref is the child's id (32 bytes) and the number
 * of entries under it (u64). Keys are strictly increasing within a node.
 *
 * Reading is zero-copy: a `node` is a view over chunk bytes that stay pinned by the caller.
 */
#ifndef CAIRN_NODE_H
#define CAIRN_NODE_H

#include "base/base.h"
#include "chunk/chunk.h"

#define NODE_VERSION 1
#define NODE_HDR 8
#define NODE_REF_SIZE 40       /* child id + u64 subtree count */
#define NODE_MAX_LEVEL 32      /* deeper than any real tree; bounds the cursor's path */
#define NODE_FLAG_WIDE 0x01
#define NODE_NARROW_MAX 65535u /* largest area addressable with u16 offsets */

typedef struct node {
    const uint8_t *base;
    uint32_t len;
    uint32_t count;
    uint8_t level;
    uint8_t wide;
    const uint8_t *koff;     /* key end offsets */
    const uint8_t *voff;     /* leaf: value end offsets */
    const uint8_t *keys;     /* key area */
    const uint8_t *vals;     /* leaf: value area; inner: refs */
} node;

static inline uint32_t node_off(const uint8_t *arr, bool wide, uint32_t i)
{
    return wide ? load_le32(arr + 4 * (size_t)i) : load_le16(arr + 2 * (size_t)i);
}

static inline void node_key(const node *n, uint32_t i, const uint8_t **key, size_t *klen)
{
    uint32_t start = i ? node_off(n->koff, n->wide, i - 1) : 0;
    *key = n->keys + start;
    *klen = node_off(n->koff, n->wide, i) - start;
}

static inline void node_val(const node *n, uint32_t i, const uint8_t **val, size_t *vlen)
{
    uint32_t start = i ? node_off(n->voff, n->wide, i - 1) : 0;
    *val = n->vals + start;
    *vlen = node_off(n->voff, n->wide, i) - start;
}

static inline const uint8_t *node_ref(const node *n, uint32_t i)
{
    return n->vals + (size_t)i * NODE_REF_SIZE;
}

static inline void node_child(const node *n, uint32_t i, cairn_id *id, uint64_t *count)
{
    const uint8_t *r = node_ref(n, i);
    memcpy(id->bytes, r, CAIRN_ID_SIZE);
    *count = load_le64(r + CAIRN_ID_SIZE);
}

static inline uint64_t node_child_count(const node *n, uint32_t i)
{
    return load_le64(node_ref(n, i) + CAIRN_ID_SIZE);
}

/** Validates every rule of the format (bounds, canonical width, key order, limits). O(n).
 *  CAIRN_ECORRUPT with a message naming what is wrong. */
int node_check(const uint8_t *data, size_t len);

/** Builds the view over bytes that passed node_check(). O(1). */
void node_view(node *out, const uint8_t *data, size_t len);

/** Starts fetching every cache line a binary search over the node may touch (its offsets and
 *  keys), so that the search's misses overlap instead of following one another. */
static inline void node_prefetch_search(const node *n)
{
    const uint8_t *end = n->vals; /* offsets and keys lie before the values */
    for (const uint8_t *p = n->koff; p < end; p += 64) __builtin_prefetch(p);
}

/** Index of the first entry whose key is >= key (count if none). *exact says whether equal. */
uint32_t node_lower_bound(const node *n, const void *key, size_t klen, bool *exact);
/** node_lower_bound() among the entries from `from` on (from <= count). */
uint32_t node_lower_bound_from(const node *n, uint32_t from, const void *key, size_t klen,
                               bool *exact);

/** Size of a node with these areas (for writers). */
static inline size_t node_size(bool leaf, uint32_t count, size_t keys_len, size_t vals_len, bool wide)
{
    size_t w = wide ? 4 : 2;
    return NODE_HDR + (size_t)count * w * (leaf ? 2 : 1) + keys_len + vals_len;
}

static inline bool node_needs_wide(bool leaf, size_t keys_len, size_t vals_len)
{
    return keys_len > NODE_NARROW_MAX || (leaf && vals_len > NODE_NARROW_MAX);
}

/** Loads a node chunk through the chunk store and validates it (once per cached copy).
 *  expect_level < 0 accepts any level. On success the caller owns *out_chunk. */
int node_load(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id, int expect_level);
/** node_load() through cs_get_uncached(): a node about to be superseded stays out of the cache. */
int node_load_uncached(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id,
                       int expect_level);
/** Opens chunk c (a reference the caller hands over: released on failure), which must be node
 *  id, as node_load() does once it has the chunk. */
int node_open_chunk(chunk **out_chunk, node *out, chunk *c, const cairn_id *id, int expect_level);
/** node_load(), setting *missed when the node was not in the chunk cache: the caller's own
 *  sign that its reads have gone cold (the store's counters are raised by every thread). */
int node_load_noting(chunkstore *cs, chunk **out_chunk, node *out, const cairn_id *id,
                     int expect_level, bool *missed);

#endif /* CAIRN_NODE_H */
