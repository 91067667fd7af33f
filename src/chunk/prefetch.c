/*
 * prefetch.c - read-ahead: worker threads that fetch and verify chunks a reader will need soon
 * (a cursor asks for the leaves after the one it is on), so that the SHA-256 of a cold scan is
 * spread over the machine's cores instead of waiting on one.
 *
 * A request is only a hint: the queue is bounded and drops what does not fit. The reader never
 * waits for the queue; when it reaches a chunk nobody has started, it loads it itself. When it
 * reaches one a worker is loading, it does not sit idle: it loads queued chunks meanwhile, on
 * its own thread (the next ones it will need, as a rule), and looks again after each; when
 * nothing is queued, or after HELP_MAX of them, it loads the chunk a second time rather than
 * wait. Waiting on a
 * worker cost the reader most of its wall time on a busy machine, where the worker, descheduled
 * in the middle of a load, may not run again for milliseconds. On a store read in batches
 * (prefetcher_set_batch: a network round trip a batch) the reader waits for the worker's batch
 * instead: a second request would cost as much as the wait.
 * On a store reached over a network a worker takes a batch of queued ids at once and loads them
 * with one call (prefetcher_set_batch: the chunk store's get_many), many requests in flight.
 *
 * The workers start with the first request, not with the prefetcher: a process that opens a
 * repository to read one key never scans, and starting and joining threads it does not use
 * is most of what such a short process would otherwise wait for on a busy machine.
 */
#include <pthread.h>
#include <stdlib.h>

#include "prefetch.h"

#define QUEUE_CAP 1024
#define WORKERS_MAX 8
#define HELP_MAX 16 /* queued loads a reader does while a worker holds its chunk, at most */
#define HELPERS_MAX 16 /* readers doing a queued load at once (more: they do not help) */

struct prefetcher {
    prefetch_load_fn load;
    prefetch_load_many_fn load_many; /* NULL: one id per load */
    void *payload;
    pthread_mutex_t mu;
    pthread_cond_t work;     /* queue not empty, or stopping */
    pthread_cond_t done;     /* an in-flight load finished */
    cairn_id queue[QUEUE_CAP];
    bool taken[QUEUE_CAP];   /* removed by a reader that loaded it itself */
    size_t head, n;
    cairn_id inflight[WORKERS_MAX][PREFETCH_BATCH]; /* what each worker is loading */
    size_t ninflight[WORKERS_MAX];
    bool busy[WORKERS_MAX];
    cairn_id helping[HELPERS_MAX]; /* queued ids readers are loading in prefetcher_claim() */
    bool helper_busy[HELPERS_MAX];
    int nhelping;            /* helper_busy slots set */
    pthread_t threads[WORKERS_MAX];
    int nthreads;            /* started */
    int want;                /* to start with the first request */
    bool started, stop;
};

typedef struct worker_arg {
    prefetcher *pf;
    int me;
} worker_arg;

static bool id_eq(const cairn_id *a, const cairn_id *b)
{
    return load_le64(a->bytes) == load_le64(b->bytes) && /* ids are random: decided here */
           memcmp(a->bytes, b->bytes, CAIRN_ID_SIZE) == 0;
}

/* Takes the oldest queued id nobody took into *out (pf->mu held); false when none is queued. */
static bool take_queued(prefetcher *pf, cairn_id *out)
{
    while (pf->n) {
        size_t slot = pf->head;
        pf->head = (pf->head + 1) % QUEUE_CAP;
        pf->n--;
        if (!pf->taken[slot]) {
            *out = pf->queue[slot];
            return true;
        }
    }
    return false;
}

static void *worker(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    prefetcher *pf = wa.pf;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (pf->n == 0 && !pf->stop) pthread_cond_wait(&pf->work, &pf->mu);
        if (pf->stop) break;
        size_t want = pf->load_many ? PREFETCH_BATCH : 1, k = 0;
        cairn_id *ids = pf->inflight[wa.me];
        while (k < want && take_queued(pf, &ids[k])) k++;
        if (!k) continue;
        pf->ninflight[wa.me] = k;
        pf->busy[wa.me] = true;
        pthread_mutex_unlock(&pf->mu);
        if (pf->load_many) pf->load_many(ids, k, pf->payload);
        else pf->load(&ids[0], pf->payload);
        pthread_mutex_lock(&pf->mu);
        pf->busy[wa.me] = false;
        pf->ninflight[wa.me] = 0;
        pthread_cond_broadcast(&pf->done);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

int prefetcher_new(prefetcher **out, int nthreads, prefetch_load_fn load, void *payload)
{
    *out = NULL;
    if (nthreads <= 0) return CAIRN_OK;
    if (nthreads > WORKERS_MAX) nthreads = WORKERS_MAX;
    prefetcher *pf = cairn_calloc(1, sizeof *pf);
    if (!pf) return ERR(CAIRN_ENOMEM, "out of memory starting read-ahead");
    pf->load = load;
    pf->payload = payload;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->work, NULL);
    pthread_cond_init(&pf->done, NULL);
    pf->want = nthreads;
    *out = pf;
    return CAIRN_OK;
}

/* Starts the workers (pf->mu held), once; if none starts, requests are dropped. */
static void start_workers(prefetcher *pf)
{
    pf->started = true;
    for (int i = 0; i < pf->want; i++) {
        worker_arg *wa = cairn_malloc(sizeof *wa);
        if (!wa) break;
        *wa = (worker_arg){ pf, i };
        if (pthread_create(&pf->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            break;
        }
        pf->nthreads++;
    }
}

void prefetcher_free(prefetcher *pf)
{
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_broadcast(&pf->work);
    pthread_mutex_unlock(&pf->mu);
    for (int i = 0; i < pf->nthreads; i++) pthread_join(pf->threads[i], NULL);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->work);
    pthread_cond_destroy(&pf->done);
    free(pf);
}

void prefetcher_request(prefetcher *pf, const cairn_id *ids, size_t n)
{
    pthread_mutex_lock(&pf->mu);
    if (!pf->started) start_workers(pf);
    size_t added = 0;
    for (size_t i = 0; pf->nthreads && i < n && pf->n < QUEUE_CAP; i++) {
        size_t slot = (pf->head + pf->n) % QUEUE_CAP;
        pf->queue[slot] = ids[i];
        pf->taken[slot] = false;
        pf->n++;
        added++;
    }
    if (added) pthread_cond_broadcast(&pf->work);
    pthread_mutex_unlock(&pf->mu);
}

/* Whether a worker, or a reader helping, is loading id (pf->mu held). */
static bool in_flight(const prefetcher *pf, const cairn_id *id)
{
    for (int w = 0; w < pf->nthreads; w++)
        for (size_t k = 0; pf->busy[w] && k < pf->ninflight[w]; k++)
            if (id_eq(&pf->inflight[w][k], id)) return true;
    for (int h = 0; pf->nhelping && h < HELPERS_MAX; h++)
        if (pf->helper_busy[h] && id_eq(&pf->helping[h], id)) return true;
    return false;
}

/* A free helper slot (pf->mu held), or -1. */
static int helper_slot(const prefetcher *pf)
{
    for (int h = 0; pf->nhelping < HELPERS_MAX && h < HELPERS_MAX; h++)
        if (!pf->helper_busy[h]) return h;
    return -1;
}

void prefetcher_claim(prefetcher *pf, const cairn_id *id)
{
    pthread_mutex_lock(&pf->mu);
    for (size_t i = 0; i < pf->n; i++) { /* queued but not started: the caller loads it now */
        size_t slot = (pf->head + i) % QUEUE_CAP;
        if (!pf->taken[slot] && id_eq(&pf->queue[slot], id)) pf->taken[slot] = true;
    }
    cairn_id other;
    int helped = 0;
    while (in_flight(pf, id)) {
        if (pf->load_many) {
            pthread_cond_wait(&pf->done, &pf->mu); /* a batch in flight: wait for it */
            continue;
        }
        /* nothing to do meanwhile, or the worker seems not to run: load it a second time.
         * What the reader loads for the workers is in flight too while it does, so that
         * another reader that needs it does not start it again while there is other work. */
        int h = helper_slot(pf);
        if (h < 0 || helped++ == HELP_MAX || !take_queued(pf, &other)) break;
        pf->helping[h] = other;
        pf->helper_busy[h] = true;
        pf->nhelping++;
        pthread_mutex_unlock(&pf->mu);
        pf->load(&other, pf->payload); /* a worker's load, on this thread */
        pthread_mutex_lock(&pf->mu);
        pf->helper_busy[h] = false;
        pf->nhelping--; /* (nobody waits for a helper: only batch mode waits, and never helps) */
    }
    pthread_mutex_unlock(&pf->mu);
}

void prefetcher_set_batch(prefetcher *pf, prefetch_load_many_fn load_many)
{
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->load_many = load_many;
    pthread_mutex_unlock(&pf->mu);
}

int prefetcher_threads(const prefetcher *pf) { return pf ? pf->want : 0; }

int prefetcher_default_threads(void)
{
    int n = base_cpus();
    if (n <= 1) return 0;
    return MIN(n - 1, 4);
}
