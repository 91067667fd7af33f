/*
 * local_summary.c - packs/summary: one small file that lets open and a lookup leave alone the
 * packs that do not hold a key (docs/FORMAT.md, "Packs summary").
 *
 * Opening used to open and map the .idx of every pack, and a lookup searched the indexes of the
 * packs newest first until one named the key: work, syscalls and page faults in proportion to
 * the number of packs. The summary lists the sealed packs (number, size, what their .idx holds)
 * with one blocked Bloom filter each. Open maps it and checks its table (a few hundred bytes);
 * a pack it describes is neither opened nor mapped until a lookup gets past its filter, which
 * costs one 64-byte block, checked where it is read (the pack file itself is opened by the first
 * read from it).
 *
 * Trust: the table has a checksum, checked at open (a mismatch: the summary is ignored with a
 * warning, and every pack is opened as before). Each filter block carries its own checksum,
 * seeded with its pack number and block number, checked when a probe reads it: a damaged block
 * answers "maybe" (the pack's index is searched, as without a summary) and the writer rewrites
 * the file. What the summary says a pack's index holds (entry count, the index's trailer) is
 * compared with the index when it is mapped; a mismatch drops the filter. A filter that lies
 * with every checksum right (a stale or hostile file) cannot lose a chunk either: a lookup that
 * finds nothing after skipping packs by their filters asks again without them; only put's
 * duplicate check trusts a "no" (the worst it does is store a chunk twice).
 *
 * The writer rewrites the summary when it seals a pack, when open finds a sealed pack with a
 * valid index that it does not describe (a repository written before it existed, a crash
 * between sealing and rewriting), and at close after a damaged block; filters are kept in
 * memory from the .idx writes, or rebuilt from the .idx. Readers never write it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "base/sys.h"
#include "store/local_int.h"

/* ---- filters ---- */

filt_key local_filt_key(const cairn_id *key)
{
    XXH128_hash_t h = XXH3_128bits(key->bytes, CAIRN_ID_SIZE);
    return (filt_key){ h.high64, h.low64 };
}

static uint64_t filt_block_sum(const uint8_t *blk, uint32_t num, uint64_t b)
{
    return XXH3_64bits_withSeed(blk, FILT_BITS_SIZE, (uint64_t)num << 32 | b);
}

static uint64_t filt_block_of(const filt_key *fk, uint64_t nblocks)
{
    return (fk->hi >> 32) * nblocks >> 32;
}

/* Bit i of the probes of fk: double hashing within one block. */
static inline uint32_t filt_probe(const filt_key *fk, uint32_t i)
{
    uint32_t g = (uint32_t)fk->lo, d = (uint32_t)(fk->lo >> 32) | 1u;
    return (g + i * d) % FILT_BLOCK_BITS;
}

static void filt_set(uint8_t *blk, const filt_key *fk, uint32_t probes)
{
    for (uint32_t i = 0; i < probes; i++) {
        uint32_t bit = filt_probe(fk, i);
        blk[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

/* Whether every probe's bit of fk is set in blk (read-only: blk may be the summary's mapping). */
static bool filt_test(const uint8_t *blk, const filt_key *fk, uint32_t probes)
{
    for (uint32_t i = 0; i < probes; i++) {
        uint32_t bit = filt_probe(fk, i);
        if (!(blk[bit >> 3] & (1u << (bit & 7)))) return false;
    }
    return true;
}

static uint64_t filt_nblocks(uint64_t count)
{
    uint64_t n = (count * FILT_BITS_PER_KEY + FILT_BLOCK_BITS - 1) / FILT_BLOCK_BITS;
    return n ? n : 1;
}

/* Builds p's own filter from n keys, the first at keys, each `stride` bytes after the one
 * before (a record list's or a mapped index's entries), for an .idx of trailer idx_sum. */
static int filt_build_keys(pack *p, const uint8_t *keys, size_t stride, uint64_t n,
                           uint64_t idx_sum)
{
    uint64_t nb = filt_nblocks(n);
    uint8_t *f = nb <= SIZE_MAX / FILT_BLOCK_SIZE ? cairn_calloc((size_t)nb, FILT_BLOCK_SIZE)
                                                  : NULL;
    if (!f) return ERR(CAIRN_ENOMEM, "out of memory building the filter of pack %u", p->num);
    for (uint64_t i = 0; i < n; i++) {
        cairn_id k;
        memcpy(k.bytes, keys + i * stride, CAIRN_ID_SIZE);
        filt_key fk = local_filt_key(&k);
        filt_set(f + filt_block_of(&fk, nb) * FILT_BLOCK_SIZE, &fk, FILT_PROBES);
    }
    for (uint64_t b = 0; b < nb; b++) {
        uint8_t *blk = f + b * FILT_BLOCK_SIZE;
        store_le64(blk + FILT_BITS_SIZE, filt_block_sum(blk, p->num, b));
    }
    free(p->filt_own);
    p->filt_own = f;
    p->filt = f;
    p->filt_blocks = nb;
    p->filt_probes = FILT_PROBES;
    p->sum_count = n;
    p->sum_idx_sum = idx_sum;
    atomic_store(&p->filt_off, false);
    return CAIRN_OK;
}

int local_filt_build(pack *p, const recvec *recs, uint64_t idx_sum)
{
    return filt_build_keys(p, recs->n ? recs->v[0].key.bytes : NULL, sizeof *recs->v, recs->n,
                           idx_sum);
}

bool local_filt_may_hold(local_store *ls, pack *p, const filt_key *fk)
{
    uint64_t b = filt_block_of(fk, p->filt_blocks);
    const uint8_t *blk = p->filt + b * FILT_BLOCK_SIZE;
    if (filt_block_sum(blk, p->num, b) != load_le64(blk + FILT_BITS_SIZE)) {
        if (!atomic_exchange(&p->filt_warned, true)) {
            cairn_diag(CAIRN_LOG_WARN, "local store %s: block %llu of the filter of pack-%08u in "
                       "packs/summary is damaged; searching that pack's index instead%s",
                       ls->dir, (unsigned long long)b, p->num,
                       ls->readonly ? "" : " (packs/summary is rewritten at close)");
            atomic_store(&ls->sum_stale, true);
        }
        return true;
    }
    return filt_test(blk, fk, p->filt_probes);
}

/* ---- reading the summary ---- */

static void summary_ignore(local_store *ls, const char *why)
{
    cairn_diag(CAIRN_LOG_WARN, "local store %s: ignoring packs/summary (%s); opening every pack's "
               "index instead%s", ls->dir, why,
               ls->readonly ? "" : " (the summary is rewritten)");
}

/* Whether the table of a mapped summary of `size` bytes holds together; NULL if so, else why
 * not. */
static const char *summary_problem(const uint8_t *d, uint64_t size, uint64_t *out_n)
{
    if (size < SUM_HEADER_SIZE + SUM_CHECK_SIZE) return "bad size";
    if (memcmp(d, SUM_MAGIC, MAGIC_SIZE) != 0 || load_le32(d + 8) != SUM_VERSION)
        return "bad header";
    uint32_t probes = load_le32(d + 12);
    uint64_t n = load_le64(d + 16);
    if (probes == 0 || probes > FILT_PROBES_MAX) return "bad header";
    if (load_le64(d + 24) != size) return "size does not match the file";
    if (n > (size - SUM_HEADER_SIZE - SUM_CHECK_SIZE) / SUM_ENTRY_SIZE) return "bad pack count";
    uint64_t table_end = SUM_HEADER_SIZE + n * SUM_ENTRY_SIZE;
    if (XXH3_64bits(d, (size_t)table_end) != load_le64(d + table_end)) return "checksum mismatch";
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = d + SUM_HEADER_SIZE + i * SUM_ENTRY_SIZE;
        uint64_t at = load_le64(e + 32), nb = load_le64(e + 40);
        if (load_le32(e + 4) != 0 || (i && load_le32(e) <= load_le32(e - SUM_ENTRY_SIZE)))
            return "bad pack entry";
        if (nb == 0 || nb > UINT32_MAX || at % FILT_BLOCK_SIZE || at < table_end + SUM_CHECK_SIZE ||
            at > size || nb > (size - at) / FILT_BLOCK_SIZE)
            return "a filter lies outside the file";
    }
    *out_n = n;
    return NULL;
}

void local_summary_open(local_store *ls)
{
    char *path = cairn_sprintf("%s/" SUM_FILE, ls->packs_dir);
    int fd = path ? sys_open(path, O_RDONLY | O_CLOEXEC, 0) : -1;
    free(path);
    if (fd < 0) return; /* none: a repository from before it, or no sealed pack yet */
    struct stat sb;
    void *m = MAP_FAILED;
    uint64_t size = 0, n = 0;
    if (sys_fstat(fd, &sb) == 0 && (uint64_t)sb.st_size <= SIZE_MAX && sb.st_size > 0) {
        size = (uint64_t)sb.st_size;
        m = sys_mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        /* a lookup reads one 64-byte block a pack: without this, its first page fault would
         * read around it (up to the device's read-ahead, often the whole file) */
        if (m != MAP_FAILED) (void)madvise(m, (size_t)size, MADV_RANDOM);
    }
    sys_close(fd);
    const char *why = m == MAP_FAILED ? "cannot be read" : summary_problem(m, size, &n);
    if (why) {
        if (m != MAP_FAILED) munmap(m, (size_t)size);
        cairn_error_clear();
        summary_ignore(ls, why); /* local_summary_missing() then says to rewrite it */
        return;
    }
    ls->sum = m;
    ls->sum_len = (size_t)size;
    ls->sum_n = n;
}

const uint8_t *local_summary_entry(const local_store *ls, uint32_t num)
{
    uint64_t lo = 0, hi = ls->sum_n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const uint8_t *e = ls->sum + SUM_HEADER_SIZE + mid * SUM_ENTRY_SIZE;
        uint32_t v = load_le32(e);
        if (v == num) return e;
        if (v < num) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void local_summary_attach(local_store *ls, pack *p, const uint8_t *e)
{
    p->filt = ls->sum + load_le64(e + 32);
    p->filt_blocks = load_le64(e + 40);
    p->filt_probes = load_le32(ls->sum + 12);
    p->sum_count = load_le64(e + 16);
    p->sum_idx_sum = load_le64(e + 24);
    atomic_store(&p->filt_off, false);
}

void local_summary_close(local_store *ls)
{
    if (ls->sum) munmap((void *)ls->sum, ls->sum_len);
    ls->sum = NULL;
    ls->sum_len = 0;
    ls->sum_n = 0;
}

/* ---- writing it ---- */

/* Whether pack p belongs in the summary: sealed, undamaged, indexed whole. */
static bool summarizable(const local_store *ls, const pack *p)
{
    return !local_pack_retired(p) && !(!ls->readonly && p == ls->cur) && !p->ndamage && !p->stopped &&
           p->idx_covered >= PACK_HEADER_SIZE && p->idx_covered == p->end;
}

bool local_summary_missing(const local_store *ls)
{
    for (size_t i = 0; i < ls->npacks; i++) {
        const pack *p = ls->packs[i];
        if (summarizable(ls, p) && !p->in_sum) return true;
    }
    return false;
}

static int collect_rec(void *ctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len)
{
    return local_recvec_push(ctx, type, key, off, len);
}

/* Whether every block of p's filter checks out. */
static bool filt_sound(const pack *p)
{
    if (!p->filt || atomic_load(&p->filt_off)) return false;
    for (uint64_t b = 0; b < p->filt_blocks; b++)
        if (filt_block_sum(p->filt + b * FILT_BLOCK_SIZE, p->num, b) !=
            load_le64(p->filt + b * FILT_BLOCK_SIZE + FILT_BITS_SIZE))
            return false;
    return p->filt_probes == FILT_PROBES;
}

/* Gives p a sound filter of its own, built from its .idx: from its mapping when it is mapped
 * (open mapped it, or a lookup did; every block checked here, in memory), else read once.
 * @return 1 done, 0 the index cannot be read whole (then p stays out of the summary), or an
 * error. */
static int filt_from_idx(local_store *ls, pack *p)
{
    if (local_idx_mapped(ls, p) && local_idx_verify_all(ls, p)) {
        int rc = filt_build_keys(p, p->imap + IDX_HEADER_SIZE, IDX_ENTRY_SIZE, p->imap_count,
                                 load_le64(p->imap + p->imap_len - IDX_TRAILER_SIZE));
        if (rc != CAIRN_OK) cairn_error_clear();
        return rc == CAIRN_OK;
    }
    recvec recs = { 0 };
    uint64_t covered = 0, trailer = 0;
    const char *why;
    int rc = local_idxfile_read(ls, p->num, p->end, collect_rec, &recs, &covered, &trailer, &why);
    if (rc == 1 && covered == p->end)
        rc = local_filt_build(p, &recs, trailer) == CAIRN_OK ? 1 : -1;
    else if (rc >= 0)
        rc = 0;
    local_recvec_free(&recs);
    if (rc <= 0) cairn_error_clear();
    return rc < 0 ? 0 : rc;
}

int local_summary_write(local_store *ls)
{
    size_t n = 0;
    uint64_t blocks = 0;
    bool *in = cairn_calloc(ls->npacks ? ls->npacks : 1, sizeof *in); /* which go in (their
                                                                         filters checked once) */
    if (!in) return ERR(CAIRN_ENOMEM, "out of memory writing packs/summary of %s", ls->dir);
    for (size_t i = 0; i < ls->npacks; i++) {
        pack *p = ls->packs[i];
        if (!summarizable(ls, p)) continue;
        if (!filt_sound(p) && filt_from_idx(ls, p) != 1) continue;
        in[i] = true;
        n++;
        blocks += p->filt_blocks;
    }
    uint64_t table_end = SUM_HEADER_SIZE + (uint64_t)n * SUM_ENTRY_SIZE;
    uint64_t at = (table_end + SUM_CHECK_SIZE + FILT_BLOCK_SIZE - 1) / FILT_BLOCK_SIZE *
                  FILT_BLOCK_SIZE;
    uint64_t size = at + blocks * FILT_BLOCK_SIZE;
    uint8_t *d = size <= SIZE_MAX ? cairn_calloc(1, (size_t)size) : NULL;
    char *path = cairn_sprintf("%s/" SUM_FILE, ls->packs_dir);
    int rc = CAIRN_OK;
    if (!d || !path) {
        rc = ERR(CAIRN_ENOMEM, "out of memory writing packs/summary of %s", ls->dir);
        goto out;
    }
    memcpy(d, SUM_MAGIC, MAGIC_SIZE);
    store_le32(d + 8, SUM_VERSION);
    store_le32(d + 12, FILT_PROBES);
    store_le64(d + 16, n);
    store_le64(d + 24, size);
    uint8_t *e = d + SUM_HEADER_SIZE;
    for (size_t i = 0; i < ls->npacks; i++) {
        pack *p = ls->packs[i];
        if (!in[i]) continue;
        store_le32(e, p->num);
        store_le64(e + 8, p->end);
        store_le64(e + 16, p->sum_count);
        store_le64(e + 24, p->sum_idx_sum);
        store_le64(e + 32, at);
        store_le64(e + 40, p->filt_blocks);
        memcpy(d + at, p->filt, (size_t)(p->filt_blocks * FILT_BLOCK_SIZE));
        at += p->filt_blocks * FILT_BLOCK_SIZE;
        e += SUM_ENTRY_SIZE;
    }
    store_le64(d + table_end, XXH3_64bits(d, (size_t)table_end));
    rc = local_write_atomic(ls, path, d, (size_t)size);
    if (rc == CAIRN_OK) {
        atomic_store(&ls->sum_stale, false);
        for (size_t i = 0; i < ls->npacks; i++) ls->packs[i]->in_sum = in[i];
    }
out:
    free(in);
    free(d);
    free(path);
    return rc;
}

void local_summary_update(local_store *ls, const char *when)
{
    if (ls->readonly || local_summary_write(ls) == CAIRN_OK) return;
    atomic_store(&ls->sum_stale, true);
    cairn_diag(CAIRN_LOG_WARN, "local store %s: could not write packs/summary %s (%s); opening "
               "reads every pack's index until it is written", ls->dir, when,
               cairn_error_last()->message);
    cairn_error_clear();
}
