/*
 * merge_post.h - the three-way merge of a text index kept as posting blocks (merge_post.c).
 */
#ifndef CAIRN_VC_MERGE_POST_H
#define CAIRN_VC_MERGE_POST_H

#include "base/base.h"
#include "chunk/chunk.h"

/** Whether table is named as an index's table (it may hold posting blocks). */
bool merge_post_named(const char *table);

/** Whether the trees roots[0..3) (base, ours, theirs; NULL: absent) hold posting blocks: the
 *  first entry of the first that has one tells. */
int merge_post_is(bool *out, chunkstore *cs, const cairn_id *const roots[3]);

/** Merges the posting blocks of table (its name, for messages) into *out: per word either
 *  side changed, the ids both sides kept and those either added, cut into blocks again.
 *  Never a conflict. @return CAIRN_OK; CAIRN_ECORRUPT (a block or key that is not one);
 *  CAIRN_EIO; CAIRN_ENOMEM. */
int merge_post(chunkstore *cs, cairn_id *out, const cairn_id *base, const cairn_id *ours,
               const cairn_id *theirs, const char *table);

#endif /* CAIRN_VC_MERGE_POST_H */
