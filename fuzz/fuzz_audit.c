/*
 * fuzz_audit.c - the access log's entry decoder (src/doc/audit.c: read by cairn_audit_entries,
 * cairn_audit_verify and every append, which decodes the newest entry to chain to it) must
 * reject or decode any bytes without crashing or reading outside them. It accepts only the
 * canonical encoding, so a decoded entry encodes again to the very same bytes.
 *
 * The corpus (corpus/audit/) holds entries encoded as cairn_audit_record encodes them
 * (unsigned, and signed by a key made from a fixed seed), entries with empty and longest fields, and damaged copies
 * (truncated, a byte after the end, another version, position 0, a non-shortest length, an
 * upper-case operation, bad UTF-8 in who, signed flag 2); rebuild it with
 *   FUZZ_AUDIT_WRITE_CORPUS=DIR ./fuzz_audit
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "cairn/audit.h"
#include "corpus_file.h"
#include "doc/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    audit_entry e;
    int rc = audit_decode(&e, data, size);
    if (rc != CAIRN_OK) {
        if (rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM) abort();
        cairn_error_clear();
        return 0;
    }
    if (!e.who || !e.op || !e.target || e.position == 0) abort();
    if (e.detail_len && (e.detail < data || e.detail + e.detail_len > data + size)) abort();
    cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
    a.op = e.op;
    a.target = e.target;
    a.detail = e.detail;
    a.detail_len = e.detail_len;
    a.results = e.results;
    if (audit_access_check(&a, e.who) != CAIRN_OK) abort(); /* what decodes could be recorded */
    cairn_buf again = CAIRN_BUF_INIT;
    if (audit_encode_body(&again, e.position, e.time, &e.prev, e.who, &a) != CAIRN_OK) abort();
    if (again.len != e.signed_len) abort();
    if (audit_encode_tail(&again, e.pub, e.is_signed ? e.sig : NULL) != CAIRN_OK) abort();
    if (again.len != size || memcmp(again.data, data, size) != 0) abort();
    cairn_buf_dispose(&again);
    audit_entry_dispose(&e);
    return 0;
}

/* ---- the corpus ---- */

static const char *corpus_dir;

static void die(void)
{
    fprintf(stderr, "fuzz_audit: %s\n", cairn_error_last()->message);
    exit(1);
}

static void entry(cairn_buf *b, uint64_t pos, const char *who, const cairn_audit_access *a,
                  const uint8_t *sk)
{
    cairn_id prev;
    for (int i = 0; i < CAIRN_ID_SIZE; i++) prev.bytes[i] = (uint8_t)(pos * 31 + i);
    if (audit_encode_body(b, pos, 1764806400123456789LL + (int64_t)pos, &prev, who, a))
        die();
    if (!sk) {
        if (audit_encode_tail(b, NULL, NULL)) die();
        return;
    }
    cairn_buf payload = CAIRN_BUF_INIT;
    uint8_t sig[64];
    if (audit_signing_payload(&payload, b->data, b->len)) die();
    crypto_sign_detached(sig, NULL, payload.data, payload.len, sk);
    if (audit_encode_tail(b, sk + 32, sig)) die(); /* libsodium's sk ends with the public key */
    cairn_buf_dispose(&payload);
}

/* Writes b with byte `at` replaced by v. */
static void write_patched(const char *name, cairn_buf *b, size_t at, uint8_t v)
{
    uint8_t old = b->data[at];
    b->data[at] = v;
    corpus_write(corpus_dir, name, b->data, b->len);
    b->data[at] = old;
}

static void write_corpus(void)
{
    if (sodium_init() < 0) exit(1);
    uint8_t seed[32], pk[32], sk[64];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
    a.op = "get";
    a.target = "people";
    a.detail = "ada";
    a.detail_len = 3;
    a.results = 1;
    entry(&b, 1, "Ada Lovelace <ada@example.com>", &a, NULL);
    corpus_write(corpus_dir, "unsigned", b.data, b.len);
    size_t full = b.len;
    b.len = full - 2;
    corpus_write(corpus_dir, "truncated", b.data, b.len);
    b.len = full;
    if (cairn_buf_append(&b, "x", 1)) die();
    corpus_write(corpus_dir, "extra_byte", b.data, b.len);
    b.len = full;
    write_patched("version_2", &b, 0, AUDIT_VERSION + 1);
    write_patched("position_0", &b, 1, 0);
    write_patched("bad_utf8_who", &b, AUDIT_FIXED_HEAD + 1, 0xc0);
    size_t op_at = AUDIT_FIXED_HEAD + 1 + 30 + 1; /* who's length, who, op's length */
    write_patched("upper_op", &b, op_at, 'G');
    write_patched("signed_flag_2", &b, full - 1, 2);
    /* who's length as two bytes where one does */
    cairn_buf ns = CAIRN_BUF_INIT;
    uint8_t two[2] = { (uint8_t)(b.data[AUDIT_FIXED_HEAD] | 0x80), 0 };
    if (cairn_buf_append(&ns, b.data, AUDIT_FIXED_HEAD) || cairn_buf_append(&ns, two, 2) ||
        cairn_buf_append(&ns, b.data + AUDIT_FIXED_HEAD + 1, full - AUDIT_FIXED_HEAD - 1))
        die();
    corpus_write(corpus_dir, "long_varint", ns.data, ns.len);
    cairn_buf_dispose(&ns);
    /* signed; a query as detail */
    a.op = "doc.find";
    a.target = "orders";
    a.detail = "{\"total\":{\"$gt\":100}}";
    a.detail_len = strlen(a.detail);
    a.results = 12;
    entry(&b, 7, "Grace Hopper <grace@example.com>", &a, sk);
    corpus_write(corpus_dir, "signed", b.data, b.len);
    /* empty target and detail; binary detail; the longest who */
    a.op = "count";
    a.target = "";
    a.detail = NULL;
    a.detail_len = 0;
    entry(&b, 2, "", &a, NULL);
    corpus_write(corpus_dir, "empty_fields", b.data, b.len);
    char who[CAIRN_AUDIT_WHO_MAX + 1];
    memset(who, 'w', CAIRN_AUDIT_WHO_MAX);
    who[CAIRN_AUDIT_WHO_MAX] = '\0';
    a.op = "get";
    a.detail = "\x00\xff\x01";
    a.detail_len = 3;
    entry(&b, UINT64_MAX, who, &a, sk);
    corpus_write(corpus_dir, "longest_who_binary", b.data, b.len);
    cairn_buf_dispose(&b);
    fprintf(stderr, "wrote the audit corpus to %s\n", corpus_dir);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    corpus_dir = getenv("FUZZ_AUDIT_WRITE_CORPUS");
    if (corpus_dir) write_corpus();
    return 0;
}
