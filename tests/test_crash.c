/*
 * test_crash.c - acknowledged writes survive SIGKILL at any moment.
 *
 * Each round forks a writer that commits durable batches and reports each one on a pipe once
 * cairn_batch_commit() has returned; the parent kills it with SIGKILL at a random moment: after
 * a random delay, right after a checkpoint started (the writer's log callback reports that) or
 * after a random number of acknowledgements. Then the repository is opened and checked:
 * every acknowledged batch is there with every value, the newest batch applied is whole and
 * nothing after it is there at all (batches are all-or-nothing), counts agree, and every tenth
 * round the whole store verifies. Rounds: CAIRN_CRASH_ROUNDS (default 60), seeded.
 *
 * Batch n puts size(n) keys "b<n>-<i>" into table data, deletes key 0 of batch n - 5, and sets
 * meta/last = n, all at once; now and then a batch is large enough to take the bulk path. Every
 * 16th batch is followed by a commit, so kills land in commits too; a commit that a kill cut
 * short must not stop the next writer's commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "test.h"

#define BULK_EVERY 997
#define BULK_SIZE 70000
#define COMMIT_EVERY 16 /* the writer commits after every this many batches */

static uint32_t batch_size(uint64_t n)
{
    if (n % BULK_EVERY == 500) return BULK_SIZE;
    return 1 + (uint32_t)((n * 2654435761u) >> 7) % 20;
}

static int key_of(char *out, size_t cap, uint64_t n, uint32_t i)
{
    return snprintf(out, cap, "b%08llu-%05u", (unsigned long long)n, i);
}

static int value_of(char *out, size_t cap, uint64_t n, uint32_t i)
{
    int len = snprintf(out, cap, "v%llu-%u-", (unsigned long long)n, i);
    int pad = (int)((n * 31 + i) % 48);
    for (int j = 0; j < pad && (size_t)len + 1 < cap; j++) out[len++] = (char)('a' + (j % 26));
    out[len] = '\0';
    return len;
}

/* ---- the writer (child) ---- */

static int pipe_fd = -1;

static void say(const char *line)
{
    size_t n = strlen(line);
    if (write(pipe_fd, line, n) != (ssize_t)n) _exit(7);
}

static void on_log(cairn_log_level level, const char *message, void *payload)
{
    (void)payload;
    if (level == CAIRN_LOG_DEBUG && strstr(message, "checkpoint") && strstr(message, "starting"))
        say("C\n");
}

static uint64_t read_last(cairn_table *meta)
{
    void *v = NULL;
    size_t vl;
    if (cairn_get(&v, &vl, meta, NULL, "last", 4) != CAIRN_OK) return 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)vl, (const char *)v);
    cairn_free(v);
    return strtoull(buf, NULL, 10);
}

static void writer(const char *url)
{
    cairn_set_log(on_log, NULL);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.memtable_bytes = 48u << 10; /* checkpoints every few dozen batches */
    o.lock_timeout_ms = 5000;
    cairn_db *db;
    if (cairn_open(&db, url, &o) != CAIRN_OK) {
        fprintf(stderr, "writer: open: %s\n", cairn_error_last()->message);
        _exit(3);
    }
    cairn_table *data, *meta;
    if (cairn_table_open(&data, db, "data", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER) ||
        cairn_table_open(&meta, db, "meta", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER))
        _exit(4);
    cairn_batch *b;
    if (cairn_batch_new(&b, db) != CAIRN_OK) _exit(5);
    for (uint64_t n = read_last(meta) + 1;; n++) {
        char k[32], v[96], line[40];
        uint32_t size = batch_size(n);
        int rc = CAIRN_OK;
        for (uint32_t i = 0; rc == CAIRN_OK && i < size; i++) {
            int kl = key_of(k, sizeof k, n, i), vl = value_of(v, sizeof v, n, i);
            rc = cairn_batch_put(b, data, k, (size_t)kl, v, (size_t)vl);
        }
        if (rc == CAIRN_OK && n > 5) {
            int kl = key_of(k, sizeof k, n - 5, 0);
            rc = cairn_batch_delete(b, data, k, (size_t)kl);
        }
        int ll = snprintf(line, sizeof line, "%llu", (unsigned long long)n);
        if (rc == CAIRN_OK) rc = cairn_batch_put(b, meta, "last", 4, line, (size_t)ll);
        if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
        if (rc != CAIRN_OK) {
            fprintf(stderr, "writer: batch %llu: %s\n", (unsigned long long)n,
                    cairn_error_last()->message);
            _exit(6);
        }
        snprintf(line, sizeof line, "A %llu\n", (unsigned long long)n);
        say(line);
        if (n % COMMIT_EVERY == 0) { /* a kill may land inside it: the next writer goes on */
            cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
            co.message = line;
            co.flags = CAIRN_COMMIT_ALLOW_EMPTY;
            if (cairn_commit(NULL, db, &co) != CAIRN_OK) {
                fprintf(stderr, "writer: commit after batch %llu: %s\n", (unsigned long long)n,
                        cairn_error_last()->message);
                _exit(8);
            }
        }
    }
}

/* ---- the killer (parent) ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct round_result {
    uint64_t max_ack;
    int checkpoints_seen;
    const char *how;
} round_result;

/* Handles the lines in buf[0..len); returns true when the kill condition is met. */
static bool scan_lines(char *buf, size_t *len, round_result *r, int mode, long target, long *seen)
{
    bool kill_now = false;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + *len - start)))) {
        *nl = '\0';
        if (start[0] == 'A') {
            uint64_t n = strtoull(start + 2, NULL, 10);
            if (n > r->max_ack) r->max_ack = n;
            if (mode == 2 && ++*seen >= target) kill_now = true;
        } else if (start[0] == 'C') {
            r->checkpoints_seen++;
            if (mode == 1 && ++*seen >= target) kill_now = true;
        }
        start = nl + 1;
    }
    *len = (size_t)(buf + *len - start);
    memmove(buf, start, *len);
    return kill_now;
}

static void run_round(const char *url, uint64_t *rng, round_result *r)
{
    int fds[2];
    if (pipe(fds) != 0) {
        test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pipe_fd = fds[1];
        writer(url);
        _exit(0);
    }
    close(fds[1]);
    int mode = (int)(test_rand(rng) % 3);
    long target = mode == 0 ? 5 + (long)(test_rand(rng) % 150)  /* ms */
                  : mode == 1 ? 1 + (long)(test_rand(rng) % 3) /* checkpoints */
                              : 1 + (long)(test_rand(rng) % 300); /* acks */
    long extra_us = mode == 1 ? (long)(test_rand(rng) % 3000) : 0;
    r->how = mode == 0 ? "after a delay" : mode == 1 ? "in a checkpoint" : "after acks";
    char buf[8192];
    size_t len = 0;
    long seen = 0;
    double start = now_ms();
    bool killed = false;
    for (;;) {
        struct pollfd p = { fds[0], POLLIN, 0 };
        double left = mode == 0 ? (double)target - (now_ms() - start) : 1000.0;
        if (mode == 0 && left <= 0) break;
        if (now_ms() - start > 20000) break; /* a stuck writer: kill it anyway */
        int pr = poll(&p, 1, (int)(left > 1 ? left : 1));
        if (pr <= 0) continue;
        ssize_t got = read(fds[0], buf + len, sizeof buf - len - 1);
        if (got <= 0) break; /* the writer died by itself */
        len += (size_t)got;
        if (scan_lines(buf, &len, r, mode, target, &seen)) {
            if (extra_us) usleep((useconds_t)extra_us);
            break;
        }
    }
    killed = kill(pid, SIGKILL) == 0;
    int st;
    waitpid(pid, &st, 0);
    /* acknowledgements written before the kill count too */
    for (ssize_t got; (got = read(fds[0], buf + len, sizeof buf - len - 1)) > 0;) {
        len += (size_t)got;
        scan_lines(buf, &len, r, -1, 0, &seen);
        if (len == sizeof buf - 1) len = 0;
    }
    close(fds[0]);
    if (!killed || !WIFSIGNALED(st))
        test_fail(__FILE__, __LINE__, "the writer ended on its own (status %d); see its stderr",
                  st);
}

/* ---- checking ---- */

static void check_batch(cairn_table *data, uint64_t n, uint64_t last, bool present)
{
    uint32_t size = batch_size(n);
    uint32_t step = size > 100 ? 997 : 1; /* a bulk batch: a sample of its keys */
    for (uint32_t i = 0; i < size; i += step) {
        char k[32], v[96];
        int kl = key_of(k, sizeof k, n, i), vl = value_of(v, sizeof v, n, i);
        bool deleted = i == 0 && n + 5 <= last;
        void *got = NULL;
        size_t gl;
        int rc = cairn_get(&got, &gl, data, NULL, k, (size_t)kl);
        if (present && !deleted) {
            CHECK_MSG(rc == CAIRN_OK, "batch %llu (last %llu): key %s is missing: %s",
                      (unsigned long long)n, (unsigned long long)last, k,
                      cairn_error_last()->message);
            CHECK_MEM(got, gl, v, (size_t)vl);
        } else {
            CHECK_MSG(rc == CAIRN_ENOTFOUND, "batch %llu (last %llu): key %s is there (rc %d)",
                      (unsigned long long)n, (unsigned long long)last, k, rc);
        }
        cairn_free(got);
    }
}

static void check_repo(const char *url, uint64_t max_ack, uint64_t *prev_last, bool verify,
                       uint64_t *rng)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_db *db;
    CHECK_OK(cairn_open(&db, url, &o));
    cairn_table *data, *meta;
    uint64_t last = 0;
    if (cairn_table_open(&meta, db, "meta", 0) == CAIRN_OK) {
        last = read_last(meta);
        cairn_table_close(meta);
    }
    CHECK_MSG(last >= max_ack, "batch %llu was acknowledged but the last one applied is %llu",
              (unsigned long long)max_ack, (unsigned long long)last);
    CHECK_MSG(last >= *prev_last, "batch %llu was there before, now only %llu",
              (unsigned long long)*prev_last, (unsigned long long)last);
    if (last == 0) {
        CHECK_OK(cairn_close(db));
        return;
    }
    CHECK_OK(cairn_table_open(&data, db, "data", 0));
    /* the batches that appeared since the last round, whole; a sample of older ones */
    for (uint64_t n = *prev_last + 1; n <= last && !test_failures; n++)
        check_batch(data, n, last, true);
    for (int i = 0; i < 20 && !test_failures; i++)
        check_batch(data, 1 + test_rand(rng) % last, last, true);
    check_batch(data, last + 1, last, false); /* nothing of the next one */
    uint64_t want = 0, cnt;
    for (uint64_t n = 1; n <= last; n++) want += batch_size(n);
    want -= last > 5 ? last - 5 : 0;
    CHECK_OK(cairn_count(&cnt, data, NULL, NULL));
    CHECK_EQ(cnt, want);
    cairn_table_close(data);
    if (verify) {
        cairn_verify_stats vs;
        CHECK_OK(cairn_verify(&vs, db, NULL));
        CHECK_EQ(vs.problems, 0);
    }
    CHECK_OK(cairn_close(db));
    *prev_last = last;
}

static void sigkill_rounds(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    const char *env = getenv("CAIRN_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 60;
    uint64_t rng = test_rng(11), max_ack = 0, prev_last = 0;
    int in_ckpt = 0, ckpts = 0;
    double t0 = now_ms();
    for (int i = 0; i < rounds && !test_failures; i++) {
        round_result r = { max_ack, 0, "" };
        run_round(url, &rng, &r);
        max_ack = r.max_ack;
        ckpts += r.checkpoints_seen;
        in_ckpt += strcmp(r.how, "in a checkpoint") == 0;
        check_repo(url, max_ack, &prev_last, i % 10 == 9 || i + 1 == rounds, &rng);
    }
    printf("  %d rounds in %.1f s: %llu batches acknowledged, %llu applied, %d checkpoints "
           "started, %d kills aimed into one\n",
           rounds, (now_ms() - t0) / 1e3, (unsigned long long)max_ack,
           (unsigned long long)prev_last, ckpts, in_ckpt);
    CHECK(max_ack > 0);
}

TEST_MAIN(sigkill_rounds)
