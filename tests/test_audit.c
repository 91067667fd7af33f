/*
 * test_audit.c - the access log (include/cairn/audit.h): entries recorded and read back with
 * filters; every entry of a small log altered, removed, reordered or re-signed in turn, each
 * reported by verify at that entry's position; concurrent appenders (threads, two handles
 * racing on the ref, two processes) losing nothing; gc keeping the log; the report.
 *
 * Tampering is done as an attacker with write access to the store would: the log's entries are
 * read, changed, written as a new tree and the ref is moved to it (the tree's own hashes then
 * hold, so only the entries' chain and signatures can tell).
 */
#include <pthread.h>
#include <sodium.h>
#include <sys/wait.h>

#include "cairn/audit.h"
#include "cairn/doc.h"
#include "db/db.h"
#include "doc/audit.h"
#include "fault_store.h"
#include "repo/refs.h"
#include "test.h"
#include "tree/tree.h"

/* ---- signers without key files (no Argon2id in a unit test) ---- */

typedef struct test_key {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
} test_key;

static int key_sign(uint8_t sig[64], uint8_t pub[32], const void *data, size_t len, void *p)
{
    test_key *k = p;
    crypto_sign_detached(sig, NULL, data, len, k->sk);
    memcpy(pub, k->pk, 32);
    return 0;
}

static cairn_signer *make_signer(test_key *k)
{
    if (sodium_init() < 0) return NULL;
    crypto_sign_keypair(k->pk, k->sk);
    cairn_signer_methods m = { CAIRN_SIGNER_METHODS_VERSION, key_sign, NULL };
    cairn_signer *s = NULL;
    if (cairn_signer_new(&s, "test", &m, k) != CAIRN_OK) return NULL;
    return s;
}

static cairn_db *mem_repo(void)
{
    return test_open_repo("mem:");
}

static int record(cairn_db *db, const char *who, const char *op, const char *target,
                  const char *detail, uint64_t results, cairn_signer *s)
{
    cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
    a.who = who;
    a.op = op;
    a.target = target;
    a.detail = detail;
    a.detail_len = detail ? strlen(detail) : 0;
    a.results = results;
    a.signer = s;
    return cairn_audit_record(NULL, db, &a);
}

/* ---- listing ---- */

typedef struct seen {
    int n;
    uint64_t pos[64];
    char who[64][32];
    uint64_t results[64];
    int64_t time[64];
} seen;

static int collect(const cairn_audit_entry *e, void *payload)
{
    seen *s = payload;
    if (s->n < 64) {
        s->pos[s->n] = e->position;
        snprintf(s->who[s->n], sizeof s->who[0], "%s", e->who);
        s->results[s->n] = e->results;
        s->time[s->n] = e->time;
    }
    s->n++;
    return 0;
}

static void record_and_list(void)
{
    cairn_db *db = mem_repo();
    int on;
    CHECK_OK(cairn_audit_enabled(&on, db));
    CHECK_EQ(on, 0);
    CHECK_OK(cairn_config_set(db, CAIRN_AUDIT_SETTING, "true"));
    CHECK_OK(cairn_audit_enabled(&on, db));
    CHECK_EQ(on, 1);
    test_key k;
    cairn_signer *s = make_signer(&k);
    CHECK(s != NULL);
    uint64_t pos;
    cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
    a.who = "alice";
    a.op = "get";
    a.target = "people";
    a.detail = "k\0ey";
    a.detail_len = 4;
    a.results = 1;
    CHECK_OK(cairn_audit_record(&pos, db, &a));
    CHECK_EQ(pos, 1);
    CHECK_OK(record(db, "bob", "scan", "people", "{\"from\":\"a\"}", 17, s));
    CHECK_OK(record(db, "alice", "doc.find", "orders", "{\"age\":{\"$gt\":3}}", 4, NULL));
    seen all = { 0 };
    CHECK_OK(cairn_audit_entries(db, NULL, collect, &all));
    CHECK_EQ(all.n, 3);
    for (int i = 0; i < 3; i++) CHECK_EQ(all.pos[i], (uint64_t)i + 1);
    CHECK_STR(all.who[1], "bob");
    CHECK_EQ(all.results[1], 17);
    CHECK(all.time[0] <= all.time[1] && all.time[1] <= all.time[2]);
    /* by who, by the signing key's fingerprint, by time */
    cairn_audit_filter f = CAIRN_AUDIT_FILTER_INIT;
    f.who = "alice";
    seen al = { 0 };
    CHECK_OK(cairn_audit_entries(db, &f, collect, &al));
    CHECK_EQ(al.n, 2);
    CHECK_EQ(al.pos[1], 3);
    cairn_key_info ki;
    cairn_signer_info(&ki, s);
    f.who = ki.fingerprint;
    seen byk = { 0 };
    CHECK_OK(cairn_audit_entries(db, &f, collect, &byk));
    CHECK_EQ(byk.n, 1);
    CHECK_EQ(byk.pos[0], 2);
    cairn_audit_filter t = CAIRN_AUDIT_FILTER_INIT;
    t.from = all.time[1];
    t.to = all.time[2] + 1;
    seen win = { 0 };
    CHECK_OK(cairn_audit_entries(db, &t, collect, &win));
    CHECK(win.n >= 2 && win.pos[win.n - 1] == 3);
    cairn_audit_verify_result r;
    CHECK_OK(cairn_audit_verify(&r, db, NULL));
    CHECK_EQ(r.entries, 3);
    CHECK_EQ(r.signed_entries, 1);
    CHECK_EQ(r.untrusted, 1);
    CHECK_EQ(r.head_position, 3);
    CHECK_EQ(r.broken_position, 0);
    /* trusting the key, then requiring trusted signatures: the unsigned entries are damage */
    char line[200];
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", k.pk[i]);
    snprintf(line, sizeof line, "cairn-ed25519 %s test", hex);
    CHECK_OK(cairn_trust_key(db, line));
    CHECK_OK(cairn_audit_verify(&r, db, NULL));
    CHECK_EQ(r.untrusted, 0);
    cairn_audit_verify_options vo = CAIRN_AUDIT_VERIFY_INIT;
    vo.require_trusted = 1;
    CHECK_RC(cairn_audit_verify(&r, db, &vo), CAIRN_ECORRUPT);
    CHECK_EQ(r.broken_position, 1);
    CHECK_ERRMSG("not signed");
    cairn_signer_close(s);
    cairn_close(db);
}

static void bad_input(void)
{
    cairn_db *db = mem_repo();
    CHECK_RC(record(db, "alice", "Get", "t", NULL, 0, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("operation 'Get'");
    CHECK_RC(record(db, "alice", "", "t", NULL, 0, NULL), CAIRN_EINVAL);
    CHECK_RC(record(db, "al\xc3", "get", "t", NULL, 0, NULL), CAIRN_EINVAL);
    CHECK_ERRMSG("who");
    cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
    a.op = "get";
    a.detail = "x";
    a.detail_len = CAIRN_AUDIT_DETAIL_MAX + 1;
    CHECK_RC(cairn_audit_record(NULL, db, &a), CAIRN_EINVAL);
    CHECK_ERRMSG("detail");
    seen none = { 0 };
    CHECK_OK(cairn_audit_entries(db, NULL, collect, &none));
    CHECK_EQ(none.n, 0);
    /* who defaults to the commit author's identity */
    setenv("CAIRN_AUTHOR", "Default Who <who@example.com>", 1);
    a.detail_len = 1;
    CHECK_OK(cairn_audit_record(NULL, db, &a));
    unsetenv("CAIRN_AUTHOR");
    CHECK_OK(cairn_audit_entries(db, NULL, collect, &none));
    CHECK_EQ(none.n, 1);
    CHECK_STR(none.who[0], "Default Who <who@example.com>");
    cairn_close(db);
}

/* ---- tampering ---- */

typedef struct raw_log {
    size_t n;
    uint64_t key[32];
    cairn_buf val[32];
} raw_log;

static void raw_free(raw_log *l)
{
    for (size_t i = 0; i < l->n; i++) cairn_buf_dispose(&l->val[i]);
    l->n = 0;
}

static int raw_read(raw_log *l, cairn_db *db)
{
    cairn_id root;
    TRY(refs_read_id(&db->r, CAIRN_AUDIT_REF, &root));
    tree_cursor tc;
    TRY(tc_init(&tc, &db->r.cs, &root, 0, false));
    int rc = tc_first(&tc);
    memset(l, 0, sizeof *l);
    while (rc == CAIRN_OK && tc.valid && l->n < 32) {
        const uint8_t *k, *v;
        size_t kl, vl;
        tc_entry(&tc, &k, &kl, &v, &vl);
        l->key[l->n] = load_be64(k);
        rc = cairn_buf_set(&l->val[l->n++], v, vl);
        if (rc == CAIRN_OK) rc = tc_next(&tc);
    }
    tc_dispose(&tc);
    return rc == CAIRN_ENOTFOUND ? CAIRN_OK : rc;
}

/* Writes l as the log's tree and moves the ref to it, as an attacker could. */
static int raw_write(const raw_log *l, cairn_db *db)
{
    cairn_id old, root, nroot;
    TRY(refs_read_id(&db->r, CAIRN_AUDIT_REF, &old));
    TRY(tree_empty(&db->r.cs, &root));
    uint8_t keys[32][8];
    tree_edit ed[32];
    for (size_t i = 0; i < l->n; i++) {
        store_be64(keys[i], l->key[i]);
        ed[i] = (tree_edit){ keys[i], l->val[i].data, 8, (uint32_t)l->val[i].len, EDIT_PUT };
    }
    TRY(tree_apply(&db->r.cs, &nroot, &root, ed, l->n));
    TRY(cs_flush(&db->r.cs));
    char o[66], nv[66];
    cairn_id_to_hex(o, &old);
    cairn_id_to_hex(nv, &nroot);
    o[64] = nv[64] = '\n';
    return db->r.store->ref_cas(db->r.store, CAIRN_AUDIT_REF, o, 65, nv, 65);
}

#define NLOG 6

/* A fresh repository holding a log of NLOG entries (signed when s is given). */
static cairn_db *small_log(cairn_signer *s, raw_log *orig)
{
    cairn_db *db = mem_repo();
    static const char *const ops[] = { "get", "scan", "count", "doc.find", "doc.get", "get" };
    for (int i = 0; i < NLOG; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "key-%d", i);
        if (record(db, i % 2 ? "bob" : "alice", ops[i], "people", detail, (uint64_t)i, s))
            return NULL;
    }
    return raw_read(orig, db) == CAIRN_OK ? db : NULL;
}

static void raw_copy(raw_log *to, const raw_log *from)
{
    memset(to, 0, sizeof *to);
    to->n = from->n;
    for (size_t i = 0; i < from->n; i++) {
        to->key[i] = from->key[i];
        CHECK_OK(cairn_buf_set(&to->val[i], from->val[i].data, from->val[i].len));
    }
}

/* Applies the tampered copy and checks that verify names position want with damage d (0: any),
 * then restores the original. */
static void expect_broken(cairn_db *db, raw_log *t, const raw_log *orig, uint64_t want,
                          cairn_audit_damage d, const cairn_audit_verify_options *vo,
                          const char *what)
{
    CHECK_OK(raw_write(t, db));
    cairn_audit_verify_result r;
    int rc = cairn_audit_verify(&r, db, vo);
    CHECK_MSG(rc == CAIRN_ECORRUPT && r.broken_position == want && (!d || r.damage == d),
              "%s: verify gave %d at position %llu (damage %d: %s), expected position %llu",
              what, rc, (unsigned long long)r.broken_position, r.damage, r.what,
              (unsigned long long)want);
    cairn_error_clear();
    raw_free(t);
    CHECK_OK(raw_write(orig, db));
    CHECK_OK(cairn_audit_verify(&r, db, vo));
}

static void tamper_every_entry(void)
{
    test_key k;
    cairn_signer *s = make_signer(&k);
    raw_log orig, t;
    cairn_db *db = small_log(s, &orig);
    CHECK(db != NULL && orig.n == NLOG);
    cairn_audit_verify_result head;
    CHECK_OK(cairn_audit_verify(&head, db, NULL));
    CHECK_EQ(head.head_position, NLOG);
    for (uint64_t p = 1; p <= NLOG; p++) {
        size_t i = (size_t)p - 1;
        char what[64];
        /* alter: one byte of each field region, in turn */
        size_t len = orig.val[i].len;
        size_t offsets[] = { 1, 9, 17, AUDIT_FIXED_HEAD + 2, len - 100, len - 40, len - 1 };
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            raw_copy(&t, &orig);
            t.val[i].data[offsets[o]] ^= 0x01;
            snprintf(what, sizeof what, "entry %llu altered at byte %zu", (unsigned long long)p,
                     offsets[o]);
            expect_broken(db, &t, &orig, p, 0, NULL, what);
        }
        /* remove, leaving a gap */
        raw_copy(&t, &orig);
        cairn_buf_dispose(&t.val[i]);
        memmove(&t.key[i], &t.key[i + 1], (t.n - i - 1) * sizeof t.key[0]);
        memmove(&t.val[i], &t.val[i + 1], (t.n - i - 1) * sizeof t.val[0]);
        t.n--;
        snprintf(what, sizeof what, "entry %llu removed", (unsigned long long)p);
        if (p < NLOG) {
            expect_broken(db, &t, &orig, p, CAIRN_AUDIT_MISSING, NULL, what);
        } else { /* the newest: only a head kept from before can tell */
            cairn_audit_verify_options vo = CAIRN_AUDIT_VERIFY_INIT;
            vo.expect_position = head.head_position;
            vo.expect_hash = head.head_hash;
            expect_broken(db, &t, &orig, p, CAIRN_AUDIT_HEAD_MISMATCH, &vo, what);
        }
        /* remove and renumber the rest */
        if (p < NLOG) {
            raw_copy(&t, &orig);
            cairn_buf_dispose(&t.val[i]);
            memmove(&t.val[i], &t.val[i + 1], (t.n - i - 1) * sizeof t.val[0]);
            t.n--;
            snprintf(what, sizeof what, "entry %llu removed, renumbered", (unsigned long long)p);
            expect_broken(db, &t, &orig, p, CAIRN_AUDIT_MISPLACED, NULL, what);
        }
        /* reorder with the next */
        if (p < NLOG) {
            raw_copy(&t, &orig);
            cairn_buf tmp = t.val[i];
            t.val[i] = t.val[i + 1];
            t.val[i + 1] = tmp;
            snprintf(what, sizeof what, "entries %llu and %llu swapped", (unsigned long long)p,
                     (unsigned long long)p + 1);
            expect_broken(db, &t, &orig, p, CAIRN_AUDIT_MISPLACED, NULL, what);
        }
    }
    raw_free(&orig);
    cairn_signer_close(s);
    cairn_close(db);
}

/* A signature made by another key than the one the entry names, and an entry re-signed by an
 * attacker's key that the repository does not trust. */
static void wrong_key(void)
{
    test_key k, other;
    cairn_signer *s = make_signer(&k), *s2 = make_signer(&other);
    raw_log orig, t;
    cairn_db *db = small_log(s, &orig);
    CHECK(db != NULL);
    for (size_t i = 0; i < NLOG; i++) {
        raw_copy(&t, &orig);
        size_t len = t.val[i].len;
        memcpy(t.val[i].data + len - 96, other.pk, 32); /* names the other key */
        expect_broken(db, &t, &orig, i + 1, CAIRN_AUDIT_BAD_SIGNATURE, NULL, "another key");
    }
    /* entry 3 rewritten and re-signed by the other key (the chain after it re-linked by
     * re-signing every later entry too): without a trust list only counted; with it, damage */
    char line[200], hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", k.pk[i]);
    snprintf(line, sizeof line, "cairn-ed25519 %s test", hex);
    CHECK_OK(cairn_trust_key(db, line));
    raw_copy(&t, &orig);
    cairn_id prev;
    hash_sha256(&prev, t.val[1].data, t.val[1].len);
    for (size_t i = 2; i < NLOG; i++) {
        audit_entry e;
        CHECK_OK(audit_decode(&e, t.val[i].data, t.val[i].len));
        cairn_audit_access a = CAIRN_AUDIT_ACCESS_INIT;
        a.op = e.op;
        a.target = e.target;
        a.detail = e.detail;
        a.detail_len = e.detail_len;
        a.results = i == 2 ? 999 : e.results;
        cairn_buf body = CAIRN_BUF_INIT, payload = CAIRN_BUF_INIT;
        CHECK_OK(audit_encode_body(&body, e.position, e.time, &prev, e.who, &a));
        CHECK_OK(audit_signing_payload(&payload, body.data, body.len));
        uint8_t sig[64];
        crypto_sign_detached(sig, NULL, payload.data, payload.len, other.sk);
        CHECK_OK(audit_encode_tail(&body, other.pk, sig));
        audit_entry_dispose(&e);
        cairn_buf_dispose(&payload);
        CHECK_OK(cairn_buf_set(&t.val[i], body.data, body.len));
        hash_sha256(&prev, body.data, body.len);
        cairn_buf_dispose(&body);
    }
    CHECK_OK(raw_write(&t, db));
    cairn_audit_verify_result r;
    CHECK_OK(cairn_audit_verify(&r, db, NULL));
    CHECK_EQ(r.untrusted, NLOG - 2);
    cairn_audit_verify_options vo = CAIRN_AUDIT_VERIFY_INIT;
    vo.require_trusted = 1;
    expect_broken(db, &t, &orig, 3, CAIRN_AUDIT_BAD_SIGNATURE, &vo, "re-signed by another key");
    raw_free(&orig);
    cairn_signer_close(s);
    cairn_signer_close(s2);
    cairn_close(db);
}

/* An unsigned log: an altered entry is seen by the link of the entry after it. */
static void unsigned_alteration(void)
{
    raw_log orig, t;
    cairn_db *db = small_log(NULL, &orig);
    CHECK(db != NULL);
    for (size_t i = 0; i + 1 < NLOG; i++) {
        raw_copy(&t, &orig);
        t.val[i].data[AUDIT_FIXED_HEAD + 2] ^= 0x01; /* a letter of who */
        expect_broken(db, &t, &orig, i + 2, CAIRN_AUDIT_BROKEN_LINK, NULL, "unsigned altered");
    }
    raw_free(&orig);
    cairn_close(db);
}

/* ---- concurrency ---- */

#define THREADS 4
#define PER_THREAD 40

typedef struct worker {
    cairn_db *db;
    int id;
    int rc;
} worker;

static void *append_many(void *p)
{
    worker *w = p;
    char who[16];
    snprintf(who, sizeof who, "w%d", w->id);
    for (int i = 0; i < PER_THREAD && w->rc == CAIRN_OK; i++)
        w->rc = record(w->db, who, "get", "t", "k", (uint64_t)i, NULL);
    return NULL;
}

typedef struct counts {
    uint64_t per[THREADS];
    uint64_t n;
} counts;

static int count_who(const cairn_audit_entry *e, void *payload)
{
    counts *c = payload;
    int id = e->who[0] == 'w' ? e->who[1] - '0' : -1;
    if (id >= 0 && id < THREADS) c->per[id]++;
    c->n++;
    return 0;
}

static void check_counts(cairn_db *db, uint64_t per, int nwho)
{
    cairn_audit_verify_result r;
    CHECK_OK(cairn_audit_verify(&r, db, NULL));
    CHECK_EQ(r.entries, per * (uint64_t)nwho);
    counts c = { { 0 }, 0 };
    CHECK_OK(cairn_audit_entries(db, NULL, count_who, &c));
    for (int i = 0; i < nwho; i++) CHECK_EQ(c.per[i], per);
}

/* Threads on one handle, and two handles over one store racing on the ref. */
static void concurrent_threads(void)
{
    cairn_db *db = mem_repo();
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ db, i, CAIRN_OK };
        CHECK(pthread_create(&th[i], NULL, append_many, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) CHECK_OK(w[i].rc);
    check_counts(db, PER_THREAD, THREADS);
    cairn_close(db);

    /* two handles, each with its own writer mutex, over one store: only the ref's
     * compare-and-swap orders them */
    cairn_store *inner, *a, *b;
    CHECK_OK(cairn_store_open_url(&inner, "mem:", CAIRN_OPEN_CREATE, 0));
    CHECK_OK(fault_store_wrap(&a, inner, false));
    CHECK_OK(fault_store_wrap(&b, inner, false));
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *da, *dbb;
    CHECK_OK(cairn_open_store(&da, a, &o));
    CHECK_OK(cairn_open_store(&dbb, b, &o));
    worker w2[2] = { { da, 0, CAIRN_OK }, { dbb, 1, CAIRN_OK } };
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, append_many, &w2[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_OK(w2[0].rc);
    CHECK_OK(w2[1].rc);
    unsigned long cas = fault_store_calls(a, FAULT_REF_CAS) + fault_store_calls(b, FAULT_REF_CAS);
    check_counts(da, PER_THREAD, 2);
    /* a lost race retries: an injected conflict on the next CAS costs one more attempt */
    unsigned long before = fault_store_calls(a, FAULT_REF_CAS);
    fault_store_arm(a, &(fault_spec){ FAULT_REF_CAS, 1, CAIRN_ECONFLICT, false, false });
    CHECK_OK(record(da, "w0", "get", "t", "k", 0, NULL));
    CHECK_EQ(fault_store_calls(a, FAULT_REF_CAS) - before, 2);
    fprintf(stderr, "two handles: %d appends took %lu compare-and-swaps\n", 2 * PER_THREAD, cas);
    cairn_close(da);
    cairn_close(dbb);
    inner->close(inner);
}

#define PROC_APPENDS 25

/* Two processes, each opening the repository, appending and closing, again and again. */
static void concurrent_processes(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    cairn_db *db = test_open_repo(url);
    CHECK_OK(cairn_close(db));
    pid_t kid[2];
    for (int p = 0; p < 2; p++) {
        kid[p] = test_fork();
        CHECK(kid[p] >= 0);
        if (kid[p] == 0) {
            char who[16];
            snprintf(who, sizeof who, "w%d", p);
            int rc = CAIRN_OK;
            for (int i = 0; i < PROC_APPENDS && rc == CAIRN_OK; i++) {
                cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
                o.lock_timeout_ms = 60000;
                cairn_db *d;
                rc = cairn_open(&d, url, &o);
                if (rc == CAIRN_OK) rc = record(d, who, "get", "t", "k", (uint64_t)i, NULL);
                if (rc == CAIRN_OK) rc = cairn_close(d);
            }
            if (rc) fprintf(stderr, "child %d: %s\n", p, cairn_error_last()->message);
            _exit(rc == CAIRN_OK ? 0 : 1);
        }
    }
    for (int p = 0; p < 2; p++) {
        int st;
        CHECK(waitpid(kid[p], &st, 0) == kid[p] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    db = test_open_repo(url);
    check_counts(db, PROC_APPENDS, 2);
    cairn_close(db);
}

/* A read-only handle cannot record; gc keeps every entry; whole-repository verify checks the
 * log's tree. */
static void readonly_and_gc(void)
{
    char url[4200];
    snprintf(url, sizeof url, "%s/repo", test_tmpdir());
    cairn_db *db = test_open_repo(url);
    for (int i = 0; i < 300; i++) CHECK_OK(record(db, "w0", "get", "t", "a-longer-key", 1, NULL));
    cairn_gc_stats gs;
    CHECK_OK(cairn_gc(&gs, db, NULL));
    CHECK(gs.chunks_deleted > 0); /* the trees the appends replaced */
    cairn_verify_stats vs;
    CHECK_OK(cairn_verify(&vs, db, NULL));
    check_counts(db, 300, 1);
    cairn_close(db);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_READONLY;
    CHECK_OK(cairn_open(&db, url, &o));
    CHECK_RC(record(db, "w0", "get", "t", "k", 1, NULL), CAIRN_EREADONLY);
    CHECK_ERRMSG("read-only");
    check_counts(db, 300, 1);
    cairn_close(db);
}

/* ---- the report ---- */

typedef struct rep {
    int n;
    cairn_audit_row rows[16];
    char who[16][64], target[16][64];
} rep;

static int collect_row(const cairn_audit_row *r, void *payload)
{
    rep *x = payload;
    if (x->n < 16) {
        x->rows[x->n] = *r;
        snprintf(x->who[x->n], 64, "%s", r->who);
        snprintf(x->target[x->n], 64, "%s", r->target);
    }
    x->n++;
    return 0;
}

static void report(void)
{
    cairn_db *db = mem_repo();
    cairn_table *t, *u;
    CHECK_OK(cairn_table_open(&t, db, "people", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_table_open(&u, db, "orders", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "a", 1, "1", 1));
    CHECK_OK(cairn_put(t, "b", 1, "1", 1));
    CHECK_OK(cairn_put(u, "o1", 2, "1", 1));
    CHECK_OK(test_commit(db, "first", NULL)); /* a root commit: 2 + 1 keys */
    CHECK_OK(cairn_put(t, "a", 1, "2", 1));
    CHECK_OK(cairn_delete(t, "b", 1));
    CHECK_OK(cairn_put(t, "c", 1, "3", 1));
    CHECK_OK(test_commit(db, "second", NULL)); /* 3 keys of people */
    CHECK_OK(record(db, "alice", "get", "people", "a", 1, NULL));
    CHECK_OK(record(db, "alice", "scan", "people", "", 3, NULL));
    CHECK_OK(record(db, "bob", "count", "orders", "", 1, NULL));
    rep x = { 0 };
    CHECK_OK(cairn_audit_report(db, INT64_MIN, INT64_MAX, collect_row, &x));
    CHECK_EQ(x.n, 4);
    CHECK(x.rows[0].kind == CAIRN_AUDIT_ROW_READ);
    CHECK_STR(x.who[0], "alice");
    CHECK_STR(x.target[0], "people");
    CHECK_EQ(x.rows[0].events, 2);
    CHECK_EQ(x.rows[0].items, 4);
    CHECK_STR(x.who[1], "bob");
    CHECK(x.rows[2].kind == CAIRN_AUDIT_ROW_CHANGE);
    CHECK_STR(x.target[2], "orders");
    CHECK_EQ(x.rows[2].events, 1);
    CHECK_EQ(x.rows[2].items, 1);
    CHECK_STR(x.target[3], "people");
    CHECK_EQ(x.rows[3].events, 2);
    CHECK_EQ(x.rows[3].items, 5);
    /* a period before everything: nothing */
    rep none = { 0 };
    CHECK_OK(cairn_audit_report(db, 0, 1, collect_row, &none));
    CHECK_EQ(none.n, 0);
    cairn_table_close(t);
    cairn_table_close(u);
    cairn_close(db);
}

/* Changes to a collection count under the collection's name, in a root commit and after it;
 * its index and catalog tables are not reported. */
static void report_collections(void)
{
    cairn_db *db = mem_repo();
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "staff", CAIRN_COLL_CREATE));
    const char *f = "age";
    CHECK_OK(cairn_doc_index_create(c, &f, 1, 0));
    CHECK_OK(cairn_doc_insert(NULL, c, "{\"_id\":\"e1\",\"age\":3}", 20, NULL));
    CHECK_OK(test_commit(db, "first", NULL)); /* root commit: 1 document */
    CHECK_OK(cairn_doc_insert(NULL, c, "{\"_id\":\"e2\",\"age\":4}", 20, NULL));
    CHECK_OK(cairn_doc_insert(NULL, c, "{\"_id\":\"e3\",\"age\":5}", 20, NULL));
    CHECK_OK(test_commit(db, "second", NULL)); /* 2 documents */
    rep x = { 0 };
    CHECK_OK(cairn_audit_report(db, INT64_MIN, INT64_MAX, collect_row, &x));
    CHECK_EQ(x.n, 1);
    CHECK(x.rows[0].kind == CAIRN_AUDIT_ROW_CHANGE);
    CHECK_STR(x.target[0], "staff");
    CHECK_EQ(x.rows[0].events, 2);
    CHECK_EQ(x.rows[0].items, 3);
    cairn_coll_close(c);
    cairn_close(db);
}

TEST_MAIN(record_and_list, bad_input, tamper_every_entry, wrong_key, unsigned_alteration,
          concurrent_threads, concurrent_processes, readonly_and_gc, report, report_collections)
