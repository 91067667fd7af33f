/*
 * refslot.c - the two-slot ref file (refslot.h).
 *
 * A slot: "CREF", CRC32C (LE) of bytes 8 .. 24+len, sequence number (u64 LE), value length
 * (u32 LE), 4 zero bytes, the value, zeros to the end of the slot (not covered by the CRC).
 */
#include "store/refslot.h"

#include "base/base.h"
#include "base/hash.h"

static const uint8_t magic[4] = { 'C', 'R', 'E', 'F' };

void refslot_encode(uint8_t *out, uint64_t seq, const void *value, size_t len)
{
    memset(out, 0, REFSLOT_SIZE);
    memcpy(out, magic, 4);
    store_le64(out + 8, seq);
    store_le32(out + 16, (uint32_t)len);
    if (len) memcpy(out + REFSLOT_HEADER, value, len);
    store_le32(out + 4, hash_crc32c(0, out + 8, REFSLOT_HEADER - 8 + len));
}

/* Whether slot s holds a whole version. */
static bool slot_valid(const uint8_t *s)
{
    if (memcmp(s, magic, 4) != 0 || load_le32(s + 20) != 0) return false;
    if (load_le64(s + 8) == UINT64_MAX) return false; /* no move could follow it */
    uint32_t len = load_le32(s + 16);
    if (len > REFSLOT_VALUE_MAX) return false;
    return load_le32(s + 4) == hash_crc32c(0, s + 8, REFSLOT_HEADER - 8 + len);
}

int refslot_decode(const uint8_t *p, size_t n, const char *what, refslot_version *out)
{
    if (n != REFSLOT_FILE_SIZE)
        return CORRUPT("ref file %s has %zu bytes, not the %u of a slotted ref file", what, n,
                       REFSLOT_FILE_SIZE);
    int best = -1;
    uint64_t best_seq = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *s = p + (size_t)i * REFSLOT_SIZE;
        if (!slot_valid(s)) continue;
        uint64_t seq = load_le64(s + 8);
        if (best < 0 || seq > best_seq) {
            best = i;
            best_seq = seq;
        }
    }
    if (best < 0)
        return CORRUPT("ref file %s: neither of its two slots is valid (both damaged)", what);
    const uint8_t *s = p + (size_t)best * REFSLOT_SIZE;
    out->value = s + REFSLOT_HEADER;
    out->len = load_le32(s + 16);
    out->seq = best_seq;
    out->slot = (unsigned)best;
    return CAIRN_OK;
}

bool refslot_valid(const uint8_t *slot) { return slot_valid(slot); }
