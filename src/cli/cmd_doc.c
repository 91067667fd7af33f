/*
 * cmd_doc.c - `cairn doc SUBCOMMAND`: JSON document collections (include/cairn/doc.h).
 *
 * doc has options of its own (--sort repeats; --offset, --after, --project, --explain,
 * --if-version, --unique, --text, --upsert), so main() hands it the raw command line
 * (cmd_doc_main) and this file parses it: -C DIR and --at REV as everywhere, then each
 * subcommand's options, checked against its entry below. Output: one JSON document a line;
 * messages on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/doc.h"
#include "cli.h"
#include "linereader.h"
#include "progress.h"
#include "vers.h"

#define DOC_MAX_POS 64
#define DOC_MAX_SORT 8
#define DOC_MAX_PROJECT 64
#define DOC_INPUT_MAX ((size_t)16 << 20) /* one document or patch read from stdin or a file */
#define DOC_MAX_LINE ((size_t)16 << 20)  /* one line of an import */

enum doc_opt {
    D_AT = 1u << 0, D_IFV = 1u << 1, D_SORT = 1u << 2, D_LIMIT = 1u << 3, D_OFFSET = 1u << 4,
    D_AFTER = 1u << 5, D_PROJECT = 1u << 6, D_EXPLAIN = 1u << 7, D_UNIQUE = 1u << 8,
    D_TEXT = 1u << 9, D_JSON = 1u << 10, D_OUTPUT = 1u << 11, D_SIGN = 1u << 12,
    D_KEY_DIR = 1u << 13, D_PASS_FILE = 1u << 14, D_VERIFY_SIG = 1u << 15, D_FORCE = 1u << 16,
    D_REPO = 1u << 17, D_DAYS = 1u << 18,
    D_VERSIONS = 1u << 19, D_HOLD = 1u << 20,
    D_WAIT = 1u << 21,       /* every subcommand: the writer-lock timeout, as for every command */
};

#define SIGN_OPTS (D_SIGN | D_KEY_DIR | D_PASS_FILE)

typedef struct doc_args {
    cli_args base;           /* -C, --at and --wait, for cli_open() and cli_snapshot_at() */
    const char *pos[DOC_MAX_POS];
    int npos;
    unsigned given;          /* enum doc_opt bits */
    const char *if_version, *limit, *offset, *after, *project, *output;
    const char *sign, *key_dir, *pass_file;
    const char *days, *versions, *hold; /* doc retention */
    const char *sort[DOC_MAX_SORT];
    size_t nsort;
    bool help;
} doc_args;

typedef struct doc_cmd {
    const char *name;
    int (*run)(const doc_args *d);
    int min_pos, max_pos;    /* after the subcommand name */
    unsigned opts;
    const char *synopsis;
} doc_cmd;

/* ---- shared steps ---- */

static int open_coll(cairn_db **db, cairn_coll **c, const doc_args *d, bool write, bool create)
{
    *c = NULL;
    int code = cli_open(db, &d->base, write);
    if (code != EXIT_OK) return code;
    unsigned flags = (create ? CAIRN_COLL_CREATE : 0) |
                     ((d->given & D_VERIFY_SIG) ? CAIRN_COLL_VERIFY_SIG : 0);
    int rc = cairn_coll_open(c, *db, d->pos[0], flags);
    if (rc != CAIRN_OK) return cli_close(*db, cli_lib_err(rc));
    return EXIT_OK;
}

static int done(cairn_db *db, cairn_coll *c, int code)
{
    cairn_coll_close(c);
    return cli_close(db, code);
}

static int print_line(const char *s, size_t n)
{
    int code = cli_write(s, n);
    return code == EXIT_OK ? cli_write("\n", 1) : code;
}

/* The options of a write; with --sign, o->signer is the key loaded (the caller closes it with
 * cairn_signer_close(), also on failure). The key is loaded before the repository is opened,
 * as commit --sign does, so no lock is held while a passphrase is typed. */
static int write_opts(cairn_doc_write_options *o, const doc_args *d)
{
    cairn_doc_write_options def = CAIRN_DOC_WRITE_OPTIONS_INIT;
    *o = def;
    if (!d->sign && (d->key_dir || d->pass_file))
        return cli_err(EXIT_USAGE, "%s is for signing: give it with --sign NAME",
                       d->key_dir ? "--key-dir" : "--passphrase-file");
    if (d->if_version) {
        uint64_t v;
        int code = cli_parse_count(&v, d->if_version, "--if-version");
        if (code != EXIT_OK) return code;
        o->if_version = (int64_t)v;
    }
    return d->sign ? cli_signer_load(&o->signer, d->key_dir, d->sign, d->pass_file) : EXIT_OK;
}

/* The JSON argument: itself, or standard input for "-". */
static int json_arg(char **out, size_t *len, const char *arg, const char *what)
{
    if (strcmp(arg, "-") == 0) return cli_read_file(out, len, "-", DOC_INPUT_MAX, what);
    *out = strdup(arg);
    if (!*out) return cli_err(EXIT_FAIL, "out of memory");
    *len = strlen(arg);
    return EXIT_OK;
}

/* ---- writes ---- */

typedef int (*write_fn)(char **, cairn_coll *, const char *, size_t,
                        const cairn_doc_write_options *);

/* insert, upsert, replace (fn) and patch (fn NULL: COLL ID PATCH): print the stored document. */
static int write_cmd(const doc_args *d, write_fn fn, bool create)
{
    cairn_doc_write_options o;
    int code = write_opts(&o, d);
    char *json = NULL;
    size_t len = 0;
    if (code == EXIT_OK) code = json_arg(&json, &len, d->pos[fn ? 1 : 2], fn ? "document" : "patch");
    if (code != EXIT_OK) {
        cairn_signer_close(o.signer);
        return code;
    }
    cairn_db *db;
    cairn_coll *c;
    code = open_coll(&db, &c, d, true, create);
    if (code == EXIT_OK) {
        char *doc = NULL;
        int rc = fn ? fn(&doc, c, json, len, &o) : cairn_doc_patch(&doc, c, d->pos[1], json, len, &o);
        code = rc == CAIRN_OK ? print_line(doc, strlen(doc)) : cli_lib_err(rc);
        cairn_free(doc);
        code = done(db, c, code);
    }
    cairn_signer_close(o.signer);
    free(json);
    return code;
}

static int doc_insert(const doc_args *d) { return write_cmd(d, cairn_doc_insert, true); }
static int doc_upsert(const doc_args *d) { return write_cmd(d, cairn_doc_upsert, true); }
static int doc_replace(const doc_args *d) { return write_cmd(d, cairn_doc_replace, false); }
static int doc_patch(const doc_args *d) { return write_cmd(d, NULL, false); }

static int doc_delete(const doc_args *d)
{
    cairn_doc_write_options o;
    int code = write_opts(&o, d);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    cairn_coll *c;
    code = open_coll(&db, &c, d, true, false);
    if (code != EXIT_OK) return code;
    int rc = cairn_doc_delete(c, d->pos[1], &o);
    return done(db, c, rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc));
}

/* The line numbers of the documents of an import that the bulk may still report a failure
 * for: a document's failure comes at most CAIRN_DOC_BULK_AHEAD documents after it. */
#define IMPORT_LINES_KEPT (CAIRN_DOC_BULK_AHEAD + 1)

/* Says which line of src the bulk's failure rc (of an add or the commit) is about. */
static int import_refused(cairn_doc_bulk *b, int rc, const char *src, const uint64_t *lines)
{
    const char *text;
    size_t len;
    size_t pos = cairn_doc_bulk_failed(b, &text, &len);
    if (!pos) return cli_lib_err(rc);
    unsigned long long lineno = lines[pos % IMPORT_LINES_KEPT];
    if (text) { /* malformed: say where in the file (parsed again on this path only) */
        json_error_t e;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        json_decref(j);
        if (!j)
            return cli_err(EXIT_FAIL, "%s: line %llu, column %d: malformed JSON: %s; nothing was "
                           "imported", src, lineno, e.column, e.text);
    }
    cli_lib_err(rc);
    return cli_err(EXIT_FAIL, "%s: line %llu refused; nothing was imported", src, lineno);
}

/* Reads FILE.jsonl (or stdin): one document a line, all in one atomic bulk insert. */
static int import_lines(cairn_doc_bulk *b, linereader *lr, const char *src, progress *pg)
{
    uint64_t lines[IMPORT_LINES_KEPT]; /* by the document's position, modulo its size */
    char *line;
    size_t len;
    int got;
    while ((got = lr_next(lr, &line, &len)) == 1) {
        progress_read(pg, lr->consumed, lr->lineno);
        if (lr_skip_bom(lr, &line, &len)) {
            progress_end(pg);
            cli_bom_note(src);
        }
        size_t skip = 0;
        while (skip < len && (line[skip] == ' ' || line[skip] == '\t' || line[skip] == '\r')) skip++;
        if (skip == len) continue; /* blank lines are allowed */
        lines[(cairn_doc_bulk_count(b) + 1) % IMPORT_LINES_KEPT] = lr->lineno;
        int rc = cairn_doc_bulk_add(b, line, len);
        if (rc != CAIRN_OK) return import_refused(b, rc, src, lines);
    }
    if (got < 0)
        return cli_err(EXIT_FAIL, "%s: line %llu: %s", src, (unsigned long long)lr->lineno + 1,
                       errno == EFBIG ? "line too long" : strerror(errno));
    progress_commit(pg, cairn_doc_bulk_count(b));
    int rc = cairn_doc_bulk_commit(b);
    return rc == CAIRN_OK ? EXIT_OK : import_refused(b, rc, src, lines);
}

/* Opens the collection for a read at --at. *audit: the repository records reads (audit.reads),
 * and the handle is then a writer's (cli_open_read), so that the read is recorded, before
 * anything is printed, with the count of what is then printed. audit NULL: a read that shows
 * no document (index list, check), opened read-only and not recorded. */
static int open_read(cairn_db **db, cairn_coll **c, cairn_snapshot **snap, bool *audit,
                     const doc_args *d)
{
    *snap = NULL;
    *c = NULL;
    int code = audit ? cli_open_read(db, audit, &d->base) : cli_open(db, &d->base, false);
    if (code != EXIT_OK) return code;
    int rc = cairn_coll_open(c, *db, d->pos[0],
                             (d->given & D_VERIFY_SIG) ? CAIRN_COLL_VERIFY_SIG : 0);
    if (rc != CAIRN_OK) return cli_close(*db, cli_lib_err(rc));
    code = cli_snapshot_at(snap, *db, &d->base);
    if (code != EXIT_OK) return done(*db, *c, code);
    int64_t when;
    rc = *snap ? cairn_doc_pruned_at(&when, *c, *snap) : CAIRN_ENOTFOUND;
    if (rc != CAIRN_ENOTFOUND) { /* retention let this version go: say so, not "missing" */
        char at[VERS_TIME_SIZE];
        vers_time(at, when);
        code = rc < 0 ? cli_lib_err(rc)
                      : cli_err(EXIT_NOTFOUND, "collection %s at %s was removed by retention on %s "
                                "(the commit is kept, its documents are not); 'cairn doc "
                                "history %s ID' lists the versions kept", d->pos[0],
                                d->base.opt[OPT_AT], at, d->pos[0]);
        cairn_snapshot_close(*snap);
        *snap = NULL;
        return done(*db, *c, code);
    }
    return EXIT_OK;
}

/* Records a document read in the access log (when the repository records reads). */
static int record_doc(cairn_db *db, bool audit, const char *op, const doc_args *d,
                      const char *detail, uint64_t results)
{
    return cli_audit_read(db, audit, op, d->pos[0], detail, detail ? strlen(detail) : 0,
                          results);
}

static int read_done(cairn_db *db, cairn_coll *c, cairn_snapshot *snap, int code)
{
    cairn_snapshot_close(snap);
    return done(db, c, code);
}

/* ---- a collection as a directory of plain files: ID.json per document, and the manifest ---- */

#define MANIFEST CAIRN_DOC_MANIFEST_FILE
#define MANIFEST_OLD CAIRN_DOC_MANIFEST_FILE_OLD /* older exports: then no document's file */
#define MANIFEST_MAX ((size_t)1 << 30) /* a manifest read back: ~100 bytes per document */
#define MANIFEST_PREFIX "manifest: "    /* how the library's messages about it begin */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The name of dir's manifest: MANIFEST, or MANIFEST_OLD in an export written before MANIFEST
 * was (the name a document with id "manifest" now takes), or MANIFEST when neither is there. */
static const char *manifest_name(const char *dir)
{
    char *path = malloc(strlen(dir) + sizeof MANIFEST_OLD + 2);
    if (!path) return MANIFEST; /* reading it then fails and says so */
    struct stat sb;
    sprintf(path, "%s/%s", dir, MANIFEST);
    bool current = stat(path, &sb) == 0;
    sprintf(path, "%s/%s", dir, MANIFEST_OLD);
    bool old = !current && stat(path, &sb) == 0;
    free(path);
    return old ? MANIFEST_OLD : MANIFEST;
}

/* The ID.json files of dir as ids (the names without ".json"), in increasing byte order: the
 * order of the collection's keys (caller frees each and the array). An old export's
 * manifest.json is not one of them. */
static int list_json_ids(char ***out, size_t *n, const char *dir)
{
    bool old_layout = strcmp(manifest_name(dir), MANIFEST_OLD) == 0;
    *out = NULL;
    *n = 0;
    DIR *dh = opendir(dir);
    if (!dh) return cli_err(EXIT_FAIL, "cannot open directory %s: %s", dir, strerror(errno));
    size_t cap = 0;
    int code = EXIT_OK;
    struct dirent *e;
    while (code == EXIT_OK && (e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 ||
            (old_layout && strcmp(e->d_name, MANIFEST_OLD) == 0))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*out, cap * sizeof *grown);
            if (!grown) code = cli_err(EXIT_FAIL, "out of memory");
            else *out = grown;
        }
        if (code == EXIT_OK && !((*out)[*n] = strndup(e->d_name, len - 5)))
            code = cli_err(EXIT_FAIL, "out of memory");
        if (code == EXIT_OK) (*n)++;
    }
    closedir(dh);
    if (code == EXIT_OK && *n > 1) qsort(*out, *n, sizeof **out, name_cmp);
    return code;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* DIR/ID.json's contents (caller frees). */
static int read_doc_file(char **text, size_t *len, const char *dir, const char *id)
{
    char *path = malloc(strlen(dir) + strlen(id) + 7);
    if (!path) return cli_err(EXIT_FAIL, "out of memory");
    sprintf(path, "%s/%s.json", dir, id);
    int code = cli_read_file(text, len, path, DOC_INPUT_MAX, "document");
    free(path);
    return code;
}

/* Inserts every ID.json file of dir in one bulk and commits it. */
static int import_dir(cairn_doc_bulk *b, const char *dir)
{
    char **ids;
    size_t n;
    int code = list_json_ids(&ids, &n, dir);
    int rc = CAIRN_OK;
    for (size_t i = 0; code == EXIT_OK && rc == CAIRN_OK && i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        code = read_doc_file(&text, &len, dir, ids[i]);
        if (code == EXIT_OK) rc = cairn_doc_bulk_add(b, text, len); /* the i+1-th document */
        free(text);
    }
    if (code == EXIT_OK && rc == CAIRN_OK) rc = cairn_doc_bulk_commit(b);
    if (code == EXIT_OK && rc != CAIRN_OK) {
        size_t pos = cairn_doc_bulk_failed(b, NULL, NULL); /* may be an earlier document's */
        code = cli_lib_err(rc);
        if (pos && pos <= n)
            code = cli_err(EXIT_FAIL, "%s/%s.json refused; nothing was imported", dir,
                           ids[pos - 1]);
    }
    free_list(ids, n);
    return code;
}

typedef struct export_ctx {
    const char *dir;
    cairn_doc_manifest *m;
    uint64_t n;
    int code;
} export_ctx;

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wx");
    if (!f) return cli_err(EXIT_FAIL, "cannot create %s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? EXIT_OK : cli_err(EXIT_FAIL, "cannot write %s: %s", path, strerror(errno));
}

/* One document as DIR/ID.json, pretty-printed (importing it canonicalises it again), and its
 * hash in the manifest. */
static int export_one(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    export_ctx *x = p;
    json_error_t e;
    json_t *j = json_loadb(doc, len, 0, &e);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    char *text = pretty ? malloc(strlen(pretty) + 2) : NULL;
    char *path = malloc(strlen(x->dir) + strlen(id) + 8);
    if (!text || !path) x->code = cli_err(EXIT_FAIL, "document %s: cannot print it", id);
    if (x->code == EXIT_OK) {
        sprintf(text, "%s\n", pretty);
        sprintf(path, "%s/%s.json", x->dir, id);
        x->code = write_file(path, text);
    }
    if (x->code == EXIT_OK) {
        int rc = cairn_doc_manifest_add(x->m, id, doc, len);
        if (rc != CAIRN_OK) x->code = cli_lib_err(rc);
    }
    free(path);
    free(text);
    free(pretty);
    json_decref(j);
    x->n++;
    return x->code == EXIT_OK ? 0 : 1;
}

static int write_manifest(const char *dir, const cairn_doc_manifest *m)
{
    char *text = NULL;
    int rc = cairn_doc_manifest_text(&text, m);
    char *path = malloc(strlen(dir) + sizeof MANIFEST + 2);
    int code = rc != CAIRN_OK ? cli_lib_err(rc) : path ? EXIT_OK : cli_err(EXIT_FAIL, "out of memory");
    if (code == EXIT_OK) {
        sprintf(path, "%s/%s", dir, MANIFEST);
        code = write_file(path, text);
    }
    free(path);
    cairn_free(text);
    return code;
}

static int doc_export(const doc_args *d)
{
    const char *dir = d->pos[1];
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    bool audit;
    int code = open_read(&db, &c, &snap, &audit, d);
    if (code != EXIT_OK) return code;
    cairn_id root, commit;
    if (snap) cairn_snapshot_commit(&commit, snap);
    export_ctx x = { dir, NULL, 0, EXIT_OK };
    /* the root, the count and the documents of one state, also when a write goes on */
    cairn_snapshot *now = NULL;
    int rc = snap ? CAIRN_OK : cairn_snapshot_open(&now, db);
    const cairn_snapshot *view = snap ? snap : now;
    if (rc == CAIRN_OK) rc = cairn_coll_root(&root, c, view);
    if (rc == CAIRN_OK) rc = cairn_doc_manifest_new(&x.m, d->pos[0], &root, snap ? &commit : NULL);
    if (rc != CAIRN_OK) code = cli_lib_err(rc);
    if (code == EXIT_OK && audit) { /* every document is read: recorded with their count */
        uint64_t n = 0;
        rc = cairn_doc_count(&n, c, view, NULL);
        code = rc < 0 ? cli_lib_err(rc) : record_doc(db, audit, "doc.export", d, dir, n);
    }
    if (code == EXIT_OK && mkdir(dir, 0777) != 0)
        code = cli_err(EXIT_FAIL, "cannot create directory %s: %s (export into a new directory)",
                       dir, strerror(errno));
    if (code == EXIT_OK) {
        cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
        rc = cairn_doc_find(NULL, c, view, &q, export_one, &x);
        code = rc < 0 ? cli_lib_err(rc) : x.code;
    }
    if (code == EXIT_OK) code = write_manifest(dir, x.m);
    if (code == EXIT_OK) fprintf(stderr, "exported %llu document%s of %s to %s\n",
                                 (unsigned long long)x.n, cli_plural(x.n), d->pos[0], dir);
    cairn_doc_manifest_free(x.m);
    cairn_snapshot_close(now);
    return read_done(db, c, snap, code);
}

/* ---- checking an export against its manifest ---- */

typedef struct vx_ctx {
    const char *dir;
    bool quiet;              /* import: print the problems as warnings */
} vx_ctx;

static int print_export_problem(const cairn_doc_export_problem *p, void *payload)
{
    vx_ctx *v = payload;
    FILE *f = v->quiet ? stderr : stdout;
    fprintf(f, "%s%s%s%s\n", v->quiet ? "cairn: " : "problem: ", p->id ? v->dir : "",
            p->id ? "/" : "", p->message);
    return 0;
}

/* Compares the manifest's root with the collection's at the commit it names, in the repository
 * d names (-C or --repo). @return the problems found (0 or 1), or -1 after printing an error. */
static int export_against_repo(const doc_args *d, const cairn_doc_export_result *r, bool quiet)
{
    if (!r->has_commit) {
        if (!quiet)
            printf("note: the manifest names no commit (exported from a working state): its root "
                   "is not compared with the repository\n");
        return 0;
    }
    char hex[CAIRN_ID_HEX_SIZE], have[CAIRN_ID_HEX_SIZE], want[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, &r->commit);
    cairn_id_to_hex(want, &r->manifest_root);
    cairn_db *db;
    if (cli_open(&db, &d->base, false) != EXIT_OK) return -1;
    cairn_snapshot *snap = NULL;
    cairn_coll *c = NULL;
    cairn_id root;
    int rc = cairn_snapshot_open_at(&snap, db, hex);
    if (rc == CAIRN_OK) rc = cairn_coll_open(&c, db, r->collection, 0);
    if (rc == CAIRN_OK) rc = cairn_coll_root(&root, c, snap);
    int found = 0;
    if (rc == CAIRN_ENOTFOUND) {
        printf("problem: the repository has no collection %s at commit %.12s (%s)\n",
               r->collection, hex, cairn_error_last()->message);
        found = 1;
    } else if (rc != CAIRN_OK) {
        cli_lib_err(rc);
        found = -1;
    } else if (memcmp(&root, &r->manifest_root, sizeof root) != 0) {
        cairn_id_to_hex(have, &root);
        printf("problem: the manifest's root %.12s... is not collection %s's root at commit "
               "%.12s (%.12s...)\n", want, r->collection, hex, have);
        found = 1;
    } else if (!quiet) {
        printf("ok: the root is collection %s's at commit %.12s in the repository\n",
               r->collection, hex);
    }
    cairn_coll_close(c);
    cairn_snapshot_close(snap);
    cli_close(db, EXIT_OK);
    return found;
}

/* Checks the export in dir against its manifest. *problems: how many (0: sound). quiet: the
 * problems as warnings on stderr and no summary (import); else the problems and notes, and a
 * summary line when sound, on stdout. @return EXIT_OK when the check ran. */
static int check_export(uint64_t *problems, const doc_args *d, const char *dir, bool quiet)
{
    cairn_doc_export_result r;
    *problems = 0;
    const char *mname = manifest_name(dir);
    char *mpath = malloc(strlen(dir) + strlen(mname) + 2), *mtext = NULL;
    if (!mpath) return cli_err(EXIT_FAIL, "out of memory");
    sprintf(mpath, "%s/%s", dir, mname);
    size_t mlen = 0;
    int code = cli_read_file(&mtext, &mlen, mpath, MANIFEST_MAX, "manifest");
    vx_ctx v = { dir, quiet };
    cairn_doc_export_check *x = NULL;
    int rc = code == EXIT_OK ? cairn_doc_export_check_new(&x, mtext, mlen, print_export_problem, &v)
                             : CAIRN_OK;
    if (code == EXIT_OK && rc == CAIRN_ECORRUPT) {
        const char *why = cairn_error_last()->message;
        if (strncmp(why, MANIFEST_PREFIX, strlen(MANIFEST_PREFIX)) == 0) why += strlen(MANIFEST_PREFIX);
        code = cli_err(EXIT_FAIL, "%s is damaged: %s", mpath, why);
    }
    else if (code == EXIT_OK && rc != CAIRN_OK)
        code = cli_lib_err(rc);
    free(mpath);
    free(mtext);
    char **ids = NULL;
    size_t n = 0;
    if (code == EXIT_OK) code = list_json_ids(&ids, &n, dir);
    for (size_t i = 0; code == EXIT_OK && i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        code = read_doc_file(&text, &len, dir, ids[i]);
        if (code == EXIT_OK && (rc = cairn_doc_export_check_add(x, ids[i], text, len)) < 0)
            code = cli_lib_err(rc);
        free(text);
    }
    free_list(ids, n);
    if (code == EXIT_OK && (rc = cairn_doc_export_check_finish(&r, x)) < 0) code = cli_lib_err(rc);
    if (code == EXIT_OK) *problems = r.problems;
    if (code == EXIT_OK && !r.per_document && !quiet)
        printf("note: manifest format %d has no per-document hashes: the files were checked "
               "together (by the root), not one by one; export again to check each file\n",
               r.format);
    if (code == EXIT_OK && (d->base.dir_given || (d->given & D_REPO))) {
        int found = export_against_repo(d, &r, quiet);
        if (found < 0) code = EXIT_FAIL;
        else *problems += (uint64_t)found;
    }
    if (code == EXIT_OK && !*problems && !quiet) {
        char root[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(root, &r.root);
        printf("ok: %llu document%s of %s match%s %s (root %.12s...)\n",
               (unsigned long long)r.documents, cli_plural(r.documents), r.collection,
               r.documents == 1 ? "es" : "", mname, root);
    }
    cairn_doc_export_check_free(x);
    return code;
}

static int doc_verify_export(const doc_args *d)
{
    uint64_t problems;
    int code = check_export(&problems, d, d->pos[0], false);
    if (code == EXIT_OK && problems)
        code = cli_err(EXIT_FAIL, "%s: %llu problem%s: not the export its manifest describes",
                       d->pos[0], (unsigned long long)problems, cli_plural(problems));
    return code;
}

static void import_report(size_t n, const char *coll)
{
    fprintf(stderr, "imported %zu document%s into %s\n", n, cli_plural(n), coll);
}

static int doc_import_dir(const doc_args *d, const cairn_doc_write_options *o)
{
    uint64_t problems;
    int code = check_export(&problems, d, d->pos[1], true);
    if (code == EXIT_OK && problems && !(d->given & D_FORCE))
        return cli_err(EXIT_FAIL, "%s does not match its manifest (%llu problem%s, above): "
                       "nothing was imported; --force imports it as it is", d->pos[1],
                       (unsigned long long)problems, cli_plural(problems));
    if (code != EXIT_OK && !(d->given & D_FORCE)) /* no manifest, or a damaged one */
        return cli_err(EXIT_FAIL, "%s cannot be checked as an export: nothing was imported; "
                       "--force imports its ID.json files as they are", d->pos[1]);
    if (code != EXIT_OK || problems)
        fprintf(stderr, "cairn: --force: importing %s although it was not checked sound\n",
                d->pos[1]);
    cairn_db *db;
    cairn_coll *c;
    code = open_coll(&db, &c, d, true, true);
    if (code != EXIT_OK) return code;
    cairn_doc_bulk *b = NULL;
    int rc = cairn_doc_bulk_new(&b, c, o);
    code = rc == CAIRN_OK ? import_dir(b, d->pos[1]) : cli_lib_err(rc); /* and commits */
    size_t n = cairn_doc_bulk_count(b);
    cairn_doc_bulk_free(b);
    code = done(db, c, code);
    if (code == EXIT_OK) import_report(n, d->pos[0]);
    return code;
}

static int doc_import_file(const doc_args *d, const cairn_doc_write_options *o)
{
    bool use_stdin = strcmp(d->pos[1], "-") == 0;
    const char *src = use_stdin ? "standard input" : d->pos[1];
    int fd = use_stdin ? STDIN_FILENO : open(d->pos[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_err(EXIT_FAIL, "cannot open %s: %s", d->pos[1], strerror(errno));
    struct stat sb;
    uint64_t total = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    linereader lr;
    if (lr_init(&lr, fd, DOC_MAX_LINE) != 0) {
        if (!use_stdin) close(fd);
        return cli_err(EXIT_FAIL, "out of memory");
    }
    cairn_db *db;
    cairn_coll *c;
    int code = open_coll(&db, &c, d, true, true);
    if (code == EXIT_OK) {
        cairn_doc_bulk *b = NULL;
        int rc = cairn_doc_bulk_new(&b, c, o);
        code = rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc);
        progress pg;
        progress_start(&pg, d->pos[0], total);
        if (code == EXIT_OK) code = import_lines(b, &lr, src, &pg); /* and commits */
        progress_end(&pg);
        size_t n = cairn_doc_bulk_count(b);
        cairn_doc_bulk_free(b);
        code = done(db, c, code);
        if (code == EXIT_OK) import_report(n, d->pos[0]);
    }
    lr_dispose(&lr);
    if (!use_stdin) close(fd);
    return code;
}

static int doc_import(const doc_args *d)
{
    struct stat ds;
    bool is_dir = strcmp(d->pos[1], "-") != 0 && stat(d->pos[1], &ds) == 0 && S_ISDIR(ds.st_mode);
    if ((d->given & D_FORCE) && !is_dir)
        return cli_err(EXIT_USAGE, "--force is for importing an export directory");
    cairn_doc_write_options o;
    int code = write_opts(&o, d);
    if (code == EXIT_OK) code = is_dir ? doc_import_dir(d, &o) : doc_import_file(d, &o);
    cairn_signer_close(o.signer);
    return code;
}

/* ---- reads ---- */

typedef struct get_ctx {
    int code;
} get_ctx;

static int print_got(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    get_ctx *g = p;
    if (!doc) {
        cli_err(EXIT_NOTFOUND, "no document %s", id);
        if (g->code == EXIT_OK) g->code = EXIT_NOTFOUND;
        return 0;
    }
    int code = print_line(doc, len);
    if (code != EXIT_OK) g->code = code;
    return code == EXIT_OK ? 0 : 1;
}

static int count_got(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (void)id, (void)len, (void)cursor;
    if (doc) ++*(uint64_t *)p;
    return 0;
}

/* Records a get of the ids given (comma-separated in the entry) and how many exist. */
static int record_get(cairn_db *db, bool audit, cairn_coll *c, cairn_snapshot *snap,
                      const doc_args *d)
{
    if (!audit) return EXIT_OK;
    uint64_t found = 0;
    int rc = cairn_doc_get_many(c, snap, d->pos + 1, (size_t)d->npos - 1, count_got, &found);
    if (rc < 0) return cli_lib_err(rc);
    size_t n = 1;
    for (int i = 1; i < d->npos; i++) n += strlen(d->pos[i]) + 1;
    char *ids = malloc(n);
    if (!ids) return cli_err(EXIT_FAIL, "out of memory");
    ids[0] = '\0';
    for (int i = 1; i < d->npos; i++) {
        if (i > 1) strcat(ids, ",");
        strcat(ids, d->pos[i]);
    }
    int code = record_doc(db, audit, "doc.get", d, ids, found);
    free(ids);
    return code;
}

static int doc_get(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    bool audit;
    int code = open_read(&db, &c, &snap, &audit, d);
    if (code != EXIT_OK) return code;
    code = record_get(db, audit, c, snap, d);
    if (code != EXIT_OK) return read_done(db, c, snap, code);
    get_ctx g = { EXIT_OK };
    int rc = cairn_doc_get_many(c, snap, d->pos + 1, (size_t)d->npos - 1, print_got, &g);
    if (rc < 0) code = cli_lib_err(rc);
    else code = g.code;
    return read_done(db, c, snap, code);
}

typedef struct find_ctx {
    uint64_t n;
    char *cursor;            /* of the last result */
    bool quiet;              /* --explain: count, print nothing */
    int code;
} find_ctx;

static int print_found(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    find_ctx *f = p;
    f->n++;
    if (f->quiet) return 0;
    free(f->cursor);
    f->cursor = strdup(cursor);
    f->code = print_line(doc, len);
    return f->code == EXIT_OK ? 0 : 1;
}

static int split_project(const char **out, size_t *n, char *list)
{
    *n = 0;
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ",")) {
        if (*n == DOC_MAX_PROJECT)
            return cli_err(EXIT_USAGE, "--project: at most %d fields", DOC_MAX_PROJECT);
        out[(*n)++] = s;
    }
    return EXIT_OK;
}

static int print_plan(const cairn_doc_plan *p)
{
    printf("{\"plan\":\"%s\",\"index\":\"%s\",\"sort\":\"%s\",\"keys_examined\":%llu,"
           "\"docs_examined\":%llu,\"returned\":%llu}\n",
           p->how, p->index, p->sorted_by_index ? "index" : p->sorted_in_memory ? "memory" : "none",
           (unsigned long long)p->keys_examined, (unsigned long long)p->docs_examined,
           (unsigned long long)p->returned);
    return EXIT_OK;
}

static int doc_find(const doc_args *d)
{
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = d->npos > 1 ? d->pos[1] : NULL;
    q.sort = d->sort;
    q.nsort = d->nsort;
    q.after = d->after;
    uint64_t limit = 0, offset = 0;
    int code = d->limit ? cli_parse_count(&limit, d->limit, "--limit") : EXIT_OK;
    if (code == EXIT_OK && d->offset) code = cli_parse_count(&offset, d->offset, "--offset");
    q.limit = limit;
    q.offset = offset;
    const char *proj[DOC_MAX_PROJECT];
    char *plist = d->project ? strdup(d->project) : NULL;
    if (code == EXIT_OK && plist) code = split_project(proj, &q.nproject, plist);
    q.project = proj;
    if (code != EXIT_OK) {
        free(plist);
        return code;
    }
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    bool audit;
    code = open_read(&db, &c, &snap, &audit, d);
    if (code == EXIT_OK && audit) {
        /* recorded before anything is printed, with what the query returns: a first pass
         * that only counts (the snapshot is fixed, so the second returns the same) */
        find_ctx f = { 0, NULL, true, EXIT_OK };
        cairn_doc_plan plan;
        int rc = cairn_doc_find(&plan, c, snap, &q, print_found, &f);
        code = rc < 0 ? cli_lib_err(rc)
                      : record_doc(db, audit, "doc.find", d, q.filter ? q.filter : "{}", f.n);
        if (code != EXIT_OK) code = read_done(db, c, snap, code);
    }
    if (code == EXIT_OK) {
        find_ctx f = { 0, NULL, (d->given & D_EXPLAIN) != 0, EXIT_OK };
        cairn_doc_plan plan;
        int rc = cairn_doc_find(&plan, c, snap, &q, print_found, &f);
        code = rc < 0 ? cli_lib_err(rc) : f.code;
        if (code == EXIT_OK && f.quiet) code = print_plan(&plan);
        if (code == EXIT_OK && !f.quiet && limit && f.n == limit && f.cursor)
            fprintf(stderr, "cairn: more may follow: --after %s\n", f.cursor);
        free(f.cursor);
        code = read_done(db, c, snap, code);
    }
    free(plist);
    return code;
}

static int doc_count(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    bool audit;
    int code = open_read(&db, &c, &snap, &audit, d);
    if (code != EXIT_OK) return code;
    uint64_t n = 0;
    const char *filter = d->npos > 1 ? d->pos[1] : NULL;
    int rc = cairn_doc_count(&n, c, snap, filter);
    if (rc < 0) code = cli_lib_err(rc);
    else code = record_doc(db, audit, "doc.count", d, filter ? filter : "{}", n);
    if (code == EXIT_OK) printf("%llu\n", (unsigned long long)n);
    return read_done(db, c, snap, code);
}

static int print_name(const char *name, void *payload)
{
    printf("%s\n", name);
    return 0;
}

static int doc_list(const doc_args *d)
{
    cairn_db *db;
    int code = cli_open(&db, &d->base, false);
    if (code != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    code = cli_snapshot_at(&snap, db, &d->base);
    if (code == EXIT_OK) {
        int rc = cairn_coll_list(db, snap, print_name, NULL);
        if (rc < 0) code = cli_lib_err(rc);
    }
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}

static int doc_check(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    int code = open_read(&db, &c, &snap, NULL, d);
    if (code != EXIT_OK) return code;
    cairn_doc_check_stats st;
    int rc = cairn_doc_check(&st, c, snap);
    if (rc < 0) code = cli_lib_err(rc);
    else printf("ok: %llu document%s, %llu index entr%s\n", (unsigned long long)st.documents,
                cli_plural(st.documents), (unsigned long long)st.entries,
                st.entries == 1 ? "y" : "ies");
    return read_done(db, c, snap, code);
}

static int doc_repack(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    int code = open_coll(&db, &c, d, true, false);
    if (code != EXIT_OK) return code;
    uint64_t n = 0;
    int rc = cairn_doc_repack(&n, c);
    if (rc < 0) code = cli_lib_err(rc);
    else printf("repacked %llu document%s\n", (unsigned long long)n, cli_plural(n));
    return done(db, c, code);
}

/* ---- indexes ---- */

static int doc_index_create(const doc_args *d)
{
    const char *fields[CAIRN_DOC_INDEX_FIELDS_MAX + 1];
    size_t n = 0;
    char *list = strdup(d->pos[1]);
    if (!list) return cli_err(EXIT_FAIL, "out of memory");
    for (char *s = strtok(list, ","); s && n <= CAIRN_DOC_INDEX_FIELDS_MAX; s = strtok(NULL, ","))
        fields[n++] = s;
    unsigned flags = ((d->given & D_UNIQUE) ? CAIRN_INDEX_UNIQUE : 0) |
                     ((d->given & D_TEXT) ? CAIRN_INDEX_TEXT : 0);
    cairn_db *db;
    cairn_coll *c;
    int code = open_coll(&db, &c, d, true, true);
    if (code == EXIT_OK) {
        int rc = cairn_doc_index_create(c, fields, n, flags);
        code = done(db, c, rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc));
    }
    free(list);
    return code;
}

static int print_index(const cairn_index_info *info, void *payload)
{
    printf("{\"name\":\"%s\",\"fields\":[", info->name);
    for (size_t i = 0; i < info->nfields; i++) printf("%s\"%s\"", i ? "," : "", info->fields[i]);
    printf("],\"unique\":%s,\"text\":%s,\"multikey\":%s}\n",
           (info->flags & CAIRN_INDEX_UNIQUE) ? "true" : "false",
           (info->flags & CAIRN_INDEX_TEXT) ? "true" : "false", info->multikey ? "true" : "false");
    return 0;
}

static int doc_index_list(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    int code = open_read(&db, &c, &snap, NULL, d);
    if (code != EXIT_OK) return code;
    int rc = cairn_doc_index_list(c, snap, print_index, NULL);
    return read_done(db, c, snap, rc < 0 ? cli_lib_err(rc) : EXIT_OK);
}

static int doc_index_drop(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    int code = open_coll(&db, &c, d, true, false);
    if (code != EXIT_OK) return code;
    int rc = cairn_doc_index_drop(c, d->pos[1]);
    return done(db, c, rc == CAIRN_OK ? EXIT_OK : cli_lib_err(rc));
}

/* ---- history and restore ---- */

typedef struct hist_ctx {
    bool json;
    int code;
    uint64_t printed;
} hist_ctx;

static int print_version(const cairn_doc_version *v, void *payload)
{
    hist_ctx *h = payload;
    h->printed++;
    char hex[CAIRN_ID_HEX_SIZE], when[VERS_TIME_SIZE];
    cairn_id_to_hex(hex, &v->commit);
    vers_time(when, v->time);
    long long ver = 0;
    if (v->doc) {
        json_t *d = json_loadb(v->doc, v->len, 0, NULL);
        json_t *n = d ? json_object_get(d, "_v") : NULL;
        ver = json_is_integer(n) ? (long long)json_integer_value(n) : 0;
        json_decref(d);
    }
    int rc;
    if (h->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:b,s:b}", "commit", hex, "author", v->author,
                              "time", when, "time_ns", (json_int_t)v->time, "message", v->message,
                              "created", v->created, "deleted", v->doc == NULL);
        json_t *patch = json_loadb(v->patch, v->patch_len, JSON_DECODE_ANY, NULL);
        if (o && v->doc) json_object_set_new(o, "version", json_integer(ver));
        if (o && v->pruned_time) /* the oldest version kept: retention removed what came before */
            json_object_set_new(o, "history_removed_ns", json_integer((json_int_t)v->pruned_time));
        if (o && patch) json_object_set_new(o, "patch", patch);
        else json_decref(patch);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        if (!line) return h->code = cli_err(EXIT_FAIL, "out of memory");
        rc = printf("%s\n", line);
        free(line);
    } else {
        char what[32];
        if (!v->doc) snprintf(what, sizeof what, "deleted");
        else snprintf(what, sizeof what, "v%lld%s", ver, v->created ? " created" : "");
        rc = printf("%.12s %s %s  %s  %s\n", hex, when, what, v->author, v->patch);
        if (rc >= 0 && v->pruned_time) {
            char cut[VERS_TIME_SIZE];
            vers_time(cut, v->pruned_time);
            rc = printf("(older history was removed by retention on %s)\n", cut);
        }
    }
    if (rc < 0) return h->code = cli_err(EXIT_FAIL, "cannot write the output: %s", strerror(errno));
    return 0;
}

static int count_version(const cairn_doc_version *v, void *payload)
{
    (void)v;
    ++*(uint64_t *)payload;
    return 0;
}

static int doc_history(const doc_args *d)
{
    cairn_db *db;
    cairn_coll *c;
    cairn_snapshot *snap;
    bool audit;
    int code = open_read(&db, &c, &snap, &audit, d);
    if (code != EXIT_OK) return code;
    if (audit) { /* recorded before printing, with the number of versions then printed */
        uint64_t n = 0;
        int rc = cairn_doc_history(db, c, d->base.opt[OPT_AT], d->pos[1], count_version, &n);
        code = rc < 0 ? cli_lib_err(rc) : record_doc(db, audit, "doc.history", d, d->pos[1], n);
    }
    if (code == EXIT_OK) {
        hist_ctx h = { (d->given & D_JSON) != 0, EXIT_OK, 0 };
        int rc = cairn_doc_history(db, c, d->base.opt[OPT_AT], d->pos[1], print_version, &h);
        code = rc < 0 ? cli_lib_err(rc) : h.code;
        if (code == EXIT_OK && !h.printed) /* (it printed nothing and said all was well) */
            code = cli_err(EXIT_NOTFOUND, "collection %s: no commit from %s holds document %s "
                           "(uncommitted changes are not history: 'cairn commit' records them)",
                           d->pos[0], d->base.opt[OPT_AT] ? d->base.opt[OPT_AT] : "HEAD",
                           d->pos[1]);
    }
    return read_done(db, c, snap, code);
}

static int doc_restore(const doc_args *d)
{
    if (!d->base.opt[OPT_AT])
        return cli_err(EXIT_USAGE, "doc restore needs --at REV: the revision to bring the "
                                   "document back from (see 'cairn doc history COLL ID')");
    cairn_doc_write_options o;
    int code = write_opts(&o, d);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    cairn_coll *c;
    code = open_coll(&db, &c, d, true, false);
    if (code != EXIT_OK) {
        cairn_signer_close(o.signer);
        return code;
    }
    char *out = NULL;
    int rc = cairn_doc_restore(&out, db, c, d->pos[1], d->base.opt[OPT_AT], &o);
    if (rc < 0) code = cli_lib_err(rc);
    else code = print_line(out, strlen(out));
    cairn_free(out);
    cairn_signer_close(o.signer);
    return done(db, c, code);
}

static int doc_prove(const doc_args *d)
{
    int code = cli_proof_check_out(d->output);
    if (code != EXIT_OK) return code;
    cairn_db *db;
    cairn_coll *c;
    code = open_coll(&db, &c, d, false, false);
    if (code != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    code = cli_snapshot_or_now(&snap, db, &d->base);
    void *proof = NULL;
    size_t len = 0;
    if (code == EXIT_OK) {
        int rc = cairn_doc_prove(&proof, &len, c, snap, d->pos[1]);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    if (code == EXIT_OK) {
        char what[700];
        snprintf(what, sizeof what, "document '%.512s' is not in collection %s", d->pos[1],
                 d->pos[0]);
        code = cli_proof_emit(d->output, snap, proof, len, what);
    }
    cairn_free(proof);
    cairn_snapshot_close(snap);
    return done(db, c, code);
}

/* ---- retention ---- */

static int print_policy(const char *coll, const cairn_doc_retention *p)
{
    char what[64];
    if (p->kind == CAIRN_RETAIN_DAYS) snprintf(what, sizeof what, "keep %u day%s", p->n,
                                               p->n == 1 ? "" : "s");
    else if (p->kind == CAIRN_RETAIN_VERSIONS)
        snprintf(what, sizeof what, "keep %u version%s", p->n, p->n == 1 ? "" : "s");
    else snprintf(what, sizeof what, "keep all");
    printf("%s: %s, legal hold %s\n", coll, what, p->legal_hold ? "on" : "off");
    return cli_flush_stdout();
}

/* The policy the options ask for, from the current one. */
static int policy_from_args(cairn_doc_retention *p, const doc_args *d)
{
    if ((d->given & D_DAYS) && (d->given & D_VERSIONS))
        return cli_err(EXIT_USAGE, "doc retention: --days or --versions, not both");
    uint64_t n;
    const char *arg = d->days ? d->days : d->versions;
    if (arg) {
        int code = cli_parse_count(&n, arg, d->days ? "--days" : "--versions");
        if (code != EXIT_OK) return code;
        if (n < 1 || n > CAIRN_DOC_RETENTION_MAX)
            return cli_err(EXIT_USAGE, "%s: 1 to %u", d->days ? "--days" : "--versions",
                           CAIRN_DOC_RETENTION_MAX);
        p->kind = d->days ? CAIRN_RETAIN_DAYS : CAIRN_RETAIN_VERSIONS;
        p->n = (uint32_t)n;
    }
    if (d->hold) {
        if (strcmp(d->hold, "on") != 0 && strcmp(d->hold, "off") != 0)
            return cli_err(EXIT_USAGE, "--legal-hold: on or off, not '%s'", d->hold);
        p->legal_hold = strcmp(d->hold, "on") == 0;
    }
    return EXIT_OK;
}

static int doc_retention(const doc_args *d)
{
    bool set = (d->given & (D_DAYS | D_VERSIONS | D_HOLD)) != 0;
    cairn_db *db;
    cairn_coll *c;
    int code = set ? open_coll(&db, &c, d, true, false) : cli_open(&db, &d->base, false);
    if (code != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    if (!set) {
        int rc = cairn_coll_open(&c, db, d->pos[0], 0);
        if (rc != CAIRN_OK) return cli_close(db, cli_lib_err(rc));
        code = cli_snapshot_at(&snap, db, &d->base);
        if (code != EXIT_OK) return done(db, c, code);
    }
    cairn_doc_retention p;
    int rc = cairn_doc_retention_get(&p, c, snap);
    if (rc == CAIRN_OK && set) {
        code = policy_from_args(&p, d);
        if (code == EXIT_OK) rc = cairn_doc_retention_set(c, &p);
    }
    if (rc < 0) code = cli_lib_err(rc);
    if (code == EXIT_OK) code = print_policy(d->pos[0], &p);
    cairn_snapshot_close(snap);
    return done(db, c, code);
}

/* ---- the subcommands and their options ---- */

#define FIND_OPTS (D_AT | D_SORT | D_LIMIT | D_OFFSET | D_AFTER | D_PROJECT | D_EXPLAIN)

static const doc_cmd DOC_CMDS[] = {
    { "insert", doc_insert, 2, 2, D_IFV | SIGN_OPTS,
      "doc insert COLL JSON|- [--if-version V] [--sign KEY]" },
    { "upsert", doc_upsert, 2, 2, D_IFV | SIGN_OPTS,
      "doc upsert COLL JSON|- [--if-version V] [--sign KEY]" },
    { "replace", doc_replace, 2, 2, D_IFV | SIGN_OPTS,
      "doc replace COLL JSON|- [--if-version V] [--sign KEY]" },
    { "patch", doc_patch, 3, 3, D_IFV | SIGN_OPTS,
      "doc patch COLL ID PATCH|- [--if-version V] [--sign KEY]" },
    { "delete", doc_delete, 2, 2, D_IFV, "doc delete COLL ID [--if-version V]" },
    { "get", doc_get, 2, DOC_MAX_POS - 2, D_AT | D_VERIFY_SIG,
      "doc get COLL ID [ID...] [--at REV] [--verify-sig]" },
    { "find", doc_find, 1, 2, FIND_OPTS | D_VERIFY_SIG,
      "doc find COLL [FILTER] [--sort F[:desc]]... [--limit N] [--offset N] [--after CURSOR]\n"
      "                     [--project F,F...] [--explain] [--at REV] [--verify-sig]" },
    { "count", doc_count, 1, 2, D_AT, "doc count COLL [FILTER] [--at REV]" },
    { "import", doc_import, 2, 2, SIGN_OPTS | D_FORCE,
      "doc import COLL FILE.jsonl|DIR|- [--force] [--sign KEY]" },
    { "export", doc_export, 2, 2, D_AT, "doc export COLL DIR [--at REV]" },
    { "verify-export", doc_verify_export, 1, 1, D_REPO, "doc verify-export DIR [--repo DIR]" },
    { "list", doc_list, 0, 0, D_AT, "doc list [--at REV]" },
    { "check", doc_check, 1, 1, D_AT, "doc check COLL [--at REV]" },
    { "repack", doc_repack, 1, 1, 0, "doc repack COLL" },
    { "index-create", doc_index_create, 2, 2, D_UNIQUE | D_TEXT,
      "doc index create COLL FIELD[,FIELD...] [--unique] [--text]" },
    { "index-list", doc_index_list, 1, 1, D_AT, "doc index list COLL [--at REV]" },
    { "index-drop", doc_index_drop, 2, 2, 0, "doc index drop COLL NAME" },
    { "history", doc_history, 2, 2, D_AT | D_JSON, "doc history COLL ID [--at REV] [--json]" },
    { "restore", doc_restore, 2, 2, D_AT | D_IFV | SIGN_OPTS,
      "doc restore COLL ID --at REV [--if-version V] [--sign KEY]" },
    { "prove", doc_prove, 2, 2, D_AT | D_OUTPUT, "doc prove COLL ID [--at REV] [-o FILE]" },
    { "retention", doc_retention, 1, 1, D_AT | D_DAYS | D_VERSIONS | D_HOLD,
      "doc retention COLL [--days N | --versions N] [--legal-hold on|off] [--at REV]" },
};

#define NDOC_CMDS (sizeof DOC_CMDS / sizeof DOC_CMDS[0])

const char CMD_DOC_HELP[] =
    "Collections of JSON documents. A document is a JSON object; cairn keeps _id (given or\n"
    "generated), _v (version), _ts (UTC time of the change) and _hash (SHA-256 of its canonical\n"
    "form) in it, and _sig (an Ed25519 signature) when written with --sign. Writes print the\n"
    "stored document; reads print one document a line.\n\n"
    "  doc insert COLL JSON|-          add a document (fails if its _id exists)\n"
    "  doc upsert COLL JSON|-          add or replace\n"
    "  doc replace COLL JSON|-         replace the document with the same _id\n"
    "  doc patch COLL ID PATCH|-       apply a JSON Merge Patch (RFC 7386)\n"
    "  doc delete COLL ID              delete a document\n"
    "  doc get COLL ID [ID...]         print documents (a missing one: exit 1)\n"
    "  doc find COLL [FILTER] ...      query: {\"age\":{\"$gte\":30},\"role\":{\"$in\":[\"a\",\"b\"]}}\n"
    "  doc count COLL [FILTER]         count matches\n"
    "  doc import COLL FILE.jsonl|-    insert one document a line, all or nothing\n"
    "  doc import COLL DIR             insert DIR's ID.json files (an export), all or nothing;\n"
    "                                  an export that fails verify-export is refused\n"
    "                                  (--force imports it anyway)\n"
    "  doc export COLL DIR             write ID.json per document (pretty-printed) and\n"
    "                                  manifest (JSON: the collection's root hash and each\n"
    "                                  document's hash) into DIR\n"
    "  doc verify-export DIR           check an export against its manifest with no repository:\n"
    "                                  each file, none missing or extra, the root rebuilt from\n"
    "                                  the files; -C DIR / --repo DIR also compares the root\n"
    "                                  with the repository's at the commit exported\n"
    "  doc list                        list the collections\n"
    "  doc check COLL                  check that every index agrees with the documents\n"
    "  doc repack COLL                 store the documents written before the packed form\n"
    "                                  packed (none changes; commit to keep it)\n"
    "  doc index create COLL FIELD[,FIELD...] [--unique] [--text]\n"
    "  doc index list COLL             one JSON line per index\n"
    "  doc index drop COLL NAME\n"
    "  doc history COLL ID [--json]    every version of a document in the commits (newest\n"
    "                                  first): commit, time, version, author, the change as a\n"
    "                                  JSON Merge Patch; a deleted document's too\n"
    "  doc restore COLL ID --at REV    write the document as it was at REV as its next\n"
    "                                  version (a deleted one comes back)\n"
    "  doc prove COLL ID [-o FILE]     a proof that the document (or its absence) is in the\n"
    "                                  collection, checked by 'cairn verify-proof' with no\n"
    "                                  repository; --at REV anchors it at that commit\n"
    "  doc retention COLL [--days N | --versions N] [--legal-hold on|off]\n"
    "                                  show or set how long old versions are kept: history\n"
    "                                  of the last N days (and the state N days ago), or the\n"
    "                                  last N versions of each document; a legal hold keeps\n"
    "                                  all. 'cairn gc' then deletes the collection's versions\n"
    "                                  that only older commits hold (the commits stay). What\n"
    "                                  gc deleted cannot be brought back: a longer window later\n"
    "                                  keeps more from then on, not what is gone\n\n"
    "Options:\n"
    "  --if-version V      write only if the document's _v is V (0: it must not exist)\n"
    "  --sign KEY          sign each document written with signing key KEY (its _sig), as\n"
    "                      commit --sign does (--key-dir DIR, --passphrase-file FILE)\n"
    "  --verify-sig        get, find: every document read must carry a _sig that verifies\n"
    "                      (by a trusted key, when the repository trusts any), else exit 3\n"
    "  --sort F[:desc]     sort by field F (repeat for several)\n"
    "  --limit N, --offset N, --after CURSOR   page through results (the cursor of the last\n"
    "                      result is printed on stderr when --limit stops the output)\n"
    "  --project F,F...    print only these fields (and _id)\n"
    "  --explain           print the plan and the rows examined instead of the results\n"
    "  --at REV            read the collection as of revision REV\n\n"
    "Filter operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $prefix $contains $not,\n"
    "and $and $or $not $text at the top level. See README.md, \"Documents\".\n";

static const struct {
    const char *name;
    unsigned bit;
    bool value;
} DOC_OPTS[] = {
    { "--at", D_AT, true },           { "--if-version", D_IFV, true },
    { "--sort", D_SORT, true },       { "--limit", D_LIMIT, true },
    { "--offset", D_OFFSET, true },   { "--after", D_AFTER, true },
    { "--project", D_PROJECT, true }, { "--explain", D_EXPLAIN, false },
    { "--unique", D_UNIQUE, false },  { "--text", D_TEXT, false },
    { "--json", D_JSON, false },      { "--output", D_OUTPUT, true },
    { "--sign", D_SIGN, true },       { "--key-dir", D_KEY_DIR, true },
    { "--passphrase-file", D_PASS_FILE, true }, { "--verify-sig", D_VERIFY_SIG, false },
    { "--force", D_FORCE, false },    { "--repo", D_REPO, true },
    { "--days", D_DAYS, true },       { "--versions", D_VERSIONS, true },
    { "--legal-hold", D_HOLD, true }, { "--wait", D_WAIT, true },
};

static int set_opt(doc_args *d, unsigned bit, const char *v)
{
    d->given |= bit;
    switch (bit) {
    case D_AT: d->base.opt[OPT_AT] = v; break;
    case D_IFV: d->if_version = v; break;
    case D_LIMIT: d->limit = v; break;
    case D_OFFSET: d->offset = v; break;
    case D_AFTER: d->after = v; break;
    case D_PROJECT: d->project = v; break;
    case D_OUTPUT: d->output = v; break;
    case D_SIGN: d->sign = v; break;
    case D_KEY_DIR: d->key_dir = v; break;
    case D_PASS_FILE: d->pass_file = v; break;
    case D_REPO:
        d->base.dir = v;
        d->base.dir_given = true;
        break;
    case D_DAYS: d->days = v; break;
    case D_VERSIONS: d->versions = v; break;
    case D_HOLD: d->hold = v; break;
    case D_WAIT: d->base.opt[OPT_WAIT] = v; break;
    case D_SORT:
        if (d->nsort == DOC_MAX_SORT)
            return cli_err(EXIT_USAGE, "--sort: at most %d fields", DOC_MAX_SORT);
        d->sort[d->nsort++] = v;
        break;
    default: break;
    }
    return EXIT_OK;
}

static int parse_long(doc_args *d, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n == 6 && strncmp(arg, "--help", 6) == 0) {
        d->help = true;
        return EXIT_OK;
    }
    for (size_t k = 0; k < sizeof DOC_OPTS / sizeof DOC_OPTS[0]; k++) {
        if (strlen(DOC_OPTS[k].name) != n || strncmp(DOC_OPTS[k].name, arg, n) != 0) continue;
        if (!DOC_OPTS[k].value) {
            if (eq) return cli_err(EXIT_USAGE, "option %s takes no value", DOC_OPTS[k].name);
            return set_opt(d, DOC_OPTS[k].bit, "");
        }
        if (eq) return set_opt(d, DOC_OPTS[k].bit, eq + 1);
        if (*i + 1 >= argc) return cli_err(EXIT_USAGE, "option %s needs a value", DOC_OPTS[k].name);
        return set_opt(d, DOC_OPTS[k].bit, argv[++*i]);
    }
    return cli_err(EXIT_USAGE, "unknown option '%.*s' for doc", (int)n, arg);
}

static int parse_doc_args(doc_args *d, int argc, char **argv)
{
    memset(d, 0, sizeof *d);
    d->base.dir = ".";
    d->base.cmd = "doc";
    bool end = false, seen_doc = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int code = EXIT_OK;
        if (end || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (!seen_doc) {
                seen_doc = true; /* the word "doc" itself */
            } else if (d->npos == DOC_MAX_POS) {
                code = cli_err(EXIT_USAGE, "too many arguments");
            } else {
                d->pos[d->npos++] = arg;
            }
        } else if (strcmp(arg, "--") == 0) {
            end = true;
        } else if (strncmp(arg, "-C", 2) == 0) {
            d->base.dir_given = true;
            if (arg[2]) d->base.dir = arg + 2;
            else if (i + 1 < argc) d->base.dir = argv[++i];
            else code = cli_err(EXIT_USAGE, "option -C needs a directory");
        } else if (strcmp(arg, "-h") == 0) {
            d->help = true;
        } else if (strcmp(arg, "-o") == 0) {
            if (i + 1 < argc) code = set_opt(d, D_OUTPUT, argv[++i]);
            else code = cli_err(EXIT_USAGE, "option -o needs a file");
        } else if (arg[1] == '-') {
            code = parse_long(d, argc, argv, &i);
        } else {
            code = cli_err(EXIT_USAGE, "unknown option '%s' for doc", arg);
        }
        if (code != EXIT_OK) return code;
    }
    return EXIT_OK;
}

/* "index create" is one subcommand: the words are joined as "index-create". */
static const doc_cmd *find_sub(doc_args *d, char *name, size_t cap)
{
    if (d->npos == 0) return NULL;
    int words = strcmp(d->pos[0], "index") == 0 && d->npos > 1 ? 2 : 1;
    snprintf(name, cap, "%s%s%s", d->pos[0], words == 2 ? "-" : "", words == 2 ? d->pos[1] : "");
    for (size_t i = 0; i < NDOC_CMDS; i++) {
        if (strcmp(DOC_CMDS[i].name, name) != 0) continue;
        memmove(d->pos, d->pos + words, (size_t)(d->npos - words) * sizeof d->pos[0]);
        d->npos -= words;
        return &DOC_CMDS[i];
    }
    return NULL;
}

static void doc_usage(FILE *f)
{
    fputs("usage:\n", f);
    for (size_t i = 0; i < NDOC_CMDS; i++) fprintf(f, "  cairn [-C DIR] %s\n", DOC_CMDS[i].synopsis);
}

/* How many words the global option at argv[at] takes (-C DIR, -CDIR, --wait SECS,
 * --wait=SECS), or 0 when it is not one: those may come before "doc". */
static int global_opt_words(char **argv, int at)
{
    const char *arg = argv[at];
    if (strncmp(arg, "-C", 2) == 0) return arg[2] ? 1 : 2;
    if (strncmp(arg, "--wait=", 7) == 0) return 1;
    return strcmp(arg, "--wait") == 0 ? 2 : 0;
}

int cmd_doc_main(int argc, char **argv)
{
    int at = 1;
    for (int words; at < argc && (words = global_opt_words(argv, at)) > 0;) at += words;
    if (at >= argc || strcmp(argv[at], "doc") != 0) return -1;
    doc_args d;
    int code = parse_doc_args(&d, argc, argv);
    if (code != EXIT_OK) return code;
    char name[64];
    const doc_cmd *c = find_sub(&d, name, sizeof name);
    if (d.help || d.npos < 0 || (!c && d.npos == 0)) {
        printf("cairn doc: JSON document collections\n\n");
        doc_usage(stdout);
        printf("\n%s", CMD_DOC_HELP);
        return d.help ? EXIT_OK : EXIT_USAGE;
    }
    if (!c) {
        cli_err(EXIT_USAGE, "'%s' is not a doc subcommand", name);
        doc_usage(stderr);
        return EXIT_USAGE;
    }
    /* as the user typed it: "index create", not the joined "index-create" (find_sub) */
    char shown[64];
    bool index = strncmp(c->name, "index-", 6) == 0;
    snprintf(shown, sizeof shown, "%s%s", index ? "index " : "", c->name + (index ? 6 : 0));
    for (size_t i = 0; i < sizeof DOC_OPTS / sizeof DOC_OPTS[0]; i++) {
        if (!(d.given & DOC_OPTS[i].bit) || ((c->opts | D_WAIT) & DOC_OPTS[i].bit)) continue;
        cli_err(EXIT_USAGE, "doc %s takes no option %s", shown, DOC_OPTS[i].name);
        fprintf(stderr, "usage: cairn [-C DIR] %s\n", c->synopsis);
        return EXIT_USAGE;
    }
    if (d.npos < c->min_pos || d.npos > c->max_pos) {
        if (c->min_pos == c->max_pos)
            cli_err(EXIT_USAGE, "doc %s takes %d argument%s, not %d", shown, c->min_pos,
                    cli_plural((uint64_t)c->min_pos), d.npos);
        else
            cli_err(EXIT_USAGE, "doc %s takes %d to %d arguments, not %d", shown, c->min_pos,
                    c->max_pos, d.npos);
        fprintf(stderr, "usage: cairn [-C DIR] %s\n", c->synopsis);
        return EXIT_USAGE;
    }
    return c->run(&d);
}
