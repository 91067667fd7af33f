/*
 * s3_compact.c - how compaction (s3_log.c, s3_compact) reads the chunks it keeps from a pack
 * object it rewrites, so that its cost follows what it keeps and not the pack's size: a pack
 * with nothing live is not read at all; one whose live chunks are a small part of it is read by
 * ranged GETs of runs of neighbouring live chunks (in parallel); only a pack mostly live (a
 * high min_live fraction) is read whole, in one GET.
 */
#include <stdlib.h>

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
