/*
 * wal.c - the write-ahead log (see wal.h; bytes in docs/FORMAT.md, "Write-ahead log").
 *
 * A segment: a 24-byte header, then record groups, each written by one leader in one pwrite:
 *   group header (32): u32 magic | u32 crc32c of the rest of the header and the body |
 *                      u32 body length | u32 record count | u64 first seq | u64 synced offset
 *   body: records (u32 length | u64 seq | i64 time | u8 type | payload), padded to 8 bytes.
 * "synced offset" is how far the segment was known to be fsynced when the group was written.
 *
 * Recovery reads groups in order. What does not verify is never cut, zeroed or unlinked
 * (docs/FORMAT.md, "Recovery"): damage whose records the tree already holds (the next valid
 * group, or segment, starts at or below applied + 1) is skipped and reported; a bad group is a
 * torn tail when nothing after it proves it was once durable (a later valid group, found by
 * scanning for the magic at 8-byte steps, whose synced offset lies beyond it; or a later
 * segment, since a segment is fsynced in full before the next is created). A torn tail stays in
 * place: the writer seals that segment and goes on in a new one, so a sealed segment's bad tail
 * followed by a segment starting right after its last valid record is a tail kept so. Anything
 * else is corruption, reported, never skipped. Nothing of this needs new space.
 *
 * Failures while writing: the group's writers get the error and nothing of the group becomes
 * visible; the segment is cut back to where the group began (and fsynced) so later groups can
 * follow; if even that fails the log refuses writes until reopened.
 *
 * Files are the store's (its file_* methods): a segment is read whole into memory, never
 * mapped: the writer cuts segments back to what they hold (trim_active, trim_sealed) while
 * readers in other processes may be reading them, and a mapping past a file's new end faults
 * (SIGBUS) where a read only comes up short. The active segment's handle is used without the mutex
 * by the leader (writes, syncs) and by the syncer (zeros ahead, relaxed syncs); `busy` counts
 * the syncer's uses, and sealing waits for them to end before it closes the handle.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
#define SEGMENT_DEFAULT (64ull << 20)  /* the largest a segment grows to, unless set */
#define SEGMENT_MIN_DEFAULT (1ull << 20) /* the first segment's size, unless set */
#define GROW_SECONDS 10.0            /* a segment filled faster than this: the next is twice as big */
#define SHRINK_SECONDS 60.0          /* one rolled by a checkpoint after this: the next is half */
#define IDLE_TRIM_SECONDS 5.0        /* no append for this long: the preallocation is given back */
#define GATHER_FRACTION 0.5          /* a new leader waits at most this part of a sync ... */
#define GATHER_MAX_S 0.0005          /* ... and never longer than this */
#define ROLL_FRACTION 8              /* a checkpoint rolls a segment this part full, or fuller */
#define ZERO_MIN (64u << 10)         /* zeros are written ahead once a segment holds this much */
#define ZERO_CHUNK (256u << 10)       /* the syncer writes zeros ahead of the log this much at once */
#define ZERO_AHEAD (1u << 20)        /* ... to keep this much of the segment written ahead */

/* ---- file helpers: the store's methods, with messages that say it is the log ---- */

typedef cairn_store_file sfile;

static int data_sync(cairn_store *st, sfile *f, const char *name)
{
    int rc = st->file_sync(st, f, CAIRN_FILE_SYNC_DATA);
    return rc < 0 ? cairn_error_prefix(rc, "write-ahead log %s: fsync failed", name) : CAIRN_OK;
}

static int write_at(cairn_store *st, sfile *f, const void *buf, size_t len, uint64_t off,
                    const char *name)
{
    int rc = st->file_write(st, f, buf, len, off);
    return rc < 0 ? cairn_error_prefix(rc, "write-ahead log %s: writing %zu bytes at %" PRIu64,
                                       name, len, off)
                  : CAIRN_OK;
}

/* Preallocates f up to size bytes (file_reserve). A store without file_reserve (memory) has
 * nothing to gain from it: its segments grow as they are written, and end at their end of file
 * instead of at zeros. */
static int reserve(cairn_store *st, sfile *f, uint64_t size, const char *name)
{
    int rc = st->file_reserve ? st->file_reserve(st, f, size) : CAIRN_OK;
    return rc < 0 ? cairn_error_prefix(rc, "write-ahead log: no room for a %" PRIu64 " byte "
                                           "segment %s", size, name)
                  : CAIRN_OK;
}

/* dir/leaf, or leaf when dir is the top (""). Caller frees. */
static char *join(const char *dir, const char *leaf)
{
    return *dir ? cairn_sprintf("%s/%s", dir, leaf) : cairn_strdup(leaf);
}

/* ---- the log ---- */

typedef struct sealed {
    uint64_t first, last;    /* seq range (last < first: no records) */
    uint64_t used;           /* bytes used */
    char *path;              /* its name in the store */
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
    char *msg;               /* a member of a group that failed: the leader's message (owned) */
    bool done;
    pthread_cond_t cv;
} waiter;

struct wal {
    wal_options o;
    cairn_store *st;         /* o.store */
    char *dir, *oplog;       /* names in the store */
    pthread_mutex_t mu;
    waiter *head, *tail;
    /* the active segment (writer): its handle, its name */
    sfile *fd;
    char *path;
    unsigned busy;           /* the syncer is using fd without mu (see the top) */
    uint64_t seg_first, off, synced_off, seg_size;
    /* space (see segment_size()): the active segment rolls at seg_size, which lies in
     * [seg_min, seg_max]; `reserved` bytes of it are preallocated (at least off) */
    uint64_t seg_min, seg_max, reserved;
    double seg_born, last_append; /* clock_now() of its creation, of the last group */
    uint64_t next_seq, last_seq, synced_seq, seg_last;
    bool poisoned;
    bool fresh;              /* opened with no segment at all, live or retired */
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
    bool syncer_wanted;      /* a writer's log: the syncer starts with the first append */
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
    char leaf[32];
    snprintf(leaf, sizeof leaf, "%016" PRIx64 ".wal", first);
    return join(dir, leaf);
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
    cairn_store *st = w->st;
    char *path = seg_path(w->dir, first);
    FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
    sfile *fd = NULL;
    int rc = st->file_open(st, &fd, path, CAIRN_FILE_WRITE | CAIRN_FILE_CREATE | CAIRN_FILE_TRUNC);
    if (rc < 0) rc = cairn_error_prefix(rc, "creating write-ahead log segment %s", path);
    uint8_t hdr[SEG_HEADER] = { 0 };
    memcpy(hdr, SEG_MAGIC, 8);
    store_le32(hdr + 8, SEG_VERSION);
    store_le64(hdr + 16, first);
    if (rc == CAIRN_OK) rc = reserve(st, fd, w->seg_size, path);
    if (rc == CAIRN_OK) rc = write_at(st, fd, hdr, sizeof hdr, 0, path);
    if (rc == CAIRN_OK && (rc = st->file_sync(st, fd, CAIRN_FILE_SYNC_ALL)) < 0)
        rc = cairn_error_prefix(rc, "write-ahead log segment %s", path);
    if (rc == CAIRN_OK && (rc = st->file_sync_dir(st, w->dir)) < 0)
        rc = cairn_error_prefix(rc, "write-ahead log segment %s", path);
    if (rc < 0) {
        if (fd) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
            st->file_close(st, fd);
            /* a failure here leaves an empty segment: open drops it */
            if (st->file_remove(st, path) < 0) cairn_error_set(rc, "%s", msg);
        }
        free(path);
        return rc;
    }
    w->fd = fd;
    w->path = path;
    w->seg_first = first;
    w->off = w->synced_off = w->zeroed = w->write_end = SEG_HEADER;
    w->reserved = w->seg_size;
    w->seg_born = clock_now();
    w->seg_last = first - 1;
    if (w->zero_on) pthread_cond_signal(&w->stop_cv); /* the syncer writes zeros ahead */
    return CAIRN_OK;
}

/* Seals the active segment: fsync, then remember it. */
static int segment_seal(wal *w)
{
    if (!w->fd) return CAIRN_OK;
    while (w->busy) pthread_cond_wait(&w->zero_cv, &w->mu);
    TRY(data_sync(w->st, w->fd, w->path));
    w->synced_off = w->off;
    w->synced_seq = w->last_seq;
    w->st->file_close(w->st, w->fd);
    w->fd = NULL;
    int rc = seal_push(w, w->seg_first, w->seg_last, w->off, w->path);
    w->path = NULL;
    return rc;
}

/* ---- encoding ---- */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The group header at p: its body of `padded` bytes holds count records from first_seq. The CRC
 * (p + 4) is the caller's, over the rest of the header and the body. */
static void put_group_header(uint8_t *p, size_t padded, size_t count, uint64_t first_seq,
                             uint64_t synced_off)
{
    store_le32(p, GROUP_MAGIC);
    store_le32(p + 8, (uint32_t)padded);
    store_le32(p + 12, (uint32_t)count);
    store_le64(p + 16, first_seq);
    store_le64(p + 24, synced_off);
}

/* The header of record x at r (its payload follows). */
static void put_record_header(uint8_t *r, const waiter *x)
{
    store_le32(r, (uint32_t)x->len);
    store_le64(r + 4, x->seq);
    store_le64(r + 12, (uint64_t)x->time);
    r[20] = x->type;
}

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
    put_group_header(p, padded, count, from->seq, synced_off);
    uint8_t *r = p + GROUP_HEADER;
    x = from;
    for (size_t i = 0; i < count; i++) {
        put_record_header(r, x);
        if (x->len) memcpy(r + REC_HEADER, x->payload, x->len);
        r += REC_HEADER + x->len;
        if (i + 1 < count) x = x->next;
    }
    store_le32(p + 4, hash_crc32c(0, p + 8, GROUP_HEADER - 8 + padded));
    buf->len = GROUP_HEADER + padded;
    return CAIRN_OK;
}

/* A group of one record this large is written from the record itself (write_direct). */
#define DIRECT_MIN (1u << 20)

/* Writes a group of one large record r at w->off straight from its payload: the headers, the
 * payload, the padding (three writes; one CRC continued over the pieces), the same bytes
 * build_group() would make. Copying a 12 MB record into the group buffer first was a tenth of
 * a big batch's commit. *len: the group's size. */
static int write_direct(wal *w, const waiter *r, uint64_t synced_off, size_t *len)
{
    size_t body = REC_HEADER + r->len, padded = pad8(body);
    uint8_t head[GROUP_HEADER + REC_HEADER];
    static const uint8_t zeros[8];
    memset(head, 0, sizeof head);
    put_group_header(head, padded, 1, r->seq, synced_off);
    put_record_header(head + GROUP_HEADER, r);
    uint32_t crc = hash_crc32c(0, head + 8, sizeof head - 8);
    crc = hash_crc32c(crc, r->payload, r->len);
    crc = hash_crc32c(crc, zeros, padded - body);
    store_le32(head + 4, crc);
    TRY(write_at(w->st, w->fd, head, sizeof head, w->off, w->path));
    TRY(write_at(w->st, w->fd, r->payload, r->len, w->off + sizeof head, w->path));
    if (padded > body)
        TRY(write_at(w->st, w->fd, zeros, padded - body, w->off + GROUP_HEADER + body, w->path));
    *len = GROUP_HEADER + padded;
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

/* The offset of the first group after off that verifies (whatever its seqs), or 0. */
static size_t next_valid(const uint8_t *base, size_t size, size_t off)
{
    for (size_t at = pad8(off + 8); at + GROUP_HEADER <= size; at += 8)
        if (load_le32(base + at) == GROUP_MAGIC && check_group(base + at, size - at, 0)) return at;
    return 0;
}

/* Whether the bad group at g (avail bytes in the file, nonzero of them not zero) is a write cut
 * short: a sound header for the next group (magic, first seq, a length that fits a group) whose
 * non-zero bytes end before its length does (the rest is the preallocated zeros). */
static bool cut_short(const uint8_t *g, size_t avail, size_t nonzero, uint64_t expect)
{
    if (avail < GROUP_HEADER || load_le32(g) != GROUP_MAGIC || load_le64(g + 16) != expect)
        return false;
    uint32_t body = load_le32(g + 8);
    if (body % 8 || body > GROUP_MAX_BYTES + RECORD_MAX || load_le32(g + 12) == 0) return false;
    return nonzero < (size_t)GROUP_HEADER + body;
}

/* Where the non-zero bytes of a segment end (8-aligned): what a kept tail occupies. */
static size_t extent(const uint8_t *base, size_t size)
{
    while (size > 0 && base[size - 1] == 0) size--;
    return pad8(size);
}

typedef struct scan_result {
    uint64_t last_seq;       /* last seq seen (first - 1 if none) */
    uint64_t end;            /* offset after the last valid group */
    uint64_t extent;         /* where the segment's non-zero bytes end */
    bool torn;               /* a bad tail with nothing durable after it begins at end: kept */
    bool empty;              /* nothing but zeros (created, never written) */
    bool bad_header;         /* the header is damaged (the groups were read anyway) */
    /* what did not verify: damage (always a problem) and kept tails (a crash or damage) */
    unsigned damage, kept;
    char problem[600];       /* the first of them */
} scan_result;

static void scan_problem(scan_result *out, bool damage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void scan_problem(scan_result *out, bool damage, const char *fmt, ...)
{
    if (!out->damage && !out->kept) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->problem, sizeof out->problem, fmt, ap);
        va_end(ap);
    }
    if (damage) out->damage++;
    else out->kept++;
}

/* A whole segment, read into memory. */
typedef struct segview {
    const uint8_t *base;
    size_t size;
    size_t alloc;            /* bytes allocated */
} segview;

static int seg_load(cairn_store *st, const char *path, segview *v)
{
    memset(v, 0, sizeof *v);
    sfile *f = NULL;
    int rc = st->file_open(st, &f, path, 0);
    if (rc < 0) return cairn_error_prefix(rc, "opening write-ahead log segment %s", path);
    uint64_t size = 0;
    rc = st->file_size(st, f, &size);
    if (rc == CAIRN_OK && size > SIZE_MAX / 2) rc = CORRUPT("write-ahead log segment %s is too big", path);
    v->size = (size_t)size;
    if (rc == CAIRN_OK && size > 0) { /* read, not mapped: see the top */
        uint8_t *b = cairn_big_alloc(v->size);
        v->alloc = v->size;
        size_t n = 0;
        rc = b ? st->file_read(st, f, b, v->size, 0, &n) : ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) v->size = n;
        v->base = b;
    }
    st->file_close(st, f);
    return rc < 0 ? cairn_error_prefix(rc, "reading write-ahead log segment %s", path) : CAIRN_OK;
}

static void seg_unload(cairn_store *st, segview *v)
{
    if (!v->base) return;
    (void)st;
    cairn_big_free((void *)v->base, v->alloc);
    v->base = NULL;
}

/* Scans one segment file, replaying its records (seq > applied) through fn. next_first is the
 * first record of the segment after it (0: none). What does not verify is decided here (see the
 * top): damage whose records the tree already holds (applied) is skipped and reported; a bad
 * tail that nothing durable follows is torn (kept in place, never cut: out->torn); in a sealed
 * segment, a bad tail that the next segment supersedes (it starts right after the last valid
 * record) is one an earlier open kept; anything else is corruption. A damaged header is
 * reported and the groups read anyway: the file's name gives its first record. Records after
 * `applied` go to fn; `held` is how far the tree is known to hold them (<= applied when set). */
static int scan_segment(cairn_store *st, const char *path, uint64_t first, bool last_segment,
                        uint64_t next_first, uint64_t applied, uint64_t held, uint64_t expect,
                        wal_fn fn, void *ctx, scan_result *out)
{
    segview v;
    int rc = seg_load(st, path, &v);
    size_t size = v.size;
    const uint8_t *base = v.base;
    memset(out, 0, sizeof *out);
    out->last_seq = first - 1;
    out->end = SEG_HEADER;
    if (rc == CAIRN_OK) out->extent = extent(base, size);
    if (rc == CAIRN_OK && (size < SEG_HEADER || memcmp(base, SEG_MAGIC, 8) != 0 ||
                           load_le32(base + 8) != SEG_VERSION || load_le32(base + 12) != 0 ||
                           load_le64(base + 16) != first)) {
        if (out->extent == 0) { /* created, never written: holds nothing */
            out->empty = true;
            out->end = 0;
            seg_unload(st, &v);
            return CAIRN_OK;
        }
        out->bad_header = true;
        if (size < SEG_HEADER)
            scan_problem(out, true, "write-ahead log segment %s is cut to %zu bytes, below its "
                         "%d byte header: the records it held (from %" PRIu64 " on) are lost",
                         path, size, SEG_HEADER, first);
        else
            scan_problem(out, true, "write-ahead log segment %s has a damaged header; its record "
                         "groups were read anyway", path);
    }
    size_t off = SEG_HEADER;
    while (rc == CAIRN_OK && off + GROUP_HEADER <= size) {
        const uint8_t *g = base + off;
        bool zero = true;
        for (int i = 0; i < GROUP_HEADER && zero; i++) zero = g[i] == 0;
        if (zero) break; /* the preallocated, never written rest */
        size_t n = check_group(g, size - off, expect);
        if (n) {
            rc = replay_group(g, applied, fn, ctx, &out->last_seq);
            expect = out->last_seq + 1;
            off += n;
            out->end = off;
            continue;
        }
        size_t nx = next_valid(base, size, off);
        uint64_t after = nx ? load_le64(base + nx + 16) : next_first;
        if (after && after - 1 <= held && after > out->last_seq) {
            /* whatever the damaged bytes held, the tree holds: they block nothing */
            scan_problem(out, true, "write-ahead log segment %s: the record group at offset %zu "
                         "is damaged; its records (before %" PRIu64 ") are already in the tree, so "
                         "nothing is lost", path, off, after);
            if (!nx) break;
            off = nx;
            expect = after;
            continue;
        }
        bool torn = last_segment ? !proven_durable(base, size, off)
                                 : !nx && next_first && next_first == out->last_seq + 1;
        if (torn && cut_short(g, size - off, out->extent - off, expect ? expect : out->last_seq + 1)) {
            /* a write a crash cut off: what it holds stops short of its own length, and a
             * write that was fsynced (acknowledged) cannot be short. Kept, not a problem */
            out->torn = true;
            cairn_diag(CAIRN_LOG_INFO, "write-ahead log segment %s: the group at offset %zu "
                       "was cut short by a crash (never acknowledged); kept in place", path, off);
        } else if (torn) {
            out->torn = true;
            scan_problem(out, false, "write-ahead log segment %s: %zu bytes at offset %zu do not "
                         "verify and nothing durable follows them: a write a crash interrupted "
                         "(never acknowledged), or damage (then the batches logged there from "
                         "record %" PRIu64 " on are lost); the bytes are kept where they are",
                         path, out->extent > off ? out->extent - off : 0, off,
                         out->last_seq + 1);
        } else {
            rc = CORRUPT("write-ahead log segment %s: the record group at offset %zu is "
                         "damaged although later writes prove it was durable; the log is "
                         "corrupt there: restore the repository from a backup or replica",
                         path, off);
        }
        break;
    }
    seg_unload(st, &v);
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

typedef struct seglist_fill {
    seglist *out;
    size_t cap;
} seglist_fill;

static int seg_listed(const char *name, uint64_t size, void *payload)
{
    seglist_fill *f = payload;
    uint64_t v;
    char tail[8];
    if (strlen(name) != 20 || sscanf(name, "%16" SCNx64 "%4s", &v, tail) != 2 ||
        strcmp(tail, ".wal") != 0)
        return CAIRN_OK;
    TRY(cairn_array_room(&f->out->first, &f->cap, f->out->n, sizeof *f->out->first, 16));
    f->out->first[f->out->n++] = v;
    return CAIRN_OK;
}

static int list_segments(cairn_store *st, const char *dir, seglist *out)
{
    out->first = NULL;
    out->n = 0;
    seglist_fill f = { out, 0 };
    int rc = st->file_list(st, dir, seg_listed, &f);
    if (rc < 0) return cairn_error_prefix(rc, "listing write-ahead log segments in %s", dir);
    if (out->n) qsort(out->first, out->n, sizeof *out->first, cmp_u64);
    return CAIRN_OK;
}

/* A last segment that holds no record but is not blank (a damaged header, or a bad first
 * group): renamed to <name>.damaged (.damaged.N when taken), so that the new segment can take
 * its name; its bytes stay. Returns the new name in *kept (caller frees). */
static int set_aside(cairn_store *st, const char *path, char **kept)
{
    int rc = CAIRN_EEXIST;
    *kept = NULL;
    for (unsigned n = 0; rc == CAIRN_EEXIST && n < 100; n++) {
        free(*kept);
        *kept = n ? cairn_sprintf("%s.damaged.%u", path, n) : cairn_sprintf("%s.damaged", path);
        if (!*kept) return ERR(CAIRN_ENOMEM, "out of memory");
        rc = st->file_rename(st, path, *kept, false);
        if (rc == CAIRN_EEXIST) cairn_error_clear();
    }
    return rc < 0 ? cairn_error_prefix(rc, "setting aside write-ahead log segment %s", path)
                  : CAIRN_OK;
}

/* Says what a segment's scan found that did not verify (a writer's or a reader's open). */
static void report_scan(const scan_result *sr, const char *what)
{
    unsigned n = sr->damage + sr->kept;
    if (n) cairn_diag(CAIRN_LOG_WARN, "%s%s%s", sr->problem, n > 1 ? " (and more in it)" : "", what);
}

/* The last segment, reopened for appending (w->fd): it rolls at its preallocated size, or at
 * the smallest size when it was trimmed (closed or idle); appends preallocate again as needed. */
static void reopened_size(wal *w)
{
    uint64_t size = 0;
    if (w->fd && w->st->file_size(w->st, w->fd, &size) < 0) {
        cairn_error_clear();
        size = w->off;
    }
    w->reserved = MAX(size, w->off);
    w->seg_size = MAX(w->seg_min, MIN(w->reserved, w->seg_max));
    w->seg_born = w->last_append = clock_now();
}

/* A reader found segment segs->first[i] gone: a checkpoint of the writer retires segments
 * (moves them to oplog/) after it publishes the working state that holds their records, so one
 * listed just before can be gone by the time it is read. That loses nothing when every record
 * in it is one the reader's trees hold (seq <= applied): when the segment after it starts at
 * applied + 1 or before. The log is listed again to see that (the retiring checkpoint may also
 * have started a new segment the first listing missed), and segs becomes the new listing from
 * that segment on, with the loop going on at index i + 1. Otherwise (its records were needed:
 * the trees are older than the checkpoint that retired it) false, and the reader's open sees the
 * working ref moved and loads the newer state. */
static bool retired_since_listed(wal *w, seglist *segs, size_t i, uint64_t applied)
{
    uint64_t gone = segs->first[i];
    cairn_error_saved was;
    cairn_error_save(&was);
    seglist now = { NULL, 0 };
    bool ok = list_segments(w->st, w->dir, &now) == CAIRN_OK;
    size_t k = 0;
    while (ok && k < now.n && now.first[k] <= gone) k++;
    ok = ok && k < now.n && now.first[k] <= applied + 1 &&
         (k == 0 || now.first[k - 1] < gone); /* the gone one is not listed still */
    size_t rest = ok ? now.n - k : 0;
    uint64_t *v = ok ? cairn_malloc((i + 1 + rest) * sizeof *v) : NULL;
    if (!v) {
        free(now.first);
        cairn_error_restore(&was);
        return false;
    }
    /* segs[i + 1 ...] := now[k ...] */
    memcpy(v, segs->first, (i + 1) * sizeof *v);
    memcpy(v + i + 1, now.first + k, rest * sizeof *v);
    free(now.first);
    free(segs->first);
    segs->first = v;
    segs->n = i + 1 + rest;
    cairn_error_restore(&was);
    cairn_diag(CAIRN_LOG_DEBUG, "write-ahead log %s: segment %016" PRIx64 " was retired by a "
               "checkpoint after this reader listed it; its records are all in the trees read",
               w->dir, gone);
    return true;
}

/* Replays the segments of the log into fn (records after applied); a writer takes the last one
 * as its active segment when it is sound. *last gets the last seq seen. */
static int replay_segments(wal *w, uint64_t applied, wal_fn fn, void *ctx, uint64_t *last)
{
    cairn_store *st = w->st;
    bool ro = w->o.readonly;
    seglist segs = { NULL, 0 };
    TRY(list_segments(st, w->dir, &segs));
    if (ro) cairn_test_point(CAIRN_TP_READER_LOG_LISTED);
    uint64_t expect = 0;
    *last = applied;
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < segs.n; i++) {
        bool final = i + 1 == segs.n;
        char *path = seg_path(w->dir, segs.first[i]);
        if (!path) {
            rc = ERR(CAIRN_ENOMEM, "out of memory");
            break;
        }
        if (i == 0 && segs.first[0] > applied + 1)
            rc = CORRUPT("write-ahead log %s starts at record %" PRIu64 " but the tree has "
                         "only records up to %" PRIu64 ": records are missing",
                         w->dir, segs.first[0], applied);
        scan_result sr;
        if (rc == CAIRN_OK)
            rc = scan_segment(st, path, segs.first[i], final, final ? 0 : segs.first[i + 1],
                              applied, applied, expect, fn, ctx, &sr);
        if (rc == CAIRN_ENOTFOUND && ro && retired_since_listed(w, &segs, i, applied)) {
            /* the writer's checkpoint retired it after the listing; the trees hold it all */
            cairn_error_clear();
            rc = CAIRN_OK;
            free(path);
            expect = segs.first[i + 1];
            continue;
        }
        if (rc < 0) {
            free(path);
            break;
        }
        if (sr.last_seq >= segs.first[i]) *last = MAX(*last, sr.last_seq);
        expect = sr.last_seq + 1 > segs.first[i] ? sr.last_seq + 1 : segs.first[i];
        bool sound = !sr.torn && !sr.bad_header;
        if (!final) { /* a tail kept earlier, or damage skipped: reported by verify and oplog */
            if (sr.damage) report_scan(&sr, "");
            rc = seal_push(w, segs.first[i], sr.last_seq, sr.torn ? sr.extent : sr.end, path);
        } else if (ro || (sound && sr.empty)) {
            if (ro && sr.torn && !sr.damage && sr.kept)
                /* to a reader, the end of the last segment may be a group the writer is
                 * writing now: said quietly (the writer's open and verify say what a crash
                 * left there) */
                cairn_diag(CAIRN_LOG_INFO, "write-ahead log segment %s: this reader reads the "
                           "records through %" PRIu64 "; what follows does not verify (yet): a "
                           "group the writer is still writing, or one a crash cut off", path,
                           sr.last_seq);
            else if (!sound)
                report_scan(&sr, "");
            if (!ro) { /* an empty segment a crash left half-made */
                st->file_remove(st, path);
                cairn_error_clear();
            }
            free(path);
        } else if (sound) { /* appended to */
            rc = st->file_open(st, &w->fd, path, CAIRN_FILE_WRITE);
            if (rc < 0) rc = cairn_error_prefix(rc, "write-ahead log");
            w->path = path;
            w->seg_first = segs.first[i];
            w->off = w->synced_off = w->zeroed = w->write_end = sr.end;
            w->seg_last = sr.last_seq;
            reopened_size(w);
        } else if (sr.last_seq < segs.first[i]) { /* nothing in it: its name is needed */
            char *kept = NULL;
            rc = set_aside(st, path, &kept);
            if (rc == CAIRN_OK) {
                char what[600];
                snprintf(what, sizeof what, "; set aside as %s", kept);
                report_scan(&sr, what);
            }
            free(kept);
            free(path);
        } else { /* sealed with its bad tail: the log goes on in a new segment */
            report_scan(&sr, "; writes go on in a new segment");
            rc = seal_push(w, segs.first[i], sr.last_seq, sr.extent, path);
        }
    }
    if (rc == CAIRN_OK && segs.n == 0) {
        /* none retired either: a log never written here (a new branch, or a clone, whose
         * trees came with their record numbers from elsewhere) */
        seglist old = { NULL, 0 };
        rc = list_segments(st, w->oplog, &old);
        w->fresh = rc == CAIRN_OK && old.n == 0;
        free(old.first);
        if (rc == CAIRN_OK && !w->fresh && applied > 0)
            cairn_diag(CAIRN_LOG_WARN, "write-ahead log %s has no segment although the trees "
                       "hold records through %" PRIu64 ": if its segments were deleted, writes "
                       "logged after that record are lost; run cairn verify", w->dir, applied);
    }
    free(segs.first);
    return rc;
}

static void *syncer_main(void *arg);

int wal_open(wal **out, const wal_options *o, uint64_t applied, wal_fn fn, void *ctx,
             uint64_t *out_last_seq)
{
    wal *w = cairn_calloc(1, sizeof *w);
    FAIL_IF(!w, CAIRN_ENOMEM, "out of memory opening the write-ahead log");
    w->o = *o;
    w->st = o->store;
    w->seg_max = o->segment_bytes ? o->segment_bytes : SEGMENT_DEFAULT;
    w->seg_min = o->segment_min_bytes ? o->segment_min_bytes : SEGMENT_MIN_DEFAULT;
    w->seg_max = MAX(w->seg_max, SEG_HEADER + GROUP_HEADER);
    w->seg_min = MIN(MAX(w->seg_min, SEG_HEADER + GROUP_HEADER), w->seg_max);
    w->seg_size = w->seg_min;
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
    if (o->store && !(o->store->version >= 3 && (o->store->caps & CAIRN_STORE_CAP_FILES)))
        rc = ERR(CAIRN_EUNSUPPORTED, "the %s store %s has no file namespace for a write-ahead log",
                 o->store->kind, o->store->location);
    if (rc == CAIRN_OK && o->store) {
        w->dir = cairn_strdup(o->dir ? o->dir : "");
        w->oplog = join(w->dir ? w->dir : "", "oplog");
        if (!w->dir || !w->oplog) rc = ERR(CAIRN_ENOMEM, "out of memory");
        uint64_t last = applied;
        if (rc == CAIRN_OK) rc = replay_segments(w, applied, fn, ctx, &last);
        w->last_seq = w->synced_seq = last;
        w->next_seq = last + 1;
        if (rc == CAIRN_OK && !o->readonly && !w->fd) {
            rc = segment_create(w, w->next_seq);
            /* a full disk: the first append makes it (opening, reading, gc need no room) */
            if (rc == CAIRN_ENOSPC) rc = CAIRN_OK, cairn_error_clear();
        }
        /* also for relaxed calls on a durable log; started by the first append (everything
         * it does follows one), so that opening to read costs no thread */
        w->syncer_wanted = !o->readonly;
    }
    if (rc < 0) {
        wal_close(w);
        return rc;
    }
    if (out_last_seq) *out_last_seq = w->last_seq;
    *out = w;
    return CAIRN_OK;
}

/* Gives back the active segment's preallocated space past its last group (mu held, or the
 * log closing): only when nothing is being written or zeroed there. Nothing depends on it. */
static void trim_active(wal *w)
{
    if (!w->fd || w->o.readonly || w->reserved <= w->off || w->busy || w->zeroing) return;
    if (w->st->file_resize(w->st, w->fd, w->off) < 0) {
        cairn_error_clear();
        return;
    }
    w->reserved = w->off;
    w->zeroed = MIN(w->zeroed, w->off);
}

void wal_close(wal *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->stop_cv);
    pthread_mutex_unlock(&w->mu);
    if (w->syncer_on) pthread_join(w->syncer, NULL);
    if (w->fd) {
        bool synced = true;
        if (w->synced_off < w->off && data_sync(w->st, w->fd, w->path) < 0) {
            cairn_diag(CAIRN_LOG_ERROR, "%s (on close)", cairn_error_last()->message);
            synced = false;
        }
        if (synced) trim_active(w); /* a closed log holds nothing preallocated */
        w->st->file_close(w->st, w->fd);
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
    return w->zero_on && !w->zeroing && w->fd && w->st->file_reserve &&
           w->write_end >= SEG_HEADER + ZERO_MIN &&
           w->zeroed < w->reserved && w->zeroed < w->write_end + ahead;
}

/* The size of the next segment (mu held), as the active one rolls: twice as big when it
 * filled up fast (a branch writing fast gets fewer, larger segments), half as big when a
 * checkpoint rolled it after a long life (a branch writing slowly holds little), within
 * [seg_min, seg_max]. */
static uint64_t segment_size(const wal *w, bool full)
{
    double age = clock_now() - w->seg_born;
    uint64_t next = w->seg_size;
    if (full && age < GROW_SECONDS) next = w->seg_size * 2;
    else if (!full && age > SHRINK_SECONDS) next = w->seg_size / 2;
    return MAX(w->seg_min, MIN(next, w->seg_max));
}

/* Makes room for a group of `size` bytes (mu held): rolls to a new segment when the active
 * one is full; a group bigger than a whole segment grows its segment. Waits while the syncer
 * writes zeros where the group goes (only when the log outruns it). */
static int make_room(wal *w, size_t size, uint64_t first_seq)
{
    if (!w->st) return CAIRN_OK;
    for (;;) {
        if (!w->fd) TRY(segment_create(w, first_seq)); /* an earlier roll failed half-way */
        if ((w->roll_pending || w->off + size > w->seg_size) && w->off > SEG_HEADER) {
            bool full = w->off + size > w->seg_size;
            w->roll_pending = false;
            TRY(segment_seal(w));
            w->seg_size = segment_size(w, full);
            TRY(segment_create(w, first_seq));
        }
        if (w->off + size > w->reserved) { /* trimmed while idle, or a group bigger than that */
            uint64_t want = MAX(w->seg_size, w->off + size);
            TRY(reserve(w->st, w->fd, want, w->path));
            w->reserved = want;
        }
        if (!w->zeroing || w->off + size <= w->zero_from) break;
        pthread_cond_wait(&w->zero_cv, &w->mu);
    }
    w->write_end = w->off + size;
    w->last_append = clock_now();
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
    if (from >= w->reserved) {
        w->zeroed = w->reserved;
        return;
    }
    uint64_t n = MIN((uint64_t)ZERO_CHUNK, w->reserved - from), first = w->seg_first;
    cairn_store *st = w->st;
    sfile *fd = w->fd;
    w->zeroing = true;
    w->zero_from = from;
    w->busy++;
    pthread_mutex_unlock(&w->mu);
    bool ok = st->file_write(st, fd, zeros, n, from) == CAIRN_OK &&
              st->file_sync(st, fd, CAIRN_FILE_SYNC_DATA) == CAIRN_OK;
    if (!ok) cairn_error_clear(); /* only an optimisation failed */
    pthread_mutex_lock(&w->mu);
    w->busy--;
    w->zeroing = false;
    if (w->seg_first == first) w->zeroed = ok ? from + n : w->reserved;
    pthread_cond_broadcast(&w->zero_cv);
}

/* After a failed group write: cut the segment back to where the group began, so that what
 * follows stays valid. Failing that, the log is poisoned until reopened. */
static void undo_group(wal *w)
{
    if (!w->st || !w->fd) return;
    w->zeroed = MIN(w->zeroed, w->off); /* the cut blocks are unwritten again */
    w->write_end = w->off;
    cairn_store *st = w->st;
    bool ok = st->file_resize(st, w->fd, w->off) == CAIRN_OK &&
              reserve(st, w->fd, MAX(w->reserved, w->off), w->path) == CAIRN_OK &&
              st->file_sync(st, w->fd, CAIRN_FILE_SYNC_DATA) == CAIRN_OK;
    if (!ok) {
        w->poisoned = true;
        cairn_diag(CAIRN_LOG_ERROR, "write-ahead log %s: could not undo a failed write (%s); "
                   "refusing writes until the repository is reopened", w->path,
                   cairn_error_last()->message);
    }
}

/* A new leader (mu held) waits a moment for the writers of the group before it, which are still
 * inside wal_append, to queue their next records: otherwise writers settle into two groups that
 * take turns, each half the size. It waits only while more writers are inside than queued, and
 * at most a fraction of a sync; a lone writer never waits. */
static void gather(wal *w)
{
    if (w->queued >= w->inside || w->sync_avg <= 0) return;
    struct timespec ts;
    clock_deadline(&ts, MIN(w->sync_avg * GATHER_FRACTION, GATHER_MAX_S));
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
    bool direct = count == 1 && body >= DIRECT_MIN && w->st;
    size_t glen = 0;
    if (rc == CAIRN_OK && !direct && (rc = build_group(g, me, count, synced_off)) == CAIRN_OK)
        glen = g->len;
    double t0 = clock_now();
    if (rc == CAIRN_OK && direct) rc = write_direct(w, me, synced_off, &glen);
    else if (rc == CAIRN_OK && w->st) rc = write_at(w->st, w->fd, g->data, g->len, w->off, w->path);
    if (rc == CAIRN_OK && sync && w->st) rc = data_sync(w->st, w->fd, w->path);
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
        w->off += glen;
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
    if (w->syncer_wanted && !w->syncer_on && !w->stop &&
        !(w->syncer_on = pthread_create(&w->syncer, NULL, syncer_main, w) == 0)) {
        pthread_mutex_unlock(&w->mu);
        pthread_cond_destroy(&me.cv);
        return ERR(CAIRN_EIO, "could not start the write-ahead log syncer; nothing was written");
    }
    if (w->poisoned) {
        pthread_mutex_unlock(&w->mu);
        pthread_cond_destroy(&me.cv);
        return ERR(CAIRN_EIO, "the write-ahead log %s failed earlier and refuses writes; close "
                              "and reopen the repository",
                   w->st ? w->dir : "(memory)");
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
            /* the message is this thread's: each member gets a copy to raise in its own */
            if (rc < 0 && x != &me) x->msg = cairn_strdup(cairn_error_last()->message);
            x->done = true;
            if (x != &me) pthread_cond_signal(&x->cv);
            x = next;
        }
    }
    w->inside--;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&me.cv);
    if (me.rc == CAIRN_OK && out_seq) *out_seq = me.seq;
    if (me.rc < 0 && me.msg) {
        cairn_error_set(me.rc, "%s", me.msg);
        free(me.msg);
    } else if (me.rc < 0 && !cairn_error_last()->message[0]) {
        cairn_error_set(me.rc, "the write-ahead log group holding this record failed (%s)",
                        cairn_strerror(me.rc));
    }
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
        if (!w->stop && !w->head && w->synced_off >= w->off &&
            clock_now() - w->last_append > IDLE_TRIM_SECONDS)
            trim_active(w); /* an idle branch holds nothing preallocated */
        if (w->stop || !w->fd || w->synced_off >= w->off) continue;
        /* relaxed appends: fsync without the lock, so appends go on meanwhile (a roll waits
         * for it before it seals the segment) */
        uint64_t off = w->off, seq = w->last_seq, first = w->seg_first;
        sfile *fd = w->fd;
        const char *path = w->path;
        w->busy++;
        pthread_mutex_unlock(&w->mu);
        int rc = data_sync(w->st, fd, path);
        if (rc < 0) cairn_diag(CAIRN_LOG_ERROR, "%s", cairn_error_last()->message);
        pthread_mutex_lock(&w->mu);
        w->busy--;
        pthread_cond_broadcast(&w->zero_cv);
        if (rc == CAIRN_OK && w->seg_first == first && w->fd && off > w->synced_off) {
            w->synced_off = off;
            w->synced_seq = seq;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_sync(wal *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = CAIRN_OK;
    if (w->fd && w->synced_off < w->off) {
        rc = data_sync(w->st, w->fd, w->path);
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
    if (w->st && !w->o.readonly && w->off > SEG_HEADER) {
        rc = segment_seal(w);
        if (rc == CAIRN_OK) rc = segment_create(w, w->next_seq);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void wal_request_roll(wal *w)
{
    pthread_mutex_lock(&w->mu);
    /* measured against the largest size, as before segments varied: the operation log keeps
     * segments of about the size it did */
    if (w->off >= SEG_HEADER + w->seg_max / ROLL_FRACTION) w->roll_pending = true;
    pthread_mutex_unlock(&w->mu);
}

void wal_exclusive(wal *w, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&w->apply_mu);
    while (w->open) pthread_cond_wait(&w->apply_cv, &w->apply_mu);
    fn(ctx);
    pthread_mutex_unlock(&w->apply_mu);
}

/* The time of the first record of segment `path`, or 0 when it has none or cannot be read. */
static int64_t first_record_time(cairn_store *st, const char *path)
{
    uint8_t b[SEG_HEADER + GROUP_HEADER + REC_HEADER];
    size_t n = 0;
    sfile *f = NULL;
    int rc = st->file_open(st, &f, path, 0);
    if (rc == CAIRN_OK) rc = st->file_read(st, f, b, sizeof b, 0, &n);
    st->file_close(st, f);
    cairn_error_clear();
    if (rc < 0 || n < sizeof b || load_le32(b + SEG_HEADER) != GROUP_MAGIC) return 0;
    return (int64_t)load_le64(b + SEG_HEADER + GROUP_HEADER + 12);
}

/* Whether oplog segment i (of old, in order) may go: older than the age limit (none: any age).
 * A segment's age is that of its last record, which is no younger than the first record of
 * the segment after it (the store keeps no file times). Unknown ages count as old, as before. */
static bool old_enough(wal *w, const seglist *old, size_t i)
{
    if (!w->o.retain_seconds) return true;
    if (i + 1 >= old->n) return false; /* the newest: retired just now */
    char *next = seg_path(w->oplog, old->first[i + 1]);
    int64_t t = next ? first_record_time(w->st, next) : 0;
    free(next);
    if (t == 0) return true;
    return clock_wall_ns() - t > (int64_t)w->o.retain_seconds * 1000000000;
}

/* Cuts a sealed segment to its used bytes (the preallocated rest is not history). */
static int trim_sealed(cairn_store *st, const sealed *s)
{
    sfile *f = NULL;
    int rc = st->file_open(st, &f, s->path, CAIRN_FILE_WRITE);
    if (rc == CAIRN_OK) rc = st->file_resize(st, f, s->used);
    st->file_close(st, f);
    return rc;
}

int wal_retire(wal *w, uint64_t through)
{
    if (!w->st || w->o.readonly) return CAIRN_OK;
    cairn_store *st = w->st;
    pthread_mutex_lock(&w->mu);
    int rc = CAIRN_OK;
    size_t keep = 0, moved = 0;
    for (size_t i = 0; i < w->nsealed; i++) {
        sealed *s = &w->sealed[i];
        if (rc < 0 || s->last > through) {
            w->sealed[keep++] = *s;
            continue;
        }
        char *dst = seg_path(w->oplog, s->first);
        if (!dst) rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) rc = trim_sealed(st, s);
        if (rc == CAIRN_OK) rc = st->file_rename(st, s->path, dst, true);
        if (rc < 0) rc = cairn_error_prefix(rc, "retiring write-ahead log segment %s", s->path);
        free(dst);
        if (rc < 0) w->sealed[keep++] = *s;
        else free(s->path), moved++;
    }
    w->nsealed = keep;
    pthread_mutex_unlock(&w->mu);
    if (rc == CAIRN_OK && moved == 0) return CAIRN_OK; /* nothing changed: no sync, no pruning */
    if (rc == CAIRN_OK) rc = st->file_sync_dir(st, w->dir);
    /* retention: only the newest retain_segments oplog segments are kept */
    seglist old = { NULL, 0 };
    if (rc == CAIRN_OK) rc = list_segments(st, w->oplog, &old);
    unsigned retain = w->o.retain_segments;
    for (size_t i = 0; rc == CAIRN_OK && old.n > retain && i < old.n - retain; i++) {
        if (!old_enough(w, &old, i)) break; /* the rest are newer still */
        char *p = seg_path(w->oplog, old.first[i]);
        rc = p ? st->file_remove(st, p) : ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK, cairn_error_clear();
        free(p);
    }
    free(old.first);
    return rc;
}

bool wal_fresh(const wal *w) { return w->fresh; }

bool wal_refusing(wal *w)
{
    pthread_mutex_lock(&w->mu);
    bool yes = w->poisoned;
    pthread_mutex_unlock(&w->mu);
    return yes;
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
    out->bytes += w->fd ? w->off : 0;
    out->segments = w->nsealed + (w->fd != NULL);
    out->last_seq = w->last_seq;
    out->synced_seq = w->synced_seq;
    out->groups = w->groups;
    out->syncs = w->syncs;
    pthread_mutex_unlock(&w->mu);
    if (w->oplog) {
        seglist l = { NULL, 0 };
        if (list_segments(w->st, w->oplog, &l) == CAIRN_OK) out->oplog_segments = l.n;
        else cairn_error_clear();
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

/* The segments of the operation log (dir/oplog), then the live ones, in order. */
typedef struct logseg {
    uint64_t first;
    bool live;
} logseg;

static int list_log(cairn_store *st, const char *dir, const char *oplog, logseg **out, size_t *n)
{
    seglist old = { NULL, 0 }, live = { NULL, 0 };
    int rc = list_segments(st, oplog, &old);
    if (rc == CAIRN_OK) rc = list_segments(st, dir, &live);
    *n = 0;
    *out = rc == CAIRN_OK ? cairn_calloc(old.n + live.n + 1, sizeof **out) : NULL;
    if (rc == CAIRN_OK && !*out) rc = ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == CAIRN_OK && i < old.n; i++) (*out)[(*n)++] = (logseg){ old.first[i], false };
    for (size_t i = 0; rc == CAIRN_OK && i < live.n; i++) (*out)[(*n)++] = (logseg){ live.first[i], true };
    free(old.first);
    free(live.first);
    return rc;
}

int wal_read_log(cairn_store *st, const char *dir, uint64_t since, int64_t from, int64_t to,
                 uint64_t applied, wal_fn fn, void *ctx, wal_log_problems *out)
{
    log_filter f = { since, from, to, fn, ctx };
    memset(out, 0, sizeof *out);
    char *oplog = join(dir, "oplog");
    FAIL_IF(!oplog, CAIRN_ENOMEM, "out of memory");
    logseg *l = NULL;
    size_t n = 0;
    int rc = list_log(st, dir, oplog, &l, &n);
    uint64_t prev_last = 0;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        char *p = seg_path(l[i].live ? dir : oplog, l[i].first);
        if (!p) {
            rc = ERR(CAIRN_ENOMEM, "out of memory");
            break;
        }
        scan_result sr;
        memset(&sr, 0, sizeof sr);
        if (i > 0 && l[i].first != prev_last + 1)
            scan_problem(&sr, true, "write-ahead log %s: records %" PRIu64 " to %" PRIu64 " are "
                         "missing before segment %s (a segment deleted?)", dir, prev_last + 1,
                         l[i].first - 1, p);
        scan_result one;
        rc = scan_segment(st, p, l[i].first, i + 1 == n, i + 1 < n ? l[i + 1].first : 0, 0,
                          applied, 0, filter, &f, &one);
        if (rc == CAIRN_ECORRUPT) { /* the rest of this segment is lost to reading: go on */
            scan_problem(&sr, true, "%s", cairn_error_last()->message);
            cairn_error_clear();
            rc = CAIRN_OK;
        }
        out->damage += sr.damage + one.damage;
        out->kept += sr.kept + one.kept;
        if (!out->first[0] && (sr.damage || sr.kept || one.damage || one.kept))
            snprintf(out->first, sizeof out->first, "%s",
                     sr.damage || sr.kept ? sr.problem : one.problem);
        prev_last = one.last_seq >= l[i].first ? one.last_seq : l[i].first - 1;
        free(p);
    }
    /* the log reaches past what the trees hold: the checkpoint that put them there logged its
     * record after them. Ending at or before means segments at the end are gone (or a crash
     * came between a checkpoint and its record, or that record could not be written) */
    /* (no segment at all: a log never written here, as in a clone, whose trees came from
     * elsewhere with their record numbers) */
    if (rc == CAIRN_OK && applied && n > 0 && prev_last <= applied) {
        out->damage++;
        if (!out->first[0])
            snprintf(out->first, sizeof out->first, "write-ahead log %s ends at record %" PRIu64
                     ", but the trees' last checkpoint (through record %" PRIu64 ") logged its "
                     "record after that: its last segment is missing (deleted?), and any writes "
                     "logged in it after record %" PRIu64 " are lost (unless a crash came "
                     "between that checkpoint and its record, or writing that record failed: "
                     "then nothing is)", dir, prev_last, applied, applied);
    }
    free(l);
    free(oplog);
    return rc;
}
