/*
 * test_tree_parallel.c - a level's edits cut into parts that run on threads of their own
 * (tree/edit.c, "one level on several threads") give the root the serial pass gives, which is
 * the root a fresh build of the final contents gives (history independence), for any cut: many
 * parts, parts of one edit, parts a span runs through. The counters of tree_apply_with() show
 * that every way of joining a part was taken. Parts whose edits all share one old node with
 * the part before (appends past the end, dense inserts between two keys) are not run: they
 * write no more chunks than the serial pass. A failure on a helper thread comes back with its
 * message. And end to end: a bulk batch of updates, deletes and inserts through the public API
 * leaves the table root a fresh load of the same contents has.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "test.h"
#include "tree/tree.h"

/* ---- contents: key i (fixed width, so byte order = numeric order) holds version ver[i] of
 * its value, vlen[i] bytes that are a function of (i, version) ---- */

#define KEY_LEN 12
#define VAL_MAX 600

typedef struct contents {
    size_t n;                /* key indexes 0..n-1 */
    uint8_t *has;
    uint32_t *ver;
    uint16_t *vlen;
} contents;

static void key_of(uint8_t out[KEY_LEN + 1], size_t i)
{
    out[0] = 'k';
    for (int d = KEY_LEN - 1; d >= 1; d--, i /= 10) out[d] = (uint8_t)('0' + i % 10);
    out[KEY_LEN] = 0;
}

static void val_of(uint8_t *out, size_t i, uint32_t ver, size_t len)
{
    uint64_t s = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ ((uint64_t)ver << 40);
    for (size_t j = 0; j < len; j++) out[j] = (uint8_t)(test_rand(&s) >> 24);
}

static void contents_init(contents *c, size_t n)
{
    c->n = n;
    c->has = calloc(n, 1);
    c->ver = calloc(n, sizeof *c->ver);
    c->vlen = calloc(n, sizeof *c->vlen);
    CHECK(c->has && c->ver && c->vlen);
}

static void contents_copy(contents *dst, const contents *src)
{
    contents_init(dst, src->n);
    memcpy(dst->has, src->has, src->n);
    memcpy(dst->ver, src->ver, src->n * sizeof *src->ver);
    memcpy(dst->vlen, src->vlen, src->n * sizeof *src->vlen);
}

static void contents_free(contents *c)
{
    free(c->has);
    free(c->ver);
    free(c->vlen);
}

/* A fresh build of the contents: the root every route to them must give. */
static void build_fresh(cairn_id *root, chunkstore *cs, const contents *c)
{
    tree_builder b;
    tb_init(&b, cs, 0);
    uint8_t k[KEY_LEN + 1], v[VAL_MAX];
    for (size_t i = 0; i < c->n; i++) {
        if (!c->has[i]) continue;
        key_of(k, i);
        val_of(v, i, c->ver[i], c->vlen[i]);
        CHECK_OK(tb_add(&b, k, KEY_LEN, v, c->vlen[i], 1));
    }
    CHECK_OK(tb_finish(&b, root));
    tb_dispose(&b);
}

/* ---- a batch of edits over the contents, in key order ---- */

typedef struct batch {
    tree_edit *e;
    uint8_t *keys, *vals;    /* n * KEY_LEN, n * VAL_MAX */
    size_t n;
} batch;

static size_t value_len(uint64_t r)
{
    switch (r % 10) {
    case 0: return 0;
    case 1: return 300 + (size_t)(r >> 8) % (VAL_MAX - 300); /* a few big ones */
    default: return 8 + (size_t)(r >> 8) % 40;
    }
}

/* Edits about `density` of every 1000 keys: updates (half of them keeping the size, which moves
 * no boundary), deletes, inserts, and runs of deletes and inserts that make long spans.
 * Applies them to *c as it goes. */
static void make_batch(batch *b, contents *c, unsigned density, uint64_t *rng)
{
    b->e = calloc(c->n, sizeof *b->e);
    b->keys = malloc(c->n * KEY_LEN);
    b->vals = malloc(c->n * VAL_MAX);
    CHECK(b->e && b->keys && b->vals);
    b->n = 0;
    size_t run = 0;
    bool run_del = false;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t r = test_rand(rng);
        if (run == 0 && r % 4000 == 0) { /* start a run of 50-300 edits in a row */
            run = 50 + (size_t)(r >> 16) % 250;
            run_del = (r >> 32) & 1;
        }
        bool edit = run > 0 || r % 1000 < density;
        if (!edit) continue;
        uint8_t op;
        if (run > 0) {
            run--;
            op = run_del ? EDIT_DEL : EDIT_PUT;
        } else {
            op = (r >> 12) % 4 == 0 ? EDIT_DEL : EDIT_PUT;
        }
        uint8_t *k = b->keys + b->n * KEY_LEN, *v = b->vals + b->n * VAL_MAX;
        uint8_t kz[KEY_LEN + 1];
        key_of(kz, i);
        memcpy(k, kz, KEY_LEN);
        size_t vl = 0;
        if (op == EDIT_PUT) {
            vl = c->has[i] && (r >> 20) % 2 ? c->vlen[i] : value_len(r >> 24);
            c->ver[i]++;
            val_of(v, i, c->ver[i], vl);
            c->has[i] = 1;
            c->vlen[i] = (uint16_t)vl;
        } else {
            c->has[i] = 0;
        }
        b->e[b->n++] = (tree_edit){ k, v, KEY_LEN, (uint32_t)vl, op };
    }
}

static void batch_free(batch *b)
{
    free(b->e);
    free(b->keys);
    free(b->vals);
}

static void env_open(cairn_store **st, chunkstore *cs)
{
    CHECK_OK(store_mem_open(st));
    CHECK_OK(cs_init(cs, *st, 64 << 20, 1));
}

static void env_close(cairn_store *st, chunkstore *cs)
{
    cs_dispose(cs);
    st->close(st);
}

/* ---- tests ---- */

/* Every cut gives the serial root, which is the fresh build's; over all the runs, parts were
 * joined directly, joined late (the edits before their first true span run again) and found
 * unused (a span of the part before ran through all of it). */
static void parts_equal_serial_and_fresh(void)
{
    static const tree_apply_opts cuts[] = {
        { 1, 0 }, { 2, 0 }, { 3, 7 }, { 8, 1 }, { 16, 0 }, { 5, 64 }, { 2, 4096 },
    };
    static const size_t sizes[] = { 2500, 30000 };
    static const unsigned densities[] = { 3, 40, 300, 1000 };
    tree_apply_stats total = { 0 };
    size_t runs = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            for (size_t di = 0; di < sizeof densities / sizeof *densities; di++) {
                cairn_store *st;
                chunkstore cs;
                env_open(&st, &cs);
                uint64_t rng = test_rng(seed * 100 + si * 10 + di);
                contents c;
                contents_init(&c, sizes[si]);
                for (size_t i = 0; i < c.n; i++) { /* two keys in three, to leave room */
                    if (i % 3 == 2) continue;
                    c.has[i] = 1;
                    c.vlen[i] = (uint16_t)value_len(test_rand(&rng));
                }
                cairn_id base;
                build_fresh(&base, &cs, &c);
                contents after;
                contents_copy(&after, &c);
                batch b;
                make_batch(&b, &after, densities[di], &rng);
                cairn_id want;
                build_fresh(&want, &cs, &after);
                for (size_t ci = 0; ci < sizeof cuts / sizeof *cuts; ci++) {
                    cairn_id got;
                    tree_apply_stats s;
                    CHECK_OK(tree_apply_with(&cs, &got, &base, b.e, b.n, &cuts[ci], &s));
                    CHECK_MSG(memcmp(got.bytes, want.bytes, CAIRN_ID_SIZE) == 0,
                              "seed %llu, %zu keys, density %u, %d threads, parts of %zu+: the "
                              "root is not the fresh build's",
                              (unsigned long long)seed, c.n, densities[di], cuts[ci].threads,
                              cuts[ci].part_min);
                    /* levels ran in parts exactly when two parts had their minimum */
                    size_t min = cuts[ci].part_min ? cuts[ci].part_min : 1;
                    CHECK_EQ(s.parts == 0, cuts[ci].threads < 2 || b.n / min < 2);
                    total.parts += s.parts;
                    total.joins_direct += s.joins_direct;
                    total.joins_late += s.joins_late;
                    total.parts_unused += s.parts_unused;
                    runs++;
                }
                CHECK_OK(tree_check(&cs, &want));
                batch_free(&b);
                contents_free(&after);
                contents_free(&c);
                env_close(st, &cs);
            }
        }
    }
    printf("%zu runs: %u parts, %u joined directly, %u late, %u unused\n", runs, total.parts,
           total.joins_direct, total.joins_late, total.parts_unused);
    CHECK(total.joins_direct > 0);
    CHECK(total.joins_late > 0);
    CHECK(total.parts_unused > 0);
}

/* The tree before, edited in parts, then edited back in parts: the first root again. */
static void parts_there_and_back(void)
{
    cairn_store *st;
    chunkstore cs;
    env_open(&st, &cs);
    uint64_t rng = test_rng(7);
    contents c;
    contents_init(&c, 40000);
    for (size_t i = 0; i < c.n; i++) {
        c.has[i] = test_rand(&rng) % 2;
        c.vlen[i] = (uint16_t)value_len(test_rand(&rng));
    }
    cairn_id base;
    build_fresh(&base, &cs, &c);
    /* the edits that take every key to the other state: present keys deleted, absent put */
    tree_edit *fwd = calloc(c.n, sizeof *fwd), *back = calloc(c.n, sizeof *back);
    uint8_t *keys = malloc(c.n * KEY_LEN), *vals = malloc(c.n * VAL_MAX);
    CHECK(fwd && back && keys && vals);
    for (size_t i = 0; i < c.n; i++) {
        uint8_t kz[KEY_LEN + 1];
        key_of(kz, i);
        memcpy(keys + i * KEY_LEN, kz, KEY_LEN);
        uint8_t *v = vals + i * VAL_MAX;
        val_of(v, i, c.ver[i], c.vlen[i]);
        tree_edit put = { keys + i * KEY_LEN, v, KEY_LEN, c.vlen[i], EDIT_PUT };
        tree_edit del = { keys + i * KEY_LEN, NULL, KEY_LEN, 0, EDIT_DEL };
        fwd[i] = c.has[i] ? del : put;
        back[i] = c.has[i] ? put : del;
    }
    tree_apply_opts opt = { 4, 100 };
    cairn_id mid, again, serial;
    tree_apply_stats s;
    CHECK_OK(tree_apply_with(&cs, &mid, &base, fwd, c.n, &opt, &s));
    CHECK(s.parts > 0);
    tree_apply_opts one = { 1, 0 };
    CHECK_OK(tree_apply_with(&cs, &serial, &base, fwd, c.n, &one, NULL));
    CHECK_MEM(mid.bytes, CAIRN_ID_SIZE, serial.bytes, CAIRN_ID_SIZE);
    CHECK_OK(tree_check(&cs, &mid));
    uint64_t count;
    CHECK_OK(tree_rank(&cs, &mid, NULL, 0, &count));
    size_t present = 0;
    for (size_t i = 0; i < c.n; i++) present += c.has[i];
    CHECK_EQ(count, c.n - present);
    CHECK_OK(tree_apply_with(&cs, &again, &mid, back, c.n, &opt, NULL));
    CHECK_MEM(again.bytes, CAIRN_ID_SIZE, base.bytes, CAIRN_ID_SIZE);
    free(fwd);
    free(back);
    free(keys);
    free(vals);
    contents_free(&c);
    env_close(st, &cs);
}

/* A leaf that only a helper thread reads is missing: the apply fails with that thread's
 * message (the chunk it could not find), not a generic one. */
static void helper_failure_reported(void)
{
    cairn_store *st;
    chunkstore cs;
    env_open(&st, &cs);
    contents c;
    contents_init(&c, 30000);
    for (size_t i = 0; i < c.n; i++) {
        c.has[i] = 1;
        c.vlen[i] = 20;
    }
    cairn_id base;
    build_fresh(&base, &cs, &c);
    /* the leaf holding the last key: only the last part's thread reads it */
    uint8_t kz[KEY_LEN + 1];
    key_of(kz, c.n - 1);
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    CHECK_OK(tree_get(&cs, &base, kz, KEY_LEN, &leaf, &v, &vl));
    cairn_id gone = leaf->id;
    chunk_release(leaf);
    CHECK_OK(st->del(st, &gone));
    cs_dispose(&cs); /* a cold cache: the leaf must come from the store */
    CHECK_OK(cs_init(&cs, st, 64 << 20, 1));
    contents after;
    contents_copy(&after, &c);
    uint64_t rng = test_rng(3);
    batch b;
    make_batch(&b, &after, 500, &rng);
    tree_apply_opts opt = { 2, 0 };
    cairn_id out;
    CHECK_RC(tree_apply_with(&cs, &out, &base, b.e, b.n, &opt, NULL), CAIRN_ECORRUPT);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &gone);
    CHECK_ERRMSG(hex);
    CHECK_ERRMSG("is missing from the");
    batch_free(&b);
    contents_free(&after);
    contents_free(&c);
    env_close(st, &cs);
}

/* Collects the ids of a tree's leaves through a chunk store of its own (whose cache is not the
 * one under test). */
static void leaf_ids(cairn_store *st, const cairn_id *root, cairn_id **out, size_t *out_n)
{
    chunkstore cs;
    CHECK_OK(cs_init(&cs, st, 64 << 20, 1));
    tree_cursor tc;
    CHECK_OK(tc_init(&tc, &cs, root, 1, true));
    size_t n = 0, cap = 1024;
    *out = malloc(cap * sizeof **out);
    int rc = tc_first(&tc);
    while (rc == CAIRN_OK) {
        const node *p = tc_node(&tc);
        for (uint32_t i = 0; i < p->count; i++) {
            if (n == cap) *out = realloc(*out, (cap *= 2) * sizeof **out);
            uint64_t cnt;
            node_child(p, i, &(*out)[n++], &cnt);
        }
        rc = tc_next(&tc);
    }
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    tc_dispose(&tc);
    cs_dispose(&cs);
    *out_n = n;
}

static size_t cached(chunkstore *cs, const cairn_id *ids, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        chunk *c = cache_get(cs->cache, &ids[i]);
        k += c != NULL;
        chunk_release(c);
    }
    return k;
}

/* A big edit (10,000+ edits) reads the old leaves it rewrites from the store, verified, and
 * keeps neither them nor the new ones in the chunk cache (readers' chunks stay); the inner
 * nodes it writes are cached. */
static void big_edit_leaves_stay_out_of_cache(void)
{
    cairn_store *st;
    chunkstore cs;
    env_open(&st, &cs);
    contents c;
    contents_init(&c, 60000);
    for (size_t i = 0; i < c.n; i++) {
        c.has[i] = 1;
        c.vlen[i] = 40;
    }
    cairn_id base;
    build_fresh(&base, &cs, &c);
    cs_dispose(&cs); /* cold: as after opening */
    CHECK_OK(cs_init(&cs, st, 64 << 20, 1));
    contents after;
    contents_copy(&after, &c);
    uint64_t rng = test_rng(9);
    batch b;
    make_batch(&b, &after, 300, &rng);
    CHECK(b.n >= 10000);
    cairn_id *old_leaves, *new_leaves;
    size_t n_old, n_new;
    leaf_ids(st, &base, &old_leaves, &n_old);
    cairn_id root;
    CHECK_OK(tree_apply(&cs, &root, &base, b.e, b.n));
    leaf_ids(st, &root, &new_leaves, &n_new);
    CHECK(n_old > 100 && n_new > 100);
    CHECK(atomic_load(&cs.chunks_read) >= n_old * 9 / 10); /* nearly every leaf was read */
    CHECK_EQ(cached(&cs, old_leaves, n_old), 0);
    CHECK_EQ(cached(&cs, new_leaves, n_new), 0);
    CHECK_EQ(cached(&cs, &root, 1), 1);
    cairn_id want;
    build_fresh(&want, &cs, &after);
    CHECK_MEM(root.bytes, CAIRN_ID_SIZE, want.bytes, CAIRN_ID_SIZE);
    free(old_leaves);
    free(new_leaves);
    batch_free(&b);
    contents_free(&after);
    contents_free(&c);
    env_close(st, &cs);
}


/* ---- parts that cannot start a span of the serial pass are not run ---- */

#define DENSE_BASE 40000     /* keys in the tree */
#define DENSE_EDITS 24000    /* edits in the batch: 4 parts of 4096+ */
#define DENSE_KEY 16         /* an inserted key: an existing key and a 4-byte suffix */

/* Applies E[0..n) to a fresh tree of keys 0..DENSE_BASE-1 in a store of its own (so no chunk
 * of another run is shared), with opt; gives the chunks the apply wrote and its root (by
 * value: the same in every store). */
static void dense_apply(uint64_t *out_wrote, cairn_id *out_root, const tree_edit *E, size_t n,
                        const tree_apply_opts *opt, tree_apply_stats *s)
{
    cairn_store *st;
    chunkstore cs;
    env_open(&st, &cs);
    contents c;
    contents_init(&c, DENSE_BASE);
    for (size_t i = 0; i < c.n; i++) {
        c.has[i] = 1;
        c.vlen[i] = 24;
    }
    cairn_id base;
    build_fresh(&base, &cs, &c);
    uint64_t before = atomic_load(&cs.chunks_written);
    CHECK_OK(tree_apply_with(&cs, out_root, &base, E, n, opt, s));
    *out_wrote = atomic_load(&cs.chunks_written) - before;
    CHECK_OK(tree_check(&cs, out_root));
    uint64_t count;
    CHECK_OK(tree_rank(&cs, out_root, NULL, 0, &count));
    CHECK_EQ(count, (uint64_t)DENSE_BASE + n); /* every edit is an insert */
    contents_free(&c);
    env_close(st, &cs);
}

/* Edits that all fall in one node of the old level (appends past the last key, which the
 * level's last node takes; a dense run of inserts between two neighbouring keys) leave every
 * part but the first without a span the serial pass could start: none of them runs, so the
 * parts write no more chunks than the serial pass, and the root is the serial one. */
static void parts_in_one_node_not_run(void)
{
    uint8_t *keys = malloc((size_t)DENSE_EDITS * DENSE_KEY);
    uint8_t val[24];
    tree_edit *E = calloc(DENSE_EDITS, sizeof *E);
    CHECK(keys && E);
    memset(val, 'v', sizeof val);
    for (int shape = 0; shape < 2; shape++) {
        for (size_t j = 0; j < DENSE_EDITS; j++) {
            uint8_t *k = keys + j * DENSE_KEY, kz[KEY_LEN + 1];
            /* appends: keys DENSE_BASE, DENSE_BASE + 1, ...; or between keys 20000 and 20001:
             * key 20000 and a 4-byte big-endian rank */
            key_of(kz, shape == 0 ? DENSE_BASE + j : DENSE_BASE / 2);
            memcpy(k, kz, KEY_LEN);
            size_t kl = KEY_LEN;
            if (shape == 1) {
                k[KEY_LEN] = (uint8_t)(j >> 24);
                k[KEY_LEN + 1] = (uint8_t)(j >> 16);
                k[KEY_LEN + 2] = (uint8_t)(j >> 8);
                k[KEY_LEN + 3] = (uint8_t)j;
                kl = DENSE_KEY;
            }
            E[j] = (tree_edit){ k, val, (uint32_t)kl, sizeof val, EDIT_PUT };
        }
        tree_apply_opts serial = { 1, 0 }, parts = { 4, 4096 };
        cairn_id want, got;
        tree_apply_stats s;
        uint64_t w_serial, w_parts;
        dense_apply(&w_serial, &want, E, DENSE_EDITS, &serial, NULL);
        dense_apply(&w_parts, &got, E, DENSE_EDITS, &parts, &s);
        printf("%s: %llu chunks written serially, %llu in parts (%u parts, %u skipped)\n",
               shape == 0 ? "appends past the end" : "inserts between two keys",
               (unsigned long long)w_serial, (unsigned long long)w_parts, s.parts,
               s.parts_skipped);
        CHECK_MEM(got.bytes, CAIRN_ID_SIZE, want.bytes, CAIRN_ID_SIZE);
        CHECK(w_parts <= w_serial);
        CHECK_EQ(s.parts, 4u);        /* the leaf level was cut ... */
        CHECK_EQ(s.parts_skipped, 3u); /* ... and no part but the first ran */
        CHECK_EQ(s.parts_unused, 0u);
    }
    free(E);
    free(keys);
}
/* What tree_apply() and a batch's concurrent applies ask for: one thread below two parts'
 * worth of edits; above, the CPUs (at most 4) shared among the applies running at once. */
static void threads_shared_among_runners(void)
{
    int cpus = base_cpus();
    CHECK(cpus >= 1);
    CHECK_EQ(base_cpus(), cpus); /* read once */
    tree_apply_opts small = tree_apply_opts_for(100, 1), big = tree_apply_opts_for(1000000, 1);
    tree_apply_opts half = tree_apply_opts_for(1000000, 2);
    CHECK_EQ(small.threads, 1);
    CHECK_EQ(big.threads, cpus < 4 ? cpus : 4);
    CHECK_EQ(half.threads, cpus / 2 < 1 ? 1 : cpus / 2 < 4 ? cpus / 2 : 4);
    CHECK(big.part_min > 0 && tree_apply_opts_for(2 * big.part_min - 1, 1).threads == 1);
}

/* ---- end to end: a bulk batch through the public API ---- */

#define E2E_KEYS 120000
#define E2E_OPS 70000 /* a bulk batch under E2E_MEMTABLE (batch.c is_bulk): straight into the tree */
#define E2E_MEMTABLE (4u << 20)

static void e2e_key(uint8_t out[16], uint64_t i)
{
    uint64_t s = i * 0x2545f4914f6cdd1dull + 11;
    store_be64(out, test_rand(&s));
    store_be64(out + 8, i);
}

static void e2e_val(uint8_t *out, size_t len, uint64_t i, uint32_t ver)
{
    uint64_t s = i ^ ((uint64_t)ver << 48);
    for (size_t j = 0; j < len; j++) out[j] = (uint8_t)test_rand(&s);
}

static void load_table(cairn_db *db, const uint8_t *has, const uint32_t *ver,
                       const uint8_t *vlen, uint64_t n)
{
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    uint8_t k[16], v[256];
    for (uint64_t i = 0; i < n; i++) {
        if (!has[i]) continue;
        e2e_key(k, i);
        e2e_val(v, vlen[i], i, ver[i]);
        CHECK_OK(cairn_batch_put(b, t, k, sizeof k, v, vlen[i]));
    }
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    cairn_table_close(t);
}

static void bulk_update_equals_fresh_load(void)
{
    uint64_t n = E2E_KEYS + E2E_KEYS / 10; /* room for inserts */
    uint8_t *has = calloc(n, 1), *vlen = calloc(n, 1);
    uint32_t *ver = calloc(n, sizeof *ver);
    CHECK(has && vlen && ver);
    uint64_t rng = test_rng(5);
    for (uint64_t i = 0; i < E2E_KEYS; i++) {
        has[i] = 1;
        vlen[i] = (uint8_t)(16 + test_rand(&rng) % 100);
    }
    char url[4096];
    snprintf(url, sizeof url, "%s/a", test_tmpdir());
    cairn_db *db = test_open_repo_with(url, E2E_MEMTABLE);
    load_table(db, has, ver, vlen, n);
    /* one batch: updates (some keeping the size), deletes, inserts, in random order */
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    uint8_t k[16], v[256];
    for (int j = 0; j < E2E_OPS; j++) {
        uint64_t r = test_rand(&rng);
        uint64_t i = (r >> 8) % n;
        e2e_key(k, i);
        if (r % 5 == 0) {
            CHECK_OK(cairn_batch_delete(b, t, k, sizeof k));
            has[i] = 0;
            continue;
        }
        if (!has[i] || r % 5 == 1) vlen[i] = (uint8_t)(16 + (r >> 40) % 100);
        ver[i]++;
        has[i] = 1;
        e2e_val(v, vlen[i], i, ver[i]);
        CHECK_OK(cairn_batch_put(b, t, k, sizeof k, v, vlen[i]));
    }
    CHECK_OK(cairn_checkpoint(db));
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    cairn_db_stats st;
    CHECK_OK(cairn_db_stats_get(&st, db));
    CHECK_EQ(st.memtable_entries, 0); /* the bulk path: into the trees, not the memtable */
    cairn_id updated;
    CHECK_OK(cairn_table_root(&updated, t, NULL));
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    /* the same contents loaded fresh into another repository */
    snprintf(url, sizeof url, "%s/b", test_tmpdir());
    db = test_open_repo_with(url, E2E_MEMTABLE);
    load_table(db, has, ver, vlen, n);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_id fresh;
    CHECK_OK(cairn_table_root(&fresh, t, NULL));
    uint64_t count, want = 0;
    CHECK_OK(cairn_count(&count, t, NULL, NULL));
    for (uint64_t i = 0; i < n; i++) want += has[i];
    CHECK_EQ(count, want);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    CHECK_MEM(updated.bytes, CAIRN_ID_SIZE, fresh.bytes, CAIRN_ID_SIZE);
    free(has);
    free(vlen);
    free(ver);
}

TEST_MAIN(parts_equal_serial_and_fresh, parts_there_and_back, helper_failure_reported,
          big_edit_leaves_stay_out_of_cache, parts_in_one_node_not_run,
          threads_shared_among_runners, bulk_update_equals_fresh_load)
