/*
 * remotebench.c - cairn-remotebench: moving a repository to and from S3 (a local radosgw) with
 * cairn push and clone, side by side with rclone (the raw transfer of the repository's files)
 * and restic (a backup of the same rows as one TSV file), all against the same server in one
 * run.
 *
 *   cairn-remotebench [--keys=N] [--seed=S] [--dir=DIR] [--script=scripts/ceph-up.sh] [--keep]
 *                     [--only=cairn] [--ceph=DIR] [--s3-params=&pack_size=4m...]
 *
 * It starts a throwaway Ceph cluster with radosgw (`SCRIPT up DIR/ceph`, stopped at exit, also
 * when a step fails or on SIGINT/SIGTERM), makes a local repository with N keys (16 random
 * bytes) and values (100 random bytes) in table "bench" (data.c, the keys of cairn-bench) and
 * one commit, then times (--ceph=DIR: use a cluster `SCRIPT up DIR` started, left running;
 * every run writes below its own prefix, so runs never find each other's data):
 *
 *   push    cairn: cairn_push of the branch to s3://cairn-bench/repo (a remote added first);
 *           rclone: `rclone copy` of the repository directory to bucket rclone-bench (a config
 *           written on the fly: provider Ceph); restic: `restic backup` of the rows as a TSV
 *           file (hex key TAB hex value) into a restic repository in bucket restic-bench
 *   clone   cairn: cairn_clone of the s3 URL into a new local directory; rclone: `rclone copy`
 *           back into a new directory; restic: `restic restore latest`
 *   push1   a second commit changing 10 keys, pushed; restic: a second backup of the TSV with
 *           the same 10 rows changed. The bytes the server received (and its requests).
 *
 * Every cairn step (making the repository, push, clone) runs in a forked child of a parent that
 * never opens a repository itself, so the parent stays a few MiB and each child's peak resident
 * set (wait4's ru_maxrss) is the step's own: printed as `BENCH pushrss cairn <MiB>` and
 * `BENCH clonerss cairn <MiB>` (issue 11: under 256 MiB at 1M keys, and not growing with the
 * repository: run --keys=1000000 and --keys=4000000). A child forked from a large parent would
 * count the parent's pages it shares, and exec would not help (Linux carries the old image's
 * peak into ru_maxrss); the `inherited` figure beside each line is the child's RSS at its start.
 *
 * MB/s is the bytes of the engine's input (the repository directory for cairn and rclone, the
 * TSV file for restic: in hex, twice the rows' raw size, so restic's MB/s counts more bytes for
 * the same rows) over the wall time of the command. The MB/s ratio against restic therefore
 * compares different byte counts for the same rows; the same-data comparison is the wall time
 * each engine took to move the same rows, printed beside it as `BENCH push-secs <engine> <s>`
 * and `BENCH clone-secs <engine> <s>` (cairn, rclone, restic), with `RATIO push-secs
 * restic/cairn <x>` and `RATIO clone-secs restic/cairn <x>` (restic's seconds over cairn's:
 * above 1, cairn was faster). Requests and bytes are radosgw's own
 * counters (its admin socket's perf dump: rgw.req, put_b, get_b), taken before and after each
 * step, so every engine is counted the same way. Prints `BENCH <workload> <engine> <value>` and
 * `RATIO <workload> cairn/<engine> <x>` lines (for push1: restic's bytes over cairn's, so more
 * than 1 means cairn sent less).
 *
 * Needs the Debian packages ceph-mon ceph-osd radosgw ceph-common rclone restic
 * (scripts/install-deps.sh --bench).
 */
#include "bench.h"

#include <cairn.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PUSH1_KEYS 10
#define AUTHOR "cairn-remotebench <bench@localhost>"

static char work[1024];        /* DIR */
static char ceph_dir[1200];    /* DIR/ceph */
static char script[1024] = "scripts/ceph-up.sh";
static volatile sig_atomic_t ceph_started;
static bool keep;
static bool own_cluster = true;
static char tag[64];           /* this run's object prefix: "r<pid>" */
static char url_extra[256];    /* --s3-params: appended to the s3 URL ("&pack_size=4m") */
static char push_cache[1100], clone_cache[1100]; /* the disk caches of pushes and of clones */

/* S3 settings from DIR/ceph/s3.env */
static char endpoint[256], access_key[128], secret_key[128];

#define die(...) bench_die("cairn-remotebench", __VA_ARGS__)

static void die_cairn(const char *what, int rc)
{
    die("%s: %s (%s)", what, cairn_error_last()->message, cairn_strerror(rc));
}

/* Runs a shell command; its output goes to stderr (stdout keeps only the results). */
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "( %s ) >&2", cmd);
    int st = system(full);
    if (st != 0) die("command failed (status %d): %s", st, cmd);
}

/* ---- the cluster ---- */

static void ceph_down(void)
{
    if (!ceph_started) return;
    ceph_started = 0;
    if (keep) {
        fprintf(stderr, "cairn-remotebench: --keep: the cluster runs on; stop it with: "
                        "%s down %s\n",
                script, ceph_dir);
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s down %s >&2", script, ceph_dir);
    if (system(cmd) != 0) fprintf(stderr, "cairn-remotebench: stopping the cluster failed\n");
}

static void on_signal(int sig)
{
    /* stop the daemons by their pid files, then die of the same signal */
    if (ceph_started) {
        pid_t p = fork();
        if (p == 0) {
            execl(script, script, "down", ceph_dir, (char *)NULL);
            _exit(127);
        }
        if (p > 0) waitpid(p, NULL, 0);
        ceph_started = 0;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void env_value(const char *text, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(out, size, "%.*s", (int)strcspn(p + n + 1, "\n"), p + n + 1);
            return;
        }
    die("%s/s3.env has no %s", ceph_dir, name);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) b = realloc(b, (cap *= 2) + 1);
    }
    fclose(f);
    if (!b) die("out of memory");
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

static void ceph_up(void)
{
    if (!own_cluster) goto env;
    atexit(ceph_down);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ceph_started = 1; /* from here on, down runs at exit (it only stops what its pid files name) */
    /* room in RAM (memstore) for the four copies this run keeps: cairn's, rclone's, restic's */
    sh("CEPH_MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-%llu} %s up %s", 8ull << 30, script, ceph_dir);
env:;
    char path[1300];
    snprintf(path, sizeof path, "%s/s3.env", ceph_dir);
    char *env = read_all(path, NULL);
    if (!env) die("no %s after starting the cluster", path);
    env_value(env, "S3_ENDPOINT", endpoint, sizeof endpoint);
    env_value(env, "S3_ACCESS_KEY", access_key, sizeof access_key);
    env_value(env, "S3_SECRET_KEY", secret_key, sizeof secret_key);
    free(env);
    setenv("AWS_ACCESS_KEY_ID", access_key, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret_key, 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    /* the endpoint is plain http; rclone (the AWS SDK for Go) fails outright when this names a
     * CA bundle while it uses its own HTTP transport */
    unsetenv("AWS_CA_BUNDLE");
}

/* radosgw's counters (perf dump through its admin socket). */
typedef struct rgw_counters {
    uint64_t req, put_b, get_b;
} rgw_counters;

static uint64_t json_u64(const char *from, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(from, pat);
    if (!p) die("radosgw's perf dump has no %s", name);
    return strtoull(p + strlen(pat), NULL, 10);
}

static rgw_counters rgw_now(void)
{
    char cmd[4096], out[1300];
    snprintf(out, sizeof out, "%s/perf.json", work);
    snprintf(cmd, sizeof cmd,
             "CEPH_CONF=%s/ceph.conf ceph --admin-daemon %s/run/client.rgw.a.asok perf dump >%s",
             ceph_dir, ceph_dir, out);
    if (system(cmd) != 0) die("reading radosgw's counters failed: %s", cmd);
    char *j = read_all(out, NULL);
    if (!j) die("no %s", out);
    const char *rgw = strstr(j, "\"rgw\":");
    if (!rgw) die("radosgw's perf dump has no rgw section");
    rgw_counters c = { json_u64(rgw, "req"), json_u64(rgw, "put_b"), json_u64(rgw, "get_b") };
    free(j);
    return c;
}

/* ---- files ---- */

static uint64_t tree_bytes_sum;
static uint64_t tree_files;

static int add_size(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)path;
    (void)f;
    if (type == FTW_F) {
        tree_bytes_sum += (uint64_t)st->st_size;
        tree_files++;
    }
    return 0;
}

/* Bytes of the regular files below dir. */
static uint64_t tree_bytes(const char *dir, uint64_t *files)
{
    tree_bytes_sum = 0;
    tree_files = 0;
    if (nftw(dir, add_size, 32, FTW_PHYS) != 0) die("cannot walk %s: %s", dir, strerror(errno));
    if (files) *files = tree_files;
    return tree_bytes_sum;
}

/* The rows as a TSV file: hex key, TAB, hex value; rows listed in `changed` (indexes into the
 * keys, sorted) get their update value u instead. */
static uint64_t write_tsv(const char *path, const bench_data *d, const uint64_t *changed,
                          size_t nchanged)
{
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s: %s", path, strerror(errno));
    static char line[2 * (BENCH_KEY_SIZE + BENCH_VALUE_SIZE) + 4];
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < d->n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(d, i, k);
        bench_value(d, i, v);
        for (size_t c = 0; c < nchanged; c++)
            if (changed[c] == i) bench_update(d, c, v);
        bench_hex(line, k, sizeof k);
        line[2 * BENCH_KEY_SIZE] = '\t';
        bench_hex(line + 2 * BENCH_KEY_SIZE + 1, v, sizeof v);
        size_t n = 2 * BENCH_KEY_SIZE + 1 + 2 * BENCH_VALUE_SIZE;
        line[n++] = '\n';
        if (fwrite(line, 1, n, f) != n) die("writing %s: %s", path, strerror(errno));
        bytes += n;
    }
    if (fclose(f) != 0) die("writing %s: %s", path, strerror(errno));
    return bytes;
}

/* ---- cairn steps, each in a child process ---- */

/* What a child hands back through its pipe. */
typedef struct child_result {
    double secs;              /* the step's wall time, measured in the child */
    cairn_transfer_stats ts;
    uint64_t inherited_kib;   /* the child's RSS when it started (pages shared with the parent) */
} child_result;

/* The resident set of this process now, in KiB (VmRSS of /proc/self/status; 0 if unknown). */
static uint64_t rss_now_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtoull(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

/* Runs step(arg, out) in a forked child and waits for it: *out is what the child filled in,
 * *out_maxrss_kib its peak resident set (wait4's ru_maxrss). cache, when not NULL, is the disk
 * cache directory the child's s3 store uses (CAIRN_CACHE_DIR), emptied first. A child that
 * fails has said why on stderr (die); the parent then dies too. The child leaves the cluster to
 * the parent. */
static void in_child(const char *what, const char *cache,
                     void (*step)(void *arg, child_result *out), void *arg, child_result *out,
                     uint64_t *out_maxrss_kib)
{
    int fd[2];
    if (pipe(fd) != 0) die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        ceph_started = 0; /* the parent stops the cluster, at its own exit */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(fd[0]);
        child_result r;
        memset(&r, 0, sizeof r);
        r.inherited_kib = rss_now_kib();
        if (cache) { /* emptied first: a clone reads s3, not what the push left in a cache */
            sh("rm -rf %s", cache);
            setenv("CAIRN_CACHE_DIR", cache, 1);
        }
        step(arg, &r);
        fflush(NULL);
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    memset(out, 0, sizeof *out);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t n = read(fd[0], (char *)out + got, sizeof *out - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) die("wait4 (%s): %s", what, strerror(errno));
    if (WIFSIGNALED(st)) die("%s: its child process died of signal %d", what, WTERMSIG(st));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != sizeof *out)
        die("%s failed in its child process (exit status %d; its message is above)", what,
            WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    *out_maxrss_kib = (uint64_t)ru.ru_maxrss; /* Linux: KiB */
}

static void report_rss(const char *workload, uint64_t maxrss_kib, const child_result *r)
{
    printf("BENCH %s cairn %.1f   (MiB, peak RSS of the child process; %.1f MiB of it inherited "
           "at fork)\n",
           workload, (double)maxrss_kib / 1024.0, (double)r->inherited_kib / 1024.0);
    fflush(stdout);
}

/* ---- cairn ---- */

/* Writes a commit to the repository at dir: with changed NULL, a new repository with keys
 * 0..n-1 in table "bench"; else keys changed[0..nchanged) set to their update values. */
static void cairn_write(const char *dir, const bench_data *d, const uint64_t *changed,
                        size_t nchanged)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    if (!changed) o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db = NULL;
    cairn_table *t = NULL;
    cairn_batch *b = NULL;
    int rc;
    if ((rc = cairn_open(&db, dir, &o)) ||
        (rc = cairn_table_open(&t, db, "bench", changed ? 0 : CAIRN_TABLE_CREATE)) ||
        (rc = cairn_batch_new(&b, db)))
        die_cairn(dir, rc);
    uint64_t n = changed ? nchanged : d->n;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
        bench_key(d, changed ? changed[i] : i, k);
        if (changed) bench_update(d, i, v);
        else bench_value(d, i, v);
        if ((rc = cairn_batch_put(b, t, k, sizeof k, v, sizeof v))) die_cairn("put", rc);
    }
    if ((rc = cairn_batch_commit(b))) die_cairn("batch commit", rc);
    cairn_batch_free(b);
    cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
    co.message = changed ? "ten keys" : "load";
    co.author = AUTHOR;
    cairn_id id;
    if ((rc = cairn_commit(&id, db, &co))) die_cairn("commit", rc);
    cairn_table_close(t);
    if ((rc = cairn_close(db))) die_cairn("close", rc);
}

static cairn_transfer_stats cairn_push_dir(const char *dir, const char *url, bool add_remote)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_db *db = NULL;
    int rc;
    if ((rc = cairn_open(&db, dir, &o))) die_cairn(dir, rc);
    if (add_remote && (rc = cairn_remote_add(db, "bench", url))) die_cairn("remote add", rc);
    cairn_transfer_stats ts;
    if ((rc = cairn_push(&ts, db, "bench", NULL, NULL))) die_cairn("push", rc);
    if ((rc = cairn_close(db))) die_cairn("close", rc);
    return ts;
}

/* Checks that key i reads back as its value (or update u) in the repository at dir. */
static void cairn_check(const char *dir, const bench_data *d, uint64_t i, int u)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    cairn_db *db = NULL;
    cairn_table *t = NULL;
    int rc;
    if ((rc = cairn_open(&db, dir, &o)) || (rc = cairn_table_open(&t, db, "bench", 0)))
        die_cairn(dir, rc);
    uint8_t k[BENCH_KEY_SIZE], v[BENCH_VALUE_SIZE];
    bench_key(d, i, k);
    if (u < 0) bench_value(d, i, v);
    else bench_update(d, (uint64_t)u, v);
    void *got = NULL;
    size_t len = 0;
    if ((rc = cairn_get(&got, &len, t, NULL, k, sizeof k))) die_cairn("get from the clone", rc);
    if (len != sizeof v || memcmp(got, v, len) != 0) die("%s: key %llu has the wrong value", dir,
                                                         (unsigned long long)i);
    cairn_free(got);
    cairn_table_close(t);
    cairn_close(db);
}

/* ---- results ---- */

typedef struct result {
    double secs;
    uint64_t bytes;          /* the input moved */
    rgw_counters delta;
} result;

static rgw_counters diff(rgw_counters a, rgw_counters b)
{
    return (rgw_counters){ b.req - a.req, b.put_b - a.put_b, b.get_b - a.get_b };
}

static double mbs(const result *r) { return (double)r->bytes / 1e6 / r->secs; }

static void report(const char *workload, const char *engine, const result *r)
{
    printf("BENCH %s %s %.1f   (%.1f MB in %.2f s; %llu requests, %.1f MB up, %.1f MB down)\n",
           workload, engine, mbs(r), (double)r->bytes / 1e6, r->secs,
           (unsigned long long)r->delta.req, (double)r->delta.put_b / 1e6,
           (double)r->delta.get_b / 1e6);
    fflush(stdout);
}

static void ratio(const char *workload, const char *engine, double x)
{
    printf("RATIO %s cairn/%s %.2f\n", workload, engine, x);
}

/* The same-data comparison: the seconds each engine took to move the same rows (`RATIO
 * <workload>-secs restic/cairn`: above 1, cairn was faster). */
static void report_secs(const char *workload, const result *cairn, const result *rclone,
                        const result *restic)
{
    printf("BENCH %s-secs cairn %.2f\n", workload, cairn->secs);
    printf("BENCH %s-secs rclone %.2f\n", workload, rclone->secs);
    printf("BENCH %s-secs restic %.2f\n", workload, restic->secs);
    printf("RATIO %s-secs restic/cairn %.2f   (seconds for the same rows: above 1, cairn was "
           "faster)\n",
           workload, restic->secs / cairn->secs);
    fflush(stdout);
}

/* The steps the children run (in_child). */
typedef struct step_arg {
    const char *dir, *url;
    const bench_data *d;
    const uint64_t *changed;
    size_t nchanged;
    bool add_remote;
} step_arg;

static void step_write(void *arg, child_result *out)
{
    step_arg *a = arg;
    double t0 = bench_now();
    cairn_write(a->dir, a->d, a->changed, a->nchanged);
    out->secs = bench_now() - t0;
}

/* Makes the repository at the s3 URL, as `cairn init URL` does. */
static void step_init(void *arg, child_result *out)
{
    step_arg *a = arg;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db = NULL;
    int rc = cairn_open(&db, a->url, &o);
    if (rc) die_cairn(a->url, rc);
    if ((rc = cairn_close(db))) die_cairn(a->url, rc);
    (void)out;
}

static void step_push(void *arg, child_result *out)
{
    step_arg *a = arg;
    double t0 = bench_now();
    out->ts = cairn_push_dir(a->dir, a->url, a->add_remote);
    out->secs = bench_now() - t0;
}

/* Clones url into dir (timed), then checks key `changed[0]` there (update 0 when nchanged) or,
 * without changed, key n/2. */
static void step_clone(void *arg, child_result *out)
{
    step_arg *a = arg;
    double t0 = bench_now();
    int rc = cairn_clone(&out->ts, a->url, a->dir, NULL);
    if (rc) die_cairn("clone", rc);
    out->secs = bench_now() - t0;
    if (a->changed) cairn_check(a->dir, a->d, a->changed[0], 0);
    else cairn_check(a->dir, a->d, a->d->n / 2, -1);
}

/* Clones url into dir in a child, timed and reported with its peak RSS, and checks a key. */
static result cairn_clone_timed(const char *url, const char *dir, const bench_data *d,
                                uint64_t repo_bytes)
{
    step_arg a = { .dir = dir, .url = url, .d = d };
    child_result cr;
    uint64_t rss;
    result r = { 0 };
    rgw_counters c0 = rgw_now();
    in_child("clone", clone_cache, step_clone, &a, &cr, &rss);
    r.secs = cr.secs;
    r.bytes = repo_bytes;
    r.delta = diff(c0, rgw_now());
    report("clone", "cairn", &r);
    report_rss("clonerss", rss, &cr);
    return r;
}

int main(int argc, char **argv)
{
    bench_data d = { 42, 1000000 };
    bool only_cairn = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--keys=", 7) == 0) d.n = strtoull(argv[i] + 7, NULL, 10);
        else if (strncmp(argv[i], "--seed=", 7) == 0) d.seed = strtoull(argv[i] + 7, NULL, 10);
        else if (strncmp(argv[i], "--dir=", 6) == 0) snprintf(work, sizeof work, "%s", argv[i] + 6);
        else if (strncmp(argv[i], "--script=", 9) == 0)
            snprintf(script, sizeof script, "%s", argv[i] + 9);
        else if (strcmp(argv[i], "--keep") == 0) keep = true;
        else if (strcmp(argv[i], "--only=cairn") == 0) only_cairn = true;
        else if (strncmp(argv[i], "--s3-params=", 12) == 0)
            snprintf(url_extra, sizeof url_extra, "%s", argv[i] + 12);
        else if (strncmp(argv[i], "--ceph=", 7) == 0) {
            snprintf(ceph_dir, sizeof ceph_dir, "%s", argv[i] + 7);
            own_cluster = false;
        }
        else die("usage: cairn-remotebench [--keys=N] [--seed=S] [--dir=DIR] "
                 "[--script=scripts/ceph-up.sh] [--keep] [--only=cairn] [--ceph=DIR] "
                 "[--s3-params=&NAME=VALUE...]");
    }
    if (d.n < PUSH1_KEYS) die("--keys must be at least %d", PUSH1_KEYS);
    if (script[0] != '/') { /* the signal handler runs it by path: make it absolute */
        char *abs = realpath(script, NULL);
        if (!abs)
            die("%s: %s (run from the source tree or pass --script)", script, strerror(errno));
        snprintf(script, sizeof script, "%s", abs);
        free(abs);
    }
    if (access(script, X_OK) != 0) die("%s: not found (run from the source tree or pass --script)",
                                       script);
    if (!work[0]) snprintf(work, sizeof work, "/tmp/cairn-remotebench.%ld", (long)getpid());
    sh("rm -rf %s/repo %s/clone %s/rclone-back %s/restic-back %s/tsv %s/restic-cache && "
       "mkdir -p %s/tsv", work, work, work, work, work, work, work);
    if (own_cluster) snprintf(ceph_dir, sizeof ceph_dir, "%s/ceph", work);
    snprintf(tag, sizeof tag, "r%ld", (long)getpid());
    char repo[1300], clone[1300], rback[1300], tsv[1300], rconf[1300], resback[1300];
    snprintf(repo, sizeof repo, "%s/repo", work);
    snprintf(clone, sizeof clone, "%s/clone", work);
    snprintf(rback, sizeof rback, "%s/rclone-back", work);
    snprintf(resback, sizeof resback, "%s/restic-back", work);
    snprintf(tsv, sizeof tsv, "%s/tsv/rows.tsv", work);
    snprintf(rconf, sizeof rconf, "%s/rclone.conf", work);
    snprintf(push_cache, sizeof push_cache, "%s/cache-push", work);
    snprintf(clone_cache, sizeof clone_cache, "%s/cache-clone", work);

    ceph_up();
    char url[1024];
    snprintf(url, sizeof url, "s3://cairn-bench/%s?endpoint=%s&region=us-east-1%s", tag, endpoint,
             url_extra);

    /* the data: a local repository and the same rows as a TSV file */
    step_arg wa = { .dir = repo, .d = &d };
    child_result wr;
    uint64_t write_rss;
    in_child("making the repository", NULL, step_write, &wa, &wr, &write_rss);
    uint64_t files = 0, repo_bytes = tree_bytes(repo, &files);
    printf("# cairn-remotebench: %llu keys of %d bytes, values of %d bytes, seed %llu; "
           "repository %.1f MB in %llu files (made in %.1f s); radosgw at %s\n",
           (unsigned long long)d.n, BENCH_KEY_SIZE, BENCH_VALUE_SIZE,
           (unsigned long long)d.seed, (double)repo_bytes / 1e6, (unsigned long long)files,
           wr.secs, endpoint);
    uint64_t tsv_bytes = only_cairn ? 0 : write_tsv(tsv, &d, NULL, 0);
    fflush(stdout);

    /* push (into a repository made first, as `cairn init URL` does) */
    step_arg pa = { .dir = repo, .url = url, .d = &d, .add_remote = true };
    child_result pr;
    uint64_t push_rss;
    in_child("cairn init of the s3 repository", push_cache, step_init, &pa, &pr, &push_rss);
    result cp = { 0 }, rp = { 0 }, sp = { 0 };
    rgw_counters c0 = rgw_now();
    double t0;
    in_child("push", push_cache, step_push, &pa, &pr, &push_rss);
    cairn_transfer_stats ts = pr.ts;
    cp.secs = pr.secs;
    cp.bytes = repo_bytes;
    cp.delta = diff(c0, rgw_now());
    report("push", "cairn", &cp);
    report_rss("pushrss", push_rss, &pr);
    printf("#   cairn's remote: %s\n", url);
    printf("#   cairn push: %llu chunks (%.1f MB of frames), %llu store calls (has %llu, get %llu, "
           "put %llu, flush %llu)\n",
           (unsigned long long)ts.chunks, (double)ts.bytes / 1e6, (unsigned long long)ts.requests,
           (unsigned long long)ts.has_calls, (unsigned long long)ts.get_calls,
           (unsigned long long)ts.put_calls, (unsigned long long)ts.flushes);

    if (!only_cairn) {
        FILE *f = fopen(rconf, "w");
        if (!f) die("cannot write %s", rconf);
        fprintf(f, "[rgw]\ntype = s3\nprovider = Ceph\naccess_key_id = %s\nsecret_access_key = %s\n"
                   "endpoint = %s\nregion = us-east-1\n", access_key, secret_key, endpoint);
        fclose(f);
        uint64_t rclone_bytes = tree_bytes(repo, NULL); /* (the push added a tracking ref) */
        c0 = rgw_now();
        t0 = bench_now();
        sh("rclone --config %s copy %s rgw:rclone-bench/%s", rconf, repo, tag);
        rp.secs = bench_now() - t0;
        rp.bytes = repo_bytes;
        rp.delta = diff(c0, rgw_now());
        report("push", "rclone", &rp);

        char renv[3000];
        snprintf(renv, sizeof renv,
                 "RESTIC_REPOSITORY=s3:%s/restic-bench/%s RESTIC_PASSWORD=cairn-remotebench "
                 "RESTIC_CACHE_DIR=%s/restic-cache",
                 endpoint, tag, work);
        sh("%s restic init -q", renv);
        c0 = rgw_now();
        t0 = bench_now();
        sh("%s restic backup -q %s", renv, tsv);
        sp.secs = bench_now() - t0;
        sp.bytes = tsv_bytes;
        sp.delta = diff(c0, rgw_now());
        report("push", "restic", &sp);
        ratio("push", "rclone", mbs(&cp) / mbs(&rp));
        ratio("push", "restic", mbs(&cp) / mbs(&sp));
        report_secs("push", &cp, &rp, &sp);

        /* clone */
        result cc = cairn_clone_timed(url, clone, &d, repo_bytes), rc = { 0 }, sc = { 0 };

        c0 = rgw_now();
        t0 = bench_now();
        sh("rclone --config %s copy rgw:rclone-bench/%s %s", rconf, tag, rback);
        rc.secs = bench_now() - t0;
        rc.bytes = repo_bytes;
        rc.delta = diff(c0, rgw_now());
        report("clone", "rclone", &rc);
        if (tree_bytes(rback, NULL) != rclone_bytes) die("rclone's copy back differs in size");

        c0 = rgw_now();
        t0 = bench_now();
        sh("%s restic restore -q latest --target %s", renv, resback);
        sc.secs = bench_now() - t0;
        sc.bytes = tsv_bytes;
        sc.delta = diff(c0, rgw_now());
        report("clone", "restic", &sc);
        if (tree_bytes(resback, NULL) != tsv_bytes) die("restic's restore differs in size");
        ratio("clone", "rclone", mbs(&cc) / mbs(&rc));
        ratio("clone", "restic", mbs(&cc) / mbs(&sc));
        report_secs("clone", &cc, &rc, &sc);

        /* push1: ten keys changed */
        uint64_t changed[PUSH1_KEYS];
        for (size_t c = 0; c < PUSH1_KEYS; c++) /* spread over the key space */
            changed[c] = (c * 7919 + 13) * (d.n / PUSH1_KEYS) % d.n;
        step_arg ca = { .dir = repo, .url = url, .d = &d, .changed = changed,
                        .nchanged = PUSH1_KEYS };
        in_child("the ten-key commit", NULL, step_write, &ca, &wr, &write_rss);
        c0 = rgw_now();
        in_child("push1", push_cache, step_push, &ca, &pr, &push_rss);
        ts = pr.ts;
        double secs = pr.secs;
        rgw_counters cd = diff(c0, rgw_now());
        printf("BENCH push1 cairn %llu   (bytes received by the server; %llu requests, %.3f s; "
               "%llu chunks, %llu store calls)\n",
               (unsigned long long)cd.put_b, (unsigned long long)cd.req, secs,
               (unsigned long long)ts.chunks, (unsigned long long)ts.requests);
        write_tsv(tsv, &d, changed, PUSH1_KEYS);
        c0 = rgw_now();
        t0 = bench_now();
        sh("%s restic backup -q %s", renv, tsv);
        secs = bench_now() - t0;
        rgw_counters sd = diff(c0, rgw_now());
        printf("BENCH push1 restic %llu   (bytes received by the server; %llu requests, %.3f s)\n",
               (unsigned long long)sd.put_b, (unsigned long long)sd.req, secs);
        printf("RATIO push1 restic/cairn %.2f   (bytes: above 1, cairn sent less)\n",
               cd.put_b ? (double)sd.put_b / (double)cd.put_b : 0.0);
        /* the change arrived */
        sh("rm -rf %s", clone);
        step_arg ka = { .dir = clone, .url = url, .d = &d, .changed = changed,
                        .nchanged = 1 };
        in_child("clone after push1", clone_cache, step_clone, &ka, &pr, &push_rss);
    } else {
        cairn_clone_timed(url, clone, &d, repo_bytes);
    }
    fflush(stdout);
    if (!keep) sh("rm -rf %s/repo %s/clone %s/rclone-back %s/restic-back %s/tsv %s/restic-cache "
                  "%s %s", work, work, work, work, work, work, push_cache, clone_cache);
    return 0;
}
