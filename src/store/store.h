/*
 * store.h - the built-in store backends (mem, local) and helpers every backend shares.
 * Backends implement the vtable of include/cairn/sys/store.h.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "base/base.h"

#define REF_NAME_MAX 255
#define REF_VALUE_MAX 4096

/** A private in-memory store (chunks and refs), thread-safe. */
int store_mem_open(cairn_store **out);

/** The local pack-file store in directory `path` (see local.c and docs/FORMAT.md).
 *  flags: CAIRN_OPEN_CREATE, CAIRN_OPEN_EXCL, CAIRN_OPEN_READONLY. */
int store_local_open(cairn_store **out, const char *path, unsigned flags,
                     unsigned lock_timeout_ms);

/** Checks a ref name against the rules in cairn/sys/store.h; CAIRN_EINVAL with a message. */
int store_check_ref_name(const char *name);
/** Checks the sizes of a ref_cas call; CAIRN_EINVAL with a message. */
int store_check_ref_value(const char *name, size_t len);

#endif /* CAIRN_STORE_H */
