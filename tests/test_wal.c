/*
 * test_wal.c - the write-ahead log: replay after reopen, group commit from many threads, torn
 * tails cut, corruption in the middle reported, failures while writing (write error, short
 * write, fsync error, no space for a segment) leave exactly the acknowledged records, rolling,
 * retiring into the oplog, relaxed mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"
#include "store/store.h"
#include "wal/wal.h"
#include "test.h"

typedef struct seen {
    uint64_t seqs[20000];
    char payloads[20000][24];
    size_t n;
} seen;

static int collect(const wal_record *r, void *ctx)
{
    seen *s = ctx;
    if (s->n < 20000) {
        s->seqs[s->n] = r->seq;
        snprintf(s->payloads[s->n], 24, "%.*s", (int)r->len, (const char *)r->payload);
    }
    s->n++;
    return 0;
}

/* The log's files: a files-only store over the test's directory (closed at exit). */
static cairn_store *stores[64];
static size_t nstores;

static void close_stores(void)
{
    for (size_t i = 0; i < nstores; i++) stores[i]->close(stores[i]);
}

static cairn_store *files_at(const char *dir)
{
    cairn_store *st = NULL;
    if (store_files_open(&st, dir, CAIRN_OPEN_CREATE) != CAIRN_OK || nstores == 64) abort();
    if (nstores == 0) atexit(close_stores);
    stores[nstores++] = st;
    return st;
}

static wal_options opts(const char *dir)
{
    wal_options o = { .store = files_at(dir), .dir = "", .segment_bytes = 1 << 16,
                      .retain_segments = 4 };
    return o;
}

/* Fails the next write of the log half-way: half of it written, then the device fails
 * (ENOSPC). Through base/sys: its pwrite replaced for one call. */
static atomic_int short_armed;

static ssize_t short_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (!atomic_exchange(&short_armed, 0)) return pwrite(fd, buf, len, off);
    ssize_t n = pwrite(fd, buf, len / 2, off);
    sys_fault(SYS_WRITE, 1, ENOSPC, false); /* the write of the rest fails */
    return n;
}

enum { FAULT_WRITE, FAULT_SHORT, FAULT_FSYNC, FAULT_ALLOC };

static void arm(int kind)
{
    switch (kind) {
    case FAULT_WRITE: sys_fault(SYS_WRITE, 1, EIO, false); break;
    case FAULT_SHORT:
        atomic_store(&short_armed, 1);
        sys_table_set(&(sys_table){ .pwrite = short_pwrite });
        break;
    case FAULT_FSYNC: sys_fault(SYS_FSYNC, 1, EIO, false); break;
    case FAULT_ALLOC: sys_fault(SYS_ALLOCATE, 1, ENOSPC, false); break;
    }
}

static void disarm(void)
{
    sys_fault_clear();
    sys_table_set(NULL);
    atomic_store(&short_armed, 0);
}

static int append_str(wal *w, const char *s, uint64_t *seq)
{
    return wal_append(w, WAL_BATCH, s, strlen(s), true, NULL, NULL, seq);
}

static void replay_after_reopen(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    CHECK_EQ(last, 0);
    char buf[32];
    for (int i = 1; i <= 3000; i++) { /* rolls several 64 KiB segments */
        snprintf(buf, sizeof buf, "record %d", i);
        uint64_t seq;
        CHECK_OK(append_str(w, buf, &seq));
        CHECK_EQ(seq, i);
    }
    wal_close(w);
    seen *s = calloc(1, sizeof *s);
    CHECK_OK(wal_open(&w, &o, 1000, collect, s, &last));
    CHECK_EQ(last, 3000);
    CHECK_EQ(s->n, 2000); /* only what comes after the applied point */
    CHECK_EQ(s->seqs[0], 1001);
    CHECK_STR(s->payloads[0], "record 1001");
    CHECK_STR(s->payloads[1999], "record 3000");
    uint64_t seq;
    CHECK_OK(append_str(w, "after reopen", &seq));
    CHECK_EQ(seq, 3001);
    wal_close(w);
    free(s);
}

typedef struct tctx {
    wal *w;
    int id;
    int rc;
    uint64_t seqs[500];
} tctx;

static int count_apply(const wal_record *r, void *ctx)
{
    (void)r;
    atomic_fetch_add((atomic_int *)ctx, 1);
    return 0;
}

static atomic_int applied_count, aborted_count;
static uint64_t published_through;
static bool publish_in_order = true;

static void count_abort(const wal_record *r, void *ctx)
{
    (void)r;
    (void)ctx;
    atomic_fetch_add(&aborted_count, 1);
}

static const wal_hooks counting = { count_apply, count_abort };

/* Runs under the log's apply lock: groups publish one at a time, in sequence order. */
static void on_publish(uint64_t through, void *ctx)
{
    (void)ctx;
    if (through <= published_through) publish_in_order = false;
    published_through = through;
}

static void *writer(void *arg)
{
    tctx *t = arg;
    char buf[32];
    for (int i = 0; i < 500 && t->rc == 0; i++) {
        snprintf(buf, sizeof buf, "t%d-%d", t->id, i);
        t->rc = wal_append(t->w, WAL_BATCH, buf, strlen(buf), true, &counting, &applied_count,
                           &t->seqs[i]);
    }
    return NULL;
}

static void group_commit_threads(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    o.segment_bytes = 1 << 20;
    o.publish = on_publish;
    published_through = 0;
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    tctx t[8];
    pthread_t th[8];
    atomic_store(&applied_count, 0);
    for (int i = 0; i < 8; i++) {
        t[i] = (tctx){ w, i, 0, { 0 } };
        pthread_create(&th[i], NULL, writer, &t[i]);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) CHECK_OK(t[i].rc);
    CHECK_EQ(atomic_load(&applied_count), 4000);
    CHECK(publish_in_order);
    CHECK_EQ(published_through, 4000);
    wal_stats ws;
    wal_stats_get(w, &ws);
    CHECK_MSG(ws.groups < 4000, "no group commit: %llu groups", (unsigned long long)ws.groups);
    /* every seq once; within a thread, increasing */
    static bool used[4001];
    memset(used, 0, sizeof used);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 500; j++) {
            uint64_t s = t[i].seqs[j];
            CHECK(s >= 1 && s <= 4000 && !used[s]);
            used[s] = true;
            if (j) CHECK(s > t[i].seqs[j - 1]);
        }
    wal_close(w);
    seen *s = calloc(1, sizeof *s);
    CHECK_OK(wal_open(&w, &o, 0, collect, s, &last));
    CHECK_EQ(s->n, 4000);
    for (size_t i = 0; i < s->n; i++) CHECK_EQ(s->seqs[i], i + 1);
    wal_close(w);
    free(s);
}

static char *first_segment(const char *dir)
{
    static char path[4300];
    snprintf(path, sizeof path, "%s/%016x.wal", dir, 1);
    return path;
}

static void poke(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) return;
    if (pwrite(fd, bytes, n, off) != (ssize_t)n) perror("pwrite");
    close(fd);
}

static void torn_tail_is_cut(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    for (int i = 0; i < 10; i++) CHECK_OK(append_str(w, "good record", NULL));
    wal_close(w);
    /* a torn group after the good ones: a group header with junk, as a crash mid-write leaves */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    junk[0] = 0x43, junk[1] = 0x57, junk[2] = 0x41, junk[3] = 0x4c; /* the group magic */
    struct stat sb;
    stat(first_segment(dir), &sb);
    /* the used part ends after 10 groups; find it by scanning from the end of the header */
    long end = 24;
    {
        int fd = open(first_segment(dir), O_RDONLY);
        uint8_t hdr[32];
        for (;;) {
            if (pread(fd, hdr, 32, end) != 32 || (hdr[0] | hdr[1] | hdr[2] | hdr[3]) == 0) break;
            end += 32 + (long)(hdr[8] | hdr[9] << 8 | hdr[10] << 16);
        }
        close(fd);
    }
    poke(first_segment(dir), end, junk, sizeof junk);
    seen *s = calloc(1, sizeof *s);
    CHECK_OK(wal_open(&w, &o, 0, collect, s, &last));
    CHECK_EQ(s->n, 10);
    CHECK_EQ(last, 10);
    uint64_t seq;
    CHECK_OK(append_str(w, "after repair", &seq));
    CHECK_EQ(seq, 11);
    wal_close(w);
    s->n = 0;
    CHECK_OK(wal_open(&w, &o, 0, collect, s, &last));
    CHECK_EQ(s->n, 11);
    CHECK_STR(s->payloads[10], "after repair");
    wal_close(w);
    free(s);
}

static void corruption_in_the_middle_is_reported(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    for (int i = 0; i < 20; i++) CHECK_OK(append_str(w, "durable record", NULL));
    wal_close(w);
    uint8_t bad = 0xee;
    poke(first_segment(dir), 24 + 32 + 21 + 3, &bad, 1); /* inside the first group's payload */
    CHECK_RC(wal_open(&w, &o, 0, NULL, NULL, &last), CAIRN_ECORRUPT);
    CHECK_ERRMSG("damaged although later writes prove it was durable");
    /* the same damage in a sealed segment (a later segment exists) */
    const char *dir2 = test_tmpdir();
    o = opts(dir2);
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    CHECK_OK(append_str(w, "one", NULL));
    uint64_t through;
    CHECK_OK(wal_roll(w, &through));
    CHECK_EQ(through, 1);
    CHECK_OK(append_str(w, "two", NULL));
    wal_close(w);
    poke(first_segment(dir2), 24 + 32 + 21, &bad, 1);
    CHECK_RC(wal_open(&w, &o, 0, NULL, NULL, &last), CAIRN_ECORRUPT);
}

/* A failure while writing fails that call only; what was acknowledged stays, and the log goes
 * on. */
static void write_failures(void)
{
    int kinds[] = { FAULT_WRITE, FAULT_SHORT, FAULT_FSYNC, FAULT_ALLOC };
    for (int k = 0; k < 4; k++) {
        const char *dir = test_tmpdir();
        wal_options o = opts(dir);
        o.segment_bytes = 4096; /* rolls often, so ALLOC faults hit */
        wal *w;
        uint64_t last;
        CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
        int acked = 0, failed = 0;
        char buf[200];
        memset(buf, 'x', sizeof buf);
        for (int i = 0; i < 100; i++) {
            if (i == 40) arm(kinds[k]);
            snprintf(buf, sizeof buf, "rec %d", i);
            buf[strlen(buf)] = 'x';
            int rc = wal_append(w, WAL_BATCH, buf, 150, true, NULL, NULL, NULL);
            if (rc == CAIRN_OK) acked++;
            else {
                failed++;
                CHECK(rc == CAIRN_EIO || rc == CAIRN_ENOSPC);
                CHECK_ERRMSG("write-ahead log");
            }
        }
        disarm();
        CHECK_EQ(failed, 1);
        wal_close(w);
        seen *s = calloc(1, sizeof *s);
        CHECK_OK(wal_open(&w, &o, 0, collect, s, &last));
        CHECK_EQ(s->n, acked); /* exactly the acknowledged records, in order, no gap */
        for (size_t i = 0; i < s->n; i++) CHECK_EQ(s->seqs[i], i + 1);
        wal_close(w);
        free(s);
    }
}

static int count_only(const wal_record *r, void *ctx)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void retire_and_oplog(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    o.retain_segments = 2;
    wal *w;
    uint64_t last, through;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 10; i++) CHECK_OK(append_str(w, "op", NULL));
        CHECK_OK(wal_roll(w, &through));
        CHECK_OK(wal_retire(w, through));
    }
    wal_stats st;
    wal_stats_get(w, &st);
    CHECK_EQ(st.oplog_segments, 2); /* retention */
    CHECK_EQ(st.last_seq, 50);
    int n = 0;
    wal_log_problems lp;
    CHECK_OK(wal_read_log(o.store, "", 0, 0, 0, 0, count_only, &n, &lp));
    CHECK_EQ(lp.damage + lp.kept, 0);
    CHECK_EQ(n, 20); /* the two retained segments' records */
    n = 0;
    CHECK_OK(wal_read_log(o.store, "", 45, 0, 0, 0, count_only, &n, &lp));
    CHECK_EQ(n, 6);
    wal_close(w);
    /* reopening with everything retired: starts after the applied point */
    CHECK_OK(wal_open(&w, &o, 50, NULL, NULL, &last));
    uint64_t seq;
    CHECK_OK(append_str(w, "next", &seq));
    CHECK_EQ(seq, 51);
    wal_close(w);
}

static void relaxed_mode(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    o.sync_interval_ms = 5;
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    for (int i = 0; i < 200; i++)
        CHECK_OK(wal_append(w, WAL_BATCH, "relaxed", 7, false, NULL, NULL, NULL));
    /* the background syncer catches up by itself (a loaded machine may take longer than its
     * interval: wait up to 60 s, which only a syncer that never runs would need) */
    wal_stats st;
    for (int waited = 0; waited < 60000; waited += 10) {
        wal_stats_get(w, &st);
        if (st.synced_seq == 200) break;
        usleep(10000);
    }
    CHECK_EQ(st.synced_seq, 200); /* the syncer caught up */
    wal_close(w);
    int n = 0;
    CHECK_OK(wal_open(&w, &o, 0, count_only, &n, &last));
    CHECK_EQ(n, 200);
    wal_close(w);
}

/* A group whose sync fails after its records were applied: every member fails and each applied
 * record is aborted; the log holds exactly the acknowledged ones. */
typedef struct fctx {
    wal *w;
    int id, acked, failed;
} fctx;

static void *fault_writer(void *arg)
{
    fctx *f = arg;
    char buf[64];
    for (int i = 0; i < 300; i++) {
        if (f->id == 0 && i == 100) arm(FAULT_FSYNC);
        snprintf(buf, sizeof buf, "w%d-%d", f->id, i);
        int rc = wal_append(f->w, WAL_BATCH, buf, strlen(buf), true, &counting, &applied_count,
                            NULL);
        if (rc == CAIRN_OK) f->acked++;
        else f->failed++;
    }
    return NULL;
}

static void failed_group_is_aborted(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    o.segment_bytes = 1 << 20;
    o.publish = on_publish;
    published_through = 0;
    publish_in_order = true;
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    atomic_store(&applied_count, 0);
    atomic_store(&aborted_count, 0);
    fctx f[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (fctx){ w, i, 0, 0 };
        pthread_create(&th[i], NULL, fault_writer, &f[i]);
    }
    int acked = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        acked += f[i].acked;
        failed += f[i].failed;
    }
    disarm();
    CHECK(failed >= 1);
    CHECK_EQ(acked + failed, 1200);
    CHECK_EQ(atomic_load(&applied_count) - atomic_load(&aborted_count), acked);
    if (failed > 1) CHECK_EQ(atomic_load(&aborted_count), failed); /* a group applied, then failed */
    CHECK(publish_in_order);
    CHECK_EQ(published_through, acked);
    wal_close(w);
    seen *s = calloc(1, sizeof *s);
    CHECK_OK(wal_open(&w, &o, 0, collect, s, &last));
    CHECK_EQ(s->n, acked);
    for (size_t i = 0; i < s->n; i++) CHECK_EQ(s->seqs[i], i + 1);
    wal_close(w);
    free(s);
}

/* ---- zeros written ahead of the log never land on records ---- */

#define BIG_THREADS 4
#define BIG_PER 1500

/* Record (thread t, number i): its length and every byte follow from (t, i). */
static size_t big_record(uint8_t *out, int t, int i)
{
    uint64_t x = (uint64_t)t * 1000003u + (uint64_t)i * 7919u + 1;
    size_t n = 64 + (size_t)(x * 2654435761u % 4000);
    for (size_t k = 0; k < n; k++) out[k] = (uint8_t)((x >> (k % 7)) + k);
    out[0] = (uint8_t)t;
    out[1] = (uint8_t)(i & 0xff);
    out[2] = (uint8_t)(i >> 8);
    return n;
}

typedef struct bctx {
    wal *w;
    int id, rc;
} bctx;

static void *big_writer(void *arg)
{
    bctx *b = arg;
    uint8_t buf[4096];
    for (int i = 0; i < BIG_PER && b->rc == 0; i++) {
        size_t n = big_record(buf, b->id, i);
        b->rc = wal_append(b->w, WAL_BATCH, buf, n, i % 3 != 0, NULL, NULL, NULL);
    }
    return NULL;
}

typedef struct bcheck {
    int next[BIG_THREADS];   /* the next record number expected from each thread */
    int bad;
} bcheck;

static int big_check(const wal_record *r, void *ctx)
{
    bcheck *c = ctx;
    uint8_t want[4096];
    const uint8_t *p = r->payload;
    int t = r->len >= 3 ? p[0] : -1;
    if (t < 0 || t >= BIG_THREADS) return c->bad++, 0;
    int i = p[1] | p[2] << 8;
    size_t n = big_record(want, t, i);
    if (i != c->next[t] || r->len != n || memcmp(want, p, n) != 0) c->bad++;
    c->next[t] = i + 1;
    return 0;
}

/* The syncer writes zeros ahead of the log while four threads append records of up to 4 KB
 * (a third of them relaxed) over segments of 1 MiB, so zeroing and appending race all along:
 * every record must replay whole and in each thread's order. */
static void zeros_ahead_never_overwrite_records(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    o.segment_bytes = 1 << 20;
    o.retain_segments = 100;
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    bctx b[BIG_THREADS];
    pthread_t th[BIG_THREADS];
    for (int i = 0; i < BIG_THREADS; i++) {
        b[i] = (bctx){ w, i, 0 };
        pthread_create(&th[i], NULL, big_writer, &b[i]);
    }
    for (int i = 0; i < BIG_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < BIG_THREADS; i++) CHECK_OK(b[i].rc);
    wal_close(w);
    bcheck c;
    memset(&c, 0, sizeof c);
    CHECK_OK(wal_open(&w, &o, 0, big_check, &c, &last));
    CHECK_EQ(last, BIG_THREADS * BIG_PER);
    CHECK_EQ(c.bad, 0);
    for (int i = 0; i < BIG_THREADS; i++) CHECK_EQ(c.next[i], BIG_PER);
    wal_close(w);
}

/* A record of a megabyte or more goes out from its own bytes (wal.c write_direct: headers,
 * payload and padding in three writes, one CRC over them) instead of through the group buffer:
 * it replays byte for byte, between small records, and a length that needs padding pads. */
typedef struct big_seen {
    const uint8_t *want;
    size_t want_len;
    size_t n, big_ok;
    uint64_t big_seq;
} big_seen;

static int big_collect(const wal_record *r, void *ctx)
{
    big_seen *b = ctx;
    b->n++;
    if (r->len == b->want_len && memcmp(r->payload, b->want, r->len) == 0) {
        b->big_ok++;
        b->big_seq = r->seq;
    }
    return 0;
}

static void big_record_replays(void)
{
    const char *dir = test_tmpdir();
    wal_options o = opts(dir);
    wal *w;
    uint64_t last, seq;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    size_t n = (3u << 20) + 5; /* over DIRECT_MIN, and not a multiple of 8 */
    uint8_t *big = malloc(n);
    uint64_t rng = 7;
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(test_rand(&rng) >> 7);
    CHECK_OK(append_str(w, "before", &seq));
    CHECK_OK(wal_append(w, WAL_BATCH, big, n, true, NULL, NULL, &seq));
    CHECK_EQ(seq, 2);
    CHECK_OK(append_str(w, "after", &seq));
    CHECK_EQ(seq, 3);
    wal_close(w);
    big_seen b = { big, n, 0, 0, 0 };
    CHECK_OK(wal_open(&w, &o, 0, big_collect, &b, &last));
    CHECK_EQ(last, 3);
    CHECK_EQ(b.n, 3);
    CHECK_EQ(b.big_ok, 1);
    CHECK_EQ(b.big_seq, 2);
    CHECK_OK(append_str(w, "then more", &seq));
    CHECK_EQ(seq, 4);
    wal_close(w);
    free(big);
}

TEST_MAIN(replay_after_reopen, group_commit_threads, failed_group_is_aborted, torn_tail_is_cut,
          corruption_in_the_middle_is_reported, write_failures, retire_and_oplog, relaxed_mode,
          zeros_ahead_never_overwrite_records, big_record_replays)
