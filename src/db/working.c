/*
 * working.c - the write-ahead log, memtables and checkpoints of the checked-out branch (see
 * working.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/hash.h"
#include "db/db.h"
#include "db/settings.h"
#include "repo/commit.h"
#include "repo/refs.h"
#include "repo/gc.h"
#include "repo/pins.h"
#include "store/store.h"

static int checkpoint_note(cairn_db *db, const walrec_checkpoint *c);

#define DEFAULT_MEM_LIMIT (64u << 20)
#define DEFAULT_RETAIN 16
#define DEFAULT_RETAIN_VOLATILE 2 /* a store that keeps nothing durable (mem:): segments are memory */
#define STALL_FACTOR 4       /* writers wait when the memtable is this many times its limit */

/* ---- applying records ----
 * A batch record becomes memtable entries in two steps: prepare (decode, name tables, allocate
 * and fill the entries: everything that can fail) before the record is logged, and apply (link
 * them in) once it is durable, which cannot fail. So a write whose caller sees an error is
 * never in the log, and one that is logged is always applied. */

typedef struct prep {
    cairn_db *db;
    mem_batch mb;
    struct group_waiter *gw; /* with sync_checkpoint: the writer waiting for its checkpoint */
    bool sizing;             /* first pass */
    uint32_t *ids;           /* the record's table index -> memtable id */
    uint32_t small[16];
} prep;

static int prep_table(void *ctx, uint32_t index, const walrec_table *t)
{
    prep *p = ctx;
    size_t nlen = strlen(t->name);
    if (p->sizing) {
        if (index >= 16 && p->ids == p->small) {
            uint32_t *big = cairn_malloc(((size_t)UINT16_MAX + 1) * sizeof *big);
            FAIL_IF(!big, CAIRN_ENOMEM, "out of memory preparing a write");
            memcpy(big, p->small, sizeof p->small);
            p->ids = big;
        }
        TRY(db_table_id(p->db, t->name, &p->ids[index]));
        if (t->flags & WALREC_CREATE) mem_batch_count(&p->mb, nlen, 0);
    } else if (t->flags & WALREC_CREATE) {
        mem_batch_put(&p->mb, 0, MEM_PUT, t->name, nlen, NULL, 0);
    }
    return CAIRN_OK;
}

static int prep_op(void *ctx, const walrec_op *o)
{
    prep *p = ctx;
    if (p->sizing) mem_batch_count(&p->mb, o->klen, o->vlen);
    else mem_batch_put(&p->mb, p->ids[o->table], o->type == WALREC_PUT ? MEM_PUT : MEM_DEL,
                       o->key, o->klen, o->val, o->vlen);
    return CAIRN_OK;
}

static void prep_dispose(prep *p)
{
    mem_batch_dispose(&p->mb);
    if (p->ids != p->small) free(p->ids);
}

static void prep_init(cairn_db *db, prep *p)
{
    memset(p, 0, sizeof *p);
    p->db = db;
    p->ids = p->small;
    static _Atomic uint64_t seeds = 0x9e3779b97f4a7c15ull;
    uint64_t seed = atomic_fetch_add_explicit(&seeds, 0x9e3779b97f4a7c15ull, memory_order_relaxed);
    seed ^= seed >> 31; /* successive seeds must not give the same heights */
    seed *= 0xbf58476d1ce4e5b9ull;
    mem_batch_init(&p->mb, seed ^ (seed >> 27));
}

/* Prepares the memtable entries of a batch from its operations as the encoder took them
 * (working_write_ops): what decoding its record would report, without the decoding. */
static int prepare_ops(cairn_db *db, prep *p, const walrec_table *tables, size_t ntables,
                       const walrec_op *ops, size_t nops)
{
    prep_init(db, p);
    int rc = CAIRN_OK;
    for (int pass = 0; pass < 2 && rc == CAIRN_OK; pass++) {
        p->sizing = pass == 0;
        for (size_t i = 0; i < ntables && rc == CAIRN_OK; i++)
            rc = prep_table(p, (uint32_t)i, &tables[i]);
        for (size_t i = 0; i < nops && rc == CAIRN_OK; i++) {
            if (!p->sizing) walrec_op_ahead(ops, i, nops);
            rc = prep_op(p, &ops[i]);
        }
        if (rc == CAIRN_OK && p->sizing) rc = mem_batch_alloc(&p->mb);
    }
    p->sizing = false;
    if (rc < 0) prep_dispose(p);
    return rc;
}

/* Prepares the memtable entries of a record (nothing for records that only inform). */
static int prepare(cairn_db *db, prep *p, uint8_t type, const uint8_t *payload, size_t len)
{
    prep_init(db, p);
    if (type == WAL_CHECKPOINT) {
        walrec_checkpoint c;
        return walrec_checkpoint_decode(&c, payload, len);
    }
    if (type == WAL_BULK) {
        walrec_bulk b;
        return walrec_bulk_decode(&b, payload, len);
    }
    if (type != WAL_BATCH) return CORRUPT("write-ahead log record of unknown type %u", type);
    walrec_visitor v = { prep_table, prep_op, p };
    p->sizing = true;
    int rc = walrec_batch_decode(payload, len, &v);
    if (rc == CAIRN_OK) rc = mem_batch_alloc(&p->mb);
    p->sizing = false;
    if (rc == CAIRN_OK) rc = walrec_batch_decode(payload, len, &v);
    if (rc < 0) prep_dispose(p);
    return rc;
}

/* An append's hooks: its entries go into the live memtable as soon as the record is written,
 * invisible until the group is published (readers see sequence numbers up to `visible`); if
 * the write or its sync fails they are marked dead. */
static void waiter_logged_at(struct group_waiter *g, uint64_t seq);

static int on_apply(const wal_record *rec, void *ctx)
{
    prep *p = ctx;
    mem_batch_apply(p->db->mem, &p->mb, rec->seq);
    if (p->gw) waiter_logged_at(p->gw, rec->seq); /* before any swap can freeze the entries */
    return CAIRN_OK;
}

static void on_abort(const wal_record *rec, void *ctx)
{
    (void)rec;
    prep *p = ctx;
    mem_batch_abort(&p->mb);
    if (p->gw) waiter_logged_at(p->gw, 0); /* its number goes to the next group */
}

static const wal_hooks hooks = { on_apply, on_abort };

static void on_publish(uint64_t through, void *ctx)
{
    cairn_db *db = ctx;
    atomic_store_explicit(&db->w.applied, through, memory_order_release);
    if (!db->w.sync_checkpoint) /* else shown by the checkpoint that publishes them */
        atomic_store_explicit(&db->w.visible, through, memory_order_release);
}

typedef struct replay_ctx {
    cairn_db *db;
    uint64_t n;
} replay_ctx;

static int on_replay(const wal_record *rec, void *ctx)
{
    replay_ctx *r = ctx;
    prep p;
    int rc = prepare(r->db, &p, rec->type, rec->payload, rec->len);
    if (rc < 0) return cairn_error_prefix(rc, "replaying write-ahead log record %" PRIu64, rec->seq);
    r->n += rec->type == WAL_BATCH; /* checkpoint and bulk records carry no writes to replay */
    mem_batch_apply(r->db->mem, &p.mb, rec->seq);
    atomic_store_explicit(&r->db->w.applied, rec->seq, memory_order_release);
    atomic_store_explicit(&r->db->w.visible, rec->seq, memory_order_release);
    prep_dispose(&p);
    return CAIRN_OK;
}

/* ---- log directories ---- */

/* BASE/<branch>, the branch name escaped: bytes other than [A-Za-z0-9._-] as %XX. */
static char *branch_log_dir(const char *base, const char *branch)
{
    size_t n = strlen(branch);
    char *esc = cairn_malloc(3 * n + 1), *p = esc;
    if (!esc) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)branch[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    char *out = *base ? cairn_sprintf("%s/%s", base, esc) : cairn_strdup(esc);
    free(esc);
    return out;
}

typedef struct dir_names {
    char **v;
    size_t n, cap;
} dir_names;

static int note_name(const char *name, uint64_t size, void *payload)
{
    dir_names *d = payload;
    TRY(cairn_array_room(&d->v, &d->cap, d->n, sizeof *d->v, 16));
    d->v[d->n] = cairn_strdup(name);
    FAIL_IF(!d->v[d->n], CAIRN_ENOMEM, "out of memory");
    d->n++;
    return CAIRN_OK;
}

static void names_free(dir_names *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->v[i]);
    free(d->v);
    memset(d, 0, sizeof *d);
}

static int first_entry(const char *name, uint64_t size, void *payload) { return 1; }

/* Removes the log files of dir (and its oplog) and the directories themselves. */
static int remove_log_dir(cairn_store *st, const char *dir)
{
    char *subs[2] = { cairn_sprintf("%s/oplog", dir), cairn_strdup(dir) };
    int rc = subs[0] && subs[1] ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t s = 0; rc == CAIRN_OK && s < 2; s++) {
        dir_names d = { NULL, 0, 0 };
        rc = st->file_list(st, subs[s], note_name, &d);
        for (size_t i = 0; rc == CAIRN_OK && i < d.n; i++) {
            size_t n = strlen(d.v[i]);
            if (n <= 4 || strcmp(d.v[i] + n - 4, ".wal") != 0) continue;
            char *f = cairn_sprintf("%s/%s", subs[s], d.v[i]);
            rc = f ? st->file_remove(st, f) : ERR(CAIRN_ENOMEM, "out of memory");
            if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK, cairn_error_clear();
            free(f);
        }
        names_free(&d);
        char *slash = rc == CAIRN_OK ? cairn_sprintf("%s/", subs[s]) : NULL;
        if (rc == CAIRN_OK) rc = slash ? st->file_remove(st, slash) : ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK, cairn_error_clear();
        if (rc < 0) rc = cairn_error_prefix(rc, "removing write-ahead log directory %s", subs[s]);
        free(slash);
    }
    free(subs[0]);
    free(subs[1]);
    return rc;
}

/* Where logs without a working state are kept: BASE/%kept/<branch dir>.<unix time>[.N]/ (a
 * '%' followed by 'k' is no escape branch_log_dir() makes, so no branch's log is named so). */
#define KEPT_DIR "%kept"

typedef struct moved {
    uint64_t files, first, last;
} moved;

/* Moves the segments of from (a directory) to to, noting their seqs. */
static int move_segments(cairn_store *st, const char *from, const char *to, moved *m)
{
    dir_names d = { NULL, 0, 0 };
    int rc = st->file_list(st, from, note_name, &d);
    for (size_t i = 0; rc == CAIRN_OK && i < d.n; i++) {
        size_t n = strlen(d.v[i]);
        if (n <= 4 || strcmp(d.v[i] + n - 4, ".wal") != 0) continue;
        char *src = cairn_sprintf("%s/%s", from, d.v[i]), *dst = cairn_sprintf("%s/%s", to, d.v[i]);
        rc = src && dst ? st->file_rename(st, src, dst, false) : ERR(CAIRN_ENOMEM, "out of memory");
        uint64_t seq = strtoull(d.v[i], NULL, 16);
        if (rc == CAIRN_OK) {
            m->first = m->files++ ? MIN(m->first, seq) : seq;
            m->last = MAX(m->last, seq);
        }
        free(src);
        free(dst);
    }
    names_free(&d);
    if (rc == CAIRN_OK && m->files) rc = st->file_sync_dir(st, to);
    if (rc == CAIRN_OK && m->files) rc = st->file_sync_dir(st, from);
    return rc;
}

/* A writer found a log but no working state for its branch (the ref working/<branch> is missing:
 * damage, or a branch deleted by a crash-interrupted 'branch -d' and made again). The log may
 * hold acknowledged writes that no tree holds: it is never removed, but moved aside where
 * verify lists it, and the branch starts a new log. */
static int keep_log_aside(cairn_db *db)
{
    working *w = &db->w;
    cairn_store *st = w->files;
    const char *leaf = strrchr(w->dir, '/') ? strrchr(w->dir, '/') + 1 : w->dir;
    char *kept = NULL;
    long long now = (long long)(clock_wall_ns() / 1000000000);
    for (unsigned n = 0; n < 100; n++) { /* a name nothing uses yet */
        free(kept);
        char sfx[16] = "";
        if (n) snprintf(sfx, sizeof sfx, ".%u", n);
        kept = cairn_sprintf("%s%s%s/%s.%lld%s", w->base_dir, *w->base_dir ? "/" : "", KEPT_DIR,
                             leaf, now, sfx);
        FAIL_IF(!kept, CAIRN_ENOMEM, "out of memory");
        int any = st->file_list(st, kept, first_entry, NULL);
        if (any < 0) {
            free(kept);
            return any;
        }
        if (!any) break;
    }
    char *from_op = cairn_sprintf("%s/oplog", w->dir), *to_op = cairn_sprintf("%s/oplog", kept);
    moved m = { 0, 0, 0 };
    int rc = from_op && to_op ? move_segments(st, from_op, to_op, &m) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK) rc = move_segments(st, w->dir, kept, &m);
    if (rc == CAIRN_OK && m.files)
        cairn_diag(CAIRN_LOG_WARN, "%s: branch '%s' has a write-ahead log (%" PRIu64 " segment%s "
                   "from record %" PRIu64 ") but no working state (ref working/%s is missing): "
                   "its writes since the last commit are not in the working state, which starts "
                   "again from the branch's head; the log was kept aside in %s of %s (cairn "
                   "verify lists it)", db->r.url, db->r.branch, m.files, m.files == 1 ? "" : "s",
                   m.first, db->r.branch, kept, st->location);
    else if (rc < 0)
        rc = cairn_error_prefix(rc, "keeping aside the write-ahead log %s (it has no working "
                                "state)", w->dir);
    free(from_op);
    free(to_op);
    free(kept);
    return rc;
}

/* ---- a working state whose record is missing ---- */

typedef struct find_ckpt {
    cairn_id want;
    bool found;
    walrec_checkpoint c;
} find_ckpt;

static int note_ckpt(const wal_record *rec, void *ctx)
{
    find_ckpt *f = ctx;
    walrec_checkpoint c;
    if (rec->type == WAL_CHECKPOINT && walrec_checkpoint_decode(&c, rec->payload, rec->len) == 0 &&
        memcmp(c.rootrec.bytes, f->want.bytes, CAIRN_ID_SIZE) == 0) {
        f->c = c;
        f->found = true;
    }
    cairn_error_clear();
    return CAIRN_OK;
}

/* The working ref names a record the store lacks (repo_load_working opened read-only at the
 * branch head). The checkpoint record that published it, when the log still has it, proves
 * its catalog and how far the log was in it: that state, plus the log after it, is the newest
 * that can be proven. Without it, the head commit is, and the log cannot be placed. Returns
 * whether the log can be replayed (over db->cur). */
static bool recover_missing_working(cairn_db *db)
{
    working *w = &db->w;
    find_ckpt f;
    memset(&f, 0, sizeof f);
    f.want = db->r.missing_rec;
    wal_log_problems lp;
    int rc = wal_read_log(w->files, w->dir, 0, 0, 0, 0, note_ckpt, &f, &lp);
    rootrec rec;
    version *nv = NULL;
    if (rc == CAIRN_OK && f.found) {
        memset(&rec, 0, sizeof rec);
        rec.catalog = f.c.catalog_after;
        rec.base_commit = db->cur->rec.base_commit;
        rec.wal_seq = f.c.through;
        cairn_id zero = { { 0 } };
        rc = version_load(db, &nv, &zero, &rec);
    }
    if (rc == CAIRN_OK && nv) {
        db_set_current(db, nv);
        cairn_diag(CAIRN_LOG_WARN, "%s: the missing working state of branch '%s' was rebuilt "
                   "from its checkpoint record in the write-ahead log (through record %" PRIu64
                   "), with the log after it: read-only; writes need the working ref repaired",
                   db->r.url, db->r.branch, f.c.through);
        return true;
    }
    cairn_diag(CAIRN_LOG_WARN, "%s: the write-ahead log of branch '%s' does not prove its missing "
               "working state (%s): showing the branch's head commit, read-only; writes since "
               "it are not shown", db->r.url, db->r.branch,
               rc < 0 ? cairn_error_last()->message : "no checkpoint record names it");
    cairn_error_clear();
    return false;
}

/* Opens the log of the current branch and replays it into a new db->mem. */
static int log_open(cairn_db *db)
{
    working *w = &db->w;
    free(w->dir);
    w->dir = NULL;
    if (w->base_dir) {
        w->dir = branch_log_dir(w->base_dir, db->r.branch);
        FAIL_IF(!w->dir, CAIRN_ENOMEM, "out of memory");
        if (db->r.working_missing && !recover_missing_working(db)) {
            free(w->dir);
            w->dir = NULL;
        } else if (db->r.working_missing) {
            /* replayed read-only over the rebuilt state, below */
        } else if (db->r.working_fresh && db->r.readonly) {
            /* a log without its working ref belongs to no working state (the next writer
             * keeps it aside, below): read nothing from it, but say so */
            if (w->files->file_list(w->files, w->dir, first_entry, NULL) > 0)
                cairn_diag(CAIRN_LOG_WARN, "%s: branch '%s' has a write-ahead log %s but no "
                           "working state (ref working/%s is missing): its writes are not shown; "
                           "run cairn verify", db->r.url, db->r.branch, w->dir, db->r.branch);
            cairn_error_clear();
            free(w->dir);
            w->dir = NULL;
        } else if (db->r.working_fresh) {
            int any = w->files->file_list(w->files, w->dir, first_entry, NULL);
            if (any < 0) return cairn_error_prefix(any, "opening the write-ahead log %s", w->dir);
            if (any) TRY(keep_log_aside(db));
        }
    }
    memtable *m;
    TRY(mem_new(&m));
    pthread_mutex_lock(&db->vmu);
    memtable *old = db->mem;
    db->mem = m;
    pthread_mutex_unlock(&db->vmu);
    mem_release(old);
    uint64_t from = db->cur->rec.wal_seq;
    atomic_store(&w->applied, from);
    atomic_store(&w->visible, from);
    w->wo.store = w->dir ? w->files : NULL;
    w->wo.dir = w->dir;
    w->wo.readonly = db->r.readonly;
    w->wo.publish = on_publish;
    w->wo.publish_ctx = db;
    replay_ctx rc_ = { db, 0 };
    double t0 = clock_now();
    uint64_t last;
    int rc = wal_open(&w->log, &w->wo, from, on_replay, &rc_, &last);
    w->recovery_ns = (uint64_t)((clock_now() - t0) * 1e9);
    w->recovered = rc_.n;
    if (rc < 0) {
        w->log = NULL;
        return cairn_error_prefix(rc, "opening the write-ahead log of branch '%s'", db->r.branch);
    }
    if (rc_.n)
        cairn_diag(CAIRN_LOG_INFO, "%s: replayed %" PRIu64 " write-ahead log records (through %"
                   PRIu64 ") in %.3f s", db->r.url, rc_.n, last, (double)w->recovery_ns / 1e9);
    if (wal_fresh(w->log) && from > 0 && !db->r.readonly) {
        /* a new log under trees that hold records (a clone): it starts with the checkpoint
         * record of those trees, as every log does after its trees' last checkpoint */
        walrec_checkpoint c = { from, db->cur->rec.catalog, db->cur->rec.catalog,
                                db->cur->rec_id };
        if (checkpoint_note(db, &c) < 0) cairn_error_clear(); /* tried again at close */
    }
    return CAIRN_OK;
}

/* ---- the checkpointer ---- */

static void *checkpointer_main(void *arg)
{
    cairn_db *db = arg;
    working *w = &db->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->pending) pthread_cond_wait(&w->kick, &w->mu);
        if (w->stop) break;
        w->pending = false;
        w->running = true;
        pthread_mutex_unlock(&w->mu);
        pthread_mutex_lock(&db->wmu);
        int rc = db_checkpoint_locked(db);
        pthread_mutex_unlock(&db->wmu);
        if (rc < 0)
            cairn_diag(CAIRN_LOG_ERROR, "%s: background checkpoint failed: %s (writes go on in "
                       "the log; the next checkpoint retries)", db->r.url,
                       cairn_error_last()->message);
        pthread_mutex_lock(&w->mu);
        w->running = false;
        w->bg_rc = rc;
        if (rc < 0) snprintf(w->bg_msg, sizeof w->bg_msg, "%s", cairn_error_last()->message);
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts the checkpointer if it is not running yet (w->mu held). */
static int thread_start_locked(cairn_db *db)
{
    working *w = &db->w;
    if (w->thread_on || w->stop) return CAIRN_OK;
    w->thread_on = pthread_create(&w->thread, NULL, checkpointer_main, db) == 0;
    FAIL_IF(!w->thread_on, CAIRN_EIO, "%s: could not start the checkpoint thread", db->r.url);
    return CAIRN_OK;
}

/* Asks the checkpointer for a checkpoint, starting it first if need be. */
static int kick(cairn_db *db)
{
    working *w = &db->w;
    pthread_mutex_lock(&w->mu);
    int rc = thread_start_locked(db);
    if (rc == CAIRN_OK && !w->pending && !w->running) {
        w->pending = true;
        pthread_cond_signal(&w->kick);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* The size of the live memtable (vmu keeps it from being swapped out and freed meanwhile). */
static size_t mem_bytes_now(cairn_db *db)
{
    pthread_mutex_lock(&db->vmu);
    size_t n = atomic_load_explicit(&db->mem->bytes, memory_order_relaxed);
    pthread_mutex_unlock(&db->vmu);
    return n;
}

/* Writers wait while the memtables hold far more than the limit (checkpoints fall behind);
 * when the last checkpoint failed they get its error instead of waiting for ever. */
static int stall(cairn_db *db)
{
    working *w = &db->w;
    if (!w->thread_wanted) return CAIRN_OK;
    size_t lim = w->mem_limit * STALL_FACTOR;
    if (mem_bytes_now(db) < lim) return CAIRN_OK;
    pthread_mutex_lock(&w->mu);
    int rc = thread_start_locked(db);
    while (rc == CAIRN_OK && mem_bytes_now(db) >= lim && !w->stop) {
        if (w->bg_rc < 0 && !w->running && !w->pending) {
            rc = cairn_error_set(w->bg_rc, "the memtable is full and checkpoints fail (%s); "
                                 "fix the cause, then write again", w->bg_msg);
            w->pending = true; /* try again for the next writer */
            pthread_cond_signal(&w->kick);
            break;
        }
        if (!w->pending && !w->running) {
            w->pending = true;
            pthread_cond_signal(&w->kick);
        }
        pthread_cond_wait(&w->done, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- open and close ---- */

/* Where the branches' logs live: the store's file namespace (wal/), else the files-only store
 * over wal_dir; neither: none (w->files stays NULL). */
static int find_log_files(cairn_db *db, const cairn_open_options *o, bool v3)
{
    working *w = &db->w;
    cairn_store *st = db->r.store;
    if (st->version >= 3 && (st->caps & CAIRN_STORE_CAP_FILES)) {
        w->files = st;
        w->base_dir = cairn_strdup("wal");
    } else if (v3 && o->wal_dir) {
        int rc = store_files_open(&w->own_files, o->wal_dir,
                                db->r.readonly ? CAIRN_OPEN_READONLY : CAIRN_OPEN_CREATE);
        if (rc == CAIRN_ENOTFOUND && db->r.readonly) { /* nothing was ever logged there */
            cairn_error_clear();
            return CAIRN_OK;
        }
        if (rc < 0) return cairn_error_prefix(rc, "opening the write-ahead log directory (wal_dir)");
        w->files = w->own_files;
        w->base_dir = cairn_strdup("");
    } else {
        return CAIRN_OK;
    }
    FAIL_IF(!w->base_dir, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

int working_open(cairn_db *db, const cairn_open_options *o)
{
    working *w = &db->w;
    pthread_mutex_init(&w->idmu, NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->kick, NULL);
    pthread_cond_init(&w->done, NULL);
    pthread_mutex_init(&w->gmu, NULL);
    pthread_cond_init(&w->gcv, NULL);
    pthread_cond_init(&w->gather_cv, NULL);
    bool v3 = o && o->version >= 3;
    w->relaxed = v3 && o->durability == CAIRN_DURABILITY_RELAXED;
    w->mem_limit = v3 && o->memtable_bytes ? o->memtable_bytes : DEFAULT_MEM_LIMIT;
    w->wo.sync_interval_ms = v3 ? o->sync_interval_ms : 0;
    w->wo.segment_bytes = v3 ? o->wal_segment_bytes : 0;
    bool volatile_store = !(db->r.store->caps & CAIRN_STORE_CAP_DURABLE);
    w->wo.retain_segments = v3 && o->oplog_keep_segments ? o->oplog_keep_segments
                            : volatile_store             ? DEFAULT_RETAIN_VOLATILE
                                                         : DEFAULT_RETAIN;
    w->wo.retain_seconds = v3 ? o->oplog_keep_seconds : 0;
    FAIL_IF(v3 && !cairn_durability_valid((int)o->durability), CAIRN_EINVAL,
            "open options: unknown durability %d", (int)o->durability);
    TRY(find_log_files(db, o, v3));
    if (w->files && !db->r.readonly) { /* the repository's settings; the open option wins */
        uint64_t smin, smax;
        settings_wal_sizes(db, &smin, &smax);
        w->wo.segment_min_bytes = smin;
        if (!w->wo.segment_bytes) w->wo.segment_bytes = smax;
    }
    w->sync_checkpoint = !w->files && (db->r.store->caps & CAIRN_STORE_CAP_DURABLE);
    if (!w->files && !db->r.readonly)
        cairn_diag(CAIRN_LOG_INFO, "%s: the %s store has no file namespace and no wal_dir was "
                   "given: no write-ahead log%s", db->r.url, db->r.store->kind,
                   w->sync_checkpoint ? " (every write checkpoints, durable on its own)" : "");
    TRY(log_open(db));
    w->thread_wanted = !db->r.readonly; /* started by the first write that needs it */
    return CAIRN_OK;
}

int working_close(cairn_db *db)
{
    working *w = &db->w;
    if (w->thread_on) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_broadcast(&w->kick);
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        w->thread_on = false;
    }
    int rc = CAIRN_OK;
    if (w->log && !db->r.readonly) {
        pthread_mutex_lock(&db->wmu);
        rc = db_checkpoint_locked(db);
        pthread_mutex_unlock(&db->wmu);
        /* the writes are durable in the log (synced here): a failed checkpoint loses none of
         * them, and is not the caller's failure (the next open replays them) */
        char why[512];
        snprintf(why, sizeof why, "%s", rc < 0 ? cairn_error_last()->message : "");
        if (rc < 0 && w->wo.store && (rc = wal_sync(w->log)) == CAIRN_OK) {
            cairn_diag(CAIRN_LOG_WARN, "%s: the checkpoint on close failed (%s); nothing is "
                       "lost: the log keeps the writes and the next open replays them", db->r.url,
                       why);
            cairn_error_clear();
        } else if (rc < 0)
            rc = cairn_error_prefix(rc, "checkpoint on close (the log keeps what it holds; the "
                                    "next open replays it)");
    }
    wal_close(w->log);
    w->log = NULL;
    for (size_t i = 0; i < w->nnames; i++) free(w->names[i]);
    free(w->names);
    free(w->order);
    free(w->dir);
    free(w->base_dir);
    if (w->own_files) w->own_files->close(w->own_files);
    w->own_files = w->files = NULL;
    pthread_mutex_destroy(&w->idmu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->kick);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->gmu);
    pthread_cond_destroy(&w->gcv);
    pthread_cond_destroy(&w->gather_cv);
    version_release(w->deferred_base);
    w->deferred_base = NULL;
    return rc;
}

/* ---- writes ---- */

/* Whether table name exists now: in the tree, or created by a logged write. */
static bool table_exists_now(cairn_db *db, const char *name)
{
    pthread_mutex_lock(&db->vmu);
    size_t nl = strlen(name);
    bool yes = version_find(db->cur, name) != NULL ||
               (db->mem && mem_find(db->mem, 0, name, nl, UINT64_MAX)) ||
               (db->imm && mem_find(db->imm, 0, name, nl, UINT64_MAX));
    pthread_mutex_unlock(&db->vmu);
    return yes;
}

/* Logs a record and applies it once durable. */
static int log_record(cairn_db *db, uint8_t type, const uint8_t *payload, size_t len,
                      bool durable, struct group_waiter *gw, prep *ready)
{
    prep own, *p = ready ? ready : &own;
    if (!ready) TRY(prepare(db, &own, type, payload, len));
    p->gw = gw;
    uint64_t seq;
    int rc = wal_append(db->w.log, type, payload, len, durable, &hooks, p, &seq);
    if (!ready) prep_dispose(&own); /* a ready one is its maker's to dispose of */
    return rc;
}

/* A write that failed before the log took it, or that the log refused: says exactly what that
 * means for the data (the log cuts a failed group back; only when even that failed is the
 * write's fate open until the next open). */
static int write_refused(cairn_db *db, int rc, bool was_refusing)
{
    if (rc != CAIRN_ENOSPC && rc != CAIRN_EIO) return rc; /* the others' messages say it */
    if (db->w.log && !was_refusing && wal_refusing(db->w.log))
        return cairn_error_prefix(rc, "this write failed and the log could not take it back: "
                                  "after the repository is reopened it is either there whole "
                                  "or not at all; every earlier acknowledged write is kept");
    return cairn_error_prefix(rc, "nothing of this write was written: the repository is as it "
                              "was before it, and every earlier acknowledged write is kept");
}

/* ---- group commit over the store ----
 * A store without log files (s3, postgres) makes a durable write durable by a checkpoint: one
 * tree build, one flush (an upload and a log entry on s3, a statement on postgres), one ref
 * move. Writers share them as group commit shares an fsync: each links a waiter before its
 * record is logged (the record's apply gives the waiter its sequence number, under the log's
 * lock, so a checkpoint that freezes the memtable knows every writer it carries); then one
 * writer at a time leads a checkpoint, and the others wait. A checkpoint carries every record
 * logged before it froze the memtable, so the writers that arrived while one was in flight
 * all go out in the next. A published checkpoint acknowledges the waiters of the records it
 * holds (checkpoint_tidy); a failed one fails exactly those, drops their entries (nothing of
 * them was published, and none was ever visible: readers see records up to `visible`, which
 * only a published checkpoint moves) and keeps everything published before. */

#define GATHER_FRACTION 0.25   /* a new leader waits at most this part of a checkpoint ... */
#define GATHER_MAX_S 0.005     /* ... and never longer, for writers just released to return */

typedef struct group_waiter {
    _Atomic uint64_t seq;    /* its record's sequence number, once applied; 0 before */
    bool logged, done;
    int rc;
    char *msg;               /* the failure's message, for the writer's thread */
    struct group_waiter *prev, *next;
} group_waiter;

static void waiter_logged_at(group_waiter *g, uint64_t seq)
{
    atomic_store_explicit(&g->seq, seq, memory_order_release);
}

static void waiter_unlink(working *w, group_waiter *g) /* gmu held */
{
    if (g->prev) g->prev->next = g->next;
    else if (w->gwait == g) w->gwait = g->next;
    if (g->next) g->next->prev = g->prev;
    g->prev = g->next = NULL;
    if (g->logged) w->glogged--;
    g->logged = false;
}

/* Whether waiter g's record is at or below through (and was logged at all). */
static bool carried(const group_waiter *g, uint64_t through)
{
    uint64_t seq = atomic_load_explicit(&g->seq, memory_order_acquire);
    return seq && seq <= through;
}

/* A checkpoint carrying the records up to through was published (rc == CAIRN_OK: its writers
 * are acknowledged and its records shown to readers) or failed with rc (the thread's message
 * says why: each of its writers hears that nothing of its write was published). */
static void group_finish(cairn_db *db, uint64_t through, int rc)
{
    working *w = &db->w;
    if (!w->sync_checkpoint) return;
    char why[600] = "";
    if (rc < 0) snprintf(why, sizeof why, "%s", cairn_error_last()->message);
    pthread_mutex_lock(&w->gmu);
    if (rc == CAIRN_OK && atomic_load(&w->visible) < through) atomic_store(&w->visible, through);
    size_t n = 0;
    for (group_waiter *g = w->gwait; g; g = g->next) n += carried(g, through);
    for (group_waiter *g = w->gwait, *next; g; g = next) {
        next = g->next;
        if (!carried(g, through)) continue;
        waiter_unlink(w, g);
        g->done = true;
        g->rc = rc;
        if (rc < 0 && w->gdoubt)
            g->msg = cairn_sprintf("this write may or may not have been published (%s): the "
                                   "checkpoint failed where its move of the working state may "
                                   "have happened, and reading the ref back did not tell; "
                                   "reopen the repository and read it to find out (every "
                                   "earlier acknowledged write is kept)", why);
        else if (rc < 0 && n > 1)
            g->msg = cairn_sprintf("nothing of this write was published (%s): that checkpoint "
                                   "carried it and %zu other write%s, and the repository is as "
                                   "it was before them; every earlier acknowledged write is "
                                   "kept", why, n - 1, n == 2 ? "" : "s");
        else if (rc < 0)
            g->msg = cairn_sprintf("nothing of this write was published (%s): the repository is "
                                   "as it was before it, and every earlier acknowledged write is "
                                   "kept", why);
    }
    w->grecent = (unsigned)n + w->glogged; /* the writers about: the next leader gathers them */
    pthread_cond_broadcast(&w->gcv);
    pthread_mutex_unlock(&w->gmu);
    if (rc < 0) cairn_error_set(rc, "%s", why);
}

/* After a checkpoint lost its compare-and-swap (another process moved the working state):
 * the handle goes on from the state that process published, so that the next write can
 * succeed (the failed writes were not published, and that state holds every write published
 * before it: its compare-and-swap was from the newest). Best effort: on failure the next
 * checkpoint loses again, and says so. */
static void reload_working(cairn_db *db)
{
    cairn_id rec_id;
    rootrec rec;
    version *nv = NULL;
    cairn_error_saved was;
    cairn_error_save(&was);
    if (repo_load_working(&db->r, &rec_id, &rec) == CAIRN_OK &&
        version_load(db, &nv, &rec_id, &rec) == CAIRN_OK)
        db_set_current(db, nv);
    else
        cairn_diag(CAIRN_LOG_WARN, "%s: reloading the working state after a lost "
                   "compare-and-swap failed: %s", db->r.url, cairn_error_last()->message);
    cairn_error_restore(&was);
}

/* With sync_checkpoint, a checkpoint that failed after it froze the memtable: its entries are
 * dropped (never shown, never to be published) and its writers failed. Returns rc. */
static int carried_failed(cairn_db *db, int rc)
{
    working *w = &db->w;
    pthread_mutex_lock(&db->vmu);
    memtable *imm = db->imm;
    db->imm = NULL;
    pthread_mutex_unlock(&db->vmu);
    mem_release(imm);
    group_finish(db, w->imm_seq, rc);
    w->gdoubt = false;
    if (rc == CAIRN_ECONFLICT && !w->deferred) reload_working(db);
    return rc;
}

/* A new leader (gmu held) waits a moment for the writers the last checkpoint released to log
 * their next writes (and for those in the path that have not logged yet): otherwise writers
 * settle into two halves that take turns, each checkpoint carrying half of them (measured with
 * 2 threads on s3: 0.87 checkpoints a write, without waiting for the released one). At most a
 * fraction of a checkpoint, and only while fewer have logged than were about at the last one;
 * a lone writer never waits, and the first checkpoint after writers stop waits once in vain. */
static unsigned gather_want(const working *w) { return MAX(w->ginside, w->grecent); }

static void group_gather(working *w)
{
    if (w->glogged >= gather_want(w) || w->gckpt_avg <= 0) return;
    struct timespec ts;
    clock_deadline(&ts, MIN(w->gckpt_avg * GATHER_FRACTION, GATHER_MAX_S));
    w->ggathering = true;
    /* counted anew at each wake-up: a writer that left (group_leave) is no longer awaited */
    while (w->glogged < gather_want(w))
        if (pthread_cond_timedwait(&w->gather_cv, &w->gmu, &ts) != 0) break;
    w->ggathering = false;
}

/* A logged write waits until a checkpoint carrying it is published or fails, leading one
 * itself when none is in flight. */
static int group_wait(cairn_db *db, group_waiter *me)
{
    working *w = &db->w;
    pthread_mutex_lock(&w->gmu);
    if (!me->done) {
        me->logged = true;
        w->glogged++;
        if (w->ggathering) pthread_cond_signal(&w->gather_cv);
    }
    bool behind = w->gleading && !me->done;
    unsigned idle = 0; /* checkpoints led that found nothing of ours to carry */
    if (behind) {      /* the tests hold a checkpoint until others have queued behind it */
        pthread_mutex_unlock(&w->gmu);
        cairn_test_point(CAIRN_TP_GROUP_QUEUED);
        pthread_mutex_lock(&w->gmu);
    }
    while (!me->done) {
        if (w->gleading) {
            pthread_cond_wait(&w->gcv, &w->gmu);
            continue;
        }
        w->gleading = true;
        group_gather(w);
        pthread_mutex_unlock(&w->gmu);
        double t0 = clock_now();
        pthread_mutex_lock(&db->wmu);
        int rc = db_checkpoint_locked(db);
        pthread_mutex_unlock(&db->wmu);
        double took = clock_now() - t0;
        pthread_mutex_lock(&w->gmu);
        w->gckpt_avg = w->gckpt_avg > 0 ? 0.875 * w->gckpt_avg + 0.125 * took : took;
        w->gleading = false;
        pthread_cond_broadcast(&w->gcv);
        if (me->done) break;
        /* not carried: it failed before it froze the memtable (out of memory), or (never
         * expected) published without our record */
        if (rc < 0 || ++idle > 1) {
            if (rc >= 0) rc = ERR(CAIRN_EIO, "%s: a checkpoint published without this write's "
                                  "record; it may still be published by a later one", db->r.url);
            waiter_unlink(w, me);
            me->done = true;
            me->rc = rc;
            me->msg = cairn_strdup(cairn_error_last()->message);
        }
    }
    if (me->prev || me->next || w->gwait == me) waiter_unlink(w, me);
    w->ginside--;
    pthread_mutex_unlock(&w->gmu);
    if (me->rc < 0) cairn_error_set(me->rc, "%s", me->msg ? me->msg : "checkpoint failed");
    free(me->msg);
    return me->rc;
}

/* Links a waiter for a write about to be logged (sync_checkpoint). */
static void group_enter(working *w, group_waiter *me)
{
    memset(me, 0, sizeof *me);
    pthread_mutex_lock(&w->gmu);
    me->next = w->gwait;
    if (w->gwait) w->gwait->prev = me;
    w->gwait = me;
    w->ginside++;
    pthread_mutex_unlock(&w->gmu);
}

/* A write whose record was not logged after all leaves the group; a leader gathering writers
 * stops waiting for it. grecent (a guess read only by group_gather, whose wait is bounded) goes
 * down by one, never below 0: exact when the writer was counted at the last checkpoint, else one
 * short, so the next leader may stop waiting one writer early rather than wait out its deadline
 * for one that is gone. group_finish sets it anew at the next checkpoint. */
static void group_leave(working *w, group_waiter *me)
{
    pthread_mutex_lock(&w->gmu);
    waiter_unlink(w, me);
    w->ginside--;
    if (w->grecent) w->grecent--;
    pthread_cond_broadcast(&w->gather_cv);
    pthread_mutex_unlock(&w->gmu);
}

static int write_record(cairn_db *db, const cairn_buf *payload, const walrec_table *tables,
                        size_t ntables, bool durable, prep *ready)
{
    working *w = &db->w;
    DB_NOT_IN_CALLBACK(db, "a write");
    bool was_refusing = w->log && wal_refusing(w->log);
    int rc = stall(db);
    if (rc < 0) return write_refused(db, rc, was_refusing);
    group_waiter me;
    if (w->sync_checkpoint) group_enter(w, &me);
    pthread_rwlock_rdlock(&db->gate);
    for (size_t i = 0; rc == CAIRN_OK && i < ntables; i++)
        if (!(tables[i].flags & WALREC_CREATE) && !table_exists_now(db, tables[i].name))
            rc = ERR(CAIRN_ENOTFOUND, "table '%s' does not exist in %s (dropped?); nothing was "
                                      "written", tables[i].name, db->r.url);
    if (rc == CAIRN_OK)
        rc = log_record(db, WAL_BATCH, payload->data, payload->len, durable,
                        w->sync_checkpoint ? &me : NULL, ready);
    pthread_rwlock_unlock(&db->gate);
    if (rc < 0 && w->sync_checkpoint) group_leave(w, &me);
    if (rc < 0) return write_refused(db, rc, was_refusing);
    if (w->sync_checkpoint) return group_wait(db, &me);
    if (w->thread_wanted && mem_bytes_now(db) >= w->mem_limit && kick(db) < 0)
        cairn_diag(CAIRN_LOG_WARN, "%s: %s (the write is in the log; the next one tries again)",
                   db->r.url, cairn_error_last()->message);
    return CAIRN_OK;
}

int working_write(cairn_db *db, const cairn_buf *payload, const walrec_table *tables,
                  size_t ntables, bool durable)
{
    return write_record(db, payload, tables, ntables, durable, NULL);
}

/* A batch this large is encoded on the caller's thread while a second one prepares its
 * memtable entries (each is a pass over all of its keys and values, into fresh memory). */
#define PREP_THREAD_MIN_OPS 4096

typedef struct prep_job {
    cairn_db *db;
    prep *p;
    const walrec_table *tables;
    size_t ntables;
    const walrec_op *ops;
    size_t nops;
    int rc;
    char msg[512];
} prep_job;

static void *prep_main(void *arg)
{
    prep_job *j = arg;
    j->rc = prepare_ops(j->db, j->p, j->tables, j->ntables, j->ops, j->nops);
    if (j->rc < 0) snprintf(j->msg, sizeof j->msg, "%s", cairn_error_last()->message);
    return NULL;
}

int working_write_ops(cairn_db *db, const walrec_table *tables, size_t ntables,
                      const walrec_op *ops, size_t nops, bool durable)
{
    DB_NOT_IN_CALLBACK(db, "a write");
    prep p;
    prep_job job = { db, &p, tables, ntables, ops, nops, CAIRN_OK, "" };
    pthread_t helper;
    bool helped = nops >= PREP_THREAD_MIN_OPS && pthread_create(&helper, NULL, prep_main, &job) == 0;
    cairn_buf payload = CAIRN_BUF_INIT;
    int rc = walrec_batch_encode(&payload, tables, ntables, ops, nops);
    if (helped) pthread_join(helper, NULL);
    else if (rc == CAIRN_OK) prep_main(&job);
    else job.rc = CAIRN_ENOMEM; /* not prepared: nothing to dispose of */
    if (rc == CAIRN_OK && job.rc < 0) rc = ERR(job.rc, "%s", job.msg);
    if (rc == CAIRN_OK) rc = write_record(db, &payload, tables, ntables, durable, &p);
    if (job.rc == CAIRN_OK) prep_dispose(&p); /* applied entries are the memtable's by now */
    cairn_buf_dispose(&payload);
    return rc;
}

int working_note(cairn_db *db, uint8_t type, const void *payload, size_t len)
{
    return log_record(db, type, payload, len, false, NULL, NULL);
}

/* ---- checkpoints ---- */

typedef struct swap_ctx {
    cairn_db *db;
    memtable *fresh;
    bool swapped;
} swap_ctx;

/* With the log's lock held (no record is being applied): freezes mem. */
static void swap_mem(void *arg)
{
    swap_ctx *s = arg;
    cairn_db *db = s->db;
    if (atomic_load_explicit(&db->mem->count, memory_order_relaxed) == 0) return;
    pthread_mutex_lock(&db->vmu);
    db->imm = db->mem;
    db->mem = s->fresh;
    pthread_mutex_unlock(&db->vmu);
    db->w.imm_seq = atomic_load(&db->w.applied);
    s->fresh = NULL;
    s->swapped = true;
}

static int checkpoint_once(cairn_db *db, bool defer, bool gc_synced);
static void group_finish(cairn_db *db, uint64_t through, int rc);
static int carried_failed(cairn_db *db, int rc);

static void deferred_clear(working *w)
{
    w->deferred = false;
    version_release(w->deferred_base);
    w->deferred_base = NULL;
}

/* Writes the log record of a published checkpoint, or keeps it to write later. */
static int checkpoint_note(cairn_db *db, const walrec_checkpoint *c)
{
    working *w = &db->w;
    uint8_t buf[WALREC_CHECKPOINT_SIZE];
    walrec_checkpoint_encode(buf, c);
    int rc = working_note(db, WAL_CHECKPOINT, buf, sizeof buf);
    w->ckpt_unlogged = rc < 0;
    if (rc < 0) w->ckpt_unlogged_rec = *c;
    return rc;
}

/* gc_synced: the caller has read the gc candidates' record while holding wmu (an exclusive
 * operation does, before its own writes), so the checkpoint need not read it again. */
static int checkpoint_locked(cairn_db *db, bool defer, bool gc_synced)
{
    if (db->r.readonly || !db->w.log) return CAIRN_OK;
    if (db->w.ckpt_unlogged && checkpoint_note(db, &db->w.ckpt_unlogged_rec) < 0)
        cairn_error_clear(); /* tried again at the next checkpoint and at close */
    bool retry = db->imm != NULL; /* a failed checkpoint left one: finish it, then the rest */
    TRY(checkpoint_once(db, defer, gc_synced));
    /* the first read the record (it froze a memtable: retry), wmu held since */
    return retry ? checkpoint_once(db, defer, true) : CAIRN_OK;
}

int db_checkpoint_locked(cairn_db *db) { return checkpoint_locked(db, false, false); }

/* After a checkpoint is published: its log record, and the segments it made history retired. */
static void checkpoint_tidy(cairn_db *db, const walrec_checkpoint *c)
{
    working *w = &db->w;
    group_finish(db, c->through, CAIRN_OK); /* its writers are acknowledged */
    wal_request_roll(w->log);
    int rc = checkpoint_note(db, c);
    if (rc == CAIRN_OK) rc = wal_retire(w->log, c->through);
    if (rc < 0)
        cairn_diag(CAIRN_LOG_WARN, "%s: checkpoint through record %" PRIu64 " is published, but "
                   "keeping the log tidy failed: %s", db->r.url, c->through,
                   cairn_error_last()->message);
}

/* Freezes the live memtable (unless one is frozen already) and applies it to the trees; publishes
 * the new working state, or with defer only writes its chunks (see db_exclusive_begin_deferred).
 * Reads a remote gc's record of candidates first, unless gc_synced (checkpoint_locked). */
static int checkpoint_once(cairn_db *db, bool defer, bool gc_synced)
{
    working *w = &db->w;
    if (!db->imm) {
        swap_ctx s = { db, NULL, false };
        TRY(mem_new(&s.fresh));
        wal_exclusive(w->log, swap_mem, &s);
        mem_release(s.fresh);
        if (!s.swapped) return CAIRN_OK;
    }
    version *cur = db_current(db);
    cairn_test_point(CAIRN_TP_CHECKPOINT_BEGIN);
    cairn_diag(CAIRN_LOG_DEBUG, "%s: checkpoint through log record %" PRIu64 ": starting",
               db->r.url, w->imm_seq);
    rview rv = { cur, NULL, db->imm, w->imm_seq };
    version *nv = NULL;
    /* a remote gc's candidates are written again */
    int rc = gc_synced ? CAIRN_OK : gc_writer_sync(&db->r);
    if (rc == CAIRN_OK) rc = rview_materialize_locked(db, &rv, &nv);
    cairn_id rec_id = cur->rec_id; /* deferred: the working ref still names this one */
    if (rc == CAIRN_OK && defer)
        rc = repo_stage(&db->r, &nv->rec);
    else if (rc == CAIRN_OK) {
        const cairn_id *old_id = id_is_zero(&cur->rec_id) ? NULL : &cur->rec_id;
        rc = repo_publish_checked(&db->r, &rec_id, old_id, &nv->rec,
                                  w->sync_checkpoint ? &w->gdoubt : NULL);
    }
    if (rc < 0) {
        version_release(nv);
        version_release(cur);
        cairn_test_point(CAIRN_TP_CHECKPOINT_END);
        rc = cairn_error_prefix(rc, "checkpoint of %s", db->r.url);
        return w->sync_checkpoint ? carried_failed(db, rc) : rc;
    }
    nv->rec_id = rec_id;
    walrec_checkpoint c = { w->imm_seq, cur->rec.catalog, nv->rec.catalog, rec_id };
    pthread_mutex_lock(&db->vmu);
    version *old = db->cur;
    memtable *imm = db->imm;
    db->cur = nv;
    db->imm = NULL;
    pthread_mutex_unlock(&db->vmu);
    version_release(old);
    mem_release(imm);
    if (defer && w->sync_checkpoint && !w->deferred) { /* what a failure goes back to */
        w->deferred_base = cur;
        cur = NULL;
    }
    version_release(cur);
    cairn_diag(CAIRN_LOG_DEBUG, "%s: checkpoint through log record %" PRIu64 ": published",
               db->r.url, c.through);
    w->checkpoints++;
    w->last_ckpt_seq = c.through;
    w->last_ckpt_time = clock_wall_ns();
    if (defer) { /* a second deferred checkpoint extends the first */
        if (w->deferred) c.catalog_before = w->deferred_rec.catalog_before;
        w->deferred = true;
        w->deferred_rec = c;
        cairn_test_point(CAIRN_TP_CHECKPOINT_END);
        return CAIRN_OK;
    }
    deferred_clear(w); /* this publish covers a deferred checkpoint left before it */
    /* the rest is housekeeping: the tree is safe whatever happens to it */
    cairn_test_point(CAIRN_TP_CHECKPOINT_PUBLISHED);
    checkpoint_tidy(db, &c);
    cairn_test_point(CAIRN_TP_CHECKPOINT_END);
    return CAIRN_OK;
}

/* An exclusive operation (merge, commit, a bulk batch, a drop, reset) writes chunks of its
 * own, maybe ones a remote gc has recorded as candidates: it reads the record first, as a
 * checkpoint and a push do, so that the store writes those again instead of trusting them
 * present. Once: the checkpoint below (of writes still waiting) is told it was read. */
static int exclusive_sync(cairn_db *db)
{
    int rc = gc_writer_sync(&db->r);
    return rc < 0 ? cairn_error_prefix(rc, "before writing to %s", db->r.url) : rc;
}

int db_exclusive_begin(cairn_db *db)
{
    DB_NOT_IN_CALLBACK(db, "a write");
    pthread_rwlock_wrlock(&db->gate);
    pthread_mutex_lock(&db->wmu);
    int rc = exclusive_sync(db);
    if (rc == CAIRN_OK) rc = checkpoint_locked(db, false, true);
    if (rc < 0) {
        pthread_mutex_unlock(&db->wmu);
        pthread_rwlock_unlock(&db->gate);
    }
    return rc;
}

int db_exclusive_begin_deferred(cairn_db *db)
{
    DB_NOT_IN_CALLBACK(db, "a write");
    pthread_rwlock_wrlock(&db->gate);
    pthread_mutex_lock(&db->wmu);
    int rc = exclusive_sync(db);
    /* with sync_checkpoint the queued writers' checkpoint is published now, not deferred into
     * the commit's publish: deferred, their writes would be readable before they are
     * published, and a failed commit would take them back */
    if (rc == CAIRN_OK) rc = checkpoint_locked(db, !db->w.sync_checkpoint, true);
    if (rc < 0) {
        int src = db_exclusive_settle(db, false); /* a first, deferred part may need publishing */
        (void)src;
    }
    return rc;
}

/* With sync_checkpoint, the deferred checkpoint could not be published (wmu and the gate
 * held): its writers fail and the handle goes back to the published version, so that nothing
 * of them is published later; the error (rc) stays the thread's. */
static void deferred_failed(cairn_db *db, int rc)
{
    working *w = &db->w;
    group_finish(db, w->deferred_rec.through, rc);
    w->gdoubt = false;
    version *base = w->deferred_base;
    w->deferred_base = NULL;
    if (base) db_set_current(db, base);
    deferred_clear(w);
    if (rc == CAIRN_ECONFLICT) reload_working(db);
}

int db_exclusive_settle(cairn_db *db, bool published)
{
    working *w = &db->w;
    int rc = CAIRN_OK;
    if (w->deferred && !published) {
        version *cur = db_current(db);
        cairn_id rec_id;
        const cairn_id *old_id = id_is_zero(&cur->rec_id) ? NULL : &cur->rec_id;
        rc = repo_publish_checked(&db->r, &rec_id, old_id, &cur->rec,
                                  w->sync_checkpoint ? &w->gdoubt : NULL);
        if (rc == CAIRN_OK) cur->rec_id = rec_id; /* wmu and the gate held: nobody reads it */
        else rc = cairn_error_prefix(rc, "checkpoint of %s", db->r.url);
        version_release(cur);
        if (rc < 0 && w->sync_checkpoint) deferred_failed(db, rc);
    }
    if (w->deferred && rc == CAIRN_OK) {
        deferred_clear(w);
        version *cur = db_current(db);
        w->deferred_rec.rootrec = cur->rec_id;
        version_release(cur);
        checkpoint_tidy(db, &w->deferred_rec);
    }
    /* a failed publish leaves the checkpoint deferred: the next checkpoint's publish, which
     * CASes from the same published record, covers it */
    db_exclusive_end(db);
    return rc;
}

void db_exclusive_end(cairn_db *db)
{
    pthread_mutex_unlock(&db->wmu);
    pthread_rwlock_unlock(&db->gate);
}

/* ---- switching branches ---- */

int working_switch(cairn_db *db)
{
    working *w = &db->w;
    wal_close(w->log);
    w->log = NULL;
    cairn_id rec_id;
    rootrec rec;
    TRY(repo_load_working(&db->r, &rec_id, &rec));
    version *nv;
    TRY(version_load(db, &nv, &rec_id, &rec));
    db_set_current(db, nv);
    return log_open(db);
}

int working_remove_log(cairn_db *db, const char *branch)
{
    if (!db->w.files) return CAIRN_OK;
    char *dir = branch_log_dir(db->w.base_dir, branch);
    FAIL_IF(!dir, CAIRN_ENOMEM, "out of memory");
    int rc = remove_log_dir(db->w.files, dir);
    free(dir);
    return rc;
}

/* ---- the operation log ---- */

typedef struct oplog_ctx {
    int (*cb)(const cairn_oplog_record *, void *);
    void *payload;
    cairn_oplog_op *ops;     /* table holds an offset into names until the record is complete */
    size_t nops, cap;
    size_t *name_off;        /* per table index */
    cairn_buf names;
    int stop;                /* cb's positive return: the log readers stop only on negatives */
} oplog_ctx;

static int oplog_push(oplog_ctx *o, const cairn_oplog_op *op)
{
    TRY(cairn_array_room(&o->ops, &o->cap, o->nops, sizeof *o->ops, 64));
    o->ops[o->nops++] = *op;
    return CAIRN_OK;
}

static int oplog_table(void *ctx, uint32_t index, const walrec_table *t)
{
    oplog_ctx *o = ctx;
    if (!o->name_off) {
        o->name_off = cairn_malloc(((size_t)UINT16_MAX + 1) * sizeof *o->name_off);
        FAIL_IF(!o->name_off, CAIRN_ENOMEM, "out of memory reading the operation log");
    }
    o->name_off[index] = o->names.len;
    TRY(cairn_buf_append(&o->names, t->name, strlen(t->name) + 1));
    if (!(t->flags & WALREC_CREATE)) return CAIRN_OK;
    cairn_oplog_op op = { CAIRN_OP_CREATE, (const char *)(uintptr_t)o->name_off[index], NULL, 0,
                          NULL, 0 };
    return oplog_push(o, &op);
}

static int oplog_op(void *ctx, const walrec_op *w)
{
    oplog_ctx *o = ctx;
    cairn_oplog_op op = { w->type == WALREC_PUT ? CAIRN_OP_PUT : CAIRN_OP_DELETE,
                          (const char *)(uintptr_t)o->name_off[w->table], w->key, w->klen,
                          w->type == WALREC_PUT ? w->val : NULL, w->vlen };
    return oplog_push(o, &op);
}

static int oplog_record(const wal_record *rec, void *ctx)
{
    oplog_ctx *o = ctx;
    cairn_oplog_record r;
    memset(&r, 0, sizeof r);
    r.seq = rec->seq;
    r.time_ns = rec->time;
    if (rec->type == WAL_BATCH) {
        r.kind = CAIRN_OPLOG_BATCH;
        o->nops = 0;
        o->names.len = 0;
        walrec_visitor v = { oplog_table, oplog_op, o };
        TRY(walrec_batch_decode(rec->payload, rec->len, &v));
        for (size_t i = 0; i < o->nops; i++) /* offsets to pointers, now that names is done */
            o->ops[i].table = (const char *)o->names.data + (uintptr_t)o->ops[i].table;
        r.nops = o->nops;
        r.ops = o->ops;
    } else if (rec->type == WAL_CHECKPOINT) {
        walrec_checkpoint c;
        TRY(walrec_checkpoint_decode(&c, rec->payload, rec->len));
        r.kind = CAIRN_OPLOG_CHECKPOINT;
        r.through = c.through;
        r.catalog_before = c.catalog_before;
        r.catalog_after = c.catalog_after;
        r.root_record = c.rootrec;
    } else if (rec->type == WAL_BULK) {
        walrec_bulk b;
        TRY(walrec_bulk_decode(&b, rec->payload, rec->len));
        r.kind = CAIRN_OPLOG_BULK;
        r.bulk_ops = b.ops;
        r.catalog_before = b.catalog_before;
        r.catalog_after = b.catalog_after;
    } else {
        return CORRUPT("operation log record %" PRIu64 " has unknown type %u", rec->seq,
                       rec->type);
    }
    int rc = o->cb(&r, o->payload);
    if (rc == 0) return rc;
    o->stop = rc;
    return CAIRN_EUSER; /* stops the reader; cairn_oplog() returns o->stop instead */
}

int cairn_oplog(cairn_db *db, uint64_t since_seq, int64_t from_ns, int64_t to_ns,
                int (*cb)(const cairn_oplog_record *rec, void *payload), void *payload)
{
    FAIL_IF(!cb, CAIRN_EINVAL, "cairn_oplog needs a callback");
    FAIL_IF(!db->w.dir, CAIRN_EUNSUPPORTED,
            "%s keeps no write-ahead log (its %s store has no file namespace, and it was opened "
            "without wal_dir): there is no operation log", db->r.url, db->r.store->kind);
    oplog_ctx o;
    memset(&o, 0, sizeof o);
    o.cb = cb;
    o.payload = payload;
    /* checkpoints retire segments into the oplog directory: hold them off meanwhile (so cb runs
     * under wmu: the thread is marked, and calls back that would take it fail) */
    DB_NOT_IN_CALLBACK(db, "cairn_oplog");
    pthread_mutex_lock(&db->wmu);
    const void *prev = cairn_cb_enter(db);
    wal_log_problems lp;
    int rc = wal_read_log(db->w.files, db->w.dir, since_seq, from_ns, to_ns,
                          db->cur->rec.wal_seq, oplog_record, &o, &lp);
    cairn_cb_leave(prev);
    pthread_mutex_unlock(&db->wmu);
    if (o.stop) rc = o.stop;
    /* everything readable was delivered: now say what was not */
    else if (rc == CAIRN_OK && lp.damage)
        rc = ERR(CAIRN_ECORRUPT, "the operation log of %s is damaged (%u place%s): records there "
                 "were not read; the first: %s; run cairn verify", db->r.url, lp.damage,
                 lp.damage == 1 ? "" : "s", lp.first);
    else if (rc == CAIRN_OK && lp.kept)
        cairn_diag(CAIRN_LOG_WARN, "%s", lp.first);
    free(o.ops);
    free(o.name_off);
    cairn_buf_dispose(&o.names);
    return rc;
}

/* ---- verifying the logs ---- */

typedef struct vlog {
    uint64_t records;
} vlog;

static int check_record(const wal_record *rec, void *ctx)
{
    ((vlog *)ctx)->records++;
    if (rec->type == WAL_BATCH) return walrec_batch_decode(rec->payload, rec->len, NULL);
    if (rec->type == WAL_CHECKPOINT) {
        walrec_checkpoint c;
        return walrec_checkpoint_decode(&c, rec->payload, rec->len);
    }
    if (rec->type == WAL_BULK) {
        walrec_bulk b;
        return walrec_bulk_decode(&b, rec->payload, rec->len);
    }
    return CORRUPT("record %" PRIu64 " has unknown type %u", rec->seq, rec->type);
}

/* Counts a problem of the logs and hands it to on_problem; returns its stop. */
static int log_problem(cairn_db *db, const cairn_verify_options *o, cairn_verify_stats *st,
                       char *first, size_t first_size, const char *ref, int code, const char *msg)
{
    size_t max = o->max_problems ? o->max_problems : 20;
    cairn_verify_problem p;
    memset(&p, 0, sizeof p);
    p.code = code;
    p.ref = ref;
    p.message = msg;
    if (st->problems++ == 0) snprintf(first, first_size, "%s", msg);
    if (st->problems > max || !o->on_problem) return 0;
    const void *prev = cairn_cb_enter(db); /* under wmu: calls back must not wait */
    int stop = o->on_problem(&p, o->payload);
    cairn_cb_leave(prev);
    return stop;
}

/* Segments an open set aside (<seq>.wal.damaged[.N]) in dir: each a problem. */
static int check_set_aside(cairn_db *db, const cairn_verify_options *o, cairn_verify_stats *st,
                           char *first, size_t first_size, const char *dir, const char *ref)
{
    cairn_store *fs = db->w.files;
    dir_names d = { NULL, 0, 0 };
    if (fs->file_list(fs, dir, note_name, &d) < 0) cairn_error_clear();
    int stop = 0;
    for (size_t i = 0; !stop && i < d.n; i++) {
        if (!strstr(d.v[i], ".wal.damaged")) continue;
        char msg[1024];
        snprintf(msg, sizeof msg, "write-ahead log segment %s/%s in %s was set aside by an open: "
                 "it did not verify and held no readable record (a crash, or damage: then the "
                 "writes logged in it are lost); remove it once you have looked at it", dir,
                 d.v[i], fs->location);
        stop = log_problem(db, o, st, first, first_size, ref, CAIRN_ECORRUPT, msg);
    }
    names_free(&d);
    return stop;
}

/* The logs kept aside for want of a working state (keep_log_aside): each a problem. */
static int check_kept(cairn_db *db, const cairn_verify_options *o, cairn_verify_stats *st,
                      char *first, size_t first_size)
{
    cairn_store *fs = db->w.files;
    char *kept = cairn_sprintf("%s%s%s", db->w.base_dir, *db->w.base_dir ? "/" : "", KEPT_DIR);
    FAIL_IF(!kept, CAIRN_ENOMEM, "out of memory");
    dir_names d = { NULL, 0, 0 };
    if (fs->file_list(fs, kept, note_name, &d) < 0) cairn_error_clear();
    int stop = 0;
    for (size_t i = 0; !stop && i < d.n; i++) {
        char msg[1024];
        size_t n = strcspn(d.v[i], "."); /* <branch dir>.<time>[.N]/ */
        snprintf(msg, sizeof msg, "write-ahead log %s/%s in %s was kept aside: its branch had no "
                 "working state (ref working/%.*s was missing), so the writes logged in it "
                 "since the branch's last commit are in no working state; look at them (its "
                 "segments are the log format of docs/FORMAT.md), then remove it", kept, d.v[i],
                 fs->location, (int)n, d.v[i]);
        stop = log_problem(db, o, st, first, first_size, kept, CAIRN_ECORRUPT, msg);
    }
    names_free(&d);
    free(kept);
    return stop;
}

int working_verify_logs(cairn_db *db, const cairn_verify_options *o, cairn_verify_stats *st,
                        char *first, size_t first_size)
{
    working *w = &db->w;
    if (!w->files) return CAIRN_OK;
    int stop = 0;
    /* checkpoints move segments into the oplog: hold them off while the files are read */
    pthread_mutex_lock(&db->wmu);
    dir_names d = { NULL, 0, 0 };
    int lrc = w->files->file_list(w->files, w->base_dir, note_name, &d);
    if (lrc < 0) cairn_error_clear(); /* no branch has logged anything yet */
    for (size_t i = 0; !stop && i < d.n; i++) {
        size_t n = strlen(d.v[i]);
        /* a branch's log is a directory; dot names are nobody's */
        if (n < 2 || d.v[i][n - 1] != '/' || d.v[i][0] == '.') continue;
        d.v[i][n - 1] = '\0';
        if (strcmp(d.v[i], KEPT_DIR) == 0) {
            stop = check_kept(db, o, st, first, first_size);
            continue;
        }
        char *dir = *w->base_dir ? cairn_sprintf("%s/%s", w->base_dir, d.v[i]) : cairn_strdup(d.v[i]);
        char *ref = cairn_sprintf("wal/%s", d.v[i]);
        if (!dir || !ref) {
            free(dir);
            free(ref);
            continue;
        }
        vlog v = { 0 };
        wal_log_problems lp;
        /* the current branch's tree says which records it holds; the others' are unknown */
        uint64_t held = w->dir && strcmp(dir, w->dir) == 0 ? db->cur->rec.wal_seq : 0;
        int rc = wal_read_log(w->files, dir, 0, 0, 0, held, check_record, &v, &lp);
        st->log_records += v.records;
        if (rc == CAIRN_OK && (lp.damage || lp.kept)) {
            unsigned np = lp.damage + lp.kept;
            rc = ERR(CAIRN_ECORRUPT, "%s%s", lp.first, np > 1 ? " (and more places in it)" : "");
        }
        if (rc < 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "write-ahead log %s in %s: %s", dir, w->files->location,
                     cairn_error_last()->message);
            stop = log_problem(db, o, st, first, first_size, ref, rc, msg);
        }
        if (!stop) stop = check_set_aside(db, o, st, first, first_size, dir, ref);
        free(dir);
        free(ref);
    }
    uint64_t epoch;
    if (!stop && pins_supported(db->r.store) && pins_epoch(db->r.store, &epoch) == CAIRN_ECORRUPT) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
        stop = log_problem(db, o, st, first, first_size, NULL, CAIRN_ECORRUPT, msg);
    }
    cairn_error_clear();
    pthread_mutex_unlock(&db->wmu);
    names_free(&d);
    return stop;
}
