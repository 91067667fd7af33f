/*
 * eng_rocksdb.c - the RocksDB adapter (C API, rocksdb/c.h).
 *
 * Settings: rocksdb_options_create() defaults plus create_if_missing, so compression is the
 * library default (Snappy when built in, as in Debian's package), 64 MiB write buffer, default
 * block cache (8 MiB; --cache-mib sets it) and background jobs, reads through pread with block
 * checksums verified. load is one WriteBatch written with sync=1: durable in the
 * WAL on return. settle (untimed) is rocksdb_flush with wait=1, so the size is measured with
 * the data in SST files rather than in the WAL. Reads use default read options and the plain
 * rocksdb_get (a malloc'd copy per value, as LevelDB's and cairn's C APIs also return).
 *
 * txn/txn8: one DB shared by the writers (RocksDB groups concurrent writes into one WAL write
 * and sync); each writer has its own WriteBatch, written with sync=1. recover: the child opens
 * with a 1 GiB write buffer, so nothing is flushed and the data is only in the WAL, and writes
 * n single puts with sync=0 (the WAL is written to the OS at each write), the last with sync=1.
 * The reopen uses the same options; RocksDB then replays the WAL and, by default
 * (avoid_flush_during_recovery=false), writes the recovered memtable to an L0 file before
 * rocksdb_open returns.
 */
#include "bench.h"

#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

/* recover: large enough that nothing is flushed; 1 GiB is the most LevelDB takes (it clips
 * larger values through an int, so 4 GiB would become its 64 KiB minimum) */
#define CRASH_WRITE_BUFFER ((size_t)1 << 30)

#ifndef ROCKSDB_PC_VERSION
#define ROCKSDB_PC_VERSION "unknown"
#endif

typedef struct rocks_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table_opts; /* only with a configured cache */
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    char *last; /* the value the last get returned, freed at the next get or close */
} rocks_db;

/* Prints and frees a RocksDB error string; returns BENCH_ERR. */
static int fail(const char *what, char *err)
{
    fprintf(stderr, "rocksdb: %s: %s\n", what, err ? err : "failed");
    rocksdb_free(err);
    return BENCH_ERR;
}

static void rocks_version(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", ROCKSDB_PC_VERSION);
}

static int rocks_close(void *h)
{
    rocks_db *db = h;
    if (!db)
        return 0;
    rocksdb_free(db->last);
    if (db->db)
        rocksdb_close(db->db);
    if (db->ropts)
        rocksdb_readoptions_destroy(db->ropts);
    if (db->opts)
        rocksdb_options_destroy(db->opts);
    if (db->table_opts)
        rocksdb_block_based_options_destroy(db->table_opts);
    if (db->cache)
        rocksdb_cache_destroy(db->cache);
    free(db);
    return 0;
}

static int open_with(void **out, const char *dir, int create, const bench_config *cfg,
                     size_t write_buffer)
{
    rocks_db *db = calloc(1, sizeof *db);
    if (!db)
        return fail("calloc", NULL);
    db->opts = rocksdb_options_create();
    db->ropts = rocksdb_readoptions_create();
    if (write_buffer)
        rocksdb_options_set_write_buffer_size(db->opts, write_buffer);
    rocksdb_options_set_create_if_missing(db->opts, create);
    if (cfg->cache_bytes) {
        db->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
        db->table_opts = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_cache(db->table_opts, db->cache);
        rocksdb_options_set_block_based_table_factory(db->opts, db->table_opts);
    }
    char *err = NULL;
    db->db = rocksdb_open(db->opts, dir, &err);
    if (err) {
        db->db = NULL;
        rocks_close(db);
        return fail(dir, err);
    }
    *out = db;
    return 0;
}

static int rocks_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    return open_with(out, dir, create, cfg, 0);
}

static int rocks_load(void *h, const bench_data *data)
{
    rocks_db *db = h;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        rocksdb_writebatch_put(batch, (const char *)key, sizeof key, (const char *)val,
                               sizeof val);
    }
    rocksdb_writeoptions_t *wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wopts, 1);
    char *err = NULL;
    rocksdb_write(db->db, wopts, batch, &err);
    rocksdb_writeoptions_destroy(wopts);
    rocksdb_writebatch_destroy(batch);
    return err ? fail("rocksdb_write(sync)", err) : 0;
}

static int rocks_settle(void *h)
{
    rocks_db *db = h;
    rocksdb_flushoptions_t *fopts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fopts, 1);
    char *err = NULL;
    rocksdb_flush(db->db, fopts, &err);
    rocksdb_flushoptions_destroy(fopts);
    return err ? fail("rocksdb_flush(wait)", err) : 0;
}

static int rocks_get(void *h, const void *key, size_t klen, const void **val, size_t *vlen)
{
    rocks_db *db = h;
    rocksdb_free(db->last);
    char *err = NULL;
    db->last = rocksdb_get(db->db, db->ropts, key, klen, vlen, &err);
    if (err)
        return fail("rocksdb_get", err);
    if (!db->last)
        return BENCH_NOTFOUND;
    *val = db->last;
    return 0;
}

static int rocks_scan(void *h, bench_scan_fn cb, void *payload)
{
    rocks_db *db = h;
    rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, db->ropts);
    int stop = 0;
    for (rocksdb_iter_seek_to_first(it); !stop && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        stop = cb(k, klen, v, vlen, payload);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    if (err)
        return fail("iterator", err);
    return stop;
}

/* ---- txn, txn8: the DB is shared; each writer has its own batch and synced write options ---- */

typedef struct rocks_writer {
    rocksdb_t *db;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writebatch_t *batch;
} rocks_writer;

static int rocks_writer_open(void **out, void *h)
{
    rocks_writer *w = calloc(1, sizeof *w);
    if (!w)
        return fail("calloc", NULL);
    w->db = ((rocks_db *)h)->db;
    w->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(w->wopts, 1);
    w->batch = rocksdb_writebatch_create();
    *out = w;
    return 0;
}

static void rocks_writer_close(void *h)
{
    rocks_writer *w = h;
    if (!w)
        return;
    rocksdb_writebatch_destroy(w->batch);
    rocksdb_writeoptions_destroy(w->wopts);
    free(w);
}

static int rocks_txn(void *h, const bench_kv *ops, size_t n)
{
    rocks_writer *w = h;
    rocksdb_writebatch_clear(w->batch);
    for (size_t i = 0; i < n; i++)
        rocksdb_writebatch_put(w->batch, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen);
    char *err = NULL;
    rocksdb_write(w->db, w->wopts, w->batch, &err);
    return err ? fail("rocksdb_write(sync)", err) : 0;
}

/* ---- recover ---- */

static int rocks_crash_load(const char *dir, const bench_data *data)
{
    void *h = NULL;
    bench_config cfg = { 0 };
    if (open_with(&h, dir, 1, &cfg, CRASH_WRITE_BUFFER) != 0)
        return BENCH_ERR;
    rocks_db *db = h;
    rocksdb_writeoptions_t *relaxed = rocksdb_writeoptions_create(), *durable = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(durable, 1);
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    char *err = NULL;
    for (uint64_t i = 0; i < data->n && !err; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        rocksdb_put(db->db, i + 1 < data->n ? relaxed : durable, (const char *)key, sizeof key,
                (const char *)val, sizeof val, &err);
    }
    rocksdb_writeoptions_destroy(relaxed);
    rocksdb_writeoptions_destroy(durable);
    return err ? fail("rocksdb_put", err) : 0; /* left open: the driver kills this process now */
}

static int rocks_crash_open(void **out, const char *dir, const bench_config *cfg)
{
    return open_with(out, dir, 0, cfg, CRASH_WRITE_BUFFER);
}

const bench_engine bench_engine_rocksdb = {
    .name = "rocksdb",
    .settings = "default options + create_if_missing (default compression), one WriteBatch "
                "written with sync=1; flush(wait) before measuring size; txn: one shared DB, a WriteBatch "
                "per transaction written with sync=1; recover: 1 GiB write buffer, sync=0 "
                "puts, the last sync=1",
    .version = rocks_version,
    .open = rocks_open,
    .close = rocks_close,
    .load = rocks_load,
    .settle = rocks_settle,
    .get = rocks_get,
    .scan = rocks_scan,
    .writer_open = rocks_writer_open,
    .txn = rocks_txn,
    .writer_close = rocks_writer_close,
    .crash_load = rocks_crash_load,
    .crash_open = rocks_crash_open,
};
