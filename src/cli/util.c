/*
 * util.c - helpers every command uses: messages on stderr, opening the repository and tables,
 * ranges from the options, writing to stdout, the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_err(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_lib_err(int rc)
{
    const cairn_error *e = cairn_error_last();
    cli_err(EXIT_FAIL, "%s", e->message[0] ? e->message : cairn_strerror(rc));
    return rc == CAIRN_ENOTFOUND ? EXIT_NOTFOUND : EXIT_FAIL;
}

void cli_log(cairn_log_level level, const char *message, void *payload)
{
    (void)payload;
    if (level == CAIRN_LOG_ERROR) fprintf(stderr, "cairn: error: %s\n", message);
    else if (level == CAIRN_LOG_WARN) fprintf(stderr, "cairn: warning: %s\n", message);
}

int cli_open(cairn_db **out, const cli_args *a, bool write)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = write ? 0 : CAIRN_OPEN_READONLY;
    int rc = cairn_open(out, a->dir, &o);
    if (rc == CAIRN_OK) return EXIT_OK;
    cli_lib_err(rc);
    return EXIT_FAIL;
}

int cli_close(cairn_db *db, int code)
{
    int rc = cairn_close(db);
    if (rc != CAIRN_OK && code == EXIT_OK) {
        cli_lib_err(rc);
        return EXIT_FAIL;
    }
    return code;
}

int cli_table(cairn_table **out, cairn_db *db, const char *name, unsigned flags)
{
    int rc = cairn_table_open(out, db, name, flags);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

int cli_table_for_write(cairn_table **out, cairn_db *db, const char *name)
{
    int rc = cairn_table_open(out, db, name, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER);
    if (rc == CAIRN_OK) return EXIT_OK;
    cli_lib_err(rc);
    return EXIT_FAIL;
}

int cli_snapshot_at(cairn_snapshot **out, cairn_db *db, const cli_args *a)
{
    *out = NULL;
    if (!a->opt[OPT_AT]) return EXIT_OK;
    int rc = cairn_snapshot_open_at(out, db, a->opt[OPT_AT]);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

int cli_table_at(cairn_table **out, cairn_db *db, const char *name, const cli_args *a)
{
    return cli_table(out, db, name, a->opt[OPT_AT] ? CAIRN_TABLE_NAMEONLY : 0);
}

int cli_parse_count(uint64_t *out, const char *s, const char *opt)
{
    *out = UINT64_MAX;
    if (!s) return EXIT_OK;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return cli_err(EXIT_USAGE, "%s needs a whole number, not '%s'", opt, s);
    *out = v;
    return EXIT_OK;
}

void cli_range(cairn_range *out, const cli_args *a)
{
    cairn_range r = CAIRN_RANGE_INIT;
    if (a->opt[OPT_FROM]) {
        r.from = a->opt[OPT_FROM];
        r.from_len = strlen(a->opt[OPT_FROM]);
    }
    if (a->opt[OPT_TO]) {
        r.to = a->opt[OPT_TO];
        r.to_len = strlen(a->opt[OPT_TO]);
    }
    if (a->opt[OPT_PREFIX]) {
        r.prefix = a->opt[OPT_PREFIX];
        r.prefix_len = strlen(a->opt[OPT_PREFIX]);
    }
    *out = r;
}

int cli_write(const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, stdout) != n)
        return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

/* Reads fd to its end into a growing buffer of at most limit + 1 bytes. */
static int read_fd(char **out, size_t *out_len, int fd, size_t limit)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap + 1);
    ssize_t got = 1;
    while (buf && got > 0 && len <= limit) {
        if (len == cap) {
            cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) break;
            buf = nb;
        }
        got = read(fd, buf + len, cap - len);
        if (got > 0) len += (size_t)got;
    }
    if (!buf || (got > 0 && len <= limit)) {
        free(buf);
        errno = ENOMEM;
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return got < 0 ? -1 : 0;
}

bool cli_id_is_zero(const cairn_id *id)
{
    static const cairn_id ZERO;
    return memcmp(id, &ZERO, sizeof ZERO) == 0;
}

int cli_read_file(char **out, size_t *out_len, const char *path, size_t limit, const char *what)
{
    bool use_stdin = strcmp(path, "-") == 0;
    const char *name = use_stdin ? "standard input" : path;
    int fd = use_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_err(EXIT_FAIL, "cannot open %s file %s: %s", what, path, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    int rc = read_fd(&buf, &len, fd, limit), err = errno;
    if (!use_stdin) close(fd);
    if (rc < 0) {
        free(buf);
        return cli_err(EXIT_FAIL, "reading %s from %s: %s", what, name, strerror(err));
    }
    if (len > limit) {
        free(buf);
        return cli_err(EXIT_FAIL, "the %s %s %s is over the %zu byte limit", what,
                       use_stdin ? "on" : "in", name, limit);
    }
    *out = buf;
    *out_len = len;
    return EXIT_OK;
}

int cli_flush_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
