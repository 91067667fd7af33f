/*
 * test_pg.c - the postgres store against a real PostgreSQL 15 server: the conformance suite
 * (store_suite.c), every URL form, what a wrong password, an unreachable server, a missing or
 * foreign schema and malformed URLs say (and that they change nothing), the server restarted
 * under an open handle and in the middle of a load through a repository, a row overwritten
 * behind cairn's back, batches costing one statement per batch, and a whole repository on the
 * store through the library and the CLI.
 *
 * The server is started by ctest's fixture (scripts/pg-up.sh, tests/CMakeLists.txt), which
 * writes the file named by CAIRN_PG_STATE (conninfo=, url=, user=, password=, port=...). Each
 * case uses tables of its own (a fresh table_prefix), so cases never see each other's rows.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote_util.h"
#include "store/store.h"
#include "store_suite.h"
#include "test.h"

/* ---- the server ---- */

static struct {
    bool loaded;
    char conninfo[1024];
    char url[1024];
    char user[128];
    char password[128];
    char port[16];
} pg;

/* Reads the fixture's state file once; false (and a failed check) when there is none. */
static bool pg_loaded(void)
{
    if (pg.loaded) return true;
    const char *path = getenv("CAIRN_PG_STATE");
    if (!path || access(path, R_OK) != 0) {
        test_fail(__FILE__, __LINE__,
                  "no PostgreSQL: run through ctest (its fixture starts one), or start one with "
                  "scripts/pg-up.sh FILE and set CAIRN_PG_STATE=FILE and CAIRN_PG_SCRIPT");
        return false;
    }
    test_env_file_get(path, "conninfo", pg.conninfo, sizeof pg.conninfo);
    test_env_file_get(path, "url", pg.url, sizeof pg.url);
    test_env_file_get(path, "user", pg.user, sizeof pg.user);
    test_env_file_get(path, "password", pg.password, sizeof pg.password);
    test_env_file_get(path, "port", pg.port, sizeof pg.port);
    pg.loaded = pg.conninfo[0] && pg.url[0];
    if (!pg.loaded) test_fail(__FILE__, __LINE__, "state file %s lacks conninfo= or url=", path);
    return pg.loaded;
}

/* Stops or starts the server through the fixture's script ("--stop" / "--start"). */
static int pg_server(const char *how)
{
    const char *script = getenv("CAIRN_PG_SCRIPT");
    if (!script) return -1;
    return test_sh("%s %s %s", script, how, getenv("CAIRN_PG_STATE"));
}

/* A table prefix no other case or run uses. */
static const char *fresh_prefix(void)
{
    static char buf[8][64];
    static int n;
    char *b = buf[n % 8];
    snprintf(b, sizeof buf[0], "t%ld_%d_", (long)getpid(), n++);
    return b;
}

static const char *url_with(const char *prefix)
{
    static char buf[4][1200];
    static int n;
    char *b = buf[n++ % 4];
    snprintf(b, sizeof buf[0], "pg:%s table_prefix=%s", pg.conninfo, prefix);
    return b;
}

/* Runs SQL on the server directly (not through cairn); the number of rows it returned or
 * touched, or -1 (with the error printed). */
static long sql(const char *fmt, ...) PRINTF_LIKE(1, 2);
static long sql(const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGconn *c = PQconnectdb(pg.conninfo);
    long n = -1;
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, q) : NULL;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK) n = PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : 0;
    else if (r && PQresultStatus(r) == PGRES_COMMAND_OK) n = atol(PQcmdTuples(r));
    else fprintf(stderr, "sql %s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return n;
}

static long tables_count(void)
{
    return sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
}

/* ---- the conformance suite ---- */

typedef struct pg_ctx {
    char url[1200];
} pg_ctx;

static int pg_create(cairn_store **out, void *ctx)
{
    pg_ctx *c = ctx;
    snprintf(c->url, sizeof c->url, "%s", url_with(fresh_prefix()));
    return store_pg_open(out, c->url, CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL);
}

static int pg_reopen(cairn_store **out, void *ctx)
{
    pg_ctx *c = ctx;
    return store_pg_open(out, c->url, 0);
}

static void pg_conformance(void)
{
    if (!pg_loaded()) return;
    pg_ctx c;
    store_opener o = { "postgres", pg_create, pg_reopen, &c };
    store_suite_run(&o);
    cairn_store *st;
    CHECK_OK(pg_create(&st, &c));
    CHECK_EQ(st->caps, CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED |
                           CAIRN_STORE_CAP_REF_CAS | CAIRN_STORE_CAP_REMOTE |
                           CAIRN_STORE_CAP_GC_GEN);
    st->close(st);
}

/* ---- URLs ---- */

/* postgres://, postgresql:// (over TCP with the password) and pg:CONNINFO (the socket) reach
 * the same tables; the password never shows in the location. */
static void pg_url_forms(void)
{
    if (!pg_loaded()) return;
    const char *prefix = fresh_prefix();
    char u1[1300], u2[1300];
    snprintf(u1, sizeof u1, "%s?table_prefix=%s", pg.url, prefix);
    snprintf(u2, sizeof u2, "postgresql%s?connect_timeout=5&table_prefix=%s",
             strstr(pg.url, "://"), prefix);
    cairn_store *st;
    CHECK_OK(store_pg_open(&st, u1, CAIRN_OPEN_CREATE));
    CHECK(strstr(st->location, pg.password) == NULL);
    CHECK(strstr(st->location, "***") != NULL);
    CHECK_STR(st->kind, "postgres");
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "one", 3));
    st->close(st);
    const char *forms[] = { u2, url_with(prefix) };
    for (size_t i = 0; i < 2; i++) {
        CHECK_OK(store_pg_open(&st, forms[i], 0));
        cairn_buf b = CAIRN_BUF_INIT;
        CHECK_OK(st->ref_get(st, &b, "heads/main"));
        CHECK_MEM(b.data, b.len, "one", 3);
        cairn_buf_dispose(&b);
        st->close(st);
    }
    /* through the generic opener too */
    CHECK_OK(cairn_store_open_url(&st, u1, 0, 0));
    CHECK_STR(st->kind, "postgres");
    st->close(st);
    /* the tables are the prefix's three */
    CHECK_EQ(sql("SELECT count(*) FROM pg_tables WHERE tablename IN ('%schunks', '%srefs', "
                 "'%smeta')",
                 prefix, prefix, prefix),
             3);
}

/* ---- errors ---- */

/* Each failing open gives its code and a message naming the thing, and creates nothing. */
static void pg_open_errors(void)
{
    if (!pg_loaded()) return;
    long before = tables_count();
    CHECK(before >= 0);
    cairn_store *st = NULL;
    char u[1400];
    const char *prefix = fresh_prefix();

    /* wrong password: names the user */
    snprintf(u, sizeof u, "postgres://%s:wrong-password@127.0.0.1:%s/cairn?table_prefix=%s",
             pg.user, pg.port, prefix);
    CHECK_RC(store_pg_open(&st, u, CAIRN_OPEN_CREATE), CAIRN_EAUTH);
    CHECK_ERRMSG(pg.user);
    CHECK_ERRMSG("password");
    CHECK(strstr(cairn_error_last()->message, "wrong-password") == NULL);
    /* nothing listens on port 1: names host and port */
    snprintf(u, sizeof u, "postgres://%s@127.0.0.1:1/cairn?table_prefix=%s", pg.user, prefix);
    CHECK_RC(store_pg_open(&st, u, CAIRN_OPEN_CREATE), CAIRN_EIO);
    CHECK_ERRMSG("127.0.0.1");
    CHECK_ERRMSG("port 1");
    /* no such database */
    snprintf(u, sizeof u, "pg:%s table_prefix=%s", pg.conninfo, prefix);
    char nodb[1500];
    snprintf(nodb, sizeof nodb, "%s dbname=nosuchdb", u);
    CHECK_RC(store_pg_open(&st, nodb, CAIRN_OPEN_CREATE), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("nosuchdb");
    /* no schema, and not asked to create one */
    CHECK_RC(store_pg_open(&st, u, 0), CAIRN_ENOTFOUND);
    CHECK_ERRMSG("cairn init");
    CHECK_ERRMSG(prefix);
    CHECK_RC(store_pg_open(&st, u, CAIRN_OPEN_CREATE | CAIRN_OPEN_READONLY), CAIRN_ENOTFOUND);
    /* malformed */
    const char *bad[] = { "postgres://u@127.0.0.1/db?bogus=1", "pg:host", "pg:host='unclosed",
                          "postgres://u@127.0.0.1/db?table_prefix=Bad-Prefix",
                          "postgres://u@127.0.0.1/db?table_prefix=", "postgres://u@[::1/db",
                          "pg:host=/tmp table_prefix=9x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = store_pg_open(&st, bad[i], CAIRN_OPEN_CREATE);
        CHECK_MSG(rc == CAIRN_EINVAL, "URL %s: %d (%s)", bad[i], rc, cairn_error_last()->message);
        CHECK_MSG(strstr(cairn_error_last()->message, "postgres store") != NULL,
                  "URL %s: message \"%s\" does not say what it is", bad[i],
                  cairn_error_last()->message);
    }
    CHECK_EQ(tables_count(), before); /* none of the above created a table */

    /* a schema of another version, and EXCL on an existing one */
    CHECK_OK(store_pg_open(&st, u, CAIRN_OPEN_CREATE));
    st->close(st);
    CHECK_RC(store_pg_open(&st, u, CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL), CAIRN_EEXIST);
    CHECK_EQ(sql("UPDATE %smeta SET value = '99' WHERE key = 'schema_version'", prefix), 1);
    CHECK_RC(store_pg_open(&st, u, 0), CAIRN_EUNSUPPORTED);
    CHECK_ERRMSG("schema version 99");
    CHECK_EQ(sql("DELETE FROM %smeta", prefix), 1);
    CHECK_RC(store_pg_open(&st, u, 0), CAIRN_ECORRUPT);
    CHECK_ERRMSG("schema_version");
}

/* A read-only handle writes nothing: cairn refuses, and so would the server. */
static void pg_readonly(void)
{
    if (!pg_loaded()) return;
    const char *u = url_with(fresh_prefix());
    cairn_store *st;
    CHECK_OK(store_pg_open(&st, u, CAIRN_OPEN_CREATE));
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "a", 1));
    st->close(st);
    CHECK_OK(store_pg_open(&st, u, CAIRN_OPEN_READONLY));
    cairn_id k;
    suite_key(&k, 3, 1);
    CHECK_RC(st->put(st, &k, "x", 1), CAIRN_EREADONLY);
    CHECK_RC(st->ref_cas(st, "heads/main", "a", 1, "b", 1), CAIRN_EREADONLY);
    CHECK_RC(st->del(st, &k), CAIRN_EREADONLY);
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_OK(st->ref_get(st, &b, "heads/main"));
    CHECK_MEM(b.data, b.len, "a", 1);
    cairn_buf_dispose(&b);
    st->close(st);
}

/* ---- batches ---- */

static uint64_t requests(cairn_store *st)
{
    cairn_store_stats s;
    memset(&s, 0, sizeof s);
    return st->stat(st, &s) == CAIRN_OK ? s.requests : 0;
}

/* put_many, get_many and has_many cost a statement per batch of up to 1000 chunks, not one per
 * chunk; buffered puts go in batches too. */
static void pg_batch_requests(void)
{
    if (!pg_loaded()) return;
    enum { N = 5000 };
    cairn_store *st;
    CHECK_OK(store_pg_open(&st, url_with(fresh_prefix()), CAIRN_OPEN_CREATE));
    cairn_id *keys = calloc(2 * N, sizeof *keys);
    cairn_store_chunk *ch = calloc(N, sizeof *ch);
    uint8_t *data = malloc((size_t)N * 100);
    for (size_t i = 0; i < 2 * N; i++) suite_key(&keys[i], 44, i);
    for (size_t i = 0; i < N; i++) {
        suite_fill(data + i * 100, 100, &keys[i]);
        ch[i] = (cairn_store_chunk){ keys[i], data + i * 100, 100 };
    }
    uint64_t r0 = requests(st);
    CHECK_OK(cairn_store_put_many(st, ch, N));
    uint64_t r1 = requests(st);
    CHECK_MSG(r1 - r0 <= N / 1000 + 2, "put_many of %d chunks took %llu requests", N,
              (unsigned long long)(r1 - r0 - 1));
    int *rcs = calloc(2 * N, sizeof *rcs);
    CHECK_OK(cairn_store_has_many(st, keys, 2 * N, rcs));
    for (size_t i = 0; i < 2 * N; i++) CHECK_EQ(rcs[i], i < N ? CAIRN_OK : CAIRN_ENOTFOUND);
    uint64_t r2 = requests(st);
    CHECK_MSG(r2 - r1 <= 2 * N / 1000 + 2, "has_many of %d keys took %llu requests", 2 * N,
              (unsigned long long)(r2 - r1 - 1));
    /* single puts, kept and sent in batches */
    for (size_t i = N; i < 2 * N; i++) CHECK_OK(st->put(st, &keys[i], "y", 1));
    CHECK_OK(st->flush(st));
    uint64_t r3 = requests(st);
    CHECK_MSG(r3 - r2 <= N / 1000 + 2, "%d puts took %llu requests", N,
              (unsigned long long)(r3 - r2 - 1));
    cairn_store_stats s;
    CHECK_OK(st->stat(st, &s));
    CHECK_EQ(s.chunks, 2 * N);
    CHECK_EQ(s.bytes, N * 100 + N);
    CHECK(s.bytes_sent >= N * 100 && s.bytes_received > 0);
    free(rcs);
    free(data);
    free(ch);
    free(keys);
    st->close(st);
}

/* ---- the server going away ---- */

/* The server stops under an open handle: a clear CAIRN_EIO, the puts not yet sent are kept,
 * and once it is back the same handle connects again and sends them. A restart while the
 * handle is idle costs the caller nothing. */
static void pg_restart_handle(void)
{
    if (!pg_loaded()) return;
    cairn_store *st;
    CHECK_OK(store_pg_open(&st, url_with(fresh_prefix()), CAIRN_OPEN_CREATE));
    cairn_id k[3];
    for (int i = 0; i < 3; i++) suite_key(&k[i], 55, (uint64_t)i);
    CHECK_OK(st->put(st, &k[0], "zero", 4));
    CHECK_OK(st->flush(st));
    CHECK_OK(st->put(st, &k[1], "one", 3));
    CHECK_EQ(pg_server("--stop"), 0);
    int rc = st->flush(st);
    int rc2 = st->ref_cas(st, "heads/main", NULL, 0, "x", 1);
    cairn_buf b = CAIRN_BUF_INIT;
    int rc3 = st->get(st, &b, &k[0]);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    CHECK_EQ(pg_server("--start"), 0);
    CHECK_EQ(rc, CAIRN_EIO);
    CHECK_EQ(rc2, CAIRN_EIO);
    CHECK_EQ(rc3, CAIRN_EIO);
    CHECK_MSG(strstr(msg, "postgres store") && strstr(msg, "connect"), "message: %s", msg);
    /* back: the same handle reconnects; the kept put is sent at the next flush */
    CHECK_OK(st->flush(st));
    CHECK_OK(st->get(st, &b, &k[1]));
    CHECK_MEM(b.data, b.len, "one", 3);
    CHECK_OK(st->get(st, &b, &k[0]));
    CHECK_MEM(b.data, b.len, "zero", 4);
    CHECK_RC(st->ref_get(st, &b, "heads/main"), CAIRN_ENOTFOUND); /* the failed CAS did nothing */
    /* restarted while the handle is idle: the next calls, a ref move too, just work */
    CHECK_EQ(pg_server("--stop"), 0);
    CHECK_EQ(pg_server("--start"), 0);
    CHECK_OK(st->ref_cas(st, "heads/main", NULL, 0, "x", 1));
    CHECK_EQ(pg_server("--stop"), 0);
    CHECK_EQ(pg_server("--start"), 0);
    CHECK_OK(st->get(st, &b, &k[1]));
    CHECK_MEM(b.data, b.len, "one", 3);
    CHECK_OK(st->ref_get(st, &b, "heads/main"));
    CHECK_MEM(b.data, b.len, "x", 1);
    cairn_buf_dispose(&b);
    st->close(st);
}

/* A child process loads keys through a repository, reporting each acknowledged put on a pipe;
 * the first failure ends it, reported as (-code, message). */
static void load_child(const char *url, int fd)
{
    cairn_db *db = NULL;
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    cairn_table *t = NULL;
    int rc = cairn_open(&db, url, &o);
    if (rc == CAIRN_OK) rc = cairn_table_open(&t, db, "load", CAIRN_TABLE_CREATE);
    for (int32_t i = 0; rc == CAIRN_OK; i++) {
        char key[32], val[64];
        int kn = snprintf(key, sizeof key, "key-%08d", (int)i);
        int vn = snprintf(val, sizeof val, "value of key %d", (int)i);
        rc = cairn_put(t, key, (size_t)kn, val, (size_t)vn);
        if (rc == CAIRN_OK && write(fd, &i, sizeof i) != sizeof i) _exit(3);
    }
    int32_t code = rc;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    if (write(fd, &code, sizeof code) != sizeof code || write(fd, msg, sizeof msg) != sizeof msg)
        _exit(3);
    _exit(0);
}

/* PostgreSQL stopped in the middle of a load: the writer gets a clear CAIRN_EIO; after a
 * restart the repository opens and every acknowledged put is there. */
static void pg_restart_load(void)
{
    if (!pg_loaded()) return;
    const char *url = url_with(fresh_prefix());
    cairn_db *db = test_open_repo(url);
    cairn_close(db);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = test_fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        load_child(url, fds[1]);
    }
    close(fds[1]);
    int32_t v, acked = -1;
    bool stopped = false;
    char msg[1024] = "";
    while (read(fds[0], &v, sizeof v) == sizeof v) {
        if (v < 0) {
            CHECK(read(fds[0], msg, sizeof msg) == sizeof msg);
            break;
        }
        CHECK_EQ(v, acked + 1);
        acked = v;
        if (acked == 150 && !stopped) {
            CHECK_EQ(pg_server("--stop"), 0);
            stopped = true;
        }
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK_EQ(pg_server("--start"), 0);
    CHECK(stopped);
    CHECK_MSG(v == CAIRN_EIO, "the load ended with %d: %s", v, msg);
    CHECK_MSG(strstr(msg, "postgres store") != NULL, "message: %s", msg);
    /* the next open works, and has every acknowledged put */
    CHECK_OK(cairn_open(&db, url, NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "load", 0));
    for (int32_t i = 0; i <= acked; i++) {
        char key[32], val[64];
        int kn = snprintf(key, sizeof key, "key-%08d", (int)i);
        int vn = snprintf(val, sizeof val, "value of key %d", (int)i);
        void *got;
        size_t len;
        int rc = cairn_get(&got, &len, t, NULL, key, (size_t)kn);
        CHECK_MSG(rc == CAIRN_OK, "acknowledged key %d lost: %s", (int)i,
                  cairn_error_last()->message);
        CHECK_MEM(got, len, val, (size_t)vn);
        cairn_free(got);
    }
    CHECK_OK(cairn_put(t, "after", 5, "restart", 7)); /* and it takes writes again */
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- two writers ---- */

enum { WRITERS = 2, WRITES = 40 };

/* Writer w puts its keys one by one into a repository it shares with another process; a put
 * that loses a race (CAIRN_ECONFLICT: the other moved the branch's working state) is retried on
 * a freshly opened handle. Each acknowledged put is reported on fd. */
static void writer_child(const char *url, int w, int fd)
{
    cairn_db *db = NULL;
    cairn_table *t = NULL;
    int conflicts = 0; /* bounded, so that a bug cannot spin forever */
    for (int32_t i = 0; i < WRITES;) {
        int rc = CAIRN_OK;
        if (!db) {
            rc = cairn_open(&db, url, NULL);
            if (rc == CAIRN_OK) rc = cairn_table_open(&t, db, "shared", CAIRN_TABLE_CREATE);
        }
        char key[32];
        int kn = snprintf(key, sizeof key, "w%d-%03d", w, (int)i);
        if (rc == CAIRN_OK) rc = cairn_put(t, key, (size_t)kn, key, (size_t)kn);
        if (rc == CAIRN_OK) {
            int32_t msg = w * 1000 + i;
            if (write(fd, &msg, sizeof msg) != sizeof msg) _exit(11);
            i++;
        } else if (rc == CAIRN_ECONFLICT && conflicts++ < 10000) { /* the other won: again */
            cairn_table_close(t);
            t = NULL;
            cairn_close(db);
            db = NULL;
        } else {
            fprintf(stderr, "writer %d: put %d: %s\n", w, (int)i, cairn_error_last()->message);
            _exit(12);
        }
    }
    cairn_table_close(t);
    _exit(cairn_close(db) == CAIRN_OK ? 0 : 13);
}

/* Two processes write to one repository on the store at once: each write either succeeds or
 * fails with a clear conflict, and every acknowledged write is there afterwards. */
static void pg_two_writers(void)
{
    if (!pg_loaded()) return;
    const char *url = url_with(fresh_prefix());
    cairn_db *db = test_open_repo(url);
    cairn_close(db);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pid[w] = test_fork();
        CHECK(pid[w] >= 0);
        if (pid[w] == 0) {
            close(fds[0]);
            writer_child(url, w, fds[1]);
        }
    }
    close(fds[1]);
    int acked[WRITERS] = { 0 };
    int32_t v;
    while (read(fds[0], &v, sizeof v) == sizeof v) acked[v / 1000]++;
    close(fds[0]);
    for (int w = 0; w < WRITERS; w++) {
        int status = 0;
        CHECK(waitpid(pid[w], &status, 0) == pid[w]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: status %d", w,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        CHECK_EQ(acked[w], WRITES);
    }
    CHECK_OK(cairn_open(&db, url, NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "shared", 0));
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < WRITES; i++) {
            char key[32];
            int kn = snprintf(key, sizeof key, "w%d-%03d", w, i);
            void *got;
            size_t len;
            int rc = cairn_get(&got, &len, t, NULL, key, (size_t)kn);
            CHECK_MSG(rc == CAIRN_OK, "acknowledged %s lost: %s", key, cairn_error_last()->message);
            CHECK_MEM(got, len, key, (size_t)kn);
            cairn_free(got);
        }
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- damage ---- */

/* A chunk's row overwritten with other bytes is caught by the core (the id is the hash) and
 * reported as CAIRN_ECORRUPT, never served. */
static void pg_corrupt_row(void)
{
    if (!pg_loaded()) return;
    const char *prefix = fresh_prefix();
    const char *url = url_with(prefix);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.compression_level = CAIRN_COMPRESSION_NONE; /* so that the value is findable in a row */
    cairn_db *db;
    CHECK_OK(cairn_open(&db, url, &o));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE));
    CHECK_OK(cairn_put(t, "k", 1, "findme-0123456789", 17));
    CHECK_OK(cairn_put(t, "other", 5, "fine", 4));
    cairn_table_close(t);
    CHECK_OK(test_commit(db, "one", NULL));
    CHECK_OK(cairn_close(db));
    long changed = sql("UPDATE %schunks SET data = overlay(data placing '\\x46'::bytea from "
                       "position('findme'::bytea in data) for 1) WHERE position('findme'::bytea "
                       "in data) > 0",
                       prefix);
    CHECK_MSG(changed >= 1, "no row held the value (%ld)", changed);
    /* The disk cache still holds the chunk as written: it serves those (right) bytes. */
    CHECK_OK(cairn_open(&db, url, NULL));
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    void *got = NULL;
    size_t len;
    CHECK_OK(cairn_get(&got, &len, t, NULL, "k", 1));
    CHECK_MEM(got, len, "findme-0123456789", 17);
    cairn_free(got);
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
    /* cairn verify checks the store, not the cache: it finds the damage */
    const char *bin = getenv("CAIRN_BIN");
    CHECK_MSG(bin, "CAIRN_BIN is not set (ctest sets it)");
    char out[4200];
    snprintf(out, sizeof out, "%s/verify.out", test_tmpdir());
    CHECK(test_sh("%s -C '%s' verify >%s 2>&1", bin, url, out) != 0);
    CHECK_EQ(test_sh("grep -q damaged %s", out), 0);
    /* The store itself, without the cache: the damage is caught. */
    setenv("CAIRN_CACHE", "off", 1);
    int rc = cairn_open(&db, url, NULL);
    unsetenv("CAIRN_CACHE");
    CHECK_OK(rc);
    CHECK_OK(cairn_table_open(&t, db, "t", 0));
    CHECK_RC(cairn_get(&got, &len, t, NULL, "k", 1), CAIRN_ECORRUPT);
    CHECK_ERRMSG("chunk");
    cairn_table_close(t);
    CHECK_OK(cairn_close(db));
}

/* ---- a repository on the store ---- */

static int count_commits(const cairn_commit_info *c, void *payload)
{
    (void)c;
    (*(int *)payload)++;
    return 0;
}

/* cairn_open with the URL: put, commit, reopen, read back, history. */
static void pg_repository(void)
{
    if (!pg_loaded()) return;
    enum { N = 3000 };
    const char *url = url_with(fresh_prefix());
    cairn_db *db = test_open_repo(url);
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "kv", CAIRN_TABLE_CREATE));
    for (int i = 0; i < N; i++) {
        char key[32], val[64];
        int kn = snprintf(key, sizeof key, "k%06d", i);
        int vn = snprintf(val, sizeof val, "v%d", i * 7);
        CHECK_OK(cairn_put(t, key, (size_t)kn, val, (size_t)vn));
    }
    cairn_table_close(t);
    cairn_id c1, c2;
    CHECK_OK(test_commit(db, "first", &c1));
    CHECK_OK(cairn_table_open(&t, db, "kv", 0));
    CHECK_OK(cairn_put(t, "k000000", 7, "changed", 7));
    cairn_table_close(t);
    CHECK_OK(test_commit(db, "second", &c2));
    CHECK_OK(cairn_close(db));

    CHECK_OK(cairn_open(&db, url, NULL));
    CHECK_OK(cairn_table_open(&t, db, "kv", 0));
    for (int i = 0; i < N; i++) {
        char key[32], val[64];
        int kn = snprintf(key, sizeof key, "k%06d", i);
        int vn = i ? snprintf(val, sizeof val, "v%d", i * 7) : snprintf(val, sizeof val, "changed");
        void *got;
        size_t len;
        CHECK_OK(cairn_get(&got, &len, t, NULL, key, (size_t)kn));
        CHECK_MEM(got, len, val, (size_t)vn);
        cairn_free(got);
    }
    cairn_table_close(t);
    int commits = 0;
    CHECK_OK(cairn_log(db, "main", count_commits, &commits));
    CHECK_EQ(commits, 2);
    cairn_id head;
    CHECK_OK(cairn_resolve(&head, db, "main"));
    CHECK_MEM(head.bytes, 32, c2.bytes, 32);
    CHECK_OK(cairn_close(db));
}

/* A store of schema version 1 (chunks without a generation, as builds before gc generations
 * made): a read-only open reads it as it is (and offers no gc generations); a writable open
 * migrates it to version 2 once, every row at generation 0, and the repository reads whole. */
static void pg_migrate(void)
{
    if (!pg_loaded()) return;
    const char *prefix = fresh_prefix();
    char url[1200];
    snprintf(url, sizeof url, "%s", url_with(prefix));
    cairn_db *db = test_open_repo(url);
    CHECK_OK(ru_fill(db, "t", 0, 500, "v1"));
    cairn_id c1;
    CHECK_OK(test_commit(db, "under schema 1", &c1));
    CHECK_OK(cairn_close(db));
    long rows = sql("SELECT count(*) FROM %schunks", prefix);
    CHECK(rows > 0);
    /* back to what schema 1 was */
    CHECK_EQ(sql("ALTER TABLE %schunks DROP COLUMN gen", prefix), 0);
    CHECK_EQ(sql("DROP SEQUENCE %sgen", prefix), 0);
    CHECK_EQ(sql("UPDATE %smeta SET value = '1' WHERE key = 'schema_version'", prefix), 1);

    cairn_store *st;
    CHECK_OK(store_pg_open(&st, url, CAIRN_OPEN_READONLY));
    CHECK_EQ(st->caps & CAIRN_STORE_CAP_GC_GEN, 0u);
    st->close(st);
    CHECK_EQ(sql("SELECT value::int FROM %smeta WHERE key = 'schema_version'", prefix), 1);

    CHECK_OK(cairn_open(&db, url, NULL)); /* migrates */
    CHECK_EQ(sql("SELECT value::int FROM %smeta WHERE key = 'schema_version'", prefix), 2);
    CHECK_EQ(sql("SELECT count(*) FROM %schunks WHERE gen = 0", prefix), rows);
    uint64_t n = 0;
    CHECK_OK(ru_count(db, "t", "main", &n));
    CHECK_EQ(n, 500);
    CHECK_OK(ru_fill(db, "t", 500, 600, "v2"));
    CHECK_OK(test_commit(db, "under schema 2", NULL));
    CHECK_OK(cairn_close(db));
    CHECK(sql("SELECT count(*) FROM %schunks WHERE gen > 0", prefix) > 0); /* new rows */
    CHECK_OK(ru_verify_clean(url));
}

/* The CLI on a postgres:// URL (over TCP, with the password): init, put, get, commit, log,
 * verify. */
static void pg_cli(void)
{
    if (!pg_loaded()) return;
    const char *bin = getenv("CAIRN_BIN");
    CHECK_MSG(bin, "CAIRN_BIN is not set (ctest sets it)");
    char url[1300];
    snprintf(url, sizeof url, "%s?table_prefix=%s", pg.url, fresh_prefix());
    char out[4200];
    snprintf(out, sizeof out, "%s/out", test_tmpdir());
    CHECK_EQ(test_sh("%s -C '%s' get t k >/dev/null 2>%s", bin, url, out), 3);
    CHECK_EQ(test_sh("grep -q 'cairn init' %s", out), 0);
    CHECK_EQ(test_sh("%s init '%s' >%s 2>&1", bin, url, out), 0);
    CHECK_EQ(test_sh("%s -C '%s' put t k hello >>%s 2>&1", bin, url, out), 0);
    CHECK_EQ(test_sh("%s -C '%s' commit -m 'on postgres' >>%s 2>&1", bin, url, out), 0);
    CHECK_EQ(test_sh("%s -C '%s' get t k >%s", bin, url, out), 0);
    CHECK_EQ(test_sh("grep -qx hello %s", out), 0);
    CHECK_EQ(test_sh("%s -C '%s' log >%s", bin, url, out), 0);
    CHECK_EQ(test_sh("grep -q 'on postgres' %s", out), 0);
    CHECK_EQ(test_sh("%s -C '%s' verify >%s 2>&1", bin, url, out), 0);
    CHECK_EQ(test_sh("grep -q 'problems *0' %s", out), 0);
    /* the store's messages name the user and never show the password */
    char bad[1400];
    snprintf(bad, sizeof bad, "postgres://%s:Secret-Word@127.0.0.1:%s/cairn", pg.user, pg.port);
    CHECK(test_sh("%s -C '%s' log >/dev/null 2>%s", bin, bad, out) != 0);
    CHECK_EQ(test_sh("grep -q \"user '%s'\" %s", pg.user, out), 0);
    CHECK_EQ(test_sh("grep -q Secret-Word %s", out), 1);
}

TEST_MAIN(pg_conformance, pg_url_forms, pg_open_errors, pg_readonly, pg_batch_requests,
          pg_restart_handle, pg_restart_load, pg_two_writers, pg_corrupt_row, pg_repository,
          pg_cli, pg_migrate)
