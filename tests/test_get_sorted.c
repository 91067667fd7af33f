/*
 * test_get_sorted.c - db_get_sorted() (src/db/read.c), the sorted point reads behind index
 * scans: the same answers whether the keys come from the trees or from writes still in the
 * memtable (deletes included), and a key below the one before it refused with CAIRN_EINVAL on
 * both paths, there.
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

TEST_MAIN(memtable_and_tree_agree)
