/*
 * test_store_lazy.c - the local store's lazy packs under racing readers: a pack that
 * packs/summary describes is opened by its first read (local_pack_fd()), with no lock held
 * across open() and fstat(); readers that race install one descriptor by compare-and-swap and
 * close the others, and map the pack outside map_mu, the loser unmapping its own mapping.
 *
 *  racing_first_reads  threads released at once read every chunk of a store of many sealed
 *                      packs, each in its own order: every chunk reads back as written, the
 *                      handle then holds at most one descriptor a pack (none leaked by a lost
 *                      race), and closing it gives every one back
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "test.h"

#define NCHUNKS 3000
#define CHUNK_BYTES 1000
#define PACK_MAX (64u << 10) /* about 60 chunks a pack: some 50 packs */
#define NTHREADS 4

static cairn_id key_of(unsigned i)
{
    cairn_id k;
    memset(k.bytes, 0, sizeof k.bytes);
    for (int w = 0; w < 4; w++) {
        uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(w + 1) * 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        memcpy(k.bytes + 8 * w, &x, 8);
    }
    return k;
}

static void chunk_of(unsigned i, uint8_t *out)
{
    for (size_t b = 0; b < CHUNK_BYTES; b++) out[b] = (uint8_t)(i * 131 + b * 7);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static size_t count_packs(const char *dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/packs", dir);
    DIR *d = opendir(path);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l > 5 && strcmp(de->d_name + l - 5, ".pack") == 0;
    }
    closedir(d);
    return n;
}

typedef struct reader {
    cairn_store *st;
    pthread_barrier_t *go;
    unsigned stride;         /* reads chunk (i * stride) % NCHUNKS: its own order */
    unsigned bad;            /* chunks that did not read back as written */
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    uint8_t want[CHUNK_BYTES];
    pthread_barrier_wait(r->go);
    for (unsigned i = 0; i < NCHUNKS; i++) {
        unsigned c = (unsigned)(((uint64_t)i * r->stride) % NCHUNKS);
        cairn_id k = key_of(c);
        chunk_of(c, want);
        const uint8_t *m;
        size_t len;
        int rc = r->st->get_mapped(r->st, &m, &len, &k);
        if (rc == CAIRN_EUNSUPPORTED) { /* not mappable: the copying read */
            cairn_buf b = CAIRN_BUF_INIT;
            rc = r->st->get(r->st, &b, &k);
            if (rc != CAIRN_OK || b.len != CHUNK_BYTES || memcmp(b.data, want, b.len) != 0)
                r->bad++;
            cairn_buf_dispose(&b);
        } else if (rc != CAIRN_OK || len != CHUNK_BYTES || memcmp(m, want, len) != 0) {
            r->bad++;
        }
    }
    return NULL;
}

static void racing_first_reads(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/repo", test_tmpdir());
    cairn_store *st;
    CHECK_OK(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    store_local_set_pack_max(st, PACK_MAX);
    uint8_t buf[CHUNK_BYTES];
    for (unsigned i = 0; i < NCHUNKS; i++) {
        cairn_id k = key_of(i);
        chunk_of(i, buf);
        CHECK_OK(st->put(st, &k, buf, sizeof buf));
    }
    CHECK_OK(st->flush(st));
    st->close(st); /* sealed packs, their indexes and packs/summary */
    size_t packs = count_packs(dir);
    CHECK(packs >= 20);

    for (int readonly = 0; readonly < 2; readonly++) {
        int before = open_fds();
        CHECK_OK(store_local_open(&st, dir, readonly ? CAIRN_OPEN_READONLY : 0, 0));
        int at_open = open_fds();
        CHECK_MSG(at_open - before <= 3, "open holds %d descriptors for %zu packs",
                  at_open - before, packs);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, NTHREADS);
        reader rd[NTHREADS];
        pthread_t th[NTHREADS];
        static const unsigned strides[NTHREADS] = { 1, 7, 11, 2999 };
        for (int t = 0; t < NTHREADS; t++) {
            rd[t] = (reader){ st, &go, strides[t], 0 };
            CHECK(pthread_create(&th[t], NULL, read_all, &rd[t]) == 0);
        }
        unsigned bad = 0;
        for (int t = 0; t < NTHREADS; t++) {
            pthread_join(th[t], NULL);
            bad += rd[t].bad;
        }
        pthread_barrier_destroy(&go);
        int after = open_fds();
        st->close(st);
        CHECK_MSG(bad == 0, "%u reads did not give the chunk written", bad);
        CHECK_MSG(after - before <= (int)packs + 3, "%d descriptors held for %zu packs after "
                  "racing first reads", after - before, packs);
        CHECK_EQ(open_fds(), before);
    }
}

TEST_MAIN(racing_first_reads)
