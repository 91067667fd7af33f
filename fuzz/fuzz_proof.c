/*
 * fuzz_proof.c - proof verification from hostile bytes (repo/proof.c, tree/proof.c).
 *
 * Each input is verified three ways:
 *  1. against a fixed root that no input can hash to: success would mean a SHA-256 preimage,
 *     so it must always fail (and never crash);
 *  2. against the root the input itself carries (the hash of its commit, or of the first node
 *     of its first path): valid seed proofs verify, mutations mostly do not;
 *  3. a repaired copy: content addressing means a fuzzer cannot forge the hash links, so the
 *     harness rewrites them, bottom-up (each parent's chosen ref gets its child's real hash, the
 *     catalog leaf's descriptor gets the table path's root, the commit gets the catalog root),
 *     so that mutations reach the structural checks behind the hashes.
 * Whenever a proof verifies, the result must lie inside the input and be a true statement:
 * the nodes of the input, put into a chunk store, must give the same answer to tree_get()
 * (and to the catalog lookup) as the verifier did.
 */
#include <stdlib.h>

#include "base/hash.h"
#include "base/varint.h"
#include "repo/proof.h"
#include "repo/repo.h"
#include "store/store.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a lenient parse: where the fields would be, bounds-checked only ---- */

typedef struct span {
    size_t off, len;
} span;

typedef struct parsed {
    int anchor;
    span key, name, commit;
    int ncat, ntab;
    span cat[32], tab[32];
} parsed;

static bool field(const uint8_t *p, size_t len, size_t *at, span *out)
{
    uint64_t l;
    size_t vn = varint_get(p + *at, p + len, &l);
    if (!vn || l > len - *at - vn) return false;
    *out = (span){ *at + vn, (size_t)l };
    *at += vn + l;
    return true;
}

static bool path(const uint8_t *p, size_t len, size_t *at, span *nodes, int *n)
{
    if (*at >= len) return false;
    *n = p[(*at)++];
    if (*n > 32) return false;
    for (int j = 0; j < *n; j++)
        if (!field(p, len, at, &nodes[j])) return false;
    return true;
}

static bool parse(parsed *pp, const uint8_t *p, size_t len)
{
    memset(pp, 0, sizeof *pp);
    if (len < 10) return false;
    pp->anchor = p[9];
    size_t at = 10;
    if (!field(p, len, &at, &pp->key)) return false;
    if (pp->anchor >= 2 && !field(p, len, &at, &pp->name)) return false;
    if (pp->anchor == 3 && !field(p, len, &at, &pp->commit)) return false;
    if (pp->anchor >= 2 && !path(p, len, &at, pp->cat, &pp->ncat)) return false;
    return path(p, len, &at, pp->tab, &pp->ntab);
}

/* The id a proof would be anchored at. */
static bool carried_root(const uint8_t *p, const parsed *pp, cairn_id *out)
{
    span s;
    if (pp->anchor == 3) s = pp->commit;
    else if (pp->anchor == 2 && pp->ncat > 0) s = pp->cat[0];
    else if (pp->ntab > 0) s = pp->tab[0];
    else return false;
    hash_sha256(out, p + s.off, s.len);
    return true;
}

/* Rewrites the ref that node j-1 chooses for key to the hash of node j, for j = n-1 .. 1. */
static void repair_path(uint8_t *p, const span *nodes, int n, const uint8_t *key, size_t klen)
{
    for (int j = n - 1; j >= 1; j--) {
        uint8_t *parent = p + nodes[j - 1].off;
        if (node_check(parent, nodes[j - 1].len) != CAIRN_OK) continue;
        node nd;
        node_view(&nd, parent, nodes[j - 1].len);
        bool exact;
        uint32_t i = node_lower_bound(&nd, key, klen, &exact);
        if (nd.level == 0 || i == nd.count) continue;
        cairn_id h;
        hash_sha256(&h, p + nodes[j].off, nodes[j].len);
        memcpy((uint8_t *)node_ref(&nd, i), h.bytes, CAIRN_ID_SIZE);
    }
}

static void repair(uint8_t *p, const parsed *pp)
{
    const uint8_t *key = p + pp->key.off, *name = p + pp->name.off;
    repair_path(p, pp->tab, pp->ntab, key, pp->key.len);
    if (pp->anchor < 2 || pp->ncat < 1 || pp->ntab < 1) return;
    span leaf = pp->cat[pp->ncat - 1];
    if (node_check(p + leaf.off, leaf.len) == CAIRN_OK) {
        node nd;
        node_view(&nd, p + leaf.off, leaf.len);
        bool exact;
        uint32_t i = node_lower_bound(&nd, name, pp->name.len, &exact);
        if (nd.level == 0 && exact) {
            const uint8_t *v;
            size_t vl;
            node_val(&nd, i, &v, &vl);
            cairn_id h;
            hash_sha256(&h, p + pp->tab[0].off, pp->tab[0].len);
            if (vl >= 34) memcpy((uint8_t *)v + 2, h.bytes, CAIRN_ID_SIZE);
        }
    }
    repair_path(p, pp->cat, pp->ncat, name, pp->name.len);
    if (pp->anchor == 3 && pp->commit.len >= 34) {
        cairn_id h;
        hash_sha256(&h, p + pp->cat[0].off, pp->cat[0].len);
        memcpy(p + pp->commit.off + 2, h.bytes, CAIRN_ID_SIZE);
    }
}

/* ---- the oracle ---- */

static bool inside(const uint8_t *p, size_t len, const uint8_t *base, size_t size)
{
    return p >= base && p + len <= base + size;
}

/* A verified result must point into the input and agree with a plain tree_get() over the
 * input's nodes. */
static void check(const proof_result *r, const uint8_t *p, size_t size, const parsed *pp)
{
    if (!inside(r->key, r->klen, p, size)) abort();
    if (r->found && !inside(r->val, r->vlen, p, size)) abort();
    if (!r->found && (r->val || r->vlen)) abort();
    cairn_store *st;
    chunkstore cs;
    if (store_mem_open(&st) != CAIRN_OK) return;
    if (cs_init(&cs, st, 1 << 20, -1) != CAIRN_OK) {
        st->close(st);
        return;
    }
    cairn_id id;
    for (int j = 0; j < pp->ncat; j++)
        if (cs_put(&cs, &id, NULL, p + pp->cat[j].off, pp->cat[j].len) != CAIRN_OK) abort();
    for (int j = 0; j < pp->ntab; j++)
        if (cs_put(&cs, &id, NULL, p + pp->tab[j].off, pp->tab[j].len) != CAIRN_OK) abort();
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    if (r->anchor != PROOF_ANCHOR_TABLE) {
        if (tree_get(&cs, &r->catalog_root, r->table, r->table_len, &leaf, &v, &vl) != CAIRN_OK)
            abort();
        tabledesc d;
        if (tabledesc_decode(&d, v, vl) != CAIRN_OK) abort();
        if (memcmp(d.root.bytes, r->table_root.bytes, CAIRN_ID_SIZE) != 0) abort();
        chunk_release(leaf);
    }
    int rc = tree_get(&cs, &r->table_root, r->key, r->klen, &leaf, &v, &vl);
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) abort();
    if ((rc == CAIRN_OK) != r->found) abort();
    if (rc == CAIRN_OK) {
        if (vl != r->vlen || memcmp(v, r->val, vl) != 0) abort();
        chunk_release(leaf);
    }
    cs_dispose(&cs);
    st->close(st);
}

static void try_root(const uint8_t *p, size_t size, const cairn_id *root)
{
    proof_result r;
    if (proof_verify(&r, p, size, root) != CAIRN_OK) return;
    parsed pp;
    if (!parse(&pp, p, size)) abort(); /* the verifier accepted what a lenient parse cannot */
    check(&r, p, size, &pp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cairn_id fixed = { { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a } };
    proof_result r;
    if (proof_verify(&r, data, size, &fixed) == CAIRN_OK) abort(); /* a SHA-256 preimage */
    parsed pp;
    if (!parse(&pp, data, size)) return 0;
    cairn_id root;
    if (carried_root(data, &pp, &root)) try_root(data, size, &root);
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    repair(copy, &pp);
    if (carried_root(copy, &pp, &root)) try_root(copy, size, &root);
    free(copy);
    return 0;
}
