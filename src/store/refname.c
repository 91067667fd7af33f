/*
 * refname.c - the rules shared by every backend for ref names, ref value sizes and file names
 * (refname.h).
 */
#include "store/refname.h"

#include "base/base.h"

const char *store_ref_name_problem(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > REF_NAME_MAX) return "must be 1..255 bytes";
    if (name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") || strstr(name, "//"))
        return "is malformed (leading or trailing '/', '//' or '..')";
    /* "." as a component would name the same file as the path without it in a local store */
    if (strcmp(name, ".") == 0 || strncmp(name, "./", 2) == 0 || strstr(name, "/./") ||
        (n >= 2 && strcmp(name + n - 2, "/.") == 0))
        return "has a '.' component";
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("._/@{}~^-", c) != NULL;
        if (!ok) return "has a character outside [A-Za-z0-9._/@{}~^-]";
    }
    return NULL;
}

int store_check_ref_name(const char *name)
{
    const char *why = store_ref_name_problem(name);
    FAIL_IF(why, CAIRN_EINVAL, "ref name '%.255s' %s", name ? name : "", why);
    return CAIRN_OK;
}

int store_check_ref_value(const char *name, size_t len)
{
    FAIL_IF(len > REF_VALUE_MAX, CAIRN_EINVAL, "ref '%s': value of %zu bytes is over %d", name,
            len, REF_VALUE_MAX);
    return CAIRN_OK;
}

#define FILE_NAME_MAX 1024

const char *store_file_name_problem(const char *name, bool dir)
{
    size_t n = name ? strlen(name) : 0;
    if (!name || (n == 0 && !dir)) return "is empty";
    if (n > FILE_NAME_MAX) return "is over 1024 bytes";
    if (dir && n > 0 && name[n - 1] == '/') n--;
    size_t comp = 0; /* length of the component so far */
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? name[i] : '/';
        if (c == '/') {
            if (n == 0) break; /* the top directory */
            if (comp == 0) return "has an empty component";
            if ((comp == 1 && name[i - 1] == '.') ||
                (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
                return "has a '.' or '..' component";
            comp = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '%' || c == '-';
        if (!ok) return "has a character outside [A-Za-z0-9._%-]";
        comp++;
    }
    return NULL;
}

int store_check_file_name(const char *name, bool dir)
{
    const char *why = store_file_name_problem(name, dir);
    FAIL_IF(why, CAIRN_EINVAL, "file name '%.1024s' %s", name ? name : "", why);
    return CAIRN_OK;
}
