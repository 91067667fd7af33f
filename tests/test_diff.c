/*
 * test_diff.c - tree diff: the changes it reports equal those of a reference model, in key
 * order, within ranges; and its cost follows the size of the change, not of the table.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "test.h"
#include "tree/tree.h"

typedef struct rec {
    int kind;
    char key[32];
    size_t klen;
    uint8_t old[16], new_[16];
    size_t oldlen, newlen;
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

static int collect(const tree_change *ch, void *payload)
{
    recs *r = payload;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
    rec *x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    x->kind = ch->kind;
    memcpy(x->key, ch->key, ch->klen);
    x->klen = ch->klen;
    if (ch->has_old) memcpy(x->old, ch->old, x->oldlen = ch->oldlen);
    if (ch->has_new) memcpy(x->new_, ch->new_, x->newlen = ch->newlen);
    return 0;
}

static int count_only(const tree_change *ch, void *payload)
{
    (void)ch;
    (*(size_t *)payload)++;
    return 0;
}

/* Tree from a value array: vals[i] < 0 = absent, else key "k%07d" with value "v%d". */
static int build(chunkstore *cs, cairn_id *root, const int *vals, int n)
{
    tree_builder b;
    tb_init(&b, cs, 0);
    char k[32], v[32];
    int rc = CAIRN_OK;
    for (int i = 0; rc == CAIRN_OK && i < n; i++) {
        if (vals[i] < 0) continue;
        int kl = snprintf(k, sizeof k, "k%07d", i), vl = snprintf(v, sizeof v, "v%d", vals[i]);
        rc = tb_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, 1);
    }
    if (rc == CAIRN_OK) rc = tb_finish(&b, root);
    tb_dispose(&b);
    return rc;
}

static void diff_matches_model(void)
{
    cairn_store *st;
    CHECK_OK(store_mem_open(&st));
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 64 << 20, -1));
    uint64_t rng = test_rng(3);
    enum { N = 20000 };
    static int a[N], b[N];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) a[i] = test_rand(&rng) % 5 == 0 ? -1 : (int)(test_rand(&rng) % 1000);
        memcpy(b, a, sizeof a);
        int changes = round % 4 == 0 ? (int)(test_rand(&rng) % 3) : (int)(test_rand(&rng) % 2000);
        for (int c = 0; c < changes; c++) {
            int i = (int)(test_rand(&rng) % N);
            int r = (int)(test_rand(&rng) % 3);
            b[i] = r == 0 ? -1 : r == 1 ? (int)(test_rand(&rng) % 1000) : (b[i] < 0 ? 7 : b[i] + 1);
        }
        cairn_id ra, rb;
        CHECK_OK(build(&cs, &ra, a, N));
        CHECK_OK(build(&cs, &rb, b, N));
        int lo = (int)(test_rand(&rng) % N), hi = lo + (int)(test_rand(&rng) % (N - lo + 1));
        char klo[32], khi[32];
        int klol = snprintf(klo, sizeof klo, "k%07d", lo), khil = snprintf(khi, sizeof khi, "k%07d", hi);
        bool ranged = round % 2;
        recs got = { 0 };
        CHECK_OK(tree_diff(&cs, &ra, &rb, ranged ? klo : NULL, (size_t)klol, ranged ? khi : NULL,
                           (size_t)khil, collect, &got));
        size_t j = 0;
        for (int i = ranged ? lo : 0; i < (ranged ? hi : N); i++) {
            if (a[i] == b[i]) continue;
            CHECK_MSG(j < got.n, "round %d: diff misses key %d", round, i);
            rec *x = &got.v[j++];
            char k[32], vo[32], vn[32];
            int kl = snprintf(k, sizeof k, "k%07d", i);
            CHECK_MEM(x->key, x->klen, k, (size_t)kl);
            int expect = a[i] < 0 ? TREE_CHANGE_ADDED : b[i] < 0 ? TREE_CHANGE_REMOVED : TREE_CHANGE_MODIFIED;
            CHECK_EQ(x->kind, expect);
            if (a[i] >= 0) CHECK_MEM(x->old, x->oldlen, vo, (size_t)snprintf(vo, sizeof vo, "v%d", a[i]));
            if (b[i] >= 0) CHECK_MEM(x->new_, x->newlen, vn, (size_t)snprintf(vn, sizeof vn, "v%d", b[i]));
        }
        CHECK_MSG(j == got.n, "round %d: diff reports %zu changes, model has %zu", round, got.n, j);
        /* the reverse diff mirrors it */
        recs back = { 0 };
        CHECK_OK(tree_diff(&cs, &rb, &ra, NULL, 0, NULL, 0, collect, &back));
        size_t total = 0;
        for (int i = 0; i < N; i++) total += a[i] != b[i];
        CHECK_EQ(back.n, total);
        free(got.v);
        free(back.v);
    }
    cs_dispose(&cs);
    st->close(st);
}

/* Diffing versions of a 1M-key table that differ in k keys loads O(k * depth) nodes. */
static void diff_cost_follows_change(void)
{
    cairn_store *st;
    CHECK_OK(store_mem_open(&st));
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 512 << 20, -1));
    enum { N = 1000000 };
    int *vals = malloc(N * sizeof *vals);
    for (int i = 0; i < N; i++) vals[i] = i;
    cairn_id base;
    CHECK_OK(build(&cs, &base, vals, N));
    cairn_table_stats ts;
    CHECK_OK(tree_stats(&cs, &base, &ts));
    uint64_t rng = test_rng(4);
    int ks[] = { 1, 10, 1000 };
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        tree_edit *e = calloc((size_t)k, sizeof *e);
        char (*keys)[32] = calloc((size_t)k, 32);
        int *idx = malloc((size_t)k * sizeof *idx);
        for (int i = 0; i < k; i++) idx[i] = (int)(test_rand(&rng) % N);
        /* sorted, unique */
        for (int i = 1; i < k; i++)
            for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
                int x = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = x;
            }
        int m = 0;
        for (int i = 0; i < k; i++) {
            if (m && idx[m - 1] == idx[i]) continue;
            idx[m++] = idx[i];
        }
        for (int i = 0; i < m; i++) {
            int kl = snprintf(keys[i], 32, "k%07d", idx[i]);
            e[i] = (tree_edit){ (uint8_t *)keys[i], (const uint8_t *)"changed", (uint32_t)kl, 7, EDIT_PUT };
        }
        cairn_id changed;
        CHECK_OK(tree_apply(&cs, &changed, &base, e, (size_t)m));
        uint64_t before = cs_lookups(&cs);
        size_t n = 0;
        CHECK_OK(tree_diff(&cs, &base, &changed, NULL, 0, NULL, 0, count_only, &n));
        uint64_t loads = cs_lookups(&cs) - before;
        CHECK_EQ(n, m);
        uint64_t bound = 4ull * (uint64_t)m * ts.depth + 4ull * ts.depth;
        printf("  diff of %d changes in %llu entries (depth %u): %llu node loads (bound %llu)\n",
               m, (unsigned long long)ts.entries, ts.depth, (unsigned long long)loads,
               (unsigned long long)bound);
        CHECK_MSG(loads <= bound, "diff of %d changes loaded %llu nodes, over %llu", m,
                  (unsigned long long)loads, (unsigned long long)bound);
        free(e);
        free(keys);
        free(idx);
    }
    free(vals);
    cs_dispose(&cs);
    st->close(st);
}

TEST_MAIN(diff_matches_model, diff_cost_follows_change)
