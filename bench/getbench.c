/*
 * getbench.c - cairn-getbench: random point reads of a repository living in s3 (a throwaway
 * radosgw it starts with scripts/ceph-up.sh, or one named by --s3-env), without and with the
 * disk cache, against the same reads of the same data in a local repository.
 *
 *   cairn-getbench [--n=N] [--gets=G] [--seed=S] [--dir=DIR] [--script=PATH] [--s3-env=FILE]
 *                  [--mem-cache=BYTES] [--keep]
 *
 * Data: the n keys (16 random bytes) and values (100 random bytes) of cairn-bench (data.c),
 * loaded with one cairn_batch into table "bench" of a local repository (DIR/local) and of a
 * repository at s3://cairn-getbench/RUN (its disk cache filled by the load is thrown away).
 * Reads: the same G keys, drawn uniformly from the n, in the same order for every workload,
 * each checked against its value; every workload opens its repository afresh (read-only), so
 * the memory cache starts empty:
 *   coldget  the s3 repository with an empty disk cache (DIR/cache-cold): every chunk a read
 *            needs comes over the network (and is cached on disk as it comes);
 *   warmget  the s3 repository again, the disk cache as coldget left it;
 *   get      the local repository.
 * Prints `BENCH coldget cairn <gets/s>`, `BENCH warmget cairn <gets/s>`, `BENCH get local
 * <gets/s>`, a `LATENCY <workload> <engine> p50_us=.. p99_us=.. requests_per_get=..` line each
 * (requests counted after the open), and `RATIO warmget cairn/local <x>`.
 *
 * --mem-cache sets the memory cache's size (cairn_open_options.cache_bytes) for every workload:
 * a small one sends most gets down to the store (the disk cache, or the local store's packs).
 *
 * radosgw is stopped at exit, also when a step fails or the run is interrupted (SIGINT,
 * SIGTERM, SIGHUP); --keep leaves DIR (and the server, when it was started here) for a look.
 */
#include "bench.h"

#include <cairn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUCKET "cairn-getbench"

static char g_down_cmd[2048]; /* the command that stops radosgw, or "" */
static size_t g_mem_cache;    /* cairn_open_options.cache_bytes; 0: the default */

static void server_down(void)
{
    if (!g_down_cmd[0]) return;
    if (system(g_down_cmd) != 0) fprintf(stderr, "cairn-getbench: '%s' failed\n", g_down_cmd);
    g_down_cmd[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(1); /* atexit stops the server */
}

#define die(...) bench_die("cairn-getbench", __VA_ARGS__)

/* Reads KEY=VALUE from the fixture's env file into out. */
static bool env_get(const char *path, const char *key, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t kl = strlen(key);
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) != 0 || line[kl] != '=') continue;
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(out, n, "%s", line + kl + 1);
        found = true;
    }
    if (f) fclose(f);
    return found;
}

/* One batch of the n puts into table "bench", committed. */
static void load(const char *url, const bench_data *data)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db;
    cairn_table *t;
    cairn_batch *b;
    if (cairn_open(&db, url, &o) != CAIRN_OK ||
        cairn_table_open(&t, db, "bench", CAIRN_TABLE_CREATE) != CAIRN_OK ||
        cairn_batch_new(&b, db) != CAIRN_OK)
        die("loading %s: %s", url, cairn_error_last()->message);
    for (uint64_t i = 0; i < data->n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(data, i, k);
        bench_value(data, i, v);
        if (cairn_batch_put(b, t, k, sizeof k, v, sizeof v) != CAIRN_OK)
            die("loading %s: %s", url, cairn_error_last()->message);
    }
    if (cairn_batch_commit(b) != CAIRN_OK || cairn_checkpoint(db) != CAIRN_OK)
        die("loading %s: %s", url, cairn_error_last()->message);
    cairn_batch_free(b);
    cairn_table_close(t);
    if (cairn_close(db) != CAIRN_OK) die("closing %s: %s", url, cairn_error_last()->message);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double gets_per_s, p50_us, p99_us, requests_per_get;
    double disk_hits, disk_misses;
} result;

/* Opens url read-only and reads keys idx[0..g-1], checking each value. */
static result run_gets(const char *url, const bench_data *data, const uint64_t *idx, size_t g)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    o.cache_bytes = g_mem_cache;
    cairn_db *db;
    cairn_table *t;
    if (cairn_open(&db, url, &o) != CAIRN_OK || cairn_table_open(&t, db, "bench", 0) != CAIRN_OK)
        die("opening %s: %s", url, cairn_error_last()->message);
    cairn_db_stats s0, s1;
    if (cairn_db_stats_get(&s0, db) != CAIRN_OK) die("stats: %s", cairn_error_last()->message);
    double *lat = malloc(g * sizeof *lat);
    if (!lat) die("out of memory");
    double t0 = bench_now();
    for (size_t i = 0; i < g; i++) {
        uint8_t k[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
        bench_key(data, idx[i], k);
        void *v;
        size_t vlen;
        double a = bench_now();
        if (cairn_get(&v, &vlen, t, NULL, k, sizeof k) != CAIRN_OK)
            die("get %zu from %s: %s", i, url, cairn_error_last()->message);
        lat[i] = bench_now() - a;
        bench_value(data, idx[i], want);
        if (vlen != sizeof want || memcmp(v, want, vlen) != 0)
            die("get %zu from %s: wrong value", i, url);
        cairn_free(v);
    }
    double secs = bench_now() - t0;
    if (cairn_db_stats_get(&s1, db) != CAIRN_OK) die("stats: %s", cairn_error_last()->message);
    qsort(lat, g, sizeof *lat, cmp_double);
    result r = { (double)g / secs, lat[g / 2] * 1e6, lat[g * 99 / 100] * 1e6,
                 (double)(s1.store_requests - s0.store_requests) / (double)g,
                 (double)(s1.disk_cache_hits - s0.disk_cache_hits),
                 (double)(s1.disk_cache_misses - s0.disk_cache_misses) };
    free(lat);
    cairn_table_close(t);
    cairn_close(db);
    return r;
}

static void report(const char *workload, const char *engine, const result *r)
{
    printf("BENCH %s %s %.0f\n", workload, engine, r->gets_per_s);
    printf("LATENCY %s %s p50_us=%.1f p99_us=%.1f requests_per_get=%.3f disk_cache_hits=%.0f "
           "disk_cache_misses=%.0f\n",
           workload, engine, r->p50_us, r->p99_us, r->requests_per_get, r->disk_hits,
           r->disk_misses);
    fflush(stdout);
}

/* Starts radosgw in dir with script (its env file into env); the server is stopped at exit. */
static void server_up(const char *script, const char *dir, char *env, size_t n)
{
    char cmd[2048];
    snprintf(g_down_cmd, sizeof g_down_cmd, "%s down %s >&2", script, dir);
    snprintf(cmd, sizeof cmd, "%s up %s >&2", script, dir);
    fprintf(stderr, "cairn-getbench: starting radosgw (%s up %s)\n", script, dir);
    if (system(cmd) != 0) die("could not start radosgw with %s", script);
    snprintf(env, n, "%s/s3.env", dir);
}

int main(int argc, char **argv)
{
    bench_data data = { 42, 100000 };
    size_t gets = 20000;
    const char *script = "scripts/ceph-up.sh", *s3env = NULL;
    char dir[1024] = "";
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--n=", 4) == 0) data.n = strtoull(argv[i] + 4, NULL, 10);
        else if (strncmp(argv[i], "--gets=", 7) == 0) gets = strtoull(argv[i] + 7, NULL, 10);
        else if (strncmp(argv[i], "--seed=", 7) == 0) data.seed = strtoull(argv[i] + 7, NULL, 10);
        else if (strncmp(argv[i], "--dir=", 6) == 0) snprintf(dir, sizeof dir, "%s", argv[i] + 6);
        else if (strncmp(argv[i], "--script=", 9) == 0) script = argv[i] + 9;
        else if (strncmp(argv[i], "--s3-env=", 9) == 0) s3env = argv[i] + 9;
        else if (strncmp(argv[i], "--mem-cache=", 12) == 0)
            g_mem_cache = strtoull(argv[i] + 12, NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0) keep = true;
        else
            die("usage: cairn-getbench [--n=N] [--gets=G] [--seed=S] [--dir=DIR] "
                "[--script=scripts/ceph-up.sh] [--s3-env=FILE] [--mem-cache=BYTES] [--keep]");
    }
    if (data.n == 0 || gets == 0) die("--n and --gets must be positive");
    if (!dir[0]) snprintf(dir, sizeof dir, "/tmp/cairn-getbench-%d", (int)getpid());
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) die("cannot make %s", dir);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (!keep) atexit(server_down);

    char envfile[1200], ceph[1100], endpoint[256], ak[256], sk[256];
    if (s3env) snprintf(envfile, sizeof envfile, "%s", s3env);
    else {
        snprintf(ceph, sizeof ceph, "%s/ceph", dir);
        server_up(script, ceph, envfile, sizeof envfile);
    }
    if (!env_get(envfile, "S3_ENDPOINT", endpoint, sizeof endpoint) ||
        !env_get(envfile, "S3_ACCESS_KEY", ak, sizeof ak) ||
        !env_get(envfile, "S3_SECRET_KEY", sk, sizeof sk))
        die("%s lacks S3_ENDPOINT, S3_ACCESS_KEY or S3_SECRET_KEY", envfile);
    setenv("AWS_ACCESS_KEY_ID", ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
    unsetenv("CAIRN_CACHE");
    unsetenv("CAIRN_CACHE_SIZE");

    char local[1100], url[1400], cache[1100];
    snprintf(local, sizeof local, "%s/local", dir);
    snprintf(url, sizeof url, "s3://" BUCKET "/run-%d-%ld?endpoint=%s", (int)getpid(),
             (long)time(NULL), endpoint);
    fprintf(stderr, "cairn-getbench: loading %llu keys into %s and %s\n",
            (unsigned long long)data.n, local, url);
    load(local, &data);
    snprintf(cache, sizeof cache, "%s/cache-load", dir);
    setenv("CAIRN_CACHE_DIR", cache, 1);
    double t0 = bench_now();
    load(url, &data);
    fprintf(stderr, "cairn-getbench: s3 load took %.1f s\n", bench_now() - t0);

    uint64_t *idx = malloc(gets * sizeof *idx);
    if (!idx) die("out of memory");
    uint64_t st = data.seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < gets; i++) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        idx[i] = st % data.n;
    }
    snprintf(cache, sizeof cache, "%s/cache-cold", dir);
    setenv("CAIRN_CACHE_DIR", cache, 1);
    result cold = run_gets(url, &data, idx, gets);
    report("coldget", "cairn", &cold);
    result warm = run_gets(url, &data, idx, gets);
    report("warmget", "cairn", &warm);
    result loc = run_gets(local, &data, idx, gets);
    report("get", "local", &loc);
    printf("RATIO warmget cairn/local %.2f\n", warm.gets_per_s / loc.gets_per_s);
    printf("RATIO coldget cairn/local %.2f\n", cold.gets_per_s / loc.gets_per_s);
    free(idx);
    if (!keep) {
        server_down();
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "cairn-getbench: could not remove %s\n", dir);
    }
    return 0;
}
