/*
 * transfer.c - copying what roots reach from one store to another, sending only what the
 * destination lacks (see transfer.h for the walk and the invariant it keeps).
 *
 * Chunks move as the frames the source stores (compressed or not), never re-encoded; each is
 * decoded once to be re-hashed against its id and, for the chunks that name others, to find
 * what they name. Table leaves name nothing: each get_many pass collects the ones it reads in
 * one reused buffer and puts them as the pass ends (put_leaves), rather than holding each as a
 * frame of its own until its node's batch is put.
 */
#include <stdlib.h>

#include "base/hash.h"
#include "commit.h"
#include "gc.h"
#include "idmap.h"
#include "retain.h"
#include "transfer.h"
#include "tree/node.h"

#define W_LEAF 100           /* a table leaf: verified and copied, never decoded */
#define PROGRESS_EVERY 0.2   /* seconds between progress calls */
#define XREPO_CACHE_BYTES (8u << 20)
#define COMMIT_PUT_BATCH 256 /* commits re-read from the source at once when copying them */

typedef struct group group;

typedef struct item {
    cairn_id id;
    int what;
    uint8_t *frame;          /* owned */
    size_t len;
    group *ahead;            /* owned: its missing children, found ahead (copy_tree); NULL:
                                not asked about yet */
    bool put;                /* put already (a table leaf, when it was read: put_leaves) */
} item;

struct group {
    item *v;
    size_t n, next;
    bool read;               /* (an item's `ahead`) its frames are read */
};

typedef struct kid {
    cairn_id id;
    int what;
} kid;

typedef struct kids {
    kid *v;
    size_t n, cap;
} kids;

void xfer_init(xfer *x, cairn_store *src, cairn_store *dst, cairn_transfer_stats *stats,
               void (*progress)(const cairn_transfer_stats *, void *), void *payload)
{
    memset(x, 0, sizeof *x);
    memset(stats, 0, sizeof *stats);
    x->src = src;
    x->dst = dst;
    x->stats = stats;
    x->progress = progress;
    x->payload = payload;
    x->start = clock_now();
}

void xfer_dispose(xfer *x)
{
    cairn_buf_dispose(&x->plain);
    cairn_buf_dispose(&x->leaves);
    free(x->leaf);
    idmap_dispose(&x->skipped);
}

/* Whether the table version (name, root) is one the source's retention let go: not copied. */
static int skips(xfer *x, const uint8_t *name, size_t nlen, const cairn_id *root, bool *out)
{
    *out = false;
    if (!x->skip || !x->skip->n) return CAIRN_OK;
    cairn_id pk;
    retain_pair_key(&pk, (const char *)name, nlen, root);
    if (!idmap_find(x->skip, &pk)) return CAIRN_OK;
    *out = true;
    TRY(idmap_add(&x->skipped, &pk, 0, NULL, NULL));
    x->stats->pruned = x->skipped.n;
    return CAIRN_OK;
}

static void count(xfer *x, uint64_t *field)
{
    (*field)++;
    x->stats->requests++;
}

void xfer_count_ref(xfer *x) { count(x, &x->stats->ref_calls); }

void xfer_report(xfer *x)
{
    x->stats->seconds = clock_now() - x->start;
    if (x->progress) x->progress(x->stats, x->payload);
    x->last_progress = clock_now();
}

static void maybe_report(xfer *x)
{
    if (x->progress && clock_now() - x->last_progress >= PROGRESS_EVERY) xfer_report(x);
}

static void group_free(group *g)
{
    for (size_t i = 0; g->v && i < g->n; i++) {
        free(g->v[i].frame);
        if (g->v[i].ahead) {
            group_free(g->v[i].ahead);
            free(g->v[i].ahead);
        }
    }
    free(g->v);
    memset(g, 0, sizeof *g);
}

static int kids_add(kids *k, const cairn_id *id, int what)
{
    TRY(cairn_array_room(&k->v, &k->cap, k->n, sizeof *k->v, 64));
    k->v[k->n++] = (kid){ *id, what };
    return CAIRN_OK;
}

/* ---- reading the source: every chunk verified ---- */

/* Decodes a frame from the source into x->plain and checks that it hashes to id. */
static int verify_frame(xfer *x, const cairn_id *id, const void *frame, size_t len)
{
    int rc = frame_decode(&x->plain, frame, len);
    if (rc == CAIRN_ENOMEM) return rc;
    cairn_id got;
    if (rc == CAIRN_OK) hash_sha256(&got, x->plain.data, x->plain.len);
    if (rc == CAIRN_OK && memcmp(got.bytes, id->bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    return CORRUPT("chunk %s in the %s store %s is damaged: %s; nothing that names it was "
                   "copied and no ref moved; run 'cairn verify' there and restore it from a "
                   "replica or backup",
                   hex, x->src->kind, x->src->location,
                   rc == CAIRN_OK ? "its content does not hash to its id"
                                  : "its frame does not decode");
}

typedef struct fetch_ctx {
    xfer *x;
    item *items;             /* items[i].id asked for; frames filled in */
} fetch_ctx;

static int fetch_one(size_t i, int rc, const void *data, size_t len, void *payload)
{
    fetch_ctx *f = payload;
    item *it = &f->items[i];
    char hex[CAIRN_ID_HEX_SIZE];
    if (rc == CAIRN_ENOTFOUND) {
        cairn_id_to_hex(hex, &it->id);
        return ERR(CAIRN_ENOTFOUND, "chunk %s (a %s) is missing from the %s store %s, though a "
                   "chunk there names it; run 'cairn verify' there",
                   hex, roots_what_name(it->what == W_LEAF ? W_TABLE : it->what),
                   f->x->src->kind, f->x->src->location);
    }
    if (rc < 0) {
        cairn_id_to_hex(hex, &it->id);
        return cairn_error_prefix(rc, "reading chunk %s from %s", hex, f->x->src->location);
    }
    TRY(verify_frame(f->x, &it->id, data, len));
    if (it->what == W_LEAF) { /* put with the others of this pass (put_leaves) */
        xfer *x = f->x;
        TRY(cairn_array_room(&x->leaf, &x->capleaf, x->nleaf, sizeof *x->leaf, 256));
        x->leaf[x->nleaf++] =
            (cairn_store_chunk){ it->id, (const void *)(uintptr_t)x->leaves.len, len };
        TRY(cairn_buf_append(&x->leaves, data, len));
        free(it->frame);
        it->frame = NULL;
        it->len = len;
        it->put = true;
        return 0;
    }
    free(it->frame);
    it->frame = cairn_malloc(len ? len : 1);
    FAIL_IF(!it->frame, CAIRN_ENOMEM, "out of memory copying chunks");
    memcpy(it->frame, data, len);
    it->len = len;
    return 0;
}

static void counted(xfer *x, const cairn_store_chunk *c, size_t n, int what);

/* Puts the table leaves a get_many pass read (x->leaf, bytes in x->leaves), XFER_PUT_BYTES per
 * put_many call. */
static int put_leaves(xfer *x)
{
    for (size_t i = 0; i < x->nleaf; i++)
        x->leaf[i].data = x->leaves.data + (uintptr_t)x->leaf[i].data;
    int rc = CAIRN_OK;
    for (size_t off = 0, m; rc == CAIRN_OK && off < x->nleaf; off += m) {
        size_t bytes = 0;
        for (m = 0; off + m < x->nleaf && (m == 0 || bytes + x->leaf[off + m].len <= XFER_PUT_BYTES);
             m++)
            bytes += x->leaf[off + m].len;
        count(x, &x->stats->put_calls);
        rc = cairn_store_put_many(x->dst, x->leaf + off, m);
        if (rc < 0) rc = cairn_error_prefix(rc, "writing chunks to %s", x->dst->location);
        else counted(x, x->leaf + off, m, W_LEAF);
    }
    x->nleaf = 0;
    x->leaves.len = 0;
    return rc;
}

/* Reads items[0..n) (ids set) from the source, verified, into their frames; table leaves are
 * put as soon as their pass ends (item.put) instead. */
static int fetch(xfer *x, item *items, size_t n)
{
    fetch_ctx f = { x, items };
    for (size_t off = 0; off < n; off += XFER_BATCH) {
        size_t m = n - off < XFER_BATCH ? n - off : XFER_BATCH;
        cairn_id *ids = cairn_malloc(m * sizeof *ids);
        FAIL_IF(!ids, CAIRN_ENOMEM, "out of memory copying chunks");
        for (size_t i = 0; i < m; i++) ids[i] = items[off + i].id;
        count(x, &x->stats->get_calls);
        f.items = items + off;
        x->nleaf = 0;
        x->leaves.len = 0;
        int rc = cairn_store_get_many(x->src, ids, m, fetch_one, &f);
        free(ids);
        if (rc == CAIRN_OK) rc = put_leaves(x);
        TRY(rc);
    }
    maybe_report(x);
    return CAIRN_OK;
}

/* Asks the destination about k's chunks (XFER_HAS_BATCH per has_many): *out lists the ones it
 * lacks, in k's order, ids only; *out_lacks (when not NULL; caller frees) says for each of k's
 * chunks whether it is among them. */
static int ask(xfer *x, const kids *k, bool **out_lacks, group *out)
{
    memset(out, 0, sizeof *out);
    if (out_lacks) *out_lacks = NULL;
    if (!k->n) return CAIRN_OK;
    int *rcs = cairn_malloc(k->n * sizeof *rcs);
    cairn_id *ids = cairn_malloc(k->n * sizeof *ids);
    bool *lacks = cairn_calloc(k->n, sizeof *lacks);
    out->v = cairn_calloc(k->n, sizeof *out->v);
    int rc = rcs && ids && lacks && out->v ? CAIRN_OK
                                           : ERR(CAIRN_ENOMEM, "out of memory copying chunks");
    for (size_t i = 0; rc == CAIRN_OK && i < k->n; i++) ids[i] = k->v[i].id;
    for (size_t off = 0; rc == CAIRN_OK && off < k->n; off += XFER_HAS_BATCH) {
        size_t m = k->n - off < XFER_HAS_BATCH ? k->n - off : XFER_HAS_BATCH;
        count(x, &x->stats->has_calls);
        rc = cairn_store_has_many(x->dst, ids + off, m, rcs + off);
        if (rc < 0) rc = cairn_error_prefix(rc, "asking %s which chunks it has", x->dst->location);
    }
    for (size_t i = 0; rc == CAIRN_OK && i < k->n; i++) {
        if (rcs[i] == CAIRN_OK) {
            x->stats->present++;
        } else if (rcs[i] == CAIRN_ENOTFOUND) {
            lacks[i] = true;
            out->v[out->n].id = k->v[i].id;
            out->v[out->n++].what = k->v[i].what;
        } else {
            rc = cairn_error_prefix(rcs[i], "asking %s for a chunk", x->dst->location);
        }
    }
    free(rcs);
    free(ids);
    if (rc == CAIRN_OK && out_lacks) *out_lacks = lacks;
    else free(lacks);
    if (rc != CAIRN_OK) group_free(out);
    return rc;
}

/* Which of k's chunks the destination lacks: read them from the source into *out (one item
 * each, in k's order). */
static int missing(xfer *x, const kids *k, group *out)
{
    TRY(ask(x, k, NULL, out));
    int rc = fetch(x, out->v, out->n);
    if (rc != CAIRN_OK) group_free(out);
    return rc;
}

/* ---- writing the destination ---- */

static int flush_dst(xfer *x)
{
    if (!x->dirty) return CAIRN_OK;
    count(x, &x->stats->flushes);
    int rc = x->dst->flush(x->dst);
    if (rc < 0) return cairn_error_prefix(rc, "flushing %s", x->dst->location);
    x->dirty = false;
    return CAIRN_OK;
}

/* Whether the destination keeps puts in order (CAIRN_STORE_CAP_ORDERED): what it holds after
 * a kill is then a prefix of the puts, and the walk (children first) needs no flush between a
 * chunk's children and the chunk. */
static bool ordered_dst(const xfer *x)
{
    return x->dst->version >= 6 && (x->dst->caps & CAIRN_STORE_CAP_ORDERED);
}

/* Counts chunks c[0..n) put (of kind what). */
static void counted(xfer *x, const cairn_store_chunk *c, size_t n, int what)
{
    x->dirty = true;
    for (size_t i = 0; i < n; i++) {
        x->stats->chunks++;
        x->stats->bytes += c[i].len;
        if (what == W_COMMIT) x->stats->commits++;
    }
}

/* Puts items[0..n) (those not put already). Items that name other chunks (named) are put only
 * after a flush of everything put before them (or, on an ordered destination, after it in put
 * order), so the destination never holds a chunk without what it names. */
static int put_items(xfer *x, const item *items, size_t n, bool named)
{
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) todo += !items[i].put;
    if (!todo) return CAIRN_OK;
    if (named && !ordered_dst(x)) TRY(flush_dst(x));
    cairn_store_chunk batch[64];
    int whats[64];
    size_t off = 0;
    while (off < n) {
        size_t m = 0, bytes = 0;
        for (; off < n && m < sizeof batch / sizeof batch[0]; off++) {
            if (items[off].put) continue; /* (before the limit: it is not in the batch) */
            if (m && bytes + items[off].len > XFER_PUT_BYTES) break;
            batch[m] = (cairn_store_chunk){ items[off].id, items[off].frame, items[off].len };
            whats[m++] = items[off].what;
            bytes += items[off].len;
        }
        if (!m) continue;
        count(x, &x->stats->put_calls);
        int rc = cairn_store_put_many(x->dst, batch, m);
        if (rc < 0) return cairn_error_prefix(rc, "writing chunks to %s", x->dst->location);
        for (size_t i = 0; i < m; i++) counted(x, &batch[i], 1, whats[i]);
    }
    maybe_report(x);
    return CAIRN_OK;
}

/* ---- trees ---- */

/* What a tree node names: for a catalog, its children (inner) or table roots (leaves); for a
 * table, its children (leaves below level 1 are W_LEAF: never decoded). */
static int node_kids(xfer *x, const item *it, kids *out)
{
    out->n = 0;
    TRY(frame_decode(&x->plain, it->frame, it->len));
    char hex[CAIRN_ID_HEX_SIZE];
    int rc = node_check(x->plain.data, x->plain.len);
    if (rc < 0) {
        cairn_id_to_hex(hex, &it->id);
        return cairn_error_prefix(rc, "%s %s in %s", roots_what_name(it->what), hex,
                                  x->src->location);
    }
    node n;
    node_view(&n, x->plain.data, x->plain.len);
    bool catalog = it->what == W_CATALOG;
    for (uint32_t i = 0; i < n.count; i++) {
        if (n.level == 0) {
            if (!catalog) break;
            const uint8_t *k, *v;
            size_t kl, vl;
            tabledesc d;
            node_key(&n, i, &k, &kl);
            node_val(&n, i, &v, &vl);
            rc = tabledesc_decode(&d, v, vl);
            if (rc < 0) {
                cairn_id_to_hex(hex, &it->id);
                return cairn_error_prefix(rc, "catalog node %s in %s", hex, x->src->location);
            }
            bool skip;
            TRY(skips(x, k, kl, &d.root, &skip));
            if (!skip) TRY(kids_add(out, &d.root, W_TABLE));
            continue;
        }
        cairn_id child;
        uint64_t cnt;
        node_child(&n, i, &child, &cnt);
        TRY(kids_add(out, &child, catalog ? W_CATALOG : n.level == 1 ? W_LEAF : W_TABLE));
    }
    return CAIRN_OK;
}

typedef struct gstack {
    group *v;
    size_t n, cap;
} gstack;

/* Asks about the children of the nodes of g from g->next on (those not asked about yet), as
 * many nodes as have at most XFER_HAS_BATCH children together (at least one), in one has_many
 * pass: each node's missing children are left in its item's `ahead`, in the order the node
 * names them, ids only (read by read_ahead). */
static int ask_ahead(xfer *x, group *g)
{
    kids all = { NULL, 0, 0 }, one = { NULL, 0, 0 };
    size_t first = g->next, last = first;
    size_t *ends = cairn_malloc((g->n - first + 1) * sizeof *ends); /* where node j's kids end */
    int rc = ends ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory copying chunks");
    for (; rc == CAIRN_OK && last < g->n; last++) {
        item *it = &g->v[last];
        if (it->what != W_LEAF && !it->ahead) {
            rc = node_kids(x, it, &one);
            if (rc != CAIRN_OK) break;
            if (last > first && all.n + one.n > XFER_HAS_BATCH) break;
            for (size_t i = 0; rc == CAIRN_OK && i < one.n; i++)
                rc = kids_add(&all, &one.v[i].id, one.v[i].what);
        }
        ends[last - first] = all.n;
    }
    bool *lacks = NULL;
    group miss;
    memset(&miss, 0, sizeof miss);
    if (rc == CAIRN_OK) rc = ask(x, &all, &lacks, &miss);
    /* hand each node its run of miss (in the order of all) */
    size_t from = 0, at = 0;
    for (size_t j = first; rc == CAIRN_OK && j < last; j++) {
        item *it = &g->v[j];
        size_t end = ends[j - first], cnt = 0;
        if (it->what == W_LEAF || it->ahead) {
            from = end;
            continue;
        }
        for (size_t i = from; i < end; i++) cnt += lacks[i];
        it->ahead = cairn_calloc(1, sizeof *it->ahead);
        if (it->ahead && cnt) it->ahead->v = cairn_calloc(cnt, sizeof *it->ahead->v);
        if (!it->ahead || (cnt && !it->ahead->v)) {
            rc = ERR(CAIRN_ENOMEM, "out of memory copying chunks");
            break;
        }
        if (cnt) memcpy(it->ahead->v, miss.v + at, cnt * sizeof *miss.v); /* ids, no frames */
        it->ahead->n = cnt;
        it->ahead->read = cnt == 0;
        at += cnt;
        from = end;
    }
    free(ends);
    free(lacks);
    free(all.v);
    free(one.v);
    group_free(&miss);
    return rc;
}

/* Reads ahead for the nodes of g from g->next on, in two steps sized by what each holds: their
 * children are asked about XFER_HAS_BATCH at a time (ask_ahead: ids are small), and the missing
 * ones of as many nodes as have at most XFER_BATCH of them together (at least one node) are
 * read in one get_many pass (frames are not), so that a remote store on either side sees a few
 * large batches (many requests in flight, one log listing per has_many) rather than one small
 * batch per node. */
static int read_ahead(xfer *x, group *g)
{
    if (!g->v[g->next].ahead) TRY(ask_ahead(x, g));
    size_t total = 0, last = g->next;
    for (; last < g->n; last++) {
        const item *it = &g->v[last];
        if (it->what == W_LEAF || (it->ahead && it->ahead->read)) continue;
        if (!it->ahead || (last > g->next && total + it->ahead->n > XFER_BATCH)) break;
        total += it->ahead->n;
    }
    group want = { cairn_calloc(total ? total : 1, sizeof(item)), total, 0, false };
    if (!want.v) return ERR(CAIRN_ENOMEM, "out of memory copying chunks");
    size_t at = 0;
    for (size_t j = g->next; j < last; j++) {
        group *a = g->v[j].ahead;
        if (!a || a->read) continue;
        for (size_t i = 0; i < a->n; i++)
            want.v[at++] = (item){ a->v[i].id, a->v[i].what, NULL, 0, NULL, false };
    }
    int rc = fetch(x, want.v, want.n);
    at = 0;
    for (size_t j = g->next; rc == CAIRN_OK && j < last; j++) { /* move the frames over */
        group *a = g->v[j].ahead;
        if (!a || a->read) continue;
        for (size_t i = 0; i < a->n; i++, at++) {
            a->v[i].frame = want.v[at].frame;
            a->v[i].len = want.v[at].len;
            a->v[i].put = want.v[at].put;
            want.v[at].frame = NULL;
        }
        a->read = true;
    }
    group_free(&want);
    return rc;
}

/* Copies the tree rooted at root (W_CATALOG or W_TABLE) depth first: one group per node (its
 * children the destination lacks), each put once everything below it is. */
static int copy_tree(xfer *x, const cairn_id *root, int what)
{
    kids k = { NULL, 0, 0 };
    gstack s = { NULL, 0, 0 };
    group g;
    int rc = kids_add(&k, root, what);
    if (rc == CAIRN_OK) rc = missing(x, &k, &g);
    if (rc == CAIRN_OK && g.n) {
        rc = cairn_array_room(&s.v, &s.cap, s.n, sizeof *s.v, 16);
        if (rc == CAIRN_OK) s.v[s.n++] = g;
        else group_free(&g);
    } else if (rc == CAIRN_OK) {
        group_free(&g);
    }
    while (rc == CAIRN_OK && s.n) {
        group *top = &s.v[s.n - 1];
        if (top->next < top->n) {
            item *it = &top->v[top->next];
            if (it->what == W_LEAF) {
                top->next++;
                continue;
            }
            if (!it->ahead || !it->ahead->read) rc = read_ahead(x, top);
            if (rc != CAIRN_OK) break;
            top->next++;
            g = *it->ahead;
            free(it->ahead);
            it->ahead = NULL;
            if (rc == CAIRN_OK && g.n) {
                rc = cairn_array_room(&s.v, &s.cap, s.n, sizeof *s.v, 16);
                if (rc == CAIRN_OK) s.v[s.n++] = g;
                else group_free(&g);
            } else if (rc == CAIRN_OK) {
                group_free(&g);
            }
            continue;
        }
        bool named = false;
        for (size_t i = 0; i < top->n; i++) named |= top->v[i].what != W_LEAF;
        rc = put_items(x, top->v, top->n, named);
        group_free(top);
        s.n--;
    }
    while (s.n) group_free(&s.v[--s.n]);
    free(s.v);
    free(k.v);
    return rc;
}

/* ---- history: commits, reflog entries, root records ---- */

#define H_PRESENT (IDMAP_EMPTY - 1) /* idmap value: the destination has the commit */
#define H_PENDING (IDMAP_EMPTY - 2) /* asked about in the batch being sent */

typedef struct hcommit {
    cairn_id id;
    cairn_id catalog;
    cairn_id *parents;       /* owned */
    uint32_t nparents;
    uint32_t next;           /* topological sort: next parent to visit */
    uint8_t state;           /* 0 new, 1 on the sort's stack, 2 emitted */
} hcommit;

typedef struct hchain {      /* a reflog entry or root record the destination lacks */
    cairn_id id;
    cairn_id catalog;        /* root records: their catalog */
    int what;
} hchain;

typedef struct history {
    idmap seen;              /* commit id -> index in commits, H_PRESENT or H_PENDING */
    hcommit *commits;
    size_t ncommits, cap_commits;
    cairn_id *frontier;      /* commits still to ask about */
    size_t nfrontier, cap_frontier;
    hchain *chain;           /* reflog entries (newest first per ref) and root records */
    size_t nchain, cap_chain;
    item *raw;               /* settings chunks: copied as they are */
    size_t nraw, cap_raw;
} history;

static void history_free(history *h)
{
    idmap_dispose(&h->seen);
    for (size_t i = 0; i < h->ncommits; i++) free(h->commits[i].parents);
    free(h->commits);
    free(h->frontier);
    free(h->chain);
    for (size_t i = 0; i < h->nraw; i++) free(h->raw[i].frame);
    free(h->raw);
}

static int frontier_add(history *h, const cairn_id *id)
{
    if (id_is_zero(id) || idmap_find(&h->seen, id)) return CAIRN_OK;
    TRY(cairn_array_room(&h->frontier, &h->cap_frontier, h->nfrontier, sizeof *h->frontier, 64));
    h->frontier[h->nfrontier++] = *id;
    return CAIRN_OK;
}

static int chain_add(history *h, const cairn_id *id, const cairn_id *catalog, int what)
{
    TRY(cairn_array_room(&h->chain, &h->cap_chain, h->nchain, sizeof *h->chain, 16));
    h->chain[h->nchain++] = (hchain){ *id, catalog ? *catalog : (cairn_id){ { 0 } }, what };
    return CAIRN_OK;
}

/* Reads one chunk the destination lacks (it.id set): *out_missing false when it has it. */
static int fetch_if_missing(xfer *x, item *it, bool *out_missing)
{
    kids k = { NULL, 0, 0 };
    group g;
    TRY(kids_add(&k, &it->id, it->what));
    int rc = missing(x, &k, &g);
    free(k.v);
    TRY(rc);
    *out_missing = g.n == 1;
    if (g.n == 1) {
        *it = g.v[0];
        g.v[0].frame = NULL;
    }
    group_free(&g);
    return CAIRN_OK;
}

/* Follows a reflog chain back to the first entry the destination has. */
static int walk_reflog(xfer *x, history *h, const cairn_id *start)
{
    cairn_id id = *start;
    while (!id_is_zero(&id)) {
        item it = { id, W_REFLOG, NULL, 0, NULL, false };
        bool miss;
        TRY(fetch_if_missing(x, &it, &miss));
        if (!miss) return CAIRN_OK;
        reflog_entry e;
        int rc = frame_decode(&x->plain, it.frame, it.len);
        free(it.frame);
        if (rc == CAIRN_OK) rc = reflog_decode(&e, x->plain.data, x->plain.len);
        TRY(rc);
        rc = chain_add(h, &id, NULL, W_REFLOG);
        if (rc == CAIRN_OK) rc = frontier_add(h, &e.new_target);
        if (rc == CAIRN_OK) rc = frontier_add(h, &e.old_target);
        id = e.prev;
        reflog_dispose(&e);
        TRY(rc);
    }
    return CAIRN_OK;
}

static int walk_rootrec(xfer *x, history *h, const cairn_id *id)
{
    item it = { *id, W_ROOTREC, NULL, 0, NULL, false };
    bool miss;
    TRY(fetch_if_missing(x, &it, &miss));
    if (!miss) return CAIRN_OK;
    rootrec rec;
    int rc = frame_decode(&x->plain, it.frame, it.len);
    free(it.frame);
    if (rc == CAIRN_OK) rc = rootrec_decode(&rec, x->plain.data, x->plain.len);
    TRY(rc);
    TRY(chain_add(h, id, &rec.catalog, W_ROOTREC));
    TRY(frontier_add(h, &rec.base_commit));
    for (uint8_t i = 0; i < rec.nmerge; i++) TRY(frontier_add(h, &rec.merge[i]));
    return CAIRN_OK;
}

/* Adds one decoded commit the destination lacks. */
static int add_commit(history *h, const cairn_id *id, const commit *c)
{
    TRY(cairn_array_room(&h->commits, &h->cap_commits, h->ncommits, sizeof *h->commits, 64));
    hcommit *hc = &h->commits[h->ncommits];
    memset(hc, 0, sizeof *hc);
    hc->id = *id;
    hc->catalog = c->catalog;
    if (c->nparents) {
        hc->parents = cairn_malloc(c->nparents * sizeof *hc->parents);
        FAIL_IF(!hc->parents, CAIRN_ENOMEM, "out of memory copying history");
        memcpy(hc->parents, c->parents, c->nparents * sizeof *hc->parents);
    }
    hc->nparents = (uint32_t)c->nparents;
    uint32_t *slot = idmap_find(&h->seen, id);
    if (slot) *slot = (uint32_t)h->ncommits;
    h->ncommits++;
    for (size_t i = 0; i < c->nparents; i++) TRY(frontier_add(h, &c->parents[i]));
    return CAIRN_OK;
}

/* Asks about the frontier in batches until every commit reached is known present or read. */
static int walk_commits(xfer *x, history *h)
{
    kids k = { NULL, 0, 0 };
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && h->nfrontier) {
        k.n = 0;
        while (rc == CAIRN_OK && h->nfrontier && k.n < XFER_BATCH) {
            cairn_id id = h->frontier[--h->nfrontier];
            bool added;
            rc = idmap_add(&h->seen, &id, H_PENDING, NULL, &added);
            if (rc == CAIRN_OK && added) rc = kids_add(&k, &id, W_COMMIT);
        }
        group g;
        if (rc == CAIRN_OK) rc = missing(x, &k, &g);
        if (rc != CAIRN_OK) break;
        for (size_t i = 0; i < k.n; i++) { /* all present, until shown missing below */
            uint32_t *slot = idmap_find(&h->seen, &k.v[i].id);
            if (slot && *slot == H_PENDING) *slot = H_PRESENT;
        }
        for (size_t i = 0; rc == CAIRN_OK && i < g.n; i++) {
            commit c;
            rc = frame_decode(&x->plain, g.v[i].frame, g.v[i].len);
            if (rc == CAIRN_OK) rc = commit_decode(&c, x->plain.data, x->plain.len);
            if (rc < 0) {
                char hex[CAIRN_ID_HEX_SIZE];
                cairn_id_to_hex(hex, &g.v[i].id);
                rc = cairn_error_prefix(rc, "commit %s in %s", hex, x->src->location);
                break;
            }
            rc = add_commit(h, &g.v[i].id, &c);
            commit_dispose(&c);
        }
        group_free(&g);
    }
    free(k.v);
    return rc;
}

/* Orders h->commits parents first (depth first, post-order), into order[]. */
static int sort_commits(history *h, uint32_t *order)
{
    size_t nout = 0;
    uint32_t *stack = cairn_malloc((h->ncommits ? h->ncommits : 1) * sizeof *stack);
    FAIL_IF(!stack, CAIRN_ENOMEM, "out of memory copying history");
    for (size_t i = 0; i < h->ncommits; i++) {
        if (h->commits[i].state) continue;
        size_t sp = 0;
        stack[sp++] = (uint32_t)i;
        h->commits[i].state = 1;
        while (sp) {
            hcommit *c = &h->commits[stack[sp - 1]];
            if (c->next < c->nparents) {
                uint32_t *slot = idmap_find(&h->seen, &c->parents[c->next++]);
                if (slot && *slot < h->ncommits && h->commits[*slot].state == 0) {
                    h->commits[*slot].state = 1;
                    stack[sp++] = *slot;
                }
                continue;
            }
            c->state = 2;
            order[nout++] = stack[--sp];
        }
    }
    free(stack);
    return CAIRN_OK;
}

/* Copies the commits found, parents first, each after its catalog's tree. */
static int copy_commits(xfer *x, history *h)
{
    if (!h->ncommits) return CAIRN_OK;
    uint32_t *order = cairn_malloc(h->ncommits * sizeof *order);
    FAIL_IF(!order, CAIRN_ENOMEM, "out of memory copying history");
    item *batch = cairn_calloc(COMMIT_PUT_BATCH, sizeof *batch);
    int rc = batch ? sort_commits(h, order) : ERR(CAIRN_ENOMEM, "out of memory copying history");
    for (size_t off = 0; rc == CAIRN_OK && off < h->ncommits; off += COMMIT_PUT_BATCH) {
        size_t m = h->ncommits - off < COMMIT_PUT_BATCH ? h->ncommits - off : COMMIT_PUT_BATCH;
        for (size_t i = 0; i < m; i++)
            batch[i] = (item){ h->commits[order[off + i]].id, W_COMMIT, NULL, 0, NULL, false };
        rc = fetch(x, batch, m);
        for (size_t i = 0; rc == CAIRN_OK && i < m; i++) {
            rc = copy_tree(x, &h->commits[order[off + i]].catalog, W_CATALOG);
            if (rc == CAIRN_OK) rc = put_items(x, &batch[i], 1, true);
        }
        for (size_t i = 0; i < m; i++) {
            free(batch[i].frame);
            batch[i].frame = NULL;
        }
    }
    free(batch);
    free(order);
    return rc;
}

/* Copies root records (after their catalogs) and reflog entries (oldest of each chain
 * first: the chain was listed newest first, so backwards). */
static int copy_chain(xfer *x, history *h)
{
    for (size_t j = h->nchain; j-- > 0;) {
        hchain *c = &h->chain[j];
        if (c->what == W_ROOTREC) TRY(copy_tree(x, &c->catalog, W_CATALOG));
        item it = { c->id, c->what, NULL, 0, NULL, false };
        int rc = fetch(x, &it, 1);
        if (rc == CAIRN_OK) rc = put_items(x, &it, 1, true);
        free(it.frame);
        TRY(rc);
    }
    return CAIRN_OK;
}

/* Finds out what an unknown ref's chunk is, by its kind byte. */
static int classify(xfer *x, history *h, const cairn_id *id, int *out_what)
{
    item it = { *id, W_ANY, NULL, 0, NULL, false };
    bool miss;
    TRY(fetch_if_missing(x, &it, &miss));
    *out_what = 0;
    if (!miss) return CAIRN_OK;
    int rc = frame_decode(&x->plain, it.frame, it.len);
    uint8_t kind = rc == CAIRN_OK && x->plain.len ? x->plain.data[0] : 0;
    *out_what = kind == CHUNK_KIND_NODE     ? W_TABLE
                : kind == CHUNK_KIND_ROOT   ? W_ROOTREC
                : kind == CHUNK_KIND_COMMIT ? W_COMMIT
                : kind == CHUNK_KIND_REFLOG ? W_REFLOG
                                            : W_RAW;
    if (rc == CAIRN_OK && *out_what == W_RAW) { /* copy as it is */
        rc = cairn_array_room(&h->raw, &h->cap_raw, h->nraw, sizeof *h->raw, 4);
        if (rc == CAIRN_OK) {
            it.what = W_RAW;
            h->raw[h->nraw++] = it;
            it.frame = NULL;
        }
        *out_what = 0;
    }
    free(it.frame);
    return rc;
}

static int walk_root(xfer *x, history *h, const xfer_root *r)
{
    int what = r->what;
    if (what == W_ANY) TRY(classify(x, h, &r->id, &what));
    switch (what) {
    case 0: return CAIRN_OK;
    case W_REFLOG: return walk_reflog(x, h, &r->id);
    case W_ROOTREC: return walk_rootrec(x, h, &r->id);
    case W_COMMIT: return frontier_add(h, &r->id);
    case W_TABLE:
    case W_CATALOG: return copy_tree(x, &r->id, what);
    default: { /* W_RAW */
        item it = { r->id, W_RAW, NULL, 0, NULL, false };
        bool miss;
        TRY(fetch_if_missing(x, &it, &miss));
        if (!miss) return CAIRN_OK;
        int rc = cairn_array_room(&h->raw, &h->cap_raw, h->nraw, sizeof *h->raw, 4);
        if (rc == CAIRN_OK) h->raw[h->nraw++] = it;
        else free(it.frame);
        return rc;
    }
    }
}

int xfer_copy(xfer *x, const xfer_root *roots, size_t n)
{
    history h;
    memset(&h, 0, sizeof h);
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = walk_root(x, &h, &roots[i]);
    if (rc == CAIRN_OK) rc = walk_commits(x, &h);
    if (rc == CAIRN_OK) rc = copy_commits(x, &h);
    if (rc == CAIRN_OK) rc = copy_chain(x, &h);
    if (rc == CAIRN_OK) rc = put_items(x, h.raw, h.nraw, false);
    if (rc == CAIRN_OK) rc = flush_dst(x);
    history_free(&h);
    x->stats->seconds = clock_now() - x->start;
    return rc;
}

/* ---- the far side as a repository ---- */

int xrepo_attach(repo *r, cairn_store *store, const char *url, bool readonly)
{
    memset(r, 0, sizeof *r);
    r->store = store;
    r->readonly = readonly;
    r->url = cairn_strdup(url);
    r->branch = cairn_strdup(REPO_DEFAULT_BRANCH);
    FAIL_IF(!r->url || !r->branch, CAIRN_ENOMEM, "out of memory opening %s", url);
    return cs_init(&r->cs, store, XREPO_CACHE_BYTES, 1);
}

void xrepo_close(repo *r)
{
    gc_watch_free(r);
    if (r->cs.cache) cs_dispose(&r->cs);
    if (r->store) r->store->close(r->store);
    free(r->url);
    free(r->branch);
    memset(r, 0, sizeof *r);
}
