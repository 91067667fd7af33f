/*
 * test_retain.c - retention policies of collections, honoured by gc (cairn_doc_gc): what a
 * policy lets go is deleted from the store and recorded, what it keeps reads back, and
 * everything else (other collections, plain tables, the commits) is untouched.
 *
 * Each repository is a local one in a temporary directory, so that the store's counts of chunks
 * before and after gc are real. Commit times are set through $CAIRN_COMMIT_TIME.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn/doc.h"
#include "cairn/audit.h"
#include "test.h"

#define NDOCS 3
#define PAD 1500             /* bytes of filler per document: each version has nodes of its own */
#define NS_DAY (86400LL * 1000000000LL)

static cairn_db *open_dir(const char *name)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/%s", test_tmpdir(), name);
    return test_open_repo(url);
}

/* Writes version `round` of every document of c (documents d0..d{NDOCS-1}). */
static int write_round(cairn_coll *c, int round)
{
    static char doc[PAD + 200];
    for (int i = 0; i < NDOCS; i++) {
        int n = snprintf(doc, sizeof doc, "{\"_id\":\"d%d\",\"round\":%d,\"pad\":\"", i, round);
        uint64_t x = (uint64_t)round * 1000003u + (uint64_t)i; /* filler zstd cannot shrink */
        for (int k = 0; k < PAD; k++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            doc[n++] = (char)('a' + (x >> 33) % 26);
        }
        n += snprintf(doc + n, sizeof doc - (size_t)n, "\"}");
        int rc = cairn_doc_upsert(NULL, c, doc, (size_t)n, NULL);
        if (rc) return rc;
    }
    return CAIRN_OK;
}

/* A plain table, changed in every round too. */
static int write_plain(cairn_db *db, int round)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, "plain", CAIRN_TABLE_CREATE);
    if (rc) return rc;
    char v[64];
    int n = snprintf(v, sizeof v, "round %d", round);
    rc = cairn_put(t, "k", 1, v, (size_t)n);
    cairn_table_close(t);
    return rc;
}

/* The commit time for the next commit: `days` days before now (NULL: the clock). */
static void commit_time(int64_t now_ns, double days)
{
    char s[64];
    snprintf(s, sizeof s, "@%lld", (long long)((now_ns - (int64_t)(days * NS_DAY)) / 1000000000LL));
    setenv("CAIRN_COMMIT_TIME", s, 1);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- what history and reads show ---- */

typedef struct hist {
    int n;
    int rounds[64];          /* "round" of each version, newest first */
    int64_t pruned[64];
} hist;

static int on_version(const cairn_doc_version *v, void *payload)
{
    hist *h = payload;
    if (h->n == 64) return -1;
    const char *r = v->doc ? strstr(v->doc, "\"round\":") : NULL;
    h->rounds[h->n] = r ? atoi(r + 8) : -1;
    h->pruned[h->n] = v->pruned_time;
    h->n++;
    return 0;
}

static int history(hist *h, cairn_db *db, cairn_coll *c, const char *id)
{
    memset(h, 0, sizeof *h);
    return cairn_doc_history(db, c, NULL, id, on_version, h);
}

/* The "round" of document id at rev, or -1 when the read fails. */
static int round_at(cairn_db *db, cairn_coll *c, const char *rev, const char *id)
{
    cairn_snapshot *s;
    if (cairn_snapshot_open_at(&s, db, rev) != CAIRN_OK) return -1;
    char *doc = NULL;
    size_t len;
    int rc = cairn_doc_get(&doc, &len, c, s, id);
    cairn_snapshot_close(s);
    int r = rc == CAIRN_OK && strstr(doc, "\"round\":") ? atoi(strstr(doc, "\"round\":") + 8) : -1;
    cairn_free(doc);
    return r;
}

static int verify_clean(cairn_db *db, cairn_verify_stats *vs)
{
    cairn_verify_options o = CAIRN_VERIFY_OPTIONS_INIT;
    return cairn_verify(vs, db, &o);
}

static int set_policy(cairn_coll *c, unsigned kind, uint32_t n, bool hold)
{
    cairn_doc_retention p = { kind, n, hold };
    return cairn_doc_retention_set(c, &p);
}

/* Counts the collections retention let go of versions of (only "c", 4 commits, here). */
static int count_pruned(const cairn_doc_pruned *p, void *payload)
{
    if (strcmp(p->coll, "c") != 0 || p->versions != 4 || p->first_ns <= 0) return -1;
    ++*(int *)payload;
    return 0;
}

/* ---- --versions ---- */

/* Six rounds of three documents (and of another collection and a plain table), then a policy of
 * 2 versions: gc frees the older versions' chunks, history shows exactly the last 2 versions of
 * each document and says the rest was removed, verify is clean and says what was pruned, the
 * kept versions restore and prove, the dropped ones refuse clearly; nothing else is touched. */
static void versions_policy(void)
{
    cairn_db *db = open_dir("v");
    cairn_coll *c, *other;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    CHECK_OK(cairn_coll_open(&other, db, "other", CAIRN_COLL_CREATE));
    const char *round_field = "round";
    CHECK_OK(cairn_doc_index_create(c, &round_field, 1, 0));
    for (int r = 1; r <= 6; r++) {
        CHECK_OK(write_round(c, r));
        CHECK_OK(write_round(other, r));
        CHECK_OK(write_plain(db, r));
        CHECK_OK(test_commit(db, "round", NULL));
    }
    cairn_doc_retention p;
    CHECK_OK(cairn_doc_retention_get(&p, c, NULL));
    CHECK_EQ(p.kind, CAIRN_RETAIN_ALL);
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 2, false));
    CHECK_OK(test_commit(db, "policy", NULL)); /* HEAD: round 6, HEAD~1: 6, ~2: 5, ~3: 4 ... */
    CHECK_OK(cairn_doc_retention_get(&p, c, NULL));
    CHECK(p.kind == CAIRN_RETAIN_VERSIONS && p.n == 2 && !p.legal_hold);

    cairn_gc_stats g0, g;
    CHECK_OK(cairn_gc(&g0, db, NULL)); /* the garbage of the writes first: none is retention's */
    CHECK_EQ(g0.versions_pruned, 0);
    cairn_gc_options dry = CAIRN_GC_OPTIONS_INIT; /* a dry run counts, and writes nothing */
    dry.flags = CAIRN_GC_DRY_RUN;
    CHECK_OK(cairn_doc_gc(&g, db, &dry));
    CHECK_EQ(g.versions_pruned, 8);
    CHECK_EQ(g.chunks_deleted, 0);
    int colls = 0;
    CHECK_OK(cairn_doc_retention_pruned(db, count_pruned, &colls));
    CHECK_EQ(colls, 0);
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    /* rounds 1..4 of c: its documents table and its index, one version each */
    CHECK_EQ(g.versions_pruned, 8);
    CHECK(g.chunks_deleted > 0);
    CHECK(g.chunks_after < g.chunks_before);
    CHECK(g.bytes_after < g.bytes_before);
    fprintf(stderr, "versions_policy: gc let go of %llu versions, %llu -> %llu chunks, "
            "%llu -> %llu bytes\n", (unsigned long long)g.versions_pruned,
            (unsigned long long)g.chunks_before, (unsigned long long)g.chunks_after,
            (unsigned long long)g.bytes_before, (unsigned long long)g.bytes_after);

    for (int i = 0; i < NDOCS; i++) {
        char id[8];
        snprintf(id, sizeof id, "d%d", i);
        hist h;
        CHECK_OK(history(&h, db, c, id));
        CHECK_EQ(h.n, 2);
        CHECK_EQ(h.rounds[0], 6);
        CHECK_EQ(h.rounds[1], 5);
        CHECK_EQ(h.pruned[0], 0);
        CHECK(h.pruned[1] > 0);
        CHECK_OK(history(&h, db, other, id)); /* no policy: every version */
        CHECK_EQ(h.n, 6);
        CHECK_EQ(h.pruned[5], 0);
    }
    CHECK_OK(cairn_doc_retention_pruned(db, count_pruned, &colls));
    CHECK_EQ(colls, 1);
    cairn_verify_stats vs;
    CHECK_OK(verify_clean(db, &vs));
    CHECK_EQ(vs.pruned, 8);
    CHECK_EQ(vs.problems, 0);
    CHECK_EQ(vs.commits, 7); /* the commits stay */

    /* kept versions read, restore and prove; dropped ones say so */
    CHECK_EQ(round_at(db, c, "HEAD~2", "d1"), 5);
    CHECK_EQ(round_at(db, c, "HEAD~3", "d1"), -1);
    CHECK_ERRMSG("removed by retention");
    CHECK_EQ(round_at(db, other, "HEAD~6", "d1"), 1);
    cairn_snapshot *s;
    CHECK_OK(cairn_snapshot_open_at(&s, db, "HEAD~6"));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "plain", 0));
    void *val;
    size_t len;
    CHECK_OK(cairn_get(&val, &len, t, s, "k", 1));
    CHECK_MEM(val, len, "round 1", 7);
    cairn_free(val);
    cairn_table_close(t);
    int64_t when;
    CHECK_OK(cairn_doc_pruned_at(&when, c, s));
    CHECK(when > 0);
    void *proof;
    size_t plen;
    CHECK_RC(cairn_doc_prove(&proof, &plen, c, s, "d0"), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("removed by retention");
    cairn_snapshot_close(s);
    CHECK_OK(cairn_snapshot_open_at(&s, db, "HEAD~2"));
    CHECK_RC(cairn_doc_pruned_at(&when, c, s), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_doc_prove(&proof, &plen, c, s, "d0"));
    cairn_free(proof);
    cairn_doc_check_stats cs;
    CHECK_OK(cairn_doc_check(&cs, c, s)); /* the index of a kept version is whole */
    CHECK_EQ(cs.documents, NDOCS);
    cairn_snapshot_close(s);
    char *out = NULL;
    CHECK_RC(cairn_doc_restore(&out, db, c, "d2", "HEAD~4", NULL), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("removed by retention");
    CHECK_OK(cairn_doc_restore(&out, db, c, "d2", "HEAD~2", NULL));
    CHECK(strstr(out, "\"round\":5") != NULL);
    cairn_free(out);

    /* a second gc finds nothing new; a longer window cannot bring anything back, and gc and
     * verify go on working around what is gone */
    CHECK_OK(test_commit(db, "restored d2", NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 100, false));
    CHECK_OK(test_commit(db, "longer", NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 0);
    CHECK_OK(verify_clean(db, &vs));
    hist h;
    CHECK_OK(history(&h, db, c, "d2"));
    CHECK_EQ(h.n, 3); /* the restore, then rounds 6 and 5 */
    CHECK(h.pruned[2] > 0);
    cairn_coll_close(c);
    cairn_coll_close(other);
    CHECK_OK(cairn_close(db));
}

/* ---- --days ---- */

/* Rounds committed 10, 8, 6, 4, 2 and 1 days ago; a policy of 5 days keeps the last three and
 * the state in force 5 days ago (the round of 6 days ago). */
static void days_policy(void)
{
    cairn_db *db = open_dir("d");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    const double ago[] = { 10, 8, 6, 4, 2, 1 };
    int64_t now = wall_ns();
    for (int r = 1; r <= 6; r++) {
        CHECK_OK(write_round(c, r));
        commit_time(now, ago[r - 1]);
        CHECK_OK(test_commit(db, "round", NULL));
    }
    unsetenv("CAIRN_COMMIT_TIME");
    CHECK_OK(set_policy(c, CAIRN_RETAIN_DAYS, 5, false));
    CHECK_OK(test_commit(db, "policy", NULL));
    cairn_gc_stats g;
    CHECK_OK(cairn_gc(&g, db, NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 2); /* the rounds of 10 and 8 days ago */
    CHECK(g.chunks_after < g.chunks_before);
    hist h;
    CHECK_OK(history(&h, db, c, "d0"));
    CHECK_EQ(h.n, 4);
    CHECK_EQ(h.rounds[0], 6);
    CHECK_EQ(h.rounds[3], 3);
    CHECK(h.pruned[3] > 0);
    CHECK_EQ(round_at(db, c, "HEAD~4", "d0"), 3);
    CHECK_EQ(round_at(db, c, "HEAD~5", "d0"), -1);
    CHECK_ERRMSG("removed by retention");
    cairn_verify_stats vs;
    CHECK_OK(verify_clean(db, &vs));
    CHECK_EQ(vs.pruned, 2);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* ---- legal hold ---- */

/* A hold keeps everything of the collection whatever the policy, also when it is set on another
 * branch than the one gc runs on; lifted, the policy applies. */
static void legal_hold(void)
{
    cairn_db *db = open_dir("h");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    for (int r = 1; r <= 4; r++) {
        CHECK_OK(write_round(c, r));
        CHECK_OK(test_commit(db, "round", NULL));
    }
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 1, true));
    CHECK_OK(test_commit(db, "hold", NULL));
    cairn_gc_stats g;
    CHECK_OK(cairn_gc(&g, db, NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 0);
    CHECK_EQ(g.chunks_deleted, 0);
    hist h;
    CHECK_OK(history(&h, db, c, "d1"));
    CHECK_EQ(h.n, 4);

    /* the hold lives on in branch "audit" only */
    CHECK_OK(cairn_branch_create(db, "audit", NULL));
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 1, false));
    CHECK_OK(test_commit(db, "lift on main", NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 0);
    CHECK_OK(history(&h, db, c, "d1"));
    CHECK_EQ(h.n, 4);

    CHECK_OK(cairn_branch_delete(db, "audit"));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 3); /* rounds 1..3; round 4 is the head's */
    CHECK(g.chunks_deleted > 0);
    CHECK_OK(history(&h, db, c, "d1"));
    CHECK_EQ(h.n, 1);
    CHECK(h.pruned[0] > 0);
    cairn_verify_stats vs;
    CHECK_OK(verify_clean(db, &vs));
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* A bad policy is refused and changes nothing. */
static void bad_policy(void)
{
    cairn_db *db = open_dir("b");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    CHECK_RC(set_policy(c, CAIRN_RETAIN_DAYS, 0, false), CAIRN_EINVAL);
    CHECK_RC(set_policy(c, CAIRN_RETAIN_VERSIONS, CAIRN_DOC_RETENTION_MAX + 1, false),
             CAIRN_EINVAL);
    CHECK_RC(set_policy(c, CAIRN_RETAIN_ALL, 3, false), CAIRN_EINVAL);
    CHECK_RC(set_policy(c, 7, 3, false), CAIRN_EINVAL);
    cairn_doc_retention p;
    CHECK_OK(cairn_doc_retention_get(&p, c, NULL));
    CHECK(p.kind == CAIRN_RETAIN_ALL && p.n == 0 && !p.legal_hold);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* ---- kill -9 during gc ---- */

/* The child: cairn_doc_gc on the repository; one byte to fd when it starts. Never returns. */
static void gc_child(const char *url, int fd)
{
    cairn_db *db = test_open_repo(url);
    if (write(fd, "g", 1) != 1) _exit(4);
    cairn_gc_stats g;
    int rc = cairn_doc_gc(&g, db, NULL);
    if (rc == CAIRN_OK && write(fd, &g.seconds, sizeof g.seconds) != sizeof g.seconds) _exit(4);
    _exit(rc == CAIRN_OK && cairn_close(db) == CAIRN_OK ? 0 : 3);
}


/* gc killed at random moments, each round after more rounds of writes: the repository verifies
 * clean every time, the newest versions read back, and a last gc completes. */
static void kill_during_gc(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/k", test_tmpdir());
    cairn_db *db = test_open_repo(url);
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 2, false));
    int round = 0;
    for (; round < 4; round++) {
        CHECK_OK(write_round(c, round));
        CHECK_OK(test_commit(db, "round", NULL));
    }
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
    double full = 0;
    CHECK_OK(test_run_killed(gc_child, url, -1, &full, NULL));
    uint64_t rng = test_rng(0x7e7a);
    const char *env = getenv("CAIRN_RETAIN_KILL_ROUNDS");
    int rounds = env ? atoi(env) : 8, kills = 0;
    for (int k = 0; k < rounds; k++) {
        db = test_open_repo(url);
        CHECK_OK(cairn_coll_open(&c, db, "c", 0));
        for (int i = 0; i < 3; i++, round++) {
            CHECK_OK(write_round(c, round));
            CHECK_OK(test_commit(db, "round", NULL));
        }
        cairn_coll_close(c);
        CHECK_OK(cairn_close(db));
        long delay = (long)((double)(test_rand(&rng) % 1200) / 1000.0 * full * 1e6);
        bool killed;
        CHECK_OK(test_run_killed(gc_child, url, delay, NULL, &killed));
        kills += killed;
        db = test_open_repo(url);
        cairn_verify_stats vs;
        int rc = verify_clean(db, &vs);
        CHECK_MSG(rc == CAIRN_OK, "round %d (killed after %ld us of a %.1f ms gc): verify: %s", k,
                  delay, full * 1e3, cairn_error_last()->message);
        CHECK_OK(cairn_coll_open(&c, db, "c", 0));
        CHECK_EQ(round_at(db, c, "HEAD", "d0"), round - 1);
        CHECK_EQ(round_at(db, c, "HEAD~1", "d0"), round - 2);
        cairn_coll_close(c);
        CHECK_OK(cairn_close(db));
    }
    fprintf(stderr, "kill_during_gc: %d rounds, %d killed mid-gc (a gc took %.1f ms)\n", rounds,
            kills, full * 1e3);
    CHECK_OK(test_run_killed(gc_child, url, -1, &full, NULL));
    db = test_open_repo(url);
    cairn_verify_stats vs;
    CHECK_OK(verify_clean(db, &vs));
    CHECK_EQ(vs.unreachable, 0);
    CHECK_OK(cairn_coll_open(&c, db, "c", 0));
    hist h;
    CHECK_OK(history(&h, db, c, "d2"));
    CHECK_EQ(h.n, 2);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* ---- push, fetch, clone and diff across what was let go ---- */

static void path_in_tmp(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", test_tmpdir(), name);
}

/* History of d0 in c (and its index) of the repository at url: the versions and when the older
 * ones were let go. */
static void history_at(hist *h, const char *url)
{
    cairn_db *db = test_open_repo(url);
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", 0));
    CHECK_OK(history(h, db, c, "d0"));
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* Verifies the repository at url: clean, with *pruned table versions let go on purpose. */
static void verify_at(const char *url, uint64_t *pruned)
{
    cairn_db *db = test_open_repo(url);
    cairn_verify_stats vs;
    int rc = verify_clean(db, &vs);
    CHECK_MSG(rc == CAIRN_OK, "verify %s: %s", url, cairn_error_last()->message);
    CHECK_EQ(vs.problems, 0);
    *pruned = vs.pruned;
    CHECK_OK(cairn_close(db));
}

static int count_change(const cairn_diff_entry *e, void *payload)
{
    (void)e;
    ++*(int *)payload;
    return 0;
}

/* Six rounds, --versions 2, gc (8 table versions let go: 4 of the documents, 4 of the index).
 * A push to an empty remote leaves them out and carries the record: the remote and a clone of
 * it verify clean, say the same 8 were let go, and show the same history; a fetch into an
 * empty repository does the same. A remote that got everything before the gc keeps every
 * version after the next push (no record reaches it). A diff across a version let go names
 * the collection and the day, not a missing chunk. */
static void transfer_pruned(void)
{
    char src[4200], far[4200], clone[4200], full[4200], fetched[4200];
    path_in_tmp(src, sizeof src, "xs");
    path_in_tmp(far, sizeof far, "xr");
    path_in_tmp(clone, sizeof clone, "xc");
    path_in_tmp(full, sizeof full, "xfull");
    path_in_tmp(fetched, sizeof fetched, "xf");
    cairn_db *db = test_open_repo(src);
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    const char *round_field = "round";
    CHECK_OK(cairn_doc_index_create(c, &round_field, 1, 0));
    for (int r = 1; r <= 6; r++) {
        CHECK_OK(write_round(c, r));
        CHECK_OK(write_plain(db, r));
        CHECK_OK(test_commit(db, "round", NULL));
    }
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 2, false));
    CHECK_OK(test_commit(db, "policy", NULL));
    CHECK_OK(cairn_remote_add(db, "full", full));
    CHECK_OK(cairn_remote_add(db, "far", far));
    cairn_db *tmp = test_open_repo(full);
    CHECK_OK(cairn_close(tmp));
    tmp = test_open_repo(far);
    CHECK_OK(cairn_close(tmp));
    cairn_transfer_stats st;
    CHECK_OK(cairn_push(&st, db, "full", NULL, NULL)); /* before the gc: every version */
    CHECK_EQ(st.pruned, 0);
    cairn_gc_stats g;
    CHECK_OK(cairn_gc(&g, db, NULL));
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK_EQ(g.versions_pruned, 8);

    CHECK_OK(cairn_push(&st, db, "far", NULL, NULL));
    CHECK_EQ(st.pruned, 8);
    CHECK_EQ(st.commits, 7);
    fprintf(stderr, "transfer_pruned: push left out %llu table versions, copied %llu chunks "
            "in %llu store calls\n", (unsigned long long)st.pruned,
            (unsigned long long)st.chunks, (unsigned long long)st.requests);

    /* a diff across a version let go names it; between kept versions it works */
    int n = 0;
    CHECK_RC(cairn_diff(db, "HEAD~5", "HEAD", "cairn_doc.c", count_change, &n),
             CAIRN_ENOTFOUND);
    CHECK_ERRMSG("collection c (table cairn_doc.c)");
    CHECK_ERRMSG("removed by retention on 20");
    CHECK_EQ(n, 0);
    CHECK_RC(cairn_diff(db, "HEAD", "HEAD~4", "cairn_doc.c", count_change, &n), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("removed by retention on");
    CHECK_OK(cairn_diff(db, "HEAD~2", "HEAD", "cairn_doc.c", count_change, &n));
    CHECK_EQ(n, NDOCS); /* round 5 -> 6 */
    n = 0;
    CHECK_OK(cairn_diff(db, "HEAD~6", "HEAD", NULL, count_change, &n)); /* plain tables: all */
    CHECK_EQ(n, 1);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));

    CHECK_OK(cairn_clone(&st, far, clone, NULL));
    CHECK_EQ(st.pruned, 8);
    db = test_open_repo(fetched);
    CHECK_OK(cairn_remote_add(db, "origin", src));
    CHECK_OK(cairn_fetch(&st, db, "origin", NULL));
    CHECK_EQ(st.pruned, 8);
    CHECK_OK(cairn_close(db));
    const char *pruned_at[] = { src, far, clone, fetched };
    for (size_t i = 0; i < 4; i++) {
        uint64_t pruned;
        verify_at(pruned_at[i], &pruned);
        CHECK_MSG(pruned == 8, "%s: %llu versions let go, not 8", pruned_at[i],
                  (unsigned long long)pruned);
    }
    hist h0, h;
    history_at(&h0, src);
    CHECK_EQ(h0.n, 2);
    CHECK(h0.pruned[1] > 0);
    history_at(&h, far);
    CHECK(memcmp(&h, &h0, sizeof h) == 0);
    history_at(&h, clone);
    CHECK(memcmp(&h, &h0, sizeof h) == 0);

    /* the clone diffs as its source does */
    db = test_open_repo(clone);
    CHECK_RC(cairn_diff(db, "HEAD~5", "HEAD", "cairn_doc.c", count_change, &n), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("removed by retention on");
    CHECK_OK(cairn_close(db));

    /* the remote that had everything keeps everything after the next push */
    db = test_open_repo(src);
    CHECK_OK(cairn_coll_open(&c, db, "c", 0));
    CHECK_OK(write_round(c, 7));
    CHECK_OK(test_commit(db, "round 7", NULL));
    CHECK_OK(cairn_push(&st, db, "full", NULL, NULL));
    CHECK_EQ(st.commits, 1);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
    uint64_t pruned;
    verify_at(full, &pruned);
    CHECK_EQ(pruned, 0);
    history_at(&h, full);
    CHECK_EQ(h.n, 7);
    CHECK_EQ(h.rounds[6], 1);
    CHECK_EQ(h.pruned[6], 0);
    db = test_open_repo(full);
    CHECK_OK(cairn_coll_open(&c, db, "c", 0));
    CHECK_EQ(round_at(db, c, "HEAD~7", "d0"), 1); /* rounds 1..6, the policy, round 7 */
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

typedef struct change_sum {
    uint64_t events, items;
} change_sum;

static int sum_changes(const cairn_audit_row *row, void *payload)
{
    change_sum *s = payload;
    if (row->kind == CAIRN_AUDIT_ROW_CHANGE && strcmp(row->target, "a") == 0) {
        s->events += row->events;
        s->items += row->items;
    }
    return 0;
}

/* The audit report across versions retention let go: it counts what it can still see (a diff
 * with both sides kept) and leaves out, with a warning, the commits whose version or whose
 * parent's version is gone, instead of failing on the missing chunks (a root commit) or
 * counting a commit's every document as new. */
static void audit_after_retention(void)
{
    cairn_db *db = open_dir("a");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "a", CAIRN_COLL_CREATE));
    for (int r = 1; r <= 6; r++) {
        CHECK_OK(write_round(c, r));
        CHECK_OK(test_commit(db, "round", NULL));
    }
    const char *one = "{\"_id\":\"d0\",\"round\":7}";
    CHECK_OK(cairn_doc_upsert(NULL, c, one, strlen(one), NULL));
    CHECK_OK(test_commit(db, "one", NULL));
    change_sum before = { 0, 0 };
    CHECK_OK(cairn_audit_report(db, 0, INT64_MAX, sum_changes, &before));
    CHECK_EQ(before.events, 7);
    CHECK_EQ(before.items, 6 * NDOCS + 1);
    CHECK_OK(set_policy(c, CAIRN_RETAIN_VERSIONS, 2, false));
    CHECK_OK(test_commit(db, "policy", NULL));
    cairn_gc_stats g;
    CHECK_OK(cairn_doc_gc(&g, db, NULL));
    CHECK(g.versions_pruned > 0);
    change_sum after = { 0, 0 };
    CHECK_OK(cairn_audit_report(db, 0, INT64_MAX, sum_changes, &after));
    CHECK_EQ(after.events, 2); /* round 6 against round 5, and the one-document commit */
    CHECK_EQ(after.items, NDOCS + 1);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(versions_policy, audit_after_retention, days_policy, legal_hold, bad_policy, kill_during_gc,
          transfer_pruned)
