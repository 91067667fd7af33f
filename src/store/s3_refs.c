/*
 * s3_refs.c - the s3 store's refs: one object refs/<name> each, holding a small checksummed
 * record (a value, or "deleted"), moved only by conditional PUT: If-None-Match: * to create,
 * If-Match: <the ETag read> to move. Two writers can therefore never both win a move; the
 * loser's PUT gets 412 and ref_cas says CAIRN_ECONFLICT. A delete writes a "deleted" record
 * the same way (a tombstone), because radosgw ignores If-Match on DELETE (measured: a DELETE
 * with a wrong If-Match removes the object), and an unconditional DELETE would let a delete race
 * a move. No lock objects anywhere.
 *
 * The store probes at open that the server honours both conditions (s3_probe_conditions); a
 * server that ignores them is refused for every write, with a message saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/hash.h"
#include "store/refname.h"
#include "store/s3_int.h"

#define REF_LIST_BATCH 64

static char *ref_obj(const s3_store *s, const char *name)
{
    return cairn_sprintf("%s" S3_REF_DIR "%s", s->conf.prefix, name);
}

static int ref_encode(cairn_buf *out, int state, const void *val, size_t len)
{
    uint8_t h[S3_REF_HEADER_SIZE];
    memcpy(h, S3_REF_MAGIC, S3_MAGIC_SIZE);
    h[8] = (uint8_t)state;
    h[9] = h[10] = h[11] = 0;
    store_le32(h + 12, (uint32_t)len);
    /* a nonce, so that no two writes leave the same bytes: reading back exactly these bytes
     * proves this write landed (see wrote()) */
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        nonce = (uint64_t)clock_wall_ns() ^ ((uint64_t)getpid() << 40);
    store_le64(h + 16, nonce);
    out->len = 0;
    TRY(cairn_buf_append(out, h, sizeof h));
    if (len) TRY(cairn_buf_append(out, val, len));
    uint8_t c[S3_CHECK_SIZE];
    store_le64(c, hash_xxh3(out->data, out->len, 0));
    return cairn_buf_append(out, c, sizeof c);
}

/* Decodes a ref object: *state and the value's bytes [*val, *val + *len). */
static int ref_decode(const cairn_buf *b, const char *obj, int *state, const uint8_t **val,
                      size_t *len)
{
    const uint8_t *p = b->data;
    size_t n = b->len;
    FAIL_IF(n < S3_REF_HEADER_SIZE + S3_CHECK_SIZE || memcmp(p, S3_REF_MAGIC, S3_MAGIC_SIZE) != 0 ||
                load_le32(p + 12) != n - S3_REF_HEADER_SIZE - S3_CHECK_SIZE ||
                (p[8] != S3_REF_VALUE && p[8] != S3_REF_DELETED),
            CAIRN_ECORRUPT, "ref object '%s' is not a cairn ref record (%zu bytes)", obj, n);
    FAIL_IF(hash_xxh3(p, n - S3_CHECK_SIZE, 0) != load_le64(p + n - S3_CHECK_SIZE), CAIRN_ECORRUPT,
            "ref object '%s' fails its checksum: it was overwritten or damaged", obj);
    *state = p[8];
    *val = p + S3_REF_HEADER_SIZE;
    *len = n - S3_REF_HEADER_SIZE - S3_CHECK_SIZE;
    return CAIRN_OK;
}

/* Reads ref object obj into r: CAIRN_OK with the state and value, or CAIRN_ENOTFOUND (no
 * object). */
static int ref_read(s3_store *s, s3_req *r, char *obj, int *state, const uint8_t **val,
                    size_t *len)
{
    s3_req_reset(r);
    r->method = "GET";
    r->obj = obj;
    int rc = s3_http_one(s->http, &s->conf, r);
    if (rc < 0) return rc;
    return ref_decode(&r->resp, obj, state, val, len);
}

int s3_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    s3_store *s = (s3_store *)st;
    TRY(store_check_ref_name(name));
    char *obj = ref_obj(s, name);
    if (!obj) return ERR(CAIRN_ENOMEM, "out of memory reading ref '%s'", name);
    s3_req r;
    memset(&r, 0, sizeof r);
    int state = 0;
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc = ref_read(s, &r, obj, &state, &val, &len);
    if (rc == CAIRN_OK && state == S3_REF_DELETED) rc = CAIRN_ENOTFOUND;
    if (rc == CAIRN_OK) rc = cairn_buf_set(out, val, len);
    else if (rc == CAIRN_ENOTFOUND) rc = ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist", name);
    s3_req_dispose(&r);
    return rc;
}

/* The If-Match value for an ETag as the server returned it, in the form the probe found the
 * server takes (radosgw 16 wants it without quotes; AWS documents it with them). */
static void if_match_form(const s3_store *s, const char *etag, char *out, size_t size)
{
    size_t n = strlen(etag);
    bool quoted = n >= 2 && etag[0] == '"' && etag[n - 1] == '"';
    if (s->etag_quoted || !quoted) snprintf(out, size, "%s", etag);
    else snprintf(out, size, "%.*s", (int)(n - 2), etag + 1);
}

/* Whether ref object obj holds exactly `body` now. A conditional PUT retried after a lost
 * answer gets 412 when its first attempt succeeded (the object no longer matches the
 * condition). Comparing values would not tell: another writer may have written the same value
 * (two increments of a counter from 5 both writing 6: a lost update, seen in test_s3). The
 * record's nonce makes the bytes of every write unique, so equal bytes mean this write. */
static bool wrote(s3_store *s, const char *obj, const cairn_buf *body)
{
    s3_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.obj = cairn_strdup(obj);
    bool same = r.obj && s3_http_one(s->http, &s->conf, &r) == CAIRN_OK &&
                r.resp.len == body->len && memcmp(r.resp.data, body->data, body->len) == 0;
    s3_req_dispose(&r);
    return same;
}

int s3_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
               const void *val, size_t vlen)
{
    s3_store *s = (s3_store *)st;
    TRY(store_check_ref_name(name));
    TRY(store_check_ref_value(name, vlen));
    TRY(s3_check_writable(s, "moving a ref"));
    char *obj = ref_obj(s, name);
    if (!obj) return ERR(CAIRN_ENOMEM, "out of memory moving ref '%s'", name);
    s3_req r;
    memset(&r, 0, sizeof r);
    int state = S3_REF_DELETED;
    const uint8_t *cur = NULL;
    size_t clen = 0;
    int rc = ref_read(s, &r, obj, &state, &cur, &clen);
    bool exists = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK; /* no object at all */
    r.obj = NULL; /* still owned by obj */
    bool present = exists && state == S3_REF_VALUE;
    if (rc == CAIRN_OK) {
        bool same = expect && present && clen == elen &&
                    (elen == 0 || memcmp(cur, expect, elen) == 0);
        bool match = expect ? same : !present;
        if (!match)
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently (compare-and-swap failed)",
                     name);
    }
    char etag[sizeof r.etag + 4] = "";
    if (rc == CAIRN_OK && exists) {
        if (!r.etag[0]) rc = ERR(CAIRN_EIO, "ref object '%s': the server sent no ETag", obj);
        else if_match_form(s, r.etag, etag, sizeof etag);
    }
    cairn_buf body = CAIRN_BUF_INIT;
    if (rc == CAIRN_OK && !val && !present) goto out; /* absent, stays absent */
    if (rc == CAIRN_OK) rc = ref_encode(&body, val ? S3_REF_VALUE : S3_REF_DELETED, val, vlen);
    if (rc == CAIRN_OK) {
        s3_req_reset(&r);
        r.method = "PUT";
        r.obj = obj;
        r.body = body.data;
        r.body_len = body.len;
        r.if_none_match = !exists;
        r.if_match = exists ? etag : NULL;
        rc = s3_http_one(s->http, &s->conf, &r);
        r.obj = NULL;
        if (rc == CAIRN_ECONFLICT && r.attempts > 1 && wrote(s, obj, &body))
            rc = CAIRN_OK; /* an earlier attempt, whose answer was lost, did it */
        if (rc == CAIRN_ECONFLICT)
            rc = ERR(CAIRN_ECONFLICT,
                     "ref '%s' changed concurrently (compare-and-swap failed: conditional PUT "
                     "of '%s' refused)",
                     name, obj);
        else if (rc < 0)
            cairn_error_prefix(rc, "moving ref '%s'", name);
    }
out:
    r.obj = NULL;
    s3_req_dispose(&r);
    cairn_buf_dispose(&body);
    free(obj);
    return rc;
}

/* ---- listing ---- */

typedef struct names {
    char **v;
    size_t n, cap;
    const char *prefix;
} names;

static int collect_name(const char *rel, uint64_t size, void *p)
{
    (void)size;
    names *l = p;
    const char *name = rel + strlen(S3_REF_DIR);
    if (strncmp(name, l->prefix, strlen(l->prefix)) != 0 || store_ref_name_problem(name))
        return CAIRN_OK;
    TRY(cairn_array_room(&l->v, &l->cap, l->n, sizeof *l->v, 32));
    l->v[l->n] = cairn_strdup(name);
    if (!l->v[l->n]) return ERR(CAIRN_ENOMEM, "out of memory listing refs");
    l->n++;
    return CAIRN_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int s3_ref_list(cairn_store *st, const char *prefix,
                int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    s3_store *s = (s3_store *)st;
    names l = { .prefix = prefix };
    char *rel = cairn_sprintf(S3_REF_DIR "%s", prefix);
    int rc = rel ? s3_list(s, rel, NULL, collect_name, &l) : ERR(CAIRN_ENOMEM, "out of memory");
    free(rel);
    if (l.n) qsort(l.v, l.n, sizeof *l.v, name_cmp);
    s3_req *reqs = cairn_calloc(REF_LIST_BATCH, sizeof *reqs);
    if (rc == CAIRN_OK && !reqs) rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
    char *damaged = NULL;
    for (size_t at = 0; rc == CAIRN_OK && at < l.n; at += REF_LIST_BATCH) {
        size_t n = MIN(REF_LIST_BATCH, l.n - at);
        for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
            s3_req_reset(&reqs[i]);
            reqs[i].method = "GET";
            reqs[i].obj = ref_obj(s, l.v[at + i]);
            if (!reqs[i].obj) rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
        }
        if (rc == CAIRN_OK) rc = s3_http_run(s->http, reqs, n);
        for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
            int grc = s3_req_rc(&s->conf, &reqs[i]);
            if (grc == CAIRN_ENOTFOUND) continue; /* deleted since the listing */
            int state = 0;
            const uint8_t *val = NULL;
            size_t len = 0;
            if (grc == CAIRN_OK) grc = ref_decode(&reqs[i].resp, reqs[i].obj, &state, &val, &len);
            if (grc == CAIRN_ECORRUPT) { /* listed after every readable one */
                if (!damaged) damaged = cairn_strdup(l.v[at + i]);
                continue;
            }
            if (grc < 0) {
                rc = grc;
                break;
            }
            if (state == S3_REF_VALUE) rc = cb(l.v[at + i], val, len, payload);
        }
    }
    if (rc == CAIRN_OK && damaged)
        rc = CORRUPT("ref '%s' in bucket '%s' cannot be read (its object fails its checksum)",
                     damaged, s->conf.bucket);
    for (size_t i = 0; reqs && i < REF_LIST_BATCH; i++) s3_req_dispose(&reqs[i]);
    free(reqs);
    for (size_t i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    free(damaged);
    return rc;
}

/* ---- the probe ---- */

/* PUT body to obj with the given condition; the status (0 without an answer) into *status. */
static int probe_put(s3_store *s, s3_req *r, char *obj, const char *body, bool none_match,
                     const char *if_match)
{
    s3_req_reset(r);
    r->method = "PUT";
    r->obj = obj;
    r->body = (const uint8_t *)body;
    r->body_len = strlen(body);
    r->if_none_match = none_match;
    r->if_match = if_match;
    int rc = s3_http_one(s->http, &s->conf, r);
    r->obj = NULL;
    return rc;
}

int s3_probe_conditions(s3_store *s)
{
    char hex[33];
    uint8_t rnd[16];
    uint64_t t = (uint64_t)clock_wall_ns();
    memcpy(rnd, &t, sizeof t);
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) /* the clock will do */
        memcpy(rnd + 8, &s, sizeof s < 8 ? sizeof s : 8);
    hex_encode(hex, rnd, sizeof rnd);
    char *obj = cairn_sprintf("%s" S3_PROBE_DIR "%s", s->conf.prefix, hex);
    if (!obj) return ERR(CAIRN_ENOMEM, "out of memory probing the s3 server");
    s3_req r;
    memset(&r, 0, sizeof r);
    s->cond_ok = false;
    s->cond_problem[0] = '\0';
    int rc = probe_put(s, &r, obj, "1", true, NULL); /* create */
    if (rc < 0) goto out;                             /* the server cannot be used at all */
    char etag[sizeof r.etag];
    snprintf(etag, sizeof etag, "%s", r.etag);
    rc = probe_put(s, &r, obj, "2", true, NULL); /* create again: must be refused */
    if (rc == CAIRN_OK) {
        snprintf(s->cond_problem, sizeof s->cond_problem,
                 "a PUT with If-None-Match: * replaced an existing object");
        rc = CAIRN_OK;
        goto out;
    }
    if (rc != CAIRN_ECONFLICT) goto out;
    rc = probe_put(s, &r, obj, "3", false, "\"0123456789abcdef0123456789abcdef\"");
    if (rc == CAIRN_OK) {
        snprintf(s->cond_problem, sizeof s->cond_problem,
                 "a PUT with a wrong If-Match ETag replaced the object");
        goto out;
    }
    if (rc != CAIRN_ECONFLICT) goto out;
    /* which form of the ETag If-Match takes: as returned (quoted), else bare */
    rc = probe_put(s, &r, obj, "4", false, etag);
    if (rc == CAIRN_OK) {
        s->etag_quoted = true;
        s->cond_ok = true;
    } else if (rc == CAIRN_ECONFLICT) {
        char bare[sizeof etag];
        size_t n = strlen(etag);
        bool q = n >= 2;
        snprintf(bare, sizeof bare, "%.*s", q ? (int)(n - 2) : (int)n, q ? etag + 1 : etag);
        rc = probe_put(s, &r, obj, "4", false, bare);
        if (rc == CAIRN_OK) {
            s->etag_quoted = false;
            s->cond_ok = true;
        } else if (rc == CAIRN_ECONFLICT) {
            snprintf(s->cond_problem, sizeof s->cond_problem,
                     "a PUT with If-Match of the object's own ETag was refused");
            rc = CAIRN_OK;
        }
    }
out:
    if (rc == CAIRN_ECONFLICT) rc = CAIRN_OK;
    if (rc == CAIRN_OK) { /* remove the probe object (best effort) */
        s3_req_reset(&r);
        r.method = "DELETE";
        r.obj = obj;
        s3_http_run(s->http, &r, 1);
        r.obj = NULL;
    }
    s3_req_dispose(&r);
    free(obj);
    return rc;
}
