/*
 * gc_bench.c - times cairn_gc() and cairn_verify() on a repository with one table of N keys
 * (default 1,000,000; ~100-byte values) and C commits (default 100) of small changes (K random
 * keys each, default 10), each commit made after K single-key writes, so every commit leaves K
 * superseded working states behind as garbage. Not a test: run it by hand.
 *
 *   gc_bench DIR [N [C [K [churn]]]]      (DIR must not exist)
 *
 * GC_BENCH_MIN_LIVE=F sets the first gc's min_live_fraction.
 * With "churn", a second table of N keys is then written and dropped before the measurements,
 * so that about half of the store is garbage and gc has packs to rewrite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"

static void die(const char *what)
{
    fprintf(stderr, "gc_bench: %s: %s\n", what, cairn_error_last()->message);
    exit(1);
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int value(char *out, uint64_t *s)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 100; i++) out[i] = hex[rnd(s) & 15];
    return 100;
}

static void report_verify(const char *when, const cairn_verify_stats *v)
{
    printf("verify %-12s %7.2f s  commits %llu  trees %llu  nodes %llu  chunks %llu  "
           "%.1f MiB  unreachable %llu  problems %llu\n",
           when, v->seconds, (unsigned long long)v->commits, (unsigned long long)v->trees,
           (unsigned long long)v->nodes, (unsigned long long)v->chunks_verified,
           v->bytes_verified / 1048576.0, (unsigned long long)v->unreachable,
           (unsigned long long)v->problems);
}

static void report_gc(const char *when, const cairn_gc_stats *g)
{
    printf("gc     %-12s %7.2f s  chunks %llu -> %llu (reachable %llu, deleted %llu)  "
           "data %.1f -> %.1f MiB  packs %llu -> %llu (rewritten %llu, %.1f MiB freed)\n",
           when, g->seconds, (unsigned long long)g->chunks_before,
           (unsigned long long)g->chunks_after, (unsigned long long)g->chunks_reachable,
           (unsigned long long)g->chunks_deleted, g->bytes_before / 1048576.0,
           g->bytes_after / 1048576.0, (unsigned long long)g->files_before,
           (unsigned long long)g->files_after, (unsigned long long)g->packs_rewritten,
           g->disk_bytes_freed / 1048576.0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gc_bench DIR [KEYS [COMMITS [CHANGES [churn]]]]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000, commits = argc > 3 ? atol(argv[3]) : 100,
         changes = argc > 4 ? atol(argv[4]) : 10;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db;
    if (cairn_open(&db, argv[1], &o)) die("open");
    cairn_table *t;
    if (cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE)) die("table");
    uint64_t s = 42;
    char k[32], v[128];
    cairn_batch *b;
    if (cairn_batch_new(&b, db)) die("batch");
    for (long i = 0; i < n; i++) {
        int kl = snprintf(k, sizeof k, "k%010ld", i);
        if (cairn_batch_put(b, t, k, (size_t)kl, v, (size_t)value(v, &s))) die("batch put");
        if ((i + 1) % 200000 == 0 && cairn_batch_commit(b)) die("batch commit");
    }
    if (cairn_batch_commit(b)) die("batch commit");
    cairn_batch_free(b);
    cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
    co.message = "base";
    co.author = "Bench <bench@example.com>";
    if (cairn_commit(NULL, db, &co)) die("commit");
    for (long c = 0; c < commits; c++) {
        for (long j = 0; j < changes; j++) {
            int kl = snprintf(k, sizeof k, "k%010llu", (unsigned long long)(rnd(&s) % (uint64_t)n));
            if (cairn_put(t, k, (size_t)kl, v, (size_t)value(v, &s))) die("put");
        }
        co.message = "small change";
        if (cairn_commit(NULL, db, &co)) die("commit");
    }
    cairn_table_close(t);
    if (argc > 5 && strcmp(argv[5], "churn") == 0) {
        cairn_table *t2;
        if (cairn_table_open(&t2, db, "churn", CAIRN_TABLE_CREATE)) die("table");
        if (cairn_batch_new(&b, db)) die("batch");
        for (long i = 0; i < n; i++) {
            int kl = snprintf(k, sizeof k, "c%010ld", i);
            if (cairn_batch_put(b, t2, k, (size_t)kl, v, (size_t)value(v, &s))) die("batch put");
            if ((i + 1) % 200000 == 0 && cairn_batch_commit(b)) die("batch commit");
        }
        if (cairn_batch_commit(b)) die("batch commit");
        cairn_batch_free(b);
        cairn_table_close(t2);
        if (cairn_table_drop(db, "churn")) die("drop");
    }
    if (cairn_close(db)) die("close");
    o.flags = 0;
    if (cairn_open(&db, argv[1], &o)) die("reopen");
    cairn_verify_stats vs;
    cairn_gc_stats gs;
    if (cairn_verify(&vs, db, NULL)) die("verify");
    report_verify("before gc", &vs);
    cairn_verify_options vo = CAIRN_VERIFY_OPTIONS_INIT;
    vo.flags = CAIRN_VERIFY_REACHABLE_ONLY;
    if (cairn_verify(&vs, db, &vo)) die("verify");
    report_verify("reachable", &vs);
    cairn_gc_options go = CAIRN_GC_OPTIONS_INIT;
    const char *ml = getenv("GC_BENCH_MIN_LIVE"); /* the live fraction under which packs are rewritten */
    if (ml) go.min_live_fraction = atof(ml);
    if (cairn_gc(&gs, db, &go)) die("gc");
    report_gc("first", &gs);
    if (cairn_gc(&gs, db, NULL)) die("gc");
    report_gc("again", &gs);
    if (cairn_verify(&vs, db, NULL)) die("verify");
    report_verify("after gc", &vs);
    if (cairn_close(db)) die("close");
    return 0;
}
