/*
 * cmd_merge.c - `cairn merge REV [--strategy fail|ours|theirs|record]`, and for merges recorded
 * for resolution, `cairn conflicts` (list what is left) and `cairn resolve` (settle one).
 *
 * A conflict is printed as one line, TABLE<TAB>KEY<TAB>BASE<TAB>OURS<TAB>THEIRS, escaped as
 * diff escapes (vers.h: "-" for an absent side). A conflict about a whole table (dropped on
 * one side, changed on the other) has "-" for its key and "(table)" for each side that has the
 * table. With --strategy fail the conflicts go to standard error, each after "cairn: conflict:
 * ", and nothing changes; with record they go to standard output and the merge waits for
 * `cairn resolve` and `cairn commit`. Both exit with 3. `cairn merge --abort` gives up a merge
 * in progress (recorded, or interrupted by a crash before its commit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vers.h"

#define STOP_WALK 1 /* returned by a callback after a printing failure, already reported */

static const char *const STRATEGY_NAMES[] = { "fail", "ours", "theirs", "record" };
#define NSTRATEGIES (sizeof STRATEGY_NAMES / sizeof STRATEGY_NAMES[0])

static void conflict_line(vline *l, const cairn_conflict *c)
{
    vline_reset(l);
    vline_field(l, c->table, strlen(c->table), true);
    vline_field(l, c->key, c->klen, c->key != NULL);
    if (!c->key) {
        vline_text(l, c->has_base ? "(table)" : "-");
        vline_text(l, c->has_ours ? "(table)" : "-");
        vline_text(l, c->has_theirs ? "(table)" : "-");
        return;
    }
    const void *v[3] = { c->base, c->ours, c->theirs };
    size_t n[3] = { c->base_len, c->ours_len, c->theirs_len };
    bool has[3] = { c->has_base, c->has_ours, c->has_theirs };
    for (int i = 0; i < 3; i++) { /* a collection's values: the documents */
        size_t dl = 0;
        char *doc = has[i] ? cli_doc_text(&dl, c->table, c->key, c->klen, v[i], n[i]) : NULL;
        vline_field(l, doc ? doc : v[i], doc ? dl : n[i], has[i]);
        cairn_free(doc);
    }
}

typedef struct print_ctx {
    const char *prefix;      /* NULL: to stdout; else to stderr after this */
    bool quiet;              /* count only */
    vline line;
    size_t n;
    int code;
} print_ctx;

static int print_conflict(const cairn_conflict *c, void *payload)
{
    print_ctx *p = payload;
    p->n++;
    if (p->quiet) return 0;
    conflict_line(&p->line, c);
    p->code = vline_emit(&p->line, p->prefix);
    return p->code == EXIT_OK ? 0 : STOP_WALK;
}

static int parse_strategy(int *out, const char *s)
{
    *out = CAIRN_MERGE_FAIL;
    if (!s) return EXIT_OK;
    for (size_t i = 0; i < NSTRATEGIES; i++)
        if (strcmp(s, STRATEGY_NAMES[i]) == 0) {
            *out = (int)i; /* the names are in enum cairn_merge_strategy's order */
            return EXIT_OK;
        }
    return cli_err(EXIT_USAGE, "--strategy is fail, ours, theirs or record, not '%s'", s);
}

/* Says what a merge that succeeded did. */
static int report_merge(const cairn_merge_result *r, const char *rev, int strategy)
{
    char sid[VERS_SHORT_LEN + 1];
    vers_short(sid, &r->commit);
    if (r->up_to_date) printf("already up to date\n");
    else if (r->fast_forward) printf("fast-forward to %s\n", sid);
    else if (strategy == CAIRN_MERGE_RECORD && r->conflicts)
        return cli_err(EXIT_FAIL,
                       "merge of %s recorded with %zu conflict%s and not committed: resolve each "
                       "(cairn resolve TABLE KEY --ours|--theirs|--value V|--delete; cairn "
                       "conflicts lists them), then cairn commit -m MESSAGE",
                       rev, r->conflicts, r->conflicts == 1 ? "" : "s");
    else if (r->conflicts)
        printf("merged %s: commit %s (%zu conflict%s resolved as %s)\n", rev, sid, r->conflicts,
               r->conflicts == 1 ? "" : "s", STRATEGY_NAMES[strategy]);
    else printf("merged %s: commit %s\n", rev, sid);
    return EXIT_OK;
}

/* merge --abort */
static int merge_abort(const cli_args *a)
{
    if (a->npos || a->opt[OPT_STRATEGY])
        return cli_err(EXIT_USAGE, "merge --abort takes no revision and no --strategy");
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    int rc = cairn_merge_abort(db);
    if (rc == CAIRN_OK) printf("merge aborted: the working state is the head commit again\n");
    return cli_close(db, rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc));
}

int cmd_merge(const cli_args *a)
{
    if (a->opt[OPT_ABORT]) return merge_abort(a);
    if (a->npos != 1) return cli_err(EXIT_USAGE, "merge takes a revision (or --abort); usage: "
                                                 "cairn merge REV [--strategy S]");
    int strategy;
    int code = parse_strategy(&strategy, a->opt[OPT_STRATEGY]);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, true)) != EXIT_OK) return code;
    print_ctx p = { strategy == CAIRN_MERGE_FAIL ? "cairn: conflict: " : NULL,
                    strategy == CAIRN_MERGE_OURS || strategy == CAIRN_MERGE_THEIRS, { 0 }, 0,
                    EXIT_OK };
    cairn_merge_result r;
    int rc = cairn_merge(&r, db, a->pos[0], strategy, print_conflict, &p);
    if (rc < 0) code = cli_lib_err(rc);
    else if (p.code != EXIT_OK) code = p.code;
    else code = report_merge(&r, a->pos[0], strategy);
    vline_dispose(&p.line);
    return cli_close(db, code);
}

/* Counts (quiet) or prints the recorded conflicts into p. */
static int walk_conflicts(cairn_db *db, print_ctx *p)
{
    int rc = cairn_conflicts(db, print_conflict, p);
    if (rc < 0) return cli_lib_err(rc);
    return p->code;
}

int cmd_conflicts(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    print_ctx p = { NULL, false, { 0 }, 0, EXIT_OK };
    code = walk_conflicts(db, &p);
    vline_dispose(&p.line);
    return cli_close(db, code);
}

/* ---- resolve ---- */

enum pick { PICK_OURS, PICK_THEIRS, PICK_VALUE, PICK_DELETE };

/* The recorded conflict resolve looks for, and the side it picked (copied). */
typedef struct find_ctx {
    const char *table;
    const char *key;         /* NULL: the conflict about the whole table */
    size_t klen;             /* (with --escaped, key is decoded and may hold NUL) */
    enum pick pick;
    size_t in_table;         /* conflicts recorded for the table */
    bool found;
    bool has;                /* the picked side is present */
    char *val;
    size_t vlen;
    size_t value_len;        /* of --value (decoded with --escaped) */
} find_ctx;

static int find_cb(const cairn_conflict *c, void *payload)
{
    find_ctx *f = payload;
    if (strcmp(c->table, f->table) != 0) return 0;
    f->in_table++;
    bool match = f->key ? c->key && c->klen == f->klen && memcmp(c->key, f->key, c->klen) == 0
                        : c->key == NULL;
    if (!match || f->pick == PICK_VALUE || f->pick == PICK_DELETE) {
        f->found |= match;
        return 0;
    }
    f->found = true;
    f->has = f->pick == PICK_OURS ? c->has_ours : c->has_theirs;
    const void *v = f->pick == PICK_OURS ? c->ours : c->theirs;
    f->vlen = f->pick == PICK_OURS ? c->ours_len : c->theirs_len;
    if (!f->has) return 0;
    if (!(f->val = malloc(f->vlen + 1))) return CAIRN_ENOMEM;
    if (f->vlen) memcpy(f->val, v, f->vlen);
    return 0;
}

static int parse_pick(enum pick *out, const cli_args *a)
{
    static const enum cli_opt OPTS[] = { OPT_OURS, OPT_THEIRS, OPT_VALUE, OPT_DELETE };
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (a->opt[OPTS[i]]) {
            *out = (enum pick)i;
            n++;
        }
    if (n != 1) return cli_err(EXIT_USAGE, "resolve takes one of --ours, --theirs, --value V, --delete");
    if (a->npos == 1 && *out == PICK_VALUE)
        return cli_err(EXIT_USAGE, "a conflict about a whole table is resolved with --ours, "
                                   "--theirs or --delete, not --value");
    return EXIT_OK;
}

/* Finds the conflict f names; not found is EXIT_NOTFOUND, printed. */
static int find_conflict(find_ctx *f, cairn_db *db)
{
    int rc = cairn_conflicts(db, find_cb, f);
    if (rc == CAIRN_ENOMEM) return cli_err(EXIT_FAIL, "out of memory reading a conflict");
    if (rc < 0) return cli_lib_err(rc);
    if (f->found) return EXIT_OK;
    if (!f->key && f->in_table)
        return cli_err(EXIT_NOTFOUND, "the conflicts recorded for table '%s' are about keys: "
                                      "name the key (cairn conflicts lists them)", f->table);
    if (!f->key) return cli_err(EXIT_NOTFOUND, "no conflict is recorded about table '%s'", f->table);
    vline k = { 0 };
    vline_field(&k, f->key, f->klen, true);
    cli_err(EXIT_NOTFOUND, "no conflict is recorded for key '%.*s' of table '%s' (cairn conflicts "
                           "lists them)", k.failed ? 0 : (int)k.len, k.buf ? k.buf : "", f->table);
    vline_dispose(&k);
    return EXIT_NOTFOUND;
}

static int resolve_key(cairn_db *db, const find_ctx *f, const char *value)
{
    const void *val = NULL;
    size_t vlen = 0;
    if (f->pick == PICK_VALUE) {
        val = value;
        vlen = f->value_len;
    } else if (f->pick != PICK_DELETE && f->has) {
        val = f->val;
        vlen = f->vlen;
    }
    int rc = cairn_conflict_resolve(db, f->table, f->key, f->klen, val, vlen);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* A whole-table conflict: keep the table as it is, or drop it, then forget the conflict. */
static int resolve_table(cairn_db *db, const find_ctx *f)
{
    bool want = f->pick != PICK_DELETE && f->has;
    cairn_table *t = NULL;
    int rc = cairn_table_open(&t, db, f->table, 0);
    bool exists = rc == CAIRN_OK;
    cairn_table_close(t);
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) return cli_lib_err(rc);
    cairn_error_clear();
    if (want && !exists)
        return cli_err(EXIT_FAIL, "theirs has table '%s', which ours dropped: load their version "
                                  "first (cairn scan %s --at REV | cairn load %s -, REV being "
                                  "what was merged), then resolve it again with --theirs",
                       f->table, f->table, f->table);
    if (!want && exists && (rc = cairn_table_drop(db, f->table)) != CAIRN_OK) return cli_lib_err(rc);
    rc = cairn_conflict_resolve(db, f->table, NULL, 0, NULL, 0);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* "resolved TABLE KEY (HOW); N conflicts left" */
static int report_resolved(cairn_db *db, const find_ctx *f)
{
    static const char *const HOW[] = { "ours", "theirs", "value given", "deleted" };
    print_ctx p = { NULL, true, { 0 }, 0, EXIT_OK };
    int code = walk_conflicts(db, &p);
    if (code != EXIT_OK) return code;
    vline_field(&p.line, f->key ? f->key : "", f->key ? f->klen : 0, true);
    int klen = p.line.failed ? 0 : (int)p.line.len;
    if (f->key)
        printf("resolved %s %.*s (%s); ", f->table, klen, klen ? p.line.buf : "", HOW[f->pick]);
    else printf("resolved table %s (%s); ", f->table, HOW[f->pick]);
    vline_dispose(&p.line);
    if (p.n) printf("%zu conflict%s left\n", p.n, p.n == 1 ? "" : "s");
    else printf("no conflicts left: cairn commit -m MESSAGE makes the merge commit\n");
    return EXIT_OK;
}

int cmd_resolve(const cli_args *a)
{
    find_ctx f = { a->pos[0], a->npos > 1 ? a->pos[1] : NULL, 0, PICK_OURS, 0, false, false, NULL,
                   0, 0 };
    int code = parse_pick(&f.pick, a);
    if (code == EXIT_OK && f.key) code = cli_bytes_arg(&f.klen, a, f.key, "KEY");
    if (code == EXIT_OK && a->opt[OPT_VALUE])
        code = cli_bytes_arg(&f.value_len, a, a->opt[OPT_VALUE], "--value");
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, true)) != EXIT_OK) return code;
    code = find_conflict(&f, db);
    if (code == EXIT_OK) code = f.key ? resolve_key(db, &f, a->opt[OPT_VALUE]) : resolve_table(db, &f);
    if (code == EXIT_OK) code = report_resolved(db, &f);
    free(f.val);
    return cli_close(db, code);
}
