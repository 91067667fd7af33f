/*
 * util.c - helpers every command uses: messages on stderr, opening the repository and tables,
 * ranges from the options, writing to stdout, the clock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void cli_log(int level, const char *message, void *payload)
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
