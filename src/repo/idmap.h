/*
 * idmap.h - a hash map from chunk ids to 32-bit values, for walks over the whole repository
 * (garbage collection's mark set, verify's memo of checked nodes). Open addressing over one
 * array of ids and one of values, so that a map of n ids costs about 36n / load bytes and a walk
 * stays linear in the number of distinct chunks however many versions share them.
 */
#ifndef CAIRN_IDMAP_H
#define CAIRN_IDMAP_H

#include "base/base.h"

/* The value that marks an empty slot: callers store values below it. */
#define IDMAP_EMPTY UINT32_MAX

typedef struct idmap {
    cairn_id *keys;
    uint32_t *vals;
    size_t mask;             /* capacity - 1 (a power of two); capacity 0 before the first add */
    size_t n;
} idmap;

/** Frees the map's memory and leaves it empty (a zeroed idmap is a valid empty map). */
void idmap_dispose(idmap *m);

/** The value slot of id, or NULL when id is absent. Valid until the next idmap_add. */
uint32_t *idmap_find(const idmap *m, const cairn_id *id);

/** Adds id with value val (below IDMAP_EMPTY) unless present. *out_slot points at the value
 *  slot (the old value when present); *out_added says whether id was new. Both may be NULL.
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
int idmap_add(idmap *m, const cairn_id *id, uint32_t val, uint32_t **out_slot, bool *out_added);

#endif /* CAIRN_IDMAP_H */
