/*
 * test_doc_catalog.c - the index catalog a collection handle keeps between writes and queries
 * (dv_catalog_get, src/doc/coll.c) is never used once the catalog has changed: an index
 * created or dropped through another handle, an index that became multikey, a checkout of a
 * branch and a reset to a commit with other indexes. After each, the next write through the
 * handle that had the old catalog maintains exactly the indexes the catalog now names (the
 * index check agrees with the documents) and its queries plan with them. Also: the limit on
 * one document's entries in one index names its cause (one array, or arrays multiplied).
 */
#include <stdio.h>
#include <string.h>

#include "doc/doc_int.h"
#include "test.h"

static cairn_coll *coll_open(cairn_db *db, const char *name)
{
    cairn_coll *c = NULL;
    if (cairn_coll_open(&c, db, name, CAIRN_COLL_CREATE) != CAIRN_OK)
        test_fail(__FILE__, __LINE__, "cairn_coll_open: %s", cairn_error_last()->message);
    return c;
}

static void put(cairn_coll *c, const char *json)
{
    CHECK_OK(cairn_doc_upsert(NULL, c, json, strlen(json), NULL));
}

static int count_one(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (void)id, (void)doc, (void)len, (void)cursor;
    (*(uint64_t *)p)++;
    return 0;
}

/* Runs filter through c (flags: the query's): how many results (UINT64_MAX: the query
 * failed), and the index the plan used in index ("" none). */
static uint64_t run(cairn_coll *c, const char *filter, unsigned flags, char index[128])
{
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = filter;
    q.flags = flags;
    cairn_doc_plan plan;
    uint64_t n = 0;
    if (cairn_doc_find(&plan, c, NULL, &q, count_one, &n) != CAIRN_OK) {
        fprintf(stderr, "%s: %s\n", filter, cairn_error_last()->message);
        return UINT64_MAX;
    }
    snprintf(index, 128, "%s", plan.index);
    return n;
}

static uint64_t find(cairn_coll *c, const char *filter, char index[128])
{
    return run(c, filter, 0, index);
}

/* The same filter through a full scan. */
static uint64_t scan(cairn_coll *c, const char *filter)
{
    char unused[128];
    return run(c, filter, CAIRN_DOC_QUERY_NO_INDEX, unused);
}

static void check_indexes(cairn_coll *c)
{
    cairn_doc_check_stats st;
    CHECK_OK(cairn_doc_check(&st, c, NULL));
}

typedef struct found {
    const char *name;
    int present, multikey;
} found;

static int index_seen(const cairn_index_info *info, void *payload)
{
    found *f = payload;
    if (strcmp(info->name, f->name) == 0) {
        f->present = 1;
        f->multikey = info->multikey;
    }
    return 0;
}

static found index_state(cairn_coll *c, const char *name)
{
    found f = { name, 0, 0 };
    if (cairn_doc_index_list(c, NULL, index_seen, &f) != CAIRN_OK) f.present = -1;
    return f;
}

/* Handle a writes and queries (its catalog cached), handle b creates an index, then drops it:
 * a's next write maintains the new index, and after the drop writes nothing to it. */
static void other_handle_creates_and_drops(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *a = coll_open(db, "people"), *b = coll_open(db, "people");
    char ix[128];
    put(a, "{\"_id\":\"p1\",\"age\":30}");
    CHECK_EQ(find(a, "{\"age\":30}", ix), 1);
    CHECK_STR(ix, "");                         /* no index yet: a has that catalog */
    static const char *const age[] = { "age" };
    CHECK_OK(cairn_doc_index_create(b, age, 1, 0));
    put(a, "{\"_id\":\"p2\",\"age\":30}");      /* must go into the index b made */
    put(a, "{\"_id\":\"p1\",\"age\":31}");      /* moves p1's entry */
    check_indexes(a);
    check_indexes(b);
    CHECK_EQ(find(a, "{\"age\":30}", ix), 1);
    CHECK_STR(ix, "age");
    CHECK_EQ(find(b, "{\"age\":31}", ix), 1);
    CHECK_STR(ix, "age");
    CHECK_EQ(scan(a, "{\"age\":30}"), 1);

    CHECK_OK(cairn_doc_index_drop(b, "age"));
    put(a, "{\"_id\":\"p3\",\"age\":30}");
    CHECK_EQ(find(a, "{\"age\":30}", ix), 2);
    CHECK_STR(ix, "");                         /* the plan no longer names it */
    CHECK_EQ(index_state(a, "age").present, 0);
    check_indexes(a);
    /* the dropped index's table is gone and the write did not make it again */
    cairn_table *t = NULL;
    CHECK_RC(cairn_table_open(&t, db, CAIRN_DOC_INDEX_PREFIX "people.age",
                              CAIRN_TABLE_INTERNAL), CAIRN_ENOTFOUND);
    cairn_error_clear();
    cairn_coll_close(a);
    cairn_coll_close(b);
    CHECK_OK(cairn_close(db));
}

/* A write that makes an index multikey changes the catalog row; the handle's next query sees
 * it (the index no longer serves the exact scan a multikey index cannot), and a write that
 * failed after meeting an array leaves the catalog, and what the handle holds, as they were. */
static void multikey_seen_by_the_next_read(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "tagged");
    static const char *const tags[] = { "tags" };
    CHECK_OK(cairn_doc_index_create(c, tags, 1, CAIRN_INDEX_UNIQUE));
    put(c, "{\"_id\":\"t1\",\"tags\":\"a\"}");
    CHECK(!index_state(c, "tags").multikey);
    /* an array whose element another document holds: refused, nothing written */
    const char *dup = "{\"_id\":\"t2\",\"tags\":[\"a\",\"b\"]}";
    CHECK_RC(cairn_doc_insert(NULL, c, dup, strlen(dup), NULL), CAIRN_ECONFLICT);
    cairn_error_clear();
    CHECK(!index_state(c, "tags").multikey);
    put(c, "{\"_id\":\"t2\",\"tags\":[\"b\",\"c\"]}");
    CHECK(index_state(c, "tags").multikey);
    put(c, "{\"_id\":\"t3\",\"tags\":[\"d\"]}");
    check_indexes(c);
    char ix[128];
    CHECK_EQ(find(c, "{\"tags\":\"c\"}", ix), 1);
    CHECK_STR(ix, "tags");
    CHECK_EQ(find(c, "{\"tags\":{\"$gte\":\"b\",\"$lte\":\"c\"}}", ix),
             scan(c, "{\"tags\":{\"$gte\":\"b\",\"$lte\":\"c\"}}"));
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* A checkout of a branch whose collection has another index, and a hard reset to a commit
 * without it: the same handle's next writes maintain the indexes of the state they write to. */
static void checkout_and_reset(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "items");
    put(c, "{\"_id\":\"i1\",\"n\":1,\"k\":\"x\"}");
    cairn_id base;
    CHECK_OK(test_commit(db, "no index", &base));
    CHECK_OK(cairn_branch_create(db, "indexed", NULL));
    CHECK_OK(cairn_checkout(db, "indexed"));
    static const char *const k[] = { "k" };
    CHECK_OK(cairn_doc_index_create(c, k, 1, 0));
    put(c, "{\"_id\":\"i2\",\"n\":2,\"k\":\"x\"}");
    CHECK_OK(test_commit(db, "index on k", NULL));
    char ix[128];
    CHECK_EQ(find(c, "{\"k\":\"x\"}", ix), 2);
    CHECK_STR(ix, "k");

    CHECK_OK(cairn_checkout(db, "main"));       /* no index there */
    put(c, "{\"_id\":\"i3\",\"n\":3,\"k\":\"x\"}");
    CHECK_EQ(find(c, "{\"k\":\"x\"}", ix), 2);
    CHECK_STR(ix, "");
    check_indexes(c);
    CHECK_OK(test_commit(db, "i3", NULL));

    CHECK_OK(cairn_checkout(db, "indexed"));    /* the index again */
    put(c, "{\"_id\":\"i4\",\"n\":4,\"k\":\"x\"}");
    check_indexes(c);
    CHECK_EQ(find(c, "{\"k\":\"x\"}", ix), 3);
    CHECK_STR(ix, "k");

    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &base);
    CHECK_OK(cairn_reset(db, hex, CAIRN_RESET_HARD)); /* back before the index */
    put(c, "{\"_id\":\"i5\",\"n\":5,\"k\":\"x\"}");
    CHECK_EQ(find(c, "{\"k\":\"x\"}", ix), 2);
    CHECK_STR(ix, "");
    CHECK_EQ(index_state(c, "k").present, 0);
    check_indexes(c);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* A query at an older snapshot decodes that version's catalog; the current state's is still
 * the one used by the next write. */
static void snapshots_read_their_own_catalog(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "snaps");
    put(c, "{\"_id\":\"s1\",\"v\":1}");
    cairn_snapshot *before;
    CHECK_OK(cairn_snapshot_open(&before, db));
    static const char *const v[] = { "v" };
    CHECK_OK(cairn_doc_index_create(c, v, 1, 0));
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = "{\"v\":1}";
    cairn_doc_plan plan;
    uint64_t n = 0;
    CHECK_OK(cairn_doc_find(&plan, c, before, &q, count_one, &n));
    CHECK_EQ(n, 1);
    CHECK_STR(plan.index, "");                  /* no index in that version */
    put(c, "{\"_id\":\"s2\",\"v\":1}");          /* after the old catalog was read */
    check_indexes(c);
    char ix[128];
    CHECK_EQ(find(c, "{\"v\":1}", ix), 2);
    CHECK_STR(ix, "v");
    cairn_snapshot_close(before);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* A document with 1,001 distinct values under a one-field index (through an array of
 * objects: an array reached whole would pass the key size limit first), or two arrays
 * whose product passes 1,000 under a two-field one: refused, each naming its cause. */
static void entry_limit_names_its_cause(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "wide");
    static const char *const one[] = { "a.x" }, *const two[] = { "b", "c" };
    CHECK_OK(cairn_doc_index_create(c, one, 1, 0));
    CHECK_OK(cairn_doc_index_create(c, two, 2, 0));
    cairn_buf doc = CAIRN_BUF_INIT;
    CHECK_OK(cairn_buf_append(&doc, "{\"_id\":\"w1\",\"a\":[", 17));
    for (int i = 0; i <= 1000; i++) {
        char n[24];
        int len = snprintf(n, sizeof n, "%s{\"x\":%d}", i ? "," : "", i);
        CHECK_OK(cairn_buf_append(&doc, n, (size_t)len));
    }
    CHECK_OK(cairn_buf_append(&doc, "]}", 2));
    CHECK_RC(cairn_doc_insert(NULL, c, (const char *)doc.data, doc.len, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("an array of that many distinct values on the indexed field");
    cairn_error_clear();
    doc.len = 0;
    CHECK_OK(cairn_buf_append(&doc, "{\"_id\":\"w2\",\"b\":[", 17));
    for (int i = 0; i < 40; i++) {
        char n[24];
        int len = snprintf(n, sizeof n, "%s%d", i ? "," : "", i);
        CHECK_OK(cairn_buf_append(&doc, n, (size_t)len));
    }
    CHECK_OK(cairn_buf_append(&doc, "],\"c\":[", 7));
    for (int i = 0; i < 30; i++) {
        char n[24];
        int len = snprintf(n, sizeof n, "%s%d", i ? "," : "", i);
        CHECK_OK(cairn_buf_append(&doc, n, (size_t)len));
    }
    CHECK_OK(cairn_buf_append(&doc, "]}", 2));
    CHECK_RC(cairn_doc_insert(NULL, c, (const char *)doc.data, doc.len, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("arrays on several indexed fields multiply");
    cairn_error_clear();
    uint64_t n = 1;
    CHECK_OK(cairn_doc_count(&n, c, NULL, NULL));
    CHECK_EQ(n, 0);                             /* nothing written */
    cairn_buf_dispose(&doc);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(entry_limit_names_its_cause, other_handle_creates_and_drops, multikey_seen_by_the_next_read, checkout_and_reset,
          snapshots_read_their_own_catalog)
