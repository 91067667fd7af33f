/*
 * cs.c - the chunk store: what the tree reads and writes through. A read comes from the cache or
 * from the store backend; a chunk from the backend is decoded and re-hashed, and used only if its
 * hash equals the id that was asked for (invariant 1 in DESIGN.md). A write hashes the
 * plaintext, frames it and hands it to the backend, and caches it: a chunk just written is
 * likely to be read next.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "chunk.h"

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void free_buf(void *p)
{
    cairn_buf_dispose(p);
    free(p);
}
static void make_buf_key(void) { pthread_key_create(&buf_key, free_buf); }

/* A per-thread scratch buffer for frames, so that reads and writes do not allocate one each. */
static cairn_buf *scratch(void)
{
    pthread_once(&buf_once, make_buf_key);
    cairn_buf *b = pthread_getspecific(buf_key);
    if (!b && (b = calloc(1, sizeof *b)) != NULL) pthread_setspecific(buf_key, b);
    return b;
}

int cs_init(chunkstore *cs, cairn_store *store, size_t cache_bytes, int level)
{
    memset(cs, 0, sizeof *cs);
    cs->store = store;
    cs->level = level;
    cs->put_through = store->version >= 6 && (store->caps & CAIRN_STORE_CAP_GC_GEN);
    atomic_init(&cs->chunks_read, 0);
    atomic_init(&cs->chunks_written, 0);
    return cache_new(&cs->cache, cache_bytes);
}

/* A read-ahead load (a worker's, or a reader's while a worker loads the chunk it wants): into
 * the cache unless it is there by now. A failure is left for the reader that needs the chunk,
 * which loads it itself and reports it; and it leaves the thread's last error as it was: on a
 * reader's thread (prefetcher_claim) it runs in the middle of the reader's own call, and the
 * error it would leave is not the reader's (nor is clearing the reader's its business). */
static void prefetch_load(const cairn_id *id, void *payload)
{
    chunkstore *cs = payload;
    chunk *c = cache_peek(cs->cache, id);
    if (c) {
        chunk_release(c);
        return;
    }
    cairn_error_saved was;
    cairn_error_save(&was);
    if (cs_load(cs, &c, id) == CAIRN_OK) {
        chunk_release(c);
        return;
    }
    cairn_error_restore(&was);
}

static int verify_and_cache(chunkstore *cs, chunk **out, chunk *c, const cairn_id *id,
                            bool cache);
static int load(chunkstore *cs, chunk **out, const cairn_id *id, bool cache);

typedef struct load_many_ctx {
    chunkstore *cs;
    const cairn_id *ids;
} load_many_ctx;

static int prefetch_got(size_t i, int rc, const void *data, size_t len, void *payload)
{
    load_many_ctx *l = payload;
    chunk *c = NULL, *cached = NULL;
    if (rc == CAIRN_OK && frame_decode_chunk(&c, data, len, false) == CAIRN_OK &&
        verify_and_cache(l->cs, &cached, c, &l->ids[i], true) == CAIRN_OK)
        chunk_release(cached);
    return 0; /* a failure is left for the reader that needs the chunk (worker threads only:
                 prefetch_load_many clears the error) */
}

/* A read-ahead worker's batch on a remote store: the ones not cached, in one get_many. */
static void prefetch_load_many(const cairn_id *ids, size_t n, void *payload)
{
    chunkstore *cs = payload;
    cairn_id want[PREFETCH_BATCH];
    size_t m = 0;
    for (size_t i = 0; i < n && m < PREFETCH_BATCH; i++) {
        chunk *c = cache_peek(cs->cache, &ids[i]);
        if (c) chunk_release(c);
        else want[m++] = ids[i];
    }
    load_many_ctx l = { cs, want };
    if (m) cairn_store_get_many(cs->store, want, m, prefetch_got, &l);
    cairn_error_clear();
}

int cs_start_readahead(chunkstore *cs, int n)
{
    if (cs->pf) return CAIRN_OK;
    bool remote = cs->store->version >= 5 && (cs->store->caps & CAIRN_STORE_CAP_REMOTE);
    TRY(prefetcher_new(&cs->pf, n < 0 ? prefetcher_default_threads() : n, prefetch_load, cs));
    if (remote) prefetcher_set_batch(cs->pf, prefetch_load_many);
    return CAIRN_OK;
}

void cs_will_read(chunkstore *cs, const cairn_id *ids, size_t n)
{
    if (n && cs_takes_hints(cs)) cs->store->will_read(cs->store, ids, n);
}

void cs_prefetch(chunkstore *cs, const cairn_id *ids, size_t n)
{
    if (cs->pf) prefetcher_request(cs->pf, ids, n); /* workers skip what is cached by then */
}

uint64_t cs_lookups(chunkstore *cs)
{
    uint64_t bytes, hits, misses;
    cache_stats(cs->cache, &bytes, &hits, &misses);
    return hits + misses;
}

int cs_readahead_workers(const chunkstore *cs) { return prefetcher_threads(cs->pf); }

void cs_dispose(chunkstore *cs)
{
    prefetcher_free(cs->pf); /* before the cache: workers put into it */
    cs->pf = NULL;
    cache_free(cs->cache);
    cs->cache = NULL;
}

static int decode_failed(chunkstore *cs, int rc, const cairn_id *id)
{
    if (rc != CAIRN_ECORRUPT) return rc; /* ENOMEM: nothing wrong with the chunk */
    char hex[CAIRN_ID_HEX_SIZE], why[512];
    cairn_id_to_hex(hex, id);
    snprintf(why, sizeof why, "%s", cairn_error_last()->message);
    return CORRUPT("chunk %s in the %s store %s is damaged (%s); run 'cairn verify' and restore "
                   "it from a replica or backup",
                   hex, cs->store->kind, cs->store->location, why);
}

/* " (in FILE at offset N)" when the store can say where a chunk is, else "": damage is named
 * by the file that holds it. */
static void where(char *out, size_t cap, cairn_store *st, const cairn_id *id)
{
    out[0] = '\0';
    cairn_store_location loc;
    if (st->version >= 3 && (st->caps & CAIRN_STORE_CAP_LOCATE) && st->locate &&
        st->locate(st, id, &loc) == CAIRN_OK && loc.name[0])
        snprintf(out, cap, " (in %s at offset %llu)", loc.name, (unsigned long long)loc.offset);
    cairn_error_clear();
}

/* The one place a chunk from a store becomes usable: only if it hashes to the id asked for.
 * Then it goes into the cache, unless cache is false (*out is then c itself). */
static int verify_and_cache(chunkstore *cs, chunk **out, chunk *c, const cairn_id *id,
                            bool cache)
{
    hash_sha256(&c->id, c->data, c->len);
    if (memcmp(c->id.bytes, id->bytes, CAIRN_ID_SIZE) != 0) {
        char hex[CAIRN_ID_HEX_SIZE], at[CAIRN_STORE_LOCATION_NAME_MAX + 48];
        chunk_release(c);
        cairn_id_to_hex(hex, id);
        where(at, sizeof at, cs->store, id);
        return CORRUPT("chunk %s in the %s store %s%s is damaged: its content does not hash to "
                       "its id; run 'cairn verify' and restore it from a replica or backup",
                       hex, cs->store->kind, cs->store->location, at);
    }
    atomic_fetch_add_explicit(&cs->chunks_read, 1, memory_order_relaxed);
    if (!cache) {
        *out = c;
        return CAIRN_OK;
    }
    *out = cache_put(cs->cache, c);
    chunk_release(c);
    return CAIRN_OK;
}

static int get(chunkstore *cs, chunk **out, const cairn_id *id, bool cache)
{
    chunk *c = cache_get(cs->cache, id);
    if (c) {
        *out = c;
        return CAIRN_OK;
    }
    if (cs->pf) {
        prefetcher_claim(cs->pf, id);
        if ((c = cache_get(cs->cache, id)) != NULL) { /* a worker just finished it */
            *out = c;
            return CAIRN_OK;
        }
    }
    cache_note_miss(cs->cache);
    return load(cs, out, id, cache);
}

int cs_get(chunkstore *cs, chunk **out, const cairn_id *id) { return get(cs, out, id, true); }

int cs_get_uncached(chunkstore *cs, chunk **out, const cairn_id *id)
{
    return get(cs, out, id, false);
}

/* Mapped bytes are usually cold (in the page cache, not in the CPU's caches), and SHA-256 reads
 * them one 64-byte block after another: asking for every line first keeps many misses in
 * flight at once instead of one per block. */
#define CACHE_LINE 64

static void prefetch_bytes(const uint8_t *p, size_t len)
{
    for (size_t off = 0; off < len; off += CACHE_LINE) __builtin_prefetch(p + off);
}

int cs_load(chunkstore *cs, chunk **out, const cairn_id *id) { return load(cs, out, id, true); }

static int load(chunkstore *cs, chunk **out, const cairn_id *id, bool cache)
{
    chunk *c;
    char hex[CAIRN_ID_HEX_SIZE];
    const uint8_t *mapped;
    size_t mapped_len;
    int rc = CAIRN_EUNSUPPORTED;
    if (cs->store->version >= 2 && cs->store->get_mapped)
        rc = cs->store->get_mapped(cs->store, &mapped, &mapped_len, id);
    if (rc == CAIRN_OK) {
        prefetch_bytes(mapped, mapped_len);
        rc = frame_decode_chunk(&c, mapped, mapped_len, true);
        return rc < 0 ? decode_failed(cs, rc, id) : verify_and_cache(cs, out, c, id, cache);
    }
    if (rc != CAIRN_EUNSUPPORTED) {
        cairn_id_to_hex(hex, id);
        return cairn_error_prefix(rc, "reading chunk %s", hex);
    }
    cairn_buf *frame = scratch();
    FAIL_IF(!frame, CAIRN_ENOMEM, "out of memory");
    rc = cs->store->get(cs->store, frame, id);
    if (rc < 0) {
        cairn_id_to_hex(hex, id);
        if (rc == CAIRN_ENOTFOUND)
            return ERR(CAIRN_ENOTFOUND,
                       "chunk %s is missing from the %s store %s: the repository is incomplete; "
                       "run 'cairn verify'",
                       hex, cs->store->kind, cs->store->location);
        return cairn_error_prefix(rc, "reading chunk %s", hex);
    }
    rc = frame_decode_chunk(&c, frame->data, frame->len, false);
    return rc < 0 ? decode_failed(cs, rc, id) : verify_and_cache(cs, out, c, id, cache);
}

static int store_new(chunkstore *cs, chunk *c)
{
    cairn_buf *scratch_buf = scratch();
    FAIL_IF(!scratch_buf, CAIRN_ENOMEM, "out of memory");
    const uint8_t *frame;
    size_t frame_len;
    TRY(frame_encode_chunk(&frame, &frame_len, scratch_buf, c, cs->level));
    TRY(cs->store->put(cs->store, &c->id, frame, frame_len));
    atomic_fetch_add_explicit(&cs->chunks_written, 1, memory_order_relaxed);
    return CAIRN_OK;
}

int cs_put_chunk(chunkstore *cs, chunk *c, bool cache)
{
    hash_sha256(&c->id, c->data, c->len);
    /* put_through: a remote gc may have deleted it since it was cached, or recorded it as a
     * candidate to write again, so cached does not mean stored */
    chunk *have = cs->put_through ? NULL : cache_peek(cs->cache, &c->id);
    if (have) { /* cached means stored: nothing to write */
        chunk_release(have);
        return CAIRN_OK;
    }
    TRY(store_new(cs, c));
    if (cache) chunk_release(cache_put(cs->cache, c));
    return CAIRN_OK;
}

int cs_put(chunkstore *cs, cairn_id *out_id, chunk **out_chunk, const void *data, size_t len)
{
    chunk *c = chunk_alloc(len);
    if (!c) return CAIRN_ENOMEM;
    if (len) memcpy(c->data, data, len);
    int rc = cs_put_chunk(cs, c, true);
    if (rc == CAIRN_OK) {
        *out_id = c->id;
        if (out_chunk) {
            chunk *cached = cache_peek(cs->cache, &c->id);
            *out_chunk = cached ? cached : (chunk_retain(c), c);
        }
    }
    chunk_release(c);
    return rc;
}

int cs_flush(chunkstore *cs) { return cs->store->flush ? cs->store->flush(cs->store) : CAIRN_OK; }
