/*
 * test_history.c - versions through the public API: commits, revisions, branches and their
 * working states, detached HEAD, snapshots at a revision, reflogs, diffs, merges (every
 * conflict shape, each strategy, fast-forward, commutativity, criss-cross), signatures.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn.h"
#include "cairn/sys/store.h"
#include "db/db.h"
#include "repo/commit.h"
#include "repo/history.h"
#include "test.h"

static char last_url[4200];

/* Opens the repository at last_url. */
static cairn_db *reopen_db(void)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db = NULL;
    if (cairn_open(&db, last_url, &o) != CAIRN_OK) {
        fprintf(stderr, "open %s: %s\n", last_url, cairn_error_last()->message);
        exit(1);
    }
    return db;
}

/* A new local repository. */
static cairn_db *open_db(void)
{
    snprintf(last_url, sizeof last_url, "%s/repo", test_tmpdir());
    return reopen_db();
}

static int put(cairn_db *db, const char *table, const char *k, const char *v)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER);
    if (rc == CAIRN_OK) rc = v ? cairn_put(t, k, strlen(k), v, strlen(v)) : cairn_delete(t, k, strlen(k));
    cairn_table_close(t);
    return rc;
}

/* The value of k in table as of rev ("" when absent, "<no table>" when the table is absent). */
static const char *get_at(cairn_db *db, const char *rev, const char *table, const char *k)
{
    static char out[256];
    cairn_snapshot *s;
    if (cairn_snapshot_open_at(&s, db, rev) != CAIRN_OK) return "<bad rev>";
    cairn_table *t = NULL;
    int rc = cairn_table_open(&t, db, table, CAIRN_TABLE_NAMEONLY);
    void *v = NULL;
    size_t n = 0;
    if (rc == CAIRN_OK) rc = cairn_get(&v, &n, t, s, k, strlen(k));
    if (rc == CAIRN_OK) snprintf(out, sizeof out, "%.*s", (int)n, (const char *)v);
    else if (rc == CAIRN_ENOTFOUND && t) {
        cairn_id r;
        snprintf(out, sizeof out, "%s", cairn_table_root(&r, t, s) == CAIRN_OK ? "" : "<no table>");
    } else snprintf(out, sizeof out, "<no table>");
    cairn_free(v);
    cairn_table_close(t);
    cairn_snapshot_close(s);
    return out;
}

static int commit_msg(cairn_db *db, const char *msg, cairn_id *out)
{
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = msg;
    o.author = "Test <test@example.com>";
    return cairn_commit(out, db, &o);
}

static int count_cb(const cairn_commit_info *i, void *p)
{
    (void)i;
    (*(int *)p)++;
    return 0;
}

static void commits_and_revisions(void)
{
    cairn_db *db = open_db();
    cairn_id c1, c2, c3, r;
    CHECK_RC(cairn_resolve(&r, db, "HEAD"), CAIRN_ENOTFOUND); /* no commits yet */
    CHECK_OK(put(db, "t", "a", "1"));
    CHECK_OK(commit_msg(db, "first", &c1));
    CHECK_RC(commit_msg(db, "again", NULL), CAIRN_EINVAL); /* nothing changed */
    CHECK_ERRMSG("nothing to commit");
    CHECK_OK(put(db, "t", "a", "2"));
    CHECK_OK(commit_msg(db, "second\nwith a body", &c2));
    CHECK_OK(put(db, "t", "b", "x"));
    CHECK_OK(commit_msg(db, "third", &c3));
    CHECK_OK(cairn_resolve(&r, db, "HEAD"));
    CHECK_MEM(r.bytes, 32, c3.bytes, 32);
    CHECK_OK(cairn_resolve(&r, db, "main"));
    CHECK_MEM(r.bytes, 32, c3.bytes, 32);
    CHECK_OK(cairn_resolve(&r, db, "HEAD~1"));
    CHECK_MEM(r.bytes, 32, c2.bytes, 32);
    CHECK_OK(cairn_resolve(&r, db, "main~2"));
    CHECK_MEM(r.bytes, 32, c1.bytes, 32);
    CHECK_OK(cairn_resolve(&r, db, "HEAD^^"));
    CHECK_MEM(r.bytes, 32, c1.bytes, 32);
    CHECK_RC(cairn_resolve(&r, db, "HEAD~3"), CAIRN_ENOTFOUND);
    char hex[CAIRN_ID_HEX_SIZE], pre[12];
    cairn_id_to_hex(hex, &c2);
    CHECK_OK(cairn_resolve(&r, db, hex));
    CHECK_MEM(r.bytes, 32, c2.bytes, 32);
    snprintf(pre, sizeof pre, "%.10s", hex);
    CHECK_OK(cairn_resolve(&r, db, pre));
    CHECK_MEM(r.bytes, 32, c2.bytes, 32);
    CHECK_RC(cairn_resolve(&r, db, "nonesuch"), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("nonesuch");
    /* branch@{N} and @{time} */
    CHECK_OK(cairn_resolve(&r, db, "main@{1}"));
    CHECK_MEM(r.bytes, 32, c2.bytes, 32);
    CHECK_OK(cairn_resolve(&r, db, "main@{2099-01-01}"));
    CHECK_MEM(r.bytes, 32, c3.bytes, 32);
    CHECK_RC(cairn_resolve(&r, db, "main@{1999-01-01T00:00:00Z}"), CAIRN_ENOTFOUND);
    /* git's relative times are times too (issue 10: main@{yesterday} was refused): the branch
     * did not exist yesterday */
    CHECK_RC(cairn_resolve(&r, db, "main@{yesterday}"), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("did not exist then");
    CHECK_RC(cairn_resolve(&r, db, "main@{someday}"), CAIRN_EINVAL);
    CHECK_ERRMSG("not a time");
    /* log */
    int n = 0;
    CHECK_OK(cairn_log(db, NULL, count_cb, &n));
    CHECK_EQ(n, 3);
    n = 0;
    CHECK_OK(cairn_log(db, "HEAD~1", count_cb, &n));
    CHECK_EQ(n, 2);
    /* time travel */
    CHECK_STR(get_at(db, "HEAD~2", "t", "a"), "1");
    CHECK_STR(get_at(db, "HEAD~1", "t", "a"), "2");
    CHECK_STR(get_at(db, "HEAD~1", "t", "b"), "");
    CHECK_STR(get_at(db, "HEAD", "t", "b"), "x");
    /* tags */
    CHECK_OK(cairn_tag_create(db, "v1", "HEAD~2"));
    CHECK_RC(cairn_tag_create(db, "v1", NULL), CAIRN_EEXIST);
    CHECK_OK(cairn_resolve(&r, db, "v1"));
    CHECK_MEM(r.bytes, 32, c1.bytes, 32);
    CHECK_STR(get_at(db, "v1", "t", "a"), "1");
    CHECK_OK(cairn_tag_delete(db, "v1"));
    CHECK_RC(cairn_resolve(&r, db, "v1"), CAIRN_ENOTFOUND);
    /* persistence: reopen and find everything */
    CHECK_OK(cairn_close(db));
    db = reopen_db();
    CHECK_OK(cairn_resolve(&r, db, "HEAD~1"));
    CHECK_MEM(r.bytes, 32, c2.bytes, 32);
    CHECK_STR(get_at(db, "WORKING", "t", "b"), "x");
    CHECK_OK(cairn_close(db));
}

typedef struct seen_branch {
    char names[8][32];
    int current[8];
    int n;
} seen_branch;

static int branch_cb(const char *name, const cairn_id *c, int current, void *p)
{
    (void)c;
    seen_branch *s = p;
    snprintf(s->names[s->n], 32, "%s", name);
    s->current[s->n++] = current;
    return 0;
}

static void branches_and_checkout(void)
{
    cairn_db *db = open_db();
    CHECK_OK(put(db, "t", "k", "base"));
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "feature", NULL));
    CHECK_RC(cairn_branch_create(db, "feature", NULL), CAIRN_EEXIST);
    CHECK_RC(cairn_branch_create(db, "bad name", NULL), CAIRN_EINVAL);
    CHECK_RC(cairn_branch_create(db, "WORKING", NULL), CAIRN_EINVAL); /* a revision keyword */
    CHECK_RC(cairn_tag_create(db, "HEAD", NULL), CAIRN_EINVAL);
    CHECK_OK(put(db, "t", "k", "main-wip")); /* uncommitted on main */
    CHECK_OK(cairn_checkout(db, "feature"));
    char *cur;
    CHECK_OK(cairn_branch_current(&cur, db));
    CHECK_STR(cur, "feature");
    cairn_free(cur);
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "base"); /* feature's own working state */
    CHECK_OK(put(db, "t", "k", "feature"));
    CHECK_OK(commit_msg(db, "on feature", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "main-wip"); /* kept while away */
    CHECK_STR(get_at(db, "feature", "t", "k"), "feature");
    seen_branch s = { 0 };
    CHECK_OK(cairn_branch_list(db, branch_cb, &s));
    CHECK_EQ(s.n, 2);
    CHECK_STR(s.names[0], "feature");
    CHECK_EQ(s.current[1], 1);
    CHECK_RC(cairn_branch_delete(db, "main"), CAIRN_ECONFLICT); /* current */
    /* a branch with uncommitted work is not deleted */
    CHECK_OK(cairn_checkout(db, "feature"));
    CHECK_OK(put(db, "t", "z", "unsaved"));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_RC(cairn_branch_delete(db, "feature"), CAIRN_ECONFLICT);
    CHECK_ERRMSG("uncommitted");
    CHECK_OK(cairn_checkout(db, "feature"));
    CHECK_OK(commit_msg(db, "save", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_branch_delete(db, "feature"));
    cairn_id r;
    CHECK_RC(cairn_resolve(&r, db, "feature"), CAIRN_ENOTFOUND);
    /* detached HEAD */
    CHECK_OK(commit_msg(db, "main work", NULL));
    CHECK_OK(cairn_checkout(db, "HEAD~1"));
    CHECK_OK(cairn_branch_current(&cur, db));
    CHECK(cur == NULL);
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "base");
    CHECK_OK(put(db, "t", "k", "detached"));
    cairn_id dc;
    CHECK_OK(commit_msg(db, "detached commit", &dc));
    CHECK_OK(cairn_resolve(&r, db, "HEAD"));
    CHECK_MEM(r.bytes, 32, dc.bytes, 32);
    CHECK_OK(cairn_branch_create(db, "rescued", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_STR(get_at(db, "rescued", "t", "k"), "detached");
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "main-wip");
    /* all of it survives a reopen: HEAD's branch, working states */
    CHECK_OK(cairn_checkout(db, "rescued"));
    CHECK_OK(put(db, "t", "k", "rescued-wip"));
    CHECK_OK(cairn_close(db));
    db = reopen_db();
    CHECK_OK(cairn_branch_current(&cur, db));
    CHECK_STR(cur, "rescued");
    cairn_free(cur);
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "rescued-wip");
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_STR(get_at(db, "WORKING", "t", "k"), "main-wip");
    CHECK_OK(cairn_close(db));
}

typedef struct reflog_seen {
    int n;
    char why[8][128];
} reflog_seen;

static int reflog_cb(const cairn_reflog_info *i, void *p)
{
    reflog_seen *s = p;
    if (s->n < 8) snprintf(s->why[s->n], 128, "%s", i->why);
    s->n++;
    return 0;
}

static void reflogs(void)
{
    cairn_db *db = open_db();
    CHECK_OK(put(db, "t", "a", "1"));
    CHECK_OK(commit_msg(db, "one", NULL));
    CHECK_OK(put(db, "t", "a", "2"));
    CHECK_OK(commit_msg(db, "two", NULL));
    reflog_seen s = { 0 };
    CHECK_OK(cairn_reflog(db, NULL, reflog_cb, &s));
    CHECK_EQ(s.n, 2);
    CHECK_STR(s.why[0], "commit: two");
    CHECK_STR(s.why[1], "commit: one");
    CHECK_RC(cairn_reflog(db, "nope", reflog_cb, &s), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_close(db));
}

typedef struct diff_seen {
    int n;
    char lines[16][96];
} diff_seen;

static int diff_cb(const cairn_diff_entry *e, void *p)
{
    diff_seen *d = p;
    if (d->n < 16)
        snprintf(d->lines[d->n], 96, "%s %c %.*s %.*s>%.*s", e->table, "?+-~"[e->kind], (int)e->klen,
                 (const char *)e->key, e->old_val ? (int)e->old_len : 1,
                 e->old_val ? (const char *)e->old_val : "_", e->new_val ? (int)e->new_len : 1,
                 e->new_val ? (const char *)e->new_val : "_");
    d->n++;
    return 0;
}

static void diffs(void)
{
    cairn_db *db = open_db();
    CHECK_OK(put(db, "a", "k1", "1"));
    CHECK_OK(put(db, "a", "k2", "2"));
    CHECK_OK(put(db, "gone", "g", "x"));
    CHECK_OK(commit_msg(db, "one", NULL));
    CHECK_OK(put(db, "a", "k1", "one"));
    CHECK_OK(put(db, "a", "k2", NULL));
    CHECK_OK(put(db, "a", "k3", "3"));
    CHECK_OK(cairn_table_drop(db, "gone"));
    CHECK_OK(put(db, "new", "n", "y"));
    diff_seen d = { 0 };
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", NULL, diff_cb, &d));
    CHECK_EQ(d.n, 5);
    CHECK_STR(d.lines[0], "a ~ k1 1>one");
    CHECK_STR(d.lines[1], "a - k2 2>_");
    CHECK_STR(d.lines[2], "a + k3 _>3");
    CHECK_STR(d.lines[3], "gone - g x>_");
    CHECK_STR(d.lines[4], "new + n _>y");
    diff_seen one = { 0 };
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", "new", diff_cb, &one));
    CHECK_EQ(one.n, 1);
    CHECK_RC(cairn_diff(db, "HEAD", "WORKING", "nothing", diff_cb, &one), CAIRN_ENOTFOUND);
    diff_seen none = { 0 };
    CHECK_OK(cairn_diff(db, "HEAD", "HEAD", NULL, diff_cb, &none));
    CHECK_EQ(none.n, 0);
    CHECK_OK(cairn_close(db));
}

/* ---- merges ---- */

typedef struct conflicts_seen {
    int n;
    char text[512];
} conflicts_seen;

static int conflict_cb(const cairn_conflict *c, void *p)
{
    conflicts_seen *s = p;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s%s:%.*s:%.*s/%.*s/%.*s", s->n++ ? ";" : "",
             c->table, c->key ? (int)c->klen : 1, c->key ? (const char *)c->key : "*",
             c->has_base ? (int)c->base_len : 1, c->has_base ? (const char *)c->base : "-",
             c->has_ours ? (int)c->ours_len : 1, c->has_ours ? (const char *)c->ours : "-",
             c->has_theirs ? (int)c->theirs_len : 1, c->has_theirs ? (const char *)c->theirs : "-");
    return 0;
}

/* base: t = {a:1, b:2, c:3, d:4}, other = {o:1}; ours and theirs each edit on their branch. */
static cairn_db *diverged(void)
{
    cairn_db *db = open_db();
    put(db, "t", "a", "1");
    put(db, "t", "b", "2");
    put(db, "t", "c", "3");
    put(db, "t", "d", "4");
    put(db, "other", "o", "1");
    put(db, "doomed", "x", "1");
    commit_msg(db, "base", NULL);
    cairn_branch_create(db, "theirs", NULL);
    /* ours (main): a modify, b modify, c delete, e add, f add(same), other untouched, doomed
     * modified */
    put(db, "t", "a", "ours");
    put(db, "t", "b", "same");
    put(db, "t", "c", NULL);
    put(db, "t", "e", "ours-e");
    put(db, "t", "f", "same-f");
    put(db, "doomed", "x", "2");
    commit_msg(db, "ours", NULL);
    cairn_checkout(db, "theirs");
    /* theirs: a modify (conflict), b same change, c modify (conflict delete/modify), d delete
     * (clean), e add different (conflict), f add same, other modify (clean), doomed dropped
     * (table conflict) */
    put(db, "t", "a", "theirs");
    put(db, "t", "b", "same");
    put(db, "t", "c", "theirs-c");
    put(db, "t", "d", NULL);
    put(db, "t", "e", "theirs-e");
    put(db, "t", "f", "same-f");
    put(db, "other", "o", "2");
    cairn_table_drop(db, "doomed");
    commit_msg(db, "theirs", NULL);
    cairn_checkout(db, "main");
    return db;
}

/* doomed is a table-level conflict: the flags say the table is in base and ours, not theirs */
static const char *EXPECTED_CONFLICTS =
    "doomed:*://-;t:a:1/ours/theirs;t:c:3/-/theirs-c;t:e:-/ours-e/theirs-e";

static int parents_cb(const cairn_commit_info *i, void *p)
{
    *(size_t *)p = i->nparents;
    return 0;
}

static void merge_conflict_shapes(void)
{
    /* fail: all reported, nothing changes */
    cairn_db *db = diverged();
    cairn_id before, after;
    CHECK_OK(cairn_resolve(&before, db, "HEAD"));
    conflicts_seen s = { 0, "" };
    cairn_merge_result res;
    CHECK_RC(cairn_merge(&res, db, "theirs", CAIRN_MERGE_FAIL, conflict_cb, &s), CAIRN_ECONFLICT);
    CHECK_ERRMSG("4 conflict");
    /* doomed is a table conflict: present in base and ours, dropped by theirs */
    CHECK(strstr(s.text, "t:a:1/ours/theirs") != NULL);
    CHECK(strstr(s.text, "t:c:3/-/theirs-c") != NULL);
    CHECK(strstr(s.text, "t:e:-/ours-e/theirs-e") != NULL);
    CHECK(strstr(s.text, "doomed:*") != NULL);
    CHECK_EQ(s.n, 4);
    CHECK_EQ(res.conflicts, 4);
    CHECK_OK(cairn_resolve(&after, db, "HEAD"));
    CHECK_MEM(before.bytes, 32, after.bytes, 32);
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "ours");
    CHECK_OK(cairn_close(db));

    /* ours: conflicts keep ours, clean changes from theirs arrive */
    db = diverged();
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_OURS, NULL, NULL));
    CHECK_EQ(res.conflicts, 4);
    CHECK(!res.fast_forward && !res.up_to_date);
    CHECK_STR(get_at(db, "HEAD", "t", "a"), "ours");
    CHECK_STR(get_at(db, "HEAD", "t", "b"), "same");
    CHECK_STR(get_at(db, "HEAD", "t", "c"), "");       /* ours deleted it */
    CHECK_STR(get_at(db, "HEAD", "t", "d"), "");       /* theirs deleted it, clean */
    CHECK_STR(get_at(db, "HEAD", "t", "e"), "ours-e");
    CHECK_STR(get_at(db, "HEAD", "t", "f"), "same-f");
    CHECK_STR(get_at(db, "HEAD", "other", "o"), "2"); /* theirs' clean change */
    CHECK_STR(get_at(db, "HEAD", "doomed", "x"), "2");
    size_t parents = 0;
    CHECK_OK(cairn_commit_show(db, &res.commit, parents_cb, &parents));
    CHECK_EQ(parents, 2); /* a merge commit */
    CHECK_OK(cairn_close(db));

    /* theirs */
    db = diverged();
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_THEIRS, NULL, NULL));
    CHECK_STR(get_at(db, "HEAD", "t", "a"), "theirs");
    CHECK_STR(get_at(db, "HEAD", "t", "c"), "theirs-c");
    CHECK_STR(get_at(db, "HEAD", "t", "e"), "theirs-e");
    CHECK_STR(get_at(db, "HEAD", "doomed", "x"), "<no table>");
    CHECK_STR(get_at(db, "HEAD", "t", "d"), "");
    CHECK_OK(cairn_close(db));

    /* record: resolve by hand, then commit the merge */
    db = diverged();
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL));
    CHECK_EQ(res.conflicts, 4);
    CHECK(id_is_zero(&res.commit));
    conflicts_seen rec = { 0, "" };
    CHECK_OK(cairn_conflicts(db, conflict_cb, &rec));
    CHECK_STR(rec.text, EXPECTED_CONFLICTS);
    CHECK_RC(commit_msg(db, "too early", NULL), CAIRN_ECONFLICT);
    CHECK_OK(cairn_conflict_resolve(db, "t", "a", 1, "resolved", 8));
    CHECK_OK(cairn_conflict_resolve(db, "t", "c", 1, NULL, 0));
    CHECK_OK(cairn_conflict_resolve(db, "t", "e", 1, "both", 4));
    CHECK_OK(cairn_conflict_resolve(db, "doomed", NULL, 0, NULL, 0));
    CHECK_RC(cairn_conflict_resolve(db, "t", "zz", 2, NULL, 0), CAIRN_ENOTFOUND);
    cairn_id mc;
    CHECK_OK(commit_msg(db, "merged by hand", &mc));
    CHECK_STR(get_at(db, "HEAD", "t", "a"), "resolved");
    CHECK_STR(get_at(db, "HEAD", "t", "e"), "both");
    CHECK_STR(get_at(db, "HEAD", "other", "o"), "2");
    CHECK_STR(get_at(db, "HEAD", CONFLICTS_TABLE, "x"), "<no table>");
    cairn_id p2;
    CHECK_OK(cairn_resolve(&p2, db, "HEAD^2")); /* a merge commit: theirs is its second parent */
    cairn_id th;
    CHECK_OK(cairn_resolve(&th, db, "theirs"));
    CHECK_MEM(p2.bytes, 32, th.bytes, 32);
    CHECK_OK(cairn_close(db));
}

static void merge_dropped_tables(void)
{
    /* a table dropped on one side and untouched on the other is dropped, cleanly; dropped on
       both sides, too; dropped on one side and changed on the other is a conflict */
    cairn_db *db = open_db();
    CHECK_OK(put(db, "keep", "k", "1"));
    CHECK_OK(put(db, "gone_ours", "x", "1"));
    CHECK_OK(put(db, "gone_theirs", "x", "1"));
    CHECK_OK(put(db, "gone_both", "x", "1"));
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "side", NULL));
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(put(db, "keep", "k", "theirs"));
    CHECK_OK(cairn_table_drop(db, "gone_theirs"));
    CHECK_OK(cairn_table_drop(db, "gone_both"));
    CHECK_OK(commit_msg(db, "side", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_table_drop(db, "gone_ours"));
    CHECK_OK(cairn_table_drop(db, "gone_both"));
    CHECK_OK(commit_msg(db, "main", NULL));
    cairn_merge_result res;
    conflicts_seen s = { 0, "" };
    CHECK_OK(cairn_merge(&res, db, "side", CAIRN_MERGE_FAIL, conflict_cb, &s));
    CHECK_EQ(res.conflicts, 0);
    CHECK_STR(get_at(db, "HEAD", "keep", "k"), "theirs");
    CHECK_STR(get_at(db, "HEAD", "gone_ours", "x"), "<no table>");
    CHECK_STR(get_at(db, "HEAD", "gone_theirs", "x"), "<no table>");
    CHECK_STR(get_at(db, "HEAD", "gone_both", "x"), "<no table>");
    CHECK_OK(cairn_close(db));
}

static void merge_fast_forward_and_up_to_date(void)
{
    cairn_db *db = open_db();
    CHECK_OK(put(db, "t", "a", "1"));
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "ahead", NULL));
    CHECK_OK(cairn_checkout(db, "ahead"));
    CHECK_OK(put(db, "t", "a", "2"));
    cairn_id c;
    CHECK_OK(commit_msg(db, "ahead", &c));
    CHECK_OK(cairn_checkout(db, "main"));
    cairn_merge_result res;
    CHECK_OK(cairn_merge(&res, db, "ahead", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK(res.fast_forward);
    CHECK_MEM(res.commit.bytes, 32, c.bytes, 32);
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "2");
    CHECK_OK(cairn_merge(&res, db, "ahead", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK(res.up_to_date);
    /* merging what is already merged needs no clean state; a real merge does */
    CHECK_OK(put(db, "t", "w", "wip"));
    CHECK_OK(cairn_merge(&res, db, "ahead~1", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK(res.up_to_date);
    CHECK_OK(cairn_branch_create(db, "side", "HEAD~1"));
    CHECK_OK(cairn_checkout(db, "side"));
    CHECK_OK(put(db, "t", "s", "side"));
    CHECK_OK(commit_msg(db, "side", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_RC(cairn_merge(&res, db, "side", CAIRN_MERGE_FAIL, NULL, NULL), CAIRN_ECONFLICT);
    CHECK_ERRMSG("uncommitted");
    CHECK_OK(cairn_close(db));
}

/* Disjoint random changes on two branches: A into B and B into A give the same catalog. */
static void merge_commutes(void)
{
    cairn_db *db = open_db();
    uint64_t rng = test_rng(31);
    char k[32], v[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "%d", i);
        CHECK_OK(put(db, i % 3 ? "t" : "u", k, v));
    }
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "a", NULL));
    CHECK_OK(cairn_branch_create(db, "b", NULL));
    const char *sides[2] = { "a", "b" };
    for (int s = 0; s < 2; s++) {
        CHECK_OK(cairn_checkout(db, sides[s]));
        for (int j = 0; j < 300; j++) {
            int i = (int)(test_rand(&rng) % 2000);
            if (i % 2 != s) continue; /* a edits even keys, b odd ones */
            snprintf(k, sizeof k, "k%05d", i);
            snprintf(v, sizeof v, "%s-%d", sides[s], j);
            CHECK_OK(put(db, i % 3 ? "t" : "u", k, test_rand(&rng) % 4 ? v : NULL));
        }
        snprintf(k, sizeof k, "only-%s", sides[s]);
        CHECK_OK(put(db, k, "x", "y")); /* a table only this side adds */
        CHECK_OK(commit_msg(db, sides[s], NULL));
    }
    CHECK_OK(cairn_branch_create(db, "a2", "a"));
    CHECK_OK(cairn_branch_create(db, "b2", "b"));
    cairn_merge_result r1, r2;
    CHECK_OK(cairn_checkout(db, "a2"));
    CHECK_OK(cairn_merge(&r1, db, "b", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK_OK(cairn_checkout(db, "b2"));
    CHECK_OK(cairn_merge(&r2, db, "a", CAIRN_MERGE_FAIL, NULL, NULL));
    cairn_snapshot *s1, *s2;
    CHECK_OK(cairn_snapshot_open_at(&s1, db, "a2"));
    CHECK_OK(cairn_snapshot_open_at(&s2, db, "b2"));
    cairn_id c1, c2;
    CHECK_OK(cairn_snapshot_root(&c1, s1));
    CHECK_OK(cairn_snapshot_root(&c2, s2));
    CHECK_MEM(c1.bytes, 32, c2.bytes, 32);
    cairn_snapshot_close(s1);
    cairn_snapshot_close(s2);
    CHECK_OK(cairn_close(db));
}

/* Criss-cross: two branches merge each other, then change more; merging them again has two
 * merge bases and must still merge cleanly with the right result. */
static void merge_criss_cross(void)
{
    cairn_db *db = open_db();
    CHECK_OK(put(db, "t", "x", "0"));
    CHECK_OK(put(db, "t", "y", "0"));
    CHECK_OK(commit_msg(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "b", NULL));
    CHECK_OK(put(db, "t", "x", "a1"));
    CHECK_OK(commit_msg(db, "a1", NULL));
    CHECK_OK(cairn_checkout(db, "b"));
    CHECK_OK(put(db, "t", "y", "b1"));
    CHECK_OK(commit_msg(db, "b1", NULL));
    /* cross: each merges the other's first commit */
    CHECK_OK(cairn_branch_create(db, "b_at_b1", NULL));
    cairn_merge_result res;
    CHECK_OK(cairn_merge(&res, db, "main", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(cairn_merge(&res, db, "b_at_b1", CAIRN_MERGE_FAIL, NULL, NULL));
    /* more work on each side */
    CHECK_OK(put(db, "t", "z", "a2"));
    CHECK_OK(commit_msg(db, "a2", NULL));
    CHECK_OK(cairn_checkout(db, "b"));
    CHECK_OK(put(db, "t", "w", "b2"));
    CHECK_OK(commit_msg(db, "b2", NULL));
    CHECK_OK(cairn_checkout(db, "main"));
    cairn_id ha, hb, *bases;
    size_t nbases;
    CHECK_OK(cairn_resolve(&ha, db, "main"));
    CHECK_OK(cairn_resolve(&hb, db, "b"));
    CHECK_OK(history_merge_bases(&db->r, &ha, &hb, &bases, &nbases));
    free(bases);
    CHECK_EQ(nbases, 2); /* really criss-cross: two best common ancestors */
    CHECK_OK(cairn_merge(&res, db, "b", CAIRN_MERGE_FAIL, NULL, NULL));
    CHECK_EQ(res.conflicts, 0);
    CHECK_STR(get_at(db, "HEAD", "t", "x"), "a1");
    CHECK_STR(get_at(db, "HEAD", "t", "y"), "b1");
    CHECK_STR(get_at(db, "HEAD", "t", "z"), "a2");
    CHECK_STR(get_at(db, "HEAD", "t", "w"), "b2");
    CHECK_OK(cairn_close(db));
}

/* ---- signatures ---- */

typedef struct sig_seen {
    int status;
    char fpr[17];
} sig_seen;

static int sig_cb(const cairn_commit_info *i, void *p)
{
    sig_seen *s = p;
    s->status = i->signature;
    memcpy(s->fpr, i->signer, 17);
    return 0;
}

/* Writes a commit signed with sk (optionally tampered after signing) and returns its id. */
static void write_signed(cairn_db *db, const uint8_t pk[32], const uint8_t sk[64], bool tamper,
                         cairn_id *out)
{
    commit c;
    memset(&c, 0, sizeof c);
    cairn_snapshot *s;
    cairn_snapshot_open(&s, db);
    CHECK_OK(cairn_snapshot_root(&c.catalog, s));
    cairn_snapshot_close(s);
    c.author = c.committer = (char *)"Signer <s@example.com>";
    c.message = (char *)"signed";
    c.author_time = c.commit_time = 1;
    cairn_buf payload = CAIRN_BUF_INIT, enc = CAIRN_BUF_INIT;
    commit_signing_payload(&payload, &c);
    crypto_sign_detached(c.signature, NULL, payload.data, payload.len, sk);
    memcpy(c.signer, pk, 32);
    c.is_signed = true;
    if (tamper) c.message = (char *)"signed, then altered";
    commit_encode(&enc, &c);
    cs_put(&db->r.cs, out, NULL, enc.data, enc.len);
    cairn_buf_dispose(&payload);
    cairn_buf_dispose(&enc);
}

static void signatures(void)
{
    CHECK(sodium_init() >= 0);
    cairn_db *db = open_db();
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    cairn_id good, bad, unsigned_id;
    write_signed(db, pk, sk, false, &good);
    write_signed(db, pk, sk, true, &bad);
    CHECK_OK(put(db, "t", "a", "1"));
    CHECK_OK(commit_msg(db, "plain", &unsigned_id));
    sig_seen s;
    CHECK_OK(cairn_commit_show(db, &unsigned_id, sig_cb, &s));
    CHECK_EQ(s.status, CAIRN_SIG_NONE);
    CHECK_OK(cairn_commit_show(db, &good, sig_cb, &s));
    CHECK_EQ(s.status, CAIRN_SIG_UNKNOWN); /* verifies, but nobody trusts the key yet */
    CHECK_OK(cairn_commit_show(db, &bad, sig_cb, &s));
    CHECK_EQ(s.status, CAIRN_SIG_BAD);
    char line[200], hex[65];
    hex_encode(hex, pk, 32);
    snprintf(line, sizeof line, "cairn-ed25519 %s tester\n", hex);
    CHECK_OK(cairn_trust_key(db, line));
    CHECK_OK(cairn_trust_key(db, line)); /* twice: no change */
    CHECK_RC(cairn_trust_key(db, "ssh-rsa AAAA"), CAIRN_EINVAL);
    CHECK_OK(cairn_commit_show(db, &good, sig_cb, &s));
    CHECK_EQ(s.status, CAIRN_SIG_GOOD);
    CHECK_EQ(strlen(s.fpr), 16);
    CHECK_OK(cairn_commit_show(db, &bad, sig_cb, &s));
    CHECK_EQ(s.status, CAIRN_SIG_BAD); /* trust does not make an altered commit good */
    /* a repository that requires signatures refuses unsigned commits */
    CHECK_OK(cairn_config_set(db, "commit.require_signature", "true"));
    char *val;
    CHECK_OK(cairn_config_get(&val, db, "commit.require_signature"));
    CHECK_STR(val, "true");
    cairn_free(val);
    CHECK_RC(cairn_config_set(db, "no.such.setting", "1"), CAIRN_EINVAL);
    CHECK_OK(put(db, "t", "a", "2"));
    CHECK_RC(commit_msg(db, "unsigned", NULL), CAIRN_EAUTH);
    CHECK_ERRMSG("requires signed commits");
    CHECK_OK(cairn_close(db));
}

/* What a merge killed between its two steps leaves: the merged working state with the pending
 * merge parent, no merge commit (tables: theirs' catalog stands in for the merged one). */
static void interrupt_merge(cairn_db *db, const char *rev)
{
    cairn_id theirs;
    CHECK_OK(cairn_resolve(&theirs, db, rev));
    commit c;
    CHECK_OK(history_load(&db->r, &theirs, &c));
    CHECK_OK(db_exclusive_begin(db));
    version *cur = db_current(db);
    rootrec next = cur->rec;
    next.catalog = c.catalog;
    next.nmerge = 1;
    next.merge[0] = theirs;
    CHECK_OK(db_publish(db, cur, &next));
    version_release(cur);
    db_exclusive_end(db);
    commit_dispose(&c);
}

/* A merge interrupted before its commit is reported as in progress, another merge says how to
 * finish or abort it (not "commit first"), commit finishes it and abort undoes it. */
static void merge_in_progress(void)
{
    cairn_db *db = diverged();
    cairn_id head, theirs, after;
    CHECK_OK(cairn_resolve(&head, db, "HEAD"));
    CHECK_OK(cairn_resolve(&theirs, db, "theirs"));
    cairn_merge_progress m;
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress);
    interrupt_merge(db, "theirs");
    CHECK_OK(cairn_close(db));
    db = reopen_db();
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(m.in_progress && !m.recorded && m.conflicts == 0);
    CHECK_MEM(m.merging.bytes, 32, theirs.bytes, 32);
    cairn_merge_result res;
    CHECK_RC(cairn_merge(&res, db, "theirs", CAIRN_MERGE_OURS, NULL, NULL), CAIRN_ECONFLICT);
    CHECK_ERRMSG("in progress");
    CHECK_ERRMSG("merge --abort");
    CHECK_RC(cairn_merge(&res, db, "HEAD~1", CAIRN_MERGE_OURS, NULL, NULL), CAIRN_ECONFLICT);
    CHECK_ERRMSG("in progress");
    /* abort: back to the head commit, no merge parent; HEAD did not move */
    CHECK_OK(cairn_merge_abort(db));
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress);
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "ours");
    CHECK_STR(get_at(db, "WORKING", "other", "o"), "1");
    CHECK_OK(cairn_resolve(&after, db, "HEAD"));
    CHECK_MEM(after.bytes, 32, head.bytes, 32);
    CHECK_RC(cairn_merge_abort(db), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("no merge is in progress");
    CHECK_RC(commit_msg(db, "nothing", NULL), CAIRN_EINVAL); /* clean again */
    /* the merge can then be made again */
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_OURS, NULL, NULL));
    CHECK(!id_is_zero(&res.commit));
    CHECK_OK(cairn_close(db));

    /* finish an interrupted merge with commit: a two-parent commit */
    db = diverged();
    CHECK_OK(cairn_resolve(&theirs, db, "theirs"));
    interrupt_merge(db, "theirs");
    cairn_id mc, p2;
    CHECK_OK(commit_msg(db, "finished", &mc));
    CHECK_OK(cairn_resolve(&p2, db, "HEAD^2"));
    CHECK_MEM(p2.bytes, 32, theirs.bytes, 32);
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress);
    CHECK_OK(cairn_close(db));

    /* a recorded merge: conflicts counted as they are resolved; abort drops the resolutions */
    db = diverged();
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL));
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(m.in_progress && m.recorded);
    CHECK_EQ(m.conflicts, 4);
    CHECK_OK(cairn_conflict_resolve(db, "t", "a", 1, "resolved", 8));
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK_EQ(m.conflicts, 3);
    CHECK_RC(cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL), CAIRN_ECONFLICT);
    CHECK_ERRMSG("3 conflict(s)");
    CHECK_OK(cairn_merge_abort(db));
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress && !m.recorded);
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "ours");
    CHECK_STR(get_at(db, "WORKING", CONFLICTS_TABLE, "x"), "<no table>");
    CHECK_OK(cairn_close(db));
    db = reopen_db(); /* the abort is durable */
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress);
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "ours");
    CHECK_OK(cairn_close(db));
}

static int slurp(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return 0;
}

/* The commit of a recorded merge, killed after it moved the branch and before it saved the
 * working state (made here by putting the working state's ref back): opening completes it,
 * although the working state still has the resolved, empty conflicts table. */
static void merge_commit_interrupted(void)
{
    cairn_db *db = diverged();
    cairn_merge_result res;
    CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL));
    CHECK_OK(cairn_conflict_resolve(db, "t", "a", 1, "resolved", 8));
    CHECK_OK(cairn_conflict_resolve(db, "t", "c", 1, NULL, 0));
    CHECK_OK(cairn_conflict_resolve(db, "t", "e", 1, "both", 4));
    CHECK_OK(cairn_conflict_resolve(db, "doomed", NULL, 0, NULL, 0));
    CHECK_OK(cairn_checkpoint(db));
    static char saved[1 << 16];
    char ref[4300];
    size_t n;
    snprintf(ref, sizeof ref, "%s/refs/working/main", last_url);
    CHECK(slurp(ref, saved, sizeof saved, &n) == 0 && n > 0);
    cairn_id mc, head;
    CHECK_OK(commit_msg(db, "merged by hand", &mc));
    CHECK_OK(cairn_close(db));
    FILE *f = fopen(ref, "wb");
    CHECK(f && fwrite(saved, 1, n, f) == n);
    if (f) fclose(f);
    db = reopen_db();
    cairn_merge_progress m;
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK(!m.in_progress);
    CHECK_OK(cairn_resolve(&head, db, "HEAD"));
    CHECK_MEM(head.bytes, 32, mc.bytes, 32);
    CHECK_RC(commit_msg(db, "again", NULL), CAIRN_EINVAL); /* nothing to commit, not "moved" */
    CHECK_ERRMSG("nothing to commit");
    CHECK_STR(get_at(db, "WORKING", "t", "a"), "resolved");
    CHECK_STR(get_at(db, "WORKING", CONFLICTS_TABLE, "x"), "<no table>");
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(commits_and_revisions, branches_and_checkout, reflogs, diffs, merge_conflict_shapes,
          merge_dropped_tables,
          merge_fast_forward_and_up_to_date, merge_commutes, merge_criss_cross, signatures,
          merge_in_progress, merge_commit_interrupted)
