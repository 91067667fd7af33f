/*
 * s3.c - the s3 store: a repository in a bucket of any S3-compatible server (AWS S3, Ceph RGW,
 * MinIO, R2), opened by URL:
 *
 *   s3://BUCKET[/PREFIX]?endpoint=http://127.0.0.1:7480&region=us-east-1
 *        [&timeout_ms=30000][&connect_timeout_ms=5000][&retries=6][&parallel=16]
 *        [&pack_size=16m][&snapshot_every=100]
 *
 * Puts are buffered in memory and leave as pack objects of up to pack_size, named by one log
 * entry per flush (s3_log.c; a full buffer flushes itself in the background, in order: see
 * bg_main); gets are ranged GETs checked against the index's checksum; refs are objects moved
 * by conditional PUT (s3_refs.c). There is no file namespace (no write-ahead log files: a
 * repository here checkpoints every write, durable in the bucket) and no lock object of any
 * kind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "store/s3_int.h"

#define GET_BATCH 256
#define RUN_GAP (64u << 10)   /* get_many: read past a gap this small rather than split a run */
#define RUN_MAX (8u << 20)    /* ... up to runs of this many bytes */
#define RA_BULK 64            /* read-ahead: a group of at least this many chunks in packs ... */
#define RA_MIN_RUN (512u << 10) /* ... whose longest run is at least this long ... */
#define RA_WINDOW (8u << 20)  /* ... reads this many bytes after it in the background ... */
#define RA_PART (2u << 20)    /* ... in parallel ranged GETs of this many bytes */
#define RA_OVERLAP (64u << 10) /* ... each reading this far into the next (chunks are smaller) */
_Static_assert(RA_WINDOW / RA_PART == S3_RA_PARTS, "a window is S3_RA_PARTS parts");

static atomic_bool test_drop_conditions;

void store_s3_test_drop_conditions(bool on) { atomic_store(&test_drop_conditions, on); }

/* ---- the URL ---- */

static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool edge = i == 0 || i == n - 1;
        bool inner = !edge && (c == '-' || c == '.');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || inner)) return false;
    }
    return true;
}

static bool prefix_ok(const char *p)
{
    if (!*p) return true;
    if (*p == '/' || strstr(p, "//")) return false;
    for (const char *c = p; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              strchr("-._/", *c)))
            return false;
    /* no "." or ".." component */
    for (const char *c = p; c; c = strchr(c, '/'), c = c ? c + 1 : NULL) {
        size_t n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return false;
    }
    return true;
}

/* Parses a decimal number with an optional k/m/g (binary) suffix. */
static int parse_num(const char *url, const char *name, const char *v, uint64_t min, uint64_t max,
                     bool suffix, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mul = 1;
    if (suffix && end && *end && !end[1]) {
        mul = *end == 'k' || *end == 'K'   ? 1ull << 10
              : *end == 'm' || *end == 'M' ? 1ull << 20
              : *end == 'g' || *end == 'G' ? 1ull << 30
                                           : 0;
        if (mul) end++;
    }
    FAIL_IF(errno || !*v || *v == '-' || !end || *end || !mul || x > max / mul || x * mul < min,
            CAIRN_EINVAL, "s3 URL '%s': %s=%s is not a number from %" PRIu64 " to %" PRIu64 "%s",
            url, name, v, min, max, suffix ? " (k, m, g suffixes allowed)" : "");
    *out = x * mul;
    return CAIRN_OK;
}

/* Percent-decodes a query value in place. */
static void url_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && p[1] && p[2]) {
            char hex[3] = { p[1], p[2], 0 };
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = cairn_strdup(v);
    return *dst ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory parsing an s3 URL");
}

static int parse_param(s3_conf *c, const char *url, char *kv)
{
    char *eq = strchr(kv, '=');
    FAIL_IF(!eq, CAIRN_EINVAL, "s3 URL '%s': parameter '%s' has no value (name=value)", url, kv);
    *eq = '\0';
    char *v = eq + 1;
    url_decode(v);
    uint64_t x;
    if (strcmp(kv, "endpoint") == 0) {
        FAIL_IF(strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0, CAIRN_EINVAL,
                "s3 URL '%s': endpoint '%s' must start with http:// or https://", url, v);
        size_t n = strlen(v);
        while (n && v[n - 1] == '/') v[--n] = '\0';
        FAIL_IF(strlen(v) <= 8 || strchr(strstr(v, "//") + 2, '/') || strchr(v, '?'),
                CAIRN_EINVAL, "s3 URL '%s': endpoint '%s' must be scheme://host[:port]", url, v);
        return set_str(&c->endpoint, v);
    }
    if (strcmp(kv, "region") == 0) {
        FAIL_IF(!*v || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v),
                CAIRN_EINVAL, "s3 URL '%s': region '%s' is not a region name", url, v);
        return set_str(&c->region, v);
    }
    if (strcmp(kv, "timeout_ms") == 0) {
        TRY(parse_num(url, kv, v, 1, 3600000, false, &x));
        c->timeout_ms = (unsigned)x;
    } else if (strcmp(kv, "connect_timeout_ms") == 0) {
        TRY(parse_num(url, kv, v, 1, 3600000, false, &x));
        c->connect_timeout_ms = (unsigned)x;
    } else if (strcmp(kv, "retries") == 0) {
        TRY(parse_num(url, kv, v, 0, 20, false, &x));
        c->retries = (unsigned)x;
    } else if (strcmp(kv, "parallel") == 0) {
        TRY(parse_num(url, kv, v, 1, 256, false, &x));
        c->parallel = (unsigned)x;
    } else if (strcmp(kv, "pack_size") == 0) {
        TRY(parse_num(url, kv, v, S3_PACK_TARGET_MIN, S3_PACK_TARGET_MAX, true, &c->pack_target));
    } else if (strcmp(kv, "snapshot_every") == 0) {
        TRY(parse_num(url, kv, v, 0, S3_SNAP_EVERY_MAX, false, &x));
        c->snap_every = (unsigned)x;
    } else {
        return ERR(CAIRN_EINVAL,
                   "s3 URL '%s': unknown parameter '%s' (known: endpoint, region, timeout_ms, "
                   "connect_timeout_ms, retries, parallel, pack_size, snapshot_every)",
                   url, kv);
    }
    return CAIRN_OK;
}

static int parse_url(s3_conf *c, const char *url)
{
    FAIL_IF(strncmp(url, "s3://", 5) != 0, CAIRN_EINVAL, "'%s' is not an s3:// URL", url);
    TRY(set_str(&c->url, url));
    c->timeout_ms = S3_TIMEOUT_MS_DEFAULT;
    c->connect_timeout_ms = S3_CONNECT_TIMEOUT_MS_DEFAULT;
    c->retries = S3_RETRIES_DEFAULT;
    c->parallel = S3_PARALLEL_DEFAULT;
    c->pack_target = S3_PACK_TARGET_DEFAULT;
    c->snap_every = S3_SNAP_EVERY_DEFAULT;
    char *rest = cairn_strdup(url + 5);
    if (!rest) return ERR(CAIRN_ENOMEM, "out of memory parsing an s3 URL");
    char *query = strchr(rest, '?');
    if (query) *query++ = '\0';
    char *slash = strchr(rest, '/');
    const char *prefix = "";
    if (slash) {
        *slash = '\0';
        prefix = slash + 1;
    }
    int rc = CAIRN_OK;
    if (!bucket_ok(rest))
        rc = ERR(CAIRN_EINVAL,
                 "s3 URL '%s': '%s' is not a bucket name (3 to 63 of a-z 0-9 . -, starting and "
                 "ending with a letter or digit): write s3://BUCKET/PREFIX?endpoint=...",
                 url, rest);
    else if (!prefix_ok(prefix))
        rc = ERR(CAIRN_EINVAL,
                 "s3 URL '%s': prefix '%s' may hold only A-Z a-z 0-9 - . _ and single '/' "
                 "between names (no '.' or '..' component)",
                 url, prefix);
    if (rc == CAIRN_OK) rc = set_str(&c->bucket, rest);
    if (rc == CAIRN_OK) {
        size_t n = strlen(prefix);
        c->prefix = n && prefix[n - 1] != '/' ? cairn_sprintf("%s/", prefix) : cairn_strdup(prefix);
        if (!c->prefix) rc = ERR(CAIRN_ENOMEM, "out of memory parsing an s3 URL");
    }
    char *save = NULL;
    for (char *kv = query ? strtok_r(query, "&", &save) : NULL; kv && rc == CAIRN_OK;
         kv = strtok_r(NULL, "&", &save))
        rc = parse_param(c, url, kv);
    free(rest);
    if (rc < 0) return rc;
    if (!c->region) {
        const char *r = getenv("AWS_REGION");
        if (!r || !*r) r = getenv("AWS_DEFAULT_REGION");
        TRY(set_str(&c->region, r && *r ? r : "us-east-1"));
    }
    if (!c->endpoint) {
        const char *e = getenv("AWS_ENDPOINT_URL");
        if (e && *e) TRY(set_str(&c->endpoint, e));
        else if (!(c->endpoint = cairn_sprintf("https://s3.%s.amazonaws.com", c->region)))
            return ERR(CAIRN_ENOMEM, "out of memory parsing an s3 URL");
    }
    if (c->connect_timeout_ms > c->timeout_ms) c->connect_timeout_ms = c->timeout_ms;
    return CAIRN_OK;
}

static void conf_free(s3_conf *c)
{
    free(c->endpoint);
    free(c->region);
    free(c->bucket);
    free(c->prefix);
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    free(c->url);
}

/* ---- writability ---- */

int s3_check_writable(s3_store *s, const char *what)
{
    FAIL_IF(s->flags & CAIRN_OPEN_READONLY, CAIRN_EREADONLY,
            "%s: the s3 store %s was opened read-only", what, s->conf.url);
    FAIL_IF(!s->cond_ok, CAIRN_EUNSUPPORTED,
            "%s: the server at %s does not honour conditional writes (%s), so two writers could "
            "overwrite each other's refs and log entries; cairn refuses to write to bucket '%s' "
            "rather than let the last writer win",
            what, s->conf.endpoint, s->cond_problem, s->conf.bucket);
    return CAIRN_OK;
}

/* ---- chunks ---- */

#define BORN_DIGITS 16

char *s3_pack_name(const s3_store *s, const char *hex)
{
    return cairn_sprintf(S3_PACK_DIR "%0*" PRIx64 "-%s.pack", BORN_DIGITS,
                         MAX(s->seq, s->seq_hi) + 1, hex);
}

uint64_t s3_pack_born(const char *name)
{
    size_t d = strlen(S3_PACK_DIR);
    const char *p = name + d;
    if (strncmp(name, S3_PACK_DIR, d) != 0 || strlen(p) < BORN_DIGITS + 1 ||
        p[BORN_DIGITS] != '-' || strspn(p, "0123456789abcdef") != BORN_DIGITS)
        return 0;
    return strtoull(p, NULL, 16);
}

static int not_found(s3_store *s, const cairn_id *key)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, key);
    return ERR(CAIRN_ENOTFOUND, "chunk %s is not in the s3 store %s", hex, s->conf.url);
}

/* Copies the bytes of a chunk still in this handle's buffers (mu held); false when loc is in a
 * pack. */
static bool local_copy(s3_store *s, const s3_loc *loc, cairn_buf *out, int *rc)
{
    const cairn_buf *b = loc->pack == S3_PENDING    ? &s->pend.buf
                         : loc->pack == S3_FLUSHING ? &s->flushing.buf
                                                    : NULL;
    if (!b) return false;
    *rc = cairn_buf_set(out, b->data + loc->off, loc->len);
    return true;
}

/* A chunk from this handle's buffers or by ranged GET; a miss (or a pack compacted away by
 * another process) reads the log on once before CAIRN_ENOTFOUND. */
static int s3_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    s3_store *s = (s3_store *)st;
    for (int round = 0; round < 2; round++) {
        pthread_mutex_lock(&s->mu);
        s3_loc *at = s3_index_find(s, key);
        s3_loc loc;
        int rc = CAIRN_OK;
        bool found = at != NULL;
        if (found) loc = *at;
        bool local = found && local_copy(s, &loc, out, &rc);
        pthread_mutex_unlock(&s->mu);
        if (local) return rc;
        if (found && loc.len == 0) {
            out->len = 0;
            return CAIRN_OK;
        }
        if (found) {
            rc = s3_pack_read(s, out, &loc);
            if (rc != CAIRN_ENOTFOUND || round) return rc;
        }
        /* not known, or its pack is gone (compacted by another writer): read the log on */
        if (round == 0) TRY(s3_log_refresh(s));
    }
    return not_found(s, key);
}

/* Whether key is a gc candidate this handle has not written again since it was installed (mu
 * held); with `take`, counts it as written again from now on. */
static bool candidate(s3_store *s, const cairn_id *key, bool take)
{
    return store_cands_pending(&s->cands, key, take);
}

static int s3_has(cairn_store *st, const cairn_id *key)
{
    s3_store *s = (s3_store *)st;
    for (int round = 0; round < 2; round++) {
        pthread_mutex_lock(&s->mu);
        bool cand = candidate(s, key, false); /* to be written again */
        bool found = s3_index_find(s, key) != NULL && !cand;
        pthread_mutex_unlock(&s->mu);
        if (cand) return CAIRN_ENOTFOUND;
        if (found) return CAIRN_OK;
        if (round == 0) TRY(s3_log_refresh(s));
    }
    return CAIRN_ENOTFOUND;
}

/* ---- flushing ---- */

/* A flush (packs_only: the background one, which leaves the pack still filling pending). */
static int flush_now(s3_store *s, bool packs_only)
{
    pthread_mutex_lock(&s->flush_mu);
    int rc = packs_only ? s3_log_flush_packs(s) : s3_log_flush(s);
    pthread_mutex_unlock(&s->flush_mu);
    return rc;
}

/* A write buffer that reached S3_ASYNC_PACKS packs is flushed by a thread of its own while the
 * writer goes on filling the next one, so a long series of puts (a push) never waits for an
 * upload unless it gets S3_FLUSH_PACKS packs ahead. Order is kept without waiting: one flush
 * runs at a time (flush_mu) and each publishes every put made before it started, in one log
 * entry after the entries of the flushes before it, so what the bucket names after a kill is
 * a prefix of the puts (CAIRN_STORE_CAP_ORDERED). */
static void *bg_main(void *arg)
{
    s3_store *s = arg;
    int rc = flush_now(s, true);
    if (rc < 0) snprintf(s->bg_msg, sizeof s->bg_msg, "%s", cairn_error_last()->message);
    s->bg_rc = rc;
    atomic_store(&s->bg_running, false);
    return NULL;
}

/* Waits for the background flush, if one was started (bg_mu held), and returns its result
 * (its message in bg_msg). A failed one left its writes pending (s3_log_flush): the next
 * flush sends them again. */
static int bg_join(s3_store *s)
{
    if (!s->bg_on) return CAIRN_OK;
    pthread_join(s->bg, NULL);
    s->bg_on = false;
    return s->bg_rc < 0 ? s->bg_rc : CAIRN_OK;
}

/* Whether a buffer of `packs` packs is to be flushed now: at S3_ASYNC_PACKS when no
 * background flush runs, at S3_FLUSH_PACKS in any case. */
static bool bg_due(s3_store *s, uint64_t packs)
{
    return packs >= S3_FLUSH_PACKS || (packs >= S3_ASYNC_PACKS && !atomic_load(&s->bg_running));
}

/* After puts that left the buffer at `packs` packs: when bg_due, waits for the background
 * flush before (if any) and starts the next. When the writer is S3_FLUSH_PACKS ahead and the
 * flush before failed, the put fails with its error (as a flush of its own would have), so a
 * writer that cannot upload stops instead of buffering without end; before that, a failure
 * is only tried again. */
static int bg_flush(s3_store *s, uint64_t packs)
{
    if (!bg_due(s, packs)) return CAIRN_OK;
    pthread_mutex_lock(&s->bg_mu);
    int rc = bg_join(s);
    if (rc < 0 && packs >= S3_FLUSH_PACKS) rc = ERR(rc, "%s", s->bg_msg);
    else rc = CAIRN_OK;
    if (rc == CAIRN_OK) {
        s->bg_rc = CAIRN_OK;
        atomic_store(&s->bg_running, true);
        s->bg_on = pthread_create(&s->bg, NULL, bg_main, s) == 0;
        if (!s->bg_on) {
            atomic_store(&s->bg_running, false);
            rc = flush_now(s, true); /* no thread: flush here */
        }
    }
    pthread_mutex_unlock(&s->bg_mu);
    return rc;
}

static int s3_flush(cairn_store *st)
{
    s3_store *s = (s3_store *)st;
    pthread_mutex_lock(&s->bg_mu);
    (void)bg_join(s); /* (a failed one left its writes pending: flushed again below) */
    int rc = flush_now(s, false);
    pthread_mutex_unlock(&s->bg_mu);
    return rc;
}

/* Whether a chunk of len bytes would take the write buffer and the batch a flush is
 * uploading past S3_BUDGET_PACKS pack sizes together (mu held): then the put waits until that
 * flush lets go of its batch (flushed, or put back into the buffer when it failed). The write
 * buffer alone is never held back: with no flush running there is nothing to wait for, and the
 * buffer's own background flush is due long before (bg_due). So what a push holds in pack
 * bytes is bounded by the budget (plus a chunk), whatever the timing of its uploads: before,
 * the buffer went on to S3_FLUSH_PACKS packs beside a flush of up to as many, and a third
 * buffer was kept. */
static bool over_budget(const s3_store *s, size_t len)
{
    uint64_t budget = (uint64_t)S3_BUDGET_PACKS * s->conf.pack_target;
    return s->flushing.buf.len &&
           s->pend.buf.len + s->flushing.buf.len + len + S3_PACK_HEADER_SIZE > budget;
}

/* Adds a chunk to the write buffer (mu held); *packs: how many pack sizes the buffer holds.
 * A chunk the store has returns at once: it adds nothing, so it never waits on the budget
 * (it did, and a push that wrote one again stalled behind an upload). Looked up again after
 * each wait, which lets go of mu: another thread may have put it meanwhile. */
static int buffer_put(s3_store *s, const cairn_id *key, const void *data, size_t len,
                      uint64_t *packs)
{
    FAIL_IF(len > UINT32_MAX, CAIRN_EINVAL, "chunk of %zu bytes is too large for the s3 store",
            len);
    bool again, known;
    for (;;) {
        /* idempotent, but a gc candidate is written again (once), into a pack newer than the
         * gc's record, which its deletion spares */
        again = candidate(s, key, false);
        known = s3_index_find(s, key) != NULL;
        if (known && !again) return CAIRN_OK;
        if (!over_budget(s, len)) break;
        pthread_cond_wait(&s->up_cv, &s->mu);
    }
    s3_batch *p = &s->pend;
    TRY(s3_batch_room(s, len));
    s3_loc l = { .key = *key, .pack = S3_PENDING, .len = (uint32_t)len, .off = p->buf.len,
                 .check = hash_xxh3(data, len, 0) };
    if (known) s3_batch_hide(p, l.off); /* a write again over what the log says: s3_snap.c */
    TRY(cairn_array_room(&p->adds, &p->capadds, p->nadds, sizeof *p->adds, 64));
    TRY(cairn_buf_append(&p->buf, data, len));
    TRY(s3_index_set(s, &l));
    p->adds[p->nadds++] = l;
    if (again) candidate(s, key, true); /* has may say present again: it is in this pack */
    *packs = p->buf.len / s->conf.pack_target;
    return CAIRN_OK;
}

static int s3_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_check_writable(s, "putting a chunk"));
    uint64_t packs = 0;
    pthread_mutex_lock(&s->mu);
    int rc = buffer_put(s, key, data, len, &packs);
    pthread_mutex_unlock(&s->mu);
    return rc == CAIRN_OK ? bg_flush(s, packs) : rc;
}

static int s3_put_many(cairn_store *st, const cairn_store_chunk *chunks, size_t n)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_check_writable(s, "putting chunks"));
    for (size_t i = 0; i < n;) {
        uint64_t packs = 0;
        int rc = CAIRN_OK;
        pthread_mutex_lock(&s->mu);
        for (; i < n && !bg_due(s, packs) && rc == CAIRN_OK; i++)
            rc = buffer_put(s, &chunks[i].key, chunks[i].data, chunks[i].len, &packs);
        pthread_mutex_unlock(&s->mu);
        if (rc == CAIRN_OK) rc = bg_flush(s, packs);
        if (rc < 0) return rc;
    }
    return CAIRN_OK;
}

static int s3_del(cairn_store *st, const cairn_id *key)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_check_writable(s, "deleting a chunk"));
    pthread_mutex_lock(&s->mu);
    s3_index_remove(s, key);
    int rc = s3_batch_del(&s->pend, key, NULL);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int s3_list_chunks(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *),
                          void *payload)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_log_refresh(s));
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    s3_loc *copy = cairn_malloc((s->count ? s->count : 1) * sizeof *copy);
    size_t pos = 0;
    for (const s3_loc *l; copy && (l = s3_index_next(s, &pos));) copy[n++] = *l;
    pthread_mutex_unlock(&s->mu);
    if (!copy) return ERR(CAIRN_ENOMEM, "out of memory listing the s3 store's chunks");
    int rc = CAIRN_OK;
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) rc = cb(&copy[i].key, copy[i].len, payload);
    free(copy);
    return rc;
}

static int s3_stat(cairn_store *st, cairn_store_stats *out)
{
    s3_store *s = (s3_store *)st;
    pthread_mutex_lock(&s->mu);
    out->chunks = s->count;
    out->bytes = s->bytes;
    out->files = 0;
    for (uint32_t i = 0; i < s->npacks; i++) out->files += s->packs[i].size != 0; /* not removed */
    pthread_mutex_unlock(&s->mu);
    s3_http_counters(s->http, &out->requests, &out->bytes_sent, &out->bytes_received);
    return CAIRN_OK;
}

/* ---- batches ---- */

/* Answers from the index, reading the log on (a listing, 100-400 ms on radosgw) only when a
 * chunk is missing and a ref was read since the index was last brought up to date. has_many's
 * contract (cairn/sys/store.h) is that a chunk it says present is present, and that a chunk
 * another handle stored is seen once this handle has read a ref moved after it: that is how a
 * process comes to ask about another's chunks at all (a chunk read from this store names only
 * chunks logged before it, which the index holds once it holds that one). A chunk stored
 * elsewhere and not yet seen is answered absent, and a transfer copies it again (put is
 * idempotent). A push asks about what the remote lacks: every batch has misses, and each used
 * to cost a listing (about 12 a 1M-key push); now the push's read of the remote branch costs
 * one, at its first batch. */
static int s3_has_many(cairn_store *st, const cairn_id *keys, size_t n, int *rcs)
{
    s3_store *s = (s3_store *)st;
    for (int round = 0; round < 2; round++) {
        size_t missing = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < n; i++) {
            if (round && rcs[i] == CAIRN_OK) continue;
            bool cand = candidate(s, &keys[i], false); /* to be written again */
            rcs[i] = s3_index_find(s, &keys[i]) && !cand ? CAIRN_OK : CAIRN_ENOTFOUND;
            missing += rcs[i] != CAIRN_OK && !cand;
        }
        bool stale = atomic_load(&s->ref_reads) != s->refs_covered;
        pthread_mutex_unlock(&s->mu);
        if (!missing || round || !stale) break;
        TRY(s3_log_refresh(s)); /* one listing for the whole batch */
    }
    return CAIRN_OK;
}

/* The ref methods, counting the reads that has_many's answers must cover (after the read: a
 * refresh that began before it ended might have listed the log before the ref moved). */
static int s3_ref_get_counted(cairn_store *st, cairn_buf *out, const char *name)
{
    int rc = s3_ref_get(st, out, name);
    atomic_fetch_add(&((s3_store *)st)->ref_reads, 1);
    return rc;
}

static int s3_ref_list_counted(cairn_store *st, const char *prefix,
                               int (*cb)(const char *, const void *, size_t, void *),
                               void *payload)
{
    int rc = s3_ref_list(st, prefix, cb, payload);
    atomic_fetch_add(&((s3_store *)st)->ref_reads, 1);
    return rc;
}

/* A chunk of a get_many group to read from a pack. */
typedef struct wanted {
    uint32_t pack;
    uint64_t off;
    size_t i;               /* its index in the group */
} wanted;

static int wanted_cmp(const void *a, const void *b)
{
    const wanted *x = a, *y = b;
    if (x->pack != y->pack) return x->pack < y->pack ? -1 : 1;
    return (x->off > y->off) - (x->off < y->off);
}

/* Delivers chunk i of a run read by r (its range starting at r->off). */
static int deliver(s3_store *s, const s3_req *r, const s3_loc *l, const cairn_id *key,
                   size_t i, cairn_store_get_cb cb, void *payload)
{
    int grc = s3_req_rc(&s->conf, r);
    const uint8_t *data = NULL;
    if (grc == CAIRN_OK) {
        uint64_t at = l->off - r->off;
        if (r->resp.len != r->len || at + l->len > r->resp.len ||
            hash_xxh3(r->resp.data + at, l->len, 0) != l->check) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, key);
            grc = CORRUPT("chunk %s in pack object '%s' of bucket '%s' fails its checksum: "
                          "the object was overwritten or damaged; not served",
                          hex, r->obj, s->conf.bucket);
        } else {
            data = r->resp.data + at;
        }
    }
    return cb(i, grc, data, data ? l->len : 0, payload);
}

/* ---- read-ahead ----
 *
 * A transfer (push, clone, fetch) or a long scan reads packs mostly in the order they were
 * written, a batch of neighbouring chunks at a time. After a long run (RA_MIN_RUN bytes), the
 * RA_WINDOW bytes that follow it (on in the same pack, or from the start of the pack the log
 * names after it) are read in the background while the caller works on what it got, and when
 * a later group takes chunks from that window, the window after it is started. A group takes
 * its chunks from the windows first, each checked against its XXH3 like any ranged read, so a
 * clone's downloads overlap its local writes and it makes a GET per 2 MiB rather than one per
 * batch of 256 chunks. A window is read as S3_RA_PARTS ranged GETs in parallel: radosgw
 * answered a range of a few MiB at several times the bytes per second of one of 8 MiB (curl on
 * the shared machine: 1-2 MiB in 12-33 ms, 4 MiB in 230-290 ms, 8 MiB in 140-500 ms), and
 * one 8 MiB GET a window made the clone slower than without read-ahead. Small batches (point
 * reads) never read ahead. */

static void *ahead_main(void *arg)
{
    s3_store *s = arg;
    s3_window *w = &s->ahead.next;
    bool ok = s3_http_run(s->http, w->part, w->nparts) == CAIRN_OK;
    for (size_t k = 0; ok && k < w->nparts; k++) {
        const s3_req *r = &w->part[k];
        ok = r->curl_rc == 0 && r->status == 206 && r->resp.len == r->len;
    }
    w->ok = ok; /* (a failed window is dropped when it would be used) */
    return NULL;
}

/* Empties a window, keeping its parts' response buffers for the next one. */
static void window_clear(s3_window *w)
{
    w->pack = S3_NO_PACK;
    for (size_t k = 0; k < S3_RA_PARTS; k++) s3_req_reset(&w->part[k]);
    w->nparts = 0;
    w->ok = false;
}

static void ahead_join(s3_ahead *a)
{
    if (!a->started) return;
    pthread_join(a->thread, NULL);
    a->started = false;
}

/* Drops both windows and their memory (at close). */
static void ahead_free(s3_ahead *a)
{
    ahead_join(a);
    window_clear(&a->win);
    window_clear(&a->next);
    for (size_t k = 0; k < S3_RA_PARTS; k++) {
        s3_req_dispose(&a->win.part[k]);
        s3_req_dispose(&a->next.part[k]);
    }
}

/* Makes the next window (once read) the window; a failed read is dropped (ahead.mu held). */
static void ahead_promote(s3_ahead *a)
{
    ahead_join(a);
    s3_window t = a->win;
    a->win = a->next;
    a->next = t;
    window_clear(&a->next);
    if (!a->win.ok) window_clear(&a->win);
}

/* Starts reading, in the background, the window at byte `from` of pack number `pack`, or at
 * the start of the pack after it when `from` is its end (ahead.mu held, no next window). Each
 * part reads RA_OVERLAP bytes past its share (within the pack), so that a chunk that starts in
 * a part ends in it. (Packs are known by their numbers in s->packs, which a handle never
 * reuses: the windows used to keep a copy of the name, found again by strcmp over every pack
 * at each start and compared per chunk.) */
static void ahead_start(s3_store *s, uint32_t pack, uint64_t from)
{
    s3_window *w = &s->ahead.next;
    window_clear(w);
    pthread_mutex_lock(&s->mu);
    uint32_t n = pack;
    if (n < s->npacks && from >= s->packs[n].size) { /* that pack is read: the one after it */
        for (n++; n < s->npacks && !s->packs[n].size; n++) {}
        from = 0;
    }
    uint64_t size = n < s->npacks ? s->packs[n].size : 0;
    bool ok = from < size;
    if (ok) {
        w->pack = n;
        w->off = from;
        w->len = MIN((uint64_t)RA_WINDOW, size - from);
    }
    for (uint64_t at = from; ok && at < from + w->len; at += RA_PART) {
        s3_req *r = &w->part[w->nparts++];
        r->method = "GET";
        r->obj = s3_obj(s, s->packs[n].name);
        r->range = true;
        r->off = at;
        r->len = MIN((uint64_t)RA_PART + RA_OVERLAP, size - at);
        ok = r->obj != NULL;
    }
    pthread_mutex_unlock(&s->mu);
    s->ahead.started = ok && pthread_create(&s->ahead.thread, NULL, ahead_main, s) == 0;
    if (!s->ahead.started) window_clear(w); /* (the caller reads what it needs itself) */
}

/* Whether window w reaches byte `at` of pack number `pack` (or ends there). */
static bool holds(const s3_window *w, uint32_t pack, uint64_t at)
{
    return w->pack == pack && at >= w->off && at <= w->off + w->len;
}

/* The part of window w that holds chunk l (of pack number l->pack), or NULL. */
static s3_req *part_of(s3_window *w, const s3_loc *l)
{
    if (w->pack == S3_NO_PACK || w->pack != l->pack || l->off < w->off ||
        l->off >= w->off + w->len)
        return NULL;
    s3_req *r = &w->part[(l->off - w->off) / RA_PART];
    return l->off + l->len <= r->off + r->len ? r : NULL;
}

/* Delivers what the windows hold of w[0..nw) (sorted) and drops those from w (ahead.mu held):
 * from the window, then from the next one, which becomes the window when it holds any.
 * Returns how many are left in w. */
static size_t from_windows(s3_store *s, const cairn_id *keys, const s3_loc *locs, int *state,
                           wanted *w, size_t nw, size_t base, cairn_store_get_cb cb,
                           void *payload, int *rc)
{
    s3_ahead *a = &s->ahead;
    s3_req **hit = cairn_calloc(nw ? nw : 1, sizeof *hit);
    if (!hit) return nw; /* (read the usual way) */
    for (int pass = 0; pass < 2 && *rc == CAIRN_OK && nw; pass++) {
        size_t in_next = 0;
        for (size_t j = 0; j < nw; j++) {
            hit[j] = a->win.ok ? part_of(&a->win, &locs[w[j].i]) : NULL;
            in_next += !hit[j] && part_of(&a->next, &locs[w[j].i]);
        }
        size_t left = 0;
        for (size_t j = 0; j < nw; j++) {
            size_t i = w[j].i;
            if (!hit[j] || *rc != CAIRN_OK) {
                w[left++] = w[j];
                continue;
            }
            state[i] = 1;
            *rc = deliver(s, hit[j], &locs[i], &keys[i], base + i, cb, payload);
        }
        nw = left;
        if (!in_next) break;
        ahead_promote(a);
    }
    free(hit);
    return nw;
}

/* One group of get_many: resolves each key; delivers what is in this handle's buffers, then
 * (a group of RA_BULK or more) what the read-ahead windows hold; reads the rest from their
 * packs, neighbours in one pack together (one ranged GET a run, gaps of up to RUN_GAP bytes
 * read and dropped), the runs in parallel, and starts reading the window after the longest
 * run. A key not found, or whose pack is gone, is looked up again after one log refresh per
 * batch (`refreshed`). */
static int get_group(s3_store *s, const cairn_id *keys, size_t n, size_t base,
                     cairn_store_get_cb cb, void *payload, bool *refreshed)
{
    s3_loc *locs = cairn_calloc(n, sizeof *locs);
    int *state = cairn_calloc(n, sizeof *state); /* 0 in a pack, 1 delivered, 2 missing */
    s3_req *reqs = cairn_calloc(n, sizeof *reqs);
    wanted *w = cairn_calloc(n, sizeof *w);
    size_t *run_end = cairn_calloc(n, sizeof *run_end); /* run q is w[run_end[q-1]..run_end[q]) */
    int rc = locs && state && reqs && w && run_end
                 ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory in get_many");
    cairn_buf tmp = CAIRN_BUF_INIT;
    for (int round = 0; round < 2 && rc == CAIRN_OK; round++) {
        size_t nw = 0, missing = 0;
        for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
            if (round && state[i] != 2) continue;
            pthread_mutex_lock(&s->mu);
            s3_loc *at = s3_index_find(s, &keys[i]);
            int lrc = CAIRN_OK;
            bool local = at && local_copy(s, at, &tmp, &lrc);
            bool found = at != NULL;
            if (found) locs[i] = *at;
            pthread_mutex_unlock(&s->mu); /* (at may move now: use locs[i]) */
            if (local || (found && locs[i].len == 0)) {
                if (!local) tmp.len = 0;
                state[i] = 1;
                rc = cb(base + i, lrc, lrc ? NULL : tmp.data, lrc ? 0 : tmp.len, payload);
            } else if (!found) {
                state[i] = 2;
                missing++;
            } else {
                state[i] = 0;
                w[nw++] = (wanted){ locs[i].pack, locs[i].off, i };
            }
        }
        if (nw) qsort(w, nw, sizeof *w, wanted_cmp);
        /* a large group (a transfer, a scan) uses the read-ahead; one at a time */
        bool ahead = round == 0 && rc == CAIRN_OK && nw >= RA_BULK &&
                     pthread_mutex_trylock(&s->ahead.mu) == 0;
        if (ahead) nw = from_windows(s, keys, locs, state, w, nw, base, cb, payload, &rc);
        size_t nreq = 0;
        uint64_t ext_len = 0, ext_end = 0; /* the longest run read: read on after its end */
        uint32_t ext_pack = S3_NO_PACK;
        for (size_t j = 0; j < nw && rc == CAIRN_OK; nreq++) {
            s3_req *r = &reqs[nreq];
            s3_req_reset(r);
            const s3_loc *first = &locs[w[j].i];
            uint64_t lo = first->off, hi = first->off + first->len;
            for (j++; j < nw && w[j].pack == first->pack; j++) {
                const s3_loc *l = &locs[w[j].i];
                if (l->off > hi + RUN_GAP || l->off + l->len - lo > RUN_MAX) break;
                if (l->off + l->len > hi) hi = l->off + l->len;
            }
            run_end[nreq] = j;
            pthread_mutex_lock(&s->mu);
            r->obj = s3_obj(s, s->packs[first->pack].name);
            if (ahead && hi - lo >= RA_MIN_RUN && hi - lo > ext_len) {
                ext_pack = first->pack;
                ext_len = hi - lo;
                ext_end = hi;
            }
            pthread_mutex_unlock(&s->mu);
            r->method = "GET";
            r->range = true;
            r->off = lo;
            r->len = hi - lo;
            if (!r->obj) rc = ERR(CAIRN_ENOMEM, "out of memory in get_many");
        }
        if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, nreq);
        for (size_t q = 0, j = 0; q < nreq && rc == CAIRN_OK; q++) {
            bool gone = reqs[q].status == 404 && !round; /* the pack: try after a refresh */
            for (; j < run_end[q] && rc == CAIRN_OK; j++) {
                size_t i = w[j].i;
                if (gone) {
                    state[i] = 2;
                    missing++;
                    continue;
                }
                state[i] = 1;
                rc = deliver(s, &reqs[q], &locs[i], &keys[i], base + i, cb, payload);
            }
        }
        if (ahead) {
            s3_ahead *a = &s->ahead;
            if (rc == CAIRN_OK && ext_pack != S3_NO_PACK &&
                !holds(&a->win, ext_pack, ext_end) && !holds(&a->next, ext_pack, ext_end)) {
                ahead_join(a); /* (the next window followed what was read before) */
                window_clear(&a->next);
                ahead_start(s, ext_pack, ext_end);
            }
            if (rc == CAIRN_OK && a->win.pack != S3_NO_PACK && a->next.pack == S3_NO_PACK)
                ahead_start(s, a->win.pack, a->win.off + a->win.len);
            pthread_mutex_unlock(&a->mu);
        }
        if (rc != CAIRN_OK || !missing) break;
        if (round == 0 && !*refreshed) {
            rc = s3_log_refresh(s);
            *refreshed = true;
        }
    }
    for (size_t i = 0; rc == CAIRN_OK && state && i < n; i++)
        if (state[i] == 2) rc = cb(base + i, not_found(s, &keys[i]), NULL, 0, payload);
    for (size_t i = 0; reqs && i < n; i++) s3_req_dispose(&reqs[i]);
    cairn_buf_dispose(&tmp);
    free(locs);
    free(state);
    free(reqs);
    free(w);
    free(run_end);
    return rc;
}

static int s3_get_many(cairn_store *st, const cairn_id *keys, size_t n, cairn_store_get_cb cb,
                       void *payload)
{
    s3_store *s = (s3_store *)st;
    bool refreshed = false;
    for (size_t at = 0; at < n; at += GET_BATCH) {
        int rc = get_group(s, keys + at, MIN(GET_BATCH, n - at), at, cb, payload, &refreshed);
        if (rc) return rc; /* an error, or the callback's value */
    }
    return CAIRN_OK;
}

/* ---- gc generations (version 6) ---- */

/* The log's last entry: a pack a later flush writes is named by a later one. */
static int s3_gc_gen(cairn_store *st, uint64_t *out)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_log_refresh(s));
    pthread_mutex_lock(&s->mu);
    *out = MAX(s->seq, s->seq_hi);
    pthread_mutex_unlock(&s->mu);
    return CAIRN_OK;
}

static int s3_set_candidates(cairn_store *st, const cairn_id *keys, size_t n)
{
    s3_store *s = (s3_store *)st;
    TRY(store_cands_set(&s->cands, &s->mu, keys, n));
    return s3_log_refresh(s); /* the deletions of the run that made the record */
}

/* A chunk in a pack born after entry gen (s3_pack_born: written by a handle that had read the
 * log past the record, so a writer that wrote it again, or a compaction's copy) is kept. The
 * others are deleted from the pack they are in only (the entry's deletion names it,
 * S3_LOG_DEL_PACK): a writer that writes one again after this call decides puts it in a newer
 * pack, and the deletion, applied in log order after or before that writer's entry, spares
 * it. The entry is written here, and a chunk that a write again ordered before it spared is
 * reported kept too, so that kept[] (gc's "deleted" and "spared") says what the log did, not
 * what was decided. */
static int s3_del_older(cairn_store *st, const cairn_id *keys, size_t n, uint64_t gen, bool *kept)
{
    s3_store *s = (s3_store *)st;
    TRY(s3_check_writable(s, "deleting chunks"));
    TRY(s3_log_refresh(s)); /* what writers wrote again so far */
    bool *doomed = cairn_calloc(n ? n : 1, sizeof *doomed);
    FAIL_IF(!doomed, CAIRN_ENOMEM, "out of memory deleting %zu chunks", n);
    int rc = CAIRN_OK;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
        s3_loc *at = s3_index_find(s, &keys[i]);
        kept[i] = at && (at->pack == S3_PENDING || at->pack == S3_FLUSHING ||
                         s3_pack_born(s->packs[at->pack].name) > gen);
        if (!at || kept[i]) continue;
        rc = s3_batch_del(&s->pend, &keys[i], s->packs[at->pack].name);
        if (rc == CAIRN_OK) s3_index_remove(s, &keys[i]);
        doomed[i] = rc == CAIRN_OK;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == CAIRN_OK && s->test_hook) s->test_hook(s->test_hook_arg, "deletions decided");
    if (rc == CAIRN_OK) rc = s3_flush(st);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) /* there after the entry: spared */
        if (doomed[i] && s3_index_find(s, &keys[i])) kept[i] = true;
    pthread_mutex_unlock(&s->mu);
    free(doomed);
    return rc;
}

/* ---- open and close ---- */

static void s3_close(cairn_store *st)
{
    s3_store *s = (s3_store *)st;
    if (!s) return;
    bool writer = s->http && !(s->flags & CAIRN_OPEN_READONLY) && s->cond_ok;
    /* (only a writer's puts start background flushes, and its flush joins the last one) */
    if (writer && s3_flush(st) < 0)
        cairn_diag(CAIRN_LOG_ERROR, "closing s3 store %s: %s", s->conf.url,
                   cairn_error_last()->message);
    ahead_free(&s->ahead);
    pthread_mutex_lock(&s->mu);
    s3_uploads_wait(s); /* (a failed flush may leave none running: this is for the others) */
    if (writer) s3_snap_maybe(s); /* a snapshot due and not written by a flush */
    s3_snap_wait(s);
    pthread_mutex_unlock(&s->mu);
    s3_http_free(s->http);
    s3_index_free(s);
    store_cands_free(&s->cands);
    conf_free(&s->conf);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_mutex_destroy(&s->bg_mu);
    pthread_mutex_destroy(&s->ahead.mu);
    pthread_cond_destroy(&s->up_cv);
    free(s);
}

/* PUT of the bucket itself (CAIRN_OPEN_CREATE on a missing bucket). */
static int create_bucket(s3_store *s)
{
    char *body = strcmp(s->conf.region, "us-east-1") == 0
                     ? cairn_strdup("")
                     : cairn_sprintf("<CreateBucketConfiguration><LocationConstraint>%s"
                                     "</LocationConstraint></CreateBucketConfiguration>",
                                     s->conf.region);
    if (!body) return ERR(CAIRN_ENOMEM, "out of memory creating a bucket");
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "PUT";
    r.body = (const uint8_t *)body;
    r.body_len = strlen(body);
    int rc = s3_http_one(s->http, &s->conf, &r);
    char code[64];
    s3_req_code(&r, code, sizeof code);
    if (rc == CAIRN_ECONFLICT && strcmp(code, "BucketAlreadyOwnedByYou") == 0) rc = CAIRN_OK;
    if (rc < 0) cairn_error_prefix(rc, "creating bucket '%s'", s->conf.bucket);
    s3_req_dispose(&r);
    free(body);
    return rc;
}

/* Writes the marker (this format's) with r, which named it for a GET; if_none_match: only
 * when there is none. */
static int put_marker(s3_store *s, s3_req *r, bool if_none_match)
{
    char *obj = r->obj;
    r->obj = NULL;
    s3_req_reset(r);
    r->method = "PUT";
    r->obj = obj;
    r->body = (const uint8_t *)S3_MARKER_TEXT;
    r->body_len = strlen(S3_MARKER_TEXT);
    r->if_none_match = if_none_match;
    return s3_http_one(s->http, &s->conf, r);
}

/* Checks (or with CAIRN_OPEN_CREATE writes) the marker object that says a cairn store lives
 * under the prefix. */
static int open_marker(s3_store *s)
{
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.obj = s3_obj(s, S3_MARKER_OBJ);
    if (!r.obj) return ERR(CAIRN_ENOMEM, "out of memory opening an s3 store");
    int rc = s3_http_one(s->http, &s->conf, &r);
    char code[64];
    s3_req_code(&r, code, sizeof code);
    bool create = s->flags & CAIRN_OPEN_CREATE;
    size_t mlen = strlen(S3_MARKER_TEXT);
    bool v1 = false;
    if (rc == CAIRN_OK) {
        v1 = r.resp.len == mlen && memcmp(r.resp.data, S3_MARKER_TEXT_V1, mlen) == 0;
        if (!v1 && (r.resp.len != mlen || memcmp(r.resp.data, S3_MARKER_TEXT, mlen) != 0))
            rc = ERR(CAIRN_EINVAL, "%s: object '%s' is there but is not a cairn s3 store marker "
                     "(another format version, or not cairn's)", s->conf.url, r.obj);
        else if (create && (s->flags & CAIRN_OPEN_EXCL))
            rc = ERR(CAIRN_EEXIST, "a cairn store already exists at %s", s->conf.url);
    }
    if (rc == CAIRN_OK && v1 && !(s->flags & CAIRN_OPEN_READONLY)) {
        /* a writer may snapshot the log and remove what a snapshot covers, which a format-1
         * build would misread: move the marker first, so such builds refuse the store */
        rc = put_marker(s, &r, false);
        if (rc < 0) cairn_error_prefix(rc, "moving the store at %s to format 2", s->conf.url);
    } else if (rc == CAIRN_ENOTFOUND && !create) {
        if (strcmp(code, "NoSuchBucket") != 0)
            rc = ERR(CAIRN_ENOTFOUND,
                     "no cairn store at %s (bucket '%s' has no object '%s'): create one with "
                     "'cairn init %s'",
                     s->conf.url, s->conf.bucket, r.obj, s->conf.url);
    } else if (rc == CAIRN_ENOTFOUND) {
        rc = CAIRN_OK;
        if (strcmp(code, "NoSuchBucket") == 0) rc = create_bucket(s);
        if (rc == CAIRN_OK) {
            rc = put_marker(s, &r, true);
            if (rc == CAIRN_ECONFLICT) rc = CAIRN_OK; /* another process created it meanwhile */
            if (rc < 0) cairn_error_prefix(rc, "creating the store at %s", s->conf.url);
        }
    }
    s3_req_dispose(&r);
    return rc;
}

int store_s3_url_check(const char *url)
{
    s3_conf c;
    memset(&c, 0, sizeof c);
    int rc = parse_url(&c, url);
    conf_free(&c);
    return rc;
}

int store_s3_open(cairn_store **out, const char *url, unsigned flags)
{
    *out = NULL;
    s3_store *s = cairn_calloc(1, sizeof *s);
    if (!s) return ERR(CAIRN_ENOMEM, "out of memory opening an s3 store");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_mutex_init(&s->bg_mu, NULL);
    pthread_mutex_init(&s->ahead.mu, NULL);
    s->ahead.win.pack = s->ahead.next.pack = S3_NO_PACK;
    pthread_cond_init(&s->up_cv, NULL);
    s->flags = flags;
    s->pack_age_max = S3_PACK_AGE_MAX;
    int rc = parse_url(&s->conf, url);
    if (rc == CAIRN_OK) rc = s3_cred_load(&s->conf);
    if (rc == CAIRN_OK) rc = s3_http_new(&s->http, &s->conf);
    if (rc == CAIRN_OK) s3_http_drop_conditions(s->http, atomic_load(&test_drop_conditions));
    if (rc == CAIRN_OK) rc = s3_index_init(s);
    if (rc == CAIRN_OK) rc = open_marker(s);
    if (rc == CAIRN_OK && !(flags & CAIRN_OPEN_READONLY)) rc = s3_probe_conditions(s);
    if (rc == CAIRN_OK) rc = s3_log_refresh(s);
    s->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED | CAIRN_STORE_CAP_REF_CAS |
                CAIRN_STORE_CAP_REMOTE | CAIRN_STORE_CAP_COMPACT | CAIRN_STORE_CAP_ORDERED |
                CAIRN_STORE_CAP_GC_GEN,
        .kind = "s3",
        .location = s->conf.url,
        .get = s3_get,
        .put = s3_put,
        .has = s3_has,
        .del = s3_del,
        .list = s3_list_chunks,
        .flush = s3_flush,
        .ref_get = s3_ref_get_counted,
        .ref_cas = s3_ref_cas,
        .ref_list = s3_ref_list_counted,
        .stat = s3_stat,
        .close = s3_close,
        .get_many = s3_get_many,
        .has_many = s3_has_many,
        .put_many = s3_put_many,
        .compact = s3_compact,
        .gc_gen = s3_gc_gen,
        .set_candidates = s3_set_candidates,
        .del_older = s3_del_older,
        .remove_orphans = s3_remove_orphans,
    };
    if (rc < 0) {
        s->flags |= CAIRN_OPEN_READONLY; /* nothing to flush */
        s3_close(&s->base);
        return rc;
    }
    if (!s->cond_ok && !(flags & CAIRN_OPEN_READONLY))
        cairn_diag(CAIRN_LOG_WARN, "s3 store %s: the server does not honour conditional writes "
                   "(%s); this handle can only read", s->conf.url, s->cond_problem);
    *out = &s->base;
    return CAIRN_OK;
}
