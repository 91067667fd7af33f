/*
 * cmd_key.c - `cairn key`: signing keys (Ed25519) in a key directory, and the keys a
 * repository trusts.
 *
 *   key generate NAME   makes NAME.key and NAME.pub in the key directory; prints the public key
 *                       line (what `key trust` takes) on stdout, the fingerprint on stderr
 *   key list            the keys in the key directory: FINGERPRINT  NAME; each damaged file is
 *                       a warning on stderr (and, with --json, a line with its *_damaged
 *                       fields); fails only when files are damaged and no key is readable
 *   key trust FILE|-    adds a public key line to the repository's trusted keys
 *   key trusted         the repository's trusted keys: FINGERPRINT  NAME
 *
 * The key directory is --dir DIR, or the library's default ($CAIRN_HOME/keys, else
 * $HOME/.cairn/keys); it has nothing to do with -C, which names a repository.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonl.h"
#include "passphrase.h"

#define PUBLIC_HEX_SIZE (2 * CAIRN_KEY_PUBLIC_SIZE + 1)
#define PUBLIC_FILE_MAX 4096 /* bytes of a .pub file given to `key trust`: one short line */

typedef struct key_sub {
    const char *name;
    int (*run)(const cli_args *a);
    int nargs;               /* arguments after the subcommand's name */
    cli_optset opts;         /* OPT_BIT()s it accepts */
    const char *usage;
} key_sub;

static void public_hex(char out[PUBLIC_HEX_SIZE], const cairn_key_info *k)
{
    for (size_t i = 0; i < CAIRN_KEY_PUBLIC_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", k->public_key[i]);
}

/* One key, as `key list` and `key trusted` print it. */
static int print_key(const cairn_key_info *k, bool json)
{
    if (!json) {
        printf("%s  %s\n", k->fingerprint, k->name);
        return EXIT_OK;
    }
    char hex[PUBLIC_HEX_SIZE];
    public_hex(hex, k);
    json_t *obj = json_pack("{s:s,s:s,s:s}", "name", k->name, "fingerprint", k->fingerprint,
                            "public_key", hex);
    int rc = obj ? jsonl_dump(stdout, obj) : -1;
    json_decref(obj);
    if (rc < 0) return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

/* ---- generate ---- */

/* The passphrase for a new key: none (--no-passphrase), from the file or the environment, or
 * asked twice on the terminal. */
static int new_passphrase(pass *p, const cli_args *a, const char *name)
{
    if (a->opt[OPT_NO_PASSPHRASE]) {
        if (a->opt[OPT_PASSPHRASE_FILE])
            return cli_err(EXIT_USAGE, "key generate takes --no-passphrase or --passphrase-file, "
                                       "not both");
        pass_wipe(p);
        return EXIT_OK;
    }
    int code = pass_from_args(p, a->opt[OPT_PASSPHRASE_FILE]);
    if (code != EXIT_OK || p->given) {
        if (code == EXIT_OK && !p->text[0])
            return cli_err(EXIT_USAGE, "%s is empty; a key without a passphrase needs "
                                       "--no-passphrase", PASS_ENV);
        return code;
    }
    if (!pass_can_prompt())
        return cli_err(EXIT_USAGE, "key %s needs a passphrase: set %s, give --passphrase-file "
                                   "FILE, run cairn on a terminal to type it, or give "
                                   "--no-passphrase for a key anyone who can read it can use",
                       name, PASS_ENV);
    char prompt[CAIRN_KEY_NAME_LEN_MAX + 64];
    snprintf(prompt, sizeof prompt, "passphrase for the new key %.64s: ", name);
    return pass_prompt(p, prompt, true);
}

static int key_generate(const cli_args *a)
{
    const char *name = a->pos[1];
    pass p;
    int code = new_passphrase(&p, a, name);
    if (code != EXIT_OK) return code;
    cairn_key_info k;
    unsigned flags = a->opt[OPT_NO_PASSPHRASE] ? CAIRN_KEY_UNPROTECTED : 0;
    int rc = cairn_key_generate(&k, a->opt[OPT_DIR], name, flags ? NULL : p.text, flags);
    pass_wipe(&p);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    char hex[PUBLIC_HEX_SIZE];
    public_hex(hex, &k);
    printf("cairn-ed25519 %s %s\n", hex, k.name);
    fprintf(stderr, "generated key %s, fingerprint %s%s\n", k.name, k.fingerprint,
            flags ? "; its secret key has no passphrase: anyone who can read it can sign as it"
                  : "");
    return EXIT_OK;
}

/* ---- list ---- */

typedef struct list_ctx {
    bool json;
    size_t readable, damaged;
    int code;                /* a printing failure, already reported */
} list_ctx;

/* A key whose files are damaged, as a JSON line: what is known, and what is wrong. */
static int print_damaged_json(const cairn_key_entry *e)
{
    json_t *obj = json_pack("{s:s}", "name", e->name);
    if (obj && e->info) {
        char hex[PUBLIC_HEX_SIZE];
        public_hex(hex, e->info);
        json_object_set_new(obj, "fingerprint", json_string(e->info->fingerprint));
        json_object_set_new(obj, "public_key", json_string(hex));
    }
    if (obj && e->pub_message) json_object_set_new(obj, "public_damaged", json_string(e->pub_message));
    if (obj && e->secret_message)
        json_object_set_new(obj, "secret_damaged", json_string(e->secret_message));
    int rc = obj ? jsonl_dump(stdout, obj) : -1;
    json_decref(obj);
    if (rc < 0) return cli_err(EXIT_FAIL, "writing to standard output: %s", strerror(errno));
    return EXIT_OK;
}

static int list_cb(const cairn_key_entry *e, void *payload)
{
    list_ctx *l = payload;
    bool damaged = e->pub_error != CAIRN_OK || e->secret == CAIRN_KEY_SECRET_DAMAGED;
    l->readable += e->info != NULL;
    l->damaged += damaged;
    if (e->pub_error != CAIRN_OK)
        fprintf(stderr, "cairn: warning: key %s: %s; restore the file from a backup, or remove "
                        "it and generate a new key\n", e->name, e->pub_message);
    if (e->secret == CAIRN_KEY_SECRET_DAMAGED)
        fprintf(stderr, "cairn: warning: key %s cannot sign: %s\n", e->name, e->secret_message);
    if (l->json && damaged) l->code = print_damaged_json(e);
    else if (e->info) l->code = print_key(e->info, l->json);
    return l->code == EXIT_OK ? 0 : 1;
}

/* Lists every readable key; each damaged file is a warning of its own. Fails (EXIT_FAIL) only
 * when files are damaged and no key could be read. */
static int key_list(const cli_args *a)
{
    list_ctx l = { a->opt[OPT_JSON] != NULL, 0, 0, EXIT_OK };
    int rc = cairn_key_scan(a->opt[OPT_DIR], list_cb, &l);
    if (rc > 0) return l.code; /* printing failed, and said so */
    if (rc < 0) return cli_lib_err(rc);
    if (l.damaged && !l.readable)
        return cli_err(EXIT_FAIL, "no key could be read: %zu damaged key file%s", l.damaged,
                       l.damaged == 1 ? "" : "s");
    return EXIT_OK;
}

/* ---- trust ---- */

typedef struct trusted_find {
    const cairn_key_info *want;
    char as[CAIRN_KEY_NAME_LEN_MAX + 1]; /* the name it is trusted under; "" when it is not */
} trusted_find;

static int find_cb(const char *line, void *payload)
{
    trusted_find *f = payload;
    cairn_key_info k;
    if (cairn_key_parse_public(&k, line) != CAIRN_OK) {
        cairn_error_clear(); /* not ours to judge here: `key trusted` reports it */
        return 0;
    }
    if (memcmp(k.public_key, f->want->public_key, CAIRN_KEY_PUBLIC_SIZE) != 0) return 0;
    memcpy(f->as, k.name, sizeof f->as);
    return 1;
}

/* Trusts k unless the repository does already, and says which. */
static int trust(cairn_db *db, const char *line, const cairn_key_info *k)
{
    trusted_find f = { k, "" };
    int rc = cairn_trusted_keys(db, find_cb, &f);
    if (rc < 0) return cli_lib_err(rc);
    if (f.as[0]) {
        if (strcmp(f.as, k->name) == 0)
            printf("key %s (fingerprint %s) is trusted already\n", k->name, k->fingerprint);
        else
            printf("key %s (fingerprint %s) is trusted already, as %s\n", k->name,
                   k->fingerprint, f.as);
        return EXIT_OK;
    }
    rc = cairn_trust_key(db, line);
    if (rc != CAIRN_OK) return cli_lib_err(rc);
    printf("trusted key %s (fingerprint %s)\n", k->name, k->fingerprint);
    return EXIT_OK;
}

static int key_trust(const cli_args *a)
{
    const char *path = a->pos[1];
    char *line;
    size_t len;
    int code = cli_read_file(&line, &len, path, PUBLIC_FILE_MAX, "public key");
    if (code != EXIT_OK) return code;
    cairn_key_info k;
    int rc = strlen(line) == len ? cairn_key_parse_public(&k, line) : CAIRN_EINVAL;
    if (rc != CAIRN_OK) {
        const char *why = strlen(line) == len ? cairn_error_last()->message : "it holds a NUL byte";
        code = cli_err(EXIT_FAIL, "%s: not a public key line (cairn-ed25519 HEX NAME, as in a "
                                  ".pub file): %s", strcmp(path, "-") ? path : "standard input", why);
    }
    cairn_db *db = NULL;
    if (code == EXIT_OK) code = cli_open(&db, a, true);
    if (code == EXIT_OK) code = cli_close(db, trust(db, line, &k));
    free(line);
    return code;
}

/* ---- trusted ---- */

typedef struct trusted_list {
    bool json;
    int code;
} trusted_list;

static int trusted_cb(const char *line, void *payload)
{
    trusted_list *t = payload;
    cairn_key_info k;
    int rc = cairn_key_parse_public(&k, line);
    if (rc != CAIRN_OK) {
        t->code = cli_err(EXIT_FAIL, "a trusted key of the repository is damaged: %s",
                          cairn_error_last()->message);
        return 1;
    }
    t->code = print_key(&k, t->json);
    return t->code == EXIT_OK ? 0 : 1;
}

static int key_trusted(const cli_args *a)
{
    cairn_db *db;
    int code = cli_open(&db, a, false);
    if (code != EXIT_OK) return code;
    trusted_list t = { a->opt[OPT_JSON] != NULL, EXIT_OK };
    int rc = cairn_trusted_keys(db, trusted_cb, &t);
    code = rc < 0 ? cli_lib_err(rc) : t.code;
    return cli_close(db, code);
}

/* ---- dispatch ---- */

static const key_sub SUBS[] = {
    { "generate", key_generate, 1,
      OPT_BIT(OPT_DIR) | OPT_BIT(OPT_NO_PASSPHRASE) | OPT_BIT(OPT_PASSPHRASE_FILE),
      "key generate NAME [--dir DIR] [--no-passphrase | --passphrase-file FILE]" },
    { "list", key_list, 0, OPT_BIT(OPT_DIR) | OPT_BIT(OPT_JSON), "key list [--dir DIR] [--json]" },
    { "trust", key_trust, 1, 0, "key trust FILE|-" },
    { "trusted", key_trusted, 0, OPT_BIT(OPT_JSON), "key trusted [--json]" },
};

#define NSUBS (sizeof SUBS / sizeof SUBS[0])

/* Checks options and arguments against the subcommand's entry, as main.c does for commands. */
static int check_sub(const key_sub *s, const cli_args *a)
{
    for (int o = 0; o < OPT__COUNT; o++)
        if (a->opt[o] && o != OPT_HELP && o != OPT_WAIT && !(s->opts & OPT_BIT(o)))
            return cli_err(EXIT_USAGE, "key %s takes no option %s; usage: cairn %s", s->name,
                           cli_opt_name((enum cli_opt)o), s->usage);
    if (a->npos - 1 != s->nargs)
        return cli_err(EXIT_USAGE, "key %s takes %d argument%s, not %d; usage: cairn %s",
                       s->name, s->nargs, s->nargs == 1 ? "" : "s", a->npos - 1, s->usage);
    return EXIT_OK;
}

int cmd_key(const cli_args *a)
{
    for (size_t i = 0; i < NSUBS; i++) {
        if (strcmp(SUBS[i].name, a->pos[0]) != 0) continue;
        int code = check_sub(&SUBS[i], a);
        return code == EXIT_OK ? SUBS[i].run(a) : code;
    }
    return cli_err(EXIT_USAGE, "'%s' is not a key command: use key generate, list, trust or "
                               "trusted (see 'cairn help key')", a->pos[0]);
}
