/*
 * cache.c - the verified chunk cache: size-bounded, over chunk ids, in 16 shards so that threads
 * reading different chunks rarely meet on a lock. Eviction is second chance (CLOCK): a hit only
 * sets a bit in the chunk it returns, instead of relinking an LRU list, which would touch two
 * unrelated chunks per lookup (measured: a quarter of the time of random point reads went into
 * those cache misses). The hand moves from the oldest chunk; a referenced chunk gets its bit
 * cleared and goes back to the front, an unreferenced one is evicted.
 * The cache holds one reference to each chunk it keeps; eviction drops that reference, so a
 * chunk still in use by a reader lives on until the reader releases it. Eviction drops it after
 * the shard's lock is let go: a free() can reach the kernel (glibc trims its heaps), and a reader
 * that needs the shard then would wait for that, or, on a busy machine, for the evicting thread
 * to be scheduled again.
 */
#include <pthread.h>
#include <stdlib.h>

#include "chunk.h"

/* Under AddressSanitizer a parked spare's bytes are poisoned until it is handed out again, so a
 * read of a released chunk's data is still reported (the spares would otherwise hide it). */
#if defined(__SANITIZE_ADDRESS__)
#define SPARES_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARES_POISON 1
#endif
#endif
#ifdef SPARES_POISON
#include <sanitizer/asan_interface.h>
#define SPARE_PARK(c) ASAN_POISON_MEMORY_REGION((c) + 1, CHUNK_HEADROOM + (c)->room)
#define SPARE_UNPARK(c) ASAN_UNPOISON_MEMORY_REGION((c) + 1, CHUNK_HEADROOM + (c)->room)
#else
#define SPARE_PARK(c) ((void)(c))
#define SPARE_UNPARK(c) ((void)(c))
#endif

#define SHARDS 16
#define CHUNK_OVERHEAD (sizeof(chunk) + 16) /* what a cached chunk costs besides its bytes */
#define SLOTS_MIN 256
#define EVICT_BATCH 32                /* chunks a put evicts and releases after unlocking */
#define SPARES_MAX 32                 /* buffers a thread keeps for its next chunks */
#define SPARE_ROOM_MAX (32u << 10)    /* larger buffers go back to malloc (nodes are split at
                                         16 KiB: most are far smaller) */
#define SPARE_SLACK 256               /* a spare serves a chunk it wastes at most an eighth of,
                                         plus this (the cache charges the waste: fewer chunks) */

/* A slot of a shard's open-addressing table. It repeats a tag of the id and the chunk's data
 * pointer, so that a lookup finds its entry without touching other chunks, and can start
 * fetching the node's bytes before the chunk header itself has arrived: on a tree read the
 * two misses then overlap instead of following one another. */
typedef struct cslot {
    uint64_t tag;            /* id bytes 8..15 */
    chunk *c;                /* NULL: empty */
    const uint8_t *data;
} cslot;

typedef struct shard {
    pthread_mutex_t mu;
    cslot *slots;
    size_t mask;             /* slots - 1 (a power of two) */
    size_t n;
    chunk lru;               /* sentinel: lru.lnext is the newest, lru.lprev the oldest */
    size_t bytes, cap;
    uint64_t hits;           /* lookups by readers that found their chunk (cache_get) */
} shard;

struct chunk_cache {
    shard shards[SHARDS];
    atomic_ullong misses;    /* reads that went to the store (cache_note_miss) */
};

static chunk *chunk_init(chunk *c, uint8_t *data, size_t len, size_t room)
{
    atomic_init(&c->refs, 1);
    atomic_init(&c->checked, 0);
    atomic_init(&c->referenced, 0);
    c->len = (uint32_t)len;
    c->room = (uint32_t)room;
    c->lprev = c->lnext = NULL;
    c->data = data;
    return c;
}

/* Spare chunk buffers. A read that misses the cache allocates a node-sized buffer, and once the
 * cache is full each such read evicts (frees) about one; glibc gave those pages back to the
 * system and faulted new ones in (sysmalloc, heap growth, page faults: over a quarter of the CPU
 * of an index range query over a collection larger than the cache). Each thread keeps the last
 * few buffers it released and reuses the best fit: no lock, no system call. A buffer reused for
 * a smaller chunk is charged to the cache by its room, not its length. The parked buffers are
 * outside the cache's bound: about SPARES_MAX * SPARE_ROOM_MAX (1 MiB) a thread that releases
 * chunks, documented with cairn_open_options.cache_bytes; they go when the thread exits. */
typedef struct spares {
    size_t n;
    size_t next;             /* when full, the one a release replaces (round robin) */
    chunk *c[SPARES_MAX];
} spares;

static pthread_key_t spares_key;
static pthread_once_t spares_once = PTHREAD_ONCE_INIT;

static void spares_dispose(void *p)
{
    spares *s = p;
    for (size_t i = 0; i < s->n; i++) {
        SPARE_UNPARK(s->c[i]);
        free(s->c[i]);
    }
    free(s);
}

static void make_spares_key(void) { pthread_key_create(&spares_key, spares_dispose); }

static spares *thread_spares(bool make)
{
    pthread_once(&spares_once, make_spares_key);
    spares *s = pthread_getspecific(spares_key);
    if (!s && make && (s = calloc(1, sizeof *s)) != NULL && pthread_setspecific(spares_key, s)) {
        free(s);
        s = NULL;
    }
    return s;
}

/* The smallest spare that holds len bytes without wasting much, taken; or NULL. */
static chunk *spare_take(size_t len)
{
    spares *s = len <= SPARE_ROOM_MAX ? thread_spares(false) : NULL;
    size_t best = SPARES_MAX;
    for (size_t i = 0; s && i < s->n; i++) {
        uint32_t room = s->c[i]->room;
        if (room >= len && room <= len + len / 8 + SPARE_SLACK &&
            (best == SPARES_MAX || room < s->c[best]->room))
            best = i;
    }
    if (best == SPARES_MAX) return NULL;
    chunk *c = s->c[best];
    s->c[best] = s->c[--s->n];
    SPARE_UNPARK(c);
    return c;
}

chunk *chunk_alloc(size_t len)
{
    chunk *c = spare_take(len);
    if (c) return chunk_init(c, (uint8_t *)(c + 1) + CHUNK_HEADROOM, len, c->room);
    c = cairn_malloc(sizeof(chunk) + CHUNK_HEADROOM + len);
    if (!c) {
        ERR(CAIRN_ENOMEM, "out of memory allocating a chunk of %zu bytes", len);
        return NULL;
    }
    return chunk_init(c, (uint8_t *)(c + 1) + CHUNK_HEADROOM, len, len);
}

chunk *chunk_alloc_ref(const uint8_t *data, size_t len)
{
    chunk *c = cairn_malloc(sizeof(chunk));
    if (!c) {
        ERR(CAIRN_ENOMEM, "out of memory allocating a chunk header");
        return NULL;
    }
    return chunk_init(c, (uint8_t *)data, len, 0); /* never written through: mapped read-only */
}

void chunk_release(chunk *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    spares *s = c->room && c->room <= SPARE_ROOM_MAX ? thread_spares(true) : NULL;
    if (!s) {
        free(c);
        return;
    }
    SPARE_PARK(c);
    if (s->n < SPARES_MAX) {
        s->c[s->n++] = c;
        return;
    }
    /* full: replace them in turn, so the spares follow the sizes being read (keeping the
     * largest instead left buffers too large for the chunks asked for) */
    chunk *out = s->c[s->next];
    s->c[s->next] = c;
    s->next = (s->next + 1) % SPARES_MAX;
    SPARE_UNPARK(out);
    free(out);
}

static inline shard *shard_of(chunk_cache *cache, const cairn_id *id)
{
    return &cache->shards[id->bytes[31] % SHARDS];
}

static inline uint64_t tag_of(const cairn_id *id) { return load_le64(id->bytes + 8); }

static inline size_t cost(const chunk *c) { return MAX(c->len, c->room) + CHUNK_OVERHEAD; }

int cache_new(chunk_cache **out, size_t capacity_bytes)
{
    chunk_cache *cache = cairn_calloc(1, sizeof *cache);
    if (!cache) return ERR(CAIRN_ENOMEM, "out of memory creating the chunk cache");
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &cache->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->mask = SLOTS_MIN - 1;
        s->slots = cairn_calloc(SLOTS_MIN, sizeof(cslot));
        s->cap = capacity_bytes / SHARDS;
        s->lru.lnext = s->lru.lprev = &s->lru;
        if (!s->slots) {
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
        if (s->slots) {
            for (chunk *c = s->lru.lnext; c != &s->lru;) {
                chunk *next = c->lnext;
                chunk_release(c);
                c = next;
            }
        }
        free(s->slots);
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

/* The slot holding id, or the empty slot where it would go. Linear probing. */
static size_t probe(const shard *s, const cairn_id *id)
{
    uint64_t tag = tag_of(id);
    size_t i = (size_t)tag & s->mask;
    for (;; i = (i + 1) & s->mask) {
        const cslot *sl = &s->slots[i];
        if (!sl->c) return i;
        if (sl->tag == tag) {
            __builtin_prefetch(sl->data); /* the node header and the first offsets */
            __builtin_prefetch(sl->data + 64);
            if (memcmp(sl->c->id.bytes, id->bytes, CAIRN_ID_SIZE) == 0) return i;
        }
    }
}

static void place(shard *s, chunk *c)
{
    size_t i = probe(s, &c->id);
    s->slots[i] = (cslot){ tag_of(&c->id), c, c->data };
}

/* Removes slot i (backward-shift deletion keeps every probe sequence unbroken) and returns its
 * chunk, whose reference the caller drops once the shard is unlocked. */
static chunk *remove_slot(shard *s, size_t i)
{
    chunk *c = s->slots[i].c;
    size_t j = i;
    for (;;) {
        s->slots[i].c = NULL;
        for (;;) {
            j = (j + 1) & s->mask;
            if (!s->slots[j].c) goto done;
            size_t home = (size_t)s->slots[j].tag & s->mask;
            /* move j back to i unless its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        s->slots[i] = s->slots[j];
        i = j;
    }
done:
    lru_unlink(c);
    s->n--;
    s->bytes -= cost(c);
    return c;
}

static void grow(shard *s)
{
    size_t nmask = s->mask * 2 + 1;
    cslot *ns = cairn_calloc(nmask + 1, sizeof *ns);
    if (!ns) return; /* keep the old table: fuller, still correct (it never gets full: see put) */
    cslot *old = s->slots;
    size_t oldn = s->mask + 1;
    s->slots = ns;
    s->mask = nmask;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].c) place(s, old[i].c);
    free(old);
}

static chunk *lookup(chunk_cache *cache, const cairn_id *id, bool count)
{
    shard *s = shard_of(cache, id);
    pthread_mutex_lock(&s->mu);
    chunk *c = s->slots[probe(s, id)].c;
    if (c) {
        chunk_retain(c);
        atomic_store_explicit(&c->referenced, 1, memory_order_relaxed);
        s->hits += count;
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

chunk *cache_get(chunk_cache *cache, const cairn_id *id) { return lookup(cache, id, true); }

chunk *cache_peek(chunk_cache *cache, const cairn_id *id) { return lookup(cache, id, false); }

void cache_note_miss(chunk_cache *cache)
{
    atomic_fetch_add_explicit(&cache->misses, 1, memory_order_relaxed);
}

chunk *cache_put(chunk_cache *cache, chunk *c)
{
    shard *s = shard_of(cache, &c->id);
    pthread_mutex_lock(&s->mu);
    size_t i = probe(s, &c->id);
    if (s->slots[i].c) {
        chunk *have = s->slots[i].c;
        chunk_retain(have);
        pthread_mutex_unlock(&s->mu);
        return have;
    }
    if ((s->n + 1) * 4 > (s->mask + 1) * 3) { /* over 3/4 full: grow (or, failing that, evict) */
        grow(s);
        i = probe(s, &c->id);
    }
    chunk_retain(c); /* the cache's reference */
    chunk_retain(c); /* the caller's new reference */
    s->slots[i] = (cslot){ tag_of(&c->id), c, c->data };
    lru_push_front(s, c);
    s->n++;
    s->bytes += cost(c);
    /* Second chance: each chunk is passed over at most once per sweep, so this ends. Also
     * evicts when the table could not grow, so that it never fills up. */
    size_t passes = s->n;
    chunk *evicted[EVICT_BATCH]; /* released after the unlock (a few a put) */
    size_t nevicted = 0;
    while ((s->bytes > s->cap || s->n * 8 > (s->mask + 1) * 7) && s->n > 1) {
        chunk *victim = s->lru.lprev;
        if (victim == c || (passes > 0 && atomic_exchange_explicit(&victim->referenced, 0,
                                                                   memory_order_relaxed))) {
            if (victim != c) passes--; /* the new chunk is never the victim: it goes round */
            lru_unlink(victim);
            lru_push_front(s, victim);
            continue;
        }
        remove_slot(s, probe(s, &victim->id));
        if (nevicted < EVICT_BATCH) evicted[nevicted++] = victim;
        else chunk_release(victim); /* a put that frees this much is rare: under the lock */
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t k = 0; k < nevicted; k++) chunk_release(evicted[k]);
    return c;
}

void cache_drop(chunk_cache *cache, const cairn_id *id)
{
    shard *s = shard_of(cache, id);
    pthread_mutex_lock(&s->mu);
    size_t i = probe(s, id);
    chunk *c = s->slots[i].c ? remove_slot(s, i) : NULL;
    pthread_mutex_unlock(&s->mu);
    chunk_release(c);
}

void cache_stats(chunk_cache *cache, uint64_t *bytes, uint64_t *hits, uint64_t *misses)
{
    uint64_t b = 0, h = 0;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &cache->shards[i];
        pthread_mutex_lock(&s->mu);
        b += s->bytes;
        h += s->hits;
        pthread_mutex_unlock(&s->mu);
    }
    *bytes = b;
    *hits = h;
    *misses = atomic_load_explicit(&cache->misses, memory_order_relaxed);
}
