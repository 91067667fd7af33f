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

int cmd_scan(const cli_args *a)
{
    uint64_t limit;
    cairn_range r;
    int code = cli_parse_count(&limit, a->opt[OPT_LIMIT], "--limit");
    if (code == EXIT_OK) code = cli_range(&r, a);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, false)) != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    cairn_cursor *cur = NULL;
    if (code == EXIT_OK) {
        int rc = cairn_cursor_open(&cur, t, snap, &r);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
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
    if ((code = cli_open(&db, a, false)) != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    if (code == EXIT_OK) {
        uint64_t n;
        int rc = cairn_count(&n, t, snap, &r);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
        else printf("%" PRIu64 "\n", n);
    }
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}
