/*
 * maint.c - the public face of garbage collection, verification and repair (repo/gc.c,
 * repo/verify.c, the store's repair method):
 * options, the db handle's locks, the versions this process pins, and signature grading.
 *
 * Locks: gc holds maintmu (one gc or verify at a time) and the writer mutex for its whole run,
 * so no write of this handle interleaves with marking and sweeping; readers go on. The versions
 * in use are listed after the writer mutex is taken: the current version cannot change any more,
 * and any version opened later is loaded from a ref (marked) or from the current version.
 */
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/settings.h"
#include "repo/gc.h"
#include "repo/pins.h"
#include "store/store.h"

int cairn_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts)
{
    return db_gc(out, db, opts, NULL, 0);
}

int db_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts,
          const gc_retain *retain, size_t nretain)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_gc: db is required");
    cairn_gc_options defaults = CAIRN_GC_OPTIONS_INIT;
    if (!opts) opts = &defaults;
    FAIL_IF(opts->version < 1 || opts->version > CAIRN_GC_OPTIONS_VERSION, CAIRN_EINVAL,
            "gc options version %u is not supported", opts->version);
    FAIL_IF(opts->flags & ~CAIRN_GC_DRY_RUN, CAIRN_EINVAL, "unknown gc flags 0x%x", opts->flags);
    FAIL_IF(opts->min_live_fraction != opts->min_live_fraction, CAIRN_EINVAL,
            "gc min_live_fraction is not a number");
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY,
            "cannot collect garbage: %s was opened read-only", db->r.url);
    gc_params p;
    memset(&p, 0, sizeof p);
    p.min_live = opts->min_live_fraction == 0 ? GC_DEFAULT_MIN_LIVE : opts->min_live_fraction;
    p.dry_run = (opts->flags & CAIRN_GC_DRY_RUN) != 0;
    p.retain = retain;
    p.nretain = nretain;
    bool has_grace = opts->version >= 2 && opts->grace_seconds >= 0;
    FAIL_IF(opts->version >= 2 && opts->grace_seconds != opts->grace_seconds, CAIRN_EINVAL,
            "gc grace_seconds is not a number");
    p.grace = has_grace ? opts->grace_seconds : settings_gc_grace(db, CAIRN_GC_GRACE_DEFAULT);
    pthread_mutex_lock(&db->maintmu);
    pthread_mutex_lock(&db->wmu);
    cairn_id *pinned = NULL;
    cairn_id *readers = NULL;
    size_t nreaders = 0, cap = 0;
    cairn_store *st = db->r.store;
    bool pinned_ok = pins_supported(st); /* else no reader can pin (db_pin_reader says so) */
    /* a reader that opens across this moment pins again (db.c, db_pin_reader) */
    int rc = pinned_ok && !p.dry_run ? pins_epoch_bump(st) : CAIRN_OK;
    if (rc == CAIRN_ENOSPC) /* its first write: nothing is changed yet */
        rc = cairn_error_prefix(rc, "gc of %s refused: the disk is full, and gc must write "
                                "before it frees anything (its epoch, then deletions and "
                                "compacted copies of live chunks: up to the size of the packs "
                                "it compacts); nothing was changed; free some space, then run "
                                "gc again", db->r.url);
    if (rc == CAIRN_OK) rc = db_live_catalogs(db, &pinned, &p.npinned);
    p.pinned = pinned;
    if (rc == CAIRN_OK && pinned_ok) rc = pins_collect(st, &readers, &nreaders, &cap);
    p.reader_pins = readers;
    p.nreader_pins = nreaders;
    if (rc == CAIRN_OK) rc = gc_run(&db->r, &p, out);
    pthread_mutex_unlock(&db->wmu);
    pthread_mutex_unlock(&db->maintmu);
    free(pinned);
    free(readers);
    return rc;
}

int cairn_verify(cairn_verify_stats *out, cairn_db *db, const cairn_verify_options *opts)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_verify: db is required");
    cairn_verify_options defaults = CAIRN_VERIFY_OPTIONS_INIT;
    if (!opts) opts = &defaults;
    FAIL_IF(opts->version < 1 || opts->version > CAIRN_VERIFY_OPTIONS_VERSION, CAIRN_EINVAL,
            "verify options version %u is not supported", opts->version);
    FAIL_IF(opts->flags & ~CAIRN_VERIFY_REACHABLE_ONLY, CAIRN_EINVAL,
            "unknown verify flags 0x%x", opts->flags);
    pthread_mutex_lock(&db->maintmu);
    cairn_verify_stats st;
    memset(&st, 0, sizeof st);
    int rc = verify_run(&db->r, opts, db->grade_sig, db, &st);
    /* the chunks are checked (or problems were found there): the logs too, unless told to stop */
    bool found = rc == CAIRN_ECORRUPT && st.problems > 0;
    if (rc == CAIRN_OK || found) {
        char first[1024] = "";
        const char *f = found ? strstr(cairn_error_last()->message, "; the first: ") : NULL;
        if (f) snprintf(first, sizeof first, "%s", f + 13); /* the trees' first problem */
        cairn_error_clear();
        double t0 = clock_now();
        int stop = working_verify_logs(db, opts, &st, first, sizeof first);
        st.seconds += clock_now() - t0;
        if (stop) rc = stop;
        else if (st.problems)
            rc = ERR(CAIRN_ECORRUPT, "verify found %llu problem%s in %s; the first: %s",
                     (unsigned long long)st.problems, st.problems == 1 ? "" : "s", db->r.url,
                     first);
    }
    if (out && (rc == CAIRN_OK || rc == CAIRN_ECORRUPT)) *out = st;
    pthread_mutex_unlock(&db->maintmu);
    return rc;
}

int cairn_repair(cairn_repair_stats *out, cairn_db *db, const cairn_repair_options *opts)
{
    if (out) memset(out, 0, sizeof *out);
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_repair: db is required");
    cairn_repair_options defaults = CAIRN_REPAIR_OPTIONS_INIT;
    if (!opts) opts = &defaults;
    FAIL_IF(opts->version < 1 || opts->version > CAIRN_REPAIR_OPTIONS_VERSION, CAIRN_EINVAL,
            "repair options version %u is not supported", opts->version);
    FAIL_IF(opts->flags & ~CAIRN_REPAIR_DRY_RUN, CAIRN_EINVAL, "unknown repair flags 0x%x",
            opts->flags);
    cairn_store *st = db->r.store;
    FAIL_IF(st->version < 4 || !st->repair, CAIRN_EUNSUPPORTED,
            "the %s store of %s cannot list or repair damage to its files", st->kind, db->r.url);
    bool dry = (opts->flags & CAIRN_REPAIR_DRY_RUN) != 0;
    FAIL_IF(db->r.readonly && !dry, CAIRN_EREADONLY,
            "cannot repair: %s was opened read-only (a dry run can list what needs repair)",
            db->r.url);
    pthread_mutex_lock(&db->maintmu);
    pthread_mutex_lock(&db->wmu);
    int rc = st->repair(st, opts->flags, opts->on_item, opts->payload, out);
    pthread_mutex_unlock(&db->wmu);
    pthread_mutex_unlock(&db->maintmu);
    return rc;
}
