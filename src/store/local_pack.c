/*
 * local_pack.c - the local store's pack files (docs/FORMAT.md, "Pack file", "Pack index"):
 * their paths and headers; scanning records in large sequential reads; reading and writing .idx
 * files (rebuilt from the pack whenever missing, damaged or stale); setting a torn tail aside in
 * quarantine/ and truncating it (writer); opening and loading packs at open and when a reader
 * refreshes; and the writer's side: the 1 MiB write buffer, rollover to a new pack past the size
 * limit, and durability (fdatasync of the pack, fsync of packs/ for new files). After a failed
 * fsync the store is poisoned: the page cache may have dropped the pages, so every later write
 * fails until it is reopened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/sys.h"
#include "store/local_int.h"

/* ---- paths, scanning, index files ---- */

char *local_pack_path(const local_store *ls, uint32_t num, const char *ext)
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

/* Scans the records of a pack from `start` (0: check the header first) to `size`, reading in
 * large sequential blocks, and calls fn for each good one. *out_end is the end of the last good
 * record. @return SCAN_CLEAN (reached size), SCAN_STOPPED (bad or incomplete record at *out_end;
 * *out_why says which) or an error. */
int local_scan_records(int fd, const char *path, uint64_t start, uint64_t size, rec_fn fn,
                       void *ctx, uint64_t *out_end, const char **out_why)
{
    uint64_t pos = start;
    *out_end = start;
    *out_why = NULL;
    if (pos == 0) {
        uint8_t h[PACK_HEADER_SIZE];
        size_t r = 0;
        if (size >= PACK_HEADER_SIZE) TRY(sys_read_full(fd, h, sizeof h, 0, &r, path));
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
                size_t r;
                rc = sys_read_full(fd, buf + blen, want, boff + blen, &r, path);
                if (rc != CAIRN_OK) goto done;
                blen += r;
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
int local_idxfile_read(const local_store *ls, uint32_t num, uint64_t pack_size, rec_fn fn,
                       void *ctx, uint64_t *out_covered, uint64_t *out_trailer,
                       const char **out_why)
{
    *out_why = NULL;
    char *path = local_pack_path(ls, num, "idx");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        free(path);
        if (e == ENOENT) return 0;
        return cairn_error_errno(e, "opening index %s/pack-%08u.idx", ls->packs_dir, num);
    }
    int rc = 0;
    uint8_t *data = NULL;
    struct stat sb;
    if (sys_fstat(fd, &sb) != 0) {
        rc = cairn_error_errno(errno, "reading %s", path);
        goto out;
    }
    uint64_t size = (uint64_t)sb.st_size;
    idx_geom g;
    size_t got;
    if (size < IDX_HEADER_SIZE || size > (uint64_t)SIZE_MAX) {
        *out_why = "bad size";
        goto out;
    }
    data = cairn_malloc((size_t)size);
    if (!data) {
        rc = ERR(CAIRN_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    rc = sys_read_full(fd, data, (size_t)size, 0, &got, path);
    if (rc != CAIRN_OK) goto out;
    if ((uint64_t)got != size) {
        *out_why = "short read";
        goto out;
    }
    if ((*out_why = local_idx_geometry(data, size, &g)) != NULL) goto out;
    uint64_t covered = g.covered, count = g.count;
    if (g.version == IDX_VERSION_FLAT) {
        if (XXH3_64bits(data, (size_t)g.trailer_at) != load_le64(data + g.trailer_at))
            *out_why = "checksum mismatch";
    } else if (local_idx_summary_sum(data, &g) != load_le64(data + g.trailer_at)) {
        *out_why = "checksum mismatch"; /* of the header or the block sums */
    } else {
        for (uint64_t b = 0; b < g.nblocks && !*out_why; b++)
            if (local_idx_block_sum(data, &g, b) !=
                load_le64(data + g.sums_at + b * IDX_SUM_SIZE + IDX_PREFIX_SIZE))
                *out_why = "checksum mismatch";
            else if (memcmp(data + g.sums_at + b * IDX_SUM_SIZE,
                            data + IDX_HEADER_SIZE + b * g.block * IDX_ENTRY_SIZE,
                            IDX_PREFIX_SIZE) != 0)
                *out_why = "bad block table";
    }
    if (!*out_why && (covered < PACK_HEADER_SIZE || covered > pack_size))
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
        if (out_trailer) *out_trailer = load_le64(data + g.trailer_at);
        rc = 1;
    }
out:
    free(data);
    free(path);
    sys_close(fd);
    return rc;
}

/* Writes pack p's .idx from its records (settled in place) covering [0, covered). */
int local_idxfile_write(local_store *ls, pack *p, recvec *recs, uint64_t covered)
{
    /* an index only ever covers bytes on disk, so that it proves them durable to later opens */
    if (p->durable < covered) {
        if (ls->poisoned) return local_poisoned_error(ls);
        TRY(local_pack_sync(ls, p));
    }
    recvec merged = { 0 };
    /* never copy entries unchecked into a freshly checksummed file: a damaged block makes the
     * whole index load, which reads this pack instead (and empties p->imap) */
    if (p->imap && !local_idx_verify_all(ls, p)) TRY(local_idx_full(ls));
    if (p->imap) { /* the records of its mapped .idx, then those since (which win) */
        TRY(local_recvec_reserve(&merged, (size_t)p->imap_count + recs->n));
        for (uint64_t i = 0; i < p->imap_count; i++) { /* room reserved: cannot fail */
            const uint8_t *e = p->imap + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
            (void)local_recvec_push(&merged, e[44], e, load_le64(e + 32), load_le32(e + 40));
        }
        for (size_t i = 0; i < recs->n; i++) merged.v[merged.n++] = recs->v[i];
        recs = &merged;
    }
    local_recvec_settle(recs);
    idx_geom g = { .version = IDX_VERSION, .block = IDX_BLOCK_ENTRIES, .covered = covered,
                   .count = recs->n };
    g.nblocks = (g.count + g.block - 1) / g.block;
    g.sums_at = IDX_HEADER_SIZE + g.count * IDX_ENTRY_SIZE;
    g.trailer_at = g.sums_at + g.nblocks * IDX_SUM_SIZE;
    size_t size = (size_t)g.trailer_at + IDX_TRAILER_SIZE;
    uint8_t *d = cairn_calloc(1, size);
    char *path = local_pack_path(ls, p->num, "idx");
    int rc = CAIRN_OK;
    if (!d || !path) {
        rc = ERR(CAIRN_ENOMEM, "out of memory writing the index of pack %u in %s", p->num,
                 ls->dir);
        goto out;
    }
    memcpy(d, IDX_MAGIC, MAGIC_SIZE);
    store_le32(d + 8, IDX_VERSION);
    store_le32(d + 12, IDX_BLOCK_ENTRIES);
    store_le64(d + 16, covered);
    store_le64(d + 24, recs->n);
    for (size_t i = 0; i < recs->n; i++) {
        uint8_t *e = d + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
        memcpy(e, recs->v[i].key.bytes, CAIRN_ID_SIZE);
        store_le64(e + 32, recs->v[i].off);
        store_le32(e + 40, recs->v[i].len);
        e[44] = recs->v[i].type;
    }
    local_idx_fill_blocks(d, &g);
    store_le64(d + g.trailer_at, local_idx_summary_sum(d, &g));
    rc = local_write_atomic(ls, path, d, size);
    if (rc == CAIRN_OK) {
        p->idx_covered = covered;
        p->in_sum = false; /* the summary names the index it replaced */
    }
    /* the filter packs/summary will hold for it (its own copy: it may be rewritten later) */
    if (rc == CAIRN_OK && local_filt_build(p, recs, load_le64(d + g.trailer_at)) != CAIRN_OK)
        cairn_error_clear(); /* then the summary rebuilds it from the .idx */
out:
    local_recvec_free(&merged);
    free(d);
    free(path);
    return rc;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The number of a pack file's name "pack-NNNNNNNN.<ext>", or 0. */
static uint32_t pack_name_num(const char *s, const char *ext)
{
    size_t el = strlen(ext);
    if (strlen(s) != 14 + el || strncmp(s, "pack-", 5) != 0 || s[13] != '.' ||
        strcmp(s + 14, ext) != 0)
        return 0;
    uint32_t num = 0;
    for (int i = 5; i < 13; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        num = num * 10 + (uint32_t)(s[i] - '0');
    }
    return num;
}

/* Pack numbers present in packs/, ascending (caller frees *out), and (out_idx not NULL: caller
 * frees) whether each has an .idx file, from the same listing. */
int local_list_packs(const local_store *ls, uint32_t **out, size_t *out_n, bool **out_idx)
{
    *out = NULL;
    *out_n = 0;
    if (out_idx) *out_idx = NULL;
    DIR *d = sys_opendir(ls->packs_dir);
    if (!d) {
        if (errno == ENOENT) return CAIRN_OK; /* a reader of a repository still being created */
        return cairn_error_errno(errno, "listing %s", ls->packs_dir);
    }
    uint32_t *v = NULL; /* num << 1 | 1 for an .idx: sorted, a pack's .idx follows it */
    size_t n = 0, cap = 0, npacks = 0;
    int rc = CAIRN_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint32_t num = pack_name_num(de->d_name, "pack"), idx = 0;
        if (!num && out_idx) idx = pack_name_num(de->d_name, "idx");
        if (!num && !idx) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            uint32_t *nv = cairn_realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = ERR(CAIRN_ENOMEM, "out of memory listing %s", ls->packs_dir);
                break;
            }
            v = nv;
        }
        v[n++] = num ? num << 1 : idx << 1 | 1;
        npacks += num != 0;
    }
    closedir(d);
    bool *has = out_idx && rc == CAIRN_OK ? cairn_calloc(npacks ? npacks : 1, sizeof *has) : NULL;
    if (rc == CAIRN_OK && out_idx && !has)
        rc = ERR(CAIRN_ENOMEM, "out of memory listing %s", ls->packs_dir);
    if (rc != CAIRN_OK) {
        free(v);
        return rc;
    }
    if (n) qsort(v, n, sizeof *v, u32_cmp);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] & 1)) v[o++] = v[i] >> 1;
        else if (o && v[o - 1] == v[i] >> 1 && has) has[o - 1] = true;
    }
    *out = v;
    *out_n = o;
    if (out_idx) *out_idx = has;
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

/* The empty file that says pack num's bytes from `from` on are a torn tail kept in place
 * (caller frees). */
static char *kept_marker_path(const local_store *ls, uint32_t num, uint64_t from)
{
    return cairn_sprintf("%s/pack-%08u.%llu" KEPT_TAIL_SUFFIX, ls->quar_dir, num,
                         (unsigned long long)from);
}

static bool kept_marker_exists(const local_store *ls, uint32_t num, uint64_t from)
{
    char *path = kept_marker_path(ls, num, from);
    struct stat sb;
    bool yes = path && sys_stat(path, &sb) == 0;
    free(path);
    return yes;
}

/* Notes [from, size) of pack p as a torn tail kept in place: the pack takes no more writes,
 * and repair (so verify) reports it. */
static int note_kept_tail(local_store *ls, pack *p, uint64_t from, uint64_t size)
{
    pack_damage *nd = cairn_realloc(p->damage, (p->ndamage + 1) * sizeof *nd);
    if (!nd) return ERR(CAIRN_ENOMEM, "out of memory scanning packs of %s", ls->dir);
    p->damage = nd;
    p->damage[p->ndamage++] = (pack_damage){ from, size - from, "a torn tail kept in place",
                                             true };
    p->stopped = true;
    p->reported = true;
    return CAIRN_OK;
}

/* Copies [from, size) of pack p into a new file of quarantine/ (*out_qpath, caller frees),
 * synced. On failure nothing is left behind: no empty or partial copy. */
static int set_aside(local_store *ls, pack *p, uint64_t from, uint64_t size, char **out_qpath)
{
    char *qpath = NULL;
    int rc = CAIRN_OK, qfd = -1;
    *out_qpath = NULL;
    for (int k = 0; k < 1000 && qfd < 0; k++) {
        free(qpath);
        qpath = k ? cairn_sprintf("%s/pack-%08u.%llu.tail.%d", ls->quar_dir, p->num,
                                  (unsigned long long)from, k)
                  : cairn_sprintf("%s/pack-%08u.%llu.tail", ls->quar_dir, p->num,
                                  (unsigned long long)from);
        if (!qpath) return ERR(CAIRN_ENOMEM, "out of memory repairing %s", ls->dir);
        qfd = sys_open(qpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
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
        size_t r;
        rc = sys_read_full(p->fd, buf, want, at, &r, "a pack");
        if (rc != CAIRN_OK || r == 0) break;
        rc = sys_write_all(qfd, buf, r, at - from, qpath);
        at += (uint64_t)r;
    }
    free(buf);
    if (rc == CAIRN_OK && sys_fsync(qfd) != 0)
        rc = cairn_error_errno(errno, "syncing %s", qpath);
    sys_close(qfd);
    if (rc == CAIRN_OK) rc = sys_fsync_dir(ls->quar_dir);
    if (rc != CAIRN_OK) { /* nothing was cut: leave no empty or partial copy behind */
        sys_unlink(qpath);
        free(qpath);
        return rc;
    }
    *out_qpath = qpath;
    return CAIRN_OK;
}

/* No room to set a torn tail aside: it stays where it is, in a pack that takes no more writes
 * (they go on in a new pack once there is room), noted in the pack's damage list (verify
 * reports it) and by an empty marker file in quarantine/ (no data, so it needs no room), by
 * which later opens know it for a torn tail, not corruption: the first writer's open with room
 * sets it aside and cuts it as usual. Without even the room for the marker, the open fails as
 * before, having changed nothing. */
static int keep_tail(local_store *ls, pack *p, uint64_t size, const char *why, int set_aside_rc)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    const uint64_t from = p->end;
    char *mpath = kept_marker_path(ls, p->num, from);
    if (!mpath) return ERR(CAIRN_ENOMEM, "out of memory repairing %s", ls->dir);
    int fd = sys_open(mpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    int rc = fd >= 0 ? sys_fsync_dir(ls->quar_dir) : CAIRN_OK;
    if (fd >= 0) sys_close(fd);
    if (fd < 0 || rc != CAIRN_OK) {
        if (fd >= 0) sys_unlink(mpath);
        free(mpath);
        cairn_error_set(set_aside_rc, "%s", msg);
        return cairn_error_prefix(set_aside_rc, "local store %s: pack-%08u.pack has a torn tail "
                                  "at offset %llu (%s) that must be set aside before writing, "
                                  "and there is no room for that; nothing was changed; free "
                                  "some space, then open it again", ls->dir, p->num,
                                  (unsigned long long)from, why);
    }
    rc = note_kept_tail(ls, p, from, size);
    if (rc == CAIRN_OK)
        cairn_diag(CAIRN_LOG_WARN,
                   "local store %s: pack-%08u.pack has a torn tail at offset %llu (%s), as a "
                   "crash leaves unflushed writes; there is no room to set its %llu bytes aside "
                   "in quarantine/ (%s), so they stay in place, noted by %s, and new writes go to "
                   "a new pack once there is room; nothing is lost: the first open for writing "
                   "after space is freed sets them aside and cuts the pack",
                   ls->dir, p->num, (unsigned long long)from, why,
                   (unsigned long long)(size - from), msg, mpath);
    free(mpath);
    return rc;
}

/* Sets [p->end, size) of pack p aside in quarantine/, then truncates p there (re-writing the
 * header when it was damaged). Bytes are never destroyed: they are set aside first, or, when
 * the disk has no room for that, kept in place (keep_tail). */
static int repair_tail(local_store *ls, pack *p, uint64_t size, const char *why)
{
    const uint64_t torn_at = p->end;
    uint64_t from = torn_at;
    char *qpath = NULL;
    int rc = size > from ? set_aside(ls, p, from, size, &qpath) : CAIRN_OK;
    if (rc == CAIRN_ENOSPC) return keep_tail(ls, p, size, why, rc);
    if (rc != CAIRN_OK) return rc;
    if (sys_ftruncate(p->fd, (off_t)from) != 0) {
        free(qpath);
        return cairn_error_errno(errno, "truncating pack %u of %s at %llu", p->num, ls->dir,
                                 (unsigned long long)from);
    }
    if (from < PACK_HEADER_SIZE) {
        uint8_t h[PACK_HEADER_SIZE];
        pack_header(h);
        rc = sys_write_all(p->fd, h, sizeof h, 0, "a pack header");
        if (rc != CAIRN_OK)
            rc = cairn_error_prefix(rc, "rewriting the header of pack %u of %s", p->num, ls->dir);
        from = PACK_HEADER_SIZE;
    }
    if (rc == CAIRN_OK && sys_fsync(p->fd) != 0)
        rc = cairn_error_errno(errno, "syncing pack %u of %s", p->num, ls->dir);
    if (rc == CAIRN_OK) {
        p->end = from;
        p->stopped = false;
        char *mpath = kept_marker_path(ls, p->num, torn_at); /* kept here by an earlier open */
        if (mpath && sys_unlink(mpath) == 0) sys_fsync_dir(ls->quar_dir);
        free(mpath);
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

/* repair_tail() for a sealed pack, which was opened read-only: opened for writing first. */
static int repair_kept_tail(local_store *ls, pack *p, uint64_t size, const char *why)
{
    char *path = local_pack_path(ls, p->num, "pack");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDWR | O_CLOEXEC, 0);
    int rc = fd < 0 ? cairn_error_errno(errno, "opening %s", path) : CAIRN_OK;
    free(path);
    TRY(rc);
    sys_close(p->fd);
    p->fd = fd;
    return repair_tail(ls, p, size, why);
}

/* Loading a pack applies each record to the index and, for a writer, collects it (.idx). */
typedef struct load_ctx {
    local_store *ls;
    uint32_t pi;
    recvec *collect;
    bool collect_only;       /* a rescan (local_pack_rescan()): the index is left alone */
} load_ctx;

static int load_rec(void *vctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    load_ctx *c = vctx;
    if (c->collect) TRY(local_recvec_push(c->collect, type, key, off, len));
    if (c->collect_only) return CAIRN_OK;
    cairn_id id;
    memcpy(id.bytes, key, CAIRN_ID_SIZE);
    if (type == REC_CHUNK) return local_idx_set(c->ls, &id, c->pi, off, len);
    /* a tombstone may delete a key of a mapped (older) pack: noted, and asked before them */
    if (c->ls->nmapped) TRY(local_shadow_add(c->ls, key));
    slot *s = local_idx_find(c->ls, &id);
    if (s) local_idx_remove(c->ls, s);
    return CAIRN_OK;
}

/* Whether the bytes at r (avail of them readable here, left of them in the file from r) start
 * a plausible record header: a length in range that fits in the file and a known type. */
static bool rec_header_plausible(const uint8_t *r, size_t avail, uint64_t left, uint32_t *out_len)
{
    if (avail < REC_LEN_SIZE + 1) return false;
    uint32_t body_len = load_le32(r);
    if (body_len < REC_BODY_MIN || body_len > REC_BODY_MAX) return false;
    if (left < (uint64_t)REC_LEN_SIZE + body_len + REC_CHECK_SIZE) return false;
    uint8_t type = r[REC_LEN_SIZE];
    if (type != REC_CHUNK && (type != REC_TOMBSTONE || body_len != REC_BODY_MIN)) return false;
    *out_len = body_len;
    return true;
}

/* Looks for the first good record that starts in [from, size) of a pack, trying every byte
 * offset (records have no alignment): a plausible header whose body checksum verifies.
 * @return 1 (found, at *out_off), 0 (none: only a torn tail could be there) or an error. */
int local_find_next_record(int fd, const char *path, uint64_t from, uint64_t size,
                           uint64_t *out_off)
{
    if (from >= size) return 0;
    size_t cap = (size_t)MIN((uint64_t)SCAN_BLOCK, size - from) + REC_LEN_SIZE + 1;
    uint8_t *buf = cairn_malloc(cap);
    cairn_buf one = CAIRN_BUF_INIT;
    if (!buf) return ERR(CAIRN_ENOMEM, "out of memory scanning %s", path);
    int rc = 0;
    for (uint64_t boff = from; rc == 0 && boff < size;) {
        size_t blen;
        rc = sys_read_full(fd, buf, (size_t)MIN((uint64_t)cap, size - boff), boff, &blen, path);
        if (rc != CAIRN_OK || blen == 0) break;
        /* offsets whose 5 header bytes are all in this block; the rest start the next one */
        size_t last = blen > REC_LEN_SIZE ? blen - REC_LEN_SIZE : 0;
        if (boff + blen >= size) last = blen;
        for (size_t i = 0; rc == 0 && i < last; i++) {
            uint32_t body_len;
            if (!rec_header_plausible(buf + i, blen - i, size - (boff + i), &body_len)) continue;
            size_t need = REC_LEN_SIZE + (size_t)body_len + REC_CHECK_SIZE;
            const uint8_t *r = buf + i;
            if (blen - i < need) {
                size_t got;
                rc = cairn_buf_reserve(&one, need);
                if (rc == CAIRN_OK) rc = sys_read_full(fd, one.data, need, boff + i, &got, path);
                if (rc != CAIRN_OK) break;
                if (got < need) continue;
                r = one.data;
            }
            const uint8_t *body = r + REC_LEN_SIZE;
            if (XXH3_64bits(body, body_len) == load_le64(body + body_len)) {
                *out_off = boff + i;
                rc = 1;
            }
        }
        if (rc == 0) boff += last ? last : blen;
    }
    free(buf);
    cairn_buf_dispose(&one);
    return rc;
}

/* Records a damaged range of pack p and logs it once. */
static int pack_note_damage(local_store *ls, pack *p, uint64_t off, uint64_t len, const char *why,
                            bool to_end)
{
    pack_damage *nd = cairn_realloc(p->damage, (p->ndamage + 1) * sizeof *nd);
    if (!nd) return ERR(CAIRN_ENOMEM, "out of memory scanning packs of %s", ls->dir);
    p->damage = nd;
    p->damage[p->ndamage++] = (pack_damage){ off, len, why, false };
    if (to_end)
        cairn_diag(CAIRN_LOG_ERROR,
                   "local store %s: pack-%08u.pack is corrupt at offset %llu (%s); records from "
                   "there to its end (%llu bytes) cannot be read and the pack is left untouched; "
                   "run 'cairn verify' and restore the pack from a replica or backup",
                   ls->dir, p->num, (unsigned long long)off, why, (unsigned long long)len);
    else
        cairn_diag(CAIRN_LOG_ERROR,
                   "local store %s: pack-%08u.pack is damaged at offset %llu, %llu bytes (%s); "
                   "the valid records after it are read and the pack is left untouched (no "
                   "more writes go to it); run 'cairn verify' to see what the damage affects",
                   ls->dir, p->num, (unsigned long long)off, (unsigned long long)len, why);
    return CAIRN_OK;
}

/* Scans pack pi from where its last scan stopped to its current end. At a bad record it looks
 * for a good one after it: if there is one, the bad range is corruption (recorded, logged,
 * kept) and the scan goes on from the good record; if not, it is a torn tail: a writer sets it
 * aside and cuts it (last pack), a reader stops there silently (last pack: the writer may be
 * appending), and in an older pack it is corruption, logged once and left alone. */
static int pack_scan(local_store *ls, uint32_t pi, bool last, recvec *collect, bool collect_only)
{
    pack *p = ls->packs[pi];
    struct stat sb;
    int fd = local_pack_fd(ls, p);
    if (fd < 0) return cairn_error_last()->code;
    if (sys_fstat(fd, &sb) != 0)
        return cairn_error_errno(errno, "reading pack %u of %s", p->num, ls->dir);
    uint64_t size = (uint64_t)sb.st_size, end;
    if (size == p->end && p->end > 0) {
        p->stopped = false;
        return CAIRN_OK;
    }
    const char *why;
    load_ctx c = { ls, pi, collect, collect_only };
    char *path = local_pack_path(ls, p->num, "pack");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int rc;
    for (;;) {
        rc = local_scan_records(fd, path, p->end, size, load_rec, &c, &end, &why);
        if (rc != SCAN_STOPPED) break;
        /* A damaged header is 16 bytes of constants: look for records right after it. */
        uint64_t bad = end, from = end < PACK_HEADER_SIZE ? PACK_HEADER_SIZE : end + 1, good;
        int frc = size > PACK_HEADER_SIZE ? local_find_next_record(fd, path, from, size, &good)
                                          : 0;
        if (frc <= 0) {
            if (frc < 0) rc = frc;
            break;
        }
        frc = pack_note_damage(ls, p, bad, good - bad, why, false);
        if (frc < 0) {
            rc = frc;
            break;
        }
        p->end = good;
    }
    free(path);
    if (rc < 0) return rc;
    p->end = end;
    p->stopped = rc == SCAN_STOPPED;
    if (!p->stopped) return CAIRN_OK;
    if (last && !ls->readonly) return repair_tail(ls, p, size, why);
    if (!last && kept_marker_exists(ls, p->num, end)) /* kept in place for lack of room */
        return ls->readonly || p->ndamage ? note_kept_tail(ls, p, end, size)
                                          : repair_kept_tail(ls, p, size, why);
    if (!last && !p->reported) {
        p->reported = true;
        TRY(pack_note_damage(ls, p, end, size - end, why, true));
    }
    return CAIRN_OK;
}

static int pack_scan_more(local_store *ls, uint32_t pi, bool last, recvec *collect)
{
    return pack_scan(ls, pi, last, collect, false);
}

int local_pack_rescan(local_store *ls, uint32_t pi, recvec *out)
{
    pack *p = ls->packs[pi];
    p->end = 0; /* from the header on */
    p->stopped = false;
    return pack_scan(ls, pi, false, out, true);
}

int local_pack_fd(local_store *ls, pack *p)
{
    int fd = atomic_load(&p->fd);
    if (fd != PACK_FD_LAZY) {
        if (fd < 0)
            ERR(CAIRN_EIO, "local store %s: pack-%08u.pack was retired by compaction", ls->dir,
                p->num);
        return fd;
    }
    /* Opened and checked with no lock held (readers of other packs do not wait on this one's
     * open and fstat); readers that race each open it, the first to install its descriptor
     * wins and the others close theirs. */
    char *path = local_pack_path(ls, p->num, "pack");
    struct stat sb;
    fd = path ? sys_open(path, O_RDONLY | O_CLOEXEC, 0) : -1;
    if (!path) {
        ERR(CAIRN_ENOMEM, "out of memory");
    } else if (fd < 0 && errno == ENOENT) {
        atomic_fetch_add(&ls->packs_gone, 1);
        ERR(CAIRN_EIO, "local store %s: pack-%08u.pack, listed in packs/summary when the store "
            "was opened, is gone (deleted since: by compaction in another process, or by "
            "hand); reopen the store, and run 'cairn verify' if no gc ran", ls->dir, p->num);
    } else if (fd < 0) {
        cairn_error_errno(errno, "local store %s: opening %s", ls->dir, path);
    } else if (sys_fstat(fd, &sb) != 0) {
        int e = errno;
        sys_close(fd);
        fd = -1;
        cairn_error_errno(e, "local store %s: reading %s", ls->dir, path);
    } else if ((uint64_t)sb.st_size < p->end) {
        sys_close(fd);
        fd = -1;
        CORRUPT("local store %s: pack-%08u.pack holds %llu bytes where packs/summary and its "
                "index say %llu; run 'cairn verify' and restore it from a replica or backup",
                ls->dir, p->num, (unsigned long long)sb.st_size, (unsigned long long)p->end);
    } else {
        int lazy = PACK_FD_LAZY;
        if (!atomic_compare_exchange_strong(&p->fd, &lazy, fd)) {
            sys_close(fd); /* another reader's is installed, or the pack was retired */
            fd = lazy;
            if (fd < 0)
                ERR(CAIRN_EIO, "local store %s: pack-%08u.pack was retired by compaction",
                    ls->dir, p->num);
        }
    }
    free(path);
    return fd;
}

/* A sealed pack that packs/summary describes (and whose .idx the listing showed): recorded
 * without a syscall (no open, no stat),
 * its filter attached; the first lookup its filter lets through maps its .idx and the first read
 * opens it (local_pack_fd()). Mapped ones must stay the oldest (see local_index.c), hence not
 * after an eager one. @return 1 done, 0 not such a pack, or an error. */
static int pack_add_lazy(local_store *ls, uint32_t num, bool last)
{
    const uint8_t *se = ls->sum && !last && !ls->eager ? local_summary_entry(ls, num) : NULL;
    if (!se) return 0;
    uint32_t pi;
    TRY(pack_add(ls, num, PACK_FD_LAZY, &pi));
    pack *p = ls->packs[pi];
    local_summary_attach(ls, p, se);
    p->in_sum = true;
    p->end = p->idx_covered = p->durable = load_le64(se + 8);
    atomic_store(&p->lazy, true);
    ls->nmapped++;
    return 1;
}

/* Opens pack num (ENOENT: gone by compaction, skipped), loads its .idx if valid, scans what the
 * .idx does not cover; a writer rewrites a missing, damaged or stale .idx. A sealed pack that
 * packs/summary describes is only recorded (pack_add_lazy()). */
int local_pack_open_load(local_store *ls, uint32_t num, bool last, bool idx_listed)
{
    int lrc = idx_listed ? pack_add_lazy(ls, num, last) : 0;
    if (lrc != 0) return lrc < 0 ? lrc : CAIRN_OK;
    char *path = local_pack_path(ls, num, "pack");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    bool rw = last && !ls->readonly;
    int fd = sys_open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
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
        sys_close(fd);
        return rc;
    }
    pack *p = ls->packs[pi];
    struct stat sb;
    if (sys_fstat(fd, &sb) != 0)
        return cairn_error_errno(errno, "reading pack %u of %s", num, ls->dir);
    /* described as it is by the summary (the last pack, or one after an eager pack): so the
     * summary need not be rewritten for it */
    const uint8_t *se = ls->sum ? local_summary_entry(ls, num) : NULL;
    if (se && load_le64(se + 8) == (uint64_t)sb.st_size) p->in_sum = true;
    recvec recs = { 0 };
    recvec *collect = ls->readonly ? NULL : &recs;
    load_ctx c = { ls, pi, collect, false };
    uint64_t covered = 0, trailer = 0;
    const char *why = NULL;
    bool loaded = false;
    /* mapped while every pack before it is and nothing sits in front of the mapped packs (they
     * must stay the oldest: see local_index.c): a reader's refresh that scanned the last pack's
     * tail into the table, or met a deletion there (shadow), loads the newer packs too, so that
     * a chunk put again, or deleted, in one of them is not hidden behind the table */
    rc = ls->eager || ls->nshadow || ls->n ? 0 : local_idx_map(ls, pi, (uint64_t)sb.st_size,
                                                               &covered);
    if (rc == 0) {
        ls->eager = true;
        rc = local_idxfile_read(ls, num, (uint64_t)sb.st_size, load_rec, &c, &covered, &trailer,
                                &why);
        struct stat now;
        if (rc == 0 && ls->readonly && why && sys_fstat(fd, &now) == 0 &&
            now.st_size > sb.st_size) {
            /* the writer appended to the pack, sealed it and wrote its index between this
             * reader's look at the pack's size and its read of the index: not damage; read the
             * index against the size now (nothing of it was taken: it is taken whole or not) */
            sb = now;
            why = NULL;
            covered = trailer = 0;
            rc = local_idxfile_read(ls, num, (uint64_t)sb.st_size, load_rec, &c, &covered,
                                    &trailer, &why);
        }
        loaded = rc == 1;
    }
    if (rc < 0) goto out;
    if (rc == 1) {
        p->end = p->idx_covered = p->durable = covered;
    } else if (why) {
        cairn_diag(CAIRN_LOG_WARN, "local store %s: ignoring pack-%08u.idx (%s); %s", ls->dir,
                  num, why, ls->readonly ? "reading the pack instead" : "rebuilding it from the pack");
    }
    rc = pack_scan_more(ls, pi, last, collect);
    if (rc < 0) goto out;
    /* A sealed pack loaded whole from its .idx, which the summary does not describe: its
     * filter from the records just read, so the summary's rewrite reads no index again */
    if (loaded && !ls->readonly && !last && !p->in_sum && p->idx_covered == p->end &&
        !p->ndamage && !p->stopped) {
        local_recvec_settle(&recs);
        if (local_filt_build(p, &recs, trailer) != CAIRN_OK) cairn_error_clear();
    }
    /* A damaged pack gets no .idx: every open scans it again, and so reports the damage. */
    if (!ls->readonly && p->idx_covered != p->end && !p->ndamage) {
        int irc = local_idxfile_write(ls, p, &recs, p->end);
        if (irc != CAIRN_OK)
            cairn_diag(CAIRN_LOG_WARN, "local store %s: could not rewrite pack-%08u.idx (%s); "
                      "the next open reads the pack instead", ls->dir, num,
                      cairn_error_last()->message);
    }
    if (!ls->readonly && last && !p->ndamage) { /* never append after damage: open starts a
                                                   new pack instead */
        ls->cur = p;
        ls->cur_pi = pi;
        ls->wbuf_off = p->end;
        ls->cur_recs = recs;
        recs = (recvec){ 0 };
    }
    rc = CAIRN_OK;
out:
    local_shadow_settle(ls);
    local_recvec_free(&recs);
    return rc;
}

/* A reader found a pack deleted at its first use: compaction ran in the writer, after copying
 * the live records of the packs it deleted into newer ones (which the refresh just loaded). A
 * reader holding some of those packs open would mix what they say with what it never read of
 * the others (their tombstones), so it lets go of every pack whose file is gone, and of what
 * the hash table holds of them: what is left is what an open now would see. mu held for
 * writing. */
static int drop_deleted_packs(local_store *ls)
{
    bool *dropped = cairn_calloc(ls->npacks ? ls->npacks : 1, sizeof *dropped);
    if (!dropped) return ERR(CAIRN_ENOMEM, "out of memory refreshing %s", ls->dir);
    bool any = false;
    for (size_t i = 0; i + 1 < ls->npacks; i++) {
        pack *p = ls->packs[i];
        char *path = local_pack_path(ls, p->num, "pack");
        struct stat sb;
        if (!local_pack_retired(p) && path && sys_stat(path, &sb) != 0 && errno == ENOENT) {
            local_idx_unmap(ls, p);
            if (p->fd >= 0) sys_close(p->fd);
            p->fd = PACK_FD_RETIRED;
            ls->nopen--;
            dropped[i] = any = true;
        }
        free(path);
    }
    for (size_t i = 0; any && i <= ls->mask;) {
        slot *s = &ls->slots[i];
        if (s->pi != SLOT_FREE && dropped[s->pi]) local_idx_remove(ls, s); /* i again */
        else i++;
    }
    free(dropped);
    return CAIRN_OK;
}

/* Looks for what other processes appended: the tail of the last pack and new pack files.
 * Called with mu held for writing. */
static int refresh_locked(local_store *ls)
{
    uint32_t *nums;
    size_t n;
    TRY(local_list_packs(ls, &nums, &n, NULL));
    uint32_t last_num = ls->npacks ? ls->packs[ls->npacks - 1]->num : 0;
    size_t first_new = 0;
    while (first_new < n && nums[first_new] <= last_num) first_new++;
    bool have_new = first_new < n;
    int rc = CAIRN_OK;
    if (ls->npacks) {
        pack *p = ls->packs[ls->npacks - 1];
        if (!local_pack_retired(p) && !(p->stopped && p->reported))
            rc = pack_scan_more(ls, (uint32_t)ls->npacks - 1, !have_new, NULL);
    }
    for (size_t i = first_new; i < n && rc == CAIRN_OK; i++)
        rc = local_pack_open_load(ls, nums[i], i + 1 == n, false);
    free(nums);
    local_shadow_settle(ls); /* what the last pack's new tail deleted */
    unsigned long gone = atomic_load(&ls->packs_gone);
    if (rc == CAIRN_OK && gone != ls->gone_seen) {
        ls->gone_seen = gone;
        rc = drop_deleted_packs(ls);
    }
    /* Let go of packs compaction deleted once nothing here points into them any more (live
     * counts are whole only without mapped packs). */
    for (size_t i = 0; rc == CAIRN_OK && !ls->nmapped && i + 1 < ls->npacks; i++) {
        pack *p = ls->packs[i];
        if (local_pack_retired(p) || p->live != 0) continue;
        char *path = local_pack_path(ls, p->num, "pack");
        struct stat sb;
        if (path && sys_stat(path, &sb) != 0 && errno == ENOENT) {
            if (p->fd >= 0) sys_close(p->fd);
            p->fd = PACK_FD_RETIRED;
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
int local_refresh(local_store *ls, unsigned long seq_at_miss)
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

int local_poisoned_error(local_store *ls)
{
    return ERR(CAIRN_EIO,
               "local store %s: an earlier write or fsync failed, so recent writes may not be on "
               "disk; close the store and reopen it (recovery rescans the packs)",
               ls->dir);
}

/* Writes the buffer to the current pack. On failure the buffer is kept and the next attempt
 * rewrites it at the same offset. */
int local_wbuf_write(local_store *ls)
{
    if (!ls->wbuf.len) return CAIRN_OK;
    int rc = sys_write_all(ls->cur->fd, ls->wbuf.data, ls->wbuf.len, ls->wbuf_off, "a pack");
    if (rc != CAIRN_OK) {
        /* part of the buffer may be in the file: cut it off again (no room is needed for
         * that), so that no torn tail is left for the next open to set aside (on a full disk
         * it could not); the buffer is still whole in memory */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
        struct stat sb;
        if (sys_fstat(ls->cur->fd, &sb) == 0 && (uint64_t)sb.st_size > ls->wbuf_off)
            (void)sys_ftruncate(ls->cur->fd, (off_t)ls->wbuf_off);
        cairn_error_set(rc, "%s", msg);
        return cairn_error_prefix(rc, "local store %s: pack-%08u.pack (the writes are kept and "
                                  "tried again at the next flush)", ls->dir, ls->cur->num);
    }
    ls->wbuf_off += ls->wbuf.len;
    ls->cur->end = ls->wbuf_off;
    ls->wbuf.len = 0;
    if (ls->wbuf.cap > 2 * WBUF_CAP) { /* a huge chunk went through: give the memory back */
        free(ls->wbuf.data);
        ls->wbuf = (cairn_buf)CAIRN_BUF_INIT;
    }
    return CAIRN_OK;
}

int local_pack_sync(local_store *ls, pack *p)
{
    if (p->fd < 0 || p->durable >= p->end) return CAIRN_OK;
    if (sys_fdatasync(p->fd) != 0) {
        int e = errno;
        ls->poisoned = true; /* after a failed fsync the kernel may have dropped the pages */
        return cairn_error_errno(e, "local store %s: syncing pack-%08u.pack", ls->dir, p->num);
    }
    p->durable = p->end;
    return CAIRN_OK;
}

/* Creates pack num (header only) and makes it the current pack. */
int local_pack_create(local_store *ls, uint32_t num)
{
    char *path = local_pack_path(ls, num, "pack"), *ipath = local_pack_path(ls, num, "idx");
    if (!path || !ipath) {
        free(path);
        free(ipath);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    sys_unlink(ipath); /* a stale index must never describe the new pack */
    free(ipath);
    int fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = cairn_error_errno(errno, "creating pack %s", path);
        free(path);
        return rc;
    }
    uint8_t h[PACK_HEADER_SIZE];
    pack_header(h);
    int rc = sys_write_all(fd, h, sizeof h, 0, path);
    if (rc != CAIRN_OK) {
        sys_close(fd);
        sys_unlink(path);
        free(path);
        return rc;
    }
    uint32_t pi;
    rc = pack_add(ls, num, fd, &pi);
    if (rc != CAIRN_OK) { /* it holds only a header: remove it, or the next try meets EEXIST */
        sys_close(fd);
        sys_unlink(path);
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
    int rc = sys_fsync_dir(ls->packs_dir);
    if (rc != CAIRN_OK) {
        ls->poisoned = true;
        return rc;
    }
    ls->dir_synced_gen = gen;
    return CAIRN_OK;
}

/* Seals the current pack (durable, indexed) and starts the next one. mu held for writing. */
int local_rollover(local_store *ls)
{
    TRY(local_wbuf_write(ls));
    TRY(local_pack_sync(ls, ls->cur));
    TRY(sync_packs_dir(ls));
    if (local_idxfile_write(ls, ls->cur, &ls->cur_recs, ls->wbuf_off) != CAIRN_OK)
        cairn_diag(CAIRN_LOG_WARN, "local store %s: could not write pack-%08u.idx (%s); the next "
                  "open reads the pack instead", ls->dir, ls->cur->num, cairn_error_last()->message);
    else if (!atomic_load(&ls->cur_damaged))
        TRY(local_idx_shed(ls, ls->cur_pi, &ls->cur_recs, ls->wbuf_off));
    TRY(local_pack_create(ls, ls->cur->num + 1));
    local_summary_update(ls, "after sealing a pack");
    return CAIRN_OK;
}

/* Seals the current pack, in which a read found a damaged record, and starts the next one: the
 * writer never appends after damage. The read reported the record (and verify reports the chunk
 * with its pack and offset); the pack's index is written as at any rollover. */
int local_seal_damaged(local_store *ls)
{
    uint32_t num = ls->cur->num;
    TRY(local_rollover(ls));
    atomic_store(&ls->cur_damaged, false);
    cairn_diag(CAIRN_LOG_WARN,
               "local store %s: pack-%08u.pack has a damaged record at offset %llu, so it was "
               "sealed and new records go to pack-%08u.pack; run 'cairn verify'",
               ls->dir, num, (unsigned long long)atomic_load(&ls->cur_damaged_off), num + 1);
    return CAIRN_OK;
}

/* Appends one record to the write buffer (mu held for writing; room in cur_recs reserved). */
int local_append_record(local_store *ls, uint8_t type, const cairn_id *key, const void *data,
                        size_t len, uint64_t *out_off)
{
    if (!ls->cur) /* open found no room for a new pack (local_pack_create_later) */
        TRY(local_pack_create(ls, ls->npacks ? ls->packs[ls->npacks - 1]->num + 1 : 1));
    if (atomic_load(&ls->cur_damaged)) TRY(local_seal_damaged(ls));
    uint64_t at = ls->wbuf_off + ls->wbuf.len;
    if (at > ls->pack_max && at > PACK_HEADER_SIZE) {
        int rc = local_rollover(ls);
        /* A deletion goes on in the full pack when there is no room for a new one (the size
         * limit is a target): on a full disk, gc's deletions are what makes room. A failed
         * rollover leaves the current pack as it was, its buffer kept. */
        if (rc == CAIRN_ENOSPC && type == REC_TOMBSTONE && !ls->poisoned) cairn_error_clear();
        else TRY(rc);
    }
    size_t rl = (size_t)rec_size(len);
    if (ls->wbuf.len && ls->wbuf.len + rl > WBUF_CAP) TRY(local_wbuf_write(ls));
    TRY(cairn_buf_reserve(&ls->wbuf, ls->wbuf.len + rl));
    TRY(local_recvec_reserve(&ls->cur_recs, 1));
    uint8_t *r = ls->wbuf.data + ls->wbuf.len, *body = r + REC_LEN_SIZE;
    store_le32(r, (uint32_t)(REC_BODY_MIN + len));
    body[0] = type;
    memcpy(body + 1, key->bytes, CAIRN_ID_SIZE);
    if (len) memcpy(body + REC_BODY_MIN, data, len);
    store_le64(body + REC_BODY_MIN + len, XXH3_64bits(body, REC_BODY_MIN + len));
    *out_off = ls->wbuf_off + ls->wbuf.len;
    ls->wbuf.len += rl;
    return local_recvec_push(&ls->cur_recs, type, key->bytes, *out_off, (uint32_t)len);
}
