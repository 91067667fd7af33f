/*
 * value.c - the sort encoding of JSON values, paths into documents, and text tokens.
 *
 * The encoding (docs/FORMAT.md, "Document values") is made of tuple elements (db/tuple.c), whose
 * byte order is their logical order: the rank (an integer), then by rank: a boolean; a number
 * as a double followed by the exact integer (integers) or a null (other numbers), so integers
 * beyond 2^53 that share a double still order exactly; a string; an array as (1, element)... 0;
 * an object as (1, name, value)... 0. The markers 1 and 0 make a shorter array or object sort
 * before a longer one that starts the same, and need no nesting depth.
 */
#include <math.h>

#include "db/tuple.h"
#include "doc/doc_int.h"

#define DV_MORE 1 /* marker before each element or member */
#define DV_END 0  /* marker after the last */
#define EXACT_INT_MAX 9007199254740992.0 /* 2^53 */

int dv_rank(const json_t *v)
{
    if (!v) return DV_MISSING;
    switch (json_typeof(v)) {
    case JSON_NULL: return DV_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return DV_BOOL;
    case JSON_INTEGER:
    case JSON_REAL: return DV_NUMBER;
    case JSON_STRING: return DV_STRING;
    case JSON_ARRAY: return DV_ARRAY;
    default: return DV_OBJECT;
    }
}

int dv_encode_rank(cairn_buf *out, int rank)
{
    return tuple_append_int(out, rank);
}

static int encode_number(cairn_buf *out, const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        TRY(tuple_append_double(out, (double)i));
        return tuple_append_int(out, (int64_t)i);
    }
    double d = json_real_value(v);
    if (d == floor(d) && fabs(d) <= EXACT_INT_MAX) { /* as canonical JSON writes it: an integer */
        TRY(tuple_append_double(out, d == 0 ? 0.0 : d));
        return tuple_append_int(out, (int64_t)d);
    }
    TRY(tuple_append_double(out, d));
    return tuple_append_null(out, 0);
}

/* Objects are encoded in canonical member order: names sorted by their bytes. */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int encode_object(cairn_buf *out, const json_t *v)
{
    size_t n = json_object_size(v);
    const char **names = n ? cairn_malloc(n * sizeof *names) : NULL;
    FAIL_IF(n && !names, CAIRN_ENOMEM, "out of memory encoding an object of %zu members", n);
    size_t i = 0;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) names[i++] = k;
    if (n > 1) qsort(names, n, sizeof *names, name_cmp);
    int rc = CAIRN_OK;
    for (i = 0; i < n && rc == CAIRN_OK; i++) {
        rc = tuple_append_int(out, DV_MORE);
        if (rc == CAIRN_OK) rc = tuple_append_string(out, names[i], strlen(names[i]));
        if (rc == CAIRN_OK) rc = dv_encode(out, json_object_get(v, names[i]));
    }
    free(names);
    TRY(rc);
    return tuple_append_int(out, DV_END);
}

int dv_encode(cairn_buf *out, const json_t *v)
{
    int rank = dv_rank(v);
    TRY(tuple_append_int(out, rank));
    switch (rank) {
    case DV_MISSING:
    case DV_NULL: return CAIRN_OK;
    case DV_BOOL: return tuple_append_bool(out, json_is_true(v));
    case DV_NUMBER: return encode_number(out, v);
    case DV_STRING: return tuple_append_string(out, json_string_value(v), json_string_length(v));
    case DV_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++) {
            TRY(tuple_append_int(out, DV_MORE));
            TRY(dv_encode(out, json_array_get(v, i)));
        }
        return tuple_append_int(out, DV_END);
    default: return encode_object(out, v);
    }
}

/* ---- paths ---- */

int dv_path_parse(dv_path *out, const char *text, const char *what)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(text);
    FAIL_IF(n == 0, CAIRN_EINVAL, "%s: an empty path", what);
    out->text = cairn_strdup(text);
    out->buf = cairn_strdup(text);
    if (!out->text || !out->buf) {
        dv_path_dispose(out);
        return ERR(CAIRN_ENOMEM, "out of memory parsing path '%s'", text);
    }
    char *s = out->buf;
    for (;;) {
        char *dot = strchr(s, '.');
        if (dot) *dot = '\0';
        if (*s == '\0' || out->nseg == DV_PATH_MAX_SEGS) {
            int too_many = out->nseg == DV_PATH_MAX_SEGS;
            dv_path_dispose(out);
            return too_many ? ERR(CAIRN_EINVAL, "%s: path '%s' has more than %d names", what, text,
                                  DV_PATH_MAX_SEGS)
                            : ERR(CAIRN_EINVAL, "%s: path '%s' has an empty name (two dots, or a "
                                  "dot at an end)", what, text);
        }
        out->seg[out->nseg++] = s;
        if (!dot) break;
        s = dot + 1;
    }
    return CAIRN_OK;
}

void dv_path_dispose(dv_path *p)
{
    free(p->text);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

/* A name that is a decimal array index: its value, else -1. */
static long seg_index(const char *s)
{
    if (!*s || strlen(s) > 9) return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int each_at(const json_t *v, const dv_path *p, size_t i, bool *arr, dv_value_fn cb,
                   void *payload)
{
    if (i == p->nseg) {
        TRY(cb(v, payload));
        if (json_is_array(v)) {
            *arr = true;
            for (size_t k = 0; k < json_array_size(v); k++) TRY(cb(json_array_get(v, k), payload));
        }
        return CAIRN_OK;
    }
    if (json_is_object(v)) {
        const json_t *c = json_object_get(v, p->seg[i]);
        return c ? each_at(c, p, i + 1, arr, cb, payload) : CAIRN_OK;
    }
    if (!json_is_array(v)) return CAIRN_OK;
    *arr = true;
    long at = seg_index(p->seg[i]);
    if (at >= 0 && (size_t)at < json_array_size(v))
        TRY(each_at(json_array_get(v, (size_t)at), p, i + 1, arr, cb, payload));
    for (size_t k = 0; k < json_array_size(v); k++) {
        const json_t *e = json_array_get(v, k);
        if (json_is_object(e)) TRY(each_at(e, p, i, arr, cb, payload));
    }
    return CAIRN_OK;
}

int dv_each(const json_t *doc, const dv_path *p, bool *through_array, dv_value_fn cb,
            void *payload)
{
    bool arr = false;
    int rc = each_at(doc, p, 0, &arr, cb, payload);
    if (through_array && arr) *through_array = true;
    return rc;
}

const json_t *dv_direct(const json_t *doc, const dv_path *p)
{
    const json_t *v = doc;
    for (size_t i = 0; i < p->nseg && v; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, p->seg[i]);
        } else if (json_is_array(v)) {
            long at = seg_index(p->seg[i]);
            v = at >= 0 ? json_array_get(v, (size_t)at) : NULL;
        } else {
            v = NULL;
        }
    }
    return v;
}

/* ---- text tokens ---- */

int dv_tokens(const char *s, size_t n, dv_token_fn cb, void *payload)
{
    char tok[DV_TOKEN_MAX];
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        bool ascii_letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        if (ascii_letter || c >= 0x80) {
            if (len < DV_TOKEN_MAX) tok[len++] = (char)(ascii_letter ? (c | 0x20) : c);
            continue;
        }
        if (len) TRY(cb(tok, len, payload));
        len = 0;
    }
    return CAIRN_OK;
}
