/*
 * hash.h - the hash functions cairn uses: SHA-256 for chunk ids (OpenSSL, SHA-NI where the CPU
 * has it), XXH3 for chunk boundaries and record checksums, CRC32C for log records.
 */
#ifndef CAIRN_HASH_H
#define CAIRN_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/** SHA-256 of data into out. Thread-safe. */
void hash_sha256(cairn_id *out, const void *data, size_t len);

/** Incremental SHA-256 over several pieces (pieces[i], lens[i]). */
void hash_sha256_v(cairn_id *out, const void *const *pieces, const size_t *lens, size_t n);

/** XXH3-64 with a seed. */
uint64_t hash_xxh3(const void *data, size_t len, uint64_t seed);

/** CRC-32C of data, continuing from crc (0 to start). Hardware-accelerated where possible. */
uint32_t hash_crc32c(uint32_t crc, const void *data, size_t len);
/** The same, always by table (tests compare the two). */
uint32_t hash_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif /* CAIRN_HASH_H */
