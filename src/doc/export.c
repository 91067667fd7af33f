/*
 * export.c - the manifest of an export directory (docs/FORMAT.md, "Document exports"): writing
 * it, and checking a directory's documents against it with nothing but the files.
 *
 * The check rebuilds the collection's table the way the repository built it: the documents'
 * stored forms (dv_stored_pack of the canonical forms) keyed by their ids, in key order, and
 * also as the canonical forms themselves (tables written before the packed form; a root of
 * either is the collection's), through the same tree builder (so the same
 * node boundaries), into a store that keeps nothing (only the root's id is wanted, and ids are
 * hashes of bytes that are computed either way). Memory stays at one document and one open node
 * per tree level, plus the manifest's list of hashes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/hash.h"
#include "chunk/chunk.h"
#include "doc/doc_int.h"
#include "tree/tree.h"

#define EXPORT_FORMAT_V1 "cairn-doc-export 1"
#define CHECK_CACHE_BYTES ((size_t)1 << 20) /* inner nodes the builder keeps: a few */
#define MESSAGE_MAX 1024

/* ---- writing ---- */

struct cairn_doc_manifest {
    json_t *obj;             /* the manifest without "documents" and "hashes" */
    json_t *hashes;          /* id -> hex SHA-256 of the canonical document */
};

static json_t *hex_id(const cairn_id *id)
{
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    return json_string(hex);
}

int cairn_doc_manifest_new(cairn_doc_manifest **out, const char *coll, const cairn_id *root,
                           const cairn_id *commit)
{
    FAIL_IF(!out || !coll || !root, CAIRN_EINVAL,
            "cairn_doc_manifest_new: out, coll and root are required");
    cairn_doc_manifest *m = cairn_calloc(1, sizeof *m);
    FAIL_IF(!m, CAIRN_ENOMEM, "out of memory");
    m->obj = json_pack("{s:s,s:s,s:o,s:o}", "format", CAIRN_DOC_EXPORT_FORMAT, "collection", coll,
                       "root", hex_id(root), "commit", commit ? hex_id(commit) : json_null());
    m->hashes = json_object();
    if (!m->obj || !m->hashes) {
        cairn_doc_manifest_free(m);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    *out = m;
    return CAIRN_OK;
}

int cairn_doc_manifest_add(cairn_doc_manifest *m, const char *id, const char *doc, size_t len)
{
    FAIL_IF(!m || !id || !doc, CAIRN_EINVAL, "cairn_doc_manifest_add: m, id and doc are required");
    FAIL_IF(json_object_get(m->hashes, id), CAIRN_EEXIST, "export manifest: document %s twice", id);
    cairn_id h;
    hash_sha256(&h, doc, len);
    FAIL_IF(json_object_set_new(m->hashes, id, hex_id(&h)), CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

int cairn_doc_manifest_text(char **out, const cairn_doc_manifest *m)
{
    FAIL_IF(!out || !m, CAIRN_EINVAL, "cairn_doc_manifest_text: out and m are required");
    *out = NULL;
    json_t *o = json_copy(m->obj);
    int bad = !o || json_object_set_new(o, "documents", json_integer((json_int_t)json_object_size(m->hashes))) ||
              json_object_set(o, "hashes", m->hashes);
    char *text = bad ? NULL : json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    FAIL_IF(!text, CAIRN_ENOMEM, "out of memory writing an export manifest");
    *out = cairn_sprintf("%s\n", text);
    free(text);
    FAIL_IF(!*out, CAIRN_ENOMEM, "out of memory writing an export manifest");
    return CAIRN_OK;
}

void cairn_doc_manifest_free(cairn_doc_manifest *m)
{
    if (!m) return;
    json_decref(m->obj);
    json_decref(m->hashes);
    free(m);
}

/* ---- checking ---- */

struct cairn_doc_export_check {
    cairn_doc_export_result res;
    json_t *manifest;
    json_t *hashes;          /* format 2: the ids not met yet (each met one is removed) */
    uint64_t declared;       /* the manifest's "documents" */
    cairn_store null_store;  /* keeps nothing: only the ids are wanted */
    chunkstore cs;
    tree_builder tb;         /* the documents in their stored forms (as cairn writes them now) */
    tree_builder tb_text;    /* ... and as canonical text (as cairn wrote them before the
                                packed form): an export of such a table has its root */
    bool cs_ready;
    char *last_id;           /* the last id added: ids must increase */
    cairn_buf canon;
    cairn_buf stored;        /* canon as the table holds it (dv_stored_pack) */
    cairn_doc_export_problem_fn cb;
    void *payload;
};

static int null_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    (void)st, (void)key, (void)data, (void)len;
    return CAIRN_OK;
}

static int report(cairn_doc_export_check *x, cairn_doc_export_damage d, const char *id,
                  const char *fmt, ...) PRINTF_LIKE(4, 5);
static int report(cairn_doc_export_check *x, cairn_doc_export_damage d, const char *id,
                  const char *fmt, ...)
{
    char msg[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->res.problems++;
    if (!x->cb) return CAIRN_OK;
    cairn_doc_export_problem p = { d, id, msg };
    return x->cb(&p, x->payload);
}

static bool hex64(cairn_id *out, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 2 * CAIRN_ID_SIZE) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return cairn_id_from_hex(out, s) == CAIRN_OK;
}

/* Checks the manifest's members and fills the result's copy of them. */
static int manifest_read(cairn_doc_export_check *x)
{
    json_t *m = x->manifest;
    const char *fmt = json_string_value(json_object_get(m, "format"));
    FAIL_IF(!fmt, CAIRN_ECORRUPT, "manifest: no \"format\" (is this an export's manifest?)");
    if (strcmp(fmt, CAIRN_DOC_EXPORT_FORMAT) == 0) x->res.format = 2;
    else if (strcmp(fmt, EXPORT_FORMAT_V1) == 0) x->res.format = 1;
    FAIL_IF(!x->res.format, CAIRN_ECORRUPT, "manifest: format '%.64s' is not one this cairn "
            "reads ('%s' or '%s')", fmt, EXPORT_FORMAT_V1, CAIRN_DOC_EXPORT_FORMAT);
    x->res.collection = json_string_value(json_object_get(m, "collection"));
    FAIL_IF(!x->res.collection, CAIRN_ECORRUPT, "manifest: \"collection\" is not a string");
    FAIL_IF(!hex64(&x->res.manifest_root, json_object_get(m, "root")), CAIRN_ECORRUPT,
            "manifest: \"root\" is not 64 lower-case hex digits");
    json_t *commit = json_object_get(m, "commit");
    x->res.has_commit = commit && !json_is_null(commit);
    FAIL_IF(x->res.has_commit && !hex64(&x->res.commit, commit), CAIRN_ECORRUPT,
            "manifest: \"commit\" is neither null nor 64 lower-case hex digits");
    json_t *n = json_object_get(m, "documents");
    FAIL_IF(!json_is_integer(n) || json_integer_value(n) < 0, CAIRN_ECORRUPT,
            "manifest: \"documents\" is not a count");
    x->declared = (uint64_t)json_integer_value(n);
    if (x->res.format == 1) return CAIRN_OK;
    x->hashes = json_incref(json_object_get(m, "hashes"));
    FAIL_IF(!json_is_object(x->hashes), CAIRN_ECORRUPT, "manifest: \"hashes\" is not an object");
    FAIL_IF(json_object_size(x->hashes) != x->declared, CAIRN_ECORRUPT,
            "manifest: \"documents\" says %llu, \"hashes\" holds %zu",
            (unsigned long long)x->declared, json_object_size(x->hashes));
    const char *id;
    json_t *h;
    cairn_id unused;
    json_object_foreach(x->hashes, id, h) {
        FAIL_IF(!hex64(&unused, h), CAIRN_ECORRUPT,
                "manifest: the hash of document %.100s is not 64 lower-case hex digits", id);
    }
    x->res.per_document = true;
    return CAIRN_OK;
}

int cairn_doc_export_check_new(cairn_doc_export_check **out, const char *manifest, size_t len,
                               cairn_doc_export_problem_fn cb, void *payload)
{
    FAIL_IF(!out || !manifest, CAIRN_EINVAL, "cairn_doc_export_check_new: out and manifest are "
            "required");
    *out = NULL;
    cairn_doc_export_check *x = cairn_calloc(1, sizeof *x);
    FAIL_IF(!x, CAIRN_ENOMEM, "out of memory");
    x->cb = cb;
    x->payload = payload;
    json_error_t e;
    x->manifest = json_loadb(manifest, len, JSON_REJECT_DUPLICATES, &e);
    int rc = x->manifest ? CAIRN_OK
                         : ERR(CAIRN_ECORRUPT, "manifest: not JSON (line %d, column %d: %s)",
                               e.line, e.column, e.text);
    if (rc == CAIRN_OK && !json_is_object(x->manifest))
        rc = ERR(CAIRN_ECORRUPT, "manifest: not a JSON object");
    if (rc == CAIRN_OK) rc = manifest_read(x);
    x->null_store.version = CAIRN_STORE_VERSION;
    x->null_store.kind = "none";
    x->null_store.location = "(an export being checked)";
    x->null_store.put = null_put;
    if (rc == CAIRN_OK) rc = cs_init(&x->cs, &x->null_store, CHECK_CACHE_BYTES, -1);
    if (rc == CAIRN_OK) {
        x->cs_ready = true;
        tb_init(&x->tb, &x->cs, 0);
        tb_skip_leaf_cache(&x->tb);
        tb_init(&x->tb_text, &x->cs, 0);
        tb_skip_leaf_cache(&x->tb_text);
    }
    if (rc < 0) {
        cairn_doc_export_check_free(x);
        return rc;
    }
    *out = x;
    return CAIRN_OK;
}

/* The canonical form of a file's document into x->canon, or a problem reported (*ok false). */
static int file_doc(cairn_doc_export_check *x, const char *id, const char *text, size_t len,
                    bool *ok)
{
    *ok = false;
    if (dv_id_check(id, strlen(id)) != CAIRN_OK)
        return report(x, CAIRN_EXPORT_UNREADABLE, id, "%s.json: its name is not a document id: %s",
                      id, cairn_error_last()->message);
    json_t *doc;
    char name[CAIRN_DOC_ID_LEN_MAX + 8];
    snprintf(name, sizeof name, "%s.json", id);
    if (canon_parse(&doc, text, len, name) != CAIRN_OK)
        return report(x, CAIRN_EXPORT_UNREADABLE, id, "%s", cairn_error_last()->message);
    const json_t *jid = json_object_get(doc, "_id");
    canon_limits lim = CANON_LIMITS_DEFAULT;
    lim.max_bytes = CAIRN_VALUE_LEN_MAX;
    x->canon.len = 0;
    int rc;
    if (!json_is_object(doc))
        rc = report(x, CAIRN_EXPORT_UNREADABLE, id, "%s.json: not a JSON object", id);
    else if (!json_is_string(jid) || strcmp(json_string_value(jid), id) != 0)
        rc = report(x, CAIRN_EXPORT_CHANGED, id, "%s.json: its _id is not '%s' (the file's name)",
                    id, id);
    else if (canon_write(&x->canon, doc, &lim, "document") != CAIRN_OK)
        rc = report(x, CAIRN_EXPORT_UNREADABLE, id, "%s.json: %s", id,
                    cairn_error_last()->message);
    else {
        rc = CAIRN_OK;
        *ok = true;
    }
    json_decref(doc);
    return rc;
}

int cairn_doc_export_check_add(cairn_doc_export_check *x, const char *id, const char *text,
                               size_t len)
{
    FAIL_IF(!x || !id || !text, CAIRN_EINVAL, "cairn_doc_export_check_add: x, id and text are "
            "required");
    FAIL_IF(x->last_id && strcmp(x->last_id, id) >= 0, CAIRN_EINVAL,
            "export check: document %s after %s: ids must come in increasing order", id,
            x->last_id);
    free(x->last_id);
    x->last_id = cairn_strdup(id);
    FAIL_IF(!x->last_id, CAIRN_ENOMEM, "out of memory");
    x->res.documents++;
    bool ok;
    TRY(file_doc(x, id, text, len, &ok));
    if (!ok) { /* reported: the file is there, only not a sound document */
        if (x->hashes) json_object_del(x->hashes, id);
        return CAIRN_OK;
    }
    if (x->hashes) {
        json_t *want = json_object_get(x->hashes, id);
        cairn_id h;
        char hex[CAIRN_ID_HEX_SIZE];
        hash_sha256(&h, x->canon.data, x->canon.len);
        cairn_id_to_hex(hex, &h);
        int rc = CAIRN_OK;
        if (!want)
            rc = report(x, CAIRN_EXPORT_EXTRA, id, "%s.json: extra: the manifest names no "
                        "document %s", id, id);
        else if (strcmp(json_string_value(want), hex) != 0)
            rc = report(x, CAIRN_EXPORT_CHANGED, id, "%s.json: changed: its document hashes to "
                        "%.12s..., the manifest says %.12s...", id, hex, json_string_value(want));
        if (want) json_object_del(x->hashes, id);
        TRY(rc);
    }
    TRY(dv_stored_pack(&x->stored, x->canon.data, x->canon.len, id, strlen(id)));
    TRY(tb_add(&x->tb_text, (const uint8_t *)id, strlen(id), x->canon.data, x->canon.len, 1));
    return tb_add(&x->tb, (const uint8_t *)id, strlen(id), x->stored.data, x->stored.len, 1);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The documents the manifest names that no file held, in id order. */
static int report_missing(cairn_doc_export_check *x)
{
    size_t n = json_object_size(x->hashes), i = 0;
    if (!n) return CAIRN_OK;
    const char **ids = cairn_calloc(n, sizeof *ids);
    FAIL_IF(!ids, CAIRN_ENOMEM, "out of memory");
    const char *id;
    json_t *h;
    json_object_foreach(x->hashes, id, h) ids[i++] = id;
    qsort(ids, n, sizeof *ids, str_cmp);
    int rc = CAIRN_OK;
    for (i = 0; i < n && rc == CAIRN_OK; i++)
        rc = report(x, CAIRN_EXPORT_MISSING, ids[i], "%s.json: missing: the manifest names "
                    "document %s", ids[i], ids[i]);
    free(ids);
    return rc;
}

int cairn_doc_export_check_finish(cairn_doc_export_result *out, cairn_doc_export_check *x)
{
    FAIL_IF(!out || !x, CAIRN_EINVAL, "cairn_doc_export_check_finish: out and x are required");
    if (x->hashes) TRY(report_missing(x));
    cairn_id text_root;
    TRY(tb_finish(&x->tb, &x->res.root));
    TRY(tb_finish(&x->tb_text, &text_root));
    if (memcmp(&text_root, &x->res.manifest_root, sizeof text_root) == 0)
        x->res.root = text_root; /* exported from a table of canonical text */
    char have[CAIRN_ID_HEX_SIZE], want[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(have, &x->res.root);
    cairn_id_to_hex(want, &x->res.manifest_root);
    if (!x->hashes && x->res.documents != x->declared) /* format 2 named each one already */
        TRY(report(x, CAIRN_EXPORT_ROOT, NULL, "the manifest counts %llu documents, the "
                   "directory holds %llu", (unsigned long long)x->declared,
                   (unsigned long long)x->res.documents));
    if (memcmp(&x->res.root, &x->res.manifest_root, sizeof x->res.root) != 0)
        TRY(report(x, CAIRN_EXPORT_ROOT, NULL, "the documents make root %.12s..., the manifest "
                   "records %.12s...: the directory is not the collection exported%s", have, want,
                   x->res.problems || !x->hashes ? "" : " (each file matches its hash: the "
                   "collection's table may have held documents in both stored forms, some "
                   "written before the packed form: 'cairn doc repack COLL', commit and export "
                   "again; docs/FORMAT.md, \"Stored documents\")"));
    *out = x->res;
    return CAIRN_OK;
}

void cairn_doc_export_check_free(cairn_doc_export_check *x)
{
    if (!x) return;
    if (x->cs_ready) {
        tb_dispose(&x->tb);
        tb_dispose(&x->tb_text);
        cs_dispose(&x->cs);
    }
    json_decref(x->hashes);
    json_decref(x->manifest);
    free(x->last_id);
    cairn_buf_dispose(&x->canon);
    cairn_buf_dispose(&x->stored);
    free(x);
}
