/*
 * merge_post.h - the three-way merge of a text index kept as posting blocks (merge_post.c).
 */
#ifndef CAIRN_VC_MERGE_POST_H
#define CAIRN_VC_MERGE_POST_H

#include "base/base.h"
#include "chunk/chunk.h"

/** Whether table is named as an index's table (it may hold posting blocks). */
bool merge_post_named(const char *table);

enum { POST_FORM_EMPTY, POST_FORM_BLOCKS, POST_FORM_PAIRS };

/** The form of an index's tree root (NULL: absent, as empty): POST_FORM_BLOCKS when its first
 *  entry is a posting block, POST_FORM_PAIRS when it is not (one entry per pair, or any other
 *  index), POST_FORM_EMPTY without entries. */
int merge_post_form(int *out, chunkstore *cs, const cairn_id *root);

/** Merges the posting blocks of table (its name, for messages; ours and theirs hold blocks,
 *  base blocks or one entry per pair) into *out: per word either side changed, the ids both
 *  sides kept and those either added, cut into blocks again.
 *  Never a conflict. @return CAIRN_OK; CAIRN_ECORRUPT (a block or key that is not one);
 *  CAIRN_EIO; CAIRN_ENOMEM. */
int merge_post(chunkstore *cs, cairn_id *out, const cairn_id *base, const cairn_id *ours,
               const cairn_id *theirs, const char *table);

#endif /* CAIRN_VC_MERGE_POST_H */
