/*
 * filter.c - query filters in MongoDB's shape: parsing (with errors that name the operator and
 * its path), matching a document, and handing the planner the conditions of the top-level
 * conjunction that an index can serve.
 *
 * A filter is a tree of nodes: AND, OR, NOT, TEXT and FIELD (a path with a list of operators).
 * Operands are encoded once, at parse time (value.c), and every comparison compares encodings.
 */

#include <stdlib.h>

#include "db/tuple.h"
#include "doc/doc_int.h"

#define FILTER_MAX_DEPTH 64   /* nested $and/$or/$not/$not-operator levels */
#define FILTER_MAX_NODES 10000 /* nodes and operators of one filter */

typedef enum op_kind {
    OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_NIN, OP_EXISTS, OP_PREFIX, OP_CONTAINS,
    OP_NOT
} op_kind;

static const char *const OP_NAMES[] = {
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$prefix", "$contains",
    "$not",
};

typedef struct op {
    op_kind kind;
    int rank;                /* of the operand (comparisons) */
    cairn_buf enc;           /* EQ NE GT.. LTE: the operand's encoding */
    cairn_buf *set;          /* IN NIN: encodings, sorted, unique */
    size_t nset;
    char *str;               /* PREFIX CONTAINS */
    size_t slen;
    bool flag;               /* EXISTS */
    bool scalar;             /* EQ..LTE: the operand is null, a boolean, a number or a string;
                                IN NIN: every element is */
    struct op *sub;          /* NOT: the operators it negates */
    size_t nsub;
} op;

typedef enum node_kind { N_AND, N_OR, N_NOT, N_TEXT, N_FIELD } node_kind;

typedef struct node {
    node_kind kind;
    struct node *kids;       /* AND OR: children; NOT: one */
    size_t nkids;
    dv_path path;            /* FIELD, TEXT */
    op *ops;                 /* FIELD */
    size_t nops;
    cairn_buf *tokens;       /* TEXT */
    size_t ntokens, tokens_cap;
} node;

struct dv_filter {
    node root;
    dv_cond *conds;
    size_t nconds, conds_cap;
    const char *text_path;
    bool check_only;
    size_t nodes;
};

/* ---- freeing ---- */

static void bufs_free(cairn_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) cairn_buf_dispose(&b[i]);
    free(b);
}

static void ops_free(op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cairn_buf_dispose(&ops[i].enc);
        bufs_free(ops[i].set, ops[i].nset);
        free(ops[i].str);
        ops_free(ops[i].sub, ops[i].nsub);
    }
    free(ops);
}

static void node_dispose(node *n)
{
    for (size_t i = 0; i < n->nkids; i++) node_dispose(&n->kids[i]);
    free(n->kids);
    dv_path_dispose(&n->path);
    ops_free(n->ops, n->nops);
    bufs_free(n->tokens, n->ntokens);
}

void dv_filter_free(dv_filter *f)
{
    if (!f) return;
    node_dispose(&f->root);
    for (size_t i = 0; i < f->nconds; i++) {
        if (f->conds[i].kind == DV_COND_RANGE) {
            cairn_buf_dispose(&f->conds[i].lo.enc);
            cairn_buf_dispose(&f->conds[i].hi.enc);
        }
        if (f->conds[i].kind == DV_COND_PREFIX) cairn_buf_dispose(&f->conds[i].lo.enc);
    }
    free(f->conds);
    free(f);
}

/* ---- parsing ---- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int count_node(dv_filter *f)
{
    FAIL_IF(++f->nodes > FILTER_MAX_NODES, CAIRN_EINVAL,
            "filter: more than %d conditions (the limit of one filter)", FILTER_MAX_NODES);
    return CAIRN_OK;
}

static int enc_cmp(const void *a, const void *b)
{
    const cairn_buf *x = a, *y = b;
    return bytes_cmp(x->data, x->len, y->data, y->len);
}

/* Encodes the elements of arr into a sorted set without duplicates. */
static int parse_set(op *o, const json_t *arr)
{
    size_t n = json_array_size(arr);
    o->set = cairn_calloc(n ? n : 1, sizeof *o->set);
    FAIL_IF(!o->set, CAIRN_ENOMEM, "out of memory parsing a filter");
    for (size_t i = 0; i < n; i++) {
        o->nset++;
        TRY(dv_encode(&o->set[i], json_array_get(arr, i)));
    }
    if (n > 1) qsort(o->set, n, sizeof *o->set, enc_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && enc_cmp(&o->set[w - 1], &o->set[i]) == 0) {
            cairn_buf_dispose(&o->set[i]);
            continue;
        }
        o->set[w++] = o->set[i];
    }
    o->nset = w;
    return CAIRN_OK;
}

static int parse_ops(dv_filter *f, op **out, size_t *nout, const json_t *obj, const char *path,
                     int depth);

static int parse_op(dv_filter *f, op *o, const char *name, const json_t *arg, const char *path,
                    int depth)
{
    size_t k = 0;
    while (k < ARRAY_LEN(OP_NAMES) && strcmp(OP_NAMES[k], name) != 0) k++;
    FAIL_IF(k == ARRAY_LEN(OP_NAMES), CAIRN_EINVAL,
            "filter: unknown operator '%s' at '%s' (known: $eq $ne $gt $gte $lt $lte $in $nin "
            "$exists $prefix $contains $not)", name, path);
    o->kind = (op_kind)k;
    switch (o->kind) {
    case OP_EQ:
    case OP_NE:
    case OP_GT:
    case OP_GTE:
    case OP_LT:
    case OP_LTE:
        o->rank = dv_rank(arg);
        o->scalar = o->rank < DV_ARRAY;
        return dv_encode(&o->enc, arg);
    case OP_IN:
    case OP_NIN:
        FAIL_IF(!json_is_array(arg), CAIRN_EINVAL, "filter: %s at '%s' takes an array, not %s",
                name, path, type_name(arg));
        o->scalar = true;
        for (size_t i = 0; i < json_array_size(arg); i++)
            o->scalar &= dv_rank(json_array_get(arg, i)) < DV_ARRAY;
        return parse_set(o, arg);
    case OP_EXISTS:
        FAIL_IF(!json_is_boolean(arg), CAIRN_EINVAL,
                "filter: %s at '%s' takes true or false, not %s", name, path, type_name(arg));
        o->flag = json_is_true(arg);
        return CAIRN_OK;
    case OP_PREFIX:
    case OP_CONTAINS:
        FAIL_IF(!json_is_string(arg), CAIRN_EINVAL, "filter: %s at '%s' takes a string, not %s",
                name, path, type_name(arg));
        o->slen = json_string_length(arg);
        o->str = cairn_strndup(json_string_value(arg), o->slen);
        FAIL_IF(!o->str, CAIRN_ENOMEM, "out of memory parsing a filter");
        return CAIRN_OK;
    default: /* OP_NOT */
        FAIL_IF(!json_is_object(arg) || json_object_size(arg) == 0, CAIRN_EINVAL,
                "filter: %s at '%s' takes an object of operators, not %s", name, path,
                json_is_object(arg) ? "an empty object" : type_name(arg));
        return parse_ops(f, &o->sub, &o->nsub, arg, path, depth + 1);
    }
}

static int parse_ops(dv_filter *f, op **out, size_t *nout, const json_t *obj, const char *path,
                     int depth)
{
    FAIL_IF(depth > FILTER_MAX_DEPTH, CAIRN_EINVAL,
            "filter: nested deeper than %d levels at '%s'", FILTER_MAX_DEPTH, path);
    size_t n = json_object_size(obj);
    *out = cairn_calloc(n, sizeof **out);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory parsing a filter");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        TRY(count_node(f));
        (*nout)++;
        TRY(parse_op(f, &(*out)[*nout - 1], k, v, path, depth));
    }
    return CAIRN_OK;
}

/* An object is an operator object when its first member name starts with '$'; then all must. */
static int is_operator_object(bool *out, const json_t *v, const char *path)
{
    *out = false;
    if (!json_is_object(v) || json_object_size(v) == 0) return CAIRN_OK;
    size_t dollars = 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) dollars += k[0] == '$';
    FAIL_IF(dollars && dollars != json_object_size(v), CAIRN_EINVAL,
            "filter: at '%s' an object mixes operators ($...) and field names", path);
    *out = dollars > 0;
    return CAIRN_OK;
}

static int parse_object(dv_filter *f, node *out, const json_t *obj, int depth);

static int parse_list(dv_filter *f, node *out, node_kind kind, const char *name,
                      const json_t *arr, int depth)
{
    FAIL_IF(!json_is_array(arr) || json_array_size(arr) == 0, CAIRN_EINVAL,
            "filter: %s takes a non-empty array of filters, not %s", name,
            json_is_array(arr) ? "an empty array" : type_name(arr));
    out->kind = kind;
    out->kids = cairn_calloc(json_array_size(arr), sizeof *out->kids);
    FAIL_IF(!out->kids, CAIRN_ENOMEM, "out of memory parsing a filter");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        FAIL_IF(!json_is_object(e), CAIRN_EINVAL,
                "filter: element %zu of %s is %s, not a filter object", i, name, type_name(e));
        out->nkids++;
        TRY(parse_object(f, &out->kids[i], e, depth + 1));
    }
    return CAIRN_OK;
}

static int text_token(const char *tok, size_t len, void *payload)
{
    node *n = payload;
    TRY(cairn_array_room(&n->tokens, &n->tokens_cap, n->ntokens, sizeof *n->tokens, 4));
    cairn_buf b = CAIRN_BUF_INIT;
    TRY(cairn_buf_set(&b, tok, len));
    n->tokens[n->ntokens++] = b;
    return CAIRN_OK;
}

static int parse_text(dv_filter *f, node *out, const json_t *arg)
{
    out->kind = N_TEXT;
    FAIL_IF(!json_is_string(arg), CAIRN_EINVAL, "filter: $text takes a string of words, not %s",
            type_name(arg));
    FAIL_IF(!f->text_path && !f->check_only, CAIRN_EINVAL,
            "filter: $text needs a text index on the collection (cairn doc index create COLL "
            "FIELD --text)");
    TRY(dv_path_parse(&out->path, f->text_path ? f->text_path : "_", "filter: $text"));
    TRY(dv_tokens(json_string_value(arg), json_string_length(arg), text_token, out));
    FAIL_IF(out->ntokens == 0, CAIRN_EINVAL, "filter: $text \"%s\" holds no word",
            json_string_value(arg));
    return CAIRN_OK;
}

/* One member of a filter object: a logical operator or a path with its condition. */
static int parse_member(dv_filter *f, node *out, const char *k, const json_t *v, int depth)
{
    TRY(count_node(f));
    if (strcmp(k, "$and") == 0) return parse_list(f, out, N_AND, k, v, depth);
    if (strcmp(k, "$or") == 0) return parse_list(f, out, N_OR, k, v, depth);
    if (strcmp(k, "$text") == 0) return parse_text(f, out, v);
    if (strcmp(k, "$not") == 0) {
        FAIL_IF(!json_is_object(v), CAIRN_EINVAL, "filter: $not takes a filter object, not %s",
                type_name(v));
        out->kind = N_NOT;
        out->kids = cairn_calloc(1, sizeof *out->kids);
        FAIL_IF(!out->kids, CAIRN_ENOMEM, "out of memory parsing a filter");
        out->nkids = 1;
        return parse_object(f, out->kids, v, depth + 1);
    }
    FAIL_IF(k[0] == '$', CAIRN_EINVAL,
            "filter: unknown operator '%s' at the top level (known there: $and $or $not $text)", k);
    out->kind = N_FIELD;
    TRY(dv_path_parse(&out->path, k, "filter"));
    bool ops;
    TRY(is_operator_object(&ops, v, k));
    if (ops) return parse_ops(f, &out->ops, &out->nops, v, k, depth + 1);
    out->ops = cairn_calloc(1, sizeof *out->ops);
    FAIL_IF(!out->ops, CAIRN_ENOMEM, "out of memory parsing a filter");
    out->nops = 1;
    out->ops[0].kind = OP_EQ;
    out->ops[0].rank = dv_rank(v);
    out->ops[0].scalar = out->ops[0].rank < DV_ARRAY;
    return dv_encode(&out->ops[0].enc, v);
}

static int parse_object(dv_filter *f, node *out, const json_t *obj, int depth)
{
    FAIL_IF(depth > FILTER_MAX_DEPTH, CAIRN_EINVAL, "filter: nested deeper than %d levels",
            FILTER_MAX_DEPTH);
    out->kind = N_AND;
    size_t n = json_object_size(obj);
    if (n == 0) return CAIRN_OK;
    out->kids = cairn_calloc(n, sizeof *out->kids);
    FAIL_IF(!out->kids, CAIRN_ENOMEM, "out of memory parsing a filter");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        out->nkids++;
        TRY(parse_member(f, &out->kids[out->nkids - 1], k, v, depth));
    }
    return CAIRN_OK;
}

/* ---- the planner's view ---- */

static int add_cond(dv_filter *f, dv_cond **c, const node *n)
{
    TRY(cairn_array_room(&f->conds, &f->conds_cap, f->nconds, sizeof *f->conds, 4));
    *c = &f->conds[f->nconds++];
    memset(*c, 0, sizeof **c);
    (*c)->node = n;
    return CAIRN_OK;
}

/* One range condition [lo, hi) (either operator may be NULL: the rank's own bounds). */
static int add_range_cond(dv_filter *f, const node *n, int rank, const op *lo, const op *hi,
                          bool whole)
{
    dv_cond *c;
    TRY(add_cond(f, &c, n));
    c->whole = whole;
    c->kind = DV_COND_RANGE;
    c->path = n->path.text;
    c->two_sided = lo && hi;
    if (lo && lo->kind == OP_GTE) TRY(cairn_buf_set(&c->lo.enc, lo->enc.data, lo->enc.len));
    else if (lo) TRY(tuple_range_end(&c->lo.enc, lo->enc.data, lo->enc.len));
    else TRY(dv_encode_rank(&c->lo.enc, rank));
    if (hi && hi->kind == OP_LT) TRY(cairn_buf_set(&c->hi.enc, hi->enc.data, hi->enc.len));
    else if (hi) TRY(tuple_range_end(&c->hi.enc, hi->enc.data, hi->enc.len));
    else TRY(dv_encode_rank(&c->hi.enc, rank + 1));
    return CAIRN_OK;
}

/* The comparisons on one path with the rank of the first one: the two-sided range (for
 * indexes that are not multikey) first, then each side alone. */
static int range_cond(dv_filter *f, const node *n)
{
    const op *lo = NULL, *hi = NULL;
    int rank = -1;
    bool all = true; /* every operator of the node is a comparison of one scalar rank */
    for (size_t i = 0; i < n->nops; i++) {
        const op *o = &n->ops[i];
        bool is_lo = o->kind == OP_GT || o->kind == OP_GTE;
        bool is_hi = o->kind == OP_LT || o->kind == OP_LTE;
        all &= (is_lo || is_hi) && o->scalar && (rank < 0 || o->rank == rank);
        if (!is_lo && !is_hi) continue;
        if (rank < 0) rank = o->rank;
        if (o->rank != rank) continue;
        if (is_lo && (!lo || enc_cmp(&o->enc, &lo->enc) > 0 ||
                      (enc_cmp(&o->enc, &lo->enc) == 0 && o->kind == OP_GT)))
            lo = o;
        if (is_hi && (!hi || enc_cmp(&o->enc, &hi->enc) < 0 ||
                      (enc_cmp(&o->enc, &hi->enc) == 0 && o->kind == OP_LT)))
            hi = o;
    }
    if (rank < 0) return CAIRN_OK;
    if (lo && hi) TRY(add_range_cond(f, n, rank, lo, hi, all));
    if (lo) TRY(add_range_cond(f, n, rank, lo, NULL, all && !hi));
    if (hi) TRY(add_range_cond(f, n, rank, NULL, hi, all && !lo));
    return CAIRN_OK;
}

static int field_conds(dv_filter *f, const node *n)
{
    for (size_t i = 0; i < n->nops; i++) {
        op *o = &n->ops[i];
        dv_cond *c;
        if (o->kind == OP_EQ || o->kind == OP_IN) {
            TRY(add_cond(f, &c, n));
            c->whole = n->nops == 1 && o->scalar;
            c->kind = o->kind == OP_EQ ? DV_COND_EQ : DV_COND_IN;
            c->path = n->path.text;
            c->vals = o->kind == OP_EQ ? &o->enc : o->set;
            c->nvals = o->kind == OP_EQ ? 1 : o->nset;
        } else if (o->kind == OP_PREFIX) {
            TRY(add_cond(f, &c, n));
            c->kind = DV_COND_PREFIX;
            c->path = n->path.text;
            TRY(dv_encode_rank(&c->lo.enc, DV_STRING));
            TRY(tuple_append_string(&c->lo.enc, o->str, o->slen));
            c->lo.enc.len--; /* without the string's terminating 0x00 */
        }
    }
    return range_cond(f, n);
}

static int collect_conds(dv_filter *f, const node *n)
{
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->nkids; i++) TRY(collect_conds(f, &n->kids[i]));
    } else if (n->kind == N_FIELD) {
        TRY(field_conds(f, n));
    } else if (n->kind == N_TEXT) {
        dv_cond *c;
        TRY(add_cond(f, &c, n));
        c->whole = true;
        c->kind = DV_COND_TEXT;
        c->path = n->path.text;
        c->vals = n->tokens;
        c->nvals = n->ntokens;
    }
    return CAIRN_OK;
}

void dv_filter_conds(const dv_cond **out, size_t *n, const dv_filter *f)
{
    *out = f->conds;
    *n = f->nconds;
}

static int node_paths(const node *n, int (*cb)(const dv_path *p, void *payload), void *payload)
{
    if (n->kind == N_FIELD || n->kind == N_TEXT) return cb(&n->path, payload);
    for (size_t i = 0; i < n->nkids; i++) TRY(node_paths(&n->kids[i], cb, payload));
    return CAIRN_OK;
}

int dv_filter_paths(const dv_filter *f, int (*cb)(const dv_path *p, void *payload), void *payload)
{
    return f ? node_paths(&f->root, cb, payload) : CAIRN_OK;
}

static bool covered(const node *n, const dv_cond *const *used, size_t nused)
{
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->nkids; i++)
            if (!covered(&n->kids[i], used, nused)) return false;
        return true;
    }
    for (size_t i = 0; i < nused; i++)
        if (used[i]->node == n && used[i]->whole) return true;
    return false;
}

bool dv_filter_covered(const dv_filter *f, const dv_cond *const *used, size_t n)
{
    return !f || covered(&f->root, used, n);
}

int dv_filter_parse(dv_filter **out, const char *text, size_t len, const char *text_path,
                    bool check_only)
{
    *out = NULL;
    dv_filter *f = cairn_calloc(1, sizeof *f);
    FAIL_IF(!f, CAIRN_ENOMEM, "out of memory parsing a filter");
    f->text_path = text_path;
    f->check_only = check_only;
    f->root.kind = N_AND;
    json_t *j = NULL;
    int rc = text ? canon_parse(&j, text, len, "filter") : CAIRN_OK;
    if (rc == CAIRN_OK && j && !json_is_object(j))
        rc = ERR(CAIRN_EINVAL, "filter: must be a JSON object, not %s", type_name(j));
    if (rc == CAIRN_OK && j) rc = parse_object(f, &f->root, j, 0);
    if (rc == CAIRN_OK) rc = collect_conds(f, &f->root);
    json_decref(j);
    if (rc < 0) {
        dv_filter_free(f);
        return rc;
    }
    *out = f;
    return CAIRN_OK;
}

int cairn_doc_filter_check(const char *filter, size_t len)
{
    FAIL_IF(!filter, CAIRN_EINVAL, "cairn_doc_filter_check: no filter");
    dv_filter *f;
    TRY(dv_filter_parse(&f, filter, len, NULL, true));
    dv_filter_free(f);
    return CAIRN_OK;
}

/* ---- matching ---- */

typedef struct vals {
    const json_t **v;
    size_t n, cap;
    cairn_buf scratch;
} vals;

static int collect_val(const json_t *v, void *payload)
{
    vals *vs = payload;
    TRY(cairn_array_room(&vs->v, &vs->cap, vs->n, sizeof *vs->v, 8));
    vs->v[vs->n++] = v;
    return CAIRN_OK;
}

/* Whether encoding e is in the sorted set. */
static bool in_set(const cairn_buf *e, const op *o)
{
    if (!o->nset) return false;
    return bsearch(e, o->set, o->nset, sizeof *o->set, enc_cmp) != NULL;
}

static int match_ops(const op *ops, size_t nops, vals *vs);

/* Whether any value satisfies a positive operator. */
static int any_value(const op *o, vals *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        const json_t *v = vs->v[i];
        if (o->kind == OP_PREFIX || o->kind == OP_CONTAINS) {
            if (!json_is_string(v)) continue;
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (o->kind == OP_PREFIX ? n >= o->slen && memcmp(s, o->str, o->slen) == 0
                                     : memmem(s, n, o->str, o->slen) != NULL)
                return 1;
            continue;
        }
        bool cmp_op = o->kind == OP_GT || o->kind == OP_GTE || o->kind == OP_LT || o->kind == OP_LTE;
        if (cmp_op && dv_rank(v) != o->rank) continue;
        vs->scratch.len = 0;
        TRY(dv_encode(&vs->scratch, v));
        int c = enc_cmp(&vs->scratch, &o->enc);
        switch (o->kind) {
        case OP_EQ: if (c == 0) return 1; break;
        case OP_GT: if (c > 0) return 1; break;
        case OP_GTE: if (c >= 0) return 1; break;
        case OP_LT: if (c < 0) return 1; break;
        case OP_LTE: if (c <= 0) return 1; break;
        default: if (in_set(&vs->scratch, o)) return 1; break; /* OP_IN */
        }
    }
    return 0;
}

static int match_op(const op *o, vals *vs)
{
    op pos;
    switch (o->kind) {
    case OP_EXISTS: return (vs->n > 0) == o->flag;
    case OP_NE:
        pos = *o;
        pos.kind = OP_EQ;
        return !any_value(&pos, vs) ? 1 : 0;
    case OP_NIN: {
        pos = *o;
        pos.kind = OP_IN;
        int r = any_value(&pos, vs);
        return r < 0 ? r : !r;
    }
    case OP_NOT: {
        int r = match_ops(o->sub, o->nsub, vs);
        return r < 0 ? r : !r;
    }
    default: return any_value(o, vs);
    }
}

static int match_ops(const op *ops, size_t nops, vals *vs)
{
    for (size_t i = 0; i < nops; i++) {
        int r = match_op(&ops[i], vs);
        if (r <= 0) return r;
    }
    return 1;
}

typedef struct tokset {
    const node *n;
    bool *seen;
} tokset;

static int seen_token(const char *tok, size_t len, void *payload)
{
    tokset *t = payload;
    for (size_t i = 0; i < t->n->ntokens; i++)
        if (t->n->tokens[i].len == len && memcmp(t->n->tokens[i].data, tok, len) == 0)
            t->seen[i] = true;
    return CAIRN_OK;
}

static int match_text(const node *n, vals *vs)
{
    bool *seen = cairn_calloc(n->ntokens, sizeof *seen);
    FAIL_IF(!seen, CAIRN_ENOMEM, "out of memory matching $text");
    tokset t = { n, seen };
    for (size_t i = 0; i < vs->n; i++)
        if (json_is_string(vs->v[i]))
            dv_tokens(json_string_value(vs->v[i]), json_string_length(vs->v[i]), seen_token, &t);
    int r = 1;
    for (size_t i = 0; i < n->ntokens; i++) r &= seen[i];
    free(seen);
    return r;
}

static int match_node(const node *n, const json_t *doc)
{
    switch (n->kind) {
    case N_AND:
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++) {
            int r = match_node(&n->kids[i], doc);
            if (r < 0) return r;
            if (n->kind == N_AND && !r) return 0;
            if (n->kind == N_OR && r) return 1;
        }
        return n->kind == N_AND;
    case N_NOT: {
        int r = match_node(n->kids, doc);
        return r < 0 ? r : !r;
    }
    default: {
        vals vs = { NULL, 0, 0, CAIRN_BUF_INIT };
        int r = dv_each(doc, &n->path, NULL, collect_val, &vs);
        if (r == CAIRN_OK)
            r = n->kind == N_TEXT ? match_text(n, &vs) : match_ops(n->ops, n->nops, &vs);
        free(vs.v);
        cairn_buf_dispose(&vs.scratch);
        return r;
    }
    }
}

int dv_filter_match(const dv_filter *f, const json_t *doc)
{
    return match_node(&f->root, doc);
}
