/*
 * cmd_stats.c - `cairn stats`: the repository's store counters and the shape of every table's
 * tree (entries, depth, nodes, node sizes and their histogram), as aligned text or as one JSON
 * object (--json). Process-local counters (cache hits, chunks read) are left out: they describe
 * this run of the command, not the repository, and would make the output unstable; the
 * recovery time is the exception, as the one measure of how much log a crash would replay, and
 * so is what a remote store cost this command (requests, bytes, the memory and disk caches'
 * hits and misses), shown only for a remote store.
 *
 * The working set (write-ahead log and memtable) is that of the checked-out branch. Its last
 * checkpoint is the newest checkpoint record in the operation log: cairn_db_stats counts only
 * the checkpoints of its own handle, which for a command that just opened is none.
 *
 * A document collection is a table of cairn's own underneath (cairn/doc.h), which the table
 * count and the table sections leave out, as every listing for users does: collections are
 * counted on a line of their own, and each has a section with its documents table's shape
 * (one entry a document) and its number of indexes.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/doc.h"
#include "cli.h"
#include "when.h"

#define HIST_BUCKETS 17 /* cairn_table_stats.size_hist */

/* Table names, collected by cairn_table_list(). */
typedef struct names {
    char **v;
    size_t n;
} names;

static int collect(const char *name, void *payload)
{
    names *ns = payload;
    char **nv = realloc(ns->v, (ns->n + 1) * sizeof *nv);
    if (!nv || !(nv[ns->n] = strdup(name))) {
        if (nv) ns->v = nv;
        return CAIRN_ENOMEM;
    }
    ns->v = nv;
    ns->n++;
    return 0;
}

static void names_free(names *ns)
{
    for (size_t i = 0; i < ns->n; i++) free(ns->v[i]);
    free(ns->v);
}

static void print_db_text(const cairn_db_stats *s, size_t colls)
{
    printf("%-14s%" PRIu64 "\n", "chunks", s->chunks);
    printf("%-14s%" PRIu64 "\n", "stored_bytes", s->stored_bytes);
    printf("%-14s%" PRIu64 "\n", "packs", s->packs);
    printf("%-14s%" PRIu64 "\n", "tables", s->tables);
    printf("%-14s%zu\n", "collections", colls);
    if (s->store_requests) { /* a remote store: what this command cost */
        printf("%-14s%" PRIu64 "\n", "requests", s->store_requests);
        printf("%-14s%" PRIu64 "\n", "bytes_sent", s->store_bytes_sent);
        printf("%-14s%" PRIu64 "\n", "bytes_recvd", s->store_bytes_received);
        printf("%-14s%" PRIu64 " hits, %" PRIu64 " misses\n", "memory_cache", s->cache_hits,
               s->cache_misses);
    }
    if (s->disk_cache_dir) { /* the cache a remote store is read through */
        printf("%-14s%s\n", "disk_cache", s->disk_cache_dir);
        printf("  %-12s%" PRIu64 " of %" PRIu64 " bytes (cache.size)\n", "size",
               s->disk_cache_bytes, s->disk_cache_bound);
        printf("  %-12s%" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " damaged\n", "lookups",
               s->disk_cache_hits, s->disk_cache_misses, s->disk_cache_damaged);
    }
}

/* The time of the newest checkpoint record in the operation log (0: none). */
typedef struct last_ckpt {
    int64_t ns;
} last_ckpt;

static int ckpt_cb(const cairn_oplog_record *r, void *payload)
{
    last_ckpt *l = payload;
    if (r->kind == CAIRN_OPLOG_CHECKPOINT && r->time_ns > l->ns) l->ns = r->time_ns;
    return 0;
}

static int last_checkpoint(int64_t *out, cairn_db *db, const cairn_db_stats *s)
{
    last_ckpt l = { s->last_checkpoint_ns };
    int rc = cairn_oplog(db, 0, 0, 0, ckpt_cb, &l);
    if (rc == CAIRN_EUNSUPPORTED) cairn_error_clear(); /* no log: no checkpoints to show */
    else if (rc != CAIRN_OK) return cli_lib_err(rc);
    *out = l.ns;
    return EXIT_OK;
}

static void print_working_text(const cairn_db_stats *s, int64_t ckpt_ns)
{
    char when[WHEN_MS_SIZE] = "none";
    if (ckpt_ns) when_format_ms(when, ckpt_ns);
    printf("\nworking set\n");
    if (s->wal_location == CAIRN_WAL_NONE)
        printf("  %-18s%s\n", "wal", "none: the store keeps no files and no wal_dir was given "
               "(writes are checkpointed)");
    else if (s->wal_location == CAIRN_WAL_DIR)
        printf("  %-18s%s\n", "wal", "in wal_dir");
    printf("  %-18s%" PRIu64 " (%" PRIu64 " segment%s)\n", "wal_bytes", s->wal_bytes,
           s->wal_segments, cli_plural(s->wal_segments));
    printf("  %-18s%" PRIu64 "\n", "oplog_segments", s->oplog_segments);
    printf("  %-18s%" PRIu64 " (synced %" PRIu64 ")\n", "wal_last_seq", s->wal_last_seq,
           s->wal_synced_seq);
    printf("  %-18s%" PRIu64 "\n", "tree_seq", s->tree_seq);
    printf("  %-18s%" PRIu64 " (%" PRIu64 " entries)\n", "memtable_bytes", s->memtable_bytes,
           s->memtable_entries);
    printf("  %-18s%s\n", "last_checkpoint", when);
    printf("  %-18s%.6f s (%" PRIu64 " record%s replayed)\n", "recovery",
           (double)s->recovery_ns / 1e9, s->recovered_records, cli_plural(s->recovered_records));
}

/* A table's section; a collection's (kind "collection") names its documents table's entries
 * "documents" and starts with its number of indexes. */
static void print_table_text(const char *kind, const char *name, const cairn_table_stats *s,
                             const uint64_t *indexes)
{
    bool coll = indexes != NULL;
    printf("\n%s %s\n", kind, name);
    if (coll) printf("  %-12s%" PRIu64 "\n", "indexes", *indexes);
    printf("  %-12s%" PRIu64 "\n", coll ? "documents" : "entries", s->entries);
    printf("  %-12s%" PRIu32 "\n", "depth", s->depth);
    printf("  %-12s%" PRIu64 " (%" PRIu64 " leaves)\n", "nodes", s->nodes, s->leaf_nodes);
    printf("  %-12s%" PRIu64 "\n", "bytes", s->bytes);
    printf("  %-12smin %" PRIu32 "  median %" PRIu32 "  max %" PRIu32 "\n", "node_size",
           s->node_min, s->node_median, s->node_max);
    printf("  %-12smin %" PRIu32 "  median %" PRIu32 "  max %" PRIu32 "\n", "leaf_size",
           s->leaf_min, s->leaf_median, s->leaf_max);
    printf("  size_histogram (nodes by size)\n");
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (!s->size_hist[i]) continue;
        char label[32];
        if (i + 1 < HIST_BUCKETS) snprintf(label, sizeof label, "%2d-%2d KiB", i, i + 1);
        else snprintf(label, sizeof label, "  >=%d KiB", i);
        printf("    %-12s%" PRIu64 "\n", label, s->size_hist[i]);
    }
}

static json_t *working_json(const cairn_db_stats *s, int64_t ckpt_ns)
{
    char when[WHEN_MS_SIZE];
    if (ckpt_ns) when_format_ms(when, ckpt_ns);
    const char *where = s->wal_location == CAIRN_WAL_NONE  ? "none"
                        : s->wal_location == CAIRN_WAL_DIR ? "wal_dir"
                                                           : "store";
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:I,s:s}", "wal_bytes",
                     (json_int_t)s->wal_bytes, "wal_segments", (json_int_t)s->wal_segments,
                     "oplog_segments", (json_int_t)s->oplog_segments, "wal_last_seq",
                     (json_int_t)s->wal_last_seq, "wal_synced_seq", (json_int_t)s->wal_synced_seq,
                     "tree_seq", (json_int_t)s->tree_seq, "memtable_bytes",
                     (json_int_t)s->memtable_bytes, "memtable_entries",
                     (json_int_t)s->memtable_entries, "last_checkpoint",
                     ckpt_ns ? json_string(when) : json_null(), "recovery_ns",
                     (json_int_t)s->recovery_ns, "recovered_records",
                     (json_int_t)s->recovered_records, "wal", where);
}

static json_t *db_json(const cairn_db_stats *s, size_t colls, int64_t ckpt_ns)
{
    json_t *j = json_pack("{s:{s:I,s:I,s:I,s:I,s:I},s:o,s:[],s:[]}", "repository", "chunks",
                          (json_int_t)s->chunks, "stored_bytes", (json_int_t)s->stored_bytes,
                          "packs", (json_int_t)s->packs, "tables", (json_int_t)s->tables,
                          "collections", (json_int_t)colls, "working_set",
                          working_json(s, ckpt_ns), "tables", "collections");
    if (j && s->store_requests) /* a remote store: what this command cost */
        json_object_set_new(json_object_get(j, "repository"), "remote",
                            json_pack("{s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)s->store_requests,
                                      "bytes_sent", (json_int_t)s->store_bytes_sent,
                                      "bytes_received", (json_int_t)s->store_bytes_received,
                                      "memory_cache_hits", (json_int_t)s->cache_hits,
                                      "memory_cache_misses", (json_int_t)s->cache_misses));
    if (j && s->disk_cache_dir)
        json_object_set_new(json_object_get(j, "repository"), "disk_cache",
                            json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "dir", s->disk_cache_dir,
                                      "bytes", (json_int_t)s->disk_cache_bytes, "bound",
                                      (json_int_t)s->disk_cache_bound, "hits",
                                      (json_int_t)s->disk_cache_hits, "misses",
                                      (json_int_t)s->disk_cache_misses, "damaged",
                                      (json_int_t)s->disk_cache_damaged));
    return j;
}

static json_t *table_json(const char *name, const cairn_table_stats *s)
{
    json_t *hist = json_array();
    for (int i = 0; hist && i < HIST_BUCKETS; i++)
        json_array_append_new(hist, json_integer((json_int_t)s->size_hist[i]));
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:o}", "name", name,
                     "entries", (json_int_t)s->entries, "depth", (json_int_t)s->depth, "nodes",
                     (json_int_t)s->nodes, "leaf_nodes", (json_int_t)s->leaf_nodes, "bytes",
                     (json_int_t)s->bytes, "node_size", "min", (json_int_t)s->node_min, "median",
                     (json_int_t)s->node_median, "max", (json_int_t)s->node_max, "leaf_size",
                     "min", (json_int_t)s->leaf_min, "median", (json_int_t)s->leaf_median, "max",
                     (json_int_t)s->leaf_max, "size_hist", hist);
}

/* Prints every table's stats (into doc's "tables" array when doc is not NULL). */
static int tables_stats(cairn_db *db, const names *ns, json_t *doc)
{
    for (size_t i = 0; i < ns->n; i++) {
        cairn_table *t;
        int code = cli_table(&t, db, ns->v[i], 0);
        if (code != EXIT_OK) return code;
        cairn_table_stats s;
        int rc = cairn_table_stats_get(&s, t, NULL);
        cairn_table_close(t);
        if (rc != CAIRN_OK) return cli_lib_err(rc);
        if (!doc) print_table_text("table", ns->v[i], &s, NULL);
        else if (json_array_append_new(json_object_get(doc, "tables"), table_json(ns->v[i], &s)))
            return cli_err(EXIT_FAIL, "out of memory building the JSON output");
    }
    return EXIT_OK;
}

static int count_index(const cairn_index_info *info, void *payload)
{
    (void)info;
    (*(uint64_t *)payload)++;
    return 0;
}

/* A collection's indexes and the stats of its documents table. */
static int coll_stats(cairn_table_stats *out, uint64_t *indexes, cairn_db *db, const char *name)
{
    cairn_coll *c = NULL;
    int rc = cairn_coll_open(&c, db, name, 0);
    *indexes = 0;
    if (rc == CAIRN_OK) rc = cairn_doc_index_list(c, NULL, count_index, indexes);
    cairn_coll_close(c);
    char tname[CLI_COLL_TABLE_SIZE];
    cairn_table *t = NULL;
    if (rc == CAIRN_OK)
        rc = cairn_table_open(&t, db, cli_coll_table(tname, name), CAIRN_TABLE_INTERNAL);
    if (rc == CAIRN_OK) rc = cairn_table_stats_get(out, t, NULL);
    cairn_table_close(t);
    return rc;
}

/* Prints every collection's stats (into doc's "collections" array when doc is not NULL). */
static int colls_stats(cairn_db *db, const names *cs, json_t *doc)
{
    for (size_t i = 0; i < cs->n; i++) {
        cairn_table_stats s;
        uint64_t indexes;
        int rc = coll_stats(&s, &indexes, db, cs->v[i]);
        if (rc != CAIRN_OK) return cli_lib_err(rc);
        if (!doc) {
            print_table_text("collection", cs->v[i], &s, &indexes);
            continue;
        }
        json_t *o = table_json(cs->v[i], &s);
        if (!o || json_object_set_new(o, "indexes", json_integer((json_int_t)indexes)) ||
            json_array_append_new(json_object_get(doc, "collections"), o))
            return cli_err(EXIT_FAIL, "out of memory building the JSON output");
    }
    return EXIT_OK;
}

/* The repository and its working set: printed as text, or as the start of *doc for --json. */
static int stats_head(json_t **doc, cairn_db *db, const cairn_db_stats *ds, size_t colls,
                      bool json)
{
    int64_t ckpt_ns = 0;
    int code = last_checkpoint(&ckpt_ns, db, ds);
    *doc = NULL;
    if (code != EXIT_OK) return code;
    if (json) {
        *doc = db_json(ds, colls, ckpt_ns);
        return *doc ? EXIT_OK : cli_err(EXIT_FAIL, "out of memory building the JSON output");
    }
    print_db_text(ds, colls);
    print_working_text(ds, ckpt_ns);
    return EXIT_OK;
}

static int stats(cairn_db *db, bool json)
{
    cairn_db_stats ds;
    int rc = cairn_db_stats_get(&ds, db);
    names ns = { NULL, 0 }, cs = { NULL, 0 };
    if (rc == CAIRN_OK) rc = cairn_table_list(db, NULL, collect, &ns);
    if (rc == CAIRN_OK) rc = cairn_coll_list(db, NULL, collect, &cs);
    if (rc != CAIRN_OK) {
        names_free(&ns);
        names_free(&cs);
        return cli_lib_err(rc);
    }
    json_t *doc;
    int code = stats_head(&doc, db, &ds, cs.n, json);
    if (code == EXIT_OK) code = tables_stats(db, &ns, doc);
    if (code == EXIT_OK) code = colls_stats(db, &cs, doc);
    if (code == EXIT_OK && doc) {
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(doc);
    names_free(&ns);
    names_free(&cs);
    return code;
}

int cmd_stats(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    code = stats(db, a->opt[OPT_JSON] != NULL);
    return cli_close(db, code);
}
