/*
 * history.c - the public face of versions: commits, log, snapshots at a revision, branches,
 * tags, checkout and reflogs, over repo/refs.c and repo/history.c.
 *
 * Every operation that moves something runs under the db's writer mutex, so it sees the current
 * working state and publishes its successor with one compare-and-swap.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vc/vc.h"
#include "repo/history.h"
#include "repo/refs.h"
#include "vc/sig.h"

#define WORKING_REV "WORKING"

static int check_writable(cairn_db *db)
{
    FAIL_IF(db->r.readonly, CAIRN_EREADONLY, "repository %s was opened read-only", db->r.url);
    return CAIRN_OK;
}

/* "heads/<current branch>" into buf; false when HEAD is detached. */
static bool current_head_ref(cairn_db *db, char *buf, size_t cap)
{
    if (db->r.detached) return false;
    snprintf(buf, cap, "heads/%s", db->r.branch);
    return true;
}

/* ---- commits ---- */

static void first_line(char *out, size_t cap, const char *msg)
{
    size_t n = strcspn(msg, "\n");
    snprintf(out, cap, "%.*s", (int)MIN(n, cap - 1), msg);
}

/* Drops the (resolved, empty) conflicts table from a catalog before it is committed. */
static int without_conflicts_table(cairn_db *db, const version *v, cairn_id *catalog)
{
    *catalog = v->rec.catalog;
    const vtable *ct = version_find(v, CONFLICTS_TABLE);
    if (!ct) return CAIRN_OK;
    uint64_t left;
    TRY(tree_rank(&db->r.cs, &ct->d.root, NULL, 0, &left));
    FAIL_IF(left > 0, CAIRN_ECONFLICT,
            "%llu merge conflict(s) are still recorded; resolve them (cairn conflicts) before "
            "committing",
            (unsigned long long)left);
    tree_edit del = { (const uint8_t *)CONFLICTS_TABLE, NULL, (uint32_t)strlen(CONFLICTS_TABLE), 0,
                      EDIT_DEL };
    return tree_apply(&db->r.cs, catalog, &v->rec.catalog, &del, 1);
}

/* The branch head the commit's first parent must be; adopts a head whose commit already
 * recorded this working state (a crash after moving the branch, before updating the state). */
static int check_branch_head(cairn_db *db, const version *v, cairn_id *parent, cairn_id *entry,
                             bool *has_entry)
{
    char ref[BRANCH_MAX + 8];
    *parent = v->rec.base_commit;
    *has_entry = false;
    if (!current_head_ref(db, ref, sizeof ref)) return CAIRN_OK;
    reflog_entry e;
    int rc = refs_read(&db->r, ref, entry, &e);
    if (rc == CAIRN_ENOTFOUND) {
        FAIL_IF(!id_is_zero(parent), CAIRN_ECONFLICT,
                "branch '%s' was deleted while its working state was based on it", db->r.branch);
        return CAIRN_OK;
    }
    TRY(rc);
    *has_entry = true;
    cairn_id head = e.new_target;
    reflog_dispose(&e);
    if (memcmp(head.bytes, parent->bytes, CAIRN_ID_SIZE) == 0) return CAIRN_OK;
    commit hc;
    TRY(history_load(&db->r, &head, &hc));
    bool same = memcmp(hc.catalog.bytes, v->rec.catalog.bytes, CAIRN_ID_SIZE) == 0;
    commit_dispose(&hc);
    char why[1024];
    if (!same && refs_slot_damage(&db->r, ref, why, sizeof why))
        return ERR(CAIRN_ECONFLICT, "branch '%s' is not where its working state was based: its "
                   "ref file is damaged, and the store reads an older value from the other "
                   "slot (%s); nothing was committed. Check the value with 'cairn repair "
                   "--dry-run', then run 'cairn repair' (or restore the ref file from a backup)",
                   db->r.branch, why);
    bool back = false; /* the ref was set back (an older slot, a restored file), not moved on */
    if (!same) TRY(history_is_ancestor(&db->r, &head, parent, &back));
    if (back) {
        char hh[CAIRN_ID_HEX_SIZE], ph[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hh, &head);
        cairn_id_to_hex(ph, parent);
        cairn_diag(CAIRN_LOG_WARN, "branch '%s' was at commit %.12s, an ancestor of commit %.12s "
                   "its working state is based on (the ref was set back: see 'cairn reflog' and "
                   "'cairn verify'); the commit goes on from %.12s, which keeps both", db->r.branch,
                   hh, ph, ph);
        return CAIRN_OK;
    }
    FAIL_IF(!same, CAIRN_ECONFLICT,
            "branch '%s' moved since its working state was based on it; merge it first",
            db->r.branch);
    *parent = head; /* the commit is there already; only the working state missed it */
    return CAIRN_OK;
}

/* The time a new commit records: the clock, or $CAIRN_COMMIT_TIME (any form of
 * cairn_time_parse()) for imports that keep their dates and for tests of time windows. */
static int commit_time(int64_t *out)
{
    const char *env = getenv("CAIRN_COMMIT_TIME");
    *out = clock_wall_ns();
    if (!env || !*env) return CAIRN_OK;
    int rc = cairn_time_parse(out, env, 0);
    return rc < 0 ? cairn_error_prefix(rc, "$CAIRN_COMMIT_TIME") : CAIRN_OK;
}

static int fill_commit(commit *c, const cairn_commit_options *o, const cairn_id *catalog,
                       const cairn_id *parent, const rootrec *rec)
{
    memset(c, 0, sizeof *c);
    c->catalog = *catalog;
    if (!id_is_zero(parent)) c->parents[c->nparents++] = *parent;
    for (uint8_t i = 0; i < rec->nmerge; i++) c->parents[c->nparents++] = rec->merge[i];
    c->author = o->author ? cairn_strdup(o->author) : refs_identity();
    c->committer = o->committer ? cairn_strdup(o->committer) : cairn_strdup(c->author ? c->author : "");
    c->message = cairn_strdup(o->message);
    TRY(commit_time(&c->author_time));
    c->commit_time = c->author_time;
    FAIL_IF(!c->author || !c->committer || !c->message, CAIRN_ENOMEM, "out of memory committing");
    return CAIRN_OK;
}

int vc_commit_locked(cairn_db *db, const cairn_commit_options *o, cairn_id *out)
{
    version *v = db_current(db);
    cairn_id catalog, parent, entry, id;
    memset(&catalog, 0, sizeof catalog);
    memset(&id, 0, sizeof id);
    bool has_entry;
    commit c;
    memset(&c, 0, sizeof c);
    cairn_buf enc = CAIRN_BUF_INIT;
    int rc = without_conflicts_table(db, v, &catalog);
    if (rc == CAIRN_OK) rc = check_branch_head(db, v, &parent, &entry, &has_entry);
    if (rc == CAIRN_OK && !(o->flags & CAIRN_COMMIT_ALLOW_EMPTY) && v->rec.nmerge == 0) {
        rootrec prev;
        rc = repo_fresh_working(&db->r, &parent, &prev);
        if (rc == CAIRN_OK && memcmp(prev.catalog.bytes, catalog.bytes, CAIRN_ID_SIZE) == 0)
            rc = ERR(CAIRN_EINVAL, "nothing to commit: the working state of '%s' equals its last "
                                   "commit",
                     db->r.branch);
    }
    if (rc == CAIRN_OK) rc = fill_commit(&c, o, &catalog, &parent, &v->rec);
    if (rc == CAIRN_OK) rc = sig_apply(db, &c, o->signer);
    if (rc == CAIRN_OK) rc = commit_encode(&enc, &c);
    if (rc == CAIRN_OK) rc = cs_put(&db->r.cs, &id, NULL, enc.data, enc.len);
    rootrec next = v->rec;
    next.catalog = catalog;
    next.base_commit = id;
    next.nmerge = 0;
    /* the new working state's record goes out with the commit's flush: one sync for both */
    if (rc == CAIRN_OK) rc = repo_stage(&db->r, &next);
    if (rc == CAIRN_OK) {
        char why[160], line[120];
        first_line(line, sizeof line, o->message);
        snprintf(why, sizeof why, "commit%s: %s", c.nparents > 1 ? " (merge)" : "", line);
        char ref[BRANCH_MAX + 8];
        if (current_head_ref(db, ref, sizeof ref))
            rc = refs_move(&db->r, NULL, ref, has_entry ? &entry : NULL, &id, why);
        else if ((rc = cs_flush(&db->r.cs)) == CAIRN_OK)
            rc = refs_set_head(&db->r, NULL, &id);
        if (rc == CAIRN_OK && db->r.detached) db->r.detached_at = id;
    }
    if (rc == CAIRN_OK) rc = db_publish(db, v, &next);
    if (rc == CAIRN_OK && out) *out = id;
    cairn_buf_dispose(&enc);
    commit_dispose(&c);
    version_release(v);
    return rc;
}

static bool same_id(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, CAIRN_ID_SIZE) == 0;
}

int vc_complete_commit(cairn_db *db)
{
    char ref[BRANCH_MAX + 8];
    if (db->r.readonly || !current_head_ref(db, ref, sizeof ref)) return CAIRN_OK;
    reflog_entry e;
    int rc = refs_read(&db->r, ref, NULL, &e);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear();
        return CAIRN_OK;
    }
    TRY(rc);
    cairn_id head = e.new_target;
    reflog_dispose(&e);
    version *v = db_current(db);
    cairn_id base = v->rec.base_commit;
    version_release(v);
    if (same_id(&head, &base)) return CAIRN_OK;
    commit hc;
    TRY(history_load(&db->r, &head, &hc));
    bool child = hc.nparents > 0 && same_id(&hc.parents[0], &base);
    cairn_id catalog = hc.catalog;
    commit_dispose(&hc);
    if (!child) return CAIRN_OK;
    TRY(db_exclusive_begin(db)); /* the replayed log into the trees */
    v = db_current(db);
    /* a merge's commit left out the (resolved, empty) conflicts table its working state had:
     * compare without it, or a merge commit cut short here stays "in progress" for good */
    cairn_id wcat;
    if (without_conflicts_table(db, v, &wcat) != CAIRN_OK) {
        cairn_error_clear(); /* conflicts left: the commit cannot have been made from it */
        wcat = v->rec.catalog;
    }
    if (same_id(&wcat, &catalog)) {
        rootrec next = v->rec;
        next.catalog = catalog;
        next.base_commit = head;
        next.nmerge = 0;
        rc = db_publish(db, v, &next);
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &head);
        if (rc == CAIRN_OK)
            cairn_diag(CAIRN_LOG_WARN, "%s: completed commit %.12s on branch '%s': a crash had "
                       "interrupted it before it saved the working state", db->r.url, hex,
                       db->r.branch);
    }
    version_release(v);
    db_exclusive_end(db);
    return rc;
}

int cairn_commit(cairn_id *out, cairn_db *db, const cairn_commit_options *opts)
{
    FAIL_IF(!opts || opts->version < 1 || opts->version > CAIRN_COMMIT_OPTIONS_VERSION,
            CAIRN_EINVAL, "cairn_commit needs cairn_commit_options (CAIRN_COMMIT_OPTIONS_INIT)");
    FAIL_IF(!opts->message, CAIRN_EINVAL, "a commit needs a message");
    TRY(check_writable(db));
    TRY(db_exclusive_begin_deferred(db));
    int rc = vc_commit_locked(db, opts, out);
    int src = db_exclusive_settle(db, rc == CAIRN_OK);
    return rc != CAIRN_OK ? rc : src;
}

int cairn_resolve(cairn_id *out, cairn_db *db, const char *rev)
{
    DB_NOT_IN_CALLBACK(db, "resolving a revision");
    pthread_mutex_lock(&db->wmu); /* refs and branch state are read consistently */
    int rc = history_resolve(&db->r, rev, out);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

/* ---- showing commits ---- */

typedef struct show_ctx {
    cairn_db *db;
    int (*cb)(const cairn_commit_info *, void *);
    void *payload;
} show_ctx;

static int report(const cairn_id *id, const commit *c, void *payload)
{
    show_ctx *s = payload;
    cairn_commit_info info;
    memset(&info, 0, sizeof info);
    info.id = *id;
    info.catalog = c->catalog;
    info.nparents = c->nparents;
    info.parents = c->parents;
    info.author = c->author;
    info.author_time = c->author_time;
    info.committer = c->committer;
    info.commit_time = c->commit_time;
    info.message = c->message;
    int status;
    TRY(sig_status(s->db, c, &status, info.signer));
    info.signature = (cairn_sig_status)status;
    return s->cb(&info, s->payload);
}

int cairn_commit_show(cairn_db *db, const cairn_id *id,
                      int (*cb)(const cairn_commit_info *, void *), void *payload)
{
    commit c;
    TRY(history_load(&db->r, id, &c));
    show_ctx s = { db, cb, payload };
    int rc = report(id, &c, &s);
    commit_dispose(&c);
    return rc;
}

int cairn_log(cairn_db *db, const char *rev, int (*cb)(const cairn_commit_info *, void *),
              void *payload)
{
    cairn_id start;
    TRY(cairn_resolve(&start, db, rev ? rev : "HEAD"));
    show_ctx s = { db, cb, payload };
    return history_walk(&db->r, &start, 1, report, &s);
}

/* ---- snapshots at a revision ---- */

int cairn_snapshot_open_at(cairn_snapshot **out, cairn_db *db, const char *rev)
{
    if (rev && strcmp(rev, WORKING_REV) == 0) return cairn_snapshot_open(out, db);
    cairn_id id;
    TRY(cairn_resolve(&id, db, rev));
    rootrec rec;
    TRY(repo_fresh_working(&db->r, &id, &rec));
    version *v;
    cairn_id none = { { 0 } };
    TRY(version_load(db, &v, &none, &rec));
    v->commit = id;
    rview rv;
    rview_of_version(&rv, v);
    version_release(v);
    cairn_snapshot *s = snapshot_new(db, &rv);
    if (!s) {
        rview_release(&rv);
        return ERR(CAIRN_ENOMEM, "out of memory opening a snapshot");
    }
    *out = s;
    return CAIRN_OK;
}

void cairn_snapshot_commit(cairn_id *out, const cairn_snapshot *snap) { *out = snap->v->commit; }

/* ---- branches and tags ---- */

static int create_ref(cairn_db *db, const char *kind, const char *prefix, const char *name,
                      const char *rev)
{
    TRY(check_writable(db));
    TRY(refs_check_name(kind, name));
    char ref[BRANCH_MAX + 8], why[BRANCH_MAX + 64];
    snprintf(ref, sizeof ref, "%s%s", prefix, name);
    snprintf(why, sizeof why, "%s: created at %s", kind, rev ? rev : "HEAD");
    DB_NOT_IN_CALLBACK(db, "creating a branch or tag");
    pthread_mutex_lock(&db->wmu);
    cairn_id at;
    int rc = history_resolve(&db->r, rev ? rev : "HEAD", &at);
    if (rc == CAIRN_OK) {
        rc = refs_move(&db->r, NULL, ref, NULL, &at, why);
        if (rc == CAIRN_ECONFLICT) rc = ERR(CAIRN_EEXIST, "%s '%s' exists already", kind, name);
    }
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int cairn_branch_create(cairn_db *db, const char *name, const char *rev)
{
    return create_ref(db, "branch", "heads/", name, rev);
}

int cairn_tag_create(cairn_db *db, const char *name, const char *rev)
{
    return create_ref(db, "tag", "tags/", name, rev);
}

/* Whether a stored working state differs from the commit it is based on. */
static int working_dirty(cairn_db *db, const rootrec *rec, bool *out)
{
    rootrec clean;
    TRY(repo_fresh_working(&db->r, &rec->base_commit, &clean));
    *out = rec->nmerge > 0 || memcmp(clean.catalog.bytes, rec->catalog.bytes, CAIRN_ID_SIZE) != 0;
    return CAIRN_OK;
}

int cairn_branch_delete(cairn_db *db, const char *name)
{
    TRY(check_writable(db));
    TRY(refs_check_name("branch", name));
    FAIL_IF(!db->r.detached && strcmp(name, db->r.branch) == 0, CAIRN_ECONFLICT,
            "branch '%s' is the current branch; check out another one first", name);
    char ref[BRANCH_MAX + 8], wref[BRANCH_MAX + 12];
    snprintf(ref, sizeof ref, "heads/%s", name);
    snprintf(wref, sizeof wref, "working/%s", name);
    DB_NOT_IN_CALLBACK(db, "cairn_branch_delete");
    pthread_mutex_lock(&db->wmu);
    cairn_id entry, wid;
    rootrec rec;
    bool dirty = false;
    int rc = refs_read(&db->r, ref, &entry, NULL);
    bool damaged = rc == CAIRN_ECORRUPT && refs_damaged(&db->r, ref); /* deleted all the same */
    if (damaged) rc = CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) rc = ERR(CAIRN_ENOTFOUND, "no branch '%s'", name);
    int wrc = rc == CAIRN_OK ? refs_read_id(&db->r, wref, &wid) : rc;
    if (rc == CAIRN_OK && wrc == CAIRN_OK) {
        rc = rootrec_load(&db->r, &rec, &wid);
        if (rc == CAIRN_OK) rc = working_dirty(db, &rec, &dirty);
        if (rc == CAIRN_OK && dirty)
            rc = ERR(CAIRN_ECONFLICT, "branch '%s' has uncommitted changes in its working state; "
                                      "check it out and commit them first",
                     name);
        char v[66];
        cairn_id_to_hex(v, &wid);
        v[64] = '\n';
        if (rc == CAIRN_OK) rc = db->r.store->ref_cas(db->r.store, wref, v, 65, NULL, 0);
    } else if (rc == CAIRN_OK && wrc != CAIRN_ENOTFOUND) {
        rc = wrc;
    }
    if (rc == CAIRN_OK)
        rc = damaged ? refs_delete_damaged(&db->r, ref) : refs_delete(&db->r, ref, &entry);
    if (rc == CAIRN_OK) rc = working_remove_log(db, name);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

int cairn_tag_delete(cairn_db *db, const char *name)
{
    TRY(check_writable(db));
    TRY(refs_check_name("tag", name));
    char ref[BRANCH_MAX + 8];
    snprintf(ref, sizeof ref, "tags/%s", name);
    DB_NOT_IN_CALLBACK(db, "cairn_tag_delete");
    pthread_mutex_lock(&db->wmu);
    cairn_id entry;
    int rc = refs_read(&db->r, ref, &entry, NULL);
    if (rc == CAIRN_ECORRUPT && refs_damaged(&db->r, ref)) /* its file: deleted all the same */
        rc = refs_delete_damaged(&db->r, ref);
    else if (rc == CAIRN_ENOTFOUND) rc = ERR(CAIRN_ENOTFOUND, "no tag '%s'", name);
    else if (rc == CAIRN_OK) rc = refs_delete(&db->r, ref, &entry);
    pthread_mutex_unlock(&db->wmu);
    return rc;
}

typedef struct list_ctx {
    cairn_db *db;
    size_t prefix_len;
    int (*bcb)(const char *, const cairn_id *, int, void *);
    int (*tcb)(const char *, const cairn_id *, void *);
    void *payload;
    bool saw_current;
} list_ctx;

static int list_one(const char *name, const void *val, size_t len, void *payload)
{
    (void)val;
    (void)len;
    list_ctx *l = payload;
    cairn_id target;
    TRY(refs_target(&l->db->r, name, &target));
    const char *short_name = name + l->prefix_len;
    if (l->tcb) return l->tcb(short_name, &target, l->payload);
    bool current = !l->db->r.detached && strcmp(short_name, l->db->r.branch) == 0;
    l->saw_current |= current;
    return l->bcb(short_name, &target, current, l->payload);
}

int cairn_branch_list(cairn_db *db, int (*cb)(const char *, const cairn_id *, int, void *),
                      void *payload)
{
    list_ctx l = { db, 6, cb, NULL, payload, false };
    int rc = db->r.store->ref_list(db->r.store, "heads/", list_one, &l);
    if ((rc == CAIRN_OK || rc == CAIRN_ECORRUPT) && !l.saw_current && !db->r.detached) {
        char ref[BRANCH_MAX + 8];
        snprintf(ref, sizeof ref, "heads/%s", db->r.branch);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc == CAIRN_ECORRUPT ? cairn_error_last()->message : "");
        if (!refs_damaged(&db->r, ref)) { /* no commits on it yet */
            cairn_id zero = { { 0 } };
            int crc = cb(db->r.branch, &zero, 1, payload);
            if (crc != CAIRN_OK) return crc;
        }
        if (rc == CAIRN_ECORRUPT) return ERR(CAIRN_ECORRUPT, "%s", msg);
    }
    return rc;
}

int cairn_tag_list(cairn_db *db, int (*cb)(const char *, const cairn_id *, void *), void *payload)
{
    list_ctx l = { db, 5, NULL, cb, payload, false };
    return db->r.store->ref_list(db->r.store, "tags/", list_one, &l);
}

int cairn_branch_current(char **out, cairn_db *db)
{
    *out = NULL;
    if (db->r.detached) return CAIRN_OK;
    *out = cairn_strdup(db->r.branch);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* ---- checkout ---- */

/* Makes the repository follow HEAD again and loads that working state (and its log). */
static int switch_to_head(cairn_db *db)
{
    TRY(repo_follow_head(&db->r));
    return working_switch(db);
}

/* Detaches at commit id: the working state "working/HEAD" restarts from it. */
static int detach(cairn_db *db, const cairn_id *id)
{
    cairn_id old_id;
    rootrec old;
    bool have_old = refs_read_id(&db->r, "working/HEAD", &old_id) == CAIRN_OK &&
                    rootrec_load(&db->r, &old, &old_id) == CAIRN_OK;
    if (have_old && memcmp(old.base_commit.bytes, id->bytes, CAIRN_ID_SIZE) != 0) {
        bool dirty;
        TRY(working_dirty(db, &old, &dirty));
        FAIL_IF(dirty, CAIRN_ECONFLICT,
                "the detached HEAD has uncommitted changes that this checkout would drop; "
                "commit them (cairn branch NAME, then commit) first");
    }
    rootrec fresh;
    TRY(repo_fresh_working(&db->r, id, &fresh));
    /* the log of the detached HEAD goes on: its records so far are behind the new state */
    if (have_old) fresh.wal_seq = old.wal_seq;
    else TRY(working_remove_log(db, REF_HEAD));
    if (!have_old || memcmp(old.base_commit.bytes, id->bytes, CAIRN_ID_SIZE) != 0) {
        uint8_t buf[ROOTREC_MAX_SIZE];
        size_t n = rootrec_encode(buf, &fresh);
        cairn_id rid;
        char oldv[66], newv[66];
        TRY(cs_put(&db->r.cs, &rid, NULL, buf, n));
        TRY(cs_flush(&db->r.cs));
        cairn_id_to_hex(newv, &rid);
        newv[64] = '\n';
        if (have_old) {
            cairn_id_to_hex(oldv, &old_id);
            oldv[64] = '\n';
        }
        TRY(db->r.store->ref_cas(db->r.store, "working/HEAD", have_old ? oldv : NULL,
                                 have_old ? 65 : 0, newv, 65));
    }
    return refs_set_head(&db->r, NULL, id);
}

int cairn_checkout(cairn_db *db, const char *target)
{
    TRY(check_writable(db));
    FAIL_IF(!target || !*target, CAIRN_EINVAL, "checkout needs a branch or a revision");
    TRY(db_exclusive_begin(db));
    char ref[BRANCH_MAX + 8];
    int rc = CAIRN_OK;
    bool is_branch = refs_check_name("branch", target) == CAIRN_OK;
    cairn_id at;
    if (is_branch) {
        snprintf(ref, sizeof ref, "heads/%s", target);
        rc = refs_target(&db->r, ref, &at);
        /* the current branch before its first commit has no ref yet */
        if (rc == CAIRN_ENOTFOUND && !db->r.detached && strcmp(target, db->r.branch) == 0)
            rc = CAIRN_OK;
        else if (rc == CAIRN_ENOTFOUND)
            is_branch = false, rc = CAIRN_OK;
    }
    cairn_error_clear();
    if (rc == CAIRN_OK && is_branch) rc = refs_set_head(&db->r, target, NULL);
    else if (rc == CAIRN_OK) {
        rc = history_resolve(&db->r, target, &at);
        if (rc == CAIRN_OK) rc = detach(db, &at);
    }
    if (rc == CAIRN_OK) rc = switch_to_head(db);
    db_exclusive_end(db);
    return rc;
}

/* ---- reflog ---- */

int cairn_reflog(cairn_db *db, const char *ref, int (*cb)(const cairn_reflog_info *, void *),
                 void *payload)
{
    char full[BRANCH_MAX + 8];
    if (!ref) {
        FAIL_IF(!current_head_ref(db, full, sizeof full), CAIRN_EINVAL,
                "HEAD is detached: name a branch or tag");
    } else if (strncmp(ref, "heads/", 6) == 0 || strncmp(ref, "tags/", 5) == 0) {
        snprintf(full, sizeof full, "%s", ref);
    } else {
        snprintf(full, sizeof full, "heads/%s", ref);
        cairn_id probe;
        if (refs_read_id(&db->r, full, &probe) == CAIRN_ENOTFOUND)
            snprintf(full, sizeof full, "tags/%s", ref);
    }
    cairn_id id;
    reflog_entry e;
    int rc = refs_read(&db->r, full, &id, &e);
    if (rc == CAIRN_ENOTFOUND) return ERR(CAIRN_ENOTFOUND, "no branch or tag '%s'", ref ? ref : full);
    while (rc == CAIRN_OK) {
        cairn_reflog_info info = { e.old_target, e.new_target, e.time, e.who, e.why };
        rc = cb(&info, payload);
        cairn_id prev = e.prev;
        reflog_dispose(&e);
        if (rc != CAIRN_OK || id_is_zero(&prev)) break;
        chunk *c;
        if ((rc = cs_get(&db->r.cs, &c, &prev)) < 0) break;
        rc = reflog_decode(&e, c->data, c->len);
        chunk_release(c);
    }
    return rc;
}
