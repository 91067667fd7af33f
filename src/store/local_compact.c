/*
 * local_compact.c - compaction of the local store (the maintenance method gc calls): packs whose
 * live fraction is below a threshold have their live chunks copied into the current pack, the
 * tombstones that must outlive them carried on, the copies flushed, and only then are the old
 * packs unlinked (oldest first), so that after a crash at any point the packs left still say
 * the same thing. Sealing first closes the pack being written when deletes left it mostly dead,
 * so that it can be compacted too. It copies only as many packs, smallest first, as the disk has
 * room for. Asked to (CAIRN_STORE_COMPACT_DEAD_ONLY), it first removes, writing nothing, the
 * packs whose chunks were all deleted: gc's first step on a full disk.
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

/* Room compaction leaves free beyond its copies: new pack and .idx files, tombstones carried,
 * file-system blocks rounded up. */
#define COMPACT_ROOM_RESERVE (256u << 10)

static int collect_rec(void *ctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    return local_recvec_push(ctx, type, key, off, len);
}

/* The settled records of a sealed pack (its effect on the index), from its .idx and a scan of
 * what the .idx does not cover. */
static int pack_records(local_store *ls, pack *p, recvec *out)
{
    uint64_t covered = 0, end;
    const char *why;
    out->n = 0;
    int rc = local_idxfile_read(ls, p->num, p->end, collect_rec, out, &covered, NULL, &why);
    if (rc < 0) return rc;
    if (rc == 0) {
        out->n = 0;
        covered = 0;
    }
    if (covered < p->end) {
        char *path = local_pack_path(ls, p->num, "pack");
        if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
        /* under mu, as local_pack_fd() wants; the descriptor stays open after it since only
         * compaction retires packs in a writer, and this is compaction (compact_mu) */
        pthread_rwlock_rdlock(&ls->mu);
        int fd = local_pack_fd(ls, p);
        pthread_rwlock_unlock(&ls->mu);
        rc = fd < 0 ? cairn_error_last()->code
                    : local_scan_records(fd, path, covered, p->end, collect_rec, out, &end, &why);
        free(path);
        if (rc < 0) return rc;
        if (rc == SCAN_STOPPED)
            return CORRUPT("local store %s: pack-%08u.pack is damaged at offset %llu (%s); "
                           "compaction stopped without deleting anything", ls->dir, p->num,
                           (unsigned long long)end, why);
    }
    local_recvec_settle(out);
    return CAIRN_OK;
}

/* Moves one live record out of a victim pack, unless it changed meanwhile. */
static int compact_move(local_store *ls, const slot *e, cairn_buf *tmp, uint64_t *appended)
{
    pthread_rwlock_rdlock(&ls->mu);
    int rc = local_read_slot(ls, e, tmp);
    pthread_rwlock_unlock(&ls->mu);
    TRY(rc);
    pthread_rwlock_wrlock(&ls->mu);
    slot *now = local_idx_find(ls, &e->key);
    uint64_t off;
    if (ls->poisoned) rc = local_poisoned_error(ls);
    else if (now && now->pi == e->pi && now->off == e->off) {
        rc = local_append_record(ls, REC_CHUNK, &e->key, tmp->data, tmp->len, &off);
        if (rc == CAIRN_OK) rc = local_idx_set(ls, &e->key, ls->cur_pi, off, e->len);
        if (rc == CAIRN_OK) *appended += rec_size(e->len);
    }
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

/* A tombstone in a victim must survive it while an older pack that stays still holds a record
 * of its key; otherwise deleting the victim would bring the key back. With appended NULL
 * nothing is carried: *out_carries counts the tombstones that would have to be. */
static int compact_tombstones(local_store *ls, const bool *victim, size_t npacks,
                              uint64_t *appended, size_t *out_carries)
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
            bool live = local_idx_find(ls, &recs.v[i].key) != NULL;
            pthread_rwlock_unlock(&ls->mu);
            if (!live) rc = local_recvec_push(&cand, REC_TOMBSTONE, recs.v[i].key.bytes, p->num, 0);
        }
    }
    for (size_t pi = 0; rc == CAIRN_OK && cand.n && pi < npacks; pi++) {
        pthread_rwlock_rdlock(&ls->mu);
        pack *p = ls->packs[pi];
        bool older_kept = !victim[pi] && !local_pack_retired(p) && p != ls->cur;
        pthread_rwlock_unlock(&ls->mu);
        if (!older_kept) continue;
        rc = pack_records(ls, p, &recs); /* sorted by key */
        for (size_t i = 0; rc == CAIRN_OK && i < cand.n; i++) {
            if (cand.v[i].type != REC_TOMBSTONE || cand.v[i].off <= p->num) continue;
            const rec *hit = bsearch(&cand.v[i], recs.v, recs.n, sizeof *recs.v, local_rec_cmp_key);
            if (!hit) continue;
            cand.v[i].type = 0; /* carried: do not look again */
            if (!appended) {
                (*out_carries)++;
                continue;
            }
            pthread_rwlock_wrlock(&ls->mu);
            uint64_t off;
            if (!local_idx_find(ls, &cand.v[i].key)) {
                rc = local_append_record(ls, REC_TOMBSTONE, &cand.v[i].key, NULL, 0, &off);
                if (rc == CAIRN_OK) *appended += rec_size(0);
            }
            pthread_rwlock_unlock(&ls->mu);
        }
    }
    local_recvec_free(&recs);
    local_recvec_free(&cand);
    return rc;
}

/* Removes pack pi, in which no record is live any more: closes it, then unlinks its .pack and
 * .idx, adding their sizes to *removed. @return 1 removed, 0 kept (a live record appeared), or
 * an error. */
static int retire(local_store *ls, size_t pi, uint64_t *removed)
{
    pthread_mutex_lock(&ls->sync_mu);
    pthread_rwlock_wrlock(&ls->mu);
    pack *p = ls->packs[pi];
    bool unused = p->live == 0;
    if (unused) {
        if (p->fd >= 0) sys_close(p->fd);
        p->fd = PACK_FD_RETIRED;
        ls->nopen--;
    }
    pthread_rwlock_unlock(&ls->mu);
    pthread_mutex_unlock(&ls->sync_mu);
    if (!unused) { /* cannot happen: every live record was moved (or deleted) before */
        cairn_diag(CAIRN_LOG_ERROR, "local store %s: pack-%08u.pack still holds live records "
                  "after compaction; keeping it", ls->dir, p->num);
        return 0;
    }
    char *pp = local_pack_path(ls, p->num, "pack"), *ip = local_pack_path(ls, p->num, "idx");
    struct stat sb;
    int rc = CAIRN_OK;
    if (pp && sys_stat(pp, &sb) == 0) *removed += (uint64_t)sb.st_size;
    if (ip && sys_stat(ip, &sb) == 0) *removed += (uint64_t)sb.st_size;
    if (!pp || !ip) rc = ERR(CAIRN_ENOMEM, "out of memory compacting %s", ls->dir);
    else if (sys_unlink(pp) != 0 && errno != ENOENT)
        rc = cairn_error_errno(errno, "local store %s: deleting %s", ls->dir, pp);
    else if (sys_unlink(ip) != 0 && errno != ENOENT)
        rc = cairn_error_errno(errno, "local store %s: deleting %s", ls->dir, ip);
    free(pp);
    free(ip);
    return rc < 0 ? rc : 1;
}

/* Of the victims, keeps those whose copies fit in the room left on the disk, smallest first
 * (need[pi]: the bytes copying pack pi's live records takes, with their .idx entries), and
 * says what it left. Without an answer from the file system, keeps them all. mu held. */
static void fit_room(local_store *ls, bool *victim, size_t npacks, uint64_t *need,
                     size_t *nvictims)
{
    uint64_t room;
    if (sys_free_bytes(ls->packs_dir, &room) != CAIRN_OK) {
        cairn_error_clear();
        return;
    }
    uint64_t reserve = ls->wbuf.len + COMPACT_ROOM_RESERVE, used = 0, left = 0;
    room = room > reserve ? room - reserve : 0;
    size_t nleft = 0;
    for (;;) { /* the smallest victim not yet placed, npacks times at most */
        size_t best = npacks;
        for (size_t pi = 0; pi < npacks; pi++)
            if (victim[pi] && need[pi] != UINT64_MAX && (best == npacks || need[pi] < need[best]))
                best = pi;
        if (best == npacks) break;
        if (used + need[best] <= room) {
            used += need[best];
            need[best] = UINT64_MAX; /* placed */
            continue;
        }
        for (size_t pi = 0; pi < npacks; pi++) /* this one and every larger one wait */
            if (victim[pi] && need[pi] != UINT64_MAX) {
                victim[pi] = false;
                left += need[pi];
                nleft++;
                (*nvictims)--;
            }
    }
    if (nleft)
        cairn_diag(CAIRN_LOG_INFO, "local store %s: %zu sparse pack%s not rewritten: copying "
                   "their live chunks needs %llu bytes and %llu are free (less %llu kept in "
                   "reserve); run gc again when there is room", ls->dir, nleft,
                   nleft == 1 ? " was" : "s were", (unsigned long long)(used + left),
                   (unsigned long long)(room + reserve), (unsigned long long)reserve);
}

static int compact(local_store *ls, double min_live, uint64_t *out_freed, uint64_t *out_removed)
{
    /* 1. Victims: sealed, fully readable packs with too little live data. Only compaction
     *    retires packs and a rollover only adds newer ones, so the choice stays valid. */
    pthread_rwlock_rdlock(&ls->mu);
    size_t npacks = ls->npacks;
    bool *victim = cairn_calloc(npacks ? npacks : 1, sizeof *victim);
    uint64_t *need = cairn_calloc(npacks ? npacks : 1, sizeof *need);
    size_t nvictims = 0;
    for (size_t pi = 0; victim && pi < npacks; pi++) {
        pack *p = ls->packs[pi];
        if (p == ls->cur || local_pack_retired(p) || p->stopped || p->ndamage || p->end < PACK_HEADER_SIZE)
            continue; /* a damaged pack stays as it is, for verify and an operator */
        uint64_t data = p->end - PACK_HEADER_SIZE;
        double frac = data ? (double)p->live / (double)data : 0.0;
        if (frac < min_live) {
            victim[pi] = true;
            nvictims++;
        }
    }
    /*    Smallest first, only as many as the disk has room to copy. */
    for (size_t i = 0; victim && need && nvictims && i <= ls->mask; i++)
        if (ls->slots[i].pi != SLOT_FREE && victim[ls->slots[i].pi])
            need[ls->slots[i].pi] += rec_size(ls->slots[i].len) + IDX_ENTRY_SIZE;
    if (victim && need && nvictims) fit_room(ls, victim, npacks, need, &nvictims);
    /* 2. Snapshot the live records of the victims. */
    size_t live_recs = 0, nmoves = 0; /* count first, to size the snapshot */
    for (size_t i = 0; victim && nvictims && i <= ls->mask; i++)
        if (ls->slots[i].pi != SLOT_FREE && victim[ls->slots[i].pi]) live_recs++;
    slot *moves = cairn_malloc((live_recs ? live_recs : 1) * sizeof *moves);
    int rc = victim && need && moves ? CAIRN_OK
                                     : ERR(CAIRN_ENOMEM, "out of memory compacting %s", ls->dir);
    for (size_t i = 0; rc == CAIRN_OK && live_recs && i <= ls->mask; i++)
        if (ls->slots[i].pi != SLOT_FREE && victim[ls->slots[i].pi]) moves[nmoves++] = ls->slots[i];
    pthread_rwlock_unlock(&ls->mu);

    /* 3. Copy them into the current pack, then carry the tombstones that must survive. */
    uint64_t appended = 0, removed = 0;
    cairn_buf tmp = CAIRN_BUF_INIT;
    for (size_t i = 0; rc == CAIRN_OK && i < nmoves; i++)
        rc = compact_move(ls, &moves[i], &tmp, &appended);
    cairn_buf_dispose(&tmp);
    if (rc == CAIRN_OK && nvictims) rc = compact_tombstones(ls, victim, npacks, &appended, NULL);

    /* 4. The copies are durable before any old pack goes. */
    if (rc == CAIRN_OK && nvictims) rc = local_flush(&ls->base);

    /* 5. Retire the victims, oldest first: after a crash at any point the packs left still
     *    say the same thing. */
    for (size_t pi = 0; rc == CAIRN_OK && pi < npacks; pi++) {
        if (!victim[pi]) continue;
        rc = retire(ls, pi, &removed);
        if (rc > 0) (*out_removed)++, rc = CAIRN_OK;
    }
    if (rc == CAIRN_OK && nvictims) rc = sys_fsync_dir(ls->packs_dir);
    if (out_freed) *out_freed = removed > appended ? removed - appended : 0;
    free(moves);
    free(victim);
    free(need);
    return rc;
}

/* Removes the sealed packs in which no chunk is live any more (gc deleted them all), writing
 * nothing: on a full disk, this is how gc makes room before it needs any. A pack holding
 * tombstones that must outlive it (an older pack that stays holds their keys) is left to
 * compact(), which carries them on first. The deletions that emptied a pack may still be in
 * the write buffer: were the process to crash before they are written, a chunk that the pack
 * superseded in an older pack would be found there again, whole and valid: deleted garbage that
 * the next gc deletes again; nothing that is in use depends on them. */
static int drop_dead(local_store *ls, uint64_t *out_freed, uint64_t *out_removed)
{
    pthread_rwlock_rdlock(&ls->mu);
    size_t npacks = ls->npacks;
    pthread_rwlock_unlock(&ls->mu);
    bool *one = cairn_calloc(npacks ? npacks : 1, sizeof *one);
    FAIL_IF(!one, CAIRN_ENOMEM, "out of memory compacting %s", ls->dir);
    int rc = CAIRN_OK;
    uint64_t removed = 0, n = 0;
    for (size_t pi = 0; rc == CAIRN_OK && pi < npacks; pi++) {
        pthread_rwlock_rdlock(&ls->mu);
        pack *p = ls->packs[pi];
        bool dead = p != ls->cur && !local_pack_retired(p) && !p->stopped && !p->ndamage &&
                    p->end >= PACK_HEADER_SIZE && p->live == 0;
        pthread_rwlock_unlock(&ls->mu);
        if (!dead) continue;
        size_t carries = 0;
        one[pi] = true;
        rc = compact_tombstones(ls, one, npacks, NULL, &carries);
        one[pi] = false;
        if (rc == CAIRN_OK && carries == 0) rc = retire(ls, pi, &removed);
        if (rc > 0) n++, rc = CAIRN_OK;
    }
    if (rc == CAIRN_OK && n) rc = sys_fsync_dir(ls->packs_dir);
    *out_freed = removed;
    *out_removed = n;
    free(one);
    return rc;
}

/* Seals the current pack when it holds records and its live fraction (live chunks and
 * tombstones, which compaction may have to carry on) is below min_live, so that the compaction
 * after it may rewrite it: otherwise the chunks gc deletes from the pack being written could
 * never be reclaimed until that pack filled up. compact_mu held. */
static int seal(local_store *ls, double min_live, bool *out_sealed)
{
    pthread_rwlock_wrlock(&ls->mu);
    *out_sealed = false;
    if (!ls->cur) { /* no pack being written (a full disk at open) */
        pthread_rwlock_unlock(&ls->mu);
        return CAIRN_OK;
    }
    uint64_t data = ls->wbuf_off + ls->wbuf.len - PACK_HEADER_SIZE, kept = ls->cur->live;
    /* Tombstones count as kept: compaction carries them on while an older pack holds their
     * key, so sealing a pack of tombstones would only copy them into the next one. */
    for (size_t i = 0; i < ls->cur_recs.n; i++)
        if (ls->cur_recs.v[i].type == REC_TOMBSTONE) kept += rec_size(0);
    bool sealing = data > 0 && (double)kept < min_live * (double)data;
    int rc = ls->poisoned ? local_poisoned_error(ls) : sealing ? local_rollover(ls) : CAIRN_OK;
    pthread_rwlock_unlock(&ls->mu);
    *out_sealed = rc == CAIRN_OK && sealing;
    return rc;
}

int local_compact(cairn_store *st, double min_live_fraction, unsigned flags,
                  cairn_store_compact_stats *out)
{
    local_store *ls = (local_store *)st;
    cairn_store_compact_stats stats;
    memset(&stats, 0, sizeof stats);
    if (out) *out = stats;
    if (ls->readonly) return local_readonly_error(ls, "compact packs");
    TRY(local_idx_full_locked(ls)); /* live counts and every key */
    FAIL_IF(!(min_live_fraction >= 0.0), CAIRN_EINVAL,
            "local store %s: a live fraction for compaction is 0 or more, not %g", ls->dir,
            min_live_fraction);
    pthread_mutex_lock(&ls->compact_mu);
    int rc = CAIRN_OK;
    if (flags & CAIRN_STORE_COMPACT_DEAD_ONLY)
        rc = drop_dead(ls, &stats.bytes_freed, &stats.files_rewritten);
    else if (flags & CAIRN_STORE_COMPACT_SEAL) rc = seal(ls, min_live_fraction, &stats.sealed);
    if (rc == CAIRN_OK && !(flags & CAIRN_STORE_COMPACT_DEAD_ONLY))
        rc = compact(ls, min_live_fraction, &stats.bytes_freed, &stats.files_rewritten);
    pthread_mutex_unlock(&ls->compact_mu);
    if (out) *out = stats;
    return rc;
}
