/*
 * check.c - checking that a collection's indexes agree with its documents: cairn_doc_check (the
 * first disagreement, as an error), cairn_doc_check_each (every one, to a callback) and
 * cairn_doc_verify (every collection of the working state and of HEAD: what `cairn verify`
 * adds, since the repository layer that walks chunks knows nothing of documents).
 *
 * Per index, one pass over the documents recomputes each one's keys and looks each up; then the
 * number of entries the index holds is compared with the number the documents give. A stray
 * entry shows only in that count, so when the count disagrees (or the first pass found
 * something) a second pass over the index names each entry that no document gives: its document
 * is read back and its keys recomputed.
 *
 * A text index kept as posting blocks is checked in one walk instead: the pairs (word, id) the
 * documents give are gathered per word (ids come in order, as the documents do), then compared
 * with the blocks in key order, which also checks each block's form and where it was cut.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "doc/doc_int.h"
#include "doc/post.h"

#define PROBLEM_MAX 1024

typedef struct ck {
    cairn_coll *c;
    const cairn_snapshot *snap;
    const char *state;       /* for cairn_doc_verify's problems */
    bool first_only;         /* cairn_doc_check: the first problem is the error */
    cairn_doc_problem_fn cb;
    void *payload;
    cairn_doc_check_stats st;
} ck;

/* Reports a problem: in first_only mode as CAIRN_ECORRUPT, else to the callback. */
static int problem(ck *k, const char *index, const char *id, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int problem(ck *k, const char *index, const char *id, const char *fmt, ...)
{
    char msg[PROBLEM_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    k->st.problems++;
    if (k->first_only) return CORRUPT("%s", msg);
    cairn_doc_problem p = { k->c->name, index, id, k->state, msg };
    return k->cb ? k->cb(&p, k->payload) : 0;
}

/* Checks that every key of one document is in its index (with want, a postings index: adds
 * the document's pairs to want instead). */
static int check_doc_keys(ck *k, const dv_index *ix, cairn_table *t, const json_t *doc,
                          const char *id, uint64_t *entries, dv_post_acc *want)
{
    dv_keys keys = { 0 };
    bool mk = false;
    int rc = dv_index_keys(&keys, &mk, ix, doc, id);
    if (rc == CAIRN_OK && mk && !ix->multikey)
        rc = problem(k, ix->name, id, "collection %s: index '%s' is not marked multikey, but "
                     "document %s has an array on its path", k->c->name, ix->name, id);
    for (size_t i = 0; rc == CAIRN_OK && want && i < keys.n; i++) {
        rc = dv_post_acc_add(want, keys.k[i].key.data, keys.k[i].vlen, id, strlen(id), true);
        (*entries)++;
    }
    for (size_t i = 0; rc == CAIRN_OK && !want && i < keys.n; i++) {
        void *v = NULL;
        size_t vl = 0;
        rc = cairn_get(&v, &vl, t, k->snap, keys.k[i].key.data, keys.k[i].key.len);
        if (rc == CAIRN_ENOTFOUND) cairn_error_clear();
        if (rc == CAIRN_ENOTFOUND || (rc == CAIRN_OK && (vl != strlen(id) || memcmp(v, id, vl))))
            rc = problem(k, ix->name, id, "collection %s: index '%s' lacks an entry of document "
                         "%s (or it names another document)", k->c->name, ix->name, id);
        cairn_free(v);
        (*entries)++;
    }
    dv_keys_dispose(&keys);
    return rc;
}

/* The first pass: every document's keys, looked up. */
static int check_docs(ck *k, const dv_index *ix, cairn_table *t, uint64_t *docs,
                      uint64_t *entries, dv_post_acc *want)
{
    cairn_cursor *cur = NULL;
    int rc = cairn_cursor_open(&cur, k->c->docs, k->snap, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *key, *v;
        size_t kl, vl;
        cairn_cursor_get(&key, &kl, &v, &vl, cur);
        char *id = cairn_strndup(key, kl);
        json_t *doc = NULL;
        if (!id) rc = ERR(CAIRN_ENOMEM, "out of memory");
        else if (dv_doc_parse(&doc, v, vl, k->c->name, id) != CAIRN_OK)
            rc = problem(k, "", id, "%s", cairn_error_last()->message);
        const json_t *jid = doc ? json_object_get(doc, "_id") : NULL;
        if (rc == CAIRN_OK && doc &&
            (!json_is_string(jid) || strcmp(json_string_value(jid), id) != 0))
            rc = problem(k, "", id, "collection %s: the document under key %s has another _id",
                         k->c->name, id);
        if (rc == CAIRN_OK && doc) rc = check_doc_keys(k, ix, t, doc, id, entries, want);
        json_decref(doc);
        free(id);
        (*docs)++;
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    cairn_cursor_close(cur);
    return rc;
}

/* Whether document id (as of the check's state) gives key in ix. */
static int doc_gives(bool *out, bool *exists, ck *k, const dv_index *ix, const char *id,
                     const void *key, size_t kl)
{
    *out = *exists = false;
    void *v = NULL;
    size_t vl = 0;
    int rc = cairn_get(&v, &vl, k->c->docs, k->snap, id, strlen(id));
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    *exists = true;
    json_t *doc = NULL;
    dv_keys keys = { 0 };
    bool mk = false;
    rc = dv_doc_parse(&doc, v, vl, k->c->name, id);
    cairn_free(v);
    if (rc != CAIRN_OK) { /* reported by the first pass */
        cairn_error_clear();
        return CAIRN_OK;
    }
    rc = dv_index_keys(&keys, &mk, ix, doc, id);
    for (size_t i = 0; rc == CAIRN_OK && i < keys.n && !*out; i++)
        *out = bytes_cmp(keys.k[i].key.data, keys.k[i].key.len, key, kl) == 0;
    dv_keys_dispose(&keys);
    json_decref(doc);
    return rc;
}

/* The second pass: every entry of the index, checked against the document it names. */
static int check_entries(ck *k, const dv_index *ix, cairn_table *t)
{
    cairn_cursor *cur = NULL;
    int rc = cairn_cursor_open(&cur, t, k->snap, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *key, *v;
        size_t kl, vl;
        cairn_cursor_get(&key, &kl, &v, &vl, cur);
        char *id = cairn_strndup(v, vl);
        bool gives = false, exists = false;
        rc = id ? doc_gives(&gives, &exists, k, ix, id, key, kl)
                : ERR(CAIRN_ENOMEM, "out of memory");
        char shown[96];
        if (rc == CAIRN_OK && !gives) {
            bytes_show(shown, sizeof shown, key, kl);
            rc = exists ? problem(k, ix->name, id, "collection %s: index '%s' holds an entry "
                                  "(key %s) naming document %s, which does not give it",
                                  k->c->name, ix->name, shown, id)
                        : problem(k, ix->name, id, "collection %s: index '%s' holds an entry "
                                  "(key %s) naming document %s, which does not exist",
                                  k->c->name, ix->name, shown, id);
        }
        free(id);
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    cairn_cursor_close(cur);
    return rc;
}

/* The word of a pair's key, for messages. */
static void word_show(char *out, size_t size, const uint8_t *prefix, size_t plen)
{
    /* a tuple bytes element of a token, which holds no zero byte: 0x01, the token, 0x00 */
    bytes_show(out, size, prefix + 1, plen >= 2 ? plen - 2 : 0);
}

/* A pair of a postings index that no document gives: its document is read to say why. */
static int stray_pair(ck *k, const dv_index *ix, const uint8_t *key, size_t plen,
                      const char *id, size_t idlen)
{
    char *s = cairn_strndup(id, idlen);
    FAIL_IF(!s, CAIRN_ENOMEM, "out of memory");
    void *v = NULL;
    size_t vl = 0;
    int rc = cairn_get(&v, &vl, k->c->docs, k->snap, s, idlen);
    bool exists = rc == CAIRN_OK;
    cairn_free(v);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    char word[96];
    word_show(word, sizeof word, key, plen);
    if (rc == CAIRN_OK)
        rc = problem(k, ix->name, s, "collection %s: index '%s' holds the word '%s' for document "
                     "%s, which %s", k->c->name, ix->name, word, s,
                     exists ? "does not give it" : "does not exist");
    free(s);
    return rc;
}

/* Walks the blocks of postings index ix (table t) against the pairs want holds (sorted):
 * every pair on both sides, every block readable, cut where the rule cuts. */
static int check_blocks(ck *k, const dv_index *ix, cairn_table *t, dv_post_acc *want)
{
    char what[160];
    snprintf(what, sizeof what, "collection %s: index '%s'", k->c->name, ix->name);
    int words = dv_post_acc_sort(want);
    TRY(words);
    dv_pcur *pc;
    int rc = dv_pcur_open(&pc, t, k->snap, NULL, 0, what);
    bool none = rc == CAIRN_ENOTFOUND; /* never written: no pairs */
    if (none) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    TRY(rc);
    size_t w = 0, j = 0, wn = 0;
    const uint8_t *wp = NULL;
    size_t wpl = 0;
    if (words > 0) dv_post_acc_word(want, 0, &wp, &wpl, &wn);
    cairn_buf last_block = CAIRN_BUF_INIT; /* the word of the block before, when it ended */
    bool last_cut = true;                  /* ... on a cut */
    cairn_buf prev = CAIRN_BUF_INIT;       /* the pair before (its key) */
    cairn_buf wkey = CAIRN_BUF_INIT;       /* the pair the documents give next (its key) */
    cairn_buf skip = CAIRN_BUF_INIT;       /* a damaged block's key: the pairs the documents
                                              give from it to the next block are not reported
                                              again (the damage was) */
    size_t skip_plen = 0;                  /* its word (0: no skip) */
    cairn_buf skip_to = CAIRN_BUF_INIT;    /* the key of the pair after it (empty: none yet) */
    cairn_buf back = CAIRN_BUF_INIT;       /* the key of the block last reported going back */
    bool have = false;                     /* the walk is on a pair */
    const uint8_t *key = NULL;
    const char *id = NULL;
    size_t kl = 0, plen = 0, idlen = 0;
    for (;;) {
        if (!have && !none) {
            rc = dv_pcur_next(pc);
            if (rc == CAIRN_ENOTFOUND) {
                cairn_error_clear();
                none = true;
                rc = CAIRN_OK;
            } else if (rc == CAIRN_ECORRUPT && dv_pcur_skippable(pc) && !k->first_only) {
                rc = problem(k, ix->name, NULL, "%s", cairn_error_last()->message);
                const uint8_t *bk;
                size_t bkl, at, n;
                dv_pcur_block(pc, &bk, &bkl, &at, &n);
                size_t plen2 = post_prefix_len(bk, bkl);
                bool extend = skip_plen && !skip_to.len && plen2 == skip_plen &&
                              memcmp(bk, skip.data, plen2) == 0; /* damaged blocks in a row */
                if (!extend) {
                    skip.len = 0;
                    skip_plen = plen2;
                    if (rc == CAIRN_OK) rc = cairn_buf_append(&skip, bk, bkl);
                }
                skip_to.len = 0;
                last_cut = true; /* no claim on where the block before it ends */
                if (rc) break;
                continue;
            }
            if (rc) break;
            if (!none) {
                have = true;
                rc = dv_pcur_get(pc, &key, &kl, &plen, &id, &idlen);
                if (rc) break;
                if (prev.len && bytes_cmp(key, kl, prev.data, prev.len) <= 0) {
                    const uint8_t *bk;
                    size_t bkl, at, n;
                    dv_pcur_block(pc, &bk, &bkl, &at, &n);
                    if (bkl != back.len || memcmp(bk, back.data, bkl) != 0) { /* once a block */
                        char word[96], shown[96];
                        word_show(word, sizeof word, key, plen);
                        bytes_show(shown, sizeof shown, bk, bkl);
                        rc = problem(k, ix->name, NULL, "%s: the block under key %s (word '%s') "
                                     "holds an id at or before one of the block before it",
                                     what, shown, word);
                        back.len = 0;
                        if (rc == CAIRN_OK) rc = cairn_buf_append(&back, bk, bkl);
                    }
                    have = false; /* not compared: it is the block that is wrong */
                    if (rc) break;
                    continue;
                }
                if (skip_plen && !skip_to.len) /* the damaged block's range ends here */
                    rc = cairn_buf_append(&skip_to, key, kl);
                if (rc) break;
                prev.len = 0;
                rc = cairn_buf_append(&prev, key, kl);
                if (rc) break;
                const uint8_t *bk;
                size_t bkl, at, n;
                dv_pcur_block(pc, &bk, &bkl, &at, &n);
                char word[96], shown[96];
                word_show(word, sizeof word, key, plen);
                if (at == 0 && !last_cut && last_block.len == plen &&
                    memcmp(last_block.data, key, plen) == 0) {
                    bytes_show(shown, sizeof shown, bk, bkl);
                    rc = problem(k, ix->name, NULL, "%s: the block before the one under key %s "
                                 "(word '%s') ends where the rule does not cut", what, shown,
                                 word);
                }
                bool cut = post_cut(id, idlen) || n == POST_MAX;
                if (rc == CAIRN_OK && at + 1 < n && post_cut(id, idlen)) {
                    bytes_show(shown, sizeof shown, bk, bkl);
                    rc = problem(k, ix->name, NULL, "%s: the block under key %s (word '%s') goes "
                                 "on past an id where the rule cuts", what, shown, word);
                }
                if (rc == CAIRN_OK && at + 1 == n) {
                    last_block.len = 0;
                    rc = cairn_buf_append(&last_block, key, plen);
                    last_cut = cut;
                }
                if (rc) break;
            }
        }
        /* the next pair the documents give (wid), against the walk's (id) */
        const char *wid = NULL;
        size_t wl = 0;
        while (words > 0 && (size_t)w < (size_t)words && j == wn) {
            if (++w < (size_t)words) dv_post_acc_word(want, w, &wp, &wpl, &wn);
            j = 0;
        }
        if ((size_t)w < (size_t)words) dv_post_acc_change(want, w, j, &wid, &wl);
        if (!wid && !have) break;
        if (wid && skip_plen) { /* within a damaged block's range: reported with it */
            wkey.len = 0;
            rc = post_key(&wkey, wp, wpl, wid, wl);
            if (rc) break;
            bool word = wpl == skip_plen && memcmp(wp, skip.data, wpl) == 0;
            bool after = bytes_cmp(wkey.data, wkey.len, skip.data, skip.len) >= 0;
            bool before_end = !skip_to.len ||
                              bytes_cmp(wkey.data, wkey.len, skip_to.data, skip_to.len) < 0;
            if (word && after && before_end) {
                j++;
                continue;
            }
            if (skip_to.len && !before_end) skip_plen = 0; /* past it */
        }
        int c = !wid ? 1 : !have ? -1 : bytes_cmp(wp, wpl, key, plen);
        if (c == 0) c = bytes_cmp(wid, wl, id, idlen);
        if (c < 0) { /* given, not held */
            char word[96], *s = cairn_strndup(wid, wl);
            word_show(word, sizeof word, wp, wpl);
            rc = s ? problem(k, ix->name, s, "collection %s: index '%s' lacks the word '%s' for "
                             "document %s", k->c->name, ix->name, word, s)
                   : ERR(CAIRN_ENOMEM, "out of memory");
            free(s);
            j++;
        } else if (c > 0) { /* held, not given */
            rc = stray_pair(k, ix, key, plen, id, idlen);
            have = false;
        } else {
            j++;
            have = false;
        }
        if (rc) break;
    }
    cairn_buf_dispose(&last_block);
    cairn_buf_dispose(&prev);
    cairn_buf_dispose(&wkey);
    cairn_buf_dispose(&skip);
    cairn_buf_dispose(&skip_to);
    cairn_buf_dispose(&back);
    dv_pcur_close(pc);
    return rc;
}

/* An index of one entry per key: the number it holds against the entries its documents give
 * (check_docs() looked each of those up); when they differ, or problems were found, every
 * entry is checked against its document. */
static int check_count(ck *k, const dv_index *ix, cairn_table *t, uint64_t entries,
                       uint64_t before)
{
    uint64_t held = 0;
    int rc = cairn_count(&held, t, k->snap, NULL);
    if (rc == CAIRN_ENOTFOUND) { /* never written: empty */
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    if (rc == CAIRN_OK && !k->first_only && (held != entries || k->st.problems > before))
        rc = check_entries(k, ix, t);
    if (rc == CAIRN_OK && held != entries && k->st.problems == before) /* else explained */
        rc = problem(k, ix->name, NULL, "collection %s: index '%s' holds %llu entries, its "
                     "documents give %llu", k->c->name, ix->name, (unsigned long long)held,
                     (unsigned long long)entries);
    return rc;
}

static int check_index(ck *k, const dv_index *ix)
{
    cairn_table *t;
    TRY(dv_index_table(&t, k->c, ix));
    uint64_t docs = 0, entries = 0, before = k->st.problems;
    dv_post_acc *want = NULL; /* a text index of blocks: the pairs the documents give */
    int rc = dv_postings(ix) ? dv_post_acc_new(&want) : CAIRN_OK;
    if (rc == CAIRN_OK) rc = check_docs(k, ix, t, &docs, &entries, want);
    if (rc == CAIRN_OK) rc = want ? check_blocks(k, ix, t, want)
                                  : check_count(k, ix, t, entries, before);
    dv_post_acc_free(want);
    cairn_table_close(t);
    k->st.documents = docs;
    k->st.entries += entries;
    return rc;
}

static int check_coll(ck *k)
{
    dv_catalog cat;
    TRY(dv_catalog_load(&cat, k->c, k->snap));
    int rc = cat.n ? CAIRN_OK : cairn_count(&k->st.documents, k->c->docs, k->snap, NULL);
    for (size_t i = 0; rc == CAIRN_OK && i < cat.n; i++) rc = check_index(k, &cat.idx[i]);
    dv_catalog_dispose(&cat);
    return rc;
}

int cairn_doc_check(cairn_doc_check_stats *out, cairn_coll *c, const cairn_snapshot *snap)
{
    FAIL_IF(!c, CAIRN_EINVAL, "cairn_doc_check: no collection given");
    ck k = { c, snap, NULL, true, NULL, NULL, { 0, 0, 0 } };
    TRY(check_coll(&k));
    if (out) *out = k.st;
    return CAIRN_OK;
}

int cairn_doc_check_each(cairn_doc_check_stats *out, cairn_coll *c, const cairn_snapshot *snap,
                         cairn_doc_problem_fn cb, void *payload)
{
    FAIL_IF(!c, CAIRN_EINVAL, "cairn_doc_check_each: no collection given");
    ck k = { c, snap, NULL, false, cb, payload, { 0, 0, 0 } };
    TRY(check_coll(&k));
    if (out) *out = k.st;
    return CAIRN_OK;
}

/* ---- every collection: cairn verify ---- */

typedef struct vwalk {
    cairn_db *db;
    const cairn_snapshot *snap;     /* NULL: the working state */
    const cairn_snapshot *head;     /* the walk of HEAD: skip what the working state has */
    const char *state;
    cairn_doc_problem_fn cb;
    void *payload;
    cairn_doc_verify_stats *st;
} vwalk;

/* Appends the root of table name as of snap (zeros when it does not exist there). */
static int add_root(cairn_buf *out, cairn_db *db, const char *name, const cairn_snapshot *snap)
{
    cairn_id id;
    memset(&id, 0, sizeof id);
    cairn_table *t;
    int rc = cairn_table_open(&t, db, name, CAIRN_TABLE_NAMEONLY | CAIRN_TABLE_INTERNAL);
    if (rc == CAIRN_OK) {
        rc = cairn_table_root(&id, t, snap);
        cairn_table_close(t);
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    TRY(rc);
    return cairn_buf_append(out, id.bytes, sizeof id.bytes);
}

/* What a collection's check reads, as of snap: the roots of its documents, its catalog and
 * each index it names. Equal states need one check. */
static int coll_state(cairn_buf *out, cairn_coll *c, const cairn_snapshot *snap)
{
    out->len = 0;
    char name[CAIRN_TABLE_NAME_LEN_MAX + 1];
    snprintf(name, sizeof name, "%s%s", CAIRN_DOC_COLL_PREFIX, c->name);
    TRY(add_root(out, c->db, name, snap));
    snprintf(name, sizeof name, "%s%s", CAIRN_DOC_CATALOG_PREFIX, c->name);
    TRY(add_root(out, c->db, name, snap));
    dv_catalog cat;
    TRY(dv_catalog_load(&cat, c, snap));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < cat.n; i++) {
        snprintf(name, sizeof name, "%s%s.%s", CAIRN_DOC_INDEX_PREFIX, c->name, cat.idx[i].name);
        rc = add_root(out, c->db, name, snap);
    }
    dv_catalog_dispose(&cat);
    return rc;
}

static int verify_one(const char *name, void *payload)
{
    vwalk *w = payload;
    cairn_coll *c;
    int rc = cairn_coll_open(&c, w->db, name, 0);
    if (rc == CAIRN_ENOTFOUND) { /* at HEAD only (dropped since): a handle needs it now */
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    bool same = false;
    if (w->head) { /* unchanged since HEAD: the working state's check covered it */
        cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
        rc = coll_state(&a, c, NULL);
        if (rc == CAIRN_OK) rc = coll_state(&b, c, w->head);
        same = rc == CAIRN_OK && a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
        cairn_buf_dispose(&a);
        cairn_buf_dispose(&b);
    }
    ck k = { c, w->snap, w->state, false, w->cb, w->payload, { 0, 0, 0 } };
    if (rc == CAIRN_OK && !same) {
        rc = check_coll(&k);
        w->st->collections++;
        w->st->documents += k.st.documents;
        w->st->entries += k.st.entries;
        w->st->problems += k.st.problems;
    }
    cairn_coll_close(c);
    return rc;
}

int cairn_doc_verify(cairn_doc_verify_stats *out, cairn_db *db, cairn_doc_problem_fn cb,
                     void *payload)
{
    FAIL_IF(!db, CAIRN_EINVAL, "cairn_doc_verify: no db given");
    cairn_doc_verify_stats st = { 0, 0, 0, 0 };
    vwalk w = { db, NULL, NULL, "working state", cb, payload, &st };
    TRY(cairn_coll_list(db, NULL, verify_one, &w));
    cairn_snapshot *head = NULL;
    int rc = cairn_snapshot_open_at(&head, db, "HEAD");
    if (rc == CAIRN_ENOTFOUND) { /* no commit yet */
        cairn_error_clear();
        rc = CAIRN_OK;
    } else if (rc == CAIRN_OK) {
        w.snap = w.head = head;
        w.state = "HEAD";
        rc = cairn_coll_list(db, head, verify_one, &w);
    }
    cairn_snapshot_close(head);
    if (rc == CAIRN_OK && out) *out = st;
    return rc;
}
