/*
 * test_doc_export.c - checking an export directory against its manifest (src/doc/export.c,
 * `cairn doc verify-export`, `doc import DIR`): the root rebuilt from pretty-printed files
 * equals the collection's root in the repository (thousands of documents of varied sizes, so
 * several tree levels and many node boundaries); a changed, missing, extra or malformed file is
 * named with what is wrong; a damaged manifest is refused; a format 1 manifest (no hashes) is
 * still checked by its root; with the repository at hand the root is compared with the commit's;
 * import refuses an export that fails the check unless --force.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cairn/doc.h"
#include "test.h"

#define NDOCS 3000

typedef struct exported {
    cairn_doc_manifest *m;
    char **ids, **texts;     /* the documents as an export writes them (pretty-printed) */
    size_t n;
} exported;

static int take(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (void)cursor;
    exported *x = p;
    if (cairn_doc_manifest_add(x->m, id, doc, len) != CAIRN_OK) return 1;
    json_t *j = json_loadb(doc, len, 0, NULL);
    x->ids[x->n] = strdup(id);
    x->texts[x->n] = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    x->n++;
    return x->texts[x->n - 1] ? 0 : 1;
}

typedef struct seen {
    int n[6];                /* by cairn_doc_export_damage */
    char last_id[64];
    char messages[4096];
} seen;

static int note(const cairn_doc_export_problem *p, void *payload)
{
    seen *s = payload;
    s->n[p->damage]++;
    snprintf(s->last_id, sizeof s->last_id, "%s", p->id ? p->id : "");
    size_t at = strlen(s->messages);
    snprintf(s->messages + at, sizeof s->messages - at, "%s\n", p->message);
    return 0;
}

/* Runs a check over x's files; skip: an index left out; swap: a text used instead at index
 * swap_at; extra: an id added after the others. */
static void run_check(cairn_doc_export_result *r, seen *s, const char *manifest, exported *x,
                      size_t skip, size_t swap_at, const char *swap, const char *extra)
{
    memset(s, 0, sizeof *s);
    cairn_doc_export_check *c;
    CHECK_OK(cairn_doc_export_check_new(&c, manifest, strlen(manifest), note, s));
    for (size_t i = 0; i < x->n; i++) {
        if (i == skip) continue;
        const char *t = i == swap_at ? swap : x->texts[i];
        CHECK_OK(cairn_doc_export_check_add(c, x->ids[i], t, strlen(t)));
    }
    if (extra) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"_id\": \"%s\"}", extra);
        CHECK_OK(cairn_doc_export_check_add(c, extra, doc, strlen(doc)));
    }
    CHECK_OK(cairn_doc_export_check_finish(r, c));
    static char coll[64]; /* r->collection is the check's, valid until it is freed */
    snprintf(coll, sizeof coll, "%s", r->collection);
    r->collection = coll;
    cairn_doc_export_check_free(c);
}

/* Every document of c into x (n of them) and a manifest of root (and commit) into *manifest
 * (cairn_free()), as `cairn doc export` makes them. */
static void export_all(exported *x, char **manifest, cairn_coll *c, const char *name,
                       const cairn_id *root, const cairn_id *commit, size_t n)
{
    x->m = NULL;
    x->ids = calloc(n, sizeof(char *));
    x->texts = calloc(n, sizeof(char *));
    x->n = 0;
    CHECK_OK(cairn_doc_manifest_new(&x->m, name, root, commit));
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    CHECK_OK(cairn_doc_find(NULL, c, NULL, &q, take, x));
    CHECK_EQ(x->n, n);
    CHECK_OK(cairn_doc_manifest_text(manifest, x->m));
}

static void root_rebuilt(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "big", CAIRN_COLL_CREATE));
    cairn_doc_bulk *b;
    CHECK_OK(cairn_doc_bulk_new(&b, c, NULL));
    uint64_t rng = test_rng(1);
    for (int i = 0; i < NDOCS; i++) {
        char doc[2048], pad[1500];
        size_t plen = (size_t)(test_rand(&rng) % 1000);
        memset(pad, 'a' + i % 26, plen);
        pad[plen] = '\0';
        snprintf(doc, sizeof doc, "{\"_id\":\"d%05d\",\"n\":%d,\"x\":%.3f,\"s\":\"%s\",\"u\":\"\\u00e9\"}",
                 i, i, i / 7.0, pad);
        CHECK_OK(cairn_doc_bulk_add(b, doc, strlen(doc)));
    }
    CHECK_OK(cairn_doc_bulk_commit(b));
    cairn_doc_bulk_free(b);
    cairn_id root, commit;
    CHECK_OK(test_commit(db, "docs", &commit));
    CHECK_OK(cairn_coll_root(&root, c, NULL));
    cairn_table_stats ts;
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.big", CAIRN_TABLE_INTERNAL));
    CHECK_OK(cairn_table_stats_get(&ts, t, NULL));
    cairn_table_close(t);
    CHECK(ts.depth >= 2); /* several levels: the boundaries above the leaves are checked too */

    exported x;
    char *manifest;
    export_all(&x, &manifest, c, "big", &root, &commit, NDOCS);

    /* sound: the same root, from pretty-printed files and nothing else */
    cairn_doc_export_result r;
    seen s;
    run_check(&r, &s, manifest, &x, SIZE_MAX, SIZE_MAX, NULL, NULL);
    CHECK_EQ(r.problems, 0);
    CHECK_EQ(r.documents, NDOCS);
    CHECK_MEM(&r.root, sizeof r.root, &root, sizeof root);
    CHECK(r.per_document && r.has_commit && r.format == 2);
    CHECK_MEM(&r.commit, sizeof r.commit, &commit, sizeof commit);
    CHECK_STR(r.collection, "big");

    /* one changed value: that file, and the root */
    char *changed = strdup(x.texts[1234]);
    char *p = strstr(changed, "\"n\": 1234");
    CHECK(p);
    p[6] = '9';
    run_check(&r, &s, manifest, &x, SIZE_MAX, 1234, changed, NULL);
    CHECK_EQ(s.n[CAIRN_EXPORT_CHANGED], 1);
    CHECK_EQ(s.n[CAIRN_EXPORT_ROOT], 1);
    CHECK_EQ(r.problems, 2);
    CHECK(strstr(s.messages, "d01234.json: changed"));
    free(changed);

    /* reformatted only (white space, member order): still sound */
    json_t *j = json_loads(x.texts[7], 0, NULL);
    char *compact = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    run_check(&r, &s, manifest, &x, SIZE_MAX, 7, compact, NULL);
    CHECK_EQ(r.problems, 0);
    free(compact);

    /* one missing, one extra, one malformed */
    run_check(&r, &s, manifest, &x, 10, SIZE_MAX, NULL, NULL);
    CHECK_EQ(s.n[CAIRN_EXPORT_MISSING], 1);
    CHECK(strstr(s.messages, "d00010.json: missing"));
    run_check(&r, &s, manifest, &x, SIZE_MAX, SIZE_MAX, NULL, "zz");
    CHECK_EQ(s.n[CAIRN_EXPORT_EXTRA], 1);
    CHECK_STR(s.last_id, "");  /* the root came after it */
    CHECK(strstr(s.messages, "zz.json: extra"));
    run_check(&r, &s, manifest, &x, SIZE_MAX, 3, "{\"_id\": \"d00003\",", NULL);
    CHECK_EQ(s.n[CAIRN_EXPORT_UNREADABLE], 1);
    CHECK(strstr(s.messages, "d00003.json: malformed JSON at line 1"));
    run_check(&r, &s, manifest, &x, SIZE_MAX, 4, "{\"_id\": \"other\"}", NULL);
    CHECK_EQ(s.n[CAIRN_EXPORT_CHANGED], 1);
    CHECK(strstr(s.messages, "its _id is not 'd00004'"));

    /* files out of order are refused */
    cairn_doc_export_check *ck;
    CHECK_OK(cairn_doc_export_check_new(&ck, manifest, strlen(manifest), NULL, NULL));
    CHECK_OK(cairn_doc_export_check_add(ck, x.ids[1], x.texts[1], strlen(x.texts[1])));
    CHECK_RC(cairn_doc_export_check_add(ck, x.ids[0], x.texts[0], strlen(x.texts[0])), CAIRN_EINVAL);
    cairn_doc_export_check_free(ck);

    /* a format 1 manifest (no hashes): the files are checked together, by the root */
    char hex[CAIRN_ID_HEX_SIZE], v1[512];
    cairn_id_to_hex(hex, &root);
    snprintf(v1, sizeof v1, "{\"collection\":\"big\",\"commit\":null,\"documents\":%d,"
             "\"format\":\"cairn-doc-export 1\",\"root\":\"%s\"}", NDOCS, hex);
    run_check(&r, &s, v1, &x, SIZE_MAX, SIZE_MAX, NULL, NULL);
    CHECK_EQ(r.problems, 0);
    CHECK(!r.per_document && !r.has_commit && r.format == 1);
    run_check(&r, &s, v1, &x, 10, SIZE_MAX, NULL, NULL);
    CHECK_EQ(s.n[CAIRN_EXPORT_ROOT], 2); /* the count, and the root */

    /* damaged manifests */
    const char *bad[] = {
        "{", "[]", "{\"format\":\"cairn-doc-export 9\"}",
        "{\"format\":\"cairn-doc-export 2\",\"collection\":\"x\",\"root\":\"zz\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(cairn_doc_export_check_new(&ck, bad[i], strlen(bad[i]), NULL, NULL),
                 CAIRN_ECORRUPT);
        CHECK_ERRMSG("manifest: ");
    }
    char *lying = strdup(manifest); /* "documents" disagreeing with "hashes" */
    p = strstr(lying, "\"documents\": 3000");
    CHECK(p);
    p[13] = '2';
    CHECK_RC(cairn_doc_export_check_new(&ck, lying, strlen(lying), NULL, NULL), CAIRN_ECORRUPT);
    CHECK_ERRMSG("\"documents\" says 2000, \"hashes\" holds 3000");
    free(lying);

    cairn_free(manifest);
    for (size_t i = 0; i < x.n; i++) {
        free(x.ids[i]);
        free(x.texts[i]);
    }
    free(x.ids);
    free(x.texts);
    cairn_doc_manifest_free(x.m);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* For a CLI test: the binary (CAIRN_BIN), a scratch directory *d with a new repository in
 * r = D/r, and cmd running the binary on it. NULL (the test skipped) without CAIRN_BIN. */
static void cli_setup(const char **bin, const char **d, char *r, size_t rsize, char *cmd,
                      size_t csize)
{
    *bin = getenv("CAIRN_BIN");
    if (!*bin) {
        printf("    (skipped: CAIRN_BIN is not set)\n");
        return;
    }
    *d = test_tmpdir();
    snprintf(r, rsize, "%s/r", *d);
    snprintf(cmd, csize, "'%s' -C '%s'", *bin, r);
    CHECK_EQ(test_sh("'%s' init '%s' >/dev/null", *bin, r), 0);
}

/* The CLI end to end: export, verify-export, damage, --repo, import refusing and --force. */
static void cli(void)
{
    const char *bin, *d;
    char r[4200], cmd[4400];
    cli_setup(&bin, &d, r, sizeof r, cmd, sizeof cmd);
    if (!bin) return;
    for (int i = 0; i < 20; i++)
        CHECK_EQ(test_sh("%s doc insert p '{\"_id\":\"p%02d\",\"n\":%d}' >/dev/null", cmd, i, i), 0);
    CHECK_EQ(test_sh("%s commit -m one >/dev/null", cmd), 0);
    CHECK_EQ(test_sh("%s doc patch p p00 '{\"n\":100}' >/dev/null", cmd), 0);
    CHECK_EQ(test_sh("%s commit -m two >/dev/null", cmd), 0);
    CHECK_EQ(test_sh("%s doc export p '%s/ex' --at HEAD 2>/dev/null", cmd, d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/ex' >%s/out", bin, d, d), 0);
    CHECK_EQ(test_sh("grep -q '^ok: 20 documents of p match manifest ' %s/out", d), 0);
    CHECK_EQ(test_sh("%s doc verify-export '%s/ex' >%s/out", cmd, d, d), 0);
    CHECK_EQ(test_sh("grep -q \"^ok: the root is collection p's at commit\" %s/out", d), 0);

    /* the manifest pointed at the first commit: the files agree with it, the repository not */
    CHECK_EQ(test_sh("cp -r '%s/ex' '%s/ex1' && c1=$(%s log --json | sed -n 2p | "
                     "sed 's/.*\"id\":\"\\([0-9a-f]*\\)\".*/\\1/') && "
                     "sed -i \"s/\\\"commit\\\": \\\"[0-9a-f]*\\\"/\\\"commit\\\": \\\"$c1\\\"/\" "
                     "'%s/ex1/manifest'", d, d, cmd, d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/ex1' >/dev/null", bin, d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/ex1' --repo '%s' >%s/out 2>&1", bin, d, r, d), 3);
    CHECK_EQ(test_sh("grep -q \"is not collection p's root at commit\" %s/out", d), 0);

    /* damage: each file named with what is wrong */
    CHECK_EQ(test_sh("cp -r '%s/ex' '%s/bad' && sed -i 's/\"n\": 5/\"n\": 6/' '%s/bad/p05.json' && "
                     "rm '%s/bad/p07.json' && echo '{\"_id\":\"q\"}' >'%s/bad/q.json'", d, d, d, d,
                     d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/bad' >%s/out 2>%s/err", bin, d, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'p05.json: changed' %s/out && grep -q 'p07.json: missing' %s/out && "
                     "grep -q 'q.json: extra' %s/out && grep -q '4 problems' %s/err", d, d, d, d),
             0);
    /* import refuses it (nothing written), --force takes it as it is */
    CHECK_EQ(test_sh("%s doc import copy '%s/bad' >/dev/null 2>%s/err", cmd, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'nothing was imported; --force' %s/err", d), 0);
    CHECK_EQ(test_sh("%s doc list | grep -qx copy", cmd), 1);
    CHECK_EQ(test_sh("%s doc import copy '%s/bad' --force >/dev/null 2>&1", cmd, d), 0);
    CHECK_EQ(test_sh("%s doc count copy | grep -qx 20", cmd), 0);
    CHECK_EQ(test_sh("%s doc import copy2 '%s/ex' >/dev/null 2>&1", cmd, d), 0);
    CHECK_EQ(test_sh("%s doc count copy2 | grep -qx 20", cmd), 0);

    /* a damaged manifest, and none */
    CHECK_EQ(test_sh("echo '{' > '%s/bad/manifest'", d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/bad' 2>%s/err >/dev/null", bin, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'bad/manifest is damaged: not JSON' %s/err", d), 0);
    CHECK_EQ(test_sh("rm '%s/bad/manifest'", d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/bad' >/dev/null 2>&1", bin, d), 3);
}

/* Any id exports, "manifest" too (the manifest's name is no ID.json); exports of the old layout
 * (the manifest in manifest.json, which then is no document) are still verified and imported. */
static void any_id(void)
{
    const char *bin, *d;
    char r[4200], cmd[4400];
    cli_setup(&bin, &d, r, sizeof r, cmd, sizeof cmd);
    if (!bin) return;
    const char *ids[] = { "manifest", "manifest.json", "a", ".hidden" };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        CHECK_EQ(test_sh("%s doc insert p '{\"_id\":\"%s\",\"n\":%zu}' >/dev/null", cmd, ids[i],
                         i), 0);
    CHECK_EQ(test_sh("%s doc export p '%s/ex' 2>%s/err", cmd, d, d), 0);
    CHECK_EQ(test_sh("grep -q '^exported 4 documents' %s/err", d), 0);
    CHECK_EQ(test_sh("test -f '%s/ex/manifest.json' && test -f '%s/ex/manifest.json.json' && "
                     "grep -q '\"format\": \"cairn-doc-export 2\"' '%s/ex/manifest'", d, d, d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/ex' >%s/out", bin, d, d), 0);
    CHECK_EQ(test_sh("grep -q '^ok: 4 documents of p match manifest ' %s/out", d), 0);
    CHECK_EQ(test_sh("%s doc import copy '%s/ex' >/dev/null 2>&1", cmd, d), 0);
    CHECK_EQ(test_sh("%s doc count copy | grep -qx 4", cmd), 0);
    CHECK_EQ(test_sh("%s doc get copy manifest | grep -q '\"n\":0'", cmd), 0);
    /* a damaged document named manifest.json is one of the documents, not the manifest */
    CHECK_EQ(test_sh("cp -r '%s/ex' '%s/bad' && sed -i 's/\"n\": 1/\"n\": 9/' "
                     "'%s/bad/manifest.json.json' && echo '{' >'%s/bad/manifest.json'", d, d, d, d),
             0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/bad' >%s/out 2>&1", bin, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'bad/manifest.json.json: changed' %s/out && "
                     "grep -q 'bad/manifest.json: malformed JSON' %s/out", d, d), 0);

    /* the old layout: manifest.json, every other ID.json a document */
    CHECK_EQ(test_sh("%s doc delete p manifest >/dev/null && %s doc delete p manifest.json "
                     ">/dev/null && %s doc export p '%s/old' 2>/dev/null && "
                     "mv '%s/old/manifest' '%s/old/manifest.json'", cmd, cmd, cmd, d, d, d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/old' >%s/out", bin, d, d), 0);
    CHECK_EQ(test_sh("grep -q '^ok: 2 documents of p match manifest.json ' %s/out", d), 0);
    CHECK_EQ(test_sh("%s doc import copy3 '%s/old' >/dev/null 2>&1", cmd, d), 0);
    CHECK_EQ(test_sh("%s doc count copy3 | grep -qx 2", cmd), 0);
    /* and in an old export a changed document is still found */
    CHECK_EQ(test_sh("sed -i 's/\"n\": 2/\"n\": 7/' '%s/old/a.json'", d), 0);
    CHECK_EQ(test_sh("'%s' doc verify-export '%s/old' >%s/out 2>&1", bin, d, d), 3);
    CHECK_EQ(test_sh("grep -q 'old/a.json: changed' %s/out", d), 0);
}

/* A table of canonical text, as cairn stored documents before the packed form (docs/FORMAT.md,
 * "Stored documents"): its export is checked against its own root; the same files check
 * against the root of the packed table too. */
static void text_table_root(void)
{
    enum { N = 300 };
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "old", CAIRN_COLL_CREATE));
    for (int i = 0; i < N; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"_id\":\"o%04d\",\"n\":%d,\"pad\":\"%0*d\"}", i, i, i % 90, 0);
        CHECK_OK(cairn_doc_insert(NULL, c, doc, strlen(doc), NULL));
    }
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.old", CAIRN_TABLE_INTERNAL));
    cairn_id packed_root, root;
    CHECK_OK(cairn_coll_root(&packed_root, c, NULL));
    for (int i = 0; i < N; i++) { /* each document as its text */
        char id[8], *text;
        size_t len;
        snprintf(id, sizeof id, "o%04d", i);
        CHECK_OK(cairn_doc_get(&text, &len, c, NULL, id));
        CHECK_OK(cairn_put(t, id, strlen(id), text, len));
        cairn_free(text);
    }
    CHECK_OK(cairn_coll_root(&root, c, NULL));
    CHECK(memcmp(&root, &packed_root, sizeof root) != 0);
    exported x;
    char *manifest;
    export_all(&x, &manifest, c, "old", &root, NULL, N);
    cairn_doc_export_result r;
    seen s;
    run_check(&r, &s, manifest, &x, SIZE_MAX, SIZE_MAX, NULL, NULL);
    CHECK_EQ(r.problems, 0);
    CHECK_MEM(&r.root, sizeof r.root, &root, sizeof root);
    cairn_free(manifest);
    /* the packed root checks the same files */
    cairn_doc_manifest_free(x.m);
    CHECK_OK(cairn_doc_manifest_new(&x.m, "old", &packed_root, NULL));
    for (size_t i = 0; i < x.n; i++) {
        char *text;
        size_t len;
        CHECK_OK(cairn_doc_get(&text, &len, c, NULL, x.ids[i]));
        CHECK_OK(cairn_doc_manifest_add(x.m, x.ids[i], text, len));
        cairn_free(text);
    }
    CHECK_OK(cairn_doc_manifest_text(&manifest, x.m));
    run_check(&r, &s, manifest, &x, SIZE_MAX, SIZE_MAX, NULL, NULL);
    CHECK_EQ(r.problems, 0);
    CHECK_MEM(&r.root, sizeof r.root, &packed_root, sizeof packed_root);
    cairn_free(manifest);
    cairn_doc_manifest_free(x.m);
    for (size_t i = 0; i < x.n; i++) {
        free(x.ids[i]);
        free(x.texts[i]);
    }
    free(x.ids);
    free(x.texts);
    cairn_table_close(t);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(root_rebuilt, cli, any_id, text_table_root)
