/*
 * memtable.h - the in-memory table of writes not yet checkpointed into the trees.
 *
 * A skiplist of versions ordered by (table id, key, sequence number descending): every write is
 * a new entry, nothing is overwritten, so a reader that took sequence number S sees, for each
 * key, the newest entry at or below S, however many writes follow. One writer at a time inserts
 * (the caller serialises); readers walk the list without locks (next pointers are published with
 * release stores). Keys and values live in an arena freed with the memtable.
 */
#ifndef CAIRN_MEMTABLE_H
#define CAIRN_MEMTABLE_H

#include <stdatomic.h>

#include "base/base.h"

#define MEM_MAX_HEIGHT 16

enum mem_type { MEM_PUT = 1, MEM_DEL = 2 };

typedef struct mem_entry {
    uint64_t seq;
    uint32_t table;
    uint32_t klen, vlen;
    uint8_t type;
    uint8_t height;
    _Atomic uint8_t dead;    /* its write failed after it was linked: never visible */
    const uint8_t *key;      /* the value follows the key */
    _Atomic(struct mem_entry *) next[];
} mem_entry;

typedef struct mem_block mem_block;

typedef struct memtable {
    atomic_uint refs;
    mem_block *blocks;
    mem_entry *head;
    atomic_int height;
    atomic_size_t bytes;     /* keys, values and entries */
    atomic_size_t count;
    uint64_t rng;
} memtable;

int mem_new(memtable **out);
void mem_retain(memtable *m);
void mem_release(memtable *m);

/** Adds a version (the caller serialises writers; seq grows). */
int mem_add(memtable *m, uint64_t seq, uint32_t table, uint8_t type, const void *key,
            size_t klen, const void *val, size_t vlen);

/* A batch of entries prepared outside the writer's critical section, then linked into a
 * memtable by mem_batch_apply(), which cannot fail: every allocation happens before. Two
 * passes: mem_batch_count() for each entry (sizing), mem_batch_alloc(), then mem_batch_put()
 * for the same entries in the same order. */
typedef struct mem_batch {
    mem_block *block;        /* one allocation for every entry; owned by the memtable once
                                applied (then `linked` keeps it, for mem_batch_abort) */
    mem_block *linked;
    size_t size;             /* bytes the entries need */
    size_t n;
    mem_entry *first, *last; /* chained through next[0] until applied */
    uint64_t seed, rng;      /* heights: the same sequence in both passes */
} mem_batch;

void mem_batch_init(mem_batch *b, uint64_t seed);
void mem_batch_count(mem_batch *b, size_t klen, size_t vlen);
int mem_batch_alloc(mem_batch *b);
void mem_batch_put(mem_batch *b, uint32_t table, uint8_t type, const void *key, size_t klen,
                   const void *val, size_t vlen);
/** Links every entry into m under sequence number seq (the caller serialises writers). */
void mem_batch_apply(memtable *m, mem_batch *b, uint64_t seq);
/** Marks the entries of an applied batch dead (its write failed): readers skip them, even if
 *  their sequence number is used again. */
void mem_batch_abort(mem_batch *b);
/** Frees what a batch holds that was not applied. */
void mem_batch_dispose(mem_batch *b);

/** The newest version of (table, key) at or below snap, or NULL. */
const mem_entry *mem_find(const memtable *m, uint32_t table, const void *key, size_t klen,
                          uint64_t snap);

/** The smallest table id >= table that has any entry, or UINT32_MAX. */
uint32_t mem_next_table(const memtable *m, uint32_t table);

static inline const uint8_t *mem_value(const mem_entry *e) { return e->key + e->klen; }

/* An iterator over the visible versions (one per key: the newest at or below snap) of one
 * table, in key order, both ways. */
typedef struct mem_iter {
    const memtable *m;
    uint32_t table;
    uint64_t snap;
    const mem_entry *cur;    /* NULL: not positioned */
} mem_iter;

void mem_iter_init(mem_iter *it, const memtable *m, uint32_t table, uint64_t snap);
/** First visible entry with key >= key (key NULL: the first of the table). */
void mem_iter_seek(mem_iter *it, const void *key, size_t klen);
/** Last visible entry with key < key (key NULL: the last of the table). */
void mem_iter_seek_before(mem_iter *it, const void *key, size_t klen);
void mem_iter_next(mem_iter *it);
void mem_iter_prev(mem_iter *it);

#endif /* CAIRN_MEMTABLE_H */
