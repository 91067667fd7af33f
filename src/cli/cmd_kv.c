/*
 * cmd_kv.c - the point commands: put, get, del.
 *
 * Bad input is refused before the repository is touched: put checks the key and value sizes
 * itself before it opens (and perhaps creates) the table, so an oversized key never leaves a
 * new empty table behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int check_key_size(size_t klen)
{
    if (klen <= cairn_key_len_max()) return EXIT_OK;
    return cli_err(EXIT_FAIL, "key of %zu bytes is over the %zu byte limit", klen,
                   cairn_key_len_max());
}

static int put_value(const cli_args *a, const char *val, size_t vlen)
{
    cairn_db *db;
    cairn_table *t = NULL;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    code = cli_table_for_write(&t, db, a->pos[0]);
    if (code == EXIT_OK) {
        int rc = cairn_put(t, a->pos[1], strlen(a->pos[1]), val, vlen);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    cairn_table_close(t);
    return cli_close(db, code);
}

int cmd_put(const cli_args *a)
{
    int code = check_key_size(strlen(a->pos[1]));
    if (code != EXIT_OK) return code;
    if (strcmp(a->pos[2], "-") != 0) {
        size_t vlen = strlen(a->pos[2]);
        if (vlen > cairn_value_len_max())
            return cli_err(EXIT_FAIL, "value of %zu bytes is over the %zu byte limit", vlen,
                           cairn_value_len_max());
        return put_value(a, a->pos[2], vlen);
    }
    char *val = NULL;
    size_t vlen = 0;
    code = cli_read_file(&val, &vlen, "-", cairn_value_len_max(), "value");
    if (code != EXIT_OK) return code;
    code = put_value(a, val, vlen);
    free(val);
    return code;
}

/* Reads KEY of TABLE (the positionals; at --at when given) into *out; not found is
 * EXIT_NOTFOUND, printed. */
static int lookup(void **out, size_t *out_len, cairn_db *db, const cli_args *a)
{
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    int code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    if (code == EXIT_OK) {
        int rc = cairn_get(out, out_len, t, snap, a->pos[1], strlen(a->pos[1]));
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return code;
}

int cmd_get(const cli_args *a)
{
    cairn_db *db;
    bool audit;
    int code = cli_open_read(&db, &audit, a);
    if (code != EXIT_OK) return code;
    void *val = NULL;
    size_t vlen = 0;
    code = lookup(&val, &vlen, db, a);
    if (code == EXIT_OK || code == EXIT_NOTFOUND) { /* a miss is an access too */
        int rec = cli_audit_read(db, audit, "get", a->pos[0], a->pos[1], strlen(a->pos[1]),
                                 code == EXIT_OK);
        if (rec != EXIT_OK) code = rec;
    }
    if (code != EXIT_OK) cairn_free(val);
    if (code == EXIT_OK) {
        code = cli_write(val, vlen);
        cairn_free(val);
    }
    return cli_close(db, code);
}

int cmd_del(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    void *val = NULL;
    size_t vlen = 0;
    code = lookup(&val, &vlen, db, a); /* deleting an absent key is an error here, unlike the API */
    if (code == EXIT_OK) {
        cairn_free(val);
        cairn_table *t;
        code = cli_table(&t, db, a->pos[0], 0);
        if (code == EXIT_OK) {
            int rc = cairn_delete(t, a->pos[1], strlen(a->pos[1]));
            if (rc != CAIRN_OK) code = cli_lib_err(rc);
            cairn_table_close(t);
        }
    }
    return cli_close(db, code);
}
