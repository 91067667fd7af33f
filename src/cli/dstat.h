/*
 * dstat.h - per-table counts of the differences between two versions, for `diff --stat`,
 * `show` and `status`: keys added, removed and modified in each table, and whether the table
 * itself is new or dropped (which an empty table would not show in counts).
 *
 * The old side may be "nothing" (a root commit, a branch before its first commit): then every
 * entry of the new side counts as added.
 */
#ifndef CAIRN_CLI_DSTAT_H
#define CAIRN_CLI_DSTAT_H

#include <stdbool.h>
#include <stdint.h>

#include "cairn.h"

typedef struct dstat_table {
    char *name;              /* a table's, or a collection's (coll) */
    bool coll;
    bool in_old, in_new;
    bool indexes, settings;  /* a collection's index catalog, retention policy changed */
    uint64_t added, removed, modified;
} dstat_table;

typedef struct dstat {
    dstat_table *t;          /* in name order */
    size_t n, cap;
} dstat;

/** Counts the differences from old_rev (NULL: nothing) to new_rev (either may be "WORKING"),
 *  over every table and collection, or the one named table (NULL: all). A collection counts
 *  documents (the entries of its documents table) and comes after the tables.
 *  @return EXIT_OK, or an exit code after printing why (EXIT_NOTFOUND for an unknown revision,
 *          or a table in neither version). */
int dstat_compute(dstat *out, cairn_db *db, const char *old_rev, const char *new_rev,
                  const char *table);

/** @return whether table i differs at all (changed entries, created or dropped, or a
 *          collection's indexes or settings). */
bool dstat_changed(const dstat *s, size_t i);

/** Prints one line per changed table, each after indent: "NAME: 2 added, 0 removed, 1 modified"
 *  with " (new table)" or " (dropped table)" appended, NAME escaped as scan escapes keys; a
 *  collection's line starts "collection NAME" and may end " (new collection)", " (dropped
 *  collection)", and (not dropped) "indexes changed" and "settings changed" (its index catalog,
 *  its retention policy) in the same parentheses. With json one object a line ("table" or
 *  "collection", the latter with "indexes_changed" and "settings_changed"). (Other internal
 *  tables are never counted: the library's listings leave them out.)
 *  @return EXIT_OK, or EXIT_FAIL after printing why. */
int dstat_print(const dstat *s, bool json, const char *indent);

/** Frees what dstat_compute() filled in (a zeroed dstat too). */
void dstat_dispose(dstat *s);

#endif /* CAIRN_CLI_DSTAT_H */
