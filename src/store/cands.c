/*
 * cands.c - the gc candidates a remote store handle keeps (set_candidates, in
 * include/cairn/sys/store.h): the chunks of the current gc record, which the handle reports
 * absent to has and writes again on put, each once (docs/ARCHITECTURE.md, "gc on a remote
 * store"). Shared by the s3 and postgres stores; each guards its set with its own mutex.
 */
#include <stdlib.h>

#include "store/store.h"

static int key_cmp(const void *a, const void *b) { return memcmp(a, b, sizeof(cairn_id)); }

int store_cands_set(store_cands *slot, pthread_mutex_t *mu, const cairn_id *keys, size_t n)
{
    store_cands fresh = { cairn_malloc((n ? n : 1) * sizeof *keys),
                          cairn_calloc(n ? n : 1, sizeof(bool)), n };
    if (!fresh.keys || !fresh.done) {
        store_cands_free(&fresh);
        return ERR(CAIRN_ENOMEM, "out of memory keeping %zu gc candidates", n);
    }
    if (n) memcpy(fresh.keys, keys, n * sizeof *keys);
    pthread_mutex_lock(mu);
    store_cands old = *slot;
    *slot = fresh;
    pthread_mutex_unlock(mu);
    store_cands_free(&old);
    return CAIRN_OK;
}

void store_cands_free(store_cands *c)
{
    free(c->keys);
    free(c->done);
    memset(c, 0, sizeof *c);
}

bool store_cands_pending(store_cands *c, const cairn_id *key, bool take)
{
    if (!c->n) return false;
    const cairn_id *at = bsearch(key, c->keys, c->n, sizeof *c->keys, key_cmp);
    if (!at || c->done[at - c->keys]) return false;
    if (take) c->done[at - c->keys] = true;
    return true;
}
