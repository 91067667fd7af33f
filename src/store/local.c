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
 * open once a read opened them (a sealed pack packs/summary describes is not opened at open:
 * local_pack_fd()), so readers do not serialise on I/O; or, through get_mapped, point straight into
 * read-only mappings of the packs (no syscall, no copy, no fresh memory: the page cache is used
 * in place, as LMDB does). Records never move within a pack and packs are never truncated below
 * indexed records, so a mapping stays valid until close; mappings are only ever added. Every
 * read re-checks the record's XXH3 checksum and key: a damaged pack is reported as
 * CAIRN_ECORRUPT where it is found.
 *
 * Recovery: a bad record followed by a good one (any pack) is corruption: the damaged range is
 * recorded and logged, every record after it is read, nothing is cut, and the writer starts a
 * new pack rather than append after damage (local_repair.c reports the ranges to verify). A bad
 * or incomplete record in the last pack with nothing good after it is a torn tail from a
 * crash: the writer moves the bytes from there to EOF into quarantine/ and truncates (never
 * destroying bytes); a reader stops there silently (the writer may be mid-append) and looks
 * again later. Such a tail in an earlier pack is corruption: logged, never truncated.
 *
 * Freshness: readers (and read-only handles in the writer's own process) pick up what another
 * process appended by rescanning the tail of the last pack and looking for new pack files when
 * a get or has misses, then retrying once.
 *
 * The other files of the local store, and what each holds, are listed in local_int.h.
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
#include "store/local_files.h"
#include "store/local_int.h"

static void local_close(cairn_store *st);

/* ---------------------------------------------------------------------------------------------
 * File helpers
 * ------------------------------------------------------------------------------------------- */

char *local_parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return cairn_strdup(".");
    if (slash == path) return cairn_strdup("/");
    return cairn_strndup(path, (size_t)(slash - path));
}

static char *tmp_name(local_store *ls)
{
    unsigned long seq = atomic_fetch_add(&ls->tmp_seq, 1);
    return cairn_sprintf("%s/w%ld-%lu.tmp", ls->tmp_dir, (long)getpid(), seq);
}

/* Writes data to path atomically: a temp file in tmp/, fsync, rename, fsync of path's
 * directory. On failure path is untouched and the temp file removed. */
int local_write_atomic(local_store *ls, const char *path, const void *data, size_t len)
{
    char *tmp = tmp_name(ls);
    char *parent = local_parent_of(path);
    int rc = CAIRN_OK;
    if (!tmp || !parent) {
        rc = ERR(CAIRN_ENOMEM, "out of memory writing %s", path);
        goto out;
    }
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = cairn_error_errno(errno, "creating temp file %s (for %s)", tmp, path);
        goto out;
    }
    rc = sys_write_all(fd, data, len, 0, tmp);
    if (rc == CAIRN_OK && sys_fsync(fd) != 0) rc = cairn_error_errno(errno, "syncing %s", tmp);
    sys_close(fd);
    /* Not sys_rename_durable: tmp/ need not be synced (a crash leaves at most a temp file there,
     * which the next writer's open removes), only path's directory. */
    if (rc == CAIRN_OK && sys_rename(tmp, path) != 0)
        rc = cairn_error_errno(errno, "renaming %s to %s", tmp, path);
    if (rc != CAIRN_OK) sys_unlink(tmp);
    else rc = sys_fsync_dir(parent);
out:
    free(tmp);
    free(parent);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Chunk methods
 * ------------------------------------------------------------------------------------------- */

int local_readonly_error(local_store *ls, const char *what)
{
    return ERR(CAIRN_EREADONLY, "local store %s was opened read-only: cannot %s", ls->dir, what);
}

int local_not_found(local_store *ls, const cairn_id *key)
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
int local_read_slot(local_store *ls, const slot *s, cairn_buf *out)
{
    pack *p = ls->packs[s->pi];
    if (!ls->readonly && p == ls->cur && s->off >= ls->wbuf_off)
        return cairn_buf_set(out, ls->wbuf.data + (s->off - ls->wbuf_off) + REC_PAYLOAD_AT,
                             s->len);
    size_t rl = (size_t)rec_size(s->len);
    TRY(cairn_buf_reserve(out, rl));
    size_t r;
    char hex[CAIRN_ID_HEX_SIZE];
    int fd = local_pack_fd(ls, p);
    if (fd < 0) return cairn_error_last()->code;
    int rc = sys_read_full(fd, out->data, rl, s->off, &r, "a pack");
    if (rc != CAIRN_OK)
        return cairn_error_prefix(rc, "local store %s: pack-%08u.pack", ls->dir, p->num);
    const char *why =
        r < rl ? "the pack ends inside the record" : record_problem(out->data, s, true);
    if (why) {
        if (!ls->readonly && p == ls->cur) { /* the writer stops appending to this pack */
            atomic_store(&ls->cur_damaged_off, s->off);
            atomic_store(&ls->cur_damaged, true);
        }
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

/* Maps pack bytes from its start up to the end of its indexed records (mu held). The mmap and
 * madvise run outside map_mu, which only guards the append to p->maps: two readers that race
 * both map, and the one that finds the other's mapping already there unmaps its own. */
static const uint8_t *map_extend(local_store *ls, pack *p, uint64_t off, uint64_t len)
{
    uint64_t end = (!ls->readonly && p == ls->cur) ? ls->wbuf_off : p->end;
    if (off + len > end ||
        atomic_load_explicit(&p->nmaps, memory_order_relaxed) >= PACK_MAPS_MAX)
        return NULL; /* get() copies it */
    int fd = local_pack_fd(ls, p);
    if (fd < 0) {
        cairn_error_clear(); /* get() reads it again and reports it */
        return NULL;
    }
    /* From the pack's start: one mapping serves every later read below end (the writer's pack
     * and a reader's last one grow past it, and get another). Chunks are read where a search
     * leads: no read-around, which would read up to the device's read-ahead (8 MiB on the test
     * VM) around each node a cold get touches (RocksDB advises its tables random for the same
     * reason); readers in order say so (will_read), or read_ahead() notices. */
    void *m = sys_mmap(NULL, end, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return NULL;
    (void)madvise(m, end, MADV_RANDOM);
    pthread_mutex_lock(&ls->map_mu);
    const uint8_t *found = map_find(p, off, len);
    unsigned n = atomic_load_explicit(&p->nmaps, memory_order_relaxed);
    bool keep = !found && n < PACK_MAPS_MAX;
    if (keep) {
        p->maps[n] = (pack_map){ m, 0, end };
        atomic_store_explicit(&p->nmaps, n + 1, memory_order_release);
        found = (const uint8_t *)m + off;
    }
    pthread_mutex_unlock(&ls->map_mu);
    if (!keep) munmap(m, end);
    return found;
}

/* Where each thread's last mapped read ended, and how many reads in a row began near the end of
 * the one before: a scan is one thread reading a pack in order. Kept per thread so that a
 * mapped get writes no memory other readers share (the pack's ra_until is written only when
 * advice is given). pack is only compared, never followed: a stale one is a wrong guess. */
static _Thread_local struct {
    const pack *p;
    uint64_t next;
    unsigned run;
} ra_me;

/* A scan reads a pack's records in order, and its mappings are advised random (no
 * read-around): after RA_AFTER reads that follow each other, the next RA_WINDOW bytes are asked
 * of the kernel ahead of need (asynchronous), as a cursor's pages would have been read around.
 * Cursors also say what they will read (will_read); this catches the other readers in order. */
static void read_ahead(pack *p, uint64_t off, uint64_t len)
{
    uint64_t here = off + len;
    bool follows = ra_me.p == p && off >= ra_me.next && off - ra_me.next <= RA_GAP;
    ra_me.run = follows ? ra_me.run + 1 : 0;
    ra_me.p = p;
    ra_me.next = here;
    if (ra_me.run < RA_AFTER) return;
    uint64_t until = atomic_load_explicit(&p->ra_until, memory_order_relaxed);
    bool ahead = until > here && until - here <= 2 * (uint64_t)RA_WINDOW; /* else stale */
    if (ahead && until - here >= RA_WINDOW / 2) return;                  /* far enough */
    int fd = atomic_load_explicit(&p->fd, memory_order_relaxed);
    if (fd < 0) return;
    uint64_t from = ahead ? until : here;
    (void)posix_fadvise(fd, (off_t)from, RA_WINDOW, POSIX_FADV_WILLNEED); /* advice only */
    atomic_store_explicit(&p->ra_until, from + RA_WINDOW, memory_order_relaxed);
}

static int local_get_mapped(cairn_store *st, const uint8_t **out, size_t *out_len,
                            const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    pthread_rwlock_rdlock(&ls->mu);
    slot tmp;
    const slot *s = local_idx_lookup(ls, key, &tmp);
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
            read_ahead(p, s->off, rl);
        }
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc; /* EUNSUPPORTED covers "not here": get() then looks again, refreshing */
}

/* A run of pack bytes a will_read hint names. */
typedef struct hint_range {
    uint32_t pi;
    uint64_t off, end;
} hint_range;

static int hint_cmp(const void *a, const void *b)
{
    const hint_range *x = a, *y = b;
    if (x->pi != y->pi) return x->pi < y->pi ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Whether the pack bytes of the k chunks of a hint batch are all in memory already (mu held).
 * A scan whose data is in the page cache but not in the chunk cache (a table larger than the
 * chunk cache, read again) hints every leaf, and looking each one up cost more than a tenth of
 * its reading thread (a lookup is a binary search of a mapped .idx, done again by the read).
 * So three are looked up: the first, the middle and the last named. Chunks named together were
 * written together as a rule (a parent's leaves), so when those three lie in one mapped pack
 * within HINT_SPAN_MAX, one mincore() of the bytes from the lowest to the end of the highest
 * tells whether every page between is resident: then nothing is left to advise. Anything else
 * (spread over packs, far apart, not mapped, a page out) is false, and the batch is advised
 * as before. A chunk of the batch outside that range (a leaf rewritten later, in another
 * pack) is missed when the three are resident: it is then read a page a fault, as without
 * a hint. */
static bool batch_resident(local_store *ls, const cairn_id *keys, size_t k)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (k < HINT_CHECK_MIN || page < HINT_PAGE_MIN || (page & (page - 1))) return false;
    const size_t at[3] = { 0, k / 2, k - 1 };
    uint32_t pi = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 3; i++) {
        slot tmp;
        const slot *sl = local_idx_lookup(ls, &keys[at[i]], &tmp);
        if (!sl || (i > 0 && sl->pi != pi)) return false;
        pi = sl->pi;
        lo = MIN(lo, sl->off);
        hi = MAX(hi, sl->off + rec_size(sl->len));
    }
    pack *p = ls->packs[pi];
    if (hi - lo > HINT_SPAN_MAX || (!ls->readonly && p == ls->cur && hi > ls->wbuf_off))
        return false;
    const uint8_t *m = map_find(p, lo, hi - lo);
    if (!m) return false;
    uintptr_t from = (uintptr_t)m & ~(uintptr_t)(page - 1);
    size_t len = (size_t)((uintptr_t)m + (hi - lo) - from), pages = (len + page - 1) / page;
    unsigned char vec[HINT_SPAN_MAX / HINT_PAGE_MIN + 2];
    if (mincore((void *)from, len, vec) != 0) return false;
    for (size_t i = 0; i < pages; i++)
        if (!(vec[i] & 1)) return false;
    return true;
}

/* The hint of a reader that will soon read these chunks (a cursor's next leaves): their records
 * are looked up, sorted by pack and offset, joined where they lie within RA_GAP of each other,
 * and each run is asked of the kernel (WILLNEED: asynchronous, so the reads that follow find
 * the pages, read in large requests instead of a page a fault). Left out: chunks not found, in
 * the writer's buffer, or in a pack no read has opened yet (its first read opens it: a hint
 * opens no pack; its lookups map a sealed pack's .idx, as any lookup does), and batches whose
 * bytes are all in memory already (batch_resident()). Advice under mu, as get_mapped's page
 * faults are: the descriptors stay open meanwhile. */
static void will_read_batches(local_store *ls, const cairn_id *keys, size_t n)
{
    hint_range r[HINT_BATCH];
    for (size_t at = 0; at < n; at += HINT_BATCH) {
        size_t m = 0, k = MIN(n - at, (size_t)HINT_BATCH);
        pthread_rwlock_rdlock(&ls->mu);
        if (batch_resident(ls, keys + at, k)) k = 0;
        for (size_t i = 0; i < k; i++) {
            slot tmp;
            const slot *sl = local_idx_lookup(ls, &keys[at + i], &tmp);
            if (!sl) continue;
            pack *p = ls->packs[sl->pi];
            /* A reader naming this many chunks at once reads in order, and will look up most
             * keys of the pack, which lie all over its mapped .idx (advised random: a page a
             * fault, and each lookup's page before any advice for the chunk can be given):
             * the index is asked for whole, once, before the rest of the lookups (it is about
             * 1% of the pack's bytes). */
            if (k >= HINT_IDX_MIN && p->imap &&
                !atomic_load_explicit(&p->idx_advised, memory_order_relaxed) &&
                !atomic_exchange(&p->idx_advised, true))
                (void)madvise((void *)p->imap, p->imap_len, MADV_WILLNEED);
            uint64_t end = sl->off + rec_size(sl->len);
            if (atomic_load_explicit(&p->fd, memory_order_relaxed) < 0 ||
                (!ls->readonly && p == ls->cur && end > ls->wbuf_off))
                continue;
            r[m++] = (hint_range){ sl->pi, sl->off, end };
        }
        qsort(r, m, sizeof *r, hint_cmp);
        for (size_t i = 0, j; i < m; i = j) {
            uint64_t end = r[i].end;
            for (j = i + 1; j < m && r[j].pi == r[i].pi && r[j].off <= end + RA_GAP; j++)
                end = MAX(end, r[j].end);
            int fd = atomic_load_explicit(&ls->packs[r[i].pi]->fd, memory_order_relaxed);
            (void)posix_fadvise(fd, (off_t)r[i].off, (off_t)(end - r[i].off),
                                POSIX_FADV_WILLNEED); /* advice only */
        }
        pthread_rwlock_unlock(&ls->mu);
    }
}

/* A hint reports nothing and leaves the thread's last error as it was (store.h), but its
 * lookups may map a sealed pack's .idx, and one that fails to map clears the error or sets its
 * own (the index is then damaged to lookups, and the next get reads it whole and says why):
 * the error the caller had is put back. With none (a scan, as a rule), nothing is copied. */
static void local_will_read(cairn_store *st, const cairn_id *keys, size_t n)
{
    const cairn_error *e = cairn_error_last();
    if (e->code == CAIRN_OK && !e->message[0]) { /* none to keep (a scan, as a rule) */
        will_read_batches((local_store *)st, keys, n);
        cairn_error_clear();
        return;
    }
    cairn_error_saved was;
    cairn_error_save(&was);
    will_read_batches((local_store *)st, keys, n);
    cairn_error_restore(&was);
}

static int local_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    for (int attempt = 0;; attempt++) {
        unsigned long gone = atomic_load(&ls->packs_gone);
        pthread_rwlock_rdlock(&ls->mu);
        slot tmp;
        const slot *s = local_idx_lookup(ls, key, &tmp);
        int rc = s ? local_read_slot(ls, s, out) : CAIRN_ENOTFOUND;
        pthread_rwlock_unlock(&ls->mu);
        if (rc < 0 && rc != CAIRN_ENOTFOUND && !attempt && ls->readonly &&
            atomic_load(&ls->packs_gone) != gone) {
            /* a pack compaction deleted before this reader first read it: the chunk's copy is
             * in a newer pack, which a refresh finds (and the hash table then wins) */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
            TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
            pthread_rwlock_rdlock(&ls->mu);
            s = local_idx_lookup(ls, key, &tmp);
            int rc2 = s ? local_read_slot(ls, s, out) : CAIRN_ENOTFOUND;
            pthread_rwlock_unlock(&ls->mu);
            if (rc2 == CAIRN_OK) return rc2;
            return ERR(rc, "%s", msg);
        }
        if (rc != CAIRN_ENOTFOUND) return rc;
        if (local_idx_damaged(ls)) { /* no answer: load the whole index, then ask again */
            TRY(local_idx_full_locked(ls));
            attempt--;
            continue;
        }
        if (attempt || !ls->readonly) break;
        TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
    }
    return local_not_found(ls, key);
}

static int local_has(cairn_store *st, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&ls->mu);
        slot tmp;
        bool present = local_idx_lookup(ls, key, &tmp) != NULL;
        pthread_rwlock_unlock(&ls->mu);
        if (present) return CAIRN_OK;
        if (local_idx_damaged(ls)) {
            TRY(local_idx_full_locked(ls));
            attempt--;
            continue;
        }
        if (attempt || !ls->readonly) break;
        TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
    }
    return CAIRN_ENOTFOUND;
}

static int local_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return local_readonly_error(ls, "store chunks");
    if (len > REC_PAYLOAD_MAX) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, key);
        return ERR(CAIRN_EINVAL, "chunk %s of %zu bytes is over the local store's limit of %u",
                   hex, len, REC_PAYLOAD_MAX);
    }
    pthread_rwlock_wrlock(&ls->mu);
    int rc = CAIRN_OK;
    uint64_t off;
    slot tmp;
    if (ls->poisoned) rc = local_poisoned_error(ls);
    else if (local_idx_lookup_fast(ls, key, &tmp)) rc = CAIRN_OK; /* dedup: put is idempotent */
    else if (local_idx_damaged(ls) && ((rc = local_idx_full(ls)) < 0 ||
                                       local_idx_lookup(ls, key, &tmp)))
        ; /* a damaged mapped index answered nothing: asked again of the whole index */
    else if ((rc = local_idx_reserve(ls, 1)) == CAIRN_OK &&
             (rc = local_append_record(ls, REC_CHUNK, key, data, len, &off)) == CAIRN_OK)
        rc = local_idx_set(ls, key, ls->cur_pi, off, (uint32_t)len); /* cannot fail: reserved */
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

static int local_del(cairn_store *st, const cairn_id *key)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return local_readonly_error(ls, "delete chunks");
    pthread_rwlock_wrlock(&ls->mu);
    int rc = CAIRN_OK;
    uint64_t off;
    if (ls->poisoned) {
        rc = local_poisoned_error(ls);
    } else if ((rc = local_idx_full(ls)) < 0) {
        /* the message says why */
    } else if (local_idx_find(ls, key)) {
        rc = local_append_record(ls, REC_TOMBSTONE, key, NULL, 0, &off);
        if (rc == CAIRN_OK) local_idx_remove(ls, local_idx_find(ls, key));
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

static int local_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *),
                      void *payload)
{
    local_store *ls = (local_store *)st;
    TRY(local_idx_full_locked(ls)); /* every key, from the hash table */
    if (ls->readonly) TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
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

int local_flush(cairn_store *st)
{
    local_store *ls = (local_store *)st;
    if (ls->readonly) return CAIRN_OK; /* a reader never has writes pending */
    pthread_mutex_lock(&ls->sync_mu);
    pthread_rwlock_wrlock(&ls->mu);
    if (!ls->cur) { /* no pack yet (a full disk at open): nothing was written */
        pthread_rwlock_unlock(&ls->mu);
        pthread_mutex_unlock(&ls->sync_mu);
        return CAIRN_OK;
    }
    int rc = ls->poisoned ? local_poisoned_error(ls) : local_wbuf_write(ls);
    pack *p = ls->cur;
    unsigned gen = ls->dir_gen;
    bool dir_dirty = ls->dir_synced_gen != gen;
    uint64_t end = p->end;
    bool dirty = p->durable < end;
    pthread_rwlock_unlock(&ls->mu);
    /* fsync outside mu: puts and gets go on meanwhile; sync_mu keeps p's fd open. */
    if (rc == CAIRN_OK && dirty && sys_fdatasync(p->fd) != 0) {
        rc = cairn_error_errno(errno, "local store %s: syncing pack-%08u.pack", ls->dir, p->num);
        pthread_rwlock_wrlock(&ls->mu);
        ls->poisoned = true;
        pthread_rwlock_unlock(&ls->mu);
    } else if (rc == CAIRN_OK && dirty) {
        pthread_rwlock_wrlock(&ls->mu);
        if (p->durable < end) p->durable = end;
        pthread_rwlock_unlock(&ls->mu);
    }
    if (rc == CAIRN_OK && dir_dirty) {
        rc = sys_fsync_dir(ls->packs_dir);
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
    TRY(local_idx_full_locked(ls)); /* counts need the whole index */
    if (ls->readonly) TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
    pthread_rwlock_rdlock(&ls->mu);
    out->chunks = ls->n;
    out->bytes = ls->bytes;
    out->files = ls->nopen;
    pthread_rwlock_unlock(&ls->mu);
    return CAIRN_OK;
}
static int local_locate(cairn_store *st, const cairn_id *key, cairn_store_location *out)
{
    local_store *ls = (local_store *)st;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&ls->mu);
        slot tmp;
        const slot *s = local_idx_lookup(ls, key, &tmp);
        if (s) {
            memset(out, 0, sizeof *out);
            out->file = ls->packs[s->pi]->num;
            out->offset = s->off;
            snprintf(out->name, sizeof out->name, "packs/pack-%08u.pack", out->file);
        }
        pthread_rwlock_unlock(&ls->mu);
        if (s) return CAIRN_OK;
        if (local_idx_damaged(ls)) {
            TRY(local_idx_full_locked(ls));
            attempt--;
            continue;
        }
        if (attempt || !ls->readonly) break;
        TRY(local_refresh(ls, atomic_load(&ls->refresh_seq)));
    }
    return local_not_found(ls, key);
}

void store_local_set_pack_max(cairn_store *st, uint64_t bytes)
{
    if (!st || st->close != local_close) return;
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
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        free(path);
        *out_exists = false;
        return e == ENOENT ? CAIRN_OK
                           : cairn_error_errno(e, "reading the marker file of %s", ls->dir);
    }
    char buf[128];
    size_t r;
    int rc = sys_read_full(fd, buf, sizeof buf - 1, 0, &r, path);
    sys_close(fd);
    free(path);
    if (rc != CAIRN_OK) return cairn_error_prefix(rc, "reading the marker file of %s", ls->dir);
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

/* Whether name is one of tmp_name()'s temporaries ("w<pid>-<seq>.tmp"): what a creation
 * killed while it wrote the marker leaves in tmp/ (a writer's open deletes them). */
static bool is_our_tmp(const char *name)
{
    size_t pid = name[0] == 'w' ? strspn(name + 1, "0123456789") : 0;
    if (!pid || name[1 + pid] != '-') return false;
    const char *p = name + 2 + pid;
    size_t seq = strspn(p, "0123456789");
    return seq && strcmp(p + seq, ".tmp") == 0;
}

/* Whether dir holds nothing but what an interrupted create leaves behind (LOCK, empty packs/
 * refs/ quarantine/, and tmp/ with at most our temporaries), so that creating a repository
 * there destroys nothing. */

static int dir_is_fresh(local_store *ls, bool *out)
{
    static const char *const ours[] = { "packs", "refs", "tmp", "quarantine" };
    *out = false;
    DIR *d = sys_opendir(ls->dir);
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
                DIR *sd = sub ? sys_opendir(sub) : NULL;
                free(sub);
                if (!sd) break;
                struct dirent *se;
                fresh = true;
                while (fresh && (se = readdir(sd)) != NULL)
                    if (strcmp(se->d_name, ".") != 0 && strcmp(se->d_name, "..") != 0 &&
                        !(strcmp(n, "tmp") == 0 && is_our_tmp(se->d_name)))
                        fresh = false;
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
    size_t r;
    if (sys_read_full(fd, buf, sizeof buf - 1, 0, &r, "LOCK") != CAIRN_OK || r == 0) return 0;
    buf[r] = '\0';
    return strtol(buf, NULL, 10);
}

static int take_lock(local_store *ls, unsigned timeout_ms)
{
    char *path = cairn_sprintf("%s/LOCK", ls->dir);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = cairn_error_errno(errno, "opening the lock file %s", path);
        free(path);
        return rc;
    }
    free(path);
    double deadline = clock_now() + timeout_ms / 1000.0;
    for (;;) {
        if (sys_flock(fd, LOCK_EX | LOCK_NB) == 0) break;
        int e = errno;
        if (e == EINTR) continue;
        if (e != EWOULDBLOCK) {
            sys_close(fd);
            return cairn_error_errno(e, "locking repository %s", ls->dir);
        }
        if (clock_now() >= deadline) {
            long pid = lock_holder(fd);
            sys_close(fd);
            if (pid > 0)
                return ERR(CAIRN_EBUSY, "repository %s is locked by another writer (pid %ld); "
                           "wait for it to finish or open read-only", ls->dir, pid);
            return ERR(CAIRN_EBUSY, "repository %s is locked by another writer (pid unknown); "
                       "wait for it to finish or open read-only", ls->dir);
        }
        struct timespec ts = { 0, LOCK_RETRY_NS };
        nanosleep(&ts, NULL);
    }
    /* Informational only: who holds the lock. Not synced. Written over the old pid and cut only
     * when that was longer: a truncation to 0 journals a size change every open (up to ms). */
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    struct stat sb;
    if (sys_write_all(fd, buf, (size_t)n, 0, "LOCK") != CAIRN_OK ||
        (sys_fstat(fd, &sb) == 0 && sb.st_size > n && sys_ftruncate(fd, n) != 0))
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
        if (sys_mkdir(dirs[i], 0777) == 0) made = true;
        else if (errno != EEXIST) return cairn_error_errno(errno, "creating %s", dirs[i]);
    }
    return made ? sys_fsync_dir(ls->dir) : CAIRN_OK;
}

/* Temp files left by a crash. */
static void clean_tmp(local_store *ls)
{
    DIR *d = sys_opendir(ls->tmp_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char *path = cairn_sprintf("%s/%s", ls->tmp_dir, de->d_name);
        if (path) sys_unlink(path);
        free(path);
    }
    closedir(d);
}

static int open_repo(local_store *ls, unsigned flags, unsigned lock_timeout_ms)
{
    bool create = (flags & CAIRN_OPEN_CREATE) && !ls->readonly;
    struct stat sb;
    if (sys_stat(ls->dir, &sb) != 0) {
        if (errno != ENOENT) return cairn_error_errno(errno, "opening repository %s", ls->dir);
        if (!create)
            return ERR(CAIRN_ENOTFOUND, "no cairn repository at %s; create one with 'cairn init %s'",
                       ls->dir, ls->dir);
        TRY(sys_mkdirs(ls->dir, 0777, true));
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
            int rc = local_write_atomic(ls, marker, MARKER_TEXT, strlen(MARKER_TEXT));
            free(marker);
            TRY(rc);
        }
        clean_tmp(ls);
    }
    TRY(local_idx_alloc(ls, SLOTS_INITIAL));
    local_summary_open(ls); /* what the sealed packs hold; the listing says which exist */
    uint32_t *nums;
    bool *idx_listed; /* an .idx missing from the listing makes its pack load as before */
    size_t n;
    TRY(local_list_packs(ls, &nums, &n, &idx_listed));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++)
        rc = local_pack_open_load(ls, nums[i], i + 1 == n, idx_listed[i]);
    uint32_t last = n ? nums[n - 1] : 0;
    free(nums);
    free(idx_listed);
    TRY(rc);
    if (!ls->readonly && !ls->cur) {
        rc = local_pack_create(ls, last + 1);
        /* a full disk: the first append makes it (reads, verify and gc need none) */
        if (rc == CAIRN_ENOSPC) cairn_error_clear(), rc = CAIRN_OK;
        TRY(rc);
    }
    if (!ls->readonly && local_summary_missing(ls)) local_summary_update(ls, "at open");
    return CAIRN_OK;
}

static void local_destroy(local_store *ls)
{
    for (size_t i = 0; i < ls->npacks; i++) {
        pack *p = ls->packs[i];
        for (unsigned m = 0; m < atomic_load(&p->nmaps); m++)
            munmap((void *)p->maps[m].base, p->maps[m].len);
        local_idx_unmap(ls, p);
        if (ls->packs[i]->fd >= 0) sys_close(ls->packs[i]->fd);
        free(ls->packs[i]->filt_own);
        free(ls->packs[i]->damage);
        free(ls->packs[i]);
    }
    local_summary_close(ls);
    local_shadow_free(ls);
    free(ls->packs);
    free(ls->slots);
    cairn_buf_dispose(&ls->wbuf);
    local_recvec_free(&ls->cur_recs);
    if (ls->lock_fd >= 0) sys_close(ls->lock_fd); /* releases the flock */
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
            cairn_diag(CAIRN_LOG_ERROR, "local store %s: flushing on close failed (%s); the "
                      "chunks written since the last successful flush are not on disk, but no "
                      "commit or checkpoint that needed them was acknowledged: nothing "
                      "acknowledged is lost", ls->dir, cairn_error_last()->message);
        else if (ls->cur->idx_covered != ls->wbuf_off &&
                 local_idxfile_write(ls, ls->cur, &ls->cur_recs, ls->wbuf_off) != CAIRN_OK)
            cairn_diag(CAIRN_LOG_WARN, "local store %s: could not write pack-%08u.idx on close "
                      "(%s); the next open reads the pack instead", ls->dir, ls->cur->num,
                      cairn_error_last()->message);
    }
    if (!ls->readonly && atomic_load(&ls->sum_stale)) local_summary_update(ls, "at close");
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
        .caps = CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED | CAIRN_STORE_CAP_REF_CAS |
                CAIRN_STORE_CAP_COMPACT | CAIRN_STORE_CAP_LOCATE | CAIRN_STORE_CAP_REPAIR,
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
        .will_read = local_will_read,
        .compact = local_compact,
        .locate = local_locate,
        .repair = local_repair,
        .ref_remove_damaged = local_ref_remove_damaged,
    };
    rc = local_files_attach(&ls->base, ls->dir, ls->readonly);
    if (rc != CAIRN_OK) {
        local_destroy(ls);
        return rc;
    }
    *out = &ls->base;
    return CAIRN_OK;
}
