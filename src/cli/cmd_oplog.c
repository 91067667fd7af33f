/*
 * cmd_oplog.c - the working set of the checked-out branch: `cairn oplog` (what was written, in
 * which order and when: the write-ahead log, retired segments included) and `cairn checkpoint`
 * (move the writes that are only in the log into the trees now).
 *
 * oplog prints one line per operation, tab-separated, six fields each:
 *
 *   SEQ  TIME  put         TABLE       KEY          VALUE
 *   SEQ  TIME  del         TABLE       KEY          -
 *   SEQ  TIME  create      TABLE       -            -
 *   SEQ  TIME  checkpoint  through=N   before=ROOT  after=ROOT
 *   SEQ  TIME  bulk        ops=N       before=ROOT  after=ROOT
 *
 * where the operations of one batch share its SEQ and TIME, fields are escaped as diff escapes
 * them ('-' for an absent one) and ROOT is a catalog root in hex; or with --json one object a
 * line with the same facts.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jsonl.h"
#include "vers.h"
#include "when.h"

#define OPLOG_STOP 1         /* returned by the callback after a printing failure */

typedef struct oplog_ctx {
    bool json;
    vline line;
    int code;                /* a printing failure, already reported */
} oplog_ctx;

static const char *op_name(int type)
{
    switch (type) {
    case CAIRN_OP_PUT: return "put";
    case CAIRN_OP_DELETE: return "del";
    default: return "create";
    }
}

/* ---- text ---- */

static void line_head(vline *l, const cairn_oplog_record *r, const char *what)
{
    char seq[24], when[WHEN_MS_SIZE];
    snprintf(seq, sizeof seq, "%" PRIu64, r->seq);
    when_format_ms(when, r->time_ns);
    vline_reset(l);
    vline_text(l, seq);
    vline_text(l, when);
    vline_text(l, what);
}

/* "name=ROOT" */
static void root_field(vline *l, const char *name, const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE], field[16 + CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    snprintf(field, sizeof field, "%s=%s", name, hex);
    vline_text(l, field);
}

static int text_ops(vline *l, const cairn_oplog_record *r)
{
    for (size_t i = 0; i < r->nops; i++) {
        const cairn_oplog_op *op = &r->ops[i];
        if (cairn_table_internal(op->table)) continue; /* cairn's own: merge conflicts... */
        line_head(l, r, op_name(op->type));
        vline_field(l, op->table, strlen(op->table), true);
        vline_field(l, op->key, op->klen, op->type != CAIRN_OP_CREATE);
        vline_field(l, op->val, op->vlen, op->type == CAIRN_OP_PUT);
        int code = vline_emit(l, NULL);
        if (code != EXIT_OK) return code;
    }
    return EXIT_OK;
}

static int text_record(vline *l, const cairn_oplog_record *r)
{
    if (r->kind == CAIRN_OPLOG_BATCH) return text_ops(l, r);
    char count[40];
    bool ckpt = r->kind == CAIRN_OPLOG_CHECKPOINT;
    snprintf(count, sizeof count, ckpt ? "through=%" PRIu64 : "ops=%" PRIu64,
             ckpt ? r->through : r->bulk_ops);
    line_head(l, r, ckpt ? "checkpoint" : "bulk");
    vline_text(l, count);
    root_field(l, "before", &r->catalog_before);
    root_field(l, "after", &r->catalog_after);
    return vline_emit(l, NULL);
}

/* ---- JSON ---- */

static int set_hex(json_t *obj, const char *name, const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    return json_object_set_new(obj, name, json_string(hex));
}

/* An object with the members every line has: seq, time, op. */
static json_t *json_head(const cairn_oplog_record *r, const char *what)
{
    char when[WHEN_MS_SIZE];
    when_format_ms(when, r->time_ns);
    return json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)r->seq, "time", when, "op", what);
}

static int json_emit(json_t *obj, int rc)
{
    if (rc == 0 && obj) rc = jsonl_dump(stdout, obj) < 0 ? -2 : 0;
    json_decref(obj);
    if (rc == -2) return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return rc == 0 && obj ? EXIT_OK : cli_err(EXIT_FAIL, "out of memory printing JSON");
}

static int json_op(const cairn_oplog_record *r, const cairn_oplog_op *op)
{
    json_t *obj = json_head(r, op_name(op->type));
    int rc = obj ? jsonl_set_bytes(obj, "table", op->table, strlen(op->table)) : -1;
    if (rc == 0 && op->type != CAIRN_OP_CREATE) rc = jsonl_set_bytes(obj, "key", op->key, op->klen);
    if (rc == 0 && op->type == CAIRN_OP_PUT) rc = jsonl_set_bytes(obj, "value", op->val, op->vlen);
    return json_emit(obj, rc);
}

static int json_record(const cairn_oplog_record *r)
{
    int code = EXIT_OK;
    if (r->kind == CAIRN_OPLOG_BATCH) {
        for (size_t i = 0; code == EXIT_OK && i < r->nops; i++)
            if (!cairn_table_internal(r->ops[i].table)) code = json_op(r, &r->ops[i]);
        return code;
    }
    bool ckpt = r->kind == CAIRN_OPLOG_CHECKPOINT;
    json_t *obj = json_head(r, ckpt ? "checkpoint" : "bulk");
    int rc = obj ? json_object_set_new(obj, ckpt ? "through" : "ops",
                                       json_integer((json_int_t)(ckpt ? r->through : r->bulk_ops)))
                 : -1;
    if (rc == 0) rc = set_hex(obj, "catalog_before", &r->catalog_before);
    if (rc == 0) rc = set_hex(obj, "catalog_after", &r->catalog_after);
    if (rc == 0 && ckpt) rc = set_hex(obj, "root_record", &r->root_record);
    return json_emit(obj, rc);
}

static int oplog_cb(const cairn_oplog_record *r, void *payload)
{
    oplog_ctx *o = payload;
    o->code = o->json ? json_record(r) : text_record(&o->line, r);
    return o->code == EXIT_OK ? 0 : OPLOG_STOP;
}

/* ---- options ---- */

/* --since, --from, --to as cairn_oplog() takes them (0: unbounded). */
static int parse_bounds(uint64_t *since, int64_t *from, int64_t *to, const cli_args *a)
{
    int code = cli_parse_count(since, a->opt[OPT_SINCE], "--since");
    if (!a->opt[OPT_SINCE]) *since = 0;
    if (code == EXIT_OK) code = cli_parse_time(from, a->opt[OPT_FROM], "--from", 0);
    if (code == EXIT_OK) code = cli_parse_time(to, a->opt[OPT_TO], "--to", 0);
    if (code != EXIT_OK) return code;
    if (a->opt[OPT_FROM] && a->opt[OPT_TO] && *from > *to)
        return cli_err(EXIT_USAGE, "--from %s is after --to %s", a->opt[OPT_FROM], a->opt[OPT_TO]);
    if (a->opt[OPT_TO] && *to == 0) *to = -1; /* 0 would mean "no bound"; -1 keeps nothing later */
    return EXIT_OK;
}

int cmd_oplog(const cli_args *a)
{
    uint64_t since;
    int64_t from, to;
    int code = parse_bounds(&since, &from, &to, a);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, false)) != EXIT_OK) return code;
    oplog_ctx o = { a->opt[OPT_JSON] != NULL, { NULL, 0, 0, false }, EXIT_OK };
    int rc = cairn_oplog(db, since, from, to, oplog_cb, &o);
    code = rc < 0 ? cli_lib_err(rc) : o.code;
    vline_dispose(&o.line);
    return cli_close(db, code);
}

/* ---- checkpoint ---- */

static int report_checkpoint(const cairn_db_stats *before, const cairn_db_stats *after)
{
    if (after->tree_seq == before->tree_seq) {
        printf("nothing to checkpoint: the trees hold every write (tree_seq %" PRIu64 ")\n",
               after->tree_seq);
        return EXIT_OK;
    }
    uint64_t moved = before->memtable_entries > after->memtable_entries
                         ? before->memtable_entries - after->memtable_entries : 0;
    printf("checkpoint: tree_seq %" PRIu64 " -> %" PRIu64 ", %" PRIu64 " %s moved from "
           "memory into the trees\n", before->tree_seq, after->tree_seq, moved,
           moved == 1 ? "entry" : "entries");
    return EXIT_OK;
}

int cmd_checkpoint(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    cairn_db_stats before, after;
    int rc = cairn_db_stats_get(&before, db);
    if (rc == CAIRN_OK) rc = cairn_checkpoint(db);
    if (rc == CAIRN_OK) rc = cairn_db_stats_get(&after, db);
    code = rc == CAIRN_OK ? report_checkpoint(&before, &after) : cli_lib_err(rc);
    return cli_close(db, code);
}
