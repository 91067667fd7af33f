/*
 * refname.h - the rules every backend applies to ref names and values (cairn/sys/store.h,
 * ref_get) and to names of the file namespace (file_open). They live apart from store.c, which
 * opens backends by URL, so that a backend and the opener do not include each other.
 */
#ifndef CAIRN_REFNAME_H
#define CAIRN_REFNAME_H

#include <stdbool.h>
#include <stddef.h>

#define REF_NAME_MAX 255
#define REF_VALUE_MAX 4096

/** Checks a ref name against the rules in cairn/sys/store.h; CAIRN_EINVAL with a message. */
int store_check_ref_name(const char *name);
/** The same check without a message (the thread's error is left as it is): why name is not a
 *  ref name (static text), or NULL when it is one. */
const char *store_ref_name_problem(const char *name);
/** Checks the sizes of a ref_cas call; CAIRN_EINVAL with a message. */
int store_check_ref_value(const char *name, size_t len);
/** Checks a name of the file namespace (cairn/sys/store.h, version 3); with dir, a directory
 *  name: "" (the top) or a name with or without a trailing '/'. CAIRN_EINVAL with a message. */
int store_check_file_name(const char *name, bool dir);
/** The same check without a message: why name is not a file name (static text), or NULL. */
const char *store_file_name_problem(const char *name, bool dir);

#endif /* CAIRN_REFNAME_H */
