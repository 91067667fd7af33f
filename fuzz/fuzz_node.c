/*
 * fuzz_node.c - tree nodes and whole trees from hostile bytes.
 *
 * The input is split into pieces at "\xffNODE"; piece 0 is the root. Content addressing means a
 * fuzzer cannot forge child ids, so the harness patches them: in a piece that decodes as an inner
 * node, a child id whose first byte is j (a later piece) becomes the real hash of piece j. Pieces
 * are processed from the last to the first so children are hashed before their parents.
 * Then everything a reader does must fail cleanly or succeed: check, scan both ways, rank, get,
 * and an edit; if the tree passes tree_check, the edited tree must pass it too.
 */
#include <stdlib.h>

#include "base/hash.h"
#include "store/store.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIECES 8
static const uint8_t SEP[] = { 0xff, 'N', 'O', 'D', 'E' };

static size_t split(const uint8_t *d, size_t n, const uint8_t **p, size_t *len)
{
    size_t np = 0, start = 0;
    for (size_t i = 0; i + sizeof SEP <= n && np < MAX_PIECES - 1; i++) {
        if (memcmp(d + i, SEP, sizeof SEP) == 0) {
            p[np] = d + start;
            len[np++] = i - start;
            start = i + sizeof SEP;
            i = start - 1;
        }
    }
    p[np] = d + start;
    len[np++] = n - start;
    return np;
}

static void exercise(chunkstore *cs, const cairn_id *root)
{
    tree_cursor tc;
    uint64_t total = 0, rank;
    if (tree_rank(cs, root, NULL, 0, &total) < 0) total = 0;
    if (tc_init(&tc, cs, root, 0, false) == CAIRN_OK) {
        int steps = 0;
        for (int rc = tc_first(&tc); rc == CAIRN_OK && steps < 5000; rc = tc_next(&tc), steps++) {
            const uint8_t *k, *v;
            size_t kl, vl;
            tc_entry(&tc, &k, &kl, &v, &vl);
            chunk *leaf;
            const uint8_t *gv;
            size_t gl;
            if (tree_get(cs, root, k, kl, &leaf, &gv, &gl) == CAIRN_OK) chunk_release(leaf);
            (void)tree_rank(cs, root, k, kl, &rank);
        }
        for (int rc = tc_last(&tc); rc == CAIRN_OK && steps < 10000; rc = tc_prev(&tc), steps++) {}
        (void)tc_seek(&tc, "m", 1);
        tc_dispose(&tc);
    }
    bool sound = tree_check(cs, root) == CAIRN_OK;
    tree_edit e[2] = { { (const uint8_t *)"a", (const uint8_t *)"1", 1, 1, EDIT_PUT },
                       { (const uint8_t *)"q", NULL, 1, 0, EDIT_DEL } };
    cairn_id out;
    if (tree_apply(cs, &out, root, e, 2) == CAIRN_OK && sound) {
        if (tree_check(cs, &out) != CAIRN_OK) abort(); /* a sound tree must stay sound */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *piece[MAX_PIECES];
    size_t plen[MAX_PIECES];
    size_t np = split(data, size, piece, plen);
    cairn_store *st;
    if (store_mem_open(&st) != CAIRN_OK) return 0;
    chunkstore cs;
    if (cs_init(&cs, st, 1 << 20, -1) != CAIRN_OK) {
        st->close(st);
        return 0;
    }
    cairn_id ids[MAX_PIECES];
    uint8_t *buf = malloc(size + 1);
    for (size_t i = np; i-- > 0;) {
        memcpy(buf, piece[i], plen[i]);
        if (node_check(buf, plen[i]) == CAIRN_OK) {
            node n;
            node_view(&n, buf, plen[i]);
            for (uint32_t j = 0; n.level > 0 && j < n.count; j++) {
                uint8_t *ref = (uint8_t *)node_ref(&n, j);
                if (ref[0] > i && ref[0] < np) memcpy(ref, ids[ref[0]].bytes, CAIRN_ID_SIZE);
            }
        }
        if (cs_put(&cs, &ids[i], NULL, buf, plen[i]) != CAIRN_OK) goto out;
    }
    exercise(&cs, &ids[0]);
out:
    free(buf);
    cs_dispose(&cs);
    st->close(st);
    return 0;
}
