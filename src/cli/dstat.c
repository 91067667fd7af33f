/*
 * dstat.c - per-table difference counts (see dstat.h): the table lists of both versions say
 * which tables are new or dropped, cairn_diff() counts the changed keys (its cost grows with
 * the differences), and against "nothing" the entries are counted with cairn_count().
 * Collections are counted the same way, through their documents tables (cairn/doc.h): one
 * entry a document; the same diff (CAIRN_DOC_DIFF_ALL) says whether their index catalogs and
 * retention policies changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/doc.h"
#include "cli.h"
#include "dstat.h"
#include "jsonl.h"
#include "tsv.h"

/* What follows prefix in name; NULL when name does not start with it. */
static const char *after(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 ? name + n : NULL;
}

/* Orders tables before collections, each by name. */
static int entry_cmp(const dstat_table *t, const char *name, bool coll)
{
    return t->coll != coll ? (t->coll ? 1 : -1) : strcmp(t->name, name);
}

/* The entry for a table or a collection, inserted in order when missing; NULL when out of
 * memory. */
static dstat_table *entry(dstat *s, const char *name, bool coll)
{
    size_t i = 0;
    while (i < s->n && entry_cmp(&s->t[i], name, coll) < 0) i++;
    if (i < s->n && entry_cmp(&s->t[i], name, coll) == 0) return &s->t[i];
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
    s->t[i] = (dstat_table){ .name = copy, .coll = coll };
    s->n++;
    return &s->t[i];
}

typedef struct list_ctx {
    dstat *s;
    const char *only;
    bool old_side, coll;
} list_ctx;

static int list_cb(const char *name, void *payload)
{
    list_ctx *l = payload;
    if (l->only && strcmp(l->only, name) != 0) return 0;
    dstat_table *t = entry(l->s, name, l->coll);
    if (!t) return CAIRN_ENOMEM;
    if (l->old_side) t->in_old = true;
    else t->in_new = true;
    return 0;
}

/* Marks the tables of rev (and its collections, unless one table is asked for) as present on
 * one side; opens its snapshot into *snap. */
static int list_side(dstat *s, cairn_db *db, const char *rev, const char *only, bool old_side,
                     cairn_snapshot **snap)
{
    int rc = cairn_snapshot_open_at(snap, db, rev);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    list_ctx l = { s, only, old_side, false };
    rc = cairn_table_list(db, *snap, list_cb, &l);
    l.coll = true;
    if (rc == CAIRN_OK && !only) rc = cairn_coll_list(db, *snap, list_cb, &l);
    if (rc == CAIRN_ENOMEM) return cli_err(EXIT_FAIL, "out of memory listing tables");
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* One difference of a table, or of a collection's documents, index catalog or policy (entry()
 * keeps them in order, whichever order the diff reports their tables in). */
static int count_cb(const cairn_diff_entry *e, void *payload)
{
    const char *docs = after(e->table, CAIRN_DOC_COLL_PREFIX);
    const char *cat = after(e->table, CAIRN_DOC_CATALOG_PREFIX);
    const char *policy = after(e->table, CAIRN_DOC_RETENTION_PREFIX);
    const char *coll = docs ? docs : cat ? cat : policy;
    dstat_table *t = entry(payload, coll ? coll : e->table, coll != NULL);
    if (!t) return CAIRN_ENOMEM;
    if (cat) t->indexes = true;
    else if (policy) t->settings = true;
    else if (e->kind == CAIRN_DIFF_ADDED) t->added++;
    else if (e->kind == CAIRN_DIFF_REMOVED) t->removed++;
    else t->modified++;
    return 0;
}

/* Against nothing: every entry of every table of snap is added. */
static int count_all(dstat *s, cairn_db *db, const cairn_snapshot *snap)
{
    for (size_t i = 0; i < s->n; i++) {
        cairn_table *t;
        char buf[CLI_COLL_TABLE_SIZE];
        int rc = s->t[i].coll ? cairn_table_open(&t, db, cli_coll_table(buf, s->t[i].name),
                                                 CAIRN_TABLE_NAMEONLY | CAIRN_TABLE_INTERNAL)
                              : cairn_table_open(&t, db, s->t[i].name, CAIRN_TABLE_NAMEONLY);
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
        /* one pass: the tables and the collections' tables (internal ones left out) */
        int rc = cairn_diff(db, old_rev, new_rev, table ? table : CAIRN_DOC_DIFF_ALL, count_cb,
                            out);
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
    return t->in_old != t->in_new || t->indexes || t->settings || t->added || t->removed ||
           t->modified;
}

static int print_json(const dstat_table *t)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b}", t->coll ? "collection" : "table",
                          t->name, "added", (json_int_t)t->added, "removed",
                          (json_int_t)t->removed, "modified", (json_int_t)t->modified,
                          t->coll ? "new_collection" : "new_table", t->in_new && !t->in_old,
                          t->coll ? "dropped_collection" : "dropped_table",
                          t->in_old && !t->in_new);
    if (o && t->coll &&
        (json_object_set_new(o, "indexes_changed", json_boolean(t->indexes)) ||
         json_object_set_new(o, "settings_changed", json_boolean(t->settings)))) {
        json_decref(o);
        o = NULL;
    }
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
        /* (escaped as diff's lines and scan escape: a name is one field, whatever it holds) */
        size_t len = strlen(t->name);
        char *name = malloc(TSV_ESCAPED_MAX(len) + 1);
        if (!name) return cli_err(EXIT_FAIL, "out of memory printing a table name");
        name[tsv_escape(name, t->name, len)] = '\0';
        char tag[64] = "";
        size_t tl = 0;
        const char *what = t->coll ? "collection" : "table";
        if (t->in_new != t->in_old)
            tl += (size_t)snprintf(tag, sizeof tag, ", %s %s", t->in_new ? "new" : "dropped", what);
        bool dropped = t->in_old && !t->in_new;
        if (!dropped && t->indexes)
            tl += (size_t)snprintf(tag + tl, sizeof tag - tl, ", indexes changed");
        if (!dropped && t->settings)
            tl += (size_t)snprintf(tag + tl, sizeof tag - tl, ", settings changed");
        if (tl) { /* ", a, b" becomes " (a, b)" (at most 56 bytes) */
            memcpy(tag, " (", 2);
            snprintf(tag + tl, sizeof tag - tl, ")");
        }
        printf("%s%s%s: %" PRIu64 " added, %" PRIu64 " removed, %" PRIu64 " modified%s\n",
               indent, t->coll ? "collection " : "", name, t->added, t->removed, t->modified, tag);
        free(name);
    }
    return code;
}

void dstat_dispose(dstat *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->t[i].name);
    free(s->t);
    memset(s, 0, sizeof *s);
}
