/*
 * store.c - opening built-in stores by URL. (The ref-name rules every backend shares are in
 * refname.c.)
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include "base/sys.h"
#include "store.h"

static int open_url(cairn_store **out, const char *url, unsigned flags, unsigned lock_timeout_ms);

int cairn_store_open_url(cairn_store **out, const char *url, unsigned flags,
                         unsigned lock_timeout_ms)
{
    cairn_store *st;
    TRY(open_url(&st, url, flags, lock_timeout_ms));
    return store_diskcache_open(out, st, url); /* remote stores read through a disk cache */
}

int store_open_url_uncached(cairn_store **out, const char *url, unsigned flags,
                            unsigned lock_timeout_ms)
{
    return open_url(out, url, flags, lock_timeout_ms);
}

/* The kinds of URL open_url() takes. */
typedef enum url_kind { URL_PG, URL_MEM, URL_S3, URL_LOCAL } url_kind;

/* Which kind url is (*path: the local directory for URL_LOCAL), or CAIRN_EINVAL. */
static int url_kind_of(url_kind *kind, const char **path, const char *url)
{
    FAIL_IF(!url || !*url, CAIRN_EINVAL, "empty repository URL: give a directory or 'mem:'");
    *path = url;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0 ||
        strncmp(url, "pg:", 3) == 0)
        *kind = URL_PG;
    else if (strcmp(url, "mem:") == 0 || strncmp(url, "mem://", 6) == 0)
        *kind = URL_MEM;
    else if (strncmp(url, "s3://", 5) == 0)
        *kind = URL_S3;
    else if (strncmp(url, "file://", 7) == 0)
        *kind = URL_LOCAL, *path = url + 7;
    else if (strstr(url, "://"))
        return ERR(CAIRN_EINVAL,
                   "repository URL '%s' has a scheme this build does not know; use a directory "
                   "path, file://PATH, s3://BUCKET/PREFIX?endpoint=..., postgres://USER@HOST/DB or "
                   "mem:",
                   url);
    else
        *kind = URL_LOCAL;
    FAIL_IF(*kind == URL_LOCAL && !**path, CAIRN_EINVAL, "empty repository path");
    return CAIRN_OK;
}

int store_url_check(const char *url)
{
    url_kind kind;
    const char *path;
    TRY(url_kind_of(&kind, &path, url));
    if (kind == URL_S3) return store_s3_url_check(url);
    if (kind == URL_PG) return store_pg_url_check(url);
    return CAIRN_OK;
}

static int open_url(cairn_store **out, const char *url, unsigned flags, unsigned lock_timeout_ms)
{
    url_kind kind;
    const char *path;
    TRY(url_kind_of(&kind, &path, url));
    switch (kind) {
    case URL_PG: return store_pg_open(out, url, flags);
    case URL_MEM: return store_mem_open(out);
    case URL_S3: return store_s3_open(out, url, flags);
    case URL_LOCAL: break;
    }
    return store_local_open(out, path, flags, lock_timeout_ms);
}

/* ---- undoing a failed create ---- */

/* The directory of a local-store URL, or NULL for any other kind. */
static const char *local_dir_of(const char *url)
{
    if (strncmp(url, "file://", 7) == 0) return url + 7;
    return strchr(url, ':') ? NULL : url;
}

/* Whether dir is a directory holding nothing. */
static bool dir_empty(const char *dir)
{
    DIR *d = sys_opendir(dir);
    bool empty = d != NULL;
    for (struct dirent *e; empty && d && (e = readdir(d));)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    if (d) closedir(d);
    return empty;
}

int store_create_prepare(store_create_undo *u, const char *url)
{
    memset(u, 0, sizeof *u);
    const char *dir = url ? local_dir_of(url) : NULL;
    if (!dir || !*dir) return CAIRN_OK;
    struct stat sb;
    if (sys_stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode) || !dir_empty(dir)) return CAIRN_OK;
        u->existed = true;
    } else if (errno != ENOENT) {
        return CAIRN_OK; /* the open reports it */
    }
    u->dir = cairn_strdup(dir);
    FAIL_IF(!u->dir, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* Removes what is inside path, and path itself unless keep. */
static void remove_tree(const char *path, bool keep)
{
    DIR *d = sys_opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *sub = cairn_sprintf("%s/%s", path, e->d_name);
        struct stat sb; /* (a link is removed, never followed) */
        bool dir = e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && sub &&
                                           sys_stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode));
        if (sub && dir) remove_tree(sub, false);
        else if (sub) sys_unlink(sub);
        free(sub);
    }
    if (d) closedir(d);
    if (!keep) sys_rmdir(path);
}

void store_create_rollback(store_create_undo *u)
{
    if (u->dir) {
        remove_tree(u->dir, u->existed);
        cairn_diag(CAIRN_LOG_INFO, "creating a repository in %s failed: removed what it had "
                   "made, so %s is as it was before", u->dir, u->dir);
    }
    store_create_forget(u);
}

void store_create_forget(store_create_undo *u)
{
    free(u->dir);
    u->dir = NULL;
}

/* ---- batches: the store's own method, else one call per chunk ---- */

static bool has_batches(const cairn_store *st) { return st->version >= 5; }

int cairn_store_get_many(cairn_store *st, const cairn_id *keys, size_t n, cairn_store_get_cb cb,
                         void *payload)
{
    FAIL_IF(!st || (n && (!keys || !cb)), CAIRN_EINVAL, "get_many: no store, keys or callback");
    if (has_batches(st) && st->get_many) return st->get_many(st, keys, n, cb, payload);
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
        int grc = st->get(st, &b, &keys[i]);
        rc = cb(i, grc < 0 ? grc : CAIRN_OK, grc < 0 ? NULL : b.data, grc < 0 ? 0 : b.len,
                payload);
    }
    cairn_buf_dispose(&b);
    return rc;
}

int cairn_store_has_many(cairn_store *st, const cairn_id *keys, size_t n, int *rcs)
{
    FAIL_IF(!st || (n && (!keys || !rcs)), CAIRN_EINVAL, "has_many: no store, keys or results");
    if (has_batches(st) && st->has_many) return st->has_many(st, keys, n, rcs);
    for (size_t i = 0; i < n; i++) rcs[i] = st->has(st, &keys[i]);
    return CAIRN_OK;
}

int cairn_store_put_many(cairn_store *st, const cairn_store_chunk *chunks, size_t n)
{
    FAIL_IF(!st || (n && !chunks), CAIRN_EINVAL, "put_many: no store or chunks");
    if (has_batches(st) && st->put_many) return st->put_many(st, chunks, n);
    for (size_t i = 0; i < n; i++) {
        int rc = st->put(st, &chunks[i].key, chunks[i].data, chunks[i].len);
        if (rc < 0) return rc;
    }
    return CAIRN_OK;
}
