/*
 * cmd_prove.c - proofs: `cairn prove TABLE KEY` writes a self-contained proof of KEY's value
 * (or of its absence) in TABLE, and the id to check it against; `cairn verify-proof FILE
 * --root ID` checks one, with no repository at all, and says what it proves.
 *
 * A proof made at a commit (--at REV) is anchored at the commit's id: it carries the commit,
 * which names the catalog root. Otherwise it is anchored at the catalog root of the working
 * state. The anchor line prove prints, "commit ID" or "catalog ID", names the id a verifier has
 * to trust; it goes to stdout when the proof goes to a file (-o), to stderr when the proof goes
 * to stdout.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jsonl.h"
#include "tsv.h"

#define PROOF_MAX (64u << 20) /* bytes of a proof verify-proof reads: a value is at most 1 MiB,
                                 each tree level adds a node of at most a few dozen KiB */

static const char *anchor_name(int anchor)
{
    switch (anchor) {
    case CAIRN_PROOF_COMMIT: return "commit";
    case CAIRN_PROOF_CATALOG: return "catalog";
    default: return "table";
    }
}

/* ---- prove ---- */

/* Where a proof goes: -o FILE, or stdout ("-o -" too). */
typedef struct proof_out {
    const char *path;        /* NULL: stdout */
} proof_out;

static int write_proof(const proof_out *o, const void *proof, size_t len)
{
    if (!o->path) return cli_write(proof, len);
    FILE *f = fopen(o->path, "wb");
    if (!f) return cli_err(EXIT_FAIL, "cannot create %s: %s", o->path, strerror(errno));
    bool ok = fwrite(proof, 1, len, f) == len;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok) return EXIT_OK;
    remove(o->path);
    return cli_err(EXIT_FAIL, "writing the proof to %s: %s", o->path, strerror(err));
}

/* The id a proof made in snap is anchored at: the commit it was opened at, or its catalog
 * root. Checks the proof against it, as any verifier will. */
static int proof_anchor(cairn_id *root, cairn_proof_result *r, const void *proof, size_t len,
                        const cairn_snapshot *snap)
{
    cairn_snapshot_commit(root, snap);
    if (cli_id_is_zero(root)) {
        int rc = cairn_snapshot_root(root, snap);
        if (rc != CAIRN_OK) return cli_lib_err(rc);
    }
    if (cairn_proof_verify(r, proof, len, root) == CAIRN_OK) return EXIT_OK;
    return cli_err(EXIT_FAIL, "the proof just made does not verify: %s (a bug: please report it)",
                   cairn_error_last()->message);
}

int cli_proof_emit(const char *out, const cairn_snapshot *snap, const void *proof, size_t len,
                   const char *what)
{
    proof_out o = { out && strcmp(out, "-") != 0 ? out : NULL };
    cairn_id root;
    cairn_proof_result r;
    int code = proof_anchor(&root, &r, proof, len, snap);
    if (code == EXIT_OK) code = write_proof(&o, proof, len);
    if (code == EXIT_OK) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &root);
        fprintf(o.path ? stdout : stderr, "%s %s\n", anchor_name(r.anchor), hex);
        if (!r.found) fprintf(stderr, "cairn: %s: the proof shows its absence\n", what);
    }
    return code;
}

int cli_proof_check_out(const char *out)
{
    if ((!out || strcmp(out, "-") == 0) && isatty(STDOUT_FILENO))
        return cli_err(EXIT_USAGE, "a proof is binary and standard output is a terminal: give "
                                   "-o FILE, or redirect standard output");
    return EXIT_OK;
}

int cli_snapshot_or_now(cairn_snapshot **out, cairn_db *db, const cli_args *a)
{
    int code = cli_snapshot_at(out, db, a);
    if (code == EXIT_OK && !*out) {
        int rc = cairn_snapshot_open(out, db);
        if (rc != CAIRN_OK) code = cli_lib_err(rc);
    }
    return code;
}

/* Makes the proof in snap, writes it out, then prints the anchor line. */
static int prove(cairn_db *db, const cairn_snapshot *snap, const cli_args *a, size_t klen)
{
    cairn_table *t;
    int code = cli_table_at(&t, db, a->pos[0], a);
    if (code != EXIT_OK) return code;
    void *proof = NULL;
    size_t len = 0;
    int rc = cairn_prove(&proof, &len, t, snap, a->pos[1], klen);
    cairn_table_close(t);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    /* the key as scan prints it */
    char *k = malloc(TSV_ESCAPED_MAX(klen) + 1);
    size_t n = k ? tsv_escape(k, a->pos[1], klen) : 0;
    char *what = malloc(n + strlen(a->pos[0]) + 64);
    if (what) sprintf(what, "key '%.*s' is not in table %s", (int)n, k ? k : "", a->pos[0]);
    code = cli_proof_emit(a->opt[OPT_OUTPUT], snap, proof, len, what ? what : "the key");
    free(what);
    free(k);
    cairn_free(proof);
    return code;
}

int cmd_prove(const cli_args *a)
{
    int code = cli_proof_check_out(a->opt[OPT_OUTPUT]);
    if (code != EXIT_OK) return code;
    size_t klen;
    code = cli_bytes_arg(&klen, a, a->pos[1], "KEY");
    if (code != EXIT_OK) return code;
    if (klen > cairn_key_len_max())
        return cli_err(EXIT_FAIL, "key of %zu bytes is over the %zu byte limit", klen,
                       cairn_key_len_max());
    cairn_db *db;
    if ((code = cli_open(&db, a, false)) != EXIT_OK) return code;
    cairn_snapshot *snap = NULL;
    code = cli_snapshot_or_now(&snap, db, a);
    if (code == EXIT_OK) code = prove(db, snap, a, klen);
    cairn_snapshot_close(snap);
    return cli_close(db, code);
}

/* ---- verify-proof ---- */

/* "label   escaped bytes" */
static int print_field(const char *label, const void *p, size_t n)
{
    char *buf = malloc(TSV_ESCAPED_MAX(n) + 1);
    if (!buf) return cli_err(EXIT_FAIL, "out of memory printing a %s of %zu bytes", label, n);
    size_t len = tsv_escape(buf, p, n);
    printf("%-8s", label);
    int code = cli_write(buf, len);
    free(buf);
    if (code == EXIT_OK) putchar('\n');
    return code;
}

static int print_text(const cairn_proof_result *r, const cairn_id *root)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, root);
    printf("%-8s%s %s\n", "anchor", anchor_name(r->anchor), hex);
    int code = r->table[0] ? print_field("table", r->table, strlen(r->table)) : EXIT_OK;
    if (code == EXIT_OK) code = print_field("key", r->key, r->key_len);
    if (code == EXIT_OK) printf("%-8s%s\n", "result", r->found ? "found" : "absent");
    char *doc = NULL;
    size_t dlen = 0;
    if (code == EXIT_OK && r->found &&
        (doc = cli_doc_text(&dlen, r->table, r->key, r->key_len, r->value, r->value_len))) {
        fputs("document ", stdout);
        code = cli_write(doc, dlen);
        if (code == EXIT_OK) putchar('\n');
        cairn_free(doc);
    } else if (code == EXIT_OK && r->found) {
        code = print_field("value", r->value, r->value_len);
    }
    return code;
}

static int set_hex(json_t *obj, const char *name, const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    return json_object_set_new(obj, name, cli_id_is_zero(id) ? json_null() : json_string(hex));
}

static int fill_json(json_t *obj, const cairn_proof_result *r, const cairn_id *root)
{
    int rc = json_object_set_new(obj, "anchor", json_string(anchor_name(r->anchor)));
    if (rc == 0) rc = set_hex(obj, "root", root);
    if (rc == 0) rc = set_hex(obj, "commit", &r->commit);
    if (rc == 0) rc = set_hex(obj, "catalog_root", &r->catalog_root);
    if (rc == 0) rc = r->table[0] ? jsonl_set_bytes(obj, "table", r->table, strlen(r->table))
                                  : json_object_set_new(obj, "table", json_null());
    if (rc == 0) rc = set_hex(obj, "table_root", &r->table_root);
    if (rc == 0) rc = jsonl_set_bytes(obj, "key", r->key, r->key_len);
    if (rc == 0) rc = json_object_set_new(obj, "found", json_boolean(r->found));
    if (rc == 0 && r->found) rc = jsonl_set_bytes(obj, "value", r->value, r->value_len);
    char *doc = NULL;
    size_t dlen = 0;
    if (rc == 0 && r->found &&
        (doc = cli_doc_text(&dlen, r->table, r->key, r->key_len, r->value, r->value_len))) {
        rc = jsonl_set_bytes(obj, "document", doc, dlen);
        cairn_free(doc);
    }
    return rc;
}

static int print_json(const cairn_proof_result *r, const cairn_id *root)
{
    json_t *obj = json_object();
    int rc = obj ? fill_json(obj, r, root) : -1;
    if (rc == 0) rc = jsonl_dump(stdout, obj) < 0 ? -2 : 0;
    json_decref(obj);
    if (rc == -2) return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return rc == 0 ? EXIT_OK : cli_err(EXIT_FAIL, "out of memory printing JSON");
}

int cmd_verify_proof(const cli_args *a)
{
    const char *hex = a->opt[OPT_ROOT], *path = a->pos[0];
    if (!hex)
        return cli_err(EXIT_USAGE, "verify-proof needs --root ID: the id you trust (the commit "
                                   "id or catalog root that cairn prove printed)");
    cairn_id root;
    if (cairn_id_from_hex(&root, hex) != CAIRN_OK)
        return cli_err(EXIT_USAGE, "--root needs an id of 64 hex digits, not '%s'", hex);
    char *proof;
    size_t len;
    int code = cli_read_file(&proof, &len, path, PROOF_MAX, "proof");
    if (code != EXIT_OK) return code;
    cairn_proof_result r;
    int rc = cairn_proof_verify(&r, proof, len, &root);
    if (rc == CAIRN_EAUTH)
        code = cli_err(EXIT_FAIL, "the proof in %s does not verify against %s: %s",
                       strcmp(path, "-") ? path : "standard input", hex, cairn_error_last()->message);
    else if (rc != CAIRN_OK)
        code = cli_lib_err(rc);
    else
        code = a->opt[OPT_JSON] ? print_json(&r, &root) : print_text(&r, &root);
    free(proof);
    return code;
}
