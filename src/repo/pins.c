/*
 * pins.c - reader pins (pins.h).
 *
 * A pin file: "CPIN", the number of ids (u32 LE), the CRC32C of the ids (u32 LE), 4 zero bytes,
 * then the ids (32 bytes each). The owner rewrites it in place (pwrite, then ftruncate when it
 * shrank), so gc may catch it half-written; the length and CRC tell, and gc reads it again.
 */
#include "repo/pins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"

#define READERS_DIR "readers"
#define EPOCH_FILE "gc-epoch"  /* in readers/: 8 bytes, u64 LE; never a pin */
#define REGISTER_TRIES 8
#define READ_TRIES 200         /* a torn file is read again this many times ... */
#define READ_PAUSE_NS 500000L  /* ... this far apart (0.1 s in all) */
#define RETRY 1                /* registration lost a race with gc: try again */

struct pins {
    pid_t owner;               /* a forked child closing an inherited handle leaves the file */
    int fd;
    char *path;
    pthread_mutex_t mu;        /* one rewrite at a time */
};

static atomic_ulong pin_seq;

static const uint8_t magic[4] = { 'C', 'P', 'I', 'N' };

int pins_decode(const uint8_t *p, size_t len, const uint8_t **ids, size_t *count)
{
    if (len < PINS_HEADER || memcmp(p, magic, 4) != 0 || load_le32(p + 12) != 0)
        return CORRUPT("not a reader pin file (bad header)");
    uint32_t n = load_le32(p + 4);
    if (n > PINS_MAX || len < PINS_HEADER + (size_t)n * CAIRN_ID_SIZE)
        return CORRUPT("reader pin file of %zu bytes does not hold the %u ids it declares", len, n);
    if (load_le32(p + 8) != hash_crc32c(0, p + PINS_HEADER, (size_t)n * CAIRN_ID_SIZE))
        return CORRUPT("reader pin file: the CRC of its ids does not match");
    *ids = p + PINS_HEADER;
    *count = n;
    return CAIRN_OK;
}

static int write_ids(pins *p, const cairn_id *ids, size_t n)
{
    FAIL_IF(n > PINS_MAX, CAIRN_EINVAL, "a reader cannot pin more than %d versions", PINS_MAX);
    size_t len = PINS_HEADER + n * CAIRN_ID_SIZE;
    uint8_t *buf = cairn_malloc(len);
    FAIL_IF(!buf, CAIRN_ENOMEM, "out of memory writing reader pins");
    memcpy(buf, magic, 4);
    store_le32(buf + 4, (uint32_t)n);
    store_le32(buf + 12, 0);
    for (size_t i = 0; i < n; i++) memcpy(buf + PINS_HEADER + i * CAIRN_ID_SIZE, ids[i].bytes, CAIRN_ID_SIZE);
    store_le32(buf + 8, hash_crc32c(0, buf + PINS_HEADER, n * CAIRN_ID_SIZE));
    int rc = CAIRN_OK;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(p->fd, buf + done, len - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = cairn_error_errno(w < 0 ? errno : EIO, "writing reader pin file %s", p->path);
            break;
        }
        done += (size_t)w;
    }
    if (rc == CAIRN_OK && ftruncate(p->fd, (off_t)len) != 0)
        rc = cairn_error_errno(errno, "writing reader pin file %s", p->path);
    free(buf);
    return rc;
}

/* repo_dir/readers, made if missing. Caller frees *out. */
static int readers_dir(char **out, const char *repo_dir)
{
    char *dir = cairn_sprintf("%s/" READERS_DIR, repo_dir);
    FAIL_IF(!dir, CAIRN_ENOMEM, "out of memory");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        int rc = cairn_error_errno(errno, "creating %s", dir);
        free(dir);
        return rc;
    }
    *out = dir;
    return CAIRN_OK;
}

int pins_register(pins **out, const char *repo_dir)
{
    char *dir = NULL;
    TRY(readers_dir(&dir, repo_dir));
    pins *p = cairn_calloc(1, sizeof *p);
    if (!p) {
        free(dir);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    p->fd = -1;
    p->owner = getpid();
    pthread_mutex_init(&p->mu, NULL);
    int rc = CAIRN_OK;
    for (int tries = 0; tries < REGISTER_TRIES; tries++) {
        unsigned long seq = atomic_fetch_add(&pin_seq, 1);
        uint64_t salt;
        if (getrandom(&salt, sizeof salt, 0) != (ssize_t)sizeof salt) /* then time will do */
            salt = (uint64_t)clock_wall_ns() ^ ((uint64_t)seq << 48);
        char *tmp = cairn_sprintf("%s/.new-%ld-%lu-%016llx", dir, (long)getpid(), seq,
                                  (unsigned long long)salt);
        free(p->path);
        p->path = cairn_sprintf("%s/%ld-%lu-%016llx.pin", dir, (long)getpid(), seq,
                                (unsigned long long)salt);
        if (!tmp || !p->path) {
            free(tmp);
            rc = ERR(CAIRN_ENOMEM, "out of memory");
            break;
        }
        /* made under a dot name and locked before it gets the name gc reads */
        p->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (p->fd < 0) rc = cairn_error_errno(errno, "creating reader pin file %s", tmp);
        else if (flock(p->fd, LOCK_SH) != 0) rc = cairn_error_errno(errno, "locking %s", tmp);
        else rc = write_ids(p, NULL, 0);
        /* link, not rename: were a dead reader's file to have this name, gc, having locked it,
         * removes the name; replacing it under gc would lose ours (the random part makes that
         * unlikely; link makes it harmless) */
        if (rc == CAIRN_OK && link(tmp, p->path) != 0) {
            /* ENOENT: gc found it unlocked in the moment before flock and removed it */
            rc = errno == ENOENT || errno == EEXIST
                     ? RETRY
                     : cairn_error_errno(errno, "naming reader pin file %s", p->path);
        }
        unlink(tmp);
        free(tmp);
        if (rc != RETRY) break;
        close(p->fd);
        p->fd = -1;
    }
    free(dir);
    if (rc == RETRY) rc = ERR(CAIRN_EIO, "could not register a reader pin in %s", repo_dir);
    if (rc < 0) {
        if (p->fd >= 0) close(p->fd);
        p->fd = -1;
        free(p->path);
        p->path = NULL;
        pins_close(p);
        return rc;
    }
    *out = p;
    return CAIRN_OK;
}

int pins_set(pins *p, const cairn_id *ids, size_t n)
{
    pthread_mutex_lock(&p->mu);
    int rc = write_ids(p, ids, n);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pins_close(pins *p)
{
    if (!p) return;
    if (p->path && getpid() == p->owner) unlink(p->path);
    if (p->fd >= 0) close(p->fd); /* releases the lock (the owner's stays while it holds its) */
    free(p->path);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Reads a live reader's file until it decodes, appending its ids. */
static int read_live(int fd, const char *path, cairn_id **ids, size_t *n, size_t *cap)
{
    size_t max = PINS_HEADER + (size_t)PINS_MAX * CAIRN_ID_SIZE;
    uint8_t *buf = cairn_malloc(max + 1);
    FAIL_IF(!buf, CAIRN_ENOMEM, "out of memory reading reader pins");
    int rc = CAIRN_ECORRUPT;
    for (int t = 0; t < READ_TRIES && rc == CAIRN_ECORRUPT; t++) {
        if (t) nanosleep(&(struct timespec){ 0, READ_PAUSE_NS }, NULL);
        ssize_t r = pread(fd, buf, max + 1, 0);
        if (r < 0) {
            rc = cairn_error_errno(errno, "reading reader pin file %s", path);
            break;
        }
        const uint8_t *p;
        size_t count;
        rc = pins_decode(buf, (size_t)r, &p, &count);
        for (size_t i = 0; rc == CAIRN_OK && i < count; i++) {
            rc = cairn_array_room(ids, cap, *n, sizeof **ids, 64); /* room for one more */
            if (rc == CAIRN_OK) memcpy((*ids)[(*n)++].bytes, p + i * CAIRN_ID_SIZE, CAIRN_ID_SIZE);
        }
    }
    if (rc == CAIRN_ECORRUPT)
        rc = cairn_error_prefix(rc, "reader pin file %s of a running reader (read %d times); "
                                "nothing was deleted; retry, or stop that reader", path,
                                READ_TRIES);
    free(buf);
    return rc;
}

int pins_epoch(const char *repo_dir, uint64_t *out)
{
    char *path = cairn_sprintf("%s/" READERS_DIR "/" EPOCH_FILE, repo_dir);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
    *out = 0;
    int rc = CAIRN_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) rc = cairn_error_errno(errno, "reading the gc epoch %s", path);
    } else {
        uint8_t b[8];
        ssize_t r = pread(fd, b, sizeof b, 0);
        if (r == (ssize_t)sizeof b) *out = load_le64(b);
        else if (r != 0) rc = cairn_error_errno(r < 0 ? errno : EIO, "reading the gc epoch %s", path);
        close(fd);
    }
    free(path);
    return rc;
}

int pins_epoch_bump(const char *repo_dir)
{
    char *dir = NULL;
    TRY(readers_dir(&dir, repo_dir));
    char *path = cairn_sprintf("%s/" EPOCH_FILE, dir);
    free(dir);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) rc = cairn_error_errno(errno, "opening the gc epoch %s", path);
    if (rc == CAIRN_OK) {
        uint8_t b[8] = { 0 };
        ssize_t r = pread(fd, b, sizeof b, 0);
        uint64_t e = r == (ssize_t)sizeof b ? load_le64(b) : 0;
        store_le64(b, e + 1);
        if (pwrite(fd, b, sizeof b, 0) != (ssize_t)sizeof b)
            rc = cairn_error_errno(errno, "writing the gc epoch %s", path);
    }
    if (fd >= 0) close(fd);
    free(path);
    return rc;
}

int pins_collect(const char *repo_dir, cairn_id **ids, size_t *n, size_t *cap)
{
    char *dir = cairn_sprintf("%s/" READERS_DIR, repo_dir);
    FAIL_IF(!dir, CAIRN_ENOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        free(dir);
        if (e == ENOENT) return CAIRN_OK; /* no reader ever registered */
        return cairn_error_errno(e, "listing reader pins in %s/" READERS_DIR, repo_dir);
    }
    int rc = CAIRN_OK;
    struct dirent *de;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, EPOCH_FILE) == 0)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) rc = cairn_error_errno(errno, "opening reader pin file %s/%s", dir, de->d_name);
            continue;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            unlinkat(dirfd(d), de->d_name, 0); /* nobody holds it: its reader is gone */
        } else if (errno != EWOULDBLOCK) {
            rc = cairn_error_errno(errno, "locking reader pin file %s/%s", dir, de->d_name);
        } else if (de->d_name[0] != '.') { /* a dot name is a reader still registering */
            char *path = cairn_sprintf("%s/%s", dir, de->d_name);
            rc = path ? read_live(fd, path, ids, n, cap) : ERR(CAIRN_ENOMEM, "out of memory");
            free(path);
        }
        close(fd);
    }
    closedir(d);
    free(dir);
    return rc;
}
