/*
 * tuple.h - the tuple encoding (docs/FORMAT.md ("Tuple keys")) for the rest of cairn: append one element
 * to a cairn_buf, read the elements of an encoded tuple one at a time, compare encoded tuples.
 *
 * The public builder (cairn_tuple_*) and decoder (cairn_tuple_decode) in cairn.h are thin layers
 * over these. The document layer builds index keys (field value, doc id) with the appenders
 * straight into its key buffer, and pulls the id back out with a tuple_reader.
 *
 * Every tuple has exactly one encoding, and memcmp order (shorter first) of encodings is the
 * logical order of tuples, so encoded tuples are compared, hashed and used as keys as plain bytes.
 */
#ifndef CAIRN_TUPLE_H
#define CAIRN_TUPLE_H

#include "base/base.h"

/* At most this many nested tuples may be open at once (decoded items have depth 0..32). */
#define TUPLE_MAX_DEPTH 32

/* Type codes: the first byte of every element (after FoundationDB's tuple layer). */
enum tuple_code {
    TUPLE_CODE_NULL = 0x00,     /* also ends a nested tuple and bytes/string payloads */
    TUPLE_CODE_BYTES = 0x01,
    TUPLE_CODE_STRING = 0x02,
    TUPLE_CODE_NESTED = 0x05,
    TUPLE_CODE_INT_NEG8 = 0x0c, /* 0x14 - n: negative, n-byte one's complement magnitude */
    TUPLE_CODE_INT_ZERO = 0x14,
    TUPLE_CODE_INT_POS8 = 0x1c, /* 0x14 + n: positive, n-byte big-endian magnitude */
    TUPLE_CODE_DOUBLE = 0x21,
    TUPLE_CODE_FALSE = 0x26,
    TUPLE_CODE_TRUE = 0x27,
};

/* After a 0x00 inside a bytes/string payload: an escaped zero byte; after a 0x00 inside a nested
 * tuple: a null element. Never a type code, so it also bounds prefix ranges (below). */
#define TUPLE_ESCAPE 0xff

/* ---- appending elements to an encoded tuple ----
 * Each appender adds one element at the end of buf (which holds zero or more complete elements,
 * or the inside of an open nested tuple). On failure buf is unchanged.
 * @return CAIRN_OK; CAIRN_EINVAL (invalid UTF-8, NULL data with len > 0); CAIRN_ENOMEM. */

/** depth: how many nested tuples are open at this point (0 = top level); null is 0x00 at the top
 *  level and 0x00 0xFF inside a nested tuple. */
int tuple_append_null(cairn_buf *buf, int depth);
int tuple_append_bytes(cairn_buf *buf, const void *data, size_t len);
int tuple_append_string(cairn_buf *buf, const char *str, size_t len);
int tuple_append_int(cairn_buf *buf, int64_t value);
int tuple_append_double(cairn_buf *buf, double value);
int tuple_append_bool(cairn_buf *buf, bool value);
/** Opens and closes a nested tuple. The caller keeps them balanced and at most TUPLE_MAX_DEPTH
 *  deep (the public cairn_tuple builder checks this for its callers). */
int tuple_append_begin_nested(cairn_buf *buf);
int tuple_append_end_nested(cairn_buf *buf);

/** @return the index of the first byte of s[0..n) that does not start a valid UTF-8 sequence
 *  (overlong forms, surrogates and code points above U+10FFFF are invalid), or n when all of s
 *  is valid. */
size_t tuple_utf8_check(const uint8_t *s, size_t n);

/* ---- reading ---- */

/* Unescaped bytes/strings up to this size are returned from a buffer inside the reader. */
#define TUPLE_READER_INLINE 128

/** Reads an encoded tuple element by element, checking that it is the one canonical encoding.
 *  Initialise with tuple_reader_init(), release with tuple_reader_dispose(). */
typedef struct tuple_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;                           /* offset of the next byte to read */
    int depth;                            /* nested tuples open at pos */
    size_t open_at[TUPLE_MAX_DEPTH];      /* offsets of their 0x05 bytes, for messages */
    cairn_buf scratch;                    /* unescaped payloads too big for `inline_buf` */
    uint8_t inline_buf[TUPLE_READER_INLINE];
} tuple_reader;

/** Starts reading data[0..len); data is borrowed and must outlive the reader. */
void tuple_reader_init(tuple_reader *r, const void *data, size_t len);

/** Reads the next element. A nested tuple is reported when it opens (its members follow with
 *  depth + 1); its end is consumed silently by the next call. r->pos is then the offset just
 *  past the element (for a nested tuple, past its opening 0x05), so callers can take raw spans
 *  of the input, e.g. the encoded suffix after an index key's value.
 *  @param[out] out  the element; out->data is borrowed, valid until the next call (it points into
 *                   the input when the payload had no escaped zero bytes)
 *  @return 1 with *out filled; 0 at the end of a well-formed input; CAIRN_EINVAL (not the one
 *          canonical encoding; the message gives the byte offset); CAIRN_ENOMEM. */
int tuple_reader_next(tuple_reader *r, cairn_tuple_item *out);

/** Frees what the reader allocated. Accepts a reader that was only initialised. */
void tuple_reader_dispose(tuple_reader *r);

/** Checks that data[0..len) is one canonical tuple encoding.
 *  @return CAIRN_OK, CAIRN_EINVAL (with the offset in the message) or CAIRN_ENOMEM. */
int tuple_validate(const void *data, size_t len);

/* ---- order ---- */

/** Compares two encoded tuples: < 0, 0 or > 0 as tuple a sorts before, equal to or after tuple b.
 *  This is bytes_cmp() — the encoding is order-preserving — named for readers of the callers. */
static inline int tuple_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    return bytes_cmp(a, alen, b, blen);
}

/** Sets out to enc ‖ 0xFF, where enc (not pointing into out) is an encoded tuple t. The keys
 *  k with enc <= k < enc ‖ 0xFF are exactly the encodings of t and of every tuple that starts with all
 *  the elements of t: use [enc, out) as the range, not `prefix = enc`, which would also match
 *  longer bytes/strings in t's last element (("a") is a byte prefix of ("a\0")).
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
int tuple_range_end(cairn_buf *out, const void *enc, size_t len);

#endif /* CAIRN_TUPLE_H */
