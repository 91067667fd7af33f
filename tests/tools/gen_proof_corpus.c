/*
 * gen_proof_corpus.c - writes the named seeds of fuzz/fuzz_proof.c: valid proofs of every anchor
 * kind (table root, catalog root, commit) over trees of one to three levels, present and absent
 * keys, and a few broken ones. The trees are deterministic, so the files are too. (The files
 * named by a SHA-1 beside them are inputs the fuzzer found that reach further; they stay.)
 *
 *   gen_proof_corpus DIR      (DIR = fuzz/corpus/proof)
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "repo/commit.h"
#include "repo/proof.h"
#include "repo/repo.h"
#include "store/store.h"
#include "tree/tree.h"

static const char *dir;

static void die(const char *what)
{
    fprintf(stderr, "gen_proof_corpus: %s: %s\n", what, cairn_error_last()->message);
    exit(1);
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* n keys "k%09u" (even numbers) with values of vlen bytes. */
static cairn_id build(chunkstore *cs, unsigned n, unsigned vlen)
{
    tree_builder b;
    tb_init(&b, cs, 0);
    for (unsigned i = 0; i < n; i++) {
        char k[32], v[64];
        int kl = snprintf(k, sizeof k, "k%09u", 2 * i);
        memset(v, 'a' + (int)(i % 26), vlen);
        if (tb_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, vlen, 1) < 0) die("tb_add");
    }
    cairn_id root;
    if (tb_finish(&b, &root) < 0) die("tb_finish");
    tb_dispose(&b);
    return root;
}

static cairn_id catalog_of(chunkstore *cs, const char *const *names, const cairn_id *roots, int n)
{
    tree_builder b;
    tb_init(&b, cs, 0);
    cairn_buf d = CAIRN_BUF_INIT;
    for (int i = 0; i < n; i++) {
        tabledesc td = { TABLE_KIND_KV, roots[i] };
        if (tabledesc_encode(&d, &td) < 0 ||
            tb_add(&b, (const uint8_t *)names[i], strlen(names[i]), d.data, d.len, 1) < 0)
            die("catalog");
    }
    cairn_id root;
    if (tb_finish(&b, &root) < 0) die("tb_finish");
    tb_dispose(&b);
    cairn_buf_dispose(&d);
    return root;
}

static void commit_of(cairn_buf *out, const cairn_id *catalog, bool sign)
{
    commit c;
    memset(&c, 0, sizeof c);
    c.catalog = *catalog;
    c.nparents = 1;
    memset(c.parents[0].bytes, 0x11, CAIRN_ID_SIZE);
    c.author = c.committer = "Fuzz <fuzz@example.org>";
    c.author_time = c.commit_time = 1700000000000000000ll;
    c.message = "seed";
    c.is_signed = sign;
    memset(c.signer, 0x22, sizeof c.signer);
    memset(c.signature, 0x33, sizeof c.signature);
    if (commit_encode(out, &c) < 0) die("commit_encode");
}

static void prove(const char *name, chunkstore *cs, int anchor, const cairn_buf *cb,
                  const cairn_id *catalog, const char *table, const cairn_id *troot,
                  const char *key, cairn_buf *keep)
{
    cairn_buf p = CAIRN_BUF_INIT;
    if (proof_build(&p, cs, anchor, cb ? cb->data : NULL, cb ? cb->len : 0, catalog, table, troot,
                    key, strlen(key)) < 0)
        die(name);
    /* every valid seed must verify against its own anchor */
    cairn_id trusted;
    if (anchor == PROOF_ANCHOR_COMMIT) hash_sha256(&trusted, cb->data, cb->len);
    else trusted = anchor == PROOF_ANCHOR_TABLE ? *troot : *catalog;
    proof_result r;
    if (proof_verify(&r, p.data, p.len, &trusted) < 0) die(name);
    write_file(name, p.data, p.len);
    if (keep) cairn_buf_set(keep, p.data, p.len);
    cairn_buf_dispose(&p);
}

static void prove_table(const char *name, chunkstore *cs, const cairn_id *root, const char *key,
                        cairn_buf *keep)
{
    prove(name, cs, PROOF_ANCHOR_TABLE, NULL, NULL, NULL, root, key, keep);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_proof_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    cairn_store *st;
    chunkstore cs;
    if (store_mem_open(&st) < 0 || cs_init(&cs, st, 256 << 20, -1) < 0) die("store");

    cairn_id empty, leaf, two, three;
    if (tree_empty(&cs, &empty) < 0) die("tree_empty");
    leaf = build(&cs, 8, 4);
    two = build(&cs, 300, 8);
    three = build(&cs, 40000, 30);
    cairn_table_stats s2, s3;
    if (tree_stats(&cs, &two, &s2) < 0 || tree_stats(&cs, &three, &s3) < 0) die("stats");
    if (s2.depth != 2 || s3.depth != 3) {
        fprintf(stderr, "gen_proof_corpus: depths %u and %u, expected 2 and 3\n", s2.depth,
                s3.depth);
        return 1;
    }

    prove_table("table_empty", &cs, &empty, "k", NULL);
    prove_table("table_leaf_found", &cs, &leaf, "k000000004", NULL);
    prove_table("table_leaf_absent", &cs, &leaf, "k000000005", NULL);
    prove_table("table_leaf_before", &cs, &leaf, "", NULL);
    prove_table("table_2level_found", &cs, &two, "k000000300", NULL);
    prove_table("table_2level_absent", &cs, &two, "k000000301", NULL);
    prove_table("table_2level_past_end", &cs, &two, "z", NULL);
    cairn_buf three_found = CAIRN_BUF_INIT;
    prove_table("table_3level_found", &cs, &three, "k000010000", &three_found);
    prove_table("table_3level_absent", &cs, &three, "k000010001", NULL);

    /* a small catalog, and one of 300 tables (two levels) */
    const char *names[3] = { "empty", "leaf", "two" };
    cairn_id roots[3] = { empty, leaf, two };
    cairn_id cat = catalog_of(&cs, names, roots, 3);
    char *many_names[300];
    const char *many_c[300];
    cairn_id many_roots[300];
    for (int i = 0; i < 300; i++) {
        many_names[i] = malloc(32);
        snprintf(many_names[i], 32, "table-%03d", i);
        many_c[i] = many_names[i];
        many_roots[i] = i % 2 ? leaf : two;
    }
    cairn_id bigcat = catalog_of(&cs, many_c, many_roots, 300);
    cairn_buf cat_found = CAIRN_BUF_INIT;
    prove("catalog_found", &cs, PROOF_ANCHOR_CATALOG, NULL, &cat, "two", NULL, "k000000300",
          &cat_found);
    prove("catalog_absent", &cs, PROOF_ANCHOR_CATALOG, NULL, &cat, "leaf", NULL, "k000000003",
          NULL);
    prove("catalog_empty_table", &cs, PROOF_ANCHOR_CATALOG, NULL, &cat, "empty", NULL, "x", NULL);
    prove("catalog_2level", &cs, PROOF_ANCHOR_CATALOG, NULL, &bigcat, "table-150", NULL,
          "k000000100", NULL);

    cairn_buf cb = CAIRN_BUF_INIT, cbs = CAIRN_BUF_INIT;
    commit_of(&cb, &cat, false);
    commit_of(&cbs, &bigcat, true);
    prove("commit_found", &cs, PROOF_ANCHOR_COMMIT, &cb, NULL, "leaf", NULL, "k000000002", NULL);
    prove("commit_absent", &cs, PROOF_ANCHOR_COMMIT, &cb, NULL, "two", NULL, "k000000599", NULL);
    prove("commit_signed_2level", &cs, PROOF_ANCHOR_COMMIT, &cbs, NULL, "table-007", NULL,
          "k000000010", NULL);

    /* broken ones */
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_buf_set(&b, cat_found.data, cat_found.len);
    b.data[0] = 'X';
    write_file("bad_magic", b.data, b.len);
    b.data[0] = 'C';
    b.data[8] = 2;
    write_file("bad_version", b.data, b.len);
    write_file("truncated", cat_found.data, cat_found.len - 1);
    cairn_buf_set(&b, cat_found.data, cat_found.len);
    cairn_buf_append(&b, "", 1);
    write_file("trailing_byte", b.data, b.len);
    cairn_buf_set(&b, three_found.data, three_found.len);
    b.data[b.len - 1] ^= 0x01; /* a value byte of the leaf */
    write_file("flipped_leaf", b.data, b.len);
    cairn_buf_set(&b, three_found.data, three_found.len);
    b.data[11 + 9] = '2'; /* "k000010000" -> "k000010002" in the key field */
    write_file("other_key", b.data, b.len);
    cairn_buf_set(&b, three_found.data, 11);
    cairn_buf_append(&b, "k000010000\x00", 11); /* a path count of 0 */
    write_file("empty_path", b.data, b.len);

    for (int i = 0; i < 300; i++) free(many_names[i]);
    cairn_buf_dispose(&b);
    cairn_buf_dispose(&cb);
    cairn_buf_dispose(&cbs);
    cairn_buf_dispose(&cat_found);
    cairn_buf_dispose(&three_found);
    cs_dispose(&cs);
    st->close(st);
    return 0;
}
