/*
 * fuzz_keyfile.c - secret key files and public key lines from arbitrary bytes.
 *
 * Each input is opened as a NAME.key file of a fixed key pair with a fixed passphrase: the
 * decoder must reject it or open it without crashing, and it may only open a file whose seal
 * really verifies. Every key it opens is checked again here with libsodium directly (derive,
 * open, compare) and must be the fixed pair's secret key. The same bytes are parsed as a .pub
 * line; a line that parses formats back to exactly itself.
 *
 * Key derivation is capped far below the library's limits (ops <= 4, 64 KiB), so that time goes
 * into the parser rather than into Argon2id. The corpus (corpus/keyfile/) holds files sealed for
 * the fixed pair with small limits, damaged copies, and .pub lines; rebuild it with
 *   FUZZ_KEYFILE_WRITE_CORPUS=DIR ./fuzz_keyfile
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "corpus_file.h"
#include "repo/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_PASS "fuzz passphrase"
#define FUZZ_SEED_BYTE 0x2a

static uint8_t fixed_pub[SIG_PUBLIC_SIZE], fixed_secret[KEY_SECRET_SIZE];
static const kdf_limits fuzz_limits = { 4, 64, 4 * 64 };

/* A sealed file with ops/kib, then one change: byte `at` set to `val` (at < 0: none). */
static void write_variant(const char *dir, const char *name, const char *pass, uint32_t ops,
                          uint32_t kib, size_t len, int at, uint8_t val)
{
    uint8_t f[KEYFILE_SIZE + 1] = { 0 };
    key_kdf kdf = { ops, kib };
    if (keyfile_seal(f, fixed_secret, fixed_pub, pass, &kdf) != CAIRN_OK) abort();
    if (at >= 0) f[at] = val;
    corpus_write(dir, name, f, len);
}

static void write_corpus(const char *dir)
{
    write_variant(dir, "valid_8k", FUZZ_PASS, 1, 8, KEYFILE_SIZE, -1, 0);
    write_variant(dir, "valid_64k_ops2", FUZZ_PASS, 2, 64, KEYFILE_SIZE, -1, 0);
    write_variant(dir, "other_passphrase", "", 1, 8, KEYFILE_SIZE, -1, 0);
    write_variant(dir, "truncated", FUZZ_PASS, 1, 8, 100, -1, 0);
    write_variant(dir, "extra_byte", FUZZ_PASS, 1, 8, KEYFILE_SIZE + 1, -1, 0);
    write_variant(dir, "bad_magic", FUZZ_PASS, 1, 8, KEYFILE_SIZE, 0, 'X');
    write_variant(dir, "version_2", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_OFF_VERSION, 2);
    write_variant(dir, "kdf_2", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_OFF_KDF, 2);
    write_variant(dir, "hostile_ops", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_OFF_OPS + 1, 0xff);
    write_variant(dir, "hostile_mem", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_OFF_MEM + 3, 0xff);
    write_variant(dir, "flipped_salt", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_OFF_SALT, 0);
    write_variant(dir, "flipped_tag", FUZZ_PASS, 1, 8, KEYFILE_SIZE, KEYFILE_SIZE - 1, 0);
    corpus_write(dir, "empty", "", 0);
    char line[PUBLINE_MAX + 1];
    size_t n = publine_format(line, "fuzz", fixed_pub);
    corpus_write(dir, "pub_valid", line, n);
    corpus_write(dir, "pub_no_newline", line, n - 1);
    line[20] = 'A';
    corpus_write(dir, "pub_upper_hex", line, n);
    n = publine_format(line, "bad/name", fixed_pub);
    corpus_write(dir, "pub_bad_name", line, n);
    uint8_t zero[SIG_PUBLIC_SIZE] = { 0 };
    n = publine_format(line, "small-order", zero);
    corpus_write(dir, "pub_small_order", line, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (keys_init() != CAIRN_OK) abort();
    uint8_t seed[32];
    memset(seed, FUZZ_SEED_BYTE, sizeof seed);
    crypto_sign_seed_keypair(fixed_pub, fixed_secret, seed);
    const char *dir = getenv("FUZZ_KEYFILE_WRITE_CORPUS");
    if (dir) {
        write_corpus(dir);
        exit(0);
    }
    return 0;
}

/* An opened file must really verify, by libsodium alone, and hold the fixed secret key. */
static void check_opened(const uint8_t *data, const uint8_t *secret)
{
    uint8_t k[32], ad[KEYFILE_OFF_NONCE + SIG_PUBLIC_SIZE], plain[KEY_SECRET_SIZE];
    if (crypto_pwhash(k, sizeof k, FUZZ_PASS, strlen(FUZZ_PASS), data + KEYFILE_OFF_SALT,
                      load_le32(data + KEYFILE_OFF_OPS),
                      (size_t)load_le32(data + KEYFILE_OFF_MEM) * 1024,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        abort();
    memcpy(ad, data, KEYFILE_OFF_NONCE);
    memcpy(ad + KEYFILE_OFF_NONCE, fixed_pub, SIG_PUBLIC_SIZE);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, data + KEYFILE_OFF_CIPHER,
                                                   KEY_SECRET_SIZE + KEYFILE_TAG_SIZE, ad,
                                                   sizeof ad, data + KEYFILE_OFF_NONCE, k) != 0)
        abort(); /* accepted a seal that does not verify */
    if (memcmp(plain, secret, KEY_SECRET_SIZE) != 0) abort();
    if (memcmp(secret, fixed_secret, KEY_SECRET_SIZE) != 0) abort();
}

static void check_publine(const uint8_t *data, size_t size)
{
    cairn_key_info info;
    if (publine_parse(&info, (const char *)data, size, "fuzz.pub", CAIRN_ECORRUPT) != CAIRN_OK)
        return;
    char line[PUBLINE_MAX + 1];
    size_t n = publine_format(line, info.name, info.public_key);
    size_t want = size && data[size - 1] == '\n' ? size : size + 1; /* with its newline */
    if (n != want || memcmp(line, data, size) != 0) abort();
    char fpr[KEY_FPR_LEN + 1];
    key_fingerprint(fpr, info.public_key);
    if (strcmp(fpr, info.fingerprint) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *secret = sodium_malloc(KEY_SECRET_SIZE);
    if (!secret) abort();
    int rc = keyfile_open(secret, data, size, fixed_pub, FUZZ_PASS, &fuzz_limits, "fuzz",
                          "fuzz.key");
    if (rc == CAIRN_OK) check_opened(data, secret);
    else if (rc != CAIRN_EAUTH && rc != CAIRN_ECORRUPT) abort();
    sodium_free(secret);
    check_publine(data, size);
    return 0;
}
