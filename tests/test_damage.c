/*
 * test_damage.c - damage to the write-ahead log and the files beside it is never silent and never
 * makes cairn discard data (issue 9, findings 2, 3, 5, 6, 7). Each case crashes a real writer
 * (SIGKILL after durable writes), damages one file as a bad disk would, then opens the repository
 * and checks: what is acknowledged reads back, or an error / verify problem names the damaged
 * file; the damaged bytes are still on disk (kept, never truncated, zeroed or unlinked).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

#define MAX_SEEN 64

typedef struct seen {
    int n;
    char msg[MAX_SEEN][1100];
} seen;

static int on_problem(const cairn_verify_problem *p, void *payload)
{
    seen *s = payload;
    if (s->n < MAX_SEEN) snprintf(s->msg[s->n], sizeof s->msg[0], "%s", p->message);
    s->n++;
    return 0;
}

/* Runs verify; true when a problem's message holds a (and b, when given). */
static bool verify_names(cairn_db *db, const char *a, const char *b, int *out_rc)
{
    cairn_verify_options o = CAIRN_VERIFY_OPTIONS_INIT;
    seen *s = calloc(1, sizeof *s);
    o.on_problem = on_problem;
    o.payload = s;
    o.max_problems = MAX_SEEN;
    cairn_verify_stats st;
    *out_rc = cairn_verify(&st, db, &o);
    bool found = false;
    for (int i = 0; i < s->n && i < MAX_SEEN; i++)
        if (strstr(s->msg[i], a) && (!b || strstr(s->msg[i], b))) found = true;
    if (!found)
        for (int i = 0; i < s->n && i < MAX_SEEN; i++) fprintf(stderr, "  problem: %s\n", s->msg[i]);
    free(s);
    return found;
}

static void key_of(char *k, size_t n, int i) { snprintf(k, n, "k%05d", i); }

/* A child opens url, puts n keys (each its own durable write), and is killed: the log holds
 * them, the trees do not (unless commit_first: then keys [0, n/2) are committed first). */
static void crash_after_writes(const char *url, int n, bool commit_first, unsigned seg_bytes)
{
    pid_t pid = test_fork();
    if (pid == 0) {
        cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
        o.flags = CAIRN_OPEN_CREATE;
        o.wal_segment_bytes = seg_bytes;
        o.oplog_keep_segments = 1000;
        cairn_db *db;
        cairn_table *t;
        if (cairn_open(&db, url, &o) || cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE)) _exit(3);
        for (int i = 0; i < n; i++) {
            char k[16];
            key_of(k, sizeof k, i);
            if (cairn_put(t, k, strlen(k), k, strlen(k))) _exit(4);
            if (commit_first && i + 1 == n / 2 && test_commit(db, "half", NULL)) _exit(5);
        }
        kill(getpid(), SIGKILL);
        _exit(99);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFSIGNALED(st)) test_fail(__FILE__, __LINE__, "the writer exited (status %d)", st);
}

/* How many of keys [0, n) read back with their value; -1 after any other error. */
static int keys_back(cairn_db *db, int n)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, "t", 0);
    if (rc == CAIRN_ENOTFOUND) return 0; /* its creation was lost too */
    if (rc) return -1;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char k[16];
        key_of(k, sizeof k, i);
        void *v;
        size_t vl;
        int grc = cairn_get(&v, &vl, t, NULL, k, strlen(k));
        if (grc == CAIRN_OK && vl == strlen(k) && memcmp(v, k, vl) == 0) ok++;
        else if (grc != CAIRN_ENOTFOUND) ok = -1000000; /* wrong data or an error */
        if (grc == CAIRN_OK) cairn_free(v);
    }
    cairn_table_close(t);
    return ok < 0 ? -1 : ok;
}

/* The name of the n-th (0-based, in name order) *.wal file of dir, or "" when none. */
static void nth_segment(char *out, size_t cap, const char *dir, int n)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls %s/*.wal 2>/dev/null | sed -n %dp", dir, n + 1);
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (p && fgets(out, (int)cap, p)) out[strcspn(out, "\n")] = '\0';
    if (p) pclose(p);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    *len = b && pread(fd, b, (size_t)sb.st_size, 0) == sb.st_size ? (size_t)sb.st_size : 0;
    close(fd);
    return b;
}

static void flip(const char *path, size_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t c = 0;
    if (fd < 0 || pread(fd, &c, 1, (off_t)off) != 1) test_fail(__FILE__, __LINE__, "read %s", path);
    c ^= 0x20;
    if (fd >= 0 && pwrite(fd, &c, 1, (off_t)off) != 1) test_fail(__FILE__, __LINE__, "write %s", path);
    if (fd >= 0) close(fd);
}

/* Where the non-zero bytes of a file end. */
static size_t used_end(const char *path)
{
    size_t n = 0;
    uint8_t *b = read_all(path, &n);
    while (n > 0 && b[n - 1] == 0) n--;
    free(b);
    return n;
}

/* Finding 2: a bad byte in the last segment's header made the open unlink it, groups and all. */
static void segment_header_damage(void)
{
    char url[4200], wal[4300], seg[4400];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    snprintf(wal, sizeof wal, "%s/wal/main", url);
    crash_after_writes(url, 40, false, 0);
    nth_segment(seg, sizeof seg, wal, 0);
    CHECK(seg[0]);
    flip(seg, 3); /* in the magic */
    cairn_db *db = test_open_repo(url);
    CHECK_EQ(keys_back(db, 40), 40); /* the groups were read: nothing lost */
    CHECK(access(seg, F_OK) == 0);   /* and the file is still there */
    int rc;
    CHECK(verify_names(db, "damaged header", seg + strlen(url) + 1, &rc));
    CHECK_RC(rc, CAIRN_ECORRUPT);
    CHECK_OK(cairn_close(db));
    /* cut below its header: its records are lost, and that is said; the bytes are kept */
    snprintf(url, sizeof url, "%s/repo2", test_tmpdir());
    snprintf(wal, sizeof wal, "%s/wal/main", url);
    crash_after_writes(url, 10, false, 0);
    nth_segment(seg, sizeof seg, wal, 0);
    CHECK(truncate(seg, 10) == 0);
    db = test_open_repo(url);
    CHECK_EQ(keys_back(db, 10), 0);
    char aside[4500];
    snprintf(aside, sizeof aside, "%s.damaged", seg);
    struct stat sb;
    CHECK(stat(aside, &sb) == 0 && sb.st_size == 10);
    CHECK(verify_names(db, ".wal.damaged", "set aside", &rc));
    CHECK_OK(cairn_close(db));
}

/* Finding 3: a missing refs/working/<branch> made the next writer delete the branch's log. */
static void missing_working_ref_keeps_the_log(void)
{
    char url[4200], path[4400];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    crash_after_writes(url, 30, false, 0);
    snprintf(path, sizeof path, "%s/refs/working/main", url);
    CHECK(unlink(path) == 0);
    cairn_db *db = test_open_repo(url);
    /* the segments are kept aside, byte for byte, where verify finds them */
    CHECK(test_sh("ls %s/wal/%%kept/main.*/*.wal >/dev/null 2>&1", url) == 0);
    int rc;
    CHECK(verify_names(db, "kept aside", "%kept/main.", &rc));
    CHECK_RC(rc, CAIRN_ECORRUPT);
    /* the branch goes on with a new log */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t2", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "a", 1, "b", 1));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK(test_sh("ls %s/wal/%%kept/main.*/*.wal >/dev/null 2>&1", url) == 0);
}

/* Finding 5: one bad byte in the last acknowledged group: the batch dropped with "none was
 * acknowledged" and the bytes zeroed. Now: kept in place, the message says what may be lost. */
static void last_group_damage_is_kept(void)
{
    char url[4200], wal[4300], seg[4400];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    snprintf(wal, sizeof wal, "%s/wal/main", url);
    crash_after_writes(url, 20, false, 0);
    nth_segment(seg, sizeof seg, wal, 0);
    size_t end = used_end(seg);
    CHECK(end > 100);
    flip(seg, end - 3); /* inside the last group (key 19's put) */
    size_t before_len = 0;
    uint8_t *before = read_all(seg, &before_len);
    cairn_db *db = test_open_repo(url);
    /* nothing durable follows it, so the open cannot tell a torn write from damage: the batch
     * is not applied, but its bytes stay where they were */
    CHECK_EQ(keys_back(db, 20), 19);
    size_t after_len = 0;
    uint8_t *after = read_all(seg, &after_len);
    CHECK(after && after_len >= end && memcmp(before, after, end) == 0);
    free(before);
    free(after);
    int rc;
    CHECK(verify_names(db, "do not verify", "kept where they are", &rc));
    /* writes go on (in a new segment), and the old one keeps its bytes through a reopen */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_OK(cairn_put(t, "after", 5, "x", 1));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    db = test_open_repo(url);
    CHECK_EQ(keys_back(db, 20), 19);
    CHECK_OK(cairn_close(db));
}

static int count_rec(const cairn_oplog_record *r, void *payload)
{
    (void)r;
    (*(int *)payload)++;
    return 0;
}

/* Finding 6: a damaged retired segment was silently left out of the operation log. */
static void damaged_oplog_segment_is_reported(void)
{
    char url[4200], op[4300], seg[4400];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    snprintf(op, sizeof op, "%s/wal/main/oplog", url);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.wal_segment_bytes = 4096;
    o.oplog_keep_segments = 1000;
    cairn_db *db;
    CHECK_OK(cairn_open(&db, url, &o));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    for (int i = 0; i < 300; i++) {
        char k[16];
        key_of(k, sizeof k, i);
        CHECK_OK(cairn_put(t, k, strlen(k), k, strlen(k)));
        if (i % 50 == 49) CHECK_OK(cairn_checkpoint(db));
    }
    cairn_table_close(t);
    int all = 0;
    CHECK_OK(cairn_oplog(db, 0, 0, 0, count_rec, &all));
    CHECK(all >= 300);
    nth_segment(seg, sizeof seg, op, 1);
    CHECK(seg[0]);
    flip(seg, 24 + 32 + 5); /* in the first group of a retired segment */
    int got = 0;
    CHECK_RC(cairn_oplog(db, 0, 0, 0, count_rec, &got), CAIRN_ECORRUPT);
    CHECK_ERRMSG(seg + strlen(url) + 1);
    CHECK(got > 0 && got < all); /* everything else was still delivered */
    int rc;
    CHECK(verify_names(db, seg + strlen(url) + 1, NULL, &rc));
    /* a retired segment deleted from the middle: the gap is named */
    flip(seg, 24 + 32 + 5);
    nth_segment(seg, sizeof seg, op, 2);
    CHECK(unlink(seg) == 0);
    got = 0;
    CHECK_RC(cairn_oplog(db, 0, 0, 0, count_rec, &got), CAIRN_ECORRUPT);
    CHECK_ERRMSG("missing");
    CHECK(got > 0 && got < all);
    CHECK(verify_names(db, "missing", NULL, &rc));
    CHECK_OK(cairn_close(db));
}

/* Finding 7: a bad byte in a group the trees already hold made every command fail. */
static void checkpointed_damage_blocks_nothing(void)
{
    char url[4200], wal[4300], seg[4400];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    snprintf(wal, sizeof wal, "%s/wal/main", url);
    crash_after_writes(url, 40, true, 0); /* keys 0-19 committed (checkpointed), 20-39 logged */
    nth_segment(seg, sizeof seg, wal, 0);
    flip(seg, 24 + 32 + 5); /* the first group: key 0's put, in the trees */
    cairn_db *db = test_open_repo(url);
    CHECK_EQ(keys_back(db, 40), 40);
    int rc;
    CHECK(verify_names(db, "already in the tree", NULL, &rc));
    CHECK_RC(rc, CAIRN_ECORRUPT);
    CHECK_OK(cairn_close(db));
    cairn_open_options ro = CAIRN_OPEN_OPTIONS_INIT;
    ro.flags = CAIRN_OPEN_READONLY;
    CHECK_OK(cairn_open(&db, url, &ro));
    CHECK_EQ(keys_back(db, 40), 40);
    CHECK_OK(cairn_close(db));
}

/* Removes the chunk the ref working/main names (its record), as lost damage would. */
static int drop_working_record(const char *url)
{
    cairn_store *st;
    int rc = store_local_open(&st, url, 0, 0);
    if (rc) return rc;
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_id id;
    rc = st->ref_get(st, &b, "working/main");
    if (rc == CAIRN_OK && b.len >= 64) {
        char hex[65];
        memcpy(hex, b.data, 64);
        hex[64] = '\0';
        rc = cairn_id_from_hex(&id, hex);
    }
    if (rc == CAIRN_OK) rc = st->del(st, &id);
    if (rc == CAIRN_OK) rc = st->flush(st);
    if (rc == CAIRN_OK) rc = st->has(st, &id) == CAIRN_ENOTFOUND ? CAIRN_OK : CAIRN_EIO;
    cairn_buf_dispose(&b);
    st->close(st);
    return rc;
}

/* Finding 8: a missing working root record made every command fail (log, --at, verify). Now
 * the repository opens read-only at the newest state that can be proven: the checkpoint
 * record in the log that published the lost record gives its catalog, and the log after it
 * replays on top; the rest of the repository reads as before, and verify runs. */
static void missing_working_record_opens_read_only(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    crash_after_writes(url, 40, true, 0); /* 0-19 committed, 20-39 only logged */
    CHECK_OK(drop_working_record(url));
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_db *db;
    CHECK_OK(cairn_open(&db, url, &o));
    CHECK_EQ(keys_back(db, 40), 40);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_RC(cairn_put(t, "x", 1, "y", 1), CAIRN_EREADONLY);
    cairn_table_close(t);
    cairn_snapshot *snap;
    CHECK_OK(cairn_snapshot_open_at(&snap, db, "main"));
    cairn_snapshot_close(snap);
    int rc;
    CHECK(verify_names(db, "working", NULL, &rc));
    CHECK_RC(rc, CAIRN_ECORRUPT);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(segment_header_damage, missing_working_ref_keeps_the_log, last_group_damage_is_kept,
          damaged_oplog_segment_is_reported, checkpointed_damage_blocks_nothing,
          missing_working_record_opens_read_only)
