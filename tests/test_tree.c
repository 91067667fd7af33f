/*
 * test_tree.c - prolly trees over the mem store: build and read back, cursors, ranks, the
 * history-independence property (same contents by different routes = same root) and a
 * reference-model property test against a plain sorted array.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "test.h"
#include "tree/tree.h"

/* ---- a reference model: a sorted array of owned key/value pairs ---- */

typedef struct kv {
    uint8_t *k, *v;
    size_t kl, vl;
} kv;

typedef struct model {
    kv *e;
    size_t n, cap;
} model;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);
    return c ? c : (x->kl > y->kl) - (x->kl < y->kl);
}

static size_t model_find(const model *m, const uint8_t *k, size_t kl, int *found)
{
    size_t lo = 0, hi = m->n;
    kv probe = { (uint8_t *)k, NULL, kl, 0 };
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = kv_cmp(&m->e[mid], &probe);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = 0;
    return lo;
}

static void model_put(model *m, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    int found;
    size_t i = model_find(m, k, kl, &found);
    if (found) {
        free(m->e[i].v);
    } else {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->e = realloc(m->e, m->cap * sizeof *m->e);
        }
        memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof *m->e);
        m->n++;
        m->e[i].k = malloc(kl ? kl : 1);
        memcpy(m->e[i].k, k, kl);
        m->e[i].kl = kl;
    }
    m->e[i].v = malloc(vl ? vl : 1);
    memcpy(m->e[i].v, v, vl);
    m->e[i].vl = vl;
}

static void model_del(model *m, const uint8_t *k, size_t kl)
{
    int found;
    size_t i = model_find(m, k, kl, &found);
    if (!found) return;
    free(m->e[i].k);
    free(m->e[i].v);
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof *m->e);
    m->n--;
}

static void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* ---- helpers ---- */

typedef struct env {
    cairn_store *st;
    chunkstore cs;
} env;

static int env_open(env *e)
{
    if (store_mem_open(&e->st) != CAIRN_OK) return -1;
    return cs_init(&e->cs, e->st, 64 << 20, 1);
}

static void env_close(env *e)
{
    cs_dispose(&e->cs);
    e->st->close(e->st);
}

/* Random key: a few shapes so that prefixes, empty keys and long keys all occur. */
static size_t rand_key(uint64_t *rng, uint8_t *out, unsigned space)
{
    uint64_t r = test_rand(rng);
    switch (r % 8) {
    case 0: return (size_t)snprintf((char *)out, 64, "k%u", (unsigned)(test_rand(rng) % space));
    case 1: return (size_t)snprintf((char *)out, 64, "k%u/x", (unsigned)(test_rand(rng) % space));
    case 2: return (size_t)(test_rand(rng) % 2); /* "" or "\0"-ish short */
    default: {
        unsigned id = (unsigned)(test_rand(rng) % space);
        return (size_t)snprintf((char *)out, 64, "%08x-%u", id * 2654435761u, id % 7);
    }
    }
}

static size_t rand_val(uint64_t *rng, uint8_t *out)
{
    size_t n = test_rand(rng) % 4 == 0 ? test_rand(rng) % 2000 : test_rand(rng) % 120;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)test_rand(rng);
    return n;
}

/* Applies model-style ops given as arrays: sorts, dedups (last wins) and calls tree_apply. */
typedef struct op {
    uint8_t k[64], v[2000];
    size_t kl, vl;
    int del;
    size_t seq;
} op;

static int op_cmp(const void *a, const void *b)
{
    const op *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);
    if (!c) c = (x->kl > y->kl) - (x->kl < y->kl);
    if (!c) c = (x->seq > y->seq) - (x->seq < y->seq);
    return c;
}

static int apply_ops(chunkstore *cs, cairn_id *root, op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) ops[i].seq = i;
    qsort(ops, n, sizeof *ops, op_cmp);
    tree_edit *e = calloc(n ? n : 1, sizeof *e);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && ops[i].kl == ops[i + 1].kl && memcmp(ops[i].k, ops[i + 1].k, ops[i].kl) == 0)
            continue; /* a later op on the same key wins */
        e[m++] = (tree_edit){ ops[i].k, ops[i].v, (uint32_t)ops[i].kl, (uint32_t)ops[i].vl,
                              ops[i].del ? EDIT_DEL : EDIT_PUT };
    }
    int rc = tree_apply(cs, root, root, e, m);
    /* every intermediate tree must be structurally sound, not only the final one */
    if (rc == CAIRN_OK) rc = tree_check(cs, root);
    free(e);
    return rc;
}

/* Checks that the tree holds exactly the model: full scan, every get, ranks. */
static void check_tree_equals_model(chunkstore *cs, const cairn_id *root, const model *m)
{
    tree_cursor tc;
    CHECK_OK(tc_init(&tc, cs, root, 0, false));
    int rc = tc_first(&tc);
    size_t i = 0;
    while (rc == CAIRN_OK) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        CHECK_MSG(i < m->n, "tree has more entries than the model (%zu)", m->n);
        CHECK_MEM(k, kl, m->e[i].k, m->e[i].kl);
        CHECK_MEM(v, vl, m->e[i].v, m->e[i].vl);
        i++;
        rc = tc_next(&tc);
    }
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    CHECK_EQ(i, m->n);
    /* and backwards */
    rc = tc_last(&tc);
    while (rc == CAIRN_OK) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        CHECK(i > 0);
        i--;
        CHECK_MEM(k, kl, m->e[i].k, m->e[i].kl);
        rc = tc_prev(&tc);
    }
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    CHECK_EQ(i, 0);
    tc_dispose(&tc);
    uint64_t total;
    CHECK_OK(tree_rank(cs, root, NULL, 0, &total));
    CHECK_EQ(total, m->n);
}

/* ---- tests ---- */

static void empty_tree(void)
{
    env e;
    CHECK_OK(env_open(&e));
    cairn_id root, root2;
    CHECK_OK(tree_empty(&e.cs, &root));
    CHECK_OK(tree_empty(&e.cs, &root2));
    CHECK_MEM(root.bytes, 32, root2.bytes, 32);
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    CHECK_RC(tree_get(&e.cs, &root, "a", 1, &leaf, &v, &vl), CAIRN_ENOTFOUND);
    uint64_t n;
    CHECK_OK(tree_rank(&e.cs, &root, NULL, 0, &n));
    CHECK_EQ(n, 0);
    tree_cursor tc;
    CHECK_OK(tc_init(&tc, &e.cs, &root, 0, false));
    CHECK_RC(tc_first(&tc), CAIRN_ENOTFOUND);
    tc_dispose(&tc);
    /* deleting from the empty tree leaves it empty */
    tree_edit del = { (const uint8_t *)"a", NULL, 1, 0, EDIT_DEL };
    CHECK_OK(tree_apply(&e.cs, &root2, &root, &del, 1));
    CHECK_MEM(root.bytes, 32, root2.bytes, 32);
    env_close(&e);
}

static void build_and_read(void)
{
    env e;
    CHECK_OK(env_open(&e));
    enum { N = 50000 };
    tree_builder b;
    tb_init(&b, &e.cs, 0);
    char k[32], v[64];
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof k, "key%08d", i);
        int vl = snprintf(v, sizeof v, "value-%d-%d", i, i * 7);
        CHECK_OK(tb_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, 1));
    }
    cairn_id root;
    CHECK_OK(tb_finish(&b, &root));
    tb_dispose(&b);
    cairn_table_stats st;
    CHECK_OK(tree_stats(&e.cs, &root, &st));
    CHECK_EQ(st.entries, N);
    CHECK(st.depth >= 2);
    CHECK(st.leaf_max <= CHUNK_MAX_BYTES + 2 * 4096);
    for (int i = 0; i < N; i += 7) {
        int kl = snprintf(k, sizeof k, "key%08d", i);
        int vl = snprintf(v, sizeof v, "value-%d-%d", i, i * 7);
        chunk *leaf;
        const uint8_t *got;
        size_t gl;
        CHECK_OK(tree_get(&e.cs, &root, k, (size_t)kl, &leaf, &got, &gl));
        CHECK_MEM(got, gl, v, (size_t)vl);
        chunk_release(leaf);
        uint64_t r;
        CHECK_OK(tree_rank(&e.cs, &root, k, (size_t)kl, &r));
        CHECK_EQ(r, i);
    }
    chunk *leaf;
    const uint8_t *got;
    size_t gl;
    CHECK_RC(tree_get(&e.cs, &root, "key", 3, &leaf, &got, &gl), CAIRN_ENOTFOUND);
    CHECK_RC(tree_get(&e.cs, &root, "zzz", 3, &leaf, &got, &gl), CAIRN_ENOTFOUND);
    /* seek + prev for reverse ranges */
    tree_cursor tc;
    CHECK_OK(tc_init(&tc, &e.cs, &root, 0, false));
    CHECK_OK(tc_seek(&tc, "key00001000", 11));
    CHECK(tc.valid);
    CHECK_OK(tc_prev(&tc));
    const uint8_t *kk, *vv;
    size_t kkl, vvl;
    tc_entry(&tc, &kk, &kkl, &vv, &vvl);
    CHECK_MEM(kk, kkl, "key00000999", 11);
    CHECK_OK(tc_seek(&tc, "zzz", 3));
    CHECK(!tc.valid);
    CHECK_OK(tc_prev(&tc));
    tc_entry(&tc, &kk, &kkl, &vv, &vvl);
    CHECK_MEM(kk, kkl, "key00049999", 11);
    tc_dispose(&tc);
    env_close(&e);
}

/* Same contents by random routes -> byte-identical roots (DESIGN.md invariant 2). */
static void history_independence(void)
{
    uint64_t rng = test_rng(11);
    for (int round = 0; round < 6; round++) {
        env e; /* a store per round: the mem store keeps every version's nodes */
        CHECK_OK(env_open(&e));
        unsigned space = round < 3 ? 3000 : 20000;
        size_t nkeys = space / 2;
        op *final = calloc(nkeys, sizeof *final);
        for (size_t i = 0; i < nkeys; i++) {
            final[i].kl = rand_key(&rng, final[i].k, space);
            final[i].vl = rand_val(&rng, final[i].v);
        }
        /* route A: one batch, fresh */
        cairn_id a;
        CHECK_OK(tree_empty(&e.cs, &a));
        op *copy = malloc(nkeys * sizeof *copy);
        memcpy(copy, final, nkeys * sizeof *copy);
        CHECK_OK(apply_ops(&e.cs, &a, copy, nkeys));
        /* The model of the final contents (dedup: later wins, as apply_ops does). */
        model m = { 0 };
        for (size_t i = 0; i < nkeys; i++) model_put(&m, final[i].k, final[i].kl, final[i].v, final[i].vl);
        check_tree_equals_model(&e.cs, &a, &m);
        for (int route = 0; route < 3; route++) {
            /* route B: random-size batches in random order, with junk inserted and removed,
               and values first written wrong then fixed */
            cairn_id b;
            CHECK_OK(tree_empty(&e.cs, &b));
            size_t *perm = malloc(nkeys * sizeof *perm);
            for (size_t i = 0; i < nkeys; i++) perm[i] = i;
            for (size_t i = nkeys; i > 1; i--) {
                size_t j = test_rand(&rng) % i, t = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = t;
            }
            /* final[] may hold a key twice (later wins); replay those in original order */
            size_t pos = 0;
            while (pos < nkeys) {
                size_t small = space < 5000 ? 5 : 50;
                size_t bs = 1 + test_rand(&rng) % (route == 0 ? small : route == 1 ? 300 : 3000);
                if (bs > nkeys - pos) bs = nkeys - pos;
                op *batch = calloc(bs * 3, sizeof *batch);
                size_t nb = 0;
                for (size_t j = 0; j < bs; j++) {
                    const op *f = &final[perm[pos + j]];
                    op *junk = &batch[nb++]; /* a junk key that a later op deletes */
                    junk->kl = (size_t)snprintf((char *)junk->k, 64, "junk%zu-%d", perm[pos + j], route);
                    junk->vl = rand_val(&rng, junk->v);
                    batch[nb] = *f; /* a wrong value first... */
                    batch[nb].vl = rand_val(&rng, batch[nb].v);
                    nb++;
                }
                CHECK_OK(apply_ops(&e.cs, &b, batch, nb));
                nb = 0;
                for (size_t j = 0; j < bs; j++) {
                    op *d = &batch[nb++];
                    d->kl = (size_t)snprintf((char *)d->k, 64, "junk%zu-%d", perm[pos + j], route);
                    d->del = 1;
                    d->vl = 0;
                }
                CHECK_OK(apply_ops(&e.cs, &b, batch, nb));
                free(batch);
                pos += bs;
            }
            /* ... then the right values, in the original order so duplicates resolve alike */
            for (size_t i = 0; i < nkeys;) {
                size_t bs = 1 + test_rand(&rng) % 700;
                if (bs > nkeys - i) bs = nkeys - i;
                op *batch = malloc(bs * sizeof *batch);
                memcpy(batch, &final[i], bs * sizeof *batch);
                CHECK_OK(apply_ops(&e.cs, &b, batch, bs));
                free(batch);
                i += bs;
            }
            char ha[65], hb[65];
            cairn_id_to_hex(ha, &a);
            cairn_id_to_hex(hb, &b);
            CHECK_MSG(memcmp(a.bytes, b.bytes, 32) == 0, "round %d route %d: roots differ %s %s",
                      round, route, ha, hb);
            free(perm);
        }
        /* delete everything by halves -> the empty tree */
        cairn_id c = a, empty;
        CHECK_OK(tree_empty(&e.cs, &empty));
        for (int half = 0; half < 2; half++) {
            op *batch = calloc(m.n, sizeof *batch);
            size_t nb = 0;
            for (size_t i = (size_t)half; i < m.n; i += 2) {
                memcpy(batch[nb].k, m.e[i].k, m.e[i].kl);
                batch[nb].kl = m.e[i].kl;
                batch[nb++].del = 1;
            }
            CHECK_OK(apply_ops(&e.cs, &c, batch, nb));
            free(batch);
        }
        CHECK_MEM(c.bytes, 32, empty.bytes, 32);
        model_free(&m);
        free(copy);
        free(final);
        env_close(&e);
    }
}

/* Thousands of seeded random operations checked against a sorted array. */
static void reference_model(void)
{
    env e;
    CHECK_OK(env_open(&e));
    uint64_t rng = test_rng(23);
    model m = { 0 };
    cairn_id root;
    CHECK_OK(tree_empty(&e.cs, &root));
    op *batch = calloc(4000, sizeof *batch);
    for (int step = 0; step < 1500; step++) {
        uint64_t r = test_rand(&rng) % 100;
        if (r < 45) { /* a batch of puts and deletes */
            size_t nb = 1 + test_rand(&rng) % (test_rand(&rng) % 10 == 0 ? 4000 : 40);
            for (size_t i = 0; i < nb; i++) {
                batch[i].kl = rand_key(&rng, batch[i].k, 6000);
                batch[i].del = test_rand(&rng) % 3 == 0;
                batch[i].vl = batch[i].del ? 0 : rand_val(&rng, batch[i].v);
            }
            /* model: in order */
            for (size_t i = 0; i < nb; i++) {
                if (batch[i].del) model_del(&m, batch[i].k, batch[i].kl);
                else model_put(&m, batch[i].k, batch[i].kl, batch[i].v, batch[i].vl);
            }
            CHECK_OK(apply_ops(&e.cs, &root, batch, nb));
        } else if (r < 75) { /* point reads */
            uint8_t k[64];
            size_t kl = rand_key(&rng, k, 6000);
            int found;
            size_t i = model_find(&m, k, kl, &found);
            chunk *leaf;
            const uint8_t *v;
            size_t vl;
            int rc = tree_get(&e.cs, &root, k, kl, &leaf, &v, &vl);
            if (found) {
                CHECK_OK(rc);
                CHECK_MEM(v, vl, m.e[i].v, m.e[i].vl);
                chunk_release(leaf);
            } else {
                CHECK_RC(rc, CAIRN_ENOTFOUND);
            }
        } else if (r < 95) { /* a range [lo, hi), forward or reverse, plus its count */
            uint8_t lo[64], hi[64];
            size_t lol = rand_key(&rng, lo, 6000), hil = rand_key(&rng, hi, 6000);
            int f1, f2;
            size_t a = model_find(&m, lo, lol, &f1), b = model_find(&m, hi, hil, &f2);
            uint64_t ra, rb;
            CHECK_OK(tree_rank(&e.cs, &root, lo, lol, &ra));
            CHECK_OK(tree_rank(&e.cs, &root, hi, hil, &rb));
            CHECK_EQ(ra, a);
            CHECK_EQ(rb, b);
            tree_cursor tc;
            CHECK_OK(tc_init(&tc, &e.cs, &root, 0, false));
            if (test_rand(&rng) % 2) {
                CHECK_OK(tc_seek(&tc, lo, lol));
                for (size_t i = a; i < b; i++) {
                    CHECK(tc.valid);
                    const uint8_t *k, *v;
                    size_t kl, vl;
                    tc_entry(&tc, &k, &kl, &v, &vl);
                    CHECK_MEM(k, kl, m.e[i].k, m.e[i].kl);
                    CHECK_MEM(v, vl, m.e[i].v, m.e[i].vl);
                    int rc = tc_next(&tc);
                    CHECK(rc == CAIRN_OK || rc == CAIRN_ENOTFOUND);
                }
            } else {
                CHECK_OK(tc_seek(&tc, hi, hil));
                for (size_t i = b; i > a; i--) {
                    CHECK_OK(tc_prev(&tc));
                    const uint8_t *k, *v;
                    size_t kl, vl;
                    tc_entry(&tc, &k, &kl, &v, &vl);
                    CHECK_MEM(k, kl, m.e[i - 1].k, m.e[i - 1].kl);
                }
            }
            tc_dispose(&tc);
        } else { /* full comparison now and then */
            check_tree_equals_model(&e.cs, &root, &m);
        }
        if (test_failures) break;
    }
    check_tree_equals_model(&e.cs, &root, &m);
    /* and the tree equals a fresh build of the model: history independence again */
    tree_builder b;
    tb_init(&b, &e.cs, 0);
    for (size_t i = 0; i < m.n; i++) CHECK_OK(tb_add(&b, m.e[i].k, m.e[i].kl, m.e[i].v, m.e[i].vl, 1));
    cairn_id fresh;
    CHECK_OK(tb_finish(&b, &fresh));
    tb_dispose(&b);
    CHECK_MEM(fresh.bytes, 32, root.bytes, 32);
    free(batch);
    model_free(&m);
    env_close(&e);
}

/* Large values and long keys: wide offsets, forced splits, single-entry nodes. */
static void big_entries(void)
{
    env e;
    CHECK_OK(env_open(&e));
    model m = { 0 };
    cairn_id root;
    CHECK_OK(tree_empty(&e.cs, &root));
    uint64_t rng = test_rng(5);
    static uint8_t big[CAIRN_VALUE_LEN_MAX];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)test_rand(&rng);
    static op ops[40];
    uint8_t keybuf[CAIRN_KEY_LEN_MAX];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            ops[i].kl = (size_t)snprintf((char *)ops[i].k, 64, "big%03d", (int)(test_rand(&rng) % 60));
            ops[i].vl = (size_t)(test_rand(&rng) % sizeof ops[i].v);
            memcpy(ops[i].v, big + i, ops[i].vl);
            ops[i].del = 0;
        }
        for (int i = 0; i < 40; i++) model_put(&m, ops[i].k, ops[i].kl, ops[i].v, ops[i].vl);
        CHECK_OK(apply_ops(&e.cs, &root, ops, 40));
    }
    /* a value at the limit and a key at the limit */
    memset(keybuf, 'K', sizeof keybuf);
    tree_edit ed[2] = {
        { keybuf, big, CAIRN_KEY_LEN_MAX, 10, EDIT_PUT },
        { (const uint8_t *)"zz-max-value", big, 12, CAIRN_VALUE_LEN_MAX, EDIT_PUT },
    };
    CHECK_OK(tree_apply(&e.cs, &root, &root, ed, 2));
    model_put(&m, keybuf, CAIRN_KEY_LEN_MAX, big, 10);
    model_put(&m, (const uint8_t *)"zz-max-value", 12, big, CAIRN_VALUE_LEN_MAX);
    check_tree_equals_model(&e.cs, &root, &m);
    model_free(&m);
    env_close(&e);
}

static void node_check_rejects(void)
{
    env e;
    CHECK_OK(env_open(&e));
    tree_builder b;
    tb_init(&b, &e.cs, 0);
    CHECK_OK(tb_add(&b, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1, 1));
    CHECK_OK(tb_add(&b, (const uint8_t *)"b", 1, (const uint8_t *)"22", 2, 1));
    cairn_id root;
    CHECK_OK(tb_finish(&b, &root));
    tb_dispose(&b);
    chunk *c;
    CHECK_OK(cs_get(&e.cs, &c, &root));
    CHECK_OK(node_check(c->data, c->len));
    uint8_t buf[256];
    memcpy(buf, c->data, c->len);
    size_t len = c->len;
    for (size_t cut = 0; cut < len; cut++) CHECK_RC(node_check(buf, cut), CAIRN_ECORRUPT);
    buf[3] = 1; /* wide flag on a small node: not canonical */
    CHECK_RC(node_check(buf, len), CAIRN_ECORRUPT);
    memcpy(buf, c->data, len);
    buf[NODE_HDR] = 1; buf[NODE_HDR + 2] = 1; /* keys equal -> not strictly increasing */
    buf[NODE_HDR + 8] = 'a'; buf[NODE_HDR + 9] = 'a';
    memcpy(buf, c->data, len);
    buf[0] = 2;
    CHECK_RC(node_check(buf, len), CAIRN_ECORRUPT);
    CHECK_ERRMSG("not a tree node");
    memcpy(buf, c->data, len);
    /* swap the two one-byte keys: out of order */
    uint8_t *keys = buf + NODE_HDR + 2 * 2 * 2;
    keys[0] = 'b';
    keys[1] = 'a';
    CHECK_RC(node_check(buf, len), CAIRN_ECORRUPT);
    CHECK_ERRMSG("strictly increasing");
    chunk_release(c);
    env_close(&e);
}

/* An inner node naming an empty leaf (only a root may be empty): every read and an edit report
 * corruption; the edit once read key -1 of the empty leaf and crashed (fuzz_node). */
static void empty_child_is_corrupt(void)
{
    env e;
    CHECK_OK(env_open(&e));
    static const uint8_t empty_leaf[NODE_HDR] = { 1, NODE_VERSION, 0, 0, 0, 0, 0, 0 };
    cairn_id leaf;
    chunk *c;
    CHECK_OK(cs_put(&e.cs, &leaf, &c, empty_leaf, sizeof empty_leaf));
    chunk_release(c);
    uint8_t inner[NODE_HDR + 2 + 1 + NODE_REF_SIZE] = { 1, NODE_VERSION, 1, 0, 1, 0, 0, 0 };
    inner[NODE_HDR] = 1; /* key_end[0] = 1: the key "k" */
    inner[NODE_HDR + 2] = 'k';
    make_ref(inner + NODE_HDR + 3, &leaf, 1); /* a count of 1 over an empty child */
    CHECK_OK(node_check(inner, sizeof inner));
    cairn_id root, out;
    CHECK_OK(cs_put(&e.cs, &root, &c, inner, sizeof inner));
    chunk_release(c);
    tree_edit ed[2] = { { (const uint8_t *)"a", (const uint8_t *)"1", 1, 1, EDIT_PUT },
                        { (const uint8_t *)"q", NULL, 1, 0, EDIT_DEL } };
    CHECK_RC(tree_apply(&e.cs, &out, &root, ed, 2), CAIRN_ECORRUPT);
    CHECK_ERRMSG("has no entries but a parent names it");
    const uint8_t *v;
    size_t vl;
    CHECK_RC(tree_get(&e.cs, &root, (const uint8_t *)"a", 1, &c, &v, &vl), CAIRN_ECORRUPT);
    CHECK_RC(tree_check(&e.cs, &root), CAIRN_ECORRUPT);
    env_close(&e);
}

/* One big sorted batch (more edits than edit.c's BULK_LEAF_EDITS, so its leaves skip the cache
 * and the keys for the levels above are copied out of the nodes) gives the same root as the
 * same edits applied one at a time, and as a fresh build of the final contents. */
#define BIG_BASE 30000
#define BIG_EDITS 12000

static size_t big_key(uint8_t *out, unsigned i)
{
    return (size_t)snprintf((char *)out, 64, "%08x-big-%u", i * 2654435761u, i % 13);
}

static void big_batch_equals_one_by_one(void)
{
    env e;
    CHECK_OK(env_open(&e));
    uint64_t rng = test_rng(23);
    op *base = calloc(BIG_BASE, sizeof *base);
    for (unsigned i = 0; i < BIG_BASE; i++) {
        base[i].kl = big_key(base[i].k, i);
        base[i].vl = 100;
        for (size_t j = 0; j < base[i].vl; j++) base[i].v[j] = (uint8_t)test_rand(&rng);
    }
    cairn_id start;
    CHECK_OK(tree_empty(&e.cs, &start));
    CHECK_OK(apply_ops(&e.cs, &start, base, BIG_BASE));
    /* the edits: updates of existing keys, deletes, and new keys (some past both ends) */
    op *edits = calloc(BIG_EDITS, sizeof *edits);
    for (unsigned i = 0; i < BIG_EDITS; i++) {
        uint64_t r = test_rand(&rng);
        unsigned k = r % 4 == 3 ? BIG_BASE + (unsigned)(r >> 8) % 5000 : (unsigned)(r >> 8) % BIG_BASE;
        edits[i].kl = big_key(edits[i].k, k);
        edits[i].del = r % 4 == 2;
        edits[i].vl = edits[i].del ? 0 : 1 + (r >> 40) % 150;
        for (size_t j = 0; j < edits[i].vl; j++) edits[i].v[j] = (uint8_t)test_rand(&rng);
    }
    /* one at a time, in the edits' order (so a later edit of a key wins, as in the batch) */
    cairn_id one = start;
    for (unsigned i = 0; i < BIG_EDITS; i++) {
        tree_edit te = { edits[i].k, edits[i].v, (uint32_t)edits[i].kl, (uint32_t)edits[i].vl,
                         edits[i].del ? EDIT_DEL : EDIT_PUT };
        CHECK_OK(tree_apply(&e.cs, &one, &one, &te, 1));
    }
    /* one batch (apply_ops sorts it and keeps the last edit of each key) */
    cairn_id batch = start;
    op *copy = malloc(BIG_EDITS * sizeof *copy);
    memcpy(copy, edits, BIG_EDITS * sizeof *copy);
    CHECK_OK(apply_ops(&e.cs, &batch, copy, BIG_EDITS));
    CHECK_MEM(batch.bytes, 32, one.bytes, 32);
    CHECK(memcmp(batch.bytes, start.bytes, 32) != 0);
    /* a fresh build of the final contents */
    model m = { 0 };
    for (unsigned i = 0; i < BIG_BASE; i++) model_put(&m, base[i].k, base[i].kl, base[i].v, base[i].vl);
    for (unsigned i = 0; i < BIG_EDITS; i++) {
        if (edits[i].del) model_del(&m, edits[i].k, edits[i].kl);
        else model_put(&m, edits[i].k, edits[i].kl, edits[i].v, edits[i].vl);
    }
    check_tree_equals_model(&e.cs, &batch, &m);
    op *fresh = calloc(m.n ? m.n : 1, sizeof *fresh);
    for (size_t i = 0; i < m.n; i++) {
        memcpy(fresh[i].k, m.e[i].k, m.e[i].kl);
        fresh[i].kl = m.e[i].kl;
        memcpy(fresh[i].v, m.e[i].v, m.e[i].vl);
        fresh[i].vl = m.e[i].vl;
    }
    cairn_id built;
    CHECK_OK(tree_empty(&e.cs, &built));
    CHECK_OK(apply_ops(&e.cs, &built, fresh, m.n));
    CHECK_MEM(built.bytes, 32, batch.bytes, 32);
    free(fresh);
    model_free(&m);
    free(copy);
    free(edits);
    free(base);
    env_close(&e);
}

/* ---- sorted point reads ---- */

typedef struct sorted_check {
    env *e;
    const cairn_id *root;
    const void *const *keys;
    const size_t *klens;
    size_t calls;            /* callbacks so far (each must be for key number `calls`) */
    size_t found;
    size_t stop_at;          /* return 7 at this call (SIZE_MAX: never) */
    size_t wrong;            /* answers out of order or unlike tree_get's */
} sorted_check;

/* Each answer must be what a point read of the same key says (checked after the call: a
 * callback cannot use CHECK). */
static int sorted_got(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    sorted_check *s = payload;
    if (i != s->calls) s->wrong++;
    s->calls++;
    chunk *leaf;
    const uint8_t *want;
    size_t wl;
    int rc = tree_get(&s->e->cs, s->root, s->keys[i], s->klens[i], &leaf, &want, &wl);
    if (rc == CAIRN_OK) {
        if (!val || vlen != wl || memcmp(val, want, wl) != 0) s->wrong++;
        chunk_release(leaf);
        s->found++;
    } else {
        if (rc != CAIRN_ENOTFOUND || val) s->wrong++;
        cairn_error_clear();
    }
    return i == s->stop_at ? 7 : 0;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* tree_get_sorted answers every key as tree_get does, in order, with a cache too small for the
 * tree (so leaves are read from the store and read ahead by a worker) and keys of every kind:
 * absent ones between present ones, before the first and past the last, repeated ones, dense
 * runs in one leaf and lone keys far apart. Keys out of order are refused. */
static void sorted_reads(void)
{
    env e;
    CHECK_OK(store_mem_open(&e.st));
    CHECK_OK(cs_init(&e.cs, e.st, 256 << 10, 1));
    CHECK_OK(cs_start_readahead(&e.cs, 1));
    enum { N = 30000, ROUNDS = 40, MAXN = 3000 };
    tree_builder b;
    tb_init(&b, &e.cs, 0);
    char k[32], v[64];
    for (int i = 0; i < N; i++) { /* even numbers only: the odd ones are absent */
        int kl = snprintf(k, sizeof k, "key%08d", 2 * i);
        int vl = snprintf(v, sizeof v, "value-%d", 2 * i);
        CHECK_OK(tb_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, 1));
    }
    cairn_id root;
    CHECK_OK(tb_finish(&b, &root));
    tb_dispose(&b);
    uint64_t rng = 99;
    uint32_t *nums = malloc(MAXN * sizeof *nums);
    char(*texts)[16] = malloc(MAXN * sizeof *texts);
    const void **keys = malloc(MAXN * sizeof *keys);
    size_t *klens = malloc(MAXN * sizeof *klens);
    for (int round = 0; round < ROUNDS && !test_failures; round++) {
        size_t n = 1 + test_rand(&rng) % (round % 2 ? 20 : MAXN);
        uint32_t span = round % 3 ? 2 * N + 10 : 200; /* sparse, or dense within a few leaves */
        uint32_t base = (uint32_t)(test_rand(&rng) % (2 * N));
        for (size_t i = 0; i < n; i++) nums[i] = (base + (uint32_t)(test_rand(&rng) % span)) % (2 * N + 10);
        qsort(nums, n, sizeof *nums, u32_cmp);
        for (size_t i = 0; i < n; i++) {
            klens[i] = (size_t)snprintf(texts[i], sizeof texts[i], "key%08u", (unsigned)nums[i]);
            keys[i] = texts[i];
        }
        if (round == 0) { /* before every key, and past every key */
            snprintf(texts[0], sizeof texts[0], "a");
            klens[0] = 1;
            snprintf(texts[n - 1], sizeof texts[n - 1], "zzz");
            klens[n - 1] = 3;
        }
        sorted_check s = { &e, &root, keys, klens, 0, 0, SIZE_MAX, 0 };
        CHECK_OK(tree_get_sorted(&e.cs, &root, keys, klens, n, sorted_got, &s));
        CHECK_EQ(s.calls, n);
        CHECK_EQ(s.wrong, 0);
    }
    /* the callback's value stops the reads and is returned */
    size_t n = 100;
    for (size_t i = 0; i < n; i++) {
        klens[i] = (size_t)snprintf(texts[i], sizeof texts[i], "key%08u", (unsigned)(i * 500));
        keys[i] = texts[i];
    }
    sorted_check s = { &e, &root, keys, klens, 0, 0, 30, 0 };
    CHECK_RC(tree_get_sorted(&e.cs, &root, keys, klens, n, sorted_got, &s), 7);
    CHECK_EQ(s.calls, 31);
    CHECK_EQ(s.wrong, 0);
    CHECK_EQ(s.found, 31); /* i * 500 is even: every one is there */
    /* out of order */
    const void *bad[2] = { "key00000010", "key00000002" };
    size_t badl[2] = { 11, 11 };
    s = (sorted_check){ &e, &root, bad, badl, 0, 0, SIZE_MAX, 0 };
    CHECK_RC(tree_get_sorted(&e.cs, &root, bad, badl, 2, sorted_got, &s), CAIRN_EINVAL);
    CHECK_EQ(s.calls, 1);
    free(nums);
    free(texts);
    free(keys);
    free(klens);
    env_close(&e);
}


/* The cache's figures count each read once: a miss is a reader's read that went to the store,
 * a hit one that did not. The sorted read path looks a node up again on its way to loading it
 * (node_load_noting, then the chunk store, then after read-ahead's claim), and every lookup
 * used to count: `stats` showed two to three misses for each chunk read. */
static void cache_counts_reads_once(void)
{
    env e;
    CHECK_OK(env_open(&e));
    enum { N = 20000 };
    tree_builder b;
    tb_init(&b, &e.cs, 0);
    char k[32], v[64];
    const void **keys = malloc(N * sizeof *keys);
    size_t *klens = malloc(N * sizeof *klens);
    char(*texts)[16] = malloc(N * sizeof *texts);
    for (int i = 0; i < N; i++) {
        int kl = snprintf(k, sizeof k, "key%08d", i);
        int vl = snprintf(v, sizeof v, "value-%d", i);
        CHECK_OK(tb_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, 1));
        klens[i] = (size_t)snprintf(texts[i], sizeof texts[i], "key%08d", i);
        keys[i] = texts[i];
    }
    cairn_id root;
    CHECK_OK(tb_finish(&b, &root));
    tb_dispose(&b);
    for (int ahead = 0; ahead < 2 && !test_failures; ahead++) {
        chunkstore cs; /* a second chunk store over the same store: nothing cached yet */
        CHECK_OK(cs_init(&cs, e.st, 64 << 20, 1));
        if (ahead) CHECK_OK(cs_start_readahead(&cs, 1));
        sorted_check s = { &e, &root, keys, klens, 0, 0, SIZE_MAX, 0 };
        CHECK_OK(tree_get_sorted(&cs, &root, keys, klens, N, sorted_got, &s));
        CHECK_EQ(s.wrong, 0);
        uint64_t bytes, hits, misses, read = atomic_load(&cs.chunks_read);
        cache_stats(cs.cache, &bytes, &hits, &misses);
        CHECK(read > 10);
        if (!ahead) CHECK_EQ(misses, read); /* every node loaded once, by the reader */
        else CHECK(misses <= read); /* some by the worker (as a rule): the reader then hits */
        /* again: everything is cached, nothing is read, every lookup is a hit */
        uint64_t hits0 = hits, misses0 = misses;
        s = (sorted_check){ &e, &root, keys, klens, 0, 0, SIZE_MAX, 0 };
        CHECK_OK(tree_get_sorted(&cs, &root, keys, klens, N, sorted_got, &s));
        cache_stats(cs.cache, &bytes, &hits, &misses);
        CHECK_EQ(misses, misses0);
        if (!ahead) CHECK_EQ(atomic_load(&cs.chunks_read), read); /* (a worker may still be
                                                                     loading a second copy) */
        CHECK(hits - hits0 >= (ahead ? misses0 : read)); /* each node at least once (read
                                                               counts a worker's second copy) */
        cs_dispose(&cs);
    }
    free(keys);
    free(klens);
    free(texts);
    env_close(&e);
}

TEST_MAIN(empty_tree, build_and_read, history_independence, reference_model, big_entries,
          node_check_rejects, empty_child_is_corrupt, big_batch_equals_one_by_one, sorted_reads, cache_counts_reads_once)
