/*
 * store_check.c - checks an existing local repository's store the way the conformance suite
 * checks a fresh one, for the crash tests: after a process was killed mid-write, the reopened
 * store must hold only chunks that verify (every frame decodes and hashes to its key), and must
 * still work: puts, gets, has, deletes, flush, ref compare-and-swap, and all of it must survive
 * a reopen. Exit status 0 when everything holds; otherwise the first problem on stderr.
 *
 *   store_check DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "chunk/chunk.h"
#include "store/store.h"

static int failed(const char *what)
{
    fprintf(stderr, "store_check: %s: %s\n", what, cairn_error_last()->message);
    return 1;
}

typedef struct walk {
    cairn_store *st;
    cairn_buf frame, plain;
    uint64_t n;
    int bad;
} walk;

static int verify_one(const cairn_id *key, uint64_t len, void *payload)
{
    walk *w = payload;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id got;
    (void)len;
    cairn_id_to_hex(hex, key);
    if (w->st->get(w->st, &w->frame, key) != CAIRN_OK ||
        frame_decode(&w->plain, w->frame.data, w->frame.len) != CAIRN_OK) {
        fprintf(stderr, "store_check: chunk %s: %s\n", hex, cairn_error_last()->message);
        w->bad++;
        return 0;
    }
    hash_sha256(&got, w->plain.data, w->plain.len);
    if (memcmp(got.bytes, key->bytes, CAIRN_ID_SIZE) != 0) {
        fprintf(stderr, "store_check: chunk %s does not hash to its key\n", hex);
        w->bad++;
    }
    w->n++;
    return 0;
}

/* Every listed chunk verifies; returns the number checked, or -1. */
static long verify_all(cairn_store *st)
{
    walk w = { st, CAIRN_BUF_INIT, CAIRN_BUF_INIT, 0, 0 };
    int rc = st->list(st, verify_one, &w);
    cairn_buf_dispose(&w.frame);
    cairn_buf_dispose(&w.plain);
    if (rc != CAIRN_OK) return failed("listing chunks"), -1;
    return w.bad ? -1 : (long)w.n;
}

static void probe_chunk(int i, uint8_t *data, size_t *len, cairn_id *key)
{
    *len = (size_t)snprintf((char *)data, 64, "store_check probe %d", i);
    cairn_buf f = CAIRN_BUF_INIT;
    frame_encode(&f, data, *len, -1);
    memcpy(data, f.data, f.len);
    hash_sha256(key, (const uint8_t *)f.data + 3, f.len - 3); /* raw frame: 3-byte header */
    *len = f.len;
    cairn_buf_dispose(&f);
}

static int exercise(cairn_store *st)
{
    uint8_t data[64];
    size_t len;
    cairn_id key;
    cairn_buf out = CAIRN_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        probe_chunk(i, data, &len, &key);
        if (st->put(st, &key, data, len) != CAIRN_OK) return failed("put");
        if (st->has(st, &key) != CAIRN_OK) return failed("has after put");
        if (st->get(st, &out, &key) != CAIRN_OK || out.len != len || memcmp(out.data, data, len))
            return failed("get after put");
    }
    probe_chunk(0, data, &len, &key);
    if (st->del(st, &key) != CAIRN_OK) return failed("del");
    if (st->has(st, &key) != CAIRN_ENOTFOUND) return failed("has after del");
    if (st->flush(st) != CAIRN_OK) return failed("flush");
    const char *ref = "test/store_check";
    (void)st->ref_cas(st, ref, NULL, 0, NULL, 0); /* absent: a no-op delete */
    if (st->ref_cas(st, ref, NULL, 0, "a", 1) != CAIRN_OK) return failed("ref create");
    if (st->ref_cas(st, ref, NULL, 0, "b", 1) != CAIRN_ECONFLICT) return failed("ref create twice");
    if (st->ref_cas(st, ref, "a", 1, "b", 1) != CAIRN_OK) return failed("ref update");
    cairn_buf_dispose(&out);
    return 0;
}

static int after_reopen(cairn_store *st)
{
    uint8_t data[64];
    size_t len;
    cairn_id key;
    cairn_buf out = CAIRN_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        probe_chunk(i, data, &len, &key);
        int want = i == 0 ? CAIRN_ENOTFOUND : CAIRN_OK;
        if (st->has(st, &key) != want) return failed("a probe chunk did not survive the reopen");
    }
    if (st->ref_get(st, &out, "test/store_check") != CAIRN_OK || out.len != 1 || out.data[0] != 'b')
        return failed("the probe ref did not survive the reopen");
    if (st->ref_cas(st, "test/store_check", "b", 1, NULL, 0) != CAIRN_OK) return failed("ref delete");
    cairn_buf_dispose(&out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_check DIR\n");
        return 2;
    }
    cairn_store *st;
    if (store_local_open(&st, argv[1], 0, 5000) != CAIRN_OK) return failed(argv[1]);
    long n = verify_all(st);
    int rc = n < 0 ? 1 : exercise(st);
    st->close(st);
    if (rc == 0) {
        if (store_local_open(&st, argv[1], 0, 5000) != CAIRN_OK) return failed("reopen");
        rc = after_reopen(st);
        if (rc == 0 && verify_all(st) < 0) rc = 1;
        st->close(st);
    }
    if (rc == 0) printf("store_check: %ld chunks verify; put/get/has/del/flush/refs work and persist\n", n);
    return rc;
}
