/*
 * test_faults.c - failing system calls at every point of an operation (base/sys.h fault
 * injection): fsync, rename, write and open, each failed at its 1st, 2nd, ... Nth call, where N
 * is how many of them a clean run of the operation makes. The operations: a local store's puts
 * and flush (with pack rollovers, so pack creation and .idx files are covered), opening a local
 * store whose last pack has a torn tail (set aside in quarantine/, then cut), ref moves
 * (in place, new, nested, deleted, too long for a slot), a gc that deletes and compacts, and a
 * key generation.
 *
 * Key files are linked into place rather than renamed, so link is failed too; and writes are
 * also failed from the Nth on (a disk that fills up).
 *
 * Each failing run happens in a forked child, on a fresh copy of a prepared repository. The
 * child opens the repository before the fault is armed, runs the operation, reports its result
 * and what it counted through a pipe, and then either exits at once without closing anything
 * (as a crash right after the failure would) or closes its handles first (which may retry what
 * failed). The parent then checks, in a new handle: the failure was reported clearly (a
 * non-empty message that names the system error, CAIRN_EIO or CAIRN_ENOSPC) unless the
 * operation absorbed it (a missing .idx only costs a scan at the next open), and the repository
 * holds the state from before the operation or from after it, never one in between, verifies
 * clean, and takes further writes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "base/sys.h"
#include "cairn.h"
#include "cairn/sys/store.h"
#include "db/db.h"
#include "repo/keys.h"
#include "store/store.h"
#include "store_suite.h"
#include "test.h"

#define MSG_MAX 600

/* The states a check finds. */
enum { ST_BAD = -1, ST_BEFORE = 0, ST_AFTER = 1, ST_PARTIAL = 2 /* puts not flushed */ };

typedef struct scenario {
    const char *name;
    /** Builds the repository in dir (once, in the parent). */
    int (*prepare)(const char *dir);
    /** Child: opens what the operation needs (before the fault is armed). */
    int (*open)(void **out, const char *dir);
    /** Child: the operation. */
    int (*run)(void *h);
    /** Child: closes what open opened. */
    void (*close)(void *h);
    /** Parent: the state of dir after a run that returned rc (ST_*). */
    int (*check)(const char *dir, int rc);
} scenario;

/* What a child reports. */
typedef struct child_report {
    int opened;              /* open succeeded */
    int rc;                  /* the operation's result */
    uint64_t calls[SYS_OP_COUNT];
    uint64_t fired;          /* faults that fired during the operation */
    char msg[MSG_MAX];       /* the message when rc is not CAIRN_OK */
} child_report;

typedef struct fault_kind {
    sys_op op;
    const char *name;
    int err;
    bool sticky; /* that call and every later one fail (a full disk) */
} fault_kind;

static const fault_kind kinds[] = {
    { SYS_FSYNC, "fsync", EIO, false },
    { SYS_RENAME, "rename", EIO, false },
    { SYS_WRITE, "write", ENOSPC, false },
    { SYS_WRITE, "write (disk full from then on)", ENOSPC, true },
    { SYS_OPEN, "open", EIO, false },
    { SYS_LINK, "link", EIO, false }, /* key files are linked into place, not renamed */
};

/* ---- running a child ---- */

/* Runs sc's operation on dir in a child with the nth call of k->op failing (nth 0: none). With
 * `crash` the child exits right after the operation without closing anything. */
static int run_child(const scenario *sc, const char *dir, const fault_kind *k, uint64_t nth,
                     bool crash, child_report *out)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        child_report r;
        memset(&r, 0, sizeof r);
        void *h = NULL;
        r.rc = sc->open(&h, dir);
        r.opened = r.rc == CAIRN_OK;
        if (r.opened) {
            uint64_t before[SYS_OP_COUNT];
            for (int i = 0; i < SYS_OP_COUNT; i++) before[i] = sys_calls((sys_op)i);
            uint64_t fired = sys_faults_fired();
            if (nth) sys_fault(k->op, nth, k->err, k->sticky);
            r.rc = sc->run(h);
            sys_fault_clear();
            for (int i = 0; i < SYS_OP_COUNT; i++) r.calls[i] = sys_calls((sys_op)i) - before[i];
            r.fired = sys_faults_fired() - fired;
        }
        if (r.rc != CAIRN_OK) snprintf(r.msg, sizeof r.msg, "%s", cairn_error_last()->message);
        if (r.opened && !crash) sc->close(h);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t n = read(fds[0], (char *)out + got, sizeof *out - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return got == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A fresh copy of the prepared repository. */
static int fresh_copy(const char *tmpl, const char *work)
{
    return test_sh("rm -rf '%s' && cp -a '%s' '%s'", work, tmpl, work);
}

typedef struct tally {
    unsigned runs, reported, absorbed, after, before, partial;
} tally;

/* One failing run and its checks; false when a check failed (reported). */
static bool one(const scenario *sc, const char *tmpl, const char *work, const fault_kind *k,
                uint64_t nth, bool crash, tally *t)
{
    child_report r;
    if (fresh_copy(tmpl, work) != 0 || run_child(sc, work, k, nth, crash, &r) != 0) {
        test_fail(__FILE__, __LINE__, "%s: the child for %s #%llu did not report", sc->name,
                  k->name, (unsigned long long)nth);
        return false;
    }
    const char *how = crash ? "then a crash" : "then close";
    if (!r.opened) {
        test_fail(__FILE__, __LINE__, "%s: opening before the fault failed: %s", sc->name, r.msg);
        return false;
    }
    t->runs++;
    if (r.rc != CAIRN_OK) {
        t->reported++;
        if (r.rc != (k->err == ENOSPC ? CAIRN_ENOSPC : CAIRN_EIO) || !r.msg[0] ||
            !strstr(r.msg, strerror(k->err))) {
            test_fail(__FILE__, __LINE__, "%s, %s #%llu failing (%s): returned %d (%s) with "
                      "message '%s'", sc->name, k->name, (unsigned long long)nth, how, r.rc,
                      cairn_strerror(r.rc), r.msg);
            return false;
        }
    } else if (r.fired) {
        t->absorbed++;
    }
    int st = sc->check(work, r.rc);
    if (st == ST_AFTER) t->after++;
    else if (st == ST_BEFORE) t->before++;
    else if (st == ST_PARTIAL) t->partial++;
    if (st == ST_BAD || (r.rc == CAIRN_OK && st != ST_AFTER)) {
        test_fail(__FILE__, __LINE__, "%s, %s #%llu failing (%s; the operation returned %d: "
                  "%s): the repository is not as before or after it (state %d)", sc->name,
                  k->name, (unsigned long long)nth, how, r.rc, r.rc ? r.msg : "ok", st);
        return false;
    }
    return true;
}

/* Fails each kind of call at each of its calls in a clean run, in both child endings. */
static void sweep(const scenario *sc)
{
    char tmpl[4200], work[4200];
    snprintf(tmpl, sizeof tmpl, "%s/%s-template", test_tmpdir(), sc->name);
    snprintf(work, sizeof work, "%s/%s-work", test_tmpdir(), sc->name);
    CHECK_OK(sc->prepare(tmpl));
    child_report clean;
    CHECK(fresh_copy(tmpl, work) == 0);
    CHECK(run_child(sc, work, &kinds[0], 0, true, &clean) == 0);
    CHECK_MSG(clean.opened && clean.rc == CAIRN_OK, "%s: the clean run failed: %s", sc->name,
              clean.msg);
    CHECK_MSG(sc->check(work, CAIRN_OK) == ST_AFTER, "%s: the clean run's state is wrong",
              sc->name);
    for (size_t ki = 0; ki < ARRAY_LEN(kinds); ki++) {
        const fault_kind *k = &kinds[ki];
        uint64_t n = clean.calls[k->op];
        tally t = { 0 };
        for (uint64_t nth = 1; nth <= n; nth++)
            for (int crash = 0; crash < 2; crash++)
                if (!one(sc, tmpl, work, k, nth, crash, &t)) return;
        printf("  %s: %s x %llu calls, %u runs: %u reported, %u absorbed; then %u after, "
               "%u before, %u partial\n", sc->name, k->name, (unsigned long long)n, t.runs,
               t.reported, t.absorbed, t.after, t.before, t.partial);
    }
}

/* ---- a local store: puts and a flush, over several packs ---- */

#define PUT_OLD 120       /* chunks there before */
#define PUT_NEW 150       /* chunks the operation puts */
#define PUT_PACK_MAX (64u << 10)

static size_t put_len(uint64_t i) { return 1500 + (size_t)(i * 7919 % 2000); }

static int put_family(cairn_store *st, uint64_t salt, int n)
{
    uint8_t buf[4000];
    int rc = CAIRN_OK;
    for (int i = 0; i < n && rc == CAIRN_OK; i++) {
        cairn_id k;
        suite_key(&k, salt, (uint64_t)i);
        suite_fill(buf, put_len((uint64_t)i), &k);
        rc = st->put(st, &k, buf, put_len((uint64_t)i));
    }
    return rc;
}

/* How many chunks of family salt are present, each with exactly its bytes; -1 when one is
 * damaged or cannot be read. */
static int count_family(cairn_store *st, uint64_t salt, int n)
{
    int present = 0;
    uint8_t want[4000];
    cairn_buf b = CAIRN_BUF_INIT;
    for (int i = 0; i < n; i++) {
        cairn_id k;
        suite_key(&k, salt, (uint64_t)i);
        int rc = st->get(st, &b, &k);
        if (rc == CAIRN_ENOTFOUND) continue;
        suite_fill(want, put_len((uint64_t)i), &k);
        if (rc != CAIRN_OK || b.len != put_len((uint64_t)i) || memcmp(b.data, want, b.len) != 0) {
            fprintf(stderr, "chunk %d of family %llu: %s\n", i, (unsigned long long)salt,
                    rc ? cairn_error_last()->message : "wrong bytes");
            present = -1;
            break;
        }
        present++;
    }
    cairn_buf_dispose(&b);
    return present;
}

static int put_prepare(const char *dir)
{
    cairn_store *st;
    TRY(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    store_local_set_pack_max(st, PUT_PACK_MAX);
    int rc = put_family(st, 1, PUT_OLD);
    if (rc == CAIRN_OK) rc = st->ref_cas(st, "heads/main", NULL, 0, "v1", 2);
    if (rc == CAIRN_OK) rc = st->flush(st);
    st->close(st);
    return rc;
}

static int put_open(void **out, const char *dir)
{
    cairn_store *st;
    TRY(store_local_open(&st, dir, 0, 0));
    store_local_set_pack_max(st, PUT_PACK_MAX);
    *out = st;
    return CAIRN_OK;
}

static int put_run(void *h)
{
    cairn_store *st = h;
    TRY(put_family(st, 2, PUT_NEW));
    return st->flush(st);
}

static void store_close(void *h)
{
    cairn_store *st = h;
    st->close(st);
}

static int put_check(const char *dir, int rc)
{
    (void)rc;
    cairn_store *st;
    if (store_local_open(&st, dir, 0, 0) != CAIRN_OK) {
        fprintf(stderr, "reopen: %s\n", cairn_error_last()->message);
        return ST_BAD;
    }
    cairn_buf b = CAIRN_BUF_INIT;
    int old = count_family(st, 1, PUT_OLD), added = count_family(st, 2, PUT_NEW);
    bool ref_ok = st->ref_get(st, &b, "heads/main") == CAIRN_OK && b.len == 2 &&
                  memcmp(b.data, "v1", 2) == 0;
    cairn_store_stats ss;
    bool stat_ok = st->stat(st, &ss) == CAIRN_OK && ss.chunks == (uint64_t)(old + added);
    /* not wedged: it takes more writes */
    cairn_id k;
    suite_key(&k, 3, 0);
    bool writes = st->put(st, &k, "more", 4) == CAIRN_OK && st->flush(st) == CAIRN_OK;
    cairn_buf_dispose(&b);
    st->close(st);
    if (old != PUT_OLD || added < 0 || !ref_ok || !stat_ok || !writes) {
        fprintf(stderr, "old %d/%d, new %d, ref %d, stat %d, writes %d\n", old, PUT_OLD, added,
                ref_ok, stat_ok, writes);
        return ST_BAD;
    }
    return added == PUT_NEW ? ST_AFTER : added == 0 ? ST_BEFORE : ST_PARTIAL;
}

static void store_put_flush(void)
{
    static const scenario sc = { "put_flush", put_prepare, put_open, put_run, store_close,
                                 put_check };
    sweep(&sc);
}

/* ---- a local store: opening one with a torn tail (repair) ---- */

#define TAIL_LEN 1000 /* junk bytes after the last record, as a crash mid-append leaves */

static uint8_t tail_bytes[TAIL_LEN];

static void tail_init(void)
{
    for (size_t i = 0; i < TAIL_LEN; i++) tail_bytes[i] = (uint8_t)(i * 37 + 11);
}

/* The newest pack file of dir (caller frees), or NULL. */
static char *last_pack(const char *dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/packs", dir);
    DIR *d = opendir(path);
    char best[64] = "";
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".pack") == 0 && strcmp(e->d_name, best) > 0 &&
            n < sizeof best)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    if (d) closedir(d);
    if (!best[0]) return NULL;
    char *out = malloc(strlen(path) + strlen(best) + 2);
    sprintf(out, "%s/%s", path, best);
    return out;
}

static int tail_prepare(const char *dir)
{
    tail_init();
    cairn_store *st;
    TRY(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    int rc = put_family(st, 1, PUT_OLD);
    if (rc == CAIRN_OK) rc = st->flush(st);
    st->close(st);
    char *pack = last_pack(dir);
    FILE *f = pack ? fopen(pack, "ab") : NULL;
    free(pack);
    if (rc == CAIRN_OK && (!f || fwrite(tail_bytes, 1, TAIL_LEN, f) != TAIL_LEN))
        rc = ERR(CAIRN_EIO, "could not tear the tail of the last pack");
    if (f) fclose(f);
    return rc;
}

/* The operation opens the store itself (repairing the tail), then writes. */
static int tail_open(void **out, const char *dir)
{
    *out = (void *)dir;
    return CAIRN_OK;
}

static cairn_store *tail_st; /* the child's handle */

static int tail_run(void *h)
{
    tail_st = NULL;
    TRY(store_local_open(&tail_st, h, 0, 0));
    cairn_id k;
    suite_key(&k, 3, 0);
    TRY(tail_st->put(tail_st, &k, "more", 4));
    return tail_st->flush(tail_st);
}

static void tail_close(void *h)
{
    (void)h;
    if (tail_st) tail_st->close(tail_st);
}

/* Whether file `path` ends with the torn tail's bytes (whole_file: is exactly them). */
static bool ends_with_tail(const char *path, bool whole_file)
{
    struct stat sb;
    uint8_t buf[TAIL_LEN];
    if (stat(path, &sb) != 0 || sb.st_size < TAIL_LEN || (whole_file && sb.st_size != TAIL_LEN))
        return false;
    FILE *f = fopen(path, "rb");
    bool yes = f && fseek(f, -(long)TAIL_LEN, SEEK_END) == 0 &&
               fread(buf, 1, TAIL_LEN, f) == TAIL_LEN && memcmp(buf, tail_bytes, TAIL_LEN) == 0;
    if (f) fclose(f);
    return yes;
}

/* Whether the torn tail's bytes are still somewhere: at the end of a pack (the last, or, kept
 * in place for lack of room to set it aside, one that writes went on after), or whole in a file
 * of quarantine/. */
static bool tail_kept(const char *dir)
{
    static const char *const where[] = { "packs", "quarantine" };
    bool found = false;
    for (int w = 0; w < 2 && !found; w++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, where[w]);
        DIR *d = opendir(path);
        for (struct dirent *e; !found && d && (e = readdir(d));) {
            size_t n = strlen(e->d_name);
            if (e->d_name[0] == '.' || (w == 0 && (n < 5 || strcmp(e->d_name + n - 5, ".pack"))))
                continue;
            char q[4600];
            snprintf(q, sizeof q, "%s/%s", path, e->d_name);
            found = ends_with_tail(q, w == 1);
        }
        if (d) closedir(d);
    }
    return found;
}

/* How many files of quarantine/ are not a whole copy of the tail (a failed repair must leave
 * no empty or partial file behind: each failed try would add one more), but for the empty
 * marker of a tail kept in place ("pack-N.OFF.kept"). */
static int quarantine_strays(const char *dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/quarantine", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    int strays = 0;
    while (d && (e = readdir(d)) != NULL) {
        char q[4600];
        struct stat sb;
        uint8_t buf[TAIL_LEN];
        snprintf(q, sizeof q, "%s/%s", path, e->d_name);
        if (e->d_name[0] == '.' || stat(q, &sb) != 0) continue;
        if (strstr(e->d_name, ".kept") && sb.st_size == 0) continue;
        FILE *f = sb.st_size == TAIL_LEN ? fopen(q, "rb") : NULL;
        bool whole = f && fread(buf, 1, TAIL_LEN, f) == TAIL_LEN &&
                     memcmp(buf, tail_bytes, TAIL_LEN) == 0;
        if (f) fclose(f);
        strays += !whole;
    }
    if (d) closedir(d);
    return strays;
}

static int tail_check(const char *dir, int rc)
{
    (void)rc;
    tail_init();
    bool kept = tail_kept(dir); /* before this open repairs what the child did not */
    int strays = quarantine_strays(dir);
    cairn_store *st;
    if (store_local_open(&st, dir, 0, 0) != CAIRN_OK) {
        fprintf(stderr, "reopen: %s\n", cairn_error_last()->message);
        return ST_BAD;
    }
    int old = count_family(st, 1, PUT_OLD);
    cairn_id k;
    suite_key(&k, 3, 0);
    cairn_buf b = CAIRN_BUF_INIT;
    int grc = st->get(st, &b, &k);
    bool more = grc == CAIRN_OK && b.len == 4 && memcmp(b.data, "more", 4) == 0;
    cairn_buf_dispose(&b);
    cairn_id k2;
    suite_key(&k2, 3, 1);
    bool writes = st->put(st, &k2, "again", 5) == CAIRN_OK && st->flush(st) == CAIRN_OK;
    st->close(st);
    if (!kept || strays || old != PUT_OLD || (grc != CAIRN_OK && grc != CAIRN_ENOTFOUND) ||
        !writes) {
        fprintf(stderr, "tail kept %d, stray quarantine files %d, old %d/%d, get %d, writes %d\n",
                kept, strays, old, PUT_OLD, grc, writes);
        return ST_BAD;
    }
    return more ? ST_AFTER : ST_BEFORE;
}

static void store_open_repair(void)
{
    static const scenario sc = { "open_repair", tail_prepare, tail_open, tail_run, tail_close,
                                 tail_check };
    sweep(&sc);
}

/* ---- a local store: ref moves ---- */

#define LONG_REF 4090 /* over a slot's 4072 bytes: a plain file */

typedef struct ref_move {
    const char *name;
    const char *from, *to; /* NULL: absent */
} ref_move;

static char long_value[LONG_REF + 1];

static const ref_move moves[] = {
    { "heads/main", "v1", "v2" },     /* in place, one slot */
    { "heads/new", NULL, "n1" },      /* a new file */
    { "tags/x/y", NULL, "t" },        /* new directories */
    { "heads/old", "o", NULL },       /* deleted, its directory kept */
    { "gone/z", "z", NULL },          /* deleted, its directory removed */
    { "heads/long", NULL, long_value },
};

static size_t vlen(const char *v) { return v ? strlen(v) : 0; }

static int ref_prepare(const char *dir)
{
    memset(long_value, 'L', LONG_REF);
    cairn_store *st;
    TRY(store_local_open(&st, dir, CAIRN_OPEN_CREATE, 0));
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < ARRAY_LEN(moves); i++)
        if (moves[i].from) rc = st->ref_cas(st, moves[i].name, NULL, 0, moves[i].from,
                                            vlen(moves[i].from));
    st->close(st);
    return rc;
}

static int ref_open(void **out, const char *dir)
{
    memset(long_value, 'L', LONG_REF);
    cairn_store *st;
    TRY(store_local_open(&st, dir, 0, 0));
    *out = st;
    return CAIRN_OK;
}

static int ref_run(void *h)
{
    cairn_store *st = h;
    for (size_t i = 0; i < ARRAY_LEN(moves); i++) {
        const ref_move *m = &moves[i];
        TRY(st->ref_cas(st, m->name, m->from, vlen(m->from), m->to, vlen(m->to)));
    }
    return CAIRN_OK;
}

/* Whether ref name holds v (NULL: absent). */
static bool ref_is(cairn_store *st, const char *name, const char *v)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = st->ref_get(st, &b, name);
    bool is = v ? rc == CAIRN_OK && b.len == strlen(v) && memcmp(b.data, v, b.len) == 0
                : rc == CAIRN_ENOTFOUND;
    cairn_buf_dispose(&b);
    return is;
}

static int count_ref(const char *name, const void *val, size_t len, void *payload)
{
    (void)name;
    (void)val;
    (void)len;
    (*(int *)payload)++;
    return 0;
}

static int ref_check(const char *dir, int rc)
{
    (void)rc;
    memset(long_value, 'L', LONG_REF);
    cairn_store *st;
    if (store_local_open(&st, dir, 0, 0) != CAIRN_OK) return ST_BAD;
    /* The moves happen in order: a prefix of them is done, the rest not (each all or nothing). */
    size_t done = 0;
    bool ok = true, later_old = false;
    int present = 0, listed = 0;
    for (size_t i = 0; ok && i < ARRAY_LEN(moves); i++) {
        const ref_move *m = &moves[i];
        bool now = ref_is(st, m->name, m->to), was = ref_is(st, m->name, m->from);
        if (now && !later_old) done++;
        else if (was) later_old = true;
        else ok = false; /* neither value, or a later move done while an earlier one was not */
        if (now ? m->to != NULL : m->from != NULL) present++;
    }
    ok = ok && st->ref_list(st, "", count_ref, &listed) == CAIRN_OK && listed == present;
    /* not wedged: every ref can be moved again */
    for (size_t i = 0; ok && i < ARRAY_LEN(moves); i++) {
        const ref_move *m = &moves[i];
        const char *cur = i < done ? m->to : m->from;
        ok = st->ref_cas(st, m->name, cur, vlen(cur), "again", 5) == CAIRN_OK;
    }
    if (!ok) fprintf(stderr, "refs: %zu moves done, %d present, %d listed: %s\n", done, present,
                     listed, cairn_error_last()->message);
    st->close(st);
    if (!ok) return ST_BAD;
    return done == ARRAY_LEN(moves) ? ST_AFTER : done == 0 ? ST_BEFORE : ST_PARTIAL;
}

static void store_ref_moves(void)
{
    static const scenario sc = { "ref_moves", ref_prepare, ref_open, ref_run, store_close,
                                 ref_check };
    sweep(&sc);
}

/* ---- gc with garbage to compact ---- */

#define GC_PACK_MAX (32u << 10)

static int open_db(cairn_db **out, const char *dir, bool create)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = create ? CAIRN_OPEN_CREATE : 0;
    o.lock_timeout_ms = 5000;
    TRY(cairn_open(out, dir, &o));
    store_local_set_pack_max((*out)->r.store, GC_PACK_MAX);
    return CAIRN_OK;
}

static int fill(cairn_db *db, const char *table, int from, int to, const char *tag)
{
    cairn_table *t;
    TRY(cairn_table_open(&t, db, table, CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    cairn_batch *b;
    int rc = cairn_batch_new(&b, db);
    for (int i = from; rc == CAIRN_OK && i < to; i++) {
        char k[32], v[160];
        int kl = snprintf(k, sizeof k, "k%08d", i);
        int vl = snprintf(v, sizeof v, "%s-%d-%0*d", tag, i, 40 + i % 50, i);
        rc = cairn_batch_put(b, t, k, (size_t)kl, v, (size_t)vl);
    }
    if (rc == CAIRN_OK) rc = cairn_batch_commit(b);
    cairn_batch_free(b);
    cairn_table_close(t);
    return rc;
}

static int commit_msg(cairn_db *db, const char *msg)
{
    cairn_commit_options o = CAIRN_COMMIT_OPTIONS_INIT;
    o.message = msg;
    o.author = "Test <test@example.com>";
    return cairn_commit(NULL, db, &o);
}

typedef struct digest_ctx {
    cairn_db *db;
    cairn_snapshot *snap;
    uint64_t h;
    int rc;
} digest_ctx;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
    *h = (*h ^ n) * 0x100000001b3ull;
}

static int digest_table(const char *name, void *payload)
{
    digest_ctx *d = payload;
    cairn_table *t;
    mix(&d->h, name, strlen(name));
    int rc = cairn_table_open(&t, d->db, name, CAIRN_TABLE_NAMEONLY);
    cairn_cursor *c = NULL;
    if (rc == CAIRN_OK) rc = cairn_cursor_open(&c, t, d->snap, NULL);
    while (rc == CAIRN_OK && (rc = cairn_cursor_next(c)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, c);
        mix(&d->h, k, kl);
        mix(&d->h, v, vl);
    }
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    cairn_cursor_close(c);
    cairn_table_close(t);
    if (rc) d->rc = rc;
    return rc;
}

/* A hash of every table and entry at rev; 0 on error. */
static uint64_t digest_rev(cairn_db *db, const char *rev)
{
    cairn_snapshot *s;
    if (cairn_snapshot_open_at(&s, db, rev) != CAIRN_OK) return 0;
    digest_ctx d = { db, s, 0xcbf29ce484222325ull, 0 };
    int rc = cairn_table_list(db, s, digest_table, &d);
    cairn_snapshot_close(s);
    return rc || d.rc ? 0 : d.h;
}

static uint64_t gc_main, gc_working; /* what must read back (set by gc_prepare) */
static uint64_t gc_chunks_before;    /* chunks before gc (set by gc_prepare) */
static uint64_t gc_chunks_clean;     /* chunks a clean gc leaves (set by the first check) */
static uint64_t gc_chunks_again;     /* chunks gc leaves when run once more after that */

/* Counts the chunks of a store. */
static int count_chunk(const cairn_id *id, uint64_t len, void *payload)
{
    (void)id;
    (void)len;
    (*(uint64_t *)payload)++;
    return 0;
}

static int gc_prepare(const char *dir)
{
    cairn_db *db;
    TRY(open_db(&db, dir, true));
    int rc = fill(db, "t", 0, 3000, "base");
    if (rc == CAIRN_OK) rc = commit_msg(db, "base");
    if (rc == CAIRN_OK) rc = cairn_branch_create(db, "tmp", NULL);
    if (rc == CAIRN_OK) rc = cairn_checkout(db, "tmp");
    if (rc == CAIRN_OK) rc = fill(db, "uniq", 0, 4000, "doomed");
    if (rc == CAIRN_OK) rc = commit_msg(db, "doomed");
    if (rc == CAIRN_OK) rc = cairn_checkout(db, "main");
    if (rc == CAIRN_OK) rc = cairn_branch_delete(db, "tmp");
    /* Overlapping rewrites, each checkpointed: the versions they replace become garbage in the
     * same packs as what stays, so compaction has live records to copy. */
    for (int i = 0; rc == CAIRN_OK && i < 4; i++) {
        rc = fill(db, "t", i * 500, i * 500 + 1500, i % 2 ? "odd" : "even");
        if (rc == CAIRN_OK) rc = cairn_checkpoint(db);
    }
    if (rc == CAIRN_OK) rc = db->r.store->list(db->r.store, count_chunk, &gc_chunks_before);
    if (rc == CAIRN_OK) {
        gc_main = digest_rev(db, "main");
        gc_working = digest_rev(db, "WORKING");
        if (!gc_main || !gc_working) rc = CAIRN_ECORRUPT;
    }
    int crc = cairn_close(db);
    return rc ? rc : crc;
}

static int gc_open(void **out, const char *dir)
{
    cairn_db *db;
    TRY(open_db(&db, dir, false));
    *out = db;
    return CAIRN_OK;
}

static int gc_run(void *h)
{
    cairn_gc_stats gs;
    TRY(cairn_gc(&gs, h, NULL));
    return gs.chunks_deleted > 0 && gs.compacted ? CAIRN_OK
                                                 : ERR(CAIRN_EINVAL, "gc had nothing to do");
}

static void gc_close(void *h)
{
    cairn_close(h);
}

static int gc_check(const char *dir, int rc)
{
    (void)rc;
    cairn_db *db;
    if (open_db(&db, dir, false) != CAIRN_OK) {
        fprintf(stderr, "reopen: %s\n", cairn_error_last()->message);
        return ST_BAD;
    }
    cairn_verify_stats vs;
    int vrc = cairn_verify(&vs, db, NULL);
    uint64_t m = digest_rev(db, "main"), w = digest_rev(db, "WORKING"), chunks = 0;
    int lrc = db->r.store->list(db->r.store, count_chunk, &chunks);
    bool ok = vrc == CAIRN_OK && m == gc_main && w == gc_working && lrc == CAIRN_OK;
    if (!ok) fprintf(stderr, "verify %d (%s), main %d, working %d\n", vrc,
                     vrc ? cairn_error_last()->message : "clean", m == gc_main, w == gc_working);
    if (!gc_chunks_clean) gc_chunks_clean = chunks; /* the first check is of the clean run */
    /* not wedged: gc runs again, and leaves what a clean gc leaves */
    cairn_gc_stats gs;
    if (ok && cairn_gc(&gs, db, NULL) != CAIRN_OK) {
        fprintf(stderr, "gc again: %s\n", cairn_error_last()->message);
        ok = false;
    }
    if (ok && !gc_chunks_again) gc_chunks_again = gs.chunks_after;
    if (ok && gs.chunks_after != gc_chunks_again) {
        fprintf(stderr, "gc again leaves %llu chunks, not %llu\n",
                (unsigned long long)gs.chunks_after, (unsigned long long)gc_chunks_again);
        ok = false;
    }
    cairn_close(db);
    if (!ok) return ST_BAD;
    /* Only garbage is deleted, so a crash may leave some of its deletes (those written out): the
     * reachable data above is what must be before or after, and is the same in both. */
    return chunks == gc_chunks_clean ? ST_AFTER : chunks == gc_chunks_before ? ST_BEFORE
                                                                            : ST_PARTIAL;
}

static void gc_compacts(void)
{
    static const scenario sc = { "gc", gc_prepare, gc_open, gc_run, gc_close, gc_check };
    sweep(&sc);
}

/* ---- key generation ---- */

#define KEY_OPS 1 /* tiny Argon2id limits: the test is about files */
#define KEY_KIB 8

static int key_prepare(const char *dir)
{
    key_test_set_kdf(KEY_OPS, KEY_KIB);
    return cairn_key_generate(NULL, dir, "old", NULL, CAIRN_KEY_UNPROTECTED);
}

static int key_open(void **out, const char *dir)
{
    key_test_set_kdf(KEY_OPS, KEY_KIB);
    *out = (void *)dir;
    return CAIRN_OK;
}

static int key_run(void *h)
{
    return cairn_key_generate(NULL, h, "new", NULL, CAIRN_KEY_UNPROTECTED);
}

static void key_close(void *h)
{
    (void)h;
}

typedef struct key_names {
    bool old, new_, other;
} key_names;

static int key_seen(const cairn_key_info *info, void *payload)
{
    key_names *k = payload;
    if (strcmp(info->name, "old") == 0) k->old = true;
    else if (strcmp(info->name, "new") == 0) k->new_ = true;
    else k->other = true;
    return 0;
}

/* Files in dir besides old.key, old.pub, new.key and new.pub. */
static int stray_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "old.key") &&
            strcmp(e->d_name, "old.pub") && strcmp(e->d_name, "new.key") &&
            strcmp(e->d_name, "new.pub"))
            n++;
    closedir(d);
    return n;
}

static bool exists(const char *dir, const char *file)
{
    char path[4300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return stat(path, &sb) == 0;
}

static int key_check(const char *dir, int rc)
{
    (void)rc;
    key_test_set_kdf(KEY_OPS, KEY_KIB);
    key_names k = { 0 };
    int lrc = cairn_key_list(dir, key_seen, &k);
    bool ok = lrc == CAIRN_OK && k.old && !k.other && stray_files(dir) == 0;
    cairn_signer *s = NULL;
    if (ok && !k.new_) /* no key: no half of one either, and it can be made now */
        ok = !exists(dir, "new.key") && !exists(dir, "new.pub") &&
             cairn_key_generate(NULL, dir, "new", NULL, CAIRN_KEY_UNPROTECTED) == CAIRN_OK;
    if (ok) ok = cairn_signer_open(&s, dir, "new", NULL) == CAIRN_OK; /* complete and usable */
    cairn_signer_close(s);
    if (ok) ok = cairn_signer_open(&s, dir, "old", NULL) == CAIRN_OK;
    cairn_signer_close(s);
    if (!ok) fprintf(stderr, "keys: list %d, old %d, new %d, other %d, stray %d: %s\n", lrc,
                     k.old, k.new_, k.other, stray_files(dir), cairn_error_last()->message);
    return !ok ? ST_BAD : k.new_ ? ST_AFTER : ST_BEFORE;
}

static void key_generate(void)
{
    static const scenario sc = { "key_generate", key_prepare, key_open, key_run, key_close,
                                 key_check };
    sweep(&sc);
}

/* ---- a create that fails part-way leaves the location as it was (issue 10) ---- */

/* What dir holds: -1 missing, else the number of entries (0: an empty directory). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

typedef struct create_fault {
    sys_op op;
    const char *name;
    int err;
    bool sticky;
} create_fault;

/* Creates a repository with the nth call of f's op failing, in a directory that does not exist
 * (existed = false) or exists empty; *out_rc: the open's status. */
static void create_faulted(const create_fault *f, uint64_t nth, bool existed, int *out_rc)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/c-%s-%llu-%d", test_tmpdir(), f->name, (unsigned long long)nth,
             existed);
    if (existed) CHECK(mkdir(dir, 0755) == 0);
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE | CAIRN_OPEN_EXCL;
    cairn_db *db = NULL;
    sys_fault(f->op, nth, f->err, f->sticky);
    int rc = *out_rc = cairn_open(&db, dir, &o);
    sys_fault_clear();
    if (rc == CAIRN_OK) {
        CHECK_OK(cairn_close(db));
        return;
    }
    int left = entries(dir);
    CHECK_MSG(left == (existed ? 0 : -1), "create failing at %s #%llu (%s) left %d entries in "
              "%s: %s", f->name, (unsigned long long)nth, existed ? "empty dir" : "no dir", left,
              dir, cairn_error_last()->message);
    /* and the location takes a create now */
    CHECK_OK(cairn_open(&db, dir, &o));
    CHECK_OK(cairn_close(db));
}

static void create_fails_cleanly(void)
{
    static const create_fault faults[] = {
        { SYS_WRITE, "write", ENOSPC, true },   { SYS_ALLOCATE, "allocate", ENOSPC, true },
        { SYS_MKDIR, "mkdir", ENOSPC, true },   { SYS_OPEN, "open", ENOSPC, false },
        { SYS_FSYNC, "fsync", EIO, false },     { SYS_RENAME, "rename", ENOSPC, false },
        { SYS_TRUNCATE, "truncate", ENOSPC, false }, { SYS_LINK, "link", ENOSPC, false },
    };
    int failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(faults); i++) {
        for (int existed = 0; existed < 2; existed++) {
            uint64_t nth = 1;
            /* each call of the op in turn, until a create runs past all of them */
            for (int rc = -1; nth < 500; nth++, failed++) {
                create_faulted(&faults[i], nth, existed, &rc);
                if (rc == CAIRN_OK) break;
            }
            CHECK_MSG(nth < 500, "a create kept failing at %s", faults[i].name);
        }
    }
    CHECK_MSG(failed > 20, "only %d creates failed: the faults did not reach the create", failed);
}

TEST_MAIN(store_put_flush, store_open_repair, store_ref_moves, gc_compacts, key_generate,
          create_fails_cleanly)
