/*
 * sig.c - grading and applying commit signatures (see sig.h). Verification needs only
 * the keys module's Ed25519 check and the repository's trusted keys; signing uses a key loaded by the keys
 * module (cairn_signer).
 */
#include "vc/config.h"
#include "vc/sig.h"

void sig_fingerprint(char out[17], const uint8_t pub[32]) { key_fingerprint(out, pub); }

int sig_status(cairn_db *db, const commit *c, int *status, char fpr[17])
{
    fpr[0] = '\0';
    *status = CAIRN_SIG_NONE;
    if (!c->is_signed) return CAIRN_OK;
    key_fingerprint(fpr, c->signer);
    int v = key_verify_commit(c);
    if (v < 0) return v;
    if (v != SIG_GOOD) {
        *status = CAIRN_SIG_BAD;
        return CAIRN_OK;
    }
    bool trusted;
    TRY(config_is_trusted(db, c->signer, &trusted));
    *status = trusted ? CAIRN_SIG_GOOD : CAIRN_SIG_UNKNOWN;
    return CAIRN_OK;
}

int sig_apply(cairn_db *db, commit *c, cairn_signer *signer)
{
    if (!signer) {
        bool required;
        TRY(config_require_signature(db, &required));
        FAIL_IF(required, CAIRN_EAUTH,
                "this repository requires signed commits (setting %s); sign with a key",
                CONFIG_REQUIRE_SIGNATURE);
        return CAIRN_OK;
    }
    /* a custom signer's sign() runs here, under the writer lock: calls back must not wait */
    const void *prev = cairn_cb_enter(db);
    int rc = signer_sign_commit(signer, c);
    cairn_cb_leave(prev);
    return rc;
}
