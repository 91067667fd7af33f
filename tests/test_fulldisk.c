/*
 * test_fulldisk.c - a repository on a small tmpfs filled to the brim (issue 10, "Full disks"):
 * opening, reading, verify and a reader work; a failed write says truthfully what was lost
 * (nothing acknowledged); gc frees space before it needs any (whole packs of garbage first) and
 * succeeds; a torn pack tail is kept in place when there is no room to set it aside (nothing
 * cut, verify names it, writes go on once room is freed, and the next open sets it aside); a
 * create that fails leaves nothing; the log needs no new segment to open. The test mounts its
 * own tmpfs (it must run as root; otherwise it says so and checks nothing, rather than pretend).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/sys/store.h"
#include "store/store.h"
#include "test.h"

#define NKEYS 3000

static char mnt[4300];

static void unmount(void *arg)
{
    (void)arg;
    umount2(mnt, MNT_DETACH);
}

/* Mounts a tmpfs of `mib` MiB; false when this process may not. */
static bool mount_small(unsigned mib)
{
    snprintf(mnt, sizeof mnt, "%s/mnt", test_tmpdir());
    if (mkdir(mnt, 0755) != 0) return false;
    char opt[64];
    snprintf(opt, sizeof opt, "size=%um", mib);
    if (mount("tmpfs", mnt, "tmpfs", 0, opt) != 0) {
        fprintf(stderr, "  cannot mount a tmpfs (%s): this case needs root\n", strerror(errno));
        return false;
    }
    test_defer(unmount, NULL);
    return true;
}

/* Fills the file system of dir until a write fails with ENOSPC. */
static void fill(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static char block[65536];
    memset(block, 'x', sizeof block);
    size_t n = sizeof block;
    while (fd >= 0 && n >= 1) {
        if (write(fd, block, n) < 0) n /= 2;
    }
    if (fd >= 0) close(fd);
}

typedef struct logs {
    int warnings;
    int pin_notes;    /* messages above debug about a reader's missing pin file */
    char text[16384];
} logs;

static void on_log(cairn_log_level level, const char *message, void *payload)
{
    logs *l = payload;
    if (level <= CAIRN_LOG_INFO && strstr(message, "pin file")) l->pin_notes++;
    if (level > CAIRN_LOG_WARN) return;
    l->warnings++;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", message);
}

/* Every message above debug. */
static void on_log_all(cairn_log_level level, const char *message, void *payload)
{
    logs *l = payload;
    if (level > CAIRN_LOG_INFO) return;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", message);
}

static void key_of(char *k, size_t n, int i) { snprintf(k, n, "key%06d", i); }

static int open_small(cairn_db **db, const char *url, unsigned flags)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = flags;
    o.wal_segment_bytes = 256u << 10;
    return cairn_open(db, url, &o);
}

/* How many of the NKEYS keys of "t" hold a value of vlen bytes (that begins with the key, when
 * `own`: what put_keys() wrote). */
static int count_keys_len(cairn_db *db, size_t vlen, bool own)
{
    cairn_table *t;
    if (cairn_table_open(&t, db, "t", 0)) return -1;
    int ok = 0;
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        key_of(k, sizeof k, i);
        void *v;
        size_t vl;
        if (cairn_get(&v, &vl, t, NULL, k, strlen(k)) == CAIRN_OK) {
            ok += vl == vlen && (!own || memcmp(v, k, strlen(k)) == 0);
            cairn_free(v);
        }
    }
    cairn_table_close(t);
    return ok;
}

static int count_keys(cairn_db *db) { return count_keys_len(db, 100, true); }

/* The value of key k (100 bytes, starting with k). */
static void value_of(char *v, const char *k)
{
    memset(v, 'v', 100);
    memcpy(v, k, strlen(k));
}

/* Puts NKEYS keys in table "t" (created) and, unless NULL, in table `also`; commits. */
static void put_keys(cairn_db *db, const char *also)
{
    cairn_table *t, *g = NULL;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    if (also) CHECK_OK(cairn_table_open(&g, db, also, CAIRN_TABLE_CREATE));
    char v[100];
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        key_of(k, sizeof k, i);
        value_of(v, k);
        CHECK_OK(cairn_put(t, k, strlen(k), v, sizeof v));
        if (g) CHECK_OK(cairn_put(g, k, strlen(k), v, sizeof v));
    }
    cairn_table_close(t);
    cairn_table_close(g);
    CHECK_OK(test_commit(db, "data", NULL));
}

/* A repository with NKEYS committed keys, a deleted table's garbage for gc, on a full disk. */
static void build_full(const char *url)
{
    cairn_db *db;
    CHECK_OK(open_small(&db, url, CAIRN_OPEN_CREATE));
    put_keys(db, "garbage");
    CHECK_OK(cairn_table_drop(db, "garbage"));
    CHECK_OK(test_commit(db, "drop", NULL));
    CHECK_OK(cairn_close(db));
    fill(mnt);
}

static void operations_on_a_full_disk(void)
{
    if (!mount_small(16)) return;
    char url[4400];
    snprintf(url, sizeof url, "%s/repo", mnt);
    build_full(url);
    static logs lg;
    memset(&lg, 0, sizeof lg);
    cairn_set_log(on_log, &lg);
    /* readers: open, read everything; one quiet word about their pins in the process at most */
    cairn_db *db;
    cairn_open_options ro = CAIRN_OPEN_OPTIONS_INIT;
    ro.flags = CAIRN_OPEN_READONLY;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cairn_open(&db, url, &ro));
        CHECK_EQ(count_keys(db), NKEYS);
        CHECK_OK(cairn_close(db));
    }
    CHECK_MSG(lg.warnings == 0, "a reader on a full disk warned: %s", lg.text);
    CHECK_MSG(lg.pin_notes <= 1, "%d notes about pin files", lg.pin_notes);
    /* the writer: opens, reads, verifies */
    CHECK_OK(open_small(&db, url, 0));
    CHECK_EQ(count_keys(db), NKEYS);
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    /* a write fails with a message that does not claim acknowledged writes were lost */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    static char big[200000];
    memset(big, 'b', sizeof big);
    int rc = CAIRN_OK;
    for (int i = 0; rc == CAIRN_OK && i < 200; i++)
        rc = cairn_put(t, &i, sizeof i, big, sizeof big);
    CHECK_RC(rc, CAIRN_ENOSPC);
    CHECK_MSG(strstr(cairn_error_last()->message, "nothing of this write was written: the "
                     "repository is as it was before it"), "%s", cairn_error_last()->message);
    cairn_table_close(t);
    /* gc: works, or (when no pack holds only garbage and not even its deletion records fit)
     * says that nothing in use was touched; either way nothing is lost (gc_on_a_full_disk
     * has whole packs of garbage, and there gc must succeed) */
    cairn_gc_stats gs;
    rc = cairn_gc(&gs, db, NULL);
    const char *why = cairn_error_last()->message;
    CHECK_MSG(rc == CAIRN_OK || (rc == CAIRN_ENOSPC && strstr(why, "no chunk in use was touched")),
              "gc on a full disk: %d %s", rc, cairn_error_last()->message);
    CHECK_EQ(count_keys(db), NKEYS);
    /* a batch big enough to go straight to the trees: refused whole, and said so (after gc: its
     * chunks wait in the store's write buffer, garbage that gc cannot delete without room) */
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    for (int i = 0; i < 70000; i++) {
        char k[16];
        snprintf(k, sizeof k, "bulk%06d", i);
        CHECK_OK(cairn_batch_put(b, t, k, strlen(k), big, 250)); /* over 16 MiB in all */
    }
    rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    CHECK_RC(rc, CAIRN_ENOSPC);
    CHECK_MSG(strstr(cairn_error_last()->message, "the batch was not committed: none of its "
                     "70000 writes was applied"), "%s", cairn_error_last()->message);
    cairn_table_close(t);
    CHECK_EQ(count_keys(db), NKEYS);
    /* close: its checkpoint cannot write, but nothing acknowledged is lost: not an error */
    CHECK_OK(cairn_close(db));
    cairn_set_log(NULL, NULL);
    CHECK_MSG(!strstr(lg.text, "may be lost"), "%s", lg.text);
    CHECK_OK(open_small(&db, url, 0));
    CHECK_EQ(count_keys(db), NKEYS);
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_OK(cairn_close(db));
    CHECK(test_sh("! find %s/quarantine -name '*.tail*' -empty | grep -q .", url) == 0);
}

static uint64_t free_bytes(void)
{
    struct statvfs sv;
    return statvfs(mnt, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
}

/* Opens url with packs of 256 KiB, so that a load fills several. */
static int open_small_packs(cairn_db **db, const char *url, unsigned flags)
{
    cairn_store *st;
    int rc = store_local_open(&st, url, flags, 0);
    if (rc < 0) return rc;
    store_local_set_pack_max(st, 256u << 10);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = flags;
    o.wal_segment_bytes = 256u << 10;
    return cairn_open_store(db, st, &o);
}

/* NKEYS committed keys in "t", then a table of 3 MB checkpointed and dropped before any commit
 * names it: whole packs of garbage beside packs that mix it with live chunks; then the disk is
 * filled to the brim. gc frees space without needing any first, and loses nothing. */
static void gc_on_a_full_disk(void)
{
    if (!mount_small(16)) return;
    char url[4400];
    snprintf(url, sizeof url, "%s/repo", mnt);
    cairn_db *db;
    CHECK_OK(open_small_packs(&db, url, CAIRN_OPEN_CREATE));
    put_keys(db, NULL);
    cairn_table *t, *g;
    char v[1000];
    CHECK_OK(cairn_table_open(&g, db, "garbage", CAIRN_TABLE_CREATE));
    uint64_t seed = 42;
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        key_of(k, sizeof k, i);
        for (size_t j = 0; j < sizeof v; j++) v[j] = (char)test_rand(&seed); /* incompressible */
        CHECK_OK(cairn_put(g, k, strlen(k), v, sizeof v));
    }
    cairn_table_close(g);
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_table_drop(db, "garbage"));
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_close(db));
    fill(mnt);
    uint64_t before = free_bytes();

    CHECK_OK(open_small_packs(&db, url, 0));
    cairn_gc_stats gs;
    int rc = cairn_gc(&gs, db, NULL);
    CHECK_MSG(rc == CAIRN_OK, "gc on a full disk: %d %s", rc, cairn_error_last()->message);
    CHECK_MSG(gs.chunks_deleted > 0 && gs.packs_rewritten > 0 && gs.disk_bytes_freed > (1u << 20),
              "gc deleted %llu chunks, removed %llu packs, freed %llu bytes",
              (unsigned long long)gs.chunks_deleted, (unsigned long long)gs.packs_rewritten,
              (unsigned long long)gs.disk_bytes_freed);
    uint64_t after = free_bytes();
    CHECK_MSG(after > before + (1u << 20), "free before gc %llu, after %llu",
              (unsigned long long)before, (unsigned long long)after);
    CHECK_EQ(count_keys(db), NKEYS);
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    /* the room is there to write again */
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_put(t, "new", 3, v, 100));
    cairn_table_close(t);
    CHECK_OK(test_commit(db, "after gc", NULL));
    CHECK_OK(cairn_close(db));
    CHECK_OK(open_small(&db, url, 0));
    CHECK_EQ(count_keys(db), NKEYS);
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_OK(cairn_close(db));
}

/* The path of the newest pack of the repository at url, and its size. */
static off_t last_pack(const char *url, char *path, size_t n)
{
    char dir[4500];
    snprintf(dir, sizeof dir, "%s/packs", url);
    DIR *d = opendir(dir);
    unsigned best = 0, num;
    for (struct dirent *e; d && (e = readdir(d));)
        if (sscanf(e->d_name, "pack-%8u.pack", &num) == 1 && strstr(e->d_name, ".pack") &&
            num > best)
            best = num;
    if (d) closedir(d);
    snprintf(path, n, "%s/pack-%08u.pack", dir, best);
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

#define TORN 5000 /* bytes of a torn tail */

/* A crash left a torn tail on the newest pack and the disk is full. Opening for writing keeps
 * the tail in place instead of copying it aside (for which there is no room), and says so;
 * reads work; verify names the kept tail; nothing is cut. Once room is freed, writes go on in a
 * new pack, and the next open sets the tail aside in quarantine/, whole. */
static void torn_tail_on_a_full_disk(void)
{
    if (!mount_small(16)) return;
    char url[4400], pack[4600];
    snprintf(url, sizeof url, "%s/repo", mnt);
    cairn_db *db;
    CHECK_OK(open_small(&db, url, CAIRN_OPEN_CREATE));
    put_keys(db, NULL);
    CHECK_OK(cairn_close(db));
    cairn_table *t;
    char v[100];
    value_of(v, "after");
    off_t good = last_pack(url, pack, sizeof pack);
    CHECK(good > 0);
    int fd = open(pack, O_WRONLY | O_APPEND);
    static char torn[TORN];
    memset(torn, 0xab, sizeof torn); /* no record: a torn write */
    CHECK(fd >= 0 && write(fd, torn, sizeof torn) == (ssize_t)sizeof torn);
    close(fd);
    fill(mnt);

    static logs lg;
    memset(&lg, 0, sizeof lg);
    cairn_set_log(on_log, &lg);
    int rc = open_small(&db, url, 0);
    cairn_set_log(NULL, NULL);
    CHECK_MSG(rc == CAIRN_OK, "opening for writing with a torn tail on a full disk: %s",
              cairn_error_last()->message);
    if (rc != CAIRN_OK) return;
    CHECK_MSG(strstr(lg.text, "no room to set its 5000 bytes aside"), "%s", lg.text);
    CHECK_EQ(count_keys(db), NKEYS);
    cairn_verify_stats vs;
    rc = cairn_verify(&vs, db, NULL);
    CHECK_RC(rc, CAIRN_ECORRUPT);
    CHECK_MSG(strstr(cairn_error_last()->message, "is kept in place"), "%s",
              cairn_error_last()->message);
    CHECK_EQ(last_pack(url, pack, sizeof pack), good + TORN); /* nothing cut */
    CHECK(test_sh("ls %s/quarantine | grep -q '[.]kept$'", url) == 0);
    CHECK(test_sh("! ls %s/quarantine | grep -q tail", url) == 0);
    /* room again: writes go on, in a new pack */
    CHECK(test_sh("rm %s/filler", mnt) == 0);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_put(t, "after", 5, v, sizeof v));
    cairn_table_close(t);
    CHECK_OK(test_commit(db, "after", NULL));
    CHECK_OK(cairn_close(db));
    /* the next open sets the tail aside, whole, and cuts the pack */
    CHECK_OK(open_small(&db, url, 0));
    CHECK_EQ(count_keys(db), NKEYS);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *got;
    size_t gl;
    CHECK_OK(cairn_get(&got, &gl, t, NULL, "after", 5));
    CHECK(gl == sizeof v && memcmp(got, v, gl) == 0);
    cairn_free(got);
    cairn_table_close(t);
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_OK(cairn_close(db));
    CHECK(test_sh("! ls %s/quarantine | grep -q '[.]kept$'", url) == 0);
    CHECK(test_sh("test $(cat %s/quarantine/*.tail | wc -c) -eq %d", url, TORN) == 0);
    struct stat sb;
    CHECK(stat(pack, &sb) == 0 && sb.st_size == good);
}

/* Packs that mix live chunks with garbage, and room for only some of their copies: gc deletes
 * the garbage, rewrites the sparse packs that fit, smallest first, says how much room the rest
 * need, and succeeds; with room again, the next gc rewrites the rest. */
static void gc_compacts_what_fits(void)
{
    if (!mount_small(16)) return;
    char url[4400];
    snprintf(url, sizeof url, "%s/repo", mnt);
    cairn_db *db;
    CHECK_OK(open_small_packs(&db, url, CAIRN_OPEN_CREATE));
    cairn_table *t, *g;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_table_open(&g, db, "garbage", CAIRN_TABLE_CREATE));
    uint64_t seed = 7;
    char v[1000];
    for (int i = 0; i < NKEYS; i++) { /* each checkpoint writes nodes of both */
        char k[16];
        key_of(k, sizeof k, i);
        for (size_t j = 0; j < sizeof v; j++) v[j] = (char)test_rand(&seed);
        CHECK_OK(cairn_put(t, k, strlen(k), v, 300));
        CHECK_OK(cairn_put(g, k, strlen(k), v, sizeof v));
        if (i % 20 == 19) CHECK_OK(cairn_checkpoint(db));
    }
    cairn_table_close(t);
    cairn_table_close(g);
    CHECK_OK(cairn_table_drop(db, "garbage"));
    CHECK_OK(test_commit(db, "data", NULL));
    CHECK_OK(cairn_close(db));
    fill(mnt);
    char filler[4500];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    struct stat sb;
    CHECK(stat(filler, &sb) == 0 && truncate(filler, sb.st_size - (400 << 10)) == 0);

    static logs lg;
    memset(&lg, 0, sizeof lg);
    cairn_set_log(on_log_all, &lg);
    CHECK_OK(open_small_packs(&db, url, 0));
    cairn_gc_stats gs;
    int rc = cairn_gc(&gs, db, NULL);
    cairn_set_log(NULL, NULL);
    CHECK_MSG(rc == CAIRN_OK, "gc: %s", cairn_error_last()->message);
    fprintf(stderr, "  with 400 KiB free: %llu packs -> %llu (%llu rewritten), freed %llu\n",
            (unsigned long long)gs.files_before, (unsigned long long)gs.files_after,
            (unsigned long long)gs.packs_rewritten, (unsigned long long)gs.disk_bytes_freed);
    CHECK_MSG(strstr(lg.text, "not rewritten: copying their live chunks needs"), "%s", lg.text);
    CHECK_EQ(count_keys_len(db, 300, false), NKEYS);
    /* with room, the rest */
    CHECK(unlink(filler) == 0);
    memset(&lg, 0, sizeof lg);
    cairn_set_log(on_log_all, &lg);
    cairn_gc_stats gs2;
    CHECK_OK(cairn_gc(&gs2, db, NULL));
    cairn_set_log(NULL, NULL);
    fprintf(stderr, "  with room: %llu packs -> %llu (%llu rewritten)\n",
            (unsigned long long)gs2.files_before, (unsigned long long)gs2.files_after,
            (unsigned long long)gs2.packs_rewritten);
    CHECK(gs2.packs_rewritten > 0 && gs2.files_after < gs.files_after);
    CHECK_MSG(!strstr(lg.text, "not rewritten"), "%s", lg.text);
    CHECK_EQ(count_keys_len(db, 300, false), NKEYS);
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_OK(cairn_close(db));
}

/* A create on a full 20 MiB disk fails and leaves nothing: no directory it made, nothing in one
 * that was there empty; every caller of cairn_open() gets that, not only the CLI. */
static void create_on_a_full_disk(void)
{
    if (!mount_small(20)) return;
    char url[4400], empty[4400];
    snprintf(url, sizeof url, "%s/repo", mnt);
    snprintf(empty, sizeof empty, "%s/empty", mnt);
    CHECK(mkdir(empty, 0755) == 0);
    fill(mnt);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db;
    CHECK_RC(cairn_open(&db, url, &o), CAIRN_ENOSPC);
    CHECK(test_sh("test ! -e %s", url) == 0);
    CHECK_RC(cairn_open(&db, empty, &o), CAIRN_ENOSPC);
    CHECK(test_sh("test -d %s && test -z \"$(ls -A %s)\"", empty, empty) == 0);
    /* room again: the same create works, where a half-made repository would refuse it */
    CHECK(test_sh("rm %s/filler", mnt) == 0);
    CHECK_OK(cairn_open(&db, url, &o));
    CHECK_OK(cairn_close(db));
    CHECK_OK(cairn_open(&db, empty, &o));
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(operations_on_a_full_disk, gc_on_a_full_disk, gc_compacts_what_fits,
          torn_tail_on_a_full_disk, create_on_a_full_disk)
