/*
 * args.c - command line parsing (see args.h).
 */
#include <stdio.h>
#include <string.h>

#include "args.h"

typedef struct optspec {
    const char *name;        /* as spelled on the command line */
    bool takes_value;
    char short_name;         /* its one-letter spelling, or 0 */
} optspec;

static const optspec OPTS[OPT__COUNT] = {
    [OPT_FROM] = { "--from", true, 0 },          [OPT_TO] = { "--to", true, 0 },
    [OPT_PREFIX] = { "--prefix", true, 0 },      [OPT_LIMIT] = { "--limit", true, 0 },
    [OPT_REVERSE] = { "--reverse", false, 0 },   [OPT_JSON] = { "--json", false, 0 },
    [OPT_VERBOSE] = { "--verbose", false, 0 },   [OPT_AT] = { "--at", true, 0 },
    [OPT_MESSAGE] = { "--message", true, 'm' },  [OPT_AUTHOR] = { "--author", true, 0 },
    [OPT_ALLOW_EMPTY] = { "--allow-empty", false, 0 },
    [OPT_ONELINE] = { "--oneline", false, 0 },   [OPT_STAT] = { "--stat", false, 0 },
    [OPT_STRATEGY] = { "--strategy", true, 0 },  [OPT_OURS] = { "--ours", false, 0 },
    [OPT_THEIRS] = { "--theirs", false, 0 },     [OPT_VALUE] = { "--value", true, 0 },
    [OPT_DELETE] = { "--delete", false, 'd' },   [OPT_UNSET] = { "--unset", false, 0 },
    [OPT_DIR] = { "--dir", true, 0 },            [OPT_NO_PASSPHRASE] = { "--no-passphrase", false, 0 },
    [OPT_PASSPHRASE_FILE] = { "--passphrase-file", true, 0 },
    [OPT_SIGN] = { "--sign", true, 0 },          [OPT_KEY_DIR] = { "--key-dir", true, 0 },
    [OPT_OUTPUT] = { "--output", true, 'o' },    [OPT_ROOT] = { "--root", true, 0 },
    [OPT_SINCE] = { "--since", true, 0 },        [OPT_DRY_RUN] = { "--dry-run", false, 0 },
    [OPT_REACHABLE_ONLY] = { "--reachable-only", false, 0 },
    [OPT_ABORT] = { "--abort", false, 0 },
    [OPT_WHO] = { "--who", true, 0 },            [OPT_EXPECT] = { "--expect", true, 0 },
    [OPT_FORCE] = { "--force", false, 'f' },     [OPT_ALL] = { "--all", false, 'a' },
    [OPT_WAIT] = { "--wait", true, 0 },          [OPT_GRACE] = { "--grace", true, 0 },
    [OPT_ESCAPED] = { "--escaped", false, 0 },   [OPT_HARD] = { "--hard", false, 0 },
    [OPT_HELP] = { "--help", false, 'h' },       [OPT_VERSION] = { "--version", false, 0 },
};

const char *cli_opt_name(enum cli_opt o) { return OPTS[o].name; }

/* Handles one "--name[=value]" at argv[*i]; advances *i past a separate value. */
static int long_opt(cli_args *out, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (int o = 0; o < OPT__COUNT; o++) {
        if (strlen(OPTS[o].name) != n || strncmp(OPTS[o].name, arg, n) != 0) continue;
        if (!OPTS[o].takes_value) {
            if (eq) {
                snprintf(err, errlen, "option %s takes no value", OPTS[o].name);
                return -1;
            }
            out->opt[o] = "";
        } else if (eq) {
            out->opt[o] = eq + 1;
        } else if (*i + 1 < argc) {
            out->opt[o] = argv[++*i];
        } else {
            snprintf(err, errlen, "option %s needs a value", OPTS[o].name);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown option '%.*s'", (int)n, arg);
    return -1;
}

/* Handles a one-letter spelling of a long option: "-d", "-m MSG" or "-mMSG". */
static int short_alias(cli_args *out, int argc, char **argv, int *i, int o, char *err,
                       size_t errlen)
{
    const char *arg = argv[*i];
    if (!OPTS[o].takes_value) {
        if (arg[2]) {
            snprintf(err, errlen, "unknown option '%s'", arg);
            return -1;
        }
        out->opt[o] = "";
    } else if (arg[2]) {
        out->opt[o] = arg + 2;
    } else if (*i + 1 < argc) {
        out->opt[o] = argv[++*i];
    } else {
        snprintf(err, errlen, "option -%c needs a value", arg[1]);
        return -1;
    }
    return 0;
}

/* Handles one "-X..." short option at argv[*i]. */
static int short_opt(cli_args *out, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    for (int o = 0; o < OPT__COUNT; o++)
        if (OPTS[o].short_name && arg[1] == OPTS[o].short_name)
            return short_alias(out, argc, argv, i, o, err, errlen);
    if (strncmp(arg, "-C", 2) == 0) {
        out->dir_given = true;
        if (arg[2]) {
            out->dir = arg + 2;
        } else if (*i + 1 < argc) {
            out->dir = argv[++*i];
        } else {
            snprintf(err, errlen, "option -C needs a directory");
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown option '%s'", arg);
    return -1;
}

static int positional(cli_args *out, const char *arg, char *err, size_t errlen)
{
    if (!out->cmd) {
        out->cmd = arg;
        return 0;
    }
    if (out->npos == CLI_MAX_POS) {
        snprintf(err, errlen, "too many arguments");
        return -1;
    }
    out->pos[out->npos++] = arg;
    return 0;
}

int cli_parse(cli_args *out, int argc, char **argv, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->dir = ".";
    bool options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc;
        if (options_end || arg[0] != '-' || strcmp(arg, "-") == 0) {
            rc = positional(out, arg, err, errlen);
        } else if (strcmp(arg, "--") == 0) {
            options_end = true;
            rc = 0;
        } else if (arg[1] == '-') {
            rc = long_opt(out, argc, argv, &i, err, errlen);
        } else {
            rc = short_opt(out, argc, argv, &i, err, errlen);
        }
        if (rc < 0) return -1;
    }
    return 0;
}
