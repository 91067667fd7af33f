/*
 * chunk.h - chunks: immutable byte strings named by the SHA-256 of their content.
 *
 * This layer sits between the store backends (which move opaque frames) and the tree (which
 * reads node bytes). It frames chunks (compression), verifies every chunk that comes back from
 * a store against its id, and keeps verified chunks in a size-bounded cache shared by threads.
 *
 * A `chunk` handed out by this layer is reference-counted and immutable: its bytes stay valid
 * until chunk_release(). Nothing above this layer ever sees unverified bytes.
 */
#ifndef CAIRN_CHUNK_H
#define CAIRN_CHUNK_H

#include <stdatomic.h>

#include "base/base.h"
#include "prefetch.h"

/* Largest plaintext chunk a frame may declare (hostile frames cannot make us allocate more). */
#define CHUNK_MAX_SIZE (16u << 20)
/* Room kept in front of every chunk's bytes so that a raw frame can be built in place. */
#define CHUNK_HEADROOM 16

/* The first byte of every hashed structure names its kind (docs/FORMAT.md, "Chunk kinds"). */
enum chunk_kind {
    CHUNK_KIND_NODE = 1,     /* prolly tree node */
    CHUNK_KIND_ROOT = 2,     /* working-set root record */
    CHUNK_KIND_COMMIT = 3,   /* commit */
    CHUNK_KIND_REFLOG = 4,   /* reflog entry: one move of a branch or tag */
};

typedef struct chunk {
    atomic_uint refs;
    atomic_uchar checked;    /* the chunk kind an upper layer has validated these bytes as; 0 = none */
    atomic_uchar referenced; /* cache: used since the clock hand last passed (second chance) */
    uint32_t len;
    uint32_t room;           /* bytes allocated for the data: len or more when the buffer is
                                reused (chunk_alloc); 0 when the bytes live elsewhere */
    cairn_id id;
    struct chunk *lprev, *lnext; /* cache: insertion-ordered ring for second-chance eviction */
    uint8_t *data;           /* points at the bytes (just after this struct) */
} chunk;

/** Allocates a chunk with room for len bytes (refs = 1, id unset). NULL on ENOMEM (message set).
 *  A buffer this thread released lately is reused when one fits (see cache.c): a thread keeps
 *  up to 1 MiB of them, outside the cache's bound. */
chunk *chunk_alloc(size_t len);
/** A chunk whose bytes live elsewhere (a store's mapping, valid until the store closes): only
 *  the header is allocated. It has no headroom and its bytes are read-only. */
chunk *chunk_alloc_ref(const uint8_t *data, size_t len);
static inline void chunk_retain(chunk *c) { atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); }
/** Drops a reference; frees at zero. Accepts NULL. */
void chunk_release(chunk *c);

/* ---- frames (frame.c): how a chunk's bytes are stored ---- */

enum frame_codec { FRAME_RAW = 0, FRAME_ZSTD = 1 };

/** Encodes plaintext into a frame (zstd at `level` when that saves space; level < 0 = never). */
int frame_encode(cairn_buf *out, const void *data, size_t len, int level);
/** Like frame_encode, but a raw frame is built in place in the chunk's headroom: *out points at
 *  the frame (inside c or inside buf), *out_len is its length. */
int frame_encode_chunk(const uint8_t **out, size_t *out_len, cairn_buf *buf, chunk *c, int level);
/** True when a sample of the bytes looks like random data, which no codec will shrink. */
bool frame_looks_random(const uint8_t *data, size_t len);
/** Decodes a frame into out (plaintext). Any malformed input is CAIRN_ECORRUPT. */
int frame_decode(cairn_buf *out, const void *frame, size_t len);
/** Like frame_decode, but into a new chunk (saves a copy on the read path). With in_place, a
 *  raw frame's chunk points into `frame` instead of copying it (frame must outlive the chunk). */
int frame_decode_chunk(chunk **out, const void *frame, size_t len, bool in_place);

/* ---- the verified chunk cache (cache.c) ---- */

typedef struct chunk_cache chunk_cache;

int cache_new(chunk_cache **out, size_t capacity_bytes);
void cache_free(chunk_cache *cache);
/** Returns a new reference to the cached chunk, or NULL: a reader's lookup, counted as a hit
 *  when it finds the chunk. A lookup that finds nothing counts nothing: the reader then loads
 *  the chunk (cache_note_miss) or finds it after all (a worker loaded it: a hit), and looking
 *  again on the way must not count one read twice (it did: `stats` showed 2-3 misses a load). */
chunk *cache_get(chunk_cache *cache, const cairn_id *id);
/** Like cache_get, but counts nothing: whether a chunk is cached (read-ahead's checks, writers). */
chunk *cache_peek(chunk_cache *cache, const cairn_id *id);
/** Counts a miss: a reader's read that went to the store. */
void cache_note_miss(chunk_cache *cache);
/** Inserts c (the cache takes its own reference). If the id is cached already, returns a new
 *  reference to the cached copy instead; else returns a new reference to c. */
chunk *cache_put(chunk_cache *cache, chunk *c);
/** Drops one id from the cache (after a store deleted it). */
void cache_drop(chunk_cache *cache, const cairn_id *id);
/** Bytes held; reads served from the cache; reads that went to the store (a read-ahead
 *  worker's loads are neither: the reader that then finds the chunk counts a hit). */
void cache_stats(chunk_cache *cache, uint64_t *bytes, uint64_t *hits, uint64_t *misses);

/* ---- the chunk store: store + frames + verification + cache (cs.c) ---- */

typedef struct chunkstore {
    cairn_store *store;
    chunk_cache *cache;
    prefetcher *pf;                  /* read-ahead workers, or NULL */
    int level;                       /* zstd level for new chunks; < 0 = none */
    atomic_ullong chunks_read;       /* fetched from the store and verified */
    atomic_ullong chunks_written;    /* new chunks handed to the store */
    bool put_through;                /* puts go to the store even when the chunk is cached:
                                        a store whose gc deletes while other machines write
                                        (CAIRN_STORE_CAP_GC_GEN) answers for itself whether a
                                        chunk is still stored, the cache cannot */
} chunkstore;

int cs_init(chunkstore *cs, cairn_store *store, size_t cache_bytes, int level);
/** Starts read-ahead with n worker threads (0: none; -1: one fewer than the CPUs, at most 4). */
int cs_start_readahead(chunkstore *cs, int n);
/** Hints that these chunks will be read soon; workers fetch and verify them into the cache. */
void cs_prefetch(chunkstore *cs, const cairn_id *ids, size_t n);
/** Hints to the store that these chunks will be read soon, in about this order (a cursor's next
 *  leaves): a store that can (the store's will_read) starts reading their bytes in. Costs
 *  nothing when it cannot; reports nothing. */
void cs_will_read(chunkstore *cs, const cairn_id *ids, size_t n);
/** Whether cs_will_read() reaches the store. */
static inline bool cs_takes_hints(const chunkstore *cs)
{
    return cs->store->version >= 7 && cs->store->will_read != NULL;
}
/** Read-ahead worker threads (0 when read-ahead is off). */
int cs_readahead_workers(const chunkstore *cs);
/** Chunk reads so far (cache hits + misses: each read once, whether the cache had it or the
 *  store was asked): the work reads have done, for tests. */
uint64_t cs_lookups(chunkstore *cs);
/** Fetches, verifies and caches a chunk that is not in the cache (cs_get's slow path). */
int cs_load(chunkstore *cs, chunk **out, const cairn_id *id);
/** Closes the cache (not the store). */
void cs_dispose(chunkstore *cs);
/** Gets a verified chunk: from the cache, else from the store (re-hashed against id; a
 *  mismatch is CAIRN_ECORRUPT naming the id and the store). Caller releases *out. */
int cs_get(chunkstore *cs, chunk **out, const cairn_id *id);
/** cs_get(), but a chunk that has to be loaded is not put into the cache: for reads of chunks
 *  about to be superseded (the old leaves a big edit rewrites), which would only push out what
 *  readers use. A cached chunk is returned from the cache as by cs_get(). */
int cs_get_uncached(chunkstore *cs, chunk **out, const cairn_id *id);
/** Stores data as a chunk; writes its id. When out_chunk is not NULL it receives a reference to
 *  the (cached) chunk. */
int cs_put(chunkstore *cs, cairn_id *out_id, chunk **out_chunk, const void *data, size_t len);
/** Stores a chunk the caller built with chunk_alloc() (hashes it, sets c->id). Takes no
 *  ownership: the caller still releases c. With cache = false the chunk is not kept in the
 *  cache (bulk writes: they would only push out what readers use). */
int cs_put_chunk(chunkstore *cs, chunk *c, bool cache);
/** Durability barrier: everything put so far survives a crash once this returns. */
int cs_flush(chunkstore *cs);

#endif /* CAIRN_CHUNK_H */
