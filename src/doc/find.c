/*
 * find.c - reading documents: get, get-many, count, and queries (plan, scan, order, page).
 *
 * The planner looks at the conditions of the filter's top-level conjunction and the sort. It
 * picks, in this order: the text index for $text; the index that narrows most: equalities on
 * its first fields, then at most one equality, $in, $prefix or range condition on the next
 * field (more equal fields first, then equality, $in, $prefix, range; among equals the one that
 * also gives the sort); an index that gives the sort; else a scan of the collection. $text with
 * several words scans the entries of its rarest word (counted from the index tree) and keeps an
 * id only when every other word's entry for it exists.
 * A candidate document is tested against the whole filter, so an index only narrows what is
 * read, except when the scan applies the whole filter exactly (dv_filter_covered(): every
 * condition of a conjunction served by an index that is not multikey, or $text alone): then the
 * document is taken as it is, unparsed, when nothing else needs its fields (no projection; no
 * sort, or a one-field sort the index gives, whose value is in the index key).
 * Results come out in the query's order (sort fields, then _id): straight from the scan when
 * the plan yields that order (stopping at limit + offset), else collected (within
 * max_sort_bytes) and sorted. A multikey index can hold one document under several keys; a
 * document is taken only at the first of its keys that the scan covers, which needs no memory.
 * An index scan gathers its entries in batches and reads each batch's documents (and $text's
 * probes) in id order through db_get_sorted(), which loads the nodes consecutive ids share
 * once; a query ordered by id whose entries fit one batch then streams without sorting.
 */

#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/tuple.h"
#include "doc/doc_int.h"
#include "doc/post.h"

#define SORT_FIELDS_MAX 8
#define PROJECT_FIELDS_MAX 64
#define SORT_BYTES_DEFAULT ((size_t)64 << 20)
#define SORT_ITEM_OVERHEAD 64 /* bytes counted per collected document besides its text */
#define STOP 1                /* internal: the limit is reached */
#define NAMES_MAX 16          /* top-level members a partial parse reads, at most */
#define BATCH_MAX 65536       /* index entries tested together (their documents read in id
                                 order); a scan with more collects its results in batches */
#define BATCH_KEEP_MAX 1024   /* ... when results stream in the scan's order, whose documents
                                 wait in memory until the batch is read: fewer */
#define SPARE_BYTES_MAX ((size_t)1 << 20) /* a batch kept for the next query holds no more */

typedef struct krange {
    cairn_buf from, to;      /* [from, to) when to.len, else keys starting with from */
} krange;

typedef struct item {
    char *doc;
    size_t len;
    uint8_t *parts;          /* the sort parts (see parts_add) */
    size_t plen;
} item;

typedef struct query {
    cairn_coll *c;
    const cairn_snapshot *snap;
    const cairn_doc_query *qo;
    const dv_catalog *cat;   /* shared (dv_catalog_get) */
    dv_filter *f;
    dv_path sort[SORT_FIELDS_MAX];
    bool desc[SORT_FIELDS_MAX];
    size_t nsort;
    dv_path proj[PROJECT_FIELDS_MAX];
    size_t nproj;
    const char *names[NAMES_MAX]; /* the members a candidate's test reads (borrowed from the
                                     paths), or nnames > NAMES_MAX: parse whole documents */
    size_t name_len[NAMES_MAX];
    size_t nnames;
    size_t name_min;         /* the shortest of names[] */
    json_t *pobj;            /* an empty object for the next partial parse (doc_release()) */
    cairn_buf idbuf;         /* a scanned document's id as a C string */
    cairn_buf after;         /* the cursor's parts */
    bool has_after;
    /* the plan */
    const dv_index *ix;
    cairn_table *itab;
    krange *ranges;
    size_t nranges, ranges_cap;
    cairn_buf *probes;       /* $text: the other words' key prefixes, each must hold the id */
    size_t nprobes;
    char what[160];          /* "collection C: index 'I'", for messages about its blocks */
    bool reverse;
    bool natural;            /* the scan yields the query's order */
    bool id_order;           /* ... and that order is the ids' (no sort, one range) */
    bool exact;              /* the scan applies the whole filter: candidates need no test */
    cairn_doc_plan plan;
    /* output */
    uint64_t skipped;
    cairn_doc_fn cb;
    void *payload;
    item *items;
    size_t nitems, cap_items, bytes, max_bytes;
    cairn_buf parts, scratch, out;
    cairn_buf full;          /* a packed document's canonical text (doc_text) */
    cairn_buf emitted;       /* the result's cursor and id, handed to cb */
    dv_trust trust;          /* CAIRN_COLL_VERIFY_SIG: the trusted keys */
} query;

/* ---- sort parts: per sort field (4-byte big-endian length, encoding), then the id ---- */

static int parts_add(cairn_buf *out, const void *p, size_t n)
{
    uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    TRY(cairn_buf_append(out, len, 4));
    return cairn_buf_append(out, p, n);
}

static int parts_of(query *q, const json_t *doc, const char *id)
{
    q->parts.len = 0;
    for (size_t i = 0; i < q->nsort; i++) {
        q->scratch.len = 0;
        TRY(dv_encode(&q->scratch, dv_direct(doc, &q->sort[i])));
        TRY(parts_add(&q->parts, q->scratch.data, q->scratch.len));
    }
    return parts_add(&q->parts, id, strlen(id));
}

/* The parts of a document the index scan found without parsing it: no sort, or the one sort
 * field the index gives, whose encoding is the key before the id. */
static int parts_of_key(query *q, const char *id, const void *key, size_t kl)
{
    q->parts.len = 0;
    if (q->nsort) {
        q->scratch.len = 0;
        TRY(tuple_append_string(&q->scratch, id, strlen(id)));
        if (q->scratch.len > kl)
            return CORRUPT("collection %s: index '%s' holds a key shorter than its id %s",
                           q->c->name, q->ix->name, id);
        TRY(parts_add(&q->parts, key, kl - q->scratch.len));
    }
    return parts_add(&q->parts, id, strlen(id));
}

/* Splits the next part off p; false when none is left or it is malformed. */
static bool part_next(const uint8_t **p, size_t *n, const uint8_t **part, size_t *plen)
{
    if (*n < 4) return false;
    size_t len = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 | (size_t)(*p)[2] << 8 | (*p)[3];
    if (len > *n - 4) return false;
    *part = *p + 4;
    *plen = len;
    *p += 4 + len;
    *n -= 4 + len;
    return true;
}

static int parts_cmp(const query *q, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    for (size_t i = 0; i <= q->nsort; i++) {
        const uint8_t *pa = NULL, *pb = NULL;
        size_t la = 0, lb = 0;
        part_next(&a, &an, &pa, &la);
        part_next(&b, &bn, &pb, &lb);
        int c = bytes_cmp(pa, la, pb, lb);
        bool desc = i < q->nsort ? q->desc[i] : (q->nsort && q->desc[q->nsort - 1]);
        if (c) return desc ? -c : c;
    }
    return 0;
}

/* ---- output ---- */

static int set_path(json_t *obj, const dv_path *p, const json_t *v)
{
    for (size_t i = 0; i + 1 < p->nseg; i++) {
        json_t *next = json_object_get(obj, p->seg[i]);
        if (!json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(obj, p->seg[i], next)) return CAIRN_ENOMEM;
        }
        obj = next;
    }
    return json_object_set(obj, p->seg[p->nseg - 1], (json_t *)v) ? CAIRN_ENOMEM : CAIRN_OK;
}

static int project(query *q, const json_t *doc)
{
    json_t *o = json_object();
    int rc = o ? CAIRN_OK : CAIRN_ENOMEM;
    if (rc == CAIRN_OK && json_object_set(o, "_id", json_object_get(doc, "_id"))) rc = CAIRN_ENOMEM;
    for (size_t i = 0; rc == CAIRN_OK && i < q->nproj; i++) {
        const json_t *v = dv_direct(doc, &q->proj[i]);
        if (v) rc = set_path(o, &q->proj[i], v);
    }
    if (rc < 0) rc = ERR(CAIRN_ENOMEM, "out of memory projecting a document");
    q->out.len = 0;
    if (rc == CAIRN_OK) rc = canon_write(&q->out, o, NULL, "projection");
    if (rc == CAIRN_OK) rc = cairn_buf_append(&q->out, "", 1);
    json_decref(o);
    return rc;
}

/* Hands one result in order to the caller, after the cursor, offset and limit. */
static int emit(query *q, const char *doc, size_t len, const uint8_t *parts, size_t plen)
{
    if (q->has_after && parts_cmp(q, parts, plen, q->after.data, q->after.len) <= 0) return CAIRN_OK;
    if (q->skipped < q->qo->offset) {
        q->skipped++;
        return CAIRN_OK;
    }
    if (q->qo->limit && q->plan.returned >= q->qo->limit) return STOP;
    const uint8_t *id = NULL, *p = parts;
    size_t idlen = 0, n = plen;
    for (size_t i = 0; i <= q->nsort; i++) part_next(&p, &n, &id, &idlen);
    /* the cursor's hex, the id as a C string, then the document NUL-terminated (cairn_doc_fn
     * promises it; doc may point into a tree leaf), in one buffer kept across results */
    int rc = cairn_buf_reserve(&q->emitted, 2 * plen + 1 + idlen + 1 + len + 1);
    char *cursor = (char *)q->emitted.data, *idz = NULL;
    if (rc == CAIRN_OK) {
        idz = cursor + 2 * plen + 1;
        hex_encode(cursor, parts, plen);
        if (id) memcpy(idz, id, idlen);
        idz[idlen] = '\0';
        if (!q->nproj) { /* a projection's output is terminated already */
            char *docz = idz + idlen + 1;
            memcpy(docz, doc, len);
            docz[len] = '\0';
            doc = docz;
        }
    }
    if (rc == CAIRN_OK) rc = dv_sig_require(q->c, &q->trust, idz, doc, len);
    if (rc == CAIRN_OK && q->nproj) {
        json_t *j;
        rc = dv_doc_parse(&j, doc, len, q->c->name, idz);
        if (rc == CAIRN_OK) rc = project(q, j);
        json_decref(j);
        doc = (const char *)q->out.data;
        len = q->out.len - 1;
    }
    if (rc == CAIRN_OK) {
        q->plan.returned++;
        rc = q->cb(idz, doc, len, cursor, q->payload);
        if (rc > 0) rc++; /* STOP is ours: the callback's values are shifted past it */
    }
    if (rc == CAIRN_OK && q->qo->limit && q->plan.returned >= q->qo->limit) return STOP;
    return rc;
}

static int collect(query *q, const char *doc, size_t len)
{
    q->bytes += len + q->parts.len + SORT_ITEM_OVERHEAD;
    FAIL_IF(q->bytes > q->max_bytes, CAIRN_EINVAL,
            "collection %s: the sort needs more than %zu bytes of memory (max_sort_bytes): "
            "create an index on the sort fields, or narrow the filter", q->c->name, q->max_bytes);
    TRY(cairn_array_room(&q->items, &q->cap_items, q->nitems, sizeof *q->items, 64));
    item *it = &q->items[q->nitems];
    it->doc = cairn_strndup(doc, len);
    it->parts = cairn_malloc(q->parts.len);
    if (!it->doc || !it->parts) {
        free(it->doc);
        free(it->parts);
        return ERR(CAIRN_ENOMEM, "out of memory sorting results");
    }
    it->len = len;
    memcpy(it->parts, q->parts.data, q->parts.len);
    it->plen = q->parts.len;
    q->nitems++;
    return CAIRN_OK;
}

static int item_cmp(const void *a, const void *b, void *qp)
{
    const item *x = a, *y = b;
    return parts_cmp(qp, x->parts, x->plen, y->parts, y->plen);
}

static int flush_sorted(query *q)
{
    if (q->nitems > 1) qsort_r(q->items, q->nitems, sizeof *q->items, item_cmp, q);
    for (size_t i = 0; i < q->nitems; i++) {
        int rc = emit(q, q->items[i].doc, q->items[i].len, q->items[i].parts, q->items[i].plen);
        if (rc) return rc;
    }
    return CAIRN_OK;
}

/* ---- candidates ---- */

static bool key_in_range(const krange *r, const void *k, size_t kl)
{
    if (!r->to.len) return kl >= r->from.len && (!r->from.len || memcmp(k, r->from.data, r->from.len) == 0);
    return bytes_cmp(k, kl, r->from.data, r->from.len) >= 0 &&
           bytes_cmp(k, kl, r->to.data, r->to.len) < 0;
}

/* Whether key is the first of doc's keys in ix that the scan covers (multikey indexes). */
static int first_key(query *q, const json_t *doc, const char *id, const void *key, size_t kl)
{
    dv_keys keys = { 0 };
    bool mk = false;
    TRY(dv_index_keys(&keys, &mk, q->ix, doc, id));
    int first = 0;
    for (size_t i = 0; i < keys.n; i++) {
        bool in = false;
        for (size_t r = 0; r < q->nranges && !in; r++)
            in = key_in_range(&q->ranges[r], keys.k[i].key.data, keys.k[i].key.len);
        if (!in) continue;
        first = bytes_cmp(keys.k[i].key.data, keys.k[i].key.len, key, kl) == 0;
        break;
    }
    dv_keys_dispose(&keys);
    return first;
}

/* ---- partial parsing: only the members the filter, the sort and the index read ---- */

static int add_name(const dv_path *p, void *payload)
{
    query *q = payload;
    for (size_t i = 0; i < q->nnames && i < NAMES_MAX; i++)
        if (strcmp(q->names[i], p->seg[0]) == 0) return CAIRN_OK;
    if (q->nnames < NAMES_MAX) {
        q->names[q->nnames] = p->seg[0];
        q->name_len[q->nnames] = strlen(p->seg[0]);
    }
    q->nnames++;
    return CAIRN_OK;
}

static int names_setup(query *q)
{
    TRY(dv_filter_paths(q->f, add_name, q));
    for (size_t i = 0; i < q->nsort; i++) TRY(add_name(&q->sort[i], q));
    for (size_t i = 0; q->ix && i < q->ix->nfields; i++) TRY(add_name(&q->ix->fields[i], q));
    q->name_min = SIZE_MAX;
    for (size_t i = 0; i < q->nnames && i < NAMES_MAX; i++)
        q->name_min = MIN(q->name_min, q->name_len[i]);
    return CAIRN_OK;
}

typedef struct partial {
    const query *q;
    json_t *obj;
    size_t found;            /* members read (names are unique: each is found once) */
} partial;

#define PARTIAL_DONE 1       /* every member the query reads was found: stop the walk */

/* A member's value read: canon_load() (no lexer, no allocation but the value's) reads it as
 * json_loadb() would, given the canonical text stored documents hold; other text it declines,
 * and jansson reads it. */
static json_t *member_value(const char *val, size_t vlen)
{
    json_t *v;
    int rc = canon_load(&v, val, vlen);
    if (rc == CAIRN_OK) return v;
    if (rc != CAIRN_EINVAL) cairn_error_clear(); /* ENOMEM: jansson reads the value; if it is
                                                    short too, the whole document is parsed,
                                                    which says so */
    return json_loadb(val, vlen, JSON_DECODE_ANY, NULL);
}

static int partial_member(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                          void *payload)
{
    (void)at;
    partial *p = payload;
    for (size_t i = 0; i < p->q->nnames; i++) {
        if (p->q->name_len[i] != nlen || memcmp(p->q->names[i], name, nlen) != 0) continue;
        json_t *v = member_value(val, vlen);
        if (!v || json_object_setn_new_nocheck(p->obj, name, nlen, v)) return CAIRN_EINVAL;
        return ++p->found == p->q->nnames ? PARTIAL_DONE : CAIRN_OK;
    }
    /* A name with an escape may spell one the query reads: then the whole document is parsed.
     * An escape is two bytes or more for one character, so a name no longer than the shortest
     * the query reads spells none of them (and is not searched: most names are short). */
    return nlen > p->q->name_min && memchr(name, '\\', nlen) ? CAIRN_EINVAL : CAIRN_OK;
}

/* Parses the members of a stored document s that the query reads (a document object holding
 * only them: what the filter, sort keys and index keys see is the same; those of a packed
 * document's head are made from it), or the whole document when the query reads too many or
 * the text is not as canon_write() writes it. */
static int doc_parse_for(json_t **out, query *q, const dv_stored *s, const void *val,
                         size_t vlen, const char *id)
{
    if (q->nnames <= NAMES_MAX) {
        partial p = { q, q->pobj ? q->pobj : json_object(), 0 };
        q->pobj = NULL;
        if (!p.obj) return ERR(CAIRN_ENOMEM, "out of memory");
        int rc = CAIRN_OK;
        for (size_t i = 0; s->hash && rc == CAIRN_OK && i < q->nnames; i++) {
            if (!dv_stored_is_meta(q->names[i], q->name_len[i])) continue;
            json_t *v = dv_stored_meta(s, q->names[i], q->name_len[i], id);
            if (!v || json_object_setn_new_nocheck(p.obj, q->names[i], q->name_len[i], v))
                rc = CAIRN_EINVAL; /* out of memory: the whole parse says so */
            else if (++p.found == q->nnames)
                rc = PARTIAL_DONE;
        }
        if (rc == CAIRN_OK) rc = canon_members(s->body, s->blen, partial_member, &p);
        if (rc == CAIRN_OK || rc == PARTIAL_DONE) {
            *out = p.obj;
            return CAIRN_OK;
        }
        cairn_error_clear();
        json_decref(p.obj);
    }
    return dv_doc_parse(out, val, vlen, q->c->name, id);
}

/* The canonical text of stored document val (the value itself when it is that text). */
static int doc_text(query *q, const void **val, size_t *vlen, const dv_stored *s, const char *id)
{
    if (!s->hash) return CAIRN_OK;
    TRY(dv_stored_text(&q->full, s, id, strlen(id), q->c->name));
    *val = q->full.data;
    *vlen = q->full.len;
    return CAIRN_OK;
}

/* Done with a document doc_parse_for() gave: when nothing else holds it, it is emptied and kept
 * as the next one's object (a new object each document was two allocations and two frees, a
 * few percent of a scan). */
static void doc_release(query *q, json_t *doc)
{
    if (!q->pobj && doc->refcount == 1 && json_is_object(doc) && json_object_clear(doc) == 0) {
        q->pobj = doc;
        return;
    }
    json_decref(doc);
}

/* Tests one document and passes it on. key: the index key it was found under, or NULL. */
static int candidate(query *q, const char *id, const void *val, size_t vlen, const void *key,
                     size_t kl)
{
    json_t *doc;
    q->plan.docs_examined++;
    dv_stored s;
    if (dv_stored_split(&s, val, vlen) < 0) /* says what is wrong */
        return dv_stored_expand(&q->full, val, vlen, id, strlen(id), q->c->name);
    if (q->exact && !q->nproj && (!q->nsort || (q->plan.sorted_by_index && q->nsort == 1 && key))) {
        TRY(parts_of_key(q, id, key, kl));
        TRY(doc_text(q, &val, &vlen, &s, id));
        return q->natural ? emit(q, val, vlen, q->parts.data, q->parts.len) : collect(q, val, vlen);
    }
    TRY(doc_parse_for(&doc, q, &s, val, vlen, id));
    int rc = q->f ? dv_filter_match(q->f, doc) : 1;
    if (rc > 0 && key && q->ix->multikey && !(q->ix->flags & CAIRN_INDEX_TEXT))
        rc = first_key(q, doc, id, key, kl);
    bool match = rc > 0;
    if (match) rc = parts_of(q, doc, id);
    doc_release(q, doc);
    if (rc < 0 || !match) return rc < 0 ? rc : CAIRN_OK;
    TRY(doc_text(q, &val, &vlen, &s, id));
    if (q->natural) return emit(q, val, vlen, q->parts.data, q->parts.len);
    return collect(q, val, vlen);
}

static int scan_docs(query *q)
{
    cairn_cursor *cur;
    TRY(cairn_cursor_open(&cur, q->c->docs, q->snap, NULL));
    int rc = CAIRN_OK;
    if (q->natural && q->has_after) { /* seek past the cursor's id */
        const uint8_t *p = q->after.data, *id = NULL;
        size_t n = q->after.len, idlen = 0;
        part_next(&p, &n, &id, &idlen);
        rc = cairn_cursor_seek(cur, id, idlen);
    } else {
        rc = cairn_cursor_next(cur);
    }
    while (rc == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        rc = cairn_buf_set(&q->idbuf, k, kl);
        if (rc == CAIRN_OK) rc = cairn_buf_append(&q->idbuf, "", 1);
        if (rc == CAIRN_OK) rc = candidate(q, (const char *)q->idbuf.data, v, vl, NULL, 0);
        if (rc == CAIRN_OK) rc = cairn_cursor_next(cur);
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

/* ---- index scans: candidates gathered in batches, their documents read in id order ---- */

/* Index entries read but not yet tested: each an id and the key it was found under, both in
 * the batch's arena (offsets: the arena moves as it grows). */
typedef struct pending {
    size_t id, idlen, key, klen;
    bool alive;              /* $text: every other word has an entry for the id */
    char *doc;               /* its document when it must wait for the others (natural order) */
    size_t dlen;
} pending;

typedef struct dv_batch {
    pending *p;
    size_t n, cap;
    cairn_buf arena;
    size_t *order;           /* indexes of p in id order */
    const void **keys;       /* db_get_sorted()'s keys, in that order */
    size_t *klens;
    size_t *offs;            /* $text probes: each key's offset in scratch */
    cairn_buf scratch;       /* $text probes: their keys */
    size_t batches;          /* batches processed so far */
} batch;

static void batch_reset(batch *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->p[i].doc);
    b->n = 0;
    b->arena.len = 0;
}

static void batch_dispose(batch *b)
{
    if (!b) return;
    batch_reset(b);
    free(b->p);
    free(b->order);
    free(b->keys);
    free(b->klens);
    free(b->offs);
    cairn_buf_dispose(&b->arena);
    cairn_buf_dispose(&b->scratch);
    free(b);
}

/* A query's batch: the one the handle keeps from an earlier query when no other query holds
 * it, else a new one. Reusing its memory spares each query growing its arrays again (and the
 * allocator handing the pages back to the system and faulting them in again, which cost a
 * $text query more time in the kernel than any part of its own work). */
static batch *batch_take(cairn_coll *c)
{
    batch *b = atomic_exchange(&c->spare, NULL);
    if (b) {
        b->batches = 0;
        return b;
    }
    b = cairn_calloc(1, sizeof *b);
    if (!b) ERR(CAIRN_ENOMEM, "out of memory reading documents");
    return b;
}

/* Gives b back to the handle for the next query, unless the query failed, it grew past SPARE_BYTES_MAX or the
 * handle holds another one already. */
static void batch_give(cairn_coll *c, batch *b, int rc)
{
    if (!b) return;
    if (rc < 0) { /* after a failed growth its arrays may be shorter than cap (batch_add) */
        batch_dispose(b);
        return;
    }
    batch_reset(b);
    size_t bytes = b->cap * (sizeof *b->p + sizeof *b->order + sizeof *b->keys +
                             sizeof *b->klens + sizeof *b->offs) +
                   b->arena.cap + b->scratch.cap;
    batch *none = NULL;
    if (bytes > SPARE_BYTES_MAX || !atomic_compare_exchange_strong(&c->spare, &none, b))
        batch_dispose(b);
}

void dv_find_spare_free(cairn_coll *c)
{
    batch_dispose(atomic_exchange(&c->spare, NULL));
}

/* Makes room for the entries' id-ordered arrays (b->cap entries). */
static int batch_room(batch *b)
{
    size_t n = b->cap ? b->cap : 1;
    size_t *o = cairn_realloc(b->order, n * sizeof *o);
    if (o) b->order = o;
    const void **k = o ? cairn_realloc(b->keys, n * sizeof *k) : NULL;
    if (k) b->keys = k;
    size_t *kl = k ? cairn_realloc(b->klens, n * sizeof *kl) : NULL;
    if (kl) b->klens = kl;
    size_t *of = kl ? cairn_realloc(b->offs, n * sizeof *of) : NULL;
    if (of) b->offs = of;
    FAIL_IF(!of, CAIRN_ENOMEM, "out of memory reading documents");
    return CAIRN_OK;
}

static int batch_add(batch *b, const void *id, size_t idlen, const void *key, size_t kl)
{
    if (b->n == b->cap) {
        TRY(cairn_array_room(&b->p, &b->cap, b->n, sizeof *b->p, 64));
        TRY(batch_room(b));
    }
    pending *p = &b->p[b->n];
    memset(p, 0, sizeof *p);
    p->id = b->arena.len;
    p->idlen = idlen;
    TRY(cairn_buf_reserve(&b->arena, b->arena.len + idlen + 1 + kl));
    uint8_t *a = b->arena.data + b->arena.len;
    memcpy(a, id, idlen);
    a[idlen] = '\0'; /* ids are used as C strings */
    if (kl) memcpy(a + idlen + 1, key, kl);
    p->key = p->id + idlen + 1;
    p->klen = kl;
    b->arena.len += idlen + 1 + kl;
    p->alive = true;
    b->n++;
    return CAIRN_OK;
}

static const char *pend_id(const batch *b, const pending *p) { return (const char *)b->arena.data + p->id; }

static int order_cmp(const void *x, const void *y, void *bp)
{
    const batch *b = bp;
    const pending *p = &b->p[*(const size_t *)x], *r = &b->p[*(const size_t *)y];
    int c = bytes_cmp(pend_id(b, p), p->idlen, pend_id(b, r), r->idlen);
    return c ? c : (*(const size_t *)x > *(const size_t *)y) - (*(const size_t *)x < *(const size_t *)y);
}

/* Puts every entry in id order in b->order (once per batch: $text's probes drop entries from
 * it with batch_live, they do not order it again). */
static void batch_order(batch *b)
{
    size_t *o = b->order;
    bool sorted = true;
    for (size_t i = 0; i < b->n; i++) {
        if (i && sorted)
            sorted = bytes_cmp(pend_id(b, &b->p[i - 1]), b->p[i - 1].idlen, pend_id(b, &b->p[i]),
                               b->p[i].idlen) <= 0;
        o[i] = i;
    }
    if (!sorted) qsort_r(o, b->n, sizeof *o, order_cmp, b);
}

/* Keeps the live entries of b->order[0..*n), in order; *n becomes how many. */
static void batch_live(batch *b, size_t *n)
{
    size_t m = 0;
    for (size_t i = 0; i < *n; i++)
        if (b->p[b->order[i]].alive) b->order[m++] = b->order[i];
    *n = m;
}

/* The keys for db_get_sorted(): each entry's id, in b->order. */
static void batch_keys(batch *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const pending *p = &b->p[b->order[i]];
        b->keys[i] = pend_id(b, p);
        b->klens[i] = p->idlen;
    }
}

/* The keys of a $text probe in b->order: prefix (the other word's), then the id as a tuple
 * string, which is the scanned key past the scanned word's prefix (skip bytes): copied, not
 * encoded again. */
static int batch_probe_keys(batch *b, size_t n, const cairn_buf *prefix, size_t skip)
{
    b->scratch.len = 0; /* offsets first: the scratch buffer moves as it grows */
    for (size_t i = 0; i < n; i++) {
        const pending *p = &b->p[b->order[i]];
        const uint8_t *key = b->arena.data + p->key;
        b->offs[i] = b->scratch.len;
        TRY(cairn_buf_reserve(&b->scratch, b->scratch.len + prefix->len + p->klen - skip));
        memcpy(b->scratch.data + b->scratch.len, prefix->data, prefix->len);
        memcpy(b->scratch.data + b->scratch.len + prefix->len, key + skip, p->klen - skip);
        b->scratch.len += prefix->len + p->klen - skip;
        b->klens[i] = b->scratch.len - b->offs[i];
    }
    for (size_t i = 0; i < n; i++) b->keys[i] = b->scratch.data + b->offs[i];
    return CAIRN_OK;
}

typedef struct got_ctx {
    query *q;
    batch *b;
    bool keep;               /* copy each document into its entry (tested later, in order) */
} got_ctx;

/* A $text probe's answer: no entry for the id, no result. */
static int probe_got(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    (void)vlen;
    got_ctx *g = payload;
    g->q->plan.keys_examined++;
    if (!val) g->b->p[g->b->order[i]].alive = false;
    return CAIRN_OK;
}

/* Drops the entries whose id lacks an entry for one of the other words of $text; *n: the live
 * entries in b->order, before and after. */
static int batch_probe(query *q, batch *b, size_t *n)
{
    for (size_t w = 0; dv_postings(q->ix) && w < q->nprobes && *n; w++) {
        if (w) batch_live(b, n);
        dv_probe *pr;
        TRY(dv_probe_open(&pr, q->itab, q->snap, q->probes[w].data, q->probes[w].len, q->what));
        int rc = CAIRN_OK;
        for (size_t i = 0; rc == CAIRN_OK && i < *n; i++) {
            pending *p = &b->p[b->order[i]];
            bool has = false;
            rc = dv_probe_has(pr, &has, pend_id(b, p), p->idlen);
            q->plan.keys_examined++;
            if (!has) p->alive = false;
        }
        dv_probe_close(pr);
        TRY(rc);
    }
    got_ctx g = { q, b, false };
    for (size_t w = 0; !dv_postings(q->ix) && w < q->nprobes && *n; w++) {
        if (w) batch_live(b, n);
        TRY(batch_probe_keys(b, *n, &q->probes[w], q->ranges[0].from.len));
        TRY(db_get_sorted(q->itab, q->snap, b->keys, b->klens, *n, probe_got, &g));
    }
    batch_live(b, n);
    return CAIRN_OK;
}

static int doc_got(size_t i, const uint8_t *val, size_t vlen, void *payload)
{
    got_ctx *g = payload;
    query *q = g->q;
    pending *p = &g->b->p[g->b->order[i]];
    const char *id = pend_id(g->b, p);
    if (!val)
        return CORRUPT("collection %s: index '%s' names document %s, which does not exist",
                       q->c->name, q->ix->name, id);
    if (!g->keep) return candidate(q, id, val, vlen, g->b->arena.data + p->key, p->klen);
    p->doc = cairn_malloc(vlen ? vlen : 1);
    FAIL_IF(!p->doc, CAIRN_ENOMEM, "out of memory reading documents");
    memcpy(p->doc, val, vlen);
    p->dlen = vlen;
    return CAIRN_OK;
}

/* Tests a batch of index entries: $text probes, then the documents read in id order. When
 * the results stream in the scan's order (natural), entries wait with their documents and are
 * tested in that order; otherwise (collected, then sorted) they are tested as they are read.
 * last: the scan has no more entries; a query ordered by id alone whose every entry is in this
 * one batch then streams its results in id order, without collecting them. */
static int batch_run(query *q, batch *b, bool last)
{
    if (!b->n) return CAIRN_OK;
    size_t n = b->n;
    batch_order(b);
    if (q->nprobes) TRY(batch_probe(q, b, &n));
    batch_keys(b, n);
    bool id_stream = !q->natural && !q->nsort && last && b->batches == 0;
    if (id_stream) { /* id order is the query's order: nothing to sort */
        q->natural = true;
        q->plan.sorted_in_memory = false;
    }
    b->batches++;
    bool in_scan_order = q->natural && !id_stream && !q->id_order;
    got_ctx g = { q, b, in_scan_order };
    int rc = db_get_sorted(q->c->docs, q->snap, b->keys, b->klens, n, doc_got, &g);
    for (size_t i = 0; rc == CAIRN_OK && in_scan_order && i < b->n; i++) {
        pending *p = &b->p[i];
        if (p->alive)
            rc = candidate(q, pend_id(b, p), p->doc, p->dlen, b->arena.data + p->key, p->klen);
    }
    batch_reset(b);
    return rc;
}

/* How many entries the next batch takes: BATCH_KEEP_MAX when results stream in the scan's
 * order (their documents are held until the batch is read: memory stays bounded), and with a
 * limit no more than the results still wanted (so the scan reads no entry past the last). */
static size_t batch_size(const query *q)
{
    size_t most = q->natural && !q->id_order ? BATCH_KEEP_MAX : BATCH_MAX;
    if (!q->natural || !q->qo->limit) return most;
    uint64_t want = q->qo->limit + q->qo->offset - q->plan.returned - q->skipped;
    return want < 1 ? 1 : want > most ? most : (size_t)want;
}

/* scan_range() of a text index kept as posting blocks: the word's ids, in order. */
static int scan_postings(query *q, const krange *r, batch *b)
{
    dv_pcur *pc;
    int rc = dv_pcur_open(&pc, q->itab, q->snap, r->from.data, r->from.len, q->what);
    if (rc == CAIRN_ENOTFOUND) { /* the index was never written: no entries */
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    while ((rc = dv_pcur_next(pc)) == CAIRN_OK) {
        const char *id;
        size_t idlen;
        dv_pcur_get(pc, NULL, NULL, NULL, &id, &idlen); /* (no key: a text index gives no
                                                           sort, and is not multikey-deduped) */
        q->plan.keys_examined++;
        rc = batch_add(b, id, idlen, NULL, 0);
        if (rc == CAIRN_OK && b->n >= batch_size(q)) rc = batch_run(q, b, false);
        if (rc) break;
    }
    dv_pcur_close(pc);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

static int scan_range(query *q, const krange *r, batch *b)
{
    if (dv_postings(q->ix)) return scan_postings(q, r, b);
    cairn_range cr = CAIRN_RANGE_INIT;
    if (r->to.len) {
        cr.from = r->from.data;
        cr.from_len = r->from.len;
        cr.to = r->to.data;
        cr.to_len = r->to.len;
    } else {
        cr.prefix = r->from.data;
        cr.prefix_len = r->from.len;
    }
    cairn_cursor *cur;
    int rc = cairn_cursor_open(&cur, q->itab, q->snap, &cr);
    if (rc == CAIRN_ENOTFOUND) { /* the index was never written: no entries */
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    while ((rc = q->reverse ? cairn_cursor_prev(cur) : cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        q->plan.keys_examined++;
        rc = batch_add(b, v, vl, k, kl);
        if (rc == CAIRN_OK && b->n >= batch_size(q)) rc = batch_run(q, b, false);
        if (rc) break;
    }
    cairn_cursor_close(cur);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        rc = CAIRN_OK;
    }
    return rc;
}

static int scan_index(query *q)
{
    batch *b = batch_take(q->c);
    if (!b) return CAIRN_ENOMEM;
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < q->nranges; i++)
        rc = scan_range(q, &q->ranges[q->reverse ? q->nranges - 1 - i : i], b);
    if (rc == CAIRN_OK) rc = batch_run(q, b, true);
    batch_give(q->c, b, rc);
    return rc;
}

/* ---- planning ---- */

static int add_range(query *q, const void *from, size_t fl, const void *to, size_t tl)
{
    TRY(cairn_array_room(&q->ranges, &q->ranges_cap, q->nranges, sizeof *q->ranges, 4));
    krange *r = &q->ranges[q->nranges++];
    memset(r, 0, sizeof *r);
    TRY(cairn_buf_set(&r->from, from, fl));
    if (to) TRY(cairn_buf_set(&r->to, to, tl));
    return CAIRN_OK;
}

static bool gives_sort(const query *q, const dv_index *ix)
{
    if (ix->multikey || (ix->flags & CAIRN_INDEX_TEXT) || ix->nfields != q->nsort || !q->nsort)
        return false;
    for (size_t i = 0; i < q->nsort; i++)
        if (strcmp(ix->fields[i].text, q->sort[i].text) != 0 || q->desc[i] != q->desc[0])
            return false;
    return true;
}

static int cond_score(const dv_cond *c)
{
    switch (c->kind) {
    case DV_COND_EQ: return 4;
    case DV_COND_IN: return 3;
    case DV_COND_PREFIX: return 2;
    case DV_COND_RANGE: return 1;
    default: return 0;
    }
}

/* How an index narrows a query: equalities on its first neq fields, then at most one
 * condition (last) on the next field. */
typedef struct narrow {
    const dv_cond *used[CAIRN_DOC_INDEX_FIELDS_MAX];
    size_t neq;
    const dv_cond *last;
    int score;               /* 0: the index does not narrow */
} narrow;

#define NARROW_PER_EQ 8      /* one more equal field beats any condition on the next field */
#define NARROW_TEXT 1000     /* the text index, for $text, beats every other */

/* The best condition on field f of ix (a two-sided range only when ix is not multikey; a range
 * from every operator of its path before a one-sided part). */
static const dv_cond *best_on(const dv_cond *conds, size_t n, const dv_index *ix, size_t f)
{
    const dv_cond *best = NULL;
    int best_score = 0;
    for (size_t k = 0; k < n; k++) {
        const dv_cond *c = &conds[k];
        if (c->kind == DV_COND_TEXT || strcmp(ix->fields[f].text, c->path) != 0) continue;
        if (c->two_sided && ix->multikey) continue;
        int score = 2 * cond_score(c) + (c->two_sided || c->whole);
        if (score > best_score) {
            best = c;
            best_score = score;
        }
    }
    return best;
}

static narrow narrow_by(const dv_cond *conds, size_t n, const dv_index *ix)
{
    narrow w;
    memset(&w, 0, sizeof w);
    if (ix->flags & CAIRN_INDEX_TEXT) {
        for (size_t k = 0; k < n && !w.last; k++)
            if (conds[k].kind == DV_COND_TEXT) w.last = &conds[k];
        w.score = w.last ? NARROW_TEXT : 0;
        return w;
    }
    for (size_t f = 0; f < ix->nfields; f++) {
        const dv_cond *c = best_on(conds, n, ix, f);
        if (!c) break;
        if (c->kind != DV_COND_EQ) {
            w.last = c;
            break;
        }
        w.used[w.neq++] = c;
    }
    w.score = (int)w.neq * NARROW_PER_EQ + (w.last ? cond_score(w.last) : 0);
    return w;
}

/* The token prefix of a text index's entries for one word. */
static int text_prefix(cairn_buf *out, const cairn_buf *token)
{
    return tuple_append_bytes(out, token->data, token->len);
}

/* $text: scans the rarest word's entries (counted in O(log n) each); the others are probes. */
static int plan_text(query *q, const dv_cond *c)
{
    size_t rarest = 0;
    uint64_t fewest = UINT64_MAX;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < c->nvals && c->nvals > 1; i++) {
        b.len = 0;
        rc = text_prefix(&b, &c->vals[i]);
        cairn_range r = CAIRN_RANGE_INIT;
        r.prefix = b.data;
        r.prefix_len = b.len;
        uint64_t n = 0;
        if (rc == CAIRN_OK && dv_postings(q->ix))
            rc = dv_post_estimate(&n, q->itab, q->snap, b.data, b.len, q->what);
        else if (rc == CAIRN_OK)
            rc = cairn_count(&n, q->itab, q->snap, &r);
        if (rc == CAIRN_ENOTFOUND) { /* the index was never written: no entries */
            cairn_error_clear();
            rc = CAIRN_OK;
        }
        if (rc == CAIRN_OK && n < fewest) {
            fewest = n;
            rarest = i;
        }
    }
    if (rc == CAIRN_OK && c->nvals > 1) {
        q->probes = cairn_calloc(c->nvals - 1, sizeof *q->probes);
        if (!q->probes) rc = ERR(CAIRN_ENOMEM, "out of memory planning $text");
    }
    for (size_t i = 0; rc == CAIRN_OK && i < c->nvals; i++)
        if (i != rarest) rc = text_prefix(&q->probes[q->nprobes++], &c->vals[i]);
    b.len = 0;
    if (rc == CAIRN_OK) rc = text_prefix(&b, &c->vals[rarest]);
    if (rc == CAIRN_OK) rc = add_range(q, b.data, b.len, NULL, 0);
    cairn_buf_dispose(&b);
    return rc;
}

static int plan_ranges(query *q, const narrow *w)
{
    static const char *const HOW[] = { "eq", "in", "range", "prefix", "text" };
    snprintf(q->plan.how, sizeof q->plan.how, "%s", HOW[w->last ? w->last->kind : DV_COND_EQ]);
    if (w->last && w->last->kind == DV_COND_TEXT) return plan_text(q, w->last);
    cairn_buf p = CAIRN_BUF_INIT, to = CAIRN_BUF_INIT; /* the equal fields' prefix */
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < w->neq; i++)
        rc = cairn_buf_append(&p, w->used[i]->vals[0].data, w->used[i]->vals[0].len);
    const dv_cond *c = w->last;
    size_t at = p.len;
    if (rc < 0 || !c) {
        if (rc == CAIRN_OK) rc = add_range(q, p.data, p.len, NULL, 0);
    } else if (c->kind == DV_COND_IN) {
        for (size_t i = 0; rc == CAIRN_OK && i < c->nvals; i++) {
            p.len = at;
            rc = cairn_buf_append(&p, c->vals[i].data, c->vals[i].len);
            if (rc == CAIRN_OK) rc = add_range(q, p.data, p.len, NULL, 0);
        }
    } else if (c->kind == DV_COND_RANGE) {
        rc = cairn_buf_append(&to, p.data, p.len);
        if (rc == CAIRN_OK) rc = cairn_buf_append(&p, c->lo.enc.data, c->lo.enc.len);
        if (rc == CAIRN_OK) rc = cairn_buf_append(&to, c->hi.enc.data, c->hi.enc.len);
        if (rc == CAIRN_OK) rc = add_range(q, p.data, p.len, to.data, to.len);
    } else { /* prefix */
        rc = cairn_buf_append(&p, c->lo.enc.data, c->lo.enc.len);
        if (rc == CAIRN_OK) rc = add_range(q, p.data, p.len, NULL, 0);
    }
    cairn_buf_dispose(&p);
    cairn_buf_dispose(&to);
    return rc;
}

static int plan(query *q)
{
    const dv_cond *conds = NULL;
    size_t nconds = 0;
    if (q->f) dv_filter_conds(&conds, &nconds, q->f);
    narrow best;
    memset(&best, 0, sizeof best);
    bool best_sorts = false;
    if (!(q->qo->flags & CAIRN_DOC_QUERY_NO_INDEX)) {
        for (size_t i = 0; i < q->cat->n; i++) {
            const dv_index *ix = &q->cat->idx[i];
            narrow w = narrow_by(conds, nconds, ix);
            bool sorts = gives_sort(q, ix);
            if (w.score > best.score || (w.score && w.score == best.score && sorts && !best_sorts)) {
                best = w;
                best_sorts = sorts;
                q->ix = ix;
            }
        }
        for (size_t i = 0; !q->ix && i < q->cat->n; i++)
            if (gives_sort(q, &q->cat->idx[i])) q->ix = &q->cat->idx[i];
    }
    if (!q->ix) {
        snprintf(q->plan.how, sizeof q->plan.how, "scan");
        q->natural = q->nsort == 0;
        q->plan.sorted_in_memory = !q->natural;
        q->exact = dv_filter_covered(q->f, NULL, 0);
        return CAIRN_OK;
    }
    snprintf(q->plan.index, sizeof q->plan.index, "%s", q->ix->name);
    snprintf(q->what, sizeof q->what, "collection %s: index '%s'", q->c->name, q->ix->name);
    TRY(dv_index_table(&q->itab, q->c, q->ix));
    bool text = (q->ix->flags & CAIRN_INDEX_TEXT) != 0;
    if (best.score) {
        TRY(plan_ranges(q, &best));
    } else {
        snprintf(q->plan.how, sizeof q->plan.how, "sort");
        TRY(add_range(q, "", 0, NULL, 0));
    }
    if (best.last) best.used[best.neq] = best.last;
    q->exact = (text || !q->ix->multikey) &&
               dv_filter_covered(q->f, best.used, best.neq + (best.last != NULL));
    bool sorts = gives_sort(q, q->ix);
    bool id_order = !q->nsort && q->nranges == 1 && best.score &&
                    (text || (!q->ix->multikey && !best.last && best.neq == q->ix->nfields));
    q->natural = sorts || id_order;
    q->id_order = id_order && !sorts;
    q->reverse = sorts && q->desc[0];
    q->plan.sorted_by_index = sorts;
    q->plan.sorted_in_memory = !q->natural;
    return CAIRN_OK;
}

/* ---- setting up ---- */

static int parse_sort(query *q)
{
    FAIL_IF(q->qo->nsort > SORT_FIELDS_MAX, CAIRN_EINVAL, "sort: at most %d fields, not %zu",
            SORT_FIELDS_MAX, q->qo->nsort);
    for (size_t i = 0; i < q->qo->nsort; i++) {
        const char *s = q->qo->sort[i];
        FAIL_IF(!s, CAIRN_EINVAL, "sort: field %zu missing", i);
        const char *colon = strrchr(s, ':');
        char *path = cairn_strndup(s, colon ? (size_t)(colon - s) : strlen(s));
        FAIL_IF(!path, CAIRN_ENOMEM, "out of memory");
        int rc = CAIRN_OK;
        if (colon && strcmp(colon, ":desc") == 0) q->desc[i] = true;
        else if (colon && strcmp(colon, ":asc") != 0)
            rc = ERR(CAIRN_EINVAL, "sort '%s': the direction is ':asc' or ':desc', not '%s'", s,
                     colon);
        if (rc == CAIRN_OK) rc = dv_path_parse(&q->sort[i], path, "sort");
        free(path);
        TRY(rc);
        q->nsort++;
    }
    return CAIRN_OK;
}

static int parse_after(query *q)
{
    const char *a = q->qo->after;
    if (!a) return CAIRN_OK;
    size_t n = strlen(a);
    bool ok = n % 2 == 0;
    for (size_t i = 0; ok && i < n; i += 2) {
        unsigned v;
        ok = sscanf(a + i, "%2x", &v) == 1 && strchr("0123456789abcdef", a[i]) &&
             strchr("0123456789abcdef", a[i + 1]);
        uint8_t byte = (uint8_t)v;
        if (ok) TRY(cairn_buf_append(&q->after, &byte, 1));
    }
    const uint8_t *p = q->after.data, *part;
    size_t left = q->after.len, pl;
    for (size_t i = 0; ok && i <= q->nsort; i++) ok = part_next(&p, &left, &part, &pl);
    FAIL_IF(!ok || left, CAIRN_EINVAL,
            "cursor '%.40s': not a cursor of a query with this sort (%zu fields)", a, q->nsort);
    q->has_after = true;
    return CAIRN_OK;
}

static void query_dispose(query *q)
{
    dv_catalog_put(q->c, q->cat);
    dv_filter_free(q->f);
    for (size_t i = 0; i < q->nsort; i++) dv_path_dispose(&q->sort[i]);
    for (size_t i = 0; i < q->nproj; i++) dv_path_dispose(&q->proj[i]);
    cairn_buf_dispose(&q->after);
    cairn_table_close(q->itab);
    for (size_t i = 0; i < q->nranges; i++) {
        cairn_buf_dispose(&q->ranges[i].from);
        cairn_buf_dispose(&q->ranges[i].to);
    }
    free(q->ranges);
    for (size_t i = 0; i < q->nprobes; i++) cairn_buf_dispose(&q->probes[i]);
    free(q->probes);
    for (size_t i = 0; i < q->nitems; i++) {
        free(q->items[i].doc);
        free(q->items[i].parts);
    }
    free(q->items);
    cairn_buf_dispose(&q->parts);
    cairn_buf_dispose(&q->scratch);
    cairn_buf_dispose(&q->out);
    cairn_buf_dispose(&q->full);
    cairn_buf_dispose(&q->emitted);
    cairn_buf_dispose(&q->idbuf);
    json_decref(q->pobj);
    dv_trust_dispose(&q->trust);
}

static int query_setup(query *q)
{
    const cairn_doc_query *o = q->qo;
    FAIL_IF(o->version != CAIRN_DOC_QUERY_VERSION, CAIRN_EINVAL,
            "cairn_doc_query: version %u, expected %d", o->version, CAIRN_DOC_QUERY_VERSION);
    q->max_bytes = o->max_sort_bytes ? o->max_sort_bytes : SORT_BYTES_DEFAULT;
    TRY(dv_catalog_get(&q->cat, q->c, q->snap));
    if (o->filter) {
        const dv_index *t = dv_catalog_text(q->cat);
        TRY(dv_filter_parse(&q->f, o->filter, strlen(o->filter), t ? t->fields[0].text : NULL,
                            false));
    }
    TRY(parse_sort(q));
    FAIL_IF(o->nproject > PROJECT_FIELDS_MAX, CAIRN_EINVAL, "projection: at most %d fields",
            PROJECT_FIELDS_MAX);
    for (size_t i = 0; i < o->nproject; i++) {
        FAIL_IF(!o->project[i], CAIRN_EINVAL, "projection: field %zu missing", i);
        TRY(dv_path_parse(&q->proj[i], o->project[i], "projection"));
        q->nproj++;
    }
    TRY(parse_after(q));
    TRY(plan(q));
    return names_setup(q);
}

/* A read of several trees (the catalog, an index, then the documents it names) sees one state:
 * without the caller's snapshot, *snap becomes one of the current state, opened into *own (the
 * caller closes it), so that a write between two of the reads cannot make the index name a
 * document that is gone. */
static int pin_state(const cairn_snapshot **snap, cairn_snapshot **own, cairn_coll *c)
{
    *own = NULL;
    if (*snap) return CAIRN_OK;
    TRY(cairn_snapshot_open(own, c->db));
    *snap = *own;
    return CAIRN_OK;
}

int cairn_doc_find(cairn_doc_plan *out_plan, cairn_coll *c, const cairn_snapshot *snap,
                   const cairn_doc_query *qo, cairn_doc_fn cb, void *payload)
{
    FAIL_IF(!c || !qo || !cb, CAIRN_EINVAL, "cairn_doc_find: coll, query and cb are required");
    cairn_snapshot *own;
    TRY(pin_state(&snap, &own, c));
    query q;
    memset(&q, 0, sizeof q);
    q.c = c;
    q.snap = snap;
    q.qo = qo;
    q.cb = cb;
    q.payload = payload;
    int rc = query_setup(&q);
    if (rc == CAIRN_OK) rc = q.ix ? scan_index(&q) : scan_docs(&q);
    if (rc == CAIRN_OK && !q.natural) rc = flush_sorted(&q);
    if (rc == STOP) rc = CAIRN_OK;
    else if (rc > STOP) rc -= 1; /* the callback's own value */
    if (rc == CAIRN_OK && out_plan) *out_plan = q.plan;
    query_dispose(&q);
    cairn_snapshot_close(own);
    return rc;
}

static int count_one(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (*(uint64_t *)p)++;
    return 0;
}

int cairn_doc_count(uint64_t *out, cairn_coll *c, const cairn_snapshot *snap, const char *filter)
{
    FAIL_IF(!out || !c, CAIRN_EINVAL, "cairn_doc_count: out and coll are required");
    *out = 0;
    if (!filter) return cairn_count(out, c->docs, snap, NULL);
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = filter;
    return cairn_doc_find(NULL, c, snap, &q, count_one, out);
}

/* ---- point reads ---- */

int cairn_doc_get(char **out_doc, size_t *out_len, cairn_coll *c, const cairn_snapshot *snap,
                  const char *id)
{
    FAIL_IF(!out_doc || !c || !id, CAIRN_EINVAL, "cairn_doc_get: out_doc, coll and id are required");
    *out_doc = NULL;
    TRY(dv_id_check(id, strlen(id)));
    void *val;
    size_t len;
    int rc = cairn_get(&val, &len, c->docs, snap, id, strlen(id));
    if (rc == CAIRN_ENOTFOUND) TRY(dv_pruned_refuse(c, snap, "doc get")); /* gone, not absent */
    if (rc == CAIRN_ENOTFOUND) return ERR(rc, "collection %s: no document %s", c->name, id);
    TRY(rc);
    rc = dv_stored_cstr(out_doc, &len, val, len, id, strlen(id), c->name, false);
    cairn_free(val);
    TRY(rc);
    dv_trust t = { 0 };
    rc = dv_sig_require(c, &t, id, *out_doc, len);
    dv_trust_dispose(&t);
    if (rc < 0) {
        free(*out_doc);
        *out_doc = NULL;
        return rc;
    }
    if (out_len) *out_len = len;
    return CAIRN_OK;
}

int cairn_doc_get_many(cairn_coll *c, const cairn_snapshot *snap, const char *const *ids,
                       size_t n, cairn_doc_fn cb, void *payload)
{
    FAIL_IF(!c || (!ids && n) || !cb, CAIRN_EINVAL, "cairn_doc_get_many: coll, ids and cb are required");
    cairn_snapshot *own;
    TRY(pin_state(&snap, &own, c)); /* the documents as of one moment */
    int rc = CAIRN_OK;
    for (size_t i = 0; i < n && rc == CAIRN_OK; i++) {
        char *doc;
        size_t len = 0;
        rc = cairn_doc_get(&doc, &len, c, snap, ids[i]);
        if (rc == CAIRN_ENOTFOUND) {
            cairn_error_clear();
            doc = NULL;
        } else if (rc < 0) {
            break;
        }
        rc = cb(ids[i], doc, len, NULL, payload);
        free(doc);
    }
    cairn_snapshot_close(own);
    return rc;
}
