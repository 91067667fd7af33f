/*
 * eng_sqlite.c - the SQLite adapter.
 *
 * Settings: one file, kv.sqlite, with CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID
 * (a clustered B-tree on the key, as the other engines keep); PRAGMA journal_mode=WAL and
 * PRAGMA synchronous=FULL (the WAL is synced at every commit); everything else default (4 KiB
 * pages, 2 MiB page cache unless --cache-mib, no mmap, automatic checkpoints every 1000 pages). load is one
 * transaction of prepared INSERTs. Reads use prepared statements inside one read transaction
 * per handle, begun at the first read (as the LMDB adapter's reads); the scan is
 * SELECT k,v FROM kv ORDER BY k.
 *
 * txn/txn8: each writer opens its own connection (same pragmas, busy_timeout 60 s) and runs
 * BEGIN IMMEDIATE, a prepared UPDATE kv SET v=? WHERE k=? per put, COMMIT: IMMEDIATE takes the
 * write lock up front, so concurrent writers wait in the busy handler instead of failing with
 * SQLITE_BUSY_SNAPSHOT. recover: the child sets wal_autocheckpoint=0 and a 1 GiB page cache and
 * inserts the n rows in one transaction (committed with synchronous=FULL), so every page is in
 * the WAL once and nothing is checkpointed. SQLite's WAL holds pages, not records: n one-row
 * transactions would leave a WAL of n pages or more (4 GB for a million). The reopen (also
 * wal_autocheckpoint=0) rebuilds the WAL index from the whole WAL at the first read.
 */
#include "bench.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQLITE_FILE "kv.sqlite"
#define KIB 1024u /* PRAGMA cache_size=-N counts KiB */
#define BUSY_TIMEOUT_MS 60000
#define CRASH_CACHE_SIZE "PRAGMA cache_size=-1048576" /* 1 GiB: the load never spills */

typedef struct sql_db {
    sqlite3 *db;
    sqlite3_stmt *get;  /* prepared at the first get */
    int in_read_txn;
    char *dir;          /* for the writers' connections */
    bench_config cfg;
    sqlite3_stmt *update; /* a writer's prepared UPDATE */
} sql_db;

static int fail(sql_db *db, const char *what)
{
    fprintf(stderr, "sqlite: %s: %s\n", what, db && db->db ? sqlite3_errmsg(db->db) : "failed");
    return BENCH_ERR;
}

static void sql_version(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", sqlite3_libversion());
}

static int exec(sql_db *db, const char *sql)
{
    return sqlite3_exec(db->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(db, sql);
}

static int sql_close(void *h)
{
    sql_db *db = h;
    if (!db)
        return 0;
    int rc = 0;
    sqlite3_finalize(db->get);
    sqlite3_finalize(db->update);
    free(db->dir);
    if (db->in_read_txn)
        rc = exec(db, "COMMIT");
    if (sqlite3_close(db->db) != SQLITE_OK)
        rc = fail(db, "sqlite3_close");
    free(db);
    return rc;
}

/* Sets the page cache when the driver asks for a size. */
static int set_cache(sql_db *db, const bench_config *cfg)
{
    if (!cfg->cache_bytes)
        return 0;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%zu", cfg->cache_bytes / KIB);
    return exec(db, sql);
}

static int sql_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    if (create && bench_mkdir(dir) != 0)
        return BENCH_ERR;
    char *path = bench_path(dir, SQLITE_FILE);
    sql_db *db = calloc(1, sizeof *db);
    char *dir_copy = strdup(dir);
    if (!path || !db || !dir_copy) {
        free(path);
        free(db);
        free(dir_copy);
        return fail(NULL, "out of memory");
    }
    db->dir = dir_copy;
    db->cfg = *cfg;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db->db, flags, NULL);
    free(path);
    if (rc != SQLITE_OK || exec(db, "PRAGMA journal_mode=WAL") != 0 ||
        exec(db, "PRAGMA synchronous=FULL") != 0 || set_cache(db, cfg) != 0 ||
        (create && exec(db, "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID") != 0)) {
        fail(db, "open");
        sql_close(db);
        return BENCH_ERR;
    }
    *out = db;
    return 0;
}

static int sql_load(void *h, const bench_data *data)
{
    sql_db *db = h;
    sqlite3_stmt *ins;
    if (exec(db, "BEGIN") != 0)
        return BENCH_ERR;
    if (sqlite3_prepare_v2(db->db, "INSERT INTO kv(k, v) VALUES(?1, ?2)", -1, &ins, NULL) !=
        SQLITE_OK)
        return fail(db, "prepare INSERT");
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        sqlite3_bind_blob(ins, 1, key, sizeof key, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, val, sizeof val, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fail(db, "INSERT");
            sqlite3_finalize(ins);
            exec(db, "ROLLBACK");
            return BENCH_ERR;
        }
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    return exec(db, "COMMIT");
}

static int read_txn(sql_db *db)
{
    if (db->in_read_txn)
        return 0;
    if (exec(db, "BEGIN") != 0)
        return BENCH_ERR;
    db->in_read_txn = 1;
    return 0;
}

static int sql_get(void *h, const void *key, size_t klen, const void **val, size_t *vlen)
{
    sql_db *db = h;
    if (!db->get) {
        if (read_txn(db) != 0)
            return BENCH_ERR;
        if (sqlite3_prepare_v2(db->db, "SELECT v FROM kv WHERE k = ?1", -1, &db->get, NULL) !=
            SQLITE_OK)
            return fail(db, "prepare SELECT");
    }
    sqlite3_reset(db->get); /* ends the borrow of the previous value */
    sqlite3_bind_blob(db->get, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(db->get);
    if (rc == SQLITE_DONE)
        return BENCH_NOTFOUND;
    if (rc != SQLITE_ROW)
        return fail(db, "SELECT v");
    *val = sqlite3_column_blob(db->get, 0);
    *vlen = (size_t)sqlite3_column_bytes(db->get, 0);
    return 0;
}

static int sql_scan(void *h, bench_scan_fn cb, void *payload)
{
    sql_db *db = h;
    sqlite3_stmt *st;
    if (read_txn(db) != 0)
        return BENCH_ERR;
    if (sqlite3_prepare_v2(db->db, "SELECT k, v FROM kv ORDER BY k", -1, &st, NULL) != SQLITE_OK)
        return fail(db, "prepare scan");
    int rc = SQLITE_DONE, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(st, 0);
        size_t klen = (size_t)sqlite3_column_bytes(st, 0);
        const void *v = sqlite3_column_blob(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        stop = cb(k, klen, v, vlen, payload);
    }
    if (!stop && rc != SQLITE_DONE)
        stop = fail(db, "scan");
    sqlite3_finalize(st);
    return stop;
}

/* ---- txn, txn8: a connection per writer ---- */

static int sql_writer_open(void **out, void *h)
{
    sql_db *db = h, *w;
    if (sql_open((void **)&w, db->dir, 0, &db->cfg) != 0)
        return BENCH_ERR;
    if (sqlite3_busy_timeout(w->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "UPDATE kv SET v = ?2 WHERE k = ?1", -1, &w->update, NULL) !=
            SQLITE_OK) {
        fail(w, "writer");
        sql_close(w);
        return BENCH_ERR;
    }
    *out = w;
    return 0;
}

static void sql_writer_close(void *w)
{
    sql_close(w);
}

static int sql_txn(void *h, const bench_kv *ops, size_t n)
{
    sql_db *w = h;
    if (exec(w, "BEGIN IMMEDIATE") != 0)
        return BENCH_ERR;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_blob(w->update, 1, ops[i].key, (int)ops[i].klen, SQLITE_STATIC);
        sqlite3_bind_blob(w->update, 2, ops[i].val, (int)ops[i].vlen, SQLITE_STATIC);
        int rc = sqlite3_step(w->update);
        sqlite3_reset(w->update);
        if (rc != SQLITE_DONE || sqlite3_changes(w->db) != 1) {
            fail(w, rc != SQLITE_DONE ? "UPDATE" : "UPDATE of a missing key");
            exec(w, "ROLLBACK");
            return BENCH_ERR;
        }
    }
    return exec(w, "COMMIT");
}

/* ---- recover ---- */

static int sql_crash_load(const char *dir, const bench_data *data)
{
    void *h = NULL;
    bench_config cfg = { 0 };
    if (sql_open(&h, dir, 1, &cfg) != 0)
        return BENCH_ERR;
    if (exec(h, "PRAGMA wal_autocheckpoint=0") != 0 || exec(h, CRASH_CACHE_SIZE) != 0)
        return BENCH_ERR;
    return sql_load(h, data); /* left open: the driver kills this process now */
}

static int sql_crash_open(void **out, const char *dir, const bench_config *cfg)
{
    if (sql_open(out, dir, 0, cfg) != 0)
        return BENCH_ERR;
    if (exec(*out, "PRAGMA wal_autocheckpoint=0") != 0) {
        sql_close(*out);
        return BENCH_ERR;
    }
    return 0;
}

const bench_engine bench_engine_sqlite = {
    .name = "sqlite",
    .settings = "WITHOUT ROWID table, journal_mode=WAL, synchronous=FULL, one transaction of "
                "prepared INSERTs; reads in one read txn; txn: a connection per writer, "
                "busy_timeout 60 s, BEGIN IMMEDIATE..COMMIT; recover: wal_autocheckpoint=0, one "
                "transaction",
    .version = sql_version,
    .open = sql_open,
    .close = sql_close,
    .load = sql_load,
    .settle = NULL,
    .get = sql_get,
    .scan = sql_scan,
    .writer_open = sql_writer_open,
    .txn = sql_txn,
    .writer_close = sql_writer_close,
    .crash_load = sql_crash_load,
    .crash_open = sql_crash_open,
};
