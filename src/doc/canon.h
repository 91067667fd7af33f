/*
 * canon.h - canonical JSON: one byte form per JSON value, so that equal documents hash equally
 * and a collection's tree stays history-independent (docs/FORMAT.md, "Canonical JSON").
 *
 * In brief: no white space; object members sorted by the bytes of their UTF-8 names; strings
 * as UTF-8 with only the escapes JSON requires (", \ and the control characters, the short
 * forms where JSON has one, else \u00xx in lower-case hex); integers in decimal; other numbers
 * (and integers written with a fraction or exponent) as the shortest decimal that reads back to
 * the same IEEE double, integral doubles of magnitude up to 2^53 as integers. Duplicate member
 * names, invalid UTF-8, \u0000, integers beyond 64 bits and numbers beyond a double are
 * refused. canon_json() reads text in one pass (jparse.h) and leaves to jansson only what that
 * pass declines; canon_parse() and everything that needs a tree use jansson.
 */
#ifndef CAIRN_DOC_CANON_H
#define CAIRN_DOC_CANON_H

#include <jansson.h>

#include "base/base.h"

/* Default limits of a document (each a clear error when passed). */
#define CANON_MAX_BYTES_DEFAULT (4u << 20) /* canonical bytes */
#define CANON_MAX_DEPTH_DEFAULT 64u        /* nested arrays and objects */
#define CANON_MAX_FIELDS_DEFAULT 10000u    /* members of one object, elements of one array */

typedef struct canon_limits {
    size_t max_bytes;
    unsigned max_depth;
    size_t max_fields;
} canon_limits;

#define CANON_LIMITS_DEFAULT \
    { CANON_MAX_BYTES_DEFAULT, CANON_MAX_DEPTH_DEFAULT, CANON_MAX_FIELDS_DEFAULT }

/** Parses JSON text (any value at the top; one value, nothing after it but white space).
 *  A syntax error is CAIRN_EINVAL with jansson's reason and the line, column and byte offset;
 *  `what` names the input in messages ("document 3 of input.jsonl"). Caller frees *out with
 *  json_decref(). */
int canon_parse(json_t **out, const char *text, size_t len, const char *what);

/** Appends the canonical form of v to out, checking the limits (NULL: the defaults). A limit
 *  passed is CAIRN_EINVAL naming the path (e.g. $.a.b[3]). On failure out may hold a prefix. */
int canon_write(cairn_buf *out, const json_t *v, const canon_limits *lim, const char *what);

/** The canonical form of JSON text into out (replacing its contents): the bytes and the
 *  refusals (with their messages) of canon_json_jansson(), through the one-pass parser
 *  (jparse.h) when it accepts the text. */
int canon_json(cairn_buf *out, const char *text, size_t len, const canon_limits *lim,
               const char *what);

/** canon_parse() then canon_write() into out (replacing its contents): the reference that
 *  canon_json() must equal, and the path it takes for what the one-pass parser declines. */
int canon_json_jansson(cairn_buf *out, const char *text, size_t len, const canon_limits *lim,
                       const char *what);

#define CANON_REAL_MAX 32 /* bytes canon_real() writes at most */

/** Writes a finite double as canonical JSON does (an integer when it is one of magnitude up to
 *  2^53, else the shortest decimal that reads back to it) at out; no NUL.
 *  @return the length written. */
size_t canon_real(char *out, double v);

/** Receives one member of an object: its name as written between the quotes (escapes left as
 *  they are), its value's text, and the offset of the name's opening quote in the object.
 *  @return 0 to go on; anything else stops canon_members() and is returned. */
typedef int (*canon_member_fn)(const char *name, size_t nlen, const char *val, size_t vlen,
                               size_t at, void *payload);

/** Walks the members of an object given as canonical JSON text (as stored) without parsing
 *  the values: each is only skipped over (strings, nesting). Text that is not shaped as an object
 *  is CAIRN_EINVAL (the caller then parses it in full, which says what is wrong); the values
 *  are not checked.
 *  @return CAIRN_OK; CAIRN_EINVAL; cb's value. */
int canon_members(const char *s, size_t n, canon_member_fn cb, void *payload);

/** Parses one value given as canonical JSON text (as canon_write() writes it) into a jansson
 *  value equal to what json_loadb() gives for it, without jansson's lexer: the insert path
 *  parses the members that indexes read this way. Give it canonical text only: other text
 *  (white space, escapes canonical JSON does not write, anything malformed) is CAIRN_EINVAL
 *  without a message, or read loosely, never past n bytes. Caller frees *out with
 *  json_decref().
 *  @return CAIRN_OK; CAIRN_EINVAL; CAIRN_ENOMEM. */
int canon_load(json_t **out, const char *s, size_t n);

/** Writes v in decimal ('-' first when neg), zero-padded to at least width digits (at most
 *  24), at out (room for 25 bytes); no NUL. @return the length written. */
size_t canon_decimal(char *out, uint64_t v, bool neg, size_t width);

#endif /* CAIRN_DOC_CANON_H */
