/*
 * test.h - cairn's small test harness: CHECK macros that report file, line, the failing
 * expression and cairn's last error message; a seeded PRNG whose seed is printed on failure so
 * any run can be replayed (CAIRN_TEST_SEED=N); cleanups that run after every case (below).
 *
 * A test file defines its cases and ends with:
 *   TEST_MAIN(case_a, case_b, ...)
 * Running the binary with a case name runs only that case.
 *
 * A failing CHECK returns from the middle of a case, past its own teardown. So what a case
 * makes is registered as it is made, and the runner releases it when the case ends, passed or
 * failed, the last made first: test_tmpdir()'s directories are removed (CAIRN_TEST_KEEP=1 keeps
 * them), handles opened with cairn_open() or cairn_open_store() (through the macros below) that
 * the case did not close are closed, and test_fork()'s children still running are killed and
 * reaped. Engine hooks a case may have left set (failing allocations, the log callback, test
 * points) are reset. test_defer() registers anything else.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cairn.h"
#include "cairn/sys/store.h"

extern int test_failures;
extern uint64_t test_seed;

void test_fail(const char *file, int line, const char *fmt, ...);
/** A fresh empty directory under $TMPDIR, removed when the case ends. Never NULL. */
const char *test_tmpdir(void);

/** Runs fn(arg) when the current case ends, passed or failed (in the process that runs the
 *  cases, never in a forked child). Returns an id for test_undefer(). */
int test_defer(void (*fn)(void *), void *arg);
/** Drops a cleanup: the case released the thing itself. */
void test_undefer(int id);
/** fork(); in the parent the child is registered: if it still runs when the case ends, it is
 *  killed with SIGKILL and reaped. */
pid_t test_fork(void);
/** Runs child(arg, fd) in a test_fork()ed process. The child writes one byte to fd when the work
 *  to interrupt starts, and (when it finishes) a double (its time, in seconds), then _exits 0.
 *  delay_us >= 0: the child is killed with SIGKILL delay_us after that byte; < 0: it runs to the
 *  end and *secs (may be NULL) gets the double. *killed (may be NULL): it died by the signal.
 *  @return 0 when it started and was killed or exited 0; -1 otherwise. */
int test_run_killed(void (*child)(const char *arg, int fd), const char *arg, long delay_us,
                    double *secs, bool *killed);
/** cairn_open / cairn_open_store / cairn_close, registering the handle until it is closed (the
 *  macros below route a test's calls here). */
int test_open(cairn_db **out, const char *url, const cairn_open_options *opts);
int test_open_store(cairn_db **out, cairn_store *store, const cairn_open_options *opts);
int test_close(cairn_db *db);
#define cairn_open(out, url, opts) test_open((out), (url), (opts))
#define cairn_open_store(out, store, opts) test_open_store((out), (store), (opts))
#define cairn_close(db) test_close(db)
/** Opens (creating it if missing) the repository at url, or exits naming the error. */
cairn_db *test_open_repo(const char *url);
/** test_open_repo() with the memtable limit given (0: the default). */
cairn_db *test_open_repo_with(const char *url, size_t memtable_bytes);
/** A commit with message msg by a fixed test author (out may be NULL). */
int test_commit(cairn_db *db, const char *msg, cairn_id *out);
/* The id of the leaf of table's current tree that holds key (which must be there). */
int test_leaf_of(cairn_db *db, const char *table, const char *key, cairn_id *out);
/** splitmix64 PRNG state seeded from the test seed. */
uint64_t test_rand(uint64_t *state);
/** A state seeded from the test seed and a per-use salt. */
uint64_t test_rng(uint64_t salt);
/** Runs a shell command; returns its exit status (or -1). */
int test_sh(const char *fmt, ...);
/** What test_count_warnings() saw: warnings and errors logged, and the first one's text. */
typedef struct test_warnings {
    atomic_int n;            /* the library's threads may log at once */
    char first[600];
} test_warnings;
/** Counts into *w (zeroed here) what the library logs at CAIRN_LOG_WARN or worse, until
 *  cairn_set_log(NULL, NULL) (which the case's end does too). */
void test_count_warnings(test_warnings *w);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* expr must return CAIRN_OK. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int chk_rc_ = (expr);                                                                      \
        if (chk_rc_ != CAIRN_OK) {                                                                 \
            test_fail(__FILE__, __LINE__, "%s returned %d (%s): %s", #expr, chk_rc_,              \
                      cairn_strerror(chk_rc_), cairn_error_last()->message);                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* expr must return exactly code. */
#define CHECK_RC(expr, code)                                                                       \
    do {                                                                                           \
        int chk_rc_ = (expr);                                                                      \
        if (chk_rc_ != (code)) {                                                                   \
            test_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s): %s", #expr,     \
                      chk_rc_, cairn_strerror(chk_rc_), (int)(code), cairn_strerror(code),         \
                      cairn_error_last()->message);                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long chk_a_ = (long long)(a), chk_b_ = (long long)(b);                               \
        if (chk_a_ != chk_b_) {                                                                    \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, chk_a_, chk_b_);      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t chk_al_ = (alen), chk_bl_ = (blen);                                                \
        if (chk_al_ != chk_bl_ || (chk_al_ && memcmp((a), (b), chk_al_) != 0)) {                  \
            test_fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", #a, chk_al_, #b,    \
                      chk_bl_);                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *chk_a_ = (a), *chk_b_ = (b);                                                  \
        if (!chk_a_ || !chk_b_ || strcmp(chk_a_, chk_b_) != 0) {                                  \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                   \
                      chk_a_ ? chk_a_ : "(null)", chk_b_ ? chk_b_ : "(null)");                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* The error message must contain a substring (errors must name the thing). */
#define CHECK_ERRMSG(substr)                                                                       \
    CHECK_MSG(strstr(cairn_error_last()->message, (substr)) != NULL,                               \
              "error message \"%s\" lacks \"%s\"", cairn_error_last()->message, (substr))

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;


#define TEST_MAIN(...)                                                                             \
    int main(int argc, char **argv)                                                               \
    {                                                                                              \
        void (*fns_[])(void) = { __VA_ARGS__ };                                                    \
        static const char names_[] = #__VA_ARGS__;                                                 \
        return test_main_fns(argc, argv, fns_, sizeof fns_ / sizeof fns_[0], names_);              \
    }

int test_main_fns(int argc, char **argv, void (**fns)(void), size_t n, const char *names);

/** The value of KEY in a file of KEY=VALUE lines (what the server fixtures, scripts/ceph-up.sh
 *  and scripts/pg-up.sh, write), copied into out; 0 when the file or the key is missing. */
int test_env_file_get(const char *path, const char *key, char *out, size_t n);

#endif /* CAIRN_TEST_H */
