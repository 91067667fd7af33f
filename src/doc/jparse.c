/*
 * jparse.c - JSON text straight to canonical JSON in one pass (see jparse.h).
 *
 * A recursive descent over the bytes, writing as it reads: white space is dropped, strings are
 * unescaped and escaped again in canonical form in one loop, integers are copied (they are
 * already canonical once "-0" is "0"), other numbers go through strtod() and canon_real(), the
 * formatting canon_write() uses. An object's members are written in input order, each recorded
 * (where it is, its unescaped name); at the closing brace they are sorted by name and, unless
 * they came in order, rewritten in that order through a scratch buffer. A nested object is
 * complete and sorted before its parent is, so each byte moves once per level at most.
 *
 * Every rule jansson applies when canon_parse() reads (flags JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES) is applied here as a refusal: white space is ' ', \t, \n, \r; no
 * leading zeros, a digit after '.' and in an exponent; raw bytes below 0x20 refused in strings;
 * UTF-8 checked as jansson's utf8_check_first/utf8_check_full do (no overlong forms, no
 * surrogates, nothing past U+10FFFF); \u escapes with surrogate pairs, no lone halves, no
 * \u0000; integers within int64_t (strtoll's range); reals refused on overflow only.
 *
 * Output room: canonical output never holds more bytes than the input it came from, except a
 * real number (up to CANON_REAL_MAX bytes from a shorter token, "1e15"), so room for the rest of
 * the input is made at each string and each real, and the writes between need no checks.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "doc/jparse.h"

#define DECLINE JPARSE_DECLINED
/* Propagates a decline (positive) as well as an error (negative). */
#define GO(expr)                                                                                   \
    do {                                                                                           \
        int go_rc_ = (expr);                                                                       \
        if (UNLIKELY(go_rc_ != 0)) return go_rc_;                                                  \
    } while (0)
#define SORT_INSERTION_MAX 32 /* members sorted by insertion; qsort() past that */

typedef struct rd {
    jparse *p;
    cairn_buf *out;
    const unsigned char *s, *e; /* the next byte to read and the end of the text */
    canon_limits lim;
} rd;

void jparse_dispose(jparse *p)
{
    if (!p) return;
    free(p->m);
    cairn_buf_dispose(&p->names);
    cairn_buf_dispose(&p->tmp);
    memset(p, 0, sizeof *p);
}

static inline bool is_digit(unsigned c)
{
    return c - '0' < 10;
}

static inline void skip_ws(rd *r)
{
    while (r->s < r->e && (*r->s == ' ' || *r->s == '\n' || *r->s == '\r' || *r->s == '\t'))
        r->s++;
}

/* Room in out for extra bytes beyond the rest of the input. */
static inline int room(rd *r, size_t extra)
{
    size_t need = (size_t)(r->e - r->s) + extra;
    if (r->out->cap - r->out->len >= need) return CAIRN_OK;
    return cairn_buf_reserve(r->out, r->out->len + need);
}

static inline void put_c(rd *r, char c)
{
    r->out->data[r->out->len++] = (uint8_t)c;
}

/* ---- strings ---- */

/* Bytes of the UTF-8 character at s (lead byte >= 0x80) if jansson takes it, else 0. */
static size_t utf8_char(const unsigned char *s, const unsigned char *e)
{
    unsigned u = s[0];
    size_t n;
    uint32_t v;
    if (u >= 0xC2 && u <= 0xDF) n = 2, v = u & 0x1F;
    else if (u >= 0xE0 && u <= 0xEF) n = 3, v = u & 0x0F;
    else if (u >= 0xF0 && u <= 0xF4) n = 4, v = u & 0x07;
    else return 0; /* a continuation byte, C0/C1 (overlong ASCII), F5 and above */
    if ((size_t)(e - s) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000)) return 0; /* overlong */
    return n;
}

/* The four hex digits at s as a number, or -1. */
static int32_t hex4(const unsigned char *s, const unsigned char *e)
{
    if (e - s < 4) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (is_digit(c)) d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | (int32_t)d;
    }
    return v;
}

static const char HEX[] = "0123456789abcdef";

/* Writes code point cp (not 0, not a surrogate) in canonical form at o; returns the new end.
 * *esc is set when that form is an escape. */
static uint8_t *put_code_point(uint8_t *o, uint32_t cp, bool *esc)
{
    if (cp < 0x20 || cp == '"' || cp == '\\') {
        *esc = true;
        *o++ = '\\';
        switch (cp) {
        case '"': *o++ = '"'; return o;
        case '\\': *o++ = '\\'; return o;
        case '\b': *o++ = 'b'; return o;
        case '\f': *o++ = 'f'; return o;
        case '\n': *o++ = 'n'; return o;
        case '\r': *o++ = 'r'; return o;
        case '\t': *o++ = 't'; return o;
        default:
            memcpy(o, "u00", 3);
            o[3] = (uint8_t)HEX[cp >> 4];
            o[4] = (uint8_t)HEX[cp & 15];
            return o + 5;
        }
    }
    if (cp < 0x80) {
        *o++ = (uint8_t)cp;
    } else if (cp < 0x800) {
        *o++ = (uint8_t)(0xC0 | cp >> 6);
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (uint8_t)(0xE0 | cp >> 12);
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (uint8_t)(0xF0 | cp >> 18);
        *o++ = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (uint8_t)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* The escape at s (a backslash) written in canonical form at *o; returns the bytes read, or 0
 * when jansson refuses it. */
static size_t put_escape(uint8_t **o, const unsigned char *s, const unsigned char *e, bool *esc)
{
    if (e - s < 2) return 0;
    uint32_t cp;
    switch (s[1]) {
    case '"': cp = '"'; break;
    case '\\': cp = '\\'; break;
    case '/': cp = '/'; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u': {
        int32_t hi = hex4(s + 2, e);
        if (hi <= 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return 0; /* \u0000, a lone low half */
        if (hi < 0xD800 || hi > 0xDBFF) {
            *o = put_code_point(*o, (uint32_t)hi, esc);
            return 6;
        }
        if (e - s < 12 || s[6] != '\\' || s[7] != 'u') return 0; /* a lone high half */
        int32_t lo = hex4(s + 8, e);
        if (lo < 0xDC00 || lo > 0xDFFF) return 0;
        cp = 0x10000 + ((uint32_t)(hi - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
        *o = put_code_point(*o, cp, esc);
        return 12;
    }
    default: return 0;
    }
    *o = put_code_point(*o, cp, esc);
    return 2;
}

/* Reads the string at r->s (its opening quote) and writes it in canonical form. *esc: the form
 * holds an escape (its bytes are then not the string's own). */
static int read_string(rd *r, bool *esc)
{
    GO(room(r, 0));
    const unsigned char *s = r->s + 1, *e = r->e;
    uint8_t *o = r->out->data + r->out->len;
    *o++ = '"';
    *esc = false;
    for (;;) {
        while (s < e && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\') *o++ = *s++;
        if (s >= e) return DECLINE;
        unsigned c = *s;
        if (c == '"') break;
        if (c < 0x20) return DECLINE;
        size_t n = c == '\\' ? put_escape(&o, s, e, esc) : utf8_char(s, e);
        if (!n) return DECLINE;
        if (c != '\\') {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
    }
    *o++ = '"';
    r->out->len = (size_t)(o - r->out->data);
    r->s = s + 1;
    return CAIRN_OK;
}

/* Unescapes the canonical string at s (quotes excluded; escapes only as canonical JSON writes
 * them) onto the end of b. */
static int unescape_name(cairn_buf *b, const uint8_t *s, size_t n)
{
    GO(cairn_buf_reserve(b, b->len + n));
    uint8_t *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        switch (s[++i]) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': *o++ = (uint8_t)hex4(s + i + 1, s + n); i += 4; break;
        default: *o++ = s[i]; break; /* " and \ */
        }
    }
    b->len = (size_t)(o - b->data);
    return CAIRN_OK;
}

/* ---- numbers and words ---- */

/* The number at r->s: an integer copied ("-0" as "0"), else the double through canon_real(). */
static int read_number(rd *r)
{
    const unsigned char *s = r->s, *e = r->e, *start = s;
    bool neg = *s == '-';
    if (neg) s++;
    if (s >= e) return DECLINE;
    if (*s == '0') {
        s++;
        if (s < e && is_digit(*s)) return DECLINE; /* a leading zero */
    } else if (is_digit(*s)) {
        while (s < e && is_digit(*s)) s++;
    } else {
        return DECLINE;
    }
    if (s == e || (*s != '.' && *s != 'e' && *s != 'E')) { /* an integer */
        size_t digits = (size_t)(s - start) - neg;
        if (digits > 19 || (digits == 19 && memcmp(start + neg, neg ? "9223372036854775808"
                                                                    : "9223372036854775807",
                                                   19) > 0))
            return DECLINE; /* beyond int64_t: jansson refuses it */
        if (neg && digits == 1 && start[1] == '0') start++;
        memcpy(r->out->data + r->out->len, start, (size_t)(s - start));
        r->out->len += (size_t)(s - start);
        r->s = s;
        return CAIRN_OK;
    }
    if (*s == '.') {
        s++;
        if (s >= e || !is_digit(*s)) return DECLINE;
        while (s < e && is_digit(*s)) s++;
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-')) s++;
        if (s >= e || !is_digit(*s)) return DECLINE;
        while (s < e && is_digit(*s)) s++;
    }
    char num[JPARSE_NUMBER_MAX + 1], *end;
    size_t n = (size_t)(s - start);
    if (n > JPARSE_NUMBER_MAX) return DECLINE;
    memcpy(num, start, n);
    num[n] = '\0';
    errno = 0;
    double v = strtod(num, &end);
    if (end != num + n) return DECLINE; /* a locale whose decimal point is not '.' */
    if (!isfinite(v)) return DECLINE;    /* overflow: jansson refuses it */
    r->s = s;
    GO(room(r, CANON_REAL_MAX));
    r->out->len += canon_real((char *)r->out->data + r->out->len, v);
    return CAIRN_OK;
}

static int read_word(rd *r, const char *w, size_t n)
{
    if ((size_t)(r->e - r->s) < n || memcmp(r->s, w, n) != 0) return DECLINE;
    memcpy(r->out->data + r->out->len, w, n);
    r->out->len += n;
    r->s += n;
    return CAIRN_OK;
}

/* ---- arrays and objects ---- */

static int read_value(rd *r, unsigned depth);

static int read_array(rd *r, unsigned depth)
{
    if (depth >= r->lim.max_depth || depth >= JPARSE_DEPTH_MAX) return DECLINE;
    put_c(r, '[');
    r->s++;
    skip_ws(r);
    if (r->s < r->e && *r->s == ']') {
        put_c(r, ']');
        r->s++;
        return CAIRN_OK;
    }
    for (size_t n = 1;; n++) {
        if (n > r->lim.max_fields) return DECLINE;
        GO(read_value(r, depth + 1));
        skip_ws(r);
        if (r->s >= r->e) return DECLINE;
        char c = (char)*r->s++;
        put_c(r, c);
        if (c == ']') return CAIRN_OK;
        if (c != ',') return DECLINE;
        skip_ws(r);
    }
}

static int name_cmp(const jp_member *a, const jp_member *b)
{
    return bytes_cmp(a->np, a->nlen, b->np, b->nlen);
}

static int name_qcmp(const void *a, const void *b)
{
    return name_cmp(a, b);
}

/* Sorts members m[0..n) by name (insertion for a few, qsort for many). */
static void sort_members(jp_member *m, size_t n)
{
    if (n > SORT_INSERTION_MAX) {
        qsort(m, n, sizeof *m, name_qcmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        jp_member x = m[i];
        size_t j = i;
        for (; j > 0 && name_cmp(&x, &m[j - 1]) < 0; j--) m[j] = m[j - 1];
        m[j] = x;
    }
}

/* The object's members m[0..n) were written in input order from out offset from (after the
 * brace) to the end: sorts them and writes them again in that order. A name twice declines. */
static int order_members(rd *r, jp_member *m, size_t n, size_t from)
{
    jparse *p = r->p;
    for (size_t i = 0; i < n; i++)
        m[i].np = m[i].escaped ? (const char *)p->names.data + m[i].name_at
                               : (const char *)r->out->data + m[i].at + 1;
    sort_members(m, n);
    for (size_t i = 1; i < n; i++)
        if (name_cmp(&m[i - 1], &m[i]) == 0) return DECLINE; /* a duplicate name */
    size_t len = r->out->len - from;
    GO(cairn_buf_set(&p->tmp, r->out->data + from, len));
    uint8_t *o = r->out->data + from;
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        memcpy(o, p->tmp.data + (m[i].at - from), m[i].len);
        m[i].at = (size_t)(o - r->out->data);
        o += m[i].len;
    }
    return CAIRN_OK;
}

static int push_member(jparse *p)
{
    if (p->nm < p->mcap) return CAIRN_OK;
    size_t cap = p->mcap ? p->mcap * 2 : 32;
    jp_member *m = cairn_realloc(p->m, cap * sizeof *m);
    FAIL_IF(!m, CAIRN_ENOMEM, "out of memory parsing JSON");
    p->m = m;
    p->mcap = cap;
    return CAIRN_OK;
}

static int read_object(rd *r, unsigned depth)
{
    if (depth >= r->lim.max_depth || depth >= JPARSE_DEPTH_MAX) return DECLINE;
    jparse *p = r->p;
    size_t base = p->nm, from = r->out->len + 1;
    bool in_order = true;
    put_c(r, '{');
    r->s++;
    skip_ws(r);
    if (r->s < r->e && *r->s == '}') {
        put_c(r, '}');
        r->s++;
        return CAIRN_OK;
    }
    for (;;) {
        if (r->s >= r->e || *r->s != '"' || p->nm - base >= r->lim.max_fields) return DECLINE;
        GO(push_member(p));
        jp_member *m = &p->m[p->nm++];
        m->at = r->out->len;
        GO(read_string(r, &m->escaped));
        m->nlen = r->out->len - m->at - 2;
        if (m->escaped) {
            m->name_at = p->names.len;
            GO(unescape_name(&p->names, r->out->data + m->at + 1, m->nlen));
            m->nlen = p->names.len - m->name_at;
        }
        skip_ws(r);
        if (r->s >= r->e || *r->s != ':') return DECLINE;
        put_c(r, ':');
        r->s++;
        skip_ws(r);
        m->vat = r->out->len - m->at;
        size_t idx = p->nm - 1;
        GO(read_value(r, depth + 1)); /* may move p->m */
        m = &p->m[idx];
        m->len = r->out->len - m->at;
        if (in_order && idx > base) {
            jp_member *prev = &p->m[idx - 1];
            prev->np = prev->escaped ? (const char *)p->names.data + prev->name_at
                                     : (const char *)r->out->data + prev->at + 1;
            m->np = m->escaped ? (const char *)p->names.data + m->name_at
                               : (const char *)r->out->data + m->at + 1;
            in_order = name_cmp(prev, m) < 0;
        }
        skip_ws(r);
        if (r->s >= r->e) return DECLINE;
        char c = (char)*r->s++;
        if (c == '}') break;
        if (c != ',') return DECLINE;
        put_c(r, ',');
        skip_ws(r);
    }
    if (!in_order) GO(order_members(r, p->m + base, p->nm - base, from));
    put_c(r, '}');
    if (depth > 0) p->nm = base; /* the top level's members stay for the caller */
    return CAIRN_OK;
}

static int read_value(rd *r, unsigned depth)
{
    if (r->s >= r->e) return DECLINE;
    bool esc;
    switch (*r->s) {
    case '{': return read_object(r, depth);
    case '[': return read_array(r, depth);
    case '"': return read_string(r, &esc);
    case 't': return read_word(r, "true", 4);
    case 'f': return read_word(r, "false", 5);
    case 'n': return read_word(r, "null", 4);
    default:
        if (*r->s == '-' || is_digit(*r->s)) return read_number(r);
        return DECLINE;
    }
}

int jparse_canon(jparse *p, cairn_buf *out, const char *text, size_t len,
                 const canon_limits *lim)
{
    static const canon_limits defaults = CANON_LIMITS_DEFAULT;
    rd r = { p, out, (const unsigned char *)text, (const unsigned char *)text + len,
             lim ? *lim : defaults };
    p->nm = p->ntop = 0;
    p->is_object = false;
    p->names.len = 0;
    out->len = 0;
    if (!text) return DECLINE;
    skip_ws(&r);
    GO(room(&r, 0));
    p->is_object = r.s < r.e && *r.s == '{';
    GO(read_value(&r, 0));
    skip_ws(&r);
    if (r.s != r.e || out->len > r.lim.max_bytes) return DECLINE;
    p->ntop = p->is_object ? p->nm : 0;
    return CAIRN_OK;
}
