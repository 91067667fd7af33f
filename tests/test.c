/*
 * test.c - the harness behind test.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h" /* the engine's test hooks */
#include "db/db.h"
#include "tree/tree.h"
#include "test.h"

int test_failures;
uint64_t test_seed;
static int case_failed;
static pid_t runner; /* the process that runs the cases: children never clean up */

/* ---- cleanups ---- */

typedef struct cleanup {
    void (*fn)(void *);
    void *arg;
} cleanup;

static cleanup *cleanups; /* the current case's; fn NULL: dropped */
static size_t n_cleanups, cap_cleanups;

int test_defer(void (*fn)(void *), void *arg)
{
    if (n_cleanups == cap_cleanups) {
        size_t cap = cap_cleanups ? 2 * cap_cleanups : 64;
        cleanup *c = realloc(cleanups, cap * sizeof *c);
        if (!c) {
            perror("test_defer");
            exit(2);
        }
        cleanups = c;
        cap_cleanups = cap;
    }
    cleanups[n_cleanups] = (cleanup){ fn, arg };
    return (int)n_cleanups++;
}

void test_undefer(int id)
{
    if (id < 0 || (size_t)id >= n_cleanups) return;
    cleanups[id].fn = NULL;
    while (n_cleanups && !cleanups[n_cleanups - 1].fn) n_cleanups--; /* a loop of open/close */
}

/* Runs the current case's cleanups, the last registered first. */
static void run_cleanups(void)
{
    if (getpid() != runner) return;
    while (n_cleanups) {
        cleanup c = cleanups[--n_cleanups];
        if (c.fn) c.fn(c.arg);
    }
    /* hooks a case may have left set */
    cairn_alloc_fail_after(0);
    cairn_set_log(NULL, NULL);
    cairn_test_point_set(NULL, NULL);
}

static void remove_dir(void *arg)
{
    char *dir = arg;
    if (getenv("CAIRN_TEST_KEEP")) {
        fprintf(stderr, "  kept %s\n", dir);
    } else {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
        else if (case_failed) fprintf(stderr, "  removed %s (CAIRN_TEST_KEEP=1 keeps it)\n", dir);
    }
    free(dir);
}

static void close_db(void *arg)
{
    int rc = (cairn_close)(arg); /* the function, not the macro */
    if (!case_failed && rc != CAIRN_OK)
        fprintf(stderr, "  closing a handle the case left open: %s\n", cairn_error_last()->message);
}

/* Handles are found by address when closed: the newest registration of it. */
static int find_cleanup(void (*fn)(void *), const void *arg)
{
    for (size_t i = n_cleanups; i-- > 0;)
        if (cleanups[i].fn == fn && cleanups[i].arg == arg) return (int)i;
    return -1;
}

int test_open(cairn_db **out, const char *url, const cairn_open_options *opts)
{
    int rc = (cairn_open)(out, url, opts);
    if (rc == CAIRN_OK) test_defer(close_db, *out);
    return rc;
}

int test_open_store(cairn_db **out, cairn_store *store, const cairn_open_options *opts)
{
    int rc = (cairn_open_store)(out, store, opts);
    if (rc == CAIRN_OK) test_defer(close_db, *out);
    return rc;
}

cairn_db *test_open_repo(const char *url) { return test_open_repo_with(url, 0); }

cairn_db *test_open_repo_with(const char *url, size_t memtable_bytes)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.memtable_bytes = memtable_bytes;
    cairn_db *db = NULL;
    if (test_open(&db, url, &o) != CAIRN_OK) {
        fprintf(stderr, "open %s: %s\n", url, cairn_error_last()->message);
        exit(1);
    }
    return db;
}

int test_commit(cairn_db *db, const char *msg, cairn_id *out)
{
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = msg;
    o.author = "Test <test@example.com>";
    return cairn_commit(out, db, &o);
}

int test_close(cairn_db *db)
{
    test_undefer(find_cleanup(close_db, db));
    return (cairn_close)(db);
}

static void kill_child(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    if (waitpid(pid, NULL, WNOHANG) != 0) return; /* reaped by the case, or just ended */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

pid_t test_fork(void)
{
    fflush(NULL); /* buffered output is not written twice */
    pid_t pid = fork();
    if (pid > 0) test_defer(kill_child, (void *)(intptr_t)pid);
    return pid;
}

int test_run_killed(void (*child)(const char *arg, int fd), const char *arg, long delay_us,
                    double *secs, bool *killed)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = test_fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child(arg, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    char go;
    bool started = read(fds[0], &go, 1) == 1;
    if (started && delay_us >= 0) {
        struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    } else if (started && secs && read(fds[0], secs, sizeof *secs) != sizeof *secs) {
        started = false;
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (killed) *killed = WIFSIGNALED(status);
    if (!started) return -1;
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : -1;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (replay with CAIRN_TEST_SEED=%llu)\n", (unsigned long long)test_seed);
    test_failures++;
    case_failed = 1;
}

const char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cairn-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    char *copy = d ? strdup(d) : NULL;
    if (!copy) {
        perror("mkdtemp");
        exit(2);
    }
    test_defer(remove_dir, copy);
    return copy;
}

uint64_t test_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t test_rng(uint64_t salt) { return test_seed * 0x100000001b3ull + salt; }

static void count_warning(cairn_log_level level, const char *message, void *payload)
{
    test_warnings *w = payload; /* NULL: a thread that took the callback as it was reset */
    if (w && level <= CAIRN_LOG_WARN && atomic_fetch_add(&w->n, 1) == 0)
        snprintf(w->first, sizeof w->first, "%s", message);
}

void test_count_warnings(test_warnings *w)
{
    atomic_init(&w->n, 0);
    w->first[0] = '\0';
    cairn_set_log(count_warning, w);
}

int test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Remote stores' disk caches (and CAIRN_CACHE=on) go to a directory of the case's own, removed
 * with it, never to the user's ~/.cache/cairn; unless the run names one (CAIRN_CACHE_DIR). */
static bool cache_dir_given;

static void per_case_cache_dir(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/disk-cache", test_tmpdir());
    setenv("CAIRN_CACHE_DIR", dir, 1);
}

int test_main_fns(int argc, char **argv, void (**fns)(void), size_t n, const char *names)
{
    cache_dir_given = getenv("CAIRN_CACHE_DIR") != NULL;
    const char *env = getenv("CAIRN_TEST_SEED");
    test_seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    runner = getpid();
    atexit(run_cleanups); /* a case that calls exit() */
    const char *p = names;
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\n' && *e != '\t') e++;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
        p = e;
        if (argc > 1 && strcmp(argv[1], name) != 0) continue;
        case_failed = 0;
        cairn_error_clear();
        if (!cache_dir_given) per_case_cache_dir();
        double t0 = (double)clock() / CLOCKS_PER_SEC;
        fns[i]();
        run_cleanups();
        double t1 = (double)clock() / CLOCKS_PER_SEC;
        printf("%s %s (%.2fs)\n", case_failed ? "FAIL" : "ok  ", name, t1 - t0);
        fflush(stdout);
        ran++;
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    if (test_failures) fprintf(stderr, "%d check(s) failed (seed %llu)\n", test_failures,
                               (unsigned long long)test_seed);
    return test_failures ? 1 : 0;
}

int test_env_file_get(const char *path, const char *key, char *out, size_t n)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    char line[2048];
    size_t kl = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            snprintf(out, n, "%s", line + kl + 1);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

int test_leaf_of(cairn_db *db, const char *table, const char *key, cairn_id *out)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, table, 0));
    cairn_id root;
    int rc = cairn_table_root(&root, t, NULL);
    cairn_table_close(t);
    chunk *leaf = NULL;
    const uint8_t *v;
    size_t vl;
    if (rc == CAIRN_OK) rc = tree_get(&db->r.cs, &root, key, strlen(key), &leaf, &v, &vl);
    if (rc == CAIRN_OK) *out = leaf->id;
    chunk_release(leaf);
    return rc;
}
