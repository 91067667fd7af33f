/*
 * fuzz_packscan.c - pack scanning and recovery must take any bytes as the only pack of a
 * repository. The input is one mode byte, then:
 *   mode even: the rest is packs/pack-00000001.pack;
 *   mode odd:  u16 n (little-endian), n bytes of pack, the rest is packs/pack-00000001.idx, whose
 *              checksums this harness fixes up (a fuzzer cannot forge a 64-bit checksum, and
 *              the point is to reach the index's semantic checks): the XXH3 trailer of a
 *              version-1 index; the block checksums and the trailer of a version-2 one whose
 *              size agrees with its header (the block table's key prefixes are left as given).
 * For every input: open read-only, then read-write (which repairs), then read-only again. None
 * may crash, leak or fail to open; every chunk listed must be gettable with its listed length
 * (when an index vouched for it: gettable or CAIRN_ECORRUPT, never anything else); and all three
 * see the same chunks (the writer's repair cuts at the first bad record, losing nothing before).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "rm_tree.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char repo[4096];

typedef struct seen {
    cairn_id key;
    uint64_t len;
} seen;

typedef struct listing {
    seen *v;
    size_t n, cap;
} listing;

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

static void remove_repo(void) { rm_tree(repo); }

static void fresh_repo(void)
{
    if (!repo[0]) { /* tmpfs where there is one: the writer's fsyncs cost nothing there */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(repo, sizeof repo, "%s/cairn-fuzz-packscan-%ld", base ? base : "/tmp",
                 (long)getpid());
        atexit(remove_repo);
    }
    rm_tree(repo);
    char p[4200];
    if (mkdir(repo, 0777) != 0) abort();
    snprintf(p, sizeof p, "%s/packs", repo);
    if (mkdir(p, 0777) != 0) abort();
    snprintf(p, sizeof p, "%s/CAIRN", repo);
    write_file(p, "cairn repository\nformat 1\n", 26);
}

static int list_cb(const cairn_id *key, uint64_t len, void *payload)
{
    listing *l = payload;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (seen){ *key, len };
    return 0;
}

static int seen_cmp(const void *a, const void *b) { return memcmp(a, b, sizeof(seen)); }

/* Opens, lists, gets every listed chunk, closes. */
static void visit(unsigned flags, listing *out, bool from_index)
{
    cairn_store *st;
    if (store_local_open(&st, repo, flags, 0) != CAIRN_OK) abort(); /* damage never fails open */
    if (st->list(st, list_cb, out) != CAIRN_OK) abort();
    cairn_store_stats s;
    if (st->stat(st, &s) != CAIRN_OK || s.chunks != out->n) abort();
    cairn_buf b = CAIRN_BUF_INIT;
    for (size_t i = 0; i < out->n; i++) {
        if (st->has(st, &out->v[i].key) != CAIRN_OK) abort();
        int rc = st->get(st, &b, &out->v[i].key);
        if (rc == CAIRN_ECORRUPT && from_index) continue;
        if (rc != CAIRN_OK || b.len != out->v[i].len) abort();
    }
    cairn_buf_dispose(&b);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, seen_cmp);
    st->close(st);
}

static bool same(const listing *a, const listing *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

/* Fixes up the checksums of a version-2 index (FORMAT.md, "Index file") whose size agrees with
 * its header; false for anything else. */
static bool fix_v2(uint8_t *d, size_t len)
{
    if (len < 40 || load_le32(d + 8) != 2) return false;
    uint64_t block = load_le32(d + 12), count = load_le64(d + 24);
    if (block == 0 || block > 65536 || count > len / 48) return false;
    uint64_t nb = (count + block - 1) / block, table = 32 + count * 48;
    if (table + nb * 16 + 8 != len) return false;
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t first = b * block, n = count - first < block ? count - first : block;
        store_le64(d + table + b * 16 + 8, XXH3_64bits_withSeed(d + 32 + first * 48, n * 48, b));
    }
    store_le64(d + len - 8, XXH3_64bits_withSeed(d + table, nb * 16, XXH3_64bits(d, 32)));
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool with_idx = data[0] & 1;
    const uint8_t *pack = data + 1;
    size_t pack_len = size - 1;
    const uint8_t *idx = NULL;
    size_t idx_len = 0;
    if (with_idx) {
        if (size < 3) return 0;
        pack_len = (size_t)(data[1] | data[2] << 8);
        if (pack_len > size - 3) pack_len = size - 3;
        pack = data + 3;
        idx = pack + pack_len;
        idx_len = size - 3 - pack_len;
    }
    fresh_repo();
    char p[4200];
    snprintf(p, sizeof p, "%s/packs/pack-00000001.pack", repo);
    write_file(p, pack, pack_len);
    if (with_idx) {
        uint8_t *copy = malloc(idx_len + 1);
        memcpy(copy, idx, idx_len);
        if (!fix_v2(copy, idx_len) && idx_len >= 8) {
            uint64_t h = XXH3_64bits(copy, idx_len - 8);
            memcpy(copy + idx_len - 8, &h, 8);
        }
        snprintf(p, sizeof p, "%s/packs/pack-00000001.idx", repo);
        write_file(p, copy, idx_len);
        free(copy);
    }
    listing r1 = { 0 }, w = { 0 }, r2 = { 0 };
    visit(CAIRN_OPEN_READONLY, &r1, with_idx);
    visit(0, &w, with_idx);
    visit(CAIRN_OPEN_READONLY, &r2, with_idx);
    if (!same(&r1, &w) || !same(&w, &r2)) abort();
    free(r1.v);
    free(w.v);
    free(r2.v);
    return 0;
}
