/*
 * progress.h - the progress line of `cairn load` (and of push, fetch and clone) on stderr: shown only when stderr is a
 * terminal, redrawn at most PROGRESS_HZ times a second, erased at the end so that the summary
 * line stands alone.
 */
#ifndef CAIRN_CLI_PROGRESS_H
#define CAIRN_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_HZ 10

typedef struct progress {
    bool on;
    bool drawn;
    double last;
    uint64_t total;          /* input size in bytes, 0 when unknown (a pipe) */
    const char *table;
} progress;

/** @param total  the input's size in bytes, or 0 when unknown. */
void progress_start(progress *p, const char *table, uint64_t total);

/** Reports reading: bytes consumed and lines parsed so far. Cheap when not redrawing. */
void progress_read(progress *p, uint64_t bytes, uint64_t lines);

/** Reports the commit phase (of unknown length). */
void progress_commit(progress *p, uint64_t keys);

/** Starts a transfer's progress line (push, fetch, clone): `what` is "pushing to origin"... */
void progress_transfer_start(progress *p, const char *what);

/** Reports a transfer: chunks and bytes copied so far, and the rate since the start. */
void progress_transfer(progress *p, uint64_t chunks, uint64_t bytes, double seconds);

/** Erases the progress line. */
void progress_end(progress *p);

#endif /* CAIRN_CLI_PROGRESS_H */
