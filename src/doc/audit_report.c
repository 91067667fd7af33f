/*
 * audit_report.c - cairn_audit_report (include/cairn/audit.h): who read what (the access log)
 * and who changed what (the commit log) in a period, summed per (who, table or collection).
 *
 * Changes are counted from the commits themselves, not from anything the writer claimed: each
 * commit of the current branch's history made in the period is diffed against its first
 * parent (a root commit: every key of every table it holds is an addition), so the count is
 * what the signed history proves.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cairn/audit.h"
#include "cairn/doc.h"
#include "db/db.h"
#include "repo/retain.h"

typedef struct row {
    cairn_audit_row r;       /* who and target point at owned copies */
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
} rows;

static int row_find(row **out, rows *rs, cairn_audit_row_kind kind, const char *who,
                    const char *target)
{
    for (size_t i = 0; i < rs->n; i++) {
        cairn_audit_row *r = &rs->v[i].r;
        if (r->kind == kind && strcmp(r->who, who) == 0 && strcmp(r->target, target) == 0) {
            *out = &rs->v[i];
            return CAIRN_OK;
        }
    }
    if (rs->n == rs->cap) {
        size_t ncap = rs->cap ? 2 * rs->cap : 16;
        row *nv = cairn_realloc(rs->v, ncap * sizeof *nv);
        FAIL_IF(!nv, CAIRN_ENOMEM, "out of memory summarising the audit report");
        rs->v = nv;
        rs->cap = ncap;
    }
    row *r = &rs->v[rs->n];
    memset(r, 0, sizeof *r);
    r->r.kind = kind;
    r->r.who = cairn_strdup(who);
    r->r.target = cairn_strdup(target);
    if (!r->r.who || !r->r.target) {
        free((char *)r->r.who);
        free((char *)r->r.target);
        return ERR(CAIRN_ENOMEM, "out of memory summarising the audit report");
    }
    rs->n++;
    *out = r;
    return CAIRN_OK;
}

static void row_event(row *r, int64_t t, uint64_t items, bool is_signed)
{
    if (r->r.events == 0 || t < r->r.first) r->r.first = t;
    if (r->r.events == 0 || t > r->r.last) r->r.last = t;
    r->r.events++;
    r->r.items += items;
    if (is_signed) r->r.signed_events++;
}

static int read_cb(const cairn_audit_entry *e, void *payload)
{
    row *r;
    TRY(row_find(&r, payload, CAIRN_AUDIT_ROW_READ, e->who, e->target));
    row_event(r, e->time, e->results, e->is_signed);
    return CAIRN_OK;
}

/* ---- changes: one commit at a time ---- */

typedef struct commit_ctx {
    cairn_db *db;
    rows *rs;
    int64_t from, to;
    const cairn_commit_info *c;
    const char *table;       /* the table whose keys are being counted */
    uint64_t keys;
} commit_ctx;

/* What a change to table name is reported as: a collection by its name (as its reads are), a
 * user table by its own; NULL for cairn's other tables (indexes, catalogs, conflicts), whose
 * changes follow from the documents'. */
static const char *report_target(const char *name)
{
    size_t n = strlen(CAIRN_DOC_COLL_PREFIX);
    if (strncmp(name, CAIRN_DOC_COLL_PREFIX, n) == 0) return name + n;
    return cairn_table_internal(name) ? NULL : name;
}

/* Adds the keys counted for the table in progress as one change by the commit's author. */
static int commit_table_done(commit_ctx *x)
{
    if (!x->table || !x->keys || !report_target(x->table)) return CAIRN_OK;
    row *r;
    TRY(row_find(&r, x->rs, CAIRN_AUDIT_ROW_CHANGE, x->c->author, report_target(x->table)));
    row_event(r, x->c->commit_time, x->keys,
              x->c->signature == CAIRN_SIG_GOOD || x->c->signature == CAIRN_SIG_UNKNOWN);
    x->keys = 0;
    return CAIRN_OK;
}

static int diff_cb(const cairn_diff_entry *d, void *payload)
{
    commit_ctx *x = payload;
    if (!x->table || strcmp(x->table, d->table) != 0) {
        TRY(commit_table_done(x));
        free((char *)x->table);
        x->table = cairn_strdup(d->table);
        FAIL_IF(!x->table, CAIRN_ENOMEM, "out of memory summarising the audit report");
    }
    x->keys++;
    return CAIRN_OK;
}

/* Whether retention let go of table's version at commit (or at its first parent): then what the
 * commit changed there cannot be counted, and is left out rather than guessed. Only a warning
 * (cairn_diag: stderr for the CLI) names the commit and the table; the report's counts carry no
 * mark of it. */
static bool pruned_here(commit_ctx *x, const char *table)
{
    if (!report_target(table)) return false; /* not reported: nothing to miscount */
    int64_t when;
    const cairn_id *at = NULL;
    if (retain_lookup(&x->db->r, &x->c->id, table, &when) == CAIRN_OK)
        at = &x->c->id;
    else if (x->c->nparents && retain_lookup(&x->db->r, &x->c->parents[0], table, &when) == CAIRN_OK)
        at = &x->c->parents[0];
    if (!at) return false;
    char hex[CAIRN_ID_HEX_SIZE], self[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, at);
    cairn_id_to_hex(self, &x->c->id);
    cairn_diag(CAIRN_LOG_WARN, "audit report: the changes to %s made by commit %.12s are not "
               "counted: its version at %.12s was removed by retention", report_target(table),
               self, hex);
    return true;
}

/* A root commit: every key of every table is an addition. */
static int root_table_cb(const char *name, void *payload)
{
    commit_ctx *x = payload;
    if (pruned_here(x, name)) return 0;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &x->c->id);
    cairn_snapshot *snap;
    TRY(cairn_snapshot_open_at(&snap, x->db, hex));
    cairn_table *t;
    int rc = cairn_table_open(&t, x->db, name, CAIRN_TABLE_NAMEONLY | CAIRN_TABLE_INTERNAL);
    uint64_t n = 0;
    if (rc == CAIRN_OK) {
        cairn_range all = CAIRN_RANGE_INIT;
        rc = cairn_count(&n, t, snap, &all);
        cairn_table_close(t);
    }
    cairn_snapshot_close(snap);
    TRY(rc);
    x->table = name;
    x->keys = n;
    rc = commit_table_done(x);
    x->table = NULL;
    return rc;
}

/* The collections' tables of a commit. */
typedef struct colls {
    char **names;
    size_t n;
} colls;

static int coll_cb(const char *name, void *payload)
{
    colls *cs = payload;
    if (strncmp(name, CAIRN_DOC_COLL_PREFIX, strlen(CAIRN_DOC_COLL_PREFIX)) != 0) return 0;
    char **more = realloc(cs->names, (cs->n + 1) * sizeof *more);
    FAIL_IF(!more, CAIRN_ENOMEM, "out of memory summarising the audit report");
    cs->names = more;
    cs->names[cs->n] = cairn_strdup(name);
    FAIL_IF(!cs->names[cs->n], CAIRN_ENOMEM, "out of memory summarising the audit report");
    cs->n++;
    return 0;
}

static int commit_cb(const cairn_commit_info *c, void *payload)
{
    commit_ctx *x = payload;
    if (c->commit_time < x->from || c->commit_time >= x->to) return CAIRN_OK;
    x->c = c;
    x->table = NULL;
    x->keys = 0;
    int rc;
    if (c->nparents == 0) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &c->id);
        cairn_snapshot *snap;
        TRY(cairn_snapshot_open_at(&snap, x->db, hex));
        rc = db_table_list_all(x->db, snap, root_table_cb, x);
        cairn_snapshot_close(snap);
        return rc;
    }
    char parent[CAIRN_ID_HEX_SIZE], self[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(parent, &c->parents[0]);
    cairn_id_to_hex(self, &c->id);
    rc = cairn_diff(x->db, parent, self, NULL, diff_cb, x); /* the user tables */
    if (rc == CAIRN_OK) rc = commit_table_done(x);
    free((char *)x->table);
    x->table = NULL;
    if (rc == CAIRN_OK) { /* and the collections, which a diff of all tables leaves out */
        colls cs = { NULL, 0 };
        cairn_snapshot *snap;
        rc = cairn_snapshot_open_at(&snap, x->db, self);
        if (rc == CAIRN_OK) {
            rc = db_table_list_all(x->db, snap, coll_cb, &cs);
            cairn_snapshot_close(snap);
        }
        for (size_t i = 0; rc == CAIRN_OK && i < cs.n; i++) {
            rc = cairn_diff(x->db, parent, self, cs.names[i], diff_cb, x);
            if (rc == CAIRN_ENOTFOUND) { /* not in the parent (every key is new), or let go */
                cairn_error_clear();
                rc = root_table_cb(cs.names[i], x);
            }
            if (rc == CAIRN_OK) rc = commit_table_done(x);
            free((char *)x->table);
            x->table = NULL;
        }
        for (size_t i = 0; i < cs.n; i++) free(cs.names[i]);
        free(cs.names);
    }
    free((char *)x->table);
    x->table = NULL;
    return rc;
}

static int row_cmp(const void *a, const void *b)
{
    const cairn_audit_row *x = &((const row *)a)->r, *y = &((const row *)b)->r;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    int c = strcmp(x->who, y->who);
    return c ? c : strcmp(x->target, y->target);
}

int cairn_audit_report(cairn_db *db, int64_t from, int64_t to, cairn_audit_row_fn cb,
                       void *payload)
{
    FAIL_IF(!cb, CAIRN_EINVAL, "cairn_audit_report: a callback is required");
    rows rs = { NULL, 0, 0 };
    cairn_audit_filter f = CAIRN_AUDIT_FILTER_INIT;
    f.from = from;
    f.to = to;
    int rc = cairn_audit_entries(db, &f, read_cb, &rs);
    if (rc == CAIRN_OK) {
        commit_ctx x = { db, &rs, from, to, NULL, NULL, 0 };
        cairn_id head;
        rc = cairn_resolve(&head, db, "HEAD");
        if (rc == CAIRN_ENOTFOUND) { /* no commit yet: nothing changed */
            cairn_error_clear();
            rc = CAIRN_OK;
        } else if (rc == CAIRN_OK) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &head);
            rc = cairn_log(db, hex, commit_cb, &x);
        }
    }
    if (rc == CAIRN_OK && rs.n) qsort(rs.v, rs.n, sizeof *rs.v, row_cmp);
    for (size_t i = 0; rc == CAIRN_OK && i < rs.n; i++) rc = cb(&rs.v[i].r, payload);
    for (size_t i = 0; i < rs.n; i++) {
        free((char *)rs.v[i].r.who);
        free((char *)rs.v[i].r.target);
    }
    free(rs.v);
    return rc;
}
