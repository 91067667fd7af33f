/*
 * cmd_commit.c - `cairn commit`: records the working state of the current branch (or of the
 * detached HEAD) as a commit, and prints "[BRANCH SHORTID] first line of the message".
 *
 * Signing (--sign) waits for the signing key API (cairn_signer_open); commits are unsigned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vers.h"

#define SUBJECT_MAX 200

/* Prints the one-line report of a new commit. */
static int report(cairn_db *db, const cairn_id *id, const char *message)
{
    char *branch = NULL, sid[VERS_SHORT_LEN + 1], subject[SUBJECT_MAX];
    int rc = cairn_branch_current(&branch, db);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    vers_short(sid, id);
    vers_first_line(subject, sizeof subject, message);
    printf("[%s %s] %s\n", branch ? branch : "detached HEAD", sid, subject);
    cairn_free(branch);
    return EXIT_OK;
}

/* "Name <email>": something, a space, and an address in angle brackets at the end. */
static bool person_ok(const char *s)
{
    const char *lt = strrchr(s, '<');
    size_t n = strlen(s);
    return lt && lt > s && lt[-1] == ' ' && n >= 2 && s[n - 1] == '>' && lt < s + n - 2 &&
           !strchr(lt + 1, '<') && strchr(lt, '>') == s + n - 1 && !strchr(s, '\n');
}

int cmd_commit(const cli_args *a)
{
    if (!a->opt[OPT_MESSAGE])
        return cli_err(EXIT_USAGE, "commit needs a message: cairn commit -m MESSAGE");
    if (a->opt[OPT_AUTHOR] && !person_ok(a->opt[OPT_AUTHOR]))
        return cli_err(EXIT_USAGE, "--author needs the form \"Name <email>\", not '%s'",
                       a->opt[OPT_AUTHOR]);
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = a->opt[OPT_MESSAGE];
    o.author = a->opt[OPT_AUTHOR];
    if (a->opt[OPT_ALLOW_EMPTY]) o.flags |= CAIRN_COMMIT_ALLOW_EMPTY;
    cairn_id id;
    int rc = cairn_commit(&id, db, &o);
    code = rc == CAIRN_OK ? report(db, &id, o.message) : cli_lib_err(rc);
    return cli_close(db, code);
}
