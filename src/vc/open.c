/*
 * open.c - the public cairn_open() and cairn_open_store(): the db layer's open (db/db.h), then
 * what version control adds on a writer's open (finishing an interrupted commit). Kept here so
 * that src/db never calls up into src/vc.
 */
#include "vc/vc.h"

static int open_vc(cairn_db **out, const char *url, cairn_store *store,
                   const cairn_open_options *opts)
{
    cairn_db *db;
    TRY(db_open(&db, url, store, opts));
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
    return open_vc(out, url, NULL, opts);
}

int cairn_open_store(cairn_db **out, cairn_store *store, const cairn_open_options *opts)
{
    if (!out || !store) {
        if (store) store->close(store);
        return ERR(CAIRN_EINVAL, "cairn_open_store: out and store are required");
    }
    return open_vc(out, NULL, store, opts);
}
