/*
 * prefetch.h - read-ahead workers (prefetch.c): threads that load chunks a reader will need
 * soon. They know nothing of the chunk store: each load is the function the owner gave when it
 * made them (cs.c gives one that fetches, verifies and caches), so prefetch.c never calls back
 * into cs.c.
 */
#ifndef CAIRN_PREFETCH_H
#define CAIRN_PREFETCH_H

#include "base/base.h"

typedef struct prefetcher prefetcher;

/** Loads one chunk to where the reader will look for it. Called on a worker thread, or on a
 *  reader's in prefetcher_claim(); it must not call the prefetcher. A failure is not reported
 *  (nor left as the thread's error): the reader loads the chunk itself and reports it. */
typedef void (*prefetch_load_fn)(const cairn_id *id, void *payload);

/** Loads several chunks at once (a store reached over a network: one batch, many requests in
 *  flight), with the same contract as prefetch_load_fn for each. */
typedef void (*prefetch_load_many_fn)(const cairn_id *ids, size_t n, void *payload);

/** Makes read-ahead with nthreads workers, started by the first request (nthreads 0: *out
 *  NULL, reads go without read-ahead; none started then: requests are dropped).
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
int prefetcher_new(prefetcher **out, int nthreads, prefetch_load_fn load, void *payload);
/** Makes each worker take up to PREFETCH_BATCH queued ids at a time and load them with one
 *  call of load_many (before any request). pf may be NULL. */
void prefetcher_set_batch(prefetcher *pf, prefetch_load_many_fn load_many);
#define PREFETCH_BATCH 64
/** Stops the workers (waiting for their loads) and frees pf. pf may be NULL. */
void prefetcher_free(prefetcher *pf);
/** Queues ids for the workers (hints: dropped when the queue is full). */
void prefetcher_request(prefetcher *pf, const cairn_id *ids, size_t n);
/** Before loading id itself: unqueues it if queued. If a worker is loading it, loads queued ids
 *  on this thread (through the prefetcher's load) until the worker is done with it, nothing is
 *  queued or it did 16 of them, and returns without waiting, so the caller may load id a second
 *  time; with prefetcher_set_batch, waits for the worker instead. */
void prefetcher_claim(prefetcher *pf, const cairn_id *id);
int prefetcher_default_threads(void);
/** The workers pf has or will start with its first request. */
int prefetcher_threads(const prefetcher *pf);

#endif /* CAIRN_PREFETCH_H */
