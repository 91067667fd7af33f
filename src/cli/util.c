/*
 * util.c - helpers every command uses: messages on stderr, opening the repository and tables,
 * ranges from the options, writing to stdout, the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tsv.h"

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

/* The writer-lock timeout: --wait SECONDS, else $CAIRN_WAIT, else 0 (fail at once). */
static int lock_timeout(unsigned *out_ms, const cli_args *a)
{
    const char *s = a->opt[OPT_WAIT], *what = "--wait";
    if (!s) {
        s = getenv("CAIRN_WAIT");
        what = "CAIRN_WAIT";
    }
    *out_ms = 0;
    if (!s || !*s) return EXIT_OK;
    char *end;
    errno = 0;
    double secs = strtod(s, &end);
    if (*end || errno || !(secs >= 0) || s[0] == ' ' || s[0] == '+')
        return cli_err(EXIT_USAGE, "%s needs a number of seconds (0, 2.5, 30), not '%s'", what,
                       s);
    if (secs > WAIT_MAX_SECONDS)
        return cli_err(EXIT_USAGE, "%s %s is too long: at most %u seconds", what, s,
                       WAIT_MAX_SECONDS);
    *out_ms = (unsigned)(secs * 1000.0 + 0.5);
    return EXIT_OK;
}

/* Whether a failed open of a directory means "no repository here" (as opposed to a damaged or
 * locked one), so that the search may go on in the parent. */
static bool no_repo_here(int rc) { return rc == CAIRN_ENOTFOUND || rc == CAIRN_EINVAL; }

/* Without -C: opens the repository in the current directory or, as git does, in the nearest
 * directory above it that holds one. When there is none, the failure reported is the current
 * directory's. @return EXIT_OK, or an exit code after printing why. */
static int open_upwards(cairn_db **out, const cairn_open_options *o)
{
    int rc = cairn_open(out, ".", o);
    if (rc == CAIRN_OK) return EXIT_OK;
    if (!no_repo_here(rc)) return cli_lib_err(rc), EXIT_FAIL;
    char *first = strdup(cairn_error_last()->message);
    char dir[PATH_MAX];
    int up = rc;
    if (getcwd(dir, sizeof dir)) {
        for (char *slash = strrchr(dir, '/'); slash && no_repo_here(up);
             slash = strrchr(dir, '/')) {
            bool at_top = slash == dir;
            slash[at_top] = '\0'; /* "/a/b" -> "/a"; "/a" -> "/" */
            up = cairn_open(out, dir, o);
            if (at_top) break;
        }
    }
    if (up == CAIRN_OK) {
        free(first);
        return EXIT_OK;
    }
    cli_err(EXIT_FAIL, "%s", first ? first : cairn_strerror(rc));
    free(first);
    return EXIT_FAIL;
}

int cli_open(cairn_db **out, const cli_args *a, bool write)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = write ? 0 : CAIRN_OPEN_READONLY;
    int code = lock_timeout(&o.lock_timeout_ms, a);
    if (code != EXIT_OK) return code;
    if (!a->dir_given) return open_upwards(out, &o);
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

int cli_parse_time(int64_t *out, const char *s, const char *opt, int64_t dflt)
{
    *out = dflt;
    if (!s) return EXIT_OK;
    if (cairn_time_parse(out, s, 0) == CAIRN_OK) return EXIT_OK;
    return cli_err(EXIT_USAGE, "%s: %s", opt, cairn_error_last()->message);
}

void cli_bom_note(const char *src)
{
    fprintf(stderr, "cairn: note: %s starts with a UTF-8 byte-order mark (EF BB BF); it was "
                    "skipped\n", src);
}

int cli_parse_count(uint64_t *out, const char *s, const char *opt)
{
    *out = UINT64_MAX;
    if (!s) return EXIT_OK;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    bool digits = *s && s[strspn(s, "0123456789")] == '\0';
    if (digits && errno == ERANGE)
        return cli_err(EXIT_USAGE, "%s %s is too large: at most %llu", opt, s, ULLONG_MAX);
    if (!digits || *end || errno)
        return cli_err(EXIT_USAGE, "%s needs a whole number, not '%s'", opt, s);
    *out = v;
    return EXIT_OK;
}

int cli_bytes_arg(size_t *out_len, const cli_args *a, const char *arg, const char *what)
{
    *out_len = strlen(arg);
    if (!a->opt[OPT_ESCAPED]) return EXIT_OK;
    tsv_error e;
    /* Decoding never lengthens, and argv's strings are the program's to change. */
    if (tsv_unescape((uint8_t *)(uintptr_t)arg, out_len, arg, *out_len, &e) == 0) return EXIT_OK;
    return cli_err(EXIT_USAGE, "--escaped %s, at byte %zu: %s", what, e.offset + 1, e.msg);
}

int cli_range(cairn_range *out, const cli_args *a)
{
    cairn_range r = CAIRN_RANGE_INIT;
    int code = EXIT_OK;
    if (a->opt[OPT_FROM] && code == EXIT_OK) {
        r.from = a->opt[OPT_FROM];
        code = cli_bytes_arg(&r.from_len, a, r.from, "--from");
    }
    if (a->opt[OPT_TO] && code == EXIT_OK) {
        r.to = a->opt[OPT_TO];
        code = cli_bytes_arg(&r.to_len, a, r.to, "--to");
    }
    if (a->opt[OPT_PREFIX] && code == EXIT_OK) {
        r.prefix = a->opt[OPT_PREFIX];
        code = cli_bytes_arg(&r.prefix_len, a, r.prefix, "--prefix");
    }
    *out = r;
    return code;
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

const char *cli_coll_table(char buf[CLI_COLL_TABLE_SIZE], const char *coll)
{
    snprintf(buf, CLI_COLL_TABLE_SIZE, CAIRN_DOC_COLL_PREFIX "%s", coll);
    return buf;
}

char *cli_doc_text(size_t *out_len, const char *table, const void *key, size_t klen,
                   const void *val, size_t vlen)
{
    char *doc = NULL;
    if (!val || strncmp(table, CAIRN_DOC_COLL_PREFIX, strlen(CAIRN_DOC_COLL_PREFIX)) != 0)
        return NULL;
    if (cairn_doc_decode(&doc, out_len, val, vlen, key, klen) != CAIRN_OK) {
        cairn_error_clear(); /* printed as the bytes it is */
        return NULL;
    }
    return doc;
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
