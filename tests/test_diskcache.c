/*
 * test_diskcache.c - the disk cache of remote stores (src/store/diskcache.c), over real stores:
 * a local pack store and a memory store forced behind the cache (store_diskcache_wrap), and
 * the s3 store against a real radosgw (the case s3, run by ctest as test_diskcache_s3 with the
 * s3_server fixture; skipped without it).
 *
 * What is shown: the conformance suite passes through the cache; a second open reads from the
 * cache (counters; chunks deleted from the store behind its back are still served; on s3 the
 * request counter does not grow); a damaged entry is dropped and fetched again, never served;
 * the directory stays within its bound; two processes filling one directory at once leave it
 * whole; CAIRN_CACHE=off, CAIRN_CACHE_SIZE=0 and the setting cache.size=0 turn it off.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "store_suite.h"
#include "test.h"

#define CHUNK_LEN 3000

/* ---- helpers ---- */

/* Chunk i of family salt: suite_key's key and suite_fill's bytes. */
static int put_chunk(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    uint8_t data[CHUNK_LEN];
    suite_key(&k, salt, i);
    suite_fill(data, sizeof data, &k);
    return st->put(st, &k, data, sizeof data);
}

/* Whether chunk i reads back whole and right through st. */
static int check_chunk(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    uint8_t want[CHUNK_LEN];
    cairn_buf b = CAIRN_BUF_INIT;
    suite_key(&k, salt, i);
    suite_fill(want, sizeof want, &k);
    int rc = st->get(st, &b, &k);
    if (rc == CAIRN_OK && (b.len != sizeof want || memcmp(b.data, want, sizeof want) != 0))
        rc = cairn_store_error(CAIRN_ECORRUPT, "chunk %llu read back wrong", (unsigned long long)i);
    cairn_buf_dispose(&b);
    return rc;
}

static cairn_store_stats stats_of(cairn_store *st)
{
    cairn_store_stats s;
    memset(&s, 0, sizeof s);
    if (st->stat(st, &s) != CAIRN_OK) memset(&s, 0xff, sizeof s);
    return s;
}

/* The bytes the cache files in dir hold, and how many there are. */
static uint64_t dir_bytes(const char *dir, int *nfiles)
{
    uint64_t total = 0;
    *nfiles = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (strstr(de->d_name, ".cch") && stat(path, &st) == 0) {
            total += (uint64_t)st.st_size;
            (*nfiles)++;
        }
    }
    if (d) closedir(d);
    return total;
}

/* The repository's subdirectory of cache root `root` (there is one in these tests). */
static bool sub_dir(const char *root, char *out, size_t cap)
{
    DIR *d = opendir(root);
    struct dirent *de;
    bool found = false;
    while (d && !found && (de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 32) {
            snprintf(out, cap, "%s/%s", root, de->d_name);
            found = true;
        }
    if (d) closedir(d);
    return found;
}

/* The first sealed segment in the repository's directory under root (its path into out). */
static bool first_segment(const char *root, char *out, size_t cap)
{
    char dir[4300];
    if (!sub_dir(root, dir, sizeof dir)) return false;
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;
    while (d && !found && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "seg-", 4) == 0) {
            snprintf(out, cap, "%s/%s", dir, de->d_name);
            found = true;
        }
    if (d) closedir(d);
    return found;
}

/* A fresh store path and cache directory (4200 bytes each) in a new temporary directory. */
static void fresh_paths(char *path, char *dir)
{
    const char *t = test_tmpdir();
    snprintf(path, 4200, "%s/repo", t);
    snprintf(dir, 4200, "%s/cache", t);
}

/* A local store at path (created when create) behind a cache in dir bounded to bound bytes. */
static int open_cached_local(cairn_store **out, const char *path, bool create, const char *dir,
                             uint64_t bound)
{
    cairn_store *in;
    TRY(store_local_open(&in, path, create ? CAIRN_OPEN_CREATE : 0, 0));
    TRY(store_diskcache_wrap(out, in, dir, path, bound));
    return store_diskcache_active(*out) ? CAIRN_OK
                                        : cairn_store_error(CAIRN_EIO, "no disk cache at %s", dir);
}

/* ---- the conformance suite through the cache ---- */

typedef struct wrap_ctx {
    char path[4096], dir[4096];
} wrap_ctx;

static int wrap_create(cairn_store **out, void *ctx)
{
    wrap_ctx *c = ctx;
    const char *t = test_tmpdir();
    snprintf(c->path, sizeof c->path, "%s/repo", t);
    snprintf(c->dir, sizeof c->dir, "%s/cache", t);
    return open_cached_local(out, c->path, true, c->dir, 8u << 20);
}

static int wrap_reopen(cairn_store **out, void *ctx)
{
    wrap_ctx *c = ctx;
    return open_cached_local(out, c->path, false, c->dir, 8u << 20);
}

static void conformance_local(void)
{
    wrap_ctx c;
    store_opener o = { "diskcache over local", wrap_create, wrap_reopen, &c };
    store_suite_run(&o);
}

static int mem_create(cairn_store **out, void *ctx)
{
    (void)ctx;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmpdir());
    cairn_store *in;
    TRY(store_mem_open(&in));
    return store_diskcache_wrap(out, in, dir, "mem", 1u << 20); /* small: segments turn over */
}

static void conformance_mem(void)
{
    store_opener o = { "diskcache over mem", mem_create, NULL, NULL };
    store_suite_run(&o);
}

/* ---- reads come from the cache ---- */

/* A second open reads from the cache: hits counted, and chunks deleted from the store behind
 * the cache's back (by another handle) are still served, with the right bytes. */
static void second_open_hits(void)
{
    enum { N = 200 };
    char path[4200], dir[4200];
    fresh_paths(path, dir);
    cairn_store *st;
    CHECK_OK(open_cached_local(&st, path, true, dir, 64u << 20));
    for (int i = 0; i < N; i++) CHECK_OK(put_chunk(st, 7, (uint64_t)i));
    CHECK_OK(st->flush(st));
    st->close(st);

    cairn_store *raw; /* the store alone: its chunks go, the cache does not know */
    CHECK_OK(store_local_open(&raw, path, 0, 0));
    for (int i = 0; i < N; i++) {
        cairn_id k;
        suite_key(&k, 7, (uint64_t)i);
        CHECK_OK(raw->del(raw, &k));
    }
    CHECK_OK(raw->flush(raw));
    raw->close(raw);

    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    for (int i = 0; i < N; i++) CHECK_OK(check_chunk(st, 7, (uint64_t)i));
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_hits, N);
    CHECK_EQ(s.cache_misses, 0);
    CHECK_EQ(s.cache_damaged, 0);
    CHECK(s.cache_bytes > (uint64_t)N * CHUNK_LEN);
    CHECK_EQ(s.cache_bound, 64u << 20);
    CHECK(s.cache_dir && strncmp(s.cache_dir, dir, strlen(dir)) == 0);
    /* a delete through the cache is remembered across opens */
    cairn_id k0;
    suite_key(&k0, 7, 0);
    CHECK_OK(st->del(st, &k0));
    CHECK_RC(check_chunk(st, 7, 0), CAIRN_ENOTFOUND);
    st->close(st);
    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    CHECK_RC(check_chunk(st, 7, 0), CAIRN_ENOTFOUND);
    CHECK_OK(check_chunk(st, 7, 1));
    st->close(st);
}

/* get_many delivers hits from the cache and fetches only the misses, each under its index. */
typedef struct got {
    uint64_t salt;
    const uint64_t *which;
    int good, bad;
} got;

static int got_cb(size_t i, int rc, const void *data, size_t len, void *p)
{
    got *g = p;
    cairn_id k;
    uint8_t want[CHUNK_LEN];
    suite_key(&k, g->salt, g->which[i]);
    suite_fill(want, sizeof want, &k);
    if (rc == CAIRN_OK && len == sizeof want && memcmp(data, want, len) == 0) g->good++;
    else g->bad++;
    return 0;
}

static void get_many_mixed(void)
{
    enum { N = 100 };
    char path[4200], dir[4200];
    fresh_paths(path, dir);
    cairn_store *raw;
    CHECK_OK(store_local_open(&raw, path, CAIRN_OPEN_CREATE, 0));
    for (int i = 0; i < N; i++) CHECK_OK(put_chunk(raw, 9, (uint64_t)i));
    CHECK_OK(raw->flush(raw));
    raw->close(raw);
    cairn_store *st;
    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    for (int i = 0; i < N; i += 2) CHECK_OK(check_chunk(st, 9, (uint64_t)i)); /* evens cached */
    cairn_store_stats s0 = stats_of(st);
    uint64_t which[N];
    cairn_id keys[N];
    for (int i = 0; i < N; i++) {
        which[i] = (uint64_t)(N - 1 - i);
        suite_key(&keys[i], 9, which[i]);
    }
    got g = { 9, which, 0, 0 };
    CHECK_OK(cairn_store_get_many(st, keys, N, got_cb, &g));
    cairn_store_stats s1 = stats_of(st);
    CHECK_EQ(g.good, N);
    CHECK_EQ(g.bad, 0);
    CHECK_EQ(s1.cache_hits - s0.cache_hits, N / 2);
    CHECK_EQ(s1.cache_misses - s0.cache_misses, N / 2);
    st->close(st);
}

/* ---- damage ---- */

/* A flipped byte in a cached chunk: the entry is found damaged, dropped, and the chunk fetched
 * again from the store (the right bytes returned); the next open reads the new copy. */
static void damaged_entry_refetched(void)
{
    enum { N = 20 };
    char path[4200], dir[4200], seg[8800];
    fresh_paths(path, dir);
    cairn_store *st;
    CHECK_OK(open_cached_local(&st, path, true, dir, 64u << 20));
    for (int i = 0; i < N; i++) CHECK_OK(put_chunk(st, 11, (uint64_t)i));
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK(first_segment(dir, seg, sizeof seg));
    /* the first record's data starts after the 16-byte segment header and its 48-byte header */
    int fd = open(seg, O_RDWR);
    CHECK(fd >= 0);
    uint8_t byte;
    CHECK_EQ(pread(fd, &byte, 1, 16 + 48 + 100), 1);
    byte ^= 0x40;
    CHECK_EQ(pwrite(fd, &byte, 1, 16 + 48 + 100), 1);
    close(fd);

    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    /* mapped reads (what the chunk layer asks first): the damaged one is refused */
    for (int i = 0; i < N; i++) {
        cairn_id k;
        uint8_t want[CHUNK_LEN];
        const uint8_t *p;
        size_t len;
        suite_key(&k, 11, (uint64_t)i);
        suite_fill(want, sizeof want, &k);
        int rc = st->get_mapped(st, &p, &len, &k);
        if (i == 0) CHECK_RC(rc, CAIRN_EUNSUPPORTED);
        else {
            CHECK_OK(rc);
            CHECK_MEM(p, len, want, sizeof want);
        }
    }
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_damaged, 1);
    CHECK_EQ(s.cache_hits, N - 1);
    for (int i = 0; i < N; i++) CHECK_OK(check_chunk(st, 11, (uint64_t)i)); /* copying reads */
    s = stats_of(st);
    CHECK_EQ(s.cache_damaged, 1);
    CHECK_EQ(s.cache_hits, 2 * N - 2);
    CHECK_EQ(s.cache_misses, 1); /* chunk 0, fetched again from the store */
    st->close(st);
    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    for (int i = 0; i < N; i++) CHECK_OK(check_chunk(st, 11, (uint64_t)i));
    s = stats_of(st);
    CHECK_EQ(s.cache_hits, N); /* the fresh copy, in a newer segment, wins */
    CHECK_EQ(s.cache_damaged, 0);
    st->close(st);
}

/* A segment whose index is damaged is removed at open (its chunks are only misses then). */
static void damaged_index_removed(void)
{
    char path[4200], dir[4200], seg[8800];
    fresh_paths(path, dir);
    cairn_store *st;
    CHECK_OK(open_cached_local(&st, path, true, dir, 64u << 20));
    for (int i = 0; i < 10; i++) CHECK_OK(put_chunk(st, 12, (uint64_t)i));
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK(first_segment(dir, seg, sizeof seg));
    struct stat sb;
    CHECK_EQ(stat(seg, &sb), 0);
    CHECK_EQ(truncate(seg, sb.st_size - 5), 0); /* a torn trailer */
    CHECK_OK(open_cached_local(&st, path, false, dir, 64u << 20));
    CHECK(stat(seg, &sb) != 0); /* gone */
    for (int i = 0; i < 10; i++) CHECK_OK(check_chunk(st, 12, (uint64_t)i));
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_hits, 0);
    CHECK_EQ(s.cache_misses, 10);
    st->close(st);
}

/* ---- the bound ---- */

/* Filling far past the bound keeps the directory within it plus one segment (the one being
 * written: bound / 16); the newest chunks are the ones kept. */
static void bound_respected(void)
{
    enum { N = 1500 };                 /* 4.5 MB of chunks */
    const uint64_t bound = 1u << 20;   /* 1 MiB: 64 KiB segments */
    char path[4200], dir[4200];
    fresh_paths(path, dir);
    cairn_store *st;
    CHECK_OK(open_cached_local(&st, path, true, dir, bound));
    int nfiles = 0;
    uint64_t most = 0;
    char sub[4300];
    CHECK(sub_dir(dir, sub, sizeof sub));
    for (int i = 0; i < N; i++) {
        CHECK_OK(put_chunk(st, 13, (uint64_t)i));
        uint64_t now = dir_bytes(sub, &nfiles);
        most = MAX(most, now);
    }
    CHECK_OK(st->flush(st));
    printf("    largest directory while filling: %llu bytes (bound %llu)\n",
           (unsigned long long)most, (unsigned long long)bound);
    CHECK(most <= bound + (bound / 16));
    st->close(st);
    CHECK(dir_bytes(sub, &nfiles) <= bound);
    CHECK_OK(open_cached_local(&st, path, false, dir, bound));
    CHECK_OK(check_chunk(st, 13, N - 1));
    CHECK_OK(check_chunk(st, 13, 0));
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_hits, 1);   /* the newest is kept */
    CHECK_EQ(s.cache_misses, 1); /* the oldest is gone */
    st->close(st);
}

/* The bound is for the whole root: filling a second repository's cache evicts the first's
 * oldest segments, and the root stays within the bound plus one segment. */
static void bound_shared(void)
{
    const uint64_t bound = 1u << 20;
    char root[4200];
    snprintf(root, sizeof root, "%s/cache", test_tmpdir());
    const char *idents[2] = { "s3://a/x", "s3://b/y" };
    for (int r = 0; r < 2; r++) {
        cairn_store *in, *st;
        CHECK_OK(store_mem_open(&in));
        CHECK_OK(store_diskcache_wrap(&st, in, root, idents[r], bound));
        for (int i = 0; i < 300; i++) CHECK_OK(put_chunk(st, 31 + (uint64_t)r, (uint64_t)i));
        st->close(st);
    }
    uint64_t total = 0;
    DIR *d = opendir(root);
    struct dirent *de;
    int subs = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 32) continue;
        char sub[4300];
        int n;
        snprintf(sub, sizeof sub, "%s/%s", root, de->d_name);
        total += dir_bytes(sub, &n);
        subs++;
    }
    if (d) closedir(d);
    CHECK_EQ(subs, 2);
    CHECK(total <= bound);
    cairn_store *in, *st; /* the first repository's newest chunk survived, its oldest did not */
    CHECK_OK(store_mem_open(&in));
    CHECK_OK(store_diskcache_wrap(&st, in, root, idents[0], bound));
    CHECK_RC(check_chunk(st, 31, 0), CAIRN_ENOTFOUND);
    st->close(st);
}

/* Many short-lived handles each seal a small segment; past 16 of them an open merges them into
 * one: the segment count stays low, every chunk still hits, a deleted one stays deleted. */
static void small_segments_merged(void)
{
    enum { HANDLES = 40 };
    char root[4200], sub[4300];
    snprintf(root, sizeof root, "%s/cache", test_tmpdir());
    cairn_store *in, *st;
    for (int h = 0; h < HANDLES; h++) {
        CHECK_OK(store_mem_open(&in));
        CHECK_OK(put_chunk(in, 41, (uint64_t)h));
        CHECK_OK(store_diskcache_wrap(&st, in, root, "many", 64u << 20));
        CHECK_OK(check_chunk(st, 41, (uint64_t)h)); /* a miss: cached, sealed at close */
        if (h == 3) {
            cairn_id k;
            suite_key(&k, 41, 3);
            CHECK_OK(st->del(st, &k));
        }
        st->close(st);
    }
    CHECK(sub_dir(root, sub, sizeof sub));
    int nfiles;
    dir_bytes(sub, &nfiles);
    printf("    %d handles left %d segments\n", HANDLES, nfiles);
    CHECK(nfiles <= 17);
    CHECK_OK(store_mem_open(&in)); /* empty: only the cache can answer */
    CHECK_OK(store_diskcache_wrap(&st, in, root, "many", 64u << 20));
    for (int h = 0; h < HANDLES; h++) {
        if (h == 3) CHECK_RC(check_chunk(st, 41, 3), CAIRN_ENOTFOUND);
        else CHECK_OK(check_chunk(st, 41, (uint64_t)h));
    }
    CHECK_EQ(stats_of(st).cache_hits, HANDLES - 1);
    st->close(st);
}

/* ---- two processes ---- */

/* Two processes fill one cache directory at once (overlapping chunks, over their own memory
 * stores holding the same data); afterwards a third reads every chunk from the cache alone
 * (its store is empty: a miss would be ENOTFOUND) and every byte is right. */
static void two_processes(void)
{
    enum { N = 2000, OVERLAP = 500 };
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmpdir());
    pid_t kids[2];
    for (int p = 0; p < 2; p++) {
        kids[p] = test_fork();
        CHECK(kids[p] >= 0);
        if (kids[p] == 0) {
            cairn_store *in, *st;
            int lo = p ? N - OVERLAP : 0, hi = p ? 2 * N - OVERLAP : N;
            if (store_mem_open(&in) != CAIRN_OK) _exit(2);
            for (int i = lo; i < hi; i++)
                if (put_chunk(in, 17, (uint64_t)i) != CAIRN_OK) _exit(3);
            if (store_diskcache_wrap(&st, in, dir, "shared", 256u << 20) != CAIRN_OK) _exit(4);
            for (int i = lo; i < hi; i++)
                if (check_chunk(st, 17, (uint64_t)i) != CAIRN_OK) _exit(5);
            st->close(st);
            _exit(0);
        }
    }
    for (int p = 0; p < 2; p++) {
        int status;
        CHECK_EQ(waitpid(kids[p], &status, 0), kids[p]);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0);
    }
    cairn_store *in, *st;
    CHECK_OK(store_mem_open(&in));
    CHECK_OK(store_diskcache_wrap(&st, in, dir, "shared", 256u << 20));
    for (int i = 0; i < 2 * N - OVERLAP; i++) CHECK_OK(check_chunk(st, 17, (uint64_t)i));
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_hits, 2 * N - OVERLAP);
    CHECK_EQ(s.cache_damaged, 0);
    st->close(st);
}

/* A process sees the segments another sealed after it opened (when a miss finds the directory
 * changed). */
static void sees_other_process(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", test_tmpdir());
    cairn_store *in, *st;
    CHECK_OK(store_mem_open(&in));
    CHECK_OK(store_diskcache_wrap(&st, in, dir, "shared", 64u << 20));
    pid_t kid = test_fork();
    CHECK(kid >= 0);
    if (kid == 0) {
        cairn_store *kin, *kst;
        if (store_mem_open(&kin) != CAIRN_OK) _exit(2);
        for (int i = 0; i < 50; i++)
            if (put_chunk(kin, 19, (uint64_t)i) != CAIRN_OK) _exit(3);
        if (store_diskcache_wrap(&kst, kin, dir, "shared", 64u << 20) != CAIRN_OK) _exit(4);
        for (int i = 0; i < 50; i++)
            if (check_chunk(kst, 19, (uint64_t)i) != CAIRN_OK) _exit(5);
        kst->close(kst); /* seals its segment */
        _exit(0);
    }
    int status;
    CHECK_EQ(waitpid(kid, &status, 0), kid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 50; i++) CHECK_OK(check_chunk(st, 19, (uint64_t)i));
    CHECK_EQ(stats_of(st).cache_hits, 50);
    st->close(st);
}

/* ---- off ---- */

/* The URL dispatch wraps only remote stores unless CAIRN_CACHE=on; CAIRN_CACHE=off and
 * CAIRN_CACHE_SIZE=0 leave every store unwrapped; nothing is written then. */
static void cache_off(void)
{
    const char *t = test_tmpdir();
    char path[4200], root[4200];
    snprintf(path, sizeof path, "%s/repo", t);
    snprintf(root, sizeof root, "%s/root", t);
    setenv("CAIRN_CACHE_DIR", root, 1);
    cairn_store *st;
    unsetenv("CAIRN_CACHE");
    CHECK_OK(cairn_store_open_url(&st, path, CAIRN_OPEN_CREATE, 0));
    CHECK(!store_diskcache_active(st)); /* a local store is not remote */
    st->close(st);
    setenv("CAIRN_CACHE", "off", 1);
    CHECK_OK(cairn_store_open_url(&st, path, 0, 0));
    CHECK(!store_diskcache_active(st));
    st->close(st);
    setenv("CAIRN_CACHE", "on", 1);
    setenv("CAIRN_CACHE_SIZE", "0", 1);
    CHECK_OK(cairn_store_open_url(&st, path, 0, 0));
    CHECK(!store_diskcache_active(st));
    st->close(st);
    struct stat sb;
    CHECK(stat(root, &sb) != 0); /* nothing made */
    setenv("CAIRN_CACHE_SIZE", "2M", 1);
    CHECK_OK(cairn_store_open_url(&st, path, 0, 0));
    CHECK(store_diskcache_active(st));
    CHECK_OK(put_chunk(st, 21, 0));
    cairn_store_stats s = stats_of(st);
    CHECK_EQ(s.cache_bound, 2u << 20);
    CHECK(s.cache_dir && strncmp(s.cache_dir, root, strlen(root)) == 0);
    st->close(st);
    unsetenv("CAIRN_CACHE");
    unsetenv("CAIRN_CACHE_SIZE");
    unsetenv("CAIRN_CACHE_DIR");
}

/* The bytes of the regular files under dir, at any depth. */
static uint64_t tree_bytes(const char *dir)
{
    uint64_t total = 0;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) total += tree_bytes(path);
        else if (S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    if (d) closedir(d);
    return total;
}

/* A clone reads the far side through no disk cache: each chunk is read once, and the copy is the
 * new repository itself (the cache got every chunk of the clone too, doubling its writes). */
static void clone_uncached(void)
{
    const char *t = test_tmpdir();
    char src[4200], dst[4200], root[4200];
    snprintf(src, sizeof src, "%s/src", t);
    snprintf(dst, sizeof dst, "%s/dst", t);
    snprintf(root, sizeof root, "%s/root", t);
    setenv("CAIRN_CACHE", "off", 1);
    cairn_db *db = test_open_repo(src);
    cairn_table *tb;
    CHECK_OK(cairn_table_open(&tb, db, "t", CAIRN_TABLE_CREATE));
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        v[0] = (char)i;
        CHECK_OK(cairn_put(tb, k, strlen(k), v, sizeof v));
    }
    cairn_table_close(tb);
    CHECK_OK(test_commit(db, "data", NULL));
    CHECK_OK(cairn_close(db));
    uint64_t src_bytes = tree_bytes(src);
    setenv("CAIRN_CACHE", "on", 1); /* every store would be cached: local ones stand for remote */
    setenv("CAIRN_CACHE_DIR", root, 1);
    cairn_transfer_stats st;
    CHECK_OK(cairn_clone(&st, src, dst, NULL));
    CHECK(st.chunks > 10);
    uint64_t cached = tree_bytes(root);
    CHECK_MSG(cached == 0, "the clone cached %llu bytes of a %llu-byte source",
              (unsigned long long)cached, (unsigned long long)src_bytes);
    unsetenv("CAIRN_CACHE");
    unsetenv("CAIRN_CACHE_DIR");
    db = test_open_repo(dst);
    CHECK_OK(cairn_table_open(&tb, db, "t", 0));
    void *val = NULL;
    size_t vl = 0;
    CHECK_OK(cairn_get(&val, &vl, tb, NULL, "key004999", 9));
    CHECK_EQ(vl, sizeof v);
    cairn_free(val);
    cairn_table_close(tb);
    CHECK_OK(cairn_close(db));
}

/* The repository settings cache.size and cache.dir reach the cache at open (CAIRN_CACHE=on
 * stands for a remote store here); cache.size 0 turns it off. */
static void settings_apply(void)
{
    const char *t = test_tmpdir();
    char path[4200], root[4200], other[4200];
    snprintf(path, sizeof path, "%s/repo", t);
    snprintf(root, sizeof root, "%s/root", t);
    snprintf(other, sizeof other, "%s/other", t);
    setenv("CAIRN_CACHE", "on", 1);
    unsetenv("CAIRN_CACHE_DIR"); /* the harness's: it would win over the setting */
    setenv("XDG_CACHE_HOME", root, 1);
    cairn_db *db = test_open_repo(path);
    cairn_db_stats ds;
    CHECK_OK(cairn_db_stats_get(&ds, db));
    CHECK(ds.disk_cache_dir && strncmp(ds.disk_cache_dir, root, strlen(root)) == 0);
    CHECK_EQ(ds.disk_cache_bound, 1ull << 30);
    CHECK_RC(cairn_config_set(db, "cache.size", "lots"), CAIRN_EINVAL);
    CHECK_RC(cairn_config_set(db, "cache.dir", "relative/dir"), CAIRN_EINVAL);
    CHECK_OK(cairn_config_set(db, "cache.size", "3M"));
    CHECK_OK(cairn_config_set(db, "cache.dir", other));
    CHECK_OK(cairn_close(db));
    db = test_open_repo(path);
    CHECK_OK(cairn_db_stats_get(&ds, db));
    CHECK(ds.disk_cache_dir && strncmp(ds.disk_cache_dir, other, strlen(other)) == 0);
    CHECK_EQ(ds.disk_cache_bound, 3u << 20);
    CHECK_OK(cairn_config_set(db, "cache.size", "0"));
    CHECK_OK(cairn_close(db));
    db = test_open_repo(path);
    CHECK_OK(cairn_db_stats_get(&ds, db));
    CHECK(ds.disk_cache_dir == NULL);
    CHECK_EQ(ds.disk_cache_bound, 0);
    CHECK_OK(cairn_close(db));
    unsetenv("CAIRN_CACHE");
    unsetenv("XDG_CACHE_HOME");
}

/* ---- s3 (radosgw) ---- */

static char endpoint[256];

static bool s3_env(void)
{
    const char *path = getenv("CAIRN_S3_ENV");
    char ak[128], sk[128];
    if (!path || !test_env_file_get(path, "S3_ENDPOINT", endpoint, sizeof endpoint) ||
        !test_env_file_get(path, "S3_ACCESS_KEY", ak, sizeof ak) ||
        !test_env_file_get(path, "S3_SECRET_KEY", sk, sizeof sk))
        return false;
    setenv("AWS_ACCESS_KEY_ID", ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
    unsetenv("AWS_SESSION_TOKEN");
    return true;
}

typedef struct s3w_ctx {
    char url[700], dir[4200];
} s3w_ctx;

static int s3w_open(cairn_store **out, s3w_ctx *c, unsigned flags)
{
    cairn_store *in;
    TRY(store_s3_open(&in, c->url, flags));
    return store_diskcache_wrap(out, in, c->dir, c->url, 8u << 20);
}

static int s3w_create(cairn_store **out, void *ctx)
{
    static int n;
    s3w_ctx *c = ctx;
    snprintf(c->url, sizeof c->url,
             "s3://cairn-test/dc%d-%llx-%d?endpoint=%s&timeout_ms=20000&pack_size=256k",
             (int)getpid(), (unsigned long long)test_seed, n++, endpoint);
    snprintf(c->dir, sizeof c->dir, "%s/cache", test_tmpdir());
    return s3w_open(out, c, CAIRN_OPEN_CREATE);
}

static int s3w_reopen(cairn_store **out, void *ctx) { return s3w_open(out, ctx, 0); }

/* Over radosgw: the conformance suite through the cache; a second open's reads hit the cache
 * and send no request; a repository in the bucket opened by URL reads through the cache (the
 * URL dispatch), its counters in cairn_db_stats. */
static void s3(void)
{
    if (!s3_env()) {
        printf("    no radosgw (CAIRN_S3_ENV): the s3 case is skipped (test_diskcache_s3 runs it)\n");
        return;
    }
    s3w_ctx c;
    store_opener o = { "diskcache over s3", s3w_create, s3w_reopen, &c };
    store_suite_run(&o);

    enum { N = 300 };
    cairn_store *st;
    CHECK_OK(s3w_create(&st, &c));
    for (int i = 0; i < N; i++) CHECK_OK(put_chunk(st, 23, (uint64_t)i));
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK_OK(s3w_open(&st, &c, CAIRN_OPEN_READONLY));
    cairn_store_stats s0 = stats_of(st);
    for (int i = 0; i < N; i++) CHECK_OK(check_chunk(st, 23, (uint64_t)i));
    cairn_store_stats s1 = stats_of(st);
    printf("    %d gets on a second open: %llu hits, %llu requests\n", N,
           (unsigned long long)(s1.cache_hits - s0.cache_hits),
           (unsigned long long)(s1.requests - s0.requests));
    CHECK_EQ(s1.cache_hits - s0.cache_hits, N);
    CHECK_EQ(s1.requests, s0.requests);
    st->close(st);

    /* a repository by URL: the dispatch wraps s3 in a cache under $CAIRN_CACHE_DIR */
    char root[4200], url[800];
    snprintf(root, sizeof root, "%s/root", test_tmpdir());
    setenv("CAIRN_CACHE_DIR", root, 1);
    snprintf(url, sizeof url, "s3://cairn-test/dcrepo%d-%llx?endpoint=%s&timeout_ms=20000",
             (int)getpid(), (unsigned long long)test_seed, endpoint);
    cairn_db *db = test_open_repo(url);
    cairn_table *tb;
    CHECK_OK(cairn_table_open(&tb, db, "t", CAIRN_TABLE_CREATE));
    enum { NPUT = 200 }; /* each put on a repository in s3 is its own durable upload */
    for (int i = 0; i < NPUT; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "key%06d", i);
        snprintf(v, sizeof v, "value %d", i * 7);
        CHECK_OK(cairn_put(tb, k, strlen(k), v, strlen(v)));
    }
    cairn_table_close(tb);
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_close(db));
    cairn_open_options ro = CAIRN_OPEN_OPTIONS_INIT;
    ro.flags = CAIRN_OPEN_READONLY;
    for (int round = 0; round < 2; round++) {
        CHECK_OK(cairn_open(&db, url, &ro));
        CHECK_OK(cairn_table_open(&tb, db, "t", 0));
        for (int i = 0; i < NPUT; i += 7) {
            char k[32], want[64];
            snprintf(k, sizeof k, "key%06d", i);
            snprintf(want, sizeof want, "value %d", i * 7);
            void *v;
            size_t vlen;
            CHECK_OK(cairn_get(&v, &vlen, tb, NULL, k, strlen(k)));
            CHECK_MEM(v, vlen, want, strlen(want));
            cairn_free(v);
        }
        cairn_table_close(tb);
        cairn_db_stats ds;
        CHECK_OK(cairn_db_stats_get(&ds, db));
        printf("    repository open %d: %llu requests, disk cache %llu hits %llu misses\n",
               round, (unsigned long long)ds.store_requests,
               (unsigned long long)ds.disk_cache_hits, (unsigned long long)ds.disk_cache_misses);
        CHECK(ds.disk_cache_dir && strncmp(ds.disk_cache_dir, root, strlen(root)) == 0);
        CHECK(ds.disk_cache_hits > 0); /* the writer's open filled it */
        CHECK_EQ(ds.disk_cache_misses, 0);
        CHECK_OK(cairn_close(db));
    }
    unsetenv("CAIRN_CACHE_DIR");
}

TEST_MAIN(conformance_local, conformance_mem, second_open_hits, get_many_mixed,
          damaged_entry_refetched, damaged_index_removed, clone_uncached, bound_respected, bound_shared, small_segments_merged,
          two_processes,
          sees_other_process, cache_off, settings_apply, s3)
