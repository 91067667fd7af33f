/*
 * proof.h - Merkle paths through a prolly tree: the node bytes that a point read visits, from
 * the root down, written so that someone holding only the root id can re-check the read
 * (docs/FORMAT.md, "Proofs", the "path" part).
 *
 *   path = u8 n (1..32) | n x (varint length | node bytes), root first
 *
 * This is the tree half of a proof. What a path is anchored at (a table root, a catalog, a
 * commit) is the repository's business: repo/proof.h wraps paths into whole proofs.
 *
 * A path is the descent of tree_get(): at an inner node take the first child whose key (that
 * child's last key) is >= the key; a key above the root's last key has no child to take, and
 * its path ends at the root. The verifier recomputes every choice itself: nothing the prover
 * claims (found or not, which child) is taken on trust.
 */
#ifndef CAIRN_PROOF_PATH_H
#define CAIRN_PROOF_PATH_H

#include "base/base.h"
#include "chunk/chunk.h"
#include "node.h"

#define PROOF_PATH_MAX NODE_MAX_LEVEL /* nodes in one path; a tree has at most 32 levels */

/** Appends the path of key in the tree `root` to out. When val is not NULL and the key is in
 *  the tree, its value is copied into val (else val->len = 0) and *found says which.
 *  @return CAIRN_OK; CAIRN_EINVAL (key over the limit); the errors of reading nodes
 *          (CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOTFOUND for a missing chunk); CAIRN_ENOMEM. */
int proof_path_build(cairn_buf *out, chunkstore *cs, const cairn_id *root, const void *key,
                     size_t klen, bool *found, cairn_buf *val);

/** What a verified path shows. Pointers are into the proof bytes. */
typedef struct proof_path_result {
    bool found;
    const uint8_t *val;      /* found: the value; else NULL */
    size_t vlen;
    int nodes;               /* nodes in the path */
} proof_path_result;

/** Parses one path at *p (within [*p, end)), advancing *p past it, and checks it against root:
 *  the first node hashes to root, every node passes node_check(), each next node hashes to the
 *  ref its parent chooses for key and sits exactly one level below it, with the parent's key
 *  equal to its last key, its first key above the parent's previous key, and its entry count
 *  equal to the parent's count for it; the path ends at a leaf, or at the root when the key is
 *  above the root's last key. Then out says whether the key is in the leaf.
 *  `what` names the path in messages ("table path"); `root_what` names root ("the trusted
 *  root").
 *  @return CAIRN_OK, or CAIRN_EAUTH with a message saying what failed. Never allocates. */
int proof_path_verify(proof_path_result *out, const uint8_t **p, const uint8_t *end,
                      const cairn_id *root, const void *key, size_t klen, const char *what,
                      const char *root_what);

#endif /* CAIRN_PROOF_PATH_H */
