/*
 * hash.c - SHA-256 from OpenSSL, and XXH3 from libxxhash.
 *
 * SHA-256 goes through OpenSSL's low-level SHA256_* functions where the build has them: they
 * run the same assembly as the EVP digest, with no fetch, no provider and no configuration
 * file. The first EVP fetch of a process initialises OpenSSL (reads openssl.cnf, loads the
 * default provider): 1.5-3 ms, more than opening a repository and reading a key should cost
 * (measured with a cold process: 0.07 ms for the first low-level hash). Without them (an
 * OpenSSL built with no deprecated interfaces) it is the EVP interface with one digest
 * context per thread (creating a context per call costs more than hashing a small chunk;
 * freed when the thread exits).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init and friends: deprecated, not removed */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>

#include "base.h"
#include "hash.h"

#ifndef OPENSSL_NO_DEPRECATED_3_0

void hash_sha256_v(cairn_id *out, const void *const *pieces, const size_t *lens, size_t n)
{
    SHA256_CTX ctx;
    if (SHA256_Init(&ctx) != 1) abort(); /* cannot report: hashing has no failure path */
    for (size_t i = 0; i < n; i++)
        if (lens[i] && SHA256_Update(&ctx, pieces[i], lens[i]) != 1) abort();
    if (SHA256_Final(out->bytes, &ctx) != 1) abort();
}

#else

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static const EVP_MD *sha256_md; /* set once under md_once; immutable afterwards */

static void free_md(void *p) { EVP_MD_CTX_free(p); }
static void make_md_key(void)
{
    /* An explicitly fetched digest skips the implicit fetch that every EVP_DigestInit_ex()
     * does for EVP_sha256(). It lives as long as the process. */
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md) sha256_md = EVP_sha256();
    pthread_key_create(&md_key, free_md); /* freed when the thread exits */
}

static EVP_MD_CTX *md_ctx(void)
{
    pthread_once(&md_once, make_md_key);
    EVP_MD_CTX *ctx = pthread_getspecific(md_key);
    if (UNLIKELY(!ctx)) {
        ctx = EVP_MD_CTX_new();
        if (!ctx) abort(); /* cannot report: hashing has no failure path */
        pthread_setspecific(md_key, ctx);
    }
    return ctx;
}

void hash_sha256_v(cairn_id *out, const void *const *pieces, const size_t *lens, size_t n)
{
    EVP_MD_CTX *ctx = md_ctx();
    unsigned int olen = 0;
    if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1) abort();
    for (size_t i = 0; i < n; i++)
        if (lens[i] && EVP_DigestUpdate(ctx, pieces[i], lens[i]) != 1) abort();
    if (EVP_DigestFinal_ex(ctx, out->bytes, &olen) != 1 || olen != CAIRN_ID_SIZE) abort();
}

#endif

void hash_sha256(cairn_id *out, const void *data, size_t len)
{
    hash_sha256_v(out, &data, &len, 1);
}

uint64_t hash_xxh3(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}
