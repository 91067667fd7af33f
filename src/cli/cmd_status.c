/*
 * cmd_status.c - `cairn status`: the current branch (or the detached HEAD), its head commit,
 * what the working state changed since that commit (per table and document collection), and
 * a merge waiting for its conflicts to be resolved and committed; and, when the repository
 * has none, that it keeps no write-ahead log.
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
        any |= dstat_changed(&s, i);
    printf(any ? "uncommitted changes:\n" : "no uncommitted changes\n");
    code = dstat_print(&s, false, "  ");
    dstat_dispose(&s);
    return code;
}

typedef struct branch_find {
    const cairn_id *want;
    char name[256];          /* a branch at want; "" when none is */
} branch_find;

static int branch_cb(const char *name, const cairn_id *commit, int current, void *payload)
{
    branch_find *f = payload;
    if (current || f->name[0] || memcmp(commit->bytes, f->want->bytes, CAIRN_ID_SIZE) != 0) return 0;
    snprintf(f->name, sizeof f->name, "%s", name);
    return 0;
}

/* A merge in progress: recorded for resolution, or interrupted before its commit. */
static int print_merge(cairn_db *db)
{
    cairn_merge_progress m;
    int rc = cairn_merge_state(&m, db);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    if (!m.in_progress) return EXIT_OK;
    char sid[VERS_SHORT_LEN + 1], what[320];
    vers_short(sid, &m.merging);
    branch_find f = { &m.merging, "" };
    if (cairn_branch_list(db, branch_cb, &f) != CAIRN_OK) cairn_error_clear();
    if (f.name[0]) snprintf(what, sizeof what, "%s (%s)", f.name, sid);
    else snprintf(what, sizeof what, "%s", sid);
    printf("merge of %s in progress: ", what);
    if (m.conflicts)
        printf("%llu conflict%s left to resolve (cairn conflicts, cairn resolve); ",
               (unsigned long long)m.conflicts, m.conflicts == 1 ? "" : "s");
    else if (m.recorded) printf("all recorded conflicts resolved; ");
    else printf("no conflicts recorded; ");
    printf("finish with 'cairn commit', or abort with 'cairn merge --abort'\n");
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
