/*
 * vers.c - helpers the version commands share (see vers.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tsv.h"
#include "vers.h"

#define NS_PER_S 1000000000

void vers_short(char out[VERS_SHORT_LEN + 1], const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    memcpy(out, hex, VERS_SHORT_LEN);
    out[VERS_SHORT_LEN] = '\0';
}

void vers_time(char out[VERS_TIME_SIZE], int64_t ns)
{
    /* floor division, so that times before 1970 still name the second they fall in */
    time_t s = (time_t)(ns / NS_PER_S - (ns % NS_PER_S < 0));
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(out, VERS_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, VERS_TIME_SIZE, "@%lld", (long long)s);
}

void vers_first_line(char *out, size_t cap, const char *msg)
{
    size_t n = strcspn(msg, "\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), msg);
}

const char *vers_sig_name(int status)
{
    switch (status) {
    case CAIRN_SIG_GOOD: return "good";
    case CAIRN_SIG_UNKNOWN: return "unknown key";
    case CAIRN_SIG_BAD: return "bad";
    default: return "none";
    }
}

int vers_resolve(cairn_id *out, cairn_db *db, const char *rev)
{
    int rc = cairn_resolve(out, db, rev);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

typedef struct subject_ctx {
    char *out;
    size_t cap;
} subject_ctx;

static int subject_cb(const cairn_commit_info *info, void *payload)
{
    subject_ctx *s = payload;
    vers_first_line(s->out, s->cap, info->message);
    return 0;
}

void vers_subject(char *out, size_t cap, cairn_db *db, const cairn_id *id)
{
    subject_ctx s = { out, cap };
    out[0] = '\0';
    if (cairn_commit_show(db, id, subject_cb, &s) != CAIRN_OK) cairn_error_clear();
}

void vline_reset(vline *l) { l->len = 0; }

/* Makes room for n more bytes. */
static bool vline_room(vline *l, size_t n)
{
    if (l->failed) return false;
    if (l->len + n <= l->cap) return true;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n) cap *= 2;
    char *nb = realloc(l->buf, cap);
    if (!nb) {
        l->failed = true;
        return false;
    }
    l->buf = nb;
    l->cap = cap;
    return true;
}

void vline_field(vline *l, const void *p, size_t n, bool present)
{
    if (!vline_room(l, TSV_ESCAPED_MAX(n) + 2)) return;
    if (l->len) l->buf[l->len++] = '\t';
    if (!present) l->buf[l->len++] = '-';
    else if (n == 1 && *(const char *)p == '-') {
        memcpy(l->buf + l->len, "\\x2d", 4);
        l->len += 4;
    }
    else l->len += tsv_escape(l->buf + l->len, p, n);
}

void vline_text(vline *l, const char *s)
{
    size_t n = strlen(s);
    if (!vline_room(l, n + 1)) return;
    if (l->len) l->buf[l->len++] = '\t';
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

int vline_emit(vline *l, const char *prefix)
{
    if (l->failed || !vline_room(l, 1))
        return cli_err(EXIT_FAIL, "out of memory printing a line of %zu bytes", l->len);
    l->buf[l->len++] = '\n';
    FILE *f = prefix ? stderr : stdout;
    if ((prefix && fputs(prefix, f) == EOF) || fwrite(l->buf, 1, l->len, f) != l->len)
        return prefix ? EXIT_FAIL
                      : cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

void vline_dispose(vline *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}
