/*
 * local_index.c - the local store's in-memory index: an open-addressing hash table (linear
 * probing, backward-shift deletion) from a chunk's key to where its current record is (pack,
 * offset, payload length), keeping each pack's live byte count as records come and go; and the
 * record lists a pack's .idx file is written from. Callers hold the store's mu.
 *
 * Opening must not cost in proportion to the repository: the .idx of a sealed pack (sorted by
 * key, checksummed) is mapped and binary-searched where it lies instead of being loaded into
 * the hash table; only packs without a whole .idx (the tail a crash left, damage) and what
 * this session writes go into the table. Lookups try the table, then the mapped indexes newest
 * first. Whatever needs the whole index (deleting, counting, listing, compaction, repair)
 * first merges the mapped indexes into the table (local_idx_full()), as every open used to.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "base/sys.h"

#include "store/local_int.h"


static inline size_t key_home(const local_store *ls, const cairn_id *k)
{
    /* Keys are hashes in practice, but mixing keeps structured keys (tests, tools) cheap too. */
    return (size_t)XXH3_64bits(k->bytes, CAIRN_ID_SIZE) & ls->mask;
}

slot *local_idx_find(const local_store *ls, const cairn_id *key)
{
    size_t i = key_home(ls, key);
    for (;;) {
        slot *s = &ls->slots[i];
        if (s->pi == SLOT_FREE) return NULL;
        if (memcmp(s->key.bytes, key->bytes, CAIRN_ID_SIZE) == 0) return s;
        i = (i + 1) & ls->mask;
    }
}

int local_idx_alloc(local_store *ls, size_t cap)
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
int local_idx_reserve(local_store *ls, size_t extra)
{
    size_t cap = ls->mask + 1, need = ls->n + extra;
    if (need <= cap / 4 * 3) return CAIRN_OK;
    while (need > cap / 4 * 3) cap *= 2;
    return local_idx_alloc(ls, cap);
}

/* Points key at (pi, off, len), replacing an older location. */
int local_idx_set(local_store *ls, const cairn_id *key, uint32_t pi, uint64_t off, uint32_t len)
{
    TRY(local_idx_reserve(ls, 1));
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

void local_idx_remove(local_store *ls, slot *s)
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

int local_recvec_reserve(recvec *rv, size_t extra)
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

int local_recvec_push(recvec *rv, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    TRY(local_recvec_reserve(rv, 1));
    rec *r = &rv->v[rv->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->key.bytes, key, CAIRN_ID_SIZE);
    r->off = off;
    r->len = len;
    r->type = type;
    return CAIRN_OK;
}

void local_recvec_free(recvec *rv)
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

int local_rec_cmp_key(const void *a, const void *b)
{
    return memcmp(((const rec *)a)->key.bytes, ((const rec *)b)->key.bytes, CAIRN_ID_SIZE);
}

/* Sorts by key and keeps the last record of each key: the pack's effect on the index. */
void local_recvec_settle(recvec *rv)
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

/* ---- mapped pack indexes: searched in place ---- */

/* Entry i of a mapped .idx. */
static inline const uint8_t *imap_entry(const pack *p, uint64_t i)
{
    return p->imap + IDX_HEADER_SIZE + i * IDX_ENTRY_SIZE;
}

/* Whether an entry is well formed for its pack (open checks every entry in the pass that sums
 * the file, index_sound(); lookups check again, cheaply). */
static bool entry_ok(const uint8_t *e, uint64_t covered);
static bool imap_entry_ok(const pack *p, const uint8_t *e) { return entry_ok(e, p->idx_covered); }

/* Binary search of pack p's mapped .idx (entries sorted by key). */
static const uint8_t *imap_find(const pack *p, const cairn_id *key)
{
    uint64_t lo = 0, hi = p->imap_count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const uint8_t *e = imap_entry(p, mid);
        int c = memcmp(e, key->bytes, CAIRN_ID_SIZE);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const slot *local_idx_lookup(const local_store *ls, const cairn_id *key, slot *tmp)
{
    const slot *s = local_idx_find(ls, key);
    if (s || !ls->nmapped) return s;
    for (size_t pi = ls->npacks; pi-- > 0;) {
        const pack *p = ls->packs[pi];
        if (!p->imap) continue;
        const uint8_t *e = imap_find(p, key);
        if (!e) continue;
        if (e[44] != REC_CHUNK || !imap_entry_ok(p, e)) return NULL; /* deleted (or damaged:
                                                                       then as if absent) */
        tmp->key = *key;
        tmp->off = load_le64(e + 32);
        tmp->len = load_le32(e + 40);
        tmp->pi = (uint32_t)pi;
        return tmp;
    }
    return NULL;
}

void local_idx_unmap(local_store *ls, pack *p)
{
    if (!p->imap) return;
    munmap((void *)p->imap, p->imap_len);
    p->imap = NULL;
    p->imap_len = 0;
    p->imap_count = 0;
    ls->nmapped--;
}

int local_idx_full(local_store *ls)
{
    for (uint32_t pi = 0; pi < ls->npacks && ls->nmapped; pi++) {
        pack *p = ls->packs[pi];
        if (!p->imap) continue;
        bool cur = !ls->readonly && ls->cur == p;
        TRY(local_idx_reserve(ls, (size_t)p->imap_count));
        if (cur) TRY(local_recvec_reserve(&ls->cur_recs, (size_t)p->imap_count));
        for (uint64_t i = 0; i < p->imap_count; i++) {
            const uint8_t *e = imap_entry(p, i);
            if (!imap_entry_ok(p, e)) {
                return CORRUPT("local store %s: entry %llu of pack-%08u.idx is malformed "
                               "although the index's checksum holds; remove the .idx (the "
                               "next open rebuilds it from the pack)", ls->dir,
                               (unsigned long long)i, p->num);
            }
            cairn_id key;
            memcpy(key.bytes, e, CAIRN_ID_SIZE);
            uint64_t off = load_le64(e + 32);
            uint32_t len = load_le32(e + 40);
            if (cur) TRY(local_recvec_push(&ls->cur_recs, e[44], e, off, len));
            /* newer packs (and this session) were loaded first: they win */
            slot *s = local_idx_find(ls, &key);
            if (s && (s->pi > pi || (s->pi == pi && s->off > off))) continue;
            if (e[44] == REC_CHUNK) TRY(local_idx_set(ls, &key, pi, off, len));
            else if (s) local_idx_remove(ls, s);
        }
        local_idx_unmap(ls, p);
    }
    ls->eager = true; /* packs found later go into the table too */
    return CAIRN_OK;
}

int local_idx_full_locked(local_store *ls)
{
    pthread_rwlock_wrlock(&ls->mu);
    int rc = local_idx_full(ls);
    pthread_rwlock_unlock(&ls->mu);
    return rc;
}

#define SUM_ENTRIES 1365u /* an index is read this many entries (64 KiB) at a time */

/* Whether an entry is well formed for a pack of `covered` bytes (as imap_entry_ok). */
static bool entry_ok(const uint8_t *e, uint64_t covered)
{
    uint64_t off = load_le64(e + 32);
    uint32_t len = load_le32(e + 40);
    uint8_t type = e[44];
    return (type == REC_CHUNK || (type == REC_TOMBSTONE && len == 0)) &&
           len <= REC_PAYLOAD_MAX && off >= PACK_HEADER_SIZE && off <= covered &&
           covered - off >= rec_size(len);
}

/* Reads the first len bytes of index file fd (header, entries) in blocks, through a small
 * buffer (faulting a mapping of the whole file in costs several times more, in a VM most of
 * all), and says whether their XXH3 is `sum` and every entry is well formed for a pack of
 * `covered` bytes and sorted by key, strictly: what binary searches in place rely on. The
 * checksum alone does not say it (an index written by a buggy or hostile program can be
 * checksummed right). false on a read error too: the index is then read the old way, which
 * says what is wrong. */
static bool index_sound(int fd, size_t len, uint64_t sum, uint64_t covered)
{
    size_t block = (size_t)SUM_ENTRIES * IDX_ENTRY_SIZE;
    uint8_t *buf = cairn_malloc(MAX(block, (size_t)IDX_HEADER_SIZE));
    uint8_t prev[CAIRN_ID_SIZE];
    bool have_prev = false;
    XXH3_state_t *st = XXH3_createState();
    bool ok = buf && st && XXH3_64bits_reset(st) == XXH_OK && len >= IDX_HEADER_SIZE;
    size_t got = 0;
    ok = ok && sys_read_full(fd, buf, IDX_HEADER_SIZE, 0, &got, "index") == CAIRN_OK &&
         got == IDX_HEADER_SIZE && XXH3_64bits_update(st, buf, IDX_HEADER_SIZE) == XXH_OK;
    for (size_t at = IDX_HEADER_SIZE; ok && at < len;) {
        size_t n = MIN(block, len - at);
        ok = n % IDX_ENTRY_SIZE == 0 &&
             sys_read_full(fd, buf, n, at, &got, "index") == CAIRN_OK && got == n &&
             XXH3_64bits_update(st, buf, n) == XXH_OK;
        for (size_t e = 0; ok && e < n; e += IDX_ENTRY_SIZE) {
            ok = entry_ok(buf + e, covered) &&
                 (!have_prev || memcmp(prev, buf + e, CAIRN_ID_SIZE) < 0);
            memcpy(prev, buf + e, CAIRN_ID_SIZE);
            have_prev = true;
        }
        at += n;
    }
    ok = ok && XXH3_64bits_digest(st) == sum;
    XXH3_freeState(st);
    free(buf);
    return ok;
}

int local_idx_map(local_store *ls, uint32_t pi, uint64_t pack_size, uint64_t *out_covered)
{
    pack *p = ls->packs[pi];
    char *path = local_pack_path(ls, p->num, "idx");
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    free(path);
    if (fd < 0) return 0; /* missing or unreadable: the eager path says which */
    struct stat sb;
    int rc = 0;
    void *m = MAP_FAILED;
    size_t size = 0;
    if (sys_fstat(fd, &sb) == 0 && (uint64_t)sb.st_size >= IDX_HEADER_SIZE + IDX_TRAILER_SIZE &&
        (uint64_t)sb.st_size <= SIZE_MAX) {
        size = (size_t)sb.st_size;
        m = sys_mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    }
    const uint8_t *d = m;
    bool ok = m != MAP_FAILED;
    size_t body = size - IDX_TRAILER_SIZE;
    uint64_t covered = ok ? load_le64(d + 16) : 0, count = ok ? load_le64(d + 24) : 0;
    ok = ok && (size - IDX_HEADER_SIZE - IDX_TRAILER_SIZE) % IDX_ENTRY_SIZE == 0 &&
         memcmp(d, IDX_MAGIC, MAGIC_SIZE) == 0 && load_le32(d + 8) == IDX_VERSION &&
         load_le32(d + 12) == 0 &&
         count == (size - IDX_HEADER_SIZE - IDX_TRAILER_SIZE) / IDX_ENTRY_SIZE &&
         covered == pack_size && covered >= PACK_HEADER_SIZE &&
         index_sound(fd, body, load_le64(d + body), covered);
    sys_close(fd);
    if (!ok) { /* the eager path reads it again and says what is wrong, or scans the pack */
        if (m != MAP_FAILED) munmap(m, size);
        cairn_error_clear();
        return 0;
    }
    p->imap = d;
    p->imap_len = size;
    p->imap_count = count;
    ls->nmapped++;
    *out_covered = covered;
    rc = 1;
    return rc;
}
