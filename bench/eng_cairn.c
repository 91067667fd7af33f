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
 */
#include "bench.h"

#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAIRN_BENCH_TABLE "bench"

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

static int cdb_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    cdb *db = calloc(1, sizeof *db);
    if (!db)
        return fail("calloc", CAIRN_ENOMEM);
    cairn_open_options opts = CAIRN_OPEN_OPTIONS_INIT;
    if (create)
        opts.flags |= CAIRN_OPEN_CREATE;
    opts.cache_bytes = cfg->cache_bytes;
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
        if ((rc = cairn_cursor_get(cur, &k, &klen, &v, &vlen)) != CAIRN_OK)
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
        cairn_snapshot_root(&db->root, db->snap);
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

const bench_engine bench_engine_cairn = {
    .name = "cairn",
    .settings = "default options, one table, one cairn_batch committed (durable on return)",
    .version = cdb_version,
    .open = cdb_open,
    .close = cdb_close,
    .load = cdb_load,
    .settle = NULL,
    .get = cdb_get,
    .scan = cdb_scan,
    .prove = cdb_prove,
    .verify = cdb_verify,
};
