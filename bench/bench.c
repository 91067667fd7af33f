/*
 * bench.c - cairn-bench: the same workloads on cairn and, in the same run, on LMDB, RocksDB,
 * LevelDB and SQLite, through their C APIs.
 *
 * For each engine in turn, in a fresh directory: load n keys in one durable transaction, measure
 * the directory, then close and reopen the store before each read workload, so no engine reads
 * from caches its own writes filled (the OS page cache stays warm unless --cold). The driver
 * generates and checks the data; the adapters (eng_*.c, behind bench.h) only call the engines.
 *
 * Output: "# " lines describe the machine, the engines and side measurements; one
 * "BENCH <workload> <engine> <value>" line per result; then "RATIO <workload> <base>/<peer> <x>"
 * lines and a table for people. See bench/README.md.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_N 1000000u
#define DEFAULT_SEED 42u
#define DEFAULT_BASELINE "cairn"
#define MIB (1024.0 * 1024.0)
#define NOTE_SIZE 512
#define MAX_ENGINES 16
#define MAX_WORKLOADS 32
#define BYTES_PER_BLOCK 512 /* st_blocks unit */
#define MAX_CACHE_MIB (1u << 20)
#define MAX_REPEAT 99

/* ---------------------------------------------------------------------------------------------
 * Engines: every adapter built into this binary. The cairn adapter is left out when the build
 * has CAIRN_BENCH_WITH_CAIRN=OFF (while the KV layer does not link yet).
 * ------------------------------------------------------------------------------------------- */

static const bench_engine *const all_engines[] = {
#ifdef BENCH_WITH_CAIRN
    &bench_engine_cairn,
#endif
    &bench_engine_lmdb,
    &bench_engine_rocksdb,
    &bench_engine_leveldb,
    &bench_engine_sqlite,
};
#define N_ENGINES (sizeof all_engines / sizeof all_engines[0])
_Static_assert(N_ENGINES <= MAX_ENGINES, "raise MAX_ENGINES");

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds this process (all its threads, the engines' background threads too) has used. */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* CPU seconds the whole machine has been busy (not idle, not waiting for I/O), from /proc/stat;
 * negative when unknown. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long t[8] = { 0 };
    int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &t[0], &t[1], &t[2],
                         &t[3], &t[4], &t[5], &t[6], &t[7])
                : 0;
    if (f)
        fclose(f);
    if (got != 8)
        return -1;
    /* user nice system idle iowait irq softirq steal: all but idle and iowait */
    return (double)(t[0] + t[1] + t[2] + t[5] + t[6] + t[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* One timed phase: wall time, this process's CPU time, and what everything else on the machine
 * used meanwhile, so a number taken on a busy machine says so. */
typedef struct phase {
    double wall, cpu, busy; /* at start, then the differences after phase_stop() */
} phase;

static void phase_start(phase *p)
{
    p->busy = machine_busy_s();
    p->cpu = self_cpu_s();
    p->wall = now_s();
}

static void phase_stop(phase *p)
{
    p->wall = now_s() - p->wall;
    p->cpu = self_cpu_s() - p->cpu;
    double busy = machine_busy_s();
    p->busy = p->busy < 0 || busy < 0 ? -1 : busy - p->busy;
}

/* CPUs other processes kept busy during the phase, on average; negative when unknown. */
static double phase_others(const phase *p)
{
    if (p->busy < 0 || p->wall <= 0)
        return -1;
    double others = (p->busy - p->cpu) / p->wall;
    return others < 0 ? 0 : others;
}

/* Visits every entry under path (depth first, children before their directory). */
typedef int (*walk_fn)(const char *path, const struct stat *st, void *payload);

static int walk(const char *path, walk_fn fn, void *payload)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        fprintf(stderr, "stat %s: %s\n", path, strerror(errno));
        return BENCH_ERR;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) {
            fprintf(stderr, "opendir %s: %s\n", path, strerror(errno));
            return BENCH_ERR;
        }
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *child = bench_path(path, de->d_name);
            rc = child ? walk(child, fn, payload) : BENCH_ERR;
            free(child);
        }
        closedir(d);
        if (rc != 0)
            return rc;
    }
    return fn(path, &st, payload);
}

static int remove_one(const char *path, const struct stat *st, void *payload)
{
    (void)payload;
    if ((S_ISDIR(st->st_mode) ? rmdir(path) : unlink(path)) != 0) {
        fprintf(stderr, "remove %s: %s\n", path, strerror(errno));
        return BENCH_ERR;
    }
    return 0;
}

static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    return walk(path, remove_one, NULL);
}

typedef struct du {
    uint64_t apparent;  /* sum of st_size of regular files */
    uint64_t allocated; /* sum of st_blocks * 512 */
    unsigned files;
} du;

static int du_one(const char *path, const struct stat *st, void *payload)
{
    (void)path;
    du *u = payload;
    if (S_ISREG(st->st_mode)) {
        u->apparent += (uint64_t)st->st_size;
        u->allocated += (uint64_t)st->st_blocks * BYTES_PER_BLOCK;
        u->files++;
    }
    return 0;
}

/* Drops the files' pages from the OS page cache (after syncing, since only clean pages go). */
static int uncache_one(const char *path, const struct stat *st, void *payload)
{
    (void)payload;
    if (!S_ISREG(st->st_mode))
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        return BENCH_ERR;
    }
    fdatasync(fd);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "posix_fadvise %s: %s\n", path, strerror(rc));
        return BENCH_ERR;
    }
    return 0;
}

/* Formats a rate or size for the table: 561.2k, 14.1M, 112.3. */
static void human(char *buf, size_t cap, double v, int is_size)
{
    if (is_size)
        snprintf(buf, cap, "%.1f", v);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

/* ---------------------------------------------------------------------------------------------
 * Workloads. Each runs on one engine and yields one number. A workload that needs the loaded
 * store runs after "load" has succeeded on that engine, in that engine's directory; each read
 * workload opens the store itself, so it starts with the engine's caches empty.
 * ------------------------------------------------------------------------------------------- */

typedef struct ctx {
    const bench_engine *eng;
    const bench_data *data;
    const uint32_t *perm;   /* the get order: a permutation of 0..n-1 */
    uint64_t digest_sum;    /* sum of bench_value_digest over all values */
    const char *base;       /* the run's directory, removed at the end unless --keep */
    const char *dir;        /* the engine's loaded store, base/<engine> */
    int cold;               /* drop the store's pages from the OS cache before each read */
    bench_config cfg;       /* passed to every open */
    phase timed;            /* the timed part of the workload, when it has one */
    int has_timed;
    char note[NOTE_SIZE];   /* side measurements, printed as a "# " line */
} ctx;

static void timed_start(ctx *c)
{
    c->has_timed = 1;
    phase_start(&c->timed);
}

/* Ends the timed part; returns its wall seconds. */
static double timed_stop(ctx *c)
{
    phase_stop(&c->timed);
    return c->timed.wall;
}

typedef enum needs {
    NEEDS_NOTHING, /* makes its own store: "load" makes ctx->dir; any other such workload makes
                      base/<engine>.<workload> (made with bench_path(), cleaned up with base) */
    NEEDS_LOADED   /* runs on the store "load" left behind in ctx->dir */
} needs;

typedef struct workload {
    const char *name;
    const char *unit;
    int is_size;  /* a size: smaller is better, printed in MiB */
    needs needs;
    /* Does the engine support it? The workload is skipped on engines where this is false. */
    int (*supported)(const bench_engine *e);
    /* Runs it; *out is the result (ops/s or MiB). Prints the reason and returns non-zero on
     * failure. */
    int (*run)(ctx *c, double *out);
} workload;

static void note(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->note, sizeof c->note, fmt, ap);
    va_end(ap);
}

static int open_for_read(ctx *c, void **db)
{
    if (c->cold && walk(c->dir, uncache_one, NULL) != 0)
        return BENCH_ERR;
    return c->eng->open(db, c->dir, 0, &c->cfg);
}

static int has_load(const bench_engine *e) { return e->load != NULL; }
static int has_get(const bench_engine *e) { return e->get != NULL; }
static int has_scan(const bench_engine *e) { return e->scan != NULL; }
static int always(const bench_engine *e) { (void)e; return 1; }

/* load: n puts in one transaction, timed until the commit is durable. settle and close are
 * timed apart and reported in the note, so work an engine defers past the commit shows. */
static int run_load(ctx *c, double *out)
{
    void *db;
    if (c->eng->open(&db, c->dir, 1, &c->cfg) != 0)
        return BENCH_ERR;
    timed_start(c);
    int rc = c->eng->load(db, c->data);
    double secs = timed_stop(c);
    double t1 = now_s();
    if (rc == 0 && c->eng->settle)
        rc = c->eng->settle(db);
    double t2 = now_s();
    int crc = c->eng->close(db);
    double t3 = now_s();
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    note(c, "untimed after the commit: settle %.3f s, close %.3f s", t2 - t1, t3 - t2);
    return 0;
}

/* size: the store's directory after load, settle and close. */
static int run_size(ctx *c, double *out)
{
    du u = { 0, 0, 0 };
    if (walk(c->dir, du_one, &u) != 0)
        return BENCH_ERR;
    *out = (double)u.apparent / MIB;
    note(c, "apparent %.2f MiB, allocated %.2f MiB, %u files (raw data %.2f MiB)",
         (double)u.apparent / MIB, (double)u.allocated / MIB, u.files,
         (double)c->data->n * (BENCH_KEY_SIZE + BENCH_VALUE_SIZE) / MIB);
    return 0;
}

/* get: every key once, in a random order different from the load order; each value compared
 * with the one regenerated from the key's index. */
static int run_get(ctx *c, double *out)
{
    void *db;
    if (open_for_read(c, &db) != 0)
        return BENCH_ERR;
    uint8_t key[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
    int rc = 0;
    timed_start(c);
    for (uint64_t j = 0; j < c->data->n && rc == 0; j++) {
        uint64_t i = c->perm[j];
        const void *val;
        size_t vlen;
        bench_key(c->data, i, key);
        rc = c->eng->get(db, key, sizeof key, &val, &vlen);
        if (rc == BENCH_NOTFOUND) {
            fprintf(stderr, "%s get: key #%llu not found\n", c->eng->name, (unsigned long long)i);
            break;
        }
        if (rc != 0)
            break;
        bench_value(c->data, i, want);
        if (vlen != sizeof want || memcmp(val, want, sizeof want) != 0) {
            fprintf(stderr, "%s get: key #%llu: wrong value (%zu bytes)\n", c->eng->name,
                    (unsigned long long)i, vlen);
            rc = BENCH_ERR;
        }
    }
    double secs = timed_stop(c);
    int crc = c->eng->close(db);
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    return 0;
}

typedef struct scan_state {
    const char *engine;
    uint64_t count;
    uint64_t digest;
    uint8_t prev[BENCH_KEY_SIZE];
} scan_state;

static int scan_one(const void *key, size_t klen, const void *val, size_t vlen, void *payload)
{
    scan_state *s = payload;
    if (klen != BENCH_KEY_SIZE || vlen != BENCH_VALUE_SIZE) {
        fprintf(stderr, "%s scan: entry %llu has a %zu-byte key and a %zu-byte value\n", s->engine,
                (unsigned long long)s->count, klen, vlen);
        return BENCH_ERR;
    }
    if (s->count > 0 && memcmp(s->prev, key, BENCH_KEY_SIZE) >= 0) {
        fprintf(stderr, "%s scan: entry %llu: keys do not ascend\n", s->engine,
                (unsigned long long)s->count);
        return BENCH_ERR;
    }
    memcpy(s->prev, key, BENCH_KEY_SIZE);
    s->digest += bench_value_digest(val, vlen);
    s->count++;
    return 0;
}

/* scan: one ordered pass over everything; checks the count, the order, and (through the digest
 * sum) that every value was read and is right. */
static int run_scan(ctx *c, double *out)
{
    void *db;
    if (open_for_read(c, &db) != 0)
        return BENCH_ERR;
    scan_state s = { c->eng->name, 0, 0, { 0 } };
    timed_start(c);
    int rc = c->eng->scan(db, scan_one, &s);
    double secs = timed_stop(c);
    int crc = c->eng->close(db);
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    if (s.count != c->data->n || s.digest != c->digest_sum) {
        fprintf(stderr, "%s scan: %llu entries (want %llu), value digest %s\n", c->eng->name,
                (unsigned long long)s.count, (unsigned long long)c->data->n,
                s.digest == c->digest_sum ? "ok" : "wrong");
        return BENCH_ERR;
    }
    *out = (double)s.count / secs;
    return 0;
}

static int has_proofs(const bench_engine *e) { return e->prove && e->verify; }

#define VERIFY_BATCH 4096 /* proofs made (untimed) before each timed round of verification */

/* proof: a proof of every key, in the get order, against the loaded state; timed. Each is
 * checked for a plausible size only (verify checks the contents). */
static int run_proof(ctx *c, double *out)
{
    void *db;
    if (open_for_read(c, &db) != 0)
        return BENCH_ERR;
    uint8_t key[BENCH_KEY_SIZE];
    uint64_t bytes = 0;
    int rc = 0;
    timed_start(c);
    for (uint64_t j = 0; j < c->data->n && rc == 0; j++) {
        const void *proof;
        size_t len;
        bench_key(c->data, c->perm[j], key);
        rc = c->eng->prove(db, key, sizeof key, &proof, &len);
        if (rc == 0 && len < BENCH_KEY_SIZE + BENCH_VALUE_SIZE) {
            fprintf(stderr, "%s proof: key #%llu: a proof of %zu bytes cannot hold the value\n",
                    c->eng->name, (unsigned long long)c->perm[j], len);
            rc = BENCH_ERR;
        }
        bytes += len;
    }
    double secs = timed_stop(c);
    int crc = c->eng->close(db);
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    note(c, "proofs of %.0f bytes on average", (double)bytes / (double)c->data->n);
    return 0;
}

/* verify: the proof of every key, in the get order, made VERIFY_BATCH at a time (untimed),
 * then verified from the bytes alone (timed): each must be valid, about its key, and show the
 * key present with the regenerated value. */
static int run_verify(ctx *c, double *out)
{
    void *db;
    if (open_for_read(c, &db) != 0)
        return BENCH_ERR;
    size_t *offs = malloc((VERIFY_BATCH + 1) * sizeof *offs);
    uint8_t *buf = NULL, key[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
    size_t cap = 0;
    int rc = offs ? 0 : BENCH_ERR;
    double secs = 0;
    for (uint64_t j0 = 0; j0 < c->data->n && rc == 0; j0 += VERIFY_BATCH) {
        uint64_t m = c->data->n - j0 < VERIFY_BATCH ? c->data->n - j0 : VERIFY_BATCH;
        offs[0] = 0;
        for (uint64_t j = 0; j < m && rc == 0; j++) {
            const void *proof;
            size_t len;
            bench_key(c->data, c->perm[j0 + j], key);
            rc = c->eng->prove(db, key, sizeof key, &proof, &len);
            if (rc != 0)
                break;
            if (offs[j] + len > cap) {
                size_t ncap = cap ? cap * 2 : (size_t)1 << 24;
                while (ncap < offs[j] + len)
                    ncap *= 2;
                uint8_t *nb = realloc(buf, ncap);
                if (!nb) {
                    fprintf(stderr, "cairn-bench: out of memory for proofs\n");
                    rc = BENCH_ERR;
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            memcpy(buf + offs[j], proof, len);
            offs[j + 1] = offs[j] + len;
        }
        double t0 = now_s();
        for (uint64_t j = 0; j < m && rc == 0; j++) {
            uint64_t i = c->perm[j0 + j];
            const void *val;
            size_t vlen;
            bench_key(c->data, i, key);
            rc = c->eng->verify(db, buf + offs[j], offs[j + 1] - offs[j], key, sizeof key, &val,
                                &vlen);
            if (rc == BENCH_NOTFOUND) {
                fprintf(stderr, "%s verify: key #%llu: the proof shows it absent\n",
                        c->eng->name, (unsigned long long)i);
                rc = BENCH_ERR;
                break;
            }
            bench_value(c->data, i, want);
            if (rc == 0 && (vlen != sizeof want || memcmp(val, want, sizeof want) != 0)) {
                fprintf(stderr, "%s verify: key #%llu: wrong value (%zu bytes)\n", c->eng->name,
                        (unsigned long long)i, vlen);
                rc = BENCH_ERR;
            }
        }
        secs += now_s() - t0;
    }
    free(buf);
    free(offs);
    int crc = c->eng->close(db);
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    note(c, "timed: verification only (%.3f s on one thread); the proofs were made apart", secs);
    return 0;
}

/* In the order they run. A new workload goes here (before the ones that would disturb it),
 * with a method at the end of bench_engine that its supported() checks. */
static const workload all_workloads[] = {
    { "load", "keys/s", 0, NEEDS_NOTHING, has_load, run_load },
    { "size", "MiB", 1, NEEDS_LOADED, always, run_size },
    { "get", "ops/s", 0, NEEDS_LOADED, has_get, run_get },
    { "scan", "entries/s", 0, NEEDS_LOADED, has_scan, run_scan },
    { "proof", "proofs/s", 0, NEEDS_LOADED, has_proofs, run_proof },
    { "verify", "proofs/s", 0, NEEDS_LOADED, has_proofs, run_verify },
};
#define N_WORKLOADS (sizeof all_workloads / sizeof all_workloads[0])
_Static_assert(N_WORKLOADS <= MAX_WORKLOADS, "raise MAX_WORKLOADS");

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

typedef struct options {
    const bench_engine *engines[MAX_ENGINES];
    size_t n_engines;
    int want[MAX_WORKLOADS]; /* by index into all_workloads */
    uint64_t n;
    uint64_t seed;
    uint64_t cache_mib;   /* 0: each engine's default cache */
    const char *dir;      /* parent of the run's fresh directory */
    const char *baseline; /* the engine the RATIO lines divide by the others */
    uint64_t repeat;      /* runs of everything; results are medians */
    int keep;
    int cold;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn-bench [options]\n"
            "  --engines=a,b,..    engines to run (default: all built in:");
    for (size_t i = 0; i < N_ENGINES; i++)
        fprintf(f, " %s", all_engines[i]->name);
    fprintf(f, ")\n  --workloads=a,b,..  workloads (default: all:");
    for (size_t i = 0; i < N_WORKLOADS; i++)
        fprintf(f, " %s", all_workloads[i].name);
    fprintf(f,
            ")\n"
            "  --n=N               keys (default %u)\n"
            "  --seed=N            data seed (default %u)\n"
            "  --dir=PATH          where to make the run's fresh directory (default $TMPDIR or "
            "/tmp)\n"
            "  --keep              keep the engines' directories instead of removing them\n"
            "  --cold              drop each store's pages from the OS cache before get and scan\n"
            "  --cache-mib=N       give every engine's own cache N MiB (SQLite page cache,\n"
            "                      RocksDB/LevelDB block cache, cairn chunk cache; LMDB has\n"
            "                      none); default: each engine's default\n"
            "  --repeat=N          run everything N times (engines interleaved) and report\n"
            "                      medians (default 1)\n"
            "  --baseline=ENGINE   the numerator of the RATIO lines (default %s)\n",
            DEFAULT_N, DEFAULT_SEED, DEFAULT_BASELINE);
}

static int parse_u64(const char *s, uint64_t *out, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "cairn-bench: %s: not a number: '%s'\n", what, s);
        return BENCH_ERR;
    }
    *out = v;
    return 0;
}

static const bench_engine *find_engine(const char *name)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (strcmp(all_engines[i]->name, name) == 0)
            return all_engines[i];
    return NULL;
}

static int parse_engines(options *o, char *list)
{
    o->n_engines = 0;
    for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const bench_engine *e = find_engine(tok);
        if (!e) {
            fprintf(stderr, "cairn-bench: unknown engine '%s'%s\n", tok,
                    strcmp(tok, "cairn") == 0
                        ? " (this build has CAIRN_BENCH_WITH_CAIRN=OFF)" : "");
            return BENCH_ERR;
        }
        for (size_t i = 0; i < o->n_engines; i++)
            if (o->engines[i] == e)
                e = NULL;
        if (e && o->n_engines < MAX_ENGINES)
            o->engines[o->n_engines++] = e;
    }
    if (o->n_engines == 0) {
        fprintf(stderr, "cairn-bench: --engines names no engine\n");
        return BENCH_ERR;
    }
    return 0;
}

static int parse_workloads(options *o, char *list)
{
    memset(o->want, 0, sizeof o->want);
    int any = 0;
    for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < N_WORKLOADS && strcmp(all_workloads[i].name, tok) != 0)
            i++;
        if (i == N_WORKLOADS) {
            fprintf(stderr, "cairn-bench: unknown workload '%s'\n", tok);
            return BENCH_ERR;
        }
        o->want[i] = any = 1;
    }
    if (!any) {
        fprintf(stderr, "cairn-bench: --workloads names no workload\n");
        return BENCH_ERR;
    }
    return 0;
}

/* Returns the value of "--name=value" when arg is that option, else NULL. */
static char *opt_value(char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && arg[len] == '=' ? arg + len + 1 : NULL;
}

static int parse_args(options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < N_ENGINES; i++)
        o->engines[o->n_engines++] = all_engines[i];
    for (size_t i = 0; i < N_WORKLOADS; i++)
        o->want[i] = 1;
    o->n = DEFAULT_N;
    o->seed = DEFAULT_SEED;
    o->baseline = DEFAULT_BASELINE;
    o->repeat = 1;
    o->dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v;
        int rc = 0;
        if ((v = opt_value(a, "--engines")))
            rc = parse_engines(o, v);
        else if ((v = opt_value(a, "--workloads")))
            rc = parse_workloads(o, v);
        else if ((v = opt_value(a, "--n")))
            rc = parse_u64(v, &o->n, "--n");
        else if ((v = opt_value(a, "--seed")))
            rc = parse_u64(v, &o->seed, "--seed");
        else if ((v = opt_value(a, "--repeat")))
            rc = parse_u64(v, &o->repeat, "--repeat");
        else if ((v = opt_value(a, "--cache-mib")))
            rc = parse_u64(v, &o->cache_mib, "--cache-mib");
        else if ((v = opt_value(a, "--dir")))
            o->dir = v;
        else if ((v = opt_value(a, "--baseline")))
            o->baseline = v;
        else if (strcmp(a, "--keep") == 0)
            o->keep = 1;
        else if (strcmp(a, "--cold") == 0)
            o->cold = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "cairn-bench: unknown argument '%s'\n", a);
            usage(stderr);
            rc = BENCH_ERR;
        }
        if (rc != 0)
            return rc;
    }
    if (o->repeat < 1 || o->repeat > MAX_REPEAT) {
        fprintf(stderr, "cairn-bench: --repeat must be 1..%u\n", MAX_REPEAT);
        return BENCH_ERR;
    }
    if (o->cache_mib > MAX_CACHE_MIB) {
        fprintf(stderr, "cairn-bench: --cache-mib must be at most %u\n", MAX_CACHE_MIB);
        return BENCH_ERR;
    }
    if (o->n < 1 || o->n > UINT32_MAX) {
        fprintf(stderr, "cairn-bench: --n must be 1..%u\n", UINT32_MAX);
        return BENCH_ERR;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Header: the machine and the engines, so a result line can be read without asking
 * ------------------------------------------------------------------------------------------- */

static void cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = 0;
            snprintf(buf, cap, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static const char *fs_name(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs (fsync is free: durability is not measured)";
    case 0x794c7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0xF2F52010: return "f2fs";
    default: return "other";
    }
}

static void print_header(const options *o, const char *base, double gen_ns)
{
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    struct utsname u;
    if (uname(&u) != 0)
        snprintf(u.sysname, sizeof u.sysname, "?");
    struct statfs fs;
    const char *fsn = statfs(base, &fs) == 0 ? fs_name((long)fs.f_type) : "unknown";
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (MIB * 1024);

    printf("# cairn-bench\n");
    printf("# cpu: %s, nproc %ld, memory %.1f GiB, %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           ram, u.sysname, u.release);
    double load[3] = { -1, -1, -1 };
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(f);
    }
    printf("# load average at start: %.2f %.2f %.2f (other work on the machine skews every "
           "number; see the per-workload 'other processes' notes)\n", load[0], load[1], load[2]);
    printf("# dir: %s (%s)%s\n", base, fsn, o->cold ? ", --cold: page cache dropped before reads"
                                                   : ", page cache warm");
    if (o->cache_mib)
        printf("# caches: %llu MiB for every engine's own cache (--cache-mib)\n",
               (unsigned long long)o->cache_mib);
    else
        printf("# caches: each engine's default (SQLite 2 MiB pages, RocksDB and LevelDB 8 MiB "
               "blocks, cairn 256 MiB chunks; LMDB uses the OS page cache)\n");
    printf("# data: n=%llu, seed=%llu, %d-byte random keys, %d-byte random values; "
           "generating a key and value costs %.0f ns, inside every timed loop\n",
           (unsigned long long)o->n, (unsigned long long)o->seed, BENCH_KEY_SIZE,
           BENCH_VALUE_SIZE, gen_ns);
    for (size_t i = 0; i < o->n_engines; i++) {
        char ver[64];
        o->engines[i]->version(ver, sizeof ver);
        printf("# engine %s %s: %s\n", o->engines[i]->name, ver, o->engines[i]->settings);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------------- */

typedef enum status { ST_NONE, ST_OK, ST_SKIP, ST_FAIL } status;

/* One workload on one engine, over every repetition. */
typedef struct result {
    status st;
    unsigned runs;              /* values collected */
    double values[MAX_REPEAT];
    double value;               /* their median, once all runs are done */
} result;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(result *r, double *min, double *max)
{
    double v[MAX_REPEAT];
    memcpy(v, r->values, r->runs * sizeof v[0]);
    qsort(v, r->runs, sizeof v[0], cmp_double);
    r->value = r->runs % 2 ? v[r->runs / 2] : (v[r->runs / 2 - 1] + v[r->runs / 2]) / 2;
    *min = v[0];
    *max = v[r->runs - 1];
}

/* A result as the BENCH lines print it: MiB with two decimals, rates as integers. */
static const char *fmt_value(char *buf, size_t cap, const workload *wl, double v)
{
    snprintf(buf, cap, wl->is_size ? "%.2f" : "%.0f", v);
    return buf;
}

static void print_bench_line(const workload *wl, const char *engine, double v)
{
    char b[32];
    printf("BENCH %s %s %s\n", wl->name, engine, fmt_value(b, sizeof b, wl, v));
}

/* After the last repetition: each result's median, and with --repeat its BENCH line. */
static void finish_results(const options *o, result res[][MAX_ENGINES])
{
    for (size_t e = 0; e < o->n_engines; e++)
        for (size_t w = 0; w < N_WORKLOADS; w++) {
            result *r = &res[w][e];
            if (r->st != ST_OK)
                continue;
            double min, max;
            summarize(r, &min, &max);
            if (o->repeat > 1) {
                const workload *wl = &all_workloads[w];
                char b1[32], b2[32];
                print_bench_line(wl, o->engines[e]->name, r->value);
                printf("# median of %u runs; min %s, max %s (spread %.0f%% of the median)\n",
                       r->runs, fmt_value(b1, sizeof b1, wl, min),
                       fmt_value(b2, sizeof b2, wl, max), 100 * (max - min) / r->value);
            }
        }
}

static void print_ratios(const options *o, result res[][MAX_ENGINES])
{
    size_t b = 0;
    while (b < o->n_engines && strcmp(o->engines[b]->name, o->baseline) != 0)
        b++;
    if (b == o->n_engines) {
        printf("# no RATIO lines: the baseline engine '%s' did not run\n", o->baseline);
        return;
    }
    for (size_t w = 0; w < N_WORKLOADS; w++)
        for (size_t e = 0; e < o->n_engines; e++)
            if (e != b && res[w][b].st == ST_OK && res[w][e].st == ST_OK)
                printf("RATIO %s %s/%s %.2f\n", all_workloads[w].name, o->baseline,
                       o->engines[e]->name, res[w][b].value / res[w][e].value);
}

static void print_table(const options *o, result res[][MAX_ENGINES])
{
    printf("\n%-8s %-10s", "workload", "unit");
    for (size_t e = 0; e < o->n_engines; e++)
        printf(" %10s", o->engines[e]->name);
    printf("\n");
    for (size_t w = 0; w < N_WORKLOADS; w++) {
        if (!o->want[w])
            continue;
        printf("%-8s %-10s", all_workloads[w].name, all_workloads[w].unit);
        for (size_t e = 0; e < o->n_engines; e++) {
            char cell[32];
            const result *r = &res[w][e];
            if (r->st == ST_OK)
                human(cell, sizeof cell, r->value, all_workloads[w].is_size);
            else
                snprintf(cell, sizeof cell, "%s", r->st == ST_SKIP ? "n/a" : r->st == ST_FAIL
                                                                              ? "FAIL" : "-");
            printf(" %10s", cell);
        }
        printf("\n");
    }
    printf("(rates: higher is better; size: apparent MiB after load, lower is better; "
           "RATIO = %s's number / the peer's%s)\n", o->baseline,
           o->repeat > 1 ? "; medians of --repeat runs" : "");
}

/* OTHERS_WARN: CPUs used by other processes during a timed phase above which the number is
 * flagged as taken on a busy machine. */
#define OTHERS_WARN 0.2

static void print_notes(const ctx *c, const workload *wl)
{
    if (c->has_timed) {
        double others = phase_others(&c->timed);
        printf("# %s %s: %.3f s wall, %.3f s CPU in this process; other processes used %.2f "
               "CPUs%s\n", wl->name, c->eng->name, c->timed.wall, c->timed.cpu, others,
               others > OTHERS_WARN ? " - WARNING: busy machine, this number may be low" : "");
    }
    if (c->note[0])
        printf("# %s %s: %s\n", wl->name, c->eng->name, c->note);
}

/* Runs the wanted workloads on one engine, in a fresh directory under base; run counts from 1. */
static void run_engine(const options *o, size_t e, unsigned run, const char *base, ctx *c,
                       result res[][MAX_ENGINES])
{
    int want_loaded = 0;
    for (size_t w = 0; w < N_WORKLOADS; w++)
        want_loaded |= o->want[w] && all_workloads[w].needs == NEEDS_LOADED;
    char name[64];
    if (o->repeat > 1)
        snprintf(name, sizeof name, "%s.%u", o->engines[e]->name, run);
    else
        snprintf(name, sizeof name, "%s", o->engines[e]->name);
    char *dir = bench_path(base, name);
    if (!dir) {
        fprintf(stderr, "cairn-bench: out of memory\n");
        exit(1);
    }
    c->eng = o->engines[e];
    c->dir = dir;
    int loaded = 0;
    for (size_t w = 0; w < N_WORKLOADS; w++) {
        const workload *wl = &all_workloads[w];
        int is_loader = wl->run == run_load;
        if (!o->want[w] && !(is_loader && want_loaded))
            continue;
        result *r = &res[w][e];
        if (!wl->supported(c->eng)) {
            r->st = ST_SKIP;
            if (run > 1)
                continue;
            printf("# skip %s %s: not supported by the engine\n", wl->name, c->eng->name);
            continue;
        }
        if (wl->needs == NEEDS_LOADED && !loaded) {
            r->st = ST_FAIL;
            printf("# FAIL %s %s: no loaded store\n", wl->name, c->eng->name);
            continue;
        }
        fprintf(stderr, "cairn-bench: %s %s...\n", wl->name, c->eng->name);
        c->note[0] = 0;
        c->has_timed = 0;
        double v = 0;
        if (wl->run(c, &v) != 0) {
            r->st = ST_FAIL;
            printf("# FAIL %s %s (see stderr)\n", wl->name, c->eng->name);
        } else {
            loaded |= is_loader;
            if (o->want[w] && r->st != ST_FAIL) {
                r->st = ST_OK;
                r->values[r->runs++] = v;
                if (o->repeat == 1)
                    print_bench_line(wl, c->eng->name, v);
                else {
                    char b[32];
                    printf("# run %u/%u: %s %s %s\n", run, (unsigned)o->repeat, wl->name,
                           c->eng->name, fmt_value(b, sizeof b, wl, v));
                }
            }
            print_notes(c, wl);
        }
        fflush(stdout);
    }
    if (!o->keep && remove_tree(dir) != 0)
        fprintf(stderr, "cairn-bench: could not remove %s\n", dir);
    free(dir);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(&o, argc, argv) != 0)
        return 2;

    bench_data data = { o.seed, o.n };
    uint32_t *perm = bench_permutation(&data);
    if (!perm) {
        fprintf(stderr, "cairn-bench: out of memory for %llu keys\n", (unsigned long long)o.n);
        return 1;
    }
    /* What generating the data costs, then the scan's expected digest. */
    volatile uint8_t sink = 0; /* keeps the generation in the measured loop */
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    double t0 = now_s();
    for (uint64_t i = 0; i < o.n; i++) {
        bench_key(&data, i, key);
        bench_value(&data, i, val);
        sink ^= key[0] ^ val[0];
    }
    double gen_ns = (now_s() - t0) * 1e9 / (double)o.n;
    (void)sink;
    uint64_t digest_sum = 0;
    for (uint64_t i = 0; i < o.n; i++) {
        bench_value(&data, i, val);
        digest_sum += bench_value_digest(val, sizeof val);
    }

    char *base = bench_path(o.dir, "cairn-bench.XXXXXX");
    if (!base || !mkdtemp(base)) {
        fprintf(stderr, "cairn-bench: cannot make a directory in %s: %s\n", o.dir,
                strerror(errno));
        return 1;
    }
    print_header(&o, base, gen_ns);

    static result res[MAX_WORKLOADS][MAX_ENGINES];
    ctx c;
    memset(&c, 0, sizeof c);
    c.data = &data;
    c.perm = perm;
    c.digest_sum = digest_sum;
    c.cold = o.cold;
    c.base = base;
    c.cfg.cache_bytes = (size_t)o.cache_mib << 20;
    for (unsigned run = 1; run <= o.repeat; run++)
        for (size_t e = 0; e < o.n_engines; e++)
            run_engine(&o, e, run, base, &c, res);

    finish_results(&o, res);
    print_ratios(&o, res);
    print_table(&o, res);

    if (o.keep)
        printf("# kept %s\n", base);
    else if (remove_tree(base) != 0)
        fprintf(stderr, "cairn-bench: could not remove %s\n", base);
    int failed = 0;
    for (size_t w = 0; w < N_WORKLOADS; w++)
        for (size_t e = 0; e < o.n_engines; e++)
            failed |= res[w][e].st == ST_FAIL;
    free(base);
    free(perm);
    return failed ? 1 : 0;
}
