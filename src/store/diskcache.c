/*
 * diskcache.c - the on-disk chunk cache of a remote store: a store wrapper (store.h,
 * store_diskcache_wrap) whose get and get_many read a local directory first and fill it on a
 * miss; put and put_many write through to the remote store and into the cache; has, refs and
 * everything else go to the remote store unchanged (its index is the truth, never the cache).
 *
 * The directory (docs/FORMAT.md, "Disk cache") is log-structured: each process appends the
 * chunks it caches to its own segment file (tmp-PID-RAND.cch), and seals it when it reaches the
 * segment size or at close by writing an index at its end and renaming it into place
 * (seg-TIME-PID-RAND.cch). Sealed segments never change, so any number of processes read them
 * without locks; a process sees another's new segments when a miss finds that the directory
 * changed. Eviction is FIFO by segment: whoever seals sums the directory and unlinks the oldest
 * segments until it is within its bound (a reader that still has one open keeps reading it). A
 * file per chunk was the other way: measured, a miss then costs an open and a close besides
 * the read, and a sweep a stat per chunk.
 *
 * Every record carries an XXH3 checksum over its header and bytes, checked on every read: a
 * damaged entry is dropped and the chunk fetched again from the remote store, never served.
 * (The chunk layer above re-hashes the chunk against its id as it does for any store.) Nothing
 * is fsynced: a cache entry lost or torn in a crash is only a miss.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/sys.h"
#include "store/store.h"

#define SEG_MAGIC "CAIRNCC1"     /* first 8 bytes of a segment */
#define SEG_HEAD 16              /* magic, u32 version, u32 zero */
#define SEG_VERSION 1
#define REC_HEAD 48              /* u32 len, u32 flags, key[32], u64 check */
#define IDX_ENTRY 48             /* key[32], u64 offset, u32 len, u32 flags */
#define REC_DELETED 0x1u         /* flags: the chunk was deleted through this cache (len 0) */
#define TRAILER 32               /* u64 count, u64 index offset, u64 check, magic */
#define TRAILER_MAGIC "CCINDEX1"
#define CHECK_SEED 0x63616972636e63ull /* seeds the record and index checksums */
#define SEG_MIN (64ull << 10)    /* segment size bounds: the cache's bound / SEG_PARTS, within */
#define SEG_MAX (64ull << 20)
#define SEG_PARTS 16             /* so eviction drops a sixteenth of the cache at a time */
#define SMALL_PART 16            /* a segment under seg_max / SMALL_PART is small ... */
#define SMALL_MAX 16             /* ... and more small ones than this are merged at open */
#define STALE_TMP_SECONDS 86400  /* an unsealed segment this old is a dead process's */
#define NAME_MAX_LEN 64
#define SUB_LEN 32               /* a repository's subdirectory: 32 hex digits */
#define ROOT_MAX (PATH_MAX - 160) /* the root's path, so that ROOT/SUB/NAME fits PATH_MAX */
#define DIR_MAX (ROOT_MAX + SUB_LEN + 2)
#define EMPTY UINT32_MAX         /* slot.seg: free */
#define TOMB (UINT32_MAX - 1)    /* slot.seg: dropped (damaged or deleted) */

/* Where a chunk is: the index's slot. tag = the key's first 8 bytes; the full key is checked
 * against the record's header on every read. */
typedef struct slot {
    uint64_t tag;
    uint64_t off;
    uint32_t seg;
    uint32_t len;
} slot;

typedef struct seg {
    int fd;                  /* -1 once closed (evicted, vanished) */
    const uint8_t *map;      /* a sealed segment mapped (get_mapped), or NULL; kept until the
                                store closes, as get_mapped promises, even once it is dead */
    uint64_t map_len;
    bool active;             /* ours, being appended to, not yet sealed */
    bool dead;
    uint64_t size;
    char name[NAME_MAX_LEN];
} seg;

/* What the active segment holds, for the index written when it is sealed. */
typedef struct pending {
    cairn_id key;
    uint64_t off;
    uint32_t len, flags;
} pending;

typedef struct dcache {
    cairn_store base;
    cairn_store *inner;
    char *dir;               /* the repository's cache directory: root/sub */
    char root[ROOT_MAX];     /* the cache's root, which the bound is for */
    char sub[SUB_LEN + 1];
    uint64_t bound, seg_max;
    pthread_rwlock_t lock;   /* readers: lookups and reads; writers: fills, scans, seals */
    slot *slots;
    size_t mask, used;       /* used counts tombstones too */
    seg *segs;
    uint32_t nsegs, capsegs;
    uint32_t active;         /* index in segs, or EMPTY */
    pending *pend;
    size_t npend, cappend;
    cairn_buf wbuf;          /* a record being written */
    struct timespec dir_mtime;
    uint64_t rand_state;
    bool off;                /* turned off by the repository's settings: reads pass through */
    uint64_t dead_mapped;    /* bytes of dead segments still mapped (their disk space too) */
    atomic_ullong hits, misses, damaged;
} dcache;

static inline dcache *dc_of(cairn_store *st) { return (dcache *)st; }
static inline cairn_store *in_of(cairn_store *st) { return dc_of(st)->inner; }

/* ---- the index (open addressing, linear probing) ---- */

static slot *find_slot(const dcache *c, const cairn_id *key)
{
    uint64_t tag = load_le64(key->bytes);
    for (size_t i = (size_t)(tag * 0x9e3779b97f4a7c15ull >> 7) & c->mask;; i = (i + 1) & c->mask) {
        slot *s = &c->slots[i];
        if (s->seg == EMPTY) return NULL;
        if (s->tag == tag && s->seg != TOMB) return s;
    }
}

static int grow(dcache *c)
{
    size_t n = c->slots ? (c->mask + 1) * 2 : 4096;
    slot *ns = cairn_malloc(n * sizeof *ns);
    if (!ns) return ERR(CAIRN_ENOMEM, "out of memory growing the disk cache's index");
    for (size_t i = 0; i < n; i++) ns[i].seg = EMPTY;
    size_t used = 0;
    for (size_t i = 0; c->slots && i <= c->mask; i++) {
        slot *s = &c->slots[i];
        if (s->seg == EMPTY || s->seg == TOMB || c->segs[s->seg].dead) continue;
        size_t j = (size_t)(s->tag * 0x9e3779b97f4a7c15ull >> 7) & (n - 1);
        while (ns[j].seg != EMPTY) j = (j + 1) & (n - 1);
        ns[j] = *s;
        used++;
    }
    free(c->slots);
    c->slots = ns;
    c->mask = n - 1;
    c->used = used;
    return CAIRN_OK;
}

/* Forgets key (deleted, or its entry damaged). */
static void forget(dcache *c, const uint8_t key[32])
{
    cairn_id k;
    memcpy(k.bytes, key, 32);
    slot *s = c->slots ? find_slot(c, &k) : NULL;
    if (s) s->seg = TOMB;
}

/* Records that key's newest copy is at (seg, off, len). */
static int index_put(dcache *c, const uint8_t key[32], uint32_t segi, uint64_t off, uint32_t len)
{
    if (!c->slots || (c->used + 1) * 4 > (c->mask + 1) * 3) TRY(grow(c));
    uint64_t tag = load_le64(key);
    size_t i = (size_t)(tag * 0x9e3779b97f4a7c15ull >> 7) & c->mask;
    for (;; i = (i + 1) & c->mask) {
        slot *s = &c->slots[i];
        if (s->seg == EMPTY) c->used++;
        if (s->seg == EMPTY || (s->tag == tag && s->seg != TOMB)) break;
    }
    c->slots[i] = (slot){ tag, off, segi, len };
    return CAIRN_OK;
}

/* ---- segments ---- */

static void seg_path(char *out, size_t cap, const dcache *c, const char *name)
{
    snprintf(out, cap, "%s/%s", c->dir, name);
}

static int seg_add(dcache *c, uint32_t *out, int fd, const char *name, uint64_t size, bool active)
{
    if (c->nsegs == c->capsegs) {
        uint32_t n = c->capsegs ? c->capsegs * 2 : 32;
        seg *ns = realloc(c->segs, n * sizeof *ns);
        if (!ns) return ERR(CAIRN_ENOMEM, "out of memory opening the disk cache");
        c->segs = ns;
        c->capsegs = n;
    }
    seg *s = &c->segs[c->nsegs];
    *s = (seg){ .fd = fd, .active = active, .size = size };
    snprintf(s->name, sizeof s->name, "%s", name);
    *out = c->nsegs++;
    return CAIRN_OK;
}

/* Maps a sealed segment, unless the dead segments still mapped already hold as much disk space
 * as the bound: get_mapped's pointers keep an evicted file's space until the store closes, so
 * past that reads copy (get) instead. */
static void seg_map(dcache *c, uint32_t i)
{
    seg *s = &c->segs[i];
    if (s->map || s->fd < 0 || c->dead_mapped >= c->bound) return;
    void *m = sys_mmap(NULL, (size_t)s->size, PROT_READ, MAP_SHARED, s->fd, 0);
    if (m == MAP_FAILED) return; /* reads use pread */
    s->map = m;
    s->map_len = s->size;
}

static void seg_kill(dcache *c, uint32_t i)
{
    seg *s = &c->segs[i];
    if (s->map && !s->dead) c->dead_mapped += s->map_len;
    if (s->fd >= 0) sys_close(s->fd);
    s->fd = -1;
    s->dead = true;
}

/* The checksum of a record: over its header's first 40 bytes, then its data. */
static uint64_t rec_check(const uint8_t *head, const void *data, size_t len)
{
    return hash_xxh3(data, len, hash_xxh3(head, 40, CHECK_SEED));
}

static uint64_t index_check(const uint8_t *idx, size_t len, const uint8_t *trailer)
{
    return hash_xxh3(idx, len, hash_xxh3(trailer, 16, CHECK_SEED));
}

/* Whether the record at h (of a slot for key) is whole and right. */
static bool rec_ok(const uint8_t *h, const slot *s, const cairn_id *key)
{
    return load_le32(h) == s->len && load_le32(h + 4) == 0 && memcmp(h + 8, key->bytes, 32) == 0 &&
           load_le64(h + 40) == rec_check(h, h + REC_HEAD, s->len);
}

/* Reads a sealed segment's index into the cache's. A segment that is not whole and well
 * formed is damaged (a crash, a disk fault): it is removed, which costs only misses. */
static int seg_load(dcache *c, const char *name)
{
    char path[PATH_MAX];
    seg_path(path, sizeof path, c, name);
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return CAIRN_OK; /* evicted meanwhile by another process */
    struct stat st;
    uint8_t head[SEG_HEAD], tr[TRAILER];
    size_t n1 = 0, n2 = 0;
    bool ok = sys_fstat(fd, &st) == 0 && (uint64_t)st.st_size >= SEG_HEAD + TRAILER &&
              sys_read_full(fd, head, SEG_HEAD, 0, &n1, path) == CAIRN_OK && n1 == SEG_HEAD &&
              memcmp(head, SEG_MAGIC, 8) == 0 && load_le32(head + 8) == SEG_VERSION &&
              sys_read_full(fd, tr, TRAILER, (uint64_t)st.st_size - TRAILER, &n2, path) ==
                  CAIRN_OK &&
              n2 == TRAILER && memcmp(tr + 24, TRAILER_MAGIC, 8) == 0;
    uint64_t count = ok ? load_le64(tr) : 0, ioff = ok ? load_le64(tr + 8) : 0;
    ok = ok && ioff >= SEG_HEAD && count <= (uint64_t)st.st_size / IDX_ENTRY &&
         ioff + count * IDX_ENTRY + TRAILER == (uint64_t)st.st_size;
    uint8_t *idx = ok ? cairn_malloc(count * IDX_ENTRY + 1) : NULL;
    size_t n3 = 0;
    ok = ok && idx && sys_read_full(fd, idx, count * IDX_ENTRY, ioff, &n3, path) == CAIRN_OK &&
         n3 == count * IDX_ENTRY && index_check(idx, n3, tr) == load_le64(tr + 16);
    cairn_error_clear();
    uint32_t segi = EMPTY;
    int rc = ok ? seg_add(c, &segi, fd, name, (uint64_t)st.st_size, false) : CAIRN_OK;
    if (ok && rc == CAIRN_OK) seg_map(c, segi);
    for (uint64_t i = 0; ok && rc == CAIRN_OK && i < count; i++) {
        const uint8_t *e = idx + i * IDX_ENTRY;
        uint64_t off = load_le64(e + 32);
        uint32_t len = load_le32(e + 40);
        if (load_le32(e + 44) & REC_DELETED) forget(c, e);
        else if (off >= SEG_HEAD && off + REC_HEAD + len <= ioff) /* checked on read anyway */
            rc = index_put(c, e, segi, off, len);
    }
    free(idx);
    if (!ok) {
        sys_close(fd);
        cairn_diag(CAIRN_LOG_WARN, "disk cache %s: segment %s is damaged; removing it", c->dir,
                   name);
        sys_unlink(path);
    }
    return rc;
}

static bool known(const dcache *c, const char *name, uint32_t *out)
{
    for (uint32_t i = 0; i < c->nsegs; i++)
        if (!c->segs[i].dead && strcmp(c->segs[i].name, name) == 0) {
            if (out) *out = i;
            return true;
        }
    return false;
}

/* Cache files found by listing: the sealed segments (sorted by name, which starts with the
 * time of sealing: oldest first) and the size of every cache file. */
typedef struct entry {
    char name[NAME_MAX_LEN];
    char sub[SUB_LEN + 1];   /* the repository's subdirectory */
    uint64_t size;
} entry;

typedef struct listing {
    entry *v;
    size_t n, cap;
    uint64_t total;
} listing;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Whether an unsealed segment belongs to no running process: its writer died. */
static bool stale_tmp(const char *name, const struct stat *st)
{
    long pid = strtol(name + 4, NULL, 10);
    if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
    return time(NULL) - st->st_mtime > STALE_TMP_SECONDS;
}

/* Adds the cache files of ROOT/sub to l; unsealed segments of dead processes are removed on
 * the way. */
static int list_sub(dcache *c, const char *sub, listing *l)
{
    char dir[DIR_MAX];
    snprintf(dir, sizeof dir, "%s/%s", c->root, sub);
    DIR *d = sys_opendir(dir);
    if (!d) return errno == ENOENT ? CAIRN_OK : cairn_error_errno(errno, "disk cache %s: cannot "
                                                                  "list it", dir);
    struct dirent *de;
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        bool sealed = strncmp(de->d_name, "seg-", 4) == 0, tmp = strncmp(de->d_name, "tmp-", 4) == 0;
        if ((!sealed && !tmp) || !has_suffix(de->d_name, ".cch") ||
            strlen(de->d_name) >= NAME_MAX_LEN)
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (sys_stat(path, &st) != 0) continue; /* removed meanwhile */
        if (tmp && stale_tmp(de->d_name, &st)) {
            sys_unlink(path);
            continue;
        }
        l->total += (uint64_t)st.st_size;
        if (!sealed) continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            entry *nv = realloc(l->v, cap * sizeof *nv);
            if (!nv) {
                rc = ERR(CAIRN_ENOMEM, "out of memory listing the disk cache");
                break;
            }
            l->v = nv;
            l->cap = cap;
        }
        snprintf(l->v[l->n].name, NAME_MAX_LEN, "%s", de->d_name);
        snprintf(l->v[l->n].sub, SUB_LEN + 1, "%s", sub);
        l->v[l->n++].size = (uint64_t)st.st_size;
    }
    closedir(d);
    return rc;
}

/* Whether name is a repository's subdirectory (SUB_LEN hex digits). */
static bool is_sub(const char *name)
{
    size_t n = strspn(name, "0123456789abcdef");
    return n == SUB_LEN && name[n] == '\0';
}

static void listing_sort(listing *l)
{
    if (l->n) qsort(l->v, l->n, sizeof *l->v, cmp_entry);
}

/* Lists the cache files of every repository under the root (the bound is the root's). */
static int list_root(dcache *c, listing *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = sys_opendir(c->root);
    if (!d) return cairn_error_errno(errno, "disk cache %s: cannot list it", c->root);
    struct dirent *de;
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL)
        if (is_sub(de->d_name)) rc = list_sub(c, de->d_name, l);
    closedir(d);
    listing_sort(l);
    return rc;
}

static void dir_mtime(const dcache *c, struct timespec *out)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    if (sys_stat(c->dir, &st) == 0) *out = st.st_mtim;
}

/* Takes in the segments other processes sealed and forgets those evicted. Write lock held. */
static int rescan(dcache *c)
{
    dir_mtime(c, &c->dir_mtime);
    listing l;
    memset(&l, 0, sizeof l);
    int rc = list_sub(c, c->sub, &l);
    listing_sort(&l);
    for (uint32_t i = 0; rc == CAIRN_OK && i < c->nsegs; i++) {
        seg *s = &c->segs[i];
        if (s->dead || s->active) continue;
        entry probe;
        snprintf(probe.name, sizeof probe.name, "%s", s->name);
        if (!l.n || !bsearch(&probe, l.v, l.n, sizeof *l.v, cmp_entry)) seg_kill(c, i);
    }
    for (size_t i = 0; i < l.n && rc == CAIRN_OK; i++) /* oldest first: newer copies win */
        if (!known(c, l.v[i].name, NULL)) rc = seg_load(c, l.v[i].name);
    free(l.v);
    return rc;
}

/* Unlinks the oldest sealed segments, of any repository under the root, until the root is
 * within the bound. Write lock held. Other processes may remove the same files at the same
 * time: either unlink wins. */
static int evict(dcache *c)
{
    listing l;
    TRY(list_root(c, &l));
    for (size_t i = 0; i < l.n && l.total > c->bound; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", c->root, l.v[i].sub, l.v[i].name);
        if (sys_unlink(path) == 0 || errno == ENOENT) l.total -= MIN(l.total, l.v[i].size);
        uint32_t k;
        if (strcmp(l.v[i].sub, c->sub) == 0 && known(c, l.v[i].name, &k)) seg_kill(c, k);
    }
    free(l.v);
    return CAIRN_OK;
}

static uint64_t next_rand(dcache *c)
{
    uint64_t z = (c->rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Starts this handle's active segment. Write lock held. */
static int start_active(dcache *c)
{
    char name[NAME_MAX_LEN], path[PATH_MAX];
    snprintf(name, sizeof name, "tmp-%ld-%016llx.cch", (long)getpid(),
             (unsigned long long)next_rand(c));
    seg_path(path, sizeof path, c, name);
    int fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return cairn_error_errno(errno, "disk cache: cannot create %s", path);
    uint8_t head[SEG_HEAD] = { 0 };
    memcpy(head, SEG_MAGIC, 8);
    store_le32(head + 8, SEG_VERSION);
    int rc = sys_write_all(fd, head, SEG_HEAD, 0, path);
    uint32_t segi = EMPTY;
    if (rc == CAIRN_OK) rc = seg_add(c, &segi, fd, name, SEG_HEAD, true);
    if (rc < 0) {
        sys_close(fd);
        sys_unlink(path);
        return rc;
    }
    c->active = segi;
    c->npend = 0;
    return CAIRN_OK;
}

/* Writes the active segment's index and trailer and renames it into place. Write lock held.
 * A failure leaves the file to the stale-segment sweep; the handle starts another. */
static int seal(dcache *c)
{
    if (c->active == EMPTY) return CAIRN_OK;
    seg *s = &c->segs[c->active];
    char from[PATH_MAX], to[PATH_MAX], name[NAME_MAX_LEN];
    seg_path(from, sizeof from, c, s->name);
    c->active = EMPTY;
    s->active = false;
    if (c->npend == 0) {
        sys_unlink(from);
        seg_kill(c, (uint32_t)(s - c->segs));
        return CAIRN_OK;
    }
    size_t ilen = c->npend * IDX_ENTRY;
    int rc = cairn_buf_reserve(&c->wbuf, ilen + TRAILER);
    if (rc < 0) return rc;
    uint8_t *p = c->wbuf.data;
    memset(p, 0, ilen + TRAILER);
    for (size_t i = 0; i < c->npend; i++, p += IDX_ENTRY) {
        memcpy(p, c->pend[i].key.bytes, 32);
        store_le64(p + 32, c->pend[i].off);
        store_le32(p + 40, c->pend[i].len);
        store_le32(p + 44, c->pend[i].flags);
    }
    store_le64(p, c->npend);
    store_le64(p + 8, s->size);
    store_le64(p + 16, index_check(c->wbuf.data, ilen, p));
    memcpy(p + 24, TRAILER_MAGIC, 8);
    rc = sys_write_all(s->fd, c->wbuf.data, ilen + TRAILER, s->size, from);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(name, sizeof name, "seg-%016llx-%08lx-%08llx.cch",
             (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec,
             (unsigned long)getpid() & 0xffffffffu, (unsigned long long)(next_rand(c) >> 32));
    seg_path(to, sizeof to, c, name);
    if (rc == CAIRN_OK && sys_rename(from, to) != 0)
        rc = cairn_error_errno(errno, "disk cache: cannot rename %s to %s", from, to);
    if (rc < 0) {
        sys_unlink(from);
        seg_kill(c, (uint32_t)(s - c->segs));
        return rc;
    }
    s->size += ilen + TRAILER;
    snprintf(s->name, sizeof s->name, "%s", name);
    c->npend = 0;
    seg_map(c, (uint32_t)(s - c->segs));
    return evict(c);
}

/* Appends a record to the active segment (sealing it when full): a chunk, or with
 * REC_DELETED the mark that it was deleted. Write lock held. */
static int append(dcache *c, const cairn_id *key, const void *data, size_t len, uint32_t flags)
{
    if (len > UINT32_MAX || REC_HEAD + len > c->seg_max) return CAIRN_OK; /* not worth it */
    if (c->active == EMPTY) TRY(start_active(c));
    seg *s = &c->segs[c->active];
    if (c->npend == c->cappend) {
        size_t n = c->cappend ? c->cappend * 2 : 1024;
        pending *np = realloc(c->pend, n * sizeof *np);
        if (!np) return ERR(CAIRN_ENOMEM, "out of memory filling the disk cache");
        c->pend = np;
        c->cappend = n;
    }
    TRY(cairn_buf_reserve(&c->wbuf, REC_HEAD + len));
    uint8_t *h = c->wbuf.data;
    memset(h, 0, REC_HEAD);
    store_le32(h, (uint32_t)len);
    store_le32(h + 4, flags);
    memcpy(h + 8, key->bytes, 32);
    store_le64(h + 40, rec_check(h, data, len));
    if (len) memcpy(h + REC_HEAD, data, len);
    char path[PATH_MAX];
    seg_path(path, sizeof path, c, s->name);
    TRY(sys_write_all(s->fd, h, REC_HEAD + len, s->size, path));
    uint64_t off = s->size;
    s->size += REC_HEAD + len;
    c->pend[c->npend++] = (pending){ *key, off, (uint32_t)len, flags };
    if (flags & REC_DELETED) forget(c, key->bytes);
    else TRY(index_put(c, key->bytes, c->active, off, (uint32_t)len));
    if (s->size + c->npend * IDX_ENTRY + TRAILER >= c->seg_max) return seal(c);
    return CAIRN_OK;
}

/* Caches a chunk from the remote store. A cache that cannot be written (a full disk) costs
 * only misses: the failure is reported as a warning, never to the caller. */
static void fill(dcache *c, const cairn_id *key, const void *data, size_t len, uint32_t flags)
{
    pthread_rwlock_wrlock(&c->lock);
    if (!c->off && append(c, key, data, len, flags) < 0) {
        cairn_diag(CAIRN_LOG_WARN, "disk cache %s: %s", c->dir, cairn_error_last()->message);
        cairn_error_clear();
    }
    pthread_rwlock_unlock(&c->lock);
}

/* ---- merging small segments ----
 *
 * Every process that caches anything seals a segment at close, so a repository used by many
 * short commands would collect many small segments, each an open and an index read at every
 * open. Past SMALL_MAX of them, an open copies what is current in them (chunks whose newest copy
 * they hold, and deletion marks not overridden since) into its own segment and removes them.
 * Two processes merging at once copy the same chunks twice, which costs only space. */

/* Copies the current records of small segment i into the active one. Write lock held. */
static int merge_one(dcache *c, uint32_t i)
{
    seg g = c->segs[i]; /* a copy: appending may move the array */
    if (g.dead || g.fd < 0) return CAIRN_OK;
    char path[PATH_MAX];
    seg_path(path, sizeof path, c, g.name);
    uint8_t *buf = cairn_malloc(g.size ? g.size : 1);
    if (!buf) return ERR(CAIRN_ENOMEM, "out of memory merging the disk cache");
    size_t n = 0;
    int rc = sys_read_full(g.fd, buf, g.size, 0, &n, path);
    const uint8_t *tr = buf + g.size - TRAILER;
    uint64_t count = 0, ioff = 0;
    if (rc == CAIRN_OK && n == g.size && g.size >= SEG_HEAD + TRAILER) {
        count = load_le64(tr);
        ioff = load_le64(tr + 8);
        if (ioff + count * IDX_ENTRY + TRAILER != g.size) count = 0;
    }
    cairn_error_clear();
    for (uint64_t e = 0; e < count && rc == CAIRN_OK; e++) {
        const uint8_t *x = buf + ioff + e * IDX_ENTRY;
        cairn_id key;
        memcpy(key.bytes, x, 32);
        uint64_t off = load_le64(x + 32);
        uint32_t len = load_le32(x + 40);
        slot *s = c->slots ? find_slot(c, &key) : NULL;
        if (load_le32(x + 44) & REC_DELETED) {
            if (!s) rc = append(c, &key, NULL, 0, REC_DELETED); /* still deleted */
        } else if (s && s->seg == i && s->off == off && off + REC_HEAD + len <= ioff &&
                   rec_ok(buf + off, s, &key)) {
            rc = append(c, &key, buf + off + REC_HEAD, len, 0);
        }
    }
    free(buf);
    if (rc == CAIRN_OK) {
        sys_unlink(path);
        seg_kill(c, i);
    }
    return rc;
}

static int merge_small(dcache *c)
{
    uint32_t small = 0;
    for (uint32_t i = 0; i < c->nsegs; i++)
        small += !c->segs[i].dead && !c->segs[i].active &&
                 c->segs[i].size < c->seg_max / SMALL_PART;
    if (small <= SMALL_MAX) return CAIRN_OK;
    uint32_t n = c->nsegs; /* the segments merge_one adds are not merged again */
    for (uint32_t i = 0; i < n; i++) {
        const seg *g = &c->segs[i];
        if (!g->dead && !g->active && g->size < c->seg_max / SMALL_PART) TRY(merge_one(c, i));
    }
    return seal(c);
}

/* ---- reads ---- */

/* Reads key's cached copy into out. CAIRN_OK (a hit, checked), CAIRN_ENOTFOUND (not cached,
 * or a damaged entry: dropped). Read lock held. */
static int read_cached(dcache *c, cairn_buf *out, const cairn_id *key, bool *damaged)
{
    *damaged = false;
    slot *s = c->slots ? find_slot(c, key) : NULL;
    if (!s || c->segs[s->seg].dead) return CAIRN_ENOTFOUND;
    seg *g = &c->segs[s->seg];
    size_t need = REC_HEAD + (size_t)s->len;
    TRY(cairn_buf_reserve(out, need));
    ssize_t n = sys_pread(g->fd, out->data, need, (off_t)s->off);
    const uint8_t *h = out->data;
    if (n == (ssize_t)need && rec_ok(h, s, key)) {
        memmove(out->data, out->data + REC_HEAD, s->len);
        out->len = s->len;
        return CAIRN_OK;
    }
    /* A record of another key under the same tag is a miss; anything else is damage. */
    *damaged = !(n == (ssize_t)need && memcmp(h + 8, key->bytes, 32) != 0 &&
                 load_le64(h + 40) == rec_check(h, h + REC_HEAD, load_le32(h)));
    return CAIRN_ENOTFOUND;
}

/* A damaged entry is dropped, so that the next read fetches the chunk again. */
static void drop(dcache *c, const cairn_id *key)
{
    pthread_rwlock_wrlock(&c->lock);
    forget(c, key->bytes);
    pthread_rwlock_unlock(&c->lock);
}

/* Reports and drops a damaged entry. */
static void dropped_damaged(dcache *c, const cairn_id *key)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, key);
    cairn_diag(CAIRN_LOG_WARN, "disk cache %s: the entry of chunk %s is damaged; dropped, "
               "fetching it again from %s", c->dir, hex, c->inner->location);
    atomic_fetch_add(&c->damaged, 1);
    drop(c, key);
}

/* Looks a key up, first taking in other processes' new segments when the directory changed. */
static int lookup(dcache *c, cairn_buf *out, const cairn_id *key)
{
    bool damaged, off;
    pthread_rwlock_rdlock(&c->lock);
    int rc = read_cached(c, out, key, &damaged);
    off = c->off;
    pthread_rwlock_unlock(&c->lock);
    if (off) return CAIRN_ENOTFOUND;
    if (rc == CAIRN_ENOTFOUND && !damaged) {
        struct timespec now;
        dir_mtime(c, &now);
        pthread_rwlock_wrlock(&c->lock);
        if (now.tv_sec != c->dir_mtime.tv_sec || now.tv_nsec != c->dir_mtime.tv_nsec) {
            if (rescan(c) < 0) cairn_error_clear();
            rc = read_cached(c, out, key, &damaged);
        }
        pthread_rwlock_unlock(&c->lock);
    }
    if (damaged) dropped_damaged(c, key);
    if (rc < 0 && rc != CAIRN_ENOTFOUND) return rc;
    atomic_fetch_add(rc == CAIRN_OK ? &c->hits : &c->misses, 1);
    return rc;
}

static int dc_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    dcache *c = dc_of(st);
    int rc = lookup(c, out, key);
    if (rc != CAIRN_ENOTFOUND) return rc;
    cairn_error_clear();
    TRY(c->inner->get(c->inner, out, key));
    fill(c, key, out->data, out->len, 0);
    return CAIRN_OK;
}

/* A hit in a mapped segment: a pointer into the map, after the record's check. Anything else
 * (not cached, in the segment being written, damaged) is CAIRN_EUNSUPPORTED, and the caller's
 * get then counts the miss and fetches the chunk. */
static int dc_get_mapped(cairn_store *st, const uint8_t **out, size_t *out_len,
                         const cairn_id *key)
{
    dcache *c = dc_of(st);
    bool damaged = false;
    int rc = CAIRN_EUNSUPPORTED;
    pthread_rwlock_rdlock(&c->lock);
    slot *s = c->off || !c->slots ? NULL : find_slot(c, key);
    const seg *g = s ? &c->segs[s->seg] : NULL;
    if (g && g->map && !g->dead && s->off + REC_HEAD + s->len <= g->map_len) {
        const uint8_t *h = g->map + s->off;
        if (rec_ok(h, s, key)) {
            *out = h + REC_HEAD;
            *out_len = s->len;
            rc = CAIRN_OK;
        } else damaged = memcmp(h + 8, key->bytes, 32) == 0;
    }
    pthread_rwlock_unlock(&c->lock);
    if (damaged) dropped_damaged(c, key);
    if (rc == CAIRN_OK) atomic_fetch_add(&c->hits, 1);
    return rc;
}

/* get_many: hits are delivered at once; the misses go to the remote store in one batch, each
 * cached as it arrives and delivered under its index in the caller's batch. */
typedef struct many {
    dcache *c;
    const cairn_id *keys;
    size_t *map;             /* miss j is the caller's chunk map[j] */
    cairn_store_get_cb cb;
    void *payload;
} many;

static int many_cb(size_t j, int rc, const void *data, size_t len, void *payload)
{
    many *m = payload;
    size_t i = m->map[j];
    if (rc == CAIRN_OK) fill(m->c, &m->keys[i], data, len, 0);
    return m->cb(i, rc, data, len, m->payload);
}

static int dc_get_many(cairn_store *st, const cairn_id *keys, size_t n, cairn_store_get_cb cb,
                       void *payload)
{
    dcache *c = dc_of(st);
    size_t *map = n ? cairn_malloc(n * sizeof *map) : NULL;
    cairn_id *miss = n ? cairn_malloc(n * sizeof *miss) : NULL;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = n && (!map || !miss) ? ERR(CAIRN_ENOMEM, "out of memory reading a batch") : CAIRN_OK;
    size_t nmiss = 0;
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
        int lrc = lookup(c, &b, &keys[i]);
        if (lrc == CAIRN_OK) rc = cb(i, CAIRN_OK, b.data, b.len, payload);
        else if (lrc == CAIRN_ENOTFOUND) {
            cairn_error_clear();
            map[nmiss] = i;
            miss[nmiss++] = keys[i];
        } else rc = lrc;
    }
    cairn_buf_dispose(&b);
    if (rc == CAIRN_OK && nmiss) {
        many m = { c, keys, map, cb, payload };
        rc = cairn_store_get_many(c->inner, miss, nmiss, many_cb, &m);
    }
    free(map);
    free(miss);
    return rc;
}

/* ---- writes: through to the remote store, then into the cache ---- */

static int dc_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    dcache *c = dc_of(st);
    TRY(c->inner->put(c->inner, key, data, len));
    fill(c, key, data, len, 0);
    return CAIRN_OK;
}

static int dc_put_many(cairn_store *st, const cairn_store_chunk *chunks, size_t n)
{
    dcache *c = dc_of(st);
    TRY(cairn_store_put_many(c->inner, chunks, n));
    for (size_t i = 0; i < n; i++) fill(c, &chunks[i].key, chunks[i].data, chunks[i].len, 0);
    return CAIRN_OK;
}

static int dc_del(cairn_store *st, const cairn_id *key)
{
    dcache *c = dc_of(st);
    TRY(c->inner->del(c->inner, key));
    fill(c, key, NULL, 0, REC_DELETED); /* recorded for later opens; other processes that hold
                                         * it already may serve it until they see the mark */
    return CAIRN_OK;
}

static int dc_stat(cairn_store *st, cairn_store_stats *out)
{
    dcache *c = dc_of(st);
    if (c->inner->stat) TRY(c->inner->stat(c->inner, out));
    out->cache_hits = atomic_load(&c->hits);
    out->cache_misses = atomic_load(&c->misses);
    out->cache_damaged = atomic_load(&c->damaged);
    listing l = { NULL, 0, 0, 0 };
    pthread_rwlock_wrlock(&c->lock);
    int rc = c->off ? CAIRN_ENOTFOUND : list_root(c, &l);
    if (!c->off) {
        out->cache_bound = c->bound;
        out->cache_dir = c->dir;
    }
    pthread_rwlock_unlock(&c->lock);
    if (rc == CAIRN_OK) out->cache_bytes = l.total;
    free(l.v);
    cairn_error_clear();
    return CAIRN_OK;
}

static void dc_close(cairn_store *st)
{
    dcache *c = dc_of(st);
    if (!c) return;
    pthread_rwlock_wrlock(&c->lock);
    if (seal(c) < 0) cairn_error_clear(); /* what this handle cached survives it */
    pthread_rwlock_unlock(&c->lock);
    for (uint32_t i = 0; i < c->nsegs; i++) {
        seg_kill(c, i);
        if (c->segs[i].map) munmap((void *)c->segs[i].map, (size_t)c->segs[i].map_len);
    }
    if (c->inner) c->inner->close(c->inner);
    pthread_rwlock_destroy(&c->lock);
    free(c->slots);
    free(c->segs);
    free(c->pend);
    cairn_buf_dispose(&c->wbuf);
    free(c->dir);
    free(c);
}

/* ---- everything else goes to the remote store as it is ---- */

static int dc_has(cairn_store *st, const cairn_id *key) { return in_of(st)->has(in_of(st), key); }
static int dc_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *), void *p)
{
    return in_of(st)->list(in_of(st), cb, p);
}
static int dc_flush(cairn_store *st) { return in_of(st)->flush(in_of(st)); }
static int dc_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    return in_of(st)->ref_get(in_of(st), out, name);
}
static int dc_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                      const void *val, size_t vlen)
{
    return in_of(st)->ref_cas(in_of(st), name, expect, elen, val, vlen);
}
static int dc_ref_list(cairn_store *st, const char *prefix,
                       int (*cb)(const char *, const void *, size_t, void *), void *p)
{
    return in_of(st)->ref_list(in_of(st), prefix, cb, p);
}
static int dc_has_many(cairn_store *st, const cairn_id *keys, size_t n, int *rcs)
{
    return cairn_store_has_many(in_of(st), keys, n, rcs);
}
static int dc_file_open(cairn_store *st, cairn_store_file **out, const char *name, unsigned fl)
{
    return in_of(st)->file_open(in_of(st), out, name, fl);
}
static int dc_file_read(cairn_store *st, cairn_store_file *f, void *buf, size_t len,
                        uint64_t off, size_t *out_n)
{
    return in_of(st)->file_read(in_of(st), f, buf, len, off, out_n);
}
static int dc_file_write(cairn_store *st, cairn_store_file *f, const void *buf, size_t len,
                         uint64_t off)
{
    return in_of(st)->file_write(in_of(st), f, buf, len, off);
}
static int dc_file_sync(cairn_store *st, cairn_store_file *f, unsigned how)
{
    return in_of(st)->file_sync(in_of(st), f, how);
}
static int dc_file_size(cairn_store *st, cairn_store_file *f, uint64_t *out)
{
    return in_of(st)->file_size(in_of(st), f, out);
}
static int dc_file_resize(cairn_store *st, cairn_store_file *f, uint64_t size)
{
    return in_of(st)->file_resize(in_of(st), f, size);
}
static int dc_file_reserve(cairn_store *st, cairn_store_file *f, uint64_t size)
{
    return in_of(st)->file_reserve(in_of(st), f, size);
}
static int dc_file_map(cairn_store *st, cairn_store_file *f, size_t len, const uint8_t **out)
{
    return in_of(st)->file_map(in_of(st), f, len, out);
}
static void dc_file_unmap(cairn_store *st, const uint8_t *map, size_t len)
{
    in_of(st)->file_unmap(in_of(st), map, len);
}
static int dc_file_lock(cairn_store *st, cairn_store_file *f, unsigned mode)
{
    return in_of(st)->file_lock(in_of(st), f, mode);
}
static void dc_file_close(cairn_store *st, cairn_store_file *f)
{
    in_of(st)->file_close(in_of(st), f);
}
static int dc_file_remove(cairn_store *st, const char *name)
{
    return in_of(st)->file_remove(in_of(st), name);
}
static int dc_file_rename(cairn_store *st, const char *from, const char *to, bool replace)
{
    return in_of(st)->file_rename(in_of(st), from, to, replace);
}
static int dc_file_list(cairn_store *st, const char *dir,
                        int (*cb)(const char *, uint64_t, void *), void *p)
{
    return in_of(st)->file_list(in_of(st), dir, cb, p);
}
static int dc_file_sync_dir(cairn_store *st, const char *dir)
{
    return in_of(st)->file_sync_dir(in_of(st), dir);
}
static int dc_compact(cairn_store *st, double frac, unsigned flags, cairn_store_compact_stats *o)
{
    return in_of(st)->compact(in_of(st), frac, flags, o);
}
static int dc_locate(cairn_store *st, const cairn_id *key, cairn_store_location *out)
{
    return in_of(st)->locate(in_of(st), key, out);
}
static int dc_repair(cairn_store *st, unsigned flags,
                     int (*cb)(const cairn_repair_item *, void *), void *p, cairn_repair_stats *o)
{
    return in_of(st)->repair(in_of(st), flags, cb, p, o);
}
static int dc_ref_remove_damaged(cairn_store *st, const char *name)
{
    return in_of(st)->ref_remove_damaged(in_of(st), name);
}

static int dc_gc_gen(cairn_store *st, uint64_t *out) { return in_of(st)->gc_gen(in_of(st), out); }
static int dc_set_candidates(cairn_store *st, const cairn_id *keys, size_t n)
{
    return in_of(st)->set_candidates(in_of(st), keys, n);
}
static int dc_del_older(cairn_store *st, const cairn_id *keys, size_t n, uint64_t gen, bool *kept)
{
    dcache *c = dc_of(st);
    TRY(c->inner->del_older(c->inner, keys, n, gen, kept));
    for (size_t i = 0; i < n; i++) /* as dc_del: a miss from now on (the store has the truth) */
        if (!kept[i]) fill(c, &keys[i], NULL, 0, REC_DELETED);
    return CAIRN_OK;
}
static int dc_remove_orphans(cairn_store *st, double age, uint64_t *objects, uint64_t *bytes)
{
    return in_of(st)->remove_orphans(in_of(st), age, objects, bytes);
}

/* The wrapper's methods: ours where the inner store has the method, NULL where it has not. */
static void set_methods(cairn_store *w, const cairn_store *in)
{
    *w = (cairn_store){
        .version = CAIRN_STORE_VERSION, .caps = in->caps, .kind = in->kind,
        .location = in->location, .get = dc_get, .put = dc_put, .has = dc_has, .del = dc_del,
        .list = dc_list, .flush = dc_flush, .ref_get = dc_ref_get, .ref_cas = dc_ref_cas,
        .ref_list = dc_ref_list, .stat = dc_stat, .close = dc_close,
        .get_many = dc_get_many, .has_many = dc_has_many, .put_many = dc_put_many,
        .get_mapped = dc_get_mapped,
    };
#define FWD(v, m) w->m = in->version >= (v) && in->m ? dc_##m : NULL
    FWD(1, list);
    FWD(1, flush);
    FWD(3, file_open);
    FWD(3, file_read);
    FWD(3, file_write);
    FWD(3, file_sync);
    FWD(3, file_size);
    FWD(3, file_resize);
    FWD(3, file_reserve);
    FWD(3, file_map);
    FWD(3, file_unmap);
    FWD(3, file_lock);
    FWD(3, file_close);
    FWD(3, file_remove);
    FWD(3, file_rename);
    FWD(3, file_list);
    FWD(3, file_sync_dir);
    FWD(3, compact);
    FWD(3, locate);
    FWD(4, repair);
    FWD(4, ref_remove_damaged);
    FWD(6, gc_gen);
    FWD(6, set_candidates);
    FWD(6, del_older);
    FWD(6, remove_orphans);
#undef FWD
}

/* ---- opening ---- */

int store_diskcache_parse_size(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    bool ok = text && *text >= '0' && *text <= '9';
    unsigned long long v = ok ? strtoull(text, &end, 10) : 0;
    unsigned shift = 0;
    ok = ok && errno == 0;
    if (ok && *end) {
        shift = (*end == 'K' || *end == 'k') ? 10 : (*end == 'M' || *end == 'm') ? 20
                : (*end == 'G' || *end == 'g') ? 30 : (*end == 'T' || *end == 't') ? 40 : 64;
        ok = shift < 64 && end[1] == '\0' && v <= (UINT64_MAX >> shift);
    }
    FAIL_IF(!ok, CAIRN_EINVAL,
            "cache size '%s' is not a size: give bytes, or a number with K, M, G or T (0 turns "
            "the disk cache off)", text ? text : "");
    *out = (uint64_t)v << shift;
    return CAIRN_OK;
}

/* The URL without credentials: a password in the authority (user:PASS@host) or a password=
 * parameter (libpq) never reaches the cache's directory name or its url file. */
static void strip_credentials(char *out, size_t cap, const char *url)
{
    snprintf(out, cap, "%s", url);
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *auth = scheme + 3, *end = auth + strcspn(auth, "/?");
        char *at = NULL;
        for (char *p = auth; p < end; p++)
            if (*p == '@') at = p;
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) memmove(colon, at, strlen(at) + 1);
    }
    for (char *p = out; (p = strstr(p, "password=")) != NULL;) {
        size_t n = strcspn(p + 9, " &");
        memmove(p + 9, p + 9 + n, strlen(p + 9 + n) + 1);
        p += 9;
    }
}

/* The repository's directory under root: SUB_LEN hex digits of SHA-256 of its identity. */
static void place(char *dir, size_t cap, char sub[SUB_LEN + 1], const char *root,
                  const char *ident)
{
    char clean[2048], hex[CAIRN_ID_HEX_SIZE];
    strip_credentials(clean, sizeof clean, ident);
    cairn_id h;
    hash_sha256(&h, clean, strlen(clean));
    cairn_id_to_hex(hex, &h);
    memcpy(sub, hex, SUB_LEN);
    sub[SUB_LEN] = '\0';
    snprintf(dir, cap, "%s/%s", root, sub);
}

/* Writes DIR/url (once) so that a person can tell which repository a directory caches. */
static void write_url_file(const char *dir, const char *ident)
{
    char path[PATH_MAX], tmp[PATH_MAX], clean[2048];
    struct stat st;
    snprintf(path, sizeof path, "%s/url", dir);
    if (sys_stat(path, &st) == 0) return;
    snprintf(tmp, sizeof tmp, "%s/url.%ld.tmp", dir, (long)getpid());
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    strip_credentials(clean, sizeof clean, ident);
    char line[2100];
    int n = snprintf(line, sizeof line, "%s\n", clean);
    bool ok = n > 0 && (size_t)n < sizeof line &&
              sys_write_all(fd, line, (size_t)n, 0, tmp) == CAIRN_OK;
    sys_close(fd);
    if (!ok || sys_rename(tmp, path) != 0) sys_unlink(tmp);
    cairn_error_clear();
}

/* Points the cache at root/sub with bound and reads what is there. Write lock held (or not yet
 * shared). */
static int attach(dcache *c, const char *root, const char *ident, uint64_t bound)
{
    char dir[DIR_MAX];
    place(dir, sizeof dir, c->sub, root, ident);
    char *nd = cairn_strdup(dir);
    if (!nd) return ERR(CAIRN_ENOMEM, "out of memory opening the disk cache");
    free(c->dir);
    c->dir = nd;
    snprintf(c->root, sizeof c->root, "%s", root);
    c->bound = bound;
    c->seg_max = MIN(SEG_MAX, MAX(SEG_MIN, bound / SEG_PARTS));
    memset(&c->dir_mtime, 0, sizeof c->dir_mtime);
    TRY(sys_mkdirs(dir, 0700, false));
    write_url_file(dir, ident);
    TRY(rescan(c));
    TRY(evict(c));
    if (merge_small(c) < 0) { /* the small segments stay: only slower opens */
        cairn_diag(CAIRN_LOG_WARN, "disk cache %s: %s", c->dir, cairn_error_last()->message);
        cairn_error_clear();
    }
    return CAIRN_OK;
}

int store_diskcache_wrap(cairn_store **out, cairn_store *inner, const char *root,
                         const char *ident, uint64_t bound)
{
    *out = inner;
    dcache *c = cairn_calloc(1, sizeof *c);
    if (!c) {
        inner->close(inner);
        return ERR(CAIRN_ENOMEM, "out of memory opening the disk cache");
    }
    pthread_rwlock_init(&c->lock, NULL);
    c->inner = inner;
    c->active = EMPTY;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c->rand_state = (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    set_methods(&c->base, inner);
    int rc = attach(c, root, ident, bound);
    if (rc < 0) {
        /* A cache that cannot be used never stops an open: the store is used without it. */
        cairn_diag(CAIRN_LOG_WARN, "disk cache %s is not used: %s", root,
                   cairn_error_last()->message);
        cairn_error_clear();
        c->inner = NULL;
        dc_close(&c->base);
        return CAIRN_OK;
    }
    *out = &c->base;
    return CAIRN_OK;
}

/* The cache's root: $CAIRN_CACHE_DIR, then the setting, then $XDG_CACHE_HOME/cairn, then
 * ~/.cache/cairn. */
static int cache_root(char *out, size_t cap, const char *setting)
{
    const char *env = getenv("CAIRN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env) snprintf(out, cap, "%s", env);
    else if (setting && *setting) snprintf(out, cap, "%s", setting);
    else if (xdg && *xdg == '/') snprintf(out, cap, "%s/cairn", xdg);
    else if (home && *home) snprintf(out, cap, "%s/.cache/cairn", home);
    else return CAIRN_ENOTFOUND;
    return CAIRN_OK;
}

/* Where and how big the cache is, from the environment (which wins), the repository's
 * settings (NULL: none) and the defaults. false: no disk cache. */
static bool resolve(char *root, size_t cap, uint64_t *bound, const cairn_store *inner,
                    const char *dir_setting, const char *size_setting)
{
    const char *mode = getenv("CAIRN_CACHE");
    bool forced = mode && strcmp(mode, "on") == 0;
    if ((mode && strcmp(mode, "off") == 0) || (!forced && !(inner->caps & CAIRN_STORE_CAP_REMOTE)))
        return false;
    *bound = STORE_DISKCACHE_DEFAULT_SIZE;
    const char *size = getenv("CAIRN_CACHE_SIZE");
    if (!size || !*size) size = size_setting;
    if (size && *size && store_diskcache_parse_size(size, bound) < 0) {
        cairn_diag(CAIRN_LOG_WARN, "the disk cache is off: %s", cairn_error_last()->message);
        cairn_error_clear();
        return false;
    }
    return *bound != 0 && cache_root(root, cap, dir_setting) == CAIRN_OK;
}

int store_diskcache_open(cairn_store **out, cairn_store *inner, const char *url)
{
    char root[ROOT_MAX];
    uint64_t bound;
    *out = inner;
    if (!resolve(root, sizeof root, &bound, inner, NULL, NULL)) return CAIRN_OK;
    return store_diskcache_wrap(out, inner, root, url, bound);
}

bool store_diskcache_active(const cairn_store *st) { return st && st->close == dc_close; }

void store_diskcache_configure(cairn_store *st, const char *url, const char *dir_setting,
                               const char *size_setting)
{
    if (!store_diskcache_active(st)) return;
    dcache *c = dc_of(st);
    char root[ROOT_MAX];
    uint64_t bound = 0;
    bool on = resolve(root, sizeof root, &bound, c->inner, dir_setting, size_setting);
    pthread_rwlock_wrlock(&c->lock);
    if (on != !c->off || (on && (strcmp(root, c->root) != 0 || bound != c->bound))) {
        /* start over: what this handle cached so far is sealed where it was */
        if (seal(c) < 0) cairn_error_clear();
        for (uint32_t i = 0; i < c->nsegs; i++) seg_kill(c, i); /* maps stay until close */
        free(c->slots);
        c->slots = NULL;
        c->mask = c->used = 0;
        c->off = !on;
        if (on && attach(c, root, url, bound) < 0) {
            cairn_diag(CAIRN_LOG_WARN, "disk cache %s is not used: %s", root,
                       cairn_error_last()->message);
            cairn_error_clear();
            c->off = true;
        }
    }
    pthread_rwlock_unlock(&c->lock);
}
