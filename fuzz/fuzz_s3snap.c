/*
 * fuzz_s3snap.c - the s3 store's snapshot decoder (src/store/s3_snap.c, s3_snap_decode) must
 * reject or decode any bytes without crashing or reading outside them. What it accepts must be
 * canonical: encoding the decoded packs and chunks again (s3_snap_encode) gives the input back,
 * byte for byte, so that two writers snapshotting the same log entry write the same object.
 * Each input is tried as it is and with its last 8 bytes replaced by the right XXH3, so that
 * mutations reach the checks behind the checksum.
 *
 * The corpus (corpus/s3snap/) holds snapshots written by the encoder (empty, one chunk, several
 * packs and chunks, a long pack name, a zero-length chunk) and damaged copies; rebuild it with
 *   FUZZ_S3SNAP_WRITE_CORPUS=DIR ./fuzz_s3snap
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "base/hash.h"
#include "corpus_file.h"
#include "store/s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void check(const uint8_t *data, size_t size)
{
    s3_snap_view v;
    if (s3_snap_decode(&v, data, size, "fuzz") != CAIRN_OK) return;
    if (v.nchunks > size / S3_LOG_ADD_SIZE || v.npacks > size) abort();
    s3_pack *packs = calloc(v.npacks ? v.npacks : 1, sizeof *packs);
    s3_loc *locs = calloc(v.nchunks ? v.nchunks : 1, sizeof *locs);
    if (!packs || !locs) abort();
    const uint8_t *p = v.names;
    for (uint32_t i = 0; i < v.npacks; i++) {
        uint16_t len = load_le16(p);
        packs[i].name = cairn_strndup((const char *)p + 2, len);
        packs[i].size = load_le64(p + 2 + len);
        if (!packs[i].name) abort();
        p += S3_LOG_PACK_FIXED + len;
    }
    for (uint64_t i = 0; i < v.nchunks; i++) {
        const uint8_t *c = v.chunks + i * S3_LOG_ADD_SIZE;
        memcpy(locs[i].key.bytes, c, CAIRN_ID_SIZE);
        locs[i].pack = load_le32(c + 32);
        locs[i].off = load_le64(c + 36);
        locs[i].len = load_le32(c + 44);
        locs[i].check = load_le64(c + 48);
        if (locs[i].pack >= v.npacks) abort();
    }
    cairn_buf again = CAIRN_BUF_INIT;
    int rc = s3_snap_encode(&again, v.seq, packs, v.npacks, locs, v.nchunks);
    if (rc != CAIRN_OK || again.len != size || memcmp(again.data, data, size) != 0) abort();
    cairn_buf_dispose(&again);
    for (uint32_t i = 0; i < v.npacks; i++) free(packs[i].name);
    free(packs);
    free(locs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < S3_CHECK_SIZE) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) abort();
    memcpy(fixed, data, size);
    store_le64(fixed + size - S3_CHECK_SIZE, hash_xxh3(fixed, size - S3_CHECK_SIZE, 0));
    check(fixed, size);
    free(fixed);
    return 0;
}

/* A snapshot of n chunks spread over the packs named, at sequence seq. */
static void write_snap(const char *dir, const char *name, uint64_t seq, const char *const *names,
                       uint32_t npacks, size_t n, int damage)
{
    s3_pack packs[8];
    s3_loc *locs = calloc(n ? n : 1, sizeof *locs);
    if (!locs || npacks > 8) exit(1);
    for (uint32_t i = 0; i < npacks; i++) packs[i] = (s3_pack){ (char *)names[i], 4096 + i };
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < CAIRN_ID_SIZE; b++) locs[i].key.bytes[b] = (uint8_t)(i * 7 + b);
        locs[i].key.bytes[0] = (uint8_t)(i * 256 / (n ? n : 1)); /* ascending */
        locs[i].key.bytes[1] = (uint8_t)i;
        locs[i].pack = npacks ? (uint32_t)(i % npacks) : 0;
        locs[i].off = S3_PACK_HEADER_SIZE + 100 * i;
        locs[i].len = (uint32_t)(i % 5 ? 100 : 0);
        locs[i].check = 0x9e3779b97f4a7c15ull * (i + 1);
    }
    cairn_buf b = CAIRN_BUF_INIT;
    if (s3_snap_encode(&b, seq, packs, npacks, locs, n) != CAIRN_OK) exit(1);
    if (damage >= 0 && (size_t)damage < b.len) b.data[damage] ^= 0x20;
    corpus_write(dir, name, b.data, b.len);
    cairn_buf_dispose(&b);
    free(locs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_S3SNAP_WRITE_CORPUS");
    if (!dir) return 0;
    static const char *const names[] = { "packs/0a9f3c1e5b7d2f4860a1c3e5b7d9f102.pack",
                                         "packs/5c2e8a4f6b1d3e7092a4c6e8f0b2d416.pack",
                                         "packs/e1d3f5a7c9b2d4f6081a3c5e7f9b1d35.pack" };
    static const char *const longname[] = { "packs/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.pack" };
    write_snap(dir, "empty", 1, NULL, 0, 0, -1);
    write_snap(dir, "one_chunk", 100, names, 1, 1, -1);
    write_snap(dir, "three_packs", 2000, names, 3, 40, -1);
    write_snap(dir, "long_name", 7, longname, 1, 3, -1);
    write_snap(dir, "zero_length_chunks", 12, names, 2, 10, -1);
    write_snap(dir, "damaged_body", 100, names, 3, 6, S3_SNAP_HEADER_SIZE + 20);
    write_snap(dir, "damaged_header", 100, names, 3, 6, 13);
    fprintf(stderr, "wrote the s3snap corpus to %s\n", dir);
    exit(0);
}
