/*
 * postblock.h - posting blocks (docs/FORMAT.md, "Text index postings"): per word, the sorted ids
 * of the documents that have it, cut into blocks where the ids say (a cut after an id whose
 * hash has its POST_CUT_MASK bits zero, or after POST_MAX ids), so that the blocks are a
 * function of the set of (word, id) pairs. Key = the word as a tuple bytes element, then the
 * block's first id as a tuple string; value = the ids, each stored as what it shares with the
 * one before and the rest. The document layer writes and reads them (src/doc/post.h); a merge
 * combines them (src/vc/merge_post.c).
 */
#ifndef CAIRN_DB_POSTBLOCK_H
#define CAIRN_DB_POSTBLOCK_H

#include "base/base.h"
#include "cairn.h"
#include "cairn/doc.h"

#define POST_FORM 0x01     /* a block's first byte (an id, the old entries' value, is >= 0x20) */
#define POST_CUT_MASK 63u  /* a cut after an id whose hash has these bits zero: 64 ids a block
                                 on average */
#define POST_MAX 512       /* ... and after this many ids in any case */

/* ---- lists of ids ---- */

/** Ids one after another in bytes; id i is bytes[off[i], off[i + 1]). */
typedef struct post_ids {
    cairn_buf bytes;
    size_t *off;             /* n + 1 offsets once one id is in */
    size_t n, cap;
} post_ids;

void post_ids_reset(post_ids *l);
void post_ids_dispose(post_ids *l);
int post_ids_push(post_ids *l, const void *id, size_t len);
static inline const char *post_ids_at(const post_ids *l, size_t i, size_t *len)
{
    *len = l->off[i + 1] - l->off[i];
    return (const char *)l->bytes.data + l->off[i];
}

/* ---- blocks ---- */

/** Whether the list of a word is cut after id (the rule that does not count). */
bool post_cut(const void *id, size_t len);

/** Appends to out the block of ids [from, to) of l (sorted, unique, 1..POST_MAX). */
int post_encode(cairn_buf *out, const post_ids *l, size_t from, size_t to);

/** A block made one id at a time, straight from where the ids are (each must stay in place
 *  until post_enc_finish()): the bytes post_encode() gives. Start from all zeros; dispose of
 *  body. */
typedef struct post_enc {
    cairn_buf body;          /* the entries so far */
    size_t n;                /* how many */
    const char *first, *prev;
    size_t flen, plen;
} post_enc;

int post_enc_add(post_enc *e, const char *id, size_t len);
/** Writes the block (its form, its count, the entries) into val (emptied first) and empties e
 *  for the next; e->first and e->flen still name its first id. */
int post_enc_finish(post_enc *e, cairn_buf *val);

/** Decodes block val into out (emptied first), checking every rule of its form: sorted unique
 *  ids of valid length and bytes, each stored in its one shortest way. @return CAIRN_OK;
 *  CAIRN_ECORRUPT (the message says what is wrong, for the caller to prefix); CAIRN_ENOMEM. */
int post_decode(post_ids *out, const void *val, size_t vlen);

/** A walk through a block without decoding it (a query's probe): the ids are rebuilt one by
 *  one in id[], and only the lengths are checked (within the value, at most 512 bytes), not
 *  the order or the bytes: post_decode() does that. */
typedef struct post_walk {
    const uint8_t *p, *end;  /* the next id's bytes, the value's end (p NULL: no walk) */
    uint64_t n, i;           /* ids in the block, ids walked */
    size_t len;              /* the last id walked: id[0, len) */
    char id[CAIRN_DOC_ID_LEN_MAX];
} post_walk;

/** Starts a walk of block val (borrowed). @return CAIRN_OK; CAIRN_ECORRUPT (bad head). */
int post_walk_init(post_walk *w, const void *val, size_t vlen);
/** Walks on to the first id at or after id (ids asked in increasing order; a smaller one needs
 *  a new walk); *found: that is id. @return CAIRN_OK; CAIRN_ECORRUPT. */
int post_walk_to(post_walk *w, bool *found, const char *id, size_t idlen);

/** Appends the key of a block: word prefix (the token as a tuple bytes element: tokens are
 *  runs of letters and never hold a zero byte, so the prefix ends at its first 0x00), then the
 *  block's first id as a tuple string. */
int post_key(cairn_buf *out, const void *prefix, size_t plen, const void *id, size_t len);

/** The first id a block key names, given the length of its word prefix. @return false when
 *  the key is not a word prefix followed by one tuple string. */
bool post_key_id(const uint8_t **id, size_t *len, const void *key, size_t klen, size_t plen);

/** The length of the word prefix of key (a tuple bytes element), or 0 when it has none. */
size_t post_prefix_len(const void *key, size_t klen);

#endif /* CAIRN_DB_POSTBLOCK_H */
