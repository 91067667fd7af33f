/*
 * open.c - the public cairn_open() and cairn_open_store(): the db layer's open (db/db.h), then
 * what version control adds on a writer's open (finishing an interrupted commit). Kept here so
 * that src/db never calls up into src/vc. A create that fails part-way (a full disk) removes what
 * it made, so that every caller, not only the CLI, finds the location as it was before.
 */
#include "store/store.h"
#include "vc/sig.h"
#include "vc/vc.h"

/* Version 3 of the options spelled durability 0 = durable, 1 = relaxed; version 4 has
 * cairn_durability (0 = default, 1 = durable, 2 = relaxed). A program built against version 3
 * keeps its meaning. (The struct did not grow, so a version-3 one can be copied whole.) */
static const cairn_open_options *upgrade_options(cairn_open_options *tmp,
                                                 const cairn_open_options *o)
{
    if (!o || o->version != 3) return o;
    *tmp = *o;
    int d = (int)o->durability;
    tmp->durability = d == 0   ? CAIRN_DURABILITY_DURABLE
                      : d == 1 ? CAIRN_DURABILITY_RELAXED
                               : (cairn_durability)-1; /* refused, as before */
    return tmp;
}

/* Verify grades signatures through this (the db layer knows nothing of signing). */
static int grade(const commit *c, int *status, void *payload)
{
    char fpr[17];
    return sig_status(payload, c, status, fpr);
}

static int open_vc(cairn_db **out, const char *url, cairn_store *store,
                   const cairn_open_options *opts)
{
    cairn_db *db;
    cairn_open_options tmp;
    TRY(db_open(&db, url, store, upgrade_options(&tmp, opts)));
    db->grade_sig = grade;
    int rc = vc_complete_commit(db);
    if (rc < 0) {
        db_discard(db);
        return rc;
    }
    *out = db;
    return CAIRN_OK;
}

int cairn_open(cairn_db **out, const char *url, const cairn_open_options *opts)
{
    FAIL_IF(!out || !url, CAIRN_EINVAL, "cairn_open: out and url are required");
    unsigned flags = opts ? opts->flags : 0;
    bool creating = (flags & CAIRN_OPEN_CREATE) && !(flags & CAIRN_OPEN_READONLY);
    store_create_undo undo = { 0 };
    if (creating) TRY(store_create_prepare(&undo, url));
    int rc = open_vc(out, url, NULL, opts);
    /* EEXIST and EBUSY: another process made or holds it (a create racing ours): not ours */
    if (rc < 0 && rc != CAIRN_EEXIST && rc != CAIRN_EBUSY) store_create_rollback(&undo);
    else store_create_forget(&undo);
    return rc;
}

int cairn_open_store(cairn_db **out, cairn_store *store, const cairn_open_options *opts)
{
    if (!out || !store) {
        if (store) store->close(store);
        return ERR(CAIRN_EINVAL, "cairn_open_store: out and store are required");
    }
    return open_vc(out, NULL, store, opts);
}
