/*
 * pins.c - reader pins (pins.h).
 *
 * A pin file: "CPIN", the number of ids (u32 LE), the CRC32C of the ids (u32 LE), 4 zero bytes,
 * then the ids (32 bytes each). The owner rewrites it in place (a write, then a resize when it
 * shrank), so gc may catch it half-written; the length and CRC tell, and gc reads it again.
 * Every file access is a call of the store's file_* methods.
 */
#include "repo/pins.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
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
    cairn_store *st;
    cairn_store_file *f;
    char *path;                /* its name in the store */
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

bool pins_supported(const cairn_store *st)
{
    unsigned need = CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS;
    return st && st->version >= 3 && (st->caps & need) == need;
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
    cairn_store *st = p->st;
    int rc = st->file_write(st, p->f, buf, len, 0);
    if (rc == CAIRN_OK) rc = st->file_resize(st, p->f, len);
    if (rc < 0) rc = cairn_error_prefix(rc, "writing reader pin file %s", p->path);
    free(buf);
    return rc;
}

int pins_register(pins **out, cairn_store *st)
{
    FAIL_IF(!pins_supported(st), CAIRN_EUNSUPPORTED,
            "the %s store %s keeps no reader pins (it has no file namespace with locks that "
            "other processes see)", st->kind, st->location);
    pins *p = cairn_calloc(1, sizeof *p);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory");
    p->st = st;
    p->owner = getpid();
    pthread_mutex_init(&p->mu, NULL);
    int rc = CAIRN_OK;
    for (int tries = 0; tries < REGISTER_TRIES; tries++) {
        unsigned long seq = atomic_fetch_add(&pin_seq, 1);
        uint64_t salt;
        if (getrandom(&salt, sizeof salt, 0) != (ssize_t)sizeof salt) /* then time will do */
            salt = (uint64_t)clock_wall_ns() ^ ((uint64_t)seq << 48);
        char *tmp = cairn_sprintf(READERS_DIR "/.new-%ld-%lu-%016llx", (long)getpid(), seq,
                                  (unsigned long long)salt);
        free(p->path);
        p->path = cairn_sprintf(READERS_DIR "/%ld-%lu-%016llx.pin", (long)getpid(), seq,
                                (unsigned long long)salt);
        if (!tmp || !p->path) {
            free(tmp);
            rc = ERR(CAIRN_ENOMEM, "out of memory");
            break;
        }
        /* made under a dot name and locked before it gets the name gc reads */
        rc = st->file_open(st, &p->f, tmp, CAIRN_FILE_WRITE | CAIRN_FILE_CREATE | CAIRN_FILE_EXCL);
        if (rc < 0) rc = cairn_error_prefix(rc, "creating reader pin file %s", tmp);
        else if ((rc = st->file_lock(st, p->f, CAIRN_FILE_LOCK_SHARED)) < 0)
            rc = cairn_error_prefix(rc, "locking reader pin file %s", tmp);
        else rc = write_ids(p, NULL, 0);
        /* never replacing: were a dead reader's file to have this name, gc, having locked it,
         * removes the name; replacing it under gc would lose ours (the random part makes that
         * unlikely; not replacing makes it harmless) */
        bool named = false;
        if (rc == CAIRN_OK) {
            rc = st->file_rename(st, tmp, p->path, false);
            named = rc == CAIRN_OK;
            /* ENOTFOUND: gc found it unlocked in the moment before the lock and removed it */
            if (rc == CAIRN_ENOTFOUND || rc == CAIRN_EEXIST) rc = RETRY, cairn_error_clear();
            else if (rc < 0) rc = cairn_error_prefix(rc, "naming reader pin file %s", p->path);
        }
        if (!named && p->f) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
            if (st->file_remove(st, tmp) < 0) { /* the failure that matters is the first */
                if (rc < 0) cairn_error_set(rc, "%s", msg);
                else cairn_error_clear();
            }
        }
        free(tmp);
        if (rc != RETRY) break;
        st->file_close(st, p->f);
        p->f = NULL;
    }
    if (rc == RETRY) rc = ERR(CAIRN_EIO, "could not register a reader pin in %s/" READERS_DIR,
                              st->location);
    if (rc < 0) {
        st->file_close(st, p->f);
        p->f = NULL;
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
    if (p->path && getpid() == p->owner && p->st->file_remove(p->st, p->path) < 0)
        cairn_error_clear();
    if (p->f) p->st->file_close(p->st, p->f); /* drops the lock (the owner's stays while it
                                                 holds its) */
    free(p->path);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Reads a live reader's file until it decodes, appending its ids. */
static int read_live(cairn_store *st, cairn_store_file *f, const char *path, cairn_id **ids,
                     size_t *n, size_t *cap)
{
    size_t max = PINS_HEADER + (size_t)PINS_MAX * CAIRN_ID_SIZE;
    uint8_t *buf = cairn_malloc(max + 1);
    FAIL_IF(!buf, CAIRN_ENOMEM, "out of memory reading reader pins");
    int rc = CAIRN_ECORRUPT;
    for (int t = 0; t < READ_TRIES && rc == CAIRN_ECORRUPT; t++) {
        if (t) nanosleep(&(struct timespec){ 0, READ_PAUSE_NS }, NULL);
        size_t r = 0;
        rc = st->file_read(st, f, buf, max + 1, 0, &r);
        if (rc < 0) {
            rc = cairn_error_prefix(rc, "reading reader pin file %s", path);
            break;
        }
        const uint8_t *p;
        size_t count;
        rc = pins_decode(buf, r, &p, &count);
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

int pins_epoch(cairn_store *st, uint64_t *out)
{
    *out = 0;
    cairn_store_file *f = NULL;
    int rc = st->file_open(st, &f, READERS_DIR "/" EPOCH_FILE, 0);
    if (rc == CAIRN_ENOTFOUND) { /* no gc ever started */
        cairn_error_clear();
        return CAIRN_OK;
    }
    uint8_t b[8];
    size_t r = 0;
    if (rc == CAIRN_OK) rc = st->file_read(st, f, b, sizeof b, 0, &r);
    if (rc == CAIRN_OK && r == sizeof b) *out = load_le64(b);
    else if (rc == CAIRN_OK && r != 0)
        rc = CORRUPT("the gc epoch is damaged (%zu bytes, not 8); the next gc of a writer "
                     "rewrites it", r);
    st->file_close(st, f);
    return rc < 0 ? cairn_error_prefix(rc, "reading the gc epoch %s/" READERS_DIR "/" EPOCH_FILE,
                                       st->location)
                  : CAIRN_OK;
}

void pins_epoch_prepare(cairn_store *st)
{
    cairn_store_file *f = NULL;
    if (st->file_open(st, &f, READERS_DIR "/" EPOCH_FILE, 0) == CAIRN_OK) {
        st->file_close(st, f); /* there already (or made empty: read as 0, rewritten by gc) */
        return;
    }
    int rc = st->file_open(st, &f, READERS_DIR "/" EPOCH_FILE,
                           CAIRN_FILE_WRITE | CAIRN_FILE_CREATE);
    uint8_t zero[8] = { 0 };
    if (rc == CAIRN_OK) st->file_write(st, f, zero, sizeof zero, 0);
    st->file_close(st, f);
    cairn_error_clear();
}

int pins_epoch_bump(cairn_store *st)
{
    cairn_store_file *f = NULL;
    int rc = st->file_open(st, &f, READERS_DIR "/" EPOCH_FILE,
                           CAIRN_FILE_WRITE | CAIRN_FILE_CREATE);
    uint8_t b[8] = { 0 };
    size_t r = 0;
    if (rc == CAIRN_OK) rc = st->file_read(st, f, b, sizeof b, 0, &r);
    if (rc == CAIRN_OK) {
        store_le64(b, (r == sizeof b ? load_le64(b) : 0) + 1);
        rc = st->file_write(st, f, b, sizeof b, 0);
    }
    st->file_close(st, f);
    return rc < 0 ? cairn_error_prefix(rc, "writing the gc epoch %s/" READERS_DIR "/" EPOCH_FILE,
                                       st->location)
                  : CAIRN_OK;
}

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int note(const char *name, uint64_t size, void *payload)
{
    names *l = payload;
    size_t len = strlen(name);
    if (len == 0 || name[len - 1] == '/' || strcmp(name, EPOCH_FILE) == 0) return CAIRN_OK;
    TRY(cairn_array_room(&l->v, &l->cap, l->n, sizeof *l->v, 16));
    l->v[l->n] = cairn_strdup(name);
    FAIL_IF(!l->v[l->n], CAIRN_ENOMEM, "out of memory");
    l->n++;
    return CAIRN_OK;
}

/* One file of readers/: removed when its lock is free, read when a live reader holds it. */
static int collect_one(cairn_store *st, const char *leaf, cairn_id **ids, size_t *n, size_t *cap)
{
    char *path = cairn_sprintf(READERS_DIR "/%s", leaf);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
    cairn_store_file *f = NULL;
    int rc = st->file_open(st, &f, path, 0);
    if (rc == CAIRN_ENOTFOUND) { /* its reader closed meanwhile */
        cairn_error_clear();
        free(path);
        return CAIRN_OK;
    }
    if (rc < 0) rc = cairn_error_prefix(rc, "opening reader pin file %s", path);
    int lrc = rc == CAIRN_OK ? st->file_lock(st, f, CAIRN_FILE_LOCK_EXCLUSIVE | CAIRN_FILE_LOCK_NOWAIT)
                             : rc;
    if (rc < 0) {
        /* reported below */
    } else if (lrc == CAIRN_OK) { /* nobody holds it: its reader is gone */
        if (st->file_remove(st, path) < 0) cairn_error_clear();
    } else if (lrc != CAIRN_EBUSY) {
        rc = cairn_error_prefix(lrc, "locking reader pin file %s", path);
    } else {
        cairn_error_clear();
        if (leaf[0] != '.') /* a dot name is a reader still registering */
            rc = read_live(st, f, path, ids, n, cap);
    }
    st->file_close(st, f);
    free(path);
    return rc;
}

int pins_collect(cairn_store *st, cairn_id **ids, size_t *n, size_t *cap)
{
    if (!pins_supported(st)) return CAIRN_OK; /* no reader can have pinned anything */
    names l = { NULL, 0, 0 };
    int rc = st->file_list(st, READERS_DIR, note, &l);
    if (rc < 0) rc = cairn_error_prefix(rc, "listing reader pins in %s/" READERS_DIR, st->location);
    for (size_t i = 0; rc == CAIRN_OK && i < l.n; i++) rc = collect_one(st, l.v[i], ids, n, cap);
    for (size_t i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    return rc;
}
