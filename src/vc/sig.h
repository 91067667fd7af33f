/*
 * sig.h - commit signatures as the repository sees them: signing a commit being made (with a
 * loaded key), and grading a commit's signature against the repository's trusted keys.
 */
#ifndef CAIRN_SIG_H
#define CAIRN_SIG_H

#include "db/db.h"
#include "repo/commit.h"
#include "repo/keys.h" /* signer_sign_commit(): signs c with a loaded key */

/** Signs c with signer (NULL: leaves it unsigned, unless the repository requires signatures:
 *  then CAIRN_EAUTH). */
int sig_apply(cairn_db *db, commit *c, cairn_signer *signer);

/** Grades c's signature: *status is an enum cairn_sig_status; fpr gets the signer's
 *  fingerprint (16 hex digits) or "". */
int sig_status(cairn_db *db, const commit *c, int *status, char fpr[17]);

/** The fingerprint of a public key: the first 16 hex digits of its SHA-256. */
void sig_fingerprint(char out[17], const uint8_t pub[32]);

#endif /* CAIRN_SIG_H */
