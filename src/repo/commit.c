/*
 * commit.c - canonical encodings of commits and reflog entries. Each decoder accepts exactly
 * the encoding the encoder produces: shortest varints, every length within its limit, text
 * valid UTF-8 without NUL, nothing after the end.
 */
#include <stdlib.h>

#include "base/varint.h"
#include "chunk/chunk.h"
#include "commit.h"

static int put_bytes(cairn_buf *b, const void *p, size_t n) { return cairn_buf_append(b, p, n); }

static int put_varint(cairn_buf *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX];
    return put_bytes(b, tmp, varint_put(tmp, v));
}

static int put_i64(cairn_buf *b, int64_t v)
{
    uint8_t tmp[8];
    store_le64(tmp, (uint64_t)v);
    return put_bytes(b, tmp, 8);
}

static int put_text(cairn_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    TRY(put_varint(b, n));
    return put_bytes(b, s, n);
}

/* Everything but the signature section; `is_signed` is written as given. */
static int encode_body(cairn_buf *out, const commit *c, bool is_signed)
{
    FAIL_IF(c->nparents > COMMIT_MAX_PARENTS, CAIRN_EINVAL, "a commit has at most %d parents",
            COMMIT_MAX_PARENTS);
    FAIL_IF(strlen(c->author ? c->author : "") > COMMIT_MAX_PERSON ||
                strlen(c->committer ? c->committer : "") > COMMIT_MAX_PERSON,
            CAIRN_EINVAL, "commit author or committer is over %d bytes", COMMIT_MAX_PERSON);
    FAIL_IF(strlen(c->message ? c->message : "") > COMMIT_MAX_MESSAGE, CAIRN_EINVAL,
            "commit message is over %u bytes", COMMIT_MAX_MESSAGE);
    out->len = 0;
    uint8_t hdr[2] = { CHUNK_KIND_COMMIT, COMMIT_VERSION };
    TRY(put_bytes(out, hdr, 2));
    TRY(put_bytes(out, c->catalog.bytes, CAIRN_ID_SIZE));
    TRY(put_varint(out, c->nparents));
    for (size_t i = 0; i < c->nparents; i++) TRY(put_bytes(out, c->parents[i].bytes, CAIRN_ID_SIZE));
    TRY(put_text(out, c->author));
    TRY(put_i64(out, c->author_time));
    TRY(put_text(out, c->committer));
    TRY(put_i64(out, c->commit_time));
    TRY(put_text(out, c->message));
    uint8_t s = is_signed ? 1 : 0;
    return put_bytes(out, &s, 1);
}

int commit_encode(cairn_buf *out, const commit *c)
{
    TRY(encode_body(out, c, c->is_signed));
    if (!c->is_signed) return CAIRN_OK;
    TRY(put_bytes(out, c->signer, SIG_PUBLIC_SIZE));
    return put_bytes(out, c->signature, SIG_SIZE);
}

int commit_signing_payload(cairn_buf *out, const commit *c)
{
    cairn_buf body = CAIRN_BUF_INIT;
    int rc = encode_body(&body, c, false);
    if (rc == CAIRN_OK) rc = cairn_buf_set(out, COMMIT_SIGNING_DOMAIN, strlen(COMMIT_SIGNING_DOMAIN));
    if (rc == CAIRN_OK) rc = cairn_buf_append(out, body.data, body.len);
    cairn_buf_dispose(&body);
    return rc;
}

/* ---- decoding ---- */

typedef struct reader {
    const uint8_t *p, *end;
    const char *what;
} reader;

static int need(reader *r, size_t n, const char *field)
{
    FAIL_IF((size_t)(r->end - r->p) < n, CAIRN_ECORRUPT, "%s is truncated at its %s", r->what,
            field);
    return CAIRN_OK;
}

static int get_varint(reader *r, uint64_t *v, const char *field)
{
    size_t n = varint_get(r->p, r->end, v);
    FAIL_IF(n == 0, CAIRN_ECORRUPT, "%s has a malformed %s", r->what, field);
    r->p += n;
    return CAIRN_OK;
}

static int get_id(reader *r, cairn_id *id, const char *field)
{
    TRY(need(r, CAIRN_ID_SIZE, field));
    memcpy(id->bytes, r->p, CAIRN_ID_SIZE);
    r->p += CAIRN_ID_SIZE;
    return CAIRN_OK;
}

static int get_i64(reader *r, int64_t *v, const char *field)
{
    TRY(need(r, 8, field));
    *v = (int64_t)load_le64(r->p);
    r->p += 8;
    return CAIRN_OK;
}

bool text_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == 0) return false;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n) return false;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min_of[5] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (cp < min_of[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

static int get_text(reader *r, char **out, size_t max, const char *field)
{
    uint64_t n;
    TRY(get_varint(r, &n, field));
    FAIL_IF(n > max, CAIRN_ECORRUPT, "%s has a %s of %llu bytes, over %zu", r->what, field,
            (unsigned long long)n, max);
    TRY(need(r, (size_t)n, field));
    FAIL_IF(!text_ok(r->p, (size_t)n), CAIRN_ECORRUPT, "%s: its %s is not valid UTF-8 text",
            r->what, field);
    *out = cairn_strndup((const char *)r->p, (size_t)n);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory decoding %s", r->what);
    r->p += n;
    return CAIRN_OK;
}

static int decode_commit(commit *c, reader *r)
{
    TRY(need(r, 2, "header"));
    FAIL_IF(r->p[0] != CHUNK_KIND_COMMIT, CAIRN_ECORRUPT, "chunk kind %u is not a commit", r->p[0]);
    FAIL_IF(r->p[1] != COMMIT_VERSION, CAIRN_ECORRUPT,
            "commit version %u is not supported (this build reads version %d)", r->p[1],
            COMMIT_VERSION);
    r->p += 2;
    TRY(get_id(r, &c->catalog, "catalog root"));
    uint64_t np;
    TRY(get_varint(r, &np, "parent count"));
    FAIL_IF(np > COMMIT_MAX_PARENTS, CAIRN_ECORRUPT, "commit has %llu parents, over %d",
            (unsigned long long)np, COMMIT_MAX_PARENTS);
    c->nparents = (size_t)np;
    for (size_t i = 0; i < c->nparents; i++) TRY(get_id(r, &c->parents[i], "parents"));
    TRY(get_text(r, &c->author, COMMIT_MAX_PERSON, "author"));
    TRY(get_i64(r, &c->author_time, "author time"));
    TRY(get_text(r, &c->committer, COMMIT_MAX_PERSON, "committer"));
    TRY(get_i64(r, &c->commit_time, "commit time"));
    TRY(get_text(r, &c->message, COMMIT_MAX_MESSAGE, "message"));
    TRY(need(r, 1, "signature flag"));
    uint8_t s = *r->p++;
    FAIL_IF(s > 1, CAIRN_ECORRUPT, "commit has signature flag %u (0 or 1 expected)", s);
    c->is_signed = s == 1;
    if (c->is_signed) {
        TRY(need(r, SIG_PUBLIC_SIZE + SIG_SIZE, "signature"));
        memcpy(c->signer, r->p, SIG_PUBLIC_SIZE);
        memcpy(c->signature, r->p + SIG_PUBLIC_SIZE, SIG_SIZE);
        r->p += SIG_PUBLIC_SIZE + SIG_SIZE;
    }
    FAIL_IF(r->p != r->end, CAIRN_ECORRUPT, "commit has %zu bytes after its end",
            (size_t)(r->end - r->p));
    return CAIRN_OK;
}

int commit_decode(commit *out, const uint8_t *data, size_t len)
{
    commit c;
    memset(&c, 0, sizeof c);
    reader r = { data, data + len, "commit" };
    int rc = decode_commit(&c, &r);
    if (rc < 0) {
        commit_dispose(&c);
        return rc;
    }
    *out = c;
    return CAIRN_OK;
}

void commit_dispose(commit *c)
{
    if (!c) return;
    free(c->author);
    free(c->committer);
    free(c->message);
    c->author = c->committer = c->message = NULL;
}

int reflog_encode(cairn_buf *out, const reflog_entry *e)
{
    FAIL_IF(strlen(e->who ? e->who : "") > REFLOG_MAX_TEXT ||
                strlen(e->why ? e->why : "") > REFLOG_MAX_TEXT,
            CAIRN_EINVAL, "reflog text is over %d bytes", REFLOG_MAX_TEXT);
    out->len = 0;
    uint8_t hdr[2] = { CHUNK_KIND_REFLOG, REFLOG_VERSION };
    TRY(put_bytes(out, hdr, 2));
    TRY(put_bytes(out, e->prev.bytes, CAIRN_ID_SIZE));
    TRY(put_bytes(out, e->old_target.bytes, CAIRN_ID_SIZE));
    TRY(put_bytes(out, e->new_target.bytes, CAIRN_ID_SIZE));
    TRY(put_i64(out, e->time));
    TRY(put_text(out, e->who));
    return put_text(out, e->why);
}

int reflog_decode(reflog_entry *out, const uint8_t *data, size_t len)
{
    reflog_entry e;
    memset(&e, 0, sizeof e);
    reader r = { data, data + len, "reflog entry" };
    int rc = need(&r, 2, "header");
    if (rc == CAIRN_OK && (data[0] != CHUNK_KIND_REFLOG || data[1] != REFLOG_VERSION))
        rc = CORRUPT("chunk is not a reflog entry of version %d (kind %u, version %u)",
                     REFLOG_VERSION, data[0], data[1]);
    r.p += 2;
    if (rc == CAIRN_OK) rc = get_id(&r, &e.prev, "previous entry");
    if (rc == CAIRN_OK) rc = get_id(&r, &e.old_target, "old target");
    if (rc == CAIRN_OK) rc = get_id(&r, &e.new_target, "new target");
    if (rc == CAIRN_OK) rc = get_i64(&r, &e.time, "time");
    if (rc == CAIRN_OK) rc = get_text(&r, &e.who, REFLOG_MAX_TEXT, "who");
    if (rc == CAIRN_OK) rc = get_text(&r, &e.why, REFLOG_MAX_TEXT, "why");
    if (rc == CAIRN_OK && r.p != r.end)
        rc = CORRUPT("reflog entry has %zu bytes after its end", (size_t)(r.end - r.p));
    if (rc < 0) {
        reflog_dispose(&e);
        return rc;
    }
    *out = e;
    return CAIRN_OK;
}

void reflog_dispose(reflog_entry *e)
{
    if (!e) return;
    free(e->who);
    free(e->why);
    e->who = e->why = NULL;
}
