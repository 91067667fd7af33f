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
#include "remote_util.h"
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

static void rereferenced(const char *kind)
{
    char url[1400], local[4200];
    ru_url(url, sizeof url, kind, "gcref");
    snprintf(local, sizeof local, "%s/local-%s", test_tmpdir(), kind);
    cairn_id side;
    make_side(url, true, "side", &side);
    CHECK_OK(cairn_clone(NULL, url, local, NULL)); /* a writer elsewhere, holding side */
    delete_side(url);
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
                            kill_gc_s3,    kill_gc_pg };
    static const char names[] = "two_phases_s3, two_phases_pg, rereferenced_s3, rereferenced_pg, "
                                "kill_gc_s3, kill_gc_pg";
    return test_main_fns(argc, argv, fns, sizeof fns / sizeof fns[0], names);
}
