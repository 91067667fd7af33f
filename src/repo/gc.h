/*
 * gc.h - garbage collection and full verification of a repository (gc.c, verify.c). The public
 * calls cairn_gc() and cairn_verify() (db/maint.c) add what only the db handle knows: its locks,
 * the versions its snapshots and cursors pin, and how to grade a signature.
 */
#ifndef CAIRN_GC_H
#define CAIRN_GC_H

#include "commit.h"
#include "repo.h"
#include "retain.h"

#define GC_DEFAULT_MIN_LIVE 0.5

typedef struct gc_params {
    const cairn_id *pinned;  /* catalog roots of the versions in use in this process */
    size_t npinned;
    const cairn_id *reader_pins; /* catalog roots that reader processes pin (pins.h); one that is
                                    already gone is skipped: its reader fails on its own */
    size_t nreader_pins;
    double min_live;         /* local store: rewrite packs whose live fraction is below; < 0: none */
    bool dry_run;            /* mark and count only */
    const gc_retain *retain; /* retention policies (retain.h): what gc may let go of old */
    size_t nretain;          /*  versions of the tables they cover; none: keep every version */
    int64_t now_ns;          /* the time --days windows count back from; 0: the clock */
    double grace;            /* remote stores: seconds between recording candidates and
                                deleting them (gc_remote.c) */
} gc_params;

/** Marks everything reachable from the refs and the pinned catalogs, then deletes the rest and
 *  (local store) rewrites packs left mostly empty. The caller holds the writer mutex. Any error
 *  before the first delete leaves the store untouched. */
int gc_run(repo *r, const gc_params *p, cairn_gc_stats *out);

/** The sweep on a remote store (CAIRN_STORE_CAP_REMOTE), in two phases (gc_remote.c):
 *  garbage[0..n-1] is what the mark that began at mark_started_ns (wall clock) did not reach.
 *  Deletes the candidates an earlier run recorded at least p->grace before that mark that are
 *  still garbage, compacts, and records the rest as the next candidates. */
int gc_remote_sweep(repo *r, const gc_params *p, const cairn_id *garbage, size_t n,
                    int64_t mark_started_ns, cairn_gc_stats *st);
/** The writers' side of gc on a remote store: reads the ref gc/pending (one ref read) and, when
 *  it changed since this repo last read it, installs its candidates in the store
 *  (set_candidates: has then says absent for them and put writes them again, so that the
 *  deleting run spares them; the store also reads its index on). On such a store cs_put never
 *  takes a cached chunk for a stored one (chunkstore.put_through). Call at the start of every
 *  write that may rely on a chunk being present (a checkpoint, a push); the write must publish
 *  within the grace after the call. A no-op on a read-only repo or a store without
 *  CAIRN_STORE_CAP_GC_GEN.
 *  @return CAIRN_OK; the store's errors (CAIRN_EIO, ...); CAIRN_ENOMEM. */
int gc_writer_sync(repo *r);
/** Frees what gc_writer_sync keeps in r (repo_close and xrepo_close call it). */
void gc_watch_free(repo *r);
/** A remote store's counters now: requests, bytes sent, bytes received (zeros elsewhere, and
 *  when the store cannot say: the error is then cleared, so call it only while none is set). */
void gc_traffic(repo *r, uint64_t out[3]);
/** Has the store reclaim deleted chunks' space (its compact method), filling st's counts; a
 *  store without the method is left as it is (logged). */
int gc_compact(repo *r, double min_live, cairn_gc_stats *st);

/** Grades a commit's signature (an enum cairn_sig_status into *status). */
typedef int (*verify_sig_fn)(const commit *c, int *status, void *payload);

/** The walk of cairn_verify() (see cairn.h). sig may be NULL (signatures are then not graded). */
int verify_run(repo *r, const cairn_verify_options *o, verify_sig_fn sig, void *sig_payload,
               cairn_verify_stats *out);

#endif /* CAIRN_GC_H */
