/*
 * when.h - times out for the working-set commands (oplog, stats): written as RFC 3339 in UTC
 * with milliseconds (2026-11-21T10:00:00.123Z). Times in are read by cairn_time_parse(), the
 * library's one time grammar (also that of @{...} in revisions). Pure arithmetic: no time zone
 * database, no global state.
 */
#ifndef CAIRN_CLI_WHEN_H
#define CAIRN_CLI_WHEN_H

#include <stdint.h>

/** "2026-11-21T10:00:00.123Z" and its NUL. */
#define WHEN_MS_SIZE 25

/** Writes ns (nanoseconds since the Unix epoch) as UTC RFC 3339 with milliseconds. */
void when_format_ms(char out[WHEN_MS_SIZE], int64_t ns);

#endif /* CAIRN_CLI_WHEN_H */
