/*
 * retain.c - retention policies of collections (cairn_doc_retention_get/set, cairn_doc_gc and
 * the questions about what was let go, in cairn/doc.h).
 *
 * A policy is the row "policy" of the table "cairn_dret.COLL", canonical JSON (docs/FORMAT.md,
 * "Retention policy"): {} (keep all), {"days":N} or {"versions":N}, with "legal_hold":true when
 * a hold is on. Keeping it in a table of its own versions it with the data and leaves the index
 * catalog (cairn_dcat.COLL) to index definitions.
 *
 * cairn_doc_gc() turns the policies into data for gc (repo/retain.h: the tables each covers and
 * its window) and runs gc with them; gc itself works out which versions that lets go, under
 * the writer lock, and records them before it deletes anything.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db/db.h"
#include "doc/doc_int.h"
#include "repo/commit.h"
#include "repo/retain.h"

#define POLICY_KEY "policy"
#define NS_PER_DAY (86400LL * 1000000000LL)

/* ---- the policy row ---- */

static int policy_table(cairn_table **out, cairn_db *db, const char *coll, unsigned flags)
{
    char *name = cairn_sprintf("%s%s", CAIRN_DOC_RETENTION_PREFIX, coll);
    FAIL_IF(!name, CAIRN_ENOMEM, "out of memory");
    int rc = cairn_table_open(out, db, name, flags | CAIRN_TABLE_INTERNAL);
    free(name);
    return rc;
}

static int policy_decode(cairn_doc_retention *out, const char *coll, const void *val, size_t len)
{
    json_t *j = NULL;
    TRY(canon_parse(&j, val, len, "retention policy"));
    json_t *days = json_object_get(j, "days"), *vers = json_object_get(j, "versions");
    json_t *hold = json_object_get(j, "legal_hold");
    json_t *n = days ? days : vers;
    int rc = CAIRN_OK;
    if ((days && vers) || (n && (!json_is_integer(n) || json_integer_value(n) < 1 ||
                                 json_integer_value(n) > CAIRN_DOC_RETENTION_MAX)) ||
        (hold && !json_is_boolean(hold)))
        rc = CORRUPT("collection %s: its retention policy row is not a valid policy", coll);
    if (rc == CAIRN_OK) {
        out->kind = days ? CAIRN_RETAIN_DAYS : vers ? CAIRN_RETAIN_VERSIONS : CAIRN_RETAIN_ALL;
        out->n = n ? (uint32_t)json_integer_value(n) : 0;
        out->legal_hold = json_is_true(hold);
    }
    json_decref(j);
    return rc;
}

/* The policy of collection coll as of snap (no row: keep all). */
static int policy_read(cairn_doc_retention *out, cairn_db *db, const char *coll,
                       const cairn_snapshot *snap)
{
    memset(out, 0, sizeof *out);
    cairn_table *t;
    TRY(policy_table(&t, db, coll, CAIRN_TABLE_NAMEONLY));
    void *val = NULL;
    size_t len = 0;
    int rc = cairn_get(&val, &len, t, snap, POLICY_KEY, strlen(POLICY_KEY));
    cairn_table_close(t);
    if (rc == CAIRN_ENOTFOUND) { /* no policy (or no policy table) in that state */
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    rc = policy_decode(out, coll, val, len);
    cairn_free(val);
    return rc;
}

int cairn_doc_retention_get(cairn_doc_retention *out, cairn_coll *coll, const cairn_snapshot *snap)
{
    FAIL_IF(!out || !coll, CAIRN_EINVAL, "cairn_doc_retention_get: out and coll are required");
    return policy_read(out, coll->db, coll->name, snap);
}

int cairn_doc_retention_set(cairn_coll *coll, const cairn_doc_retention *p)
{
    FAIL_IF(!coll || !p, CAIRN_EINVAL, "cairn_doc_retention_set: coll and policy are required");
    FAIL_IF(p->kind > CAIRN_RETAIN_VERSIONS, CAIRN_EINVAL, "retention: unknown kind %u", p->kind);
    FAIL_IF(p->kind == CAIRN_RETAIN_ALL && p->n, CAIRN_EINVAL,
            "retention: a count (%u) without --days or --versions", p->n);
    FAIL_IF(p->kind != CAIRN_RETAIN_ALL && (p->n < 1 || p->n > CAIRN_DOC_RETENTION_MAX),
            CAIRN_EINVAL, "retention: %s must be 1 to %u, not %u",
            p->kind == CAIRN_RETAIN_DAYS ? "days" : "versions", CAIRN_DOC_RETENTION_MAX, p->n);
    json_t *j = json_object();
    FAIL_IF(!j, CAIRN_ENOMEM, "out of memory");
    if (p->kind != CAIRN_RETAIN_ALL)
        json_object_set_new(j, p->kind == CAIRN_RETAIN_DAYS ? "days" : "versions",
                            json_integer(p->n));
    if (p->legal_hold) json_object_set_new(j, "legal_hold", json_true());
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    FAIL_IF(!text, CAIRN_ENOMEM, "out of memory");
    cairn_table *t;
    int rc = policy_table(&t, coll->db, coll->name, CAIRN_TABLE_CREATE);
    if (rc == CAIRN_OK) {
        rc = cairn_put(t, POLICY_KEY, strlen(POLICY_KEY), text, strlen(text));
        cairn_table_close(t);
    }
    free(text);
    return rc;
}

/* ---- gc with the policies ---- */

typedef struct gcpol {
    char *coll;
    char *table, *prefix;
    cairn_doc_retention p;
} gcpol;

typedef struct gcset {
    cairn_db *db;
    const cairn_snapshot *snap;
    gcpol *v;
    size_t n, cap;
    bool holds_only;         /* another branch's state: only a hold counts */
} gcset;

static gcpol *gcset_find(gcset *s, const char *coll)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].coll, coll) == 0) return &s->v[i];
    return NULL;
}

static int gcset_coll(const char *coll, void *payload)
{
    gcset *s = payload;
    cairn_doc_retention p;
    TRY(policy_read(&p, s->db, coll, s->snap));
    gcpol *g = gcset_find(s, coll);
    if (s->holds_only) {
        if (g && p.legal_hold) g->p.legal_hold = true;
        return 0;
    }
    if (g) return 0;
    TRY(cairn_array_room(&s->v, &s->cap, s->n, sizeof *s->v, 8));
    g = &s->v[s->n];
    memset(g, 0, sizeof *g);
    g->coll = cairn_strdup(coll);
    g->table = cairn_sprintf("%s%s", CAIRN_DOC_COLL_PREFIX, coll);
    g->prefix = cairn_sprintf("%s%s.", CAIRN_DOC_INDEX_PREFIX, coll);
    g->p = p;
    s->n++;
    FAIL_IF(!g->coll || !g->table || !g->prefix, CAIRN_ENOMEM, "out of memory");
    return 0;
}

static int gcset_branch(const char *name, const cairn_id *cid, int current, void *payload)
{
    (void)current;
    gcset *s = payload;
    if (id_is_zero(cid)) return 0; /* the current branch before its first commit: no versions */
    char rev[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(rev, cid);
    cairn_snapshot *snap;
    int rc = cairn_snapshot_open_at(&snap, s->db, rev);
    if (rc < 0) return cairn_error_prefix(rc, "reading the retention policies of branch %s", name);
    s->snap = snap;
    rc = cairn_coll_list(s->db, snap, gcset_coll, s);
    cairn_snapshot_close(snap);
    s->snap = NULL;
    return rc;
}

static void gcset_dispose(gcset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].coll);
        free(s->v[i].table);
        free(s->v[i].prefix);
    }
    free(s->v);
}

int cairn_doc_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_doc_gc: db is required");
    gcset s = { db, NULL, NULL, 0, 0, false };
    int rc = cairn_coll_list(db, NULL, gcset_coll, &s); /* the policies in force */
    s.holds_only = true;
    if (rc == CAIRN_OK && s.n) rc = cairn_branch_list(db, gcset_branch, &s);
    gc_retain *pol = rc == CAIRN_OK && s.n ? cairn_calloc(s.n, sizeof *pol) : NULL;
    if (rc == CAIRN_OK && s.n && !pol) rc = ERR(CAIRN_ENOMEM, "out of memory");
    int64_t now = clock_wall_ns();
    size_t n = 0;
    for (size_t i = 0; rc == CAIRN_OK && i < s.n; i++) {
        const cairn_doc_retention *p = &s.v[i].p;
        if (p->kind == CAIRN_RETAIN_ALL && !p->legal_hold) continue;
        gc_retain *g = &pol[n++];
        g->table = s.v[i].table;
        g->prefix = s.v[i].prefix;
        g->hold = p->legal_hold || p->kind == CAIRN_RETAIN_ALL;
        if (p->kind == CAIRN_RETAIN_DAYS) g->keep_after_ns = now - (int64_t)p->n * NS_PER_DAY;
        if (p->kind == CAIRN_RETAIN_VERSIONS) g->versions = p->n;
    }
    if (rc == CAIRN_OK) rc = db_gc(out, db, opts, pol, n);
    free(pol);
    gcset_dispose(&s);
    return rc;
}

/* ---- what was let go ---- */

typedef struct psum {
    cairn_doc_pruned *v;
    size_t n, cap;
} psum;

static int psum_add(const retain_entry *e, void *payload)
{
    psum *s = payload;
    size_t pl = strlen(CAIRN_DOC_COLL_PREFIX);
    if (e->tlen <= pl || memcmp(e->table, CAIRN_DOC_COLL_PREFIX, pl) != 0) return 0;
    const char *coll = e->table + pl;
    size_t cl = e->tlen - pl;
    cairn_doc_pruned *p = NULL;
    for (size_t i = 0; i < s->n && !p; i++)
        if (strlen(s->v[i].coll) == cl && memcmp(s->v[i].coll, coll, cl) == 0) p = &s->v[i];
    if (!p) {
        TRY(cairn_array_room(&s->v, &s->cap, s->n, sizeof *s->v, 8));
        p = &s->v[s->n];
        memset(p, 0, sizeof *p);
        p->coll = cairn_strndup(coll, cl);
        FAIL_IF(!p->coll, CAIRN_ENOMEM, "out of memory");
        p->first_ns = p->last_ns = e->when_ns;
        s->n++;
    }
    p->versions++;
    if (e->when_ns < p->first_ns) p->first_ns = e->when_ns;
    if (e->when_ns > p->last_ns) p->last_ns = e->when_ns;
    return 0;
}

static int psum_cmp(const void *a, const void *b)
{
    return strcmp(((const cairn_doc_pruned *)a)->coll, ((const cairn_doc_pruned *)b)->coll);
}

int cairn_doc_retention_pruned(cairn_db *db, cairn_doc_pruned_fn cb, void *payload)
{
    FAIL_IF(!db || !cb, CAIRN_EINVAL, "cairn_doc_retention_pruned: db and cb are required");
    psum s = { NULL, 0, 0 };
    int rc = retain_each(&db->r, psum_add, &s);
    if (rc == CAIRN_OK && s.n > 1) qsort(s.v, s.n, sizeof *s.v, psum_cmp);
    for (size_t i = 0; rc == CAIRN_OK && i < s.n; i++) rc = cb(&s.v[i], payload);
    for (size_t i = 0; i < s.n; i++) free((char *)s.v[i].coll);
    free(s.v);
    return rc;
}

int dv_pruned_lookup(int64_t *out_when_ns, cairn_coll *coll, const cairn_id *cid)
{
    char *table = cairn_sprintf("%s%s", CAIRN_DOC_COLL_PREFIX, coll->name);
    FAIL_IF(!table, CAIRN_ENOMEM, "out of memory");
    int64_t when = 0;
    int rc = retain_lookup(&coll->db->r, cid, table, &when);
    free(table);
    if (rc == CAIRN_OK && out_when_ns) *out_when_ns = when;
    return rc;
}

int cairn_doc_pruned_at(int64_t *out_when_ns, cairn_coll *coll, const cairn_snapshot *snap)
{
    FAIL_IF(!coll || !snap, CAIRN_EINVAL, "cairn_doc_pruned_at: coll and snap are required");
    cairn_id cid;
    cairn_snapshot_commit(&cid, snap);
    if (id_is_zero(&cid)) return CAIRN_ENOTFOUND;
    return dv_pruned_lookup(out_when_ns, coll, &cid);
}

void dv_time_text(char *out, size_t size, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int dv_pruned_error(cairn_coll *coll, const cairn_id *cid, int64_t when_ns, const char *doing)
{
    char hex[CAIRN_ID_HEX_SIZE], when[40];
    cairn_id_to_hex(hex, cid);
    dv_time_text(when, sizeof when, when_ns);
    return ERR(CAIRN_ENOTFOUND, "%s: collection %s at commit %.12s was removed by retention on "
               "%s (its policy let that version go; the commit itself is kept); 'cairn doc "
               "history %s ID' lists the versions that are kept", doing, coll->name, hex, when,
               coll->name);
}

int dv_pruned_refuse(cairn_coll *coll, const cairn_snapshot *snap, const char *doing)
{
    int64_t when;
    if (!snap) return CAIRN_OK;
    int rc = cairn_doc_pruned_at(&when, coll, snap);
    if (rc == CAIRN_ENOTFOUND) return CAIRN_OK;
    if (rc < 0) return rc;
    cairn_id cid;
    cairn_snapshot_commit(&cid, snap);
    return dv_pruned_error(coll, &cid, when, doing);
}
