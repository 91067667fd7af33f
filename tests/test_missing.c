/*
 * test_missing.c - a chunk missing from the store is an error wherever a reader meets it, never
 * the end of a table or an absent key: the leaf holding one key is deleted from the store (its
 * del method), then a point read, a cursor over the table, a diff of the table against the
 * empty state (every key added) and a diff of two versions must each fail and name the chunk,
 * and every key outside the leaf still reads back.
 */
#include <stdio.h>
#include <string.h>

#include "cairn.h"
#include "cairn/sys/store.h"
#include "db/db.h"
#include "test.h"
#include "tree/tree.h"

#define N 3000

static void key_of(char *out, size_t n, int i) { snprintf(out, n, "key%07d", i); }

static int fill(cairn_db *db, const char *table, int from, int to, const char *tag)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE));
    cairn_batch *b;
    int rc = cairn_batch_new(&b, db);
    for (int i = from; rc == CAIRN_OK && i < to; i++) {
        char k[32], v[64];
        key_of(k, sizeof k, i);
        snprintf(v, sizeof v, "%s-%d-padding-padding-padding", tag, i);
        rc = cairn_batch_put(b, t, k, strlen(k), v, strlen(v));
    }
    if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    return rc;
}

static int leaf_of(cairn_db *db, int i, cairn_id *out)
{
    char k[32];
    key_of(k, sizeof k, i);
    return test_leaf_of(db, "t", k, out);
}

static int count_diff(const cairn_diff_entry *e, void *payload)
{
    (void)e;
    (*(int *)payload)++;
    return 0;
}

static void missing_leaf_is_an_error(void)
{
    char dir[4200], hex[CAIRN_ID_HEX_SIZE], k[32];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_db *db = test_open_repo(dir);
    CHECK_OK(fill(db, "u", 0, 10, "zero"));
    CHECK_OK(test_commit(db, "zero", NULL)); /* no table t yet */
    CHECK_OK(fill(db, "t", 0, N, "one"));
    CHECK_OK(test_commit(db, "one", NULL));
    CHECK_OK(fill(db, "t", 0, N, "two")); /* every leaf differs between the commits */
    CHECK_OK(test_commit(db, "two", NULL));
    CHECK_OK(cairn_close(db));

    db = test_open_repo(dir);
    cairn_id leaf;
    CHECK_OK(leaf_of(db, N / 2, &leaf));
    CHECK_OK(db->r.store->del(db->r.store, &leaf));
    CHECK_OK(cairn_close(db));
    cairn_id_to_hex(hex, &leaf);

    db = test_open_repo(dir);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *v;
    size_t vl;
    key_of(k, sizeof k, N / 2);
    int rc = cairn_get(&v, &vl, t, NULL, k, strlen(k));
    CHECK_MSG(rc < 0 && rc != CAIRN_ENOTFOUND, "a key in a missing leaf read as rc %d", rc);
    CHECK_ERRMSG(hex);
    key_of(k, sizeof k, 0);
    CHECK_OK(cairn_get(&v, &vl, t, NULL, k, strlen(k)));
    cairn_free(v);

    /* a cursor over the table meets the missing leaf: an error, not the table's end */
    cairn_cursor *cur;
    CHECK_OK(cairn_cursor_open(&cur, t, NULL, NULL));
    int seen = 0;
    rc = cairn_cursor_seek(cur, "", 0);
    while (rc == CAIRN_OK) {
        seen++;
        rc = cairn_cursor_next(cur);
    }
    CHECK_MSG(rc < 0 && rc != CAIRN_ENOTFOUND, "a cursor ended at the missing leaf (rc %d)", rc);
    CHECK(seen > 0 && seen < N);
    cairn_cursor_close(cur);
    cairn_table_close(t);

    /* a diff of two versions, and of the table against a version without it */
    int n = 0;
    rc = cairn_diff(db, "HEAD~1", "HEAD", "t", count_diff, &n);
    CHECK_MSG(rc < 0, "a diff across the missing leaf succeeded with %d changes", n);
    CHECK_ERRMSG(hex);
    n = 0;
    rc = cairn_diff(db, "HEAD~2", "HEAD", "t", count_diff, &n);
    CHECK_MSG(rc < 0, "a whole-table diff across the missing leaf succeeded with %d keys", n);
    CHECK_ERRMSG(hex);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(missing_leaf_is_an_error)
