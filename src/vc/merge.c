/*
 * merge.c - differences between versions and three-way merges of whole repositories.
 *
 * A version is a catalog (table name -> table root). Diff walks the two catalogs by name and the
 * tables that differ with tree_diff. Merge computes the merge base(s) of HEAD and the other
 * commit; after criss-cross histories there are several, and they are first merged into one
 * virtual base (recursively, conflicts resolved toward the earlier base by id, so the result is
 * deterministic). Then each table is merged: a table changed on one side only takes that side
 * (added, dropped or modified), one changed on both sides is merged key by key with tree_merge,
 * and one dropped on a side and changed on the other is a table-level conflict.
 *
 * Conflicts recorded for manual resolution (CAIRN_MERGE_RECORD) live in the table
 * "cairn_conflicts": key = tuple(table, key), value = tuple per side (base, ours, theirs) of
 * (present: bool, bytes); for a table-level conflict the key element is null.
 *
 * A merge is in progress while the working state holds merge parents or that table: recorded
 * for resolution, or cut short by a crash between saving the merged tables and committing
 * them. cairn_merge_state() reports it, another merge is refused meanwhile, cairn_commit()
 * finishes it and cairn_merge_abort() goes back to the head commit (a merge starts only from a
 * working state without uncommitted changes, so that is the state from before it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cairn/doc.h"
#include "vc/vc.h"
#include "repo/history.h"
#include "repo/refs.h"
#include "repo/retain.h"
#include "db/tuple.h"
#include "vc/merge_post.h"

#define WORKING_REV "WORKING"

/* ---- catalogs of revisions ---- */

/* The version of a revision (its commit's catalog, or the working state). */
static int version_of(cairn_db *db, const char *rev, version **out)
{
    if (strcmp(rev, WORKING_REV) == 0) return db_working_version(db, out);
    cairn_id id;
    TRY(cairn_resolve(&id, db, rev));
    rootrec rec;
    TRY(repo_fresh_working(&db->r, &id, &rec));
    cairn_id none = { { 0 } };
    TRY(version_load(db, out, &none, &rec));
    (*out)->commit = id;
    return CAIRN_OK;
}

static int version_of_commit(cairn_db *db, const cairn_id *id, version **out)
{
    rootrec rec;
    TRY(repo_fresh_working(&db->r, id, &rec));
    cairn_id none = { { 0 } };
    TRY(version_load(db, out, &none, &rec));
    (*out)->commit = *id;
    return CAIRN_OK;
}

/* ---- diff ---- */

typedef struct diff_ctx {
    const char *table;
    int (*cb)(const cairn_diff_entry *, void *);
    void *payload;
    int kind_override;       /* for whole tables: every entry is ADDED or REMOVED */
    bool stopped;            /* cb's value ended the diff (returned as-is, never reinterpreted) */
} diff_ctx;

static int diff_change(const tree_change *ch, void *payload)
{
    diff_ctx *d = payload;
    cairn_diff_entry e = { d->table, ch->kind, ch->key, ch->klen,
                           ch->has_old ? ch->old : NULL, ch->oldlen,
                           ch->has_new ? ch->new_ : NULL, ch->newlen };
    int rc = d->cb(&e, d->payload);
    d->stopped = rc != 0;
    return rc;
}

/* Reports every entry of a table as added (or removed). */
static int diff_whole(cairn_db *db, const cairn_id *root, bool added, diff_ctx *d)
{
    tree_cursor tc;
    TRY(tc_init(&tc, &db->r.cs, root, 0, false));
    int rc = tc_first(&tc);
    while (rc == CAIRN_OK) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        cairn_diff_entry e = { d->table, added ? CAIRN_DIFF_ADDED : CAIRN_DIFF_REMOVED, k, kl,
                               added ? NULL : v, added ? 0 : vl, added ? v : NULL, added ? vl : 0 };
        rc = d->cb(&e, d->payload);
        d->stopped = rc != 0;
        if (rc == CAIRN_OK) rc = tc_next(&tc);
    }
    tc_dispose(&tc);
    /* the cursor's end (a missing node is CAIRN_ECORRUPT: tree/node.c), unless cb said it */
    return rc == CAIRN_ENOTFOUND && !d->stopped ? CAIRN_OK : rc;
}

/* A table version that retention let go (repo/retain.h) has no chunks to diff: a clear error
 * naming it and when, rather than a missing chunk. CAIRN_OK when v's table is there. */
static int diff_pruned(cairn_db *db, const version *v, const char *name)
{
    if (id_is_zero(&v->commit)) return CAIRN_OK; /* a working state: never let go */
    int64_t when;
    int rc = retain_lookup(&db->r, &v->commit, name, &when);
    if (rc == CAIRN_ENOTFOUND) return CAIRN_OK;
    TRY(rc);
    char hex[CAIRN_ID_HEX_SIZE], day[32] = "?", what[CAIRN_TABLE_NAME_LEN_MAX + 64];
    cairn_id_to_hex(hex, &v->commit);
    time_t t = (time_t)(when / 1000000000LL);
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t plen = strlen(CAIRN_DOC_COLL_PREFIX);
    if (strncmp(name, CAIRN_DOC_COLL_PREFIX, plen) == 0)
        snprintf(what, sizeof what, "collection %s (table %s)", name + plen, name);
    else
        snprintf(what, sizeof what, "table %s", name);
    return ERR(CAIRN_ENOTFOUND, "diff: %s at commit %.12s was removed by retention on %s (its "
               "policy let that version go; the commit itself is kept); diff versions that are "
               "kept ('cairn doc history' lists them)", what, hex, day);
}

/* After a table's diff failed for a missing chunk: whether retention let one of its versions go
 * (then that error replaces the missing chunk's), else rc as it was. Asked only then: gc's mark
 * does not keep the root of a version it let go unless another version kept shares it (and with
 * it the whole tree), so such a diff fails loading a root, before it reports any change; and a
 * diff that finds its chunks owes nobody a read of the retention record (it was a file read per
 * diff, on the path of every small diff). */
static int diff_failed(cairn_db *db, const version *a, const vtable *ta, const version *b,
                       const vtable *tb, const char *name, int rc)
{
    if (rc != CAIRN_ENOTFOUND) return rc;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    int prc = ta ? diff_pruned(db, a, name) : CAIRN_OK;
    if (prc == CAIRN_OK && tb) prc = diff_pruned(db, b, name);
    if (prc == CAIRN_OK) return ERR(rc, "%s", msg); /* not retention's doing */
    return prc;
}

/* Whether name is one of the tables a collection's changes are in (CAIRN_DOC_DIFF_ALL): its
 * documents, its index catalog, its retention policy. */
static bool coll_table(const char *name)
{
    static const char *const prefix[] = { CAIRN_DOC_COLL_PREFIX, CAIRN_DOC_CATALOG_PREFIX,
                                          CAIRN_DOC_RETENTION_PREFIX };
    for (size_t i = 0; i < sizeof prefix / sizeof *prefix; i++)
        if (strncmp(name, prefix[i], strlen(prefix[i])) == 0) return true;
    return false;
}

/* colls: with every user table (only NULL), the collections' tables too (coll_table()). */
static int diff_versions(cairn_db *db, const version *a, const version *b, const char *only,
                         bool colls, int (*cb)(const cairn_diff_entry *, void *), void *payload)
{
    size_t i = 0, j = 0;
    int rc = CAIRN_OK;
    bool seen = only == NULL;
    while (rc == CAIRN_OK && (i < a->n || j < b->n)) {
        int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->t[i].name, b->t[j].name);
        const vtable *ta = c <= 0 ? &a->t[i] : NULL, *tb = c >= 0 ? &b->t[j] : NULL;
        const char *name = ta ? ta->name : tb->name;
        if (only ? strcmp(name, only) == 0
                 : !table_name_internal(name) || (colls && coll_table(name))) {
            seen = true;
            diff_ctx d = { name, cb, payload, 0, false };
            /* equal roots: nothing to read (also when both sides were let go) */
            bool same = ta && tb && memcmp(ta->d.root.bytes, tb->d.root.bytes, CAIRN_ID_SIZE) == 0;
            if (ta && tb && !same)
                rc = tree_diff(&db->r.cs, &ta->d.root, &tb->d.root, NULL, 0, NULL, 0,
                               diff_change, &d);
            else if (!same)
                rc = diff_whole(db, ta ? &ta->d.root : &tb->d.root, tb != NULL, &d);
            if (rc < 0 && !d.stopped) rc = diff_failed(db, a, ta, b, tb, name, rc);
        }
        if (c <= 0) i++;
        if (c >= 0) j++;
    }
    if (rc == CAIRN_OK && !seen)
        rc = ERR(CAIRN_ENOTFOUND, "table '%s' is in neither version", only);
    return rc;
}

int cairn_diff(cairn_db *db, const char *rev1, const char *rev2, const char *table,
               int (*cb)(const cairn_diff_entry *, void *), void *payload)
{
    version *a = NULL, *b = NULL;
    int rc = version_of(db, rev1, &a);
    if (rc == CAIRN_OK) rc = version_of(db, rev2, &b);
    bool colls = table && strcmp(table, CAIRN_DOC_DIFF_ALL) == 0;
    if (rc == CAIRN_OK) rc = diff_versions(db, a, b, colls ? NULL : table, colls, cb, payload);
    version_release(a);
    version_release(b);
    return rc;
}

/* ---- conflict records ---- */

static int append_side(cairn_buf *b, bool has, const void *v, size_t n)
{
    TRY(tuple_append_bool(b, has));
    return has ? tuple_append_bytes(b, v, n) : tuple_append_null(b, 0);
}

static int conflict_key(cairn_buf *k, const char *table, const void *key, size_t klen)
{
    k->len = 0;
    TRY(tuple_append_string(k, table, strlen(table)));
    return key ? tuple_append_bytes(k, key, klen) : tuple_append_null(k, 0);
}

static int conflict_value(cairn_buf *v, const cairn_conflict *c)
{
    v->len = 0;
    TRY(append_side(v, c->has_base, c->base, c->base_len));
    TRY(append_side(v, c->has_ours, c->ours, c->ours_len));
    return append_side(v, c->has_theirs, c->theirs, c->theirs_len);
}

/* ---- merging ---- */

typedef struct conflict_list {
    cairn_buf keys, vals;    /* encoded records, appended */
    size_t *key_end, *val_end;
    size_t n, cap;
} conflict_list;

typedef struct merge_ctx {
    cairn_db *db;
    int strategy;            /* enum cairn_merge_strategy */
    int (*on_conflict)(const cairn_conflict *, void *);
    void *payload;
    const char *table;       /* the table being merged, for reports */
    size_t conflicts;
    conflict_list *record;   /* RECORD: where conflicts are collected */
    int stop;                /* on_conflict's non-zero return, returned as-is */
} merge_ctx;

static int record_conflict(conflict_list *l, const cairn_conflict *c)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        size_t *ke = cairn_realloc(l->key_end, ncap * sizeof *ke);
        if (!ke) return ERR(CAIRN_ENOMEM, "out of memory recording conflicts");
        l->key_end = ke;
        size_t *ve = cairn_realloc(l->val_end, ncap * sizeof *ve);
        if (!ve) return ERR(CAIRN_ENOMEM, "out of memory recording conflicts");
        l->val_end = ve;
        l->cap = ncap;
    }
    cairn_buf k = CAIRN_BUF_INIT, v = CAIRN_BUF_INIT;
    int rc = conflict_key(&k, c->table, c->key, c->klen);
    if (rc == CAIRN_OK) rc = conflict_value(&v, c);
    if (rc == CAIRN_OK) rc = cairn_buf_append(&l->keys, k.data, k.len);
    if (rc == CAIRN_OK) rc = cairn_buf_append(&l->vals, v.data, v.len);
    if (rc == CAIRN_OK) {
        l->key_end[l->n] = l->keys.len;
        l->val_end[l->n++] = l->vals.len;
    }
    cairn_buf_dispose(&k);
    cairn_buf_dispose(&v);
    return rc;
}

static int report_conflict(merge_ctx *m, const cairn_conflict *c)
{
    m->conflicts++;
    if (m->on_conflict) {
        /* on_conflict runs holding the writer gate: mark the thread so that a write from it
         * fails (CAIRN_EBUSY) instead of deadlocking */
        const void *prev = cairn_cb_enter(m->db);
        int rc = m->on_conflict(c, m->payload);
        cairn_cb_leave(prev);
        if (rc != 0) {
            m->stop = rc; /* the merge code stops on negatives only: return rc as it was */
            return CAIRN_EUSER;
        }
    }
    return m->record ? record_conflict(m->record, c) : CAIRN_OK;
}

static int key_conflict(const tree_conflict *tc, void *payload)
{
    merge_ctx *m = payload;
    cairn_conflict c = { m->table, tc->key, tc->klen, tc->has_base, tc->base, tc->baselen,
                         tc->has_ours, tc->ours, tc->ourslen, tc->has_theirs, tc->theirs,
                         tc->theirslen };
    return report_conflict(m, &c);
}

static bool same_root(const vtable *a, const vtable *b)
{
    if (!a || !b) return a == b;
    return memcmp(a->d.root.bytes, b->d.root.bytes, CAIRN_ID_SIZE) == 0;
}

/* Merges one table; *out is its resulting root, *out_present whether it exists. */
static int merge_table(merge_ctx *m, const char *name, const vtable *b, const vtable *o,
                       const vtable *t, cairn_id *out, bool *out_present)
{
    /* decided: one side's table (or its absence: pick NULL) is the result */
    const vtable *pick = NULL;
    bool decided = true;
    if (same_root(o, t)) pick = o;      /* the same on both sides (both dropped: absent) */
    else if (same_root(b, o)) pick = t; /* only theirs changed it (or added or dropped it) */
    else if (same_root(b, t)) pick = o; /* only ours did */
    else decided = false;
    if (decided) {
        *out_present = pick != NULL;
        if (pick) *out = pick->d.root;
        return CAIRN_OK;
    }
    if (o && t) {
        cairn_id base_root;
        if (b) base_root = b->d.root;
        else TRY(tree_empty(&m->db->r.cs, &base_root)); /* added on both sides */
        m->table = name;
        size_t n;
        int strategy = m->strategy == CAIRN_MERGE_THEIRS ? MERGE_THEIRS
                       : m->strategy == CAIRN_MERGE_FAIL ? MERGE_FAIL
                                                         : MERGE_OURS;
        /* a text index of posting blocks is merged pair by pair; one rebuilt in the other form
         * on one side only cannot be merged with it */
        int fo = POST_FORM_PAIRS, ft = POST_FORM_PAIRS;
        if (merge_post_named(name)) {
            TRY(merge_post_form(&fo, &m->db->r.cs, &o->d.root));
            TRY(merge_post_form(&ft, &m->db->r.cs, &t->d.root));
        }
        bool blocks = fo == POST_FORM_BLOCKS || ft == POST_FORM_BLOCKS;
        bool pairs = fo == POST_FORM_PAIRS || ft == POST_FORM_PAIRS;
        *out_present = true;
        if (blocks && !pairs)
            return merge_post(&m->db->r.cs, out, &base_root, &o->d.root, &t->d.root, name);
        if (blocks) { /* a conflict about the whole table */
            cairn_conflict c = { name, NULL, 0, b != NULL, NULL, 0, true, NULL, 0, true, NULL, 0 };
            TRY(report_conflict(m, &c));
            *out = m->strategy == CAIRN_MERGE_THEIRS ? t->d.root : o->d.root;
            return CAIRN_OK;
        }
        int rc = tree_merge(&m->db->r.cs, out, &base_root, &o->d.root, &t->d.root, strategy,
                            key_conflict, m, &n);
        if (rc == CAIRN_ECONFLICT && m->strategy == CAIRN_MERGE_FAIL) { /* go on: report all */
            *out = o->d.root;
            rc = CAIRN_OK;
        }
        *out_present = true;
        return rc;
    }
    /* dropped on one side, changed on the other: a conflict about the whole table */
    cairn_conflict c = { name, NULL, 0, b != NULL, NULL, 0, o != NULL, NULL, 0, t != NULL, NULL, 0 };
    TRY(report_conflict(m, &c));
    pick = m->strategy == CAIRN_MERGE_THEIRS ? t : o;
    *out_present = pick != NULL;
    if (pick) *out = pick->d.root;
    return CAIRN_OK;
}

/* Three-way merge of catalogs into *out_catalog. */
static int merge_catalogs(merge_ctx *m, const version *b, const version *o, const version *t,
                          cairn_id *out_catalog)
{
    tree_edit *edits = cairn_calloc(o->n + t->n + 1, sizeof *edits);
    cairn_buf *descs = cairn_calloc(o->n + t->n + 1, sizeof *descs);
    size_t ne = 0, ib = 0, io = 0, it = 0;
    int rc = edits && descs ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory merging");
    while (rc == CAIRN_OK && (io < o->n || it < t->n || ib < b->n)) {
        const char *name = NULL;
        if (ib < b->n) name = b->t[ib].name;
        if (io < o->n && (!name || strcmp(o->t[io].name, name) < 0)) name = o->t[io].name;
        if (it < t->n && (!name || strcmp(t->t[it].name, name) < 0)) name = t->t[it].name;
        const vtable *vb = ib < b->n && strcmp(b->t[ib].name, name) == 0 ? &b->t[ib++] : NULL;
        const vtable *vo = io < o->n && strcmp(o->t[io].name, name) == 0 ? &o->t[io++] : NULL;
        const vtable *vt = it < t->n && strcmp(t->t[it].name, name) == 0 ? &t->t[it++] : NULL;
        cairn_id root = { { 0 } };
        bool present = false;
        rc = merge_table(m, name, vb, vo, vt, &root, &present);
        bool as_ours = present ? vo && memcmp(vo->d.root.bytes, root.bytes, CAIRN_ID_SIZE) == 0 : !vo;
        if (rc < 0 || as_ours) continue; /* ours already has it */
        tree_edit *e = &edits[ne];
        e->key = (const uint8_t *)(vo ? vo->name : vt ? vt->name : vb->name);
        e->klen = (uint32_t)strlen((const char *)e->key);
        e->op = present ? EDIT_PUT : EDIT_DEL;
        if (present) {
            tabledesc d = { TABLE_KIND_KV, root };
            rc = tabledesc_encode(&descs[ne], &d);
            e->val = descs[ne].data;
            e->vlen = (uint32_t)descs[ne].len;
        }
        ne++;
    }
    if (rc == CAIRN_OK) rc = tree_apply(&m->db->r.cs, out_catalog, &o->rec.catalog, edits, ne);
    for (size_t i = 0; descs && i < ne; i++) cairn_buf_dispose(&descs[i]);
    free(descs);
    free(edits);
    return rc;
}

/* The catalog to use as the merge base of commits a and b: the catalog of their only merge
 * base, the merge of their merge bases (criss-cross), or the empty catalog (unrelated). */
static int base_catalog(cairn_db *db, const cairn_id *a, const cairn_id *b, version **out, int depth)
{
    cairn_id *bases = NULL;
    size_t n = 0;
    TRY(history_merge_bases(&db->r, a, b, &bases, &n));
    int rc = CAIRN_OK;
    if (n == 0) {
        rootrec rec;
        rc = repo_fresh_working(&db->r, NULL, &rec);
        cairn_id none = { { 0 } };
        if (rc == CAIRN_OK) rc = version_load(db, out, &none, &rec);
    } else if (n == 1 || depth > 8) {
        rc = version_of_commit(db, &bases[0], out);
    } else { /* fold: acc = merge(acc, next) over their own bases, ours-wins for determinism */
        rc = version_of_commit(db, &bases[0], out);
        for (size_t i = 1; rc == CAIRN_OK && i < n; i++) {
            version *vb = NULL, *vi = NULL;
            rc = base_catalog(db, &bases[0], &bases[i], &vb, depth + 1);
            if (rc == CAIRN_OK) rc = version_of_commit(db, &bases[i], &vi);
            merge_ctx m = { db, CAIRN_MERGE_OURS, NULL, NULL, NULL, 0, NULL, 0 };
            rootrec rec = (*out)->rec;
            if (rc == CAIRN_OK) rc = merge_catalogs(&m, vb, *out, vi, &rec.catalog);
            version *nv = NULL;
            cairn_id none = { { 0 } };
            if (rc == CAIRN_OK) rc = version_load(db, &nv, &none, &rec);
            if (rc == CAIRN_OK) {
                version_release(*out);
                *out = nv;
            }
            version_release(vb);
            version_release(vi);
        }
    }
    free(bases);
    return rc;
}

/* Writes the recorded conflicts as the table cairn_conflicts into the catalog. */
static int add_conflicts_table(cairn_db *db, cairn_id *catalog, conflict_list *l)
{
    tree_edit *e = cairn_calloc(l->n ? l->n : 1, sizeof *e);
    FAIL_IF(!e, CAIRN_ENOMEM, "out of memory recording conflicts");
    for (size_t i = 0; i < l->n; i++) {
        size_t k0 = i ? l->key_end[i - 1] : 0, v0 = i ? l->val_end[i - 1] : 0;
        e[i] = (tree_edit){ l->keys.data + k0, l->vals.data + v0, (uint32_t)(l->key_end[i] - k0),
                            (uint32_t)(l->val_end[i] - v0), EDIT_PUT };
    }
    /* records are in table order, keys in order within a table: sorted by tuple encoding */
    cairn_id empty, root = { { 0 } };
    int rc = tree_empty(&db->r.cs, &empty);
    if (rc == CAIRN_OK) rc = tree_apply(&db->r.cs, &root, &empty, e, l->n);
    free(e);
    tabledesc d = { TABLE_KIND_KV, root };
    cairn_buf desc = CAIRN_BUF_INIT;
    if (rc == CAIRN_OK) rc = tabledesc_encode(&desc, &d);
    tree_edit put = { (const uint8_t *)CONFLICTS_TABLE, desc.data, (uint32_t)strlen(CONFLICTS_TABLE),
                      (uint32_t)desc.len, EDIT_PUT };
    if (rc == CAIRN_OK) rc = tree_apply(&db->r.cs, catalog, catalog, &put, 1);
    cairn_buf_dispose(&desc);
    return rc;
}

/* Moves the branch (or detached HEAD) to target and makes target's catalog the working state. */
static int fast_forward(cairn_db *db, version *cur, const cairn_id *target, const char *why)
{
    if (db->r.detached) {
        TRY(cs_flush(&db->r.cs));
        TRY(refs_set_head(&db->r, NULL, target));
        db->r.detached_at = *target;
    } else {
        char ref[BRANCH_MAX + 8];
        snprintf(ref, sizeof ref, "heads/%s", db->r.branch);
        cairn_id entry;
        int rc = refs_read(&db->r, ref, &entry, NULL);
        if (rc == CAIRN_ENOTFOUND) TRY(refs_move(&db->r, NULL, ref, NULL, target, why));
        else {
            TRY(rc);
            TRY(refs_move(&db->r, NULL, ref, &entry, target, why));
        }
    }
    rootrec rec;
    TRY(repo_fresh_working(&db->r, target, &rec));
    rec.wal_seq = cur->rec.wal_seq;
    return db_publish(db, cur, &rec);
}

static int merge_in_progress(cairn_db *db, const version *v);

static int do_merge(cairn_merge_result *res, cairn_db *db, const char *rev, merge_ctx *m)
{
    version *cur = db_current(db), *vb = NULL, *vt = NULL;
    cairn_id theirs, ours = cur->rec.base_commit;
    conflict_list rec_list = { 0 };
    bool dirty = false;
    int rc = merge_in_progress(db, cur);
    if (rc == CAIRN_OK) rc = history_resolve(&db->r, rev, &theirs);
    bool theirs_in_ours = false, ours_in_theirs = false;
    if (rc == CAIRN_OK && !id_is_zero(&ours)) rc = history_is_ancestor(&db->r, &theirs, &ours, &theirs_in_ours);
    if (rc == CAIRN_OK && theirs_in_ours) {
        res->up_to_date = 1;
        res->commit = ours;
        goto out;
    }
    if (rc == CAIRN_OK) {
        rootrec clean;
        rc = repo_fresh_working(&db->r, &ours, &clean);
        dirty = rc == CAIRN_OK &&
                (cur->rec.nmerge > 0 || memcmp(clean.catalog.bytes, cur->rec.catalog.bytes, 32) != 0);
        if (dirty)
            rc = ERR(CAIRN_ECONFLICT, "the working state of '%s' has uncommitted changes; commit "
                                      "them before merging",
                     db->r.branch);
    }
    if (rc == CAIRN_OK) {
        if (id_is_zero(&ours)) ours_in_theirs = true;
        else rc = history_is_ancestor(&db->r, &ours, &theirs, &ours_in_theirs);
    }
    char why[BRANCH_MAX + 80];
    snprintf(why, sizeof why, "merge %s: fast-forward", rev);
    if (rc == CAIRN_OK && ours_in_theirs) {
        rc = fast_forward(db, cur, &theirs, why);
        res->fast_forward = 1;
        res->commit = theirs;
        goto out;
    }
    if (rc == CAIRN_OK) rc = base_catalog(db, &ours, &theirs, &vb, 0);
    if (rc == CAIRN_OK) rc = version_of_commit(db, &theirs, &vt);
    if (rc == CAIRN_OK && m->strategy == CAIRN_MERGE_RECORD) m->record = &rec_list;
    rootrec next = cur->rec;
    if (rc == CAIRN_OK) rc = merge_catalogs(m, vb, cur, vt, &next.catalog);
    res->conflicts = m->conflicts;
    if (rc == CAIRN_OK && m->conflicts && m->strategy == CAIRN_MERGE_FAIL)
        rc = ERR(CAIRN_ECONFLICT, "merging %s: %zu conflict(s) (keys or tables changed "
                                  "differently on both sides); nothing was changed; merge with "
                                  "strategy ours, theirs or record",
                 rev, m->conflicts);
    if (rc == CAIRN_OK && m->conflicts && m->strategy == CAIRN_MERGE_RECORD) {
        rc = add_conflicts_table(db, &next.catalog, &rec_list);
        next.nmerge = 1;
        next.merge[0] = theirs;
        if (rc == CAIRN_OK) rc = db_publish(db, cur, &next);
        goto out;
    }
    if (rc == CAIRN_OK) { /* a merge commit */
        next.nmerge = 1;
        next.merge[0] = theirs;
        rc = db_publish(db, cur, &next);
        char msg[BRANCH_MAX + 80];
        snprintf(msg, sizeof msg, "merge %s into %s", rev, db->r.branch);
        cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
        co.message = msg;
        co.flags = CAIRN_COMMIT_ALLOW_EMPTY;
        if (rc == CAIRN_OK) rc = vc_commit_locked(db, &co, &res->commit);
    }
out:
    free(rec_list.key_end);
    free(rec_list.val_end);
    cairn_buf_dispose(&rec_list.keys);
    cairn_buf_dispose(&rec_list.vals);
    version_release(vb);
    version_release(vt);
    version_release(cur);
    return rc;
}

int cairn_merge(cairn_merge_result *out, cairn_db *db, const char *rev,
                cairn_merge_strategy strategy,
                int (*on_conflict)(const cairn_conflict *, void *), void *payload)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    FAIL_IF((int)strategy < CAIRN_MERGE_FAIL || (int)strategy > CAIRN_MERGE_RECORD, CAIRN_EINVAL,
            "unknown merge strategy %d", strategy);
    cairn_merge_result res;
    memset(&res, 0, sizeof res);
    merge_ctx m = { db, strategy, on_conflict, payload, NULL, 0, NULL, 0 };
    int rc = db_exclusive_begin(db);
    if (rc == CAIRN_OK) {
        rc = do_merge(&res, db, rev, &m);
        db_exclusive_end(db);
    }
    if (m.stop) return m.stop; /* on_conflict's own value and message, untouched */
    if (out && (rc == CAIRN_OK || rc == CAIRN_ECONFLICT)) *out = res; /* conflicts counted */
    return rc;
}

/* ---- recorded conflicts ---- */

/* Reads one side (bool, bytes|null) from a tuple reader; data copied into buf. */
static int read_side(tuple_reader *r, int *has, cairn_buf *buf)
{
    cairn_tuple_item it;
    int rc = tuple_reader_next(r, &it);
    FAIL_IF(rc != 1 || it.type != CAIRN_TUPLE_BOOL, CAIRN_ECORRUPT, "a conflict record is malformed");
    *has = it.b;
    rc = tuple_reader_next(r, &it);
    FAIL_IF(rc != 1, CAIRN_ECORRUPT, "a conflict record is malformed");
    if (it.type == CAIRN_TUPLE_BYTES) return cairn_buf_set(buf, it.data, it.len);
    FAIL_IF(it.type != CAIRN_TUPLE_NULL, CAIRN_ECORRUPT, "a conflict record is malformed");
    buf->len = 0;
    return CAIRN_OK;
}

static int decode_conflict(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                           cairn_conflict *c, cairn_buf bufs[5])
{
    tuple_reader r;
    cairn_tuple_item it;
    tuple_reader_init(&r, k, kl);
    int rc = tuple_reader_next(&r, &it) == 1 && it.type == CAIRN_TUPLE_STRING
                 ? cairn_buf_set(&bufs[0], it.data, it.len)
                 : CORRUPT("a conflict record is malformed");
    if (rc == CAIRN_OK) rc = cairn_buf_append(&bufs[0], "", 1); /* NUL-terminate the name */
    bool has_key = false;
    if (rc == CAIRN_OK && tuple_reader_next(&r, &it) == 1) {
        has_key = it.type == CAIRN_TUPLE_BYTES;
        if (has_key) rc = cairn_buf_set(&bufs[1], it.data, it.len);
    }
    tuple_reader_dispose(&r);
    tuple_reader_init(&r, v, vl);
    if (rc == CAIRN_OK) rc = read_side(&r, &c->has_base, &bufs[2]);
    if (rc == CAIRN_OK) rc = read_side(&r, &c->has_ours, &bufs[3]);
    if (rc == CAIRN_OK) rc = read_side(&r, &c->has_theirs, &bufs[4]);
    tuple_reader_dispose(&r);
    c->table = (const char *)bufs[0].data;
    c->key = has_key ? bufs[1].data : NULL;
    c->klen = has_key ? bufs[1].len : 0;
    c->base = bufs[2].data;
    c->base_len = bufs[2].len;
    c->ours = bufs[3].data;
    c->ours_len = bufs[3].len;
    c->theirs = bufs[4].data;
    c->theirs_len = bufs[4].len;
    return rc;
}

int cairn_conflicts(cairn_db *db, int (*cb)(const cairn_conflict *, void *), void *payload)
{
    version *v;
    TRY(db_working_version(db, &v));
    const vtable *ct = version_find(v, CONFLICTS_TABLE);
    int rc = CAIRN_OK, stop = 0;
    cairn_buf bufs[5] = { CAIRN_BUF_INIT, CAIRN_BUF_INIT, CAIRN_BUF_INIT, CAIRN_BUF_INIT,
                          CAIRN_BUF_INIT };
    if (ct) {
        tree_cursor tc;
        rc = tc_init(&tc, &db->r.cs, &ct->d.root, 0, false);
        if (rc == CAIRN_OK) rc = tc_first(&tc);
        while (rc == CAIRN_OK) {
            const uint8_t *k, *val;
            size_t kl, vl;
            tc_entry(&tc, &k, &kl, &val, &vl);
            cairn_conflict c;
            rc = decode_conflict(k, kl, val, vl, &c, bufs);
            if (rc == CAIRN_OK && (stop = cb(&c, payload)) != 0) break;
            if (rc == CAIRN_OK) rc = tc_next(&tc);
        }
        if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK; /* the cursor's end, not cb's value */
        if (stop) rc = stop;                       /* cb's value as it returned it */
        tc_dispose(&tc);
    }
    for (int i = 0; i < 5; i++) cairn_buf_dispose(&bufs[i]);
    version_release(v);
    return rc;
}

int cairn_conflict_resolve(cairn_db *db, const char *table, const void *key, size_t klen,
                           const void *val, size_t vlen)
{
    cairn_buf ck = CAIRN_BUF_INIT;
    TRY(conflict_key(&ck, table, key, klen));
    cairn_table *t = NULL, *ct = NULL;
    cairn_batch *b = NULL;
    uint64_t present = 0;
    int rc = cairn_table_open(&ct, db, CONFLICTS_TABLE, CAIRN_TABLE_INTERNAL);
    if (rc == CAIRN_ENOTFOUND) rc = ERR(CAIRN_ENOTFOUND, "no merge conflicts are recorded");
    if (rc == CAIRN_OK) {
        void *tmp;
        size_t tl;
        rc = cairn_get(&tmp, &tl, ct, NULL, ck.data, ck.len);
        if (rc == CAIRN_OK) {
            cairn_free(tmp);
            present = 1;
        } else if (rc == CAIRN_ENOTFOUND) {
            rc = ERR(CAIRN_ENOTFOUND, "no recorded conflict for that key of table '%s'", table);
        }
    }
    if (rc == CAIRN_OK && key) rc = cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER);
    if (rc == CAIRN_OK) rc = cairn_batch_new(&b, db);
    if (rc == CAIRN_OK) rc = cairn_batch_delete(b, ct, ck.data, ck.len);
    if (rc == CAIRN_OK && key)
        rc = val ? cairn_batch_put(b, t, key, klen, val, vlen) : cairn_batch_delete(b, t, key, klen);
    if (rc == CAIRN_OK && present) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    cairn_table_close(ct);
    cairn_buf_dispose(&ck);
    return rc;
}

/* ---- a merge in progress ---- */

/* The state of the merge in version v (a working state). */
static int state_of(cairn_merge_progress *out, cairn_db *db, const version *v)
{
    memset(out, 0, sizeof *out);
    const vtable *ct = version_find(v, CONFLICTS_TABLE);
    out->in_progress = v->rec.nmerge > 0 || ct != NULL;
    if (v->rec.nmerge > 0) out->merging = v->rec.merge[0];
    out->recorded = ct != NULL;
    if (ct) TRY(tree_rank(&db->r.cs, &ct->d.root, NULL, 0, &out->conflicts));
    return CAIRN_OK;
}

/* CAIRN_ECONFLICT saying how to finish or abort the merge in progress in v, if there is one. */
static int merge_in_progress(cairn_db *db, const version *v)
{
    cairn_merge_progress st;
    TRY(state_of(&st, db, v));
    if (!st.in_progress) return CAIRN_OK;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &st.merging);
    if (st.conflicts)
        return ERR(CAIRN_ECONFLICT, "a merge of %.12s is in progress on '%s' with %llu conflict(s) "
                   "to resolve (cairn conflicts, cairn resolve); finish it with 'cairn commit', "
                   "or abort it with 'cairn merge --abort'", hex, db->r.branch,
                   (unsigned long long)st.conflicts);
    return ERR(CAIRN_ECONFLICT, "a merge of %.12s is in progress on '%s'; finish it with 'cairn "
               "commit', or abort it with 'cairn merge --abort'", hex, db->r.branch);
}

int cairn_merge_state(cairn_merge_progress *out, cairn_db *db)
{
    version *v;
    TRY(db_working_version(db, &v));
    int rc = state_of(out, db, v);
    version_release(v);
    return rc;
}

int cairn_merge_abort(cairn_db *db)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    TRY(db_exclusive_begin(db)); /* the log's writes into the trees: they are dropped too */
    version *cur = db_current(db);
    cairn_merge_progress st;
    int rc = state_of(&st, db, cur);
    if (rc == CAIRN_OK && !st.in_progress)
        rc = ERR(CAIRN_ENOTFOUND, "no merge is in progress on '%s'", db->r.branch);
    rootrec rec;
    if (rc == CAIRN_OK) rc = repo_fresh_working(&db->r, &cur->rec.base_commit, &rec);
    if (rc == CAIRN_OK) {
        rec.wal_seq = cur->rec.wal_seq;
        rc = db_publish(db, cur, &rec);
    }
    version_release(cur);
    db_exclusive_end(db);
    return rc;
}
