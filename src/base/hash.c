/*
 * hash.c - SHA-256 through OpenSSL's EVP interface with one digest context per thread (creating
 * a context per call costs more than hashing a small chunk), and XXH3 from libxxhash.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <xxhash.h>

#include "base.h"
#include "hash.h"

static _Thread_local EVP_MD_CTX *tls_md_ctx;
static const EVP_MD *sha256_md; /* fetched once; immutable afterwards */

static EVP_MD_CTX *md_ctx(void)
{
    if (UNLIKELY(!tls_md_ctx)) {
        if (!sha256_md) sha256_md = EVP_sha256();
        tls_md_ctx = EVP_MD_CTX_new();
        if (!tls_md_ctx) abort(); /* cannot report: hashing has no failure path */
    }
    return tls_md_ctx;
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

void hash_sha256(cairn_id *out, const void *data, size_t len)
{
    hash_sha256_v(out, &data, &len, 1);
}

uint64_t hash_xxh3(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}
