/*
 * groupbench.c - cairn-groupbench: durable single-key puts from N threads sharing one handle,
 * on a repository in s3 (a running radosgw), in PostgreSQL and in a local directory: how many
 * writes a second, and what each costs in checkpoints and store requests. A repository on a
 * remote store has no log files; its durable writes are made durable by checkpoints, and
 * writers that arrive while one is in flight share the next (group commit over the store,
 * docs/ARCHITECTURE.md "Group commit on a remote repository"), so checkpoints per write fall as
 * threads are added.
 *
 *   cairn-groupbench [--threads=1,2,4,16] [--writes=N] [--dir=DIR] [--stores=local,s3,pg]
 *                    [--s3-env=FILE] [--pg-state=FILE]
 *
 * --s3-env is the file `scripts/ceph-up.sh up DIR` writes (DIR/s3.env); --pg-state the one
 * `scripts/pg-up.sh STATE` writes. A store whose file is not given is skipped (local needs
 * neither). For each store and thread count: a fresh repository (its own prefix or directory),
 * one handle, one table made first; then N threads put N_writes / N keys each (16 random bytes,
 * value 100 random bytes: data.c) with cairn_put in durable mode (the default), and the wall
 * time of all of them is taken. Then the handle is closed, the repository opened again and
 * every key read back and checked.
 *
 * Prints, per store and thread count,
 *   BENCH remotegroup<N> cairn <writes/s>   store=<s3|postgres|local> checkpoints_per_write=..
 *                                           requests_per_write=.. (the store's request counter:
 *                                           s3 HTTP requests, postgres statements; 0 locally)
 */
#include "bench.h"

#include <cairn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNTS 16
#define TABLE "bench"

#define die(...) bench_die("cairn-groupbench", __VA_ARGS__)

static void die_cairn(const char *what, int rc)
{
    die("%s: %s (%s)", what, cairn_error_last()->message, cairn_strerror(rc));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VALUE of "NAME=VALUE" (optionally quoted) in a file of such lines; false when absent. */
static bool file_value(const char *path, const char *name, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read %s", path);
    char line[2048];
    size_t nl = strlen(name);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) != 0 || line[nl] != '=') continue;
        char *v = line + nl + 1;
        v[strcspn(v, "\r\n")] = '\0';
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = '\0';
            v++;
        }
        snprintf(out, n, "%s", v);
        found = true;
    }
    fclose(f);
    return found;
}

typedef struct run {
    cairn_table *t;
    const bench_data *data;
    uint64_t from, to;      /* keys of one thread */
    int rc;
    char msg[512];
} run;

static void *writer(void *arg)
{
    run *r = arg;
    for (uint64_t i = r->from; i < r->to && r->rc == CAIRN_OK; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(r->data, i, k);
        bench_value(r->data, i, v);
        r->rc = cairn_put(r->t, k, sizeof k, v, sizeof v);
        if (r->rc < 0) snprintf(r->msg, sizeof r->msg, "%s", cairn_error_last()->message);
    }
    return NULL;
}

/* Every key of data is in the repository at url with its value. */
static void check_back(const char *url, const bench_data *data)
{
    cairn_db *db;
    int rc = cairn_open(&db, url, NULL);
    if (rc < 0) die_cairn("reopening to check", rc);
    cairn_table *t;
    if ((rc = cairn_table_open(&t, db, TABLE, 0)) < 0) die_cairn("opening the table", rc);
    for (uint64_t i = 0; i < data->n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(data, i, k);
        bench_value(data, i, v);
        void *got;
        size_t len;
        if ((rc = cairn_get(&got, &len, t, NULL, k, sizeof k)) < 0) die_cairn("reading back", rc);
        if (len != sizeof v || memcmp(got, v, len) != 0) die("key %llu read back wrong",
                                                             (unsigned long long)i);
        cairn_free(got);
    }
    cairn_table_close(t);
    cairn_close(db);
}

/* One measurement: nthreads writers, `writes` puts in all, on a fresh repository at url. */
static void measure(const char *store, const char *url, unsigned nthreads, uint64_t writes)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db;
    int rc = cairn_open(&db, url, &o);
    if (rc < 0) die_cairn(url, rc);
    cairn_table *t;
    if ((rc = cairn_table_open(&t, db, TABLE, CAIRN_TABLE_CREATE)) < 0)
        die_cairn("creating the table", rc);
    if ((rc = cairn_put(t, "", 0, "", 0)) < 0 || (rc = cairn_delete(t, "", 0)) < 0)
        die_cairn("first write", rc); /* the table exists before the clock starts */
    cairn_db_stats s0, s1;
    if ((rc = cairn_db_stats_get(&s0, db)) < 0) die_cairn("stats", rc);
    bench_data data = { 0x67726f7570ull + nthreads, writes };
    run *runs = calloc(nthreads, sizeof *runs);
    pthread_t *th = calloc(nthreads, sizeof *th);
    if (!runs || !th) die("out of memory");
    double t0 = now_s();
    for (unsigned i = 0; i < nthreads; i++) {
        runs[i] = (run){ t, &data, writes * i / nthreads, writes * (i + 1) / nthreads,
                         CAIRN_OK, "" };
        if (pthread_create(&th[i], NULL, writer, &runs[i]) != 0) die("pthread_create");
    }
    for (unsigned i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    for (unsigned i = 0; i < nthreads; i++)
        if (runs[i].rc < 0) die("%s, thread %u: %s", store, i, runs[i].msg);
    if ((rc = cairn_db_stats_get(&s1, db)) < 0) die_cairn("stats", rc);
    cairn_table_close(t);
    if ((rc = cairn_close(db)) < 0) die_cairn("close", rc);
    check_back(url, &data);
    double n = (double)writes;
    printf("BENCH remotegroup%u cairn %.1f   store=%s checkpoints_per_write=%.3f "
           "requests_per_write=%.2f (%llu writes in %.2f s)\n", nthreads, n / secs, store,
           (double)(s1.checkpoints - s0.checkpoints) / n,
           (double)(s1.store_requests - s0.store_requests) / n, (unsigned long long)writes, secs);
    fflush(stdout);
    free(runs);
    free(th);
}

int main(int argc, char **argv)
{
    unsigned counts[MAX_COUNTS] = { 1, 2, 4, 16 }, ncounts = 4;
    uint64_t writes = 256;
    const char *dir = NULL, *s3_env = NULL, *pg_state = NULL, *stores = "local,s3,pg";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--threads=", 10) == 0) {
            ncounts = 0;
            for (char *p = (char *)a + 10; *p && ncounts < MAX_COUNTS; p += *p == ',')
                counts[ncounts++] = (unsigned)strtoul(p, &p, 10);
        } else if (strncmp(a, "--writes=", 9) == 0) {
            writes = strtoull(a + 9, NULL, 10);
        } else if (strncmp(a, "--dir=", 6) == 0) {
            dir = a + 6;
        } else if (strncmp(a, "--stores=", 9) == 0) {
            stores = a + 9;
        } else if (strncmp(a, "--s3-env=", 9) == 0) {
            s3_env = a + 9;
        } else if (strncmp(a, "--pg-state=", 11) == 0) {
            pg_state = a + 11;
        } else {
            fprintf(stderr, "usage: cairn-groupbench [--threads=1,2,4,16] [--writes=N] [--dir=DIR] "
                            "[--stores=local,s3,pg] [--s3-env=FILE] [--pg-state=FILE]\n");
            return 2;
        }
    }
    for (unsigned i = 0; i < ncounts; i++)
        if (!counts[i] || counts[i] > writes) die("thread counts must be 1..writes");
    char tmp[] = "/tmp/cairn-groupbench.XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp))) die("mkdtemp");
    mkdir(dir, 0755);
    char endpoint[256] = "", pg_conninfo[1024] = "";
    if (s3_env) {
        char akey[128], skey[128];
        if (!file_value(s3_env, "S3_ENDPOINT", endpoint, sizeof endpoint) ||
            !file_value(s3_env, "S3_ACCESS_KEY", akey, sizeof akey) ||
            !file_value(s3_env, "S3_SECRET_KEY", skey, sizeof skey))
            die("%s lacks S3_ENDPOINT, S3_ACCESS_KEY or S3_SECRET_KEY", s3_env);
        setenv("AWS_ACCESS_KEY_ID", akey, 1);
        setenv("AWS_SECRET_ACCESS_KEY", skey, 1);
    }
    if (pg_state && !file_value(pg_state, "conninfo", pg_conninfo, sizeof pg_conninfo))
        die("%s has no conninfo line", pg_state);
    setenv("CAIRN_CACHE_DIR", dir, 0); /* the remote stores' disk caches stay in DIR */
    for (unsigned c = 0; c < ncounts; c++) {
        unsigned n = counts[c];
        char url[2048];
        if (strstr(stores, "local")) {
            snprintf(url, sizeof url, "%s/local-%u", dir, n);
            measure("local", url, n, writes);
        }
        if (strstr(stores, "s3") && endpoint[0]) {
            snprintf(url, sizeof url, "s3://cairn-groupbench/r%d-%u?endpoint=%s&region=us-east-1",
                     (int)getpid(), n, endpoint);
            measure("s3", url, n, writes);
        }
        if (strstr(stores, "pg") && pg_conninfo[0]) {
            snprintf(url, sizeof url, "pg:%s table_prefix=gb%d_%u_", pg_conninfo, (int)getpid(), n);
            measure("postgres", url, n, writes);
        }
    }
    return 0;
}
