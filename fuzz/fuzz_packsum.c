/*
 * fuzz_packsum.c - packs/summary (docs/FORMAT.md, "Packs summary") must take any bytes and never
 * cost a chunk. A fixed repository of a few hundred chunks in several sealed packs is made once;
 * each input becomes its packs/summary. The first input byte says which checksums this harness
 * fixes up (a fuzzer cannot forge a 64-bit checksum, and the point is to reach what comes after
 * them): bit 0 the size field and the table checksum, bit 1 every filter block's checksum that
 * lies in the file. Then a reader and a writer open the repository (neither may fail), every
 * chunk must be gettable (right length), present by has and locate, and keys that were never
 * stored absent; the writer may rewrite the summary, which the next input replaces.
 *
 * The corpus (corpus/packsum/) holds the summary the writer makes for that repository, one whose
 * filters all say no (checksums right), and one with a damaged block; rebuild it with
 *   FUZZ_PACKSUM_WRITE_CORPUS=DIR ./fuzz_packsum
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "corpus_file.h"
#include "rm_tree.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum { CHUNKS = 300, ABSENT = 20, PACK_BYTES = 12 << 10 };

static char repo[4096], sum_path[4200];

static void remove_repo(void) { rm_tree(repo); }

static void key_of(cairn_id *out, uint64_t i)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(&i, sizeof i, 7);
    XXH128_hash_t g = XXH3_128bits_withSeed(&i, sizeof i, 8);
    memcpy(out->bytes, &h, 16);
    memcpy(out->bytes + 16, &g, 16);
}

static size_t len_of(uint64_t i) { return 50 + (size_t)(i * 7919 % 400); }

/* The repository, made once (tmpfs where there is one: the writer's fsyncs cost nothing). */
static void make_repo(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(repo, sizeof repo, "%s/cairn-fuzz-packsum-%ld", base ? base : "/tmp",
             (long)getpid());
    snprintf(sum_path, sizeof sum_path, "%s/packs/summary", repo);
    remove_repo();
    atexit(remove_repo);
    cairn_store *st;
    if (store_local_open(&st, repo, CAIRN_OPEN_CREATE, 0) != CAIRN_OK) abort();
    store_local_set_pack_max(st, PACK_BYTES);
    uint8_t buf[512];
    for (uint64_t i = 0; i < CHUNKS; i++) {
        cairn_id k;
        key_of(&k, i);
        memset(buf, (int)i, sizeof buf);
        if (st->put(st, &k, buf, len_of(i)) != CAIRN_OK) abort();
    }
    st->close(st);
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    *len = (size_t)n;
    return d;
}

/* Fixes the size field and the table checksum (bit 0), the filter blocks' checksums (bit 1). */
static void fix_up(uint8_t *d, size_t len, unsigned what)
{
    if (len < 40) return;
    uint64_t n = load_le64(d + 16);
    if (n > (len - 40) / 48) return;
    size_t table_end = 32 + (size_t)n * 48;
    if (what & 2)
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *e = d + 32 + i * 48;
            uint64_t at = load_le64(e + 32), nb = load_le64(e + 40);
            for (uint64_t b = 0; b < nb && at <= len && (len - at) / 64 > b; b++)
                store_le64(d + at + b * 64 + 56,
                           XXH3_64bits_withSeed(d + at + b * 64, 56,
                                                (uint64_t)load_le32(e) << 32 | b));
        }
    if (what & 1) {
        store_le64(d + 24, len);
        store_le64(d + table_end, XXH3_64bits(d, table_end));
    }
}

static void check_all(unsigned flags)
{
    cairn_store *st;
    if (store_local_open(&st, repo, flags, 0) != CAIRN_OK) abort(); /* never fails open */
    cairn_buf b = CAIRN_BUF_INIT;
    for (uint64_t i = 0; i < CHUNKS + ABSENT; i++) {
        cairn_id k;
        key_of(&k, i);
        cairn_store_location loc;
        if (i >= CHUNKS) {
            if (st->has(st, &k) != CAIRN_ENOTFOUND || st->get(st, &b, &k) != CAIRN_ENOTFOUND)
                abort();
            continue;
        }
        if (st->get(st, &b, &k) != CAIRN_OK || b.len != len_of(i)) abort();
        if (st->has(st, &k) != CAIRN_OK || st->locate(st, &k, &loc) != CAIRN_OK) abort();
    }
    cairn_buf_dispose(&b);
    st->close(st);
    cairn_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!repo[0]) make_repo();
    uint8_t *d = malloc(size);
    memcpy(d, data + 1, size - 1);
    fix_up(d, size - 1, data[0]);
    write_file(sum_path, d, size - 1);
    free(d);
    check_all(CAIRN_OPEN_READONLY);
    check_all(0);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_PACKSUM_WRITE_CORPUS");
    if (!dir) return 0;
    make_repo();
    size_t len;
    uint8_t *sum = read_file(sum_path, &len);
    uint8_t *in = malloc(len + 1);
    in[0] = 3;
    memcpy(in + 1, sum, len);
    corpus_write(dir, "as_written", in, len + 1);
    uint64_t n = load_le64(sum + 16), at = load_le64(sum + 32 + 32);
    for (size_t i = (size_t)at; i < len; i++) in[1 + i] = 0; /* every filter says no */
    corpus_write(dir, "filters_say_no", in, len + 1);
    memcpy(in + 1, sum, len);
    in[0] = 1; /* the block checksums left as they are: one block damaged */
    in[1 + at + 3] ^= 0x20;
    corpus_write(dir, "damaged_block", in, len + 1);
    fprintf(stderr, "wrote the packsum corpus (%llu packs) to %s\n", (unsigned long long)n, dir);
    free(in);
    free(sum);
    exit(0);
}
