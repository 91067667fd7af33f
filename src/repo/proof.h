/*
 * proof.h - whole proofs: a key's presence (with its value) or absence in a table, anchored at
 * something a third party trusts, checkable with nothing but the proof bytes and that one id
 * (docs/FORMAT.md, "Proofs").
 *
 *   "CAIRNPRF" | u8 version (1) | u8 anchor | varint klen | key
 *   | catalog, commit anchors: varint name length | table name
 *   | commit anchor: varint commit length | commit bytes
 *   | catalog, commit anchors: catalog path (key = the table name)
 *   | table path (key = the key)
 *
 * where a path is tree/proof.h's: a count and the nodes of one descent, root first. The anchor
 * says what the trusted id names:
 *
 *   PROOF_ANCHOR_TABLE    the table's root: the table path starts there.
 *   PROOF_ANCHOR_CATALOG  a catalog root: the catalog path starts there and must find the table;
 *                         the descriptor in its leaf names the root the table path starts at.
 *   PROOF_ANCHOR_COMMIT   a commit id: the commit bytes hash to it and name the catalog root;
 *                         then as PROOF_ANCHOR_CATALOG.
 *
 * Nothing in a proof claims its result: found or not is derived from the leaf by the verifier.
 * The layering is deliberate: the tree layer knows paths, this layer knows catalogs and commits.
 */
#ifndef CAIRN_PROOF_H
#define CAIRN_PROOF_H

#include "base/base.h"
#include "chunk/chunk.h"

#define PROOF_MAGIC "CAIRNPRF"
#define PROOF_MAGIC_SIZE 8
#define PROOF_VERSION 1
#define PROOF_MAX_COMMIT CHUNK_MAX_SIZE /* a commit is a chunk */

enum proof_anchor {
    PROOF_ANCHOR_TABLE = CAIRN_PROOF_TABLE,
    PROOF_ANCHOR_CATALOG = CAIRN_PROOF_CATALOG,
    PROOF_ANCHOR_COMMIT = CAIRN_PROOF_COMMIT,
};

/** What a valid proof proves. Pointers are into the proof bytes (valid while they are). */
typedef struct proof_result {
    int anchor;                  /* enum proof_anchor */
    const uint8_t *table;        /* catalog and commit anchors: the table name; else NULL */
    size_t table_len;
    const uint8_t *key;
    size_t klen;
    bool found;                  /* the key is in the table... */
    const uint8_t *val;          /* ...with this value (NULL when not found) */
    size_t vlen;
    cairn_id commit;             /* commit anchor: the commit id; else zero */
    const uint8_t *commit_data;  /* commit anchor: the commit's bytes; else NULL */
    size_t commit_len;
    cairn_id catalog_root;       /* catalog and commit anchors; else zero */
    cairn_id table_root;         /* always */
    int catalog_nodes;           /* nodes in the catalog path (0 for the table anchor) */
    int table_nodes;
} proof_result;

/** Builds a proof for key in a table, replacing out's contents. Reads the path nodes through cs
 *  (they are verified chunks), exactly as tree_get() descends.
 *  - PROOF_ANCHOR_TABLE: table_root is the table's root; the other anchors' arguments are
 *    ignored (may be NULL).
 *  - PROOF_ANCHOR_CATALOG: catalog_root and table (the name) are used; the table root is
 *    looked up in the catalog (table_root is ignored).
 *  - PROOF_ANCHOR_COMMIT: commit_bytes/commit_len (a canonical commit) name the catalog root;
 *    then as the catalog anchor (catalog_root is ignored).
 *  @return CAIRN_OK; CAIRN_EINVAL (bad anchor, key over the limit, bad table name, commit bytes
 *          that do not decode); CAIRN_ENOTFOUND (the table is not in the catalog, or a chunk of
 *          the path is missing from the store); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
int proof_build(cairn_buf *out, chunkstore *cs, int anchor, const uint8_t *commit_bytes,
                size_t commit_len, const cairn_id *catalog_root, const char *table,
                const cairn_id *table_root, const void *key, size_t klen);

/** Checks a proof against a trusted root and says what it proves. The root may be the id the
 *  proof's anchor names (a table root, catalog root or commit id) or any lower link of its
 *  chain (a commit-anchored proof verifies against its catalog root or its table root too;
 *  out->anchor then names the link that matched, and what is above it is left out). The caller must still check that out->anchor,
 *  out->table and out->key are what it asked about: a valid proof for another key (or table)
 *  under the same root is still valid.
 *  @return CAIRN_OK; CAIRN_EAUTH (the proof is malformed or does not verify for this root; the
 *          message says what failed); CAIRN_ENOMEM (decoding the commit of a commit anchor). */
int proof_verify(proof_result *out, const uint8_t *proof, size_t len,
                 const cairn_id *trusted_root);

#endif /* CAIRN_PROOF_H */
