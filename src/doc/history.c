/*
 * history.c - a document's versions through the commit history, bringing one back, and proving
 * one (cairn_doc_history, cairn_doc_restore, cairn_doc_prove in cairn/doc.h).
 *
 * The history of document ID as of REV is read from the commits REV reaches, newest first (the
 * order of cairn_log): the document's value at each commit is compared with its value at the
 * commit before it in that order; where they differ, the newer commit made a version. A commit
 * whose collection root equals the one before it changed nothing in the collection, so the
 * document is read only at commits that changed the collection. Each version comes with the
 * change from the version before it as a JSON Merge Patch (RFC 7386): applying the patches
 * oldest first to {} gives every version in turn (a deletion's patch is null).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cairn/doc.h"
#include "doc/doc_int.h"

/* ---- the merge patch that turns a into b ---- */

/* RFC 7386 in reverse: members of a missing from b become null, members that differ become b's
 * value (a recursive patch where both are objects); anything else than two objects is b. */
static json_t *merge_diff(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b)) return b ? json_deep_copy(b) : json_null();
    json_t *p = json_object();
    if (!p) return NULL;
    const char *k;
    json_t *av, *bv;
    json_object_foreach((json_t *)a, k, av) {
        if (!json_object_get(b, k) && json_object_set_new(p, k, json_null())) goto fail;
    }
    json_object_foreach((json_t *)b, k, bv) {
        av = json_object_get(a, k);
        if (av && json_equal(av, bv)) continue;
        json_t *d = av ? merge_diff(av, bv) : json_deep_copy(bv);
        if (!d || json_object_set_new(p, k, d)) goto fail;
    }
    return p;
fail:
    json_decref(p);
    return NULL;
}

/* ---- the commits to look at ---- */

typedef struct hcommit {
    cairn_id id;
    char *author;
    char *message;
    int64_t time;
} hcommit;

typedef struct hlist {
    hcommit *c;
    size_t n, cap;
} hlist;

static int collect(const cairn_commit_info *info, void *payload)
{
    hlist *l = payload;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        hcommit *c = realloc(l->c, cap * sizeof *c);
        FAIL_IF(!c, CAIRN_ENOMEM, "out of memory reading the history");
        l->c = c;
        l->cap = cap;
    }
    hcommit *h = &l->c[l->n];
    h->id = info->id;
    h->time = info->author_time;
    h->author = cairn_strdup(info->author ? info->author : "");
    h->message = cairn_strdup(info->message ? info->message : "");
    if (!h->author || !h->message) {
        free(h->author);
        free(h->message);
        return ERR(CAIRN_ENOMEM, "out of memory reading the history");
    }
    l->n++;
    return 0;
}

static void hlist_free(hlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->c[i].author);
        free(l->c[i].message);
    }
    free(l->c);
}

/* ---- the document at one commit ---- */

typedef struct hstate {
    bool have_root;      /* the collection existed: root is its root */
    cairn_id root;
    char *doc;           /* NULL: no such document (or no collection) */
    size_t len;
} hstate;

static void hstate_clear(hstate *s)
{
    cairn_free(s->doc);
    memset(s, 0, sizeof *s);
}

static bool same_doc(const hstate *a, const hstate *b)
{
    if (!a->doc || !b->doc) return !a->doc && !b->doc;
    return a->len == b->len && memcmp(a->doc, b->doc, a->len) == 0;
}

/* Reads the document at commit c into *out; prev (the state at the commit read before, or
 * NULL) is reused when the collection's root is the same. */
static int state_at(hstate *out, cairn_db *db, cairn_coll *coll, const char *id,
                    const cairn_id *c, const hstate *prev)
{
    memset(out, 0, sizeof *out);
    char rev[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(rev, c);
    cairn_snapshot *snap;
    TRY(cairn_snapshot_open_at(&snap, db, rev));
    int rc = cairn_coll_root(&out->root, coll, snap);
    if (rc == CAIRN_ENOTFOUND) { /* no collection at that commit */
        cairn_error_clear();
        cairn_snapshot_close(snap);
        return CAIRN_OK;
    }
    if (rc == CAIRN_OK) {
        out->have_root = true;
        if (prev && prev->have_root && memcmp(prev->root.bytes, out->root.bytes, 32) == 0) {
            if (prev->doc) {
                out->doc = cairn_strdup(prev->doc);
                out->len = prev->len;
                if (!out->doc) rc = ERR(CAIRN_ENOMEM, "out of memory reading the history");
            }
        } else {
            rc = cairn_doc_get(&out->doc, &out->len, coll, snap, id);
            if (rc == CAIRN_ENOTFOUND) {
                cairn_error_clear();
                out->doc = NULL;
                rc = CAIRN_OK;
            }
        }
    }
    cairn_snapshot_close(snap);
    if (rc != CAIRN_OK) hstate_clear(out);
    return rc;
}

/* Reports the version commit c made: the document became `now` (NULL: deleted) from `before`
 * (NULL: absent). pruned: non-zero when retention removed what came before (then `before` is
 * empty and this is the oldest version kept), the time it did. */
static int report(const hcommit *c, const hstate *now, const hstate *before, int64_t pruned,
                  cairn_doc_version_fn cb, void *payload)
{
    json_error_t e;
    json_t *a = before->doc ? json_loadb(before->doc, before->len, 0, &e) : NULL;
    json_t *b = now->doc ? json_loadb(now->doc, now->len, 0, &e) : NULL;
    if ((before->doc && !a) || (now->doc && !b)) {
        json_decref(a);
        json_decref(b);
        return CORRUPT("a stored version of the document is not JSON (%s); run cairn verify",
                       e.text);
    }
    json_t *patch = b ? merge_diff(a, b) : json_null();
    char *ptext = patch ? json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                        : NULL;
    json_decref(patch);
    json_decref(a);
    json_decref(b);
    FAIL_IF(!ptext, CAIRN_ENOMEM, "out of memory writing a change of the document");
    cairn_doc_version v;
    memset(&v, 0, sizeof v);
    v.commit = c->id;
    v.author = c->author;
    v.time = c->time;
    v.message = c->message;
    v.doc = now->doc;
    v.len = now->doc ? now->len : 0;
    v.patch = ptext;
    v.patch_len = strlen(ptext);
    v.created = before->doc == NULL && !pruned;
    v.pruned_time = pruned;
    int rc = cb(&v, payload);
    free(ptext);
    return rc;
}

/* *out: when retention removed the collection's version at commit c (0: kept). */
static int history_cut(int64_t *out, cairn_coll *coll, const cairn_id *c)
{
    *out = 0;
    int rc = dv_pruned_lookup(out, coll, c);
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
}

int cairn_doc_history(cairn_db *db, cairn_coll *coll, const char *rev, const char *id,
                      cairn_doc_version_fn cb, void *payload)
{
    FAIL_IF(!db || !coll || !id || !cb, CAIRN_EINVAL, "doc history: no db, collection, id or "
                                                      "callback");
    hlist l = { 0 };
    int rc = cairn_log(db, rev ? rev : "HEAD", collect, &l);
    hstate newer = { 0 }, older = { 0 };
    int64_t pruned = 0;
    if (rc == CAIRN_OK && l.n > 0) rc = history_cut(&pruned, coll, &l.c[0].id);
    if (rc == CAIRN_OK && pruned) rc = dv_pruned_error(coll, &l.c[0].id, pruned, "doc history");
    if (rc == CAIRN_OK && l.n > 0) rc = state_at(&newer, db, coll, id, &l.c[0].id, NULL);
    for (size_t i = 1; rc == CAIRN_OK && i <= l.n; i++) {
        if (i < l.n) rc = history_cut(&pruned, coll, &l.c[i].id);
        if (rc == CAIRN_OK && pruned) { /* retention removed the rest: the oldest kept, then stop */
            if (newer.doc) rc = report(&l.c[i - 1], &newer, &older, pruned, cb, payload);
            break;
        }
        if (rc == CAIRN_OK && i < l.n) rc = state_at(&older, db, coll, id, &l.c[i].id, &newer);
        if (rc != CAIRN_OK) break;
        /* past the oldest commit the document did not exist */
        if (!same_doc(&newer, &older)) rc = report(&l.c[i - 1], &newer, &older, 0, cb, payload);
        hstate_clear(&newer);
        newer = older;
        memset(&older, 0, sizeof older);
    }
    hstate_clear(&newer);
    hstate_clear(&older);
    hlist_free(&l);
    return rc;
}

int cairn_doc_restore(char **out_doc, cairn_db *db, cairn_coll *coll, const char *id,
                      const char *rev, const cairn_doc_write_options *opts)
{
    FAIL_IF(!db || !coll || !id || !rev, CAIRN_EINVAL, "doc restore: no db, collection, id or "
                                                       "revision");
    cairn_snapshot *snap;
    TRY(cairn_snapshot_open_at(&snap, db, rev));
    char *doc = NULL;
    size_t len = 0;
    int rc = dv_pruned_refuse(coll, snap, "doc restore");
    if (rc < 0) {
        cairn_snapshot_close(snap);
        return rc;
    }
    rc = cairn_doc_get(&doc, &len, coll, snap, id);
    cairn_snapshot_close(snap);
    if (rc == CAIRN_ENOTFOUND)
        return ERR(CAIRN_ENOTFOUND, "document %s of collection %s did not exist at %s (see "
                   "'cairn doc history %s %s' for the revisions that have it)", id,
                   cairn_coll_name(coll), rev, cairn_coll_name(coll), id);
    if (rc != CAIRN_OK) return rc;
    /* written as a new version: _v, _ts and _hash are the write's own */
    rc = cairn_doc_upsert(out_doc, coll, doc, len, opts);
    cairn_free(doc);
    return rc;
}

int cairn_doc_prove(void **out_proof, size_t *out_len, cairn_coll *coll,
                    const cairn_snapshot *snap, const char *id)
{
    FAIL_IF(!coll || !id, CAIRN_EINVAL, "doc prove: no collection or id");
    TRY(dv_id_check(id, strlen(id)));
    TRY(dv_pruned_refuse(coll, snap, "doc prove"));
    /* the document is the value of key id in the collection's table: a table proof */
    return cairn_prove(out_proof, out_len, coll->docs, snap, id, strlen(id));
}
