/*
 * history.c - walking the commit graph (see history.h). Histories are walked with a max-heap on
 * commit time and a hash set of visited ids; merge bases are the maximal common ancestors,
 * found by marking every ancestor of one side and walking the other until it meets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "history.h"
#include "refs.h"

int history_load(repo *r, const cairn_id *id, commit *out)
{
    chunk *c;
    char hex[CAIRN_ID_HEX_SIZE];
    int rc = cs_get(&r->cs, &c, id);
    if (rc < 0) {
        cairn_id_to_hex(hex, id);
        return rc == CAIRN_ENOTFOUND
                   ? ERR(CAIRN_ENOTFOUND, "commit %s is not in %s", hex, r->url)
                   : cairn_error_prefix(rc, "reading commit %s", hex);
    }
    rc = commit_decode(out, c->data, c->len);
    chunk_release(c);
    if (rc < 0) {
        cairn_id_to_hex(hex, id);
        return cairn_error_prefix(rc, "%s is not a valid commit", hex);
    }
    return CAIRN_OK;
}

/* ---- a set of ids (open addressing) ---- */

typedef struct idset {
    cairn_id *v;
    bool *used;
    size_t mask, n;
} idset;

static int idset_add(idset *s, const cairn_id *id, bool *added);

static int idset_grow(idset *s)
{
    size_t cap = s->v ? (s->mask + 1) * 2 : 64;
    idset ns = { cairn_calloc(cap, sizeof(cairn_id)), cairn_calloc(cap, sizeof(bool)), cap - 1, 0 };
    if (!ns.v || !ns.used) {
        free(ns.v);
        free(ns.used);
        return ERR(CAIRN_ENOMEM, "out of memory walking history");
    }
    for (size_t i = 0; s->v && i <= s->mask; i++) {
        bool added;
        if (s->used[i]) idset_add(&ns, &s->v[i], &added);
    }
    free(s->v);
    free(s->used);
    *s = ns;
    return CAIRN_OK;
}

static int idset_add(idset *s, const cairn_id *id, bool *added)
{
    if (!s->v || (s->n + 1) * 2 > s->mask + 1) TRY(idset_grow(s));
    size_t i = (size_t)load_le64(id->bytes) & s->mask;
    for (; s->used[i]; i = (i + 1) & s->mask)
        if (memcmp(s->v[i].bytes, id->bytes, CAIRN_ID_SIZE) == 0) {
            *added = false;
            return CAIRN_OK;
        }
    s->used[i] = true;
    s->v[i] = *id;
    s->n++;
    *added = true;
    return CAIRN_OK;
}

static bool idset_has(const idset *s, const cairn_id *id)
{
    if (!s->v) return false;
    for (size_t i = (size_t)load_le64(id->bytes) & s->mask; s->used[i]; i = (i + 1) & s->mask)
        if (memcmp(s->v[i].bytes, id->bytes, CAIRN_ID_SIZE) == 0) return true;
    return false;
}

static void idset_free(idset *s)
{
    free(s->v);
    free(s->used);
    memset(s, 0, sizeof *s);
}

/* ---- a max-heap of (commit time, id) ---- */

typedef struct hitem {
    int64_t time;
    cairn_id id;
} hitem;

typedef struct heap {
    hitem *v;
    size_t n, cap;
} heap;

static bool before(const hitem *a, const hitem *b) /* a comes out first */
{
    if (a->time != b->time) return a->time > b->time;
    return memcmp(a->id.bytes, b->id.bytes, CAIRN_ID_SIZE) < 0;
}

static int heap_push(heap *h, int64_t time, const cairn_id *id)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        hitem *nv = cairn_realloc(h->v, ncap * sizeof *nv);
        if (!nv) return ERR(CAIRN_ENOMEM, "out of memory walking history");
        h->v = nv;
        h->cap = ncap;
    }
    size_t i = h->n++;
    h->v[i] = (hitem){ time, *id };
    while (i > 0 && before(&h->v[i], &h->v[(i - 1) / 2])) {
        hitem t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return CAIRN_OK;
}

static hitem heap_pop(heap *h)
{
    hitem top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && before(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && before(&h->v[r], &h->v[m])) m = r;
        if (m == i) break;
        hitem t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

/* Pushes a commit (reading its time) unless already seen. */
static int enqueue(repo *r, heap *h, idset *seen, const cairn_id *id)
{
    bool added;
    TRY(idset_add(seen, id, &added));
    if (!added) return CAIRN_OK;
    commit c;
    TRY(history_load(r, id, &c));
    int64_t t = c.commit_time;
    commit_dispose(&c);
    return heap_push(h, t, id);
}

int history_walk(repo *r, const cairn_id *starts, size_t n,
                 int (*cb)(const cairn_id *id, const commit *c, void *payload), void *payload)
{
    heap h = { 0 };
    idset seen = { 0 };
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = enqueue(r, &h, &seen, &starts[i]);
    while (rc == CAIRN_OK && h.n > 0) {
        hitem it = heap_pop(&h);
        commit c;
        if ((rc = history_load(r, &it.id, &c)) < 0) break;
        rc = cb(&it.id, &c, payload);
        for (size_t i = 0; rc == CAIRN_OK && i < c.nparents; i++)
            rc = enqueue(r, &h, &seen, &c.parents[i]);
        commit_dispose(&c);
    }
    free(h.v);
    idset_free(&seen);
    return rc;
}

/* Adds every ancestor of start (itself included) to set. */
static int mark_ancestors(repo *r, const cairn_id *start, idset *set)
{
    cairn_id *stack = NULL;
    size_t n = 0, cap = 0;
    int rc = CAIRN_OK;
    bool added;
    if ((rc = idset_add(set, start, &added)) < 0) return rc;
    if (!added) return CAIRN_OK;
    for (const cairn_id *next = start; rc == CAIRN_OK && next;) {
        commit c;
        if ((rc = history_load(r, next, &c)) < 0) break;
        for (size_t i = 0; rc == CAIRN_OK && i < c.nparents; i++) {
            if ((rc = idset_add(set, &c.parents[i], &added)) < 0 || !added) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                cairn_id *ns = cairn_realloc(stack, cap * sizeof *ns);
                if (!ns) {
                    rc = ERR(CAIRN_ENOMEM, "out of memory walking history");
                    break;
                }
                stack = ns;
            }
            stack[n++] = c.parents[i];
        }
        commit_dispose(&c);
        next = n ? &stack[--n] : NULL;
    }
    free(stack);
    return rc;
}

int history_is_ancestor(repo *r, const cairn_id *anc, const cairn_id *desc, bool *out)
{
    idset s = { 0 };
    int rc = mark_ancestors(r, desc, &s);
    if (rc == CAIRN_OK) *out = idset_has(&s, anc);
    idset_free(&s);
    return rc;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, CAIRN_ID_SIZE); }

int history_merge_bases(repo *r, const cairn_id *a, const cairn_id *b, cairn_id **out, size_t *n)
{
    idset anc_a = { 0 }, seen = { 0 };
    cairn_id *cand = NULL, *stack = NULL;
    size_t nc = 0, ns = 0, cap_c = 0, cap_s = 0;
    int rc = mark_ancestors(r, a, &anc_a);
    /* walk b's ancestry; stop at (and collect) commits a also reaches */
    bool added;
    if (rc == CAIRN_OK) rc = idset_add(&seen, b, &added);
    for (const cairn_id *next = b; rc == CAIRN_OK && next;) {
        cairn_id cur = *next;
        if (idset_has(&anc_a, &cur)) {
            if (nc == cap_c) {
                cap_c = cap_c ? cap_c * 2 : 8;
                cairn_id *nv = cairn_realloc(cand, cap_c * sizeof *nv);
                if (!nv) rc = ERR(CAIRN_ENOMEM, "out of memory finding merge bases");
                else cand = nv;
            }
            if (rc == CAIRN_OK) cand[nc++] = cur;
        } else {
            commit c;
            if ((rc = history_load(r, &cur, &c)) < 0) break;
            for (size_t i = 0; rc == CAIRN_OK && i < c.nparents; i++) {
                if ((rc = idset_add(&seen, &c.parents[i], &added)) < 0 || !added) continue;
                if (ns == cap_s) {
                    cap_s = cap_s ? cap_s * 2 : 64;
                    cairn_id *nv = cairn_realloc(stack, cap_s * sizeof *nv);
                    if (!nv) {
                        rc = ERR(CAIRN_ENOMEM, "out of memory finding merge bases");
                        break;
                    }
                    stack = nv;
                }
                stack[ns++] = c.parents[i];
            }
            commit_dispose(&c);
        }
        next = ns ? &stack[--ns] : NULL;
    }
    /* keep the maximal candidates: drop one that is an ancestor of another */
    size_t keep = 0;
    for (size_t i = 0; rc == CAIRN_OK && i < nc; i++) {
        bool dominated = false;
        for (size_t j = 0; rc == CAIRN_OK && j < nc && !dominated; j++) {
            if (i == j || memcmp(cand[i].bytes, cand[j].bytes, CAIRN_ID_SIZE) == 0) continue;
            rc = history_is_ancestor(r, &cand[i], &cand[j], &dominated);
        }
        if (!dominated) cand[keep++] = cand[i];
    }
    if (rc == CAIRN_OK) {
        qsort(cand, keep, sizeof *cand, cmp_id);
        *out = cand;
        *n = keep;
        cand = NULL;
    }
    free(cand);
    free(stack);
    idset_free(&anc_a);
    idset_free(&seen);
    return rc;
}
