/*
 * keys_bench.c - what signing keys cost: generating and loading a key with the default Argon2id
 * limits (INTERACTIVE), and signing and verifying a typical commit. Not a test; run by hand:
 *   keys_bench [ROUNDS]        (default 5 generate/load rounds, in a temp directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "repo/keys.h"

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, cairn_error_last()->message);
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > 100) rounds = 5;
    char dir[] = "/tmp/cairn-keys-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    double gen[100], load[100];
    cairn_signer *s = NULL;
    for (int i = 0; i < rounds; i++) {
        char name[32];
        snprintf(name, sizeof name, "k%d", i);
        double t0 = clock_now();
        if (cairn_key_generate(NULL, dir, name, "a passphrase", 0) != CAIRN_OK)
            return fail("generate");
        double t1 = clock_now();
        cairn_signer_close(s);
        if (cairn_signer_open(&s, dir, name, "a passphrase") != CAIRN_OK) return fail("load");
        gen[i] = t1 - t0;
        load[i] = clock_now() - t1;
    }
    qsort(gen, (size_t)rounds, sizeof gen[0], cmp_double);
    qsort(load, (size_t)rounds, sizeof load[0], cmp_double);
    printf("generate (Argon2id ops 2, 64 MiB; 2 files, fsyncs): median %.1f ms, min %.1f ms\n",
           gen[rounds / 2] * 1e3, gen[0] * 1e3);
    printf("load     (Argon2id ops 2, 64 MiB):                median %.1f ms, min %.1f ms\n",
           load[rounds / 2] * 1e3, load[0] * 1e3);

    commit c;
    memset(&c, 0, sizeof c);
    memset(c.catalog.bytes, 7, CAIRN_ID_SIZE);
    c.nparents = 1;
    memset(c.parents[0].bytes, 9, CAIRN_ID_SIZE);
    c.author = c.committer = (char *)"Ada Lovelace <ada@example.org>";
    c.author_time = c.commit_time = 1700000000000000000LL;
    c.message = (char *)"orders: load the November batch and fix two customer records";
    cairn_buf payload = CAIRN_BUF_INIT;
    if (commit_signing_payload(&payload, &c) != CAIRN_OK) return fail("payload");
    const int n = 20000;
    double t0 = clock_now();
    for (int i = 0; i < n; i++)
        if (key_sign_commit(&s->k, &c) != CAIRN_OK) return fail("sign");
    double t1 = clock_now();
    for (int i = 0; i < n; i++)
        if (key_verify_commit(&c) != SIG_GOOD) return fail("verify");
    double t2 = clock_now();
    printf("sign     (%zu-byte payload, encoding included): %.0f/s (%.1f us)\n", payload.len,
           n / (t1 - t0), (t1 - t0) / n * 1e6);
    printf("verify   (%zu-byte payload, encoding included): %.0f/s (%.1f us)\n", payload.len,
           n / (t2 - t1), (t2 - t1) / n * 1e6);
    cairn_buf_dispose(&payload);
    cairn_signer_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
