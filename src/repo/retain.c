/*
 * retain.c - the gc side of retention (see retain.h): which table versions the policies let go,
 * and the durable record of what was let go.
 *
 * retain_prepare() runs inside gc, under the writer lock, before the mark:
 *   1. walks the commit graph from every ref (reflog chains, detached HEAD, working states'
 *      base and merge commits, unknown refs that name a commit), reading each commit once;
 *   2. for each ref that is a line of history (heads/, tags/, remotes/, detached HEAD), follows
 *      the first parents from its commit and cuts each policy's window on that line: --days
 *      keeps the commits newer than the boundary and the newest one at or before it (the state
 *      in force at the boundary); --versions N diffs the table's consecutive roots newest first,
 *      counting changes per key, and keeps every commit up to the newest one that holds the
 *      N-th latest version of some key. A commit inside any line's window is kept; one beyond
 *      every window that reaches it is let go for that policy's tables;
 *   3. the pairs (table name, root) of the commits let go, and of the record's old entries, are
 *      candidates; any candidate that a kept commit, a working state or a pinned version also
 *      names stays (a root is shared content: dropping it would break the kept one);
 *   4. the rest is gc's skip set; the entries (commit, table, root, time) are written as a new
 *      record tree, flushed, and RETAIN_REF moved to it by compare-and-swap, before gc deletes
 *      anything. A crash after that and before the sweep leaves the chunks in place: the record
 *      then says more was let go than was deleted, which is safe (verify does not walk them; the
 *      next gc deletes them).
 */
#include <stdlib.h>

#include "base/hash.h"
#include "commit.h"
#include "refs.h"
#include "retain.h"
#include "tree/tree.h"

#define NO_INDEX UINT32_MAX

typedef struct rcommit {
    cairn_id id, catalog;
    uint32_t parent;         /* index of the first parent; NO_INDEX: none (or not reachable) */
    cairn_id parent_id;
    int64_t time;
} rcommit;

/* A (table, root) pair that some commit let go. */
typedef struct rpair {
    char *name;
    cairn_id root;
    bool kept;               /* also named by something that stays */
} rpair;

/* A (commit, table) that is let go: its record entry. */
typedef struct rentry {
    cairn_id commit;
    uint32_t pair;
    int64_t when;
    bool is_new;
} rentry;

typedef struct rctx {
    repo *r;
    const gc_retain *pol;
    size_t npol;
    idmap cmap;              /* commit id -> index in c */
    rcommit *c;
    size_t nc, capc;
    uint32_t *todo;          /* commits still to read (their ids in c[].id, catalog unset) */
    size_t ntodo, captodo;
    uint32_t *heads;         /* the commits lines of history start from */
    size_t nheads, capheads;
    uint8_t *state;          /* nc x npol: 0 not on a line, 1 inside a window, 2 beyond */
    idmap pmap;              /* retain_pair_key -> index in p */
    rpair *p;
    size_t np, capp;
    idmap emap;              /* key of (commit, table) -> index in e */
    rentry *e;
    size_t ne, cape;
    char **names;            /* distinct table names of the pairs */
    size_t nnames, capnames;
    int64_t now;
} rctx;

void retain_pair_key(cairn_id *out, const char *name, size_t nlen, const cairn_id *root)
{
    uint8_t buf[CAIRN_TABLE_NAME_LEN_MAX + 1 + CAIRN_ID_SIZE];
    if (nlen > CAIRN_TABLE_NAME_LEN_MAX) nlen = CAIRN_TABLE_NAME_LEN_MAX;
    memcpy(buf, name, nlen);
    buf[nlen] = 0;
    memcpy(buf + nlen + 1, root->bytes, CAIRN_ID_SIZE);
    hash_sha256(out, buf, nlen + 1 + CAIRN_ID_SIZE);
}

/* The record's key of (commit, table) into buf; returns its length. */
static size_t entry_key(uint8_t *buf, const cairn_id *cid, const char *name, size_t nlen)
{
    memcpy(buf, cid->bytes, CAIRN_ID_SIZE);
    memcpy(buf + CAIRN_ID_SIZE, name, nlen);
    return CAIRN_ID_SIZE + nlen;
}

static void entry_map_key(cairn_id *out, const cairn_id *cid, const char *name, size_t nlen)
{
    uint8_t buf[CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX];
    if (nlen > CAIRN_TABLE_NAME_LEN_MAX) nlen = CAIRN_TABLE_NAME_LEN_MAX;
    hash_sha256(out, buf, entry_key(buf, cid, name, nlen));
}

/* ---- the commit graph ---- */

static int commit_add(rctx *x, const cairn_id *id, uint32_t *out)
{
    uint32_t *slot;
    bool added;
    TRY(idmap_add(&x->cmap, id, (uint32_t)x->nc, &slot, &added));
    if (out) *out = *slot;
    if (!added) return CAIRN_OK;
    TRY(cairn_array_room(&x->c, &x->capc, x->nc, sizeof *x->c, 256));
    memset(&x->c[x->nc], 0, sizeof x->c[x->nc]);
    x->c[x->nc].id = *id;
    x->c[x->nc].parent = NO_INDEX;
    TRY(cairn_array_room(&x->todo, &x->captodo, x->ntodo, sizeof *x->todo, 256));
    x->todo[x->ntodo++] = (uint32_t)x->nc;
    x->nc++;
    return CAIRN_OK;
}

static int head_add(rctx *x, const cairn_id *id)
{
    uint32_t i;
    TRY(commit_add(x, id, &i));
    TRY(cairn_array_room(&x->heads, &x->capheads, x->nheads, sizeof *x->heads, 16));
    x->heads[x->nheads++] = i;
    return CAIRN_OK;
}

/* Reads the commits queued, queueing their parents, until none is left. */
static int commits_drain(rctx *x)
{
    while (x->ntodo) {
        uint32_t i = x->todo[--x->ntodo];
        chunk *ch;
        TRY(cs_get(&x->r->cs, &ch, &x->c[i].id));
        commit cm;
        int rc = commit_decode(&cm, ch->data, ch->len);
        chunk_release(ch);
        TRY(rc);
        x->c[i].catalog = cm.catalog;
        x->c[i].time = cm.commit_time;
        for (size_t k = 0; rc == CAIRN_OK && k < cm.nparents; k++) {
            uint32_t pi;
            rc = commit_add(x, &cm.parents[k], &pi);
            if (rc == CAIRN_OK && k == 0) {
                x->c[i].parent = pi; /* x->c may have moved: index it again */
                x->c[i].parent_id = cm.parents[0];
            }
        }
        commit_dispose(&cm);
        TRY(rc);
    }
    return CAIRN_OK;
}

/* A reflog chain: every commit it names; its newest entry's commit starts a line of history. */
static int reflog_walk(rctx *x, const cairn_id *newest)
{
    cairn_id at = *newest;
    bool first = true;
    while (!id_is_zero(&at)) {
        chunk *ch;
        TRY(cs_get(&x->r->cs, &ch, &at));
        reflog_entry e;
        int rc = reflog_decode(&e, ch->data, ch->len);
        chunk_release(ch);
        TRY(rc);
        rc = first ? head_add(x, &e.new_target) : commit_add(x, &e.new_target, NULL);
        if (rc == CAIRN_OK && !id_is_zero(&e.old_target)) rc = commit_add(x, &e.old_target, NULL);
        at = e.prev;
        reflog_dispose(&e);
        TRY(rc);
        first = false;
    }
    return CAIRN_OK;
}

static int rootrec_walk(rctx *x, const cairn_id *id, cairn_id **kept, size_t *nkept, size_t *cap)
{
    rootrec rec;
    TRY(rootrec_load(x->r, &rec, id));
    TRY(cairn_array_room(kept, cap, *nkept, sizeof **kept, 8));
    (*kept)[(*nkept)++] = rec.catalog;
    if (!id_is_zero(&rec.base_commit)) TRY(commit_add(x, &rec.base_commit, NULL));
    for (uint8_t i = 0; i < rec.nmerge; i++) TRY(commit_add(x, &rec.merge[i], NULL));
    return CAIRN_OK;
}

/* Every commit the refs reach; the working states' catalogs are appended to *kept. */
static int graph_walk(rctx *x, const repo_root *roots, size_t nroots, cairn_id **kept,
                      size_t *nkept, size_t *cap)
{
    for (size_t i = 0; i < nroots; i++) {
        const repo_root *rt = &roots[i];
        int kind = rt->kind;
        if (kind == ROOT_ANY) { /* an unknown ref: what its chunk is */
            chunk *ch;
            TRY(cs_get(&x->r->cs, &ch, &rt->id));
            uint8_t k = ch->len ? ch->data[0] : 0;
            chunk_release(ch);
            kind = k == CHUNK_KIND_COMMIT ? ROOT_COMMIT
                   : k == CHUNK_KIND_REFLOG ? ROOT_REFLOG
                   : k == CHUNK_KIND_ROOT   ? ROOT_ROOTREC
                                            : 0;
        }
        if (kind == ROOT_REFLOG) TRY(reflog_walk(x, &rt->id));
        else if (kind == ROOT_COMMIT) TRY(head_add(x, &rt->id));
        else if (kind == ROOT_ROOTREC) TRY(rootrec_walk(x, &rt->id, kept, nkept, cap));
        TRY(commits_drain(x));
    }
    return CAIRN_OK;
}

/* ---- tables in a catalog ---- */

static int table_root(rctx *x, const cairn_id *catalog, const char *name, cairn_id *out)
{
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    int rc = tree_get(&x->r->cs, catalog, name, strlen(name), &leaf, &v, &vl);
    if (rc < 0) return rc;
    tabledesc d;
    rc = tabledesc_decode(&d, v, vl);
    chunk_release(leaf);
    TRY_CTX(rc, "table '%s'", name);
    *out = d.root;
    return CAIRN_OK;
}

/* ---- policies on a line of history ---- */

typedef struct vcount {
    rctx *x;
    idmap counts;            /* key hash -> changes seen (newer than the diff at hand) */
    uint32_t versions;
    bool need;               /* the older root holds one of the last N versions of a key */
} vcount;

static int count_change(const tree_change *ch, void *payload)
{
    vcount *vc = payload;
    cairn_id k;
    hash_sha256(&k, ch->key, ch->klen);
    uint32_t *slot;
    bool added;
    TRY(idmap_add(&vc->counts, &k, 0, &slot, &added));
    /* the older tree holds version (changes seen + 2) counted from the latest */
    if (ch->has_old && (uint64_t)*slot + 2 <= vc->versions) vc->need = true;
    if (*slot < IDMAP_EMPTY - 1) (*slot)++;
    return 0;
}

static bool entry_known(const rctx *x, const cairn_id *cid, const char *name)
{
    cairn_id k;
    entry_map_key(&k, cid, name, strlen(name));
    return idmap_find(&x->emap, &k) != NULL;
}

/* The last position on the line (line[0] newest) that policy p keeps. */
static int window_end(rctx *x, const gc_retain *p, const uint32_t *line, size_t n, size_t *out)
{
    *out = n - 1;
    if (p->hold) return CAIRN_OK;
    if (p->keep_after_ns) {
        for (size_t i = 0; i < n; i++)
            if (x->c[line[i]].time <= p->keep_after_ns) {
                *out = i;
                break;
            }
        return CAIRN_OK;
    }
    if (!p->versions) return CAIRN_OK;
    *out = 0;
    if (entry_known(x, &x->c[line[0]].id, p->table)) return CAIRN_OK; /* a head let go before */
    vcount vc = { x, { 0 }, p->versions, false };
    size_t end = 0;
    int rc = CAIRN_OK;
    cairn_id newer, older;
    int have_newer = table_root(x, &x->c[line[0]].catalog, p->table, &newer);
    if (have_newer < 0 && have_newer != CAIRN_ENOTFOUND) rc = have_newer;
    for (size_t i = 0; rc == CAIRN_OK && i + 1 < n; i++) {
        const rcommit *oc = &x->c[line[i + 1]];
        if (entry_known(x, &oc->id, p->table)) break; /* let go before: so is all that is older */
        int have_older = table_root(x, &oc->catalog, p->table, &older);
        if (have_older < 0 && have_older != CAIRN_ENOTFOUND) {
            rc = have_older;
            break;
        }
        if (have_older == CAIRN_OK && have_newer == CAIRN_OK &&
            memcmp(older.bytes, newer.bytes, CAIRN_ID_SIZE) != 0) {
            vc.need = false;
            rc = tree_diff(&x->r->cs, &older, &newer, NULL, 0, NULL, 0, count_change, &vc);
            if (rc == CAIRN_OK && vc.need) end = i + 1;
        }
        newer = older;
        have_newer = have_older;
    }
    cairn_error_clear();
    idmap_dispose(&vc.counts);
    *out = end;
    return rc;
}

/* Follows the first parents from each head and marks, per policy, what its window keeps. */
static int lines_cut(rctx *x)
{
    uint32_t *line = NULL;
    size_t cap = 0;
    int rc = CAIRN_OK;
    for (size_t h = 0; rc == CAIRN_OK && h < x->nheads; h++) {
        size_t n = 0;
        for (uint32_t i = x->heads[h]; rc == CAIRN_OK && i != NO_INDEX; i = x->c[i].parent) {
            rc = cairn_array_room(&line, &cap, n, sizeof *line, 256);
            if (rc == CAIRN_OK) line[n++] = i;
        }
        for (size_t k = 0; rc == CAIRN_OK && k < x->npol; k++) {
            size_t end;
            rc = window_end(x, &x->pol[k], line, n, &end);
            for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
                uint8_t *s = &x->state[(size_t)line[i] * x->npol + k];
                if (i <= end) *s = 1;
                else if (*s == 0) *s = 2;
            }
        }
    }
    free(line);
    return rc;
}

/* ---- what is let go ---- */

static int name_add(rctx *x, const char *name)
{
    for (size_t i = 0; i < x->nnames; i++)
        if (strcmp(x->names[i], name) == 0) return CAIRN_OK;
    TRY(cairn_array_room(&x->names, &x->capnames, x->nnames, sizeof *x->names, 8));
    x->names[x->nnames] = cairn_strdup(name);
    FAIL_IF(!x->names[x->nnames], CAIRN_ENOMEM, "out of memory planning retention");
    x->nnames++;
    return CAIRN_OK;
}

/* Records (commit, name, root) as let go (once; the first `when` given stays). */
static int entry_add(rctx *x, const cairn_id *cid, const char *name, size_t nlen,
                     const cairn_id *root, int64_t when, bool is_new)
{
    cairn_id ek, pk;
    entry_map_key(&ek, cid, name, nlen);
    uint32_t *slot;
    bool added;
    TRY(idmap_add(&x->emap, &ek, (uint32_t)x->ne, &slot, &added));
    if (!added) return CAIRN_OK;
    retain_pair_key(&pk, name, nlen, root);
    uint32_t *ps;
    bool padded;
    TRY(idmap_add(&x->pmap, &pk, (uint32_t)x->np, &ps, &padded));
    if (padded) {
        TRY(cairn_array_room(&x->p, &x->capp, x->np, sizeof *x->p, 64));
        rpair *p = &x->p[x->np];
        p->name = cairn_strndup(name, nlen);
        FAIL_IF(!p->name, CAIRN_ENOMEM, "out of memory planning retention");
        p->root = *root;
        p->kept = false;
        x->np++;
        TRY(name_add(x, p->name));
    }
    TRY(cairn_array_room(&x->e, &x->cape, x->ne, sizeof *x->e, 64));
    x->e[x->ne++] = (rentry){ *cid, *ps, when, is_new };
    return CAIRN_OK;
}

static int old_entry(const retain_entry *e, void *payload)
{
    rctx *x = payload;
    if (!idmap_find(&x->cmap, &e->commit)) return 0; /* its commit is gone: so is the entry */
    return entry_add(x, &e->commit, e->table, e->tlen, &e->root, e->when_ns, false);
}

/* The covered tables of commit c that policy p lets go. */
static int commit_let_go(rctx *x, const rcommit *c, const gc_retain *p)
{
    cairn_id root;
    int rc = table_root(x, &c->catalog, p->table, &root);
    if (rc == CAIRN_OK) rc = entry_add(x, &c->id, p->table, strlen(p->table), &root, x->now, true);
    else if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    if (rc < 0 || !p->prefix) return rc;
    tree_cursor tc;
    size_t plen = strlen(p->prefix);
    TRY(tc_init(&tc, &x->r->cs, &c->catalog, 0, false));
    rc = tc_seek(&tc, p->prefix, plen);
    while (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        if (kl < plen || memcmp(k, p->prefix, plen) != 0) break;
        tabledesc d;
        rc = tabledesc_decode(&d, v, vl);
        if (rc == CAIRN_OK) rc = entry_add(x, &c->id, (const char *)k, kl, &d.root, x->now, true);
        if (rc == CAIRN_OK) rc = tc_next(&tc);
    }
    tc_dispose(&tc);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

/* Marks kept every candidate pair that catalog names, except the tables skip_commit let go. */
static int keep_named(rctx *x, const cairn_id *catalog, const cairn_id *skip_commit)
{
    for (size_t i = 0; i < x->nnames; i++) {
        if (skip_commit && entry_known(x, skip_commit, x->names[i])) continue;
        cairn_id root, pk;
        int rc = table_root(x, catalog, x->names[i], &root);
        if (rc == CAIRN_ENOTFOUND) continue;
        TRY(rc);
        retain_pair_key(&pk, x->names[i], strlen(x->names[i]), &root);
        uint32_t *slot = idmap_find(&x->pmap, &pk);
        if (slot) x->p[*slot].kept = true;
    }
    cairn_error_clear();
    return CAIRN_OK;
}

/* ---- the record ---- */

/* Encodes the entry (commit, name) -> (root, when) at `at` and points ed at it; returns the end
 * of the bytes used (at most CAIRN_ID_SIZE + nlen + RETAIN_VAL_SIZE). */
static uint8_t *entry_edit(tree_edit *ed, uint8_t *at, const cairn_id *cid, const char *name,
                           size_t nlen, const cairn_id *root, int64_t when)
{
    size_t kl = entry_key(at, cid, name, nlen);
    uint8_t *val = at + kl;
    memcpy(val, root->bytes, CAIRN_ID_SIZE);
    store_le64(val + CAIRN_ID_SIZE, (uint64_t)when);
    *ed = (tree_edit){ at, val, (uint32_t)kl, RETAIN_VAL_SIZE, EDIT_PUT };
    return val + RETAIN_VAL_SIZE;
}

/* Flushes the record's nodes, then moves RETAIN_REF from old (NULL: absent) to root by
 * compare-and-swap. */
static int record_move(repo *r, const cairn_id *old, const cairn_id *root)
{
    TRY(cs_flush(&r->cs)); /* the record's nodes, before the ref names them */
    char oldv[CAIRN_ID_HEX_SIZE], newv[CAIRN_ID_HEX_SIZE]; /* 64 hex digits, a newline */
    if (old) cairn_id_to_hex(oldv, old);
    cairn_id_to_hex(newv, root);
    oldv[CAIRN_ID_HEX_SIZE - 1] = newv[CAIRN_ID_HEX_SIZE - 1] = '\n';
    cairn_store *st = r->store;
    return st->ref_cas(st, RETAIN_REF, old ? oldv : NULL, old ? CAIRN_ID_HEX_SIZE : 0, newv,
                       CAIRN_ID_HEX_SIZE);
}

static int entry_cmp(const void *a, const void *b, void *payload)
{
    const rctx *x = payload;
    const rentry *ea = a, *eb = b;
    int c = memcmp(ea->commit.bytes, eb->commit.bytes, CAIRN_ID_SIZE);
    if (c) return c;
    const char *na = x->p[ea->pair].name, *nb = x->p[eb->pair].name;
    return bytes_cmp(na, strlen(na), nb, strlen(nb));
}

/* Writes the entries whose pair is let go as the new record; moves the ref when it changed. */
static int record_write(rctx *x, retain_plan *plan, bool dry_run)
{
    cairn_id old;
    int have_old = refs_read_id(x->r, RETAIN_REF, &old);
    if (have_old == CAIRN_ENOTFOUND) cairn_error_clear();
    else TRY(have_old);
    size_t n = 0;
    for (size_t i = 0; i < x->ne; i++)
        if (!x->p[x->e[i].pair].kept) {
            x->e[n++] = x->e[i];
            if (x->e[n - 1].is_new) plan->newly_pruned++;
        }
    if (dry_run || (n == 0 && have_old != CAIRN_OK)) return CAIRN_OK; /* a dry run writes nothing */
    qsort_r(x->e, n, sizeof *x->e, entry_cmp, x);
    tree_edit *ed = n ? cairn_calloc(n, sizeof *ed) : NULL;
    uint8_t *buf = n ? cairn_malloc(n * (CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX + RETAIN_VAL_SIZE))
                     : NULL;
    FAIL_IF(n && (!ed || !buf), CAIRN_ENOMEM, "out of memory writing the retention record");
    uint8_t *at = buf;
    for (size_t i = 0; i < n; i++) {
        const rpair *p = &x->p[x->e[i].pair];
        at = entry_edit(&ed[i], at, &x->e[i].commit, p->name, strlen(p->name), &p->root,
                        x->e[i].when);
    }
    cairn_id empty, root;
    int rc = tree_empty(&x->r->cs, &empty);
    if (rc == CAIRN_OK) rc = tree_apply(&x->r->cs, &root, &empty, ed, n);
    free(ed);
    free(buf);
    TRY(rc);
    if (have_old == CAIRN_OK && memcmp(old.bytes, root.bytes, CAIRN_ID_SIZE) == 0)
        return CAIRN_OK;
    TRY(record_move(x->r, have_old == CAIRN_OK ? &old : NULL, &root));
    plan->moved = true;
    return CAIRN_OK;
}

static void rctx_dispose(rctx *x)
{
    idmap_dispose(&x->cmap);
    idmap_dispose(&x->pmap);
    idmap_dispose(&x->emap);
    for (size_t i = 0; i < x->np; i++) free(x->p[i].name);
    for (size_t i = 0; i < x->nnames; i++) free(x->names[i]);
    free(x->c);
    free(x->todo);
    free(x->heads);
    free(x->state);
    free(x->p);
    free(x->e);
    free(x->names);
}

static int plan_run(rctx *x, retain_plan *out, const repo_root *roots, size_t nroots,
                    const cairn_id *kept, size_t nkept, bool dry_run)
{
    cairn_id *work = NULL;
    size_t nwork = 0, capwork = 0;
    int rc = graph_walk(x, roots, nroots, &work, &nwork, &capwork);
    if (rc == CAIRN_OK) rc = retain_each(x->r, old_entry, x);
    if (rc == CAIRN_OK && x->npol && x->nc) {
        x->state = cairn_calloc(x->nc, x->npol);
        rc = x->state ? lines_cut(x) : ERR(CAIRN_ENOMEM, "out of memory planning retention");
    }
    for (size_t i = 0; rc == CAIRN_OK && x->state && i < x->nc; i++)
        for (size_t k = 0; rc == CAIRN_OK && k < x->npol; k++)
            if (x->state[i * x->npol + k] == 2) rc = commit_let_go(x, &x->c[i], &x->pol[k]);
    for (size_t i = 0; rc == CAIRN_OK && x->np && i < x->nc; i++)
        rc = keep_named(x, &x->c[i].catalog, &x->c[i].id);
    for (size_t i = 0; rc == CAIRN_OK && x->np && i < nwork; i++)
        rc = keep_named(x, &work[i], NULL);
    for (size_t i = 0; rc == CAIRN_OK && x->np && i < nkept; i++)
        rc = keep_named(x, &kept[i], NULL);
    free(work);
    for (size_t i = 0; rc == CAIRN_OK && i < x->np; i++) {
        if (x->p[i].kept) continue;
        cairn_id pk;
        retain_pair_key(&pk, x->p[i].name, strlen(x->p[i].name), &x->p[i].root);
        rc = idmap_add(&out->skip, &pk, 0, NULL, NULL);
    }
    if (rc == CAIRN_OK) rc = record_write(x, out, dry_run);
    return rc;
}

int retain_prepare(repo *r, retain_plan *out, const repo_root *roots, size_t nroots,
                   const cairn_id *kept, size_t nkept, const gc_retain *pol, size_t npol,
                   int64_t now_ns, bool dry_run)
{
    memset(out, 0, sizeof *out);
    cairn_id rec;
    int have = refs_read_id(r, RETAIN_REF, &rec);
    if (have == CAIRN_ENOTFOUND) cairn_error_clear();
    else TRY(have);
    bool active = have == CAIRN_OK;
    for (size_t i = 0; i < npol; i++) active |= !pol[i].hold;
    if (!active) return CAIRN_OK;
    rctx x;
    memset(&x, 0, sizeof x);
    x.r = r;
    x.pol = pol;
    x.npol = npol;
    x.now = now_ns;
    int rc = plan_run(&x, out, roots, nroots, kept, nkept, dry_run);
    rctx_dispose(&x);
    if (rc < 0) {
        retain_plan_dispose(out);
        return cairn_error_prefix(rc, "working out what the retention policies let go");
    }
    return CAIRN_OK;
}

void retain_plan_dispose(retain_plan *p)
{
    idmap_dispose(&p->skip);
    memset(p, 0, sizeof *p);
}

/* ---- reading the record ---- */

int retain_each(repo *r, int (*cb)(const retain_entry *e, void *payload), void *payload)
{
    cairn_id root;
    int rc = refs_read_id(r, RETAIN_REF, &root);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    tree_cursor tc;
    TRY(tc_init(&tc, &r->cs, &root, 0, false));
    rc = tc_first(&tc);
    while (rc == CAIRN_OK && tc.valid) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        if (kl <= CAIRN_ID_SIZE || kl > CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX ||
            vl != RETAIN_VAL_SIZE) {
            rc = CORRUPT("the retention record (ref %s) holds a malformed entry", RETAIN_REF);
            break;
        }
        retain_entry e;
        memcpy(e.commit.bytes, k, CAIRN_ID_SIZE);
        e.table = (const char *)k + CAIRN_ID_SIZE;
        e.tlen = kl - CAIRN_ID_SIZE;
        memcpy(e.root.bytes, v, CAIRN_ID_SIZE);
        e.when_ns = (int64_t)load_le64(v + CAIRN_ID_SIZE);
        rc = cb(&e, payload);
        if (rc == CAIRN_OK) rc = tc_next(&tc);
    }
    tc_dispose(&tc);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

int retain_lookup(repo *r, const cairn_id *cid, const char *table, int64_t *out_when_ns)
{
    cairn_id root;
    int rc = refs_read_id(r, RETAIN_REF, &root);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_ENOTFOUND;
    }
    TRY(rc);
    size_t tlen = strlen(table);
    FAIL_IF(tlen > CAIRN_TABLE_NAME_LEN_MAX, CAIRN_EINVAL, "table name '%.40s...' is too long",
            table);
    uint8_t key[CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX];
    size_t kl = entry_key(key, cid, table, tlen);
    chunk *leaf;
    const uint8_t *v;
    size_t vl;
    rc = tree_get(&r->cs, &root, key, kl, &leaf, &v, &vl);
    if (rc < 0) return rc;
    if (vl != RETAIN_VAL_SIZE) {
        chunk_release(leaf);
        return CORRUPT("the retention record (ref %s) holds a malformed entry", RETAIN_REF);
    }
    *out_when_ns = (int64_t)load_le64(v + CAIRN_ID_SIZE);
    chunk_release(leaf);
    return CAIRN_OK;
}

/* ---- across a transfer ---- */

#define CARRY_BATCH 1024     /* ids per has_many call */
#define CARRY_ATTEMPTS 3     /* record moves lost to a concurrent writer before giving up */

/* The record's entries, copied out of it. */
typedef struct centry {
    cairn_id commit, root;
    char *table;             /* owned, NUL-terminated */
    size_t tlen;
    int64_t when;
    bool take;
} centry;

typedef struct clist {
    centry *v;
    size_t n, cap;
} clist;

static void clist_free(clist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].table);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int clist_add(const retain_entry *e, void *payload)
{
    clist *l = payload;
    TRY(cairn_array_room(&l->v, &l->cap, l->n, sizeof *l->v, 64));
    centry *c = &l->v[l->n];
    c->table = cairn_strndup(e->table, e->tlen);
    FAIL_IF(!c->table, CAIRN_ENOMEM, "out of memory reading the retention record");
    c->commit = e->commit;
    c->root = e->root;
    c->tlen = e->tlen;
    c->when = e->when_ns;
    c->take = true;
    l->n++;
    return 0;
}

/* Asks st about each entry's commit (roots false) or root (roots true), in batches; an entry
 * is no longer taken when the answer is not `want` (CAIRN_OK: has it; CAIRN_ENOTFOUND: lacks
 * it). */
static int clist_ask(clist *l, cairn_store *st, bool roots, int want)
{
    cairn_id ids[CARRY_BATCH];
    int rcs[CARRY_BATCH];
    size_t at[CARRY_BATCH];
    for (size_t i = 0; i < l->n;) {
        size_t m = 0;
        for (; i < l->n && m < CARRY_BATCH; i++)
            if (l->v[i].take) {
                at[m] = i;
                ids[m++] = roots ? l->v[i].root : l->v[i].commit;
            }
        if (!m) break;
        int rc = cairn_store_has_many(st, ids, m, rcs);
        if (rc < 0) return cairn_error_prefix(rc, "asking %s which chunks it has", st->location);
        for (size_t k = 0; k < m; k++) {
            if (rcs[k] != CAIRN_OK && rcs[k] != CAIRN_ENOTFOUND)
                return cairn_error_prefix(rcs[k], "asking %s for a chunk", st->location);
            if (rcs[k] != want) l->v[at[k]].take = false;
        }
    }
    cairn_error_clear();
    return CAIRN_OK;
}

int retain_gone_pairs(repo *r, idmap *out)
{
    clist l = { NULL, 0, 0 };
    int rc = retain_each(r, clist_add, &l);
    if (rc == CAIRN_OK) rc = clist_ask(&l, r->store, true, CAIRN_ENOTFOUND);
    for (size_t i = 0; rc == CAIRN_OK && i < l.n; i++) {
        if (!l.v[i].take) continue; /* its root is back (written again since): not gone */
        cairn_id pk;
        retain_pair_key(&pk, l.v[i].table, l.v[i].tlen, &l.v[i].root);
        rc = idmap_add(out, &pk, 0, NULL, NULL);
    }
    clist_free(&l);
    if (rc < 0) idmap_dispose(out);
    return rc;
}

/* Writes the taken entries of l that dst's record lacks into it; *out_added: how many. */
static int carry_once(repo *dst, clist *l, uint64_t *out_added)
{
    cairn_id old, base;
    int have_old = refs_read_id(dst, RETAIN_REF, &old);
    if (have_old == CAIRN_ENOTFOUND) cairn_error_clear();
    else TRY(have_old);
    tree_edit *ed = cairn_calloc(l->n ? l->n : 1, sizeof *ed);
    uint8_t *buf = cairn_malloc(l->n * (CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX + RETAIN_VAL_SIZE) + 1);
    int rc = ed && buf ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory carrying the retention record");
    if (rc == CAIRN_OK) rc = have_old == CAIRN_OK ? CAIRN_OK : tree_empty(&dst->cs, &base);
    if (rc == CAIRN_OK && have_old == CAIRN_OK) base = old;
    uint8_t *at = buf;
    size_t n = 0;
    for (size_t i = 0; rc == CAIRN_OK && i < l->n; i++) { /* in key order, as the record reads */
        const centry *c = &l->v[i];
        if (!c->take) continue;
        if (have_old == CAIRN_OK) { /* dst's own entry stays as it is */
            uint8_t key[CAIRN_ID_SIZE + CAIRN_TABLE_NAME_LEN_MAX];
            chunk *leaf;
            const uint8_t *v;
            size_t vl;
            rc = tree_get(&dst->cs, &old, key, entry_key(key, &c->commit, c->table, c->tlen),
                          &leaf, &v, &vl);
            if (rc == CAIRN_OK) {
                chunk_release(leaf);
                continue;
            }
            if (rc != CAIRN_ENOTFOUND) break;
            cairn_error_clear();
            rc = CAIRN_OK;
        }
        at = entry_edit(&ed[n++], at, &c->commit, c->table, c->tlen, &c->root, c->when);
    }
    cairn_id root;
    if (rc == CAIRN_OK && n) rc = tree_apply(&dst->cs, &root, &base, ed, n);
    free(ed);
    free(buf);
    if (rc == CAIRN_OK && n) rc = record_move(dst, have_old == CAIRN_OK ? &old : NULL, &root);
    if (rc == CAIRN_OK) *out_added = n;
    return rc;
}

int retain_carry(repo *src, repo *dst, uint64_t *out_added)
{
    *out_added = 0;
    clist l = { NULL, 0, 0 };
    int rc = retain_each(src, clist_add, &l);
    if (rc == CAIRN_OK) rc = clist_ask(&l, dst->store, false, CAIRN_OK);
    if (rc == CAIRN_OK) rc = clist_ask(&l, dst->store, true, CAIRN_ENOTFOUND);
    size_t taken = 0;
    for (size_t i = 0; i < l.n; i++) taken += l.v[i].take;
    for (int attempt = 0; rc == CAIRN_OK && taken; attempt++) {
        rc = carry_once(dst, &l, out_added);
        if (rc != CAIRN_ECONFLICT || attempt + 1 == CARRY_ATTEMPTS) break;
        cairn_error_clear(); /* another writer moved the record meanwhile: merge with its */
        rc = CAIRN_OK;
    }
    clist_free(&l);
    if (rc < 0)
        return cairn_error_prefix(rc, "carrying the retention record (ref %s) to %s", RETAIN_REF,
                                  dst->url);
    return CAIRN_OK;
}
