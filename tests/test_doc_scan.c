/*
 * test_doc_scan.c - the scan path of document queries (src/doc/find.c): a query that no index
 * serves tests each stored document on the members its filter reads, read from the stored
 * text alone (canon_members(), each value by canon_load(), into one object emptied and reused
 * document after document), and parses the whole document where a name is stored escaped and
 * may spell one the filter reads. The results are checked against the test's own reading of
 * the same documents (jansson) and its own evaluation of the filters.
 *
 *  scan_matches_reference  400 documents with numbers (integers from the int64 edges to 0,
 *                          reals), strings with escapes and non-ASCII letters, nested objects,
 *                          arrays, booleans, null, and names stored escaped; 300 random filters
 *                          ($lt, $gte on a number, equality on a string or an integer, $exists,
 *                          two members at once, members with escaped names): each scan returns
 *                          exactly the ids the reference picks, in id order
 *  scan_escaped_names      a filter on a name stored escaped (a quote, a backslash, a tab) finds
 *                          every document holding it, whether or not the document also holds
 *                          the unescaped names beside it, and none other
 */
#include <cairn/doc.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

#define NDOCS 400
#define NFILTERS 300
#define IDS_MAX (NDOCS * 8)

/* Names the documents may hold besides _id; those with an escape are stored escaped. */
static const char *const NAMES[] = { "n", "s", "q\"x", "\\", "t\tab" };
#define NNAMES (sizeof NAMES / sizeof NAMES[0])
static const char *const STRINGS[] = { "a", "b\"c", "\xc3\xa9t\xc3\xa9", "d\\e", "", "n" };
#define NSTRINGS (sizeof STRINGS / sizeof STRINGS[0])

static json_t *random_number(uint64_t *rs)
{
    switch (test_rand(rs) % 6) {
    case 0: return json_integer(INT64_MAX - (json_int_t)(test_rand(rs) % 3));
    case 1: return json_integer(INT64_MIN + (json_int_t)(test_rand(rs) % 3));
    case 2: return json_real((double)(test_rand(rs) % 200) / 8.0 - 12.0);
    default: return json_integer((json_int_t)(test_rand(rs) % 41) - 20);
    }
}

/* Document i: the members of NAMES it holds, drawn from rs, and members no filter reads. */
static json_t *random_doc(uint64_t *rs, unsigned i)
{
    json_t *d = json_object();
    char id[16];
    snprintf(id, sizeof id, "d%05u", i);
    json_object_set_new(d, "_id", json_string(id));
    if (test_rand(rs) % 5) json_object_set_new(d, "n", random_number(rs));
    if (test_rand(rs) % 4) json_object_set_new(d, "s", json_string(STRINGS[test_rand(rs) % NSTRINGS]));
    for (size_t k = 2; k < NNAMES; k++)
        if (test_rand(rs) % 3 == 0)
            json_object_set_new(d, NAMES[k], json_integer((json_int_t)(test_rand(rs) % 3)));
    /* what a scan skips over: nesting, arrays, escapes, other kinds */
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(7));
    json_object_set_new(o, "s", json_string("}\"]{["));
    json_object_set_new(d, "obj", o);
    json_t *a = json_array();
    json_array_append_new(a, json_string("n"));
    json_array_append_new(a, json_real(1.5));
    json_array_append_new(a, json_null());
    json_object_set_new(d, "arr", a);
    json_object_set_new(d, "yes", json_boolean(test_rand(rs) % 2));
    json_object_set_new(d, "zz", json_null());
    return d;
}

/* A random filter and the test's own evaluation of it. */
typedef struct filter {
    int kind;                /* 0 $lt, 1 $gte, 2 string equality, 3 integer equality on an
                                escaped name, 4 $exists, 5 $lt and string equality */
    double num;
    const char *name;
    const char *str;
    json_int_t i;
    bool exists;
} filter;

static filter random_filter(uint64_t *rs)
{
    filter f = { 0 };
    f.kind = (int)(test_rand(rs) % 6);
    f.num = (double)(test_rand(rs) % 41) - 20;
    f.str = STRINGS[test_rand(rs) % NSTRINGS];
    f.name = NAMES[2 + test_rand(rs) % (NNAMES - 2)];
    f.i = (json_int_t)(test_rand(rs) % 3);
    f.exists = test_rand(rs) % 2;
    if (f.kind == 4) f.name = NAMES[test_rand(rs) % NNAMES];
    return f;
}

static char *filter_text(const filter *f)
{
    json_t *j = json_object(), *c = json_object();
    switch (f->kind) {
    case 0:
    case 5:
        json_object_set_new(c, "$lt", json_integer((json_int_t)f->num));
        json_object_set_new(j, "n", c);
        if (f->kind == 5) json_object_set_new(j, "s", json_string(f->str));
        break;
    case 1:
        json_object_set_new(c, "$gte", json_integer((json_int_t)f->num));
        json_object_set_new(j, "n", c);
        break;
    case 2: json_object_set_new(j, "s", json_string(f->str)); break;
    case 3: json_object_set_new(j, f->name, json_integer(f->i)); break;
    default:
        json_object_set_new(c, "$exists", json_boolean(f->exists));
        json_object_set_new(j, f->name, c);
        break;
    }
    if (!json_object_size(c)) json_decref(c);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static bool string_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static bool holds(const filter *f, const json_t *d)
{
    const json_t *n = json_object_get(d, "n");
    switch (f->kind) {
    case 0: return json_is_number(n) && json_number_value(n) < f->num;
    case 1: return json_is_number(n) && json_number_value(n) >= f->num;
    case 2: return string_is(json_object_get(d, "s"), f->str);
    case 3: {
        const json_t *v = json_object_get(d, f->name);
        return json_is_integer(v) && json_integer_value(v) == f->i;
    }
    case 4: return (json_object_get(d, f->name) != NULL) == f->exists;
    default:
        return json_is_number(n) && json_number_value(n) < f->num &&
               string_is(json_object_get(d, "s"), f->str);
    }
}

/* The ids a query gives, space-separated, in its order. */
typedef struct ids {
    char s[IDS_MAX];
    size_t len;
    bool overflow;
} ids;

static int add_id(const char *id, const char *doc, size_t len, const char *cursor, void *payload)
{
    (void)doc;
    (void)len;
    (void)cursor;
    ids *r = payload;
    size_t n = strlen(id);
    if (r->len + n + 2 > sizeof r->s) {
        r->overflow = true;
        return 0;
    }
    memcpy(r->s + r->len, id, n);
    r->len += n;
    r->s[r->len++] = ' ';
    r->s[r->len] = '\0';
    return 0;
}

static void find_ids(ids *out, cairn_coll *c, const char *filter_json)
{
    memset(out, 0, sizeof *out);
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = filter_json;
    cairn_doc_plan plan;
    CHECK_OK(cairn_doc_find(&plan, c, NULL, &q, add_id, out));
    CHECK(!out->overflow);
    CHECK_MSG(plan.docs_examined == NDOCS, "%llu documents examined, not a scan of %d",
              (unsigned long long)plan.docs_examined, NDOCS);
}

/* Collection "c" of db with NDOCS random documents, also kept (as jansson reads them) in docs. */
static void fill(cairn_coll **out, cairn_db *db, json_t *docs[NDOCS], uint64_t *rs)
{
    CHECK_OK(cairn_coll_open(out, db, "c", CAIRN_COLL_CREATE));
    cairn_coll *c = *out;
    for (unsigned i = 0; i < NDOCS; i++) {
        docs[i] = random_doc(rs, i);
        char *s = json_dumps(docs[i], JSON_COMPACT);
        CHECK_OK(cairn_doc_insert(NULL, c, s, strlen(s), NULL));
        free(s);
    }
}

static void scan_matches_reference(void)
{
    uint64_t rs = test_rng(1);
    cairn_db *db = test_open_repo("mem:");
    json_t *docs[NDOCS];
    cairn_coll *c = NULL;
    fill(&c, db, docs, &rs);
    static ids got, want;
    for (int k = 0; k < NFILTERS; k++) {
        filter f = random_filter(&rs);
        char *text = filter_text(&f);
        find_ids(&got, c, text);
        memset(&want, 0, sizeof want);
        for (unsigned i = 0; i < NDOCS; i++)
            if (holds(&f, docs[i]))
                add_id(json_string_value(json_object_get(docs[i], "_id")), NULL, 0, NULL, &want);
        CHECK_MSG(strcmp(got.s, want.s) == 0, "filter %s: the scan gave [%s], the reference [%s]",
                  text, got.s, want.s);
        free(text);
    }
    for (unsigned i = 0; i < NDOCS; i++) json_decref(docs[i]);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

static void scan_escaped_names(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c = NULL;
    CHECK_OK(cairn_coll_open(&c, db, "c", CAIRN_COLL_CREATE));
    /* with the escaped names alone, and beside short plain names that sort before them */
    static const char *const docs[] = {
        "{\"_id\":\"a\",\"q\\\"x\":1,\"\\\\\":1,\"t\\tab\":1}",
        "{\"_id\":\"b\",\"a\":0,\"b\":0,\"q\\\"x\":1,\"\\\\\":2,\"t\\tab\":1,\"z\":0}",
        "{\"_id\":\"c\",\"a\":0,\"qx\":1,\"q\":1,\"t\":1,\"tab\":1}",
        "{\"_id\":\"d\",\"q\\\"x\":2,\"\\\\\":1}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        CHECK_OK(cairn_doc_insert(NULL, c, docs[i], strlen(docs[i]), NULL));
    static const struct {
        const char *filter, *want;
    } cases[] = {
        { "{\"q\\\"x\":1}", "a b " },
        { "{\"\\\\\":1}", "a d " },
        { "{\"t\\tab\":1}", "a b " },
        { "{\"q\\\"x\":{\"$exists\":true}}", "a b d " },
        { "{\"a\":0,\"q\\\"x\":1}", "b " },
        { "{\"qx\":1}", "c " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ids got;
        memset(&got, 0, sizeof got);
        cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
        q.filter = cases[i].filter;
        CHECK_OK(cairn_doc_find(NULL, c, NULL, &q, add_id, &got));
        CHECK_MSG(strcmp(got.s, cases[i].want) == 0, "filter %s: [%s], expected [%s]",
                  cases[i].filter, got.s, cases[i].want);
    }
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(scan_matches_reference, scan_escaped_names)
