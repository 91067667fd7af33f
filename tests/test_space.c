/*
 * test_space.c - what a repository costs on disk, and what a failed init leaves:
 *  - a repository holding one key takes under 1 MiB (du of its directory, closed);
 *  - the log's segments follow the write rate: the first is small, each one filled fast is
 *    followed by one twice as big up to the largest, and a closed log holds no preallocation;
 *  - the segment sizes are repository settings (cairn config wal.segment_min / segment_max)
 *    that the next open uses, and bad values are refused;
 *  - opening a local store loads no pack index into memory (they are mapped and searched in
 *    place), whatever the size, and reads, dedup, deletes and counts stay exact;
 *  - `cairn init` (the command itself, linked in) that fails part-way (ENOSPC injected through
 *    base/sys at every write and preallocation it makes, one after the other) leaves nothing
 *    behind, not even in an empty directory it was given, and a later init succeeds.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "test.h"

#include "base/sys.h"
#include "cli/args.h"
#include "store/local_int.h"
#include "store/store.h"
#include "store_suite.h"
#include "wal/wal.h"

int cmd_init(const cli_args *a); /* src/cli/cmd_repo.c */

typedef struct du {
    uint64_t allocated, apparent;
    unsigned files;
} du;

static void du_walk(const char *path, du *u)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    if (!S_ISDIR(sb.st_mode)) {
        u->allocated += (uint64_t)sb.st_blocks * 512;
        u->apparent += (uint64_t)sb.st_size;
        u->files++;
        return;
    }
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        du_walk(sub, u);
    }
    if (d) closedir(d);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Opens (making it) a repository in a new directory: path gets its name. */
static int open_new(cairn_db **db, char path[4096])
{
    snprintf(path, 4096, "%s/repo", test_tmpdir());
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    return cairn_open(db, path, &o);
}

static void one_key_under_a_mebibyte(void)
{
    char path[4096];
    cairn_db *db;
    cairn_table *t;
    CHECK_OK(open_new(&db, path));
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "key", 3, "value", 5));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    du u = { 0, 0, 0 };
    du_walk(path, &u);
    CHECK_MSG(u.allocated < (1u << 20) && u.apparent < (1u << 20),
              "one key takes %llu bytes allocated, %llu apparent in %u files",
              (unsigned long long)u.allocated, (unsigned long long)u.apparent, u.files);
    /* and it is still there */
    CHECK_OK(cairn_open(&db, path, NULL));
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *v;
    size_t vlen;
    CHECK_OK(cairn_get(&v, &vlen, t, NULL, "key", 3));
    CHECK_MEM(v, vlen, "value", 5);
    cairn_free(v);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* The log's segments, in the order of their first records: sizes[0] is their count, then
 * their sizes (firsts[] holds their first records while listing). */
static uint64_t firsts[64];

static int seg_size_cb(const char *name, uint64_t size, void *payload)
{
    uint64_t *sizes = payload;
    unsigned long long first;
    if (sscanf(name, "%16llx.wal", &first) != 1 || sizes[0] >= 63) return CAIRN_OK;
    size_t i = (size_t)sizes[0]++;
    for (; i > 0 && firsts[i - 1] > first; i--) { /* insertion sort */
        firsts[i] = firsts[i - 1];
        sizes[1 + i] = sizes[i];
    }
    firsts[i] = first;
    sizes[1 + i] = size;
    return CAIRN_OK;
}

#define REC_BYTES 8000
#define SEG_MIN (64u << 10)
#define SEG_MAX (512u << 10)

static void segments_follow_the_write_rate(void)
{
    cairn_store *st;
    CHECK_OK(store_files_open(&st, test_tmpdir(), CAIRN_OPEN_CREATE));
    wal_options o = { .store = st, .dir = "", .segment_bytes = SEG_MAX,
                      .segment_min_bytes = SEG_MIN, .retain_segments = 100 };
    wal *w;
    uint64_t last;
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    static uint8_t payload[REC_BYTES];
    /* enough for 64K + 128K + 256K + 512K + 512K: written at once, so "fast" */
    for (int i = 0; i < 1500 * 1024 / REC_BYTES; i++)
        CHECK_OK(wal_append(w, WAL_BATCH, payload, sizeof payload, false, NULL, NULL, &last));
    uint64_t sizes[64] = { 0 };
    CHECK_OK(st->file_list(st, "", seg_size_cb, sizes));
    CHECK(sizes[0] >= 5);
    /* sealed segments keep their size (segments are listed in name order: by first record) */
    CHECK_EQ(sizes[1], SEG_MIN);
    CHECK_EQ(sizes[2], 2 * SEG_MIN);
    CHECK_EQ(sizes[3], 4 * SEG_MIN);
    CHECK_EQ(sizes[4], SEG_MAX);
    for (uint64_t i = 5; i < sizes[0]; i++) CHECK(sizes[1 + i] <= SEG_MAX);
    wal_close(w);
    /* closed: the active segment holds only what was written */
    uint64_t after[64] = { 0 };
    CHECK_OK(st->file_list(st, "", seg_size_cb, after));
    CHECK_EQ(after[0], sizes[0]);
    CHECK(after[after[0]] < sizes[sizes[0]]);
    /* and everything reads back */
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    CHECK_EQ(last, 1500 * 1024 / REC_BYTES);
    CHECK_OK(wal_append(w, WAL_BATCH, payload, sizeof payload, true, NULL, NULL, &last));
    wal_close(w);
    CHECK_OK(wal_open(&w, &o, 0, NULL, NULL, &last));
    CHECK_EQ(last, 1500 * 1024 / REC_BYTES + 1);
    wal_close(w);
    st->close(st);
}

static void segment_sizes_are_settings(void)
{
    char path[4096];
    cairn_db *db;
    CHECK_OK(open_new(&db, path));
    CHECK_RC(cairn_config_set(db, "wal.segment_min", "12"), CAIRN_EINVAL);
    CHECK_RC(cairn_config_set(db, "wal.segment_min", "2X"), CAIRN_EINVAL);
    CHECK_RC(cairn_config_set(db, "wal.segment_max", "2G"), CAIRN_EINVAL);
    CHECK_OK(cairn_config_set(db, "wal.segment_min", "256K"));
    CHECK_OK(cairn_config_set(db, "wal.segment_max", "1M"));
    char *v;
    CHECK_OK(cairn_config_get(&v, db, "wal.segment_min"));
    CHECK_STR(v, "256K");
    cairn_free(v);
    CHECK_OK(cairn_close(db));
    /* the next open starts the log with a 256 KiB segment: write a little, look while open */
    CHECK_OK(cairn_open(&db, path, NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "k", 1, "v", 1));
    char seg[4200];
    snprintf(seg, sizeof seg, "%s/wal/main", path);
    uint64_t biggest = 0;
    DIR *d = opendir(seg);
    for (struct dirent *e; d && (e = readdir(d));) {
        char f[8400];
        struct stat sb;
        snprintf(f, sizeof f, "%s/%s", seg, e->d_name);
        if (strstr(e->d_name, ".wal") && stat(f, &sb) == 0 && (uint64_t)sb.st_size > biggest)
            biggest = (uint64_t)sb.st_size;
    }
    if (d) closedir(d);
    cairn_table_close(t);
    CHECK_EQ(biggest, 256u << 10);
    CHECK_OK(cairn_close(db));
}

#define MAPPED_CHUNKS 3000
#define MAPPED_LEN 100

static bool chunk_is(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    uint8_t want[MAPPED_LEN];
    suite_key(&k, salt, i);
    suite_fill(want, sizeof want, &k);
    cairn_buf b = CAIRN_BUF_INIT;
    bool ok = st->get(st, &b, &k) == CAIRN_OK && b.len == sizeof want &&
              memcmp(b.data, want, sizeof want) == 0;
    cairn_buf_dispose(&b);
    return ok;
}

static int put_chunk(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    uint8_t v[MAPPED_LEN];
    suite_key(&k, salt, i);
    suite_fill(v, sizeof v, &k);
    return st->put(st, &k, v, sizeof v);
}

static void open_maps_indexes(void)
{
    const char *dir = test_tmpdir();
    cairn_store *st;
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    for (uint64_t i = 0; i < MAPPED_CHUNKS; i++) CHECK_OK(put_chunk(st, 1, i));
    CHECK_OK(st->flush(st));
    st->close(st);
    /* open: the index is mapped, nothing is loaded into the hash table */
    CHECK_OK(store_local_open(&st, dir, 0, 0));
    local_store *ls = (local_store *)st;
    CHECK_EQ(ls->nmapped, 1);
    CHECK_EQ(ls->n, 0);
    for (uint64_t i = 0; i < MAPPED_CHUNKS; i++) CHECK(chunk_is(st, 1, i));
    cairn_id absent;
    suite_key(&absent, 2, 0);
    CHECK_RC(st->has(st, &absent), CAIRN_ENOTFOUND);
    CHECK_OK(put_chunk(st, 1, 7)); /* present in the mapped index: nothing written */
    CHECK_EQ(ls->n, 0);
    CHECK_OK(put_chunk(st, 2, 0));
    CHECK_EQ(ls->n, 1);
    CHECK_EQ(ls->nmapped, 1);
    /* a delete needs the whole index: merged, exact */
    cairn_id gone;
    suite_key(&gone, 1, 5);
    CHECK_OK(st->del(st, &gone));
    CHECK_EQ(ls->nmapped, 0);
    CHECK_EQ(ls->n, MAPPED_CHUNKS);
    CHECK_RC(st->has(st, &gone), CAIRN_ENOTFOUND);
    CHECK_OK(st->flush(st));
    st->close(st);
    /* again: mapped (the last pack's index was rewritten whole at close), the tombstone in it */
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_READONLY, 0));
    ls = (local_store *)st;
    CHECK_EQ(ls->nmapped, 1);
    CHECK_EQ(ls->n, 0);
    CHECK_RC(st->has(st, &gone), CAIRN_ENOTFOUND);
    CHECK(chunk_is(st, 2, 0));
    for (uint64_t i = 0; i < MAPPED_CHUNKS; i++) CHECK(i == 5 || chunk_is(st, 1, i));
    cairn_store_stats ss;
    CHECK_OK(st->stat(st, &ss));
    CHECK_EQ(ss.chunks, MAPPED_CHUNKS);
    st->close(st);
}

/* Runs `cairn init DIR` in this process; returns its exit code. */
static int run_init(const char *dir)
{
    cli_args a;
    memset(&a, 0, sizeof a);
    a.dir = ".";
    a.cmd = "init";
    a.pos[0] = dir;
    a.npos = 1;
    return cmd_init(&a);
}

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    bool empty = d != NULL;
    for (struct dirent *e; d && empty && (e = readdir(d));)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    if (d) closedir(d);
    return empty;
}

static void failed_init_leaves_nothing(void)
{
    static const sys_op ops[] = { SYS_WRITE, SYS_ALLOCATE, SYS_MKDIR, SYS_FSYNC, SYS_RENAME };
    const char *base = test_tmpdir();
    unsigned failures = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        for (uint64_t nth = 1;; nth++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/r%zu-%llu", base, k, (unsigned long long)nth);
            bool given_empty = nth % 2 == 0; /* every other time: an empty directory given */
            if (given_empty) CHECK(mkdir(path, 0755) == 0);
            sys_fault(ops[k], nth, ENOSPC, true);
            int code = run_init(path);
            sys_fault_clear();
            cairn_error_clear();
            if (code == 0) {
                CHECK(exists(path));
                break; /* the fault came after init was done (or never came) */
            }
            failures++;
            if (given_empty) CHECK_MSG(exists(path) && dir_empty(path),
                                       "a failed init (%zu, fault %llu) left files in %s", k,
                                       (unsigned long long)nth, path);
            else CHECK_MSG(!exists(path), "a failed init (%zu, fault %llu) left %s behind", k,
                           (unsigned long long)nth, path);
            /* and a second init there succeeds */
            CHECK_EQ(run_init(path), 0);
            CHECK(nth < 1000);
        }
    }
    CHECK(failures > 0);
}

TEST_MAIN(one_key_under_a_mebibyte, segments_follow_the_write_rate, segment_sizes_are_settings,
          open_maps_indexes, failed_init_leaves_nothing)
