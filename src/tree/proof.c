/*
 * proof.c - building and checking Merkle paths (proof.h). The builder copies the nodes that
 * tree_get() visits; the verifier re-hashes each node, validates it with node_check(), redoes
 * the descent itself and checks every link a path can show: parent ref -> child hash, level
 * steps of one, parent key = child's last key, child's first key above the parent's previous
 * key, subtree counts. Verification works on the proof bytes in place and never allocates, so
 * a hostile proof costs at most one pass over its own bytes.
 */
#include <stdio.h>

#include "proof.h"

#include "base/hash.h"
#include "base/varint.h"
#include "node.h"

static int put_varint(cairn_buf *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX];
    return cairn_buf_append(b, tmp, varint_put(tmp, v));
}

int proof_path_build(cairn_buf *out, chunkstore *cs, const cairn_id *root, const void *key,
                     size_t klen, bool *found, cairn_buf *val)
{
    FAIL_IF(klen > CAIRN_KEY_LEN_MAX, CAIRN_EINVAL, "key of %zu bytes is over the %u byte limit",
            klen, CAIRN_KEY_LEN_MAX);
    size_t count_at = out->len;
    uint8_t n_nodes = 0;
    TRY(cairn_buf_append(out, &n_nodes, 1)); /* patched when the path is complete */
    if (val) val->len = 0;
    if (found) *found = false;
    cairn_id id = *root;
    int level = -1;
    for (;;) {
        chunk *c;
        node n;
        TRY(node_load(cs, &c, &n, &id, level));
        int rc = n_nodes < PROOF_PATH_MAX ? CAIRN_OK
                 : CORRUPT("tree is deeper than %d levels", PROOF_PATH_MAX);
        if (rc == CAIRN_OK) rc = put_varint(out, c->len);
        if (rc == CAIRN_OK) rc = cairn_buf_append(out, c->data, c->len);
        if (rc < 0) {
            chunk_release(c);
            return rc;
        }
        n_nodes++;
        bool exact;
        uint32_t i = node_lower_bound(&n, key, klen, &exact);
        if (n.level == 0 || i == n.count) { /* the leaf, or past the tree's last key */
            if (n.level == 0 && exact) {
                if (found) *found = true;
                if (val) {
                    const uint8_t *v;
                    size_t vlen;
                    node_val(&n, i, &v, &vlen);
                    rc = cairn_buf_set(val, v, vlen);
                }
            }
            chunk_release(c);
            out->data[count_at] = n_nodes;
            return rc;
        }
        uint64_t cnt;
        node_child(&n, i, &id, &cnt);
        level = n.level - 1;
        chunk_release(c);
    }
}

/* ---- verification ---- */

static int reject(const char *what, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int reject(const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ERR(CAIRN_EAUTH, "proof: %s: %s", what, msg);
}

/* What a parent node says about the child the descent chose. */
typedef struct link {
    cairn_id id;
    uint64_t count;
    const uint8_t *key, *prev_key; /* the parent's key for the child, and the one before (NULL) */
    size_t klen, prev_klen;
    int level;
} link;

/* Entries under a node that passed node_check; false when the sum overflows. */
static bool subtree_count(const node *n, uint64_t *out)
{
    if (n->level == 0) {
        *out = n->count;
        return true;
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n->count; i++) {
        uint64_t c = node_child_count(n, i);
        if (c > UINT64_MAX - sum) return false;
        sum += c;
    }
    *out = sum;
    return true;
}

/* Checks that node n (the j-th of the path) is the child `up` describes. */
static int check_link(const node *n, const link *up, int j, const char *what)
{
    if (n->level != up->level)
        return reject(what, "node %d is at level %u where its parent expects level %d", j,
                      n->level, up->level);
    if (n->count == 0) /* an empty leaf is only ever the whole (empty) tree */
        return reject(what, "node %d is an empty leaf below an inner node", j);
    const uint8_t *k;
    size_t kl;
    node_key(n, n->count - 1, &k, &kl);
    if (bytes_cmp(k, kl, up->key, up->klen) != 0)
        return reject(what, "node %d: its last key differs from its parent's key for it", j);
    if (up->prev_key) {
        node_key(n, 0, &k, &kl);
        if (bytes_cmp(k, kl, up->prev_key, up->prev_klen) <= 0)
            return reject(what, "node %d: its first key is not above its parent's previous key",
                          j);
    }
    uint64_t cnt;
    if (!subtree_count(n, &cnt) || cnt != up->count)
        return reject(what, "node %d: its entries do not add up to its parent's count for it", j);
    return CAIRN_OK;
}

int proof_path_verify(proof_path_result *out, const uint8_t **pp, const uint8_t *end,
                      const cairn_id *root, const void *key, size_t klen, const char *what,
                      const char *root_what)
{
    const uint8_t *p = *pp;
    if (p == end) return reject(what, "missing (the proof ends before it)");
    unsigned n_nodes = *p++;
    if (n_nodes < 1 || n_nodes > PROOF_PATH_MAX)
        return reject(what, "declares %u nodes (1..%d allowed)", n_nodes, PROOF_PATH_MAX);
    link up;
    memset(&up, 0, sizeof up);
    up.id = *root;
    for (unsigned j = 0; j < n_nodes; j++) {
        uint64_t len;
        size_t vn = varint_get(p, end, &len);
        if (vn == 0) return reject(what, "node %u has a malformed or truncated length", j);
        p += vn;
        if (len < NODE_HDR || len > CHUNK_MAX_SIZE || len > (uint64_t)(end - p))
            return reject(what, "node %u declares %llu bytes (%d..%u, and within the proof)", j,
                          (unsigned long long)len, NODE_HDR, CHUNK_MAX_SIZE);
        const uint8_t *bytes = p;
        p += len;

        cairn_id h;
        hash_sha256(&h, bytes, (size_t)len);
        if (memcmp(h.bytes, up.id.bytes, CAIRN_ID_SIZE) != 0) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &up.id);
            if (j == 0) return reject(what, "its root node does not hash to %s %s", root_what, hex);
            return reject(what, "node %u does not hash to %s, the ref its parent chose", j, hex);
        }
        if (node_check(bytes, (size_t)len) < 0)
            return cairn_error_prefix(CAIRN_EAUTH, "proof: %s: node %u", what, j);
        node n;
        node_view(&n, bytes, (size_t)len);
        if (j == 0) {
            if (n.level > 0 && n.count == 1)
                return reject(what, "its root is an inner node with a single entry");
        } else {
            TRY(check_link(&n, &up, (int)j, what));
        }

        bool exact;
        uint32_t i = node_lower_bound(&n, key, klen, &exact);
        bool last = j + 1 == n_nodes;
        if (n.level == 0 || i == n.count) {
            /* The descent stops here: at the leaf, or (only possible at the root, since every
             * lower node's last key is its parent's key, which is >= the key) past the last key
             * of the tree. The path must stop here too. */
            if (!last)
                return reject(what, "goes on for %u more nodes after the descent ends at node %u",
                              n_nodes - j - 1, j);
            out->found = n.level == 0 && exact;
            out->val = NULL;
            out->vlen = 0;
            if (out->found) node_val(&n, i, &out->val, &out->vlen);
            out->nodes = (int)n_nodes;
            *pp = p;
            return CAIRN_OK;
        }
        if (last)
            return reject(what, "ends at node %u (level %u) above the leaf", j, n.level);
        node_child(&n, i, &up.id, &up.count);
        node_key(&n, i, &up.key, &up.klen);
        if (i > 0) node_key(&n, i - 1, &up.prev_key, &up.prev_klen);
        else up.prev_key = NULL;
        up.level = n.level - 1;
    }
    return reject(what, "ends above the leaf"); /* not reached: the loop returns */
}
