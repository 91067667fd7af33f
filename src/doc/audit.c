/*
 * audit.c - the access log (include/cairn/audit.h): entries in a prolly tree keyed by
 * position, named by the ref "audit/log", appended by compare-and-swap; reading, verifying the
 * hash chain and signatures, and the per-period report.
 *
 * Why a tree and a ref rather than a file: every store has chunks and refs, not every store
 * has a file namespace (a bucket or a PostgreSQL table has none), and only a ref moves by an
 * atomic compare-and-swap that holds across processes and machines. The tree gives each append
 * a cost of one path of nodes (a few KiB) however long the log is, lets gc and verify keep and
 * check the log as they keep any tree a ref names, and finds an entry by position in O(log n).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/varint.h"
#include "db/db.h"
#include "doc/audit.h"
#include "repo/commit.h"
#include "repo/keys.h"
#include "repo/refs.h"
#include "tree/tree.h"
#include "vc/config.h"

#define AUDIT_MAX_RACES 1000 /* lost compare-and-swaps before an append gives up (EBUSY) */

/* ---- the codec ---- */

static bool op_ok(const char *op)
{
    size_t n = strlen(op);
    if (n == 0 || n > CAIRN_AUDIT_OP_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = op[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int audit_access_check(const cairn_audit_access *a, const char *who)
{
    FAIL_IF(!a || a->version != CAIRN_AUDIT_ACCESS_VERSION, CAIRN_EINVAL,
            "cairn_audit_record: initialise the access with CAIRN_AUDIT_ACCESS_INIT");
    FAIL_IF(!a->op || !op_ok(a->op), CAIRN_EINVAL,
            "audit: operation '%s' must be 1..%u characters of a-z, 0-9, '.', '_', '-'",
            a->op ? a->op : "(null)", CAIRN_AUDIT_OP_MAX);
    size_t wl = strlen(who), tl = a->target ? strlen(a->target) : 0;
    FAIL_IF(wl > CAIRN_AUDIT_WHO_MAX || !text_ok((const uint8_t *)who, wl), CAIRN_EINVAL,
            "audit: who '%.64s' must be UTF-8 text of at most %u bytes", who, CAIRN_AUDIT_WHO_MAX);
    FAIL_IF(tl > CAIRN_AUDIT_TARGET_MAX || !text_ok((const uint8_t *)a->target, tl), CAIRN_EINVAL,
            "audit: target '%.64s' must be UTF-8 text of at most %u bytes", a->target,
            CAIRN_AUDIT_TARGET_MAX);
    FAIL_IF(a->detail_len > CAIRN_AUDIT_DETAIL_MAX || (a->detail_len && !a->detail), CAIRN_EINVAL,
            "audit: detail of %zu bytes (at most %u, and not NULL when not empty)", a->detail_len,
            CAIRN_AUDIT_DETAIL_MAX);
    return CAIRN_OK;
}

static int put_bytes(cairn_buf *out, const void *p, size_t n)
{
    uint8_t v[VARINT_MAX];
    TRY(cairn_buf_append(out, v, varint_put(v, n)));
    return n ? cairn_buf_append(out, p, n) : CAIRN_OK;
}

int audit_encode_body(cairn_buf *out, uint64_t position, int64_t time, const cairn_id *prev,
                      const char *who, const cairn_audit_access *a)
{
    uint8_t head[AUDIT_FIXED_HEAD], res[8];
    head[0] = AUDIT_VERSION;
    store_le64(head + 1, position);
    store_le64(head + 9, (uint64_t)time);
    memcpy(head + 17, prev->bytes, CAIRN_ID_SIZE);
    store_le64(res, a->results);
    out->len = 0;
    const char *target = a->target ? a->target : "";
    if (cairn_buf_append(out, head, sizeof head) || put_bytes(out, who, strlen(who)) ||
        put_bytes(out, a->op, strlen(a->op)) || put_bytes(out, target, strlen(target)) ||
        put_bytes(out, a->detail, a->detail_len) || cairn_buf_append(out, res, sizeof res))
        return ERR(CAIRN_ENOMEM, "out of memory encoding an audit entry");
    return CAIRN_OK;
}

int audit_encode_tail(cairn_buf *out, const uint8_t *pub, const uint8_t *sig)
{
    uint8_t flag = sig ? 1 : 0;
    if (cairn_buf_append(out, &flag, 1) || (sig && (cairn_buf_append(out, pub, 32) ||
                                                     cairn_buf_append(out, sig, 64))))
        return ERR(CAIRN_ENOMEM, "out of memory encoding an audit entry");
    return CAIRN_OK;
}

int audit_signing_payload(cairn_buf *out, const uint8_t *body, size_t len)
{
    out->len = 0;
    if (cairn_buf_append(out, AUDIT_SIG_DOMAIN, sizeof AUDIT_SIG_DOMAIN) ||
        cairn_buf_append(out, body, len))
        return ERR(CAIRN_ENOMEM, "out of memory signing an audit entry");
    return CAIRN_OK;
}

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static int rd_need(rd *r, size_t n, const char *field)
{
    FAIL_IF((size_t)(r->end - r->p) < n, CAIRN_ECORRUPT, "audit entry: truncated in its %s",
            field);
    return CAIRN_OK;
}

static int rd_bytes(rd *r, const uint8_t **out, size_t *out_len, size_t max, const char *field)
{
    uint64_t n;
    size_t used = varint_get(r->p, r->end, &n);
    FAIL_IF(!used, CAIRN_ECORRUPT, "audit entry: the length of its %s is truncated or not in "
                                   "shortest form", field);
    r->p += used;
    FAIL_IF(n > max, CAIRN_ECORRUPT, "audit entry: its %s has %llu bytes, over %zu", field,
            (unsigned long long)n, max);
    TRY(rd_need(r, (size_t)n, field));
    *out = r->p;
    *out_len = (size_t)n;
    r->p += n;
    return CAIRN_OK;
}

static int rd_text(rd *r, char **out, size_t max, const char *field)
{
    const uint8_t *p;
    size_t n;
    TRY(rd_bytes(r, &p, &n, max, field));
    FAIL_IF(!text_ok(p, n), CAIRN_ECORRUPT, "audit entry: its %s is not UTF-8 text", field);
    *out = cairn_strndup((const char *)p, n);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory decoding an audit entry");
    return CAIRN_OK;
}

static int decode_fields(audit_entry *e, rd *r, const uint8_t *start)
{
    TRY(rd_need(r, AUDIT_FIXED_HEAD, "header"));
    FAIL_IF(r->p[0] != AUDIT_VERSION, CAIRN_ECORRUPT,
            "audit entry version %u is not supported (this build reads version %d)", r->p[0],
            AUDIT_VERSION);
    e->position = load_le64(r->p + 1);
    e->time = (int64_t)load_le64(r->p + 9);
    memcpy(e->prev.bytes, r->p + 17, CAIRN_ID_SIZE);
    r->p += AUDIT_FIXED_HEAD;
    FAIL_IF(e->position == 0, CAIRN_ECORRUPT, "audit entry: position 0 (positions start at 1)");
    TRY(rd_text(r, &e->who, CAIRN_AUDIT_WHO_MAX, "who"));
    TRY(rd_text(r, &e->op, CAIRN_AUDIT_OP_MAX, "operation"));
    FAIL_IF(!op_ok(e->op), CAIRN_ECORRUPT, "audit entry: operation '%s' has a character "
                                           "outside a-z 0-9 . _ -, or is empty", e->op);
    TRY(rd_text(r, &e->target, CAIRN_AUDIT_TARGET_MAX, "target"));
    TRY(rd_bytes(r, &e->detail, &e->detail_len, CAIRN_AUDIT_DETAIL_MAX, "detail"));
    TRY(rd_need(r, 9, "results and signed flag"));
    e->results = load_le64(r->p);
    r->p += 8;
    e->signed_len = (size_t)(r->p - start);
    uint8_t flag = *r->p++;
    FAIL_IF(flag > 1, CAIRN_ECORRUPT, "audit entry: signed flag %u (0 or 1 expected)", flag);
    e->is_signed = flag == 1;
    if (e->is_signed) {
        TRY(rd_need(r, 96, "signature"));
        memcpy(e->pub, r->p, 32);
        memcpy(e->sig, r->p + 32, 64);
        r->p += 96;
    }
    FAIL_IF(r->p != r->end, CAIRN_ECORRUPT, "audit entry: %zu bytes after its end",
            (size_t)(r->end - r->p));
    return CAIRN_OK;
}

int audit_decode(audit_entry *out, const uint8_t *data, size_t len)
{
    memset(out, 0, sizeof *out);
    rd r = { data, data + len };
    int rc = decode_fields(out, &r, data);
    if (rc < 0) audit_entry_dispose(out);
    return rc;
}

void audit_entry_dispose(audit_entry *e)
{
    free(e->who);
    free(e->op);
    free(e->target);
    e->who = e->op = e->target = NULL;
}

/* ---- the log's head ---- */

/* The log's tree root (*exists false, root zero: no log yet). */
static int log_root(cairn_db *db, cairn_id *root, bool *exists)
{
    int rc = refs_read_id(&db->r, CAIRN_AUDIT_REF, root);
    *exists = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        memset(root, 0, sizeof *root);
        return CAIRN_OK;
    }
    return rc < 0 ? cairn_error_prefix(rc, "the access log (ref %s)", CAIRN_AUDIT_REF) : rc;
}

/* The newest entry's position and hash (0 and zero for an empty log). */
static int log_last(cairn_db *db, const cairn_id *root, uint64_t *pos, cairn_id *hash)
{
    *pos = 0;
    memset(hash, 0, sizeof *hash);
    tree_cursor tc;
    TRY(tc_init(&tc, &db->r.cs, root, 0, false));
    int rc = tc_last(&tc);
    if (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        audit_entry e;
        rc = audit_decode(&e, v, vl);
        if (rc == CAIRN_OK && (kl != AUDIT_KEY_SIZE || load_be64(k) != e.position))
            rc = CORRUPT("audit entry: stored under another position than its own %llu",
                         (unsigned long long)e.position);
        if (rc == CAIRN_OK) {
            *pos = e.position;
            hash_sha256(hash, v, vl);
        }
        audit_entry_dispose(&e);
        if (rc < 0)
            rc = cairn_error_prefix(rc, "the access log's newest entry (run 'cairn audit "
                                        "verify')");
    } else if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    tc_dispose(&tc);
    return rc;
}

/* ---- recording ---- */

int cairn_audit_enabled(int *out, cairn_db *db)
{
    *out = 0;
    char *v = NULL;
    int rc = cairn_config_get(&v, db, CAIRN_AUDIT_SETTING);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    *out = strcmp(v, "true") == 0;
    free(v);
    return CAIRN_OK;
}

/* Builds the entry that follows (pos, prev): body, then signature when a signer is given. */
static int build_entry(cairn_db *db, cairn_buf *out, uint64_t pos, const cairn_id *prev,
                       const char *who, const cairn_audit_access *a)
{
    TRY(audit_encode_body(out, pos, clock_wall_ns(), prev, who, a));
    if (!a->signer) return audit_encode_tail(out, NULL, NULL);
    cairn_buf payload = CAIRN_BUF_INIT;
    uint8_t sig[64], pub[32];
    int rc = audit_signing_payload(&payload, out->data, out->len);
    if (rc == CAIRN_OK) {
        /* an application's sign() runs here, under the writer lock: calls back must not wait */
        const void *prev_cb = cairn_cb_enter(db);
        rc = signer_sign_bytes(a->signer, sig, pub, payload.data, payload.len);
        cairn_cb_leave(prev_cb);
    }
    cairn_buf_dispose(&payload);
    return rc == CAIRN_OK ? audit_encode_tail(out, pub, sig) : rc;
}

/* One attempt: reads the head, writes the new tree and moves the ref from the head it read.
 * CAIRN_ECONFLICT when another appender moved it first. */
static int append_once(cairn_db *db, const char *who, const cairn_audit_access *a,
                       cairn_buf *entry, uint64_t *out_pos)
{
    cairn_id root, last_hash, new_root;
    bool exists;
    uint64_t last;
    TRY(log_root(db, &root, &exists));
    if (!exists) TRY(tree_empty(&db->r.cs, &root));
    TRY(log_last(db, &root, &last, &last_hash));
    FAIL_IF(last == UINT64_MAX, CAIRN_ECORRUPT, "the access log is full");
    TRY(build_entry(db, entry, last + 1, &last_hash, who, a));
    uint8_t kbuf[AUDIT_KEY_SIZE];
    store_be64(kbuf, last + 1);
    tree_edit ed = { kbuf, entry->data, AUDIT_KEY_SIZE, (uint32_t)entry->len, EDIT_PUT };
    TRY(tree_apply(&db->r.cs, &new_root, &root, &ed, 1));
    TRY(cs_flush(&db->r.cs));
    char oldv[CAIRN_ID_HEX_SIZE + 1], newv[CAIRN_ID_HEX_SIZE + 1];
    cairn_id_to_hex(oldv, &root);
    cairn_id_to_hex(newv, &new_root);
    oldv[64] = newv[64] = '\n';
    cairn_store *st = db->r.store;
    TRY(st->ref_cas(st, CAIRN_AUDIT_REF, exists ? oldv : NULL, exists ? 65 : 0, newv, 65));
    *out_pos = last + 1;
    return CAIRN_OK;
}

int cairn_audit_record(uint64_t *out_position, cairn_db *db, const cairn_audit_access *access)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_audit_record: no repository given");
    DB_NOT_IN_CALLBACK(db, "cairn_audit_record");
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
            "repository %s was opened read-only: an access log entry is a write (open it for "
            "writing to record reads)", db->r.url);
    char *dflt = NULL;
    const char *who = access ? access->who : NULL;
    if (!who) {
        dflt = refs_identity();
        FAIL_IF(!dflt, CAIRN_ENOMEM, "out of memory");
        who = dflt;
    }
    int rc = audit_access_check(access, who);
    uint64_t pos = 0;
    cairn_buf entry = CAIRN_BUF_INIT;
    if (rc == CAIRN_OK) {
        /* wmu: gc holds it while it marks, and every chunk written under it is named by a ref
         * before it is released (ARCHITECTURE.md, "Garbage collection") */
        pthread_mutex_lock(&db->wmu);
        for (int i = 0; i < AUDIT_MAX_RACES; i++) {
            rc = append_once(db, who, access, &entry, &pos);
            if (rc != CAIRN_ECONFLICT) break;
            cairn_error_clear();
        }
        pthread_mutex_unlock(&db->wmu);
        if (rc == CAIRN_ECONFLICT)
            rc = ERR(CAIRN_EBUSY, "the access log of %s kept moving: %d appends lost the race; "
                                  "try again", db->r.url, AUDIT_MAX_RACES);
    }
    cairn_buf_dispose(&entry);
    free(dflt);
    if (rc == CAIRN_OK && out_position) *out_position = pos;
    return rc;
}

/* ---- reading ---- */

/* Walks the log's entries in key order: cb gets each key and value (raw). */
typedef int (*raw_fn)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *payload);

static int walk_raw(cairn_db *db, raw_fn cb, void *payload)
{
    cairn_id root;
    bool exists;
    TRY(log_root(db, &root, &exists));
    if (!exists) return CAIRN_OK;
    tree_cursor tc;
    TRY(tc_init(&tc, &db->r.cs, &root, 0, false));
    int rc = tc_first(&tc);
    while (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        rc = cb(k, kl, v, vl, payload);
        if (rc == CAIRN_OK) rc = tc_next(&tc);
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    tc_dispose(&tc);
    return rc;
}

static void entry_public(cairn_audit_entry *out, const audit_entry *e, const uint8_t *v,
                         size_t vl)
{
    memset(out, 0, sizeof *out);
    out->position = e->position;
    out->time = e->time;
    out->who = e->who;
    out->op = e->op;
    out->target = e->target;
    out->detail = e->detail;
    out->detail_len = e->detail_len;
    out->results = e->results;
    out->is_signed = e->is_signed;
    if (e->is_signed) {
        memcpy(out->signer, e->pub, 32);
        key_fingerprint(out->fingerprint, e->pub);
    }
    hash_sha256(&out->hash, v, vl);
    out->prev = e->prev;
}

typedef struct list_ctx {
    const cairn_audit_filter *f;
    cairn_audit_fn cb;
    void *payload;
    uint64_t last;           /* the position before: for messages */
} list_ctx;

static bool filter_pass(const cairn_audit_filter *f, const cairn_audit_entry *e)
{
    if (e->time < f->from || e->time >= f->to) return false;
    return !f->who || strcmp(f->who, e->who) == 0 ||
           (e->is_signed && strcmp(f->who, e->fingerprint) == 0);
}

static int list_one(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *payload)
{
    list_ctx *l = payload;
    (void)k;
    (void)kl;
    audit_entry e;
    int rc = audit_decode(&e, v, vl);
    if (rc < 0)
        return cairn_error_prefix(rc, "the access log's entry after position %llu (run 'cairn "
                                      "audit verify')", (unsigned long long)l->last);
    l->last = e.position;
    cairn_audit_entry pub;
    entry_public(&pub, &e, v, vl);
    if (filter_pass(l->f, &pub)) rc = l->cb(&pub, l->payload);
    audit_entry_dispose(&e);
    return rc;
}

int cairn_audit_entries(cairn_db *db, const cairn_audit_filter *filter, cairn_audit_fn cb,
                        void *payload)
{
    cairn_audit_filter all = CAIRN_AUDIT_FILTER_INIT;
    if (!filter) filter = &all;
    FAIL_IF(filter->version != CAIRN_AUDIT_FILTER_VERSION, CAIRN_EINVAL,
            "cairn_audit_entries: initialise the filter with CAIRN_AUDIT_FILTER_INIT");
    FAIL_IF(!cb, CAIRN_EINVAL, "cairn_audit_entries: a callback is required");
    list_ctx l = { filter, cb, payload, 0 };
    return walk_raw(db, list_one, &l);
}

/* ---- verifying ---- */

typedef struct vctx {
    cairn_db *db;
    const cairn_audit_verify_options *o;
    cairn_audit_verify_result *res;
    cairn_id prev;           /* the hash of the entry checked last */
    bool expect_seen;
    size_t nkeys;            /* signers met so far and whether each is trusted: a log is */
    uint8_t keys[16][32];    /* signed by few keys, and asking the settings parses them */
    bool trusted[16];
} vctx;

/* Whether the repository trusts pub, remembering the answer for the first 16 keys. */
static int is_trusted(vctx *v, const uint8_t pub[32], bool *out)
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (memcmp(v->keys[i], pub, 32) == 0) {
            *out = v->trusted[i];
            return CAIRN_OK;
        }
    TRY(config_is_trusted(v->db, pub, out));
    if (v->nkeys < 16) {
        memcpy(v->keys[v->nkeys], pub, 32);
        v->trusted[v->nkeys++] = *out;
    }
    return CAIRN_OK;
}

/* Records the first broken entry and stops the walk (CAIRN_EUSER: not an error of the walk). */
static int broken(vctx *v, uint64_t pos, cairn_audit_damage d, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int broken(vctx *v, uint64_t pos, cairn_audit_damage d, const char *fmt, ...)
{
    v->res->broken_position = pos;
    v->res->damage = d;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->res->what, sizeof v->res->what, fmt, ap);
    va_end(ap);
    return CAIRN_EUSER;
}

static int check_signature(vctx *v, const audit_entry *e, const uint8_t *val)
{
    uint64_t pos = e->position;
    if (!e->is_signed)
        return v->o->require_trusted
                   ? broken(v, pos, CAIRN_AUDIT_BAD_SIGNATURE, "entry %llu is not signed",
                            (unsigned long long)pos)
                   : CAIRN_OK;
    cairn_buf payload = CAIRN_BUF_INIT;
    TRY(audit_signing_payload(&payload, val, e->signed_len));
    int s = key_verify_bytes(e->sig, e->pub, payload.data, payload.len);
    cairn_buf_dispose(&payload);
    TRY(s);
    char fpr[KEY_FPR_LEN + 1];
    key_fingerprint(fpr, e->pub);
    if (s != SIG_GOOD)
        return broken(v, pos, CAIRN_AUDIT_BAD_SIGNATURE,
                      "entry %llu: its signature does not verify under the key it names (%s): "
                      "the entry was altered after signing, or signed by another key",
                      (unsigned long long)pos, fpr);
    v->res->signed_entries++;
    bool trusted;
    TRY(is_trusted(v, e->pub, &trusted));
    if (trusted) return CAIRN_OK;
    v->res->untrusted++;
    return v->o->require_trusted
               ? broken(v, pos, CAIRN_AUDIT_BAD_SIGNATURE,
                        "entry %llu is signed by key %s, which the repository does not trust",
                        (unsigned long long)pos, fpr)
               : CAIRN_OK;
}

static int check_entry(vctx *v, uint64_t want, const uint8_t *val, size_t vl, audit_entry *e)
{
    int rc = audit_decode(e, val, vl);
    if (rc == CAIRN_ENOMEM) return rc;
    if (rc < 0) {
        rc = broken(v, want, CAIRN_AUDIT_UNREADABLE, "entry %llu cannot be decoded: %s",
                    (unsigned long long)want, cairn_error_last()->message);
        cairn_error_clear();
        return rc;
    }
    if (e->position != want)
        return broken(v, want, CAIRN_AUDIT_MISPLACED,
                      "position %llu holds the entry of position %llu: entries were reordered "
                      "or moved", (unsigned long long)want, (unsigned long long)e->position);
    if (memcmp(&e->prev, &v->prev, sizeof v->prev) != 0 && want == 1)
        return broken(v, want, CAIRN_AUDIT_BROKEN_LINK,
                      "entry 1 names a previous entry: entries before it were removed");
    if (memcmp(&e->prev, &v->prev, sizeof v->prev) != 0)
        return broken(v, want, CAIRN_AUDIT_BROKEN_LINK,
                      "entry %llu does not chain to entry %llu (its previous-hash differs): "
                      "entry %llu was altered, or entries were removed and the rest renumbered",
                      (unsigned long long)want, (unsigned long long)(want - 1),
                      (unsigned long long)(want - 1));
    return check_signature(v, e, val);
}

static int verify_one(const uint8_t *k, size_t kl, const uint8_t *val, size_t vl, void *payload)
{
    vctx *v = payload;
    uint64_t want = v->res->head_position + 1;
    if (kl != AUDIT_KEY_SIZE)
        return broken(v, want, CAIRN_AUDIT_UNREADABLE,
                      "the entry after position %llu is stored under a key of %zu bytes "
                      "(8 expected)", (unsigned long long)(want - 1), kl);
    uint64_t at = load_be64(k);
    if (at != want)
        return broken(v, want, CAIRN_AUDIT_MISSING,
                      "entry %llu is missing: after entry %llu comes position %llu",
                      (unsigned long long)want, (unsigned long long)(want - 1),
                      (unsigned long long)at);
    audit_entry e;
    int rc = check_entry(v, want, val, vl, &e);
    audit_entry_dispose(&e);
    if (rc != CAIRN_OK) return rc;
    hash_sha256(&v->prev, val, vl);
    v->res->entries++;
    v->res->head_position = want;
    v->res->head_hash = v->prev;
    if (want == v->o->expect_position &&
        memcmp(&v->prev, &v->o->expect_hash, sizeof v->prev) == 0)
        v->expect_seen = true;
    return CAIRN_OK;
}

int cairn_audit_verify(cairn_audit_verify_result *out, cairn_db *db,
                       const cairn_audit_verify_options *opts)
{
    cairn_audit_verify_options dflt = CAIRN_AUDIT_VERIFY_INIT;
    if (!opts) opts = &dflt;
    memset(out, 0, sizeof *out);
    FAIL_IF(opts->version != CAIRN_AUDIT_VERIFY_VERSION, CAIRN_EINVAL,
            "cairn_audit_verify: initialise the options with CAIRN_AUDIT_VERIFY_INIT");
    vctx v;
    memset(&v, 0, sizeof v);
    v.db = db;
    v.o = opts;
    v.res = out;
    int rc = walk_raw(db, verify_one, &v);
    if (rc < 0 && rc != CAIRN_ENOMEM && !out->broken_position) {
        /* a node of the log's tree cannot be read: the entry after the last good one */
        broken(&v, out->head_position + 1, CAIRN_AUDIT_UNREADABLE,
               "the entry after position %llu cannot be read: %s",
               (unsigned long long)out->head_position, cairn_error_last()->message);
        rc = CAIRN_EUSER;
    }
    if (rc == CAIRN_OK && opts->expect_position && !v.expect_seen) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &opts->expect_hash);
        broken(&v, opts->expect_position, CAIRN_AUDIT_HEAD_MISMATCH,
               "the log does not hold the expected entry %llu (%.16s...): %s",
               (unsigned long long)opts->expect_position, hex,
               out->head_position < opts->expect_position
                   ? "newer entries were cut off"
                   : "that entry was replaced");
        rc = CAIRN_EUSER;
    }
    if (rc == CAIRN_EUSER) return ERR(CAIRN_ECORRUPT, "access log: %s", out->what);
    return rc;
}
