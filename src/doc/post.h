/*
 * post.h - a text index's posting blocks (their form: db/postblock.h) as the document layer
 * writes and reads them.
 *
 * Writers gather a batch's changes per word (dv_post_acc) and rewrite only the blocks they
 * touch when the batch is about to commit; readers walk a word's ids (dv_pcur) or ask whether a
 * word has an id (dv_probe); the check (check.c) walks every block against the pairs the
 * documents give.
 */
#ifndef CAIRN_DOC_POST_H
#define CAIRN_DOC_POST_H

#include "db/postblock.h"

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
