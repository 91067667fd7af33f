/*
 * cmd_commit.c - `cairn commit`: records the working state of the current branch (or of the
 * detached HEAD) as a commit, and prints "[BRANCH SHORTID] first line of the message".
 *
 * --sign NAME signs it with the key NAME of the key directory (--key-dir DIR, else the
 * library's default). The key is loaded, and its passphrase checked, before the repository is
 * opened, so the writer lock is not held while a passphrase is typed or derived.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "passphrase.h"
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

/* Asks for key name's passphrase on the terminal, and loads the key with it. */
static int load_signer_asking(cairn_signer **out, const char *dir, const char *name, pass *p)
{
    if (!pass_can_prompt())
        return cli_err(EXIT_USAGE, "key %s is protected by a passphrase: set %s, give "
                                   "--passphrase-file FILE, or run cairn on a terminal to type it",
                       name, PASS_ENV);
    char prompt[CAIRN_KEY_NAME_LEN_MAX + 32];
    snprintf(prompt, sizeof prompt, "passphrase for key %.64s: ", name);
    int code = pass_prompt(p, prompt, false);
    if (code != EXIT_OK) return code;
    int rc = cairn_signer_open(out, dir, name, p->text);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* Loads key name with the passphrase from the file or the environment; without either, as a
 * key that has no passphrase, and when it has one, asks on the terminal. */
int cli_signer_load(cairn_signer **out, const char *dir, const char *name,
                    const char *passphrase_file)
{
    pass p;
    int code = pass_from_args(&p, passphrase_file);
    int rc = code == EXIT_OK ? cairn_signer_open(out, dir, name, p.text) : CAIRN_OK;
    if (code == EXIT_OK && rc == CAIRN_EAUTH && !p.given)
        code = load_signer_asking(out, dir, name, &p);
    else if (code == EXIT_OK && rc != CAIRN_OK)
        code = cli_lib_err(rc);
    pass_wipe(&p);
    return code;
}

/* The signer --sign names, or NULL without --sign. */
static int open_signer(cairn_signer **out, const cli_args *a)
{
    *out = NULL;
    if (a->opt[OPT_SIGN])
        return cli_signer_load(out, a->opt[OPT_KEY_DIR], a->opt[OPT_SIGN], a->opt[OPT_PASSPHRASE_FILE]);
    if (a->opt[OPT_KEY_DIR] || a->opt[OPT_PASSPHRASE_FILE])
        return cli_err(EXIT_USAGE, "%s is for signing: give it with --sign NAME",
                       a->opt[OPT_KEY_DIR] ? "--key-dir" : "--passphrase-file");
    return EXIT_OK;
}

static int do_commit(cairn_db *db, const cli_args *a, cairn_signer *signer)
{
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = a->opt[OPT_MESSAGE];
    o.author = a->opt[OPT_AUTHOR];
    o.signer = signer;
    if (a->opt[OPT_ALLOW_EMPTY]) o.flags |= CAIRN_COMMIT_ALLOW_EMPTY;
    cairn_id id;
    int rc = cairn_commit(&id, db, &o);
    if (rc == CAIRN_OK) return report(db, &id, o.message);
    if (rc == CAIRN_EAUTH && !signer)
        return cli_err(EXIT_FAIL, "%s (cairn commit --sign NAME; see cairn help key)",
                       cairn_error_last()->message);
    return cli_lib_err(rc);
}

int cmd_commit(const cli_args *a)
{
    if (!a->opt[OPT_MESSAGE])
        return cli_err(EXIT_USAGE, "commit needs a message: cairn commit -m MESSAGE");
    if (a->opt[OPT_AUTHOR] && !person_ok(a->opt[OPT_AUTHOR]))
        return cli_err(EXIT_USAGE, "--author needs the form \"Name <email>\", not '%s'",
                       a->opt[OPT_AUTHOR]);
    cairn_signer *signer;
    int code = open_signer(&signer, a);
    cairn_db *db;
    if (code == EXIT_OK) code = cli_open(&db, a, true);
    if (code == EXIT_OK) code = cli_close(db, do_commit(db, a, signer));
    cairn_signer_close(signer);
    return code;
}
