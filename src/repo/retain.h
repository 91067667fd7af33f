/*
 * retain.h - retention: which versions of a set of tables gc may let go, and the record of what
 * it let go (retain.c).
 *
 * The document layer states each collection's policy as data (gc_retain): the tables it covers
 * and how long their versions are kept. This module walks the commit graph, finds for each
 * policy the commits outside its window, and works out which (table name, table root) pairs
 * are named only by such commits: gc's mark then does not descend into those. Everything else
 * stays: the commits themselves, every working state, every version a process pins, the roots of
 * every commit inside a window, and every commit that is on no branch's first-parent line
 * (merged side branches, commits only a reflog still names).
 *
 * What gc let go is recorded, durably and before it deletes anything, in a tree named by the ref
 * RETAIN_REF (docs/FORMAT.md, "Retention record"): key = commit id (32 bytes) || table name,
 * value = table root (32) || time it was let go (i64 LE, ns since the epoch, UTC). Verify,
 * history and reads at an old revision consult it to say "removed by retention" rather than
 * "missing". An entry stays as long as its commit is reachable: what was dropped cannot come
 * back, whatever the policy says later.
 */
#ifndef CAIRN_RETAIN_H
#define CAIRN_RETAIN_H

#include "idmap.h"
#include "repo.h"
#include "roots.h"

#define RETAIN_REF "retention/pruned"
#define RETAIN_VAL_SIZE (CAIRN_ID_SIZE + 8)

/* One policy. Exactly one of keep_after_ns / versions is in force unless hold. */
typedef struct gc_retain {
    const char *table;       /* the table whose changes count versions ("cairn_doc.COLL") */
    const char *prefix;      /* tables covered besides it: every name with this prefix
                                ("cairn_idx.COLL."); NULL: none */
    int64_t keep_after_ns;   /* keep commits newer than this, and the newest at or before it;
                                0: not by time */
    uint32_t versions;       /* keep the commits holding the last N versions of every key of
                                `table`; 0: not by versions */
    bool hold;               /* keep everything */
} gc_retain;

/* What retain_prepare() decided, for gc's mark. */
typedef struct retain_plan {
    idmap skip;              /* retain_pair_key() of the pairs the mark must not descend into */
    bool moved;              /* RETAIN_REF was moved to a new record: the refs must be read
                                again (the new record is live, the old one garbage) */
    uint64_t newly_pruned;   /* (commit, table) entries added to the record by this run */
} retain_plan;

/** The key of a (table name, root) pair in retain_plan.skip: SHA-256 of the name, a zero byte
 *  and the root. */
void retain_pair_key(cairn_id *out, const char *name, size_t nlen, const cairn_id *root);

/** Computes the plan from the refs (roots), the catalogs that must stay whole (kept: working
 *  states of this process, pinned versions) and the policies, and (unless dry_run) writes the
 *  record and moves RETAIN_REF to it, durably. With no policy and no record it does nothing
 *  (plan empty). Caller disposes with retain_plan_dispose(). */
int retain_prepare(repo *r, retain_plan *out, const repo_root *roots, size_t nroots,
                   const cairn_id *kept, size_t nkept, const gc_retain *pol, size_t npol,
                   int64_t now_ns, bool dry_run);
void retain_plan_dispose(retain_plan *p);

/** One entry of the record. Borrowed during the callback. */
typedef struct retain_entry {
    cairn_id commit;
    const char *table;       /* not NUL-terminated: tlen bytes */
    size_t tlen;
    cairn_id root;
    int64_t when_ns;
} retain_entry;

/** Calls cb for every entry of the record, in key order (commit, then table). No record: no
 *  call, CAIRN_OK. @return CAIRN_OK, cb's non-zero value, or an error reading the record. */
int retain_each(repo *r, int (*cb)(const retain_entry *e, void *payload), void *payload);

/** Whether (commit, table) was let go: CAIRN_OK with *out_when_ns, or CAIRN_ENOTFOUND (without a
 *  message). */
int retain_lookup(repo *r, const cairn_id *commit, const char *table, int64_t *out_when_ns);

/* ---- across a transfer (push, fetch, clone: repo/transfer.c, vc/remote.c) ---- */

/** Fills *out (retain_pair_key -> 0) with the (table, root) pairs r's record names whose root
 *  chunk r's store no longer holds: the versions a copy out of r must leave out, as gc's mark
 *  does. A pair whose root is there again (the same content written since the record was
 *  made; the next gc drops it from the record) is not among them: it is copied like any table.
 *  No record: nothing added. On failure *out is disposed.
 *  @return CAIRN_OK; errors reading the record or asking the store (CAIRN_EIO, ...). */
int retain_gone_pairs(repo *r, idmap *out);

/** After a copy from src to dst: adds to dst's record (moving dst's RETAIN_REF by
 *  compare-and-swap, again if another writer moved it meanwhile) every entry of src's record
 *  whose commit dst holds and whose table root it lacks (the versions the copy left out), and
 *  that dst's record does not hold yet (dst's own entries stay). An entry whose version dst
 *  still holds is not carried: nothing dst has is ever let go by a transfer. *out_added: the
 *  entries added (0: dst's record untouched).
 *  @return CAIRN_OK; CAIRN_ECONFLICT (the record kept moving); the stores' errors. */
int retain_carry(repo *src, repo *dst, uint64_t *out_added);

#endif /* CAIRN_RETAIN_H */
