/*
 * s3_compact.c - how compaction (s3_log.c, s3_compact) reads the chunks it keeps from a pack
 * object it rewrites, so that its cost follows what it keeps and not the pack's size: a pack
 * with nothing live is not read at all; one whose live chunks are a small part of it is read by
 * ranged GETs of runs of neighbouring live chunks (in parallel); only a pack mostly live (a
 * high min_live fraction) is read whole, in one GET.
 *
 * Also here: the removal of orphan pack objects (s3_remove_orphans), which hold chunk bytes no
 * log entry names: a writer killed between uploading its packs and writing the entry naming
 * them, or a flush that failed part-way, leaves them. LIST is not the truth of what is
 * committed (the log is), but it is how garbage is found: a pack object under packs/ that was
 * last modified longer ago than the grace and that the log, read on after the listing, does
 * not name (or names only as removed by a compaction) is removed. A writer names a pack only
 * within pack_age_max of its upload (s3_log.c, upload_batch), which the grace exceeds, so an
 * entry written after the log was read never names a pack that was old when listed.
 */
#include <stdlib.h>
#include <string.h>

#include "store/s3_int.h"

#define KEEP_GAP (64u << 10)  /* read past a gap this small rather than split a run */
#define KEEP_RUN (8u << 20)   /* ... up to runs of this many bytes */

static int off_cmp(const void *a, const void *b)
{
    const s3_loc *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Reads locs (sorted by offset) from obj by ranged GETs of runs of neighbours, appended to
 * body; at[i] is where chunk i starts in body (UINT64_MAX: the answer was short). */
static int read_runs(s3_store *s, const char *obj, const s3_loc *locs, size_t n, cairn_buf *body,
                     uint64_t *at)
{
    size_t *first = cairn_malloc((n + 1) * sizeof *first), nruns = 0;
    s3_req *reqs = cairn_calloc(n ? n : 1, sizeof *reqs);
    int rc = first && reqs ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory compacting");
    for (size_t j = 0; rc == CAIRN_OK && j < n; nruns++) {
        uint64_t lo = locs[j].off, hi = lo + locs[j].len;
        first[nruns] = j;
        for (j++; j < n; j++) {
            if (locs[j].off > hi + KEEP_GAP || locs[j].off + locs[j].len - lo > KEEP_RUN) break;
            if (locs[j].off + locs[j].len > hi) hi = locs[j].off + locs[j].len;
        }
        s3_req *r = &reqs[nruns];
        r->method = "GET";
        r->obj = cairn_strdup(obj);
        r->range = true;
        r->off = lo;
        r->len = hi - lo;
        if (!r->obj) rc = ERR(CAIRN_ENOMEM, "out of memory compacting");
    }
    if (first) first[nruns] = n;
    if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, nruns);
    for (size_t q = 0; rc == CAIRN_OK && q < nruns; q++) {
        rc = s3_req_rc(&s->conf, &reqs[q]);
        /* a server that ignored the range sent the whole object: offsets count from 0 */
        uint64_t base = reqs[q].status == 200 ? 0 : reqs[q].off;
        for (size_t j = first[q]; rc == CAIRN_OK && j < first[q + 1]; j++) {
            if (locs[j].off + locs[j].len > base + reqs[q].resp.len) {
                at[j] = UINT64_MAX; /* short: the caller reports the chunk */
                continue;
            }
            at[j] = body->len + (locs[j].off - base);
        }
        if (rc == CAIRN_OK) rc = cairn_buf_append(body, reqs[q].resp.data, reqs[q].resp.len);
    }
    for (size_t q = 0; reqs && q < n; q++) s3_req_dispose(&reqs[q]);
    free(reqs);
    free(first);
    return rc;
}

int s3_compact_read_live(s3_store *s, const char *obj, uint64_t pack_size, s3_loc *locs, size_t n,
                         cairn_buf *body, uint64_t *at)
{
    body->len = 0;
    if (!n) return CAIRN_OK; /* nothing live: the pack is dropped unread */
    qsort(locs, n, sizeof *locs, off_cmp);
    uint64_t live = 0;
    for (size_t i = 0; i < n; i++) live += locs[i].len;
    if (2 * live < pack_size) return read_runs(s, obj, locs, n, body, at);
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.obj = cairn_strdup(obj);
    int rc = r.obj ? s3_http_one(s->http, &s->conf, &r)
                   : ERR(CAIRN_ENOMEM, "out of memory compacting");
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++)
        at[i] = locs[i].off + locs[i].len <= r.resp.len ? locs[i].off : UINT64_MAX;
    if (rc == CAIRN_OK) {
        cairn_buf_dispose(body);
        *body = r.resp; /* the whole object: offsets are the chunks' own */
        r.resp = (cairn_buf)CAIRN_BUF_INIT;
    }
    s3_req_dispose(&r);
    return rc;
}

/* ---- orphan pack objects ---- */

typedef struct orphans {
    s3_store *s;
    int64_t before_ns;      /* modified before this: old enough */
    char **rels;            /* the pack objects old enough (names below the prefix) ... */
    uint64_t *sizes;
    size_t n, cap;
    char **objs;            /* ... and of those, the full names of the ones to remove */
    size_t nobj;
    uint64_t bytes;
} orphans;

static int orphan_listed(const char *rel, uint64_t size, int64_t mtime_ns, void *p)
{
    orphans *o = p;
    if (!mtime_ns || mtime_ns > o->before_ns) return CAIRN_OK; /* young, or age unknown */
    size_t c1 = o->cap, c2 = o->cap;
    TRY(cairn_array_room(&o->rels, &c1, o->n, sizeof *o->rels, 16));
    TRY(cairn_array_room(&o->sizes, &c2, o->n, sizeof *o->sizes, 16));
    o->cap = c1;
    o->rels[o->n] = cairn_strdup(rel);
    FAIL_IF(!o->rels[o->n], CAIRN_ENOMEM, "out of memory listing packs");
    o->sizes[o->n++] = size;
    return CAIRN_OK;
}

/* Keeps of the listed packs those the log does not name (or names only as removed by a
 * compaction), after the log was read on: one table of the named packs, one lookup each. */
static int orphans_pick(orphans *o)
{
    s3_store *s = o->s;
    s3_names named;
    pthread_mutex_lock(&s->mu);
    int rc = s3_names_init(&named, s->npacks);
    for (uint32_t i = 0; rc == CAIRN_OK && i < s->npacks; i++)
        if (s->packs[i].size != 0) s3_names_put(&named, s->packs[i].name, i); /* names live
                                                                               until close */
    pthread_mutex_unlock(&s->mu);
    o->objs = rc == CAIRN_OK ? cairn_calloc(o->n ? o->n : 1, sizeof *o->objs) : NULL;
    if (rc == CAIRN_OK && !o->objs) rc = ERR(CAIRN_ENOMEM, "out of memory listing packs");
    for (size_t i = 0; rc == CAIRN_OK && i < o->n; i++) {
        if (s3_names_get(&named, o->rels[i]) != UINT32_MAX) continue;
        o->objs[o->nobj] = s3_obj(s, o->rels[i]);
        if (!o->objs[o->nobj]) {
            rc = ERR(CAIRN_ENOMEM, "out of memory listing packs");
            break;
        }
        o->bytes += o->sizes[i];
        o->nobj++;
    }
    s3_names_free(&named);
    return rc;
}

int s3_remove_orphans(cairn_store *st, double min_age_seconds, uint64_t *out_objects,
                      uint64_t *out_bytes)
{
    s3_store *s = (s3_store *)st;
    *out_objects = *out_bytes = 0;
    TRY(s3_check_writable(s, "removing orphan packs"));
    orphans o = { .s = s, .before_ns = clock_wall_ns() - (int64_t)(min_age_seconds * 1e9) };
    /* this handle's own flush first (its packs are named then); then the listing, and only
     * after it the log: an entry written before the log is read is seen, and one written
     * after names only packs uploaded less than pack_age_max + timeout_ms before it, so
     * younger than the grace when listed (upload_batch) */
    int rc = st->flush(st);
    if (rc == CAIRN_OK) rc = s3_list_dated(s, S3_PACK_DIR, orphan_listed, &o);
    if (rc == CAIRN_OK && s->test_hook) s->test_hook(s->test_hook_arg, "orphans listed");
    if (rc == CAIRN_OK) rc = s3_log_refresh(s);
    if (rc == CAIRN_OK) rc = orphans_pick(&o);
    for (size_t i = 0; i < o.n; i++) free(o.rels[i]);
    free(o.rels);
    free(o.sizes);
    s3_req *reqs = rc == CAIRN_OK ? cairn_calloc(o.nobj ? o.nobj : 1, sizeof *reqs) : NULL;
    if (rc == CAIRN_OK && !reqs) rc = ERR(CAIRN_ENOMEM, "out of memory removing orphan packs");
    for (size_t i = 0; reqs && i < o.nobj; i++) {
        reqs[i].method = "DELETE";
        reqs[i].obj = o.objs[i];
        o.objs[i] = NULL;
    }
    if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, o.nobj);
    for (size_t i = 0; reqs && rc == CAIRN_OK && i < o.nobj; i++) {
        int drc = s3_req_rc(&s->conf, &reqs[i]);
        if (drc == CAIRN_OK || drc == CAIRN_ENOTFOUND) { /* gone: by us or by another gc */
            (*out_objects)++;
            continue;
        }
        rc = cairn_error_prefix(drc, "removing orphan pack object '%s'", reqs[i].obj);
    }
    if (rc == CAIRN_OK) *out_bytes = o.bytes;
    for (size_t i = 0; reqs && i < o.nobj; i++) s3_req_dispose(&reqs[i]);
    for (size_t i = 0; o.objs && i < o.nobj; i++) free(o.objs[i]);
    free(reqs);
    free(o.objs);
    return rc;
}
