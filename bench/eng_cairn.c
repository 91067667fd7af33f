/*
 * eng_cairn.c - the cairn adapter, written against include/cairn.h only.
 *
 * Settings: cairn_open_options defaults (256 MiB verified-chunk cache unless --cache-mib, zstd
 * level 1) with
 * CAIRN_OPEN_CREATE on a path that does not exist yet, so cairn creates the repository; one
 * table, "bench". load is one cairn_batch of n puts and one cairn_batch_commit, which is atomic
 * and durable on return (data, then root, fsynced). Reads go to the current state (snap NULL):
 * cairn_get returns a malloc'd copy freed with cairn_free, as RocksDB's and LevelDB's gets do;
 * the scan is one cursor over the whole table.
 *
 * txn/txn8: one cairn_db shared by the writers; each writer has its own cairn_table handle and
 * cairn_batch; a transaction is cairn_batch_commit with the default (durable) mode, so it
 * returns once its log record is fsynced, concurrent commits sharing one fsync (group commit).
 * recover: the child opens with memtable_bytes = 4 GiB (no checkpoint runs), commits one-put
 * batches with CAIRN_DURABILITY_RELAXED and the last with CAIRN_DURABILITY_DURABLE; the reopen
 * uses the same memtable size, so it replays the log into the memtable without checkpointing.
 * Versions: cairn_commit (after a durable batch of the puts), cairn_diff of the table between
 * two commit ids, cairn_branch_create + cairn_checkout, cairn_merge with CAIRN_MERGE_FAIL.
 */
#include "bench.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAIRN_BENCH_TABLE "bench"
#define CRASH_MEMTABLE_BYTES ((size_t)4 << 30) /* so that no checkpoint runs during recover */
#define COMMIT_AUTHOR "cairn-bench <bench@localhost>"

typedef struct cdb {
    cairn_db *db;
    cairn_table *table;
    void *last; /* the value the last get returned, freed at the next get or close */
    void *proof; /* the last proof made, freed at the next prove or close */
    cairn_snapshot *snap; /* the state proofs are made against, pinned at the first prove */
    cairn_id root;        /* its catalog root: what verify trusts */
} cdb;

static int fail(const char *what, int rc)
{
    const cairn_error *e = cairn_error_last();
    fprintf(stderr, "cairn: %s: %s (%s)\n", what, e->message[0] ? e->message : "failed",
            cairn_strerror(rc));
    return BENCH_ERR;
}

static void cdb_version(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", cairn_version());
}

static int cdb_close(void *h)
{
    cdb *db = h;
    if (!db)
        return 0;
    cairn_free(db->last);
    cairn_free(db->proof);
    cairn_snapshot_close(db->snap);
    cairn_table_close(db->table);
    int rc = cairn_close(db->db);
    free(db);
    return rc == CAIRN_OK ? 0 : fail("cairn_close", rc);
}

static int open_with(void **out, const char *dir, int create, const bench_config *cfg,
                     size_t memtable_bytes)
{
    cdb *db = calloc(1, sizeof *db);
    if (!db)
        return fail("calloc", CAIRN_ENOMEM);
    cairn_open_options opts = CAIRN_OPEN_OPTIONS_INIT;
    if (create)
        opts.flags |= CAIRN_OPEN_CREATE;
    opts.cache_bytes = cfg->cache_bytes;
    opts.memtable_bytes = memtable_bytes;
    int rc = cairn_open(&db->db, dir, &opts);
    if (rc != CAIRN_OK) {
        free(db);
        return fail(dir, rc);
    }
    rc = cairn_table_open(&db->table, db->db, CAIRN_BENCH_TABLE, create ? CAIRN_TABLE_CREATE : 0);
    if (rc != CAIRN_OK) {
        fail("cairn_table_open", rc);
        cdb_close(db);
        return BENCH_ERR;
    }
    *out = db;
    return 0;
}

static int cdb_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    return open_with(out, dir, create, cfg, 0);
}

static int cdb_load(void *h, const bench_data *data)
{
    cdb *db = h;
    cairn_batch *batch;
    int rc = cairn_batch_new(&batch, db->db);
    if (rc != CAIRN_OK)
        return fail("cairn_batch_new", rc);
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        if ((rc = cairn_batch_put(batch, db->table, key, sizeof key, val, sizeof val)) !=
            CAIRN_OK) {
            fail("cairn_batch_put", rc);
            cairn_batch_free(batch);
            return BENCH_ERR;
        }
    }
    rc = cairn_batch_commit(batch);
    if (rc != CAIRN_OK)
        fail("cairn_batch_commit", rc);
    cairn_batch_free(batch);
    return rc == CAIRN_OK ? 0 : BENCH_ERR;
}

static int cdb_get(void *h, const void *key, size_t klen, const void **val, size_t *vlen)
{
    cdb *db = h;
    cairn_free(db->last);
    db->last = NULL;
    int rc = cairn_get(&db->last, vlen, db->table, NULL, key, klen);
    if (rc == CAIRN_ENOTFOUND)
        return BENCH_NOTFOUND;
    if (rc != CAIRN_OK)
        return fail("cairn_get", rc);
    *val = db->last;
    return 0;
}

static int cdb_scan(void *h, bench_scan_fn cb, void *payload)
{
    cdb *db = h;
    cairn_cursor *cur;
    int rc = cairn_cursor_open(&cur, db->table, NULL, NULL);
    if (rc != CAIRN_OK)
        return fail("cairn_cursor_open", rc);
    int stop = 0;
    while (!stop && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t klen, vlen;
        if ((rc = cairn_cursor_get(&k, &klen, &v, &vlen, cur)) != CAIRN_OK)
            break;
        stop = cb(k, klen, v, vlen, payload);
    }
    cairn_cursor_close(cur);
    if (stop)
        return stop;
    return rc == CAIRN_ENOTFOUND ? 0 : fail("cairn cursor", rc);
}

static int cdb_prove(void *h, const void *key, size_t klen, const void **proof, size_t *len)
{
    cdb *db = h;
    cairn_free(db->proof);
    db->proof = NULL;
    int rc;
    if (!db->snap) {
        if ((rc = cairn_snapshot_open(&db->snap, db->db)) != CAIRN_OK)
            return fail("cairn_snapshot_open", rc);
        if ((rc = cairn_snapshot_root(&db->root, db->snap)) != CAIRN_OK)
            return fail("cairn_snapshot_root", rc);
    }
    if ((rc = cairn_prove(&db->proof, len, db->table, db->snap, key, klen)) != CAIRN_OK)
        return fail("cairn_prove", rc);
    *proof = db->proof;
    return 0;
}

static int cdb_verify(void *h, const void *proof, size_t len, const void *key, size_t klen,
                      const void **val, size_t *vlen)
{
    cdb *db = h;
    cairn_proof_result r;
    int rc = cairn_proof_verify(&r, proof, len, &db->root);
    if (rc != CAIRN_OK)
        return fail("cairn_proof_verify", rc);
    if (r.key_len != klen || memcmp(r.key, key, klen) != 0 ||
        strcmp(r.table, CAIRN_BENCH_TABLE) != 0) {
        fprintf(stderr, "cairn: cairn_proof_verify: a valid proof about another key or table\n");
        return BENCH_ERR;
    }
    if (!r.found)
        return BENCH_NOTFOUND;
    *val = r.value;
    *vlen = r.value_len;
    return 0;
}

/* ---- txn, txn8 ---- */

typedef struct cwriter {
    cairn_table *table;
    cairn_batch *batch;
} cwriter;

static void cdb_writer_close(void *h)
{
    cwriter *w = h;
    if (!w)
        return;
    cairn_batch_free(w->batch);
    cairn_table_close(w->table);
    free(w);
}

static int cdb_writer_open(void **out, void *h)
{
    cdb *db = h;
    cwriter *w = calloc(1, sizeof *w);
    if (!w)
        return fail("calloc", CAIRN_ENOMEM);
    int rc = cairn_table_open(&w->table, db->db, CAIRN_BENCH_TABLE, 0);
    if (rc == CAIRN_OK)
        rc = cairn_batch_new(&w->batch, db->db);
    if (rc != CAIRN_OK) {
        cdb_writer_close(w);
        return fail("writer", rc);
    }
    *out = w;
    return 0;
}

/* Adds the puts to a batch and commits it with that durability. */
static int commit_puts(cairn_batch *batch, cairn_table *table, const bench_kv *ops, size_t n,
                       cairn_durability durability)
{
    int rc = CAIRN_OK;
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++)
        rc = cairn_batch_put(batch, table, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen);
    if (rc != CAIRN_OK) {
        cairn_batch_clear(batch);
        return fail("cairn_batch_put", rc);
    }
    if ((rc = cairn_batch_commit_durability(batch, durability)) != CAIRN_OK) {
        cairn_batch_clear(batch);
        return fail("cairn_batch_commit", rc);
    }
    return 0;
}

static int cdb_txn(void *h, const bench_kv *ops, size_t n)
{
    cwriter *w = h;
    return commit_puts(w->batch, w->table, ops, n, CAIRN_DURABILITY_DEFAULT);
}

/* ---- recover ---- */

static int cdb_crash_load(const char *dir, const bench_data *data)
{
    void *h = NULL;
    bench_config cfg = { 0 };
    if (open_with(&h, dir, 1, &cfg, CRASH_MEMTABLE_BYTES) != 0)
        return BENCH_ERR;
    cdb *db = h;
    cairn_batch *batch;
    int rc = cairn_batch_new(&batch, db->db);
    if (rc != CAIRN_OK)
        return fail("cairn_batch_new", rc);
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    for (uint64_t i = 0; i < data->n && rc == 0; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        bench_kv op = { key, sizeof key, val, sizeof val };
        rc = commit_puts(batch, db->table, &op, 1,
                         i + 1 < data->n ? CAIRN_DURABILITY_RELAXED : CAIRN_DURABILITY_DURABLE);
    }
    return rc; /* left open: the driver kills this process now */
}

static int cdb_crash_open(void **out, const char *dir, const bench_config *cfg)
{
    return open_with(out, dir, 0, cfg, CRASH_MEMTABLE_BYTES);
}

static void cdb_describe(void *h, char *buf, size_t cap)
{
    cdb *db = h;
    cairn_db_stats st;
    if (cairn_db_stats_get(&st, db->db) != CAIRN_OK) {
        snprintf(buf, cap, "cairn_db_stats_get failed");
        return;
    }
    snprintf(buf, cap, "cairn replayed %llu log records in %.3f s (cairn_db_stats), %llu "
             "checkpoints since open, memtable %.1f MiB", (unsigned long long)st.recovered_records,
             (double)st.recovery_ns * 1e-9, (unsigned long long)st.checkpoints,
             (double)st.memtable_bytes / (1024.0 * 1024.0));
}

/* ---- versions ---- */

static int cdb_vcommit(void *h, const bench_kv *ops, size_t n, char id[BENCH_VERSION_ID_SIZE])
{
    cdb *db = h;
    if (n > 0) {
        cairn_batch *batch;
        int rc = cairn_batch_new(&batch, db->db);
        if (rc != CAIRN_OK)
            return fail("cairn_batch_new", rc);
        /* relaxed: the commit right after is the durable point (it moves the batch into the
         * trees and syncs them before it returns) */
        rc = commit_puts(batch, db->table, ops, n, CAIRN_DURABILITY_RELAXED);
        cairn_batch_free(batch);
        if (rc != 0)
            return rc;
    }
    cairn_commit_options opts = CAIRN_COMMIT_OPTIONS_INIT;
    opts.message = "cairn-bench";
    opts.author = COMMIT_AUTHOR;
    opts.flags = CAIRN_COMMIT_ALLOW_EMPTY;
    cairn_id cid;
    int rc = cairn_commit(&cid, db->db, &opts);
    if (rc != CAIRN_OK)
        return fail("cairn_commit", rc);
    cairn_id_to_hex(id, &cid);
    return 0;
}

typedef struct diff_sum {
    uint64_t changed, digest, old_digest;
} diff_sum;

static int on_diff(const cairn_diff_entry *e, void *payload)
{
    diff_sum *s = payload;
    s->changed++;
    if (e->new_val)
        s->digest += bench_value_digest(e->new_val, e->new_len);
    if (e->old_val)
        s->old_digest += bench_value_digest(e->old_val, e->old_len);
    return 0;
}

static int cdb_vdiff(void *h, const char *from, const char *to, uint64_t *changed,
                     uint64_t *digest)
{
    cdb *db = h;
    diff_sum s = { 0, 0, 0 };
    int rc = cairn_diff(db->db, from, to, CAIRN_BENCH_TABLE, on_diff, &s);
    if (rc != CAIRN_OK)
        return fail("cairn_diff", rc);
    *changed = s.changed;
    *digest = s.digest;
    return 0;
}

static int cdb_vbranch(void *h, const char *name, const char *at)
{
    cdb *db = h;
    int rc = cairn_branch_create(db->db, name, at);
    if (rc != CAIRN_OK)
        return fail("cairn_branch_create", rc);
    if ((rc = cairn_checkout(db->db, name)) != CAIRN_OK)
        return fail("cairn_checkout", rc);
    return 0;
}

static int cdb_vswitch(void *h, const char *name)
{
    cdb *db = h;
    int rc = cairn_checkout(db->db, name);
    return rc == CAIRN_OK ? 0 : fail("cairn_checkout", rc);
}

static int cdb_vdelete(void *h, const char *name)
{
    cdb *db = h;
    int rc = cairn_branch_delete(db->db, name);
    return rc == CAIRN_OK ? 0 : fail("cairn_branch_delete", rc);
}

static int cdb_vmerge(void *h, const char *other, char id[BENCH_VERSION_ID_SIZE])
{
    cdb *db = h;
    cairn_merge_result r;
    int rc = cairn_merge(&r, db->db, other, CAIRN_MERGE_FAIL, NULL, NULL);
    if (rc != CAIRN_OK)
        return fail("cairn_merge", rc);
    if (r.up_to_date || r.fast_forward || r.conflicts) {
        fprintf(stderr, "cairn: cairn_merge: not a clean three-way merge\n");
        return BENCH_ERR;
    }
    cairn_id_to_hex(id, &r.commit);
    return 0;
}

const bench_engine bench_engine_cairn = {
    .name = "cairn",
    .settings = "default options, one table, one cairn_batch committed (durable on return); "
                "txn: cairn_batch_commit (durable, group commit), one db shared by the writers, "
                "a table handle and batch each; recover: memtable_bytes 4 GiB, relaxed "
                "one-put batches, the last durable",
    .version = cdb_version,
    .open = cdb_open,
    .close = cdb_close,
    .load = cdb_load,
    .settle = NULL,
    .get = cdb_get,
    .scan = cdb_scan,
    .prove = cdb_prove,
    .verify = cdb_verify,
    .writer_open = cdb_writer_open,
    .txn = cdb_txn,
    .writer_close = cdb_writer_close,
    .crash_load = cdb_crash_load,
    .crash_open = cdb_crash_open,
    .describe = cdb_describe,
    .vcommit = cdb_vcommit,
    .vdiff = cdb_vdiff,
    .vbranch = cdb_vbranch,
    .vswitch = cdb_vswitch,
    .vdelete = cdb_vdelete,
    .vmerge = cdb_vmerge,
};
