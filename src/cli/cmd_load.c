/*
 * cmd_load.c - `cairn load TABLE FILE|-`: bulk import of TSV or JSON lines as one atomic batch.
 *
 * Two phases. First the whole input is read, decoded and checked against the limits into a
 * stage (stage.h), touching nothing in the repository; the first bad line stops the load with
 * its number and the problem. Only when every line is good is the stage moved into one
 * cairn_batch, committed all-or-nothing; a missing table is created by that same commit
 * (CAIRN_TABLE_DEFER). A killed load therefore leaves the table's old root or its new one, never
 * a mix, and never a new empty table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jsonl.h"
#include "linereader.h"
#include "progress.h"
#include "stage.h"
#include "tsv.h"

/* The longest line accepted: a key and a value at their limits fit with every byte escaped
 * (4 bytes a byte in TSV, at most 6 in JSON as \u00XX); anything longer is refused before it
 * is buffered whole. */
#define LOAD_MAX_LINE (8u << 20)

typedef struct load {
    const cli_args *a;
    const char *table;
    const char *src;         /* the input, for messages */
    bool json;
    linereader lr;
    stage st;
    uint64_t puts, deletes;  /* lines of each kind (counted before the stage is drained) */
    progress pg;
    double t_start, t_parsed, t_batched, t_done;
} load;

/* Reports a bad line: "SRC: line N[, column C]: problem; nothing was loaded". */
static int line_err(load *l, size_t col, const char *msg)
{
    progress_end(&l->pg);
    if (col)
        return cli_err(EXIT_FAIL, "%s: line %" PRIu64 ", column %zu: %s; nothing was loaded",
                       l->src, l->lr.lineno, col, msg);
    return cli_err(EXIT_FAIL, "%s: line %" PRIu64 ": %s; nothing was loaded", l->src,
                   l->lr.lineno, msg);
}

static int check_and_stage(load *l, const void *k, size_t kl, const void *v, size_t vl)
{
    char msg[128];
    if (kl > cairn_key_len_max() || vl > cairn_value_len_max()) {
        bool key = kl > cairn_key_len_max();
        snprintf(msg, sizeof msg, "%s of %zu bytes is over the %zu byte limit",
                 key ? "key" : "value", key ? kl : vl,
                 key ? cairn_key_len_max() : cairn_value_len_max());
        return line_err(l, 0, msg);
    }
    if (stage_add(&l->st, k, kl, v, vl) < 0) return line_err(l, 0, "out of memory");
    if (v) l->puts++;
    else l->deletes++;
    return EXIT_OK;
}

static int parse_line(load *l, char *line, size_t len)
{
    if (lr_skip_bom(&l->lr, &line, &len)) { /* no part of the first key */
        progress_end(&l->pg);
        cli_bom_note(l->src);
    }
    if (len == 0)
        return line_err(l, 0, l->json ? "empty line (every line is one JSON object)"
                                       : "empty line (every line is KEY<TAB>VALUE)");
    if (!l->json) {
        tsv_line tl;
        tsv_error te;
        if (tsv_parse_line(&tl, line, len, &te) < 0) return line_err(l, te.offset + 1, te.msg);
        return check_and_stage(l, tl.key, tl.klen, tl.val, tl.vlen);
    }
    jsonl_entry e;
    char msg[256];
    int code = jsonl_parse(&e, line, len, msg, sizeof msg) < 0
                   ? line_err(l, 0, msg)
                   : check_and_stage(l, e.key, e.klen, e.val, e.vlen);
    jsonl_entry_dispose(&e);
    return code;
}

static int read_all(load *l)
{
    for (;;) {
        char *line;
        size_t len;
        int rc = lr_next(&l->lr, &line, &len);
        if (rc == 0) return EXIT_OK;
        if (rc < 0 && errno == EFBIG) {
            char msg[96];
            snprintf(msg, sizeof msg, "longer than %u bytes, more than any key and value take",
                     LOAD_MAX_LINE);
            return line_err(l, 0, msg);
        }
        if (rc < 0) {
            progress_end(&l->pg);
            return cli_err(EXIT_FAIL, "reading %s: %s", l->src, strerror(errno));
        }
        int code = parse_line(l, line, len);
        if (code != EXIT_OK) return code;
        progress_read(&l->pg, l->lr.consumed, l->lr.lineno);
    }
}

typedef struct batch_ctx {
    cairn_batch *b;
    cairn_table *t;
} batch_ctx;

static int add_to_batch(const void *k, size_t kl, const void *v, size_t vl, void *payload)
{
    batch_ctx *c = payload;
    return v ? cairn_batch_put(c->b, c->t, k, kl, v, vl) : cairn_batch_delete(c->b, c->t, k, kl);
}

/* Fills one batch from the stage and commits it. */
static int commit(load *l, cairn_db *db, cairn_table *t)
{
    batch_ctx c = { NULL, t };
    int rc = cairn_batch_new(&c.b, db);
    if (rc == CAIRN_OK) rc = stage_drain(&l->st, add_to_batch, &c);
    l->t_batched = cli_now();
    progress_commit(&l->pg, l->lr.lineno);
    if (rc == CAIRN_OK) rc = cairn_batch_commit(c.b);
    cairn_batch_free(c.b);
    progress_end(&l->pg);
    return rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
}

/* Commits the stage; a missing table is created by the same commit (or, for an empty input,
 * on its own: there is nothing to be atomic with). */
static int write_out(load *l, cairn_db *db)
{
    cairn_table *t;
    int code = l->st.n == 0 ? cli_table(&t, db, l->table, CAIRN_TABLE_CREATE)
                            : cli_table_for_write(&t, db, l->table);
    if (code != EXIT_OK) return code;
    code = commit(l, db, t);
    cairn_table_close(t);
    return code;
}

/* Refuses a bad table name before reading any input; a missing table is fine. */
static int check_table(cairn_db *db, const char *name)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, name, 0);
    if (rc == CAIRN_OK) cairn_table_close(t);
    if (rc == CAIRN_OK || rc == CAIRN_ENOTFOUND) return EXIT_OK;
    cli_lib_err(rc);
    return EXIT_FAIL;
}

static int run(load *l)
{
    cairn_db *db;
    int code = cli_open(&db, l->a, true);
    if (code != EXIT_OK) return code;
    code = check_table(db, l->table);
    if (code == EXIT_OK) code = read_all(l);
    l->t_parsed = cli_now();
    progress_end(&l->pg);
    if (code == EXIT_OK) code = write_out(l, db);
    stage_free(&l->st);
    code = cli_close(db, code);
    l->t_done = cli_now();
    return code;
}

static void summary(const load *l)
{
    double secs = l->t_done - l->t_start;
    uint64_t n = l->lr.lineno;
    char dels[48] = "";
    if (l->deletes)
        snprintf(dels, sizeof dels, " and %" PRIu64 " delete%s", l->deletes,
                 cli_plural(l->deletes));
    fprintf(stderr, "loaded %" PRIu64 " key%s%s into %s in %.2f s (%.0f keys/s)\n", l->puts,
            cli_plural(l->puts), dels, l->table, secs, secs > 0 ? (double)n / secs : 0.0);
    if (l->a->opt[OPT_VERBOSE])
        fprintf(stderr, "  read+parse %.2f s, fill batch %.2f s, commit %.2f s\n",
                l->t_parsed - l->t_start, l->t_batched - l->t_parsed, l->t_done - l->t_batched);
}

int cmd_load(const cli_args *a)
{
    load l;
    memset(&l, 0, sizeof l);
    l.a = a;
    l.table = a->pos[0];
    l.json = a->opt[OPT_JSON] != NULL;
    bool use_stdin = strcmp(a->pos[1], "-") == 0;
    l.src = use_stdin ? "standard input" : a->pos[1];
    int fd = use_stdin ? STDIN_FILENO : open(a->pos[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_err(EXIT_FAIL, "cannot open %s: %s", a->pos[1], strerror(errno));
    struct stat sb;
    uint64_t total = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    int code = lr_init(&l.lr, fd, LOAD_MAX_LINE) == 0 ? EXIT_OK
                                                       : cli_err(EXIT_FAIL, "out of memory");
    if (code == EXIT_OK) {
        l.t_start = cli_now();
        progress_start(&l.pg, l.table, total);
        code = run(&l);
        if (code == EXIT_OK) summary(&l);
    }
    lr_dispose(&l.lr);
    if (!use_stdin) close(fd);
    return code;
}
