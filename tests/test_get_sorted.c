/*
 * test_get_sorted.c - db_get_sorted() (src/db/read.c), the sorted point reads behind index
 * scans: the same answers whether the keys come from the trees or from writes still in the
 * memtable (deletes included), and a key below the one before it refused with CAIRN_EINVAL on
 * both paths, there; and on a tree of three levels, read twice (cold, then from the cache) in
 * several windows, runs of keys a few to a leaf, keys far apart, absent keys between present ones
 * and past the last give what point reads give, and a key out of order in a later window is
 * refused after the keys before it; a window of keys all past the last, and an empty table.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "test.h"

typedef struct got {
    char text[256];          /* "key=value " or "key=- " per key, in the order called */
    const char *const *keys;
} got;

static int got_one(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    got *g = payload;
    size_t at = strlen(g->text);
    snprintf(g->text + at, sizeof g->text - at, "%s=%.*s ", g->keys[i], val ? (int)vlen : 1,
             val ? (const char *)val : "-");
    return 0;
}

/* Reads keys through db_get_sorted into g (text emptied first). */
static int read_sorted(got *g, cairn_table *t, const char *const *keys, size_t n)
{
    const void *k[8];
    size_t kl[8];
    for (size_t i = 0; i < n; i++) {
        k[i] = keys[i];
        kl[i] = strlen(keys[i]);
    }
    g->text[0] = '\0';
    g->keys = keys;
    return db_get_sorted(t, NULL, k, kl, n, got_one, g);
}

static void memtable_and_tree_agree(void)
{
    cairn_db *db = test_open_repo(test_tmpdir()); /* a local repository: writes land in the
                                                     memtable until a checkpoint */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "a", 1, "1", 1));
    CHECK_OK(cairn_put(t, "c", 1, "3", 1));
    CHECK_OK(cairn_checkpoint(db));              /* a and c in the tree */
    CHECK_OK(cairn_put(t, "b", 1, "2", 1));      /* b in the memtable, c deleted there */
    CHECK_OK(cairn_delete(t, "c", 1));
    static const char *const keys[] = { "a", "b", "c", "d" }, *const down[] = { "b", "a" };
    got g;
    CHECK_OK(read_sorted(&g, t, keys, 4));       /* the memtable path */
    CHECK_STR(g.text, "a=1 b=2 c=- d=- ");
    CHECK_RC(read_sorted(&g, t, down, 2), CAIRN_EINVAL);
    CHECK_ERRMSG("below the key before it");
    CHECK_STR(g.text, "b=2 ");                   /* refused at the key out of order */
    cairn_error_clear();
    CHECK_OK(cairn_checkpoint(db));              /* the tree path */
    CHECK_OK(read_sorted(&g, t, keys, 4));
    CHECK_STR(g.text, "a=1 b=2 c=- d=- ");
    CHECK_RC(read_sorted(&g, t, down, 2), CAIRN_EINVAL);
    CHECK_STR(g.text, "b=2 ");
    cairn_error_clear();
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

#define DEEP_KEYS 40000

typedef struct deep {
    size_t calls, found;
    const char *const *keys;
    bool bad;
} deep;

/* Present keys are k<8 digits> holding v<the number>; any other key must be absent. */
static int deep_one(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    deep *d = payload;
    const char *k = d->keys[i];
    unsigned num;
    char tail;
    bool present = strlen(k) == 9 && sscanf(k, "k%8u%c", &num, &tail) == 1 && num < DEEP_KEYS;
    char want[16];
    if (present) snprintf(want, sizeof want, "v%u", num);
    if (present != (val != NULL) ||
        (present && (vlen != strlen(want) || memcmp(val, want, vlen) != 0))) {
        fprintf(stderr, "key %zu (%s): %s\n", i, k, val ? "found" : "not found");
        d->bad = true;
    }
    d->calls++;
    d->found += val != NULL;
    return 0;
}

static void deep_tree_matches_point_reads(void)
{
    const char *dir = test_tmpdir();
    cairn_db *db = test_open_repo(dir);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    char k[32], v[16];
    for (unsigned i = 0; i < DEEP_KEYS; i++) {
        snprintf(k, sizeof k, "k%08u", i);
        snprintf(v, sizeof v, "v%u", i);
        CHECK_OK(cairn_batch_put(b, t, k, strlen(k), v, strlen(v)));
    }
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    CHECK_OK(cairn_checkpoint(db));
    cairn_table_stats st;
    CHECK_OK(cairn_table_stats_get(&st, t, NULL));
    CHECK(st.depth >= 3);    /* leaves, their parents, a root */
    cairn_table_close(t);    /* opened again: nothing cached */
    CHECK_OK(cairn_close(db));
    db = test_open_repo(dir);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    /* runs (steps of 1 to 7), jumps (hundreds of keys), an absent key after some present ones
     * ("!" sorts after the digits' end: between k..n and k..n+1), keys past the last */
    enum { MAXK = 20000 };
    static char names[MAXK][16];
    static const char *ptrs[MAXK];
    static const void *kp[MAXK];
    static size_t kl[MAXK];
    size_t n = 0, present = 0;
    uint64_t r = 7;
    for (unsigned i = 0; i < DEEP_KEYS && n + 4 < MAXK;) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        unsigned x = (unsigned)(r >> 33);
        snprintf(names[n], sizeof names[n], "k%08u%s", i, x % 5 == 0 ? "!" : "");
        present += x % 5 != 0;
        n++;
        i += x % 11 == 0 ? 300 + x % 500 : 1 + x % 7;
    }
    for (unsigned i = DEEP_KEYS; i < DEEP_KEYS + 3; i++)
        snprintf(names[n++], sizeof names[n], "k%08u", i);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = names[i];
        kp[i] = names[i];
        kl[i] = strlen(names[i]);
    }
    for (int pass = 0; pass < 2; pass++) { /* cold, then from the cache */
        deep d = { 0, 0, ptrs, false };
        CHECK_OK(db_get_sorted(t, NULL, kp, kl, n, deep_one, &d));
        CHECK(!d.bad);
        CHECK_EQ(d.calls, n);
        CHECK_EQ(d.found, present);
    }
    /* a key out of order in a later window: the keys before it are read, then EINVAL */
    CHECK(n > 600);
    const void *tk = kp[300];
    kp[300] = kp[301];
    kp[301] = tk;
    size_t tl = kl[300];
    kl[300] = kl[301];
    kl[301] = tl;
    const char *tp = ptrs[300];
    ptrs[300] = ptrs[301];
    ptrs[301] = tp;
    deep d = { 0, 0, ptrs, false };
    CHECK_RC(db_get_sorted(t, NULL, kp, kl, n, deep_one, &d), CAIRN_EINVAL);
    CHECK_ERRMSG("tree_get_sorted: key 301 is below the key before it"); /* the tree's path */
    CHECK(!d.bad);
    CHECK_EQ(d.calls, 301);
    cairn_error_clear();
    /* a window of keys all past the last: each answered, none found */
    for (size_t i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "z%05zu", i);
        ptrs[i] = names[i];
        kp[i] = names[i];
        kl[i] = strlen(names[i]);
    }
    d = (deep){ 0, 0, ptrs, false };
    CHECK_OK(db_get_sorted(t, NULL, kp, kl, 300, deep_one, &d));
    CHECK(!d.bad);
    CHECK_EQ(d.calls, 300);
    CHECK_EQ(d.found, 0);
    /* an empty table (its root an empty leaf), written and checkpointed */
    cairn_table *e;
    CHECK_OK(cairn_table_open(&e, db, "empty", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(e, "x", 1, "1", 1));
    CHECK_OK(cairn_delete(e, "x", 1));
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_table_stats_get(&st, e, NULL)); /* in the trees: the read takes that path */
    CHECK_EQ(st.entries, 0);
    CHECK_EQ(st.depth, 1);
    d = (deep){ 0, 0, ptrs, false };
    CHECK_OK(db_get_sorted(e, NULL, kp, kl, 20, deep_one, &d));
    CHECK_EQ(d.calls, 20);
    CHECK_EQ(d.found, 0);
    cairn_table_close(e);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(memtable_and_tree_agree, deep_tree_matches_point_reads)
