/*
 * gc_remote.c - the sweep of garbage collection on a remote store (s3, postgres), in two
 * phases with a grace period, because writers on other machines may run at any time.
 *
 * gc.c marks from the refs and lists what nothing reaches (G). Here, instead of deleting G:
 *
 *   - When the ref gc/pending holds candidates recorded at time T by an earlier run and this
 *     run's mark began at least `grace` after T, the candidates that are in G (still
 *     unreachable now) are deleted, the store is compacted (s3: sparse packs rewritten, empty
 *     ones dropped), and the rest of G is recorded as the next candidates.
 *   - When the candidates are younger than the grace, nothing changes at all (recording anew
 *     would restart their clock).
 *   - When there are none, G is recorded as candidates and nothing is deleted.
 *
 * Why a writer is safe (docs/ARCHITECTURE.md, "gc on a remote store"): a writer that found a
 * chunk present (has) before the candidates were recorded publishes its ref within the grace
 * after that, so before the deleting run's mark begins, which then reaches the chunk. A writer
 * that starts after the record reads it first (gc_writer_sync, at every checkpoint and push):
 * on a store with gc generations (CAIRN_STORE_CAP_GC_GEN) its store handle then treats the
 * candidates as absent and writes them again, and the record carries the store's generation
 * taken before it was published, so the deleting run deletes only candidates not written
 * again since (del_older: s3 spares a chunk that lives in a pack newer than the record,
 * postgres a row whose generation was raised).
 *
 * The candidates are chunks of this repository (so an encrypted repository seals them like any
 * chunk): each holds up to LIST_IDS sorted storage keys, and the ref's value (text) names them
 * with the time. The ref is moved by compare-and-swap from the value this run read, so two gc
 * runs at once cannot both record. A run killed at any point leaves the ref at its old value
 * (its deletions were of chunks nothing reached at a mark past the grace): the next run
 * finishes the work. Layouts: docs/FORMAT.md, "gc candidates".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "gc.h"

#define PENDING_REF "gc/pending"
#define PENDING_HEAD "cairn gc pending 2\n"   /* with the store's generation */
#define PENDING_HEAD_V1 "cairn gc pending 1\n" /* without: read, never written */
#define LIST_MAGIC "CAIRNGCC"
#define LIST_HEADER 16                /* magic, u32 version, u32 count */
#define LIST_VERSION 1
#define LIST_IDS 65536                /* keys per candidate chunk: 2 MiB */
#define REF_VALUE_MAX 4096            /* the store interface's limit on a ref's value */
#define LIST_LINE (5 + CAIRN_ID_HEX_SIZE) /* "list " + 64 hex + '\n' */
#define PENDING_FIXED 128             /* room for the header, time and count lines */
#define MAX_LISTS ((REF_VALUE_MAX - PENDING_FIXED) / LIST_LINE)

/* The candidates an earlier run recorded: the ref's value as read, and what it says. */
typedef struct pending {
    cairn_buf raw;                    /* the value, for the compare-and-swap */
    bool exists;
    bool valid;                       /* parsed (a malformed value is replaced, never trusted) */
    int64_t time_ns;
    bool has_gen;                     /* the store's generation when it was recorded */
    uint64_t gen;
    uint64_t count;
    cairn_id lists[MAX_LISTS];
    size_t nlists;
} pending;

static int id_cmp(const void *a, const void *b) { return memcmp(a, b, CAIRN_ID_SIZE); }

/* Whether the store has gc generations (CAIRN_STORE_CAP_GC_GEN). */
static bool gc_gens(const cairn_store *st)
{
    return st->version >= 6 && (st->caps & CAIRN_STORE_CAP_GC_GEN) && st->gc_gen &&
           st->set_candidates && st->del_older;
}

/* Parses "cairn gc pending 2\ntime N\ngen N\ncount N\nlist HEX\n..." (version 1: no gen line). */
static bool pending_parse(pending *pd)
{
    char *text = cairn_malloc(pd->raw.len + 1);
    if (!text) return false;
    memcpy(text, pd->raw.data, pd->raw.len);
    text[pd->raw.len] = '\0';
    size_t hl = strlen(PENDING_HEAD);
    bool v2 = strncmp(text, PENDING_HEAD, hl) == 0;
    bool ok = strlen(text) == pd->raw.len && (v2 || strncmp(text, PENDING_HEAD_V1, hl) == 0);
    enum { F_TIME, F_GEN, F_COUNT, F_LIST };
    static const int v1_fields[] = { F_TIME, F_COUNT }, v2_fields[] = { F_TIME, F_GEN, F_COUNT };
    const int *fields = v2 ? v2_fields : v1_fields;
    size_t nfields = v2 ? ARRAY_LEN(v2_fields) : ARRAY_LEN(v1_fields), field = 0;
    char *save = NULL;
    for (char *l = ok ? strtok_r(text + hl, "\n", &save) : NULL; ok && l;
         l = strtok_r(NULL, "\n", &save), field++) {
        long long t;
        unsigned long long c;
        int used = 0, f = field < nfields ? fields[field] : F_LIST;
        if (f == F_TIME) ok = sscanf(l, "time %lld%n", &t, &used) == 1 && !l[used] && t > 0;
        else if (f == F_GEN) ok = sscanf(l, "gen %llu%n", &c, &used) == 1 && !l[used];
        else if (f == F_COUNT) ok = sscanf(l, "count %llu%n", &c, &used) == 1 && !l[used];
        else ok = pd->nlists < MAX_LISTS && strncmp(l, "list ", 5) == 0 &&
                  cairn_id_from_hex(&pd->lists[pd->nlists++], l + 5) == CAIRN_OK;
        if (ok && f == F_TIME) pd->time_ns = t;
        if (ok && f == F_GEN) pd->gen = c;
        if (ok && f == F_COUNT) pd->count = c;
    }
    pd->has_gen = v2;
    free(text);
    cairn_error_clear();
    return ok && field >= nfields;
}

static int pending_read(repo *r, pending *pd)
{
    memset(pd, 0, sizeof *pd);
    int rc = r->store->ref_get(r->store, &pd->raw, PENDING_REF);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    if (rc < 0) return cairn_error_prefix(rc, "reading the gc candidates (ref %s)", PENDING_REF);
    pd->exists = true;
    pd->valid = pending_parse(pd);
    if (!pd->valid)
        cairn_diag(CAIRN_LOG_WARN, "gc of %s: the ref %s is not a record of gc candidates; it is "
                   "replaced, and nothing it names is deleted", r->url, PENDING_REF);
    return CAIRN_OK;
}

/* Appends the keys of candidate chunk c to *ids; false when c is not a candidate chunk. */
static int list_append(const chunk *c, cairn_id **ids, size_t *n, bool *out_ok)
{
    uint32_t cnt = c->len >= LIST_HEADER ? load_le32(c->data + 12) : 0;
    *out_ok = c->len >= LIST_HEADER && memcmp(c->data, LIST_MAGIC, 8) == 0 &&
              load_le32(c->data + 8) == LIST_VERSION &&
              c->len == LIST_HEADER + (size_t)cnt * CAIRN_ID_SIZE;
    if (!*out_ok || !cnt) return CAIRN_OK;
    cairn_id *grown = cairn_realloc(*ids, (*n + cnt) * sizeof **ids);
    FAIL_IF(!grown, CAIRN_ENOMEM, "out of memory reading %zu gc candidates", *n + cnt);
    memcpy(grown + *n, c->data + LIST_HEADER, (size_t)cnt * CAIRN_ID_SIZE);
    *ids = grown;
    *n += cnt;
    return CAIRN_OK;
}

/* Reads the candidate chunks into one sorted array (caller frees). A chunk that is gone or is
 * not a list of candidates (a damaged record, or one changed by hand) voids the record: nothing
 * is deleted on its word (and this run records afresh). */
static int candidates_load(repo *r, const pending *pd, cairn_id **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    cairn_id *ids = NULL;
    size_t n = 0;
    for (size_t i = 0; i < pd->nlists; i++) {
        chunk *c;
        bool ok = false;
        int rc = cs_get(&r->cs, &c, &pd->lists[i]);
        if (rc == CAIRN_OK) {
            rc = list_append(c, &ids, &n, &ok);
            chunk_release(c);
        }
        if (rc == CAIRN_OK && ok) continue;
        if (rc == CAIRN_OK || rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) {
            cairn_diag(CAIRN_LOG_WARN, "gc of %s: candidate chunk %zu of the ref %s: %s; none "
                       "of its candidates is deleted this time", r->url, i, PENDING_REF,
                       rc == CAIRN_OK ? "is not a list of candidates"
                                      : cairn_error_last()->message);
            rc = CAIRN_OK;
            cairn_error_clear();
        }
        free(ids);
        return rc; /* EIO, ENOMEM: gc stops before deleting anything */
    }
    qsort(ids, n, sizeof *ids, id_cmp);
    *out = ids;
    *out_n = n;
    return CAIRN_OK;
}

/* Stores ids (sorted) as candidate chunks and builds the ref's value into val. At most
 * MAX_LISTS chunks: what does not fit waits for a later run. */
static int candidates_store(repo *r, const cairn_id *ids, size_t n, int64_t now, cairn_buf *val,
                            uint64_t *out_recorded)
{
    size_t take = MIN(n, (size_t)MAX_LISTS * LIST_IDS);
    /* the generation before the record is published: a writer that reads the record writes
     * the candidates it needs again, above this generation, and the deletion spares them */
    uint64_t gen = 0;
    if (gc_gens(r->store))
        TRY_CTX(r->store->gc_gen(r->store, &gen), "reading the generation of %s", r->url);
    char line[PENDING_FIXED];
    int len = snprintf(line, sizeof line, PENDING_HEAD "time %" PRId64 "\ngen %" PRIu64
                       "\ncount %zu\n", now, gen, take);
    val->len = 0;
    TRY(cairn_buf_append(val, line, (size_t)len));
    cairn_buf chunkbuf = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t at = 0; rc == CAIRN_OK && at < take; at += LIST_IDS) {
        uint32_t cnt = (uint32_t)MIN((size_t)LIST_IDS, take - at);
        uint8_t h[LIST_HEADER];
        memcpy(h, LIST_MAGIC, 8);
        store_le32(h + 8, LIST_VERSION);
        store_le32(h + 12, cnt);
        chunkbuf.len = 0;
        rc = cairn_buf_append(&chunkbuf, h, sizeof h);
        if (rc == CAIRN_OK)
            rc = cairn_buf_append(&chunkbuf, ids + at, (size_t)cnt * CAIRN_ID_SIZE);
        cairn_id id;
        if (rc == CAIRN_OK) rc = cs_put(&r->cs, &id, NULL, chunkbuf.data, chunkbuf.len);
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &id);
        len = snprintf(line, sizeof line, "list %s\n", hex);
        if (rc == CAIRN_OK) rc = cairn_buf_append(val, line, (size_t)len);
    }
    cairn_buf_dispose(&chunkbuf);
    if (rc == CAIRN_OK) rc = cs_flush(&r->cs); /* the chunks before the ref that names them */
    *out_recorded = take;
    return rc;
}

/* Moves gc/pending from what this run read to val (NULL: removes it). */
static int pending_swap(repo *r, const pending *pd, const cairn_buf *val)
{
    const void *expect = pd->exists ? pd->raw.data : NULL;
    int rc = r->store->ref_cas(r->store, PENDING_REF, expect, pd->exists ? pd->raw.len : 0,
                               val ? val->data : NULL, val ? val->len : 0);
    if (rc == CAIRN_ECONFLICT)
        return ERR(CAIRN_ECONFLICT, "gc of %s: another gc recorded its own candidates while this "
                   "one ran (the ref %s moved); what this one deleted was unreachable past its "
                   "grace, so nothing is lost: run gc again later",
                   r->url, PENDING_REF);
    return rc < 0 ? cairn_error_prefix(rc, "recording the gc candidates of %s", r->url) : rc;
}

/* Deletes doomed[0..n) (candidates still garbage): with the record's generation, only those
 * not written again since (the others go to next); without, all. */
static int delete_doomed(repo *r, const pending *pd, const cairn_id *doomed, size_t n,
                         cairn_id *next, size_t *nnext, cairn_gc_stats *st)
{
    cairn_store *s = r->store;
    bool *kept = NULL;
    if (n && pd->has_gen && gc_gens(s)) {
        kept = cairn_calloc(n, sizeof *kept);
        FAIL_IF(!kept, CAIRN_ENOMEM, "out of memory deleting %zu gc candidates", n);
        int rc = s->del_older(s, doomed, n, pd->gen, kept);
        if (rc < 0) {
            free(kept);
            return cairn_error_prefix(rc, "deleting gc candidates of %s", r->url);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (kept && kept[i]) { /* a writer wrote it again: it may be about to name it */
            next[(*nnext)++] = doomed[i];
            st->chunks_spared++;
            continue;
        }
        if (!kept) {
            int rc = s->del(s, &doomed[i]);
            if (rc < 0) return rc; /* (kept is NULL here) */
        }
        cache_drop(r->cs.cache, &doomed[i]); /* the write path takes "cached" for "stored" */
        st->chunks_deleted++;
    }
    free(kept);
    return CAIRN_OK;
}

/* Deletes the garbage that is also a candidate; keeps the rest in *next. */
static int delete_candidates(repo *r, const pending *pd, const cairn_id *garbage, size_t n,
                             const cairn_id *cand, size_t ncand, cairn_id *next,
                             size_t *out_next, cairn_gc_stats *st)
{
    size_t keep = 0, ndoomed = 0;
    cairn_id *doomed = cairn_malloc((n ? n : 1) * sizeof *doomed);
    FAIL_IF(!doomed, CAIRN_ENOMEM, "out of memory collecting garbage");
    for (size_t i = 0; i < n; i++) {
        if (ncand && bsearch(&garbage[i], cand, ncand, sizeof *cand, id_cmp))
            doomed[ndoomed++] = garbage[i];
        else
            next[keep++] = garbage[i];
    }
    int rc = delete_doomed(r, pd, doomed, ndoomed, next, &keep, st);
    free(doomed);
    *out_next = keep;
    return rc == CAIRN_OK ? cs_flush(&r->cs) : rc;
}

/* Removes the store's orphans (objects no index names) older than the grace. */
static int remove_orphans(repo *r, const gc_params *p, cairn_gc_stats *st)
{
    cairn_store *s = r->store;
    if (s->version < 6 || !s->remove_orphans) return CAIRN_OK;
    int rc = s->remove_orphans(s, p->grace, &st->orphans_removed, &st->orphan_bytes);
    return rc < 0 ? cairn_error_prefix(rc, "removing orphan objects of %s", r->url) : rc;
}

int gc_remote_sweep(repo *r, const gc_params *p, const cairn_id *garbage, size_t n,
                    int64_t mark_started_ns, cairn_gc_stats *st)
{
    st->two_phase = 1;
    st->grace_seconds = p->grace;
    int64_t now = clock_wall_ns();
    pending pd;
    TRY(pending_read(r, &pd));
    cairn_id *cand = NULL, *next = NULL;
    size_t ncand = 0, nnext = 0;
    int rc = CAIRN_OK;
    if (pd.valid) {
        st->pending_age = (double)(now - pd.time_ns) / 1e9;
        /* the mark must have begun a whole grace after the candidates were recorded */
        if ((double)(mark_started_ns - pd.time_ns) / 1e9 < p->grace) {
            st->candidates_waiting = pd.count;
            if (!p->dry_run) rc = remove_orphans(r, p, st); /* their age is their own */
            goto out;
        }
        rc = candidates_load(r, &pd, &cand, &ncand);
    }
    if (rc < 0 || p->dry_run) goto out;
    next = cairn_malloc((n ? n : 1) * sizeof *next);
    rc = next ? delete_candidates(r, &pd, garbage, n, cand, ncand, next, &nnext, st)
              : ERR(CAIRN_ENOMEM, "out of memory collecting garbage");
    if (rc == CAIRN_OK) rc = remove_orphans(r, p, st);
    if (rc == CAIRN_OK && st->chunks_deleted && p->min_live >= 0)
        rc = gc_compact(r, p->min_live, st);
    if (rc == CAIRN_OK && nnext) {
        qsort(next, nnext, sizeof *next, id_cmp);
        cairn_buf val = CAIRN_BUF_INIT;
        rc = candidates_store(r, next, nnext, clock_wall_ns(), &val, &st->candidates_recorded);
        if (rc == CAIRN_OK) rc = pending_swap(r, &pd, &val);
        cairn_buf_dispose(&val);
    } else if (rc == CAIRN_OK && pd.exists) {
        rc = pending_swap(r, &pd, NULL);
    }
out:
    free(cand);
    free(next);
    cairn_buf_dispose(&pd.raw);
    return rc;
}

void gc_traffic(repo *r, uint64_t out[3])
{
    cairn_store_stats ss;
    memset(&ss, 0, sizeof ss);
    out[0] = out[1] = out[2] = 0;
    if (!r->store->stat || r->store->version < 5) return;
    if (r->store->stat(r->store, &ss) == CAIRN_OK) {
        out[0] = ss.requests;
        out[1] = ss.bytes_sent;
        out[2] = ss.bytes_received;
    } else {
        cairn_error_clear(); /* only counters: gc goes on without them */
    }
}

/* ---- the writers' side ---- */

/* What gc_writer_sync last read: the ref's value, whose candidates the store holds. */
struct gc_watch {
    cairn_buf raw;
    bool exists;
    bool read;
};

void gc_watch_free(repo *r)
{
    gc_watch *w = r->gc_watch;
    if (!w) return;
    cairn_buf_dispose(&w->raw);
    free(w);
    r->gc_watch = NULL;
}

int gc_writer_sync(repo *r)
{
    if (r->readonly || !gc_gens(r->store)) return CAIRN_OK;
    if (!r->gc_watch) {
        r->gc_watch = cairn_calloc(1, sizeof *r->gc_watch);
        FAIL_IF(!r->gc_watch, CAIRN_ENOMEM, "out of memory opening %s", r->url);
    }
    gc_watch *w = r->gc_watch;
    pending pd;
    TRY(pending_read(r, &pd));
    bool same = w->read && pd.exists == w->exists && pd.raw.len == w->raw.len &&
                (!pd.exists || memcmp(pd.raw.data, w->raw.data, pd.raw.len) == 0);
    cairn_id *cand = NULL;
    size_t ncand = 0;
    int rc = same || !pd.valid ? CAIRN_OK : candidates_load(r, &pd, &cand, &ncand);
    /* (the store also reads its index on: the run that made this record may have deleted
     * chunks of the one before; the chunk cache is not asked on puts: cs.put_through) */
    if (!same && rc == CAIRN_OK) rc = r->store->set_candidates(r->store, cand, ncand);
    free(cand);
    if (same || rc < 0) {
        cairn_buf_dispose(&pd.raw);
        return rc < 0 ? cairn_error_prefix(rc, "reading the gc candidates of %s", r->url) : rc;
    }
    cairn_buf_dispose(&w->raw);
    w->raw = pd.raw;
    w->exists = pd.exists;
    w->read = true;
    return CAIRN_OK;
}
