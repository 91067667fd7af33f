/*
 * wal.h - the write-ahead log of one branch's working state.
 *
 * Writes are records (a sequence number, a UTC time, a type and a payload: the batch). Writers
 * that arrive together share one write and one fsync (group commit): the first in the queue
 * leads, writes every queued record as one group, syncs, then applies them in sequence order
 * through each writer's callback (the memtable insert) and wakes them. A caller returns only
 * once its record is durable (or, in relaxed mode, written: a background thread fsyncs every
 * interval; the loss window is that interval).
 *
 * Files (docs/FORMAT.md, "Write-ahead log"), in a store's file namespace (the file_* methods of
 * cairn/sys/store.h): DIR/<first seq>.wal segments, preallocated so that an fdatasync need not
 * update metadata. Space follows the write rate: the first segment is small (segment_min_bytes),
 * a segment filled fast is followed by one twice as big (up to segment_bytes), one a checkpoint
 * rolls after a long life by one half as big; an idle log (and a closed one) gives its
 * preallocation back, so an idle branch holds only what it wrote. A segment is sealed (fsynced) before the next is created. Segments the tree
 * has absorbed (checkpointed) move to DIR/oplog/, kept for the operation log by a retention
 * count. Every file access is a call of the store's methods, so faults injected below them
 * (base/sys) reach the log too.
 */
#ifndef CAIRN_WAL_H
#define CAIRN_WAL_H

#include "base/base.h"

enum wal_type {
    WAL_BATCH = 1,           /* a batch of puts and deletes */
    WAL_CHECKPOINT = 2,      /* the tree absorbed everything up to a sequence number */
    WAL_BULK = 3,            /* a large batch applied to the tree directly, not via the log */
};

typedef struct wal_record {
    uint64_t seq;
    int64_t time;            /* nanoseconds since the Unix epoch, UTC */
    uint8_t type;
    const uint8_t *payload;  /* borrowed during the callback */
    size_t len;
} wal_record;

typedef int (*wal_fn)(const wal_record *rec, void *ctx);

/* What an append does with its record: apply() once the record is written (maybe before it is
 * durable: it must keep the effect invisible until publish), abort() if the group then fails
 * after all. The log's publish() (wal_options) runs once each group is durable and applied, in
 * sequence order, with the group's last sequence number. apply, abort and publish of one group
 * run with the log's apply lock held (wal_exclusive() waits for them). */
typedef struct wal_hooks {
    int (*apply)(const wal_record *rec, void *ctx);
    void (*abort)(const wal_record *rec, void *ctx);
} wal_hooks;

typedef struct wal_options {
    cairn_store *store;      /* whose file namespace holds the log (borrowed); NULL: no files,
                                the records live only in memory */
    const char *dir;         /* the log's directory there ("wal/main"; "" = the top) */
    bool readonly;
    unsigned sync_interval_ms; /* a background thread fsyncs what relaxed appends wrote (0: 100) */
    void (*publish)(uint64_t through, void *ctx); /* see wal_hooks */
    void *publish_ctx;
    uint64_t segment_bytes;  /* the largest a segment grows to (0: 64 MiB) */
    uint64_t segment_min_bytes; /* the first segment's size, and the smallest (0: 1 MiB) */
    unsigned retain_segments;/* retired segments kept in the oplog ... */
    unsigned retain_seconds; /* ... and beyond those, any younger than this (0: none) */
} wal_options;

typedef struct wal wal;

typedef struct wal_stats {
    uint64_t bytes;          /* in live segments */
    uint64_t segments;
    uint64_t oplog_segments;
    uint64_t last_seq;
    uint64_t synced_seq;
    uint64_t groups;         /* written since open (records / groups: the group commit factor) */
    uint64_t syncs;          /* fdatasyncs by appends since open */
} wal_stats;

/** Opens the log: replays through fn every record with seq > applied, in order; a writer
 *  repairs a torn tail and reopens the last segment for appending. */
int wal_open(wal **out, const wal_options *o, uint64_t applied, wal_fn fn, void *ctx,
             uint64_t *out_last_seq);
/** Seals the log (flushing) and frees it. */
void wal_close(wal *w);

/** Appends a record (group commit): *out_seq gets its sequence number. Returns once the record
 *  is durable (durable: fsynced; otherwise written, fsynced by the background syncer within
 *  sync_interval_ms) and published. hooks (may be NULL) receive ctx. */
int wal_append(wal *w, uint8_t type, const void *payload, size_t len, bool durable,
               const wal_hooks *hooks, void *ctx, uint64_t *out_seq);

/** Seals the current segment and starts a new one; *out_last gets the last seq sealed. */
int wal_roll(wal *w, uint64_t *out_last);
/** After a checkpoint: asks that the next group start a new segment (without waiting for
 *  anything) when the active one holds at least 1/8 of segment_bytes. A smaller one stays
 *  active, its checkpointed records skipped by replay, so that frequent checkpoints (one per
 *  commit) do not each create, sync and retire a segment file. */
void wal_request_roll(wal *w);
/** Runs fn(ctx) while no group is between apply and publish. */
void wal_exclusive(wal *w, void (*fn)(void *ctx), void *ctx);
/** Moves the sealed segments whose records are all <= through to the oplog (retention). */
int wal_retire(wal *w, uint64_t through);
/** fsync everything written so far. */
int wal_sync(wal *w);
uint64_t wal_last_seq(wal *w);

/** Whether the log had no segment at all, live or retired, when it was opened (never written
 *  here: a new branch, or a clone whose trees came with record numbers from elsewhere). */
bool wal_fresh(const wal *w);
/** Whether the log refuses writes (a failed group could not be cut back): until reopened. */
bool wal_refusing(wal *w);
void wal_stats_get(wal *w, wal_stats *out);

/* What a read of the whole log found that does not verify. */
typedef struct wal_log_problems {
    unsigned damage;         /* damaged headers and groups, missing segments: data may be lost */
    unsigned kept;           /* bad tails kept in place: a crash, or damage (see wal.c's top) */
    char first[600];         /* the first one, naming the file */
} wal_log_problems;

/** Reads the operation log of directory dir of st's file namespace (oplog segments, then live
 *  ones): every record with seq >= since and time in [from, to] (0: unbounded), in order. What
 *  cannot be read (a damaged segment, a missing one) does not stop it: the readable records of
 *  every segment are delivered, and *out counts what was not (the caller reports it). applied:
 *  the records the tree holds (0: unknown), whose damage is reported as such. Records at or
 *  below applied are delivered too (fn filters). */
int wal_read_log(cairn_store *st, const char *dir, uint64_t since, int64_t from, int64_t to,
                 uint64_t applied, wal_fn fn, void *ctx, wal_log_problems *out);

/* Failures while writing are tested through base/sys (sys_fault()): the log's writes, syncs and
 * preallocations are the store's, which a file-backed store makes through sys_pwrite,
 * sys_fdatasync and sys_fallocate. */

#endif /* CAIRN_WAL_H */
