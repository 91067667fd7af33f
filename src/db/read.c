/*
 * read.c - point reads, counts and cursors over a table as of a view: the trees of a version
 * overlaid by the memtables' entries up to the view's sequence number (db.h). A cursor pins
 * its view, so it keeps reading the state it was opened on while writes go on. When no
 * memtable entry of the table is visible (the common case after a checkpoint) reads go to the
 * tree alone; otherwise a cursor merges the tree with the memtables, newest first, skipping
 * deleted keys.
 */
#include <stdlib.h>

#include "db/db.h"

/* The view to read: the snapshot's (a copy with new references), or the current state. */
static void read_view(rview *out, cairn_table *t, const cairn_snapshot *snap)
{
    if (!snap) {
        db_view(t->db, out);
        return;
    }
    *out = snap->rv;
    atomic_fetch_add_explicit(&out->v->refs, 1, memory_order_relaxed);
    if (out->mem) mem_retain(out->mem);
    if (out->imm) mem_retain(out->imm);
}

static int check_snap(cairn_table *t, const cairn_snapshot *snap)
{
    FAIL_IF(snap && snap->db != t->db, CAIRN_EINVAL,
            "table '%s' and the snapshot belong to different repositories", t->name);
    return CAIRN_OK;
}

static int copy_out(void **out_val, size_t *out_len, const void *val, size_t vlen)
{
    void *copy = cairn_malloc(vlen ? vlen : 1);
    FAIL_IF(!copy, CAIRN_ENOMEM, "out of memory copying a value of %zu bytes", vlen);
    if (vlen) memcpy(copy, val, vlen);
    *out_val = copy;
    *out_len = vlen;
    return CAIRN_OK;
}

/* Key's value as of rv: the memtables' entry first, then the tree (vt, NULL: the table has
 * none in the view's version). CAIRN_OK with *val (borrowed: from the memtable, or the leaf
 * *leaf pins, to release after use; NULL when the key is absent, without an error), or a
 * failure. The lookup of cairn_get() and of db_get_sorted()'s fallback. */
static int view_get(const rview *rv, cairn_table *t, const vtable *vt, const void *key,
                    size_t klen, chunk **leaf, const uint8_t **val, size_t *vlen)
{
    *leaf = NULL;
    *val = NULL;
    *vlen = 0;
    const mem_entry *e = rview_find(rv, t->id, key, klen);
    if (e) {
        if (e->type == MEM_PUT) {
            *val = mem_value(e);
            *vlen = e->vlen;
        }
        return CAIRN_OK;
    }
    if (!vt) return CAIRN_OK; /* a table created in the memtable, without this key */
    int rc = tree_get(&t->db->r.cs, &vt->d.root, key, klen, leaf, val, vlen);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        *val = NULL;
        return CAIRN_OK;
    }
    return rc;
}

int cairn_get(void **out_val, size_t *out_len, cairn_table *t, const cairn_snapshot *snap,
              const void *key, size_t klen)
{
    TRY(kv_check_sizes(t, klen, NULL));
    TRY(check_snap(t, snap));
    rview rv;
    read_view(&rv, t, snap);
    const vtable *vt = NULL;
    chunk *leaf = NULL;
    const uint8_t *val = NULL;
    size_t vlen = 0;
    int rc = rview_table(&rv, t, &vt); /* CAIRN_ENOTFOUND: no such table, as its message says */
    if (rc == CAIRN_OK) rc = view_get(&rv, t, vt, key, klen, &leaf, &val, &vlen);
    if (rc == CAIRN_OK && val) {
        rc = copy_out(out_val, out_len, val, vlen);
    } else if (rc == CAIRN_OK) {
        char shown[128];
        rc = ERR(CAIRN_ENOTFOUND, "key '%s' is not in table '%s'",
                 bytes_show(shown, sizeof shown, key, klen), t->name);
    }
    chunk_release(leaf);
    rview_release(&rv);
    return rc;
}

int db_get_sorted(cairn_table *t, const cairn_snapshot *snap, const void *const *keys,
                  const size_t *klens, size_t n, tree_got_fn cb, void *payload)
{
    TRY(check_snap(t, snap));
    for (size_t i = 0; i < n; i++) TRY(kv_check_sizes(t, klens[i], NULL));
    rview rv;
    read_view(&rv, t, snap);
    const vtable *vt = NULL;
    int rc = rview_table(&rv, t, &vt);
    if (rc == CAIRN_OK && vt && !rview_mem_has(&rv, t->id)) {
        rc = tree_get_sorted(&t->db->r.cs, &vt->d.root, keys, klens, n, cb, payload);
    } else if (rc == CAIRN_OK) { /* writes not checkpointed yet: key by key, newest first */
        for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
            if (i && bytes_cmp(keys[i], klens[i], keys[i - 1], klens[i - 1]) < 0) {
                rc = ERR(CAIRN_EINVAL, "db_get_sorted: key %zu is below the key before it", i);
                break;
            }
            chunk *leaf;
            const uint8_t *val;
            size_t vlen;
            rc = view_get(&rv, t, vt, keys[i], klens[i], &leaf, &val, &vlen);
            if (rc == CAIRN_OK) rc = cb(i, val, vlen, payload);
            chunk_release(leaf);
        }
    }
    rview_release(&rv);
    return rc;
}

/* ---- ranges ---- */

typedef struct bounds {
    cairn_buf lo, hi;
    bool has_lo, has_hi, empty;
} bounds;

/* Effective bounds: lo = max(from, prefix), hi = min(to, successor(prefix)). */
static int bounds_init(bounds *b, const cairn_range *r)
{
    memset(b, 0, sizeof *b);
    if (!r) return CAIRN_OK;
    FAIL_IF((r->from_len && !r->from) || (r->to_len && !r->to) || (r->prefix_len && !r->prefix),
            CAIRN_EINVAL, "range bound has a length but no bytes");
    if (r->from) {
        TRY(cairn_buf_set(&b->lo, r->from, r->from_len));
        b->has_lo = true;
    }
    if (r->to) {
        TRY(cairn_buf_set(&b->hi, r->to, r->to_len));
        b->has_hi = true;
    }
    if (r->prefix && r->prefix_len) {
        if (!b->has_lo || bytes_cmp(b->lo.data, b->lo.len, r->prefix, r->prefix_len) < 0) {
            TRY(cairn_buf_set(&b->lo, r->prefix, r->prefix_len));
            b->has_lo = true;
        }
        /* successor: drop trailing 0xff bytes, then increment the last byte */
        size_t n = r->prefix_len;
        const uint8_t *p = r->prefix;
        while (n > 0 && p[n - 1] == 0xff) n--;
        if (n > 0) {
            cairn_buf succ = CAIRN_BUF_INIT;
            int rc = cairn_buf_set(&succ, p, n);
            if (rc < 0) return rc;
            succ.data[n - 1]++;
            if (!b->has_hi || bytes_cmp(succ.data, succ.len, b->hi.data, b->hi.len) < 0) {
                cairn_buf_dispose(&b->hi);
                b->hi = succ;
                b->has_hi = true;
            } else {
                cairn_buf_dispose(&succ);
            }
        }
    }
    b->empty = b->has_lo && b->has_hi && bytes_cmp(b->lo.data, b->lo.len, b->hi.data, b->hi.len) >= 0;
    return CAIRN_OK;
}

static void bounds_dispose(bounds *b)
{
    cairn_buf_dispose(&b->lo);
    cairn_buf_dispose(&b->hi);
}

/* Whether key is in the tree (vt may be NULL: no tree). */
static int in_tree(cairn_db *db, const vtable *vt, const uint8_t *key, size_t klen, bool *out)
{
    *out = false;
    if (!vt) return CAIRN_OK;
    chunk *leaf = NULL;
    const uint8_t *val;
    size_t vlen;
    int rc = tree_get(&db->r.cs, &vt->d.root, key, klen, &leaf, &val, &vlen);
    if (rc == CAIRN_OK) {
        chunk_release(leaf);
        *out = true;
        return CAIRN_OK;
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    return rc;
}

/* The memtables' effect on a count over [lo, hi): +1 for each key they add to the tree, -1 for
 * each they delete from it. One tree lookup per memtable key in the range. */
static int count_delta(cairn_table *t, const rview *rv, const vtable *vt, const bounds *b,
                       int64_t *delta)
{
    mem_iter it[2];
    int n = 0;
    memtable *ms[2] = { rv->mem, rv->imm };
    for (int i = 0; i < 2; i++) {
        if (!ms[i]) continue;
        mem_iter_init(&it[n], ms[i], t->id, rv->seq);
        mem_iter_seek(&it[n], b->has_lo ? b->lo.data : NULL, b->lo.len);
        n++;
    }
    *delta = 0;
    for (;;) {
        const mem_entry *e = NULL;
        for (int i = 0; i < n; i++) { /* the smallest key; on a tie the newer memtable */
            const mem_entry *c = it[i].cur;
            if (c && (!e || bytes_cmp(c->key, c->klen, e->key, e->klen) < 0)) e = c;
        }
        if (!e || (b->has_hi && bytes_cmp(e->key, e->klen, b->hi.data, b->hi.len) >= 0)) break;
        bool there;
        TRY(in_tree(t->db, vt, e->key, e->klen, &there));
        if (e->type == MEM_PUT && !there) (*delta)++;
        else if (e->type == MEM_DEL && there) (*delta)--;
        const uint8_t *k = e->key;
        uint32_t kl = e->klen;
        for (int i = 0; i < n; i++)
            if (it[i].cur && bytes_cmp(it[i].cur->key, it[i].cur->klen, k, kl) == 0)
                mem_iter_next(&it[i]);
    }
    return CAIRN_OK;
}

int cairn_count(uint64_t *out, cairn_table *t, const cairn_snapshot *snap, const cairn_range *range)
{
    TRY(check_snap(t, snap));
    bounds b;
    int rc = bounds_init(&b, range);
    rview rv;
    read_view(&rv, t, snap);
    const vtable *vt = NULL;
    if (rc == CAIRN_OK) rc = rview_table(&rv, t, &vt);
    uint64_t lo = 0, hi = 0;
    int64_t delta = 0;
    if (rc == CAIRN_OK && !b.empty && vt) {
        cairn_id root = vt->d.root;
        rc = tree_rank(&t->db->r.cs, &root, b.has_lo ? b.lo.data : NULL, b.lo.len, &lo);
        if (rc == CAIRN_OK && !b.has_lo) lo = 0;
        if (rc == CAIRN_OK)
            rc = tree_rank(&t->db->r.cs, &root, b.has_hi ? b.hi.data : NULL, b.hi.len, &hi);
    }
    if (rc == CAIRN_OK && !b.empty && rview_mem_has(&rv, t->id))
        rc = count_delta(t, &rv, vt, &b, &delta);
    if (rc == CAIRN_OK) {
        int64_t n = (int64_t)(hi > lo ? hi - lo : 0) + delta;
        *out = n > 0 ? (uint64_t)n : 0;
    }
    rview_release(&rv);
    bounds_dispose(&b);
    return rc;
}

/* ---- cursors ---- */

struct cairn_cursor {
    cairn_table *table;
    rview rv;
    bounds b;
    bool positioned;
    bool has_tree;           /* the table has a tree in the view's version */
    bool merged;             /* memtable entries are merged over the tree */
    tree_cursor tc;
    /* merged mode */
    bool t_ok;               /* tc is on an entry */
    mem_iter it[2];          /* mem, then imm: on equal keys the first wins */
    int nit;
    int dir;                 /* +1 after a forward move, -1 after a backward one */
    bool has_cur;
    const uint8_t *k, *v;
    size_t kl, vl;
    cairn_buf kbuf;          /* the current key, kept across a change of direction */
};

int cairn_cursor_open(cairn_cursor **out, cairn_table *t, const cairn_snapshot *snap,
                      const cairn_range *range)
{
    TRY(check_snap(t, snap));
    cairn_cursor *c = cairn_calloc(1, sizeof *c);
    if (!c) return ERR(CAIRN_ENOMEM, "out of memory opening a cursor");
    c->table = t;
    read_view(&c->rv, t, snap);
    const vtable *vt = NULL;
    int rc = bounds_init(&c->b, range);
    if (rc == CAIRN_OK) rc = rview_table(&c->rv, t, &vt);
    if (rc == CAIRN_OK && vt) {
        rc = tc_init(&c->tc, &t->db->r.cs, &vt->d.root, 0, false);
        c->has_tree = rc == CAIRN_OK;
    }
    if (rc == CAIRN_OK && (!vt || rview_mem_has(&c->rv, t->id))) {
        c->merged = true;
        memtable *ms[2] = { c->rv.mem, c->rv.imm };
        for (int i = 0; i < 2; i++)
            if (ms[i]) mem_iter_init(&c->it[c->nit++], ms[i], t->id, c->rv.seq);
    }
    if (rc < 0) {
        if (c->has_tree) tc_dispose(&c->tc);
        bounds_dispose(&c->b);
        rview_release(&c->rv);
        free(c);
        return rc;
    }
    atomic_fetch_add_explicit(&t->db->open_cursors, 1, memory_order_relaxed);
    *out = c;
    return CAIRN_OK;
}

void cairn_cursor_close(cairn_cursor *c)
{
    if (!c) return;
    atomic_fetch_sub_explicit(&c->table->db->open_cursors, 1, memory_order_relaxed);
    if (c->has_tree) tc_dispose(&c->tc);
    bounds_dispose(&c->b);
    cairn_buf_dispose(&c->kbuf);
    rview_release(&c->rv);
    free(c);
}

/* The entry the cursor is on, if any. */
static bool cur_entry(const cairn_cursor *c, const uint8_t **k, size_t *kl, const uint8_t **v,
                      size_t *vl)
{
    if (c->merged) {
        if (!c->has_cur) return false;
        *k = c->k;
        *kl = c->kl;
        *v = c->v;
        *vl = c->vl;
        return true;
    }
    if (!c->tc.valid) return false;
    tc_entry(&c->tc, k, kl, v, vl);
    return true;
}

/* After a move: within bounds -> positioned; else the end. */
static int settle(cairn_cursor *c, int rc)
{
    const uint8_t *k, *v;
    size_t kl, vl;
    if (rc == CAIRN_OK && !cur_entry(c, &k, &kl, &v, &vl)) rc = CAIRN_ENOTFOUND;
    if (rc == CAIRN_OK &&
        ((c->b.has_hi && bytes_cmp(k, kl, c->b.hi.data, c->b.hi.len) >= 0) ||
         (c->b.has_lo && bytes_cmp(k, kl, c->b.lo.data, c->b.lo.len) < 0)))
        rc = CAIRN_ENOTFOUND;
    c->positioned = rc == CAIRN_OK;
    return rc;
}

/* ---- merged mode: the tree and the memtables moved together ---- */

/* The tree cursor's state after a move: an entry, the end (not an error), or a failure. */
static int t_fix(cairn_cursor *c, int rc)
{
    c->t_ok = rc == CAIRN_OK && c->tc.valid;
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

/* Every source on its first entry >= key (NULL: the first entry). */
static int m_seek_ge(cairn_cursor *c, const void *key, size_t klen)
{
    for (int i = 0; i < c->nit; i++) mem_iter_seek(&c->it[i], key, klen);
    if (!c->has_tree) return t_fix(c, CAIRN_ENOTFOUND);
    return t_fix(c, key ? tc_seek(&c->tc, key, klen) : tc_first(&c->tc));
}

/* Every source on its last entry < key (NULL: the last entry). */
static int m_seek_lt(cairn_cursor *c, const void *key, size_t klen)
{
    for (int i = 0; i < c->nit; i++) mem_iter_seek_before(&c->it[i], key, klen);
    if (!c->has_tree) return t_fix(c, CAIRN_ENOTFOUND);
    if (!key) return t_fix(c, tc_last(&c->tc));
    int rc = tc_seek(&c->tc, key, klen);
    if (rc == CAIRN_OK && c->tc.valid) return t_fix(c, tc_prev(&c->tc));
    if (rc == CAIRN_OK || rc == CAIRN_ENOTFOUND) return t_fix(c, tc_last(&c->tc)); /* past the end */
    return t_fix(c, rc);
}

/* Every source on its first entry > key. */
static int m_seek_gt(cairn_cursor *c, const uint8_t *key, size_t klen)
{
    TRY(m_seek_ge(c, key, klen));
    for (int i = 0; i < c->nit; i++) {
        const mem_entry *e = c->it[i].cur;
        if (e && bytes_cmp(e->key, e->klen, key, klen) == 0) mem_iter_next(&c->it[i]);
    }
    if (c->t_ok) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&c->tc, &k, &kl, &v, &vl);
        if (bytes_cmp(k, kl, key, klen) == 0) return t_fix(c, tc_next(&c->tc));
    }
    return CAIRN_OK;
}

/* Moves every source that is on key one step in direction dir. The memtables move first: key
 * may point into the tree's current node, which the tree's own move can release. */
static int m_step(cairn_cursor *c, const uint8_t *key, size_t klen, int dir)
{
    for (int i = 0; i < c->nit; i++) {
        const mem_entry *e = c->it[i].cur;
        if (e && bytes_cmp(e->key, e->klen, key, klen) == 0) {
            if (dir > 0) mem_iter_next(&c->it[i]);
            else mem_iter_prev(&c->it[i]);
        }
    }
    if (c->t_ok) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&c->tc, &k, &kl, &v, &vl);
        if (bytes_cmp(k, kl, key, klen) == 0)
            return t_fix(c, dir > 0 ? tc_next(&c->tc) : tc_prev(&c->tc));
    }
    return CAIRN_OK;
}

/* Chooses the current entry: the smallest key (dir > 0) or the largest (dir < 0) among the
 * sources, the newest source's version of it; a deleted key is skipped over. */
static int m_pick(cairn_cursor *c, int dir)
{
    c->dir = dir;
    for (;;) {
        const mem_entry *best = NULL;
        for (int i = 0; i < c->nit; i++) {
            const mem_entry *e = c->it[i].cur;
            if (!e) continue;
            int cmp = best ? bytes_cmp(e->key, e->klen, best->key, best->klen) : 0;
            if (!best || cmp * dir < 0) best = e;
        }
        const uint8_t *tk = NULL, *tv = NULL;
        size_t tkl = 0, tvl = 0;
        if (c->t_ok) tc_entry(&c->tc, &tk, &tkl, &tv, &tvl);
        bool tree_first = c->t_ok && (!best || bytes_cmp(tk, tkl, best->key, best->klen) * dir < 0);
        if (tree_first) {
            c->has_cur = true;
            c->k = tk;
            c->kl = tkl;
            c->v = tv;
            c->vl = tvl;
            return CAIRN_OK;
        }
        if (!best) {
            c->has_cur = false;
            return CAIRN_OK;
        }
        if (best->type == MEM_PUT) {
            c->has_cur = true;
            c->k = best->key;
            c->kl = best->klen;
            c->v = mem_value(best);
            c->vl = best->vlen;
            return CAIRN_OK;
        }
        TRY(m_step(c, best->key, best->klen, dir)); /* deleted: on to the next key */
    }
}

/* Leaves the current key in kbuf, for repositioning every source around it. */
static int keep_key(cairn_cursor *c)
{
    return cairn_buf_set(&c->kbuf, c->k, c->kl);
}

static int m_next(cairn_cursor *c)
{
    if (!c->positioned || !c->has_cur) {
        TRY(m_seek_ge(c, c->b.has_lo ? c->b.lo.data : NULL, c->b.lo.len));
    } else if (c->dir < 0) {
        TRY(keep_key(c));
        TRY(m_seek_gt(c, c->kbuf.data, c->kbuf.len));
    } else {
        TRY(m_step(c, c->k, c->kl, +1));
    }
    return m_pick(c, +1);
}

static int m_prev(cairn_cursor *c)
{
    if (!c->positioned || !c->has_cur) {
        TRY(m_seek_lt(c, c->b.has_hi ? c->b.hi.data : NULL, c->b.hi.len));
    } else if (c->dir > 0) {
        TRY(keep_key(c));
        TRY(m_seek_lt(c, c->kbuf.data, c->kbuf.len));
    } else {
        TRY(m_step(c, c->k, c->kl, -1));
    }
    return m_pick(c, -1);
}

/* ---- the public moves ---- */

int cairn_cursor_seek(cairn_cursor *c, const void *key, size_t klen)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (c->b.has_lo && bytes_cmp(key, klen, c->b.lo.data, c->b.lo.len) < 0) {
        key = c->b.lo.data;
        klen = c->b.lo.len;
    }
    if (c->merged) {
        int rc = m_seek_ge(c, key, klen);
        if (rc == CAIRN_OK) rc = m_pick(c, +1);
        return settle(c, rc);
    }
    return settle(c, tc_seek(&c->tc, key, klen));
}

int cairn_cursor_next(cairn_cursor *c)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (c->merged) return settle(c, m_next(c));
    if (!c->positioned) {
        int rc = c->b.has_lo ? tc_seek(&c->tc, c->b.lo.data, c->b.lo.len) : tc_first(&c->tc);
        return settle(c, rc);
    }
    return settle(c, tc_next(&c->tc));
}

int cairn_cursor_prev(cairn_cursor *c)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (c->merged) return settle(c, m_prev(c));
    if (!c->positioned) {
        if (!c->b.has_hi) return settle(c, tc_last(&c->tc));
        int rc = tc_seek(&c->tc, c->b.hi.data, c->b.hi.len);
        if (rc == CAIRN_OK && c->tc.valid) rc = tc_prev(&c->tc);
        else if (rc == CAIRN_OK) rc = tc_last(&c->tc);
        return settle(c, rc);
    }
    return settle(c, tc_prev(&c->tc));
}

int cairn_cursor_get(const void **out_key, size_t *out_klen, const void **out_val,
                     size_t *out_vlen, const cairn_cursor *c)
{
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    FAIL_IF(!c->positioned || !cur_entry(c, &k, &kl, &v, &vl), CAIRN_ESTATE,
            "cursor is not positioned on an entry");
    if (out_key) *out_key = k;
    if (out_klen) *out_klen = kl;
    if (out_val) *out_val = v;
    if (out_vlen) *out_vlen = vl;
    return CAIRN_OK;
}
