/*
 * store.h - the built-in store backends (mem, local) and helpers every backend shares.
 * Backends implement the vtable of include/cairn/sys/store.h.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "base/base.h"

#define REF_NAME_MAX 255
#define REF_VALUE_MAX 4096

/** A private in-memory store (chunks and refs), thread-safe. */
int store_mem_open(cairn_store **out);

/** The local pack-file store in directory `path` (see local.c and docs/FORMAT.md).
 *  flags: CAIRN_OPEN_CREATE, CAIRN_OPEN_EXCL, CAIRN_OPEN_READONLY. */
int store_local_open(cairn_store **out, const char *path, unsigned flags,
                     unsigned lock_timeout_ms);

/** A store of files only (the file_* methods; no chunks, no refs) at location, today a
 *  directory (dirfiles.c): for the write-ahead log of a store that has no file namespace (the
 *  wal_dir open option).
 *  flags: CAIRN_OPEN_CREATE (make root, with its parents, when missing), CAIRN_OPEN_READONLY.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EINVAL (not a directory); CAIRN_EIO; ENOMEM. */
int store_files_open(cairn_store **out, const char *location, unsigned flags);

/** Test hook: the size in bytes past which a local store seals its current pack and starts the
 *  next (default 128 MiB; 0 restores the default). Ignored for other stores. */
void store_local_set_pack_max(cairn_store *st, uint64_t bytes);

/** Compacts a local store (for garbage collection): every sealed pack whose live fraction (bytes
 *  of records still referenced / bytes of records in the pack) is below min_live_fraction has its
 *  live chunks copied into the current pack and is deleted. Tombstones survive as long as an
 *  older pack still holds a record of their key. Crash-safe at every step: the copies are flushed
 *  before an old pack is unlinked; other processes that have the old pack open keep reading it.
 *  @param[out] out_bytes_freed  bytes of pack and index files deleted minus bytes appended (may be
 *                               NULL)
 *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_EINVAL (not a local store); CAIRN_ECORRUPT (a pack
 *          to compact is damaged: nothing is deleted); CAIRN_EIO; CAIRN_ENOSPC; CAIRN_ENOMEM. */
int store_local_compact(cairn_store *st, double min_live_fraction, uint64_t *out_bytes_freed);

/** Seals the current pack of a local store (makes it durable, writes its index and starts the
 *  next pack) when it holds records and its live fraction (live chunks and tombstones, which
 *  compaction may have to carry on) is below min_live_fraction, so that a
 *  following store_local_compact() with the same fraction may rewrite it. Garbage collection
 *  uses it: otherwise the chunks it deletes from the pack being written could never be
 *  reclaimed until that pack filled up.
 *  @param[out] out_sealed  whether a pack was sealed (may be NULL)
 *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_EINVAL (not a local store); CAIRN_EIO; CAIRN_ENOSPC. */
int store_local_seal(cairn_store *st, double min_live_fraction, bool *out_sealed);

/** Where a local store keeps a chunk: the number of its pack (packs/pack-NNNNNNNN.pack) and the
 *  offset of its record there (docs/FORMAT.md, "Pack file"), for messages that send an operator
 *  to the damaged bytes.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (absent); CAIRN_EINVAL (not a local store). */
int store_local_locate(cairn_store *st, const cairn_id *id, uint32_t *out_pack,
                       uint64_t *out_offset);

/** Pack files of a local store: how many are in use, and the number of the newest.
 *  @return CAIRN_OK or CAIRN_EINVAL (not a local store). */
int store_local_packs(cairn_store *st, uint64_t *out_open, uint32_t *out_newest);

/** Checks a ref name against the rules in cairn/sys/store.h; CAIRN_EINVAL with a message. */
int store_check_ref_name(const char *name);
/** Checks a name of the file namespace (cairn/sys/store.h, version 3); with dir, a directory
 *  name: "" (the top) or a name with or without a trailing '/'. CAIRN_EINVAL with a message. */
int store_check_file_name(const char *name, bool dir);
/** Checks the sizes of a ref_cas call; CAIRN_EINVAL with a message. */
int store_check_ref_value(const char *name, size_t len);

#endif /* CAIRN_STORE_H */
