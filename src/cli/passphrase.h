/*
 * passphrase.h - where the passphrase of a signing key comes from, for `cairn key generate`
 * and `cairn commit --sign`: the first line of --passphrase-file FILE, else the environment
 * variable CAIRN_PASSPHRASE, else (when standard input is a terminal) the terminal, read
 * without echo. A passphrase lives in a fixed buffer that is wiped when done with, never in a
 * copy the CLI does not control.
 */
#ifndef CAIRN_CLI_PASSPHRASE_H
#define CAIRN_CLI_PASSPHRASE_H

#include <stdbool.h>

/** Bytes of the longest passphrase accepted. */
#define PASS_MAX 1024
/** The environment variable that may hold the passphrase. */
#define PASS_ENV "CAIRN_PASSPHRASE"

typedef struct pass {
    char text[PASS_MAX + 1]; /**< NUL-terminated */
    bool given;              /**< it came from --passphrase-file or $CAIRN_PASSPHRASE */
} pass;

/** Takes the passphrase from file (when not NULL: its first line), else from $CAIRN_PASSPHRASE
 *  (which may be empty: then given is true and text ""). Neither: given is false, text "".
 *  @return EXIT_OK, or EXIT_FAIL after printing why (the file cannot be read, its first line
 *          is empty, too long, or holds a NUL or a carriage return). */
int pass_from_args(pass *out, const char *file);

/** @return whether the passphrase can be asked for: standard input is a terminal. */
bool pass_can_prompt(void);

/** Asks on the terminal (prompt on stderr, no echo); with confirm, asks twice and requires the
 *  same answer. An empty answer is refused.
 *  @return EXIT_OK, or EXIT_FAIL after printing why (no match, empty, too long, interrupted). */
int pass_prompt(pass *out, const char *prompt, bool confirm);

/** Wipes the passphrase. */
void pass_wipe(pass *p);

#endif /* CAIRN_CLI_PASSPHRASE_H */
