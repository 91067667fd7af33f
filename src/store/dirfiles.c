/*
 * dirfiles.c - the file namespace over a directory (dirfiles.h), and the files-only store.
 *
 * A file is a descriptor and its path (for messages). Creating a file makes its missing parent
 * directories, each fsynced into its parent, so that file_sync_dir of the file's directory is
 * all a caller needs for the new name to survive a crash. A rename without replace is link(),
 * then unlink() of the old name: link never replaces, so "fails with CAIRN_EEXIST when to
 * exists" holds against other processes too (both names exist for a moment, which no reader of
 * the namespace minds: the reader pins' protocol was written for exactly this).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/sys.h"
#include "store/dirfiles.h"
#include "store/refname.h"
#include "store/store.h"

#define FILE_MODE 0666 /* the umask decides; readers of other users may have to make pins */
#define DIR_MODE 0777

struct dirfiles {
    char *root;
    bool readonly;
    const char *allowed;     /* with readonly: the first component that may still be written */
    const char *const *reserved;
};

typedef struct dfile {
    int fd;
    char path[];
} dfile;

static inline dirfiles *df_of(cairn_store *st) { return ((dirfiles_head *)st)->files; }
static inline dfile *file_of(cairn_store_file *f) { return (dfile *)(void *)f; }

int dirfiles_new(dirfiles **out, const char *root, bool readonly, const char *const *reserved)
{
    dirfiles *df = cairn_calloc(1, sizeof *df);
    if (df) df->root = cairn_strdup(root);
    if (!df || !df->root) {
        free(df);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    df->readonly = readonly;
    df->reserved = reserved;
    *out = df;
    return CAIRN_OK;
}

void dirfiles_allow(dirfiles *df, const char *dir)
{
    df->allowed = dir;
}

void dirfiles_free(dirfiles *df)
{
    if (!df) return;
    free(df->root);
    free(df);
}

/* Whether the first component of name is one the namespace does not own. */
static bool is_reserved(const dirfiles *df, const char *name)
{
    if (!df->reserved) return false;
    size_t n = strcspn(name, "/");
    for (const char *const *r = df->reserved; *r; r++)
        if (strlen(*r) == n && memcmp(*r, name, n) == 0) return true;
    return false;
}

/* Whether name may not be changed. */
static bool is_readonly(const dirfiles *df, const char *name)
{
    if (!df->readonly) return false;
    if (!df->allowed) return true;
    size_t n = strcspn(name, "/");
    return !(strlen(df->allowed) == n && memcmp(df->allowed, name, n) == 0 && name[n] == '/');
}

/* Checks name and returns ROOT/name in *out (caller frees). */
static int full_path(const dirfiles *df, const char *name, bool dir, char **out)
{
    TRY(store_check_file_name(name, dir));
    FAIL_IF(*name && is_reserved(df, name), CAIRN_EINVAL,
            "file name '%s' is one of the store's own files in %s, not of its file namespace",
            name, df->root);
    *out = *name ? cairn_sprintf("%s/%s", df->root, name) : cairn_strdup(df->root);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

static int readonly_error(const dirfiles *df, const char *what, const char *name)
{
    return ERR(CAIRN_EREADONLY, "cannot %s '%s' in %s: opened read-only", what, name, df->root);
}

/* Makes the parent directory of path (ROOT/...) with its missing parents, durably. */
static int make_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return CAIRN_OK;
    char *parent = cairn_strndup(path, (size_t)(slash - path));
    FAIL_IF(!parent, CAIRN_ENOMEM, "out of memory");
    int rc = sys_mkdirs(parent, DIR_MODE, true);
    free(parent);
    return rc;
}

/* ---- the methods ---- */

static int df_open(cairn_store *st, cairn_store_file **out, const char *name, unsigned flags)
{
    dirfiles *df = df_of(st);
    char *path;
    TRY(full_path(df, name, false, &path));
    if ((flags & (CAIRN_FILE_WRITE | CAIRN_FILE_CREATE | CAIRN_FILE_TRUNC)) &&
        is_readonly(df, name)) {
        free(path);
        return readonly_error(df, "write", name);
    }
    int oflags = O_CLOEXEC | ((flags & CAIRN_FILE_WRITE) ? O_RDWR : O_RDONLY);
    if (flags & CAIRN_FILE_CREATE) oflags |= O_CREAT | ((flags & CAIRN_FILE_EXCL) ? O_EXCL : 0);
    if (flags & CAIRN_FILE_TRUNC) oflags |= O_TRUNC;
    int fd = sys_open(path, oflags, FILE_MODE);
    int rc = CAIRN_OK;
    if (fd < 0 && errno == ENOENT && (flags & CAIRN_FILE_CREATE)) { /* a parent is missing */
        rc = make_parent(path);
        if (rc == CAIRN_OK) fd = sys_open(path, oflags, FILE_MODE);
    }
    if (rc == CAIRN_OK && fd < 0)
        rc = errno == ENOENT ? ERR(CAIRN_ENOTFOUND, "file %s does not exist", path)
                             : cairn_error_errno(errno, "opening %s", path);
    dfile *f = NULL;
    if (rc == CAIRN_OK) {
        size_t n = strlen(path) + 1;
        f = cairn_malloc(sizeof *f + n);
        if (!f) {
            sys_close(fd);
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        } else {
            f->fd = fd;
            memcpy(f->path, path, n);
        }
    }
    free(path);
    if (rc == CAIRN_OK) *out = (cairn_store_file *)(void *)f;
    return rc;
}

static int df_read(cairn_store *st, cairn_store_file *file, void *buf, size_t len, uint64_t off,
                   size_t *out_n)
{
    dfile *f = file_of(file);
    return sys_read_full(f->fd, buf, len, off, out_n, f->path);
}

static int df_write(cairn_store *st, cairn_store_file *file, const void *buf, size_t len,
                    uint64_t off)
{
    dfile *f = file_of(file);
    return sys_write_all(f->fd, buf, len, off, f->path);
}

static int df_sync(cairn_store *st, cairn_store_file *file, unsigned how)
{
    dfile *f = file_of(file);
    int r = how == CAIRN_FILE_SYNC_DATA ? sys_fdatasync(f->fd) : sys_fsync(f->fd);
    return r == 0 ? CAIRN_OK : cairn_error_errno(errno, "syncing %s", f->path);
}

static int df_size(cairn_store *st, cairn_store_file *file, uint64_t *out)
{
    dfile *f = file_of(file);
    struct stat sb;
    if (sys_fstat(f->fd, &sb) != 0) return cairn_error_errno(errno, "reading the size of %s", f->path);
    *out = (uint64_t)sb.st_size;
    return CAIRN_OK;
}

static int df_resize(cairn_store *st, cairn_store_file *file, uint64_t size)
{
    dfile *f = file_of(file);
    if (sys_ftruncate(f->fd, (off_t)size) != 0)
        return cairn_error_errno(errno, "setting the size of %s to %llu bytes", f->path,
                                 (unsigned long long)size);
    return CAIRN_OK;
}

static int df_reserve(cairn_store *st, cairn_store_file *file, uint64_t size)
{
    dfile *f = file_of(file);
    if (size > 0 && sys_fallocate(f->fd, 0, (off_t)size) != 0)
        return cairn_error_errno(errno, "no room for %llu bytes of %s", (unsigned long long)size,
                                 f->path);
    return CAIRN_OK;
}

static int df_map(cairn_store *st, cairn_store_file *file, size_t len, const uint8_t **out)
{
    dfile *f = file_of(file);
    FAIL_IF(len == 0, CAIRN_EINVAL, "mapping %s: nothing to map", f->path);
    void *m = sys_mmap(NULL, len, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED) return cairn_error_errno(errno, "mapping %s", f->path);
    *out = m;
    return CAIRN_OK;
}

static void df_unmap(cairn_store *st, const uint8_t *map, size_t len)
{
    if (map) munmap((void *)map, len);
}

static int df_lock(cairn_store *st, cairn_store_file *file, unsigned mode)
{
    dfile *f = file_of(file);
    unsigned kind = mode & ~CAIRN_FILE_LOCK_NOWAIT;
    int op = kind == CAIRN_FILE_UNLOCK ? LOCK_UN
             : kind == CAIRN_FILE_LOCK_SHARED ? LOCK_SH
             : kind == CAIRN_FILE_LOCK_EXCLUSIVE ? LOCK_EX : -1;
    FAIL_IF(op < 0, CAIRN_EINVAL, "locking %s: unknown mode %u", f->path, mode);
    if (mode & CAIRN_FILE_LOCK_NOWAIT) op |= LOCK_NB;
    int r;
    while ((r = sys_flock(f->fd, op)) != 0 && errno == EINTR) {}
    if (r == 0) return CAIRN_OK;
    if (errno == EWOULDBLOCK) return ERR(CAIRN_EBUSY, "%s is locked by another holder", f->path);
    return cairn_error_errno(errno, "locking %s", f->path);
}

static void df_close(cairn_store *st, cairn_store_file *file)
{
    if (!file) return;
    dfile *f = file_of(file);
    sys_close(f->fd); /* also drops its lock */
    free(f);
}

static int df_remove(cairn_store *st, const char *name)
{
    dirfiles *df = df_of(st);
    size_t n = name ? strlen(name) : 0;
    bool dir = n > 0 && name[n - 1] == '/';
    FAIL_IF(dir && n == 1, CAIRN_EINVAL, "cannot remove the top directory of %s", df->root);
    char *path;
    TRY(full_path(df, name, dir, &path));
    int rc = CAIRN_OK;
    if (is_readonly(df, name)) rc = readonly_error(df, "remove", name);
    else if ((dir ? sys_rmdir(path) : sys_unlink(path)) != 0)
        rc = errno == ENOENT ? ERR(CAIRN_ENOTFOUND, "file %s does not exist", path)
                             : cairn_error_errno(errno, "removing %s", path);
    free(path);
    return rc;
}

/* rename or link+unlink (see the top); 0 or -1 with errno. */
static int move(const char *from, const char *to, bool replace)
{
    if (replace) return sys_rename(from, to);
    if (sys_link(from, to) != 0) return -1;
    return sys_unlink(from);
}

static int df_rename(cairn_store *st, const char *from, const char *to, bool replace)
{
    dirfiles *df = df_of(st);
    char *pf = NULL, *pt = NULL;
    int rc = full_path(df, from, false, &pf);
    if (rc == CAIRN_OK) rc = full_path(df, to, false, &pt);
    if (rc == CAIRN_OK && (is_readonly(df, from) || is_readonly(df, to)))
        rc = readonly_error(df, "rename", from);
    if (rc == CAIRN_OK && move(pf, pt, replace) != 0) {
        int e = errno;
        struct stat sb;
        if (e == ENOENT && sys_stat(pf, &sb) == 0) { /* to's directory is missing */
            rc = make_parent(pt);
            e = rc == CAIRN_OK && move(pf, pt, replace) != 0 ? errno : 0;
        }
        if (rc == CAIRN_OK && e == EEXIST)
            rc = ERR(CAIRN_EEXIST, "renaming %s: %s exists", pf, pt);
        else if (rc == CAIRN_OK && e == ENOENT)
            rc = ERR(CAIRN_ENOTFOUND, "renaming %s: it does not exist", pf);
        else if (rc == CAIRN_OK && e)
            rc = cairn_error_errno(e, "renaming %s to %s", pf, pt);
    }
    free(pf);
    free(pt);
    return rc;
}

static int df_list(cairn_store *st, const char *dir,
                   int (*cb)(const char *name, uint64_t size, void *payload), void *payload)
{
    dirfiles *df = df_of(st);
    char *path;
    TRY(full_path(df, dir, true, &path));
    DIR *d = sys_opendir(path);
    if (!d) {
        int e = errno;
        int rc = e == ENOENT ? CAIRN_OK : cairn_error_errno(e, "listing %s", path);
        free(path);
        return rc;
    }
    bool top = *dir == '\0' || strcmp(dir, "/") == 0;
    int rc = CAIRN_OK;
    struct dirent *de;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (store_file_name_problem(n, false)) continue; /* ".", "..", foreign names */
        if (top && is_reserved(df, n)) continue;
        char *p = cairn_sprintf("%s/%s", path, n);
        if (!p) {
            rc = ERR(CAIRN_ENOMEM, "out of memory");
            break;
        }
        struct stat sb;
        if (sys_stat(p, &sb) != 0) {
            if (errno != ENOENT) rc = cairn_error_errno(errno, "listing %s", p);
        } else if (S_ISDIR(sb.st_mode)) {
            char *sub = cairn_sprintf("%s/", n);
            rc = sub ? cb(sub, 0, payload) : ERR(CAIRN_ENOMEM, "out of memory");
            free(sub);
        } else if (S_ISREG(sb.st_mode)) {
            rc = cb(n, (uint64_t)sb.st_size, payload);
        }
        free(p);
    }
    closedir(d);
    free(path);
    return rc;
}

static int df_sync_dir(cairn_store *st, const char *dir)
{
    dirfiles *df = df_of(st);
    char *path;
    TRY(full_path(df, dir, true, &path));
    int rc = sys_fsync_dir(path);
    free(path);
    return rc;
}

void dirfiles_methods(cairn_store *st)
{
    st->caps |= CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS;
    st->file_open = df_open;
    st->file_read = df_read;
    st->file_write = df_write;
    st->file_sync = df_sync;
    st->file_size = df_size;
    st->file_resize = df_resize;
    st->file_reserve = df_reserve;
    st->file_map = df_map;
    st->file_unmap = df_unmap;
    st->file_lock = df_lock;
    st->file_close = df_close;
    st->file_remove = df_remove;
    st->file_rename = df_rename;
    st->file_list = df_list;
    st->file_sync_dir = df_sync_dir;
}

/* ---- the files-only store ---- */

static void dir_close(cairn_store *st)
{
    if (!st) return;
    dirfiles_free(df_of(st));
    free(st);
}

int store_files_open(cairn_store **out, const char *root, unsigned flags)
{
    FAIL_IF(!root || !*root, CAIRN_EINVAL, "empty directory path");
    bool readonly = (flags & CAIRN_OPEN_READONLY) != 0;
    struct stat sb;
    if (sys_stat(root, &sb) != 0) {
        if (errno != ENOENT || readonly || !(flags & CAIRN_OPEN_CREATE))
            return errno == ENOENT ? ERR(CAIRN_ENOTFOUND, "directory %s does not exist", root)
                                   : cairn_error_errno(errno, "opening directory %s", root);
        TRY(sys_mkdirs(root, DIR_MODE, true));
    } else if (!S_ISDIR(sb.st_mode)) {
        return ERR(CAIRN_EINVAL, "%s is not a directory", root);
    }
    dirfiles_head *h = cairn_calloc(1, sizeof *h);
    FAIL_IF(!h, CAIRN_ENOMEM, "out of memory");
    int rc = dirfiles_new(&h->files, root, readonly, NULL);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = CAIRN_STORE_CAP_DURABLE,
        .kind = "dir",
        .location = h->files->root,
        .close = dir_close,
    };
    dirfiles_methods(&h->base);
    *out = &h->base;
    return CAIRN_OK;
}
