/*
 * frame.c - the stored form of a chunk (docs/FORMAT.md, "Chunk frame"):
 *
 *   u8 frame version (1) | u8 codec | varint plaintext length | payload
 *
 * codec 0 stores the plaintext as is; codec 1 stores a zstd frame. New chunks are compressed
 * only when that saves at least 1/32 of the size, so incompressible data costs one
 * compression attempt and no decompression on every later read.
 *
 * Compression contexts are per thread (creating one costs more than compressing a node).
 */
#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "base/varint.h"
#include "chunk.h"

#define FRAME_VERSION 1
#define FRAME_HDR_MAX (2 + VARINT_MAX)
_Static_assert(FRAME_HDR_MAX <= CHUNK_HEADROOM, "a raw frame header must fit in the headroom");

static pthread_key_t cctx_key, dctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void free_cctx(void *p) { ZSTD_freeCCtx(p); }
static void free_dctx(void *p) { ZSTD_freeDCtx(p); }
static void make_keys(void)
{
    pthread_key_create(&cctx_key, free_cctx);
    pthread_key_create(&dctx_key, free_dctx);
}

static ZSTD_CCtx *thread_cctx(void)
{
    pthread_once(&ctx_once, make_keys);
    ZSTD_CCtx *c = pthread_getspecific(cctx_key);
    if (!c && (c = ZSTD_createCCtx()) != NULL) pthread_setspecific(cctx_key, c);
    return c;
}

static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&ctx_once, make_keys);
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) != NULL) pthread_setspecific(dctx_key, d);
    return d;
}

/* Compressibility estimate (after btrfs's heuristic): four 128-byte slices spread over the
 * chunk; a slice whose collision count sum(c_i^2) over byte values is near what random bytes
 * give (n + n(n-1)/256 = 191) looks random. When three of four do, the chunk is mostly random
 * (a tree node of random keys and values has a structured header and offset arrays at the
 * front, hence three, not four) and zstd could save little: it is stored raw. Cost ~0.3 us,
 * against the 3-4 us zstd spends failing to compress 4 KiB of random data. */
#define SAMPLE_SLICES 4
#define SAMPLE_SLICE 128
#define SLICE_RANDOM_MAX 300
#define RANDOM_SLICES_MIN 3

bool frame_looks_random(const uint8_t *data, size_t len)
{
    if (len < SAMPLE_SLICES * SAMPLE_SLICE * 2) return false;
    size_t step = (len - SAMPLE_SLICE) / (SAMPLE_SLICES - 1), random = 0;
    for (size_t s = 0; s < SAMPLE_SLICES; s++) {
        uint8_t hist[256] = { 0 };
        const uint8_t *p = data + s * step;
        uint32_t sum = 0;
        for (size_t i = 0; i < SAMPLE_SLICE; i++) sum += 2u * hist[p[i]]++ + 1; /* += c^2 - (c-1)^2 */
        random += sum < SLICE_RANDOM_MAX;
    }
    return random >= RANDOM_SLICES_MIN;
}

/* Compresses into out after a header; returns false when raw storage is the better choice. */
static int try_zstd(cairn_buf *out, const void *data, size_t len, int level, bool *done)
{
    *done = false;
    if (level < 0 || len < 64 || frame_looks_random(data, len)) return CAIRN_OK;
    size_t bound = ZSTD_compressBound(len);
    TRY(cairn_buf_reserve(out, FRAME_HDR_MAX + bound));
    uint8_t *p = out->data;
    size_t hdr = 2 + varint_put(p + 2, len);
    ZSTD_CCtx *cctx = thread_cctx();
    FAIL_IF(!cctx, CAIRN_ENOMEM, "out of memory creating a zstd context");
    size_t z = ZSTD_compressCCtx(cctx, p + hdr, bound, data, len, level ? level : 1);
    if (ZSTD_isError(z) || z >= len - len / 32) return CAIRN_OK;
    p[0] = FRAME_VERSION;
    p[1] = FRAME_ZSTD;
    out->len = hdr + z;
    *done = true;
    return CAIRN_OK;
}

static size_t raw_header(uint8_t *p, size_t len)
{
    p[0] = FRAME_VERSION;
    p[1] = FRAME_RAW;
    return 2 + varint_put(p + 2, len);
}

int frame_encode(cairn_buf *out, const void *data, size_t len, int level)
{
    FAIL_IF(len > CHUNK_MAX_SIZE, CAIRN_EINVAL, "chunk of %zu bytes is over the %u byte limit",
            len, CHUNK_MAX_SIZE);
    bool done;
    TRY(try_zstd(out, data, len, level, &done));
    if (done) return CAIRN_OK;
    TRY(cairn_buf_reserve(out, FRAME_HDR_MAX + len));
    size_t hdr = raw_header(out->data, len);
    if (len) memcpy(out->data + hdr, data, len);
    out->len = hdr + len;
    return CAIRN_OK;
}

int frame_encode_chunk(const uint8_t **out, size_t *out_len, cairn_buf *buf, chunk *c, int level)
{
    FAIL_IF(c->len > CHUNK_MAX_SIZE, CAIRN_EINVAL, "chunk of %u bytes is over the %u byte limit",
            c->len, CHUNK_MAX_SIZE);
    bool done;
    TRY(try_zstd(buf, c->data, c->len, level, &done));
    if (done) {
        *out = buf->data;
        *out_len = buf->len;
        return CAIRN_OK;
    }
    uint8_t hdr[FRAME_HDR_MAX];
    size_t n = raw_header(hdr, c->len);
    uint8_t *start = c->data - n; /* n <= CHUNK_HEADROOM: the header goes in front, no copy */
    memcpy(start, hdr, n);
    *out = start;
    *out_len = n + c->len;
    return CAIRN_OK;
}

/* Parses the header; on success *codec, *plain_len and *hdr_len are set. */
static int frame_header(const uint8_t *p, size_t len, int *codec, uint64_t *plain_len,
                        size_t *hdr_len)
{
    FAIL_IF(len < 3, CAIRN_ECORRUPT, "chunk frame of %zu bytes is truncated", len);
    FAIL_IF(p[0] != FRAME_VERSION, CAIRN_ECORRUPT,
            "chunk frame version %u is not supported (this build reads version %u)", p[0],
            FRAME_VERSION);
    FAIL_IF(p[1] != FRAME_RAW && p[1] != FRAME_ZSTD, CAIRN_ECORRUPT,
            "chunk frame codec %u is unknown", p[1]);
    size_t n = varint_get(p + 2, p + len, plain_len);
    FAIL_IF(n == 0, CAIRN_ECORRUPT, "chunk frame length field is malformed");
    FAIL_IF(*plain_len > CHUNK_MAX_SIZE, CAIRN_ECORRUPT,
            "chunk frame declares %llu bytes, over the %u byte limit",
            (unsigned long long)*plain_len, CHUNK_MAX_SIZE);
    *codec = p[1];
    *hdr_len = 2 + n;
    if (*codec == FRAME_RAW)
        FAIL_IF(len - *hdr_len != *plain_len, CAIRN_ECORRUPT,
                "raw chunk frame holds %zu bytes but declares %llu", len - *hdr_len,
                (unsigned long long)*plain_len);
    return CAIRN_OK;
}

static int frame_decode_into(uint8_t *dst, const uint8_t *p, size_t len, int codec,
                             uint64_t plain_len, size_t hdr)
{
    if (codec == FRAME_RAW) {
        if (plain_len) memcpy(dst, p + hdr, plain_len);
        return CAIRN_OK;
    }
    ZSTD_DCtx *d = thread_dctx();
    FAIL_IF(!d, CAIRN_ENOMEM, "out of memory creating a zstd context");
    unsigned long long fcs = ZSTD_getFrameContentSize(p + hdr, len - hdr);
    FAIL_IF(fcs == ZSTD_CONTENTSIZE_ERROR || (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != plain_len),
            CAIRN_ECORRUPT, "zstd chunk frame is malformed or has the wrong size");
    size_t z = ZSTD_decompressDCtx(d, dst, plain_len, p + hdr, len - hdr);
    FAIL_IF(ZSTD_isError(z), CAIRN_ECORRUPT, "zstd chunk frame does not decompress: %s",
            ZSTD_getErrorName(z));
    FAIL_IF(z != plain_len, CAIRN_ECORRUPT, "zstd chunk frame gives %zu bytes, declares %llu", z,
            (unsigned long long)plain_len);
    return CAIRN_OK;
}

int frame_decode(cairn_buf *out, const void *frame, size_t len)
{
    int codec;
    uint64_t plain_len;
    size_t hdr;
    TRY(frame_header(frame, len, &codec, &plain_len, &hdr));
    TRY(cairn_buf_reserve(out, plain_len));
    TRY(frame_decode_into(out->data, frame, len, codec, plain_len, hdr));
    out->len = plain_len;
    return CAIRN_OK;
}

int frame_decode_chunk(chunk **out, const void *frame, size_t len, bool in_place)
{
    int codec;
    uint64_t plain_len;
    size_t hdr;
    TRY(frame_header(frame, len, &codec, &plain_len, &hdr));
    if (in_place && codec == FRAME_RAW) {
        chunk *c = chunk_alloc_ref((const uint8_t *)frame + hdr, plain_len);
        if (!c) return CAIRN_ENOMEM;
        *out = c;
        return CAIRN_OK;
    }
    chunk *c = chunk_alloc(plain_len);
    if (!c) return CAIRN_ENOMEM;
    int rc = frame_decode_into(c->data, frame, len, codec, plain_len, hdr);
    if (rc < 0) {
        chunk_release(c);
        return rc;
    }
    *out = c;
    return CAIRN_OK;
}
