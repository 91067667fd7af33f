/*
 * remote_util.h - what the tests of repositories on real servers share (test_remote_gc.c,
 * test_remote_faults.c): URLs of fresh places on the fixtures' radosgw and PostgreSQL, the
 * repository checks they end with, and running a function in a child process that is killed.
 */
#ifndef CAIRN_TEST_REMOTE_UTIL_H
#define CAIRN_TEST_REMOTE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cairn.h"

/** Reads the s3 fixture (CAIRN_S3_ENV) and sets the AWS_* keys; false when there is none. */
bool ru_s3_ready(void);
/** Reads the postgres fixture (CAIRN_PG_STATE); false when there is none. */
bool ru_pg_ready(void);
/** The URL of a fresh place (unique per process and call) named after tag: "s3" kind gives
 *  s3://cairn-test/..., "pg" a table prefix in the fixture's database. */
void ru_url(char *out, size_t n, const char *kind, const char *tag);
/** The fixture's file values: "endpoint" (s3), "ceph_dir", "pg_state" (the path of the file). */
const char *ru_fixture(const char *what);

/** The positive number in environment variable name, else dflt (rounds of the kill tests). */
int ru_env_rounds(const char *name, int dflt);

/** Puts keys [from, to) ("key%08d") of `table` with values tagged `tag`, in one batch. */
int ru_fill(cairn_db *db, const char *table, int from, int to, const char *tag);
/** The number of keys of `table` at revision rev. */
int ru_count(cairn_db *db, const char *table, const char *rev, uint64_t *out);
/** Opens url without the disk cache (the store itself, as `cairn verify` does) and runs
 *  cairn_verify: CAIRN_OK only when it finds no problem. */
int ru_verify_clean(const char *url);
/** What rev resolves to in the repository at url (opened read-only). */
int ru_resolve(const char *url, const char *rev, cairn_id *out);
bool ru_id_eq(const cairn_id *a, const cairn_id *b);

/** What a push rejected as non-fast-forward says. */
#define RU_NFF_MSG "non-fast-forward: the remote's main has commits this one lacks; fetch and " \
                   "merge first, or push --force"

/** Creates a repository at url with n keys in table "t", committed. */
int ru_make_repo(const char *url, int n);
/** Opens dir, puts key = val in table "t" and commits (*out: the commit; may be NULL). */
int ru_commit_key(const char *dir, const char *key, const char *val, cairn_id *out);
/** Pushes dir's main to its remote "origin" (cairn_push_flags in flags). */
int ru_push(const char *dir, unsigned flags, cairn_transfer_stats *st);
/** Two processes push different commits of clones a and b to far's main at once, `rounds`
 *  times: each time exactly one wins and the other is told non-fast-forward (checked), far's
 *  main is the winner's commit, and both then merge so that the next round starts even. */
void ru_concurrent_pushes(const char *far, const char *a, const char *b, int rounds);

/** Runs fn(arg) in a child process (exit 0 on CAIRN_OK, else 3 after printing the error) and
 *  kills it with SIGKILL after delay seconds; true when it was killed, else its status is in
 *  *out_status. */
bool ru_run_and_kill(int (*fn)(const char *), const char *arg, double delay, int *out_status);
/** Seconds fn(arg) takes in a child process, as the killed runs do; < 0 when it failed. */
double ru_timed_child(int (*fn)(const char *), const char *arg);

/** One round of a kill test: round 0 measures how long fn(arg) takes undisturbed (*secs);
 *  later rounds run it in a child killed at a seeded random moment within 1.3 * *secs, check
 *  that it was killed or succeeded, and count kills in *killed. */
void ru_kill_round(int (*fn)(const char *), const char *arg, int round, double *secs,
                   uint64_t *rng, int *killed);

#endif /* CAIRN_TEST_REMOTE_UTIL_H */
