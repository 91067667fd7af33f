/*
 * test_doc_sig.c - document signatures (_sig, src/doc/sig.c): a write made with a signer is
 * signed over the documented bytes (checked here by recomputing them and verifying with
 * libsodium); a read that asks for signatures (CAIRN_COLL_VERIFY_SIG, `doc get|find
 * --verify-sig`) accepts it, and refuses with CAIRN_EAUTH naming the document and the key: a
 * stored document altered through the KV API (one byte; or re-hashed so that only the signature
 * tells), a signed document moved to another collection, an unsigned document, a key the
 * repository does not trust once it trusts some. A _sig given in the input is never kept.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "doc/canon.h"
#include "repo/keys.h"
#include "cairn/doc.h"
#include "test.h"

#define J(s) s, strlen(s) /* a JSON literal and its length */

/* For helpers that return a value (CHECK returns from the function it is in). */
#define MUST(expr)                                                                                 \
    do {                                                                                           \
        int must_rc_ = (expr);                                                                     \
        if (must_rc_ < 0) {                                                                        \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                          \
                    cairn_error_last()->message);                                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static const char *keydir(void)
{
    static char dir[4200];
    key_test_set_kdf(1, 8); /* tiny Argon2id limits: the keys are unprotected anyway */
    snprintf(dir, sizeof dir, "%s/keys", test_tmpdir());
    return dir;
}

static cairn_signer *new_key(const char *dir, const char *name, cairn_key_info *info)
{
    MUST(cairn_key_generate(info, dir, name, NULL, CAIRN_KEY_UNPROTECTED));
    cairn_signer *s = NULL;
    MUST(cairn_signer_open(&s, dir, name, NULL));
    return s;
}

static cairn_coll *coll_open(cairn_db *db, const char *name, unsigned flags)
{
    cairn_coll *c = NULL;
    MUST(cairn_coll_open(&c, db, name, flags));
    return c;
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    MUST(j ? 0 : -1);
    return j;
}

/* The document id of collection coll, read through the KV API (decoded from its stored form). */
static char *raw_get(cairn_db *db, const char *coll, const char *id)
{
    char name[128];
    snprintf(name, sizeof name, "cairn_doc.%s", coll);
    cairn_table *t;
    MUST(cairn_table_open(&t, db, name, CAIRN_TABLE_INTERNAL));
    void *v;
    size_t n;
    MUST(cairn_get(&v, &n, t, NULL, id, strlen(id)));
    char *s; /* the document: the value is its stored form */
    MUST(cairn_doc_decode(&s, NULL, v, n, id, strlen(id)));
    cairn_free(v);
    cairn_table_close(t);
    return s;
}

static void raw_put(cairn_db *db, const char *coll, const char *id, const char *val)
{
    char name[128];
    snprintf(name, sizeof name, "cairn_doc.%s", coll);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, name, CAIRN_TABLE_INTERNAL | CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, id, strlen(id), val, strlen(val)));
    cairn_table_close(t);
}

/* The canonical form of j (a copy without the members named, NULL-terminated list). */
static void canon_without(cairn_buf *out, const json_t *j, const char *a, const char *b)
{
    json_t *copy = json_deep_copy(j);
    if (a) json_object_del(copy, a);
    if (b) json_object_del(copy, b);
    out->len = 0;
    CHECK_OK(canon_write(out, copy, NULL, "test"));
    json_decref(copy);
}

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    CHECK(hex && strlen(hex) == 2 * n);
    CHECK_EQ(sodium_hex2bin(out, n, hex, 2 * n, NULL, NULL, NULL), 0);
}

/* Checks the stored document against docs/FORMAT.md by hand: _sig over the domain, the
 * collection's name, a zero byte and the canonical form without _hash and _sig; _hash over the
 * canonical form without _hash. */
static void check_format(const char *doc, const char *coll, const cairn_key_info *k)
{
    json_t *j = parse(doc);
    json_t *sig = json_object_get(j, "_sig");
    CHECK(json_is_object(sig));
    uint8_t pub[32], s[64];
    unhex(pub, 32, json_string_value(json_object_get(sig, "key")));
    unhex(s, 64, json_string_value(json_object_get(sig, "sig")));
    CHECK_MEM(pub, 32, k->public_key, 32);
    cairn_buf c0 = CAIRN_BUF_INIT, payload = CAIRN_BUF_INIT;
    canon_without(&c0, j, "_hash", "_sig");
    const char domain[] = "cairn document signature v1\n";
    CHECK_OK(cairn_buf_append(&payload, domain, sizeof domain - 1));
    CHECK_OK(cairn_buf_append(&payload, coll, strlen(coll) + 1));
    CHECK_OK(cairn_buf_append(&payload, c0.data, c0.len));
    CHECK_EQ(crypto_sign_verify_detached(s, payload.data, payload.len, pub), 0);
    canon_without(&c0, j, "_hash", NULL);
    cairn_id h;
    char hex[CAIRN_ID_HEX_SIZE];
    hash_sha256(&h, c0.data, c0.len);
    cairn_id_to_hex(hex, &h);
    CHECK_STR(json_string_value(json_object_get(j, "_hash")), hex);
    cairn_buf_dispose(&c0);
    cairn_buf_dispose(&payload);
    json_decref(j);
}

static int grade(cairn_coll *c, const char *doc, char fpr[CAIRN_KEY_FINGERPRINT_SIZE])
{
    cairn_doc_sig_info si;
    MUST(cairn_doc_sig_check(&si, c, doc, strlen(doc)));
    if (fpr) memcpy(fpr, si.signer, sizeof si.signer);
    return si.status;
}

/* A repository in memory, a collection in it, a key and write options signing with it. */
typedef struct fixture {
    cairn_key_info k1;
    cairn_signer *s1;
    cairn_db *db;
    cairn_coll *c;
    cairn_doc_write_options o;
} fixture;

static void setup(fixture *f, const char *coll)
{
    f->s1 = new_key(keydir(), "writer", &f->k1);
    f->db = test_open_repo("mem:");
    f->c = coll_open(f->db, coll, CAIRN_COLL_CREATE);
    cairn_doc_write_options o = CAIRN_DOC_WRITE_OPTIONS_INIT;
    f->o = o;
    f->o.signer = f->s1;
}

static void sign_and_verify(void)
{
    fixture f;
    setup(&f, "people");
    cairn_db *db = f.db;
    cairn_coll *c = f.c;
    cairn_doc_write_options o = f.o;
    cairn_key_info k1 = f.k1;
    cairn_signer *s1 = f.s1;
    char *doc = NULL;
    /* a _sig in the input is the caller's claim: replaced by the real one */
    CHECK_OK(cairn_doc_insert(&doc, c, J("{\"_id\":\"ada\",\"age\":36,\"_sig\":\"forged\"}"), &o));
    check_format(doc, "people", &k1);
    char fpr[CAIRN_KEY_FINGERPRINT_SIZE];
    CHECK_EQ(grade(c, doc, fpr), CAIRN_SIG_UNKNOWN); /* verifies; no key is trusted */
    CHECK_STR(fpr, k1.fingerprint);
    cairn_free(doc);

    /* a reading handle that asks for signatures: get, get_many and find pass */
    cairn_coll *v = coll_open(db, "people", CAIRN_COLL_VERIFY_SIG);
    CHECK_OK(cairn_doc_get(&doc, NULL, v, NULL, "ada"));
    cairn_free(doc);
    uint64_t n = 0;
    CHECK_OK(cairn_doc_count(&n, v, NULL, "{\"age\":36}"));
    CHECK_EQ(n, 1);

    /* a patch with the signer re-signs (the new _v and _ts are covered) */
    CHECK_OK(cairn_doc_patch(&doc, c, "ada", J("{\"age\":37}"), &o));
    check_format(doc, "people", &k1);
    cairn_free(doc);
    CHECK_OK(cairn_doc_get(&doc, NULL, v, NULL, "ada"));
    cairn_free(doc);

    /* a write without a signer drops the old _sig (it signed another version) */
    CHECK_OK(cairn_doc_patch(&doc, c, "ada", J("{\"age\":38}"), NULL));
    json_t *j = parse(doc);
    CHECK(!json_object_get(j, "_sig"));
    json_decref(j);
    CHECK_EQ(grade(c, doc, NULL), CAIRN_SIG_NONE);
    cairn_free(doc);
    char *got = NULL;
    CHECK_RC(cairn_doc_get(&got, NULL, v, NULL, "ada"), CAIRN_EAUTH);
    CHECK(!got);
    CHECK_ERRMSG("document ada is not signed");

    /* a bulk with the signer signs each document */
    cairn_doc_bulk *b;
    CHECK_OK(cairn_doc_bulk_new(&b, c, &o));
    CHECK_OK(cairn_doc_bulk_add(b, J("{\"_id\":\"b1\"}")));
    CHECK_OK(cairn_doc_bulk_add(b, J("{\"_id\":\"b2\"}")));
    CHECK_OK(cairn_doc_bulk_commit(b));
    cairn_doc_bulk_free(b);
    CHECK_OK(cairn_doc_get(&doc, NULL, v, NULL, "b2"));
    check_format(doc, "people", &k1);
    cairn_free(doc);

    /* version 1 options (no signer member) are still read */
    cairn_doc_write_options v1 = CAIRN_DOC_WRITE_OPTIONS_INIT;
    v1.version = 1;
    CHECK_OK(cairn_doc_upsert(&doc, c, J("{\"_id\":\"b3\"}"), &v1));
    CHECK_EQ(grade(c, doc, NULL), CAIRN_SIG_NONE);
    cairn_free(doc);

    cairn_coll_close(v);
    cairn_coll_close(c);
    cairn_signer_close(s1);
    CHECK_OK(cairn_close(db));
}

/* Alter the stored document through the KV API and read it with signatures asked for. */
static void tampering(void)
{
    fixture f;
    setup(&f, "acct");
    cairn_db *db = f.db;
    cairn_coll *c = f.c;
    cairn_doc_write_options o = f.o;
    cairn_key_info k1 = f.k1;
    cairn_signer *s1 = f.s1;
    CHECK_OK(cairn_doc_insert(NULL, c, J("{\"_id\":\"x\",\"owner\":\"alice\",\"n\":100}"), &o));
    cairn_coll *v = coll_open(db, "acct", CAIRN_COLL_VERIFY_SIG);
    char *good = raw_get(db, "acct", "x"), *doc = NULL;

    /* one byte changed ("n":100 -> "n":900): its _hash no longer matches */
    char *bad = strdup(good);
    char *p = strstr(bad, "\"n\":100");
    CHECK(p);
    p[4] = '9';
    raw_put(db, "acct", "x", bad);
    CHECK_RC(cairn_doc_get(&doc, NULL, v, NULL, "x"), CAIRN_EAUTH);
    CHECK_ERRMSG("document x (key ");
    CHECK_ERRMSG(k1.fingerprint);
    CHECK_ERRMSG("_hash does not match");
    CHECK_EQ(grade(c, bad, NULL), CAIRN_SIG_BAD);
    CHECK(!doc);
    free(bad);

    /* the value changed and _hash recomputed as a forger would: only the signature tells */
    json_t *j = parse(good);
    json_object_set_new(j, "owner", json_string("mallory"));
    cairn_buf cb = CAIRN_BUF_INIT;
    canon_without(&cb, j, "_hash", NULL);
    cairn_id h;
    char hex[CAIRN_ID_HEX_SIZE];
    hash_sha256(&h, cb.data, cb.len);
    cairn_id_to_hex(hex, &h);
    json_object_set_new(j, "_hash", json_string(hex));
    canon_without(&cb, j, NULL, NULL);
    CHECK_OK(cairn_buf_append(&cb, "", 1));
    raw_put(db, "acct", "x", (const char *)cb.data);
    CHECK_RC(cairn_doc_get(&doc, NULL, v, NULL, "x"), CAIRN_EAUTH);
    CHECK_ERRMSG("signature does not verify");
    CHECK_ERRMSG(k1.fingerprint);
    uint64_t n = 0;
    CHECK_RC(cairn_doc_count(&n, v, NULL, "{\"owner\":\"mallory\"}"), CAIRN_EAUTH);
    /* without the flag the read still returns it: checking is asked for */
    CHECK_OK(cairn_doc_get(&doc, NULL, c, NULL, "x"));
    cairn_free(doc);
    json_decref(j);
    cairn_buf_dispose(&cb);

    /* the genuine bytes back: verifies again */
    raw_put(db, "acct", "x", good);
    CHECK_OK(cairn_doc_get(&doc, NULL, v, NULL, "x"));
    cairn_free(doc);

    /* the signed bytes copied into another collection: the name is signed too */
    cairn_coll *other = coll_open(db, "acct2", CAIRN_COLL_CREATE);
    CHECK_OK(cairn_doc_insert(NULL, other, J("{\"_id\":\"y\"}"), NULL));
    raw_put(db, "acct2", "x", good);
    cairn_coll *ov = coll_open(db, "acct2", CAIRN_COLL_VERIFY_SIG);
    CHECK_RC(cairn_doc_get(&doc, NULL, ov, NULL, "x"), CAIRN_EAUTH);
    CHECK_ERRMSG("signed for another collection");
    cairn_coll_close(ov);
    cairn_coll_close(other);

    /* a malformed _sig */
    json_t *m = parse(good);
    json_object_set_new(m, "_sig", json_pack("{s:s,s:s}", "key", "00", "sig", "11"));
    json_object_del(m, "_hash");
    canon_without(&cb, m, NULL, NULL);
    CHECK_OK(cairn_buf_append(&cb, "", 1));
    CHECK_EQ(grade(c, (const char *)cb.data, NULL), CAIRN_SIG_BAD);
    json_decref(m);
    cairn_buf_dispose(&cb);

    free(good);
    cairn_coll_close(v);
    cairn_coll_close(c);
    cairn_signer_close(s1);
    CHECK_OK(cairn_close(db));
}

static int count_result(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (void)id, (void)doc, (void)len, (void)cursor;
    ++*(int *)p;
    return 0;
}

/* With trusted keys configured, a key outside the list is refused as untrusted. */
static void trust_list(void)
{
    const char *dir = keydir();
    cairn_key_info k1, k2;
    cairn_signer *s1 = new_key(dir, "alice", &k1);
    cairn_signer *s2 = new_key(dir, "bob", &k2);
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "t", CAIRN_COLL_CREATE);
    cairn_doc_write_options o = CAIRN_DOC_WRITE_OPTIONS_INIT;
    o.signer = s1;
    CHECK_OK(cairn_doc_insert(NULL, c, J("{\"_id\":\"a\"}"), &o));
    o.signer = s2;
    CHECK_OK(cairn_doc_insert(NULL, c, J("{\"_id\":\"b\"}"), &o));
    char line[256];
    snprintf(line, sizeof line, "cairn-ed25519 ");
    size_t at = strlen(line);
    for (int i = 0; i < 32; i++) at += (size_t)snprintf(line + at, sizeof line - at, "%02x", k1.public_key[i]);
    snprintf(line + at, sizeof line - at, " alice");
    CHECK_OK(cairn_trust_key(db, line));
    cairn_coll *v = coll_open(db, "t", CAIRN_COLL_VERIFY_SIG);
    char *doc;
    CHECK_OK(cairn_doc_get(&doc, NULL, v, NULL, "a"));
    char fpr[CAIRN_KEY_FINGERPRINT_SIZE];
    CHECK_EQ(grade(c, doc, fpr), CAIRN_SIG_GOOD);
    CHECK_STR(fpr, k1.fingerprint);
    cairn_free(doc);
    CHECK_RC(cairn_doc_get(&doc, NULL, v, NULL, "b"), CAIRN_EAUTH);
    CHECK_ERRMSG("which the repository does not trust");
    CHECK_ERRMSG(k2.fingerprint);
    /* a find stops at the untrusted document (after handing over the trusted one) */
    int seen = 0;
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    CHECK_RC(cairn_doc_find(NULL, v, NULL, &q, count_result, &seen), CAIRN_EAUTH);
    CHECK_EQ(seen, 1);
    cairn_coll_close(v);
    cairn_coll_close(c);
    cairn_signer_close(s1);
    cairn_signer_close(s2);
    CHECK_OK(cairn_close(db));
}

/* An application signer whose signature does not verify fails the write; nothing written. */
static int wrong_sign(uint8_t sig[64], uint8_t pub[32], const void *data, size_t len, void *p)
{
    (void)data, (void)len, (void)p;
    memset(sig, 7, 64);
    uint8_t sk[64];
    crypto_sign_keypair(pub, sk);
    return 0;
}

static void failing_signer(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = coll_open(db, "f", CAIRN_COLL_CREATE);
    cairn_signer_methods m = { CAIRN_SIGNER_METHODS_VERSION, wrong_sign, NULL };
    cairn_signer *s;
    CHECK_OK(cairn_signer_new(&s, "broken", &m, NULL));
    cairn_doc_write_options o = CAIRN_DOC_WRITE_OPTIONS_INIT;
    o.signer = s;
    CHECK_RC(cairn_doc_insert(NULL, c, J("{\"_id\":\"z\"}"), &o), CAIRN_EAUTH);
    char *doc = NULL;
    CHECK_RC(cairn_doc_get(&doc, NULL, c, NULL, "z"), CAIRN_ENOTFOUND);
    cairn_signer_close(s);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* The CLI: doc insert --sign, doc get|find --verify-sig (exit 0, and 3 for an unsigned one). */
static void cli(void)
{
    const char *bin = getenv("CAIRN_BIN");
    if (!bin) {
        printf("    (skipped: CAIRN_BIN is not set)\n");
        return;
    }
    const char *d = test_tmpdir();
    char env[4300];
    snprintf(env, sizeof env, "CAIRN_HOME='%s/home' CAIRN_PASSPHRASE= ", d);
    CHECK_EQ(test_sh("%s'%s' key generate w --no-passphrase >/dev/null 2>&1", env, bin), 0);
    CHECK_EQ(test_sh("'%s' init '%s/r' >/dev/null", bin, d), 0);
    CHECK_EQ(test_sh("%s'%s' -C '%s/r' doc insert p '{\"_id\":\"a\"}' --sign w >/dev/null", env,
                     bin, d), 0);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc insert p '{\"_id\":\"b\"}' >/dev/null", bin, d), 0);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc get p a --verify-sig | grep -q '\"_sig\":{\"key\"'", bin,
                     d), 0);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc get p b --verify-sig 2>%s/err >/dev/null", bin, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'document b is not signed' %s/err", d), 0);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc find p --verify-sig >/dev/null 2>&1", bin, d), 3);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc find p '{\"_id\":\"a\"}' --verify-sig >/dev/null", bin,
                     d), 0);
    /* a key that does not exist: nothing written */
    CHECK_EQ(test_sh("%s'%s' -C '%s/r' doc insert p '{\"_id\":\"c\"}' --sign nokey >/dev/null "
                     "2>&1", env, bin, d), 1);
    CHECK_EQ(test_sh("'%s' -C '%s/r' doc count p | grep -qx 2", bin, d), 0);
}

TEST_MAIN(sign_and_verify, tampering, trust_list, failing_signer, cli)
