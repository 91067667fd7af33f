/*
 * test.c - the harness behind test.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

int test_failures;
uint64_t test_seed;
static int case_failed;
static char *tmp_dirs[256];
static int n_tmp_dirs;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (replay with CAIRN_TEST_SEED=%llu)\n", (unsigned long long)test_seed);
    test_failures++;
    case_failed = 1;
}

const char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cairn-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(2);
    }
    char *copy = strdup(d);
    if (n_tmp_dirs < (int)(sizeof tmp_dirs / sizeof tmp_dirs[0])) tmp_dirs[n_tmp_dirs++] = copy;
    return copy;
}

uint64_t test_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t test_rng(uint64_t salt) { return test_seed * 0x100000001b3ull + salt; }

int test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void cleanup(void)
{
    for (int i = 0; i < n_tmp_dirs; i++) {
        if (test_failures == 0 && !getenv("CAIRN_TEST_KEEP")) {
            char cmd[4300];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dirs[i]);
            if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dirs[i]);
        } else {
            fprintf(stderr, "  kept %s\n", tmp_dirs[i]);
        }
        free(tmp_dirs[i]);
    }
}

int test_main_fns(int argc, char **argv, void (**fns)(void), size_t n, const char *names)
{
    const char *env = getenv("CAIRN_TEST_SEED");
    test_seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    atexit(cleanup);
    const char *p = names;
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\n' && *e != '\t') e++;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
        p = e;
        if (argc > 1 && strcmp(argv[1], name) != 0) continue;
        case_failed = 0;
        cairn_error_clear();
        double t0 = (double)clock() / CLOCKS_PER_SEC;
        fns[i]();
        double t1 = (double)clock() / CLOCKS_PER_SEC;
        printf("%s %s (%.2fs)\n", case_failed ? "FAIL" : "ok  ", name, t1 - t0);
        fflush(stdout);
        ran++;
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    if (test_failures) fprintf(stderr, "%d check(s) failed (seed %llu)\n", test_failures,
                               (unsigned long long)test_seed);
    return test_failures ? 1 : 0;
}
