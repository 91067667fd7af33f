/*
 * test_merge.c - three-way tree merge: every conflict shape, the strategies, and the property
 * that without conflicts merging A into B and B into A give the same root.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "test.h"
#include "tree/tree.h"

static chunkstore cs;
static cairn_store *st;

static void setup(void)
{
    if (store_mem_open(&st) != CAIRN_OK || cs_init(&cs, st, 64 << 20, -1) != CAIRN_OK) exit(2);
}

static void teardown(void)
{
    cs_dispose(&cs);
    st->close(st);
}

/* A tree from "k=v,k2=v2,..." */
static cairn_id tree_of(const char *spec)
{
    cairn_id root;
    tree_empty(&cs, &root);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    tree_edit e[64];
    char *save, *tok;
    int n = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        e[n++] = (tree_edit){ (uint8_t *)tok, (uint8_t *)eq + 1, (uint32_t)strlen(tok),
                              (uint32_t)strlen(eq + 1), EDIT_PUT };
    }
    /* keys in specs are given sorted */
    if (tree_apply(&cs, &root, &root, e, (size_t)n) != CAIRN_OK) abort();
    return root;
}

typedef struct seen {
    int n;
    char text[512];
} seen;

static int on_conflict(const tree_conflict *c, void *payload)
{
    seen *s = payload;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s%.*s:%.*s/%.*s/%.*s", s->n++ ? ";" : "",
             (int)c->klen, (const char *)c->key, c->has_base ? (int)c->baselen : 1,
             c->has_base ? (const char *)c->base : "-", c->has_ours ? (int)c->ourslen : 1,
             c->has_ours ? (const char *)c->ours : "-", c->has_theirs ? (int)c->theirslen : 1,
             c->has_theirs ? (const char *)c->theirs : "-");
    return 0;
}

#define same_root(a, b, what) CHECK_MSG(memcmp((a)->bytes, (b)->bytes, 32) == 0, "%s: roots differ", what)

/* one shape: base, ours, theirs -> expected merged (with ours/theirs strategy) and conflicts */
static void shape(const char *base, const char *ours, const char *theirs, const char *conflicts,
                  const char *with_ours, const char *with_theirs)
{
    cairn_id b = tree_of(base), o = tree_of(ours), t = tree_of(theirs), out;
    seen s = { 0, "" };
    size_t nc = 99;
    int rc = tree_merge(&cs, &out, &b, &o, &t, MERGE_FAIL, on_conflict, &s, &nc);
    if (*conflicts) {
        CHECK_RC(rc, CAIRN_ECONFLICT);
        CHECK_ERRMSG("changed differently on both sides");
    } else {
        CHECK_OK(rc);
        cairn_id want = tree_of(with_ours);
        same_root(&out, &want, "clean merge");
    }
    CHECK_STR(s.text, conflicts);
    CHECK_EQ(nc, s.n);
    s.n = 0;
    s.text[0] = '\0';
    CHECK_OK(tree_merge(&cs, &out, &b, &o, &t, MERGE_OURS, on_conflict, &s, &nc));
    cairn_id want_o = tree_of(with_ours);
    same_root(&out, &want_o, "strategy ours");
    CHECK_OK(tree_merge(&cs, &out, &b, &o, &t, MERGE_THEIRS, NULL, NULL, &nc));
    cairn_id want_t = tree_of(with_theirs);
    same_root(&out, &want_t, "strategy theirs");
}

static void conflict_shapes(void)
{
    setup();
    /* one side changes a key: no conflict */
    shape("a=1,b=2", "a=1,b=2", "a=1,b=3", "", "a=1,b=3", "a=1,b=3");
    shape("a=1,b=2", "a=9,b=2", "a=1,b=3", "", "a=9,b=3", "a=9,b=3");
    /* the same change on both sides: no conflict */
    shape("a=1,b=2", "a=1,b=5", "a=1,b=5", "", "a=1,b=5", "a=1,b=5");
    shape("a=1,b=2", "a=1", "a=1", "", "a=1", "a=1");                      /* both delete */
    shape("a=1", "a=1,c=7", "a=1,c=7", "", "a=1,c=7", "a=1,c=7");          /* same add */
    /* modify/modify */
    shape("a=1,b=2", "a=1,b=5", "a=1,b=6", "b:2/5/6", "a=1,b=5", "a=1,b=6");
    /* delete/modify and modify/delete */
    shape("a=1,b=2", "a=1", "a=1,b=6", "b:2/-/6", "a=1", "a=1,b=6");
    shape("a=1,b=2", "a=1,b=5", "a=1", "b:2/5/-", "a=1,b=5", "a=1");
    /* add/add with different values */
    shape("a=1", "a=1,c=7", "a=1,c=8", "c:-/7/8", "a=1,c=7", "a=1,c=8");
    /* several at once, conflicts reported in key order; theirs also deletes d and adds e */
    shape("a=1,b=2,c=3,d=4", "a=9,b=5,d=4", "a=8,b=2,c=6,e=5", "a:1/9/8;c:3/-/6",
          "a=9,b=5,e=5", "a=8,b=5,c=6,e=5");
    teardown();
}

/* Random disjoint changes on both sides: A into B == B into A, and == applying both. */
static void merge_commutes(void)
{
    setup();
    uint64_t rng = test_rng(8);
    enum { N = 30000 };
    static int base[N], a[N], b[N];
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < N; i++) base[i] = test_rand(&rng) % 4 == 0 ? -1 : (int)(test_rand(&rng) % 100);
        memcpy(a, base, sizeof base);
        memcpy(b, base, sizeof base);
        int changes = 1 + (int)(test_rand(&rng) % 3000);
        for (int c = 0; c < changes; c++) {
            int i = (int)(test_rand(&rng) % N);
            int v = test_rand(&rng) % 3 == 0 ? -1 : (int)(test_rand(&rng) % 100);
            if (i % 3 == 0) a[i] = b[i] = v; /* the same change on both sides */
            else if (i % 3 == 1) a[i] = v;   /* otherwise disjoint */
            else b[i] = v;
        }
        cairn_id rbase, ra, rb, rab, rba, rall;
        int *arrs[4] = { base, a, b, NULL };
        cairn_id *roots[3] = { &rbase, &ra, &rb };
        for (int t = 0; t < 3; t++) {
            tree_builder tb;
            tb_init(&tb, &cs, 0);
            char k[16], v[16];
            for (int i = 0; i < N; i++) {
                if (arrs[t][i] < 0) continue;
                int kl = snprintf(k, sizeof k, "%06d", i), vl = snprintf(v, sizeof v, "%d", arrs[t][i]);
                CHECK_OK(tb_add(&tb, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, 1));
            }
            CHECK_OK(tb_finish(&tb, roots[t]));
            tb_dispose(&tb);
        }
        size_t nc;
        CHECK_OK(tree_merge(&cs, &rab, &rbase, &ra, &rb, MERGE_FAIL, NULL, NULL, &nc));
        CHECK_EQ(nc, 0);
        CHECK_OK(tree_merge(&cs, &rba, &rbase, &rb, &ra, MERGE_FAIL, NULL, NULL, &nc));
        same_root(&rab, &rba, "A into B vs B into A");
        /* the expected contents, built fresh */
        tree_builder tb;
        tb_init(&tb, &cs, 0);
        for (int i = 0; i < N; i++) {
            int v = a[i] != base[i] ? a[i] : b[i];
            if (v < 0) continue;
            char k[16], vs[16];
            int kl = snprintf(k, sizeof k, "%06d", i), vl = snprintf(vs, sizeof vs, "%d", v);
            CHECK_OK(tb_add(&tb, (uint8_t *)k, (size_t)kl, (uint8_t *)vs, (size_t)vl, 1));
        }
        CHECK_OK(tb_finish(&tb, &rall));
        tb_dispose(&tb);
        same_root(&rab, &rall, "merge vs fresh build of both changes");
        CHECK_OK(tree_check(&cs, &rab));
    }
    teardown();
}

TEST_MAIN(conflict_shapes, merge_commutes)
