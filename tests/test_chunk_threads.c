/*
 * test_chunk_threads.c - the chunk cache and the read-ahead workers under concurrency: readers
 * on several threads reading through a cache far smaller than the chunks (eviction on nearly
 * every load, buffers of evicted chunks reused for the next ones) while a worker reads ahead,
 * each reader getting exactly the bytes it asked for; a reader whose chunk a stuck worker is
 * loading does the queued loads itself and then goes on without waiting, keeping its own last
 * error whatever those loads met; a chunk a reader is loading for the workers counts as in
 * flight for other readers; reused buffers.
 * No timing: a reader that waited on the stuck worker would never finish (the test's alarm).
 */
#include <pthread.h>
#include <unistd.h>

#include "base/hash.h"
#include "chunk/chunk.h"
#include "fault_store.h"
#include "store/store.h"
#include "test.h"

enum { NCHUNKS = 1500, READERS = 4, ROUNDS = 300, RUN = 12, HOLD = 8 };

/* Chunk i's bytes: a length of 100..9,099 and a mix of a repeating pattern (compressible: zstd
 * frames) and random bytes (raw frames). Returns the length. */
static size_t gen(int i, uint8_t *out)
{
    uint64_t rng = test_rng(1000 + (uint64_t)i);
    size_t len = 100 + test_rand(&rng) % 9000;
    bool pattern = i % 3 != 0;
    for (size_t j = 0; j < len; j++)
        out[j] = pattern ? (uint8_t)(j % 13 + (size_t)i) : (uint8_t)test_rand(&rng);
    out[0] = (uint8_t)i;
    out[1] = (uint8_t)(i >> 8);
    return len;
}

typedef struct shared {
    chunkstore *cs;
    cairn_id ids[NCHUNKS];
} shared;

typedef struct reader {
    shared *sh;
    uint64_t seed;
    long wrong, failed, got;
} reader;

/* Runs of consecutive chunks, the rest of each run handed to the worker first (as a scan
 * does), some chunks held across later loads (evicted while in use), all checked byte for
 * byte. */
static void *read_job(void *arg)
{
    reader *r = arg;
    uint64_t rng = test_rng(r->seed);
    static _Thread_local uint8_t want[9200];
    chunk *held[HOLD] = { NULL };
    int held_i[HOLD];
    for (int round = 0; round < ROUNDS; round++) {
        int from = (int)(test_rand(&rng) % (NCHUNKS - RUN));
        cs_prefetch(r->sh->cs, &r->sh->ids[from + 1], RUN - 1);
        for (int i = from; i < from + RUN; i++) {
            chunk *c;
            if (cs_get(r->sh->cs, &c, &r->sh->ids[i]) != CAIRN_OK) {
                r->failed++;
                continue;
            }
            size_t len = gen(i, want);
            if (c->len != len || memcmp(c->data, want, len) != 0 ||
                memcmp(c->id.bytes, r->sh->ids[i].bytes, CAIRN_ID_SIZE) != 0)
                r->wrong++;
            r->got++;
            int slot = (int)(test_rand(&rng) % HOLD);
            if (held[slot]) { /* still its own bytes after the cache let it go */
                len = gen(held_i[slot], want);
                if (held[slot]->len != len || memcmp(held[slot]->data, want, len) != 0)
                    r->wrong++;
            }
            chunk_release(held[slot]);
            held[slot] = c;
            held_i[slot] = i;
        }
    }
    for (int k = 0; k < HOLD; k++) chunk_release(held[k]);
    return NULL;
}

static void readers_get_their_bytes(void)
{
    alarm(600); /* a deadlock fails the test instead of hanging the suite */
    cairn_store *st;
    CHECK_OK(store_mem_open(&st));
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 16 * 32 * 1024, 1)); /* ~100 of the 1,500 chunks */
    static shared sh;
    sh.cs = &cs;
    static uint8_t buf[9200];
    for (int i = 0; i < NCHUNKS; i++) CHECK_OK(cs_put(&cs, &sh.ids[i], NULL, buf, gen(i, buf)));
    for (int workers = 0; workers <= 2; workers++) {
        cs_dispose(&cs);
        CHECK_OK(cs_init(&cs, st, 16 * 32 * 1024, 1)); /* cold, and no read-ahead yet */
        if (workers) CHECK_OK(cs_start_readahead(&cs, workers));
        reader rd[READERS];
        pthread_t th[READERS];
        for (int t = 0; t < READERS; t++) {
            rd[t] = (reader){ &sh, (uint64_t)(workers * 10 + t + 1), 0, 0, 0 };
            CHECK(pthread_create(&th[t], NULL, read_job, &rd[t]) == 0);
        }
        for (int t = 0; t < READERS; t++) pthread_join(th[t], NULL);
        for (int t = 0; t < READERS; t++) {
            CHECK_EQ(rd[t].wrong, 0);
            CHECK_EQ(rd[t].failed, 0);
            CHECK_EQ(rd[t].got, ROUNDS * RUN);
        }
        uint64_t bytes, hits, misses;
        cache_stats(cs.cache, &bytes, &hits, &misses);
        CHECK(bytes <= 16 * 32 * 1024);
        CHECK(cs.chunks_read > NCHUNKS); /* evicted and read again: the reuse was exercised */
    }
    cs_dispose(&cs);
    st->close(st);
    alarm(0);
}

/* ---- a worker that stops in the middle of a load until the test lets it go ---- */

typedef struct stuck {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cairn_id stuck_on;       /* the worker blocks inside its load of this id */
    bool in_load, release;
    int loads_by_worker, loads_by_test;
    pthread_t test_thread;
    cairn_id loaded_by_test[4];
} stuck;

static void stuck_load(const cairn_id *id, void *payload)
{
    stuck *s = payload;
    pthread_mutex_lock(&s->mu);
    if (pthread_equal(pthread_self(), s->test_thread)) {
        if (s->loads_by_test < 4) s->loaded_by_test[s->loads_by_test] = *id;
        s->loads_by_test++;
    } else {
        s->loads_by_worker++;
        if (memcmp(id->bytes, s->stuck_on.bytes, CAIRN_ID_SIZE) == 0) {
            s->in_load = true;
            pthread_cond_broadcast(&s->cv);
            while (!s->release) pthread_cond_wait(&s->cv, &s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static void claim_does_not_wait_on_a_stuck_worker(void)
{
    alarm(120);
    static stuck s;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.test_thread = pthread_self();
    enum { MORE = 20, HELP = 16 };
    cairn_id ids[3 + MORE];
    for (int i = 0; i < 3 + MORE; i++) hash_sha256(&ids[i], &i, sizeof i);
    s.stuck_on = ids[0];
    prefetcher *pf;
    CHECK_OK(prefetcher_new(&pf, 1, stuck_load, &s));
    prefetcher_request(pf, &ids[0], 1);
    pthread_mutex_lock(&s.mu);
    while (!s.in_load) pthread_cond_wait(&s.cv, &s.mu); /* the worker is inside ids[0] */
    pthread_mutex_unlock(&s.mu);
    prefetcher_request(pf, &ids[1], 2);
    /* The reader wants ids[0]: it loads the queued ids[1] and ids[2] itself meanwhile, then
     * returns with ids[0] still in the worker's hands (it will load it a second time). */
    prefetcher_claim(pf, &ids[0]);
    pthread_mutex_lock(&s.mu);
    CHECK_EQ(s.loads_by_test, 2);
    CHECK_MEM(s.loaded_by_test[0].bytes, 32, ids[1].bytes, 32);
    CHECK_MEM(s.loaded_by_test[1].bytes, 32, ids[2].bytes, 32);
    pthread_mutex_unlock(&s.mu);
    /* With more queued, it does HELP of them and then returns (a worker that does not run
     * must not keep the reader loading others' chunks); the rest stay queued. */
    prefetcher_request(pf, &ids[3], MORE);
    prefetcher_claim(pf, &ids[0]);
    pthread_mutex_lock(&s.mu);
    CHECK_EQ(s.loads_by_test, 2 + HELP);
    s.release = true; /* only now does the worker finish ids[0] */
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    prefetcher_free(pf); /* waits for the worker: the queue may or may not be drained by then */
    CHECK(s.loads_by_worker >= 1 && s.loads_by_worker <= 1 + MORE - HELP);
    CHECK(s.loads_by_test + s.loads_by_worker <= 3 + MORE); /* nothing loaded twice */
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    alarm(0);
}

/* ---- a reader helping the workers: its own error, and what it loads counts as in flight ---- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t test_thread;
    bool worker_in, release;
} gate;

/* Holds the first get a thread other than the test's makes (the read-ahead worker's). */
static void hold_worker_get(fault_method m, unsigned long n, void *arg)
{
    (void)m;
    (void)n;
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    if (!pthread_equal(pthread_self(), g->test_thread) && !g->worker_in) {
        g->worker_in = true;
        pthread_cond_broadcast(&g->cv);
        while (!g->release) pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

/* A reader whose chunk the worker holds loads a queued chunk for the workers meanwhile; that
 * load fails (the chunk is not in the store), which is not the reader's business: the reader's
 * own last error is what it was before its call, which succeeds. */
static void helping_keeps_the_readers_error(void)
{
    alarm(120);
    static gate g;
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.test_thread = pthread_self();
    cairn_store *mem, *st;
    CHECK_OK(store_mem_open(&mem));
    CHECK_OK(fault_store_wrap(&st, mem, true));
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 1 << 20, 1));
    cairn_id held, missing;
    CHECK_OK(cs_put(&cs, &held, NULL, "held by the worker", 18));
    hash_sha256(&missing, "never stored", 12);
    cs_dispose(&cs);
    CHECK_OK(cs_init(&cs, st, 1 << 20, 1)); /* cold */
    CHECK_OK(cs_start_readahead(&cs, 1));
    fault_store_hook(st, FAULT_GET, hold_worker_get, &g);
    cs_prefetch(&cs, &held, 1);
    pthread_mutex_lock(&g.mu);
    while (!g.worker_in) pthread_cond_wait(&g.cv, &g.mu); /* the worker is inside its get */
    pthread_mutex_unlock(&g.mu);
    cs_prefetch(&cs, &missing, 1); /* queued: the only worker is held */
    unsigned long gets = fault_store_calls(st, FAULT_GET);
    cairn_error_set(CAIRN_EINVAL, "the reader's own error");
    chunk *c;
    CHECK_OK(cs_get(&cs, &c, &held));
    CHECK_MEM(c->data, c->len, "held by the worker", 18);
    chunk_release(c);
    CHECK_EQ(fault_store_calls(st, FAULT_GET), gets + 2); /* it helped (missing), then held */
    CHECK_EQ(cairn_error_last()->code, CAIRN_EINVAL);
    CHECK_STR(cairn_error_last()->message, "the reader's own error");
    cairn_error_clear();
    pthread_mutex_lock(&g.mu);
    g.release = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    fault_store_hook(st, FAULT_GET, NULL, NULL);
    cs_dispose(&cs);
    st->close(st);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
    alarm(0);
}

/* Loads that a prefetcher's worker or a helping reader does, gated: the worker stops inside
 * ids[0], the helper thread inside ids[1], until released; every load is counted by id. */
typedef struct helpers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cairn_id ids[3];
    pthread_t helper;
    bool worker_in, helper_in, release;
    int loads[3], by_test[3];
    pthread_t test_thread;
} helpers;

static int which(const helpers *h, const cairn_id *id)
{
    for (int i = 0; i < 3; i++)
        if (memcmp(h->ids[i].bytes, id->bytes, CAIRN_ID_SIZE) == 0) return i;
    return -1;
}

static void helpers_load(const cairn_id *id, void *payload)
{
    helpers *h = payload;
    pthread_mutex_lock(&h->mu);
    int i = which(h, id);
    if (i >= 0) {
        h->loads[i]++;
        if (pthread_equal(pthread_self(), h->test_thread)) h->by_test[i]++;
        bool hold = (i == 0 && !pthread_equal(pthread_self(), h->test_thread) &&
                     !pthread_equal(pthread_self(), h->helper)) ||
                    (i == 1 && pthread_equal(pthread_self(), h->helper));
        if (hold) {
            if (i == 0) h->worker_in = true;
            else h->helper_in = true;
            pthread_cond_broadcast(&h->cv);
            while (!h->release) pthread_cond_wait(&h->cv, &h->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

typedef struct claim_arg {
    prefetcher *pf;
    const cairn_id *id;
} claim_arg;

static void *claim_job(void *arg)
{
    claim_arg *a = arg;
    prefetcher_claim(a->pf, a->id);
    return NULL;
}

/* Reader A, whose chunk the worker holds, takes the queued ids[1] to load; reader B, needing
 * ids[1] while A loads it, does not take it for nobody's: it sees it in flight and loads the
 * queued ids[2] meanwhile, as it would for a worker's chunk. (Before, B saw nothing in flight
 * and returned at once, to load ids[1] a second time itself.) */
static void helpers_count_as_in_flight(void)
{
    alarm(120);
    static helpers h;
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    h.test_thread = pthread_self();
    for (int i = 0; i < 3; i++) hash_sha256(&h.ids[i], &i, sizeof i);
    prefetcher *pf;
    CHECK_OK(prefetcher_new(&pf, 1, helpers_load, &h));
    prefetcher_request(pf, &h.ids[0], 1);
    pthread_mutex_lock(&h.mu);
    while (!h.worker_in) pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    prefetcher_request(pf, &h.ids[1], 1);
    claim_arg a = { pf, &h.ids[0] };
    pthread_mutex_lock(&h.mu); /* h.helper is set before the helper can load anything */
    CHECK(pthread_create(&h.helper, NULL, claim_job, &a) == 0);
    while (!h.helper_in) pthread_cond_wait(&h.cv, &h.mu); /* A is inside ids[1] */
    pthread_mutex_unlock(&h.mu);
    prefetcher_request(pf, &h.ids[2], 1);
    prefetcher_claim(pf, &h.ids[1]); /* B: the test thread */
    pthread_mutex_lock(&h.mu);
    CHECK_EQ(h.by_test[2], 1); /* B helped with ids[2] rather than start ids[1] again */
    h.release = true;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(h.helper, NULL);
    prefetcher_free(pf);
    CHECK_EQ(h.loads[0], 1);
    CHECK_EQ(h.loads[1], 1);
    CHECK_EQ(h.loads[2], 1);
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    alarm(0);
}

/* A released chunk's buffer serves the thread's next chunk of about its size, not a much
 * smaller one (whose waste the cache would charge), and comes back initialised. (Sizes far
 * from the other tests' chunks, whose buffers this thread may keep too.) */
static void buffers_are_reused(void)
{
    chunk *c = chunk_alloc(30000);
    CHECK(c != NULL);
    memset(c->data, 0xab, 30000);
    atomic_store(&c->checked, CHUNK_KIND_NODE);
    chunk *was = c;
    chunk_release(c);
    chunk *small = chunk_alloc(100);
    CHECK(small != NULL && small != was);
    chunk *d = chunk_alloc(29000);
    CHECK(d == was);
    CHECK_EQ(d->len, 29000);
    CHECK_EQ(d->room, 30000);
    CHECK_EQ(atomic_load(&d->refs), 1);
    CHECK_EQ(atomic_load(&d->checked), 0);
    CHECK(d->data == (uint8_t *)(d + 1) + CHUNK_HEADROOM);
    memset(d->data, 0, d->len);
    chunk_release(d);
    chunk_release(small);
    chunk *ref = chunk_alloc_ref((const uint8_t *)"mapped", 6); /* never a spare: no buffer */
    CHECK(ref != NULL && ref->room == 0);
    chunk_release(ref);
}

TEST_MAIN(readers_get_their_bytes, claim_does_not_wait_on_a_stuck_worker,
          helping_keeps_the_readers_error, helpers_count_as_in_flight, buffers_are_reused)
