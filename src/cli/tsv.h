/*
 * tsv.h - the text form of keys and values that `cairn scan` prints and `cairn load` reads: one
 * entry a line, KEY<TAB>VALUE, with both fields escaped so that any bytes survive a round trip.
 *
 * Escapes: \t \n \r \\ for tab, newline, carriage return and backslash; \xHH (two hex digits,
 * either case on input, lowercase on output) for every other byte below 0x20, for 0x7f, and for
 * every byte of a sequence that is not valid UTF-8. Valid UTF-8 passes through unescaped, so
 * text stays readable. The escaped form never holds a raw tab or newline, which is what makes a
 * raw tab the field separator and a raw newline the line end.
 *
 * Input is liberal in one way only: \xHH may spell any byte, needed or not. It is strict
 * otherwise: an unknown escape, a truncated \x, a backslash at the end of a field, or a raw
 * carriage return (most likely a CRLF line ending that would silently end up in the value) is
 * an error that names its offset.
 *
 * No allocation: escaping writes into a caller buffer of TSV_ESCAPED_MAX(len) bytes; unescaping
 * never lengthens its input, so it may run in place.
 */
#ifndef CAIRN_CLI_TSV_H
#define CAIRN_CLI_TSV_H

#include <stddef.h>
#include <stdint.h>

/** The longest escaped form of len bytes: every byte as \xHH. */
#define TSV_ESCAPED_MAX(len) (4 * (size_t)(len))

/** A decoding error: where (0-based byte offset into the text given) and what. */
typedef struct tsv_error {
    size_t offset;
    char msg[128];
} tsv_error;

/** @return the length (1..4) of the valid UTF-8 sequence that starts at p, or 0 when the bytes
 *  at p are no valid sequence (overlong forms, surrogates, code points above U+10FFFF,
 *  truncation, a stray continuation byte). ASCII (including control bytes) counts as valid. */
size_t utf8_seq_len(const uint8_t *p, size_t n);

/** @return 1 when all n bytes at p are valid UTF-8, else 0. */
int utf8_valid(const void *p, size_t n);

/** Writes the escaped form of in[0..len) into out (TSV_ESCAPED_MAX(len) bytes available).
 *  @return the number of bytes written; out is not NUL-terminated. */
size_t tsv_escape(char *out, const void *in, size_t len);

/** Decodes escaped text into out (which may be in: decoding never grows).
 *  @param[out] out_len  bytes written
 *  @param[out] err      on failure, the offset of the offending byte and a message
 *  @return 0, or -1 on a bad escape or a raw carriage return. */
int tsv_unescape(uint8_t *out, size_t *out_len, const char *in, size_t len, tsv_error *err);

/** The value field that makes a line a delete of its key: KEY<TAB>\- (scan never prints it,
 *  as \- is no escape of a value). */
#define TSV_DELETE "\\-"

/** One parsed line: pointers into the line buffer, which parsing rewrites in place. */
typedef struct tsv_line {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;      /**< NULL for a delete (KEY<TAB>\-) */
    size_t vlen;
} tsv_line;

/** Splits a line (without its newline) at its one raw tab and decodes both fields in place.
 *  @param[out] err  on failure: offset into the line (0-based) and what is wrong: no tab, more
 *                   than one tab, a bad escape in the key or the value, an empty line
 *  @return 0 or -1. */
int tsv_parse_line(tsv_line *out, char *line, size_t len, tsv_error *err);

#endif /* CAIRN_CLI_TSV_H */
