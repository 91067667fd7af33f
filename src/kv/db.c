/*
 * db.c - opening and closing a repository handle, versions and snapshots, table handles, the
 * catalog commit that every write ends in, and statistics.
 */
#include <stdlib.h>

#include "kv.h"
#include "repo/commit.h"

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

static void db_destroy_mutexes(cairn_db *db)
{
    pthread_mutex_destroy(&db->vmu);
    pthread_mutex_destroy(&db->wmu);
    pthread_mutex_destroy(&db->livemu);
    pthread_mutex_destroy(&db->maintmu);
}

static int db_open_common(cairn_db **out, const char *url, cairn_store *store,
                          const cairn_open_options *opts)
{
    cairn_db *db = cairn_calloc(1, sizeof *db);
    if (!db) {
        if (store) store->close(store);
        return ERR(CAIRN_ENOMEM, "out of memory opening %s", url ? url : "a repository");
    }
    cairn_id rec_id;
    rootrec rec;
    int rc = repo_open(&db->r, url, store, opts, &rec_id, &rec);
    if (rc < 0) {
        free(db);
        return rc;
    }
    pthread_mutex_init(&db->vmu, NULL);
    pthread_mutex_init(&db->wmu, NULL);
    pthread_mutex_init(&db->livemu, NULL);
    pthread_mutex_init(&db->maintmu, NULL);
    rc = version_load(db, &db->cur, &rec_id, &rec);
    if (rc < 0) {
        repo_close(&db->r);
        db_destroy_mutexes(db);
        free(db);
        return rc;
    }
    *out = db;
    return CAIRN_OK;
}

int cairn_open(cairn_db **out, const char *url, const cairn_open_options *opts)
{
    FAIL_IF(!out || !url, CAIRN_EINVAL, "cairn_open: out and url are required");
    return db_open_common(out, url, NULL, opts);
}

int cairn_open_store(cairn_db **out, cairn_store *store, const cairn_open_options *opts)
{
    if (!out || !store) {
        if (store) store->close(store);
        return ERR(CAIRN_EINVAL, "cairn_open_store: out and store are required");
    }
    return db_open_common(out, NULL, store, opts);
}

int cairn_close(cairn_db *db)
{
    if (!db) return CAIRN_OK;
    int rc = CAIRN_OK;
    if (!db->r.readonly) rc = cs_flush(&db->r.cs);
    version_release(db->cur);
    repo_close(&db->r);
    db_destroy_mutexes(db);
    free(db);
    return rc;
}

/* ---- snapshots ---- */

int cairn_snapshot_open(cairn_snapshot **out, cairn_db *db)
{
    cairn_snapshot *s = cairn_malloc(sizeof *s);
    if (!s) return ERR(CAIRN_ENOMEM, "out of memory opening a snapshot");
    s->db = db;
    s->v = db_current(db);
    *out = s;
    return CAIRN_OK;
}

void cairn_snapshot_close(cairn_snapshot *snap)
{
    if (!snap) return;
    version_release(snap->v);
    free(snap);
}

void cairn_snapshot_root(cairn_id *out, const cairn_snapshot *snap) { *out = snap->v->rec.catalog; }

/* ---- the catalog commit ---- */

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

int db_publish(cairn_db *db, const version *base, const rootrec *rec)
{
    cairn_id rec_id;
    version *nv = NULL;
    TRY(repo_publish(&db->r, &rec_id, id_is_zero(&base->rec_id) ? NULL : &base->rec_id, rec));
    TRY(version_load(db, &nv, &rec_id, rec));
    db_set_current(db, nv);
    return CAIRN_OK;
}

int db_commit(cairn_db *db, version *base, table_change *changes, size_t n)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    qsort(changes, n, sizeof *changes, change_cmp);
    tree_edit *edits = cairn_calloc(n ? n : 1, sizeof *edits);
    cairn_buf *descs = cairn_calloc(n ? n : 1, sizeof *descs);
    int rc = edits && descs ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory committing");
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
    rootrec rec = base->rec;
    if (rc == CAIRN_OK) rc = tree_apply(&db->r.cs, &rec.catalog, &base->rec.catalog, edits, n);
    if (rc == CAIRN_OK) rc = db_publish(db, base, &rec);
    for (size_t i = 0; descs && i < n; i++) cairn_buf_dispose(&descs[i]);
    free(descs);
    free(edits);
    return rc;
}

/* ---- tables ---- */

int cairn_table_open(cairn_table **out, cairn_db *db, const char *name, unsigned flags)
{
    FAIL_IF(!out || !db, CAIRN_EINVAL, "cairn_table_open: out and db are required");
    TRY(table_name_check(name));
    FAIL_IF(flags & ~(CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER | CAIRN_TABLE_NAMEONLY), CAIRN_EINVAL,
            "unknown table flags 0x%x", flags);
    FAIL_IF((flags & CAIRN_TABLE_NAMEONLY) && (flags & CAIRN_TABLE_CREATE), CAIRN_EINVAL,
            "CAIRN_TABLE_NAMEONLY does not go with CAIRN_TABLE_CREATE");
    FAIL_IF((flags & CAIRN_TABLE_DEFER) && !(flags & CAIRN_TABLE_CREATE), CAIRN_EINVAL,
            "CAIRN_TABLE_DEFER needs CAIRN_TABLE_CREATE");
    bool defer = (flags & CAIRN_TABLE_DEFER) != 0;
    version *v = db_current(db);
    bool exists = (flags & CAIRN_TABLE_NAMEONLY) || version_find(v, name) != NULL;
    version_release(v);
    int rc = CAIRN_OK;
    if (!exists) {
        if (!(flags & CAIRN_TABLE_CREATE))
            return ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
        FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
                "cannot create table '%s': %s was opened read-only", name, db->r.url);
    }
    if (!exists && !defer) {
        pthread_mutex_lock(&db->wmu);
        version *base = db_current(db);
        if (!version_find(base, name)) {
            table_change ch = { name, false, { { 0 } } };
            rc = tree_empty(&db->r.cs, &ch.root);
            if (rc == CAIRN_OK) rc = db_commit(db, base, &ch, 1);
        }
        version_release(base);
        pthread_mutex_unlock(&db->wmu);
        if (rc < 0) return cairn_error_prefix(rc, "creating table '%s'", name);
    }
    cairn_table *t = cairn_malloc(sizeof *t);
    char *nm = cairn_strdup(name);
    if (!t || !nm) {
        free(t);
        free(nm);
        return ERR(CAIRN_ENOMEM, "out of memory opening table '%s'", name);
    }
    t->db = db;
    t->name = nm;
    t->create_on_write = defer;
    *out = t;
    return CAIRN_OK;
}

void cairn_table_close(cairn_table *t)
{
    if (!t) return;
    free(t->name);
    free(t);
}

const char *cairn_table_name(const cairn_table *t) { return t->name; }

int cairn_table_drop(cairn_db *db, const char *name)
{
    TRY(table_name_check(name));
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "cannot drop table '%s': %s was opened read-only",
            name, db->r.url);
    pthread_mutex_lock(&db->wmu);
    version *base = db_current(db);
    int rc;
    if (!version_find(base, name)) {
        rc = ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
    } else {
        table_change ch = { name, true, { { 0 } } };
        rc = db_commit(db, base, &ch, 1);
    }
    version_release(base);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int cairn_table_list(cairn_db *db, const cairn_snapshot *snap,
                     int (*cb)(const char *name, void *payload), void *payload)
{
    version *v = snap ? snap->v : db_current(db);
    if (snap) atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < v->n; i++) rc = cb(v->t[i].name, payload);
    version_release(v);
    return rc;
}

int cairn_table_root(cairn_id *out, cairn_table *t, const cairn_snapshot *snap)
{
    version *v = snap ? snap->v : db_current(t->db);
    const vtable *vt = NULL;
    int rc = version_table(&vt, v, t);
    if (rc == CAIRN_OK) *out = vt->d.root;
    if (!snap) version_release(v);
    return rc;
}

int cairn_table_stats_get(cairn_table_stats *out, cairn_table *t, const cairn_snapshot *snap)
{
    cairn_id root;
    TRY(cairn_table_root(&root, t, snap));
    return tree_stats(&t->db->r.cs, &root, out);
}

int cairn_db_stats_get(cairn_db_stats *out, cairn_db *db)
{
    cairn_db_stats st;
    memset(&st, 0, sizeof st);
    cairn_store_stats ss;
    memset(&ss, 0, sizeof ss);
    if (db->r.store->stat) TRY(db->r.store->stat(db->r.store, &ss));
    st.chunks = ss.chunks;
    st.stored_bytes = ss.bytes;
    st.packs = ss.files;
    version *v = db_current(db);
    st.tables = v->n;
    version_release(v);
    cache_stats(db->r.cs.cache, &st.cache_bytes, &st.cache_hits, &st.cache_misses);
    st.chunks_read = atomic_load(&db->r.cs.chunks_read);
    st.chunks_written = atomic_load(&db->r.cs.chunks_written);
    *out = st;
    return CAIRN_OK;
}

int kv_table_root_for_write(cairn_db *db, const version *base, const char *name, bool may_create,
                            cairn_id *out_root, bool *created)
{
    const vtable *vt = version_find(base, name);
    *created = false;
    if (vt) {
        *out_root = vt->d.root;
        return CAIRN_OK;
    }
    FAIL_IF(!may_create, CAIRN_ENOTFOUND,
            "table '%s' does not exist in %s (dropped?); nothing was written", name, db->r.url);
    *created = true;
    return tree_empty(&db->r.cs, out_root);
}

int kv_check_sizes(const cairn_table *t, size_t klen, const size_t *vlen)
{
    FAIL_IF(klen > CAIRN_MAX_KEY_SIZE, CAIRN_EINVAL,
            "table '%s': key of %zu bytes is over the %u byte limit", t->name, klen,
            CAIRN_MAX_KEY_SIZE);
    FAIL_IF(vlen && *vlen > CAIRN_MAX_VALUE_SIZE, CAIRN_EINVAL,
            "table '%s': value of %zu bytes is over the %u byte limit", t->name, *vlen,
            CAIRN_MAX_VALUE_SIZE);
    return CAIRN_OK;
}
