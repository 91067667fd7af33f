/*
 * db.c - opening and closing a repository handle, snapshots, table handles, publishing catalog
 * changes (what every write that reaches the trees ends in; not a version-control commit,
 * which is vc/commit.c's), and statistics. Versions themselves are version.c's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db/db.h"
#include "db/settings.h"
#include "repo/commit.h"
#include "repo/pins.h"
#include "repo/refs.h"
#include "store/store.h"
#include "tree/tree.h"

/* ---- open and close ---- */

/* A reader's open goes again this many times when the writer moved on under it. */
#define READER_LOAD_TRIES 8
#define READER_LOG_TRIES 3
#define READER_PIN_TRIES 64

/* Whether a reader's failed load (rc) of the working state `read` can be a race with the writer
 * rather than damage. Only something gone (CAIRN_ENOTFOUND: a chunk a gc took, a log segment a
 * checkpoint retired) or a log that no longer lines up with the state read (CAIRN_ECORRUPT:
 * "records are missing") can be; and only when the writer has since moved on: the working ref
 * names another state now (a checkpoint or gc that takes what a state needs moves the ref
 * first), or (epoch not NULL) a gc started after *epoch was read. Anything else is the
 * repository's own error, and stays set as it was, for the caller to return. */
static bool reader_raced(cairn_db *db, int rc, const cairn_id *read, const uint64_t *epoch)
{
    if (rc != CAIRN_ENOTFOUND && rc != CAIRN_ECORRUPT) return false;
    cairn_error_saved was;
    cairn_error_save(&was);
    bool moved = false;
    cairn_id now = { { 0 } };
    char *wref = repo_working_ref(&db->r);
    int rr = wref ? refs_read_id(&db->r, wref, &now) : CAIRN_ENOMEM;
    free(wref);
    if (rr == CAIRN_OK || rr == CAIRN_ENOTFOUND) /* no ref: a fresh state, all zero */
        moved = memcmp(now.bytes, read->bytes, CAIRN_ID_SIZE) != 0;
    uint64_t e;
    if (!moved && epoch && pins_epoch(db->r.store, &e) == CAIRN_OK) moved = e != *epoch;
    if (!moved) cairn_error_restore(&was); /* the reads above may have replaced it */
    return moved;
}

/* A reader registers its pins (in the store's file namespace), then reads the working ref
 * between two reads of the gc epoch (pins.h), loading and pinning the state it names if that is not the one it has.
 * When the epoch did not change, no gc started in between: a gc that started earlier holds the
 * writer mutex, so the ref cannot move while it runs and the state read was the one it marked
 * from (or one made after it); a gc that starts later reads the pin. Otherwise it goes again. The
 * ref may move any number of times meanwhile (a writer committing fast does not stop a reader
 * from opening); only gcs starting back to back can. A failure that is not such a race (see
 * reader_raced) is returned as it is. */
static int db_pin_reader(cairn_db *db)
{
    cairn_store *st = db->r.store;
    int rc = pins_register(&db->pins, st);
    if (rc < 0) {
        /* no permission, a read-only file system or a store without pins is a normal way to
         * read: say it quietly */
        bool expected = rc == CAIRN_EPERM || rc == CAIRN_EREADONLY || rc == CAIRN_EUNSUPPORTED;
        /* a full disk: said once a process, quietly (reads are not at risk of wrong data) */
        static atomic_bool said_full;
        if (rc == CAIRN_ENOSPC) {
            bool first = !atomic_exchange(&said_full, true);
            cairn_diag(first ? CAIRN_LOG_INFO : CAIRN_LOG_DEBUG, "%s: the disk is full, so this "
                       "reader has no pin file: a gc running meanwhile may remove what it reads "
                       "(a read then fails with not found, never returns wrong data)",
                       db->r.url);
            cairn_error_clear();
            return CAIRN_OK;
        }
        cairn_diag(expected ? CAIRN_LOG_INFO : CAIRN_LOG_WARN,
                   "%s; this reader's versions are not pinned: a gc in the writer may remove what "
                   "it reads (reads then fail with not found, never return wrong data)",
                   cairn_error_last()->message);
        cairn_error_clear();
        return CAIRN_OK;
    }
    db_pins_publish(db);
    /* a lost working state (repo_working_lost): the fallback shown does not follow the ref */
    if (db->r.working_missing) return CAIRN_OK;
    bool settled = true; /* the log was replayed over the current version */
    for (int tries = 0; tries < READER_PIN_TRIES; tries++) {
        uint64_t e1, e2;
        cairn_id rec_id = db->cur->rec_id;
        rootrec rec;
        rc = pins_epoch(st, &e1);
        if (rc == CAIRN_ECORRUPT) { /* not needed to read: pinned, but a gc race goes unseen */
            cairn_diag(CAIRN_LOG_WARN, "%s; this reader is pinned but cannot tell whether a gc "
                       "started while it opened (reads then fail with not found, never return "
                       "wrong data)", cairn_error_last()->message);
            cairn_error_clear();
            return CAIRN_OK;
        }
        if (rc < 0) return rc;
        rc = repo_load_working(&db->r, &rec_id, &rec);
        if (rc == CAIRN_OK &&
            (!settled || memcmp(rec_id.bytes, db->cur->rec_id.bytes, CAIRN_ID_SIZE) != 0)) {
            rc = working_switch(db); /* loads and pins the state the ref names now */
            settled = rc == CAIRN_OK;
        }
        if (rc == CAIRN_OK) {
            TRY(pins_epoch(st, &e2));
            if (e1 == e2) return CAIRN_OK;
            /* a gc started meanwhile: it may have marked before the pin named this state */
        } else if (!reader_raced(db, rc, &rec_id, &e1)) {
            return rc;
        }
        cairn_error_clear();
        if (tries >= 4) nanosleep(&(struct timespec){ 0, 1000000L * (tries - 3) }, NULL);
    }
    return ERR(CAIRN_EBUSY, "garbage collections kept starting while this reader of %s opened; "
               "open it again", db->r.url);
}

static void locks_destroy(cairn_db *db)
{
    pthread_mutex_destroy(&db->vmu);
    pthread_mutex_destroy(&db->wmu);
    pthread_mutex_destroy(&db->livemu);
    pthread_mutex_destroy(&db->maintmu);
    pthread_mutex_destroy(&db->pinmu);
    pthread_rwlock_destroy(&db->gate);
}

static void db_free(cairn_db *db)
{
    pins *p = db->pins;
    db->pins = NULL; /* no more publishing while the versions go */
    version_release(db->cur);
    mem_release(db->mem);
    mem_release(db->imm);
    pins_close(p); /* its file is the store's: before the store closes */
    repo_close(&db->r);
    locks_destroy(db);
    free(db->catalog_lost);
    free(db);
}

int db_open(cairn_db **out, const char *url, cairn_store *store, const cairn_open_options *opts)
{
    cairn_db *db = cairn_calloc(1, sizeof *db);
    if (!db) {
        if (store) store->close(store);
        return ERR(CAIRN_ENOMEM, "out of memory opening %s", url ? url : "a repository");
    }
    pthread_mutex_init(&db->vmu, NULL);
    pthread_mutex_init(&db->wmu, NULL);
    pthread_mutex_init(&db->livemu, NULL);
    pthread_mutex_init(&db->maintmu, NULL);
    pthread_mutex_init(&db->pinmu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* exclusive operations (commit, checkout...) must not starve behind a stream of writers */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->gate, &ra);
    pthread_rwlockattr_destroy(&ra);
    cairn_id rec_id;
    rootrec rec;
    int rc = repo_open(&db->r, url, store, opts, &rec_id, &rec);
    if (rc < 0) {
        locks_destroy(db);
        free(db);
        return rc;
    }
    settings_disk_cache(db); /* before the trees are read */
    if (db->r.readonly) cairn_test_point(CAIRN_TP_READER_REF_READ);
    rc = version_load(db, &db->cur, &rec_id, &rec);
    /* A reader may read the working ref just before the writer replaces that state and a gc
     * takes its catalog (the reader pins only once it has a version): read the ref again. */
    for (int tries = 0; rc < 0 && db->r.readonly && tries < READER_LOAD_TRIES &&
                        reader_raced(db, rc, &rec_id, NULL);
         tries++) {
        cairn_error_clear();
        rc = repo_load_working(&db->r, &rec_id, &rec);
        if (rc == CAIRN_OK) rc = version_load(db, &db->cur, &rec_id, &rec);
    }
    if ((rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) && !db->r.working_missing) {
        /* the working state's catalog (or what it names) cannot be read, and not for a race:
         * open read-only at the branch head, which the log may prove newer (working.c) */
        char hex[CAIRN_ID_HEX_SIZE], why[1024];
        cairn_id_to_hex(hex, &rec_id);
        snprintf(why, sizeof why, "%s", cairn_error_last()->message);
        cairn_diag(CAIRN_LOG_WARN, "%s: the working state %s of branch '%s' cannot be read (%s): "
                   "opening read-only at the newest state that can be proven; run cairn verify",
                   db->r.url, hex, db->r.branch, why);
        int lost = rc;
        cairn_error_clear();
        repo_working_lost(&db->r, &rec_id);
        rc = repo_head_working(&db->r, &rec);
        memset(&rec_id, 0, sizeof rec_id);
        if (rc == CAIRN_OK) rc = version_load(db, &db->cur, &rec_id, &rec);
        else if (rc != CAIRN_ENOTFOUND && rc != CAIRN_ECORRUPT)
            /* no fallback (a reader cannot store the empty state of a branch with no commit):
             * the damage is the error, not the fallback's */
            rc = cairn_error_set(lost, "%s", why);
        if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) {
            /* the head's catalog too (the same one, when nothing was written since the last
             * commit): no tables, but the handle opens, so verify, log and --at reads run */
            int code = rc;
            snprintf(why, sizeof why, "%s", cairn_error_last()->message);
            memset(&rec, 0, sizeof rec);
            rc = tree_empty(&db->r.cs, &rec.catalog); /* a reader's store may refuse the node */
            if (rc == CAIRN_OK) rc = version_load(db, &db->cur, &rec_id, &rec);
            if (rc == CAIRN_OK) db->catalog_lost = cairn_strdup(why);
            if (rc == CAIRN_OK)
                cairn_diag(CAIRN_LOG_WARN, "%s: the head commit's catalog cannot be read either "
                           "(%s): branch '%s' shows no tables; other branches, tags, history "
                           "and verify work", db->r.url, why, db->r.branch);
            else
                rc = cairn_error_set(code, "%s", why); /* the damage, not the fallback's error */
        }
    }
    if (rc == CAIRN_OK) rc = working_open(db, opts);
    if (rc == CAIRN_OK && !db->r.readonly && pins_supported(db->r.store))
        pins_epoch_prepare(db->r.store); /* gc's first write then needs no new space */
    /* A reader may race a writer's checkpoint (which retires log segments after moving the
     * working root): read the working root again and retry. */
    for (int tries = 0; rc < 0 && db->r.readonly && db->cur && tries < READER_LOG_TRIES &&
                        reader_raced(db, rc, &db->cur->rec_id, NULL);
         tries++) {
        cairn_error_clear();
        rc = working_switch(db);
    }
    if (rc == CAIRN_OK && db->r.readonly) rc = db_pin_reader(db);
    if (rc < 0) {
        db_discard(db);
        return rc;
    }
    *out = db;
    return CAIRN_OK;
}

void db_discard(cairn_db *db)
{
    cairn_error_saved was;
    cairn_error_save(&was);
    working_close(db);
    db_free(db);
    cairn_error_restore(&was); /* the error that made the caller give up, not close's */
}

int cairn_close(cairn_db *db)
{
    if (!db) return CAIRN_OK;
    unsigned ns = atomic_load_explicit(&db->open_snapshots, memory_order_acquire);
    unsigned nc = atomic_load_explicit(&db->open_cursors, memory_order_acquire);
    /* freeing under them would leave them reading freed memory: refuse, and stay usable */
    FAIL_IF(ns || nc, CAIRN_EBUSY,
            "cannot close %s: %u snapshot(s) and %u cursor(s) of it are still open; close them "
            "(cairn_snapshot_close, cairn_cursor_close), then close the repository again; the "
            "handle is still open and usable", db->r.url, ns, nc);
    DB_NOT_IN_CALLBACK(db, "cairn_close");
    bool logged = db->w.wo.store != NULL; /* working_close clears what says so */
    int rc = working_close(db);
    if (!db->r.readonly) {
        int frc = cs_flush(&db->r.cs);
        /* every acknowledged state flushed its chunks before it was published: what fails to
         * flush here belongs to a checkpoint that failed, whose writes the log keeps */
        if (frc < 0 && logged && rc == CAIRN_OK) {
            cairn_diag(CAIRN_LOG_WARN, "%s: flushing on close failed (%s); nothing acknowledged "
                       "depends on those chunks, and the log keeps every write", db->r.url,
                       cairn_error_last()->message);
            cairn_error_clear();
            frc = CAIRN_OK;
        }
        if (rc == CAIRN_OK) rc = frc;
    }
    db_free(db);
    return rc;
}

int cairn_checkpoint(cairn_db *db)
{
    DB_NOT_IN_CALLBACK(db, "cairn_checkpoint");
    pthread_mutex_lock(&db->wmu);
    int rc = db_checkpoint_locked(db);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

/* ---- snapshots ---- */

cairn_snapshot *snapshot_new(cairn_db *db, const rview *rv)
{
    cairn_snapshot *s = cairn_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->db = db;
    s->rv = *rv;
    s->v = rv->v;
    pthread_mutex_init(&s->mu, NULL);
    atomic_fetch_add_explicit(&db->open_snapshots, 1, memory_order_relaxed);
    return s;
}

int cairn_snapshot_open(cairn_snapshot **out, cairn_db *db)
{
    rview rv;
    db_view(db, &rv);
    cairn_snapshot *s = snapshot_new(db, &rv);
    if (!s) {
        rview_release(&rv);
        return ERR(CAIRN_ENOMEM, "out of memory opening a snapshot");
    }
    *out = s;
    return CAIRN_OK;
}

void cairn_snapshot_close(cairn_snapshot *snap)
{
    if (!snap) return;
    atomic_fetch_sub_explicit(&snap->db->open_snapshots, 1, memory_order_relaxed);
    rview_release(&snap->rv);
    version_release(snap->mat);
    pthread_mutex_destroy(&snap->mu);
    free(snap);
}

int cairn_snapshot_root(cairn_id *out, const cairn_snapshot *snap)
{
    FAIL_IF(!out || !snap, CAIRN_EINVAL, "cairn_snapshot_root: out and snap must not be NULL");
    version *v;
    /* never the root of the trees without the log's writes: a hash of data snap does not see */
    TRY_CTX(snapshot_version((cairn_snapshot *)snap, &v), "the root of a snapshot of %s",
            snap->db->r.url);
    *out = v->rec.catalog;
    version_release(v);
    return CAIRN_OK;
}

static int count_table(const char *name, void *payload)
{
    if (table_name_internal(name)) return CAIRN_OK; /* counted as the user sees them */
    (*(uint64_t *)payload)++;
    return CAIRN_OK;
}

/* ---- applying catalog changes ---- */

int db_publish(cairn_db *db, const version *base, const rootrec *rec)
{
    cairn_id rec_id;
    version *nv = NULL;
    TRY(repo_publish(&db->r, &rec_id, id_is_zero(&base->rec_id) ? NULL : &base->rec_id, rec));
    /* Published: a failure from here on must not read as "nothing was written" */
    int rc = version_load(db, &nv, &rec_id, rec);
    if (rc < 0) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &rec_id);
        return cairn_error_prefix(rc, "the change WAS saved (working state %.12s of branch "
                                  "'%s'), but this handle could not load it afterwards (close "
                                  "and reopen the repository to go on)",
                                  hex, db->r.branch);
    }
    db_set_current(db, nv);
    return CAIRN_OK;
}


int db_apply_changes(cairn_db *db, version *base, table_change *changes, size_t n)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    rootrec rec;
    TRY(db_catalog_apply(db, base, changes, n, &rec));
    return db_publish(db, base, &rec);
}

/* ---- tables ---- */

/* Creates table name now: a log record that only creates it. */
static int create_table(cairn_db *db, const char *name)
{
    walrec_table t = { name, WALREC_CREATE };
    cairn_buf payload = CAIRN_BUF_INIT;
    int rc = walrec_batch_encode(&payload, &t, 1, NULL, 0);
    if (rc == CAIRN_OK) rc = working_write(db, &payload, &t, 1, !db->w.relaxed);
    cairn_buf_dispose(&payload);
    return rc;
}

int cairn_table_open(cairn_table **out, cairn_db *db, const char *name, unsigned flags)
{
    FAIL_IF(!out || !db, CAIRN_EINVAL, "cairn_table_open: out and db are required");
    TRY(table_name_check(name));
    FAIL_IF(flags & ~(CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER | CAIRN_TABLE_NAMEONLY |
                      CAIRN_TABLE_INTERNAL),
            CAIRN_EINVAL, "unknown table flags 0x%x", flags);
    FAIL_IF(table_name_internal(name) && !(flags & CAIRN_TABLE_INTERNAL), CAIRN_EINVAL,
            "table name '%s' is reserved: names that begin with '" CAIRN_TABLE_RESERVED_PREFIX
            "' are cairn's own (merge conflicts, documents); choose another name", name);
    FAIL_IF((flags & CAIRN_TABLE_NAMEONLY) && (flags & CAIRN_TABLE_CREATE), CAIRN_EINVAL,
            "CAIRN_TABLE_NAMEONLY does not go with CAIRN_TABLE_CREATE");
    FAIL_IF((flags & CAIRN_TABLE_DEFER) && !(flags & CAIRN_TABLE_CREATE), CAIRN_EINVAL,
            "CAIRN_TABLE_DEFER needs CAIRN_TABLE_CREATE");
    bool defer = (flags & CAIRN_TABLE_DEFER) != 0;
    rview rv;
    db_view(db, &rv);
    const vtable *vt;
    cairn_table probe = { db, (char *)name, 0, false };
    int lrc = (flags & CAIRN_TABLE_NAMEONLY) ? CAIRN_OK : rview_table(&rv, &probe, &vt);
    rview_release(&rv);
    /* Only a table the catalog does not name is absent: a catalog that cannot be read (damaged,
     * missing, out of memory) is that error, never "does not exist" (and never a new table). */
    if (lrc < 0 && lrc != CAIRN_ENOTFOUND)
        return cairn_error_prefix(lrc, "opening table '%s'", name);
    bool exists = lrc == CAIRN_OK;
    cairn_error_clear();
    if (!exists) {
        if (db->catalog_lost)
            return ERR(CAIRN_ECORRUPT, "table '%s' cannot be opened: the catalog of branch '%s' "
                       "in %s cannot be read (%s); run 'cairn verify' and restore the damaged "
                       "chunk from a replica or backup, or read an older version with --at",
                       name, db->r.branch, db->r.url, db->catalog_lost);
        if (!(flags & CAIRN_TABLE_CREATE))
            return ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
        FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
                "cannot create table '%s': %s was opened read-only", name, db->r.url);
    }
    if (!exists && !defer) {
        int rc = create_table(db, name);
        if (rc < 0) return cairn_error_prefix(rc, "creating table '%s'", name);
    }
    cairn_table *t = cairn_malloc(sizeof *t);
    char *nm = cairn_strdup(name);
    uint32_t id = 0;
    int rc = t && nm ? db_table_id(db, name, &id) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc < 0) {
        free(t);
        free(nm);
        return cairn_error_prefix(rc, "opening table '%s'", name);
    }
    t->db = db;
    t->name = nm;
    t->id = id;
    t->create_on_write = defer;
    *out = t;
    return CAIRN_OK;
}

void cairn_table_close(cairn_table *t)
{
    if (!t) return;
    free(t->name);
    free(t);
}

const char *cairn_table_name(const cairn_table *t) { return t->name; }

int cairn_table_drop(cairn_db *db, const char *name)
{
    TRY(table_name_check(name));
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "cannot drop table '%s': %s was opened read-only",
            name, db->r.url);
    TRY(db_exclusive_begin(db));
    version *base = db_current(db);
    int rc;
    if (!version_find(base, name)) {
        rc = ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s", name, db->r.url);
    } else {
        table_change ch = { name, true, { { 0 } } };
        rc = db_apply_changes(db, base, &ch, 1);
    }
    version_release(base);
    db_exclusive_end(db);
    return rc;
}

int cairn_table_internal(const char *name) { return name && table_name_internal(name); }

typedef struct user_tables {
    int (*cb)(const char *name, void *payload);
    void *payload;
} user_tables;

static int user_table(const char *name, void *payload)
{
    user_tables *u = payload;
    return table_name_internal(name) ? 0 : u->cb(name, u->payload);
}

int db_table_list_all(cairn_db *db, const cairn_snapshot *snap,
                      int (*cb)(const char *name, void *payload), void *payload)
{
    rview rv;
    if (snap) {
        rv = snap->rv;
    } else {
        db_view(db, &rv);
    }
    int rc = rview_list_tables(&rv, cb, payload);
    if (!snap) rview_release(&rv);
    return rc;
}

int cairn_table_list(cairn_db *db, const cairn_snapshot *snap,
                     int (*cb)(const char *name, void *payload), void *payload)
{
    user_tables u = { cb, payload };
    return db_table_list_all(db, snap, user_table, &u);
}

/* The version to read trees from: the snapshot's, or the current state, as trees. */
static int tree_version(cairn_db *db, const cairn_snapshot *snap, version **out)
{
    if (snap) return snapshot_version((cairn_snapshot *)snap, out);
    rview rv;
    db_view(db, &rv);
    int rc = rview_materialize(db, &rv, out);
    rview_release(&rv);
    return rc;
}

int db_working_version(cairn_db *db, version **out) { return tree_version(db, NULL, out); }

int cairn_table_root(cairn_id *out, cairn_table *t, const cairn_snapshot *snap)
{
    version *v;
    TRY(tree_version(t->db, snap, &v));
    const vtable *vt = NULL;
    int rc = version_table(&vt, v, t);
    if (rc == CAIRN_OK) *out = vt->d.root;
    version_release(v);
    return rc;
}

int cairn_table_stats_get(cairn_table_stats *out, cairn_table *t, const cairn_snapshot *snap)
{
    cairn_id root;
    cairn_table_stats st; /* a walk that fails half-way leaves *out as it was */
    TRY(cairn_table_root(&root, t, snap));
    TRY(tree_stats(&t->db->r.cs, &root, &st));
    *out = st;
    return CAIRN_OK;
}

int cairn_db_stats_get(cairn_db_stats *out, cairn_db *db)
{
    DB_NOT_IN_CALLBACK(db, "cairn_db_stats_get");
    cairn_db_stats st;
    memset(&st, 0, sizeof st);
    cairn_store_stats ss;
    memset(&ss, 0, sizeof ss);
    if (db->r.store->stat) TRY(db->r.store->stat(db->r.store, &ss));
    st.chunks = ss.chunks;
    st.stored_bytes = ss.bytes;
    st.packs = ss.files;
    st.store_requests = ss.requests;
    st.store_bytes_sent = ss.bytes_sent;
    st.store_bytes_received = ss.bytes_received;
    st.disk_cache_hits = ss.cache_hits;
    st.disk_cache_misses = ss.cache_misses;
    st.disk_cache_damaged = ss.cache_damaged;
    st.disk_cache_bytes = ss.cache_bytes;
    st.disk_cache_bound = ss.cache_bound;
    st.disk_cache_dir = ss.cache_dir;
    rview rv;
    db_view(db, &rv);
    uint64_t tables = 0;
    rview_list_tables(&rv, count_table, &tables);
    st.tables = tables;
    st.tree_seq = rv.v->rec.wal_seq;
    if (rv.mem) {
        st.memtable_bytes += atomic_load(&rv.mem->bytes);
        st.memtable_entries += atomic_load(&rv.mem->count);
    }
    if (rv.imm) {
        st.memtable_bytes += atomic_load(&rv.imm->bytes);
        st.memtable_entries += atomic_load(&rv.imm->count);
    }
    rview_release(&rv);
    cache_stats(db->r.cs.cache, &st.cache_bytes, &st.cache_hits, &st.cache_misses);
    st.chunks_read = atomic_load(&db->r.cs.chunks_read);
    st.chunks_written = atomic_load(&db->r.cs.chunks_written);
    if (db->w.log) {
        wal_stats ws;
        wal_stats_get(db->w.log, &ws);
        st.wal_bytes = ws.bytes;
        st.wal_segments = ws.segments;
        st.oplog_segments = ws.oplog_segments;
        st.wal_last_seq = ws.last_seq;
        st.wal_synced_seq = ws.synced_seq;
    }
    /* With no write waiting in memory, the trees hold every record of the log: those after the
     * working state's wal_seq carry no writes (the record a checkpoint logs after it publishes,
     * and bulk loads, which wrote the trees themselves; a table's creation is a memtable entry
     * too). */
    if (st.memtable_entries == 0 && st.wal_last_seq > st.tree_seq)
        st.tree_seq = st.wal_last_seq;
    pthread_mutex_lock(&db->wmu);
    st.checkpoints = db->w.checkpoints;
    st.last_checkpoint_ns = db->w.last_ckpt_time;
    pthread_mutex_unlock(&db->wmu);
    st.wal_location = !db->w.files ? CAIRN_WAL_NONE
                      : db->w.own_files ? CAIRN_WAL_DIR : CAIRN_WAL_STORE;
    st.recovery_ns = db->w.recovery_ns;
    st.recovered_records = db->w.recovered;
    *out = st;
    return CAIRN_OK;
}

int kv_table_root_for_write(cairn_db *db, const version *base, const char *name, bool may_create,
                            cairn_id *out_root, bool *created)
{
    const vtable *vt = version_find(base, name);
    *created = false;
    if (vt) {
        *out_root = vt->d.root;
        return CAIRN_OK;
    }
    FAIL_IF(!may_create, CAIRN_ENOTFOUND,
            "table '%s' does not exist in %s (dropped?); nothing was written", name, db->r.url);
    *created = true;
    return tree_empty(&db->r.cs, out_root);
}
