/*
 * test_store_hint.c - read hints (the store's will_read, interface version 7): the local store
 * given a hint brings the named chunks' pack bytes into memory ahead of the reads, and a cursor
 * reading a range in order gives it.
 *
 * Shown on the page cache itself: the pack is made durable and dropped from the cache
 * (POSIX_FADV_DONTNEED), then mincore() on a mapping of the pack file of the test's own (which
 * never faults a page in) says which pages are resident. A hint is asynchronous: the test waits
 * for the pages it expects (up to RESIDENT_WAIT_S), and asserts what is resident, never how long
 * it took. Where the page cache will not drop the file (tmpfs), the case says so and stops.
 *
 *  local_hint_reads_ahead   hinting chunks 100..299 of 600 brings exactly their pages in: those
 *                           of chunks 400..599, which nothing read or named, stay out (the
 *                           mappings are advised random, so nothing else reads them)
 *  local_hint_partly_resident  the same when the first, middle and last chunks named are in
 *                           memory already (what the store checks before looking up the rest:
 *                           a hint whose bytes are all resident is not worth its lookups) and
 *                           the ones between are not: they are brought in all the same
 *  local_hint_harmless      a hint of absent chunks, an empty one, one of chunks still in the
 *                           writer's buffer: the error set before it still there after, and
 *                           every chunk reads back the same
 *  local_hint_keeps_error   the same when the hint's lookups fail to map sealed packs' indexes
 *                           (mmap failed through the sys table: the mapping code clears the
 *                           error), and the chunks read back once mmap works again; with no
 *                           error set before the hint (the usual case, where nothing is
 *                           copied), none is set after it
 *  cursor_hints_backward    a cursor reading backward on a table whose packs were dropped,
 *                           without read-ahead workers, after a few leaves has the leaves ahead
 *                           of it resident (many more pages than it read itself); the table's
 *                           leaves alternate between two parts of the pack, so that only the
 *                           cursor's hint can do that (the store's own detection of reads in
 *                           order, read_ahead() in local.c, needs reads that follow each other
 *                           in a pack, forward)
 *  cursor_hints_forward     the same forward (with the table's leaves in pack order, read_ahead()
 *                           alone brought in more than the case asks: it passed without the hint)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/sys.h"
#include "store/store.h"
#include "test.h"

#define NCHUNKS 600
#define CHUNK_BYTES 4000
#define RESIDENT_WAIT_S 30.0
#define PAGE 4096u
#define SMALL_PACKS (64u << 10) /* local_hint_keeps_error: packs sealed at this size */

static cairn_id key_of(unsigned i)
{
    cairn_id k;
    for (int w = 0; w < 4; w++) {
        uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)w * 0xbf58476d1ce4e5b9ull;
        x ^= x >> 31;
        x *= 0x94d049bb133111ebull;
        x ^= x >> 29;
        memcpy(k.bytes + 8 * w, &x, 8);
    }
    return k;
}

static void chunk_of(unsigned i, uint8_t *out)
{
    uint64_t s = test_rng(i);
    for (size_t b = 0; b < CHUNK_BYTES; b++) out[b] = (uint8_t)test_rand(&s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A file mapped for mincore() only. */
typedef struct probe {
    int fd;
    uint8_t *map;
    size_t len;
    unsigned char *vec;
} probe;

static bool probe_open(probe *p, const char *path)
{
    memset(p, 0, sizeof *p);
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (p->fd < 0 || fstat(p->fd, &sb) != 0 || sb.st_size == 0) return false;
    p->len = (size_t)sb.st_size;
    p->map = mmap(NULL, p->len, PROT_READ, MAP_SHARED, p->fd, 0);
    p->vec = malloc((p->len + PAGE - 1) / PAGE);
    return p->map != MAP_FAILED && p->vec;
}

static void probe_close(probe *p)
{
    if (p->map && p->map != MAP_FAILED) munmap(p->map, p->len);
    if (p->fd >= 0) close(p->fd);
    free(p->vec);
}

/* Drops the file from the page cache (durable first: dirty pages are not dropped). */
static void probe_drop(probe *p)
{
    fdatasync(p->fd);
    posix_fadvise(p->fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Resident pages among those holding bytes [from, to). */
static size_t probe_resident(probe *p, uint64_t from, uint64_t to)
{
    if (to > p->len) to = p->len;
    if (from >= to || mincore(p->map, p->len, p->vec) != 0) return 0;
    size_t n = 0;
    for (uint64_t pg = from / PAGE; pg <= (to - 1) / PAGE; pg++) n += p->vec[pg] & 1;
    return n;
}

static size_t pages_of(uint64_t from, uint64_t to) { return (size_t)((to - 1) / PAGE - from / PAGE + 1); }

/* Waits until at least want of the pages of [from, to) are resident; returns how many are. */
static size_t wait_resident(probe *p, uint64_t from, uint64_t to, size_t want)
{
    double until = now_s() + RESIDENT_WAIT_S;
    size_t n;
    while ((n = probe_resident(p, from, to)) < want && now_s() < until) usleep(2000);
    return n;
}

static uint64_t offset_of(cairn_store *st, unsigned i)
{
    cairn_id k = key_of(i);
    cairn_store_location loc;
    if (st->locate(st, &k, &loc) != CAIRN_OK) return UINT64_MAX;
    return loc.offset;
}

/* A local store in dir holding NCHUNKS chunks, closed (its .idx written): in one pack, or with
 * pack_max, in packs sealed at that size (with packs/summary: their indexes mapped when a
 * lookup first needs them). */
static bool make_store(const char *dir, uint64_t pack_max)
{
    cairn_store *st;
    if (store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0) != CAIRN_OK) return false;
    if (pack_max) store_local_set_pack_max(st, pack_max);
    uint8_t buf[CHUNK_BYTES];
    int rc = CAIRN_OK;
    for (unsigned i = 0; i < NCHUNKS && rc == CAIRN_OK; i++) {
        cairn_id k = key_of(i);
        chunk_of(i, buf);
        rc = st->put(st, &k, buf, sizeof buf);
    }
    if (rc == CAIRN_OK) rc = st->flush(st);
    st->close(st);
    return rc == CAIRN_OK;
}

/* A one-pack store of NCHUNKS chunks in a fresh directory, its pack dropped from the page cache
 * and probed by pr, opened read-only into *out with chunk 0 read (the pack is mapped). *out is
 * NULL (pr closed, the case to stop) when the page cache will not drop the file. */
static void open_dropped(cairn_store **out, probe *pr)
{
    *out = NULL;
    char dir[4200], pack[4300];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    CHECK(make_store(dir, 0));
    snprintf(pack, sizeof pack, "%s/packs/pack-00000001.pack", dir);
    CHECK(probe_open(pr, pack));
    probe_drop(pr);
    size_t left = probe_resident(pr, 0, pr->len);
    if (left > 4) {
        printf("    the page cache kept %zu pages of the pack after DONTNEED (tmpfs?): skipped\n",
               left);
        probe_close(pr);
        return;
    }
    cairn_store *st;
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    CHECK(st->version >= 7 && st->will_read);
    const uint8_t *m;
    size_t mlen;
    cairn_id k0 = key_of(0);
    CHECK_OK(st->get_mapped(st, &m, &mlen, &k0)); /* one read: the pack is mapped */
    CHECK_EQ(mlen, CHUNK_BYTES);
    *out = st;
}

/* Chunk i read through st's mapping, every byte of it (its pages are then resident). */
static void read_whole(cairn_store *st, unsigned i)
{
    const uint8_t *m;
    size_t mlen;
    cairn_id k = key_of(i);
    uint8_t want[CHUNK_BYTES];
    chunk_of(i, want);
    CHECK_OK(st->get_mapped(st, &m, &mlen, &k));
    CHECK_MEM(m, mlen, want, sizeof want);
}

static void local_hint_reads_ahead(void)
{
    probe pr;
    cairn_store *st;
    open_dropped(&st, &pr);
    if (!st) return;
    cairn_id hint[200];
    for (unsigned i = 0; i < 200; i++) hint[i] = key_of(100 + i);
    st->will_read(st, hint, 200);

    uint64_t from = offset_of(st, 100), to = offset_of(st, 299) + CHUNK_BYTES + 45;
    uint64_t out_from = offset_of(st, 400);
    CHECK(from < to && to <= out_from && out_from != UINT64_MAX);
    size_t want = pages_of(from, to);
    size_t got = wait_resident(&pr, from, to, want);
    CHECK_MSG(got == want, "%zu of the %zu pages of the hinted chunks are resident", got, want);
    /* nothing read or named the last third: it stayed on disk */
    size_t stray = probe_resident(&pr, out_from, pr.len);
    CHECK_MSG(stray <= 2, "%zu pages of chunks nobody read or named are resident", stray);

    /* and the hinted chunks read back as they were written */
    for (unsigned i = 100; i < 300; i += 37) read_whole(st, i);
    st->close(st);
    probe_close(&pr);
}

static void local_hint_partly_resident(void)
{
    probe pr;
    cairn_store *st;
    open_dropped(&st, &pr);
    if (!st) return;
    /* the hint names chunks 100..299: its first, middle and last are read in first */
    enum { FIRST = 100, N = 200 };
    const unsigned named[3] = { FIRST, FIRST + N / 2, FIRST + N - 1 };
    for (int i = 0; i < 3; i++) read_whole(st, named[i]);
    uint64_t gap_from = offset_of(st, FIRST + 2) + PAGE;
    uint64_t gap_to = offset_of(st, FIRST + N / 2 - 2);
    CHECK(gap_from < gap_to);
    size_t gap = pages_of(gap_from, gap_to);
    CHECK_MSG(probe_resident(&pr, gap_from, gap_to) <= 2,
              "the pages between the chunks read were resident before the hint: the case "
              "tests nothing");
    cairn_id hint[N];
    for (unsigned i = 0; i < N; i++) hint[i] = key_of(FIRST + i);
    st->will_read(st, hint, N);
    uint64_t from = offset_of(st, FIRST), to = offset_of(st, FIRST + N - 1) + CHUNK_BYTES + 45;
    size_t want = pages_of(from, to);
    size_t got = wait_resident(&pr, from, to, want);
    CHECK_MSG(got == want, "%zu of the %zu pages of the hinted chunks are resident (%zu of "
              "the %zu between the first and the middle were not before)", got, want, gap, gap);
    st->close(st);
    probe_close(&pr);
}

/* An error the test sets before a hint, to see it is still there after (store.h: a hint
 * leaves the thread's last error as it was); its message is copied to kept. */
static void set_marker(char *kept, size_t size)
{
    ERR(CAIRN_EIO, "marker: an error set before the hint");
    snprintf(kept, size, "%s", cairn_error_last()->message);
}

#define CHECK_MARKER(kept)                                                                        \
    CHECK_MSG(cairn_error_last()->code == CAIRN_EIO &&                                            \
                  strcmp(cairn_error_last()->message, (kept)) == 0,                               \
              "the hint changed the thread's last error to %d '%s'", cairn_error_last()->code,    \
              cairn_error_last()->message)

/* Every 7th of chunks 0..n reads back from st as it was written. */
static void reads_back(cairn_store *st, unsigned n)
{
    uint8_t want[CHUNK_BYTES];
    for (unsigned i = 0; i < n; i += 7) {
        cairn_id k = key_of(i);
        cairn_buf out = CAIRN_BUF_INIT;
        chunk_of(i, want);
        int rc = st->get(st, &out, &k);
        bool same = rc == CAIRN_OK && out.len == sizeof want && memcmp(out.data, want, out.len) == 0;
        cairn_buf_dispose(&out);
        CHECK_MSG(same, "chunk %u after the hints: rc %d", i, rc);
    }
}

static void local_hint_harmless(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    CHECK(make_store(dir, 0));
    cairn_store *st;
    CHECK_OK(store_local_open(&st, dir, 0, 0));
    /* chunks only in the writer's buffer, absent ones, and held ones, in one hint */
    uint8_t buf[CHUNK_BYTES];
    cairn_id hint[30];
    for (unsigned i = 0; i < 10; i++) {
        cairn_id k = key_of(NCHUNKS + i);
        chunk_of(NCHUNKS + i, buf);
        CHECK_OK(st->put(st, &k, buf, sizeof buf));
        hint[i] = k;
        hint[10 + i] = key_of(100000 + i); /* never stored */
        hint[20 + i] = key_of(i * 50);
    }
    char marker[1100];
    set_marker(marker, sizeof marker);
    st->will_read(st, hint, 30);
    st->will_read(st, hint, 0);
    CHECK_MARKER(marker);
    reads_back(st, NCHUNKS + 10);
    cairn_id absent = key_of(100000);
    CHECK_RC(st->has(st, &absent), CAIRN_ENOTFOUND);
    st->close(st);
}

/* A hint whose lookups fail to map an index (a sealed pack's .idx is mapped by the first lookup
 * that needs it; mmap fails here, through the sys table) still leaves the thread's error as it
 * was, and the chunks read back once mmap works again (the index is read whole instead). */
static void local_hint_keeps_error(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    CHECK(make_store(dir, SMALL_PACKS));
    cairn_store *st;
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    cairn_id hint[NCHUNKS / 2];
    for (unsigned i = 0; i < NCHUNKS / 2; i++) hint[i] = key_of(i);
    char marker[1100];
    set_marker(marker, sizeof marker);
    uint64_t fired = sys_faults_fired();
    sys_fault(SYS_MMAP, 1, ENOMEM, true);
    st->will_read(st, hint, NCHUNKS / 2);
    sys_fault_clear();
    CHECK_MSG(sys_faults_fired() > fired, "the hint mapped no index: the case tests nothing");
    CHECK_MARKER(marker);
    reads_back(st, NCHUNKS);
    st->close(st);

    /* no error before the hint: none after it either */
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    cairn_error_clear();
    fired = sys_faults_fired();
    sys_fault(SYS_MMAP, 1, ENOMEM, true);
    st->will_read(st, hint, NCHUNKS / 2);
    sys_fault_clear();
    CHECK_MSG(sys_faults_fired() > fired, "the hint mapped no index: the case tests nothing");
    CHECK_MSG(cairn_error_last()->code == CAIRN_OK && !cairn_error_last()->message[0],
              "a hint left the error %d '%s' where there was none", cairn_error_last()->code,
              cairn_error_last()->message);
    reads_back(st, NCHUNKS);
    st->close(st);
}

/* Resident pages of every pack file in dir/packs; with drop, drops them from the cache first. */
static size_t packs_resident(const char *dir, bool drop)
{
    char packs[4300];
    snprintf(packs, sizeof packs, "%s/packs", dir);
    DIR *d = opendir(packs);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".pack") != 0) continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", packs, de->d_name);
        probe pr;
        if (probe_open(&pr, path)) {
            if (drop) probe_drop(&pr);
            n += probe_resident(&pr, 0, pr.len);
        }
        probe_close(&pr);
    }
    closedir(d);
    return n;
}

#define TABLE_KEYS 40000
#define CURSOR_STEPS 150 /* entries read: a few leaves of about 35 */
#define MORE_PAGES 40    /* what the hint must have brought in beyond the cursor's own reads */

/* Waits until the packs of dir hold at least want resident pages; returns how many they do. */
static size_t wait_packs(const char *dir, size_t want)
{
    double until = now_s() + RESIDENT_WAIT_S;
    size_t n;
    while ((n = packs_resident(dir, false)) < want && now_s() < until) usleep(2000);
    return n;
}

/* Puts keys i of [0, TABLE_KEYS) with i % every == 0 in table t of the repository at dir, with
 * values drawn from seed, as one commit written out to the store (checkpoint). */
static int put_keys(cairn_db *db, cairn_table *t, unsigned every, uint64_t seed)
{
    cairn_batch *b = NULL;
    int rc = cairn_batch_new(&b, db);
    uint64_t s = test_rng(seed);
    for (unsigned i = 0; rc == CAIRN_OK && i < TABLE_KEYS; i += every) {
        uint8_t k[16], v[100];
        for (size_t j = 0; j < sizeof v; j++) v[j] = (uint8_t)test_rand(&s);
        snprintf((char *)k, sizeof k, "k%014u", i);
        rc = cairn_batch_put(b, t, k, sizeof k, v, sizeof v);
    }
    if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    return rc == CAIRN_OK ? cairn_checkpoint(db) : rc;
}

/* A table of TABLE_KEYS keys in a repository at dir, closed, written twice: all keys, then one
 * in SCATTER_EVERY changed, so that in key order the leaves alternate between the pack bytes of
 * the first write and those of the second. A cursor's reads then never follow each other in a
 * pack, in either direction, and the store's own detection of reads in order (read_ahead() in
 * local.c) never starts: only the cursor's hint reads ahead of it. */
#define SCATTER_EVERY 70 /* about every other leaf */
static bool make_table(const char *dir)
{
    cairn_db *db = test_open_repo(dir);
    cairn_table *t;
    int rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    if (rc != CAIRN_OK) t = NULL;
    if (rc == CAIRN_OK) rc = put_keys(db, t, 1, 7);
    if (rc == CAIRN_OK) rc = put_keys(db, t, SCATTER_EVERY, 8);
    cairn_table_close(t);
    int crc = cairn_close(db);
    return rc == CAIRN_OK && crc == CAIRN_OK;
}

/* Drops dir's packs from the page cache, reads `steps` entries of table t with a cursor (forward
 * or backward) and no read-ahead workers, and checks that many more pages than the cursor read
 * itself arrive. Only the cursor's hint can bring them: make_table() lays the leaves out so that
 * the store's own detection of reads in order never starts. */
static void cursor_reads_ahead(bool forward)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    CHECK(make_table(dir));
    size_t left = packs_resident(dir, true);
    if (left > 4) {
        printf("    the page cache kept %zu pages of the packs after DONTNEED (tmpfs?): skipped\n",
               left);
        return;
    }
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    o.read_threads = CAIRN_READ_THREADS_NONE; /* only the cursor's thread reads */
    cairn_db *db;
    CHECK_OK(cairn_open(&db, dir, &o));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_cursor *cur;
    CHECK_OK(cairn_cursor_open(&cur, t, NULL, NULL));
    int (*step)(cairn_cursor *) = forward ? cairn_cursor_next : cairn_cursor_prev;
    CHECK_OK(step(cur)); /* positioned: the path to the first (last) leaf is read */
    size_t before = packs_resident(dir, false);
    for (int i = 1; i < CURSOR_STEPS; i++) CHECK_OK(step(cur));
    /* the cursor itself read at most a few leaves and a parent since: 16 KiB at most each */
    size_t read_itself = (CURSOR_STEPS / 20 + 2) * (16384 / PAGE);
    size_t want = before + read_itself + MORE_PAGES;
    size_t got = wait_packs(dir, want);
    cairn_cursor_close(cur);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_MSG(got >= want, "%zu pages of the packs resident after the cursor read %d entries "
              "%s (%zu before it moved, at most %zu read by the cursor itself): the leaves "
              "ahead were not read in", got, CURSOR_STEPS, forward ? "forward" : "backward",
              before, read_itself);
}

static void cursor_hints_backward(void) { cursor_reads_ahead(false); }
static void cursor_hints_forward(void) { cursor_reads_ahead(true); }

TEST_MAIN(local_hint_reads_ahead, local_hint_partly_resident, local_hint_harmless, local_hint_keeps_error,
          cursor_hints_backward, cursor_hints_forward)
