/*
 * when.h - times in and out for the working-set commands (oplog, stats): written as RFC 3339 in
 * UTC with milliseconds (2026-11-21T10:00:00.123Z), read as RFC 3339 (2026-11-21T10:00:00Z,
 * with a fraction of a second and a +HH:MM / -HH:MM offset if wanted) or as a Unix time in
 * seconds (1795255200). Pure arithmetic: no time zone database, no global state.
 */
#ifndef CAIRN_CLI_WHEN_H
#define CAIRN_CLI_WHEN_H

#include <stdint.h>

/** "2026-11-21T10:00:00.123Z" and its NUL. */
#define WHEN_MS_SIZE 25
/** What when_parse() accepts, for messages. */
#define WHEN_FORMS "RFC 3339 (2026-11-21T10:00:00Z, 2026-11-21T11:00:00.5+01:00) or a Unix time " \
                   "in seconds (1795255200)"

/** Writes ns (nanoseconds since the Unix epoch) as UTC RFC 3339 with milliseconds. */
void when_format_ms(char out[WHEN_MS_SIZE], int64_t ns);

/** Parses a time in one of the forms above.
 *  @param[out] out  nanoseconds since the Unix epoch
 *  @return 0, or -1 when s is none of them, or out of the range of 64-bit nanoseconds since
 *          1970 (years 1678 to 2262). */
int when_parse(int64_t *out, const char *s);

#endif /* CAIRN_CLI_WHEN_H */
