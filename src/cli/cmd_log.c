/*
 * cmd_log.c - `cairn log` (a revision and its ancestors, newest first: in full, one line each,
 * or JSON lines) and `cairn show` (one commit in full, then what it changed in each table
 * against its first parent).
 *
 * The full form is git's: "commit ID", "Merge: PARENTS" for merges, Author, Committer when it
 * is someone else, Date (the author time, UTC), Signature, a blank line, the message indented
 * by four spaces.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dstat.h"
#include "jsonl.h"
#include "vers.h"

#define STOP_WALK 1          /* returned by a callback to end the walk early (not an error) */
#define SUBJECT_MAX 4096

static void print_signature(const cairn_commit_info *c)
{
    printf("Signature: %s", vers_sig_name(c->signature));
    if (c->signer[0]) printf(" (%s)", c->signer);
    putchar('\n');
}

/* The message, each line indented; trailing newlines are left out. */
static void print_message(const char *msg)
{
    size_t len = strlen(msg);
    while (len && msg[len - 1] == '\n') len--;
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(msg + i, "\n");
        if (n > len - i) n = len - i;
        if (n) printf("    %.*s\n", (int)n, msg + i);
        else putchar('\n');
        i += n + 1;
    }
}

static void print_full(const cairn_commit_info *c)
{
    char hex[CAIRN_ID_HEX_SIZE], sid[VERS_SHORT_LEN + 1], when[VERS_TIME_SIZE];
    cairn_id_to_hex(hex, &c->id);
    printf("commit %s\n", hex);
    if (c->nparents > 1) {
        fputs("Merge:", stdout);
        for (size_t i = 0; i < c->nparents; i++) {
            vers_short(sid, &c->parents[i]);
            printf(" %s", sid);
        }
        putchar('\n');
    }
    printf("Author: %s\n", c->author);
    if (strcmp(c->committer, c->author) != 0) printf("Committer: %s\n", c->committer);
    vers_time(when, c->author_time);
    printf("Date:   %s\n", when);
    print_signature(c);
    putchar('\n');
    print_message(c->message);
}

static void print_oneline(const cairn_commit_info *c)
{
    char sid[VERS_SHORT_LEN + 1], subject[SUBJECT_MAX];
    vers_short(sid, &c->id);
    vers_first_line(subject, sizeof subject, c->message);
    printf("%s %s\n", sid, subject);
}

/* obj[name] = an id in hex. */
static int set_id(json_t *obj, const char *name, const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    return json_object_set_new(obj, name, json_string(hex));
}

static int set_time(json_t *obj, const char *name, int64_t ns)
{
    char when[VERS_TIME_SIZE];
    vers_time(when, ns);
    return json_object_set_new(obj, name, json_string(when));
}

/* Fills obj with the commit's members, in the order they are documented. */
static int fill_json(json_t *obj, const cairn_commit_info *c)
{
    json_t *parents = json_array(), *sig = json_object();
    int rc = parents && sig ? set_id(obj, "id", &c->id) : -1;
    for (size_t i = 0; rc == 0 && i < c->nparents; i++) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &c->parents[i]);
        rc = json_array_append_new(parents, json_string(hex));
    }
    if (rc == 0) rc = json_object_set(obj, "parents", parents);
    if (rc == 0) rc = jsonl_set_bytes(obj, "author", c->author, strlen(c->author));
    if (rc == 0) rc = set_time(obj, "author_time", c->author_time);
    if (rc == 0) rc = jsonl_set_bytes(obj, "committer", c->committer, strlen(c->committer));
    if (rc == 0) rc = set_time(obj, "commit_time", c->commit_time);
    if (rc == 0) rc = jsonl_set_bytes(obj, "message", c->message, strlen(c->message));
    if (rc == 0) rc = json_object_set_new(sig, "status", json_string(vers_sig_name(c->signature)));
    if (rc == 0)
        rc = json_object_set_new(sig, "signer", c->signer[0] ? json_string(c->signer) : json_null());
    if (rc == 0) rc = json_object_set(obj, "signature", sig);
    json_decref(parents);
    json_decref(sig);
    return rc;
}

static int print_json(const cairn_commit_info *c)
{
    json_t *obj = json_object();
    int rc = obj ? fill_json(obj, c) : -1;
    if (rc < 0) {
        json_decref(obj);
        return cli_err(EXIT_FAIL, "out of memory printing JSON");
    }
    rc = jsonl_dump(stdout, obj);
    json_decref(obj);
    return rc < 0 ? cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno)) : EXIT_OK;
}

typedef struct log_ctx {
    bool oneline, json;
    uint64_t limit, n;
    int code;                /* a printing failure, already reported */
} log_ctx;

static int log_cb(const cairn_commit_info *c, void *payload)
{
    log_ctx *l = payload;
    if (l->n >= l->limit) return STOP_WALK;
    if (l->json) l->code = print_json(c);
    else if (l->oneline) print_oneline(c);
    else {
        if (l->n) putchar('\n');
        print_full(c);
    }
    l->n++;
    return l->code == EXIT_OK ? 0 : STOP_WALK;
}

int cmd_log(const cli_args *a)
{
    log_ctx l = { a->opt[OPT_ONELINE] != NULL, a->opt[OPT_JSON] != NULL, 0, 0, EXIT_OK };
    if (l.oneline && l.json) return cli_err(EXIT_USAGE, "log takes --oneline or --json, not both");
    int code = cli_parse_count(&l.limit, a->opt[OPT_LIMIT], "--limit");
    if (code != EXIT_OK) return code;
    cairn_db *db;
    if ((code = cli_open(&db, a, false)) != EXIT_OK) return code;
    int rc = cairn_log(db, a->npos ? a->pos[0] : "HEAD", log_cb, &l);
    if (rc < 0) code = cli_lib_err(rc);
    else code = l.code;
    return cli_close(db, code);
}

/* ---- show ---- */

typedef struct show_ctx {
    bool has_parent;
    cairn_id parent;
} show_ctx;

static int show_cb(const cairn_commit_info *c, void *payload)
{
    show_ctx *s = payload;
    print_full(c);
    s->has_parent = c->nparents > 0;
    if (s->has_parent) s->parent = c->parents[0];
    return 0;
}

/* What commit id changed against its first parent (against nothing for a first commit). */
static int show_stat(cairn_db *db, const cairn_id *id, const show_ctx *s)
{
    char hex[CAIRN_ID_HEX_SIZE], parent[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    if (s->has_parent) cairn_id_to_hex(parent, &s->parent);
    dstat st;
    int code = dstat_compute(&st, db, s->has_parent ? parent : NULL, hex, NULL);
    if (code != EXIT_OK) return code;
    bool any = false;
    for (size_t i = 0; i < st.n; i++) any |= dstat_changed(&st, i);
    if (any) putchar('\n');
    code = dstat_print(&st, false, "");
    dstat_dispose(&st);
    return code;
}

int cmd_show(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    cairn_id id;
    show_ctx s = { false, { { 0 } } };
    code = vers_resolve(&id, db, a->npos ? a->pos[0] : "HEAD");
    if (code == EXIT_OK) {
        int rc = cairn_commit_show(db, &id, show_cb, &s);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    if (code == EXIT_OK) code = show_stat(db, &id, &s);
    return cli_close(db, code);
}
