/*
 * test_remote_faults.c - faults with real processes against the real servers of the fixtures
 * s3_server (radosgw) and postgres (exit 77 without them):
 *
 *   rgw_stopped_mid_push   radosgw stopped (scripts/ceph-up.sh stop-rgw) while a push runs: the
 *                          push fails with a message naming the endpoint, the remote's main is
 *                          where it was or where the push was taking it, and after start-rgw a
 *                          push completes and the remote verifies clean
 *   kill_push_s3           a push to s3 killed (SIGKILL) at seeded random moments, 20 rounds:
 *                          the remote's refs never name a missing chunk (verify clean), main is
 *                          before or after, and the retry completes
 *   kill_clone_s3          a clone into s3 killed the same way: what exists there verifies
 *                          clean, and the retry completes with every ref equal to the source's
 *   pg_restart_mid_load    PostgreSQL restarted (pg-up.sh --restart: an immediate stop, as a
 *                          crash) while a process loads batches into a repository living there:
 *                          the load fails with a message naming the store, the next open works,
 *                          and every batch the loader was told was written is there
 *   concurrent_push_s3     two processes push different commits to one s3 branch at once: one
 *                          wins, the other is told non-fast-forward (5 rounds)
 *
 * CAIRN_REMOTE_KILL_ROUNDS sets the rounds of the kill tests (default 20).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "remote_util.h"
#include "test.h"

#define STOP_TRIES 4           /* pushes started before one is caught by the stop */
#define RGW_KEYS 500000        /* a push big enough to be caught in the middle */
#define LOAD_BATCH 500         /* keys per acknowledged write of the postgres load */
#define LOAD_BATCHES_MAX 100000
#define LOAD_ACKS_BEFORE 3     /* batches acknowledged before the restart */

static int kill_rounds(void) { return ru_env_rounds("CAIRN_REMOTE_KILL_ROUNDS", 20); }

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

/* A fresh s3 URL with short timeouts and small packs (a push is many requests). */
static void slow_s3_url(char *out, size_t n, const char *tag)
{
    static int serial;
    snprintf(out, n, "s3://cairn-test/%s-%d-%llx-%d?endpoint=%s&timeout_ms=4000&"
             "connect_timeout_ms=1000&retries=2&pack_size=64k&parallel=2", tag, (int)getpid(),
             (unsigned long long)test_seed, serial++, ru_fixture("endpoint"));
}

/* A local clone of far at dir, with keys [from, to) more committed on main: *out its commit. */
static void clone_and_grow(const char *far, const char *dir, int from, int to, cairn_id *out)
{
    CHECK_OK(cairn_clone(NULL, far, dir, NULL));
    cairn_db *db = test_open_repo(dir);
    CHECK_OK(ru_fill(db, "t", from, to, "grown"));
    CHECK_OK(test_commit(db, "grown", out));
    CHECK_OK(cairn_close(db));
}

/* ---- radosgw stopped in the middle of a push ---- */

/* Pushes dir in a child that writes its error message to msg_path; returns its pid. */
static pid_t push_in_child(const char *dir, const char *msg_path)
{
    pid_t pid = test_fork();
    if (pid != 0) return pid;
    cairn_transfer_stats st;
    int rc = ru_push(dir, 0, &st);
    FILE *f = fopen(msg_path, "w");
    if (f) {
        fprintf(f, "%s\n", rc == CAIRN_OK ? "ok" : cairn_error_last()->message);
        fclose(f);
    }
    _exit(rc == CAIRN_OK ? 0 : 3);
}

static void rgw_stopped_mid_push(void)
{
    const char *up = getenv("CAIRN_CEPH_UP");
    CHECK_MSG(up && *ru_fixture("ceph_dir"), "needs CAIRN_CEPH_UP and CEPH_DIR in the s3 env");
    char far[1400], dir[4200], msg_path[4200], msg[2048] = "";
    slow_s3_url(far, sizeof far, "rgwstop");
    snprintf(dir, sizeof dir, "%s/rgw-src", test_tmpdir());
    snprintf(msg_path, sizeof msg_path, "%s/push.msg", test_tmpdir());
    CHECK_OK(ru_make_repo(far, 1000));
    cairn_id before, after;
    CHECK_OK(ru_resolve(far, "heads/main", &before));
    clone_and_grow(far, dir, 1000, RGW_KEYS, &after);

    double t0 = clock_now();
    pid_t pid = push_in_child(dir, msg_path);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    double secs = clock_now() - t0; /* how long a whole push takes */
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* a fresh far side each try: the stop lands at an earlier moment each time */
    bool caught = false;
    for (int attempt = 0; attempt < STOP_TRIES && !caught; attempt++) {
        slow_s3_url(far, sizeof far, "rgwstop");
        char src2[4200];
        snprintf(src2, sizeof src2, "%s/rgw-src%d", test_tmpdir(), attempt);
        CHECK_OK(ru_make_repo(far, 1000));
        CHECK_OK(ru_resolve(far, "heads/main", &before));
        clone_and_grow(far, src2, 1000, RGW_KEYS, &after);
        pid = push_in_child(src2, msg_path);
        sleep_s(secs * 0.4 / (attempt + 1));
        double stop0 = clock_now();
        CHECK_EQ(test_sh("'%s' stop-rgw '%s' >/dev/null", up, ru_fixture("ceph_dir")), 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        double waited = clock_now() - stop0;
        FILE *f = fopen(msg_path, "r");
        CHECK(f && fgets(msg, sizeof msg, f));
        fclose(f);
        caught = WIFEXITED(status) && WEXITSTATUS(status) == 3;
        fprintf(stderr, "attempt %d: push %s %.2f s after radosgw was stopped: %s", attempt,
                caught ? "failed" : "finished", waited, msg);
        if (caught) {
            const char *ep = ru_fixture("endpoint");
            CHECK_MSG(strstr(msg, ep + strlen("http://")) != NULL,
                      "the message does not name the endpoint %s: %s", ep, msg);
        }
        CHECK_EQ(test_sh("'%s' start-rgw '%s' >/dev/null", up, ru_fixture("ceph_dir")), 0);
        cairn_id there;
        CHECK_OK(ru_resolve(far, "heads/main", &there));
        CHECK(ru_id_eq(&there, &before) || ru_id_eq(&there, &after));
        CHECK_OK(ru_verify_clean(far));
        cairn_transfer_stats st;
        CHECK_OK(ru_push(src2, 0, &st)); /* it completes now */
        CHECK_OK(ru_resolve(far, "heads/main", &there));
        CHECK(ru_id_eq(&there, &after));
        CHECK_OK(ru_verify_clean(far));
    }
    CHECK_MSG(caught, "no push was still running when radosgw stopped, in %d tries", STOP_TRIES);
}

/* ---- SIGKILL of push and clone to s3 ---- */

static char g_src[4200];

static int push_child(const char *dir)
{
    cairn_transfer_stats st;
    return ru_push(dir, 0, &st);
}

static void kill_push_s3(void)
{
    char far[1400], local[4200];
    ru_url(far, sizeof far, "s3", "killpush");
    snprintf(local, sizeof local, "%s/kp-local", test_tmpdir());
    CHECK_OK(ru_make_repo(far, 5000));
    CHECK_OK(cairn_clone(NULL, far, local, NULL));
    uint64_t rng = test_rng(41);
    int killed = 0;
    double secs = 0;
    for (int round = 0; round <= kill_rounds(); round++) { /* round 0 measures */
        cairn_id before, after, there;
        CHECK_OK(ru_resolve(far, "heads/main", &before));
        cairn_db *db = test_open_repo(local);
        CHECK_OK(ru_fill(db, "t", 5000 + round * 4000, 9000 + round * 4000, "pushed"));
        CHECK_OK(test_commit(db, "to push", &after));
        CHECK_OK(cairn_close(db));
        ru_kill_round(push_child, local, round, &secs, &rng, &killed);
        if (round == 0) continue;
        CHECK_OK(ru_verify_clean(far)); /* no ref names a missing chunk */
        CHECK_OK(ru_resolve(far, "heads/main", &there));
        CHECK_MSG(ru_id_eq(&there, &before) || ru_id_eq(&there, &after),
                  "round %d: the remote's main is neither before nor after", round);
        CHECK_OK(push_child(local));
        CHECK_OK(ru_resolve(far, "heads/main", &there));
        CHECK(ru_id_eq(&there, &after));
    }
    CHECK_OK(ru_verify_clean(far));
    fprintf(stderr, "kill push to s3: %d rounds, %d killed mid-push (undisturbed %.3f s)\n",
            kill_rounds(), killed, secs);
    CHECK_MSG(killed > 0, "no round was killed before the push ended: nothing was tested");
}

static int clone_child(const char *dst) { return cairn_clone(NULL, g_src, dst, NULL); }

/* Every ref of a equals b's (heads, tags, HEAD). */
static int same_heads(const char *a, const char *b)
{
    static const char *revs[] = { "heads/main", "heads/side", "HEAD" };
    for (size_t i = 0; i < sizeof revs / sizeof revs[0]; i++) {
        cairn_id x, y;
        TRY(ru_resolve(a, revs[i], &x));
        TRY(ru_resolve(b, revs[i], &y));
        if (!ru_id_eq(&x, &y)) return ERR(CAIRN_ECONFLICT, "%s differs", revs[i]);
    }
    return CAIRN_OK;
}

/* What a killed clone left at url: nothing, or a repository that verifies clean. */
static int left_clean(const char *url)
{
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    int rc = cairn_open(&db, url, &o);
    if (rc == CAIRN_ENOTFOUND) return CAIRN_OK;
    TRY(rc);
    cairn_close(db);
    return ru_verify_clean(url);
}

static void kill_clone_s3(void)
{
    snprintf(g_src, sizeof g_src, "%s/kc-src", test_tmpdir());
    CHECK_OK(ru_make_repo(g_src, 30000));
    cairn_db *db = test_open_repo(g_src);
    CHECK_OK(ru_fill(db, "t", 10000, 20000, "second"));
    CHECK_OK(test_commit(db, "second", NULL));
    CHECK_OK(cairn_branch_create(db, "side", "HEAD~1"));
    CHECK_OK(cairn_close(db));
    char dst[1400];
    ru_url(dst, sizeof dst, "s3", "killclone");
    uint64_t rng = test_rng(42);
    int killed = 0;
    double secs = 0;
    for (int round = 0; round <= kill_rounds(); round++) { /* round 0 measures */
        ru_url(dst, sizeof dst, "s3", "killclone");
        ru_kill_round(clone_child, dst, round, &secs, &rng, &killed);
        if (round == 0) continue;
        CHECK_OK(left_clean(dst));
        int rc = cairn_clone(NULL, g_src, dst, NULL);
        /* EEXIST: the killed clone had finished (its HEAD, written last, is there) */
        CHECK_MSG(rc == CAIRN_OK || rc == CAIRN_EEXIST, "round %d: retry: %s", round,
                  cairn_error_last()->message);
        CHECK_OK(same_heads(g_src, dst));
        CHECK_OK(ru_verify_clean(dst));
    }
    fprintf(stderr, "kill clone to s3: %d rounds, %d killed mid-clone (undisturbed %.3f s)\n",
            kill_rounds(), killed, secs);
    CHECK_MSG(killed > 0, "no round was killed before the clone ended: nothing was tested");
}

/* ---- PostgreSQL restarted in the middle of a load ---- */

/* Loads batches of LOAD_BATCH keys into url, one acknowledged write each, appending the
 * number of each batch written to ack_path; at the first failure writes "error: MESSAGE". */
static _Noreturn void load_child(const char *url, const char *ack_path)
{
    FILE *ack = fopen(ack_path, "w");
    if (!ack) _exit(9);
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    int rc = cairn_open(&db, url, &o);
    for (int b = 0; rc == CAIRN_OK && b < LOAD_BATCHES_MAX; b++) {
        rc = ru_fill(db, "t", b * LOAD_BATCH, (b + 1) * LOAD_BATCH, "loaded");
        if (rc == CAIRN_OK) {
            fprintf(ack, "%d\n", b);
            fflush(ack);
        }
    }
    fprintf(ack, "error: %s\n", rc == CAIRN_OK ? "none" : cairn_error_last()->message);
    fclose(ack);
    _exit(rc == CAIRN_OK ? 0 : 3);
}

/* The last batch acknowledged in ack_path (-1: none), and the error line if there is one. */
static int last_ack(const char *ack_path, char *err, size_t n)
{
    FILE *f = fopen(ack_path, "r");
    int last = -1;
    char line[2048];
    if (err) *err = '\0';
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "error: ", 7) == 0) {
            if (err) snprintf(err, n, "%s", line + 7);
        } else {
            last = atoi(line);
        }
    }
    if (f) fclose(f);
    return last;
}

static void pg_restart_mid_load(void)
{
    const char *script = getenv("CAIRN_PG_SCRIPT");
    CHECK_MSG(script, "needs CAIRN_PG_SCRIPT (scripts/pg-up.sh)");
    char url[1400], ack_path[4200], err[2048];
    ru_url(url, sizeof url, "pg", "pgload");
    snprintf(ack_path, sizeof ack_path, "%s/load.ack", test_tmpdir());
    pid_t pid = test_fork();
    if (pid == 0) load_child(url, ack_path);
    int status;
    while (last_ack(ack_path, NULL, 0) < LOAD_ACKS_BEFORE - 1) {
        CHECK_MSG(waitpid(pid, &status, WNOHANG) == 0, "the load stopped before the restart");
        sleep_s(0.02);
    }
    CHECK_EQ(test_sh("'%s' --restart '%s' >/dev/null", script, ru_fixture("pg_state")), 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    int acked = last_ack(ack_path, err, sizeof err);
    fprintf(stderr, "the load was told %d batches were written, then: %s", acked + 1, err);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the load did not fail");
    CHECK(strstr(err, "postgres store") != NULL);
    CHECK(acked >= LOAD_ACKS_BEFORE - 1);

    /* the next open works and holds every acknowledged batch */
    cairn_db *db = test_open_repo(url);
    uint64_t n = 0;
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_count(&n, t, NULL, NULL));
    CHECK_MSG(n >= (uint64_t)(acked + 1) * LOAD_BATCH && n <= (uint64_t)(acked + 2) * LOAD_BATCH,
              "%llu keys for %d acknowledged batches", (unsigned long long)n, acked + 1);
    for (int b = 0; b <= acked; b++) { /* the first and last key of every batch */
        for (int k = b * LOAD_BATCH; k < (b + 1) * LOAD_BATCH; k += LOAD_BATCH - 1) {
            char key[32], want[64];
            snprintf(key, sizeof key, "key%08d", k);
            snprintf(want, sizeof want, "loaded-value-%d", k * 7);
            void *v = NULL;
            size_t vl = 0;
            CHECK_OK(cairn_get(&v, &vl, t, NULL, key, strlen(key)));
            CHECK(vl == strlen(want) && memcmp(v, want, vl) == 0);
            free(v);
        }
    }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_OK(ru_verify_clean(url));
}

/* ---- two pushes at once ---- */

static void concurrent_push_s3(void)
{
    char far[1400], a[4200], b[4200];
    ru_url(far, sizeof far, "s3", "twopush");
    snprintf(a, sizeof a, "%s/cp-a", test_tmpdir());
    snprintf(b, sizeof b, "%s/cp-b", test_tmpdir());
    CHECK_OK(ru_make_repo(far, 2000));
    CHECK_OK(cairn_clone(NULL, far, a, NULL));
    CHECK_OK(cairn_clone(NULL, far, b, NULL));
    ru_concurrent_pushes(far, a, b, 5);
    CHECK_OK(ru_verify_clean(far));
}

int main(int argc, char **argv)
{
    if (!ru_s3_ready() || !ru_pg_ready()) {
        printf("skipped: needs the fixtures s3_server (CAIRN_S3_ENV) and postgres "
               "(CAIRN_PG_STATE)\n");
        return 77;
    }
    void (*fns[])(void) = { rgw_stopped_mid_push, kill_push_s3, kill_clone_s3,
                            pg_restart_mid_load, concurrent_push_s3 };
    static const char names[] = "rgw_stopped_mid_push, kill_push_s3, kill_clone_s3, "
                                "pg_restart_mid_load, concurrent_push_s3";
    return test_main_fns(argc, argv, fns, sizeof fns / sizeof fns[0], names);
}
