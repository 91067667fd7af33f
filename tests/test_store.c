/*
 * test_store.c - the store conformance suite (store_suite.c) against every built-in backend, and
 * the fault-injecting wrapper (fault_store.c): transparent when disarmed, exact when armed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_store.h"
#include "store/store.h"
#include "store_suite.h"
#include "test.h"

static int mem_create(cairn_store **out, void *ctx)
{
    (void)ctx;
    return store_mem_open(out);
}

static void mem_conformance(void)
{
    store_opener o = { "mem", mem_create, NULL, NULL };
    store_suite_run(&o);
}

typedef struct local_ctx {
    char path[4096];
} local_ctx;

static int local_create(cairn_store **out, void *ctx)
{
    local_ctx *c = ctx;
    snprintf(c->path, sizeof c->path, "%s/repo", test_tmpdir());
    return store_local_open(out, c->path, CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL, 0);
}

static int local_reopen(cairn_store **out, void *ctx)
{
    local_ctx *c = ctx;
    return store_local_open(out, c->path, 0, 0);
}

static void local_conformance(void)
{
    local_ctx c;
    store_opener o = { "local", local_create, local_reopen, &c };
    store_suite_run(&o);
}

/* Small packs: every case crosses many pack boundaries (rollover, idx per pack). */
static int local_small_create(cairn_store **out, void *ctx)
{
    int rc = local_create(out, ctx);
    if (rc == CAIRN_OK) store_local_set_pack_max(*out, 64 << 10);
    return rc;
}

static int local_small_reopen(cairn_store **out, void *ctx)
{
    int rc = local_reopen(out, ctx);
    if (rc == CAIRN_OK) store_local_set_pack_max(*out, 64 << 10);
    return rc;
}

static void local_small_packs_conformance(void)
{
    local_ctx c;
    store_opener o = { "local (64 KiB packs)", local_small_create, local_small_reopen, &c };
    store_suite_run(&o);
}

/* The files-only store (for wal_dir). */
static int dir_create(cairn_store **out, void *ctx)
{
    local_ctx *c = ctx;
    snprintf(c->path, sizeof c->path, "%s/files/root", test_tmpdir());
    return store_files_open(out, c->path, CAIRN_OPEN_CREATE);
}

static int dir_reopen(cairn_store **out, void *ctx)
{
    local_ctx *c = ctx;
    return store_files_open(out, c->path, 0);
}

static void dir_conformance(void)
{
    local_ctx c;
    store_opener o = { "dir", dir_create, dir_reopen, &c };
    store_suite_run(&o);
    cairn_store *st;
    CHECK_OK(dir_create(&st, &c));
    CHECK(st->get == NULL && st->put == NULL && st->ref_cas == NULL); /* files only */
    CHECK(st->caps & CAIRN_STORE_CAP_DURABLE);
    st->close(st);
    CHECK_OK(store_files_open(&st, c.path, CAIRN_OPEN_READONLY));
    cairn_store_file *f = NULL;
    CHECK_RC(st->file_open(st, &f, "x", CAIRN_FILE_WRITE | CAIRN_FILE_CREATE), CAIRN_EREADONLY);
    CHECK_RC(st->file_remove(st, "x"), CAIRN_EREADONLY);
    st->close(st);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none", c.path);
    CHECK_RC(store_files_open(&st, missing, 0), CAIRN_ENOTFOUND);
}

typedef struct names_seen {
    int own, wal;
} names_seen;

static int note_top(const char *name, uint64_t size, void *payload)
{
    names_seen *n = payload;
    if (strncmp(name, "wal", 3) == 0) n->wal++;
    else n->own++;
    return 0;
}

/* The local store's namespace leaves the store's own files alone. */
static void local_files_keep_out(void)
{
    local_ctx c;
    cairn_store *st;
    CHECK_OK(local_create(&st, &c));
    const char *own[] = { "packs/pack-00000001.pack", "refs/x", "tmp/t", "quarantine/q", "CAIRN",
                          "LOCK", "packs" };
    cairn_store_file *f = NULL;
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        CHECK_RC(st->file_open(st, &f, own[i], 0), CAIRN_EINVAL);
        CHECK_RC(st->file_remove(st, own[i]), CAIRN_EINVAL);
        CHECK_RC(st->file_rename(st, own[i], "wal/x", true), CAIRN_EINVAL);
    }
    CHECK_OK(st->file_open(st, &f, "wal/main/x", CAIRN_FILE_WRITE | CAIRN_FILE_CREATE));
    st->file_close(st, f);
    names_seen n = { 0, 0 };
    CHECK_OK(st->file_list(st, "", note_top, &n));
    CHECK_EQ(n.own, 0); /* packs/, refs/, CAIRN... are not listed */
    CHECK_EQ(n.wal, 1);
    char path[4200];
    snprintf(path, sizeof path, "%s/wal/main/x", c.path); /* the layout of earlier versions */
    CHECK(access(path, F_OK) == 0);
    st->close(st);
}

/* The wrapper, disarmed, must itself pass the suite: it is a faithful proxy. */
static int fault_create(cairn_store **out, void *ctx)
{
    cairn_store *inner;
    int rc = local_create(&inner, ctx);
    if (rc != CAIRN_OK) return rc;
    return fault_store_wrap(out, inner, true);
}

static int fault_reopen(cairn_store **out, void *ctx)
{
    cairn_store *inner;
    int rc = local_reopen(&inner, ctx);
    if (rc != CAIRN_OK) return rc;
    return fault_store_wrap(out, inner, true);
}

static void fault_conformance(void)
{
    local_ctx c;
    store_opener o = { "fault(local)", fault_create, fault_reopen, &c };
    store_suite_run(&o);
}

static void fault_injects(void)
{
    cairn_store *inner, *st;
    CHECK_OK(store_mem_open(&inner));
    CHECK_OK(fault_store_wrap(&st, inner, true));
    CHECK_STR(st->kind, "fault");
    CHECK(fault_store_inner(st) == inner);
    cairn_id k[4];
    uint8_t data[64];
    for (int i = 0; i < 4; i++) suite_key(&k[i], 50, (uint64_t)i);

    /* the 2nd put from now fails with ENOSPC, before reaching the inner store */
    fault_store_arm(st, &(fault_spec){ FAULT_PUT, 2, CAIRN_ENOSPC, false, false });
    suite_fill(data, sizeof data, &k[0]);
    CHECK_OK(st->put(st, &k[0], data, sizeof data));
    suite_fill(data, sizeof data, &k[1]);
    CHECK_RC(st->put(st, &k[1], data, sizeof data), CAIRN_ENOSPC);
    CHECK_ERRMSG("injected fault: put call #2");
    CHECK_RC(inner->has(inner, &k[1]), CAIRN_ENOTFOUND);
    CHECK_OK(st->put(st, &k[1], data, sizeof data)); /* one-shot: the next succeeds */
    CHECK_OK(inner->has(inner, &k[1]));
    CHECK_EQ(fault_store_calls(st, FAULT_PUT), 3);
    CHECK_EQ(fault_store_injected(st), 1);

    /* "after": the inner store did the work, the caller still hears EIO */
    fault_store_arm(st, &(fault_spec){ FAULT_PUT, 1, CAIRN_EIO, false, true });
    suite_fill(data, sizeof data, &k[2]);
    CHECK_RC(st->put(st, &k[2], data, sizeof data), CAIRN_EIO);
    CHECK_OK(inner->has(inner, &k[2]));

    /* sticky: every flush from the 2nd on fails until disarmed */
    fault_store_arm(st, &(fault_spec){ FAULT_FLUSH, 2, CAIRN_EIO, true, false });
    CHECK_OK(st->flush(st));
    CHECK_RC(st->flush(st), CAIRN_EIO);
    CHECK_RC(st->flush(st), CAIRN_EIO);
    fault_store_disarm(st);
    CHECK_OK(st->flush(st));

    /* a flipped bit: exactly one bit differs, once */
    cairn_buf b = CAIRN_BUF_INIT;
    suite_fill(data, sizeof data, &k[0]);
    fault_store_flip_get(st, 1, 8 * 10 + 3);
    CHECK_OK(st->get(st, &b, &k[0]));
    CHECK_EQ(b.len, sizeof data);
    int diff_bits = 0;
    for (size_t i = 0; i < b.len; i++) diff_bits += __builtin_popcount(b.data[i] ^ data[i]);
    CHECK_EQ(diff_bits, 1);
    CHECK_EQ(b.data[10] ^ data[10], 1 << 3);
    CHECK_OK(st->get(st, &b, &k[0]));
    CHECK_MEM(b.data, b.len, data, sizeof data);

    /* every method can be failed; refs and stat too */
    fault_store_arm(st, &(fault_spec){ FAULT_REF_CAS, 1, CAIRN_EIO, false, false });
    CHECK_RC(st->ref_cas(st, "heads/x", NULL, 0, "v", 1), CAIRN_EIO);
    CHECK_RC(st->ref_get(st, &b, "heads/x"), CAIRN_ENOTFOUND);
    fault_store_arm(st, &(fault_spec){ FAULT_GET, 1, CAIRN_EIO, false, false });
    CHECK_RC(st->get(st, &b, &k[0]), CAIRN_EIO);
    fault_store_arm(st, &(fault_spec){ FAULT_STAT, 1, CAIRN_EIO, false, false });
    cairn_store_stats s;
    CHECK_RC(st->stat(st, &s), CAIRN_EIO);
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 3);
    cairn_buf_dispose(&b);
    st->close(st); /* closes inner too */
}

TEST_MAIN(mem_conformance, local_conformance, local_small_packs_conformance, fault_conformance,
          dir_conformance, local_files_keep_out,
          fault_injects)
