/*
 * roots.c - what each ref names (see roots.h). The refs are read in one ref_list pass and
 * copied out, so that callers walk the chunks without holding anything of the store's.
 */
#include <stdlib.h>

#include "roots.h"

typedef struct roots_vec {
    repo_root *v;
    size_t n, cap;
} roots_vec;

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The id in "<64 hex>\n" at p (len bytes); false when that is not what p holds. */
static bool parse_id_line(cairn_id *out, const uint8_t *p, size_t len)
{
    char hex[CAIRN_ID_HEX_SIZE];
    if (len != CAIRN_ID_HEX_SIZE || p[CAIRN_ID_HEX_SIZE - 1] != '\n') return false;
    memcpy(hex, p, CAIRN_ID_HEX_SIZE - 1);
    hex[CAIRN_ID_HEX_SIZE - 1] = '\0';
    if (cairn_id_from_hex(out, hex) == CAIRN_OK) return true;
    cairn_error_clear();
    return false;
}

static int add_root(const char *name, const void *val, size_t len, void *payload)
{
    roots_vec *rv = payload;
    const uint8_t *p = val;
    repo_root root = { NULL, 0, { { 0 } }, NULL };
    bool id_ok = parse_id_line(&root.id, p, len);
    if (strcmp(name, "HEAD") == 0) {
        if (len > 11 && memcmp(p, "ref: heads/", 11) == 0) return 0; /* names a branch */
        if (len == 7 + CAIRN_ID_HEX_SIZE && memcmp(p, "commit ", 7) == 0 &&
            parse_id_line(&root.id, p + 7, len - 7))
            root.kind = ROOT_COMMIT;
        else
            root.why = cairn_strdup("holds neither 'ref: heads/NAME' nor 'commit ID'");
    } else if (starts_with(name, "heads/") || starts_with(name, "tags/") ||
               starts_with(name, "remotes/")) {
        if (id_ok) root.kind = ROOT_REFLOG;
        else root.why = cairn_strdup("does not hold the id of a reflog entry");
    } else if (starts_with(name, "working/")) {
        if (id_ok) root.kind = ROOT_ROOTREC;
        else root.why = cairn_strdup("does not hold the id of a root record");
    } else if (strcmp(name, "config") == 0) {
        if (id_ok) root.kind = ROOT_RAW;
        else root.why = cairn_strdup("does not hold the id of the settings chunk");
    } else if (id_ok) {
        root.kind = ROOT_ANY;
    } else {
        return 0; /* a ref of another module that names no chunk */
    }
    if (!root.kind) {
        root.kind = ROOT_BAD;
        memset(&root.id, 0, sizeof root.id);
        if (!root.why) return ERR(CAIRN_ENOMEM, "out of memory reading refs");
    }
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 16;
        repo_root *nv = cairn_realloc(rv->v, cap * sizeof *nv);
        if (!nv) {
            free(root.why);
            return ERR(CAIRN_ENOMEM, "out of memory reading refs");
        }
        rv->v = nv;
        rv->cap = cap;
    }
    root.ref = cairn_strdup(name);
    if (!root.ref) {
        free(root.why);
        return ERR(CAIRN_ENOMEM, "out of memory reading refs");
    }
    rv->v[rv->n++] = root;
    return 0;
}

int repo_roots(repo *r, repo_root **out, size_t *out_n)
{
    roots_vec rv = { NULL, 0, 0 };
    int rc = r->store->ref_list(r->store, "", add_root, &rv);
    if (rc != CAIRN_OK) {
        repo_roots_free(rv.v, rv.n);
        return rc < 0 ? cairn_error_prefix(rc, "listing the refs of %s", r->url) : rc;
    }
    *out = rv.v;
    *out_n = rv.n;
    return CAIRN_OK;
}

int repo_roots_partial(repo *r, repo_root **out, size_t *out_n, bool *out_damaged)
{
    roots_vec rv = { NULL, 0, 0 };
    *out_damaged = false;
    int rc = r->store->ref_list(r->store, "", add_root, &rv);
    if (rc == CAIRN_ECORRUPT) { /* the readable refs were all listed */
        *out_damaged = true;
        rc = CAIRN_OK;
    }
    if (rc != CAIRN_OK) {
        repo_roots_free(rv.v, rv.n);
        return rc < 0 ? cairn_error_prefix(rc, "listing the refs of %s", r->url) : rc;
    }
    *out = rv.v;
    *out_n = rv.n;
    return CAIRN_OK;
}

void repo_roots_free(repo_root *roots, size_t n)
{
    for (size_t i = 0; roots && i < n; i++) {
        free(roots[i].ref);
        free(roots[i].why);
    }
    free(roots);
}

int roots_walk_what(int root_kind)
{
    switch (root_kind) {
    case ROOT_REFLOG: return W_REFLOG;
    case ROOT_ROOTREC: return W_ROOTREC;
    case ROOT_COMMIT: return W_COMMIT;
    case ROOT_RAW: return W_RAW;
    default: return W_ANY;
    }
}

const char *roots_what_name(int what)
{
    switch (what) {
    case W_REFLOG: return "reflog entry";
    case W_COMMIT: return "commit";
    case W_ROOTREC: return "root record";
    case W_CATALOG: return "catalog node";
    case W_TABLE: return "table node";
    case W_RAW: return "settings chunk";
    default: return "chunk";
    }
}
