/*
 * fuzz_wal.c - the write-ahead log's decoders: any bytes as a record payload (batch, checkpoint,
 * bulk) must decode or be rejected cleanly, and whatever decodes re-encodes to exactly the same
 * bytes (the forms are canonical); any bytes as a log segment must open read-only, and then
 * read-write (which repairs a torn tail), without crash, leak or over-read, replaying only
 * records that decode.
 *
 * The first input byte picks the mode: 0 batch, 1 checkpoint, 2 bulk, 3 segment.
 * FUZZ_WAL_WRITE_CORPUS=DIR writes the seed inputs into DIR and exits.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "wal/wal.h"
#include "wal/walrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- payloads: decode, re-encode, compare ---- */

#define MAX_T 64
#define MAX_OPS 4096

typedef struct collected {
    walrec_table t[MAX_T];
    char names[MAX_T][CAIRN_TABLE_NAME_LEN_MAX + 1];
    walrec_op ops[MAX_OPS];
    size_t nt, nops;
    bool overflow;
} collected;

static int on_table(void *ctx, uint32_t index, const walrec_table *t)
{
    collected *c = ctx;
    if (index >= MAX_T) {
        c->overflow = true;
        return 1;
    }
    snprintf(c->names[index], sizeof c->names[index], "%s", t->name);
    c->t[index].name = c->names[index];
    c->t[index].flags = t->flags;
    c->nt = index + 1;
    return 0;
}

static int on_op(void *ctx, const walrec_op *op)
{
    collected *c = ctx;
    if (c->nops == MAX_OPS) {
        c->overflow = true;
        return 1;
    }
    c->ops[c->nops++] = *op; /* key and value point into the input */
    return 0;
}

static void batch(const uint8_t *p, size_t n)
{
    static collected c;
    memset(&c, 0, sizeof c);
    walrec_visitor v = { on_table, on_op, &c };
    int rc = walrec_batch_decode(p, n, &v);
    if (rc != CAIRN_OK) return; /* rejected, or too big for this harness (callback's 1) */
    cairn_buf out = CAIRN_BUF_INIT;
    if (walrec_batch_encode(&out, c.t, c.nt, c.ops, c.nops) != CAIRN_OK) abort();
    if (out.len != n || memcmp(out.data, p, n) != 0) abort(); /* not canonical */
    cairn_buf_dispose(&out);
}

static void checkpoint(const uint8_t *p, size_t n)
{
    walrec_checkpoint c;
    if (walrec_checkpoint_decode(&c, p, n) != CAIRN_OK) return;
    uint8_t out[WALREC_CHECKPOINT_SIZE];
    walrec_checkpoint_encode(out, &c);
    if (n != sizeof out || memcmp(out, p, n) != 0) abort();
}

static void bulk(const uint8_t *p, size_t n)
{
    walrec_bulk b;
    if (walrec_bulk_decode(&b, p, n) != CAIRN_OK) return;
    uint8_t out[WALREC_BULK_SIZE];
    walrec_bulk_encode(out, &b);
    if (n != sizeof out || memcmp(out, p, n) != 0) abort();
}

/* ---- segments ---- */

static char dir[64];
static cairn_store *files; /* the log's files: a files-only store over dir */

static int replayed(const wal_record *r, void *ctx)
{
    (void)ctx;
    if (r->type == WAL_BATCH) batch(r->payload, r->len);
    else if (r->type == WAL_CHECKPOINT) checkpoint(r->payload, r->len);
    else if (r->type == WAL_BULK) bulk(r->payload, r->len);
    return 0;
}

static void clear_dir(const char *d)
{
    DIR *dh = opendir(d);
    if (!dh) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", d, e->d_name);
        unlink(path);
    }
    closedir(dh);
}

static void segment(const uint8_t *p, size_t n)
{
    char path[128], oplog[128];
    snprintf(oplog, sizeof oplog, "%s/oplog", dir);
    clear_dir(oplog);
    clear_dir(dir);
    snprintf(path, sizeof path, "%s/0000000000000001.wal", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n) abort();
    close(fd);
    for (int pass = 0; pass < 2; pass++) {
        wal_options o;
        memset(&o, 0, sizeof o);
        o.store = files;
        o.dir = "";
        o.readonly = pass == 0;
        o.segment_bytes = 1 << 16;
        wal *w = NULL;
        uint64_t last;
        if (wal_open(&w, &o, 0, replayed, NULL, &last) == CAIRN_OK) wal_close(w);
        cairn_error_clear();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    switch (data[0] % 4) {
    case 0: batch(data + 1, size - 1); break;
    case 1: checkpoint(data + 1, size - 1); break;
    case 2: bulk(data + 1, size - 1); break;
    default: segment(data + 1, size - 1); break;
    }
    return 0;
}

/* ---- seeds ---- */

static void seed(const char *out, const char *name, uint8_t mode, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void write_corpus(const char *out)
{
    walrec_table t[2] = { { "people", WALREC_CREATE }, { "orders", 0 } };
    walrec_op ops[3] = { { WALREC_PUT, 0, (const uint8_t *)"alice", (const uint8_t *)"1", 5, 1 },
                         { WALREC_DEL, 0, (const uint8_t *)"bob", NULL, 3, 0 },
                         { WALREC_PUT, 1, (const uint8_t *)"", (const uint8_t *)"empty key", 0, 9 } };
    cairn_buf b = CAIRN_BUF_INIT;
    if (walrec_batch_encode(&b, t, 2, ops, 3) != CAIRN_OK) abort();
    seed(out, "batch", 0, b.data, b.len);
    if (walrec_batch_encode(&b, t, 1, NULL, 0) != CAIRN_OK) abort();
    seed(out, "create-only", 0, b.data, b.len);
    walrec_checkpoint c = { 42, { { 1 } }, { { 2 } }, { { 3 } } };
    uint8_t cp[WALREC_CHECKPOINT_SIZE];
    walrec_checkpoint_encode(cp, &c);
    seed(out, "checkpoint", 1, cp, sizeof cp);
    walrec_bulk k = { 70000, { { 4 } }, { { 5 } } };
    uint8_t bk[WALREC_BULK_SIZE];
    walrec_bulk_encode(bk, &k);
    seed(out, "bulk", 2, bk, sizeof bk);
    /* a real segment: three groups (a batch, a relaxed batch, a checkpoint), cut to its used
     * part (the rest of a segment is preallocated zeros) */
    clear_dir(dir);
    wal_options o;
    memset(&o, 0, sizeof o);
    o.store = files;
    o.dir = "";
    o.segment_bytes = 4096;
    wal *w;
    uint64_t last;
    if (wal_open(&w, &o, 0, NULL, NULL, &last) != CAIRN_OK) abort();
    if (walrec_batch_encode(&b, t, 2, ops, 3) != CAIRN_OK) abort();
    if (wal_append(w, WAL_BATCH, b.data, b.len, true, NULL, NULL, NULL) != CAIRN_OK) abort();
    if (wal_append(w, WAL_BATCH, b.data, b.len, false, NULL, NULL, NULL) != CAIRN_OK) abort();
    if (wal_append(w, WAL_CHECKPOINT, cp, sizeof cp, true, NULL, NULL, NULL) != CAIRN_OK) abort();
    wal_close(w);
    char path[128];
    snprintf(path, sizeof path, "%s/0000000000000001.wal", dir);
    FILE *f = fopen(path, "rb");
    static uint8_t seg[4096];
    size_t n = f ? fread(seg, 1, sizeof seg, f) : 0;
    if (f) fclose(f);
    while (n > 0 && seg[n - 1] == 0) n--;
    seed(out, "segment", 3, seg, (n + 7) & ~(size_t)7);
    seed(out, "segment-torn", 3, seg, n - 5);
    cairn_buf_dispose(&b);
}

static void remove_dir(void)
{
    files->close(files);
    char oplog[128];
    snprintf(oplog, sizeof oplog, "%s/oplog", dir);
    clear_dir(oplog);
    rmdir(oplog);
    clear_dir(dir);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-wal-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir) || store_files_open(&files, dir, 0) != CAIRN_OK) abort();
    atexit(remove_dir);
    const char *out = getenv("FUZZ_WAL_WRITE_CORPUS");
    if (out) {
        write_corpus(out);
        exit(0);
    }
    return 0;
}
