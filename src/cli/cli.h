/*
 * cli.h - what the files of the `cairn` command share: exit codes, the error and output helpers
 * (util.c) and one entry point per command (cmd_*.c). The CLI uses only the public API,
 * cairn.h.
 *
 * Output discipline: stdout carries data only; every message goes to stderr as "cairn: ...".
 * A command returns its exit code; helpers that fail have already printed why.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "cairn.h"
#include "cairn/doc.h"

/** Exit codes, documented in `cairn --help` and in README.md (CLI reference). */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_NOTFOUND = 1,       /**< the key, table, revision, branch or tag does not exist */
    EXIT_USAGE = 2,          /**< unknown command, bad option, wrong number of arguments */
    EXIT_FAIL = 3            /**< anything else: no repository, bad input, I/O, corruption... */
};

/** Prints "cairn: <message>" to stderr. @return code. */
int cli_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints the library's last error for a failed call that returned rc.
 *  @return EXIT_NOTFOUND for CAIRN_ENOTFOUND, else EXIT_FAIL. */
int cli_lib_err(int rc);

/** The log callback: library warnings and errors to stderr as "cairn: warning: ...". */
void cli_log(cairn_log_level level, const char *message, void *payload);

/** The longest --wait (CAIRN_WAIT) accepted, in seconds: a day. */
#define WAIT_MAX_SECONDS 86400u

/** Opens the repository in a->dir (with -C), else in the current directory or the nearest one
 *  above it that holds a repository (as git finds its own): read-only, or for writing (taking
 *  the writer lock, waiting for another writer's as long as --wait or $CAIRN_WAIT say).
 *  A missing repository is EXIT_FAIL, not EXIT_NOTFOUND: 1 means a missing key or table only,
 *  so that a script can tell "absent" from "wrong place".
 *  @return EXIT_OK, or an exit code after printing the library's message. */
int cli_open(cairn_db **out, const cli_args *a, bool write);

/** Closes the repository (flushing writes). @return code, or EXIT_FAIL after printing why when
 *  code was EXIT_OK and closing failed. */
int cli_close(cairn_db *db, int code);

/** Opens a table (flags as cairn_table_open()).
 *  @return EXIT_OK, or EXIT_NOTFOUND / EXIT_FAIL after printing the library's message. */
int cli_table(cairn_table **out, cairn_db *db, const char *name, unsigned flags);

/** Opens a table for writing. A missing table is created by the first write through the
 *  handle, in the same commit (CAIRN_TABLE_DEFER): a failed or killed write leaves none.
 *  @return EXIT_OK, or EXIT_FAIL after printing the library's message. */
int cli_table_for_write(cairn_table **out, cairn_db *db, const char *name);

/** Opens the snapshot that --at names (*out = NULL without --at: read the current state).
 *  @return EXIT_OK, or an exit code after printing the library's message. */
int cli_snapshot_at(cairn_snapshot **out, cairn_db *db, const cli_args *a);

/** Opens a table to read: as cli_table() without --at; with --at by name only
 *  (CAIRN_TABLE_NAMEONLY), so that a table dropped since can be read at an older revision. */
int cli_table_at(cairn_table **out, cairn_db *db, const char *name, const cli_args *a);

/** Parses a --limit style count: a whole decimal number; NULL gives UINT64_MAX.
 *  @return EXIT_OK, or EXIT_USAGE after printing why (naming the option opt). */
int cli_parse_count(uint64_t *out, const char *s, const char *opt);

/** Parses option opt's value s as a time (cairn_time_parse(): RFC 3339, a date, Unix seconds,
 *  git's relative forms) into *out, nanoseconds since 1970; dflt when s is NULL.
 *  @return EXIT_OK, or EXIT_USAGE after printing why. */
int cli_parse_time(int64_t *out, const char *s, const char *opt, int64_t dflt);

/** The bytes of a key (or value) argument: the argument itself, or with --escaped the bytes it
 *  spells in the escaping scan prints (\t \n \r \\ \xHH), decoded in place (so that the
 *  bytes may hold NUL: use *out_len, not strlen).
 *  @param[in] what  the argument, for messages ("KEY", "--from")
 *  @return EXIT_OK, or EXIT_USAGE after printing why (a bad escape). */
int cli_bytes_arg(size_t *out_len, const cli_args *a, const char *arg, const char *what);

/** Fills a range from --from, --to and --prefix (pointers into argv; decoded as
 *  cli_bytes_arg() does). @return EXIT_OK, or EXIT_USAGE after printing why. */
int cli_range(cairn_range *out, const cli_args *a);

/** Writes n bytes to stdout. @return EXIT_OK, or EXIT_FAIL after printing why. */
int cli_write(const void *p, size_t n);

/** Reads all of the file path, or standard input when path is "-", refusing more than limit
 *  bytes. A NUL is appended (not counted in *out_len), so a text file can be used as a string.
 *  @param[out] out  caller frees with free()
 *  @param[in]  what what the file holds, for messages ("proof", "public key")
 *  @return EXIT_OK, or EXIT_FAIL after printing why. */
int cli_read_file(char **out, size_t *out_len, const char *path, size_t limit, const char *what);

/** Says on stderr that the input src (a file name, "standard input") started with a UTF-8
 *  byte-order mark that was skipped (lr_skip_bom()). */
void cli_bom_note(const char *src);

/** "s" unless n is 1: "%" PRIu64 " chunk%s". */
static inline const char *cli_plural(uint64_t n) { return n == 1 ? "" : "s"; }

/** Bytes of a collection's documents table name, with its NUL. */
#define CLI_COLL_TABLE_SIZE (sizeof CAIRN_DOC_COLL_PREFIX + CAIRN_DOC_COLL_NAME_LEN_MAX)

/** Writes the documents table of collection coll (cairn/doc.h) into buf. @return buf. */
const char *cli_coll_table(char buf[CLI_COLL_TABLE_SIZE], const char *coll);
/** A value of a collection's table (cairn_doc.COLL) as the document it stands for, to print
 *  in its place (docs/FORMAT.md, "Stored documents"); NULL for another table's value or one
 *  that is not a stored document (print its bytes). Free with cairn_free(). */
char *cli_doc_text(size_t *out_len, const char *table, const void *key, size_t klen,
                   const void *val, size_t vlen);

/** Whether id is all zeros (the library's "none"). */
bool cli_id_is_zero(const cairn_id *id);

/** Flushes stdout at exit. @return EXIT_OK, or EXIT_FAIL after printing why. */
int cli_flush_stdout(void);

/** @return seconds on a monotonic clock. */
double cli_now(void);

int cmd_init(const cli_args *a);
int cmd_put(const cli_args *a);
int cmd_get(const cli_args *a);
int cmd_del(const cli_args *a);
int cmd_scan(const cli_args *a);
int cmd_count(const cli_args *a);
int cmd_load(const cli_args *a);
int cmd_tables(const cli_args *a);
int cmd_root(const cli_args *a);
int cmd_drop(const cli_args *a);
int cmd_stats(const cli_args *a);
int cmd_commit(const cli_args *a);
/** Loads signing key name from dir (NULL: the default) with the passphrase of passphrase_file
 *  (NULL: $CAIRN_PASSPHRASE, else none, else asked on the terminal), as `commit --sign` does.
 *  @return EXIT_OK, or an exit code after printing why. */
int cli_signer_load(cairn_signer **out, const char *dir, const char *name,
                    const char *passphrase_file);
int cmd_log(const cli_args *a);
int cmd_show(const cli_args *a);
int cmd_branch(const cli_args *a);
int cmd_tag(const cli_args *a);
int cmd_checkout(const cli_args *a);
int cmd_reflog(const cli_args *a);
int cmd_diff(const cli_args *a);
int cmd_merge(const cli_args *a);
int cmd_conflicts(const cli_args *a);
int cmd_resolve(const cli_args *a);
int cmd_config(const cli_args *a);
int cmd_status(const cli_args *a);
int cmd_key(const cli_args *a);
int cmd_prove(const cli_args *a);

/** Checks that a proof may go where -o says (out NULL or "-": stdout, which must not be a
 *  terminal). @return EXIT_OK or EXIT_USAGE after printing why. */
int cli_proof_check_out(const char *out);
/** Checks proof against the id it is anchored at in snap (as any verifier will), writes it to
 *  out (-o's value: a file, or NULL/"-" for stdout), then prints the anchor line ("commit ID"
 *  or "catalog ID": to stdout when the proof went to a file, else stderr); `what` says what
 *  is absent when the proof shows an absence. */
int cli_proof_emit(const char *out, const cairn_snapshot *snap, const void *proof, size_t len,
                   const char *what);
/** The snapshot at --at, or of the current state. */
int cli_snapshot_or_now(cairn_snapshot **out, cairn_db *db, const cli_args *a);
int cmd_verify_proof(const cli_args *a);

/** `cairn doc ...` parses its own command line (its options are its own): runs it when argv's
 *  command is doc and returns the exit code, else returns -1 (cmd_doc.c). */
int cmd_doc_main(int argc, char **argv);
/** What `cairn help doc` prints after the usage line. */
extern const char CMD_DOC_HELP[];
int cmd_oplog(const cli_args *a);
int cmd_checkpoint(const cli_args *a);
int cmd_gc(const cli_args *a);
int cmd_verify(const cli_args *a);
int cmd_repair(const cli_args *a);
int cmd_audit(const cli_args *a);

/** Opens the repository for a reading command: read-only, unless the repository records reads
 *  (audit.reads): then for writing, waiting for another writer's lock, since recording is a
 *  write. *out_audit says whether to record (cli_audit_read).
 *  @return EXIT_OK, or an exit code after printing why. */
int cli_open_read(cairn_db **out, bool *out_audit, const cli_args *a);

/** Records one read in the access log when audit is true (signed with $CAIRN_AUDIT_KEY when
 *  set). op is "get", "scan" or "count"; detail the key or range asked for.
 *  @return EXIT_OK, or EXIT_FAIL after printing why (the read must then not be shown). */
int cli_audit_read(cairn_db *db, bool audit, const char *op, const char *table,
                   const void *detail, size_t detail_len, uint64_t results);
int cmd_remote(const cli_args *a);
int cmd_push(const cli_args *a);
int cmd_fetch(const cli_args *a);
int cmd_pull(const cli_args *a);
int cmd_clone(const cli_args *a);
int cmd_reset(const cli_args *a);
int cmd_restore(const cli_args *a);

#endif /* CAIRN_CLI_H */
