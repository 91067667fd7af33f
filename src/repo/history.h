/*
 * history.h - the commit graph: loading commits, walking history newest first, ancestry,
 * merge bases, and resolving revision strings (branch, tag, id or unique prefix, REV~N,
 * REV^N, BRANCH@{time}).
 */
#ifndef CAIRN_HISTORY_H
#define CAIRN_HISTORY_H

#include "commit.h"
#include "repo.h"

/** Loads and decodes a commit; CAIRN_ENOTFOUND / CAIRN_ECORRUPT name the id. Dispose *out. */
int history_load(repo *r, const cairn_id *id, commit *out);

/** Calls cb for every commit reachable from starts, each once, newest commit time first (ties:
 *  id order). A non-zero return from cb stops and is returned. */
int history_walk(repo *r, const cairn_id *starts, size_t n,
                 int (*cb)(const cairn_id *id, const commit *c, void *payload), void *payload);

/** Whether anc is desc or one of its ancestors. */
int history_is_ancestor(repo *r, const cairn_id *anc, const cairn_id *desc, bool *out);

/** The best common ancestors of a and b: common ancestors that are not ancestors of other
 *  common ancestors (more than one after criss-cross merges). Sorted by id. Caller frees *out;
 *  *n may be 0 (unrelated histories). */
int history_merge_bases(repo *r, const cairn_id *a, const cairn_id *b, cairn_id **out, size_t *n);

/** Resolves a revision to a commit id. Forms: HEAD, BRANCH, TAG, heads/B, tags/T, an id or a
 *  unique prefix of at least 4 hex digits, followed by any of ~N (N-th first-parent ancestor),
 *  ^N (N-th parent; ^ = ^1), and, directly after a branch or tag, @{TIME} (where the ref was at
 *  TIME, in cairn_time_parse()'s grammar: 2026-11-21T15:04:05Z, a date, @SECONDS, yesterday,
 *  3 hours ago...) or @{N} (N moves ago). */
int history_resolve(repo *r, const char *rev, cairn_id *out);

/** Parses a time as history_resolve does inside @{...} (cairn_time_parse() relative to the
 *  current time); nanoseconds since the epoch, UTC. */
int history_parse_time(const char *s, int64_t *out);

#endif /* CAIRN_HISTORY_H */
