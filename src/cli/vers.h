/*
 * vers.h - what the version commands (commit, log, show, branch, tag, checkout, diff, merge,
 * conflicts, resolve, reflog, status) share: short commit ids, times in UTC ISO 8601, the first
 * line of a message, revisions resolved with their error printed, and the escaped tab-separated
 * lines that diff and conflicts print.
 *
 * Fields of those lines are escaped as scan escapes keys and values (tsv.h). One thing is
 * added: a side that is absent (the old value of an added key, a deleted side of a conflict) is
 * a lone "-", and a value that is exactly "-" is written "\x2d", so that "-" is never both.
 */
#ifndef CAIRN_CLI_VERS_H
#define CAIRN_CLI_VERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/** Hex digits of a short commit id, as log --oneline and every report print them. */
#define VERS_SHORT_LEN 12
/** "2026-11-21T15:04:05Z" and its NUL. */
#define VERS_TIME_SIZE 21

/** Writes the first VERS_SHORT_LEN hex digits of id and a NUL. */
void vers_short(char out[VERS_SHORT_LEN + 1], const cairn_id *id);

/** Writes ns (nanoseconds since the Unix epoch) as UTC ISO 8601 to the second. */
void vers_time(char out[VERS_TIME_SIZE], int64_t ns);

/** Copies the first line of msg (at most cap - 1 bytes) into out. */
void vers_first_line(char *out, size_t cap, const char *msg);

/** @return "none", "good", "unknown key" or "bad" for an enum cairn_sig_status. */
const char *vers_sig_name(int status);

/** Resolves rev to a commit id. @return EXIT_OK, or the exit code after printing why. */
int vers_resolve(cairn_id *out, cairn_db *db, const char *rev);

/** The first line of the message of commit id into out ("" when it cannot be read). */
void vers_subject(char *out, size_t cap, cairn_db *db, const cairn_id *id);

/** A growing line of tab-separated escaped fields. */
typedef struct vline {
    char *buf;
    size_t len, cap;
    bool failed;             /* out of memory: emitting reports it */
} vline;

/** Starts an empty line (keeps the buffer for reuse). */
void vline_reset(vline *l);

/** Appends a field (a tab first unless it is the first): bytes escaped, or "-" when absent. */
void vline_field(vline *l, const void *p, size_t n, bool present);

/** Appends a field of text as it is (no escaping: for names and fixed words). */
void vline_text(vline *l, const char *s);

/** Writes the line and a newline to stdout, or to stderr after prefix when prefix is not NULL.
 *  @return EXIT_OK, or EXIT_FAIL after printing why. */
int vline_emit(vline *l, const char *prefix);

/** Frees the buffer. */
void vline_dispose(vline *l);

#endif /* CAIRN_CLI_VERS_H */
