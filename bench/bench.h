/*
 * bench.h - the interface between the benchmark driver (bench.c) and its engine adapters
 * (eng_<name>.c), plus the deterministic data set every engine is fed.
 *
 * The driver owns the data, the clock and the checks; an adapter only translates "open, load,
 * get, scan, close" into one engine's C API. Each adapter exports one const bench_engine. A NULL
 * method means "this engine does not support that workload": the driver skips it and says so.
 * New workloads add a method at the end of bench_engine and an entry in the driver's workload
 * table; adapters that leave it NULL need no change.
 */
#ifndef CAIRN_BENCH_H
#define CAIRN_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Data: key i and value i are pure functions of (seed, i), so every engine sees the same keys in
 * the same order, and a reader can regenerate the expected value instead of keeping 100 MB.
 * ------------------------------------------------------------------------------------------- */

#define BENCH_KEY_SIZE 16    /* random bytes: insertion order is random in key order */
#define BENCH_VALUE_SIZE 100 /* random bytes: incompressible */

typedef struct bench_data {
    uint64_t seed;
    uint64_t n; /* keys 0..n-1 */
} bench_data;

void bench_key(const bench_data *data, uint64_t i, uint8_t out[BENCH_KEY_SIZE]);
void bench_value(const bench_data *data, uint64_t i, uint8_t out[BENCH_VALUE_SIZE]);
/** n bytes as 2n lowercase hex digits and a NUL (the git peers' file names). */
void bench_hex(char *out, const uint8_t *bytes, size_t n);

/** An order-independent digest of one value; the scan sums it over every value it sees and
 *  compares with the sum over the generated values, so a scan must read every value byte. */
uint64_t bench_value_digest(const void *val, size_t len);

/** Update number u (0, 1, 2, ... within a workload) of an existing key: writes the new value
 *  into val and returns the key's index, drawn uniformly from 0..n-1. The value's first 8 bytes
 *  tag it as an update of that key, which bench_is_update() recognises. */
uint64_t bench_update(const bench_data *data, uint64_t u, uint8_t val[BENCH_VALUE_SIZE]);

/** @return 1 when val is a value bench_update() made for key index i, else 0. */
int bench_is_update(uint64_t i, const void *val, size_t len);

/** A permutation of 0..n-1 (a seeded Fisher-Yates shuffle); caller frees with free().
 *  @return NULL when out of memory. */
uint32_t *bench_permutation(const bench_data *data);

/* ---------------------------------------------------------------------------------------------
 * Engines
 * ------------------------------------------------------------------------------------------- */

/** Adapter status: 0 on success, BENCH_ERR after printing what failed (engine call and the
 *  engine's own message) to stderr, BENCH_NOTFOUND from get() for an absent key. */
#define BENCH_ERR (-1)
#define BENCH_NOTFOUND (-2)

/** What the driver asks of every engine alike. Zero fields mean "the engine's default". */
typedef struct bench_config {
    size_t cache_bytes; /* the engine's own cache (page, block or chunk cache); LMDB has none */
} bench_config;

/** Receives one entry of a scan; pointers are borrowed for the call. Non-zero stops the scan
 *  and is returned by scan(). */
typedef int (*bench_scan_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                             void *payload);

/** One put of a transaction or commit; pointers borrowed for the call. */
typedef struct bench_kv {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} bench_kv;

/** Room for a version (commit) id as an engine spells it, with its NUL. */
#define BENCH_VERSION_ID_SIZE 80

/** bench_engine.flags */
#define BENCH_NO_LOG 0x1u        /* no write-ahead log: recover measures a plain open, no RATIO */
#define BENCH_VERSIONS_ONLY 0x2u /* a peer for the version workloads only: its load runs (the
                                    versions need the data) but is not reported */

typedef struct bench_engine {
    const char *name;     /* as given to --engines */
    const char *settings; /* one line: the non-default settings and the durability mode */

    /** Writes the library version into buf (cap bytes). */
    void (*version)(char *buf, size_t cap);

    /** Opens the engine's store in dir. With create, dir does not exist yet and the adapter
     *  makes whatever it needs; without, it reopens what an earlier handle left there.
     *  @param[out] out  the handle, released by close()
     *  @param[in]  cfg  borrowed for the call */
    int (*open)(void **out, const char *dir, int create, const bench_config *cfg);

    /** Closes the handle, flushing as the engine does on a clean shutdown. */
    int (*close)(void *db);

    /** Inserts keys 0..n-1 in index order (random in key order) in one transaction or batch and
     *  returns once it is durable (synced). This is what the load workload times. */
    int (*load)(void *db, const bench_data *data);

    /** Optional, untimed, after load: brings the data into the engine's at-rest layout
     *  (e.g. an LSM's memtable into table files) before the size is measured. NULL: nothing. */
    int (*settle)(void *db);

    /** Point read. *val is borrowed, valid until the next get() or close().
     *  @return 0, BENCH_NOTFOUND or BENCH_ERR. */
    int (*get)(void *db, const void *key, size_t klen, const void **val, size_t *vlen);

    /** Calls cb for every entry in ascending key order. */
    int (*scan)(void *db, bench_scan_fn cb, void *payload);

    /** Proof (cairn): makes a proof that key is (or is not) in the table, against the state of
     *  the first prove() call after open(), which stays pinned until close(). *proof is
     *  borrowed, valid until the next prove() or close(). */
    int (*prove)(void *db, const void *key, size_t klen, const void **proof, size_t *len);

    /** Checks a proof with nothing but its bytes and the trusted root of the state prove()
     *  pinned (no store access). *val is borrowed from the proof bytes.
     *  @return 0 (valid, about key, key present), BENCH_NOTFOUND (valid, key absent) or
     *          BENCH_ERR (invalid, or about another key). */
    int (*verify)(void *db, const void *proof, size_t len, const void *key, size_t klen,
                  const void **val, size_t *vlen);

    /* ---- Durable transactions (txn, txn8) ---- */

    /** Opens a writer: one thread's handle for transactions on the open store db, which every
     *  writer shares. Called on the thread that uses it; released by writer_close() there. */
    int (*writer_open)(void **out, void *db);

    /** Applies n puts of existing keys as one atomic transaction, durable (synced) on return,
     *  in the engine's durable mode. Other writers of the same db may call it at the same time. */
    int (*txn)(void *writer, const bench_kv *ops, size_t n);

    void (*writer_close)(void *writer);

    /* ---- Crash recovery (recover) ---- */

    /** Runs in a child process that the driver kills (SIGKILL) as soon as it returns, without
     *  closing anything: makes a fresh store in dir (which does not exist yet), with settings
     *  under which nothing moves out of the write-ahead log, and writes keys 0..n-1 there as
     *  n single-put records (relaxed durability allowed), the last one durable. */
    int (*crash_load)(const char *dir, const bench_data *data);

    /** Opens what crash_load left, with the same settings; released by close(). The time of
     *  this call plus one get() is what recover measures. */
    int (*crash_open)(void **out, const char *dir, const bench_config *cfg);

    /** Optional: one line about an open store's state (recover prints it in its note). */
    void (*describe)(void *db, char *buf, size_t cap);

    /* ---- Versions (diff, diff1k, commit, merge). A branch "main" is current after open. ---- */

    /** Applies the puts (n may be 0) to the current branch and commits them, durably.
     *  @param[out] id  the new commit's id */
    int (*vcommit)(void *db, const bench_kv *ops, size_t n, char id[BENCH_VERSION_ID_SIZE]);

    /** Compares two commits. *changed: keys whose values differ; *digest: the sum of
     *  bench_value_digest() over their old and new values (so the values must be read). */
    int (*vdiff)(void *db, const char *from, const char *to, uint64_t *changed,
                 uint64_t *digest);

    /** Creates branch name at commit at and makes it the current branch. */
    int (*vbranch)(void *db, const char *name, const char *at);

    /** Makes branch name current. */
    int (*vswitch)(void *db, const char *name);

    /** Deletes branch name (not the current one). */
    int (*vdelete)(void *db, const char *name);

    /** Three-way merges branch other into the current branch with a merge commit, durably;
     *  fails on a conflict (the driver never makes one).
     *  @param[out] id  the merge commit's id */
    int (*vmerge)(void *db, const char *other, char id[BENCH_VERSION_ID_SIZE]);

    unsigned flags; /* BENCH_NO_LOG, BENCH_VERSIONS_ONLY */

    /* New workload methods go here, at the end; NULL = not supported. */
} bench_engine;

extern const bench_engine bench_engine_cairn;
extern const bench_engine bench_engine_lmdb;
extern const bench_engine bench_engine_rocksdb;
extern const bench_engine bench_engine_leveldb;
extern const bench_engine bench_engine_sqlite;
extern const bench_engine bench_engine_libgit2;
extern const bench_engine bench_engine_gitcli;

/** Creates dir (one level, mode 0755). Prints to stderr and returns BENCH_ERR on failure. */
int bench_mkdir(const char *dir);

/** Joins dir and name into a new string; caller frees with free(). NULL when out of memory. */
char *bench_path(const char *dir, const char *name);

/** Seconds on the monotonic clock. */
double bench_now(void);

/** Prints "PROG: " and the message to stderr, then exits 1 (the side programs' fatal error:
 *  their atexit handlers stop the servers they started). */
void bench_die(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/** Reads the libpq conninfo from the state file scripts/pg-up.sh writes (its "conninfo=" line)
 *  into out; dies (as prog) when the file or the line is missing. */
void bench_pg_conninfo(const char *prog, const char *state_path, char *out, size_t size);

#endif /* CAIRN_BENCH_H */
