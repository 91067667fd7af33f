/*
 * eng_leveldb.c - the LevelDB adapter (C API, leveldb/c.h).
 *
 * Settings: leveldb_options_create() defaults plus create_if_missing (Snappy compression when
 * built in, 4 MiB write buffer, 8 MiB block cache unless --cache-mib, 2 MiB table files, table
 * files read through mmap, checksums not verified on reads). load is one WriteBatch
 * written with sync=1: durable in the log on return. LevelDB has no public flush, so settle
 * (untimed) is leveldb_compact_range over everything, which writes the memtable into table files
 * and compacts them; otherwise the data would sit in the log until the next open rewrote it, and
 * background compaction would then run during the read workloads.
 *
 * txn/txn8: one DB shared by the writers (LevelDB groups queued writers into one log write and
 * sync); each writer has its own WriteBatch, written with sync=1. recover: the child opens with
 * a 1 GiB write buffer, so the data is only in the log, and writes n single puts with sync=0
 * (each record reaches the OS), the last with sync=1. The reopen uses the same options;
 * LevelDB replays the log and, as it does after every recovery (reuse_logs is off), writes the
 * recovered memtable to a level-0 table before leveldb_open returns.
 */
#include "bench.h"

#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>

/* recover: large enough that nothing is flushed; 1 GiB is the most LevelDB takes (it clips
 * larger values through an int, so 4 GiB would become its 64 KiB minimum) */
#define CRASH_WRITE_BUFFER ((size_t)1 << 30)

typedef struct ldb_db {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache; /* only with a configured cache */
    leveldb_readoptions_t *ropts;
    char *last; /* the value the last get returned, freed at the next get or close */
} ldb_db;

/* Prints and frees a LevelDB error string; returns BENCH_ERR. */
static int fail(const char *what, char *err)
{
    fprintf(stderr, "leveldb: %s: %s\n", what, err ? err : "failed");
    leveldb_free(err);
    return BENCH_ERR;
}

static void ldb_version(char *buf, size_t cap)
{
    snprintf(buf, cap, "%d.%d", leveldb_major_version(), leveldb_minor_version());
}

static int ldb_close(void *h)
{
    ldb_db *db = h;
    if (!db)
        return 0;
    leveldb_free(db->last);
    if (db->db)
        leveldb_close(db->db);
    if (db->ropts)
        leveldb_readoptions_destroy(db->ropts);
    if (db->opts)
        leveldb_options_destroy(db->opts);
    if (db->cache)
        leveldb_cache_destroy(db->cache);
    free(db);
    return 0;
}

static int open_with(void **out, const char *dir, int create, const bench_config *cfg,
                     size_t write_buffer)
{
    ldb_db *db = calloc(1, sizeof *db);
    if (!db)
        return fail("calloc", NULL);
    db->opts = leveldb_options_create();
    db->ropts = leveldb_readoptions_create();
    if (write_buffer)
        leveldb_options_set_write_buffer_size(db->opts, write_buffer);
    leveldb_options_set_create_if_missing(db->opts, (unsigned char)create);
    if (cfg->cache_bytes) {
        db->cache = leveldb_cache_create_lru(cfg->cache_bytes);
        leveldb_options_set_cache(db->opts, db->cache);
    }
    char *err = NULL;
    db->db = leveldb_open(db->opts, dir, &err);
    if (err) {
        db->db = NULL;
        ldb_close(db);
        return fail(dir, err);
    }
    *out = db;
    return 0;
}

static int ldb_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    return open_with(out, dir, create, cfg, 0);
}

static int ldb_load(void *h, const bench_data *data)
{
    ldb_db *db = h;
    leveldb_writebatch_t *batch = leveldb_writebatch_create();
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        leveldb_writebatch_put(batch, (const char *)key, sizeof key, (const char *)val,
                               sizeof val);
    }
    leveldb_writeoptions_t *wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(wopts, 1);
    char *err = NULL;
    leveldb_write(db->db, wopts, batch, &err);
    leveldb_writeoptions_destroy(wopts);
    leveldb_writebatch_destroy(batch);
    return err ? fail("leveldb_write(sync)", err) : 0;
}

static int ldb_settle(void *h)
{
    ldb_db *db = h;
    leveldb_compact_range(db->db, NULL, 0, NULL, 0);
    return 0;
}

static int ldb_get(void *h, const void *key, size_t klen, const void **val, size_t *vlen)
{
    ldb_db *db = h;
    leveldb_free(db->last);
    char *err = NULL;
    db->last = leveldb_get(db->db, db->ropts, key, klen, vlen, &err);
    if (err)
        return fail("leveldb_get", err);
    if (!db->last)
        return BENCH_NOTFOUND;
    *val = db->last;
    return 0;
}

static int ldb_scan(void *h, bench_scan_fn cb, void *payload)
{
    ldb_db *db = h;
    leveldb_iterator_t *it = leveldb_create_iterator(db->db, db->ropts);
    int stop = 0;
    for (leveldb_iter_seek_to_first(it); !stop && leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = leveldb_iter_key(it, &klen);
        const char *v = leveldb_iter_value(it, &vlen);
        stop = cb(k, klen, v, vlen, payload);
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    if (err)
        return fail("iterator", err);
    return stop;
}

/* ---- txn, txn8: the DB is shared; each writer has its own batch and synced write options ---- */

typedef struct ldb_writer {
    leveldb_t *db;
    leveldb_writeoptions_t *wopts;
    leveldb_writebatch_t *batch;
} ldb_writer;

static int ldb_writer_open(void **out, void *h)
{
    ldb_writer *w = calloc(1, sizeof *w);
    if (!w)
        return fail("calloc", NULL);
    w->db = ((ldb_db *)h)->db;
    w->wopts = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(w->wopts, 1);
    w->batch = leveldb_writebatch_create();
    *out = w;
    return 0;
}

static void ldb_writer_close(void *h)
{
    ldb_writer *w = h;
    if (!w)
        return;
    leveldb_writebatch_destroy(w->batch);
    leveldb_writeoptions_destroy(w->wopts);
    free(w);
}

static int ldb_txn(void *h, const bench_kv *ops, size_t n)
{
    ldb_writer *w = h;
    leveldb_writebatch_clear(w->batch);
    for (size_t i = 0; i < n; i++)
        leveldb_writebatch_put(w->batch, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen);
    char *err = NULL;
    leveldb_write(w->db, w->wopts, w->batch, &err);
    return err ? fail("leveldb_write(sync)", err) : 0;
}

/* ---- recover ---- */

static int ldb_crash_load(const char *dir, const bench_data *data)
{
    void *h = NULL;
    bench_config cfg = { 0 };
    if (open_with(&h, dir, 1, &cfg, CRASH_WRITE_BUFFER) != 0)
        return BENCH_ERR;
    ldb_db *db = h;
    leveldb_writeoptions_t *relaxed = leveldb_writeoptions_create(), *durable = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(durable, 1);
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    char *err = NULL;
    for (uint64_t i = 0; i < data->n && !err; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        leveldb_put(db->db, i + 1 < data->n ? relaxed : durable, (const char *)key, sizeof key,
                (const char *)val, sizeof val, &err);
    }
    leveldb_writeoptions_destroy(relaxed);
    leveldb_writeoptions_destroy(durable);
    return err ? fail("leveldb_put", err) : 0; /* left open: the driver kills this process now */
}

static int ldb_crash_open(void **out, const char *dir, const bench_config *cfg)
{
    return open_with(out, dir, 0, cfg, CRASH_WRITE_BUFFER);
}

const bench_engine bench_engine_leveldb = {
    .name = "leveldb",
    .settings = "default options + create_if_missing (default compression), one WriteBatch "
                "written with sync=1; compact_range(all) before measuring size; txn: one shared DB, a WriteBatch "
                "per transaction written with sync=1; recover: 1 GiB write buffer, sync=0 "
                "puts, the last sync=1",
    .version = ldb_version,
    .open = ldb_open,
    .close = ldb_close,
    .load = ldb_load,
    .settle = ldb_settle,
    .get = ldb_get,
    .scan = ldb_scan,
    .writer_open = ldb_writer_open,
    .txn = ldb_txn,
    .writer_close = ldb_writer_close,
    .crash_load = ldb_crash_load,
    .crash_open = ldb_crash_open,
};
