/*
 * test_doc_crash.c - documents and their indexes survive SIGKILL at any moment.
 *
 * Each round forks a writer on a local repository that inserts single documents, bulk-inserts
 * 500 at a time, patches, deletes, and creates and drops an index, telling the parent on a pipe
 * what it starts ("B n" a bulk, "I" an index change) and what was acknowledged ("S id" an
 * insert, "A n" a bulk). The parent kills it after a random delay, reopens the repository and
 * checks: every index agrees with the documents (cairn_doc_check), every acknowledged insert
 * is there, and each bulk is all or nothing (all there when acknowledged). Rounds:
 * CAIRN_DOC_CRASH_ROUNDS (default 8), seeded.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/doc.h"
#include "test.h"

#define BULK_DOCS 500
#define MAX_ACKS 100000

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(int fd, const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (write(fd, line, (size_t)n) != n) _exit(3);
}

static cairn_coll *open_coll(cairn_db **db, const char *dir)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_coll *c = NULL;
    if (test_open(db, dir, &o) != CAIRN_OK || cairn_coll_open(&c, *db, "c", CAIRN_COLL_CREATE)) {
        fprintf(stderr, "open %s: %s\n", dir, cairn_error_last()->message);
        _exit(2);
    }
    return c;
}

/* The writer: runs until killed. */
static void writer(const char *dir, int round, int fd, uint64_t seed)
{
    cairn_db *db;
    cairn_coll *c = open_coll(&db, dir);
    uint64_t rs = seed;
    char doc[256];
    for (int i = 0;; i++) {
        int op = (int)(test_rand(&rs) % 10);
        if (op == 0) {
            cairn_doc_bulk *b;
            if (cairn_doc_bulk_new(&b, c, NULL)) _exit(4);
            for (int j = 0; j < BULK_DOCS; j++) {
                int n = snprintf(doc, sizeof doc,
                                 "{\"_id\":\"r%d-b%d-%d\",\"k\":\"r%d-b%d-%d\",\"g\":%d,\"t\":\"bulk words %d\"}",
                                 round, i, j, round, i, j, j % 7, j);
                if (cairn_doc_bulk_add(b, doc, (size_t)n)) _exit(5);
            }
            say(fd, "B %d\n", i);
            if (cairn_doc_bulk_commit(b)) _exit(6);
            say(fd, "A %d\n", i);
            cairn_doc_bulk_free(b);
        } else if (op == 1) {
            const char *f[] = { "m" };
            say(fd, "I\n");
            if (cairn_doc_index_drop(c, "m") == CAIRN_ENOTFOUND && cairn_doc_index_create(c, f, 1, 0))
                _exit(7);
        } else if (op == 2) {
            int n = snprintf(doc, sizeof doc, "{\"m\":%d,\"g\":null}", i);
            int rc = cairn_doc_patch(NULL, c, "seed1", doc, (size_t)n, NULL);
            if (rc && rc != CAIRN_ENOTFOUND) _exit(8);
        } else {
            int n = snprintf(doc, sizeof doc,
                             "{\"_id\":\"r%d-s%d\",\"k\":\"r%d-s%d\",\"g\":[%d,%d],\"m\":%d,\"t\":\"single %d\"}",
                             round, i, round, i, i % 5, i % 3, i, i);
            if (cairn_doc_insert(NULL, c, doc, (size_t)n, NULL)) _exit(9);
            say(fd, "S r%d-s%d\n", round, i);
            if (i % 4 == 0) {
                char id[64];
                snprintf(id, sizeof id, "r%d-s%d", round, i - 1);
                int rc = cairn_doc_delete(c, id, NULL);
                if (rc && rc != CAIRN_ENOTFOUND) _exit(10);
            }
        }
    }
}

static uint64_t count_prefix(cairn_coll *c, const char *prefix)
{
    char f[128];
    snprintf(f, sizeof f, "{\"_id\":{\"$prefix\":\"%s\"}}", prefix);
    uint64_t n = 0;
    return cairn_doc_count(&n, c, NULL, f) == CAIRN_OK ? n : UINT64_MAX;
}

/* Reads the writer's reports and checks the reopened repository against them. */
static void check_round(const char *dir, const char *reports, int round)
{
    cairn_db *db;
    cairn_coll *c = open_coll(&db, dir);
    cairn_doc_check_stats st;
    CHECK_OK(cairn_doc_check(&st, c, NULL));
    char *copy = strdup(reports);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        int n;
        char prefix[64];
        if (sscanf(line, "B %d", &n) == 1 || sscanf(line, "A %d", &n) == 1) {
            snprintf(prefix, sizeof prefix, "r%d-b%d-", round, n);
            uint64_t have = count_prefix(c, prefix);
            CHECK_MSG(have == 0 || have == BULK_DOCS, "bulk %d: %llu of %d documents", n,
                      (unsigned long long)have, BULK_DOCS);
            if (line[0] == 'A') CHECK_EQ(have, BULK_DOCS);
        } else if (line[0] == 'S') {
            int i = atoi(strrchr(line, 's') + 1);
            char *doc = NULL;
            /* deleted later by the writer when the next insert's number is a multiple of 4 */
            int rc = cairn_doc_get(&doc, NULL, c, NULL, line + 2);
            CHECK_MSG(rc == CAIRN_OK || (i + 1) % 4 == 0, "acknowledged %s is missing", line + 2);
            cairn_free(doc);
        }
    }
    free(copy);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

static void kill_writer(void)
{
    const char *dir = test_tmpdir();
    const char *env = getenv("CAIRN_DOC_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 8;
    cairn_db *db;
    cairn_coll *c = open_coll(&db, dir);
    const char *k[] = { "k" }, *t[] = { "t" }, *g[] = { "g" };
    CHECK_OK(cairn_doc_index_create(c, k, 1, CAIRN_INDEX_UNIQUE));
    CHECK_OK(cairn_doc_index_create(c, t, 1, CAIRN_INDEX_TEXT));
    CHECK_OK(cairn_doc_index_create(c, g, 1, 0));
    const char *seed = "{\"_id\":\"seed1\",\"k\":\"seed\",\"g\":1}";
    CHECK_OK(cairn_doc_insert(NULL, c, seed, strlen(seed), NULL));
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
    uint64_t rs = test_rng(1);
    for (int round = 0; round < rounds && !test_failures; round++) {
        int p[2];
        CHECK(pipe(p) == 0);
        uint64_t wseed = test_rand(&rs);
        pid_t pid = test_fork();
        if (pid == 0) {
            close(p[0]);
            writer(dir, round, p[1], wseed);
            _exit(0);
        }
        close(p[1]);
        usleep((useconds_t)(20000 + test_rand(&rs) % 400000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "the writer ended by itself (status %d)", status);
        static char reports[1 << 20];
        size_t len = 0;
        ssize_t got;
        while (len < sizeof reports - 1 && (got = read(p[0], reports + len, sizeof reports - 1 - len)) > 0)
            len += (size_t)got;
        reports[len] = '\0';
        close(p[0]);
        if (getenv("CAIRN_DOC_CRASH_VERBOSE")) fprintf(stderr, "round %d:\n%s", round, reports);
        check_round(dir, reports, round);
    }
}

TEST_MAIN(kill_writer)
