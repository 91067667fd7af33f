/*
 * passphrase.c - a signing key's passphrase from a file, the environment or the terminal (see
 * passphrase.h).
 *
 * The terminal is read with echo off. A signal that would normally kill the process (^C, ^\,
 * ^Z, a hangup) while echo is off would leave the terminal silent, so while reading, those
 * signals only interrupt the read: echo is restored and the command fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "passphrase.h"

void pass_wipe(pass *p)
{
    explicit_bzero(p->text, sizeof p->text);
    p->given = false;
}

/* Checks a passphrase of n bytes read from src; NUL-terminates it. */
static int pass_check(pass *out, size_t n, const char *src)
{
    out->text[n] = '\0';
    if (n == 0) return cli_err(EXIT_FAIL, "%s: the passphrase is empty", src);
    if (memchr(out->text, '\0', n))
        return cli_err(EXIT_FAIL, "%s: the passphrase holds a NUL byte", src);
    if (memchr(out->text, '\r', n))
        return cli_err(EXIT_FAIL, "%s: the passphrase holds a carriage return (a file with "
                                  "CRLF line ends?)", src);
    return EXIT_OK;
}

/* The first line of path. */
static int pass_file(pass *out, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_err(EXIT_FAIL, "cannot open passphrase file %s: %s", path, strerror(errno));
    size_t n = 0;
    ssize_t got = 1;
    while (n <= PASS_MAX && got > 0 && !memchr(out->text, '\n', n)) {
        got = read(fd, out->text + n, PASS_MAX + 1 - n);
        if (got > 0) n += (size_t)got;
    }
    int err = errno;
    close(fd);
    if (got < 0) return cli_err(EXIT_FAIL, "reading passphrase file %s: %s", path, strerror(err));
    char *nl = memchr(out->text, '\n', n);
    if (!nl && n > PASS_MAX)
        return cli_err(EXIT_FAIL, "%s: the passphrase is over %d bytes", path, PASS_MAX);
    return pass_check(out, nl ? (size_t)(nl - out->text) : n, path);
}

int pass_from_args(pass *out, const char *file)
{
    pass_wipe(out);
    if (file) {
        int code = pass_file(out, file);
        out->given = code == EXIT_OK;
        return code;
    }
    const char *env = getenv(PASS_ENV);
    if (!env) return EXIT_OK;
    size_t n = strlen(env);
    if (n > PASS_MAX)
        return cli_err(EXIT_FAIL, "%s is over %d bytes", PASS_ENV, PASS_MAX);
    memcpy(out->text, env, n + 1);
    out->given = true;
    return EXIT_OK;
}

bool pass_can_prompt(void) { return isatty(STDIN_FILENO) == 1; }

/* Does nothing: installed without SA_RESTART, it makes the signal interrupt the read. */
static void on_signal(int sig) { (void)sig; }

static const int STOP_SIGNALS[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP };
#define NSTOP (sizeof STOP_SIGNALS / sizeof STOP_SIGNALS[0])

/* Prompts, then reads one line from the terminal into out->text; the terminal echoes nothing
 * meanwhile. Echo goes off before the prompt shows, so that nothing typed after it is echoed
 * (or, as the switch discards what was typed ahead, lost). */
static int read_quiet(pass *out, size_t *n, const char *prompt, const struct termios *saved)
{
    struct termios quiet = *saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return cli_err(EXIT_FAIL, "turning off the terminal's echo: %s", strerror(errno));
    fputs(prompt, stderr);
    char c = 0;
    ssize_t got = 0;
    *n = 0;
    while ((got = read(STDIN_FILENO, &c, 1)) == 1 && c != '\n')
        if (*n <= PASS_MAX) out->text[(*n)++] = c;
    int err = errno;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, saved);
    fputc('\n', stderr);
    explicit_bzero(&c, sizeof c);
    if (got < 0 && err == EINTR) return cli_err(EXIT_FAIL, "interrupted reading the passphrase");
    if (got < 0) return cli_err(EXIT_FAIL, "reading the passphrase: %s", strerror(err));
    if (got == 0 && *n == 0) return cli_err(EXIT_FAIL, "no passphrase (end of input)");
    if (*n > PASS_MAX) return cli_err(EXIT_FAIL, "the passphrase is over %d bytes", PASS_MAX);
    return EXIT_OK;
}

/* Asks once, with the stop signals only interrupting the read. */
static int ask(pass *out, const char *prompt)
{
    struct termios saved;
    if (tcgetattr(STDIN_FILENO, &saved) != 0)
        return cli_err(EXIT_FAIL, "reading the terminal's settings: %s", strerror(errno));
    struct sigaction sa, old[NSTOP];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSTOP; i++) sigaction(STOP_SIGNALS[i], &sa, &old[i]);
    size_t n = 0;
    int code = read_quiet(out, &n, prompt, &saved);
    for (size_t i = 0; i < NSTOP; i++) sigaction(STOP_SIGNALS[i], &old[i], NULL);
    return code == EXIT_OK ? pass_check(out, n, "terminal") : code;
}

int pass_prompt(pass *out, const char *prompt, bool confirm)
{
    pass_wipe(out);
    int code = ask(out, prompt);
    if (code == EXIT_OK && confirm) {
        pass again;
        code = ask(&again, "the same passphrase again: ");
        if (code == EXIT_OK && strcmp(out->text, again.text) != 0)
            code = cli_err(EXIT_FAIL, "the two passphrases differ; nothing was done");
        pass_wipe(&again);
    }
    if (code != EXIT_OK) pass_wipe(out);
    return code;
}
