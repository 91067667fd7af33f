/*
 * pgload.c - cairn-pgload: loading keys into a repository on the postgres store against loading
 * the same rows into a PostgreSQL table with a primary key by COPY (the fastest way PostgreSQL
 * itself offers), on a throwaway server it starts (scripts/pg-up.sh) or one named by --state.
 *
 *   cairn-pgload [--n=N] [--seed=S] [--state=FILE] [--methods[=CHUNKS]] [--script=PATH] [--keep]
 *
 * pgload: the same n keys (16 random bytes) and values (100 random bytes) as cairn-bench
 * (data.c). cairn: one cairn_batch of the n puts into table "bench" of a new repository at
 * pg:CONNINFO table_prefix=pgload_, committed (durable: every chunk is in PostgreSQL when it
 * returns). postgres: CREATE TABLE (k bytea PRIMARY KEY, v bytea) and one COPY ... FROM STDIN
 * (BINARY) of the n rows. Prints `BENCH pgload cairn <keys/s>`, `BENCH pgload postgres
 * <keys/s>` and `RATIO pgload cairn/postgres <x>`.
 *
 * --methods: how to insert many chunks (id bytea primary key, data bytea) fastest, each way in a
 * fresh table with batches of 1000 chunks of 4 KiB (random bytes): unnest of two bytea[]
 * parameters; a multi-row INSERT ... VALUES; COPY into a temporary staging table then INSERT ...
 * SELECT ... ON CONFLICT DO NOTHING; single INSERTs in pipeline mode, one sync per batch.
 * Prints `BENCH pginsert <method> <chunks/s>`. The store uses what wins (src/store/pg.c).
 */
#include "bench.h"

#include <cairn.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define CHUNK 4096

#define die(...) bench_die("cairn-pgload", __VA_ARGS__)

static void run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* ---- binary encodings ---- */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->d = realloc(b->d, b->cap);
        if (!b->d) die("out of memory");
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put32(buf *b, uint32_t v)
{
    uint8_t d[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    put(b, d, 4);
}

static void put16(buf *b, uint16_t v)
{
    uint8_t d[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    put(b, d, 2);
}

static const uint8_t copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

/* One row of a binary COPY: two bytea fields. */
static void copy_row(buf *b, const void *k, size_t kn, const void *v, size_t vn)
{
    put16(b, 2);
    put32(b, (uint32_t)kn);
    put(b, k, kn);
    put32(b, (uint32_t)vn);
    put(b, v, vn);
}

static void copy_begin(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) die("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void copy_send(PGconn *c, buf *b)
{
    if (PQputCopyData(c, (const char *)b->d, (int)b->n) != 1) die("COPY: %s", PQerrorMessage(c));
    b->n = 0;
}

static void copy_end(PGconn *c, buf *b)
{
    put16(b, 0xffff);
    copy_send(c, b);
    if (PQputCopyEnd(c, NULL) != 1) die("COPY end: %s", PQerrorMessage(c));
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("COPY: %s", PQerrorMessage(c));
    PQclear(r);
    while ((r = PQgetResult(c))) PQclear(r);
}

/* ---- pgload ---- */

static double load_cairn(const char *conninfo, const bench_data *data)
{
    char url[1200];
    snprintf(url, sizeof url, "pg:%s table_prefix=pgload_", conninfo);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db;
    cairn_table *t;
    cairn_batch *b;
    double t0 = bench_now();
    if (cairn_open(&db, url, &o) != CAIRN_OK || cairn_table_open(&t, db, "bench", CAIRN_TABLE_CREATE)
        || cairn_batch_new(&b, db) != CAIRN_OK)
        die("cairn: %s", cairn_error_last()->message);
    for (uint64_t i = 0; i < data->n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(data, i, k);
        bench_value(data, i, v);
        if (cairn_batch_put(b, t, k, sizeof k, v, sizeof v) != CAIRN_OK)
            die("cairn: %s", cairn_error_last()->message);
    }
    if (cairn_batch_commit(b) != CAIRN_OK) die("cairn: %s", cairn_error_last()->message);
    double secs = bench_now() - t0;
    cairn_batch_free(b);
    cairn_table_close(t);
    cairn_close(db);
    return (double)data->n / secs;
}

static double load_copy(PGconn *c, const bench_data *data)
{
    double t0 = bench_now();
    run(c, "CREATE TABLE pgload_rows (k bytea PRIMARY KEY, v bytea NOT NULL)");
    copy_begin(c, "COPY pgload_rows (k, v) FROM STDIN (FORMAT binary)");
    buf b = { 0 };
    put(&b, copy_header, sizeof copy_header);
    for (uint64_t i = 0; i < data->n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(data, i, k);
        bench_value(data, i, v);
        copy_row(&b, k, sizeof k, v, sizeof v);
        if (b.n > (1u << 20)) copy_send(c, &b);
    }
    copy_end(c, &b);
    double secs = bench_now() - t0;
    free(b.d);
    return (double)data->n / secs;
}

/* ---- --methods ---- */

typedef struct chunks {
    uint8_t (*id)[32];
    uint8_t *data;
    size_t n;
} chunks;

static void make_chunks(chunks *c, const bench_data *data, size_t n)
{
    c->n = n;
    c->id = malloc(n * sizeof *c->id);
    c->data = malloc(n * CHUNK);
    if (!c->id || !c->data) die("out of memory");
    for (size_t i = 0; i < n; i++) {
        bench_key(data, i, c->id[i]);
        bench_key(data, i + n, c->id[i] + 16);
        for (size_t o = 0; o < CHUNK; o += BENCH_VALUE_SIZE) {
            uint8_t v[BENCH_VALUE_SIZE];
            bench_value(data, i * 64 + o / BENCH_VALUE_SIZE, v);
            memcpy(c->data + i * CHUNK + o, v, CHUNK - o < sizeof v ? CHUNK - o : sizeof v);
        }
    }
}

static void fresh_table(PGconn *c)
{
    run(c, "DROP TABLE IF EXISTS pginsert_chunks");
    run(c, "CREATE TABLE pginsert_chunks (id bytea PRIMARY KEY, data bytea NOT NULL) "
           "WITH (toast_tuple_target = 8160)");
    run(c, "ALTER TABLE pginsert_chunks ALTER COLUMN data SET STORAGE EXTERNAL");
}

static void array_of(buf *b, const uint8_t *base, size_t stride, size_t len, size_t n)
{
    b->n = 0;
    put32(b, 1);
    put32(b, 0);
    put32(b, 17);
    put32(b, (uint32_t)n);
    put32(b, 1);
    for (size_t i = 0; i < n; i++) {
        put32(b, (uint32_t)len);
        put(b, base + i * stride, len);
    }
}

static void exec_params(PGconn *c, const char *sql, int n, const char *const *v, const int *l)
{
    int *f = malloc((size_t)n * sizeof *f);
    for (int i = 0; i < n; i++) f[i] = 1;
    PGresult *r = PQexecParams(c, sql, n, NULL, v, l, f, 1);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("%.60s...: %s", sql, PQerrorMessage(c));
    PQclear(r);
    free(f);
}

static void m_unnest(PGconn *c, const chunks *ch, size_t off, size_t n)
{
    buf ids = { 0 }, datas = { 0 };
    array_of(&ids, ch->id[off], 32, 32, n);
    array_of(&datas, ch->data + off * CHUNK, CHUNK, CHUNK, n);
    const char *v[2] = { (const char *)ids.d, (const char *)datas.d };
    int l[2] = { (int)ids.n, (int)datas.n };
    exec_params(c, "INSERT INTO pginsert_chunks (id, data) SELECT * FROM unnest($1::bytea[], "
                   "$2::bytea[]) ON CONFLICT (id) DO NOTHING", 2, v, l);
    free(ids.d);
    free(datas.d);
}

static void m_values(PGconn *c, const chunks *ch, size_t off, size_t n)
{
    size_t cap = 64 + n * 24;
    char *sql = malloc(cap);
    size_t at = (size_t)snprintf(sql, cap, "INSERT INTO pginsert_chunks (id, data) VALUES ");
    const char **v = malloc(2 * n * sizeof *v);
    int *l = malloc(2 * n * sizeof *l);
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(sql + at, cap - at, "%s($%zu, $%zu)", i ? "," : "", 2 * i + 1,
                               2 * i + 2);
        v[2 * i] = (const char *)ch->id[off + i];
        l[2 * i] = 32;
        v[2 * i + 1] = (const char *)ch->data + (off + i) * CHUNK;
        l[2 * i + 1] = CHUNK;
    }
    snprintf(sql + at, cap - at, " ON CONFLICT (id) DO NOTHING");
    exec_params(c, sql, (int)(2 * n), v, l);
    free(sql);
    free(v);
    free(l);
}

static void m_copy(PGconn *c, const chunks *ch, size_t off, size_t n)
{
    run(c, "BEGIN");
    run(c, "CREATE TEMP TABLE IF NOT EXISTS pginsert_stage (id bytea, data bytea) "
           "ON COMMIT DELETE ROWS");
    copy_begin(c, "COPY pginsert_stage (id, data) FROM STDIN (FORMAT binary)");
    buf b = { 0 };
    put(&b, copy_header, sizeof copy_header);
    for (size_t i = 0; i < n; i++) copy_row(&b, ch->id[off + i], 32, ch->data + (off + i) * CHUNK, CHUNK);
    copy_end(c, &b);
    run(c, "INSERT INTO pginsert_chunks (id, data) SELECT id, data FROM pginsert_stage "
           "ON CONFLICT (id) DO NOTHING");
    run(c, "COMMIT");
    free(b.d);
}

static void m_pipeline(PGconn *c, const chunks *ch, size_t off, size_t n)
{
    if (PQenterPipelineMode(c) != 1) die("pipeline: %s", PQerrorMessage(c));
    const char *sql = "INSERT INTO pginsert_chunks (id, data) VALUES ($1, $2) "
                      "ON CONFLICT (id) DO NOTHING";
    int f[2] = { 1, 1 };
    for (size_t i = 0; i < n; i++) {
        const char *v[2] = { (const char *)ch->id[off + i], (const char *)ch->data + (off + i) * CHUNK };
        int l[2] = { 32, CHUNK };
        if (PQsendQueryParams(c, sql, 2, NULL, v, l, f, 1) != 1) die("send: %s", PQerrorMessage(c));
    }
    if (PQpipelineSync(c) != 1) die("sync: %s", PQerrorMessage(c));
    size_t results = 0;
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r) continue; /* the end of one query's results */
        ExecStatusType s = PQresultStatus(r);
        PQclear(r);
        if (s == PGRES_PIPELINE_SYNC) break;
        if (s != PGRES_COMMAND_OK) die("pipelined insert: %s", PQerrorMessage(c));
        results++;
    }
    if (results != n || PQexitPipelineMode(c) != 1) die("pipeline: %s", PQerrorMessage(c));
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define METHOD_ROUNDS 3

/* Each method METHOD_ROUNDS times, the methods interleaved, a CHECKPOINT before each run so that
 * none pays for another's writes; the median of each. */
static void methods(PGconn *c, const bench_data *data, size_t n)
{
    chunks ch;
    make_chunks(&ch, data, n);
    struct {
        const char *name;
        void (*fn)(PGconn *, const chunks *, size_t, size_t);
        double rate[METHOD_ROUNDS];
    } ms[] = { { "unnest", m_unnest, { 0 } }, { "values", m_values, { 0 } },
               { "copy_stage", m_copy, { 0 } }, { "pipeline", m_pipeline, { 0 } } };
    size_t nm = sizeof ms / sizeof ms[0];
    for (int round = 0; round < METHOD_ROUNDS; round++)
        for (size_t m = 0; m < nm; m++) {
            fresh_table(c);
            run(c, "CHECKPOINT");
            double t0 = bench_now();
            for (size_t off = 0; off < n; off += BATCH)
                ms[m].fn(c, &ch, off, n - off < BATCH ? n - off : BATCH);
            double secs = bench_now() - t0;
            PGresult *r = PQexec(c, "SELECT count(*) FROM pginsert_chunks");
            long got = atol(PQgetvalue(r, 0, 0));
            PQclear(r);
            if ((size_t)got != n) die("%s stored %ld chunks of %zu", ms[m].name, got, n);
            ms[m].rate[round] = (double)n / secs;
        }
    for (size_t m = 0; m < nm; m++) {
        qsort(ms[m].rate, METHOD_ROUNDS, sizeof(double), dbl_cmp);
        printf("BENCH pginsert %s %.0f   (chunks/s of %d bytes, median of %d; min %.0f max %.0f)\n",
               ms[m].name, ms[m].rate[METHOD_ROUNDS / 2], CHUNK, METHOD_ROUNDS, ms[m].rate[0],
               ms[m].rate[METHOD_ROUNDS - 1]);
    }
    fflush(stdout);
    run(c, "DROP TABLE pginsert_chunks");
    free(ch.id);
    free(ch.data);
}

/* ---- the server ---- */

static char conninfo[1024];

static void read_state(const char *path)
{
    bench_pg_conninfo("cairn-pgload", path, conninfo, sizeof conninfo);
}

int main(int argc, char **argv)
{
    bench_data data = { 42, 1000000 };
    const char *state = NULL, *script = "scripts/pg-up.sh";
    size_t method_chunks = 0;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--n=", 4) == 0) data.n = strtoull(argv[i] + 4, NULL, 10);
        else if (strncmp(argv[i], "--seed=", 7) == 0) data.seed = strtoull(argv[i] + 7, NULL, 10);
        else if (strncmp(argv[i], "--state=", 8) == 0) state = argv[i] + 8;
        else if (strncmp(argv[i], "--script=", 9) == 0) script = argv[i] + 9;
        else if (strcmp(argv[i], "--keep") == 0) keep = true;
        else if (strcmp(argv[i], "--methods") == 0) method_chunks = 20000;
        else if (strncmp(argv[i], "--methods=", 10) == 0) method_chunks = strtoull(argv[i] + 10, NULL, 10);
        else die("usage: cairn-pgload [--n=N] [--seed=S] [--state=FILE] [--methods[=CHUNKS]] "
                 "[--script=scripts/pg-up.sh]");
    }
    char own[64] = "";
    if (!state) { /* a server of our own */
        snprintf(own, sizeof own, "/tmp/cairn-pgload.%ld.state", (long)getpid());
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s %s >&2", script, own);
        if (system(cmd) != 0) die("could not start PostgreSQL with %s", script);
        state = own;
    }
    read_state(state);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) die("%s", PQerrorMessage(c));
    run(c, "SET client_min_messages = warning");
    run(c, "DROP TABLE IF EXISTS pgload_rows, pgload_chunks, pgload_refs, pgload_meta");
    printf("# cairn-pgload: %llu keys of %d bytes, values of %d bytes, seed %llu; %s\n",
           (unsigned long long)data.n, BENCH_KEY_SIZE, BENCH_VALUE_SIZE,
           (unsigned long long)data.seed, PQparameterStatus(c, "server_version"));
    if (method_chunks) methods(c, &data, method_chunks);
    double pg_rate = load_copy(c, &data);
    double cairn_rate = load_cairn(conninfo, &data);
    printf("BENCH pgload cairn %.0f\n", cairn_rate);
    printf("BENCH pgload postgres %.0f\n", pg_rate);
    printf("RATIO pgload cairn/postgres %.2f\n", cairn_rate / pg_rate);
    if (!keep) run(c, "DROP TABLE IF EXISTS pgload_rows, pgload_chunks, pgload_refs, pgload_meta");
    PQfinish(c);
    if (own[0]) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s --down %s >&2", script, own);
        if (system(cmd) != 0) fprintf(stderr, "cairn-pgload: stopping the server failed\n");
    }
    return 0;
}
