/*
 * store.c - opening built-in stores by URL, and the rules shared by every backend (ref names,
 * ref value sizes).
 */
#include <stdlib.h>

#include "store.h"

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

#define FILE_NAME_MAX 1024

int store_check_file_name(const char *name, bool dir)
{
    size_t n = name ? strlen(name) : 0;
    FAIL_IF(!name || (n == 0 && !dir), CAIRN_EINVAL, "empty file name");
    FAIL_IF(n > FILE_NAME_MAX, CAIRN_EINVAL, "file name of %zu bytes is over %d", n,
            FILE_NAME_MAX);
    if (dir && n > 0 && name[n - 1] == '/') n--;
    size_t comp = 0; /* length of the component so far */
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? name[i] : '/';
        if (c == '/') {
            if (n == 0) break; /* the top directory */
            FAIL_IF(comp == 0, CAIRN_EINVAL, "file name '%s' has an empty component", name);
            FAIL_IF((comp == 1 && name[i - 1] == '.') ||
                        (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'),
                    CAIRN_EINVAL, "file name '%s' has a '.' or '..' component", name);
            comp = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '%' || c == '-';
        FAIL_IF(!ok, CAIRN_EINVAL, "file name '%s' has a character outside [A-Za-z0-9._%%-]",
                name);
        comp++;
    }
    return CAIRN_OK;
}

int store_check_ref_value(const char *name, size_t len)
{
    FAIL_IF(len > REF_VALUE_MAX, CAIRN_EINVAL, "ref '%s': value of %zu bytes is over %d", name,
            len, REF_VALUE_MAX);
    return CAIRN_OK;
}

int cairn_store_open_url(cairn_store **out, const char *url, unsigned flags,
                         unsigned lock_timeout_ms)
{
    FAIL_IF(!url || !*url, CAIRN_EINVAL, "empty repository URL: give a directory or 'mem:'");
    if (strcmp(url, "mem:") == 0 || strncmp(url, "mem://", 6) == 0) return store_mem_open(out);
    if (strncmp(url, "file://", 7) == 0) url += 7;
    else if (strstr(url, "://"))
        return ERR(CAIRN_EINVAL,
                   "repository URL '%s' has a scheme this build does not know; use a directory "
                   "path, file://PATH or mem:",
                   url);
    FAIL_IF(!*url, CAIRN_EINVAL, "empty repository path");
    return store_local_open(out, url, flags, lock_timeout_ms);
}
