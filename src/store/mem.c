/*
 * mem.c - the in-memory store: chunks in a hash table, refs in a sorted array, one mutex.
 * Used for "mem:" repositories and as the reference backend in the conformance suite.
 * flush() is a no-op: nothing here survives the process.
 */
#include <pthread.h>
#include <stdlib.h>

#include "store.h"
#include "store/refname.h"

typedef struct mem_chunk {
    struct mem_chunk *next;
    cairn_id key;
    size_t len;
    uint8_t data[];
} mem_chunk;

typedef struct mem_ref {
    char *name;
    uint8_t *val;
    size_t len;
} mem_ref;

typedef struct mem_store {
    cairn_store base;
    pthread_mutex_t mu;
    mem_chunk **buckets;
    size_t mask, n, bytes;
    mem_ref *refs;
    size_t nrefs, caprefs;
} mem_store;

static mem_chunk **mem_find(mem_store *m, const cairn_id *key)
{
    mem_chunk **pp = &m->buckets[load_le64(key->bytes) & m->mask];
    while (*pp && memcmp((*pp)->key.bytes, key->bytes, CAIRN_ID_SIZE) != 0) pp = &(*pp)->next;
    return pp;
}

static int mem_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    mem_chunk *c = *mem_find(m, key);
    int rc = c ? cairn_buf_set(out, c->data, c->len) : CAIRN_ENOTFOUND;
    pthread_mutex_unlock(&m->mu);
    if (rc == CAIRN_ENOTFOUND) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, key);
        return ERR(CAIRN_ENOTFOUND, "chunk %s is not in the mem store", hex);
    }
    return rc;
}

static void mem_grow(mem_store *m)
{
    size_t nmask = m->mask * 2 + 1;
    mem_chunk **nb = cairn_calloc(nmask + 1, sizeof *nb);
    if (!nb) return;
    for (size_t i = 0; i <= m->mask; i++) {
        for (mem_chunk *c = m->buckets[i]; c;) {
            mem_chunk *next = c->next;
            size_t b = load_le64(c->key.bytes) & nmask;
            c->next = nb[b];
            nb[b] = c;
            c = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->mask = nmask;
}

static int mem_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    mem_store *m = (mem_store *)st;
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->mu);
    mem_chunk **slot = mem_find(m, key);
    if (!*slot) {
        mem_chunk *c = cairn_malloc(sizeof *c + len);
        if (!c) {
            rc = ERR(CAIRN_ENOMEM, "mem store: out of memory storing %zu bytes", len);
        } else {
            c->next = NULL;
            c->key = *key;
            c->len = len;
            if (len) memcpy(c->data, data, len);
            *slot = c;
            m->n++;
            m->bytes += len;
            if (m->n > 2 * (m->mask + 1)) mem_grow(m);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_has(cairn_store *st, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    bool present = *mem_find(m, key) != NULL;
    pthread_mutex_unlock(&m->mu);
    return present ? CAIRN_OK : CAIRN_ENOTFOUND;
}

static int mem_del(cairn_store *st, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    mem_chunk **slot = mem_find(m, key);
    if (*slot) {
        mem_chunk *c = *slot;
        *slot = c->next;
        m->n--;
        m->bytes -= c->len;
        free(c);
    }
    pthread_mutex_unlock(&m->mu);
    return CAIRN_OK;
}

static int mem_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *), void *payload)
{
    mem_store *m = (mem_store *)st;
    /* Snapshot the keys first so that cb may call back into the store. */
    pthread_mutex_lock(&m->mu);
    size_t n = m->n, i = 0;
    cairn_id *keys = cairn_malloc((n ? n : 1) * sizeof *keys);
    uint64_t *lens = cairn_malloc((n ? n : 1) * sizeof *lens);
    if (keys && lens) {
        for (size_t b = 0; b <= m->mask; b++)
            for (mem_chunk *c = m->buckets[b]; c; c = c->next) {
                keys[i] = c->key;
                lens[i++] = c->len;
            }
    }
    pthread_mutex_unlock(&m->mu);
    int rc = CAIRN_OK;
    if (!keys || !lens) rc = ERR(CAIRN_ENOMEM, "mem store: out of memory listing chunks");
    for (size_t j = 0; rc == CAIRN_OK && j < i; j++) rc = cb(&keys[j], lens[j], payload);
    free(keys);
    free(lens);
    return rc;
}

static int mem_flush(cairn_store *st)
{
    (void)st;
    return CAIRN_OK;
}

/* Binary search: index of name, or where it would go (*found = false). */
static size_t ref_pos(mem_store *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->nrefs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->refs[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

static int mem_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_ref_name(name));
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t i = ref_pos(m, name, &found);
    int rc = found ? cairn_buf_set(out, m->refs[i].val, m->refs[i].len) : CAIRN_ENOTFOUND;
    pthread_mutex_unlock(&m->mu);
    if (rc == CAIRN_ENOTFOUND) return ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist", name);
    return rc;
}

static int mem_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                       const void *val, size_t vlen)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_ref_name(name));
    TRY(store_check_ref_value(name, vlen));
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t i = ref_pos(m, name, &found);
    if (expect ? !(found && m->refs[i].len == elen && memcmp(m->refs[i].val, expect, elen) == 0)
               : found) {
        rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently (compare-and-swap failed)", name);
    } else if (!val) {
        if (found) {
            free(m->refs[i].name);
            free(m->refs[i].val);
            memmove(&m->refs[i], &m->refs[i + 1], (m->nrefs - i - 1) * sizeof *m->refs);
            m->nrefs--;
        }
    } else {
        uint8_t *copy = cairn_malloc(vlen);
        char *nm = found ? NULL : cairn_strdup(name);
        if (!copy || (!found && !nm)) {
            free(copy);
            free(nm);
            rc = ERR(CAIRN_ENOMEM, "mem store: out of memory setting ref '%s'", name);
        } else if (found) {
            memcpy(copy, val, vlen);
            free(m->refs[i].val);
            m->refs[i].val = copy;
            m->refs[i].len = vlen;
        } else {
            if (m->nrefs == m->caprefs) {
                size_t ncap = m->caprefs ? m->caprefs * 2 : 8;
                mem_ref *nr = cairn_realloc(m->refs, ncap * sizeof *nr);
                if (!nr) {
                    free(copy);
                    free(nm);
                    pthread_mutex_unlock(&m->mu);
                    return ERR(CAIRN_ENOMEM, "mem store: out of memory setting ref '%s'", name);
                }
                m->refs = nr;
                m->caprefs = ncap;
            }
            memcpy(copy, val, vlen);
            memmove(&m->refs[i + 1], &m->refs[i], (m->nrefs - i) * sizeof *m->refs);
            m->refs[i] = (mem_ref){ nm, copy, vlen };
            m->nrefs++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_ref_list(cairn_store *st, const char *prefix,
                        int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    mem_store *m = (mem_store *)st;
    size_t plen = strlen(prefix);
    /* Copy matching refs out first so that cb may call back into the store. */
    pthread_mutex_lock(&m->mu);
    mem_ref *copy = cairn_calloc(m->nrefs ? m->nrefs : 1, sizeof *copy);
    size_t n = 0;
    int rc = CAIRN_OK;
    if (!copy) rc = ERR(CAIRN_ENOMEM, "mem store: out of memory listing refs");
    for (size_t i = 0; rc == CAIRN_OK && i < m->nrefs; i++) {
        if (strncmp(m->refs[i].name, prefix, plen) != 0) continue;
        copy[n].name = cairn_strdup(m->refs[i].name);
        copy[n].val = cairn_malloc(m->refs[i].len);
        copy[n].len = m->refs[i].len;
        if (!copy[n].name || !copy[n].val) rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
        else memcpy(copy[n].val, m->refs[i].val, m->refs[i].len);
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++)
        rc = cb(copy[i].name, copy[i].val, copy[i].len, payload);
    for (size_t i = 0; copy && i < n; i++) {
        free(copy[i].name);
        free(copy[i].val);
    }
    free(copy);
    return rc;
}

static int mem_stat(cairn_store *st, cairn_store_stats *out)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    out->chunks = m->n;
    out->bytes = m->bytes;
    out->files = 0;
    pthread_mutex_unlock(&m->mu);
    return CAIRN_OK;
}

static void mem_close(cairn_store *st)
{
    mem_store *m = (mem_store *)st;
    if (!m) return;
    for (size_t b = 0; m->buckets && b <= m->mask; b++)
        for (mem_chunk *c = m->buckets[b]; c;) {
            mem_chunk *next = c->next;
            free(c);
            c = next;
        }
    for (size_t i = 0; i < m->nrefs; i++) {
        free(m->refs[i].name);
        free(m->refs[i].val);
    }
    free(m->refs);
    free(m->buckets);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int store_mem_open(cairn_store **out)
{
    mem_store *m = cairn_calloc(1, sizeof *m);
    if (!m) return ERR(CAIRN_ENOMEM, "out of memory opening a mem store");
    m->mask = 1023;
    m->buckets = cairn_calloc(m->mask + 1, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return ERR(CAIRN_ENOMEM, "out of memory opening a mem store");
    }
    pthread_mutex_init(&m->mu, NULL);
    m->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = 0,
        .kind = "mem",
        .location = "mem:",
        .get = mem_get,
        .put = mem_put,
        .has = mem_has,
        .del = mem_del,
        .list = mem_list,
        .flush = mem_flush,
        .ref_get = mem_ref_get,
        .ref_cas = mem_ref_cas,
        .ref_list = mem_ref_list,
        .stat = mem_stat,
        .close = mem_close,
    };
    *out = &m->base;
    return CAIRN_OK;
}
