/*
 * stage.h - where `cairn load` keeps parsed entries until the whole input has parsed: an
 * append-only list of (key, value) records in large blocks. Only then does the load touch the
 * repository (filling one cairn_batch, whose commit also creates a missing table), so bad input on any line leaves the
 * repository exactly as it was. Draining frees each block once its records are in the batch,
 * so a load holds about one copy of its data at a time.
 */
#ifndef CAIRN_CLI_STAGE_H
#define CAIRN_CLI_STAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct stage_block stage_block;

typedef struct stage {
    stage_block *head, *tail;
    uint64_t n;              /* records */
    uint64_t deletes;        /* of which deletes */
} stage;

#define STAGE_INIT { NULL, NULL, 0, 0 }

/** Appends a copy of one record; val NULL records a delete of key (drained with val NULL).
 *  @return 0, or -1 when out of memory. */
int stage_add(stage *s, const void *key, size_t klen, const void *val, size_t vlen);

/** Calls fn on every record in order, freeing blocks as it goes; stops at fn's first non-zero
 *  return, which it returns. The stage is empty afterwards either way. */
int stage_drain(stage *s, int (*fn)(const void *key, size_t klen, const void *val, size_t vlen,
                                    void *payload),
                void *payload);

void stage_free(stage *s);

#endif /* CAIRN_CLI_STAGE_H */
