/*
 * s3_snap.c - snapshots of the s3 store's index, so that opening costs the same however long
 * the log has grown. A snapshot snap/N is the index as the log entries 1..N make it (the packs
 * it names and every chunk's place), written once N - (the last snapshot) reaches the
 * snapshot_every setting, by the writer that applied entry N, in the background of the flush
 * that took it there. It is created with If-None-Match: * under a name derived from N, so two
 * writers compacting at once both succeed or one finds the other's (the same index: the bytes
 * are canonical, sorted by key). Opening reads the newest snapshot and the entries after it
 * (s3_log.c). What a snapshot makes redundant is removed a generation late: writing snapshot N
 * removes the entries up to the snapshot before it, P, and the snapshots older than P, so a
 * reader that found P just before N was written still finds every entry it needs; one older
 * still meets a gap, and starts over from the newest snapshot. Bytes: docs/FORMAT.md,
 * "Snapshot".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/s3_int.h"

/* ---- bytes ---- */

int s3_snap_decode(s3_snap_view *v, const uint8_t *p, size_t n, const char *obj)
{
    TRY(s3_check_framed(p, n, S3_SNAP_MAGIC, S3_SNAP_HEADER_SIZE, S3_FORMAT_VERSION, "snapshot",
                        obj));
    v->npacks = load_le32(p + 12);
    v->seq = load_le64(p + 16);
    v->nchunks = load_le64(p + 24);
    size_t at = S3_SNAP_HEADER_SIZE, body = n - S3_CHECK_SIZE;
    v->names = p + at;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < v->npacks; i++) {
        FAIL_IF(body - at < S3_LOG_PACK_FIXED || body - at - S3_LOG_PACK_FIXED < load_le16(p + at),
                CAIRN_ECORRUPT, "s3 snapshot '%s': pack %u runs past the end", obj, i);
        size_t len = load_le16(p + at);
        const uint8_t *name = p + at + 2;
        FAIL_IF(!len || memchr(name, 0, len), CAIRN_ECORRUPT,
                "s3 snapshot '%s': pack %u has an empty name or a NUL in it", obj, i);
        int c = prev ? memcmp(prev, name, MIN(prev_len, len)) : -1;
        FAIL_IF(c > 0 || (c == 0 && prev_len >= len), CAIRN_ECORRUPT,
                "s3 snapshot '%s': pack %u is out of order", obj, i);
        prev = name;
        prev_len = len;
        at += S3_LOG_PACK_FIXED + len;
    }
    v->chunks = p + at;
    FAIL_IF((body - at) % S3_LOG_ADD_SIZE != 0 || (body - at) / S3_LOG_ADD_SIZE != v->nchunks,
            CAIRN_ECORRUPT, "s3 snapshot '%s': %" PRIu64 " chunks do not fill its %zu bytes", obj,
            v->nchunks, n);
    for (uint64_t i = 0; i < v->nchunks; i++) {
        const uint8_t *c = v->chunks + i * S3_LOG_ADD_SIZE;
        FAIL_IF(load_le32(c + 32) >= v->npacks, CAIRN_ECORRUPT,
                "s3 snapshot '%s': chunk %" PRIu64 " names pack %u of %u", obj, i,
                load_le32(c + 32), v->npacks);
        FAIL_IF(i && memcmp(c - S3_LOG_ADD_SIZE, c, CAIRN_ID_SIZE) >= 0, CAIRN_ECORRUPT,
                "s3 snapshot '%s': chunk %" PRIu64 " is out of order", obj, i);
    }
    return CAIRN_OK;
}

int s3_snap_encode(cairn_buf *out, uint64_t seq, const s3_pack *packs, uint32_t npacks,
                   const s3_loc *locs, size_t n)
{
    uint8_t h[S3_SNAP_HEADER_SIZE];
    memcpy(h, S3_SNAP_MAGIC, S3_MAGIC_SIZE);
    store_le32(h + 8, S3_FORMAT_VERSION);
    store_le32(h + 12, npacks);
    store_le64(h + 16, seq);
    store_le64(h + 24, n);
    out->len = 0;
    TRY(cairn_buf_reserve(out, sizeof h + n * S3_LOG_ADD_SIZE + npacks * 64 + S3_CHECK_SIZE));
    TRY(cairn_buf_append(out, h, sizeof h));
    TRY(s3_append_packs(out, packs, npacks));
    TRY(s3_append_locs(out, locs, n));
    return s3_append_check(out);
}

/* ---- finding and reading ---- */

static char *snap_name(uint64_t seq)
{
    return cairn_sprintf(S3_SNAP_DIR "%0*" PRIu64, S3_SEQ_DIGITS, seq);
}

int s3_snap_list(s3_store *s, uint64_t **out, size_t *n)
{
    return s3_list_numbered(s, S3_SNAP_DIR, out, n);
}

int s3_snap_read(s3_store *s, uint64_t seq, cairn_buf *buf, s3_snap_view *v)
{
    char *rel = snap_name(seq);
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.obj = rel ? s3_obj(s, rel) : NULL;
    free(rel);
    r.resp = *buf;
    int rc = r.obj ? s3_http_one(s->http, &s->conf, &r)
                   : ERR(CAIRN_ENOMEM, "out of memory reading a snapshot");
    *buf = r.resp;
    r.resp = (cairn_buf)CAIRN_BUF_INIT;
    if (rc == CAIRN_OK) rc = s3_snap_decode(v, buf->data, buf->len, r.obj);
    if (rc == CAIRN_OK && v->seq != seq)
        rc = CORRUPT("s3 snapshot '%s' says it covers log entry %" PRIu64 ", not %" PRIu64
                     ": it was overwritten or copied from elsewhere",
                     r.obj, v->seq, seq);
    else if (rc < 0 && rc != CAIRN_ENOTFOUND && rc != CAIRN_ECORRUPT)
        cairn_error_prefix(rc, "reading snapshot '%s'", r.obj);
    s3_req_dispose(&r);
    return rc;
}

/* ---- writing ---- */

typedef struct snap_job {
    s3_store *s;
    uint64_t seq;
    s3_loc *locs;          /* the index at seq (pack: a number of s->packs) */
    size_t n;
    s3_pack *packs;        /* a copy of s->packs[0..npacks) (names borrowed: they live until
                              close, which waits for the job) */
    uint32_t npacks;
} snap_job;

static int key_cmp(const void *a, const void *b)
{
    return memcmp(((const s3_loc *)a)->key.bytes, ((const s3_loc *)b)->key.bytes, CAIRN_ID_SIZE);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const s3_pack *)a)->name, ((const s3_pack *)b)->name);
}

/* The snapshot's bytes: chunks by key, the packs they use by name. */
static int job_encode(snap_job *j, cairn_buf *out)
{
    qsort(j->locs, j->n, sizeof *j->locs, key_cmp);
    uint32_t *map = cairn_malloc((j->npacks ? j->npacks : 1) * sizeof *map);
    s3_pack *used = cairn_malloc((j->npacks ? j->npacks : 1) * sizeof *used);
    int rc = map && used ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory writing a snapshot");
    uint32_t nused = 0;
    for (uint32_t i = 0; rc == CAIRN_OK && i < j->npacks; i++) map[i] = UINT32_MAX;
    for (size_t i = 0; rc == CAIRN_OK && i < j->n; i++)
        if (map[j->locs[i].pack] == UINT32_MAX) {
            map[j->locs[i].pack] = 0;
            used[nused] = j->packs[j->locs[i].pack];
            used[nused++].size = j->locs[i].pack; /* (its number, for the moment) */
        }
    if (rc == CAIRN_OK) {
        qsort(used, nused, sizeof *used, name_cmp);
        for (uint32_t k = 0; k < nused; k++) {
            uint32_t num = (uint32_t)used[k].size;
            map[num] = k;
            used[k].size = j->packs[num].size;
        }
        for (size_t i = 0; i < j->n; i++) j->locs[i].pack = map[j->locs[i].pack];
        rc = s3_snap_encode(out, j->seq, used, nused, j->locs, j->n);
    }
    free(map);
    free(used);
    return rc;
}

/* Removes what the snapshots `have` (ascending, the newest last) make redundant: the log
 * entries up to the second newest, and the snapshots older than it. */
static void drop_redundant(s3_store *s, const uint64_t *have, size_t n)
{
    if (n < 2) return;
    uint64_t prev = have[n - 2];
    s3_log_drop(s, prev);
    char **objs = cairn_calloc(n, sizeof *objs);
    size_t nobj = 0;
    for (size_t i = 0; objs && i + 2 < n; i++) {
        char *rel = snap_name(have[i]);
        objs[nobj] = rel ? s3_obj(s, rel) : NULL;
        free(rel);
        if (objs[nobj]) nobj++;
    }
    if (objs) s3_delete_objects(s, objs, nobj);
    free(objs);
}

/* Writes snapshot j->seq (unless one as new is there already), then removes what is
 * redundant. *newest: the newest snapshot known afterwards. */
static int job_run(snap_job *j, uint64_t *newest)
{
    s3_store *s = j->s;
    uint64_t *have = NULL;
    size_t n = 0;
    cairn_buf body = CAIRN_BUF_INIT;
    int rc = s3_snap_list(s, &have, &n);
    if (rc == CAIRN_OK && n && have[n - 1] >= j->seq) { /* another writer got there first */
        *newest = have[n - 1];
        free(have);
        return CAIRN_OK;
    }
    if (rc == CAIRN_OK) rc = job_encode(j, &body);
    char *rel = rc == CAIRN_OK ? snap_name(j->seq) : NULL;
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "PUT";
    r.obj = rel ? s3_obj(s, rel) : NULL;
    free(rel);
    r.body = body.data;
    r.body_len = body.len;
    r.if_none_match = true; /* a 412: another writer wrote this number, the same index */
    if (rc == CAIRN_OK && !r.obj) rc = ERR(CAIRN_ENOMEM, "out of memory writing a snapshot");
    if (rc == CAIRN_OK) rc = s3_http_one(s->http, &s->conf, &r);
    if (rc == CAIRN_ECONFLICT) rc = CAIRN_OK;
    if (rc < 0 && r.obj) cairn_error_prefix(rc, "writing snapshot '%s'", r.obj);
    if (rc == CAIRN_OK) {
        *newest = j->seq;
        size_t cap = n;
        rc = cairn_array_room(&have, &cap, n, sizeof *have, 4);
        if (rc == CAIRN_OK) {
            have[n++] = j->seq; /* newer than every one listed */
            drop_redundant(s, have, n);
        }
    }
    s3_req_dispose(&r);
    cairn_buf_dispose(&body);
    free(have);
    return rc;
}

static void *snap_thread(void *arg)
{
    snap_job *j = arg;
    s3_store *s = j->s;
    uint64_t newest = 0;
    int rc = job_run(j, &newest);
    if (rc < 0)
        cairn_diag(CAIRN_LOG_WARN, "s3 store %s: no snapshot at log entry %" PRIu64 " (%s); "
                   "opening reads more of the log until one is written",
                   s->conf.url, j->seq, cairn_error_last()->message);
    pthread_mutex_lock(&s->mu);
    /* after a failure too: the next try comes snapshot_every entries later */
    uint64_t known = rc < 0 ? j->seq : newest;
    if (known > s->snap_seq) s->snap_seq = known;
    s->snap_running = false;
    pthread_cond_broadcast(&s->up_cv);
    pthread_mutex_unlock(&s->mu);
    free(j->locs);
    free(j->packs);
    free(j);
    return NULL;
}

/* The job for the index as the log makes it at s->seq (mu held): the index without this
 * handle's unflushed writes, which a writer in the middle of a push always holds (they are in
 * entries after s->seq, or in none yet). NULL when those writes hide what the log says of a
 * chunk (a deletion, a write again over a logged chunk, an entry's addition passed over for
 * one: s3_batch.hides), so that the index without them is not the log's; or out of memory. */
static snap_job *job_new(s3_store *s)
{
    if (s->pend.ndels || s->flushing.ndels || s->pend.hides || s->flushing.hides) return NULL;
    snap_job *j = cairn_calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    j->seq = s->seq;
    j->locs = cairn_malloc((s->count ? s->count : 1) * sizeof *j->locs);
    j->packs = cairn_malloc((s->npacks ? s->npacks : 1) * sizeof *j->packs);
    j->npacks = s->npacks;
    bool ok = j->locs && j->packs;
    size_t pos = 0;
    for (const s3_loc *l; ok && (l = s3_index_next(s, &pos));)
        if (l->pack < s->npacks) /* not a write of this handle's */
            j->locs[j->n++] = *l;
    if (ok) memcpy(j->packs, s->packs, s->npacks * sizeof *j->packs);
    if (!ok) {
        free(j->locs);
        free(j->packs);
        free(j);
        return NULL;
    }
    return j;
}

void s3_snap_maybe(s3_store *s)
{
    if (!s->conf.snap_every || s->snap_running || s->seq < s->snap_seq + s->conf.snap_every)
        return;
    snap_job *j = job_new(s);
    if (!j) return; /* a later flush tries again */
    pthread_attr_t at;
    pthread_t t;
    bool ok = pthread_attr_init(&at) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &at, snap_thread, j) == 0;
        pthread_attr_destroy(&at);
    }
    if (!ok) {
        free(j->locs);
        free(j->packs);
        free(j);
        return;
    }
    s->snap_running = true;
}

void s3_snap_wait(s3_store *s)
{
    while (s->snap_running) pthread_cond_wait(&s->up_cv, &s->mu);
}
