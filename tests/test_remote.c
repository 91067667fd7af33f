/*
 * test_remote.c - remotes, push, fetch, clone (src/vc/remote.c over src/repo/transfer.c),
 * between local directories:
 *
 *   - a clone of a repository with history (branches, a tag, 120k keys) has every ref equal to
 *     the source's, and verifies clean; it can be written to and pushed back;
 *   - an incremental push after a 10-key change sends at most a small multiple of 10 x tree
 *     depth chunks, in a bounded number of store calls (counted, printed);
 *   - a push that is not a fast-forward is refused with git's wording and moves nothing;
 *     --force replaces; fetch + merge makes it a fast-forward;
 *   - two processes pushing different commits to one branch at once: exactly one wins, the
 *     other is told non-fast-forward;
 *   - SIGKILL of a pushing and of a cloning process at seeded random moments: every chunk the
 *     far side's refs reach is there (walked by the transfer engine itself into a fresh store),
 *     verify is clean, and a retry completes;
 *   - a chunk damaged in the source (in its pack, or on its way: a fault store flips a bit)
 *     stops the push with CAIRN_ECORRUPT naming it; no ref moves;
 *   - remote names, the settings, remote-tracking refs as revisions.
 *
 * CAIRN_REMOTE_KILL_ROUNDS sets the rounds of each kill test (default 20).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "db/db.h"
#include "repo/roots.h"
#include "repo/transfer.h"
#include "store/store.h"
#include "tree/node.h"
#include "tree/tree.h"
#include "fault_store.h"
#include "remote_util.h"
#include "test.h"

#define BIG_KEYS 120000
#define NFF_MSG RU_NFF_MSG

/* ---- helpers ---- */

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", test_tmpdir(), name);
}

/* Puts keys [from, to) of table "t", values tagged with tag, in one batch. */
static int fill(cairn_db *db, int from, int to, const char *tag)
{
    return ru_fill(db, "t", from, to, tag);
}

static int head_of(cairn_db *db, const char *rev, cairn_id *out) { return cairn_resolve(out, db, rev); }

/* The commit branch main of the repository at url is at. */
static int remote_head(const char *url, cairn_id *out)
{
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    TRY(cairn_open(&db, url, &o));
    int rc = cairn_resolve(out, db, "heads/main");
    cairn_close(db);
    return rc;
}

static int verify_clean(const char *url) { return ru_verify_clean(url); }

static bool id_eq(const cairn_id *a, const cairn_id *b) { return memcmp(a->bytes, b->bytes, 32) == 0; }

/* Every chunk that the refs of the store at url reach is present and hashes right: the
 * transfer engine copies all of it into a fresh memory store (it fails on a missing chunk). */
static int closure_ok(const char *url)
{
    cairn_store *st, *mem;
    int rc = cairn_store_open_url(&st, url, CAIRN_OPEN_READONLY, 5000);
    if (rc == CAIRN_ENOTFOUND) return CAIRN_OK; /* nothing there yet */
    TRY(rc);
    repo r;
    TRY(xrepo_attach(&r, st, url, true));
    repo_root *roots = NULL;
    size_t n = 0;
    rc = store_mem_open(&mem);
    if (rc == CAIRN_OK) rc = repo_roots(&r, &roots, &n);
    xfer_root *xr = calloc(n + 1, sizeof *xr);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        if (roots[i].kind == ROOT_BAD) rc = ERR(CAIRN_ECORRUPT, "ref %s: %s", roots[i].ref, roots[i].why);
        xr[i] = (xfer_root){ roots[i].id, roots_walk_what(roots[i].kind) };
    }
    cairn_transfer_stats stats;
    xfer x;
    if (rc == CAIRN_OK) {
        xfer_init(&x, st, mem, &stats, NULL, NULL);
        rc = xfer_copy(&x, xr, n);
        xfer_dispose(&x);
    }
    free(xr);
    repo_roots_free(roots, n);
    if (mem) mem->close(mem);
    xrepo_close(&r);
    return rc;
}

typedef struct refset {
    char names[64][128];
    char vals[64][80];
    size_t lens[64];
    int n;
} refset;

static int add_ref(const char *name, const void *val, size_t len, void *payload)
{
    refset *s = payload;
    if (strncmp(name, "remotes/", 8) == 0 || strcmp(name, "config") == 0) return 0;
    if (s->n == 64 || len > 79) return CAIRN_EINVAL;
    snprintf(s->names[s->n], 128, "%s", name);
    memcpy(s->vals[s->n], val, len);
    s->lens[s->n++] = len;
    return 0;
}

/* The refs of two repositories (but the settings and remote-tracking refs) are equal. */
static int refs_equal(const char *a, const char *b, int *out_n)
{
    refset *s[2];
    const char *urls[2] = { a, b };
    int rc = CAIRN_OK;
    for (int i = 0; i < 2; i++) {
        s[i] = calloc(1, sizeof **s);
        cairn_store *st;
        if (rc == CAIRN_OK) rc = cairn_store_open_url(&st, urls[i], CAIRN_OPEN_READONLY, 5000);
        if (rc == CAIRN_OK) {
            rc = st->ref_list(st, "", add_ref, s[i]);
            st->close(st);
        }
    }
    if (rc == CAIRN_OK && s[0]->n != s[1]->n) rc = ERR(CAIRN_ECONFLICT, "%d refs vs %d", s[0]->n, s[1]->n);
    for (int i = 0; rc == CAIRN_OK && i < s[0]->n; i++)
        if (strcmp(s[0]->names[i], s[1]->names[i]) || s[0]->lens[i] != s[1]->lens[i] ||
            memcmp(s[0]->vals[i], s[1]->vals[i], s[0]->lens[i]))
            rc = ERR(CAIRN_ECONFLICT, "ref %s differs", s[0]->names[i]);
    if (out_n) *out_n = s[0]->n;
    free(s[0]);
    free(s[1]);
    return rc;
}

/* A repository at dir with one commit of keys [0, n) on main. */
static int make_repo(const char *dir, int n) { return ru_make_repo(dir, n); }

/* An empty repository at dir. */
static int make_empty(const char *dir)
{
    cairn_db *db;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    TRY(cairn_open(&db, dir, &o));
    return cairn_close(db);
}

static int count_cb(const char *name, const cairn_id *at, int current, void *payload)
{
    (void)name;
    (void)at;
    (void)current;
    (*(int *)payload)++;
    return 0;
}

/* ---- round trip ---- */

static void on_progress(const cairn_transfer_stats *st, void *payload)
{
    cairn_transfer_stats *seen = payload;
    if (st->chunks < seen->chunks) seen->requests = UINT64_MAX; /* must never go back */
    else *seen = *st;
}

/* A repository with history at src: BIG_KEYS keys over two commits and a tag on main, a branch
 * feature with a commit and uncommitted changes, then a third commit on main. */
static int make_history(const char *src, cairn_id *main_head, cairn_id *feature_head)
{
    cairn_db *db = test_open_repo(src);
    if (!db) return CAIRN_EIO;
    int rc = fill(db, 0, BIG_KEYS / 2, "one");
    if (rc == CAIRN_OK) rc = test_commit(db, "one", NULL);
    if (rc == CAIRN_OK) rc = cairn_tag_create(db, "v1", NULL);
    if (rc == CAIRN_OK) rc = fill(db, BIG_KEYS / 2, BIG_KEYS, "two");
    if (rc == CAIRN_OK) rc = test_commit(db, "two", NULL);
    if (rc == CAIRN_OK) rc = cairn_branch_create(db, "feature", "HEAD~1");
    if (rc == CAIRN_OK) rc = cairn_checkout(db, "feature");
    if (rc == CAIRN_OK) rc = fill(db, 0, 5000, "feature");
    if (rc == CAIRN_OK) rc = test_commit(db, "on feature", NULL);
    if (rc == CAIRN_OK) rc = fill(db, 100, 200, "uncommitted"); /* a working state with changes */
    if (rc == CAIRN_OK) rc = cairn_checkpoint(db);
    if (rc == CAIRN_OK) rc = cairn_checkout(db, "main");
    if (rc == CAIRN_OK) rc = fill(db, 0, 3000, "three");
    if (rc == CAIRN_OK) rc = test_commit(db, "three", NULL);
    if (rc == CAIRN_OK) rc = head_of(db, "main", main_head);
    if (rc == CAIRN_OK) rc = head_of(db, "feature", feature_head);
    int crc = cairn_close(db);
    return rc ? rc : crc;
}

static void clone_round_trip(void)
{
    char src[4200], dst[4200];
    path_of(src, sizeof src, "src");
    path_of(dst, sizeof dst, "dst");
    cairn_id main_head, feature_head;
    CHECK_OK(make_history(src, &main_head, &feature_head));
    cairn_db *db;

    cairn_transfer_stats st, seen = { 0 };
    cairn_transfer_options o = CAIRN_TRANSFER_OPTIONS_INIT;
    o.progress = on_progress;
    o.payload = &seen;
    CHECK_OK(cairn_clone(&st, src, dst, &o));
    CHECK_EQ(seen.chunks, st.chunks); /* the last report is the whole transfer */
    CHECK_EQ(seen.requests, st.requests);
    fprintf(stderr, "clone of %d keys: %llu chunks, %.1f MiB, %llu commits, %llu store calls "
            "(has %llu get %llu put %llu flush %llu ref %llu), %.2f s\n", BIG_KEYS,
            (unsigned long long)st.chunks, (double)st.bytes / 1048576.0,
            (unsigned long long)st.commits, (unsigned long long)st.requests,
            (unsigned long long)st.has_calls, (unsigned long long)st.get_calls,
            (unsigned long long)st.put_calls, (unsigned long long)st.flushes,
            (unsigned long long)st.ref_calls, st.seconds);
    CHECK_EQ(st.commits, 4);
    CHECK(st.chunks > 100);
    int nrefs;
    CHECK_OK(refs_equal(src, dst, &nrefs));
    CHECK(nrefs >= 6); /* HEAD, heads/main, heads/feature, tags/v1, working/main, working/feature */
    CHECK_OK(verify_clean(dst));
    CHECK_OK(closure_ok(dst));

    /* the clone reads the same, has origin and its tracking branches, and can be written */
    db = test_open_repo(dst);
    cairn_id id;
    CHECK_OK(head_of(db, "main", &id));
    CHECK(id_eq(&id, &main_head));
    CHECK_OK(head_of(db, "origin/feature", &id));
    CHECK(id_eq(&id, &feature_head));
    int ntrack = 0;
    CHECK_OK(cairn_remote_branch_list(db, count_cb, &ntrack));
    CHECK_EQ(ntrack, 2);
    char *url;
    CHECK_OK(cairn_remote_url(&url, db, "origin"));
    CHECK_STR(url, src);
    cairn_free(url);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    uint64_t cnt;
    CHECK_OK(cairn_count(&cnt, t, NULL, NULL));
    CHECK_EQ(cnt, BIG_KEYS);
    void *v;
    size_t vl;
    CHECK_OK(cairn_get(&v, &vl, t, NULL, "key00000007", 11));
    CHECK_MEM(v, vl, "three-value-49", 14);
    cairn_free(v);
    cairn_table_close(t);
    CHECK_OK(cairn_checkout(db, "feature")); /* the working state came along */
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_get(&v, &vl, t, NULL, "key00000150", 11));
    CHECK_MEM(v, vl, "uncommitted-value-1050", 22);
    cairn_free(v);
    cairn_table_close(t);
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(fill(db, 7, 8, "from-clone"));
    CHECK_OK(test_commit(db, "from the clone", &id));
    CHECK_OK(cairn_push(&st, db, "origin", NULL, NULL));
    CHECK_EQ(st.commits, 1);
    CHECK_OK(cairn_close(db));
    cairn_id there;
    CHECK_OK(remote_head(src, &there));
    CHECK(id_eq(&there, &id));
    CHECK_OK(verify_clean(src));

    /* a second clone into the same place is refused */
    CHECK_RC(cairn_clone(&st, src, dst, NULL), CAIRN_EEXIST);
    CHECK_ERRMSG("holds a repository already");
    char none[4200];
    path_of(none, sizeof none, "none");
    CHECK_RC(cairn_clone(&st, none, dst, NULL), CAIRN_ENOTFOUND);
}

/* ---- incremental push ---- */

static int tree_depth(cairn_db *db, int *out)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, "t", 0));
    cairn_id root;
    int rc = cairn_table_root(&root, t, NULL);
    cairn_table_close(t);
    chunk *c;
    node n;
    if (rc == CAIRN_OK) rc = node_load(&db->r.cs, &c, &n, &root, -1);
    if (rc == CAIRN_OK) {
        *out = n.level + 1;
        chunk_release(c);
    }
    return rc;
}

/* Changes 10 keys spread over table t and commits. */
static int change_ten(cairn_db *db)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, "t", 0));
    int rc = CAIRN_OK;
    for (int i = 0; rc == CAIRN_OK && i < 10; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%08d", i * (BIG_KEYS / 10) + 17);
        rc = cairn_put(t, k, strlen(k), "changed", 7);
    }
    cairn_table_close(t);
    return rc ? rc : test_commit(db, "ten keys", NULL);
}

static void incremental_push(void)
{
    char local[4200], far[4200], third[4200];
    path_of(local, sizeof local, "local");
    path_of(far, sizeof far, "far");
    path_of(third, sizeof third, "third");
    CHECK_OK(make_empty(far));
    CHECK_OK(make_repo(local, BIG_KEYS));
    cairn_db *db = test_open_repo(local);
    CHECK_OK(cairn_remote_add(db, "origin", far));
    cairn_transfer_stats first, second;
    CHECK_OK(cairn_push(&first, db, "origin", "main", NULL));
    CHECK_EQ(first.commits, 1);
    CHECK(first.chunks > 100);
    CHECK_OK(cairn_clone(NULL, far, third, NULL));

    CHECK_OK(change_ten(db));
    int depth;
    CHECK_OK(tree_depth(db, &depth));
    CHECK_OK(cairn_push(&second, db, "origin", "main", NULL));
    fprintf(stderr, "first push: %llu chunks, %llu store calls; after 10 keys (depth %d): "
            "%llu chunks, %llu bytes, %llu store calls (has %llu get %llu put %llu flush %llu "
            "ref %llu)\n",
            (unsigned long long)first.chunks, (unsigned long long)first.requests, depth,
            (unsigned long long)second.chunks, (unsigned long long)second.bytes,
            (unsigned long long)second.requests, (unsigned long long)second.has_calls,
            (unsigned long long)second.get_calls, (unsigned long long)second.put_calls,
            (unsigned long long)second.flushes, (unsigned long long)second.ref_calls);
    CHECK_EQ(second.commits, 1);
    /* each changed key rewrites at most its path (depth nodes); plus the commit and the
     * catalog: allow twice that for neighbours a boundary shift rewrites */
    CHECK(second.chunks >= 10 + 2);
    CHECK(second.chunks <= (uint64_t)(2 * 10 * depth + 4));
    /* one has and one get batch per node read, a few puts, flushes and ref calls */
    CHECK(second.requests <= (uint64_t)(4 * 10 * depth + 30));
    CHECK(second.present > 0);
    /* pushing again moves nothing */
    CHECK_OK(cairn_push(&second, db, "origin", "main", NULL));
    CHECK_EQ(second.up_to_date, 1);
    CHECK_EQ(second.chunks, 0);
    CHECK_OK(cairn_close(db));
    CHECK_OK(verify_clean(far));

    /* fetch into the third repository moves the same few chunks */
    db = test_open_repo(third);
    cairn_transfer_stats f;
    CHECK_OK(cairn_fetch(&f, db, "origin", NULL));
    fprintf(stderr, "fetch after 10 keys: %llu chunks, %llu store calls\n",
            (unsigned long long)f.chunks, (unsigned long long)f.requests);
    CHECK_EQ(f.commits, 1);
    CHECK(f.chunks <= (uint64_t)(2 * 10 * depth + 4));
    cairn_id a, b;
    CHECK_OK(head_of(db, "origin/main", &a));
    CHECK_OK(remote_head(far, &b));
    CHECK(id_eq(&a, &b));
    CHECK_OK(cairn_close(db));
    CHECK_OK(verify_clean(third));
}

/* ---- non-fast-forward, force, fetch + merge ---- */

static int commit_key(const char *dir, const char *key, const char *val, cairn_id *out)
{
    return ru_commit_key(dir, key, val, out);
}

static int push_dir(const char *dir, unsigned flags, cairn_transfer_stats *st)
{
    return ru_push(dir, flags, st);
}

/* A first push of a table with thousands of leaves: the destination is asked about them in a
 * few large has_many batches (ids are small; each call on an s3 destination that lacks some is
 * a log listing), while frames are read XFER_BATCH at a time. */
static void has_batches(void)
{
    enum { KEYS = 600000 };
    char local[4200], far[4200];
    path_of(local, sizeof local, "local");
    path_of(far, sizeof far, "far");
    CHECK_OK(make_empty(far));
    CHECK_OK(make_repo(local, KEYS));
    cairn_db *db = test_open_repo(local);
    int depth;
    CHECK_OK(tree_depth(db, &depth));
    CHECK_OK(cairn_remote_add(db, "origin", far));
    cairn_transfer_stats st;
    CHECK_OK(cairn_push(&st, db, "origin", "main", NULL));
    CHECK_OK(cairn_close(db));
    fprintf(stderr, "first push of %d keys (depth %d): %llu chunks, has %llu, get %llu\n", KEYS,
            depth, (unsigned long long)st.chunks, (unsigned long long)st.has_calls,
            (unsigned long long)st.get_calls);
    CHECK(st.chunks > 2 * XFER_BATCH);             /* more leaves than one get_many batch */
    CHECK(st.get_calls >= st.chunks / XFER_BATCH); /* frames: XFER_BATCH at a time */
    /* ids: the commit, then per level one batch of up to XFER_HAS_BATCH (the leaves fit) */
    CHECK(st.has_calls <= (uint64_t)depth + 2);
    CHECK_OK(verify_clean(far));
}

static void non_fast_forward(void)
{
    char far[4200], a[4200], b[4200];
    path_of(far, sizeof far, "far");
    path_of(a, sizeof a, "a");
    path_of(b, sizeof b, "b");
    CHECK_OK(make_repo(far, 1000));
    CHECK_OK(cairn_clone(NULL, far, a, NULL));
    CHECK_OK(cairn_clone(NULL, far, b, NULL));
    cairn_id ca, cb, there;
    cairn_transfer_stats st;
    CHECK_OK(commit_key(a, "ka", "1", &ca));
    CHECK_OK(push_dir(a, 0, &st));
    CHECK_OK(commit_key(b, "kb", "1", &cb));
    CHECK_RC(push_dir(b, 0, &st), CAIRN_ECONFLICT);
    CHECK_ERRMSG(NFF_MSG);
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&there, &ca));

    /* fetch + merge: then it is a fast-forward */
    cairn_db *db = test_open_repo(b);
    CHECK_OK(cairn_fetch(&st, db, "origin", NULL));
    CHECK_EQ(st.commits, 1);
    cairn_merge_result mr;
    CHECK_OK(cairn_merge(&mr, db, "origin/main", CAIRN_MERGE_FAIL, NULL, NULL));
    cairn_id merged;
    CHECK_OK(head_of(db, "main", &merged));
    CHECK_OK(cairn_push(&st, db, "origin", NULL, NULL));
    CHECK_OK(cairn_close(db));
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&there, &merged));

    /* a diverged a is refused, then forced */
    CHECK_OK(commit_key(a, "ka2", "2", &ca));
    CHECK_RC(push_dir(a, 0, &st), CAIRN_ECONFLICT);
    CHECK_ERRMSG("non-fast-forward");
    CHECK_OK(push_dir(a, CAIRN_PUSH_FORCE, &st));
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&there, &ca));
    CHECK_OK(verify_clean(far));
    /* the remote's working state followed its branch */
    db = test_open_repo(far);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *v;
    size_t vl;
    CHECK_OK(cairn_get(&v, &vl, t, NULL, "ka2", 3));
    cairn_free(v);
    CHECK_RC(cairn_get(&v, &vl, t, NULL, "kb", 2), CAIRN_ENOTFOUND);
    cairn_table_close(t);
    /* uncommitted changes there refuse a push */
    CHECK_OK(fill(db, 0, 1, "dirty"));
    CHECK_OK(cairn_close(db));
    CHECK_OK(commit_key(a, "ka3", "3", &ca));
    CHECK_RC(push_dir(a, 0, &st), CAIRN_ECONFLICT);
    CHECK_ERRMSG("uncommitted changes");
    CHECK_OK(remote_head(far, &there));
    CHECK(!id_eq(&there, &ca));
}

/* ---- two pushes at once ---- */

static void concurrent_pushes(void)
{
    char far[4200], a[4200], b[4200];
    path_of(far, sizeof far, "far");
    path_of(a, sizeof a, "a");
    path_of(b, sizeof b, "b");
    CHECK_OK(make_repo(far, 2000));
    CHECK_OK(cairn_clone(NULL, far, a, NULL));
    CHECK_OK(cairn_clone(NULL, far, b, NULL));
    ru_concurrent_pushes(far, a, b, 5);
    CHECK_OK(verify_clean(far));
}

/* ---- SIGKILL during push and clone ---- */

static int kill_rounds(void)
{
    const char *e = getenv("CAIRN_REMOTE_KILL_ROUNDS");
    return e && atoi(e) > 0 ? atoi(e) : 20;
}

static char g_far[4200], g_src[4200];

static int push_child(const char *dir)
{
    cairn_transfer_stats st;
    return push_dir(dir, 0, &st);
}

static int clone_child(const char *dst) { return cairn_clone(NULL, g_src, dst, NULL); }

static void kill_push(void)
{
    char far_t[4200], local[4200], local_t[4200];
    path_of(g_far, sizeof g_far, "far");
    path_of(far_t, sizeof far_t, "far-template");
    path_of(local, sizeof local, "local");
    path_of(local_t, sizeof local_t, "local-template");
    CHECK_OK(make_repo(g_far, 40000));
    CHECK_OK(cairn_clone(NULL, g_far, local, NULL));
    cairn_id before, after;
    CHECK_OK(remote_head(g_far, &before));
    cairn_db *db = test_open_repo(local);
    CHECK_OK(fill(db, 20000, 80000, "pushed"));
    CHECK_OK(test_commit(db, "to push", &after));
    CHECK_OK(cairn_close(db));
    CHECK(test_sh("cp -a '%s' '%s' && cp -a '%s' '%s'", g_far, far_t, local, local_t) == 0);
    double secs = ru_timed_child(push_child, local);
    CHECK(secs > 0);
    uint64_t rng = test_rng(11);
    int killed = 0;
    for (int round = 0; round < kill_rounds(); round++) {
        CHECK(test_sh("rm -rf '%s' '%s' && cp -a '%s' '%s' && cp -a '%s' '%s'", g_far, local,
                      far_t, g_far, local_t, local) == 0);
        double delay = secs * 1.3 * (double)(test_rand(&rng) % 1000) / 1000.0;
        int status;
        killed += ru_run_and_kill(push_child, local, delay, &status);
        CHECK_MSG(WIFSIGNALED(status) || WEXITSTATUS(status) == 0, "round %d: push failed", round);
        CHECK_OK(closure_ok(g_far));
        cairn_id there;
        CHECK_OK(remote_head(g_far, &there));
        CHECK_MSG(id_eq(&there, &before) || id_eq(&there, &after), "round %d: the remote's main "
                  "is neither before nor after", round);
        CHECK_OK(verify_clean(g_far));
        CHECK_OK(push_child(local)); /* the retry completes */
        CHECK_OK(remote_head(g_far, &there));
        CHECK(id_eq(&there, &after));
        CHECK_OK(verify_clean(g_far));
    }
    fprintf(stderr, "kill push: %d rounds, %d killed mid-push (undisturbed %.3f s)\n",
            kill_rounds(), killed, secs);
}

static void kill_clone(void)
{
    char dst[4200];
    path_of(g_src, sizeof g_src, "src");
    path_of(dst, sizeof dst, "dst");
    CHECK_OK(make_repo(g_src, 40000));
    cairn_db *db = test_open_repo(g_src);
    CHECK_OK(fill(db, 10000, 30000, "second"));
    CHECK_OK(test_commit(db, "second", NULL));
    CHECK_OK(cairn_branch_create(db, "side", "HEAD~1"));
    CHECK_OK(cairn_close(db));
    double secs = ru_timed_child(clone_child, dst);
    CHECK(secs > 0);
    uint64_t rng = test_rng(12);
    int killed = 0;
    for (int round = 0; round < kill_rounds(); round++) {
        CHECK(test_sh("rm -rf '%s'", dst) == 0);
        double delay = secs * 1.3 * (double)(test_rand(&rng) % 1000) / 1000.0;
        int status;
        killed += ru_run_and_kill(clone_child, dst, delay, &status);
        CHECK_MSG(WIFSIGNALED(status) || WEXITSTATUS(status) == 0, "round %d: clone failed", round);
        CHECK_OK(closure_ok(dst));
        cairn_transfer_stats st;
        int rc = cairn_clone(&st, g_src, dst, NULL);
        /* EEXIST: the killed clone had finished (its HEAD, written last, is there) */
        CHECK_MSG(rc == CAIRN_OK || rc == CAIRN_EEXIST, "round %d: retry: %s", round,
                  cairn_error_last()->message);
        CHECK_OK(refs_equal(g_src, dst, NULL));
        CHECK_OK(verify_clean(dst));
    }
    fprintf(stderr, "kill clone: %d rounds, %d killed mid-clone (undisturbed %.3f s)\n",
            kill_rounds(), killed, secs);
}

/* ---- a damaged chunk in the source ---- */

static void damaged_source_chunk(void)
{
    char far[4200], local[4200];
    path_of(far, sizeof far, "far");
    path_of(local, sizeof local, "local");
    CHECK_OK(make_repo(far, 20000));
    CHECK_OK(cairn_clone(NULL, far, local, NULL));
    cairn_id before;
    CHECK_OK(remote_head(far, &before));
    cairn_db *db = test_open_repo(local);
    CHECK_OK(fill(db, 5000, 5001, "changed"));
    CHECK_OK(test_commit(db, "change", NULL));
    /* the leaf holding the changed key is new: damage its bytes in the pack */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_id root;
    CHECK_OK(cairn_table_root(&root, t, NULL));
    cairn_table_close(t);
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    CHECK_OK(tree_get(&db->r.cs, &root, "key00005000", 11, &leaf, &v, &vl));
    cairn_id bad = leaf->id;
    chunk_release(leaf);
    cairn_store_location loc;
    CHECK_OK(db->r.store->locate(db->r.store, &bad, &loc));
    CHECK_OK(cairn_close(db));
    CHECK(test_sh("printf '\\132' | dd of='%s/%s' bs=1 seek=%llu conv=notrunc status=none", local,
                  loc.name, (unsigned long long)loc.offset + 37 + 20) == 0);
    cairn_transfer_stats st;
    CHECK_RC(push_dir(local, 0, &st), CAIRN_ECORRUPT);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &bad);
    CHECK_ERRMSG(hex);
    fprintf(stderr, "reported: %s\n", cairn_error_last()->message);
    cairn_id there;
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&there, &before));
    CHECK_OK(closure_ok(far));
    CHECK_OK(verify_clean(far));
}

/* Bytes changed on their way from the source (a fault store flips a bit of the first chunk
 * the push reads): the re-hash catches it, names the chunk, and nothing moves. */
static void flipped_in_transit(void)
{
    char far[4200], local[4200];
    path_of(far, sizeof far, "far");
    path_of(local, sizeof local, "local");
    CHECK_OK(make_empty(far));
    CHECK_OK(make_repo(local, 5000));
    cairn_store *inner, *fs;
    CHECK_OK(cairn_store_open_url(&inner, local, 0, 0));
    CHECK_OK(fault_store_wrap(&fs, inner, true));
    cairn_db *db;
    CHECK_OK(cairn_open_store(&db, fs, NULL));
    CHECK_OK(cairn_remote_add(db, "origin", far));
    cairn_id head;
    CHECK_OK(cairn_resolve(&head, db, "heads/main")); /* its reflog entry is cached now */
    fault_store_flip_get(fs, 1, 8 * 40 + 3);          /* the push's first read: the commit */
    CHECK_RC(cairn_push(NULL, db, "origin", "main", NULL), CAIRN_ECORRUPT);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &head);
    CHECK_ERRMSG(hex);
    CHECK_ERRMSG("no ref moved");
    CHECK_EQ(fault_store_injected(fs), 1);
    cairn_id there;
    CHECK_RC(remote_head(far, &there), CAIRN_ENOTFOUND);
    CHECK_RC(cairn_resolve(&there, db, "origin/main"), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_push(NULL, db, "origin", "main", NULL)); /* unharmed bytes go through */
    CHECK_OK(cairn_close(db));
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&there, &head));
    CHECK_OK(verify_clean(far));
}

/* ---- remotes in the settings ---- */

static int list_cb(const char *name, const char *url, void *payload)
{
    char *out = payload;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s=%s;", name, url);
    return 0;
}

static void remote_settings(void)
{
    char far[4200], local[4200];
    path_of(far, sizeof far, "far");
    path_of(local, sizeof local, "local");
    CHECK_OK(make_repo(far, 10));
    CHECK_OK(make_repo(local, 10));
    cairn_db *db = test_open_repo(local);
    CHECK_OK(cairn_remote_add(db, "origin", far));
    CHECK_OK(cairn_remote_add(db, "backup", "mem:"));
    CHECK_RC(cairn_remote_add(db, "origin", far), CAIRN_EEXIST);
    CHECK_RC(cairn_remote_add(db, "bad/name", far), CAIRN_EINVAL);
    CHECK_RC(cairn_remote_add(db, "..", far), CAIRN_EINVAL);
    CHECK_RC(cairn_remote_add(db, "x", ""), CAIRN_EINVAL);
    char list[512] = "";
    CHECK_OK(cairn_remote_list(db, list_cb, list));
    char want[4400];
    snprintf(want, sizeof want, "backup=mem:;origin=%s;", far);
    CHECK_STR(list, want);
    CHECK_RC(cairn_push(NULL, db, "nowhere", NULL, NULL), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("cairn remote add nowhere");
    CHECK_OK(cairn_fetch(NULL, db, "origin", NULL));
    cairn_id id, there;
    CHECK_OK(cairn_resolve(&id, db, "origin/main"));
    CHECK_OK(remote_head(far, &there));
    CHECK(id_eq(&id, &there));
    CHECK_OK(cairn_resolve(&id, db, "remotes/origin/main"));
    CHECK(id_eq(&id, &there));
    CHECK_OK(cairn_remote_remove(db, "origin"));
    CHECK_RC(cairn_resolve(&id, db, "origin/main"), CAIRN_ENOTFOUND);
    CHECK_RC(cairn_remote_remove(db, "origin"), CAIRN_ENOTFOUND);
    list[0] = '\0';
    CHECK_OK(cairn_remote_list(db, list_cb, list));
    CHECK_STR(list, "backup=mem:;");
    /* an empty store is no repository to push to */
    CHECK_RC(cairn_push(NULL, db, "backup", NULL, NULL), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("holds no repository");
    CHECK_OK(cairn_close(db));
    CHECK_OK(verify_clean(local)); /* gc and verify know the tracking refs */
}


/* ---- across kinds of store: local -> s3 -> postgres -> local ----
 *
 * Run as `test_remote net_round_trip` by the ctest entry test_remote_net, whose fixtures start
 * a radosgw (scripts/ceph-up.sh, its endpoint and keys in $CAIRN_S3_ENV) and a PostgreSQL
 * cluster (scripts/pg-up.sh, its conninfo in $CAIRN_PG_STATE). */

static void net_round_trip(void)
{
    const char *s3env = getenv("CAIRN_S3_ENV"), *pgstate = getenv("CAIRN_PG_STATE");
    if (!s3env || !pgstate) {
        fprintf(stderr, "net_round_trip: no servers here (it runs as the ctest test_remote_net)\n");
        return;
    }
    char endpoint[256], akey[128], skey[128], conninfo[1024];
    CHECK(test_env_file_get(s3env, "S3_ENDPOINT", endpoint, sizeof endpoint));
    CHECK(test_env_file_get(s3env, "S3_ACCESS_KEY", akey, sizeof akey));
    CHECK(test_env_file_get(s3env, "S3_SECRET_KEY", skey, sizeof skey));
    CHECK(test_env_file_get(pgstate, "conninfo", conninfo, sizeof conninfo));
    setenv("AWS_ACCESS_KEY_ID", akey, 1);
    setenv("AWS_SECRET_ACCESS_KEY", skey, 1);
    char s3[600], pg[1200], src[4200], back[4200];
    snprintf(s3, sizeof s3, "s3://cairn-net/rt%d-%llx?endpoint=%s", (int)getpid(),
             (unsigned long long)test_seed, endpoint);
    snprintf(pg, sizeof pg, "pg:%s table_prefix=rt%d_", conninfo, (int)getpid());
    path_of(src, sizeof src, "net-src");
    path_of(back, sizeof back, "net-back");
    cairn_id main_head, feature_head;
    CHECK_OK(make_history(src, &main_head, &feature_head));

    /* the same history through three kinds of store, each clone verified on the way */
    const char *hops[3][2] = { { src, s3 }, { s3, pg }, { pg, back } };
    for (int i = 0; i < 3; i++) {
        cairn_transfer_stats st;
        CHECK_OK(cairn_clone(&st, hops[i][0], hops[i][1], NULL));
        fprintf(stderr, "clone %d (%s): %llu chunks, %.1f MiB, %llu store calls, %.2f s\n", i,
                i == 0 ? "local -> s3" : i == 1 ? "s3 -> postgres" : "postgres -> local",
                (unsigned long long)st.chunks, (double)st.bytes / 1048576.0,
                (unsigned long long)st.requests, st.seconds);
        CHECK_EQ(st.commits, 4);
    }
    const char *all[3] = { s3, pg, back };
    for (int i = 0; i < 3; i++) {
        int nrefs;
        CHECK_OK(refs_equal(src, all[i], &nrefs));
        CHECK(nrefs >= 6);
        CHECK_OK(verify_clean(all[i]));
        CHECK_OK(closure_ok(all[i]));
        cairn_id id;
        CHECK_OK(remote_head(all[i], &id));
        CHECK(id_eq(&id, &main_head));
    }

    /* an incremental push to s3 sends a few chunks */
    cairn_db *db = test_open_repo(src);
    CHECK_OK(cairn_remote_add(db, "cloud", s3));
    CHECK_OK(change_ten(db));
    int depth;
    CHECK_OK(tree_depth(db, &depth));
    cairn_transfer_stats st;
    CHECK_OK(cairn_push(&st, db, "cloud", "main", NULL));
    fprintf(stderr, "push to s3 after 10 keys (depth %d): %llu chunks, %llu bytes, %llu store "
            "calls\n", depth, (unsigned long long)st.chunks, (unsigned long long)st.bytes,
            (unsigned long long)st.requests);
    CHECK_EQ(st.commits, 1);
    CHECK(st.chunks <= (uint64_t)(2 * 10 * depth + 4));
    CHECK(st.requests <= (uint64_t)(4 * 10 * depth + 30));
    cairn_id id, there;
    CHECK_OK(head_of(db, "main", &id));
    CHECK_OK(cairn_close(db));
    CHECK_OK(remote_head(s3, &there));
    CHECK(id_eq(&id, &there));
    CHECK_OK(verify_clean(s3));
}

TEST_MAIN(remote_settings, clone_round_trip, incremental_push, has_batches, non_fast_forward,
          concurrent_pushes, damaged_source_chunk, flipped_in_transit, kill_push, kill_clone,
          net_round_trip)
