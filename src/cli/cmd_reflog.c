/*
 * cmd_reflog.c - `cairn reflog [BRANCH|TAG]`: every move of a branch or tag (the current
 * branch by default), newest first, one a line: "SHORTID  TIME  WHO  WHY".
 */
#include <stdio.h>

#include "cli.h"
#include "vers.h"

static int reflog_cb(const cairn_reflog_info *e, void *payload)
{
    (void)payload;
    char sid[VERS_SHORT_LEN + 1], when[VERS_TIME_SIZE];
    vers_short(sid, &e->new_commit);
    vers_time(when, e->time);
    printf("%s  %s  %s  %s\n", sid, when, e->who, e->why);
    return 0;
}

int cmd_reflog(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    int rc = cairn_reflog(db, a->npos ? a->pos[0] : NULL, reflog_cb, NULL);
    cairn_id head;
    /* the current branch before its first commit: say that, not that its ref is missing */
    if (rc == CAIRN_ENOTFOUND && !a->npos) rc = cairn_resolve(&head, db, "HEAD");
    if (rc != CAIRN_OK) code = cli_lib_err(rc);
    return cli_close(db, code);
}
