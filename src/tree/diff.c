/*
 * diff.c - the differences between two trees, in key order, at a cost that follows the size of
 * the change rather than of the trees.
 *
 * Each tree is read as a lazy stream of items: an item is either an entry (in a leaf) or a whole
 * child subtree, known by the id in its parent's ref without loading it. Both streams always
 * stand at the same frontier: every key before it has been compared. Then:
 *  - two subtrees with the same id hold the same entries: both are skipped, unloaded;
 *  - otherwise the item covering more (the higher subtree; both if level ties) is expanded into
 *    its children, and entries are compared by key like a merge join.
 * History independence makes the trees share nodes wherever their contents agree, so away from
 * the changes the streams meet equal subtrees at once and only the paths to changed leaves are
 * loaded: O(changes x depth) nodes, plus O(fanout) id comparisons per level.
 */
#include "tree.h"

typedef struct stream {
    chunkstore *cs;
    int depth;               /* entries in st; 0 = the stream has ended */
    struct {
        chunk *c;
        node n;
        uint32_t i;
    } st[NODE_MAX_LEVEL + 1];
} stream;

static void stream_dispose(stream *s)
{
    while (s->depth > 0) chunk_release(s->st[--s->depth].c);
}

static int push(stream *s, const cairn_id *id, int expect_level)
{
    int d = s->depth;
    TRY(node_load(s->cs, &s->st[d].c, &s->st[d].n, id, expect_level));
    s->st[d].i = 0;
    s->depth++;
    return CAIRN_OK;
}

/* Pops exhausted nodes so that the top has a current item (or the stream ends). */
static void settle(stream *s)
{
    while (s->depth > 0 && s->st[s->depth - 1].i >= s->st[s->depth - 1].n.count) {
        chunk_release(s->st[--s->depth].c);
        if (s->depth > 0) s->st[s->depth - 1].i++;
    }
}

static inline bool ended(const stream *s) { return s->depth == 0; }
static inline const node *top(const stream *s) { return &s->st[s->depth - 1].n; }
static inline uint32_t idx(const stream *s) { return s->st[s->depth - 1].i; }
/* Level of the current item: -1 for an entry, else the level of the child subtree. */
static inline int item_level(const stream *s) { return (int)top(s)->level - 1; }

static void advance(stream *s)
{
    s->st[s->depth - 1].i++;
    settle(s);
}

static int expand(stream *s)
{
    cairn_id id;
    uint64_t cnt;
    node_child(top(s), idx(s), &id, &cnt);
    TRY(push(s, &id, item_level(s)));
    settle(s);
    return CAIRN_OK;
}

/* Opens the stream at the first entry >= from (or the first entry), expanding only the path. */
static int stream_open(stream *s, chunkstore *cs, const cairn_id *root, const void *from,
                       size_t from_len)
{
    memset(s, 0, sizeof *s);
    s->cs = cs;
    TRY(push(s, root, -1));
    if (from) {
        for (;;) {
            bool exact;
            uint32_t i = node_lower_bound(top(s), from, from_len, &exact);
            s->st[s->depth - 1].i = i;
            if (top(s)->level == 0 || i >= top(s)->count) break;
            cairn_id id;
            uint64_t cnt;
            node_child(top(s), i, &id, &cnt);
            TRY(push(s, &id, top(s)->level - 1));
        }
    }
    settle(s);
    return CAIRN_OK;
}

static int emit(int kind, const uint8_t *k, size_t kl, const uint8_t *ov, size_t ol,
                const uint8_t *nv, size_t nl, int (*cb)(const tree_change *, void *), void *payload)
{
    tree_change ch = { kind, k, kl, ov != NULL, nv != NULL, ov, ol, nv, nl };
    return cb(&ch, payload);
}

int tree_diff(chunkstore *cs, const cairn_id *a_root, const cairn_id *b_root, const void *from,
              size_t from_len, const void *to, size_t to_len,
              int (*cb)(const tree_change *ch, void *payload), void *payload)
{
    if (memcmp(a_root->bytes, b_root->bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
    stream a, b;
    TRY(stream_open(&a, cs, a_root, from, from_len));
    int rc = stream_open(&b, cs, b_root, from, from_len);
    if (rc < 0) {
        stream_dispose(&a);
        return rc;
    }
    while (rc == CAIRN_OK && !(ended(&a) && ended(&b))) {
        int la = ended(&a) ? -2 : item_level(&a), lb = ended(&b) ? -2 : item_level(&b);
        if (la >= 0 && la == lb) {
            if (memcmp(node_ref(top(&a), idx(&a)), node_ref(top(&b), idx(&b)), CAIRN_ID_SIZE) == 0) {
                advance(&a); /* the same node: the same entries */
                advance(&b);
                continue;
            }
            rc = expand(&a);
            if (rc == CAIRN_OK) rc = expand(&b);
            continue;
        }
        if (la >= 0 && la >= lb) {
            rc = expand(&a);
            continue;
        }
        if (lb >= 0) {
            rc = expand(&b);
            continue;
        }
        /* entries (or one side ended) */
        const uint8_t *ka = NULL, *kb = NULL, *va = NULL, *vb = NULL;
        size_t kal = 0, kbl = 0, val = 0, vbl = 0;
        if (!ended(&a)) {
            node_key(top(&a), idx(&a), &ka, &kal);
            node_val(top(&a), idx(&a), &va, &val);
        }
        if (!ended(&b)) {
            node_key(top(&b), idx(&b), &kb, &kbl);
            node_val(top(&b), idx(&b), &vb, &vbl);
        }
        int c = ended(&a) ? 1 : ended(&b) ? -1 : bytes_cmp(ka, kal, kb, kbl);
        const uint8_t *k = c <= 0 ? ka : kb;
        size_t kl = c <= 0 ? kal : kbl;
        if (to && bytes_cmp(k, kl, to, to_len) >= 0) break;
        if (c < 0) {
            rc = emit(TREE_CHANGE_REMOVED, ka, kal, va, val, NULL, 0, cb, payload);
            advance(&a);
        } else if (c > 0) {
            rc = emit(TREE_CHANGE_ADDED, kb, kbl, NULL, 0, vb, vbl, cb, payload);
            advance(&b);
        } else {
            if (val != vbl || (val && memcmp(va, vb, val) != 0))
                rc = emit(TREE_CHANGE_MODIFIED, ka, kal, va, val, vb, vbl, cb, payload);
            advance(&a);
            advance(&b);
        }
    }
    stream_dispose(&a);
    stream_dispose(&b);
    return rc;
}
