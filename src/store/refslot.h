/*
 * refslot.h - the two-slot ref file of the local store (docs/FORMAT.md, "Refs").
 *
 * A ref file of exactly REFSLOT_FILE_SIZE bytes holds two slots of REFSLOT_SIZE bytes, each a
 * version of the ref's value with a sequence number and a CRC32C. A move overwrites the slot
 * with the older version in place and fdatasyncs it: a write torn by a crash spoils only that
 * slot, and the other one still holds the value before the move. Readers take the valid slot
 * with the higher sequence number. Any other file size is a plain value (the older layout, and
 * values too long for a slot).
 */
#ifndef CAIRN_REFSLOT_H
#define CAIRN_REFSLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REFSLOT_SIZE 4096u
#define REFSLOT_FILE_SIZE (2u * REFSLOT_SIZE)
#define REFSLOT_HEADER 24u
#define REFSLOT_VALUE_MAX (REFSLOT_SIZE - REFSLOT_HEADER)

/** The current version in a slotted file of n bytes. */
typedef struct refslot_version {
    const uint8_t *value; /* points into the file's bytes */
    size_t len;
    uint64_t seq;
    unsigned slot;        /* 0 or 1 */
} refslot_version;

/** Decodes the newest valid slot of file bytes p[0..n): CAIRN_OK, or CAIRN_ECORRUPT (message
 *  set, naming `what`) when n is not REFSLOT_FILE_SIZE or neither slot is valid. */
int refslot_decode(const uint8_t *p, size_t n, const char *what, refslot_version *out);

/** Whether one slot (REFSLOT_SIZE bytes) holds a whole version (magic, CRC, bounds). */
bool refslot_valid(const uint8_t *slot);

/** Encodes one slot (REFSLOT_SIZE bytes into out, zero-padded). len <= REFSLOT_VALUE_MAX. */
void refslot_encode(uint8_t *out, uint64_t seq, const void *value, size_t len);

#endif /* CAIRN_REFSLOT_H */
