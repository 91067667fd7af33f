/*
 * jparse.h - a one-pass parser that writes canonical JSON (canon.h) while it reads JSON text,
 * without building a jansson tree: the fast path of canon_json() and of document inserts.
 *
 * It accepts a subset of what the jansson path (canon_parse() then canon_write()) accepts, and
 * for each input it accepts it writes the very same bytes. Everything else it declines without
 * a message: bad syntax, a rule of canonical JSON broken (duplicate names, invalid UTF-8,
 * \u0000, an integer beyond 64 bits, a number beyond a double), a limit passed, or what it
 * leaves to jansson on purpose (a number longer than JPARSE_NUMBER_MAX, nesting deeper than
 * JPARSE_DEPTH_MAX, a decimal point that the C library's locale does not read). The caller then
 * takes the jansson path, which says what is wrong exactly as it always did (line, column and
 * byte of a syntax error; the path of a limit) or, for the few inputs jansson takes and this
 * parser does not, gives the result. tests/test_canon.c and fuzz/fuzz_canon.c hold the two paths
 * to that: same bytes whenever this one accepts, and this one never accepts what jansson
 * refuses.
 */
#ifndef CAIRN_DOC_JPARSE_H
#define CAIRN_DOC_JPARSE_H

#include "doc/canon.h"

/** jparse_canon() left the input to the jansson path (no error is set). */
#define JPARSE_DECLINED 1

#define JPARSE_NUMBER_MAX 64   /* bytes of a number with a fraction or exponent parsed here */
#define JPARSE_DEPTH_MAX 1000  /* nesting parsed here (jansson's own limit is 2048 values) */

/** One member of the top-level object, as written in the canonical output. */
typedef struct jp_member {
    size_t at;               /* offset in out of the member: its name's opening quote */
    size_t len;              /* bytes of "name":value */
    size_t vat;              /* offset of the value from at */
    size_t nlen;             /* bytes of the name, unescaped */
    size_t name_at;          /* escaped: the unescaped name's offset in the parser's names */
    bool escaped;            /* the name's canonical form holds an escape */
    const char *np;          /* the unescaped name while an object is sorted (else stale) */
} jp_member;

/** Reusable state (a bulk insert keeps one for all its documents). Zero it to start
 *  (JPARSE_INIT); free with jparse_dispose(). */
typedef struct jparse {
    jp_member *m;            /* the members of the objects open; after a parse, the top level's */
    size_t nm, mcap;
    size_t ntop;             /* members of the top-level value, when it is an object */
    bool is_object;          /* the top-level value is an object */
    cairn_buf names;         /* unescaped names that had escapes */
    cairn_buf tmp;           /* an object's members while they are put in order */
} jparse;

#define JPARSE_INIT { NULL, 0, 0, 0, false, CAIRN_BUF_INIT, CAIRN_BUF_INIT }

void jparse_dispose(jparse *p);

/** Writes the canonical form of JSON text into out (replacing its contents), checking the
 *  limits (NULL: the defaults) as canon_write() does. On success, when the top-level value is an
 *  object, p->m[0..p->ntop) are its members in canonical order, their offsets into out.
 *  @return CAIRN_OK; JPARSE_DECLINED (out holds anything; no error set: take the jansson path);
 *          CAIRN_ENOMEM. */
int jparse_canon(jparse *p, cairn_buf *out, const char *text, size_t len,
                 const canon_limits *lim);

/** The unescaped name of member m of the last parse into out (nlen bytes; no NUL). */
static inline const char *jparse_name(const jparse *p, const cairn_buf *out, const jp_member *m)
{
    return m->escaped ? (const char *)p->names.data + m->name_at
                      : (const char *)out->data + m->at + 1;
}

#endif /* CAIRN_DOC_JPARSE_H */
