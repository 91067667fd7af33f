/*
 * cache.c - the verified chunk cache: size-bounded, over chunk ids, in 16 shards so that threads
 * reading different chunks rarely meet on a lock. Eviction is second chance (CLOCK): a hit only
 * sets a bit in the chunk it returns, instead of relinking an LRU list, which would touch two
 * unrelated chunks per lookup (measured: a quarter of the time of random point reads went into
 * those cache misses). The hand moves from the oldest chunk; a referenced chunk gets its bit
 * cleared and goes back to the front, an unreferenced one is evicted.
 * The cache holds one reference to each chunk it keeps; eviction drops that reference, so a
 * chunk still in use by a reader lives on until the reader releases it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "chunk.h"

#define SHARDS 16
#define CHUNK_OVERHEAD (sizeof(chunk) + 16) /* what a cached chunk costs besides its bytes */

typedef struct shard {
    pthread_mutex_t mu;
    chunk **buckets;
    size_t mask;             /* buckets - 1 (a power of two) */
    size_t n;
    chunk lru;               /* sentinel: lru.lnext is the newest, lru.lprev the oldest */
    size_t bytes, cap;
    uint64_t hits, misses;
} shard;

struct chunk_cache {
    shard shards[SHARDS];
};

chunk *chunk_alloc(size_t len)
{
    chunk *c = cairn_malloc(sizeof(chunk) + CHUNK_HEADROOM + len);
    if (!c) {
        ERR(CAIRN_ENOMEM, "out of memory allocating a chunk of %zu bytes", len);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->checked, 0);
    atomic_init(&c->referenced, 0);
    c->len = (uint32_t)len;
    c->hnext = c->lprev = c->lnext = NULL;
    c->data = (uint8_t *)(c + 1) + CHUNK_HEADROOM;
    return c;
}

chunk *chunk_alloc_ref(const uint8_t *data, size_t len)
{
    chunk *c = cairn_malloc(sizeof(chunk));
    if (!c) {
        ERR(CAIRN_ENOMEM, "out of memory allocating a chunk header");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->checked, 0);
    atomic_init(&c->referenced, 0);
    c->len = (uint32_t)len;
    c->hnext = c->lprev = c->lnext = NULL;
    c->data = (uint8_t *)data; /* never written through: mapped read-only */
    return c;
}

void chunk_release(chunk *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) free(c);
}

static inline shard *shard_of(chunk_cache *cache, const cairn_id *id)
{
    return &cache->shards[id->bytes[31] % SHARDS];
}

static inline size_t bucket_of(const shard *s, const cairn_id *id)
{
    return (size_t)load_le64(id->bytes + 8) & s->mask;
}

static inline size_t cost(const chunk *c) { return c->len + CHUNK_OVERHEAD; }

int cache_new(chunk_cache **out, size_t capacity_bytes)
{
    chunk_cache *cache = cairn_calloc(1, sizeof *cache);
    if (!cache) return ERR(CAIRN_ENOMEM, "out of memory creating the chunk cache");
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &cache->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->mask = 255;
        s->buckets = cairn_calloc(s->mask + 1, sizeof(chunk *));
        s->cap = capacity_bytes / SHARDS;
        s->lru.lnext = s->lru.lprev = &s->lru;
        if (!s->buckets) {
            cache_free(cache);
            return ERR(CAIRN_ENOMEM, "out of memory creating the chunk cache");
        }
    }
    *out = cache;
    return CAIRN_OK;
}

void cache_free(chunk_cache *cache)
{
    if (!cache) return;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &cache->shards[i];
        if (s->buckets) {
            for (chunk *c = s->lru.lnext; c != &s->lru;) {
                chunk *next = c->lnext;
                chunk_release(c);
                c = next;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(cache);
}

static void lru_unlink(chunk *c)
{
    c->lprev->lnext = c->lnext;
    c->lnext->lprev = c->lprev;
}

static void lru_push_front(shard *s, chunk *c)
{
    c->lnext = s->lru.lnext;
    c->lprev = &s->lru;
    s->lru.lnext->lprev = c;
    s->lru.lnext = c;
}

static chunk **find_slot(shard *s, const cairn_id *id)
{
    chunk **pp = &s->buckets[bucket_of(s, id)];
    while (*pp && memcmp((*pp)->id.bytes, id->bytes, CAIRN_ID_SIZE) != 0) pp = &(*pp)->hnext;
    return pp;
}

static void remove_entry(shard *s, chunk **slot)
{
    chunk *c = *slot;
    *slot = c->hnext;
    c->hnext = NULL;
    lru_unlink(c);
    s->n--;
    s->bytes -= cost(c);
    chunk_release(c);
}

static void grow(shard *s)
{
    size_t nmask = s->mask * 2 + 1;
    chunk **nb = cairn_calloc(nmask + 1, sizeof(chunk *));
    if (!nb) return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i <= s->mask; i++) {
        for (chunk *c = s->buckets[i]; c;) {
            chunk *next = c->hnext;
            size_t b = (size_t)load_le64(c->id.bytes + 8) & nmask;
            c->hnext = nb[b];
            nb[b] = c;
            c = next;
        }
    }
    free(s->buckets);
    s->buckets = nb;
    s->mask = nmask;
}

chunk *cache_get(chunk_cache *cache, const cairn_id *id)
{
    shard *s = shard_of(cache, id);
    pthread_mutex_lock(&s->mu);
    chunk *c = *find_slot(s, id);
    if (c) {
        chunk_retain(c);
        atomic_store_explicit(&c->referenced, 1, memory_order_relaxed);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

chunk *cache_put(chunk_cache *cache, chunk *c)
{
    shard *s = shard_of(cache, &c->id);
    pthread_mutex_lock(&s->mu);
    chunk **slot = find_slot(s, &c->id);
    if (*slot) {
        chunk *have = *slot;
        chunk_retain(have);
        pthread_mutex_unlock(&s->mu);
        return have;
    }
    chunk_retain(c); /* the cache's reference */
    chunk_retain(c); /* the caller's new reference */
    *slot = c;
    lru_push_front(s, c);
    s->n++;
    s->bytes += cost(c);
    /* Second chance: each chunk is passed over at most once per sweep, so this ends. */
    size_t passes = s->n;
    while (s->bytes > s->cap && s->lru.lprev != &s->lru) {
        chunk *victim = s->lru.lprev;
        if (passes > 0 && victim != c &&
            atomic_exchange_explicit(&victim->referenced, 0, memory_order_relaxed)) {
            passes--;
            lru_unlink(victim);
            lru_push_front(s, victim);
            continue;
        }
        remove_entry(s, find_slot(s, &victim->id));
    }
    if (s->n > s->mask + 1) grow(s);
    pthread_mutex_unlock(&s->mu);
    return c;
}

void cache_drop(chunk_cache *cache, const cairn_id *id)
{
    shard *s = shard_of(cache, id);
    pthread_mutex_lock(&s->mu);
    chunk **slot = find_slot(s, id);
    if (*slot) remove_entry(s, slot);
    pthread_mutex_unlock(&s->mu);
}

void cache_stats(chunk_cache *cache, uint64_t *bytes, uint64_t *hits, uint64_t *misses)
{
    uint64_t b = 0, h = 0, m = 0;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &cache->shards[i];
        pthread_mutex_lock(&s->mu);
        b += s->bytes;
        h += s->hits;
        m += s->misses;
        pthread_mutex_unlock(&s->mu);
    }
    *bytes = b;
    *hits = h;
    *misses = m;
}
