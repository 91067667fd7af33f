/*
 * eng_lmdb.c - the LMDB adapter.
 *
 * Settings: default environment flags (so mdb_txn_commit syncs data and meta pages: no
 * MDB_NOSYNC, MDB_NOMETASYNC, MDB_WRITEMAP or MDB_MAPASYNC); the unnamed main database; a map
 * size of 64 GiB, which only reserves address space (the file grows as pages are written).
 * load is one write transaction committed once. Reads share one read-only transaction per
 * handle, begun at the first read: LMDB's intended use for a burst of lookups, and it pins one
 * snapshot as the other engines' reads do.
 *
 * txn/txn8: one environment shared by the writers; a transaction is one write transaction
 * (mdb_txn_begin, the puts, mdb_txn_commit, which syncs). LMDB has one writer at a time: the
 * others wait in mdb_txn_begin on its writer mutex. recover: LMDB keeps no log (a commit
 * writes the B-tree pages and then the meta page), so there is nothing to replay: the child
 * does the load (one synced write transaction) and is killed; what is timed is a plain open.
 */
#include "bench.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>

#define LMDB_MAP_SIZE (64ull << 30)
#define LMDB_FILE_MODE 0644

typedef struct lmdb_db {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* the shared read transaction, or NULL before the first read */
} lmdb_db;

static int fail(const char *what, int rc)
{
    fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
    return BENCH_ERR;
}

static void lmdb_version(char *buf, size_t cap)
{
    int major, minor, patch;
    mdb_version(&major, &minor, &patch);
    snprintf(buf, cap, "%d.%d.%d", major, minor, patch);
}

static int lmdb_close(void *h)
{
    lmdb_db *db = h;
    if (!db)
        return 0;
    if (db->rtxn)
        mdb_txn_abort(db->rtxn);
    if (db->env)
        mdb_env_close(db->env);
    free(db);
    return 0;
}

static int lmdb_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    (void)cfg; /* no cache of its own: LMDB reads through the OS page cache */
    if (create && bench_mkdir(dir) != 0)
        return BENCH_ERR;
    lmdb_db *db = calloc(1, sizeof *db);
    if (!db)
        return fail("calloc", ENOMEM);
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&db->env);
    if (rc != 0) {
        db->env = NULL;
        lmdb_close(db);
        return fail("mdb_env_create", rc);
    }
    if ((rc = mdb_env_set_mapsize(db->env, LMDB_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(db->env, dir, 0, LMDB_FILE_MODE)) != 0 ||
        (rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &db->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        lmdb_close(db);
        return fail(dir, rc);
    }
    *out = db;
    return 0;
}

static int lmdb_load(void *h, const bench_data *data)
{
    lmdb_db *db = h;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc != 0)
        return fail("mdb_txn_begin", rc);
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        MDB_val k = { sizeof key, key }, v = { sizeof val, val };
        if ((rc = mdb_put(txn, db->dbi, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            return fail("mdb_put", rc);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail("mdb_txn_commit", rc);
    return 0;
}

static int read_txn(lmdb_db *db)
{
    if (db->rtxn)
        return 0;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->rtxn);
    if (rc != 0) {
        db->rtxn = NULL;
        return fail("mdb_txn_begin(MDB_RDONLY)", rc);
    }
    return 0;
}

static int lmdb_get(void *h, const void *key, size_t klen, const void **val, size_t *vlen)
{
    lmdb_db *db = h;
    if (read_txn(db) != 0)
        return BENCH_ERR;
    MDB_val k = { klen, (void *)key }, v;
    int rc = mdb_get(db->rtxn, db->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return BENCH_NOTFOUND;
    if (rc != 0)
        return fail("mdb_get", rc);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 0;
}

static int lmdb_scan(void *h, bench_scan_fn cb, void *payload)
{
    lmdb_db *db = h;
    if (read_txn(db) != 0)
        return BENCH_ERR;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(db->rtxn, db->dbi, &cur);
    if (rc != 0)
        return fail("mdb_cursor_open", rc);
    MDB_val k, v;
    int stop = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        stop = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, payload);
    mdb_cursor_close(cur);
    if (stop)
        return stop;
    return rc == MDB_NOTFOUND ? 0 : fail("mdb_cursor_get", rc);
}

static int lmdb_writer_open(void **out, void *db)
{
    *out = db; /* a write transaction needs nothing but the environment */
    return 0;
}

static void lmdb_writer_close(void *w)
{
    (void)w;
}

static int lmdb_txn(void *h, const bench_kv *ops, size_t n)
{
    lmdb_db *db = h;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc != 0)
        return fail("mdb_txn_begin", rc);
    for (size_t i = 0; i < n; i++) {
        MDB_val k = { ops[i].klen, (void *)ops[i].key }, v = { ops[i].vlen, (void *)ops[i].val };
        if ((rc = mdb_put(txn, db->dbi, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            return fail("mdb_put", rc);
        }
    }
    return (rc = mdb_txn_commit(txn)) == 0 ? 0 : fail("mdb_txn_commit", rc);
}

static int lmdb_crash_load(const char *dir, const bench_data *data)
{
    void *db;
    bench_config cfg = { 0 };
    if (lmdb_open(&db, dir, 1, &cfg) != 0)
        return BENCH_ERR;
    return lmdb_load(db, data); /* left open: the driver kills this process now */
}

static int lmdb_crash_open(void **out, const char *dir, const bench_config *cfg)
{
    return lmdb_open(out, dir, 0, cfg);
}

const bench_engine bench_engine_lmdb = {
    .name = "lmdb",
    .settings = "one write txn, mdb_txn_commit synced (default flags: no NOSYNC/NOMETASYNC/"
                "WRITEMAP), map 64 GiB; reads in one read txn; txn: one write txn per "
                "transaction (writers serialised by LMDB); recover: no log, a plain open",
    .version = lmdb_version,
    .open = lmdb_open,
    .close = lmdb_close,
    .load = lmdb_load,
    .settle = NULL,
    .get = lmdb_get,
    .scan = lmdb_scan,
    .writer_open = lmdb_writer_open,
    .txn = lmdb_txn,
    .writer_close = lmdb_writer_close,
    .crash_load = lmdb_crash_load,
    .crash_open = lmdb_crash_open,
    .flags = BENCH_NO_LOG,
};
