/*
 * store_suite.h - the conformance suite every store backend must pass (the contract of
 * include/cairn/sys/store.h). A backend's test plugs in an opener and calls store_suite_run();
 * failures go through test_fail() like any other check, each followed by the suite case and
 * backend it happened in.
 *
 *   static int my_create(cairn_store **out, void *ctx) { ... a new, empty store ... }
 *   static int my_reopen(cairn_store **out, void *ctx) { ... the last one created, again ... }
 *   static void my_conformance(void) {
 *       store_opener o = { "s3", my_create, my_reopen, &my_ctx };
 *       store_suite_run(&o);
 *   }
 */
#ifndef CAIRN_STORE_SUITE_H
#define CAIRN_STORE_SUITE_H

#include "cairn/sys/store.h"

typedef struct store_opener {
    const char *name;
    /** Opens a new, empty store (a fresh location on every call). */
    int (*create)(cairn_store **out, void *ctx);
    /** Opens the store most recently created again, after it was closed; NULL for stores that
     *  do not outlive their handle (mem). Durability cases run only when this is set. */
    int (*reopen)(cairn_store **out, void *ctx);
    void *ctx;
} store_opener;

/** Runs every conformance case against the backend. */
void store_suite_run(const store_opener *o);

/** Deterministic test data shared with other store tests: key i of a family (salt), and the
 *  bytes of a chunk stored under a key (a function of the key and the length). */
void suite_key(cairn_id *out, uint64_t salt, uint64_t i);
void suite_fill(uint8_t *out, size_t len, const cairn_id *key);

#endif /* CAIRN_STORE_SUITE_H */
