/*
 * wal.c - the write-ahead log (see wal.h; bytes in docs/FORMAT.md, "Write-ahead log").
 *
 * A segment: a 24-byte header, then record groups, each written by one leader in one pwrite:
 *   group header (32): u32 magic | u32 crc32c of the rest of the header and the body |
 *                      u32 body length | u32 record count | u64 first seq | u64 synced offset
 *   body: records (u32 length | u64 seq | i64 time | u8 type | payload), padded to 8 bytes.
 * "synced offset" is how far the segment was known to be fsynced when the group was written.
 *
 * Recovery reads groups in order. A group that does not verify is a torn tail when nothing
 * after it proves it was once durable: that needs a later valid group (found by scanning for
 * the magic at 8-byte steps) whose synced offset lies beyond it, or a later segment (a segment
 * is fsynced in full before the next is created). With such proof it is corruption, reported,
 * never skipped. A torn tail is cut off (the writer zeroes it) and the log continues there.
 *
 * Failures while writing: the group's writers get the error and nothing of the group becomes
 * visible; the segment is cut back to where the group began (and fsynced) so later groups can
 * follow; if even that fails the log refuses writes until reopened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "wal/wal.h"

#define SEG_MAGIC "CAIRNWAL"
#define SEG_VERSION 1
#define SEG_HEADER 24
#define GROUP_MAGIC 0x4c415743u /* "CWAL" */
#define GROUP_HEADER 32
#define REC_HEADER 21
#define GROUP_MAX_BYTES (8u << 20)   /* a leader takes at most this much into one group */
#define RECORD_MAX (32u << 20)
#define SEGMENT_DEFAULT (64ull << 20)
#define GATHER_FRACTION 0.5          /* a new leader waits at most this part of a sync ... */
#define GATHER_MAX_S 0.0005          /* ... and never longer than this */
#define ROLL_FRACTION 8              /* a checkpoint rolls a segment this part full, or fuller */
#define ZERO_MIN (64u << 10)         /* zeros are written ahead once a segment holds this much */
#define ZERO_CHUNK (256u << 10)       /* the syncer writes zeros ahead of the log this much at once */
#define ZERO_AHEAD (1u << 20)        /* ... to keep this much of the segment written ahead */

/* ---- fault injection (tests) ---- */

static atomic_int fault_op;
static atomic_long fault_countdown;
static atomic_int fault_errno;

void wal_fault(int op, long nth, int err)
{
    atomic_store(&fault_errno, err);
    atomic_store(&fault_countdown, nth);
    atomic_store(&fault_op, nth > 0 ? op : 0);
}

static bool fault_hit(int op)
{
    if (atomic_load(&fault_op) != op) return false;
    if (atomic_fetch_sub(&fault_countdown, 1) != 1) return false;
    atomic_store(&fault_op, 0);
    errno = atomic_load(&fault_errno);
    return true;
}

/* ---- file helpers ---- */

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cairn_error_errno(errno, "opening directory %s", dir);
    int rc = fsync(fd) == 0 ? CAIRN_OK : cairn_error_errno(errno, "syncing directory %s", dir);
    close(fd);
    return rc;
}

static int mkdirs(const char *path)
{
    char *p = cairn_strdup(path);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    for (char *s = p + 1; rc == CAIRN_OK; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = cairn_error_errno(errno, "creating %s", p);
        *s = c;
        if (!c) break;
    }
    free(p);
    return rc;
}

static int data_sync(int fd, const char *path)
{
    if (fault_hit(WAL_FAULT_FSYNC) || fdatasync(fd) != 0)
        return cairn_error_errno(errno, "write-ahead log %s: fsync failed", path);
    return CAIRN_OK;
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off, const char *path)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n;
        if (fault_hit(WAL_FAULT_WRITE)) n = -1;
        else if (fault_hit(WAL_FAULT_SHORT)) {
            n = pwrite(fd, p, len / 2, (off_t)off); /* a short write, then the device fails */
            if (n >= 0) errno = ENOSPC, n = -1;
        } else n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return cairn_error_errno(errno, "write-ahead log %s: writing %zu bytes at %" PRIu64,
                                     path, len, off);
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return CAIRN_OK;
}

/* ---- the log ---- */

typedef struct sealed {
    uint64_t first, last;    /* seq range (last < first: no records) */
    uint64_t used;           /* bytes used */
    char *path;
} sealed;

typedef struct waiter {
    struct waiter *next;
    uint8_t type;
    const void *payload;
    size_t len;
    bool durable;
    wal_fn apply;
    void (*abort)(const wal_record *rec, void *ctx);
    void *apply_ctx;
    bool applied;            /* apply ran: abort must undo it if the group fails */
    uint64_t seq;
    int64_t time;
    int rc;
    bool done;
    pthread_cond_t cv;
} waiter;

struct wal {
    wal_options o;
    char *dir, *oplog;
    pthread_mutex_t mu;
    waiter *head, *tail;
    /* the active segment (writer) */
    int fd;
    char *path;
    uint64_t seg_first, off, synced_off, seg_size;
    uint64_t next_seq, last_seq, synced_seq, seg_last;
    bool poisoned;
    bool roll_pending;       /* wal_request_roll(): the next group starts a new segment */
    sealed *sealed;
    size_t nsealed;
    /* applying: between a group's apply and its publish (or abort) `open` is set; apply_mu
     * guards it and the callbacks, wal_exclusive() waits for it to clear */
    pthread_mutex_t apply_mu;
    pthread_cond_t apply_cv;
    bool open;
    /* gathering a group: writers inside wal_append, queued ones, the usual time of a sync */
    unsigned inside, queued;
    double sync_avg;         /* seconds, moving average */
    bool gathering;
    pthread_cond_t gather_cv;
    uint64_t groups, syncs;
    /* writing zeros ahead of the log (see zero_ahead()): the segment is written up to zeroed;
     * the syncer writes zeros from zero_from while zeroing, and no group may be written there
     * meanwhile; groups are written below write_end */
    uint64_t zeroed, zero_from, write_end;
    bool zeroing, zero_on;   /* zero_on: something was appended since open */
    pthread_cond_t zero_cv;  /* zeroing ended (with mu) */
    /* the syncer thread: applies a leader's group on request (while the leader writes and
     * syncs it), and fsyncs what relaxed appends wrote every sync_interval_ms */
    pthread_t syncer;
    bool syncer_on, stop;
    pthread_cond_t stop_cv;  /* wakes the syncer (with mu) */
    waiter *req;             /* a leader's group to apply (req_count records) ... */
    size_t req_count;
    bool req_done;           /* ... done, with req_rc */
    int req_rc;
    char req_msg[256];
    pthread_cond_t req_cv;   /* wakes the leader (with mu) */
};

static char *seg_path(const char *dir, uint64_t first)
{
    return cairn_sprintf("%s/%016" PRIx64 ".wal", dir, first);
}

static int seal_push(wal *w, uint64_t first, uint64_t last, uint64_t used, char *path)
{
    sealed *ns = cairn_realloc(w->sealed, (w->nsealed + 1) * sizeof *ns);
    if (!ns) {
        free(path);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    w->sealed = ns;
    w->sealed[w->nsealed++] = (sealed){ first, last, used, path };
    return CAIRN_OK;
}

/* Creates the active segment whose first record will be `first`. */
static int segment_create(wal *w, uint64_t first)
{
    char *path = seg_path(w->dir, first);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? cairn_error_errno(errno, "creating write-ahead log segment %s", path) : CAIRN_OK;
    uint8_t hdr[SEG_HEADER] = { 0 };
    memcpy(hdr, SEG_MAGIC, 8);
    store_le32(hdr + 8, SEG_VERSION);
    store_le64(hdr + 16, first);
    if (rc == CAIRN_OK) {
        int e = fault_hit(WAL_FAULT_ALLOC) ? errno : posix_fallocate(fd, 0, (off_t)w->seg_size);
        if (e) rc = cairn_error_errno(e, "write-ahead log: no room for a %" PRIu64 " byte segment "
                                         "%s", w->seg_size, path);
    }
    if (rc == CAIRN_OK) rc = write_at(fd, hdr, sizeof hdr, 0, path);
    if (rc == CAIRN_OK && fsync(fd) != 0) rc = cairn_error_errno(errno, "syncing %s", path);
    if (rc == CAIRN_OK) rc = sync_dir(w->dir);
    if (rc < 0) {
        if (fd >= 0) close(fd);
        unlink(path);
        free(path);
        return rc;
    }
    w->fd = fd;
    w->path = path;
    w->seg_first = first;
    w->off = w->synced_off = w->zeroed = w->write_end = SEG_HEADER;
    w->seg_last = first - 1;
    if (w->zero_on) pthread_cond_signal(&w->stop_cv); /* the syncer writes zeros ahead */
    return CAIRN_OK;
}

/* Seals the active segment: fsync, then remember it. */
static int segment_seal(wal *w)
{
    if (w->fd < 0) return CAIRN_OK;
    TRY(data_sync(w->fd, w->path));
    w->synced_off = w->off;
    w->synced_seq = w->last_seq;
    close(w->fd);
    w->fd = -1;
    int rc = seal_push(w, w->seg_first, w->seg_last, w->off, w->path);
    w->path = NULL;
    return rc;
}

/* ---- encoding ---- */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Builds a group of the count waiters from `from` into buf. (Counted, not walked to an end
 * pointer: a writer arriving meanwhile may link itself after the last member.) */
static int build_group(cairn_buf *buf, waiter *from, size_t count, uint64_t synced_off)
{
    size_t body = 0;
    waiter *x = from;
    for (size_t i = 0; i < count; i++) { /* never reading the last member's next */
        body += REC_HEADER + x->len;
        if (i + 1 < count) x = x->next;
    }
    size_t padded = pad8(body);
    TRY(cairn_buf_reserve(buf, GROUP_HEADER + padded));
    uint8_t *p = buf->data;
    memset(p, 0, GROUP_HEADER + padded);
    store_le32(p, GROUP_MAGIC);
    store_le32(p + 8, (uint32_t)padded);
    store_le32(p + 12, (uint32_t)count);
    store_le64(p + 16, from->seq);
    store_le64(p + 24, synced_off);
    uint8_t *r = p + GROUP_HEADER;
    x = from;
    for (size_t i = 0; i < count; i++) {
        store_le32(r, (uint32_t)x->len);
        store_le64(r + 4, x->seq);
        store_le64(r + 12, (uint64_t)x->time);
        r[20] = x->type;
        if (x->len) memcpy(r + REC_HEADER, x->payload, x->len);
        r += REC_HEADER + x->len;
        if (i + 1 < count) x = x->next;
    }
    store_le32(p + 4, hash_crc32c(0, p + 8, GROUP_HEADER - 8 + padded));
    buf->len = GROUP_HEADER + padded;
    return CAIRN_OK;
}

/* Checks the group at p (avail bytes) and that its seqs start at expect (0: any). Returns its
 * total size, or 0 when it does not verify. */
static size_t check_group(const uint8_t *p, size_t avail, uint64_t expect)
{
    if (avail < GROUP_HEADER || load_le32(p) != GROUP_MAGIC) return 0;
    uint32_t body = load_le32(p + 8), count = load_le32(p + 12);
    if (body % 8 || body > avail - GROUP_HEADER || count == 0) return 0;
    if (hash_crc32c(0, p + 8, GROUP_HEADER - 8 + body) != load_le32(p + 4)) return 0;
    uint64_t seq = load_le64(p + 16);
    if (expect && seq != expect) return 0;
    const uint8_t *r = p + GROUP_HEADER, *end = r + body;
    for (uint32_t i = 0; i < count; i++) {
        if ((size_t)(end - r) < REC_HEADER) return 0;
        uint32_t len = load_le32(r);
        if (len > (size_t)(end - r) - REC_HEADER || load_le64(r + 4) != seq + i) return 0;
        r += REC_HEADER + len;
    }
    if ((size_t)(end - r) >= 8) return 0; /* more than padding left */
    for (; r < end; r++)
        if (*r) return 0;
    return GROUP_HEADER + body;
}

static int replay_group(const uint8_t *p, uint64_t applied, wal_fn fn, void *ctx, uint64_t *last)
{
    uint32_t count = load_le32(p + 12);
    const uint8_t *r = p + GROUP_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        wal_record rec = { load_le64(r + 4), (int64_t)load_le64(r + 12), r[20], r + REC_HEADER,
                           load_le32(r) };
        if (rec.seq > applied && fn) TRY(fn(&rec, ctx));
        *last = rec.seq;
        r += REC_HEADER + rec.len;
    }
    return CAIRN_OK;
}

/* After a bad group at off: is there a later valid group whose synced offset passes off? */
static bool proven_durable(const uint8_t *base, size_t size, size_t off)
{
    for (size_t at = pad8(off + 8); at + GROUP_HEADER <= size; at += 8) {
        if (load_le32(base + at) != GROUP_MAGIC) continue;
        size_t n = check_group(base + at, size - at, 0);
        if (n && load_le64(base + at + 24) > off) return true;
    }
    return false;
}

typedef struct scan_result {
    uint64_t last_seq;       /* last seq seen (first - 1 if none) */
    uint64_t end;            /* offset after the last valid group */
    bool torn;               /* a bad tail was found at end */
} scan_result;

/* Scans one segment file. */
static int scan_segment(const char *path, uint64_t first, bool last_segment, uint64_t applied,
                        uint64_t expect, wal_fn fn, void *ctx, scan_result *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    FAIL_IF(fd < 0, cairn_errno_code(errno), "opening write-ahead log segment %s: %s", path,
            strerror(errno));
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? CAIRN_OK : cairn_error_errno(errno, "reading %s", path);
    size_t size = rc == CAIRN_OK ? (size_t)sb.st_size : 0;
    const uint8_t *base = NULL;
    if (rc == CAIRN_OK && size > 0) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = cairn_error_errno(errno, "reading %s", path);
        else base = m;
    }
    close(fd);
    out->last_seq = first - 1;
    out->end = SEG_HEADER;
    out->torn = false;
    if (rc == CAIRN_OK && (size < SEG_HEADER || memcmp(base, SEG_MAGIC, 8) != 0 ||
                           load_le32(base + 8) != SEG_VERSION || load_le64(base + 16) != first)) {
        if (last_segment) out->torn = true, out->end = 0; /* created, not yet written */
        else rc = CORRUPT("write-ahead log segment %s has a damaged header", path);
    }
    size_t off = SEG_HEADER;
    while (rc == CAIRN_OK && !out->torn && off + GROUP_HEADER <= size) {
        const uint8_t *g = base + off;
        bool zero = true;
        for (int i = 0; i < GROUP_HEADER && zero; i++) zero = g[i] == 0;
        if (zero) break; /* the preallocated, never written rest */
        size_t n = check_group(g, size - off, expect);
        if (!n) {
            if (!last_segment || proven_durable(base, size, off))
                rc = CORRUPT("write-ahead log segment %s: the record group at offset %zu is "
                             "damaged although later writes prove it was durable; the log is "
                             "corrupt there: restore the repository from a backup or replica",
                             path, off);
            else
                out->torn = true;
            break;
        }
        rc = replay_group(g, applied, fn, ctx, &out->last_seq);
        expect = out->last_seq + 1;
        off += n;
        out->end = off;
    }
    if (base) munmap((void *)base, size);
    return rc;
}

typedef struct seglist {
    uint64_t *first;
    size_t n;
} seglist;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int list_segments(const char *dir, seglist *out)
{
    out->first = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? CAIRN_OK : cairn_error_errno(errno, "reading %s", dir);
    struct dirent *de;
    size_t cap = 0;
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && (de = readdir(d))) {
        uint64_t v;
        char tail[8];
        if (strlen(de->d_name) != 20 || sscanf(de->d_name, "%16" SCNx64 "%4s", &v, tail) != 2 ||
            strcmp(tail, ".wal") != 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nf = cairn_realloc(out->first, cap * sizeof *nf);
            if (!nf) rc = ERR(CAIRN_ENOMEM, "out of memory");
            else out->first = nf;
        }
        if (rc == CAIRN_OK) out->first[out->n++] = v;
    }
    closedir(d);
    if (rc == CAIRN_OK && out->n) qsort(out->first, out->n, sizeof *out->first, cmp_u64);
    return rc;
}

/* Cuts a torn tail at end: zero from there on (keeping the preallocation) and fsync. */
static int cut_tail(const char *path, uint64_t end, uint64_t seg_size)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    FAIL_IF(fd < 0, cairn_errno_code(errno), "opening %s to repair it: %s", path, strerror(errno));
    int rc = CAIRN_OK;
    if (ftruncate(fd, (off_t)end) != 0 || posix_fallocate(fd, 0, (off_t)MAX(seg_size, end)) != 0 ||
        fsync(fd) != 0)
        rc = cairn_error_errno(errno, "repairing the torn tail of %s", path);
    close(fd);
    return rc;
}

static void *syncer_main(void *arg);

int wal_open(wal **out, const wal_options *o, uint64_t applied, wal_fn fn, void *ctx,
             uint64_t *out_last_seq)
{
    wal *w = cairn_calloc(1, sizeof *w);
    FAIL_IF(!w, CAIRN_ENOMEM, "out of memory opening the write-ahead log");
    w->o = *o;
    w->fd = -1;
    w->seg_size = o->segment_bytes ? o->segment_bytes : SEGMENT_DEFAULT;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->stop_cv, NULL);
    pthread_cond_init(&w->req_cv, NULL);
    pthread_cond_init(&w->gather_cv, NULL);
    pthread_cond_init(&w->zero_cv, NULL);
    pthread_mutex_init(&w->apply_mu, NULL);
    pthread_cond_init(&w->apply_cv, NULL);
    w->next_seq = applied + 1;
    w->last_seq = w->synced_seq = applied;
    int rc = CAIRN_OK;
    if (o->dir) {
        w->dir = cairn_strdup(o->dir);
        w->oplog = cairn_sprintf("%s/oplog", o->dir);
        if (!w->dir || !w->oplog) rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK && !o->readonly) rc = mkdirs(w->oplog);
        seglist segs = { NULL, 0 };
        if (rc == CAIRN_OK) rc = list_segments(w->dir, &segs);
        uint64_t expect = 0, last = applied;
        scan_result sr = { 0, 0, false };
        for (size_t i = 0; rc == CAIRN_OK && i < segs.n; i++) {
            char *path = seg_path(w->dir, segs.first[i]);
            if (!path) {
                rc = ERR(CAIRN_ENOMEM, "out of memory");
                break;
            }
            if (i == 0 && segs.first[0] > applied + 1)
                rc = CORRUPT("write-ahead log %s starts at record %" PRIu64 " but the tree has "
                             "only records up to %" PRIu64 ": records are missing",
                             w->dir, segs.first[0], applied);
            if (rc == CAIRN_OK)
                rc = scan_segment(path, segs.first[i], i + 1 == segs.n, applied, expect, fn, ctx, &sr);
            if (rc == CAIRN_OK) {
                if (sr.last_seq >= segs.first[i]) last = MAX(last, sr.last_seq);
                expect = sr.last_seq + 1 > segs.first[i] ? sr.last_seq + 1 : segs.first[i];
            }
            if (rc == CAIRN_OK && i + 1 < segs.n) rc = seal_push(w, segs.first[i], sr.last_seq, sr.end, path);
            else if (rc == CAIRN_OK) { /* the last segment: appended to, after repair */
                if (sr.torn && !o->readonly && sr.end > 0) {
                    cairn_diag(CAIRN_LOG_WARN, "write-ahead log %s: cut a torn tail at offset %" PRIu64
                               " (writes a crash interrupted; none was acknowledged)", path, sr.end);
                    rc = cut_tail(path, sr.end, w->seg_size);
                }
                if (rc == CAIRN_OK && !o->readonly && sr.end > 0) {
                    w->fd = open(path, O_RDWR | O_CLOEXEC);
                    if (w->fd < 0) rc = cairn_error_errno(errno, "opening %s", path);
                    w->path = path;
                    path = NULL;
                    w->seg_first = segs.first[i];
                    w->off = w->synced_off = w->zeroed = w->write_end = sr.end;
                    w->seg_last = sr.last_seq;
                } else if (rc == CAIRN_OK && sr.end == 0 && !o->readonly) {
                    unlink(path); /* an empty segment a crash left half-made */
                }
                free(path);
            } else {
                free(path);
            }
        }
        free(segs.first);
        w->last_seq = w->synced_seq = last;
        w->next_seq = last + 1;
        if (rc == CAIRN_OK && !o->readonly && w->fd < 0) rc = segment_create(w, w->next_seq);
        if (rc == CAIRN_OK && !o->readonly) { /* also for relaxed calls on a durable log */
            w->syncer_on = pthread_create(&w->syncer, NULL, syncer_main, w) == 0;
            if (!w->syncer_on) rc = ERR(CAIRN_EIO, "could not start the write-ahead log syncer");
        }
    }
    if (rc < 0) {
        wal_close(w);
        return rc;
    }
    if (out_last_seq) *out_last_seq = w->last_seq;
    *out = w;
    return CAIRN_OK;
}

void wal_close(wal *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->stop_cv);
    pthread_mutex_unlock(&w->mu);
    if (w->syncer_on) pthread_join(w->syncer, NULL);
    if (w->fd >= 0) {
        if (w->synced_off < w->off && fdatasync(w->fd) != 0)
            cairn_diag(CAIRN_LOG_ERROR, "write-ahead log %s: fsync on close failed: %s", w->path,
                       strerror(errno));
        close(w->fd);
    }
    for (size_t i = 0; i < w->nsealed; i++) free(w->sealed[i].path);
    free(w->sealed);
    free(w->path);
    free(w->dir);
    free(w->oplog);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->stop_cv);
    pthread_cond_destroy(&w->req_cv);
    pthread_cond_destroy(&w->gather_cv);
    pthread_cond_destroy(&w->zero_cv);
    pthread_mutex_destroy(&w->apply_mu);
    pthread_cond_destroy(&w->apply_cv);
    free(w);
}

/* ---- appending ---- */

/* Whether the syncer should write zeros now (mu held): the active segment holds some log, and
 * less than `ahead` bytes past the log are written yet. */
static bool zeros_wanted(const wal *w, uint64_t ahead)
{
    return w->zero_on && !w->zeroing && w->fd >= 0 && w->write_end >= SEG_HEADER + ZERO_MIN &&
           w->zeroed < w->seg_size && w->zeroed < w->write_end + ahead;
}

/* Makes room for a group of `size` bytes (mu held): rolls to a new segment when the active
 * one is full; a group bigger than a whole segment grows its segment. Waits while the syncer
 * writes zeros where the group goes (only when the log outruns it). */
static int make_room(wal *w, size_t size, uint64_t first_seq)
{
    if (!w->dir) return CAIRN_OK;
    for (;;) {
        if (w->fd < 0) TRY(segment_create(w, first_seq)); /* an earlier roll failed half-way */
        if ((w->roll_pending || w->off + size > w->seg_size) && w->off > SEG_HEADER) {
            w->roll_pending = false;
            TRY(segment_seal(w));
            TRY(segment_create(w, first_seq));
        }
        if (w->off + size > w->seg_size) {
            int e = posix_fallocate(w->fd, 0, (off_t)(w->off + size));
            if (e)
                return cairn_error_errno(e, "write-ahead log %s: no room for %zu bytes", w->path,
                                         size);
        }
        if (!w->zeroing || w->off + size <= w->zero_from) break;
        pthread_cond_wait(&w->zero_cv, &w->mu);
    }
    w->write_end = w->off + size;
    w->zero_on = true;
    if (zeros_wanted(w, ZERO_AHEAD / 2)) pthread_cond_signal(&w->stop_cv); /* wake the syncer */
    return CAIRN_OK;
}

/* The syncer (mu held) writes zeros over the next ZERO_CHUNK bytes of the active segment past
 * anything a group was or is being written to, and fdatasyncs them. A segment is preallocated
 * with posix_fallocate(), which leaves its blocks "unwritten" on ext4 and XFS: the first write
 * to such a block changes the file's extent map, so the fdatasync of a group that lands there
 * must also commit the file system's journal. Over blocks already written, it flushes data only:
 * here that halves its time (fdatasync of 1.3 KB appends: 142 us into fallocated blocks, 92 us
 * into written ones). Nothing depends on it for correctness: readers see zeros either way. */
static void zero_ahead(wal *w)
{
    static const uint8_t zeros[ZERO_CHUNK];
    uint64_t from = MAX(w->zeroed, w->write_end);
    if (from >= w->seg_size) {
        w->zeroed = w->seg_size;
        return;
    }
    uint64_t n = MIN((uint64_t)ZERO_CHUNK, w->seg_size - from), first = w->seg_first;
    int fd = dup(w->fd);
    if (fd < 0) {
        w->zeroed = w->seg_size; /* not for this segment, then */
        return;
    }
    w->zeroing = true;
    w->zero_from = from;
    pthread_mutex_unlock(&w->mu);
    bool ok = pwrite(fd, zeros, n, (off_t)from) == (ssize_t)n && fdatasync(fd) == 0;
    close(fd);
    pthread_mutex_lock(&w->mu);
    w->zeroing = false;
    if (w->seg_first == first) w->zeroed = ok ? from + n : w->seg_size;
    pthread_cond_broadcast(&w->zero_cv);
}

/* After a failed group write: cut the segment back to where the group began, so that what
 * follows stays valid. Failing that, the log is poisoned until reopened. */
static void undo_group(wal *w)
{
    if (!w->dir || w->fd < 0) return;
    w->zeroed = MIN(w->zeroed, w->off); /* the cut blocks are unwritten again */
    w->write_end = w->off;
    bool ok = ftruncate(w->fd, (off_t)w->off) == 0 &&
              posix_fallocate(w->fd, 0, (off_t)w->seg_size) == 0 && fdatasync(w->fd) == 0;
    if (!ok) {
        w->poisoned = true;
        cairn_diag(CAIRN_LOG_ERROR, "write-ahead log %s: could not undo a failed write (%s); "
                   "refusing writes until the repository is reopened", w->path, strerror(errno));
    }
}

/* A new leader (mu held) waits a moment for the writers of the group before it, which are still
 * inside wal_append, to queue their next records: otherwise writers settle into two groups that
 * take turns, each half the size. It waits only while more writers are inside than queued, and
 * at most a fraction of a sync; a lone writer never waits. */
static void gather(wal *w)
{
    if (w->queued >= w->inside || w->sync_avg <= 0) return;
    double limit = MIN(w->sync_avg * GATHER_FRACTION, GATHER_MAX_S);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)(limit * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    w->gathering = true;
    while (w->queued < w->inside)
        if (pthread_cond_timedwait(&w->gather_cv, &w->mu, &ts) != 0) break;
    w->gathering = false;
}

/* Applies the group's records (apply_mu held, sets open); on failure undoes those applied. */
static int apply_group(waiter *from, size_t count)
{
    int rc = CAIRN_OK;
    waiter *x = from;
    for (size_t i = 0; rc == CAIRN_OK && i < count; i++) {
        if (x->apply) {
            wal_record rec = { x->seq, x->time, x->type, x->payload, x->len };
            rc = x->apply(&rec, x->apply_ctx);
            x->applied = rc == CAIRN_OK;
        }
        if (i + 1 < count) x = x->next;
    }
    return rc;
}

static void abort_group(waiter *from, size_t count)
{
    waiter *x = from;
    for (size_t i = 0; i < count; i++) {
        if (x->applied && x->abort) {
            wal_record rec = { x->seq, x->time, x->type, x->payload, x->len };
            x->abort(&rec, x->apply_ctx);
        }
        x->applied = false;
        if (i + 1 < count) x = x->next;
    }
}

/* The leader writes and syncs its group while the syncer thread applies it (the records stay
 * invisible: publish, in sequence order, makes them visible once durable). A lone record is
 * applied right here: handing it over would cost more than it saves. A group that fails is
 * undone: aborted, cut from the segment, and its sequence numbers are used again. */
static int lead(wal *w, waiter *me, size_t count, bool sync, uint64_t first, size_t body,
                cairn_buf *g)
{
    uint64_t synced_off = w->synced_off;
    int rc = make_room(w, GROUP_HEADER + pad8(body), first);
    bool helped = rc == CAIRN_OK && sync && w->syncer_on;
    if (helped) { /* the syncer applies it meanwhile */
        w->req = me;
        w->req_count = count;
        w->req_done = false;
        pthread_cond_signal(&w->stop_cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == CAIRN_OK) rc = build_group(g, me, count, synced_off);
    double t0 = clock_now();
    if (rc == CAIRN_OK && w->dir) rc = write_at(w->fd, g->data, g->len, w->off, w->path);
    if (rc == CAIRN_OK && sync && w->dir) rc = data_sync(w->fd, w->path);
    double took = clock_now() - t0;
    int arc = CAIRN_OK;
    if (helped) {
        pthread_mutex_lock(&w->mu);
        while (!w->req_done) pthread_cond_wait(&w->req_cv, &w->mu);
        arc = w->req_rc;
        if (arc < 0) cairn_error_set(arc, "%s", w->req_msg);
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_lock(&w->apply_mu);
    if (!helped && rc == CAIRN_OK) arc = apply_group(me, count);
    if (rc == CAIRN_OK) rc = arc;
    if (rc == CAIRN_OK && w->o.publish) w->o.publish(first + count - 1, w->o.publish_ctx);
    if (rc < 0) abort_group(me, count);
    w->open = false;
    pthread_cond_broadcast(&w->apply_cv);
    pthread_mutex_unlock(&w->apply_mu);
    pthread_mutex_lock(&w->mu);
    if (rc == CAIRN_OK) {
        w->groups++;
        w->off += g->len;
        w->last_seq = w->seg_last = first + count - 1;
        if (sync) {
            w->syncs++;
            w->synced_off = w->off;
            w->synced_seq = w->last_seq;
            w->sync_avg = w->sync_avg ? 0.875 * w->sync_avg + 0.125 * took : took;
        }
    } else {
        undo_group(w);
        w->next_seq = first; /* nothing of the group was acknowledged: reuse its numbers */
    }
    return rc;
}

int wal_append(wal *w, uint8_t type, const void *payload, size_t len, bool durable,
               const wal_hooks *hooks, void *ctx, uint64_t *out_seq)
{
    FAIL_IF(w->o.readonly, CAIRN_EREADONLY, "the write-ahead log was opened read-only");
    FAIL_IF(len > RECORD_MAX, CAIRN_EINVAL, "a log record of %zu bytes is over the %u byte limit",
            len, RECORD_MAX);
    waiter me;
    memset(&me, 0, sizeof me);
    me.type = type;
    me.payload = payload;
    me.len = len;
    me.durable = durable;
    me.apply = hooks ? hooks->apply : NULL;
    me.abort = hooks ? hooks->abort : NULL;
    me.apply_ctx = ctx;
    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&w->mu);
    if (w->poisoned) {
        pthread_mutex_unlock(&w->mu);
        pthread_cond_destroy(&me.cv);
        return ERR(CAIRN_EIO, "the write-ahead log %s failed earlier and refuses writes; close "
                              "and reopen the repository",
                   w->dir ? w->dir : "(memory)");
    }
    if (w->tail) w->tail->next = &me;
    else w->head = &me;
    w->tail = &me;
    w->inside++;
    w->queued++;
    if (w->gathering) pthread_cond_signal(&w->gather_cv);
    while (!me.done && w->head != &me) pthread_cond_wait(&me.cv, &w->mu);
    if (!me.done) { /* the leader: take the queue as one group */
        gather(w);
        waiter *end = w->head, *last = NULL;
        size_t bytes = 0, count = 0;
        bool sync = false;
        int64_t now = clock_wall_ns();
        uint64_t first = w->next_seq;
        while (end && (end == w->head || bytes + end->len < GROUP_MAX_BYTES)) {
            w->queued--;
            end->seq = w->next_seq++;
            end->time = now;
            bytes += end->len;
            sync |= end->durable;
            last = end;
            end = end->next;
            count++;
        }
        cairn_buf g = CAIRN_BUF_INIT;
        int rc = lead(w, &me, count, sync, first, bytes + count * REC_HEADER, &g);
        cairn_buf_dispose(&g);
        /* whoever linked after the group's last member meanwhile leads next */
        w->head = last->next;
        if (!w->head) w->tail = NULL;
        else pthread_cond_signal(&w->head->cv);
        waiter *x = &me;
        for (size_t i = 0; i < count; i++) {
            waiter *next = i + 1 < count ? x->next : NULL;
            x->rc = rc;
            x->done = true;
            if (x != &me) pthread_cond_signal(&x->cv);
            x = next;
        }
    }
    w->inside--;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&me.cv);
    if (me.rc == CAIRN_OK && out_seq) *out_seq = me.seq;
    return me.rc;
}

static void *syncer_main(void *arg)
{
    wal *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (w->req) { /* a leader's group */
            waiter *from = w->req;
            size_t count = w->req_count;
            w->req = NULL;
            pthread_mutex_unlock(&w->mu);
            pthread_mutex_lock(&w->apply_mu);
            w->open = true; /* until the leader publishes or aborts */
            int rc = apply_group(from, count);
            pthread_mutex_unlock(&w->apply_mu);
            pthread_mutex_lock(&w->mu);
            w->req_rc = rc;
            if (rc < 0) snprintf(w->req_msg, sizeof w->req_msg, "%s", cairn_error_last()->message);
            w->req_done = true;
            pthread_cond_broadcast(&w->req_cv);
            continue;
        }
        if (zeros_wanted(w, ZERO_AHEAD)) {
            zero_ahead(w);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned every = w->o.sync_interval_ms ? w->o.sync_interval_ms : 100;
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)every * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        if (pthread_cond_timedwait(&w->stop_cv, &w->mu, &ts) == 0) continue; /* woken */
        if (w->stop || w->fd < 0 || w->synced_off >= w->off) continue;
        /* relaxed appends: fsync a duplicate without the lock, so appends go on meanwhile; a
         * roll may seal the segment in between (it syncs it itself): then the result is
         * dropped */
        uint64_t off = w->off, seq = w->last_seq, first = w->seg_first;
        int fd = dup(w->fd);
        char *path = cairn_strdup(w->path);
        pthread_mutex_unlock(&w->mu);
        int rc = fd >= 0 && path ? data_sync(fd, path)
                                 : ERR(CAIRN_EIO, "write-ahead log syncer: no descriptor");
        if (fd >= 0) close(fd);
        pthread_mutex_lock(&w->mu);
        if (rc == CAIRN_OK && w->seg_first == first && w->fd >= 0 && off > w->synced_off) {
            w->synced_off = off;
            w->synced_seq = seq;
        } else if (rc < 0) {
            cairn_diag(CAIRN_LOG_ERROR, "%s", cairn_error_last()->message);
        }
        free(path);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_sync(wal *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = CAIRN_OK;
    if (w->fd >= 0 && w->synced_off < w->off) {
        rc = data_sync(w->fd, w->path);
        if (rc == CAIRN_OK) {
            w->synced_off = w->off;
            w->synced_seq = w->last_seq;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_roll(wal *w, uint64_t *out_last)
{
    pthread_mutex_lock(&w->mu);
    while (w->head) { /* let the queue drain: no leader may be writing */
        pthread_mutex_unlock(&w->mu);
        sched_yield();
        pthread_mutex_lock(&w->mu);
    }
    int rc = CAIRN_OK;
    *out_last = w->last_seq;
    if (w->dir && !w->o.readonly && w->off > SEG_HEADER) {
        rc = segment_seal(w);
        if (rc == CAIRN_OK) rc = segment_create(w, w->next_seq);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void wal_request_roll(wal *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->off >= SEG_HEADER + w->seg_size / ROLL_FRACTION) w->roll_pending = true;
    pthread_mutex_unlock(&w->mu);
}

void wal_exclusive(wal *w, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&w->apply_mu);
    while (w->open) pthread_cond_wait(&w->apply_cv, &w->apply_mu);
    fn(ctx);
    pthread_mutex_unlock(&w->apply_mu);
}

/* Whether the oplog segment at path may go: older than the age limit (none: any age). */
static bool old_enough(const char *path, unsigned retain_seconds)
{
    if (!retain_seconds) return true;
    struct stat st;
    if (stat(path, &st) != 0) return true;
    return (int64_t)time(NULL) - (int64_t)st.st_mtime > (int64_t)retain_seconds;
}

int wal_retire(wal *w, uint64_t through)
{
    if (!w->dir || w->o.readonly) return CAIRN_OK;
    pthread_mutex_lock(&w->mu);
    int rc = CAIRN_OK;
    size_t keep = 0, moved = 0;
    for (size_t i = 0; i < w->nsealed; i++) {
        sealed *s = &w->sealed[i];
        if (rc < 0 || s->last > through) {
            w->sealed[keep++] = *s;
            continue;
        }
        char *dst = cairn_sprintf("%s/%016" PRIx64 ".wal", w->oplog, s->first);
        if (!dst) rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK && (truncate(s->path, (off_t)s->used) != 0 || rename(s->path, dst) != 0))
            rc = cairn_error_errno(errno, "retiring write-ahead log segment %s", s->path);
        free(dst);
        if (rc < 0) w->sealed[keep++] = *s;
        else free(s->path), moved++;
    }
    w->nsealed = keep;
    pthread_mutex_unlock(&w->mu);
    if (rc == CAIRN_OK && moved == 0) return CAIRN_OK; /* nothing changed: no sync, no pruning */
    if (rc == CAIRN_OK) rc = sync_dir(w->dir);
    /* retention: only the newest retain_segments oplog segments are kept */
    seglist old = { NULL, 0 };
    if (rc == CAIRN_OK) rc = list_segments(w->oplog, &old);
    unsigned retain = w->o.retain_segments;
    for (size_t i = 0; rc == CAIRN_OK && old.n > retain && i < old.n - retain; i++) {
        char *p = seg_path(w->oplog, old.first[i]);
        if (p && !old_enough(p, w->o.retain_seconds)) {
            free(p);
            break; /* the rest are newer still */
        }
        if (p && unlink(p) != 0 && errno != ENOENT) rc = cairn_error_errno(errno, "removing %s", p);
        free(p);
    }
    free(old.first);
    return rc;
}

uint64_t wal_last_seq(wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t s = w->last_seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}

void wal_stats_get(wal *w, wal_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nsealed; i++) out->bytes += w->sealed[i].used;
    out->bytes += w->fd >= 0 ? w->off : 0;
    out->segments = w->nsealed + (w->fd >= 0);
    out->last_seq = w->last_seq;
    out->synced_seq = w->synced_seq;
    out->groups = w->groups;
    out->syncs = w->syncs;
    pthread_mutex_unlock(&w->mu);
    if (w->oplog) {
        seglist l = { NULL, 0 };
        if (list_segments(w->oplog, &l) == CAIRN_OK) out->oplog_segments = l.n;
        free(l.first);
    }
}

/* ---- the operation log ---- */

typedef struct log_filter {
    uint64_t since;
    int64_t from, to;
    wal_fn fn;
    void *ctx;
} log_filter;

static int filter(const wal_record *r, void *ctx)
{
    log_filter *f = ctx;
    if (r->seq < f->since || (f->from && r->time < f->from) || (f->to && r->time > f->to))
        return CAIRN_OK;
    return f->fn(r, f->ctx);
}

static int read_dir_log(const char *dir, log_filter *f)
{
    seglist l;
    TRY(list_segments(dir, &l));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < l.n; i++) {
        char *p = seg_path(dir, l.first[i]);
        scan_result sr;
        rc = p ? scan_segment(p, l.first[i], true, 0, 0, filter, f, &sr) : ERR(CAIRN_ENOMEM, "oom");
        free(p);
    }
    free(l.first);
    return rc;
}

int wal_read_log(const char *dir, uint64_t since, int64_t from, int64_t to, wal_fn fn, void *ctx)
{
    log_filter f = { since, from, to, fn, ctx };
    char *oplog = cairn_sprintf("%s/oplog", dir);
    FAIL_IF(!oplog, CAIRN_ENOMEM, "out of memory");
    int rc = read_dir_log(oplog, &f);
    free(oplog);
    if (rc == CAIRN_OK) rc = read_dir_log(dir, &f);
    return rc;
}
