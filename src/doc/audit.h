/*
 * audit.h - the access log's entry codec (docs/FORMAT.md, "Audit log"), for audit.c, the
 * fuzzer and the tests. The public calls are in include/cairn/audit.h.
 *
 * An entry, the value stored under its position (u64 big-endian) in the log's tree:
 *   u8 version (1) | u64 LE position | i64 LE time (ns, UTC) | prev hash (32) |
 *   varint n | who (n bytes, UTF-8) | varint n | op (n bytes, [a-z0-9._-], 1..32) |
 *   varint n | target (n bytes, UTF-8) | varint n | detail (n bytes, any) | u64 LE results |
 *   u8 signed (0 or 1) | [public key (32) | Ed25519 signature (64)]
 * The signature covers AUDIT_SIG_DOMAIN (with its NUL) followed by every byte before the
 * signed flag. An entry's hash is the SHA-256 of all of its bytes.
 */
#ifndef CAIRN_DOC_AUDIT_H
#define CAIRN_DOC_AUDIT_H

#include "base/base.h"
#include "cairn/audit.h"

#define AUDIT_VERSION 1
#define AUDIT_KEY_SIZE 8
#define AUDIT_SIG_DOMAIN "cairn audit entry v1" /* signed before the entry's bytes, so that an
                                                    entry's signature can never pass for a
                                                    commit's, or the reverse */
#define AUDIT_FIXED_HEAD (1 + 8 + 8 + CAIRN_ID_SIZE)

/* A decoded entry: the strings are owned (audit_entry_dispose), detail points into the bytes
 * it was decoded from. */
typedef struct audit_entry {
    uint64_t position;
    int64_t time;
    cairn_id prev;
    char *who, *op, *target;
    const uint8_t *detail;
    size_t detail_len;
    uint64_t results;
    bool is_signed;
    uint8_t pub[32];
    uint8_t sig[64];
    size_t signed_len;       /* bytes before the signed flag: what the signature covers */
} audit_entry;

/** Checks the fields of an access to record (sizes, op characters, UTF-8). who is the
 *  identity to use. @return CAIRN_OK or CAIRN_EINVAL naming the field. */
int audit_access_check(const cairn_audit_access *a, const char *who);

/** Encodes the unsigned part of an entry (everything before the signed flag) into out. */
int audit_encode_body(cairn_buf *out, uint64_t position, int64_t time, const cairn_id *prev,
                      const char *who, const cairn_audit_access *a);
/** Appends the signed flag and, when sig is not NULL, the key and signature. */
int audit_encode_tail(cairn_buf *out, const uint8_t *pub, const uint8_t *sig);

/** Decodes one entry (canonical only: nothing after the end, shortest varints, limits).
 *  @return CAIRN_OK; CAIRN_ECORRUPT saying what is wrong; CAIRN_ENOMEM. */
int audit_decode(audit_entry *out, const uint8_t *data, size_t len);
void audit_entry_dispose(audit_entry *e);

/** The bytes a signature covers: AUDIT_SIG_DOMAIN, its NUL, then body[0..len). */
int audit_signing_payload(cairn_buf *out, const uint8_t *body, size_t len);

#endif /* CAIRN_DOC_AUDIT_H */
