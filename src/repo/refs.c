/*
 * refs.c - branches, tags and HEAD over the store's compare-and-swap refs, with every move of a
 * branch or tag recorded in a chained reflog entry (see refs.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "refs.h"

int refs_check_name(const char *kind, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    FAIL_IF(n == 0 || n > BRANCH_MAX, CAIRN_EINVAL, "%s name must be 1..%d bytes", kind,
            BRANCH_MAX);
    FAIL_IF(strcmp(name, "HEAD") == 0 || strcmp(name, "WORKING") == 0, CAIRN_EINVAL,
            "'%s' cannot be a %s name (it names a revision)", name, kind);
    FAIL_IF(name[0] == '-', CAIRN_EINVAL, "%s name '%s' may not start with '-'", kind, name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '/';
        FAIL_IF(!ok, CAIRN_EINVAL, "%s name '%s' may only use letters, digits and . _ - /", kind,
                name);
    }
    FAIL_IF(strstr(name, "..") || strstr(name, "//") || name[n - 1] == '/' || name[0] == '/' ||
                name[n - 1] == '.',
            CAIRN_EINVAL, "%s name '%s' is malformed", kind, name);
    return CAIRN_OK;
}

static int parse_hex_line(cairn_id *out, const cairn_buf *v, size_t skip, const char *ref)
{
    char hex[CAIRN_ID_HEX_SIZE];
    FAIL_IF(v->len != skip + 65 || v->data[skip + 64] != '\n', CAIRN_ECORRUPT,
            "ref '%s' does not hold a chunk id", ref);
    memcpy(hex, v->data + skip, 64);
    hex[64] = '\0';
    if (cairn_id_from_hex(out, hex) < 0)
        return ERR(CAIRN_ECORRUPT, "ref '%s' does not hold a chunk id", ref);
    return CAIRN_OK;
}

int refs_read_id(repo *r, const char *ref, cairn_id *out)
{
    cairn_buf v = CAIRN_BUF_INIT;
    int rc = r->store->ref_get(r->store, &v, ref);
    if (rc == CAIRN_OK) rc = parse_hex_line(out, &v, 0, ref);
    cairn_buf_dispose(&v);
    return rc;
}

int refs_read(repo *r, const char *ref, cairn_id *out_entry, reflog_entry *out_data)
{
    cairn_id id;
    TRY(refs_read_id(r, ref, &id));
    if (out_entry) *out_entry = id;
    if (!out_data) return CAIRN_OK;
    chunk *c;
    TRY(cs_get(&r->cs, &c, &id));
    int rc = reflog_decode(out_data, c->data, c->len);
    chunk_release(c);
    if (rc < 0) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, &id);
        return cairn_error_prefix(rc, "reflog entry %s of ref '%s'", hex, ref);
    }
    return CAIRN_OK;
}

int refs_target(repo *r, const char *ref, cairn_id *out_commit)
{
    reflog_entry e;
    TRY(refs_read(r, ref, NULL, &e));
    *out_commit = e.new_target;
    reflog_dispose(&e);
    return CAIRN_OK;
}

char *refs_identity(void)
{
    const char *a = getenv("CAIRN_AUTHOR");
    if (a && *a) return cairn_strdup(a);
    const char *u = getenv("USER");
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (!u || !*u) u = "unknown";
    return cairn_sprintf("%s <%s@%s>", u, u, host);
}

static void id_line(char out[66], const cairn_id *id)
{
    cairn_id_to_hex(out, id);
    out[64] = '\n';
    out[65] = '\0';
}

int refs_move(repo *r, cairn_id *out_entry, const char *ref, const cairn_id *expect_entry,
              const cairn_id *target, const char *why)
{
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    reflog_entry e;
    memset(&e, 0, sizeof e);
    if (expect_entry) {
        reflog_entry old;
        TRY(refs_read(r, ref, NULL, &old));
        e.old_target = old.new_target;
        reflog_dispose(&old);
        e.prev = *expect_entry;
    }
    e.new_target = *target;
    e.time = clock_wall_ns();
    e.who = refs_identity();
    e.why = (char *)why;
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_id id;
    int rc = e.who ? reflog_encode(&b, &e) : ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK) rc = cs_put(&r->cs, &id, NULL, b.data, b.len);
    if (rc == CAIRN_OK) rc = cs_flush(&r->cs); /* the entry is durable before the ref names it */
    char oldv[66], newv[66];
    if (expect_entry) id_line(oldv, expect_entry);
    id_line(newv, &id);
    if (rc == CAIRN_OK)
        rc = r->store->ref_cas(r->store, ref, expect_entry ? oldv : NULL, expect_entry ? 65 : 0,
                               newv, 65);
    if (rc == CAIRN_ECONFLICT)
        rc = ERR(CAIRN_ECONFLICT, "ref '%s' moved while it was being updated; look at 'cairn reflog' "
                                  "and retry",
                 ref);
    free(e.who);
    cairn_buf_dispose(&b);
    if (rc == CAIRN_OK && out_entry) *out_entry = id;
    return rc;
}

int refs_delete(repo *r, const char *ref, const cairn_id *expect_entry)
{
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    char oldv[66];
    id_line(oldv, expect_entry);
    int rc = r->store->ref_cas(r->store, ref, oldv, 65, NULL, 0);
    if (rc == CAIRN_ECONFLICT)
        return ERR(CAIRN_ECONFLICT, "ref '%s' moved while it was being deleted; retry", ref);
    return rc;
}

bool refs_damaged(repo *r, const char *ref)
{
    cairn_store *st = r->store;
    if (st->version < 4 || !st->ref_remove_damaged) return false;
    cairn_buf v = CAIRN_BUF_INIT;
    bool damaged = st->ref_get(st, &v, ref) == CAIRN_ECORRUPT;
    cairn_buf_dispose(&v);
    return damaged;
}

int refs_delete_damaged(repo *r, const char *ref)
{
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    FAIL_IF(r->store->version < 4 || !r->store->ref_remove_damaged, CAIRN_EUNSUPPORTED,
            "the %s store of %s cannot delete a damaged ref", r->store->kind, r->url);
    return r->store->ref_remove_damaged(r->store, ref);
}

typedef struct slot_find {
    char file[300];
    char *msg;
    size_t size;
    bool found;
} slot_find;

static int slot_find_cb(const cairn_repair_item *it, void *payload)
{
    slot_find *f = payload;
    if (it->kind != CAIRN_REPAIR_REF_SLOT || strcmp(it->file, f->file) != 0) return 0;
    snprintf(f->msg, f->size, "%s", it->message);
    f->found = true;
    return 1; /* found: stop */
}

bool refs_slot_damage(repo *r, const char *ref, char *msg, size_t size)
{
    cairn_store *st = r->store;
    if (st->version < 4 || !st->repair) return false;
    slot_find f = { "", msg, size, false };
    snprintf(f.file, sizeof f.file, "refs/%s", ref);
    st->repair(st, CAIRN_REPAIR_DRY_RUN, slot_find_cb, &f, NULL);
    cairn_error_clear();
    return f.found;
}

int refs_head(repo *r, char **out_branch, cairn_id *out_commit)
{
    cairn_buf v = CAIRN_BUF_INIT;
    int rc = r->store->ref_get(r->store, &v, REF_HEAD);
    memset(out_commit, 0, sizeof *out_commit);
    *out_branch = NULL;
    if (rc == CAIRN_OK) {
        if (v.len > 11 && memcmp(v.data, "ref: heads/", 11) == 0 && v.data[v.len - 1] == '\n') {
            *out_branch = cairn_strndup((const char *)v.data + 11, v.len - 12);
            if (!*out_branch) rc = ERR(CAIRN_ENOMEM, "out of memory");
            else rc = refs_check_name("branch", *out_branch);
        } else if (v.len == 7 + 65 && memcmp(v.data, "commit ", 7) == 0) {
            rc = parse_hex_line(out_commit, &v, 7, REF_HEAD);
        } else {
            rc = ERR(CAIRN_ECORRUPT, "ref HEAD holds neither 'ref: heads/NAME' nor 'commit ID'");
        }
        if (rc < 0) {
            free(*out_branch);
            *out_branch = NULL;
        }
    }
    cairn_buf_dispose(&v);
    return rc;
}

int refs_set_head(repo *r, const char *branch, const cairn_id *at)
{
    FAIL_IF(r->readonly, CAIRN_EREADONLY, "repository %s was opened read-only", r->url);
    cairn_buf old = CAIRN_BUF_INIT;
    int rc = r->store->ref_get(r->store, &old, REF_HEAD);
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    char val[CAIRN_TABLE_NAME_LEN_MAX + 80];
    int n;
    if (branch) {
        n = snprintf(val, sizeof val, "ref: heads/%s\n", branch);
    } else {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, at);
        n = snprintf(val, sizeof val, "commit %s\n", hex);
    }
    if (rc == CAIRN_OK)
        rc = r->store->ref_cas(r->store, REF_HEAD, old.len ? old.data : NULL, old.len, val,
                               (size_t)n);
    cairn_buf_dispose(&old);
    return rc;
}
