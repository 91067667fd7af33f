/*
 * test_crash.c - acknowledged writes survive SIGKILL at any moment.
 *
 * Each round forks a writer that commits durable batches and reports on a pipe what it is
 * doing: a batch starting to commit ("B n") and acknowledged ("A n", once cairn_batch_commit()
 * has returned), a commit starting and ending ("K n", "k n"), and a checkpoint starting and
 * ending ("C", "c": from the engine's checkpoint test points, not from log wording). The parent
 * kills it with SIGKILL, aiming in turn: after a random delay, after a random number of
 * acknowledgements, shortly after a checkpoint, a commit or a bulk batch started. Everything
 * the writer wrote before it died is still in the pipe, so the parent knows where each kill
 * landed (inside a batch, a bulk batch, a commit, a checkpoint: several at once when a
 * checkpoint runs beside a batch), and the test fails unless every kind was hit at least once.
 * Then the repository is opened and checked: every acknowledged batch is there with every
 * value, the newest batch applied is whole and nothing after it is there at all (batches are
 * all-or-nothing), counts agree, and every tenth round the whole store verifies. Rounds:
 * CAIRN_CRASH_ROUNDS (default 60, then up to as many more while a kind has had no kill; the
 * kinds are only required from MIN_ROUNDS_FOR_ALL on), seeded.
 *
 * Batch n puts size(n) keys "b<n>-<i>" into table data, deletes key 0 of batch n - 5, and sets
 * meta/last = n, all at once; batch 40 and every 997th after it is large enough to take the bulk
 * path. Every 16th batch is followed by a commit; a commit that a kill cut short must not stop
 * the next writer's commits.
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

#include "base/base.h"
#include "cairn.h"
#include "test.h"

#define BULK_EVERY 997
#define BULK_AT 40    /* the first bulk batch: early, so that short runs have one to aim at */
#define BULK_SIZE 70000
#define BULK_REACH 400 /* a round aims at the next bulk batch when it is this close */
#define MIN_ROUNDS_FOR_ALL 40
#define COMMIT_EVERY 16 /* the writer commits after every this many batches */

static uint32_t batch_size(uint64_t n)
{
    if (n % BULK_EVERY == BULK_AT) return BULK_SIZE;
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

static void on_test_point(cairn_test_point_id point, void *payload)
{
    (void)payload;
    say(point == CAIRN_TP_CHECKPOINT_BEGIN ? "C\n" : "c\n");
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
    cairn_test_point_set(on_test_point, NULL);
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
        snprintf(v, sizeof v, "B %llu\n", (unsigned long long)n);
        say(v);
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
            snprintf(v, sizeof v, "K %llu\n", (unsigned long long)n);
            say(v);
            if (cairn_commit(NULL, db, &co) != CAIRN_OK) {
                fprintf(stderr, "writer: commit after batch %llu: %s\n", (unsigned long long)n,
                        cairn_error_last()->message);
                _exit(8);
            }
            snprintf(v, sizeof v, "k %llu\n", (unsigned long long)n);
            say(v);
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

/* What a round aims its kill at. */
typedef enum aim { AIM_DELAY, AIM_ACKS, AIM_CHECKPOINT, AIM_COMMIT, AIM_BULK, AIMS } aim;
static const char *const aim_names[AIMS] = { "after a delay", "after acks", "at a checkpoint",
                                             "at a commit", "at a bulk batch" };
/* Where a kill landed: what the writer had started and not finished when it died. */
typedef enum place { IN_BATCH, IN_BULK, IN_CHECKPOINT, IN_COMMIT, PLACES } place;
static const char *const place_names[PLACES] = { "batch", "bulk batch", "checkpoint", "commit" };

typedef struct round_result {
    uint64_t max_ack;
    int checkpoints_seen;
    uint64_t in_batch;       /* the batch being committed (0: none) */
    bool in_commit;
    bool in_checkpoint;
    double bulk_ms;          /* how long the bulk batches that finished took */
    int bulks;
} round_result;

typedef struct round_aim {
    aim aim;
    long target;             /* ms, acks or events to wait for */
    long extra_us;           /* then this long before the kill */
    long seen;
    double bulk_start;
} round_aim;

/* Follows one line of the writer's; returns true when the kill condition is met (a NULL aim:
 * only follow). */
static bool follow_line(const char *line, round_result *r, round_aim *a)
{
    uint64_t n = line[0] && line[1] == ' ' ? strtoull(line + 2, NULL, 10) : 0;
    bool event = false; /* the event the aim waits for */
    switch (line[0]) {
    case 'B':
        r->in_batch = n;
        if (a && batch_size(n) == BULK_SIZE) a->bulk_start = now_ms();
        event = a && a->aim == AIM_BULK && batch_size(n) == BULK_SIZE;
        break;
    case 'A':
        if (n > r->max_ack) r->max_ack = n;
        r->in_batch = 0;
        if (a && batch_size(n) == BULK_SIZE && a->bulk_start > 0) {
            r->bulk_ms += now_ms() - a->bulk_start;
            r->bulks++;
        }
        event = a && a->aim == AIM_ACKS;
        break;
    case 'K':
        r->in_commit = true;
        event = a && a->aim == AIM_COMMIT;
        break;
    case 'k': r->in_commit = false; break;
    case 'C':
        r->in_checkpoint = true;
        r->checkpoints_seen++;
        event = a && a->aim == AIM_CHECKPOINT;
        break;
    case 'c': r->in_checkpoint = false; break;
    default: break;
    }
    return event && ++a->seen >= a->target;
}

/* Handles the whole lines in buf[0..len), keeping a partial one; returns true when the kill
 * condition is met (the lines after that one are left for later). */
static bool scan_lines(char *buf, size_t *len, round_result *r, round_aim *a)
{
    bool kill_now = false;
    char *start = buf, *nl;
    while (!kill_now && (nl = memchr(start, '\n', (size_t)(buf + *len - start)))) {
        *nl = '\0';
        kill_now = follow_line(start, r, a);
        start = nl + 1;
    }
    *len = (size_t)(buf + *len - start);
    memmove(buf, start, *len);
    return kill_now;
}

static void run_round(const char *url, uint64_t *rng, aim how, round_result *r)
{
    int fds[2];
    if (pipe(fds) != 0) {
        test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = test_fork();
    if (pid == 0) {
        close(fds[0]);
        pipe_fd = fds[1];
        writer(url);
        _exit(0);
    }
    close(fds[1]);
    round_aim a = { how, 1, 0, 0, 0 };
    switch (how) {
    case AIM_DELAY: a.target = 5 + (long)(test_rand(rng) % 150); break; /* ms */
    case AIM_ACKS: a.target = 1 + (long)(test_rand(rng) % 300); break;
    case AIM_CHECKPOINT: /* checkpoints of a 48 KiB memtable take a few ms */
        a.target = 1 + (long)(test_rand(rng) % 3);
        a.extra_us = (long)(test_rand(rng) % 1000);
        break;
    case AIM_COMMIT:
        a.target = 1 + (long)(test_rand(rng) % 2);
        a.extra_us = (long)(test_rand(rng) % 1500);
        break;
    default: a.extra_us = (long)(test_rand(rng) % 20000); break; /* bulk: tens of ms */
    }
    char buf[8192];
    size_t len = 0;
    double start = now_ms();
    bool killed = false;
    for (;;) {
        struct pollfd p = { fds[0], POLLIN, 0 };
        double left = how == AIM_DELAY ? (double)a.target - (now_ms() - start) : 1000.0;
        if (how == AIM_DELAY && left <= 0) break;
        if (now_ms() - start > 20000) break; /* a stuck writer: kill it anyway */
        int pr = poll(&p, 1, (int)(left > 1 ? left : 1));
        if (pr <= 0) continue;
        ssize_t got = read(fds[0], buf + len, sizeof buf - len - 1);
        if (got <= 0) break; /* the writer died by itself */
        len += (size_t)got;
        if (scan_lines(buf, &len, r, &a)) {
            if (a.extra_us) usleep((useconds_t)a.extra_us);
            break;
        }
    }
    killed = kill(pid, SIGKILL) == 0;
    int st;
    waitpid(pid, &st, 0);
    /* everything written before the kill: acknowledgements count too, and the last events say
     * where the kill landed */
    scan_lines(buf, &len, r, NULL);
    for (ssize_t got; (got = read(fds[0], buf + len, sizeof buf - len - 1)) > 0;) {
        len += (size_t)got;
        scan_lines(buf, &len, r, NULL);
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
        /* one report is allowed: a kill between a checkpoint publishing its trees and writing
         * its own log record leaves a log that verify cannot tell from one whose last segment
         * was deleted, and its message says both (nothing is lost: the data was checked above) */
        cairn_verify_stats vs;
        int vrc = cairn_verify(&vs, db, NULL);
        bool window = vrc == CAIRN_ECORRUPT && vs.problems == 1 &&
                      strstr(cairn_error_last()->message,
                             "unless a crash came between that checkpoint and its record");
        if (!window) {
            CHECK_OK(vrc);
            CHECK_EQ(vs.problems, 0);
        }
        cairn_error_clear();
    }
    CHECK_OK(cairn_close(db));
    *prev_last = last;
}

/* The first bulk batch after batch n. */
static uint64_t next_bulk(uint64_t n)
{
    uint64_t b = n - n % BULK_EVERY + BULK_AT;
    return b > n ? b : b + BULK_EVERY;
}

/* Whether some kind of moment has had no kill land in it. */
static bool missing(const int landed[PLACES])
{
    for (int k = 0; k < PLACES; k++)
        if (!landed[k]) return true;
    return false;
}

static void sigkill_rounds(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    const char *env = getenv("CAIRN_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 60;
    uint64_t rng = test_rng(11), max_ack = 0, prev_last = 0, bulk_aimed = 0;
    int aimed[AIMS] = { 0 }, landed[PLACES] = { 0 }, ckpts = 0, bulks = 0;
    double t0 = now_ms(), bulk_ms = 0;
    /* up to as many rounds again while a kind of moment has no kill yet: where a kill lands
     * depends on the machine's timing (a loaded one, under ASan, can go 60 rounds without one
     * landing inside a plain batch), and every kind must be seen */
    int done = 0;
    for (int i = 0; !test_failures && (i < rounds || (rounds >= MIN_ROUNDS_FOR_ALL &&
                                                      i < 2 * rounds && missing(landed)));
         i++, done++) {
        /* each bulk batch once, when the writer will reach it soon; the other aims in turn */
        uint64_t bulk = next_bulk(prev_last);
        aim how = (aim)(i % AIM_BULK);
        if (bulk <= prev_last + BULK_REACH && bulk != bulk_aimed) {
            how = AIM_BULK;
            bulk_aimed = bulk;
        }
        round_result r = { max_ack, 0, 0, false, false, 0, 0 };
        run_round(url, &rng, how, &r);
        aimed[how]++;
        max_ack = r.max_ack;
        ckpts += r.checkpoints_seen;
        bulk_ms += r.bulk_ms;
        bulks += r.bulks;
        if (r.in_batch) landed[batch_size(r.in_batch) == BULK_SIZE ? IN_BULK : IN_BATCH]++;
        if (r.in_checkpoint) landed[IN_CHECKPOINT]++;
        if (r.in_commit) landed[IN_COMMIT]++;
        check_repo(url, max_ack, &prev_last, i % 10 == 9 || i + 1 == rounds, &rng);
    }
    printf("  %d rounds in %.1f s: %llu batches acknowledged, %llu applied, %d checkpoints "
           "started, %d bulk batches finished (%.0f ms each)\n",
           done, (now_ms() - t0) / 1e3, (unsigned long long)max_ack,
           (unsigned long long)prev_last, ckpts, bulks, bulks ? bulk_ms / bulks : 0.0);
    printf("  kills aimed:");
    for (int k = 0; k < AIMS; k++)
        printf(" %d %s%s", aimed[k], aim_names[k], k + 1 < AIMS ? "," : "\n");
    printf("  kills landed in:");
    for (int k = 0; k < PLACES; k++)
        printf(" %d a %s%s", landed[k], place_names[k], k + 1 < PLACES ? "," : "\n");
    CHECK(max_ack > 0);
    if (rounds < MIN_ROUNDS_FOR_ALL || test_failures) return;
    for (int k = 0; k < PLACES; k++)
        CHECK_MSG(landed[k] > 0, "no kill landed in a %s in %d rounds (seed %llu)", place_names[k],
                  done, (unsigned long long)test_seed);
}

TEST_MAIN(sigkill_rounds)
