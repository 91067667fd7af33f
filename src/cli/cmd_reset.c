/*
 * cmd_reset.c - discarding changes as git users expect: `cairn reset [--hard] [REV]` moves the
 * branch to REV (cairn_reset()), and `cairn restore TABLE [--at REV]` makes one table of the
 * working state what it is at REV (default HEAD), in one atomic batch: the keys that differ
 * (cairn_diff() from WORKING to REV, so the cost follows the difference, not the table) are put
 * back or deleted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vers.h"

/* "HEAD is now at SHORTID first line of the message" */
static int print_head(cairn_db *db)
{
    cairn_id head;
    int rc = cairn_resolve(&head, db, "HEAD");
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &head);
    printf("HEAD is now at %.*s\n", VERS_SHORT_LEN, hex);
    return EXIT_OK;
}

int cmd_reset(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    int rc = cairn_reset(db, a->npos ? a->pos[0] : NULL, a->opt[OPT_HARD] ? CAIRN_RESET_HARD : 0);
    code = rc == CAIRN_OK ? print_head(db) : cli_lib_err(rc);
    return cli_close(db, code);
}

typedef struct restore {
    cairn_table *t;
    cairn_batch *b;
    uint64_t put, deleted;
} restore;

static int undo_change(const cairn_diff_entry *e, void *payload)
{
    restore *r = payload;
    if (e->kind == CAIRN_DIFF_REMOVED) { /* in WORKING, not at REV */
        r->deleted++;
        return cairn_batch_delete(r->b, r->t, e->key, e->klen);
    }
    r->put++;
    return cairn_batch_put(r->b, r->t, e->key, e->klen, e->new_val, e->new_len);
}

/* Whether TABLE is in the snapshot of rev. */
static int table_at(bool *out, cairn_db *db, const char *name, const char *rev)
{
    cairn_snapshot *snap;
    int rc = cairn_snapshot_open_at(&snap, db, rev);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    cairn_table *t;
    cairn_id root;
    rc = cairn_table_open(&t, db, name, CAIRN_TABLE_NAMEONLY);
    if (rc == CAIRN_OK) rc = cairn_table_root(&root, t, snap);
    cairn_table_close(t);
    cairn_snapshot_close(snap);
    *out = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) cairn_error_clear();
    return rc == CAIRN_OK || rc == CAIRN_ENOTFOUND ? EXIT_OK : cli_lib_err(rc);
}

static int restore_table(cairn_db *db, const char *name, const char *rev)
{
    bool there = false;
    int code = table_at(&there, db, name, rev);
    if (code != EXIT_OK) return code;
    if (!there) { /* not at REV: restoring it is dropping it */
        int rc = cairn_table_drop(db, name);
        if (rc != CAIRN_OK) return cli_lib_err(rc);
        fprintf(stderr, "restored %s as at %s: dropped (it is not there)\n", name, rev);
        return EXIT_OK;
    }
    restore r = { NULL, NULL, 0, 0 };
    if ((code = cli_table_for_write(&r.t, db, name)) != EXIT_OK) return code;
    int rc = cairn_batch_new(&r.b, db);
    if (rc == CAIRN_OK) rc = cairn_diff(db, "WORKING", rev, name, undo_change, &r);
    if (rc == CAIRN_OK && cairn_batch_count(r.b)) rc = cairn_batch_commit(r.b);
    cairn_batch_free(r.b);
    cairn_table_close(r.t);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    fprintf(stderr, "restored %s as at %s: %" PRIu64 " key%s put back, %" PRIu64 " deleted\n",
            name, rev, r.put, cli_plural(r.put), r.deleted);
    return EXIT_OK;
}

int cmd_restore(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    code = restore_table(db, a->pos[0], a->opt[OPT_AT] ? a->opt[OPT_AT] : "HEAD");
    return cli_close(db, code);
}
