/*
 * keys.c - Ed25519 signing keys (libsodium): key files on disk, commit signatures, trust.
 *
 * A key lives in two files of a key directory. NAME.pub is one public line anyone may read.
 * NAME.key holds the 64-byte secret key sealed with XChaCha20-Poly1305 under a key that
 * Argon2id derives from the passphrase; the sealed header and the public key are the AEAD's
 * additional data, so neither the KDF parameters nor the pairing with NAME.pub can be changed
 * without the seal failing. The loader trusts nothing in NAME.key before the seal verifies,
 * except the KDF limits, and those it caps, because a hostile file could otherwise make it
 * spend gigabytes and minutes. Files are created next to their final name, synced, then
 * hard-linked into place: link() fails when the name exists, so an existing key is never
 * replaced, even by a racing generator. Every file-system call goes through base/sys.h, so that
 * tests can make any of them fail: a failed generation leaves no key, never half of one.
 *
 * Secret keys live only in sodium_malloc memory (guard pages, locked, read-only once loaded)
 * and on the stack for as long as a derivation or a check needs them, then are wiped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/sys.h"
#include "keys.h"

#define KDF_KEY_SIZE crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define KEYFILE_AD_SIZE (KEYFILE_OFF_NONCE + SIG_PUBLIC_SIZE)
#define KDF_CAP_FACTOR 16u          /* loading accepts up to 16 x Argon2id MODERATE */
#define KEY_DIR_MODE 0700
#define KEY_SECRET_MODE 0600
#define KEY_PUBLIC_MODE 0644

_Static_assert(KEYFILE_SIZE == 138, "docs/FORMAT.md gives the secret key file as 138 bytes");
_Static_assert(KEY_SECRET_SIZE == crypto_sign_SECRETKEYBYTES, "libsodium's secret key size");
_Static_assert(SIG_PUBLIC_SIZE == crypto_sign_PUBLICKEYBYTES, "libsodium's public key size");
_Static_assert(SIG_SIZE == crypto_sign_BYTES, "libsodium's signature size");
_Static_assert(KEYFILE_SALT_SIZE == crypto_pwhash_SALTBYTES, "libsodium's Argon2 salt size");
_Static_assert(KEYFILE_NONCE_SIZE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(KEYFILE_TAG_SIZE == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");

/* ---- libsodium ---- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status; /* written once, under sodium_once */

static void sodium_start(void) { sodium_status = sodium_init(); }

int keys_init(void)
{
    pthread_once(&sodium_once, sodium_start);
    FAIL_IF(sodium_status < 0, CAIRN_EIO,
            "libsodium could not initialise (is a random source such as /dev/urandom available?)");
    return CAIRN_OK;
}

/* ---- names and fingerprints ---- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > KEY_NAME_MAX || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return false;
    return true;
}

static int name_error(const char *s, size_t n)
{
    char shown[100];
    bytes_show(shown, sizeof shown, s, n);
    return ERR(CAIRN_EINVAL,
               "'%s' is not a valid key name: use 1 to %u characters of A-Z a-z 0-9 . _ -, "
               "not starting with '.' or '-'",
               shown, KEY_NAME_MAX);
}

int key_name_check(const char *name)
{
    if (!name) return ERR(CAIRN_EINVAL, "no key name given");
    size_t n = strnlen(name, KEY_NAME_MAX + 1);
    return name_ok(name, n) ? CAIRN_OK : name_error(name, n);
}

void key_fingerprint(char out[KEY_FPR_LEN + 1], const uint8_t pub[SIG_PUBLIC_SIZE])
{
    cairn_id h;
    hash_sha256(&h, pub, SIG_PUBLIC_SIZE);
    hex_encode(out, h.bytes, KEY_FPR_LEN / 2);
}

void key_info_fill(cairn_key_info *out, const char *name, const uint8_t pub[SIG_PUBLIC_SIZE])
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    memcpy(out->public_key, pub, SIG_PUBLIC_SIZE);
    key_fingerprint(out->fingerprint, pub);
}

/* ---- KDF cost ---- */

/* Tests seal keys with tiny limits to stay fast: opslimit << 32 | memlimit_kib, 0 = defaults.
 * The only mutable global here besides libsodium's once-flag; an atomic. */
static _Atomic uint64_t test_kdf;

key_kdf key_kdf_current(void)
{
    uint64_t v = atomic_load(&test_kdf);
    if (v) return (key_kdf){ (uint32_t)(v >> 32), (uint32_t)v };
    return (key_kdf){ crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
                      crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024 };
}

void key_test_set_kdf(uint32_t opslimit, uint32_t memlimit_kib)
{
    atomic_store(&test_kdf, (uint64_t)opslimit << 32 | memlimit_kib);
}

kdf_limits key_kdf_limits_default(void)
{
    uint64_t ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
    uint64_t kib = crypto_pwhash_argon2id_MEMLIMIT_MODERATE / 1024;
    return (kdf_limits){ (uint32_t)(KDF_CAP_FACTOR * ops), (uint32_t)(KDF_CAP_FACTOR * kib),
                         KDF_CAP_FACTOR * ops * kib };
}

/* Argon2id's own minimums (libsodium refuses less). */
static bool kdf_below_min(uint32_t ops, uint32_t kib)
{
    return ops < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
           (uint64_t)kib * 1024 < crypto_pwhash_argon2id_MEMLIMIT_MIN;
}

static bool kdf_above(const kdf_limits *lim, uint32_t ops, uint32_t kib)
{
    return ops > lim->max_ops || kib > lim->max_mem_kib || (uint64_t)ops * kib > lim->max_work ||
           (uint64_t)kib * 1024 > SIZE_MAX;
}

/* Argon2id (v1.3, one lane) of the passphrase into a 32-byte AEAD key. Fails only for lack of
 * memory once the limits are checked. */
static int derive(uint8_t k[KDF_KEY_SIZE], const char *passphrase, const uint8_t *salt,
                  uint32_t ops, uint32_t kib)
{
    if (crypto_pwhash(k, KDF_KEY_SIZE, passphrase, strlen(passphrase), salt, ops,
                      (size_t)kib * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return ERR(CAIRN_ENOMEM, "not enough memory for the Argon2id key derivation (%u MiB)",
                   kib / 1024);
    return CAIRN_OK;
}

/* ---- the secret key file ---- */

static void keyfile_ad(uint8_t ad[KEYFILE_AD_SIZE], const uint8_t *file, const uint8_t *pub)
{
    memcpy(ad, file, KEYFILE_OFF_NONCE);
    memcpy(ad + KEYFILE_OFF_NONCE, pub, SIG_PUBLIC_SIZE);
}

int keyfile_seal(uint8_t out[KEYFILE_SIZE], const uint8_t *secret,
                 const uint8_t pub[SIG_PUBLIC_SIZE], const char *passphrase, const key_kdf *kdf)
{
    TRY(keys_init());
    kdf_limits lim = key_kdf_limits_default();
    FAIL_IF(kdf_below_min(kdf->opslimit, kdf->memlimit_kib) ||
                kdf_above(&lim, kdf->opslimit, kdf->memlimit_kib),
            CAIRN_EINVAL, "Argon2id limits (ops %u, %u KiB) are outside what cairn reads back",
            kdf->opslimit, kdf->memlimit_kib);
    uint8_t f[KEYFILE_SIZE];
    memcpy(f, KEYFILE_MAGIC, KEYFILE_MAGIC_SIZE);
    f[KEYFILE_OFF_VERSION] = KEYFILE_VERSION;
    /* an unprotected key says so (bound into the seal), so that a reader can tell a damaged
     * unprotected file from a protected one opened without its passphrase */
    f[KEYFILE_OFF_KDF] = *passphrase ? KEYFILE_KDF_ARGON2ID : KEYFILE_KDF_UNPROTECTED;
    store_le32(f + KEYFILE_OFF_OPS, kdf->opslimit);
    store_le32(f + KEYFILE_OFF_MEM, kdf->memlimit_kib);
    randombytes_buf(f + KEYFILE_OFF_SALT, KEYFILE_SALT_SIZE);
    randombytes_buf(f + KEYFILE_OFF_NONCE, KEYFILE_NONCE_SIZE);
    uint8_t k[KDF_KEY_SIZE], ad[KEYFILE_AD_SIZE];
    TRY(derive(k, passphrase, f + KEYFILE_OFF_SALT, kdf->opslimit, kdf->memlimit_kib));
    keyfile_ad(ad, f, pub);
    crypto_aead_xchacha20poly1305_ietf_encrypt(f + KEYFILE_OFF_CIPHER, NULL, secret,
                                               KEY_SECRET_SIZE, ad, sizeof ad, NULL,
                                               f + KEYFILE_OFF_NONCE, k);
    sodium_memzero(k, sizeof k);
    memcpy(out, f, KEYFILE_SIZE);
    return CAIRN_OK;
}

/* Everything about a key file that can be checked without the passphrase. */
static int keyfile_check_header(const uint8_t *d, size_t len, const kdf_limits *lim,
                                const char *path)
{
    FAIL_IF(len == 0, CAIRN_ECORRUPT, "secret key file %s is empty", path);
    FAIL_IF(memcmp(d, KEYFILE_MAGIC, MIN(len, KEYFILE_MAGIC_SIZE)) != 0, CAIRN_ECORRUPT,
            "%s is not a cairn secret key file (it does not start with \"%s\")", path,
            KEYFILE_MAGIC);
    FAIL_IF(len > KEYFILE_OFF_VERSION && d[KEYFILE_OFF_VERSION] != KEYFILE_VERSION,
            CAIRN_ECORRUPT,
            "secret key file %s has version %u; this build reads version %d (a newer cairn "
            "wrote it?)", path, d[KEYFILE_OFF_VERSION], KEYFILE_VERSION);
    FAIL_IF(len > KEYFILE_OFF_KDF && d[KEYFILE_OFF_KDF] != KEYFILE_KDF_ARGON2ID &&
                d[KEYFILE_OFF_KDF] != KEYFILE_KDF_UNPROTECTED,
            CAIRN_ECORRUPT,
            "secret key file %s names key derivation %u; this build knows only %d (Argon2id) "
            "and %d (Argon2id, no passphrase): the file is damaged, or a newer cairn wrote it",
            path, d[KEYFILE_OFF_KDF], KEYFILE_KDF_ARGON2ID, KEYFILE_KDF_UNPROTECTED);
    FAIL_IF(len != KEYFILE_SIZE, CAIRN_ECORRUPT,
            "secret key file %s has %zu bytes, not %d: it is %s", path, len, KEYFILE_SIZE,
            len < KEYFILE_SIZE ? "truncated" : "damaged (bytes after its end)");
    uint32_t ops = load_le32(d + KEYFILE_OFF_OPS), kib = load_le32(d + KEYFILE_OFF_MEM);
    FAIL_IF(kdf_below_min(ops, kib), CAIRN_ECORRUPT,
            "secret key file %s asks for Argon2id with ops %u and %u KiB, below Argon2id's "
            "minimum: the file is damaged", path, ops, kib);
    FAIL_IF(kdf_above(lim, ops, kib), CAIRN_ECORRUPT,
            "secret key file %s asks for Argon2id with ops %u and %u KiB, over what cairn "
            "accepts (ops %u, %u MiB, ops x memory %llu MiB): the file is damaged or was not "
            "made by cairn; refusing to spend that much time and memory",
            path, ops, kib, lim->max_ops, lim->max_mem_kib / 1024,
            (unsigned long long)(lim->max_work / 1024));
    return CAIRN_OK;
}

/* The secret key's public half, recomputed from its seed, must be pub. */
static int keyfile_check_pair(const uint8_t *secret, const uint8_t pub[SIG_PUBLIC_SIZE],
                              const char *name, const char *path)
{
    uint8_t pk[SIG_PUBLIC_SIZE], sk[KEY_SECRET_SIZE];
    crypto_sign_seed_keypair(pk, sk, secret); /* the first 32 bytes are the seed */
    bool ok = sodium_memcmp(pk, pub, SIG_PUBLIC_SIZE) == 0 &&
              sodium_memcmp(sk, secret, KEY_SECRET_SIZE) == 0;
    sodium_memzero(sk, sizeof sk);
    FAIL_IF(!ok, CAIRN_ECORRUPT,
            "secret key file %s does not hold the secret key of %s.pub (key %s): one of the "
            "two files was replaced", path, name, name);
    return CAIRN_OK;
}

int keyfile_open(uint8_t *secret, const uint8_t *data, size_t len,
                 const uint8_t pub[SIG_PUBLIC_SIZE], const char *passphrase,
                 const kdf_limits *lim, const char *name, const char *path)
{
    TRY(keys_init());
    kdf_limits def = key_kdf_limits_default();
    TRY(keyfile_check_header(data, len, lim ? lim : &def, path));
    uint8_t k[KDF_KEY_SIZE], ad[KEYFILE_AD_SIZE];
    bool unprotected = data[KEYFILE_OFF_KDF] == KEYFILE_KDF_UNPROTECTED;
    FAIL_IF(unprotected && *passphrase, CAIRN_EAUTH,
            "key %s (file %s) has no passphrase, but one was given: leave it out (unset "
            "CAIRN_PASSPHRASE or set it empty)", name, path);
    int rc = derive(k, passphrase, data + KEYFILE_OFF_SALT, load_le32(data + KEYFILE_OFF_OPS),
                    load_le32(data + KEYFILE_OFF_MEM));
    if (rc < 0) return cairn_error_prefix(rc, "loading key %s (file %s)", name, path);
    keyfile_ad(ad, data, pub);
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        secret, NULL, NULL, data + KEYFILE_OFF_CIPHER, KEY_SECRET_SIZE + KEYFILE_TAG_SIZE, ad,
        sizeof ad, data + KEYFILE_OFF_NONCE, k);
    sodium_memzero(k, sizeof k);
    if (bad && unprotected)
        rc = ERR(CAIRN_ECORRUPT, "secret key file %s of key %s is damaged: the key has no "
                 "passphrase and its seal does not verify; restore the file from a backup, or "
                 "generate a new key (and trust it where the old one was trusted)", path, name);
    else if (bad && !*passphrase)
        rc = ERR(CAIRN_EAUTH, "key %s (file %s) is protected by a passphrase and none was "
                 "given (if it was made without one by a cairn before key files recorded that, "
                 "the file is damaged)", name, path);
    else if (bad)
        rc = ERR(CAIRN_EAUTH, "wrong passphrase for key %s (file %s); if the passphrase "
                 "is right, the file was altered", name, path);
    else rc = keyfile_check_pair(secret, pub, name, path);
    if (rc < 0) sodium_memzero(secret, KEY_SECRET_SIZE);
    return rc;
}

/* ---- the public key line ---- */

size_t publine_format(char out[PUBLINE_MAX + 1], const char *name,
                      const uint8_t pub[SIG_PUBLIC_SIZE])
{
    char hex[2 * SIG_PUBLIC_SIZE + 1];
    hex_encode(hex, pub, SIG_PUBLIC_SIZE);
    int n = snprintf(out, PUBLINE_MAX + 1, "%s%s %.*s\n", PUBLINE_PREFIX, hex, (int)KEY_NAME_MAX,
                     name);
    return n < 0 ? 0 : (size_t)n;
}

/* Exactly 2n lowercase hex digits (the only form cairn writes). */
static bool hex_decode_lower(uint8_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] << 4 | v : v);
    }
    return true;
}

int publine_parse(cairn_key_info *out, const char *line, size_t len, const char *what, int bad)
{
    static const char want[] = "expected \"cairn-ed25519 <64 lowercase hex digits> NAME\"";
    const size_t plen = sizeof PUBLINE_PREFIX - 1, hlen = 2 * SIG_PUBLIC_SIZE;
    TRY(keys_init());
    if (len && line[len - 1] == '\n') len--;
    FAIL_IF(len < plen || memcmp(line, PUBLINE_PREFIX, plen) != 0, bad,
            "%s is not a cairn public key: %s", what, want);
    const char *p = line + plen, *end = line + len;
    uint8_t pub[SIG_PUBLIC_SIZE];
    FAIL_IF((size_t)(end - p) <= hlen || p[hlen] != ' ' ||
                !hex_decode_lower(pub, p, SIG_PUBLIC_SIZE),
            bad, "%s: the public key is not 64 lowercase hex digits and a space: %s", what, want);
    p += hlen + 1;
    if (!name_ok(p, (size_t)(end - p))) {
        name_error(p, (size_t)(end - p));
        return cairn_error_prefix(bad, "%s", what);
    }
    FAIL_IF(crypto_core_ed25519_is_valid_point(pub) != 1, bad,
            "%s: %.16s... is not a valid Ed25519 public key", what, line + plen);
    char name[KEY_NAME_MAX + 1];
    memcpy(name, p, (size_t)(end - p));
    name[end - p] = '\0';
    key_info_fill(out, name, pub);
    return CAIRN_OK;
}

/* ---- files ---- */

/* The key directory: dir, or $CAIRN_HOME/keys, or $HOME/.cairn/keys. Caller frees. */
static int dir_resolve(char **out, const char *dir)
{
    const char *home = getenv("CAIRN_HOME");
    if (dir) {
        FAIL_IF(!*dir, CAIRN_EINVAL, "the key directory is an empty string (NULL means the "
                                     "default, $CAIRN_HOME/keys)");
        *out = cairn_strdup(dir);
    } else if (home && *home) {
        *out = cairn_sprintf("%s/keys", home);
    } else {
        home = getenv("HOME");
        FAIL_IF(!home || !*home, CAIRN_EINVAL,
                "no key directory: set CAIRN_HOME or HOME, or name a directory");
        *out = cairn_sprintf("%s/.cairn/keys", home);
    }
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* The files of key NAME in a key directory. */
typedef struct key_paths {
    char *dir, *key, *pub;
} key_paths;

static void paths_free(key_paths *p)
{
    free(p->dir);
    free(p->key);
    free(p->pub);
}

/* Validates name and resolves the directory; paths_free() after, even on failure. */
static int paths_make(key_paths *p, const char *dir, const char *name)
{
    memset(p, 0, sizeof *p);
    TRY(keys_init());
    TRY(key_name_check(name));
    TRY(dir_resolve(&p->dir, dir));
    p->key = cairn_sprintf("%s/%s.key", p->dir, name);
    p->pub = cairn_sprintf("%s/%s.pub", p->dir, name);
    FAIL_IF(!p->key || !p->pub, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* Reads a whole regular file of at most cap - 1 bytes into buf; a file of cap bytes or more
 * comes back with *out_len == cap (the caller says what that means). */
static int read_small(const char *path, uint8_t *buf, size_t cap, size_t *out_len,
                      mode_t *out_mode)
{
    *out_len = 0;
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) return cairn_error_errno(errno, "opening %s", path);
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    int rc = CAIRN_OK;
    size_t got = 0;
    if (sys_fstat(fd, &sb) != 0) rc = cairn_error_errno(errno, "checking %s", path);
    else if (!S_ISREG(sb.st_mode)) rc = ERR(CAIRN_EINVAL, "%s is not a regular file", path);
    if (rc == CAIRN_OK) rc = sys_read_full(fd, buf, cap, 0, &got, path);
    sys_close(fd);
    *out_len = got;
    if (out_mode) *out_mode = sb.st_mode;
    return rc;
}

/* Reads and checks NAME.pub: it must hold NAME's line. */
static int read_public(cairn_key_info *out, const char *path, const char *name, const char *dir)
{
    char buf[PUBLINE_MAX + 1];
    size_t len;
    int rc = read_small(path, (uint8_t *)buf, sizeof buf, &len, NULL);
    if (rc == CAIRN_ENOTFOUND)
        return ERR(CAIRN_ENOTFOUND, "no key %s in %s (%s does not exist)", name, dir, path);
    TRY(rc);
    FAIL_IF(len == sizeof buf, CAIRN_ECORRUPT,
            "%s is not a cairn public key file: it is over %zu bytes", path, (size_t)PUBLINE_MAX);
    TRY(publine_parse(out, buf, len, path, CAIRN_ECORRUPT));
    FAIL_IF(strcmp(out->name, name) != 0, CAIRN_ECORRUPT,
            "%s holds the public key of '%s', not of '%s': the file was renamed or replaced",
            path, out->name, name);
    return CAIRN_OK;
}

/* mkdir -p with mode 0700 for what it creates; each new directory is synced into its parent. */
static int mkdir_private(const char *path)
{
    struct stat sb;
    if (sys_stat(path, &sb) == 0) {
        FAIL_IF(!S_ISDIR(sb.st_mode), CAIRN_EINVAL, "%s exists and is not a directory", path);
        return CAIRN_OK;
    }
    if (errno != ENOENT) return cairn_error_errno(errno, "checking %s", path);
    return sys_mkdirs(path, KEY_DIR_MODE, true);
}

/* Creates path holding exactly data, with exactly mode, or fails leaving nothing: a temp file in
 * dir is written and synced, then linked to path (link, unlike rename, fails when path
 * exists), and dir is synced (when that fails, the link is undone: the caller is told the key
 * was not made, so it must not be there). */
static int write_new(const char *dir, const char *path, const void *data, size_t len, mode_t mode)
{
    uint8_t salt[8];
    randombytes_buf(salt, sizeof salt);
    char *tmp = cairn_sprintf("%s/.tmp-key-%016llx", dir,
                              (unsigned long long)load_le64(salt));
    if (!tmp) return ERR(CAIRN_ENOMEM, "out of memory writing %s", path);
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = cairn_error_errno(errno, "creating a temp file in %s (for %s)", dir, path);
        free(tmp);
        return rc;
    }
    int rc = CAIRN_OK;
    if (fchmod(fd, mode) != 0) rc = cairn_error_errno(errno, "setting the mode of %s", tmp);
    else rc = sys_write_all(fd, data, len, 0, tmp);
    if (rc == CAIRN_OK && sys_fsync(fd) != 0) rc = cairn_error_errno(errno, "syncing %s", tmp);
    if (sys_close(fd) != 0 && rc == CAIRN_OK) rc = cairn_error_errno(errno, "writing %s", tmp);
    bool linked = false;
    if (rc == CAIRN_OK && sys_link(tmp, path) != 0)
        rc = errno == EEXIST ? ERR(CAIRN_EEXIST, "%s exists already; cairn never replaces a key "
                                                 "file", path)
                             : cairn_error_errno(errno, "linking %s to %s", tmp, path);
    else if (rc == CAIRN_OK)
        linked = true;
    sys_unlink(tmp);
    if (rc == CAIRN_OK) rc = sys_fsync_dir(dir);
    if (rc != CAIRN_OK && linked) sys_unlink(path); /* ours: the link above made it */
    free(tmp);
    return rc;
}

static int refuse_existing(const key_paths *p, const char *name)
{
    struct stat sb;
    const char *files[2] = { p->key, p->pub };
    for (int i = 0; i < 2; i++) {
        if (sys_stat(files[i], &sb) == 0)
            return ERR(CAIRN_EEXIST, "key %s exists already (%s); choose another name, or "
                                     "remove %s.key and %s.pub first", name, files[i], name, name);
        if (errno != ENOENT) return cairn_error_errno(errno, "checking %s", files[i]);
    }
    return CAIRN_OK;
}

/* ---- the public API: keys ---- */

/* A new key pair, sealed and written: NAME.key first, then NAME.pub, whose presence marks the
 * key complete (listings go by .pub files). */
static int generate_files(cairn_key_info *info, const key_paths *p, const char *name,
                          const char *passphrase)
{
    uint8_t pub[SIG_PUBLIC_SIZE], sealed[KEYFILE_SIZE];
    uint8_t *sk = sodium_malloc(KEY_SECRET_SIZE);
    FAIL_IF(!sk, CAIRN_ENOMEM, "out of memory for the secret key of %s", name);
    crypto_sign_keypair(pub, sk);
    key_kdf kdf = key_kdf_current();
    int rc = keyfile_seal(sealed, sk, pub, passphrase, &kdf);
    sodium_free(sk);
    if (rc < 0) return cairn_error_prefix(rc, "generating key %s", name);
    TRY(write_new(p->dir, p->key, sealed, KEYFILE_SIZE, KEY_SECRET_MODE));
    char line[PUBLINE_MAX + 1];
    size_t n = publine_format(line, name, pub);
    rc = write_new(p->dir, p->pub, line, n, KEY_PUBLIC_MODE);
    if (rc < 0) {
        sys_unlink(p->key); /* ours: the link above made it */
        sys_fsync_dir(p->dir);
        return rc;
    }
    key_info_fill(info, name, pub);
    return CAIRN_OK;
}

int cairn_key_generate(cairn_key_info *out, const char *dir, const char *name,
                       const char *passphrase, unsigned flags)
{
    FAIL_IF(flags & ~CAIRN_KEY_UNPROTECTED, CAIRN_EINVAL, "unknown key flags 0x%x",
            flags & ~CAIRN_KEY_UNPROTECTED);
    TRY(key_name_check(name));
    bool empty = !passphrase || !*passphrase, unprotected = flags & CAIRN_KEY_UNPROTECTED;
    FAIL_IF(empty && !unprotected, CAIRN_EINVAL,
            "key %s: an empty passphrase would leave the secret key unprotected; give a "
            "passphrase (or CAIRN_KEY_UNPROTECTED, to mean it)", name);
    FAIL_IF(!empty && unprotected, CAIRN_EINVAL,
            "key %s: CAIRN_KEY_UNPROTECTED takes no passphrase", name);
    key_paths p;
    cairn_key_info info;
    int rc = paths_make(&p, dir, name);
    if (rc == CAIRN_OK) rc = refuse_existing(&p, name);
    if (rc == CAIRN_OK) rc = mkdir_private(p.dir);
    if (rc == CAIRN_OK) rc = generate_files(&info, &p, name, empty ? "" : passphrase);
    paths_free(&p);
    if (rc == CAIRN_OK && out) *out = info;
    return rc;
}

int cairn_key_public(cairn_key_info *out, const char *dir, const char *name)
{
    key_paths p;
    cairn_key_info info;
    int rc = paths_make(&p, dir, name);
    if (rc == CAIRN_OK) rc = read_public(&info, p.pub, name, p.dir);
    paths_free(&p);
    if (rc == CAIRN_OK) *out = info;
    return rc;
}

int cairn_key_parse_public(cairn_key_info *out, const char *line)
{
    FAIL_IF(!line, CAIRN_EINVAL, "no public key line given");
    cairn_key_info info; /* *out only on success */
    TRY(publine_parse(&info, line, strlen(line), "public key line", CAIRN_EINVAL));
    *out = info;
    return CAIRN_OK;
}

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const cairn_key_info *)a)->name, ((const cairn_key_info *)b)->name);
}

/* Reads one directory entry that may be a key; *added says whether it was one. */
static int collect_one(cairn_key_info *out, bool *added, const char *dir,
                       const char *fname)
{
    size_t len = strlen(fname);
    *added = false;
    if (len <= 4 || strcmp(fname + len - 4, ".pub") != 0 || !name_ok(fname, len - 4))
        return CAIRN_OK;
    char *path = cairn_sprintf("%s/%s", dir, fname);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory listing %s", dir);
    struct stat sb;
    if (sys_stat(path, &sb) != 0) {
        int e = errno;
        free(path);
        return e == ENOENT ? CAIRN_OK : cairn_error_errno(e, "checking %s/%s", dir, fname);
    }
    if (!S_ISREG(sb.st_mode)) {
        free(path);
        return CAIRN_OK;
    }
    char name[KEY_NAME_MAX + 1];
    memcpy(name, fname, len - 4);
    name[len - 4] = '\0';
    int rc = read_public(out, path, name, dir);
    free(path);
    *added = rc == CAIRN_OK;
    return rc;
}

/* Every key of dir, unsorted; a missing directory has none. Caller frees *out. */
static int collect(cairn_key_info **out, size_t *out_n, const char *dir)
{
    *out = NULL;
    *out_n = 0;
    DIR *dp = sys_opendir(dir);
    if (!dp) return errno == ENOENT ? CAIRN_OK
                                    : cairn_error_errno(errno, "opening key directory %s", dir);
    size_t n = 0, cap = 0;
    cairn_key_info *v = NULL;
    int rc = CAIRN_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dp);
        if (!e) {
            if (errno) rc = cairn_error_errno(errno, "reading key directory %s", dir);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            cairn_key_info *nv = cairn_realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = ERR(CAIRN_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            v = nv;
        }
        bool added;
        rc = collect_one(&v[n], &added, dir, e->d_name);
        if (rc < 0) break;
        n += added;
    }
    closedir(dp);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *out_n = n;
    return CAIRN_OK;
}

int cairn_key_list(const char *dir, int (*cb)(const cairn_key_info *info, void *payload),
                   void *payload)
{
    TRY(keys_init());
    char *d;
    TRY(dir_resolve(&d, dir));
    cairn_key_info *v;
    size_t n;
    int rc = collect(&v, &n, d);
    if (rc == CAIRN_OK && n) qsort(v, n, sizeof *v, info_cmp);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = cb(&v[i], payload);
    free(v);
    free(d);
    return rc;
}

/* ---- the public API: loading secret keys ---- */

int key_load(key *out, const char *dir, const char *name, const char *passphrase)
{
    key_paths p;
    key k;
    memset(&k, 0, sizeof k);
    cairn_key_info info;
    uint8_t buf[KEYFILE_SIZE + 1];
    size_t len;
    mode_t mode = 0;
    int rc = paths_make(&p, dir, name);
    if (rc == CAIRN_OK) rc = read_public(&info, p.pub, name, p.dir);
    if (rc == CAIRN_OK && (rc = read_small(p.key, buf, sizeof buf, &len, &mode)) == CAIRN_ENOTFOUND)
        rc = ERR(CAIRN_ENOTFOUND, "key %s has no secret key here (%s does not exist): only its "
                                  "public key is in %s", name, p.key, p.dir);
    if (rc == CAIRN_OK && (mode & 077))
        cairn_diag(CAIRN_LOG_WARN, "secret key file %s can be read by others (mode %04o); "
                   "chmod 600 it", p.key, (unsigned)(mode & 07777));
    if (rc == CAIRN_OK && !(k.secret = sodium_malloc(KEY_SECRET_SIZE)))
        rc = ERR(CAIRN_ENOMEM, "out of memory for the secret key of %s", name);
    if (rc == CAIRN_OK)
        rc = keyfile_open(k.secret, buf, len, info.public_key, passphrase ? passphrase : "",
                          NULL, name, p.key);
    paths_free(&p);
    if (rc < 0) {
        key_dispose(&k);
        return rc;
    }
    sodium_mprotect_readonly(k.secret);
    snprintf(k.name, sizeof k.name, "%s", name);
    memcpy(k.pub, info.public_key, SIG_PUBLIC_SIZE);
    *out = k;
    return CAIRN_OK;
}

void key_dispose(key *k)
{
    if (k->secret) sodium_free(k->secret); /* wipes it */
    k->secret = NULL;
}

int cairn_key_check_passphrase(const char *dir, const char *name, const char *passphrase)
{
    key k;
    TRY(key_load(&k, dir, name, passphrase));
    key_dispose(&k);
    return CAIRN_OK;
}

int cairn_signer_open(cairn_signer **out, const char *dir, const char *name,
                      const char *passphrase)
{
    cairn_signer *s = cairn_calloc(1, sizeof *s);
    FAIL_IF(!s, CAIRN_ENOMEM, "out of memory loading key %s", name ? name : "");
    int rc = key_load(&s->k, dir, name, passphrase);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return CAIRN_OK;
}

int cairn_signer_new(cairn_signer **out, const char *name, const cairn_signer_methods *methods,
                     void *payload)
{
    FAIL_IF(!out || !methods || !methods->sign, CAIRN_EINVAL,
            "cairn_signer_new: out, methods and methods->sign are required");
    FAIL_IF(methods->version != CAIRN_SIGNER_METHODS_VERSION, CAIRN_EINVAL,
            "cairn_signer_new: methods version %u; this library knows version %u", methods->version,
            (unsigned)CAIRN_SIGNER_METHODS_VERSION);
    if (!name) name = "custom";
    TRY(key_name_check(name));
    cairn_signer *s = cairn_calloc(1, sizeof *s);
    FAIL_IF(!s, CAIRN_ENOMEM, "out of memory making signer %s", name);
    snprintf(s->k.name, sizeof s->k.name, "%s", name);
    s->custom = true;
    s->m = *methods;
    s->payload = payload;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return CAIRN_OK;
}

void cairn_signer_info(cairn_key_info *out, const cairn_signer *signer)
{
    if (!signer->custom) {
        key_info_fill(out, signer->k.name, signer->k.pub);
        return;
    }
    uint8_t pub[SIG_PUBLIC_SIZE];
    pthread_mutex_lock((pthread_mutex_t *)&signer->mu);
    memcpy(pub, signer->k.pub, sizeof pub);
    pthread_mutex_unlock((pthread_mutex_t *)&signer->mu);
    key_info_fill(out, signer->k.name, pub);
}

void cairn_signer_close(cairn_signer *signer)
{
    if (!signer) return;
    if (signer->custom) {
        if (signer->m.free) signer->m.free(signer->payload);
        pthread_mutex_destroy(&signer->mu);
    } else {
        key_dispose(&signer->k);
    }
    free(signer);
}

/* Signs c through signer_sign_bytes(), which checks an application's signature before c
 * takes it: a signer that returns a wrong key or a broken signature fails the commit, never
 * writes it. */
static int custom_sign_commit(cairn_signer *s, commit *c)
{
    cairn_buf payload = CAIRN_BUF_INIT;
    uint8_t sig[SIG_SIZE], pub[SIG_PUBLIC_SIZE];
    int rc = commit_signing_payload(&payload, c);
    if (rc == CAIRN_OK) rc = signer_sign_bytes(s, sig, pub, payload.data, payload.len);
    if (rc == CAIRN_OK) {
        c->is_signed = true;
        memcpy(c->signer, pub, SIG_PUBLIC_SIZE);
        memcpy(c->signature, sig, SIG_SIZE);
    }
    cairn_buf_dispose(&payload);
    return rc; /* sign()'s own non-zero value as it returned it */
}

int signer_sign_bytes(cairn_signer *s, uint8_t sig[SIG_SIZE], uint8_t pub[SIG_PUBLIC_SIZE],
                      const void *data, size_t len)
{
    FAIL_IF(!s, CAIRN_EINVAL, "no signer given");
    TRY(keys_init());
    if (!s->custom) {
        FAIL_IF(!s->k.secret, CAIRN_EINVAL, "key %s has no secret key loaded: it cannot sign",
                s->k.name);
        crypto_sign_detached(sig, NULL, data, len, s->k.secret);
        memcpy(pub, s->k.pub, SIG_PUBLIC_SIZE);
        return CAIRN_OK;
    }
    int rc = s->m.sign(sig, pub, data, len, s->payload);
    if (rc == CAIRN_OK && crypto_sign_verify_detached(sig, data, len, pub) != 0)
        rc = ERR(CAIRN_EAUTH, "signer %s returned a signature that does not verify under the "
                              "public key it returned; nothing was written", s->k.name);
    if (rc == CAIRN_OK) {
        pthread_mutex_lock(&s->mu);
        memcpy(s->k.pub, pub, SIG_PUBLIC_SIZE);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

int key_verify_bytes(const uint8_t sig[SIG_SIZE], const uint8_t pub[SIG_PUBLIC_SIZE],
                     const void *data, size_t len)
{
    TRY(keys_init());
    return crypto_sign_verify_detached(sig, data, len, pub) == 0 ? SIG_GOOD : SIG_BAD;
}

/* ---- signatures and trust ---- */

int key_sign_commit(const key *k, commit *c)
{
    FAIL_IF(!k->secret, CAIRN_EINVAL, "key %s has no secret key loaded: it cannot sign", k->name);
    cairn_buf payload = CAIRN_BUF_INIT;
    uint8_t sig[SIG_SIZE];
    int rc = commit_signing_payload(&payload, c);
    if (rc == CAIRN_OK) {
        crypto_sign_detached(sig, NULL, payload.data, payload.len, k->secret);
        c->is_signed = true;
        memcpy(c->signer, k->pub, SIG_PUBLIC_SIZE);
        memcpy(c->signature, sig, SIG_SIZE);
    }
    cairn_buf_dispose(&payload);
    return rc;
}

int key_verify_commit(const commit *c)
{
    if (!c->is_signed) return SIG_NONE;
    TRY(keys_init());
    cairn_buf payload = CAIRN_BUF_INIT;
    int rc = commit_signing_payload(&payload, c);
    if (rc == CAIRN_OK)
        rc = crypto_sign_verify_detached(c->signature, payload.data, payload.len, c->signer) == 0
                 ? SIG_GOOD
                 : SIG_BAD;
    cairn_buf_dispose(&payload);
    return rc;
}

int trust_list_contains(const trusted_key *list, size_t n, const uint8_t pub[SIG_PUBLIC_SIZE])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(list[i].public_key, pub, SIG_PUBLIC_SIZE) == 0) return 1;
    return 0;
}

int key_commit_trust(const commit *c, const trusted_key *list, size_t n)
{
    int s = key_verify_commit(c);
    if (s < 0) return s;
    if (s == SIG_NONE) return CAIRN_SIG_NONE;
    if (s == SIG_BAD) return CAIRN_SIG_BAD;
    return trust_list_contains(list, n, c->signer) ? CAIRN_SIG_GOOD : CAIRN_SIG_UNKNOWN;
}

int signer_sign_commit(cairn_signer *signer, commit *c)
{
    FAIL_IF(!signer, CAIRN_EINVAL, "no signer given");
    if (signer->custom) return custom_sign_commit(signer, c);
    return key_sign_commit(&signer->k, c);
}

/* ---- the public API: listing keys, damaged files included ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Adds the key name of directory entry fname to v when it is a regular file NAME.pub. */
static int scan_add(char ***v, size_t *n, size_t *cap, const char *dir, const char *fname)
{
    size_t len = strlen(fname);
    if (len <= 4 || strcmp(fname + len - 4, ".pub") != 0 || !name_ok(fname, len - 4))
        return CAIRN_OK;
    char *path = cairn_sprintf("%s/%s", dir, fname);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory listing %s", dir);
    struct stat sb;
    bool regular = sys_stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    free(path);
    if (!regular) return CAIRN_OK; /* vanished, or not a file: not a key */
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        char **nv = cairn_realloc(*v, ncap * sizeof *nv);
        FAIL_IF(!nv, CAIRN_ENOMEM, "out of memory listing %s", dir);
        *v = nv;
        *cap = ncap;
    }
    char *name = cairn_strdup(fname);
    FAIL_IF(!name, CAIRN_ENOMEM, "out of memory listing %s", dir);
    name[len - 4] = '\0';
    (*v)[(*n)++] = name;
    return CAIRN_OK;
}

/* The names of the keys (NAME.pub regular files) of dir, sorted; a missing directory has none.
 * Caller frees with names_free(). */
static int scan_names(char ***out, size_t *out_n, const char *dir)
{
    *out = NULL;
    *out_n = 0;
    DIR *dp = sys_opendir(dir);
    if (!dp) return errno == ENOENT ? CAIRN_OK
                                    : cairn_error_errno(errno, "opening key directory %s", dir);
    size_t n = 0, cap = 0;
    char **v = NULL;
    int rc = CAIRN_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dp);
        if (!e) {
            if (errno) rc = cairn_error_errno(errno, "reading key directory %s", dir);
            break;
        }
        if ((rc = scan_add(&v, &n, &cap, dir, e->d_name)) < 0) break;
    }
    closedir(dp);
    if (rc < 0) {
        names_free(v, n);
        return rc;
    }
    if (n) qsort(v, n, sizeof *v, name_cmp);
    *out = v;
    *out_n = n;
    return CAIRN_OK;
}

/* Checks NAME.key without a passphrase: *state is enum cairn_key_secret; a damaged file's
 * message goes into msg (caller frees). pub is NULL when NAME.pub could not be read. */
static int scan_secret(int *state, char **msg, const key_paths *p, const char *name,
                       const cairn_key_info *pub)
{
    uint8_t buf[KEYFILE_SIZE + 1];
    size_t len = 0;
    *msg = NULL;
    int rc = read_small(p->key, buf, sizeof buf, &len, NULL);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        *state = CAIRN_KEY_SECRET_NONE;
        return CAIRN_OK;
    }
    kdf_limits def = key_kdf_limits_default();
    if (rc == CAIRN_OK) rc = keyfile_check_header(buf, len, &def, p->key);
    if (rc == CAIRN_OK && pub && buf[KEYFILE_OFF_KDF] == KEYFILE_KDF_UNPROTECTED) {
        uint8_t *sk = sodium_malloc(KEY_SECRET_SIZE);
        rc = sk ? keyfile_open(sk, buf, len, pub->public_key, "", NULL, name, p->key)
                : ERR(CAIRN_ENOMEM, "out of memory checking %s", p->key);
        if (sk) sodium_free(sk);
    }
    if (rc == CAIRN_ENOMEM) return rc;
    *state = rc == CAIRN_OK ? CAIRN_KEY_SECRET_OK : CAIRN_KEY_SECRET_DAMAGED;
    if (rc != CAIRN_OK && !(*msg = cairn_strdup(cairn_error_last()->message)))
        return ERR(CAIRN_ENOMEM, "out of memory listing keys");
    cairn_error_clear();
    return CAIRN_OK;
}

/* Reads the two files of key name and reports them to cb. */
static int scan_one(const char *dir, const char *name,
                    int (*cb)(const cairn_key_entry *, void *), void *payload)
{
    key_paths p;
    int rc = paths_make(&p, dir, name);
    cairn_key_info info;
    cairn_key_entry e = { name, NULL, CAIRN_OK, NULL, CAIRN_KEY_SECRET_NONE, NULL };
    char *pub_msg = NULL, *sec_msg = NULL;
    if (rc == CAIRN_OK) {
        e.pub_error = read_public(&info, p.pub, name, p.dir);
        if (e.pub_error == CAIRN_OK) e.info = &info;
        else if (e.pub_error == CAIRN_ENOMEM) rc = e.pub_error;
        else if (!(e.pub_message = pub_msg = cairn_strdup(cairn_error_last()->message)))
            rc = ERR(CAIRN_ENOMEM, "out of memory listing keys");
        cairn_error_clear();
    }
    if (rc == CAIRN_OK) rc = scan_secret(&e.secret, &sec_msg, &p, name, e.info);
    e.secret_message = sec_msg;
    if (rc == CAIRN_OK) rc = cb(&e, payload);
    free(pub_msg);
    free(sec_msg);
    paths_free(&p);
    return rc;
}

int cairn_key_scan(const char *dir, int (*cb)(const cairn_key_entry *entry, void *payload),
                   void *payload)
{
    TRY(keys_init());
    char *d;
    TRY(dir_resolve(&d, dir));
    char **names;
    size_t n;
    int rc = scan_names(&names, &n, d);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = scan_one(d, names[i], cb, payload);
    names_free(names, n);
    free(d);
    return rc;
}
