/*
 * gc.c - garbage collection: mark everything reachable, then sweep the rest.
 *
 * Mark walks from every chunk a ref names (roots.h) and from the catalogs of the versions in
 * use in this process, depth first with an explicit stack, and records each chunk in one id set
 * the first time it is reached, so that subtrees shared by many versions are walked once: the
 * cost is linear in the number of distinct chunks. What each chunk leads to:
 *
 *   reflog entry  -> the previous entry, its old and new commit
 *   commit        -> its parents, its catalog
 *   root record   -> its catalog, its base commit, its pending merge parents
 *   catalog node  -> children; at the leaves, each table descriptor's table root
 *   table node    -> children. A table's leaves name no other chunk, so they are marked by the
 *                    id their parent holds and never read: marking reads the inner nodes only
 *                    (about one node in a hundred). When leaf values can reference chunks
 *                    (blob trees), leaves must be read here too.
 *
 * A node is walked as a catalog and as a table separately (two bits in the set): identical
 * bytes could be both, and only the catalog walk follows descriptors.
 *
 * Every chunk that is read is verified (cs_get re-hashes it). Any failure while marking stops
 * gc before anything is deleted: a chunk that cannot be read may name others that must stay.
 *
 * Sweep lists the store, deletes what is not marked (dropping each from the chunk cache, whose
 * entries the write path trusts to mean "stored"), removes the files that now hold no live
 * chunk before writing anything (on a full disk, that is the room the rest needs), flushes (the
 * deletes become durable together), and, on a store that can (CAIRN_STORE_CAP_COMPACT: the
 * local store), compacts:
 * seals the file being written if deletes left it mostly dead and rewrites the files whose live
 * fraction is below the threshold (the store's compact method, crash-safe). A store without the
 * method keeps what del gave back, and gc says so.
 *
 * On a remote store (CAIRN_STORE_CAP_REMOTE), where writers on other machines may run at any
 * time, the sweep is gc_remote.c's instead: two phases with a grace period.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gc.h"
#include "idmap.h"
#include "retain.h"
#include "roots.h"
#include "tree/tree.h"


#define SEEN_PLAIN 1u        /* walked as anything but a catalog node */
#define SEEN_CATALOG 2u      /* walked as a catalog node */
#define PREFETCH_MAX 512     /* child ids handed to read-ahead at once */

typedef struct mark_item {
    cairn_id id;
    const char *ref;         /* the ref (or pin) it was reached from, for messages */
    uint8_t what;
} mark_item;

typedef struct marker {
    repo *r;
    idmap seen;
    mark_item *stack;
    size_t n, cap;
    cairn_id prefetch[PREFETCH_MAX];
    size_t nprefetch;
    const idmap *skip;       /* (table, root) pairs retention lets go (retain.h): not walked */
} marker;

/* Queues id to be walked as `what`, unless it was walked that way already. */
static int mark_push(marker *m, const cairn_id *id, int what, const char *ref)
{
    uint32_t bit = what == W_CATALOG ? SEEN_CATALOG : SEEN_PLAIN, *slot;
    bool added;
    TRY(idmap_add(&m->seen, id, bit, &slot, &added));
    if (!added) {
        if (*slot & bit) return CAIRN_OK;
        *slot |= bit;
    }
    TRY(cairn_array_room(&m->stack, &m->cap, m->n, sizeof *m->stack, 256));
    m->stack[m->n++] = (mark_item){ *id, ref, (uint8_t)what };
    return CAIRN_OK;
}

/* Marks a chunk that names nothing, without reading it. */
static int mark_leaf(marker *m, const cairn_id *id)
{
    uint32_t *slot;
    bool added;
    TRY(idmap_add(&m->seen, id, SEEN_PLAIN, &slot, &added));
    if (!added) *slot |= SEEN_PLAIN;
    return CAIRN_OK;
}

/* Hands the children that will be read next to the read-ahead workers. */
static void prefetch_flush(marker *m)
{
    if (m->nprefetch) cs_prefetch(&m->r->cs, m->prefetch, m->nprefetch);
    m->nprefetch = 0;
}

/* Whether retention lets this table version go (gc then does not walk it). */
static bool retain_skips(const marker *m, const uint8_t *name, size_t nlen, const cairn_id *root)
{
    if (!m->skip || !m->skip->n) return false;
    cairn_id pk;
    retain_pair_key(&pk, (const char *)name, nlen, root);
    return idmap_find(m->skip, &pk) != NULL;
}

static int mark_node(marker *m, const mark_item *it)
{
    chunk *c;
    node n;
    bool catalog = it->what == W_CATALOG;
    TRY(node_load(&m->r->cs, &c, &n, &it->id, -1));
    int rc = CAIRN_OK;
    for (uint32_t i = 0; rc == CAIRN_OK && i < n.count; i++) {
        if (n.level == 0) {
            if (!catalog) break; /* a table leaf names nothing */
            const uint8_t *k, *v;
            size_t kl, vl;
            tabledesc d;
            node_key(&n, i, &k, &kl);
            node_val(&n, i, &v, &vl);
            rc = tabledesc_decode(&d, v, vl);
            if (rc < 0) rc = cairn_error_prefix(rc, "table '%.*s'", (int)kl, (const char *)k);
            else if (!retain_skips(m, k, kl, &d.root)) rc = mark_push(m, &d.root, W_TABLE, it->ref);
            continue;
        }
        cairn_id child;
        uint64_t cnt;
        node_child(&n, i, &child, &cnt);
        if (n.level == 1 && !catalog) {
            rc = mark_leaf(m, &child);
            continue;
        }
        size_t before = m->n;
        rc = mark_push(m, &child, it->what, it->ref);
        if (rc == CAIRN_OK && m->n > before && m->nprefetch < PREFETCH_MAX)
            m->prefetch[m->nprefetch++] = child;
    }
    chunk_release(c);
    prefetch_flush(m);
    return rc;
}

static int mark_commit(marker *m, const mark_item *it, const chunk *c)
{
    commit cm;
    TRY(commit_decode(&cm, c->data, c->len));
    int rc = mark_push(m, &cm.catalog, W_CATALOG, it->ref);
    for (size_t i = 0; rc == CAIRN_OK && i < cm.nparents; i++)
        rc = mark_push(m, &cm.parents[i], W_COMMIT, it->ref);
    commit_dispose(&cm);
    return rc;
}

static int mark_reflog(marker *m, const mark_item *it, const chunk *c)
{
    reflog_entry e;
    TRY(reflog_decode(&e, c->data, c->len));
    int rc = mark_push(m, &e.new_target, W_COMMIT, it->ref);
    if (rc == CAIRN_OK && !id_is_zero(&e.old_target))
        rc = mark_push(m, &e.old_target, W_COMMIT, it->ref);
    if (rc == CAIRN_OK && !id_is_zero(&e.prev)) rc = mark_push(m, &e.prev, W_REFLOG, it->ref);
    reflog_dispose(&e);
    return rc;
}

static int mark_rootrec(marker *m, const mark_item *it, const chunk *c)
{
    rootrec rec;
    TRY(rootrec_decode(&rec, c->data, c->len));
    TRY(mark_push(m, &rec.catalog, W_CATALOG, it->ref));
    if (!id_is_zero(&rec.base_commit)) TRY(mark_push(m, &rec.base_commit, W_COMMIT, it->ref));
    for (uint8_t i = 0; i < rec.nmerge; i++) TRY(mark_push(m, &rec.merge[i], W_COMMIT, it->ref));
    return CAIRN_OK;
}

/* Walks one queued chunk: reads it and queues what it names. */
static int mark_one(marker *m, const mark_item *it)
{
    if (it->what == W_CATALOG || it->what == W_TABLE) return mark_node(m, it);
    chunk *c;
    TRY(cs_get(&m->r->cs, &c, &it->id));
    int rc = CAIRN_OK, what = it->what;
    if (what == W_ANY) /* an unknown ref: follow the chunk by its kind byte */
        what = c->len == 0                        ? 0
               : c->data[0] == CHUNK_KIND_NODE    ? W_TABLE
               : c->data[0] == CHUNK_KIND_ROOT    ? W_ROOTREC
               : c->data[0] == CHUNK_KIND_COMMIT  ? W_COMMIT
               : c->data[0] == CHUNK_KIND_REFLOG  ? W_REFLOG
                                                  : 0;
    if (what == W_COMMIT) rc = mark_commit(m, it, c);
    else if (what == W_REFLOG) rc = mark_reflog(m, it, c);
    else if (what == W_ROOTREC) rc = mark_rootrec(m, it, c);
    chunk_release(c);
    if (rc == CAIRN_OK && what == W_TABLE) {
        mark_item t = *it;
        t.what = W_TABLE;
        rc = mark_node(m, &t);
    }
    return rc;
}

static int mark_drain(marker *m)
{
    while (m->n) {
        mark_item it = m->stack[--m->n];
        int rc = mark_one(m, &it);
        if (rc < 0) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &it.id);
            return cairn_error_prefix(rc, "%s %s (reached from %s)", roots_what_name(it.what),
                                      hex, it.ref);
        }
    }
    return CAIRN_OK;
}

static int mark_all(marker *m, const repo_root *roots, size_t nroots, const gc_params *p)
{
    for (size_t i = 0; i < nroots; i++) {
        const repo_root *rt = &roots[i];
        int what = roots_walk_what(rt->kind);
        if (rt->kind == ROOT_BAD)
            return ERR(CAIRN_ECORRUPT, "ref '%s' %s: what it names cannot be kept", rt->ref,
                       rt->why);
        if (rt->kind == ROOT_RAW) TRY(mark_leaf(m, &rt->id));
        else TRY(mark_push(m, &rt->id, what, rt->ref));
        TRY(mark_drain(m));
    }
    for (size_t i = 0; i < p->npinned; i++) {
        TRY(mark_push(m, &p->pinned[i], W_CATALOG, "a version in use by this process"));
        TRY(mark_drain(m));
    }
    for (size_t i = 0; i < p->nreader_pins; i++) {
        int has = m->r->store->has(m->r->store, &p->reader_pins[i]);
        if (has == CAIRN_ENOTFOUND) continue;
        TRY(has);
        TRY(mark_push(m, &p->reader_pins[i], W_CATALOG, "a version a reader process pins"));
        TRY(mark_drain(m));
    }
    return CAIRN_OK;
}

/* ---- sweep ---- */

typedef struct sweep {
    const idmap *seen;
    cairn_id *garbage;
    size_t n, cap;
    uint64_t bytes;
} sweep;

static int sweep_collect(const cairn_id *key, uint64_t len, void *payload)
{
    sweep *s = payload;
    if (idmap_find(s->seen, key)) return 0;
    TRY(cairn_array_room(&s->garbage, &s->cap, s->n, sizeof *s->garbage, 1024));
    s->garbage[s->n++] = *key;
    s->bytes += len;
    return 0;
}

static int sweep_free_first(repo *r, cairn_gc_stats *st);

static int sweep_delete(repo *r, const sweep *s, cairn_gc_stats *gst)
{
    cairn_store *st = r->store;
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < s->n; i++) {
        rc = st->del(st, &s->garbage[i]);
        uint64_t had = gst->packs_rewritten;
        if (rc == CAIRN_ENOSPC) { /* its deletion records filled a buffer: make room, if that */
            char msg[1024];       /* frees a file, and try again */
            snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
            rc = sweep_free_first(r, gst);
            if (rc == CAIRN_OK)
                rc = gst->packs_rewritten > had ? st->del(st, &s->garbage[i])
                                                : cairn_error_set(CAIRN_ENOSPC, "%s", msg);
        }
        if (rc < 0) break;
        cache_drop(r->cs.cache, &s->garbage[i]); /* the write path takes "cached" for "stored" */
        gst->chunks_deleted++;
    }
    if (rc == CAIRN_OK) rc = sweep_free_first(r, gst);
    if (rc == CAIRN_OK) rc = cs_flush(&r->cs);
    if (rc == CAIRN_ENOSPC)
        rc = cairn_error_prefix(rc, "gc of %s deleted %llu of %zu garbage chunks but cannot "
                                "write that down: the disk is full and too few packs held only "
                                "garbage to make room (%llu removed); no chunk in use was "
                                "touched; free some space, then run gc again", r->url,
                                (unsigned long long)gst->chunks_deleted, s->n,
                                (unsigned long long)gst->packs_rewritten);
    return rc;
}

/* Before gc writes anything (its deletion records, compacted copies), removes the files whose
 * chunks it has all deleted, on a store that can: on a full disk, the room to write the rest. */
static int sweep_free_first(repo *r, cairn_gc_stats *st)
{
    cairn_store *s = r->store;
    if (s->version < 3 || !s->compact) return CAIRN_OK;
    cairn_store_compact_stats cs;
    TRY(s->compact(s, 0, CAIRN_STORE_COMPACT_DEAD_ONLY, &cs));
    st->packs_rewritten += cs.files_rewritten;
    st->disk_bytes_freed += cs.bytes_freed;
    return CAIRN_OK;
}

/* Seals the file being written if it is mostly dead now, then rewrites sparse files. */
int gc_compact(repo *r, double min_live, cairn_gc_stats *st)
{
    cairn_store *s = r->store;
    if (s->version < 3 || !s->compact) {
        cairn_diag(CAIRN_LOG_INFO, "gc of %s: the %s store cannot compact, so the space of the "
                   "deleted chunks is only what deleting them gave back", r->url, s->kind);
        return CAIRN_OK;
    }
    cairn_store_compact_stats cs;
    TRY(s->compact(s, min_live, CAIRN_STORE_COMPACT_SEAL, &cs));
    st->compacted = 1;
    st->packs_rewritten += cs.files_rewritten;
    st->disk_bytes_freed += cs.bytes_freed;
    return CAIRN_OK;
}

static int store_stat(repo *r, uint64_t *chunks, uint64_t *bytes, uint64_t *files)
{
    cairn_store_stats ss;
    memset(&ss, 0, sizeof ss);
    if (r->store->stat) TRY(r->store->stat(r->store, &ss));
    *chunks = ss.chunks;
    *bytes = ss.bytes;
    *files = ss.files;
    return CAIRN_OK;
}

/* Retention (retain.h): works out what the policies let go, records it durably, and hands the
 * mark the pairs not to walk. The versions that must stay whole: the ones pinned. */
static int retain_begin(repo *r, const gc_params *p, const repo_root *roots, size_t nroots,
                        retain_plan *plan)
{
    size_t nkept = p->npinned + p->nreader_pins;
    cairn_id *kept = nkept ? cairn_calloc(nkept, sizeof *kept) : NULL;
    FAIL_IF(nkept && !kept, CAIRN_ENOMEM, "out of memory starting gc");
    if (p->npinned) memcpy(kept, p->pinned, p->npinned * sizeof *kept);
    if (p->nreader_pins) memcpy(kept + p->npinned, p->reader_pins, p->nreader_pins * sizeof *kept);
    int rc = retain_prepare(r, plan, roots, nroots, kept, nkept, p->retain, p->nretain,
                            p->now_ns ? p->now_ns : clock_wall_ns(), p->dry_run);
    free(kept);
    return rc;
}

int gc_run(repo *r, const gc_params *p, cairn_gc_stats *out)
{
    double t0 = clock_now();
    int64_t mark_started = clock_wall_ns();
    bool remote = (r->store->caps & CAIRN_STORE_CAP_REMOTE) != 0;
    uint64_t traffic0[3], traffic1[3];
    gc_traffic(r, traffic0);
    cairn_gc_stats st;
    memset(&st, 0, sizeof st);
    FAIL_IF(!r->store->list || !r->store->del, CAIRN_EUNSUPPORTED,
            "the %s store of %s cannot list or delete chunks: no garbage collection there",
            r->store->kind, r->url);
    TRY(store_stat(r, &st.chunks_before, &st.bytes_before, &st.files_before));

    marker m;
    memset(&m, 0, sizeof m);
    m.r = r;
    repo_root *roots = NULL;
    size_t nroots = 0;
    int rc = repo_roots(r, &roots, &nroots);
    if (rc == CAIRN_ECORRUPT) /* a damaged ref: what it names cannot be marked */
        rc = cairn_error_prefix(rc, "gc cannot tell which chunks a damaged ref keeps alive, so it "
                                "deletes nothing until that ref is deleted (cairn branch -d or "
                                "cairn tag -d NAME), created again, or its file restored from a "
                                "backup ('cairn repair' cannot restore a value it cannot read)");
    retain_plan plan;
    memset(&plan, 0, sizeof plan);
    if (rc == CAIRN_OK) rc = retain_begin(r, p, roots, nroots, &plan);
    m.skip = &plan.skip;
    st.versions_pruned = plan.newly_pruned;
    if (rc == CAIRN_OK && plan.moved) { /* the refs again: the new record in, the old out */
        repo_roots_free(roots, nroots);
        roots = NULL;
        nroots = 0;
        rc = repo_roots(r, &roots, &nroots);
    }
    if (rc == CAIRN_OK) rc = mark_all(&m, roots, nroots, p);
    sweep s = { &m.seen, NULL, 0, 0, 0 };
    if (rc == CAIRN_OK) rc = r->store->list(r->store, sweep_collect, &s);
    if (rc < 0)
        rc = cairn_error_prefix(rc, "gc of %s stopped before deleting anything (run 'cairn "
                                    "verify' to see what is wrong)", r->url);
    st.chunks_reachable = m.seen.n;
    st.chunks_garbage = s.n;
    st.bytes_garbage = s.bytes;
    repo_roots_free(roots, nroots);
    free(m.stack);
    retain_plan_dispose(&plan);
    idmap_dispose(&m.seen);
    if (rc == CAIRN_OK && remote) /* other machines may be writing: two phases */
        rc = gc_remote_sweep(r, p, s.garbage, s.n, mark_started, &st);
    else if (rc == CAIRN_OK && !p->dry_run)
        rc = sweep_delete(r, &s, &st);
    free(s.garbage);
    if (rc == CAIRN_OK && !remote && !p->dry_run && p->min_live >= 0)
        rc = gc_compact(r, p->min_live, &st);
    if (rc == CAIRN_OK) rc = store_stat(r, &st.chunks_after, &st.bytes_after, &st.files_after);
    if (rc == CAIRN_OK) {
        gc_traffic(r, traffic1);
        st.requests = traffic1[0] - traffic0[0];
        st.bytes_sent = traffic1[1] - traffic0[1];
        st.bytes_received = traffic1[2] - traffic0[2];
    }
    st.seconds = clock_now() - t0;
    if (rc == CAIRN_OK && out) *out = st;
    return rc;
}
