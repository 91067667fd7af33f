/*
 * b64.h - standard base64 (RFC 4648, with padding) for the JSON lines form of binary keys and
 * values. Decoding is strict: only the standard alphabet, correct padding, no whitespace, and
 * zero bits where the last character carries fewer than six, so every byte string has exactly
 * one accepted spelling.
 */
#ifndef CAIRN_CLI_B64_H
#define CAIRN_CLI_B64_H

#include <stddef.h>
#include <stdint.h>

/** Encoded length of n bytes (without a NUL). */
#define B64_ENCODED_LEN(n) (((size_t)(n) + 2) / 3 * 4)
/** An upper bound of the decoded length of n characters. */
#define B64_DECODED_MAX(n) ((size_t)(n) / 4 * 3)

/** Writes B64_ENCODED_LEN(n) characters to out (not NUL-terminated). */
void b64_encode(char *out, const void *in, size_t n);

/** Decodes n characters into out (B64_DECODED_MAX(n) bytes available).
 *  @return 0 and *out_len, or -1 when the text is not canonical base64. */
int b64_decode(uint8_t *out, size_t *out_len, const char *in, size_t n);

#endif /* CAIRN_CLI_B64_H */
