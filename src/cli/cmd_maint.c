/*
 * cmd_maint.c - repository maintenance: `cairn gc` (delete the chunks nothing reaches and
 * give their disk space back) and `cairn verify` (read and check everything the repository
 * holds). Both print what they counted, as aligned "name value" lines or, with --json, one
 * JSON object; verify also prints every problem it found (up to a limit) before its counts
 * and exits with 3 when there was any.
 *
 * Timings are printed on standard error only, so that standard output is the same for the
 * same repository from run to run.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/doc.h"
#include "cli.h"
#include "jsonl.h"
#include "vers.h"

#define MAX_PROBLEMS 20      /* problems named one by one; the rest are counted */

/* Prints a JSON document, a newline after it. */
static int dump(json_t *doc)
{
    if (!doc) return cli_err(EXIT_FAIL, "out of memory building the JSON output");
    int r = jsonl_dump(stdout, doc);
    json_decref(doc);
    return r == 0 ? EXIT_OK : cli_err(EXIT_FAIL, "writing standard output failed");
}

/* ---- gc ---- */

static json_t *gc_json_counts(const cairn_gc_stats *s, bool dry);

static void gc_text(const cairn_gc_stats *s, bool dry)
{
    printf("%-16s%" PRIu64 " chunk%s\n", "reachable", s->chunks_reachable,
           cli_plural(s->chunks_reachable));
    printf("%-16s%" PRIu64 " chunk%s, %" PRIu64 " bytes\n", "garbage", s->chunks_garbage,
           cli_plural(s->chunks_garbage), s->bytes_garbage);
    if (dry) {
        printf("%-16s0 (dry run: nothing was changed)\n", "deleted");
        return;
    }
    printf("%-16s%" PRIu64 "\n", "deleted", s->chunks_deleted);
    printf("%-16s%" PRIu64 " -> %" PRIu64 "\n", "chunks", s->chunks_before, s->chunks_after);
    printf("%-16s%" PRIu64 " -> %" PRIu64 "\n", "stored_bytes", s->bytes_before, s->bytes_after);
    printf("%-16s%" PRIu64 " -> %" PRIu64 " (%" PRIu64 " rewritten)\n", "packs", s->files_before,
           s->files_after, s->packs_rewritten);
    printf("%-16s%" PRIu64 " bytes\n", "disk_freed", s->disk_bytes_freed);
    if (!s->compacted && (!s->two_phase || s->chunks_deleted))
        printf("%-16s%s\n", "compacted", "no (this store cannot, or it was turned off)");
    if (s->versions_pruned) /* only with retention policies, so other outputs stay as they were */
        printf("%-16s%" PRIu64 " table version%s let go by retention policies\n", "retention",
               s->versions_pruned, cli_plural(s->versions_pruned));
    if (!s->two_phase) return;
    printf("%-16s%.0f s\n", "grace", s->grace_seconds);
    if (s->candidates_waiting)
        printf("%-16s%" PRIu64 " (recorded %.0f s ago: deletable once the grace has passed)\n",
               "waiting", s->candidates_waiting, s->pending_age);
    printf("%-16s%" PRIu64 " chunk%s (a run after the grace deletes those still unreachable)\n",
           "candidates", s->candidates_recorded, cli_plural(s->candidates_recorded));
    if (s->chunks_spared)
        printf("%-16s%" PRIu64 " (written again by a writer since the record: recorded anew)\n",
               "spared", s->chunks_spared);
    if (s->orphans_removed)
        printf("%-16s%" PRIu64 " object%s, %" PRIu64 " bytes (named by no index, older than the "
               "grace)\n", "orphans", s->orphans_removed, cli_plural(s->orphans_removed),
               s->orphan_bytes);
    printf("%-16s%" PRIu64 " (%" PRIu64 " bytes sent, %" PRIu64 " received)\n", "requests",
           s->requests, s->bytes_sent, s->bytes_received);
}

static json_t *gc_json(const cairn_gc_stats *s, bool dry)
{
    json_t *o = gc_json_counts(s, dry);
    if (o && s->versions_pruned)
        json_object_set_new(o, "versions_pruned", json_integer((json_int_t)s->versions_pruned));
    return o;
}

static json_t *gc_json_counts(const cairn_gc_stats *s, bool dry)
{
    return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "dry_run", dry,
                     "chunks_reachable", (json_int_t)s->chunks_reachable, "chunks_garbage",
                     (json_int_t)s->chunks_garbage, "bytes_garbage", (json_int_t)s->bytes_garbage,
                     "chunks_deleted", (json_int_t)s->chunks_deleted, "chunks_before",
                     (json_int_t)s->chunks_before, "chunks_after", (json_int_t)s->chunks_after,
                     "bytes_before", (json_int_t)s->bytes_before, "bytes_after",
                     (json_int_t)s->bytes_after, "packs_before", (json_int_t)s->files_before,
                     "packs_after", (json_int_t)s->files_after, "packs_rewritten",
                     (json_int_t)s->packs_rewritten, "disk_bytes_freed",
                     (json_int_t)s->disk_bytes_freed, "compacted", s->compacted);
}

/* The two-phase figures of a remote store's gc, added to the JSON object. */
static json_t *gc_json_remote(json_t *o, const cairn_gc_stats *s)
{
    if (!o || !s->two_phase) return o;
    json_t *r = json_pack("{s:f,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "grace_seconds",
                          s->grace_seconds, "candidates_recorded",
                          (json_int_t)s->candidates_recorded, "candidates_waiting",
                          (json_int_t)s->candidates_waiting, "pending_age_seconds",
                          s->pending_age, "requests", (json_int_t)s->requests, "bytes_sent",
                          (json_int_t)s->bytes_sent, "bytes_received",
                          (json_int_t)s->bytes_received, "chunks_spared",
                          (json_int_t)s->chunks_spared, "orphans_removed",
                          (json_int_t)s->orphans_removed, "orphan_bytes",
                          (json_int_t)s->orphan_bytes);
    if (!r || json_object_update(o, r) != 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(r);
    return o;
}

/* --grace: whole seconds or a number with s, m, h or d; below the floor only with --force. */
static int parse_grace(const cli_args *a, double *out)
{
    const char *v = a->opt[OPT_GRACE], *units = "smhd";
    static const double secs[] = { 1, 60, 3600, 86400 };
    char *end = NULL;
    double n = *v >= '0' && *v <= '9' ? strtod(v, &end) : -1;
    const char *u = end && *end ? strchr(units, *end) : NULL;
    if (n < 0 || (end && *end && (!u || end[1])))
        return cli_err(EXIT_USAGE, "--grace %s: give a duration (seconds, or 90s, 30m, 1h, 2d)",
                       v);
    *out = n * (u ? secs[u - units] : 1);
    if (*out < CAIRN_GC_GRACE_FLOOR && !a->opt[OPT_FORCE])
        return cli_err(EXIT_USAGE, "--grace %s is below a minute: while other processes write "
                       "to the repository, a grace shorter than their longest session can "
                       "delete a chunk one of them is about to reference; add --force to run "
                       "it anyway (tests, or a repository nobody else writes)", v);
    return EXIT_OK;
}

int cmd_gc(const cli_args *a)
{
    cairn_gc_options o = CAIRN_GC_OPTIONS_INIT;
    bool dry = a->opt[OPT_DRY_RUN] != NULL;
    if (dry) o.flags |= CAIRN_GC_DRY_RUN;
    if (a->opt[OPT_FORCE] && !a->opt[OPT_GRACE])
        return cli_err(EXIT_USAGE, "gc --force goes with --grace (it accepts a short grace)");
    if (a->opt[OPT_GRACE] && parse_grace(a, &o.grace_seconds) != EXIT_OK) return EXIT_USAGE;
    cairn_db *db;
    int code = cli_open(&db, a, true);
    if (code != EXIT_OK) return code;
    cairn_gc_stats s;
    int rc = cairn_doc_gc(&s, db, &o); /* cairn_gc() that honours retention policies */
    if (rc != CAIRN_OK) return cli_close(db, cli_lib_err(rc));
    if (a->opt[OPT_JSON]) {
        code = dump(gc_json_remote(gc_json(&s, dry), &s));
    } else {
        gc_text(&s, dry);
        code = cli_flush_stdout();
    }
    fprintf(stderr, "cairn: gc %s in %.2f s\n", dry ? "(dry run) done" : "done", s.seconds);
    return cli_close(db, code);
}

/* ---- verify ---- */

typedef struct vctx {
    bool json;
    json_t *list;            /* --json: the problems, as objects */
    uint64_t doc_listed;     /* collection problems printed (at most MAX_PROBLEMS) */
    char first_doc[1024];    /* the first collection problem, for the closing message */
} vctx;

static json_t *problem_json(const cairn_verify_problem *p)
{
    char hex[CAIRN_ID_HEX_SIZE];
    bool has_id = !cli_id_is_zero(&p->id);
    if (has_id) cairn_id_to_hex(hex, &p->id);
    return json_pack("{s:s,s:o,s:s,s:o,s:o,s:s}", "error", cairn_strerror(p->code), "chunk",
                     has_id ? json_string(hex) : json_null(), "ref", p->ref, "pack",
                     p->pack ? json_integer(p->pack) : json_null(), "offset",
                     p->pack ? json_integer((json_int_t)p->offset) : json_null(), "message",
                     p->message);
}

static int on_problem(const cairn_verify_problem *p, void *payload)
{
    vctx *v = payload;
    if (!v->json) {
        printf("problem: %s\n", p->message);
        return 0;
    }
    json_t *o = problem_json(p);
    if (!o || json_array_append_new(v->list, o) != 0) return CAIRN_ENOMEM;
    return 0;
}

/* A disagreement between a collection and its indexes (cairn_doc_verify): a problem too. */
static int on_doc_problem(const cairn_doc_problem *p, void *payload)
{
    vctx *v = payload;
    if (!v->first_doc[0]) snprintf(v->first_doc, sizeof v->first_doc, "%s", p->message);
    if (v->doc_listed++ >= MAX_PROBLEMS) return 0;
    if (!v->json) {
        printf("problem: %s (%s)\n", p->message, p->state);
        return 0;
    }
    json_t *o = json_pack("{s:s,s:n,s:s,s:n,s:n,s:s,s:s,s:s,s:o,s:s}", "error",
                          cairn_strerror(CAIRN_ECORRUPT), "chunk", "ref", "", "pack", "offset",
                          "message", p->message, "collection", p->collection, "index", p->index,
                          "document", p->id ? json_string(p->id) : json_null(), "state", p->state);
    if (!o || json_array_append_new(v->list, o) != 0) return CAIRN_ENOMEM;
    return 0;
}

/* Checks every collection's indexes (the document layer's part of verify). A check that cannot
 * run (damage the chunk walk found already) is one problem more. */
static void verify_docs(cairn_doc_verify_stats *ds, cairn_db *db, vctx *v)
{
    memset(ds, 0, sizeof *ds);
    int rc = cairn_doc_verify(ds, db, on_doc_problem, v);
    if (rc == CAIRN_OK || rc == CAIRN_ENOMEM) return;
    cairn_doc_problem p = { "", "", NULL, "working state or HEAD", NULL };
    char msg[1024];
    snprintf(msg, sizeof msg, "the collections' indexes could not be checked: %s",
             cairn_error_last()->message);
    p.message = msg;
    on_doc_problem(&p, v);
    ds->problems++;
}

static void verify_text(const cairn_verify_stats *s)
{
    printf("%-16s%" PRIu64 "\n", "refs", s->refs);
    printf("%-16s%" PRIu64 "\n", "reflog_entries", s->reflog_entries);
    printf("%-16s%" PRIu64 "\n", "commits", s->commits);
    printf("%-16s%" PRIu64 "\n", "working_states", s->root_records);
    printf("%-16s%" PRIu64 "\n", "trees", s->trees);
    printf("%-16s%" PRIu64 "\n", "nodes", s->nodes);
    printf("%-16s%" PRIu64 " (%" PRIu64 " bytes, every one re-hashed)\n", "chunks_read",
           s->chunks_verified, s->bytes_verified);
    printf("%-16s%" PRIu64 "\n", "unreachable", s->unreachable);
    printf("%-16sgood %" PRIu64 ", unknown key %" PRIu64 ", bad %" PRIu64 ", none %" PRIu64 "\n",
           "signatures", s->sigs_good, s->sigs_unknown, s->sigs_bad, s->unsigned_commits);
    printf("%-16s%" PRIu64 "\n", "log_records", s->log_records);
    printf("%-16s%" PRIu64 "\n", "problems", s->problems);
}

/* Printed only when there are collections, so that a repository without any reads as before. */
static void verify_docs_text(const cairn_doc_verify_stats *d)
{
    if (!d->collections) return;
    printf("%-16s%" PRIu64 " checked (%" PRIu64 " document%s, %" PRIu64 " index entr%s, "
           "against their indexes)\n", "collections", d->collections, d->documents,
           cli_plural(d->documents), d->entries, d->entries == 1 ? "y" : "ies");
}

static json_t *verify_json(const cairn_verify_stats *s, const cairn_doc_verify_stats *d,
                           json_t *problems)
{
    return json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I},s:I,s:{s:I,s:I,s:I},s:I,s:o}",
        "refs",
        (json_int_t)s->refs, "reflog_entries", (json_int_t)s->reflog_entries, "commits",
        (json_int_t)s->commits, "working_states", (json_int_t)s->root_records, "trees",
        (json_int_t)s->trees, "nodes", (json_int_t)s->nodes, "chunks_read",
        (json_int_t)s->chunks_verified, "bytes_read", (json_int_t)s->bytes_verified,
        "unreachable", (json_int_t)s->unreachable, "signatures", "good",
        (json_int_t)s->sigs_good, "unknown_key", (json_int_t)s->sigs_unknown, "bad",
        (json_int_t)s->sigs_bad, "none", (json_int_t)s->unsigned_commits, "log_records",
        (json_int_t)s->log_records, "collections", "checked", (json_int_t)d->collections,
        "documents", (json_int_t)d->documents, "index_entries", (json_int_t)d->entries,
        "problem_count", (json_int_t)s->problems, "problems", problems);
}

static int note_cb(const cairn_repair_item *it, void *payload)
{
    (void)payload;
    if (!it->problem) printf("note: %s\n", it->message);
    return 0;
}

/* What the store keeps that is no problem but worth knowing (quarantined bytes already in the
 * store): verify lists the problems, this the rest. */
static void print_notes(cairn_db *db)
{
    cairn_repair_options o = CAIRN_REPAIR_OPTIONS_INIT;
    o.flags = CAIRN_REPAIR_DRY_RUN;
    o.on_item = note_cb;
    if (cairn_repair(NULL, db, &o) != CAIRN_OK) cairn_error_clear(); /* a store without it */
}

static int pruned_cb(const cairn_doc_pruned *p, void *payload)
{
    (void)payload;
    char when[VERS_TIME_SIZE];
    vers_time(when, p->last_ns);
    printf("note: %" PRIu64 " version%s of collection %s pruned by retention (last on %s): not "
           "walked, not problems\n", p->versions, cli_plural(p->versions), p->coll, when);
    return 0;
}

/* What retention let go, by collection: verify does not walk it (and says so). */
static void print_pruned(cairn_db *db, const cairn_verify_stats *s)
{
    if (!s->pruned) return;
    if (cairn_doc_retention_pruned(db, pruned_cb, NULL) != CAIRN_OK) cairn_error_clear();
}

int cmd_verify(const cli_args *a)
{
    vctx v = { a->opt[OPT_JSON] != NULL, NULL, 0, "" };
    if (v.json && !(v.list = json_array())) return cli_err(EXIT_FAIL, "out of memory");
    cairn_verify_options o = CAIRN_VERIFY_OPTIONS_INIT;
    o.max_problems = MAX_PROBLEMS;
    o.on_problem = on_problem;
    o.payload = &v;
    if (a->opt[OPT_REACHABLE_ONLY]) o.flags |= CAIRN_VERIFY_REACHABLE_ONLY;
    /* verify checks the store itself, not the copies a disk cache holds (README, "The disk
     * cache"), unless the environment asks otherwise */
    if (!getenv("CAIRN_CACHE")) setenv("CAIRN_CACHE", "off", 1);
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) {
        json_decref(v.list);
        return code;
    }
    cairn_verify_stats s;
    int rc = cairn_verify(&s, db, &o);
    if (rc != CAIRN_OK && rc != CAIRN_ECORRUPT) {
        json_decref(v.list);
        return cli_close(db, cli_lib_err(rc));
    }
    char why[2048]; /* print_notes calls the library, which resets the last error */
    snprintf(why, sizeof why, "%s", cairn_error_last()->message[0] ? cairn_error_last()->message
                                                                   : cairn_strerror(rc));
    uint64_t chunk_problems = s.problems;
    cairn_doc_verify_stats ds;
    verify_docs(&ds, db, &v);
    s.problems += ds.problems;
    if (rc == CAIRN_OK && ds.problems) {
        rc = CAIRN_ECORRUPT;
        snprintf(why, sizeof why, "%s", v.first_doc);
    }
    if (v.json) {
        json_t *out = verify_json(&s, &ds, v.list); /* takes the list */
        if (out && s.pruned) json_object_set_new(out, "pruned", json_integer((json_int_t)s.pruned));
        code = dump(out);
    } else {
        print_notes(db);
        print_pruned(db, &s);
        verify_text(&s);
        verify_docs_text(&ds);
        code = cli_flush_stdout();
    }
    if (code == EXIT_OK && rc != CAIRN_OK) {
        code = cli_err(EXIT_FAIL, "%s", why);
        if (chunk_problems > MAX_PROBLEMS || ds.problems > MAX_PROBLEMS)
            fprintf(stderr, "cairn: only the first %d problems are listed\n", MAX_PROBLEMS);
    } else if (code == EXIT_OK) {
        fprintf(stderr, "cairn: verify found no problem in %.2f s\n", s.seconds);
    }
    return cli_close(db, code);
}
