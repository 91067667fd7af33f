/*
 * batch.c - atomic multi-table batches. Operations are copied into an arena of large blocks (no
 * reallocation moves them) and listed per table as they arrive, then at commit each table's are
 * sorted by (key, order of arrival) on the first eight key bytes (a quicksort; a radix sort for
 * large batches), de-duplicated (the last operation on a key wins), applied to each table's
 * tree as one sorted edit (a large batch's tables on two threads), and published with one
 * catalog change (db_apply_changes): all or nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "db/db.h"

#define ARENA_FIRST (64u << 10)  /* arena blocks double from 64 KiB ... */
#define ARENA_MAX (64u << 20)    /* ... up to 64 MiB (huge pages from 2 MiB) */
#define OPS_KEEP_MAX (2u << 20)  /* a cleared batch keeps a table's list of fewer bytes */

typedef struct bop {
    uint64_t prefix;         /* first 8 key bytes, big-endian, zero-padded: fast ordering */
    const uint8_t *kv;       /* key bytes, then value bytes, in the arena */
    uint32_t klen, vlen;
    uint32_t seq;            /* arrival order: the later operation on a key wins */
    uint8_t op;
} bop;

/* One table's operations, in arrival order until the commit sorts them. */
typedef struct opvec {
    bop *v;
    size_t n, cap;
    uint64_t bytes;          /* of their keys and values */
} opvec;

typedef struct block {
    struct block *next;
    size_t used, cap, size; /* size: the whole allocation, for cairn_big_free */
    uint8_t data[];
} block;

struct cairn_batch {
    cairn_db *db;
    opvec *ops;              /* per name: its operations (a large batch's tables need no
                                grouping pass at commit); kept with their room when cleared,
                                but for lists of OPS_KEEP_MAX bytes or more */
    size_t nops;             /* opvecs allocated (>= nnames) */
    size_t n;                /* operations over all tables */
    block *blocks;           /* newest first */
    char **names;            /* distinct tables used, in first-use order */
    bool *create;            /* per name: a handle with CAIRN_TABLE_DEFER may create it */
    size_t nnames;
    bool failed;
};

int cairn_batch_new(cairn_batch **out, cairn_db *db)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "cannot write: %s was opened read-only", db->r.url);
    cairn_batch *b = cairn_calloc(1, sizeof *b);
    if (!b) return ERR(CAIRN_ENOMEM, "out of memory creating a batch");
    b->db = db;
    *out = b;
    return CAIRN_OK;
}

/* Frees the arena blocks; keep_one keeps the newest (largest) for the next use, emptied, so a
 * batch reused for many small commits does not allocate (and fault in) its arena each time. */
static void free_blocks(cairn_batch *b, bool keep_one)
{
    block *keep = keep_one ? b->blocks : NULL;
    block *blk = keep ? keep->next : b->blocks;
    while (blk) {
        block *next = blk->next;
        cairn_big_free(blk, blk->size);
        blk = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    b->blocks = keep;
}

void cairn_batch_clear(cairn_batch *b)
{
    if (!b) return;
    free_blocks(b, true);
    for (size_t i = 0; i < b->nnames; i++) free(b->names[i]);
    free(b->names);
    free(b->create);
    b->names = NULL;
    b->create = NULL;
    b->nnames = 0;
    for (size_t i = 0; i < b->nops; i++) {
        opvec *ov = &b->ops[i];
        if (ov->cap * sizeof *ov->v >= OPS_KEEP_MAX) { /* as the arena keeps only one block */
            cairn_big_free(ov->v, ov->cap * sizeof *ov->v);
            ov->v = NULL;
            ov->cap = 0;
        }
        ov->n = 0;
        ov->bytes = 0;
    }
    b->n = 0;
    b->failed = false;
}

void cairn_batch_free(cairn_batch *b)
{
    if (!b) return;
    cairn_batch_clear(b);
    free_blocks(b, false);
    for (size_t i = 0; i < b->nops; i++) cairn_big_free(b->ops[i].v, b->ops[i].cap * sizeof(bop));
    free(b->ops);
    free(b);
}

size_t cairn_batch_count(const cairn_batch *b) { return b->n; }

static uint8_t *arena_alloc(cairn_batch *b, size_t n)
{
    block *blk = b->blocks;
    if (!blk || blk->cap - blk->used < n) {
        size_t size = blk ? MIN(blk->size * 2, (size_t)ARENA_MAX) : ARENA_FIRST;
        if (size < sizeof *blk + n) size = sizeof *blk + n;
        blk = cairn_big_alloc(size);
        if (!blk) return NULL;
        blk->used = 0;
        blk->size = size;
        blk->cap = size - sizeof *blk;
        blk->next = b->blocks;
        b->blocks = blk;
    }
    uint8_t *p = blk->data + blk->used;
    blk->used += n;
    return p;
}

static int table_index(cairn_batch *b, const cairn_table *t, uint16_t *out)
{
    for (size_t i = b->nnames; i-- > 0;) /* the last one used is the likely one */
        if (strcmp(b->names[i], t->name) == 0) {
            b->create[i] |= t->create_on_write;
            *out = (uint16_t)i;
            return CAIRN_OK;
        }
    FAIL_IF(b->nnames >= UINT16_MAX, CAIRN_EINVAL, "a batch may touch at most %u tables",
            UINT16_MAX);
    char **nn = cairn_realloc(b->names, (b->nnames + 1) * sizeof *nn);
    if (!nn) return ERR(CAIRN_ENOMEM, "out of memory adding to a batch");
    b->names = nn;
    bool *nc = cairn_realloc(b->create, (b->nnames + 1) * sizeof *nc);
    if (!nc) return ERR(CAIRN_ENOMEM, "out of memory adding to a batch");
    b->create = nc;
    if (b->nnames == b->nops) {
        opvec *no = cairn_realloc(b->ops, (b->nops + 1) * sizeof *no);
        if (!no) return ERR(CAIRN_ENOMEM, "out of memory adding to a batch");
        b->ops = no;
        b->ops[b->nops++] = (opvec){ NULL, 0, 0, 0 };
    }
    nc[b->nnames] = t->create_on_write;
    if (!(nn[b->nnames] = cairn_strdup(t->name)))
        return ERR(CAIRN_ENOMEM, "out of memory adding to a batch");
    *out = (uint16_t)b->nnames++;
    return CAIRN_OK;
}

/* Room for one more operation in the list of table ti: large lists on huge pages (a bulk load's
 * lists hold tens of megabytes, which 4 KiB pages would fault in one at a time). */
static int ops_room(cairn_batch *b, uint16_t ti)
{
    opvec *ov = &b->ops[ti];
    if (ov->n < ov->cap) return CAIRN_OK;
    size_t ncap = ov->cap ? ov->cap * 2 : 256;
    bop *v = cairn_big_realloc(ov->v, ov->cap * sizeof *v, ncap * sizeof *v);
    if (!v)
        return ERR(CAIRN_ENOMEM, "out of memory adding operation %zu to a batch (on table '%s')",
                   b->n + 1, b->names[ti]);
    ov->v = v;
    ov->cap = ncap;
    return CAIRN_OK;
}

static int batch_add(cairn_batch *b, cairn_table *t, const void *key, size_t klen,
                     const void *val, size_t vlen, uint8_t op)
{
    if (b->failed)
        return ERR(CAIRN_ESTATE, "an earlier operation on this batch failed; clear or free it");
    int rc = CAIRN_OK;
    if (t->db != b->db) rc = ERR(CAIRN_EINVAL, "table '%s' belongs to another repository", t->name);
    if (rc == CAIRN_OK) rc = kv_check_sizes(t, klen, op == EDIT_PUT ? &vlen : NULL);
    if (rc == CAIRN_OK && b->n >= UINT32_MAX)
        rc = ERR(CAIRN_EINVAL, "a batch holds at most %u operations", UINT32_MAX);
    uint16_t ti = 0;
    if (rc == CAIRN_OK) rc = table_index(b, t, &ti);
    opvec *ov = rc == CAIRN_OK ? &b->ops[ti] : NULL;
    if (rc == CAIRN_OK) rc = ops_room(b, ti);
    uint8_t *p = NULL;
    if (rc == CAIRN_OK && !(p = arena_alloc(b, klen + vlen)))
        rc = ERR(CAIRN_ENOMEM, "out of memory adding %zu bytes to a batch", klen + vlen);
    if (rc < 0) {
        b->failed = true;
        return rc;
    }
    if (klen) memcpy(p, key, klen);
    if (vlen) memcpy(p + klen, val, vlen);
    uint8_t pre[8] = { 0 };
    memcpy(pre, key, klen < 8 ? klen : 8);
    ov->v[ov->n++] = (bop){ load_be64(pre), p, (uint32_t)klen, (uint32_t)vlen, (uint32_t)b->n,
                            op };
    ov->bytes += klen + vlen;
    b->n++;
    return CAIRN_OK;
}

int cairn_batch_put(cairn_batch *b, cairn_table *t, const void *key, size_t klen,
                    const void *val, size_t vlen)
{
    return batch_add(b, t, key, klen, val, vlen, EDIT_PUT);
}

int cairn_batch_delete(cairn_batch *b, cairn_table *t, const void *key, size_t klen)
{
    return batch_add(b, t, key, klen, NULL, 0, EDIT_DEL);
}

/* ---- sorting ---- */

/* Orders the keys of two operations: the prefix decides nearly every pair without a cache miss
 * on the key bytes. */
static inline int bop_key_cmp(const bop *a, const bop *b)
{
    if (a->prefix != b->prefix) return a->prefix < b->prefix ? -1 : 1;
    return bytes_cmp(a->kv, a->klen, b->kv, b->klen);
}

/* Orders the operations of one table: by key, then arrival. */
static inline int bop_cmp(const bop *a, const bop *b)
{
    int c = bop_key_cmp(a, b);
    if (c) return c;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* What v[i] of v[0, n) is to the one after it: OP_LAST (no later operation on its key follows:
 * it is the one that counts), OP_SUPERSEDED (the next is a later operation on the same key,
 * which wins), OP_DISORDER (the pair is not in order). */
enum { OP_LAST, OP_SUPERSEDED, OP_DISORDER };

static inline int op_next(const bop *v, size_t n, size_t i)
{
    if (i + 1 == n) return OP_LAST;
    int c = bop_key_cmp(&v[i], &v[i + 1]);
    if (c > 0 || (c == 0 && v[i].seq > v[i + 1].seq)) return OP_DISORDER;
    return c == 0 ? OP_SUPERSEDED : OP_LAST;
}

static inline void bop_swap(bop *a, bop *b)
{
    bop t = *a;
    *a = *b;
    *b = t;
}

/* Quicksort with median-of-three pivots and insertion sort for short runs; recursion only on
 * the smaller side, so the stack stays O(log n). All elements are distinct (seq), so the
 * order is total. */
static void bop_sort(bop *v, size_t n)
{
    while (n > 16) {
        size_t m = n / 2;
        if (bop_cmp(&v[m], &v[0]) < 0) bop_swap(&v[m], &v[0]);
        if (bop_cmp(&v[n - 1], &v[m]) < 0) {
            bop_swap(&v[n - 1], &v[m]);
            if (bop_cmp(&v[m], &v[0]) < 0) bop_swap(&v[m], &v[0]);
        }
        bop pivot = v[m];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (bop_cmp(&v[i], &pivot) < 0) i++;
            while (bop_cmp(&pivot, &v[j]) < 0) j--;
            if (i >= j) break;
            bop_swap(&v[i], &v[j]);
            i++;
            j--;
        }
        size_t left = j + 1; /* [0, left) <= pivot <= [left, n) */
        if (left < n - left) {
            bop_sort(v, left);
            v += left;
            n -= left;
        } else {
            bop_sort(v + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        bop x = v[i];
        size_t j = i;
        while (j > 0 && bop_cmp(&x, &v[j - 1]) < 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Each table's operations, on the thread that applies them (apply_part), become its tree
 * edits in one pass that also checks their order (ops_to_edits): keys that arrive in order, as
 * a load of increasing ids does, are not sorted at all. Others are sorted: a small table's by
 * the comparison sort, a large one's by a stable least-significant-digit radix sort on their
 * first eight key bytes, RADIX_DIGIT bits a pass (a pass whose digit is the same for every
 * operation is skipped); the pass that makes the edits then checks each run of operations that
 * tie on those bytes (keys longer than eight bytes with a common start), and only when one is
 * out of order are such runs put in order by the comparison sort (sort_ties) and the edits
 * made again. Being stable, the radix passes keep a run in arrival order: keys that arrive in
 * order (generated ids, which grow with time; index entries of one value, which end with those
 * ids) cost one comparison each, which also finds a key given twice. The operations come listed
 * per table (batch_add), so there is no grouping pass over the whole batch. */
#define RADIX_MIN_OPS 65536
#define RADIX_DIGIT 11
#define RADIX_SIZE ((size_t)1 << RADIX_DIGIT)
_Static_assert(sizeof(tree_edit) <= sizeof(bop), "a radix sort's scratch holds the edits after");

static inline size_t radix_digit(const bop *o, unsigned shift)
{
    return (size_t)(o->prefix >> shift) & (RADIX_SIZE - 1);
}

#define RADIX_PASSES ((64 + RADIX_DIGIT - 1) / RADIX_DIGIT)

/* One stable counting pass from v into out by the digit at shift, whose counts are count[d + 1]
 * (count[0] is 0); false (and nothing moved) when every operation has the same digit. */
static bool radix_pass(bop *out, const bop *v, size_t n, unsigned shift, size_t *count)
{
    for (size_t d = 0; d < RADIX_SIZE; d++)
        if (count[d + 1] == n) return false;
    for (size_t d = 0; d < RADIX_SIZE; d++) count[d + 1] += count[d];
    for (size_t i = 0; i < n; i++) out[count[radix_digit(&v[i], shift)]++] = v[i];
    return true;
}

/* Sorts v[0, n) by prefix, keeping ties in the order they were; returns the scratch array it
 * used (n operations; the caller frees it), or NULL (nothing done) when out of memory. The
 * counts of every pass's digits are taken in one sweep first (a pass moves the operations but
 * not how many have each digit). */
static bop *radix_sort(bop *v, size_t n)
{
    size_t *count = cairn_calloc(RADIX_PASSES * (RADIX_SIZE + 1), sizeof *count);
    bop *other = cairn_big_alloc(n * sizeof *other), *at = v;
    if (!count || !other) {
        free(count);
        cairn_big_free(other, n * sizeof *other);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (unsigned p = 0; p < RADIX_PASSES; p++)
            count[p * (RADIX_SIZE + 1) + radix_digit(&v[i], p * RADIX_DIGIT) + 1]++;
    for (unsigned p = 0; p < RADIX_PASSES; p++) {
        if (radix_pass(other, at, n, p * RADIX_DIGIT, count + p * (RADIX_SIZE + 1))) {
            bop *t = at;
            at = other;
            other = t;
        }
    }
    if (at != v) { /* the result goes back to v: other is then free for the edits */
        memcpy(v, at, n * sizeof *v);
        other = at;
    }
    free(count);
    return other;
}

/* How far ahead the passes over sorted operations fetch a key while they go through operations
 * that tie on the prefix (sort_ties: the key 16 ahead, in the run or past it; ops_to_edits:
 * that key when it ties with the one before it): such keys are compared whole, and they lie
 * apart in the arena (a text index's entries of one word, a document's worth of bytes apart),
 * each a cache miss. The two passes over a 6M-entry text index took 0.85 s without it, 0.68 s
 * with it. */
#define TIE_AHEAD 16

/* Sorts the runs of v that tie on the prefix and are not in order yet. */
static void sort_ties(bop *v, size_t n)
{
    for (size_t from = 0; from < n;) {
        size_t to = from + 1;
        bool sorted = true;
        while (to < n && v[to].prefix == v[from].prefix) {
            if (to + TIE_AHEAD < n) __builtin_prefetch(v[to + TIE_AHEAD].kv);
            if (sorted && bop_cmp(&v[to - 1], &v[to]) > 0) sorted = false;
            to++;
        }
        if (!sorted) bop_sort(v + from, to - from);
        from = to;
    }
}

/* The edits of v[0, n) into out (*m of them), the last operation on a key winning, if v is in
 * order; false at the first pair that is not (out is then partly written). */
static bool ops_to_edits(const bop *v, size_t n, tree_edit *out, size_t *m)
{
    size_t k = 0;
    *m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + TIE_AHEAD < n && v[i + TIE_AHEAD].prefix == v[i + TIE_AHEAD - 1].prefix)
            __builtin_prefetch(v[i + TIE_AHEAD].kv);
        int s = op_next(v, n, i);
        if (s == OP_DISORDER) return false;
        if (s == OP_SUPERSEDED) continue;
        const bop *o = &v[i];
        out[k++] = (tree_edit){ o->kv, o->kv + o->klen, o->klen, o->vlen, o->op };
    }
    *m = k;
    return true;
}

/* Sorts one table's operations, v[0, n), in place: a large one by radix, then its ties (a
 * logged batch of 100k random updates spent a fifth of its commit in the comparison sort),
 * others by the comparison sort. Returns the radix sort's scratch (n operations, the caller
 * frees it), or NULL. */
static bop *sort_ops(bop *v, size_t n)
{
    bop *scratch = n >= RADIX_MIN_OPS ? radix_sort(v, n) : NULL;
    if (scratch) sort_ties(v, n);
    else bop_sort(v, n); /* a small table, or no memory for the fast path */
    return scratch;
}

/* Sorts the operations of one table, v[0, n), as needed and makes its edits (*m of them): in
 * out, or in the radix sort's scratch, which *scratch then holds (the caller frees it). */
static tree_edit *table_edits(bop *v, size_t n, tree_edit *out, size_t *m, bop **scratch)
{
    *scratch = NULL;
    if (ops_to_edits(v, n, out, m)) return out;
    if ((*scratch = sort_ops(v, n)) != NULL)
        out = (tree_edit *)(void *)*scratch; /* already in memory: no fresh pages to fault */
    ops_to_edits(v, n, out, m); /* in order now */
    return out;
}

/* ---- commit ---- */

/* One table's part of a bulk commit: its operations, and what applying them to its tree
 * gave. */
typedef struct bulk_part {
    uint16_t table;          /* index into batch->names and batch->ops */
    size_t edits_at;         /* its edits start at this offset of the shared array */
    uint64_t bytes;          /* of its keys and values: the larger parts are started first */
    cairn_id old_root, root;
    bool created;
    int rc;
    char *msg;               /* the message of a failure (it happened on some thread) */
} bulk_part;

/* The parts of a bulk commit, shared by the threads that apply them. */
typedef struct bulk_work {
    cairn_batch *b;
    bulk_part **order;       /* largest first */
    size_t n;
    tree_edit *edits;        /* part p's start at edits[p->edits_at] */
    atomic_size_t next;      /* the next part of order to take */
    int runners;             /* threads taking parts: they share the CPUs */
} bulk_work;

static void apply_part(bulk_work *w, bulk_part *p)
{
    cairn_batch *b = w->b;
    const opvec *ov = &b->ops[p->table];
    size_t m;
    bop *scratch;
    tree_edit *edits = table_edits(ov->v, ov->n, w->edits + p->edits_at, &m, &scratch);
    tree_apply_opts opt = tree_apply_opts_for(m, w->runners);
    /* ops_to_edits checked the order */
    p->rc = tree_apply_sorted(&b->db->r.cs, &p->root, &p->old_root, edits, m, &opt, NULL);
    if (p->rc < 0) p->msg = cairn_strdup(cairn_error_last()->message);
    cairn_big_free(scratch, ov->n * sizeof *scratch);
}

static void *apply_parts(void *arg)
{
    bulk_work *w = arg;
    size_t i;
    while ((i = atomic_fetch_add(&w->next, 1)) < w->n) apply_part(w, w->order[i]);
    return NULL;
}

static int part_larger(const void *a, const void *b)
{
    const bulk_part *x = *(bulk_part *const *)a, *y = *(bulk_part *const *)b;
    return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

/* Applies each table's operations to its tree: on two threads when there are several tables
 * (their trees are independent; the chunk store takes writes from any thread), the largest
 * first. Fills changes with the tables that changed, in table order. */
static int apply_tables(cairn_batch *b, version *base, tree_edit *edits, table_change *changes,
                        size_t *nch)
{
    bulk_part *parts = cairn_calloc(b->nnames, sizeof *parts);
    bulk_part **order = cairn_calloc(b->nnames, sizeof *order);
    int rc = parts && order ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory committing a batch");
    size_t np = 0, at = 0;
    for (size_t ti = 0; rc == CAIRN_OK && ti < b->nnames; ti++) {
        bulk_part *p = &parts[np];
        p->table = (uint16_t)ti;
        p->edits_at = at;
        p->bytes = b->ops[ti].bytes;
        at += b->ops[ti].n;
        rc = kv_table_root_for_write(b->db, base, b->names[ti], b->create[ti], &p->old_root,
                                     &p->created);
        order[np++] = p;
    }
    if (rc == CAIRN_OK) {
        qsort(order, np, sizeof *order, part_larger);
        /* each runner's tree edit gets its share of the CPUs (a thread of its own each here,
         * helpers of their own there: not 2 x 4 threads on a 4-CPU machine) */
        bulk_work w = { b, order, np, edits, 0, np > 1 ? 2 : 1 };
        pthread_t helper;
        bool helped = np > 1 && pthread_create(&helper, NULL, apply_parts, &w) == 0;
        if (!helped) w.runners = 1;
        apply_parts(&w);
        if (helped) pthread_join(helper, NULL);
    }
    *nch = 0;
    for (size_t i = 0; rc == CAIRN_OK && i < np; i++) {
        bulk_part *p = &parts[i];
        if (p->rc < 0) {
            rc = p->msg ? ERR(p->rc, "%s", p->msg)
                        : ERR(p->rc, "applying table '%s' failed (its message was lost: out of "
                              "memory keeping it)", b->names[p->table]);
            break;
        }
        if (p->created || memcmp(p->old_root.bytes, p->root.bytes, CAIRN_ID_SIZE) != 0)
            changes[(*nch)++] = (table_change){ b->names[p->table], false, p->root };
    }
    for (size_t i = 0; parts && i < np; i++) free(parts[i].msg);
    free(parts);
    free(order);
    return rc;
}

/* Large batches skip the log: written straight into the trees (after a checkpoint, with the
 * log's writers held back), they are durable when the new working root is. That costs what the
 * edit touches in the trees, not what it writes: 100,000 random updates of a 1M-key table
 * rewrote about 96% of its leaves and took 0.5 s (0.16x the rate of loading the table afresh).
 * Logged, the same batch commits in about 0.1-0.2 s, and the tree work goes to the next
 * checkpoint, in the background, shared with the writes around it. So a batch is logged as
 * long as the log and the memtable take it well: under BULK_OPS operations, BULK_BYTES of keys
 * and values (a log record holds at most 32 MiB with its encoding), and, from LOGGED_OPS
 * operations on, under half the memtable's limit counting each entry's overhead (a batch that
 * fills the memtable would only wait for the checkpoint it causes) or BULK_MEM_MIN. A batch the
 * old rule logged (under 64k operations and 16 MiB) is still logged. */
#define BULK_OPS (256u << 10)
#define BULK_BYTES (16u << 20)
#define LOGGED_OPS (64u << 10)  /* under this many operations a batch is always logged, as it
                                   always was (with a small memtable too) */
#define BULK_MEM_MIN (1u << 20) /* ... and under this much memtable, whatever its limit */
#define MEM_ENTRY_COST 64       /* a memtable entry besides its key and value (links, header) */
/* The largest logged record: BULK_BYTES of keys and values, at most 11 bytes of lengths, table
 * and type an operation, and the table names (cairn's limits keep them far below the rest):
 * well under the log's 32 MiB record limit (wal.c RECORD_MAX). */
_Static_assert(BULK_BYTES + (size_t)BULK_OPS * 11 < (24u << 20), "a logged batch fits a record");

static bool is_bulk(const cairn_batch *b, size_t bytes)
{
    size_t mem = bytes + b->n * (size_t)MEM_ENTRY_COST;
    return b->n >= BULK_OPS || bytes >= BULK_BYTES ||
           (b->n >= LOGGED_OPS && mem >= MAX(b->db->w.mem_limit / 2, (size_t)BULK_MEM_MIN));
}

/* A bulk commit that failed writing (the checkpoint before it, its chunks, its new root) did
 * not publish: says so. */
static int bulk_refused(int rc, size_t n)
{
    if (rc != CAIRN_ENOSPC && rc != CAIRN_EIO) return rc;
    return cairn_error_prefix(rc, "the batch was not committed: none of its %zu writes was "
                              "applied and the repository is as it was before it (chunks "
                              "already written for it are garbage for gc)", n);
}

static int commit_bulk(cairn_batch *b)
{
    cairn_db *db = b->db;
    tree_edit *edits = cairn_big_alloc(b->n * sizeof *edits);
    table_change *changes = cairn_calloc(b->nnames, sizeof *changes);
    if (!edits || !changes) {
        cairn_big_free(edits, b->n * sizeof *edits);
        free(changes);
        return ERR(CAIRN_ENOMEM, "out of memory committing a batch of %zu operations", b->n);
    }
    int rc = db_exclusive_begin(db);
    if (rc < 0) {
        cairn_big_free(edits, b->n * sizeof *edits);
        free(changes);
        return bulk_refused(rc, b->n);
    }
    version *base = db_current(db);
    size_t nch = 0;
    rc = apply_tables(b, base, edits, changes, &nch);
    if (rc == CAIRN_OK && nch > 0) rc = db_apply_changes(db, base, changes, nch);
    if (rc == CAIRN_OK && nch > 0) { /* for the operation log */
        version *now = db_current(db);
        walrec_bulk wb = { b->n, base->rec.catalog, now->rec.catalog };
        version_release(now);
        uint8_t rec[WALREC_BULK_SIZE];
        walrec_bulk_encode(rec, &wb);
        if (working_note(db, WAL_BULK, rec, sizeof rec) < 0)
            cairn_diag(CAIRN_LOG_WARN, "%s: a bulk batch is in the trees but not in the "
                       "operation log: %s", db->r.url, cairn_error_last()->message);
    }
    version_release(base);
    db_exclusive_end(db);
    cairn_big_free(edits, b->n * sizeof *edits);
    free(changes);
    return bulk_refused(rc, b->n);
}

/* Small batches: one log record, then the memtable. */
static int commit_logged(cairn_batch *b, bool durable)
{
    walrec_table *tables = cairn_malloc(b->nnames * sizeof *tables);
    walrec_op *ops = cairn_big_alloc_now(b->n * sizeof *ops);
    int rc = tables && ops ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory committing a batch");
    for (size_t i = 0; rc == CAIRN_OK && i < b->nnames; i++)
        tables[i] = (walrec_table){ b->names[i], b->create[i] ? WALREC_CREATE : 0u };
    size_t m = 0;
    for (size_t t = 0; rc == CAIRN_OK && t < b->nnames; t++) { /* in table order, as logged */
        const opvec *ov = &b->ops[t];
        for (size_t i = 0; i + 1 < ov->n; i++)
            if (op_next(ov->v, ov->n, i) == OP_DISORDER) { /* else already in order */
                cairn_big_free(sort_ops(ov->v, ov->n), ov->n * sizeof(bop));
                break;
            }
        for (size_t i = 0; i < ov->n; i++) {
            if (op_next(ov->v, ov->n, i) == OP_SUPERSEDED) continue;
            const bop *o = &ov->v[i];
            ops[m++] = (walrec_op){ o->op == EDIT_PUT ? WALREC_PUT : WALREC_DEL, (uint32_t)t,
                                    o->kv, o->kv + o->klen, o->klen, o->vlen };
        }
    }
    if (rc == CAIRN_OK) rc = working_write_ops(b->db, tables, b->nnames, ops, m, durable);
    free(tables);
    cairn_big_free(ops, b->n * sizeof *ops);
    return rc;
}

int cairn_durability_valid(int d)
{
    return d == CAIRN_DURABILITY_DEFAULT || d == CAIRN_DURABILITY_DURABLE ||
           d == CAIRN_DURABILITY_RELAXED;
}

int cairn_batch_commit_durability(cairn_batch *b, cairn_durability durability)
{
    if (b->failed)
        return ERR(CAIRN_ESTATE, "an earlier operation on this batch failed; clear or free it");
    FAIL_IF(!cairn_durability_valid((int)durability), CAIRN_EINVAL,
            "batch commit: unknown durability %d; give CAIRN_DURABILITY_DURABLE, "
            "CAIRN_DURABILITY_RELAXED or CAIRN_DURABILITY_DEFAULT", (int)durability);
    if (b->n == 0) return CAIRN_OK;
    bool durable = durability == CAIRN_DURABILITY_DURABLE   ? true
                   : durability == CAIRN_DURABILITY_RELAXED ? false
                                                            : !b->db->w.relaxed;
    size_t bytes = 0;
    for (block *blk = b->blocks; blk; blk = blk->next) bytes += blk->used;
    bool bulk = is_bulk(b, bytes);
    /* each table's operations are sorted by the thread that applies them (bulk) or as they
     * are logged */
    int rc = bulk ? commit_bulk(b) : commit_logged(b, durable);
    if (rc == CAIRN_OK) cairn_batch_clear(b);
    return rc;
}

int cairn_batch_commit(cairn_batch *b)
{
    return cairn_batch_commit_durability(b, CAIRN_DURABILITY_DEFAULT);
}

/* ---- single operations: one-entry batches ---- */

static int single(cairn_table *t, const void *key, size_t klen, const void *val, size_t vlen,
                  uint8_t op)
{
    TRY(kv_check_sizes(t, klen, op == EDIT_PUT ? &vlen : NULL));
    cairn_db *db = t->db;
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "cannot write: %s was opened read-only", db->r.url);
    walrec_table wt = { t->name, t->create_on_write ? WALREC_CREATE : 0u };
    walrec_op o = { op == EDIT_PUT ? WALREC_PUT : WALREC_DEL, 0, key, val, (uint32_t)klen,
                    (uint32_t)vlen };
    uint8_t small[512];
    cairn_buf payload = CAIRN_BUF_INIT;
    bool fits = klen + vlen + strlen(t->name) + 32 <= sizeof small;
    if (fits) { /* no allocation for the common small write */
        payload.data = small;
        payload.cap = sizeof small;
    }
    int rc = walrec_batch_encode(&payload, &wt, 1, &o, 1);
    if (rc == CAIRN_OK) rc = working_write(db, &payload, &wt, 1, !db->w.relaxed);
    if (!fits) cairn_buf_dispose(&payload);
    return rc;
}

int cairn_put(cairn_table *t, const void *key, size_t klen, const void *val, size_t vlen)
{
    return single(t, key, klen, val, vlen, EDIT_PUT);
}

int cairn_delete(cairn_table *t, const void *key, size_t klen)
{
    return single(t, key, klen, NULL, 0, EDIT_DEL);
}
