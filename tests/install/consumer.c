/* consumer.c - a program outside the tree that builds against an installed cairn. */
#include <cairn.h>
#include <cairn/sys/store.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db;
    if (argc < 2 || cairn_open(&db, argv[1], &o) != CAIRN_OK) {
        fprintf(stderr, "open: %s\n", cairn_error_last()->message);
        return 1;
    }
    cairn_table *t;
    void *v = NULL;
    size_t n = 0;
    int rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    if (rc == CAIRN_OK) rc = cairn_put(t, "hello", 5, "world", 5);
    if (rc == CAIRN_OK) rc = cairn_get(&v, &n, t, NULL, "hello", 5);
    if (rc != CAIRN_OK) fprintf(stderr, "error: %s\n", cairn_error_last()->message);
    else printf("cairn %s: hello=%.*s\n", cairn_version(), (int)n, (const char *)v);
    cairn_free(v);
    cairn_table_close(t);
    cairn_close(db);
    return rc == CAIRN_OK && n == 5 && memcmp(v ? "world" : "", "world", 5) == 0 ? 0 : 1;
}
