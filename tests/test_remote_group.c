/*
 * test_remote_group.c - group commit on repositories living in a real radosgw (s3) and a real
 * PostgreSQL (the fixtures s3_server and postgres; exit 77 without them): a store without log
 * files makes a durable write durable by a checkpoint, and the writers that arrive while one
 * is in flight share the next (docs/ARCHITECTURE.md, "Group commit on a remote repository").
 * The overlap is made certain, not hoped for: the store is wrapped in the fault store
 * (tests/fault_store.c), whose hook holds the first checkpoint's flush until the engine's test
 * point says that every other writer has logged its write and queued behind it.
 *
 *   group_*          WRITERS threads put one key each on one handle; the first checkpoint's
 *                    flush is held until the others queue: exactly two checkpoints, two flushes
 *                    and two ref moves carry all the writes, every write is acknowledged, and
 *                    every key is there after reopening
 *   failed_flush_*   the same, the second flush failing: exactly the writes it carried fail,
 *                    each saying that nothing of it was published, none of them was ever
 *                    visible on the handle nor is there after reopening; the first writer's
 *                    write and the earlier ones are kept, and the handle writes on
 *   lost_answer_*    the working ref's move happens but its answer is lost (the fault store
 *                    reports CAIRN_EIO after forwarding it): the ref read back names the
 *                    checkpoint's record, so the write is acknowledged, and the next one
 *                    goes on from it
 *   unsent_unread_*  the checkpoint's flush fails and the working ref cannot be read back:
 *                    the move was never sent, so the writer hears that nothing was published
 *   lost_unread_*    the move happens, its answer is lost and the ref cannot be read back:
 *                    only then "may or may not have been published" (it was)
 *   two_processes_*  two processes of THREADS threads each write to one repository at once
 *                    (both open it, then start together), retrying on the same handle when the
 *                    other process won the working state's compare-and-swap: every
 *                    acknowledged write is there afterwards
 *   free_running_*   THREADS threads writing without any hook: every write acknowledged and
 *                    present after reopening (the checkpoints it took are printed)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "fault_store.h"
#include "remote_util.h"
#include "test.h"

#define WRITERS 8
#define THREADS 4
#define PROC_WRITES 12     /* per thread of each process */
#define FREE_WRITES 16     /* per thread, free running */
#define HOLD_SECONDS 120.0 /* a held flush gives up after this (then the test fails) */
#define CONFLICT_RETRIES 1000

/* ---- the held flush ---- */

typedef struct hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long held_call;  /* the flush call to hold (its number in the wrapper) */
    unsigned want;            /* writers that must queue before it goes on */
    unsigned queued;          /* CAIRN_TP_GROUP_QUEUED seen */
    bool holding, timed_out;
    cairn_store *fs;
    bool fail_next;           /* once released: the flush after it fails */
} hold;

static hold g_hold = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, false,
                       false, NULL, false };

static void on_point(cairn_test_point_id point, void *payload)
{
    hold *h = payload;
    if (point != CAIRN_TP_GROUP_QUEUED) return;
    pthread_mutex_lock(&h->mu);
    h->queued++;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void on_flush(fault_method m, unsigned long n, void *arg)
{
    hold *h = arg;
    pthread_mutex_lock(&h->mu);
    if (n == h->held_call) {
        h->holding = true;
        pthread_cond_broadcast(&h->cv);
        struct timespec ts;
        clock_deadline(&ts, HOLD_SECONDS);
        while (h->queued < h->want && !h->timed_out)
            if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) != 0) h->timed_out = true;
        if (h->fail_next) /* the next flush: the one carrying the queued writers */
            fault_store_arm(h->fs, &(fault_spec){ FAULT_FLUSH, 1, CAIRN_EIO, false, false });
    }
    pthread_mutex_unlock(&h->mu);
}

/* Waits until the held flush is entered (false: it never was). */
static bool wait_holding(hold *h)
{
    struct timespec ts;
    clock_deadline(&ts, HOLD_SECONDS);
    pthread_mutex_lock(&h->mu);
    while (!h->holding)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) != 0) break;
    bool ok = h->holding;
    pthread_mutex_unlock(&h->mu);
    return ok;
}

/* ---- writers ---- */

typedef struct writer {
    cairn_table *t;
    int id;
    int rc;
    char msg[1024];
    pthread_t th;
} writer;

static void key_of(char *out, size_t n, int id) { snprintf(out, n, "w%03d", id); }

static void *put_one(void *arg)
{
    writer *w = arg;
    char k[32];
    key_of(k, sizeof k, w->id);
    w->rc = cairn_put(w->t, k, strlen(k), k, strlen(k));
    snprintf(w->msg, sizeof w->msg, "%s", w->rc < 0 ? cairn_error_last()->message : "");
    return NULL;
}

static bool has_key(cairn_table *t, const char *k)
{
    void *v;
    size_t n;
    int rc = cairn_get(&v, &n, t, NULL, k, strlen(k));
    if (rc == CAIRN_OK) cairn_free(v);
    return rc == CAIRN_OK;
}

/* Writers [0, present) have their keys in t, writers [present, WRITERS) not (where: "on the
 * handle", "after reopening"). */
static void check_writers(cairn_table *t, int present, const char *where)
{
    for (int i = 0; i < WRITERS; i++) {
        char k[32];
        key_of(k, sizeof k, i);
        CHECK_MSG(has_key(t, k) == (i < present), "%s %s %s",
                  i < present ? "acknowledged write missing:" : "failed write present:", k, where);
    }
}

/* Reopens url afresh: the keys of check_writers(present) and `also` are there; verify clean. */
static void check_reopened(const char *url, int present, const char *also)
{
    cairn_db *db;
    cairn_table *t;
    CHECK_OK(cairn_open(&db, url, NULL));
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    check_writers(t, present, "after reopening");
    CHECK(has_key(t, "before") && (!also || has_key(t, also)));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_OK(ru_verify_clean(url));
}

/* A repository at url (created), opened on the fault store over its store; table "t" made and
 * the key "before" written. */
static void open_wrapped(const char *url, cairn_db **out_db, cairn_store **out_fs,
                         cairn_table **out_t)
{
    cairn_store *st, *fs;
    CHECK_OK(cairn_store_open_url(&st, url, CAIRN_OPEN_CREATE, 0));
    CHECK_OK(fault_store_wrap(&fs, st, true));
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    CHECK_OK(cairn_open_store(out_db, fs, &o));
    CHECK_OK(cairn_table_open(out_t, *out_db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(*out_t, "before", 6, "kept", 4));
    *out_fs = fs;
}

/* Starts writer 0 alone, holds its checkpoint's flush, starts the others, and lets the flush go
 * once they have all queued behind it. fail_next: the flush after it fails. */
static void held_round(cairn_db *db, cairn_store *fs, cairn_table *t, writer *ws, bool fail_next)
{
    hold *h = &g_hold;
    pthread_mutex_lock(&h->mu);
    h->held_call = fault_store_calls(fs, FAULT_FLUSH) + 1;
    h->want = WRITERS - 1;
    h->queued = 0;
    h->holding = h->timed_out = false;
    h->fs = fs;
    h->fail_next = fail_next;
    pthread_mutex_unlock(&h->mu);
    cairn_test_point_set(on_point, h);
    fault_store_hook(fs, FAULT_FLUSH, on_flush, h);
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (writer){ t, i, 0, "", 0 };
        if (i == 0) {
            CHECK(pthread_create(&ws[0].th, NULL, put_one, &ws[0]) == 0);
            CHECK_MSG(wait_holding(h), "the first checkpoint's flush was never reached");
        } else {
            CHECK(pthread_create(&ws[i].th, NULL, put_one, &ws[i]) == 0);
        }
    }
    for (int i = 0; i < WRITERS; i++) pthread_join(ws[i].th, NULL);
    fault_store_hook(fs, FAULT_FLUSH, NULL, NULL);
    cairn_test_point_set(NULL, NULL);
    CHECK_MSG(!h->timed_out, "the writers did not all queue behind the held checkpoint (%u of %u)",
              h->queued, h->want);
    (void)db;
}

static void group_on(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "group");
    cairn_db *db;
    cairn_store *fs;
    cairn_table *t;
    open_wrapped(url, &db, &fs, &t);
    cairn_db_stats s0, s1;
    CHECK_OK(cairn_db_stats_get(&s0, db));
    unsigned long flush0 = fault_store_calls(fs, FAULT_FLUSH);
    unsigned long cas0 = fault_store_calls(fs, FAULT_REF_CAS);
    writer ws[WRITERS];
    held_round(db, fs, t, ws, false);
    for (int i = 0; i < WRITERS; i++)
        CHECK_MSG(ws[i].rc == CAIRN_OK, "writer %d: %s", i, ws[i].msg);
    CHECK_OK(cairn_db_stats_get(&s1, db));
    /* writer 0's checkpoint, then one carrying the seven that queued behind it */
    CHECK_EQ(s1.checkpoints - s0.checkpoints, 2);
    CHECK_EQ(fault_store_calls(fs, FAULT_FLUSH) - flush0, 2);
    CHECK_EQ(fault_store_calls(fs, FAULT_REF_CAS) - cas0, 2);
    printf("  %s: %d writes in %llu checkpoints, %llu requests\n", kind, WRITERS,
           (unsigned long long)(s1.checkpoints - s0.checkpoints),
           (unsigned long long)(s1.store_requests - s0.store_requests));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    check_reopened(url, WRITERS, NULL);
}

static void failed_flush_on(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "groupfail");
    cairn_db *db;
    cairn_store *fs;
    cairn_table *t;
    open_wrapped(url, &db, &fs, &t);
    writer ws[WRITERS];
    held_round(db, fs, t, ws, true);
    CHECK_MSG(ws[0].rc == CAIRN_OK, "writer 0 (its own checkpoint): %s", ws[0].msg);
    char others[64];
    snprintf(others, sizeof others, "and %d other writes", WRITERS - 2);
    for (int i = 1; i < WRITERS; i++) {
        CHECK_MSG(ws[i].rc == CAIRN_EIO, "writer %d should have failed with the flush: %d %s", i,
                  ws[i].rc, ws[i].msg);
        CHECK_MSG(strstr(ws[i].msg, "nothing of this write was published") &&
                  strstr(ws[i].msg, others) && strstr(ws[i].msg, "injected fault"),
                  "writer %d: %s", i, ws[i].msg);
    }
    /* nothing of the failed writes shows on the handle; the rest does */
    CHECK(has_key(t, "before"));
    check_writers(t, 1, "on the handle");
    CHECK_OK(cairn_put(t, "after", 5, "written", 7)); /* the handle writes on */
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    check_reopened(url, 1, "after");
}

/* The working ref's move goes through but its answer is lost (the fault store forwards the
 * compare-and-swap, then reports CAIRN_EIO, as a timeout would): the checkpoint reads the ref
 * back, finds its own record, and the write is acknowledged; the handle writes on from it. */
static void lost_answer_on(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "grouplost");
    cairn_db *db;
    cairn_store *fs;
    cairn_table *t;
    open_wrapped(url, &db, &fs, &t);
    fault_store_arm(fs, &(fault_spec){ FAULT_REF_CAS, 1, CAIRN_EIO, false, true });
    CHECK_OK(cairn_put(t, "w000", 4, "w000", 4)); /* published, so acknowledged */
    CHECK_EQ(fault_store_injected(fs), 1);
    CHECK_OK(cairn_put(t, "after", 5, "written", 7)); /* from the state it published */
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    check_reopened(url, 1, "after");
}

/* From the call the hook sees on: every ref read fails (the working ref cannot be read back). */
static void fail_ref_reads(fault_method m, unsigned long n, void *arg)
{
    (void)m;
    (void)n;
    fault_store_arm(arg, &(fault_spec){ FAULT_REF_GET, 1, CAIRN_EIO, true, false });
}

/* One put whose checkpoint fails at `at` while the working ref cannot be read back (every ref
 * read fails from that call on):
 * - at FAULT_FLUSH, before any move of the working ref is sent: the writer hears that nothing
 *   of its write was published (it was told that it may or may not have been, since the
 *   read-back decided it: only repo_publish knows that the move was never sent); the handle
 *   writes on, and the write is not there after reopening;
 * - at FAULT_REF_CAS, the move happening and its answer lost: then, and only then, the writer
 *   hears that its write may or may not have been published; it was. */
static void unread_on(const char *kind, fault_method at)
{
    char url[1400];
    ru_url(url, sizeof url, kind, at == FAULT_FLUSH ? "unsent" : "lostunread");
    cairn_db *db;
    cairn_store *fs;
    cairn_table *t;
    open_wrapped(url, &db, &fs, &t);
    fault_store_hook(fs, at, fail_ref_reads, fs);
    fault_store_arm(fs, &(fault_spec){ at, 1, CAIRN_EIO, false, at == FAULT_REF_CAS });
    int rc = cairn_put(t, "w000", 4, "w000", 4);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc < 0 ? cairn_error_last()->message : "");
    fault_store_hook(fs, at, NULL, NULL);
    fault_store_disarm(fs);
    CHECK_EQ(rc, CAIRN_EIO);
    bool sent = at == FAULT_REF_CAS;
    CHECK_MSG(sent ? strstr(msg, "may or may not have been published") != NULL
                   : strstr(msg, "nothing of this write was published") &&
                         !strstr(msg, "may or may not"),
              "%s", msg);
    if (!sent) {
        check_writers(t, 0, "on the handle");
        CHECK_OK(cairn_put(t, "after", 5, "written", 7));
    }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    check_reopened(url, sent ? 1 : 0, sent ? NULL : "after"); /* (sent: it had been) */
}

/* ---- two processes ---- */

typedef struct pwriter {
    cairn_table *t;
    int proc, thread, fd;
    int rc;
    unsigned conflicts;
    char msg[1024];
} pwriter;

static void pkey(char *out, size_t n, int proc, int thread, int i)
{
    snprintf(out, n, "p%d-t%d-%03d", proc, thread, i);
}

/* Puts PROC_WRITES keys, each retried on a lost compare-and-swap (the handle goes on from the
 * other process's state); each acknowledged key's number is written to fd. */
static void *proc_thread(void *arg)
{
    pwriter *p = arg;
    for (int i = 0; i < PROC_WRITES && p->rc == CAIRN_OK;) {
        char k[48];
        pkey(k, sizeof k, p->proc, p->thread, i);
        int rc = cairn_put(p->t, k, strlen(k), k, strlen(k));
        if (rc == CAIRN_ECONFLICT && p->conflicts++ < CONFLICT_RETRIES) continue;
        if (rc < 0) {
            p->rc = rc;
            snprintf(p->msg, sizeof p->msg, "%s", cairn_error_last()->message);
            break;
        }
        int32_t v = (p->proc * THREADS + p->thread) * 1000 + i;
        if (write(p->fd, &v, sizeof v) != sizeof v) p->rc = CAIRN_EIO;
        i++;
    }
    return NULL;
}

/* One writer process: opens the repository, says so on ready, waits for a byte on go (both
 * processes start writing together), then writes from THREADS threads. */
static void proc_child(const char *url, int proc, int fd, int ready, int go)
{
    cairn_db *db;
    cairn_table *t;
    if ((cairn_open)(&db, url, NULL) < 0 ||
        cairn_table_open(&t, db, "shared", CAIRN_TABLE_CREATE) < 0) {
        fprintf(stderr, "process %d: %s\n", proc, cairn_error_last()->message);
        _exit(12);
    }
    char c = 'r';
    if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1) _exit(15);
    pwriter ps[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ps[i] = (pwriter){ t, proc, i, fd, CAIRN_OK, 0, "" };
        if (pthread_create(&th[i], NULL, proc_thread, &ps[i]) != 0) _exit(13);
    }
    int bad = 0;
    unsigned conflicts = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        conflicts += ps[i].conflicts;
        if (ps[i].rc < 0) {
            fprintf(stderr, "process %d thread %d: %s\n", proc, i, ps[i].msg);
            bad = 1;
        }
    }
    printf("  process %d: %u writes lost the compare-and-swap and were written again\n", proc,
           conflicts);
    fflush(stdout);
    cairn_table_close(t);
    _exit((cairn_close)(db) == CAIRN_OK && !bad ? 0 : 14);
}

static void two_processes_on(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "twoproc");
    cairn_db *db = test_open_repo(url);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "shared", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "start", 5, "", 0));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    int fds[2], ready[2], go[2];
    CHECK(pipe(fds) == 0 && pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid[2];
    for (int p = 0; p < 2; p++) {
        pid[p] = test_fork();
        CHECK(pid[p] >= 0);
        if (pid[p] == 0) {
            close(fds[0]);
            proc_child(url, p, fds[1], ready[1], go[0]);
        }
    }
    close(fds[1]);
    char c;
    for (int p = 0; p < 2; p++) CHECK(read(ready[0], &c, 1) == 1); /* both open */
    CHECK(write(go[1], "gg", 2) == 2);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    bool acked[2 * THREADS][PROC_WRITES];
    memset(acked, 0, sizeof acked);
    int32_t v;
    unsigned n = 0;
    while (read(fds[0], &v, sizeof v) == sizeof v) {
        acked[v / 1000][v % 1000] = true;
        n++;
    }
    close(fds[0]);
    for (int p = 0; p < 2; p++) {
        int status = 0;
        CHECK(waitpid(pid[p], &status, 0) == pid[p]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d: status %d", p,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    CHECK_EQ(n, 2 * THREADS * PROC_WRITES);
    CHECK_OK(cairn_open(&db, url, NULL));
    CHECK_OK(cairn_table_open(&t, db, "shared", 0));
    for (int p = 0; p < 2; p++)
        for (int th = 0; th < THREADS; th++)
            for (int i = 0; i < PROC_WRITES; i++) {
                if (!acked[p * THREADS + th][i]) continue;
                char k[48];
                pkey(k, sizeof k, p, th, i);
                CHECK_MSG(has_key(t, k), "acknowledged %s lost", k);
            }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_OK(ru_verify_clean(url));
}

/* ---- free running ---- */

typedef struct fwriter {
    cairn_table *t;
    int id, rc;
    char msg[1024];
} fwriter;

static void *free_thread(void *arg)
{
    fwriter *f = arg;
    for (int i = 0; i < FREE_WRITES && f->rc == CAIRN_OK; i++) {
        char k[48];
        snprintf(k, sizeof k, "f%d-%03d", f->id, i);
        f->rc = cairn_put(f->t, k, strlen(k), k, strlen(k));
        if (f->rc < 0) snprintf(f->msg, sizeof f->msg, "%s", cairn_error_last()->message);
    }
    return NULL;
}

static void free_running_on(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "groupfree");
    cairn_db *db = test_open_repo(url);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "start", 5, "", 0));
    cairn_db_stats s0, s1;
    CHECK_OK(cairn_db_stats_get(&s0, db));
    fwriter fw[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        fw[i] = (fwriter){ t, i, CAIRN_OK, "" };
        CHECK(pthread_create(&th[i], NULL, free_thread, &fw[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        CHECK_MSG(fw[i].rc == CAIRN_OK, "thread %d: %s", i, fw[i].msg);
    CHECK_OK(cairn_db_stats_get(&s1, db));
    uint64_t ck = s1.checkpoints - s0.checkpoints;
    CHECK(ck >= 1 && ck <= THREADS * FREE_WRITES);
    printf("  %s: %d writes from %d threads in %llu checkpoints\n", kind, THREADS * FREE_WRITES,
           THREADS, (unsigned long long)ck);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_OK(cairn_open(&db, url, NULL));
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    for (int f = 0; f < THREADS; f++)
        for (int i = 0; i < FREE_WRITES; i++) {
            char k[48];
            snprintf(k, sizeof k, "f%d-%03d", f, i);
            CHECK_MSG(has_key(t, k), "acknowledged %s lost", k);
        }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- the cases ---- */

static void group_s3(void) { group_on("s3"); }
static void group_pg(void) { group_on("pg"); }
static void failed_flush_s3(void) { failed_flush_on("s3"); }
static void failed_flush_pg(void) { failed_flush_on("pg"); }
static void lost_answer_s3(void) { lost_answer_on("s3"); }
static void lost_answer_pg(void) { lost_answer_on("pg"); }
static void unsent_unread_s3(void) { unread_on("s3", FAULT_FLUSH); }
static void unsent_unread_pg(void) { unread_on("pg", FAULT_FLUSH); }
static void lost_unread_s3(void) { unread_on("s3", FAULT_REF_CAS); }
static void lost_unread_pg(void) { unread_on("pg", FAULT_REF_CAS); }
static void two_processes_s3(void) { two_processes_on("s3"); }
static void two_processes_pg(void) { two_processes_on("pg"); }
static void free_running_s3(void) { free_running_on("s3"); }
static void free_running_pg(void) { free_running_on("pg"); }

int main(int argc, char **argv)
{
    if (!ru_s3_ready() || !ru_pg_ready()) {
        printf("skipped: needs the fixtures s3_server (CAIRN_S3_ENV) and postgres "
               "(CAIRN_PG_STATE)\n");
        return 77;
    }
    void (*fns[])(void) = { group_s3, group_pg, failed_flush_s3, failed_flush_pg,
                            lost_answer_s3, lost_answer_pg, two_processes_s3, two_processes_pg,
                            free_running_s3, free_running_pg, unsent_unread_s3,
                            unsent_unread_pg, lost_unread_s3, lost_unread_pg };
    static const char names[] = "group_s3, group_pg, failed_flush_s3, failed_flush_pg, "
                                "lost_answer_s3, lost_answer_pg, two_processes_s3, "
                                "two_processes_pg, free_running_s3, free_running_pg, "
                                "unsent_unread_s3, unsent_unread_pg, lost_unread_s3, "
                                "lost_unread_pg";
    return test_main_fns(argc, argv, fns, sizeof fns / sizeof fns[0], names);
}
