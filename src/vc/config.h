/*
 * config.h - repository settings, kept in a chunk (a JSON object) named by the ref "config" and
 * replaced by compare-and-swap like any other ref. Settings: "commit.require_signature"
 * ("true"/"false"), "audit.reads" ("true"/"false": record reads in the access log,
 * include/cairn/audit.h), "trusted_keys" (public key lines, as in a .pub file), "remotes", and
 * the log's segment sizes "wal.segment_min" and "wal.segment_max" (read at open by
 * db/settings.c).
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <jansson.h>

#include "db/db.h"

#define CONFIG_REF "config" /* = SETTINGS_REF (db/settings.h, which reads them) */
#define CONFIG_REQUIRE_SIGNATURE "commit.require_signature"
#define CONFIG_TRUSTED_KEYS "trusted_keys"
#define CONFIG_AUDIT_READS "audit.reads" /* record reads in the access log (cairn/audit.h) */
#define CONFIG_REMOTES "remotes"     /* {"NAME": "URL", ...}: see cairn_remote_add() */

/** Loads the settings object of repository r (an empty one when there are none yet; *exists
 *  false). Caller json_decref()s. */
int config_load_repo(repo *r, json_t **out, cairn_id *out_id, bool *exists);
/** Replaces the settings of r by compare-and-swap from old (exists false: from none). */
int config_store_repo(repo *r, json_t *obj, const cairn_id *old, bool exists);

/** Whether commits must be signed. */
int config_require_signature(cairn_db *db, bool *out);
/** Whether a public key is in the trusted list. */
int config_is_trusted(cairn_db *db, const uint8_t pub[32], bool *out);

#endif /* CAIRN_CONFIG_H */
