/*
 * cmd_scan.c - the range commands: scan (entries as TSV or JSON lines) and count.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonl.h"
#include "tsv.h"

/* One reusable line buffer for TSV output. */
typedef struct tsv_out {
    char *buf;
    size_t cap;
} tsv_out;

static int emit_tsv(tsv_out *o, const void *k, size_t kl, const void *v, size_t vl)
{
    size_t need = TSV_ESCAPED_MAX(kl) + TSV_ESCAPED_MAX(vl) + 2;
    if (need > o->cap) {
        char *nb = realloc(o->buf, need);
        if (!nb) return cli_err(EXIT_FAIL, "out of memory printing an entry of %zu bytes", need);
        o->buf = nb;
        o->cap = need;
    }
    size_t n = tsv_escape(o->buf, k, kl);
    o->buf[n++] = '\t';
    n += tsv_escape(o->buf + n, v, vl);
    o->buf[n++] = '\n';
    return cli_write(o->buf, n);
}

static int emit(tsv_out *o, bool json, const cairn_cursor *cur)
{
    const void *k, *v;
    size_t kl, vl;
    cairn_cursor_get(&k, &kl, &v, &vl, cur);
    if (!json) return emit_tsv(o, k, kl, v, vl);
    if (jsonl_write(stdout, k, kl, v, vl) < 0)
        return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

/* Walks the cursor forwards or backwards, printing at most limit entries. */
static int walk(cairn_cursor *cur, const cli_args *a, uint64_t limit)
{
    bool reverse = a->opt[OPT_REVERSE] != NULL, json = a->opt[OPT_JSON] != NULL;
    tsv_out o = { NULL, 0 };
    int code = EXIT_OK;
    for (uint64_t n = 0; code == EXIT_OK && n < limit; n++) {
        int rc = reverse ? cairn_cursor_prev(cur) : cairn_cursor_next(cur);
        if (rc == CAIRN_ENOTFOUND) break;
        if (rc != CAIRN_OK) {
            cli_lib_err(rc);
            code = EXIT_FAIL;
        } else {
            code = emit(&o, json, cur);
        }
    }
    free(o.buf);
    return code;
}

/* What a recorded scan or count asked for: its range options, as given. */
static void range_detail(char *out, size_t size, const cli_args *a)
{
    static const enum cli_opt shown[] = { OPT_FROM, OPT_TO, OPT_PREFIX, OPT_REVERSE, OPT_LIMIT,
                                          OPT_AT };
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof shown / sizeof shown[0] && n < size; i++) {
        const char *v = a->opt[shown[i]];
        if (!v) continue;
        int w = snprintf(out + n, size - n, "%s%s%s%s", n ? " " : "", cli_opt_name(shown[i]),
                         *v ? " " : "", v);
        n = w < 0 ? size : n + (size_t)w;
    }
}

/* Records a scan or count before anything is printed: its result count is the range's count
 * (at most --limit for a scan), taken under the writer lock that recording holds, so that it is
 * what the walk then prints. */
static int record_range(cairn_db *db, bool audit, const char *op, cairn_table *t,
                        const cairn_snapshot *snap, const cli_args *a, const cairn_range *r,
                        uint64_t limit)
{
    if (!audit) return EXIT_OK;
    uint64_t n;
    int rc = cairn_count(&n, t, snap, r);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char detail[1024];
    range_detail(detail, sizeof detail, a);
    return cli_audit_read(db, audit, op, a->pos[0], detail, strlen(detail),
                          n < limit ? n : limit);
}

int cmd_scan(const cli_args *a)
{
    uint64_t limit;
    cairn_range r;
    int code = cli_parse_count(&limit, a->opt[OPT_LIMIT], "--limit");
    if (code == EXIT_OK) code = cli_range(&r, a);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    bool audit;
    if ((code = cli_open_read(&db, &audit, a)) != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    cairn_cursor *cur = NULL;
    if (code == EXIT_OK) {
        int rc = cairn_cursor_open(&cur, t, snap, &r);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    if (code == EXIT_OK) code = record_range(db, audit, "scan", t, snap, a, &r, limit);
    if (code == EXIT_OK) code = walk(cur, a, limit);
    cairn_cursor_close(cur);
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}

int cmd_count(const cli_args *a)
{
    cairn_range r;
    int code = cli_range(&r, a);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    bool audit;
    if ((code = cli_open_read(&db, &audit, a)) != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    if (code == EXIT_OK) {
        uint64_t n;
        int rc = cairn_count(&n, t, snap, &r);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
        else code = record_range(db, audit, "count", t, snap, a, &r, UINT64_MAX);
        if (code == EXIT_OK) printf("%" PRIu64 "\n", n);
    }
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}
