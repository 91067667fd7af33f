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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
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
#define DEFAULT_TXNS 10000u
/* Each workload draws its updates from its own range of bench_update() numbers, so that every
 * engine gets the same ones whichever workloads run. */
#define UPDATE_RANGE_SHIFT 40

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
    &bench_engine_libgit2,
    &bench_engine_gitcli,
};
#define N_ENGINES (sizeof all_engines / sizeof all_engines[0])
_Static_assert(N_ENGINES <= MAX_ENGINES, "raise MAX_ENGINES");

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

/* CPU seconds this process (all its threads, the engines' background threads too) and the
 * child processes it has waited for (the git commands of the git peer) have used. */
static double self_cpu_s(void)
{
    double s = 0;
    int who[2] = { RUSAGE_SELF, RUSAGE_CHILDREN };
    for (int k = 0; k < 2; k++) {
        struct rusage ru;
        getrusage(who[k], &ru);
        s += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    }
    return s;
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
    p->wall = bench_now();
}

static void phase_stop(phase *p)
{
    p->wall = bench_now() - p->wall;
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

/* What a workload's number is. */
typedef enum value_kind {
    VK_RATE,    /* operations per second: higher is better; printed as an integer */
    VK_MIB,     /* a size in MiB: lower is better; two decimals */
    VK_SECONDS, /* a duration in seconds: lower is better; three decimals */
    VK_MS       /* a duration in milliseconds: lower is better; two decimals */
} value_kind;

/* Rates below this are printed with two decimals (a git command can take seconds), above it as
 * integers. */
#define SMALL_RATE 10.0

/* Formats a value for the table: 561.2k, 14.1M, 0.38, 112.3 (MiB), 1.234 s. */
static void human(char *buf, size_t cap, double v, value_kind kind)
{
    if (kind == VK_MIB)
        snprintf(buf, cap, "%.1f", v);
    else if (kind == VK_SECONDS)
        snprintf(buf, cap, v < 10 ? "%.3f s" : "%.1f s", v);
    else if (kind == VK_MS)
        snprintf(buf, cap, "%.2f ms", v);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, v < SMALL_RATE ? "%.2f" : "%.0f", v);
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
    uint64_t txns;          /* transactions of txn and of txn8 (--txns) */
    uint64_t next_update;   /* the next bench_update() number a workload draws */
    double load_rate;       /* this engine's load result in this run (keys/s; 0: none) */
    const char *open_dir;   /* --open-dir: where the open workloads keep their stores */
} ctx;

/* Seconds since timed_start(), while the timed part runs. */
static double timed_elapsed(const ctx *c)
{
    return bench_now() - c->timed.wall;
}

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
    value_kind kind;
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
static int has_size(const bench_engine *e) { return !(e->flags & BENCH_VERSIONS_ONLY); }

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
    double t1 = bench_now();
    if (rc == 0 && c->eng->settle)
        rc = c->eng->settle(db);
    double t2 = bench_now();
    int crc = c->eng->close(db);
    double t3 = bench_now();
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    c->load_rate = *out;
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
 * key present with the regenerated value. verify does it on one thread; verifyall splits each
 * batch over one thread per online CPU, as a server checking proofs for many clients would
 * (verification needs no repository and shares nothing). */
typedef struct vjob {
    ctx *c;
    void *db;
    const uint8_t *buf;
    const size_t *offs;
    uint64_t j0, lo, hi;     /* proofs lo..hi-1 of the batch that starts at key j0 */
    int rc;
    pthread_t tid;
} vjob;

static void *verify_part(void *arg)
{
    vjob *v = arg;
    ctx *c = v->c;
    uint8_t key[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
    for (uint64_t j = v->lo; j < v->hi && v->rc == 0; j++) {
        uint64_t i = c->perm[v->j0 + j];
        const void *val;
        size_t vlen;
        bench_key(c->data, i, key);
        int rc = c->eng->verify(v->db, v->buf + v->offs[j], v->offs[j + 1] - v->offs[j], key,
                                sizeof key, &val, &vlen);
        if (rc == BENCH_NOTFOUND) {
            fprintf(stderr, "%s verify: key #%llu: the proof shows it absent\n", c->eng->name,
                    (unsigned long long)i);
            rc = BENCH_ERR;
        }
        bench_value(c->data, i, want);
        if (rc == 0 && (vlen != sizeof want || memcmp(val, want, sizeof want) != 0)) {
            fprintf(stderr, "%s verify: key #%llu: wrong value (%zu bytes)\n", c->eng->name,
                    (unsigned long long)i, vlen);
            rc = BENCH_ERR;
        }
        v->rc = rc;
    }
    return NULL;
}

#define VERIFY_MAX_THREADS 64

static int run_verify_on(ctx *c, double *out, unsigned threads)
{
    void *db;
    if (open_for_read(c, &db) != 0)
        return BENCH_ERR;
    size_t *offs = malloc((VERIFY_BATCH + 1) * sizeof *offs);
    uint8_t *buf = NULL, key[BENCH_KEY_SIZE];
    size_t cap = 0;
    int rc = offs ? 0 : BENCH_ERR;
    double secs = 0;
    vjob jobs[VERIFY_MAX_THREADS];
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
        if (rc != 0)
            break;
        double t0 = bench_now();
        for (unsigned t = 0; t < threads; t++) {
            jobs[t] = (vjob){ c, db, buf, offs, j0, m * t / threads, m * (t + 1) / threads, 0, 0 };
            if (t > 0 && pthread_create(&jobs[t].tid, NULL, verify_part, &jobs[t]) != 0) {
                jobs[t].rc = BENCH_ERR; /* this part runs on the calling thread below */
                verify_part(&jobs[t]);
                jobs[t].tid = 0;
            }
        }
        verify_part(&jobs[0]);
        for (unsigned t = 1; t < threads; t++)
            if (jobs[t].tid)
                pthread_join(jobs[t].tid, NULL);
        secs += bench_now() - t0;
        for (unsigned t = 0; t < threads; t++)
            if (jobs[t].rc != 0)
                rc = jobs[t].rc;
    }
    free(buf);
    free(offs);
    int crc = c->eng->close(db);
    if (rc != 0 || crc != 0)
        return BENCH_ERR;
    *out = (double)c->data->n / secs;
    note(c, "timed: verification only (%.3f s on %u thread%s); the proofs were made apart", secs,
         threads, threads == 1 ? "" : "s");
    return 0;
}

static int run_verify(ctx *c, double *out) { return run_verify_on(c, out, 1); }

static int run_verify_all(ctx *c, double *out)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = ncpu < 1 ? 1 : ncpu > VERIFY_MAX_THREADS ? VERIFY_MAX_THREADS : (unsigned)ncpu;
    return run_verify_on(c, out, threads);
}

/* ---------------------------------------------------------------------------------------------
 * Durability: many small durable transactions from one or several writer threads (txn, txn8),
 * and recovery after a crash with the whole data set still in the log (recover)
 * ------------------------------------------------------------------------------------------- */

#define TXN_OPS 10    /* updates per transaction */
#define TXN_THREADS 8 /* writers of txn8 */

static int has_txn(const bench_engine *e) { return e->writer_open && e->txn && e->writer_close; }

typedef struct txn_thread {
    ctx *c;
    void *db;
    pthread_barrier_t *start;
    uint64_t first, count; /* its transactions, by number */
    uint64_t u0;           /* the update number of transaction 0's first update */
    int rc;
    pthread_t tid;
} txn_thread;

/* Fills a transaction's updates: TXN_OPS random existing keys with new values. */
static void txn_ops(const bench_data *data, uint64_t u, uint8_t keys[][BENCH_KEY_SIZE],
                    uint8_t vals[][BENCH_VALUE_SIZE], bench_kv *ops)
{
    for (unsigned j = 0; j < TXN_OPS; j++) {
        bench_key(data, bench_update(data, u + j, vals[j]), keys[j]);
        ops[j] = (bench_kv){ keys[j], BENCH_KEY_SIZE, vals[j], BENCH_VALUE_SIZE };
    }
}

static void *txn_worker(void *arg)
{
    txn_thread *t = arg;
    const bench_engine *e = t->c->eng;
    void *w = NULL;
    t->rc = e->writer_open(&w, t->db);
    pthread_barrier_wait(t->start); /* every writer is open (or failed): go */
    uint8_t keys[TXN_OPS][BENCH_KEY_SIZE], vals[TXN_OPS][BENCH_VALUE_SIZE];
    bench_kv ops[TXN_OPS];
    for (uint64_t k = t->first; k < t->first + t->count && t->rc == 0; k++) {
        txn_ops(t->c->data, t->u0 + k * TXN_OPS, keys, vals, ops);
        t->rc = e->txn(w, ops, TXN_OPS);
    }
    if (w)
        e->writer_close(w);
    return NULL;
}

/* After txn/txn8, on a reopened store: every key of each writer's last transaction holds an
 * update of that key (another writer's later update of the same key also passes). */
static int txn_check(ctx *c, const txn_thread *th, unsigned nthreads)
{
    void *db;
    if (c->eng->open(&db, c->dir, 0, &c->cfg) != 0)
        return BENCH_ERR;
    int rc = 0;
    for (unsigned k = 0; k < nthreads && rc == 0; k++) {
        if (th[k].count == 0)
            continue;
        uint64_t u = th[k].u0 + (th[k].first + th[k].count - 1) * TXN_OPS;
        for (unsigned j = 0; j < TXN_OPS && rc == 0; j++) {
            uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
            uint64_t i = bench_update(c->data, u + j, val);
            const void *got;
            size_t len;
            bench_key(c->data, i, key);
            rc = c->eng->get(db, key, sizeof key, &got, &len);
            if (rc == 0 && !bench_is_update(i, got, len)) {
                fprintf(stderr, "%s txn: key #%llu does not hold its update after reopening\n",
                        c->eng->name, (unsigned long long)i);
                rc = BENCH_ERR;
            } else if (rc == BENCH_NOTFOUND) {
                fprintf(stderr, "%s txn: key #%llu vanished\n", c->eng->name,
                        (unsigned long long)i);
            }
        }
    }
    int crc = c->eng->close(db);
    return rc != 0 || crc != 0 ? BENCH_ERR : 0;
}

/* txn, txn8: c->txns transactions of TXN_OPS updates each, split evenly over nthreads writers
 * sharing one open store, timed from the moment every writer is open until the last one is
 * done. Then the store is closed, reopened and checked. */
static int run_txn(ctx *c, unsigned nthreads, double *out)
{
    void *db;
    if (c->eng->open(&db, c->dir, 0, &c->cfg) != 0)
        return BENCH_ERR;
    txn_thread th[TXN_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, nthreads + 1);
    for (unsigned k = 0; k < nthreads; k++) {
        uint64_t lo = c->txns * k / nthreads, hi = c->txns * (k + 1) / nthreads;
        th[k] = (txn_thread){ c, db, &start, lo, hi - lo, c->next_update, 0, 0 };
        if (pthread_create(&th[k].tid, NULL, txn_worker, &th[k]) != 0) {
            fprintf(stderr, "cairn-bench: cannot start writer threads\n");
            exit(1); /* the started ones wait at the barrier forever */
        }
    }
    c->next_update += c->txns * TXN_OPS;
    pthread_barrier_wait(&start);
    timed_start(c);
    int rc = 0;
    for (unsigned k = 0; k < nthreads; k++) {
        pthread_join(th[k].tid, NULL);
        rc |= th[k].rc;
    }
    double secs = timed_stop(c);
    pthread_barrier_destroy(&start);
    double t0 = bench_now();
    int crc = c->eng->close(db);
    double close_s = bench_now() - t0;
    if (rc != 0 || crc != 0 || txn_check(c, th, nthreads) != 0)
        return BENCH_ERR;
    *out = (double)c->txns / secs;
    note(c, "%llu transactions of %d updates, %u writer%s; %.1f us per transaction; untimed "
         "close after it %.3f s", (unsigned long long)c->txns, TXN_OPS, nthreads,
         nthreads > 1 ? "s" : "", secs * 1e6 / (double)c->txns, close_s);
    return 0;
}

static int run_txn1(ctx *c, double *out) { return run_txn(c, 1, out); }
static int run_txn8(ctx *c, double *out) { return run_txn(c, TXN_THREADS, out); }

static int has_recover(const bench_engine *e)
{
    return e->crash_load && e->crash_open && e->get && e->close;
}

#define CRASH_CHILD "--crash-child" /* argv[1] of the recover workload's child process */
#define RECOVER_CHECK_KEYS 10000   /* keys read back (untimed) after the timed open and get */

/* The recover workload's child: cairn-bench --crash-child ENGINE DIR N SEED. Writes the store
 * with the engine's crash_load, then kills itself with SIGKILL: nothing is closed, flushed or
 * checkpointed. Exits with a status (which the parent reports) only when something failed. */
static int crash_child(int argc, char **argv)
{
    const bench_engine *e = NULL;
    for (size_t i = 0; argc == 6 && i < N_ENGINES; i++)
        if (strcmp(all_engines[i]->name, argv[2]) == 0)
            e = all_engines[i];
    char *end1, *end2;
    bench_data data = { 0, 0 };
    if (e) {
        data.n = strtoull(argv[4], &end1, 10);
        data.seed = strtoull(argv[5], &end2, 10);
    }
    if (!e || !e->crash_load || *end1 || *end2 || data.n == 0) {
        fprintf(stderr, "cairn-bench: bad %s arguments\n", CRASH_CHILD);
        return 2;
    }
    if (e->crash_load(argv[3], &data) != 0)
        return 3;
    fflush(NULL);
    kill(getpid(), SIGKILL);
    return 4; /* not reached */
}

/* Starts the child (fork, then exec of this program, so that it inherits no engine threads or
 * locks of this process) and waits for it. Returns 0 when it died of SIGKILL. */
static int crash_setup(ctx *c, const char *dir)
{
    char n[32], seed[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)c->data->n);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->data->seed);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cairn-bench: fork: %s\n", strerror(errno));
        return BENCH_ERR;
    }
    if (pid == 0) {
        execl("/proc/self/exe", "cairn-bench", CRASH_CHILD, c->eng->name, dir, n, seed,
              (char *)NULL);
        fprintf(stderr, "cairn-bench: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "cairn-bench: waitpid: %s\n", strerror(errno));
            return BENCH_ERR;
        }
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        fprintf(stderr, "%s recover: the writing child %s %d instead of being killed\n",
                c->eng->name, WIFEXITED(st) ? "exited with" : "died of signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return BENCH_ERR;
    }
    return 0;
}

/* Reads key index i and compares its value with the loaded one. */
static int check_loaded(ctx *c, void *db, uint64_t i)
{
    uint8_t key[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
    const void *val;
    size_t vlen;
    bench_key(c->data, i, key);
    int rc = c->eng->get(db, key, sizeof key, &val, &vlen);
    if (rc == BENCH_NOTFOUND)
        fprintf(stderr, "%s: key #%llu not found\n", c->eng->name, (unsigned long long)i);
    if (rc != 0)
        return BENCH_ERR;
    bench_value(c->data, i, want);
    if (vlen != sizeof want || memcmp(val, want, sizeof want) != 0) {
        fprintf(stderr, "%s: key #%llu: wrong value\n", c->eng->name, (unsigned long long)i);
        return BENCH_ERR;
    }
    return 0;
}

/* recover: a child writes n single-put records into a fresh store and is killed; timed: open
 * what it left plus one get. Then, untimed, RECOVER_CHECK_KEYS keys are read back. */
static int run_recover(ctx *c, double *out)
{
    size_t len = strlen(c->dir) + sizeof ".recover";
    char *dir = malloc(len);
    if (!dir)
        return BENCH_ERR;
    snprintf(dir, len, "%s.recover", c->dir);
    double t0 = bench_now();
    int rc = crash_setup(c, dir);
    double setup = bench_now() - t0;
    du u = { 0, 0, 0 };
    if (rc == 0)
        rc = walk(dir, du_one, &u);
    void *db = NULL;
    char desc[NOTE_SIZE / 2] = "";
    if (rc == 0) {
        timed_start(c);
        rc = c->eng->crash_open(&db, dir, &c->cfg);
        if (rc == 0)
            rc = check_loaded(c, db, c->perm[0]);
        *out = timed_stop(c);
    }
    for (uint64_t j = 1; rc == 0 && j < c->data->n && j < RECOVER_CHECK_KEYS; j++)
        rc = check_loaded(c, db, c->perm[j]);
    if (db && c->eng->describe)
        c->eng->describe(db, desc, sizeof desc);
    if (db && c->eng->close(db) != 0)
        rc = BENCH_ERR;
    if (rc == 0)
        note(c, "the child wrote %llu records in %.1f s and was killed; left %.1f MiB in %u "
             "files%s%s", (unsigned long long)c->data->n, setup, (double)u.apparent / MIB,
             u.files, desc[0] ? "; " : "", desc);
    remove_tree(dir);
    free(dir);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Big updates (update10) and the cost of opening (open-100k, open-1M, open-10M)
 * ------------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b);
static int parse_u64(const char *s, uint64_t *out, const char *what);
static const bench_engine *find_engine(const char *name);

#define UPDATE_FRACTION 10       /* update10 rewrites this part of the keys ... */
#define UPDATE_CHECKS 1000       /* ... and reads back about this many of them, untimed */

/* Fills ops[0..m) with updates u0, u0+1, ... (random existing keys, new values). keys and vals
 * hold m keys and m values. */
static void update_ops(const bench_data *data, uint64_t u0, uint64_t m, uint8_t *keys,
                       uint8_t *vals, bench_kv *ops)
{
    for (uint64_t j = 0; j < m; j++) {
        uint8_t *k = keys + j * BENCH_KEY_SIZE, *v = vals + j * BENCH_VALUE_SIZE;
        bench_key(data, bench_update(data, u0 + j, v), k);
        ops[j] = (bench_kv){ k, BENCH_KEY_SIZE, v, BENCH_VALUE_SIZE };
    }
}

/* Reads key index i back (from the update u) and checks that it holds an update of that key. */
static int check_updated(ctx *c, void *db, uint64_t u)
{
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    uint64_t i = bench_update(c->data, u, val);
    const void *got;
    size_t len;
    bench_key(c->data, i, key);
    int rc = c->eng->get(db, key, sizeof key, &got, &len);
    if (rc == BENCH_NOTFOUND)
        fprintf(stderr, "%s update10: key #%llu vanished\n", c->eng->name, (unsigned long long)i);
    else if (rc == 0 && !bench_is_update(i, got, len)) {
        fprintf(stderr, "%s update10: key #%llu does not hold its update after reopening\n",
                c->eng->name, (unsigned long long)i);
        rc = BENCH_ERR;
    }
    return rc;
}

/* update10: n/10 updates of random existing keys as one durable transaction (the txn method
 * with one big batch), timed like load, on the loaded store; reported in keys/s so that it
 * compares with load. Then, untimed, the store is reopened and a sample of the keys checked. */
static int run_update10(ctx *c, double *out)
{
    uint64_t m = c->data->n / UPDATE_FRACTION ? c->data->n / UPDATE_FRACTION : 1;
    uint8_t *keys = malloc(m * BENCH_KEY_SIZE), *vals = malloc(m * BENCH_VALUE_SIZE);
    bench_kv *ops = malloc(m * sizeof *ops);
    uint64_t u0 = c->next_update;
    c->next_update += m;
    void *db = NULL, *w = NULL;
    int rc = keys && vals && ops ? 0 : BENCH_ERR;
    if (rc == 0) {
        update_ops(c->data, u0, m, keys, vals, ops);
        rc = c->eng->open(&db, c->dir, 0, &c->cfg);
    }
    if (rc == 0)
        rc = c->eng->writer_open(&w, db);
    double secs = 0;
    if (rc == 0) {
        timed_start(c);
        rc = c->eng->txn(w, ops, m);
        secs = timed_stop(c);
    }
    if (w)
        c->eng->writer_close(w);
    /* the close is not timed, but said: work a commit leaves for later (cairn's checkpoint of
     * a logged batch, an LSM's memtable flush) is done there at the latest */
    double close0 = bench_now();
    if (db && c->eng->close(db) != 0)
        rc = BENCH_ERR;
    double close_secs = bench_now() - close0;
    free(keys);
    free(vals);
    free(ops);
    if (rc == 0)
        rc = c->eng->open(&db, c->dir, 0, &c->cfg);
    else
        db = NULL;
    uint64_t step = m / UPDATE_CHECKS ? m / UPDATE_CHECKS : 1;
    for (uint64_t j = 0; rc == 0 && j < m; j += step) {
        /* a later update of the same key holds an update of it too */
        rc = check_updated(c, db, u0 + j);
    }
    if (db && c->eng->close(db) != 0)
        rc = BENCH_ERR;
    if (rc != 0)
        return BENCH_ERR;
    *out = (double)m / secs;
    if (c->load_rate > 0)
        note(c, "%llu updates in one transaction, %.3f s; %.2fx this engine's load rate "
             "(%.0f keys/s); the close after it %.3f s", (unsigned long long)m, secs,
             *out / c->load_rate, c->load_rate, close_secs);
    else
        note(c, "%llu updates in one transaction, %.3f s; the close after it %.3f s",
             (unsigned long long)m, secs, close_secs);
    return 0;
}

#define OPEN_CHILD "--open-child" /* argv[1] of an open workload's measuring process */
#define OPEN_RUNS 11              /* cold processes per open workload; the median is reported */

static int has_open(const bench_engine *e)
{
    return e->open && e->close && e->get && e->load && !(e->flags & BENCH_VERSIONS_ONLY);
}

/* The open workloads' child: cairn-bench --open-child ENGINE DIR N SEED I. Times opening the
 * store of N keys in DIR, reading key I (checked) and closing, and prints the milliseconds.
 * A fresh process (exec) has no engine state, no cache and no open handle of its own. */
static int open_child(int argc, char **argv)
{
    const bench_engine *e = argc == 7 ? find_engine(argv[2]) : NULL;
    bench_data data = { 0, 0 };
    uint64_t i = 0;
    if (!e || parse_u64(argv[4], &data.n, "N") || parse_u64(argv[5], &data.seed, "SEED") ||
        parse_u64(argv[6], &i, "I") || i >= data.n) {
        fprintf(stderr, "cairn-bench: bad %s arguments\n", OPEN_CHILD);
        return 2;
    }
    bench_config cfg = { 0 };
    uint8_t key[BENCH_KEY_SIZE], want[BENCH_VALUE_SIZE];
    bench_key(&data, i, key);
    bench_value(&data, i, want);
    void *db;
    const void *val;
    size_t vlen = 0;
    double t0 = bench_now();
    int rc = e->open(&db, argv[3], 0, &cfg);
    if (rc == 0) {
        rc = e->get(db, key, sizeof key, &val, &vlen);
        if (rc == 0 && (vlen != sizeof want || memcmp(val, want, sizeof want) != 0))
            rc = BENCH_ERR;
        if (e->close(db) != 0)
            rc = BENCH_ERR;
    }
    double ms = (bench_now() - t0) * 1e3;
    if (rc != 0) {
        fprintf(stderr, "%s open: key #%llu of %s not read back\n", e->name,
                (unsigned long long)i, argv[3]);
        return 3;
    }
    printf("%.6f\n", ms);
    return 0;
}

/* Builds a store of data->n keys in dir (which does not exist yet) as load does. */
static int open_build(ctx *c, const char *dir, const bench_data *data)
{
    void *db = NULL;
    int rc = c->eng->open(&db, dir, 1, &c->cfg);
    if (rc == 0)
        rc = c->eng->load(db, data);
    if (rc == 0 && c->eng->settle)
        rc = c->eng->settle(db);
    if (db && c->eng->close(db) != 0)
        rc = BENCH_ERR;
    return rc;
}

/* Runs one measuring child on dir and reads its milliseconds. */
static int open_measure(ctx *c, const char *dir, const bench_data *data, uint64_t i, double *ms)
{
    char n[32], seed[32], idx[32];
    snprintf(n, sizeof n, "%llu", (unsigned long long)data->n);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)data->seed);
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)i);
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "cairn-bench: pipe: %s\n", strerror(errno));
        return BENCH_ERR;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cairn-bench: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return BENCH_ERR;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "cairn-bench", OPEN_CHILD, c->eng->name, dir, n, seed, idx,
              (char *)NULL);
        fprintf(stderr, "cairn-bench: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    char buf[64] = "";
    size_t got = 0;
    for (ssize_t r; got + 1 < sizeof buf && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) != 0;)
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            break;
    buf[got] = 0;
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return BENCH_ERR;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || sscanf(buf, "%lf", ms) != 1)
        return BENCH_ERR;
    return 0;
}

/* open-<size>: a store of `keys` keys (its own, not the loaded one: built in the run's
 * directory, or reused from --open-dir where a finished build is marked by <dir>.done);
 * timed in OPEN_RUNS fresh processes: open, one get of a random key (checked), close. The
 * median in milliseconds; the OS page cache is warm (the files were just written or read). */
static int run_open(ctx *c, uint64_t keys, const char *label, double *out)
{
    char name[96];
    snprintf(name, sizeof name, "%s.open-%s", c->eng->name, label);
    int keep = c->open_dir != NULL;
    char *dir = bench_path(keep ? c->open_dir : c->base, name);
    size_t dlen = dir ? strlen(dir) + sizeof ".done" : 0;
    char *done = dir ? malloc(dlen) : NULL;
    if (!done) {
        free(dir);
        return BENCH_ERR;
    }
    snprintf(done, dlen, "%s.done", dir);
    bench_data data = { c->data->seed, keys };
    struct stat sb;
    int reused = keep && stat(done, &sb) == 0;
    int rc = 0;
    double build = 0;
    if (!reused) {
        remove_tree(dir);
        double t0 = bench_now();
        rc = open_build(c, dir, &data);
        build = bench_now() - t0;
        if (rc == 0 && keep) {
            FILE *f = fopen(done, "w");
            rc = f && fclose(f) == 0 ? 0 : BENCH_ERR;
        }
    }
    double ms[OPEN_RUNS];
    for (unsigned r = 0; rc == 0 && r < OPEN_RUNS; r++) {
        uint64_t i = (uint64_t)c->perm[r % c->data->n] * 7919u % keys;
        rc = open_measure(c, dir, &data, i, &ms[r]);
        if (rc != 0)
            fprintf(stderr, "%s open-%s: the measuring process failed\n", c->eng->name, label);
    }
    if (rc == 0) {
        qsort(ms, OPEN_RUNS, sizeof ms[0], cmp_double);
        *out = ms[OPEN_RUNS / 2];
        if (reused)
            note(c, "median of %u processes (min %.2f, max %.2f ms); store of %llu keys reused "
                 "from %s", OPEN_RUNS, ms[0], ms[OPEN_RUNS - 1], (unsigned long long)keys, dir);
        else
            note(c, "median of %u processes (min %.2f, max %.2f ms); store of %llu keys built in "
                 "%.1f s", OPEN_RUNS, ms[0], ms[OPEN_RUNS - 1], (unsigned long long)keys, build);
    }
    if (!keep)
        remove_tree(dir);
    free(dir);
    free(done);
    return rc;
}

static int run_open100k(ctx *c, double *out) { return run_open(c, 100000, "100k", out); }
static int run_open1m(ctx *c, double *out) { return run_open(c, 1000000, "1M", out); }
static int run_open10m(ctx *c, double *out) { return run_open(c, 10000000, "10M", out); }

/* ---------------------------------------------------------------------------------------------
 * Versions: diff, commit and merge on the loaded table
 * ------------------------------------------------------------------------------------------- */

#define DIFF_SMALL 10         /* keys changed between the commits diff compares */
#define DIFF_LARGE 1000       /* ... and diff1k */
#define MERGE_KEYS 10         /* keys each side of a merge changes */
#define MAX_DRAW DIFF_LARGE
#define VERSION_MIN_SECONDS 1.0 /* a version workload repeats until its timed part took this */
#define VERSION_MIN_ITERS 5     /* ... and it ran at least this often */
#define VERSION_MAX_ITERS 100000
#define VERSION_MAX_WALL 120.0  /* merge: stop repeating (untimed setup included) after this */
#define MAIN_BRANCH "main"

static int has_versions(const bench_engine *e)
{
    return e->vcommit && e->vdiff && e->vbranch && e->vswitch && e->vdelete && e->vmerge;
}

/* Whether a version workload repeats once more, after iters rounds that took secs timed. */
static int again(uint64_t iters, double secs)
{
    return iters < VERSION_MAX_ITERS && (secs < VERSION_MIN_SECONDS || iters < VERSION_MIN_ITERS);
}

/* Updates of distinct keys, drawn by draw_updates(). */
typedef struct draw {
    uint8_t keys[MAX_DRAW][BENCH_KEY_SIZE];
    uint8_t vals[MAX_DRAW][BENCH_VALUE_SIZE];
    uint64_t idx[MAX_DRAW];
    bench_kv ops[MAX_DRAW];
    size_t n;
    uint64_t new_digest; /* sum of bench_value_digest over the new values */
} draw;

/* Draws count updates of distinct keys (at most n / 2 of them), from update c->next_update on. */
static void draw_updates(ctx *c, draw *d, size_t count)
{
    if (count > c->data->n / 2)
        count = (size_t)(c->data->n / 2);
    d->n = 0;
    d->new_digest = 0;
    while (d->n < count) {
        uint64_t i = bench_update(c->data, c->next_update++, d->vals[d->n]);
        int dup = 0;
        for (size_t k = 0; k < d->n && !dup; k++)
            dup = d->idx[k] == i;
        if (dup)
            continue;
        d->idx[d->n] = i;
        bench_key(c->data, i, d->keys[d->n]);
        d->ops[d->n] = (bench_kv){ d->keys[d->n], BENCH_KEY_SIZE, d->vals[d->n],
                                   BENCH_VALUE_SIZE };
        d->new_digest += bench_value_digest(d->vals[d->n], BENCH_VALUE_SIZE);
        d->n++;
    }
}

/* Opens the loaded store for a version workload with a draw buffer. */
static int version_open(ctx *c, void **db, draw **d)
{
    *d = malloc(sizeof **d);
    if (!*d) {
        fprintf(stderr, "cairn-bench: out of memory\n");
        return BENCH_ERR;
    }
    if (c->eng->open(db, c->dir, 0, &c->cfg) != 0) {
        free(*d);
        return BENCH_ERR;
    }
    return 0;
}

static int version_close(ctx *c, void *db, draw *d, int rc)
{
    free(d);
    return c->eng->close(db) != 0 || rc != 0 ? BENCH_ERR : 0;
}

/* Checks a diff's result: want changes whose new values sum to new_digest. */
static int diff_check(ctx *c, uint64_t changed, uint64_t want, uint64_t digest,
                      uint64_t new_digest)
{
    if (changed == want && digest == new_digest)
        return 0;
    fprintf(stderr, "%s diff: %llu changes (want %llu), new values %s\n", c->eng->name,
            (unsigned long long)changed, (unsigned long long)want,
            digest == new_digest ? "right" : "wrong");
    return BENCH_ERR;
}

/* diff, diff1k: commit, change nkeys keys, commit; timed: the diff between the two commits,
 * repeated. Each must report nkeys changes with the new values. */
static int run_diff(ctx *c, size_t nkeys, double *out)
{
    void *db;
    draw *d;
    if (version_open(c, &db, &d) != 0)
        return BENCH_ERR;
    char base[BENCH_VERSION_ID_SIZE], head[BENCH_VERSION_ID_SIZE];
    draw_updates(c, d, nkeys);
    double t0 = bench_now();
    int rc = c->eng->vcommit(db, NULL, 0, base);
    double t1 = bench_now();
    if (rc == 0)
        rc = c->eng->vcommit(db, d->ops, d->n, head);
    double t2 = bench_now();
    uint64_t changed = 0, digest = 0, iters = 0;
    double secs = 0;
    if (rc == 0) {
        timed_start(c);
        do {
            rc = c->eng->vdiff(db, base, head, &changed, &digest);
            if (rc == 0)
                rc = diff_check(c, changed, d->n, digest, d->new_digest);
        } while (rc == 0 && again(++iters, timed_elapsed(c)));
        secs = timed_stop(c);
    }
    rc = version_close(c, db, d, rc);
    if (rc != 0)
        return rc;
    *out = (double)iters / secs;
    note(c, "%llu diffs of %zu changed keys (values read); untimed: committing the base %.3f s, "
         "the change %.3f s", (unsigned long long)iters, (size_t)changed, t1 - t0, t2 - t1);
    return 0;
}

static int run_diff10(ctx *c, double *out) { return run_diff(c, DIFF_SMALL, out); }
static int run_diff1k(ctx *c, double *out) { return run_diff(c, DIFF_LARGE, out); }

/* commit: timed, repeated: COMMIT_KEYS puts of existing keys in one batch and a commit of them.
 * The last commit must differ from its parent by exactly those keys (untimed check). */
#define COMMIT_KEYS 10

static int run_commit(ctx *c, double *out)
{
    void *db;
    draw *d;
    if (version_open(c, &db, &d) != 0)
        return BENCH_ERR;
    char prev[BENCH_VERSION_ID_SIZE], head[BENCH_VERSION_ID_SIZE];
    int rc = c->eng->vcommit(db, NULL, 0, head);
    uint64_t iters = 0;
    double secs = 0;
    if (rc == 0) {
        timed_start(c);
        do {
            draw_updates(c, d, COMMIT_KEYS);
            memcpy(prev, head, sizeof prev);
            rc = c->eng->vcommit(db, d->ops, d->n, head);
        } while (rc == 0 && again(++iters, timed_elapsed(c)));
        secs = timed_stop(c);
    }
    uint64_t changed = 0, digest = 0;
    if (rc == 0 && (rc = c->eng->vdiff(db, prev, head, &changed, &digest)) == 0)
        rc = diff_check(c, changed, d->n, digest, d->new_digest);
    rc = version_close(c, db, d, rc);
    if (rc != 0)
        return rc;
    *out = (double)iters / secs;
    note(c, "%llu commits of %d changed keys each", (unsigned long long)iters, COMMIT_KEYS);
    return 0;
}

/* merge: per round, untimed: branches a and b from one base commit, each with a commit that
 * changes MERGE_KEYS keys (20 distinct keys in all); timed: merging a into b (three-way, with
 * a merge commit); untimed: the merge must differ from the base by all 20 keys, then back to
 * main and both branches deleted. */
static int run_merge(ctx *c, double *out)
{
    void *db;
    draw *d;
    if (version_open(c, &db, &d) != 0)
        return BENCH_ERR;
    char base[BENCH_VERSION_ID_SIZE], id[BENCH_VERSION_ID_SIZE];
    int rc = c->eng->vcommit(db, NULL, 0, base);
    uint64_t iters = 0;
    double secs = 0, setup = 0;
    timed_start(c);
    while (rc == 0 && again(iters, secs) && timed_elapsed(c) < VERSION_MAX_WALL) {
        char a[32], b[32];
        snprintf(a, sizeof a, "bench-a%llu", (unsigned long long)iters);
        snprintf(b, sizeof b, "bench-b%llu", (unsigned long long)iters);
        draw_updates(c, d, 2 * MERGE_KEYS);
        size_t half = d->n / 2;
        double t0 = bench_now();
        if ((rc = c->eng->vbranch(db, a, base)) != 0 ||
            (rc = c->eng->vcommit(db, d->ops, half, id)) != 0 ||
            (rc = c->eng->vbranch(db, b, base)) != 0 ||
            (rc = c->eng->vcommit(db, d->ops + half, d->n - half, id)) != 0)
            break;
        double t1 = bench_now();
        rc = c->eng->vmerge(db, a, id);
        double t2 = bench_now();
        secs += t2 - t1;
        setup += t1 - t0;
        iters++;
        uint64_t changed = 0, digest = 0;
        if (rc == 0 && (rc = c->eng->vdiff(db, base, id, &changed, &digest)) == 0)
            rc = diff_check(c, changed, d->n, digest, d->new_digest);
        if (rc == 0 && (rc = c->eng->vswitch(db, MAIN_BRANCH)) == 0 &&
            (rc = c->eng->vdelete(db, a)) == 0)
            rc = c->eng->vdelete(db, b);
    }
    timed_stop(c);
    rc = version_close(c, db, d, rc);
    if (rc != 0)
        return rc;
    *out = (double)iters / secs;
    note(c, "%llu merges of two branches changing %d keys each; timed: the merges only "
         "(%.3f s); untimed: making the branches and their commits, %.1f ms per round",
         (unsigned long long)iters, MERGE_KEYS, secs, setup * 1e3 / (double)iters);
    return 0;
}

/* In the order they run. A new workload goes here (before the ones that would disturb it),
 * with a method at the end of bench_engine that its supported() checks. */
static const workload all_workloads[] = {
    { "load", "keys/s", VK_RATE, NEEDS_NOTHING, has_load, run_load },
    { "size", "MiB", VK_MIB, NEEDS_LOADED, has_size, run_size },
    { "get", "ops/s", VK_RATE, NEEDS_LOADED, has_get, run_get },
    { "scan", "entries/s", VK_RATE, NEEDS_LOADED, has_scan, run_scan },
    { "proof", "proofs/s", VK_RATE, NEEDS_LOADED, has_proofs, run_proof },
    { "verify", "proofs/s", VK_RATE, NEEDS_LOADED, has_proofs, run_verify },
    { "verifyall", "proofs/s", VK_RATE, NEEDS_LOADED, has_proofs, run_verify_all },
    { "txn", "txns/s", VK_RATE, NEEDS_LOADED, has_txn, run_txn1 },
    { "txn8", "txns/s", VK_RATE, NEEDS_LOADED, has_txn, run_txn8 },
    { "update10", "keys/s", VK_RATE, NEEDS_LOADED, has_txn, run_update10 },
    { "open-100k", "ms", VK_MS, NEEDS_NOTHING, has_open, run_open100k },
    { "open-1M", "ms", VK_MS, NEEDS_NOTHING, has_open, run_open1m },
    { "open-10M", "ms", VK_MS, NEEDS_NOTHING, has_open, run_open10m },
    { "recover", "seconds", VK_SECONDS, NEEDS_NOTHING, has_recover, run_recover },
    { "diff", "diffs/s", VK_RATE, NEEDS_LOADED, has_versions, run_diff10 },
    { "diff1k", "diffs/s", VK_RATE, NEEDS_LOADED, has_versions, run_diff1k },
    { "commit", "commits/s", VK_RATE, NEEDS_LOADED, has_versions, run_commit },
    { "merge", "merges/s", VK_RATE, NEEDS_LOADED, has_versions, run_merge },
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
    uint64_t txns;        /* transactions of txn and txn8 */
    int keep;
    int cold;
    const char *open_dir; /* --open-dir: the open workloads' stores, kept and reused */
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
            "  --txns=N            transactions of txn, and in all of txn8 (default %u)\n"
            "  --repeat=N          run everything N times (engines interleaved) and report\n"
            "                      medians (default 1)\n"
            "  --baseline=ENGINE   the numerator of the RATIO lines (default %s)\n"
            "  --open-dir=PATH     keep the open workloads' stores (100k, 1M, 10M keys) in\n"
            "                      PATH and reuse them in later runs (default: build them in\n"
            "                      the run's directory and remove them)\n"
            "  'open' in --workloads means open-100k,open-1M,open-10M; open-10M runs only\n"
            "  when named\n",
            DEFAULT_N, DEFAULT_SEED, DEFAULT_TXNS, DEFAULT_BASELINE);
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
        if (strcmp(tok, "open") == 0) { /* the three sizes */
            for (size_t i = 0; i < N_WORKLOADS; i++)
                if (strncmp(all_workloads[i].name, "open-", 5) == 0)
                    o->want[i] = any = 1;
            continue;
        }
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
        o->want[i] = all_workloads[i].run != run_open10m; /* 10M keys: only when asked */
    o->n = DEFAULT_N;
    o->seed = DEFAULT_SEED;
    o->baseline = DEFAULT_BASELINE;
    o->repeat = 1;
    o->txns = DEFAULT_TXNS;
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
        else if ((v = opt_value(a, "--txns")))
            rc = parse_u64(v, &o->txns, "--txns");
        else if ((v = opt_value(a, "--repeat")))
            rc = parse_u64(v, &o->repeat, "--repeat");
        else if ((v = opt_value(a, "--cache-mib")))
            rc = parse_u64(v, &o->cache_mib, "--cache-mib");
        else if ((v = opt_value(a, "--dir")))
            o->dir = v;
        else if ((v = opt_value(a, "--baseline")))
            o->baseline = v;
        else if ((v = opt_value(a, "--open-dir")))
            o->open_dir = v;
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
    if (o->txns < 1 || o->txns > UINT32_MAX) {
        fprintf(stderr, "cairn-bench: --txns must be 1..%u\n", UINT32_MAX);
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
    const char *fmt = wl->kind == VK_MIB || wl->kind == VK_MS ? "%.2f"
                      : wl->kind == VK_SECONDS ? "%.3f" : v < SMALL_RATE ? "%.2f" : "%.0f";
    snprintf(buf, cap, fmt, v);
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
            if (e != b && res[w][b].st == ST_OK && res[w][e].st == ST_OK &&
                !(all_workloads[w].run == run_recover && (o->engines[e]->flags & BENCH_NO_LOG)))
                printf("RATIO %s %s/%s %.2f\n", all_workloads[w].name, o->baseline,
                       o->engines[e]->name, res[w][b].value / res[w][e].value);
}

/* How each engine's durable transactions scale from one writer to TXN_THREADS. */
static void print_scaling(const options *o, result res[][MAX_ENGINES])
{
    size_t t1 = 0, t8 = 0;
    for (size_t w = 0; w < N_WORKLOADS; w++) {
        t1 = all_workloads[w].run == run_txn1 ? w : t1;
        t8 = all_workloads[w].run == run_txn8 ? w : t8;
    }
    for (size_t e = 0; e < o->n_engines; e++)
        if (res[t1][e].st == ST_OK && res[t8][e].st == ST_OK)
            printf("SCALE txn8/txn %s %.2f\n", o->engines[e]->name,
                   res[t8][e].value / res[t1][e].value);
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
                human(cell, sizeof cell, r->value, all_workloads[w].kind);
            else
                snprintf(cell, sizeof cell, "%s", r->st == ST_SKIP ? "n/a" : r->st == ST_FAIL
                                                                              ? "FAIL" : "-");
            printf(" %10s", cell);
        }
        printf("\n");
    }
    printf("(rates: higher is better; size: apparent MiB after load, and recover: seconds, "
           "lower is better; RATIO = %s's number / the peer's%s)\n", o->baseline,
           o->repeat > 1 ? "; medians of --repeat runs" : "");
}

/* OTHERS_WARN: CPUs used by other processes during a timed phase above which the number is
 * flagged as taken on a busy machine. */
#define OTHERS_WARN 0.2

static void print_notes(const ctx *c, const workload *wl)
{
    if (c->has_timed) {
        double others = phase_others(&c->timed);
        printf("# %s %s: %.3f s wall, %.3f s CPU in this process and its children; other "
               "processes used %.2f CPUs%s\n", wl->name, c->eng->name, c->timed.wall,
               c->timed.cpu, others,
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
    c->load_rate = 0;
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
        c->next_update = (uint64_t)w << UPDATE_RANGE_SHIFT;
        c->note[0] = 0;
        c->has_timed = 0;
        double v = 0;
        if (wl->run(c, &v) != 0) {
            r->st = ST_FAIL;
            printf("# FAIL %s %s (see stderr)\n", wl->name, c->eng->name);
        } else {
            loaded |= is_loader;
            if (is_loader && (c->eng->flags & BENCH_VERSIONS_ONLY)) {
                /* the data the version workloads need, not a result to compare */
                r->st = ST_SKIP;
                printf("# %s %s: %.0f %s (not a result: %s is a peer for the version "
                       "workloads only)\n", wl->name, c->eng->name, v, wl->unit, c->eng->name);
            } else if (o->want[w] && r->st != ST_FAIL) {
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
    if (argc > 1 && strcmp(argv[1], CRASH_CHILD) == 0)
        return crash_child(argc, argv);
    if (argc > 1 && strcmp(argv[1], OPEN_CHILD) == 0)
        return open_child(argc, argv);
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
    double t0 = bench_now();
    for (uint64_t i = 0; i < o.n; i++) {
        bench_key(&data, i, key);
        bench_value(&data, i, val);
        sink ^= key[0] ^ val[0];
    }
    double gen_ns = (bench_now() - t0) * 1e9 / (double)o.n;
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
    c.txns = o.txns;
    c.open_dir = o.open_dir;
    for (unsigned run = 1; run <= o.repeat; run++)
        for (size_t e = 0; e < o.n_engines; e++)
            run_engine(&o, e, run, base, &c, res);

    finish_results(&o, res);
    print_ratios(&o, res);
    print_scaling(&o, res);
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
