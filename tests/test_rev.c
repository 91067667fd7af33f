/*
 * test_rev.c - revision strings that must be refused with a clear message, never misread:
 * times past what 64-bit nanoseconds hold, negative counts, a name that is both a branch and a
 * tag.
 */
#include "test.h"

static cairn_db *open_db(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    return test_open_repo(url);
}

static int commit_one(cairn_db *db, const char *key, cairn_id *out)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    if (rc == CAIRN_OK) rc = cairn_put(t, key, strlen(key), "v", 1);
    cairn_table_close(t);
    if (rc == CAIRN_OK) rc = test_commit(db, key, out);
    return rc;
}

/* main@{@SECONDS} and ISO times past 2262 once overflowed a signed nanosecond count (UBSan) and
 * resolved to whatever the wrapped time selected. */
static void times_out_of_range(void)
{
    cairn_db *db = open_db();
    cairn_id c1, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_RC(cairn_resolve(&got, db, "main@{@99999999999}"), CAIRN_EINVAL);
    CHECK_ERRMSG("out of range");
    CHECK_RC(cairn_resolve(&got, db, "main@{@-99999999999}"), CAIRN_EINVAL);
    CHECK_ERRMSG("out of range");
    CHECK_RC(cairn_resolve(&got, db, "main@{@99999999999999999999999}"), CAIRN_EINVAL);
    CHECK_ERRMSG("out of range");
    CHECK_RC(cairn_resolve(&got, db, "main@{9999-01-01}"), CAIRN_EINVAL);
    CHECK_ERRMSG("out of range");
    CHECK_RC(cairn_resolve(&got, db, "main@{@ 5}"), CAIRN_EINVAL);
    CHECK_ERRMSG("is not a time");
    /* the last representable times still work: the newest move is before the one, none before
     * the other */
    CHECK_OK(cairn_resolve(&got, db, "main@{2262-01-01}"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_RC(cairn_resolve(&got, db, "main@{1678-01-01}"), CAIRN_ENOTFOUND);
    cairn_close(db);
}

/* main~-1 once read -1 as a huge count; main@{-1} as time 0. */
static void negative_counts(void)
{
    cairn_db *db = open_db();
    cairn_id c1, c2, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_OK(commit_one(db, "b", &c2));
    CHECK_OK(cairn_resolve(&got, db, "main~1"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(cairn_resolve(&got, db, "main~"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(cairn_resolve(&got, db, "main^1"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_RC(cairn_resolve(&got, db, "main~-1"), CAIRN_EINVAL);
    CHECK_ERRMSG("takes a count of 0 or more digits");
    CHECK_RC(cairn_resolve(&got, db, "main^-1"), CAIRN_EINVAL);
    CHECK_RC(cairn_resolve(&got, db, "main~+1"), CAIRN_EINVAL);
    CHECK_RC(cairn_resolve(&got, db, "main~99999999999999999999999"), CAIRN_EINVAL);
    CHECK_ERRMSG("too large");
    CHECK_OK(cairn_resolve(&got, db, "main@{1}"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_RC(cairn_resolve(&got, db, "main@{-1}"), CAIRN_EINVAL);
    CHECK_ERRMSG("cannot be negative");
    cairn_close(db);
}

/* A branch and a tag of one name: the bare name once meant the branch, silently. */
static void branch_and_tag_of_one_name(void)
{
    cairn_db *db = open_db();
    cairn_id c1, c2, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_OK(cairn_tag_create(db, "x", "main"));
    CHECK_OK(commit_one(db, "b", &c2));
    CHECK_OK(cairn_resolve(&got, db, "x"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(cairn_branch_create(db, "x", "main"));
    CHECK_RC(cairn_resolve(&got, db, "x"), CAIRN_EINVAL);
    CHECK_ERRMSG("both a branch and a tag");
    CHECK_OK(cairn_resolve(&got, db, "heads/x"));
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(cairn_resolve(&got, db, "tags/x"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    cairn_close(db);
}

TEST_MAIN(times_out_of_range, negative_counts, branch_and_tag_of_one_name)
