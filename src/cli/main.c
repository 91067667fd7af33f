/*
 * main.c - the `cairn` command: parses the command line, finds the command, checks its
 * arguments against the command's table entry, runs it, and turns the outcome into an exit
 * code. Usage and help texts live here, next to the table that they describe.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define RANGE_OPTS (OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO) | OPT_BIT(OPT_PREFIX))
#define AT OPT_BIT(OPT_AT)
#define RANGE_OPTS_TIME (OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO))
#define AT_HELP "  --at REV     read the tables as of revision REV (see 'cairn help log')\n"
#define ESC OPT_BIT(OPT_ESCAPED)
#define ESC_HELP "  --escaped    keys (and values) on the command line are escaped as scan prints them\n" \
                 "               (\\t \\n \\r \\\\ \\xHH), so any bytes can be given\n"

typedef struct cli_cmd {
    const char *name;
    int (*run)(const cli_args *a);
    int min_pos, max_pos;
    cli_optset opts;         /* OPT_BIT()s accepted besides --help and --wait */
    const char *synopsis;
    const char *summary;
    const char *help;        /* more detail for `cairn help CMD` */
} cli_cmd;

static int cmd_help(const cli_args *a);

static const cli_cmd COMMANDS[] = {
    { "init", cmd_init, 0, 1, 0, "init [DIR]", "create an empty repository",
      "Creates a repository in DIR (default: the -C directory, else the current one).\n"
      "DIR must not hold a repository already; it is created if missing.\n" },
    { "put", cmd_put, 3, 3, ESC, "put TABLE KEY VALUE [--escaped]",
      "set KEY to VALUE (creating TABLE if missing)",
      "KEY and VALUE are taken literally, as the bytes of the arguments.\n"
      "A VALUE of '-' reads the value from standard input (binary-safe).\n" ESC_HELP },
    { "get", cmd_get, 2, 2, AT | ESC, "get TABLE KEY [--at REV] [--escaped]", "print the value of KEY",
      "Writes the value's bytes to standard output, with no newline added.\n"
      "Exits with 1 when the key or the table does not exist.\n" AT_HELP ESC_HELP },
    { "del", cmd_del, 2, 2, ESC, "del TABLE KEY|- [--escaped]", "delete KEY, or the keys on standard input",
      "Exits with 1 when the key or the table does not exist.\n"
      "With '-', reads keys from standard input, one a line, escaped as scan prints them\n"
      "(cairn scan t --prefix old | cut -f1 | cairn del t -), and deletes them all in one\n"
      "atomic batch; keys that are not there are counted, not an error. A bad line\n"
      "deletes nothing. (A key that is '-' itself: --escaped '\\x2d'.)\n" ESC_HELP },
    { "scan", cmd_scan, 1, 1,
      RANGE_OPTS | OPT_BIT(OPT_REVERSE) | OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_JSON) | AT | ESC,
      "scan TABLE [--from K] [--to K] [--prefix P] [--reverse] [--limit N] [--json] [--at REV] "
      "[--escaped]",
      "print entries in key order",
      "Prints KEY<TAB>VALUE lines. In keys and values, tab, newline, carriage return and\n"
      "backslash are written \\t \\n \\r \\\\; other control bytes, 0x7f and bytes that are\n"
      "not valid UTF-8 are written \\xHH; valid UTF-8 is printed as it is.\n"
      "  --from K     start at key K (inclusive)\n"
      "  --to K       stop before key K (exclusive)\n"
      "  --prefix P   only keys that start with P\n"
      "  --reverse    walk from the last key to the first\n"
      "  --limit N    print at most N entries\n"
      "  --json       print {\"key\":...,\"value\":...} lines instead; bytes that are not\n"
      "               valid UTF-8 go as base64 in \"key_b64\" / \"value_b64\"\n" AT_HELP
      "  --escaped    K and P are escaped as scan prints keys\n" },
    { "count", cmd_count, 1, 1, RANGE_OPTS | AT | ESC,
      "count TABLE [--from K] [--to K] [--prefix P] [--at REV] [--escaped]",
      "print the number of entries",
      "Options as for scan.\n" },
    { "load", cmd_load, 2, 2, OPT_BIT(OPT_JSON) | OPT_BIT(OPT_VERBOSE),
      "load TABLE FILE|- [--json] [--verbose]", "import entries from a file, atomically",
      "Reads lines in the form scan prints (TSV, or JSON lines with --json) from FILE or\n"
      "standard input (-) and writes them all in one atomic batch, creating TABLE if\n"
      "missing. A later line with the same key wins. A line KEY<TAB>\\- (in JSON lines\n"
      "{\"key\":KEY,\"delete\":true}) deletes KEY. Any bad line (a bad escape, a missing\n"
      "or extra tab, an empty line, malformed JSON, a key or value over the limits) stops\n"
      "the load with its line number, and nothing is written. A UTF-8 byte-order mark at\n"
      "the start of the input is skipped, with a note.\n"
      "  --json       read JSON lines\n"
      "  --verbose    also print how long reading, batching and committing took\n" },
    { "tables", cmd_tables, 0, 0, AT, "tables [--at REV]", "list the tables",
      "One name a line.\n" AT_HELP },
    { "root", cmd_root, 1, 1, AT, "root TABLE [--at REV]", "print the root hash of a table",
      "Equal contents give equal hashes, whatever the order of the writes.\n" AT_HELP },
    { "drop", cmd_drop, 1, 1, 0, "drop TABLE", "delete a table and all its entries",
      "Removes TABLE from the working state, atomically. Committed versions keep it:\n"
      "'cairn scan TABLE --at REV' still reads it there.\n" },
    { "stats", cmd_stats, 0, 0, OPT_BIT(OPT_JSON), "stats [--json]",
      "print repository and table statistics",
      "Chunks, stored bytes and packs of the repository; the working set of the current\n"
      "branch (write-ahead log, memtable, last checkpoint, and the time this run spent\n"
      "replaying the log); for each table its entries and the shape of its tree (depth,\n"
      "nodes, node sizes, a histogram of node sizes); for each document collection the\n"
      "same of its documents table, and its number of indexes.\n" },
    { "oplog", cmd_oplog, 0, 0,
      OPT_BIT(OPT_SINCE) | OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO) | OPT_BIT(OPT_JSON),
      "oplog [--since SEQ] [--from TIME] [--to TIME] [--json]",
      "list the operation log of the current branch",
      "Lists the write-ahead log of the current branch, retired segments included, one\n"
      "operation a line, six tab-separated fields:\n"
      "  SEQ  TIME  put|del|create  TABLE  KEY  VALUE\n"
      "  SEQ  TIME  checkpoint  through=N  before=ROOT  after=ROOT\n"
      "  SEQ  TIME  bulk  ops=N  before=ROOT  after=ROOT\n"
      "The operations of one batch share its SEQ and TIME (UTC, RFC 3339 with\n"
      "milliseconds); fields are escaped as diff escapes them, '-' when absent; ROOT is\n"
      "the catalog root (every table) before and after a checkpoint or a bulk load.\n"
      "  --since SEQ   records from sequence number SEQ on\n"
      "  --from TIME   records logged at TIME or later\n"
      "  --to TIME     records logged at TIME or earlier\n"
      "  --json        one JSON object a line\n"
      "TIME is any time 'cairn help log' describes: 2026-11-21T10:00:00Z, a date, a\n"
      "Unix time in seconds, or relative (yesterday, 3 hours ago, last week).\n" },
    { "checkpoint", cmd_checkpoint, 0, 0, 0, "checkpoint", "move logged writes into the trees now",
      "Applies every write that is only in the write-ahead log (and in memory) to the\n"
      "trees, publishes the new working state, and prints tree_seq (the last log record\n"
      "the trees hold) before and after. Every write command does this as it closes the\n"
      "repository; after a crash, the log is replayed by the next command that opens it.\n" },
    { "status", cmd_status, 0, 0, 0, "status", "show the branch, its head and uncommitted changes",
      "Prints the current branch (or that HEAD is detached), its head commit, what the\n"
      "working state changed since that commit in each table, and a merge in progress\n"
      "(what it merges, the conflicts left, how to finish or abort it).\n" },
    { "commit", cmd_commit, 0, 0,
      OPT_BIT(OPT_MESSAGE) | OPT_BIT(OPT_AUTHOR) | OPT_BIT(OPT_ALLOW_EMPTY) | OPT_BIT(OPT_SIGN) |
          OPT_BIT(OPT_KEY_DIR) | OPT_BIT(OPT_PASSPHRASE_FILE),
      "commit -m MESSAGE [--author \"NAME <EMAIL>\"] [--allow-empty] [--sign NAME ...]",
      "record the working state as a commit",
      "Records every table as it is now as a commit on the current branch (or on the\n"
      "detached HEAD), and prints \"[BRANCH SHORTID] first line of the message\".\n"
      "Committing a working state equal to the last commit is an error (exit 3).\n"
      "  -m, --message MESSAGE   the message (required; may have several lines)\n"
      "  --author \"NAME <EMAIL>\" the author (default: $CAIRN_AUTHOR, else $USER@host)\n"
      "  --allow-empty           commit even when nothing changed\n"
      "  --sign NAME             sign the commit with the key NAME (see 'cairn help key')\n"
      "  --key-dir DIR           where the key is (default $CAIRN_HOME/keys, else\n"
      "                          $HOME/.cairn/keys)\n"
      "  --passphrase-file FILE  the key's passphrase is FILE's first line; without it,\n"
      "                          $CAIRN_PASSPHRASE, else it is asked for on the terminal\n"
      "                          (a key made with --no-passphrase needs none: leave\n"
      "                          CAIRN_PASSPHRASE unset or empty)\n" },
    { "log", cmd_log, 0, 1, OPT_BIT(OPT_ONELINE) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_LIMIT),
      "log [REV] [--oneline] [--json] [--limit N]", "show commits, newest first",
      "Shows REV (default HEAD) and its ancestors, newest first: id, parents of a merge,\n"
      "author, date (UTC), signature and message.\n"
      "  --oneline    one line a commit: SHORTID first-line-of-message\n"
      "  --json       one JSON object a line: id, parents, author, author_time,\n"
      "               committer, commit_time, message, signature {status, signer}\n"
      "  --limit N    show at most N commits\n\n"
      "A revision (REV) is HEAD, a branch or tag name, a commit id or a unique prefix of\n"
      "at least 4 hex digits, followed by any of ~N (N-th first-parent ancestor), ^N\n"
      "(N-th parent), and after a branch or tag @{N} (where it was N moves ago) or\n"
      "@{TIME} (where it was at TIME). TIME, here and in every option that takes one:\n"
      "  2026-11-21, 2026-11-21T15:04:05Z, 2026-11-21 15:04:05.5+01:00 (ISO 8601; without\n"
      "  an offset, UTC), @SECONDS or SECONDS (Unix time), now, yesterday, N UNITS ago and\n"
      "  last UNIT (UNIT: second, minute, hour, day, week, month, year), as git writes them.\n"
      "Where a command says so, WORKING names the uncommitted working state.\n" },
    { "show", cmd_show, 0, 1, 0, "show [REV]", "show a commit and what it changed",
      "Shows the commit REV (default HEAD) as log does, then per table how many keys it\n"
      "added, removed and modified against its first parent.\n" },
    { "diff", cmd_diff, 0, 3, OPT_BIT(OPT_STAT) | OPT_BIT(OPT_JSON),
      "diff [REV1 [REV2 [TABLE]]] [--stat] [--json]", "show what differs between versions",
      "Compares REV1 with REV2; either may be WORKING. With one revision, compares it\n"
      "with WORKING; with none, HEAD with WORKING. Prints one change a line:\n"
      "  TABLE<TAB>OP<TAB>KEY<TAB>OLD<TAB>NEW\n"
      "where OP is + (added), - (removed) or ~ (modified), fields are escaped as scan\n"
      "escapes them, and the absent side of an added or removed key is '-' (a value that\n"
      "is exactly '-' is written \\x2d).\n"
      "  --stat       per table: how many keys were added, removed, modified (and,\n"
      "               with no TABLE, per document collection: how many documents)\n"
      "  --json       JSON lines: table, change, key, old, new (bytes that are not\n"
      "               UTF-8 as base64 in key_b64, old_b64, new_b64)\n" },
    { "branch", cmd_branch, 0, 2, OPT_BIT(OPT_DELETE) | OPT_BIT(OPT_ALL),
      "branch [-a] [NAME [START]] | branch -d NAME", "list, create or delete branches",
      "Without arguments, lists the branches with the short id of each head; '*' marks\n"
      "the current one. With NAME, creates a branch at START (default HEAD). Names use\n"
      "letters, digits and . _ - /. Each branch has its own working state.\n"
      "  -a, --all      list the remote-tracking branches too (remotes/NAME/BRANCH:\n"
      "                 where fetch or push last saw each branch of a remote)\n"
      "  -d, --delete   delete branch NAME (not the current one, nor one whose working\n"
      "                 state has uncommitted changes)\n" },
    { "checkout", cmd_checkout, 1, 1, 0, "checkout BRANCH|REV", "switch branches or detach HEAD",
      "Switches to BRANCH: its working state, with any uncommitted changes it holds,\n"
      "becomes current. Any other revision detaches HEAD at that commit.\n" },
    { "tag", cmd_tag, 0, 2, OPT_BIT(OPT_DELETE), "tag [NAME [REV]] | tag -d NAME",
      "list, create or delete tags",
      "Without arguments, lists the tags with the short id of each. With NAME, tags REV\n"
      "(default HEAD).\n"
      "  -d, --delete   delete tag NAME\n" },
    { "merge", cmd_merge, 0, 1, OPT_BIT(OPT_STRATEGY) | OPT_BIT(OPT_ABORT),
      "merge REV [--strategy fail|ours|theirs|record] | merge --abort",
      "merge a revision into the current branch",
      "Fast-forwards when the branch is an ancestor of REV; otherwise merges three ways\n"
      "(each table, key by key, against the merge base) and commits the merge. The\n"
      "working state must have no uncommitted changes. Keys both sides changed\n"
      "differently are conflicts, printed as TABLE<TAB>KEY<TAB>BASE<TAB>OURS<TAB>THEIRS\n"
      "('-' for an absent side; KEY '-' and sides '(table)' for a table dropped on one\n"
      "side and changed on the other).\n"
      "  --strategy fail     (default) list the conflicts on standard error, change\n"
      "                      nothing, exit 3\n"
      "  --strategy ours     keep the current branch's side of each conflict\n"
      "  --strategy theirs   take REV's side of each conflict\n"
      "  --strategy record   keep ours, record the conflicts and exit 3: settle each\n"
      "                      with 'cairn resolve', then 'cairn commit' the merge\n"
      "  --abort             give up the merge in progress (see 'cairn status'): the\n"
      "                      working state becomes the branch's head commit again, and\n"
      "                      conflict resolutions made since the merge began are dropped\n" },
    { "reset", cmd_reset, 0, 1, OPT_BIT(OPT_HARD), "reset [--hard] [REV]",
      "move the branch to a commit; --hard: discard changes too",
      "Moves the current branch (or the detached HEAD) to REV (default HEAD), as git\n"
      "does; the move is in the reflog, so 'cairn reset BRANCH@{1}' undoes it. Prints\n"
      "\"HEAD is now at SHORTID\".\n"
      "  (no --hard)  the working state keeps its tables: what differs from REV shows as\n"
      "               uncommitted changes (git's --soft and --mixed; cairn has no index)\n"
      "  --hard       the working state becomes REV's tables: every uncommitted change\n"
      "               (and a merge in progress) is dropped\n" },
    { "restore", cmd_restore, 1, 1, AT, "restore TABLE [--at REV]",
      "make one table what it is at a revision",
      "Makes TABLE in the working state what it is at REV (default HEAD), in one atomic\n"
      "write: keys that differ are put back or deleted; a table not at REV is dropped.\n"
      "Other tables and the branch stay as they are. Prints how many keys it changed.\n" },
    { "conflicts", cmd_conflicts, 0, 0, 0, "conflicts", "list the conflicts left to resolve",
      "Lists the conflicts a merge with --strategy record left, as merge prints them.\n" },
    { "resolve", cmd_resolve, 1, 2,
      OPT_BIT(OPT_OURS) | OPT_BIT(OPT_THEIRS) | OPT_BIT(OPT_VALUE) | OPT_BIT(OPT_DELETE) | ESC,
      "resolve TABLE [KEY] --ours|--theirs|--value V|--delete [--escaped]",
      "settle one recorded conflict",
      "Sets KEY of TABLE to the side chosen and forgets the conflict, in one atomic\n"
      "write. Without KEY, settles a conflict about the whole table (keep it or drop it).\n"
      "When none is left, 'cairn commit' makes the merge commit.\n"
      "  --ours       the current branch's side     --theirs   the merged side\n"
      "  --value V    the value V (taken literally)  --delete   no value: delete the key\n"
      ESC_HELP },
    { "reflog", cmd_reflog, 0, 1, 0, "reflog [BRANCH|TAG]", "show where a branch or tag has been",
      "Every move of BRANCH or TAG (default: the current branch), newest first:\n"
      "  SHORTID  TIME  WHO  WHY\n" },
    { "config", cmd_config, 1, 2, OPT_BIT(OPT_UNSET), "config KEY [VALUE] | config KEY --unset",
      "read or change a repository setting",
      "Prints the setting KEY (exit 1 when it is not set), sets it to VALUE, or removes\n"
      "it. Settings:\n"
      "  commit.require_signature   true: refuse unsigned commits (default false)\n"
      "  audit.reads                true: record reads in the access log (see 'cairn help\n"
      "                             audit'; default false)\n"
      "  wal.segment_min            the first write-ahead log segment of a branch (default\n"
      "                             1M), and the largest a segment grows to while a\n"
      "  wal.segment_max            branch writes fast (default 64M): bytes, or with K, M\n"
      "                             or G, from 64K to 1G; from the next writable open\n"
      "  gc.grace                   gc's grace period on a remote store (90s, 30m, 1h, 2d;\n"
      "                             at least a minute; default 1h)\n"
      "  cache.dir, cache.size      where the disk cache of a remote repository is, and\n"
      "                             its bound (bytes, or with K, M, G or T; 0: off;\n"
      "                             default 1G); $CAIRN_CACHE_DIR, $CAIRN_CACHE_SIZE win\n" },
    { "key", cmd_key, 1, 2,
      OPT_BIT(OPT_DIR) | OPT_BIT(OPT_NO_PASSPHRASE) | OPT_BIT(OPT_PASSPHRASE_FILE) |
          OPT_BIT(OPT_JSON),
      "key generate|list|trust|trusted ...", "manage signing keys and the keys a repository trusts",
      "  key generate NAME [--dir DIR] [--no-passphrase | --passphrase-file FILE]\n"
      "      make the key pair NAME.key and NAME.pub; prints the public key line (what\n"
      "      'key trust' takes) and, on standard error, the key's fingerprint\n"
      "  key list [--dir DIR] [--json]   the keys in the key directory: FINGERPRINT  NAME;\n"
      "                                  each damaged key file is a warning of its own\n"
      "                                  (exit 3 only when no key could be read)\n"
      "  key trust FILE|-                trust the public key line in FILE (a .pub file)\n"
      "                                  for this repository's signed commits\n"
      "  key trusted [--json]            the keys this repository trusts: FINGERPRINT  NAME\n\n"
      "The key directory is --dir DIR, else $CAIRN_HOME/keys, else $HOME/.cairn/keys.\n"
      "A new key's passphrase is the first line of --passphrase-file FILE, else\n"
      "$CAIRN_PASSPHRASE, else typed twice on the terminal (when standard input is one).\n"
      "--no-passphrase stores the secret key unprotected: for throwaway and test keys.\n"
      "Sign with 'cairn commit --sign NAME'; 'cairn log' shows each commit's signature:\n"
      "good (a trusted key), unknown key (valid, but not trusted), bad, or none.\n" },
    { "prove", cmd_prove, 2, 2, AT | OPT_BIT(OPT_OUTPUT) | ESC,
      "prove TABLE KEY [--at REV] [-o FILE] [--escaped]",
      "write a proof of a key's value (or absence)",
      "Writes a proof that KEY has its value in TABLE, or that it is absent, to FILE, or\n"
      "to standard output when that is not a terminal. Anyone who holds the id the proof\n"
      "is anchored at can check it with 'cairn verify-proof', without the repository.\n"
      "Prints that id: 'commit ID' with --at REV (the proof carries the commit), else\n"
      "'catalog ID' (the catalog root of the working state); on standard output with\n"
      "-o, else on standard error.\n"
      "  -o, --output FILE   write the proof to FILE\n" AT_HELP ESC_HELP },
    { "verify-proof", cmd_verify_proof, 1, 1, OPT_BIT(OPT_ROOT) | OPT_BIT(OPT_JSON),
      "verify-proof FILE|- --root ID [--json]", "check a proof against an id you trust",
      "Checks the proof in FILE (-: standard input) against ID (64 hex digits), the id you\n"
      "trust: the commit id or catalog root the proof is anchored at, or any id below it in\n"
      "the proof's chain (the catalog root of its commit, the table's root 'cairn root'\n"
      "prints); 'anchor' names the one it matched. Prints what it proves:\n"
      "  anchor  commit|catalog|table ID\n"
      "  table   TABLE            (not with a table root: that proves no name)\n"
      "  key     KEY\n"
      "  result  found|absent\n"
      "  value   VALUE            (when found)\n"
      "with table, key and value escaped as scan escapes them. Needs no repository.\n"
      "A proof that does not verify is exit 3, with what failed. A proof of another key\n"
      "or table under the same id verifies too: check that they are the ones you want.\n"
      "  --root ID     the id you trust (required)\n"
      "  --json        one JSON object: anchor, root, commit, catalog_root, table,\n"
      "                table_root, key, found, value (bytes that are not UTF-8 as base64\n"
      "                in key_b64 / value_b64)\n" },
    { "gc", cmd_gc, 0, 0,
      OPT_BIT(OPT_DRY_RUN) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_GRACE) | OPT_BIT(OPT_FORCE),
      "gc [--dry-run] [--json] [--grace DURATION [--force]]",
      "delete the chunks nothing reaches and give their space back",
      "Keeps every chunk reachable from a branch or tag and its whole reflog, from every\n"
      "branch's working state, a detached HEAD and the settings; deletes the rest, then\n"
      "rewrites the pack files left less than half live. Prints the chunks it found\n"
      "reachable and garbage, what it deleted, and the store before and after. A crash\n"
      "or kill at any point loses nothing reachable: run gc again to finish. Readers in\n"
      "other processes keep the versions they have open (their pins, under readers/).\n"
      "On a remote store (s3, postgres) gc works in two phases: a run records what\n"
      "nothing reaches as candidates; a run at least the grace period later deletes\n"
      "the candidates still unreachable (and rewrites sparse packs on s3), then records\n"
      "the rest. It prints the candidates, the grace, and the requests and bytes it sent.\n"
      "  --dry-run    count what would be deleted, change nothing\n"
      "  --json       one JSON object\n"
      "  --grace D    the grace period (seconds, or 90s, 30m, 1h, 2d; default: the\n"
      "               setting gc.grace, else 1h); below a minute only with --force\n"
      "  --force      accept a grace below a minute (tests; nobody else writing)\n" },
    { "verify", cmd_verify, 0, 0, OPT_BIT(OPT_REACHABLE_ONLY) | OPT_BIT(OPT_JSON),
      "verify [--reachable-only] [--json]", "check every chunk, tree, commit and signature",
      "Reads every chunk the repository holds from the store and re-hashes it; checks\n"
      "every tree node and whole tree, every commit, parent link, reflog entry and\n"
      "signature, and every branch's write-ahead log. Prints each problem found (the\n"
      "first 20) as 'problem: MESSAGE', naming the chunk and, in a local repository, its\n"
      "pack file and offset; then what it checked. Exits with 3 when any problem was\n"
      "found. Takes no writer lock: it can run while another process writes.\n"
      "  --reachable-only   do not read the chunks nothing reaches\n"
      "  --json             one JSON object, with the problems in \"problems\"\n" },
    { "repair", cmd_repair, 0, 0, OPT_BIT(OPT_DRY_RUN) | OPT_BIT(OPT_JSON),
      "repair [--dry-run] [--json]", "list damaged files and repair what loses nothing",
      "Lists what the store knows to be damaged or set aside: damaged ranges of pack\n"
      "files (kept as they are; the valid records after them are read), files in\n"
      "quarantine/ (bytes cut from a torn pack tail: their valid chunk records, and\n"
      "how many are not in the store), ref files with one damaged slot (read from the\n"
      "other: the value is shown) and ref files that cannot be read at all. Then puts\n"
      "back every quarantined chunk not in the store and rewrites each damaged ref slot\n"
      "from the valid one. Deletes and truncates nothing. Prints 'problem:', 'fixed:'\n"
      "or 'note:' lines, then counts; exits with 3 when problems remain. Run it with\n"
      "--dry-run first to check the values a damaged ref will keep.\n"
      "  --dry-run    list only, change nothing (works on a read-only repository)\n"
      "  --json       one JSON object, with the items in \"items\"\n" },
    { "audit", cmd_audit, 1, 1,
      RANGE_OPTS_TIME | OPT_BIT(OPT_WHO) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_EXPECT),
      "audit log [--from T] [--to T] [--who W] [--json] | audit verify [--expect POS:HASH] | "
      "audit report --from T --to T [--json]",
      "the access log: who read what, and the per-period report",
      "With the setting audit.reads true ('cairn config audit.reads true'), get, scan,\n"
      "count and doc get|find|count|export record each read in the repository's access\n"
      "log (who, when, table or collection, keys or query, results), hash-chained and, with $CAIRN_AUDIT_KEY naming a key of the key\n"
      "directory ($CAIRN_PASSPHRASE unlocks it), signed. Recording is a write: those\n"
      "commands then open the repository for writing (waiting up to 10 s for another\n"
      "writer), and a read that cannot be recorded prints nothing and exits with 3.\n"
      "  log       the entries, oldest first: POS TIME WHO OP TARGET RESULTS DETAIL [KEY]\n"
      "  verify    checks the chain and signatures; prints the head (POS:HASH) to keep;\n"
      "            names the first broken entry and exits with 3 on damage\n"
      "  report    accesses per user and table, and changes per author and table from\n"
      "            the commit log, in [--from, --to)\n"
      "  --from T, --to T  times as 'cairn help log' describes them: 2026-11-21T10:00:00Z,\n"
      "            a date, Unix seconds, or relative (yesterday, 3 hours ago)\n"
      "  --who W   entries by W (the recorded who, or a signing key's fingerprint)\n"
      "  --expect POS:HASH  the log must still hold the head an earlier verify printed\n"
      "  --json    one JSON object a line\n" },
    { "doc", NULL, 0, 0, 0, "doc SUBCOMMAND [ARGS] (see 'cairn doc --help')",
      "JSON document collections: CRUD, queries, indexes", CMD_DOC_HELP },
    { "remote", cmd_remote, 0, 3, 0, "remote [list] | remote add NAME URL | remote remove NAME",
      "name other repositories to push to and fetch from",
      "Lists the remotes (NAME<TAB>URL), adds one, or removes one with its\n"
      "remote-tracking branches. A URL is anything a repository can live at: a\n"
      "directory, file://PATH, mem:, or a network store this build knows.\n" },
    { "push", cmd_push, 1, 2, OPT_BIT(OPT_FORCE), "push NAME [BRANCH] [--force]",
      "send a branch to a remote",
      "Copies BRANCH (default: the current one) and everything its head reaches that\n"
      "remote NAME lacks, then moves NAME's BRANCH by compare-and-swap. Refused when\n"
      "NAME's BRANCH has commits this one lacks (non-fast-forward), or when NAME keeps\n"
      "uncommitted changes on BRANCH. Prints what moved: chunks, bytes, store calls.\n"
      "  -f, --force   replace NAME's BRANCH even when it is not an ancestor\n" },
    { "fetch", cmd_fetch, 1, 1, 0, "fetch NAME", "get a remote's branches",
      "Copies what every branch of remote NAME reaches that this repository lacks and\n"
      "sets remotes/NAME/BRANCH to each (read as the revision NAME/BRANCH: log\n"
      "origin/main, diff main origin/main, merge origin/main).\n" },
    { "pull", cmd_pull, 1, 2, OPT_BIT(OPT_STRATEGY), "pull NAME [BRANCH] [--strategy S]",
      "fetch a remote and merge its branch",
      "fetch NAME, then merge NAME/BRANCH (default: the current branch's name) into\n"
      "the current branch, as 'cairn merge' does (see 'cairn help merge').\n" },
    { "clone", cmd_clone, 2, 2, 0, "clone URL DIR|URL", "copy a repository",
      "Makes DIR (or any URL) a copy of the repository at URL: every branch, tag,\n"
      "working state and setting, with the remote origin = URL and its tracking\n"
      "branches. Every chunk is verified on the way, and each ref read back at the end.\n"
      "Between two kinds of store this is also the way to move a repository.\n" },
    { "help", cmd_help, 0, 1, 0, "help [COMMAND]", "show help for cairn or a command", "" },
};

#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static const char EXIT_CODES[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  not found: the key, table, revision, branch or tag does not exist\n"
    "  2  usage error: unknown command or option, wrong number of arguments\n"
    "  3  any other failure: no repository there, bad input, limits, I/O, corruption,\n"
    "     another process writing to the repository, merge conflicts\n";

static const cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

static void main_help(FILE *f)
{
    fputs("usage: cairn [-C DIR] COMMAND [ARGS]\n"
          "       cairn --help | --version | help COMMAND\n\n"
          "Ordered key-value tables in a versioned, content-addressed repository.\n\n"
          "Commands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-13s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("\nOptions (anywhere on the line):\n"
          "  -C DIR       use the repository in DIR (default: the current directory, else the\n"
          "               nearest directory above it that holds one)\n"
          "  --wait SECS  when another process holds the writer lock, wait up to SECS seconds\n"
          "               for it (default: $CAIRN_WAIT, else 0: fail at once)\n"
          "  -h, --help   show help (with a command: that command's help)\n"
          "  --version    print the version\n"
          "  --           end of options: what follows is arguments, even if it starts with -\n\n",
          f);
    fputs(EXIT_CODES, f);
    fputs("\nRun 'cairn help COMMAND' for a command's arguments and options.\n", f);
}

static void cmd_usage(FILE *f, const cli_cmd *c)
{
    fprintf(f, "usage: cairn [-C DIR] %s\n", c->synopsis);
}

static int cmd_help(const cli_args *a)
{
    if (a->npos == 0) {
        main_help(stdout);
        return EXIT_OK;
    }
    const cli_cmd *c = find_cmd(a->pos[0]);
    if (!c) return cli_err(EXIT_USAGE, "'%s' is not a cairn command; see 'cairn --help'", a->pos[0]);
    printf("cairn %s: %s\n\n", c->name, c->summary);
    cmd_usage(stdout, c);
    printf("\n%s", c->help);
    return EXIT_OK;
}

static int usage_err(const cli_cmd *c, const char *msg)
{
    cli_err(EXIT_USAGE, "%s", msg);
    if (c) cmd_usage(stderr, c);
    else fputs("usage: cairn [-C DIR] COMMAND [ARGS]; see 'cairn --help'\n", stderr);
    return EXIT_USAGE;
}

/* Checks the options and the number of arguments against the command's entry. */
static int check_args(const cli_cmd *c, const cli_args *a)
{
    char msg[128];
    for (int o = 0; o < OPT__COUNT; o++) {
        if (!a->opt[o] || o == OPT_HELP || o == OPT_WAIT || (c->opts & OPT_BIT(o))) continue;
        snprintf(msg, sizeof msg, "%s takes no option %s", c->name, cli_opt_name((enum cli_opt)o));
        return usage_err(c, msg);
    }
    if (a->npos < c->min_pos || a->npos > c->max_pos) {
        if (c->min_pos == c->max_pos)
            snprintf(msg, sizeof msg, "%s takes %d argument%s, not %d", c->name, c->min_pos,
                     c->min_pos == 1 ? "" : "s", a->npos);
        else
            snprintf(msg, sizeof msg, "%s takes %d to %d arguments, not %d", c->name, c->min_pos,
                     c->max_pos, a->npos);
        return usage_err(c, msg);
    }
    return EXIT_OK;
}

static int dispatch(const cli_args *a)
{
    if (!a->cmd) {
        if (a->opt[OPT_VERSION]) {
            printf("cairn version %s\n", cairn_version());
            return EXIT_OK;
        }
        if (a->opt[OPT_HELP]) {
            main_help(stdout);
            return EXIT_OK;
        }
        return usage_err(NULL, "no command given");
    }
    const cli_cmd *c = find_cmd(a->cmd);
    if (!c) {
        char msg[128];
        snprintf(msg, sizeof msg, "'%.60s' is not a cairn command", a->cmd);
        return usage_err(NULL, msg);
    }
    if (a->opt[OPT_HELP]) {
        cli_args h = { .cmd = "help", .npos = 1, .pos = { c->name } };
        return cmd_help(&h);
    }
    if (!c->run) /* doc, reached only when options came before its name */
        return usage_err(c, "give doc's options after 'doc' (only -C DIR and --wait SECS may "
                            "come before it)");
    int code = check_args(c, a);
    return code == EXIT_OK ? c->run(a) : code;
}

int main(int argc, char **argv)
{
    cairn_set_log(cli_log, NULL);
    int doc = cmd_doc_main(argc, argv); /* doc parses its own options */
    if (doc >= 0) {
        if (doc != EXIT_OK) {
            fflush(stdout);
            return doc;
        }
        return cli_flush_stdout();
    }
    cli_args a;
    char msg[256];
    int code = cli_parse(&a, argc, argv, msg, sizeof msg) == 0
                   ? dispatch(&a)
                   : usage_err(a.cmd ? find_cmd(a.cmd) : NULL, msg);
    if (code != EXIT_OK) {
        fflush(stdout); /* the failure is reported already */
        return code;
    }
    return cli_flush_stdout();
}
