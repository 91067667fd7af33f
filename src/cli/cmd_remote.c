/*
 * cmd_remote.c - other repositories: `cairn remote [list] | add NAME URL | remove NAME`,
 * `cairn push NAME [BRANCH] [--force]`, `cairn fetch NAME`, `cairn pull NAME [BRANCH]` (fetch,
 * then merge NAME/BRANCH as `cairn merge` does) and `cairn clone URL DIR|URL`.
 *
 * Transfers show a progress line on a terminal (chunks, bytes, rate) and end with one summary
 * line on standard output: what moved and how many store calls it took.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "vers.h"

#define MIB (1024.0 * 1024.0)

/* A URL as a remote records it: a local path made absolute, so that it means the same from
 * wherever cairn runs later; anything else (scheme:...) as it is. */
static const char *absolute_url(char *buf, const char *url)
{
    if (strchr(url, ':') || !realpath(url, buf)) return url;
    return buf;
}

static int print_remote(const char *name, const char *url, void *payload)
{
    (void)payload;
    printf("%s\t%s\n", name, url);
    return 0;
}

int cmd_remote(const cli_args *a)
{
    const char *sub = a->npos ? a->pos[0] : "list";
    int want = strcmp(sub, "add") == 0 ? 3 : strcmp(sub, "remove") == 0 ? 2
               : strcmp(sub, "list") == 0 ? 1 : -1;
    if (want < 0)
        return cli_err(EXIT_USAGE, "remote: '%s' is not add, remove or list; usage: cairn remote "
                                   "[list] | remote add NAME URL | remote remove NAME", sub);
    if (a->npos != want && !(want == 1 && a->npos == 0))
        return cli_err(EXIT_USAGE, "remote %s takes %d argument%s, not %d", sub, want - 1,
                       want == 2 ? "" : "s", a->npos - 1);
    cairn_db *db;
    int code = cli_open(&db, a, want > 1);
    if (code != EXIT_OK) return code;
    char abs[PATH_MAX];
    int rc = want == 3   ? cairn_remote_add(db, a->pos[1], absolute_url(abs, a->pos[2]))
             : want == 2 ? cairn_remote_remove(db, a->pos[1])
                         : cairn_remote_list(db, print_remote, NULL);
    if (rc != CAIRN_OK) code = cli_lib_err(rc);
    return cli_close(db, code);
}

/* ---- transfers ---- */

static void show_progress(const cairn_transfer_stats *st, void *payload)
{
    progress_transfer(payload, st->chunks, st->bytes, st->seconds);
}

static void transfer_opts(cairn_transfer_options *o, progress *p, const char *what)
{
    cairn_transfer_options_init(o);
    progress_transfer_start(p, what);
    o->progress = show_progress;
    o->payload = p;
}

/* "N chunks (B MiB, C commits), R store calls (has H, get G, put P, flush F, ref X) in S s" */
static void print_stats(const char *verb, const cairn_transfer_stats *st)
{
    printf("%s %" PRIu64 " chunk%s (%.1f MiB, %" PRIu64 " commit%s), %" PRIu64
           " store calls (has %" PRIu64 ", get %" PRIu64 ", put %" PRIu64 ", flush %" PRIu64
           ", ref %" PRIu64 ") in %.2f s\n",
           verb, st->chunks, cli_plural(st->chunks), (double)st->bytes / MIB, st->commits,
           cli_plural(st->commits), st->requests, st->has_calls, st->get_calls, st->put_calls,
           st->flushes, st->ref_calls, st->seconds);
    if (st->pruned)
        printf("left out %" PRIu64 " table version%s that retention let go at the source (the "
               "record of what was let go was carried over)\n",
               st->pruned, cli_plural(st->pruned));
}

int cmd_push(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    char *cur = NULL;
    const char *branch = a->npos > 1 ? a->pos[1] : NULL;
    int rc = CAIRN_OK;
    if (!branch && (rc = cairn_branch_current(&cur, db)) == CAIRN_OK) branch = cur;
    char what[256];
    snprintf(what, sizeof what, "pushing to %s", a->pos[0]);
    progress p;
    cairn_transfer_options o;
    transfer_opts(&o, &p, what);
    if (a->opt[OPT_FORCE]) o.flags |= CAIRN_PUSH_FORCE;
    cairn_transfer_stats st;
    if (rc == CAIRN_OK) rc = cairn_push(&st, db, a->pos[0], branch, &o);
    progress_end(&p);
    if (rc != CAIRN_OK) {
        code = cli_lib_err(rc);
    } else if (st.up_to_date) {
        printf("%s/%s is up to date\n", a->pos[0], branch);
    } else {
        char verb[300];
        snprintf(verb, sizeof verb, "pushed %s to %s:", branch, a->pos[0]);
        print_stats(verb, &st);
    }
    cairn_free(cur);
    return cli_close(db, code);
}

static int do_fetch(cairn_db *db, const char *remote)
{
    char what[256];
    snprintf(what, sizeof what, "fetching from %s", remote);
    progress p;
    cairn_transfer_options o;
    transfer_opts(&o, &p, what);
    cairn_transfer_stats st;
    int rc = cairn_fetch(&st, db, remote, &o);
    progress_end(&p);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char verb[300];
    snprintf(verb, sizeof verb, "fetched from %s:", remote);
    print_stats(verb, &st);
    return EXIT_OK;
}

int cmd_fetch(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    return cli_close(db, do_fetch(db, a->pos[0]));
}

/* The remote-tracking branch REMOTE/BRANCH that pull merges, into rev, when the fetch brought
 * it (else the merge would say only that no revision 'REMOTE/BRANCH' exists). */
static int fetched_branch(char *rev, size_t len, cairn_db *db, const char *remote,
                          const char *branch)
{
    snprintf(rev, len, "%s/%s", remote, branch);
    cairn_id id;
    int rc = cairn_resolve(&id, db, rev);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return cli_err(EXIT_NOTFOUND, "remote '%s' has no branch '%s' (cairn branch -a lists "
                       "the branches fetched from it)", remote, branch);
    }
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

int cmd_pull(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    char *cur = NULL;
    const char *branch = a->npos > 1 ? a->pos[1] : NULL;
    if (!branch) {
        int rc = cairn_branch_current(&cur, db);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
        else if (!cur) code = cli_err(EXIT_USAGE, "HEAD is detached: name the branch to pull");
        branch = cur;
    }
    if (code == EXIT_OK) code = do_fetch(db, a->pos[0]);
    char rev[512];
    if (code == EXIT_OK) code = fetched_branch(rev, sizeof rev, db, a->pos[0], branch);
    code = cli_close(db, code); /* merge opens the repository itself */
    cairn_free(cur);
    if (code != EXIT_OK) return code;
    cli_args m = *a;
    m.cmd = "merge";
    m.npos = 1;
    m.pos[0] = rev;
    return cmd_merge(&m);
}

int cmd_clone(const cli_args *a)
{
    /* A destination path is relative to -C, as init's is. */
    char path[PATH_MAX];
    const char *dst = a->pos[1];
    if (dst[0] != '/' && a->dir_given && !strstr(dst, ":"))
        snprintf(path, sizeof path, "%s/%s", a->dir, dst);
    else
        snprintf(path, sizeof path, "%s", dst);
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "cloning into %s", path);
    progress p;
    cairn_transfer_options o;
    transfer_opts(&o, &p, what);
    cairn_transfer_stats st;
    char abs[PATH_MAX];
    int rc = cairn_clone(&st, absolute_url(abs, a->pos[0]), path, &o);
    progress_end(&p);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char verb[PATH_MAX + 64];
    snprintf(verb, sizeof verb, "cloned %s into %s:", a->pos[0], path);
    print_stats(verb, &st);
    return EXIT_OK;
}
