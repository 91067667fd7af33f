/*
 * sys.c - the system-call table of sys.h, its fault injection, and the file helpers built on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "base/sys.h"

static int open_default(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static int fallocate_default(int fd, off_t off, off_t len)
{
    return posix_fallocate(fd, off, len);
}

#define SYS_DEFAULTS {                                                                             \
    .open = open_default,                                                                          \
    .close = close,                                                                                \
    .pread = pread,                                                                                \
    .pwrite = pwrite,                                                                              \
    .fsync = fsync,                                                                                \
    .fdatasync = fdatasync,                                                                        \
    .ftruncate = ftruncate,                                                                        \
    .fallocate = fallocate_default,                                                                \
    .fstat = fstat,                                                                                \
    .stat = stat,                                                                                  \
    .rename = rename,                                                                              \
    .link = link,                                                                                  \
    .unlink = unlink,                                                                              \
    .mkdir = mkdir,                                                                                \
    .rmdir = rmdir,                                                                                \
    .flock = flock,                                                                                \
    .opendir = opendir,                                                                            \
    .mmap = mmap,                                                                                  \
    .statvfs = statvfs,                                                                            \
}

static const sys_table defaults = SYS_DEFAULTS;
static sys_table table = SYS_DEFAULTS;

void sys_table_set(const sys_table *t)
{
    table = defaults;
    if (!t) return;
#define TAKE(m) if (t->m) table.m = t->m
    TAKE(open); TAKE(close); TAKE(pread); TAKE(pwrite); TAKE(fsync); TAKE(fdatasync);
    TAKE(ftruncate); TAKE(fallocate); TAKE(fstat); TAKE(stat); TAKE(rename); TAKE(link);
    TAKE(unlink); TAKE(mkdir); TAKE(rmdir); TAKE(flock); TAKE(opendir); TAKE(mmap);
    TAKE(statvfs);
#undef TAKE
}

/* ---- fault injection ---- */

typedef struct fault {
    atomic_uint_fast64_t calls;  /* calls made so far */
    atomic_uint_fast64_t at;     /* fail the call whose number (1-based) is this; 0 = none */
    atomic_int err;
    atomic_bool sticky;
} fault;

static fault faults[SYS_OP_COUNT];
static atomic_bool armed;        /* any fault set: the fast path skips the rest */
static atomic_uint_fast64_t fired;

void sys_fault(sys_op op, uint64_t nth, int err, bool sticky)
{
    if ((unsigned)op >= SYS_OP_COUNT) return;
    fault *f = &faults[op];
    atomic_store(&f->err, err);
    atomic_store(&f->sticky, sticky);
    atomic_store(&f->at, nth ? atomic_load(&f->calls) + nth : 0);
    bool any = false;
    for (int i = 0; i < SYS_OP_COUNT; i++) any |= atomic_load(&faults[i].at) != 0;
    atomic_store(&armed, any);
}

void sys_fault_clear(void)
{
    for (int i = 0; i < SYS_OP_COUNT; i++) atomic_store(&faults[i].at, 0);
    atomic_store(&armed, false);
}

uint64_t sys_calls(sys_op op)
{
    return (unsigned)op < SYS_OP_COUNT ? atomic_load(&faults[op].calls) : 0;
}

uint64_t sys_faults_fired(void)
{
    return atomic_load(&fired);
}

/* Counts a call of op; true (errno set) when it is to fail. */
static bool hit(sys_op op)
{
    fault *f = &faults[op];
    uint64_t n = atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed) + 1;
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return false;
    uint64_t at = atomic_load(&f->at);
    if (!at || n < at || (n > at && !atomic_load(&f->sticky))) return false;
    atomic_fetch_add(&fired, 1);
    errno = atomic_load(&f->err);
    return true;
}

/* ---- the calls ---- */

int sys_open(const char *path, int flags, mode_t mode)
{
    return hit(SYS_OPEN) ? -1 : table.open(path, flags, mode);
}

int sys_close(int fd)
{
    return table.close(fd);
}

ssize_t sys_pread(int fd, void *buf, size_t len, off_t off)
{
    return hit(SYS_READ) ? -1 : table.pread(fd, buf, len, off);
}

ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return hit(SYS_WRITE) ? -1 : table.pwrite(fd, buf, len, off);
}

int sys_fsync(int fd)
{
    return hit(SYS_FSYNC) ? -1 : table.fsync(fd);
}

int sys_fdatasync(int fd)
{
    return hit(SYS_FSYNC) ? -1 : table.fdatasync(fd);
}

int sys_ftruncate(int fd, off_t len)
{
    return hit(SYS_TRUNCATE) ? -1 : table.ftruncate(fd, len);
}

int sys_fallocate(int fd, off_t off, off_t len)
{
    if (hit(SYS_ALLOCATE)) return -1;
    int e = table.fallocate(fd, off, len);
    if (e) errno = e;
    return e ? -1 : 0;
}

int sys_fstat(int fd, struct stat *out)
{
    return hit(SYS_STAT) ? -1 : table.fstat(fd, out);
}

int sys_stat(const char *path, struct stat *out)
{
    return hit(SYS_STAT) ? -1 : table.stat(path, out);
}

int sys_rename(const char *from, const char *to)
{
    return hit(SYS_RENAME) ? -1 : table.rename(from, to);
}

int sys_link(const char *from, const char *to)
{
    return hit(SYS_LINK) ? -1 : table.link(from, to);
}

int sys_unlink(const char *path)
{
    return hit(SYS_UNLINK) ? -1 : table.unlink(path);
}

int sys_mkdir(const char *path, mode_t mode)
{
    return hit(SYS_MKDIR) ? -1 : table.mkdir(path, mode);
}

int sys_rmdir(const char *path)
{
    return hit(SYS_RMDIR) ? -1 : table.rmdir(path);
}

int sys_flock(int fd, int op)
{
    return hit(SYS_FLOCK) ? -1 : table.flock(fd, op);
}

DIR *sys_opendir(const char *path)
{
    return hit(SYS_OPEN) ? NULL : table.opendir(path);
}

void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return hit(SYS_MMAP) ? MAP_FAILED : table.mmap(addr, len, prot, flags, fd, off);
}

int sys_statvfs(const char *path, struct statvfs *out)
{
    return hit(SYS_STAT) ? -1 : table.statvfs(path, out);
}

/* ---- helpers ---- */

int sys_write_all(int fd, const void *buf, size_t len, uint64_t off, const char *path)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = sys_pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cairn_error_errno(errno, "writing %zu bytes at offset %llu of %s", len,
                                            (unsigned long long)off, path);
        if (n == 0) return cairn_error_errno(EIO, "writing %s: no progress at offset %llu", path,
                                             (unsigned long long)off);
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return CAIRN_OK;
}

int sys_read_full(int fd, void *buf, size_t len, uint64_t off, size_t *out_n, const char *path)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = sys_pread(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cairn_error_errno(errno, "reading %zu bytes at offset %llu of %s",
                                            len - done, (unsigned long long)(off + done), path);
        if (n == 0) break;
        done += (size_t)n;
    }
    *out_n = done;
    return CAIRN_OK;
}

int sys_free_bytes(const char *path, uint64_t *out)
{
    struct statvfs sv;
    if (sys_statvfs(path, &sv) != 0)
        return cairn_error_errno(errno, "asking how much room is left on the disk of %s", path);
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return CAIRN_OK;
}

int sys_fsync_dir(const char *dir)
{
    int fd = sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return cairn_error_errno(errno, "opening directory %s to sync it", dir);
    int rc = sys_fsync(fd) == 0 ? CAIRN_OK
                                : cairn_error_errno(errno, "syncing directory %s", dir);
    sys_close(fd);
    return rc;
}

/* The parent of path (caller frees): "." when path has no '/', "/" for "/x". */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return cairn_strdup(".");
    if (slash == path) return cairn_strdup("/");
    return cairn_strndup(path, (size_t)(slash - path));
}

int sys_mkdirs(const char *path, mode_t mode, bool durable)
{
    char *p = cairn_strdup(path);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    for (char *s = p + 1; rc == CAIRN_OK; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (sys_mkdir(p, mode) == 0) {
            if (durable) {
                char *parent = parent_of(p);
                rc = parent ? sys_fsync_dir(parent) : ERR(CAIRN_ENOMEM, "out of memory");
                free(parent);
            }
        } else if (errno != EEXIST) {
            rc = cairn_error_errno(errno, "creating directory %s", p);
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    return rc;
}

int sys_rename_durable(const char *from, const char *to)
{
    if (sys_rename(from, to) != 0)
        return cairn_error_errno(errno, "renaming %s to %s", from, to);
    char *dto = parent_of(to), *dfrom = parent_of(from);
    int rc = dto && dfrom ? sys_fsync_dir(dto) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK && strcmp(dto, dfrom) != 0) rc = sys_fsync_dir(dfrom);
    free(dto);
    free(dfrom);
    return rc;
}
