/*
 * test_gc_phases.c - the two-phase gc of remote stores (repo/gc_remote.c) where it goes wrong,
 * without servers: a memory store behind the fault store, which says it is remote
 * (CAIRN_STORE_CAP_REMOTE), so gc takes the two-phase path; faults are injected through the
 * fault store. test_remote_gc runs the same protocol against the real radosgw and PostgreSQL.
 *
 *   phases              first run records, a run inside the grace changes nothing, a run after
 *                       it deletes exactly the candidates; the record's bytes are as FORMAT.md
 *                       says
 *   cas_lost            the move of gc/pending loses to another gc: CAIRN_ECONFLICT saying so,
 *                       the deletions done stand, nothing reachable is touched, the next run
 *                       goes on
 *   malformed_record    a gc/pending that is not a record is replaced, nothing deleted on its word
 *   lost_candidates     the record names a candidate chunk that is not there: nothing deleted
 *                       on its word, recorded anew, the run after deletes
 *   del_fails           a delete fails part-way: the error is reported, the repository verifies,
 *                       the record stands and the next run finishes the deletions
 *   many_candidates     more candidates than one candidate chunk holds: two chunks, all deleted
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "fault_store.h"
#include "remote_util.h"
#include "store/store.h"
#include "test.h"

#define MAIN_KEYS 3000
#define SIDE_KEYS 3000

/* A repository on a memory store that calls itself remote; *out_fs: the fault store (owned by
 * the db). main has MAIN_KEYS keys; a branch with SIDE_KEYS more was made and deleted. */
static void remote_repo(cairn_db **out_db, cairn_store **out_fs)
{
    cairn_store *mem, *fs;
    CHECK_OK(store_mem_open(&mem));
    CHECK_OK(fault_store_wrap(&fs, mem, true));
    fs->caps |= CAIRN_STORE_CAP_REMOTE;
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    CHECK_OK(test_open_store(&db, fs, &o));
    CHECK_OK(ru_fill(db, "t", 0, MAIN_KEYS, "main"));
    CHECK_OK(test_commit(db, "main", NULL));
    CHECK_OK(cairn_branch_create(db, "side", "main"));
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(ru_fill(db, "t", MAIN_KEYS, MAIN_KEYS + SIDE_KEYS, "side"));
    CHECK_OK(test_commit(db, "side", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_branch_delete(db, "side"));
    *out_fs = fs;
    *out_db = db;
}

static int gc_grace(cairn_db *db, double grace, cairn_gc_stats *out)
{
    cairn_gc_options o = CAIRN_GC_OPTIONS_INIT;
    o.grace_seconds = grace;
    return cairn_gc(out, db, &o);
}

static void check_whole(cairn_db *db)
{
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "main", &n));
    CHECK_EQ(n, MAIN_KEYS);
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_EQ(vs.problems, 0);
}

/* The value of gc/pending into buf (NUL-terminated). */
static void read_pending(cairn_store *fs, char *buf, size_t n)
{
    cairn_buf v = CAIRN_BUF_INIT;
    CHECK_OK(fs->ref_get(fs, &v, "gc/pending"));
    CHECK(v.len < n);
    memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';
    cairn_buf_dispose(&v);
}

static void phases(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_grace(db, 0, &r1));
    CHECK_EQ(r1.two_phase, 1);
    CHECK_EQ(r1.chunks_deleted, 0);
    CHECK(r1.chunks_garbage > 0);
    CHECK_EQ(r1.candidates_recorded, r1.chunks_garbage);
    char val[4200];
    read_pending(fs, val, sizeof val);
    char want[64];
    snprintf(want, sizeof want, "count %llu\n", (unsigned long long)r1.candidates_recorded);
    CHECK(strncmp(val, "cairn gc pending 2\ntime ", 24) == 0);
    CHECK(strstr(val, "\ngen 0\ncount ") != NULL); /* a store without generations: 0 */
    CHECK(strstr(val, want) != NULL);
    const char *list = strstr(val, "list ");
    CHECK(list != NULL);
    cairn_id lid;
    char hex[CAIRN_ID_HEX_SIZE];
    memcpy(hex, list + 5, CAIRN_ID_HEX_SIZE - 1);
    hex[CAIRN_ID_HEX_SIZE - 1] = '\0';
    CHECK_OK(cairn_id_from_hex(&lid, hex));
    CHECK_OK(fs->has(fs, &lid)); /* the candidate chunk is flushed before the ref names it */

    CHECK_OK(gc_grace(db, 3600, &r2));
    CHECK_EQ(r2.chunks_deleted, 0);
    CHECK_EQ(r2.candidates_waiting, r1.candidates_recorded);
    char val2[4200];
    read_pending(fs, val2, sizeof val2);
    CHECK(strcmp(val, val2) == 0); /* untouched: its clock keeps running */

    /* the record as a build before generations wrote it (version 1, no gen line): still read,
     * its candidates deleted as before */
    char v1[4200];
    const char *gen = strstr(val, "gen ");
    const char *after = gen ? strchr(gen, '\n') : NULL;
    CHECK(gen && after);
    snprintf(v1, sizeof v1, "cairn gc pending 1\n%.*s%s", (int)(gen - val - 19), val + 19,
             after + 1);
    CHECK(strncmp(v1, "cairn gc pending 1\ntime ", 24) == 0 && !strstr(v1, "gen "));
    CHECK_OK(fs->ref_cas(fs, "gc/pending", val, strlen(val), v1, strlen(v1)));

    CHECK_OK(gc_grace(db, 0, &r3));
    CHECK_EQ(r3.chunks_deleted, r1.candidates_recorded);
    CHECK_EQ(r3.chunks_after, r3.chunks_before - r3.chunks_deleted + 1); /* + the new record */
    check_whole(db);
}

static void cas_lost(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_grace(db, 0, &r1));
    fault_store_arm(fs, &(fault_spec){ FAULT_REF_CAS, 1, CAIRN_ECONFLICT, false, false });
    CHECK_EQ(gc_grace(db, 0, &r2), CAIRN_ECONFLICT);
    CHECK_ERRMSG("another gc recorded its own candidates");
    fault_store_disarm(fs);
    check_whole(db);
    CHECK_OK(gc_grace(db, 0, &r3)); /* the old record stands: its deletions again, none left */
    CHECK_EQ(r3.chunks_deleted, 0);
    CHECK(r3.candidates_recorded > 0);
    check_whole(db);
}

static void malformed_record(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_grace(db, 0, &r1));
    cairn_buf old = CAIRN_BUF_INIT;
    CHECK_OK(fs->ref_get(fs, &old, "gc/pending"));
    const char junk[] = "cairn gc pending 1\ntime soon\n";
    CHECK_OK(fs->ref_cas(fs, "gc/pending", old.data, old.len, junk, sizeof junk - 1));
    cairn_buf_dispose(&old);
    CHECK_OK(gc_grace(db, 0, &r2));
    CHECK_EQ(r2.chunks_deleted, 0);
    CHECK(r2.candidates_recorded >= r1.candidates_recorded);
    char val[4200];
    read_pending(fs, val, sizeof val);
    CHECK(strstr(val, "count ") != NULL);
    CHECK_OK(gc_grace(db, 0, &r3));
    CHECK(r3.chunks_deleted >= r1.candidates_recorded);
    check_whole(db);
}

static void lost_candidates(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_grace(db, 0, &r1));
    char val[4200];
    read_pending(fs, val, sizeof val);
    const char *list = strstr(val, "list ");
    CHECK(list != NULL);
    /* the record names a chunk that is not there (as if removed by hand) */
    memset(val + (list - val) + 5, 'e', CAIRN_ID_HEX_SIZE - 1);
    cairn_buf old = CAIRN_BUF_INIT;
    CHECK_OK(fs->ref_get(fs, &old, "gc/pending"));
    CHECK_OK(fs->ref_cas(fs, "gc/pending", old.data, old.len, val, strlen(val)));
    cairn_buf_dispose(&old);
    CHECK_OK(gc_grace(db, 0, &r2));
    CHECK_EQ(r2.chunks_deleted, 0);
    /* the same garbage, and the first record's own chunk, which nothing names now */
    CHECK_EQ(r2.candidates_recorded, r1.candidates_recorded + 1);
    CHECK_OK(gc_grace(db, 0, &r3));
    CHECK_EQ(r3.chunks_deleted, r2.candidates_recorded);
    check_whole(db);
}

static void del_fails(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    cairn_gc_stats r1, r2, r3;
    CHECK_OK(gc_grace(db, 0, &r1));
    CHECK(r1.candidates_recorded > 3);
    fault_store_arm(fs, &(fault_spec){ FAULT_DEL, 3, CAIRN_EIO, false, false });
    CHECK_EQ(gc_grace(db, 0, &r2), CAIRN_EIO);
    fault_store_disarm(fs);
    check_whole(db);
    CHECK_OK(gc_grace(db, 0, &r3)); /* two were deleted before the failure */
    CHECK_EQ(r3.chunks_deleted, r1.candidates_recorded - 2);
    check_whole(db);
}

/* More candidates than one candidate chunk holds (65,536): junk put straight into the store. */
static void many_candidates(void)
{
    cairn_store *fs;
    cairn_db *db;
    remote_repo(&db, &fs);
    const int junk = 70000;
    uint64_t rng = test_rng(7);
    for (int i = 0; i < junk; i++) {
        cairn_id k;
        for (int w = 0; w < 4; w++) {
            uint64_t x = test_rand(&rng);
            memcpy(k.bytes + 8 * w, &x, 8);
        }
        CHECK_OK(fs->put(fs, &k, "j", 1));
    }
    CHECK_OK(fs->flush(fs));
    cairn_gc_stats r1, r2;
    CHECK_OK(gc_grace(db, 0, &r1));
    CHECK(r1.candidates_recorded >= (uint64_t)junk);
    char val[4200];
    read_pending(fs, val, sizeof val);
    const char *second = strstr(val, "list ");
    CHECK(second && strstr(second + 1, "list ") != NULL); /* two candidate chunks */
    CHECK_OK(gc_grace(db, 0, &r2));
    CHECK_EQ(r2.chunks_deleted, r1.candidates_recorded);
    check_whole(db);
}

TEST_MAIN(phases, cas_lost, malformed_record, lost_candidates, del_fails, many_candidates)
