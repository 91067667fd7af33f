/*
 * db.h - the key-value layer behind the public API: the db handle, immutable versions (a
 * catalog root and its decoded table list), read views (a version plus the memtables of writes
 * not yet checkpointed into it, and a sequence number), and the internals shared by db.c,
 * batch.c, read.c and working.c.
 *
 * Files, bottom up (each calls only those before it): version.c (versions, the live list, reader
 * pins, table ids, catalog changes, limits); view.c (read views and materialising them); read.c
 * (gets, counts, cursors) and working.c (the log, memtables, checkpoints); db.c (open, close,
 * snapshots, table handles, applying changes) and batch.c (batches, over db.c's changes).
 *
 * Concurrency: `cur`, `mem` and `imm` are swapped together under vmu; a reader takes references
 * to all three and a sequence number, and reads without locks: versions are immutable and a
 * memtable only gains entries newer than any sequence number already handed out.
 * Small writes go through the write-ahead log holding `gate` shared; operations that rewrite
 * the working state directly (commit, checkout, merge, drop, bulk batches) hold it exclusively,
 * checkpoint first, then work on the tree. wmu serialises everything that publishes a working
 * state (checkpoints included). Lock order: gate, wmu, the log's lock, vmu.
 */
#ifndef CAIRN_DB_H
#define CAIRN_DB_H

#include <pthread.h>

#include "base/base.h"
#include "wal/memtable.h"
#include "repo/pins.h"
#include "repo/repo.h"
#include "repo/retain.h"
#include "tree/tree.h"
#include "db/working.h"

struct commit;

typedef struct vtable {
    char *name;
    tabledesc d;
} vtable;

typedef struct version {
    atomic_uint refs;
    cairn_db *db;
    struct version *live_prev, *live_next; /* db->live: every version not yet freed */
    bool listed;             /* linked into db->live */
    cairn_id commit;         /* the commit this version is, or zero for a working state */
    cairn_id rec_id;
    rootrec rec;
    size_t n;
    vtable *t;               /* sorted by name (bytewise) */
} version;

struct cairn_db {
    repo r;
    pthread_mutex_t vmu;
    version *cur;            /* the tree state: everything up to cur->rec.wal_seq */
    memtable *mem;           /* writes after it (never NULL) ... */
    memtable *imm;           /* ... or, during a checkpoint, the frozen ones before those */
    pthread_mutex_t wmu;
    pthread_rwlock_t gate;
    working w;
    pthread_mutex_t livemu;  /* guards the list of live versions (gc keeps what they name) */
    version *live;
    pthread_mutex_t maintmu; /* one gc or verify at a time */
    pins *pins;              /* a reader of a store with pins: the versions it pins for gc */
    pthread_mutex_t pinmu;   /* held from listing the live versions to writing them, so that an
                                older list never overwrites a newer one (then livemu inside) */
    /* set by version control (vc/open.c): grades a commit's signature for verify (an enum
     * cairn_sig_status into *status); NULL: signatures are not graded */
    int (*grade_sig)(const struct commit *c, int *status, void *payload);
    char *catalog_lost;      /* the branch's catalog could not be read at open (why): the handle
                                shows no tables, and cairn_table_open says so instead of "does
                                not exist" */
    atomic_uint open_snapshots; /* cairn_close() refuses while any of these is open */
    atomic_uint open_cursors;
};

struct cairn_table {
    cairn_db *db;
    char *name;
    uint32_t id;             /* the name's id in memtables */
    bool create_on_write;    /* CAIRN_TABLE_DEFER: a write creates the table if it is missing */
};

/* What a read sees: v's trees overlaid by the entries of imm, then mem, up to seq. */
typedef struct rview {
    version *v;
    memtable *mem, *imm;     /* either may be NULL */
    uint64_t seq;
} rview;

struct cairn_snapshot {
    cairn_db *db;
    version *v;              /* as rv.v (kept for the history code) */
    rview rv;
    pthread_mutex_t mu;
    version *mat;            /* rv materialised as trees, made on first need */
};

/** A view of the current state (references taken). */
void db_view(cairn_db *db, rview *out);
void rview_release(rview *rv);
/** A view of version v alone (taking a new reference to v). */
void rview_of_version(rview *out, version *v);
/** Whether no memtable entry is visible to the view (it is v's trees alone). */
bool rview_empty(const rview *rv);
/** Lists the tables of the view (the version's and those created in memtables) by name. */
int rview_list_tables(const rview *rv, int (*cb)(const char *name, void *payload), void *payload);
/** Whether the view has entries of table id (in imm or mem) visible at its seq. */
bool rview_mem_has(const rview *rv, uint32_t table);
/** The newest entry of (table, key) among the view's memtables, or NULL. */
const mem_entry *rview_find(const rview *rv, uint32_t table, const void *key, size_t klen);
/** Finds table t in the view: *vt its tree (NULL when only created in the memtable).
 *  CAIRN_ENOTFOUND with a message when the view has no such table. */
int rview_table(const rview *rv, const cairn_table *t, const vtable **vt);
/** The view as trees: a version whose tables include the memtable entries (chunks written,
 *  nothing published; wal_seq = rv->seq). No entries: v itself (a new reference). */
int rview_materialize(cairn_db *db, const rview *rv, version **out);
/** rview_materialize() with wmu already held. */
int rview_materialize_locked(cairn_db *db, const rview *rv, version **out);
/** A snapshot of view rv (taking over its references); NULL when out of memory. */
cairn_snapshot *snapshot_new(cairn_db *db, const rview *rv);
/** The working state as trees (materialising the memtables; nothing is published). */
int db_working_version(cairn_db *db, version **out);
/** The snapshot's materialised version (made once). */
int snapshot_version(cairn_snapshot *snap, version **out);

/** The memtable id of a table name (assigned on first use, stable while the db is open). */
int db_table_id(cairn_db *db, const char *name, uint32_t *out);

/** Like cairn_table_list(), internal tables included (the documents layer lists its own). */
int db_table_list_all(cairn_db *db, const cairn_snapshot *snap,
                      int (*cb)(const char *name, void *payload), void *payload);
/** The name of a table id (borrowed; stable while the db is open). */
const char *db_table_name(cairn_db *db, uint32_t id);

void version_release(version *v);
/** Reads the catalog of a root record into a new version (rec_id may be zero). */
int version_load(cairn_db *db, version **out, const cairn_id *rec_id, const rootrec *rec);
/** Makes nv the current version (taking the reference the caller holds). */
void db_set_current(cairn_db *db, version *nv);
/** Publishes rec as the new working state (compare-and-swap from base) and makes it current. */
int db_publish(cairn_db *db, const version *base, const rootrec *rec);
/** Opens a db handle over url (or store, which it then owns, closing it on failure): the
 *  repository, its current version and its working set (the log replayed). The public
 *  cairn_open() (vc/open.c) adds what version control does on open.
 *  @return CAIRN_OK, or an error with nothing left open. */
int db_open(cairn_db **out, const char *url, cairn_store *store, const cairn_open_options *opts);
/** Closes and frees a handle that failed to open completely, keeping the thread's last error
 *  (the reason it failed) rather than any met while closing. */
void db_discard(cairn_db *db);

/** Fails with CAIRN_EBUSY, naming `call`, when the thread runs a callback that cairn called
 *  holding db's writer locks (merge's on_conflict, the oplog's and verify's callbacks): the
 *  call would wait for those locks forever. Every entry point that takes gate or wmu checks. */
#define DB_NOT_IN_CALLBACK(db, call)                                                               \
    FAIL_IF(cairn_cb_inside(db), CAIRN_EBUSY,                                                      \
            "%s called from a callback that cairn runs holding the writer lock of %s (merge's "   \
            "on_conflict, cairn_oplog's or cairn_verify's callback): it would deadlock; note "     \
            "what to do in the callback and do it after the call returns", (call), (db)->r.url)

/** The name of the table recording unresolved merge conflicts. */
#define CONFLICTS_TABLE "cairn_conflicts"
/** The catalog roots of every version alive in this process (the current one, and those open
 *  snapshots and cursors pin): garbage collection keeps what they name. Caller frees *out. */
int db_live_catalogs(cairn_db *db, cairn_id **out, size_t *out_n);

/** cairn_gc() with retention policies (repo/retain.h): gc may let go of the old versions of the
 *  tables they cover (none: cairn_gc() itself). The document layer's cairn_doc_gc(). */
int db_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts,
          const gc_retain *retain, size_t nretain);
/** A reader (of a store with pins): rewrites its pin file from its live versions (no-op otherwise). */
void db_pins_publish(cairn_db *db);

/** A new reference to the current version. */
version *db_current(cairn_db *db);
/** The table named name in v, or NULL. */
const vtable *version_find(const version *v, const char *name);
/** Finds the table of a handle in a version; CAIRN_ENOTFOUND with a message if absent. */
int version_table(const vtable **out, const version *v, const cairn_table *t);

/** A change to the catalog: set a table's root (creating it) or drop it. */
typedef struct table_change {
    const char *name;
    bool drop;
    cairn_id root;
} table_change;

/** Applies catalog changes to the catalog of base->rec (sorting changes), writing rec. */
int db_catalog_apply(cairn_db *db, const version *base, table_change *changes, size_t n,
                     rootrec *rec);
/** Applies catalog changes on top of base (which must be current; caller holds wmu), publishes
 *  the new state durably and makes it current. (Not a commit: "commit" is only ever the
 *  version-control kind, vc/vc.h.) */
int db_apply_changes(cairn_db *db, version *base, table_change *changes, size_t n);

/** The root of table `name` in base, or the empty tree when it is missing and may be created
 *  by this write (*created = true); CAIRN_ENOTFOUND otherwise. */
int kv_table_root_for_write(cairn_db *db, const version *base, const char *name, bool may_create,
                            cairn_id *out_root, bool *created);

/** Point reads of n keys of table t as of snap (NULL: the current state), keys in ascending
 *  order (keys[i] >= keys[i - 1]): cb(i, val, vlen, payload) once per key in order, val NULL
 *  when the table does not hold it, else borrowed for the call. Nodes that consecutive keys
 *  share are read once (tree_get_sorted()); the memtables' entries come first, as in
 *  cairn_get(). A read of many keys in key order, e.g. the documents an index scan names.
 *  @return CAIRN_OK, cb's non-zero value, CAIRN_EINVAL (a key too long; or a key below the
 *  one before it, when that key is reached: the keys before it were answered),
 *  CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM. */
int db_get_sorted(cairn_table *t, const cairn_snapshot *snap, const void *const *keys,
                  const size_t *klens, size_t n, tree_got_fn cb, void *payload);

/** Checks key and value sizes against the limits; CAIRN_EINVAL naming the table. */
int kv_check_sizes(const cairn_table *t, size_t klen, const size_t *vlen);

#endif /* CAIRN_DB_H */
