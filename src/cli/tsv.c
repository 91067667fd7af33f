/*
 * tsv.c - the escaping codec of `cairn scan` output and `cairn load` input (see tsv.h), and the
 * UTF-8 check that decides what passes through unescaped (also used by the JSON lines form).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tsv.h"

static const char HEX[] = "0123456789abcdef";

/* Continuation byte check for UTF-8. */
static int cont(uint8_t c) { return (c & 0xc0) == 0x80; }

size_t utf8_seq_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    if (c < 0xc2) return 0; /* continuation byte, or an overlong 2-byte lead */
    if (c < 0xe0) return n >= 2 && cont(p[1]) ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || !cont(p[1]) || !cont(p[2])) return 0;
        if (c == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
        if (c == 0xed && p[1] > 0x9f) return 0; /* surrogate */
        return 3;
    }
    if (c > 0xf4 || n < 4 || !cont(p[1]) || !cont(p[2]) || !cont(p[3])) return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0; /* overlong */
    if (c == 0xf4 && p[1] > 0x8f) return 0; /* above U+10FFFF */
    return 4;
}

int utf8_valid(const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* The two-character escape of an ASCII byte, or 0 when it has none. */
static char short_escape(uint8_t c)
{
    switch (c) {
    case '\t': return 't';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\\': return '\\';
    default: return 0;
    }
}

size_t tsv_escape(char *out, const void *in, size_t len)
{
    const uint8_t *p = in;
    char *o = out;
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        size_t k = c >= 0x20 && c < 0x7f && c != '\\' ? 1 : c >= 0x80 ? utf8_seq_len(p + i, len - i) : 0;
        if (k) { /* printable ASCII, or a whole valid UTF-8 sequence */
            memcpy(o, p + i, k);
            o += k;
            i += k;
            continue;
        }
        *o++ = '\\';
        char e = short_escape(c);
        if (e) {
            *o++ = e;
        } else {
            *o++ = 'x';
            *o++ = HEX[c >> 4];
            *o++ = HEX[c & 15];
        }
        i++;
    }
    return (size_t)(o - out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int fail(tsv_error *err, size_t offset, const char *msg)
{
    err->offset = offset;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

/* Decodes the escape at in[i] (a backslash) into *out; sets *used to its length. */
static int unescape_one(uint8_t *out, size_t *used, const char *in, size_t len, size_t i,
                        tsv_error *err)
{
    if (i + 1 == len)
        return fail(err, i, "backslash at the end of the field (write a backslash as \\\\)");
    char e = in[i + 1];
    *used = 2;
    switch (e) {
    case 't': *out = '\t'; return 0;
    case 'n': *out = '\n'; return 0;
    case 'r': *out = '\r'; return 0;
    case '\\': *out = '\\'; return 0;
    case 'x': {
        int hi = i + 2 < len ? hexval(in[i + 2]) : -1;
        int lo = i + 3 < len ? hexval(in[i + 3]) : -1;
        if (hi < 0 || lo < 0) return fail(err, i, "bad escape: \\x needs two hex digits");
        *out = (uint8_t)(hi << 4 | lo);
        *used = 4;
        return 0;
    }
    default:
        err->offset = i;
        if ((uint8_t)e >= 0x20 && (uint8_t)e < 0x7f)
            snprintf(err->msg, sizeof err->msg,
                     "bad escape '\\%c' (use \\t \\n \\r \\\\ or \\xHH)", e);
        else
            snprintf(err->msg, sizeof err->msg,
                     "bad escape: backslash before byte 0x%02x (use \\t \\n \\r \\\\ or \\xHH)",
                     (unsigned)(uint8_t)e);
        return -1;
    }
}

int tsv_unescape(uint8_t *out, size_t *out_len, const char *in, size_t len, tsv_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        const char *bs = memchr(in + i, '\\', len - i);
        size_t run = bs ? (size_t)(bs - in) - i : len - i;
        const char *cr = memchr(in + i, '\r', run);
        if (cr)
            return fail(err, (size_t)(cr - in),
                        "raw carriage return (a CRLF line ending?); write it as \\r");
        memmove(out + o, in + i, run);
        o += run;
        i += run;
        if (!bs) break;
        size_t used;
        if (unescape_one(out + o, &used, in, len, i, err) < 0) return -1;
        o++;
        i += used;
    }
    *out_len = o;
    return 0;
}

/* Unescapes one field in place; prefixes errors with the field's name and shifts offsets. */
static int field(const uint8_t **out, size_t *out_len, char *text, size_t len, size_t at,
                 const char *what, tsv_error *err)
{
    if (tsv_unescape((uint8_t *)text, out_len, text, len, err) < 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%s: %.110s", what, msg);
        err->offset += at;
        return -1;
    }
    *out = (const uint8_t *)text;
    return 0;
}

int tsv_parse_line(tsv_line *out, char *line, size_t len, tsv_error *err)
{
    if (len == 0) return fail(err, 0, "empty line (every line is KEY<TAB>VALUE)");
    char *tab = memchr(line, '\t', len);
    if (!tab)
        return fail(err, len, "no tab (a line is KEY<TAB>VALUE; a tab in a key or value is \\t)");
    size_t kl = (size_t)(tab - line);
    char *val = tab + 1;
    size_t vl = len - kl - 1;
    char *tab2 = memchr(val, '\t', vl);
    if (tab2)
        return fail(err, (size_t)(tab2 - line),
                    "a second tab (a line holds exactly one; a tab in a key or value is \\t)");
    tsv_line r = { NULL, 0, NULL, 0 };
    if (field(&r.key, &r.klen, line, kl, 0, "key", err) < 0) return -1;
    bool del = vl == strlen(TSV_DELETE) && memcmp(val, TSV_DELETE, vl) == 0;
    if (!del && field(&r.val, &r.vlen, val, vl, kl + 1, "value", err) < 0) return -1;
    *out = r;
    return 0;
}
