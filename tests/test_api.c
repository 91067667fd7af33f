/*
 * test_api.c - the public API's contracts that cut across modules: a callback's non-zero return
 * comes back from every walk as-is (CAIRN_EUSER or any other value) with its message kept;
 * callbacks that run under the writer gate cannot deadlock by writing; status codes and their
 * names; close refuses while snapshots or cursors are open; outputs untouched on failure; the
 * option-struct initialisers for bindings; the version from the build; custom signers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>

#include "base/base.h" /* cairn_errno_code */
#include "cairn.h"
#include "test.h"

/* A new local repository (test_tmpdir() is a new directory per call), or, with name a path
 * returned before, that one again. */
static cairn_db *open_local(const char *name)
{
    char url[4200];
    if (name[0] == '/') snprintf(url, sizeof url, "%s", name);
    else snprintf(url, sizeof url, "%s/%s", test_tmpdir(), name);
    return test_open_repo(url);
}

static int put(cairn_db *db, const char *table, const char *k, const char *v)
{
    cairn_table *t;
    int rc = cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE);
    if (rc != CAIRN_OK) return rc;
    rc = v ? cairn_put(t, k, strlen(k), v, strlen(v)) : cairn_delete(t, k, strlen(k));
    cairn_table_close(t);
    return rc;
}


/* ---- callbacks: the stop value comes back as-is, with the callback's message ---- */

/* What the callbacks return, and how often they were called. Before returning, each makes a
 * cairn call fail, as a callback whose own cairn call failed would: its message must survive. */
static int stop_with;
static int calls;

static int stop(void)
{
    calls++;
    cairn_id id;
    (void)cairn_id_from_hex(&id, "callback-said-no");
    return stop_with;
}

static int name_cb(const char *name, void *p) { (void)name, (void)p; return stop(); }
static int info_cb(const cairn_commit_info *i, void *p) { (void)i, (void)p; return stop(); }
static int ref_cb(const char *n, const cairn_id *c, int cur, void *p)
{
    (void)n, (void)c, (void)cur, (void)p;
    return stop();
}
static int tag_cb(const char *n, const cairn_id *c, void *p) { (void)n, (void)c, (void)p; return stop(); }
static int reflog_cb(const cairn_reflog_info *i, void *p) { (void)i, (void)p; return stop(); }
static int diff_cb(const cairn_diff_entry *e, void *p) { (void)e, (void)p; return stop(); }
static int oplog_cb(const cairn_oplog_record *r, void *p) { (void)r, (void)p; return stop(); }
static int conflict_cb(const cairn_conflict *c, void *p) { (void)c, (void)p; return stop(); }
static int key_cb(const cairn_key_info *k, void *p) { (void)k, (void)p; return stop(); }
static int item_cb(const cairn_tuple_item *i, void *p) { (void)i, (void)p; return stop(); }

/* rc must be stop_with, after exactly one call, with the callback's message. */
#define CHECK_STOPPED(expr)                                                                        \
    do {                                                                                           \
        calls = 0;                                                                                 \
        CHECK_RC((expr), stop_with);                                                               \
        CHECK_EQ(calls, 1);                                                                        \
        CHECK_ERRMSG("callback-said-no");                                                          \
    } while (0)

/* A repository with two commits on main, a tag, a branch "other" whose change conflicts. */
static cairn_db *walkable(void)
{
    cairn_db *db = open_local("walk");
    if (put(db, "t", "a", "1") || put(db, "t", "b", "1") || test_commit(db, "one", NULL) ||
        cairn_tag_create(db, "v1", NULL) || cairn_branch_create(db, "other", NULL) ||
        put(db, "t", "a", "2") || test_commit(db, "two", NULL) || cairn_checkout(db, "other") ||
        put(db, "t", "a", "3") || test_commit(db, "three", NULL) || cairn_checkout(db, "main") ||
        cairn_trust_key(db, "cairn-ed25519 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a"
                            "68f707511a k"))
        exit(2);
    return db;
}

static void walks_return_the_callbacks_value(void)
{
    cairn_db *db = walkable();
    static const int values[] = { CAIRN_EUSER, 1, 42, CAIRN_ENOTFOUND };
    const char *keydir = test_tmpdir();
    CHECK_OK(cairn_key_generate(NULL, keydir, "k1", NULL, CAIRN_KEY_UNPROTECTED));
    cairn_tuple *tu;
    CHECK_OK(cairn_tuple_new(&tu));
    CHECK_OK(cairn_tuple_add_int(tu, 7));
    size_t tlen;
    const void *tdata = cairn_tuple_data(&tlen, tu);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        stop_with = values[i];
        cairn_id head;
        CHECK_OK(cairn_resolve(&head, db, "HEAD"));
        CHECK_STOPPED(cairn_table_list(db, NULL, name_cb, NULL));
        CHECK_STOPPED(cairn_log(db, "HEAD", info_cb, NULL));
        CHECK_STOPPED(cairn_commit_show(db, &head, info_cb, NULL));
        CHECK_STOPPED(cairn_branch_list(db, ref_cb, NULL));
        CHECK_STOPPED(cairn_tag_list(db, tag_cb, NULL));
        CHECK_STOPPED(cairn_reflog(db, NULL, reflog_cb, NULL));
        CHECK_STOPPED(cairn_diff(db, "v1", "HEAD", NULL, diff_cb, NULL));
        CHECK_STOPPED(cairn_oplog(db, 0, 0, 0, oplog_cb, NULL));
        CHECK_STOPPED(cairn_trusted_keys(db, name_cb, NULL));
        CHECK_STOPPED(cairn_key_list(keydir, key_cb, NULL));
        CHECK_STOPPED(cairn_tuple_decode(tdata, tlen, item_cb, NULL));
        /* on_conflict stops the merge: nothing changes */
        cairn_merge_result mr;
        CHECK_STOPPED(cairn_merge(&mr, db, "other", CAIRN_MERGE_OURS, conflict_cb, NULL));
        cairn_id after;
        CHECK_OK(cairn_resolve(&after, db, "HEAD"));
        CHECK_MEM(after.bytes, sizeof after.bytes, head.bytes, sizeof head.bytes);
    }
    /* recorded conflicts */
    cairn_merge_result mr;
    CHECK_OK(cairn_merge(&mr, db, "other", CAIRN_MERGE_RECORD, NULL, NULL));
    CHECK_EQ(mr.conflicts, 1);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        stop_with = values[i];
        CHECK_STOPPED(cairn_conflicts(db, conflict_cb, NULL));
    }
    /* cairn itself never produces CAIRN_EUSER, and names it */
    CHECK_STR(cairn_strerror(CAIRN_EUSER), "stopped by a callback");
    cairn_tuple_free(tu);
    CHECK_OK(cairn_close(db));
}

/* ---- callbacks that run under the writer lock: writing from them fails, never hangs ---- */

typedef struct reentry {
    cairn_db *db;
    int put_rc, resolve_rc, commit_rc;
    char msg[512];
} reentry;

static int reenter(reentry *r)
{
    r->put_rc = put(r->db, "t", "from-callback", "x");
    snprintf(r->msg, sizeof r->msg, "%s", cairn_error_last()->message);
    cairn_id id;
    r->resolve_rc = cairn_resolve(&id, r->db, "HEAD");
    r->commit_rc = test_commit(r->db, "from a callback", NULL);
    return 0;
}

static int reenter_conflict(const cairn_conflict *c, void *p) { (void)c; return reenter(p); }
static int reenter_oplog(const cairn_oplog_record *rec, void *p) { (void)rec; return reenter(p); }

static void writer_callbacks_do_not_deadlock(void)
{
    cairn_db *db = walkable();
    reentry r = { db, 0, 0, 0, "" };
    cairn_merge_result mr;
    CHECK_OK(cairn_merge(&mr, db, "other", CAIRN_MERGE_OURS, reenter_conflict, &r));
    CHECK_EQ(mr.conflicts, 1);
    CHECK_RC(r.put_rc, CAIRN_EBUSY);
    CHECK_RC(r.resolve_rc, CAIRN_EBUSY);
    CHECK_RC(r.commit_rc, CAIRN_EBUSY);
    CHECK_MSG(strstr(r.msg, "deadlock") && strstr(r.msg, "on_conflict"), "message: %s", r.msg);
    memset(&r, 0, sizeof r);
    r.db = db;
    CHECK_OK(cairn_oplog(db, 0, 0, 0, reenter_oplog, &r));
    CHECK_RC(r.put_rc, CAIRN_EBUSY);
    /* after the callbacks, the same thread writes as usual */
    CHECK_OK(put(db, "t", "after", "1"));
    CHECK_OK(cairn_close(db));
}

/* ---- status codes ---- */

static void permission_is_not_auth(void)
{
    CHECK_EQ(cairn_errno_code(EACCES), CAIRN_EPERM);
    CHECK_EQ(cairn_errno_code(EPERM), CAIRN_EPERM);
    CHECK_RC(cairn_error_errno(EACCES, "opening /x/y"), CAIRN_EPERM);
    CHECK_ERRMSG("/x/y");
    CHECK_ERRMSG("owner and mode");
    CHECK_STR(cairn_strerror(CAIRN_EPERM), "permission denied");
    CHECK(strcmp(cairn_strerror(CAIRN_EAUTH), cairn_strerror(CAIRN_EPERM)) != 0);
}

/* ---- close with readers open: refused, and the handle stays usable ---- */

static void close_refuses_while_snapshots_or_cursors_are_open(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/close", test_tmpdir());
    cairn_db *db = open_local(path);
    CHECK_OK(put(db, "t", "a", "1"));
    cairn_snapshot *s1, *s2;
    CHECK_OK(cairn_snapshot_open(&s1, db));
    CHECK_OK(cairn_snapshot_open_at(&s2, db, "WORKING"));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    cairn_cursor *c;
    CHECK_OK(cairn_cursor_open(&c, t, s1, NULL));
    CHECK_RC(cairn_close(db), CAIRN_EBUSY);
    CHECK_ERRMSG("2 snapshot(s) and 1 cursor(s)");
    /* nothing was closed: everything still works, writes included */
    CHECK_OK(cairn_cursor_next(c));
    CHECK_OK(put(db, "t", "b", "2"));
    cairn_snapshot_close(s1);
    cairn_snapshot_close(s2);
    CHECK_RC(cairn_close(db), CAIRN_EBUSY);
    CHECK_ERRMSG("0 snapshot(s) and 1 cursor(s)");
    cairn_cursor_close(c);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    /* what was written while the close was refused is there */
    db = open_local(path);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    uint64_t n;
    CHECK_OK(cairn_count(&n, t, NULL, NULL));
    CHECK_EQ(n, 2);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- no output is written on failure ---- */

#define POISON 0xA5

static bool poisoned(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] != POISON) return false;
    return true;
}

/* expr must fail with code and leave the object o untouched. */
#define CHECK_UNTOUCHED(o, expr, code)                                                             \
    do {                                                                                           \
        memset(&(o), POISON, sizeof(o));                                                           \
        CHECK_RC((expr), (code));                                                                  \
        CHECK_MSG(poisoned(&(o), sizeof(o)), "%s wrote its output on failure", #expr);            \
    } while (0)

static void outputs_untouched_on_failure(void)
{
    cairn_db *db = walkable();
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *val;
    size_t len;
    CHECK_UNTOUCHED(val, cairn_get(&val, &len, t, NULL, "nope", 4), CAIRN_ENOTFOUND);
    CHECK_UNTOUCHED(len, cairn_get(&val, &len, t, NULL, "nope", 4), CAIRN_ENOTFOUND);
    cairn_id id;
    CHECK_UNTOUCHED(id, cairn_resolve(&id, db, "no-such-branch"), CAIRN_ENOTFOUND);
    CHECK_UNTOUCHED(id, cairn_resolve(&id, db, "HEAD~9"), CAIRN_ENOTFOUND);
    CHECK_UNTOUCHED(id, cairn_id_from_hex(&id, "12zz"), CAIRN_EINVAL);
    CHECK_UNTOUCHED(id, test_commit(db, "nothing changed", &id), CAIRN_EINVAL);
    cairn_table *missing;
    CHECK_UNTOUCHED(missing, cairn_table_open(&missing, db, "missing", 0), CAIRN_ENOTFOUND);
    cairn_table *named;
    CHECK_OK(cairn_table_open(&named, db, "missing", CAIRN_TABLE_NAMEONLY));
    CHECK_UNTOUCHED(id, cairn_table_root(&id, named, NULL), CAIRN_ENOTFOUND);
    uint64_t n;
    CHECK_UNTOUCHED(n, cairn_count(&n, named, NULL, NULL), CAIRN_ENOTFOUND);
    cairn_table_stats ts;
    CHECK_UNTOUCHED(ts, cairn_table_stats_get(&ts, named, NULL), CAIRN_ENOTFOUND);
    void *proof;
    CHECK_UNTOUCHED(proof, cairn_prove(&proof, &len, named, NULL, "k", 1), CAIRN_ENOTFOUND);
    cairn_cursor *cur;
    CHECK_UNTOUCHED(cur, cairn_cursor_open(&cur, named, NULL, NULL), CAIRN_ENOTFOUND);
    cairn_table_close(named);
    cairn_snapshot *snap;
    CHECK_UNTOUCHED(snap, cairn_snapshot_open_at(&snap, db, "nope"), CAIRN_ENOTFOUND);
    char *str;
    CHECK_UNTOUCHED(str, cairn_config_get(&str, db, "commit.require_signature"), CAIRN_ENOTFOUND);
    const void *k;
    CHECK_OK(cairn_cursor_open(&cur, t, NULL, NULL));
    CHECK_UNTOUCHED(k, cairn_cursor_get(&k, NULL, NULL, NULL, cur), CAIRN_ESTATE);
    cairn_cursor_close(cur);
    cairn_key_info ki;
    CHECK_UNTOUCHED(ki, cairn_key_public(&ki, test_tmpdir(), "nobody"), CAIRN_ENOTFOUND);
    CHECK_UNTOUCHED(ki, cairn_key_parse_public(&ki, "cairn-ed25519 00 x"), CAIRN_EINVAL);
    CHECK_UNTOUCHED(ki, cairn_key_parse_public(&ki, "cairn-ed25519 d75a980182b10ab7d54bfed3c964"
                                                    "073a0ee172f3daa62325af021a68f707511a -x"),
                    CAIRN_EINVAL);
    CHECK_UNTOUCHED(ki, cairn_key_generate(&ki, test_tmpdir(), "-bad", NULL,
                                           CAIRN_KEY_UNPROTECTED), CAIRN_EINVAL);
    cairn_signer *sg;
    CHECK_UNTOUCHED(sg, cairn_signer_open(&sg, test_tmpdir(), "nobody", NULL), CAIRN_ENOTFOUND);
    cairn_proof_result pr;
    CHECK_UNTOUCHED(pr, cairn_proof_verify(&pr, "junk", 4, &id), CAIRN_EAUTH);
    cairn_merge_result mr;
    CHECK_UNTOUCHED(mr, cairn_merge(&mr, db, "nope", CAIRN_MERGE_OURS, NULL, NULL),
                    CAIRN_ENOTFOUND);
    cairn_db *other;
    CHECK_UNTOUCHED(other, cairn_open(&other, "/nonexistent/repo", NULL), CAIRN_ENOTFOUND);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- an application's signer (here libsodium directly, as an HSM or agent would) ---- */

typedef struct my_signer {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    int mode;                /* 0 sign, 1 break the signature, 2 refuse */
    int signs, frees;
} my_signer;

static int my_sign(uint8_t out_sig[CAIRN_KEY_SIGNATURE_SIZE], uint8_t out_pub[CAIRN_KEY_PUBLIC_SIZE],
                   const void *data, size_t len, void *payload)
{
    my_signer *m = payload;
    m->signs++;
    if (m->mode == 2) return CAIRN_EUSER;
    if (m->mode == 3) return 7;
    crypto_sign_detached(out_sig, NULL, data, len, m->sk);
    memcpy(out_pub, m->pk, sizeof m->pk);
    if (m->mode == 1) out_sig[5] ^= 1;
    return 0;
}

static void my_free(void *payload) { ((my_signer *)payload)->frees++; }

static int sig_of(const cairn_commit_info *i, void *p)
{
    *(cairn_sig_status *)p = i->signature;
    return 0;
}

static void custom_signer_signs_commits(void)
{
    CHECK(sodium_init() >= 0);
    my_signer m;
    memset(&m, 0, sizeof m);
    crypto_sign_keypair(m.pk, m.sk);
    cairn_signer_methods methods = { CAIRN_SIGNER_METHODS_VERSION, my_sign, my_free };
    cairn_signer *sg;
    CHECK_OK(cairn_signer_new(&sg, "hsm-1", &methods, &m));
    cairn_key_info ki;
    cairn_signer_info(&ki, sg);
    CHECK_STR(ki.name, "hsm-1");
    cairn_db *db = open_local("signed");
    /* trust the application's key: its public line, as a .pub file would hold it */
    char line[200], hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex(hex, sizeof hex, m.pk, sizeof m.pk);
    snprintf(line, sizeof line, "cairn-ed25519 %s hsm-1", hex);
    CHECK_OK(cairn_trust_key(db, line));
    CHECK_OK(put(db, "t", "a", "1"));
    cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
    co.message = "signed by the application";
    co.author = "Test <test@example.com>";
    co.signer = sg;
    cairn_id id;
    CHECK_OK(cairn_commit(&id, db, &co));
    CHECK_EQ(m.signs, 1);
    cairn_sig_status st = CAIRN_SIG_NONE;
    CHECK_OK(cairn_commit_show(db, &id, sig_of, &st));
    CHECK_EQ(st, CAIRN_SIG_GOOD);
    cairn_signer_info(&ki, sg);
    CHECK_MEM(ki.public_key, sizeof ki.public_key, m.pk, sizeof m.pk);
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    CHECK_EQ(vs.sigs_good, 1);
    CHECK_EQ(vs.sigs_bad, 0);
    /* a signature that does not verify is refused, not committed */
    m.mode = 1;
    CHECK_OK(put(db, "t", "b", "2"));
    cairn_id head;
    CHECK_RC(cairn_commit(NULL, db, &co), CAIRN_EAUTH);
    CHECK_ERRMSG("hsm-1");
    CHECK_OK(cairn_resolve(&head, db, "HEAD"));
    CHECK_MEM(head.bytes, sizeof head.bytes, id.bytes, sizeof id.bytes);
    /* the signer's own failure comes back as it returned it */
    m.mode = 2;
    CHECK_RC(cairn_commit(NULL, db, &co), CAIRN_EUSER);
    m.mode = 3;
    CHECK_RC(cairn_commit(NULL, db, &co), 7);
    CHECK_OK(cairn_resolve(&head, db, "HEAD"));
    CHECK_MEM(head.bytes, sizeof head.bytes, id.bytes, sizeof id.bytes);
    m.mode = 0;
    CHECK_OK(cairn_commit(NULL, db, &co));
    CHECK_OK(cairn_close(db));
    /* bad methods are refused */
    cairn_signer *bad;
    cairn_signer_methods nosign = { CAIRN_SIGNER_METHODS_VERSION, NULL, NULL };
    CHECK_RC(cairn_signer_new(&bad, NULL, &nosign, NULL), CAIRN_EINVAL);
    cairn_signer_methods future = { CAIRN_SIGNER_METHODS_VERSION + 1, my_sign, NULL };
    CHECK_RC(cairn_signer_new(&bad, NULL, &future, NULL), CAIRN_EINVAL);
    CHECK_EQ(m.frees, 0);
    cairn_signer_close(sg);
    CHECK_EQ(m.frees, 1);
}

/* ---- the version from the build, sizes as functions ---- */

static void version_and_sizes(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CAIRN_VERSION_MAJOR, CAIRN_VERSION_MINOR,
             CAIRN_VERSION_PATCH);
    CHECK_STR(cairn_version(), want);
    CHECK_EQ(cairn_id_size(), CAIRN_ID_SIZE);
    CHECK_EQ(cairn_key_len_max(), CAIRN_KEY_LEN_MAX);
    CHECK_EQ(cairn_value_len_max(), CAIRN_VALUE_LEN_MAX);
    CHECK_EQ(cairn_table_name_len_max(), CAIRN_TABLE_NAME_LEN_MAX);
    CHECK_EQ(sizeof(((cairn_key_info *)0)->fingerprint), CAIRN_KEY_FINGERPRINT_SIZE);
    CHECK(cairn_durability_valid(CAIRN_DURABILITY_RELAXED));
    CHECK(!cairn_durability_valid(3));
}

/* ---- initialisers for bindings ---- */

static void option_inits_match_the_macros(void)
{
    cairn_open_options o;
    memset(&o, 0xFF, sizeof o);
    cairn_open_options_init(&o);
    CHECK_EQ(o.version, CAIRN_OPEN_OPTIONS_VERSION);
    CHECK_EQ(o.flags, 0);
    CHECK_EQ(o.durability, CAIRN_DURABILITY_DEFAULT);
    CHECK_EQ(o.cache_bytes, 0);
    CHECK_EQ(o.wal_segment_bytes, 0);
    CHECK(o.wal_dir == NULL);
    CHECK_EQ(cairn_open_options_size(), sizeof o);
    cairn_commit_options c;
    memset(&c, 0xFF, sizeof c);
    cairn_commit_options_init(&c);
    CHECK_EQ(c.version, CAIRN_COMMIT_OPTIONS_VERSION);
    CHECK(c.message == NULL && c.signer == NULL && c.flags == 0);
    cairn_gc_options g;
    memset(&g, 0xFF, sizeof g);
    cairn_gc_options_init(&g);
    CHECK_EQ(g.version, CAIRN_GC_OPTIONS_VERSION);
    CHECK(g.flags == 0 && g.min_live_fraction == 0.0);
    cairn_verify_options v;
    memset(&v, 0xFF, sizeof v);
    cairn_verify_options_init(&v);
    CHECK_EQ(v.version, CAIRN_VERIFY_OPTIONS_VERSION);
    CHECK(v.flags == 0 && v.max_problems == 0 && v.on_problem == NULL && v.payload == NULL);
    cairn_range r;
    memset(&r, 0xFF, sizeof r);
    cairn_range_init(&r);
    CHECK(r.from == NULL && r.to == NULL && r.prefix == NULL && r.from_len == 0);
    /* a program built against version 3 (durability 0 durable, 1 relaxed) keeps its meaning;
     * 2 was never valid there */
    char path[4200];
    snprintf(path, sizeof path, "%s/v3", test_tmpdir());
    cairn_open_options v3 = CAIRN_OPEN_OPTIONS_INIT;
    v3.version = 3;
    v3.flags = CAIRN_OPEN_CREATE;
    v3.durability = (cairn_durability)1;
    cairn_db *db3;
    CHECK_OK(cairn_open(&db3, path, &v3));
    CHECK_OK(cairn_close(db3));
    v3.durability = (cairn_durability)2;
    CHECK_RC(cairn_open(&db3, path, &v3), CAIRN_EINVAL);
    CHECK_ERRMSG("durability");
    /* an options struct from the function opens a repository like one from the macro */
    cairn_db *db;
    o.flags = CAIRN_OPEN_CREATE;
    CHECK_OK(cairn_open(&db, "mem:", &o));
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(walks_return_the_callbacks_value, writer_callbacks_do_not_deadlock,
          permission_is_not_auth, close_refuses_while_snapshots_or_cursors_are_open,
          outputs_untouched_on_failure, custom_signer_signs_commits,
          version_and_sizes, option_inits_match_the_macros)
