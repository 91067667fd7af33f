/*
 * settings.h - reading the repository's settings: a JSON object in a chunk named by the ref
 * "config" (docs/FORMAT.md, "Settings"). They are read here, below the version-control layer
 * that writes them (vc/config.c), because opening a database needs some of them: the sizes of
 * the write-ahead log's segments.
 */
#ifndef CAIRN_DB_SETTINGS_H
#define CAIRN_DB_SETTINGS_H

#include <jansson.h>

#include "db/db.h"

#define SETTINGS_REF "config"
#define SETTING_WAL_SEGMENT_MIN "wal.segment_min" /* the log's first (smallest) segment */
#define SETTING_WAL_SEGMENT_MAX "wal.segment_max" /* the largest a segment grows to */
#define SETTING_GC_GRACE "gc.grace"               /* gc on a remote store: the grace period */
#define SETTING_CACHE_DIR "cache.dir"              /* where remote stores' disk caches live */
#define SETTING_CACHE_SIZE "cache.size"            /* their bound in bytes; 0: no disk cache */
#define SETTING_SIZE_LOW (64ull << 10)            /* the range a segment size setting takes */
#define SETTING_SIZE_HIGH (1ull << 30)

/** Loads the settings object (an empty one when there are none yet); *exists says whether the
 *  ref exists and *out_id is its chunk then. Caller json_decref()s *out. */
int settings_load(cairn_db *db, json_t **out, cairn_id *out_id, bool *exists);
/** The same, for a repository opened without a handle (e.g. the far side of a push). */
int settings_load_repo(repo *r, json_t **out, cairn_id *out_id, bool *exists);

/** Parses a size setting: a whole number of bytes, or one with a K, M or G suffix (powers of
 *  1024), within [SETTING_SIZE_LOW, SETTING_SIZE_HIGH]. CAIRN_EINVAL names the setting. */
int settings_parse_size(const char *name, const char *text, uint64_t *out);

/** Parses a duration setting: whole seconds, or a number with s, m, h or d, at least `floor`
 *  seconds. CAIRN_EINVAL names the setting. */
int settings_parse_duration(const char *name, const char *text, double floor, double *out);

/** gc's grace period on a remote store as set (gc.grace), or `dflt` when it is not set; a
 *  setting that cannot be read or parsed is reported as a warning and the default used. */
double settings_gc_grace(cairn_db *db, double dflt);

/** The log's segment sizes as set (0 where a setting is not set). A setting that cannot be read
 *  or parsed is reported as a warning and left at 0 (the defaults): it never stops an open. */
void settings_wal_sizes(cairn_db *db, uint64_t *min, uint64_t *max);

/** Applies the settings cache.dir and cache.size to the disk cache the repository's store is
 *  read through, when it has one (store/diskcache.c). Never fails: a setting that cannot be
 *  read is a warning and the cache keeps its defaults. */
void settings_disk_cache(cairn_db *db);

#endif /* CAIRN_DB_SETTINGS_H */
