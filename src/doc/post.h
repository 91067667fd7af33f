/*
 * post.h - a text index's posting blocks (docs/FORMAT.md, "Text index postings").
 *
 * A text index made by this version holds, per word, the ids of the documents that have it in
 * blocks: key = the word as a tuple bytes element, then the block's first id as a tuple string;
 * value = the block's ids, sorted, each stored as what it shares with the one before and the
 * rest. Where a word's list is cut into blocks depends on the ids alone (a cut after an id
 * whose hash says so, or after DV_POST_MAX ids), so the blocks are a function of the set of
 * (word, id) pairs and the index stays history-independent.
 *
 * Writers gather a batch's changes per word (dv_post_acc) and rewrite only the blocks they
 * touch when the batch is about to commit; readers walk a word's ids (dv_pcur) or ask whether a
 * word has an id (dv_probe); the check compares every block with the blocks the documents give.
 */
#ifndef CAIRN_DOC_POST_H
#define CAIRN_DOC_POST_H

#include "base/base.h"
#include "cairn.h"
#include "cairn/doc.h"

#define DV_POST_FORM 0x01     /* a block's first byte (an id, the old entries' value, is >= 0x20) */
#define DV_POST_CUT_MASK 63u  /* a cut after an id whose hash has these bits zero: 64 ids a block
                                 on average */
#define DV_POST_MAX 512       /* ... and after this many ids in any case */

/* ---- lists of ids ---- */

/** Ids one after another in bytes; id i is bytes[off[i], off[i + 1]). */
typedef struct dv_ids {
    cairn_buf bytes;
    size_t *off;             /* n + 1 offsets once one id is in */
    size_t n, cap;
} dv_ids;

void dv_ids_reset(dv_ids *l);
void dv_ids_dispose(dv_ids *l);
int dv_ids_push(dv_ids *l, const void *id, size_t len);
static inline const char *dv_ids_at(const dv_ids *l, size_t i, size_t *len)
{
    *len = l->off[i + 1] - l->off[i];
    return (const char *)l->bytes.data + l->off[i];
}

/* ---- blocks ---- */

/** Whether the list of a word is cut after id (the rule that does not count). */
bool dv_post_cut(const void *id, size_t len);

/** Appends to out the block of ids [from, to) of l (sorted, unique, 1..DV_POST_MAX). */
int dv_post_encode(cairn_buf *out, const dv_ids *l, size_t from, size_t to);

/** Decodes block val into out (emptied first), checking every rule of its form: sorted unique
 *  ids of valid length and bytes, each stored in its one shortest way. @return CAIRN_OK;
 *  CAIRN_ECORRUPT (the message says what is wrong, for the caller to prefix); CAIRN_ENOMEM. */
int dv_post_decode(dv_ids *out, const void *val, size_t vlen);

/** A walk through a block without decoding it (a query's probe): the ids are rebuilt one by
 *  one in id[], and only the lengths are checked (within the value, at most 512 bytes), not
 *  the order or the bytes: dv_post_decode() does that. */
typedef struct dv_post_walk {
    const uint8_t *p, *end;  /* the next id's bytes, the value's end (p NULL: no walk) */
    uint64_t n, i;           /* ids in the block, ids walked */
    size_t len;              /* the last id walked: id[0, len) */
    char id[CAIRN_DOC_ID_LEN_MAX];
} dv_post_walk;

/** Starts a walk of block val (borrowed). @return CAIRN_OK; CAIRN_ECORRUPT (bad head). */
int dv_post_walk_init(dv_post_walk *w, const void *val, size_t vlen);
/** Walks on to the first id at or after id (ids asked in increasing order; a smaller one needs
 *  a new walk); *found: that is id. @return CAIRN_OK; CAIRN_ECORRUPT. */
int dv_post_walk_to(dv_post_walk *w, bool *found, const char *id, size_t idlen);

/** Appends the key of a block: word prefix (the token as a tuple bytes element: tokens are
 *  runs of letters and never hold a zero byte, so the prefix ends at its first 0x00), then the
 *  block's first id as a tuple string. */
int dv_post_key(cairn_buf *out, const void *prefix, size_t plen, const void *id, size_t len);

/** The first id a block key names, given the length of its word prefix. @return false when
 *  the key is not a word prefix followed by one tuple string. */
bool dv_post_key_id(const uint8_t **id, size_t *len, const void *key, size_t klen, size_t plen);

/** The length of the word prefix of key (a tuple bytes element), or 0 when it has none. */
size_t dv_post_prefix_len(const void *key, size_t klen);

/* ---- writing: a batch's changes, gathered per word ---- */

typedef struct dv_post_acc dv_post_acc;

int dv_post_acc_new(dv_post_acc **out);
void dv_post_acc_free(dv_post_acc *a);
/** Whether the accumulator holds a change. */
bool dv_post_acc_any(const dv_post_acc *a);
/** Records that word prefix gains (add) or loses id. Within one batch the last change of a
 *  (word, id) pair counts. */
int dv_post_acc_add(dv_post_acc *a, const void *prefix, size_t plen, const char *id,
                    size_t idlen, bool add);
/** Puts the blocks the changes make in batch b for table t (read as it is now: t must not
 *  change until b commits), and deletes the ones they replace; empties a. what names the index
 *  in messages. */
int dv_post_acc_flush(dv_post_acc *a, cairn_batch *b, cairn_table *t, const char *what);
/** Bytes held (for the bulk's accounting). */
size_t dv_post_acc_bytes(const dv_post_acc *a);
/** Sorts the words and each word's changes (the last of an id counting), for reading them
 *  with the two below instead of flushing them (a check gathers the pairs its documents give
 *  as additions). @return the number of words, or a negative status. */
int dv_post_acc_sort(dv_post_acc *a);
/** Word i after dv_post_acc_sort(): its prefix and how many changes. */
void dv_post_acc_word(const dv_post_acc *a, size_t i, const uint8_t **prefix, size_t *plen,
                      size_t *n);
/** Change j of word i: its id; returns whether it is an addition. */
bool dv_post_acc_change(const dv_post_acc *a, size_t i, size_t j, const char **id, size_t *len);

/* ---- reading ---- */

/** A walk over the (word, id) pairs of a postings table in order: of the words starting with
 *  prefix (plen 0: all), id by id. */
typedef struct dv_pcur dv_pcur;

int dv_pcur_open(dv_pcur **out, cairn_table *t, const cairn_snapshot *snap, const void *prefix,
                 size_t plen, const char *what);
/** Moves to the next pair. @return CAIRN_OK; CAIRN_ENOTFOUND at the end; CAIRN_ECORRUPT (a
 *  block is damaged: the message names the index, the word and what); CAIRN_EIO; ENOMEM. */
int dv_pcur_next(dv_pcur *c);
/** The pair under the cursor: key = word prefix + id as a tuple string (the key a per-pair
 *  entry would have; made only when key or klen is asked for), plen = the prefix's length,
 *  and the id. Borrowed until the next move. @return CAIRN_OK or CAIRN_ENOMEM. */
int dv_pcur_get(dv_pcur *c, const uint8_t **key, size_t *klen, size_t *plen, const char **id,
                size_t *idlen);
/** The block under the cursor: its key, the index of the current id in it and its count. */
void dv_pcur_block(const dv_pcur *c, const uint8_t **key, size_t *klen, size_t *at, size_t *n);
/** After dv_pcur_next() failed: whether it was a block it could not read (the next call then
 *  goes on with the block after it), not the table's own failure. */
bool dv_pcur_skippable(const dv_pcur *c);
void dv_pcur_close(dv_pcur *c);

/** Answers whether one word has ids, fastest when asked in increasing order (one seek per
 *  block, not per id). */
typedef struct dv_probe dv_probe;

int dv_probe_open(dv_probe **out, cairn_table *t, const cairn_snapshot *snap,
                  const void *prefix, size_t plen, const char *what);
int dv_probe_has(dv_probe *p, bool *out, const char *id, size_t idlen);
void dv_probe_close(dv_probe *p);

/** About how many ids word prefix has: exact when it has few blocks, else blocks times the
 *  average block. */
int dv_post_estimate(uint64_t *out, cairn_table *t, const cairn_snapshot *snap,
                     const void *prefix, size_t plen, const char *what);

#endif /* CAIRN_DOC_POST_H */
