/*
 * idmap.c - the id -> u32 hash map of idmap.h: linear probing at a load of at most 1/2, grown
 * by doubling. Ids are hashed again (XXH3) rather than used as they are: ids named by a hostile
 * tree need not be SHA-256 outputs, and must not make probing quadratic.
 */
#include <stdlib.h>

#include "base/hash.h"
#include "idmap.h"

#define IDMAP_MIN_CAP 1024

static inline size_t home(const idmap *m, const cairn_id *id)
{
    return (size_t)hash_xxh3(id->bytes, CAIRN_ID_SIZE, 0) & m->mask;
}

void idmap_dispose(idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

uint32_t *idmap_find(const idmap *m, const cairn_id *id)
{
    if (!m->vals) return NULL;
    for (size_t i = home(m, id);; i = (i + 1) & m->mask) {
        if (m->vals[i] == IDMAP_EMPTY) return NULL;
        if (memcmp(m->keys[i].bytes, id->bytes, CAIRN_ID_SIZE) == 0) return &m->vals[i];
    }
}

static int grow(idmap *m)
{
    size_t cap = m->vals ? (m->mask + 1) * 2 : IDMAP_MIN_CAP;
    cairn_id *keys = cairn_malloc(cap * sizeof *keys);
    uint32_t *vals = cairn_malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return ERR(CAIRN_ENOMEM, "out of memory for a set of %zu chunk ids", cap / 2);
    }
    for (size_t i = 0; i < cap; i++) vals[i] = IDMAP_EMPTY;
    idmap old = *m;
    m->keys = keys;
    m->vals = vals;
    m->mask = cap - 1;
    for (size_t i = 0; old.vals && i <= old.mask; i++) {
        if (old.vals[i] == IDMAP_EMPTY) continue;
        size_t j = home(m, &old.keys[i]);
        while (vals[j] != IDMAP_EMPTY) j = (j + 1) & m->mask;
        keys[j] = old.keys[i];
        vals[j] = old.vals[i];
    }
    free(old.keys);
    free(old.vals);
    return CAIRN_OK;
}

int idmap_add(idmap *m, const cairn_id *id, uint32_t val, uint32_t **out_slot, bool *out_added)
{
    if (!m->vals || (m->n + 1) * 2 > m->mask + 1) TRY(grow(m));
    size_t i = home(m, id);
    while (m->vals[i] != IDMAP_EMPTY && memcmp(m->keys[i].bytes, id->bytes, CAIRN_ID_SIZE) != 0)
        i = (i + 1) & m->mask;
    bool added = m->vals[i] == IDMAP_EMPTY;
    if (added) {
        m->keys[i] = *id;
        m->vals[i] = val;
        m->n++;
    }
    if (out_slot) *out_slot = &m->vals[i];
    if (out_added) *out_added = added;
    return CAIRN_OK;
}
