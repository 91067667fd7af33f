/*
 * test_gc.c - garbage collection: what it deletes (a deleted branch's unique data, superseded
 * working states, dropped tables) and what it keeps (every branch, tag and commit, reading back
 * exactly as before; every version a snapshot or cursor of the handle pins), that the store
 * shrinks on disk, that writes racing with gc in the same process lose nothing, that a damaged
 * repository makes gc stop before deleting anything, and that SIGKILL at random moments of a gc
 * (seeded, several rounds) leaves a repository that opens, verifies and reads back in full; and
 * that a reader process keeps the version it reads until it is gone.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn/sys/store.h"
#include "db/db.h"
#include "repo/commit.h"
#include "base/hash.h"
#include "repo/pins.h"
#include "fault_store.h"
#include "store/store.h"
#include "test.h"

/* ---- helpers ---- */

static cairn_db *open_url(const char *url)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.lock_timeout_ms = 5000;
    cairn_db *db = NULL;
    if (cairn_open(&db, url, &o) != CAIRN_OK) {
        fprintf(stderr, "open %s: %s\n", url, cairn_error_last()->message);
        exit(1);
    }
    return db;
}

/* A reader process's handle (CAIRN_OPEN_READONLY); cache_bytes 0 = the default. */
static int open_reader(cairn_db **out, const char *url, size_t cache_bytes)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    o.cache_bytes = cache_bytes;
    return cairn_open(out, url, &o);
}

static int commit_msg(cairn_db *db, const char *msg, cairn_id *out)
{
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = msg;
    o.author = "Test <test@example.com>";
    return cairn_commit(out, db, &o);
}

/* Writes keys [from, to) of table as "<prefix>%08d" -> "<tag>-%d-<filler>" in one batch. */
static int fill(cairn_db *db, const char *table, const char *prefix, int from, int to,
                const char *tag)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER);
    if (rc) return rc;
    cairn_batch *b;
    rc = cairn_batch_new(&b, db);
    for (int i = from; rc == CAIRN_OK && i < to; i++) {
        char k[64], v[160];
        int kl = snprintf(k, sizeof k, "%s%08d", prefix, i);
        int vl = snprintf(v, sizeof v, "%s-%d-%0*d", tag, i, 40 + i % 50, i);
        rc = cairn_batch_put(b, t, k, (size_t)kl, v, (size_t)vl);
    }
    if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    return rc;
}

typedef struct digest_ctx {
    cairn_db *db;
    cairn_snapshot *snap;
    uint64_t h, entries;
    int rc;
} digest_ctx;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t x = *h;
    for (size_t i = 0; i < n; i++) x = (x ^ b[i]) * 0x100000001b3ull;
    x = (x ^ n) * 0x100000001b3ull;
    *h = x;
}

static int digest_table(const char *name, void *payload)
{
    digest_ctx *d = payload;
    cairn_table *t;
    mix(&d->h, name, strlen(name));
    int rc = cairn_table_open(&t, d->db, name, CAIRN_TABLE_NAMEONLY);
    cairn_cursor *c = NULL;
    if (rc == CAIRN_OK) rc = cairn_cursor_open(&c, t, d->snap, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(c)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, c);
        mix(&d->h, k, kl);
        mix(&d->h, v, vl);
        d->entries++;
    }
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    cairn_cursor_close(c);
    cairn_table_close(t);
    if (rc) d->rc = rc;
    return rc;
}

/* A hash of every table and entry of a snapshot (or of REV when snap is NULL); 0 on error. */
static uint64_t digest_snap(cairn_db *db, cairn_snapshot *snap, uint64_t *entries)
{
    digest_ctx d = { db, snap, 0xcbf29ce484222325ull, 0, 0 };
    int rc = cairn_table_list(db, snap, digest_table, &d);
    if (rc || d.rc) {
        fprintf(stderr, "digest: %s\n", cairn_error_last()->message);
        return 0;
    }
    if (entries) *entries = d.entries;
    return d.h;
}

static uint64_t digest_rev(cairn_db *db, const char *rev)
{
    cairn_snapshot *s;
    if (cairn_snapshot_open_at(&s, db, rev) != CAIRN_OK) {
        fprintf(stderr, "digest %s: %s\n", rev, cairn_error_last()->message);
        return 0;
    }
    uint64_t h = digest_snap(db, s, NULL);
    cairn_snapshot_close(s);
    return h;
}

/* Bytes of every file under DIR/packs. */
static uint64_t packs_bytes(const char *dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/packs", dir);
    DIR *d = opendir(path);
    uint64_t total = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char f[4600];
        struct stat sb;
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(f, &sb) == 0) total += (uint64_t)sb.st_size;
    }
    if (d) closedir(d);
    return total;
}

static int verify_ok(cairn_db *db, cairn_verify_stats *out)
{
    cairn_verify_stats st;
    int rc = cairn_verify(&st, db, NULL);
    if (rc == CAIRN_OK && out) *out = st;
    return rc;
}

typedef struct commit_list {
    cairn_id ids[256];
    uint64_t digests[256];
    int n;
} commit_list;

static int collect_commit(const cairn_commit_info *i, void *p)
{
    commit_list *l = p;
    if (l->n < 256) l->ids[l->n++] = i->id;
    return 0;
}

/* Every commit reachable from rev, with the digest of its tables. */
static int snapshot_history(cairn_db *db, const char *rev, commit_list *l)
{
    l->n = 0;
    int rc = cairn_log(db, rev, collect_commit, l);
    for (int i = 0; rc == CAIRN_OK && i < l->n; i++) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &l->ids[i]);
        l->digests[i] = digest_rev(db, hex);
        if (!l->digests[i]) rc = CAIRN_ECORRUPT;
    }
    return rc;
}

static bool history_same(cairn_db *db, const commit_list *l)
{
    for (int i = 0; i < l->n; i++) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &l->ids[i]);
        if (digest_rev(db, hex) != l->digests[i]) {
            fprintf(stderr, "commit %s reads back differently\n", hex);
            return false;
        }
    }
    return true;
}

/* ---- what gc deletes and keeps ---- */

static void collects_garbage_keeps_history(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    cairn_id c1, c2, feat;
    CHECK_OK(fill(db, "t", "k", 0, 3000, "v1"));
    CHECK_OK(commit_msg(db, "base", &c1));
    CHECK_OK(cairn_tag_create(db, "v1", NULL));
    /* superseded working states: every write replaces the previous one */
    for (int r = 0; r < 5; r++) CHECK_OK(fill(db, "t", "k", r * 100, r * 100 + 400, "w"));
    /* a table created and dropped without ever being committed */
    CHECK_OK(fill(db, "scratch", "s", 0, 4000, "scratch"));
    CHECK_OK(cairn_table_drop(db, "scratch"));
    CHECK_OK(commit_msg(db, "second", &c2));
    /* a branch with unique data, then deleted */
    CHECK_OK(cairn_branch_create(db, "feature", NULL));
    CHECK_OK(cairn_checkout(db, "feature"));
    CHECK_OK(fill(db, "uniq", "u", 0, 5000, "feature"));
    CHECK_OK(commit_msg(db, "feature work", &feat));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_branch_delete(db, "feature"));
    /* uncommitted working changes on main stay too */
    CHECK_OK(fill(db, "t", "k", 5000, 5100, "pending"));

    commit_list hist;
    CHECK_OK(snapshot_history(db, "main", &hist));
    CHECK_EQ(hist.n, 2);
    uint64_t work_digest = digest_rev(db, "WORKING"), tag = digest_rev(db, "v1");
    CHECK(work_digest && tag);
    cairn_verify_stats vs;
    CHECK_OK(verify_ok(db, &vs));
    CHECK(vs.unreachable > 0);
    uint64_t disk_before = packs_bytes(dir);

    cairn_gc_stats gs;
    cairn_gc_options go = CAIRN_GC_OPTIONS_INIT;
    go.flags = CAIRN_GC_DRY_RUN;
    CHECK_OK(cairn_gc(&gs, db, &go));
    CHECK_EQ(gs.chunks_garbage, vs.unreachable);
    CHECK_EQ(gs.chunks_deleted, 0);
    CHECK_EQ(gs.chunks_after, gs.chunks_before);
    CHECK_EQ(gs.compacted, 0);

    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK_EQ(gs.compacted, 1);
    CHECK_EQ(gs.chunks_deleted, vs.unreachable);
    CHECK_EQ(gs.chunks_after, gs.chunks_before - gs.chunks_deleted);
    CHECK(gs.bytes_after < gs.bytes_before);
    CHECK(gs.packs_rewritten >= 1);
    CHECK(gs.disk_bytes_freed > 0);
    uint64_t disk_after = packs_bytes(dir);
    CHECK_MSG(disk_after < disk_before, "packs: %llu bytes before gc, %llu after",
              (unsigned long long)disk_before, (unsigned long long)disk_after);
    fprintf(stderr, "gc: %llu -> %llu chunks, packs %llu -> %llu bytes on disk, %.3f s\n",
            (unsigned long long)gs.chunks_before, (unsigned long long)gs.chunks_after,
            (unsigned long long)disk_before, (unsigned long long)disk_after, gs.seconds);

    CHECK_OK(verify_ok(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK(history_same(db, &hist));
    CHECK_EQ(digest_rev(db, "WORKING"), work_digest);
    CHECK_EQ(digest_rev(db, "v1"), tag);
    /* the deleted branch's commit is gone with its data */
    CHECK_RC(db->r.store->has(db->r.store, &feat), CAIRN_ENOTFOUND);
    /* gc again: nothing left to collect */
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK_EQ(gs.chunks_garbage, 0);
    /* writes after gc work, including ones that recreate chunks gc deleted */
    CHECK_OK(fill(db, "scratch", "s", 0, 4000, "scratch"));
    CHECK_OK(cairn_table_drop(db, "scratch"));
    CHECK_OK(fill(db, "t", "k", 5000, 5100, "pending"));
    CHECK_OK(cairn_close(db));

    db = open_url(dir);
    CHECK_OK(verify_ok(db, NULL));
    CHECK(history_same(db, &hist));
    CHECK_EQ(digest_rev(db, "WORKING"), work_digest);
    CHECK_OK(cairn_close(db));
}

static void mem_store(void)
{
    cairn_db *db = open_url("mem:");
    CHECK_OK(fill(db, "t", "k", 0, 2000, "a"));
    CHECK_OK(commit_msg(db, "one", NULL));
    CHECK_OK(fill(db, "t", "k", 0, 1000, "b"));
    CHECK_OK(fill(db, "t", "k", 0, 1000, "c"));
    uint64_t work_digest = digest_rev(db, "WORKING"), head = digest_rev(db, "HEAD");
    cairn_gc_stats gs;
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK(gs.chunks_deleted > 0);
    CHECK_EQ(gs.packs_rewritten, 0);
    CHECK_EQ(gs.compacted, 0); /* the mem store cannot compact: gc skips it */
    CHECK_EQ(digest_rev(db, "WORKING"), work_digest);
    CHECK_EQ(digest_rev(db, "HEAD"), head);
    cairn_verify_stats vs;
    CHECK_OK(verify_ok(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK_OK(cairn_close(db));
}

/* Snapshots and cursors opened before gc keep reading the versions they pinned. */
static void pins_snapshots_and_cursors(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 3000, "old"));
    CHECK_OK(fill(db, "gone", "g", 0, 2000, "gone"));
    cairn_snapshot *snap;
    CHECK_OK(cairn_snapshot_open(&snap, db));
    uint64_t entries = 0, pinned = digest_snap(db, snap, &entries);
    CHECK_EQ(entries, 5000);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_cursor *cur;
    CHECK_OK(cairn_cursor_open(&cur, t, NULL, NULL)); /* pins the current version */
    /* replace everything the snapshot sees; nothing of it is reachable from a ref now */
    CHECK_OK(fill(db, "t", "k", 0, 3000, "new"));
    CHECK_OK(cairn_table_drop(db, "gone"));
    cairn_gc_stats gs;
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK(gs.chunks_deleted > 0); /* the creation states in between */
    CHECK_EQ(digest_snap(db, snap, NULL), pinned);
    int n = 0;
    while (cairn_cursor_next(cur) == CAIRN_OK) {
        const void *v;
        size_t vl;
        CHECK_OK(cairn_cursor_get(NULL, NULL, &v, &vl, cur));
        CHECK(vl >= 3 && memcmp(v, "old", 3) == 0);
        n++;
    }
    CHECK_EQ(n, 3000);
    cairn_cursor_close(cur);
    cairn_table_close(t);
    /* released: the next gc collects what only they kept */
    cairn_snapshot_close(snap);
    cairn_gc_stats gs2;
    CHECK_OK(cairn_gc(&gs2, db, NULL));
    CHECK(gs2.chunks_deleted > 0);
    cairn_verify_stats vs;
    CHECK_OK(verify_ok(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK_OK(cairn_close(db));
}

/* A damaged repository: gc reports and deletes nothing. */
static void stops_on_damage(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    cairn_id c1;
    CHECK_OK(fill(db, "t", "k", 0, 500, "a"));
    CHECK_OK(commit_msg(db, "one", &c1));
    CHECK_OK(fill(db, "t", "k", 0, 500, "b"));
    CHECK_OK(commit_msg(db, "two", NULL));
    CHECK_OK(fill(db, "t", "k", 0, 100, "garbage"));
    CHECK_OK(fill(db, "t", "k", 0, 100, "more"));
    cairn_store *st = db->r.store;
    CHECK_OK(st->del(st, &c1));
    CHECK_OK(st->flush(st));
    cache_drop(db->r.cs.cache, &c1);
    cairn_store_stats before, after;
    CHECK_OK(st->stat(st, &before));
    cairn_gc_stats gs;
    CHECK_RC(cairn_gc(&gs, db, NULL), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("before deleting anything");
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &c1);
    CHECK_ERRMSG(hex);
    CHECK_OK(st->stat(st, &after));
    CHECK_EQ(after.chunks, before.chunks);
    /* a malformed ref stops it too */
    CHECK_OK(st->ref_cas(st, "heads/bad", NULL, 0, "nonsense\n", 9));
    CHECK_RC(cairn_gc(&gs, db, NULL), CAIRN_ECORRUPT);
    CHECK_ERRMSG("heads/bad");
    CHECK_OK(cairn_close(db));
    /* read-only handles cannot collect */
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    CHECK_OK(cairn_open(&db, dir, &o));
    CHECK_RC(cairn_gc(&gs, db, NULL), CAIRN_EREADONLY);
    cairn_gc_options bad = CAIRN_GC_OPTIONS_INIT;
    bad.version = 99;
    CHECK_OK(cairn_close(db));
    db = open_url("mem:");
    CHECK_RC(cairn_gc(&gs, db, &bad), CAIRN_EINVAL);
    CHECK_OK(cairn_close(db));
}

/* Every allocation failure is a clean CAIRN_ENOMEM, and leaves a repository that verifies and
 * reads back the same. */
static void alloc_failures(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.read_threads = CAIRN_READ_THREADS_NONE; /* no other thread draws on the failing allocator */
    cairn_db *db;
    CHECK_OK(cairn_open(&db, dir, &o));
    CHECK_OK(fill(db, "t", "k", 0, 1500, "base"));
    CHECK_OK(commit_msg(db, "base", NULL));
    int failures = 0;
    for (long nth = 1;; nth++) {
        CHECK_OK(fill(db, "t", "k", (int)(nth % 1000), (int)(nth % 1000) + 200, nth % 2 ? "x" : "y"));
        uint64_t work_digest = digest_rev(db, "WORKING"), head = digest_rev(db, "HEAD");
        cairn_gc_stats gs;
        cairn_alloc_fail_after(nth);
        int rc = cairn_gc(&gs, db, NULL);
        cairn_alloc_fail_after(0);
        CHECK_MSG(rc == CAIRN_OK || rc == CAIRN_ENOMEM, "allocation %ld failing: gc gave %d: %s",
                  nth, rc, cairn_error_last()->message);
        CHECK_OK(verify_ok(db, NULL));
        CHECK_EQ(digest_rev(db, "WORKING"), work_digest);
        CHECK_EQ(digest_rev(db, "HEAD"), head);
        if (rc == CAIRN_OK) break;
        failures++;
    }
    CHECK(failures > 10);
    CHECK_OK(cairn_close(db));
    CHECK_OK(cairn_open(&db, dir, &o));
    CHECK_OK(verify_ok(db, NULL));
    CHECK_OK(cairn_close(db));
}

/* ---- writes racing with gc in the same process ---- */

typedef struct writer_arg {
    cairn_db *db;
    int n, failed;
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *w = p;
    cairn_table *t;
    if (cairn_table_open(&t, w->db, "race", CAIRN_TABLE_CREATE) != CAIRN_OK) {
        w->failed = 1;
        return NULL;
    }
    for (int i = 0; i < w->n && !w->failed; i++) {
        char k[32], v[64];
        int kl = snprintf(k, sizeof k, "r%06d", i), vl = snprintf(v, sizeof v, "value-%d", i);
        if (cairn_put(t, k, (size_t)kl, v, (size_t)vl) != CAIRN_OK) w->failed = 1;
        if (i % 50 == 49 && commit_msg(w->db, "race", NULL) != CAIRN_OK) w->failed = 1;
    }
    cairn_table_close(t);
    return NULL;
}

static void races_writes(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 2000, "base"));
    writer_arg w = { db, 400, 0 };
    pthread_t th;
    CHECK(pthread_create(&th, NULL, writer_main, &w) == 0);
    int runs = 0;
    cairn_gc_stats gs;
    for (; runs < 200; runs++) {
        CHECK_OK(cairn_gc(&gs, db, NULL));
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        cairn_db_stats ds;
        CHECK_OK(cairn_db_stats_get(&ds, db));
        if (runs > 5 && ds.tables == 2) {
            uint64_t n = 0;
            cairn_table *t;
            CHECK_OK(cairn_table_open(&t, db, "race", 0));
            CHECK_OK(cairn_count(&n, t, NULL, NULL));
            cairn_table_close(t);
            if (n == (uint64_t)w.n) break;
        }
    }
    pthread_join(th, NULL);
    CHECK(!w.failed);
    CHECK_OK(cairn_gc(&gs, db, NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "race", 0));
    for (int i = 0; i < w.n; i++) {
        char k[32], v[64];
        int kl = snprintf(k, sizeof k, "r%06d", i), vl = snprintf(v, sizeof v, "value-%d", i);
        void *got;
        size_t gl;
        CHECK_OK(cairn_get(&got, &gl, t, NULL, k, (size_t)kl));
        CHECK_MEM(got, gl, v, (size_t)vl);
        cairn_free(got);
    }
    cairn_table_close(t);
    cairn_verify_stats vs;
    CHECK_OK(verify_ok(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK_OK(cairn_close(db));
    db = open_url(dir);
    CHECK_OK(verify_ok(db, NULL));
    CHECK_OK(cairn_close(db));
}

/* ---- SIGKILL during gc ---- */

typedef struct expect {
    commit_list hist;
    uint64_t working, tag;
} expect;

/* Adds garbage of every kind to the repository and records what must read back. */
static int make_garbage(const char *dir, int round, expect *e)
{
    cairn_db *db = open_url(dir);
    store_local_set_pack_max(db->r.store, 256 << 10); /* packs that gc will find sparse */
    char branch[32];
    snprintf(branch, sizeof branch, "tmp%d", round);
    int rc = cairn_branch_create(db, branch, NULL);
    if (rc == CAIRN_OK) rc = cairn_checkout(db, branch);
    if (rc == CAIRN_OK) rc = fill(db, "uniq", "u", 0, 30000, branch);
    if (rc == CAIRN_OK) rc = commit_msg(db, "doomed", NULL);
    if (rc == CAIRN_OK) rc = cairn_checkout(db, "main");
    if (rc == CAIRN_OK) rc = cairn_branch_delete(db, branch);
    for (int i = 0; rc == CAIRN_OK && i < 4; i++) { /* overlapping rewrites of a tenth of t */
        int from = (round * 7919) % 180000 + i * 1000;
        rc = fill(db, "t", "k", from, from + 20000, i % 2 ? "odd" : "even");
    }
    if (rc == CAIRN_OK && round % 3 == 0) rc = commit_msg(db, "kept", NULL);
    if (rc == CAIRN_OK) rc = snapshot_history(db, "main", &e->hist);
    if (rc == CAIRN_OK) {
        e->working = digest_rev(db, "WORKING");
        e->tag = digest_rev(db, "v0");
        if (!e->working || !e->tag) rc = CAIRN_ECORRUPT;
    }
    int crc = cairn_close(db);
    return rc ? rc : crc;
}

/* The child: gc with small packs, so that there are many to rewrite. It writes one byte to fd
 * when gc starts and gc's duration (a double) when it ends. Never returns. */
static void gc_child(const char *dir, int fd)
{
    cairn_db *db = open_url(dir);
    store_local_set_pack_max(db->r.store, 256 << 10);
    cairn_gc_stats gs;
    if (write(fd, "g", 1) != 1) _exit(4);
    int rc = cairn_gc(&gs, db, NULL);
    if (rc == CAIRN_OK && write(fd, &gs.seconds, sizeof gs.seconds) != sizeof gs.seconds) _exit(4);
    if (rc == CAIRN_OK) rc = cairn_close(db);
    _exit(rc == CAIRN_OK ? 0 : 3);
}


/* Chunks and pack bytes of a local store, read without taking the writer lock. */
static int store_census(const char *dir, uint64_t *chunks, uint64_t *disk)
{
    cairn_store *st;
    TRY(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    cairn_store_stats ss;
    int rc = st->stat(st, &ss);
    st->close(st);
    *chunks = ss.chunks;
    *disk = packs_bytes(dir);
    return rc;
}

static void kill_during_gc(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    const char *env = getenv("CAIRN_GC_KILL_ROUNDS");
    int rounds = env ? atoi(env) : 12;
    cairn_db *db = open_url(dir);
    store_local_set_pack_max(db->r.store, 256 << 10);
    CHECK_OK(fill(db, "t", "k", 0, 200000, "base"));
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_tag_create(db, "v0", NULL));
    CHECK_OK(cairn_close(db));
    expect e;
    /* one undisturbed run measures how long a gc takes here */
    CHECK_OK(make_garbage(dir, 0, &e));
    double full;
    bool killed;
    CHECK_OK(test_run_killed(gc_child, dir, -1, &full, &killed));
    CHECK(!killed);
    uint64_t rng = test_rng(0x6c);
    int kills = 0, before_delete = 0, after_delete = 0, after_compact = 0;
    for (int round = 1; round <= rounds; round++) {
        CHECK_OK(make_garbage(dir, round, &e));
        uint64_t chunks0, disk0, chunks1, disk1;
        CHECK_OK(store_census(dir, &chunks0, &disk0));
        /* anywhere in gc; every other round late in it, where packs are rewritten */
        double at = (double)(test_rand(&rng) % 1000) / 1000.0;
        at = round % 2 ? at * 1.2 : 0.6 + at * 0.5;
        long delay = (long)(at * full * 1e6);
        CHECK_OK(test_run_killed(gc_child, dir, delay, NULL, &killed));
        kills += killed;
        CHECK_OK(store_census(dir, &chunks1, &disk1));
        if (killed) { /* where the kill landed: before the deletes were flushed, or after */
            if (chunks1 == chunks0) before_delete++;
            else if (disk1 >= disk0) after_delete++;
            else after_compact++;
        }
        db = open_url(dir);
        cairn_verify_stats vs;
        int rc = verify_ok(db, &vs);
        CHECK_MSG(rc == CAIRN_OK, "round %d (killed after %ld us of a %.0f ms gc): verify: %s",
                  round, delay, full * 1e3, cairn_error_last()->message);
        CHECK(history_same(db, &e.hist));
        CHECK_EQ(digest_rev(db, "WORKING"), e.working);
        CHECK_EQ(digest_rev(db, "v0"), e.tag);
        CHECK_OK(cairn_close(db));
    }
    fprintf(stderr, "kill_during_gc: %d rounds, %d killed mid-gc (a gc took %.1f ms): %d "
            "before the deletes were durable, %d after them, %d after packs were deleted\n", rounds,
            kills, full * 1e3, before_delete, after_delete, after_compact);
    /* and a last gc completes and leaves no garbage */
    double secs;
    CHECK_OK(test_run_killed(gc_child, dir, -1, &secs, &killed));
    CHECK(!killed);
    db = open_url(dir);
    cairn_verify_stats vs;
    CHECK_OK(verify_ok(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK(history_same(db, &e.hist));
    CHECK_OK(cairn_close(db));
}

/* A reader process pins the working state it opened: the writer replaces that state (so only the
 * reader still needs its chunks) and collects garbage, and the reader still reads every entry of
 * it. Once the reader is killed, its pin file is removed by the next gc and the old state's
 * chunks go. Without pins the first gc would have deleted them (checked by the chunk counts). */
static void reader_process_pins(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 20000, "old"));
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_close(db));
    int to_child[2], to_parent[2];
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid_t pid = test_fork();
    CHECK(pid >= 0);
    if (pid == 0) { /* the reader: digest, tell, wait, digest again, tell */
        cairn_db *r; /* a small cache, so that its second reading goes to the store again */
        if (open_reader(&r, dir, 64 << 10) != CAIRN_OK) _exit(2);
        uint64_t n1 = 0, n2 = 0, h1 = digest_snap(r, NULL, &n1);
        if (write(to_parent[1], &h1, sizeof h1) != sizeof h1) _exit(3);
        char go;
        if (read(to_child[0], &go, 1) != 1) _exit(4);
        /* a commit made since: reading it misses, and the refresh that follows takes in the
         * writer's deletes (without a pin, the old version's chunks are then gone) */
        cairn_snapshot *s;
        uint64_t nn = 0;
        if (cairn_snapshot_open_at(&s, r, "main") != CAIRN_OK) _exit(7);
        if (digest_snap(r, s, &nn) == 0 || nn != 20000) _exit(8);
        cairn_snapshot_close(s);
        uint64_t h2 = digest_snap(r, NULL, &n2);
        uint64_t res[2] = { h2, n2 };
        if (write(to_parent[1], res, sizeof res) != sizeof res) _exit(5);
        if (read(to_child[0], &go, 1) != 1) _exit(6); /* then waits to be killed */
        _exit(0);
    }
    close(to_parent[1]); /* so that a reader that dies early reads as end of file */
    close(to_child[0]);
    uint64_t h1;
    CHECK(read(to_parent[0], &h1, sizeof h1) == sizeof h1);
    CHECK(h1 != 0);
    /* the writer replaces every value: the old trees are garbage but for the reader */
    db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 20000, "new"));
    CHECK_OK(commit_msg(db, "new", NULL));
    uint64_t c0, c1, c2, d;
    CHECK_OK(store_census(dir, &c0, &d));
    cairn_gc_stats gs;
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK_OK(store_census(dir, &c1, &d));
    CHECK(write(to_child[1], "g", 1) == 1);
    uint64_t res[2];
    CHECK_MSG(read(to_parent[0], res, sizeof res) == sizeof res, "the reader failed");
    CHECK_MSG(res[0] == h1 && res[1] == 20000, "the reader lost its version to gc (%llu entries)",
              (unsigned long long)res[1]);
    /* the reader dies without closing: its pin file stays, unlocked; gc removes it */
    kill(pid, SIGKILL);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    char readers[4300];
    snprintf(readers, sizeof readers, "%s/readers", dir);
    CHECK(test_sh("ls %s/*.pin >/dev/null 2>&1", readers) == 0); /* the dead reader's file */
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK_OK(store_census(dir, &c2, &d));
    CHECK(test_sh("! ls %s/*.pin >/dev/null 2>&1", readers) == 0);
    CHECK_MSG(c2 + 100 < c1, "the old version's chunks stay after its reader died: %llu -> %llu",
              (unsigned long long)c1, (unsigned long long)c2);
    CHECK(c1 <= c0);
    uint64_t n;
    CHECK(digest_snap(db, NULL, &n) != 0 && n == 20000);
    CHECK_OK(cairn_close(db));
    /* a reader that cannot register (readers/ is not a directory) still reads, unpinned */
    CHECK(test_sh("rm -r %s && touch %s", readers, readers) == 0);
    cairn_db *r;
    CHECK_OK(open_reader(&r, dir, 0));
    CHECK(digest_snap(r, NULL, &n) != 0 && n == 20000);
    CHECK_OK(cairn_close(r));
    db = open_url(dir); /* and gc, finding no pin directory to read, says so */
    CHECK_RC(cairn_gc(&gs, db, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("readers");
    CHECK(test_sh("rm %s", readers) == 0);
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK_OK(cairn_close(db));
    close(to_child[1]);
    close(to_parent[0]);
}

/* Pin files left by dead readers of an earlier process with this pid (pids are reused): a new
 * reader registers beside them, gc removes the stale files and keeps the live one. */
static void stale_pin_names(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 100, "v"));
    CHECK_OK(cairn_close(db));
    /* 1,024 empty pins nobody holds, named as this pid's readers were before salted names */
    CHECK(test_sh("mkdir -p %s/readers && cd %s/readers && for i in $(seq 0 1023); do "
                  "printf 'CPIN\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0' > %ld-$i.pin; done",
                  dir, dir, (long)getpid()) == 0);
    cairn_db *r;
    CHECK_OK(open_reader(&r, dir, 0));
    CHECK(test_sh("test $(ls %s/readers/*.pin | wc -l) -eq 1025", dir) == 0);
    db = open_url(dir);
    CHECK_OK(cairn_gc(NULL, db, NULL));
    CHECK(test_sh("test $(ls %s/readers/*.pin | wc -l) -eq 1", dir) == 0); /* the live one */
    uint64_t n;
    CHECK(digest_snap(r, NULL, &n) != 0 && n == 100);
    CHECK_OK(cairn_close(r));
    CHECK(test_sh("! ls %s/readers/*.pin >/dev/null 2>&1", dir) == 0);
    CHECK_OK(cairn_close(db));
}

/* gc reads every live reader's pins, however many each holds: here two reader handles with 17
 * open snapshots each, then 40 ids apiece through the pin API (gc used to overflow its id array
 * when a later file held more ids than the first had left room for). */
static void many_pins_per_reader(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 100, "v"));
    CHECK_OK(commit_msg(db, "one", NULL));
    CHECK_OK(cairn_close(db));
    cairn_db *r[2];
    cairn_snapshot *s[2][17];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(open_reader(&r[i], dir, 0));
        for (int j = 0; j < 17; j++) CHECK_OK(cairn_snapshot_open_at(&s[i][j], r[i], "main"));
    }
    db = open_url(dir);
    CHECK_OK(cairn_gc(NULL, db, NULL));
    CHECK_OK(cairn_close(db));
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 17; j++) cairn_snapshot_close(s[i][j]);
        CHECK_OK(cairn_close(r[i]));
    }
    cairn_store *st; /* the pins of a reader's store */
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    pins *a, *b;
    CHECK_OK(pins_register(&a, st));
    CHECK_OK(pins_register(&b, st));
    cairn_id ids[40];
    for (unsigned i = 0; i < 40; i++) {
        memset(ids[i].bytes, 0, CAIRN_ID_SIZE);
        ids[i].bytes[0] = 1;
        ids[i].bytes[1] = (uint8_t)i;
    }
    CHECK_OK(pins_set(a, ids, 1));
    CHECK_OK(pins_set(b, ids, 40));
    cairn_id *got = NULL;
    size_t n = 0, cap = 0;
    CHECK_OK(pins_collect(st, &got, &n, &cap));
    CHECK_EQ(n, 41);
    /* a file longer than its ids (a shrinking rewrite before its truncate) still decodes */
    uint8_t buf[PINS_HEADER + 3 * CAIRN_ID_SIZE];
    memcpy(buf, "CPIN", 4);
    store_le32(buf + 4, 1);
    store_le32(buf + 8, hash_crc32c(0, ids[0].bytes, CAIRN_ID_SIZE));
    store_le32(buf + 12, 0);
    memcpy(buf + PINS_HEADER, ids[0].bytes, CAIRN_ID_SIZE);
    memset(buf + PINS_HEADER + CAIRN_ID_SIZE, 0xee, 2 * CAIRN_ID_SIZE);
    const uint8_t *p;
    size_t count;
    CHECK_OK(pins_decode(buf, sizeof buf, &p, &count));
    CHECK_EQ(count, 1);
    CHECK_RC(pins_decode(buf, PINS_HEADER + CAIRN_ID_SIZE - 1, &p, &count), CAIRN_ECORRUPT);
    free(got);
    pins_close(a);
    pins_close(b);
    st->close(st);
}

/* Readers that open, read and close over and over while the writer replaces every value,
 * checkpoints and collects garbage in a loop: every open succeeds and every reading is whole.
 * (Before readers pinned and re-read the working ref, a stress like this failed about one open
 * in 2,500: the state just read was collected, or the log moved on.) CAIRN_GC_RACE_SECONDS
 * (default 3). */
#define RACE_KEYS 300 /* small, so that rounds (and races) come fast */

static void readers_race_gc(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    const char *env = getenv("CAIRN_GC_RACE_SECONDS");
    int secs = env ? atoi(env) : 3;
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, RACE_KEYS, "r0"));
    CHECK_OK(cairn_close(db)); /* fork with no engine threads running */
    enum { READERS = 2 };
    pid_t kids[READERS];
    for (int i = 0; i < READERS; i++) {
        kids[i] = test_fork();
        CHECK(kids[i] >= 0);
        if (kids[i] == 0) {
            time_t end = time(NULL) + secs;
            int bad = 0;
            long opens = 0;
            while (time(NULL) < end && bad < 5) {
                cairn_db *r;
                if (open_reader(&r, dir, 64 << 10) != CAIRN_OK) {
                    fprintf(stderr, "reader open: %s\n", cairn_error_last()->message);
                    bad++;
                    continue;
                }
                for (int k = 0; k < 2; k++) {
                    uint64_t n = 0;
                    if (digest_snap(r, NULL, &n) == 0 || n != RACE_KEYS) {
                        fprintf(stderr, "reader read %llu entries\n", (unsigned long long)n);
                        bad++;
                        break;
                    }
                }
                cairn_close(r);
                opens++;
            }
            _exit(bad ? 1 : opens > 0 ? 0 : 2);
        }
    }
    db = open_url(dir);
    time_t end = time(NULL) + secs;
    int rounds = 0;
    while (time(NULL) < end) {
        char tag[16];
        snprintf(tag, sizeof tag, "r%d", ++rounds);
        CHECK_OK(fill(db, "t", "k", 0, RACE_KEYS, tag));
        CHECK_OK(cairn_checkpoint(db));
        if (rounds % 8 == 0) CHECK_OK(cairn_gc(NULL, db, NULL));
    }
    for (int i = 0; i < READERS; i++) {
        int status;
        CHECK(waitpid(kids[i], &status, 0) == kids[i]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d failed (status %d)",
                  i, status);
    }
    printf("  readers_race_gc: %d writer rounds, a gc every 8th\n", rounds);
    CHECK_OK(cairn_close(db));
}

/* Requires table t of r to hold, at key, a value that starts with prefix. */
static void reads_as(cairn_db *r, const char *key, const char *prefix)
{
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, r, "t", 0));
    void *v = NULL;
    size_t vl = 0, pl = strlen(prefix);
    int rc = cairn_get(&v, &vl, t, NULL, key, strlen(key));
    cairn_table_close(t);
    char got[64] = "";
    if (rc == CAIRN_OK) snprintf(got, sizeof got, "%.*s", (int)(vl < 63 ? vl : 63), (char *)v);
    bool ok = rc == CAIRN_OK && vl > pl && memcmp(v, prefix, pl) == 0;
    cairn_free(v);
    CHECK_OK(rc);
    CHECK_MSG(ok, "%s read %s", key, got);
}

/* ---- a race a reader's open must get over ----
 * Between a reader's read of the working ref and its load of that state, the writer writes and
 * checkpoints (retiring the log segment whose records the state needs: segments are small here)
 * and collects (taking the state). The reader's replay then finds records missing: the open must
 * see that the ref moved, load the new state and succeed, with the new values. (Damage, where
 * the ref has not moved, is returned at once: test_verify reader_open_damaged.) */

typedef struct race_ctx {
    cairn_db *writer;
    int fired, rc;
} race_ctx;

static void race_at_ref_read(cairn_test_point_id point, void *payload)
{
    race_ctx *c = payload;
    if (point != CAIRN_TP_READER_REF_READ || c->fired++) return; /* the first read only */
    c->rc = fill(c->writer, "t", "k", 0, 100, "new");
    if (c->rc == CAIRN_OK) c->rc = cairn_checkpoint(c->writer);
    if (c->rc == CAIRN_OK) c->rc = cairn_gc(NULL, c->writer, NULL);
}

static void reader_open_races_writer(void)
{
    char dir[4200], oplog[4300];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.wal_segment_bytes = 64 << 10; /* a checkpoint rolls a segment from 8 KiB on */
    cairn_db *db;
    CHECK_OK(cairn_open(&db, dir, &o));
    CHECK_OK(fill(db, "t", "k", 0, 100, "old"));
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(fill(db, "t", "k", 0, 100, "logged")); /* over 8 KiB of log over that state */
    race_ctx c = { db, 0, CAIRN_OK };
    cairn_test_point_set(race_at_ref_read, &c);
    cairn_db *r;
    int rc = open_reader(&r, dir, 0);
    cairn_test_point_set(NULL, NULL);
    CHECK_OK(c.rc);
    CHECK_EQ(c.fired, 1);
    snprintf(oplog, sizeof oplog, "%s/wal/main/oplog", dir);
    CHECK_MSG(test_sh("ls %s | grep -q wal", oplog) == 0, "the checkpoint retired no segment");
    CHECK_OK(rc);
    reads_as(r, "k00000042", "new-42-");
    CHECK_OK(cairn_close(r));
    CHECK_OK(cairn_close(db));
}

/* ---- a segment retired between a reader's listing of the log and its read ----
 * A checkpoint publishes the working state, then retires the log segments that state holds. A
 * reader that read the new working ref and listed the log before the retirement finds a listed
 * segment gone when it reads it. Its trees hold every record in it: the open must succeed, quietly,
 * with the values of the state it read (not fail, nor warn of damage). The writer's checkpoint
 * runs on a thread and is held between its publish and its retirement until the reader has
 * listed the log (test points). */

enum { RL_ARMED = 1, RL_PUBLISHED, RL_LISTED, RL_RETIRED };

typedef struct retire_race {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state, timed_out;
    cairn_db *writer;
    int ckpt_rc;
} retire_race;

/* waits (mu held) until rr->state is at least want; gives up after 10 s (a missed test point) */
static void rr_wait(retire_race *rr, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (rr->state < want)
        if (pthread_cond_timedwait(&rr->cv, &rr->mu, &until) != 0) {
            rr->timed_out++;
            return;
        }
}

static void rr_set(retire_race *rr, int state)
{
    rr->state = state;
    pthread_cond_broadcast(&rr->cv);
}

static void rr_point(cairn_test_point_id point, void *payload)
{
    retire_race *rr = payload;
    pthread_mutex_lock(&rr->mu);
    if (point == CAIRN_TP_CHECKPOINT_PUBLISHED && rr->state == RL_ARMED) {
        rr_set(rr, RL_PUBLISHED); /* the reader may open now ... */
        rr_wait(rr, RL_LISTED);   /* ... and the retirement waits for its listing */
    } else if (point == CAIRN_TP_READER_LOG_LISTED && rr->state == RL_PUBLISHED) {
        rr_set(rr, RL_LISTED);
        rr_wait(rr, RL_RETIRED);
    } else if (point == CAIRN_TP_CHECKPOINT_END && rr->state == RL_LISTED) {
        rr_set(rr, RL_RETIRED);
    }
    pthread_mutex_unlock(&rr->mu);
}

static void *rr_checkpoint(void *arg)
{
    retire_race *rr = arg;
    rr->ckpt_rc = cairn_checkpoint(rr->writer);
    return NULL;
}

static void reader_open_races_retire(void)
{
    char dir[4200], oplog[4300];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.wal_segment_bytes = 64 << 10; /* a checkpoint rolls a segment from 8 KiB on */
    o.oplog_keep_segments = 1;      /* a retired segment is mostly deleted, not kept in oplog/ */
    cairn_db *db;
    CHECK_OK(cairn_open(&db, dir, &o));
    /* segments sealed under the checkpoint: each fill is over 8 KiB of log, and each
     * checkpoint rolls the segment; the last checkpoint's retirement is the one raced */
    for (int round = 0; round < 3; round++) {
        char tag[16];
        snprintf(tag, sizeof tag, "v%d", round);
        CHECK_OK(fill(db, "t", "k", 0, 100, tag));
        if (round < 2) CHECK_OK(cairn_checkpoint(db));
    }
    retire_race rr = { .state = RL_ARMED, .writer = db };
    pthread_mutex_init(&rr.mu, NULL);
    pthread_cond_init(&rr.cv, NULL);
    test_warnings warned;
    test_count_warnings(&warned);
    cairn_test_point_set(rr_point, &rr);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, rr_checkpoint, &rr) == 0);
    pthread_mutex_lock(&rr.mu);
    rr_wait(&rr, RL_PUBLISHED);
    pthread_mutex_unlock(&rr.mu);
    cairn_db *r = NULL;
    int rc = open_reader(&r, dir, 0);
    char why[600] = "";
    if (rc != CAIRN_OK) snprintf(why, sizeof why, "%s", cairn_error_last()->message);
    pthread_join(th, NULL);
    cairn_test_point_set(NULL, NULL);
    cairn_set_log(NULL, NULL);
    CHECK_OK(rr.ckpt_rc);
    CHECK_EQ(rr.timed_out, 0);
    CHECK_EQ(rr.state, RL_RETIRED); /* every step was taken, in order */
    CHECK_MSG(rc == CAIRN_OK, "the reader's open failed: %s", why);
    CHECK_MSG(warned.n == 0, "%d warning(s), the first: %s", warned.n, warned.first);
    snprintf(oplog, sizeof oplog, "%s/wal/main/oplog", dir);
    CHECK_MSG(test_sh("ls %s | grep -q wal", oplog) == 0, "the checkpoint retired no segment");
    if (r) {
        for (int k = 0; k < 100; k += 33) {
            char key[16];
            snprintf(key, sizeof key, "k%08d", k);
            reads_as(r, key, "v2-");
        }
        CHECK_OK(cairn_close(r));
    }
    pthread_mutex_destroy(&rr.mu);
    pthread_cond_destroy(&rr.cv);
    CHECK_OK(cairn_close(db));
}

/* ---- a reader's view lagging behind the store ----
 * A reader that finds the working state its ref names missing, the ref unchanged, asks again
 * before calling it damage: its view of a store a writer is compacting can lag a moment behind
 * (the race the readers above run into now and then). Here the first chunk read of the open
 * (the working state's record) is made to miss once: the reader must open at the working
 * state, without a warning, and not fall back to the head commit as for damage. */
static void reader_rereads_missing_state(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = open_url(dir);
    CHECK_OK(fill(db, "t", "k", 0, 100, "committed"));
    CHECK_OK(commit_msg(db, "first", NULL));
    CHECK_OK(fill(db, "t", "k", 0, 100, "working"));
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_close(db));
    cairn_store *inner, *fs;
    CHECK_OK(store_local_open(&inner, dir, CAIRN_OPEN_READONLY, 0));
    CHECK_OK(fault_store_wrap(&fs, inner, true));
    fault_store_arm(fs, &(fault_spec){ FAULT_GET, 1, CAIRN_ENOTFOUND, false, false });
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    test_warnings warned;
    test_count_warnings(&warned);
    cairn_db *r;
    int rc = cairn_open_store(&r, fs, &o);
    cairn_set_log(NULL, NULL);
    CHECK_OK(rc);
    CHECK_EQ(fault_store_injected(fs), 1);
    CHECK_MSG(warned.n == 0, "%d warning(s), the first: %s", warned.n, warned.first);
    if (rc != CAIRN_OK) return;
    reads_as(r, "k00000042", "working-");
    CHECK_OK(cairn_close(r));
}

TEST_MAIN(collects_garbage_keeps_history, mem_store, pins_snapshots_and_cursors, stops_on_damage,
          alloc_failures, races_writes, reader_process_pins, stale_pin_names, many_pins_per_reader,
          readers_race_gc, reader_open_races_writer, reader_open_races_retire,
          reader_rereads_missing_state,
          kill_during_gc)
