/*
 * cmd_diff.c - `cairn diff [REV1 [REV2 [TABLE]]]`: every key whose value differs between two
 * versions (HEAD and WORKING when none is named, REV1 and WORKING for one), table by table in
 * name order, keys in order.
 *
 * One change a line, TABLE<TAB>OP<TAB>KEY<TAB>OLD<TAB>NEW, OP being + (added), - (removed) or
 * ~ (modified), fields escaped as scan escapes them and "-" for the absent side (vers.h);
 * --json prints objects with "table", "change", "key", "old", "new" (UTF-8 as strings, other
 * bytes as base64 in "key_b64", "old_b64", "new_b64"; an absent side is left out); --stat
 * counts the changes of each table instead.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dstat.h"
#include "jsonl.h"
#include "vers.h"

#define STOP_WALK 1 /* returned by the callback after a printing failure, already reported */

static const char *const KIND_OP[] = { "?", "+", "-", "~" };
static const char *const KIND_NAME[] = { "?", "added", "removed", "modified" };

typedef struct diff_out {
    bool json;
    vline line;
    int code;
} diff_out;

static int print_tsv(diff_out *d, const cairn_diff_entry *e)
{
    vline *l = &d->line;
    vline_reset(l);
    vline_field(l, e->table, strlen(e->table), true);
    vline_text(l, KIND_OP[e->kind]);
    vline_field(l, e->key, e->klen, true);
    vline_field(l, e->old_val, e->old_len, e->old_val != NULL);
    vline_field(l, e->new_val, e->new_len, e->new_val != NULL);
    return vline_emit(l, NULL);
}

static int print_json(const cairn_diff_entry *e)
{
    json_t *o = json_object();
    int rc = o ? json_object_set_new(o, "table", json_string(e->table)) : -1;
    if (rc == 0) rc = json_object_set_new(o, "change", json_string(KIND_NAME[e->kind]));
    if (rc == 0) rc = jsonl_set_bytes(o, "key", e->key, e->klen);
    if (rc == 0 && e->old_val) rc = jsonl_set_bytes(o, "old", e->old_val, e->old_len);
    if (rc == 0 && e->new_val) rc = jsonl_set_bytes(o, "new", e->new_val, e->new_len);
    if (rc < 0) {
        json_decref(o);
        return cli_err(EXIT_FAIL, "out of memory printing JSON");
    }
    rc = jsonl_dump(stdout, o);
    json_decref(o);
    return rc < 0 ? cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno)) : EXIT_OK;
}

static int diff_cb(const cairn_diff_entry *e, void *payload)
{
    diff_out *d = payload;
    int kind = e->kind >= CAIRN_DIFF_ADDED && e->kind <= CAIRN_DIFF_MODIFIED ? e->kind : 0;
    cairn_diff_entry known = *e;
    known.kind = kind;
    /* a collection's values: the documents, not their stored forms */
    char *old = cli_doc_text(&known.old_len, e->table, e->key, e->klen, e->old_val, e->old_len);
    char *new = cli_doc_text(&known.new_len, e->table, e->key, e->klen, e->new_val, e->new_len);
    if (old) known.old_val = old;
    else known.old_len = e->old_len;
    if (new) known.new_val = new;
    else known.new_len = e->new_len;
    d->code = d->json ? print_json(&known) : print_tsv(d, &known);
    cairn_free(old);
    cairn_free(new);
    return d->code == EXIT_OK ? 0 : STOP_WALK;
}

static int print_changes(cairn_db *db, const char *r1, const char *r2, const char *table,
                         bool json)
{
    diff_out d = { json, { 0 }, EXIT_OK };
    int rc = cairn_diff(db, r1, r2, table, diff_cb, &d);
    vline_dispose(&d.line);
    if (rc < 0) return cli_lib_err(rc);
    return d.code;
}

static int print_stat(cairn_db *db, const char *r1, const char *r2, const char *table, bool json)
{
    dstat s;
    int code = dstat_compute(&s, db, r1, r2, table);
    if (code != EXIT_OK) return code;
    code = dstat_print(&s, json, "");
    dstat_dispose(&s);
    return code;
}

/* Every entry of one table of WORKING, as added. */
static int table_added(cairn_db *db, const char *name, diff_out *d)
{
    cairn_table *t;
    cairn_cursor *cur = NULL;
    int rc = cairn_table_open(&t, db, name, 0);
    if (rc == CAIRN_OK) rc = cairn_cursor_open(&cur, t, NULL, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        cairn_diff_entry e = { .table = name, .kind = CAIRN_DIFF_ADDED };
        rc = cairn_cursor_get(&e.key, &e.klen, &e.new_val, &e.new_len, cur);
        if (rc == CAIRN_OK) rc = diff_cb(&e, d);
    }
    cairn_cursor_close(cur);
    cairn_table_close(t);
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc; /* ENOTFOUND: the cursor's end */
}

typedef struct all_added {
    cairn_db *db;
    const char *only;
    diff_out d;
} all_added;

static int list_added(const char *name, void *payload)
{
    all_added *x = payload;
    if (x->only && strcmp(x->only, name) != 0) return 0;
    return table_added(x->db, name, &x->d);
}

/* Before the first commit, "diff" compares the empty state with WORKING: all is added. */
static int print_all_added(cairn_db *db, const char *table, bool json, bool stat)
{
    if (stat) {
        dstat s;
        int code = dstat_compute(&s, db, NULL, "WORKING", table);
        if (code == EXIT_OK) code = dstat_print(&s, json, "");
        dstat_dispose(&s);
        return code;
    }
    all_added x = { db, table, { json, { 0 }, EXIT_OK } };
    int rc = cairn_table_list(db, NULL, list_added, &x);
    vline_dispose(&x.d.line);
    if (rc == STOP_WALK) return x.d.code;
    return rc < 0 ? cli_lib_err(rc) : x.d.code;
}

/* Whether HEAD is a branch with no commits yet. */
static bool no_commits_yet(cairn_db *db)
{
    cairn_id head;
    int rc = cairn_resolve(&head, db, "HEAD");
    cairn_error_clear();
    return rc == CAIRN_ENOTFOUND;
}

int cmd_diff(const cli_args *a)
{
    const char *r1 = a->npos > 0 ? a->pos[0] : "HEAD";
    const char *r2 = a->npos > 1 ? a->pos[1] : "WORKING";
    const char *table = a->npos > 2 ? a->pos[2] : NULL;
    bool json = a->opt[OPT_JSON] != NULL;
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    if (a->npos == 0 && no_commits_yet(db))
        code = print_all_added(db, table, json, a->opt[OPT_STAT] != NULL);
    else
        code = a->opt[OPT_STAT] ? print_stat(db, r1, r2, table, json)
                                : print_changes(db, r1, r2, table, json);
    return cli_close(db, code);
}
