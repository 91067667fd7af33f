/*
 * canon.c - canonical JSON (see canon.h; every rule is in docs/FORMAT.md, "Canonical JSON").
 *
 * The writer walks jansson's tree recursively (depth is bounded by the limits, and jansson's
 * parser bounds it too), sorting each object's member names with strcmp, which compares as
 * unsigned bytes: the order of the names' UTF-8 encodings. Errors name the path of the value
 * that broke a rule, written as $ for the top, .name for a member and [i] for an element.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "doc/canon.h"
#include "doc/jparse.h"

#define PATH_MAX_SHOWN 200 /* characters of a path kept for messages */
#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: doubles up to here are exact integers */

typedef struct writer {
    cairn_buf *out;
    canon_limits lim;
    const char *what;
    size_t base;             /* out->len before this value */
    char path[PATH_MAX_SHOWN + 4];
    size_t plen;
} writer;

int canon_parse(json_t **out, const char *text, size_t len, const char *what)
{
    json_error_t e;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!v)
        return ERR(CAIRN_EINVAL, "%s: malformed JSON at line %d, column %d (byte %d): %s",
                   what, e.line, e.column, e.position, e.text);
    *out = v;
    return CAIRN_OK;
}

/* ---- the path of the value being written, for messages ---- */

/* Appends piece to the path (cut at PATH_MAX_SHOWN, ending "..."); returns the old length. */
static size_t path_push(writer *w, const char *piece)
{
    size_t old = w->plen;
    if (w->plen < PATH_MAX_SHOWN) {
        size_t n = strlen(piece);
        if (n > PATH_MAX_SHOWN - w->plen) n = PATH_MAX_SHOWN - w->plen;
        memcpy(w->path + w->plen, piece, n);
        w->plen += n;
        w->path[w->plen] = '\0';
    }
    if (w->plen >= PATH_MAX_SHOWN) memcpy(w->path + PATH_MAX_SHOWN, "...", 4);
    return old;
}

static void path_pop(writer *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

/* ---- output ---- */

static int put(writer *w, const void *p, size_t n)
{
    FAIL_IF(n > w->lim.max_bytes || w->out->len - w->base > w->lim.max_bytes - n, CAIRN_EINVAL,
            "%s: the document is over the size limit of %zu bytes (canonical form), at %s",
            w->what, w->lim.max_bytes, w->path);
    return cairn_buf_append(w->out, p, n);
}

static int put_c(writer *w, char c)
{
    return put(w, &c, 1);
}

/* The escape of byte c in a string (NULL: none), written into u when it is \u00xx. */
static const char *escape_of(unsigned char c, char u[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c >= 0x20) return NULL;
        snprintf(u, 8, "\\u%04x", c);
        return u;
    }
}

#define ESCAPE_MAX 6 /* bytes of the longest escape, \u00xx */

/* A string whose escaped form, however many escapes it needs, fits the limit: written straight
 * into the reserved buffer (the common case; put() per piece was a tenth of canon_write()). */
static int put_string_fast(writer *w, const char *s, size_t n)
{
    TRY(cairn_buf_reserve(w->out, w->out->len + n * ESCAPE_MAX + 2));
    char *o = (char *)w->out->data + w->out->len, *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        char u[8];
        const char *esc = escape_of(c, u);
        size_t el = strlen(esc);
        memcpy(o, esc, el);
        o += el;
    }
    *o++ = '"';
    size_t len = (size_t)(o - start);
    FAIL_IF(w->out->len - w->base + len > w->lim.max_bytes, CAIRN_EINVAL,
            "%s: the document is over the size limit of %zu bytes (canonical form), at %s",
            w->what, w->lim.max_bytes, w->path);
    w->out->len += len;
    return CAIRN_OK;
}

static int put_string(writer *w, const char *s, size_t n)
{
    size_t used = w->out->len - w->base;
    if (n <= (w->lim.max_bytes - MIN(used, w->lim.max_bytes)) / ESCAPE_MAX)
        return put_string_fast(w, s, n);
    TRY(put_c(w, '"'));
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n; i++) {
        char u[8];
        const char *esc = escape_of((unsigned char)s[i], u);
        if (!esc) continue;
        TRY(put(w, s + run, i - run));
        TRY(put(w, esc, strlen(esc)));
        run = i + 1;
    }
    TRY(put(w, s + run, n - run));
    return put_c(w, '"');
}

/* The shortest decimal that strtod() reads back as v, exponent without '+' or leading zeros. */
size_t canon_real(char *out, double v)
{
    char buf[40];
    if (v == 0) { /* -0 too */
        out[0] = '0';
        return 1;
    }
    if (fabs(v) <= EXACT_INT_MAX && v == floor(v)) {
        int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
        memcpy(out, buf, (size_t)n);
        return (size_t)n;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    char *e = strchr(buf, 'e');
    if (e) { /* e+07 -> e7, e-05 -> e-5 */
        char *d = e + 1;
        bool neg = *d == '-';
        if (*d == '+' || *d == '-') d++;
        while (*d == '0' && d[1]) d++;
        char exp[8];
        snprintf(exp, sizeof exp, "%s%s", neg ? "-" : "", d);
        snprintf(e + 1, sizeof buf - (size_t)(e + 1 - buf), "%s", exp);
    }
    size_t n = strlen(buf);
    memcpy(out, buf, n);
    return n;
}

static int put_real(writer *w, double v)
{
    FAIL_IF(!isfinite(v), CAIRN_EINVAL, "%s: a number at %s is not finite", w->what, w->path);
    char buf[CANON_REAL_MAX];
    return put(w, buf, canon_real(buf, v));
}

/* snprintf() was a tenth of the time of a bulk insert, for array indexes in the path and for
 * integers. */
size_t canon_decimal(char *out, uint64_t v, bool neg, size_t width)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || (n < width && n < sizeof tmp));
    size_t len = 0;
    if (neg) out[len++] = '-';
    while (n) out[len++] = tmp[--n];
    return len;
}

/* An object's member, for sorting by name. */
typedef struct member {
    const char *name;
    const json_t *value;
} member;

#define MEMBERS_ON_STACK 32 /* members of an object sorted without an allocation */

static int cmp_members(const void *a, const void *b)
{
    return strcmp(((const member *)a)->name, ((const member *)b)->name);
}

/* qsort() for many members; for a few, an insertion sort (qsort was a tenth of canon_write()
 * for ten members). */
static void sort_members(member *m, size_t n)
{
    if (n > MEMBERS_ON_STACK) {
        qsort(m, n, sizeof *m, cmp_members);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        member x = m[i];
        size_t j = i;
        for (; j > 0 && strcmp(x.name, m[j - 1].name) < 0; j--) m[j] = m[j - 1];
        m[j] = x;
    }
}

static int write_value(writer *w, const json_t *v, unsigned depth);

static int write_object(writer *w, const json_t *v, unsigned depth)
{
    size_t n = json_object_size(v);
    FAIL_IF(n > w->lim.max_fields, CAIRN_EINVAL,
            "%s: the object at %s has %zu members, over the limit of %zu", w->what, w->path, n,
            w->lim.max_fields);
    member on_stack[MEMBERS_ON_STACK];
    member *m = n <= MEMBERS_ON_STACK ? on_stack : cairn_malloc(n * sizeof *m);
    FAIL_IF(!m, CAIRN_ENOMEM, "out of memory sorting the members of %s", w->path);
    size_t i = 0;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)v, name, value) m[i++] = (member){ name, value };
    sort_members(m, n);
    int rc = put_c(w, '{');
    for (i = 0; rc == CAIRN_OK && i < n; i++) {
        if (i) rc = put_c(w, ',');
        if (rc == CAIRN_OK) rc = put_string(w, m[i].name, strlen(m[i].name));
        if (rc == CAIRN_OK) rc = put_c(w, ':');
        size_t old = path_push(w, ".");
        path_push(w, m[i].name);
        if (rc == CAIRN_OK) rc = write_value(w, m[i].value, depth + 1);
        path_pop(w, old);
    }
    if (m != on_stack) free(m);
    return rc == CAIRN_OK ? put_c(w, '}') : rc;
}

static int write_array(writer *w, const json_t *v, unsigned depth)
{
    size_t n = json_array_size(v);
    FAIL_IF(n > w->lim.max_fields, CAIRN_EINVAL,
            "%s: the array at %s has %zu elements, over the limit of %zu", w->what, w->path, n,
            w->lim.max_fields);
    TRY(put_c(w, '['));
    for (size_t i = 0; i < n; i++) {
        if (i) TRY(put_c(w, ','));
        char piece[32];
        piece[0] = '[';
        size_t len = 1 + canon_decimal(piece + 1, i, false, 1);
        memcpy(piece + len, "]", 2);
        size_t old = path_push(w, piece);
        int rc = write_value(w, json_array_get(v, i), depth + 1);
        path_pop(w, old);
        TRY(rc);
    }
    return put_c(w, ']');
}

static int write_value(writer *w, const json_t *v, unsigned depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        FAIL_IF(depth >= w->lim.max_depth, CAIRN_EINVAL,
                "%s: the value at %s is nested deeper than the limit of %u levels", w->what,
                w->path, w->lim.max_depth);
        return json_is_object(v) ? write_object(w, v, depth) : write_array(w, v, depth);
    case JSON_STRING:
        return put_string(w, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        char buf[24];
        json_int_t i = json_integer_value(v);
        uint64_t mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        return put(w, buf, canon_decimal(buf, mag, i < 0, 1));
    }
    case JSON_REAL: return put_real(w, json_real_value(v));
    case JSON_TRUE: return put(w, "true", 4);
    case JSON_FALSE: return put(w, "false", 5);
    case JSON_NULL: return put(w, "null", 4);
    }
    return ERR(CAIRN_EINVAL, "%s: a value of unknown type at %s", w->what, w->path);
}

int canon_write(cairn_buf *out, const json_t *v, const canon_limits *lim, const char *what)
{
    static const canon_limits defaults = CANON_LIMITS_DEFAULT;
    writer w = { .out = out, .lim = lim ? *lim : defaults, .what = what, .path = "$", .plen = 1 };
    w.base = out->len; /* the limit is on this value's bytes, after whatever out held */
    return write_value(&w, v, 0);
}

int canon_json_jansson(cairn_buf *out, const char *text, size_t len, const canon_limits *lim,
                       const char *what)
{
    json_t *v;
    TRY(canon_parse(&v, text, len, what));
    out->len = 0;
    int rc = canon_write(out, v, lim, what);
    json_decref(v);
    return rc;
}

int canon_json(cairn_buf *out, const char *text, size_t len, const canon_limits *lim,
               const char *what)
{
    jparse p = JPARSE_INIT;
    int rc = jparse_canon(&p, out, text, len, lim);
    jparse_dispose(&p);
    if (rc != JPARSE_DECLINED) return rc;
    return canon_json_jansson(out, text, len, lim, what);
}

/* ---- canonical text to a jansson value ---- */

#define LOAD_DEPTH_MAX 1000       /* deeper text is left to jansson */
#define LOAD_STRING_ON_STACK 256  /* strings unescaped without an allocation */

typedef struct loader {
    const char *s, *e;
    bool nomem;
} loader;

/* The canonical string at l->s (its opening quote), unescaped, into a new jansson string; or
 * its bytes into name/nlen (then the caller frees *name when it is not buf). */
static bool load_string(loader *l, char *buf, size_t cap, char **out, size_t *outlen)
{
    const char *s = l->s + 1, *end = s;
    bool esc = false;
    while (end < l->e && *end != '"') {
        if (*end == '\\') {
            esc = true;
            end++;
        }
        end++;
    }
    if (end >= l->e) return false;
    size_t n = (size_t)(end - s);
    char *o = n < cap ? buf : cairn_malloc(n + 1);
    if (!o) {
        l->nomem = true;
        return false;
    }
    size_t len = 0;
    if (!esc) {
        memcpy(o, s, n);
        len = n;
    }
    for (size_t i = 0; esc && i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            o[len++] = c;
            continue;
        }
        switch (s[++i]) {
        case '"': o[len++] = '"'; break;
        case '\\': o[len++] = '\\'; break;
        case 'b': o[len++] = '\b'; break;
        case 'f': o[len++] = '\f'; break;
        case 'n': o[len++] = '\n'; break;
        case 'r': o[len++] = '\r'; break;
        case 't': o[len++] = '\t'; break;
        case 'u': { /* canonical: \u00xx of a control character, lower-case hex */
            unsigned v = 0;
            bool ok = i + 4 < n && s[i + 1] == '0' && s[i + 2] == '0';
            for (size_t k = 3; ok && k <= 4; k++) {
                char h = s[i + k];
                ok = (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f');
                v = v << 4 | (unsigned)(h <= '9' ? h - '0' : h - 'a' + 10);
            }
            if (!ok || v == 0 || v >= 0x20) {
                if (o != buf) free(o);
                return false;
            }
            o[len++] = (char)v;
            i += 4;
            break;
        }
        default:
            if (o != buf) free(o);
            return false;
        }
    }
    o[len] = '\0';
    l->s = end + 1;
    *out = o;
    *outlen = len;
    return true;
}

static json_t *load_value(loader *l, unsigned depth);

static json_t *load_number(loader *l)
{
    const char *s = l->s;
    bool real = false;
    while (s < l->e && ((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.' ||
                        *s == 'e' || *s == 'E')) {
        real |= *s == '.' || *s == 'e' || *s == 'E';
        s++;
    }
    char num[64], *end;
    size_t n = (size_t)(s - l->s);
    if (n == 0 || n >= sizeof num) return NULL;
    memcpy(num, l->s, n);
    num[n] = '\0';
    errno = 0;
    json_t *v;
    if (real) {
        double d = strtod(num, &end);
        v = end == num + n && isfinite(d) ? json_real(d) : NULL;
    } else {
        long long i = strtoll(num, &end, 10);
        v = end == num + n && errno == 0 ? json_integer(i) : NULL;
    }
    l->s = s;
    return v;
}

static json_t *load_container(loader *l, unsigned depth)
{
    bool obj = *l->s == '{';
    json_t *c = obj ? json_object() : json_array();
    if (!c) {
        l->nomem = true;
        return NULL;
    }
    l->s++;
    if (l->s < l->e && *l->s == (obj ? '}' : ']')) {
        l->s++;
        return c;
    }
    for (;;) {
        char buf[LOAD_STRING_ON_STACK], *name = NULL;
        size_t nlen = 0;
        bool ok = true;
        if (obj) {
            ok = l->s < l->e && *l->s == '"' && load_string(l, buf, sizeof buf, &name, &nlen) &&
                 l->s < l->e && *l->s++ == ':';
        }
        json_t *v = ok ? load_value(l, depth + 1) : NULL;
        if (v && obj && json_object_setn_new(c, name, nlen, v))
            v = NULL; /* a name that is not UTF-8 (or no memory: the caller's jansson says) */
        else if (v && !obj && json_array_append_new(c, v)) {
            l->nomem = true;
            v = NULL;
        }
        if (name && name != buf) free(name);
        if (!v || l->s >= l->e) break;
        char sep = *l->s++;
        if (sep == (obj ? '}' : ']')) return c;
        if (sep != ',') break;
    }
    json_decref(c);
    return NULL;
}

static json_t *load_value(loader *l, unsigned depth)
{
    if (l->s >= l->e || depth >= LOAD_DEPTH_MAX) return NULL;
    char buf[LOAD_STRING_ON_STACK], *str;
    size_t len;
    switch (*l->s) {
    case '{':
    case '[': return load_container(l, depth);
    case '"': {
        if (!load_string(l, buf, sizeof buf, &str, &len)) return NULL;
        json_t *v = json_stringn(str, len); /* checks the UTF-8 */
        if (str != buf) free(str);
        return v;
    }
    case 't':
    case 'f':
    case 'n': {
        static const char *const words[] = { "true", "false", "null" };
        int w = *l->s == 't' ? 0 : *l->s == 'f' ? 1 : 2;
        size_t n = strlen(words[w]);
        if ((size_t)(l->e - l->s) < n || memcmp(l->s, words[w], n) != 0) return NULL;
        l->s += n;
        return w == 0 ? json_true() : w == 1 ? json_false() : json_null();
    }
    default: return load_number(l);
    }
}

int canon_load(json_t **out, const char *s, size_t n)
{
    loader l = { s, s + n, false };
    json_t *v = s ? load_value(&l, 0) : NULL;
    if (v && l.s == l.e) {
        *out = v;
        return CAIRN_OK;
    }
    json_decref(v);
    *out = NULL;
    return l.nomem ? ERR(CAIRN_ENOMEM, "out of memory reading a document") : CAIRN_EINVAL;
}

/* ---- reading canonical text without parsing it ---- */

/* The end of the string starting at s[i] (a quote), or 0 when it does not end. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    size_t open = i++;
    while (i < n) { /* the next quote, unless the backslashes just before it are odd */
        const char *q = memchr(s + i, '"', n - i);
        if (!q) return 0;
        size_t at = (size_t)(q - s), k = at;
        while (k > open + 1 && s[k - 1] == '\\') k--;
        if ((at - k) % 2 == 0) return at + 1;
        i = at + 1;
    }
    return 0;
}

/* The end of the value starting at s[i], or 0 when it is cut short. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n) return 0;
    if (s[i] == '"') return skip_string(s, n, i);
    if (s[i] != '{' && s[i] != '[') {
        size_t start = i;
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']') i++;
        return i > start ? i : 0;
    }
    size_t depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i);
            if (!i) return 0;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
        i++;
    }
    return 0;
}

int canon_members(const char *s, size_t n, canon_member_fn cb, void *payload)
{
    FAIL_IF(n < 2 || s[0] != '{' || s[n - 1] != '}', CAIRN_EINVAL, "not a JSON object in canonical form");
    size_t i = 1;
    if (n == 2) return CAIRN_OK;
    for (;;) {
        size_t name_end = s[i] == '"' ? skip_string(s, n, i) : 0;
        FAIL_IF(!name_end || name_end >= n || s[name_end] != ':', CAIRN_EINVAL,
                "not a JSON object in canonical form (at byte %zu)", i);
        size_t v = name_end + 1, end = skip_value(s, n, v);
        FAIL_IF(!end || end >= n || (s[end] != ',' && s[end] != '}'), CAIRN_EINVAL,
                "not a JSON object in canonical form (at byte %zu)", v);
        int rc = cb(s + i + 1, name_end - i - 2, s + v, end - v, i, payload);
        if (rc) return rc;
        if (s[end] == '}') {
            FAIL_IF(end + 1 != n, CAIRN_EINVAL, "not a JSON object in canonical form (at byte %zu)", end);
            return CAIRN_OK;
        }
        i = end + 1;
    }
}
