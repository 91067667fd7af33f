/*
 * cmd_kv.c - the point commands: put, get, del (and del TABLE -, the keys on standard input,
 * deleted in one atomic batch).
 *
 * Bad input is refused before the repository is touched: put checks the key and value sizes
 * itself before it opens (and perhaps creates) the table, so an oversized key never leaves a
 * new empty table behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>
#include <unistd.h>

#include "cli.h"
#include "linereader.h"
#include "stage.h"
#include "tsv.h"

static int check_key_size(size_t klen)
{
    if (klen <= cairn_key_len_max()) return EXIT_OK;
    return cli_err(EXIT_FAIL, "key of %zu bytes is over the %zu byte limit", klen,
                   cairn_key_len_max());
}

static int put_value(const cli_args *a, size_t klen, const char *val, size_t vlen)
{
    cairn_db *db;
    cairn_table *t = NULL;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    code = cli_table_for_write(&t, db, a->pos[0]);
    if (code == EXIT_OK) {
        int rc = cairn_put(t, a->pos[1], klen, val, vlen);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    cairn_table_close(t);
    return cli_close(db, code);
}

int cmd_put(const cli_args *a)
{
    size_t klen, vlen;
    int code = cli_bytes_arg(&klen, a, a->pos[1], "KEY");
    if (code == EXIT_OK) code = check_key_size(klen);
    if (code != EXIT_OK) return code;
    if (strcmp(a->pos[2], "-") != 0) {
        if ((code = cli_bytes_arg(&vlen, a, a->pos[2], "VALUE")) != EXIT_OK) return code;
        if (vlen > cairn_value_len_max())
            return cli_err(EXIT_FAIL, "value of %zu bytes is over the %zu byte limit", vlen,
                           cairn_value_len_max());
        return put_value(a, klen, a->pos[2], vlen);
    }
    char *val = NULL;
    code = cli_read_file(&val, &vlen, "-", cairn_value_len_max(), "value");
    if (code != EXIT_OK) return code;
    code = put_value(a, klen, val, vlen);
    free(val);
    return code;
}

/* Reads KEY (klen bytes at a->pos[1]) of TABLE (at --at when given) into *out; not found is
 * EXIT_NOTFOUND, printed. */
static int lookup(void **out, size_t *out_len, cairn_db *db, const cli_args *a, size_t klen)
{
    cairn_snapshot *snap = NULL;
    cairn_table *t = NULL;
    int code = cli_snapshot_at(&snap, db, a);
    if (code == EXIT_OK) code = cli_table_at(&t, db, a->pos[0], a);
    if (code == EXIT_OK) {
        int rc = cairn_get(out, out_len, t, snap, a->pos[1], klen);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    return code;
}

int cmd_get(const cli_args *a)
{
    size_t klen;
    int code = cli_bytes_arg(&klen, a, a->pos[1], "KEY");
    if (code != EXIT_OK) return code;
    cairn_db *db;
    bool audit;
    if ((code = cli_open_read(&db, &audit, a)) != EXIT_OK) return code;
    void *val = NULL;
    size_t vlen = 0;
    code = lookup(&val, &vlen, db, a, klen);
    if (code == EXIT_OK || code == EXIT_NOTFOUND) { /* a miss is an access too */
        int rec = cli_audit_read(db, audit, "get", a->pos[0], a->pos[1], klen, code == EXIT_OK);
        if (rec != EXIT_OK) code = rec;
    }
    if (code != EXIT_OK) cairn_free(val);
    if (code == EXIT_OK) {
        code = cli_write(val, vlen);
        cairn_free(val);
    }
    return cli_close(db, code);
}

/* ---- del TABLE -: the keys on standard input, one a line, escaped as scan prints them ---- */

typedef struct bulk_del {
    const char *table;
    linereader lr;
    stage st;                /* the keys, decoded (values empty) */
    cairn_table *t;
    cairn_batch *b;
    uint64_t present, absent;
} bulk_del;

/* Reads and decodes every line before anything is deleted: a bad line deletes nothing. */
static int read_keys(bulk_del *d)
{
    for (;;) {
        char *line;
        size_t len, klen;
        int rc = lr_next(&d->lr, &line, &len);
        if (rc == 0) return EXIT_OK;
        if (rc < 0 && errno == EFBIG)
            return cli_err(EXIT_FAIL, "standard input: line %" PRIu64 ": longer than %zu bytes, "
                           "more than any key takes escaped; nothing was deleted", d->lr.lineno,
                           d->lr.max_line);
        if (rc < 0) return cli_err(EXIT_FAIL, "reading standard input: %s", strerror(errno));
        if (lr_skip_bom(&d->lr, &line, &len)) cli_bom_note("standard input");
        tsv_error e;
        if (tsv_unescape((uint8_t *)line, &klen, line, len, &e) < 0)
            return cli_err(EXIT_FAIL, "standard input: line %" PRIu64 ", column %zu: %s; "
                           "nothing was deleted", d->lr.lineno, e.offset + 1, e.msg);
        if (klen > cairn_key_len_max())
            return cli_err(EXIT_FAIL, "standard input: line %" PRIu64 ": key of %zu bytes is "
                           "over the %zu byte limit; nothing was deleted", d->lr.lineno, klen,
                           cairn_key_len_max());
        if (stage_add(&d->st, line, klen, "", 0) < 0) return cli_err(EXIT_FAIL, "out of memory");
    }
}

/* Adds one key's delete to the batch, counting whether the key is there now. */
static int del_one(const void *k, size_t kl, const void *v, size_t vl, void *payload)
{
    (void)v;
    (void)vl;
    bulk_del *d = payload;
    void *old = NULL;
    size_t olen;
    int rc = cairn_get(&old, &olen, d->t, NULL, k, kl);
    cairn_free(old);
    if (rc == CAIRN_ENOTFOUND) {
        d->absent++;
        return CAIRN_OK;
    }
    if (rc == CAIRN_OK) {
        d->present++;
        rc = cairn_batch_delete(d->b, d->t, k, kl);
    }
    return rc;
}

static int del_stdin(const cli_args *a)
{
    bulk_del d = { .table = a->pos[0], .st = STAGE_INIT };
    if (lr_init(&d.lr, STDIN_FILENO, cairn_key_len_max() * 4 + 1) < 0)
        return cli_err(EXIT_FAIL, "out of memory");
    int code = read_keys(&d);
    cairn_db *db = NULL;
    if (code == EXIT_OK) code = cli_open(&db, a, true);
    if (code == EXIT_OK) code = cli_table(&d.t, db, d.table, 0);
    if (code == EXIT_OK) {
        int rc = cairn_batch_new(&d.b, db);
        if (rc == CAIRN_OK) rc = stage_drain(&d.st, del_one, &d);
        if (rc == CAIRN_OK && d.present) rc = cairn_batch_commit(d.b);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
        cairn_batch_free(d.b);
        cairn_table_close(d.t);
    }
    stage_free(&d.st);
    lr_dispose(&d.lr);
    if (db) code = cli_close(db, code);
    if (code == EXIT_OK)
        fprintf(stderr, "deleted %" PRIu64 " key%s from %s (%" PRIu64 " not there)\n", d.present,
                cli_plural(d.present), d.table, d.absent);
    return code;
}

int cmd_del(const cli_args *a)
{
    if (strcmp(a->pos[1], "-") == 0) return del_stdin(a);
    size_t klen;
    int code = cli_bytes_arg(&klen, a, a->pos[1], "KEY");
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, true)) != EXIT_OK) return code;
    void *val = NULL;
    size_t vlen = 0;
    code = lookup(&val, &vlen, db, a, klen); /* deleting an absent key is an error here, unlike the API */
    if (code == EXIT_OK) {
        cairn_free(val);
        cairn_table *t;
        code = cli_table(&t, db, a->pos[0], 0);
        if (code == EXIT_OK) {
            int rc = cairn_delete(t, a->pos[1], klen);
            if (rc != CAIRN_OK) code = cli_lib_err(rc);
            cairn_table_close(t);
        }
    }
    return cli_close(db, code);
}
