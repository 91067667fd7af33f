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
 * committed (the log is), but it is how garbage is found: a pack object under packs/ that the
 * log (read on first) does not name, or names only as removed by a compaction, and that was
 * last modified longer ago than the grace (a flush in progress uploads its packs before the
 * entry that names them, within the grace) is removed.
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
    char **objs;            /* full object names to remove */
    size_t n, cap;
    uint64_t bytes;
} orphans;

static int orphan_check(const char *rel, uint64_t size, int64_t mtime_ns, void *p)
{
    orphans *o = p;
    if (!mtime_ns || mtime_ns > o->before_ns) return CAIRN_OK; /* young, or age unknown */
    pthread_mutex_lock(&o->s->mu);
    bool named = false; /* by the log, and not removed by a compaction since */
    for (uint32_t i = 0; i < o->s->npacks && !named; i++)
        named = o->s->packs[i].size != 0 && strcmp(o->s->packs[i].name, rel) == 0;
    pthread_mutex_unlock(&o->s->mu);
    if (named) return CAIRN_OK;
    TRY(cairn_array_room(&o->objs, &o->cap, o->n, sizeof *o->objs, 16));
    o->objs[o->n] = s3_obj(o->s, rel);
    FAIL_IF(!o->objs[o->n], CAIRN_ENOMEM, "out of memory listing packs");
    o->n++;
    o->bytes += size;
    return CAIRN_OK;
}

int s3_remove_orphans(cairn_store *st, double min_age_seconds, uint64_t *out_objects,
                      uint64_t *out_bytes)
{
    s3_store *s = (s3_store *)st;
    *out_objects = *out_bytes = 0;
    TRY(s3_check_writable(s, "removing orphan packs"));
    orphans o = { s, clock_wall_ns() - (int64_t)(min_age_seconds * 1e9), NULL, 0, 0, 0 };
    /* this handle's own flush first (its packs are named then), and the log read on after the
     * listing's moment is fixed: a pack named by an entry is never taken for an orphan */
    int rc = st->flush(st);
    if (rc == CAIRN_OK) rc = s3_log_refresh(s);
    if (rc == CAIRN_OK) rc = s3_list_dated(s, S3_PACK_DIR, orphan_check, &o);
    s3_req *reqs = rc == CAIRN_OK ? cairn_calloc(o.n ? o.n : 1, sizeof *reqs) : NULL;
    if (rc == CAIRN_OK && !reqs) rc = ERR(CAIRN_ENOMEM, "out of memory removing orphan packs");
    for (size_t i = 0; reqs && i < o.n; i++) {
        reqs[i].method = "DELETE";
        reqs[i].obj = o.objs[i];
        o.objs[i] = NULL;
    }
    if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, o.n);
    for (size_t i = 0; reqs && rc == CAIRN_OK && i < o.n; i++) {
        int drc = s3_req_rc(&s->conf, &reqs[i]);
        if (drc == CAIRN_OK || drc == CAIRN_ENOTFOUND) { /* gone: by us or by another gc */
            (*out_objects)++;
            continue;
        }
        rc = cairn_error_prefix(drc, "removing orphan pack object '%s'", reqs[i].obj);
    }
    if (rc == CAIRN_OK) *out_bytes = o.bytes;
    for (size_t i = 0; reqs && i < o.n; i++) s3_req_dispose(&reqs[i]);
    for (size_t i = 0; i < o.n; i++) free(o.objs[i]);
    free(reqs);
    free(o.objs);
    return rc;
}
