/*
 * docbench.c - cairn-docbench: JSON documents in cairn against SQLite (JSON1) and PostgreSQL 15
 * (JSONB), side by side in one run, on the same generated documents.
 *
 *   cairn-docbench [--docs=N] [--batch=N] [--queries=N] [--updates=N] [--seed=S] [--dir=PATH]
 *                  [--cache-mib=N] [--engines=cairn,sqlite,postgres] [--state=FILE]
 *                  [--script=scripts/pg-up.sh] [--keep] [--workloads=doceq,docrange,...]
 *
 * Documents (doc_make, a pure function of seed and i, so every engine stores the same bytes; all
 * of them made in memory before the first load is timed, make_docs):
 *   {"_id":"d00000042","name":"user42","age":0..99,"addr":{"city":"c00".."c99","zip":"NNNNN"},
 *    "rank":0..999999,"score":0..999999,"tags":["t0".."t19", 1..3 of them],
 *    "text":"six words from a 1000-word vocabulary, skewed: a few words are common"}
 * Indexes, created before the load in every engine (so each insert maintains them):
 * (addr.city, age) compound, rank, and a text index on text. score has none.
 *   cairn     a repository at DIR/cairn (default options, durable, a cache of --cache-mib), one
 *             collection; cairn_doc_index_create for the three indexes; the load is bulks of
 *             --batch documents (cairn_doc_bulk_*, each commit atomic and durable; the
 *             default --batch is every document: one bulk insert, as the "bulk insert"
 *             is one atomic batch).
 *   sqlite    DIR/docs.sqlite: docs(id TEXT PRIMARY KEY, doc TEXT), expression indexes on
 *             (json_extract(doc,'$.addr.city'), json_extract(doc,'$.age')) and
 *             json_extract(doc,'$.rank'), an FTS5 table (contentless, rowid = docs.rowid,
 *             default unicode61 tokenizer) for text; journal_mode=WAL, synchronous=FULL, a page
 *             cache of --cache-mib; the load is one transaction per --batch documents.
 *   postgres  a throwaway server on 127.0.0.1 (scripts/pg-up.sh, as cairn-pgload; or --state),
 *             docs(id text PRIMARY KEY, doc jsonb), btree indexes on ((doc->'addr'->'city'),
 *             (doc->'age')) and ((doc->'rank')), a GIN index on
 *             to_tsvector('simple', doc->>'text'); the load is one COPY per --batch documents,
 *             each in its own transaction; default server settings (fsync and synchronous_commit
 *             on). Talks over the unix socket.
 * Workloads (the query parameters are drawn from the seed, the same for every engine):
 *   docinsert  the load, docs/s
 *   doceq      {"addr.city": C, "age": A}: ~docs/10000 results, queries/s
 *   docrange   {"rank": {"$gte": R, "$lt": R+10000}}: ~docs/100 results, queries/s
 *   doctop     sort rank descending, limit 100, queries/s
 *   docscan    {"score": {"$lt": 1000}} on the unindexed score: documents examined per second
 *   doctext    two words, one common and one rare (cairn $text; SQLite FTS5 MATCH 'a b';
 *              PostgreSQL @@ to_tsquery('simple', 'a & b') through the GIN index), queries/s
 *   docupdate  single-document durable updates of age and score (cairn_doc_patch; UPDATE ... SET
 *              doc = json_set(...); UPDATE ... SET doc = doc || jsonb_build_object(...)), each
 *              its own durable transaction, updates/s
 * Every query reads each result's whole document text; the result counts of each workload must
 * agree across engines, or the run fails (a wrong answer is not a fast one). The queries of a
 * workload run twice: the first pass, right after the load, is printed as `# cold ...`; the
 * second (the same queries, with what the first read in each engine's caches) is the BENCH
 * value. cairn's fresh load keeps the nodes it writes out of its cache, so its first reads
 * verify (SHA-256) and decode every node they touch.
 * Prints `BENCH <workload> <engine> <value>` and `RATIO <workload> cairn/<peer> <x>`.
 */
#include <cairn.h>
#include <cairn/doc.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define COLL "docs"
#define CITIES 100
#define AGES 100
#define RANKS 1000000
#define TAGS 20
#define VOCAB 1000
#define TEXT_WORDS 6
#define RANGE_WIDTH 10000 /* of rank: ~1% of the documents */
#define TOP_N 100
#define SCAN_BELOW 1000   /* score < this: ~0.1% of the documents */
#define SCAN_QUERIES 3
#define DOC_MAX 512
#define ID_SIZE 24
#define MIB ((size_t)1 << 20)

enum { W_INSERT, W_EQ, W_RANGE, W_TOP, W_SCAN, W_TEXT, W_UPDATE, NWORK };
static const char *const WORK[NWORK] = { "docinsert", "doceq", "docrange", "doctop",
                                         "docscan", "doctext", "docupdate" };
enum { E_CAIRN, E_SQLITE, E_PG, NENG };
static const char *const ENG[NENG] = { "cairn", "sqlite", "postgres" };

typedef struct opts {
    uint64_t seed, docs, batch, queries, updates;
    size_t cache_mib;
    const char *dir, *state, *script;
    bool engine[NENG], keep;
    const char *workloads;    /* the ones to run besides docinsert, or NULL: all */
} opts;

static opts O = { 42, 1000000, 0, 200, 300, 256, NULL, NULL, "scripts/pg-up.sh",
                  { true, true, true }, false, NULL };

#define die(...) bench_die("cairn-docbench", __VA_ARGS__)

/* ---- the data: pure functions of (seed, i, what) ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t i, uint64_t what)
{
    return mix(mix(O.seed ^ (what << 48)) ^ i);
}

/* Word w of the vocabulary: three consonant-vowel syllables, all letters (one token in every
 * engine's tokenizer), distinct for distinct w (the first two syllables spell w). */
static void word(char out[8], unsigned w)
{
    static const char C[] = "bdfgklmnprstvzhjcwxy", V[] = "aeiou";
    unsigned s[3] = { w % 100, (w / 100) % 100, (w * 7 + 3) % 100 };
    for (int i = 0; i < 3; i++) {
        out[2 * i] = C[s[i] / 5];
        out[2 * i + 1] = V[s[i] % 5];
    }
    out[6] = 0;
}

/* A skewed word draw: word k has probability ~ sqrt((k+1)/VOCAB) - sqrt(k/VOCAB). */
static unsigned word_draw(uint64_t r)
{
    double u = (double)(r >> 11) / 9007199254740992.0;
    return (unsigned)(u * u * VOCAB);
}

static void doc_id(char out[ID_SIZE], uint64_t i)
{
    snprintf(out, ID_SIZE, "d%08llu", (unsigned long long)i);
}

static unsigned doc_age(uint64_t i) { return (unsigned)(rnd(i, 1) % AGES); }

/* Document i as JSON text into out; returns its length. text (optional) gets the text field. */
static size_t doc_make(char *out, uint64_t i, char *text)
{
    char id[ID_SIZE], words[TEXT_WORDS * 8] = "", tags[64] = "";
    doc_id(id, i);
    for (int k = 0; k < TEXT_WORDS; k++) {
        char w[8];
        word(w, word_draw(rnd(i * TEXT_WORDS + (uint64_t)k, 9)));
        if (k) strcat(words, " ");
        strcat(words, w);
    }
    unsigned ntags = 1 + (unsigned)(rnd(i, 7) % 3);
    for (unsigned k = 0; k < ntags; k++) {
        char t[8];
        snprintf(t, sizeof t, "%s\"t%u\"", k ? "," : "", (unsigned)(rnd(i * 3 + k, 8) % TAGS));
        strcat(tags, t);
    }
    if (text) strcpy(text, words);
    int n = snprintf(out, DOC_MAX,
                     "{\"_id\":\"%s\",\"name\":\"user%llu\",\"age\":%u,\"addr\":{\"city\":\"c%02u\","
                     "\"zip\":\"%05u\"},\"rank\":%u,\"score\":%u,\"tags\":[%s],\"text\":\"%s\"}",
                     id, (unsigned long long)i, doc_age(i), (unsigned)(rnd(i, 2) % CITIES),
                     (unsigned)(rnd(i, 3) % 100000), (unsigned)(rnd(i, 4) % RANKS),
                     (unsigned)(rnd(i, 5) % RANKS), tags, words);
    if (n <= 0 || n >= DOC_MAX) die("document %llu does not fit", (unsigned long long)i);
    return (size_t)n;
}

/* ---- the documents of the load, made before it is timed ----
 * Every engine loads the same bytes from memory, so docinsert measures the engine and not the
 * generator (doc_make was about a quarter of cairn's loading thread): made once, before the
 * first engine's load, shared by all (about 330 bytes a document). */
static struct {
    char *text;                       /* every document, one after another */
    size_t *at;                       /* document i is text[at[i], at[i + 1]) */
    char (*id)[ID_SIZE];              /* its id */
    char (*words)[TEXT_WORDS * 8];    /* its text field (SQLite's FTS row) */
} D;

static void make_docs(void)
{
    size_t cap = (size_t)O.docs * 256, len = 0;
    D.text = malloc(cap);
    D.at = malloc((O.docs + 1) * sizeof *D.at);
    D.id = malloc(O.docs * sizeof *D.id);
    D.words = malloc(O.docs * sizeof *D.words);
    if (!D.text || !D.at || !D.id || !D.words) die("out of memory making %llu documents",
                                                   (unsigned long long)O.docs);
    for (uint64_t i = 0; i < O.docs; i++) {
        if (cap - len < DOC_MAX) {
            char *t = realloc(D.text, cap *= 2);
            if (!t) die("out of memory making %llu documents", (unsigned long long)O.docs);
            D.text = t;
        }
        D.at[i] = len;
        len += doc_make(D.text + len, i, D.words[i]);
        doc_id(D.id[i], i);
    }
    D.at[O.docs] = len;
}

static const char *doc_at(uint64_t i, size_t *len)
{
    *len = D.at[i + 1] - D.at[i];
    return D.text + D.at[i];
}

/* Query q's parameters. */
static void eq_params(uint64_t q, char city[8], unsigned *age)
{
    snprintf(city, 8, "c%02u", (unsigned)(rnd(q, 20) % CITIES));
    *age = (unsigned)(rnd(q, 21) % AGES);
}

static unsigned range_from(uint64_t q) { return (unsigned)(rnd(q, 22) % (RANKS - RANGE_WIDTH)); }

/* A common word (among the 10 most frequent) and a rarer one (rank 100..999). */
static void text_params(uint64_t q, char a[8], char b[8])
{
    word(a, (unsigned)(rnd(q, 23) % 10));
    word(b, 100 + (unsigned)(rnd(q, 24) % (VOCAB - 100)));
}

/* Update u: which document, and its new age and score. */
static uint64_t update_params(uint64_t u, unsigned *age, unsigned *score)
{
    *age = (unsigned)(rnd(u, 26) % AGES);
    *score = (unsigned)(rnd(u, 27) % RANKS);
    return rnd(u, 25) % O.docs;
}

/* ---- one engine ---- */

typedef struct engine {
    int (*open)(void);
    void (*load)(uint64_t from, uint64_t to);   /* documents [from, to), one transaction */
    uint64_t (*eq)(uint64_t q);                 /* each returns the results it read */
    uint64_t (*range)(uint64_t q);
    uint64_t (*top)(uint64_t q);
    uint64_t (*scan)(uint64_t q);
    uint64_t (*text)(uint64_t q);
    void (*update)(uint64_t u);
    void (*close)(void);
} engine;

/* ---- cairn ---- */

static uint64_t bytes_read; /* of the results' documents, every engine */

static struct {
    cairn_db *db;
    cairn_coll *coll;
} C;

static void cfail(const char *what, int rc)
{
    die("cairn: %s: %s (%s)", what, cairn_error_last()->message, cairn_strerror(rc));
}

static int c_open(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cairn", O.dir);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    o.cache_bytes = O.cache_mib * MIB;
    int rc = cairn_open(&C.db, path, &o);
    if (rc == CAIRN_OK) rc = cairn_coll_open(&C.coll, C.db, COLL, CAIRN_COLL_CREATE);
    if (rc != CAIRN_OK) cfail(path, rc);
    static const char *const city_age[] = { "addr.city", "age" }, *const rank[] = { "rank" },
                             *const text[] = { "text" };
    if ((rc = cairn_doc_index_create(C.coll, city_age, 2, 0)) ||
        (rc = cairn_doc_index_create(C.coll, rank, 1, 0)) ||
        (rc = cairn_doc_index_create(C.coll, text, 1, CAIRN_INDEX_TEXT)))
        cfail("cairn_doc_index_create", rc);
    return 0;
}

static void c_load(uint64_t from, uint64_t to)
{
    cairn_doc_bulk *b;
    int rc = cairn_doc_bulk_new(&b, C.coll, NULL);
    if (rc) cfail("cairn_doc_bulk_new", rc);
    for (uint64_t i = from; i < to; i++) {
        size_t n;
        const char *doc = doc_at(i, &n);
        if ((rc = cairn_doc_bulk_add(b, doc, n))) cfail("cairn_doc_bulk_add", rc);
    }
    if ((rc = cairn_doc_bulk_commit(b))) cfail("cairn_doc_bulk_commit", rc);
    cairn_doc_bulk_free(b);
}

static int c_result(const char *id, const char *doc, size_t len, const char *cursor, void *p)
{
    (void)id;
    (void)cursor;
    (void)doc;
    bytes_read += len;
    (*(uint64_t *)p)++;
    return 0;
}

static uint64_t c_find(const char *filter, const char *const *sort, size_t nsort, uint64_t limit)
{
    cairn_doc_query q = CAIRN_DOC_QUERY_INIT;
    q.filter = filter;
    q.sort = sort;
    q.nsort = nsort;
    q.limit = limit;
    uint64_t n = 0;
    int rc = cairn_doc_find(NULL, C.coll, NULL, &q, c_result, &n);
    if (rc) cfail(filter ? filter : "cairn_doc_find", rc);
    return n;
}

static uint64_t c_eq(uint64_t q)
{
    char city[8], f[128];
    unsigned age;
    eq_params(q, city, &age);
    snprintf(f, sizeof f, "{\"addr.city\":\"%s\",\"age\":%u}", city, age);
    return c_find(f, NULL, 0, 0);
}

static uint64_t c_range(uint64_t q)
{
    char f[128];
    unsigned r = range_from(q);
    snprintf(f, sizeof f, "{\"rank\":{\"$gte\":%u,\"$lt\":%u}}", r, r + RANGE_WIDTH);
    return c_find(f, NULL, 0, 0);
}

static uint64_t c_top(uint64_t q)
{
    (void)q;
    static const char *const sort[] = { "rank:desc" };
    return c_find(NULL, sort, 1, TOP_N);
}

static uint64_t c_scan(uint64_t q)
{
    (void)q;
    char f[64];
    snprintf(f, sizeof f, "{\"score\":{\"$lt\":%d}}", SCAN_BELOW);
    return c_find(f, NULL, 0, 0);
}

static uint64_t c_text(uint64_t q)
{
    char a[8], b[8], f[64];
    text_params(q, a, b);
    snprintf(f, sizeof f, "{\"$text\":\"%s %s\"}", a, b);
    return c_find(f, NULL, 0, 0);
}

static void c_update(uint64_t u)
{
    unsigned age, score;
    uint64_t i = update_params(u, &age, &score);
    char id[ID_SIZE], patch[64];
    doc_id(id, i);
    int n = snprintf(patch, sizeof patch, "{\"age\":%u,\"score\":%u}", age, score);
    int rc = cairn_doc_patch(NULL, C.coll, id, patch, (size_t)n, NULL);
    if (rc) cfail("cairn_doc_patch", rc);
}

static void c_close(void)
{
    cairn_coll_close(C.coll);
    int rc = cairn_close(C.db);
    if (rc) cfail("cairn_close", rc);
}

/* ---- SQLite ---- */

enum { S_INS, S_FTS, S_EQ, S_RANGE, S_TOP, S_SCAN, S_TEXT, S_UPD, NSTMT };
static const char *const S_SQL[NSTMT] = {
    "INSERT INTO docs (id, doc) VALUES (?1, ?2)",
    "INSERT INTO docs_fts (rowid, text) VALUES (last_insert_rowid(), ?1)",
    "SELECT doc FROM docs WHERE json_extract(doc, '$.addr.city') = ?1 AND "
    "json_extract(doc, '$.age') = ?2",
    "SELECT doc FROM docs WHERE json_extract(doc, '$.rank') >= ?1 AND "
    "json_extract(doc, '$.rank') < ?2",
    "SELECT doc FROM docs ORDER BY json_extract(doc, '$.rank') DESC LIMIT ?1",
    "SELECT doc FROM docs WHERE json_extract(doc, '$.score') < ?1",
    "SELECT d.doc FROM docs_fts f JOIN docs d ON d.rowid = f.rowid WHERE docs_fts MATCH ?1",
    "UPDATE docs SET doc = json_set(doc, '$.age', ?1, '$.score', ?2) WHERE id = ?3",
};

static struct {
    sqlite3 *db;
    sqlite3_stmt *st[NSTMT];
} S;

static void sfail(const char *what)
{
    die("sqlite: %s: %s", what, sqlite3_errmsg(S.db));
}

static void sexec(const char *sql)
{
    if (sqlite3_exec(S.db, sql, NULL, NULL, NULL) != SQLITE_OK) sfail(sql);
}

static int s_open(void)
{
    char path[4096], pragma[64];
    snprintf(path, sizeof path, "%s/docs.sqlite", O.dir);
    if (sqlite3_open(path, &S.db) != SQLITE_OK) sfail(path);
    sexec("PRAGMA journal_mode=WAL");
    sexec("PRAGMA synchronous=FULL");
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%zu", O.cache_mib * 1024);
    sexec(pragma);
    sexec("CREATE TABLE docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
    sexec("CREATE INDEX docs_city_age ON docs (json_extract(doc, '$.addr.city'), "
          "json_extract(doc, '$.age'))");
    sexec("CREATE INDEX docs_rank ON docs (json_extract(doc, '$.rank'))");
    sexec("CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='')");
    for (int i = 0; i < NSTMT; i++)
        if (sqlite3_prepare_v2(S.db, S_SQL[i], -1, &S.st[i], NULL) != SQLITE_OK) sfail(S_SQL[i]);
    return 0;
}

static void s_done(sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE) sfail(sqlite3_sql(st));
    sqlite3_reset(st);
}

static void s_load(uint64_t from, uint64_t to)
{
    sexec("BEGIN");
    for (uint64_t i = from; i < to; i++) {
        size_t n;
        const char *doc = doc_at(i, &n);
        sqlite3_bind_text(S.st[S_INS], 1, D.id[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(S.st[S_INS], 2, doc, (int)n, SQLITE_STATIC);
        s_done(S.st[S_INS]);
        sqlite3_bind_text(S.st[S_FTS], 1, D.words[i], -1, SQLITE_STATIC);
        s_done(S.st[S_FTS]);
    }
    sexec("COMMIT");
}

/* Steps a bound query to its end, reading each row's document. */
static uint64_t s_rows(sqlite3_stmt *st)
{
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *doc = sqlite3_column_text(st, 0);
        if (!doc) sfail("a document without text");
        bytes_read += (uint64_t)sqlite3_column_bytes(st, 0);
        n++;
    }
    if (rc != SQLITE_DONE) sfail(sqlite3_sql(st));
    sqlite3_reset(st);
    return n;
}

static uint64_t s_eq(uint64_t q)
{
    char city[8];
    unsigned age;
    eq_params(q, city, &age);
    sqlite3_bind_text(S.st[S_EQ], 1, city, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(S.st[S_EQ], 2, (int)age);
    return s_rows(S.st[S_EQ]);
}

static uint64_t s_range(uint64_t q)
{
    unsigned r = range_from(q);
    sqlite3_bind_int(S.st[S_RANGE], 1, (int)r);
    sqlite3_bind_int(S.st[S_RANGE], 2, (int)(r + RANGE_WIDTH));
    return s_rows(S.st[S_RANGE]);
}

static uint64_t s_top(uint64_t q)
{
    (void)q;
    sqlite3_bind_int(S.st[S_TOP], 1, TOP_N);
    return s_rows(S.st[S_TOP]);
}

static uint64_t s_scan(uint64_t q)
{
    (void)q;
    sqlite3_bind_int(S.st[S_SCAN], 1, SCAN_BELOW);
    return s_rows(S.st[S_SCAN]);
}

static uint64_t s_text(uint64_t q)
{
    char a[8], b[8], m[32];
    text_params(q, a, b);
    snprintf(m, sizeof m, "%s %s", a, b);
    sqlite3_bind_text(S.st[S_TEXT], 1, m, -1, SQLITE_TRANSIENT);
    return s_rows(S.st[S_TEXT]);
}

static void s_update(uint64_t u)
{
    unsigned age, score;
    uint64_t i = update_params(u, &age, &score);
    char id[ID_SIZE];
    doc_id(id, i);
    sqlite3_bind_int(S.st[S_UPD], 1, (int)age);
    sqlite3_bind_int(S.st[S_UPD], 2, (int)score);
    sqlite3_bind_text(S.st[S_UPD], 3, id, -1, SQLITE_TRANSIENT);
    s_done(S.st[S_UPD]);
    if (sqlite3_changes(S.db) != 1) die("sqlite: update of %s changed %d rows", id, sqlite3_changes(S.db));
}

static void s_close(void)
{
    for (int i = 0; i < NSTMT; i++) sqlite3_finalize(S.st[i]);
    if (sqlite3_close(S.db) != SQLITE_OK) sfail("close");
}

/* ---- PostgreSQL ---- */

enum { P_EQ, P_RANGE, P_TOP, P_SCAN, P_TEXT, P_UPD, NPREP };
static const char *const P_SQL[NPREP] = {
    "SELECT doc::text FROM docs WHERE doc->'addr'->'city' = to_jsonb($1::text) AND "
    "doc->'age' = to_jsonb($2::int)",
    "SELECT doc::text FROM docs WHERE doc->'rank' >= to_jsonb($1::int) AND "
    "doc->'rank' < to_jsonb($2::int)",
    "SELECT doc::text FROM docs ORDER BY doc->'rank' DESC LIMIT $1::int",
    "SELECT doc::text FROM docs WHERE doc->'score' < to_jsonb($1::int)",
    "SELECT doc::text FROM docs WHERE to_tsvector('simple', doc->>'text') @@ "
    "to_tsquery('simple', $1)",
    "UPDATE docs SET doc = doc || jsonb_build_object('age', $1::int, 'score', $2::int) "
    "WHERE id = $3",
};

static struct {
    PGconn *c;
    char conninfo[1024];
    char own_state[128];
} P;

static void prun(const char *sql)
{
    PGresult *r = PQexec(P.c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die("postgres: %s: %s", sql, PQerrorMessage(P.c));
    PQclear(r);
}

static void read_state(const char *path)
{
    bench_pg_conninfo("cairn-docbench", path, P.conninfo, sizeof P.conninfo);
}

static int p_open(void)
{
    const char *state = O.state;
    if (!state) { /* a server of our own */
        snprintf(P.own_state, sizeof P.own_state, "/tmp/cairn-docbench.%ld.state", (long)getpid());
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s %s >&2", O.script, P.own_state);
        if (system(cmd) != 0) die("could not start PostgreSQL with %s", O.script);
        state = P.own_state;
    }
    read_state(state);
    P.c = PQconnectdb(P.conninfo);
    if (PQstatus(P.c) != CONNECTION_OK) die("postgres: %s", PQerrorMessage(P.c));
    prun("SET client_min_messages = warning");
    prun("DROP TABLE IF EXISTS docs");
    prun("CREATE TABLE docs (id text PRIMARY KEY, doc jsonb NOT NULL)");
    prun("CREATE INDEX docs_city_age ON docs ((doc->'addr'->'city'), (doc->'age'))");
    prun("CREATE INDEX docs_rank ON docs ((doc->'rank'))");
    prun("CREATE INDEX docs_text ON docs USING gin (to_tsvector('simple', doc->>'text'))");
    for (int i = 0; i < NPREP; i++) {
        char name[8];
        snprintf(name, sizeof name, "q%d", i);
        PGresult *r = PQprepare(P.c, name, P_SQL[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("postgres: %s: %s", P_SQL[i], PQerrorMessage(P.c));
        PQclear(r);
    }
    return 0;
}

static void p_load(uint64_t from, uint64_t to)
{
    prun("BEGIN");
    PGresult *r = PQexec(P.c, "COPY docs (id, doc) FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) die("postgres: COPY: %s", PQerrorMessage(P.c));
    PQclear(r);
    /* text COPY rows: id TAB json NL (the documents hold no tab, newline or backslash) */
    size_t cap = 1u << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) die("out of memory");
    for (uint64_t i = from; i < to; i++) {
        if (cap - len < DOC_MAX + 32) {
            if (PQputCopyData(P.c, buf, (int)len) != 1) die("postgres: COPY: %s", PQerrorMessage(P.c));
            len = 0;
        }
        size_t idlen = strlen(D.id[i]), n;
        const char *doc = doc_at(i, &n);
        memcpy(buf + len, D.id[i], idlen);
        len += idlen;
        buf[len++] = '\t';
        memcpy(buf + len, doc, n);
        len += n;
        buf[len++] = '\n';
    }
    if (PQputCopyData(P.c, buf, (int)len) != 1 || PQputCopyEnd(P.c, NULL) != 1)
        die("postgres: COPY: %s", PQerrorMessage(P.c));
    free(buf);
    while ((r = PQgetResult(P.c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("postgres: COPY: %s", PQerrorMessage(P.c));
        PQclear(r);
    }
    prun("COMMIT");
}

static uint64_t p_exec(int which, int n, const char *const *params)
{
    char name[8];
    snprintf(name, sizeof name, "q%d", which);
    PGresult *r = PQexecPrepared(P.c, name, n, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        die("postgres: %s: %s", P_SQL[which], PQerrorMessage(P.c));
    uint64_t rows = s == PGRES_TUPLES_OK ? (uint64_t)PQntuples(r) : strtoull(PQcmdTuples(r), NULL, 10);
    if (s == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples(r); i++) bytes_read += (uint64_t)PQgetlength(r, i, 0);
    PQclear(r);
    return rows;
}

static uint64_t p_eq(uint64_t q)
{
    char city[8], age[16];
    unsigned a;
    eq_params(q, city, &a);
    snprintf(age, sizeof age, "%u", a);
    const char *v[2] = { city, age };
    return p_exec(P_EQ, 2, v);
}

static uint64_t p_range(uint64_t q)
{
    char lo[16], hi[16];
    unsigned r = range_from(q);
    snprintf(lo, sizeof lo, "%u", r);
    snprintf(hi, sizeof hi, "%u", r + RANGE_WIDTH);
    const char *v[2] = { lo, hi };
    return p_exec(P_RANGE, 2, v);
}

/* A prepared statement with one integer parameter. */
static uint64_t p_exec_int(int which, int value)
{
    char n[16];
    snprintf(n, sizeof n, "%d", value);
    const char *v[1] = { n };
    return p_exec(which, 1, v);
}

static uint64_t p_top(uint64_t q)
{
    (void)q;
    return p_exec_int(P_TOP, TOP_N);
}

static uint64_t p_scan(uint64_t q)
{
    (void)q;
    return p_exec_int(P_SCAN, SCAN_BELOW);
}

static uint64_t p_text(uint64_t q)
{
    char a[8], b[8], m[32];
    text_params(q, a, b);
    snprintf(m, sizeof m, "%s & %s", a, b);
    const char *v[1] = { m };
    return p_exec(P_TEXT, 1, v);
}

static void p_update(uint64_t u)
{
    unsigned age, score;
    uint64_t i = update_params(u, &age, &score);
    char id[ID_SIZE], a[16], s[16];
    doc_id(id, i);
    snprintf(a, sizeof a, "%u", age);
    snprintf(s, sizeof s, "%u", score);
    const char *v[3] = { a, s, id };
    if (p_exec(P_UPD, 3, v) != 1) die("postgres: the update of %s changed no row", id);
}

static void p_close(void)
{
    if (!O.keep) prun("DROP TABLE IF EXISTS docs");
    PQfinish(P.c);
    if (P.own_state[0]) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s --down %s >&2", O.script, P.own_state);
        if (system(cmd) != 0) fprintf(stderr, "cairn-docbench: stopping the server failed\n");
    }
}

static const engine ENGINES[NENG] = {
    { c_open, c_load, c_eq, c_range, c_top, c_scan, c_text, c_update, c_close },
    { s_open, s_load, s_eq, s_range, s_top, s_scan, s_text, s_update, s_close },
    { p_open, p_load, p_eq, p_range, p_top, p_scan, p_text, p_update, p_close },
};

/* ---- the driver ---- */

/* The calling thread's CPU time in seconds. */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rate[NWORK][NENG];
static uint64_t results[NWORK][NENG];

static void report(int w, int e, double value, uint64_t n)
{
    rate[w][e] = value;
    results[w][e] = n;
    printf("BENCH %s %s %.0f   (%llu results)\n", WORK[w], ENG[e], value, (unsigned long long)n);
    fflush(stdout);
}

/* Runs the nq queries twice: cold (right after the load: whatever each engine's caches kept
 * from it; printed as a comment) and warm (what the first pass read is cached: the BENCH
 * line). */
static void queries(int w, int e, uint64_t (*fn)(uint64_t), uint64_t nq, bool per_doc)
{
    if (O.workloads && !strstr(O.workloads, WORK[w])) return;
    uint64_t n = 0;
    double per = (double)(per_doc ? nq * O.docs : nq);
    double t0 = bench_now();
    for (uint64_t q = 0; q < nq; q++) n += fn(q);
    printf("# cold %s %s %.0f\n", WORK[w], ENG[e], per / (bench_now() - t0));
    uint64_t warm = 0;
    t0 = bench_now();
    for (uint64_t q = 0; q < nq; q++) warm += fn(q);
    double secs = bench_now() - t0;
    if (warm != n) die("%s %s: %llu results, then %llu for the same queries", WORK[w], ENG[e],
                       (unsigned long long)n, (unsigned long long)warm);
    report(w, e, per / secs, n);
}

static void run_engine(int e)
{
    const engine *g = &ENGINES[e];
    g->open();
    double t0 = bench_now(), cpu0 = thread_cpu();
    for (uint64_t i = 0; i < O.docs; i += O.batch) g->load(i, i + O.batch < O.docs ? i + O.batch : O.docs);
    double cpu = thread_cpu() - cpu0;
    report(W_INSERT, e, (double)O.docs / (bench_now() - t0), O.docs);
    /* CPU time stays meaningful on a busy machine, where wall time does not: the loading
     * thread's (the documents were made before: see make_docs; cairn's workers and its commit's
     * second thread are not counted) */
    printf("# cpu %s %s %.2f us/doc (the loading thread)\n", WORK[W_INSERT], ENG[e],
           cpu / (double)O.docs * 1e6);
    queries(W_EQ, e, g->eq, O.queries, false);
    queries(W_RANGE, e, g->range, O.queries / 10 ? O.queries / 10 : 1, false);
    queries(W_TOP, e, g->top, O.queries, false);
    queries(W_SCAN, e, g->scan, SCAN_QUERIES, true);
    queries(W_TEXT, e, g->text, O.queries, false);
    if (!O.workloads || strstr(O.workloads, WORK[W_UPDATE])) {
        t0 = bench_now();
        for (uint64_t u = 0; u < O.updates; u++) g->update(u);
        report(W_UPDATE, e, (double)O.updates / (bench_now() - t0), O.updates);
    }
    g->close();
}

static uint64_t num_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0 || a[n] != '=') return UINT64_MAX;
    char *end;
    unsigned long long v = strtoull(a + n + 1, &end, 10);
    if (*end || end == a + n + 1) die("%s: not a number", a);
    return v;
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if ((v = num_opt(a, "--docs")) != UINT64_MAX) O.docs = v;
        else if ((v = num_opt(a, "--batch")) != UINT64_MAX) O.batch = v;
        else if ((v = num_opt(a, "--queries")) != UINT64_MAX) O.queries = v;
        else if ((v = num_opt(a, "--updates")) != UINT64_MAX) O.updates = v;
        else if ((v = num_opt(a, "--seed")) != UINT64_MAX) O.seed = v;
        else if ((v = num_opt(a, "--cache-mib")) != UINT64_MAX) O.cache_mib = v;
        else if (strncmp(a, "--dir=", 6) == 0) O.dir = a + 6;
        else if (strncmp(a, "--state=", 8) == 0) O.state = a + 8;
        else if (strncmp(a, "--script=", 9) == 0) O.script = a + 9;
        else if (strcmp(a, "--keep") == 0) O.keep = true;
        else if (strncmp(a, "--workloads=", 12) == 0) O.workloads = a + 12;
        else if (strncmp(a, "--engines=", 10) == 0) {
            for (int e = 0; e < NENG; e++) O.engine[e] = strstr(a + 10, ENG[e]) != NULL;
        } else {
            die("usage: cairn-docbench [--docs=N] [--batch=N] [--queries=N] [--updates=N] "
                "[--seed=S] [--dir=PATH] [--cache-mib=N] [--engines=cairn,sqlite,postgres] "
                "[--state=FILE] [--script=scripts/pg-up.sh] [--keep] [--workloads=LIST]");
        }
    }
    if (!O.docs || !O.queries) die("--docs and --queries must be positive");
    if (!O.batch || O.batch > O.docs) O.batch = O.docs; /* the default: one bulk of them all */
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    static char dir[4096];
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/cairn-docbench.XXXXXX", O.dir ? O.dir : tmp);
    if (!mkdtemp(dir)) die("could not make a directory in %s", O.dir ? O.dir : tmp);
    O.dir = dir;
    printf("# cairn-docbench: %llu documents (batches of %llu), %llu queries, %llu updates, "
           "seed %llu, cache %zu MiB, in %s; cairn %s, SQLite %s, libpq %d\n",
           (unsigned long long)O.docs, (unsigned long long)O.batch,
           (unsigned long long)O.queries, (unsigned long long)O.updates,
           (unsigned long long)O.seed, O.cache_mib, dir, cairn_version(), sqlite3_libversion(),
           PQlibVersion());
    fflush(stdout);
    make_docs();
    for (int e = 0; e < NENG; e++)
        if (O.engine[e]) run_engine(e);
    free(D.text);
    free(D.at);
    free(D.id);
    free(D.words);
    int bad = 0;
    for (int w = 0; w < NWORK; w++)
        for (int e = 1; e < NENG; e++) {
            if (!O.engine[0] || !O.engine[e] || !rate[w][0] || !rate[w][e]) continue; /* not run */
            if (results[w][0] != results[w][e]) {
                fprintf(stderr, "cairn-docbench: %s: cairn read %llu results, %s %llu\n", WORK[w],
                        (unsigned long long)results[w][0], ENG[e],
                        (unsigned long long)results[w][e]);
                bad = 1;
            }
            printf("RATIO %s cairn/%s %.2f\n", WORK[w], ENG[e], rate[w][0] / rate[w][e]);
        }
    if (!O.keep) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "cairn-docbench: could not remove %s\n", dir);
    }
    return bad;
}
