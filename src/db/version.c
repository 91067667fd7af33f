/*
 * version.c - the bottom of the db layer: immutable versions (a catalog root and its decoded
 * table list) with their reference counts, the list of versions alive in this process (what gc
 * keeps, and what a reader's pin file names), the current version, table ids, and applying
 * catalog changes to a version. It calls nothing else in src/db: db.c, view.c, read.c,
 * working.c and batch.c build on it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "repo/commit.h"
#include "store/store.h"

void version_release(version *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) return;
    if (v->listed) {
        cairn_db *db = v->db;
        pthread_mutex_lock(&db->livemu);
        if (v->live_prev) v->live_prev->live_next = v->live_next;
        else db->live = v->live_next;
        if (v->live_next) v->live_next->live_prev = v->live_prev;
        pthread_mutex_unlock(&db->livemu);
        db_pins_publish(db);
    }
    for (size_t i = 0; i < v->n; i++) free(v->t[i].name);
    free(v->t);
    free(v);
}

version *db_current(cairn_db *db)
{
    pthread_mutex_lock(&db->vmu);
    version *v = db->cur;
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&db->vmu);
    return v;
}

const vtable *version_find(const version *v, const char *name)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v->t[mid].name, name);
        if (c == 0) return &v->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int version_table(const vtable **out, const version *v, const cairn_table *t)
{
    const vtable *vt = version_find(v, t->name);
    FAIL_IF(!vt, CAIRN_ENOTFOUND, "table '%s' does not exist in this version of %s", t->name,
            t->db->r.url);
    *out = vt;
    return CAIRN_OK;
}

/* Reads the catalog of a root record into a new version. */
int version_load(cairn_db *db, version **out, const cairn_id *rec_id, const rootrec *rec)
{
    version *v = cairn_calloc(1, sizeof *v);
    if (!v) return ERR(CAIRN_ENOMEM, "out of memory loading the catalog");
    atomic_init(&v->refs, 1);
    v->rec_id = *rec_id;
    v->rec = *rec;
    tree_cursor tc;
    int rc = tc_init(&tc, &db->r.cs, &rec->catalog, 0, false);
    size_t cap = 0;
    if (rc == CAIRN_OK) {
        rc = tc_first(&tc);
        while (rc == CAIRN_OK) {
            const uint8_t *k, *val;
            size_t kl, vl;
            tc_entry(&tc, &k, &kl, &val, &vl);
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                vtable *nt = cairn_realloc(v->t, cap * sizeof *nt);
                if (!nt) {
                    rc = ERR(CAIRN_ENOMEM, "out of memory loading the catalog");
                    break;
                }
                v->t = nt;
            }
            vtable *e = &v->t[v->n];
            if ((rc = tabledesc_decode(&e->d, val, vl)) < 0) {
                rc = cairn_error_prefix(rc, "catalog entry '%.*s'", (int)kl, (const char *)k);
                break;
            }
            if (!(e->name = cairn_strndup((const char *)k, kl))) {
                rc = ERR(CAIRN_ENOMEM, "out of memory loading the catalog");
                break;
            }
            v->n++;
            rc = tc_next(&tc);
        }
        if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
        tc_dispose(&tc);
    }
    if (rc < 0) {
        version_release(v);
        return rc;
    }
    v->db = db;
    pthread_mutex_lock(&db->livemu);
    v->live_next = db->live;
    if (db->live) db->live->live_prev = v;
    db->live = v;
    v->listed = true;
    pthread_mutex_unlock(&db->livemu);
    db_pins_publish(db);
    *out = v;
    return CAIRN_OK;
}

int db_live_catalogs(cairn_db *db, cairn_id **out, size_t *out_n)
{
    pthread_mutex_lock(&db->livemu);
    size_t n = 0;
    for (version *v = db->live; v; v = v->live_next) n++;
    cairn_id *ids = cairn_malloc((n ? n : 1) * sizeof *ids);
    if (ids) {
        n = 0;
        for (version *v = db->live; v; v = v->live_next) ids[n++] = v->rec.catalog;
    }
    pthread_mutex_unlock(&db->livemu);
    FAIL_IF(!ids, CAIRN_ENOMEM, "out of memory listing the versions in use");
    *out = ids;
    *out_n = n;
    return CAIRN_OK;
}

/* ---- table ids ---- */

int db_table_id(cairn_db *db, const char *name, uint32_t *out)
{
    working *w = &db->w;
    pthread_mutex_lock(&w->idmu);
    size_t lo = 0, hi = w->nnames;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(w->names[w->order[mid] - 1], name);
        if (c == 0) {
            *out = w->order[mid];
            pthread_mutex_unlock(&w->idmu);
            return CAIRN_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    int rc = CAIRN_OK;
    if (w->nnames == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        char **nn = cairn_realloc(w->names, cap * sizeof *nn);
        if (nn) w->names = nn;
        uint32_t *no = nn ? cairn_realloc(w->order, cap * sizeof *no) : NULL;
        if (no) {
            w->order = no;
            w->cap = cap;
        } else {
            rc = ERR(CAIRN_ENOMEM, "out of memory naming table '%s'", name);
        }
    }
    char *copy = rc == CAIRN_OK ? cairn_strdup(name) : NULL;
    if (rc == CAIRN_OK && !copy) rc = ERR(CAIRN_ENOMEM, "out of memory naming table '%s'", name);
    if (rc == CAIRN_OK) {
        w->names[w->nnames] = copy;
        memmove(&w->order[lo + 1], &w->order[lo], (w->nnames - lo) * sizeof *w->order);
        w->order[lo] = (uint32_t)++w->nnames;
        *out = (uint32_t)w->nnames;
    }
    pthread_mutex_unlock(&w->idmu);
    return rc;
}

const char *db_table_name(cairn_db *db, uint32_t id)
{
    pthread_mutex_lock(&db->w.idmu);
    const char *name = id >= 1 && id <= db->w.nnames ? db->w.names[id - 1] : NULL;
    pthread_mutex_unlock(&db->w.idmu);
    return name;
}

/* ---- limits ---- */

int kv_check_sizes(const cairn_table *t, size_t klen, const size_t *vlen)
{
    FAIL_IF(klen > CAIRN_KEY_LEN_MAX, CAIRN_EINVAL,
            "table '%s': key of %zu bytes is over the %u byte limit", t->name, klen,
            CAIRN_KEY_LEN_MAX);
    FAIL_IF(vlen && *vlen > CAIRN_VALUE_LEN_MAX, CAIRN_EINVAL,
            "table '%s': value of %zu bytes is over the %u byte limit", t->name, *vlen,
            CAIRN_VALUE_LEN_MAX);
    return CAIRN_OK;
}

/* ---- reader pins ---- */

/* A reader's pins follow the versions it has loaded. A failure only costs the protection: the
 * reader may then find chunks gone after a gc (CAIRN_ENOTFOUND, never wrong data). */
void db_pins_publish(cairn_db *db)
{
    if (!db->pins) return;
    cairn_id *ids = NULL;
    size_t n = 0;
    pthread_mutex_lock(&db->pinmu);
    int rc = db_live_catalogs(db, &ids, &n);
    if (rc == CAIRN_OK) {
        rc = pins_set(db->pins, ids, n);
        free(ids);
    }
    pthread_mutex_unlock(&db->pinmu);
    if (rc < 0) {
        cairn_diag(CAIRN_LOG_WARN, "%s; a gc in the writer may remove what this reader reads",
                   cairn_error_last()->message);
        cairn_error_clear();
    }
}

/* ---- the current version and catalog changes ---- */

static int change_cmp(const void *a, const void *b)
{
    return strcmp(((const table_change *)a)->name, ((const table_change *)b)->name);
}

void db_set_current(cairn_db *db, version *nv)
{
    pthread_mutex_lock(&db->vmu);
    version *old = db->cur;
    db->cur = nv;
    pthread_mutex_unlock(&db->vmu);
    version_release(old);
}

int db_catalog_apply(cairn_db *db, const version *base, table_change *changes, size_t n,
                     rootrec *rec)
{
    qsort(changes, n, sizeof *changes, change_cmp);
    tree_edit *edits = cairn_calloc(n ? n : 1, sizeof *edits);
    cairn_buf *descs = cairn_calloc(n ? n : 1, sizeof *descs);
    int rc = edits && descs ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory applying catalog changes");
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        edits[i].key = (const uint8_t *)changes[i].name;
        edits[i].klen = (uint32_t)strlen(changes[i].name);
        edits[i].op = changes[i].drop ? EDIT_DEL : EDIT_PUT;
        if (!changes[i].drop) {
            tabledesc d = { TABLE_KIND_KV, changes[i].root };
            rc = tabledesc_encode(&descs[i], &d);
            edits[i].val = descs[i].data;
            edits[i].vlen = (uint32_t)descs[i].len;
        }
    }
    *rec = base->rec;
    if (rc == CAIRN_OK) rc = tree_apply(&db->r.cs, &rec->catalog, &base->rec.catalog, edits, n);
    for (size_t i = 0; descs && i < n; i++) cairn_buf_dispose(&descs[i]);
    free(descs);
    free(edits);
    return rc;
}
