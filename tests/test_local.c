/*
 * test_local.c - what only the local pack store has to get right: the directory layout and open
 * errors, torn-tail repair and quarantine, index rebuilds, corruption in an older pack, the
 * writer lock across processes, readers that follow a writer, rollover, deletes across reopen,
 * kill -9 at a random moment, and compaction. The pack walker below is written from
 * docs/FORMAT.md ("Local store"), not from local.c, so it checks the format too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/hash.h"
#include "base/sys.h"
#include "store/refslot.h"
#include "store/store.h"
#include "store_suite.h"
#include "test.h"

/* ---- helpers ---- */

static char *repo_in_tmp(void)
{
    static char paths[64][4200];
    static int n;
    char *p = paths[n++ % 64];
    snprintf(p, sizeof paths[0], "%s/repo", test_tmpdir());
    return p;
}

static char *pathf(const char *fmt, ...) PRINTF_LIKE(1, 2);
static char *pathf(const char *fmt, ...)
{
    static char bufs[16][4300];
    static int n;
    char *b = bufs[n++ % 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Whole file into a malloc'd buffer (NULL if missing). */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(d, 1, (size_t)n, f);
    fclose(f);
    return d;
}

static int spit(const char *path, const void *data, size_t len, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

static int flip_byte(const char *path, long long off)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    uint8_t b;
    int rc = pread(fd, &b, 1, off) == 1 ? 0 : -1;
    b ^= 0x40;
    if (rc == 0 && pwrite(fd, &b, 1, off) != 1) rc = -1;
    close(fd);
    return rc;
}

/* Compacts through the store's vtable (no sealing first), as gc does. */
static int compact(cairn_store *st, double min_live, uint64_t *out_freed)
{
    cairn_store_compact_stats cs;
    int rc = st->compact(st, min_live, 0, &cs);
    if (out_freed) *out_freed = cs.bytes_freed;
    return rc;
}

static size_t chunk_len(uint64_t i) { return 100 + (size_t)(i * 7919 % 900); }

/* Opens a new repository and puts n chunks of family salt. */
static int fill(cairn_store **out, const char *path, uint64_t salt, int n, uint64_t pack_max)
{
    int rc = store_local_open(out, path, CAIRN_OPEN_CREATE, 0);
    if (rc != CAIRN_OK) return rc;
    if (pack_max) store_local_set_pack_max(*out, pack_max);
    uint8_t buf[1000];
    for (int i = 0; i < n && rc == CAIRN_OK; i++) {
        cairn_id k;
        suite_key(&k, salt, (uint64_t)i);
        suite_fill(buf, chunk_len((uint64_t)i), &k);
        rc = (*out)->put(*out, &k, buf, chunk_len((uint64_t)i));
    }
    return rc;
}

/* 1 when chunk i of family salt reads back exactly. */
static int chunk_ok(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    suite_key(&k, salt, i);
    cairn_buf b = CAIRN_BUF_INIT;
    uint8_t want[1000];
    suite_fill(want, chunk_len(i), &k);
    int ok = st->get(st, &b, &k) == CAIRN_OK && b.len == chunk_len(i) &&
             memcmp(b.data, want, b.len) == 0;
    cairn_buf_dispose(&b);
    return ok;
}

static int chunk_absent(cairn_store *st, uint64_t salt, uint64_t i)
{
    cairn_id k;
    suite_key(&k, salt, i);
    return st->has(st, &k) == CAIRN_ENOTFOUND;
}

/* A record as the format describes it (independent of local.c). */
typedef struct prec {
    long long off;
    uint32_t body_len;
    uint8_t type;
    cairn_id key;
} prec;

/* Walks a pack: returns the number of good records (up to max into out), *end = where the good
 * records end. */
static size_t walk_pack(const char *path, prec *out, size_t max, long long *end)
{
    size_t len, n = 0;
    uint8_t *d = slurp(path, &len);
    *end = 0;
    if (!d || len < 16 || memcmp(d, "CAIRNPK\0\1\0\0\0\0\0\0\0", 16) != 0) {
        free(d);
        return 0;
    }
    size_t pos = 16;
    while (pos + 4 <= len) {
        uint32_t bl;
        memcpy(&bl, d + pos, 4);
        if (bl < 33 || pos + 4 + bl + 8 > len) break;
        uint64_t chk;
        memcpy(&chk, d + pos + 4 + bl, 8);
        if (XXH3_64bits(d + pos + 4, bl) != chk) break;
        if (n < max) {
            out[n].off = (long long)pos;
            out[n].body_len = bl;
            out[n].type = d[pos + 4];
            memcpy(out[n].key.bytes, d + pos + 5, 32);
        }
        n++;
        pos += 4 + bl + 8;
    }
    *end = (long long)pos;
    free(d);
    return n;
}

/* ---- log capture ---- */

static struct {
    pthread_mutex_t mu;
    int n;
    int level[32];
    char msg[32][1024];
} logs = { PTHREAD_MUTEX_INITIALIZER, 0, { 0 }, { { 0 } } };

static void log_cb(cairn_log_level level, const char *message, void *payload)
{
    (void)payload;
    pthread_mutex_lock(&logs.mu);
    if (logs.n < 32) {
        logs.level[logs.n] = level;
        snprintf(logs.msg[logs.n], sizeof logs.msg[0], "%s", message);
    }
    logs.n++;
    pthread_mutex_unlock(&logs.mu);
}

static void log_start(void)
{
    logs.n = 0;
    cairn_set_log(log_cb, NULL);
}

/* Index of the first captured message at `level` containing all of a, b (b may be NULL); -1. */
static int log_find(int level, const char *a, const char *b)
{
    for (int i = 0; i < logs.n && i < 32; i++)
        if (logs.level[i] == level && strstr(logs.msg[i], a) && (!b || strstr(logs.msg[i], b)))
            return i;
    return -1;
}

static void log_dump(void)
{
    for (int i = 0; i < logs.n && i < 32; i++) fprintf(stderr, "  log[%d] %s\n", logs.level[i], logs.msg[i]);
}

/* ---- open, layout, errors ---- */

static void open_errors(void)
{
    cairn_store *st;
    const char *tmp = test_tmpdir();
    const char *missing = pathf("%s/nope", tmp);
    CHECK_RC(store_local_open(&st, missing, 0, 0), CAIRN_ENOTFOUND);
    CHECK_ERRMSG(missing);
    CHECK_ERRMSG("cairn init");
    CHECK_RC(store_local_open(&st, missing, CAIRN_OPEN_READONLY | CAIRN_OPEN_CREATE, 0),
             CAIRN_ENOTFOUND);
    CHECK(file_size(missing) < 0); /* a reader never creates */

    /* a non-empty directory that is not a repository is never taken over */
    const char *other = pathf("%s/other", tmp);
    CHECK(mkdir(other, 0777) == 0);
    CHECK(spit(pathf("%s/notes.txt", other), "mine", 4, "wb") == 0);
    CHECK_RC(store_local_open(&st, other, CAIRN_OPEN_CREATE, 0), CAIRN_EINVAL);
    CHECK_ERRMSG("is not a cairn repository (no CAIRN file)");
    CHECK_ERRMSG(other);
    CHECK_RC(store_local_open(&st, other, 0, 0), CAIRN_EINVAL);
    CHECK(file_size(pathf("%s/LOCK", other)) < 0);
    /* an empty one without CREATE: not found */
    const char *empty = pathf("%s/empty", tmp);
    CHECK(mkdir(empty, 0777) == 0);
    CHECK_RC(store_local_open(&st, empty, 0, 0), CAIRN_ENOTFOUND);
    /* a file */
    const char *file = pathf("%s/file", tmp);
    CHECK(spit(file, "x", 1, "wb") == 0);
    CHECK_RC(store_local_open(&st, file, CAIRN_OPEN_CREATE, 0), CAIRN_EINVAL);
    CHECK_ERRMSG("not a directory");

    /* a marker of another format, and a garbled marker */
    const char *future = pathf("%s/future", tmp);
    CHECK(mkdir(future, 0777) == 0);
    CHECK(spit(pathf("%s/CAIRN", future), "cairn repository\nformat 2\n", 26, "wb") == 0);
    CHECK_RC(store_local_open(&st, future, 0, 0), CAIRN_EINVAL);
    CHECK_ERRMSG("format 2");
    CHECK_RC(store_local_open(&st, future, CAIRN_OPEN_READONLY, 0), CAIRN_EINVAL);
    CHECK(spit(pathf("%s/CAIRN", future), "hello\n", 6, "wb") == 0);
    CHECK_RC(store_local_open(&st, future, 0, 0), CAIRN_EINVAL);
    CHECK_ERRMSG("marker");

    /* EXCL on an existing repository */
    const char *repo = repo_in_tmp();
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL, 0));
    st->close(st);
    CHECK_RC(store_local_open(&st, repo, CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL, 0), CAIRN_EEXIST);
    CHECK_ERRMSG(repo);
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0)); /* CREATE alone: opens it */
    st->close(st);

    /* an oversized chunk is refused, not truncated */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    size_t huge = (16u << 20) + 65;
    uint8_t *big = calloc(1, huge);
    cairn_id k;
    suite_key(&k, 1, 1);
    CHECK_RC(st->put(st, &k, big, huge), CAIRN_EINVAL);
    CHECK_OK(st->put(st, &k, big, huge - 1)); /* exactly the limit */
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_OK(st->get(st, &b, &k));
    CHECK_EQ(b.len, huge - 1);
    free(big);
    cairn_buf_dispose(&b);
    st->close(st);
}

static void layout(void)
{
    const char *repo = pathf("%s/a/b/c", test_tmpdir()); /* mkdir -p */
    cairn_store *st;
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0));
    CHECK_STR(st->kind, "local");
    CHECK_STR(st->location, repo);
    CHECK_EQ(st->caps, CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED | CAIRN_STORE_CAP_REF_CAS |
                           CAIRN_STORE_CAP_COMPACT | CAIRN_STORE_CAP_LOCATE |
                           CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS |
                           CAIRN_STORE_CAP_REPAIR);
    CHECK(st->compact && st->locate && st->file_open && st->repair);
    size_t len;
    uint8_t *marker = slurp(pathf("%s/CAIRN", repo), &len);
    CHECK(marker != NULL);
    CHECK_MEM(marker, len, "cairn repository\nformat 1\n", 26);
    free(marker);
    uint8_t *pack = slurp(pathf("%s/packs/pack-00000001.pack", repo), &len);
    CHECK(pack != NULL);
    CHECK_MEM(pack, len, "CAIRNPK\0\1\0\0\0\0\0\0\0", 16);
    free(pack);
    uint8_t *lock = slurp(pathf("%s/LOCK", repo), &len);
    CHECK(lock != NULL);
    char want[32];
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    CHECK_MEM(lock, len, want, strlen(want));
    free(lock);
    struct stat sb;
    const char *subs[] = { "packs", "refs", "tmp", "quarantine" };
    for (int i = 0; i < 4; i++)
        CHECK(stat(pathf("%s/%s", repo, subs[i]), &sb) == 0 && S_ISDIR(sb.st_mode));

    /* one chunk: the record bytes are exactly the documented ones */
    cairn_id k;
    suite_key(&k, 2, 0);
    CHECK_OK(st->put(st, &k, "hello", 5));
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "abc", 3));
    st->close(st);
    pack = slurp(pathf("%s/packs/pack-00000001.pack", repo), &len);
    CHECK_EQ(len, 16 + 4 + 33 + 5 + 8);
    CHECK_EQ(pack[16], 38);
    CHECK_EQ(pack[20], 1);
    CHECK_MEM(pack + 21, 32, k.bytes, 32);
    CHECK_MEM(pack + 53, 5, "hello", 5);
    uint64_t chk = XXH3_64bits(pack + 20, 38);
    CHECK_MEM(pack + 58, 8, &chk, 8);
    free(pack);
    /* its index: header, one entry, one block checksum, the checksum of header and sums */
    uint8_t *idx = slurp(pathf("%s/packs/pack-00000001.idx", repo), &len);
    CHECK(idx != NULL);
    CHECK_EQ(len, 32 + 48 + 16 + 8);
    CHECK_MEM(idx, 16, "CAIRNIX\0\2\0\0\0\x40\0\0\0", 16); /* version 2, 64 a block */
    uint64_t covered, count, off;
    memcpy(&covered, idx + 16, 8);
    memcpy(&count, idx + 24, 8);
    memcpy(&off, idx + 64, 8);
    CHECK_EQ(covered, 66);
    CHECK_EQ(count, 1);
    CHECK_MEM(idx + 32, 32, k.bytes, 32);
    CHECK_EQ(off, 16);
    CHECK_EQ(idx[72], 5);
    CHECK_EQ(idx[76], 1);
    CHECK_MEM(idx + 80, 8, k.bytes, 8); /* block 0: its first key's first 8 bytes, */
    chk = XXH3_64bits_withSeed(idx + 32, 48, 0); /* the XXH3 of its entries, seeded with 0 */
    CHECK_MEM(idx + 88, 8, &chk, 8);
    chk = XXH3_64bits_withSeed(idx + 80, 16, XXH3_64bits(idx, 32));
    CHECK_MEM(idx + 96, 8, &chk, 8);
    free(idx);
    uint8_t *ref = slurp(pathf("%s/refs/heads/main", repo), &len);
    CHECK_EQ(len, 8192); /* two slots: "CREF", CRC32C, seq 1, length 3, 0, "abc"; zeros */
    CHECK_MEM(ref, 4, "CREF", 4);
    CHECK_EQ(load_le32(ref + 4), 0xe6f9d1c5u); /* FORMAT.md's example */
    CHECK_EQ(load_le32(ref + 4), hash_crc32c(0, ref + 8, 16 + 3));
    CHECK_EQ(load_le64(ref + 8), 1);
    CHECK_EQ(load_le32(ref + 16), 3);
    CHECK_EQ(load_le32(ref + 20), 0);
    CHECK_MEM(ref + 24, 3, "abc", 3);
    for (size_t i = 27; i < len; i++) CHECK_EQ(ref[i], 0);
    free(ref);

    /* refs that git-style directories cannot hold are refused with a reason */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK_RC(st->ref_cas(st, "heads/main/x", NULL, 0, "v", 1), CAIRN_EINVAL);
    CHECK_ERRMSG("heads/main");
    CHECK_RC(st->ref_cas(st, "heads", NULL, 0, "v", 1), CAIRN_EINVAL);
    CHECK_ERRMSG("directory");
    CHECK_RC(st->ref_cas(st, "a/./b", NULL, 0, "v", 1), CAIRN_EINVAL);
    CHECK_RC(st->ref_cas(st, ".", NULL, 0, "v", 1), CAIRN_EINVAL);
    /* deleting the last ref below a directory frees the name */
    CHECK_OK(st->ref_cas(st, "heads/main", "abc", 3, NULL, 0));
    CHECK_OK(st->ref_cas(st, "heads", NULL, 0, "now a ref", 9));
    st->close(st);
}

static void readonly_rejects_writes(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *w, *r;
    CHECK_OK(fill(&w, repo, 3, 10, 0));
    w->close(w);
    CHECK_OK(store_local_open(&r, repo, CAIRN_OPEN_READONLY, 0));
    CHECK_OK(store_local_open(&w, repo, 0, 0)); /* a reader holds no lock */
    cairn_id k;
    suite_key(&k, 3, 100);
    CHECK_RC(r->put(r, &k, "x", 1), CAIRN_EREADONLY);
    CHECK_ERRMSG("read-only");
    suite_key(&k, 3, 1);
    CHECK_RC(r->del(r, &k), CAIRN_EREADONLY);
    CHECK_RC(r->ref_cas(r, "heads/main", NULL, 0, "v", 1), CAIRN_EREADONLY);
    CHECK_RC(compact(r, 0.5, NULL), CAIRN_EREADONLY);
    CHECK_OK(r->flush(r)); /* nothing pending */
    CHECK(chunk_ok(r, 3, 1));
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_RC(r->ref_get(r, &b, "heads/main"), CAIRN_ENOTFOUND);
    CHECK(file_size(pathf("%s/packs/pack-00000001.idx", repo)) > 0);
    r->close(r);
    w->close(w);
}

/* ---- recovery ---- */

static void torn_tail_garbage(void)
{
    const char *repo = repo_in_tmp();
    const char *pack = pathf("%s/packs/pack-00000001.pack", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 4, 100, 0));
    st->close(st);
    long long size0 = file_size(pack);
    uint8_t garbage[1000];
    uint64_t rng = test_rng(4);
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (uint8_t)test_rand(&rng);
    CHECK(spit(pack, garbage, sizeof garbage, "ab") == 0);

    /* a reader stops at the tail silently and changes nothing */
    log_start();
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    for (int i = 0; i < 100; i++) CHECK(chunk_ok(st, 4, (uint64_t)i));
    st->close(st);
    CHECK_EQ(logs.n, 0);
    CHECK_EQ(file_size(pack), size0 + 1000);

    /* the writer repairs: truncates, quarantines the exact bytes, says so */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    cairn_set_log(NULL, NULL);
    char offs[32];
    snprintf(offs, sizeof offs, "offset %lld", size0);
    CHECK_MSG(log_find(CAIRN_LOG_WARN, "torn tail", offs) >= 0, "no warning about the repair");
    CHECK(log_find(CAIRN_LOG_WARN, "pack-00000001.pack", "quarantine") >= 0);
    CHECK_EQ(file_size(pack), size0);
    size_t qlen;
    uint8_t *q = slurp(pathf("%s/quarantine/pack-00000001.%lld.tail", repo, size0), &qlen);
    CHECK(q != NULL);
    CHECK_MEM(q, qlen, garbage, sizeof garbage);
    free(q);
    for (int i = 0; i < 100; i++) CHECK(chunk_ok(st, 4, (uint64_t)i));
    cairn_id k;
    suite_key(&k, 4, 100);
    CHECK_OK(st->put(st, &k, "after", 5));
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    for (int i = 0; i < 100; i++) CHECK(chunk_ok(st, 4, (uint64_t)i));
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_OK(st->get(st, &b, &k));
    CHECK_MEM(b.data, b.len, "after", 5);
    cairn_buf_dispose(&b);
    st->close(st);
}

static void torn_tail_mid_record(void)
{
    const char *repo = repo_in_tmp();
    const char *pack = pathf("%s/packs/pack-00000001.pack", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 5, 50, 0));
    st->close(st);
    prec recs[64];
    long long end;
    CHECK_EQ(walk_pack(pack, recs, 64, &end), 50);
    CHECK_EQ(end, file_size(pack));
    long long last = recs[49].off, cut = end - 17; /* inside the last record */
    size_t len;
    uint8_t *before = slurp(pack, &len);
    CHECK(truncate(pack, cut) == 0);

    log_start();
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    cairn_set_log(NULL, NULL);
    CHECK(log_find(CAIRN_LOG_WARN, "torn tail", NULL) >= 0);
    CHECK(log_find(CAIRN_LOG_WARN, "ignoring pack-00000001.idx", NULL) >= 0); /* covers too much */
    CHECK_EQ(file_size(pack), last);
    size_t qlen;
    uint8_t *q = slurp(pathf("%s/quarantine/pack-00000001.%lld.tail", repo, last), &qlen);
    CHECK(q != NULL);
    CHECK_MEM(q, qlen, before + last, (size_t)(cut - last));
    free(q);
    free(before);
    for (int i = 0; i < 49; i++) CHECK(chunk_ok(st, 5, (uint64_t)i));
    CHECK(chunk_absent(st, 5, 49)); /* torn: never acknowledged by a flush */
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 49);
    st->close(st);

    /* a pack cut inside its header: the writer sets the bytes aside and starts it afresh */
    CHECK(truncate(pack, 7) == 0);
    CHECK(unlink(pathf("%s/packs/pack-00000001.idx", repo)) == 0);
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0)); /* reader: just empty */
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 0);
    st->close(st);
    log_start();
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    cairn_set_log(NULL, NULL);
    CHECK(log_find(CAIRN_LOG_WARN, "torn tail", "header") >= 0);
    CHECK_EQ(file_size(pathf("%s/quarantine/pack-00000001.0.tail", repo)), 7);
    CHECK_EQ(file_size(pack), 16);
    cairn_id k;
    suite_key(&k, 5, 0);
    CHECK_OK(st->put(st, &k, "again", 5));
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    CHECK_OK(st->has(st, &k));
    st->close(st);
}

/* The last pack without a valid index (as every crash leaves it) and one bad byte in a record
 * or in its header: corruption, not a torn tail. Nothing is cut or quarantined, every record
 * after the damage is read, and the writer appends to a new pack, never after the damage. */
static void damaged_last_pack(void)
{
    enum { N = 50 };
    const char *repo = repo_in_tmp();
    const char *pack = pathf("%s/packs/pack-00000001.pack", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 11, N, 0));
    st->close(st);
    prec recs[64];
    long long end;
    CHECK_EQ(walk_pack(pack, recs, 64, &end), N);
    long long size = file_size(pack);
    CHECK(unlink(pathf("%s/packs/pack-00000001.idx", repo)) == 0);
    CHECK(flip_byte(pack, recs[10].off + 4 + 33 + 5) == 0);
    for (int round = 0; round < 3; round++) {
        if (round == 2) CHECK(flip_byte(pack, 3) == 0); /* and the header too */
        log_start();
        CHECK_OK(store_local_open(&st, repo, 0, 0));
        cairn_set_log(NULL, NULL);
        char offs[64];
        snprintf(offs, sizeof offs, "offset %lld", recs[10].off);
        if (log_find(CAIRN_LOG_ERROR, "pack-00000001.pack", offs) < 0) log_dump();
        CHECK(log_find(CAIRN_LOG_ERROR, "pack-00000001.pack", offs) >= 0);
        CHECK(log_find(CAIRN_LOG_ERROR, "run 'cairn verify'", NULL) >= 0);
        if (round == 2) CHECK(log_find(CAIRN_LOG_ERROR, "pack-00000001.pack", "offset 0,") >= 0);
        CHECK(log_find(CAIRN_LOG_WARN, "torn", NULL) < 0);
        CHECK_EQ(file_size(pack), size);
        CHECK_EQ(file_size(pathf("%s/quarantine/pack-00000001.%lld.tail", repo, recs[10].off)),
                 -1);
        for (int i = 0; i < N; i++) {
            if (i == 10) CHECK(chunk_absent(st, 11, (uint64_t)i));
            else CHECK(chunk_ok(st, 11, (uint64_t)i));
        }
        /* new writes go to a new pack */
        cairn_id k;
        suite_key(&k, 12, (uint64_t)round);
        CHECK_OK(st->put(st, &k, "new", 3));
        CHECK_OK(st->flush(st));
        CHECK_EQ(file_size(pack), size);
        CHECK(file_size(pathf("%s/packs/pack-00000002.pack", repo)) > 16);
        st->close(st);
        CHECK_EQ(file_size(pathf("%s/packs/pack-00000001.idx", repo)), -1);
    }
    /* a reader reads the same */
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    for (int i = 0; i < N; i++)
        if (i != 10) CHECK(chunk_ok(st, 11, (uint64_t)i));
    st->close(st);
}

/* Deletes and re-puts so that an index holds tombstones and settled duplicates. */
static int churn(cairn_store *st, uint64_t salt, int n)
{
    for (int i = 0; i < n; i += 7) {
        cairn_id k;
        suite_key(&k, salt, (uint64_t)i);
        int rc = st->del(st, &k);
        if (rc == CAIRN_OK && i % 2 == 0) {
            uint8_t buf[1000];
            suite_fill(buf, chunk_len((uint64_t)i), &k);
            rc = st->put(st, &k, buf, chunk_len((uint64_t)i));
        }
        if (rc != CAIRN_OK) return rc;
    }
    return CAIRN_OK;
}

static int live_after_churn(int i) { return i % 7 != 0 || i % 2 == 0; }

static void idx_rebuilt_identically(void)
{
    enum { N = 600 };
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 6, N, 48 << 10));
    CHECK_OK(churn(st, 6, N));
    cairn_store_stats s0;
    CHECK_OK(st->stat(st, &s0));
    st->close(st);
    CHECK(s0.files >= 5);
    uint8_t *orig[64];
    size_t olen[64];
    for (unsigned p = 1; p <= s0.files; p++) {
        orig[p] = slurp(pathf("%s/packs/pack-%08u.idx", repo, p), &olen[p]);
        CHECK_MSG(orig[p] != NULL, "pack %u has no index after close", p);
        CHECK(unlink(pathf("%s/packs/pack-%08u.idx", repo, p)) == 0);
    }
    /* a reader reads the packs instead and writes nothing */
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, s0.chunks);
    CHECK_EQ(s.bytes, s0.bytes);
    for (int i = 0; i < N; i++)
        CHECK(live_after_churn(i) ? chunk_ok(st, 6, (uint64_t)i) : chunk_absent(st, 6, (uint64_t)i));
    st->close(st);
    CHECK(file_size(pathf("%s/packs/pack-00000001.idx", repo)) < 0);
    /* a writer rebuilds every index, byte for byte */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    st->close(st);
    for (unsigned p = 1; p <= s0.files; p++) {
        size_t len;
        uint8_t *now = slurp(pathf("%s/packs/pack-%08u.idx", repo, p), &len);
        CHECK_MSG(now != NULL, "index of pack %u not rebuilt", p);
        CHECK_MEM(now, len, orig[p], olen[p]);
        free(now);
    }

    /* a flipped byte: ignored (with a warning) when the block holding it is first read, which
     * may be after open (open checks only the header and the block checksums), or when stat
     * loads the whole index; rebuilt; nothing lost */
    long long at = (long long)olen[2] / 2;
    CHECK(flip_byte(pathf("%s/packs/pack-00000002.idx", repo), at) == 0);
    log_start();
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    for (int i = 0; i < N; i++)
        CHECK(live_after_churn(i) ? chunk_ok(st, 6, (uint64_t)i) : chunk_absent(st, 6, (uint64_t)i));
    CHECK_OK(st->stat(st, &s));
    cairn_set_log(NULL, NULL);
    CHECK(log_find(CAIRN_LOG_WARN, "ignoring pack-00000002.idx", "checksum") >= 0);
    CHECK_EQ(s.chunks, s0.chunks);
    st->close(st);
    size_t len;
    uint8_t *now = slurp(pathf("%s/packs/pack-00000002.idx", repo), &len);
    CHECK_MEM(now, len, orig[2], olen[2]);
    free(now);
    for (unsigned p = 1; p <= s0.files; p++) free(orig[p]);
}

/* Damage in a version-2 index is found where it is read: open checks the header and the block
 * checksums only; a block is checked (checksum, entries, order) when a lookup first reads it, and
 * whatever the whole index needs (stat) checks the rest. Each damaged copy: every chunk still
 * reads right (the pack is read instead), a warning names the index, a reader writes nothing,
 * and a writer rewrites the index as it was. Also an index whose checksums are right but whose
 * keys are out of order (a buggy or hostile writer) is refused the same way. */
static void idx_damage_found_where_read(void)
{
    enum { N = 900 };
    const char *repo = repo_in_tmp();
    const char *idx2 = pathf("%s/packs/pack-00000002.idx", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 12, N, 160 << 10));
    cairn_store_stats s0, s;
    CHECK_OK(st->stat(st, &s0));
    st->close(st);
    CHECK(s0.files >= 4);
    size_t olen;
    uint8_t *orig = slurp(idx2, &olen);
    CHECK(orig != NULL);
    uint64_t count;
    memcpy(&count, orig + 24, 8);
    CHECK(count > 64 * 2); /* several blocks */
    size_t sums = 32 + (size_t)count * 48, nb = (count + 63) / 64;
    CHECK_EQ(olen, sums + nb * 16 + 8);
    /* header fields, a key, an offset, a length, a type, padding, in the last (short) block, a
     * block checksum, a block's key prefix, the trailer */
    const long long at[] = { 9, 12, 17, 24, 32 + 70 * 48 + 5, 32 + 3 * 48 + 33, 32 + 100 * 48 + 40,
                             32 + 5 * 48 + 44, 32 + 7 * 48 + 46, (long long)sums - 48 + 3,
                             (long long)sums + 8 + 2, (long long)sums + 16 + 5,
                             (long long)olen - 3 };
    for (size_t v = 0; v < sizeof at / sizeof at[0] + 1; v++) {
        bool reader = v % 2 == 0;
        uint8_t *bad = malloc(olen);
        memcpy(bad, orig, olen);
        if (v < sizeof at / sizeof at[0]) {
            bad[at[v]] ^= 0x40;
        } else { /* swap two keys in block 1 and make every checksum agree */
            uint8_t tmp[48];
            memcpy(tmp, bad + 32 + 70 * 48, 48);
            memcpy(bad + 32 + 70 * 48, bad + 32 + 71 * 48, 48);
            memcpy(bad + 32 + 71 * 48, tmp, 48);
            uint64_t sum = XXH3_64bits_withSeed(bad + 32 + 64 * 48, 64 * 48, 1);
            memcpy(bad + sums + 16 + 8, &sum, 8);
            sum = XXH3_64bits_withSeed(bad + sums, nb * 16, XXH3_64bits(bad, 32));
            memcpy(bad + olen - 8, &sum, 8);
        }
        CHECK(spit(idx2, bad, olen, "wb") == 0);
        free(bad);
        log_start();
        CHECK_OK(store_local_open(&st, repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        int good = 0;
        for (int i = 0; i < N; i++) good += chunk_ok(st, 12, (uint64_t)i);
        CHECK_OK(st->stat(st, &s));
        st->close(st);
        cairn_set_log(NULL, NULL);
        CHECK_MSG(good == N, "variant %zu: %d of %d chunks read", v, good, N);
        CHECK_EQ(s.chunks, s0.chunks);
        CHECK_MSG(log_find(CAIRN_LOG_WARN, "ignoring pack-00000002.idx", NULL) >= 0,
                  "variant %zu: the damaged index was not reported", v);
        size_t len;
        uint8_t *now = slurp(idx2, &len);
        if (reader) CHECK(now && (len != olen || memcmp(now, orig, olen) != 0));
        else CHECK_MEM(now, len, orig, olen);
        free(now);
    }
    free(orig);
}

static void corrupt_older_pack(void)
{
    enum { N = 200 };
    const char *repo = repo_in_tmp();
    const char *pack2 = pathf("%s/packs/pack-00000002.pack", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 7, N, 16 << 10));
    cairn_store_stats s0;
    CHECK_OK(st->stat(st, &s0));
    st->close(st);
    CHECK(s0.files >= 4);
    prec recs[256];
    long long end;
    size_t n2 = walk_pack(pack2, recs, 256, &end);
    CHECK(n2 >= 6);
    long long size2 = file_size(pack2);
    long long bad = recs[3].off;
    CHECK(flip_byte(pack2, bad + 4 + 33 + 2) == 0); /* inside the payload of record 3 */

    /* with its index intact the damage is found on read, named precisely */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_RC(st->get(st, &b, &recs[3].key), CAIRN_ECORRUPT);
    CHECK_ERRMSG("pack-00000002.pack");
    char offs[64];
    snprintf(offs, sizeof offs, "offset %lld", bad);
    CHECK_ERRMSG(offs);
    CHECK_OK(st->get(st, &b, &recs[4].key));
    st->close(st);

    /* without it the scan skips the damaged record: logged as corruption, pack left as it is,
     * every record after it read. Open reads no index (packs/summary describes the pack), so
     * the missing one is found when a lookup first needs it, and the pack is read then. */
    CHECK(unlink(pathf("%s/packs/pack-00000002.idx", repo)) == 0);
    for (int round = 0; round < 2; round++) {
        log_start();
        CHECK_OK(store_local_open(&st, repo, 0, 0));
        for (size_t i = 0; i < n2; i++) {
            if (i != 3) CHECK_OK(st->get(st, &b, &recs[i].key));
            else CHECK_RC(st->has(st, &recs[i].key), CAIRN_ENOTFOUND);
        }
        cairn_set_log(NULL, NULL);
        if (log_find(CAIRN_LOG_ERROR, "pack-00000002.pack", offs) < 0) log_dump();
        CHECK(log_find(CAIRN_LOG_ERROR, "pack-00000002.pack", offs) >= 0);
        CHECK(log_find(CAIRN_LOG_WARN, "torn", NULL) < 0);
        CHECK_EQ(file_size(pack2), size2);
        cairn_store_stats s;
        CHECK_OK(st->stat(st, &s));
        CHECK_EQ(s.chunks, s0.chunks - 1);
        /* every other chunk is fine */
        int fine = 0;
        for (int i = 0; i < N; i++) fine += chunk_ok(st, 7, (uint64_t)i);
        CHECK_EQ(fine, N - 1);
        st->close(st);
    }
    cairn_buf_dispose(&b);
}

/* ---- processes ---- */

typedef struct child_report {
    int rc;
    char msg[512];
} child_report;

/* Runs open(repo, flags, timeout) in a child process; returns what it saw. */
static child_report open_in_child(const char *repo, unsigned flags, unsigned timeout_ms,
                                  double *elapsed)
{
    child_report rep = { -999, "" };
    int fds[2];
    if (pipe(fds) != 0) return rep;
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = test_fork();
    if (pid == 0) {
        close(fds[0]);
        cairn_store *st;
        child_report r = { store_local_open(&st, repo, flags, timeout_ms), "" };
        snprintf(r.msg, sizeof r.msg, "%s", cairn_error_last()->message);
        if (r.rc == CAIRN_OK) st->close(st);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &rep, sizeof rep) != (ssize_t)sizeof rep) rep.rc = -998;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &z);
    if (elapsed) *elapsed = (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
    return rep;
}

static void writer_lock(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *w, *w2, *r;
    CHECK_OK(store_local_open(&w, repo, CAIRN_OPEN_CREATE, 0));
    /* another process */
    child_report rep = open_in_child(repo, 0, 0, NULL);
    CHECK_EQ(rep.rc, CAIRN_EBUSY);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK_MSG(strstr(rep.msg, "locked") && strstr(rep.msg, pid) && strstr(rep.msg, repo),
              "lock message \"%s\" lacks 'locked', the path or '%s'", rep.msg, pid);
    /* a reader in another process is fine */
    rep = open_in_child(repo, CAIRN_OPEN_READONLY, 0, NULL);
    CHECK_EQ(rep.rc, CAIRN_OK);
    /* a second writer handle in this process too is refused */
    CHECK_RC(store_local_open(&w2, repo, 0, 0), CAIRN_EBUSY);
    CHECK_OK(store_local_open(&r, repo, CAIRN_OPEN_READONLY, 0));
    r->close(r);
    w->close(w);
    /* waiting: the child gets the lock once we let go. It is forked before we take the lock:
     * a child forked while we hold it would inherit the locked descriptor (flock semantics). */
    int fds[2], go[2];
    CHECK(pipe(fds) == 0 && pipe(go) == 0);
    pid_t child = test_fork();
    if (child == 0) {
        close(fds[0]);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(4);
        cairn_store *st;
        struct timespec a, z;
        clock_gettime(CLOCK_MONOTONIC, &a);
        child_report cr = { store_local_open(&st, repo, 0, 5000), "" };
        clock_gettime(CLOCK_MONOTONIC, &z);
        snprintf(cr.msg, sizeof cr.msg, "%.3f",
                 (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9);
        if (cr.rc == CAIRN_OK) st->close(st);
        if (write(fds[1], &cr, sizeof cr) != (ssize_t)sizeof cr) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    close(go[0]);
    CHECK_OK(store_local_open(&w, repo, 0, 0));
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    struct timespec pause = { 0, 150 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    w->close(w);
    child_report cr;
    CHECK(read(fds[0], &cr, sizeof cr) == (ssize_t)sizeof cr);
    close(fds[0]);
    waitpid(child, NULL, 0);
    CHECK_MSG(cr.rc == CAIRN_OK, "waiting writer got %d: %s", cr.rc, cr.msg);
    CHECK_MSG(atof(cr.msg) >= 0.1 && atof(cr.msg) < 4.0, "waited %s s", cr.msg);
    /* and a short timeout expires with EBUSY */
    CHECK_OK(store_local_open(&w, repo, 0, 0));
    double elapsed;
    rep = open_in_child(repo, 0, 200, &elapsed);
    CHECK_EQ(rep.rc, CAIRN_EBUSY);
    CHECK_MSG(elapsed >= 0.19, "gave up after %.3f s", elapsed);
    w->close(w);
}

/* ---- a pack sealed between a reader's look at its size and its read of the index ----
 * A reader's refresh opens a pack the writer has sealed: it takes the pack's size, then reads
 * the index. When the writer appended its last records, sealed the pack and wrote its index in
 * between, the index covers more than the size taken: that is no damage, and must be read
 * without a warning ("ignoring pack-N.idx (covers more than the pack holds)"). The fstat of the
 * base I/O table shows the first pack it is asked about 100 bytes short, as a moment before. */
static atomic_int short_fstats, short_from; /* the first fstat of a pack numbered short_from or
                                               above shows it short */

static int short_fstat(int fd, struct stat *out)
{
    int r = fstat(fd, out);
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = r == 0 ? readlink(link, path, sizeof path - 1) : -1;
    unsigned num = 0;
    if (n > 18) path[n] = '\0';
    if (n > 18 && sscanf(path + n - 18, "pack-%8u.pack", &num) == 1 &&
        num >= (unsigned)atomic_load(&short_from) && out->st_size > 200 &&
        atomic_exchange(&short_fstats, 0) > 0)
        out->st_size -= 100;
    return r;
}

/* The number of the newest pack in repo's packs/ (0: none): packs are numbered from 1, and
 * none was deleted here, so it is how many there are. */
static unsigned newest_pack(const char *repo)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls %s/packs | grep -c 'pack$'", repo);
    FILE *f = popen(cmd, "r");
    unsigned n = 0;
    if (f && fscanf(f, "%u", &n) != 1) n = 0;
    if (f) pclose(f);
    return n;
}

static void reader_meets_pack_sealed_meanwhile(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *w, *r;
    CHECK_OK(store_local_open(&w, repo, CAIRN_OPEN_CREATE, 0));
    store_local_set_pack_max(w, 8 << 10);
    uint8_t buf[1000];
    for (int i = 0; i < 200; i++) { /* packs 1, 2, ... sealed, with their indexes */
        cairn_id k;
        suite_key(&k, 31, (uint64_t)i);
        suite_fill(buf, chunk_len((uint64_t)i), &k);
        CHECK_OK(w->put(w, &k, buf, chunk_len((uint64_t)i)));
        if (i == 20) {
            CHECK_OK(w->flush(w));
            CHECK_OK(store_local_open(&r, repo, CAIRN_OPEN_READONLY, 0));
            atomic_store(&short_from, (int)newest_pack(repo) + 1); /* packs new to the reader */
        }
    }
    CHECK_OK(w->flush(w));
    CHECK(chunk_ok(r, 31, 3)); /* known at its open */
    test_warnings warned;
    test_count_warnings(&warned);
    atomic_store(&short_fstats, 1);
    sys_table_set(&(sys_table){ .fstat = short_fstat });
    int got = 0;
    for (int i = 199; i >= 0; i--) got += chunk_ok(r, 31, (uint64_t)i); /* a miss refreshes */
    sys_table_set(NULL);
    cairn_set_log(NULL, NULL);
    CHECK_EQ(got, 200);
    CHECK_EQ(atomic_load(&short_fstats), 0); /* a pack's size was shown short */
    CHECK_MSG(warned.n == 0, "%d warning(s), the first: %s", warned.n, warned.first);
    r->close(r);
    w->close(w);
}

static void reader_follows_writer(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *w, *r;
    CHECK_OK(store_local_open(&w, repo, CAIRN_OPEN_CREATE, 0));
    CHECK_OK(store_local_open(&r, repo, CAIRN_OPEN_READONLY, 0));
    cairn_id a;
    suite_key(&a, 8, 0);
    CHECK_RC(r->has(r, &a), CAIRN_ENOTFOUND);
    CHECK_OK(w->put(w, &a, "alpha", 5));
    CHECK_OK(w->flush(w));
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_OK(r->get(r, &b, &a)); /* a miss refreshes */
    CHECK_MEM(b.data, b.len, "alpha", 5);
    CHECK_OK(w->ref_cas(w, "heads/main", NULL, 0, "c1", 2));
    CHECK_OK(r->ref_get(r, &b, "heads/main"));
    CHECK_MEM(b.data, b.len, "c1", 2);
    CHECK_OK(w->ref_cas(w, "heads/main", "c1", 2, "c2", 2));
    CHECK_OK(r->ref_get(r, &b, "heads/main")); /* never cached */
    CHECK_MEM(b.data, b.len, "c2", 2);

    /* new pack files */
    store_local_set_pack_max(w, 8 << 10);
    uint8_t buf[1000];
    for (int i = 1; i <= 200; i++) {
        cairn_id k;
        suite_key(&k, 8, (uint64_t)i);
        suite_fill(buf, chunk_len((uint64_t)i), &k);
        CHECK_OK(w->put(w, &k, buf, chunk_len((uint64_t)i)));
    }
    CHECK_OK(w->flush(w));
    for (int i = 200; i >= 1; i--) CHECK_MSG(chunk_ok(r, 8, (uint64_t)i), "reader misses chunk %d", i);
    cairn_store_stats ws, rs;
    CHECK_OK(w->stat(w, &ws));
    CHECK_OK(r->stat(r, &rs));
    CHECK(ws.files > 10);
    CHECK_EQ(rs.chunks, ws.chunks);
    CHECK_EQ(rs.bytes, ws.bytes);
    CHECK_EQ(rs.files, ws.files);
    /* deletes reach the reader when it refreshes (stat and list refresh) */
    CHECK_OK(w->del(w, &a));
    CHECK_OK(w->flush(w));
    CHECK_OK(r->stat(r, &rs));
    CHECK_EQ(rs.chunks, ws.chunks - 1);
    CHECK_RC(r->has(r, &a), CAIRN_ENOTFOUND);
    /* a second reader opened now sees the same */
    cairn_store *r2;
    CHECK_OK(store_local_open(&r2, repo, CAIRN_OPEN_READONLY, 0));
    CHECK_OK(r2->stat(r2, &rs));
    CHECK_EQ(rs.chunks, ws.chunks - 1);
    r2->close(r2);
    cairn_buf_dispose(&b);
    r->close(r);
    w->close(w);
}

/* Threads sharing one read-only handle while a writer appends, flushes and rolls packs: every
 * chunk published (flushed) before a get must be found by it. */
typedef struct follow {
    cairn_store *r;
    _Atomic int published; /* chunks [0, published) are flushed */
    _Atomic int done;
    int failures, checked;
} follow;

static void *follow_reader(void *p)
{
    follow *f = p;
    uint64_t rng = test_rng((uint64_t)(uintptr_t)p ^ (uint64_t)pthread_self());
    while (!f->done) {
        int n = f->published;
        if (n == 0) continue;
        int i = (int)(test_rand(&rng) % (uint64_t)n);
        if (!chunk_ok(f->r, 19, (uint64_t)i)) f->failures++;
        f->checked++;
    }
    return NULL;
}

static void reader_threads_follow_writer(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *w;
    CHECK_OK(store_local_open(&w, repo, CAIRN_OPEN_CREATE, 0));
    store_local_set_pack_max(w, 64 << 10);
    follow f = { .published = 0, .done = 0 };
    CHECK_OK(store_local_open(&f.r, repo, CAIRN_OPEN_READONLY, 0));
    follow per[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        per[t] = (follow){ .r = f.r };
        CHECK(pthread_create(&th[t], NULL, follow_reader, &per[t]) == 0);
    }
    uint8_t buf[1000];
    for (int i = 0; i < 1500; i++) {
        cairn_id k;
        suite_key(&k, 19, (uint64_t)i);
        suite_fill(buf, chunk_len((uint64_t)i), &k);
        CHECK_OK(w->put(w, &k, buf, chunk_len((uint64_t)i)));
        if (i % 10 == 9) {
            CHECK_OK(w->flush(w));
            for (int t = 0; t < 3; t++) per[t].published = i + 1;
        }
    }
    for (int t = 0; t < 3; t++) per[t].done = 1;
    int failures = 0, checked = 0;
    for (int t = 0; t < 3; t++) {
        pthread_join(th[t], NULL);
        failures += per[t].failures;
        checked += per[t].checked;
    }
    CHECK_EQ(failures, 0);
    CHECK(checked > 1000);
    cairn_store_stats ws, rs;
    CHECK_OK(w->stat(w, &ws));
    CHECK_OK(f.r->stat(f.r, &rs));
    CHECK(ws.files > 10);
    CHECK_EQ(rs.chunks, 1500);
    f.r->close(f.r);
    w->close(w);
}

static void rollover_and_reopen(void)
{
    enum { N = 2000 };
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 9, N, 32 << 10));
    cairn_store_stats s0, s;
    CHECK_OK(st->stat(st, &s0));
    CHECK(s0.files >= 30);
    CHECK_EQ(s0.chunks, N);
    st->close(st);
    for (unsigned p = 1; p <= s0.files; p++) {
        const char *pp = pathf("%s/packs/pack-%08u.pack", repo, p);
        long long sz = file_size(pp), end;
        prec one;
        CHECK_MSG(sz > 16 && sz <= (32 << 10) + 1045, "pack %u is %lld bytes", p, sz);
        walk_pack(pp, &one, 1, &end);
        CHECK_EQ(end, sz); /* every record of every pack is whole */
        CHECK_MSG(file_size(pathf("%s/packs/pack-%08u.idx", repo, p)) > 0, "no idx for pack %u", p);
    }
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, N);
    CHECK_EQ(s.files, s0.files);
    CHECK_EQ(s.bytes, s0.bytes);
    for (int i = 0; i < N; i++) CHECK(chunk_ok(st, 9, (uint64_t)i));
    st->close(st);
}

static void deletes_across_reopen(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 10, 60, 4 << 10)); /* chunks spread over many packs */
    for (int i = 0; i < 60; i += 3) {
        cairn_id k;
        suite_key(&k, 10, (uint64_t)i);
        CHECK_OK(st->del(st, &k)); /* tombstones in later packs than their chunks */
    }
    st->close(st);
    for (int round = 0; round < 2; round++) {
        if (round == 1) /* the same from the packs alone */
            for (unsigned p = 1; p < 100; p++) unlink(pathf("%s/packs/pack-%08u.idx", repo, p));
        CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
        for (int i = 0; i < 60; i++)
            CHECK(i % 3 == 0 ? chunk_absent(st, 10, (uint64_t)i) : chunk_ok(st, 10, (uint64_t)i));
        st->close(st);
    }
    /* re-put after delete, then reopen */
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    uint8_t buf[1000];
    cairn_id k;
    suite_key(&k, 10, 3);
    suite_fill(buf, chunk_len(3), &k);
    CHECK_OK(st->put(st, &k, buf, chunk_len(3)));
    CHECK(chunk_ok(st, 10, 3));
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK(chunk_ok(st, 10, 3));
    CHECK(chunk_absent(st, 10, 6));
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 41);
    st->close(st);
}

/* A child puts and flushes in a loop, reporting each flushed batch over a pipe; we SIGKILL it
 * at a random moment, reopen, and every reported chunk must be there, byte for byte. */
static size_t kill_len(uint64_t seq, int j) { return 1 + (size_t)((seq * 2654435761u + (uint64_t)j * 40503u) % (96 << 10)); }

static void kill9_child(const char *repo, int wfd, uint64_t first_seq)
{
    cairn_store *st;
    if (store_local_open(&st, repo, CAIRN_OPEN_CREATE, 2000) != CAIRN_OK) _exit(2);
    store_local_set_pack_max(st, 1 << 20);
    uint64_t opened = 0; /* the kill comes after this: a kill mid-create is not this test's */
    if (write(wfd, &opened, sizeof opened) != (ssize_t)sizeof opened) _exit(6);
    uint8_t *buf = malloc(96 << 10);
    for (uint64_t seq = first_seq;; seq++) {
        for (int j = 0; j < 4; j++) {
            cairn_id k;
            suite_key(&k, seq, (uint64_t)j);
            suite_fill(buf, kill_len(seq, j), &k);
            if (st->put(st, &k, buf, kill_len(seq, j)) != CAIRN_OK) _exit(3);
        }
        if (seq % 3 == 0) { /* some deletes too: a flushed delete must stay deleted */
            cairn_id k;
            suite_key(&k, seq, 3);
            if (st->del(st, &k) != CAIRN_OK) _exit(4);
        }
        if (st->flush(st) != CAIRN_OK) _exit(5);
        if (write(wfd, &seq, sizeof seq) != (ssize_t)sizeof seq) _exit(6);
    }
}

static void kill9_recovery(void)
{
    const char *repo = repo_in_tmp();
    uint64_t rng = test_rng(11), next_seq = 1, reported = 0;
    uint64_t *flushed = malloc(100000 * sizeof *flushed);
    size_t nflushed = 0;
    int torn = 0;
    for (int round = 0; round < 5; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = test_fork();
        if (pid == 0) {
            close(fds[0]);
            kill9_child(repo, fds[1], next_seq);
        }
        close(fds[1]);
        uint64_t opened = 1;
        CHECK(read(fds[0], &opened, sizeof opened) == (ssize_t)sizeof opened && opened == 0);
        struct timespec d = { 0, (long)(20 + test_rand(&rng) % 180) * 1000 * 1000 };
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "child exited early with %d", WEXITSTATUS(status));
        uint64_t seq;
        while (read(fds[0], &seq, sizeof seq) == (ssize_t)sizeof seq)
            if (nflushed < 100000) flushed[nflushed++] = seq;
        close(fds[0]);
        next_seq = (nflushed ? flushed[nflushed - 1] : next_seq) + 1000; /* fresh keys */
        cairn_store *st;
        log_start();
        CHECK_OK(store_local_open(&st, repo, 0, 0)); /* repairs whatever the kill left */
        cairn_set_log(NULL, NULL);
        torn += log_find(CAIRN_LOG_WARN, "torn tail", NULL) >= 0;
        uint8_t *want = malloc(96 << 10);
        cairn_buf b = CAIRN_BUF_INIT;
        for (size_t i = reported; i < nflushed; i++) {
            for (int j = 0; j < 4; j++) {
                cairn_id k;
                suite_key(&k, flushed[i], (uint64_t)j);
                if (j == 3 && flushed[i] % 3 == 0) {
                    CHECK_MSG(st->has(st, &k) == CAIRN_ENOTFOUND, "flushed delete undone");
                    continue;
                }
                suite_fill(want, kill_len(flushed[i], j), &k);
                CHECK_MSG(st->get(st, &b, &k) == CAIRN_OK, "round %d: flushed chunk %llu/%d lost: %s",
                          round, (unsigned long long)flushed[i], j, cairn_error_last()->message);
                CHECK_MEM(b.data, b.len, want, kill_len(flushed[i], j));
            }
        }
        free(want);
        cairn_buf_dispose(&b);
        st->close(st);
        reported = 0; /* re-check everything every round: later repairs must not lose earlier data */
    }
    CHECK_MSG(nflushed >= 5, "the children flushed only %zu batches: the test proved little", nflushed);
    printf("  kill9: %zu flushed batches checked over 5 kills, %d torn tails repaired\n", nflushed,
           torn);
    free(flushed);
}

/* Writes that fail (here: the file size limit, EFBIG, as a full disk would) keep the buffered
 * records: a later flush rewrites them at the same offset, and every put that succeeded is on
 * disk after it. Runs in a child so that the limit stays there. */
static void write_failure_retried(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0));
    st->close(st);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = test_fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        struct rlimit low = { 600 << 10, rl.rlim_max };
        if (store_local_open(&st, repo, 0, 0) != CAIRN_OK) _exit(2);
        if (setrlimit(RLIMIT_FSIZE, &low) != 0) _exit(3);
        uint8_t buf[4096];
        int acked = 0, put_rc = CAIRN_OK;
        for (int i = 0; i < 1000 && put_rc == CAIRN_OK; i++) {
            cairn_id k;
            suite_key(&k, 18, (uint64_t)i);
            suite_fill(buf, sizeof buf, &k);
            put_rc = st->put(st, &k, buf, sizeof buf);
            if (put_rc == CAIRN_OK) acked++;
        }
        int msg_ok = strstr(cairn_error_last()->message, "pack-00000001.pack") != NULL;
        int flush_rc = st->flush(st); /* still over the limit */
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(4);
        int retry_rc = st->flush(st);
        int report[5] = { acked, put_rc, msg_ok, flush_rc, retry_rc };
        if (write(fds[1], report, sizeof report) != (ssize_t)sizeof report) _exit(5);
        st->close(st);
        _exit(0);
    }
    close(fds[1]);
    int r[5];
    CHECK(read(fds[0], r, sizeof r) == (ssize_t)sizeof r);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(r[0] > 100 && r[0] < 400, "%d puts acknowledged under a 600 KiB limit", r[0]);
    CHECK_EQ(r[1], CAIRN_EIO);
    CHECK(r[2]);
    CHECK_EQ(r[3], CAIRN_EIO);
    CHECK_EQ(r[4], CAIRN_OK);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    cairn_buf b = CAIRN_BUF_INIT;
    uint8_t want[4096];
    for (int i = 0; i < r[0]; i++) {
        cairn_id k;
        suite_key(&k, 18, (uint64_t)i);
        suite_fill(want, sizeof want, &k);
        CHECK_MSG(st->get(st, &b, &k) == CAIRN_OK, "acknowledged chunk %d lost", i);
        CHECK_MEM(b.data, b.len, want, sizeof want);
    }
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, r[0]);
    cairn_buf_dispose(&b);
    st->close(st);
}

/* ---- compaction ---- */

static void compaction(void)
{
    enum { N = 1000 };
    const char *repo = repo_in_tmp();
    cairn_store *st, *reader;
    CHECK_OK(fill(&st, repo, 12, N, 16 << 10));
    for (int i = 0; i < N; i++) {
        if (i % 10 == 0) continue;
        cairn_id k;
        suite_key(&k, 12, (uint64_t)i);
        CHECK_OK(st->del(st, &k));
    }
    CHECK_OK(st->flush(st));
    CHECK_OK(store_local_open(&reader, repo, CAIRN_OPEN_READONLY, 0)); /* holds the old packs */
    CHECK(chunk_ok(reader, 12, 0));
    cairn_store_stats before, after;
    CHECK_OK(st->stat(st, &before));
    uint64_t freed = 0;
    CHECK_OK(compact(st, 0.5, &freed));
    CHECK_OK(st->stat(st, &after));
    CHECK_MSG(after.files < before.files / 3, "%llu packs before, %llu after",
              (unsigned long long)before.files, (unsigned long long)after.files);
    CHECK(freed > 300000);
    CHECK_EQ(after.chunks, N / 10);
    CHECK_EQ(after.bytes, before.bytes);
    for (int i = 0; i < N; i++)
        CHECK(i % 10 == 0 ? chunk_ok(st, 12, (uint64_t)i) : chunk_absent(st, 12, (uint64_t)i));
    /* the reader that opened before still reads through its open (now unlinked) packs */
    for (int i = 0; i < N; i += 10) CHECK(chunk_ok(reader, 12, (uint64_t)i));
    /* and finds what comes later */
    cairn_id late;
    suite_key(&late, 12, N);
    CHECK_OK(st->put(st, &late, "late", 4));
    CHECK_OK(st->flush(st));
    CHECK_OK(reader->has(reader, &late));
    cairn_store_stats rs; /* the refresh let go of the deleted packs */
    CHECK_OK(st->stat(st, &after));
    CHECK_OK(reader->stat(reader, &rs));
    CHECK_EQ(rs.files, after.files);
    CHECK_EQ(rs.chunks, after.chunks);
    for (int i = 0; i < N; i += 10) CHECK(chunk_ok(reader, 12, (uint64_t)i));
    reader->close(reader);
    /* nothing comes back after reopen (tombstones survived where they had to) */
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    for (int i = 0; i < N; i++)
        CHECK(i % 10 == 0 ? chunk_ok(st, 12, (uint64_t)i) : chunk_absent(st, 12, (uint64_t)i));
    CHECK_OK(st->stat(st, &after));
    CHECK_EQ(after.chunks, N / 10 + 1);
    st->close(st);
}

/* A tombstone in a compacted pack must be carried while an older kept pack holds its key, and
 * may be dropped once no older pack does. */
static void compaction_tombstones(void)
{
    const char *repo = repo_in_tmp();
    const char *p1 = pathf("%s/packs/pack-00000001.pack", repo);
    cairn_store *st;
    /* pack 1: 30 live chunks (kept: mostly live) */
    CHECK_OK(fill(&st, repo, 13, 30, 64 << 10));
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.files, 1);
    store_local_set_pack_max(st, 1); /* the next record starts pack 2 */
    uint8_t buf[1000];
    cairn_id g;
    suite_key(&g, 14, 0);
    suite_fill(buf, 900, &g);
    CHECK_OK(st->put(st, &g, buf, 900));
    store_local_set_pack_max(st, 64 << 10);
    cairn_id k0;
    suite_key(&k0, 13, 0);
    CHECK_OK(st->del(st, &k0)); /* pack 2: g, then the tombstone of k0 (whose chunk is in 1) */
    CHECK_OK(st->del(st, &g));
    store_local_set_pack_max(st, 1);
    cairn_id h;
    suite_key(&h, 14, 1);
    CHECK_OK(st->put(st, &h, "h", 1)); /* seals pack 2 */
    store_local_set_pack_max(st, 64 << 10);
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.files, 3);
    uint64_t freed;
    CHECK_OK(compact(st, 0.5, &freed)); /* pack 2 is all dead: goes */
    CHECK(file_size(pathf("%s/packs/pack-00000002.pack", repo)) < 0);
    CHECK(file_size(p1) > 0);
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK_MSG(chunk_absent(st, 13, 0), "a deleted chunk came back after compaction");
    CHECK_RC(st->has(st, &g), CAIRN_ENOTFOUND);
    CHECK(chunk_ok(st, 13, 1));
    /* the carried tombstone for k0 is in pack 3; g's was dropped (no older pack held g) */
    prec recs[16];
    long long end;
    size_t n3 = walk_pack(pathf("%s/packs/pack-00000003.pack", repo), recs, 16, &end);
    int k0_tomb = 0, g_tomb = 0;
    for (size_t i = 0; i < n3 && i < 16; i++) {
        if (recs[i].type == 2 && memcmp(&recs[i].key, &k0, 32) == 0) k0_tomb++;
        if (recs[i].type == 2 && memcmp(&recs[i].key, &g, 32) == 0) g_tomb++;
    }
    CHECK_EQ(k0_tomb, 1);
    CHECK_EQ(g_tomb, 0);

    /* now make pack 1 mostly dead too: compacting it lets nothing come back either */
    for (int i = 1; i < 30; i++) {
        if (i % 5 == 0) continue;
        cairn_id k;
        suite_key(&k, 13, (uint64_t)i);
        CHECK_OK(st->del(st, &k));
    }
    CHECK_OK(compact(st, 0.5, &freed));
    CHECK(file_size(p1) < 0);
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    for (int i = 0; i < 30; i++)
        CHECK(i % 5 == 0 && i ? chunk_ok(st, 13, (uint64_t)i) : chunk_absent(st, 13, (uint64_t)i));
    CHECK_OK(st->has(st, &h));
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 6);
    st->close(st);
}

/* Compaction killed at a random moment: reopening always gives exactly the live set. */
static void compaction_kill9(void)
{
    enum { N = 600 };
    uint64_t rng = test_rng(15);
    int killed_mid = 0;
    for (int round = 0; round < 6; round++) {
        const char *repo = repo_in_tmp();
        cairn_store *st;
        CHECK_OK(fill(&st, repo, 15, N, 16 << 10));
        for (int i = 0; i < N; i++) {
            if (i % 4 == 0) continue;
            cairn_id k;
            suite_key(&k, 15, (uint64_t)i);
            CHECK_OK(st->del(st, &k));
        }
        st->close(st);
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = test_fork();
        if (pid == 0) {
            close(fds[0]);
            cairn_store *c;
            if (store_local_open(&c, repo, 0, 0) != CAIRN_OK) _exit(2);
            if (write(fds[1], "c", 1) != 1) _exit(4); /* compaction starts now */
            if (compact(c, 0.9, NULL) != CAIRN_OK) _exit(3);
            _exit(0); /* no close: as abrupt as a crash */
        }
        close(fds[1]);
        char c;
        CHECK(read(fds[0], &c, 1) == 1);
        close(fds[0]);
        /* compaction of this repository takes a few ms: land anywhere in it */
        struct timespec d = { 0, (long)(test_rand(&rng) % 5000) * 1000 };
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status) || WEXITSTATUS(status) == 0, "compaction child failed: %d",
                  WEXITSTATUS(status));
        CHECK_OK(store_local_open(&st, repo, 0, 0));
        cairn_store_stats mid;
        CHECK_OK(st->stat(st, &mid));
        killed_mid += WIFSIGNALED(status) && mid.files > 2;
        if (getenv("CAIRN_TEST_VERBOSE")) printf("  round %d: %llu packs after the kill\n", round, (unsigned long long)mid.files);
        for (int i = 0; i < N; i++)
            CHECK_MSG(i % 4 == 0 ? chunk_ok(st, 15, (uint64_t)i) : chunk_absent(st, 15, (uint64_t)i),
                      "round %d: chunk %d wrong after a killed compaction", round, i);
        CHECK_OK(compact(st, 0.9, NULL)); /* and it can finish the job */
        cairn_store_stats s;
        CHECK_OK(st->stat(st, &s));
        CHECK_EQ(s.chunks, N / 4);
        st->close(st);
    }
    printf("  compaction_kill9: %d of 6 compactions killed part-way\n", killed_mid);
}

/* ---- measurements (printed, not asserted) ---- */

static void measure(void)
{
    enum { N = 30000, SZ = 4096 };
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0));
    uint8_t *data = malloc((size_t)N * SZ);
    uint64_t rng = test_rng(16);
    for (size_t i = 0; i < (size_t)N * SZ / 8; i++) {
        uint64_t v = test_rand(&rng);
        memcpy(data + i * 8, &v, 8);
    }
    cairn_id *keys = malloc(N * sizeof *keys);
    for (int i = 0; i < N; i++) suite_key(&keys[i], 16, (uint64_t)i);
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) CHECK_OK(st->put(st, &keys[i], data + (size_t)i * SZ, SZ));
    CHECK_OK(st->flush(st));
    clock_gettime(CLOCK_MONOTONIC, &z);
    double put_s = (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
    cairn_buf b = CAIRN_BUF_INIT;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        int j = (int)(test_rand(&rng) % N);
        CHECK_OK(st->get(st, &b, &keys[j]));
        CHECK(b.len == SZ && memcmp(b.data, data + (size_t)j * SZ, 8) == 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &z);
    double get_s = (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
    printf("  measure: put %d x %d B + flush: %.3f s, %.0f MB/s; random get: %.0f ops/s\n", N, SZ,
           put_s, (double)N * SZ / put_s / 1e6, N / get_s);
    st->close(st);
    cairn_buf_dispose(&b);

    if (getenv("CAIRN_BENCH")) { /* a 120 MB pack: open with and without its index */
        const char *big = repo_in_tmp();
        CHECK_OK(store_local_open(&st, big, CAIRN_OPEN_CREATE, 0));
        for (int i = 0; i < 29300; i++) {
            cairn_id k;
            suite_key(&k, 17, (uint64_t)i);
            CHECK_OK(st->put(st, &k, data + (size_t)(i % N) * SZ, SZ));
        }
        st->close(st);
        const char *idx = pathf("%s/packs/pack-00000001.idx", big);
        printf("  measure: pack of %lld bytes, index of %lld bytes\n",
               file_size(pathf("%s/packs/pack-00000001.pack", big)), file_size(idx));
        static const struct {
            const char *what;
            unsigned flags;
            int drop_idx, cold;
        } variants[] = {
            { "reader, with idx, warm cache", CAIRN_OPEN_READONLY, 0, 0 },
            { "reader, with idx, cold cache", CAIRN_OPEN_READONLY, 0, 1 },
            { "writer, with idx, warm cache", 0, 0, 0 },
            { "reader, without idx, warm cache", CAIRN_OPEN_READONLY, 1, 0 },
            { "reader, without idx, cold cache", CAIRN_OPEN_READONLY, 1, 1 },
            { "writer, without idx (scans, rewrites idx), warm", 0, 1, 0 },
        };
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            if (variants[v].drop_idx) unlink(idx);
            CHECK(variants[v].drop_idx ? file_size(idx) < 0 : file_size(idx) > 0);
            /* warm: read the files once; cold: evict their (clean, synced) pages */
            const char *files[] = { idx, pathf("%s/packs/pack-00000001.pack", big) };
            for (int f = 0; f < 2; f++) {
                int fd = open(files[f], O_RDONLY);
                if (fd < 0) continue;
                if (variants[v].cold) {
                    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                } else {
                    static uint8_t sink[1 << 16];
                    while (read(fd, sink, sizeof sink) > 0) continue;
                }
                close(fd);
            }
            clock_gettime(CLOCK_MONOTONIC, &a);
            CHECK_OK(store_local_open(&st, big, variants[v].flags, 0));
            clock_gettime(CLOCK_MONOTONIC, &z);
            cairn_store_stats s;
            CHECK_OK(st->stat(st, &s));
            CHECK_EQ(s.chunks, 29300);
            st->close(st);
            printf("  measure: open %s: %.1f ms\n", variants[v].what,
                   ((double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9) * 1e3);
        }
    }
    free(keys);
    free(data);
}

static int count_ref(const char *name, const void *val, size_t len, void *payload)
{
    (void)name;
    (void)val;
    (void)len;
    (*(int *)payload)++;
    return 0;
}

/* Reads ref name and checks its value. */
static bool ref_is(cairn_store *st, const char *name, const char *want)
{
    cairn_buf b = CAIRN_BUF_INIT;
    bool ok = st->ref_get(st, &b, name) == CAIRN_OK && b.len == strlen(want) &&
              memcmp(b.data, want, b.len) == 0;
    cairn_buf_dispose(&b);
    return ok;
}

/* Moves of a slotted ref alternate between its two slots in place; a damaged newest slot (a
 * move torn by a crash) reads as the value before that move, and the next move writes over it;
 * both damaged is corruption named with the file; plain files (the older layout) are read and
 * become slotted at their next move; values too long for a slot stay plain. */
static void ref_slots(void)
{
    const char *repo = pathf("%s/r", test_tmpdir());
    cairn_store *st;
    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0));
    const char *path = pathf("%s/refs/heads/main", repo);
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "v1", 2));
    struct stat sb0, sb;
    CHECK(stat(path, &sb0) == 0);
    CHECK_OK(st->ref_cas(st, "heads/main", "v1", 2, "v2", 2));
    CHECK_OK(st->ref_cas(st, "heads/main", "v2", 2, "v3", 2));
    CHECK(stat(path, &sb) == 0);
    CHECK_EQ(sb.st_ino, sb0.st_ino); /* moved in place, not replaced */
    size_t len;
    uint8_t *f = slurp(path, &len);
    CHECK_EQ(len, 8192);
    CHECK_EQ(load_le64(f + 8), 3);        /* slot 0: seq 3, "v3" */
    CHECK_MEM(f + 24, 2, "v3", 2);
    CHECK_EQ(load_le64(f + 4096 + 8), 2); /* slot 1: seq 2, "v2" */
    CHECK_MEM(f + 4096 + 24, 2, "v2", 2);
    CHECK(ref_is(st, "heads/main", "v3"));

    /* the newest slot torn: the value before its move, and a CAS from that value works */
    f[24] ^= 1;
    CHECK(spit(path, f, len, "wb") == 0);
    CHECK(ref_is(st, "heads/main", "v2"));
    CHECK_RC(st->ref_cas(st, "heads/main", "v3", 2, "v4", 2), CAIRN_ECONFLICT);
    CHECK_OK(st->ref_cas(st, "heads/main", "v2", 2, "v4", 2));
    CHECK(ref_is(st, "heads/main", "v4"));
    free(f);
    f = slurp(path, &len);
    CHECK_EQ(load_le64(f + 8), 3); /* written over the damaged slot 0 */
    CHECK_MEM(f + 24, 2, "v4", 2);

    /* both slots damaged */
    f[4096 + 10] ^= 0x40;
    f[30] ^= 0x40;
    f[8] ^= 1;
    CHECK(spit(path, f, len, "wb") == 0);
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_RC(st->ref_get(st, &b, "heads/main"), CAIRN_ECORRUPT);
    CHECK_ERRMSG(path);
    CHECK_ERRMSG("restore it from a backup");
    CHECK_OK(st->ref_cas(st, "working/main", NULL, 0, "w", 1)); /* a working state: other advice */
    CHECK(spit(pathf("%s/refs/working/main", repo), f, len, "wb") == 0);
    CHECK_RC(st->ref_get(st, &b, "working/main"), CAIRN_ECORRUPT);
    CHECK_ERRMSG("delete it to start this working state again");
    CHECK_RC(st->ref_cas(st, "heads/main", "v4", 2, "v5", 2), CAIRN_ECORRUPT);
    free(f);

    /* a plain file is read as it is, and slotted by its next move */
    CHECK(spit(path, "plain", 5, "wb") == 0);
    CHECK(ref_is(st, "heads/main", "plain"));
    CHECK_OK(st->ref_cas(st, "heads/main", "plain", 5, "slotted", 7));
    CHECK(ref_is(st, "heads/main", "slotted"));
    CHECK(stat(path, &sb) == 0);
    CHECK_EQ(sb.st_size, 8192);

    /* a slot at the last sequence number is invalid: no move could ever supersede it */
    uint8_t *two = calloc(1, 8192);
    refslot_encode(two, UINT64_MAX, "stuck", 5);
    refslot_encode(two + 4096, 5, "five", 4);
    CHECK(spit(path, two, 8192, "wb") == 0);
    CHECK(ref_is(st, "heads/main", "five"));
    CHECK_OK(st->ref_cas(st, "heads/main", "five", 4, "six", 3)); /* written over slot 0 */
    CHECK(ref_is(st, "heads/main", "six"));
    free(two);

    /* a file of another size above the value limit is refused as corrupt */
    uint8_t *odd = calloc(1, 5000);
    CHECK(spit(path, odd, 5000, "wb") == 0);
    CHECK_RC(st->ref_get(st, &b, "heads/main"), CAIRN_ECORRUPT);
    CHECK_ERRMSG("not written by cairn");

    /* values longer than a slot holds stay plain files, both ways */
    memset(odd, 'x', 4096);
    CHECK_OK(st->ref_cas(st, "tags/long", NULL, 0, odd, 4096));
    CHECK(stat(pathf("%s/refs/tags/long", repo), &sb) == 0);
    CHECK_EQ(sb.st_size, 4096);
    CHECK_OK(st->ref_get(st, &b, "tags/long"));
    CHECK_MEM(b.data, b.len, odd, 4096);
    CHECK_OK(st->ref_cas(st, "tags/long", odd, 4096, "short", 5));
    CHECK(ref_is(st, "tags/long", "short"));
    CHECK_OK(st->ref_cas(st, "tags/long", "short", 5, odd, 4072)); /* the most a slot holds */
    CHECK(stat(pathf("%s/refs/tags/long", repo), &sb) == 0);
    CHECK_EQ(sb.st_size, 8192);
    CHECK_OK(st->ref_get(st, &b, "tags/long"));
    CHECK_MEM(b.data, b.len, odd, 4072);
    CHECK_OK(st->ref_cas(st, "tags/long", odd, 4072, odd, 4073));
    CHECK(stat(pathf("%s/refs/tags/long", repo), &sb) == 0);
    CHECK_EQ(sb.st_size, 4073);
    CHECK_OK(st->ref_cas(st, "tags/long", odd, 4073, NULL, 0)); /* delete */
    CHECK_RC(st->ref_get(st, &b, "tags/long"), CAIRN_ENOTFOUND);
    free(odd);
    cairn_buf_dispose(&b);
    st->close(st);
}

typedef struct items {
    int n, problems, fixed;
    char msg[16][1100];
    int kind[16];
} items;

static int item_cb(const cairn_repair_item *it, void *payload)
{
    items *v = payload;
    if (v->n < 16) {
        snprintf(v->msg[v->n], sizeof v->msg[0], "%s", it->message);
        v->kind[v->n] = it->kind;
    }
    v->n++;
    v->problems += it->problem;
    v->fixed += it->fixed;
    return 0;
}

/* The repair method: quarantined chunk records not in the store are listed and put back; a
 * damaged ref slot is named and rewritten from the good one; a ref neither of whose slots is
 * valid is named, hides no other ref from ref_list, and ref_remove_damaged deletes it. */
static void repair_method(void)
{
    const char *repo = repo_in_tmp(), *other = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, other, 21, 10, 0));
    st->close(st);
    CHECK_OK(fill(&st, repo, 20, 10, 0));
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "v1", 2));
    CHECK_OK(st->ref_cas(st, "heads/main", "v1", 2, "v2", 2));
    CHECK_OK(st->ref_cas(st, "tags/a", NULL, 0, "a", 1));
    CHECK_OK(st->ref_cas(st, "tags/b", NULL, 0, "b", 1));
    CHECK_OK(st->ref_cas(st, "tags/c", NULL, 0, "c", 1));
    st->close(st);
    /* a quarantine file: junk, then the other repository's records */
    size_t plen;
    uint8_t *p = slurp(pathf("%s/packs/pack-00000001.pack", other), &plen);
    CHECK(p != NULL);
    memcpy(p, "junkjunkjunkjunk", 16);
    CHECK(spit(pathf("%s/quarantine/pack-00000001.99.tail", repo), p, plen, "wb") == 0);
    free(p);
    /* heads/main: its newest slot (1, "v2") damaged; tags/b: both */
    CHECK(flip_byte(pathf("%s/refs/heads/main", repo), 4096 + 24) == 0);
    CHECK(flip_byte(pathf("%s/refs/tags/b", repo), 24) == 0);
    CHECK(flip_byte(pathf("%s/refs/tags/b", repo), 4096 + 8) == 0);

    CHECK_OK(store_local_open(&st, repo, CAIRN_OPEN_READONLY, 0));
    items v = { 0 };
    cairn_repair_stats rs;
    CHECK_OK(st->repair(st, CAIRN_REPAIR_DRY_RUN, item_cb, &v, &rs));
    CHECK_EQ(v.n, 3);
    CHECK_EQ(rs.problems, 3);
    CHECK_EQ(v.fixed, 0);
    CHECK(strstr(v.msg[0], "quarantine/pack-00000001.99.tail") && strstr(v.msg[0], "10 valid chunk"));
    CHECK(strstr(v.msg[1], "refs/heads/main") && strstr(v.msg[1], "slot 1") &&
          strstr(v.msg[1], "'v1'") && strstr(v.msg[1], "acknowledged moves"));
    CHECK(strstr(v.msg[2], "refs/tags/b") && strstr(v.msg[2], "cairn tag -d b"));
    CHECK_RC(st->repair(st, 0, NULL, NULL, NULL), CAIRN_EREADONLY);
    st->close(st);

    CHECK_OK(store_local_open(&st, repo, 0, 0));
    /* ref_list: the others, then CAIRN_ECORRUPT naming the damaged file */
    int n = 0;
    CHECK_RC(st->ref_list(st, "tags/", count_ref, &n), CAIRN_ECORRUPT);
    CHECK_EQ(n, 2);
    CHECK_ERRMSG("refs/tags/b");
    memset(&v, 0, sizeof v);
    CHECK_OK(st->repair(st, 0, item_cb, &v, &rs));
    CHECK_EQ(rs.chunks_restored, 10);
    CHECK_EQ(rs.slots_rewritten, 1);
    CHECK_EQ(rs.fixed, 2);
    for (int i = 0; i < 10; i++) CHECK(chunk_ok(st, 21, (uint64_t)i));
    CHECK(ref_is(st, "heads/main", "v1"));
    CHECK_RC(st->ref_remove_damaged(st, "tags/a"), CAIRN_EINVAL); /* reads fine */
    CHECK_RC(st->ref_remove_damaged(st, "tags/zz"), CAIRN_ENOTFOUND);
    CHECK_OK(st->ref_remove_damaged(st, "tags/b"));
    n = 0;
    CHECK_OK(st->ref_list(st, "", count_ref, &n));
    CHECK_EQ(n, 3);
    memset(&v, 0, sizeof v);
    CHECK_OK(st->repair(st, CAIRN_REPAIR_DRY_RUN, item_cb, &v, &rs));
    CHECK_EQ(rs.problems, 0);
    CHECK_EQ(v.n, 1); /* the quarantine file, now a note */
    st->close(st);
}

/* A read that finds a damaged record in the pack being written: the writer appends no more to
 * that pack (it is sealed and a new one started), and every other record still reads. */
static void damage_found_by_writer_read(void)
{
    enum { N = 30 };
    const char *repo = repo_in_tmp();
    const char *pack = pathf("%s/packs/pack-00000001.pack", repo);
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 13, N, 0));
    CHECK_OK(st->flush(st));
    prec recs[64];
    long long end;
    CHECK_EQ(walk_pack(pack, recs, 64, &end), N);
    CHECK(flip_byte(pack, recs[7].off + 4 + 33 + 9) == 0);
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_RC(st->get(st, &b, &recs[7].key), CAIRN_ECORRUPT);
    long long size = file_size(pack);
    cairn_id k;
    suite_key(&k, 14, 0);
    log_start();
    CHECK_OK(st->put(st, &k, "after", 5));
    CHECK_OK(st->flush(st));
    cairn_set_log(NULL, NULL);
    CHECK(log_find(CAIRN_LOG_WARN, "pack-00000001.pack", "damaged record") >= 0);
    CHECK_EQ(file_size(pack), size);
    CHECK(file_size(pathf("%s/packs/pack-00000002.pack", repo)) > 16);
    st->close(st);
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK_RC(st->get(st, &b, &recs[7].key), CAIRN_ECORRUPT);
    for (int i = 0; i < N; i++)
        if (i != 7) CHECK(chunk_ok(st, 13, (uint64_t)i));
    CHECK_OK(st->get(st, &b, &k));
    cairn_buf_dispose(&b);
    st->close(st);
}


/* ---- packs/summary: open maps no index, a lookup only the packs its filters let through ---- */

static atomic_int idx_opens, pack_opens, data_syncs;

static int counting_open(const char *path, int flags, mode_t mode)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".idx") == 0) atomic_fetch_add(&idx_opens, 1);
    if (n > 5 && strcmp(path + n - 5, ".pack") == 0) atomic_fetch_add(&pack_opens, 1);
    return open(path, flags, mode);
}

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(&data_syncs, 1);
    return fdatasync(fd);
}

static void count_start(void)
{
    atomic_store(&idx_opens, 0);
    atomic_store(&pack_opens, 0);
    atomic_store(&data_syncs, 0);
    sys_table_set(&(sys_table){ .open = counting_open, .fdatasync = counting_fdatasync });
}

enum { SUM_N = 500 };

/* A repository of SUM_N chunks (salt 21) in many small packs, and its packs/summary. */
typedef struct sum_repo {
    const char *repo, *path;
    uint8_t *sum; /* the file's bytes (caller frees) */
    size_t len;
    unsigned packs;
} sum_repo;

static void summary_repo(sum_repo *r)
{
    memset(r, 0, sizeof *r);
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 21, SUM_N, 12 << 10));
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    st->close(st);
    r->repo = repo;
    r->packs = (unsigned)s.files;
    r->path = pathf("%s/packs/summary", repo);
    r->sum = slurp(r->path, &r->len);
}

static int all_chunks_read(cairn_store *st, uint64_t salt, int n)
{
    int good = 0;
    for (int i = 0; i < n; i++) good += chunk_ok(st, salt, (uint64_t)i);
    return good;
}

/* Open maps the index of the last pack only (the writer's); one get maps the index of the pack
 * that holds the chunk and of few others (the filters' false "maybe"s); closing a store that
 * wrote nothing syncs nothing; one that wrote, does. Then every chunk reads. */
static void summary_lazy_open(void)
{
    sum_repo r;
    summary_repo(&r);
    CHECK(r.sum != NULL);
    CHECK(r.packs >= 20);
    uint64_t n;
    memcpy(&n, r.sum + 16, 8);
    CHECK_EQ(n, r.packs - 1); /* every sealed pack */
    for (int reader = 0; reader < 2; reader++) {
        cairn_store *st;
        count_start();
        CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        CHECK(atomic_load(&idx_opens) <= 1);
        int at_open = atomic_load(&idx_opens);
        CHECK(chunk_ok(st, 21, 7));
        CHECK_MSG(atomic_load(&idx_opens) - at_open <= 3, "one get opened %d indexes of %u",
                  atomic_load(&idx_opens) - at_open, r.packs);
        st->close(st);
        CHECK_EQ(atomic_load(&data_syncs), 0);
        sys_table_set(NULL);
        CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        CHECK_EQ(all_chunks_read(st, 21, SUM_N), SUM_N);
        for (int i = 0; i < 50; i++) CHECK(chunk_absent(st, 22, (uint64_t)i));
        st->close(st);
    }
    cairn_store *st;
    CHECK_OK(store_local_open(&st, r.repo, 0, 0));
    count_start();
    cairn_id k;
    suite_key(&k, 99, 1);
    CHECK_OK(st->put(st, &k, "x", 1));
    st->close(st);
    CHECK(atomic_load(&data_syncs) >= 1);
    sys_table_set(NULL);
    free(r.sum);
}

/* The descriptors this process holds (/proc/self/fd, less the listing's own). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* Open opens none of the sealed packs packs/summary lists, however many there are: the
 * descriptors a handle holds after open stay bounded (counted in /proc/self/fd) and only the
 * last pack's file is opened; a read opens the one pack it reads; close closes them all. */
static void lazy_pack_fds(void)
{
    sum_repo r;
    summary_repo(&r);
    CHECK(r.packs >= 20);
    for (int reader = 0; reader < 2; reader++) {
        cairn_store *st;
        int before = open_fds();
        CHECK(before > 0);
        count_start();
        CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        int at_open = open_fds();
        CHECK_MSG(at_open - before <= 3, "open holds %d more descriptors (%u packs)",
                  at_open - before, r.packs);
        CHECK_EQ(atomic_load(&pack_opens), 1); /* the last pack's: a writer appends to it */
        CHECK(chunk_ok(st, 21, 7));            /* in one of the first packs */
        CHECK_EQ(atomic_load(&pack_opens), 2);
        CHECK_EQ(open_fds(), at_open + 1);
        CHECK(chunk_ok(st, 21, 8)); /* the same pack: opened once */
        CHECK_EQ(atomic_load(&pack_opens), 2);
        sys_table_set(NULL);
        CHECK_EQ(all_chunks_read(st, 21, SUM_N), SUM_N);
        CHECK(open_fds() - at_open <= (int)r.packs);
        st->close(st);
        CHECK_EQ(open_fds(), before);
    }
    free(r.sum);
}

/* A pack deleted after open (by hand here; in life by compaction in another process, which a
 * reader gets past by refreshing: see compaction) is reported by the read that needs it,
 * naming the pack, to a writer and a reader alike; the other packs still read. */
static void lazy_pack_gone(void)
{
    sum_repo r;
    summary_repo(&r);
    cairn_id k;
    suite_key(&k, 21, 7);
    for (int reader = 0; reader < 2; reader++) {
        cairn_store *st;
        CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        cairn_store_location loc;
        CHECK_OK(st->locate(st, &k, &loc)); /* from its index: the pack is not opened */
        const char *pack = pathf("%s/%s", r.repo, loc.name);
        const char *aside = pathf("%s.aside", pack);
        CHECK(rename(pack, aside) == 0);
        cairn_buf b = CAIRN_BUF_INIT;
        CHECK_RC(st->get(st, &b, &k), CAIRN_EIO);
        CHECK_ERRMSG(strchr(loc.name, '/') + 1); /* pack-0000000N.pack */
        CHECK_ERRMSG("is gone");
        CHECK_ERRMSG(r.repo);
        CHECK(chunk_ok(st, 21, SUM_N - 1)); /* another pack */
        /* the writer's index still names it; the reader, having refreshed, sees what an open
         * would now: the pack is not there */
        CHECK_RC(st->has(st, &k), reader ? CAIRN_ENOTFOUND : CAIRN_OK);
        st->close(st);
        cairn_buf_dispose(&b);
        CHECK(rename(aside, pack) == 0);
    }
    /* one cut short after open is found where it is first opened, and says both sizes */
    cairn_store *st;
    CHECK_OK(store_local_open(&st, r.repo, CAIRN_OPEN_READONLY, 0));
    cairn_store_location loc;
    CHECK_OK(st->locate(st, &k, &loc));
    const char *pack = pathf("%s/%s", r.repo, loc.name);
    size_t plen;
    uint8_t *bytes = slurp(pack, &plen);
    CHECK(bytes != NULL && truncate(pack, (off_t)plen / 2) == 0);
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_RC(st->get(st, &b, &k), CAIRN_ECORRUPT);
    CHECK_ERRMSG(strchr(loc.name, '/') + 1);
    CHECK_ERRMSG(pathf("holds %zu bytes where packs/summary and its index say %zu", plen / 2,
                       plen));
    st->close(st);
    cairn_buf_dispose(&b);
    CHECK(spit(pack, bytes, plen, "wb") == 0);
    free(bytes);
    free(r.sum);
}

/* A pack scanned at open that holds deletions (its .idx gone, as after a crash) no longer
 * merges every pack's index into memory: open maps none of the summarised packs' indexes
 * (before: all of them), the deleted chunks read as absent, the rest read, and the counts are
 * right once the whole index is loaded. */
static void scanned_deletions_stay_lazy(void)
{
    enum { DELS = 10 };
    sum_repo r;
    summary_repo(&r);
    cairn_store *st;
    CHECK_OK(store_local_open(&st, r.repo, 0, 0));
    for (int i = 0; i < DELS; i++) { /* chunks of the first packs */
        cairn_id k;
        suite_key(&k, 21, (uint64_t)i);
        CHECK_OK(st->del(st, &k));
    }
    CHECK_OK(st->flush(st));
    st->close(st);
    unsigned last = 0;
    for (unsigned n = 1; n < 1000; n++)
        if (file_size(pathf("%s/packs/pack-%08u.pack", r.repo, n)) >= 0) last = n;
    CHECK(unlink(pathf("%s/packs/pack-%08u.idx", r.repo, last)) == 0); /* its tombstones: scanned */
    for (int reader = 1; reader >= 0; reader--) {
        count_start();
        CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
        CHECK_MSG(atomic_load(&idx_opens) <= 2, "open opened %d indexes of %u packs",
                  atomic_load(&idx_opens), r.packs);
        sys_table_set(NULL);
        for (int i = 0; i < SUM_N; i++)
            CHECK(i < DELS ? chunk_absent(st, 21, (uint64_t)i) : chunk_ok(st, 21, (uint64_t)i));
        cairn_store_stats ss;
        CHECK_OK(st->stat(st, &ss));
        CHECK_EQ(ss.chunks, SUM_N - DELS);
        for (int i = 0; i < DELS; i++) CHECK(chunk_absent(st, 21, (uint64_t)i));
        st->close(st);
    }
    free(r.sum);
}

/* A damaged packs/summary never costs a chunk: a flipped byte in its table makes open ignore it
 * (a warning), one in a filter block answers "maybe" for that block (a warning); a reader
 * leaves the file alone, a writer writes it again as it was. */
static void summary_damage(void)
{
    sum_repo r;
    summary_repo(&r);
    CHECK(r.sum != NULL);
    uint64_t filt0;
    memcpy(&filt0, r.sum + 32 + 32, 8);
    /* version, pack count, file size, an entry's number, size, count, trailer, filter offset,
     * blocks, the table checksum; a filter block's bits, its checksum */
    const size_t table_end = 32 + (size_t)(r.packs - 1) * 48;
    const size_t at[] = { 8, 17, 25, 32 + 48 + 1, 32 + 8, 32 + 16, 32 + 24 + 3, 32 + 32 + 1,
                          32 + 40, table_end + 2, (size_t)filt0 + 5, (size_t)filt0 + 60 };
    for (size_t v = 0; v < sizeof at / sizeof at[0]; v++) {
        for (int reader = 0; reader < 2; reader++) {
            uint8_t *bad = malloc(r.len);
            memcpy(bad, r.sum, r.len);
            bad[at[v]] ^= 0x10;
            CHECK(spit(r.path, bad, r.len, "wb") == 0);
            free(bad);
            log_start();
            cairn_store *st;
            CHECK_OK(store_local_open(&st, r.repo, reader ? CAIRN_OPEN_READONLY : 0, 0));
            int good = all_chunks_read(st, 21, SUM_N);
            st->close(st);
            cairn_set_log(NULL, NULL);
            CHECK_MSG(good == SUM_N, "variant %zu: %d of %d chunks read", v, good, SUM_N);
            CHECK_MSG(log_find(CAIRN_LOG_WARN, "packs/summary", NULL) >= 0,
                      "variant %zu: the damage was not reported", v);
            size_t nlen;
            uint8_t *now = slurp(r.path, &nlen);
            if (reader) CHECK(now && nlen == r.len && memcmp(now, r.sum, r.len) != 0);
            else CHECK_MSG(now && nlen == r.len && memcmp(now, r.sum, r.len) == 0,
                           "variant %zu: the writer did not write the summary as it was", v);
            free(now);
        }
    }
    free(r.sum);
}

/* A summary whose filters all say "no", every checksum right (stale or hostile): get, has and
 * locate still find every chunk (a "no" is never an answer); the repository without a summary
 * (as written before it existed) opens as before, and a writer's open writes it. */
static void summary_lies_or_missing(void)
{
    sum_repo r;
    summary_repo(&r);
    CHECK(r.sum != NULL);
    uint8_t *lie = malloc(r.len);
    memcpy(lie, r.sum, r.len);
    for (unsigned i = 0; i + 1 < r.packs; i++) {
        const uint8_t *e = lie + 32 + i * 48;
        uint32_t num;
        uint64_t fat, nb;
        memcpy(&num, e, 4);
        memcpy(&fat, e + 32, 8);
        memcpy(&nb, e + 40, 8);
        for (uint64_t b = 0; b < nb; b++) {
            uint8_t *blk = lie + fat + b * 64;
            memset(blk, 0, 56);
            uint64_t check = XXH3_64bits_withSeed(blk, 56, (uint64_t)num << 32 | b);
            memcpy(blk + 56, &check, 8);
        }
    }
    CHECK(spit(r.path, lie, r.len, "wb") == 0);
    free(lie);
    cairn_store *st;
    CHECK_OK(store_local_open(&st, r.repo, CAIRN_OPEN_READONLY, 0));
    CHECK_EQ(all_chunks_read(st, 21, SUM_N), SUM_N);
    for (int i = 0; i < SUM_N; i += 7) {
        cairn_id k;
        suite_key(&k, 21, (uint64_t)i);
        CHECK_OK(st->has(st, &k));
        cairn_store_location loc;
        CHECK_OK(st->locate(st, &k, &loc));
    }
    st->close(st);

    CHECK(unlink(r.path) == 0);
    CHECK_OK(store_local_open(&st, r.repo, CAIRN_OPEN_READONLY, 0));
    CHECK_EQ(all_chunks_read(st, 21, SUM_N), SUM_N);
    st->close(st);
    CHECK(file_size(r.path) < 0); /* a reader writes nothing */
    /* the writer's open (as the first after an upgrade) builds every filter from the index it
     * mapped: each .idx opened once, not again to be read whole and again for its trailer */
    count_start();
    CHECK_OK(store_local_open(&st, r.repo, 0, 0));
    CHECK_MSG(atomic_load(&idx_opens) <= (int)r.packs, "open opened %d indexes of %u packs",
              atomic_load(&idx_opens), r.packs);
    sys_table_set(NULL);
    st->close(st);
    size_t nlen;
    uint8_t *now = slurp(r.path, &nlen);
    CHECK_MEM(now, nlen, r.sum, r.len);
    free(now);
    free(r.sum);
}

/* An index proves the bytes it covers durable (the writer syncs a pack before it indexes it), so
 * a writer that opens and closes an indexed repository without writing syncs nothing; one that
 * must index bytes it did not sync (the last pack's index is gone, as after a crash) syncs the
 * pack first. */
static void durable_before_indexed(void)
{
    const char *repo = repo_in_tmp();
    cairn_store *st;
    CHECK_OK(fill(&st, repo, 23, 50, 0));
    st->close(st);
    CHECK(unlink(pathf("%s/packs/pack-00000001.idx", repo)) == 0);
    count_start();
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK_EQ(atomic_load(&data_syncs), 1);
    CHECK(file_size(pathf("%s/packs/pack-00000001.idx", repo)) > 0);
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK_EQ(atomic_load(&data_syncs), 1);
    count_start();
    CHECK_OK(store_local_open(&st, repo, 0, 0));
    CHECK(chunk_ok(st, 23, 3));
    CHECK_OK(st->flush(st));
    st->close(st);
    CHECK_EQ(atomic_load(&data_syncs), 0);
    sys_table_set(NULL);
}

TEST_MAIN(open_errors, layout, ref_slots, readonly_rejects_writes, torn_tail_garbage, torn_tail_mid_record,
          damaged_last_pack, repair_method, damage_found_by_writer_read,
          idx_rebuilt_identically, idx_damage_found_where_read, corrupt_older_pack, writer_lock, reader_follows_writer, reader_meets_pack_sealed_meanwhile, reader_threads_follow_writer,
          rollover_and_reopen, deletes_across_reopen, write_failure_retried, kill9_recovery, compaction,
          compaction_tombstones, compaction_kill9, summary_lazy_open, lazy_pack_fds, lazy_pack_gone,
          scanned_deletions_stay_lazy, summary_damage,
          summary_lies_or_missing, durable_before_indexed, measure)
