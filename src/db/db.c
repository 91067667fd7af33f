/*
 * db.c - opening and closing a repository handle, versions and snapshots, table handles, the
 * catalog commit that every write ends in, and statistics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* ---- open and close ---- */

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

/* A reader registers its pins (in the store's file namespace), then reads the working ref between two reads of
 * the gc epoch (pins.h), loading and pinning the state it names if that is not the one it has.
 * When the epoch did not change, no gc started in between: a gc that started earlier holds the
 * writer mutex, so the ref cannot move while it runs and the state read was the one it marked
 * from (or one made after it); a gc that starts later reads the pin. Otherwise it goes again. The
 * ref may move any number of times meanwhile (a writer committing fast does not stop a reader
 * from opening); only gcs starting back to back can. */
static int db_pin_reader(cairn_db *db)
{
    cairn_store *st = db->r.store;
    int rc = pins_register(&db->pins, st);
    if (rc < 0) {
        /* no permission, a read-only file system or a store without pins is a normal way to
         * read: say it quietly */
        bool expected = rc == CAIRN_EAUTH || rc == CAIRN_EREADONLY || rc == CAIRN_EUNSUPPORTED;
        cairn_diag(expected ? CAIRN_LOG_INFO : CAIRN_LOG_WARN,
                   "%s; this reader's versions are not pinned: a gc in the writer may remove what "
                   "it reads (reads then fail with not found, never return wrong data)",
                   cairn_error_last()->message);
        cairn_error_clear();
        return CAIRN_OK;
    }
    db_pins_publish(db);
    bool settled = true; /* the log was replayed over the current version */
    for (int tries = 0; tries < 64; tries++) {
        uint64_t e1, e2;
        cairn_id rec_id;
        rootrec rec;
        rc = pins_epoch(st, &e1);
        if (rc == CAIRN_OK) rc = repo_load_working(&db->r, &rec_id, &rec);
        if (rc == CAIRN_OK &&
            (!settled || memcmp(rec_id.bytes, db->cur->rec_id.bytes, CAIRN_ID_SIZE) != 0)) {
            rc = working_switch(db); /* loads and pins the state the ref names now */
            settled = rc == CAIRN_OK;
        }
        if (rc == CAIRN_OK) rc = pins_epoch(st, &e2);
        if (rc == CAIRN_OK && e1 == e2) return CAIRN_OK;
        /* the writer moved on meanwhile (a checkpoint retired log segments, a gc took the state
         * just read): read the ref again, as the open does */
        if (rc != CAIRN_OK && rc != CAIRN_ECORRUPT && rc != CAIRN_ENOTFOUND && rc != CAIRN_EIO)
            return rc;
        cairn_error_clear();
        if (tries >= 4) nanosleep(&(struct timespec){ 0, 1000000L * (tries - 3) }, NULL);
    }
    return ERR(CAIRN_EBUSY, "garbage collections kept starting while this reader of %s opened; "
               "open it again", db->r.url);
}

static void db_free(cairn_db *db)
{
    pins *p = db->pins;
    db->pins = NULL; /* no more publishing while the versions go */
    version_release(db->cur);
    mem_release(db->mem);
    mem_release(db->imm);
    pins_close(p); /* its file is the store's: before the store closes */
    repo_close(&db->r);
    pthread_mutex_destroy(&db->vmu);
    pthread_mutex_destroy(&db->wmu);
    pthread_mutex_destroy(&db->livemu);
    pthread_mutex_destroy(&db->maintmu);
    pthread_mutex_destroy(&db->pinmu);
    pthread_rwlock_destroy(&db->gate);
    free(db);
}

static int db_open_common(cairn_db **out, const char *url, cairn_store *store,
                          const cairn_open_options *opts)
{
    cairn_db *db = cairn_calloc(1, sizeof *db);
    if (!db) {
        if (store) store->close(store);
        return ERR(CAIRN_ENOMEM, "out of memory opening %s", url ? url : "a repository");
    }
    pthread_mutex_init(&db->vmu, NULL);
    pthread_mutex_init(&db->wmu, NULL);
    pthread_mutex_init(&db->livemu, NULL);
    pthread_mutex_init(&db->maintmu, NULL);
    pthread_mutex_init(&db->pinmu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* exclusive operations (commit, checkout...) must not starve behind a stream of writers */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->gate, &ra);
    pthread_rwlockattr_destroy(&ra);
    cairn_id rec_id;
    rootrec rec;
    int rc = repo_open(&db->r, url, store, opts, &rec_id, &rec);
    if (rc < 0) {
        pthread_mutex_destroy(&db->vmu);
        pthread_mutex_destroy(&db->wmu);
        pthread_mutex_destroy(&db->livemu);
        pthread_mutex_destroy(&db->maintmu);
        pthread_mutex_destroy(&db->pinmu);
        pthread_rwlock_destroy(&db->gate);
        free(db);
        return rc;
    }
    rc = version_load(db, &db->cur, &rec_id, &rec);
    /* A reader may read the working ref just before the writer replaces that state and a gc
     * takes its catalog (the reader pins only once it has a version): read the ref again. */
    for (int tries = 0; rc < 0 && db->r.readonly && tries < 8; tries++) {
        if (rc != CAIRN_ENOTFOUND && rc != CAIRN_ECORRUPT && rc != CAIRN_EIO) break;
        cairn_error_clear();
        rc = repo_load_working(&db->r, &rec_id, &rec);
        if (rc == CAIRN_OK) rc = version_load(db, &db->cur, &rec_id, &rec);
    }
    if (rc == CAIRN_OK) rc = working_open(db, opts);
    if (rc == CAIRN_OK && !db->r.readonly) rc = db_complete_commit(db);
    /* A reader may race a writer's checkpoint (which retires log segments after moving the
     * working root): read the working root again and retry. */
    for (int tries = 0; rc < 0 && db->r.readonly && db->cur && tries < 3; tries++) {
        if (rc != CAIRN_ECORRUPT && rc != CAIRN_ENOTFOUND && rc != CAIRN_EIO) break;
        cairn_error_clear();
        rc = working_switch(db);
    }
    if (rc == CAIRN_OK && db->r.readonly) rc = db_pin_reader(db);
    if (rc < 0) {
        int code = cairn_error_last()->code;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
        working_close(db);
        db_free(db);
        return cairn_error_set(code, "%s", msg);
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
    int rc = working_close(db);
    if (!db->r.readonly) {
        int frc = cs_flush(&db->r.cs);
        if (rc == CAIRN_OK) rc = frc;
    }
    db_free(db);
    return rc;
}

int cairn_checkpoint(cairn_db *db)
{
    pthread_mutex_lock(&db->wmu);
    int rc = db_checkpoint_locked(db);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

/* ---- snapshots ---- */

cairn_snapshot *snapshot_new(cairn_db *db, const rview *rv)
{
    cairn_snapshot *s = cairn_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->db = db;
    s->rv = *rv;
    s->v = rv->v;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

int cairn_snapshot_open(cairn_snapshot **out, cairn_db *db)
{
    rview rv;
    db_view(db, &rv);
    cairn_snapshot *s = snapshot_new(db, &rv);
    if (!s) {
        rview_release(&rv);
        return ERR(CAIRN_ENOMEM, "out of memory opening a snapshot");
    }
    *out = s;
    return CAIRN_OK;
}

void cairn_snapshot_close(cairn_snapshot *snap)
{
    if (!snap) return;
    rview_release(&snap->rv);
    version_release(snap->mat);
    pthread_mutex_destroy(&snap->mu);
    free(snap);
}

void cairn_snapshot_root(cairn_id *out, const cairn_snapshot *snap)
{
    version *v;
    if (snapshot_version((cairn_snapshot *)snap, &v) == CAIRN_OK) {
        *out = v->rec.catalog;
        version_release(v);
    } else { /* could not write the trees: the root of what is in them */
        cairn_diag(CAIRN_LOG_ERROR, "snapshot root: %s", cairn_error_last()->message);
        *out = snap->rv.v->rec.catalog;
    }
}

static int count_table(const char *name, void *payload)
{
    (void)name;
    (*(uint64_t *)payload)++;
    return CAIRN_OK;
}

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

int db_catalog_apply(cairn_db *db, const version *base, table_change *changes, size_t n,
                     rootrec *rec)
{
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
    *rec = base->rec;
    if (rc == CAIRN_OK) rc = tree_apply(&db->r.cs, &rec->catalog, &base->rec.catalog, edits, n);
    for (size_t i = 0; descs && i < n; i++) cairn_buf_dispose(&descs[i]);
    free(descs);
    free(edits);
    return rc;
}

int db_commit(cairn_db *db, version *base, table_change *changes, size_t n)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    rootrec rec;
    TRY(db_catalog_apply(db, base, changes, n, &rec));
    return db_publish(db, base, &rec);
}

/* ---- tables ---- */

/* Creates table name now: a log record that only creates it. */
static int create_table(cairn_db *db, const char *name)
{
    walrec_table t = { name, WALREC_CREATE };
    cairn_buf payload = CAIRN_BUF_INIT;
    int rc = walrec_batch_encode(&payload, &t, 1, NULL, 0);
    if (rc == CAIRN_OK) rc = working_write(db, &payload, &t, 1, !db->w.relaxed);
    cairn_buf_dispose(&payload);
    return rc;
}

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
    rview rv;
    db_view(db, &rv);
    const vtable *vt;
    cairn_table probe = { db, (char *)name, 0, false };
    bool exists = (flags & CAIRN_TABLE_NAMEONLY) || rview_table(&rv, &probe, &vt) == CAIRN_OK;
    rview_release(&rv);
    cairn_error_clear();
    if (!exists) {
        if (!(flags & CAIRN_TABLE_CREATE))
            return ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
        FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
                "cannot create table '%s': %s was opened read-only", name, db->r.url);
    }
    if (!exists && !defer) {
        int rc = create_table(db, name);
        if (rc < 0) return cairn_error_prefix(rc, "creating table '%s'", name);
    }
    cairn_table *t = cairn_malloc(sizeof *t);
    char *nm = cairn_strdup(name);
    uint32_t id = 0;
    int rc = t && nm ? db_table_id(db, name, &id) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc < 0) {
        free(t);
        free(nm);
        return cairn_error_prefix(rc, "opening table '%s'", name);
    }
    t->db = db;
    t->name = nm;
    t->id = id;
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
    TRY(db_exclusive_begin(db));
    version *base = db_current(db);
    int rc;
    if (!version_find(base, name)) {
        rc = ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
    } else {
        table_change ch = { name, true, { { 0 } } };
        rc = db_commit(db, base, &ch, 1);
    }
    version_release(base);
    db_exclusive_end(db);
    return rc;
}

int cairn_table_list(cairn_db *db, const cairn_snapshot *snap,
                     int (*cb)(const char *name, void *payload), void *payload)
{
    rview rv;
    if (snap) {
        rv = snap->rv;
    } else {
        db_view(db, &rv);
    }
    int rc = rview_list_tables(&rv, cb, payload);
    if (!snap) rview_release(&rv);
    return rc;
}

/* The version to read trees from: the snapshot's, or the current state, as trees. */
static int tree_version(cairn_db *db, const cairn_snapshot *snap, version **out)
{
    if (snap) return snapshot_version((cairn_snapshot *)snap, out);
    rview rv;
    db_view(db, &rv);
    int rc = rview_materialize(db, &rv, out);
    rview_release(&rv);
    return rc;
}

int db_working_version(cairn_db *db, version **out) { return tree_version(db, NULL, out); }

int cairn_table_root(cairn_id *out, cairn_table *t, const cairn_snapshot *snap)
{
    version *v;
    TRY(tree_version(t->db, snap, &v));
    const vtable *vt = NULL;
    int rc = version_table(&vt, v, t);
    if (rc == CAIRN_OK) *out = vt->d.root;
    version_release(v);
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
    rview rv;
    db_view(db, &rv);
    uint64_t tables = 0;
    rview_list_tables(&rv, count_table, &tables);
    st.tables = tables;
    st.tree_seq = rv.v->rec.wal_seq;
    if (rv.mem) {
        st.memtable_bytes += atomic_load(&rv.mem->bytes);
        st.memtable_entries += atomic_load(&rv.mem->count);
    }
    if (rv.imm) {
        st.memtable_bytes += atomic_load(&rv.imm->bytes);
        st.memtable_entries += atomic_load(&rv.imm->count);
    }
    rview_release(&rv);
    cache_stats(db->r.cs.cache, &st.cache_bytes, &st.cache_hits, &st.cache_misses);
    st.chunks_read = atomic_load(&db->r.cs.chunks_read);
    st.chunks_written = atomic_load(&db->r.cs.chunks_written);
    if (db->w.log) {
        wal_stats ws;
        wal_stats_get(db->w.log, &ws);
        st.wal_bytes = ws.bytes;
        st.wal_segments = ws.segments;
        st.oplog_segments = ws.oplog_segments;
        st.wal_last_seq = ws.last_seq;
        st.wal_synced_seq = ws.synced_seq;
    }
    pthread_mutex_lock(&db->wmu);
    st.checkpoints = db->w.checkpoints;
    st.last_checkpoint_ns = db->w.last_ckpt_time;
    pthread_mutex_unlock(&db->wmu);
    st.wal_location = !db->w.files ? CAIRN_WAL_NONE
                      : db->w.own_files ? CAIRN_WAL_DIR : CAIRN_WAL_STORE;
    st.recovery_ns = db->w.recovery_ns;
    st.recovered_records = db->w.recovered;
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
