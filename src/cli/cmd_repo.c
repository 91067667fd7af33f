/*
 * cmd_repo.c - commands about the repository and its tables as wholes: init, tables, root, drop.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_init(const cli_args *a)
{
    /* DIR is relative to -C, as every path is. */
    char path[PATH_MAX];
    const char *dir = a->npos ? a->pos[0] : a->dir;
    if (a->npos && dir[0] != '/' && a->dir_given)
        snprintf(path, sizeof path, "%s/%s", a->dir, dir);
    else
        snprintf(path, sizeof path, "%s", dir);
    /* A failed init leaves nothing: cairn_open() removes what a failed create made (a second
     * init must not find a half-made repository that status and verify would call healthy). */
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db;
    int rc = cairn_open(&db, path, &o);
    int code = rc == CAIRN_OK ? cli_close(db, EXIT_OK) : (cli_lib_err(rc), EXIT_FAIL);
    if (code != EXIT_OK) return code;
    char abs[PATH_MAX];
    printf("initialised empty cairn repository in %s\n", realpath(path, abs) ? abs : path);
    return EXIT_OK;
}

static int print_name(const char *name, void *payload)
{
    (void)payload;
    printf("%s\n", name); /* write errors are caught when stdout is flushed at exit */
    return 0;
}

int cmd_tables(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) {
        int rc = cairn_table_list(db, snap, print_name, NULL);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}

int cmd_root(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    if (code == EXIT_OK) {
        cairn_id id;
        int rc = cairn_table_root(&id, t, snap);
        if (rc != CAIRN_OK) {
            code = cli_lib_err(rc);
        } else {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &id);
            printf("%s\n", hex);
        }
    }
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}

int cmd_drop(const cli_args *a)
{
    if (cairn_table_internal(a->pos[0])) /* (cairn_table_drop() serves cairn's own modules too) */
        return cli_err(EXIT_FAIL, "table name '%s' is reserved: names that begin with '"
                       CAIRN_TABLE_RESERVED_PREFIX "' are cairn's own; it cannot be dropped here",
                       a->pos[0]);
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    int rc = cairn_table_drop(db, a->pos[0]);
    if (rc != CAIRN_OK) code = cli_lib_err(rc);
    return cli_close(db, code);
}
