/*
 * tree.h - prolly trees: ordered maps of byte keys to byte values stored as a tree of
 * content-addressed nodes. A tree is named by its root id; it is never modified in place:
 * edits build the new nodes beside the old ones and share every untouched subtree.
 *
 * History independence (DESIGN.md invariant 2): node boundaries depend only on the entries
 * (a hash of each key and the entry sizes; see chunk_boundary()), so the same set of entries has
 * the same root id whatever sequence of edits produced it.
 */
#ifndef CAIRN_TREE_H
#define CAIRN_TREE_H

#include "base/base.h"
#include "base/hash.h"
#include "chunk/chunk.h"
#include "node.h"

/* ---- the boundary rule (docs/FORMAT.md, "Node boundaries") ----
 * After appending an entry of e = klen + vlen bytes (inner entries: klen + 40) to a node whose
 * entries now total s bytes (the same measure), the node ends here when:
 *   inner nodes need at least 2 entries; then
 *   s <  CHUNK_MIN_BYTES: never; s >= CHUNK_MAX_BYTES: always; otherwise when
 *   (XXH3_64(key, seed = level) >> 32) < min(2^32 - 1, s^3 * e / CHUNK_DIVISOR).
 * s^3 * e / (CHUNK_DIVISOR * 2^32) approximates the hazard of a Weibull(k = 4, lambda = 4519)
 * distribution of node sizes (mean ~4 KiB) in integer arithmetic, so that every implementation
 * computes the same boundaries bit for bit. */
#define CHUNK_MIN_BYTES 512u
#define CHUNK_MAX_BYTES 16384u
#define CHUNK_DIVISOR 24273u

static inline bool chunk_boundary(unsigned level, uint32_t count, uint64_t size, uint64_t e,
                                  const uint8_t *key, size_t klen)
{
    if (level > 0 && count < 2) return false;
    if (size < CHUNK_MIN_BYTES) return false;
    if (size >= CHUNK_MAX_BYTES) return true;
    uint64_t t = size * size * size * e / CHUNK_DIVISOR;
    if (t > UINT32_MAX) t = UINT32_MAX;
    return (hash_xxh3(key, klen, level) >> 32) < t;
}

/* ---- edits ---- */

enum { EDIT_PUT = 1, EDIT_DEL = 2 };

/** One change to a tree. For inner levels val is a 40-byte ref. */
typedef struct tree_edit {
    const uint8_t *key;
    const uint8_t *val;
    uint32_t klen;
    uint32_t vlen;
    uint8_t op;
} tree_edit;

/** Writes the empty tree (one empty leaf) and returns its id. */
int tree_empty(chunkstore *cs, cairn_id *out_root);

/** Applies edits, sorted by key with no key twice, to the tree `root`; writes the new nodes and
 *  returns the new root. Each touched node is rewritten once; untouched subtrees are shared.
 *  Deleting an absent key changes nothing. */
int tree_apply(chunkstore *cs, cairn_id *out_root, const cairn_id *root, const tree_edit *edits,
               size_t n);

/** How tree_apply_with() runs a level's edits. */
typedef struct tree_apply_opts {
    int threads;             /* parts run at once, the calling thread's included (<= 1: one) */
    size_t part_min;         /* edits a part needs at least (0: any number) */
} tree_apply_opts;

/** What tree_apply_with() did with its parts, summed over the levels (for tests). */
typedef struct tree_apply_stats {
    uint32_t parts;          /* parts run (levels that ran on one thread count none) */
    uint32_t joins_direct;   /* parts whose first span started where the output so far ended */
    uint32_t joins_late;     /* parts joined from a later span (the edits between run again) */
    uint32_t parts_unused;   /* parts whose every span the parts before had run past */
    uint32_t parts_skipped;  /* parts not started: their first edits share a node with the part
                                before's last, up to the part's end or in the level's last node */
} tree_apply_stats;

/** tree_apply() with the edits of each level cut into opt->threads parts by count, each run on
 *  a thread of its own from its first edit, then joined where the serial pass would have
 *  started a span (edit.c, "one level on several threads"): the root is the serial one's,
 *  byte for byte. The root level runs on one thread. A part whose first edits share the old
 *  node of the part before's last edit starts past that node, and is not run when none of its
 *  edits is past it or that node is its level's last. stats may be NULL. tree_apply() uses the
 *  machine's CPUs (at most 4; asked for only when n >= 8192) and parts of at least 4096
 *  edits. */
int tree_apply_with(chunkstore *cs, cairn_id *out_root, const cairn_id *root,
                    const tree_edit *E, size_t n, const tree_apply_opts *opt,
                    tree_apply_stats *stats);

/** tree_apply_with() for edits the caller made in key order with no key twice and checked as
 *  it did (a batch's commit): they are not checked again, which for a bulk load is a pass over
 *  keys no longer in the CPU's caches. Edits out of order give a wrong tree: check them. */
int tree_apply_sorted(chunkstore *cs, cairn_id *out_root, const cairn_id *root,
                      const tree_edit *E, size_t n, const tree_apply_opts *opt,
                      tree_apply_stats *stats);

/** The options tree_apply() uses for n edits when `runners` applies (to other trees) run at
 *  once, each on a thread of its own: the CPUs (asked for only when n can make two parts) are
 *  shared among them, so that the applies do not start more threads than there are CPUs. */
tree_apply_opts tree_apply_opts_for(size_t n, int runners);

/* ---- reads ---- */

/** Point read. On success *out_leaf pins the leaf holding the value (release it after use). */
int tree_get(chunkstore *cs, const cairn_id *root, const void *key, size_t klen,
             chunk **out_leaf, const uint8_t **val, size_t *vlen);

/** Called by tree_get_sorted() for key i: val is its value (borrowed for the call), or NULL when
 *  the tree does not hold it. A non-zero return stops the reads and is returned. */
typedef int (*tree_got_fn)(size_t i, const uint8_t *val, size_t vlen, void *payload);

/** Point reads of n keys in ascending order (keys[i] >= keys[i - 1]; else CAIRN_EINVAL, after
 *  the keys before it). The keys go down the tree in windows of 256, one level at a time: the
 *  nodes a level needs are each loaded once and their cache misses overlap, and those missing
 *  from the cache (when more than one) go to the read-ahead workers together. cb is called
 *  once per key, in order. */
int tree_get_sorted(chunkstore *cs, const cairn_id *root, const void *const *keys,
                    const size_t *klens, size_t n, tree_got_fn cb, void *payload);

/** Number of entries with key < key (key == NULL: all entries). O(depth * fanout). */
int tree_rank(chunkstore *cs, const cairn_id *root, const void *key, size_t klen, uint64_t *out);

/** Walks every node and fills in the shape of the tree. */
int tree_stats(chunkstore *cs, const cairn_id *root, cairn_table_stats *out);

/* ---- cursors ----
 * A cursor holds the path from the root to a node at `stop_level` (0: leaves; it then points at
 * an entry). Node cursors (stop_level > 0) serve the edit algorithm and diff. */

typedef struct tree_cursor {
    chunkstore *cs;
    int top;                 /* path[top] is at stop_level; path[0] is the root */
    int stop_level;
    bool nodes;              /* moves node by node at stop_level instead of entry by entry */
    bool valid;
    cairn_id ra_cur;         /* read-ahead: the leaves' parent the cursor is under, and */
    cairn_id ra_next;        /* the next one, whose leaves were handed over already */
    cairn_id ra_up;          /* the parents' parent whose children were named to the store */
    uint32_t steps;          /* leaf-to-leaf moves so far (read-ahead waits for a few) */
    bool uncached_leaves;    /* leaves it loads stay out of the chunk cache (a big edit's) */
    bool cold;               /* a node it loaded was not cached (read-ahead waits for one) */
    struct {
        chunk *c;
        node n;
        uint32_t i;
    } path[NODE_MAX_LEVEL];
} tree_cursor;

/** An entry cursor (stop_level must be 0) or, with nodes = true, a node cursor at stop_level.
 *  Loads the root; a root below stop_level is CAIRN_EINVAL. */
int tc_init(tree_cursor *tc, chunkstore *cs, const cairn_id *root, int stop_level, bool nodes);
void tc_dispose(tree_cursor *tc);
/** Entry cursor: first entry >= key (valid = false past the end). Node cursor: the node at
 *  stop_level whose range holds key (the last node when key is past the end). */
int tc_seek(tree_cursor *tc, const void *key, size_t klen);
int tc_first(tree_cursor *tc);
int tc_last(tree_cursor *tc);
/** Moves one entry (node cursor: one node) forward/back. CAIRN_ENOTFOUND at either end (the
 *  cursor becomes invalid). */
int tc_next(tree_cursor *tc);
int tc_prev(tree_cursor *tc);
/** True when a node cursor is on the last node of its level. */
bool tc_at_last_node(const tree_cursor *tc);

static inline void tc_entry(const tree_cursor *tc, const uint8_t **k, size_t *klen,
                            const uint8_t **v, size_t *vlen)
{
    const node *n = &tc->path[tc->top].n;
    uint32_t i = tc->path[tc->top].i;
    node_key(n, i, k, klen);
    node_val(n, i, v, vlen);
}

static inline const node *tc_node(const tree_cursor *tc) { return &tc->path[tc->top].n; }
static inline chunk *tc_chunk(const tree_cursor *tc) { return tc->path[tc->top].c; }

/* ---- building (build.c) ---- */

/** The per-level chunker: accumulates entries of one node and says where a node ends. */
typedef struct level_writer {
    uint8_t level;
    uint32_t n;
    cairn_buf keys, vals;
    uint32_t *kend, *vend;
    size_t cap;
    uint64_t subtree;        /* entries under this node so far */
    bool cache;              /* keep written nodes in the chunk cache */
} level_writer;

void lw_init(level_writer *w, int level);
void lw_dispose(level_writer *w);
/** Appends an entry (cnt = entries under it: 1 for leaf entries). *boundary says the node
 *  must end after it. */
int lw_add(level_writer *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
           uint64_t cnt, bool *boundary);
/** lw_add() without the boundary test: for an entry the caller knows ends no node. */
int lw_append(level_writer *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
              uint64_t cnt);
/** Appends entries [a, b) of node N (at the writer's level) as they are, in two copies, with no
 *  boundary test: for a run the caller knows ends no node (edit.c: the chunker in step with the
 *  node that holds them, and b before its last entry). */
int lw_append_run(level_writer *w, const node *N, uint32_t a, uint32_t b);
/** Serialises the pending entries as a node, stores it, resets the writer. Caller releases
 *  *out (its id is set; subtree count in *out_count). */
int lw_flush(level_writer *w, chunkstore *cs, chunk **out, uint64_t *out_count);

/** Streaming bottom-up builder: feed entries in key order at `base_level`. */
typedef struct tree_builder {
    chunkstore *cs;
    int base_level;
    level_writer lv[NODE_MAX_LEVEL];
    uint64_t emitted[NODE_MAX_LEVEL];
    int nlevels;
} tree_builder;

void tb_init(tree_builder *b, chunkstore *cs, int base_level);
/** Bulk builds: do not keep the leaves they write in the cache (inner nodes are kept). */
void tb_skip_leaf_cache(tree_builder *b);
void tb_dispose(tree_builder *b);
/** Adds an entry at the base level (leaf: key/value, cnt 1; inner: key/ref, cnt = subtree). */
int tb_add(tree_builder *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
           uint64_t cnt);
/** Finishes every level and returns the root (the empty tree when nothing was added). */
int tb_finish(tree_builder *b, cairn_id *out_root);

/** Makes a 40-byte ref. */
static inline void make_ref(uint8_t out[NODE_REF_SIZE], const cairn_id *id, uint64_t count)
{
    memcpy(out, id->bytes, CAIRN_ID_SIZE);
    store_le64(out + CAIRN_ID_SIZE, count);
}

/** Last key of a node (count > 0). */
static inline void node_last_key(const node *n, const uint8_t **k, size_t *klen)
{
    node_key(n, n->count - 1, k, klen);
}

/** Entries under a node. */
uint64_t node_subtree_count(const node *n);



/** Checks the structure of a whole tree: levels step down by one, every inner key equals its
 *  child's last key, subtree counts add up, keys increase across nodes. O(nodes).
 *  CAIRN_ECORRUPT naming the first bad node. */
int tree_check(chunkstore *cs, const cairn_id *root);
/* ---- diff (diff.c) ---- */

enum tree_change_kind { TREE_CHANGE_ADDED = 1, TREE_CHANGE_REMOVED = 2, TREE_CHANGE_MODIFIED = 3 };

/** One difference between two trees. Pointers are borrowed for the callback only. */
typedef struct tree_change {
    int kind;
    const uint8_t *key;
    size_t klen;
    bool has_old, has_new;
    const uint8_t *old;      /* the value in the first tree */
    size_t oldlen;
    const uint8_t *new_;     /* the value in the second tree */
    size_t newlen;
} tree_change;

/** Calls cb for every key whose presence or value differs between trees a and b, in key order,
 *  restricted to [from, to) when those are not NULL. Equal subtrees are skipped by id, so the
 *  cost grows with the number of differences, not with the size of the trees. A non-zero return
 *  from cb stops the walk and is returned. */
int tree_diff(chunkstore *cs, const cairn_id *a, const cairn_id *b, const void *from,
              size_t from_len, const void *to, size_t to_len,
              int (*cb)(const tree_change *ch, void *payload), void *payload);

/* ---- three-way merge (merge.c) ---- */

enum merge_strategy { MERGE_FAIL = 0, MERGE_OURS = 1, MERGE_THEIRS = 2 };

/** A key both sides changed differently. has_* false = absent on that side. Pointers are
 *  borrowed for the callback only. */
typedef struct tree_conflict {
    const uint8_t *key;
    size_t klen;
    bool has_base;
    const uint8_t *base;
    size_t baselen;
    bool has_ours;
    const uint8_t *ours;
    size_t ourslen;
    bool has_theirs;
    const uint8_t *theirs;
    size_t theirslen;
} tree_conflict;

/** Merges theirs' changes since base into ours. Every conflict is passed to on_conflict (may be
 *  NULL) and counted in *out_conflicts; then MERGE_OURS keeps ours' state, MERGE_THEIRS takes
 *  theirs', MERGE_FAIL returns CAIRN_ECONFLICT (after reporting all of them) and no root. */
int tree_merge(chunkstore *cs, cairn_id *out_root, const cairn_id *base, const cairn_id *ours,
               const cairn_id *theirs, int strategy,
               int (*on_conflict)(const tree_conflict *c, void *payload), void *payload,
               size_t *out_conflicts);

#endif /* CAIRN_TREE_H */
