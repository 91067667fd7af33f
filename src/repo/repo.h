/*
 * repo.h - the repository: a store opened by URL, the refs that name its state, and the two
 * hashed structures above the trees (docs/FORMAT.md):
 *
 *   root record (chunk kind 2): the working state of a branch =
 *     u8 kind (2) | u8 version (1) | catalog root (32) | base commit (32, zero = none) |
 *     u64 LE WAL sequence applied | varint n | n pending merge parents (32 each)
 *   catalog: a prolly tree mapping table name (UTF-8) -> table descriptor =
 *     u8 version (1) | u8 kind (1 = key-value table) | table root (32) | varint options length |
 *     options
 *
 * The ref "working/<branch>" holds the hex id of the branch's root record (64 hex digits and a
 * newline); "HEAD" holds "ref: heads/<branch>\n". A new state becomes current by writing its
 * chunks, flushing the store, then moving the working ref by compare-and-swap.
 */
#ifndef CAIRN_REPO_H
#define CAIRN_REPO_H

#include "base/base.h"
#include "chunk/chunk.h"

#define REPO_DEFAULT_BRANCH "main"
#define ROOTREC_VERSION 1
#define ROOTREC_MAX_MERGE 15  /* pending merge parents: one commit can have 1 + 15 parents */
#define ROOTREC_MAX_SIZE (2 + 32 + 32 + 8 + 1 + ROOTREC_MAX_MERGE * 32)
#define TABLEDESC_VERSION 1

enum table_kind { TABLE_KIND_KV = 1 };

typedef struct rootrec {
    cairn_id catalog;
    cairn_id base_commit;    /* all zero: none */
    uint64_t wal_seq;
    uint8_t nmerge;          /* a merge waiting to be committed: its other parents */
    cairn_id merge[ROOTREC_MAX_MERGE];
} rootrec;

typedef struct tabledesc {
    uint8_t kind;
    cairn_id root;
} tabledesc;

typedef struct gc_watch gc_watch;

typedef struct repo {
    cairn_store *store;
    chunkstore cs;
    char *url;
    char *branch;            /* HEAD's branch, or "HEAD" when detached */
    bool detached;
    cairn_id detached_at;    /* the commit HEAD is detached at */
    bool readonly;
    bool working_fresh;      /* the last repo_load_working() made a new working state */
    bool working_missing;    /* the working ref names a record the store lacks: opened
                                read-only at the branch head (the log may prove a newer state) */
    cairn_id missing_rec;    /* that record's id */
    struct gc_watch *gc_watch; /* the gc record a writer last read (gc_writer_sync, gc.h) */
} repo;

/** Opens (or creates, with CAIRN_OPEN_CREATE) the repository at url. On success the repo owns
 *  the store. Writes the id of the current root record and the record itself. */
int repo_open(repo *r, const char *url, cairn_store *store, const cairn_open_options *opts,
              cairn_id *out_rec_id, rootrec *out_rec);
/** Closes the store and frees everything; returns the store's first error, if any. */
int repo_close(repo *r);

/** Writes the encoding into out (at least ROOTREC_MAX_SIZE bytes); returns its length. */
size_t rootrec_encode(uint8_t *out, const rootrec *rec);
int rootrec_decode(rootrec *out, const uint8_t *data, size_t len);
/** Loads and decodes a root record by id. */
int rootrec_load(repo *r, rootrec *out, const cairn_id *id);

/** Encodes a table descriptor into buf (replacing its contents). */
int tabledesc_encode(cairn_buf *buf, const tabledesc *d);
int tabledesc_decode(tabledesc *out, const uint8_t *data, size_t len);

/** Checks a table name: 1..CAIRN_TABLE_NAME_LEN_MAX bytes of UTF-8, no control characters, no '/'. */
int table_name_check(const char *name);

/** Whether a table name is in the reserved namespace (CAIRN_TABLE_RESERVED_PREFIX): cairn's own
 *  tables (merge conflicts, documents), which listings meant for users leave out. The one test
 *  of that, used everywhere (cairn_table_internal() is its public face). */
bool table_name_internal(const char *name);

/** Follows HEAD: sets branch / detached from it. CAIRN_ENOTFOUND when there is no HEAD. */
int repo_follow_head(repo *r);
/** Loads the working state of the current branch, creating it from the branch's head commit
 *  when it does not exist yet (a reader builds it in memory without publishing; *out_id is then
 *  zero). */
int repo_load_working(repo *r, cairn_id *out_id, rootrec *out_rec);
/** The working state a branch without one starts from: its head commit's catalog (detached:
 *  that commit's; no commits: the empty catalog). */
int repo_head_working(repo *r, rootrec *out);
/** The working state rec_id cannot be read (missing or damaged): r becomes read-only and notes
 *  it (working_missing); the caller falls back to repo_head_working(). */
void repo_working_lost(repo *r, const cairn_id *rec_id);
/** The working state a branch starts with: the catalog of commit_id (NULL or zero: empty). */
int repo_fresh_working(repo *r, const cairn_id *commit_id, rootrec *out);
/** "working/<branch>". Caller frees. */
char *repo_working_ref(const repo *r);

/** Writes the root record, flushes the store (durability barrier) and moves the working ref from
 *  old_id to the new record by compare-and-swap. Writes the new record's id. */
int repo_publish(repo *r, cairn_id *out_id, const cairn_id *old_id, const rootrec *rec);
/** repo_publish for a caller that must tell its writers exactly what happened (a checkpoint on
 *  a remote store, where durable means published). Only the ref move can fail with its outcome
 *  unknown (its answer lost: a broken connection, a timeout); a failure before it (writing or
 *  flushing the record) sent nothing. After such a move the working ref is read back: naming
 *  the new record, the publish succeeded (CAIRN_OK); naming old_id (absent, without one), it
 *  failed and nothing moved; unreadable, or naming another record (another writer's move since),
 *  it failed with *out_doubt set true: the move may or may not have happened. *out_doubt is false after every other outcome.
 *  @return CAIRN_OK; CAIRN_ECONFLICT (lost compare-and-swap); the store's errors. */
int repo_publish_checked(repo *r, cairn_id *out_id, const cairn_id *old_id, const rootrec *rec,
                         bool *out_doubt);
/** Writes the working state record's chunk ahead of repo_publish(), unflushed, so that a flush
 *  made meanwhile (a commit's, before its ref moves) makes it durable too and repo_publish()
 *  then has nothing left to sync before it moves the working ref. */
int repo_stage(repo *r, const rootrec *rec);

#endif /* CAIRN_REPO_H */
