/*
 * pins.h - reader pins: how a reader process tells the writer's garbage collection which
 * versions it is reading (docs/FORMAT.md, "Reader pins").
 *
 * Each reader handle keeps one file in readers/ of the store's file namespace (DIR/readers/ of
 * a local repository), holding the catalog ids of the versions it has loaded, under a shared
 * lock for as long as the handle is open. gc marks from the ids of every file whose lock is
 * held, and removes the files whose lock is free (their process is gone). A file enters
 * readers/ already locked (made under a dot name, locked, then renamed without replacing to
 * its final name), so gc never takes a live reader's file for a dead one's. It takes a store
 * with files whose locks hold across processes (pins_supported()).
 */
#ifndef CAIRN_PINS_H
#define CAIRN_PINS_H

#include "base/base.h"

#define PINS_HEADER 16
#define PINS_MAX 65536 /* ids in one file */

typedef struct pins pins;

/** Whether st can keep pins: a file namespace (CAIRN_STORE_CAP_FILES) whose locks exclude other
 *  processes (CAIRN_STORE_CAP_FILE_LOCKS). */
bool pins_supported(const cairn_store *st);

/** Registers a reader in readers/ of st, with no ids yet. st outlives the pins.
 *  @return CAIRN_OK; CAIRN_EUNSUPPORTED (!pins_supported(st)); CAIRN_EIO (and others from the
 *          file system: e.g. no write permission). */
int pins_register(pins **out, cairn_store *st);

/** Replaces the reader's ids (n <= PINS_MAX). Not synced: a pin matters only while its process
 *  lives. */
int pins_set(pins *p, const cairn_id *ids, size_t n);

/** Removes the reader's file. p may be NULL. */
void pins_close(pins *p);

/** gc: the ids of every live reader of st (appended to *ids, *n, *cap as a growing
 *  array), removing the files of dead ones. A file that stays torn (being rewritten) over many
 *  reads is an error: gc must not go on without it.
 *  @return CAIRN_OK; CAIRN_ECORRUPT (a live reader's file cannot be read); CAIRN_EIO; ENOMEM. */
int pins_collect(cairn_store *st, cairn_id **ids, size_t *n, size_t *cap);

/** The gc epoch of st: how many collections have started (0 before the first).
 *  @return CAIRN_OK; CAIRN_ECORRUPT (the file is not 8 bytes: readers then open unsure of a gc
 *          race, verify reports it, the next gc rewrites it); CAIRN_EIO. */
int pins_epoch(cairn_store *st, uint64_t *out);

/** gc, before it marks: one more collection has started. Not synced (readers only compare it
 *  while they open).
 *  @return CAIRN_OK; CAIRN_EIO (and others from the file system). */
int pins_epoch_bump(cairn_store *st);

/** A writer's open: makes the gc epoch file (epoch 0) when there is none, so that gc's bump is a
 *  rewrite in place that needs no new space on a full disk. Best effort: a failure is cleared
 *  (gc then makes the file, or says it cannot). */
void pins_epoch_prepare(cairn_store *st);

/** Decodes a pin file's bytes: CAIRN_OK with the ids (pointing into p) and their count, or
 *  CAIRN_ECORRUPT (also for a file caught while being rewritten). */
int pins_decode(const uint8_t *p, size_t len, const uint8_t **ids, size_t *count);

#endif /* CAIRN_PINS_H */
