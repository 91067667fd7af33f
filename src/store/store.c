/*
 * store.c - opening built-in stores by URL. (The ref-name rules every backend shares are in
 * refname.c.)
 */
#include <stdlib.h>

#include "store.h"

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
