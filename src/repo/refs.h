/*
 * refs.h - named positions in history. Branches ("heads/NAME") and tags ("tags/NAME") are refs
 * whose value is the id of their newest reflog entry (64 hex digits and a newline); the entry
 * names the commit. Moving a ref writes a new entry (chained to the previous one) and swaps the
 * ref to it by compare-and-swap: the move and its record happen together or not at all.
 *
 * "HEAD" holds "ref: heads/NAME\n" (the branch the repository works on) or, detached,
 * "commit <hex>\n". Each branch has its own working state, "working/NAME" ("working/HEAD" when
 * detached), holding the id of a root record.
 */
#ifndef CAIRN_REFS_H
#define CAIRN_REFS_H

#include "commit.h"
#include "repo.h"

#define REF_HEAD "HEAD"
#define BRANCH_MAX 200

/** Checks a branch or tag name (what follows "heads/" or "tags/"). */
int refs_check_name(const char *kind, const char *name);

/** The entry a ref points at, and what it says. CAIRN_ENOTFOUND when the ref is absent.
 *  out_entry_data may be NULL; otherwise the caller disposes it. */
int refs_read(repo *r, const char *ref, cairn_id *out_entry, reflog_entry *out_entry_data);

/** The commit a branch or tag ref names. CAIRN_ENOTFOUND when absent. */
int refs_target(repo *r, const char *ref, cairn_id *out_commit);

/** Moves (or creates, expect_entry == NULL) a ref to target, recording who and why. Fails with
 *  CAIRN_ECONFLICT when the ref is not at expect_entry any more. Writes the new entry id. */
int refs_move(repo *r, cairn_id *out_entry, const char *ref, const cairn_id *expect_entry,
              const cairn_id *target, const char *why);

/** Deletes a ref that is at expect_entry. */
int refs_delete(repo *r, const char *ref, const cairn_id *expect_entry);
/** Whether ref's file is damaged (its value cannot be read: the store's ref_get fails with
 *  CAIRN_ECORRUPT) and the store can delete it anyway (ref_remove_damaged). */
bool refs_damaged(repo *r, const char *ref);
/** Deletes a damaged ref (see refs_damaged()).
 *  @return CAIRN_OK; CAIRN_EINVAL (its value reads); CAIRN_ENOTFOUND; CAIRN_EREADONLY; CAIRN_EIO. */
int refs_delete_damaged(repo *r, const char *ref);
/** When ref's file has a damaged slot (the store reads the other one, perhaps an older value),
 *  writes the store's account of it into msg and returns true; else false (msg untouched). */
bool refs_slot_damage(repo *r, const char *ref, char *msg, size_t size);

/** Who is acting: $CAIRN_AUTHOR ("Name <email>"), else "$USER <$USER@host>". Caller frees. */
char *refs_identity(void);

/** HEAD: *out_branch is the branch (caller frees) or NULL when detached at *out_commit. */
int refs_head(repo *r, char **out_branch, cairn_id *out_commit);
/** Points HEAD at a branch, or (branch NULL) detaches it at commit `at`. */
int refs_set_head(repo *r, const char *branch, const cairn_id *at);

/** Reads the id a text ref holds (64 hex digits and a newline). */
int refs_read_id(repo *r, const char *ref, cairn_id *out);

#endif /* CAIRN_REFS_H */
