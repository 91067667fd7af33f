/*
 * local.c - the local store: chunks in append-only pack files, refs in small files, in one
 * repository directory (the byte layout is in docs/FORMAT.md ("Local store")).
 *
 * One writer process at a time holds an flock on DIR/LOCK for its whole life; any number of
 * reader processes open the same directory without a lock and never write. The writer appends
 * records (chunk or tombstone) to the newest pack through a 1 MiB write buffer; flush() writes
 * the buffer and fdatasyncs, and only then is anything durable. Each sealed pack gets an index
 * file (.idx) so that open does not have to read the packs; the packs are the truth and an
 * index is rebuilt from its pack whenever it is missing, damaged or stale.
 *
 * In memory: an open-addressing hash table maps a key to (pack, record offset, payload length),
 * guarded by a writer-preferring rwlock. Reads pread from per-pack file descriptors that stay
 * open, so readers do not serialise on I/O; or, through get_mapped, point straight into
 * read-only mappings of the packs (no syscall, no copy, no fresh memory: the page cache is used
 * in place, as LMDB does). Records never move within a pack and packs are never truncated below
 * indexed records, so a mapping stays valid until close; mappings are only ever added. Every
 * read re-checks the record's XXH3 checksum and key: a damaged pack is reported as
 * CAIRN_ECORRUPT where it is found.
 *
 * Recovery: a bad or incomplete record in the last pack is a torn tail from a crash: the writer
 * moves the bytes from there to EOF into quarantine/ and truncates (never destroying bytes); a
 * reader stops there silently (the writer may be mid-append) and looks again later. A bad
 * record in an earlier pack is corruption: logged, never truncated.
 *
 * Freshness: readers (and read-only handles in the writer's own process) pick up what another
 * process appended by rescanning the tail of the last pack and looking for new pack files when
 * a get or has misses, then retrying once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store.h"
#include "store/local_files.h"
#include "store/refslot.h"

/* ---- on-disk constants (docs/FORMAT.md ("Local store")) ---- */

#define MARKER_FILE "CAIRN"
#define MARKER_TEXT "cairn repository\nformat 1\n"
#define MARKER_FIRST_LINE "cairn repository\n"
#define REPO_FORMAT 1

#define PACK_MAGIC "CAIRNPK" /* 7 characters and the NUL: the 8 magic bytes */
#define IDX_MAGIC "CAIRNIX"
#define MAGIC_SIZE 8
#define PACK_VERSION 1
#define IDX_VERSION 1
#define PACK_HEADER_SIZE 16

#define REC_CHUNK 1
#define REC_TOMBSTONE 2
#define REC_LEN_SIZE 4                              /* u32 body_len */
#define REC_CHECK_SIZE 8                            /* u64 XXH3 of the body */
#define REC_BODY_MIN (1 + CAIRN_ID_SIZE)            /* type + key */
#define REC_PAYLOAD_MAX ((16u << 20) + 64)          /* largest chunk frame */
#define REC_BODY_MAX (REC_BODY_MIN + REC_PAYLOAD_MAX)
#define REC_OVERHEAD (REC_LEN_SIZE + REC_BODY_MIN + REC_CHECK_SIZE)
#define REC_PAYLOAD_AT (REC_LEN_SIZE + REC_BODY_MIN) /* payload offset within a record */

#define IDX_HEADER_SIZE 32  /* magic, version, reserved, covered_len, count */
#define IDX_ENTRY_SIZE 48   /* key, offset, payload length, type, 3 zero bytes */
#define IDX_TRAILER_SIZE 8  /* XXH3 of everything before it */

/* ---- tunables ---- */

#define WBUF_CAP (1u << 20)          /* write buffer: written out when a record would overflow it */
#define SCAN_BLOCK (4u << 20)        /* sequential read size when scanning packs */
#define COPY_BLOCK (1u << 20)        /* quarantine copy size */
#define PACK_MAX_DEFAULT (128ull << 20)
#define LOCK_RETRY_NS (10 * 1000 * 1000)
#define SLOTS_INITIAL 1024
#define SLOT_FREE UINT32_MAX
#define PACK_MAPS_MAX 32             /* mappings per pack; past that, reads copy */

/* A read-only mapping of pack bytes [start, start + len). */
typedef struct pack_map {
    const uint8_t *base;
    uint64_t start, len;
} pack_map;

typedef struct pack {
    uint32_t num;
    int fd;               /* kept open for reads; -1 once compaction retired the pack */
    uint64_t end;         /* records below this offset are indexed; 0 = header not checked yet */
    bool stopped;         /* the last scan stopped at a bad or incomplete record at `end` */
    bool reported;        /* its corruption has been logged */
    uint64_t live;        /* bytes of the records the index points at in this pack */
    uint64_t idx_covered; /* covered_len of the valid .idx on disk; 0 if none */
    pack_map maps[PACK_MAPS_MAX]; /* appended under map_mu, read without it */
    atomic_uint nmaps;
} pack;

/* One hash table slot: where the current record of a key is. */
typedef struct slot {
    cairn_id key;
    uint64_t off; /* record offset in the pack */
    uint32_t len; /* payload length */
    uint32_t pi;  /* index into packs[]; SLOT_FREE when empty */
} slot;

/* A record seen in one pack, kept to write that pack's .idx. */
typedef struct rec {
    cairn_id key;
    uint64_t off;
    uint32_t len;
    uint8_t type;
} rec;

typedef struct recvec {
    rec *v;
    size_t n, cap;
} recvec;

typedef struct local_store {
    cairn_store base;
    dirfiles *files;           /* the file namespace (local_files.c): second, as dirfiles_head */
    char *dir, *packs_dir, *refs_dir, *tmp_dir, *quar_dir;
    bool readonly;
    int lock_fd;

    pthread_rwlock_t mu;       /* the index, packs[], the write buffer, cur_recs */
    pthread_mutex_t sync_mu;   /* serialises flush() with retiring packs (fds stay valid) */
    pthread_mutex_t ref_mu;    /* makes ref_cas atomic within the process */
    pthread_mutex_t refresh_mu;/* one refresh at a time (readers) */
    pthread_mutex_t compact_mu;
    pthread_mutex_t map_mu;    /* adding mappings (lock order: mu, then map_mu) */
    atomic_ulong refresh_seq;  /* refreshes started: racing misses share one that began later */
    atomic_ulong tmp_seq;      /* unique temp file names */

    slot *slots;
    size_t mask, n;            /* capacity - 1, keys present */
    uint64_t bytes;            /* payload bytes of present chunks */

    pack **packs;              /* by pack number, ascending; retired packs keep their slot */
    size_t npacks, cappacks, nopen;

    /* writer only */
    pack *cur;                 /* the pack being appended to */
    uint32_t cur_pi;
    cairn_buf wbuf;            /* records not yet written to cur */
    uint64_t wbuf_off;         /* file offset of wbuf.data[0] */
    recvec cur_recs;           /* records of cur (for its .idx) */
    uint64_t pack_max;
    unsigned dir_gen, dir_synced_gen; /* pack files created vs. covered by a packs/ fsync */
    uint32_t synced_num;     /* the current pack is synced up to synced_end when its number is */
    uint64_t synced_end;     /* synced_num (flush skips an fdatasync that would sync nothing) */
    bool poisoned;             /* an fsync failed: the page cache can no longer be trusted */
} local_store;

static int local_flush(cairn_store *st);

_Static_assert(offsetof(local_store, files) == offsetof(dirfiles_head, files),
               "local_store must begin as a dirfiles_head");

/* ---------------------------------------------------------------------------------------------
 * File helpers
 * ------------------------------------------------------------------------------------------- */

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Reads up to len bytes at off; fewer only at end of file. -1 on error (errno set). */
static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cairn_error_errno(errno, "opening directory %s to sync it", path);
    int rc = CAIRN_OK;
    if (fsync(fd) != 0) rc = cairn_error_errno(errno, "syncing directory %s", path);
    close(fd);
    return rc;
}

/* The directory part of path (caller frees), "." when there is none. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return cairn_strdup(".");
    if (slash == path) return cairn_strdup("/");
    return cairn_strndup(path, (size_t)(slash - path));
}

/* mkdir -p; each directory it creates is made durable in its parent. */
static int mkdir_p(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        FAIL_IF(!S_ISDIR(sb.st_mode), CAIRN_EINVAL, "%s exists and is not a directory", path);
        return CAIRN_OK;
    }
    if (errno != ENOENT) return cairn_error_errno(errno, "checking %s", path);
    char *parent = parent_of(path);
    if (!parent) return ERR(CAIRN_ENOMEM, "out of memory creating %s", path);
    int rc = strcmp(parent, path) != 0 ? mkdir_p(parent) : CAIRN_OK;
    if (rc == CAIRN_OK) {
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            rc = cairn_error_errno(errno, "creating directory %s", path);
        else
            rc = fsync_dir(parent);
    }
    free(parent);
    return rc;
}

static char *tmp_name(local_store *ls)
{
    unsigned long seq = atomic_fetch_add(&ls->tmp_seq, 1);
    return cairn_sprintf("%s/w%ld-%lu.tmp", ls->tmp_dir, (long)getpid(), seq);
}

/* Writes data to path atomically: a temp file in tmp/, fsync, rename, fsync of path's
 * directory. On failure path is untouched and the temp file removed. */
static int write_atomic(local_store *ls, const char *path, const void *data, size_t len)
{
    char *tmp = tmp_name(ls);
    char *parent = parent_of(path);
    int rc = CAIRN_OK;
    if (!tmp || !parent) {
        rc = ERR(CAIRN_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = cairn_error_errno(errno, "creating temp file %s (for %s)", tmp, path);
        goto out;
    }
    if (write_full(fd, data, len, 0) != 0) rc = cairn_error_errno(errno, "writing %s", tmp);
    else if (fsync(fd) != 0) rc = cairn_error_errno(errno, "syncing %s", tmp);
    close(fd);
    if (rc == CAIRN_OK && rename(tmp, path) != 0)
        rc = cairn_error_errno(errno, "renaming %s to %s", tmp, path);
    if (rc != CAIRN_OK) unlink(tmp);
    else rc = fsync_dir(parent);
out:
    free(tmp);
    free(parent);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * The in-memory index: open addressing, linear probing, backward-shift deletion
 * ------------------------------------------------------------------------------------------- */

static inline size_t key_home(const local_store *ls, const cairn_id *k)
{
    /* Keys are hashes in practice, but mixing keeps structured keys (tests, tools) cheap too. */
    return (size_t)XXH3_64bits(k->bytes, CAIRN_ID_SIZE) & ls->mask;
}

static slot *idx_find(const local_store *ls, const cairn_id *key)
{
    size_t i = key_home(ls, key);
    for (;;) {
        slot *s = &ls->slots[i];
        if (s->pi == SLOT_FREE) return NULL;
        if (memcmp(s->key.bytes, key->bytes, CAIRN_ID_SIZE) == 0) return s;
        i = (i + 1) & ls->mask;
    }
}

static int idx_alloc(local_store *ls, size_t cap)
{
    slot *ns = cairn_malloc(cap * sizeof *ns);
    if (!ns) return ERR(CAIRN_ENOMEM, "local store %s: out of memory for an index of %zu keys",
                        ls->dir, cap);
    for (size_t i = 0; i < cap; i++) ns[i].pi = SLOT_FREE;
    slot *old = ls->slots;
    size_t oldcap = old ? ls->mask + 1 : 0;
    ls->slots = ns;
    ls->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].pi == SLOT_FREE) continue;
        size_t j = key_home(ls, &old[i].key);
        while (ns[j].pi != SLOT_FREE) j = (j + 1) & ls->mask;
        ns[j] = old[i];
    }
    free(old);
    return CAIRN_OK;
}

/* Makes room for `extra` more keys at a load factor of at most 3/4. */
static int idx_reserve(local_store *ls, size_t extra)
{
    size_t cap = ls->mask + 1, need = ls->n + extra;
    if (need <= cap / 4 * 3) return CAIRN_OK;
    while (need > cap / 4 * 3) cap *= 2;
    return idx_alloc(ls, cap);
}

static inline uint64_t rec_size(uint64_t payload_len) { return REC_OVERHEAD + payload_len; }

/* Points key at (pi, off, len), replacing an older location. */
static int idx_set(local_store *ls, const cairn_id *key, uint32_t pi, uint64_t off, uint32_t len)
{
    TRY(idx_reserve(ls, 1));
    size_t i = key_home(ls, key);
    while (ls->slots[i].pi != SLOT_FREE &&
           memcmp(ls->slots[i].key.bytes, key->bytes, CAIRN_ID_SIZE) != 0)
        i = (i + 1) & ls->mask;
    slot *s = &ls->slots[i];
    if (s->pi != SLOT_FREE) {
        ls->packs[s->pi]->live -= rec_size(s->len);
        ls->bytes -= s->len;
    } else {
        s->key = *key;
        ls->n++;
    }
    s->pi = pi;
    s->off = off;
    s->len = len;
    ls->packs[pi]->live += rec_size(len);
    ls->bytes += len;
    return CAIRN_OK;
}

static void idx_remove(local_store *ls, slot *s)
{
    ls->packs[s->pi]->live -= rec_size(s->len);
    ls->bytes -= s->len;
    ls->n--;
    size_t i = (size_t)(s - ls->slots), j = i;
    for (;;) {
        j = (j + 1) & ls->mask;
        if (ls->slots[j].pi == SLOT_FREE) break;
        size_t h = key_home(ls, &ls->slots[j].key);
        /* slot j may move back into the hole at i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            ls->slots[i] = ls->slots[j];
            i = j;
        }
    }
    ls->slots[i].pi = SLOT_FREE;
}

static int recvec_reserve(recvec *rv, size_t extra)
{
    if (rv->n + extra <= rv->cap) return CAIRN_OK;
    size_t ncap = rv->cap ? rv->cap * 2 : 256;
    while (ncap < rv->n + extra) ncap *= 2;
    rec *nv = cairn_realloc(rv->v, ncap * sizeof *nv);
    if (!nv) return ERR(CAIRN_ENOMEM, "out of memory indexing a pack (%zu records)", rv->n);
    rv->v = nv;
    rv->cap = ncap;
    return CAIRN_OK;
}

static int recvec_push(recvec *rv, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    TRY(recvec_reserve(rv, 1));
    rec *r = &rv->v[rv->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->key.bytes, key, CAIRN_ID_SIZE);
    r->off = off;
    r->len = len;
    r->type = type;
    return CAIRN_OK;
}

static void recvec_free(recvec *rv)
{
    free(rv->v);
    rv->v = NULL;
    rv->n = rv->cap = 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = memcmp(x->key.bytes, y->key.bytes, CAIRN_ID_SIZE);
    if (c) return c;
    return (x->off > y->off) - (x->off < y->off);
}

static int rec_cmp_key(const void *a, const void *b)
{
    return memcmp(((const rec *)a)->key.bytes, ((const rec *)b)->key.bytes, CAIRN_ID_SIZE);
}

/* Sorts by key and keeps the last record of each key: the pack's effect on the index. */
static void recvec_settle(recvec *rv)
{
    if (rv->n < 2) return;
    qsort(rv->v, rv->n, sizeof *rv->v, rec_cmp);
    size_t o = 0;
    for (size_t i = 0; i < rv->n; i++) {
        if (o > 0 && memcmp(rv->v[o - 1].key.bytes, rv->v[i].key.bytes, CAIRN_ID_SIZE) == 0)
            rv->v[o - 1] = rv->v[i];
        else
            rv->v[o++] = rv->v[i];
    }
    rv->n = o;
}

/* ---------------------------------------------------------------------------------------------
 * Packs: paths, scanning, index files
 * ------------------------------------------------------------------------------------------- */

static char *pack_path(const local_store *ls, uint32_t num, const char *ext)
{
    return cairn_sprintf("%s/pack-%08u.%s", ls->packs_dir, num, ext);
}

static void pack_header(uint8_t h[PACK_HEADER_SIZE])
{
    memcpy(h, PACK_MAGIC, MAGIC_SIZE);
    store_le32(h + 8, PACK_VERSION);
    store_le32(h + 12, 0);
}

static bool pack_header_ok(const uint8_t h[PACK_HEADER_SIZE])
{
    uint8_t want[PACK_HEADER_SIZE];
    pack_header(want);
    return memcmp(h, want, PACK_HEADER_SIZE) == 0;
}

/* Receives each good record a scan or an index load finds. */
typedef int (*rec_fn)(void *ctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len);

enum { SCAN_CLEAN = 0, SCAN_STOPPED = 1 };

/* Scans the records of a pack from `start` (0: check the header first) to `size`, reading in
 * large sequential blocks, and calls fn for each good one. *out_end is the end of the last good
 * record. @return SCAN_CLEAN (reached size), SCAN_STOPPED (bad or incomplete record at *out_end;
 * *out_why says which) or an error. */
static int scan_records(int fd, const char *path, uint64_t start, uint64_t size, rec_fn fn,
                        void *ctx, uint64_t *out_end, const char **out_why)
{
    uint64_t pos = start;
    *out_end = start;
    *out_why = NULL;
    if (pos == 0) {
        uint8_t h[PACK_HEADER_SIZE];
        ssize_t r = size >= PACK_HEADER_SIZE ? read_full(fd, h, sizeof h, 0) : 0;
        if (r < 0) return cairn_error_errno(errno, "reading the header of %s", path);
        if (r < PACK_HEADER_SIZE) {
            *out_why = "file shorter than the 16-byte pack header";
            return SCAN_STOPPED;
        }
        if (!pack_header_ok(h)) {
            *out_why = "bad pack header (magic, version or reserved bytes)";
            return SCAN_STOPPED;
        }
        pos = *out_end = PACK_HEADER_SIZE;
    }
    if (pos >= size) return SCAN_CLEAN;

    size_t cap = (size_t)MIN((uint64_t)SCAN_BLOCK, size - pos);
    cap = MAX(cap, (size_t)64);
    uint8_t *buf = cairn_malloc(cap);
    if (!buf) return ERR(CAIRN_ENOMEM, "out of memory scanning %s", path);
    uint64_t boff = pos; /* buf holds the file bytes [boff, boff + blen) */
    size_t blen = 0;
    int rc = SCAN_CLEAN;
    while (pos < size) {
        size_t need = REC_LEN_SIZE;
        uint32_t body_len = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (boff + blen < pos + need) { /* refill: keep the unread tail, read more */
                size_t have = (size_t)(boff + blen - pos);
                memmove(buf, buf + (pos - boff), have);
                boff = pos;
                blen = have;
                if (need > cap) {
                    size_t ncap = MAX(need, cap * 2);
                    uint8_t *nb = cairn_realloc(buf, ncap);
                    if (!nb) {
                        rc = ERR(CAIRN_ENOMEM, "out of memory scanning %s", path);
                        goto done;
                    }
                    buf = nb;
                    cap = ncap;
                }
                size_t want = (size_t)MIN((uint64_t)(cap - blen), size - (boff + blen));
                ssize_t r = read_full(fd, buf + blen, want, boff + blen);
                if (r < 0) {
                    rc = cairn_error_errno(errno, "reading %s at offset %llu", path,
                                           (unsigned long long)(boff + blen));
                    goto done;
                }
                blen += (size_t)r;
                if (blen < need) {
                    *out_why = "incomplete record at the end of the file";
                    rc = SCAN_STOPPED;
                    goto done;
                }
            }
            if (pass == 1) break;
            body_len = load_le32(buf + (pos - boff));
            if (body_len < REC_BODY_MIN || body_len > REC_BODY_MAX) {
                *out_why = "record length out of range";
                rc = SCAN_STOPPED;
                goto done;
            }
            need = REC_LEN_SIZE + (size_t)body_len + REC_CHECK_SIZE;
            if (size - pos < need) {
                *out_why = "incomplete record at the end of the file";
                rc = SCAN_STOPPED;
                goto done;
            }
        }
        const uint8_t *r = buf + (pos - boff), *body = r + REC_LEN_SIZE;
        if (XXH3_64bits(body, body_len) != load_le64(body + body_len)) {
            *out_why = "record checksum mismatch";
            rc = SCAN_STOPPED;
            goto done;
        }
        uint8_t type = body[0];
        if (type != REC_CHUNK && (type != REC_TOMBSTONE || body_len != REC_BODY_MIN)) {
            *out_why = "unknown record type";
            rc = SCAN_STOPPED;
            goto done;
        }
        int frc = fn(ctx, type, body + 1, pos, body_len - REC_BODY_MIN);
        if (frc < 0) {
            rc = frc;
            goto done;
        }
        pos += need;
        *out_end = pos;
    }
done:
    free(buf);
    return rc;
}

/* Reads and validates pack num's .idx against a pack of pack_size bytes; only when all of it
 * checks out are its entries passed to fn. @return 1 loaded (*out_covered set), 0 missing or
 * invalid (*out_why says why, NULL when missing), or an error. */
static int idx_read(const local_store *ls, uint32_t num, uint64_t pack_size, rec_fn fn, void *ctx,
                    uint64_t *out_covered, const char **out_why)
{
    *out_why = NULL;
    char *path = pack_path(ls, num, "idx");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(path);
        if (e == ENOENT) return 0;
        return cairn_error_errno(e, "opening index %s/pack-%08u.idx", ls->packs_dir, num);
    }
    int rc = 0;
    uint8_t *data = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = cairn_error_errno(errno, "reading %s", path);
        goto out;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < IDX_HEADER_SIZE + IDX_TRAILER_SIZE ||
        (size - IDX_HEADER_SIZE - IDX_TRAILER_SIZE) % IDX_ENTRY_SIZE != 0 ||
        size > (uint64_t)SIZE_MAX) {
        *out_why = "bad size";
        goto out;
    }
    data = cairn_malloc((size_t)size);
    if (!data) {
        rc = ERR(CAIRN_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    ssize_t got = read_full(fd, data, (size_t)size, 0);
    if (got < 0) {
        rc = cairn_error_errno(errno, "reading %s", path);
        goto out;
    }
    if ((uint64_t)got != size) {
        *out_why = "short read";
        goto out;
    }
    size_t body = (size_t)size - IDX_TRAILER_SIZE;
    uint64_t covered = load_le64(data + 16), count = load_le64(data + 24);
    if (XXH3_64bits(data, body) != load_le64(data + body)) *out_why = "checksum mismatch";
    else if (memcmp(data, IDX_MAGIC, MAGIC_SIZE) != 0 || load_le32(data + 8) != IDX_VERSION ||
             load_le32(data + 12) != 0)
        *out_why = "bad header";
    else if (count != (size - IDX_HEADER_SIZE - IDX_TRAILER_SIZE) / IDX_ENTRY_SIZE)
        *out_why = "entry count does not match the file size";
    else if (covered < PACK_HEADER_SIZE || covered > pack_size)
        *out_why = "covers more than the pack holds";
    if (*out_why) goto out;
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *e = data + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
        uint64_t off = load_le64(e + 32);
        uint32_t len = load_le32(e + 40);
        uint8_t type = e[44];
        bool ok = (type == REC_CHUNK || (type == REC_TOMBSTONE && len == 0)) && len <= REC_PAYLOAD_MAX &&
                  e[45] == 0 && e[46] == 0 && e[47] == 0 && off >= PACK_HEADER_SIZE &&
                  off <= covered && covered - off >= rec_size(len);
        if (ok && i > 0) ok = memcmp(e - IDX_ENTRY_SIZE, e, CAIRN_ID_SIZE) < 0;
        if (!ok) {
            *out_why = "bad entry (unsorted, out of range or malformed)";
            goto out;
        }
    }
    for (uint64_t i = 0; i < count && rc >= 0; i++) {
        const uint8_t *e = data + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
        rc = fn(ctx, e[44], e, load_le64(e + 32), load_le32(e + 40));
    }
    if (rc >= 0) {
        *out_covered = covered;
        rc = 1;
    }
out:
    free(data);
    free(path);
    close(fd);
    return rc;
}

/* Writes pack p's .idx from its records (settled in place) covering [0, covered). */
static int idx_write(local_store *ls, pack *p, recvec *recs, uint64_t covered)
{
    recvec_settle(recs);
    size_t size = IDX_HEADER_SIZE + recs->n * IDX_ENTRY_SIZE + IDX_TRAILER_SIZE;
    uint8_t *d = cairn_calloc(1, size);
    char *path = pack_path(ls, p->num, "idx");
    int rc = CAIRN_OK;
    if (!d || !path) {
        rc = ERR(CAIRN_ENOMEM, "out of memory writing the index of pack %u in %s", p->num,
                 ls->dir);
        goto out;
    }
    memcpy(d, IDX_MAGIC, MAGIC_SIZE);
    store_le32(d + 8, IDX_VERSION);
    store_le64(d + 16, covered);
    store_le64(d + 24, recs->n);
    for (size_t i = 0; i < recs->n; i++) {
        uint8_t *e = d + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
        memcpy(e, recs->v[i].key.bytes, CAIRN_ID_SIZE);
        store_le64(e + 32, recs->v[i].off);
        store_le32(e + 40, recs->v[i].len);
        e[44] = recs->v[i].type;
    }
    store_le64(d + size - IDX_TRAILER_SIZE, XXH3_64bits(d, size - IDX_TRAILER_SIZE));
    rc = write_atomic(ls, path, d, size);
    if (rc == CAIRN_OK) p->idx_covered = covered;
out:
    free(d);
    free(path);
    return rc;
}

/* Pack numbers present in packs/, ascending (caller frees *out). */
static int list_pack_nums(const local_store *ls, uint32_t **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    DIR *d = opendir(ls->packs_dir);
    if (!d) {
        if (errno == ENOENT) return CAIRN_OK; /* a reader of a repository still being created */
        return cairn_error_errno(errno, "listing %s", ls->packs_dir);
    }
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = CAIRN_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (strlen(s) != 18 || strncmp(s, "pack-", 5) != 0 || strcmp(s + 13, ".pack") != 0)
            continue;
        uint32_t num = 0;
        bool digits = true;
        for (int i = 5; i < 13; i++) {
            if (s[i] < '0' || s[i] > '9') digits = false;
            else num = num * 10 + (uint32_t)(s[i] - '0');
        }
        if (!digits || num == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *nv = cairn_realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = ERR(CAIRN_ENOMEM, "out of memory listing %s", ls->packs_dir);
                break;
            }
            v = nv;
        }
        v[n++] = num;
    }
    closedir(d);
    if (rc != CAIRN_OK) {
        free(v);
        return rc;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: directories are small */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint32_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *out_n = n;
    return CAIRN_OK;
}

/* Adds a pack slot for an open fd. */
static int pack_add(local_store *ls, uint32_t num, int fd, uint32_t *out_pi)
{
    if (ls->npacks == ls->cappacks) {
        size_t ncap = ls->cappacks ? ls->cappacks * 2 : 16;
        pack **np = cairn_realloc(ls->packs, ncap * sizeof *np);
        if (!np) return ERR(CAIRN_ENOMEM, "out of memory opening packs of %s", ls->dir);
        ls->packs = np;
        ls->cappacks = ncap;
    }
    pack *p = cairn_calloc(1, sizeof *p);
    if (!p) return ERR(CAIRN_ENOMEM, "out of memory opening packs of %s", ls->dir);
    p->num = num;
    p->fd = fd;
    *out_pi = (uint32_t)ls->npacks;
    ls->packs[ls->npacks++] = p;
    ls->nopen++;
    return CAIRN_OK;
}

/* Copies [from, size) of pack p into quarantine/, then truncates p at `from` (re-writing the
 * header when it was damaged). Bytes are never destroyed: they are set aside first. */
static int repair_tail(local_store *ls, pack *p, uint64_t size, const char *why)
{
    const uint64_t torn_at = p->end;
    uint64_t from = torn_at;
    char *qpath = NULL;
    int rc = CAIRN_OK;
    if (size > from) {
        int qfd = -1;
        for (int k = 0; k < 1000 && qfd < 0; k++) {
            free(qpath);
            qpath = k ? cairn_sprintf("%s/pack-%08u.%llu.tail.%d", ls->quar_dir, p->num,
                                      (unsigned long long)from, k)
                      : cairn_sprintf("%s/pack-%08u.%llu.tail", ls->quar_dir, p->num,
                                      (unsigned long long)from);
            if (!qpath) return ERR(CAIRN_ENOMEM, "out of memory repairing %s", ls->dir);
            qfd = open(qpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (qfd < 0 && errno != EEXIST) {
                rc = cairn_error_errno(errno, "creating %s to set aside a torn pack tail", qpath);
                free(qpath);
                return rc;
            }
        }
        if (qfd < 0) {
            free(qpath);
            return ERR(CAIRN_EIO, "could not find a free quarantine name for pack %u in %s",
                       p->num, ls->quar_dir);
        }
        uint8_t *buf = cairn_malloc(COPY_BLOCK);
        if (!buf) rc = ERR(CAIRN_ENOMEM, "out of memory repairing %s", ls->dir);
        for (uint64_t at = from; rc == CAIRN_OK && at < size;) {
            size_t want = (size_t)MIN((uint64_t)COPY_BLOCK, size - at);
            ssize_t r = read_full(p->fd, buf, want, at);
            if (r <= 0) {
                if (r < 0) rc = cairn_error_errno(errno, "reading pack %u of %s", p->num, ls->dir);
                break;
            }
            if (write_full(qfd, buf, (size_t)r, at - from) != 0)
                rc = cairn_error_errno(errno, "writing %s", qpath);
            at += (uint64_t)r;
        }
        free(buf);
        if (rc == CAIRN_OK && fsync(qfd) != 0) rc = cairn_error_errno(errno, "syncing %s", qpath);
        close(qfd);
        if (rc == CAIRN_OK) rc = fsync_dir(ls->quar_dir);
        if (rc != CAIRN_OK) {
            free(qpath);
            return rc;
        }
    }
    if (ftruncate(p->fd, (off_t)from) != 0) {
        free(qpath);
        return cairn_error_errno(errno, "truncating pack %u of %s at %llu", p->num, ls->dir,
                                 (unsigned long long)from);
    }
    if (from < PACK_HEADER_SIZE) {
        uint8_t h[PACK_HEADER_SIZE];
        pack_header(h);
        if (write_full(p->fd, h, sizeof h, 0) != 0)
            rc = cairn_error_errno(errno, "rewriting the header of pack %u of %s", p->num, ls->dir);
        from = PACK_HEADER_SIZE;
    }
    if (rc == CAIRN_OK && fsync(p->fd) != 0)
        rc = cairn_error_errno(errno, "syncing pack %u of %s", p->num, ls->dir);
    if (rc == CAIRN_OK) {
        p->end = from;
        p->stopped = false;
        if (qpath)
            cairn_diag(CAIRN_LOG_WARN,
                      "local store %s: pack-%08u.pack had a torn tail at offset %llu (%s), as "
                      "a crash leaves unflushed writes; moved its %llu bytes to %s and truncated "
                      "the pack",
                      ls->dir, p->num, (unsigned long long)torn_at, why,
                      (unsigned long long)(size - torn_at), qpath);
    }
    free(qpath);
    return rc;
}

/* Loading a pack applies each record to the index and, for a writer, collects it (.idx). */
typedef struct load_ctx {
    local_store *ls;
    uint32_t pi;
    recvec *collect;
} load_ctx;

static int load_rec(void *vctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    load_ctx *c = vctx;
    if (c->collect) TRY(recvec_push(c->collect, type, key, off, len));
    cairn_id id;
    memcpy(id.bytes, key, CAIRN_ID_SIZE);
    if (type == REC_CHUNK) return idx_set(c->ls, &id, c->pi, off, len);
    slot *s = idx_find(c->ls, &id);
    if (s) idx_remove(c->ls, s);
    return CAIRN_OK;
}

/* Scans pack pi from where its last scan stopped to its current end, and handles a bad record:
 * a torn tail (last pack, writer) is repaired; a reader stops silently at the end of the last
 * pack; anywhere else it is corruption, logged once and left alone. */
static int pack_scan_more(local_store *ls, uint32_t pi, bool last, recvec *collect)
{
    pack *p = ls->packs[pi];
    struct stat sb;
    if (fstat(p->fd, &sb) != 0)
        return cairn_error_errno(errno, "reading pack %u of %s", p->num, ls->dir);
    uint64_t size = (uint64_t)sb.st_size, end;
    if (size == p->end && p->end > 0) {
        p->stopped = false;
        return CAIRN_OK;
    }
    const char *why;
    load_ctx c = { ls, pi, collect };
    char *path = pack_path(ls, p->num, "pack");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int rc = scan_records(p->fd, path, p->end, size, load_rec, &c, &end, &why);
    free(path);
    if (rc < 0) return rc;
    p->end = end;
    p->stopped = rc == SCAN_STOPPED;
    if (!p->stopped) return CAIRN_OK;
    if (last && !ls->readonly) return repair_tail(ls, p, size, why);
    if (!last && !p->reported) {
        p->reported = true;
        cairn_diag(CAIRN_LOG_ERROR,
                  "local store %s: pack-%08u.pack is corrupt at offset %llu (%s); records from "
                  "there to its end (%llu bytes) cannot be read and the pack is left untouched; "
                  "run 'cairn verify' and restore the pack from a replica or backup",
                  ls->dir, p->num, (unsigned long long)end, why,
                  (unsigned long long)(size - end));
    }
    return CAIRN_OK;
}

/* Opens pack num (ENOENT: gone by compaction, skipped), loads its .idx if valid, scans what the
 * .idx does not cover; a writer rewrites a missing, damaged or stale .idx. */
static int pack_open_load(local_store *ls, uint32_t num, bool last)
{
    char *path = pack_path(ls, num, "pack");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    bool rw = last && !ls->readonly;
    int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int rc = e == ENOENT ? CAIRN_OK : cairn_error_errno(e, "opening %s", path);
        free(path);
        return rc;
    }
    free(path);
    uint32_t pi;
    int rc = pack_add(ls, num, fd, &pi);
    if (rc != CAIRN_OK) {
        close(fd);
        return rc;
    }
    pack *p = ls->packs[pi];
    struct stat sb;
    if (fstat(fd, &sb) != 0) return cairn_error_errno(errno, "reading pack %u of %s", num, ls->dir);
    recvec recs = { 0 };
    recvec *collect = ls->readonly ? NULL : &recs;
    load_ctx c = { ls, pi, collect };
    uint64_t covered = 0;
    const char *why;
    rc = idx_read(ls, num, (uint64_t)sb.st_size, load_rec, &c, &covered, &why);
    if (rc < 0) goto out;
    if (rc == 1) {
        p->end = p->idx_covered = covered;
    } else if (why) {
        cairn_diag(CAIRN_LOG_WARN, "local store %s: ignoring pack-%08u.idx (%s); %s", ls->dir,
                  num, why, ls->readonly ? "reading the pack instead" : "rebuilding it from the pack");
    }
    rc = pack_scan_more(ls, pi, last, collect);
    if (rc < 0) goto out;
    if (!ls->readonly && p->idx_covered != p->end) {
        int irc = idx_write(ls, p, &recs, p->end);
        if (irc != CAIRN_OK)
            cairn_diag(CAIRN_LOG_WARN, "local store %s: could not rewrite pack-%08u.idx (%s); "
                      "the next open reads the pack instead", ls->dir, num,
                      cairn_error_last()->message);
    }
    if (!ls->readonly && last) {
        ls->cur = p;
        ls->cur_pi = pi;
        ls->wbuf_off = p->end;
        ls->cur_recs = recs;
        recs = (recvec){ 0 };
    }
    rc = CAIRN_OK;
out:
    recvec_free(&recs);
    return rc;
}

/* Looks for what other processes appended: the tail of the last pack and new pack files.
 * Called with mu held for writing. */
static int refresh_locked(local_store *ls)
{
    uint32_t *nums;
    size_t n;
    TRY(list_pack_nums(ls, &nums, &n));
    uint32_t last_num = ls->npacks ? ls->packs[ls->npacks - 1]->num : 0;
    size_t first_new = 0;
    while (first_new < n && nums[first_new] <= last_num) first_new++;
    bool have_new = first_new < n;
    int rc = CAIRN_OK;
    if (ls->npacks) {
        pack *p = ls->packs[ls->npacks - 1];
        if (p->fd >= 0 && !(p->stopped && p->reported))
            rc = pack_scan_more(ls, (uint32_t)ls->npacks - 1, !have_new, NULL);
    }
    for (size_t i = first_new; i < n && rc == CAIRN_OK; i++)
        rc = pack_open_load(ls, nums[i], i + 1 == n);
    free(nums);
    /* Let go of packs compaction deleted once nothing here points into them any more. */
    for (size_t i = 0; rc == CAIRN_OK && i + 1 < ls->npacks; i++) {
        pack *p = ls->packs[i];
        if (p->fd < 0 || p->live != 0) continue;
        char *path = pack_path(ls, p->num, "pack");
        if (path && access(path, F_OK) != 0 && errno == ENOENT) {
            close(p->fd);
            p->fd = -1;
            ls->nopen--;
        }
        free(path);
    }
    return rc;
}

/* A reader's miss: refresh, unless a refresh *started* after the miss (seq_at_miss was read
 * after the lookup failed): that one saw at least what this one would, and since we hold
 * refresh_mu it has finished. A refresh that was already running when we missed may have looked
 * at the files too early, so it does not count. */
static int refresh(local_store *ls, unsigned long seq_at_miss)
{
    int rc = CAIRN_OK;
    pthread_mutex_lock(&ls->refresh_mu);
    if (atomic_load(&ls->refresh_seq) == seq_at_miss) {
        atomic_fetch_add(&ls->refresh_seq, 1);
        pthread_rwlock_wrlock(&ls->mu);
        rc = refresh_locked(ls);
        pthread_rwlock_unlock(&ls->mu);
    }
    pthread_mutex_unlock(&ls->refresh_mu);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * The writer: write buffer, rollover, durability
 * ------------------------------------------------------------------------------------------- */

static int poisoned_error(local_store *ls)
{
    return ERR(CAIRN_EIO,
               "local store %s: an earlier write or fsync failed, so recent writes may not be on "
               "disk; close the store and reopen it (recovery rescans the packs)",
               ls->dir);
}

/* Writes the buffer to the current pack. On failure the buffer is kept and the next attempt
 * rewrites it at the same offset. */
static int wbuf_write(local_store *ls)
{
    if (!ls->wbuf.len) return CAIRN_OK;
    if (write_full(ls->cur->fd, ls->wbuf.data, ls->wbuf.len, ls->wbuf_off) != 0)
        return cairn_error_errno(errno, "local store %s: writing %zu bytes to pack-%08u.pack at "
                                 "offset %llu", ls->dir, ls->wbuf.len, ls->cur->num,
                                 (unsigned long long)ls->wbuf_off);
    ls->wbuf_off += ls->wbuf.len;
    ls->cur->end = ls->wbuf_off;
    ls->wbuf.len = 0;
    if (ls->wbuf.cap > 2 * WBUF_CAP) { /* a huge chunk went through: give the memory back */
        free(ls->wbuf.data);
        ls->wbuf = (cairn_buf)CAIRN_BUF_INIT;
    }
    return CAIRN_OK;
}

static int sync_pack(local_store *ls, pack *p)
{
    if (fdatasync(p->fd) != 0) {
        int e = errno;
        ls->poisoned = true; /* after a failed fsync the kernel may have dropped the pages */
        return cairn_error_errno(e, "local store %s: syncing pack-%08u.pack", ls->dir, p->num);
    }
    return CAIRN_OK;
}

/* Creates pack num (header only) and makes it the current pack. */
static int pack_create(local_store *ls, uint32_t num)
{
    char *path = pack_path(ls, num, "pack"), *ipath = pack_path(ls, num, "idx");
    if (!path || !ipath) {
        free(path);
        free(ipath);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    unlink(ipath); /* a stale index must never describe the new pack */
    free(ipath);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = cairn_error_errno(errno, "creating pack %s", path);
        free(path);
        return rc;
    }
    uint8_t h[PACK_HEADER_SIZE];
    pack_header(h);
    if (write_full(fd, h, sizeof h, 0) != 0) {
        int rc = cairn_error_errno(errno, "writing the header of %s", path);
        close(fd);
        unlink(path);
        free(path);
        return rc;
    }
    uint32_t pi;
    int rc = pack_add(ls, num, fd, &pi);
    if (rc != CAIRN_OK) { /* it holds only a header: remove it, or the next try meets EEXIST */
        close(fd);
        unlink(path);
        free(path);
        return rc;
    }
    free(path);
    ls->packs[pi]->end = PACK_HEADER_SIZE;
    ls->cur = ls->packs[pi];
    ls->cur_pi = pi;
    ls->cur_recs.n = 0;
    ls->wbuf_off = PACK_HEADER_SIZE;
    ls->dir_gen++;
    return CAIRN_OK;
}

static int sync_packs_dir(local_store *ls)
{
    if (ls->dir_synced_gen == ls->dir_gen) return CAIRN_OK;
    unsigned gen = ls->dir_gen;
    int rc = fsync_dir(ls->packs_dir);
    if (rc != CAIRN_OK) {
        ls->poisoned = true;
        return rc;
    }
    ls->dir_synced_gen = gen;
    return CAIRN_OK;
}

/* Seals the current pack (durable, indexed) and starts the next one. mu held for writing. */
static int rollover(local_store *ls)
{
    TRY(wbuf_write(ls));
    TRY(sync_pack(ls, ls->cur));
    TRY(sync_packs_dir(ls));
    if (idx_write(ls, ls->cur, &ls->cur_recs, ls->wbuf_off) != CAIRN_OK)
        cairn_diag(CAIRN_LOG_WARN, "local store %s: could not write pack-%08u.idx (%s); the next "
                  "open reads the pack instead", ls->dir, ls->cur->num, cairn_error_last()->message);
    return pack_create(ls, ls->cur->num + 1);
}

/* Appends one record to the write buffer (mu held for writing; room in cur_recs reserved). */
static int append_record(local_store *ls, uint8_t type, const cairn_id *key, const void *data,
                         size_t len, uint64_t *out_off)
{
    if (ls->wbuf_off + ls->wbuf.len > ls->pack_max && ls->wbuf_off + ls->wbuf.len > PACK_HEADER_SIZE)
        TRY(rollover(ls));
    size_t rl = (size_t)rec_size(len);
    if (ls->wbuf.len && ls->wbuf.len + rl > WBUF_CAP) TRY(wbuf_write(ls));
    TRY(cairn_buf_reserve(&ls->wbuf, ls->wbuf.len + rl));
    TRY(recvec_reserve(&ls->cur_recs, 1));
    uint8_t *r = ls->wbuf.data + ls->wbuf.len, *body = r + REC_LEN_SIZE;
    store_le32(r, (uint32_t)(REC_BODY_MIN + len));
    body[0] = type;
    memcpy(body + 1, key->bytes, CAIRN_ID_SIZE);
    if (len) memcpy(body + REC_BODY_MIN, data, len);
    store_le64(body + REC_BODY_MIN + len, XXH3_64bits(body, REC_BODY_MIN + len));
    *out_off = ls->wbuf_off + ls->wbuf.len;
    ls->wbuf.len += rl;
    return recvec_push(&ls->cur_recs, type, key->bytes, *out_off, (uint32_t)len);
}

/* ---------------------------------------------------------------------------------------------
 * Chunk methods
 * ------------------------------------------------------------------------------------------- */

static int readonly_error(local_store *ls, const char *what)
{
    return ERR(CAIRN_EREADONLY, "local store %s was opened read-only: cannot %s", ls->dir, what);
}

static int not_found(local_store *ls, const cairn_id *key)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, key);
    return ERR(CAIRN_ENOTFOUND, "chunk %s is not in the local store at %s", hex, ls->dir);
}

/* Checks a record in place; NULL when fine, else why not (mu held). with_checksum = false
 * skips the XXH3 of the body: get_mapped's callers re-hash the payload with SHA-256 anyway. */
static const char *record_problem(const uint8_t *r, const slot *s, bool with_checksum)
{
    const uint8_t *body = r + REC_LEN_SIZE;
    if (load_le32(r) != REC_BODY_MIN + s->len) return "its length changed";
    if (body[0] != REC_CHUNK || memcmp(body + 1, s->key.bytes, CAIRN_ID_SIZE) != 0)
        return "it holds another key";
    if (with_checksum &&
        XXH3_64bits(body, REC_BODY_MIN + s->len) != load_le64(body + REC_BODY_MIN + s->len))
        return "its checksum does not match";
    return NULL;
}

/* Reads the record a slot points at into out (mu held for reading). */
static int read_slot(local_store *ls, const slot *s, cairn_buf *out)
{
    pack *p = ls->packs[s->pi];
    if (!ls->readonly && p == ls->cur && s->off >= ls->wbuf_off)
        return cairn_buf_set(out, ls->wbuf.data + (s->off - ls->wbuf_off) + REC_PAYLOAD_AT,
                             s->len);
    size_t rl = (size_t)rec_size(s->len);
    TRY(cairn_buf_reserve(out, rl));
    ssize_t r = read_full(p->fd, out->data, rl, s->off);
    char hex[CAIRN_ID_HEX_SIZE];
    if (r < 0)
        return cairn_error_errno(errno, "local store %s: reading pack-%08u.pack at offset %llu",
                                 ls->dir, p->num, (unsigned long long)s->off);
    const char *why =
        (size_t)r < rl ? "the pack ends inside the record" : record_problem(out->data, s, true);
    if (why) {
        cairn_id_to_hex(hex, &s->key);
        return CORRUPT("local store %s: the record of chunk %s in pack-%08u.pack at offset %llu "
                       "is damaged (%s); run 'cairn verify' and restore from a replica or backup",
                       ls->dir, hex, p->num, (unsigned long long)s->off, why);
    }
    memmove(out->data, out->data + REC_PAYLOAD_AT, s->len);
    out->len = s->len;
    return CAIRN_OK;
}

/* The mapped bytes [off, off + len) of a pack, or NULL. */
static const uint8_t *map_find(pack *p, uint64_t off, uint64_t len)
{
    unsigned n = atomic_load_explicit(&p->nmaps, memory_order_acquire);
    for (unsigned i = n; i-- > 0;) {
        const pack_map *m = &p->maps[i];
        if (off >= m->start && off + len <= m->start + m->len) return m->base + (off - m->start);
    }
    return NULL;
}

/* Maps pack bytes from the page holding off up to the end of its indexed records (mu held). */
static const uint8_t *map_extend(local_store *ls, pack *p, uint64_t off, uint64_t len)
{
    uint64_t end = (!ls->readonly && p == ls->cur) ? ls->wbuf_off : p->end;
    if (p->fd < 0 || off + len > end) return NULL;
    pthread_mutex_lock(&ls->map_mu);
    const uint8_t *found = map_find(p, off, len);
    unsigned n = atomic_load_explicit(&p->nmaps, memory_order_relaxed);
    if (!found && n < PACK_MAPS_MAX) {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        uint64_t start = off / page * page;
        void *m = mmap(NULL, end - start, PROT_READ, MAP_SHARED, p->fd, (off_t)start);
        if (m != MAP_FAILED) {
            p->maps[n] = (pack_map){ m, start, end - start };
            atomic_store_explicit(&p->nmaps, n + 1, memory_order_release);
            found = (const uint8_t *)m + (off - start);
        }
    }
    pthread_mutex_unlock(&ls->map_mu);
    return found;
}

static int local_get_mapped(cairn_store *st, const uint8_t **out, size_t *out_len,
                            const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    pthread_rwlock_rdlock(&ls->mu);
    const slot *s = idx_find(ls, key);
    int rc = CAIRN_EUNSUPPORTED;
    if (s) {
        pack *p = ls->packs[s->pi];
        uint64_t rl = rec_size(s->len);
        const uint8_t *r = map_find(p, s->off, rl);
        if (!r) r = map_extend(ls, p, s->off, rl);
        const char *why = r ? record_problem(r, s, false) : NULL;
        if (why) {
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &s->key);
            rc = CORRUPT("local store %s: the record of chunk %s in pack-%08u.pack at offset %llu "
                         "is damaged (%s); run 'cairn verify' and restore from a replica or backup",
                         ls->dir, hex, p->num, (unsigned long long)s->off, why);
        } else if (r) {
            *out = r + REC_PAYLOAD_AT;
            *out_len = s->len;
            rc = CAIRN_OK;
        }
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc; /* EUNSUPPORTED covers "not here": get() then looks again, refreshing */
}

static int local_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&ls->mu);
        const slot *s = idx_find(ls, key);
        int rc = s ? read_slot(ls, s, out) : CAIRN_ENOTFOUND;
        pthread_rwlock_unlock(&ls->mu);
        if (rc != CAIRN_ENOTFOUND) return rc;
        if (attempt || !ls->readonly) break;
        TRY(refresh(ls, atomic_load(&ls->refresh_seq)));
    }
    return not_found(ls, key);
}

static int local_has(cairn_store *st, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&ls->mu);
        bool present = idx_find(ls, key) != NULL;
        pthread_rwlock_unlock(&ls->mu);
        if (present) return CAIRN_OK;
        if (attempt || !ls->readonly) break;
        TRY(refresh(ls, atomic_load(&ls->refresh_seq)));
    }
    return CAIRN_ENOTFOUND;
}

static int local_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return readonly_error(ls, "store chunks");
    if (len > REC_PAYLOAD_MAX) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, key);
        return ERR(CAIRN_EINVAL, "chunk %s of %zu bytes is over the local store's limit of %u",
                   hex, len, REC_PAYLOAD_MAX);
    }
    pthread_rwlock_wrlock(&ls->mu);
    int rc = CAIRN_OK;
    uint64_t off;
    if (ls->poisoned) rc = poisoned_error(ls);
    else if (idx_find(ls, key)) rc = CAIRN_OK; /* dedup: put is idempotent */
    else if ((rc = idx_reserve(ls, 1)) == CAIRN_OK &&
             (rc = append_record(ls, REC_CHUNK, key, data, len, &off)) == CAIRN_OK)
        rc = idx_set(ls, key, ls->cur_pi, off, (uint32_t)len); /* cannot fail: reserved */
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

static int local_del(cairn_store *st, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return readonly_error(ls, "delete chunks");
    pthread_rwlock_wrlock(&ls->mu);
    int rc = CAIRN_OK;
    uint64_t off;
    if (ls->poisoned) {
        rc = poisoned_error(ls);
    } else if (idx_find(ls, key)) {
        rc = append_record(ls, REC_TOMBSTONE, key, NULL, 0, &off);
        if (rc == CAIRN_OK) idx_remove(ls, idx_find(ls, key));
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

static int local_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *),
                      void *payload)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) TRY(refresh(ls, atomic_load(&ls->refresh_seq)));
    /* Snapshot the keys first so that cb may call back into the store. */
    pthread_rwlock_rdlock(&ls->mu);
    size_t n = 0, cap = ls->n;
    cairn_id *keys = cairn_malloc((cap ? cap : 1) * sizeof *keys);
    uint64_t *lens = cairn_malloc((cap ? cap : 1) * sizeof *lens);
    if (keys && lens)
        for (size_t i = 0; i <= ls->mask; i++)
            if (ls->slots[i].pi != SLOT_FREE) {
                keys[n] = ls->slots[i].key;
                lens[n++] = ls->slots[i].len;
            }
    pthread_rwlock_unlock(&ls->mu);
    int rc = CAIRN_OK;
    if (!keys || !lens) rc = ERR(CAIRN_ENOMEM, "local store %s: out of memory listing chunks", ls->dir);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = cb(&keys[i], lens[i], payload);
    free(keys);
    free(lens);
    return rc;
}

static int local_flush(cairn_store *st)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return CAIRN_OK; /* a reader never has writes pending */
    pthread_mutex_lock(&ls->sync_mu);
    pthread_rwlock_wrlock(&ls->mu);
    int rc = ls->poisoned ? poisoned_error(ls) : wbuf_write(ls);
    pack *p = ls->cur;
    unsigned gen = ls->dir_gen;
    bool dir_dirty = ls->dir_synced_gen != gen;
    uint32_t num = p->num;
    uint64_t end = p->end;
    bool dirty = ls->synced_num != num || ls->synced_end != end;
    pthread_rwlock_unlock(&ls->mu);
    /* fsync outside mu: puts and gets go on meanwhile; sync_mu keeps p's fd open. */
    if (rc == CAIRN_OK && dirty && fdatasync(p->fd) != 0) {
        rc = cairn_error_errno(errno, "local store %s: syncing pack-%08u.pack", ls->dir, p->num);
        pthread_rwlock_wrlock(&ls->mu);
        ls->poisoned = true;
        pthread_rwlock_unlock(&ls->mu);
    } else if (rc == CAIRN_OK && dirty) {
        pthread_rwlock_wrlock(&ls->mu);
        if (ls->cur == p) {
            ls->synced_num = num;
            ls->synced_end = end;
        }
        pthread_rwlock_unlock(&ls->mu);
    }
    if (rc == CAIRN_OK && dir_dirty) {
        rc = fsync_dir(ls->packs_dir);
        pthread_rwlock_wrlock(&ls->mu);
        if (rc != CAIRN_OK) ls->poisoned = true;
        else if ((int)(gen - ls->dir_synced_gen) > 0) ls->dir_synced_gen = gen;
        pthread_rwlock_unlock(&ls->mu);
    }
    pthread_mutex_unlock(&ls->sync_mu);
    return rc;
}

static int local_stat(cairn_store *st, cairn_store_stats *out)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) TRY(refresh(ls, atomic_load(&ls->refresh_seq)));
    pthread_rwlock_rdlock(&ls->mu);
    out->chunks = ls->n;
    out->bytes = ls->bytes;
    out->files = ls->nopen;
    pthread_rwlock_unlock(&ls->mu);
    return CAIRN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Refs: one file each under refs/, moved in place (refslot.h) or replaced atomically
 * ------------------------------------------------------------------------------------------- */

/* The shared rules, plus one of this backend's: a "." component would alias another path. */
static int ref_check(const char *name)
{
    TRY(store_check_ref_name(name));
    for (const char *c = name; c; c = strchr(c, '/')) {
        if (*c == '/') c++;
        if (c[0] == '.' && (c[1] == '/' || c[1] == '\0'))
            return ERR(CAIRN_EINVAL, "ref name '%s' has a '.' component, which the local store "
                       "cannot hold as a file name", name);
    }
    return CAIRN_OK;
}

/* Reads refs/<name>: CAIRN_OK, CAIRN_ENOTFOUND (no message set) or an error. A slotted file
 * (refslot.h) yields its newest valid slot; *ver (if asked) says which, or has slot UINT_MAX
 * for a plain file. */
static int ref_read(local_store *ls, const char *name, cairn_buf *out, refslot_version *ver)
{
    if (ver) ver->slot = UINT_MAX;
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR) return CAIRN_ENOTFOUND;
        return cairn_error_errno(e, "local store %s: reading ref '%s'", ls->dir, name);
    }
    int rc = cairn_buf_reserve(out, REFSLOT_FILE_SIZE + 1);
    ssize_t r = rc == CAIRN_OK ? read_full(fd, out->data, REFSLOT_FILE_SIZE + 1, 0) : 0;
    /* Both slots torn is damage, or a read that overlapped two moves of the writer (one per
     * slot): look again before calling it damage. */
    refslot_version v;
    int drc = CAIRN_OK;
    for (int again = 0; rc == CAIRN_OK && r == REFSLOT_FILE_SIZE; again++) {
        drc = refslot_decode(out->data, (size_t)r, path, &v);
        if (drc == CAIRN_OK || again == 3) break;
        nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
        r = read_full(fd, out->data, REFSLOT_FILE_SIZE + 1, 0);
    }
    int e = errno;
    close(fd);
    if (rc == CAIRN_OK && r < 0) {
        /* refs/<name> is a directory: other refs live below it, this one does not exist */
        rc = e == EISDIR ? CAIRN_ENOTFOUND
                         : cairn_error_errno(e, "local store %s: reading ref file %s", ls->dir, path);
    } else if (rc == CAIRN_OK && r == REFSLOT_FILE_SIZE) {
        rc = drc;
        if (rc < 0)
            rc = CORRUPT("local store %s: ref file %s is damaged (neither of its two slots is "
                         "valid); %s", ls->dir, path,
                         strncmp(name, "working/", 8) == 0
                             ? "delete it to start this working state again from its branch's "
                               "last commit (writes not committed since then are lost)"
                             : "restore it from a backup, or delete it and create the ref again "
                               "at a known commit");
        if (rc == CAIRN_OK) {
            memmove(out->data, v.value, v.len);
            out->len = v.len;
            if (ver) *ver = v;
        }
    } else if (rc == CAIRN_OK && r > REF_VALUE_MAX) {
        rc = CORRUPT("local store %s: ref file %s has %zd bytes, neither a value (at most %d) "
                     "nor a slotted ref file (%u); it was not written by cairn", ls->dir, path,
                     r, REF_VALUE_MAX, REFSLOT_FILE_SIZE);
    } else if (rc == CAIRN_OK) {
        out->len = (size_t)r;
    }
    free(path);
    return rc;
}

static int local_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    local_store *ls = (local_store *)st;
    TRY(ref_check(name));
    int rc = ref_read(ls, name, out, NULL);
    if (rc == CAIRN_ENOTFOUND) return ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist in %s", name, ls->dir);
    return rc;
}

/* Creates the directories above refs/<name>, each made durable in its parent. */
static int ref_mkdirs(local_store *ls, const char *name)
{
    for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
        int plen = (int)(s - name);
        char *d = cairn_sprintf("%s/%.*s", ls->refs_dir, plen, name);
        if (!d) return ERR(CAIRN_ENOMEM, "out of memory");
        int rc = CAIRN_OK;
        struct stat sb;
        if (mkdir(d, 0777) == 0) {
            char *parent = parent_of(d);
            rc = parent ? fsync_dir(parent) : ERR(CAIRN_ENOMEM, "out of memory");
            free(parent);
        } else {
            int e = errno;
            if (e == EEXIST && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode)) rc = CAIRN_OK;
            else if (e == EEXIST || e == ENOTDIR)
                rc = ERR(CAIRN_EINVAL, "ref '%s' cannot be created in %s: ref '%.*s' exists, and "
                         "a ref name cannot also be a directory of other refs (as in git)", name,
                         ls->dir, plen, name);
            else rc = cairn_error_errno(e, "local store %s: creating directory %s", ls->dir, d);
        }
        free(d);
        TRY(rc);
    }
    return CAIRN_OK;
}

/* Moves a slotted ref in place: the older slot gets the new version, then fdatasync (the file's
 * blocks exist, so no metadata has to reach the disk). */
static int ref_overwrite(local_store *ls, const char *name, const refslot_version *cur,
                         const void *val, size_t len)
{
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    uint8_t *buf = cairn_malloc(REFSLOT_SIZE);
    int rc = CAIRN_OK;
    if (!path || !buf) {
        rc = ERR(CAIRN_ENOMEM, "out of memory");
        goto out;
    }
    unsigned other = 1 - cur->slot;
    refslot_encode(buf, cur->seq + 1, val, len);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = cairn_error_errno(errno, "local store %s: opening ref file %s to move it", ls->dir,
                               path);
        goto out;
    }
    if (write_full(fd, buf, REFSLOT_SIZE, (off_t)other * REFSLOT_SIZE) != 0)
        rc = cairn_error_errno(errno, "local store %s: writing ref file %s (the ref keeps its "
                               "old value)", ls->dir, path);
    else if (fdatasync(fd) != 0)
        rc = cairn_error_errno(errno, "local store %s: syncing ref file %s (the move may not be "
                               "durable)", ls->dir, path);
    close(fd);
out:
    free(buf);
    free(path);
    return rc;
}

/* Writes refs/<name> whole (a new ref, a plain file, or a value too long for a slot): slotted
 * unless the value does not fit, through a temp file and a rename. */
static int ref_write(local_store *ls, const char *name, const void *val, size_t len)
{
    TRY(ref_mkdirs(ls, name));
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    struct stat sb;
    int rc;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        rc = ERR(CAIRN_EINVAL, "ref '%s' cannot be created in %s: refs named '%s/...' exist, and "
                 "a ref name cannot also be a directory of other refs (as in git)", name, ls->dir,
                 name);
    } else if (len <= REFSLOT_VALUE_MAX) {
        uint8_t *file = cairn_calloc(1, REFSLOT_FILE_SIZE); /* slot 1 stays invalid (zeros) */
        if (!file) {
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        } else {
            refslot_encode(file, 1, val, len);
            rc = write_atomic(ls, path, file, REFSLOT_FILE_SIZE);
            free(file);
        }
    } else {
        rc = write_atomic(ls, path, val, len);
    }
    free(path);
    return rc;
}

/* Removes refs/<name>, then the directories above it that became empty. */
static int ref_unlink(local_store *ls, const char *name)
{
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        rc = cairn_error_errno(errno, "local store %s: deleting ref file %s", ls->dir, path);
    char *parent = rc == CAIRN_OK ? parent_of(path) : NULL;
    if (rc == CAIRN_OK) rc = parent ? fsync_dir(parent) : ERR(CAIRN_ENOMEM, "out of memory");
    /* Tidy up: a later ref may need the name of an emptied directory (rmdir fails if not empty). */
    while (rc == CAIRN_OK && strlen(parent) > strlen(ls->refs_dir) && rmdir(parent) == 0) {
        char *up = parent_of(parent);
        free(parent);
        parent = up;
        if (!parent) break;
    }
    free(parent);
    free(path);
    return rc;
}

static int local_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                         const void *val, size_t vlen)
{
    local_store *ls = (local_store *)st;
    TRY(ref_check(name));
    TRY(store_check_ref_value(name, vlen));
    if (ls->readonly) return readonly_error(ls, "move refs");
    pthread_mutex_lock(&ls->ref_mu);
    cairn_buf cur = CAIRN_BUF_INIT;
    refslot_version ver;
    int rc = ref_read(ls, name, &cur, &ver);
    bool exists = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    if (rc == CAIRN_OK) {
        if (!expect && exists)
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: it exists in %s but the "
                     "compare-and-swap expected it absent; read it again and retry", name, ls->dir);
        else if (expect && !exists)
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: it does not exist in %s "
                     "(compare-and-swap failed); read it again and retry", name, ls->dir);
        else if (expect && (cur.len != elen || (elen && memcmp(cur.data, expect, elen) != 0)))
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: its value in %s is not the "
                     "expected one (compare-and-swap failed); read it again and retry", name,
                     ls->dir);
    }
    if (rc == CAIRN_OK && val && exists && ver.slot != UINT_MAX && vlen <= REFSLOT_VALUE_MAX)
        rc = ref_overwrite(ls, name, &ver, val, vlen);
    else if (rc == CAIRN_OK && val) rc = ref_write(ls, name, val, vlen);
    else if (rc == CAIRN_OK && exists) rc = ref_unlink(ls, name);
    pthread_mutex_unlock(&ls->ref_mu);
    cairn_buf_dispose(&cur);
    return rc;
}

typedef struct namevec {
    char **v;
    size_t n, cap;
} namevec;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Could the directory refs/<rel> hold a ref whose name starts with prefix? */
static bool dir_may_match(const char *rel, const char *prefix)
{
    size_t rl = strlen(rel), pl = strlen(prefix);
    if (pl <= rl) return strncmp(rel, prefix, pl) == 0;
    return strncmp(rel, prefix, rl) == 0 && prefix[rl] == '/';
}

/* Collects the names of the ref files under refs/<rel> ("" = refs/ itself). */
static int ref_walk(local_store *ls, const char *rel, const char *prefix, namevec *out)
{
    char *dpath = *rel ? cairn_sprintf("%s/%s", ls->refs_dir, rel) : cairn_strdup(ls->refs_dir);
    if (!dpath) return ERR(CAIRN_ENOMEM, "out of memory");
    DIR *d = opendir(dpath);
    if (!d) {
        int e = errno;
        free(dpath);
        if (e == ENOENT || e == ENOTDIR) return CAIRN_OK;
        return cairn_error_errno(e, "local store %s: listing refs", ls->dir);
    }
    int rc = CAIRN_OK;
    struct dirent *de;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *child = *rel ? cairn_sprintf("%s/%s", rel, de->d_name) : cairn_strdup(de->d_name);
        if (!child) {
            rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
            break;
        }
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat sb;
            if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
                type = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
            if (dir_may_match(child, prefix)) rc = ref_walk(ls, child, prefix, out);
            free(child);
        } else if (type == DT_REG && strncmp(child, prefix, strlen(prefix)) == 0) {
            if (out->n == out->cap) {
                size_t ncap = out->cap ? out->cap * 2 : 16;
                char **nv = cairn_realloc(out->v, ncap * sizeof *nv);
                if (!nv) {
                    free(child);
                    rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
                    break;
                }
                out->v = nv;
                out->cap = ncap;
            }
            out->v[out->n++] = child;
        } else {
            free(child);
        }
    }
    closedir(d);
    free(dpath);
    return rc;
}

static int local_ref_list(cairn_store *st, const char *prefix,
                          int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    local_store *ls = (local_store *)st;
    if (!prefix) prefix = "";
    namevec names = { 0 };
    int rc = ref_walk(ls, "", prefix, &names);
    if (rc == CAIRN_OK && names.n) qsort(names.v, names.n, sizeof *names.v, name_cmp);
    cairn_buf val = CAIRN_BUF_INIT;
    for (size_t i = 0; rc == CAIRN_OK && i < names.n; i++) {
        if (ref_check(names.v[i]) != CAIRN_OK) continue; /* not a file cairn wrote */
        rc = ref_read(ls, names.v[i], &val, NULL);
        if (rc == CAIRN_ENOTFOUND) { /* deleted while we walked */
            rc = CAIRN_OK;
            continue;
        }
        if (rc == CAIRN_OK) rc = cb(names.v[i], val.data, val.len, payload);
    }
    for (size_t i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    cairn_buf_dispose(&val);
    if (rc == CAIRN_OK) cairn_error_clear(); /* ref_check of stray files may have set one */
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Compaction
 * ------------------------------------------------------------------------------------------- */

static int collect_rec(void *ctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    return recvec_push(ctx, type, key, off, len);
}

/* The settled records of a sealed pack (its effect on the index), from its .idx and a scan of
 * what the .idx does not cover. */
static int pack_records(local_store *ls, pack *p, recvec *out)
{
    uint64_t covered = 0, end;
    const char *why;
    out->n = 0;
    int rc = idx_read(ls, p->num, p->end, collect_rec, out, &covered, &why);
    if (rc < 0) return rc;
    if (rc == 0) {
        out->n = 0;
        covered = 0;
    }
    if (covered < p->end) {
        char *path = pack_path(ls, p->num, "pack");
        if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
        rc = scan_records(p->fd, path, covered, p->end, collect_rec, out, &end, &why);
        free(path);
        if (rc < 0) return rc;
        if (rc == SCAN_STOPPED)
            return CORRUPT("local store %s: pack-%08u.pack is damaged at offset %llu (%s); "
                           "compaction stopped without deleting anything", ls->dir, p->num,
                           (unsigned long long)end, why);
    }
    recvec_settle(out);
    return CAIRN_OK;
}

/* Moves one live record out of a victim pack, unless it changed meanwhile. */
static int compact_move(local_store *ls, const slot *e, cairn_buf *tmp, uint64_t *appended)
{
    pthread_rwlock_rdlock(&ls->mu);
    int rc = read_slot(ls, e, tmp);
    pthread_rwlock_unlock(&ls->mu);
    TRY(rc);
    pthread_rwlock_wrlock(&ls->mu);
    slot *now = idx_find(ls, &e->key);
    uint64_t off;
    if (ls->poisoned) rc = poisoned_error(ls);
    else if (now && now->pi == e->pi && now->off == e->off) {
        rc = append_record(ls, REC_CHUNK, &e->key, tmp->data, tmp->len, &off);
        if (rc == CAIRN_OK) rc = idx_set(ls, &e->key, ls->cur_pi, off, e->len);
        if (rc == CAIRN_OK) *appended += rec_size(e->len);
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

/* A tombstone in a victim must survive it while an older pack that stays still holds a record
 * of its key; otherwise deleting the victim would bring the key back. */
static int compact_tombstones(local_store *ls, const bool *victim, size_t npacks,
                              uint64_t *appended)
{
    recvec recs = { 0 }, cand = { 0 }; /* cand.off holds the victim's pack number */
    int rc = CAIRN_OK;
    for (size_t pi = 0; rc == CAIRN_OK && pi < npacks; pi++) {
        if (!victim[pi]) continue;
        pthread_rwlock_rdlock(&ls->mu);
        pack *p = ls->packs[pi];
        pthread_rwlock_unlock(&ls->mu);
        rc = pack_records(ls, p, &recs);
        for (size_t i = 0; rc == CAIRN_OK && i < recs.n; i++) {
            if (recs.v[i].type != REC_TOMBSTONE) continue;
            pthread_rwlock_rdlock(&ls->mu);
            bool live = idx_find(ls, &recs.v[i].key) != NULL;
            pthread_rwlock_unlock(&ls->mu);
            if (!live) rc = recvec_push(&cand, REC_TOMBSTONE, recs.v[i].key.bytes, p->num, 0);
        }
    }
    for (size_t pi = 0; rc == CAIRN_OK && cand.n && pi < npacks; pi++) {
        pthread_rwlock_rdlock(&ls->mu);
        pack *p = ls->packs[pi];
        bool older_kept = !victim[pi] && p->fd >= 0 && p != ls->cur;
        pthread_rwlock_unlock(&ls->mu);
        if (!older_kept) continue;
        rc = pack_records(ls, p, &recs); /* sorted by key */
        for (size_t i = 0; rc == CAIRN_OK && i < cand.n; i++) {
            if (cand.v[i].type != REC_TOMBSTONE || cand.v[i].off <= p->num) continue;
            const rec *hit = bsearch(&cand.v[i], recs.v, recs.n, sizeof *recs.v, rec_cmp_key);
            if (!hit) continue;
            cand.v[i].type = 0; /* carried: do not look again */
            pthread_rwlock_wrlock(&ls->mu);
            uint64_t off;
            if (!idx_find(ls, &cand.v[i].key)) {
                rc = append_record(ls, REC_TOMBSTONE, &cand.v[i].key, NULL, 0, &off);
                if (rc == CAIRN_OK) *appended += rec_size(0);
            }
            pthread_rwlock_unlock(&ls->mu);
        }
    }
    recvec_free(&recs);
    recvec_free(&cand);
    return rc;
}

static int compact(local_store *ls, double min_live, uint64_t *out_freed)
{
    /* 1. Victims: sealed, fully readable packs with too little live data. Only compaction
     *    retires packs and a rollover only adds newer ones, so the choice stays valid. */
    pthread_rwlock_rdlock(&ls->mu);
    size_t npacks = ls->npacks;
    bool *victim = cairn_calloc(npacks, sizeof *victim);
    size_t nvictims = 0;
    for (size_t pi = 0; victim && pi < npacks; pi++) {
        pack *p = ls->packs[pi];
        if (p == ls->cur || p->fd < 0 || p->stopped || p->end < PACK_HEADER_SIZE) continue;
        uint64_t data = p->end - PACK_HEADER_SIZE;
        double frac = data ? (double)p->live / (double)data : 0.0;
        if (frac < min_live) {
            victim[pi] = true;
            nvictims++;
        }
    }
    /* 2. Snapshot the live records of the victims. */
    size_t live_recs = 0, nmoves = 0; /* count first, to size the snapshot */
    for (size_t i = 0; victim && nvictims && i <= ls->mask; i++)
        if (ls->slots[i].pi != SLOT_FREE && victim[ls->slots[i].pi]) live_recs++;
    slot *moves = cairn_malloc((live_recs ? live_recs : 1) * sizeof *moves);
    int rc = victim && moves ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory compacting %s", ls->dir);
    for (size_t i = 0; rc == CAIRN_OK && live_recs && i <= ls->mask; i++)
        if (ls->slots[i].pi != SLOT_FREE && victim[ls->slots[i].pi]) moves[nmoves++] = ls->slots[i];
    pthread_rwlock_unlock(&ls->mu);

    /* 3. Copy them into the current pack, then carry the tombstones that must survive. */
    uint64_t appended = 0, removed = 0;
    cairn_buf tmp = CAIRN_BUF_INIT;
    for (size_t i = 0; rc == CAIRN_OK && i < nmoves; i++)
        rc = compact_move(ls, &moves[i], &tmp, &appended);
    cairn_buf_dispose(&tmp);
    if (rc == CAIRN_OK && nvictims) rc = compact_tombstones(ls, victim, npacks, &appended);

    /* 4. The copies are durable before any old pack goes. */
    if (rc == CAIRN_OK && nvictims) rc = local_flush(&ls->base);

    /* 5. Retire the victims, oldest first: after a crash at any point the packs left still
     *    say the same thing. */
    for (size_t pi = 0; rc == CAIRN_OK && pi < npacks; pi++) {
        if (!victim[pi]) continue;
        pthread_mutex_lock(&ls->sync_mu);
        pthread_rwlock_wrlock(&ls->mu);
        pack *p = ls->packs[pi];
        bool unused = p->live == 0;
        if (unused) {
            close(p->fd);
            p->fd = -1;
            ls->nopen--;
        }
        pthread_rwlock_unlock(&ls->mu);
        pthread_mutex_unlock(&ls->sync_mu);
        if (!unused) { /* cannot happen: every live record was moved above */
            cairn_diag(CAIRN_LOG_ERROR, "local store %s: pack-%08u.pack still holds live records "
                      "after compaction; keeping it", ls->dir, p->num);
            continue;
        }
        char *pp = pack_path(ls, p->num, "pack"), *ip = pack_path(ls, p->num, "idx");
        struct stat sb;
        if (pp && stat(pp, &sb) == 0) removed += (uint64_t)sb.st_size;
        if (ip && stat(ip, &sb) == 0) removed += (uint64_t)sb.st_size;
        if (!pp || !ip) rc = ERR(CAIRN_ENOMEM, "out of memory compacting %s", ls->dir);
        else if (unlink(pp) != 0 && errno != ENOENT)
            rc = cairn_error_errno(errno, "local store %s: deleting %s", ls->dir, pp);
        else if (unlink(ip) != 0 && errno != ENOENT)
            rc = cairn_error_errno(errno, "local store %s: deleting %s", ls->dir, ip);
        free(pp);
        free(ip);
    }
    if (rc == CAIRN_OK && nvictims) rc = fsync_dir(ls->packs_dir);
    if (out_freed) *out_freed = removed > appended ? removed - appended : 0;
    free(moves);
    free(victim);
    return rc;
}

int store_local_compact(cairn_store *st, double min_live_fraction, uint64_t *out_bytes_freed)
{
    if (out_bytes_freed) *out_bytes_freed = 0;
    FAIL_IF(!st || !st->kind || strcmp(st->kind, "local") != 0, CAIRN_EINVAL,
            "store_local_compact needs a local store, not '%s'", st && st->kind ? st->kind : "?");
    local_store *ls = (local_store *)st;
    if (ls->readonly) return readonly_error(ls, "compact packs");
    pthread_mutex_lock(&ls->compact_mu);
    int rc = compact(ls, min_live_fraction, out_bytes_freed);
    pthread_mutex_unlock(&ls->compact_mu);
    return rc;
}

static local_store *as_local(cairn_store *st, const char *what)
{
    if (st && st->kind && strcmp(st->kind, "local") == 0) return (local_store *)st;
    ERR(CAIRN_EINVAL, "%s needs a local store, not '%s'", what, st && st->kind ? st->kind : "?");
    return NULL;
}

int store_local_seal(cairn_store *st, double min_live_fraction, bool *out_sealed)
{
    if (out_sealed) *out_sealed = false;
    local_store *ls = as_local(st, "store_local_seal");
    if (!ls) return CAIRN_EINVAL;
    if (ls->readonly) return readonly_error(ls, "seal packs");
    pthread_mutex_lock(&ls->compact_mu);
    pthread_rwlock_wrlock(&ls->mu);
    uint64_t data = ls->wbuf_off + ls->wbuf.len - PACK_HEADER_SIZE, kept = ls->cur->live;
    /* Tombstones count as kept: compaction carries them on while an older pack holds their
     * key, so sealing a pack of tombstones would only copy them into the next one. */
    for (size_t i = 0; i < ls->cur_recs.n; i++)
        if (ls->cur_recs.v[i].type == REC_TOMBSTONE) kept += rec_size(0);
    bool seal = data > 0 && (double)kept < min_live_fraction * (double)data;
    int rc = ls->poisoned ? poisoned_error(ls) : seal ? rollover(ls) : CAIRN_OK;
    pthread_rwlock_unlock(&ls->mu);
    pthread_mutex_unlock(&ls->compact_mu);
    if (rc == CAIRN_OK && out_sealed) *out_sealed = seal;
    return rc;
}

int store_local_locate(cairn_store *st, const cairn_id *id, uint32_t *out_pack,
                       uint64_t *out_offset)
{
    local_store *ls = as_local(st, "store_local_locate");
    if (!ls) return CAIRN_EINVAL;
    pthread_rwlock_rdlock(&ls->mu);
    const slot *s = idx_find(ls, id);
    if (s) {
        *out_pack = ls->packs[s->pi]->num;
        *out_offset = s->off;
    }
    pthread_rwlock_unlock(&ls->mu);
    return s ? CAIRN_OK : not_found(ls, id);
}

int store_local_packs(cairn_store *st, uint64_t *out_open, uint32_t *out_newest)
{
    local_store *ls = as_local(st, "store_local_packs");
    if (!ls) return CAIRN_EINVAL;
    pthread_rwlock_rdlock(&ls->mu);
    *out_open = ls->nopen;
    *out_newest = ls->npacks ? ls->packs[ls->npacks - 1]->num : 0;
    pthread_rwlock_unlock(&ls->mu);
    return CAIRN_OK;
}

void store_local_set_pack_max(cairn_store *st, uint64_t bytes)
{
    if (!st || !st->kind || strcmp(st->kind, "local") != 0) return;
    local_store *ls = (local_store *)st;
    pthread_rwlock_wrlock(&ls->mu);
    ls->pack_max = bytes ? bytes : PACK_MAX_DEFAULT;
    pthread_rwlock_unlock(&ls->mu);
}

/* ---------------------------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------------------------- */

/* Reads DIR/CAIRN: *out_exists, or CAIRN_EINVAL for a marker this build does not understand. */
static int marker_check(local_store *ls, bool *out_exists)
{
    char *path = cairn_sprintf("%s/" MARKER_FILE, ls->dir);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(path);
        *out_exists = false;
        return e == ENOENT ? CAIRN_OK
                           : cairn_error_errno(e, "reading the marker file of %s", ls->dir);
    }
    char buf[128];
    ssize_t r = read_full(fd, buf, sizeof buf - 1, 0);
    int e = errno;
    close(fd);
    free(path);
    if (r < 0) return cairn_error_errno(e, "reading the marker file of %s", ls->dir);
    buf[r] = '\0';
    *out_exists = true;
    size_t l1 = strlen(MARKER_FIRST_LINE);
    const char *v = buf + l1 + strlen("format ");
    char *end = NULL;
    unsigned long fmt = 0;
    bool ok = strncmp(buf, MARKER_FIRST_LINE, l1) == 0 && strncmp(buf + l1, "format ", 7) == 0 &&
              *v >= '0' && *v <= '9';
    if (ok) {
        fmt = strtoul(v, &end, 10);
        ok = end && *end == '\n';
    }
    FAIL_IF(!ok, CAIRN_EINVAL, "%s/" MARKER_FILE " is not a cairn repository marker (expected "
            "\"cairn repository\" and a \"format N\" line); is %s a cairn repository?", ls->dir,
            ls->dir);
    FAIL_IF(fmt != REPO_FORMAT, CAIRN_EINVAL, "%s is a cairn repository of format %lu, which this "
            "build does not read (it reads format %d); use a newer cairn", ls->dir, fmt,
            REPO_FORMAT);
    return CAIRN_OK;
}

/* Whether dir holds nothing but what an interrupted create leaves behind (LOCK and empty
 * packs/ refs/ tmp/ quarantine/), so that creating a repository there destroys nothing. */
static int dir_is_fresh(local_store *ls, bool *out)
{
    static const char *const ours[] = { "packs", "refs", "tmp", "quarantine" };
    *out = false;
    DIR *d = opendir(ls->dir);
    if (!d) return cairn_error_errno(errno, "listing %s", ls->dir);
    bool fresh = true;
    struct dirent *de;
    while (fresh && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "LOCK") == 0) continue;
        fresh = false;
        for (size_t i = 0; i < ARRAY_LEN(ours); i++)
            if (strcmp(n, ours[i]) == 0) {
                char *sub = cairn_sprintf("%s/%s", ls->dir, n);
                DIR *sd = sub ? opendir(sub) : NULL;
                free(sub);
                if (!sd) break;
                struct dirent *se;
                fresh = true;
                while (fresh && (se = readdir(sd)) != NULL)
                    if (strcmp(se->d_name, ".") != 0 && strcmp(se->d_name, "..") != 0) fresh = false;
                closedir(sd);
            }
    }
    closedir(d);
    *out = fresh;
    return CAIRN_OK;
}

/* The pid written in LOCK by its holder, or 0. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t r = read_full(fd, buf, sizeof buf - 1, 0);
    if (r <= 0) return 0;
    buf[r] = '\0';
    return strtol(buf, NULL, 10);
}

static int take_lock(local_store *ls, unsigned timeout_ms)
{
    char *path = cairn_sprintf("%s/LOCK", ls->dir);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = cairn_error_errno(errno, "opening the lock file %s", path);
        free(path);
        return rc;
    }
    free(path);
    double deadline = clock_now() + timeout_ms / 1000.0;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
        int e = errno;
        if (e == EINTR) continue;
        if (e != EWOULDBLOCK) {
            close(fd);
            return cairn_error_errno(e, "locking repository %s", ls->dir);
        }
        if (clock_now() >= deadline) {
            long pid = lock_holder(fd);
            close(fd);
            if (pid > 0)
                return ERR(CAIRN_EBUSY, "repository %s is locked by another writer (pid %ld); "
                           "wait for it to finish or open read-only", ls->dir, pid);
            return ERR(CAIRN_EBUSY, "repository %s is locked by another writer (pid unknown); "
                       "wait for it to finish or open read-only", ls->dir);
        }
        struct timespec ts = { 0, LOCK_RETRY_NS };
        nanosleep(&ts, NULL);
    }
    /* Informational only: who holds the lock. Not synced. */
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write_full(fd, buf, (size_t)n, 0) != 0)
        cairn_diag(CAIRN_LOG_INFO, "local store %s: could not write the pid into LOCK", ls->dir);
    ls->lock_fd = fd;
    return CAIRN_OK;
}

/* packs/ refs/ tmp/ quarantine/ exist (a writer re-creates any that went missing). */
static int ensure_dirs(local_store *ls)
{
    const char *dirs[] = { ls->packs_dir, ls->refs_dir, ls->tmp_dir, ls->quar_dir };
    bool made = false;
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        if (mkdir(dirs[i], 0777) == 0) made = true;
        else if (errno != EEXIST) return cairn_error_errno(errno, "creating %s", dirs[i]);
    }
    return made ? fsync_dir(ls->dir) : CAIRN_OK;
}

/* Temp files left by a crash. */
static void clean_tmp(local_store *ls)
{
    DIR *d = opendir(ls->tmp_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

static int open_repo(local_store *ls, unsigned flags, unsigned lock_timeout_ms)
{
    bool create = (flags & CAIRN_OPEN_CREATE) && !ls->readonly;
    struct stat sb;
    if (stat(ls->dir, &sb) != 0) {
        if (errno != ENOENT) return cairn_error_errno(errno, "opening repository %s", ls->dir);
        if (!create)
            return ERR(CAIRN_ENOTFOUND, "no cairn repository at %s; create one with 'cairn init %s'",
                       ls->dir, ls->dir);
        TRY(mkdir_p(ls->dir));
    } else if (!S_ISDIR(sb.st_mode)) {
        return ERR(CAIRN_EINVAL, "%s is not a directory, so it cannot be a cairn repository",
                   ls->dir);
    }
    bool exists;
    TRY(marker_check(ls, &exists));
    if (exists && create && (flags & CAIRN_OPEN_EXCL))
        return ERR(CAIRN_EEXIST, "a cairn repository exists at %s already", ls->dir);
    if (!exists) {
        bool fresh;
        TRY(dir_is_fresh(ls, &fresh));
        if (!fresh)
            return ERR(CAIRN_EINVAL, "%s is not a cairn repository (no " MARKER_FILE " file) and "
                       "is not empty; give the path of a repository, or an empty or new "
                       "directory to create one in", ls->dir);
        if (!create)
            return ERR(CAIRN_ENOTFOUND, "no cairn repository at %s; create one with 'cairn init %s'",
                       ls->dir, ls->dir);
    }
    if (!ls->readonly) {
        TRY(take_lock(ls, lock_timeout_ms));
        bool was = exists;
        TRY(marker_check(ls, &exists)); /* another process may have created it meanwhile */
        if (exists && !was && (flags & CAIRN_OPEN_EXCL))
            return ERR(CAIRN_EEXIST, "a cairn repository exists at %s already", ls->dir);
        TRY(ensure_dirs(ls));
        if (!exists) {
            char *marker = cairn_sprintf("%s/" MARKER_FILE, ls->dir);
            if (!marker) return ERR(CAIRN_ENOMEM, "out of memory");
            int rc = write_atomic(ls, marker, MARKER_TEXT, strlen(MARKER_TEXT));
            free(marker);
            TRY(rc);
        }
        clean_tmp(ls);
    }
    TRY(idx_alloc(ls, SLOTS_INITIAL));
    uint32_t *nums;
    size_t n;
    TRY(list_pack_nums(ls, &nums, &n));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = pack_open_load(ls, nums[i], i + 1 == n);
    uint32_t last = n ? nums[n - 1] : 0;
    free(nums);
    TRY(rc);
    if (!ls->readonly && !ls->cur) TRY(pack_create(ls, last + 1));
    return CAIRN_OK;
}

static void local_destroy(local_store *ls)
{
    for (size_t i = 0; i < ls->npacks; i++) {
        pack *p = ls->packs[i];
        for (unsigned m = 0; m < atomic_load(&p->nmaps); m++)
            munmap((void *)p->maps[m].base, p->maps[m].len);
        if (ls->packs[i]->fd >= 0) close(ls->packs[i]->fd);
        free(ls->packs[i]);
    }
    free(ls->packs);
    free(ls->slots);
    cairn_buf_dispose(&ls->wbuf);
    recvec_free(&ls->cur_recs);
    if (ls->lock_fd >= 0) close(ls->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&ls->mu);
    pthread_mutex_destroy(&ls->sync_mu);
    pthread_mutex_destroy(&ls->ref_mu);
    pthread_mutex_destroy(&ls->refresh_mu);
    pthread_mutex_destroy(&ls->compact_mu);
    pthread_mutex_destroy(&ls->map_mu);
    local_files_detach(&ls->base);
    free(ls->dir);
    free(ls->packs_dir);
    free(ls->refs_dir);
    free(ls->tmp_dir);
    free(ls->quar_dir);
    free(ls);
}

static void local_close(cairn_store *st)
{
    local_store *ls = (local_store *)st;
    if (!ls) return;
    if (!ls->readonly && ls->cur) {
        if (local_flush(st) != CAIRN_OK)
            cairn_diag(CAIRN_LOG_ERROR, "local store %s: flushing on close failed (%s); writes "
                      "since the last successful flush may be lost", ls->dir,
                      cairn_error_last()->message);
        else if (ls->cur->idx_covered != ls->wbuf_off &&
                 idx_write(ls, ls->cur, &ls->cur_recs, ls->wbuf_off) != CAIRN_OK)
            cairn_diag(CAIRN_LOG_WARN, "local store %s: could not write pack-%08u.idx on close "
                      "(%s); the next open reads the pack instead", ls->dir, ls->cur->num,
                      cairn_error_last()->message);
    }
    local_destroy(ls);
}

int store_local_open(cairn_store **out, const char *path, unsigned flags,
                     unsigned lock_timeout_ms)
{
    FAIL_IF(!path || !*path, CAIRN_EINVAL, "empty repository path");
    local_store *ls = cairn_calloc(1, sizeof *ls);
    if (!ls) return ERR(CAIRN_ENOMEM, "out of memory opening %s", path);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Readers must not starve put/flush under a steady stream of gets. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ls->mu, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&ls->sync_mu, NULL);
    pthread_mutex_init(&ls->ref_mu, NULL);
    pthread_mutex_init(&ls->refresh_mu, NULL);
    pthread_mutex_init(&ls->compact_mu, NULL);
    pthread_mutex_init(&ls->map_mu, NULL);
    ls->lock_fd = -1;
    ls->readonly = (flags & CAIRN_OPEN_READONLY) != 0;
    ls->pack_max = PACK_MAX_DEFAULT;
    ls->dir = cairn_strdup(path);
    ls->packs_dir = cairn_sprintf("%s/packs", path);
    ls->refs_dir = cairn_sprintf("%s/refs", path);
    ls->tmp_dir = cairn_sprintf("%s/tmp", path);
    ls->quar_dir = cairn_sprintf("%s/quarantine", path);
    int rc = ls->dir && ls->packs_dir && ls->refs_dir && ls->tmp_dir && ls->quar_dir
                 ? open_repo(ls, flags, lock_timeout_ms)
                 : ERR(CAIRN_ENOMEM, "out of memory opening %s", path);
    if (rc != CAIRN_OK) {
        local_destroy(ls);
        return rc;
    }
    ls->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED | CAIRN_STORE_CAP_REF_CAS,
        .kind = "local",
        .location = ls->dir,
        .get = local_get,
        .put = local_put,
        .has = local_has,
        .del = local_del,
        .list = local_list,
        .flush = local_flush,
        .ref_get = local_ref_get,
        .ref_cas = local_ref_cas,
        .ref_list = local_ref_list,
        .stat = local_stat,
        .close = local_close,
        .get_mapped = local_get_mapped,
    };
    rc = local_files_attach(&ls->base, ls->dir, ls->readonly);
    if (rc != CAIRN_OK) {
        local_destroy(ls);
        return rc;
    }
    *out = &ls->base;
    return CAIRN_OK;
}
