/*
 * linereader.c - line reading for `cairn load` (see linereader.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linereader.h"

#define LR_INITIAL (1u << 20)

int lr_init(linereader *lr, int fd, size_t max_line)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = fd;
    lr->max_line = max_line;
    lr->cap = LR_INITIAL;
    lr->buf = malloc(lr->cap);
    return lr->buf ? 0 : -1;
}

void lr_dispose(linereader *lr)
{
    free(lr->buf);
    lr->buf = NULL;
}

/* Makes room at the end of the buffer: first by moving the pending bytes to the front, then by
 * growing (up to max_line + 1, room for a line and its newline). */
static int make_room(linereader *lr)
{
    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->scanned -= lr->start;
        lr->start = 0;
    }
    if (lr->end < lr->cap) return 0;
    if (lr->cap > lr->max_line) {
        errno = EFBIG;
        return -1;
    }
    size_t ncap = lr->cap * 2 > lr->max_line + 1 ? lr->max_line + 1 : lr->cap * 2;
    char *nb = realloc(lr->buf, ncap);
    if (!nb) return -1;
    lr->buf = nb;
    lr->cap = ncap;
    return 0;
}

static int fill(linereader *lr)
{
    if (make_room(lr) < 0) return -1;
    for (;;) {
        ssize_t n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) lr->eof = true;
        lr->end += (size_t)n;
        return 0;
    }
}

static void hand_out(linereader *lr, char **line, size_t *len, size_t n, size_t skip)
{
    *line = lr->buf + lr->start;
    *len = n;
    lr->start += n + skip;
    lr->scanned = lr->start;
    lr->consumed += n + skip;
    lr->lineno++;
}

int lr_next(linereader *lr, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(lr->buf + lr->scanned, '\n', lr->end - lr->scanned);
        if (nl) {
            size_t n = (size_t)(nl - (lr->buf + lr->start));
            if (n > lr->max_line) break;
            hand_out(lr, line, len, n, 1);
            return 1;
        }
        lr->scanned = lr->end;
        if (lr->end - lr->start > lr->max_line) break;
        if (lr->eof) {
            if (lr->start == lr->end) return 0;
            hand_out(lr, line, len, lr->end - lr->start, 0);
            return 1;
        }
        if (fill(lr) < 0) {
            if (errno == EFBIG) break;
            return -1;
        }
    }
    lr->lineno++;
    errno = EFBIG;
    return -1;
}

bool lr_skip_bom(const linereader *lr, char **line, size_t *len)
{
    static const char BOM[] = "\xef\xbb\xbf";
    if (lr->lineno != 1 || *len < 3 || memcmp(*line, BOM, 3) != 0) return false;
    *line += 3;
    *len -= 3;
    return true;
}
