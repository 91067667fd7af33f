/*
 * kv.h - the key-value layer behind the public API: the db handle, immutable versions (a
 * catalog root and its decoded table list) that snapshots pin, and the internals shared by
 * db.c, batch.c and read.c.
 *
 * Concurrency: `cur` (the current version) is swapped under vmu; readers take a reference and
 * read without locks, since everything a version names is immutable. Writers serialise on wmu.
 */
#ifndef CAIRN_KV_H
#define CAIRN_KV_H

#include <pthread.h>

#include "base/base.h"
#include "repo/repo.h"
#include "tree/tree.h"

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
    version *cur;
    pthread_mutex_t wmu;
    pthread_mutex_t livemu;  /* guards the list of live versions (gc keeps what they name) */
    version *live;
    pthread_mutex_t maintmu; /* one gc or verify at a time */
};

struct cairn_table {
    cairn_db *db;
    char *name;
    bool create_on_write;    /* CAIRN_TABLE_DEFER: a write creates the table if it is missing */
};

struct cairn_snapshot {
    cairn_db *db;
    version *v;
};

void version_release(version *v);
/** Reads the catalog of a root record into a new version (rec_id may be zero). */
int version_load(cairn_db *db, version **out, const cairn_id *rec_id, const rootrec *rec);
/** Makes nv the current version (taking the reference the caller holds). */
void db_set_current(cairn_db *db, version *nv);
/** Publishes rec as the new working state (compare-and-swap from base) and makes it current. */
int db_publish(cairn_db *db, const version *base, const rootrec *rec);
/** cairn_commit() with the writer mutex already held. */
int db_commit_locked(cairn_db *db, const cairn_commit_options *o, cairn_id *out);

/** The name of the table recording unresolved merge conflicts. */
#define CONFLICTS_TABLE "cairn_conflicts"
/** The catalog roots of every version alive in this process (the current one, and those open
 *  snapshots and cursors pin): garbage collection keeps what they name. Caller frees *out. */
int db_live_catalogs(cairn_db *db, cairn_id **out, size_t *out_n);

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

/** Applies catalog changes on top of base (which must be current; caller holds wmu), publishes
 *  the new state durably and makes it current. */
int db_commit(cairn_db *db, version *base, table_change *changes, size_t n);

/** The root of table `name` in base, or the empty tree when it is missing and may be created
 *  by this write (*created = true); CAIRN_ENOTFOUND otherwise. */
int kv_table_root_for_write(cairn_db *db, const version *base, const char *name, bool may_create,
                            cairn_id *out_root, bool *created);

/** Checks key and value sizes against the limits; CAIRN_EINVAL naming the table. */
int kv_check_sizes(const cairn_table *t, size_t klen, const size_t *vlen);

#endif /* CAIRN_KV_H */
