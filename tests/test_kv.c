/*
 * test_kv.c - the public key-value API (cairn.h) on an in-memory repository: tables, point
 * operations, atomic batches, snapshots, cursors over ranges, counts, limits and errors.
 * ctest runs the same checks again on local repositories (test_kv_local).
 */
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h" /* cairn_alloc_fail_after */
#include "cairn.h"
#include "cairn/doc.h" /* CAIRN_DOC_DIFF_ALL */
#include "test.h"
#include "tree/tree.h" /* tree_apply_with */

/* mem: by default; with CAIRN_TEST_LOCAL=1 a new local repository per test (ctest runs both). */
static const char *repo_url(void)
{
    static char url[4200];
    if (!getenv("CAIRN_TEST_LOCAL")) return "mem:";
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    return url;
}

/* A memtable limit under which batches of tens of thousands of operations take the bulk path
 * (batch.c: over half the limit, counting each entry's overhead). */
#define BULK_MEMTABLE (4u << 20)

static cairn_db *open_db_with(size_t memtable_bytes)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.memtable_bytes = memtable_bytes;
    cairn_db *db = NULL;
    if (cairn_open(&db, repo_url(), &o) != CAIRN_OK) {
        fprintf(stderr, "open %s: %s\n", repo_url(), cairn_error_last()->message);
        exit(1);
    }
    return db;
}

static cairn_db *open_db(void) { return open_db_with(0); }

static int get_str(cairn_table *t, const cairn_snapshot *s, const char *k, char *out, size_t cap)
{
    void *v;
    size_t n;
    int rc = cairn_get(&v, &n, t, s, k, strlen(k));
    if (rc != CAIRN_OK) return rc;
    snprintf(out, cap, "%.*s", (int)n, (const char *)v);
    cairn_free(v);
    return CAIRN_OK;
}

static void tables_and_point_ops(void)
{
    cairn_db *db = open_db();
    cairn_table *t;
    CHECK_RC(cairn_table_open(&t, db, "users", 0), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("users");
    CHECK_OK(cairn_table_open(&t, db, "users", CAIRN_TABLE_CREATE));
    CHECK_STR(cairn_table_name(t), "users");
    char buf[64];
    CHECK_RC(get_str(t, NULL, "alice", buf, sizeof buf), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("alice");
    CHECK_OK(cairn_put(t, "alice", 5, "1", 1));
    CHECK_OK(cairn_put(t, "bob", 3, "2", 1));
    CHECK_OK(get_str(t, NULL, "alice", buf, sizeof buf));
    CHECK_STR(buf, "1");
    CHECK_OK(cairn_put(t, "alice", 5, "one", 3));
    CHECK_OK(get_str(t, NULL, "alice", buf, sizeof buf));
    CHECK_STR(buf, "one");
    CHECK_OK(cairn_delete(t, "alice", 5));
    CHECK_RC(get_str(t, NULL, "alice", buf, sizeof buf), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_delete(t, "nobody", 6)); /* absent: fine */
    /* empty key and empty value are legal */
    CHECK_OK(cairn_put(t, "", 0, "", 0));
    void *v;
    size_t n = 99;
    CHECK_OK(cairn_get(&v, &n, t, NULL, "", 0));
    CHECK(v != NULL);
    CHECK_EQ(n, 0);
    cairn_free(v);

    cairn_id r1, r2;
    CHECK_OK(cairn_table_root(&r1, t, NULL));
    cairn_table *t2;
    CHECK_OK(cairn_table_open(&t2, db, "orders", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_table_root(&r2, t2, NULL));
    CHECK(memcmp(r1.bytes, r2.bytes, 32) != 0);

    /* bad names */
    cairn_table *bad;
    CHECK_RC(cairn_table_open(&bad, db, "", CAIRN_TABLE_CREATE), CAIRN_EINVAL);
    CHECK_RC(cairn_table_open(&bad, db, "a/b", CAIRN_TABLE_CREATE), CAIRN_EINVAL);
    CHECK_RC(cairn_table_open(&bad, db, "tab\tle", CAIRN_TABLE_CREATE), CAIRN_EINVAL);

    /* drop */
    CHECK_OK(cairn_table_drop(db, "orders"));
    CHECK_RC(cairn_put(t2, "x", 1, "y", 1), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("orders");
    CHECK_RC(cairn_table_drop(db, "orders"), CAIRN_ENOTFOUND);
    cairn_table_close(t2);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

static void limits(void)
{
    cairn_db *db = open_db();
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "lim", CAIRN_TABLE_CREATE));
    cairn_id before;
    CHECK_OK(cairn_table_root(&before, t, NULL));
    static char big[CAIRN_VALUE_LEN_MAX + 1];
    CHECK_RC(cairn_put(t, big, CAIRN_KEY_LEN_MAX + 1, "v", 1), CAIRN_EINVAL);
    CHECK_ERRMSG("key of 4097 bytes");
    CHECK_ERRMSG("lim");
    CHECK_RC(cairn_put(t, "k", 1, big, CAIRN_VALUE_LEN_MAX + 1), CAIRN_EINVAL);
    CHECK_ERRMSG("value of");
    CHECK_OK(cairn_put(t, big, CAIRN_KEY_LEN_MAX, big, CAIRN_VALUE_LEN_MAX));
    void *v;
    size_t n;
    CHECK_OK(cairn_get(&v, &n, t, NULL, big, CAIRN_KEY_LEN_MAX));
    CHECK_EQ(n, CAIRN_VALUE_LEN_MAX);
    cairn_free(v);
    CHECK_RC(cairn_get(&v, &n, t, NULL, big, CAIRN_KEY_LEN_MAX + 1), CAIRN_EINVAL);
    CHECK_EQ(cairn_key_len_max(), CAIRN_KEY_LEN_MAX);
    CHECK_EQ(cairn_value_len_max(), CAIRN_VALUE_LEN_MAX);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

static void batches_are_atomic(void)
{
    cairn_db *db = open_db();
    cairn_table *a, *b;
    CHECK_OK(cairn_table_open(&a, db, "a", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_table_open(&b, db, "b", CAIRN_TABLE_CREATE));
    cairn_batch *bt;
    CHECK_OK(cairn_batch_new(&bt, db));
    CHECK_OK(cairn_batch_put(bt, a, "k1", 2, "a1", 2));
    CHECK_OK(cairn_batch_put(bt, b, "k1", 2, "b1", 2));
    CHECK_OK(cairn_batch_put(bt, a, "k2", 2, "old", 3));
    CHECK_OK(cairn_batch_put(bt, a, "k2", 2, "new", 3)); /* later wins */
    CHECK_OK(cairn_batch_put(bt, a, "k3", 2, "x", 1));
    CHECK_OK(cairn_batch_delete(bt, a, "k3", 2)); /* later delete wins */
    CHECK_EQ(cairn_batch_count(bt), 6);
    char buf[32];
    CHECK_RC(get_str(a, NULL, "k1", buf, sizeof buf), CAIRN_ENOTFOUND); /* not yet */
    CHECK_OK(cairn_batch_commit(bt));
    CHECK_EQ(cairn_batch_count(bt), 0);
    CHECK_OK(get_str(a, NULL, "k1", buf, sizeof buf));
    CHECK_STR(buf, "a1");
    CHECK_OK(get_str(b, NULL, "k1", buf, sizeof buf));
    CHECK_STR(buf, "b1");
    CHECK_OK(get_str(a, NULL, "k2", buf, sizeof buf));
    CHECK_STR(buf, "new");
    CHECK_RC(get_str(a, NULL, "k3", buf, sizeof buf), CAIRN_ENOTFOUND);

    /* a failed operation poisons the batch: nothing of it is ever applied */
    cairn_id ra, rb;
    CHECK_OK(cairn_table_root(&ra, a, NULL));
    CHECK_OK(cairn_batch_put(bt, a, "k9", 2, "v", 1));
    static char big[CAIRN_KEY_LEN_MAX + 1];
    CHECK_RC(cairn_batch_put(bt, b, big, sizeof big, "v", 1), CAIRN_EINVAL);
    CHECK_RC(cairn_batch_put(bt, a, "k10", 3, "v", 1), CAIRN_ESTATE);
    CHECK_RC(cairn_batch_commit(bt), CAIRN_ESTATE);
    CHECK_ERRMSG("earlier operation");
    CHECK_OK(cairn_table_root(&rb, a, NULL));
    CHECK_MEM(ra.bytes, 32, rb.bytes, 32);
    cairn_batch_clear(bt);
    /* a batch touching a dropped table fails as a whole */
    CHECK_OK(cairn_batch_put(bt, a, "k11", 3, "v", 1));
    CHECK_OK(cairn_batch_put(bt, b, "k11", 3, "v", 1));
    CHECK_OK(cairn_table_drop(db, "b"));
    CHECK_RC(cairn_batch_commit(bt), CAIRN_ENOTFOUND);
    CHECK_RC(get_str(a, NULL, "k11", buf, sizeof buf), CAIRN_ENOTFOUND);
    CHECK_EQ(cairn_batch_count(bt), 2); /* kept for the caller */
    cairn_batch_free(bt);
    cairn_table_close(a);
    cairn_table_close(b);
    CHECK_OK(cairn_close(db));
}

static void snapshots_are_stable(void)
{
    cairn_db *db = open_db();
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "s", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "k", 1, "v1", 2));
    cairn_snapshot *s;
    CHECK_OK(cairn_snapshot_open(&s, db));
    cairn_id root_before;
    CHECK_OK(cairn_snapshot_root(&root_before, s));
    CHECK_OK(cairn_put(t, "k", 1, "v2", 2));
    CHECK_OK(cairn_put(t, "k2", 2, "x", 1));
    char buf[16];
    CHECK_OK(get_str(t, s, "k", buf, sizeof buf));
    CHECK_STR(buf, "v1");
    CHECK_RC(get_str(t, s, "k2", buf, sizeof buf), CAIRN_ENOTFOUND);
    CHECK_OK(get_str(t, NULL, "k", buf, sizeof buf));
    CHECK_STR(buf, "v2");
    /* a cursor on the snapshot sees the old state, even after the table is dropped */
    CHECK_OK(cairn_table_drop(db, "s"));
    cairn_cursor *c;
    CHECK_OK(cairn_cursor_open(&c, t, s, NULL));
    int n = 0;
    while (cairn_cursor_next(c) == CAIRN_OK) n++;
    CHECK_EQ(n, 1);
    cairn_cursor_close(c);
    CHECK_RC(cairn_cursor_open(&c, t, NULL, NULL), CAIRN_ENOTFOUND);
    cairn_id root_after;
    CHECK_OK(cairn_snapshot_root(&root_after, s));
    CHECK_MEM(root_before.bytes, 32, root_after.bytes, 32);
    cairn_snapshot_close(s);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

static void cursors_and_counts(void)
{
    cairn_db *db = open_db();
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "c", CAIRN_TABLE_CREATE));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    enum { N = 20000 };
    char k[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "%c%06d", "abc"[i % 3], i);
        CHECK_OK(cairn_batch_put(b, t, k, (size_t)n, k, (size_t)n));
    }
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    uint64_t cnt;
    CHECK_OK(cairn_count(&cnt, t, NULL, NULL));
    CHECK_EQ(cnt, N);
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = "b";
    r.prefix_len = 1;
    CHECK_OK(cairn_count(&cnt, t, NULL, &r));
    CHECK_EQ(cnt, (N + 1) / 3); /* i % 3 == 1 for i < N */
    r.from = "b001000";
    r.from_len = 7;
    r.to = "b002000";
    r.to_len = 7;
    CHECK_OK(cairn_count(&cnt, t, NULL, &r));
    /* b-keys are b<i> with i % 3 == 1 and 1000 <= i < 2000 */
    int expect = 0;
    for (int i = 1000; i < 2000; i++) expect += i % 3 == 1;
    CHECK_EQ(cnt, expect);
    /* forward over the range */
    cairn_cursor *c;
    CHECK_OK(cairn_cursor_open(&c, t, NULL, &r));
    int seen = 0, last = -1;
    while (cairn_cursor_next(c) == CAIRN_OK) {
        const void *kk, *vv;
        size_t kl, vl;
        CHECK_OK(cairn_cursor_get(&kk, &kl, &vv, &vl, c));
        CHECK_MEM(kk, kl, vv, vl);
        CHECK(((const char *)kk)[0] == 'b');
        int i = atoi((const char *)kk + 1);
        CHECK(i > last && i >= 1000 && i < 2000);
        last = i;
        seen++;
    }
    CHECK_EQ(seen, expect);
    CHECK_RC(cairn_cursor_get(NULL, NULL, NULL, NULL, c), CAIRN_ESTATE);
    /* backward over the same range */
    seen = 0;
    last = 1 << 30;
    while (cairn_cursor_prev(c) == CAIRN_OK) {
        const void *kk;
        size_t kl;
        CHECK_OK(cairn_cursor_get(&kk, &kl, NULL, NULL, c));
        int i = atoi((const char *)kk + 1);
        CHECK(i < last);
        last = i;
        seen++;
    }
    CHECK_EQ(seen, expect);
    /* seek */
    CHECK_OK(cairn_cursor_seek(c, "b001500", 7));
    const void *kk;
    size_t kl;
    CHECK_OK(cairn_cursor_get(&kk, &kl, NULL, NULL, c));
    CHECK_MEM(kk, kl, "b001501", 7);
    CHECK_RC(cairn_cursor_seek(c, "c", 1), CAIRN_ENOTFOUND);
    cairn_cursor_close(c);
    /* prefix of 0xff bytes: no upper bound from the prefix */
    CHECK_OK(cairn_put(t, "\xff\xff", 2, "hi", 2));
    cairn_range r2 = CAIRN_RANGE_INIT;
    r2.prefix = "\xff";
    r2.prefix_len = 1;
    CHECK_OK(cairn_count(&cnt, t, NULL, &r2));
    CHECK_EQ(cnt, 1);
    /* an empty range */
    cairn_range r3 = CAIRN_RANGE_INIT;
    r3.from = "z";
    r3.from_len = 1;
    r3.to = "a";
    r3.to_len = 1;
    CHECK_OK(cairn_count(&cnt, t, NULL, &r3));
    CHECK_EQ(cnt, 0);
    CHECK_OK(cairn_cursor_open(&c, t, NULL, &r3));
    CHECK_RC(cairn_cursor_next(c), CAIRN_ENOTFOUND);
    cairn_cursor_close(c);
    /* stats */
    cairn_table_stats st;
    CHECK_OK(cairn_table_stats_get(&st, t, NULL));
    CHECK_EQ(st.entries, N + 1);
    CHECK(st.depth >= 2 && st.leaf_nodes > 10);
    CHECK(st.leaf_min <= st.leaf_median && st.leaf_median <= st.leaf_max);
    cairn_db_stats ds;
    CHECK_OK(cairn_db_stats_get(&ds, db));
    CHECK(ds.chunks > 0 && ds.tables == 1);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

static int count_cb(const char *name, void *payload)
{
    (void)name;
    (*(int *)payload)++;
    return 0;
}

static void table_list_and_ids(void)
{
    cairn_db *db = open_db();
    cairn_table *t;
    const char *names[] = { "zeta", "alpha", "mid" };
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cairn_table_open(&t, db, names[i], CAIRN_TABLE_CREATE));
        cairn_table_close(t);
    }
    int n = 0;
    CHECK_OK(cairn_table_list(db, NULL, count_cb, &n));
    CHECK_EQ(n, 3);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id id, back;
    memset(id.bytes, 0xab, 32);
    cairn_id_to_hex(hex, &id);
    CHECK_OK(cairn_id_from_hex(&back, hex));
    CHECK_MEM(id.bytes, 32, back.bytes, 32);
    CHECK_EQ(cairn_id_size(), 32);
    CHECK_OK(cairn_close(db));
}

/* CAIRN_TABLE_DEFER: the table appears atomically with its first write, never empty-and-alone. */
static void deferred_creation(void)
{
    cairn_db *db = open_db();
    cairn_table *t, *other;
    CHECK_OK(cairn_table_open(&t, db, "later", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    CHECK_RC(cairn_table_open(&other, db, "later", 0), CAIRN_ENOTFOUND); /* not yet */
    cairn_id root;
    CHECK_RC(cairn_table_root(&root, t, NULL), CAIRN_ENOTFOUND);
    /* a batch that fails creates nothing */
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    CHECK_OK(cairn_batch_put(b, t, "k", 1, "v", 1));
    static char big[CAIRN_KEY_LEN_MAX + 1];
    CHECK_RC(cairn_batch_put(b, t, big, sizeof big, "v", 1), CAIRN_EINVAL);
    CHECK_RC(cairn_batch_commit(b), CAIRN_ESTATE);
    CHECK_RC(cairn_table_open(&other, db, "later", 0), CAIRN_ENOTFOUND);
    /* a batch that succeeds creates the table and fills it in one commit */
    cairn_batch_clear(b);
    CHECK_OK(cairn_batch_put(b, t, "k", 1, "v", 1));
    cairn_snapshot *before;
    CHECK_OK(cairn_snapshot_open(&before, db));
    CHECK_OK(cairn_batch_commit(b));
    CHECK_OK(cairn_table_open(&other, db, "later", 0));
    uint64_t n;
    CHECK_OK(cairn_count(&n, other, NULL, NULL));
    CHECK_EQ(n, 1);
    CHECK_RC(cairn_count(&n, other, before, NULL), CAIRN_ENOTFOUND);
    cairn_snapshot_close(before);
    cairn_table_close(other);
    /* single writes too */
    cairn_table *p;
    CHECK_OK(cairn_table_open(&p, db, "puts", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    CHECK_OK(cairn_put(p, "a", 1, "1", 1));
    CHECK_OK(cairn_count(&n, p, NULL, NULL));
    CHECK_EQ(n, 1);
    CHECK_RC(cairn_table_open(&other, db, "x", CAIRN_TABLE_DEFER), CAIRN_EINVAL);
    cairn_table_close(p);
    cairn_batch_free(b);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

static void allocation_failures(void)
{
    /* Every allocation that can fail during a put must fail cleanly: an error, no crash, no
       leak (ASan checks), and the repository unchanged. */
    for (long nth = 1; nth < 400; nth++) {
        cairn_db *db = open_db();
        cairn_table *t;
        CHECK_OK(cairn_table_open(&t, db, "m", CAIRN_TABLE_CREATE));
        CHECK_OK(cairn_put(t, "a", 1, "1", 1));
        cairn_id before, after;
        CHECK_OK(cairn_table_root(&before, t, NULL));
        cairn_alloc_fail_after(nth);
        cairn_batch *b = NULL;
        int rc = cairn_batch_new(&b, db);
        if (rc == CAIRN_OK) rc = cairn_batch_put(b, t, "b", 1, "2", 1);
        if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
        cairn_alloc_fail_after(0);
        cairn_batch_free(b);
        CHECK(rc == CAIRN_OK || rc == CAIRN_ENOMEM);
        CHECK_OK(cairn_table_root(&after, t, NULL));
        if (rc != CAIRN_OK) CHECK_MEM(before.bytes, 32, after.bytes, 32);
        cairn_table_close(t);
        CHECK_OK(cairn_close(db));
        if (rc == CAIRN_OK) {
            CHECK_MSG(nth > 5, "the commit path made only %ld allocations?", nth);
            break;
        }
        CHECK_MSG(nth < 399, "commit never succeeded");
    }
    /* the same for a checkpoint: it fails whole, the writes stay readable, a later one works */
    for (long nth = 1; nth < 2000; nth++) {
        cairn_db *db = open_db();
        cairn_table *t;
        CHECK_OK(cairn_table_open(&t, db, "m", CAIRN_TABLE_CREATE));
        CHECK_OK(cairn_checkpoint(db));
        for (int i = 0; i < 50; i++) {
            char k[8];
            snprintf(k, sizeof k, "k%02d", i);
            CHECK_OK(cairn_put(t, k, strlen(k), k, strlen(k)));
        }
        cairn_alloc_fail_after(nth);
        int rc = cairn_checkpoint(db);
        cairn_alloc_fail_after(0);
        CHECK(rc == CAIRN_OK || rc == CAIRN_ENOMEM);
        uint64_t n = 0;
        CHECK_OK(cairn_count(&n, t, NULL, NULL));
        CHECK_EQ(n, 50);
        void *v;
        size_t vl;
        CHECK_OK(cairn_get(&v, &vl, t, NULL, "k49", 3));
        cairn_free(v);
        CHECK_OK(cairn_checkpoint(db));
        cairn_db_stats st;
        CHECK_OK(cairn_db_stats_get(&st, db));
        CHECK_EQ(st.memtable_entries, 0);
        cairn_table_close(t);
        CHECK_OK(cairn_close(db));
        if (rc == CAIRN_OK) {
            CHECK_MSG(nth > 10, "the checkpoint made only %ld allocations?", nth);
            return;
        }
    }
    CHECK_MSG(0, "checkpoint never succeeded");
}

static int diff_table_cb_any(const cairn_diff_entry *e, void *payload)
{
    (void)e;
    (*(int *)payload)++;
    return 0;
}

static int diff_table_cb(const cairn_diff_entry *e, void *payload)
{
    if (cairn_table_internal(e->table)) return 1; /* fails the CHECK_OK around the diff */
    (*(int *)payload)++;
    return 0;
}

/* The reserved namespace (issue 10): a user table named cairn_conflicts once blocked every
 * commit. Creating or opening cairn_* tables needs CAIRN_TABLE_INTERNAL; internal tables are
 * left out of the table list, the stats' count and diffs, and commits go on. */
static void reserved_names(void)
{
    cairn_db *db = open_db();
    cairn_table *t = NULL;
    CHECK(cairn_table_internal("cairn_conflicts") && cairn_table_internal("cairn_doc.users"));
    CHECK(!cairn_table_internal("cairn") && !cairn_table_internal("my_cairn_x"));
    CHECK_RC(cairn_table_open(&t, db, "cairn_conflicts", CAIRN_TABLE_CREATE), CAIRN_EINVAL);
    CHECK_ERRMSG("reserved");
    CHECK_RC(cairn_table_open(&t, db, "cairn_doc.x", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER),
             CAIRN_EINVAL);
    CHECK_RC(cairn_table_open(&t, db, "cairn_x", CAIRN_TABLE_NAMEONLY), CAIRN_EINVAL);
    CHECK_OK(cairn_table_open(&t, db, "user", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "k", 1, "v", 1));
    cairn_table_close(t);
    /* an internal user (the documents layer) creates and writes its tables with the flag */
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.x", CAIRN_TABLE_CREATE | CAIRN_TABLE_INTERNAL));
    CHECK_OK(cairn_put(t, "d", 1, "{}", 2));
    cairn_table_close(t);
    int n = 0;
    CHECK_OK(cairn_table_list(db, NULL, count_cb, &n));
    CHECK_EQ(n, 1);
    cairn_db_stats st;
    CHECK_OK(cairn_db_stats_get(&st, db));
    CHECK_EQ(st.tables, 1);
    cairn_id c1;
    CHECK_OK(test_commit(db, "with an internal table", &c1));
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.x", CAIRN_TABLE_INTERNAL));
    CHECK_OK(cairn_put(t, "e", 1, "{}", 2));
    cairn_table_close(t);
    n = 0;
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", NULL, diff_table_cb, &n));
    CHECK_EQ(n, 0); /* only the internal table changed */
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", "cairn_doc.x", diff_table_cb_any, &n));
    CHECK_EQ(n, 1); /* named, it is diffed */
    cairn_close(db);
}

/* Appends each changed table's name (once, in the order the diff reports them) to a list. */
static int diff_names_cb(const cairn_diff_entry *e, void *payload)
{
    char *names = payload;
    size_t n = strlen(names), tl = strlen(e->table);
    const char *last = strrchr(names, ' ');
    if (n && strcmp(last ? last + 1 : names, e->table) == 0) return 0;
    if (n + tl + 2 > 512) return 1;
    snprintf(names + n, 512 - n, "%s%s", n ? " " : "", e->table);
    return 0;
}

/* cairn_diff() with CAIRN_DOC_DIFF_ALL reports the user tables and, of each collection, its
 * documents, index catalog and retention tables, in one pass: not its index tables, nor other
 * internal tables. */
static void diff_all_collections(void)
{
    cairn_db *db = open_db();
    cairn_table *t = NULL;
    CHECK_OK(cairn_table_open(&t, db, "before", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "k", 1, "v", 1));
    cairn_table_close(t);
    cairn_id c1;
    CHECK_OK(test_commit(db, "one table", &c1));
    const char *names[] = { "cairn_doc.x", "cairn_dcat.x", "cairn_dret.x", "cairn_idx.x.n",
                            "cairn_other", "user" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        CHECK_OK(cairn_table_open(&t, db, names[i], CAIRN_TABLE_CREATE | CAIRN_TABLE_INTERNAL));
        CHECK_OK(cairn_put(t, "k", 1, "v", 1));
        cairn_table_close(t);
    }
    char seen[512] = "";
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", CAIRN_DOC_DIFF_ALL, diff_names_cb, seen));
    CHECK_STR(seen, "cairn_dcat.x cairn_doc.x cairn_dret.x user");
    seen[0] = '\0';
    CHECK_OK(cairn_diff(db, "HEAD", "WORKING", NULL, diff_names_cb, seen));
    CHECK_STR(seen, "user");
    cairn_close(db);
}

/* A batch large enough for the bulk path (its radix sort) ends in the same trees as the same
 * operations in small batches (the comparison sort, the log): over more tables than the old
 * bucket sort took, with keys that tie on their first eight bytes, shorter keys, keys that
 * arrive in order, in reverse and at random, repeated keys (the last operation wins) and
 * deletes. */
#define SORT_TABLES 6
#define SORT_OPS 90000
#define SORT_SMALL 5000

static void sort_op(char *key, size_t *klen, bool *del, uint64_t i, uint64_t *rng)
{
    uint64_t r = test_rand(rng);
    unsigned t = (unsigned)(i % SORT_TABLES), kind = t % 3;
    uint64_t k = kind == 0 ? i : kind == 1 ? SORT_OPS - i : r % (SORT_OPS / 4);
    if (r % 7 == 0) *klen = (size_t)snprintf(key, 32, "%c%llu", 'a' + (int)(k % 3),
                                             (unsigned long long)(k % 50)); /* short */
    else *klen = (size_t)snprintf(key, 32, "common-prefix-%09llu", (unsigned long long)k);
    *del = kind == 2 && (r >> 20) % 5 == 0;
}

/* Opens n tables big0.. and n tables small0.., and a batch for each side. */
static void open_sides(cairn_db *db, cairn_table **big, cairn_table **small, int n,
                       cairn_batch **bb, cairn_batch **sb)
{
    for (int t = 0; t < n; t++) {
        char name[16];
        snprintf(name, sizeof name, "big%d", t);
        CHECK_OK(cairn_table_open(&big[t], db, name, CAIRN_TABLE_CREATE));
        snprintf(name, sizeof name, "small%d", t);
        CHECK_OK(cairn_table_open(&small[t], db, name, CAIRN_TABLE_CREATE));
    }
    CHECK_OK(cairn_batch_new(bb, db));
    CHECK_OK(cairn_batch_new(sb, db));
}

static void large_batch_order(void)
{
    cairn_db *db = open_db_with(BULK_MEMTABLE);
    cairn_table *big[SORT_TABLES], *small[SORT_TABLES];
    cairn_batch *bb, *sb;
    open_sides(db, big, small, SORT_TABLES, &bb, &sb);
    uint64_t rng = test_rng(11);
    for (uint64_t i = 0; i < SORT_OPS; i++) {
        char key[32], val[24];
        size_t klen;
        bool del;
        sort_op(key, &klen, &del, i, &rng);
        int vlen = snprintf(val, sizeof val, "v%llu", (unsigned long long)i);
        unsigned t = (unsigned)(i % SORT_TABLES);
        if (del) {
            CHECK_OK(cairn_batch_delete(bb, big[t], key, klen));
            CHECK_OK(cairn_batch_delete(sb, small[t], key, klen));
        } else {
            CHECK_OK(cairn_batch_put(bb, big[t], key, klen, val, (size_t)vlen));
            CHECK_OK(cairn_batch_put(sb, small[t], key, klen, val, (size_t)vlen));
        }
        if ((i + 1) % SORT_SMALL == 0) CHECK_OK(cairn_batch_commit(sb));
    }
    CHECK_OK(cairn_batch_commit(sb));
    CHECK_OK(cairn_batch_commit(bb));
    CHECK_OK(cairn_checkpoint(db));
    for (int t = 0; t < SORT_TABLES; t++) {
        cairn_id rb, rs;
        uint64_t nb, ns;
        CHECK_OK(cairn_table_root(&rb, big[t], NULL));
        CHECK_OK(cairn_table_root(&rs, small[t], NULL));
        CHECK_MEM(rb.bytes, CAIRN_ID_SIZE, rs.bytes, CAIRN_ID_SIZE);
        CHECK_OK(cairn_count(&nb, big[t], NULL, NULL));
        CHECK_OK(cairn_count(&ns, small[t], NULL, NULL));
        CHECK_EQ(nb, ns);
        CHECK(nb > 100);
        cairn_table_close(big[t]);
        cairn_table_close(small[t]);
    }
    cairn_batch_free(bb);
    cairn_batch_free(sb);
    cairn_close(db);
}

/* Each table's operations of a bulk batch are listed per table as they arrive and sorted only
 * when they are out of order (batch.c, table_edits): tables of more than RADIX_MIN_OPS
 * operations whose keys arrive in order (each twice, the last one winning), in order but for
 * the last one, and in reverse (keys that differ in their first eight bytes: radix passes
 * that move them), interleaved, end in the trees the same operations give in small batches
 * (the comparison sort, the log) through one batch reused after each commit; so do keys out of
 * order in their first eight bytes and in order after them (the radix sort alone). Both
 * batches are then cleared and reused for two more rounds that touch the tables in other
 * orders (a table's list is then another table's), with puts and deletes: the large one still
 * a bulk commit, now with lists that were freed (2 MiB or more) or kept at the clear. */
#define ORDER_OPS 70000   /* a table: over batch.c's RADIX_MIN_OPS */
#define ORDER_AGAIN 20000 /* a table, in the later rounds: 4 of them a bulk batch (BULK_MEMTABLE) */
enum { ORDER_IN, ORDER_LAST_LOW, ORDER_REVERSE, ORDER_RADIX, ORDER_KINDS };

static int order_key(char key[32], int kind, uint64_t i)
{
    unsigned long long k = kind == ORDER_LAST_LOW  ? (i + 1 < ORDER_OPS ? i + 1 : 0)
                           : kind == ORDER_REVERSE ? ORDER_OPS - i
                                                   : i / 2 * 2; /* each key twice in a row */
    if (kind == ORDER_RADIX) /* out of order in the first 8 bytes, in order after them */
        return snprintf(key, 32, "%c%c-%012llu", 'a' + (int)(k * 7 % 26),
                        'a' + (int)(k / 26 * 11 % 26), k);
    if (kind == ORDER_REVERSE) /* all eight first bytes are digits of k */
        return snprintf(key, 32, "%08llu-rev", k);
    return snprintf(key, 32, "key-%012llu", k);
}

/* Round r of large_batch_in_order: the same operations into bb (one commit) and sb (one every
 * SORT_SMALL), the tables in the order given; then their trees must be the same. */
static void order_round(cairn_db *db, cairn_table **big, cairn_table **small, cairn_batch *bb,
                        cairn_batch *sb, int r, const int order[ORDER_KINDS])
{
    uint64_t n = r == 0 ? ORDER_OPS : ORDER_AGAIN;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t at = r == 0 ? i : 3 * i + (uint64_t)r - 1;
        bool del = r > 0 && i % 5 == 0;
        for (int o = 0; o < ORDER_KINDS; o++) {
            int t = order[o];
            char key[32], val[24];
            int klen = order_key(key, t, at);
            int vlen = snprintf(val, sizeof val, "%c%llu", 'v' + r, (unsigned long long)i);
            if (del) {
                CHECK_OK(cairn_batch_delete(bb, big[t], key, (size_t)klen));
                CHECK_OK(cairn_batch_delete(sb, small[t], key, (size_t)klen));
                continue;
            }
            CHECK_OK(cairn_batch_put(bb, big[t], key, (size_t)klen, val, (size_t)vlen));
            CHECK_OK(cairn_batch_put(sb, small[t], key, (size_t)klen, val, (size_t)vlen));
        }
        if ((i + 1) % SORT_SMALL == 0) CHECK_OK(cairn_batch_commit(sb));
    }
    CHECK_OK(cairn_batch_commit(sb));
    CHECK_EQ(cairn_batch_count(bb), (size_t)n * ORDER_KINDS);
    cairn_db_stats st;
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_batch_commit(bb));
    CHECK_OK(cairn_db_stats_get(&st, db));
    CHECK_EQ(st.memtable_entries, 0); /* a bulk commit: straight into the trees */
    cairn_batch_clear(bb);
    cairn_batch_clear(sb);
    CHECK_OK(cairn_checkpoint(db));
    for (int t = 0; t < ORDER_KINDS; t++) {
        cairn_id rb, rs;
        CHECK_OK(cairn_table_root(&rb, big[t], NULL));
        CHECK_OK(cairn_table_root(&rs, small[t], NULL));
        CHECK_MEM(rb.bytes, CAIRN_ID_SIZE, rs.bytes, CAIRN_ID_SIZE);
    }
}

static void large_batch_in_order(void)
{
    cairn_db *db = open_db_with(BULK_MEMTABLE);
    cairn_table *big[ORDER_KINDS], *small[ORDER_KINDS];
    cairn_batch *bb, *sb;
    open_sides(db, big, small, ORDER_KINDS, &bb, &sb);
    order_round(db, big, small, bb, sb, 0, (const int[]){ 0, 1, 2, 3 });
    for (int t = 0; t < ORDER_KINDS; t++) {
        uint64_t nb;
        CHECK_OK(cairn_count(&nb, big[t], NULL, NULL));
        bool twice = t == ORDER_IN || t == ORDER_RADIX;
        CHECK_EQ(nb, twice ? (uint64_t)ORDER_OPS / 2 : (uint64_t)ORDER_OPS);
    }
    char v[24];
    CHECK_OK(get_str(big[ORDER_IN], NULL, "key-000000000042", v, sizeof v));
    CHECK_STR(v, "v43"); /* the second put of the key */
    CHECK_OK(get_str(big[ORDER_LAST_LOW], NULL, "key-000000000000", v, sizeof v));
    CHECK_STR(v, "v69999");
    char key[32];
    order_key(key, ORDER_RADIX, 42);
    CHECK_OK(get_str(big[ORDER_RADIX], NULL, key, v, sizeof v));
    CHECK_STR(v, "v43");
    order_key(key, ORDER_REVERSE, 0);
    CHECK_STR(key, "00070000-rev");
    CHECK_OK(get_str(big[ORDER_REVERSE], NULL, key, v, sizeof v));
    CHECK_STR(v, "v0");

    order_round(db, big, small, bb, sb, 1, (const int[]){ 3, 2, 1, 0 });
    order_round(db, big, small, bb, sb, 2, (const int[]){ 1, 3, 0, 2 });
    CHECK_OK(get_str(big[ORDER_IN], NULL, "key-000000000002", v, sizeof v));
    CHECK_STR(v, "w1"); /* round 1, i = 1: 3 * 1 + 0 = 3, "each key twice" makes it 2 */
    CHECK_OK(get_str(big[ORDER_IN], NULL, "key-000000000004", v, sizeof v));
    CHECK_STR(v, "x1"); /* round 2, i = 1: 3 * 1 + 1 */
    CHECK_EQ(get_str(big[ORDER_IN], NULL, "key-000000000000", v, sizeof v), CAIRN_ENOTFOUND);
    order_key(key, ORDER_REVERSE, 3 * 7 + 1);
    CHECK_OK(get_str(big[ORDER_REVERSE], NULL, key, v, sizeof v));
    CHECK_STR(v, "x7");
    order_key(key, ORDER_RADIX, 3 * 10 + 1);
    CHECK_EQ(get_str(big[ORDER_RADIX], NULL, key, v, sizeof v), CAIRN_ENOTFOUND);
    for (int t = 0; t < ORDER_KINDS; t++) {
        cairn_table_close(big[t]);
        cairn_table_close(small[t]);
    }
    cairn_batch_free(bb);
    cairn_batch_free(sb);
    cairn_close(db);
}

/* A batch of one table's FAIL_OPS puts, its list growing in malloc'd memory to 32,768
 * operations, then on huge pages (a copy at 32,768 -> 65,536, mremap from 65,536 on), with
 * each allocation failing in turn: the put that needed it fails with CAIRN_ENOMEM naming the
 * operation, the batch then refuses puts and its commit (until cleared), nothing reaches the
 * table; the first
 * allocation count that lets all puts through commits them all. */
#define FAIL_OPS 140000

/* Puts FAIL_OPS keys in order; *done: how many went in. */
static int fail_puts(cairn_batch *b, cairn_table *t, size_t *done)
{
    for (size_t i = 0; i < FAIL_OPS; i++) {
        char key[16];
        int klen = snprintf(key, sizeof key, "k%08zu", i);
        int rc = cairn_batch_put(b, t, key, (size_t)klen, key, (size_t)klen);
        if (rc != CAIRN_OK) {
            *done = i;
            return rc;
        }
    }
    *done = FAIL_OPS;
    return CAIRN_OK;
}

static void batch_allocation_failures(void)
{
    cairn_db *db = open_db_with(BULK_MEMTABLE);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "m", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "a", 1, "1", 1));
    CHECK_OK(cairn_checkpoint(db));
    cairn_id before, now;
    CHECK_OK(cairn_table_root(&before, t, NULL));
    bool grew[3] = { false, false, false }; /* failed growing from 32,768, 65,536, 131,072 */
    size_t done;
    for (long nth = 1;; nth++) {
        CHECK_MSG(nth < 100, "the puts never succeeded");
        cairn_batch *b;
        CHECK_OK(cairn_batch_new(&b, db));
        cairn_alloc_fail_after(nth);
        int rc = fail_puts(b, t, &done);
        cairn_alloc_fail_after(0);
        if (rc == CAIRN_OK) {
            CHECK_MSG(grew[0] && grew[1] && grew[2], "the list's growth never failed");
            CHECK_OK(cairn_batch_commit(b));
            cairn_batch_free(b);
            break;
        }
        CHECK_EQ(rc, CAIRN_ENOMEM);
        CHECK_EQ(cairn_batch_count(b), done);
        char want[64];
        snprintf(want, sizeof want, "adding operation %zu to a batch", done + 1);
        const char *msg = cairn_error_last()->message;
        CHECK_MSG(strstr(msg, "out of memory") && strstr(msg, "to a batch"), "message: %s", msg);
        for (int g = 0; g < 3; g++)
            if (done == (size_t)32768 << g && strstr(msg, want)) grew[g] = true;
        CHECK_EQ(cairn_batch_put(b, t, "z", 1, "z", 1), CAIRN_ESTATE);
        CHECK_EQ(cairn_batch_commit(b), CAIRN_ESTATE);
        cairn_batch_clear(b); /* usable again */
        CHECK_OK(cairn_batch_put(b, t, "z", 1, "z", 1));
        CHECK_EQ(cairn_batch_count(b), 1);
        cairn_batch_free(b);
        CHECK_OK(cairn_table_root(&now, t, NULL));
        CHECK_MEM(before.bytes, CAIRN_ID_SIZE, now.bytes, CAIRN_ID_SIZE);
    }
    uint64_t n;
    CHECK_OK(cairn_count(&n, t, NULL, NULL));
    CHECK_EQ(n, (uint64_t)FAIL_OPS + 1);

    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* A bulk commit that runs out of memory at any allocation tells the truth: either it says
 * the change was saved (and a fresh open holds all of it), or nothing of it is in the
 * repository. (A failure loading the new version after it was published said plain "out of
 * memory", and the handle went on from the old state: its next commit lost as if another
 * writer had moved the branch.) Tried at each of the commit's last 40 allocations and at 20
 * spread over the rest. */
static void bulk_commit_failures_tell_truth(void)
{
    enum { PUTS = 70000 }; /* a bulk commit, under BULK_MEMTABLE */
    long total = 0;
    char dir[4200], key[16];
    for (int round = -1; round < 60 && !test_failures; round++) {
        snprintf(dir, sizeof dir, "%s/truth%d", test_tmpdir(), round + 1);
        cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
        o.flags = CAIRN_OPEN_CREATE;
        o.read_threads = CAIRN_READ_THREADS_NONE;
        o.memtable_bytes = BULK_MEMTABLE;
        cairn_db *db = NULL;
        CHECK_OK(cairn_open(&db, dir, &o));
        cairn_table *t;
        CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
        CHECK_OK(cairn_checkpoint(db));
        cairn_batch *b;
        CHECK_OK(cairn_batch_new(&b, db));
        for (int i = 0; i < PUTS; i++) {
            int n = snprintf(key, sizeof key, "k%07d", i);
            CHECK_OK(cairn_batch_put(b, t, key, (size_t)n, key, (size_t)n));
        }
        long nth = round < 0 ? 0 : round < 40 ? total - round : 1 + total * (round - 40) / 20;
        long start = cairn_alloc_count();
        if (nth > 0) cairn_alloc_fail_after(nth);
        int rc = cairn_batch_commit(b);
        cairn_alloc_fail_after(0);
        if (round < 0) { /* the measure: how many allocations a commit makes */
            CHECK_OK(rc);
            total = cairn_alloc_count() - start;
        }
        bool saved = rc == CAIRN_OK || strstr(cairn_error_last()->message, "WAS saved");
        char msg[1100];
        snprintf(msg, sizeof msg, "%s", rc == CAIRN_OK ? "ok" : cairn_error_last()->message);
        cairn_batch_free(b);
        cairn_table_close(t);
        cairn_close(db);
        CHECK_OK(cairn_open(&db, dir, &o));
        CHECK_OK(cairn_table_open(&t, db, "t", 0));
        uint64_t n = 0;
        CHECK_OK(cairn_count(&n, t, NULL, NULL));
        CHECK_MSG(n == (saved ? (uint64_t)PUTS : 0), "allocation %ld of %ld failed (%s): %llu "
                  "keys after reopening", nth, total, msg, (unsigned long long)n);
        cairn_table_close(t);
        CHECK_OK(cairn_close(db));
    }
}

/* tree_apply_with() (under a batch's commit) zeroes its counters before it checks the edits:
 * a call it refuses leaves none behind (here stale ones). The chunk store is never reached. */
static void tree_stats_on_refused_edits(void)
{
    tree_edit e[2] = { { (const uint8_t *)"b", (const uint8_t *)"1", 1, 1, EDIT_PUT },
                       { (const uint8_t *)"a", (const uint8_t *)"2", 1, 1, EDIT_PUT } };
    chunkstore cs;
    memset(&cs, 0, sizeof cs);
    cairn_id root, out;
    memset(&root, 0, sizeof root);
    tree_apply_opts opt = tree_apply_opts_for(2, 1);
    tree_apply_stats st, zero;
    memset(&st, 0xff, sizeof st);
    memset(&zero, 0, sizeof zero);
    CHECK_RC(tree_apply_with(&cs, &out, &root, e, 2, &opt, &st), CAIRN_EINVAL);
    CHECK_MEM(&st, sizeof st, &zero, sizeof zero);
}

/* A big update that the log and the memtable take (100,000 operations, about 3 MiB) is logged,
 * not applied to the trees at commit: it commits in time that follows its own size, where the
 * bulk path rewrote nearly every leaf of a large table (issue: 88k updates of an 886k-row table
 * took 4.3 s to commit). It is readable at once and after a reopen (replayed from the log), and
 * a checkpoint then moves it into the trees. */
/* The big batch of big_update_is_logged, written by a child that then ends without closing
 * (its close would checkpoint, and nothing would be left to replay). Exit status 0 when the
 * commit was logged (in the memtable, not the trees). */
static int big_update_child(const char *dir, int n, int again)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db = NULL;
    cairn_table *t;
    cairn_batch *b;
    if (cairn_open(&db, dir, &o) || cairn_table_open(&t, db, "big", CAIRN_TABLE_CREATE) ||
        cairn_batch_new(&b, db))
        return 1;
    char key[16], val[24];
    for (int i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "k%08d", i * 7919 % n);
        int vl = snprintf(val, sizeof val, "value-%d", i);
        if (cairn_batch_put(b, t, key, (size_t)kl, val, (size_t)vl)) return 1;
    }
    /* later operations on the same keys, in the same batch: the last one wins (the radix sort
     * keeps them in order) */
    for (int j = 0; j < again; j++) {
        int kl = snprintf(key, sizeof key, "k%08d", j);
        if (cairn_batch_delete(b, t, key, (size_t)kl)) return 1;
        kl = snprintf(key, sizeof key, "k%08d", again + j);
        int vl = snprintf(val, sizeof val, "again-%d", j);
        if (cairn_batch_put(b, t, key, (size_t)kl, val, (size_t)vl)) return 1;
    }
    if (cairn_batch_commit(b)) return 1;
    cairn_db_stats st;
    if (cairn_db_stats_get(&st, db) || st.memtable_entries < (uint64_t)n) return 2;
    return 0; /* no close: the process ends here */
}

/* A big update that the log and the memtable take (110,000 operations, about 3 MiB) is logged,
 * not applied to the trees at commit: it commits in time that follows its own size, where the
 * bulk path rewrote nearly every leaf of a large table (issue: 88k updates of an 886k-row table
 * took 4.3 s to commit). A process that ends right after the commit leaves it in the log only:
 * the next open replays it whole (the last operation on each key winning), and a checkpoint
 * then moves it into the trees. */
static void big_update_is_logged(void)
{
    enum { N = 100000, AGAIN = 5000 };
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/bigupdate", test_tmpdir()); /* on disk: reopened below */
    fflush(NULL);
    pid_t pid = test_fork();
    if (pid == 0) _exit(big_update_child(dir, N, AGAIN));
    CHECK(pid > 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0); /* 2: it went to the trees (bulk) */
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_db *db = NULL;
    CHECK_OK(cairn_open(&db, dir, &o)); /* replays the log */
    cairn_db_stats st;
    CHECK_OK(cairn_db_stats_get(&st, db));
    CHECK(st.recovered_records >= 1);
    CHECK(st.memtable_entries >= N);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "big", 0));
    char key[16], got[32];
    for (int pass = 0; pass < 2; pass++) { /* from the memtable, then from the trees */
        uint64_t count = 0;
        CHECK_OK(cairn_count(&count, t, NULL, NULL));
        CHECK_EQ(count, N - AGAIN);
        for (int j = 0; j < AGAIN; j += 499) {
            snprintf(key, sizeof key, "k%08d", j);
            CHECK_EQ(get_str(t, NULL, key, got, sizeof got), CAIRN_ENOTFOUND);
            snprintf(key, sizeof key, "k%08d", AGAIN + j);
            char want[24];
            snprintf(want, sizeof want, "again-%d", j);
            CHECK_EQ(get_str(t, NULL, key, got, sizeof got), 0);
            CHECK_STR(got, want);
        }
        snprintf(key, sizeof key, "k%08d", 99999 * 7919 % N); /* 92081: not one of the above */
        CHECK_EQ(get_str(t, NULL, key, got, sizeof got), 0);
        CHECK_STR(got, "value-99999");
        if (pass == 0) {
            CHECK_OK(cairn_checkpoint(db));
            CHECK_OK(cairn_db_stats_get(&st, db));
            CHECK_EQ(st.memtable_entries, 0);
        }
    }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(tables_and_point_ops, limits, batches_are_atomic, snapshots_are_stable,
          cursors_and_counts, table_list_and_ids, deferred_creation, allocation_failures,
          reserved_names, diff_all_collections, large_batch_order, large_batch_in_order,
          batch_allocation_failures, bulk_commit_failures_tell_truth, tree_stats_on_refused_edits,
          big_update_is_logged)
