/*
 * keys.h - Ed25519 signing keys: the sealed secret key file, the public key line, signing and
 * verifying commits, and the trust list check (docs/FORMAT.md, "Signing keys").
 *
 * A signature answers "were these exact commit bytes signed by the holder of this key?"
 * (key_verify_commit). Whether that key is one the repository trusts is a separate question,
 * answered against a trust list the repository layer keeps (key_commit_trust, with the
 * statuses of the public enum cairn_sig_status). The codecs here
 * are pure and take bytes, so that the fuzzer and the tests can drive them directly; the
 * public cairn_key_* and cairn_signer_* calls (cairn.h) add the files and directories.
 */
#ifndef CAIRN_KEYS_H
#define CAIRN_KEYS_H

#include <pthread.h>

#include "base/base.h"
#include "repo/commit.h"

#define KEY_NAME_MAX CAIRN_KEY_NAME_LEN_MAX
#define KEY_SECRET_SIZE 64          /* libsodium's Ed25519 secret key: 32-byte seed, public key */
#define KEY_FPR_LEN (CAIRN_KEY_FINGERPRINT_SIZE - 1)

/* The secret key file (.key): docs/FORMAT.md, "Secret key file". */
#define KEYFILE_MAGIC "CAIRNKEY"
#define KEYFILE_MAGIC_SIZE 8
#define KEYFILE_VERSION 1
#define KEYFILE_KDF_ARGON2ID 1
#define KEYFILE_KDF_UNPROTECTED 2 /* Argon2id of the empty passphrase: a key made unprotected */
#define KEYFILE_SALT_SIZE 16
#define KEYFILE_NONCE_SIZE 24
#define KEYFILE_TAG_SIZE 16
#define KEYFILE_OFF_VERSION 8
#define KEYFILE_OFF_KDF 9
#define KEYFILE_OFF_OPS 10
#define KEYFILE_OFF_MEM 14
#define KEYFILE_OFF_SALT 18
#define KEYFILE_OFF_NONCE 34        /* = the length of the header bound into the AEAD */
#define KEYFILE_OFF_CIPHER 58
#define KEYFILE_SIZE (KEYFILE_OFF_CIPHER + KEY_SECRET_SIZE + KEYFILE_TAG_SIZE) /* 138 */

/* The public key line (.pub): "cairn-ed25519 <64 hex> NAME\n". */
#define PUBLINE_PREFIX "cairn-ed25519 "
#define PUBLINE_MAX (sizeof PUBLINE_PREFIX - 1 + 2 * SIG_PUBLIC_SIZE + 1 + KEY_NAME_MAX + 1)

/* Argon2id cost of sealing a key: passes over memory_kib KiB. */
typedef struct key_kdf {
    uint32_t opslimit;
    uint32_t memlimit_kib;
} key_kdf;

/* What a key file may ask for before it is refused as hostile: each limit, and their product
 * (the time a derivation takes grows with passes x memory). */
typedef struct kdf_limits {
    uint32_t max_ops;
    uint32_t max_mem_kib;
    uint64_t max_work;       /* opslimit * memlimit_kib */
} kdf_limits;

/* A key pair with its name. */
typedef struct key {
    char name[KEY_NAME_MAX + 1];
    uint8_t pub[SIG_PUBLIC_SIZE];
    uint8_t *secret;         /* KEY_SECRET_SIZE bytes from sodium_malloc, read-only; NULL when
                                only the public half is known */
} key;

/* The public API's signer: a key loaded from a key file (custom false), or an application's
 * methods (custom true: k.name only, k.pub the key of the last signature, under mu). */
struct cairn_signer {
    key k;
    bool custom;
    cairn_signer_methods m;
    void *payload;
    pthread_mutex_t mu;
};

/* Trust list entries are parsed public key lines. */
typedef cairn_key_info trusted_key;

/* What a signature says about a commit's bytes. */
enum sig_status {
    SIG_NONE = 0,            /* not signed */
    SIG_GOOD = 1,            /* verifies over commit_signing_payload() with its signer's key */
    SIG_BAD = 2              /* does not verify: the commit or its signature was altered */
};

/** Initialises libsodium once per process (thread-safe). @return CAIRN_OK or CAIRN_EIO. */
int keys_init(void);

/** CAIRN_OK when name is 1..64 characters of [A-Za-z0-9._-] not starting with '.' or '-';
 *  otherwise CAIRN_EINVAL with a message that quotes it. */
int key_name_check(const char *name);

/** The first 16 hex digits of SHA-256(pub), NUL-terminated. */
void key_fingerprint(char out[KEY_FPR_LEN + 1], const uint8_t pub[SIG_PUBLIC_SIZE]);

/** Fills in the name, fingerprint and public key. */
void key_info_fill(cairn_key_info *out, const char *name, const uint8_t pub[SIG_PUBLIC_SIZE]);

/** The cost new keys are sealed with: Argon2id INTERACTIVE, unless a test has set another. */
key_kdf key_kdf_current(void);
/** Test hook: seal new keys with these limits (0, 0 = the defaults again). Process-wide. */
void key_test_set_kdf(uint32_t opslimit, uint32_t memlimit_kib);
/** What loading accepts by default: 16 times Argon2id MODERATE (ops, memory and their product). */
kdf_limits key_kdf_limits_default(void);

/** Seals secret (KEY_SECRET_SIZE bytes) for pub under passphrase (NUL-terminated; "" allowed
 *  here, the caller decides whether it may be) into out, with a fresh salt and nonce.
 *  @return CAIRN_OK; CAIRN_EINVAL (kdf out of Argon2id's range); CAIRN_ENOMEM. */
int keyfile_seal(uint8_t out[KEYFILE_SIZE], const uint8_t *secret,
                 const uint8_t pub[SIG_PUBLIC_SIZE], const char *passphrase, const key_kdf *kdf);

/** Opens the bytes of a key file: checks the layout and the KDF limits against lim (NULL = the
 *  defaults), derives the key, decrypts into secret (KEY_SECRET_SIZE bytes; pass sodium_malloc'd
 *  memory) and checks that the secret key is the one for pub. name and path are for messages.
 *  secret is written only on success (it is wiped on failure).
 *  @return CAIRN_OK; CAIRN_EAUTH (the AEAD does not verify: wrong passphrase, or the file was
 *          altered); CAIRN_ECORRUPT (size, magic, version, KDF id or limits wrong; a secret key
 *          that does not match pub); CAIRN_ENOMEM. */
int keyfile_open(uint8_t *secret, const uint8_t *data, size_t len,
                 const uint8_t pub[SIG_PUBLIC_SIZE], const char *passphrase,
                 const kdf_limits *lim, const char *name, const char *path);

/** Writes the public key line of (name, pub), with its "\n" and a NUL, into out.
 *  @return its length without the NUL. */
size_t publine_format(char out[PUBLINE_MAX + 1], const char *name,
                      const uint8_t pub[SIG_PUBLIC_SIZE]);

/** Parses len bytes of one public key line (optionally ending in one "\n"); what names the
 *  source in messages ("public key line", a file path).
 *  @return CAIRN_OK or `bad` (CAIRN_EINVAL for input, CAIRN_ECORRUPT for a file) saying what
 *          is wrong. */
int publine_parse(cairn_key_info *out, const char *line, size_t len, const char *what, int bad);

/** Loads the key pair NAME from the directory dir (already resolved: not NULL). */
int key_load(key *out, const char *dir, const char *name, const char *passphrase);
/** Wipes and frees the secret half; leaves the public facts. Accepts a key never loaded. */
void key_dispose(key *k);

/** Signs c: fills c->is_signed, c->signer and c->signature over commit_signing_payload(c).
 *  c is changed only on success.
 *  @return CAIRN_OK; CAIRN_EINVAL (no secret key; the commit is over its limits);
 *          CAIRN_ENOMEM. */
int key_sign_commit(const key *k, commit *c);

/** @return one of enum sig_status, or a negative code (CAIRN_EINVAL, CAIRN_ENOMEM) when the
 *          signing payload cannot be built. */
int key_verify_commit(const commit *c);

/** @return 1 when pub is in list[0..n), else 0. */
int trust_list_contains(const trusted_key *list, size_t n, const uint8_t pub[SIG_PUBLIC_SIZE]);

/** What `log` shows: the signature combined with the trust list.
 *  @return one of enum cairn_sig_status (NONE; GOOD: verifies and the signer is in the list;
 *          UNKNOWN: verifies, the signer is not in the list; BAD: does not verify), or a
 *          negative code as key_verify_commit(). */
int key_commit_trust(const commit *c, const trusted_key *list, size_t n);

/** Signs len bytes of data with the signer (a loaded key, or an application's methods, whose
 *  signature is checked before it is returned). Writes the signature and the public key it
 *  verifies under.
 *  @return CAIRN_OK; CAIRN_EINVAL (no signer, or no secret key); CAIRN_EAUTH (an application's
 *          signature does not verify); the application's own value. */
int signer_sign_bytes(cairn_signer *signer, uint8_t sig[SIG_SIZE], uint8_t pub[SIG_PUBLIC_SIZE],
                      const void *data, size_t len);
/** @return SIG_GOOD when sig verifies over data under pub, else SIG_BAD; CAIRN_EIO when
 *          libsodium cannot start. */
int key_verify_bytes(const uint8_t sig[SIG_SIZE], const uint8_t pub[SIG_PUBLIC_SIZE],
                     const void *data, size_t len);
/** key_sign_commit() with the key a cairn_signer holds (for cairn_commit_options.signer). */
int signer_sign_commit(cairn_signer *signer, commit *c);

#endif /* CAIRN_KEYS_H */
