/*
 * refname.c - the rules shared by every backend for ref names and ref value sizes (refname.h).
 */
#include "store/refname.h"

#include "base/base.h"

int store_check_ref_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    FAIL_IF(n == 0 || n > REF_NAME_MAX, CAIRN_EINVAL, "ref name must be 1..%d bytes",
            REF_NAME_MAX);
    FAIL_IF(name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") || strstr(name, "//"),
            CAIRN_EINVAL, "ref name '%s' is malformed (leading or trailing '/', '//' or '..')",
            name);
    /* "." as a component would name the same file as the path without it in a local store */
    FAIL_IF(strcmp(name, ".") == 0 || strncmp(name, "./", 2) == 0 || strstr(name, "/./") ||
                (n >= 2 && strcmp(name + n - 2, "/.") == 0),
            CAIRN_EINVAL, "ref name '%s' has a '.' component", name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("._/@{}~^-", c) != NULL;
        FAIL_IF(!ok, CAIRN_EINVAL,
                "ref name '%s' has a character outside [A-Za-z0-9._/@{}~^-]", name);
    }
    return CAIRN_OK;
}

int store_check_ref_value(const char *name, size_t len)
{
    FAIL_IF(len > REF_VALUE_MAX, CAIRN_EINVAL, "ref '%s': value of %zu bytes is over %d", name,
            len, REF_VALUE_MAX);
    return CAIRN_OK;
}
