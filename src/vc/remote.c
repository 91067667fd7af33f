/*
 * remote.c - remotes (names for other repositories' URLs, in the settings under "remotes"),
 * remote-tracking refs (remotes/NAME/BRANCH: reflog-entry refs like branches, so that
 * NAME/BRANCH@{1} reads where it was before), and push, fetch and clone over
 * repo/transfer.c's copying.
 *
 * The other side is opened by URL (store_open_url_uncached: without the disk cache), whatever
 * its backend, and seen as a bare repository: its refs and chunks, no log. Its branch moves by compare-and-swap
 * after everything the new commit reaches is written and flushed there, so a push killed at any
 * moment leaves the remote's refs naming only chunks it has, and two pushes racing for one
 * branch cannot both win.
 */
#include <stdio.h>
#include <stdlib.h>

#include "repo/gc.h"
#include "repo/history.h"
#include "repo/refs.h"
#include "repo/retain.h"
#include "repo/transfer.h"
#include "store/store.h"
#include "vc/config.h"

#define REMOTE_NAME_MAX 64
#define TRACK_PREFIX "remotes/"
#define REF_NAME_MAX 256

static const cairn_transfer_options DEFAULT_OPTS = CAIRN_TRANSFER_OPTIONS_INIT;

void cairn_transfer_options_init(cairn_transfer_options *out) { *out = DEFAULT_OPTS; }

static int check_remote_name(const char *name)
{
    FAIL_IF(!name || !*name, CAIRN_EINVAL, "a remote needs a name");
    size_t n = strlen(name);
    bool ok = n <= REMOTE_NAME_MAX && name[0] != '.' && name[0] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    FAIL_IF(!ok || strstr(name, ".."), CAIRN_EINVAL,
            "'%s' is not a remote name: use 1 to %d letters, digits, '.', '_' or '-', not "
            "starting with '.' or '-'",
            name, REMOTE_NAME_MAX);
    return CAIRN_OK;
}

/* ---- the settings ---- */

typedef int (*remotes_edit_fn)(json_t *remotes, void *payload);

/* Changes the "remotes" object of the settings under the writer mutex, by compare-and-swap. */
static int remotes_edit(cairn_db *db, remotes_edit_fn fn, void *payload)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    DB_NOT_IN_CALLBACK(db, "changing remotes");
    pthread_mutex_lock(&db->wmu);
    json_t *obj;
    cairn_id id;
    bool exists;
    int rc = config_load_repo(&db->r, &obj, &id, &exists);
    if (rc == CAIRN_OK) {
        json_t *remotes = json_object_get(obj, CONFIG_REMOTES);
        if (!json_is_object(remotes)) json_object_set_new(obj, CONFIG_REMOTES, remotes = json_object());
        rc = remotes ? fn(remotes, payload) : ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) rc = config_store_repo(&db->r, obj, &id, exists);
        json_decref(obj);
    }
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

typedef struct add_ctx {
    const char *name, *url;
} add_ctx;

static int add_one(json_t *remotes, void *payload)
{
    add_ctx *a = payload;
    json_t *have = json_object_get(remotes, a->name);
    FAIL_IF(have, CAIRN_EEXIST, "remote '%s' exists already (%s); remove it first", a->name,
            json_is_string(have) ? json_string_value(have) : "?");
    json_t *u = json_string(a->url);
    FAIL_IF(!u, CAIRN_EINVAL, "the URL of remote '%s' is not UTF-8", a->name);
    FAIL_IF(json_object_set_new(remotes, a->name, u) != 0, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

int cairn_remote_add(cairn_db *db, const char *name, const char *url)
{
    TRY(check_remote_name(name));
    FAIL_IF(!url || !*url, CAIRN_EINVAL, "remote '%s' needs a URL (a directory, mem:, ...)", name);
    TRY_CTX(store_url_check(url), "remote '%s'", name);
    add_ctx a = { name, url };
    return remotes_edit(db, add_one, &a);
}

static int remove_one(json_t *remotes, void *payload)
{
    const char *name = payload;
    FAIL_IF(!json_object_get(remotes, name), CAIRN_ENOTFOUND, "no remote '%s'", name);
    json_object_del(remotes, name);
    return CAIRN_OK;
}

typedef struct refvec {
    char **v;
    size_t n, cap;
} refvec;

static void refvec_free(refvec *rv)
{
    for (size_t i = 0; i < rv->n; i++) free(rv->v[i]);
    free(rv->v);
}

static int collect_name(const char *name, const void *val, size_t len, void *payload)
{
    (void)val;
    (void)len;
    refvec *rv = payload;
    TRY(cairn_array_room(&rv->v, &rv->cap, rv->n, sizeof *rv->v, 8));
    rv->v[rv->n] = cairn_strdup(name);
    FAIL_IF(!rv->v[rv->n], CAIRN_ENOMEM, "out of memory");
    rv->n++;
    return 0;
}

/* The names of the refs of st under prefix. */
static int list_refs(cairn_store *st, const char *prefix, refvec *out)
{
    memset(out, 0, sizeof *out);
    int rc = st->ref_list(st, prefix, collect_name, out);
    if (rc != CAIRN_OK) refvec_free(out);
    return rc;
}

int cairn_remote_remove(cairn_db *db, const char *name)
{
    TRY(check_remote_name(name));
    TRY(remotes_edit(db, remove_one, (void *)name));
    char prefix[REF_NAME_MAX];
    snprintf(prefix, sizeof prefix, TRACK_PREFIX "%s/", name);
    refvec rv;
    TRY(list_refs(db->r.store, prefix, &rv));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < rv.n; i++) {
        cairn_id entry;
        rc = refs_read_id(&db->r, rv.v[i], &entry);
        if (rc == CAIRN_OK) rc = refs_delete(&db->r, rv.v[i], &entry);
        if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    }
    refvec_free(&rv);
    return rc;
}

int cairn_remote_list(cairn_db *db, int (*cb)(const char *, const char *, void *),
                      void *payload)
{
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load_repo(&db->r, &obj, &id, &exists));
    json_t *remotes = json_object_get(obj, CONFIG_REMOTES), *v;
    const char *k;
    int rc = CAIRN_OK;
    json_object_foreach(remotes, k, v) /* stored with sorted keys: name order */
        if (rc == CAIRN_OK && json_is_string(v)) rc = cb(k, json_string_value(v), payload);
    json_decref(obj);
    return rc;
}

int cairn_remote_url(char **out, cairn_db *db, const char *name)
{
    TRY(check_remote_name(name));
    json_t *obj;
    cairn_id id;
    bool exists;
    TRY(config_load_repo(&db->r, &obj, &id, &exists));
    json_t *v = json_object_get(json_object_get(obj, CONFIG_REMOTES), name);
    int rc = CAIRN_OK;
    if (!json_is_string(v))
        rc = ERR(CAIRN_ENOTFOUND, "no remote '%s'; add it with 'cairn remote add %s URL'", name,
                 name);
    else if (!(*out = cairn_strdup(json_string_value(v))))
        rc = ERR(CAIRN_ENOMEM, "out of memory");
    json_decref(obj);
    return rc;
}

/* ---- remote-tracking refs ---- */

/* Sets remotes/REMOTE/BRANCH of r to commit (from wherever it was). */
static int track_set(repo *r, xfer *x, const char *remote, const char *branch,
                     const cairn_id *target, const char *why)
{
    char ref[REF_NAME_MAX];
    int n = snprintf(ref, sizeof ref, TRACK_PREFIX "%s/%s", remote, branch);
    FAIL_IF(n < 0 || (size_t)n >= sizeof ref, CAIRN_EINVAL, "remote-tracking ref for '%s/%s' is "
            "too long", remote, branch);
    for (int attempt = 0;; attempt++) {
        cairn_id entry;
        reflog_entry e;
        xfer_count_ref(x);
        int rc = refs_read(r, ref, &entry, &e);
        if (rc == CAIRN_OK) {
            bool same = memcmp(e.new_target.bytes, target->bytes, CAIRN_ID_SIZE) == 0;
            reflog_dispose(&e);
            if (same) return CAIRN_OK;
        } else if (rc != CAIRN_ENOTFOUND) {
            return rc;
        }
        xfer_count_ref(x);
        rc = refs_move(r, NULL, ref, rc == CAIRN_OK ? &entry : NULL, target, why);
        if (rc != CAIRN_ECONFLICT || attempt == 2) return rc; /* a fetch raced us: again */
    }
}

typedef struct track_list {
    cairn_db *db;
    cairn_branch_fn cb;
    void *payload;
} track_list;

static int track_one(const char *name, const void *val, size_t len, void *payload)
{
    (void)val;
    (void)len;
    track_list *t = payload;
    cairn_id tip;
    int rc = refs_target(&t->db->r, name, &tip);
    if (rc == CAIRN_ENOTFOUND) return 0;
    TRY(rc);
    return t->cb(name + strlen(TRACK_PREFIX), &tip, 0, t->payload);
}

int cairn_remote_branch_list(cairn_db *db, cairn_branch_fn cb, void *payload)
{
    track_list t = { db, cb, payload };
    return db->r.store->ref_list(db->r.store, TRACK_PREFIX, track_one, &t);
}

/* ---- opening the other side ---- */

static int open_far(repo *far, const char *url, unsigned flags, const cairn_transfer_options *o,
                    const char *what)
{
    memset(far, 0, sizeof *far);
    cairn_store *st;
    /* no disk cache: a transfer reads each chunk of the far side once, and a clone's copy is
     * the new repository itself (caching it too only doubled the writes: 1M keys cloned from
     * s3 in 2.9-4.3 s with the cache, 1.6-2.9 s without) */
    int rc = store_open_url_uncached(&st, url, flags, o->lock_timeout_ms);
    if (rc < 0) return cairn_error_prefix(rc, "opening %s %s", what, url);
    return xrepo_attach(far, st, url, (flags & CAIRN_OPEN_READONLY) != 0);
}

/* Whether far holds a repository (it has a HEAD). */
static int far_has_head(repo *far, xfer *x, bool *out)
{
    cairn_buf b = CAIRN_BUF_INIT;
    xfer_count_ref(x);
    int rc = far->store->ref_get(far->store, &b, REF_HEAD);
    cairn_buf_dispose(&b);
    *out = rc == CAIRN_OK;
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
}

static const cairn_transfer_options *opts_or_default(const cairn_transfer_options *o)
{
    return o ? o : &DEFAULT_OPTS;
}

/* ---- copying, around what retention let go ---- */

/* xfer_copy from src to dst, leaving out the table versions src's retention let go, then (with
 * carry) merging the record of them into dst's (before the caller moves any ref that reaches
 * them, so that dst's verify and gc know at once why they are absent). A clone copies the
 * record's ref as it is instead: it is among the roots. */
static int copy_pruned(xfer *x, repo *src, repo *dst, const xfer_root *roots, size_t n,
                       bool carry)
{
    idmap gone;
    memset(&gone, 0, sizeof gone);
    int rc = retain_gone_pairs(src, &gone);
    x->skip = &gone;
    if (rc == CAIRN_OK) rc = xfer_copy(x, roots, n);
    uint64_t added;
    if (rc == CAIRN_OK && carry) rc = retain_carry(src, dst, &added);
    x->skip = NULL;
    idmap_dispose(&gone);
    return rc;
}

/* ---- push ---- */

static int non_fast_forward(const char *branch)
{
    return ERR(CAIRN_ECONFLICT, "non-fast-forward: the remote's %s has commits this one lacks; "
               "fetch and merge first, or push --force", branch);
}

/* The remote's working state for the branch, if it has one: *out_has false when none. It must
 * have no uncommitted changes (its catalog is its base commit's), else the push is refused. */
static int far_working(repo *far, const char *branch, cairn_id *out_id, rootrec *out,
                       bool *out_has)
{
    char ref[REF_NAME_MAX];
    snprintf(ref, sizeof ref, "working/%s", branch);
    *out_has = false;
    int rc = refs_read_id(far, ref, out_id);
    if (rc == CAIRN_ENOTFOUND) return CAIRN_OK;
    TRY(rc);
    TRY(rootrec_load(far, out, out_id));
    *out_has = true;
    rootrec base; /* what the working state was when it started: its base commit's catalog */
    TRY(repo_fresh_working(far, id_is_zero(&out->base_commit) ? NULL : &out->base_commit, &base));
    bool clean = out->nmerge == 0 &&
                 memcmp(base.catalog.bytes, out->catalog.bytes, CAIRN_ID_SIZE) == 0;
    FAIL_IF(!clean, CAIRN_ECONFLICT, "the remote %s has uncommitted changes on branch '%s' (in "
            "its working state); commit or discard them there first, or push to another branch",
            far->url, branch);
    return CAIRN_OK;
}

typedef struct push_job {
    cairn_db *db;
    repo far;
    xfer x;
    const char *remote, *branch;
    char ref[REF_NAME_MAX];
    cairn_id commit;         /* the local head pushed */
    const cairn_transfer_options *o;
} push_job;

static int push_run(push_job *j)
{
    bool has_head;
    TRY(far_has_head(&j->far, &j->x, &has_head));
    FAIL_IF(!has_head, CAIRN_ENOTFOUND, "%s holds no repository; make one with 'cairn init %s' "
            "or copy this one there with 'cairn clone'", j->far.url, j->far.url);
    cairn_id old_entry, old_commit;
    reflog_entry e;
    xfer_count_ref(&j->x);
    int rc = refs_read(&j->far, j->ref, &old_entry, &e);
    bool exists = rc == CAIRN_OK;
    if (rc != CAIRN_OK && rc != CAIRN_ENOTFOUND) return rc;
    if (exists) {
        old_commit = e.new_target;
        reflog_dispose(&e);
    }
    cairn_id wid;
    rootrec wrec;
    bool has_working;
    TRY(far_working(&j->far, j->branch, &wid, &wrec, &has_working));
    bool same = exists && memcmp(old_commit.bytes, j->commit.bytes, CAIRN_ID_SIZE) == 0;
    if (exists && !same && !(j->o->flags & CAIRN_PUSH_FORCE)) {
        bool anc;
        TRY(history_is_ancestor(&j->db->r, &old_commit, &j->commit, &anc));
        if (!anc) return non_fast_forward(j->branch);
    }
    if (same) {
        j->x.stats->up_to_date = 1;
    } else {
        xfer_root root = { j->commit, W_COMMIT };
        TRY(gc_writer_sync(&j->far)); /* a gc's candidates are sent again, not trusted */
        TRY(copy_pruned(&j->x, &j->db->r, &j->far, &root, 1, true));
        char why[REF_NAME_MAX + 64];
        snprintf(why, sizeof why, "push from %s", j->db->r.url);
        xfer_count_ref(&j->x);
        rc = refs_move(&j->far, NULL, j->ref, exists ? &old_entry : NULL, &j->commit, why);
        if (rc == CAIRN_ECONFLICT) return non_fast_forward(j->branch);
        TRY(rc);
    }
    if (has_working && memcmp(wrec.base_commit.bytes, j->commit.bytes, CAIRN_ID_SIZE) != 0) {
        commit c; /* the remote's working state follows its branch */
        TRY(history_load(&j->far, &j->commit, &c));
        wrec.catalog = c.catalog;
        commit_dispose(&c);
        wrec.base_commit = j->commit;
        free(j->far.branch);
        j->far.branch = cairn_strdup(j->branch);
        FAIL_IF(!j->far.branch, CAIRN_ENOMEM, "out of memory");
        cairn_id nid;
        xfer_count_ref(&j->x);
        TRY(repo_publish(&j->far, &nid, &wid, &wrec));
    }
    char why[REF_NAME_MAX + 64];
    snprintf(why, sizeof why, "push to %s", j->far.url);
    return track_set(&j->db->r, &j->x, j->remote, j->branch, &j->commit, why);
}

int cairn_push(cairn_transfer_stats *out, cairn_db *db, const char *remote, const char *branch,
               const cairn_transfer_options *opts)
{
    cairn_transfer_stats scratch;
    if (!out) out = &scratch;
    memset(out, 0, sizeof *out);
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_push: no repository");
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    push_job j;
    memset(&j, 0, sizeof j);
    j.db = db;
    j.o = opts_or_default(opts);
    j.remote = remote;
    if (!branch) {
        FAIL_IF(db->r.detached, CAIRN_EINVAL, "HEAD is detached: name the branch to push");
        branch = db->r.branch;
    }
    j.branch = branch;
    TRY(refs_check_name("branch", branch));
    snprintf(j.ref, sizeof j.ref, "heads/%s", branch);
    int rc = refs_target(&db->r, j.ref, &j.commit);
    if (rc == CAIRN_ENOTFOUND && (db->r.detached || strcmp(branch, db->r.branch) != 0))
        return ERR(CAIRN_ENOTFOUND, "no branch '%s' to push ('cairn branch' lists them)", branch);
    FAIL_IF(rc == CAIRN_ENOTFOUND, CAIRN_ENOTFOUND, "branch '%s' has no commits to push", branch);
    TRY(rc);
    char *url;
    TRY(cairn_remote_url(&url, db, remote));
    xfer_init(&j.x, db->r.store, NULL, out, j.o->progress, j.o->payload);
    rc = open_far(&j.far, url, 0, j.o, "remote");
    if (rc == CAIRN_OK) {
        j.x.dst = j.far.store;
        rc = push_run(&j);
    }
    xfer_report(&j.x);
    xfer_dispose(&j.x);
    xrepo_close(&j.far);
    free(url);
    return rc;
}

/* ---- fetch ---- */

typedef struct head {
    char *branch;
    cairn_id commit;
} head;

/* Every branch of far and its head commit. */
static int far_heads(repo *far, xfer *x, head **out, size_t *out_n)
{
    refvec rv;
    xfer_count_ref(x);
    TRY(list_refs(far->store, "heads/", &rv));
    *out = cairn_calloc(rv.n ? rv.n : 1, sizeof **out);
    *out_n = 0;
    int rc = *out ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == CAIRN_OK && i < rv.n; i++) {
        head *h = &(*out)[*out_n];
        xfer_count_ref(x);
        rc = refs_target(far, rv.v[i], &h->commit);
        if (rc == CAIRN_ENOTFOUND) { /* deleted meanwhile */
            rc = CAIRN_OK;
            continue;
        }
        if (rc == CAIRN_OK && !(h->branch = cairn_strdup(rv.v[i] + 6)))
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) (*out_n)++;
    }
    refvec_free(&rv);
    return rc;
}

static void heads_free(head *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++) free(h[i].branch);
    free(h);
}

int cairn_fetch(cairn_transfer_stats *out, cairn_db *db, const char *remote,
                const cairn_transfer_options *opts)
{
    cairn_transfer_stats scratch;
    if (!out) out = &scratch;
    memset(out, 0, sizeof *out);
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_fetch: no repository");
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    const cairn_transfer_options *o = opts_or_default(opts);
    char *url;
    TRY(cairn_remote_url(&url, db, remote));
    repo far;
    xfer x;
    xfer_init(&x, NULL, db->r.store, out, o->progress, o->payload);
    head *heads = NULL;
    size_t nheads = 0;
    bool has_head = false;
    int rc = open_far(&far, url, CAIRN_OPEN_READONLY, o, "remote");
    if (rc == CAIRN_OK) rc = far_has_head(&far, &x, &has_head);
    if (rc == CAIRN_OK && !has_head)
        rc = ERR(CAIRN_ENOTFOUND, "%s holds no repository", url);
    if (rc == CAIRN_OK) rc = far_heads(&far, &x, &heads, &nheads);
    xfer_root *roots = rc == CAIRN_OK ? cairn_calloc(nheads ? nheads : 1, sizeof *roots) : NULL;
    if (rc == CAIRN_OK && !roots) rc = ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK) {
        x.src = far.store;
        for (size_t i = 0; i < nheads; i++) roots[i] = (xfer_root){ heads[i].commit, W_COMMIT };
        pthread_mutex_lock(&db->maintmu); /* a gc of this handle must not take them meanwhile */
        rc = gc_writer_sync(&db->r); /* nor a remote gc's candidates: they are copied again */
        if (rc == CAIRN_OK) rc = copy_pruned(&x, &far, &db->r, roots, nheads, true);
        char why[REF_NAME_MAX + 64];
        snprintf(why, sizeof why, "fetch from %s", url);
        for (size_t i = 0; rc == CAIRN_OK && i < nheads; i++)
            rc = track_set(&db->r, &x, remote, heads[i].branch, &heads[i].commit, why);
        pthread_mutex_unlock(&db->maintmu);
    }
    xfer_report(&x);
    xfer_dispose(&x);
    free(roots);
    heads_free(heads, nheads);
    xrepo_close(&far);
    free(url);
    return rc;
}

/* ---- clone ---- */

static bool is_tracking(const char *ref) { return strncmp(ref, TRACK_PREFIX, 8) == 0; }

/* Sets ref of dst to the value src holds (when it differs). */
static int copy_ref(repo *src, repo *dst, xfer *x, const char *ref)
{
    cairn_buf want = CAIRN_BUF_INIT, have = CAIRN_BUF_INIT;
    xfer_count_ref(x);
    int rc = src->store->ref_get(src->store, &want, ref);
    if (rc == CAIRN_OK) {
        xfer_count_ref(x);
        rc = dst->store->ref_get(dst->store, &have, ref);
    }
    bool exists = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    if (rc == CAIRN_OK && !(exists && have.len == want.len && !memcmp(have.data, want.data, want.len))) {
        xfer_count_ref(x);
        rc = dst->store->ref_cas(dst->store, ref, exists ? have.data : NULL, exists ? have.len : 0,
                                 want.data, want.len);
    }
    if (rc < 0) rc = cairn_error_prefix(rc, "copying ref %s to %s", ref, dst->url);
    cairn_buf_dispose(&want);
    cairn_buf_dispose(&have);
    return rc;
}

/* The clone's settings: the source's, with one remote, origin = the source. */
static int clone_config(repo *src, repo *dst, const char *src_url)
{
    json_t *obj, *old;
    cairn_id id, old_id;
    bool exists, old_exists;
    TRY(config_load_repo(src, &obj, &id, &exists));
    int rc = config_load_repo(dst, &old, &old_id, &old_exists);
    if (rc == CAIRN_OK) {
        json_t *remotes = json_object();
        if (!remotes || json_object_set_new(remotes, "origin", json_string(src_url)) != 0 ||
            json_object_set_new(obj, CONFIG_REMOTES, remotes) != 0)
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK && !json_equal(obj, old))
            rc = config_store_repo(dst, obj, &old_id, old_exists);
        json_decref(old);
    }
    json_decref(obj);
    return rc;
}

/* The clone reads back each ref it wrote and re-reads (past any cache) the chunk it names. */
static int clone_check(repo *src, repo *dst, xfer *x, const repo_root *roots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *ref = roots[i].ref;
        if (is_tracking(ref) || strcmp(ref, "config") == 0) continue;
        cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
        xfer_count_ref(x);
        int rc = src->store->ref_get(src->store, &a, ref);
        xfer_count_ref(x);
        if (rc == CAIRN_OK) rc = dst->store->ref_get(dst->store, &b, ref);
        if (rc == CAIRN_OK && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0))
            rc = ERR(CAIRN_ECONFLICT, "ref %s of %s changed during the clone; run it again",
                     ref, src->url);
        cairn_buf_dispose(&a);
        cairn_buf_dispose(&b);
        chunk *c = NULL;
        if (rc == CAIRN_OK) rc = cs_load(&dst->cs, &c, &roots[i].id);
        chunk_release(c);
        if (rc < 0) return cairn_error_prefix(rc, "checking the clone's ref %s", ref);
    }
    return CAIRN_OK;
}

static int clone_run(repo *src, repo *dst, xfer *x, const char *src_url)
{
    bool has_head;
    TRY(far_has_head(src, x, &has_head));
    FAIL_IF(!has_head, CAIRN_ENOTFOUND, "%s holds no repository to clone", src->url);
    TRY(far_has_head(dst, x, &has_head));
    FAIL_IF(has_head, CAIRN_EEXIST, "%s holds a repository already; clone into a new place",
            dst->url);
    repo_root *roots;
    size_t n;
    xfer_count_ref(x);
    TRY(repo_roots(src, &roots, &n));
    xfer_root *xr = cairn_calloc(n ? n : 1, sizeof *xr);
    size_t nx = 0;
    int rc = xr ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        if (roots[i].kind == ROOT_BAD)
            rc = ERR(CAIRN_ECORRUPT, "ref %s of %s %s; run 'cairn verify' there", roots[i].ref,
                     src->url, roots[i].why);
        else if (!is_tracking(roots[i].ref) && strcmp(roots[i].ref, "config") != 0)
            xr[nx++] = (xfer_root){ roots[i].id, roots_walk_what(roots[i].kind) };
    }
    /* the record of what retention let go is a ref, among the roots: copied below as it is */
    if (rc == CAIRN_OK) rc = copy_pruned(x, src, dst, xr, nx, false);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) /* every ref but HEAD, which comes last */
        if (!is_tracking(roots[i].ref) && strcmp(roots[i].ref, "config") != 0 &&
            strcmp(roots[i].ref, REF_HEAD) != 0)
            rc = copy_ref(src, dst, x, roots[i].ref);
    if (rc == CAIRN_OK) rc = clone_config(src, dst, src_url);
    head *heads = NULL;
    size_t nheads = 0;
    if (rc == CAIRN_OK) rc = far_heads(src, x, &heads, &nheads);
    char why[REF_NAME_MAX + 64];
    snprintf(why, sizeof why, "clone from %s", src_url);
    for (size_t i = 0; rc == CAIRN_OK && i < nheads; i++)
        rc = track_set(dst, x, "origin", heads[i].branch, &heads[i].commit, why);
    heads_free(heads, nheads);
    if (rc == CAIRN_OK) rc = copy_ref(src, dst, x, REF_HEAD);
    if (rc == CAIRN_OK) rc = clone_check(src, dst, x, roots, n);
    free(xr);
    repo_roots_free(roots, n);
    return rc;
}

int cairn_clone(cairn_transfer_stats *out, const char *src_url, const char *dst_url,
                const cairn_transfer_options *opts)
{
    cairn_transfer_stats scratch;
    if (!out) out = &scratch;
    memset(out, 0, sizeof *out);
    FAIL_IF(!src_url || !dst_url, CAIRN_EINVAL, "cairn_clone: a source and a destination URL "
            "are needed");
    const cairn_transfer_options *o = opts_or_default(opts);
    repo src, dst;
    memset(&dst, 0, sizeof dst);
    xfer x;
    xfer_init(&x, NULL, NULL, out, o->progress, o->payload);
    int rc = open_far(&src, src_url, CAIRN_OPEN_READONLY, o, "the repository");
    if (rc == CAIRN_OK) rc = open_far(&dst, dst_url, CAIRN_OPEN_CREATE, o, "the destination");
    if (rc == CAIRN_OK) {
        x.src = src.store;
        x.dst = dst.store;
        rc = clone_run(&src, &dst, &x, src_url);
    }
    xfer_report(&x);
    xfer_dispose(&x);
    xrepo_close(&dst);
    xrepo_close(&src);
    return rc;
}
