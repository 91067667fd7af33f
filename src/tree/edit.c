/*
 * edit.c - applying a sorted batch of edits to a tree, level by level.
 *
 * At each level the edits are merged into the nodes they fall in. Re-chunking starts at the
 * first node an edit touches (the node before it ended on a boundary that does not depend on
 * anything after it) and runs until the chunker closes a node exactly where an old node ended:
 * from there on the old nodes are reproduced unchanged, so they are kept (a "span" ends).
 * Each span turns into edits of the level above: delete the entries of the old nodes, put the
 * entries of the new ones (the key of an inner entry is the last key of its child). The same
 * procedure then runs one level up, until the root. The result is the tree a fresh build of
 * the new contents would give (history independence), at a cost of O(edits x depth) nodes.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tree.h"

typedef struct pedit {
    size_t koff;             /* the key: at this offset of the level's key arena */
    uint32_t klen;
    uint8_t op;
    uint8_t ref[NODE_REF_SIZE];
} pedit;

typedef struct chunkvec {
    chunk **v;
    uint64_t *cnt;
    size_t n, cap;
} chunkvec;

typedef struct edit_level_out {
    pedit *edits;            /* edits for the level above */
    size_t n, cap;
    cairn_buf keys;          /* their keys (copied: the nodes they come from are let go at
                                once, so a big batch does not hold every node it rewrote) */
    chunkvec root_nodes;     /* at the root level: the whole new level */
} edit_level_out;

static int cv_push(chunkvec *cv, chunk *c, uint64_t cnt)
{
    if (cv->n == cv->cap) {
        size_t ncap = cv->cap ? cv->cap * 2 : 16;
        chunk **v = cairn_realloc(cv->v, ncap * sizeof *v);
        if (!v) return ERR(CAIRN_ENOMEM, "out of memory editing a tree");
        cv->v = v;
        uint64_t *nc = cairn_realloc(cv->cnt, ncap * sizeof *nc);
        if (!nc) return ERR(CAIRN_ENOMEM, "out of memory editing a tree");
        cv->cnt = nc;
        cv->cap = ncap;
    }
    cv->v[cv->n] = c;
    cv->cnt[cv->n++] = cnt;
    return CAIRN_OK;
}

static void cv_clear(chunkvec *cv)
{
    for (size_t i = 0; i < cv->n; i++) chunk_release(cv->v[i]);
    cv->n = 0;
}

static void cv_dispose(chunkvec *cv)
{
    cv_clear(cv);
    free(cv->v);
    free(cv->cnt);
    memset(cv, 0, sizeof *cv);
}

static int out_push_ref(edit_level_out *o, const uint8_t *key, size_t klen, uint8_t op,
                        const uint8_t *ref)
{
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 64;
        pedit *e = cairn_realloc(o->edits, ncap * sizeof *e);
        if (!e) return ERR(CAIRN_ENOMEM, "out of memory editing a tree");
        o->edits = e;
        o->cap = ncap;
    }
    pedit *e = &o->edits[o->n];
    e->koff = o->keys.len;
    TRY(cairn_buf_append(&o->keys, key, klen));
    o->n++;
    e->klen = (uint32_t)klen;
    e->op = op;
    if (ref) memcpy(e->ref, ref, NODE_REF_SIZE);
    return CAIRN_OK;
}

static int out_push(edit_level_out *o, const uint8_t *key, size_t klen, uint8_t op,
                    const cairn_id *id, uint64_t cnt)
{
    uint8_t ref[NODE_REF_SIZE];
    if (id) make_ref(ref, id, cnt);
    return out_push_ref(o, key, klen, op, id ? ref : NULL);
}

static void out_clear(edit_level_out *o)
{
    o->n = 0;
    o->keys.len = 0;
    cv_clear(&o->root_nodes);
}

static void out_dispose(edit_level_out *o)
{
    free(o->edits);
    cairn_buf_dispose(&o->keys);
    cv_dispose(&o->root_nodes);
    memset(o, 0, sizeof *o);
}

static void last_key_of(const chunk *c, const uint8_t **k, size_t *klen)
{
    node n;
    node_view(&n, c->data, c->len);
    node_last_key(&n, k, klen);
}

/* Turns one span (old nodes replaced by new nodes) into edits of the level above. */
static int span_to_parent(edit_level_out *o, chunkvec *old, chunkvec *nw)
{
    size_t a = 0, b = 0;
    while (a < old->n || b < nw->n) {
        const uint8_t *ka = NULL, *kb = NULL;
        size_t kal = 0, kbl = 0;
        if (a < old->n) last_key_of(old->v[a], &ka, &kal);
        if (b < nw->n) last_key_of(nw->v[b], &kb, &kbl);
        int c = !ka ? 1 : !kb ? -1 : bytes_cmp(ka, kal, kb, kbl);
        if (c < 0) {
            TRY(out_push(o, ka, kal, EDIT_DEL, NULL, 0));
            a++;
        } else if (c > 0) {
            TRY(out_push(o, kb, kbl, EDIT_PUT, &nw->v[b]->id, nw->cnt[b]));
            b++;
        } else {
            if (memcmp(old->v[a]->id.bytes, nw->v[b]->id.bytes, CAIRN_ID_SIZE) != 0)
                TRY(out_push(o, kb, kbl, EDIT_PUT, &nw->v[b]->id, nw->cnt[b]));
            a++;
            b++;
        }
    }
    cv_clear(old);
    cv_clear(nw);
    return CAIRN_OK;
}

typedef struct span_state {
    level_writer w;
    chunkvec old, nw;
} span_state;

static int add_entry(span_state *s, chunkstore *cs, const uint8_t *k, size_t kl,
                     const uint8_t *v, size_t vl)
{
    uint64_t cnt = s->w.level == 0 ? 1 : load_le64(v + CAIRN_ID_SIZE);
    bool boundary;
    TRY(lw_add(&s->w, k, kl, v, vl, cnt, &boundary));
    if (!boundary) return CAIRN_OK;
    chunk *c;
    TRY(lw_flush(&s->w, cs, &c, &cnt));
    int rc = cv_push(&s->nw, c, cnt);
    if (rc < 0) chunk_release(c);
    return rc;
}

/* Whether an edit that replaces entry j of N keeps the entry's size (then it moves no
 * boundary: FORMAT.md, "Node boundaries"). */
static bool same_size(const node *N, uint32_t j, const tree_edit *e)
{
    if (N->level > 0) return true; /* every inner value is a 40-byte ref */
    const uint8_t *v;
    size_t vl;
    node_val(N, j, &v, &vl);
    return vl == e->vlen;
}

/* Feeds old entries [a, b) of N to the span's chunker. In step (see merge_node), the ones
 * before N's last entry go in as one run, untested. */
static int add_old(span_state *s, chunkstore *cs, const node *N, uint32_t a, uint32_t b,
                   bool in_step)
{
    if (in_step && a + 1 < N->count) {
        uint32_t run_end = MIN(b, N->count - 1);
        TRY(lw_append_run(&s->w, N, a, run_end));
        a = run_end;
    }
    for (; a < b; a++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        node_key(N, a, &k, &kl);
        if (N->level == 0) {
            node_val(N, a, &v, &vl);
        } else {
            v = node_ref(N, a);
            vl = NODE_REF_SIZE;
        }
        TRY(add_entry(s, cs, k, kl, v, vl));
    }
    return CAIRN_OK;
}

/* Merges node N with the edits that fall in it (all remaining ones when N is the last node of
 * its level), feeding the result to the span's chunker. Advances *pi past the edits used.
 *
 * When the open node starts with N's first entry and every edit so far replaced an entry of N
 * by one of the same size, the chunker is *in step* with N: at each entry it sees the count,
 * the byte size, the entry size and the key that the chunker which built N saw, so it decides
 * as that one did: no boundary before N's last entry (N is a node of a canonical tree). Runs
 * of old entries then go in as two copies, and same-size replacements without a test; the
 * last entry is tested as usual. A value update that keeps its size (a counter, a fixed-width
 * record) rewrites a leaf without a single boundary hash but the last. */
static int merge_node(span_state *s, chunkstore *cs, const node *N, bool last,
                      const tree_edit *E, size_t n, size_t *pi)
{
    const uint8_t *hi = NULL;
    size_t hil = 0;
    if (N->count) node_last_key(N, &hi, &hil);
    size_t i = *pi;
    uint32_t a = 0;
    bool in_step = s->w.n == 0 && N->count > 0;
    for (;;) {
        bool have_edit = i < n && (last || bytes_cmp(E[i].key, E[i].klen, hi, hil) <= 0);
        if (!have_edit) {
            TRY(add_old(s, cs, N, a, N->count, in_step));
            break;
        }
        bool exact = false;
        uint32_t b = a < N->count ? node_lower_bound_from(N, a, E[i].key, E[i].klen, &exact)
                                  : N->count;
        TRY(add_old(s, cs, N, a, b, in_step));
        a = b;
        const tree_edit *e = &E[i++];
        if (!exact || e->op != EDIT_PUT || !same_size(N, a, e)) in_step = false;
        if (exact) a++; /* replaced or deleted */
        if (e->op != EDIT_PUT) continue;
        if (in_step && a < N->count) { /* not N's last entry: no boundary, as in N */
            uint64_t cnt = N->level == 0 ? 1 : load_le64(e->val + CAIRN_ID_SIZE);
            TRY(lw_append(&s->w, e->key, e->klen, e->val, e->vlen, cnt));
        } else {
            TRY(add_entry(s, cs, e->key, e->klen, e->val, e->vlen));
        }
    }
    *pi = i;
    return CAIRN_OK;
}

/* Edits of at least this many entries rewrite so many leaves that keeping the new ones in the
 * chunk cache would only push out what readers use (as for a bulk build, BULK_EDITS); the old
 * ones they read, superseded, are not kept either. */
#define BULK_LEAF_EDITS 10000

/* Where a span began: its first edit, and how much output the spans before it had given. */
typedef struct span_mark {
    size_t edit;
    size_t out_n, keys_len;
} span_mark;

typedef struct markvec {
    span_mark *v;
    size_t n, cap;
} markvec;

static int mark_push(markvec *m, size_t edit, const edit_level_out *o)
{
    TRY(cairn_array_room(&m->v, &m->cap, m->n, sizeof *m->v, 256));
    m->v[m->n++] = (span_mark){ edit, o->n, o->keys.len };
    return CAIRN_OK;
}

/* Runs the spans of one level that start at edits [from, stop), into o. A span starts at the
 * node holding its first edit and may use edits at or past stop: it runs until the chunker is
 * in step with the old nodes again. *out_end is the edit after the last span (>= stop). With
 * marks, each span's start is recorded there. */
static int edit_spans(chunkstore *cs, const cairn_id *root, int level, bool root_level,
                      const tree_edit *E, size_t n, size_t from, size_t stop,
                      edit_level_out *o, markvec *marks, size_t *out_end)
{
    tree_cursor tc;
    TRY(tc_init(&tc, cs, root, level, true));
    span_state s;
    memset(&s, 0, sizeof s);
    lw_init(&s.w, level);
    if (level == 0 && n >= BULK_LEAF_EDITS) { /* as a bulk build's leaves */
        s.w.cache = false;
        tc.uncached_leaves = true; /* and the old ones, which the new ones replace */
    }
    int rc = CAIRN_OK;
    size_t i = from;
    while (rc == CAIRN_OK && i < stop) {
        if (marks && (rc = mark_push(marks, i, o)) < 0) break;
        rc = tc_seek(&tc, E[i].key, E[i].klen);
        while (rc == CAIRN_OK) {
            bool last = tc_at_last_node(&tc);
            chunk *oc = tc_chunk(&tc);
            rc = merge_node(&s, cs, tc_node(&tc), last, E, n, &i);
            if (rc < 0) break;
            chunk_retain(oc);
            if ((rc = cv_push(&s.old, oc, 0)) < 0) {
                chunk_release(oc);
                break;
            }
            if (s.w.n == 0) break; /* closed where an old node closed: in sync again */
            if (last) {
                chunk *c;
                uint64_t cnt;
                if ((rc = lw_flush(&s.w, cs, &c, &cnt)) < 0) break;
                if ((rc = cv_push(&s.nw, c, cnt)) < 0) chunk_release(c);
                break;
            }
            rc = tc_next(&tc);
        }
        if (rc == CAIRN_OK && root_level) {
            /* the root is the only node of its level: the new nodes are the whole level */
            for (size_t j = 0; rc == CAIRN_OK && j < s.nw.n; j++) {
                chunk_retain(s.nw.v[j]);
                rc = cv_push(&o->root_nodes, s.nw.v[j], s.nw.cnt[j]);
                if (rc < 0) chunk_release(s.nw.v[j]);
            }
        }
        if (rc == CAIRN_OK) rc = span_to_parent(o, &s.old, &s.nw);
    }
    *out_end = i;
    cv_dispose(&s.old);
    cv_dispose(&s.nw);
    lw_dispose(&s.w);
    tc_dispose(&tc);
    return rc;
}

/* ---- one level on several threads ----
 * The edits of a level are cut into parts by count, and each part but the first runs on a
 * thread of its own as if a span started at its first edit. That guess is only right when the
 * true pass (span after span from the first edit) starts a span there too. It cannot when the
 * part's first node holds edits of the part before (that node's span merges them all), so a
 * part starts at its first edit past that node, and is not run at all when there is none or
 * that node is the level's last (part_first_span). The span before may still run on past the
 * part's first edit. So the parts are
 * joined in order, each from the first of its spans that starts exactly where the output so far
 * ends (a span's output depends only on its first edit, the edits after it and the old tree,
 * so from there on the part's output is the true one); the edits from where the output ends to
 * that span are run again on the calling thread. The result is the serial pass's, byte for
 * byte: history independence holds whatever the cut. What a part computed before its join
 * point is dropped (its chunks were written: garbage for gc, a span or two a part). */

/* Parts of fewer edits than this are not worth a thread. */
#define PART_MIN_EDITS 4096
#define EDIT_THREADS_MAX 4

typedef struct level_part {
    chunkstore *cs;
    const cairn_id *root;
    int level;
    const tree_edit *E;
    size_t n, from, stop, end;
    edit_level_out o;
    markvec marks;
    int rc;
    char *msg;               /* the message of a failure (it happened on this part's thread) */
    pthread_t thread;
    bool started;
    bool skipped;            /* no span of the part can be the true pass's: not run */
} level_part;

static void *run_part(void *arg)
{
    level_part *p = arg;
    p->rc = edit_spans(p->cs, p->root, p->level, false, p->E, p->n, p->from, p->stop, &p->o,
                       &p->marks, &p->end);
    if (p->rc < 0) p->msg = cairn_strdup(cairn_error_last()->message);
    return NULL;
}

/* Appends part p's output from its mark k on to o. */
static int splice(edit_level_out *o, const level_part *p, size_t k)
{
    for (size_t j = p->marks.v[k].out_n; j < p->o.n; j++) {
        const pedit *e = &p->o.edits[j];
        TRY(out_push_ref(o, (const uint8_t *)p->o.keys.data + e->koff, e->klen, e->op,
                         e->op == EDIT_PUT ? e->ref : NULL));
    }
    return CAIRN_OK;
}

/* Joins part p to the output o, which holds the true pass up to edit *cur. */
static int join_part(chunkstore *cs, const cairn_id *root, int level, const tree_edit *E,
                     size_t n, edit_level_out *o, const level_part *p, size_t *cur,
                     tree_apply_stats *st)
{
    size_t k = 0;
    bool redone = false;
    for (;;) {
        while (k < p->marks.n && p->marks.v[k].edit < *cur) k++;
        if (k == p->marks.n) { /* the true pass is past every span of p */
            if (st) st->parts_unused++;
            return CAIRN_OK;
        }
        if (p->marks.v[k].edit == *cur) break;
        /* the true pass from *cur to p's next span: on this thread */
        TRY(edit_spans(cs, root, level, false, E, n, *cur, p->marks.v[k].edit, o, NULL, cur));
        redone = true;
    }
    TRY(splice(o, p, k));
    *cur = p->end;
    if (st) {
        if (redone || k > 0) st->joins_late++;
        else st->joins_direct++;
    }
    return CAIRN_OK;
}

/* Moves *from past the edits that share the node of E[*from - 1] (the true pass never starts a
 * span at them: the span that merges E[*from - 1] merges them too). Sets *none when no span of
 * the part can be one of the true pass's: *from reaches stop, or that node is the level's last
 * (which takes every remaining edit). Without this a part whose first edits fall in a node of
 * the part before, as a run of appends past the last key all do, is thrown away whole. */
static int part_first_span(tree_cursor *tc, const tree_edit *E, size_t *from, size_t stop,
                           bool *none)
{
    TRY(tc_seek(tc, E[*from - 1].key, E[*from - 1].klen));
    *none = tc_at_last_node(tc);
    if (*none) return CAIRN_OK;
    const uint8_t *hi = NULL;
    size_t hil = 0;
    if (tc_node(tc)->count) node_last_key(tc_node(tc), &hi, &hil);
    size_t lo = *from, up = stop; /* the first edit in [from, stop) past hi, by bisection */
    while (lo < up) {
        size_t mid = lo + (up - lo) / 2;
        if (hi && bytes_cmp(E[mid].key, E[mid].klen, hi, hil) <= 0)
            lo = mid + 1;
        else
            up = mid;
    }
    *from = lo;
    *none = lo >= stop;
    return CAIRN_OK;
}

/* Cuts the edits into parts and starts a thread for each but the first that may start a span
 * of the true pass (part_first_span). */
static int start_parts(chunkstore *cs, const cairn_id *root, int level, const tree_edit *E,
                       size_t n, int nparts, level_part *parts, tree_apply_stats *st)
{
    tree_cursor tc;
    TRY(tc_init(&tc, cs, root, level, true));
    if (level == 0 && n >= BULK_LEAF_EDITS) tc.uncached_leaves = true; /* as edit_spans */
    int rc = CAIRN_OK;
    for (int q = 1; rc == CAIRN_OK && q < nparts; q++) {
        level_part *p = &parts[q];
        *p = (level_part){ .cs = cs, .root = root, .level = level, .E = E, .n = n,
                           .from = n * (size_t)q / (size_t)nparts,
                           .stop = n * (size_t)(q + 1) / (size_t)nparts };
        rc = part_first_span(&tc, E, &p->from, p->stop, &p->skipped);
        if (rc < 0 || p->skipped) {
            if (rc == CAIRN_OK && st) st->parts_skipped++;
            continue;
        }
        p->started = pthread_create(&p->thread, NULL, run_part, p) == 0;
    }
    tc_dispose(&tc);
    return rc;
}

static int edit_level_parallel(chunkstore *cs, const cairn_id *root, int level,
                               const tree_edit *E, size_t n, int nparts, edit_level_out *o,
                               tree_apply_stats *st)
{
    level_part *parts = cairn_calloc((size_t)nparts, sizeof *parts);
    if (!parts) return ERR(CAIRN_ENOMEM, "out of memory editing a tree");
    int rc = start_parts(cs, root, level, E, n, nparts, parts, st);
    size_t cur = 0;
    if (rc == CAIRN_OK)
        rc = edit_spans(cs, root, level, false, E, n, 0, n / (size_t)nparts, o, NULL, &cur);
    for (int q = 1; q < nparts; q++) {
        level_part *p = &parts[q];
        if (p->started) pthread_join(p->thread, NULL);
        else if (rc == CAIRN_OK && !p->skipped) run_part(p); /* no thread: here, still correct */
    }
    for (int q = 1; rc == CAIRN_OK && q < nparts; q++) {
        level_part *p = &parts[q];
        if (p->skipped) continue; /* the true pass runs its edits (below or in a later join) */
        if (p->rc < 0)
            rc = p->msg ? ERR(p->rc, "%s", p->msg)
                        : ERR(p->rc, "editing a tree failed on a helper thread (its message "
                              "was lost: out of memory keeping it)");
        else
            rc = join_part(cs, root, level, E, n, o, p, &cur, st);
    }
    if (rc == CAIRN_OK && cur < n) /* the true pass ran past the last part's spans: go on */
        rc = edit_spans(cs, root, level, false, E, n, cur, n, o, NULL, &cur);
    if (rc == CAIRN_OK && st) st->parts += (uint32_t)nparts;
    for (int q = 1; q < nparts; q++) {
        out_dispose(&parts[q].o);
        free(parts[q].marks.v);
        free(parts[q].msg);
    }
    free(parts);
    return rc;
}

static int edit_level(chunkstore *cs, const cairn_id *root, int level, bool root_level,
                      const tree_edit *E, size_t n, const tree_apply_opts *opt,
                      edit_level_out *o, tree_apply_stats *st)
{
    int nparts = opt->threads;
    if (nparts > 1 && opt->part_min && n / opt->part_min < (size_t)nparts)
        nparts = (int)(n / opt->part_min);
    if ((size_t)nparts > n) nparts = (int)n; /* a part starts at an edit of its own */
    if (root_level || nparts < 2) {
        size_t end = 0;
        return edit_spans(cs, root, level, root_level, E, n, 0, n, o, NULL, &end);
    }
    return edit_level_parallel(cs, root, level, E, n, nparts, o, st);
}

/* An inner root with one child is not canonical: its child is the root. */
static int collapse_root(chunkstore *cs, cairn_id *root)
{
    for (;;) {
        chunk *c;
        node n;
        TRY(node_load(cs, &c, &n, root, -1));
        bool single = n.level > 0 && n.count == 1;
        if (single) {
            uint64_t cnt;
            node_child(&n, 0, root, &cnt);
        }
        chunk_release(c);
        if (!single) return CAIRN_OK;
    }
}

/* Edits usually point into a batch arena in arrival order, so walking them in key order jumps
 * around memory: fetch a few entries ahead to hide the cache misses. */
#define PREFETCH_AHEAD 8
/* A fresh build of at least this many entries is a bulk load: its leaves bypass the cache. */
#define BULK_EDITS 100000

static inline void prefetch_edit(const tree_edit *e)
{
    __builtin_prefetch(e->key);
    __builtin_prefetch(e->val);
    if (e->vlen > 64) __builtin_prefetch(e->val + 64);
}

static int build_fresh(chunkstore *cs, cairn_id *out_root, const tree_edit *E, size_t n)
{
    tree_builder b;
    tb_init(&b, cs, 0);
    if (n >= BULK_EDITS) tb_skip_leaf_cache(&b);
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        if (i + PREFETCH_AHEAD < n) prefetch_edit(&E[i + PREFETCH_AHEAD]);
        if (E[i].op == EDIT_PUT) rc = tb_add(&b, E[i].key, E[i].klen, E[i].val, E[i].vlen, 1);
    }
    if (rc == CAIRN_OK) rc = tb_finish(&b, out_root);
    tb_dispose(&b);
    return rc;
}

static int build_above(chunkstore *cs, cairn_id *out_root, int level, const chunkvec *nodes)
{
    if (nodes->n == 0) return tree_empty(cs, out_root);
    if (nodes->n == 1) {
        *out_root = nodes->v[0]->id;
        return CAIRN_OK;
    }
    tree_builder b;
    tb_init(&b, cs, level + 1);
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < nodes->n; i++) {
        const uint8_t *k;
        size_t kl;
        uint8_t ref[NODE_REF_SIZE];
        last_key_of(nodes->v[i], &k, &kl);
        make_ref(ref, &nodes->v[i]->id, nodes->cnt[i]);
        rc = tb_add(&b, k, kl, ref, sizeof ref, nodes->cnt[i]);
    }
    if (rc == CAIRN_OK) rc = tb_finish(&b, out_root);
    tb_dispose(&b);
    return rc;
}

/* Checks the caller's promise: keys strictly increasing, within limits. */
static int check_edits(const tree_edit *E, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        FAIL_IF(E[i].op != EDIT_PUT && E[i].op != EDIT_DEL, CAIRN_EINVAL, "bad edit operation");
        FAIL_IF(i > 0 && bytes_cmp(E[i - 1].key, E[i - 1].klen, E[i].key, E[i].klen) >= 0,
                CAIRN_EINVAL, "tree edits are not sorted by key without duplicates (at %zu)", i);
    }
    return CAIRN_OK;
}

int tree_apply(chunkstore *cs, cairn_id *out_root, const cairn_id *root, const tree_edit *E,
               size_t n)
{
    tree_apply_opts opt = tree_apply_opts_for(n, 1);
    return tree_apply_with(cs, out_root, root, E, n, &opt, NULL);
}

tree_apply_opts tree_apply_opts_for(size_t n, int runners)
{
    tree_apply_opts opt = { 1, PART_MIN_EDITS };
    /* the CPUs only matter (and are only asked for) when the level can be cut in two */
    if (n >= 2 * PART_MIN_EDITS)
        opt.threads = MIN(MAX(1, base_cpus() / MAX(1, runners)), EDIT_THREADS_MAX);
    return opt;
}

int tree_apply_with(chunkstore *cs, cairn_id *out_root, const cairn_id *root,
                    const tree_edit *E, size_t n, const tree_apply_opts *opt,
                    tree_apply_stats *stats)
{
    if (stats) memset(stats, 0, sizeof *stats);
    TRY(check_edits(E, n));
    return tree_apply_sorted(cs, out_root, root, E, n, opt, stats);
}

int tree_apply_sorted(chunkstore *cs, cairn_id *out_root, const cairn_id *root,
                      const tree_edit *E, size_t n, const tree_apply_opts *opt,
                      tree_apply_stats *stats)
{
    if (stats) memset(stats, 0, sizeof *stats);
    if (n == 0) {
        *out_root = *root;
        return CAIRN_OK;
    }
    chunk *rc_chunk;
    node rn;
    TRY(node_load(cs, &rc_chunk, &rn, root, -1));
    int R = rn.level;
    bool empty = R == 0 && rn.count == 0;
    chunk_release(rc_chunk);
    if (empty) return build_fresh(cs, out_root, E, n);

    edit_level_out bufs[2];
    memset(bufs, 0, sizeof bufs);
    tree_edit *conv = NULL;
    size_t conv_cap = 0;
    const tree_edit *cur = E;
    size_t ncur = n;
    int rc = CAIRN_OK;
    cairn_id result = *root;
    for (int level = 0;; level++) {
        edit_level_out *o = &bufs[level & 1];
        out_clear(o);
        rc = edit_level(cs, root, level, level == R, cur, ncur, opt, o, stats);
        out_clear(&bufs[(level + 1) & 1]); /* the edits of this level are used up */
        if (rc < 0) break;
        if (level == R) {
            rc = build_above(cs, &result, R, &o->root_nodes);
            break;
        }
        if (o->n == 0) break; /* nothing changed above this level */
        if (o->n > conv_cap) {
            tree_edit *nc = cairn_realloc(conv, o->n * sizeof *nc);
            if (!nc) {
                rc = ERR(CAIRN_ENOMEM, "out of memory editing a tree");
                break;
            }
            conv = nc;
            conv_cap = o->n;
        }
        for (size_t i = 0; i < o->n; i++)
            conv[i] = (tree_edit){ (const uint8_t *)o->keys.data + o->edits[i].koff,
                                   o->edits[i].ref, o->edits[i].klen, NODE_REF_SIZE,
                                   o->edits[i].op };
        cur = conv;
        ncur = o->n;
    }
    if (rc == CAIRN_OK) rc = collapse_root(cs, &result);
    if (rc == CAIRN_OK) *out_root = result;
    free(conv);
    out_dispose(&bufs[0]);
    out_dispose(&bufs[1]);
    return rc;
}
