/*
 * cmd_status.c - `cairn status`: the current branch (or the detached HEAD), its head commit,
 * what the working state changed since that commit (per table), and a merge waiting for its
 * conflicts to be resolved and committed; and, when the repository has none, that it keeps
 * no write-ahead log.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dstat.h"
#include "vers.h"

#define SUBJECT_MAX 200

/* "on branch B" or "HEAD detached", then "head SHORTID subject" or "no commits yet". */
static int print_head(cairn_db *db, bool *has_head)
{
    char *branch = NULL;
    int rc = cairn_branch_current(&branch, db);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    if (branch) printf("on branch %s\n", branch);
    else printf("HEAD detached\n");
    cairn_free(branch);
    cairn_id head;
    rc = cairn_resolve(&head, db, "HEAD");
    *has_head = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        printf("no commits yet\n");
        return EXIT_OK;
    }
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char sid[VERS_SHORT_LEN + 1], subject[SUBJECT_MAX];
    vers_short(sid, &head);
    vers_subject(subject, sizeof subject, db, &head);
    printf("head %s %s\n", sid, subject);
    return EXIT_OK;
}

static int print_changes(cairn_db *db, bool has_head)
{
    dstat s;
    int code = dstat_compute(&s, db, has_head ? "HEAD" : NULL, "WORKING", NULL);
    if (code != EXIT_OK) return code;
    bool any = false;
    for (size_t i = 0; i < s.n; i++)
        any |= dstat_changed(&s, i) && strcmp(s.t[i].name, VERS_CONFLICTS_TABLE) != 0;
    printf(any ? "uncommitted changes:\n" : "no uncommitted changes\n");
    code = dstat_print(&s, false, "  ", VERS_CONFLICTS_TABLE);
    dstat_dispose(&s);
    return code;
}

static int count_cb(const cairn_conflict *c, void *payload)
{
    (void)c;
    (*(size_t *)payload)++;
    return 0;
}

/* A merge recorded for resolution keeps its conflicts table until it is committed. */
static int print_merge(cairn_db *db)
{
    cairn_table *t = NULL;
    int rc = cairn_table_open(&t, db, VERS_CONFLICTS_TABLE, 0);
    cairn_table_close(t);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return EXIT_OK;
    }
    size_t n = 0;
    if (rc == CAIRN_OK) rc = cairn_conflicts(db, count_cb, &n);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    if (n)
        printf("merge in progress: %zu conflict%s to resolve (cairn conflicts, cairn resolve), "
               "then cairn commit\n", n, n == 1 ? "" : "s");
    else
        printf("merge in progress: all conflicts resolved; cairn commit makes the merge commit\n");
    return EXIT_OK;
}

int cmd_status(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    bool has_head = false;
    code = print_head(db, &has_head);
    if (code == EXIT_OK) code = print_changes(db, has_head);
    if (code == EXIT_OK) code = print_merge(db);
    cairn_db_stats st;
    if (code == EXIT_OK && cairn_db_stats_get(&st, db) == CAIRN_OK &&
        st.wal_location == CAIRN_WAL_NONE) /* says so only when it is not the usual */
        printf("no write-ahead log: the store keeps no files and no wal_dir was given (every "
               "write is checkpointed)\n");
    cairn_error_clear();
    return cli_close(db, code);
}
