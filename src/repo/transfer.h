/*
 * transfer.h - copying what a set of roots reaches from one store to another (push, fetch,
 * clone), sending only what the destination lacks.
 *
 * The walk goes top-down and asks the destination before it reads the source: the children of
 * each chunk are asked about in one has_many batch, a chunk the destination has is skipped with
 * everything below it, and only the missing ones are read from the source (one get_many batch),
 * re-hashed against their ids (a mismatch is CAIRN_ECORRUPT naming the chunk and the source)
 * and written to the destination. That skip is sound because every writer of a store keeps
 * one invariant: a chunk is present only when everything it reaches is present. The transfer
 * keeps it too: a chunk is put only after what it names is put and flushed (a flush comes
 * before every put of chunks that name others, when anything was put since the last one; a
 * destination that keeps puts in order, CAIRN_STORE_CAP_ORDERED, needs no flush for that), so
 * a transfer killed at any moment leaves the destination with that invariant intact, and a
 * retry sends only what is still missing.
 *
 * History first: the commits (and reflog entries, root records) the roots reach and the
 * destination lacks are found with batched has and get (their ids kept: memory follows the
 * number of new commits, not the repository), then copied oldest first, each after its
 * catalog's tree. Trees are walked depth first with an explicit stack of batches, one batch per
 * node (its missing children), so memory is bounded by depth x fan-out x node size, whatever
 * the size of the repository.
 *
 * Versions that retention let go in the source (x->skip) are left out, as gc's mark leaves them
 * out: a catalog entry naming one is copied, its table is not. The caller carries the record
 * that says so (retain_carry()) before it moves a ref that reaches them.
 *
 * Refs are not moved here: the caller moves them by compare-and-swap after xfer_copy returns
 * (everything is flushed by then).
 */
#ifndef CAIRN_TRANSFER_H
#define CAIRN_TRANSFER_H

#include "idmap.h"
#include "repo.h"
#include "roots.h"

/* Ids per get_many call (frames held: memory), per has_many call (ids only: each call on an
 * s3 destination that lacks some is a log listing), and bytes of chunk data per put_many
 * call. */
#define XFER_BATCH 1024
#define XFER_HAS_BATCH 16384
#define XFER_PUT_BYTES (4u << 20)

typedef struct xfer_root {
    cairn_id id;
    int what;                /* enum walk_what: W_REFLOG, W_COMMIT, W_ROOTREC, W_RAW, W_ANY */
} xfer_root;

typedef struct xfer {
    cairn_store *src, *dst;
    cairn_transfer_stats *stats;     /* counted into; never NULL */
    void (*progress)(const cairn_transfer_stats *stats, void *payload);
    void *payload;
    double last_progress;
    double start;
    bool dirty;                      /* puts since the last flush of dst */
    cairn_buf plain;                 /* scratch: a decoded frame */
    const idmap *skip;               /* (table, root) pairs not to copy: the versions the
                                        source's retention let go (retain_gone_pairs()); NULL:
                                        none. Set by the caller after xfer_init. */
    idmap skipped;                   /* the pairs of skip that the walk met (stats->pruned) */
    /* table leaves read by one get_many pass, back to back, put when the pass ends (a leaf
     * names nothing, so it needs no order against the rest): no copy of its own each */
    cairn_buf leaves;
    cairn_store_chunk *leaf;         /* [nleaf]: data = offset into leaves until put */
    size_t nleaf, capleaf;
} xfer;

/** Prepares a transfer from src to dst, counting into stats (zeroed here). progress may be
 *  NULL; it is called at most a few times a second and once at the end. */
void xfer_init(xfer *x, cairn_store *src, cairn_store *dst, cairn_transfer_stats *stats,
               void (*progress)(const cairn_transfer_stats *, void *), void *payload);
void xfer_dispose(xfer *x);

/** Copies everything the roots reach that dst lacks, verifying every chunk read from src, and
 *  flushes dst.
 *  @return CAIRN_OK; CAIRN_ECORRUPT (a chunk of src does not hash to its id or does not decode:
 *          the message names it; nothing that names it was written); CAIRN_ENOTFOUND (src lacks
 *          a chunk its history names); the stores' errors (CAIRN_EIO, ...); CAIRN_ENOMEM. */
int xfer_copy(xfer *x, const xfer_root *roots, size_t n);

/** Counts one ref call (ref_get, ref_list, ref_cas) made by the caller, for the stats. */
void xfer_count_ref(xfer *x);

/** Calls the progress callback now (at the end of a transfer). */
void xfer_report(xfer *x);

/** A repository-shaped view of a store that was opened by URL (for refs_move and the other
 *  ref helpers on the far side of a transfer): no working state, no log. Takes ownership of
 *  store (closed by xrepo_close, also on failure here). */
int xrepo_attach(repo *r, cairn_store *store, const char *url, bool readonly);
/** Closes what xrepo_attach made (accepts a repo it failed on). */
void xrepo_close(repo *r);

#endif /* CAIRN_TRANSFER_H */
