/*
 * s3_log.c - the s3 store's chunk index. Chunks travel in pack objects (packs/<random>.pack:
 * a header, then chunk bytes back to back); what a pack holds, and which chunks were deleted, is
 * said by the log: objects log/<sequence number>, each created with If-None-Match: * so that two
 * writers can never take the same number. The log is the order of every flush of every writer;
 * applying it in order (deletions of an entry, then its additions) gives the index a reader
 * keeps in memory: key -> (pack, offset, length, XXH3 of the bytes). A ranged GET reads one
 * chunk and is checked against that XXH3, so an overwritten pack reads as CAIRN_ECORRUPT naming
 * the object. Compaction writes a base entry (the whole index) and then removes what it
 * replaces. An open starts from the newest snapshot of the index (s3_snap.c) and reads only
 * the entries after it. Byte layouts: docs/FORMAT.md, "S3 store: objects in a bucket".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "store/s3_int.h"

#define LOG_READ_BATCH 64
#define SEQ_TRIES 1000
#define REFRESH_RESTARTS 3
#define DAMAGE_MSG 600        /* bytes kept of a damaged snapshot's message */
#define LIST_STOP 1          /* a listing callback's "enough" */
#define STALE 1              /* log_append: the packs are too old to name now */
#define STALE_ROUNDS 4       /* upload_batch: uploads again of packs grown too old */

/* ---- the in-memory index ----
 *
 * Every chunk the store knows costs one s3_loc (56 bytes) and nothing more: the hash table
 * this replaced cost twice that at its load factor and, while it doubled, three times. Most
 * locations sit in `sorted`, an array ordered by key with no empty slots, searched by
 * bisection; a chunk removed from it stays as a hole (pack S3_GONE) that a later set of the
 * same key fills again, until the next merge drops it. Keys sorted lacks go into `recent`, a
 * small open-addressing table (linear probing, backward-shift removal), merged into sorted in
 * place once it holds a sixteenth as many: an insertion costs on average a bounded number of
 * moves (about RECENT_FRACTION), and sorted grows by realloc, which for a large array remaps
 * its pages rather than copying them, so a merge needs no second copy of the index either. A
 * key is in sorted or in recent, never both. */

#define RECENT_INITIAL 1024      /* slots of recent at first (a power of two) */
#define RECENT_MIN_MERGE 768     /* recent is merged once it holds max(this, ... */
#define RECENT_FRACTION 16       /* ... nsorted / this) keys */

static void recent_clear(s3_loc *slots, size_t cap)
{
    for (size_t i = 0; i < cap; i++) slots[i].pack = S3_FREE;
}

int s3_index_init(s3_store *s)
{
    s->recent = cairn_malloc(RECENT_INITIAL * sizeof *s->recent);
    if (!s->recent) return ERR(CAIRN_ENOMEM, "out of memory for the s3 store's index");
    recent_clear(s->recent, RECENT_INITIAL);
    s->rmask = RECENT_INITIAL - 1;
    return CAIRN_OK;
}

static void batch_free(s3_batch *b)
{
    cairn_buf_dispose(&b->buf);
    free(b->parts);
    for (size_t k = 0; b->ups && k < b->nparts; k++) free(b->ups[k].name);
    free(b->ups);
    free(b->adds);
    for (size_t i = 0; b->dpack && i < b->ndels; i++) free(b->dpack[i]);
    free(b->dels);
    free(b->dpack);
    memset(b, 0, sizeof *b);
}

void s3_index_free(s3_store *s)
{
    free(s->sorted);
    free(s->recent);
    for (uint32_t i = 0; i < s->npacks; i++) free(s->packs[i].name);
    free(s->packs);
    batch_free(&s->pend);
    batch_free(&s->flushing);
}

/* Frees the batch a flush took (mu held), flushed or put back into the write buffer, and wakes
 * the writers over_budget holds: its bytes no longer count. Its buffer is freed, not kept for
 * the next batch: a kept one stayed resident beside the two in use, up to its largest fill
 * (docs/ARCHITECTURE.md, "Stores": the write budget). */
static void flushing_done(s3_store *s)
{
    batch_free(&s->flushing);
    pthread_cond_broadcast(&s->up_cv);
}

/* recent's slot for key: keys are hashes in practice, but tests and tools use structured ones
 * (equal first bytes), so the whole key is hashed rather than some bytes taken as they are. */
static size_t home(const s3_store *s, const cairn_id *key)
{
    return (size_t)hash_xxh3(key->bytes, CAIRN_ID_SIZE, 0) & s->rmask;
}

static s3_loc *recent_find(const s3_store *s, const cairn_id *key)
{
    for (size_t i = home(s, key);; i = (i + 1) & s->rmask) {
        s3_loc *l = &s->recent[i];
        if (l->pack == S3_FREE) return NULL;
        if (memcmp(l->key.bytes, key->bytes, CAIRN_ID_SIZE) == 0) return l;
    }
}

/* sorted's entry for key, a hole included, or NULL. */
static s3_loc *sorted_find(const s3_store *s, const cairn_id *key)
{
    size_t lo = 0, hi = s->nsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->sorted[mid].key.bytes, key->bytes, CAIRN_ID_SIZE);
        if (c == 0) return &s->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

s3_loc *s3_index_find(s3_store *s, const cairn_id *key)
{
    s3_loc *l = recent_find(s, key);
    if (l) return l;
    l = sorted_find(s, key);
    return l && l->pack != S3_GONE ? l : NULL;
}

/* Puts loc into recent, which has room (no key of recent or sorted is loc's). */
static void recent_insert(s3_store *s, const s3_loc *loc)
{
    size_t i = home(s, &loc->key);
    while (s->recent[i].pack != S3_FREE) i = (i + 1) & s->rmask;
    s->recent[i] = *loc;
    s->nrecent++;
}

static int recent_grow(s3_store *s)
{
    size_t ocap = s->rmask + 1, ncap = 2 * ocap;
    s3_loc *ns = cairn_malloc(ncap * sizeof *ns);
    if (!ns) return ERR(CAIRN_ENOMEM, "out of memory growing the s3 store's index");
    recent_clear(ns, ncap);
    s3_loc *old = s->recent;
    s->recent = ns;
    s->rmask = ncap - 1;
    s->nrecent = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].pack != S3_FREE) recent_insert(s, &old[i]);
    free(old);
    return CAIRN_OK;
}

static int loc_cmp(const void *a, const void *b)
{
    return memcmp(((const s3_loc *)a)->key.bytes, ((const s3_loc *)b)->key.bytes,
                  CAIRN_ID_SIZE);
}

/* Keeps the entries of sorted that keep(entry) says, in order (holes never). */
static void sorted_filter(s3_store *s, bool (*keep)(const s3_loc *))
{
    size_t n = 0;
    for (size_t i = 0; i < s->nsorted; i++)
        if (s->sorted[i].pack != S3_GONE && (!keep || keep(&s->sorted[i])))
            s->sorted[n++] = s->sorted[i];
    s->nsorted = n;
    s->nholes = 0;
}

/* Moves recent into sorted: sorted grows first (on failure nothing has changed), recent's entries
 * are gathered at its front and sorted there, sorted loses its holes, and the two sorted runs
 * are merged from the back. */
static int index_merge(s3_store *s)
{
    size_t cap = s->rmask + 1, m = 0;
    for (size_t i = 0; i < cap; i++) m += s->recent[i].pack != S3_FREE;
    if (!m) return CAIRN_OK;
    s3_loc *nb = cairn_realloc(s->sorted, (s->nsorted + m) * sizeof *nb);
    if (!nb) return ERR(CAIRN_ENOMEM, "out of memory growing the s3 store's index");
    s->sorted = nb;
    m = 0;
    for (size_t i = 0; i < cap; i++)
        if (s->recent[i].pack != S3_FREE) s->recent[m++] = s->recent[i];
    qsort(s->recent, m, sizeof *s->recent, loc_cmp);
    sorted_filter(s, NULL);
    size_t i = s->nsorted, j = m, k = s->nsorted + m;
    while (j > 0) {
        if (i > 0 && loc_cmp(&nb[i - 1], &s->recent[j - 1]) > 0) nb[--k] = nb[--i];
        else nb[--k] = s->recent[--j];
    }
    s->nsorted += m;
    recent_clear(s->recent, cap);
    s->nrecent = 0;
    return CAIRN_OK;
}

int s3_index_set(s3_store *s, const s3_loc *loc)
{
    s3_loc *at = recent_find(s, &loc->key);
    if (!at) at = sorted_find(s, &loc->key);
    if (at && at->pack != S3_GONE) {
        s->bytes = s->bytes - at->len + loc->len;
        *at = *loc;
        return CAIRN_OK;
    }
    if (at) { /* a hole of sorted: filled again */
        *at = *loc;
        s->nholes--;
    } else {
        size_t merge_at = MAX((size_t)RECENT_MIN_MERGE, s->nsorted / RECENT_FRACTION);
        if (s->nrecent + 1 > merge_at) TRY(index_merge(s));
        if ((s->nrecent + 1) * 4 > (s->rmask + 1) * 3) TRY(recent_grow(s));
        recent_insert(s, loc);
    }
    s->count++;
    s->bytes += loc->len;
    return CAIRN_OK;
}

void s3_index_remove(s3_store *s, const cairn_id *key)
{
    s3_loc *at = recent_find(s, key);
    if (!at) {
        at = sorted_find(s, key);
        if (!at || at->pack == S3_GONE) return;
        s->count--;
        s->bytes -= at->len;
        at->pack = S3_GONE; /* a hole, until the key is set again or the next merge */
        s->nholes++;
        return;
    }
    s->count--;
    s->bytes -= at->len;
    size_t i = (size_t)(at - s->recent);
    s->recent[i].pack = S3_FREE;
    s->nrecent--;
    /* backward shift: move up each later entry of the run that may live at i */
    for (size_t j = (i + 1) & s->rmask; s->recent[j].pack != S3_FREE; j = (j + 1) & s->rmask) {
        size_t k = home(s, &s->recent[j].key);
        bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (!movable) continue;
        s->recent[i] = s->recent[j];
        s->recent[j].pack = S3_FREE;
        i = j;
    }
}

s3_loc *s3_index_next(s3_store *s, size_t *pos)
{
    for (; *pos < s->nsorted; (*pos)++)
        if (s->sorted[*pos].pack != S3_GONE) return &s->sorted[(*pos)++];
    for (; *pos - s->nsorted <= s->rmask; (*pos)++)
        if (s->recent[*pos - s->nsorted].pack != S3_FREE) return &s->recent[(*pos)++ - s->nsorted];
    return NULL;
}

/* ---- names ---- */

char *s3_obj(const s3_store *s, const char *rel)
{
    return cairn_sprintf("%s%s", s->conf.prefix, rel);
}

static char *log_name(uint64_t seq)
{
    return cairn_sprintf(S3_LOG_DIR "%0*" PRIu64, S3_SEQ_DIGITS, seq);
}

/* ---- a set of names ---- */

int s3_names_init(s3_names *t, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    t->keys = cairn_calloc(cap, sizeof *t->keys);
    t->vals = cairn_calloc(cap, sizeof *t->vals);
    t->mask = cap - 1;
    if (t->keys && t->vals) return CAIRN_OK;
    s3_names_free(t);
    return ERR(CAIRN_ENOMEM, "out of memory for a table of %zu pack names", n);
}

void s3_names_free(s3_names *t)
{
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

static size_t names_slot(const s3_names *t, const char *name)
{
    size_t i = hash_xxh3(name, strlen(name), 0) & t->mask;
    while (t->keys[i] && strcmp(t->keys[i], name) != 0) i = (i + 1) & t->mask;
    return i;
}

void s3_names_put(s3_names *t, const char *name, uint32_t val)
{
    size_t i = names_slot(t, name);
    if (t->keys[i]) return;
    t->keys[i] = name;
    t->vals[i] = val;
}

uint32_t s3_names_get(const s3_names *t, const char *name)
{
    size_t i = names_slot(t, name);
    return t->keys[i] ? t->vals[i] : UINT32_MAX;
}

/* ---- listing ---- */

static void xml_decode(char *s)
{
    static const struct { const char *ent; char c; } ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' }
    };
    char *o = s;
    for (char *p = s; *p;) {
        bool done = false;
        for (size_t e = 0; *p == '&' && e < ARRAY_LEN(ents) && !done; e++) {
            size_t n = strlen(ents[e].ent);
            if (strncmp(p, ents[e].ent, n) == 0) {
                *o++ = ents[e].c;
                p += n;
                done = true;
            }
        }
        if (!done) *o++ = *p++;
    }
    *o = '\0';
}

/* The text of the first <tag>...</tag> in [p, end), decoded (caller frees), or NULL. */
static char *xml_field(const char *p, const char *end, const char *tag, const char **after)
{
    char open[48], close[48];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    size_t on = strlen(open), cn = strlen(close);
    for (const char *q = p; q + on <= end; q++) {
        if (memcmp(q, open, on) != 0) continue;
        const char *v = q + on;
        for (const char *e = v; e + cn <= end; e++) {
            if (memcmp(e, close, cn) != 0) continue;
            char *out = cairn_strndup(v, (size_t)(e - v));
            if (out) xml_decode(out);
            if (after) *after = e + cn;
            return out;
        }
        return NULL;
    }
    return NULL;
}

static int parse_dated(const cairn_buf *xml, s3_dated_cb cb, void *p, bool *truncated,
                       char **next);

/* A listing's LastModified ("2026-12-05T06:00:00.000Z") as wall-clock ns; 0 when it does not
 * parse. */
static int64_t list_time(const char *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || sscanf(t, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm);
    return secs < 0 ? 0 : (int64_t)secs * 1000000000;
}

typedef struct undated {
    int (*cb)(const char *key, uint64_t size, void *p);
    void *p;
} undated;

static int drop_date(const char *key, uint64_t size, int64_t mtime_ns, void *p)
{
    (void)mtime_ns;
    const undated *u = p;
    return u->cb(key, size, u->p);
}

int s3_parse_list(const cairn_buf *xml, int (*cb)(const char *key, uint64_t size, void *p),
                  void *p, bool *truncated, char **next)
{
    undated u = { cb, p };
    return parse_dated(xml, drop_date, &u, truncated, next);
}

static int parse_dated(const cairn_buf *xml, s3_dated_cb cb, void *p, bool *truncated,
                       char **next)
{
    const char *b = (const char *)xml->data, *end = b + xml->len;
    *truncated = false;
    *next = NULL;
    if (!b) return CAIRN_OK;
    char *t = xml_field(b, end, "IsTruncated", NULL);
    *truncated = t && strcmp(t, "true") == 0;
    free(t);
    if (*truncated) *next = xml_field(b, end, "NextContinuationToken", NULL);
    const char *at = b;
    for (;;) {
        const char *after = NULL;
        char *contents = xml_field(at, end, "Contents", &after);
        if (!contents) break;
        const char *ce = contents + strlen(contents);
        /* the entities of the whole element were decoded: Key is decoded once more below only
         * if it held "&amp;lt;"-style text, which S3 never sends for names cairn makes */
        char *key = xml_field(contents, ce, "Key", NULL);
        char *size = xml_field(contents, ce, "Size", NULL);
        char *when = xml_field(contents, ce, "LastModified", NULL);
        int rc = key ? cb(key, size ? strtoull(size, NULL, 10) : 0, list_time(when), p)
                     : CAIRN_OK;
        free(key);
        free(size);
        free(when);
        free(contents);
        if (rc) {
            free(*next);
            *next = NULL;
            return rc;
        }
        at = after;
    }
    if (*truncated && !*next) return ERR(CAIRN_EIO, "s3 listing: truncated page without a token");
    return CAIRN_OK;
}

typedef struct list_ctx {
    s3_store *s;
    size_t plen;
    s3_dated_cb cb;
    void *p;
} list_ctx;

static int list_strip(const char *key, uint64_t size, int64_t mtime_ns, void *p)
{
    list_ctx *l = p;
    if (strlen(key) < l->plen) return CAIRN_OK;
    return l->cb(key + l->plen, size, mtime_ns, l->p);
}

static int list_dated(s3_store *s, const char *rel, const char *start_after, s3_dated_cb cb,
                      void *p);

int s3_list(s3_store *s, const char *rel, const char *start_after,
            int (*cb)(const char *rel, uint64_t size, void *p), void *p)
{
    undated u = { cb, p };
    return list_dated(s, rel, start_after, drop_date, &u);
}

int s3_list_dated(s3_store *s, const char *rel, s3_dated_cb cb, void *p)
{
    return list_dated(s, rel, NULL, cb, p);
}

static int list_dated(s3_store *s, const char *rel, const char *start_after, s3_dated_cb cb,
                      void *p)
{
    char *full = s3_obj(s, rel);
    char *prefix = full ? s3_encode(full, false) : NULL;
    char *after = start_after ? s3_encode(start_after, false) : NULL;
    char *token = NULL;
    int rc = (!prefix || (start_after && !after)) ? ERR(CAIRN_ENOMEM, "out of memory listing")
                                                   : CAIRN_OK;
    list_ctx l = { s, strlen(s->conf.prefix), cb, p };
    s3_req r;
    memset(&r, 0, sizeof r);
    while (rc == CAIRN_OK) {
        char *tok = token ? s3_encode(token, false) : NULL;
        s3_req_reset(&r);
        r.method = "GET";
        /* parameters in the order SigV4's canonical query string sorts them */
        r.query = cairn_sprintf("%s%s%slist-type=2&max-keys=%d&prefix=%s%s%s",
                                tok ? "continuation-token=" : "", tok ? tok : "", tok ? "&" : "",
                                S3_LIST_PAGE, prefix,
                                after ? "&start-after=" : "", after ? after : "");
        free(tok);
        if (!r.query) {
            rc = ERR(CAIRN_ENOMEM, "out of memory listing");
            break;
        }
        rc = s3_http_one(s->http, &s->conf, &r);
        atomic_fetch_add(&s->listings, 1);
        if (rc < 0) {
            cairn_error_prefix(rc, "listing '%s'", full);
            break;
        }
        bool truncated;
        free(token);
        token = NULL;
        rc = parse_dated(&r.resp, list_strip, &l, &truncated, &token);
        if (rc || !truncated) break;
    }
    s3_req_dispose(&r);
    free(token);
    free(full);
    free(prefix);
    free(after);
    return rc;
}

/* ---- log entries ---- */

typedef struct entry_view {
    uint32_t flags, npacks, ndel;
    size_t nadd;
    const uint8_t *names;    /* npacks × (u16 len, bytes) */
    const uint8_t *dels;     /* ndel × 32 */
    const uint8_t *adds;     /* nadd × S3_LOG_ADD_SIZE */
} entry_view;

int s3_check_framed(const uint8_t *p, size_t n, const char *magic, size_t header,
                    uint32_t newest, const char *what, const char *obj)
{
    FAIL_IF(n < header + S3_CHECK_SIZE || memcmp(p, magic, S3_MAGIC_SIZE) != 0, CAIRN_ECORRUPT,
            "s3 %s '%s' is not a cairn %s (%zu bytes)", what, obj, what, n);
    FAIL_IF(hash_xxh3(p, n - S3_CHECK_SIZE, 0) != load_le64(p + n - S3_CHECK_SIZE),
            CAIRN_ECORRUPT, "s3 %s '%s' fails its checksum: it was overwritten or damaged", what,
            obj);
    uint32_t version = load_le32(p + S3_MAGIC_SIZE);
    FAIL_IF(version < S3_FORMAT_VERSION || version > newest, CAIRN_ECORRUPT,
            "s3 %s '%s' has format version %u; this build reads %u to %u", what, obj, version,
            S3_FORMAT_VERSION, newest);
    return CAIRN_OK;
}

static int entry_decode(entry_view *v, const uint8_t *p, size_t n, const char *obj)
{
    TRY(s3_check_framed(p, n, S3_LOG_MAGIC, S3_LOG_HEADER_SIZE, S3_FORMAT_VERSION_DEL_PACK,
                        "log entry", obj));
    uint32_t version = load_le32(p + S3_MAGIC_SIZE);
    v->flags = load_le32(p + 12);
    FAIL_IF(((v->flags & S3_LOG_DEL_PACK) != 0) != (version == S3_FORMAT_VERSION_DEL_PACK),
            CAIRN_ECORRUPT, "s3 log entry '%s': format version %u with flags %#x", obj, version,
            v->flags);
    size_t dsize = v->flags & S3_LOG_DEL_PACK ? S3_LOG_DEL_PACK_SIZE : CAIRN_ID_SIZE;
    v->npacks = load_le32(p + 16);
    v->ndel = load_le32(p + 20);
    v->nadd = load_le32(p + 24);
    size_t at = S3_LOG_HEADER_SIZE, body = n - S3_CHECK_SIZE;
    v->names = p + at;
    for (uint32_t i = 0; i < v->npacks; i++) {
        FAIL_IF(at + S3_LOG_PACK_FIXED > body ||
                    at + S3_LOG_PACK_FIXED + load_le16(p + at) > body,
                CAIRN_ECORRUPT, "s3 log entry '%s': pack %u runs past the end", obj, i);
        at += S3_LOG_PACK_FIXED + load_le16(p + at);
    }
    v->dels = p + at;
    FAIL_IF((body - at) / dsize < v->ndel, CAIRN_ECORRUPT,
            "s3 log entry '%s': deletions run past the end", obj);
    at += (size_t)v->ndel * dsize;
    v->adds = p + at;
    FAIL_IF((body - at) != (size_t)v->nadd * S3_LOG_ADD_SIZE, CAIRN_ECORRUPT,
            "s3 log entry '%s': %zu additions do not fill its %zu bytes", obj, v->nadd, n);
    return CAIRN_OK;
}

/* Whether this handle holds an unflushed deletion of key that an earlier entry's addition of
 * the chunk into pack `pack` cannot outlive: a plain one, or a gc's naming that pack. A gc's
 * deletion names the pack it applies to, and spares the chunk written again elsewhere
 * (entry_apply), so that addition is applied. */
static bool pending_del(const s3_store *s, const cairn_id *key, const char *pack)
{
    const s3_batch *bs[2] = { &s->pend, &s->flushing };
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < bs[b]->ndels; i++) {
            if (memcmp(bs[b]->dels[i].bytes, key->bytes, CAIRN_ID_SIZE) != 0) continue;
            const char *named = bs[b]->dpack ? bs[b]->dpack[i] : NULL;
            if (!named || strcmp(named, pack) == 0) return true;
        }
    return false;
}

/* The number of the pack named name[0..len), or UINT32_MAX (mu held). */
static uint32_t pack_find(const s3_store *s, const char *name, size_t len)
{
    for (uint32_t i = s->npacks; i-- > 0;)
        if (strlen(s->packs[i].name) == len && memcmp(s->packs[i].name, name, len) == 0)
            return i;
    return UINT32_MAX;
}

/* The number of a pack, known from now on. */
static int pack_intern(s3_store *s, const char *name, size_t len, uint64_t size, uint32_t *out)
{
    if ((*out = pack_find(s, name, len)) != UINT32_MAX) return CAIRN_OK;
    size_t cap = s->cappacks;
    TRY(cairn_array_room(&s->packs, &cap, s->npacks, sizeof *s->packs, 16));
    s->cappacks = (uint32_t)cap;
    s->packs[s->npacks].name = cairn_strndup(name, len);
    s->packs[s->npacks].size = size;
    if (!s->packs[s->npacks].name) return ERR(CAIRN_ENOMEM, "out of memory for pack names");
    *out = s->npacks++;
    return CAIRN_OK;
}

/* Whether a chunk is only in this handle's unflushed writes (which order after everything
 * already in the log). */
static bool local_only(const s3_loc *l) { return l->pack == S3_PENDING || l->pack == S3_FLUSHING; }

/* Forgets every location but this handle's unflushed writes (mu held). On failure (out of
 * memory) nothing has changed. */
static int index_keep_local(s3_store *s)
{
    TRY(index_merge(s)); /* (recent's entries, local ones too, move into sorted) */
    sorted_filter(s, local_only);
    s->count = s->nsorted;
    s->bytes = 0;
    for (size_t i = 0; i < s->nsorted; i++) s->bytes += s->sorted[i].len;
    return CAIRN_OK;
}

/* Applies one decoded entry (mu held). Writes this handle has not flushed yet
 * order after it, so they win over what it says. A deletion naming a pack (S3_LOG_DEL_PACK)
 * removes the chunk only if the index still has it in that pack: a chunk written again into a
 * newer pack since the gc looked is spared. */
static int entry_apply(s3_store *s, const entry_view *v)
{
    if (v->flags & S3_LOG_BASE) TRY(index_keep_local(s)); /* the whole index follows */
    uint32_t *map = cairn_malloc((v->npacks ? v->npacks : 1) * sizeof *map);
    bool del_pack = v->flags & S3_LOG_DEL_PACK;
    bool *added = del_pack ? cairn_calloc(v->npacks ? v->npacks : 1, sizeof *added) : NULL;
    int rc = map && (added || !del_pack) ? CAIRN_OK
                                         : ERR(CAIRN_ENOMEM, "out of memory applying the s3 log");
    for (uint32_t i = 0; del_pack && i < v->nadd && rc == CAIRN_OK; i++) {
        uint32_t pk = load_le32(v->adds + (size_t)i * S3_LOG_ADD_SIZE + 32);
        if (pk < v->npacks) added[pk] = true;
    }
    const uint8_t *p = v->names;
    for (uint32_t i = 0; i < v->npacks && rc == CAIRN_OK; i++) {
        uint16_t len = load_le16(p);
        /* a pack only a deletion names is looked up, never made known (it may be gone) */
        if (del_pack && !added[i])
            map[i] = pack_find(s, (const char *)p + 2, len);
        else
            rc = pack_intern(s, (const char *)p + 2, len, load_le64(p + 2 + len), &map[i]);
        p += S3_LOG_PACK_FIXED + len;
    }
    size_t dsize = v->flags & S3_LOG_DEL_PACK ? S3_LOG_DEL_PACK_SIZE : CAIRN_ID_SIZE;
    for (uint32_t i = 0; i < v->ndel && rc == CAIRN_OK; i++) {
        cairn_id k;
        const uint8_t *d = v->dels + (size_t)i * dsize;
        memcpy(k.bytes, d, CAIRN_ID_SIZE);
        s3_loc *at = s3_index_find(s, &k);
        if (!at || local_only(at)) continue;
        if (v->flags & S3_LOG_DEL_PACK) {
            uint32_t pk = load_le32(d + CAIRN_ID_SIZE);
            if (pk >= v->npacks) {
                rc = CORRUPT("s3 log entry: a deletion names pack %u of %u", pk, v->npacks);
                break;
            }
            if (map[pk] != at->pack) continue; /* written again elsewhere: spared */
        }
        s3_index_remove(s, &k);
    }
    for (size_t i = 0; i < v->nadd && rc == CAIRN_OK; i++) {
        const uint8_t *a = v->adds + (size_t)i * S3_LOG_ADD_SIZE;
        s3_loc l;
        memcpy(l.key.bytes, a, CAIRN_ID_SIZE);
        uint32_t pk = load_le32(a + 32);
        if (pk >= v->npacks) {
            rc = CORRUPT("s3 log entry names pack %u of %u", pk, v->npacks);
            break;
        }
        l.pack = map[pk];
        l.off = load_le64(a + 36);
        l.len = load_le32(a + 44);
        l.check = load_le64(a + 48);
        s3_loc *at = s3_index_find(s, &l.key);
        if (at && local_only(at)) { /* the index says this handle's write, the log this one */
            s3_batch_hide(at->pack == S3_PENDING ? &s->pend : &s->flushing, at->off);
            continue;
        }
        if (!at && pending_del(s, &l.key, s->packs[l.pack].name)) continue;
        rc = s3_index_set(s, &l);
    }
    free(map);
    free(added);
    return rc;
}

typedef struct seq_list {
    uint64_t *seqs;
    size_t n, cap;
    size_t dirlen;          /* of "log/" or "snap/" */
} seq_list;

static int collect_seq(const char *rel, uint64_t size, void *p)
{
    (void)size;
    seq_list *l = p;
    const char *num = rel + l->dirlen;
    if (strlen(num) != S3_SEQ_DIGITS || strspn(num, "0123456789") != S3_SEQ_DIGITS)
        return CAIRN_OK; /* not an entry: ignored (docs/FORMAT.md) */
    TRY(cairn_array_room(&l->seqs, &l->cap, l->n, sizeof *l->seqs, 64));
    l->seqs[l->n++] = strtoull(num, NULL, 10);
    return CAIRN_OK;
}

/* Lists the entries after seq. */
static int list_after(s3_store *s, uint64_t seq, seq_list *out)
{
    char *after = NULL;
    if (seq) {
        char *rel = log_name(seq);
        after = rel ? s3_obj(s, rel) : NULL;
        free(rel);
        if (!after) return ERR(CAIRN_ENOMEM, "out of memory listing the s3 log");
    }
    out->dirlen = strlen(S3_LOG_DIR);
    int rc = s3_list(s, S3_LOG_DIR, after, collect_seq, out);
    free(after);
    return rc;
}

int s3_list_numbered(s3_store *s, const char *dir, uint64_t **out, size_t *n)
{
    seq_list l = { .dirlen = strlen(dir) };
    int rc = s3_list(s, dir, NULL, collect_seq, &l);
    if (rc < 0) {
        free(l.seqs);
        return rc;
    }
    *out = l.seqs; /* name order is number order */
    *n = l.n;
    return CAIRN_OK;
}

typedef struct drop_ctx {
    seq_list l;
    uint64_t upto;
} drop_ctx;

static int collect_upto(const char *rel, uint64_t size, void *p)
{
    drop_ctx *d = p;
    size_t before = d->l.n;
    TRY(collect_seq(rel, size, &d->l));
    if (d->l.n > before && d->l.seqs[d->l.n - 1] > d->upto) {
        d->l.n--;
        return LIST_STOP;
    }
    return CAIRN_OK;
}

void s3_log_drop(s3_store *s, uint64_t upto)
{
    drop_ctx d = { { .dirlen = strlen(S3_LOG_DIR) }, upto };
    int rc = s3_list(s, S3_LOG_DIR, NULL, collect_upto, &d);
    char **objs = rc >= 0 ? cairn_calloc(d.l.n ? d.l.n : 1, sizeof *objs) : NULL;
    size_t n = 0;
    for (size_t i = 0; objs && i < d.l.n; i++) {
        char *rel = log_name(d.l.seqs[i]);
        objs[n] = rel ? s3_obj(s, rel) : NULL;
        free(rel);
        if (objs[n]) n++;
    }
    if (objs) s3_delete_objects(s, objs, n);
    free(objs);
    free(d.l.seqs);
}

/* Reads and applies the listed entries in order. CAIRN_ENOTFOUND when one has vanished, or
 * when entries are missing before one and no base entry follows the gap: a snapshot replaced
 * them; the caller starts over from the newest snapshot. Entries after a gap are passed over
 * until a base entry (which restates everything before it). */
static int apply_listed(s3_store *s, const seq_list *l)
{
    s3_req *reqs = cairn_calloc(LOG_READ_BATCH, sizeof *reqs);
    if (!reqs) return ERR(CAIRN_ENOMEM, "out of memory reading the s3 log");
    int rc = CAIRN_OK;
    bool gap = false; /* entries missing before the last one read, and no base entry since */
    for (size_t at = 0; at < l->n && rc == CAIRN_OK; at += LOG_READ_BATCH) {
        size_t n = MIN(LOG_READ_BATCH, l->n - at);
        for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
            s3_req_reset(&reqs[i]);
            char *rel = log_name(l->seqs[at + i]);
            reqs[i].method = "GET";
            reqs[i].obj = rel ? s3_obj(s, rel) : NULL;
            free(rel);
            if (!reqs[i].obj) rc = ERR(CAIRN_ENOMEM, "out of memory reading the s3 log");
        }
        if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, n);
        for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
            int grc = s3_req_rc(&s->conf, &reqs[i]);
            if (grc == CAIRN_ENOTFOUND) {
                rc = CAIRN_ENOTFOUND;
                break;
            }
            if (grc < 0) {
                rc = grc;
                break;
            }
            entry_view v;
            memset(&v, 0, sizeof v);
            rc = entry_decode(&v, reqs[i].resp.data, reqs[i].resp.len, reqs[i].obj);
            if (rc == CAIRN_OK) {
                pthread_mutex_lock(&s->mu);
                uint64_t seq = l->seqs[at + i];
                /* entries before this one are gone: a snapshot covered them, or a base entry
                 * later in the list restates them (a compaction killed while it deleted them,
                 * in no order, leaves some): passed over until a base entry */
                bool next = seq == s->seq + 1 || (seq > s->seq && (v.flags & S3_LOG_BASE));
                if (next) rc = entry_apply(s, &v);
                if (next && rc == CAIRN_OK) s->seq = seq;
                gap = next ? false : gap || seq > s->seq;
                pthread_mutex_unlock(&s->mu);
            }
        }
    }
    for (size_t i = 0; i < LOG_READ_BATCH; i++) s3_req_dispose(&reqs[i]);
    free(reqs);
    return rc == CAIRN_OK && gap ? CAIRN_ENOTFOUND : rc;
}

static int log_refresh(s3_store *s);

/* The snapshots' numbers, listed by gap_covered for the snap_load of the restart that follows
 * at once (listing them again there cost a second LIST for nothing); have NULL: none kept. */
typedef struct snap_listing {
    uint64_t *have;
    size_t n;
} snap_listing;

static void snap_listing_clear(snap_listing *sl)
{
    free(sl->have);
    *sl = (snap_listing){ 0 };
}

/* Whether the entries listed after entry `from` skip some (a handle that slept through two
 * snapshots: the entries it needs next were removed) and a snapshot covers what they skip, so
 * that the refresh starts over from that snapshot at once (*snaps keeps the listing for it).
 * apply_listed would download every entry past the gap only to pass it over (it looks for a
 * base entry among them), and then, from the snapshot, download them again. Without such a
 * snapshot (a compaction's base entry after the gap) the entries are read as before. */
static int gap_covered(s3_store *s, uint64_t from, const seq_list *l, snap_listing *snaps,
                       bool *out)
{
    *out = false;
    size_t g = 0;
    while (g < l->n && l->seqs[g] == from + 1 + g) g++;
    if (g == l->n) return CAIRN_OK;
    TRY(s3_snap_list(s, &snaps->have, &snaps->n));
    *out = snaps->n && snaps->have[snaps->n - 1] + 1 >= l->seqs[g];
    if (!*out) snap_listing_clear(snaps);
    return CAIRN_OK;
}

/* Forgets everything but this handle's unflushed writes (mu held). */
static int index_reset(s3_store *s)
{
    TRY(index_keep_local(s));
    s->seq_hi = MAX(s->seq_hi, s->seq); /* packs named meanwhile are still born after it */
    s->seq = 0;
    return CAIRN_OK;
}

/* Applies the newest readable snapshot, unless the handle has applied as much already. A
 * damaged one is passed over for the one before it (whose entries after it may still be
 * there): *damaged gets the first damage's message, which the caller reports when they are
 * not. No snapshot at all: nothing happens. The snapshots are listed here unless *snaps holds
 * a listing (taken over, and cleared). */
static int snap_load(s3_store *s, snap_listing *snaps, char *damaged, size_t dlen)
{
    uint64_t *have = snaps->have;
    size_t n = snaps->n;
    *snaps = (snap_listing){ 0 };
    if (!have) TRY(s3_snap_list(s, &have, &n));
    cairn_buf buf = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t i = n; i-- > 0;) {
        s3_snap_view v;
        rc = s3_snap_read(s, have[i], &buf, &v);
        if (rc == CAIRN_ECORRUPT) {
            const char *why = cairn_error_last()->message;
            cairn_diag(CAIRN_LOG_WARN, "s3 store %s: %s; reading the snapshot before it and the "
                       "log entries after that instead", s->conf.url, why);
            if (!damaged[0]) snprintf(damaged, dlen, "%s", why);
            rc = CAIRN_OK;
            continue;
        }
        if (rc < 0) break; /* (CAIRN_ENOTFOUND: removed since listed; the caller starts over) */
        entry_view e = { .flags = S3_LOG_BASE, .npacks = v.npacks, .names = v.names,
                         .nadd = (size_t)v.nchunks, .adds = v.chunks };
        pthread_mutex_lock(&s->mu);
        if (s->seq < v.seq) {
            rc = entry_apply(s, &e);
            if (rc == CAIRN_OK) s->seq = v.seq;
        }
        if (v.seq > s->snap_seq) s->snap_seq = v.seq;
        pthread_mutex_unlock(&s->mu);
        break;
    }
    cairn_buf_dispose(&buf);
    free(have);
    return rc;
}

int s3_log_refresh(s3_store *s)
{
    uint64_t refs = atomic_load(&s->ref_reads); /* read before the listing: covered by it */
    int rc = log_refresh(s);
    if (rc < 0) return rc;
    pthread_mutex_lock(&s->mu);
    if (refs > s->refs_covered) s->refs_covered = refs;
    pthread_mutex_unlock(&s->mu);
    return CAIRN_OK;
}

static int log_refresh(s3_store *s)
{
    char damaged[DAMAGE_MSG] = "";
    snap_listing snaps = { 0 }; /* (gap_covered's, for the restart it causes) */
    for (int restart = 0;; restart++) {
        pthread_mutex_lock(&s->mu);
        uint64_t from = s->seq;
        pthread_mutex_unlock(&s->mu);
        int rc = CAIRN_OK;
        if (!from) rc = snap_load(s, &snaps, damaged, sizeof damaged);
        else snap_listing_clear(&snaps); /* (another thread's refresh read on meanwhile) */
        seq_list l = { 0 };
        if (rc == CAIRN_OK) {
            pthread_mutex_lock(&s->mu);
            from = s->seq;
            pthread_mutex_unlock(&s->mu);
            rc = list_after(s, from, &l);
        }
        bool covered = false; /* (only on a first pass that met no damage: see gap_covered) */
        if (rc == CAIRN_OK && restart == 0 && !damaged[0])
            rc = gap_covered(s, from, &l, &snaps, &covered);
        if (rc == CAIRN_OK) rc = covered ? CAIRN_ENOTFOUND : apply_listed(s, &l);
        free(l.seqs);
        if (rc != CAIRN_ENOTFOUND) return rc;
        /* (a newer snapshot may have appeared, or the one read been removed: try again
         * before calling the damage the cause) */
        FAIL_IF(damaged[0] && restart == REFRESH_RESTARTS, CAIRN_ECORRUPT,
                "s3 store %s: %s, and the log entries it covered are gone, so the store cannot "
                "be read without it",
                s->conf.url, damaged);
        /* an entry vanished under us (a snapshot or a base entry replaced it): start over from
         * the newest snapshot */
        FAIL_IF(restart == REFRESH_RESTARTS, CAIRN_EIO,
                "s3 store %s: log entries keep vanishing while being read (a compaction "
                "running?); try again",
                s->conf.url);
        pthread_mutex_lock(&s->mu);
        rc = index_reset(s);
        pthread_mutex_unlock(&s->mu);
        if (rc < 0) {
            snap_listing_clear(&snaps);
            return rc;
        }
    }
}

/* ---- writing: flush ---- */

static int random_hex(char *out, size_t bytes)
{
    uint8_t r[16];
    if (bytes > sizeof r || getrandom(r, bytes, 0) != (ssize_t)bytes)
        return ERR(CAIRN_EIO, "no random bytes for an s3 object name");
    hex_encode(out, r, bytes);
    return CAIRN_OK;
}

static int append_name(cairn_buf *out, const char *name, uint64_t size);

/* entry_encode's bytes: names[0..nnames) (the first npacks with packs[]'s sizes, the rest 0);
 * idx NULL: plain deletions, else each followed by its pack's index. */
static int entry_write(cairn_buf *out, uint32_t flags, const s3_pack *packs,
                       const char *const *names, uint32_t nnames, uint32_t npacks,
                       const s3_loc *adds, size_t nadd, const cairn_id *dels, size_t ndel,
                       const uint32_t *idx)
{
    uint8_t h[S3_LOG_HEADER_SIZE];
    memcpy(h, S3_LOG_MAGIC, S3_MAGIC_SIZE);
    store_le32(h + 8, idx ? S3_FORMAT_VERSION_DEL_PACK : S3_FORMAT_VERSION);
    store_le32(h + 12, flags);
    store_le32(h + 16, nnames);
    store_le32(h + 20, (uint32_t)ndel);
    store_le32(h + 24, (uint32_t)nadd);
    out->len = 0;
    TRY(cairn_buf_reserve(out, sizeof h + ndel * CAIRN_ID_SIZE + nadd * S3_LOG_ADD_SIZE + 64));
    TRY(cairn_buf_append(out, h, sizeof h));
    TRY(s3_append_packs(out, packs, npacks));
    for (uint32_t i = npacks; i < nnames; i++) TRY(append_name(out, names[i], 0));
    for (size_t i = 0; i < ndel; i++) {
        TRY(cairn_buf_append(out, dels[i].bytes, CAIRN_ID_SIZE));
        uint8_t k[4];
        store_le32(k, idx ? idx[i] : 0);
        if (idx) TRY(cairn_buf_append(out, k, sizeof k));
    }
    TRY(s3_append_locs(out, adds, nadd));
    return s3_append_check(out);
}

/* One pack of an entry's or a snapshot's list: u16 name length, the name, u64 size. */
static int append_name(cairn_buf *out, const char *name, uint64_t size)
{
    uint8_t l[2], z[8];
    size_t len = strlen(name);
    FAIL_IF(len > UINT16_MAX, CAIRN_EINVAL, "s3 pack name of %zu bytes", len);
    store_le16(l, (uint16_t)len);
    store_le64(z, size);
    TRY(cairn_buf_append(out, l, 2));
    TRY(cairn_buf_append(out, name, len));
    return cairn_buf_append(out, z, 8);
}

int s3_append_packs(cairn_buf *out, const s3_pack *packs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) TRY(append_name(out, packs[i].name, packs[i].size));
    return CAIRN_OK;
}

int s3_append_locs(cairn_buf *out, const s3_loc *locs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a[S3_LOG_ADD_SIZE];
        memcpy(a, locs[i].key.bytes, CAIRN_ID_SIZE);
        store_le32(a + 32, locs[i].pack);
        store_le64(a + 36, locs[i].off);
        store_le32(a + 44, locs[i].len);
        store_le64(a + 48, locs[i].check);
        TRY(cairn_buf_append(out, a, sizeof a));
    }
    return CAIRN_OK;
}

int s3_append_check(cairn_buf *out)
{
    uint8_t c[S3_CHECK_SIZE];
    store_le64(c, hash_xxh3(out->data, out->len, 0));
    return cairn_buf_append(out, c, sizeof c);
}

/* The pack names the deletions of a batch apply to (dpack, NULL entries: none) that are not
 * among names[0..n), appended to names (borrowed); idx[i]: deletion i's index into the whole
 * list. One table lookup a deletion (a gc's deletions name thousands of packs). */
static int del_packs(const char *const *dpack, size_t ndel, const char **names, uint32_t *n,
                     uint32_t *idx)
{
    s3_names t;
    TRY(s3_names_init(&t, *n + ndel));
    for (uint32_t k = 0; k < *n; k++) s3_names_put(&t, names[k], k);
    for (size_t i = 0; i < ndel; i++) {
        idx[i] = UINT32_MAX;
        if (!dpack[i]) continue;
        idx[i] = s3_names_get(&t, dpack[i]);
        if (idx[i] == UINT32_MAX) {
            names[*n] = dpack[i];
            s3_names_put(&t, dpack[i], *n);
            idx[i] = (*n)++;
        }
    }
    s3_names_free(&t);
    return CAIRN_OK;
}

/* The bytes of a log entry: packs[0..npacks-1] (adds[i].pack indexes this list), the
 * deletions, then the additions. Deletions that name the pack they apply to (dpack[i] not
 * NULL; dpack may be NULL) make it a S3_LOG_DEL_PACK entry, those packs listed after the
 * others (size 0: they are only named). */
static int entry_encode(cairn_buf *out, uint32_t flags, const s3_pack *packs, uint32_t npacks,
                        const s3_loc *adds, size_t nadd, const cairn_id *dels, size_t ndel,
                        char *const *dpack)
{
    FAIL_IF(nadd > UINT32_MAX || ndel > UINT32_MAX, CAIRN_EINVAL, "s3 log entry too large");
    bool cond = false;
    for (size_t i = 0; dpack && i < ndel && !cond; i++) cond = dpack[i] != NULL;
    const char **names = cairn_malloc((npacks + (cond ? ndel : 0) + 1) * sizeof *names);
    uint32_t *idx = cairn_malloc((cond ? ndel : 0) * sizeof *idx + 1);
    uint32_t nnames = npacks;
    if (!names || !idx) {
        free(names);
        free(idx);
        return ERR(CAIRN_ENOMEM, "out of memory writing the s3 log");
    }
    for (uint32_t i = 0; i < npacks; i++) names[i] = packs[i].name;
    int rc = CAIRN_OK;
    if (cond) {
        rc = del_packs((const char *const *)dpack, ndel, names, &nnames, idx);
        flags |= S3_LOG_DEL_PACK;
    }
    if (rc == CAIRN_OK)
        rc = entry_write(out, flags, packs, names, nnames, npacks, adds, nadd, dels, ndel,
                         cond ? idx : NULL);
    free(names);
    free(idx);
    return rc;
}


/* Creates log entry seq with body e, only if there is none (If-None-Match: *).
 * @return CAIRN_OK; CAIRN_ECONFLICT (taken); another error. */
static int log_put(s3_store *s, const cairn_buf *e, uint64_t seq)
{
    s3_req r;
    memset(&r, 0, sizeof r);
    char *rel = log_name(seq);
    r.method = "PUT";
    r.obj = rel ? s3_obj(s, rel) : NULL;
    free(rel);
    int rc = !r.obj ? ERR(CAIRN_ENOMEM, "out of memory writing the s3 log") : CAIRN_OK;
    r.body = e->data;
    r.body_len = e->len;
    r.if_none_match = true;
    if (rc == CAIRN_OK) rc = s3_http_one(s->http, &s->conf, &r);
    s3_req_dispose(&r);
    return rc;
}

/* Creates the next log entry with body `e`; when another writer took the number, reads its
 * entry (and any others) and tries the next. *out_seq: the number taken. deadline (clock_now;
 * 0: none): past it, no attempt is started and STALE is returned.
 *
 * The log is read up to its end first: a number taken from a stale position could fall in the
 * range a base entry or a snapshot replaced and whose entries were deleted, where the create
 * succeeds and no reader (who starts from the base or snapshot) ever sees the entry: an
 * acknowledged flush lost. After the read, the next number either exists (a conflict, read
 * again) or follows every entry there is. */
static int log_append(s3_store *s, const cairn_buf *e, double deadline, uint64_t *out_seq)
{
    int rc = CAIRN_OK;
    for (int tries = 0; tries < SEQ_TRIES; tries++) {
        /* (taken: by another writer, or by our own earlier attempt whose answer was lost: its
         * entry is then read back like any other, which is harmless) */
        rc = s3_log_refresh(s);
        if (rc < 0) return rc;
        if (deadline > 0 && clock_now() > deadline) return STALE; /* checked last before the
                                                                    PUT: see upload_batch */
        pthread_mutex_lock(&s->mu);
        uint64_t seq = s->seq + 1;
        pthread_mutex_unlock(&s->mu);
        rc = log_put(s, e, seq);
        if (rc == CAIRN_OK) {
            *out_seq = seq;
            return CAIRN_OK;
        }
        if (rc != CAIRN_ECONFLICT) return rc;
    }
    return ERR(CAIRN_ECONFLICT, "s3 store %s: could not take a log number in %d tries",
               s->conf.url, SEQ_TRIES);
}

void s3_uploads_wait(s3_store *s)
{
    while (s->up_running) pthread_cond_wait(&s->up_cv, &s->mu);
}

typedef struct up_job {
    s3_store *s;
    uint64_t batch;                 /* the batch (s3_batch.id): pend's, or flushing's by now */
    size_t k;                       /* its pack */
    s3_req req;
} up_job;

static void *up_thread(void *arg)
{
    up_job *j = arg;
    s3_store *s = j->s;
    if (s->test_hook) s->test_hook(s->test_hook_arg, "pack upload");
    int rc = s3_http_one(s->http, &s->conf, &j->req); /* (its message is dropped: a flush
                                                          uploads a failed pack again and
                                                          reports that attempt) */
    pthread_mutex_lock(&s->mu);
    s3_batch *b = s->pend.id == j->batch ? &s->pend
                  : s->flushing.id == j->batch ? &s->flushing
                                               : NULL; /* (gone: its flush failed) */
    if (b && j->k < b->nparts) b->ups[j->k].state = rc == CAIRN_OK ? S3_UP_DONE : S3_UP_FAILED;
    s->up_running--;
    pthread_cond_broadcast(&s->up_cv);
    pthread_mutex_unlock(&s->mu);
    s3_req_dispose(&j->req);
    free(j);
    return NULL;
}

/* Starts uploading pack k of the write buffer, complete now (mu held). A pack that cannot be
 * started now is left for the flush. */
static void up_start(s3_store *s, size_t k)
{
    s3_batch *p = &s->pend;
    char hex[33];
    up_job *j = cairn_calloc(1, sizeof *j);
    if (!j || random_hex(hex, 16) != CAIRN_OK) {
        free(j);
        return;
    }
    char *name = s3_pack_name(s, hex);
    j->s = s;
    j->batch = p->id;
    j->k = k;
    j->req.method = "PUT";
    j->req.obj = name ? s3_obj(s, name) : NULL;
    j->req.body = p->buf.data + p->parts[k];
    j->req.body_len = p->parts[k + 1] - p->parts[k];
    j->req.if_none_match = true;
    double started = clock_now(); /* before the request: never later than the object's date */
    pthread_attr_t at;
    pthread_t t;
    bool ok = j->req.obj && pthread_attr_init(&at) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &at, up_thread, j) == 0;
        pthread_attr_destroy(&at);
    }
    if (!ok) {
        free(name);
        s3_req_dispose(&j->req);
        free(j);
        return;
    }
    p->ups[k].state = S3_UP_RUNNING;
    p->ups[k].name = name;
    p->ups[k].started = started;
    s->up_running++;
}

/* Asks for transparent huge pages under a write buffer just allocated: it is filled once from
 * start to end, and its first touch, a page fault every 4 KiB, was the larger part of a push's
 * CPU (perf: the faults in buffer_put's copy). Advice only: without THP it is plain memory. */
static void advise_huge(cairn_buf *b)
{
#ifdef MADV_HUGEPAGE
    uintptr_t page = 2u << 20, lo = ((uintptr_t)b->data + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)b->data + b->cap) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)b;
#endif
}

/* Gives the pages of b's buffer from byte `from` to `to` back to the system (whole pages
 * strictly inside; their bytes are not needed again: a later write makes them zero-filled
 * pages anew). After a split the tail copied out of the flushing batch's buffer stayed
 * resident until that flush ended: up to a pack beside the budget. */
static void release_pages(cairn_buf *b, size_t from, size_t to)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b->data + from + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)b->data + to) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int s3_batch_room(s3_store *s, size_t len)
{
    s3_batch *p = &s->pend;
    bool start = !p->buf.len || p->buf.len - p->parts[p->nparts - 1] >= s->conf.pack_target;
    size_t need = p->buf.len + len + (start ? S3_PACK_HEADER_SIZE : 0);
    if (need > p->buf.cap) {
        /* the buffer moves: not while an upload reads it */
        s3_uploads_wait(s);
        uint64_t want = (uint64_t)S3_BUDGET_PACKS * s->conf.pack_target + s->conf.pack_target;
        uint8_t *was = p->buf.data;
        TRY(cairn_buf_reserve(&p->buf, need > want ? need : (size_t)want));
        if (p->buf.data != was) advise_huge(&p->buf);
    }
    if (!start) return CAIRN_OK;
    if (!p->nparts) p->id = ++s->batches;
    uint8_t h[S3_PACK_HEADER_SIZE] = { 0 };
    memcpy(h, S3_PACK_MAGIC, S3_MAGIC_SIZE);
    store_le32(h + 8, S3_FORMAT_VERSION);
    size_t capups = p->capups;
    TRY(cairn_array_room(&p->parts, &p->capparts, p->nparts + 1, sizeof *p->parts, 8));
    TRY(cairn_array_room(&p->ups, &capups, p->nparts + 1, sizeof *p->ups, 8));
    p->capups = capups;
    TRY(cairn_buf_append(&p->buf, h, sizeof h));
    p->parts[p->nparts] = p->buf.len - sizeof h;
    p->ups[p->nparts] = (s3_up){ S3_UP_NONE, NULL, 0 };
    p->nparts++;
    if (p->nparts > 1) up_start(s, p->nparts - 2); /* the pack before is complete */
    return CAIRN_OK;
}

/* Puts a failed flush's batch back, after what was written since (mu held): so its chunks are
 * no longer in put order with the buffer's, and the buffer is marked restored: the next flush
 * names all of it in one entry (batch_split refuses it), which keeps what a log holds a prefix
 * of the puts. */
static int batch_restore(s3_store *s)
{
    s3_batch *f = &s->flushing, *p = &s->pend;
    int rc = CAIRN_OK;
    for (size_t i = 0; i < f->nadds && rc == CAIRN_OK; i++) {
        s3_loc *at = s3_index_find(s, &f->adds[i].key);
        if (!at || at->pack != S3_FLUSHING || at->off != f->adds[i].off) continue;
        rc = s3_batch_room(s, at->len);
        /* (it may wait for uploads, and other threads' puts move entries of the index) */
        at = rc == CAIRN_OK ? s3_index_find(s, &f->adds[i].key) : NULL;
        if (!at || at->pack != S3_FLUSHING || at->off != f->adds[i].off) continue;
        s3_loc l = *at;
        l.pack = S3_PENDING;
        l.off = p->buf.len;
        if (rc == CAIRN_OK) rc = cairn_buf_append(&p->buf, f->buf.data + at->off, at->len);
        if (rc == CAIRN_OK)
            rc = cairn_array_room(&p->adds, &p->capadds, p->nadds, sizeof *p->adds, 64);
        if (rc == CAIRN_OK) {
            p->adds[p->nadds++] = l;
            *at = l;
        }
    }
    for (size_t i = 0; i < f->ndels && rc == CAIRN_OK; i++) {
        if (s3_index_find(s, &f->dels[i])) continue; /* put again since */
        rc = s3_batch_del(p, &f->dels[i], f->dpack ? f->dpack[i] : NULL);
    }
    if (f->hides) s3_batch_hide(p, 0); /* (a restored buffer is never split: all of it) */
    p->restored = true;
    flushing_done(s);
    return rc;
}

void s3_batch_hide(s3_batch *b, uint64_t off)
{
    b->hide_lo = b->hides ? MIN(b->hide_lo, off) : off;
    b->hide_hi = b->hides ? MAX(b->hide_hi, off) : off;
    b->hides = true;
}

int s3_batch_del(s3_batch *b, const cairn_id *key, const char *pack)
{
    TRY(cairn_array_room(&b->dels, &b->capdels, b->ndels, sizeof *b->dels, 64));
    TRY(cairn_array_room(&b->dpack, &b->capdpack, b->ndels, sizeof *b->dpack, 64));
    b->dpack[b->ndels] = pack ? cairn_strdup(pack) : NULL;
    if (pack && !b->dpack[b->ndels]) return ERR(CAIRN_ENOMEM, "out of memory deleting a chunk");
    b->dels[b->ndels++] = *key;
    return CAIRN_OK;
}

/* Uploads the packs of `packs` whose born[k] is negative (all in flight at once; a new name
 * each, the time its upload began in born[k]): pack k is [parts[k], parts[k + 1]) of buf (the
 * last one to buf's end). A pack that fails stops it, with a message naming it. */
static int upload_packs(s3_store *s, const cairn_buf *buf, const uint64_t *parts, size_t nparts,
                        s3_pack *packs, double *born, s3_req *reqs)
{
    int rc = CAIRN_OK;
    size_t nreq = 0;
    for (size_t k = 0; rc == CAIRN_OK && k < nparts; k++) {
        if (born[k] >= 0) continue; /* uploaded, and young enough to name */
        char hex[33];
        rc = random_hex(hex, 16);
        free(packs[k].name);
        packs[k].name = NULL;
        if (rc == CAIRN_OK) {
            pthread_mutex_lock(&s->mu);
            packs[k].name = s3_pack_name(s, hex);
            pthread_mutex_unlock(&s->mu);
        }
        s3_req *r = &reqs[nreq++];
        s3_req_dispose(r);
        r->method = "PUT";
        r->obj = packs[k].name ? s3_obj(s, packs[k].name) : NULL;
        r->body = buf->data + parts[k];
        r->body_len = packs[k].size;
        r->if_none_match = true;
        r->tag = k;
        born[k] = clock_now();
        if (rc == CAIRN_OK && !r->obj) rc = ERR(CAIRN_ENOMEM, "out of memory writing packs");
    }
    if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, nreq);
    for (size_t q = 0; rc == CAIRN_OK && q < nreq; q++) {
        rc = s3_req_rc(&s->conf, &reqs[q]);
        if (rc < 0)
            cairn_error_prefix(rc, "uploading pack '%s' (%zu bytes, pack %zu of %zu; no log "
                               "entry names it or the others, so nothing refers to data that "
                               "was not stored)",
                               reqs[q].obj, reqs[q].body_len, reqs[q].tag + 1, nparts);
    }
    return rc;
}

/* Uploads packs [parts[k], parts[k + 1]) of buf (the last one to buf's end; parts NULL: one
 * pack, all of buf) as new pack objects, all in flight at once, then appends a log entry
 * naming them (adds[i].pack indexes them, adds[i].off within its pack) with the additions and
 * deletions. A pack that fails stops it before the entry: nothing names a pack that was not
 * stored. out_names[0..nparts) get the packs' names (caller frees them).
 *
 * No entry names a pack whose upload began more than pack_age_max before the entry's PUT
 * starts (those uploaded in the background, ups[k] S3_UP_DONE, while the writer idled; or a
 * log_append that waited long for a number): such a pack is uploaded again under a new name
 * and the old object left to gc as an orphan. So gc, which removes a pack no entry names only
 * when it is older than its grace (more than pack_age_max + timeout_ms) and reads the log
 * after listing, never removes a pack an entry is about to name (docs/ARCHITECTURE.md). */
static int upload_batch(s3_store *s, const cairn_buf *buf, const uint64_t *parts,
                        const s3_up *ups, size_t nparts, const s3_loc *adds, size_t nadds,
                        const cairn_id *dels, char *const *dpack, size_t ndels, uint32_t flags,
                        char **out_names, uint64_t *out_seq)
{
    static const uint64_t whole = 0;
    if (!parts) {
        parts = &whole;
        nparts = 1;
    }
    if (!nadds) nparts = 0;
    s3_pack *packs = cairn_calloc(nparts ? nparts : 1, sizeof *packs);
    s3_req *reqs = cairn_calloc(nparts ? nparts : 1, sizeof *reqs);
    double *born = cairn_calloc(nparts ? nparts : 1, sizeof *born); /* < 0: to upload */
    cairn_buf e = CAIRN_BUF_INIT;
    int rc = packs && reqs && born ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory writing packs");
    for (size_t k = 0; rc == CAIRN_OK && k < nparts; k++) {
        uint64_t end = k + 1 < nparts ? parts[k + 1] : buf->len;
        packs[k].size = end - parts[k];
        born[k] = -1;
        if (ups && ups[k].state == S3_UP_DONE) { /* uploaded in the background already */
            packs[k].name = cairn_strdup(ups[k].name);
            born[k] = ups[k].started;
            if (!packs[k].name) rc = ERR(CAIRN_ENOMEM, "out of memory writing packs");
        }
    }
    for (int round = 0; rc == CAIRN_OK; round++) {
        double now = clock_now(), oldest = now;
        for (size_t k = 0; k < nparts; k++) /* half the time gone: upload it again */
            if (born[k] >= 0 && now - born[k] > s->pack_age_max / 2) born[k] = -1;
        rc = upload_packs(s, buf, parts, nparts, packs, born, reqs);
        for (size_t k = 0; k < nparts; k++) oldest = MIN(oldest, born[k]);
        if (rc == CAIRN_OK)
            rc = entry_encode(&e, flags, packs, (uint32_t)nparts, adds, nadds, dels, ndels,
                              dpack);
        if (rc == CAIRN_OK)
            rc = log_append(s, &e, nparts ? oldest + s->pack_age_max : 0, out_seq);
        if (rc == STALE && round == STALE_ROUNDS)
            rc = ERR(CAIRN_EIO, "s3 store %s: %d times, the %zu pack(s) of a flush were older "
                     "than %.0f s before their log entry could be written (uploads or log "
                     "numbers that slow); nothing names them: try again, with a smaller "
                     "pack_size or a larger parallel",
                     s->conf.url, STALE_ROUNDS + 1, nparts, s->pack_age_max);
        if (rc != STALE) break;
        rc = CAIRN_OK;
    }
    for (size_t k = 0; k < nparts; k++) {
        if (rc == CAIRN_OK) out_names[k] = packs[k].name;
        else free(packs[k].name);
        if (reqs) s3_req_dispose(&reqs[k]);
    }
    free(packs);
    free(reqs);
    free(born);
    cairn_buf_dispose(&e);
    return rc;
}

/* After an upload (mu held): the chunks whose index entry is still (from[i], adds[i]'s old
 * offset old_off[i]) now live in pack names[adds[i].pack] (of sizes[...]) at adds[i].off. */
static int repoint(s3_store *s, char *const *names, const uint64_t *sizes, size_t npacks,
                   const s3_loc *adds, size_t n, const uint32_t *from, const uint64_t *old_off)
{
    uint32_t *nums = cairn_calloc(npacks ? npacks : 1, sizeof *nums);
    if (!nums) return ERR(CAIRN_ENOMEM, "out of memory for pack names");
    for (size_t k = 0; k < npacks; k++) {
        int rc = pack_intern(s, names[k], strlen(names[k]), sizes[k], &nums[k]);
        if (rc < 0) {
            free(nums);
            return rc;
        }
    }
    for (size_t i = 0; i < n && npacks; i++) {
        s3_loc *at = s3_index_find(s, &adds[i].key);
        if (at && at->pack == from[i] && at->off == old_off[i]) {
            at->pack = nums[adds[i].pack];
            at->off = adds[i].off;
        }
    }
    free(nums);
    return CAIRN_OK;
}

/* Moves the last pack of the write buffer (the one still filling) into a batch of its own,
 * *rest, with a buffer of its own (mu held): the chunks in it keep their index entries, at
 * their new offsets. Only without deletions pending, in a buffer that holds no restored failed
 * flush (batch_restore), and with at least one complete pack before it.
 * @return false when it cannot (then nothing changed). */
static bool batch_split(s3_store *s, s3_batch *rest)
{
    s3_batch *p = &s->pend;
    memset(rest, 0, sizeof *rest);
    if (p->ndels || p->restored || p->nparts < 2) return false;
    uint64_t cut = p->parts[p->nparts - 1], tail = p->buf.len - cut;
    uint64_t want = (uint64_t)S3_BUDGET_PACKS * s->conf.pack_target + s->conf.pack_target;
    size_t capups = 0;
    size_t nrest = 0;
    for (size_t i = 0; i < p->nadds; i++) nrest += p->adds[i].off >= cut;
    uint8_t *was = rest->buf.data;
    bool ok = cairn_buf_reserve(&rest->buf, MAX(want, tail)) == CAIRN_OK &&
              (rest->buf.data == was || (advise_huge(&rest->buf), true)) &&
              cairn_buf_append(&rest->buf, p->buf.data + cut, tail) == CAIRN_OK &&
              cairn_array_room(&rest->parts, &rest->capparts, 1, sizeof *rest->parts, 8) == 0 &&
              cairn_array_room(&rest->ups, &capups, 1, sizeof *rest->ups, 8) == 0 &&
              (rest->adds = cairn_malloc((nrest + 1) * sizeof *rest->adds)) != NULL;
    if (!ok) {
        batch_free(rest);
        return false;
    }
    rest->capups = capups;
    rest->capadds = nrest + 1;
    rest->parts[0] = 0;
    rest->ups[0] = (s3_up){ S3_UP_NONE, NULL, 0 };
    rest->nparts = 1;
    rest->id = ++s->batches;
    size_t keep = 0;
    for (size_t i = 0; i < p->nadds; i++) {
        s3_loc l = p->adds[i];
        if (l.off < cut) {
            p->adds[keep++] = l;
            continue;
        }
        s3_loc *at = s3_index_find(s, &l.key);
        l.off -= cut;
        if (at && at->pack == S3_PENDING && at->off == p->adds[i].off) at->off = l.off;
        rest->adds[rest->nadds++] = l;
    }
    p->nadds = keep;
    release_pages(&p->buf, cut, p->buf.len);
    p->buf.len = cut;
    /* a part hides what the log says only if [hide_lo, hide_hi], where the hiding writes are,
     * reaches into it (a superset: never a part that holds one unmarked). Before, both parts
     * inherited the flag, and so did every later split, so no snapshot was written until a
     * flush found nothing pending, which a push never has. */
    if (p->hides && p->hide_hi >= cut) {
        s3_batch_hide(rest, p->hide_lo >= cut ? p->hide_lo - cut : 0);
        s3_batch_hide(rest, p->hide_hi - cut);
    }
    p->hides = p->hides && p->hide_lo < cut;
    if (p->hides) p->hide_hi = MIN(p->hide_hi, cut - 1);
    free(p->ups[p->nparts - 1].name);
    p->nparts--;
    return true;
}

/* Whether a background upload of one of b's packs is still running (mu held). */
static bool uploading(const s3_batch *b)
{
    for (size_t k = 0; k < b->nparts; k++)
        if (b->ups[k].state == S3_UP_RUNNING) return true;
    return false;
}

static int log_flush(s3_store *s, bool packs_only)
{
    pthread_mutex_lock(&s->mu);
    s3_batch rest;
    bool cut = packs_only && batch_split(s, &rest);
    if (!cut) s3_uploads_wait(s); /* the background uploads of the buffer's packs */
    /* the chunks of the batch that are still current (a later del or re-put drops one) */
    s3_batch *p = &s->pend;
    size_t live = 0;
    for (size_t i = 0; i < p->nadds; i++) {
        s3_loc *at = s3_index_find(s, &p->adds[i].key);
        if (at && at->pack == S3_PENDING && at->off == p->adds[i].off) {
            at->pack = S3_FLUSHING;
            p->adds[live++] = *at;
        }
    }
    p->nadds = live;
    if (!live && !p->ndels) {
        if (cut) { /* the writer goes on in rest while the uploads (reading p) end */
            s->flushing = *p;
            *p = rest;
            while (uploading(&s->flushing)) pthread_cond_wait(&s->up_cv, &s->mu);
            flushing_done(s);
        } else {
            batch_free(p);
        }
        pthread_mutex_unlock(&s->mu);
        return CAIRN_OK;
    }
    s->flushing = *p;
    memset(p, 0, sizeof *p);
    if (cut) { /* the writer goes on with the last pack; wait for the uploads of the others */
        *p = rest;
        while (uploading(&s->flushing)) pthread_cond_wait(&s->up_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);

    s3_batch *f = &s->flushing;
    uint64_t seq = 0;
    size_t n = f->nadds ? f->nadds : 1, np = f->nparts ? f->nparts : 1;
    uint32_t *from = cairn_malloc(n * sizeof *from);
    uint64_t *offs = cairn_malloc(n * sizeof *offs);
    uint64_t *sizes = cairn_malloc(np * sizeof *sizes);
    char **names = cairn_calloc(np, sizeof *names);
    int rc = from && offs && sizes && names ? CAIRN_OK
                                            : ERR(CAIRN_ENOMEM, "out of memory flushing");
    /* each chunk's pack (adds are in buffer order, as are the packs) and offset within it */
    bool split = rc == CAIRN_OK;
    for (size_t i = 0, k = 0; split && i < f->nadds; i++) {
        while (k + 1 < f->nparts && f->parts[k + 1] <= f->adds[i].off) k++;
        from[i] = S3_FLUSHING;
        offs[i] = f->adds[i].off;
        f->adds[i].pack = (uint32_t)k;
        f->adds[i].off -= f->parts[k];
    }
    for (size_t k = 0; rc == CAIRN_OK && k < f->nparts; k++)
        sizes[k] = (k + 1 < f->nparts ? f->parts[k + 1] : f->buf.len) - f->parts[k];
    if (rc == CAIRN_OK)
        rc = upload_batch(s, &f->buf, f->parts, f->ups, f->nparts, f->adds, f->nadds, f->dels,
                          f->dpack, f->ndels, 0, names, &seq);
    pthread_mutex_lock(&s->mu);
    if (rc == CAIRN_OK && f->nadds)
        rc = repoint(s, names, sizes, f->nparts, f->adds, f->nadds, from, offs);
    if (rc == CAIRN_OK) {
        /* our entry is applied by hand; entries before it were applied by log_append */
        if (seq == s->seq + 1) s->seq = seq;
        flushing_done(s);
        s3_snap_maybe(s);
    } else {
        int keep = rc;
        for (size_t i = 0; split && i < f->nadds; i++) f->adds[i].off = offs[i]; /* as before */
        batch_restore(s); /* the writes stay pending: a later flush tries again */
        rc = keep;
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t k = 0; names && k < np; k++) free(names[k]);
    free(from);
    free(offs);
    free(sizes);
    free(names);
    return rc;
}

int s3_log_flush(s3_store *s) { return log_flush(s, false); }

int s3_log_flush_packs(s3_store *s) { return log_flush(s, true); }

/* ---- compaction ---- */

void s3_delete_objects(s3_store *s, char **objs, size_t n)
{
    s3_req *reqs = cairn_calloc(n ? n : 1, sizeof *reqs);
    if (!reqs) return;
    for (size_t i = 0; i < n; i++) {
        reqs[i].method = "DELETE";
        reqs[i].obj = objs[i];
        objs[i] = NULL;
    }
    s3_http_run(s->http, reqs, n);
    for (size_t i = 0; i < n; i++) s3_req_dispose(&reqs[i]);
    free(reqs);
}

/* The live bytes of each pack (mu held); caller frees. */
static uint64_t *live_bytes(s3_store *s)
{
    uint64_t *live = cairn_calloc(s->npacks ? s->npacks : 1, sizeof *live);
    size_t pos = 0;
    for (const s3_loc *l; live && (l = s3_index_next(s, &pos));)
        if (!local_only(l)) live[l->pack] += l->len;
    return live;
}

typedef struct moving {
    s3_loc *adds;           /* the chunks copied: their new place (pack 0 = the new pack) */
    uint32_t *from;         /* the pack each came from */
    uint64_t *old_off;
    size_t n, cap;
    cairn_buf buf;          /* the new pack */
} moving;

/* Copies the live chunks of pack `num` into m (s3_compact.c reads them). */
static int copy_live(s3_store *s, uint32_t num, moving *m)
{
    pthread_mutex_lock(&s->mu);
    char *obj = s3_obj(s, s->packs[num].name);
    uint64_t size = s->packs[num].size;
    size_t n = 0;
    s3_loc *locs = cairn_malloc((s->count ? s->count : 1) * sizeof *locs);
    size_t pos = 0;
    for (const s3_loc *l; locs && (l = s3_index_next(s, &pos));)
        if (l->pack == num) locs[n++] = *l;
    pthread_mutex_unlock(&s->mu);
    cairn_buf body = CAIRN_BUF_INIT;
    uint64_t *at = cairn_malloc((n ? n : 1) * sizeof *at);
    int rc = obj && locs && at ? s3_compact_read_live(s, obj, size, locs, n, &body, at)
                               : ERR(CAIRN_ENOMEM, "out of memory compacting");
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
        const s3_loc *l = &locs[i];
        if (at[i] == UINT64_MAX || hash_xxh3(body.data + at[i], l->len, 0) != l->check) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &l->key);
            rc = CORRUPT("compacting: chunk %s in pack object '%s' fails its checksum: the "
                         "object was overwritten or damaged; nothing was removed",
                         hex, obj);
            break;
        }
        if (!m->buf.len) {
            uint8_t h[S3_PACK_HEADER_SIZE] = { 0 };
            memcpy(h, S3_PACK_MAGIC, S3_MAGIC_SIZE);
            store_le32(h + 8, S3_FORMAT_VERSION);
            rc = cairn_buf_append(&m->buf, h, sizeof h);
        }
        size_t c1 = m->cap, c2 = m->cap, c3 = m->cap; /* three arrays, one length */
        if (rc == CAIRN_OK) rc = cairn_array_room(&m->adds, &c1, m->n, sizeof *m->adds, 64);
        if (rc == CAIRN_OK) rc = cairn_array_room(&m->from, &c2, m->n, sizeof *m->from, 64);
        if (rc == CAIRN_OK) rc = cairn_array_room(&m->old_off, &c3, m->n, sizeof *m->old_off, 64);
        if (rc != CAIRN_OK) break;
        m->cap = c1;
        m->adds[m->n] = *l;
        m->adds[m->n].pack = 0;
        m->adds[m->n].off = m->buf.len;
        m->from[m->n] = num;
        m->old_off[m->n++] = l->off;
        rc = cairn_buf_append(&m->buf, body.data + at[i], l->len);
    }
    cairn_buf_dispose(&body);
    free(at);
    free(obj);
    free(locs);
    return rc;
}

/* The whole index as it stands (mu held), encoded as a base entry into e. */
static int base_encode(s3_store *s, cairn_buf *e)
{
    uint32_t *map = cairn_malloc((s->npacks ? s->npacks : 1) * sizeof *map);
    s3_pack *packs = cairn_malloc((s->npacks ? s->npacks : 1) * sizeof *packs);
    s3_loc *adds = cairn_malloc((s->count ? s->count : 1) * sizeof *adds);
    uint32_t np = 0;
    size_t n = 0;
    int rc = map && packs && adds ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory compacting");
    for (uint32_t i = 0; rc == CAIRN_OK && i < s->npacks; i++) map[i] = UINT32_MAX;
    size_t pos = 0;
    for (const s3_loc *l; rc == CAIRN_OK && (l = s3_index_next(s, &pos));) {
        if (local_only(l)) continue;
        uint32_t pk = l->pack;
        if (map[pk] == UINT32_MAX) {
            map[pk] = np;
            packs[np++] = s->packs[pk]; /* borrowed names */
        }
        adds[n] = *l;
        adds[n++].pack = map[pk];
    }
    if (rc == CAIRN_OK) rc = entry_encode(e, S3_LOG_BASE, packs, np, adds, n, NULL, 0, NULL);
    free(map);
    free(packs);
    free(adds);
    return rc;
}

/* Writes a base entry (the whole index as it stands) and deletes the log entries before it.
 * The base is encoded after the log was read to its end and written at the number after it:
 * when another writer takes that number first, the log is read again and the base encoded
 * again (a base encoded before would leave out that writer's chunks). */
static int write_base(s3_store *s)
{
    cairn_buf e = CAIRN_BUF_INIT;
    uint64_t seq = 0;
    int rc = CAIRN_OK;
    for (int tries = 0;; tries++) {
        rc = tries == SEQ_TRIES ? ERR(CAIRN_ECONFLICT, "s3 store %s: could not take a log "
                                      "number for a base entry in %d tries",
                                      s->conf.url, SEQ_TRIES)
                                : s3_log_refresh(s);
        if (rc < 0) break;
        pthread_mutex_lock(&s->mu);
        seq = s->seq + 1;
        rc = base_encode(s, &e);
        pthread_mutex_unlock(&s->mu);
        if (rc == CAIRN_OK) rc = log_put(s, &e, seq);
        if (rc != CAIRN_ECONFLICT) break;
    }
    cairn_buf_dispose(&e);
    if (rc < 0) return rc;
    pthread_mutex_lock(&s->mu);
    if (seq == s->seq + 1) s->seq = seq; /* it says what the index says already */
    pthread_mutex_unlock(&s->mu);
    /* the entries before it are replaced: readers that meet a missing one start over */
    s3_log_drop(s, seq - 1);
    return CAIRN_OK;
}

int s3_compact(cairn_store *st, double min_live, unsigned flags, cairn_store_compact_stats *out)
{
    s3_store *s = (s3_store *)st;
    (void)flags; /* every flush seals its pack: there is no pack being written to seal */
    cairn_store_compact_stats cs;
    memset(&cs, 0, sizeof cs);
    if (out) *out = cs;
    FAIL_IF(!(min_live >= 0), CAIRN_EINVAL, "compact: live fraction %g is not a fraction",
            min_live);
    TRY(s3_check_writable(s, "compacting"));
    pthread_mutex_lock(&s->flush_mu);
    int rc = s3_log_flush(s);
    if (rc == CAIRN_OK) rc = s3_log_refresh(s);
    /* the sparse packs */
    uint32_t *victims = NULL, nv = 0;
    uint64_t freed = 0;
    if (rc == CAIRN_OK) {
        pthread_mutex_lock(&s->mu);
        uint64_t *live = live_bytes(s);
        victims = cairn_malloc((s->npacks ? s->npacks : 1) * sizeof *victims);
        if (!live || !victims) rc = ERR(CAIRN_ENOMEM, "out of memory compacting");
        for (uint32_t i = 0; rc == CAIRN_OK && i < s->npacks; i++) {
            uint64_t body = s->packs[i].size > S3_PACK_HEADER_SIZE
                                ? s->packs[i].size - S3_PACK_HEADER_SIZE : 0;
            if (s->packs[i].size && (double)live[i] < min_live * (double)body) {
                victims[nv++] = i;
                freed += s->packs[i].size;
            }
        }
        pthread_mutex_unlock(&s->mu);
        free(live);
    }
    moving m;
    memset(&m, 0, sizeof m);
    for (uint32_t v = 0; rc == CAIRN_OK && v < nv; v++) rc = copy_live(s, victims[v], &m);
    char *pack = NULL;
    uint64_t seq = 0, size = m.buf.len;
    if (rc == CAIRN_OK && nv)
        rc = upload_batch(s, &m.buf, NULL, NULL, 1, m.adds, m.n, NULL, NULL, 0, 0, &pack, &seq);
    if (rc == CAIRN_OK && nv) {
        pthread_mutex_lock(&s->mu);
        rc = repoint(s, &pack, &size, pack ? 1 : 0, m.adds, m.n, m.from, m.old_off);
        if (seq == s->seq + 1) s->seq = seq;
        pthread_mutex_unlock(&s->mu);
    }
    /* the log from here on is one base entry; then the packs nothing names can go */
    pthread_mutex_lock(&s->mu);
    bool several = s->seq > 1;
    pthread_mutex_unlock(&s->mu);
    if (rc == CAIRN_OK && several) rc = write_base(s);
    if (rc == CAIRN_OK && nv) {
        char **objs = cairn_calloc(nv, sizeof *objs);
        pthread_mutex_lock(&s->mu);
        for (uint32_t v = 0; objs && v < nv; v++) {
            objs[v] = s3_obj(s, s->packs[victims[v]].name);
            s->packs[victims[v]].size = 0; /* gone: never a victim again */
        }
        pthread_mutex_unlock(&s->mu);
        if (objs) s3_delete_objects(s, objs, nv);
        free(objs);
        cs.files_rewritten = nv;
        cs.bytes_freed = freed > m.buf.len ? freed - m.buf.len : 0;
    }
    pthread_mutex_unlock(&s->flush_mu);
    free(victims);
    free(pack);
    free(m.adds);
    free(m.from);
    free(m.old_off);
    cairn_buf_dispose(&m.buf);
    if (out) *out = cs;
    return rc;
}

/* ---- reading ---- */

int s3_pack_read(s3_store *s, cairn_buf *out, const s3_loc *loc)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &loc->key);
    pthread_mutex_lock(&s->mu);
    char *obj = s3_obj(s, s->packs[loc->pack].name);
    pthread_mutex_unlock(&s->mu);
    if (!obj) return ERR(CAIRN_ENOMEM, "out of memory reading a chunk");
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.obj = obj;
    r.range = true;
    r.off = loc->off;
    r.len = loc->len;
    r.resp = *out;
    int rc = s3_http_one(s->http, &s->conf, &r);
    *out = r.resp;
    r.resp = (cairn_buf)CAIRN_BUF_INIT;
    if (rc == CAIRN_OK && r.status == 200 && out->len >= loc->off + loc->len) {
        /* the server ignored the range: keep the chunk's bytes */
        memmove(out->data, out->data + loc->off, loc->len);
        out->len = loc->len;
    }
    if (rc == CAIRN_OK && (out->len != loc->len || hash_xxh3(out->data, out->len, 0) != loc->check))
        rc = CORRUPT("chunk %s in pack object '%s' of bucket '%s' fails its checksum (%zu bytes "
                     "read at offset %" PRIu64 ", %u expected): the object was overwritten or "
                     "damaged; not served",
                     hex, obj, s->conf.bucket, out->len, loc->off, loc->len);
    else if (rc < 0)
        cairn_error_prefix(rc, "reading chunk %s", hex);
    s3_req_dispose(&r);
    return rc;
}
