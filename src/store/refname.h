/*
 * refname.h - the ref-name and ref-value rules every backend applies (cairn/sys/store.h,
 * ref_get). They live apart from store.c, which opens backends by URL, so that a backend and
 * the opener do not include each other.
 */
#ifndef CAIRN_REFNAME_H
#define CAIRN_REFNAME_H

#include <stddef.h>

#define REF_NAME_MAX 255
#define REF_VALUE_MAX 4096

/** Checks a ref name against the rules in cairn/sys/store.h; CAIRN_EINVAL with a message. */
int store_check_ref_name(const char *name);
/** Checks the sizes of a ref_cas call; CAIRN_EINVAL with a message. */
int store_check_ref_value(const char *name, size_t len);

#endif /* CAIRN_REFNAME_H */
