/*
 * reset.c - cairn_reset(): git's `reset` for a branch. It moves the current branch (or the
 * detached HEAD) to a commit and, with CAIRN_RESET_HARD, makes the working state that commit's
 * tables, dropping every uncommitted change (and a merge in progress). Without HARD the working
 * state keeps its tables and is based on the new head, so what differs from it shows as
 * uncommitted changes (git's --soft and --mixed are one here: cairn has no index).
 *
 * Order: the ref moves first, then the working state is published. A crash between leaves a
 * working state based on the old head, which the next commit refuses (the branch moved since):
 * running the same reset again finishes it.
 */
#include <stdio.h>

#include "vc/vc.h"
#include "repo/history.h"
#include "repo/refs.h"

/* Moves the current branch (or the detached HEAD) to at, recording why. */
static int move_head(cairn_db *db, const cairn_id *at, const char *rev)
{
    char why[160];
    snprintf(why, sizeof why, "reset: moving to %.140s", rev);
    if (db->r.detached) {
        TRY(refs_set_head(&db->r, NULL, at));
        db->r.detached_at = *at;
        return CAIRN_OK;
    }
    char ref[BRANCH_MAX + 8];
    snprintf(ref, sizeof ref, "heads/%s", db->r.branch);
    cairn_id entry;
    reflog_entry e;
    int rc = refs_read(&db->r, ref, &entry, &e);
    if (rc == CAIRN_ENOTFOUND) { /* no commit on the branch yet: the reset makes its ref */
        cairn_error_clear();
        return refs_move(&db->r, NULL, ref, NULL, at, why);
    }
    TRY(rc);
    bool same = memcmp(e.new_target.bytes, at->bytes, CAIRN_ID_SIZE) == 0;
    reflog_dispose(&e);
    return same ? CAIRN_OK : refs_move(&db->r, NULL, ref, &entry, at, why);
}

/* The working state after the reset: at's tables (hard), or the current ones on at. */
static int next_state(cairn_db *db, const version *cur, const cairn_id *at, bool hard,
                      rootrec *out)
{
    if (hard) {
        TRY(repo_fresh_working(&db->r, at, out));
        out->wal_seq = cur->rec.wal_seq; /* the log's records so far are behind the new state */
        return CAIRN_OK;
    }
    FAIL_IF(cur->rec.nmerge > 0 || version_find(cur, CONFLICTS_TABLE), CAIRN_ECONFLICT,
            "a merge is in progress on '%s': finish it (cairn commit), abort it (cairn merge "
            "--abort), or drop it with a hard reset", db->r.branch);
    *out = cur->rec;
    out->base_commit = *at;
    return CAIRN_OK;
}

int cairn_reset(cairn_db *db, const char *rev, unsigned flags)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_reset needs a db");
    FAIL_IF(flags & ~(unsigned)CAIRN_RESET_HARD, CAIRN_EINVAL, "unknown reset flags 0x%x", flags);
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    if (!rev) rev = "HEAD";
    TRY(db_exclusive_begin(db)); /* the log's writes go into the trees first: kept, or dropped */
    version *cur = db_current(db);
    cairn_id at;
    rootrec next;
    int rc = history_resolve(&db->r, rev, &at);
    if (rc == CAIRN_OK) rc = next_state(db, cur, &at, flags & CAIRN_RESET_HARD, &next);
    if (rc == CAIRN_OK) rc = move_head(db, &at, rev);
    if (rc == CAIRN_OK) rc = db_publish(db, cur, &next);
    version_release(cur);
    db_exclusive_end(db);
    return rc;
}
