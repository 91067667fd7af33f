/*
 * cairn/sys/store.h - the interface for chunk-and-ref store backends.
 *
 * A store keeps two things: chunks (opaque byte strings named by a 32-byte key) and refs (small
 * named values moved only by compare-and-swap). cairn's core does framing, compression, hashing
 * and caching above this interface; a backend only moves bytes. The core re-hashes whatever a
 * backend returns, so a backend that returns wrong bytes is caught, never believed.
 *
 * A backend is a struct cairn_store embedded as the first member of the backend's own struct,
 * with version = CAIRN_STORE_VERSION and function pointers filled in. New members are only
 * ever added at the end; the core checks `version` before touching them. A NULL method means
 * "not supported" (the core falls back or reports CAIRN_EUNSUPPORTED).
 *
 * Contracts every backend keeps (the conformance suite in tests/ checks them):
 *  - Methods may be called from several threads at once.
 *  - put is idempotent: putting a key that exists succeeds and leaves a valid copy.
 *  - A put is atomic: get returns all of the bytes last put under the key, or CAIRN_ENOTFOUND,
 *    never a prefix or a mix, even after a crash.
 *  - Nothing is durable until flush() returns CAIRN_OK; after that it survives a crash or power
 *    loss (when caps has CAIRN_STORE_CAP_DURABLE).
 *  - get returns the complete object (no short reads) into `out`, replacing its contents.
 *  - ref_cas compares and swaps atomically: it succeeds only when the ref's current value is
 *    exactly `expect` (expect == NULL: the ref must not exist), and then sets it to `val`
 *    (val == NULL: deletes it). A mismatch is CAIRN_ECONFLICT and changes nothing. A successful
 *    ref_cas is durable on return (it also orders after every earlier put: the data a ref points
 *    to must be flushed by the caller before the ref moves).
 *  - Errors are the codes of cairn.h with a message set through cairn_store_error().
 *  - ref_list reports every readable ref even when some cannot be read (damaged): it skips
 *    those and then returns CAIRN_ECORRUPT naming them.
 */
#ifndef CAIRN_SYS_STORE_H
#define CAIRN_SYS_STORE_H

#include <stdarg.h>
#include <stdbool.h>
#include "../../cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A growable byte buffer. Zero-initialise ({0}) before first use; free with cairn_buf_dispose(). */
typedef struct cairn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} cairn_buf;

#define CAIRN_BUF_INIT { NULL, 0, 0 }

/** Ensures room for at least `cap` bytes. @return CAIRN_OK or CAIRN_ENOMEM. */
CAIRN_API int cairn_buf_reserve(cairn_buf *buf, size_t cap);
/** Replaces the contents. @return CAIRN_OK or CAIRN_ENOMEM. */
CAIRN_API int cairn_buf_set(cairn_buf *buf, const void *data, size_t len);
/** Appends. @return CAIRN_OK or CAIRN_ENOMEM. */
CAIRN_API int cairn_buf_append(cairn_buf *buf, const void *data, size_t len);
/** Frees the memory and resets to empty. */
CAIRN_API void cairn_buf_dispose(cairn_buf *buf);

/** Sets the calling thread's last error (printf-style message) and returns `code`, so that a
 *  backend can write `return cairn_store_error(CAIRN_EIO, "pack %s: %s", path, strerror(e));`. */
CAIRN_API int cairn_store_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define CAIRN_STORE_VERSION 7 /* 2: get_mapped; 3: files, maintenance; 4: repair; 5: batches;
                                 6: gc generations; 7: will_read */

/* Capability bits (cairn_store.caps). */
#define CAIRN_STORE_CAP_DURABLE 0x1u  /**< flush() makes data survive power loss */
#define CAIRN_STORE_CAP_SHARED 0x2u   /**< other processes may read while one writes */
#define CAIRN_STORE_CAP_REF_CAS 0x4u  /**< ref_cas is atomic against other processes too */
#define CAIRN_STORE_CAP_FILES 0x8u    /**< (version 3) the file_* methods: a namespace of named,
                                           writable byte files beside the chunks, for the
                                           write-ahead log, reader pins and other state */
#define CAIRN_STORE_CAP_FILE_LOCKS 0x10u /**< file_lock excludes other processes too (not only
                                              other handles of this process) */
#define CAIRN_STORE_CAP_COMPACT 0x20u /**< (version 3) the compact method: deleted chunks' space
                                           is reclaimed by rewriting files, not at del */
#define CAIRN_STORE_CAP_LOCATE 0x40u  /**< (version 3) the locate method: where a chunk's bytes
                                           are, for messages about damage */
#define CAIRN_STORE_CAP_REPAIR 0x80u  /**< (version 4) the repair and ref_remove_damaged
                                           methods */
#define CAIRN_STORE_CAP_REMOTE 0x100u /**< (version 5) reached over a network: each call costs a
                                           round trip, so callers batch (get_many, has_many,
                                           put_many) and read through a cache */
#define CAIRN_STORE_CAP_ORDERED 0x200u /**< (version 6) puts become visible to other handles,
                                            and durable, in the order they were made: whatever
                                            a crash, a kill or a failed flush leaves of the puts
                                            since the last flush is a prefix of them. A writer
                                            that puts what a chunk names before the chunk then
                                            needs no flush in between (push, clone) */
#define CAIRN_STORE_CAP_GC_GEN 0x400u /**< (version 6) gc_gen, set_candidates and del_older:
                                           gc's deletions spare chunks written again since
                                           its record */

/** (version 3) An open file of a store's file namespace: the backend's own type, opaque to the
 *  core, which only hands it back to the same store's file_* methods. */
typedef struct cairn_store_file cairn_store_file;

/* file_open flags */
#define CAIRN_FILE_WRITE 0x1u   /**< open for writing too (else read only) */
#define CAIRN_FILE_CREATE 0x2u  /**< create when missing (with its parent directories) */
#define CAIRN_FILE_EXCL 0x4u    /**< with CREATE: CAIRN_EEXIST when it exists */
#define CAIRN_FILE_TRUNC 0x8u   /**< empty it on open */

/* file_sync modes */
#define CAIRN_FILE_SYNC_DATA 0u /**< the bytes written (fdatasync) */
#define CAIRN_FILE_SYNC_ALL 1u  /**< the bytes and the file's size and metadata (fsync) */

/* file_lock modes: an advisory lock held until file_close (or released with UNLOCK) */
#define CAIRN_FILE_UNLOCK 0u
#define CAIRN_FILE_LOCK_SHARED 1u
#define CAIRN_FILE_LOCK_EXCLUSIVE 2u
#define CAIRN_FILE_LOCK_NOWAIT 4u /**< or'ed in: CAIRN_EBUSY at once instead of waiting */

/** Store-wide counters, from the stat method. */
typedef struct cairn_store_stats {
    uint64_t chunks;         /**< chunks present */
    uint64_t bytes;          /**< bytes of chunk data held (as stored) */
    uint64_t files;          /**< files or objects used (e.g. pack files); 0 if not meaningful */
    /* (version 5) what a remote store (CAIRN_STORE_CAP_REMOTE) has moved through this handle
     * since it was opened; 0 for other stores. Callers zero the struct before calling stat. */
    uint64_t requests;       /**< requests sent (each retry counts) */
    uint64_t bytes_sent;     /**< bytes of request bodies sent */
    uint64_t bytes_received; /**< bytes of response bodies received */
    /* (version 5) the on-disk cache a remote store is read through (README.md, "The disk
     * cache"); 0 and NULL when there is none */
    uint64_t cache_hits;     /**< chunks read from the disk cache since open */
    uint64_t cache_misses;   /**< chunks looked up there and not found (read from the store) */
    uint64_t cache_damaged;  /**< cache entries found damaged, dropped and fetched again */
    uint64_t cache_bytes;    /**< bytes the cache root holds now (every repository's cache) */
    uint64_t cache_bound;    /**< the bound the root is kept under (cache.size) */
    const char *cache_dir;   /**< the directory; borrowed, valid until the store is closed */
} cairn_store_stats;

/* compact flags */
#define CAIRN_STORE_COMPACT_SEAL 0x1u /**< first seal the file being written when its live
                                           fraction is below the threshold, so that it can be
                                           compacted too */
#define CAIRN_STORE_COMPACT_DEAD_ONLY 0x2u /**< only remove the files holding no live chunk,
                                                writing nothing (no seal, no copies): gc's
                                                first step, which frees space on a full disk
                                                before anything needs some */

/** What one compact call did. */
typedef struct cairn_store_compact_stats {
    uint64_t files_rewritten; /**< files whose live chunks were copied and which were removed */
    uint64_t bytes_freed;     /**< bytes of the files removed, less the bytes of the copies */
    bool sealed;              /**< the file being written was sealed first */
} cairn_store_compact_stats;

#define CAIRN_STORE_LOCATION_NAME_MAX 96

/** Where a store keeps a chunk (the locate method), for messages that send an operator to the
 *  damaged bytes. */
typedef struct cairn_store_location {
    uint32_t file;   /**< the number of the file holding it (the local store: the pack's number);
                          0 when the store does not number its files */
    uint64_t offset; /**< the byte offset of the chunk's record in that file */
    char name[CAIRN_STORE_LOCATION_NAME_MAX]; /**< the file, relative to the store's location
                          ("packs/pack-00000003.pack"); NUL-terminated */
} cairn_store_location;

/** (version 5) One chunk of a put_many call. */
typedef struct cairn_store_chunk {
    cairn_id key;
    const void *data;
    size_t len;
} cairn_store_chunk;

/** (version 5) Receives the result for chunk `i` of a get_many call: rc is CAIRN_OK (data, len
 *  hold the chunk's bytes, valid only during the call), CAIRN_ENOTFOUND, or another error for
 *  that chunk alone (its message set). Called once per chunk, in any order, on the calling
 *  thread only. A non-zero return stops the batch and get_many returns it. */
typedef int (*cairn_store_get_cb)(size_t i, int rc, const void *data, size_t len, void *payload);

typedef struct cairn_store cairn_store;

struct cairn_store {
    unsigned version;        /**< CAIRN_STORE_VERSION the backend was written against */
    unsigned caps;           /**< CAIRN_STORE_CAP_* */
    const char *kind;        /**< "mem", "local", ...: used in messages */
    const char *location;    /**< path or URL: used in messages */

    /** Reads a chunk into out. CAIRN_ENOTFOUND when absent. */
    int (*get)(cairn_store *st, cairn_buf *out, const cairn_id *key);
    /** Stores a chunk (idempotent). */
    int (*put)(cairn_store *st, const cairn_id *key, const void *data, size_t len);
    /** CAIRN_OK when present, CAIRN_ENOTFOUND when not. */
    int (*has)(cairn_store *st, const cairn_id *key);
    /** Removes a chunk; removing an absent one succeeds. Durable after flush(). */
    int (*del)(cairn_store *st, const cairn_id *key);
    /** Calls cb for every chunk, in no particular order; cb's non-zero return stops and is
     *  returned. Chunks put during the walk may or may not be reported. */
    int (*list)(cairn_store *st, int (*cb)(const cairn_id *key, uint64_t len, void *payload),
                void *payload);
    /** Durability barrier for every put and del before it. */
    int (*flush)(cairn_store *st);

    /** Reads a ref's value into out. CAIRN_ENOTFOUND when absent. Names are 1..255 bytes of
     *  [A-Za-z0-9._/@{}~^-], not starting or ending with '/', without "..", "//" or a "."
     *  component. As in git, a name may not also be a directory of other names: "a" and "a/b"
     *  cannot both exist (a backend may refuse the second with CAIRN_EINVAL). */
    int (*ref_get)(cairn_store *st, cairn_buf *out, const char *name);
    /** Compare-and-swap; see the contract above. Values are at most 4096 bytes. */
    int (*ref_cas)(cairn_store *st, const char *name, const void *expect, size_t expect_len,
                   const void *val, size_t val_len);
    /** Calls cb for each ref whose name starts with prefix ("" = all), in name order. */
    int (*ref_list)(cairn_store *st, const char *prefix,
                    int (*cb)(const char *name, const void *val, size_t len, void *payload),
                    void *payload);

    /** Store-wide counters. */
    int (*stat)(cairn_store *st, cairn_store_stats *out);
    /** Releases everything; flushes first when the backend buffers writes. */
    void (*close)(cairn_store *st);

    /* ---- version 2 ---- */

    /** Optional (NULL: not supported). Like get, but without a copy: points *out at the chunk's
     *  bytes in memory the store keeps mapped, unchanged and readable until close(). Returns
     *  CAIRN_EUNSUPPORTED for a chunk it cannot map (the caller then uses get). The caller
     *  verifies the bytes (SHA-256), so a backend may skip its own body checksums here. */
    int (*get_mapped)(cairn_store *st, const uint8_t **out, size_t *out_len, const cairn_id *key);

    /* ---- version 3: the file namespace (CAIRN_STORE_CAP_FILES) ----
     *
     * Besides chunks and refs, a store may keep named byte files that change in place: the
     * write-ahead log's segments, reader pins, the gc epoch. Names are relative paths of
     * components of [A-Za-z0-9._%-] joined by '/', none empty, "." or ".."; a "directory" is a
     * name prefix ending at a '/'. Every method is NULL when the backend has no such namespace;
     * the core then reports what it cannot do (no write-ahead log: every write checkpoints; no
     * reader pins) instead of touching the backend's storage by other means.
     *
     * Contracts: a write returns once all bytes are written or fails; nothing written is
     * durable before file_sync (CAIRN_STORE_CAP_DURABLE stores only); a file created,
     * renamed or removed is durable once file_sync_dir of its directory returns (or at once,
     * for a backend without directories). Reads past the end return fewer bytes. */

    /** Opens (or with CAIRN_FILE_CREATE creates) `name`. CAIRN_ENOTFOUND when absent and not
     *  created; CAIRN_EEXIST with CAIRN_FILE_EXCL. */
    int (*file_open)(cairn_store *st, cairn_store_file **out, const char *name, unsigned flags);
    /** Reads up to len bytes at off; *out_n is less than len only at the end of the file. */
    int (*file_read)(cairn_store *st, cairn_store_file *f, void *buf, size_t len, uint64_t off,
                     size_t *out_n);
    /** Writes all len bytes at off (extending the file as needed). */
    int (*file_write)(cairn_store *st, cairn_store_file *f, const void *buf, size_t len,
                      uint64_t off);
    /** Makes what was written durable: CAIRN_FILE_SYNC_DATA or CAIRN_FILE_SYNC_ALL. */
    int (*file_sync)(cairn_store *st, cairn_store_file *f, unsigned how);
    /** The file's size in bytes. */
    int (*file_size)(cairn_store *st, cairn_store_file *f, uint64_t *out);
    /** Sets the size: cuts the file, or extends it with zero bytes. */
    int (*file_resize)(cairn_store *st, cairn_store_file *f, uint64_t size);
    /** Optional (may be NULL even with the capability): makes the file at least size bytes
     *  long (the new bytes read as zeros, as with file_resize) with the space allocated, so
     *  that later writes within it cannot fail for lack of room (posix_fallocate). */
    int (*file_reserve)(cairn_store *st, cairn_store_file *f, uint64_t size);
    /** Optional: maps [0, len) read-only: *out stays valid and readable until file_unmap
     *  (also after file_close). */
    int (*file_map)(cairn_store *st, cairn_store_file *f, size_t len, const uint8_t **out);
    void (*file_unmap)(cairn_store *st, const uint8_t *map, size_t len);
    /** Takes or releases an advisory lock (CAIRN_FILE_LOCK_*); CAIRN_EBUSY with NOWAIT when
     *  another holder conflicts. Locks go with the open file and end at file_close. */
    int (*file_lock)(cairn_store *st, cairn_store_file *f, unsigned mode);
    /** Closes; accepts NULL. */
    void (*file_close)(cairn_store *st, cairn_store_file *f);
    /** Removes a file (CAIRN_ENOTFOUND when absent), or an empty directory when name ends in
     *  '/'. */
    int (*file_remove)(cairn_store *st, const char *name);
    /** Renames from to to atomically (making to's missing directories). With `replace` false
     *  it fails with CAIRN_EEXIST when to exists (nothing changes); with true it replaces it.
     *  CAIRN_ENOTFOUND when from does not exist. */
    int (*file_rename)(cairn_store *st, const char *from, const char *to, bool replace);
    /** Calls cb with the name (relative to dir) and size of each file directly in directory
     *  `dir` ("" = the top; subdirectories are reported with a trailing '/'), in no order; a
     *  missing directory has no entries. cb's non-zero return stops and is returned. */
    int (*file_list)(cairn_store *st, const char *dir,
                     int (*cb)(const char *name, uint64_t size, void *payload), void *payload);
    /** Makes the creations, renames and removals in dir ("" = the top) durable. */
    int (*file_sync_dir)(cairn_store *st, const char *dir);

    /* ---- version 3: maintenance ----
     *
     * What garbage collection and verification ask of a store beyond chunks and refs, so that
     * neither has to know how a backend lays out its bytes. Both are optional (NULL, and the
     * capability bit clear, when not supported): gc then deletes chunks without reclaiming
     * space beyond what del does, and says so; verify reports problems without a location. */

    /** (CAIRN_STORE_CAP_COMPACT) Reclaims the space of deleted chunks: every sealed file (a
     *  pack) whose live fraction (bytes of records still current / bytes of records it holds) is
     *  below min_live_fraction has its live chunks copied into the file being written, the
     *  deletions that must outlive it carried on, and is then removed. With
     *  CAIRN_STORE_COMPACT_SEAL the file being written is sealed first when its own live
     *  fraction is below min_live_fraction. A fraction above 1 rewrites every sealed file.
     *  A backend may copy fewer files than asked when its disk lacks the room (saying so in the
     *  log); with CAIRN_STORE_COMPACT_DEAD_ONLY it writes nothing at all.
     *  Crash-safe at every step: the copies are durable
     *  before a file is removed, and a crash leaves every chunk readable (run it again to
     *  finish). Other processes reading the store keep reading what they had. Puts, gets and
     *  dels may run meanwhile.
     *  @param[out] out  what was done (may be NULL); zeroed on entry
     *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_EINVAL (a negative or NaN fraction);
     *          CAIRN_ECORRUPT (a file to compact is damaged: nothing was removed); CAIRN_EIO;
     *          CAIRN_ENOSPC (the copies need room); CAIRN_ENOMEM. */
    int (*compact)(cairn_store *st, double min_live_fraction, unsigned flags,
                   cairn_store_compact_stats *out);
    /** (CAIRN_STORE_CAP_LOCATE) Fills *out with where the store keeps chunk `key` now.
     *  @return CAIRN_OK; CAIRN_ENOTFOUND (absent). */
    int (*locate)(cairn_store *st, const cairn_id *key, cairn_store_location *out);

    /* ---- version 4: damage ----
     *
     * A store that can find damage in its own files (checksums of records, headers and ref
     * slots) reports it here, so that verify lists it and an operator can act on it. */

    /** (CAIRN_STORE_CAP_REPAIR) Calls cb for each damaged or set-aside thing the store knows of
     *  (see cairn_repair_item in cairn.h) and, without CAIRN_REPAIR_DRY_RUN, repairs what can
     *  be repaired without losing anything (it never deletes or truncates). cb may be NULL; it
     *  must not call back into the store; its non-zero return stops and is returned.
     *  @param[out] out  counts (may be NULL); zeroed on entry
     *  @return CAIRN_OK; CAIRN_EREADONLY (repairing a read-only handle); CAIRN_EIO;
     *          CAIRN_ENOSPC; CAIRN_ENOMEM; cb's value. */
    int (*repair)(cairn_store *st, unsigned flags,
                  int (*cb)(const cairn_repair_item *item, void *payload), void *payload,
                  cairn_repair_stats *out);
    /** (CAIRN_STORE_CAP_REPAIR) Deletes ref `name` whose value cannot be read (a damaged file:
     *  ref_get fails with CAIRN_ECORRUPT), which ref_cas cannot do since no `expect` matches it.
     *  @return CAIRN_OK; CAIRN_ENOTFOUND (absent); CAIRN_EINVAL (bad name, or the ref reads
     *          fine: use ref_cas); CAIRN_EREADONLY; CAIRN_EIO. */
    int (*ref_remove_damaged)(cairn_store *st, const char *name);

    /* ---- version 5: batches ----
     *
     * Many chunks per call, so that a store reached over a network pays one round trip (or a
     * few, pipelined) per batch rather than one per chunk. All three are optional: the core's
     * cairn_store_get_many/has_many/put_many below fall back to the one-chunk methods for a
     * store that lacks them (an older version, or NULL). The same contracts hold per chunk as
     * for get, has and put; a batch is not atomic (after a failure some chunks may be stored).
     * Keys may repeat within a batch. n may be 0. */

    /** Reads chunks keys[0..n-1], delivering each through cb (see cairn_store_get_cb).
     *  @return CAIRN_OK when every chunk's result was delivered (each may be an error); an
     *          error that stopped the batch (e.g. CAIRN_EIO: the server went away), after which
     *          some chunks may not have been delivered; or cb's non-zero value. */
    int (*get_many)(cairn_store *st, const cairn_id *keys, size_t n, cairn_store_get_cb cb,
                    void *payload);
    /** Tells which of keys[0..n-1] are present: rcs[i] = CAIRN_OK (present), CAIRN_ENOTFOUND,
     *  or another error for that key. A chunk said present is present. On a store several
     *  handles write (CAIRN_STORE_CAP_SHARED), a chunk another handle stored is said present
     *  once this handle has read (ref_get, ref_list) a ref that was moved after that chunk was
     *  flushed; before that it may be said absent, so that a batch of absent chunks (a push)
     *  costs no round trip to look for others' writes. Callers that copy what is absent only
     *  copy some chunks again (put is idempotent); a caller that takes "absent" as "gone"
     *  (repo/retain.c: a table version's root) reads its ref first, which makes the answer
     *  hold for everything flushed before that ref moved. has answers for one chunk as of the
     *  call.
     *  @return CAIRN_OK when every rcs[i] was set; else an error for the whole batch. */
    int (*has_many)(cairn_store *st, const cairn_id *keys, size_t n, int *rcs);
    /** Puts chunks[0..n-1] (idempotent, like put; durable only after flush).
     *  @return CAIRN_OK when every chunk was stored; else the first error (its message
     *          names the chunk), some chunks possibly stored. */
    int (*put_many)(cairn_store *st, const cairn_store_chunk *chunks, size_t n);

    /* ---- version 6: gc generations (CAIRN_STORE_CAP_GC_GEN) ----
     *
     * A gc of a store that other machines write records the unreachable chunks as candidates
     * and deletes them a grace period later. A writer that starts after the record, finds a
     * candidate present by has (so does not upload it) and moves a ref naming it after the
     * deleting run's mark would lose it. These three close that gap (docs/ARCHITECTURE.md, "gc
     * on a remote store"): a writer is told the candidates and writes them again instead of
     * trusting has, and the deletion spares every chunk written again after the record. All
     * three or none. */

    /** The store's write generation now, into *out: every chunk written anew after this call
     *  returns (a put of a candidate, or of an absent chunk), by any process, has a larger
     *  generation. s3: the log's last sequence number; postgres: a sequence's next value. */
    int (*gc_gen)(cairn_store *st, uint64_t *out);
    /** Installs the candidates of the current gc record on this handle (keys sorted, n may be
     *  0; the store copies them), replacing those installed before. From then on has and
     *  has_many answer CAIRN_ENOTFOUND for a candidate until it is put again, and put and
     *  put_many write a candidate anew (s3: into a new pack; postgres: its row's generation
     *  raised) even though it is present. The handle also forgets what it knew of chunks'
     *  presence (s3: reads the log on), since the run that made this record may have deleted
     *  chunks of the one before. @return CAIRN_OK; CAIRN_ENOMEM; CAIRN_EIO. */
    int (*set_candidates)(cairn_store *st, const cairn_id *keys, size_t n);
    /** Deletes each of keys[0..n) that was not written anew after generation gen; a chunk
     *  written anew (before this call, or while the deletion is in flight) is spared, and
     *  kept[i] is set true for the spared chunks the call knew of (false for the others).
     *  Durable after flush(), like del.
     *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
    int (*del_older)(cairn_store *st, const cairn_id *keys, size_t n, uint64_t gen, bool *kept);
    /** Optional (NULL: the store leaves nothing behind that its index does not name). Removes
     *  the objects that hold chunk bytes no index entry names and were last modified at least
     *  min_age_seconds ago (s3: pack objects that a writer killed in a flush, or a flush that
     *  failed, uploaded and no log entry names). Younger ones may be a flush in progress.
     *  @param[out] out_objects, out_bytes  what was removed (zeroed on entry)
     *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
    int (*remove_orphans)(cairn_store *st, double min_age_seconds, uint64_t *out_objects,
                          uint64_t *out_bytes);

    /* ---- version 7: read hints ---- */

    /** Optional (NULL: no hints taken). A hint, never a read: the caller will soon get (or
     *  get_mapped) chunks keys[0..n), in about that order, e.g. the next leaves of a cursor
     *  that reads a range in order. A store may start bringing their bytes into memory so that
     *  those reads do not each wait for the disk (the local store asks the kernel for the pack
     *  ranges that hold them: its mappings are advised random, so a scan would otherwise read
     *  its packs a page at a time). It reports nothing, leaves the thread's last error as it
     *  was, and ignores keys it does not hold; it must be cheap next to reading the chunks. */
    void (*will_read)(cairn_store *st, const cairn_id *keys, size_t n);
};

/** (version 5) The batch methods with their fallback: each calls the store's own method when it
 *  has one (version >= 5 and not NULL), else the one-chunk method once per chunk. Same results
 *  as the methods above. */
CAIRN_API int cairn_store_get_many(cairn_store *st, const cairn_id *keys, size_t n,
                                   cairn_store_get_cb cb, void *payload);
CAIRN_API int cairn_store_has_many(cairn_store *st, const cairn_id *keys, size_t n, int *rcs);
CAIRN_API int cairn_store_put_many(cairn_store *st, const cairn_store_chunk *chunks, size_t n);

/** Opens a built-in store by URL: a path or "file://PATH" (local pack store), "mem:" (memory),
 *  "s3://BUCKET/PREFIX?endpoint=...&region=..." (an S3-compatible server; README.md, "S3 store"),
 *  "postgres://USER@HOST:PORT/DB?table_prefix=...", "postgresql://..." or "pg:CONNINFO" (tables
 *  in a PostgreSQL database; README.md, "A repository in PostgreSQL").
 *  @param[out] out    caller closes with out->close(out)
 *  @param[in]  flags  CAIRN_OPEN_CREATE, CAIRN_OPEN_EXCL, CAIRN_OPEN_READONLY
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EEXIST; CAIRN_EBUSY; CAIRN_EINVAL; CAIRN_EIO. */
CAIRN_API int cairn_store_open_url(cairn_store **out, const char *url, unsigned flags,
                                   unsigned lock_timeout_ms);

/** Opens a repository on a store the caller built. The db takes ownership of the store and
 *  closes it in cairn_close() (also when cairn_open_store fails).
 *  @return as cairn_open(). */
CAIRN_API int cairn_open_store(cairn_db **out, cairn_store *store,
                               const cairn_open_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_SYS_STORE_H */
