/*
 * read.c - point reads, counts and cursors over a table as of a version. A cursor pins its
 * version, so it keeps reading the state it was opened on while writes go on.
 */
#include <stdlib.h>

#include "kv.h"

/* The version to read: the snapshot's, or a new reference to the current one. */
static version *read_version(cairn_table *t, const cairn_snapshot *snap)
{
    if (!snap) return db_current(t->db);
    atomic_fetch_add_explicit(&snap->v->refs, 1, memory_order_relaxed);
    return snap->v;
}

static int check_snap(cairn_table *t, const cairn_snapshot *snap)
{
    FAIL_IF(snap && snap->db != t->db, CAIRN_EINVAL,
            "table '%s' and the snapshot belong to different repositories", t->name);
    return CAIRN_OK;
}

int cairn_get(void **out_val, size_t *out_len, cairn_table *t, const cairn_snapshot *snap,
              const void *key, size_t klen)
{
    TRY(kv_check_sizes(t, klen, NULL));
    TRY(check_snap(t, snap));
    version *v = read_version(t, snap);
    const vtable *vt = NULL;
    int rc = version_table(&vt, v, t);
    chunk *leaf = NULL;
    const uint8_t *val;
    size_t vlen = 0;
    if (rc == CAIRN_OK) rc = tree_get(&t->db->r.cs, &vt->d.root, key, klen, &leaf, &val, &vlen);
    if (rc == CAIRN_OK) {
        void *copy = cairn_malloc(vlen);
        if (copy) {
            if (vlen) memcpy(copy, val, vlen);
            *out_val = copy;
            *out_len = vlen;
        } else {
            rc = ERR(CAIRN_ENOMEM, "out of memory copying a value of %zu bytes", vlen);
        }
        chunk_release(leaf);
    } else if (rc == CAIRN_ENOTFOUND && vt) {
        char shown[128];
        rc = ERR(CAIRN_ENOTFOUND, "key '%s' is not in table '%s'",
                 bytes_show(shown, sizeof shown, key, klen), t->name);
    }
    version_release(v);
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

int cairn_count(uint64_t *out, cairn_table *t, const cairn_snapshot *snap, const cairn_range *range)
{
    TRY(check_snap(t, snap));
    bounds b;
    int rc = bounds_init(&b, range);
    version *v = read_version(t, snap);
    const vtable *vt = NULL;
    if (rc == CAIRN_OK) rc = version_table(&vt, v, t);
    uint64_t lo = 0, hi = 0;
    if (rc == CAIRN_OK && !b.empty) {
        cairn_id root = vt->d.root;
        rc = tree_rank(&t->db->r.cs, &root, b.has_lo ? b.lo.data : NULL, b.lo.len, &lo);
        if (rc == CAIRN_OK && !b.has_lo) lo = 0;
        if (rc == CAIRN_OK)
            rc = tree_rank(&t->db->r.cs, &root, b.has_hi ? b.hi.data : NULL, b.hi.len, &hi);
    }
    if (rc == CAIRN_OK) *out = hi > lo ? hi - lo : 0;
    version_release(v);
    bounds_dispose(&b);
    return rc;
}

/* ---- cursors ---- */

struct cairn_cursor {
    cairn_table *table;
    version *v;
    tree_cursor tc;
    bounds b;
    bool positioned;
};

int cairn_cursor_open(cairn_cursor **out, cairn_table *t, const cairn_snapshot *snap,
                      const cairn_range *range)
{
    TRY(check_snap(t, snap));
    cairn_cursor *c = cairn_calloc(1, sizeof *c);
    if (!c) return ERR(CAIRN_ENOMEM, "out of memory opening a cursor");
    c->table = t;
    c->v = read_version(t, snap);
    const vtable *vt = NULL;
    int rc = bounds_init(&c->b, range);
    if (rc == CAIRN_OK) rc = version_table(&vt, c->v, t);
    if (rc == CAIRN_OK) rc = tc_init(&c->tc, &t->db->r.cs, &vt->d.root, 0, false);
    if (rc < 0) {
        bounds_dispose(&c->b);
        version_release(c->v);
        free(c);
        return rc;
    }
    *out = c;
    return CAIRN_OK;
}

void cairn_cursor_close(cairn_cursor *c)
{
    if (!c) return;
    tc_dispose(&c->tc);
    bounds_dispose(&c->b);
    version_release(c->v);
    free(c);
}

/* After a move: within bounds -> positioned; else the end. */
static int settle(cairn_cursor *c, int rc)
{
    if (rc == CAIRN_OK && !c->tc.valid) rc = CAIRN_ENOTFOUND;
    if (rc == CAIRN_OK) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&c->tc, &k, &kl, &v, &vl);
        if ((c->b.has_hi && bytes_cmp(k, kl, c->b.hi.data, c->b.hi.len) >= 0) ||
            (c->b.has_lo && bytes_cmp(k, kl, c->b.lo.data, c->b.lo.len) < 0))
            rc = CAIRN_ENOTFOUND;
    }
    c->positioned = rc == CAIRN_OK;
    return rc;
}

int cairn_cursor_seek(cairn_cursor *c, const void *key, size_t klen)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (c->b.has_lo && bytes_cmp(key, klen, c->b.lo.data, c->b.lo.len) < 0) {
        key = c->b.lo.data;
        klen = c->b.lo.len;
    }
    return settle(c, tc_seek(&c->tc, key, klen));
}

int cairn_cursor_next(cairn_cursor *c)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (!c->positioned) {
        int rc = c->b.has_lo ? tc_seek(&c->tc, c->b.lo.data, c->b.lo.len) : tc_first(&c->tc);
        return settle(c, rc);
    }
    return settle(c, tc_next(&c->tc));
}

int cairn_cursor_prev(cairn_cursor *c)
{
    if (c->b.empty) return settle(c, CAIRN_ENOTFOUND);
    if (!c->positioned) {
        if (!c->b.has_hi) return settle(c, tc_last(&c->tc));
        int rc = tc_seek(&c->tc, c->b.hi.data, c->b.hi.len);
        if (rc == CAIRN_OK) rc = tc_prev(&c->tc);
        return settle(c, rc);
    }
    return settle(c, tc_prev(&c->tc));
}

int cairn_cursor_get(const cairn_cursor *c, const void **key, size_t *klen, const void **val,
                     size_t *vlen)
{
    FAIL_IF(!c->positioned, CAIRN_ESTATE, "cursor is not positioned on an entry");
    const uint8_t *k, *v;
    size_t kl, vl;
    tc_entry(&c->tc, &k, &kl, &v, &vl);
    if (key) *key = k;
    if (klen) *klen = kl;
    if (val) *val = v;
    if (vlen) *vlen = vl;
    return CAIRN_OK;
}
