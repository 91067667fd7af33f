/*
 * eng_git.c - the engine "libgit2": git as a peer for the version workloads (diff, diff1k,
 * commit, merge), through libgit2. It supports nothing else: git is not a key-value store.
 *
 * The model: the table is a tree of files in a bare repository, one file per key, its content
 * the value (a blob), named by the key in hex and fanned out over two directory levels by the
 * key's first two bytes: 0a/3f/<28 hex digits>. A million keys make 256 + 65,536 trees of
 * ~15 files each at the bottom, the layout git itself uses for loose objects, so a change to one
 * key rewrites one blob and three trees, and a diff skips unchanged directories by their ids as
 * cairn skips unchanged subtrees.
 *
 * load (not reported: it only makes the data) writes one pack file with every blob and tree,
 * undeltified (what git fast-import makes), through libgit2's indexer, which checks every
 * object and writes the pack index; then a commit on branch main.
 *
 * Durability: GIT_OPT_ENABLE_FSYNC_GITDIR is on, so every object file, pack and ref libgit2
 * writes is fsynced (git's own default leaves that to core.fsync, off); core.logAllRefUpdates
 * is on, so branch moves are logged as cairn's are. Object hashes are verified on read
 * (libgit2's default, GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION).
 *
 * vcommit: a blob per put (loose object), git_tree_create_updated on the branch's tree,
 * git_commit_create moving the branch (compare-and-swap against its old head). vdiff and
 * vmerge walk the trees themselves through libgit2's object API, skipping equal subtrees by
 * id as command-line git's diff-tree and merge-ort do: libgit2 1.5's own git_diff_tree_to_tree
 * and git_merge_trees visit every file of both trees (libgit2 pull request 6863, issue 6036),
 * which would measure libgit2's implementation rather than git's data model. vdiff reads both
 * blobs of every change; vmerge is a three-way merge against git_merge_base, with the trees
 * both sides changed rewritten through git_treebuilder, and a commit with both parents.
 */
#include "bench.h"

#include <git2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define GIT_BRANCH_MAX 200
#define HEX_KEY (2 * BENCH_KEY_SIZE)
#define FANOUT 2                            /* directory levels, one key byte each */
#define LEAF_NAME (HEX_KEY - 2 * FANOUT)    /* hex digits of a file name */
#define PACK_OBJ_TREE 2
#define PACK_OBJ_BLOB 3
#define PACK_BUF (1u << 20)
#define SHA1_SIZE 20

typedef struct git_db {
    git_repository *repo;
    git_signature *sig;
    char branch[GIT_BRANCH_MAX]; /* the current branch */
} git_db;

static int fail(const char *what, int rc)
{
    const git_error *e = git_error_last();
    fprintf(stderr, "libgit2: %s: %s (%d)\n", what, e && e->message ? e->message : "failed", rc);
    return BENCH_ERR;
}

static void gitb_version(char *buf, size_t cap)
{
    int major, minor, rev;
    git_libgit2_version(&major, &minor, &rev);
    snprintf(buf, cap, "libgit2 %d.%d.%d", major, minor, rev);
}

static int gitb_close(void *h)
{
    git_db *db = h;
    if (!db)
        return 0;
    git_signature_free(db->sig);
    git_repository_free(db->repo);
    free(db);
    git_libgit2_shutdown();
    return 0;
}

static int gitb_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    (void)cfg; /* libgit2's object cache keeps its default size */
    git_libgit2_init();
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    git_db *db = calloc(1, sizeof *db);
    if (!db) {
        git_libgit2_shutdown();
        return fail("calloc", -1);
    }
    snprintf(db->branch, sizeof db->branch, "main");
    int rc;
    if (create) {
        git_repository_init_options o;
        git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
        o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
        o.initial_head = "main";
        rc = git_repository_init_ext(&db->repo, dir, &o);
        git_config *conf = NULL;
        if (rc == 0 && (rc = git_repository_config(&conf, db->repo)) == 0)
            rc = git_config_set_bool(conf, "core.logAllRefUpdates", 1);
        git_config_free(conf);
    } else {
        rc = git_repository_open_bare(&db->repo, dir);
    }
    if (rc == 0)
        rc = git_signature_now(&db->sig, "cairn-bench", "bench@localhost");
    if (rc != 0) {
        fail(dir, rc);
        gitb_close(db);
        return BENCH_ERR;
    }
    *out = db;
    return 0;
}

/* ---- load: one pack of every blob and tree ---- */

/* A key and its index, for sorting the keys into file order. */
typedef struct sorted_key {
    uint8_t key[BENCH_KEY_SIZE];
    uint64_t i;
} sorted_key;

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, BENCH_KEY_SIZE);
}

/* Streams a pack (header, objects, SHA-1 trailer) into libgit2's indexer. */
typedef struct pack {
    git_odb_writepack *wp;
    git_indexer_progress stats;
    EVP_MD_CTX *sha;
    uint8_t *buf;
    size_t len;
    uint8_t *zbuf;
    size_t zcap;
    int rc;
} pack;

static void pack_flush(pack *p)
{
    if (p->rc == 0 && p->len) {
        EVP_DigestUpdate(p->sha, p->buf, p->len);
        p->rc = p->wp->append(p->wp, p->buf, p->len, &p->stats);
    }
    p->len = 0;
}

static void pack_bytes(pack *p, const void *data, size_t len)
{
    const uint8_t *d = data;
    while (len > 0 && p->rc == 0) {
        size_t n = PACK_BUF - p->len < len ? PACK_BUF - p->len : len;
        memcpy(p->buf + p->len, d, n);
        p->len += n;
        d += n;
        len -= n;
        if (p->len == PACK_BUF)
            pack_flush(p);
    }
}

/* Appends one whole object; *oid = its id. */
static void pack_object(pack *p, int type, const void *data, size_t len, git_oid *oid)
{
    if (p->rc != 0)
        return;
    if ((p->rc = git_odb_hash(oid, data, len,
                              type == PACK_OBJ_BLOB ? GIT_OBJECT_BLOB : GIT_OBJECT_TREE)) != 0)
        return;
    uint8_t hdr[16];
    size_t h = 0, size = len;
    hdr[h++] = (uint8_t)((type << 4) | (size & 15)) | (size > 15 ? 0x80 : 0);
    for (size >>= 4; size > 0; size >>= 7)
        hdr[h++] = (uint8_t)((size & 127) | (size > 127 ? 0x80 : 0));
    uLongf zlen = compressBound(len);
    if (zlen > p->zcap) {
        uint8_t *z = realloc(p->zbuf, zlen);
        if (!z) {
            p->rc = -1;
            return;
        }
        p->zbuf = z;
        p->zcap = zlen;
    }
    if (compress2(p->zbuf, &zlen, data, len, Z_BEST_SPEED) != Z_OK) {
        p->rc = -1;
        return;
    }
    pack_bytes(p, hdr, h);
    pack_bytes(p, p->zbuf, zlen);
}

/* A tree being filled: entries appended in name order (the order git requires). */
typedef struct tree_buf {
    uint8_t *data;
    size_t len, cap;
} tree_buf;

static int tree_add(tree_buf *t, const char *mode, const char *name, const git_oid *oid)
{
    size_t need = strlen(mode) + 1 + strlen(name) + 1 + SHA1_SIZE;
    if (t->len + need > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + need)
            cap *= 2;
        uint8_t *d = realloc(t->data, cap);
        if (!d)
            return -1;
        t->data = d;
        t->cap = cap;
    }
    t->len += (size_t)sprintf((char *)t->data + t->len, "%s %s", mode, name) + 1;
    memcpy(t->data + t->len, oid->id, SHA1_SIZE);
    t->len += SHA1_SIZE;
    return 0;
}

/* Packs every blob and tree of the sorted keys; *root = the top tree. */
static void pack_trees(pack *p, const bench_data *data, const sorted_key *keys, git_oid *root)
{
    tree_buf level[FANOUT + 1] = { { NULL, 0, 0 } }; /* [0] top .. [FANOUT] files */
    uint8_t val[BENCH_VALUE_SIZE];
    char name[HEX_KEY + 1];
    for (uint64_t j = 0; j <= data->n && p->rc == 0; j++) {
        /* close the directories that end before key j (all of them after the last key) */
        int keep = j == data->n ? 0 : FANOUT;
        if (j > 0 && j < data->n)
            while (keep > 0 && memcmp(keys[j].key, keys[j - 1].key, (size_t)keep) != 0)
                keep--;
        for (int l = FANOUT; j > 0 && l > keep; l--) {
            git_oid oid;
            pack_object(p, PACK_OBJ_TREE, level[l].data, level[l].len, &oid);
            level[l].len = 0;
            bench_hex(name, keys[j - 1].key + l - 1, 1);
            if (p->rc == 0 && tree_add(&level[l - 1], "40000", name, &oid) != 0)
                p->rc = -1;
        }
        if (j == data->n)
            break;
        git_oid blob;
        bench_value(data, keys[j].i, val);
        pack_object(p, PACK_OBJ_BLOB, val, sizeof val, &blob);
        bench_hex(name, keys[j].key + FANOUT, BENCH_KEY_SIZE - FANOUT);
        if (p->rc == 0 && tree_add(&level[FANOUT], "100644", name, &blob) != 0)
            p->rc = -1;
    }
    pack_object(p, PACK_OBJ_TREE, level[0].data, level[0].len, root);
    for (int l = 0; l <= FANOUT; l++)
        free(level[l].data);
}

/* Objects in the pack: the blobs, the directories at each level, the top tree. */
static uint64_t count_objects(const bench_data *data, const sorted_key *keys)
{
    uint64_t count = data->n + 1;
    for (int l = 1; l <= FANOUT; l++)
        for (uint64_t j = 0; j < data->n; j++)
            count += j == 0 || memcmp(keys[j].key, keys[j - 1].key, (size_t)l) != 0;
    return count;
}

static int write_pack(git_db *db, const bench_data *data, const sorted_key *keys, git_oid *root)
{
    git_odb *odb;
    int rc = git_repository_odb(&odb, db->repo);
    if (rc != 0)
        return fail("git_repository_odb", rc);
    pack p;
    memset(&p, 0, sizeof p);
    p.buf = malloc(PACK_BUF);
    p.sha = EVP_MD_CTX_new();
    if (!p.buf || !p.sha || !EVP_DigestInit_ex(p.sha, EVP_sha1(), NULL))
        p.rc = -1;
    if (p.rc == 0)
        p.rc = git_odb_write_pack(&p.wp, odb, NULL, NULL);
    if (p.rc == 0) {
        uint64_t count = count_objects(data, keys);
        uint8_t hdr[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2, (uint8_t)(count >> 24),
                            (uint8_t)(count >> 16), (uint8_t)(count >> 8), (uint8_t)count };
        pack_bytes(&p, hdr, sizeof hdr);
        pack_trees(&p, data, keys, root);
        pack_flush(&p);
        uint8_t trailer[SHA1_SIZE];
        if (p.rc == 0 && EVP_DigestFinal_ex(p.sha, trailer, NULL) &&
            (p.rc = p.wp->append(p.wp, trailer, sizeof trailer, &p.stats)) == 0)
            p.rc = p.wp->commit(p.wp, &p.stats);
    }
    if (p.wp)
        p.wp->free(p.wp);
    rc = p.rc;
    EVP_MD_CTX_free(p.sha);
    free(p.buf);
    free(p.zbuf);
    git_odb_free(odb);
    return rc == 0 ? 0 : fail("writing the pack", rc);
}

static int gitb_load(void *h, const bench_data *data)
{
    git_db *db = h;
    sorted_key *keys = malloc(data->n * sizeof *keys);
    if (!keys)
        return fail("out of memory", -1);
    for (uint64_t i = 0; i < data->n; i++) {
        bench_key(data, i, keys[i].key);
        keys[i].i = i;
    }
    qsort(keys, data->n, sizeof *keys, cmp_key);
    git_oid root, commit;
    int rc = write_pack(db, data, keys, &root);
    free(keys);
    git_tree *tree = NULL;
    if (rc == 0 && (rc = git_tree_lookup(&tree, db->repo, &root)) == 0)
        rc = git_commit_create(&commit, db->repo, "refs/heads/main", db->sig, db->sig, NULL,
                               "load", tree, 0, NULL);
    git_tree_free(tree);
    return rc == 0 ? 0 : fail("load commit", rc);
}

/* ---- versions ---- */

static int head_of(git_oid *out, git_db *db, const char *branch)
{
    char ref[GIT_BRANCH_MAX + 16];
    snprintf(ref, sizeof ref, "refs/heads/%s", branch);
    int rc = git_reference_name_to_id(out, db->repo, ref);
    return rc == 0 ? 0 : fail(ref, rc);
}

static void key_path(char *out, const void *key)
{
    const uint8_t *k = key;
    char h[HEX_KEY + 1];
    bench_hex(h, k, BENCH_KEY_SIZE);
    snprintf(out, HEX_KEY + FANOUT + 1, "%.2s/%.2s/%s", h, h + 2, h + 2 * FANOUT);
}

static int gitb_vcommit(void *h, const bench_kv *ops, size_t n, char id[BENCH_VERSION_ID_SIZE])
{
    git_db *db = h;
    git_oid head, tree_id, oid;
    if (head_of(&head, db, db->branch) != 0)
        return BENCH_ERR;
    git_commit *parent = NULL;
    git_tree *base = NULL, *tree = NULL;
    git_tree_update *upd = calloc(n ? n : 1, sizeof *upd);
    char (*paths)[HEX_KEY + FANOUT + 1] = calloc(n ? n : 1, sizeof *paths);
    int rc = upd && paths ? 0 : -1;
    if (rc == 0 && (rc = git_commit_lookup(&parent, db->repo, &head)) == 0)
        rc = git_commit_tree(&base, parent);
    for (size_t i = 0; i < n && rc == 0; i++) {
        key_path(paths[i], ops[i].key);
        upd[i].action = GIT_TREE_UPDATE_UPSERT;
        upd[i].filemode = GIT_FILEMODE_BLOB;
        upd[i].path = paths[i];
        rc = git_blob_create_from_buffer(&upd[i].id, db->repo, ops[i].val, ops[i].vlen);
    }
    if (rc == 0)
        rc = git_tree_create_updated(&tree_id, db->repo, base, n, upd);
    if (rc == 0)
        rc = git_tree_lookup(&tree, db->repo, &tree_id);
    char ref[GIT_BRANCH_MAX + 16];
    snprintf(ref, sizeof ref, "refs/heads/%s", db->branch);
    const git_commit *parents[1] = { parent };
    if (rc == 0)
        rc = git_commit_create(&oid, db->repo, ref, db->sig, db->sig, NULL, "cairn-bench", tree,
                               1, parents);
    git_tree_free(tree);
    git_tree_free(base);
    git_commit_free(parent);
    free(paths);
    free(upd);
    if (rc != 0)
        return fail("commit", rc);
    git_oid_tostr(id, BENCH_VERSION_ID_SIZE, &oid);
    return 0;
}

static int commit_tree(git_tree **out, git_db *db, const char *id)
{
    git_oid oid;
    git_commit *c = NULL;
    int rc = git_oid_fromstr(&oid, id);
    if (rc == 0 && (rc = git_commit_lookup(&c, db->repo, &oid)) == 0)
        rc = git_commit_tree(out, c);
    git_commit_free(c);
    return rc;
}

/* Adds the digest of a blob's content to *sum. */
static int blob_digest(git_db *db, const git_oid *oid, uint64_t *sum)
{
    git_blob *b;
    int rc = git_blob_lookup(&b, db->repo, oid);
    if (rc != 0)
        return rc;
    *sum += bench_value_digest(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
    git_blob_free(b);
    return 0;
}

/* Entry i of a tree, or NULL past its end or for no tree. */
static const git_tree_entry *entry_at(const git_tree *t, size_t i)
{
    return t && i < git_tree_entrycount(t) ? git_tree_entry_byindex(t, i) : NULL;
}

/* Orders two entries by name, a missing one after all others. All the names of one directory
 * in this model have the same length and type, so plain strcmp is git's order. */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
    if (!a || !b)
        return !a - !b;
    return strcmp(git_tree_entry_name(a), git_tree_entry_name(b));
}

static int same_entry(const git_tree_entry *a, const git_tree_entry *b)
{
    if (!a || !b)
        return !a && !b;
    return git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b));
}

/* The subtree an entry names, or NULL (*out) when the entry is missing or not a tree. */
static int subtree(git_tree **out, git_db *db, const git_tree_entry *e)
{
    *out = NULL;
    if (!e || git_tree_entry_type(e) != GIT_OBJECT_TREE)
        return 0;
    return git_tree_lookup(out, db->repo, git_tree_entry_id(e));
}

typedef struct diff_acc {
    uint64_t changed, digest, old_digest;
} diff_acc;

static int diff_trees(git_db *db, const git_tree *a, const git_tree *b, diff_acc *acc);

/* One name present in a or b (or both) whose entries differ. */
static int diff_entry(git_db *db, const git_tree_entry *ea, const git_tree_entry *eb,
                      diff_acc *acc)
{
    int a_tree = ea && git_tree_entry_type(ea) == GIT_OBJECT_TREE;
    int b_tree = eb && git_tree_entry_type(eb) == GIT_OBJECT_TREE;
    if (a_tree || b_tree) {
        git_tree *ta = NULL, *tb = NULL;
        int rc = subtree(&ta, db, ea);
        if (rc == 0)
            rc = subtree(&tb, db, eb);
        if (rc == 0)
            rc = diff_trees(db, ta, tb, acc);
        git_tree_free(ta);
        git_tree_free(tb);
        if (rc != 0 || (a_tree && b_tree))
            return rc;
        ea = a_tree ? NULL : ea; /* a file replaced by a directory, or the reverse */
        eb = b_tree ? NULL : eb;
        if (!ea && !eb)
            return 0;
    }
    acc->changed++;
    int rc = eb ? blob_digest(db, git_tree_entry_id(eb), &acc->digest) : 0;
    if (rc == 0 && ea)
        rc = blob_digest(db, git_tree_entry_id(ea), &acc->old_digest);
    return rc;
}

/* Walks two trees (NULL: empty) together, skipping entries with equal ids: what git
 * diff-tree -r does, at a cost that grows with the change, not with the tree. */
static int diff_trees(git_db *db, const git_tree *a, const git_tree *b, diff_acc *acc)
{
    size_t i = 0, j = 0;
    int rc = 0;
    for (;;) {
        const git_tree_entry *ea = entry_at(a, i), *eb = entry_at(b, j);
        if (!ea && !eb)
            return rc;
        int c = entry_cmp(ea, eb);
        const git_tree_entry *x = c <= 0 ? ea : NULL, *y = c >= 0 ? eb : NULL;
        i += c <= 0;
        j += c >= 0;
        if (!same_entry(x, y) && (rc = diff_entry(db, x, y, acc)) != 0)
            return rc;
    }
}

/* vdiff: a hand-written tree walk over libgit2's object API rather than
 * git_diff_tree_to_tree, which (libgit2 1.5) expands every directory of both trees, so its
 * cost grows with the number of files (libgit2 pull request 6863). */
static int gitb_vdiff(void *h, const char *from, const char *to, uint64_t *changed,
                      uint64_t *digest)
{
    git_db *db = h;
    git_tree *t1 = NULL, *t2 = NULL;
    diff_acc acc = { 0, 0, 0 };
    int rc = commit_tree(&t1, db, from);
    if (rc == 0)
        rc = commit_tree(&t2, db, to);
    if (rc == 0)
        rc = diff_trees(db, t1, t2, &acc);
    git_tree_free(t1);
    git_tree_free(t2);
    if (rc != 0)
        return fail("diff", rc);
    *changed = acc.changed;
    *digest = acc.digest;
    return 0;
}

static int merge_trees(git_db *db, const git_tree *base, const git_tree *ours,
                       const git_tree *theirs, git_oid *out);

/* Resolves one name of a three-way merge into bld: an entry only one side changed takes
 * that side; directories both sides changed are merged recursively; anything else is a
 * conflict (GIT_EMERGECONFLICT). */
static int merge_entry(git_db *db, git_treebuilder *bld, const git_tree_entry *eb,
                       const git_tree_entry *eo, const git_tree_entry *et)
{
    const git_tree_entry *take = NULL;
    if (same_entry(eo, et) || same_entry(eb, et))
        take = eo;
    else if (same_entry(eb, eo))
        take = et;
    else if (eo && et && git_tree_entry_type(eo) == GIT_OBJECT_TREE &&
             git_tree_entry_type(et) == GIT_OBJECT_TREE) {
        git_tree *tb = NULL, *to = NULL, *tt = NULL;
        git_oid id;
        int rc = subtree(&tb, db, eb);
        if (rc == 0 && (rc = subtree(&to, db, eo)) == 0 && (rc = subtree(&tt, db, et)) == 0)
            rc = merge_trees(db, tb, to, tt, &id);
        git_tree_free(tb);
        git_tree_free(to);
        git_tree_free(tt);
        if (rc == 0)
            rc = git_treebuilder_insert(NULL, bld, git_tree_entry_name(eo), &id,
                                        GIT_FILEMODE_TREE);
        return rc;
    } else {
        fprintf(stderr, "libgit2: merge: conflict at %s\n", git_tree_entry_name(eo ? eo : et));
        return GIT_EMERGECONFLICT;
    }
    return take ? git_treebuilder_insert(NULL, bld, git_tree_entry_name(take),
                                         git_tree_entry_id(take),
                                         git_tree_entry_filemode(take))
                : 0;
}

/* Three-way merge of trees (NULL: empty): a side that did not change the whole tree gives
 * the other side's tree as it is; otherwise the names are merged one by one and only the
 * directories both sides changed are rewritten. That is what command-line git's merge-ort
 * does with unchanged and one-sided directories. */
static int merge_trees(git_db *db, const git_tree *base, const git_tree *ours,
                       const git_tree *theirs, git_oid *out)
{
    const git_oid *b = base ? git_tree_id(base) : NULL, *o = git_tree_id(ours),
                  *t = git_tree_id(theirs);
    if (git_oid_equal(o, t) || (b && git_oid_equal(b, t))) {
        git_oid_cpy(out, o);
        return 0;
    }
    if (b && git_oid_equal(b, o)) {
        git_oid_cpy(out, t);
        return 0;
    }
    git_treebuilder *bld;
    int rc = git_treebuilder_new(&bld, db->repo, NULL);
    size_t ib = 0, io = 0, it = 0;
    while (rc == 0) {
        const git_tree_entry *eb = entry_at(base, ib), *eo = entry_at(ours, io),
                             *et = entry_at(theirs, it);
        if (!eb && !eo && !et)
            break;
        const git_tree_entry *min = eb;
        if (entry_cmp(eo, min) < 0)
            min = eo;
        if (entry_cmp(et, min) < 0)
            min = et;
        eb = entry_cmp(eb, min) == 0 ? eb : NULL;
        eo = entry_cmp(eo, min) == 0 ? eo : NULL;
        et = entry_cmp(et, min) == 0 ? et : NULL;
        ib += eb != NULL;
        io += eo != NULL;
        it += et != NULL;
        rc = merge_entry(db, bld, eb, eo, et);
    }
    if (rc == 0)
        rc = git_treebuilder_write(out, bld);
    git_treebuilder_free(bld);
    return rc;
}

static int set_branch(git_db *db, const char *name)
{
    if (strlen(name) >= sizeof db->branch) {
        fprintf(stderr, "libgit2: branch name too long\n");
        return BENCH_ERR;
    }
    snprintf(db->branch, sizeof db->branch, "%s", name);
    return 0;
}

static int gitb_vbranch(void *h, const char *name, const char *at)
{
    git_db *db = h;
    git_oid oid;
    git_commit *c = NULL;
    git_reference *ref = NULL;
    int rc = git_oid_fromstr(&oid, at);
    if (rc == 0 && (rc = git_commit_lookup(&c, db->repo, &oid)) == 0)
        rc = git_branch_create(&ref, db->repo, name, c, 0);
    git_reference_free(ref);
    git_commit_free(c);
    if (rc != 0)
        return fail("git_branch_create", rc);
    return set_branch(db, name);
}

static int gitb_vswitch(void *h, const char *name)
{
    return set_branch(h, name);
}

static int gitb_vdelete(void *h, const char *name)
{
    git_db *db = h;
    git_reference *ref = NULL;
    int rc = git_branch_lookup(&ref, db->repo, name, GIT_BRANCH_LOCAL);
    if (rc == 0)
        rc = git_branch_delete(ref);
    git_reference_free(ref);
    return rc == 0 ? 0 : fail("git_branch_delete", rc);
}

/* vmerge: the merge base, then merge_trees above, then a commit with both parents. Not
 * git_merge_trees, which (libgit2 1.5) builds an index of every file of the result, so its
 * cost grows with the number of files (libgit2 issue 6036). */
static int gitb_vmerge(void *h, const char *other, char id[BENCH_VERSION_ID_SIZE])
{
    git_db *db = h;
    git_oid ours_id, theirs_id, base_id, tree_id, oid;
    if (head_of(&ours_id, db, db->branch) != 0 || head_of(&theirs_id, db, other) != 0)
        return BENCH_ERR;
    git_commit *ours = NULL, *theirs = NULL, *base = NULL;
    git_tree *ours_t = NULL, *theirs_t = NULL, *base_t = NULL, *tree = NULL;
    int rc = git_merge_base(&base_id, db->repo, &ours_id, &theirs_id);
    if (rc == 0 && (rc = git_commit_lookup(&ours, db->repo, &ours_id)) == 0 &&
        (rc = git_commit_lookup(&theirs, db->repo, &theirs_id)) == 0 &&
        (rc = git_commit_lookup(&base, db->repo, &base_id)) == 0 &&
        (rc = git_commit_tree(&ours_t, ours)) == 0 &&
        (rc = git_commit_tree(&theirs_t, theirs)) == 0 &&
        (rc = git_commit_tree(&base_t, base)) == 0)
        rc = merge_trees(db, base_t, ours_t, theirs_t, &tree_id);
    if (rc == 0)
        rc = git_tree_lookup(&tree, db->repo, &tree_id);
    char ref[GIT_BRANCH_MAX + 16];
    snprintf(ref, sizeof ref, "refs/heads/%s", db->branch);
    const git_commit *parents[2] = { ours, theirs };
    if (rc == 0)
        rc = git_commit_create(&oid, db->repo, ref, db->sig, db->sig, NULL, "merge", tree, 2,
                               parents);
    git_tree_free(tree);
    git_tree_free(base_t);
    git_tree_free(theirs_t);
    git_tree_free(ours_t);
    git_commit_free(base);
    git_commit_free(theirs);
    git_commit_free(ours);
    if (rc != 0)
        return fail("merge", rc);
    git_oid_tostr(id, BENCH_VERSION_ID_SIZE, &oid);
    return 0;
}

const bench_engine bench_engine_libgit2 = {
    .name = "libgit2",
    .settings = "versions only: libgit2, bare repository, one file per key under two levels "
                "of directories (key bytes 0 and 1), fsync on (GIT_OPT_ENABLE_FSYNC_GITDIR), "
                "reflogs on; diff and merge walk the trees, skipping equal subtrees by id",
    .version = gitb_version,
    .open = gitb_open,
    .close = gitb_close,
    .load = gitb_load,
    .vcommit = gitb_vcommit,
    .vdiff = gitb_vdiff,
    .vbranch = gitb_vbranch,
    .vswitch = gitb_vswitch,
    .vdelete = gitb_vdelete,
    .vmerge = gitb_vmerge,
    .flags = BENCH_VERSIONS_ONLY,
};
