/*
 * dstat.c - per-table difference counts (see dstat.h): the table lists of both versions say
 * which tables are new or dropped, cairn_diff() counts the changed keys (its cost grows with
 * the differences), and against "nothing" the entries are counted with cairn_count().
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dstat.h"
#include "jsonl.h"

/* The entry for name, inserted in name order when missing; NULL when out of memory. */
static dstat_table *entry(dstat *s, const char *name)
{
    size_t i = 0;
    while (i < s->n && strcmp(s->t[i].name, name) < 0) i++;
    if (i < s->n && strcmp(s->t[i].name, name) == 0) return &s->t[i];
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        dstat_table *nt = realloc(s->t, cap * sizeof *nt);
        if (!nt) return NULL;
        s->t = nt;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return NULL;
    memmove(&s->t[i + 1], &s->t[i], (s->n - i) * sizeof *s->t);
    s->t[i] = (dstat_table){ .name = copy };
    s->n++;
    return &s->t[i];
}

typedef struct list_ctx {
    dstat *s;
    const char *only;
    bool old_side;
} list_ctx;

static int list_cb(const char *name, void *payload)
{
    list_ctx *l = payload;
    if (l->only && strcmp(l->only, name) != 0) return 0;
    dstat_table *t = entry(l->s, name);
    if (!t) return CAIRN_ENOMEM;
    if (l->old_side) t->in_old = true;
    else t->in_new = true;
    return 0;
}

/* Marks the tables of rev as present on one side; opens its snapshot into *snap. */
static int list_side(dstat *s, cairn_db *db, const char *rev, const char *only, bool old_side,
                     cairn_snapshot **snap)
{
    int rc = cairn_snapshot_open_at(snap, db, rev);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    list_ctx l = { s, only, old_side };
    rc = cairn_table_list(db, *snap, list_cb, &l);
    if (rc == CAIRN_ENOMEM) return cli_err(EXIT_FAIL, "out of memory listing tables");
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

static int count_cb(const cairn_diff_entry *e, void *payload)
{
    dstat_table *t = entry(payload, e->table);
    if (!t) return CAIRN_ENOMEM;
    if (e->kind == CAIRN_DIFF_ADDED) t->added++;
    else if (e->kind == CAIRN_DIFF_REMOVED) t->removed++;
    else t->modified++;
    return 0;
}

/* Against nothing: every entry of every table of snap is added. */
static int count_all(dstat *s, cairn_db *db, const cairn_snapshot *snap)
{
    for (size_t i = 0; i < s->n; i++) {
        cairn_table *t;
        int rc = cairn_table_open(&t, db, s->t[i].name, CAIRN_TABLE_NAMEONLY);
        if (rc == CAIRN_OK) rc = cairn_count(&s->t[i].added, t, snap, NULL);
        cairn_table_close(t);
        if (rc != CAIRN_OK) return cli_lib_err(rc);
    }
    return EXIT_OK;
}

int dstat_compute(dstat *out, cairn_db *db, const char *old_rev, const char *new_rev,
                  const char *table)
{
    memset(out, 0, sizeof *out);
    cairn_snapshot *so = NULL, *sn = NULL;
    int code = old_rev ? list_side(out, db, old_rev, table, true, &so) : EXIT_OK;
    if (code == EXIT_OK) code = list_side(out, db, new_rev, table, false, &sn);
    if (code == EXIT_OK && table && out->n == 0)
        code = cli_err(EXIT_NOTFOUND, "no table '%s' in %s or %s", table,
                       old_rev ? old_rev : "nothing", new_rev);
    if (code == EXIT_OK && old_rev) {
        int rc = cairn_diff(db, old_rev, new_rev, table, count_cb, out);
        if (rc == CAIRN_ENOMEM) code = cli_err(EXIT_FAIL, "out of memory counting differences");
        else if (rc != CAIRN_OK) code = cli_lib_err(rc);
    } else if (code == EXIT_OK) {
        code = count_all(out, db, sn);
    }
    cairn_snapshot_close(so);
    cairn_snapshot_close(sn);
    if (code != EXIT_OK) dstat_dispose(out);
    return code;
}

bool dstat_changed(const dstat *s, size_t i)
{
    const dstat_table *t = &s->t[i];
    return t->in_old != t->in_new || t->added || t->removed || t->modified;
}

static int print_json(const dstat_table *t)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b}", "table", t->name, "added",
                          (json_int_t)t->added, "removed", (json_int_t)t->removed, "modified",
                          (json_int_t)t->modified, "new_table", t->in_new && !t->in_old,
                          "dropped_table", t->in_old && !t->in_new);
    if (!o) return cli_err(EXIT_FAIL, "out of memory printing JSON");
    int rc = jsonl_dump(stdout, o);
    json_decref(o);
    if (rc < 0)
        return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

int dstat_print(const dstat *s, bool json, const char *indent)
{
    int code = EXIT_OK;
    for (size_t i = 0; code == EXIT_OK && i < s->n; i++) {
        const dstat_table *t = &s->t[i];
        if (!dstat_changed(s, i)) continue;
        if (json) {
            code = print_json(t);
            continue;
        }
        printf("%s%s: %" PRIu64 " added, %" PRIu64 " removed, %" PRIu64 " modified%s\n", indent,
               t->name, t->added, t->removed, t->modified,
               t->in_new && !t->in_old   ? " (new table)"
               : t->in_old && !t->in_new ? " (dropped table)"
                                         : "");
    }
    return code;
}

void dstat_dispose(dstat *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->t[i].name);
    free(s->t);
    memset(s, 0, sizeof *s);
}
