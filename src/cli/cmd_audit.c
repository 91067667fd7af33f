/*
 * cmd_audit.c - `cairn audit log|verify|report` (include/cairn/audit.h), and the recording of
 * reads by get, scan and count when the repository's audit.reads setting is on.
 *
 * Recording is done here, in the commands, rather than inside cairn_get and the cursors: one
 * entry is one durable write, so it belongs to the request a user made (a command, a server
 * request, a document query), not to each of the library reads that serve it. A read that
 * cannot be recorded is not shown: the command prints the error and exits with 3.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/audit.h"
#include "cli.h"
#include "when.h"
#include "jsonl.h"
#include "tsv.h"

#define AUDIT_LOCK_WAIT_MS 10000 /* how long a recording read waits for another writer */
#define AUDIT_KEY_ENV "CAIRN_AUDIT_KEY"
#define AUDIT_PASS_ENV "CAIRN_PASSPHRASE"

/* ---- recording reads ---- */

int cli_open_read(cairn_db **out, bool *out_audit, const cli_args *a)
{
    *out_audit = false;
    int code = cli_open(out, a, false);
    if (code != EXIT_OK) return code;
    int on;
    int rc = cairn_audit_enabled(&on, *out);
    if (rc != CAIRN_OK) {
        cli_lib_err(rc);
        return cli_close(*out, EXIT_FAIL);
    }
    if (!on) return EXIT_OK;
    cairn_close(*out);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.lock_timeout_ms = AUDIT_LOCK_WAIT_MS;
    rc = cairn_open(out, a->dir, &o);
    if (rc != CAIRN_OK) {
        cli_lib_err(rc);
        return cli_err(EXIT_FAIL, "this repository records reads (audit.reads): reading needs "
                                  "the writer lock to record them");
    }
    *out_audit = true;
    return EXIT_OK;
}

int cli_audit_read(cairn_db *db, bool audit, const char *op, const char *table,
                   const void *detail, size_t detail_len, uint64_t results)
{
    if (!audit) return EXIT_OK;
    cairn_signer *signer = NULL;
    const char *key = getenv(AUDIT_KEY_ENV);
    if (key && *key) {
        int rc = cairn_signer_open(&signer, NULL, key, getenv(AUDIT_PASS_ENV));
        if (rc != CAIRN_OK) {
            cli_lib_err(rc);
            return cli_err(EXIT_FAIL, "cannot sign the access log entry with key %s ($%s)", key,
                           AUDIT_KEY_ENV);
        }
    }
    cairn_audit_access acc = CAIRN_AUDIT_ACCESS_INIT;
    acc.op = op;
    acc.target = table;
    acc.detail = detail;
    acc.detail_len = detail_len;
    acc.results = results;
    acc.signer = signer;
    int rc = cairn_audit_record(NULL, db, &acc);
    cairn_signer_close(signer);
    if (rc == CAIRN_OK) return EXIT_OK;
    cli_lib_err(rc);
    return cli_err(EXIT_FAIL, "the read could not be recorded in the access log: not shown");
}

/* ---- options ---- */

static int parse_period(int64_t *from, int64_t *to, const cli_args *a)
{
    int code = cli_parse_time(from, a->opt[OPT_FROM], "--from", INT64_MIN);
    if (code == EXIT_OK) code = cli_parse_time(to, a->opt[OPT_TO], "--to", INT64_MAX);
    if (code == EXIT_OK && *from > *to)
        return cli_err(EXIT_USAGE, "--from %s is after --to %s", a->opt[OPT_FROM], a->opt[OPT_TO]);
    return code;
}

/* ---- log ---- */

typedef struct out_ctx {
    bool json;
    char *buf;
    size_t cap;
    int code;
} out_ctx;

static int json_line(out_ctx *o, json_t *obj)
{
    int r = obj ? jsonl_dump(stdout, obj) : -1;
    json_decref(obj);
    if (r == 0) return 0;
    o->code = cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return CAIRN_EUSER;
}

static json_t *entry_json(const cairn_audit_entry *e)
{
    char when[WHEN_MS_SIZE], hash[CAIRN_ID_HEX_SIZE];
    when_format_ms(when, e->time);
    cairn_id_to_hex(hash, &e->hash);
    json_t *obj = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s}", "position",
                            (json_int_t)e->position, "time", when, "time_ns", (json_int_t)e->time,
                            "who", e->who, "op", e->op, "target", e->target, "results",
                            (json_int_t)e->results, "key", e->fingerprint, "hash", hash);
    if (obj && jsonl_set_bytes(obj, "detail", e->detail, e->detail_len) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* POS TIME WHO OP TARGET RESULTS DETAIL [KEY], tab-separated, escaped as scan escapes. */
static int text_entry(out_ctx *o, const cairn_audit_entry *e)
{
    size_t need = TSV_ESCAPED_MAX(strlen(e->who)) + TSV_ESCAPED_MAX(strlen(e->target)) +
                  TSV_ESCAPED_MAX(e->detail_len) + 256;
    if (need > o->cap) {
        char *nb = realloc(o->buf, need);
        if (!nb) {
            o->code = cli_err(EXIT_FAIL, "out of memory printing an entry");
            return CAIRN_EUSER;
        }
        o->buf = nb;
        o->cap = need;
    }
    char when[WHEN_MS_SIZE];
    when_format_ms(when, e->time);
    size_t n = (size_t)snprintf(o->buf, o->cap, "%" PRIu64 "\t%s\t", e->position, when);
    n += tsv_escape(o->buf + n, e->who, strlen(e->who));
    n += (size_t)snprintf(o->buf + n, o->cap - n, "\t%s\t", e->op);
    n += tsv_escape(o->buf + n, e->target, strlen(e->target));
    n += (size_t)snprintf(o->buf + n, o->cap - n, "\t%" PRIu64 "\t", e->results);
    n += tsv_escape(o->buf + n, e->detail, e->detail_len);
    n += (size_t)snprintf(o->buf + n, o->cap - n, "%s%s\n", e->is_signed ? "\tkey:" : "",
                          e->fingerprint);
    if (cli_write(o->buf, n) == EXIT_OK) return 0;
    o->code = EXIT_FAIL;
    return CAIRN_EUSER;
}

static int log_cb(const cairn_audit_entry *e, void *payload)
{
    out_ctx *o = payload;
    return o->json ? json_line(o, entry_json(e)) : text_entry(o, e);
}

static int audit_log(cairn_db *db, const cli_args *a)
{
    cairn_audit_filter f = CAIRN_AUDIT_FILTER_INIT;
    int code = parse_period(&f.from, &f.to, a);
    if (code != EXIT_OK) return code;
    f.who = a->opt[OPT_WHO];
    out_ctx o = { a->opt[OPT_JSON] != NULL, NULL, 0, EXIT_OK };
    int rc = cairn_audit_entries(db, &f, log_cb, &o);
    free(o.buf);
    if (rc == CAIRN_EUSER) return o.code;
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* ---- verify ---- */

static int parse_expect(cairn_audit_verify_options *vo, const char *s)
{
    if (!s) return EXIT_OK;
    const char *colon = strchr(s, ':');
    char *end;
    errno = 0;
    unsigned long long pos = strtoull(s, &end, 10);
    if (!colon || end != colon || errno || pos == 0 || s[0] == '-' || s[0] == '+' ||
        strlen(colon + 1) != CAIRN_ID_HEX_SIZE - 1 ||
        cairn_id_from_hex(&vo->expect_hash, colon + 1) != CAIRN_OK)
        return cli_err(EXIT_USAGE, "--expect needs POS:HASH as 'cairn audit verify' prints it "
                                   "(a position and 64 hex digits), not '%s'", s);
    vo->expect_position = pos;
    return EXIT_OK;
}

static int audit_verify(cairn_db *db, const cli_args *a)
{
    cairn_audit_verify_options vo = CAIRN_AUDIT_VERIFY_INIT;
    int code = parse_expect(&vo, a->opt[OPT_EXPECT]);
    if (code != EXIT_OK) return code;
    cairn_audit_verify_result r;
    int rc = cairn_audit_verify(&r, db, &vo);
    if (rc != CAIRN_OK && rc != CAIRN_ECORRUPT) return cli_lib_err(rc);
    char head[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(head, &r.head_hash);
    if (a->opt[OPT_JSON]) {
        json_t *obj = json_pack("{s:b,s:I,s:I,s:I,s:I,s:s}", "intact", rc == CAIRN_OK, "entries",
                                (json_int_t)r.entries, "signed", (json_int_t)r.signed_entries,
                                "untrusted", (json_int_t)r.untrusted, "head_position",
                                (json_int_t)r.head_position, "head_hash", head);
        if (obj && rc != CAIRN_OK)
            json_object_update_new(obj, json_pack("{s:I,s:i,s:s}", "broken_position",
                                                  (json_int_t)r.broken_position, "damage",
                                                  (int)r.damage, "problem", r.what));
        out_ctx o = { true, NULL, 0, EXIT_OK };
        if (json_line(&o, obj) != 0) return o.code;
    } else if (rc == CAIRN_OK) {
        printf("access log intact: %" PRIu64 " entr%s (%" PRIu64 " signed, %" PRIu64
               " by untrusted keys)\nhead %" PRIu64 ":%s\n",
               r.entries, r.entries == 1 ? "y" : "ies", r.signed_entries, r.untrusted,
               r.head_position, head);
    } else {
        printf("broken entry %" PRIu64 ": %s\n", r.broken_position, r.what);
    }
    if (rc == CAIRN_OK) return EXIT_OK;
    return cli_err(EXIT_FAIL, "the access log is damaged at entry %" PRIu64, r.broken_position);
}

/* ---- report ---- */

static int row_cb(const cairn_audit_row *r, void *payload)
{
    out_ctx *o = payload;
    char first[WHEN_MS_SIZE], last[WHEN_MS_SIZE];
    when_format_ms(first, r->first);
    when_format_ms(last, r->last);
    const char *kind = r->kind == CAIRN_AUDIT_ROW_READ ? "read" : "change";
    if (o->json)
        return json_line(o, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s}", "kind", kind, "who",
                                      r->who, "target", r->target, "events",
                                      (json_int_t)r->events, "items", (json_int_t)r->items,
                                      "signed", (json_int_t)r->signed_events, "first", first,
                                      "last", last));
    bool rd = r->kind == CAIRN_AUDIT_ROW_READ;
    char events[16], items[16];
    snprintf(events, sizeof events, "%s%s", rd ? "read" : "commit", cli_plural(r->events));
    snprintf(items, sizeof items, "%s%s", rd ? "result" : "key", cli_plural(r->items));
    printf("%-6s  %-30s  %-20s  %8" PRIu64 " %-7s  %10" PRIu64 " %-7s  %s .. %s\n", kind,
           r->who, r->target, r->events, events, r->items, items, first, last);
    return 0;
}

static int audit_report(cairn_db *db, const cli_args *a)
{
    if (!a->opt[OPT_FROM] || !a->opt[OPT_TO])
        return cli_err(EXIT_USAGE, "audit report needs the period: --from T --to T");
    int64_t from, to;
    int code = parse_period(&from, &to, a);
    if (code != EXIT_OK) return code;
    out_ctx o = { a->opt[OPT_JSON] != NULL, NULL, 0, EXIT_OK };
    int rc = cairn_audit_report(db, from, to, row_cb, &o);
    if (rc == CAIRN_EUSER) return o.code;
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

int cmd_audit(const cli_args *a)
{
    const char *sub = a->pos[0];
    int (*run)(cairn_db *, const cli_args *) = strcmp(sub, "log") == 0      ? audit_log
                                               : strcmp(sub, "verify") == 0 ? audit_verify
                                               : strcmp(sub, "report") == 0 ? audit_report
                                                                            : NULL;
    if (!run) return cli_err(EXIT_USAGE, "audit takes log, verify or report, not '%s'", sub);
    bool period = run != audit_verify, expect = run == audit_verify;
    if ((!period && (a->opt[OPT_FROM] || a->opt[OPT_TO])) || (!expect && a->opt[OPT_EXPECT]) ||
        (run != audit_log && a->opt[OPT_WHO]))
        return cli_err(EXIT_USAGE, "audit %s does not take that option (see 'cairn help audit')",
                       sub);
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    return cli_close(db, run(db, a));
}
