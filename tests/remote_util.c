/*
 * remote_util.c - see remote_util.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cairn/sys/store.h"
#include "remote_util.h"
#include "store/store.h"
#include "test.h"

#define S3_BUCKET "cairn-test"

static char s3_endpoint[256], ceph_dir[1024], pg_conninfo[1024];
static int url_serial;

bool ru_s3_ready(void)
{
    const char *env = getenv("CAIRN_S3_ENV");
    char akey[128], skey[128];
    if (!env || !test_env_file_get(env, "S3_ENDPOINT", s3_endpoint, sizeof s3_endpoint) ||
        !test_env_file_get(env, "S3_ACCESS_KEY", akey, sizeof akey) ||
        !test_env_file_get(env, "S3_SECRET_KEY", skey, sizeof skey))
        return false;
    test_env_file_get(env, "CEPH_DIR", ceph_dir, sizeof ceph_dir);
    setenv("AWS_ACCESS_KEY_ID", akey, 1);
    setenv("AWS_SECRET_ACCESS_KEY", skey, 1);
    unsetenv("AWS_SESSION_TOKEN");
    return true;
}

bool ru_pg_ready(void)
{
    const char *st = getenv("CAIRN_PG_STATE");
    return st && test_env_file_get(st, "conninfo", pg_conninfo, sizeof pg_conninfo);
}

const char *ru_fixture(const char *what)
{
    if (strcmp(what, "endpoint") == 0) return s3_endpoint;
    if (strcmp(what, "ceph_dir") == 0) return ceph_dir;
    if (strcmp(what, "pg_state") == 0) return getenv("CAIRN_PG_STATE");
    return NULL;
}

void ru_url(char *out, size_t n, const char *kind, const char *tag)
{
    int serial = url_serial++;
    if (strcmp(kind, "s3") == 0)
        snprintf(out, n, "s3://" S3_BUCKET "/%s-%d-%llx-%d?endpoint=%s&timeout_ms=20000", tag,
                 (int)getpid(), (unsigned long long)test_seed, serial, s3_endpoint);
    else
        snprintf(out, n, "pg:%s table_prefix=%s_%d_%d_", pg_conninfo, tag, (int)getpid(), serial);
}

int ru_env_rounds(const char *name, int dflt)
{
    const char *e = getenv(name);
    return e && atoi(e) > 0 ? atoi(e) : dflt;
}

int ru_fill(cairn_db *db, const char *table, int from, int to, const char *tag)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    cairn_batch *b;
    int rc = cairn_batch_new(&b, db);
    for (int i = from; rc == CAIRN_OK && i < to; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "key%08d", i);
        int vl = snprintf(v, sizeof v, "%s-value-%d", tag, i * 7);
        rc = cairn_batch_put(b, t, k, strlen(k), v, (size_t)vl);
    }
    if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    return rc;
}

int ru_count(cairn_db *db, const char *table, const char *rev, uint64_t *out)
{
    cairn_snapshot *snap;
    TRY(cairn_snapshot_open_at(&snap, db, rev));
    cairn_table *t;
    int rc = cairn_table_open(&t, db, table, 0);
    if (rc == CAIRN_OK) {
        rc = cairn_count(out, t, snap, NULL);
        cairn_table_close(t);
    }
    cairn_snapshot_close(snap);
    return rc;
}

int ru_verify_clean(const char *url)
{
    /* the store itself, never the copies a disk cache holds (as `cairn verify` opens it): a
     * chunk missing from the store but cached would pass otherwise */
    cairn_store *store;
    TRY(store_open_url_uncached(&store, url, 0, 0));
    cairn_db *db;
    TRY(cairn_open_store(&db, store, NULL));
    cairn_verify_stats st;
    int rc = cairn_verify(&st, db, NULL);
    if (rc == CAIRN_OK && st.problems) rc = ERR(CAIRN_ECORRUPT, "verify: %llu problems",
                                                (unsigned long long)st.problems);
    cairn_close(db);
    return rc;
}

int ru_resolve(const char *url, const char *rev, cairn_id *out)
{
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    TRY(cairn_open(&db, url, &o));
    int rc = cairn_resolve(out, db, rev);
    cairn_close(db);
    return rc;
}

bool ru_id_eq(const cairn_id *a, const cairn_id *b) { return memcmp(a->bytes, b->bytes, 32) == 0; }

static _Noreturn void child_run(int (*fn)(const char *), const char *arg)
{
    int rc = fn(arg);
    if (rc != CAIRN_OK) fprintf(stderr, "child: %s\n", cairn_error_last()->message);
    _exit(rc == CAIRN_OK ? 0 : 3);
}

bool ru_run_and_kill(int (*fn)(const char *), const char *arg, double delay, int *out_status)
{
    pid_t pid = test_fork();
    if (pid == 0) child_run(fn, arg);
    struct timespec ts = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    *out_status = status;
    return WIFSIGNALED(status);
}

double ru_timed_child(int (*fn)(const char *), const char *arg)
{
    double t0 = clock_now();
    pid_t pid = test_fork();
    if (pid == 0) child_run(fn, arg);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? clock_now() - t0 : -1.0;
}

int ru_make_repo(const char *url, int n)
{
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    TRY(cairn_open(&db, url, &o));
    int rc = ru_fill(db, "t", 0, n, "base");
    if (rc == CAIRN_OK) rc = test_commit(db, "base", NULL);
    int crc = cairn_close(db);
    return rc ? rc : crc;
}

int ru_commit_key(const char *dir, const char *key, const char *val, cairn_id *out)
{
    cairn_db *db;
    TRY(cairn_open(&db, dir, NULL));
    cairn_table *t;
    int rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    if (rc == CAIRN_OK) rc = cairn_put(t, key, strlen(key), val, strlen(val));
    cairn_table_close(t);
    if (rc == CAIRN_OK) rc = test_commit(db, key, out);
    int crc = cairn_close(db);
    return rc ? rc : crc;
}

int ru_push(const char *dir, unsigned flags, cairn_transfer_stats *st)
{
    cairn_db *db;
    TRY(cairn_open(&db, dir, NULL));
    cairn_transfer_options o = CAIRN_TRANSFER_OPTIONS_INIT;
    o.flags = flags;
    o.lock_timeout_ms = 60000;
    int rc = cairn_push(st, db, "origin", "main", &o);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    int crc = cairn_close(db);
    if (rc != CAIRN_OK) cairn_error_set(rc, "%s", msg);
    return rc ? rc : crc;
}

/* The child of a concurrent push: waits for the go, pushes; exit 0 won, 2 non-fast-forward. */
static _Noreturn void push_when_told(int go, const char *dir)
{
    char c;
    if (read(go, &c, 1) < 0) _exit(9);
    cairn_transfer_stats st;
    int rc = ru_push(dir, 0, &st);
    if (rc == CAIRN_OK) _exit(0);
    if (rc == CAIRN_ECONFLICT && strstr(cairn_error_last()->message, RU_NFF_MSG) != NULL)
        _exit(2);
    fprintf(stderr, "push failed: %s\n", cairn_error_last()->message);
    _exit(3);
}

/* The loser fetches and merges the winner's commit, so that both go on from one place. */
static void catch_up(const char *dir, bool push)
{
    cairn_db *db = test_open_repo(dir);
    CHECK_OK(cairn_fetch(NULL, db, "origin", NULL));
    cairn_merge_result mr;
    CHECK_OK(cairn_merge(&mr, db, "origin/main", CAIRN_MERGE_OURS, NULL, NULL));
    if (push) CHECK_OK(cairn_push(NULL, db, "origin", NULL, NULL));
    CHECK_OK(cairn_close(db));
}

void ru_concurrent_pushes(const char *far, const char *a, const char *b, int rounds)
{
    for (int round = 0; round < rounds; round++) {
        cairn_id ids[2];
        char key[32];
        snprintf(key, sizeof key, "round%d", round);
        CHECK_OK(ru_commit_key(a, key, "a", &ids[0]));
        CHECK_OK(ru_commit_key(b, key, "b", &ids[1]));
        int go[2];
        CHECK(pipe(go) == 0);
        pid_t pids[2];
        for (int i = 0; i < 2; i++) {
            pids[i] = test_fork();
            CHECK(pids[i] >= 0);
            if (pids[i] == 0) {
                close(go[1]);
                push_when_told(go[0], i ? b : a);
            }
        }
        close(go[0]);
        close(go[1]); /* both go */
        int codes[2];
        for (int i = 0; i < 2; i++) {
            int status;
            CHECK(waitpid(pids[i], &status, 0) == pids[i]);
            CHECK(WIFEXITED(status));
            codes[i] = WEXITSTATUS(status);
        }
        CHECK_MSG((codes[0] == 0 && codes[1] == 2) || (codes[0] == 2 && codes[1] == 0),
                  "round %d: exits %d and %d", round, codes[0], codes[1]);
        int winner = codes[0] == 0 ? 0 : 1;
        cairn_id there;
        CHECK_OK(ru_resolve(far, "heads/main", &there));
        CHECK(ru_id_eq(&there, &ids[winner]));
        catch_up(winner ? a : b, true);
        catch_up(winner ? b : a, false);
    }
}

void ru_kill_round(int (*fn)(const char *), const char *arg, int round, double *secs,
                   uint64_t *rng, int *killed)
{
    if (round == 0) {
        *secs = ru_timed_child(fn, arg);
        CHECK(*secs > 0);
        return;
    }
    double delay = *secs * 1.3 * (double)(test_rand(rng) % 1000) / 1000.0;
    int status;
    *killed += ru_run_and_kill(fn, arg, delay, &status);
    CHECK_MSG(WIFSIGNALED(status) || WEXITSTATUS(status) == 0, "round %d: it failed", round);
}
