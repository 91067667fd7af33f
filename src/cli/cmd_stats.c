/*
 * cmd_stats.c - `cairn stats`: the repository's store counters and the shape of every table's
 * tree (entries, depth, nodes, node sizes and their histogram), as aligned text or as one JSON
 * object (--json). Process-local counters (cache hits, chunks read) are left out: they describe
 * this run of the command, not the repository, and would make the output unstable.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

static void print_db_text(const cairn_db_stats *s)
{
    printf("%-14s%" PRIu64 "\n", "chunks", s->chunks);
    printf("%-14s%" PRIu64 "\n", "stored_bytes", s->stored_bytes);
    printf("%-14s%" PRIu64 "\n", "packs", s->packs);
    printf("%-14s%" PRIu64 "\n", "tables", s->tables);
}

static void print_table_text(const char *name, const cairn_table_stats *s)
{
    printf("\ntable %s\n", name);
    printf("  %-12s%" PRIu64 "\n", "entries", s->entries);
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

static json_t *db_json(const cairn_db_stats *s)
{
    return json_pack("{s:{s:I,s:I,s:I,s:I},s:[]}", "repository", "chunks",
                     (json_int_t)s->chunks, "stored_bytes", (json_int_t)s->stored_bytes, "packs",
                     (json_int_t)s->packs, "tables", (json_int_t)s->tables, "tables");
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
        if (!doc) print_table_text(ns->v[i], &s);
        else if (json_array_append_new(json_object_get(doc, "tables"), table_json(ns->v[i], &s)))
            return cli_err(EXIT_FAIL, "out of memory building the JSON output");
    }
    return EXIT_OK;
}

static int stats(cairn_db *db, bool json)
{
    cairn_db_stats ds;
    int rc = cairn_db_stats_get(&ds, db);
    names ns = { NULL, 0 };
    if (rc == CAIRN_OK) rc = cairn_table_list(db, NULL, collect, &ns);
    if (rc != CAIRN_OK) {
        names_free(&ns);
        return cli_lib_err(rc);
    }
    json_t *doc = json ? db_json(&ds) : NULL;
    int code = json && !doc ? cli_err(EXIT_FAIL, "out of memory building the JSON output") : EXIT_OK;
    if (code == EXIT_OK && !json) print_db_text(&ds);
    if (code == EXIT_OK) code = tables_stats(db, &ns, doc);
    if (code == EXIT_OK && doc) {
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(doc);
    names_free(&ns);
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
