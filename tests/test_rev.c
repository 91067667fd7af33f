/*
 * test_rev.c - revision strings that must be refused with a clear message, never misread:
 * times past what 64-bit nanoseconds hold, negative counts, a name that is both a branch and a
 * tag; the one time grammar (cairn_time_parse()) and git's relative times in @{...}; reset; a
 * full commit id taken as that commit without asking any ref (a diff by ids opens no file).
 */
#include "base/sys.h"
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

#define NS 1000000000LL

/* One grammar for every time: dates that do not exist are refused (the CLI's second parser once
 * took 2026-02-30), and git's relative forms count back from the time given. */
static void time_grammar(void)
{
    const int64_t now = 1795255200LL * NS + 250000000; /* 2026-11-21T10:00:00.25Z */
    static const struct { const char *text; int64_t want; } OK[] = {
        { "2026-11-21", 1795219200LL * NS },
        { "2026-11-21T10:00:00Z", 1795255200LL * NS },
        { "2026-11-21T10:00:00", 1795255200LL * NS },          /* no offset: UTC */
        { "2026-11-21 10:00", 1795255200LL * NS },
        { "2026-11-21t11:00:00.5+01:00", 1795255200LL * NS + NS / 2 },
        { "2026-11-21T09:30:00-00:30", 1795255200LL * NS },
        { "2024-02-29", 1709164800LL * NS },                     /* a leap day */
        { "1795255200", 1795255200LL * NS },
        { "@1795255200", 1795255200LL * NS },
        { "@-5", -5 * NS },
        { "now", now },
        { "yesterday", now - 86400 * NS },
        { "3 hours ago", now - 3 * 3600 * NS },
        { "1 hour ago", now - 3600 * NS },
        { "2.days.ago", now - 2 * 86400 * NS },
        { "10_minutes_ago", now - 600 * NS },
        { "last week", now - 7 * 86400 * NS },
        { "Last Month", now - 30 * 86400 * NS },
        { "0 seconds ago", now },
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        int64_t got = 0;
        CHECK_OK(cairn_time_parse(&got, OK[i].text, now));
        CHECK_MSG(got == OK[i].want, "%s: %lld, not %lld", OK[i].text, (long long)got,
                  (long long)OK[i].want);
    }
    static const char *const BAD[] = {
        "2026-02-30", "2025-02-29", "2026-13-01", "2026-11-31", "2026-11-21T24:00:00Z",
        "2026-11-21T10:60", "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00+25:00", "2026-1-21",
        "tomorrow", "next week", "3 fortnights ago", "ago", "-5", "", "2 days", "yesterday ago",
        "2026-11-21T10:00:00Z junk",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        int64_t got = 0;
        CHECK_RC(cairn_time_parse(&got, BAD[i], now), CAIRN_EINVAL);
        CHECK_ERRMSG("not a time");
    }
    int64_t got;
    CHECK_RC(cairn_time_parse(&got, "99999999999 years ago", now), CAIRN_EINVAL);
    CHECK_ERRMSG("out of range");
}

/* main@{yesterday} was advertised and refused; now it resolves (here: before the branch
 * existed), and so do the other relative forms. */
static void relative_revisions(void)
{
    cairn_db *db = open_db();
    cairn_id c1, c2, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_OK(commit_one(db, "b", &c2));
    CHECK_RC(cairn_resolve(&got, db, "main@{yesterday}"), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("did not exist then");
    CHECK_RC(cairn_resolve(&got, db, "main@{2 weeks ago}"), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_resolve(&got, db, "main@{now}"));
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_RC(cairn_resolve(&got, db, "main@{2026-02-30}"), CAIRN_EINVAL);
    CHECK_ERRMSG("no such date");
    cairn_close(db);
}

static int count_t(cairn_db *db, uint64_t *n)
{
    cairn_table *t = NULL;
    int rc = cairn_table_open(&t, db, "t", 0);
    if (rc == CAIRN_OK) rc = cairn_count(n, t, NULL, NULL);
    cairn_table_close(t);
    return rc;
}

/* reset moves the branch (recorded in the reflog); --hard also drops uncommitted changes, a
 * plain reset keeps the working state, now showing the difference as changes. */
static void reset(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    cairn_db *db = test_open_repo(url);
    cairn_id c1, c2, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_OK(commit_one(db, "b", &c2));
    uint64_t n;
    CHECK_OK(cairn_reset(db, "HEAD~1", 0));
    CHECK_OK(cairn_resolve(&got, db, "main"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(count_t(db, &n));
    CHECK_EQ(n, 2); /* the working state kept b */
    CHECK_OK(cairn_resolve(&got, db, "main@{1}")); /* the reflog has the move */
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    cairn_id c3;
    CHECK_OK(test_commit(db, "b again", &c3)); /* the kept change commits on c1 */
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &c1);
    CHECK_OK(cairn_reset(db, hex, CAIRN_RESET_HARD)); /* back to c1, hard */
    CHECK_OK(cairn_resolve(&got, db, "HEAD"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(count_t(db, &n));
    CHECK_EQ(n, 1);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_put(t, "dirty", 5, "x", 1));
    cairn_table_close(t);
    CHECK_OK(cairn_reset(db, NULL, CAIRN_RESET_HARD)); /* HEAD: just drop the change */
    CHECK_OK(count_t(db, &n));
    CHECK_EQ(n, 1);
    CHECK_RC(cairn_reset(db, "nowhere", 0), CAIRN_ENOTFOUND);
    CHECK_RC(cairn_reset(db, NULL, 0x80), CAIRN_EINVAL);
    CHECK_OK(cairn_close(db));
    /* what the reset left survives a reopen */
    db = test_open_repo(url);
    CHECK_OK(count_t(db, &n));
    CHECK_EQ(n, 1);
    CHECK_OK(cairn_resolve(&got, db, "HEAD"));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    cairn_close(db);
}

static int count_changes(const cairn_diff_entry *e, void *payload)
{
    (void)e;
    (*(int *)payload)++;
    return 0;
}

/* A full id names its commit before any ref is asked, as in git: resolving it and diffing two
 * commits by id open no file (each revision used to try heads/, tags/ and remotes/ for a ref of
 * that name, and each diff read the retention record: 7 files opened a diff, most of a small
 * diff's time). A ref named with 64 hex digits is still found when no commit has that id; one
 * named as another commit's id loses to that commit. */
static void full_ids_ask_no_ref(void)
{
    cairn_db *db = open_db();
    cairn_id c1, c2, got;
    CHECK_OK(commit_one(db, "a", &c1));
    CHECK_OK(commit_one(db, "b", &c2));
    char h1[CAIRN_ID_HEX_SIZE], h2[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(h1, &c1);
    cairn_id_to_hex(h2, &c2);
    int n = 0;
    CHECK_OK(cairn_diff(db, h1, h2, "t", count_changes, &n)); /* warm: chunks cached */
    CHECK_EQ(n, 1);
    uint64_t opens = sys_calls(SYS_OPEN);
    for (int i = 0; i < 20; i++) CHECK_OK(cairn_diff(db, h1, h2, "t", count_changes, &n));
    CHECK_OK(cairn_resolve(&got, db, h2));
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_EQ(sys_calls(SYS_OPEN) - opens, 0);
    CHECK_EQ(n, 21);

    /* a branch named as c2's id: the id wins */
    CHECK_OK(cairn_branch_create(db, h2, h1));
    CHECK_OK(cairn_resolve(&got, db, h2));
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    char spelled[CAIRN_ID_HEX_SIZE + 8]; /* spelled out, the branch */
    snprintf(spelled, sizeof spelled, "heads/%s", h2);
    CHECK_OK(cairn_resolve(&got, db, spelled));
    CHECK(memcmp(got.bytes, c1.bytes, CAIRN_ID_SIZE) == 0);
    /* a branch named with 64 hex digits that are no commit's id is found */
    char other[CAIRN_ID_HEX_SIZE];
    memset(other, 'e', 64);
    other[64] = '\0';
    CHECK_OK(cairn_branch_create(db, other, h2));
    CHECK_OK(cairn_resolve(&got, db, other));
    CHECK(memcmp(got.bytes, c2.bytes, CAIRN_ID_SIZE) == 0);
    CHECK_OK(cairn_branch_delete(db, other));
    CHECK_RC(cairn_resolve(&got, db, other), CAIRN_ENOTFOUND);
    cairn_close(db);
}

TEST_MAIN(times_out_of_range, negative_counts, branch_and_tag_of_one_name, time_grammar,
          relative_revisions, reset, full_ids_ask_no_ref)
