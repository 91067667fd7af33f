/*
 * commit.h - the hashed structures of history (docs/FORMAT.md, "Commit" and "Reflog entry").
 *
 * A commit names a catalog root (the state of every table), its parents (the first is the
 * branch it was made on), author and committer with UTC times, a message, and optionally an
 * Ed25519 signature with the signer's public key. Its id is the SHA-256 of its bytes, which
 * include the signature: a commit altered after signing no longer verifies.
 *
 * A reflog entry records one move of a branch or tag: the previous entry, the old and new
 * commit, when, who and why. Branch and tag refs hold the id of their newest entry, so a single
 * compare-and-swap both moves the ref and records the move (on any store), and the entries
 * chain back through every earlier position.
 */
#ifndef CAIRN_COMMIT_H
#define CAIRN_COMMIT_H

#include "base/base.h"

#define COMMIT_VERSION 1
#define REFLOG_VERSION 1
#define COMMIT_MAX_PARENTS 64
#define COMMIT_MAX_PERSON 1024       /* author / committer bytes */
#define COMMIT_MAX_MESSAGE (1u << 20)
#define REFLOG_MAX_TEXT 4096         /* who / why bytes */
#define SIG_PUBLIC_SIZE 32
#define SIG_SIZE 64

/* The bytes an Ed25519 signature covers: this domain string, then the commit encoded unsigned
 * (its `signed` byte 0, no key, no signature). */
#define COMMIT_SIGNING_DOMAIN "cairn commit signature v1\n"

typedef struct commit {
    cairn_id catalog;
    size_t nparents;
    cairn_id parents[COMMIT_MAX_PARENTS];
    char *author;            /* "Name <email>", UTF-8; owned */
    int64_t author_time;     /* nanoseconds since the Unix epoch, UTC */
    char *committer;
    int64_t commit_time;
    char *message;           /* owned; may contain newlines */
    bool is_signed;
    uint8_t signer[SIG_PUBLIC_SIZE];
    uint8_t signature[SIG_SIZE];
} commit;

/** Encodes (the whole commit, with its signature if is_signed) into out. */
int commit_encode(cairn_buf *out, const commit *c);
/** Encodes the bytes a signature covers (domain + unsigned encoding) into out. */
int commit_signing_payload(cairn_buf *out, const commit *c);
/** Decodes and validates; any deviation from the canonical form is CAIRN_ECORRUPT. The
 *  caller frees with commit_dispose(). */
int commit_decode(commit *out, const uint8_t *data, size_t len);
void commit_dispose(commit *c);

typedef struct reflog_entry {
    cairn_id prev;           /* the previous entry of this ref; zero: this is the first */
    cairn_id old_target;     /* zero: the ref was created */
    cairn_id new_target;
    int64_t time;            /* nanoseconds since the Unix epoch, UTC */
    char *who;               /* owned */
    char *why;               /* owned */
} reflog_entry;

int reflog_encode(cairn_buf *out, const reflog_entry *e);
int reflog_decode(reflog_entry *out, const uint8_t *data, size_t len);
void reflog_dispose(reflog_entry *e);

/** True when s[0..n) is valid UTF-8 (shortest forms, no surrogates) without a NUL: what the
 *  text fields of commits and reflog entries (and the access log's) hold. */
bool text_ok(const uint8_t *s, size_t n);

/** True when every byte of the id is zero (the "none" id). */
static inline bool id_is_zero(const cairn_id *id)
{
    static const cairn_id zero;
    return memcmp(id->bytes, zero.bytes, CAIRN_ID_SIZE) == 0;
}

#endif /* CAIRN_COMMIT_H */
