/*
 * sig.c - document signatures: the optional _sig member a write made with a signer adds
 * (docs/FORMAT.md, "Document signatures"), and grading it on read.
 *
 * What is signed is the document as its writer meant it: the canonical form without _hash and
 * _sig (so _id, _v and _ts are covered: a signed version cannot be replayed as another), after
 * a domain string and the collection's name (so a signature for one collection does not pass in
 * another, nor for a commit or an access log entry, whose domains differ). _hash is computed
 * after _sig is set, so it covers the signature too and its definition stays "the canonical
 * form without _hash".
 *
 * Grading is as for commits: none, bad, good (the key is in the repository's trusted keys) or
 * unknown (it verifies, the key is not trusted). A read that asks for signatures
 * (CAIRN_COLL_VERIFY_SIG) accepts good, and unknown only when the repository trusts no key at
 * all (then a signature proves integrity under the key it names, not who that is).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "doc/doc_int.h"
#include "repo/keys.h"

#define DOC_SIG_DOMAIN "cairn document signature v1\n"
#define SIG_FIELD "_sig"
#define HASH_FIELD "_hash"

/* domain, the collection's name, a zero byte, the document's canonical bytes */
static int signing_payload(cairn_buf *out, const char *coll, const void *canon, size_t len)
{
    out->len = 0;
    if (cairn_buf_append(out, DOC_SIG_DOMAIN, sizeof DOC_SIG_DOMAIN - 1) ||
        cairn_buf_append(out, coll, strlen(coll) + 1) || cairn_buf_append(out, canon, len))
        return ERR(CAIRN_ENOMEM, "out of memory signing a document");
    return CAIRN_OK;
}

int dv_sig_add(json_t *doc, const cairn_buf *canon0, cairn_signer *signer, const char *coll)
{
    cairn_buf payload = CAIRN_BUF_INIT;
    TRY(signing_payload(&payload, coll, canon0->data, canon0->len));
    uint8_t sig[SIG_SIZE], pub[SIG_PUBLIC_SIZE];
    int rc = signer_sign_bytes(signer, sig, pub, payload.data, payload.len);
    cairn_buf_dispose(&payload);
    if (rc != CAIRN_OK) return rc;
    char sh[2 * SIG_SIZE + 1], ph[2 * SIG_PUBLIC_SIZE + 1];
    hex_encode(sh, sig, sizeof sig);
    hex_encode(ph, pub, sizeof pub);
    json_t *s = json_pack("{s:s,s:s}", "key", ph, "sig", sh);
    FAIL_IF(!s || json_object_set_new(doc, SIG_FIELD, s), CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* ---- the trusted keys ---- */

void dv_trust_dispose(dv_trust *t)
{
    free(t->keys);
    memset(t, 0, sizeof *t);
}

static int trust_add(const char *line, void *payload)
{
    dv_trust *t = payload;
    cairn_key_info k;
    if (cairn_key_parse_public(&k, line) != CAIRN_OK) { /* cairn_trust_key() checked it */
        cairn_error_clear();
        return 0;
    }
    if (cairn_array_room(&t->keys, &t->cap, t->n, sizeof *t->keys, 4) != CAIRN_OK)
        return CAIRN_ENOMEM;
    memcpy(t->keys[t->n++], k.public_key, SIG_PUBLIC_SIZE);
    return 0;
}

static int trust_load(dv_trust *t, cairn_db *db)
{
    if (t->loaded) return CAIRN_OK;
    int rc = cairn_trusted_keys(db, trust_add, t);
    FAIL_IF(rc == CAIRN_ENOMEM, CAIRN_ENOMEM, "out of memory reading the trusted keys");
    TRY(rc);
    t->loaded = true;
    return CAIRN_OK;
}

/* ---- grading ---- */

/* Exactly 2n lower-case hex digits into out. */
static bool hex_exact(uint8_t *out, size_t n, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 2 * n) return false;
    for (size_t i = 0; i < 2 * n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return sodium_hex2bin(out, n, s, 2 * n, NULL, NULL, NULL) == 0;
}

static void bad(cairn_doc_sig_info *out, const char *why)
{
    out->status = CAIRN_SIG_BAD;
    snprintf(out->reason, sizeof out->reason, "%s", why);
}

/* Checks _hash (the canonical form without it) and the signature (without _hash and _sig). */
static int grade_parsed(cairn_doc_sig_info *out, const char *coll, json_t *doc)
{
    json_t *sig = json_incref(json_object_get(doc, SIG_FIELD));
    json_t *hash = json_incref(json_object_get(doc, HASH_FIELD));
    cairn_buf canon = CAIRN_BUF_INIT, payload = CAIRN_BUF_INIT;
    uint8_t sb[SIG_SIZE];
    bool well_formed = json_is_object(sig) && json_object_size(sig) == 2 &&
                       hex_exact(out->public_key, SIG_PUBLIC_SIZE, json_object_get(sig, "key")) &&
                       hex_exact(sb, SIG_SIZE, json_object_get(sig, "sig"));
    if (json_is_object(sig) && hex_exact(out->public_key, SIG_PUBLIC_SIZE,
                                         json_object_get(sig, "key")))
        key_fingerprint(out->signer, out->public_key);
    int rc = CAIRN_OK;
    json_object_del(doc, HASH_FIELD);
    if (hash) { /* _hash: SHA-256 of the canonical form without it (with _sig) */
        rc = canon_write(&canon, doc, NULL, "document");
        cairn_id h;
        char hex[CAIRN_ID_HEX_SIZE];
        if (rc == CAIRN_OK) {
            hash_sha256(&h, canon.data, canon.len);
            cairn_id_to_hex(hex, &h);
        }
        if (rc == CAIRN_OK && (!json_is_string(hash) || strcmp(json_string_value(hash), hex) != 0))
            bad(out, "its _hash does not match its content: it was altered after it was written");
    }
    if (rc == CAIRN_OK && out->status == CAIRN_SIG_NONE && !well_formed)
        bad(out, "its _sig is not {\"key\": 64 hex digits, \"sig\": 128 hex digits}");
    if (rc == CAIRN_OK && out->status == CAIRN_SIG_NONE) {
        json_object_del(doc, SIG_FIELD);
        canon.len = 0;
        rc = canon_write(&canon, doc, NULL, "document");
        if (rc == CAIRN_OK) rc = signing_payload(&payload, coll, canon.data, canon.len);
        int s = rc == CAIRN_OK ? key_verify_bytes(sb, out->public_key, payload.data, payload.len)
                               : rc;
        if (s < 0) rc = s;
        else if (s != SIG_GOOD)
            bad(out, "its signature does not verify: the document was altered after it was "
                     "signed, or signed for another collection");
        else out->status = CAIRN_SIG_UNKNOWN; /* graded against the trusted keys next */
    }
    json_decref(sig);
    json_decref(hash);
    cairn_buf_dispose(&canon);
    cairn_buf_dispose(&payload);
    return rc;
}

int dv_sig_grade(cairn_doc_sig_info *out, cairn_coll *c, dv_trust *t, const char *doc, size_t len)
{
    memset(out, 0, sizeof *out);
    json_t *j;
    TRY(canon_parse(&j, doc, len, "document"));
    int rc = json_is_object(j) ? CAIRN_OK
                               : ERR(CAIRN_EINVAL, "collection %s: a document must be a JSON "
                                     "object", c->name);
    bool has_sig = rc == CAIRN_OK && json_object_get(j, SIG_FIELD);
    if (has_sig) rc = grade_parsed(out, c->name, j);
    json_decref(j);
    if (rc == CAIRN_OK) rc = trust_load(t, c->db);
    if (rc < 0) return rc;
    out->trust_list = t->n > 0;
    if (out->status == CAIRN_SIG_UNKNOWN)
        for (size_t i = 0; i < t->n; i++)
            if (memcmp(t->keys[i], out->public_key, SIG_PUBLIC_SIZE) == 0)
                out->status = CAIRN_SIG_GOOD;
    return CAIRN_OK;
}

int cairn_doc_sig_check(cairn_doc_sig_info *out, cairn_coll *c, const char *doc, size_t len)
{
    FAIL_IF(!out || !c || !doc, CAIRN_EINVAL, "cairn_doc_sig_check: out, coll and doc are required");
    dv_trust t = { 0 };
    int rc = dv_sig_grade(out, c, &t, doc, len);
    dv_trust_dispose(&t);
    return rc;
}

int dv_sig_require(cairn_coll *c, dv_trust *t, const char *id, const char *doc, size_t len)
{
    if (!(c->flags & CAIRN_COLL_VERIFY_SIG)) return CAIRN_OK;
    cairn_doc_sig_info si;
    int rc = dv_sig_grade(&si, c, t, doc, len);
    if (rc == CAIRN_EINVAL) /* stored bytes that do not parse: damage, not a caller's error */
        return CORRUPT("collection %s: the stored document %s is not a JSON object", c->name, id);
    TRY(rc);
    switch (si.status) {
    case CAIRN_SIG_GOOD:
        return CAIRN_OK;
    case CAIRN_SIG_UNKNOWN:
        if (!si.trust_list) return CAIRN_OK;
        return ERR(CAIRN_EAUTH, "collection %s: document %s is signed by key %s, which the "
                   "repository does not trust (cairn key trust adds a key)", c->name, id,
                   si.signer);
    case CAIRN_SIG_NONE:
        return ERR(CAIRN_EAUTH, "collection %s: document %s is not signed (no _sig), and the "
                   "read asks for signatures", c->name, id);
    default:
        return ERR(CAIRN_EAUTH, "collection %s: document %s (key %s): %s", c->name, id,
                   si.signer[0] ? si.signer : "none", si.reason);
    }
}
