/*
 * local_int.h - what the files of the local store share: its on-disk constants, its in-memory
 * structures (the store handle, packs, the hash index) and the functions one file of it calls in
 * another. Private to src/store/local*.c; the rest of the engine sees only store.h.
 *
 *   local.c          open and close, the vtable, the chunk methods, file helpers
 *   local_index.c    the in-memory hash index (key -> pack, offset, length) and record lists
 *   local_pack.c     pack files: paths, scanning, .idx files, torn tails, refresh; the writer's
 *                    buffer, rollover and durability
 *   local_refs.c     refs: one two-slot file each under refs/
 *   local_compact.c  compaction and sealing (the maintenance methods gc calls)
 *   local_repair.c   damage: damaged pack ranges, quarantine/ (listed, restored), ref slots
 *   local_summary.c  packs/summary: the sealed packs and a filter each, so that open and a
 *                    lookup leave alone the packs that do not hold a key
 *
 * Lock order: compact_mu, then sync_mu, then mu, then map_mu. ref_mu and refresh_mu are taken
 * alone (refresh_mu before mu).
 */
#ifndef CAIRN_LOCAL_INT_H
#define CAIRN_LOCAL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store.h"
#include "store/dirfiles.h"
#include "store/refname.h"
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
#define IDX_VERSION 2        /* written: checksummed in blocks, checked where a lookup reads */
#define IDX_VERSION_FLAT 1   /* still read: one checksum over the whole file */
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

#define IDX_HEADER_SIZE 32  /* magic, version, block_entries (v1: 0), covered_len, count */
#define IDX_ENTRY_SIZE 48   /* key, offset, payload length, type, 3 zero bytes */
#define IDX_TRAILER_SIZE 8  /* v1: XXH3 of everything before it; v2: of the header and sums */
#define IDX_SUM_SIZE 16     /* v2, a block: the first 8 bytes of its first key, its XXH3 */
#define IDX_PREFIX_SIZE 8
#define IDX_BLOCK_ENTRIES 64     /* v2 as written: 3 KiB of entries a checksum */
#define IDX_BLOCK_ENTRIES_MAX 65536 /* v2 as read */

#define SUM_FILE "summary"     /* packs/summary */
#define SUM_MAGIC "CAIRNSM"
#define SUM_VERSION 1
#define SUM_HEADER_SIZE 32     /* magic, version, probes, pack count, file size */
#define SUM_ENTRY_SIZE 48      /* num, 0, covered, idx count, idx trailer, filter at, blocks */
#define SUM_CHECK_SIZE 8       /* XXH3 of the header and the table, after the table */
#define FILT_BLOCK_SIZE 64     /* a filter block: 56 bytes of bits and their XXH3 */
#define FILT_BITS_SIZE 56
#define FILT_BLOCK_BITS (FILT_BITS_SIZE * 8)
#define FILT_BITS_PER_KEY 12   /* about 1% false "maybe" */
#define FILT_PROBES 7          /* bits set per key, all in one block */
#define FILT_PROBES_MAX 32

/* ---- tunables ---- */

#define WBUF_CAP (1u << 20)          /* write buffer: written out when a record would overflow it */
#define SCAN_BLOCK (4u << 20)        /* sequential read size when scanning packs */
#define COPY_BLOCK (1u << 20)        /* quarantine copy size */
#define KEPT_TAIL_SUFFIX ".kept"     /* quarantine/pack-N.OFF.kept: an empty marker */
#define PACK_MAX_DEFAULT (128ull << 20)
#define LOCK_RETRY_NS (10 * 1000 * 1000)
#define SLOTS_INITIAL 64  /* grows as needed: open maps indexes, it does not load them */
#define SLOT_FREE UINT32_MAX
#define PACK_MAPS_MAX 32             /* mappings per pack; past that, reads copy */
#define RA_GAP (64u << 10)           /* a read that begins this near the last one's end follows it */
#define RA_AFTER 2                   /* reads following each other before reading ahead */
#define RA_WINDOW (1u << 20)         /* read ahead this much at a time */
#define HINT_BATCH 256               /* will_read: chunks looked up per batch of advice */
#define HINT_IDX_MIN 32              /* ... in one hint, for a pack's .idx to be read whole */
#define HINT_CHECK_MIN 8             /* ... in one batch, for its residency to be checked first */
#define HINT_SPAN_MAX (4u << 20)     /* ... over pack bytes this long at most (one mincore()) */
#define HINT_PAGE_MIN 4096u          /* the smallest page size the check's vector is sized for */

/* A read-only mapping of pack bytes [start, start + len). */
typedef struct pack_map {
    const uint8_t *base;
    uint64_t start, len;
} pack_map;

/* A damaged byte range of a pack with good records after it (corruption, kept as it is). */
typedef struct pack_damage {
    uint64_t off, len;
    const char *why;      /* static text */
    bool kept_tail;       /* not damage: a torn tail kept in place for lack of room to set it
                             aside (quarantine/pack-N.OFF.kept says so to later opens) */
} pack_damage;

/* pack.fd besides a descriptor: */
#define PACK_FD_RETIRED (-1) /* compaction retired the pack (or a reader found it gone) */
#define PACK_FD_LAZY (-2)    /* described by packs/summary and not opened yet: the first read
                                opens it (local_pack_fd()), so open costs no syscall a pack */

typedef struct pack {
    uint32_t num;
    atomic_int fd;        /* kept open for reads once opened; or PACK_FD_RETIRED, PACK_FD_LAZY */
    uint64_t end;         /* records below this offset are indexed; 0 = header not checked yet */
    bool stopped;         /* the last scan stopped at a bad or incomplete record at `end` */
    bool reported;        /* its corruption has been logged */
    uint64_t live;        /* bytes of the records the index points at in this pack */
    uint64_t idx_covered; /* covered_len of the valid .idx on disk; 0 if none */
    uint64_t durable;     /* bytes known to be on disk: synced by this handle, or covered by a
                             valid .idx (one is only written once the bytes it covers are
                             synced): flush skips an fdatasync that would sync nothing */
    pack_damage *damage;  /* damaged ranges found by scans, ascending (never written to .idx) */
    size_t ndamage;
    pack_map maps[PACK_MAPS_MAX]; /* appended under map_mu, read without it */
    atomic_uint nmaps;
    /* get_mapped's own read-ahead (the mappings are advised random): up to where the pages
     * were asked for, written only when it asks (each thread follows its own reads: see
     * read_ahead() in local.c) */
    _Atomic uint64_t ra_until;
    /* will_read: whether its mapped .idx was asked for whole (a reader in order looks up
     * nearly every key of the pack, in no order within the index); reset with the mapping */
    atomic_bool idx_advised;
    /* Its .idx mapped and searched in place (local_index.c) instead of loaded into the hash
     * table: set at open for sealed packs whose .idx covers all of them, until something needs
     * the whole index in memory (local_idx_full()). */
    const uint8_t *imap;
    size_t imap_len;
    uint64_t imap_count;
    /* A version-2 .idx is checked a block at a time, when a lookup first reads the block
     * (version 1: all of it when mapped; then imap_block is 0). imap_ok[b]: 0 not checked
     * yet, 1 sound, 2 damaged (then imap_bad, and lookups in this pack answer nothing until
     * local_idx_full() reads the pack instead). */
    uint32_t imap_block;           /* entries per block */
    uint64_t imap_nblocks;
    const uint8_t *imap_sums;      /* the block table (key prefixes, checksums), mapped */
    _Atomic uint8_t *imap_ok;
    atomic_bool imap_bad;
    /* Its filter (local_summary.c): in packs/summary's mapping, or filt_own (built when its
     * .idx was written); NULL if none. A lookup asks it before the index. lazy: described by
     * the summary, the .idx is not mapped yet (the first lookup its filter lets through maps
     * it); counted in nmapped meanwhile, as a mapped index. */
    const uint8_t *filt;
    uint8_t *filt_own;
    uint64_t filt_blocks;
    uint32_t filt_probes;
    uint64_t sum_count, sum_idx_sum; /* the .idx the filter describes: count, trailer */
    bool in_sum;                     /* packs/summary describes it as it is now: set at open
                                        and by each summary write, cleared when its .idx is
                                        written anew (local_summary_missing() reads it) */
    atomic_bool filt_off;            /* the filter does not match the .idx: not asked */
    atomic_bool filt_warned;         /* a damaged block of it was reported */
    atomic_bool lazy;
} pack;

/* A key's hash for the filters (XXH3-128 of the key). */
typedef struct filt_key {
    uint64_t hi, lo;
} filt_key;

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
    pthread_mutex_t map_mu;    /* appending to a pack's maps[], and mapping a lazy pack's .idx
                                  (lock order: mu, then map_mu) */
    atomic_ulong refresh_seq;  /* refreshes started: racing misses share one that began later */
    atomic_ulong tmp_seq;      /* unique temp file names */

    slot *slots;
    size_t mask, n;            /* capacity - 1, keys present */
    uint64_t bytes;            /* payload bytes of present chunks */
    /* Packs whose .idx is mapped (pack.imap): the oldest ones, a prefix of packs[]; while there
     * are any, the hash table holds only what newer packs and this session added, and n,
     * bytes and the packs' live counts are not whole (local_idx_full() makes them so). */
    size_t nmapped;
    bool eager;                /* a pack was loaded into the hash table: later ones are too */
    /* Keys deleted by tombstones in packs loaded into the hash table while older packs are
     * mapped, whose indexes may still name them: searched before those (a deletion met at
     * open no longer merges every index), sorted by local_shadow_settle(), emptied by
     * local_idx_full(). */
    cairn_id *shadow;
    size_t nshadow, capshadow;
    atomic_bool imap_damaged;  /* a lookup met a damaged block of a mapped .idx: its "not
                                  found" is not an answer (local_idx_damaged()) */
    const uint8_t *sum;        /* packs/summary as open found it, mapped until close */
    size_t sum_len;
    uint64_t sum_n;            /* packs it describes */
    atomic_bool sum_stale;     /* writer: rewrite it at close (a damaged block, a failed write) */
    atomic_ulong packs_gone;   /* lazy packs found deleted at their first use (local_pack_fd()) */
    unsigned long gone_seen;   /* packs_gone when a refresh last dropped the deleted packs */

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
    bool poisoned;             /* an fsync failed: the page cache can no longer be trusted */
    atomic_bool cur_damaged;   /* a read found a damaged record in cur: seal it before the next
                                  append (never append after damage) */
    _Atomic uint64_t cur_damaged_off; /* that record's offset */
} local_store;

_Static_assert(offsetof(local_store, files) == offsetof(dirfiles_head, files),
               "local_store must begin as a dirfiles_head");

/* ---- local.c ---- */

int local_flush(cairn_store *st);
/* fdatasyncs pack p if it holds bytes not known to be durable (mu held for writing); a failure
 * poisons the store. */
int local_pack_sync(local_store *ls, pack *p);
/* The directory part of path (caller frees), "." when there is none. */
char *local_parent_of(const char *path);
int local_readonly_error(local_store *ls, const char *what);
int local_not_found(local_store *ls, const cairn_id *key);
/* Reads the record a slot points at into out (mu held for reading). */
int local_read_slot(local_store *ls, const slot *s, cairn_buf *out);
/* Writes data to path atomically: a temp file in tmp/, fsync, rename, fsync of path's
 * directory. On failure path is untouched and the temp file removed. */
int local_write_atomic(local_store *ls, const char *path, const void *data, size_t len);

/* ---- local_index.c ---- */

static inline uint64_t rec_size(uint64_t payload_len) { return REC_OVERHEAD + payload_len; }

/* The hash table's slot of key (only: see local_idx_lookup()). */
slot *local_idx_find(const local_store *ls, const cairn_id *key);
/* Where key's current record is: the hash table's slot, else (packs mapped) the newest mapped
 * index that names it, copied into *tmp. NULL: not present (or deleted), or a block of a mapped
 * index it had to read is damaged: then local_idx_damaged() says so, and the caller loads the
 * whole index (local_idx_full(), which reads that pack instead) and asks again. Packs whose
 * filter says no are skipped; when nothing is found so, they are asked anyway (a filter's "no"
 * is not trusted for an answer). */
const slot *local_idx_lookup(local_store *ls, const cairn_id *key, slot *tmp);
/* The same, trusting the filters' "no" (put's duplicate check: a wrong "no" stores a chunk
 * twice, nothing worse). */
const slot *local_idx_lookup_fast(local_store *ls, const cairn_id *key, slot *tmp);
/* Whether a lookup found a mapped index damaged since the last local_idx_full(). */
static inline bool local_idx_damaged(local_store *ls) { return atomic_load(&ls->imap_damaged); }
/* Loads every mapped .idx into the hash table and unmaps it (mu held for writing): after it
 * the hash table is the whole index, as the operations that change or count it need. Every
 * block of a version-2 index is checked first; a pack whose index fails is read instead (a
 * warning names it; a writer rewrites the index). */
int local_idx_full(local_store *ls);
/* Whether pack p's .idx is mapped, mapping it first if p is lazy (mu held). */
bool local_idx_mapped(local_store *ls, pack *p);
/* Checks every block of pack p's mapped index not checked yet: whether all of it is sound. */
bool local_idx_verify_all(local_store *ls, pack *p);
/* The same, taking mu for writing (a no-op without mapped packs). */
int local_idx_full_locked(local_store *ls);
/* Maps pack pi's .idx (pack_size bytes of pack) when it is valid and covers the whole pack.
 * @return 1 mapped (*out_covered set), 0 not (then load it as before), or an error. */
int local_idx_map(local_store *ls, uint32_t pi, uint64_t pack_size, uint64_t *out_covered);
/* After pack pi was sealed and its .idx (covering `covered` bytes) written from recs, its
 * records: while every sealed pack is searched through its mapped .idx (not eager), maps this
 * one's too and takes its records out of the hash table, so that what a session writes does
 * not stay in memory pack after pack (mu held for writing). Nothing happens for an eager or a
 * read-only store, a damaged pack, a pack mapped since open, or when the .idx was not written;
 * an .idx that cannot be mapped makes the store eager. */
int local_idx_shed(local_store *ls, uint32_t pi, const recvec *recs, uint64_t covered);
/* Unmaps pack p's .idx (if mapped). */
void local_idx_unmap(local_store *ls, pack *p);
int local_idx_alloc(local_store *ls, size_t cap);
/* Notes that a tombstone deleted key while packs are mapped (mu held for writing). */
int local_shadow_add(local_store *ls, const uint8_t *key);
/* Sorts the keys noted since the last call (after loading packs; mu held for writing). */
void local_shadow_settle(local_store *ls);
void local_shadow_free(local_store *ls);
/* Makes room for `extra` more keys at a load factor of at most 3/4. */
int local_idx_reserve(local_store *ls, size_t extra);
/* Points key at (pi, off, len), replacing an older location. */
int local_idx_set(local_store *ls, const cairn_id *key, uint32_t pi, uint64_t off, uint32_t len);
void local_idx_remove(local_store *ls, slot *s);
/* The geometry of an index file of `size` bytes, from its first IDX_HEADER_SIZE bytes. */
typedef struct idx_geom {
    uint32_t version, block;       /* block: entries per checksummed block (v2), else 0 */
    uint64_t covered, count, nblocks;
    uint64_t sums_at, trailer_at;  /* file offsets of the block sums (v2) and the trailer */
} idx_geom;
/* NULL when the header is one this build reads and agrees with the file size; else why not. */
const char *local_idx_geometry(const uint8_t *hdr, uint64_t size, idx_geom *g);
/* The checksum of block b of a v2 index (d: the whole file): XXH3-64 of its entries, seeded
 * with b. */
uint64_t local_idx_block_sum(const uint8_t *d, const idx_geom *g, uint64_t b);
/* Fills the block table of a v2 index whose header and entries are in d. */
void local_idx_fill_blocks(uint8_t *d, const idx_geom *g);
/* The trailer of a v2 index: XXH3-64 of the block table, seeded with XXH3-64 of the header. */
uint64_t local_idx_summary_sum(const uint8_t *d, const idx_geom *g);
int local_recvec_reserve(recvec *rv, size_t extra);
int local_recvec_push(recvec *rv, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len);
void local_recvec_free(recvec *rv);
/* Sorts by key and keeps the last record of each key: the pack's effect on the index. */
void local_recvec_settle(recvec *rv);
int local_rec_cmp_key(const void *a, const void *b);

/* ---- local_summary.c ---- */

filt_key local_filt_key(const cairn_id *key);
/* Whether pack p may hold fk by its filter (a damaged block: yes, reported once). */
bool local_filt_may_hold(local_store *ls, pack *p, const filt_key *fk);
/* Builds p's own filter from the settled records its .idx was written from (trailer idx_sum). */
int local_filt_build(pack *p, const recvec *recs, uint64_t idx_sum);
/* Maps packs/summary if there is a sound one (else warns and leaves ls->sum NULL). */
void local_summary_open(local_store *ls);
/* The summary's entry for pack num, or NULL. */
const uint8_t *local_summary_entry(const local_store *ls, uint32_t num);
/* Gives p the filter of entry e. */
void local_summary_attach(local_store *ls, pack *p, const uint8_t *e);
void local_summary_close(local_store *ls);
/* Whether a sealed, indexed pack is missing from the summary (a writer then rewrites it). */
bool local_summary_missing(const local_store *ls);
/* Writes packs/summary for the sealed packs (mu held for writing, or at open/close). */
int local_summary_write(local_store *ls);
/* local_summary_write() as a best effort: a failure is a warning (when says what it was for). */
void local_summary_update(local_store *ls, const char *when);

/* ---- local_pack.c ---- */

/* Receives each good record a scan or an index load finds. */
typedef int (*rec_fn)(void *ctx, uint8_t type, const uint8_t *key, uint64_t off, uint32_t len);

enum { SCAN_CLEAN = 0, SCAN_STOPPED = 1 };

char *local_pack_path(const local_store *ls, uint32_t num, const char *ext);
/* Whether compaction retired pack p (its fd is closed, its files deleted). */
static inline bool local_pack_retired(const pack *p) { return p->fd == PACK_FD_RETIRED; }
/* Pack p's file descriptor; a pack open left closed (PACK_FD_LAZY) is opened here and checked
 * against the size packs/summary gave, with no lock of its own (readers that race each open it;
 * one descriptor is installed by compare-and-swap, the others closed). mu held for reading or
 * writing: retiring a pack takes it for writing, so the descriptor stays open meanwhile.
 * -1 with the error set when it cannot be: a pack deleted since open is named as such, and
 * counted in ls->packs_gone. */
int local_pack_fd(local_store *ls, pack *p);
/* Scans the records of a pack from `start` (0: check the header first) to `size`, reading in
 * large sequential blocks, and calls fn for each good one. *out_end is the end of the last good
 * record. @return SCAN_CLEAN (reached size), SCAN_STOPPED (bad or incomplete record at *out_end;
 * *out_why says which) or an error. */
int local_scan_records(int fd, const char *path, uint64_t start, uint64_t size, rec_fn fn,
                       void *ctx, uint64_t *out_end, const char **out_why);
/* Looks for the first good record starting in [from, size) of a file of records, at any byte
 * offset. @return 1 (found, at *out_off), 0 (none) or an error. */
int local_find_next_record(int fd, const char *path, uint64_t from, uint64_t size,
                           uint64_t *out_off);
/* Reads the records of pack pi again from its start into *out (settled by the caller), without
 * touching the index: what its damaged mapped index described. Damage in the pack is handled as
 * an open's scan handles it (noted, reported, skipped to the next good record). */
int local_pack_rescan(local_store *ls, uint32_t pi, recvec *out);
/* Reads and validates pack num's .idx against a pack of pack_size bytes; only when all of it
 * checks out are its entries passed to fn. @return 1 loaded (*out_covered and, unless NULL,
 * *out_trailer set: its last 8 bytes), 0 missing or invalid (*out_why says why, NULL when
 * missing), or an error. */
int local_idxfile_read(const local_store *ls, uint32_t num, uint64_t pack_size, rec_fn fn,
                       void *ctx, uint64_t *out_covered, uint64_t *out_trailer,
                       const char **out_why);
/* Writes pack p's .idx from its records (settled in place) covering [0, covered). */
int local_idxfile_write(local_store *ls, pack *p, recvec *recs, uint64_t covered);
/* Pack numbers present in packs/, ascending (caller frees *out), and (out_idx not NULL: caller
 * frees) whether each has an .idx file, from the same listing. */
int local_list_packs(const local_store *ls, uint32_t **out, size_t *out_n, bool **out_idx);
/* Opens pack num (ENOENT: gone by compaction, skipped), loads its .idx if valid, scans what the
 * .idx does not cover; a writer rewrites a missing, damaged or stale .idx. A sealed pack that
 * packs/summary describes, whose .idx the listing showed (idx_listed), is only recorded: opened
 * at its first read. */
int local_pack_open_load(local_store *ls, uint32_t num, bool last, bool idx_listed);
/* Creates pack num (header only) and makes it the current pack. */
int local_pack_create(local_store *ls, uint32_t num);
/* A reader's miss: looks for what other processes appended (see local_pack.c). */
int local_refresh(local_store *ls, unsigned long seq_at_miss);
int local_poisoned_error(local_store *ls);
/* Writes the buffer to the current pack. On failure the buffer is kept and the next attempt
 * rewrites it at the same offset. */
int local_wbuf_write(local_store *ls);
/* Seals the current pack (durable, indexed) and starts the next one. mu held for writing. */
int local_rollover(local_store *ls);
/* Seals the current pack, in which a read found a damaged record (as a rollover), and starts
 * the next one. mu held for writing. */
int local_seal_damaged(local_store *ls);
/* Appends one record to the write buffer (mu held for writing; room in cur_recs reserved). */
int local_append_record(local_store *ls, uint8_t type, const cairn_id *key, const void *data,
                        size_t len, uint64_t *out_off);

/* ---- local_refs.c: the ref methods ---- */

int local_ref_get(cairn_store *st, cairn_buf *out, const char *name);
int local_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                  const void *val, size_t vlen);
int local_ref_list(cairn_store *st, const char *prefix,
                   int (*cb)(const char *, const void *, size_t, void *), void *payload);
int local_ref_remove_damaged(cairn_store *st, const char *name);
/* Reports every damaged ref file (one bad slot, or unreadable) to cb and, without
 * CAIRN_REPAIR_DRY_RUN, rewrites a bad slot from the good one. Counts into *st. */
int local_refs_damage(local_store *ls, unsigned flags,
                      int (*cb)(const cairn_repair_item *, void *), void *payload,
                      cairn_repair_stats *st);

/* ---- local_compact.c: the maintenance methods ---- */

int local_compact(cairn_store *st, double min_live_fraction, unsigned flags,
                  cairn_store_compact_stats *out);

/* ---- local_repair.c: damage ---- */

int local_repair(cairn_store *st, unsigned flags,
                 int (*cb)(const cairn_repair_item *, void *), void *payload,
                 cairn_repair_stats *out);

#endif /* CAIRN_LOCAL_INT_H */
