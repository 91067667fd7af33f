/*
 * config.h - repository settings, kept in a chunk (a JSON object) named by the ref "config" and
 * replaced by compare-and-swap like any other ref. Settings: "commit.require_signature"
 * ("true"/"false"), "trusted_keys" (public key lines, as in a .pub file), and the log's segment
 * sizes "wal.segment_min" and "wal.segment_max" (read at open by db/settings.c).
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include "db/db.h"

#define CONFIG_REF "config" /* = SETTINGS_REF (db/settings.h, which reads them) */
#define CONFIG_REQUIRE_SIGNATURE "commit.require_signature"
#define CONFIG_TRUSTED_KEYS "trusted_keys"

/** Whether commits must be signed. */
int config_require_signature(cairn_db *db, bool *out);
/** Whether a public key is in the trusted list. */
int config_is_trusted(cairn_db *db, const uint8_t pub[32], bool *out);

#endif /* CAIRN_CONFIG_H */
