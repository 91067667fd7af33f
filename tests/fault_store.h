/*
 * fault_store.h - a fault-injecting store for tests: wraps any real cairn_store, forwards every
 * call to it, and can be armed to make the Nth call of a method fail with a chosen code (before
 * or after the inner store did the work), or to make a get return its bytes with one bit
 * flipped. Counts every call. In the manner of SQLite's test_vfs.c.
 *
 *   cairn_store *fs;
 *   fault_store_wrap(&fs, inner, true);               // fs->close() closes inner too
 *   fault_store_arm(fs, &(fault_spec){ FAULT_PUT, 3, CAIRN_ENOSPC }); // 3rd put from now fails
 *   fault_store_flip_get(fs, 1, 17);                  // next get: bit 17 of the bytes flipped
 */
#ifndef CAIRN_FAULT_STORE_H
#define CAIRN_FAULT_STORE_H

#include <stdbool.h>

#include "cairn/sys/store.h"

typedef enum fault_method {
    FAULT_GET, FAULT_PUT, FAULT_HAS, FAULT_DEL, FAULT_LIST, FAULT_FLUSH,
    FAULT_REF_GET, FAULT_REF_CAS, FAULT_REF_LIST, FAULT_STAT,
    FAULT_COMPACT, FAULT_LOCATE,
    FAULT_NMETHODS
} fault_method;

typedef struct fault_spec {
    fault_method method;
    unsigned long nth;  /**< 1 = the next call of method, 2 = the one after, ... */
    int code;           /**< what the failing call returns: CAIRN_EIO, CAIRN_ENOSPC, ... */
    bool sticky;        /**< every call from the nth on fails, not only the nth */
    bool after;         /**< forward the call first, then report code (the work was done but the
                             caller hears of a failure, as with a timeout) */
} fault_spec;

/** Wraps inner. kind is "fault", location is inner's.
 *  @param[out] out  close with out->close(out)
 *  @param[in]  own  close inner when the wrapper is closed
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
int fault_store_wrap(cairn_store **out, cairn_store *inner, bool own);

/** Arms one fault for spec->method (replacing any armed for that method). */
void fault_store_arm(cairn_store *st, const fault_spec *spec);

/** The nth get from now (1 = the next) returns its bytes with bit `bit` flipped (bit modulo the
 *  length in bits; an empty chunk is left alone). */
void fault_store_flip_get(cairn_store *st, unsigned long nth, uint64_t bit);

/** Calls hook(method, n, arg) at every call of method (n: its number since the wrapper was
 *  made) before the call is forwarded or failed, from the caller's thread, without the
 *  wrapper's lock: a test may hold the call there (until other threads have reached some
 *  point) or arm a fault for a later call. NULL hook: none. One hook per method. */
void fault_store_hook(cairn_store *st, fault_method method,
                      void (*hook)(fault_method method, unsigned long n, void *arg), void *arg);

/** Disarms every fault. */
void fault_store_disarm(cairn_store *st);

/** Calls of method so far (failed ones included). */
unsigned long fault_store_calls(cairn_store *st, fault_method method);

/** Faults injected so far (failures and flips). */
unsigned long fault_store_injected(cairn_store *st);

/** The wrapped store (borrowed). */
cairn_store *fault_store_inner(cairn_store *st);

#endif /* CAIRN_FAULT_STORE_H */
