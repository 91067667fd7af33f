/*
 * args.h - the command line, parsed: -C DIR, the command name, its positional arguments and
 * its options, in any order (options may come before or after the command name, as
 * `cairn -C repo get t k` and `cairn get t k -C repo` both do the same).
 *
 * Options are long (--from K or --from=K); -C DIR and -h are short only, and -m MSG and -d are
 * short spellings of --message, --delete and --output. "--" ends the options, so that a key starting with
 * '-' can be given (`cairn get t -- -k`); a lone "-" is a positional (stdin).
 * The parser knows every option of every command; which command accepts which is checked by
 * the caller (main.c), which also prints the usage.
 */
#ifndef CAIRN_CLI_ARGS_H
#define CAIRN_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Every option, as an index into cli_args.opt. */
enum cli_opt {
    OPT_FROM,
    OPT_TO,
    OPT_PREFIX,
    OPT_LIMIT,
    OPT_REVERSE,
    OPT_JSON,
    OPT_VERBOSE,
    OPT_AT,                  /* reading commands: the revision to read */
    OPT_MESSAGE,             /* commit */
    OPT_AUTHOR,
    OPT_ALLOW_EMPTY,
    OPT_ONELINE,             /* log */
    OPT_STAT,                /* diff */
    OPT_STRATEGY,            /* merge */
    OPT_OURS,                /* resolve */
    OPT_THEIRS,
    OPT_VALUE,
    OPT_DELETE,              /* resolve, branch, tag */
    OPT_UNSET,               /* config */
    OPT_DIR,                 /* key: the key directory */
    OPT_NO_PASSPHRASE,       /* key generate */
    OPT_PASSPHRASE_FILE,     /* key generate, commit --sign */
    OPT_SIGN,                /* commit */
    OPT_KEY_DIR,
    OPT_OUTPUT,              /* prove */
    OPT_ROOT,                /* verify-proof */
    OPT_SINCE,               /* oplog */
    OPT_DRY_RUN,             /* gc */
    OPT_GRACE,               /* gc: the grace period on a remote store */
    OPT_REACHABLE_ONLY,      /* verify */
    OPT_ABORT,               /* merge */
    OPT_WHO,                 /* audit log */
    OPT_EXPECT,              /* audit verify */
    OPT_FORCE,               /* push */
    OPT_ALL,                 /* branch: remote-tracking branches too */
    OPT_WAIT,                /* every command that opens a repository: the writer-lock timeout */
    OPT_ESCAPED,             /* commands that take keys: keys are written as scan prints them */
    OPT_HARD,                /* reset */
    OPT_HELP,
    OPT_VERSION,
    OPT__COUNT
};

#define OPT_BIT(o) ((cli_optset)1 << (o))
typedef uint64_t cli_optset; /* a set of OPT_BIT()s */
_Static_assert(OPT__COUNT <= 64, "OPT_BIT()s must fit in a cli_optset");
#define CLI_MAX_POS 8

typedef struct cli_args {
    const char *dir;                 /**< -C DIR; "." when not given */
    bool dir_given;                  /**< whether -C was given */
    const char *cmd;                 /**< the command name; NULL when none was given */
    const char *pos[CLI_MAX_POS];    /**< positional arguments after the command name */
    int npos;
    const char *opt[OPT__COUNT];     /**< an option's value, "" for a flag given, NULL if absent */
} cli_args;

/** @return the option's name as spelled on the command line ("--from"). */
const char *cli_opt_name(enum cli_opt o);

/** Parses argv[1..argc).
 *  @param[out] err  on failure, a message for the usage error
 *  @return 0, or -1 on an unknown option, a missing option value, or too many arguments. */
int cli_parse(cli_args *out, int argc, char **argv, char *err, size_t errlen);

#endif /* CAIRN_CLI_ARGS_H */
