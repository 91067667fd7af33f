/*
 * local_index.c - the local store's in-memory index: an open-addressing hash table (linear
 * probing, backward-shift deletion) from a chunk's key to where its current record is (pack,
 * offset, payload length), keeping each pack's live byte count as records come and go; and the
 * record lists a pack's .idx file is written from. Callers hold the store's mu.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "store/local_int.h"


static inline size_t key_home(const local_store *ls, const cairn_id *k)
{
    /* Keys are hashes in practice, but mixing keeps structured keys (tests, tools) cheap too. */
    return (size_t)XXH3_64bits(k->bytes, CAIRN_ID_SIZE) & ls->mask;
}

slot *local_idx_find(const local_store *ls, const cairn_id *key)
{
    size_t i = key_home(ls, key);
    for (;;) {
        slot *s = &ls->slots[i];
        if (s->pi == SLOT_FREE) return NULL;
        if (memcmp(s->key.bytes, key->bytes, CAIRN_ID_SIZE) == 0) return s;
        i = (i + 1) & ls->mask;
    }
}

int local_idx_alloc(local_store *ls, size_t cap)
{
    slot *ns = cairn_malloc(cap * sizeof *ns);
    if (!ns) return ERR(CAIRN_ENOMEM, "local store %s: out of memory for an index of %zu keys",
                        ls->dir, cap);
    for (size_t i = 0; i < cap; i++) ns[i].pi = SLOT_FREE;
    slot *old = ls->slots;
    size_t oldcap = old ? ls->mask + 1 : 0;
    ls->slots = ns;
    ls->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].pi == SLOT_FREE) continue;
        size_t j = key_home(ls, &old[i].key);
        while (ns[j].pi != SLOT_FREE) j = (j + 1) & ls->mask;
        ns[j] = old[i];
    }
    free(old);
    return CAIRN_OK;
}

/* Makes room for `extra` more keys at a load factor of at most 3/4. */
int local_idx_reserve(local_store *ls, size_t extra)
{
    size_t cap = ls->mask + 1, need = ls->n + extra;
    if (need <= cap / 4 * 3) return CAIRN_OK;
    while (need > cap / 4 * 3) cap *= 2;
    return local_idx_alloc(ls, cap);
}

/* Points key at (pi, off, len), replacing an older location. */
int local_idx_set(local_store *ls, const cairn_id *key, uint32_t pi, uint64_t off, uint32_t len)
{
    TRY(local_idx_reserve(ls, 1));
    size_t i = key_home(ls, key);
    while (ls->slots[i].pi != SLOT_FREE &&
           memcmp(ls->slots[i].key.bytes, key->bytes, CAIRN_ID_SIZE) != 0)
        i = (i + 1) & ls->mask;
    slot *s = &ls->slots[i];
    if (s->pi != SLOT_FREE) {
        ls->packs[s->pi]->live -= rec_size(s->len);
        ls->bytes -= s->len;
    } else {
        s->key = *key;
        ls->n++;
    }
    s->pi = pi;
    s->off = off;
    s->len = len;
    ls->packs[pi]->live += rec_size(len);
    ls->bytes += len;
    return CAIRN_OK;
}

void local_idx_remove(local_store *ls, slot *s)
{
    ls->packs[s->pi]->live -= rec_size(s->len);
    ls->bytes -= s->len;
    ls->n--;
    size_t i = (size_t)(s - ls->slots), j = i;
    for (;;) {
        j = (j + 1) & ls->mask;
        if (ls->slots[j].pi == SLOT_FREE) break;
        size_t h = key_home(ls, &ls->slots[j].key);
        /* slot j may move back into the hole at i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            ls->slots[i] = ls->slots[j];
            i = j;
        }
    }
    ls->slots[i].pi = SLOT_FREE;
}

int local_recvec_reserve(recvec *rv, size_t extra)
{
    if (rv->n + extra <= rv->cap) return CAIRN_OK;
    size_t ncap = rv->cap ? rv->cap * 2 : 256;
    while (ncap < rv->n + extra) ncap *= 2;
    rec *nv = cairn_realloc(rv->v, ncap * sizeof *nv);
    if (!nv) return ERR(CAIRN_ENOMEM, "out of memory indexing a pack (%zu records)", rv->n);
    rv->v = nv;
    rv->cap = ncap;
    return CAIRN_OK;
}

int local_recvec_push(recvec *rv, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    TRY(local_recvec_reserve(rv, 1));
    rec *r = &rv->v[rv->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->key.bytes, key, CAIRN_ID_SIZE);
    r->off = off;
    r->len = len;
    r->type = type;
    return CAIRN_OK;
}

void local_recvec_free(recvec *rv)
{
    free(rv->v);
    rv->v = NULL;
    rv->n = rv->cap = 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = memcmp(x->key.bytes, y->key.bytes, CAIRN_ID_SIZE);
    if (c) return c;
    return (x->off > y->off) - (x->off < y->off);
}

int local_rec_cmp_key(const void *a, const void *b)
{
    return memcmp(((const rec *)a)->key.bytes, ((const rec *)b)->key.bytes, CAIRN_ID_SIZE);
}

/* Sorts by key and keeps the last record of each key: the pack's effect on the index. */
void local_recvec_settle(recvec *rv)
{
    if (rv->n < 2) return;
    qsort(rv->v, rv->n, sizeof *rv->v, rec_cmp);
    size_t o = 0;
    for (size_t i = 0; i < rv->n; i++) {
        if (o > 0 && memcmp(rv->v[o - 1].key.bytes, rv->v[i].key.bytes, CAIRN_ID_SIZE) == 0)
            rv->v[o - 1] = rv->v[i];
        else
            rv->v[o++] = rv->v[i];
    }
    rv->n = o;
}
