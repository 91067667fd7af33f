/*
 * store.h - opening the built-in store backends (mem, local). Backends implement the vtable of
 * include/cairn/sys/store.h; everything the layers above ask of a store (maintenance included)
 * goes through that vtable, never through a backend's own functions.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <pthread.h>

#include "base/base.h"

/** The gc candidates a remote store handle was told of (set_candidates; cands.c): sorted
 *  keys, and which of them this handle has written again since. Not thread-safe: the store
 *  guards it with its own mutex. */
typedef struct store_cands {
    cairn_id *keys;
    bool *done;
    size_t n;
} store_cands;

/** Replaces *slot (guarded by mu) with a copy of keys[0..n) (sorted), none written again yet.
 *  @return CAIRN_OK; CAIRN_ENOMEM (*slot unchanged). */
int store_cands_set(store_cands *slot, pthread_mutex_t *mu, const cairn_id *keys, size_t n);
/** Frees and empties; accepts an empty set. */
void store_cands_free(store_cands *c);
/** Whether key is a candidate this handle has not written again (so has must say absent and
 *  put must write it); with take, counts it as written again from now on. */
bool store_cands_pending(store_cands *c, const cairn_id *key, bool take);

/** A private in-memory store (chunks and refs), thread-safe. */
int store_mem_open(cairn_store **out);

/** The local pack-file store in directory `path` (see local.c and docs/FORMAT.md).
 *  flags: CAIRN_OPEN_CREATE, CAIRN_OPEN_EXCL, CAIRN_OPEN_READONLY. */
int store_local_open(cairn_store **out, const char *path, unsigned flags,
                     unsigned lock_timeout_ms);

/** The s3 store at url "s3://BUCKET[/PREFIX]?endpoint=...&region=..." (see s3.c, and
 *  docs/FORMAT.md, "S3 store"). flags: CAIRN_OPEN_CREATE (creates the bucket too when it is
 *  missing), CAIRN_OPEN_EXCL, CAIRN_OPEN_READONLY.
 *  @return CAIRN_OK; CAIRN_EINVAL (a malformed URL); CAIRN_ENOTFOUND (no store, or no bucket);
 *          CAIRN_EEXIST; CAIRN_EAUTH (no or wrong credentials); CAIRN_EIO (unreachable). */
int store_s3_open(cairn_store **out, const char *url, unsigned flags);
/** Whether url is an s3 URL store_s3_open() takes (its form and parameters; nothing is asked
 *  of a server): CAIRN_OK or CAIRN_EINVAL saying what is wrong. */
int store_s3_url_check(const char *url);

/** Test hook: stores opened from now on send no If-None-Match / If-Match headers, as a server
 *  that ignores conditional writes would behave (their probe at open then refuses writes). */
void store_s3_test_drop_conditions(bool on);

/** A store of files only (the file_* methods; no chunks, no refs) at location, today a
 *  directory (dirfiles.c): for the write-ahead log of a store that has no file namespace (the
 *  wal_dir open option).
 *  flags: CAIRN_OPEN_CREATE (make root, with its parents, when missing), CAIRN_OPEN_READONLY.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EINVAL (not a directory); CAIRN_EIO; ENOMEM. */
int store_files_open(cairn_store **out, const char *location, unsigned flags);

/** The postgres store (pg.c): url is postgres://USER@HOST:PORT/DB?table_prefix=P,
 *  postgresql://... or "pg:" + a libpq conninfo. CAIRN_OPEN_CREATE creates the tables when
 *  missing; CAIRN_OPEN_EXCL then fails when they exist; CAIRN_OPEN_READONLY makes the session
 *  read-only.
 *  @return CAIRN_OK; CAIRN_EINVAL (malformed URL); CAIRN_EIO (cannot connect: names host and
 *          port); CAIRN_EAUTH (credentials: names the user); CAIRN_ENOTFOUND (no schema: run
 *          cairn init; no database); CAIRN_EEXIST; CAIRN_EUNSUPPORTED (another schema version);
 *          CAIRN_ENOMEM. */
int store_pg_open(cairn_store **out, const char *url, unsigned flags);
/** Whether url is a postgres URL store_pg_open() takes (libpq parses it; nothing connects):
 *  CAIRN_OK or CAIRN_EINVAL saying what is wrong. */
int store_pg_url_check(const char *url);

/** Test hook: the size in bytes past which a local store seals its current pack and starts the
 *  next (default 128 MiB; 0 restores the default). Ignored for other stores. */
void store_local_set_pack_max(cairn_store *st, uint64_t bytes);

/* ---- undoing a failed create (store.c) ----
 * A create that fails part-way (a full disk, a failed sync) must leave the location as it was,
 * or a second create finds a half-made repository that opens as if healthy. Before opening
 * with CAIRN_OPEN_CREATE, the caller records what is at the location; when the open fails, it
 * removes what the open made. Only a local directory that did not exist or was empty is
 * recorded: anything else is never touched (a remote store's objects are not removed). */
typedef struct store_create_undo {
    char *dir;    /* the directory to empty (and remove, unless it existed); NULL: nothing */
    bool existed; /* it existed (empty) before: emptied, kept */
} store_create_undo;

/** Records what is at url before a create. @return CAIRN_OK or CAIRN_ENOMEM. */
int store_create_prepare(store_create_undo *u, const char *url);
/** After a failed create (its store closed): removes what it made, best effort, depth first.
 *  Releases u. */
void store_create_rollback(store_create_undo *u);
/** After a successful create: releases u, removing nothing. */
void store_create_forget(store_create_undo *u);
/* ---- the disk cache of remote stores (diskcache.c; docs/FORMAT.md, "Disk cache") ---- */

#define STORE_DISKCACHE_DEFAULT_SIZE (1ull << 30) /* cache.size when not set */

/** Wraps inner in the disk cache under directory `root` (made when missing), in the
 *  subdirectory of repository identity `ident` (a URL: its credentials are left out), with
 *  `bound` bytes for everything under root: *out reads through it and owns inner (closing *out
 *  closes inner). A directory that cannot be used is reported as a warning and *out is inner
 *  itself: a cache never stops an open.
 *  @return CAIRN_OK, or CAIRN_ENOMEM (inner closed). */
int store_diskcache_wrap(cairn_store **out, cairn_store *inner, const char *root,
                         const char *ident, uint64_t bound);

/** What the URL dispatch does after opening a store: wraps inner in its disk cache when inner
 *  is remote (CAIRN_STORE_CAP_REMOTE), or any store when the environment says CAIRN_CACHE=on;
 *  not when CAIRN_CACHE=off or CAIRN_CACHE_SIZE=0. The directory is CACHE_ROOT/H, H the first
 *  32 hex digits of SHA-256 of url without credentials; CACHE_ROOT is $CAIRN_CACHE_DIR, else
 *  $XDG_CACHE_HOME/cairn, else ~/.cache/cairn. Else *out = inner. */
int store_diskcache_open(cairn_store **out, cairn_store *inner, const char *url);

/** Whether url is one this build's stores take: a path, file://, mem:, or an s3:// or
 *  postgres:// URL whose form and parameters parse. CAIRN_OK, or CAIRN_EINVAL saying what is
 *  wrong. Opens and connects to nothing: a store that is missing is found at open. */
int store_url_check(const char *url);

/** cairn_store_open_url without the disk cache: for the far side of a push, fetch or clone,
 *  which reads each chunk once (caching what a clone copies only doubles its writes). */
int store_open_url_uncached(cairn_store **out, const char *url, unsigned flags,
                            unsigned lock_timeout_ms);

/** Whether st is a store wrapped by store_diskcache_open or store_diskcache_wrap. */
bool store_diskcache_active(const cairn_store *st);

/** Applies the repository's settings cache.dir and cache.size (NULL: not set) to a store opened
 *  by store_diskcache_open (any other store is left alone): moves the cache to another root,
 *  bounds it anew, or turns it off (size 0). The environment (CAIRN_CACHE, CAIRN_CACHE_DIR,
 *  CAIRN_CACHE_SIZE) still wins over the settings. Never fails: a cache that cannot be used is
 *  a warning. */
void store_diskcache_configure(cairn_store *st, const char *url, const char *dir_setting,
                               const char *size_setting);

/** Parses a cache size: bytes, or a number with K, M, G or T (powers of 1024); 0 is allowed
 *  (off). @return CAIRN_OK or CAIRN_EINVAL. */
int store_diskcache_parse_size(const char *text, uint64_t *out);

#endif /* CAIRN_STORE_H */
