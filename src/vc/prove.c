/*
 * prove.c - the public face of proofs: cairn_prove() builds a proof anchored at the commit of a
 * snapshot opened at a commit, or else at the catalog root of the state (repo/proof.c does the
 * work), cairn_proof_verify() checks one with no
 * repository at all and copies the result into the public struct.
 */
#include "db/db.h"
#include "repo/commit.h"
#include "repo/proof.h"

int cairn_prove(void **out_proof, size_t *out_len, cairn_table *t, const cairn_snapshot *snap,
                const void *key, size_t klen)
{
    FAIL_IF(!out_proof || !out_len || !t, CAIRN_EINVAL,
            "cairn_prove needs an output pointer, a length pointer and a table");
    FAIL_IF(!key && klen, CAIRN_EINVAL, "key has a length but no bytes");
    TRY(kv_check_sizes(t, klen, NULL));
    FAIL_IF(snap && snap->db != t->db, CAIRN_EINVAL,
            "table '%s' and the snapshot belong to different repositories", t->name);
    version *v;
    if (snap) TRY(snapshot_version((cairn_snapshot *)snap, &v));
    else TRY(db_working_version(t->db, &v));
    const vtable *vt;
    int rc = version_table(&vt, v, t);
    cairn_buf b = CAIRN_BUF_INIT;
    chunk *cc = NULL;
    bool at_commit = !id_is_zero(&v->commit); /* a snapshot of a commit: anchor at its id */
    if (rc == CAIRN_OK && at_commit) rc = cs_get(&t->db->r.cs, &cc, &v->commit);
    if (rc == CAIRN_OK)
        rc = proof_build(&b, &t->db->r.cs, at_commit ? PROOF_ANCHOR_COMMIT : PROOF_ANCHOR_CATALOG,
                         cc ? cc->data : NULL, cc ? cc->len : 0,
                         &v->rec.catalog, t->name, NULL, key, klen);
    chunk_release(cc);
    if (rc == CAIRN_OK) {
        *out_proof = b.data; /* allocated by cairn_realloc(): cairn_free() releases it */
        *out_len = b.len;
    } else {
        cairn_buf_dispose(&b);
    }
    version_release(v);
    return rc;
}

int cairn_proof_verify(cairn_proof_result *out, const void *proof, size_t len,
                       const cairn_id *trusted_root)
{
    FAIL_IF(!out || !trusted_root || (!proof && len), CAIRN_EINVAL,
            "cairn_proof_verify needs a result, the proof bytes and a trusted root");
    proof_result r;
    TRY(proof_verify(&r, proof, len, trusted_root));
    cairn_proof_result res;
    memset(&res, 0, sizeof res);
    res.anchor = r.anchor;
    res.found = r.found ? 1 : 0;
    res.key = r.key;
    res.key_len = r.klen;
    res.value = r.val;
    res.value_len = r.vlen;
    if (r.table) memcpy(res.table, r.table, r.table_len); /* <= CAIRN_TABLE_NAME_LEN_MAX, no NUL */
    res.commit = r.commit;
    res.commit_data = r.commit_data;
    res.commit_len = r.commit_len;
    res.catalog_root = r.catalog_root;
    res.table_root = r.table_root;
    *out = res;
    return CAIRN_OK;
}
