/*
 * varint.h - unsigned LEB128 integers, the length prefix of cairn's canonical encodings.
 * The decoder accepts only the shortest encoding of each value (no trailing 0x80 groups), so
 * that every integer has exactly one byte form.
 */
#ifndef CAIRN_VARINT_H
#define CAIRN_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

/** Writes v at p; returns the number of bytes (1..10). */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/** Reads a canonical varint from [p, end). Returns bytes consumed, or 0 when truncated,
 *  overlong or over 64 bits. */
static inline size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < VARINT_MAX && p + i < end; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1) return 0; /* over 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0) return 0; /* overlong */
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

#endif /* CAIRN_VARINT_H */
