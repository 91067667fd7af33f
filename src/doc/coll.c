/*
 * coll.c - collections: the handle, the index catalog, index keys, and every write (insert,
 * upsert, replace, patch, delete, bulk insert, index create and drop).
 *
 * A write reads the current document and the catalog, builds the new document (metadata, then
 * its canonical form and hash), works out which index entries go and come, checks if_version,
 * an existing id and unique indexes, and puts all of it in one cairn_batch: the document, its
 * index entries and the catalog row (when an index becomes multikey) land together or not at
 * all. The handle's mutex makes the read and the batch one step for this handle's writers.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "db/db.h"
#include "db/tuple.h"
#include "doc/doc_int.h"
#include "doc/jparse.h"
#include "doc/post.h"

#define KEYS_PER_DOC_MAX 1000  /* entries one document may have in one index */
#define ID_RANDOM_BYTES 5      /* random part of a generated id (10 hex digits) */

/* ---- names ---- */

static int coll_name_check(const char *name)
{
    FAIL_IF(!name || !*name, CAIRN_EINVAL, "collection name: empty");
    size_t n = strlen(name);
    FAIL_IF(n > CAIRN_DOC_COLL_NAME_LEN_MAX, CAIRN_EINVAL,
            "collection name '%.40s...': longer than %u bytes", name, CAIRN_DOC_COLL_NAME_LEN_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '-';
        FAIL_IF(!ok, CAIRN_EINVAL,
                "collection name '%s': byte %zu is not a letter, digit, '_' or '-'", name, i);
    }
    return CAIRN_OK;
}

static char *table_of(const char *prefix, const char *coll, const char *index)
{
    return index ? cairn_sprintf("%s%s.%s", prefix, coll, index)
                 : cairn_sprintf("%s%s", prefix, coll);
}

/* Ids: 1..CAIRN_DOC_ID_LEN_MAX bytes of UTF-8, no control characters, '/' or '\'. */
int dv_id_check(const char *id, size_t n)
{
    FAIL_IF(n == 0, CAIRN_EINVAL, "document id: empty");
    FAIL_IF(n > CAIRN_DOC_ID_LEN_MAX, CAIRN_EINVAL, "document id '%.40s...': longer than %u bytes",
            id, CAIRN_DOC_ID_LEN_MAX);
    size_t bad = tuple_utf8_check((const uint8_t *)id, n);
    FAIL_IF(bad < n, CAIRN_EINVAL, "document id: invalid UTF-8 at byte %zu", bad);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        FAIL_IF(ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\', CAIRN_EINVAL,
                "document id '%.60s': byte %zu (0x%02x) is forbidden (control characters, '/' "
                "and '\\' are)", ch < 0x20 ? "(not shown)" : id, i, ch);
    }
    return CAIRN_OK;
}

/* ---- the handle ---- */

int cairn_coll_open(cairn_coll **out, cairn_db *db, const char *name, unsigned flags)
{
    FAIL_IF(!out || !db, CAIRN_EINVAL, "cairn_coll_open: out and db are required");
    *out = NULL;
    TRY(coll_name_check(name));
    FAIL_IF(flags & ~(unsigned)(CAIRN_COLL_CREATE | CAIRN_COLL_VERIFY_SIG), CAIRN_EINVAL,
            "unknown collection flags 0x%x", flags);
    cairn_coll *c = cairn_calloc(1, sizeof *c);
    char *tname = table_of(CAIRN_DOC_COLL_PREFIX, name, NULL);
    if (!c || !tname || !(c->name = cairn_strdup(name))) {
        if (c) free(c->name);
        free(c);
        free(tname);
        return ERR(CAIRN_ENOMEM, "out of memory opening collection %s", name);
    }
    unsigned tflags = CAIRN_TABLE_INTERNAL | ((flags & CAIRN_COLL_CREATE) ? CAIRN_TABLE_CREATE : 0);
    int rc = cairn_table_open(&c->docs, db, tname, tflags);
    free(tname);
    if (rc < 0) {
        free(c->name);
        free(c);
        return rc == CAIRN_ENOTFOUND
                   ? ERR(rc, "no collection '%s' (create it with a first insert)", name)
                   : cairn_error_prefix(rc, "opening collection '%s'", name);
    }
    c->db = db;
    c->flags = flags;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->cat_lock, NULL);
    *out = c;
    return CAIRN_OK;
}

void cairn_coll_close(cairn_coll *c)
{
    if (!c) return;
    cairn_table_close(c->docs);
    dv_find_spare_free(c);
    dv_catalog_put(c, c->cat); /* the cache's hold: no query or write holds one now */
    pthread_mutex_destroy(&c->cat_lock);
    pthread_mutex_destroy(&c->lock);
    free(c->name);
    free(c);
}

const char *cairn_coll_name(const cairn_coll *c)
{
    return c->name;
}

int cairn_coll_root(cairn_id *out, cairn_coll *c, const cairn_snapshot *snap)
{
    FAIL_IF(!out || !c, CAIRN_EINVAL, "cairn_coll_root: out and coll are required");
    return cairn_table_root(out, c->docs, snap);
}

typedef struct list_ctx {
    cairn_name_fn cb;
    void *payload;
} list_ctx;

static int list_one(const char *name, void *payload)
{
    list_ctx *l = payload;
    size_t n = strlen(CAIRN_DOC_COLL_PREFIX);
    if (strncmp(name, CAIRN_DOC_COLL_PREFIX, n) != 0) return 0;
    return l->cb(name + n, l->payload);
}

int cairn_coll_list(cairn_db *db, const cairn_snapshot *snap, cairn_name_fn cb, void *payload)
{
    FAIL_IF(!db || !cb, CAIRN_EINVAL, "cairn_coll_list: db and cb are required");
    list_ctx l = { cb, payload };
    return db_table_list_all(db, snap, list_one, &l);
}

/* ---- the catalog ---- */

static void index_dispose(dv_index *ix)
{
    free(ix->name);
    for (size_t i = 0; i < ix->nfields; i++) dv_path_dispose(&ix->fields[i]);
    memset(ix, 0, sizeof *ix);
}

void dv_catalog_dispose(dv_catalog *c)
{
    for (size_t i = 0; i < c->n; i++) index_dispose(&c->idx[i]);
    free(c->idx);
    cairn_buf_dispose(&c->raw);
    memset(c, 0, sizeof *c);
}

const dv_index *dv_catalog_text(const dv_catalog *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->idx[i].flags & CAIRN_INDEX_TEXT) return &c->idx[i];
    return NULL;
}

static int catalog_table(cairn_table **out, cairn_coll *c, unsigned flags)
{
    char *name = table_of(CAIRN_DOC_CATALOG_PREFIX, c->name, NULL);
    FAIL_IF(!name, CAIRN_ENOMEM, "out of memory");
    int rc = cairn_table_open(out, c->db, name, flags | CAIRN_TABLE_INTERNAL);
    free(name);
    return rc;
}

/* Decodes one catalog row: {"fields":[...],"flags":N,"multikey":B}. */
static int index_decode(dv_index *ix, const char *name, size_t nlen, const void *val, size_t vlen,
                        const char *coll)
{
    memset(ix, 0, sizeof *ix);
    json_t *j = NULL;
    int rc = canon_parse(&j, val, vlen, "index catalog row");
    json_t *fields = j ? json_object_get(j, "fields") : NULL;
    if (rc == CAIRN_OK && (!json_is_array(fields) || json_array_size(fields) == 0 ||
                           json_array_size(fields) > CAIRN_DOC_INDEX_FIELDS_MAX ||
                           !json_is_integer(json_object_get(j, "flags"))))
        rc = CORRUPT("collection %s: the catalog row of index '%.*s' is not a valid definition",
                     coll, (int)nlen, name);
    if (rc == CAIRN_OK && !(ix->name = cairn_strndup(name, nlen)))
        rc = ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == CAIRN_OK && i < json_array_size(fields); i++) {
        const char *f = json_string_value(json_array_get(fields, i));
        rc = f ? dv_path_parse(&ix->fields[i], f, "index field")
               : CORRUPT("collection %s: index '%s' has a field that is not a string", coll,
                         ix->name);
        if (rc == CAIRN_OK) ix->nfields++;
    }
    if (rc == CAIRN_OK) {
        json_int_t f = json_integer_value(json_object_get(j, "flags"));
        ix->flags = (unsigned)f;
        ix->multikey = json_is_true(json_object_get(j, "multikey"));
        /* 0, unique, text of one entry per pair (older), text of posting blocks: others would
         * be a form this version cannot keep (its entries written wrong if it tried) */
        if (f != 0 && f != CAIRN_INDEX_UNIQUE && f != CAIRN_INDEX_TEXT &&
            f != (CAIRN_INDEX_TEXT | DV_INDEX_POSTINGS))
            rc = CORRUPT("collection %s: index '%s' has flags %lld, which this version of cairn "
                         "does not know (made by a newer version?): nothing was read or "
                         "written", coll, ix->name, (long long)f);
        if (rc == CAIRN_OK && (f & CAIRN_INDEX_TEXT) && ix->nfields != 1)
            rc = CORRUPT("collection %s: text index '%s' has %zu fields", coll, ix->name,
                         ix->nfields);
    }
    json_decref(j);
    if (rc < 0) index_dispose(ix);
    return rc;
}

static int index_encode(cairn_buf *out, const dv_index *ix)
{
    json_t *j = json_object();
    json_t *f = json_array();
    int rc = j && f ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == CAIRN_OK && i < ix->nfields; i++)
        if (json_array_append_new(f, json_string(ix->fields[i].text)))
            rc = ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK && (json_object_set(j, "fields", f) ||
                           json_object_set_new(j, "flags", json_integer(ix->flags)) ||
                           json_object_set_new(j, "multikey", json_boolean(ix->multikey))))
        rc = ERR(CAIRN_ENOMEM, "out of memory");
    out->len = 0;
    if (rc == CAIRN_OK) rc = canon_write(out, j, NULL, "index definition");
    json_decref(f);
    json_decref(j);
    return rc;
}

/* Appends a catalog row to raw (memory only): a 4-byte length before its name and its value. */
static int raw_add(cairn_buf *raw, const void *k, size_t kl, const void *v, size_t vl)
{
    uint8_t len[8];
    store_le32(len, (uint32_t)kl);
    store_le32(len + 4, (uint32_t)vl);
    TRY(cairn_buf_append(raw, len, 4));
    TRY(cairn_buf_append(raw, k, kl));
    TRY(cairn_buf_append(raw, len + 4, 4));
    return cairn_buf_append(raw, v, vl);
}

/* The catalog's rows as of snap, as raw_add() writes them, into raw (empty: no index). */
static int catalog_read(cairn_buf *raw, cairn_coll *c, const cairn_snapshot *snap)
{
    raw->len = 0;
    cairn_table *t;
    TRY(catalog_table(&t, c, CAIRN_TABLE_NAMEONLY));
    cairn_cursor *cur = NULL; /* (left unset by a failed open) */
    int rc = cairn_cursor_open(&cur, t, snap, NULL);
    if (rc == CAIRN_ENOTFOUND) { /* no index was ever made (in this version) */
        cairn_error_clear();
        cairn_table_close(t);
        return CAIRN_OK;
    }
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        rc = raw_add(raw, k, kl, v, vl);
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    cairn_cursor_close(cur);
    cairn_table_close(t);
    return rc;
}

/* Decodes out->raw into out's index definitions. */
static int catalog_decode(dv_catalog *out, const char *coll)
{
    if (!out->raw.len) return CAIRN_OK; /* no index (and maybe no buffer) */
    const uint8_t *p = out->raw.data, *end = p + out->raw.len;
    size_t cap = 0;
    while (p < end) { /* raw_add() wrote it: the lengths hold */
        size_t kl = load_le32(p);
        const uint8_t *k = p + 4;
        size_t vl = load_le32(k + kl);
        const uint8_t *v = k + kl + 4;
        p = v + vl;
        TRY(cairn_array_room(&out->idx, &cap, out->n, sizeof *out->idx, 4));
        TRY(index_decode(&out->idx[out->n], (const char *)k, kl, v, vl, coll));
        out->n++;
    }
    return CAIRN_OK;
}

int dv_catalog_load(dv_catalog *out, cairn_coll *c, const cairn_snapshot *snap)
{
    memset(out, 0, sizeof *out);
    int rc = catalog_read(&out->raw, c, snap);
    if (rc == CAIRN_OK) rc = catalog_decode(out, c->name);
    if (rc < 0) dv_catalog_dispose(out);
    return rc;
}

/* Drops one holder of a shared catalog (cat_lock held); the last frees it. */
static void catalog_unref(dv_catalog *cat)
{
    if (cat && --cat->refs == 0) {
        dv_catalog_dispose(cat);
        free(cat);
    }
}

int dv_catalog_get(const dv_catalog **out, cairn_coll *c, const cairn_snapshot *snap)
{
    *out = NULL;
    cairn_buf raw = CAIRN_BUF_INIT;
    int rc = catalog_read(&raw, c, snap);
    pthread_mutex_lock(&c->cat_lock);
    if (rc == CAIRN_OK && c->cat && bytes_cmp(c->cat->raw.data, c->cat->raw.len, raw.data,
                                              raw.len) == 0) {
        c->cat->refs++;
        *out = c->cat;
    }
    pthread_mutex_unlock(&c->cat_lock);
    if (rc < 0 || *out) {
        cairn_buf_dispose(&raw);
        return rc;
    }
    dv_catalog *cat = cairn_calloc(1, sizeof *cat);
    if (!cat) {
        cairn_buf_dispose(&raw);
        return ERR(CAIRN_ENOMEM, "out of memory reading the catalog of collection %s", c->name);
    }
    cat->raw = raw;
    rc = catalog_decode(cat, c->name);
    if (rc < 0) {
        dv_catalog_dispose(cat);
        free(cat);
        return rc;
    }
    cat->refs = 2; /* the caller's and the cache's */
    pthread_mutex_lock(&c->cat_lock);
    catalog_unref(c->cat);
    c->cat = cat;
    pthread_mutex_unlock(&c->cat_lock);
    *out = cat;
    return CAIRN_OK;
}

void dv_catalog_put(cairn_coll *c, const dv_catalog *cat)
{
    if (!cat) return;
    pthread_mutex_lock(&c->cat_lock);
    catalog_unref((dv_catalog *)cat);
    pthread_mutex_unlock(&c->cat_lock);
}

int dv_index_table(cairn_table **out, cairn_coll *c, const dv_index *ix)
{
    char *name = table_of(CAIRN_DOC_INDEX_PREFIX, c->name, ix->name);
    FAIL_IF(!name, CAIRN_ENOMEM, "out of memory");
    int rc = cairn_table_open(out, c->db, name, CAIRN_TABLE_NAMEONLY | CAIRN_TABLE_INTERNAL);
    free(name);
    return rc;
}

/* ---- index keys ---- */

void dv_keys_dispose(dv_keys *k)
{
    for (size_t i = 0; i < MAX(k->n, k->held); i++) cairn_buf_dispose(&k->k[i].key);
    free(k->k);
    memset(k, 0, sizeof *k);
}

void dv_keys_reset(dv_keys *k)
{
    k->held = MAX(k->n, k->held);
    k->n = 0;
}

/* The next entry of k, emptied (its buffer reused when it has one); the caller counts it
 * (k->n++) once it is filled. NULL when out of memory (the error is set). */
static dv_key *keys_slot(dv_keys *k)
{
    if (cairn_array_room(&k->k, &k->cap, k->n, sizeof *k->k, 8) < 0) return NULL;
    dv_key *e = &k->k[k->n];
    if (k->n >= k->held) {
        cairn_buf empty = CAIRN_BUF_INIT;
        e->key = empty;
        k->held = k->n + 1;
    }
    e->key.len = 0;
    e->vlen = 0;
    e->missing = false;
    return e;
}

static int key_cmp(const void *a, const void *b)
{
    const dv_key *x = a, *y = b;
    return bytes_cmp(x->key.data, x->key.len, y->key.data, y->key.len);
}

/* Sorts keys[from..) and drops duplicates (their buffers move past the end, kept for reuse).
 * A document's few keys (a text's words) sort by insertion: qsort() costs more for them. */
static void keys_sort_unique(dv_keys *k, size_t from)
{
    if (k->n - from < 2) return;
    if (k->n - from <= 16) {
        for (size_t i = from + 1; i < k->n; i++) {
            dv_key x = k->k[i];
            size_t j = i;
            for (; j > from && key_cmp(&k->k[j - 1], &x) > 0; j--) k->k[j] = k->k[j - 1];
            k->k[j] = x;
        }
    } else {
        qsort(k->k + from, k->n - from, sizeof *k->k, key_cmp);
    }
    size_t w = from;
    for (size_t i = from; i < k->n; i++) {
        if (w > from && key_cmp(&k->k[w - 1], &k->k[i]) == 0) continue;
        dv_key t = k->k[w];
        k->k[w++] = k->k[i];
        k->k[i] = t;
    }
    k->held = MAX(k->n, k->held);
    k->n = w;
}

/* Ends key e (its values' encodings in it, vlen set): appends the id, checks the size. */
static int key_finish(dv_key *e, const char *id, const dv_index *ix)
{
    TRY(tuple_append_string(&e->key, id, strlen(id)));
    FAIL_IF(e->key.len > CAIRN_KEY_LEN_MAX, CAIRN_EINVAL,
            "document %s: index '%s': the value is too large to index (%zu bytes of key, the "
            "limit is %u)", id, ix->name, e->key.len, CAIRN_KEY_LEN_MAX);
    return CAIRN_OK;
}

static int keys_add(dv_keys *k, const void *vals, size_t vlen, bool missing, const char *id,
                    const dv_index *ix)
{
    dv_key *e = keys_slot(k);
    if (!e) return cairn_error_last()->code;
    e->vlen = vlen;
    e->missing = missing;
    TRY(cairn_buf_set(&e->key, vals, vlen));
    TRY(key_finish(e, id, ix));
    k->n++;
    return CAIRN_OK;
}

typedef struct encs {
    dv_keys set;             /* the encodings of one field's values (key.len == vlen) */
} encs;

static int add_enc(const json_t *v, void *payload)
{
    dv_keys *k = payload;
    dv_key *e = keys_slot(k);
    if (!e) return cairn_error_last()->code;
    TRY(dv_encode(&e->key, v));
    e->vlen = e->key.len;
    e->missing = v == NULL;
    k->n++;
    return CAIRN_OK;
}

/* A one-field index: each value's encoding, then the id, straight into the keys. */
typedef struct single_ctx {
    dv_keys *out;
    const char *id;
    const dv_index *ix;
} single_ctx;

static int add_single(const json_t *v, void *payload)
{
    single_ctx *s = payload;
    TRY(add_enc(v, s->out));
    return key_finish(&s->out->k[s->out->n - 1], s->id, s->ix);
}

typedef struct text_ctx {
    dv_keys *out;
    const char *id;
    const dv_index *ix;
    cairn_buf tmp;
} text_ctx;

static int add_token(const char *tok, size_t len, void *payload)
{
    text_ctx *t = payload;
    if (dv_postings(t->ix)) { /* the word alone, its blocks hold the ids: a tuple bytes
                                 element, written here (a token holds no zero byte to escape) */
        dv_key *e = keys_slot(t->out);
        if (!e) return cairn_error_last()->code;
        TRY(cairn_buf_reserve(&e->key, len + 2));
        e->key.data[0] = 0x01;
        memcpy(e->key.data + 1, tok, len);
        e->key.data[len + 1] = 0x00;
        e->key.len = e->vlen = len + 2;
        t->out->n++;
        return CAIRN_OK;
    }
    t->tmp.len = 0;
    TRY(tuple_append_bytes(&t->tmp, tok, len));
    return keys_add(t->out, t->tmp.data, t->tmp.len, false, t->id, t->ix);
}

static int text_value(const json_t *v, void *payload)
{
    if (!json_is_string(v)) return CAIRN_OK;
    return dv_tokens(json_string_value(v), json_string_length(v), add_token, payload);
}

/* The cartesian product of the fields' value sets, from field i on, after prefix. */
/* The limit on one document's entries in one index: n of them is too many? */
static int keys_limit(size_t n, const dv_index *ix, const char *id)
{
    FAIL_IF(n > KEYS_PER_DOC_MAX, CAIRN_EINVAL,
            "document %s: index '%s' would need more than %d entries for it (%s)", id, ix->name,
            KEYS_PER_DOC_MAX, ix->nfields > 1 ? "arrays on several indexed fields multiply"
                                              : "an array of that many distinct values on the "
                                                "indexed field");
    return CAIRN_OK;
}

static int product(dv_keys *out, dv_keys *sets, size_t i, const dv_index *ix, cairn_buf *prefix,
                   bool missing, const char *id)
{
    if (i == ix->nfields) {
        TRY(keys_limit(out->n + 1, ix, id));
        return keys_add(out, prefix->data, prefix->len, missing, id, ix);
    }
    size_t at = prefix->len;
    for (size_t k = 0; k < sets[i].n; k++) {
        prefix->len = at;
        TRY(cairn_buf_append(prefix, sets[i].k[k].key.data, sets[i].k[k].key.len));
        bool m = missing || sets[i].k[k].missing;
        TRY(product(out, sets, i + 1, ix, prefix, m, id));
    }
    prefix->len = at;
    return CAIRN_OK;
}

/* As dv_index_keys(); sorted false: a postings index's words may come unsorted and repeated
 * (a bulk's changes are gathered per word, and a word given twice counts once). */
static int index_keys(dv_keys *out, bool *multikey, const dv_index *ix, const json_t *doc,
                      const char *id, bool sorted)
{
    size_t from = out->n;
    if (ix->flags & CAIRN_INDEX_TEXT) {
        text_ctx t = { out, id, ix, CAIRN_BUF_INIT };
        int rc = dv_each(doc, &ix->fields[0], multikey, text_value, &t);
        cairn_buf_dispose(&t.tmp);
        TRY(rc);
        if (sorted || !dv_postings(ix)) keys_sort_unique(out, from);
        return CAIRN_OK;
    }
    if (ix->nfields == 1) {
        single_ctx sc = { out, id, ix };
        TRY(dv_each(doc, &ix->fields[0], multikey, add_single, &sc));
        if (out->n == from) TRY(add_single(NULL, &sc)); /* missing */
        keys_sort_unique(out, from);
        return keys_limit(out->n, ix, id);
    }
    dv_keys sets[CAIRN_DOC_INDEX_FIELDS_MAX];
    memset(sets, 0, sizeof sets);
    cairn_buf prefix = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < ix->nfields; i++) {
        rc = dv_each(doc, &ix->fields[i], multikey, add_enc, &sets[i]);
        if (rc == CAIRN_OK && sets[i].n == 0) rc = add_enc(NULL, &sets[i]); /* missing */
        if (rc == CAIRN_OK) keys_sort_unique(&sets[i], 0);
    }
    if (rc == CAIRN_OK) rc = product(out, sets, 0, ix, &prefix, false, id);
    for (size_t i = 0; i < ix->nfields; i++) dv_keys_dispose(&sets[i]);
    cairn_buf_dispose(&prefix);
    TRY(rc);
    keys_sort_unique(out, from);
    return CAIRN_OK;
}

int dv_index_keys(dv_keys *out, bool *multikey, const dv_index *ix, const json_t *doc,
                  const char *id)
{
    return index_keys(out, multikey, ix, doc, id, true);
}

/* ---- a set of byte strings (unique values within a bulk or an index build) ---- */

typedef struct bset_entry {
    uint8_t *bytes;          /* NULL: free slot */
    size_t len;
    char *id;                /* the document that holds the value */
} bset_entry;

typedef struct bset {
    bset_entry *e;
    size_t cap, n;
} bset;

static void bset_dispose(bset *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->e[i].bytes);
        free(s->e[i].id);
    }
    free(s->e);
    memset(s, 0, sizeof *s);
}

static bset_entry *bset_slot(bset *s, const void *b, size_t len)
{
    size_t i = hash_xxh3(b, len, 0) & (s->cap - 1);
    while (s->e[i].bytes && (s->e[i].len != len || memcmp(s->e[i].bytes, b, len) != 0))
        i = (i + 1) & (s->cap - 1);
    return &s->e[i];
}

/* Adds (b, id); when b is there already, *other gets the id that holds it and nothing changes. */
static int bset_add(bset *s, const void *b, size_t len, const char *id, const char **other)
{
    *other = NULL;
    if ((s->n + 1) * 2 > s->cap) {
        bset grown = { cairn_calloc(s->cap ? s->cap * 2 : 64, sizeof(bset_entry)),
                       s->cap ? s->cap * 2 : 64, s->n };
        FAIL_IF(!grown.e, CAIRN_ENOMEM, "out of memory checking unique values");
        for (size_t i = 0; i < s->cap; i++)
            if (s->e[i].bytes) *bset_slot(&grown, s->e[i].bytes, s->e[i].len) = s->e[i];
        free(s->e);
        *s = grown;
    }
    bset_entry *e = bset_slot(s, b, len);
    if (e->bytes) {
        *other = e->id;
        return CAIRN_OK;
    }
    e->bytes = cairn_malloc(len ? len : 1);
    e->id = cairn_strdup(id);
    if (!e->bytes || !e->id) {
        free(e->bytes);
        free(e->id);
        e->bytes = NULL;
        e->id = NULL;
        return ERR(CAIRN_ENOMEM, "out of memory checking unique values");
    }
    memcpy(e->bytes, b, len);
    e->len = len;
    s->n++;
    return CAIRN_OK;
}

/* ---- building documents ---- */

/* The date and time part of _ts for the last second formatted: a bulk insert formats the same
 * second for thousands of documents. */
typedef struct ts_cache {
    int64_t secs;            /* -1: none yet */
    char text[32];           /* "YYYY-MM-DDTHH:MM:SS." */
    size_t len;
} ts_cache;

#define TS_CACHE_INIT { -1, "", 0 }

/* _ts of a time in ns: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (UTC). */
static void ts_format(char out[64], int64_t ns, ts_cache *tc)
{
    int64_t secs = ns / 1000000000;
    if (secs != tc->secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        int n = snprintf(tc->text, sizeof tc->text, "%04d-%02d-%02dT%02d:%02d:%02d.",
                         (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                         tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
        tc->len = (size_t)n;
        tc->secs = secs;
    }
    memcpy(out, tc->text, tc->len);
    uint64_t us = (uint64_t)(ns % 1000000000 / 1000) % 1000000;
    size_t len = tc->len + canon_decimal(out + tc->len, us, false, 6);
    memcpy(out + len, "Z", 2);
}

/* The time part of a new id made at now: kept increasing within the handle (its lock held). */
static int64_t id_time(cairn_coll *c, int64_t now)
{
    if (now <= c->last_id_ns) now = c->last_id_ns + 1;
    c->last_id_ns = now;
    return now;
}

/* A new id of time part ns: the time, then random digits. */
static void id_format(char out[40], int64_t ns)
{
    uint8_t rnd[ID_RANDOM_BYTES];
    randombytes_buf(rnd, sizeof rnd);
    char hex[2 * ID_RANDOM_BYTES + 1];
    hex_encode(hex, rnd, sizeof rnd);
    snprintf(out, 40, "%016llx%s", (unsigned long long)ns, hex);
}

/* A new id: the time in ns (kept increasing within the handle) and random digits. */
static void id_generate(char out[40], cairn_coll *c, int64_t now)
{
    id_format(out, id_time(c, now));
}

/* The limits of a write: the options', else canonical JSON's defaults, and never more bytes
 * than a table value holds. */
static canon_limits limits_of(const cairn_doc_write_options *o)
{
    canon_limits l = CANON_LIMITS_DEFAULT;
    l.max_bytes = MIN(l.max_bytes, (size_t)CAIRN_VALUE_LEN_MAX);
    if (o && o->max_bytes) l.max_bytes = MIN(o->max_bytes, (size_t)CAIRN_VALUE_LEN_MAX);
    if (o && o->max_depth) l.max_depth = o->max_depth;
    if (o && o->max_fields) l.max_fields = o->max_fields;
    return l;
}

#define HASH_NAME "_hash"
#define HASH_MEMBER_BYTES (sizeof "\"" HASH_NAME "\":\"\"," - 1 + 2 * CAIRN_ID_SIZE)

/* Where "_hash" goes among the members of a canonical object: before the first member whose
 * name sorts after it (offset of its quote), else at the end (the closing brace). */
typedef struct hash_at {
    size_t at;
    bool found, escaped;
} hash_at;

static int find_hash_at(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                        void *payload)
{
    (void)val;
    (void)vlen;
    hash_at *h = payload;
    if (memchr(name, '\\', nlen)) { /* an escaped name: its bytes are not its sort order */
        h->escaped = true;
        return 1;
    }
    if (bytes_cmp(name, nlen, HASH_NAME, sizeof HASH_NAME - 1) > 0) {
        h->at = at;
        h->found = true;
        return 1;
    }
    return 0;
}

/* out holds the canonical form of a document without _hash; inserts "_hash":"hex" where
 * canon_write() would put it, without writing the document again. false: it could not (an
 * escaped member name, or the limit reached: the caller writes it again, which says why). */
static bool splice_hash(cairn_buf *out, const char hex[CAIRN_ID_HEX_SIZE],
                        const canon_limits *lim)
{
    hash_at h = { 0, false, false };
    if (out->len + HASH_MEMBER_BYTES > lim->max_bytes ||
        canon_members((const char *)out->data, out->len, find_hash_at, &h) < 0 || h.escaped) {
        cairn_error_clear();
        return false;
    }
    char member[HASH_MEMBER_BYTES + 1];
    size_t at = h.found ? h.at : out->len - 1, n;
    bool first = out->len == 2, last = !h.found; /* the separators it needs */
    n = (size_t)snprintf(member, sizeof member, "%s\"" HASH_NAME "\":\"%s\"%s",
                         last && !first ? "," : "", hex, last ? "" : ",");
    if (cairn_buf_reserve(out, out->len + n) < 0) {
        cairn_error_clear();
        return false;
    }
    memmove(out->data + at + n, out->data + at, out->len - at);
    memcpy(out->data + at, member, n);
    out->len += n;
    return true;
}

/* Sets _v, _ts, _sig (with a signer, for collection coll) and _hash of doc and writes its
 * canonical form into out. */
static int finish_doc(cairn_buf *out, json_t *doc, int64_t v_new, int64_t now, ts_cache *tc,
                      const canon_limits *lim, const char *id, cairn_signer *signer,
                      const char *coll)
{
    char ts[64];
    ts_format(ts, now, tc);
    json_object_del(doc, HASH_NAME);
    json_object_del(doc, "_sig"); /* never kept: it signed another version */
    FAIL_IF(json_object_set_new(doc, "_v", json_integer(v_new)) ||
                json_object_set_new(doc, "_ts", json_string(ts)),
            CAIRN_ENOMEM, "out of memory");
    out->len = 0;
    char what[CAIRN_DOC_ID_LEN_MAX + 16] = "document ";
    size_t idlen = strlen(id), at = strlen(what);
    if (idlen > sizeof what - at - 1) idlen = sizeof what - at - 1;
    memcpy(what + at, id, idlen);
    what[at + idlen] = '\0';
    TRY(canon_write(out, doc, lim, what));
    if (signer) { /* out: the form without _hash and _sig, what is signed */
        TRY(dv_sig_add(doc, out, signer, coll));
        out->len = 0;
        TRY(canon_write(out, doc, lim, what));
    }
    cairn_id h;
    char hex[CAIRN_ID_HEX_SIZE];
    hash_sha256(&h, out->data, out->len);
    cairn_id_to_hex(hex, &h);
    FAIL_IF(json_object_set_new(doc, HASH_NAME, json_string(hex)), CAIRN_ENOMEM, "out of memory");
    if (splice_hash(out, hex, lim)) return CAIRN_OK;
    out->len = 0;
    return canon_write(out, doc, lim, what);
}

/* Parses JSON text that must be an object (what: for messages). */
static int parse_object(json_t **out, const char *json, size_t len, const char *what)
{
    FAIL_IF(!json, CAIRN_EINVAL, "%s: no JSON given", what);
    TRY(canon_parse(out, json, len, what));
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ERR(CAIRN_EINVAL, "%s: a document must be a JSON object", what);
    }
    return CAIRN_OK;
}

/* The _id of doc, checked; NULL when it has none. */
static int doc_id(const char **out, const json_t *doc)
{
    const json_t *v = json_object_get(doc, "_id");
    *out = NULL;
    if (!v) return CAIRN_OK;
    FAIL_IF(!json_is_string(v), CAIRN_EINVAL, "document _id: must be a string");
    TRY(dv_id_check(json_string_value(v), json_string_length(v)));
    FAIL_IF(strlen(json_string_value(v)) != json_string_length(v), CAIRN_EINVAL,
            "document _id: holds a zero byte");
    *out = json_string_value(v);
    return CAIRN_OK;
}

/* RFC 7386: applies patch to target (both owned by the caller); returns the result (new ref). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) return json_deep_copy(patch);
    json_t *t = json_is_object(target) ? json_incref(target) : json_object();
    if (!t) return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(t, k);
            continue;
        }
        json_t *merged = merge_patch(json_object_get(t, k), v);
        if (!merged || json_object_set_new(t, k, merged)) {
            json_decref(t);
            return NULL;
        }
    }
    return t;
}

/* ---- one write ---- */

typedef enum wmode { W_INSERT, W_UPSERT, W_REPLACE, W_PATCH, W_DELETE } wmode;

typedef struct wctx {
    cairn_coll *c;
    const dv_catalog *cat;   /* shared (dv_catalog_get): never changed here */
    cairn_table **itabs;     /* per catalog index (opened for writing) */
    bool *mk_put;            /* per catalog index: this write puts its row as multikey */
    cairn_table *cat_table;  /* the catalog, when a row changes */
    cairn_batch *batch;
    cairn_buf tmp;
    ts_cache ts;
    dv_keys ok, nk;          /* a document's old and new keys in one index (memory reused) */
    dv_post_acc *post;       /* the changes to the text index's postings (NULL: it has none) */
    size_t post_ix;          /* ... the index */
} wctx;

static void wctx_dispose(wctx *w)
{
    for (size_t i = 0; w->itabs && w->cat && i < w->cat->n; i++) cairn_table_close(w->itabs[i]);
    free(w->itabs);
    free(w->mk_put);
    cairn_table_close(w->cat_table);
    dv_catalog_put(w->c, w->cat);
    cairn_batch_free(w->batch);
    cairn_buf_dispose(&w->tmp);
    dv_keys_dispose(&w->ok);
    dv_keys_dispose(&w->nk);
    dv_post_acc_free(w->post);
}

static int wctx_init(wctx *w, cairn_coll *c)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    ts_cache tc = TS_CACHE_INIT;
    w->ts = tc;
    TRY(dv_catalog_get(&w->cat, c, NULL));
    size_t n = w->cat->n ? w->cat->n : 1;
    w->itabs = cairn_calloc(n, sizeof *w->itabs);
    w->mk_put = cairn_calloc(n, sizeof *w->mk_put);
    FAIL_IF(!w->itabs || !w->mk_put, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->cat->n; i++) {
        char *name = table_of(CAIRN_DOC_INDEX_PREFIX, c->name, w->cat->idx[i].name);
        FAIL_IF(!name, CAIRN_ENOMEM, "out of memory");
        int rc = cairn_table_open(&w->itabs[i], c->db, name,
                                  CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER | CAIRN_TABLE_INTERNAL);
        free(name);
        TRY(rc);
        if (dv_postings(&w->cat->idx[i])) {
            TRY(dv_post_acc_new(&w->post));
            w->post_ix = i;
        }
    }
    return cairn_batch_new(&w->batch, c->db);
}

/* Commits w's batch, with the text index's postings as the batch changes them. */
static int wctx_commit(wctx *w)
{
    if (dv_post_acc_any(w->post)) {
        const dv_index *ix = &w->cat->idx[w->post_ix];
        char what[160];
        snprintf(what, sizeof what, "collection %s: index '%s'", w->c->name, ix->name);
        TRY(dv_post_acc_flush(w->post, w->batch, w->itabs[w->post_ix], what));
    }
    return cairn_batch_commit(w->batch);
}

/* Checks that no other document holds key's values in unique index ix (table t). */
static int unique_check(cairn_table *t, const dv_index *ix, const dv_key *key, const char *id,
                        const char *coll)
{
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = key->key.data;
    r.prefix_len = key->vlen;
    cairn_cursor *cur;
    int rc = cairn_cursor_open(&cur, t, NULL, &r);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    while ((rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *v;
        size_t vl;
        cairn_cursor_get(NULL, NULL, &v, &vl, cur);
        if (vl == strlen(id) && memcmp(v, id, vl) == 0) continue;
        rc = ERR(CAIRN_ECONFLICT, "collection %s: unique index '%s': document %.*s already has "
                 "the value that document %s would have", coll, ix->name, (int)vl, (const char *)v,
                 id);
        break;
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

/* Puts a catalog row for ix (after its multikey flag changed, or on create). */
static int catalog_put(wctx *w, const dv_index *ix)
{
    if (!w->cat_table)
        TRY(catalog_table(&w->cat_table, w->c, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    TRY(index_encode(&w->tmp, ix));
    return cairn_batch_put(w->batch, w->cat_table, ix->name, strlen(ix->name), w->tmp.data,
                           w->tmp.len);
}

/* Whether old and new give ix the same keys: every field's top-level member is equal in both
 * (its keys come from that member alone). A patch of other fields then costs ix nothing. */
static bool same_keys(const dv_index *ix, const json_t *old, const json_t *new)
{
    if (!old || !new) return false;
    for (size_t f = 0; f < ix->nfields; f++) {
        const char *top = ix->fields[f].seg[0];
        if (!json_equal(json_object_get(old, top), json_object_get(new, top)) &&
            (json_object_get(old, top) || json_object_get(new, top)))
            return false;
    }
    return true;
}

/* Whether key k of index ix has its value checked for uniqueness. */
static bool unique_key(const dv_index *ix, const dv_key *k)
{
    return (ix->flags & CAIRN_INDEX_UNIQUE) && !k->missing;
}

/* Puts new key k of index i (document id) in the batch, after checking a unique index's value
 * against the collection (without seen) or, with seen (a bulk, whose preparing checked the
 * collection), against the documents added before in the batch. */
static int key_put(wctx *w, size_t i, const dv_key *k, const char *id, bset *seen)
{
    const dv_index *ix = &w->cat->idx[i];
    if (unique_key(ix, k)) {
        if (!seen) TRY(unique_check(w->itabs[i], ix, k, id, w->c->name));
        const char *other = NULL;
        if (seen) TRY(bset_add(seen, k->key.data, k->vlen, id, &other));
        FAIL_IF(other && strcmp(other, id) != 0, CAIRN_ECONFLICT,
                "collection %s: unique index '%s': document %s already has the value that "
                "document %s would have", w->c->name, ix->name, other, id);
    }
    return cairn_batch_put(w->batch, w->itabs[i], k->key.data, k->key.len, id, strlen(id));
}

/* A document met an array on index i's paths (mk): the first such write of the batch puts
 * the index's catalog row as multikey. The shared catalog stays as read: the next read sees
 * the new row. */
static int multikey_put(wctx *w, size_t i, bool mk)
{
    const dv_index *ix = &w->cat->idx[i];
    if (!mk || ix->multikey || w->mk_put[i]) return CAIRN_OK;
    dv_index now = *ix;
    now.multikey = true;
    TRY(catalog_put(w, &now));
    w->mk_put[i] = true;
    return CAIRN_OK;
}

/* Adds the index changes from old to new (either NULL) to the batch. */
static int index_changes(wctx *w, const json_t *old, const json_t *new, const char *id)
{
    for (size_t i = 0; i < w->cat->n; i++) {
        const dv_index *ix = &w->cat->idx[i];
        if (same_keys(ix, old, new)) continue;
        dv_keys *ok = &w->ok, *nk = &w->nk;
        dv_keys_reset(ok);
        dv_keys_reset(nk);
        bool mk = false, unused = false;
        int rc = old ? dv_index_keys(ok, &unused, ix, old, id) : CAIRN_OK;
        if (rc == CAIRN_OK && new) rc = dv_index_keys(nk, &mk, ix, new, id);
        size_t a = 0, b = 0;
        bool post = dv_postings(ix);
        while (rc == CAIRN_OK && (a < ok->n || b < nk->n)) {
            int c = a == ok->n ? 1 : b == nk->n ? -1 : key_cmp(&ok->k[a], &nk->k[b]);
            if (c == 0) {
                a++;
                b++;
                continue;
            }
            const dv_key *k = c < 0 ? &ok->k[a++] : &nk->k[b++];
            if (post)
                rc = dv_post_acc_add(w->post, k->key.data, k->vlen, id, strlen(id), c > 0);
            else if (c < 0)
                rc = cairn_batch_delete(w->batch, w->itabs[i], k->key.data, k->key.len);
            else
                rc = key_put(w, i, k, id, NULL);
        }
        TRY(rc);
        TRY(multikey_put(w, i, mk));
    }
    return CAIRN_OK;
}

static int read_current(json_t **out, cairn_coll *c, const char *id)
{
    *out = NULL;
    void *val;
    size_t len;
    int rc = cairn_get(&val, &len, c->docs, NULL, id, strlen(id));
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    rc = dv_doc_parse(out, val, len, c->name, id);
    cairn_free(val);
    return rc;
}

static int64_t version_of(const json_t *doc)
{
    const json_t *v = doc ? json_object_get(doc, "_v") : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The write itself, under the handle's lock. input: the document or patch (owned), or NULL. */
static int write_locked(char **out_doc, cairn_coll *c, wmode mode, json_t *input, const char *id,
                        const cairn_doc_write_options *o)
{
    wctx w;
    json_t *old = NULL, *doc = NULL;
    cairn_buf canon = CAIRN_BUF_INIT, stored = CAIRN_BUF_INIT;
    char gen[40];
    int64_t now = clock_wall_ns();
    int rc = wctx_init(&w, c);
    if (rc == CAIRN_OK && !id) {
        id_generate(gen, c, now);
        id = gen;
        if (json_object_set_new(input, "_id", json_string(id))) rc = ERR(CAIRN_ENOMEM, "out of memory");
    }
    if (rc == CAIRN_OK) rc = read_current(&old, c, id);
    if (rc == CAIRN_OK && old && mode == W_INSERT)
        rc = ERR(CAIRN_EEXIST, "collection %s: document %s exists (use upsert or replace)",
                 c->name, id);
    if (rc == CAIRN_OK && !old && (mode == W_REPLACE || mode == W_PATCH || mode == W_DELETE))
        rc = ERR(CAIRN_ENOTFOUND, "collection %s: no document %s", c->name, id);
    int64_t have = version_of(old);
    if (rc == CAIRN_OK && o && o->if_version != CAIRN_DOC_ANY_VERSION && o->if_version != have)
        rc = ERR(CAIRN_ECONFLICT, "collection %s: document %s is at version %lld, not %lld "
                 "(changed since it was read): nothing written", c->name, id, (long long)have,
                 (long long)o->if_version);
    if (rc == CAIRN_OK && mode == W_PATCH) {
        json_t *copy = json_deep_copy(old);
        doc = copy ? merge_patch(copy, input) : NULL;
        json_decref(copy);
        if (!doc) rc = ERR(CAIRN_ENOMEM, "out of memory applying a patch");
        const json_t *pid = doc ? json_object_get(doc, "_id") : NULL;
        if (rc == CAIRN_OK && (!json_is_string(pid) || strcmp(json_string_value(pid), id) != 0))
            rc = ERR(CAIRN_EINVAL, "collection %s: a patch may not change or remove _id of "
                     "document %s", c->name, id);
    } else if (rc == CAIRN_OK && mode != W_DELETE) {
        doc = json_incref(input);
    }
    canon_limits lim = limits_of(o);
    if (rc == CAIRN_OK && doc)
        rc = finish_doc(&canon, doc, have + 1, now, &w.ts, &lim, id, o ? o->signer : NULL,
                        c->name);
    if (rc == CAIRN_OK) rc = index_changes(&w, old, doc, id);
    if (rc == CAIRN_OK && doc) rc = dv_stored_pack(&stored, canon.data, canon.len, id, strlen(id));
    if (rc == CAIRN_OK)
        rc = doc ? cairn_batch_put(w.batch, c->docs, id, strlen(id), stored.data, stored.len)
                 : cairn_batch_delete(w.batch, c->docs, id, strlen(id));
    if (rc == CAIRN_OK) rc = wctx_commit(&w);
    if (rc == CAIRN_OK && out_doc && doc) {
        *out_doc = cairn_strndup((const char *)canon.data, canon.len);
        if (!*out_doc) rc = ERR(CAIRN_ENOMEM, "out of memory");
    }
    json_decref(old);
    json_decref(doc);
    cairn_buf_dispose(&canon);
    cairn_buf_dispose(&stored);
    wctx_dispose(&w);
    return rc;
}

/* Copies options (NULL: the defaults; version 1, before signer, still accepted). */
static int opts_copy(cairn_doc_write_options *out, const cairn_doc_write_options *o)
{
    cairn_doc_write_options def = CAIRN_DOC_WRITE_OPTIONS_INIT;
    *out = def;
    if (!o) return CAIRN_OK;
    FAIL_IF(o->version < 1 || o->version > CAIRN_DOC_WRITE_OPTIONS_VERSION, CAIRN_EINVAL,
            "cairn_doc_write_options: version %u, expected 1 to %d", o->version,
            CAIRN_DOC_WRITE_OPTIONS_VERSION);
    memcpy(out, o, o->version == 1 ? offsetof(cairn_doc_write_options, signer) : sizeof *o);
    out->version = CAIRN_DOC_WRITE_OPTIONS_VERSION;
    return CAIRN_OK;
}

static int write_doc(char **out_doc, cairn_coll *c, wmode mode, const char *json, size_t len,
                     const char *id, const cairn_doc_write_options *o)
{
    if (out_doc) *out_doc = NULL;
    FAIL_IF(!c, CAIRN_EINVAL, "no collection given");
    cairn_doc_write_options oc;
    TRY(opts_copy(&oc, o));
    o = &oc;
    json_t *input = NULL;
    if (mode == W_PATCH) {
        TRY(dv_id_check(id, strlen(id)));
        TRY(canon_parse(&input, json, len, "patch"));
    } else if (mode == W_DELETE) {
        TRY(dv_id_check(id, strlen(id)));
    } else {
        TRY(parse_object(&input, json, len, "document"));
        int rc = doc_id(&id, input);
        if (rc == CAIRN_OK && !id && mode == W_REPLACE)
            rc = ERR(CAIRN_EINVAL, "replace: the document has no _id");
        if (rc < 0) {
            json_decref(input);
            return rc;
        }
    }
    pthread_mutex_lock(&c->lock);
    int rc = write_locked(out_doc, c, mode, input, id, o);
    pthread_mutex_unlock(&c->lock);
    json_decref(input);
    return rc;
}

int cairn_doc_insert(char **out_doc, cairn_coll *c, const char *json, size_t len,
                     const cairn_doc_write_options *o)
{
    return write_doc(out_doc, c, W_INSERT, json, len, NULL, o);
}

int cairn_doc_upsert(char **out_doc, cairn_coll *c, const char *json, size_t len,
                     const cairn_doc_write_options *o)
{
    return write_doc(out_doc, c, W_UPSERT, json, len, NULL, o);
}

int cairn_doc_replace(char **out_doc, cairn_coll *c, const char *json, size_t len,
                      const cairn_doc_write_options *o)
{
    return write_doc(out_doc, c, W_REPLACE, json, len, NULL, o);
}

int cairn_doc_patch(char **out_doc, cairn_coll *c, const char *id, const char *patch, size_t len,
                    const cairn_doc_write_options *o)
{
    FAIL_IF(!id, CAIRN_EINVAL, "patch: no document id");
    return write_doc(out_doc, c, W_PATCH, patch, len, id, o);
}

int cairn_doc_delete(cairn_coll *c, const char *id, const cairn_doc_write_options *o)
{
    FAIL_IF(!id, CAIRN_EINVAL, "delete: no document id");
    return write_doc(NULL, c, W_DELETE, NULL, 0, id, o);
}

/* ---- bulk ----
 *
 * A document of a bulk goes through two steps. Preparing it reads the text into the stored
 * form (metadata, then _hash), computes its index keys and looks its id up in the collection;
 * it touches nothing the bulk shares (a generated id's time part is taken when the document is
 * added, in order). Applying it, in the order the documents were added, checks its id against
 * the bulk's others and its unique values, and puts the document and its entries in the batch.
 * After the first BULK_PIPE_FROM documents (not in a signed bulk), preparing runs on worker
 * threads up to CAIRN_DOC_BULK_AHEAD documents ahead of the calling thread, which applies what
 * they prepared: the same steps on the same documents in the same order, so the same batch and
 * the same failure (docs/ARCHITECTURE.md, "A bulk insert on several threads"). */

#define BULK_PIPE_FROM 1000                  /* documents added before the workers start */
#define BULK_AHEAD_BYTES ((size_t)16 << 20)  /* text in the ring at most (one document always) */
#define BULK_KICK (CAIRN_DOC_BULK_AHEAD / 2) /* documents queued before an idle worker is woken */
#define BULK_SLOT_KEEP ((size_t)64 << 10)    /* a buffer (a slot's, a parser's, the key buffers
                                                of one index) over this is freed after use */

/* Where a failure of preparing falls among the checks of applying, so that a document is
 * refused for the same reason whichever thread prepared it. */
typedef enum prep_stage {
    PREP_READ,    /* reading the JSON or its _id: before anything */
    PREP_EXISTS,  /* looking the id up: after the check against the bulk's other ids */
    PREP_DOC,     /* building the stored form: once the id is known to be new */
    PREP_KEYS,    /* the keys of index nkeyed: after the entries of the indexes before it */
} prep_stage;

/* One document of a bulk, prepared for applying. */
typedef struct prep {
    size_t pos;              /* 1 for the first document added */
    int64_t now;             /* when it was added: its _ts */
    int64_t id_ns;           /* the time part of its id if one is generated (taken in order) */
    cairn_buf in;            /* its text, copied while it waits in the ring */
    const char *text;        /* the text (NULL: none given) */
    size_t len;
    int rc;                  /* CAIRN_OK, or the failure of preparing */
    prep_stage stage;
    cairn_buf msg;           /* rc's message, NUL-terminated */
    char id[CAIRN_DOC_ID_LEN_MAX + 1];
    bool exists;             /* the collection holds a document with this id */
    bool one_pass;           /* read by jparse_canon() (else by jansson) */
    cairn_buf doc;           /* the canonical form; once prepared, the stored form */
    dv_keys *keys;           /* per catalog index: the document's keys */
    bool *mk;                /* per catalog index: an array was met on its paths */
    size_t nkeyed;           /* indexes whose keys are in keys */
    int uniq_rc;             /* CAIRN_OK, or how key uniq_k of index nkeyed - 1 failed its unique
                                check against the collection (raised in its place) */
    size_t uniq_k;
    cairn_buf uniq_msg;      /* uniq_rc's message, NUL-terminated */
} prep;

#define PART_WANTED_MAX 16 /* top-level names listed for prep_index() (more: it walks) */

/* What preparing needs: the bulk's settings, shared read-only, and a parser of its own. */
typedef struct prep_ctx {
    cairn_coll *c;
    const dv_catalog *cat;
    canon_limits lim;
    cairn_signer *signer;
    cairn_table *const *itabs; /* per catalog index: its table (shared: reads only) */
    jparse jp;               /* the one-pass parser, reused document after document */
    cairn_buf canon;         /* a document's canonical form as given */
    ts_cache ts;
    struct {
        const char *name;    /* borrowed from the catalog */
        size_t len;
    } wanted[PART_WANTED_MAX]; /* the top-level names the indexes read, each once */
    size_t nwanted;
    bool listed;             /* wanted lists them all (else there were too many) */
    bool wants_meta;         /* one may be metadata (or too many to list): walk the stored form */
} prep_ctx;

#define BULK_WORKERS_MAX 4 /* threads preparing documents (at most one per processor) */

typedef struct bulk_pipe bulk_pipe;

/* One thread preparing documents. */
typedef struct pipe_worker {
    pthread_t thread;
    bulk_pipe *q;
    prep_ctx px;
} pipe_worker;

/* The ring between the calling thread and the workers. Slots [tail, ready) are prepared and
 * the caller's to apply, [ready, head) the workers' to prepare, the rest free for the caller to
 * fill. A worker claims the next position to prepare (claim), so no two touch one slot and
 * a worker that lost its CPU holds back only the document it has: when each took every n-th
 * position, the others ran out of theirs and slept while the ring waited on its one (adding
 * used 70-80% of two CPUs). Counters only grow; a slot is its position modulo
 * CAIRN_DOC_BULK_AHEAD, and done[slot] is the position + 1 last prepared there. */
struct bulk_pipe {
    pthread_mutex_t mu;
    pthread_cond_t wake_worker, wake_caller;
    _Atomic size_t head;         /* written by the caller */
    char apart[64];
    _Atomic size_t claim;        /* the next position a worker takes */
    char apart2[64];
    _Atomic size_t ready;        /* prepared before this one (raised by whoever looks) */
    _Atomic size_t done[CAIRN_DOC_BULK_AHEAD];
    size_t tail;                 /* the caller's */
    size_t bytes;                /* text in slots [tail, head) (the caller's) */
    _Atomic size_t caller_want;  /* the caller waits for ready to reach this (0: it does not) */
    _Atomic bool stop;
    _Atomic size_t idle;         /* workers waiting for head to move */
    size_t nworkers, running;    /* workers wanted, started (and not joined) */
    dv_keys *keys;               /* every slot's keys and multikey flags, in one block each */
    bool *mk;
    pipe_worker w[BULK_WORKERS_MAX];
    prep slot[CAIRN_DOC_BULK_AHEAD];
};

struct cairn_doc_bulk {
    wctx w;
    cairn_doc_write_options opts;
    cairn_buf ids_log;       /* the ids added, each NUL-terminated, while they come in order */
    size_t ids_last;         /* offset of the last one in ids_log */
    bool ids_unordered;      /* one came out of order: ids holds them all from then on */
    bset ids;                /* ids added (once ids_unordered) */
    bset uniq;               /* unique index values added (values part of the key) */
    size_t count;            /* documents added */
    bool failed;
    size_t failed_pos;       /* the document a failure was about (0: none) */
    cairn_buf failed_text;   /* its text */
    size_t one_pass;         /* documents read by jparse_canon() */
    prep_ctx px;             /* the calling thread's */
    prep one;                /* a document prepared and applied by the calling thread */
    size_t pipe_from;        /* the document with which the worker starts (SIZE_MAX: never) */
    int64_t fixed_now;       /* tests: the time of every document (0: the clock's) */
    size_t workers;          /* tests: how many workers (0: pipe_workers()) */
    bulk_pipe *pipe;         /* NULL until the worker starts */
};

static void prep_ctx_init(prep_ctx *x, const cairn_doc_bulk *b)
{
    memset(x, 0, sizeof *x);
    ts_cache tc = TS_CACHE_INIT;
    x->ts = tc;
    x->c = b->w.c;
    x->cat = b->w.cat;
    x->lim = limits_of(&b->opts);
    x->signer = b->opts.signer;
    x->itabs = b->w.itabs;
    x->listed = true;
    for (size_t i = 0; i < x->cat->n; i++)
        for (size_t f = 0; f < x->cat->idx[i].nfields; f++) {
            const char *seg = x->cat->idx[i].fields[f].seg[0];
            size_t n = strlen(seg), k = 0;
            while (k < x->nwanted && (x->wanted[k].len != n || memcmp(x->wanted[k].name, seg, n)))
                k++;
            if (k < x->nwanted) continue; /* listed already */
            if (seg[0] == '_') x->wants_meta = true; /* (or a member of the document's own) */
            if (x->nwanted == PART_WANTED_MAX) {
                x->wants_meta = true;
                x->listed = false;
                continue;
            }
            x->wanted[x->nwanted].name = seg;
            x->wanted[x->nwanted++].len = n;
        }
}

static void prep_ctx_dispose(prep_ctx *x)
{
    jparse_dispose(&x->jp);
    cairn_buf_dispose(&x->canon);
}

static void prep_dispose(prep *p, size_t nidx)
{
    cairn_buf_dispose(&p->in);
    cairn_buf_dispose(&p->msg);
    cairn_buf_dispose(&p->uniq_msg);
    cairn_buf_dispose(&p->doc);
    for (size_t i = 0; p->keys && i < nidx; i++) dv_keys_dispose(&p->keys[i]);
}

/* Bytes k holds: its array and every key buffer in it. */
static size_t keys_bytes(const dv_keys *k)
{
    size_t n = k->cap * sizeof *k->k;
    for (size_t i = 0; i < MAX(k->n, k->held); i++) n += k->k[i].key.cap;
    return n;
}

/* Bytes x's parser and canonical form hold. */
static size_t prep_ctx_bytes(const prep_ctx *x)
{
    return x->jp.mcap * sizeof *x->jp.m + x->jp.names.cap + x->jp.tmp.cap + x->canon.cap;
}

/* After a document was prepared: frees what a large one left in the thread's parser. */
static void prep_ctx_trim(prep_ctx *x)
{
    if (x->canon.cap > BULK_SLOT_KEEP) cairn_buf_dispose(&x->canon);
    if (prep_ctx_bytes(x) - x->canon.cap > BULK_SLOT_KEEP) jparse_dispose(&x->jp);
}

/* Bytes slot p holds. */
static size_t prep_bytes(const prep *p, size_t nidx)
{
    size_t n = p->in.cap + p->msg.cap + p->uniq_msg.cap + p->doc.cap;
    for (size_t i = 0; p->keys && i < nidx; i++) n += keys_bytes(&p->keys[i]);
    return n;
}

/* After a document was applied: frees what a large one left in its slot. */
static void prep_trim(prep *p, size_t nidx)
{
    if (p->in.cap > BULK_SLOT_KEEP) cairn_buf_dispose(&p->in);
    if (p->doc.cap > BULK_SLOT_KEEP) cairn_buf_dispose(&p->doc);
    for (size_t i = 0; i < nidx; i++)
        if (keys_bytes(&p->keys[i]) > BULK_SLOT_KEEP) dv_keys_dispose(&p->keys[i]);
}

/* Moves the thread's error message (rc's) into msg, NUL-terminated (left empty when it
 * cannot be kept); named: it already says which document of the input it is about (else
 * "document pos of the input" is put before it). */
static void prep_keep_error(cairn_buf *msg, int rc, size_t pos, bool named)
{
    if (!named) cairn_error_prefix(rc, "document %zu of the input", pos);
    const char *m = cairn_error_last()->message;
    msg->len = 0;
    if (cairn_buf_append(msg, m, strlen(m) + 1) < 0) msg->len = 0;
    cairn_error_clear();
}

/* Records the thread's error as p's failure at stage (named: as prep_keep_error()). */
static void prep_fail(prep *p, prep_stage stage, int rc, bool named)
{
    p->rc = rc;
    p->stage = stage;
    prep_keep_error(&p->msg, rc, p->pos, named);
}

/* Sets failure rc of document pos, with message msg (empty: it could not be kept), as the
 * thread's error. */
static int prep_raise_msg(int rc, const cairn_buf *msg, size_t pos)
{
    if (!msg->len)
        return cairn_error_set(rc, "document %zu of the input: %s", pos, cairn_strerror(rc));
    return cairn_error_set(rc, "%s", (const char *)msg->data);
}

/* Sets p's failure as the thread's error. */
static int prep_raise(const prep *p)
{
    return prep_raise_msg(p->rc, &p->msg, p->pos);
}


/* Fails when id was added before in this bulk. While the ids arrive in increasing byte order
 * (numbered by the caller in order, or generated: they grow with time) a comparison with the
 * last one tells; from the first one that does not, a hash set of them all. */
static int bulk_id_once(cairn_doc_bulk *b, const char *id)
{
    size_t n = strlen(id);
    if (!b->ids_unordered) {
        if (b->ids_log.len == 0 || bytes_cmp(id, n, b->ids_log.data + b->ids_last,
                                             b->ids_log.len - 1 - b->ids_last) > 0) {
            b->ids_last = b->ids_log.len;
            return cairn_buf_append(&b->ids_log, id, n + 1);
        }
        b->ids_unordered = true;
        for (size_t at = 0; at < b->ids_log.len;) {
            const char *prev = (const char *)b->ids_log.data + at, *other;
            size_t len = strlen(prev);
            TRY(bset_add(&b->ids, prev, len, prev, &other));
            at += len + 1;
        }
        cairn_buf_dispose(&b->ids_log);
    }
    const char *other;
    TRY(bset_add(&b->ids, id, n, id, &other));
    FAIL_IF(other, CAIRN_EEXIST, "collection %s: document %s is twice in the input", b->w.c->name,
            id);
    return CAIRN_OK;
}

/* Checks index i's unique keys in p against the collection, as applying would (it checks
 * them against the bulk's other documents); the first failure is recorded with its key. */
static bool prep_unique(prep_ctx *x, prep *p, size_t i)
{
    const dv_index *ix = &x->cat->idx[i];
    if (!(ix->flags & CAIRN_INDEX_UNIQUE)) return true;
    for (size_t k = 0; k < p->keys[i].n; k++) {
        const dv_key *key = &p->keys[i].k[k];
        if (!unique_key(ix, key)) continue;
        int rc = unique_check(x->itabs[i], ix, key, p->id, x->c->name);
        if (rc == CAIRN_OK) continue;
        p->uniq_rc = rc;
        p->uniq_k = k;
        prep_keep_error(&p->uniq_msg, rc, p->pos, false);
        return false;
    }
    return true;
}

/* The keys of doc (the document, or an object of the members the indexes read) in every
 * index, into p, up to the first that fails, or fails its unique check. */
static void prep_keys(prep_ctx *x, prep *p, const json_t *doc)
{
    for (p->nkeyed = 0; p->nkeyed < x->cat->n; p->nkeyed++) {
        size_t i = p->nkeyed;
        dv_keys_reset(&p->keys[i]);
        p->mk[i] = false;
        int rc = index_keys(&p->keys[i], &p->mk[i], &x->cat->idx[i], doc, p->id, false);
        if (rc < 0) {
            prep_fail(p, PREP_KEYS, rc, false);
            return;
        }
        if (!prep_unique(x, p, i)) {
            p->nkeyed++;
            return;
        }
    }
}

/* A document through jansson: parsed into a tree, its metadata set, written canonically. */
static void prep_jansson(prep_ctx *x, prep *p)
{
    json_t *doc;
    p->id[0] = '\0';
    char what[64] = "document ";
    size_t at = strlen(what);
    at += canon_decimal(what + at, p->pos, false, 1);
    memcpy(what + at, " of the input", sizeof " of the input");
    int rc = parse_object(&doc, p->text, p->len, what);
    if (rc < 0) {
        prep_fail(p, PREP_READ, rc, true);
        return;
    }
    const char *id;
    rc = doc_id(&id, doc);
    if (rc == CAIRN_OK && !id) {
        id_format(p->id, p->id_ns);
        if (json_object_set_new(doc, "_id", json_string(p->id)))
            rc = ERR(CAIRN_ENOMEM, "out of memory");
    } else if (rc == CAIRN_OK) {
        memcpy(p->id, id, strlen(id) + 1);
    }
    if (rc < 0) {
        p->id[0] = '\0';
        prep_fail(p, PREP_READ, rc, false);
    } else if ((rc = finish_doc(&p->doc, doc, 1, p->now, &x->ts, &x->lim, p->id, x->signer,
                                x->c->name)) < 0) {
        prep_fail(p, PREP_DOC, rc, false);
    } else {
        prep_keys(x, p, doc);
    }
    json_decref(doc);
}

/* ---- bulk: the one-pass path ----
 *
 * A document of a bulk insert is read by jparse_canon() straight into canonical form; the
 * stored form is then put together from its top-level members (they come sorted) and the
 * metadata members merged in at their places (_id when generated, _ts, _v; _hash and _sig
 * given are dropped), hashed, and "_hash" inserted where it sorts. Only the members that the
 * indexes read become jansson values (canon_load(), one value each). The bytes stored are those
 * of prep_jansson(): tests/test_doc.c (bulk_one_pass) compares them with a reference built that
 * way.
 *
 * Whatever this path does not take the same way, it declines: a document the parser declines
 * (bad JSON, a limit, see jparse.h), a top-level name with an escape (finish_doc() then checks
 * the field limit with _hash counted, as this path would not), an _id that is not a plain valid
 * string, a form over the limits once the metadata is in, and signed bulks. prep_jansson() then
 * does it all and says what is wrong exactly as before. */

#define HASH_NAME_LEN (sizeof HASH_NAME - 1)

/* A member put together: its name and its text ("name":value). */
typedef struct piece {
    const char *name;
    size_t nlen;
    const char *text;
    size_t len;
} piece;

static bool is_meta(const char *name, size_t n)
{
    return (n == 5 && memcmp(name, "_hash", 5) == 0) || (n == 4 && memcmp(name, "_sig", 4) == 0) ||
           (n == 3 && memcmp(name, "_ts", 3) == 0) || (n == 2 && memcmp(name, "_v", 2) == 0);
}

/* Writes into out the object of the members of jp (those not metadata, all unescaped) merged
 * with extra[0..nextra) (sorted), and gives the offset where "_hash" goes. */
static int bulk_merge(cairn_buf *out, size_t *hash_pos, const jparse *jp, const cairn_buf *canon,
                      const piece *extra, size_t nextra)
{
    out->len = 0;
    TRY(cairn_buf_reserve(out, canon->len + 256));
    TRY(cairn_buf_append(out, "{", 1));
    size_t i = 0, k = 0;
    bool hash_placed = false;
    while (i < jp->ntop || k < nextra) {
        const jp_member *m = i < jp->ntop ? &jp->m[i] : NULL;
        const char *mn = m ? (const char *)canon->data + m->at + 1 : NULL;
        if (m && is_meta(mn, m->nlen)) {
            i++;
            continue;
        }
        piece p;
        if (m && (k == nextra || bytes_cmp(mn, m->nlen, extra[k].name, extra[k].nlen) < 0)) {
            p = (piece){ mn, m->nlen, (const char *)canon->data + m->at, m->len };
            i++;
        } else {
            p = extra[k++];
        }
        if (out->len > 1) TRY(cairn_buf_append(out, ",", 1));
        if (!hash_placed && bytes_cmp(p.name, p.nlen, HASH_NAME, HASH_NAME_LEN) > 0) {
            *hash_pos = out->len; /* before this member's name */
            hash_placed = true;
        }
        TRY(cairn_buf_append(out, p.text, p.len));
    }
    if (!hash_placed) *hash_pos = out->len;
    return cairn_buf_append(out, "}", 1);
}

/* Inserts "_hash":"hex" at hash_pos of out (the stored form without it), with its comma. */
static int bulk_put_hash(cairn_buf *out, size_t hash_pos)
{
    cairn_id h;
    char hex[CAIRN_ID_HEX_SIZE];
    hash_sha256(&h, out->data, out->len);
    cairn_id_to_hex(hex, &h);
    bool last = out->data[hash_pos] == '}', first = out->len == 2;
    char member[HASH_MEMBER_BYTES + 1];
    size_t n = 0;
    if (last && !first) member[n++] = ',';
    memcpy(member + n, "\"" HASH_NAME "\":\"", HASH_NAME_LEN + 4);
    n += HASH_NAME_LEN + 4;
    memcpy(member + n, hex, 2 * CAIRN_ID_SIZE);
    n += 2 * CAIRN_ID_SIZE;
    member[n++] = '"';
    if (!last) member[n++] = ',';
    TRY(cairn_buf_reserve(out, out->len + n));
    memmove(out->data + hash_pos + n, out->data + hash_pos, out->len - hash_pos);
    memcpy(out->data + hash_pos, member, n);
    out->len += n;
    return CAIRN_OK;
}

/* The members of the stored form that the indexes read (the first name of each indexed path),
 * each parsed alone, as an object for dv_index_keys(). */
typedef struct index_part {
    const prep_ctx *x;
    json_t *obj;
} index_part;

/* Whether an index reads top-level member name. */
static bool part_wanted(const prep_ctx *x, const char *name, size_t nlen)
{
    for (size_t i = 0; i < x->nwanted; i++)
        if (x->wanted[i].len == nlen && memcmp(x->wanted[i].name, name, nlen) == 0) return true;
    for (size_t i = 0; !x->listed && i < x->cat->n; i++)
        for (size_t f = 0; f < x->cat->idx[i].nfields; f++) {
            const char *seg = x->cat->idx[i].fields[f].seg[0];
            if (strlen(seg) == nlen && memcmp(seg, name, nlen) == 0) return true;
        }
    return false;
}

/* Adds member name (val: its canonical text) to ip's object. */
static int part_add(index_part *ip, const char *name, size_t nlen, const char *val, size_t vlen)
{
    json_t *v;
    int rc = canon_load(&v, val, vlen);
    if (rc == CAIRN_EINVAL) v = json_loadb(val, vlen, JSON_DECODE_ANY, NULL);
    else TRY(rc);
    FAIL_IF(!v, CAIRN_EINVAL, "member '%.*s' does not read back from its canonical form",
            (int)MIN(nlen, 60), name);
    FAIL_IF(json_object_setn_new(ip->obj, name, nlen, v), CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

static int part_member(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                       void *payload)
{
    (void)at;
    index_part *ip = payload;
    return part_wanted(ip->x, name, nlen) ? part_add(ip, name, nlen, val, vlen) : 0;
}

/* The members the indexes read, from the members jparse_canon() gave (they are the stored
 * form's, metadata aside), or from a walk of the stored form when an index reads metadata. */
static int part_collect(index_part *ip, const prep *p)
{
    const prep_ctx *x = ip->x;
    if (x->wants_meta)
        return canon_members((const char *)p->doc.data, p->doc.len, part_member, ip);
    for (size_t i = 0; i < x->jp.ntop; i++) {
        const jp_member *m = &x->jp.m[i];
        const char *name = (const char *)x->canon.data + m->at + 1;
        if (!is_meta(name, m->nlen) && part_wanted(x, name, m->nlen))
            TRY(part_add(ip, name, m->nlen, (const char *)x->canon.data + m->at + m->vat,
                         m->len - m->vat));
    }
    return CAIRN_OK;
}

/* The index keys of p's stored form into p. */
static void prep_index(prep_ctx *x, prep *p)
{
    p->nkeyed = 0;
    if (x->cat->n == 0) return;
    index_part ip = { x, json_object() };
    int rc = ip.obj ? part_collect(&ip, p) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc < 0) prep_fail(p, PREP_KEYS, rc, false);
    else prep_keys(x, p, ip.obj);
    json_decref(ip.obj);
}

/* The _id given in jp's canonical form, when it is a string without escapes that is a valid
 * id, into out (NUL-terminated); "" when there is none. false: take prep_jansson(). */
static bool bulk_given_id(char out[CAIRN_DOC_ID_LEN_MAX + 1], const jparse *jp,
                          const cairn_buf *canon)
{
    out[0] = '\0';
    for (size_t i = 0; i < jp->ntop; i++) {
        const jp_member *m = &jp->m[i];
        if (m->nlen != 3 || memcmp(canon->data + m->at + 1, "_id", 3) != 0) continue;
        const char *v = (const char *)canon->data + m->at + m->vat;
        size_t n = m->len - m->vat;
        if (n < 2 || v[0] != '"' || memchr(v, '\\', n) || n - 2 > CAIRN_DOC_ID_LEN_MAX)
            return false;
        if (dv_id_check(v + 1, n - 2) < 0) {
            cairn_error_clear();
            return false;
        }
        memcpy(out, v + 1, n - 2);
        out[n - 2] = '\0';
        return true;
    }
    return true;
}

/* A document on the one-pass path (see above). @return CAIRN_OK (p->rc says whether it
 * failed) or JPARSE_DECLINED (take prep_jansson()). */
static int prep_fast(prep_ctx *x, prep *p)
{
    if (x->signer) return JPARSE_DECLINED;
    int rc = jparse_canon(&x->jp, &x->canon, p->text, p->len, &x->lim);
    if (rc < 0) {
        prep_fail(p, PREP_READ, rc, false);
        return CAIRN_OK;
    }
    if (rc != CAIRN_OK || !x->jp.is_object) return JPARSE_DECLINED;
    size_t kept = 0;
    for (size_t i = 0; i < x->jp.ntop; i++) {
        const jp_member *m = &x->jp.m[i];
        if (m->escaped) return JPARSE_DECLINED;
        kept += !is_meta((const char *)x->canon.data + m->at + 1, m->nlen);
    }
    if (!bulk_given_id(p->id, &x->jp, &x->canon)) return JPARSE_DECLINED;
    bool generate = p->id[0] == '\0';
    if (kept + 2 + generate > x->lim.max_fields) return JPARSE_DECLINED; /* with _ts and _v */
    char ts[64], idm[CAIRN_DOC_ID_LEN_MAX + 16], tsm[80];
    ts_format(ts, p->now, &x->ts);
    piece extra[3];
    size_t nextra = 0;
    if (generate) {
        id_format(p->id, p->id_ns);
        int n = snprintf(idm, sizeof idm, "\"_id\":\"%s\"", p->id);
        extra[nextra++] = (piece){ "_id", 3, idm, (size_t)n };
    }
    size_t tl = strlen(ts);
    memcpy(tsm, "\"_ts\":\"", 7);
    memcpy(tsm + 7, ts, tl);
    tsm[7 + tl] = '"';
    extra[nextra++] = (piece){ "_ts", 3, tsm, tl + 8 };
    extra[nextra++] = (piece){ "_v", 2, "\"_v\":1", 6 };
    size_t hash_pos;
    rc = bulk_merge(&p->doc, &hash_pos, &x->jp, &x->canon, extra, nextra);
    if (rc == CAIRN_OK && p->doc.len + HASH_MEMBER_BYTES > x->lim.max_bytes) {
        p->id[0] = '\0';
        return JPARSE_DECLINED;
    }
    if (rc == CAIRN_OK) rc = bulk_put_hash(&p->doc, hash_pos);
    if (rc < 0) prep_fail(p, PREP_DOC, rc, false);
    else prep_index(x, p);
    p->one_pass = true;
    return CAIRN_OK;
}

static int note_found(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    (void)i;
    (void)vlen;
    *(bool *)payload = val != NULL;
    return 0;
}

/* Whether the collection holds a document with p's id (into p->exists). A read of one key
 * through db_get_sorted(): a missing key costs no message and the value is not copied. */
static void prep_exists(prep_ctx *x, prep *p)
{
    const void *key = p->id;
    size_t klen = strlen(p->id);
    int rc = db_get_sorted(x->c->docs, NULL, &key, &klen, 1, note_found, &p->exists);
    if (rc == CAIRN_ENOTFOUND) { /* no such table yet */
        cairn_error_clear();
        p->exists = false;
    } else if (rc < 0) {
        prep_fail(p, PREP_EXISTS, rc, false);
    }
}

/* Prepares p (pos, now, text and len set). */
static void prep_doc(prep_ctx *x, prep *p)
{
    p->rc = CAIRN_OK;
    p->id[0] = '\0';
    p->exists = p->one_pass = false;
    p->nkeyed = 0;
    p->uniq_rc = CAIRN_OK;
    if (!p->text || prep_fast(x, p) == JPARSE_DECLINED) {
        p->rc = CAIRN_OK;
        p->one_pass = false;
        prep_jansson(x, p);
    }
    if (p->id[0] && (p->rc == CAIRN_OK || p->stage > PREP_EXISTS)) prep_exists(x, p);
    if (p->rc == CAIRN_OK) { /* the form the table holds, through x->canon (done with) */
        int rc = dv_stored_pack(&x->canon, p->doc.data, p->doc.len, p->id, strlen(p->id));
        if (rc < 0) {
            prep_fail(p, PREP_DOC, rc, false);
        } else {
            cairn_buf t = p->doc;
            p->doc = x->canon;
            x->canon = t;
        }
    }
    prep_ctx_trim(x);
}

/* Applies prepared document p: in the bulk's order, after the documents before it. */
static int bulk_apply(cairn_doc_bulk *b, const prep *p)
{
    cairn_coll *c = b->w.c;
    if (p->rc < 0 && p->stage == PREP_READ) return prep_raise(p);
    TRY_CTX(bulk_id_once(b, p->id), "document %zu of the input", p->pos);
    if (p->rc < 0 && p->stage == PREP_EXISTS) return prep_raise(p);
    FAIL_IF(p->exists, CAIRN_EEXIST, "document %zu of the input: collection %s: document %s "
            "exists (use upsert)", p->pos, c->name, p->id);
    if (p->rc < 0 && p->stage == PREP_DOC) return prep_raise(p);
    for (size_t i = 0; i < p->nkeyed; i++) {
        bool post = dv_postings(&b->w.cat->idx[i]);
        size_t idlen = strlen(p->id);
        for (size_t k = 0; k < p->keys[i].n; k++) {
            const dv_key *key = &p->keys[i].k[k];
            if (p->uniq_rc < 0 && i + 1 == p->nkeyed && k == p->uniq_k)
                return prep_raise_msg(p->uniq_rc, &p->uniq_msg, p->pos);
            if (post)
                TRY_CTX(dv_post_acc_add(b->w.post, key->key.data, key->vlen, p->id, idlen, true),
                        "document %zu of the input: collection %s: index '%s'", p->pos, c->name,
                        b->w.cat->idx[i].name);
            else
                TRY_CTX(key_put(&b->w, i, key, p->id, &b->uniq), "document %zu of the input",
                        p->pos);
        }
        TRY_CTX(multikey_put(&b->w, i, p->mk[i]), "document %zu of the input", p->pos);
    }
    if (p->rc < 0) return prep_raise(p);
    TRY_CTX(cairn_batch_put(b->w.batch, c->docs, p->id, strlen(p->id), p->doc.data, p->doc.len),
            "document %zu of the input", p->pos);
    b->one_pass += p->one_pass;
    return CAIRN_OK;
}

/* ---- bulk: the workers ---- */

static void pipe_signal(bulk_pipe *q, pthread_cond_t *cv, bool all)
{
    pthread_mutex_lock(&q->mu);
    if (all) pthread_cond_broadcast(cv);
    else pthread_cond_signal(cv);
    pthread_mutex_unlock(&q->mu);
}

/* The first position not prepared yet: the prepared run from ready on is taken in (a position
 * is prepared when its slot's done says so, published by the worker after its results). The
 * loads and the workers' stores of done are sequentially consistent, not acquire and release:
 * a worker stores done and then loads caller_want, the waiting caller stores caller_want and
 * then loads done, and only a total order makes sure that one of the two sees the other
 * (with release, the worker could miss the caller's want and the caller its done, and both
 * sleep). */
static size_t pipe_ready(bulk_pipe *q)
{
    size_t head = atomic_load(&q->head), r = atomic_load(&q->ready), at = r;
    while (r < head && atomic_load(&q->done[r % CAIRN_DOC_BULK_AHEAD]) == r + 1) r++;
    while (at < r && !atomic_compare_exchange_weak(&q->ready, &at, r)) {
    } /* at: another look raised it meanwhile (to r or past it: then it stands) */
    return r;
}

static void *pipe_main(void *arg)
{
    pipe_worker *me = arg;
    bulk_pipe *q = me->q;
    for (;;) {
        size_t pos = atomic_load(&q->claim);
        while (pos < atomic_load(&q->head) && !atomic_load(&q->stop)) {
            if (!atomic_compare_exchange_weak(&q->claim, &pos, pos + 1)) continue; /* pos reread */
            prep_doc(&me->px, &q->slot[pos % CAIRN_DOC_BULK_AHEAD]);
            atomic_store(&q->done[pos % CAIRN_DOC_BULK_AHEAD], pos + 1); /* see pipe_ready */
            size_t want = atomic_load(&q->caller_want);
            if (want && pipe_ready(q) >= want &&
                atomic_compare_exchange_strong(&q->caller_want, &want, 0))
                pipe_signal(q, &q->wake_caller, false);
            pos = atomic_load(&q->claim);
        }
        pthread_mutex_lock(&q->mu);
        atomic_fetch_add(&q->idle, 1);
        while (atomic_load(&q->head) <= atomic_load(&q->claim) && !atomic_load(&q->stop))
            pthread_cond_wait(&q->wake_worker, &q->mu);
        atomic_fetch_sub(&q->idle, 1);
        bool stop = atomic_load(&q->stop);
        pthread_mutex_unlock(&q->mu);
        if (stop) return NULL;
    }
}

/* Wakes the idle workers when enough documents are queued (or force). */
static void pipe_kick(bulk_pipe *q, bool force)
{
    if (!atomic_load(&q->idle)) return;
    if (!force && atomic_load(&q->head) - pipe_ready(q) < BULK_KICK) return;
    pipe_signal(q, &q->wake_worker, true);
}

/* Waits until the documents before position want are prepared. */
static void pipe_wait(bulk_pipe *q, size_t want)
{
    if (pipe_ready(q) >= want) return;
    pipe_kick(q, true);
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->caller_want, want);
    while (pipe_ready(q) < want) pthread_cond_wait(&q->wake_caller, &q->mu);
    atomic_store(&q->caller_want, 0);
    pthread_mutex_unlock(&q->mu);
}

/* Stops and joins the workers (what they had not prepared stays so). */
static void pipe_stop(bulk_pipe *q)
{
    if (!q || !q->running) return;
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->stop, true);
    pthread_cond_broadcast(&q->wake_worker);
    pthread_mutex_unlock(&q->mu);
    for (size_t w = 0; w < q->running; w++) pthread_join(q->w[w].thread, NULL);
    q->running = 0;
}

/* The bulk failed on document pos (0: on no one document), whose text is text. */
static int bulk_failed(cairn_doc_bulk *b, int rc, size_t pos, const char *text, size_t len)
{
    b->failed = true;
    pipe_stop(b->pipe); /* what it prepared further is not wanted */
    b->failed_pos = pos;
    b->failed_text.len = 0;
    if (text && cairn_buf_reserve(&b->failed_text, len + 1) == CAIRN_OK) {
        memcpy(b->failed_text.data, text, len);
        b->failed_text.data[len] = '\0';
        b->failed_text.len = len;
    }
    return rc;
}

/* Applies the prepared documents before position upto, taking the handle's lock once for
 * them all; with id_ns, then takes the time part of the next document's id under it too
 * (after a failure, not). */
static int pipe_apply(cairn_doc_bulk *b, size_t upto, int64_t now, int64_t *id_ns)
{
    bulk_pipe *q = b->pipe;
    if (q->tail == upto && !id_ns) return CAIRN_OK;
    prep *p = NULL;
    int rc = CAIRN_OK;
    pthread_mutex_lock(&b->w.c->lock);
    for (; q->tail < upto; q->tail++) {
        p = &q->slot[q->tail % CAIRN_DOC_BULK_AHEAD];
        if ((rc = bulk_apply(b, p)) < 0) break;
        q->bytes -= p->len;
        prep_trim(p, b->w.cat->n);
    }
    if (rc == CAIRN_OK && id_ns) *id_ns = id_time(b->w.c, now);
    pthread_mutex_unlock(&b->w.c->lock);
    if (rc < 0) return bulk_failed(b, rc, p->pos, p->text, p->len); /* (joins the workers) */
    return CAIRN_OK;
}

static void pipe_free(bulk_pipe *q, size_t nidx)
{
    if (!q) return;
    pipe_stop(q);
    for (size_t i = 0; i < CAIRN_DOC_BULK_AHEAD; i++) prep_dispose(&q->slot[i], nidx);
    for (size_t w = 0; w < BULK_WORKERS_MAX; w++) prep_ctx_dispose(&q->w[w].px);
    free(q->keys);
    free(q->mk);
    pthread_cond_destroy(&q->wake_worker);
    pthread_cond_destroy(&q->wake_caller);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* How many workers: one per processor, up to BULK_WORKERS_MAX (the calling thread, mostly
 * waiting for them, shares the processors with them). */
static size_t pipe_workers(void)
{
    return MIN((size_t)base_cpus(), (size_t)BULK_WORKERS_MAX);
}

/* Starts the workers. When it cannot (memory, a thread), the bulk goes on without. */
static void pipe_start(cairn_doc_bulk *b)
{
    size_t nidx = b->w.cat->n ? b->w.cat->n : 1;
    bulk_pipe *q = cairn_calloc(1, sizeof *q);
    if (q) {
        q->keys = cairn_calloc(CAIRN_DOC_BULK_AHEAD * nidx, sizeof *q->keys);
        q->mk = cairn_calloc(CAIRN_DOC_BULK_AHEAD * nidx, sizeof *q->mk);
    }
    if (!q || !q->keys || !q->mk) {
        if (q) {
            free(q->keys);
            free(q->mk);
        }
        free(q);
        cairn_error_clear();
        b->pipe_from = SIZE_MAX;
        return;
    }
    for (size_t i = 0; i < CAIRN_DOC_BULK_AHEAD; i++) {
        q->slot[i].keys = q->keys + i * nidx;
        q->slot[i].mk = q->mk + i * nidx;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->wake_worker, NULL);
    pthread_cond_init(&q->wake_caller, NULL);
    atomic_init(&q->head, b->count);
    atomic_init(&q->claim, b->count);
    atomic_init(&q->ready, b->count);
    for (size_t i = 0; i < CAIRN_DOC_BULK_AHEAD; i++) atomic_init(&q->done[i], 0);
    q->tail = b->count;
    q->nworkers = b->workers ? b->workers : pipe_workers();
    for (size_t w = 0; w < q->nworkers; w++) {
        q->w[w].q = q;
        prep_ctx_init(&q->w[w].px, b);
    }
    for (; q->running < q->nworkers; q->running++)
        if (pthread_create(&q->w[q->running].thread, NULL, pipe_main, &q->w[q->running]) != 0)
            break;
    b->pipe = q;
    if (q->running < q->nworkers) {
        pipe_free(q, b->w.cat->n);
        b->pipe = NULL;
        b->pipe_from = SIZE_MAX;
    }
}

/* Adds a document through the worker: applies what it prepared, waits for room in the ring,
 * queues the text. */
static int pipe_add(cairn_doc_bulk *b, const char *json, size_t len, int64_t now)
{
    bulk_pipe *q = b->pipe;
    int64_t id_ns;
    TRY(pipe_apply(b, pipe_ready(q), now, &id_ns));
    size_t head = atomic_load(&q->head);
    /* at most AHEAD - 1 wait, so that a failure comes at most AHEAD documents after its own */
    while (head - q->tail >= CAIRN_DOC_BULK_AHEAD - 1 ||
           (head > q->tail && q->bytes + len > BULK_AHEAD_BYTES)) {
        pipe_wait(q, q->tail + MAX(1, (head - q->tail) / 4));
        TRY(pipe_apply(b, pipe_ready(q), 0, NULL));
    }
    prep *p = &q->slot[head % CAIRN_DOC_BULK_AHEAD];
    p->pos = b->count + 1;
    p->now = now;
    p->id_ns = id_ns;
    p->len = len;
    p->text = NULL;
    if (json) {
        if (cairn_buf_reserve(&p->in, len + 1) < 0) {
            /* the documents still in the ring come first: one of them may fail on its own */
            cairn_error_clear();
            pipe_wait(q, head);
            TRY(pipe_apply(b, head, 0, NULL));
            return bulk_failed(b, ERR(CAIRN_ENOMEM, "document %zu of the input: out of memory "
                                      "copying its %zu bytes", p->pos, len), p->pos, json, len);
        }
        memcpy(p->in.data, json, len);
        p->in.len = len;
        p->text = (const char *)p->in.data;
    }
    q->bytes += len;
    atomic_store(&q->head, head + 1);
    pipe_kick(q, false);
    return CAIRN_OK;
}

/* Applies every document added (the worker's then stopped). */
static int pipe_drain(cairn_doc_bulk *b)
{
    bulk_pipe *q = b->pipe;
    size_t head = atomic_load(&q->head);
    pipe_wait(q, head);
    TRY(pipe_apply(b, head, 0, NULL));
    pipe_free(q, b->w.cat->n); /* a later add starts another */
    b->pipe = NULL;
    return CAIRN_OK;
}

/* ---- bulk: the calls ---- */

int cairn_doc_bulk_new(cairn_doc_bulk **out, cairn_coll *c, const cairn_doc_write_options *o)
{
    FAIL_IF(!out || !c, CAIRN_EINVAL, "cairn_doc_bulk_new: out and coll are required");
    cairn_doc_bulk *b = cairn_calloc(1, sizeof *b);
    FAIL_IF(!b, CAIRN_ENOMEM, "out of memory");
    int rc = opts_copy(&b->opts, o);
    if (rc < 0) {
        free(b);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    rc = wctx_init(&b->w, c);
    pthread_mutex_unlock(&c->lock);
    if (rc == CAIRN_OK) {
        size_t nidx = b->w.cat->n ? b->w.cat->n : 1;
        b->one.keys = cairn_calloc(nidx, sizeof *b->one.keys);
        b->one.mk = cairn_calloc(nidx, sizeof *b->one.mk);
        if (!b->one.keys || !b->one.mk) rc = ERR(CAIRN_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        cairn_doc_bulk_free(b);
        return rc;
    }
    prep_ctx_init(&b->px, b);
    b->pipe_from = b->opts.signer ? SIZE_MAX : BULK_PIPE_FROM;
    *out = b;
    return CAIRN_OK;
}

int cairn_doc_bulk_add(cairn_doc_bulk *b, const char *json, size_t len)
{
    FAIL_IF(!b, CAIRN_EINVAL, "no bulk given");
    FAIL_IF(b->failed, CAIRN_ESTATE, "the bulk insert failed earlier: free it and start again");
    int64_t now = b->fixed_now ? b->fixed_now : clock_wall_ns();
    if (!b->pipe && b->count >= b->pipe_from) pipe_start(b);
    if (b->pipe) {
        TRY(pipe_add(b, json, len, now));
        b->count++;
        return CAIRN_OK;
    }
    pthread_mutex_lock(&b->w.c->lock); /* a generated id's time, taken in the input's order */
    int64_t id_ns = id_time(b->w.c, now);
    pthread_mutex_unlock(&b->w.c->lock);
    prep *p = &b->one;
    p->pos = b->count + 1;
    p->now = now;
    p->id_ns = id_ns;
    p->text = json;
    p->len = len;
    prep_doc(&b->px, p);
    pthread_mutex_lock(&b->w.c->lock);
    int rc = bulk_apply(b, p);
    pthread_mutex_unlock(&b->w.c->lock);
    prep_trim(p, b->w.cat->n);
    if (rc < 0) return bulk_failed(b, rc, p->pos, json, len);
    b->count++;
    return CAIRN_OK;
}

int cairn_doc_bulk_commit(cairn_doc_bulk *b)
{
    FAIL_IF(!b, CAIRN_EINVAL, "no bulk given");
    FAIL_IF(b->failed, CAIRN_ESTATE, "the bulk insert failed earlier: nothing was written");
    if (b->pipe) TRY(pipe_drain(b));
    pthread_mutex_lock(&b->w.c->lock);
    int rc = wctx_commit(&b->w);
    pthread_mutex_unlock(&b->w.c->lock);
    if (rc < 0) bulk_failed(b, rc, 0, NULL, 0);
    return rc;
}

size_t cairn_doc_bulk_failed(const cairn_doc_bulk *b, const char **out_json, size_t *out_len)
{
    bool text = b && b->failed_pos && b->failed_text.data;
    if (out_json) *out_json = text ? (const char *)b->failed_text.data : NULL;
    if (out_len) *out_len = text ? b->failed_text.len : 0;
    return b && b->failed ? b->failed_pos : 0;
}

size_t dv_bulk_one_pass(const cairn_doc_bulk *b)
{
    return b ? b->one_pass : 0;
}

void dv_bulk_tune(cairn_doc_bulk *b, size_t pipe_from, size_t workers, int64_t fixed_now_ns)
{
    b->pipe_from = b->opts.signer ? SIZE_MAX : pipe_from;
    b->workers = MIN(workers, (size_t)BULK_WORKERS_MAX);
    b->fixed_now = fixed_now_ns;
}

size_t dv_bulk_held(cairn_doc_bulk *b)
{
    size_t nidx = b->w.cat->n, n = prep_ctx_bytes(&b->px) + prep_bytes(&b->one, nidx);
    bulk_pipe *q = b->pipe;
    if (!q) return n;
    pipe_wait(q, atomic_load(&q->head)); /* the workers then touch nothing until the next add */
    for (size_t i = 0; i < CAIRN_DOC_BULK_AHEAD; i++) n += prep_bytes(&q->slot[i], nidx);
    for (size_t w = 0; w < q->nworkers; w++) n += prep_ctx_bytes(&q->w[w].px);
    return n;
}

size_t cairn_doc_bulk_count(const cairn_doc_bulk *b)
{
    return b ? b->count : 0;
}

void cairn_doc_bulk_free(cairn_doc_bulk *b)
{
    if (!b) return;
    size_t nidx = b->w.cat ? b->w.cat->n : 0;
    pipe_free(b->pipe, nidx);
    prep_dispose(&b->one, nidx);
    free(b->one.keys);
    free(b->one.mk);
    prep_ctx_dispose(&b->px);
    wctx_dispose(&b->w);
    cairn_buf_dispose(&b->ids_log);
    bset_dispose(&b->ids);
    bset_dispose(&b->uniq);
    cairn_buf_dispose(&b->failed_text);
    free(b);
}

/* ---- index create, drop, list ---- */

static int index_name(char *out, size_t cap, const char *const *fields, size_t n, unsigned flags)
{
    size_t len = 0;
    if (flags & CAIRN_INDEX_TEXT) len = (size_t)snprintf(out, cap, "text:");
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(fields[i]);
        FAIL_IF(len + fl + 2 > cap, CAIRN_EINVAL, "index: the fields' names are too long");
        if (i) out[len++] = ',';
        memcpy(out + len, fields[i], fl + 1);
        len += fl;
    }
    return CAIRN_OK;
}

static int index_def(dv_index *ix, const char *const *fields, size_t n, unsigned flags)
{
    char name[CAIRN_TABLE_NAME_LEN_MAX - sizeof CAIRN_DOC_INDEX_PREFIX - CAIRN_DOC_COLL_NAME_LEN_MAX - 2];
    memset(ix, 0, sizeof *ix);
    FAIL_IF(n == 0 || n > CAIRN_DOC_INDEX_FIELDS_MAX, CAIRN_EINVAL,
            "index: 1 to %u fields, not %zu", CAIRN_DOC_INDEX_FIELDS_MAX, n);
    FAIL_IF(flags & ~(unsigned)(CAIRN_INDEX_UNIQUE | CAIRN_INDEX_TEXT), CAIRN_EINVAL,
            "index: unknown flags 0x%x", flags);
    FAIL_IF((flags & CAIRN_INDEX_TEXT) && (n != 1 || (flags & CAIRN_INDEX_UNIQUE)), CAIRN_EINVAL,
            "index: a text index has one field and is not unique");
    for (size_t i = 0; i < n; i++) {
        FAIL_IF(!fields[i], CAIRN_EINVAL, "index: field %zu missing", i);
        for (const char *p = fields[i]; *p; p++)
            FAIL_IF((unsigned char)*p < 0x20 || *p == ',' || *p == '/', CAIRN_EINVAL,
                    "index field '%s': ',', '/' and control characters are not allowed",
                    fields[i]);
    }
    TRY(index_name(name, sizeof name, fields, n, flags));
    ix->name = cairn_strdup(name);
    FAIL_IF(!ix->name, CAIRN_ENOMEM, "out of memory");
    ix->flags = flags | ((flags & CAIRN_INDEX_TEXT) ? DV_INDEX_POSTINGS : 0);
    for (size_t i = 0; i < n; i++) {
        int rc = dv_path_parse(&ix->fields[i], fields[i], "index field");
        if (rc < 0) {
            index_dispose(ix);
            return rc;
        }
        ix->nfields++;
    }
    return CAIRN_OK;
}

/* Fills table t of new index ix from every document, into w's batch. */
static int index_fill(wctx *w, dv_index *ix, cairn_table *t)
{
    cairn_cursor *cur;
    TRY(cairn_cursor_open(&cur, w->c->docs, NULL, NULL));
    bset seen = { 0 };
    dv_keys keys = { 0 };
    dv_post_acc *post = NULL;
    int rc = dv_postings(ix) ? dv_post_acc_new(&post) : CAIRN_OK;
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        char *id = cairn_strndup(k, kl);
        json_t *doc = NULL;
        rc = id ? dv_doc_parse(&doc, v, vl, w->c->name, id) : ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) rc = dv_index_keys(&keys, &ix->multikey, ix, doc, id);
        for (size_t i = 0; rc == CAIRN_OK && i < keys.n; i++) {
            const char *other = NULL;
            if ((ix->flags & CAIRN_INDEX_UNIQUE) && !keys.k[i].missing)
                rc = bset_add(&seen, keys.k[i].key.data, keys.k[i].vlen, id, &other);
            if (rc == CAIRN_OK && other && strcmp(other, id) != 0)
                rc = ERR(CAIRN_ECONFLICT, "collection %s: cannot create unique index '%s': "
                         "documents %s and %s have the same value", w->c->name, ix->name, other,
                         id);
            if (rc == CAIRN_OK && post)
                rc = dv_post_acc_add(post, keys.k[i].key.data, keys.k[i].vlen, id, strlen(id),
                                     true);
            else if (rc == CAIRN_OK)
                rc = cairn_batch_put(w->batch, t, keys.k[i].key.data, keys.k[i].key.len, id,
                                     strlen(id));
        }
        dv_keys_dispose(&keys);
        json_decref(doc);
        free(id);
        if (rc < 0) break;
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_OK && post) {
        char what[160];
        snprintf(what, sizeof what, "collection %s: index '%s'", w->c->name, ix->name);
        rc = dv_post_acc_flush(post, w->batch, t, what);
    }
    dv_post_acc_free(post);
    bset_dispose(&seen);
    return rc;
}

static int create_locked(cairn_coll *c, dv_index *ix)
{
    wctx w;
    int rc = wctx_init(&w, c);
    for (size_t i = 0; rc == CAIRN_OK && i < w.cat->n; i++) {
        if (strcmp(w.cat->idx[i].name, ix->name) == 0)
            rc = ERR(CAIRN_EEXIST, "collection %s: index '%s' exists", c->name, ix->name);
        else if ((ix->flags & CAIRN_INDEX_TEXT) && (w.cat->idx[i].flags & CAIRN_INDEX_TEXT))
            rc = ERR(CAIRN_EINVAL, "collection %s: has a text index already ('%s'); drop it "
                     "first", c->name, w.cat->idx[i].name);
    }
    char *name = rc == CAIRN_OK ? table_of(CAIRN_DOC_INDEX_PREFIX, c->name, ix->name) : NULL;
    if (rc == CAIRN_OK && !name) rc = ERR(CAIRN_ENOMEM, "out of memory");
    cairn_table *t = NULL;
    if (rc == CAIRN_OK) { /* a table left by a drop that did not finish goes first */
        int gone = cairn_table_drop(c->db, name);
        if (gone == CAIRN_ENOTFOUND) cairn_error_clear();
        else if (gone < 0) rc = gone;
    }
    if (rc == CAIRN_OK)
        rc = cairn_table_open(&t, c->db, name,
                              CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER | CAIRN_TABLE_INTERNAL);
    if (rc == CAIRN_OK) rc = index_fill(&w, ix, t);
    if (rc == CAIRN_OK) rc = catalog_put(&w, ix);
    if (rc == CAIRN_OK) rc = wctx_commit(&w);
    cairn_table_close(t);
    free(name);
    wctx_dispose(&w);
    return rc;
}

static int index_create(cairn_coll *c, const char *const *fields, size_t n, unsigned flags,
                        bool postings)
{
    FAIL_IF(!c || !fields, CAIRN_EINVAL, "cairn_doc_index_create: coll and fields are required");
    dv_index ix;
    TRY(index_def(&ix, fields, n, flags));
    if (!postings) ix.flags &= ~DV_INDEX_POSTINGS;
    pthread_mutex_lock(&c->lock);
    int rc = create_locked(c, &ix);
    pthread_mutex_unlock(&c->lock);
    index_dispose(&ix);
    return rc;
}

int cairn_doc_index_create(cairn_coll *c, const char *const *fields, size_t n, unsigned flags)
{
    return index_create(c, fields, n, flags, true);
}

int dv_text_index_create_per_pair(cairn_coll *c, const char *field)
{
    return index_create(c, &field, 1, CAIRN_INDEX_TEXT, false);
}

/* ---- repacking documents stored as text ---- */

/* Whether text (a stored value of key id in canonical-text form) packs, and expands back to
 * the very same bytes (text cairn did not write might not): then *packed holds the form. */
static int repack_one(bool *ok, cairn_buf *packed, cairn_buf *back, const void *text,
                      size_t len, const char *id, size_t idlen)
{
    *ok = false;
    TRY(dv_stored_pack(packed, text, len, id, idlen));
    if (!packed->len || packed->data[0] != DV_STORED_FORM) return CAIRN_OK;
    int rc = dv_stored_expand(back, packed->data, packed->len, id, idlen, NULL);
    if (rc == CAIRN_ECORRUPT) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    *ok = back->len == len && memcmp(back->data, text, len) == 0;
    return CAIRN_OK;
}

static int repack_locked(uint64_t *out, cairn_coll *c)
{
    cairn_batch *b = NULL;
    cairn_cursor *cur = NULL;
    cairn_buf packed = CAIRN_BUF_INIT, back = CAIRN_BUF_INIT, id = CAIRN_BUF_INIT;
    uint64_t n = 0;
    int rc = cairn_batch_new(&b, c->db);
    if (rc == CAIRN_OK) rc = cairn_cursor_open(&cur, c->docs, NULL, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        if (!vl || *(const uint8_t *)v != '{') continue; /* packed already */
        bool ok = false;
        rc = cairn_buf_set(&id, k, kl);
        if (rc == CAIRN_OK) rc = cairn_buf_append(&id, "", 1);
        if (rc == CAIRN_OK)
            rc = repack_one(&ok, &packed, &back, v, vl, (const char *)id.data, kl);
        if (rc == CAIRN_OK && ok) {
            rc = cairn_batch_put(b, c->docs, k, kl, packed.data, packed.len);
            n++;
        }
    }
    if (rc == CAIRN_ENOTFOUND) { /* the end, or a collection never written */
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_OK && n) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_buf_dispose(&packed);
    cairn_buf_dispose(&back);
    cairn_buf_dispose(&id);
    if (rc == CAIRN_OK && out) *out = n;
    return rc;
}

int cairn_doc_repack(uint64_t *out_packed, cairn_coll *c)
{
    FAIL_IF(!c, CAIRN_EINVAL, "cairn_doc_repack: coll is required");
    if (out_packed) *out_packed = 0;
    pthread_mutex_lock(&c->lock);
    int rc = repack_locked(out_packed, c);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int drop_locked(cairn_coll *c, const char *name)
{
    dv_catalog cat;
    TRY(dv_catalog_load(&cat, c, NULL));
    bool found = false;
    for (size_t i = 0; i < cat.n; i++) found |= strcmp(cat.idx[i].name, name) == 0;
    dv_catalog_dispose(&cat);
    FAIL_IF(!found, CAIRN_ENOTFOUND, "collection %s: no index '%s' (see cairn doc index list)",
            c->name, name);
    cairn_table *t;
    TRY(catalog_table(&t, c, 0));
    int rc = cairn_delete(t, name, strlen(name)); /* first: no query uses it from now on */
    cairn_table_close(t);
    TRY(rc);
    char *tname = table_of(CAIRN_DOC_INDEX_PREFIX, c->name, name);
    FAIL_IF(!tname, CAIRN_ENOMEM, "out of memory");
    rc = cairn_table_drop(c->db, tname);
    if (rc == CAIRN_ENOTFOUND) { /* never written (an index created on an empty collection) */
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    free(tname);
    return rc;
}

int cairn_doc_index_drop(cairn_coll *c, const char *name)
{
    FAIL_IF(!c || !name, CAIRN_EINVAL, "cairn_doc_index_drop: coll and name are required");
    pthread_mutex_lock(&c->lock);
    int rc = drop_locked(c, name);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int cairn_doc_index_list(cairn_coll *c, const cairn_snapshot *snap,
                         int (*cb)(const cairn_index_info *info, void *payload), void *payload)
{
    FAIL_IF(!c || !cb, CAIRN_EINVAL, "cairn_doc_index_list: coll and cb are required");
    dv_catalog cat;
    TRY(dv_catalog_load(&cat, c, snap));
    int rc = CAIRN_OK;
    for (size_t i = 0; i < cat.n && rc == CAIRN_OK; i++) {
        const char *f[CAIRN_DOC_INDEX_FIELDS_MAX];
        for (size_t k = 0; k < cat.idx[i].nfields; k++) f[k] = cat.idx[i].fields[k].text;
        cairn_index_info info = { cat.idx[i].name, f, cat.idx[i].nfields,
                                  cat.idx[i].flags & DV_INDEX_PUBLIC_FLAGS, cat.idx[i].multikey };
        rc = cb(&info, payload);
    }
    dv_catalog_dispose(&cat);
    return rc;
}
