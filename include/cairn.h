/*
 * cairn.h - the public API of cairn, an embedded, versioned, verifiable storage engine.
 *
 * cairn keeps ordered key-value tables in prolly trees (content-defined, Merkle-hashed B-trees)
 * over a content-addressed chunk store on local disk. Every state of the data has one root hash.
 *
 * Conventions, for every declaration below:
 *  - Calls that can fail return int: CAIRN_OK (0) or a negative code from enum cairn_status.
 *    The thread's last error (code and a message that names the thing and what to do) is read
 *    with cairn_error_last().
 *  - Output parameters come first and are named out*. They are written only on success.
 *  - Ownership is stated on every call: "caller frees with X()" or "borrowed, valid until Y".
 *  - Every *_close() and *_free() accepts NULL.
 *  - Handles are opaque. A cairn_db may be shared by threads; cairn_table handles may be shared
 *    too. A cairn_batch or cairn_cursor belongs to one thread at a time. A cairn_snapshot may be
 *    read by several threads.
 *  - Option structs are versioned: initialise them with their *_INIT macro (or *_init()
 *    function, for bindings), then set fields.
 *  - Callbacks take `void *payload` last, and return 0 to go on. Any other value stops the walk
 *    at once, and the call returns that value as-is, leaving the thread's last error as the
 *    callback left it (cairn sets no message of its own). Return CAIRN_EUSER (which cairn never
 *    returns) or a positive value, so that your reason cannot be mistaken for one of cairn's.
 *    Every callback type says whether it may call back into cairn:
 *      "may call cairn": any call, on any handle, from the callback's thread;
 *      "runs under the writer lock": the callback may read through tables, cursors and
 *      snapshots, but a call that takes the handle's writer lock (a write, commit, checkout,
 *      merge, resolving a revision, a checkpoint, stats, ...) fails at once with CAIRN_EBUSY
 *      instead of deadlocking; collect what you need and act once the call has returned.
 *  - Vocabulary: "commit" always means a version-control commit (cairn_commit()); a write
 *    reaching the trees is a "checkpoint", and a batch being applied is "committing a batch".
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(CAIRN_STATIC_BUILD)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions, status codes, errors
 * ------------------------------------------------------------------------------------------- */

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0

/** @return the version of the library linked in (which may differ from this header's macros)
 *  as "MAJOR.MINOR.PATCH", from the build; a static string. */
CAIRN_API const char *cairn_version(void);

/** Status codes. Every failing call returns one of these (negative) and sets the thread's
 *  last error. New codes are only ever added at the end. Calls return them as int. */
typedef enum cairn_status {
    CAIRN_OK = 0,
    CAIRN_ENOTFOUND = -1,    /**< key, table, ref, chunk or repository does not exist */
    CAIRN_ECORRUPT = -2,     /**< stored bytes fail verification (hash, checksum, format) */
    CAIRN_ECONFLICT = -3,    /**< a compare-and-swap lost a race, or a merge conflicts */
    CAIRN_EIO = -4,          /**< the operating system or a backend reported an I/O error */
    CAIRN_EINVAL = -5,       /**< bad argument or input: oversized key, bad name, bad URL... */
    CAIRN_ENOMEM = -6,       /**< an allocation failed */
    CAIRN_EBUSY = -7,        /**< another process holds the writer lock */
    CAIRN_EAUTH = -8,        /**< wrong key, passphrase, signature or credentials; a proof
                                  that does not verify (never a file permission: EPERM) */
    CAIRN_ENOSPC = -9,       /**< the device or quota is full */
    CAIRN_EEXIST = -10,      /**< the thing to create exists already */
    CAIRN_EUNSUPPORTED = -11,/**< the backend or format does not support this operation */
    CAIRN_ESTATE = -12,      /**< not allowed in the handle's state (e.g. a batch that failed) */
    CAIRN_EREADONLY = -13,   /**< a write through a handle opened read-only */
    CAIRN_EPERM = -14,       /**< the operating system denied access to a file or directory
                                  (EACCES, EPERM): check its owner and mode */
    CAIRN_EUSER = -15        /**< reserved for callbacks: cairn itself never returns it, so a
                                  callback can return it to stop a walk and tell its own reason
                                  apart from cairn's (see "Callbacks" above) */
} cairn_status;

/** The last error of the calling thread. */
typedef struct cairn_error {
    int code;                /**< one of enum cairn_status; CAIRN_OK when no error is set */
    const char *message;     /**< never NULL; "" when no error is set */
} cairn_error;

/** @return the calling thread's last error; borrowed, valid until the thread's next cairn call.
 *  Never NULL. */
CAIRN_API const cairn_error *cairn_error_last(void);

/** Clears the calling thread's last error. */
CAIRN_API void cairn_error_clear(void);

/** @return a static, short English name for a status code ("not found", "corrupt", ...). */
CAIRN_API const char *cairn_strerror(int code);

/** Severity of a diagnostic passed to the log callback. */
typedef enum cairn_log_level {
    CAIRN_LOG_ERROR = 1,
    CAIRN_LOG_WARN = 2,
    CAIRN_LOG_INFO = 3,
    CAIRN_LOG_DEBUG = 4      /**< steps of background work (a checkpoint starting, ending) */
} cairn_log_level;

/** Receives diagnostics the library reports without failing a call (e.g. a torn pack tail
 *  repaired on open). Called from any thread (the background checkpointer's too), possibly
 *  while cairn holds locks: must not call back into cairn (cairn_error_last() excepted).
 *  message is borrowed, valid until it returns. */
typedef void (*cairn_log_fn)(cairn_log_level level, const char *message, void *payload);

/** Sets the process-wide log callback (NULL = drop diagnostics, the default). */
CAIRN_API void cairn_set_log(cairn_log_fn fn, void *payload);

/** Frees memory that a cairn call returned with "caller frees with cairn_free()". */
CAIRN_API void cairn_free(void *ptr);

/* ---------------------------------------------------------------------------------------------
 * Chunk ids (SHA-256 of a chunk's canonical bytes)
 * ------------------------------------------------------------------------------------------- */

#define CAIRN_ID_SIZE 32
#define CAIRN_ID_HEX_SIZE 65 /**< 64 hex digits and a NUL */
#define CAIRN_KEY_FINGERPRINT_SIZE 17u /**< a signing key's fingerprint: 16 hex digits and a NUL */

typedef struct cairn_id {
    uint8_t bytes[CAIRN_ID_SIZE];
} cairn_id;

/** @return CAIRN_ID_SIZE, for bindings that do not parse headers. */
CAIRN_API size_t cairn_id_size(void);

/** Writes the id as 64 lowercase hex digits and a NUL into out. */
CAIRN_API void cairn_id_to_hex(char out[CAIRN_ID_HEX_SIZE], const cairn_id *id);

/** Parses exactly 64 hex digits (either case).
 *  @param[out] out  the id
 *  @return CAIRN_OK, or CAIRN_EINVAL when hex is not 64 hex digits. */
CAIRN_API int cairn_id_from_hex(cairn_id *out, const char *hex);

/* ---------------------------------------------------------------------------------------------
 * Limits (also as functions, for bindings). One pattern for every constant: CAIRN_<THING>_LEN_MAX
 * is the most bytes a variable-length thing may have (without any NUL); CAIRN_<THING>_SIZE is
 * the bytes of a fixed-size thing, and for text (hex, fingerprints) the size of a buffer that
 * holds it with its NUL.
 * ------------------------------------------------------------------------------------------- */

#define CAIRN_KEY_LEN_MAX 4096u          /**< bytes of a key; keys may be empty */
#define CAIRN_VALUE_LEN_MAX (1u << 20)   /**< bytes of a value (1 MiB) */
#define CAIRN_TABLE_NAME_LEN_MAX 200u    /**< bytes of a table name */

/** @return CAIRN_KEY_LEN_MAX, CAIRN_VALUE_LEN_MAX, CAIRN_TABLE_NAME_LEN_MAX. */
CAIRN_API size_t cairn_key_len_max(void);
CAIRN_API size_t cairn_value_len_max(void);
CAIRN_API size_t cairn_table_name_len_max(void);

/* ---------------------------------------------------------------------------------------------
 * Repository
 * ------------------------------------------------------------------------------------------- */

typedef struct cairn_db cairn_db;

/** Flags for cairn_open_options.flags (an unsigned set of these, or-ed together). */
typedef enum cairn_open_flag {
    CAIRN_OPEN_CREATE = 0x1u,    /**< create the repository when it does not exist */
    CAIRN_OPEN_EXCL = 0x2u,      /**< with CREATE: fail with CAIRN_EEXIST if it exists */
    CAIRN_OPEN_READONLY = 0x4u   /**< take no writer lock; writes fail with CAIRN_EREADONLY */
} cairn_open_flag;

/** When a write returns, for cairn_open_options.durability (the repository's default) and for
 *  each write that chooses its own (cairn_batch_commit_durability()). One set of names for
 *  both; any other value is refused with CAIRN_EINVAL. */
typedef enum cairn_durability {
    CAIRN_DURABILITY_DEFAULT = 0, /**< write calls: the repository's default; options: DURABLE */
    CAIRN_DURABILITY_DURABLE = 1, /**< return once the write's log record is fsynced */
    CAIRN_DURABILITY_RELAXED = 2  /**< return once the record is written to the log file; a
                                       crash of the machine (not of the process) can lose the
                                       writes of the last sync_interval_ms */
} cairn_durability;

/** @return 1 when d is one of the cairn_durability values, else 0. */
CAIRN_API int cairn_durability_valid(int d);

#define CAIRN_OPEN_OPTIONS_VERSION 4 /* 2: read_threads; 3: durability and the log; 4: durability
                                        is a cairn_durability (version 3's 0 and 1 keep their
                                        meaning: durable, relaxed) */
/** Options for cairn_open(). Initialise with CAIRN_OPEN_OPTIONS_INIT. */
typedef struct cairn_open_options {
    unsigned version;        /**< CAIRN_OPEN_OPTIONS_VERSION */
    unsigned flags;          /**< cairn_open_flag values, or-ed */
    size_t cache_bytes;      /**< memory for verified chunks; 0 = default (256 MiB). Besides
                                  it, each thread that reads (and each read-ahead worker) keeps
                                  up to 32 released chunk buffers of at most 32 KiB for its next
                                  chunks: about 1 MiB a thread, outside this bound,
                                  freed when the thread exits (not at cairn_close) */
    int compression_level;   /**< zstd level for new chunks, 1..19; 0 = default (1);
                                  CAIRN_COMPRESSION_NONE stores chunks uncompressed */
    unsigned lock_timeout_ms;/**< how long to wait for another writer's lock; 0 = fail at once */
    int read_threads;        /**< (version 2) threads that fetch and verify chunks ahead of
                                  cursors: 0 = default (one fewer than the CPUs, at most 4);
                                  CAIRN_READ_THREADS_NONE = read on the caller's thread only */
    cairn_durability durability; /**< (version 3) the default for writes: DURABLE (also what
                                  DEFAULT, 0, means here) or RELAXED; see cairn_durability */
    unsigned sync_interval_ms;  /**< (3) how often relaxed writes are fsynced; 0 = 100 ms */
    size_t memtable_bytes;   /**< (3) checkpoint when writes not yet in the trees take more
                                  memory than this; 0 = 64 MiB. Writers wait (briefly) when
                                  checkpoints fall 4 times this far behind */
    unsigned oplog_keep_segments; /**< (3) retired log segments kept for cairn_oplog(); 0 = 16
                                       (2 for a store that keeps nothing durable, such as
                                       mem:, where they would hold memory) */
    unsigned oplog_keep_seconds;  /**< (3) beyond those, keep any younger than this; 0 = none */
    uint64_t wal_segment_bytes;   /**< (3) size of a log segment file; 0 = 64 MiB */
    const char *wal_dir;     /**< (3) for a store without files of its own (no
                                  CAIRN_STORE_CAP_FILES): a directory for the write-ahead log
                                  (give the same one at every open). NULL: such a store has no
                                  log; writes go straight to the trees (each one durable on its
                                  own, slower). A store with files (local: DIR/wal; mem:) keeps
                                  its log there and ignores this */
} cairn_open_options;

#define CAIRN_COMPRESSION_NONE (-1)
#define CAIRN_READ_THREADS_NONE (-1)
#define CAIRN_OPEN_OPTIONS_INIT                                                                    \
    { CAIRN_OPEN_OPTIONS_VERSION, 0, 0, 0, 0, 0, CAIRN_DURABILITY_DEFAULT, 0, 0, 0, 0, 0, NULL }

/** Sets *out to CAIRN_OPEN_OPTIONS_INIT of this library's version, for bindings that cannot use
 *  the macro (the struct must then be this version's size: cairn_open_options_size()). */
CAIRN_API void cairn_open_options_init(cairn_open_options *out);
/** @return sizeof(cairn_open_options) in this library, for bindings. */
CAIRN_API size_t cairn_open_options_size(void);

/** Opens (or with CAIRN_OPEN_CREATE creates) a repository. A create that fails part-way (a full
 *  disk, a failed sync) in a directory that did not exist or was empty removes what it made:
 *  the directory is as it was before, and a later create starts afresh. (Other stores' objects
 *  are left as the failure left them.)
 *  @param[out] out   the handle; caller closes with cairn_close()
 *  @param[in]  url   a directory path, "file://PATH", or "mem:" (a private in-memory repository)
 *  @param[in]  opts  options, or NULL for the defaults
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no repository there and no CREATE); CAIRN_EEXIST (CREATE|EXCL
 *          and one exists); CAIRN_EBUSY (another process writes to it); CAIRN_EINVAL (bad URL or
 *          options, or the directory is not a cairn repository); CAIRN_EPERM (the directory or a
 *          file in it may not be read, or for a writer written); CAIRN_ENOSPC (the disk is
 *          full); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_open(cairn_db **out, const char *url, const cairn_open_options *opts);

/** Makes everything written so far durable, releases the writer lock and frees the handle.
 *  Tables, snapshots, cursors and batches of this db must be closed first. Open snapshots and
 *  cursors are detected: the call then does nothing at all (no flush, nothing freed) and fails
 *  with CAIRN_EBUSY, its message naming how many of each are open; the handle stays open and
 *  usable, so close them and call cairn_close() again. (Table handles and batches are not
 *  counted: closing or freeing them after the db is undefined.) Accepts NULL.
 *  @return CAIRN_OK; CAIRN_EBUSY (snapshots or cursors still open, or called from a callback
 *          under the writer lock: the handle is not closed); else the first error met while
 *          flushing (CAIRN_EIO, CAIRN_ENOSPC...), and the handle is freed regardless. */
CAIRN_API int cairn_close(cairn_db *db);

/* ---------------------------------------------------------------------------------------------
 * Snapshots: a stable, immutable view of every table
 * ------------------------------------------------------------------------------------------- */

typedef struct cairn_snapshot cairn_snapshot;

/** Pins the current state of the repository. Reads through the snapshot see exactly that state
 *  while later writes go on. Cheap: no data is copied.
 *  @param[out] out  caller closes with cairn_snapshot_close()
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
CAIRN_API int cairn_snapshot_open(cairn_snapshot **out, cairn_db *db);

/** Releases a snapshot. */
CAIRN_API void cairn_snapshot_close(cairn_snapshot *snap);

/** The snapshot's catalog root: one hash for the state of every table. When writes in the
 *  write-ahead log are not in the trees yet, this builds their trees (once per snapshot), so
 *  that the root names exactly what the snapshot reads; a read-only handle cannot, and fails
 *  rather than hand back the root of the trees without those writes.
 *  @param[out] out  the id; written only on success
 *  @return CAIRN_OK; CAIRN_EREADONLY (a read-only handle while another process has writes in
 *          the log that no checkpoint has moved into the trees: run a checkpoint in the writer,
 *          or open read-write); CAIRN_EINVAL (out or snap NULL); CAIRN_EIO; CAIRN_ENOSPC;
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_snapshot_root(cairn_id *out, const cairn_snapshot *snap);

/* ---------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------- */

typedef struct cairn_table cairn_table;

/** Flags for cairn_table_open() (an unsigned set of these, or-ed together). */
typedef enum cairn_table_flag {
    CAIRN_TABLE_CREATE = 0x1u,  /**< create the table (empty) when it does not exist */
    CAIRN_TABLE_DEFER = 0x2u,   /**< with CREATE: create it not now but atomically with the
                                     first write through this handle (a put, delete or batch
                                     commit); until then reads find no table */
    CAIRN_TABLE_NAMEONLY = 0x4u, /**< do not check that the table exists now: for reading
                                     snapshots of versions where it did (reads through a
                                     version without it return CAIRN_ENOTFOUND) */
    CAIRN_TABLE_INTERNAL = 0x8u /**< the name may be in the reserved namespace (names that
                                     begin with CAIRN_TABLE_RESERVED_PREFIX): for cairn's own
                                     modules (documents, merge conflicts), never for user data */
} cairn_table_flag;

/** Table names that begin with this are cairn's own (merge conflicts, document collections and
 *  their indexes): a user cannot create them, and listings meant for users leave them out. */
#define CAIRN_TABLE_RESERVED_PREFIX "cairn_"

/** @return 1 when name is in the reserved namespace (begins with CAIRN_TABLE_RESERVED_PREFIX),
 *  else 0: the one test of "internal table" that cairn and its tools use everywhere. */
CAIRN_API int cairn_table_internal(const char *name);

/** Opens a table by name. Names are 1..CAIRN_TABLE_NAME_LEN_MAX bytes of UTF-8 without control
 *  characters or '/'; a name in the reserved namespace (cairn_table_internal()) needs
 *  CAIRN_TABLE_INTERNAL, else the call fails with CAIRN_EINVAL.
 *  @param[out] out    caller closes with cairn_table_close(), before cairn_close()
 *  @param[in]  flags  0, CAIRN_TABLE_CREATE, CAIRN_TABLE_CREATE|CAIRN_TABLE_DEFER (these need a
 *                     writable db) or CAIRN_TABLE_NAMEONLY
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such table, no CREATE); CAIRN_EINVAL (bad name);
 *          CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ECORRUPT; CAIRN_ENOMEM. */
CAIRN_API int cairn_table_open(cairn_table **out, cairn_db *db, const char *name, unsigned flags);

/** Releases a table handle (the table itself stays). */
CAIRN_API void cairn_table_close(cairn_table *table);

/** @return the table's name; borrowed, valid until the handle is closed. */
CAIRN_API const char *cairn_table_name(const cairn_table *table);

/** Removes a table and all its entries, atomically and durably.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_table_drop(cairn_db *db, const char *name);

/** Receives one name (a table, a trusted key line). name is borrowed, valid until the callback
 *  returns. May call cairn. @return 0 to go on; anything else stops the walk and is returned. */
typedef int (*cairn_name_fn)(const char *name, void *payload);

/** Calls cb once per user table (internal ones, cairn_table_internal(), are left out), in name
 *  order, as of snap (NULL = the current state). A non-zero
 *  return from cb stops the walk and is returned.
 *  @return CAIRN_OK, cb's non-zero value, or an error. */
CAIRN_API int cairn_table_list(cairn_db *db, const cairn_snapshot *snap, cairn_name_fn cb,
                               void *payload);

/** The root hash of a table as of snap (NULL = the current state).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND if the table does not exist in that state. */
CAIRN_API int cairn_table_root(cairn_id *out, cairn_table *table, const cairn_snapshot *snap);

/** Shape of a table's tree, from cairn_table_stats(). Sizes are of node plaintext. */
typedef struct cairn_table_stats {
    uint64_t entries;        /**< key-value pairs */
    uint32_t depth;          /**< levels: 1 = the root is a leaf */
    uint64_t nodes;          /**< all nodes */
    uint64_t leaf_nodes;
    uint64_t bytes;          /**< sum of node sizes */
    uint32_t node_min;       /**< smallest, median and largest node, bytes (leaves and inner) */
    uint32_t node_median;
    uint32_t node_max;
    uint32_t leaf_min;       /**< the same over leaves only */
    uint32_t leaf_median;
    uint32_t leaf_max;
    uint64_t size_hist[17];  /**< nodes by size: [i] counts sizes in [i KiB, i+1 KiB); [16] >= 16 KiB */
} cairn_table_stats;

/** Walks every node of a table (reads the whole tree) and fills in its shape.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_table_stats_get(cairn_table_stats *out, cairn_table *table,
                                    const cairn_snapshot *snap);

/* ---------------------------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------------------------- */

/** Point read.
 *  @param[out] out_val  the value; caller frees with cairn_free() (never NULL on success, even for
 *                       an empty value)
 *  @param[out] out_len  its length
 *  @param[in]  snap     the state to read, or NULL for the current state
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such key, or the table does not exist in snap);
 *          CAIRN_EINVAL (key too long); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_get(void **out_val, size_t *out_len, cairn_table *table,
                        const cairn_snapshot *snap, const void *key, size_t klen);

/** A key range for cursors and counts: keys k with from <= k < to that start with prefix.
 *  Any bound may be absent (NULL pointer). Initialise with CAIRN_RANGE_INIT. */
typedef struct cairn_range {
    const void *from;        /**< inclusive lower bound, or NULL */
    size_t from_len;
    const void *to;          /**< exclusive upper bound, or NULL */
    size_t to_len;
    const void *prefix;      /**< only keys with this prefix, or NULL */
    size_t prefix_len;
} cairn_range;

#define CAIRN_RANGE_INIT { NULL, 0, NULL, 0, NULL, 0 }

/** Sets *out to CAIRN_RANGE_INIT (the whole table), for bindings that cannot use the macro. */
CAIRN_API void cairn_range_init(cairn_range *out);

/** Counts the entries in a range in O(log n) (subtree counts), without reading the entries.
 *  @param[in] range  NULL = the whole table
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (table missing in snap); CAIRN_EINVAL; CAIRN_ECORRUPT;
 *          CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_count(uint64_t *out, cairn_table *table, const cairn_snapshot *snap,
                          const cairn_range *range);

typedef struct cairn_cursor cairn_cursor;

/** Opens a cursor over a range of a table as of snap (NULL = the current state, pinned for the
 *  cursor's life). The cursor starts unpositioned: next() moves to the first entry, prev() to the
 *  last.
 *  @param[out] out    caller closes with cairn_cursor_close()
 *  @param[in]  range  copied; NULL = the whole table
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (table missing in snap); CAIRN_EINVAL; CAIRN_ENOMEM. */
CAIRN_API int cairn_cursor_open(cairn_cursor **out, cairn_table *table,
                                const cairn_snapshot *snap, const cairn_range *range);

/** Moves to the next (prev: previous) entry in key order within the range.
 *  @return CAIRN_OK when positioned on an entry; CAIRN_ENOTFOUND past the end (the cursor is then
 *          unpositioned again); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_cursor_next(cairn_cursor *cur);
CAIRN_API int cairn_cursor_prev(cairn_cursor *cur);

/** Positions on the first entry with key >= key (within the range).
 *  @return as cairn_cursor_next(). */
CAIRN_API int cairn_cursor_seek(cairn_cursor *cur, const void *key, size_t klen);

/** The entry under the cursor. Pointers are borrowed, valid until the cursor moves or closes.
 *  Any output may be NULL when not wanted; none is written on failure.
 *  @param[out] out_key, out_klen  the key and its length
 *  @param[out] out_val, out_vlen  the value and its length
 *  @return CAIRN_OK, or CAIRN_ESTATE when the cursor is not positioned. */
CAIRN_API int cairn_cursor_get(const void **out_key, size_t *out_klen, const void **out_val,
                               size_t *out_vlen, const cairn_cursor *cur);

/** Closes a cursor and releases what it pinned. */
CAIRN_API void cairn_cursor_close(cairn_cursor *cur);

/* ---------------------------------------------------------------------------------------------
 * Writes. Each call below is atomic. A write (a put, a delete, a batch) becomes one record of
 * the checked-out branch's write-ahead log (DIR/wal/BRANCH/ for a local repository), appended
 * with group commit: concurrent writers share one write and one fsync. In durable mode (the
 * default: cairn_durability) the call returns once the record is fsynced; in relaxed mode once
 * it is written (a background thread fsyncs every sync_interval_ms). Either way readers see the
 * write as soon as the call returns, from memory (the memtable) merged over the trees; a
 * checkpoint (cairn_checkpoint(), in the background when the memtable outgrows memtable_bytes,
 * and before commit, checkout, merge and close) moves logged writes into the trees and
 * publishes a new working root. After a crash, opening replays the log. A store other than the
 * local one opened without wal_dir has no log: each write is checkpointed into the trees before
 * it returns (durable on its own, slower). "mem:" keeps no log either (nothing there is durable).
 * ------------------------------------------------------------------------------------------- */

/** Inserts or replaces one entry, with the repository's default durability.
 *  @return CAIRN_OK; CAIRN_EINVAL (key or value over the limits); CAIRN_EREADONLY; CAIRN_ENOTFOUND
 *          (the table was dropped); CAIRN_EBUSY (called from a callback that runs under the
 *          writer lock: see "Callbacks"); CAIRN_EIO; CAIRN_ENOSPC; CAIRN_ENOMEM. */
CAIRN_API int cairn_put(cairn_table *table, const void *key, size_t klen,
                        const void *val, size_t vlen);

/** Removes one entry; removing an absent key succeeds and changes nothing.
 *  @return as cairn_put(); CAIRN_EBUSY from a callback under the writer lock. */
CAIRN_API int cairn_delete(cairn_table *table, const void *key, size_t klen);

typedef struct cairn_batch cairn_batch;

/** Starts an empty batch: puts and deletes over any tables of one db, applied all-or-nothing by
 *  cairn_batch_commit(). Within a batch, a later operation on the same key wins.
 *  @param[out] out  caller frees with cairn_batch_free()
 *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_ENOMEM. */
CAIRN_API int cairn_batch_new(cairn_batch **out, cairn_db *db);

/** Adds a put (copying key and value). After any failed batch call, every call but clear and
 *  free fails with CAIRN_ESTATE: a batch is never committed half-built.
 *  @return CAIRN_OK; CAIRN_EINVAL (limits, or a table of another db); CAIRN_ESTATE; CAIRN_ENOMEM. */
CAIRN_API int cairn_batch_put(cairn_batch *batch, cairn_table *table, const void *key,
                              size_t klen, const void *val, size_t vlen);

/** Adds a delete (copying the key). @return as cairn_batch_put(). */
CAIRN_API int cairn_batch_delete(cairn_batch *batch, cairn_table *table, const void *key,
                                 size_t klen);

/** @return the number of operations in the batch. */
CAIRN_API size_t cairn_batch_count(const cairn_batch *batch);

/** Applies the batch atomically and (by the repository's default) durably, then empties it for
 *  reuse. On failure nothing of the batch is visible and the batch keeps its operations.
 *  A batch is one record of the write-ahead log: concurrent commits from several threads share
 *  one write and one fsync (group commit); it becomes visible to readers once logged, and
 *  reaches the trees at the next checkpoint. A very large batch (256k operations or more, 16 MiB
 *  of keys and values or more, or 64k operations or more that take half of memtable_bytes or
 *  more, and 1 MiB or more, counting 64 bytes an operation for the memtable's own use) is
 *  instead applied to the trees directly, after a checkpoint, with writers held back.
 *  @return CAIRN_OK; CAIRN_ESTATE (an earlier call on the batch failed); CAIRN_ENOTFOUND (a table
 *          was dropped); CAIRN_EIO; CAIRN_ENOSPC; CAIRN_ENOMEM; CAIRN_ECORRUPT. */
CAIRN_API int cairn_batch_commit(cairn_batch *batch);

/** cairn_batch_commit() with the durability of this call: CAIRN_DURABILITY_DURABLE (fsync the
 *  log before returning, whatever the default), CAIRN_DURABILITY_RELAXED (return once the log
 *  record is written; the repository's sync_interval_ms bounds the loss window) or
 *  CAIRN_DURABILITY_DEFAULT (the repository's default, as cairn_batch_commit()). A batch large
 *  enough to bypass the log is applied durably whatever this says.
 *  @return as cairn_batch_commit(), and CAIRN_EINVAL (not a cairn_durability value; the batch
 *          is unchanged). */
CAIRN_API int cairn_batch_commit_durability(cairn_batch *batch, cairn_durability durability);

/** Empties the batch and clears its failed state. */
CAIRN_API void cairn_batch_clear(cairn_batch *batch);

/** Frees a batch without applying it. */
CAIRN_API void cairn_batch_free(cairn_batch *batch);

/* ---------------------------------------------------------------------------------------------
 * Versions: commits, branches, tags, history
 *
 * The repository's tables as a whole form one version: its catalog root. A commit records one
 * (with parents, author, time, message, optionally a signature); branches ("main") and tags name
 * commits. Writes go to the working state of the current branch (HEAD); cairn_commit() turns the
 * working state into a commit on that branch. Revisions (REV below) are: HEAD, a branch or tag
 * name, a commit id or a unique prefix of at least 4 hex digits, followed by any of ~N (N-th
 * first-parent ancestor), ^N (N-th parent), and after a branch or tag @{TIME} (where it was at
 * TIME: 2026-11-21T15:04:05Z, 2026-11-21, @SECONDS) or @{N} (N moves ago). "WORKING" names the
 * current working state where a function says so.
 * ------------------------------------------------------------------------------------------- */

/** Signature status of a commit. */
typedef enum cairn_sig_status {
    CAIRN_SIG_NONE = 0,      /**< not signed */
    CAIRN_SIG_GOOD = 1,      /**< signed by a key in the repository's trusted list */
    CAIRN_SIG_UNKNOWN = 2,   /**< the signature verifies, but the key is not trusted */
    CAIRN_SIG_BAD = 3        /**< the signature does not verify: the commit was altered */
} cairn_sig_status;

/** A commit as reported to callbacks. Everything is borrowed, valid during the callback. */
typedef struct cairn_commit_info {
    cairn_id id;
    cairn_id catalog;        /**< the state of every table */
    size_t nparents;
    const cairn_id *parents; /**< the first is the branch the commit was made on */
    const char *author;      /**< "Name <email>" */
    int64_t author_time;     /**< nanoseconds since the Unix epoch, UTC */
    const char *committer;
    int64_t commit_time;
    const char *message;
    cairn_sig_status signature;
    char signer[CAIRN_KEY_FINGERPRINT_SIZE]; /**< the signing key's fingerprint; "" unsigned */
} cairn_commit_info;

typedef struct cairn_signer cairn_signer; /* signs commits: a key file's (cairn_signer_open())
                                             or the application's own (cairn_signer_new()) */

/** Flags for cairn_commit_options.flags (an unsigned set of these). */
typedef enum cairn_commit_flag {
    CAIRN_COMMIT_ALLOW_EMPTY = 0x1u /**< commit even when nothing changed */
} cairn_commit_flag;

#define CAIRN_COMMIT_OPTIONS_VERSION 1
/** Options for cairn_commit(). Initialise with CAIRN_COMMIT_OPTIONS_INIT. */
typedef struct cairn_commit_options {
    unsigned version;
    const char *message;     /**< required, may be "" */
    const char *author;      /**< "Name <email>"; NULL: $CAIRN_AUTHOR, else $USER@host */
    const char *committer;   /**< NULL: the author */
    cairn_signer *signer;    /**< sign with this signer (a key file's or an application's own:
                                  cairn_signer_open(), cairn_signer_new()); NULL: unsigned */
    unsigned flags;          /**< cairn_commit_flag values, or-ed */
} cairn_commit_options;

#define CAIRN_COMMIT_OPTIONS_INIT { CAIRN_COMMIT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0 }

/** Sets *out to CAIRN_COMMIT_OPTIONS_INIT, for bindings that cannot use the macro. */
CAIRN_API void cairn_commit_options_init(cairn_commit_options *out);

/** Records the current working state as a commit on the current branch (or on the detached
 *  HEAD) and moves the branch to it, durably.
 *  @param[out] out  the new commit's id (may be NULL)
 *  @return CAIRN_OK; CAIRN_EINVAL (nothing to commit without CAIRN_COMMIT_ALLOW_EMPTY; a text
 *          over its limit); CAIRN_ECONFLICT (the branch moved since the working state was based
 *          on it, or merge conflicts are still recorded); CAIRN_EAUTH (the repository requires
 *          signed commits and no signer was given); CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_commit(cairn_id *out, cairn_db *db, const cairn_commit_options *opts);

/** Parses a time, the one grammar of every time cairn reads (`@{...}` in revisions, the CLI's
 *  time options):
 *  - ISO 8601 / RFC 3339: a date (2026-11-21), or a date and a time of day after 'T' or a space
 *    (2026-11-21T15:04, 2026-11-21 15:04:05.25), then optionally Z or an offset +HH:MM / -HH:MM;
 *    without an offset the time is UTC; dates that do not exist (2026-02-30) are refused;
 *  - Unix time in seconds: 1795255200 or @1795255200 (@-5 before 1970);
 *  - relative, as git writes them: now, yesterday (24 hours ago), N UNIT(s) ago and last UNIT,
 *    UNIT one of second, minute, hour, day, week, month (30 days), year (365 days); words may
 *    be separated by spaces, dots or underscores (2.days.ago).
 *  @param[out] out     nanoseconds since 1970-01-01T00:00:00Z
 *  @param[in]  now_ns  what relative times count back from (nanoseconds since 1970); 0 = the
 *                      current time
 *  @return CAIRN_OK; CAIRN_EINVAL (not a time, or outside 1677-09-21..2262-04-11; the message
 *          lists the forms). */
CAIRN_API int cairn_time_parse(int64_t *out, const char *text, int64_t now_ns);

/** Resolves a revision to a commit id: HEAD, a branch, a tag, a commit id or a unique prefix of
 *  one, then ~N, ^N and (after a branch or tag) @{N} moves back or @{TIME}, TIME in the grammar
 *  of cairn_time_parse() (main@{yesterday}, main@{2026-11-21}).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such branch, tag, commit or position);
 *          CAIRN_EINVAL (malformed, or an ambiguous prefix); CAIRN_ECORRUPT; CAIRN_EIO. */
CAIRN_API int cairn_resolve(cairn_id *out, cairn_db *db, const char *rev);

/** Receives one commit (info borrowed, valid until the callback returns). May call cairn.
 *  @return 0 to go on; anything else stops the walk and is returned as-is. */
typedef int (*cairn_commit_fn)(const cairn_commit_info *info, void *payload);

/** Reports one commit to cb. @return CAIRN_OK, cb's value, CAIRN_ENOTFOUND, CAIRN_ECORRUPT. */
CAIRN_API int cairn_commit_show(cairn_db *db, const cairn_id *id, cairn_commit_fn cb,
                                void *payload);

/** Calls cb for REV and every ancestor, newest commit time first, each once. A non-zero
 *  return from cb stops the walk and is returned.
 *  @return CAIRN_OK, cb's value, or the errors of cairn_resolve(). */
CAIRN_API int cairn_log(cairn_db *db, const char *rev, cairn_commit_fn cb, void *payload);

/** Opens a snapshot of the tables as of REV ("WORKING": the current working state).
 *  @param[out] out  caller closes with cairn_snapshot_close()
 *  @return as cairn_resolve(), or CAIRN_ENOMEM. */
CAIRN_API int cairn_snapshot_open_at(cairn_snapshot **out, cairn_db *db, const char *rev);

/** The commit a snapshot was opened at (zero for a working state). */
CAIRN_API void cairn_snapshot_commit(cairn_id *out, const cairn_snapshot *snap);

/** Creates branch NAME at REV (NULL: HEAD). Names use letters, digits and . _ - /.
 *  @return CAIRN_OK; CAIRN_EEXIST; CAIRN_EINVAL (bad name); errors of cairn_resolve(). */
CAIRN_API int cairn_branch_create(cairn_db *db, const char *name, const char *rev);

/** Deletes a branch and its working state. Refuses the current branch and a branch whose
 *  working state has uncommitted changes (CAIRN_ECONFLICT).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_ECONFLICT; CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_branch_delete(cairn_db *db, const char *name);

/** Receives one branch: its name and head commit (borrowed, valid until the callback returns),
 *  and current = 1 for HEAD's branch. May call cairn.
 *  @return 0 to go on; anything else stops the walk and is returned as-is. */
typedef int (*cairn_branch_fn)(const char *name, const cairn_id *commit, int current,
                               void *payload);

/** Calls cb for each branch in name order; current is 1 for HEAD's branch. commit is the
 *  branch's head (zero for the current branch before its first commit).
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_branch_list(cairn_db *db, cairn_branch_fn cb, void *payload);

/** The current branch's name; caller frees with cairn_free(). NULL (and CAIRN_OK) when HEAD is
 *  detached. */
CAIRN_API int cairn_branch_current(char **out, cairn_db *db);

/** Switches to a branch (its working state, with any uncommitted changes it holds, becomes
 *  current) or, for any other revision, detaches HEAD at that commit. Open snapshots, tables
 *  and cursors stay valid; writes afterwards go to the new working state.
 *  @return CAIRN_OK; errors of cairn_resolve(); CAIRN_ECONFLICT (uncommitted changes on a
 *          detached HEAD would be lost); CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_checkout(cairn_db *db, const char *target);

/** Flags for cairn_reset(). */
typedef enum cairn_reset_flag {
    CAIRN_RESET_HARD = 0x1u  /**< also make the working state the commit's tables, dropping
                                  every uncommitted change and a merge in progress */
} cairn_reset_flag;

/** Moves the current branch (or the detached HEAD) to the commit rev names (NULL = HEAD), as
 *  `git reset` does, recording the move in the reflog. Without CAIRN_RESET_HARD the working
 *  state keeps its tables, now based on that commit: what differs from it shows as uncommitted
 *  changes (git's --soft and --mixed: cairn has no index). With it, the working state becomes
 *  the commit's tables. A commit left behind stays reachable from the reflog.
 *  @return CAIRN_OK; errors of cairn_resolve(); CAIRN_ECONFLICT (without HARD, while a merge is
 *          in progress); CAIRN_EINVAL (unknown flags); CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_reset(cairn_db *db, const char *rev, unsigned flags);

/** Creates tag NAME at REV (NULL: HEAD). @return as cairn_branch_create(). */
CAIRN_API int cairn_tag_create(cairn_db *db, const char *name, const char *rev);
/** Deletes a tag. @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_tag_delete(cairn_db *db, const char *name);
/** Receives one tag: its name and commit, borrowed, valid until the callback returns. May call
 *  cairn. @return 0 to go on; anything else stops the walk and is returned as-is. */
typedef int (*cairn_tag_fn)(const char *name, const cairn_id *commit, void *payload);

/** Calls cb for each tag in name order.
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_tag_list(cairn_db *db, cairn_tag_fn cb, void *payload);

/** One recorded move of a branch or tag. Borrowed during the callback. */
typedef struct cairn_reflog_info {
    cairn_id old_commit;     /**< zero when the ref was created by this move */
    cairn_id new_commit;
    int64_t time;            /**< nanoseconds since the Unix epoch, UTC */
    const char *who;
    const char *why;
} cairn_reflog_info;

/** Receives one reflog entry (borrowed during the call). May call cairn.
 *  @return 0 to go on; anything else stops the walk and is returned as-is. */
typedef int (*cairn_reflog_fn)(const cairn_reflog_info *info, void *payload);

/** Calls cb for each move of a branch or tag, newest first. ref: "main", "heads/main",
 *  "tags/v1" or NULL for the current branch.
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_ENOTFOUND (no such ref), CAIRN_EINVAL (NULL
 *          with a detached HEAD), CAIRN_ECORRUPT, CAIRN_EIO. */
CAIRN_API int cairn_reflog(cairn_db *db, const char *ref, cairn_reflog_fn cb, void *payload);

/** Kinds of difference. */
typedef enum cairn_diff_kind {
    CAIRN_DIFF_ADDED = 1,
    CAIRN_DIFF_REMOVED = 2,
    CAIRN_DIFF_MODIFIED = 3
} cairn_diff_kind;

/** One difference. Borrowed during the callback; old is NULL for ADDED, new for REMOVED. */
typedef struct cairn_diff_entry {
    const char *table;
    cairn_diff_kind kind;
    const void *key;
    size_t klen;
    const void *old_val;
    size_t old_len;
    const void *new_val;
    size_t new_len;
} cairn_diff_entry;

/** Receives one difference (borrowed during the call). May call cairn.
 *  @return 0 to go on; anything else stops the diff and is returned as-is. */
typedef int (*cairn_diff_fn)(const cairn_diff_entry *entry, void *payload);

/** Calls cb for every key whose value differs between two revisions (each may be "WORKING"),
 *  table by table in name order, keys in order; table NULL = every user table (internal ones,
 *  cairn_table_internal(), only when named; CAIRN_DOC_DIFF_ALL of cairn/doc.h: the user tables
 *  and the collections' tables). A table present in
 *  only one revision reports all its keys. Cost grows with the differences, not the tables.
 *  @return CAIRN_OK, cb's value, errors of cairn_resolve(), CAIRN_ENOTFOUND (no such table in
 *          either revision). */
CAIRN_API int cairn_diff(cairn_db *db, const char *rev1, const char *rev2, const char *table,
                         cairn_diff_fn cb, void *payload);

/** How cairn_merge() treats keys both sides changed differently. */
typedef enum cairn_merge_strategy {
    CAIRN_MERGE_FAIL = 0,    /**< report them and change nothing (CAIRN_ECONFLICT) */
    CAIRN_MERGE_OURS = 1,    /**< keep the current branch's state of each */
    CAIRN_MERGE_THEIRS = 2,  /**< take the other side's state of each */
    CAIRN_MERGE_RECORD = 3   /**< keep ours, record them in the table "cairn_conflicts", and
                                  leave the merge uncommitted until they are resolved */
} cairn_merge_strategy;

/** A key both sides of a merge changed differently (or a table one side dropped and the other
 *  changed: key NULL). Borrowed during the callback; has_* = 0 means absent on that side. */
typedef struct cairn_conflict {
    const char *table;
    const void *key;
    size_t klen;
    int has_base;
    const void *base;
    size_t base_len;
    int has_ours;
    const void *ours;
    size_t ours_len;
    int has_theirs;
    const void *theirs;
    size_t theirs_len;
} cairn_conflict;

/** Receives one conflict (borrowed during the call). From cairn_merge() it runs under the
 *  writer lock (see "Callbacks" above: writing from it fails with CAIRN_EBUSY; record what to
 *  do and do it after the merge returns); from cairn_conflicts() it may call cairn.
 *  @return 0 to go on; anything else stops (a merge then changes nothing) and is returned
 *          as-is. */
typedef int (*cairn_conflict_fn)(const cairn_conflict *c, void *payload);

/** What cairn_merge() did. */
typedef struct cairn_merge_result {
    int up_to_date;          /**< REV was already merged: nothing changed */
    int fast_forward;        /**< the branch simply moved to REV */
    size_t conflicts;        /**< keys (and tables) changed differently on both sides */
    cairn_id commit;         /**< the merge commit, or REV's commit for a fast-forward; zero
                                  when the merge was recorded for resolution */
} cairn_merge_result;

/** Merges REV into the current branch: fast-forward when possible, else a three-way merge with
 *  the merge base (after criss-cross histories, with the merge of their several merge bases)
 *  and a merge commit. The working state must have no uncommitted changes. Every conflict is
 *  passed to on_conflict (may be NULL). Merging A into B and B into A gives the same tables when
 *  nothing conflicts.
 *  @param[out] out          what the merge did (may be NULL); written on success and on
 *                           CAIRN_ECONFLICT (then out->conflicts counts them), else untouched
 *  @param[in]  on_conflict  runs under the writer lock (see cairn_conflict_fn); may be NULL
 *  @return CAIRN_OK; CAIRN_ECONFLICT (strategy FAIL with conflicts: nothing changed; or
 *          uncommitted changes); on_conflict's non-zero value (nothing changed); errors of
 *          cairn_resolve(); CAIRN_EBUSY (called from a callback under the writer lock);
 *          CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_merge(cairn_merge_result *out, cairn_db *db, const char *rev,
                          cairn_merge_strategy strategy, cairn_conflict_fn on_conflict,
                          void *payload);

/** Calls cb for each conflict recorded by a CAIRN_MERGE_RECORD merge that is not resolved yet.
 *  Resolve one by writing the value wanted into its table and deleting its entry from the
 *  table "cairn_conflicts" (cairn_conflict_resolve() does both); then cairn_commit() makes the
 *  merge commit. cb may call cairn (cairn_conflict_resolve() included).
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_conflicts(cairn_db *db, cairn_conflict_fn cb, void *payload);

/** Resolves one recorded conflict: sets the key in its table to val (NULL: deletes it) and
 *  removes the conflict record, in one atomic write. */
CAIRN_API int cairn_conflict_resolve(cairn_db *db, const char *table, const void *key,
                                     size_t klen, const void *val, size_t vlen);

/** A merge that is in progress: begun by cairn_merge() (with CAIRN_MERGE_RECORD, or
 *  interrupted by a crash between its two steps) and not yet committed or aborted. */
typedef struct cairn_merge_progress {
    int in_progress;         /**< 1 when the working state holds a merge waiting for its commit */
    cairn_id merging;        /**< the commit being merged in (the merge commit's second
                                  parent); zero when in_progress is 0 */
    int recorded;            /**< 1 when conflicts were recorded (the table cairn_conflicts
                                  exists) */
    uint64_t conflicts;      /**< recorded conflicts not resolved yet */
} cairn_merge_progress;

/** Says whether a merge is in progress in the current working state, and how far it is.
 *  Finish it with cairn_commit() (once no conflicts are left), or abort it with
 *  cairn_merge_abort(); cairn_merge() refuses to start another meanwhile (CAIRN_ECONFLICT).
 *  @param[out] out  the state; all zero when no merge is in progress
 *  @return CAIRN_OK; CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_merge_state(cairn_merge_progress *out, cairn_db *db);

/** Aborts the merge in progress: the working state becomes the branch's head commit again, as
 *  it was before the merge began (a merge starts only from a working state without
 *  uncommitted changes, so nothing else is lost), without merge parents or recorded
 *  conflicts. Everything written to the working state since the merge began, conflict
 *  resolutions included, is discarded.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no merge is in progress); CAIRN_EREADONLY; CAIRN_EIO;
 *          CAIRN_ECONFLICT (another process moved the working state meanwhile); CAIRN_ENOMEM. */
CAIRN_API int cairn_merge_abort(cairn_db *db);

/* ---------------------------------------------------------------------------------------------
 * Settings and trusted keys
 * ------------------------------------------------------------------------------------------- */

/** Reads a repository setting ("commit.require_signature": "true" or "false").
 *  @param[out] out  caller frees with cairn_free()
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (a known setting not set); CAIRN_EINVAL (not a setting
 *          cairn knows: the message lists them); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_config_get(char **out, cairn_db *db, const char *key);

/** Sets (value NULL: removes) a repository setting, durably. The settings:
 *  "commit.require_signature" and "audit.reads" ("true" or "false"); "wal.segment_min" and
 *  "wal.segment_max" (sizes, 64K..1G); "cache.dir" (an absolute directory) and "cache.size" (a
 *  size, "0" = off) for the disk cache a remote store is read through, applied at the next open
 *  (the environment's CAIRN_CACHE, CAIRN_CACHE_DIR and CAIRN_CACHE_SIZE win over them).
 *  @return CAIRN_OK; CAIRN_EINVAL (unknown setting or value); CAIRN_ECONFLICT; CAIRN_EREADONLY;
 *          CAIRN_EIO. */
CAIRN_API int cairn_config_set(cairn_db *db, const char *key, const char *value);

/** Adds a public key (a line of a .pub file: "cairn-ed25519 <64 hex digits> NAME") to the keys
 *  whose signatures the repository trusts. Adding one twice changes nothing.
 *  @return CAIRN_OK; CAIRN_EINVAL (not a key line); CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_trust_key(cairn_db *db, const char *pub_line);

/** Calls cb with each trusted public key line (a cairn_name_fn: may call cairn).
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_trusted_keys(cairn_db *db, cairn_name_fn cb, void *payload);

/* ---------------------------------------------------------------------------------------------
 * Signing keys (Ed25519) for signed commits. docs/FORMAT.md, "Signing keys", gives every byte.
 *
 * A key directory holds, per key, NAME.pub (one text line, "cairn-ed25519 <64 hex> NAME\n",
 * mode 0644) and NAME.key (the secret key sealed with XChaCha20-Poly1305 under a key derived
 * from a passphrase by Argon2id, mode 0600). Every call below takes the directory as `dir`;
 * NULL means the default: $CAIRN_HOME/keys, or $HOME/.cairn/keys when CAIRN_HOME is not set.
 *
 * Names are 1..CAIRN_KEY_NAME_LEN_MAX characters of [A-Za-z0-9._-], not starting with '.' or '-'.
 * A key's fingerprint is the first 16 hex digits of the SHA-256 of its 32-byte public key.
 * Loading a secret key (cairn_signer_open, cairn_key_check_passphrase) costs one Argon2id
 * derivation: about a tenth of a second and 64 MiB with the default limits.
 * ------------------------------------------------------------------------------------------- */

#define CAIRN_KEY_NAME_LEN_MAX 64u     /**< characters (bytes) of a key name */
#define CAIRN_KEY_PUBLIC_SIZE 32u      /**< bytes of an Ed25519 public key */
#define CAIRN_KEY_SIGNATURE_SIZE 64u   /**< bytes of an Ed25519 signature */

/** The public facts about a key. */
typedef struct cairn_key_info {
    char name[CAIRN_KEY_NAME_LEN_MAX + 1];          /**< NUL-terminated */
    char fingerprint[CAIRN_KEY_FINGERPRINT_SIZE];  /**< 16 lowercase hex digits, NUL */
    uint8_t public_key[CAIRN_KEY_PUBLIC_SIZE];
} cairn_key_info;

/** Flags for cairn_key_generate() (an unsigned set of these). */
typedef enum cairn_key_flag {
    CAIRN_KEY_UNPROTECTED = 0x1u /**< store the secret key without a passphrase. Anyone who can
                                      read NAME.key can then sign as this key; meant for
                                      throwaway and test keys only */
} cairn_key_flag;

/** Makes a new key pair and writes NAME.key and NAME.pub into dir (created with mode 0700,
 *  parents included, when missing). Each file is written to a temp file, synced, then linked
 *  into place, so a crash leaves either no file or a whole one; an existing key is never
 *  replaced.
 *  @param[out] out         the new key's name, fingerprint and public key; may be NULL
 *  @param[in]  dir         the key directory, or NULL for the default
 *  @param[in]  name        the key's name
 *  @param[in]  passphrase  protects the secret key; must be non-empty unless flags has
 *                          CAIRN_KEY_UNPROTECTED, and then must be NULL or ""
 *  @param[in]  flags       0 or CAIRN_KEY_UNPROTECTED
 *  @return CAIRN_OK; CAIRN_EEXIST (NAME.key or NAME.pub exists already); CAIRN_EINVAL (bad
 *          name, unknown flag, an empty passphrase without CAIRN_KEY_UNPROTECTED or a
 *          passphrase with it, no default directory because neither CAIRN_HOME nor HOME is
 *          set, or dir is not a directory); CAIRN_EPERM (permission denied); CAIRN_ENOSPC;
 *          CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_key_generate(cairn_key_info *out, const char *dir, const char *name,
                                 const char *passphrase, unsigned flags);

/** Receives one key's public facts (borrowed, valid until the callback returns). May call
 *  cairn. @return 0 to go on; anything else stops the listing and is returned as-is. */
typedef int (*cairn_key_fn)(const cairn_key_info *info, void *payload);

/** Calls cb once per key in dir, in name order (bytewise). A key is a regular file NAME.pub
 *  with a valid NAME; other files are skipped. Every NAME.pub is read and checked before the
 *  first call, so a damaged one fails the whole listing (naming the file) rather than
 *  ending it half-way. A missing directory has no keys: CAIRN_OK without calls. A non-zero
 *  return from cb stops the walk and is returned.
 *  @param[in] cb  receives each key; the info is borrowed, valid until cb returns
 *  @return CAIRN_OK; cb's non-zero value; CAIRN_ECORRUPT (a .pub file is damaged, or holds
 *          another name than its file's); CAIRN_EINVAL (no default directory; dir is not a
 *          directory); CAIRN_EPERM (permission denied); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_key_list(const char *dir, cairn_key_fn cb, void *payload);

/** Reads NAME.pub from dir.
 *  @param[out] out  the key's public facts
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such key); CAIRN_ECORRUPT (the file is damaged or
 *          names another key); CAIRN_EINVAL (bad name; no default directory); CAIRN_EPERM
 *          (permission denied); CAIRN_EIO. */
CAIRN_API int cairn_key_public(cairn_key_info *out, const char *dir, const char *name);

/** Parses one public key line, "cairn-ed25519 <64 lowercase hex digits> NAME", optionally
 *  followed by one "\n" and nothing else: the contents of a .pub file, as given to a command
 *  that trusts a key. The public key must be a valid Ed25519 point.
 *  @param[out] out   the key's public facts
 *  @param[in]  line  a NUL-terminated string
 *  @return CAIRN_OK, or CAIRN_EINVAL saying what is wrong with the line. */
CAIRN_API int cairn_key_parse_public(cairn_key_info *out, const char *line);

/** Loads the secret key NAME from dir, then wipes it: lets a program learn that a passphrase is
 *  wrong before it starts work that needs the key.
 *  @return CAIRN_OK; CAIRN_EAUTH (wrong passphrase, or NAME.key was altered); CAIRN_EPERM
 *          (permission denied); CAIRN_ENOTFOUND (no NAME.key or NAME.pub); CAIRN_ECORRUPT (a
 *          damaged file, or Argon2id limits over what cairn accepts); CAIRN_EINVAL (bad name; no
 *          default directory); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_key_check_passphrase(const char *dir, const char *name,
                                         const char *passphrase);

/* cairn_signer (declared with the commit options above) is what cairn_commit_options.signer
 * signs commits with. There are two kinds, used alike:
 *  - a secret key loaded from a key file (cairn_signer_open()): the secret stays in locked,
 *    guarded memory (libsodium's sodium_malloc) and is wiped when the signer is closed;
 *  - an application's own signer (cairn_signer_new()): an HSM, a KMS, an agent. cairn hands it
 *    the bytes to sign and never touches a key file or a secret.
 * A signer may be used by several threads at once. */

#define CAIRN_SIGNER_METHODS_VERSION 1
/** An application's signer, for cairn_signer_new(). Versioned like the other option structs:
 *  set version to CAIRN_SIGNER_METHODS_VERSION; members are only ever added at the end. */
typedef struct cairn_signer_methods {
    unsigned version;
    /** Signs a commit: data is the commit's signing payload (docs/FORMAT.md, "Commits"), to be
     *  signed as it is with Ed25519 (RFC 8032, pure: no pre-hash). cairn checks the signature
     *  under out_public_key before the commit takes it, so a wrong one fails the commit
     *  (CAIRN_EAUTH) instead of writing a commit whose signature is bad. Called from the thread
     *  that calls cairn_commit() or cairn_merge(), possibly from several threads at once (for
     *  several repositories), and runs under that repository's writer lock (see "Callbacks"
     *  above: calls that take it fail with CAIRN_EBUSY); may call cairn otherwise.
     *  @param[out] out_signature   the 64-byte signature
     *  @param[out] out_public_key  the 32-byte Ed25519 public key it verifies under
     *  @param[in]  data, len       the bytes to sign; borrowed until sign returns
     *  @param[in]  payload         the payload given to cairn_signer_new()
     *  @return 0 when signed; anything else fails the commit (nothing is written) and the
     *          commit call returns that value as-is (say why in your own way: CAIRN_EUSER, or
     *          CAIRN_EAUTH for a refused operation...). */
    int (*sign)(uint8_t out_signature[CAIRN_KEY_SIGNATURE_SIZE],
                uint8_t out_public_key[CAIRN_KEY_PUBLIC_SIZE], const void *data, size_t len,
                void *payload);
    /** Releases payload, once, when the signer is closed (may be NULL: nothing to release). */
    void (*free)(void *payload);
} cairn_signer_methods;

/** Makes a signer from an application's methods.
 *  @param[out] out      caller closes with cairn_signer_close() (which calls methods->free)
 *  @param[in]  name     a name for messages and cairn_signer_info() (as a key name: 1..64 of
 *                       [A-Za-z0-9._-], not starting with '.' or '-'), or NULL for "custom"
 *  @param[in]  methods  copied; sign is required
 *  @param[in]  payload  passed to sign and free; owned by the signer only if free is given
 *  @return CAIRN_OK; CAIRN_EINVAL (NULL out, methods or sign; a version this library does
 *          not know; a bad name); CAIRN_ENOMEM (methods->free is then not called). */
CAIRN_API int cairn_signer_new(cairn_signer **out, const char *name,
                               const cairn_signer_methods *methods, void *payload);

/** Loads the secret key NAME from dir.
 *  @param[out] out         caller closes with cairn_signer_close()
 *  @param[in]  passphrase  the key's passphrase; NULL or "" for a key made with
 *                          CAIRN_KEY_UNPROTECTED
 *  @return as cairn_key_check_passphrase(). */
CAIRN_API int cairn_signer_open(cairn_signer **out, const char *dir, const char *name,
                                const char *passphrase);

/** The public facts of a signer.
 *  @param[out] out  the signer's name, fingerprint and public key. For a signer made with
 *                   cairn_signer_new(), the public key (and fingerprint) of its last signature,
 *                   all zero until it has signed. */
CAIRN_API void cairn_signer_info(cairn_key_info *out, const cairn_signer *signer);

/** Wipes the secret key (or, for an application's signer, calls its free(payload)) and frees
 *  the signer. Accepts NULL. */
CAIRN_API void cairn_signer_close(cairn_signer *signer);

/* Damaged key files. A key made with CAIRN_KEY_UNPROTECTED says so in its NAME.key, so that
 * loading it (cairn_key_check_passphrase(), cairn_signer_open()) tells damage from a missing
 * passphrase: a seal of such a key that does not verify is CAIRN_ECORRUPT naming the file
 * (restore it from a backup, or generate a new key), and a passphrase given for it is
 * CAIRN_EAUTH ("has no passphrase"). CAIRN_EAUTH for a protected key still means a wrong
 * passphrase or an altered file: without the passphrase the two cannot be told apart. */

/** The state of a key's secret file, as cairn_key_scan() finds it. */
enum cairn_key_secret {
    CAIRN_KEY_SECRET_NONE = 0,     /**< no NAME.key: only the public key is here */
    CAIRN_KEY_SECRET_OK = 1,       /**< NAME.key looks whole (a protected key's sealed bytes
                                        can only be checked with its passphrase) */
    CAIRN_KEY_SECRET_DAMAGED = 2   /**< NAME.key is damaged: see secret_message */
};

/** One key file set of a key directory, as cairn_key_scan() reports it. Borrowed, valid until
 *  the callback returns. */
typedef struct cairn_key_entry {
    const char *name;              /**< the key's name, from the file name */
    const cairn_key_info *info;    /**< the key; NULL when NAME.pub could not be read */
    int pub_error;                 /**< CAIRN_OK, or why NAME.pub could not be read
                                        (CAIRN_ECORRUPT: damaged or names another key;
                                        otherwise the code reading it failed with) */
    const char *pub_message;       /**< what is wrong with NAME.pub (naming it); NULL if OK */
    int secret;                    /**< enum cairn_key_secret */
    const char *secret_message;    /**< what is wrong with NAME.key (naming it); NULL unless
                                        DAMAGED */
} cairn_key_entry;

/** Like cairn_key_list(), but one damaged file does not hide the others: calls cb once per
 *  NAME.pub in dir, in name order, whether it could be read or not, and says for each whether
 *  NAME.key is there and whole. A secret file is checked without a passphrase: its layout and
 *  limits always, and the seal too for a key made with CAIRN_KEY_UNPROTECTED (one Argon2id
 *  derivation each). A missing directory has no keys. A non-zero return from cb stops the walk
 *  and is returned.
 *  @return CAIRN_OK (also when some files are damaged: each entry says); cb's non-zero value;
 *          CAIRN_EINVAL (no default directory; dir is not a directory); the code of a failure
 *          to read the directory itself (permission denied: as cairn_key_list()); CAIRN_EIO;
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_key_scan(const char *dir, int (*cb)(const cairn_key_entry *entry, void *payload),
                             void *payload);

/* ---------------------------------------------------------------------------------------------
 * The working set: checkpoints and the operation log
 * ------------------------------------------------------------------------------------------- */

/** Moves every write that is only in the write-ahead log (and memory) into the trees now, and
 *  publishes the new working root. Runs by itself when the memtable outgrows
 *  memtable_bytes, before commit, checkout, merge and diff of the working state, and on close;
 *  call it to bound recovery time or before copying the repository's files.
 *  @return CAIRN_OK (also on a read-only handle: nothing to do); CAIRN_EIO; CAIRN_ENOSPC;
 *          CAIRN_ECONFLICT (another process moved the working root); CAIRN_ENOMEM. */
CAIRN_API int cairn_checkpoint(cairn_db *db);

/** Kinds of operation log record. */
typedef enum cairn_oplog_kind {
    CAIRN_OPLOG_BATCH = 1,       /**< a batch of writes */
    CAIRN_OPLOG_CHECKPOINT = 2,  /**< the trees took in every record up to `through` */
    CAIRN_OPLOG_BULK = 3         /**< a large batch applied to the trees directly */
} cairn_oplog_kind;

/** Kinds of operation within a batch record. */
typedef enum cairn_op_type {
    CAIRN_OP_PUT = 1,
    CAIRN_OP_DELETE = 2,
    CAIRN_OP_CREATE = 3          /**< the batch creates a table (when it is missing) */
} cairn_op_type;

/** One operation of a batch record. */
typedef struct cairn_oplog_op {
    cairn_op_type type;
    const char *table;
    const void *key;         /**< NULL for CAIRN_OP_CREATE */
    size_t klen;
    const void *val;         /**< CAIRN_OP_PUT only */
    size_t vlen;
} cairn_oplog_op;

/** One record of the operation log. Pointers are valid during the callback only. */
typedef struct cairn_oplog_record {
    uint64_t seq;            /**< sequence number within the branch's log */
    int64_t time_ns;         /**< when it was logged: ns since the Unix epoch, UTC */
    cairn_oplog_kind kind;
    size_t nops;             /**< BATCH: its operations, in (table, key) order */
    const cairn_oplog_op *ops;
    uint64_t through;        /**< CHECKPOINT: the last record it took in */
    uint64_t bulk_ops;       /**< BULK: how many operations */
    cairn_id catalog_before; /**< CHECKPOINT, BULK: the catalog root (every table) before ... */
    cairn_id catalog_after;  /**< ... and after */
    cairn_id root_record;    /**< CHECKPOINT: the working root it published */
} cairn_oplog_record;

/** Receives one operation log record (borrowed during the call). Runs under the writer lock
 *  (see "Callbacks" above: writes from it fail with CAIRN_EBUSY).
 *  @return 0 to go on; anything else stops the listing and is returned as-is. */
typedef int (*cairn_oplog_fn)(const cairn_oplog_record *rec, void *payload);

/** Lists the operation log of the checked-out branch in sequence order: retired log segments
 *  (kept by oplog_keep_segments / oplog_keep_seconds) and the live ones. Records with
 *  seq >= since_seq and time_ns within [from_ns, to_ns] (0: unbounded) are passed to cb; a
 *  non-zero return from cb stops the walk and is returned.
 *  @return CAIRN_OK; CAIRN_EUNSUPPORTED (this repository keeps no log: a store without a file
 *          namespace, opened without wal_dir); CAIRN_ECORRUPT (a record in the middle of a segment is damaged: named with
 *          its file and offset); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_oplog(cairn_db *db, uint64_t since_seq, int64_t from_ns, int64_t to_ns,
                          cairn_oplog_fn cb, void *payload);

/* ---------------------------------------------------------------------------------------------
 * Maintenance: garbage collection and verification
 *
 * Chunks are immutable and shared between versions, so nothing is deleted when a write
 * replaces a working state, a branch or tag is deleted or a table dropped: the chunks only
 * they used stay in the store until cairn_gc() removes them. cairn_verify() reads and checks
 * everything the repository holds.
 *
 * What stays: every chunk reachable from a ref — branches and tags with their whole reflogs
 * (every commit a branch or tag ever named, so the reflog and BRANCH@{time} keep working), the
 * working state of every branch (with its base commit and pending merge parents), a detached
 * HEAD, the repository settings, and from each commit its parents and its catalog (every table
 * of that version) — and every version pinned in this process by an open snapshot or cursor of
 * the db handle.
 * ------------------------------------------------------------------------------------------- */

/** Flags for cairn_gc_options.flags (an unsigned set of these). */
typedef enum cairn_gc_flag {
    CAIRN_GC_DRY_RUN = 0x1u /**< mark and count, delete nothing */
} cairn_gc_flag;

/** The grace period of gc on a remote store when neither the options nor the setting gc.grace
 *  give one: one hour. */
#define CAIRN_GC_GRACE_DEFAULT 3600.0
/** The shortest grace the setting gc.grace takes (the CLI's --grace refuses less without
 *  --force): a minute. The library itself accepts any grace >= 0 in the options. */
#define CAIRN_GC_GRACE_FLOOR 60.0

#define CAIRN_GC_OPTIONS_VERSION 2
/** Options for cairn_gc(). Initialise with CAIRN_GC_OPTIONS_INIT. */
typedef struct cairn_gc_options {
    unsigned version;        /**< CAIRN_GC_OPTIONS_VERSION */
    unsigned flags;          /**< cairn_gc_flag values, or-ed */
    double min_live_fraction;/**< local store: pack files in which the chunks that stay take up
                                  less than this fraction of the bytes are rewritten (their live
                                  chunks copied into the newest pack, then the file deleted), so
                                  that deleting chunks gives disk space back. 0 = the default,
                                  0.5; a value above 1 rewrites every pack; a negative value
                                  rewrites none (deleted chunks then only stop being listed) */
    /* ---- version 2 ---- */
    double grace_seconds;    /**< remote stores (s3, postgres): the least time between the run
                                  that records a chunk as a deletion candidate and the run that
                                  may delete it (see cairn_gc()). Negative = the setting gc.grace,
                                  else CAIRN_GC_GRACE_DEFAULT; 0 = delete at the second run
                                  whenever it comes (tests; unsafe while other processes write) */
} cairn_gc_options;

#define CAIRN_GC_OPTIONS_INIT { CAIRN_GC_OPTIONS_VERSION, 0, 0.0, -1.0 }

/** Sets *out to CAIRN_GC_OPTIONS_INIT, for bindings that cannot use the macro. */
CAIRN_API void cairn_gc_options_init(cairn_gc_options *out);

/** What cairn_gc() did. Byte counts of the store are of chunk data as stored (after
 *  compression), from the store's own statistics. */
typedef struct cairn_gc_stats {
    uint64_t chunks_before;  /**< chunks in the store when gc started */
    uint64_t chunks_after;
    uint64_t bytes_before;   /**< bytes of chunk data in the store when gc started */
    uint64_t bytes_after;
    uint64_t files_before;   /**< pack files (local store; 0 for other stores) */
    uint64_t files_after;
    uint64_t chunks_reachable; /**< chunks marked as reachable (some only by id: a table's leaves
                                    are not read, since they name no other chunk) */
    uint64_t chunks_garbage; /**< chunks in the store that nothing reaches */
    uint64_t bytes_garbage;  /**< their bytes as stored */
    uint64_t chunks_deleted; /**< chunks deleted (0 with CAIRN_GC_DRY_RUN); on a remote store,
                                  those the store removed: a candidate a writer wrote again
                                  before the deletion took effect counts as spared */
    uint64_t packs_rewritten;/**< pack files rewritten and deleted (local store) */
    uint64_t disk_bytes_freed; /**< bytes of pack and index files deleted, less the bytes of the
                                    copies written (local store) */
    double seconds;          /**< wall-clock time of the whole run */
    int compacted;           /**< 1: the store compacted (rewrote sparse files) after the deletes;
                                  0 with CAIRN_GC_DRY_RUN, with compaction turned off, or when
                                  the store cannot compact (then gc logs that it skipped it and
                                  the space freed is what deleting gave back) */
    uint64_t versions_pruned;/**< (commit, table) versions this run let go under the documents'
                                  retention policies (cairn_doc_gc(), cairn/doc.h); cairn_gc()
                                  itself applies no policy and leaves this 0 */
    /* remote stores (two phases; see cairn_gc()) */
    int two_phase;           /**< 1: the store is remote and gc ran its two-phase protocol */
    uint64_t candidates_recorded; /**< chunks this run recorded as deletion candidates (the next
                                    run after the grace deletes those still unreachable) */
    uint64_t candidates_waiting; /**< chunks an earlier run recorded that are not yet past their
                                    grace (nothing was deleted or recorded then) */
    double pending_age;      /**< seconds since the candidates this run found were recorded
                                  (0: there were none) */
    double grace_seconds;    /**< the grace period this run used */
    uint64_t requests;       /**< requests this run sent to a remote store (each retry counts) */
    uint64_t bytes_sent;     /**< bytes of request bodies sent to it */
    uint64_t bytes_received; /**< bytes of response bodies received from it */
    uint64_t chunks_spared;  /**< candidates still unreachable that were not deleted because a
                                  writer wrote them again after the record (it was about to
                                  name them); recorded anew */
    uint64_t orphans_removed;/**< objects holding no chunk any index names (s3: pack objects a
                                  killed writer or a failed flush uploaded) older than the grace,
                                  removed */
    uint64_t orphan_bytes;   /**< their bytes */
} cairn_gc_stats;

/** Deletes every chunk nothing reaches (see above), then, on a local store, rewrites the pack
 *  files that deleted chunks left mostly empty.
 *
 *  Safety:
 *  - Marking completes before the first delete, and any error while marking (a chunk that
 *    cannot be read, a malformed ref) stops gc before it deletes anything: a damaged repository
 *    is never made worse. Run cairn_verify() to see what is wrong.
 *  - A crash or kill at any point loses nothing reachable: deletes become durable only at the
 *    store's flush, and pack rewriting copies live chunks durably before it removes a file.
 *    After a crash the repository opens normally; run gc again to finish.
 *  - Writes through this db handle (from any thread) wait until gc is done; reads go on. Every
 *    version an open snapshot or cursor of this handle pins stays readable. Only one gc or
 *    verify runs at a time per handle.
 *  - Other writers cannot exist meanwhile in a local repository: it has one writer process
 *    (the lock), and gc runs in it.
 *  - A repository on a remote store (s3, postgres) may have writers on other machines at any
 *    time, so gc there works in two phases with a grace period (grace_seconds, the setting
 *    gc.grace, or one hour): a run marks from the refs and, instead of deleting, records what is
 *    unreachable as deletion candidates with the time (the ref gc/pending, docs/FORMAT.md); a
 *    later run, at least the grace after, marks again from the refs of that moment and deletes
 *    only the candidates still unreachable, then compacts (s3: rewrites sparse packs, drops
 *    empty ones) and records the rest as the next candidates. A run before the grace has passed
 *    changes nothing. Safe as long as every writer publishes (moves its ref) within the grace
 *    after the first chunk it relies on finding present: docs/ARCHITECTURE.md, "gc on a remote
 *    store", says what that covers and the one case it does not.
 *  - Reader processes (CAIRN_OPEN_READONLY) of a local repository keep what they read: each
 *    reader handle pins the versions it has loaded in a file under DIR/readers/ (held with a
 *    lock; see docs/FORMAT.md, "Reader pins"), and gc keeps everything a live reader pins and
 *    removes the pin files of readers that are gone. A reader that cannot write DIR/readers/
 *    (no permission) reads unpinned: if gc removes what it needs, its reads fail with
 *    CAIRN_ENOTFOUND (never wrong data) and it must reopen. Readers of other stores are not
 *    pinned.
 *  - A revision named by a bare commit id that nothing reaches any more may vanish while it is
 *    read (resolve it to a snapshot first: snapshots pin).
 *
 *  @param[out] out   statistics (may be NULL); written on success
 *  @param[in]  opts  options, or NULL for the defaults
 *  @return CAIRN_OK; CAIRN_EREADONLY (a read-only handle); CAIRN_EINVAL (bad options);
 *          CAIRN_ECONFLICT (remote store: another gc recorded its candidates at the same time;
 *          nothing is lost, run gc again later);
 *          CAIRN_EUNSUPPORTED (the store cannot list or delete chunks); CAIRN_ECORRUPT or
 *          CAIRN_ENOTFOUND (a reachable chunk is damaged or missing, or a ref malformed: nothing
 *          was deleted); CAIRN_EIO; CAIRN_ENOSPC (rewriting packs needs room for the copies);
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts);

/** One problem cairn_verify() found. Borrowed during the callback. */
typedef struct cairn_verify_problem {
    int code;                /**< CAIRN_ECORRUPT (bytes that do not hash to their id, a malformed
                                  structure, a broken reflog chain), CAIRN_ENOTFOUND (a chunk
                                  something refers to is missing), CAIRN_EAUTH (a signature that
                                  does not verify), or the error met reading a chunk (CAIRN_EIO) */
    cairn_id id;             /**< the chunk concerned; zero when the problem is a ref's value */
    const char *ref;         /**< the ref through which the chunk was reached, or "" when the
                                  chunk was found only by scanning the store (unreachable) */
    uint32_t pack;           /**< the number of the file holding the chunk, when the store can
                                  say (its locate method; the local store: the pack,
                                  packs/pack-NNNNNNNN.pack); 0 when not known */
    uint64_t offset;         /**< the byte offset of the chunk's record in that file */
    const char *message;     /**< what is wrong, naming the chunk, what refers to it and, when
                                  the store can say, the file and offset */
} cairn_verify_problem;

/** Receives one problem cairn_verify() found; see cairn_verify_options.on_problem. */
typedef int (*cairn_verify_problem_fn)(const cairn_verify_problem *problem, void *payload);

/** Flags for cairn_verify_options.flags (an unsigned set of these). */
typedef enum cairn_verify_flag {
    CAIRN_VERIFY_REACHABLE_ONLY = 0x1u /**< do not read the chunks nothing reaches */
} cairn_verify_flag;

#define CAIRN_VERIFY_OPTIONS_VERSION 1
/** Options for cairn_verify(). Initialise with CAIRN_VERIFY_OPTIONS_INIT. */
typedef struct cairn_verify_options {
    unsigned version;        /**< CAIRN_VERIFY_OPTIONS_VERSION */
    unsigned flags;          /**< cairn_verify_flag values, or-ed */
    size_t max_problems;     /**< problems passed to on_problem; later ones are only counted.
                                  0 = the default, 20 */
    /** Called for each of the first max_problems problems, in the order found (may be NULL). A
     *  non-zero return stops verification, and cairn_verify() returns it as-is. It runs while
     *  this handle's verify holds its maintenance lock, and for problems in the write-ahead log
     *  also the writer lock: it must not call cairn_gc() or cairn_verify() on the same handle
     *  (they would wait for it), and calls that take the writer lock fail with CAIRN_EBUSY
     *  (see "Callbacks" above); reads are fine. */
    cairn_verify_problem_fn on_problem;
    void *payload;
} cairn_verify_options;

#define CAIRN_VERIFY_OPTIONS_INIT { CAIRN_VERIFY_OPTIONS_VERSION, 0, 0, NULL, NULL }

/** Sets *out to CAIRN_VERIFY_OPTIONS_INIT, for bindings that cannot use the macro. */
CAIRN_API void cairn_verify_options_init(cairn_verify_options *out);

/** What cairn_verify() checked. */
typedef struct cairn_verify_stats {
    uint64_t refs;           /**< refs that name a chunk */
    uint64_t reflog_entries;
    uint64_t commits;
    uint64_t root_records;   /**< working states */
    uint64_t trees;          /**< distinct tree roots (catalogs and tables) */
    uint64_t nodes;          /**< distinct tree nodes */
    uint64_t other_chunks;   /**< reachable chunks of no kind above (the settings) */
    uint64_t chunks_verified;/**< chunks read from the store and re-hashed */
    uint64_t bytes_verified; /**< their plaintext bytes */
    uint64_t unreachable;    /**< chunks in the store that no ref reaches (gc would delete them) */
    uint64_t sigs_good;      /**< commits signed by a trusted key */
    uint64_t sigs_unknown;   /**< signatures that verify, by keys the repository does not trust
                                  (counted, not problems) */
    uint64_t sigs_bad;       /**< signatures that do not verify (each is a problem) */
    uint64_t unsigned_commits;
    uint64_t problems;       /**< all problems found (on_problem saw at most max_problems) */
    double seconds;
    uint64_t log_records;    /**< write-ahead log records read and checked (every branch's live
                                  segments and operation log) */
    uint64_t pruned;         /**< table versions not walked because retention let them go (the
                                  ref retention/pruned records them; cairn_doc_retention_pruned()
                                  in cairn/doc.h lists them per collection): not problems */
} cairn_verify_stats;

/** Checks the whole repository: walks every chunk reachable from every ref (as cairn_gc()
 *  marks), reading each from the store itself (not from the cache) and re-hashing it, and checks
 *  its structure: tree nodes byte by byte, and every distinct tree (catalogs and tables) as a
 *  whole — levels step down by one, keys increase across nodes, every inner key is its child's
 *  last key, every subtree count is right — once per distinct node however many versions share
 *  it; commits, root records, reflog entries and table descriptors decode canonically; reflog
 *  entries chain (each one's old commit is the previous one's new commit); every commit,
 *  parent, catalog and table a chunk names exists; every signature verifies. Then scans the
 *  store and re-hashes the chunks nothing reaches too (unless CAIRN_VERIFY_REACHABLE_ONLY).
 *  Reads only; works on read-only handles. Writes of this handle may go on meanwhile (chunks they
 *  add may be counted as unreachable); a gc of this handle waits. A gc run by another process
 *  at the same time can make chunks vanish mid-walk: verify then reports them missing.
 *
 *  @param[out] out   statistics (may be NULL); written whenever the walk completed (CAIRN_OK or
 *                    CAIRN_ECORRUPT)
 *  @param[in]  opts  options, or NULL for the defaults
 *  @return CAIRN_OK when no problem was found; CAIRN_ECORRUPT when any was (the thread's last
 *          error names the first); on_problem's non-zero value; CAIRN_EINVAL (bad options);
 *          CAIRN_EUNSUPPORTED (the store cannot list chunks); CAIRN_EIO (listing refs or
 *          chunks failed); CAIRN_ENOMEM. */
CAIRN_API int cairn_verify(cairn_verify_stats *out, cairn_db *db,
                           const cairn_verify_options *opts);

/* ---------------------------------------------------------------------------------------------
 * Repair: damage the store itself knows of (docs/FORMAT.md, "Local store")
 * ------------------------------------------------------------------------------------------- */

/* Damaged refs, across the API (kept here so that the declarations above stay as they are):
 * a ref whose file cannot be read (both slots damaged) hides nothing else. cairn_branch_list()
 * and cairn_tag_list() call cb for every readable ref and then return CAIRN_ECORRUPT naming the
 * damaged one; cairn_branch_delete() and cairn_tag_delete() delete a damaged ref's file (its
 * value cannot be compared, so it is deleted as it is); cairn_gc() refuses with CAIRN_ECORRUPT
 * naming it (it cannot mark what the ref names); cairn_verify() walks everything else and
 * reports it. A ref read from its older slot because the newer one is damaged is reported by
 * cairn_verify() and cairn_repair(); a commit refused because of it (CAIRN_ECONFLICT) says so.
 * A commit whose branch is an ancestor of the commit its working state is based on (the ref was
 * set back) goes on from that commit, with a warning, instead of failing. */

/* cairn_repair_item.kind */
#define CAIRN_REPAIR_PACK_DAMAGE 1  /**< a damaged byte range of a pack (corruption, kept as it is) */
#define CAIRN_REPAIR_QUARANTINE 2   /**< a file of quarantine/: bytes cut from a pack's torn tail */
#define CAIRN_REPAIR_REF_SLOT 3     /**< a ref file with one damaged slot, read from the other */
#define CAIRN_REPAIR_REF_DAMAGED 4  /**< a ref file whose value cannot be read at all */

/** One thing cairn_repair() found, and what it did about it. Borrowed during the callback. */
typedef struct cairn_repair_item {
    int kind;               /**< CAIRN_REPAIR_* */
    int problem;            /**< damage, or data at risk (cairn_verify() reports it too); false:
                                 a note (a quarantine file whose chunks are all in the store) */
    int fixed;              /**< repaired by this call (never with CAIRN_REPAIR_DRY_RUN) */
    const char *file;       /**< the file, relative to the repository ("refs/heads/main") */
    uint64_t offset;        /**< PACK_DAMAGE: the damaged range's offset; else 0 */
    uint64_t length;        /**< PACK_DAMAGE: its length; QUARANTINE: the file's size */
    const char *message;    /**< what is wrong, what is read instead, and what to do (or what
                                 was done) */
} cairn_repair_item;

/** What cairn_repair() found and did. */
typedef struct cairn_repair_stats {
    uint64_t items;          /**< items reported */
    uint64_t problems;       /**< of which problems */
    uint64_t fixed;          /**< problems repaired */
    uint64_t chunks_restored;/**< chunks put back from quarantine/ */
    uint64_t slots_rewritten;/**< ref slots rewritten from the other slot */
} cairn_repair_stats;

#define CAIRN_REPAIR_DRY_RUN 0x1u /**< report what would be done; change nothing */

#define CAIRN_REPAIR_OPTIONS_VERSION 1
/** Options for cairn_repair(). Initialise with CAIRN_REPAIR_OPTIONS_INIT. */
typedef struct cairn_repair_options {
    unsigned version;        /**< CAIRN_REPAIR_OPTIONS_VERSION */
    unsigned flags;          /**< CAIRN_REPAIR_* flags */
    /** Called for each item found (may be NULL); must not call back into the library. A
     *  non-zero return stops, and cairn_repair() returns it. */
    int (*on_item)(const cairn_repair_item *item, void *payload);
    void *payload;
} cairn_repair_options;

#define CAIRN_REPAIR_OPTIONS_INIT { CAIRN_REPAIR_OPTIONS_VERSION, 0, NULL, NULL }

/** Lists the damage the store knows of (damaged pack ranges, quarantined bytes, damaged ref
 *  slots, unreadable refs) and repairs what can be repaired without losing anything: puts back
 *  every valid chunk record of quarantine/ that is not in the store, and rewrites a ref's
 *  damaged slot from its valid one (the value the ref reads already; run with
 *  CAIRN_REPAIR_DRY_RUN first to see it). Never deletes or truncates anything. What it cannot
 *  repair (a damaged pack range, a ref neither of whose slots is valid) is reported with what
 *  to do. Run cairn_verify() afterwards for what the damage affects.
 *  @param[out] out   what was found and done (may be NULL); zeroed on entry
 *  @param[in]  opts  options, or NULL for the defaults
 *  @return CAIRN_OK (also when problems remain: see out->problems - out->fixed);
 *          CAIRN_EREADONLY (without DRY_RUN on a read-only handle); CAIRN_EUNSUPPORTED (the
 *          store cannot list its damage); CAIRN_EINVAL; CAIRN_EIO; CAIRN_ENOSPC; CAIRN_ENOMEM;
 *          on_item's non-zero value. */
CAIRN_API int cairn_repair(cairn_repair_stats *out, cairn_db *db,
                           const cairn_repair_options *opts);

/* ---------------------------------------------------------------------------------------------
 * Repository statistics
 * ------------------------------------------------------------------------------------------- */

typedef struct cairn_db_stats {
    uint64_t chunks;         /**< chunks in the store */
    uint64_t stored_bytes;   /**< bytes the store holds (frames, after compression) */
    uint64_t packs;          /**< pack files (local store), 0 otherwise */
    uint64_t tables;
    uint64_t cache_bytes;    /**< verified chunks held in memory now */
    uint64_t cache_hits;     /**< reads of a chunk served from memory since open */
    uint64_t cache_misses;   /**< reads that fetched it from the store (read-ahead's own
                                  fetches count as neither: the read that finds one is a hit) */
    uint64_t chunks_read;    /**< chunks fetched from the store and verified since open */
    uint64_t chunks_written; /**< new chunks written since open */
    /* the working set (write-ahead log and memtables) of the checked-out branch */
    uint64_t wal_bytes;      /**< in live log segments (allocated size of the active one) */
    uint64_t wal_segments;   /**< live log segments */
    uint64_t oplog_segments; /**< retired segments kept for the operation log */
    uint64_t wal_last_seq;   /**< sequence number of the newest log record */
    uint64_t wal_synced_seq; /**< ... and of the newest one known to be fsynced */
    uint64_t memtable_bytes; /**< memory held by writes not yet in the trees */
    uint64_t memtable_entries;
    uint64_t tree_seq;       /**< the trees hold every record up to this sequence number */
    uint64_t checkpoints;    /**< checkpoints since open */
    int64_t last_checkpoint_ns; /**< wall time (ns since the epoch, UTC) of the last one; 0 none */
    uint64_t recovery_ns;    /**< time the last open spent replaying the log */
    uint64_t recovered_records; /**< records it replayed */
    int wal_location;        /**< where the log is kept: CAIRN_WAL_STORE, CAIRN_WAL_DIR or
                                  CAIRN_WAL_NONE */
    /* what a store reached over the network (s3) has moved since open; 0 for other stores */
    uint64_t store_requests;       /**< requests sent, retries included */
    uint64_t store_bytes_sent;     /**< bytes of request bodies */
    uint64_t store_bytes_received; /**< bytes of response bodies */
    /* the disk cache a remote store is read through (README.md, "The disk cache"); 0 and NULL
     * when there is none. (cache_hits and cache_misses above are the memory cache's.) */
    uint64_t disk_cache_hits;    /**< chunks read from the disk cache since open */
    uint64_t disk_cache_misses;  /**< chunks it did not have (read from the store) */
    uint64_t disk_cache_damaged; /**< damaged entries found, dropped and fetched again */
    uint64_t disk_cache_bytes;   /**< bytes its root holds now (every repository's cache) */
    uint64_t disk_cache_bound;   /**< the bound it is kept under (setting cache.size) */
    const char *disk_cache_dir;  /**< its directory; borrowed, valid until cairn_close() */
} cairn_db_stats;

/* cairn_db_stats.wal_location */
#define CAIRN_WAL_NONE 0     /**< no log files (a store without a file namespace, opened without
                                  wal_dir): writes live in memory until checkpointed, and a
                                  durable store checkpoints after every write (writes from
                                  several threads that arrive together share one checkpoint) */
#define CAIRN_WAL_STORE 1    /**< in the store's own files (DIR/wal/<branch>/ of a local one) */
#define CAIRN_WAL_DIR 2      /**< in the open option wal_dir */

/** @return CAIRN_OK, CAIRN_EIO or CAIRN_ENOMEM. */
CAIRN_API int cairn_db_stats_get(cairn_db_stats *out, cairn_db *db);

/* ---------------------------------------------------------------------------------------------
 * Proofs: a key's presence (with its value) or absence in a table, shown to a third party who
 * holds only one trusted id. A proof carries the node bytes along the key's search path (and
 * the catalog's path to the table's descriptor, and for a commit anchor the commit itself);
 * checking it re-hashes every node up to the trusted id and redoes the search. It needs no
 * repository. docs/FORMAT.md, "Proofs", gives every byte, so other programs can verify too.
 * ------------------------------------------------------------------------------------------- */

/** What the trusted id of a proof names. */
typedef enum cairn_proof_anchor {
    CAIRN_PROOF_TABLE = 1,   /**< a table's root (cairn_table_root(), `cairn root`) */
    CAIRN_PROOF_CATALOG = 2, /**< a catalog root: every table's state (cairn_snapshot_root()) */
    CAIRN_PROOF_COMMIT = 3   /**< a commit id: the commit names the catalog root */
} cairn_proof_anchor;

/** Makes a proof of key in table. For a snapshot opened at a commit (cairn_snapshot_open_at())
 *  it is anchored at that commit's id (cairn_snapshot_commit()): it carries the commit, which
 *  names the catalog root; otherwise at the catalog root of snap (NULL = the current state),
 *  which cairn_snapshot_root() reports. Then it shows the table's descriptor in that catalog,
 *  and the key (found, with its value) or its absence in the table. A proof is a few KiB per
 *  tree level (the nodes on the path, ~4 KiB each).
 *  @param[out] out_proof  the proof bytes; caller frees with cairn_free()
 *  @param[out] out_len    their length
 *  @param[in]  snap       the state to prove against, or NULL for the current state (the proof
 *                         then verifies against the catalog root current at the call)
 *  @return CAIRN_OK (for a present and for an absent key alike); CAIRN_ENOTFOUND (the table
 *          does not exist in that state); CAIRN_EINVAL (key over the limit, NULL key with a
 *          length, or a snapshot of another db); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_prove(void **out_proof, size_t *out_len, cairn_table *table,
                          const cairn_snapshot *snap, const void *key, size_t klen);

/** What a valid proof proves. Filled in by cairn_proof_verify(). */
typedef struct cairn_proof_result {
    cairn_proof_anchor anchor; /**< what the trusted id named */
    int found;               /**< 1: the key is in the table with `value`; 0: it is absent */
    const void *key;         /**< the key the proof is about; borrowed from the proof bytes,
                                  valid while they are (never NULL, even for the empty key) */
    size_t key_len;
    const void *value;       /**< found: the value, borrowed from the proof bytes; else NULL */
    size_t value_len;
    char table[CAIRN_TABLE_NAME_LEN_MAX + 1]; /**< the table's name, NUL-terminated (catalog and
                                  commit anchors); "" for a table anchor */
    cairn_id commit;         /**< commit anchor: the commit id; else all zero */
    const void *commit_data; /**< commit anchor: the commit's bytes (their SHA-256 is its id),
                                  borrowed from the proof bytes (e.g. to check its signature);
                                  else NULL */
    size_t commit_len;
    cairn_id catalog_root;   /**< catalog and commit anchors: the catalog root; else all zero */
    cairn_id table_root;     /**< the table's root: the trusted id itself for a table anchor,
                                  else the one the catalog names */
} cairn_proof_result;

/** Checks a proof against a trusted id and reports what it proves: the id the proof is
 *  anchored at (a table root, catalog root or commit id), or any id lower in its chain (a proof
 *  anchored at a commit also verifies against that commit's catalog root and against the
 *  table's root, one anchored at a catalog against the table's root). out->anchor names the
 *  link the trusted id matched; what is above it is not proven and left out (a table root
 *  proves no table name: out->table is then ""). Needs no repository and never writes anything.
 *  A valid proof is a true statement about the data under trusted_root, but maybe not the one
 *  you asked about: check that out->anchor, out->table and out->key are what you expect (the
 *  proof of another key, or another table, under the same root verifies too).
 *  @param[out] out           the result; written only on success
 *  @param[in]  proof         the bytes from cairn_prove() (or another implementation of the
 *                            format); len may be anything, hostile bytes are rejected
 *  @param[in]  trusted_root  the id you trust
 *  @return CAIRN_OK: the proof is valid for trusted_root, and out->found says whether the key
 *          is present; CAIRN_EAUTH: it is not (malformed, a hash that does not chain up to
 *          trusted_root, a path that is not the key's search path, the table missing from the
 *          catalog...), the message says what failed; CAIRN_EINVAL (out or trusted_root NULL,
 *          or proof NULL with len > 0); CAIRN_ENOMEM (decoding the commit of a commit anchor). */
CAIRN_API int cairn_proof_verify(cairn_proof_result *out, const void *proof, size_t len,
                                 const cairn_id *trusted_root);

/* ---------------------------------------------------------------------------------------------
 * Tuple keys: an order-preserving encoding of typed tuples, after FoundationDB's tuple layer
 * (same type codes; docs/FORMAT.md, "Tuples", gives every byte).
 *
 * The bytes of two encoded tuples compare (memcmp, shorter first) exactly as the tuples do:
 * element by element, a tuple before every longer tuple that starts with it; elements by type
 * first (null < bytes < string < nested < int < double < bool), then by value. Integers compare
 * numerically; doubles by IEEE total order (-NaN < -inf < ... < -0.0 < 0.0 < ... < inf < NaN),
 * where every NaN is stored as the quiet NaN of its sign, so NaNs of one sign are equal; bytes
 * and strings bytewise (for UTF-8 that is code point order), a prefix first; nested tuples
 * recursively; false < true.
 *
 * Every tuple has exactly one encoding, so equal tuples are equal keys, and the decoder accepts
 * nothing else. To visit every key that starts with the elements of a tuple t (t included), use
 * the range from = enc(t), to = enc(t) followed by one 0xFF byte; not prefix = enc(t), which
 * also matches longer bytes or strings in t's last element (("a") is a byte prefix of ("a\0")).
 * ------------------------------------------------------------------------------------------- */

/** An encoder: an encoded tuple that grows one element at a time. One thread at a time. */
typedef struct cairn_tuple cairn_tuple;

/** Element types, as reported by the decoder. */
typedef enum cairn_tuple_type {
    CAIRN_TUPLE_NULL = 0,
    CAIRN_TUPLE_BYTES = 1,
    CAIRN_TUPLE_STRING = 2,
    CAIRN_TUPLE_NESTED = 3,
    CAIRN_TUPLE_INT = 4,
    CAIRN_TUPLE_DOUBLE = 5,
    CAIRN_TUPLE_BOOL = 6
} cairn_tuple_type;

/** Starts an empty tuple encoder.
 *  @param[out] out  caller frees with cairn_tuple_free()
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
CAIRN_API int cairn_tuple_new(cairn_tuple **out);

/** Frees an encoder and its bytes. Accepts NULL. */
CAIRN_API void cairn_tuple_free(cairn_tuple *tuple);

/** Empties the tuple for reuse, forgetting any open nested tuples; keeps its memory, so that
 *  encoding key after key does not allocate. */
CAIRN_API void cairn_tuple_reset(cairn_tuple *tuple);

/** Append one element to the innermost open tuple. On failure the tuple is unchanged.
 *  cairn_tuple_add_bytes: len bytes, copied; bytes may be NULL when len is 0.
 *  cairn_tuple_add_string: len bytes of UTF-8, copied (no NUL terminator needed; U+0000 is
 *      allowed); rejected when not valid UTF-8: overlong forms, surrogates (U+D800..U+DFFF),
 *      code points above U+10FFFF, truncated sequences. str may be NULL when len is 0.
 *  cairn_tuple_add_double: any NaN is stored as the quiet NaN of its sign (0x7ff8000000000000
 *      or 0xfff8000000000000); -0.0 and 0.0 stay distinct (-0.0 sorts first).
 *  cairn_tuple_add_bool: 0 is false, anything else true.
 *  @return CAIRN_OK; CAIRN_EINVAL (invalid UTF-8, or NULL with len > 0); CAIRN_ENOMEM. */
CAIRN_API int cairn_tuple_add_null(cairn_tuple *tuple);
CAIRN_API int cairn_tuple_add_bytes(cairn_tuple *tuple, const void *bytes, size_t len);
CAIRN_API int cairn_tuple_add_string(cairn_tuple *tuple, const char *str, size_t len);
CAIRN_API int cairn_tuple_add_int(cairn_tuple *tuple, int64_t value);
CAIRN_API int cairn_tuple_add_double(cairn_tuple *tuple, double value);
CAIRN_API int cairn_tuple_add_bool(cairn_tuple *tuple, int value);

/** Opens a nested tuple: elements added until the matching cairn_tuple_end_nested() belong to
 *  it. At most 32 nested tuples may be open at once. On failure the tuple is unchanged.
 *  @return CAIRN_OK; CAIRN_EINVAL (begin: 32 are open already; end: none is open);
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_tuple_begin_nested(cairn_tuple *tuple);
CAIRN_API int cairn_tuple_end_nested(cairn_tuple *tuple);

/** The encoding of the tuple built so far.
 *  @param[out] out_len  its length (0 when NULL is returned); may be NULL
 *  @return the bytes, borrowed, valid until the tuple is next changed, reset or freed; never
 *          NULL for a complete tuple (the empty tuple gives a valid pointer and length 0);
 *          NULL while a nested tuple is open (an incomplete tuple is no valid key). */
CAIRN_API const void *cairn_tuple_data(size_t *out_len, const cairn_tuple *tuple);

/** One decoded element. Fields that do not belong to its type are 0 (NULL). */
typedef struct cairn_tuple_item {
    cairn_tuple_type type;
    int depth;               /**< nesting depth: 0 = top level; the members of a nested tuple at
                                  depth d have depth d + 1 (at most 32) */
    int64_t i;               /**< CAIRN_TUPLE_INT */
    double d;                /**< CAIRN_TUPLE_DOUBLE; a NaN is always the quiet NaN of its sign */
    int b;                   /**< CAIRN_TUPLE_BOOL: 0 or 1 */
    const void *data;        /**< BYTES, STRING: the unescaped bytes (never NULL, even when len
                                  is 0; not NUL-terminated); borrowed, valid until the callback
                                  returns */
    size_t len;              /**< BYTES, STRING: length of data */
} cairn_tuple_item;

/** Receives one decoded element (borrowed during the call). May call cairn.
 *  @return 0 to go on; anything else stops decoding and is returned as-is. */
typedef int (*cairn_tuple_fn)(const cairn_tuple_item *item, void *payload);

/** Decodes an encoded tuple, calling cb once per element in order. A NESTED element is reported
 *  when it opens; its members follow with depth + 1, and it ends before the next element of
 *  smaller depth (or at the end of the input). A non-zero return from cb stops decoding and is
 *  returned.
 *  The input must be exactly one canonical encoding: anything else (bad type codes, integers
 *  that are not minimal or do not fit in int64, NaNs other than the two canonical ones, invalid
 *  UTF-8, a 0x00 inside a nested tuple followed by what cannot follow it, nesting deeper than
 *  32, truncation) is CAIRN_EINVAL with the byte offset in the message, e.g.
 *  "tuple: bad type code 0x33 at offset 7". Decoding streams: cb sees the elements before the
 *  first error, so validate first (cb = NULL) when a partial tuple must not be acted on.
 *  @param[in] cb  called per element, or NULL to only validate
 *  @return CAIRN_OK; CAIRN_EINVAL; CAIRN_ENOMEM (unescaping a payload that holds 0x00 bytes and
 *          is over 128 bytes long needs a buffer); or cb's non-zero value. */
CAIRN_API int cairn_tuple_decode(const void *data, size_t len, cairn_tuple_fn cb,
                                 void *payload);

/* ---------------------------------------------------------------------------------------------
 * Remotes: push, fetch, clone (docs/ARCHITECTURE.md, "Transfer")
 *
 * A remote is a name for another repository's URL (any store: a directory, mem:, and the network
 * stores when built in), kept in the repository's settings. Push copies a branch's commits and
 * everything they reach to the remote, sending only the chunks the remote lacks, then moves the
 * remote's branch by compare-and-swap; fetch does the same the other way for every branch of the
 * remote and records where they were in remote-tracking refs ("remotes/NAME/BRANCH", read as
 * the revision NAME/BRANCH). Every chunk copied is re-hashed against its id on the way.
 * ------------------------------------------------------------------------------------------- */

/** What one push, fetch or clone moved and what it cost, in calls to the stores (each call is a
 *  round trip on a network store). */
typedef struct cairn_transfer_stats {
    uint64_t chunks;         /**< chunks copied (the destination lacked them), each verified */
    uint64_t bytes;          /**< their bytes as stored (frames) */
    uint64_t commits;        /**< of the chunks, commits */
    uint64_t present;        /**< chunks the destination had already (their subtrees skipped) */
    uint64_t has_calls;      /**< has_many batches sent to the destination */
    uint64_t get_calls;      /**< get_many batches sent to the source */
    uint64_t put_calls;      /**< put_many batches sent to the destination */
    uint64_t flushes;        /**< durability barriers of the destination */
    uint64_t ref_calls;      /**< ref reads, listings and compare-and-swaps, both sides */
    uint64_t requests;       /**< all store calls: the five counts above together */
    double seconds;
    int up_to_date;          /**< push: the remote's branch was already there (nothing moved) */
    uint64_t pruned;         /**< table versions left out because the source's retention let
                                  them go (their chunks are gone there); the record saying so
                                  is carried to the destination */
} cairn_transfer_stats;

/** Flags for cairn_transfer_options.flags. */
#define CAIRN_PUSH_FORCE 0x1u /**< push even when the remote's branch is not an ancestor of the
                                   commit pushed (its commits no longer reachable from it) */

#define CAIRN_TRANSFER_OPTIONS_VERSION 1
/** Options for cairn_push(), cairn_fetch() and cairn_clone(). Initialise with
 *  CAIRN_TRANSFER_OPTIONS_INIT. */
typedef struct cairn_transfer_options {
    unsigned version;        /**< CAIRN_TRANSFER_OPTIONS_VERSION */
    unsigned flags;          /**< CAIRN_PUSH_FORCE */
    unsigned lock_timeout_ms;/**< how long to wait for the other repository's writer lock
                                  (a local repository another process writes); default 10 s */
    /** Called a few times a second while chunks move, and once at the end (may be NULL). It
     *  must not call back into the library on the same handle. */
    void (*progress)(const cairn_transfer_stats *stats, void *payload);
    void *payload;
} cairn_transfer_options;

#define CAIRN_TRANSFER_OPTIONS_INIT { CAIRN_TRANSFER_OPTIONS_VERSION, 0, 10000, NULL, NULL }

/** Sets *out to CAIRN_TRANSFER_OPTIONS_INIT, for bindings that cannot use the macro. */
CAIRN_API void cairn_transfer_options_init(cairn_transfer_options *out);

/** Adds remote `name` (letters, digits, . _ -; at most 64 bytes) for url, durably.
 *  @return CAIRN_OK; CAIRN_EEXIST (a remote of that name exists); CAIRN_EINVAL (bad name or
 *          empty url); CAIRN_ECONFLICT (the settings changed concurrently); CAIRN_EREADONLY;
 *          CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_remote_add(cairn_db *db, const char *name, const char *url);

/** Removes remote `name` and its remote-tracking refs (remotes/NAME/...).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_ECONFLICT; CAIRN_EREADONLY; CAIRN_EIO. */
CAIRN_API int cairn_remote_remove(cairn_db *db, const char *name);

/** Calls cb(name, url, payload) for each remote in name order (strings borrowed during the
 *  call). @return CAIRN_OK; cb's non-zero value; CAIRN_ECORRUPT (damaged settings); CAIRN_EIO. */
CAIRN_API int cairn_remote_list(cairn_db *db,
                                int (*cb)(const char *name, const char *url, void *payload),
                                void *payload);

/** The URL of remote `name`; caller frees with cairn_free().
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_remote_url(char **out, cairn_db *db, const char *name);

/** Calls cb for each remote-tracking branch in name order, with its name as a revision
 *  ("origin/main") and the commit it was at when last fetched or pushed (current is 0).
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_remote_branch_list(cairn_db *db, cairn_branch_fn cb, void *payload);

/** Pushes `branch` (NULL: the current one) to the same branch of remote `remote`: copies the
 *  branch's head commit and everything it reaches that the remote lacks (each chunk verified),
 *  flushes the remote, then moves its branch by compare-and-swap (recording the move in its
 *  reflog), and sets remotes/REMOTE/BRANCH here. A working state the remote keeps for that
 *  branch without uncommitted changes follows the branch; one with uncommitted changes makes
 *  the push fail (CAIRN_ECONFLICT) before anything moves.
 *  @param[out] out   what moved (may be NULL); written also on failure
 *  @param[in]  opts  NULL for the defaults; CAIRN_PUSH_FORCE to replace a remote branch that
 *                    is not an ancestor of the commit pushed
 *  @return CAIRN_OK (also when the remote was up to date: out->up_to_date);
 *          CAIRN_ECONFLICT: "non-fast-forward: the remote's BRANCH has commits this one lacks;
 *          fetch and merge first, or push --force" (also when another push moved it meanwhile:
 *          exactly one of two concurrent pushes wins); CAIRN_ENOTFOUND (no such remote, or the
 *          branch has no commits); CAIRN_ECORRUPT (a chunk of this repository is damaged: named,
 *          and no ref moved); CAIRN_EBUSY (the remote's writer lock stayed taken); the stores'
 *          errors (CAIRN_EIO, ...); CAIRN_ENOMEM. */
CAIRN_API int cairn_push(cairn_transfer_stats *out, cairn_db *db, const char *remote,
                         const char *branch, const cairn_transfer_options *opts);

/** Fetches every branch of remote `remote`: copies what their heads reach that this repository
 *  lacks (each chunk verified) and sets remotes/REMOTE/BRANCH to each head (moved whatever it
 *  was, as git's "+refs/heads/...:refs/remotes/..." does). Branches here do not move:
 *  merge NAME/BRANCH for that (the CLI's pull). Tracking refs of branches the remote no longer has are left as they are.
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such remote); CAIRN_ECORRUPT (a chunk of the remote
 *          is damaged: named, no ref moved); CAIRN_EREADONLY; the stores' errors; CAIRN_ENOMEM. */
CAIRN_API int cairn_fetch(cairn_transfer_stats *out, cairn_db *db, const char *remote,
                          const cairn_transfer_options *opts);

/** Makes dst_url (a new or empty store: a directory that does not exist or holds no
 *  repository, or any URL cairn_store_open_url() takes) a copy of the repository at src_url:
 *  every branch, tag, working state (with its committed-to-the-trees changes), HEAD and the
 *  settings, with the same values (every ref and root equal), then the remote "origin" for
 *  src_url with a tracking ref per branch. Every chunk copied is verified, and at the end each
 *  ref's value is read back from the destination and the chunk it names re-read and re-hashed.
 *  Writes not yet checkpointed into the source's trees (in its write-ahead log) are not copied.
 *  A clone that was interrupted (HEAD is written last) can be run again and completes.
 *  @return CAIRN_OK; CAIRN_EEXIST (dst_url holds a repository already); CAIRN_ENOTFOUND (no
 *          repository at src_url); CAIRN_ECORRUPT (a chunk of the source is damaged: named);
 *          the stores' errors; CAIRN_ENOMEM. */
CAIRN_API int cairn_clone(cairn_transfer_stats *out, const char *src_url, const char *dst_url,
                          const cairn_transfer_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_H */
