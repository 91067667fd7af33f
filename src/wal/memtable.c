/*
 * memtable.c - the multi-version skiplist behind memtable.h.
 *
 * Readers never lock: an entry is fully written before the release store that links it, and
 * readers follow links with acquire loads. Heights are geometric with p = 1/4.
 */
#include <stdlib.h>

#include "wal/memtable.h"

#define BLOCK_SIZE (1u << 20)

struct mem_block {
    mem_block *next;
    size_t used, cap;
    size_t big;              /* 1: from cairn_big_alloc_now() (a batch's), 0: cairn_malloc();
                                a word, so that data (entries: 8-byte aligned) starts at 32 */
    uint8_t data[];
};
_Static_assert(offsetof(struct mem_block, data) % 8 == 0, "memtable entries are 8-byte aligned");

static void block_free(mem_block *b)
{
    if (b && b->big) cairn_big_free(b, sizeof *b + b->cap);
    else free(b);
}

static void *arena(memtable *m, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    mem_block *b = m->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = cairn_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->big = 0;
        b->used = 0;
        b->cap = cap;
        b->next = m->blocks;
        m->blocks = b;
        atomic_fetch_add_explicit(&m->bytes, sizeof *b, memory_order_relaxed);
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* Lays out an entry of `height` links in the bytes at e, its key and value after the links. */
static mem_entry *init_entry(void *at, int height, uint32_t table, uint8_t type, uint64_t seq,
                             const void *key, size_t klen, const void *val, size_t vlen)
{
    mem_entry *e = at;
    e->height = (uint8_t)height;
    atomic_init(&e->dead, 0);
    for (int i = 0; i < height; i++) atomic_init(&e->next[i], NULL);
    uint8_t *p = (uint8_t *)&e->next[height];
    if (klen) memcpy(p, key, klen);
    if (vlen) memcpy(p + klen, val, vlen);
    e->key = p;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->table = table;
    e->type = type;
    e->seq = seq;
    return e;
}

static mem_entry *new_entry(memtable *m, int height, size_t payload)
{
    void *at = arena(m, sizeof(mem_entry) + (size_t)height * sizeof(((mem_entry *)0)->next[0]) +
                            payload);
    return at ? init_entry(at, height, 0, 0, 0, NULL, 0, NULL, 0) : NULL;
}

static inline bool is_dead(const mem_entry *e)
{
    return atomic_load_explicit(&((mem_entry *)e)->dead, memory_order_acquire) != 0;
}

int mem_new(memtable **out)
{
    memtable *m = cairn_calloc(1, sizeof *m);
    if (!m) return ERR(CAIRN_ENOMEM, "out of memory creating a memtable");
    atomic_init(&m->refs, 1);
    atomic_init(&m->height, 1);
    m->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)m;
    m->head = new_entry(m, MEM_MAX_HEIGHT, 0);
    if (!m->head) {
        mem_release(m);
        return ERR(CAIRN_ENOMEM, "out of memory creating a memtable");
    }
    *out = m;
    return CAIRN_OK;
}

void mem_retain(memtable *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void mem_release(memtable *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    while (m->blocks) {
        mem_block *next = m->blocks->next;
        block_free(m->blocks);
        m->blocks = next;
    }
    free(m);
}

/* (table, key, seq desc) order: < 0 when entry e sorts before the target. */
static inline int cmp(const mem_entry *e, uint32_t table, const void *key, size_t klen, uint64_t seq)
{
    if (e->table != table) return e->table < table ? -1 : 1;
    int c = bytes_cmp(e->key, e->klen, key, klen);
    if (c) return c;
    return e->seq > seq ? -1 : e->seq < seq ? 1 : 0;
}

static inline mem_entry *next_of(const mem_entry *e, int level)
{
    return atomic_load_explicit(&((mem_entry *)e)->next[level], memory_order_acquire);
}

/* The last entry < target (the head when there is none). */
static const mem_entry *find_lt(const memtable *m, uint32_t table, const void *key, size_t klen,
                                uint64_t seq)
{
    mem_entry *x = m->head;
    for (int level = atomic_load_explicit(&((memtable *)m)->height, memory_order_relaxed) - 1;
         level >= 0; level--) {
        mem_entry *n;
        while ((n = next_of(x, level)) && cmp(n, table, key, klen, seq) < 0) x = n;
    }
    return x;
}

/* The first entry >= target, or NULL. */
static mem_entry *find_ge(const memtable *m, uint32_t table, const void *key, size_t klen,
                          uint64_t seq)
{
    return next_of(find_lt(m, table, key, klen, seq), 0);
}

static int height_from(uint64_t *rng)
{
    int h = 1;
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    for (uint64_t r = *rng; h < MEM_MAX_HEIGHT && (r & 3) == 0; r >>= 2) h++;
    return h;
}

static int random_height(memtable *m) { return height_from(&m->rng); }

static size_t entry_size(int h, size_t payload)
{
    return (sizeof(mem_entry) + (size_t)h * sizeof(((mem_entry *)0)->next[0]) + payload + 7) &
           ~(size_t)7;
}

void mem_batch_init(mem_batch *b, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->seed = b->rng = seed | 1;
}

void mem_batch_count(mem_batch *b, size_t klen, size_t vlen)
{
    b->size += entry_size(height_from(&b->rng), klen + vlen);
}

int mem_batch_alloc(mem_batch *b)
{
    size_t cap = b->size ? b->size : 8;
    b->block = cairn_big_alloc_now(sizeof *b->block + cap); /* written whole next */
    FAIL_IF(!b->block, CAIRN_ENOMEM, "out of memory preparing %zu bytes for the memtable",
            b->size);
    b->block->big = 1;
    b->block->next = NULL;
    b->block->used = 0;
    b->block->cap = cap;
    b->rng = b->seed;
    return CAIRN_OK;
}

void mem_batch_put(mem_batch *b, uint32_t table, uint8_t type, const void *key, size_t klen,
                   const void *val, size_t vlen)
{
    int h = height_from(&b->rng);
    size_t sz = entry_size(h, klen + vlen);
    mem_entry *e = init_entry(b->block->data + b->block->used, h, table, type, 0, key, klen, val,
                              vlen);
    b->block->used += sz;
    if (b->last) atomic_store_explicit(&b->last->next[0], e, memory_order_relaxed);
    else b->first = e;
    b->last = e;
    b->n++;
}

/*
 * Linking a batch. Each step of a skiplist search loads one entry the cache has not seen (90% of
 * a lone link's time, in a memtable of a few hundred thousand entries), so a batch searches for
 * up to LINK_WINDOW entries at once: each search prefetches the entry it must compare next and
 * hands over to the next search, whose entry has arrived meanwhile. The predecessors found are
 * those of the memtable before the window; linking then walks forward from each, past the
 * entries of the window linked before it (the only ones that can lie in between), so the
 * window may come in any order, and two versions of a key with the same sequence number keep
 * the batch's order (the later first), as one link at a time does.
 */
#define LINK_WINDOW 16

typedef struct link_search {
    mem_entry *e;
    mem_entry *x;      /* the last entry < e found at this level */
    mem_entry *n;      /* x's successor, prefetched, to compare next; NULL: load it */
    int level;         /* -1: done */
    mem_entry *prev[MEM_MAX_HEIGHT];
} link_search;

static inline void prefetch_entry(const mem_entry *e)
{
    __builtin_prefetch(e);
    __builtin_prefetch((const uint8_t *)e + 64); /* the key, for a tall entry */
}

/* One step: compare the prefetched successor, move or descend, and prefetch the next one.
 * Returns false when the search has reached level 0's predecessor. */
static bool search_step(link_search *s)
{
    const mem_entry *e = s->e;
    for (;;) {
        if (s->n) {
            if (cmp(s->n, e->table, e->key, e->klen, e->seq) < 0) {
                s->x = s->n;
            } else {
                s->prev[s->level] = s->x;
                if (--s->level < 0) return false;
            }
        }
        s->n = next_of(s->x, s->level);
        if (s->n) {
            prefetch_entry(s->n);
            return true;
        }
        s->prev[s->level] = s->x;
        if (--s->level < 0) return false;
    }
}

static void link_window(memtable *m, link_search *w, size_t n)
{
    int top = atomic_load_explicit(&m->height, memory_order_relaxed);
    size_t active = n;
    for (size_t i = 0; i < n; i++) {
        w[i].x = m->head;
        w[i].n = NULL;
        w[i].level = top - 1;
    }
    while (active)
        for (size_t i = 0; i < n; i++)
            if (w[i].level >= 0 && !search_step(&w[i])) active--;
    for (size_t i = 0; i < n; i++) {
        mem_entry *e = w[i].e;
        int h = e->height, cur = atomic_load_explicit(&m->height, memory_order_relaxed);
        for (int l = top; l < h; l++) w[i].prev[l] = m->head;
        if (h > cur) atomic_store_explicit(&m->height, h, memory_order_relaxed);
        for (int l = 0; l < h; l++) {
            mem_entry *p = w[i].prev[l], *q;
            while ((q = next_of(p, l)) && cmp(q, e->table, e->key, e->klen, e->seq) < 0) p = q;
            atomic_store_explicit(&e->next[l], q, memory_order_relaxed);
            atomic_store_explicit(&p->next[l], e, memory_order_release);
        }
        atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    }
}

/* Links e (seq, table, key set) into m: a window of one. */
static void link_entry(memtable *m, mem_entry *e)
{
    link_search s;
    s.e = e;
    link_window(m, &s, 1);
}

void mem_batch_apply(memtable *m, mem_batch *b, uint64_t seq)
{
    link_search w[LINK_WINDOW];
    size_t n = 0;
    for (mem_entry *e = b->first, *next; e; e = next) {
        next = atomic_load_explicit(&e->next[0], memory_order_relaxed);
        e->seq = seq;
        atomic_store_explicit(&e->next[0], NULL, memory_order_relaxed);
        w[n++].e = e;
        if (n == LINK_WINDOW || !next) {
            link_window(m, w, n);
            n = 0;
        }
    }
    if (b->block) {
        b->block->next = m->blocks->next; /* behind the block mem_add fills */
        m->blocks->next = b->block;
        atomic_fetch_add_explicit(&m->bytes, sizeof *b->block + b->block->cap,
                                  memory_order_relaxed);
    }
    b->linked = b->block;
    b->block = NULL;
    b->first = b->last = NULL;
}

void mem_batch_abort(mem_batch *b)
{
    if (!b->linked) return;
    size_t off = 0;
    for (size_t i = 0; i < b->n; i++) { /* the entries lie one after another in the block */
        mem_entry *e = (mem_entry *)(void *)(b->linked->data + off);
        atomic_store_explicit(&e->dead, 1, memory_order_release);
        off += entry_size(e->height, (size_t)e->klen + e->vlen);
    }
    b->linked = NULL;
}

void mem_batch_dispose(mem_batch *b)
{
    block_free(b->block);
    b->block = NULL;
}

int mem_add(memtable *m, uint64_t seq, uint32_t table, uint8_t type, const void *key,
            size_t klen, const void *val, size_t vlen)
{
    int h = random_height(m);
    void *at = arena(m, entry_size(h, klen + vlen));
    if (!at) return ERR(CAIRN_ENOMEM, "out of memory adding to the memtable");
    mem_entry *e = init_entry(at, h, table, type, seq, key, klen, val, vlen);
    link_entry(m, e);
    atomic_fetch_add_explicit(&m->bytes, sizeof *e + (size_t)h * sizeof(e->next[0]) + klen + vlen,
                              memory_order_relaxed);
    return CAIRN_OK;
}

/* From e (the first entry >= (table, key, snap)), the newest live version of that key at or below
 * snap, or NULL. */
static const mem_entry *live_version(const mem_entry *e, uint32_t table, const void *key,
                                     size_t klen, uint64_t snap)
{
    for (; e && e->table == table && bytes_cmp(e->key, e->klen, key, klen) == 0; e = next_of(e, 0))
        if (e->seq <= snap && !is_dead(e)) return e;
    return NULL;
}

const mem_entry *mem_find(const memtable *m, uint32_t table, const void *key, size_t klen,
                          uint64_t snap)
{
    if (atomic_load_explicit(&((memtable *)m)->count, memory_order_acquire) == 0) return NULL;
    return live_version(find_ge(m, table, key, klen, snap), table, key, klen, snap);
}

uint32_t mem_next_table(const memtable *m, uint32_t table)
{
    const mem_entry *e = find_ge(m, table, "", 0, UINT64_MAX);
    return e ? e->table : UINT32_MAX;
}

/* ---- iterators ---- */

void mem_iter_init(mem_iter *it, const memtable *m, uint32_t table, uint64_t snap)
{
    it->m = m;
    it->table = table;
    it->snap = snap;
    it->cur = NULL;
}

/* From entry e (any version of some key), the first visible version at or after e's key. */
static const mem_entry *settle_forward(const mem_iter *it, const mem_entry *e)
{
    while (e && e->table == it->table) {
        if (e->seq <= it->snap && !is_dead(e)) return e; /* the newest visible version */
        /* invisible: skip to this key's next (older) version, or the next key */
        e = next_of(e, 0);
    }
    return NULL;
}

void mem_iter_seek(mem_iter *it, const void *key, size_t klen)
{
    const mem_entry *e = key ? find_ge(it->m, it->table, key, klen, UINT64_MAX)
                             : find_ge(it->m, it->table, "", 0, UINT64_MAX);
    it->cur = settle_forward(it, e);
}

void mem_iter_next(mem_iter *it)
{
    if (!it->cur) return;
    const mem_entry *e = it->cur;
    const mem_entry *n = next_of(e, 0);
    while (n && n->table == e->table && bytes_cmp(n->key, n->klen, e->key, e->klen) == 0)
        n = next_of(n, 0); /* older versions of the same key */
    it->cur = settle_forward(it, n);
}

/* The newest visible version of the last key < key, searching backwards past keys that have
 * no visible version. */
void mem_iter_seek_before(mem_iter *it, const void *key, size_t klen)
{
    const uint8_t *k = key;
    size_t kl = klen;
    bool open = key == NULL; /* no upper bound: start from the end of the table */
    for (;;) {
        const mem_entry *p = open ? find_lt(it->m, it->table + 1, "", 0, UINT64_MAX)
                                  : find_lt(it->m, it->table, k, kl, UINT64_MAX);
        if (p == it->m->head || p->table != it->table) {
            it->cur = NULL;
            return;
        }
        const mem_entry *v = live_version(find_ge(it->m, it->table, p->key, p->klen, it->snap),
                                          it->table, p->key, p->klen, it->snap);
        if (v) {
            it->cur = v;
            return;
        }
        k = p->key; /* every version of p's key is newer than snap: keep going back */
        kl = p->klen;
        open = false;
    }
}

void mem_iter_prev(mem_iter *it)
{
    if (!it->cur) return;
    mem_iter_seek_before(it, it->cur->key, it->cur->klen);
}
