/*
 * test_store_index.c - the stores' in-memory chunk indexes against a simple model: the s3
 * store's index (src/store/s3_log.c: a sorted array with holes and a small table of recent
 * keys, merged into it), driven through its functions with a zeroed handle, no server.
 *
 * What is shown: after any mix of inserts, updates, removals and re-inserts of removed keys,
 * with random keys and with structured ones (equal first bytes), every key the model has is
 * found with its location, no other is, the walk yields each present key once, and the count
 * and byte total are the model's; a location changed through the pointer a lookup returns
 * stays changed; and the index of N chunks holds at most N × 1.25 locations of memory (the
 * hash table it replaced held between 1.4 and 2.9 times N, and three times while it grew).
 *
 * The local store's (src/store/local_index.c): a writer that seals pack after pack maps each
 * sealed pack's .idx and keeps only the current pack's records in its hash table, and still
 * finds every chunk, says no to absent ones, deletes (which loads the whole index), counts and
 * reopens as before.
 */
#include <stdlib.h>

#include "store/local_int.h"
#include "store/s3_int.h"
#include "store/store.h"
#include "store_suite.h"
#include "test.h"

#define MODEL_KEYS 20000
#define ROUNDS 6

/* Key i of family `structured`: random-looking, or with 24 equal leading bytes. */
static cairn_id key_of(uint64_t i, bool structured)
{
    cairn_id k;
    memset(k.bytes, 0xab, sizeof k.bytes);
    if (structured) {
        store_le64(k.bytes + 24, i);
    } else {
        for (int w = 0; w < 4; w++) {
            uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)w * 0xbf58476d1ce4e5b9ull;
            x ^= x >> 31;
            x *= 0x94d049bb133111ebull;
            x ^= x >> 29;
            store_le64(k.bytes + 8 * w, x);
        }
    }
    return k;
}

typedef struct model {
    bool present[MODEL_KEYS];
    s3_loc loc[MODEL_KEYS];
    size_t count;
    uint64_t bytes;
} model;

static uint64_t rnd_state = 0x1234567;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Checks the index against the model: lookups, the walk, the counters. */
static void check_model(s3_store *s, const model *m, bool structured)
{
    for (uint64_t i = 0; i < MODEL_KEYS; i++) {
        cairn_id k = key_of(i, structured);
        s3_loc *at = s3_index_find(s, &k);
        if (!m->present[i]) {
            CHECK_MSG(at == NULL, "key %llu was removed but is found", (unsigned long long)i);
            continue;
        }
        CHECK_MSG(at != NULL, "key %llu is missing", (unsigned long long)i);
        CHECK(memcmp(at, &m->loc[i], sizeof *at) == 0);
    }
    CHECK_EQ(s->count, m->count);
    CHECK_EQ(s->bytes, m->bytes);
    size_t pos = 0, walked = 0;
    bool *seen = calloc(MODEL_KEYS, sizeof *seen);
    CHECK(seen != NULL);
    for (const s3_loc *l; (l = s3_index_next(s, &pos)); walked++) {
        uint64_t i = l->off % MODEL_KEYS; /* (off carries the key's number) */
        CHECK(i < MODEL_KEYS && m->present[i] && !seen[i]);
        seen[i] = true;
    }
    free(seen);
    CHECK_EQ(walked, m->count);
}

static void s3_index_against(bool structured)
{
    s3_store *s = calloc(1, sizeof *s);
    model *m = calloc(1, sizeof *m);
    CHECK(s && m);
    CHECK_OK(s3_index_init(s));
    for (int round = 0; round < ROUNDS; round++) {
        size_t ops = round == 0 ? MODEL_KEYS : MODEL_KEYS / 2;
        for (size_t o = 0; o < ops; o++) {
            uint64_t i = round == 0 ? o : rnd() % MODEL_KEYS, r = rnd();
            cairn_id k = key_of(i, structured);
            if (round > 0 && r % 3 == 0) { /* remove (absent or present) */
                s3_index_remove(s, &k);
                if (m->present[i]) {
                    m->present[i] = false;
                    m->count--;
                    m->bytes -= m->loc[i].len;
                }
                continue;
            }
            /* insert, update, or set a removed key again; off carries i (for the walk) */
            s3_loc l = { .key = k, .pack = (uint32_t)(r % 7 == 0 ? S3_PENDING : r % 100),
                         .len = (uint32_t)(r >> 40) % 5000,
                         .off = (r >> 8) % 1000 * MODEL_KEYS + i, .check = r };
            CHECK_OK(s3_index_set(s, &l));
            if (m->present[i]) m->bytes -= m->loc[i].len;
            else m->count++;
            m->present[i] = true;
            m->loc[i] = l;
            m->bytes += l.len;
        }
        check_model(s, m, structured);
        /* a change through the pointer a lookup returns is kept (flush and compaction move a
         * chunk's pack and offset that way) */
        for (uint64_t i = 0; i < MODEL_KEYS; i += 97) {
            if (!m->present[i]) continue;
            cairn_id k = key_of(i, structured);
            s3_loc *at = s3_index_find(s, &k);
            CHECK(at != NULL);
            at->pack = S3_FLUSHING;
            m->loc[i].pack = S3_FLUSHING;
        }
        check_model(s, m, structured);
    }
    s3_index_free(s);
    free(s);
    free(m);
}

static void s3_random_keys(void) { s3_index_against(false); }
static void s3_structured_keys(void) { s3_index_against(true); }

/* Memory: the index of n chunks holds at most 1.25 × n locations (sorted, with no empty slots,
 * plus the table of recent keys), at every size while it grows. */
static void s3_index_memory(void)
{
    s3_store *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    CHECK_OK(s3_index_init(s));
    const size_t n = 400000;
    size_t worst_num = 0, worst_at = 0; /* the largest held/n seen, as a fraction */
    for (size_t i = 0; i < n; i++) {
        s3_loc l = { .key = key_of(i, false), .pack = 1, .len = 100, .off = i, .check = i };
        CHECK_OK(s3_index_set(s, &l));
        size_t held = s->nsorted + s->rmask + 1;
        if (i >= 20000 && held * 1000 / (i + 1) > worst_num) {
            worst_num = held * 1000 / (i + 1);
            worst_at = i + 1;
        }
    }
    CHECK_MSG(worst_num <= 1250, "the index of %zu chunks held %zu.%03zu times as many locations",
              worst_at, worst_num / 1000, worst_num % 1000);
    CHECK_EQ(s->count, n);
    s3_index_free(s);
    free(s);
}

/* ---- the local store ---- */

#define LOCAL_CHUNKS 6000
#define LOCAL_PACK_MAX (64u << 10) /* some 60 chunks a pack: about a hundred packs */

static size_t local_len(uint64_t i) { return 500 + (size_t)(i * 7919 % 1000); }

/* Whether chunk i of family salt reads back exactly and has says so. */
static bool local_chunk_ok(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    suite_key(&k, salt, i);
    uint8_t want[1500];
    suite_fill(want, local_len(i), &k);
    cairn_buf b = CAIRN_BUF_INIT;
    bool ok = st->get(st, &b, &k) == CAIRN_OK && b.len == local_len(i) &&
              memcmp(b.data, want, b.len) == 0 && st->has(st, &k) == CAIRN_OK;
    cairn_buf_dispose(&b);
    return ok;
}

static void local_sealed_packs_mapped(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_store *st = NULL;
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    store_local_set_pack_max(st, LOCAL_PACK_MAX);
    local_store *ls = (local_store *)st;
    uint8_t buf[1500];
    size_t most_in_table = 0;
    for (uint64_t i = 0; i < LOCAL_CHUNKS; i++) {
        cairn_id k;
        suite_key(&k, 1, i);
        suite_fill(buf, local_len(i), &k);
        CHECK_OK(st->put(st, &k, buf, local_len(i)));
        if (i % 3 == 0) CHECK_OK(st->put(st, &k, buf, local_len(i))); /* a duplicate: found */
        most_in_table = MAX(most_in_table, ls->n);
    }
    /* the table held about one pack's records (it held all 6000 before), the rest is mapped */
    CHECK_MSG(ls->npacks > 50, "only %zu packs", ls->npacks);
    CHECK_MSG(most_in_table < 200, "the hash table held %zu records", most_in_table);
    CHECK(ls->nmapped + 1 >= ls->npacks);
    for (uint64_t i = 0; i < LOCAL_CHUNKS; i++)
        CHECK_MSG(local_chunk_ok(st, 1, i), "chunk %llu", (unsigned long long)i);
    for (uint64_t i = 0; i < 100; i++) { /* absent */
        cairn_id k;
        suite_key(&k, 2, i);
        CHECK_RC(st->has(st, &k), CAIRN_ENOTFOUND);
    }
    /* the counts are whole (the whole index is loaded for them) */
    cairn_store_stats ss;
    CHECK_OK(st->stat(st, &ss));
    CHECK_EQ(ss.chunks, (uint64_t)LOCAL_CHUNKS);
    /* deleting loads the whole index; then every other chunk goes */
    for (uint64_t i = 0; i < LOCAL_CHUNKS; i += 2) {
        cairn_id k;
        suite_key(&k, 1, i);
        CHECK_OK(st->del(st, &k));
    }
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK_OK(store_local_open(&st, dir, 0, 0));
    for (uint64_t i = 0; i < LOCAL_CHUNKS; i++) {
        cairn_id k;
        suite_key(&k, 1, i);
        if (i % 2) CHECK_MSG(local_chunk_ok(st, 1, i), "chunk %llu", (unsigned long long)i);
        else CHECK_RC(st->has(st, &k), CAIRN_ENOTFOUND);
    }
    CHECK_OK(st->stat(st, &ss));
    CHECK_EQ(ss.chunks, (uint64_t)LOCAL_CHUNKS / 2);
    st->close(st);
}

TEST_MAIN(s3_random_keys, s3_structured_keys, s3_index_memory, local_sealed_packs_mapped)
