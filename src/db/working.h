/*
 * working.h - the working set of the checked-out branch: its write-ahead log, the memtables of
 * writes not yet in the trees, checkpoints that move them into the trees, and recovery.
 *
 * A small write is encoded as one log record (walrec.h), appended with group commit, and once
 * durable inserted into the memtable under the record's sequence number; readers see it from
 * then on. A checkpoint freezes the memtable (swapping in an empty one: writers wait only for
 * that swap), applies it to the trees as one sorted batch per table, publishes the new working
 * root (whose wal_seq says which records it holds) by compare-and-swap, writes a checkpoint
 * record, and retires the log segments the tree now holds. Opening replays every record after
 * the working root's wal_seq.
 *
 * The log lives in the store's file namespace, in wal/<branch>/ (DIR/wal/<branch>/ of a local
 * repository, as always), or, for a store without one, in options.wal_dir/<branch>/ when given
 * (a files-only store over that directory). A store with neither keeps its log in memory only:
 * a durable one (s3, postgres) makes each write durable by a checkpoint before it returns, and
 * the writes that arrive while one is in flight share the next (group commit over the store:
 * one tree build, one flush, one ref move; a failed checkpoint fails exactly the writes it
 * carried, none of which was ever visible).
 */
#ifndef CAIRN_WORKING_H
#define CAIRN_WORKING_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"
#include "wal/wal.h"
#include "wal/walrec.h"

typedef struct cairn_db cairn_db;
struct version;
struct group_waiter;

typedef struct working {
    wal *log;
    cairn_store *files;      /* whose file namespace holds the logs (the repository's store, or
                                own_files), or NULL: no log files */
    cairn_store *own_files;  /* the files-only store over options.wal_dir, or NULL */
    char *dir;               /* the current branch's log directory there, or NULL */
    char *base_dir;          /* where branch log directories live there ("wal" or ""), or NULL */
    wal_options wo;
    bool sync_checkpoint;    /* no log files but a durable store: every write checkpoints */
    bool relaxed;            /* the default durability of writes */
    size_t mem_limit;        /* checkpoint when the memtable is larger */
    _Atomic uint64_t applied;/* the newest record in the memtables */
    _Atomic uint64_t visible;/* the newest record readers see: `applied`, except with
                                sync_checkpoint, where a write shows once its checkpoint is
                                published (a failed one never shows) */
    uint64_t imm_seq;        /* the newest record in imm (while there is one) */
    /* memtable ids of table names: names[id - 1]; order: ids sorted by name */
    pthread_mutex_t idmu;
    char **names;
    uint32_t *order;
    size_t nnames, cap;
    /* the background checkpointer: started by the first write that needs it (a writer that
     * only reads, or writes little, never pays for a thread) */
    pthread_mutex_t mu;
    pthread_cond_t kick, done;
    pthread_t thread;
    bool thread_wanted;      /* a writer: the thread starts on first need */
    bool thread_on, stop, pending, running;
    int bg_rc;               /* the last background checkpoint's result */
    char bg_msg[256];
    /* statistics */
    uint64_t checkpoints, last_ckpt_seq;
    int64_t last_ckpt_time;
    /* a checkpoint in the trees whose working state is not published yet (see
     * db_exclusive_begin_deferred()): its log record, rootrec left to fill */
    bool deferred;
    walrec_checkpoint deferred_rec;
    bool ckpt_unlogged;      /* the last published checkpoint's own log record could not be
                                written: it is written at the next checkpoint or close (verify
                                reads a log that ends at the trees' checkpoint as a deleted
                                last segment) */
    walrec_checkpoint ckpt_unlogged_rec;
    uint64_t recovery_ns, recovered;
    /* group commit over the store (sync_checkpoint): the writes waiting for a checkpoint to
     * carry them; one writer at a time leads a checkpoint, which carries every write logged
     * before it froze the memtable (see "Group commit on a remote repository" in
     * docs/ARCHITECTURE.md) */
    pthread_mutex_t gmu;
    pthread_cond_t gcv, gather_cv;
    struct group_waiter *gwait;  /* linked before their record is logged */
    bool gleading, ggathering;
    unsigned ginside, glogged;   /* writers in the path, and those of them logged and waiting */
    unsigned grecent;            /* writers about at the last checkpoint (carried or waiting) */
    bool gdoubt;                 /* the failing checkpoint's ref move may have happened */
    double gckpt_avg;            /* seconds a led checkpoint takes (moving average) */
    struct version *deferred_base; /* with sync_checkpoint, while deferred: the published
                                      version, restored when the deferred state fails */
} working;

/** Sets up the working set of db->cur's branch: the log (replaying it into a new memtable) and
 *  the checkpointer. db->r and db->cur are open. */
int working_open(cairn_db *db, const cairn_open_options *o);
/** Checkpoints (a writer), stops the checkpointer, closes the log. The first error is returned;
 *  whatever was logged stays in the log for the next open. */
int working_close(cairn_db *db);

/** Appends a batch record and applies it. tables are the batch's tables (by the record's table
 *  indexes); each one without WALREC_CREATE must exist. durable: fsync before returning. */
int working_write(cairn_db *db, const cairn_buf *payload, const walrec_table *tables,
                  size_t ntables, bool durable);
/** The same for a batch given as its operations (in (table, key) order without duplicates, as
 *  walrec_batch_encode() takes them): the record is encoded here, and the memtable entries are
 *  made from ops, not decoded from the record; for a large batch both at once, on two threads. */
int working_write_ops(cairn_db *db, const walrec_table *tables, size_t ntables,
                      const walrec_op *ops, size_t nops, bool durable);

/** Applies the memtables to the trees and publishes (caller holds wmu). */
int db_checkpoint_locked(cairn_db *db);
/** For operations that rewrite the working state directly: takes the gate exclusively and
 *  wmu, and checkpoints. On failure nothing is held. */
int db_exclusive_begin(cairn_db *db);
void db_exclusive_end(cairn_db *db);
/** As db_exclusive_begin(), for an operation that publishes a new working state itself (a
 *  commit): the checkpoint's trees are written (unflushed) and become db->cur, but the working
 *  ref is not moved and the log is not retired: db->cur->rec_id stays the published record's
 *  id, so that the operation's own publish replaces it by compare-and-swap and one flush and
 *  one ref move serve both. Until then the log still holds every record, so a crash loses
 *  nothing. End with db_exclusive_settle(), which publishes the checkpoint itself when
 *  published is false (the operation failed or published nothing), then logs the checkpoint
 *  and retires segments, and ends the exclusive section. */
int db_exclusive_begin_deferred(cairn_db *db);
int db_exclusive_settle(cairn_db *db, bool published);

/** After HEAD moved to another branch (exclusive held): closes this branch's log, loads the
 *  new working state and opens its log. */
int working_switch(cairn_db *db);
/** Removes the log directory of a branch that no longer exists (not the current one). */
int working_remove_log(cairn_db *db, const char *branch);

/** Reads every branch's log (live segments and the oplog) and checks every group and record;
 *  adds records and problems to *st (first: the first problem's message, when it is the
 *  first). @return 0, or on_problem's non-zero value. */
int working_verify_logs(cairn_db *db, const cairn_verify_options *o, cairn_verify_stats *st,
                        char *first, size_t first_size);

/** Appends an informational record (a bulk batch's summary) without waiting for fsync. */
int working_note(cairn_db *db, uint8_t type, const void *payload, size_t len);

#endif /* CAIRN_WORKING_H */
