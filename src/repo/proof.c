/*
 * proof.c - the proof envelope (proof.h): header, key, table name, commit, then the catalog and
 * table paths that tree/proof.c builds and checks. The decoder is strict: every length is
 * bounded by its limit and by the bytes left, every field has one encoding, and nothing may
 * follow the table path. Any failure of the proof is CAIRN_EAUTH.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "base/varint.h"
#include "commit.h"
#include "proof.h"
#include "repo.h"
#include "tree/proof.h"

static int put_varint(cairn_buf *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX];
    return cairn_buf_append(b, tmp, varint_put(tmp, v));
}

static int put_field(cairn_buf *b, const void *p, size_t n)
{
    TRY(put_varint(b, n));
    return cairn_buf_append(b, p, n);
}

/* The table root that the catalog names for `table`, appending the catalog path. */
static int build_catalog(cairn_buf *out, chunkstore *cs, const cairn_id *catalog,
                         const char *table, cairn_id *table_root)
{
    bool found;
    cairn_buf desc = CAIRN_BUF_INIT;
    int rc = proof_path_build(out, cs, catalog, table, strlen(table), &found, &desc);
    if (rc == CAIRN_OK && !found) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, catalog);
        rc = ERR(CAIRN_ENOTFOUND, "table '%s' is not in the catalog %s", table, hex);
    }
    tabledesc d;
    if (rc == CAIRN_OK && (rc = tabledesc_decode(&d, desc.data, desc.len)) < 0)
        rc = cairn_error_prefix(rc, "catalog entry '%s'", table);
    if (rc == CAIRN_OK) *table_root = d.root;
    cairn_buf_dispose(&desc);
    return rc;
}

int proof_build(cairn_buf *out, chunkstore *cs, int anchor, const uint8_t *commit_bytes,
                size_t commit_len, const cairn_id *catalog_root, const char *table,
                const cairn_id *table_root, const void *key, size_t klen)
{
    FAIL_IF(anchor < PROOF_ANCHOR_TABLE || anchor > PROOF_ANCHOR_COMMIT, CAIRN_EINVAL,
            "proof anchor %d is not one of table (1), catalog (2), commit (3)", anchor);
    FAIL_IF(!key && klen, CAIRN_EINVAL, "key has a length but no bytes");
    FAIL_IF(klen > CAIRN_KEY_LEN_MAX, CAIRN_EINVAL, "key of %zu bytes is over the %u byte limit",
            klen, CAIRN_KEY_LEN_MAX);
    FAIL_IF(anchor == PROOF_ANCHOR_TABLE && !table_root, CAIRN_EINVAL,
            "a proof anchored at a table root needs the table root");
    FAIL_IF(anchor == PROOF_ANCHOR_CATALOG && !catalog_root, CAIRN_EINVAL,
            "a proof anchored at a catalog needs the catalog root");
    FAIL_IF(anchor == PROOF_ANCHOR_COMMIT && (!commit_bytes || !commit_len), CAIRN_EINVAL,
            "a proof anchored at a commit needs the commit's bytes");
    if (anchor != PROOF_ANCHOR_TABLE) TRY(table_name_check(table));

    cairn_id catalog, troot;
    if (anchor == PROOF_ANCHOR_COMMIT) {
        FAIL_IF(commit_len > PROOF_MAX_COMMIT, CAIRN_EINVAL, "commit of %zu bytes is over %u",
                commit_len, PROOF_MAX_COMMIT);
        commit c;
        int rc = commit_decode(&c, commit_bytes, commit_len);
        if (rc < 0) return cairn_error_prefix(rc == CAIRN_ENOMEM ? rc : CAIRN_EINVAL, "proof");
        catalog = c.catalog;
        commit_dispose(&c);
    } else if (anchor == PROOF_ANCHOR_CATALOG) {
        catalog = *catalog_root;
    }

    out->len = 0;
    uint8_t hdr[PROOF_MAGIC_SIZE + 2];
    memcpy(hdr, PROOF_MAGIC, PROOF_MAGIC_SIZE);
    hdr[PROOF_MAGIC_SIZE] = PROOF_VERSION;
    hdr[PROOF_MAGIC_SIZE + 1] = (uint8_t)anchor;
    TRY(cairn_buf_append(out, hdr, sizeof hdr));
    TRY(put_field(out, key, klen));
    if (anchor != PROOF_ANCHOR_TABLE) TRY(put_field(out, table, strlen(table)));
    if (anchor == PROOF_ANCHOR_COMMIT) TRY(put_field(out, commit_bytes, commit_len));
    if (anchor != PROOF_ANCHOR_TABLE) TRY(build_catalog(out, cs, &catalog, table, &troot));
    else troot = *table_root;
    return proof_path_build(out, cs, &troot, key, klen, NULL, NULL);
}

/* ---- verification ---- */

static int reject(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int reject(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ERR(CAIRN_EAUTH, "proof: %s", msg);
}

/* A varint length in [min, max] and that many bytes, at *p. */
static int get_field(const uint8_t **p, const uint8_t *end, size_t min, size_t max,
                     const uint8_t **out, size_t *out_len, const char *what)
{
    uint64_t n;
    size_t vn = varint_get(*p, end, &n);
    if (vn == 0) return reject("the %s length is malformed or truncated", what);
    if (n < min || n > max)
        return reject("the %s is %llu bytes (%zu..%zu allowed)", what, (unsigned long long)n, min,
                      max);
    if (n > (uint64_t)(end - *p - vn))
        return reject("the %s is truncated (%llu bytes declared, %zu left)", what,
                      (unsigned long long)n, (size_t)(end - *p - vn));
    *out = *p + vn;
    *out_len = (size_t)n;
    *p += vn + n;
    return CAIRN_OK;
}

static bool id_eq(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, CAIRN_ID_SIZE) == 0;
}

/* Checks the commit of a commit anchor and takes its catalog root. trusted NULL: any commit
 * (the proof is checked below its anchor, see proof_verify()). */
static int check_commit(proof_result *r, const uint8_t *bytes, size_t len,
                        const cairn_id *trusted)
{
    hash_sha256(&r->commit, bytes, len);
    if (trusted && !id_eq(&r->commit, trusted)) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, trusted);
        return reject("its commit does not hash to the trusted commit id %s", hex);
    }
    commit c;
    int rc = commit_decode(&c, bytes, len);
    if (rc == CAIRN_ENOMEM) return rc;
    if (rc < 0) return cairn_error_prefix(CAIRN_EAUTH, "proof");
    r->catalog_root = c.catalog;
    commit_dispose(&c);
    return CAIRN_OK;
}

static int check_table_name(const uint8_t *name, size_t len)
{
    char buf[CAIRN_TABLE_NAME_LEN_MAX + 1];
    if (memchr(name, 0, len)) return reject("the table name contains a NUL byte");
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (table_name_check(buf) < 0) return cairn_error_prefix(CAIRN_EAUTH, "proof");
    return CAIRN_OK;
}

/* The id of a path's top node (the root it hangs from), for a proof checked below its anchor:
 * the hash of the node's bytes, or zero when they are malformed (proof_path_verify() then says
 * why). */
static cairn_id path_top(const uint8_t *p, const uint8_t *end)
{
    cairn_id id;
    memset(&id, 0, sizeof id);
    uint64_t len;
    size_t vn = p < end ? varint_get(p + 1, end, &len) : 0;
    if (vn && len <= (uint64_t)(end - p - 1 - vn)) hash_sha256(&id, p + 1 + vn, (size_t)len);
    return id;
}

/* Verifies the proof at p. trusted NULL: against what the proof itself names at its anchor (its
 * commit's hash, or the hash of its top node), so that the caller can then match a trusted id
 * against any level of the chain. */
static int verify(proof_result *r, const uint8_t *p, const uint8_t *end, const cairn_id *trusted)
{
    if ((size_t)(end - p) < PROOF_MAGIC_SIZE + 2 || memcmp(p, PROOF_MAGIC, PROOF_MAGIC_SIZE) != 0)
        return reject("not a cairn proof (it does not start with \"%s\")", PROOF_MAGIC);
    p += PROOF_MAGIC_SIZE;
    if (*p != PROOF_VERSION)
        return reject("version %u is not supported (this build verifies version %d)", *p,
                      PROOF_VERSION);
    p++;
    r->anchor = *p++;
    if (r->anchor < PROOF_ANCHOR_TABLE || r->anchor > PROOF_ANCHOR_COMMIT)
        return reject("unknown anchor kind %d", r->anchor);
    TRY(get_field(&p, end, 0, CAIRN_KEY_LEN_MAX, &r->key, &r->klen, "key"));
    if (r->anchor != PROOF_ANCHOR_TABLE) {
        TRY(get_field(&p, end, 1, CAIRN_TABLE_NAME_LEN_MAX, &r->table, &r->table_len, "table name"));
        TRY(check_table_name(r->table, r->table_len));
    }
    if (r->anchor == PROOF_ANCHOR_COMMIT) {
        const uint8_t *cb;
        size_t cl;
        TRY(get_field(&p, end, 1, PROOF_MAX_COMMIT, &cb, &cl, "commit"));
        TRY(check_commit(r, cb, cl, trusted));
        r->commit_data = cb;
        r->commit_len = cl;
    } else if (r->anchor == PROOF_ANCHOR_CATALOG) {
        r->catalog_root = trusted ? *trusted : path_top(p, end);
    }
    if (r->anchor == PROOF_ANCHOR_TABLE) {
        r->table_root = trusted ? *trusted : path_top(p, end);
    } else {
        proof_path_result cat;
        TRY(proof_path_verify(&cat, &p, end, &r->catalog_root, r->table, r->table_len,
                              "catalog path",
                              r->anchor == PROOF_ANCHOR_COMMIT ? "the commit's catalog root"
                                                               : "the trusted root"));
        if (!cat.found)
            return reject("the catalog path shows that table '%.*s' is not in the catalog",
                          (int)r->table_len, (const char *)r->table);
        tabledesc d;
        if (tabledesc_decode(&d, cat.val, cat.vlen) < 0)
            return cairn_error_prefix(CAIRN_EAUTH, "proof: catalog entry '%.*s'",
                                      (int)r->table_len, (const char *)r->table);
        r->table_root = d.root;
        r->catalog_nodes = cat.nodes;
    }
    proof_path_result tab;
    TRY(proof_path_verify(&tab, &p, end, &r->table_root, r->key, r->klen, "table path",
                          r->anchor == PROOF_ANCHOR_TABLE ? "the trusted root"
                                                          : "the table root in the catalog"));
    if (p != end) return reject("%zu bytes follow the table path", (size_t)(end - p));
    r->found = tab.found;
    r->val = tab.val;
    r->vlen = tab.vlen;
    r->table_nodes = tab.nodes;
    return CAIRN_OK;
}

/* A proof anchored at a commit chains through a catalog root to a table root, and one anchored
 * at a catalog to a table root: a verifier who trusts one of those lower ids (the table root
 * `cairn root` prints, say) can check the part of the chain below it. The proof is verified as
 * chained to itself, then the trusted id must be one of its links; what lies above that link is
 * not trusted, so it is left out of the result (a table root proves no table name). Called when
 * the proof did not verify at its anchor: on no match, that failure stands. */
static int verify_below_anchor(proof_result *r, const uint8_t *proof, size_t len,
                               const cairn_id *trusted)
{
    char *why = cairn_strdup(cairn_error_last()->message);
    proof_result self;
    memset(&self, 0, sizeof self);
    int rc = verify(&self, proof, proof + len, NULL);
    bool at_catalog = rc == CAIRN_OK && self.anchor == PROOF_ANCHOR_COMMIT &&
                      id_eq(&self.catalog_root, trusted);
    bool at_table = rc == CAIRN_OK && self.anchor != PROOF_ANCHOR_TABLE &&
                    id_eq(&self.table_root, trusted);
    if (!at_catalog && !at_table) {
        rc = ERR(CAIRN_EAUTH, "%s", why ? why : "proof: it does not verify against that root");
        free(why);
        return rc;
    }
    free(why);
    memset(&self.commit, 0, sizeof self.commit);
    self.commit_data = NULL;
    self.commit_len = 0;
    self.anchor = at_catalog ? PROOF_ANCHOR_CATALOG : PROOF_ANCHOR_TABLE;
    if (at_table) {
        memset(&self.catalog_root, 0, sizeof self.catalog_root);
        self.table = NULL;
        self.table_len = 0;
        self.catalog_nodes = 0;
    }
    *r = self;
    return CAIRN_OK;
}

int proof_verify(proof_result *out, const uint8_t *proof, size_t len, const cairn_id *trusted_root)
{
    FAIL_IF(!out || !trusted_root || (!proof && len), CAIRN_EINVAL,
            "proof_verify needs a result, the proof bytes and a trusted root");
    proof_result r;
    memset(&r, 0, sizeof r);
    static const uint8_t none[1];
    if (!proof) proof = none;
    int rc = verify(&r, proof, proof + len, trusted_root);
    if (rc == CAIRN_EAUTH) rc = verify_below_anchor(&r, proof, len, trusted_root);
    TRY(rc);
    *out = r;
    return CAIRN_OK;
}
