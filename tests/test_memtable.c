/*
 * test_memtable.c - the multi-version skiplist against a model: after random writes (puts and
 * deletes over several tables, each with a sequence number), reads at random snapshots see,
 * for every key, the newest version at or below the snapshot; iterators both ways agree.
 * Batches linked a window at a time build the same list as one link at a time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "wal/memtable.h"
#include "test.h"

enum { TABLES = 3, KEYS = 400, OPS = 20000 };

typedef struct op {
    uint64_t seq;
    uint32_t table;
    int key, val; /* val < 0: delete */
} op;

static op ops[OPS];

/* The model: the newest op at or below snap for (table, key), or NULL. */
static const op *model_find(uint32_t table, int key, uint64_t snap)
{
    const op *best = NULL;
    for (int i = 0; i < OPS; i++)
        if (ops[i].table == table && ops[i].key == key && ops[i].seq <= snap &&
            (!best || ops[i].seq > best->seq))
            best = &ops[i];
    return best;
}

static int key_of(int k, char *out) { return snprintf(out, 16, "key%04d", k); }

static void versions_and_snapshots(void)
{
    memtable *m;
    CHECK_OK(mem_new(&m));
    uint64_t rng = test_rng(17);
    char k[16], v[16];
    for (int i = 0; i < OPS; i++) {
        ops[i] = (op){ (uint64_t)i + 1, (uint32_t)(test_rand(&rng) % TABLES),
                       (int)(test_rand(&rng) % KEYS), test_rand(&rng) % 4 ? (int)(test_rand(&rng) % 1000) : -1 };
        int kl = key_of(ops[i].key, k), vl = snprintf(v, sizeof v, "v%d", ops[i].val);
        CHECK_OK(mem_add(m, ops[i].seq, ops[i].table, ops[i].val < 0 ? MEM_DEL : MEM_PUT, k, (size_t)kl,
                         v, ops[i].val < 0 ? 0 : (size_t)vl));
    }
    for (int trial = 0; trial < 40; trial++) {
        uint64_t snap = trial == 0 ? OPS : test_rand(&rng) % (OPS + 1);
        for (uint32_t t = 0; t < TABLES; t++) {
            /* point reads */
            for (int key = 0; key < KEYS; key += 3) {
                int kl = key_of(key, k);
                const mem_entry *e = mem_find(m, t, k, (size_t)kl, snap);
                const op *o = model_find(t, key, snap);
                CHECK((e == NULL) == (o == NULL));
                if (!e) continue;
                CHECK(e->seq == o->seq);
                CHECK_EQ(e->type, o->val < 0 ? MEM_DEL : MEM_PUT);
            }
            /* forward: every key with a visible version, in order, each once */
            mem_iter it;
            mem_iter_init(&it, m, t, snap);
            int expect = 0, seen = 0;
            for (mem_iter_seek(&it, NULL, 0); it.cur; mem_iter_next(&it)) {
                while (expect < KEYS && !model_find(t, expect, snap)) expect++;
                int kl = key_of(expect, k);
                CHECK_MEM(it.cur->key, it.cur->klen, k, (size_t)kl);
                CHECK(it.cur->seq == model_find(t, expect, snap)->seq);
                expect++;
                seen++;
            }
            while (expect < KEYS && !model_find(t, expect, snap)) expect++;
            CHECK_EQ(expect, KEYS);
            /* backward from the end gives the same keys reversed */
            int back = 0;
            for (mem_iter_seek_before(&it, NULL, 0); it.cur; mem_iter_prev(&it)) back++;
            CHECK_EQ(back, seen);
            /* seek into the middle */
            int mid = (int)(test_rand(&rng) % KEYS), kl = key_of(mid, k);
            mem_iter_seek(&it, k, (size_t)kl);
            int first = mid;
            while (first < KEYS && !model_find(t, first, snap)) first++;
            if (first == KEYS) CHECK(it.cur == NULL);
            else {
                CHECK(it.cur != NULL);
                int fl = key_of(first, v);
                CHECK_MEM(it.cur->key, it.cur->klen, v, (size_t)fl);
            }
            mem_iter_seek_before(&it, k, (size_t)kl);
            int last = mid - 1;
            while (last >= 0 && !model_find(t, last, snap)) last--;
            if (last < 0) CHECK(it.cur == NULL);
            else {
                CHECK(it.cur != NULL);
                int ll = key_of(last, v);
                CHECK_MEM(it.cur->key, it.cur->klen, v, (size_t)ll);
            }
        }
    }
    CHECK_EQ(atomic_load(&m->count), OPS);
    mem_release(m);
}

/* One writer, readers walking at the same time: a reader never sees a half-linked entry. */
typedef struct shared {
    memtable *m;
    atomic_ullong published;
    atomic_int stop;
    int errors;
} shared;

static void *reader(void *arg)
{
    shared *s = arg;
    char k[16];
    while (!atomic_load(&s->stop)) {
        uint64_t snap = atomic_load(&s->published);
        mem_iter it;
        mem_iter_init(&it, s->m, 0, snap);
        uint64_t n = 0;
        for (mem_iter_seek(&it, NULL, 0); it.cur; mem_iter_next(&it)) {
            if (it.cur->seq > snap) s->errors++;
            n++;
        }
        if (n > snap) s->errors++; /* at most one visible version per written key */
        int kl = key_of(1, k);
        (void)mem_find(s->m, 0, k, (size_t)kl, snap);
    }
    return NULL;
}

static void concurrent_readers(void)
{
    shared s;
    CHECK_OK(mem_new(&s.m));
    atomic_init(&s.published, 0);
    atomic_init(&s.stop, 0);
    s.errors = 0;
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, reader, &s);
    char k[16];
    for (uint64_t seq = 1; seq <= 50000; seq++) {
        int kl = key_of((int)(seq * 7919 % 5000), k);
        CHECK_OK(mem_add(s.m, seq, 0, MEM_PUT, k, (size_t)kl, "v", 1));
        atomic_store(&s.published, seq);
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK_EQ(s.errors, 0);
    mem_release(s.m);
}

/* Every level of m is in (table, key, seq desc) order and holds exactly the entries at least
 * that tall, which also appear at level 0. */
static void check_levels(const memtable *m)
{
    size_t at0 = 0;
    for (const mem_entry *e = m->head->next[0]; e; e = e->next[0]) at0++;
    CHECK_EQ(at0, m->count);
    for (int l = 0; l < MEM_MAX_HEIGHT; l++) {
        const mem_entry *p = NULL, *z = m->head->next[0];
        for (const mem_entry *e = m->head->next[l]; e; p = e, e = e->next[l]) {
            CHECK(e->height > l);
            if (p) {
                int c = p->table != e->table ? (p->table < e->table ? -1 : 1)
                                             : bytes_cmp(p->key, p->klen, e->key, e->klen);
                CHECK(c < 0 || (c == 0 && p->seq >= e->seq));
            }
            while (z && z != e) { /* every tall entry between is at this level too */
                CHECK(z->height <= l);
                z = z->next[0];
            }
            CHECK(z == e);
            z = z ? z->next[0] : NULL;
        }
        for (; z; z = z->next[0]) CHECK(z->height <= l);
    }
}

/* Random batches (repeated keys within a batch included) through mem_batch_apply, and the same
 * entries one by one through mem_add: the two lists hold the same versions in the same order
 * (values tell apart two versions of a key with the same sequence number). */
static void batches_link_like_single_adds(void)
{
    memtable *a, *b;
    CHECK_OK(mem_new(&a));
    CHECK_OK(mem_new(&b));
    uint64_t rng = test_rng(29);
    char k[16], v[16];
    for (uint64_t seq = 1; seq <= 3000; seq++) {
        int n = (int)(test_rand(&rng) % 40) + 1;
        int keys[40], vals[40];
        uint32_t tables[40];
        for (int i = 0; i < n; i++) {
            keys[i] = (int)(test_rand(&rng) % 2000);
            if (i && test_rand(&rng) % 8 == 0) keys[i] = keys[test_rand(&rng) % (uint64_t)i];
            tables[i] = (uint32_t)(test_rand(&rng) % 2);
            vals[i] = (int)(seq * 100 + (uint64_t)i);
        }
        mem_batch mb;
        mem_batch_init(&mb, seq * 0x9e3779b97f4a7c15ull);
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < n; i++) {
                int kl = key_of(keys[i], k), vl = snprintf(v, sizeof v, "%d", vals[i]);
                if (pass == 0) mem_batch_count(&mb, (size_t)kl, (size_t)vl);
                else mem_batch_put(&mb, tables[i], MEM_PUT, k, (size_t)kl, v, (size_t)vl);
            }
            if (pass == 0) CHECK_OK(mem_batch_alloc(&mb));
        }
        mem_batch_apply(b, &mb, seq);
        mem_batch_dispose(&mb);
        for (int i = 0; i < n; i++) {
            int kl = key_of(keys[i], k), vl = snprintf(v, sizeof v, "%d", vals[i]);
            CHECK_OK(mem_add(a, seq, tables[i], MEM_PUT, k, (size_t)kl, v, (size_t)vl));
        }
        if (seq % 500 == 0) check_levels(b);
    }
    check_levels(b);
    const mem_entry *x = a->head->next[0], *y = b->head->next[0];
    for (; x && y; x = x->next[0], y = y->next[0]) {
        CHECK_EQ(x->table, y->table);
        CHECK_EQ(x->seq, y->seq);
        CHECK(bytes_cmp(x->key, x->klen + x->vlen, y->key, y->klen + y->vlen) == 0);
    }
    CHECK(!x && !y);
    mem_release(a);
    mem_release(b);
}

TEST_MAIN(versions_and_snapshots, concurrent_readers, batches_link_like_single_adds)
