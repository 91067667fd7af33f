/*
 * cmd_config.c - `cairn config KEY` prints a repository setting, `cairn config KEY VALUE` sets
 * it and `cairn config KEY --unset` removes it (the settings are listed in cairn.h:
 * commit.require_signature true|false).
 */
#include <stdio.h>

#include "cli.h"

static int config_get(cairn_db *db, const char *key)
{
    char *val = NULL;
    int rc = cairn_config_get(&val, db, key);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    printf("%s\n", val);
    cairn_free(val);
    return EXIT_OK;
}

int cmd_config(const cli_args *a)
{
    bool unset = a->opt[OPT_UNSET] != NULL;
    if (unset && a->npos != 1)
        return cli_err(EXIT_USAGE, "config --unset takes a setting's name and no value");
    bool write = unset || a->npos == 2;
    cairn_db *db;
    int code = cli_open(&db, a, write);
    if (code != EXIT_OK) return code;
    if (!write) {
        code = config_get(db, a->pos[0]);
    } else {
        int rc = cairn_config_set(db, a->pos[0], unset ? NULL : a->pos[1]);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    return cli_close(db, code);
}
