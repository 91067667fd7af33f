/*
 * test_remote_gc.c - garbage collection of repositories living in a real radosgw (s3) and a
 * real PostgreSQL (the fixtures s3_server and postgres; exit 77 without them): the two phases
 * and the grace period (docs/ARCHITECTURE.md, "gc on a remote store").
 *
 *   two_phases_*        a deleted branch's chunks: the first run records them and frees
 *                       nothing, a run inside the grace changes nothing, a run after it frees
 *                       them (the deleted commit is gone, main reads whole, verify is clean);
 *                       requests and bytes are counted and stay far below the data's
 *   rereferenced_*      between the phases one writer names the deleted commit again and
 *                       another pushes a commit built on it (its push finds most chunks present
 *                       by has): the deleting run keeps everything they reach
 *   writer_gap_*        a writer that starts after the record, pushing a commit built on the
 *                       deleted branch, while the deleting run marks and deletes in the middle
 *                       of its push (from its progress callback, before its ref moves): it
 *                       sends the candidates it needs again instead of trusting has, the
 *                       deletion spares them, and afterwards everything the pushed branch
 *                       reaches is there (verify clean). Fails on a gc without generations.
 *   merge_gap_*         a merge on a handle opened after the record, whose result is the tree
 *                       of the deleted branch (its root and catalog are candidates), while the
 *                       deleting run goes in its middle (from its conflict callback, after it
 *                       read both sides and before it wrote a node): it read the record before
 *                       writing and wrote those again, so the merge commit is whole (verify
 *                       clean). Fails on s3 when exclusive operations do not read the record.
 *   store_gens_*        the store methods under it, with two handles: a candidate written again
 *                       before the deletion is spared (and reported kept), on s3 also one
 *                       written again after the deletion was decided and before its log entry
 *                       (a test hook runs the writer there; reported kept too, so that gc's
 *                       "deleted" is what was removed); one nobody wrote again is deleted
 *   long_writer_*       a db handle open across a deleting run (having read every row, so its
 *                       caches know the chunks) writes again the rows whose chunks the run
 *                       deleted (the same tree, whose root the run removed): the store has
 *                       the root again (has, which the disk cache never answers), verify is
 *                       clean, every row counts. Fails without the writers' side
 *                       (gc_writer_sync and put_through off); before the check by has it
 *                       passed without it, the disk cache serving the deleted nodes.
 *   orphan_pack_s3      a pack object no log entry names (as a writer killed mid-flush leaves):
 *                       a gc inside the grace keeps it, one past it removes it and nothing else
 *   kill_gc_*           gc (both phases, again and again) killed with SIGKILL at seeded random
 *                       moments: every round the repository verifies clean with main whole, and
 *                       runs to the end afterwards free the garbage
 *
 * CAIRN_REMOTE_GC_KILL_ROUNDS sets the rounds of the kill tests (default 8 per store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "base/base.h"
#include "base/hash.h"
#include "remote_util.h"
#include "store/s3_int.h"
#include "store/store.h"
#include "test.h"

#define MAIN_KEYS 100000
#define SIDE_KEYS 20000
#define LONG_GRACE 3600.0

static int gc_with(const char *url, double grace, cairn_gc_stats *out)
{
    cairn_db *db;
    TRY(cairn_open(&db, url, NULL));
    cairn_gc_options o = CAIRN_GC_OPTIONS_INIT;
    o.grace_seconds = grace;
    int rc = cairn_gc(out, db, &o);
    cairn_close(db);
    return rc;
}

/* Makes main (MAIN_KEYS keys, on the first call) and a branch "side" with SIDE_KEYS keys of its
 * own values, committed; *side_out is its commit. The branch stays. */
static void make_side(const char *url, bool first, const char *tag, cairn_id *side_out)
{
    cairn_db *db = test_open_repo(url);
    if (first) {
        CHECK_OK(ru_fill(db, "t", 0, MAIN_KEYS, "main"));
        CHECK_OK(test_commit(db, "main", NULL));
    }
    CHECK_OK(cairn_branch_create(db, "side", "main"));
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(ru_fill(db, "t", MAIN_KEYS, MAIN_KEYS + SIDE_KEYS, tag));
    CHECK_OK(test_commit(db, tag, side_out));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_close(db));
}

static void delete_side(const char *url)
{
    cairn_db *db = test_open_repo(url);
    CHECK_OK(cairn_branch_delete(db, "side"));
    CHECK_OK(cairn_close(db));
}

static void check_main_whole(const char *url)
{
    cairn_db *db = test_open_repo(url);
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "main", &n));
    CHECK_EQ(n, MAIN_KEYS);
    CHECK_OK(cairn_close(db));
}

static int no_commit_cb(const cairn_commit_info *c, void *payload)
{
    (void)c;
    (void)payload;
    return 0;
}

/* ---- the two phases ---- */

static void two_phases(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "gc2p");
    cairn_id side;
    make_side(url, true, "side", &side);
    delete_side(url);

    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_with(url, 0, &r1)); /* records; a first run never deletes */
    fprintf(stderr, "%s run 1: %llu garbage, %llu recorded, %llu requests, %llu bytes in\n",
            kind, (unsigned long long)r1.chunks_garbage,
            (unsigned long long)r1.candidates_recorded, (unsigned long long)r1.requests,
            (unsigned long long)r1.bytes_received);
    CHECK_EQ(r1.two_phase, 1);
    CHECK(r1.chunks_garbage > SIDE_KEYS / 1000);
    CHECK_EQ(r1.candidates_recorded, r1.chunks_garbage);
    CHECK_EQ(r1.chunks_deleted, 0);
    CHECK(r1.chunks_after >= r1.chunks_before);

    CHECK_OK(gc_with(url, LONG_GRACE, &r2)); /* inside the grace: nothing changes */
    CHECK_EQ(r2.chunks_deleted, 0);
    CHECK_EQ(r2.candidates_recorded, 0);
    CHECK_EQ(r2.candidates_waiting, r1.candidates_recorded);
    CHECK_EQ(r2.chunks_after, r2.chunks_before);
    CHECK(r2.pending_age >= 0 && r2.pending_age < LONG_GRACE);

    CHECK_OK(gc_with(url, 0, &r3)); /* past the grace: the candidates go */
    fprintf(stderr, "%s run 3: deleted %llu, chunks %llu -> %llu, bytes %llu -> %llu, packs "
            "rewritten %llu, %llu requests, %llu bytes sent, %llu received\n", kind,
            (unsigned long long)r3.chunks_deleted, (unsigned long long)r3.chunks_before,
            (unsigned long long)r3.chunks_after, (unsigned long long)r3.bytes_before,
            (unsigned long long)r3.bytes_after, (unsigned long long)r3.packs_rewritten,
            (unsigned long long)r3.requests, (unsigned long long)r3.bytes_sent,
            (unsigned long long)r3.bytes_received);
    CHECK_EQ(r3.chunks_deleted, r1.candidates_recorded);
    CHECK(r3.chunks_after < r3.chunks_before);
    CHECK(r3.bytes_after < r3.bytes_before);
    CHECK(r3.requests > 0);
    /* the cost follows the garbage and the indexes, not the data: deletions go in batches (s3:
     * log entries and pack rewrites; postgres: one DELETE per 1000 rows), and far fewer bytes
     * are read than the store holds */
    CHECK(r3.requests < r3.chunks_deleted / 2);
    CHECK(r3.bytes_received < r3.bytes_before / 4);
    if (strcmp(kind, "s3") == 0) {
        CHECK_EQ(r3.compacted, 1);
        CHECK(r3.packs_rewritten > 0);
    }

    cairn_db *db = test_open_repo(url);
    CHECK_EQ(cairn_commit_show(db, &side, no_commit_cb, NULL), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_close(db));
    check_main_whole(url);
    CHECK_OK(ru_verify_clean(url));
}

static void two_phases_s3(void) { two_phases("s3"); }
static void two_phases_pg(void) { two_phases("pg"); }

/* ---- a chunk referenced again between the phases ---- */

/* A repository in the store (url, named by tag) with main and side, a clone of it in local (a
 * writer elsewhere, holding side), then side deleted in the store; *side: its commit. */
static void side_cloned_deleted(const char *kind, const char *tag, char *url, size_t urln,
                                char *local, size_t localn, cairn_id *side)
{
    ru_url(url, urln, kind, tag);
    snprintf(local, localn, "%s/%s-%s", test_tmpdir(), tag, kind);
    make_side(url, true, "side", side);
    CHECK_OK(cairn_clone(NULL, url, local, NULL));
    delete_side(url);
}

static void rereferenced(const char *kind)
{
    char url[1400], local[4200];
    cairn_id side;
    side_cloned_deleted(kind, "gcref", url, sizeof url, local, sizeof local, &side);
    cairn_gc_stats r1, r2;
    CHECK_OK(gc_with(url, 0, &r1));
    CHECK(r1.candidates_recorded > 0);

    /* one writer names the deleted commit again */
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &side);
    cairn_db *db = test_open_repo(url);
    CHECK_OK(cairn_branch_create(db, "again", hex));
    CHECK_OK(cairn_close(db));
    /* another builds on it and pushes: most of its chunks are found present by has */
    db = test_open_repo(local);
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(ru_fill(db, "t", 0, 10, "pushed"));
    cairn_id pushed;
    CHECK_OK(test_commit(db, "on side", &pushed));
    cairn_transfer_stats ts;
    CHECK_OK(cairn_push(&ts, db, "origin", "side", NULL));
    CHECK_OK(cairn_close(db));
    fprintf(stderr, "%s: the push between the phases sent %llu chunks\n", kind,
            (unsigned long long)ts.chunks);
    CHECK(ts.chunks < r1.candidates_recorded);

    CHECK_OK(gc_with(url, 0, &r2));
    CHECK_OK(ru_verify_clean(url));
    db = test_open_repo(url);
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "again", &n));
    CHECK_EQ(n, MAIN_KEYS + SIDE_KEYS);
    CHECK_OK(ru_count(db, "t", "side", &n));
    CHECK_EQ(n, MAIN_KEYS + SIDE_KEYS);
    cairn_id there;
    CHECK_OK(cairn_resolve(&there, db, "side"));
    CHECK(ru_id_eq(&there, &pushed));
    CHECK_OK(cairn_close(db));
}

static void rereferenced_s3(void) { rereferenced("s3"); }
static void rereferenced_pg(void) { rereferenced("pg"); }

/* ---- a writer that starts after the record ---- */

typedef struct gap_run {
    const char *url;
    int calls;
    int gc_rc;
    cairn_gc_stats st;
} gap_run;

/* The push's first progress call (after its first chunks are put, its has answers along the
 * first path taken, its ref not moved yet): the deleting run, on its own handle. */
static void gc_mid_push(const cairn_transfer_stats *ts, void *payload)
{
    gap_run *g = payload;
    (void)ts;
    if (g->calls++ == 0) g->gc_rc = gc_with(g->url, 0, &g->st);
}

static void writer_gap(const char *kind)
{
    char url[1400], local[4200];
    cairn_id side;
    side_cloned_deleted(kind, "gcgap", url, sizeof url, local, sizeof local, &side);
    cairn_gc_stats r1;
    CHECK_OK(gc_with(url, 0, &r1)); /* records side's chunks */
    CHECK(r1.candidates_recorded > 0);

    /* the writer starts now, after the record: a commit on side, pushed */
    cairn_db *db = test_open_repo(local);
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(ru_fill(db, "t", 0, 10, "gap"));
    cairn_id pushed;
    CHECK_OK(test_commit(db, "on side, after the record", &pushed));
    gap_run g = { url, 0, -1, { 0 } };
    cairn_transfer_options o = CAIRN_TRANSFER_OPTIONS_INIT;
    o.progress = gc_mid_push;
    o.payload = &g;
    cairn_transfer_stats ts;
    CHECK_OK(cairn_push(&ts, db, "origin", "side", &o));
    CHECK_OK(cairn_close(db));
    CHECK_OK(g.gc_rc);
    fprintf(stderr, "%s: push after the record sent %llu chunks (%llu candidates); the run in "
            "its middle deleted %llu, spared %llu written again\n", kind,
            (unsigned long long)ts.chunks, (unsigned long long)r1.candidates_recorded,
            (unsigned long long)g.st.chunks_deleted, (unsigned long long)g.st.chunks_spared);
    CHECK(g.calls >= 2);                                   /* mid-push, and at the end */
    CHECK(g.st.chunks_deleted + g.st.chunks_spared > 0);  /* it was past the grace */
    /* Whether the run spares anything depends on how much of the push reached the store before
     * it decided: the transfer gathers leaves into 4 MiB put_many calls and postgres sends rows
     * at the flush, so here (144 chunks) the run decides before either store holds a chunk
     * written again, and the push's chunks come back after the deletion. Sparing itself is
     * asserted by store_gens_* (with two handles, deterministically); this test asserts the
     * outcome the writers' side exists for: the pushed branch is whole afterwards. */
    CHECK(ts.chunks >= g.st.chunks_spared);

    /* everything the pushed branch reaches is there */
    CHECK_OK(ru_verify_clean(url));
    db = test_open_repo(url);
    cairn_id there;
    CHECK_OK(cairn_resolve(&there, db, "side"));
    CHECK(ru_id_eq(&there, &pushed));
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "side", &n));
    CHECK_EQ(n, MAIN_KEYS + SIDE_KEYS);
    CHECK_OK(cairn_close(db));

    /* and the runs after it delete only what is still garbage */
    cairn_gc_stats r3, r4;
    CHECK_OK(gc_with(url, 0, &r3));
    CHECK_OK(gc_with(url, 0, &r4));
    CHECK_OK(ru_verify_clean(url));
    check_main_whole(url);
}

static void writer_gap_s3(void) { writer_gap("s3"); }
static void writer_gap_pg(void) { writer_gap("pg"); }

/* ---- a merge that writes nodes after the record ---- */

#define MERGE_B_KEYS 100 /* "b%05d": before every "key..." of main */

static int put_str(cairn_db *db, const char *key, const char *val)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    int rc = cairn_put(t, key, strlen(key), val, strlen(val));
    cairn_table_close(t);
    return rc;
}

/* On branch `branch` (made from main): the keys of A (main's range extended), of B (keys
 * before main's), and "zz" = zz, as chosen; committed. */
static void branch_with(cairn_db *db, const char *branch, bool a, bool b, const char *zz)
{
    CHECK_OK(cairn_branch_create(db, branch, "main"));
    CHECK_OK(cairn_checkout(db, branch));
    if (a) CHECK_OK(ru_fill(db, "t", MAIN_KEYS, MAIN_KEYS + SIDE_KEYS, "a"));
    for (int i = 0; b && i < MERGE_B_KEYS; i++) {
        char k[16];
        snprintf(k, sizeof k, "b%05d", i);
        CHECK_OK(put_str(db, k, "b"));
    }
    CHECK_OK(put_str(db, "zz", zz));
    CHECK_OK(test_commit(db, branch, NULL));
}

/* ru_verify_clean() on the store itself, not through the disk cache (which keeps a chunk the
 * store deleted: the right bytes, but not proof that the store holds them), as `cairn verify`
 * does. */
static int verify_store_clean(const char *url)
{
    const char *was = getenv("CAIRN_CACHE");
    char keep[64];
    snprintf(keep, sizeof keep, "%s", was ? was : "");
    setenv("CAIRN_CACHE", "off", 1);
    int rc = ru_verify_clean(url);
    if (was) setenv("CAIRN_CACHE", keep, 1);
    else unsetenv("CAIRN_CACHE");
    return rc;
}

/* The merge's conflict (after it read both sides, before it writes a node): the deleting run,
 * on its own handle. */
static int gc_at_conflict(const cairn_conflict *c, void *payload)
{
    gap_run *g = payload;
    (void)c;
    if (g->calls++ == 0) g->gc_rc = gc_with(g->url, 0, &g->st);
    return 0;
}

/* A branch `gone` = main + A + B + zz=mine is deleted and recorded; then, on a handle opened
 * after the record, mine = main + A + zz=mine merges feat = main + B + zz=feat (ours wins zz):
 * the result is gone's tree, so the merge writes nodes gone alone had (its root, its catalog),
 * candidates of the record. The deleting run goes in the middle of the merge, from its conflict
 * callback. The merge must have read the record first and written those again (before, it read
 * it only in a checkpoint with writes to apply, which a merge of a clean state has not): then
 * everything the merge commit reaches is there. */
static void merge_gap(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "gcmerge");
    cairn_db *db = test_open_repo(url);
    CHECK_OK(ru_fill(db, "t", 0, MAIN_KEYS, "main"));
    CHECK_OK(test_commit(db, "main", NULL));
    branch_with(db, "gone", true, true, "mine");
    branch_with(db, "mine", true, false, "mine");
    branch_with(db, "feat", false, true, "feat");
    CHECK_OK(cairn_checkout(db, "mine"));
    CHECK_OK(cairn_branch_delete(db, "gone"));
    CHECK_OK(cairn_close(db));
    cairn_gc_stats r1;
    CHECK_OK(gc_with(url, 0, &r1)); /* records gone's own chunks */
    CHECK(r1.candidates_recorded > 0);

    db = test_open_repo(url); /* a writer that starts after the record, on mine */
    gap_run g = { url, 0, -1, { 0 } };
    cairn_merge_result res;
    CHECK_OK(cairn_merge(&res, db, "feat", CAIRN_MERGE_OURS, gc_at_conflict, &g));
    CHECK_OK(cairn_close(db));
    CHECK_EQ(g.calls, 1);
    CHECK_OK(g.gc_rc);
    fprintf(stderr, "%s: %llu candidates recorded; the run in the merge deleted %llu, spared "
            "%llu written again\n", kind, (unsigned long long)r1.candidates_recorded,
            (unsigned long long)g.st.chunks_deleted, (unsigned long long)g.st.chunks_spared);
    CHECK(g.st.chunks_deleted + g.st.chunks_spared > 0); /* it was past the grace */

    CHECK_OK(verify_store_clean(url)); /* the merge commit's nodes are all in the store */
    db = test_open_repo(url);
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "mine", &n));
    CHECK_EQ(n, MAIN_KEYS + SIDE_KEYS + MERGE_B_KEYS + 1);
    CHECK_OK(cairn_close(db));
    check_main_whole(url);
}

static void merge_gap_s3(void) { merge_gap("s3"); }
static void merge_gap_pg(void) { merge_gap("pg"); }

static int id_cmp3(const void *a, const void *b) { return memcmp(a, b, sizeof(cairn_id)); }

/* Whether a handle opened now finds the chunk (has, and get reads it whole). */
static bool present_fresh(const char *url, const cairn_id *key)
{
    cairn_store *st;
    if (cairn_store_open_url(&st, url, CAIRN_OPEN_READONLY, 0) < 0) return false;
    cairn_buf b = CAIRN_BUF_INIT;
    bool yes = st->has(st, key) == CAIRN_OK && st->get(st, &b, key) == CAIRN_OK;
    cairn_buf_dispose(&b);
    st->close(st);
    cairn_error_clear();
    return yes;
}

/* A handle open across a deleting run writes again what it had written before the run deleted
 * it (its chunk cache still holds those chunks): every chunk must reach the store again. */
static void long_writer(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "gclong");
    cairn_db *h = test_open_repo(url);
    CHECK_OK(ru_fill(h, "t", 0, MAIN_KEYS, "main"));
    CHECK_OK(test_commit(h, "main", NULL));
    CHECK_OK(cairn_branch_create(h, "side", "main"));
    CHECK_OK(cairn_checkout(h, "side"));
    CHECK_OK(ru_fill(h, "t", MAIN_KEYS, MAIN_KEYS + SIDE_KEYS, "side"));
    CHECK_OK(test_commit(h, "side", NULL));
    cairn_table *t; /* read every row back: the chunk cache holds side's nodes */
    CHECK_OK(cairn_table_open(&t, h, "t", 0));
    for (int i = MAIN_KEYS; i < MAIN_KEYS + SIDE_KEYS; i++) {
        char k[32];
        void *v;
        size_t vl;
        snprintf(k, sizeof k, "key%08d", i);
        CHECK_OK(cairn_get(&v, &vl, t, NULL, k, strlen(k)));
        cairn_free(v);
    }
    cairn_id side_root;
    CHECK_OK(cairn_table_root(&side_root, t, NULL));
    cairn_table_close(t);
    CHECK_OK(cairn_checkout(h, "main"));
    delete_side(url); /* elsewhere */
    cairn_gc_stats r1, r2;
    CHECK_OK(gc_with(url, 0, &r1));
    CHECK_OK(gc_with(url, 0, &r2));
    CHECK(r2.chunks_deleted > SIDE_KEYS / 1000);
    CHECK(!present_fresh(url, &side_root)); /* the run deleted side's tree */

    /* the same rows again, on a new branch: the same tree nodes as the deleted ones */
    CHECK_OK(cairn_branch_create(h, "again", "main"));
    CHECK_OK(cairn_checkout(h, "again"));
    CHECK_OK(ru_fill(h, "t", MAIN_KEYS, MAIN_KEYS + SIDE_KEYS, "side"));
    CHECK_OK(test_commit(h, "side again", NULL));
    cairn_id again_root;
    CHECK_OK(cairn_table_open(&t, h, "t", 0));
    CHECK_OK(cairn_table_root(&again_root, t, NULL));
    cairn_table_close(t);
    CHECK(ru_id_eq(&again_root, &side_root)); /* the same tree: every node written again */
    /* in the store itself (has is never answered by the disk cache, which on this machine
     * still holds the deleted nodes and serves them to verify and reads: why this test passed
     * without the writers' side when it checked only those) */
    CHECK(present_fresh(url, &side_root));
    CHECK_OK(ru_verify_clean(url));
    cairn_db *db = test_open_repo(url);
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "again", &n));
    CHECK_EQ(n, MAIN_KEYS + SIDE_KEYS);
    CHECK_OK(cairn_close(db));
    CHECK_OK(cairn_close(h));
    CHECK_OK(ru_verify_clean(url));
}

static void long_writer_s3(void) { long_writer("s3"); }
static void long_writer_pg(void) { long_writer("pg"); }

/* ---- the store's side: generations, candidates, conditional deletes ---- */

/* A chunk put through one handle and flushed: *out, its key. */
static void put_one(cairn_store *st, const char *text, cairn_id *out)
{
    hash_sha256(out, text, strlen(text));
    CHECK_OK(st->put(st, out, text, strlen(text)));
    CHECK_OK(st->flush(st));
}

typedef struct again_ctx {
    cairn_store *w;
    const cairn_id *y;
    int calls;
} again_ctx;

/* s3 test hook: the writer writes y again and flushes, between the deletion's decision and its
 * log entry. */
static void write_again(void *arg, const char *where)
{
    again_ctx *ag = arg;
    if (strcmp(where, "deletions decided") != 0) return;
    ag->calls++;
    CHECK_OK(ag->w->put(ag->w, ag->y, "written again while the deletion is in flight", 45));
    CHECK_OK(ag->w->flush(ag->w));
}

/* Two handles of one store, a gc's (a) and a writer's (w): a candidate the writer wrote again
 * before the deletion is spared and reported kept; on s3 also one written again after the
 * deletion was decided but before its log entry (the entry names the old pack); one nobody
 * wrote again is deleted. */
static void store_gens(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "gcgen");
    cairn_store *a, *w;
    bool s3 = strcmp(kind, "s3") == 0;
    if (s3) /* the s3 store itself, not the disk cache over it: its test hook is set below */
        CHECK_OK(store_s3_open(&a, url, CAIRN_OPEN_CREATE));
    else
        CHECK_OK(cairn_store_open_url(&a, url, CAIRN_OPEN_CREATE, 0));
    CHECK_OK(cairn_store_open_url(&w, url, 0, 0));
    CHECK(a->caps & CAIRN_STORE_CAP_GC_GEN);
    cairn_id x, y, z;
    put_one(a, "written again before the deletion", &x);
    put_one(a, "written again while the deletion is in flight", &y);
    put_one(a, "left alone", &z);
    cairn_id cand[3] = { x, y, z };
    qsort(cand, 3, sizeof *cand, id_cmp3);
    uint64_t gen;
    CHECK_OK(a->gc_gen(a, &gen));

    /* the writer reads the record: has says absent, put writes again */
    CHECK_OK(w->set_candidates(w, cand, 3));
    CHECK_RC(w->has(w, &x), CAIRN_ENOTFOUND);
    int rcs[3];
    CHECK_OK(cairn_store_has_many(w, cand, 3, rcs));
    for (int i = 0; i < 3; i++) CHECK_EQ(rcs[i], CAIRN_ENOTFOUND);
    CHECK_OK(w->put(w, &x, "written again before the deletion", 33));
    CHECK_OK(w->flush(w));
    CHECK_OK(w->has(w, &x));

    bool kept[3] = { false, false, false };
    cairn_id doomed[3] = { x, y, z };
    again_ctx ag = { w, &y, 0 };
    if (s3) { /* y written again when the deletion is decided, its entry not written yet */
        ((s3_store *)a)->test_hook = write_again;
        ((s3_store *)a)->test_hook_arg = &ag;
    }
    CHECK_OK(a->del_older(a, doomed, 3, gen, kept));
    CHECK_EQ(ag.calls, s3 ? 1 : 0);
    CHECK(kept[0]);
    CHECK_EQ(kept[1], s3); /* spared, and said so (gc's "deleted" counts what was removed) */
    CHECK(!kept[2]);
    CHECK_OK(a->flush(a));
    CHECK(present_fresh(url, &x));
    CHECK_EQ(present_fresh(url, &y), strcmp(kind, "s3") == 0);
    CHECK(!present_fresh(url, &z));
    CHECK_OK(w->has(w, &x)); /* the writer's own view follows */
    w->close(w);
    a->close(a);
}

static void store_gens_s3(void) { store_gens("s3"); }
static void store_gens_pg(void) { store_gens("pg"); }

/* ---- orphan pack objects ---- */

/* PUTs obj (below the store's prefix) with body, or GETs it (body NULL): the request's code. */
static int raw_object(const char *url, const char *rel, const cairn_buf *body)
{
    cairn_store *st;
    TRY(store_s3_open(&st, url, 0));
    s3_store *s = (s3_store *)st;
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = body ? "PUT" : "GET";
    r.obj = s3_obj(s, rel);
    if (body) {
        r.body = body->data;
        r.body_len = body->len;
    }
    int rc = s3_http_one(s->http, &s->conf, &r);
    cairn_error_clear();
    s3_req_dispose(&r);
    st->close(st);
    return rc;
}

static int count_obj(const char *rel, uint64_t size, void *p)
{
    (void)rel, (void)size;
    (*(int *)p)++;
    return 0;
}

static int pack_objects(const char *url)
{
    cairn_store *st;
    if (store_s3_open(&st, url, CAIRN_OPEN_READONLY) < 0) return -1;
    int n = 0;
    int rc = s3_list((s3_store *)st, S3_PACK_DIR, NULL, count_obj, &n);
    st->close(st);
    return rc == CAIRN_OK ? n : -1;
}

static void orphan_pack_s3(void)
{
    char url[1400];
    ru_url(url, sizeof url, "s3", "gcorphan");
    make_side(url, true, "side", NULL); /* side stays */
    cairn_gc_stats r0;
    for (int i = 0; i < 2; i++) { /* the old working states: recorded, then deleted */
        CHECK_OK(gc_with(url, 0, &r0));
        CHECK_EQ(r0.orphans_removed, 0);
    }
    int packs = pack_objects(url);
    CHECK(packs > 0);

    /* what a writer killed between uploading a pack and writing its log entry leaves */
    const char *orphan = S3_PACK_DIR "0123456789abcdef0123456789abcdef.pack";
    cairn_buf body = CAIRN_BUF_INIT;
    CHECK_OK(cairn_buf_append(&body, S3_PACK_MAGIC "\1\0\0\0\0\0\0\0", S3_PACK_HEADER_SIZE));
    for (int i = 0; i < 1000; i++) CHECK_OK(cairn_buf_append(&body, "orphan chunk bytes ", 19));
    CHECK_OK(raw_object(url, orphan, &body));
    CHECK_EQ(pack_objects(url), packs + 1);

    cairn_gc_stats r1, r2;
    CHECK_OK(gc_with(url, LONG_GRACE, &r1)); /* younger than the grace: a flush in progress? */
    CHECK_EQ(r1.orphans_removed, 0);
    CHECK_EQ(pack_objects(url), packs + 1);
    CHECK_OK(raw_object(url, orphan, NULL));
    CHECK_OK(gc_with(url, 0, &r2));          /* past it */
    fprintf(stderr, "s3: orphan pack removed: %llu objects, %llu bytes\n",
            (unsigned long long)r2.orphans_removed, (unsigned long long)r2.orphan_bytes);
    CHECK_EQ(r2.orphans_removed, 1);
    CHECK_EQ(r2.orphan_bytes, body.len);
    CHECK_EQ(raw_object(url, orphan, NULL), CAIRN_ENOTFOUND);
    CHECK(pack_objects(url) <= packs); /* (compaction may drop a pack the gc emptied) */
    cairn_buf_dispose(&body);
    check_main_whole(url);
    CHECK_OK(ru_verify_clean(url));
}

/* ---- SIGKILL of gc ---- */

static int kill_rounds(void) { return ru_env_rounds("CAIRN_REMOTE_GC_KILL_ROUNDS", 8); }

/* Both phases, three times over: a kill lands anywhere in recording, deleting, compacting. */
static int gc_child(const char *url)
{
    cairn_gc_stats st;
    for (int i = 0; i < 3; i++) TRY(gc_with(url, 0, &st));
    return CAIRN_OK;
}

static void kill_gc(const char *kind)
{
    char url[1400];
    ru_url(url, sizeof url, kind, "gckill");
    uint64_t rng = test_rng(31);
    int killed = 0;
    double secs = 0;
    for (int round = 0; round <= kill_rounds(); round++) { /* round 0 measures */
        char tag[32];
        snprintf(tag, sizeof tag, "side%d", round);
        make_side(url, round == 0, tag, NULL);
        delete_side(url);
        ru_kill_round(gc_child, url, round, &secs, &rng, &killed);
        if (round == 0) continue;
        check_main_whole(url);
        CHECK_OK(ru_verify_clean(url));
    }
    /* runs to the end free what the killed ones left */
    cairn_gc_stats st;
    for (int i = 0; i < 3; i++) CHECK_OK(gc_with(url, 0, &st));
    CHECK(st.chunks_garbage <= 2);
    check_main_whole(url);
    CHECK_OK(ru_verify_clean(url));
    fprintf(stderr, "kill gc (%s): %d rounds, %d killed mid-gc (undisturbed %.3f s); at the end "
            "%llu chunks, %llu garbage\n", kind, kill_rounds(), killed, secs,
            (unsigned long long)st.chunks_after, (unsigned long long)st.chunks_garbage);
}

static void kill_gc_s3(void) { kill_gc("s3"); }
static void kill_gc_pg(void) { kill_gc("pg"); }

int main(int argc, char **argv)
{
    if (!ru_s3_ready() || !ru_pg_ready()) {
        printf("skipped: needs the fixtures s3_server (CAIRN_S3_ENV) and postgres "
               "(CAIRN_PG_STATE)\n");
        return 77;
    }
    void (*fns[])(void) = { two_phases_s3, two_phases_pg, rereferenced_s3, rereferenced_pg,
                            store_gens_s3, store_gens_pg, writer_gap_s3, writer_gap_pg,
                            merge_gap_s3, merge_gap_pg, long_writer_s3, long_writer_pg,
                            orphan_pack_s3, kill_gc_s3, kill_gc_pg };
    static const char names[] = "two_phases_s3, two_phases_pg, rereferenced_s3, rereferenced_pg, "
                                "store_gens_s3, store_gens_pg, writer_gap_s3, writer_gap_pg, "
                                "merge_gap_s3, merge_gap_pg, long_writer_s3, long_writer_pg, "
                                "orphan_pack_s3, kill_gc_s3, kill_gc_pg";
    return test_main_fns(argc, argv, fns, sizeof fns / sizeof fns[0], names);
}
