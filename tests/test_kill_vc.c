/*
 * test_kill_vc.c - SIGKILL during the multi-step version-control operations: commit, checkout,
 * branch delete, tag, a merge (which saves the merged tables, then commits them), a merge that
 * records conflicts, the commit that finishes a recorded merge, and merge --abort.
 *
 * For each operation a template repository is built once; each round copies it, forks a child
 * that opens the copy, says "go" on a pipe and runs the operation, and the parent kills it
 * after a seeded random delay (up to 1.3 times what an undisturbed run takes, so most kills
 * land inside the operation and some after it). Then the parent opens the repository as the
 * next user would and checks: it opens, cairn_verify() finds no problem, and the state is
 * either the one before the operation or the one after it, or, for merges, a merge reported in
 * progress (cairn_merge_state) whose finish (commit) or abort (cairn_merge_abort) each give
 * the right state. Rounds per operation: CAIRN_KILL_VC_ROUNDS (default 20), seeded.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "db/db.h"
#include "repo/commit.h"
#include "repo/history.h"
#include "repo/refs.h"
#include "test.h"

enum op { OP_COMMIT, OP_CHECKOUT, OP_BRANCH_DELETE, OP_TAG, OP_MERGE, OP_MERGE_RECORD,
          OP_MERGE_COMMIT, OP_MERGE_ABORT, OP__COUNT };
static const char *const OP_NAMES[] = { "commit", "checkout", "branch delete", "tag", "merge",
                                        "merge (record)", "commit of a recorded merge",
                                        "merge --abort" };

/* What a template and an undisturbed run of its operation give. */
typedef struct expect {
    cairn_id c0;             /* main's head before */
    cairn_id theirs;         /* the head of branch theirs */
    cairn_id before_cat;     /* the working state's catalog before */
    cairn_id after_cat;      /* the working state's (and the new commit's) catalog after */
    uint64_t conflicts;      /* recorded by OP_MERGE_RECORD */
    double secs;             /* an undisturbed run */
} expect;

/* Where the kills landed, per operation. */
typedef struct tally {
    int before, after, in_progress;
} tally;


static int put(cairn_db *db, const char *table, const char *k, const char *v)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER);
    if (rc == CAIRN_OK) rc = cairn_put(t, k, strlen(k), v, strlen(v));
    cairn_table_close(t);
    return rc;
}

static cairn_id working_catalog(cairn_db *db, rootrec *rec)
{
    version *v;
    cairn_id c = { { 0 } };
    if (rec) memset(rec, 0, sizeof *rec);
    if (db_working_version(db, &v) != CAIRN_OK) return c;
    c = v->rec.catalog;
    if (rec) *rec = v->rec;
    version_release(v);
    return c;
}

/* The catalog and parents of a commit. */
static void commit_facts(cairn_db *db, const cairn_id *id, cairn_id *catalog, size_t *nparents,
                         cairn_id parents[2])
{
    commit c;
    CHECK_OK(history_load(&db->r, id, &c));
    *catalog = c.catalog;
    *nparents = c.nparents;
    for (size_t i = 0; i < c.nparents && i < 2; i++) parents[i] = c.parents[i];
    commit_dispose(&c);
}

static bool same(const cairn_id *a, const cairn_id *b) { return memcmp(a->bytes, b->bytes, 32) == 0; }

static int resolve_cb(const cairn_conflict *c, void *payload)
{
    char (*keys)[64] = payload;
    for (int i = 0; i < 16; i++)
        if (!keys[i][0]) {
            snprintf(keys[i], sizeof keys[i], "%.*s", (int)c->klen, (const char *)c->key);
            break;
        }
    return 0;
}

/* Resolves every recorded conflict (all are about keys of table t) as "ours". */
static void resolve_all(cairn_db *db)
{
    char keys[16][64];
    memset(keys, 0, sizeof keys);
    CHECK_OK(cairn_conflicts(db, resolve_cb, keys));
    for (int i = 0; i < 16 && keys[i][0]; i++)
        CHECK_OK(cairn_conflict_resolve(db, "t", keys[i], strlen(keys[i]), "ours", 4));
}

/* ---- templates ---- */

/* main: C0 (t: a b c, u: x); theirs: changes a, b, adds d; main changes a, c after C0 is
 * branched: a conflicts, b, c, d merge cleanly. Branch old (with a working state) at C0. */
static void build_template(const char *dir, enum op op, expect *e)
{
    cairn_db *db = test_open_repo(dir);
    CHECK_OK(put(db, "t", "a", "1"));
    CHECK_OK(put(db, "t", "b", "1"));
    CHECK_OK(put(db, "t", "c", "1"));
    CHECK_OK(put(db, "u", "x", "1"));
    CHECK_OK(test_commit(db, "base", NULL));
    CHECK_OK(cairn_branch_create(db, "theirs", NULL));
    CHECK_OK(cairn_branch_create(db, "old", NULL));
    CHECK_OK(cairn_checkout(db, "old"));
    CHECK_OK(cairn_checkout(db, "theirs"));
    CHECK_OK(put(db, "t", "a", "theirs"));
    CHECK_OK(put(db, "t", "b", "theirs"));
    CHECK_OK(put(db, "t", "d", "theirs"));
    CHECK_OK(test_commit(db, "theirs", &e->theirs));
    CHECK_OK(cairn_checkout(db, "main"));
    CHECK_OK(put(db, "t", "a", "ours"));
    CHECK_OK(put(db, "t", "c", "ours"));
    CHECK_OK(test_commit(db, "ours", &e->c0));
    cairn_merge_result res;
    if (op == OP_COMMIT) CHECK_OK(put(db, "t", "e", "uncommitted"));
    if (op == OP_MERGE_COMMIT || op == OP_MERGE_ABORT)
        CHECK_OK(cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL));
    if (op == OP_MERGE_COMMIT) resolve_all(db);
    e->before_cat = working_catalog(db, NULL);
    CHECK_OK(cairn_close(db));
}

/* ---- the child ---- */

static int run_op(cairn_db *db, enum op op)
{
    cairn_merge_result res;
    switch (op) {
    case OP_COMMIT:
    case OP_MERGE_COMMIT: return test_commit(db, "the commit", NULL);
    case OP_CHECKOUT: return cairn_checkout(db, "theirs");
    case OP_BRANCH_DELETE: return cairn_branch_delete(db, "old");
    case OP_TAG: return cairn_tag_create(db, "v1", NULL);
    case OP_MERGE: return cairn_merge(&res, db, "theirs", CAIRN_MERGE_OURS, NULL, NULL);
    case OP_MERGE_RECORD: return cairn_merge(&res, db, "theirs", CAIRN_MERGE_RECORD, NULL, NULL);
    case OP_MERGE_ABORT: return cairn_merge_abort(db);
    default: return CAIRN_EINVAL;
    }
}

static void child(const char *dir, enum op op, int fd)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_db *db = NULL;
    if (cairn_open(&db, dir, &o) != CAIRN_OK) _exit(2);
    if (write(fd, "g", 1) != 1) _exit(2);
    int rc = run_op(db, op);
    if (rc == CAIRN_OK) rc = cairn_close(db);
    _exit(rc == CAIRN_OK ? 0 : 3);
}

/* Runs op on dir in a child, killed delay_us after it said go (< 0: never). *secs: from go to
 * its end; *killed: it died by the signal. */
static void run_child(const char *dir, enum op op, long delay_us, double *secs, bool *killed)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = test_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, op, fds[1]);
    }
    close(fds[1]);
    char go;
    bool started = read(fds[0], &go, 1) == 1;
    double t0 = clock_now();
    if (started && delay_us >= 0) {
        struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    if (secs) *secs = clock_now() - t0;
    close(fds[0]);
    *killed = WIFSIGNALED(status);
    CHECK_MSG(started, "%s: the child did not start", OP_NAMES[op]);
    CHECK_MSG(*killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "%s: the child failed (status %d)", OP_NAMES[op], status);
}

/* ---- after a kill ---- */

static void check_commit_after(cairn_db *db, const expect *e, int nparents_want, const char *what)
{
    cairn_id h, cat, parents[2];
    size_t np = 0;
    CHECK_OK(cairn_resolve(&h, db, "HEAD"));
    commit_facts(db, &h, &cat, &np, parents);
    CHECK_MSG(np == (size_t)nparents_want && same(&parents[0], &e->c0), "%s: HEAD's parents", what);
    if (nparents_want == 2) CHECK_MSG(same(&parents[1], &e->theirs), "%s: second parent", what);
    CHECK_MSG(same(&cat, &e->after_cat), "%s: HEAD's tables", what);
    rootrec rec;
    cairn_id wc = working_catalog(db, &rec);
    CHECK_MSG(same(&wc, &cat) && same(&rec.base_commit, &h) && rec.nmerge == 0,
              "%s: the working state is not HEAD's", what);
    cairn_merge_progress m;
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK_MSG(!m.in_progress, "%s: a merge is still in progress", what);
}

/* Before the operation: HEAD at c0, the working state as in the template. */
static bool is_before(cairn_db *db, const expect *e)
{
    cairn_id h, wc = working_catalog(db, NULL);
    return cairn_resolve(&h, db, "HEAD") == CAIRN_OK && same(&h, &e->c0) && same(&wc, &e->before_cat);
}

/* A merge (of op) in progress: checks what it says, then commits it or aborts it. */
static void finish_merge(cairn_db *db, enum op op, const expect *e, int round)
{
    cairn_merge_progress m;
    CHECK_OK(cairn_merge_state(&m, db));
    CHECK_MSG(same(&m.merging, &e->theirs), "%s: the merge in progress merges what?", OP_NAMES[op]);
    cairn_merge_result res;
    CHECK_RC(cairn_merge(&res, db, "theirs", CAIRN_MERGE_OURS, NULL, NULL), CAIRN_ECONFLICT);
    CHECK_ERRMSG("in progress");
    if (round % 2) {
        CHECK_OK(cairn_merge_abort(db));
        cairn_id h, wc = working_catalog(db, NULL), cat, parents[2];
        size_t np;
        CHECK_OK(cairn_resolve(&h, db, "HEAD"));
        commit_facts(db, &h, &cat, &np, parents);
        CHECK_MSG(same(&h, &e->c0) && same(&wc, &cat), "%s: abort did not restore HEAD's state",
                  OP_NAMES[op]);
        return;
    }
    if (m.conflicts) resolve_all(db);
    CHECK_OK(test_commit(db, "finish", NULL));
    check_commit_after(db, e, 2, OP_NAMES[op]);
}

/* Classifies the state after a kill of op; fails unless it is before, after, or a merge in
 * progress that can be finished and aborted. */
static void check_round(cairn_db *db, enum op op, const expect *e, int round, tally *t)
{
    cairn_verify_stats vs;
    int rc = cairn_verify(&vs, db, NULL);
    CHECK_MSG(rc == CAIRN_OK, "%s round %d: verify: %s", OP_NAMES[op], round,
              cairn_error_last()->message);
    cairn_merge_progress m;
    CHECK_OK(cairn_merge_state(&m, db));
    cairn_id h = { { 0 } }, id;
    char *branch = NULL;
    switch (op) {
    case OP_COMMIT:
        if (is_before(db, e)) {
            t->before++;
            CHECK_OK(test_commit(db, "again", NULL));
        } else t->after++;
        check_commit_after(db, e, 1, OP_NAMES[op]);
        break;
    case OP_CHECKOUT:
        CHECK_OK(cairn_branch_current(&branch, db));
        CHECK(branch != NULL);
        bool on_theirs = branch && strcmp(branch, "theirs") == 0;
        cairn_free(branch);
        if (on_theirs) t->after++;
        else {
            t->before++;
            CHECK_OK(cairn_checkout(db, "theirs"));
        }
        CHECK_OK(cairn_resolve(&h, db, "HEAD"));
        CHECK(same(&h, &e->theirs));
        break;
    case OP_BRANCH_DELETE:
        rc = cairn_resolve(&id, db, "old");
        if (rc == CAIRN_OK) {
            t->before++;
            CHECK_OK(cairn_branch_delete(db, "old"));
        } else t->after++;
        CHECK_RC(cairn_resolve(&id, db, "old"), CAIRN_ENOTFOUND);
        CHECK_RC(refs_read_id(&db->r, "working/old", &id), CAIRN_ENOTFOUND);
        break;
    case OP_TAG:
        rc = cairn_resolve(&id, db, "v1");
        if (rc == CAIRN_OK) t->after++;
        else {
            t->before++;
            CHECK_OK(cairn_tag_create(db, "v1", NULL));
            CHECK_OK(cairn_resolve(&id, db, "v1"));
        }
        CHECK(same(&id, &e->c0));
        break;
    case OP_MERGE:
    case OP_MERGE_RECORD:
        if (!m.in_progress) {
            CHECK_MSG(is_before(db, e) || op == OP_MERGE, "%s round %d: neither before nor in "
                      "progress", OP_NAMES[op], round);
            if (is_before(db, e)) {
                t->before++;
                break;
            }
            t->after++;
            check_commit_after(db, e, 2, OP_NAMES[op]);
            break;
        }
        t->in_progress++;
        CHECK_OK(cairn_resolve(&h, db, "HEAD"));
        CHECK(same(&h, &e->c0));
        CHECK_EQ(m.recorded, op == OP_MERGE_RECORD);
        if (op == OP_MERGE_RECORD) CHECK_EQ(m.conflicts, e->conflicts);
        finish_merge(db, op, e, round);
        break;
    case OP_MERGE_COMMIT:
        if (m.in_progress) {
            t->before++;
            CHECK_MSG(m.recorded && m.conflicts == 0, "round %d", round);
            finish_merge(db, op, e, round);
        } else {
            t->after++;
            check_commit_after(db, e, 2, OP_NAMES[op]);
        }
        break;
    case OP_MERGE_ABORT:
        if (m.in_progress) {
            t->before++;
            CHECK_OK(cairn_merge_abort(db));
        } else t->after++;
        CHECK_OK(cairn_resolve(&h, db, "HEAD"));
        CHECK(same(&h, &e->c0));
        cairn_id wc = working_catalog(db, NULL), cat, parents[2];
        size_t np;
        commit_facts(db, &h, &cat, &np, parents);
        CHECK(same(&wc, &cat));
        break;
    default: break;
    }
}

/* One operation: the template, an undisturbed run for the expected state, then the rounds. */
static void kill_rounds(enum op op, int rounds, uint64_t *rng)
{
    char base[4096], tmpl[4200], dir[4300];
    snprintf(base, sizeof base, "%s", test_tmpdir());
    snprintf(tmpl, sizeof tmpl, "%s/template", base);
    expect e;
    memset(&e, 0, sizeof e);
    build_template(tmpl, op, &e);
    snprintf(dir, sizeof dir, "%s/undisturbed", base);
    CHECK(test_sh("cp -a '%s' '%s'", tmpl, dir) == 0);
    bool killed;
    run_child(dir, op, -1, &e.secs, &killed);
    cairn_db *db = test_open_repo(dir);
    e.after_cat = working_catalog(db, NULL);
    if (op == OP_MERGE_RECORD) { /* finishing it: every conflict resolved as ours, committed */
        cairn_merge_progress m;
        CHECK_OK(cairn_merge_state(&m, db));
        e.conflicts = m.conflicts;
        CHECK(e.conflicts > 0);
        resolve_all(db);
        CHECK_OK(test_commit(db, "finish", NULL));
        e.after_cat = working_catalog(db, NULL);
    }
    CHECK_OK(cairn_close(db));
    tally t = { 0, 0, 0 };
    for (int round = 0; round < rounds; round++) {
        snprintf(dir, sizeof dir, "%s/round%d", base, round);
        CHECK(test_sh("cp -a '%s' '%s'", tmpl, dir) == 0);
        long delay = (long)((double)(test_rand(rng) % 1000) / 1000.0 * 1.3 * e.secs * 1e6);
        run_child(dir, op, delay, NULL, &killed);
        db = test_open_repo(dir);
        check_round(db, op, &e, round, &t);
        CHECK_OK(cairn_close(db));
        test_sh("rm -rf '%s'", dir);
    }
    fprintf(stderr, "  %-28s %d rounds (a run takes %.1f ms): %d before, %d after, %d in "
            "progress\n", OP_NAMES[op], rounds, e.secs * 1e3, t.before, t.after, t.in_progress);
}

static void sigkill_vc_ops(void)
{
    const char *env = getenv("CAIRN_KILL_VC_ROUNDS");
    int rounds = env ? atoi(env) : 20;
    uint64_t rng = test_rng(0x7c);
    for (int op = 0; op < OP__COUNT; op++) kill_rounds((enum op)op, rounds, &rng);
}

TEST_MAIN(sigkill_vc_ops)
