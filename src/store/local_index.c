/*
 * local_index.c - the local store's in-memory index: an open-addressing hash table (linear
 * probing, backward-shift deletion) from a chunk's key to where its current record is (pack,
 * offset, payload length), keeping each pack's live byte count as records come and go; and the
 * record lists a pack's .idx file is written from. Callers hold the store's mu.
 *
 * Opening must not cost in proportion to the repository: the .idx of a sealed pack (sorted by
 * key, checksummed) is mapped and binary-searched where it lies instead of being loaded into
 * the hash table; only packs without a whole .idx (the tail a crash left, damage) and what
 * this session writes go into the table. Lookups try the table, then the mapped indexes newest
 * first. A pack that packs/summary describes (local_summary.c) is not even mapped at open: a
 * lookup asks its filter first and maps its index the first time the filter lets one through;
 * when the filters' "no"s left a lookup with nothing, it asks those packs' indexes too. Whatever needs the whole index (deleting, counting, listing, compaction, repair)
 * first merges the mapped indexes into the table (local_idx_full()), as every open used to.
 * A writer that seals a pack maps the .idx it has just written and takes the pack's records out
 * of the table (local_idx_shed()), as if the pack had been mapped at open, so that the table
 * holds one pack's records rather than everything the session wrote.
 *
 * A tombstone read into the table (a pack without a whole .idx, scanned) may delete a key that
 * an older mapped index still names: its key goes into a sorted set (ls->shadow) that lookups
 * ask before the mapped packs and the merge skips, instead of merging everything first.
 *
 * Nothing is trusted unchecked, yet open reads no index whole: a version-2 index carries one
 * checksum per block of 64 entries, and its header and those checksums are checked when it is
 * mapped (a few KiB a pack); a block is checked (checksum, entries well formed, keys strictly
 * increasing, also across its neighbours) the first time a binary search reads it, and
 * remembered. A lookup that meets a damaged block answers nothing; its caller then has the
 * whole index loaded, which reads that pack instead of its index. Version-1 indexes (one
 * checksum) are still checked whole when mapped.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "base/sys.h"

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

/* ---- keys deleted in front of the mapped packs ---- */

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_ID_SIZE);
}

int local_shadow_add(local_store *ls, const uint8_t *key)
{
    if (ls->nshadow == ls->capshadow) {
        size_t ncap = ls->capshadow ? ls->capshadow * 2 : 16;
        cairn_id *nv = cairn_realloc(ls->shadow, ncap * sizeof *nv);
        if (!nv) return ERR(CAIRN_ENOMEM, "local store %s: out of memory noting deletions",
                            ls->dir);
        ls->shadow = nv;
        ls->capshadow = ncap;
    }
    memcpy(ls->shadow[ls->nshadow++].bytes, key, CAIRN_ID_SIZE);
    return CAIRN_OK;
}

void local_shadow_settle(local_store *ls)
{
    if (ls->nshadow < 2) return;
    qsort(ls->shadow, ls->nshadow, sizeof *ls->shadow, id_cmp);
    size_t o = 1;
    for (size_t i = 1; i < ls->nshadow; i++)
        if (id_cmp(&ls->shadow[o - 1], &ls->shadow[i]) != 0) ls->shadow[o++] = ls->shadow[i];
    ls->nshadow = o;
}

void local_shadow_free(local_store *ls)
{
    free(ls->shadow);
    ls->shadow = NULL;
    ls->nshadow = ls->capshadow = 0;
}

/* Whether a pack newer than every mapped one deleted key (so their indexes do not answer). */
static bool shadowed(const local_store *ls, const cairn_id *key)
{
    return ls->nshadow && bsearch(key, ls->shadow, ls->nshadow, sizeof *ls->shadow, id_cmp);
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

/* ---- index geometry and checksums ---- */

const char *local_idx_geometry(const uint8_t *h, uint64_t size, idx_geom *g)
{
    memset(g, 0, sizeof *g);
    if (size < IDX_HEADER_SIZE + IDX_TRAILER_SIZE) return "bad size";
    if (memcmp(h, IDX_MAGIC, MAGIC_SIZE) != 0) return "bad header";
    g->version = load_le32(h + 8);
    g->covered = load_le64(h + 16);
    g->count = load_le64(h + 24);
    uint32_t block = load_le32(h + 12);
    uint64_t body = size - IDX_HEADER_SIZE - IDX_TRAILER_SIZE;
    if (g->version == IDX_VERSION_FLAT) {
        if (block != 0) return "bad header";
        if (body % IDX_ENTRY_SIZE != 0) return "bad size";
        if (g->count != body / IDX_ENTRY_SIZE) return "entry count does not match the file size";
        g->sums_at = g->trailer_at = size - IDX_TRAILER_SIZE;
        return NULL;
    }
    if (g->version != IDX_VERSION || block == 0 || block > IDX_BLOCK_ENTRIES_MAX)
        return "bad header";
    if (g->count > body / IDX_ENTRY_SIZE) return "entry count does not match the file size";
    g->block = block;
    g->nblocks = (g->count + block - 1) / block;
    g->sums_at = IDX_HEADER_SIZE + g->count * IDX_ENTRY_SIZE;
    g->trailer_at = g->sums_at + g->nblocks * IDX_SUM_SIZE;
    if (g->trailer_at + IDX_TRAILER_SIZE != size) return "entry count does not match the file size";
    return NULL;
}

uint64_t local_idx_block_sum(const uint8_t *d, const idx_geom *g, uint64_t b)
{
    uint64_t first = b * g->block, n = MIN((uint64_t)g->block, g->count - first);
    return XXH3_64bits_withSeed(d + IDX_HEADER_SIZE + first * IDX_ENTRY_SIZE,
                                (size_t)(n * IDX_ENTRY_SIZE), b);
}

void local_idx_fill_blocks(uint8_t *d, const idx_geom *g)
{
    for (uint64_t b = 0; b < g->nblocks; b++) {
        uint8_t *t = d + g->sums_at + b * IDX_SUM_SIZE;
        memcpy(t, d + IDX_HEADER_SIZE + b * g->block * IDX_ENTRY_SIZE, IDX_PREFIX_SIZE);
        store_le64(t + IDX_PREFIX_SIZE, local_idx_block_sum(d, g, b));
    }
}

uint64_t local_idx_summary_sum(const uint8_t *d, const idx_geom *g)
{
    return XXH3_64bits_withSeed(d + g->sums_at, (size_t)(g->nblocks * IDX_SUM_SIZE),
                                XXH3_64bits(d, IDX_HEADER_SIZE));
}

/* ---- mapped pack indexes: searched in place ---- */

/* Entry i of a mapped .idx. */
static inline const uint8_t *imap_entry(const pack *p, uint64_t i)
{
    return p->imap + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
}

/* Whether an entry is well formed for a pack of `covered` bytes (zero padding included). */
static bool entry_ok(const uint8_t *e, uint64_t covered)
{
    uint64_t off = load_le64(e + 32);
    uint32_t len = load_le32(e + 40);
    uint8_t type = e[44];
    return (type == REC_CHUNK || (type == REC_TOMBSTONE && len == 0)) &&
           len <= REC_PAYLOAD_MAX && e[45] == 0 && e[46] == 0 && e[47] == 0 &&
           off >= PACK_HEADER_SIZE && off <= covered && covered - off >= rec_size(len);
}
static bool imap_entry_ok(const pack *p, const uint8_t *e) { return entry_ok(e, p->idx_covered); }

enum { BLOCK_UNCHECKED, BLOCK_SOUND, BLOCK_DAMAGED };

/* Checks block b of pack p's mapped v2 index: its checksum, its entries, and that its keys
 * increase strictly, from the last key before it to the first key after it (the neighbours'
 * keys are read unchecked: if they are damaged, their own check says so). */
static bool block_sound(const pack *p, uint64_t b)
{
    idx_geom g = { .block = p->imap_block, .count = p->imap_count };
    uint64_t first = b * p->imap_block, end = MIN(first + p->imap_block, p->imap_count);
    const uint8_t *t = p->imap_sums + b * IDX_SUM_SIZE;
    if (local_idx_block_sum(p->imap, &g, b) != load_le64(t + IDX_PREFIX_SIZE) ||
        memcmp(t, imap_entry(p, first), IDX_PREFIX_SIZE) != 0)
        return false;
    for (uint64_t i = first ? first - 1 : 0; i < end; i++) {
        const uint8_t *e = imap_entry(p, i);
        if (i >= first && !imap_entry_ok(p, e)) return false;
        if (i + 1 < p->imap_count && memcmp(e, e + IDX_ENTRY_SIZE, CAIRN_ID_SIZE) >= 0)
            return false;
    }
    return true;
}

/* Whether the block holding entry i may be read (checking it the first time). A damaged block
 * marks the pack and the store (lookups then answer nothing until local_idx_full()). */
static bool imap_block_ok(local_store *ls, pack *p, uint64_t i)
{
    if (!p->imap_block) return true; /* version 1: checked whole when mapped */
    uint64_t b = i / p->imap_block;
    uint8_t v = atomic_load_explicit(&p->imap_ok[b], memory_order_relaxed);
    if (v == BLOCK_UNCHECKED) {
        /* racing readers compute the same answer from the same immutable bytes */
        v = block_sound(p, b) ? BLOCK_SOUND : BLOCK_DAMAGED;
        atomic_store_explicit(&p->imap_ok[b], v, memory_order_relaxed);
    }
    if (v == BLOCK_SOUND) return true;
    atomic_store(&p->imap_bad, true);
    atomic_store(&ls->imap_damaged, true);
    return false;
}

bool local_idx_verify_all(local_store *ls, pack *p)
{
    if (!p->imap || atomic_load(&p->imap_bad)) return false;
    for (uint64_t b = 0; b < p->imap_nblocks; b++)
        if (!imap_block_ok(ls, p, b * p->imap_block)) return false;
    return true;
}

/* The first block whose first key's prefix compares with key's as `above` asks: > (true) or
 * >= (false) (binary search of a v2 index's block table, checked when mapped). */
static uint64_t block_bound(const pack *p, const uint8_t *key, bool above)
{
    uint64_t lo = 0, hi = p->imap_nblocks;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->imap_sums + mid * IDX_SUM_SIZE, key, IDX_PREFIX_SIZE);
        if (c < 0 || (above && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Binary search of pack p's mapped .idx (entries sorted by key); in a v2 index only within the
 * block(s) the block table names, so a lookup reads one block, not one per probe. *bad: a block
 * it had to read is damaged (then NULL says nothing). */
static const uint8_t *imap_find(local_store *ls, pack *p, const cairn_id *key, bool *bad)
{
    uint64_t lo = 0, hi = p->imap_count;
    if (p->imap_block) {
        /* key lies in block b only if prefix(b) <= prefix(key) <= prefix(b + 1) */
        uint64_t bend = block_bound(p, key->bytes, true);
        if (bend == 0) return NULL; /* before the first key */
        uint64_t bfirst = block_bound(p, key->bytes, false);
        lo = (bfirst ? bfirst - 1 : 0) * p->imap_block;
        hi = MIN(bend * p->imap_block, p->imap_count);
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (!imap_block_ok(ls, p, mid)) {
            *bad = true;
            return NULL;
        }
        const uint8_t *e = imap_entry(p, mid);
        int c = memcmp(e, key->bytes, CAIRN_ID_SIZE);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int idx_map_core(local_store *ls, pack *p, uint64_t pack_size, uint64_t *out_covered,
                        uint64_t *out_trailer);

/* Maps lazy pack p's .idx (mu held for reading or writing): the first lookup its filter lets
 * through. An index that fails to map is damaged to lookups (as a damaged block is); one that
 * holds what the summary did not say drops the filter. */
static void imap_ensure(local_store *ls, pack *p)
{
    pthread_mutex_lock(&ls->map_mu);
    if (atomic_load_explicit(&p->lazy, memory_order_relaxed) && !atomic_load(&p->imap_bad) &&
        !p->imap) {
        uint64_t covered, trailer;
        if (idx_map_core(ls, p, p->end, &covered, &trailer) != 1) {
            atomic_store(&p->imap_bad, true);
            atomic_store(&ls->imap_damaged, true);
        } else if (p->filt && (p->imap_count != p->sum_count || trailer != p->sum_idx_sum)) {
            atomic_store(&p->filt_off, true);
            atomic_store(&ls->sum_stale, true);
            cairn_diag(CAIRN_LOG_WARN, "local store %s: packs/summary does not describe "
                       "pack-%08u.idx as it is; searching the index without the filter%s",
                       ls->dir, p->num, ls->readonly ? "" : " (the summary is rewritten at close)");
        }
        if (p->imap) atomic_store_explicit(&p->lazy, false, memory_order_release);
    }
    pthread_mutex_unlock(&ls->map_mu);
}

bool local_idx_mapped(local_store *ls, pack *p)
{
    if (atomic_load(&p->lazy)) imap_ensure(ls, p);
    return p->imap != NULL && !atomic_load(&p->imap_bad);
}

/* Searches pack pi for key: tmp when it holds the chunk; NULL with *final set when its answer
 * ends the search (the key deleted there, or the index damaged: local_idx_damaged() says so). */
static const slot *search_pack(local_store *ls, size_t pi, const cairn_id *key, slot *tmp,
                               bool *final)
{
    pack *p = ls->packs[pi];
    bool bad = atomic_load(&p->imap_bad);
    if (!bad && atomic_load_explicit(&p->lazy, memory_order_acquire)) {
        imap_ensure(ls, p);
        bad = atomic_load(&p->imap_bad);
    }
    const uint8_t *e = bad ? NULL : imap_find(ls, p, key, &bad);
    if (bad || (e && e[44] != REC_CHUNK)) *final = true;
    if (!e || *final) return NULL;
    tmp->key = *key;
    tmp->off = load_le64(e + 32);
    tmp->len = load_le32(e + 40);
    tmp->pi = (uint32_t)pi;
    return tmp;
}

#define SKIP_LIST 64

/* The search of the packs behind the hash table, newest first, skipping those whose filter
 * says no: *skipped counts them, and the first SKIP_LIST are listed in skip[] (newest first). */
static const slot *search_packs(local_store *ls, const cairn_id *key, slot *tmp, size_t *skipped,
                                uint32_t *skip, bool *final)
{
    filt_key fk;
    bool have_fk = false;
    for (size_t pi = ls->npacks; pi-- > 0;) {
        pack *p = ls->packs[pi];
        if (!atomic_load_explicit(&p->lazy, memory_order_acquire) && !p->imap) continue;
        if (p->filt && !atomic_load_explicit(&p->filt_off, memory_order_relaxed)) {
            if (!have_fk) fk = local_filt_key(key), have_fk = true;
            if (!local_filt_may_hold(ls, p, &fk)) {
                if (*skipped < SKIP_LIST) skip[*skipped] = (uint32_t)pi;
                (*skipped)++;
                continue;
            }
        }
        const slot *s = search_pack(ls, pi, key, tmp, final);
        if (s || *final) return s;
    }
    return NULL;
}

const slot *local_idx_lookup_fast(local_store *ls, const cairn_id *key, slot *tmp)
{
    const slot *s = local_idx_find(ls, key);
    if (s || !ls->nmapped || shadowed(ls, key)) return s;
    size_t skipped = 0;
    uint32_t skip[SKIP_LIST];
    bool final = false;
    return search_packs(ls, key, tmp, &skipped, skip, &final);
}

/* A filter's "no" is never the answer: a miss searches the packs the filters skipped (a lying
 * filter costs a search, never a chunk), each once. */
const slot *local_idx_lookup(local_store *ls, const cairn_id *key, slot *tmp)
{
    const slot *s = local_idx_find(ls, key);
    if (s || !ls->nmapped || shadowed(ls, key)) return s;
    size_t skipped = 0;
    uint32_t skip[SKIP_LIST];
    bool final = false;
    s = search_packs(ls, key, tmp, &skipped, skip, &final);
    if (s || final || !skipped) return s;
    if (skipped <= SKIP_LIST) {
        for (size_t i = 0; i < skipped && !s && !final; i++)
            s = search_pack(ls, skip[i], key, tmp, &final);
        return s;
    }
    for (size_t pi = ls->npacks; pi-- > 0 && !s && !final;) { /* more than the list holds */
        pack *p = ls->packs[pi];
        if (atomic_load_explicit(&p->lazy, memory_order_acquire) || p->imap)
            s = search_pack(ls, pi, key, tmp, &final);
    }
    return s;
}

void local_idx_unmap(local_store *ls, pack *p)
{
    bool lazy = atomic_exchange(&p->lazy, false);
    if (!p->imap) {
        if (lazy) ls->nmapped--;
        atomic_store(&p->imap_bad, false);
        return;
    }
    munmap((void *)p->imap, p->imap_len);
    free((void *)p->imap_ok);
    p->imap = NULL;
    p->imap_len = 0;
    p->imap_count = 0;
    p->imap_block = 0;
    p->imap_nblocks = 0;
    p->imap_sums = NULL;
    p->imap_ok = NULL;
    atomic_store(&p->imap_bad, false);
    atomic_store(&p->idx_advised, false); /* a later mapping is advised anew (will_read) */
    ls->nmapped--;
}

/* Applies one entry of pack pi (mapped or read from the pack) to the hash table, where newer
 * packs and this session were loaded first and win; the current pack's entries also go to its
 * record list (its next .idx). */
static int merge_entry(local_store *ls, uint32_t pi, bool cur, uint8_t type, const uint8_t *k,
                       uint64_t off, uint32_t len)
{
    if (cur) TRY(local_recvec_push(&ls->cur_recs, type, k, off, len));
    cairn_id key;
    memcpy(key.bytes, k, CAIRN_ID_SIZE);
    if (shadowed(ls, &key)) return CAIRN_OK; /* a newer pack deleted it */
    slot *s = local_idx_find(ls, &key);
    if (s && (s->pi > pi || (s->pi == pi && s->off > off))) return CAIRN_OK;
    if (type == REC_CHUNK) return local_idx_set(ls, &key, pi, off, len);
    if (s) local_idx_remove(ls, s);
    return CAIRN_OK;
}

/* Pack pi's mapped index is damaged: unmap it, read the pack's records again (damage in the
 * pack itself handled as at open), merge them, and (a writer, a sealed undamaged pack) write the
 * index anew. */
static int reload_damaged(local_store *ls, uint32_t pi, bool cur)
{
    pack *p = ls->packs[pi];
    uint64_t covered = p->idx_covered;
    const char *why = p->imap ? "checksum mismatch or bad entry in a block"
                              : "missing, unreadable, or not covering the pack as packs/summary says";
    local_idx_unmap(ls, p);
    recvec recs = { 0 };
    unsigned long gone = atomic_load(&ls->packs_gone);
    int rc = local_pack_rescan(ls, pi, &recs);
    if (rc < 0 && ls->readonly && atomic_load(&ls->packs_gone) != gone) {
        /* deleted by compaction in the writer before this reader opened it (its index went
         * first, so it is no damage, and said only at debug level): what it held that is
         * live was copied to a newer pack, which a miss's refresh finds */
        cairn_diag(CAIRN_LOG_DEBUG, "local store %s: pack-%08u and its index were removed by a "
                   "compaction after this reader listed them", ls->dir, p->num);
        cairn_error_clear();
        p->fd = PACK_FD_RETIRED;
        ls->nopen--;
        local_recvec_free(&recs);
        return CAIRN_OK;
    }
    cairn_diag(CAIRN_LOG_WARN, "local store %s: ignoring pack-%08u.idx (%s); %s", ls->dir, p->num,
               why, ls->readonly ? "reading the pack instead" : "rebuilding it from the pack");
    if (rc >= 0) {
        local_recvec_settle(&recs);
        rc = local_idx_reserve(ls, recs.n);
        for (size_t i = 0; rc >= 0 && i < recs.n; i++)
            rc = merge_entry(ls, pi, cur, recs.v[i].type, recs.v[i].key.bytes, recs.v[i].off,
                             recs.v[i].len);
    }
    if (rc >= 0) p->idx_covered = 0; /* this index is no more */
    if (rc >= 0 && !cur && !ls->readonly && !p->ndamage && p->end == covered &&
        local_idxfile_write(ls, p, &recs, covered) != CAIRN_OK)
        cairn_diag(CAIRN_LOG_WARN, "local store %s: could not rewrite pack-%08u.idx (%s); the "
                   "next open reads the pack instead", ls->dir, p->num,
                   cairn_error_last()->message);
    local_recvec_free(&recs);
    return rc < 0 ? rc : CAIRN_OK;
}

int local_idx_full(local_store *ls)
{
    for (uint32_t pi = 0; pi < ls->npacks && ls->nmapped; pi++) {
        pack *p = ls->packs[pi];
        if (atomic_load(&p->lazy)) imap_ensure(ls, p);
        if (!p->imap && !atomic_load(&p->lazy)) continue;
        bool cur = !ls->readonly && ls->cur == p;
        if (!local_idx_verify_all(ls, p)) {
            TRY(reload_damaged(ls, pi, cur));
            continue;
        }
        TRY(local_idx_reserve(ls, (size_t)p->imap_count));
        if (cur) TRY(local_recvec_reserve(&ls->cur_recs, (size_t)p->imap_count));
        for (uint64_t i = 0; i < p->imap_count; i++) {
            const uint8_t *e = imap_entry(p, i);
            if (!imap_entry_ok(p, e)) {
                return CORRUPT("local store %s: entry %llu of pack-%08u.idx is malformed "
                               "although the index's checksum holds; remove the .idx (the "
                               "next open rebuilds it from the pack)", ls->dir,
                               (unsigned long long)i, p->num);
            }
            TRY(merge_entry(ls, pi, cur, e[44], e, load_le64(e + 32), load_le32(e + 40)));
        }
        local_idx_unmap(ls, p);
    }
    atomic_store(&ls->imap_damaged, false);
    local_shadow_free(ls); /* the table is the whole index: it says what was deleted */
    ls->eager = true; /* packs found later go into the table too */
    return CAIRN_OK;
}

int local_idx_full_locked(local_store *ls)
{
    pthread_rwlock_wrlock(&ls->mu);
    int rc = local_idx_full(ls);
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

#define SUM_ENTRIES 1365u /* a v1 index is read this many entries (64 KiB) at a time */

/* Reads the first len bytes of a version-1 index file fd (header, entries) in blocks, through
 * a small buffer (faulting a mapping of the whole file in costs several times more, in a VM
 * most of all), and says whether their XXH3 is `sum` and every entry is well formed for a pack
 * of `covered` bytes and sorted by key, strictly: what binary searches in place rely on. The
 * checksum alone does not say it (an index written by a buggy or hostile program can be
 * checksummed right). false on a read error too: the index is then read the old way, which
 * says what is wrong. */
static bool index_sound(int fd, size_t len, uint64_t sum, uint64_t covered)
{
    size_t block = (size_t)SUM_ENTRIES * IDX_ENTRY_SIZE;
    uint8_t *buf = cairn_malloc(MAX(block, (size_t)IDX_HEADER_SIZE));
    uint8_t prev[CAIRN_ID_SIZE];
    bool have_prev = false;
    XXH3_state_t *st = XXH3_createState();
    bool ok = buf && st && XXH3_64bits_reset(st) == XXH_OK && len >= IDX_HEADER_SIZE;
    size_t got = 0;
    ok = ok && sys_read_full(fd, buf, IDX_HEADER_SIZE, 0, &got, "index") == CAIRN_OK &&
         got == IDX_HEADER_SIZE && XXH3_64bits_update(st, buf, IDX_HEADER_SIZE) == XXH_OK;
    for (size_t at = IDX_HEADER_SIZE; ok && at < len;) {
        size_t n = MIN(block, len - at);
        ok = n % IDX_ENTRY_SIZE == 0 &&
             sys_read_full(fd, buf, n, at, &got, "index") == CAIRN_OK && got == n &&
             XXH3_64bits_update(st, buf, n) == XXH_OK;
        for (size_t e = 0; ok && e < n; e += IDX_ENTRY_SIZE) {
            ok = entry_ok(buf + e, covered) &&
                 (!have_prev || memcmp(prev, buf + e, CAIRN_ID_SIZE) < 0);
            memcpy(prev, buf + e, CAIRN_ID_SIZE);
            have_prev = true;
        }
        at += n;
    }
    ok = ok && XXH3_64bits_digest(st) == sum;
    XXH3_freeState(st);
    free(buf);
    return ok;
}

/* Maps p's .idx when it is valid and covers pack_size bytes (the fields of p set, nmapped
 * left alone; *out_trailer: its last 8 bytes). @return 1 mapped, 0 not, or an error. */
static int idx_map_core(local_store *ls, pack *p, uint64_t pack_size, uint64_t *out_covered,
                        uint64_t *out_trailer)
{
    char *path = local_pack_path(ls, p->num, "idx");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    free(path);
    if (fd < 0) return 0; /* missing or unreadable: the eager path says which */
    struct stat sb;
    void *m = MAP_FAILED;
    size_t size = 0;
    if (sys_fstat(fd, &sb) == 0 && (uint64_t)sb.st_size >= IDX_HEADER_SIZE + IDX_TRAILER_SIZE &&
        (uint64_t)sb.st_size <= SIZE_MAX) {
        size = (size_t)sb.st_size;
        m = sys_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        /* a lookup reads the block table's pages it searches and one block: no read-around */
        if (m != MAP_FAILED) (void)madvise(m, size, MADV_RANDOM);
    }
    const uint8_t *d = m;
    idx_geom g;
    bool ok = m != MAP_FAILED && !local_idx_geometry(d, size, &g) && g.covered == pack_size &&
              g.covered >= PACK_HEADER_SIZE;
    _Atomic uint8_t *checked = NULL;
    if (ok && g.version == IDX_VERSION_FLAT) {
        ok = index_sound(fd, (size_t)g.trailer_at, load_le64(d + g.trailer_at), g.covered);
    } else if (ok) { /* the header and block sums now; each block when a lookup reads it */
        ok = local_idx_summary_sum(d, &g) == load_le64(d + g.trailer_at);
        for (uint64_t b = 1; ok && b < g.nblocks; b++) /* the table is searched: in order */
            ok = memcmp(d + g.sums_at + (b - 1) * IDX_SUM_SIZE, d + g.sums_at + b * IDX_SUM_SIZE,
                        IDX_PREFIX_SIZE) <= 0;
        ok = ok && (checked = cairn_calloc(g.nblocks ? (size_t)g.nblocks : 1, sizeof *checked));
    }
    sys_close(fd);
    if (!ok) { /* the eager path reads it again and says what is wrong, or scans the pack */
        if (m != MAP_FAILED) munmap(m, size);
        free((void *)checked);
        cairn_error_clear();
        return 0;
    }
    p->imap = d;
    p->imap_len = size;
    p->imap_count = g.count;
    p->imap_block = g.block;
    p->imap_nblocks = g.nblocks;
    p->imap_sums = d + g.sums_at;
    p->imap_ok = checked;
    atomic_store(&p->imap_bad, false);
    *out_covered = g.covered;
    *out_trailer = load_le64(d + g.trailer_at);
    return 1;
}

int local_idx_map(local_store *ls, uint32_t pi, uint64_t pack_size, uint64_t *out_covered)
{
    uint64_t trailer;
    int rc = idx_map_core(ls, ls->packs[pi], pack_size, out_covered, &trailer);
    if (rc == 1) ls->nmapped++;
    return rc;
}

int local_idx_shed(local_store *ls, uint32_t pi, const recvec *recs, uint64_t covered)
{
    pack *p = ls->packs[pi];
    /* (a pack mapped since open, its older .idx, keeps its records in the table: as before) */
    if (ls->eager || ls->readonly || p->ndamage || p->idx_covered != covered || p->imap ||
        atomic_load(&p->lazy))
        return CAIRN_OK;
    uint64_t got = 0;
    int rc = local_idx_map(ls, pi, covered, &got);
    if (rc < 0) return rc;
    if (rc == 0) { /* not mapped after all: the table keeps the records, as at open */
        ls->eager = true; /* (mapped packs stay the oldest) */
        return CAIRN_OK;
    }
    for (size_t i = 0; i < recs->n; i++) {
        slot *s = local_idx_find(ls, &recs->v[i].key);
        if (s && s->pi == pi) local_idx_remove(ls, s);
    }
    return CAIRN_OK;
}
