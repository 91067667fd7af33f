/*
 * test_chunk.c - frames, the verified cache and the chunk store over the mem backend.
 */
#include "base/hash.h"
#include "base/varint.h"
#include "chunk/chunk.h"
#include "store/store.h"
#include "test.h"

/* hex_encode (four bytes at a time, then one at a time) against snprintf's %02x: every byte
 * value, every length up to 64 and every start within a word; cairn_id_from_hex reads it back. */
static void hex_encode_matches_printf(void)
{
    uint8_t b[256 + 8];
    for (int i = 0; i < (int)sizeof b; i++) b[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 256; i++) b[i] = (uint8_t)i;
    char got[2 * sizeof b + 1], want[2 * sizeof b + 1];
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 256 && off + n <= sizeof b; n += n < 64 ? 1 : 64) {
            hex_encode(got, b + off, n);
            for (size_t i = 0; i < n; i++) snprintf(want + 2 * i, 3, "%02x", b[off + i]);
            want[2 * n] = '\0';
            CHECK_STR(got, want);
        }
    cairn_id id, back;
    memcpy(id.bytes, b + 200, CAIRN_ID_SIZE);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &id);
    CHECK_OK(cairn_id_from_hex(&back, hex));
    CHECK(memcmp(id.bytes, back.bytes, CAIRN_ID_SIZE) == 0);
}

/* id_from_lower_hex reads back what hex_encode writes, every byte value in every place, and
 * refuses any byte but 0-9a-f in any of the 64 places (upper case too: not as cairn writes). */
static void lower_hex_reads_back(void)
{
    cairn_id id, back;
    char hex[CAIRN_ID_HEX_SIZE];
    for (int v = 0; v < 256; v++) {
        for (int i = 0; i < CAIRN_ID_SIZE; i++) id.bytes[i] = (uint8_t)(v + i * 37);
        cairn_id_to_hex(hex, &id);
        CHECK(id_from_lower_hex(&back, hex));
        CHECK(memcmp(id.bytes, back.bytes, CAIRN_ID_SIZE) == 0);
    }
    int refused = 0, accepted = 0;
    for (int place = 0; place < 2 * CAIRN_ID_SIZE; place++)
        for (int c = 0; c < 256; c++) {
            char h[CAIRN_ID_HEX_SIZE];
            memcpy(h, hex, sizeof h);
            h[place] = (char)c;
            bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            bool ok = id_from_lower_hex(&back, h);
            CHECK_MSG(ok == digit, "byte %d in place %d: %s", c, place, ok ? "read" : "refused");
            if (ok) {
                char again[CAIRN_ID_HEX_SIZE];
                cairn_id_to_hex(again, &back);
                CHECK(memcmp(again, h, 2 * CAIRN_ID_SIZE) == 0);
                accepted++;
            } else {
                refused++;
            }
        }
    CHECK_EQ(accepted, 2 * CAIRN_ID_SIZE * 16);
    CHECK_EQ(refused, 2 * CAIRN_ID_SIZE * 240);
}

static void varint_roundtrip(void)
{
    uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t buf[VARINT_MAX];
        size_t n = varint_put(buf, vals[i]);
        CHECK_EQ(n, varint_len(vals[i]));
        uint64_t v = 0;
        CHECK_EQ(varint_get(buf, buf + n, &v), n);
        CHECK(v == vals[i]);
        CHECK_EQ(varint_get(buf, buf + n - 1, &v), 0); /* truncated */
    }
    uint8_t overlong[] = { 0x80, 0x00 };
    uint64_t v;
    CHECK_EQ(varint_get(overlong, overlong + 2, &v), 0);
    uint8_t too_big[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    CHECK_EQ(varint_get(too_big, too_big + 10, &v), 0);
}

static void sha256_known_answer(void)
{
    cairn_id id;
    char hex[CAIRN_ID_HEX_SIZE];
    hash_sha256(&id, "abc", 3);
    cairn_id_to_hex(hex, &id);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cairn_id back;
    CHECK_OK(cairn_id_from_hex(&back, hex));
    CHECK_MEM(back.bytes, 32, id.bytes, 32);
    CHECK_RC(cairn_id_from_hex(&back, "abc"), CAIRN_EINVAL);
    CHECK_RC(cairn_id_from_hex(&back, "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
             CAIRN_EINVAL);
}

static void crc32c_known_answers(void)
{
    /* RFC 3720 B.4 test vectors */
    uint8_t zeros[32] = { 0 }, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) inc[i] = (uint8_t)i;
    CHECK(hash_crc32c(0, zeros, 32) == 0x8a9136aau);
    CHECK(hash_crc32c(0, ones, 32) == 0x62a8ab43u);
    CHECK(hash_crc32c(0, inc, 32) == 0x46dd794eu);
    CHECK(hash_crc32c(0, "123456789", 9) == 0xe3069283u);
    /* hardware and table agree on every length and alignment; pieces chain */
    uint8_t buf[300];
    uint64_t rng = test_rng(21);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)test_rand(&rng);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7) {
            uint32_t a = hash_crc32c(0, buf + off, n), b = hash_crc32c_sw(0, buf + off, n);
            CHECK(a == b);
            CHECK(hash_crc32c(hash_crc32c(0, buf + off, n / 2), buf + off + n / 2, n - n / 2) == a);
        }
}

static void frame_roundtrip(void)
{
    cairn_buf f = CAIRN_BUF_INIT, p = CAIRN_BUF_INIT;
    uint8_t data[5000];
    uint64_t rng = test_rng(1);
    for (int compressible = 0; compressible < 2; compressible++) {
        for (size_t i = 0; i < sizeof data; i++)
            data[i] = compressible ? (uint8_t)(i % 7) : (uint8_t)test_rand(&rng);
        for (int level = -1; level <= 3; level += 4) {
            CHECK_OK(frame_encode(&f, data, sizeof data, level));
            if (compressible && level > 0) CHECK(f.len < sizeof data / 2);
            CHECK_OK(frame_decode(&p, f.data, f.len));
            CHECK_MEM(p.data, p.len, data, sizeof data);
        }
    }
    CHECK_OK(frame_encode(&f, "", 0, 1));
    CHECK_OK(frame_decode(&p, f.data, f.len));
    CHECK_EQ(p.len, 0);
    cairn_buf_dispose(&f);
    cairn_buf_dispose(&p);
}

static void frame_rejects_garbage(void)
{
    cairn_buf f = CAIRN_BUF_INIT, p = CAIRN_BUF_INIT;
    const char *text = "hello hello hello hello hello hello hello hello hello hello hello hello";
    CHECK_OK(frame_encode(&f, text, strlen(text), 3));
    /* every truncation and every single-byte change either fails or decodes to other bytes,
       which the hash check above this layer rejects; none may crash or over-read */
    for (size_t cut = 0; cut < f.len; cut++) {
        int rc = frame_decode(&p, f.data, cut);
        CHECK(rc == CAIRN_ECORRUPT);
    }
    uint8_t bad_version[] = { 9, 0, 0 };
    CHECK_RC(frame_decode(&p, bad_version, 3), CAIRN_ECORRUPT);
    CHECK_ERRMSG("version");
    uint8_t bad_codec[] = { 1, 7, 0 };
    CHECK_RC(frame_decode(&p, bad_codec, 3), CAIRN_ECORRUPT);
    uint8_t huge[] = { 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f };
    CHECK_RC(frame_decode(&p, huge, sizeof huge), CAIRN_ECORRUPT);
    CHECK_ERRMSG("limit");
    cairn_buf_dispose(&f);
    cairn_buf_dispose(&p);
}

static void random_detection(void)
{
    static uint8_t buf[4096];
    uint64_t rng = test_rng(9);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)test_rand(&rng);
    CHECK(frame_looks_random(buf, sizeof buf));
    memset(buf, 0, 200); /* a structured header does not hide random content */
    CHECK(frame_looks_random(buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)"the quick brown fox "[i % 20];
    CHECK(!frame_looks_random(buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = "0123456789abcdef"[test_rand(&rng) % 16];
    CHECK(!frame_looks_random(buf, sizeof buf)); /* hex: 4 bits per byte, zstd halves it */
    memset(buf, 7, sizeof buf);
    CHECK(!frame_looks_random(buf, sizeof buf));
    CHECK(!frame_looks_random(buf, 100)); /* too short to judge: try compressing */
    /* and what is judged compressible does compress */
    cairn_buf f = CAIRN_BUF_INIT;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = "0123456789abcdef"[test_rand(&rng) % 16];
    CHECK_OK(frame_encode(&f, buf, sizeof buf, 1));
    CHECK(f.len < sizeof buf * 3 / 4);
    cairn_buf_dispose(&f);
}

static void cs_verifies_on_read(void)
{
    cairn_store *st;
    CHECK_OK(store_mem_open(&st));
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 1 << 20, 1));
    cairn_id id;
    CHECK_OK(cs_put(&cs, &id, NULL, "payload", 7));
    cairn_id expect;
    hash_sha256(&expect, "payload", 7);
    CHECK_MEM(id.bytes, 32, expect.bytes, 32);
    chunk *c;
    CHECK_OK(cs_get(&cs, &c, &id));
    CHECK_MEM(c->data, c->len, "payload", 7);
    chunk_release(c);

    /* A store that returns other bytes under an id must be caught. */
    cs_dispose(&cs);
    CHECK_OK(cs_init(&cs, st, 1 << 20, 1)); /* cold cache */
    cairn_buf f = CAIRN_BUF_INIT;
    CHECK_OK(frame_encode(&f, "PAYLOAD", 7, -1));
    CHECK_OK(st->del(st, &id));
    CHECK_OK(st->put(st, &id, f.data, f.len));
    CHECK_RC(cs_get(&cs, &c, &id), CAIRN_ECORRUPT);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &id);
    CHECK_ERRMSG(hex);
    CHECK_ERRMSG("mem");

    /* missing chunk */
    cairn_id missing;
    hash_sha256(&missing, "nope", 4);
    CHECK_RC(cs_get(&cs, &c, &missing), CAIRN_ENOTFOUND);
    cairn_buf_dispose(&f);
    cs_dispose(&cs);
    st->close(st);
}

static void cache_evicts_by_size(void)
{
    chunk_cache *cache;
    CHECK_OK(cache_new(&cache, 16 * 8192)); /* 8 KiB per shard */
    uint64_t rng = test_rng(2);
    cairn_id last;
    for (int i = 0; i < 1000; i++) {
        chunk *c = chunk_alloc(1000);
        CHECK(c != NULL);
        for (int j = 0; j < 1000; j++) c->data[j] = (uint8_t)test_rand(&rng);
        hash_sha256(&c->id, c->data, c->len);
        last = c->id;
        chunk *kept = cache_put(cache, c);
        CHECK(kept == c);
        chunk_release(kept);
        chunk_release(c);
    }
    uint64_t bytes, hits, misses;
    cache_stats(cache, &bytes, &hits, &misses);
    /* 1000 chunks of about 1 KiB went through a 128 KiB cache: it holds at most its bound (it
     * held them all without eviction), at least half of it (evicting everything would pass
     * the bound), and the chunk put last (a put never evicts the chunk it puts) */
    CHECK_MSG(bytes <= 16 * 8192, "%llu bytes cached", (unsigned long long)bytes);
    CHECK_MSG(bytes >= 16 * 8192 / 2, "%llu bytes cached", (unsigned long long)bytes);
    chunk *got = cache_get(cache, &last);
    CHECK(got != NULL);
    if (got) chunk_release(got);
    cache_free(cache);
}

/* The cache's open-addressing table against a model: whatever it returns is the chunk asked for,
 * a chunk just put is found, a dropped one is gone, and memory stays within the bound. */
static void cache_model(void)
{
    enum { IDS = 3000 };
    static chunk *made[IDS];
    static bool dropped[IDS];
    chunk_cache *cache;
    CHECK_OK(cache_new(&cache, 16 * 40 * 1100)); /* ~40 chunks a shard: constant eviction */
    uint64_t rng = test_rng(13);
    for (int i = 0; i < IDS; i++) {
        made[i] = chunk_alloc(1000);
        CHECK(made[i] != NULL);
        for (int j = 0; j < 1000; j++) made[i]->data[j] = (uint8_t)test_rand(&rng);
        hash_sha256(&made[i]->id, made[i]->data, made[i]->len);
    }
    int found = 0;
    for (int step = 0; step < 200000; step++) {
        int i = (int)(test_rand(&rng) % IDS);
        switch (test_rand(&rng) % 4) {
        case 0: { /* put, then it must be there */
            chunk *k = cache_put(cache, made[i]);
            CHECK(k == made[i] || memcmp(k->id.bytes, made[i]->id.bytes, 32) == 0);
            chunk_release(k);
            chunk *g = cache_get(cache, &made[i]->id);
            CHECK(g != NULL);
            chunk_release(g);
            dropped[i] = false;
            break;
        }
        case 1: /* drop */
            cache_drop(cache, &made[i]->id);
            dropped[i] = true;
            break;
        default: { /* get: the right chunk or nothing; nothing after a drop */
            chunk *g = cache_get(cache, &made[i]->id);
            if (g) {
                CHECK(!dropped[i]);
                CHECK_MEM(g->id.bytes, 32, made[i]->id.bytes, 32);
                CHECK_MEM(g->data, g->len, made[i]->data, made[i]->len);
                chunk_release(g);
                found++;
            }
        }
        }
        if (test_failures) break;
    }
    uint64_t bytes, hits, misses;
    cache_stats(cache, &bytes, &hits, &misses);
    CHECK(bytes <= 16 * 40 * 1100);
    CHECK(found > 1000); /* the test exercised hits, not only misses */
    cache_free(cache);
    for (int i = 0; i < IDS; i++) chunk_release(made[i]);
}

TEST_MAIN(cache_model, hex_encode_matches_printf, lower_hex_reads_back, crc32c_known_answers, varint_roundtrip, sha256_known_answer, frame_roundtrip, frame_rejects_garbage, random_detection,
          cs_verifies_on_read, cache_evicts_by_size)
