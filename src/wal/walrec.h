/*
 * walrec.h - the payloads of write-ahead log records (docs/FORMAT.md, "Write-ahead log"):
 *
 *   batch (WAL_BATCH): varint ntables | ntables x (u8 flags | varint name length | name) |
 *                      varint nops | nops x (u8 op | varint table | varint key length | key |
 *                      [put: varint value length | value])
 *     flags bit 0: the batch creates the table when it is missing. op: 1 put, 2 delete.
 *     Operations are in strictly increasing (table index, key) order: no key twice.
 *   checkpoint (WAL_CHECKPOINT): u8 version (1) | u64 LE through | catalog before (32) |
 *                                catalog after (32) | root record (32)
 *   bulk (WAL_BULK): u8 version (1) | u64 LE operations | catalog before (32) | catalog after (32)
 *
 * Decoders are strict: anything else is CAIRN_ECORRUPT naming what is wrong.
 */
#ifndef CAIRN_WALREC_H
#define CAIRN_WALREC_H

#include "base/base.h"

#define WALREC_CREATE 0x1u
enum { WALREC_PUT = 1, WALREC_DEL = 2 };

typedef struct walrec_table {
    const char *name;        /* NUL-terminated (decoders: borrowed until the callback returns) */
    unsigned flags;          /* WALREC_CREATE */
} walrec_table;

typedef struct walrec_op {
    uint8_t type;            /* WALREC_PUT, WALREC_DEL */
    uint32_t table;          /* index into the batch's tables */
    const uint8_t *key, *val;
    uint32_t klen, vlen;
} walrec_op;

#define WALREC_AHEAD 8 /* operations whose bytes walrec_op_ahead() asks for */

/** Before copying the bytes of ops[i] (of n), asks for the cache lines of the key and value of
 *  the operation WALREC_AHEAD after it: sorted operations point into their batch in arrival
 *  order, so copying them in key order misses the cache at each one. */
static inline void walrec_op_ahead(const walrec_op *ops, size_t i, size_t n)
{
    if (i + WALREC_AHEAD >= n) return;
    const walrec_op *o = &ops[i + WALREC_AHEAD];
    __builtin_prefetch(o->key);
    if (o->vlen) __builtin_prefetch(o->val + o->vlen - 1);
}

/** Encodes a batch (ops already in (table, key) order without duplicates) into out. */
int walrec_batch_encode(cairn_buf *out, const walrec_table *tables, size_t ntables,
                        const walrec_op *ops, size_t nops);

/** What a batch decoder reports: each table, then each operation, in order. A non-zero return
 *  from a callback stops the walk and is returned. */
typedef struct walrec_visitor {
    int (*table)(void *ctx, uint32_t index, const walrec_table *t);
    int (*op)(void *ctx, const walrec_op *op);
    void *ctx;
} walrec_visitor;

int walrec_batch_decode(const uint8_t *p, size_t len, const walrec_visitor *v);

typedef struct walrec_checkpoint {
    uint64_t through;        /* every record up to this seq is in the tree */
    cairn_id catalog_before, catalog_after, rootrec;
} walrec_checkpoint;

#define WALREC_CHECKPOINT_SIZE (1 + 8 + 3 * 32)
void walrec_checkpoint_encode(uint8_t out[WALREC_CHECKPOINT_SIZE], const walrec_checkpoint *c);
int walrec_checkpoint_decode(walrec_checkpoint *out, const uint8_t *p, size_t len);

typedef struct walrec_bulk {
    uint64_t ops;
    cairn_id catalog_before, catalog_after;
} walrec_bulk;

#define WALREC_BULK_SIZE (1 + 8 + 2 * 32)
void walrec_bulk_encode(uint8_t out[WALREC_BULK_SIZE], const walrec_bulk *b);
int walrec_bulk_decode(walrec_bulk *out, const uint8_t *p, size_t len);

#endif /* CAIRN_WALREC_H */
