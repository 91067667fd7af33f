/*
 * linereader.h - reads a file descriptor line by line through one growing buffer: binary-safe
 * (NUL bytes are data), no per-line allocation, a bound on line length so that hostile input
 * cannot make it allocate without limit. The last line may lack its newline.
 */
#ifndef CAIRN_CLI_LINEREADER_H
#define CAIRN_CLI_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct linereader {
    int fd;
    char *buf;
    size_t cap, start, end;
    size_t scanned;          /* buf[start..scanned) holds no newline */
    size_t max_line;
    bool eof;
    uint64_t consumed;       /* bytes handed out so far, newlines included */
    uint64_t lineno;         /* number of the line last handed out (1-based) */
} linereader;

/** Starts reading fd (not closed by the reader). @return 0, or -1 (ENOMEM). */
int lr_init(linereader *lr, int fd, size_t max_line);

/** The next line, without its newline, borrowed until the next call; the caller may modify it.
 *  @return 1 with a line; 0 at the end of input; -1 on a read error (errno) or a line longer
 *          than max_line (errno = EFBIG; lineno is the number of the long line). */
int lr_next(linereader *lr, char **line, size_t *len);

/** Whether line (as lr_next() just handed it out) is the first line and starts with a UTF-8
 *  byte-order mark, which some editors write: then *line and *len are stepped past it, since
 *  it is no part of the data (the caller says so: cli_bom_note()). */
bool lr_skip_bom(const linereader *lr, char **line, size_t *len);

void lr_dispose(linereader *lr);

#endif /* CAIRN_CLI_LINEREADER_H */
