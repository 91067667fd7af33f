/*
 * eng_gitcli.c - the engine "git": git as a peer for the version workloads (diff, diff1k,
 * commit, merge), through the git command-line program, as a user would drive it. It supports
 * nothing else: git is not a key-value store. eng_git.c (the engine "libgit2") models the same
 * table in a bare repository through libgit2.
 *
 * The model is eng_git.c's, in a work tree: one file per key, its content the value, named by
 * the key in hex and fanned out over two directory levels by the key's first two bytes
 * (0a/3f/<28 hex digits>), in a non-bare repository whose branch main is checked out. Every
 * operation is a git command run with posix_spawnp ("git" from PATH, argument vectors, no
 * shell) in the work tree; its exit status is checked and a failure is reported with the
 * command and what it printed.
 *
 * load (not reported: it only makes the data) writes every file into the work tree itself and,
 * at the same time, streams the same files into `git fast-import` as one commit on main (one
 * pack; fast-import runs on the other core while this process creates the files); then
 * `git reset -q` builds the index from that commit and refreshes it against the files (which
 * hashes each file once, as git must for files it did not write).
 *
 * Settings, in the repository's own config (the system and global config files are ignored, so
 * a developer's ~/.gitconfig does not change the numbers):
 * - core.fsync=committed: the objects a command writes (loose or packed) and the refs it moves
 *   are fsynced before the command returns, so a commit is durable as cairn's is (git's default
 *   leaves loose objects and refs unsynced). The index is not synced (that would be "added"):
 *   it is a cache of the work tree, rebuilt from the committed tree by `git reset` if a crash
 *   loses it. git 2.39's documentation still calls committed "objects" alone; its code includes
 *   refs (strace shows the branch's lock file fsynced before the rename).
 * - gc.auto=0: no automatic gc or repack in the middle of a timed loop. `git commit` and
 *   `git merge` still start `git maintenance run --auto`, which then has nothing to do.
 * - everything else at git's defaults: core.untrackedCache and core.fsmonitor unset (none of
 *   these commands looks for untracked files outside the paths it is given, and git 2.39 has no
 *   file-system monitor on Linux), index version 2, core.preloadIndex on (the refresh lstats
 *   the files on several threads), reflogs on (a non-bare repository's default).
 *
 * vcommit: write the files, `git add -- <paths>`, `git commit -q -m ...` (with --allow-empty
 * when nothing changed), `git rev-parse --verify HEAD`. vdiff: `git diff-tree -r <from> <to>`,
 * then both blobs of every change through one `git cat-file --batch`. vbranch:
 * `git switch -q -c <name> <at>`; vswitch: `git switch -q <name>`; vdelete: `git branch -q -D`;
 * vmerge: `git merge -q --no-ff --no-edit <other>` (merge-ort, git's default), which always
 * makes a merge commit, as eng_git.c does.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HEX_KEY (2 * BENCH_KEY_SIZE)
#define FANOUT 2                      /* directory levels, one key byte each */
#define KEY_PATH (HEX_KEY + FANOUT)   /* "0a/3f/" and the remaining hex digits */
#define MAX_ARGS 16                   /* of a command with a fixed argument list */
#define IO_CHUNK 65536                /* bytes read or written per system call */
#define STREAM_BUF (1u << 20)         /* fast-import input gathered before each write */
#define SHOWN_ARGS 8                  /* arguments of a failed command quoted in its message */
#define SHOWN_OUTPUT 2000             /* bytes of a failed command's output quoted */
#define COMMIT_MSG "cairn-bench"
#define USER_NAME "cairn-bench"
#define USER_EMAIL "bench@localhost"

typedef struct gitcli_db {
    char *dir;  /* the work tree */
    int wt;     /* an fd of the work tree, for openat */
    char **env; /* the environment every git command gets */
} gitcli_db;

/* ---- running git ---- */

/* A growing byte buffer. */
typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

static int outbuf_reserve(outbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : IO_CHUNK;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return BENCH_ERR;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* One running git command: its stdin (a socket, written with MSG_NOSIGNAL so a command that
 * died fails the write instead of raising SIGPIPE here), stdout and stderr (pipes, both
 * collected). */
typedef struct proc {
    pid_t pid;
    int in, out, err; /* this side's ends; -1 once closed */
    outbuf out_buf, err_buf;
    const char *const *argv; /* borrowed, for messages */
} proc;

/* Environment: this process's, without GIT_* variables (a GIT_DIR or GIT_INDEX_FILE set by
 * whoever runs the benchmark would redirect the commands), and with the system and global
 * config files turned off. Caller frees with env_free(). */
static char **env_make(void)
{
    static const char *const extra[] = { "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
                                         "LC_ALL=C" };
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + sizeof extra / sizeof extra[0] + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "GIT_", 4) != 0 && strncmp(environ[i], "LC_ALL=", 7) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        env[k++] = (char *)extra[i];
    env[k] = NULL;
    return env;
}

static void env_free(char **env)
{
    free(env); /* the strings belong to environ or are literals */
}

/* Prints "git: <command>: <what>" and the command's output, then returns BENCH_ERR. */
static int proc_fail(const proc *p, const char *what)
{
    fprintf(stderr, "git:");
    size_t i = 0;
    for (; p->argv[i] && i < SHOWN_ARGS; i++)
        fprintf(stderr, " %s", p->argv[i]);
    fprintf(stderr, "%s: %s\n", p->argv[i] ? " ..." : "", what);
    const outbuf *shown[2] = { &p->err_buf, &p->out_buf };
    for (int k = 0; k < 2; k++)
        if (shown[k]->len)
            fprintf(stderr, "%.*s%s", (int)(shown[k]->len < SHOWN_OUTPUT ? shown[k]->len
                                                                       : SHOWN_OUTPUT),
                    shown[k]->data, shown[k]->data[shown[k]->len - 1] == '\n' ? "" : "\n");
    return BENCH_ERR;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts argv[0] (looked up in PATH) with env; with_stdin gives it a socket to read, else
 * /dev/null. */
static int proc_start(proc *p, const char *const *argv, char **env, int with_stdin)
{
    memset(p, 0, sizeof *p);
    p->in = p->out = p->err = -1;
    p->argv = argv;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    if ((with_stdin && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) ||
        pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        for (int k = 0; k < 2; k++) {
            close_fd(&in[k]);
            close_fd(&out[k]);
            close_fd(&err[k]);
        }
        return proc_fail(p, strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (with_stdin)
        posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close_fd(&in[1]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    p->in = in[0];
    p->out = out[0];
    p->err = err[0];
    if (rc != 0) {
        close_fd(&p->in);
        close_fd(&p->out);
        close_fd(&p->err);
        return proc_fail(p, strerror(rc));
    }
    return 0;
}

/* Reads what fd has into b; closes fd at its end. */
static int drain(int *fd, outbuf *b)
{
    if (outbuf_reserve(b, IO_CHUNK) != 0)
        return BENCH_ERR;
    ssize_t got = read(*fd, b->data + b->len, IO_CHUNK);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : BENCH_ERR;
    if (got == 0)
        close_fd(fd);
    b->len += (size_t)got;
    b->data[b->len] = 0;
    return 0;
}

/* Writes len bytes to the command's stdin while collecting its stdout and stderr, so neither
 * side can block the other on a full pipe. With len 0, collects until both outputs end. */
static int proc_pump(proc *p, const void *data, size_t len)
{
    const char *d = data;
    while (len > 0 || (data == NULL && (p->out >= 0 || p->err >= 0))) {
        struct pollfd fds[3] = { { len > 0 ? p->in : -1, POLLOUT, 0 },
                                 { p->out, POLLIN, 0 },
                                 { p->err, POLLIN, 0 } };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return proc_fail(p, strerror(errno));
        }
        if ((fds[1].revents && drain(&p->out, &p->out_buf) != 0) ||
            (fds[2].revents && drain(&p->err, &p->err_buf) != 0))
            return proc_fail(p, "reading its output failed");
        if (len > 0 && fds[0].revents) {
            ssize_t put = send(p->in, d, len < IO_CHUNK ? len : IO_CHUNK, MSG_NOSIGNAL);
            if (put < 0 && errno != EINTR && errno != EAGAIN)
                return BENCH_ERR; /* it stopped reading; proc_finish reports why */
            if (put > 0) {
                d += put;
                len -= (size_t)put;
            }
        }
    }
    return 0;
}

/* Ends the command's input, collects the rest of its output and waits for it. Returns 0 when
 * it exited with status 0; else reports the command and its output. Keeps p's buffers. */
static int proc_finish(proc *p)
{
    close_fd(&p->in);
    int rc = proc_pump(p, NULL, 0);
    close_fd(&p->out);
    close_fd(&p->err);
    int st;
    while (waitpid(p->pid, &st, 0) < 0)
        if (errno != EINTR)
            return proc_fail(p, strerror(errno));
    if (rc != 0)
        return rc;
    char what[64];
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(st));
    else
        snprintf(what, sizeof what, "killed by signal %d", WTERMSIG(st));
    return proc_fail(p, what);
}

static void proc_free(proc *p)
{
    free(p->out_buf.data);
    free(p->err_buf.data);
}

/* Runs argv to completion with input on its stdin (NULL: none). With out, *out receives its
 * stdout (NUL-terminated; caller frees with free()). */
static int run_argv(char **env, const char *const *argv, const void *input, size_t len,
                    outbuf *out)
{
    proc p;
    if (proc_start(&p, argv, env, input != NULL) != 0)
        return BENCH_ERR;
    int rc = input ? proc_pump(&p, input, len) : 0;
    int frc = proc_finish(&p);
    rc = rc != 0 ? rc : frc;
    if (rc == 0 && out) {
        *out = p.out_buf;
        if (!out->data && (out->data = calloc(1, 1)) == NULL)
            rc = BENCH_ERR;
        p.out_buf.data = NULL;
    }
    proc_free(&p);
    return rc;
}

/* Runs "git -C <work tree> <args...>" (a NULL-terminated list of at most MAX_ARGS - 4). */
static int git(gitcli_db *db, outbuf *out, const char *arg, ...)
{
    const char *argv[MAX_ARGS];
    size_t n = 0;
    argv[n++] = "git";
    argv[n++] = "-C";
    argv[n++] = db->dir;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_argv(db->env, argv, NULL, 0, out);
}

/* ---- the work tree ---- */

/* The key's file, relative to the work tree: 0a/3f/<28 hex digits>. */
static void key_path(char out[KEY_PATH + 1], const void *key)
{
    char h[HEX_KEY + 1];
    bench_hex(h, key, BENCH_KEY_SIZE);
    snprintf(out, KEY_PATH + 1, "%.2s/%.2s/%s", h, h + 2, h + 2 * FANOUT);
}

/* Makes the directories of path (relative to the work tree) that do not exist. */
static int make_parents(gitcli_db *db, const char *path)
{
    char dir[KEY_PATH + 1];
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        snprintf(dir, sizeof dir, "%.*s", (int)(s - path), path);
        if (mkdirat(db->wt, dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "git: mkdir %s/%s: %s\n", db->dir, dir, strerror(errno));
            return BENCH_ERR;
        }
    }
    return 0;
}

/* Writes a key's file (replacing it), as an editor or a script would. */
static int write_file(gitcli_db *db, const char *path, const void *val, size_t len)
{
    int fd = openat(db->wt, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT && make_parents(db, path) == 0)
        fd = openat(db->wt, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t put = fd >= 0 ? write(fd, val, len) : -1;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && put >= 0) {
        put = -1; /* a delayed write error */
        e = errno;
    }
    if (put == (ssize_t)len)
        return 0;
    fprintf(stderr, "git: write %s/%s: %s\n", db->dir, path, put < 0 ? strerror(e)
                                                                     : "short write");
    return BENCH_ERR;
}

/* ---- open, close, load ---- */

static void gitcli_version(char *buf, size_t cap)
{
    static const char *const argv[] = { "git", "--version", NULL };
    char **env = env_make();
    outbuf out = { NULL, 0, 0 };
    if (env && run_argv(env, argv, NULL, 0, &out) == 0) {
        const char *v = strncmp(out.data, "git version ", 12) == 0 ? out.data + 12 : out.data;
        snprintf(buf, cap, "%.*s", (int)strcspn(v, "\n"), v);
    } else {
        snprintf(buf, cap, "git (not found)");
    }
    free(out.data);
    env_free(env);
}

static int gitcli_close(void *h)
{
    gitcli_db *db = h;
    if (!db)
        return 0;
    if (db->wt >= 0)
        close(db->wt);
    env_free(db->env);
    free(db->dir);
    free(db);
    return 0;
}

/* The repository's config: see the file's head comment for why. */
static const char *const config[][2] = {
    { "core.fsync", "committed" },
    { "gc.auto", "0" },
    { "user.name", USER_NAME },
    { "user.email", USER_EMAIL },
};

static int init_repo(gitcli_db *db)
{
    const char *const argv[] = { "git", "init", "-q", "-b", "main", db->dir, NULL };
    if (run_argv(db->env, argv, NULL, 0, NULL) != 0)
        return BENCH_ERR;
    for (size_t i = 0; i < sizeof config / sizeof config[0]; i++)
        if (git(db, NULL, "config", config[i][0], config[i][1], NULL) != 0)
            return BENCH_ERR;
    return 0;
}

/* Checks that branch main is checked out, as the driver expects after open. */
static int check_main(gitcli_db *db)
{
    outbuf out = { NULL, 0, 0 };
    int rc = git(db, &out, "symbolic-ref", "--short", "HEAD", NULL);
    if (rc == 0 && strcmp(out.data, "main\n") != 0) {
        fprintf(stderr, "git: %s: branch %.*s is checked out, not main\n", db->dir,
                (int)strcspn(out.data, "\n"), out.data);
        rc = BENCH_ERR;
    }
    free(out.data);
    return rc;
}

static int gitcli_open(void **out, const char *dir, int create, const bench_config *cfg)
{
    (void)cfg; /* git's caches are the OS page cache and its per-command delta-base cache */
    gitcli_db *db = calloc(1, sizeof *db);
    if (!db) {
        fprintf(stderr, "git: out of memory\n");
        return BENCH_ERR;
    }
    db->wt = -1;
    db->dir = strdup(dir);
    db->env = env_make();
    int rc = db->dir && db->env ? 0 : BENCH_ERR;
    if (rc != 0)
        fprintf(stderr, "git: out of memory\n");
    if (rc == 0)
        rc = create ? init_repo(db) : check_main(db);
    if (rc == 0 && (db->wt = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "git: open %s: %s\n", dir, strerror(errno));
        rc = BENCH_ERR;
    }
    if (rc != 0) {
        gitcli_close(db);
        return BENCH_ERR;
    }
    *out = db;
    return 0;
}

/* fast-import's input: gathered in a buffer and written out whenever it fills. */
typedef struct stream {
    proc p;
    char *buf;
    size_t len;
    int rc;
} stream;

static void stream_put(stream *s, const void *data, size_t len)
{
    if (s->rc == 0 && s->len + len > STREAM_BUF) {
        s->rc = proc_pump(&s->p, s->buf, s->len);
        s->len = 0;
    }
    if (s->rc == 0 && len <= STREAM_BUF) {
        memcpy(s->buf + s->len, data, len);
        s->len += len;
    }
}

/* Every file into the work tree and, as one commit on main, into fast-import. */
static int stream_load(gitcli_db *db, const bench_data *data, stream *s)
{
    char line[3 * KEY_PATH], path[KEY_PATH + 1];
    uint8_t key[BENCH_KEY_SIZE], val[BENCH_VALUE_SIZE];
    int n = snprintf(line, sizeof line, "commit refs/heads/main\ncommitter %s <%s> %lld +0000\n"
                     "data 4\nload\n", USER_NAME, USER_EMAIL, (long long)time(NULL));
    stream_put(s, line, (size_t)n);
    for (uint64_t i = 0; i < data->n && s->rc == 0; i++) {
        bench_key(data, i, key);
        bench_value(data, i, val);
        key_path(path, key);
        if (write_file(db, path, val, sizeof val) != 0)
            return BENCH_ERR;
        n = snprintf(line, sizeof line, "M 100644 inline %s\ndata %d\n", path,
                     BENCH_VALUE_SIZE);
        stream_put(s, line, (size_t)n);
        stream_put(s, val, sizeof val);
        stream_put(s, "\n", 1);
    }
    stream_put(s, "done\n", 5);
    if (s->rc == 0 && s->len)
        s->rc = proc_pump(&s->p, s->buf, s->len);
    return s->rc;
}

static int gitcli_load(void *h, const bench_data *data)
{
    gitcli_db *db = h;
    const char *const argv[] = { "git", "-C", db->dir, "fast-import", "--quiet", "--done", NULL };
    stream s;
    memset(&s, 0, sizeof s);
    if ((s.buf = malloc(STREAM_BUF)) == NULL) {
        fprintf(stderr, "git: out of memory\n");
        return BENCH_ERR;
    }
    int rc = proc_start(&s.p, argv, db->env, 1);
    if (rc == 0) {
        rc = stream_load(db, data, &s);
        int frc = proc_finish(&s.p); /* also reports why fast-import stopped reading */
        rc = rc != 0 ? rc : frc;
        proc_free(&s.p);
    }
    free(s.buf);
    /* the index: main's tree, refreshed against the files just written */
    return rc != 0 ? rc : git(db, NULL, "reset", "-q", NULL);
}

/* ---- versions ---- */

/* The id HEAD names, into id. */
static int head_id(gitcli_db *db, char id[BENCH_VERSION_ID_SIZE])
{
    outbuf out = { NULL, 0, 0 };
    int rc = git(db, &out, "rev-parse", "--verify", "HEAD", NULL);
    size_t len = rc == 0 ? strcspn(out.data, "\n") : 0;
    if (rc == 0 && (len == 0 || len >= BENCH_VERSION_ID_SIZE)) {
        fprintf(stderr, "git: rev-parse HEAD printed '%s'\n", out.data);
        rc = BENCH_ERR;
    }
    if (rc == 0)
        snprintf(id, BENCH_VERSION_ID_SIZE, "%.*s", (int)len, out.data);
    free(out.data);
    return rc;
}

/* git add -- <the keys' files> */
static int add_paths(gitcli_db *db, const char (*paths)[KEY_PATH + 1], size_t n)
{
    const char **argv = malloc((n + 6) * sizeof *argv);
    if (!argv) {
        fprintf(stderr, "git: out of memory\n");
        return BENCH_ERR;
    }
    size_t k = 0;
    argv[k++] = "git";
    argv[k++] = "-C";
    argv[k++] = db->dir;
    argv[k++] = "add";
    argv[k++] = "--";
    for (size_t i = 0; i < n; i++)
        argv[k++] = paths[i];
    argv[k] = NULL;
    int rc = run_argv(db->env, argv, NULL, 0, NULL);
    free(argv);
    return rc;
}

static int gitcli_vcommit(void *h, const bench_kv *ops, size_t n,
                          char id[BENCH_VERSION_ID_SIZE])
{
    gitcli_db *db = h;
    char (*paths)[KEY_PATH + 1] = malloc((n ? n : 1) * sizeof *paths);
    if (!paths) {
        fprintf(stderr, "git: out of memory\n");
        return BENCH_ERR;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        key_path(paths[i], ops[i].key);
        rc = write_file(db, paths[i], ops[i].val, ops[i].vlen);
    }
    if (rc == 0 && n > 0)
        rc = add_paths(db, (const char (*)[KEY_PATH + 1])paths, n);
    free(paths);
    if (rc == 0)
        rc = n > 0 ? git(db, NULL, "commit", "-q", "-m", COMMIT_MSG, NULL)
                   : git(db, NULL, "commit", "-q", "--allow-empty", "-m", COMMIT_MSG, NULL);
    return rc == 0 ? head_id(db, id) : rc;
}

/* Whether a diff-tree object id is the null id (the missing side of an add or delete). */
static int null_id(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

/* The blobs a diff names, as cat-file --batch input: the new ones first, then the old. */
typedef struct diff_ids {
    outbuf new_ids, old_ids;
    uint64_t changed, n_new;
} diff_ids;

/* Appends one object id and a newline to b. */
static int append_id(outbuf *b, const char *id, size_t len)
{
    if (outbuf_reserve(b, len + 1) != 0) {
        fprintf(stderr, "git: out of memory\n");
        return BENCH_ERR;
    }
    memcpy(b->data + b->len, id, len);
    b->len += len;
    b->data[b->len++] = '\n';
    return 0;
}

/* Parses one line of diff-tree's raw output,
 * ":<old mode> <new mode> <old id> <new id> <status>\t<path>", into d. */
static int parse_raw_line(const char *line, size_t len, diff_ids *d)
{
    const char *f[5], *s = line + 1, *end = line + len;
    for (int k = 0; k < 4; k++) {
        f[k] = s;
        while (s < end && *s != ' ')
            s++;
        s++;
    }
    f[4] = s; /* the status */
    if (line[0] != ':' || s >= end) {
        fprintf(stderr, "git: diff-tree: unexpected line '%.*s'\n", (int)len, line);
        return BENCH_ERR;
    }
    size_t old_len = (size_t)(f[3] - f[2] - 1), new_len = (size_t)(f[4] - f[3] - 1);
    d->changed++;
    if (!null_id(f[3], new_len)) {
        if (append_id(&d->new_ids, f[3], new_len) != 0)
            return BENCH_ERR;
        d->n_new++;
    }
    return null_id(f[2], old_len) ? 0 : append_id(&d->old_ids, f[2], old_len);
}

/* Parses diff-tree's raw output: one line per changed file. */
static int parse_raw(const char *raw, diff_ids *d)
{
    while (*raw) {
        size_t len = strcspn(raw, "\n");
        if (parse_raw_line(raw, len, d) != 0)
            return BENCH_ERR;
        raw += len + (raw[len] == '\n');
    }
    return 0;
}

/* Parses cat-file --batch output ("<id> blob <size>\n<content>\n" per object) and sums the
 * digests of the first n_new contents into *digest, of the rest into *old_digest. */
static int parse_batch(const outbuf *b, uint64_t n_new, uint64_t *digest, uint64_t *old_digest)
{
    size_t pos = 0;
    for (uint64_t k = 0; pos < b->len; k++) {
        const char *hdr = b->data + pos;
        size_t hlen = strcspn(hdr, "\n");
        const char *sp = memchr(hdr, ' ', hlen);
        unsigned long long size;
        int used = 0;
        if (!sp || sscanf(sp, " blob %llu%n", &size, &used) != 1 ||
            (size_t)(sp - hdr) + (size_t)used != hlen || pos + hlen + 1 + size + 1 > b->len) {
            fprintf(stderr, "git: cat-file --batch: unexpected '%.*s'\n", (int)hlen, hdr);
            return BENCH_ERR;
        }
        pos += hlen + 1;
        *(k < n_new ? digest : old_digest) += bench_value_digest(b->data + pos, (size_t)size);
        pos += (size_t)size + 1;
    }
    return 0;
}

static int gitcli_vdiff(void *h, const char *from, const char *to, uint64_t *changed,
                        uint64_t *digest)
{
    gitcli_db *db = h;
    outbuf raw = { NULL, 0, 0 }, blobs = { NULL, 0, 0 };
    diff_ids d;
    memset(&d, 0, sizeof d);
    uint64_t sum = 0, old_sum = 0;
    int rc = git(db, &raw, "diff-tree", "-r", "--no-renames", from, to, NULL);
    if (rc == 0)
        rc = parse_raw(raw.data, &d);
    if (rc == 0 && d.new_ids.len + d.old_ids.len > 0 &&
        outbuf_reserve(&d.new_ids, d.old_ids.len) == 0) {
        if (d.old_ids.len)
            memcpy(d.new_ids.data + d.new_ids.len, d.old_ids.data, d.old_ids.len);
        d.new_ids.len += d.old_ids.len;
        const char *const argv[] = { "git", "-C", db->dir, "cat-file", "--batch", NULL };
        rc = run_argv(db->env, argv, d.new_ids.data, d.new_ids.len, &blobs);
        if (rc == 0)
            rc = parse_batch(&blobs, d.n_new, &sum, &old_sum);
    }
    free(raw.data);
    free(blobs.data);
    free(d.new_ids.data);
    free(d.old_ids.data);
    if (rc != 0)
        return rc;
    *changed = d.changed;
    *digest = sum;
    return 0;
}

static int gitcli_vbranch(void *h, const char *name, const char *at)
{
    return git(h, NULL, "switch", "-q", "-c", name, at, NULL);
}

static int gitcli_vswitch(void *h, const char *name)
{
    return git(h, NULL, "switch", "-q", name, NULL);
}

static int gitcli_vdelete(void *h, const char *name)
{
    return git(h, NULL, "branch", "-q", "-D", name, NULL);
}

static int gitcli_vmerge(void *h, const char *other, char id[BENCH_VERSION_ID_SIZE])
{
    gitcli_db *db = h;
    int rc = git(db, NULL, "merge", "-q", "--no-ff", "--no-edit", other, NULL);
    return rc == 0 ? head_id(db, id) : rc;
}

const bench_engine bench_engine_gitcli = {
    .name = "git",
    .settings = "versions only: the git program (posix_spawn, no shell), a work tree of one "
                "file per key under two levels of directories (key bytes 0 and 1), "
                "core.fsync=committed (objects and refs), gc.auto=0, no system or global "
                "config; commit = git add + git commit, diff = git diff-tree -r + git cat-file "
                "--batch, merge = git merge --no-ff",
    .version = gitcli_version,
    .open = gitcli_open,
    .close = gitcli_close,
    .load = gitcli_load,
    .vcommit = gitcli_vcommit,
    .vdiff = gitcli_vdiff,
    .vbranch = gitcli_vbranch,
    .vswitch = gitcli_vswitch,
    .vdelete = gitcli_vdelete,
    .vmerge = gitcli_vmerge,
    .flags = BENCH_VERSIONS_ONLY,
};
