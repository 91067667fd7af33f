/*
 * vc.h - version control's interface to the rest of cairn: making a commit (cairn_commit()'s
 * work, for merge too) and finishing, on open, a commit a crash interrupted. The db layer below
 * knows nothing of these: "commit" here is always a version-control commit, never the
 * publishing of a catalog (db_apply_changes in db/db.h).
 */
#ifndef CAIRN_VC_H
#define CAIRN_VC_H

#include "db/db.h"

/** cairn_commit() with the writer gate and mutex already held (db_exclusive_begin*). */
int vc_commit_locked(cairn_db *db, const cairn_commit_options *o, cairn_id *out);

/** A writer's open: when a crash interrupted a commit after it moved the branch and before it
 *  saved the working state (which is then still based on the commit's parent, with the log
 *  holding every write), and the working state replayed equals the commit, bases the working
 *  state on the commit, as the commit would have. Anything else is left for the next commit
 *  to report. A no-op for read-only handles. */
int vc_complete_commit(cairn_db *db);

#endif /* CAIRN_VC_H */
