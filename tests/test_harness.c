/*
 * test_harness.c - the harness's own promise (test.h): a case that fails part-way still has
 * its temporary directories removed, the handles it opened closed and the children it forked
 * killed, before the next case runs. failed_case_cleans_up runs this binary again with
 * CAIRN_HARNESS_OUT set, where fails_part_way makes one of each and fails a CHECK before its own
 * teardown, and next_case_opens then takes the writer lock that the failed case's handle held.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

/* Cases that run only in the second process (they pass trivially in the first). */
static const char *child_out(void) { return getenv("CAIRN_HARNESS_OUT"); }

static int open_writer(cairn_db **out)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    o.lock_timeout_ms = 0; /* another handle holding the lock: fail at once */
    return cairn_open(out, getenv("CAIRN_HARNESS_REPO"), &o);
}

static void fails_part_way(void)
{
    if (!child_out()) return;
    const char *dir = test_tmpdir();
    cairn_db *db;
    CHECK_OK(open_writer(&db));
    pid_t kid = test_fork();
    CHECK(kid >= 0);
    if (kid == 0) {
        pause();
        _exit(0);
    }
    FILE *f = fopen(child_out(), "w");
    CHECK(f != NULL);
    fprintf(f, "%s %d\n", dir, (int)kid);
    fclose(f);
    CHECK_MSG(0, "failing on purpose, before the teardown below");
    kill(kid, SIGKILL);
    CHECK_OK(cairn_close(db));
}

static void next_case_opens(void)
{
    if (!child_out()) return;
    cairn_db *db;
    CHECK_OK(open_writer(&db)); /* the failed case's handle was closed */
    CHECK_OK(cairn_close(db));
}

static void failed_case_cleans_up(void)
{
    if (child_out()) return;
    const char *dir = test_tmpdir();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = '\0';
    int st = test_sh("CAIRN_HARNESS_OUT=%s/out CAIRN_HARNESS_REPO=%s/repo %s >%s/log 2>&1", dir,
                     dir, self, dir);
    bool as_expected = st == 1 && /* one check failed: the one on purpose */
                       test_sh("grep -q '^FAIL fails_part_way' %s/log", dir) == 0 &&
                       test_sh("grep -q '^ok   next_case_opens' %s/log", dir) == 0;
    if (!as_expected) test_sh("cat %s/log >&2", dir);
    CHECK_MSG(as_expected, "the second run exited with %d (its output is above)", st);
    char path[4300], made[4300];
    snprintf(path, sizeof path, "%s/out", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int kid = 0;
    int got = fscanf(f, "%4299s %d", made, &kid);
    fclose(f);
    CHECK_EQ(got, 2);
    CHECK_MSG(access(made, F_OK) != 0 && errno == ENOENT, "%s is still there", made);
    CHECK_MSG(kill(kid, 0) != 0 && errno == ESRCH, "child %d still runs", kid);
}

TEST_MAIN(failed_case_cleans_up, fails_part_way, next_case_opens)
