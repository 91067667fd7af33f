/*
 * bench.h - the interface between the benchmark driver (bench.c) and its engine adapters
 * (eng_<name>.c), plus the deterministic data set every engine is fed.
 *
 * The driver owns the data, the clock and the checks; an adapter only translates "open, load,
 * get, scan, close" into one engine's C API. Each adapter exports one const bench_engine. A NULL
 * method means "this engine does not support that workload": the driver skips it and says so.
 * New workloads (diff, commit, merge, proof, txn, ...) add a method at the end of bench_engine
 * and an entry in the driver's workload table; adapters that leave it NULL need no change.
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

/** An order-independent digest of one value; the scan sums it over every value it sees and
 *  compares with the sum over the generated values, so a scan must read every value byte. */
uint64_t bench_value_digest(const void *val, size_t len);

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

    /* New workload methods go here, at the end; NULL = not supported. */
} bench_engine;

extern const bench_engine bench_engine_cairn;
extern const bench_engine bench_engine_lmdb;
extern const bench_engine bench_engine_rocksdb;
extern const bench_engine bench_engine_leveldb;
extern const bench_engine bench_engine_sqlite;

/** Creates dir (one level, mode 0755). Prints to stderr and returns BENCH_ERR on failure. */
int bench_mkdir(const char *dir);

/** Joins dir and name into a new string; caller frees with free(). NULL when out of memory. */
char *bench_path(const char *dir, const char *name);

#endif /* CAIRN_BENCH_H */
