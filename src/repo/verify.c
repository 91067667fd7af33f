/*
 * verify.c - full verification: every chunk reachable from every ref is read from the store
 * itself (never from the cache: the point is to check the bytes on disk), re-hashed against its
 * id and checked for its kind's structure; then the store is scanned and the chunks nothing
 * reaches are re-hashed too. Problems are collected, not fatal: the walk goes on past each one
 * so that one run reports everything that is wrong (the first N in detail).
 *
 * Trees are checked with the rules of tree_check() (tree/read.c), but once per distinct node
 * rather than once per tree: versions share almost all of their nodes, and checking each
 * version's tables from the top would cost O(versions x table size). A node's checks depend
 * only on its own subtree, except that keys must increase across siblings; so each checked
 * node is remembered with what its parents need (level, entries below it, first and last key,
 * whether it passed), and a parent checks each child against its neighbours from that memo:
 * child level = parent level - 1, the parent's count for the child = the child's entries, the
 * parent's key for the child = the child's last key, the child's first key > the previous
 * child's last key. With node_check()'s rules inside each node (keys strictly increasing,
 * bounds, canonical form) this is exactly tree_check() for every root. The memo keeps two keys
 * per distinct node in memory.
 *
 * A node that fails is remembered as failed, so its parents do not report it again: each
 * damaged chunk is reported once, by the first path that reaches it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "gc.h"
#include "idmap.h"
#include "retain.h"
#include "roots.h"
#include "tree/tree.h"

#define VERIFY_DEFAULT_MAX_PROBLEMS 20
#define MSG_MAX 1024


/* What a checked node tells its parents. */
typedef struct vnode {
    uint64_t entries;        /* leaf entries below it */
    size_t fk_off, lk_off;   /* its first and last key, in vctx.keys */
    uint32_t fk_len, lk_len;
    uint32_t count;          /* entries in the node itself */
    uint8_t level;
    bool ok;                 /* it and everything below it passed */
    bool as_catalog;         /* checked as a catalog node (descriptors followed) */
} vnode;

typedef struct vitem {
    cairn_id id;
    cairn_id from;           /* the chunk that names it; zero: a ref */
    cairn_id expect;         /* reflog entries: the new commit the next entry says it had */
    const char *ref;
    uint8_t what, from_what;
    bool has_expect;
} vitem;

/* A chunk's frame read ahead (a remote store: a node's children in one get_many batch, whose
 * neighbours in one object travel in one ranged GET and the rest in flight together). */
typedef struct vahead {
    cairn_id id;
    cairn_buf frame;
} vahead;

#define VERIFY_AHEAD_BATCH 256 /* chunks per read-ahead batch of the store scan */

typedef struct vctx {
    repo *r;
    char aside[600];         /* what the store set aside without calling it damage (a torn
                                tail in quarantine/): a missing chunk may be in it */
    const cairn_verify_options *o;
    verify_sig_fn sig;
    void *sig_payload;
    cairn_verify_stats st;
    idmap seen;              /* chunks walked that are not tree nodes */
    idmap nodes;             /* tree nodes -> index into node */
    idmap roots;             /* tree roots checked: bit 1 as a table, bit 2 as a catalog */
    idmap pruned;            /* (table, root) pairs retention let go (retain.h): value 1 once
                                met in a catalog */
    vnode *node;
    size_t nnode, capnode;
    cairn_buf keys;          /* first and last keys of the nodes */
    vitem *stack;
    size_t n, cap;
    cairn_buf frame;
    vahead *ahead;           /* read ahead from a remote store, not yet checked */
    size_t nahead, capahead;
    int stop;                /* non-zero: on_problem asked to stop (its value) */
    char first[MSG_MAX];     /* the first problem's message */
} vctx;

/* Appends to msg (of size bytes) where the store keeps chunk id (" [FILE, record at offset N]"),
 * unless the store cannot say (no locate method), the chunk is not there, or msg names the file
 * already (a store's own message may: "... in pack-00000003.pack at ..."); p gets the file's
 * number and the offset. */
static void locate(vctx *v, const cairn_id *id, cairn_verify_problem *p, char *msg, size_t size)
{
    cairn_store *st = v->r->store;
    cairn_store_location loc;
    if (st->version < 3 || !st->locate) return;
    if (st->locate(st, id, &loc) != CAIRN_OK) {
        cairn_error_clear();
        return;
    }
    loc.name[sizeof loc.name - 1] = '\0';
    p->pack = loc.file;
    p->offset = loc.offset;
    const char *base = strrchr(loc.name, '/');
    base = base ? base + 1 : loc.name;
    size_t len = strlen(msg);
    if (*base && !strstr(msg, base))
        snprintf(msg + len, size - len, " [%s, record at offset %llu]", loc.name,
                 (unsigned long long)loc.offset);
}

/* Records a problem about chunk id (NULL: about a ref). Returns CAIRN_OK to go on, or
 * on_problem's non-zero value to stop. */
static int problem(vctx *v, int code, const cairn_id *id, const char *ref, const char *fmt, ...)
    PRINTF_LIKE(5, 6);
static int problem(vctx *v, int code, const cairn_id *id, const char *ref, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cairn_verify_problem p;
    memset(&p, 0, sizeof p);
    p.code = code;
    p.ref = ref ? ref : "";
    if (id) {
        p.id = *id;
        locate(v, id, &p, msg, sizeof msg);
    }
    p.message = msg;
    if (v->st.problems++ == 0) snprintf(v->first, sizeof v->first, "%s", msg);
    size_t max = v->o->max_problems ? v->o->max_problems : VERIFY_DEFAULT_MAX_PROBLEMS;
    if (v->st.problems <= max && v->o->on_problem) {
        int rc = v->o->on_problem(&p, v->o->payload);
        if (rc) v->stop = rc;
    }
    return v->stop;
}

/* "commit 1234... (named by tree node abcd..., reached from heads/main)" into out. */
static void describe(char *out, size_t size, const vitem *it)
{
    char hex[CAIRN_ID_HEX_SIZE], from[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &it->id);
    if (it->from_what) {
        cairn_id_to_hex(from, &it->from);
        snprintf(out, size, "%s %s (named by %s %s, reached from %s)",
                 roots_what_name(it->what), hex, roots_what_name(it->from_what), from, it->ref);
    } else {
        snprintf(out, size, "%s %s (named by ref %s)", roots_what_name(it->what), hex, it->ref);
    }
}

typedef struct ahead_ctx {
    vctx *v;
    const cairn_id *ids;
} ahead_ctx;

static int ahead_one(size_t i, int rc, const void *data, size_t len, void *payload)
{
    ahead_ctx *a = payload;
    vctx *v = a->v;
    if (rc != CAIRN_OK) return 0; /* read again by vfetch, which reports it */
    TRY(cairn_array_room(&v->ahead, &v->capahead, v->nahead, sizeof *v->ahead, 64));
    vahead *h = &v->ahead[v->nahead];
    memset(h, 0, sizeof *h);
    h->id = a->ids[i];
    TRY(cairn_buf_set(&h->frame, data, len));
    v->nahead++;
    return 0;
}

/* On a remote store: reads ids[0..n) ahead in one get_many batch (the ones not checked or read
 * ahead already). Failures are left for vfetch, which reads those chunks again and reports. */
static int read_ahead(vctx *v, const cairn_id *ids, size_t n)
{
    cairn_store *st = v->r->store;
    if (!(st->caps & CAIRN_STORE_CAP_REMOTE) || n < 2) return CAIRN_OK;
    cairn_id *want = cairn_malloc(n * sizeof *want);
    FAIL_IF(!want, CAIRN_ENOMEM, "out of memory verifying");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (idmap_find(&v->nodes, &ids[i]) || idmap_find(&v->seen, &ids[i])) continue;
        bool have = false;
        for (size_t j = 0; j < v->nahead && !have; j++)
            have = memcmp(v->ahead[j].id.bytes, ids[i].bytes, CAIRN_ID_SIZE) == 0;
        if (!have) want[m++] = ids[i];
    }
    ahead_ctx a = { v, want };
    int rc = m > 1 ? cairn_store_get_many(st, want, m, ahead_one, &a) : CAIRN_OK;
    free(want);
    if (rc != CAIRN_ENOMEM) cairn_error_clear();
    return rc == CAIRN_ENOMEM ? rc : CAIRN_OK; /* (other failures: vfetch reports per chunk) */
}

/* Takes id's frame from what was read ahead into v->frame. */
static bool take_ahead(vctx *v, const cairn_id *id)
{
    for (size_t j = 0; j < v->nahead; j++) {
        if (memcmp(v->ahead[j].id.bytes, id->bytes, CAIRN_ID_SIZE) != 0) continue;
        cairn_buf t = v->frame;
        v->frame = v->ahead[j].frame;
        cairn_buf_dispose(&t);
        v->ahead[j] = v->ahead[--v->nahead];
        return true;
    }
    return false;
}

/* Reads a chunk from the store itself (or what was read ahead from it) and re-hashes it. *out
 * is NULL (and a problem recorded) when it cannot be read or does not verify; only ENOMEM is
 * returned as an error. */
static int vfetch(vctx *v, const vitem *it, chunk **out)
{
    *out = NULL;
    cairn_store *st = v->r->store;
    int rc = take_ahead(v, &it->id) ? CAIRN_OK : st->get(st, &v->frame, &it->id);
    chunk *c = NULL;
    if (rc == CAIRN_OK) rc = frame_decode_chunk(&c, v->frame.data, v->frame.len, false);
    if (rc == CAIRN_ENOMEM) return rc;
    char what[400];
    if (rc < 0) {
        describe(what, sizeof what, it);
        if (rc == CAIRN_ENOTFOUND && v->aside[0]) /* a crash's torn tail, or damage there */
            return problem(v, rc, &it->id, it->ref, "%s is missing from the store; it may be in "
                           "what the store set aside: %s", what, v->aside);
        if (rc == CAIRN_ENOTFOUND)
            return problem(v, rc, &it->id, it->ref, "%s is missing from the store", what);
        return problem(v, rc, &it->id, it->ref, "%s cannot be read: %s", what,
                       cairn_error_last()->message);
    }
    cairn_id got;
    hash_sha256(&got, c->data, c->len);
    if (memcmp(got.bytes, it->id.bytes, CAIRN_ID_SIZE) != 0) {
        chunk_release(c);
        describe(what, sizeof what, it);
        return problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                       "%s is damaged: its bytes do not hash to its id", what);
    }
    v->st.chunks_verified++;
    v->st.bytes_verified += c->len;
    *out = c;
    return CAIRN_OK;
}

/* A problem with a chunk that was read: its bytes are wrong for its kind. */
static int bad_chunk(vctx *v, const vitem *it, int rc)
{
    if (rc == CAIRN_ENOMEM) return rc;
    char what[400];
    describe(what, sizeof what, it);
    return problem(v, rc, &it->id, it->ref, "%s is malformed: %s", what,
                   cairn_error_last()->message);
}

static int push(vctx *v, const vitem *parent, const cairn_id *id, int what)
{
    TRY(cairn_array_room(&v->stack, &v->cap, v->n, sizeof *v->stack, 256));
    vitem *it = &v->stack[v->n++];
    memset(it, 0, sizeof *it);
    it->id = *id;
    it->what = (uint8_t)what;
    it->ref = parent->ref;
    if (parent->what) {
        it->from = parent->id;
        it->from_what = parent->what;
    }
    return CAIRN_OK;
}

/* ---- trees ---- */

static int key_keep(vctx *v, const uint8_t *k, size_t kl, size_t *off, uint32_t *len)
{
    *off = v->keys.len;
    *len = (uint32_t)kl;
    return cairn_buf_append(&v->keys, k, kl);
}

static const uint8_t *key_at(const vctx *v, size_t off) { return v->keys.data + off; }

static int check_node(vctx *v, const vitem *it, int level, bool catalog, uint32_t *out);

/* Checks an inner node's children and fills in nv (the node being checked, by index). */
static int check_children(vctx *v, const vitem *it, const node *n, bool catalog, uint32_t self)
{
    char hex[CAIRN_ID_HEX_SIZE];
    bool ok = true;
    uint64_t entries = 0;
    if (v->r->store->caps & CAIRN_STORE_CAP_REMOTE) { /* the children, in one batch */
        cairn_id *ids = cairn_malloc((n->count ? n->count : 1) * sizeof *ids);
        FAIL_IF(!ids, CAIRN_ENOMEM, "out of memory verifying");
        uint64_t cnt;
        for (uint32_t i = 0; i < n->count; i++) node_child(n, i, &ids[i], &cnt);
        int rc = read_ahead(v, ids, n->count);
        free(ids);
        TRY(rc);
    }
    for (uint32_t i = 0; i < n->count && !v->stop; i++) {
        vitem child = { { { 0 } }, it->id, { { 0 } }, it->ref, (uint8_t)(catalog ? W_CATALOG : W_TABLE),
                        it->what, false };
        uint64_t cnt;
        node_child(n, i, &child.id, &cnt);
        uint32_t ci;
        TRY(check_node(v, &child, n->level - 1, catalog, &ci));
        if (ci == IDMAP_EMPTY || !v->node[ci].ok) {
            ok = false;
            continue;
        }
        const vnode *cn = &v->node[ci];
        const uint8_t *k;
        size_t kl;
        node_key(n, i, &k, &kl);
        const char *why = NULL;
        if (cn->entries != cnt) why = "its count of entries below differs from the child's";
        else if (bytes_cmp(k, kl, key_at(v, cn->lk_off), cn->lk_len) != 0)
            why = "its key differs from the child's last key";
        else if (i > 0) {
            const uint8_t *pk;
            size_t pkl;
            node_key(n, i - 1, &pk, &pkl);
            if (bytes_cmp(key_at(v, cn->fk_off), cn->fk_len, pk, pkl) <= 0)
                why = "the child's first key is not above the previous child's last key";
        }
        if (why) {
            ok = false;
            cairn_id_to_hex(hex, &it->id);
            char chex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(chex, &child.id);
            TRY(problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                        "tree node %s (reached from %s), entry %u for child %s: %s", hex, it->ref,
                        i, chex, why));
        }
        entries += cnt;
        if (i == 0) {
            v->node[self].fk_off = cn->fk_off;
            v->node[self].fk_len = cn->fk_len;
        }
    }
    if (ok && n->count) {
        const uint8_t *k;
        size_t kl;
        node_last_key(n, &k, &kl);
        TRY(key_keep(v, k, kl, &v->node[self].lk_off, &v->node[self].lk_len));
    }
    v->node[self].entries = entries;
    v->node[self].ok = ok && !v->stop;
    return CAIRN_OK;
}

/* A catalog leaf: every key a table name, every value a table descriptor whose root is then
 * checked as a table. */
static int check_catalog_leaf(vctx *v, const vitem *it, const node *n, bool *out_ok)
{
    bool ok = true;
    for (uint32_t i = 0; i < n->count && !v->stop; i++) {
        const uint8_t *k, *val;
        size_t kl, vl;
        node_key(n, i, &k, &kl);
        node_val(n, i, &val, &vl);
        char name[CAIRN_TABLE_NAME_LEN_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)MIN(kl, CAIRN_TABLE_NAME_LEN_MAX), (const char *)k);
        tabledesc d;
        int rc = kl <= CAIRN_TABLE_NAME_LEN_MAX && memchr(k, 0, kl) == NULL ? table_name_check(name)
                                                                          : CAIRN_ECORRUPT;
        if (rc == CAIRN_OK) rc = tabledesc_decode(&d, val, vl);
        else cairn_error_set(CAIRN_ECORRUPT, "'%s' is not a valid table name", name);
        if (rc == CAIRN_ENOMEM) return rc;
        if (rc < 0) {
            ok = false;
            char hex[CAIRN_ID_HEX_SIZE];
            cairn_id_to_hex(hex, &it->id);
            TRY(problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                        "catalog node %s (reached from %s), entry %u: %s", hex, it->ref, i,
                        cairn_error_last()->message));
            continue;
        }
        if (v->pruned.n) { /* a version retention let go: gone on purpose, not walked */
            cairn_id pk;
            retain_pair_key(&pk, name, kl, &d.root);
            uint32_t *slot = idmap_find(&v->pruned, &pk);
            if (slot) {
                if (*slot == 0) v->st.pruned++;
                *slot = 1;
                continue;
            }
        }
        TRY(push(v, it, &d.root, W_TABLE));
    }
    *out_ok = ok;
    return CAIRN_OK;
}

/* Checks the subtree at it->id, expected at `level` (< 0: any). *out is the index of its memo,
 * or IDMAP_EMPTY when it could not be read at all. */
static int check_node(vctx *v, const vitem *it, int level, bool catalog, uint32_t *out)
{
    uint32_t *slot = idmap_find(&v->nodes, &it->id);
    uint32_t self = slot ? *slot : IDMAP_EMPTY;
    char hex[CAIRN_ID_HEX_SIZE];
    if (self != IDMAP_EMPTY && (!catalog || v->node[self].as_catalog || !v->node[self].ok)) {
        *out = self;
        if (level >= 0 && v->node[self].ok && v->node[self].level != level) {
            cairn_id_to_hex(hex, &it->id);
            TRY(problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                        "tree node %s (reached from %s) is at level %u where its parent expects "
                        "level %d", hex, it->ref, v->node[self].level, level));
            *out = IDMAP_EMPTY;
        }
        return CAIRN_OK;
    }
    bool first_time = self == IDMAP_EMPTY;
    if (first_time) {
        TRY(cairn_array_room(&v->node, &v->capnode, v->nnode, sizeof *v->node, 1024));
        self = (uint32_t)v->nnode++;
        TRY(idmap_add(&v->nodes, &it->id, self, NULL, NULL));
        v->st.nodes++;
    }
    memset(&v->node[self], 0, sizeof v->node[self]);
    *out = self;
    chunk *c;
    TRY(vfetch(v, it, &c));
    if (!c) return v->stop;
    int rc = node_check(c->data, c->len);
    if (rc < 0) {
        chunk_release(c);
        return bad_chunk(v, it, rc);
    }
    node n;
    node_view(&n, c->data, c->len);
    vnode *nv = &v->node[self];
    nv->level = n.level;
    nv->count = n.count;
    nv->as_catalog = catalog;
    if (level >= 0 && n.level != level) {
        chunk_release(c);
        cairn_id_to_hex(hex, &it->id);
        return problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                       "tree node %s (reached from %s) is at level %u where its parent expects "
                       "level %d", hex, it->ref, n.level, level);
    }
    if (n.level > 0) {
        rc = check_children(v, it, &n, catalog, self);
    } else {
        nv->entries = n.count;
        nv->ok = true;
        if (n.count) {
            const uint8_t *k;
            size_t kl;
            node_key(&n, 0, &k, &kl);
            rc = key_keep(v, k, kl, &v->node[self].fk_off, &v->node[self].fk_len);
            node_last_key(&n, &k, &kl);
            if (rc == CAIRN_OK) rc = key_keep(v, k, kl, &v->node[self].lk_off, &v->node[self].lk_len);
        }
        bool ok = true;
        if (rc == CAIRN_OK && catalog) rc = check_catalog_leaf(v, it, &n, &ok);
        v->node[self].ok = ok;
    }
    chunk_release(c);
    return rc < 0 ? rc : v->stop;
}

/* A tree root: the whole tree below it, and the rule that a root is never an inner node with a
 * single entry. */
static int check_tree(vctx *v, const vitem *it)
{
    bool catalog = it->what == W_CATALOG;
    uint32_t bit = catalog ? 2u : 1u, *slot;
    bool added;
    TRY(idmap_add(&v->roots, &it->id, bit, &slot, &added));
    if (!added) {
        if (*slot & bit) return CAIRN_OK;
        *slot |= bit;
    }
    v->st.trees++;
    uint32_t ni;
    TRY(check_node(v, it, -1, catalog, &ni));
    if (ni != IDMAP_EMPTY && v->node[ni].ok && v->node[ni].level > 0 && v->node[ni].count == 1) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &it->id);
        return problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                       "tree root %s (reached from %s) is an inner node with a single entry", hex,
                       it->ref);
    }
    return v->stop;
}

/* ---- what retention let go ---- */

static int pruned_add(const retain_entry *e, void *payload)
{
    vctx *v = payload;
    cairn_id pk;
    retain_pair_key(&pk, e->table, e->tlen, &e->root);
    return idmap_add(&v->pruned, &pk, 0, NULL, NULL);
}

/* Loads the retention record; a record that cannot be read is a problem (and then every table
 * version it names is walked, so those are reported missing too). */
static int pruned_load(vctx *v)
{
    int rc = retain_each(v->r, pruned_add, v);
    if (rc == CAIRN_ENOMEM) return rc;
    if (rc < 0) {
        idmap_dispose(&v->pruned);
        return problem(v, rc, NULL, RETAIN_REF, "the retention record (ref %s) cannot be read: %s",
                       RETAIN_REF, cairn_error_last()->message);
    }
    return CAIRN_OK;
}

/* ---- the store's own damage ---- */

static int damage_item(const cairn_repair_item *it, void *payload)
{
    vctx *v = payload;
    if (!it->problem) { /* a note: kept for a missing chunk's message (the first one) */
        if (!v->aside[0]) snprintf(v->aside, sizeof v->aside, "%s", it->message);
        return 0;
    }
    bool ref = it->kind == CAIRN_REPAIR_REF_SLOT || it->kind == CAIRN_REPAIR_REF_DAMAGED;
    const char *name = ref && strncmp(it->file, "refs/", 5) == 0 ? it->file + 5 : NULL;
    problem(v, CAIRN_ECORRUPT, NULL, name, "%s", it->message);
    return v->stop;
}

/* ---- history ---- */

static int check_commit(vctx *v, const vitem *it, const chunk *c)
{
    commit cm;
    int rc = commit_decode(&cm, c->data, c->len);
    if (rc < 0) return bad_chunk(v, it, rc);
    v->st.commits++;
    int status = CAIRN_SIG_NONE;
    if (v->sig) rc = v->sig(&cm, &status, v->sig_payload);
    else if (cm.is_signed) status = -1;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &it->id);
    if (rc == CAIRN_ENOMEM) {
        commit_dispose(&cm);
        return rc;
    }
    if (rc < 0)
        rc = problem(v, rc, &it->id, it->ref, "commit %s (reached from %s): its signature could "
                     "not be checked: %s", hex, it->ref, cairn_error_last()->message);
    else if (status == CAIRN_SIG_BAD) {
        v->st.sigs_bad++;
        rc = problem(v, CAIRN_EAUTH, &it->id, it->ref,
                     "commit %s (reached from %s) carries a signature that does not verify: the "
                     "commit was altered after it was signed", hex, it->ref);
    } else if (status == CAIRN_SIG_GOOD) v->st.sigs_good++;
    else if (status == CAIRN_SIG_UNKNOWN) v->st.sigs_unknown++;
    else if (status == CAIRN_SIG_NONE) v->st.unsigned_commits++;
    if (rc == CAIRN_OK) rc = push(v, it, &cm.catalog, W_CATALOG);
    for (size_t i = cm.nparents; rc == CAIRN_OK && i-- > 0;) rc = push(v, it, &cm.parents[i], W_COMMIT);
    commit_dispose(&cm);
    return rc;
}

static int check_reflog(vctx *v, const vitem *it, const chunk *c)
{
    reflog_entry e;
    int rc = reflog_decode(&e, c->data, c->len);
    if (rc < 0) return bad_chunk(v, it, rc);
    v->st.reflog_entries++;
    char hex[CAIRN_ID_HEX_SIZE], nhex[CAIRN_ID_HEX_SIZE], ehex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &it->id);
    if (it->has_expect && memcmp(e.new_target.bytes, it->expect.bytes, CAIRN_ID_SIZE) != 0) {
        cairn_id_to_hex(nhex, &e.new_target);
        cairn_id_to_hex(ehex, &it->expect);
        rc = problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                     "reflog of %s: entry %s moved the ref to commit %s, but the next entry says "
                     "it moved from commit %s", it->ref, hex, nhex, ehex);
    }
    if (rc == CAIRN_OK && id_is_zero(&e.prev) != id_is_zero(&e.old_target))
        rc = problem(v, CAIRN_ECORRUPT, &it->id, it->ref,
                     "reflog of %s: entry %s %s", it->ref, hex,
                     id_is_zero(&e.prev) ? "is the first but names an old commit"
                                         : "has a previous entry but names no old commit");
    if (rc == CAIRN_OK && !id_is_zero(&e.prev)) {
        rc = push(v, it, &e.prev, W_REFLOG);
        if (rc == CAIRN_OK) {
            v->stack[v->n - 1].expect = e.old_target;
            v->stack[v->n - 1].has_expect = true;
        }
    }
    if (rc == CAIRN_OK && !id_is_zero(&e.old_target)) rc = push(v, it, &e.old_target, W_COMMIT);
    if (rc == CAIRN_OK) rc = push(v, it, &e.new_target, W_COMMIT);
    reflog_dispose(&e);
    return rc;
}

static int check_rootrec(vctx *v, const vitem *it, const chunk *c)
{
    rootrec rec;
    int rc = rootrec_decode(&rec, c->data, c->len);
    if (rc < 0) return bad_chunk(v, it, rc);
    v->st.root_records++;
    for (uint8_t i = 0; i < rec.nmerge; i++) TRY(push(v, it, &rec.merge[i], W_COMMIT));
    if (!id_is_zero(&rec.base_commit)) TRY(push(v, it, &rec.base_commit, W_COMMIT));
    return push(v, it, &rec.catalog, W_CATALOG);
}

static int walk_one(vctx *v, vitem *it)
{
    if (it->what == W_CATALOG || it->what == W_TABLE) return check_tree(v, it);
    bool added;
    TRY(idmap_add(&v->seen, &it->id, 0, NULL, &added));
    if (!added) return CAIRN_OK;
    chunk *c;
    TRY(vfetch(v, it, &c));
    if (!c) return v->stop;
    if (it->what == W_ANY) {
        uint8_t kind = c->len ? c->data[0] : 0;
        it->what = kind == CHUNK_KIND_NODE     ? W_TABLE
                   : kind == CHUNK_KIND_ROOT   ? W_ROOTREC
                   : kind == CHUNK_KIND_COMMIT ? W_COMMIT
                   : kind == CHUNK_KIND_REFLOG ? W_REFLOG
                                               : W_RAW;
    }
    int rc = CAIRN_OK;
    switch (it->what) {
    case W_COMMIT: rc = check_commit(v, it, c); break;
    case W_REFLOG: rc = check_reflog(v, it, c); break;
    case W_ROOTREC: rc = check_rootrec(v, it, c); break;
    case W_TABLE: rc = check_tree(v, it); break; /* a tree named by an unknown ref */
    default: v->st.other_chunks++; break;
    }
    chunk_release(c);
    return rc < 0 ? rc : v->stop;
}

/* What the store itself knows to be damaged (its checksums of records, headers and ref slots):
 * each item that is a problem becomes one. *out_refs_reported: it reports damaged refs. */
static int store_damage(vctx *v, bool *out_refs_reported)
{
    cairn_store *st = v->r->store;
    *out_refs_reported = false;
    if (st->version < 4 || !st->repair) return CAIRN_OK;
    *out_refs_reported = true;
    int rc = st->repair(st, CAIRN_REPAIR_DRY_RUN, damage_item, v, NULL);
    if (rc < 0 && !v->stop)
        return problem(v, rc, NULL, NULL, "the %s store of %s could not list its damage: %s",
                       st->kind, v->r->url, cairn_error_last()->message);
    return v->stop;
}

static int walk_refs(vctx *v)
{
    repo_root *roots;
    size_t nroots;
    bool damaged, reported;
    TRY(store_damage(v, &reported));
    TRY(repo_roots_partial(v->r, &roots, &nroots, &damaged));
    int rc = CAIRN_OK;
    if (damaged && !reported) /* the store cannot name them one by one: pass on what it said */
        rc = problem(v, CAIRN_ECORRUPT, NULL, NULL, "%s", cairn_error_last()->message);
    for (size_t i = 0; rc == CAIRN_OK && !v->stop && i < nroots; i++) {
        const repo_root *rt = &roots[i];
        if (rt->kind == ROOT_BAD) {
            rc = problem(v, CAIRN_ECORRUPT, NULL, rt->ref, "ref '%s' %s", rt->ref, rt->why);
            continue;
        }
        v->st.refs++;
        vitem top = { { { 0 } }, { { 0 } }, { { 0 } }, rt->ref, 0, 0, false };
        int what = roots_walk_what(rt->kind);
        rc = push(v, &top, &rt->id, what);
        while (rc == CAIRN_OK && v->n && !v->stop) {
            vitem it = v->stack[--v->n];
            rc = walk_one(v, &it);
        }
        v->n = 0;
    }
    repo_roots_free(roots, nroots);
    return rc < 0 ? rc : v->stop;
}

/* ---- the store scan ---- */

typedef struct listing {
    cairn_id *ids;
    size_t n, cap;
} listing;

static int list_one(const cairn_id *key, uint64_t len, void *payload)
{
    (void)len;
    listing *l = payload;
    TRY(cairn_array_room(&l->ids, &l->cap, l->n, sizeof *l->ids, 4096));
    l->ids[l->n++] = *key;
    return 0;
}

/* Every chunk in the store that the walk did not reach: counted, and re-hashed. */
static int scan_store(vctx *v)
{
    FAIL_IF(!v->r->store->list, CAIRN_EUNSUPPORTED,
            "the %s store of %s cannot list its chunks", v->r->store->kind, v->r->url);
    listing l = { NULL, 0, 0 };
    int rc = v->r->store->list(v->r->store, list_one, &l);
    if (rc < 0) rc = cairn_error_prefix(rc, "listing the chunks of %s", v->r->url);
    for (size_t i = 0; rc == CAIRN_OK && !v->stop && i < l.n; i++) {
        if (idmap_find(&v->seen, &l.ids[i]) || idmap_find(&v->nodes, &l.ids[i])) continue;
        if (!(v->o->flags & CAIRN_VERIFY_REACHABLE_ONLY) && !v->nahead) /* the next ones */
            rc = read_ahead(v, &l.ids[i], MIN(VERIFY_AHEAD_BATCH, l.n - i));
        if (rc < 0) break;
        v->st.unreachable++;
        if (v->o->flags & CAIRN_VERIFY_REACHABLE_ONLY) continue;
        vitem it = { l.ids[i], { { 0 } }, { { 0 } }, "", 0, 0, false };
        chunk *c;
        rc = vfetch(v, &it, &c);
        chunk_release(c);
    }
    free(l.ids);
    return rc < 0 ? rc : v->stop;
}

int verify_run(repo *r, const cairn_verify_options *o, verify_sig_fn sig, void *sig_payload,
               cairn_verify_stats *out)
{
    double t0 = clock_now();
    vctx *v = cairn_calloc(1, sizeof *v);
    FAIL_IF(!v, CAIRN_ENOMEM, "out of memory verifying");
    v->r = r;
    v->o = o;
    v->sig = sig;
    v->sig_payload = sig_payload;
    int rc = pruned_load(v);
    if (rc == CAIRN_OK) rc = walk_refs(v);
    if (rc == CAIRN_OK) rc = scan_store(v);
    v->st.seconds = clock_now() - t0;
    if (rc == CAIRN_OK && out) *out = v->st;
    if (rc == CAIRN_OK && v->st.problems)
        rc = ERR(CAIRN_ECORRUPT, "verify found %llu problem%s in %s; the first: %s",
                 (unsigned long long)v->st.problems, v->st.problems == 1 ? "" : "s", r->url,
                 v->first);
    idmap_dispose(&v->seen);
    idmap_dispose(&v->nodes);
    idmap_dispose(&v->roots);
    idmap_dispose(&v->pruned);
    free(v->node);
    free(v->stack);
    cairn_buf_dispose(&v->keys);
    cairn_buf_dispose(&v->frame);
    for (size_t j = 0; j < v->nahead; j++) cairn_buf_dispose(&v->ahead[j].frame);
    free(v->ahead);
    free(v);
    return rc;
}
