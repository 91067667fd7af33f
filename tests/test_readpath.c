/*
 * test_readpath.c - the read path of a local repository end to end: reads in place from mapped
 * packs and read-ahead workers must return exactly what plain reads return, from several threads
 * at once and in both directions; and a damaged byte in a pack must surface as CAIRN_ECORRUPT
 * naming the chunk, through every way of reading, never as wrong data.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cairn.h"
#include "test.h"

enum { N = 60000 };

static void key_of(int i, char *k) { snprintf(k, 16, "k%08d", i * 7919 % 1000003); }

static const char *make_repo(void)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/repo", test_tmpdir());
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db;
    if (cairn_open(&db, path, &o) != CAIRN_OK) return NULL;
    cairn_table *t;
    cairn_batch *b;
    cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    cairn_batch_new(&b, db);
    char k[16], v[64];
    for (int i = 0; i < N; i++) {
        key_of(i, k);
        snprintf(v, sizeof v, "value %d %d %d", i, i * 3, i * 11);
        cairn_batch_put(b, t, k, strlen(k), v, strlen(v));
    }
    int rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    cairn_close(db);
    return rc == CAIRN_OK ? path : NULL;
}

static cairn_db *open_ro(const char *path, int read_threads)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    o.read_threads = read_threads;
    cairn_db *db = NULL;
    if (cairn_open(&db, path, &o) != CAIRN_OK) return NULL;
    return db;
}

/* XXH-free digest of a full scan: count and a rolling checksum of keys and values. */
typedef struct digest {
    long n;
    uint64_t sum;
    int rc;
} digest;

static digest scan_digest(cairn_table *t, bool reverse)
{
    digest d = { 0, 1469598103934665603ull, CAIRN_OK };
    cairn_cursor *c;
    if ((d.rc = cairn_cursor_open(&c, t, NULL, NULL)) != CAIRN_OK) return d;
    int rc;
    while ((rc = reverse ? cairn_cursor_prev(c) : cairn_cursor_next(c)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, c);
        for (size_t i = 0; i < kl; i++) d.sum = (d.sum ^ ((const uint8_t *)k)[i]) * 1099511628211ull;
        for (size_t i = 0; i < vl; i++) d.sum = (d.sum ^ ((const uint8_t *)v)[i]) * 1099511628211ull;
        d.n++;
    }
    d.rc = rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
    cairn_cursor_close(c);
    return d;
}

typedef struct job {
    cairn_table *t;
    bool reverse;
    digest d;
} job;

static void *scan_job(void *arg)
{
    job *j = arg;
    j->d = scan_digest(j->t, j->reverse);
    return NULL;
}

static void readahead_equals_plain(void)
{
    const char *path = make_repo();
    CHECK(path != NULL);
    cairn_db *plain = open_ro(path, CAIRN_READ_THREADS_NONE);
    CHECK(plain != NULL);
    cairn_table *pt;
    CHECK_OK(cairn_table_open(&pt, plain, "t", 0));
    digest fwd = scan_digest(pt, false), rev = scan_digest(pt, true);
    CHECK_OK(fwd.rc);
    CHECK_EQ(fwd.n, N);
    CHECK_EQ(rev.n, N);
    for (int threads = 1; threads <= 3; threads++) {
        cairn_db *db = open_ro(path, threads); /* cold cache each time */
        CHECK(db != NULL);
        cairn_table *t;
        CHECK_OK(cairn_table_open(&t, db, "t", 0));
        job jobs[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (job){ t, i % 2 == 1, { 0, 0, 0 } };
            CHECK(pthread_create(&th[i], NULL, scan_job, &jobs[i]) == 0);
        }
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < 4; i++) {
            CHECK_OK(jobs[i].d.rc);
            CHECK_EQ(jobs[i].d.n, N);
            CHECK(jobs[i].d.sum == (jobs[i].reverse ? rev.sum : fwd.sum));
        }
        /* point reads agree too */
        char k[16];
        for (int i = 0; i < N; i += 97) {
            key_of(i, k);
            void *a, *b;
            size_t al, bl;
            CHECK_OK(cairn_get(&a, &al, t, NULL, k, strlen(k)));
            CHECK_OK(cairn_get(&b, &bl, pt, NULL, k, strlen(k)));
            CHECK_MEM(a, al, b, bl);
            cairn_free(a);
            cairn_free(b);
        }
        cairn_table_close(t);
        CHECK_OK(cairn_close(db));
    }
    cairn_table_close(pt);
    CHECK_OK(cairn_close(plain));
}

/* Flips one byte in the middle of the pack: some leaf's bytes. */
static void damage_pack(const char *repo)
{
    char pack[4300];
    snprintf(pack, sizeof pack, "%s/packs/pack-00000001.pack", repo);
    FILE *f = fopen(pack, "r+b");
    if (!f) return;
    struct stat sb;
    stat(pack, &sb);
    long at = (long)(sb.st_size / 2);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
}

static void corruption_is_reported(void)
{
    const char *path = make_repo();
    CHECK(path != NULL);
    damage_pack(path);
    int ways[] = { CAIRN_READ_THREADS_NONE, 1, 2 };
    for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
        cairn_db *db = open_ro(path, ways[w]);
        CHECK(db != NULL);
        cairn_table *t;
        CHECK_OK(cairn_table_open(&t, db, "t", 0));
        for (int reverse = 0; reverse < 2; reverse++) {
            digest d = scan_digest(t, reverse);
            CHECK_RC(d.rc, CAIRN_ECORRUPT);
            CHECK_ERRMSG("damaged");
            CHECK_ERRMSG("chunk ");
            CHECK(d.n < N);
        }
        /* point reads: every key reads back right or fails as corrupt, never differently */
        char k[16], v[64];
        int corrupt = 0;
        for (int i = 0; i < N; i++) {
            key_of(i, k);
            void *got;
            size_t gl;
            int rc = cairn_get(&got, &gl, t, NULL, k, strlen(k));
            if (rc == CAIRN_ECORRUPT) {
                corrupt++;
                continue;
            }
            CHECK_OK(rc);
            snprintf(v, sizeof v, "value %d %d %d", i, i * 3, i * 11);
            CHECK_MEM(got, gl, v, strlen(v));
            cairn_free(got);
        }
        CHECK(corrupt > 0);
        cairn_table_close(t);
        CHECK_OK(cairn_close(db));
    }
}

TEST_MAIN(readahead_equals_plain, corruption_is_reported)
