/*
 * view.c - read views: a version's trees overlaid by memtable entries up to a sequence number
 * (see db.h), and turning a view into trees (checkpoints, snapshot roots, proofs, diffs).
 */
#include <stdlib.h>

#include "db/db.h"

void db_view(cairn_db *db, rview *out)
{
    pthread_mutex_lock(&db->vmu);
    out->v = db->cur;
    atomic_fetch_add_explicit(&out->v->refs, 1, memory_order_relaxed);
    out->mem = db->mem;
    out->imm = db->imm;
    if (out->mem) mem_retain(out->mem);
    if (out->imm) mem_retain(out->imm);
    pthread_mutex_unlock(&db->vmu);
    /* Read after the memtables were taken: anything applied to a memtable swapped in since is
     * not in the view at all, so the view is the state as of a moment between the two. */
    out->seq = atomic_load_explicit(&db->w.visible, memory_order_acquire);
}

void rview_of_version(rview *out, version *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    out->v = v;
    out->mem = out->imm = NULL;
    out->seq = v->rec.wal_seq;
}

void rview_release(rview *rv)
{
    version_release(rv->v);
    mem_release(rv->mem);
    mem_release(rv->imm);
    memset(rv, 0, sizeof *rv);
}

static bool mem_has(const memtable *m, uint32_t table, uint64_t seq)
{
    if (!m || atomic_load_explicit(&((memtable *)m)->count, memory_order_acquire) == 0) return false;
    mem_iter it;
    mem_iter_init(&it, m, table, seq);
    mem_iter_seek(&it, NULL, 0);
    return it.cur != NULL;
}

bool rview_mem_has(const rview *rv, uint32_t table)
{
    return mem_has(rv->mem, table, rv->seq) || mem_has(rv->imm, table, rv->seq);
}

const mem_entry *rview_find(const rview *rv, uint32_t table, const void *key, size_t klen)
{
    const mem_entry *e = rv->mem ? mem_find(rv->mem, table, key, klen, rv->seq) : NULL;
    if (!e && rv->imm) e = mem_find(rv->imm, table, key, klen, rv->seq);
    return e;
}

/* Whether the view's memtables create table `name`. */
static bool created_in_mem(const rview *rv, const char *name)
{
    return rview_find(rv, 0, name, strlen(name)) != NULL;
}

int rview_table(const rview *rv, const cairn_table *t, const vtable **vt)
{
    *vt = version_find(rv->v, t->name);
    if (*vt || created_in_mem(rv, t->name)) return CAIRN_OK;
    return ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in this version of %s", t->name,
               t->db->r.url);
}

/* ---- merged memtable streams ---- */

/* The visible entries of one table across mem (newer) and imm, in key order: mem wins. */
typedef struct mstream {
    mem_iter a, b;
    bool has_a, has_b;
} mstream;

static void mstream_init(mstream *s, const rview *rv, uint32_t table)
{
    s->has_a = rv->mem != NULL;
    s->has_b = rv->imm != NULL;
    if (s->has_a) {
        mem_iter_init(&s->a, rv->mem, table, rv->seq);
        mem_iter_seek(&s->a, NULL, 0);
    }
    if (s->has_b) {
        mem_iter_init(&s->b, rv->imm, table, rv->seq);
        mem_iter_seek(&s->b, NULL, 0);
    }
}

/* The next entry, or NULL at the end. */
static const mem_entry *mstream_next(mstream *s)
{
    const mem_entry *a = s->has_a ? s->a.cur : NULL, *b = s->has_b ? s->b.cur : NULL;
    if (!a && !b) return NULL;
    int c = !a ? 1 : !b ? -1 : bytes_cmp(a->key, a->klen, b->key, b->klen);
    if (c <= 0) mem_iter_next(&s->a);
    if (c >= 0) mem_iter_next(&s->b);
    return c <= 0 ? a : b;
}

int rview_list_tables(const rview *rv, int (*cb)(const char *name, void *payload), void *payload)
{
    mstream s;
    mstream_init(&s, rv, 0);
    const mem_entry *e = mstream_next(&s);
    size_t i = 0;
    char name[CAIRN_TABLE_NAME_LEN_MAX + 1];
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && (i < rv->v->n || e)) {
        int c;
        if (!e) c = -1;
        else if (i == rv->v->n) c = 1;
        else c = bytes_cmp(rv->v->t[i].name, strlen(rv->v->t[i].name), e->key, e->klen);
        if (c <= 0) {
            rc = cb(rv->v->t[i].name, payload);
            i++;
        } else {
            memcpy(name, e->key, e->klen);
            name[e->klen] = '\0';
            rc = cb(name, payload);
        }
        if (c >= 0) e = mstream_next(&s);
    }
    return rc;
}

/* ---- materialising ---- */

typedef struct mat {
    table_change *ch;
    size_t n, cap;
    tree_edit *edits;
    size_t nedits, ecap;
} mat;

static int mat_push(mat *m, const char *name, const cairn_id *root)
{
    TRY(cairn_array_room(&m->ch, &m->cap, m->n, sizeof *m->ch, 8));
    m->ch[m->n++] = (table_change){ name, false, *root };
    return CAIRN_OK;
}

static int edit_push(mat *m, const mem_entry *e)
{
    TRY(cairn_array_room(&m->edits, &m->ecap, m->nedits, sizeof *m->edits, 256));
    m->edits[m->nedits++] = (tree_edit){ e->key, mem_value(e), e->klen, e->vlen,
                                         e->type == MEM_PUT ? EDIT_PUT : EDIT_DEL };
    return CAIRN_OK;
}

/* Applies the view's entries of table id to its tree (or a new empty one). */
static int mat_table(cairn_db *db, const rview *rv, mat *m, uint32_t id, const cairn_id *empty)
{
    const char *name = db_table_name(db, id);
    if (!name) return CAIRN_OK;
    const vtable *vt = version_find(rv->v, name);
    bool created = !vt && created_in_mem(rv, name);
    if (!vt && !created) return CAIRN_OK; /* entries of a table this view does not have */
    m->nedits = 0;
    mstream s;
    mstream_init(&s, rv, id);
    for (const mem_entry *e; (e = mstream_next(&s));) TRY(edit_push(m, e));
    if (m->nedits == 0 && !created) return CAIRN_OK;
    const cairn_id *old = vt ? &vt->d.root : empty;
    cairn_id root;
    TRY(tree_apply(&db->r.cs, &root, old, m->edits, m->nedits));
    if (!created && memcmp(root.bytes, old->bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
    return mat_push(m, name, &root);
}

/* Whether any entry of m is visible at seq. */
static bool mem_any(const memtable *m, uint64_t seq)
{
    if (!m) return false;
    for (uint32_t id = mem_next_table(m, 0); id != UINT32_MAX; id = mem_next_table(m, id + 1)) {
        if (mem_has(m, id, seq)) return true;
        if (id == UINT32_MAX - 1) break;
    }
    return false;
}

bool rview_empty(const rview *rv) { return !mem_any(rv->mem, rv->seq) && !mem_any(rv->imm, rv->seq); }

int rview_materialize(cairn_db *db, const rview *rv, version **out)
{
    if (rview_empty(rv)) {
        atomic_fetch_add_explicit(&rv->v->refs, 1, memory_order_relaxed);
        *out = rv->v;
        return CAIRN_OK;
    }
    /* the new chunks are referenced by nothing until the version is listed: gc (which holds
     * wmu) must not run in between */
    DB_NOT_IN_CALLBACK(db, "building the trees of the log's writes (a snapshot's root, a diff "
                           "or proof of the working state)");
    pthread_mutex_lock(&db->wmu);
    int rc = rview_materialize_locked(db, rv, out);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int rview_materialize_locked(cairn_db *db, const rview *rv, version **out)
{
    if (rview_empty(rv)) {
        atomic_fetch_add_explicit(&rv->v->refs, 1, memory_order_relaxed);
        *out = rv->v;
        return CAIRN_OK;
    }
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
            "%s has writes in its write-ahead log that are not in the trees yet, and a read-only "
            "handle cannot build their trees; run 'cairn checkpoint' (or open it read-write)",
            db->r.url);
    mat m = { NULL, 0, 0, NULL, 0, 0 };
    cairn_id empty;
    int rc = tree_empty(&db->r.cs, &empty);
    /* tables with entries, in id order (then created tables without any) */
    for (uint32_t id = 1; rc == CAIRN_OK;) {
        uint32_t a = rv->mem ? mem_next_table(rv->mem, id) : UINT32_MAX;
        uint32_t b = rv->imm ? mem_next_table(rv->imm, id) : UINT32_MAX;
        id = MIN(a, b);
        if (id == UINT32_MAX) break;
        rc = mat_table(db, rv, &m, id, &empty);
        id++;
    }
    mstream s;
    mstream_init(&s, rv, 0);
    for (const mem_entry *e; rc == CAIRN_OK && (e = mstream_next(&s));) {
        char name[CAIRN_TABLE_NAME_LEN_MAX + 1];
        memcpy(name, e->key, e->klen);
        name[e->klen] = '\0';
        if (version_find(rv->v, name)) continue;
        bool done = false;
        for (size_t i = 0; i < m.n && !done; i++) done = strcmp(m.ch[i].name, name) == 0;
        if (done) continue;
        uint32_t id;
        rc = db_table_id(db, name, &id);
        if (rc == CAIRN_OK) rc = mat_push(&m, db_table_name(db, id), &empty);
    }
    rootrec rec = rv->v->rec;
    if (rc == CAIRN_OK && m.n) rc = db_catalog_apply(db, rv->v, m.ch, m.n, &rec);
    if (rc == CAIRN_OK) {
        if (rv->seq > rec.wal_seq) rec.wal_seq = rv->seq;
        cairn_id none = { { 0 } };
        rc = version_load(db, out, &none, &rec);
    }
    free(m.ch);
    free(m.edits);
    return rc;
}

int snapshot_version(cairn_snapshot *snap, version **out)
{
    pthread_mutex_lock(&snap->mu);
    int rc = CAIRN_OK;
    if (!snap->mat) rc = rview_materialize(snap->db, &snap->rv, &snap->mat);
    if (rc == CAIRN_OK) {
        *out = snap->mat;
        atomic_fetch_add_explicit(&snap->mat->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&snap->mu);
    return rc;
}
