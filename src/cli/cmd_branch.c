/*
 * cmd_branch.c - named commits: `cairn branch` and `cairn tag` (list, create, delete -d) and
 * `cairn checkout` (switch to a branch's working state, or detach HEAD at a revision).
 *
 * Lists are aligned: the names padded to the longest, then each head's short id; `branch`
 * marks the current branch with '*' (or a detached HEAD on a line of its own, first).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vers.h"

static bool id_zero(const cairn_id *id)
{
    static const cairn_id zero;
    return memcmp(id->bytes, zero.bytes, CAIRN_ID_SIZE) == 0;
}

/* Listing state: a first pass measures the names, the second prints. */
typedef struct ref_list {
    bool measure;
    int width;
    const char *find;        /* when set: only look for this name and keep its commit */
    bool found;
    cairn_id found_at;
    bool damaged;            /* some ref could not be read (reported on standard error) */
    bool all;                /* branch -a: the remote-tracking branches too */
} ref_list;

static void list_line(ref_list *l, const char *marker, const char *name, const cairn_id *at)
{
    int n = (int)strlen(name);
    if (l->find) {
        if (strcmp(name, l->find) == 0) {
            l->found = true;
            l->found_at = *at;
        }
    } else if (l->measure) {
        l->width = n > l->width ? n : l->width;
    } else {
        char sid[VERS_SHORT_LEN + 1];
        vers_short(sid, at);
        printf("%s%-*s  %s\n", marker, l->width, name, id_zero(at) ? "(no commits)" : sid);
    }
}

static int branch_cb(const char *name, const cairn_id *at, int current, void *payload)
{
    list_line(payload, current ? "* " : "  ", name, at);
    return 0;
}

static int remote_cb(const char *name, const cairn_id *at, int current, void *payload)
{
    (void)current;
    char full[512];
    snprintf(full, sizeof full, "remotes/%s", name);
    list_line(payload, "  ", full, at);
    return 0;
}

static int tag_cb(const char *name, const cairn_id *at, void *payload)
{
    list_line(payload, "", name, at);
    return 0;
}

/* Runs the branch or tag list over l. A damaged ref does not hide the others: they are listed
 * and the damaged one is reported on standard error (once: not in the measuring pass). */
static int list_refs(cairn_db *db, bool tags, ref_list *l)
{
    int rc = tags ? cairn_tag_list(db, tag_cb, l) : cairn_branch_list(db, branch_cb, l);
    if (rc == CAIRN_OK && l->all) rc = cairn_remote_branch_list(db, remote_cb, l);
    if (rc == CAIRN_ECORRUPT) {
        l->damaged = true;
        if (!l->measure) fprintf(stderr, "cairn: warning: %s\n", cairn_error_last()->message);
        return EXIT_OK;
    }
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

static int print_detached(cairn_db *db)
{
    char *cur = NULL;
    int rc = cairn_branch_current(&cur, db);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    if (cur) {
        cairn_free(cur);
        return EXIT_OK;
    }
    cairn_id head;
    int code = vers_resolve(&head, db, "HEAD");
    if (code == EXIT_OK) {
        char sid[VERS_SHORT_LEN + 1];
        vers_short(sid, &head);
        printf("* (HEAD detached at %s)\n", sid);
    }
    return code;
}

static int list_all(cairn_db *db, bool tags, bool all)
{
    ref_list l = { .measure = true, .all = all };
    int code = list_refs(db, tags, &l);
    if (code == EXIT_OK && !tags) code = print_detached(db);
    l.measure = false;
    return code == EXIT_OK ? list_refs(db, tags, &l) : code;
}

/* Deletes branch or tag name and reports what it pointed at. */
static int delete_ref(cairn_db *db, bool tag, const char *name)
{
    ref_list l = { .find = name, .measure = true }; /* quiet: the delete names a damaged ref */
    int code = list_refs(db, tag, &l);
    if (code != EXIT_OK) return code;
    int rc = tag ? cairn_tag_delete(db, name) : cairn_branch_delete(db, name);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char sid[VERS_SHORT_LEN + 1] = "";
    if (l.found) vers_short(sid, &l.found_at);
    printf("deleted %s %s (was %s)\n", tag ? "tag" : "branch", name,
           l.found ? (id_zero(&l.found_at) ? "without commits" : sid)
                   : l.damaged ? "a damaged ref file: its value could not be read"
                               : "without commits");
    return EXIT_OK;
}

/* branch and tag: list (no arguments), create NAME [REV], or delete -d NAME. */
static int ref_cmd(const cli_args *a, bool tag)
{
    const char *kind = tag ? "tag" : "branch";
    if (a->opt[OPT_DELETE] && a->npos != 1)
        return cli_err(EXIT_USAGE, "%s -d takes one %s name, not %d arguments", kind, kind, a->npos);
    cairn_db *db;
    int code = cli_open(&db, a, a->npos > 0);
    if (code != EXIT_OK) return code;
    if (a->opt[OPT_DELETE]) {
        code = delete_ref(db, tag, a->pos[0]);
    } else if (a->npos == 0) {
        code = list_all(db, tag, a->opt[OPT_ALL] != NULL);
    } else {
        const char *rev = a->npos > 1 ? a->pos[1] : NULL;
        int rc = tag ? cairn_tag_create(db, a->pos[0], rev) : cairn_branch_create(db, a->pos[0], rev);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    return cli_close(db, code);
}

int cmd_branch(const cli_args *a) { return ref_cmd(a, false); }

int cmd_tag(const cli_args *a) { return ref_cmd(a, true); }

/* Says where HEAD is after a checkout of target (before: the branch current before it). */
static int report_checkout(cairn_db *db, const char *target, const char *before)
{
    char *after = NULL;
    int rc = cairn_branch_current(&after, db);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    int code = EXIT_OK;
    if (after && before && strcmp(before, after) == 0 && strcmp(target, after) == 0) {
        printf("already on branch %s\n", after);
    } else if (after) {
        printf("switched to branch %s\n", after);
    } else {
        cairn_id head;
        code = vers_resolve(&head, db, "HEAD");
        if (code == EXIT_OK) {
            char sid[VERS_SHORT_LEN + 1];
            vers_short(sid, &head);
            printf("HEAD is now at %s (detached)\n", sid);
        }
    }
    cairn_free(after);
    return code;
}

int cmd_checkout(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    char *before = NULL;
    int rc = cairn_branch_current(&before, db);
    if (rc == CAIRN_OK) rc = cairn_checkout(db, a->pos[0]);
    code = rc == CAIRN_OK ? report_checkout(db, a->pos[0], before) : cli_lib_err(rc);
    cairn_free(before);
    return cli_close(db, code);
}
