/*
 * sys.h - every file-system call the engine makes, through one table of function pointers.
 *
 * The local store, the write-ahead log's file backend, reader pins and key files call sys_open(),
 * sys_pwrite(), sys_fsync() ... instead of the libc functions, so that a test can make any call
 * fail: the Nth fsync, the 3rd rename, every write from the 10th on with ENOSPC (SQLite's
 * os_unix.c keeps its system calls in aSyscall[] for the same reason). A call that fails by
 * injection returns -1 with errno set, exactly as the real call would; nothing else changes.
 *
 * The wrappers are thin: no retries, no messages. The helpers at the end (sys_write_all,
 * sys_fsync_dir, sys_mkdirs, sys_rename_durable) are the file operations several modules need,
 * written once, with messages that name the path.
 *
 * Fault injection is process-wide test machinery (the only mutable global state outside the
 * engine's handles) and costs one relaxed atomic load per call when unused.
 */
#ifndef CAIRN_BASE_SYS_H
#define CAIRN_BASE_SYS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* The calls that can be made to fail. fdatasync counts as SYS_FSYNC; pread and read as
 * SYS_READ; opendir as SYS_OPEN; statvfs as SYS_STAT. */
typedef enum sys_op {
    SYS_OPEN,
    SYS_READ,
    SYS_WRITE,
    SYS_FSYNC,
    SYS_TRUNCATE,
    SYS_ALLOCATE,
    SYS_RENAME,
    SYS_LINK,
    SYS_UNLINK,
    SYS_MKDIR,
    SYS_RMDIR,
    SYS_FLOCK,
    SYS_STAT,
    SYS_MMAP,
    SYS_OP_COUNT
} sys_op;

/* The table. Members may be replaced (sys_table_set) by a test; NULL restores the default. */
typedef struct sys_table {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
    int (*fsync)(int fd);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*fallocate)(int fd, off_t off, off_t len); /* posix_fallocate: returns an errno value */
    int (*fstat)(int fd, struct stat *out);
    int (*stat)(const char *path, struct stat *out);
    int (*rename)(const char *from, const char *to);
    int (*link)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*rmdir)(const char *path);
    int (*flock)(int fd, int op);
    DIR *(*opendir)(const char *path);
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*statvfs)(const char *path, struct statvfs *out);
} sys_table;

/** Replaces the whole table (NULL members keep the defaults); NULL restores every default. */
void sys_table_set(const sys_table *t);

/* ---- fault injection (tests) ---- */

/** Makes the nth call of op from now on (1 = the next) fail with err; with `sticky`, that call
 *  and every later one fail (a full disk). nth = 0 clears the fault of op. */
void sys_fault(sys_op op, uint64_t nth, int err, bool sticky);
/** Clears every fault. */
void sys_fault_clear(void);
/** Calls of op made since the process started (injected failures included). */
uint64_t sys_calls(sys_op op);
/** Failures injected so far, over all ops. */
uint64_t sys_faults_fired(void);

/* ---- the calls ---- */

int sys_open(const char *path, int flags, mode_t mode);
int sys_close(int fd);
ssize_t sys_pread(int fd, void *buf, size_t len, off_t off);
ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off);
int sys_fsync(int fd);
int sys_fdatasync(int fd);
int sys_ftruncate(int fd, off_t len);
/** posix_fallocate(), but -1 with errno set on failure like the others. */
int sys_fallocate(int fd, off_t off, off_t len);
int sys_fstat(int fd, struct stat *out);
int sys_stat(const char *path, struct stat *out);
int sys_rename(const char *from, const char *to);
int sys_link(const char *from, const char *to);
int sys_unlink(const char *path);
int sys_mkdir(const char *path, mode_t mode);
int sys_rmdir(const char *path);
int sys_flock(int fd, int op);
DIR *sys_opendir(const char *path);
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int sys_statvfs(const char *path, struct statvfs *out);

/* ---- helpers (cairn status codes, messages naming the path) ---- */

/** Writes all of buf at off (retrying short writes and EINTR). `path` names the file in the
 *  message. @return CAIRN_OK or the errno's code (CAIRN_ENOSPC, CAIRN_EIO, ...). */
int sys_write_all(int fd, const void *buf, size_t len, uint64_t off, const char *path);
/** Reads up to len bytes at off into buf, fewer only at end of file: *out_n says how many.
 *  @return CAIRN_OK or CAIRN_EIO. */
int sys_read_full(int fd, void *buf, size_t len, uint64_t off, size_t *out_n, const char *path);
/** fsync()s a directory, making the creations, renames and removals in it durable. */
int sys_fsync_dir(const char *dir);
/** Creates path and its missing parents with `mode`; each directory made is fsynced into its
 *  parent when `durable`. An existing directory is fine. */
int sys_mkdirs(const char *path, mode_t mode, bool durable);
/** The bytes an unprivileged writer may still add to the file system holding path (statvfs's
 *  f_bavail blocks of f_frsize bytes). @return CAIRN_OK or the errno's code. */
int sys_free_bytes(const char *path, uint64_t *out);
/** rename(from, to), then an fsync of to's directory (and of from's, when it differs), so the
 *  move survives a crash. */
int sys_rename_durable(const char *from, const char *to);

#endif /* CAIRN_BASE_SYS_H */
