/*
 * repo.c - opening and creating repositories, the root record and table descriptor codecs, and
 * publishing a new working state (write, flush, then compare-and-swap the working ref).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/varint.h"
#include "repo.h"
#include "store/store.h"
#include "history.h"
#include "gc.h"
#include "refs.h"
#include "tree/tree.h"

#define DEFAULT_CACHE_BYTES (256u << 20)

#define ROOTREC_FIXED (2 + 32 + 32 + 8)

size_t rootrec_encode(uint8_t *out, const rootrec *rec)
{
    out[0] = CHUNK_KIND_ROOT;
    out[1] = ROOTREC_VERSION;
    memcpy(out + 2, rec->catalog.bytes, 32);
    memcpy(out + 34, rec->base_commit.bytes, 32);
    store_le64(out + 66, rec->wal_seq);
    size_t n = ROOTREC_FIXED;
    out[n++] = rec->nmerge; /* a varint below 128 is one byte */
    for (uint8_t i = 0; i < rec->nmerge; i++, n += 32) memcpy(out + n, rec->merge[i].bytes, 32);
    return n;
}

int rootrec_decode(rootrec *out, const uint8_t *p, size_t len)
{
    FAIL_IF(len < ROOTREC_FIXED + 1, CAIRN_ECORRUPT, "root record of %zu bytes is truncated", len);
    FAIL_IF(p[0] != CHUNK_KIND_ROOT, CAIRN_ECORRUPT, "chunk kind %u is not a root record", p[0]);
    FAIL_IF(p[1] != ROOTREC_VERSION, CAIRN_ECORRUPT,
            "root record version %u is not supported (this build reads version %d)", p[1],
            ROOTREC_VERSION);
    uint8_t n = p[ROOTREC_FIXED];
    FAIL_IF(n > ROOTREC_MAX_MERGE, CAIRN_ECORRUPT, "root record lists %u merge parents, over %d",
            n, ROOTREC_MAX_MERGE);
    FAIL_IF(len != ROOTREC_FIXED + 1 + (size_t)n * 32, CAIRN_ECORRUPT,
            "root record is %zu bytes; its fields describe %zu", len,
            ROOTREC_FIXED + 1 + (size_t)n * 32);
    memset(out, 0, sizeof *out);
    memcpy(out->catalog.bytes, p + 2, 32);
    memcpy(out->base_commit.bytes, p + 34, 32);
    out->wal_seq = load_le64(p + 66);
    out->nmerge = n;
    for (uint8_t i = 0; i < n; i++) memcpy(out->merge[i].bytes, p + ROOTREC_FIXED + 1 + 32 * i, 32);
    return CAIRN_OK;
}

int rootrec_load(repo *r, rootrec *out, const cairn_id *id)
{
    chunk *c;
    TRY(cs_get(&r->cs, &c, id));
    int rc = rootrec_decode(out, c->data, c->len);
    chunk_release(c);
    if (rc < 0) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, id);
        return cairn_error_prefix(rc, "root record %s", hex);
    }
    return CAIRN_OK;
}

int tabledesc_encode(cairn_buf *buf, const tabledesc *d)
{
    uint8_t b[2 + 32 + 1];
    b[0] = TABLEDESC_VERSION;
    b[1] = d->kind;
    memcpy(b + 2, d->root.bytes, 32);
    b[34] = 0; /* no options */
    return cairn_buf_set(buf, b, sizeof b);
}

int tabledesc_decode(tabledesc *out, const uint8_t *p, size_t len)
{
    FAIL_IF(len < 35, CAIRN_ECORRUPT, "table descriptor of %zu bytes is truncated", len);
    FAIL_IF(p[0] != TABLEDESC_VERSION, CAIRN_ECORRUPT,
            "table descriptor version %u is not supported", p[0]);
    FAIL_IF(p[1] != TABLE_KIND_KV, CAIRN_ECORRUPT, "table kind %u is unknown", p[1]);
    uint64_t optlen;
    size_t n = varint_get(p + 34, p + len, &optlen);
    FAIL_IF(n == 0 || 34 + n + optlen != len, CAIRN_ECORRUPT,
            "table descriptor options are malformed");
    out->kind = p[1];
    memcpy(out->root.bytes, p + 2, 32);
    return CAIRN_OK;
}

bool table_name_internal(const char *name)
{
    return strncmp(name, CAIRN_TABLE_RESERVED_PREFIX, strlen(CAIRN_TABLE_RESERVED_PREFIX)) == 0;
}

int table_name_check(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    FAIL_IF(n == 0, CAIRN_EINVAL, "table name is empty");
    FAIL_IF(n > CAIRN_TABLE_NAME_LEN_MAX, CAIRN_EINVAL, "table name of %zu bytes is over the %u byte limit",
            n, CAIRN_TABLE_NAME_LEN_MAX);
    const uint8_t *p = (const uint8_t *)name;
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        FAIL_IF(c < 0x20 || c == 0x7f || c == '/', CAIRN_EINVAL,
                "table name '%s' contains a control character or '/'", name);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        FAIL_IF(len == 0 || i + len > n, CAIRN_EINVAL, "table name '%s' is not valid UTF-8", name);
        for (size_t j = 1; j < len; j++)
            FAIL_IF((p[i + j] & 0xc0) != 0x80, CAIRN_EINVAL, "table name '%s' is not valid UTF-8",
                    name);
        i += len;
    }
    return CAIRN_OK;
}

char *repo_working_ref(const repo *r) { return cairn_sprintf("working/%s", r->branch); }

/* The working state of a branch that has none yet: its head commit's catalog (or the empty
 * catalog for a branch without commits). */
int repo_fresh_working(repo *r, const cairn_id *commit_id, rootrec *out)
{
    memset(out, 0, sizeof *out);
    if (!commit_id || id_is_zero(commit_id)) return tree_empty(&r->cs, &out->catalog);
    commit c;
    TRY(history_load(r, commit_id, &c));
    out->catalog = c.catalog;
    out->base_commit = *commit_id;
    commit_dispose(&c);
    return CAIRN_OK;
}

/* A new repository: branch main (no commits yet), its empty working state, HEAD. */
static int initialise(repo *r, cairn_id *out_id, rootrec *out_rec)
{
    rootrec rec;
    TRY(repo_fresh_working(r, NULL, &rec));
    cairn_id id;
    TRY(repo_publish(r, &id, NULL, &rec));
    int rc = refs_set_head(r, REPO_DEFAULT_BRANCH, NULL);
    if (rc < 0 && rc != CAIRN_ECONFLICT) return rc;
    *out_id = id;
    *out_rec = rec;
    return CAIRN_OK;
}

int repo_head_working(repo *r, rootrec *out)
{
    cairn_id head = { { 0 } };
    if (r->detached) head = r->detached_at;
    else {
        char ref[BRANCH_MAX + 8];
        snprintf(ref, sizeof ref, "heads/%s", r->branch);
        int rc = refs_target(r, ref, &head);
        if (rc == CAIRN_ENOTFOUND) memset(&head, 0, sizeof head), cairn_error_clear(); /* no commits yet */
        else if (rc < 0) return rc;
    }
    return repo_fresh_working(r, &head, out);
}

void repo_working_lost(repo *r, const cairn_id *rec_id)
{
    r->working_missing = true;
    r->missing_rec = *rec_id;
    r->readonly = true;
    r->working_fresh = false;
}

#define READER_SAME_TRIES 3 /* a reader's loads of a state its ref still names, after the first */

int repo_load_working(repo *r, cairn_id *out_id, rootrec *out_rec)
{
    char *wref = repo_working_ref(r);
    FAIL_IF(!wref, CAIRN_ENOMEM, "out of memory");
    r->working_fresh = false;
    int rc = refs_read_id(r, wref, out_id);
    bool named = rc == CAIRN_OK;
    if (rc == CAIRN_OK) rc = rootrec_load(r, out_rec, out_id);
    /* A reader may read the ref just before the writer moves it and collects the state it named:
     * the record is gone and the ref names a newer one. Or, the ref the same, its view of the
     * store may lag behind a writer compacting it (the record moving from one pack to another
     * as it looks): it asks again, a few times, a moment apart, before calling it damage. */
    for (int tries = 0, same = 0; named && rc == CAIRN_ENOTFOUND && tries < 8; tries++) {
        cairn_id again;
        int rr = refs_read_id(r, wref, &again);
        if (rr == CAIRN_ENOTFOUND) { /* the branch went meanwhile: as if never read */
            named = false;
            break;
        }
        if (rr < 0) {
            rc = rr;
            goto out;
        }
        if (memcmp(again.bytes, out_id->bytes, CAIRN_ID_SIZE) == 0) {
            if (!r->readonly || same++ >= READER_SAME_TRIES) break;
            nanosleep(&(struct timespec){ 0, 2000000L * same }, NULL);
        }
        cairn_error_clear();
        *out_id = again;
        rc = rootrec_load(r, out_rec, out_id);
    }
    r->working_missing = false;
    if (named && rc == CAIRN_ENOTFOUND) {
        /* damage, not a race (the ref did not move): the working state is gone, but what it
         * was built on is not. Open read-only at the branch's head; the log may prove more
         * (working.c). Nothing is written: the log and the ref stay for repair. */
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, out_id);
        cairn_diag(CAIRN_LOG_WARN, "%s: ref '%s' names working state %s, which is not in the "
                   "store (damaged or lost): opening read-only at the newest state that can be "
                   "proven; run cairn verify", r->url, wref, hex);
        cairn_error_clear();
        repo_working_lost(r, out_id);
    }
    r->working_fresh = rc == CAIRN_ENOTFOUND && !r->working_missing;
    if (rc == CAIRN_ENOTFOUND) { /* first use of this branch (or a checkout cut short) */
        rc = repo_head_working(r, out_rec);
        if (rc == CAIRN_OK && !r->readonly) rc = repo_publish(r, out_id, NULL, out_rec);
        else if (rc == CAIRN_OK) memset(out_id, 0, sizeof *out_id); /* readers never publish */
    }
out:
    free(wref);
    return rc;
}

int repo_follow_head(repo *r)
{
    char *branch;
    cairn_id at;
    TRY(refs_head(r, &branch, &at));
    free(r->branch);
    r->detached = branch == NULL;
    r->detached_at = at;
    r->branch = branch ? branch : cairn_strdup(REF_HEAD);
    FAIL_IF(!r->branch, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

int repo_open(repo *r, const char *url, cairn_store *store, const cairn_open_options *opts,
              cairn_id *out_id, rootrec *out_rec)
{
    memset(r, 0, sizeof *r);
    cairn_open_options defaults = CAIRN_OPEN_OPTIONS_INIT;
    if (!opts) opts = &defaults;
    if (opts->version < 1 || opts->version > CAIRN_OPEN_OPTIONS_VERSION) {
        if (store) store->close(store);
        return ERR(CAIRN_EINVAL, "open options version %u is not supported", opts->version);
    }
    int rc = CAIRN_OK;
    if (!store) rc = cairn_store_open_url(&store, url, opts->flags, opts->lock_timeout_ms);
    if (rc < 0) return rc;
    if (store->version < 1) {
        store->close(store);
        return ERR(CAIRN_EINVAL, "store backend reports interface version %u", store->version);
    }
    r->store = store;
    r->readonly = (opts->flags & CAIRN_OPEN_READONLY) != 0;
    r->url = cairn_strdup(url ? url : store->location);
    r->branch = cairn_strdup(REPO_DEFAULT_BRANCH);
    int level = opts->compression_level == CAIRN_COMPRESSION_NONE ? -1
                : opts->compression_level ? opts->compression_level : 1;
    if (!r->url || !r->branch) rc = ERR(CAIRN_ENOMEM, "out of memory opening a repository");
    if (rc == CAIRN_OK)
        rc = cs_init(&r->cs, store, opts->cache_bytes ? opts->cache_bytes : DEFAULT_CACHE_BYTES,
                     level);
    int read_threads = opts->version >= 2 ? opts->read_threads : 0;
    if (rc == CAIRN_OK && read_threads != CAIRN_READ_THREADS_NONE)
        rc = cs_start_readahead(&r->cs, read_threads > 0 ? read_threads : -1);
    if (rc == CAIRN_OK) {
        rc = repo_follow_head(r);
        if (rc == CAIRN_ENOTFOUND) {
            if ((opts->flags & CAIRN_OPEN_CREATE) && !r->readonly) {
                rc = initialise(r, out_id, out_rec);
                r->working_fresh = true;
            }
            else
                rc = ERR(CAIRN_ENOTFOUND,
                         "%s holds no cairn repository state (ref HEAD is missing); create one "
                         "with 'cairn init'",
                         r->url);
        } else if (rc == CAIRN_OK) {
            rc = repo_load_working(r, out_id, out_rec);
        }
    }
    if (rc < 0) {
        cairn_error_saved was;
        cairn_error_save(&was);
        repo_close(r);
        cairn_error_restore(&was);
    }
    return rc;
}

int repo_close(repo *r)
{
    gc_watch_free(r);
    cs_dispose(&r->cs);
    if (r->store) r->store->close(r->store);
    free(r->url);
    free(r->branch);
    memset(r, 0, sizeof *r);
    return CAIRN_OK;
}

int repo_stage(repo *r, const rootrec *rec)
{
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    uint8_t buf[ROOTREC_MAX_SIZE];
    size_t n = rootrec_encode(buf, rec);
    cairn_id id;
    return cs_put(&r->cs, &id, NULL, buf, n);
}

/* After the move of working ref wref (old_id -> id) failed with rc other than by a lost
 * compare-and-swap: the answer may have been lost with the move done (a broken connection, a
 * timeout). The ref, read back, tells: naming id, the move happened (CAIRN_OK); still naming
 * old_id (or absent, with none), it did not (rc, its message kept); else *doubt is set. */
static int move_outcome(repo *r, const char *wref, const cairn_id *old_id, const cairn_id *id,
                        int rc, bool *doubt)
{
    char why[600];
    snprintf(why, sizeof why, "%s", cairn_error_last()->message);
    cairn_id now;
    int rrc = refs_read_id(r, wref, &now);
    if (rrc == CAIRN_OK && memcmp(now.bytes, id->bytes, CAIRN_ID_SIZE) == 0) {
        cairn_diag(CAIRN_LOG_INFO, "%s: moving %s reported a failure (%s), but the ref names the "
                   "new state: it was published", r->url, wref, why);
        cairn_error_clear();
        return CAIRN_OK;
    }
    *doubt = old_id ? rrc != CAIRN_OK || memcmp(now.bytes, old_id->bytes, CAIRN_ID_SIZE) != 0
                    : rrc != CAIRN_ENOTFOUND;
    return cairn_error_set(rc, "%s", why);
}

int repo_publish(repo *r, cairn_id *out_id, const cairn_id *old_id, const rootrec *rec)
{
    return repo_publish_checked(r, out_id, old_id, rec, NULL);
}

int repo_publish_checked(repo *r, cairn_id *out_id, const cairn_id *old_id, const rootrec *rec,
                         bool *out_doubt)
{
    if (out_doubt) *out_doubt = false;
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    uint8_t buf[ROOTREC_MAX_SIZE];
    size_t n = rootrec_encode(buf, rec);
    cairn_id id;
    TRY(cs_put(&r->cs, &id, NULL, buf, n)); /* (failures before the move: nothing was sent) */
    TRY(cs_flush(&r->cs));
    char oldv[66], newv[66];
    if (old_id) {
        cairn_id_to_hex(oldv, old_id);
        oldv[64] = '\n';
    }
    cairn_id_to_hex(newv, &id);
    newv[64] = '\n';
    char *wref = repo_working_ref(r);
    FAIL_IF(!wref, CAIRN_ENOMEM, "out of memory");
    int rc = r->store->ref_cas(r->store, wref, old_id ? oldv : NULL, old_id ? 65 : 0, newv, 65);
    if (rc == CAIRN_ECONFLICT)
        rc = ERR(CAIRN_ECONFLICT,
                 "the working state of branch '%s' in %s was changed by someone else; "
                 "reopen the repository and retry",
                 r->branch, r->url);
    else if (rc < 0 && out_doubt)
        rc = move_outcome(r, wref, old_id, &id, rc, out_doubt);
    free(wref);
    if (rc == CAIRN_OK) *out_id = id;
    return rc;
}
