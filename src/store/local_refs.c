/*
 * local_refs.c - the local store's refs: one file each under refs/ (a name's '/' are
 * directories), two checksummed slots moved in place with one fdatasync (refslot.h), or written
 * whole through a temp file and a durable rename (a new ref, a value too long for a slot).
 * ref_cas is atomic within the process by ref_mu, and across processes because only the one
 * writer process (the LOCK) moves refs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/sys.h"
#include "store/local_int.h"

/* Why name cannot be a ref of this store (static text), or NULL: the shared rules, plus one of
 * this backend's: a "." component would alias another path. Sets no message. */
static const char *ref_problem(const char *name)
{
    const char *why = store_ref_name_problem(name);
    if (why) return why;
    for (const char *c = name; c; c = strchr(c, '/')) {
        if (*c == '/') c++;
        if (c[0] == '.' && (c[1] == '/' || c[1] == '\0'))
            return "has a '.' component, which the local store cannot hold as a file name";
    }
    return NULL;
}

static int ref_check(const char *name)
{
    const char *why = ref_problem(name);
    FAIL_IF(why, CAIRN_EINVAL, "ref name '%.255s' %s", name, why);
    return CAIRN_OK;
}

/* Reads refs/<name>: CAIRN_OK, CAIRN_ENOTFOUND (no message set) or an error. A slotted file
 * (refslot.h) yields its newest valid slot; *ver (if asked) says which, or has slot UINT_MAX
 * for a plain file. */
static int ref_read(local_store *ls, const char *name, cairn_buf *out, refslot_version *ver)
{
    if (ver) ver->slot = UINT_MAX;
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR) return CAIRN_ENOTFOUND;
        return cairn_error_errno(e, "local store %s: reading ref '%s'", ls->dir, name);
    }
    size_t r = 0;
    int rc = cairn_buf_reserve(out, REFSLOT_FILE_SIZE + 1);
    if (rc == CAIRN_OK) rc = sys_read_full(fd, out->data, REFSLOT_FILE_SIZE + 1, 0, &r, path);
    /* Both slots torn is damage, or a read that overlapped two moves of the writer (one per
     * slot): look again before calling it damage. */
    refslot_version v;
    int drc = CAIRN_OK;
    for (int again = 0; rc == CAIRN_OK && r == REFSLOT_FILE_SIZE; again++) {
        drc = refslot_decode(out->data, r, path, &v);
        if (drc == CAIRN_OK || again == 3) break;
        nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
        rc = sys_read_full(fd, out->data, REFSLOT_FILE_SIZE + 1, 0, &r, path);
    }
    struct stat sb;
    if (rc < 0 && sys_fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        /* refs/<name> is a directory: other refs live below it, this one does not exist */
        cairn_error_clear();
        rc = CAIRN_ENOTFOUND;
    } else if (rc < 0) {
        rc = cairn_error_prefix(rc, "local store %s: reading ref '%s'", ls->dir, name);
    }
    sys_close(fd);
    if (rc == CAIRN_OK && r == REFSLOT_FILE_SIZE) {
        rc = drc;
        if (rc < 0)
            rc = CORRUPT("local store %s: ref file %s is damaged (neither of its two slots is "
                         "valid); %s", ls->dir, path,
                         strncmp(name, "working/", 8) == 0
                             ? "delete it to start this working state again from its branch's "
                               "last commit (writes not committed since then are lost)"
                             : "restore it from a backup, or delete it and create the ref again "
                               "at a known commit");
        if (rc == CAIRN_OK) {
            memmove(out->data, v.value, v.len);
            out->len = v.len;
            if (ver) *ver = v;
        }
    } else if (rc == CAIRN_OK && r > REF_VALUE_MAX) {
        rc = CORRUPT("local store %s: ref file %s has %zu bytes, neither a value (at most %d) "
                     "nor a slotted ref file (%u); it was not written by cairn", ls->dir, path,
                     r, REF_VALUE_MAX, REFSLOT_FILE_SIZE);
    } else if (rc == CAIRN_OK) {
        out->len = (size_t)r;
    }
    free(path);
    return rc;
}

int local_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    local_store *ls = (local_store *)st;
    TRY(ref_check(name));
    int rc = ref_read(ls, name, out, NULL);
    if (rc == CAIRN_ENOTFOUND) return ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist in %s", name, ls->dir);
    return rc;
}

/* Creates the directories above refs/<name>, each made durable in its parent. */
static int ref_mkdirs(local_store *ls, const char *name)
{
    for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
        int plen = (int)(s - name);
        char *d = cairn_sprintf("%s/%.*s", ls->refs_dir, plen, name);
        if (!d) return ERR(CAIRN_ENOMEM, "out of memory");
        int rc = CAIRN_OK;
        struct stat sb;
        if (sys_mkdir(d, 0777) == 0) {
            char *parent = local_parent_of(d);
            rc = parent ? sys_fsync_dir(parent) : ERR(CAIRN_ENOMEM, "out of memory");
            free(parent);
        } else {
            int e = errno;
            if (e == EEXIST && sys_stat(d, &sb) == 0 && S_ISDIR(sb.st_mode)) rc = CAIRN_OK;
            else if (e == EEXIST || e == ENOTDIR)
                rc = ERR(CAIRN_EINVAL, "ref '%s' cannot be created in %s: ref '%.*s' exists, and "
                         "a ref name cannot also be a directory of other refs (as in git)", name,
                         ls->dir, plen, name);
            else rc = cairn_error_errno(e, "local store %s: creating directory %s", ls->dir, d);
        }
        free(d);
        TRY(rc);
    }
    return CAIRN_OK;
}

/* Moves a slotted ref in place: the older slot gets the new version, then fdatasync (the file's
 * blocks exist, so no metadata has to reach the disk). */
static int ref_overwrite(local_store *ls, const char *name, const refslot_version *cur,
                         const void *val, size_t len)
{
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    uint8_t *buf = cairn_malloc(REFSLOT_SIZE);
    int rc = CAIRN_OK;
    if (!path || !buf) {
        rc = ERR(CAIRN_ENOMEM, "out of memory");
        goto out;
    }
    unsigned other = 1 - cur->slot;
    refslot_encode(buf, cur->seq + 1, val, len);
    int fd = sys_open(path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = cairn_error_errno(errno, "local store %s: opening ref file %s to move it (the ref "
                               "keeps its old value)", ls->dir, path);
        goto out;
    }
    rc = sys_write_all(fd, buf, REFSLOT_SIZE, (uint64_t)other * REFSLOT_SIZE, path);
    if (rc != CAIRN_OK)
        rc = cairn_error_prefix(rc, "local store %s: moving ref '%s' (the ref keeps its old "
                                "value)", ls->dir, name);
    else if (sys_fdatasync(fd) != 0)
        rc = cairn_error_errno(errno, "local store %s: syncing ref file %s (the move may not be "
                               "durable)", ls->dir, path);
    sys_close(fd);
out:
    free(buf);
    free(path);
    return rc;
}

/* Writes refs/<name> whole (a new ref, a plain file, or a value too long for a slot): slotted
 * unless the value does not fit, through a temp file and a rename. */
static int ref_write(local_store *ls, const char *name, const void *val, size_t len)
{
    TRY(ref_mkdirs(ls, name));
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    struct stat sb;
    int rc;
    if (sys_stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        rc = ERR(CAIRN_EINVAL, "ref '%s' cannot be created in %s: refs named '%s/...' exist, and "
                 "a ref name cannot also be a directory of other refs (as in git)", name, ls->dir,
                 name);
    } else if (len <= REFSLOT_VALUE_MAX) {
        uint8_t *file = cairn_calloc(1, REFSLOT_FILE_SIZE); /* slot 1 stays invalid (zeros) */
        if (!file) {
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        } else {
            refslot_encode(file, 1, val, len);
            rc = local_write_atomic(ls, path, file, REFSLOT_FILE_SIZE);
            free(file);
        }
    } else {
        rc = local_write_atomic(ls, path, val, len);
    }
    free(path);
    return rc;
}

/* Removes refs/<name>, then the directories above it that became empty. */
static int ref_unlink(local_store *ls, const char *name)
{
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name);
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    if (sys_unlink(path) != 0 && errno != ENOENT)
        rc = cairn_error_errno(errno, "local store %s: deleting ref file %s", ls->dir, path);
    char *parent = rc == CAIRN_OK ? local_parent_of(path) : NULL;
    if (rc == CAIRN_OK) rc = parent ? sys_fsync_dir(parent) : ERR(CAIRN_ENOMEM, "out of memory");
    /* Tidy up: a later ref may need the name of an emptied directory (rmdir fails if not empty). */
    while (rc == CAIRN_OK && strlen(parent) > strlen(ls->refs_dir) && sys_rmdir(parent) == 0) {
        char *up = local_parent_of(parent);
        free(parent);
        parent = up;
        if (!parent) break;
    }
    free(parent);
    free(path);
    return rc;
}

int local_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                  const void *val, size_t vlen)
{
    local_store *ls = (local_store *)st;
    TRY(ref_check(name));
    TRY(store_check_ref_value(name, vlen));
    if (ls->readonly) return local_readonly_error(ls, "move refs");
    pthread_mutex_lock(&ls->ref_mu);
    cairn_buf cur = CAIRN_BUF_INIT;
    refslot_version ver;
    int rc = ref_read(ls, name, &cur, &ver);
    bool exists = rc == CAIRN_OK;
    if (rc == CAIRN_ENOTFOUND) rc = CAIRN_OK;
    if (rc == CAIRN_OK) {
        if (!expect && exists)
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: it exists in %s but the "
                     "compare-and-swap expected it absent; read it again and retry", name, ls->dir);
        else if (expect && !exists)
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: it does not exist in %s "
                     "(compare-and-swap failed); read it again and retry", name, ls->dir);
        else if (expect && (cur.len != elen || (elen && memcmp(cur.data, expect, elen) != 0)))
            rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently: its value in %s is not the "
                     "expected one (compare-and-swap failed); read it again and retry", name,
                     ls->dir);
    }
    if (rc == CAIRN_OK && val && exists && ver.slot != UINT_MAX && vlen <= REFSLOT_VALUE_MAX)
        rc = ref_overwrite(ls, name, &ver, val, vlen);
    else if (rc == CAIRN_OK && val) rc = ref_write(ls, name, val, vlen);
    else if (rc == CAIRN_OK && exists) rc = ref_unlink(ls, name);
    pthread_mutex_unlock(&ls->ref_mu);
    cairn_buf_dispose(&cur);
    return rc;
}

typedef struct namevec {
    char **v;
    size_t n, cap;
} namevec;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Could the directory refs/<rel> hold a ref whose name starts with prefix? */
static bool dir_may_match(const char *rel, const char *prefix)
{
    size_t rl = strlen(rel), pl = strlen(prefix);
    if (pl <= rl) return strncmp(rel, prefix, pl) == 0;
    return strncmp(rel, prefix, rl) == 0 && prefix[rl] == '/';
}

/* Collects the names of the ref files under refs/<rel> ("" = refs/ itself). */
static int ref_walk(local_store *ls, const char *rel, const char *prefix, namevec *out)
{
    char *dpath = *rel ? cairn_sprintf("%s/%s", ls->refs_dir, rel) : cairn_strdup(ls->refs_dir);
    if (!dpath) return ERR(CAIRN_ENOMEM, "out of memory");
    DIR *d = sys_opendir(dpath);
    if (!d) {
        int e = errno;
        free(dpath);
        if (e == ENOENT || e == ENOTDIR) return CAIRN_OK;
        return cairn_error_errno(e, "local store %s: listing refs", ls->dir);
    }
    int rc = CAIRN_OK;
    struct dirent *de;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *child = *rel ? cairn_sprintf("%s/%s", rel, de->d_name) : cairn_strdup(de->d_name);
        if (!child) {
            rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
            break;
        }
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) { /* some file systems do not say: ask */
            struct stat sb;
            char *full = cairn_sprintf("%s/%s", dpath, de->d_name);
            if (full && sys_stat(full, &sb) == 0)
                type = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
            free(full);
        }
        if (type == DT_DIR) {
            if (dir_may_match(child, prefix)) rc = ref_walk(ls, child, prefix, out);
            free(child);
        } else if (type == DT_REG && strncmp(child, prefix, strlen(prefix)) == 0) {
            if (out->n == out->cap) {
                size_t ncap = out->cap ? out->cap * 2 : 16;
                char **nv = cairn_realloc(out->v, ncap * sizeof *nv);
                if (!nv) {
                    free(child);
                    rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
                    break;
                }
                out->v = nv;
                out->cap = ncap;
            }
            out->v[out->n++] = child;
        } else {
            free(child);
        }
    }
    closedir(d);
    free(dpath);
    return rc;
}

int local_ref_list(cairn_store *st, const char *prefix,
                   int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    local_store *ls = (local_store *)st;
    if (!prefix) prefix = "";
    namevec names = { 0 };
    int rc = ref_walk(ls, "", prefix, &names);
    if (rc == CAIRN_OK && names.n) qsort(names.v, names.n, sizeof *names.v, name_cmp);
    cairn_buf val = CAIRN_BUF_INIT;
    size_t ndamaged = 0;
    char *first_damaged = NULL; /* its message */
    for (size_t i = 0; rc == CAIRN_OK && i < names.n; i++) {
        if (ref_problem(names.v[i])) continue; /* not a file cairn wrote */
        rc = ref_read(ls, names.v[i], &val, NULL);
        if (rc == CAIRN_ENOTFOUND) { /* deleted while we walked */
            rc = CAIRN_OK;
            continue;
        }
        if (rc == CAIRN_ECORRUPT) { /* list the others; say so at the end */
            if (ndamaged++ == 0) first_damaged = cairn_strdup(cairn_error_last()->message);
            rc = CAIRN_OK;
            continue;
        }
        if (rc == CAIRN_OK) rc = cb(names.v[i], val.data, val.len, payload);
    }
    for (size_t i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    cairn_buf_dispose(&val);
    if (rc == CAIRN_OK && ndamaged)
        rc = CORRUPT("%s%s (every other ref was listed; 'cairn verify' lists each damaged ref)",
                     first_damaged ? first_damaged : "a ref file is damaged",
                     ndamaged > 1 ? ", and more ref files are damaged" : "");
    free(first_damaged);
    return rc;
}

int local_ref_remove_damaged(cairn_store *st, const char *name)
{
    local_store *ls = (local_store *)st;
    TRY(ref_check(name));
    if (ls->readonly) return local_readonly_error(ls, "delete refs");
    pthread_mutex_lock(&ls->ref_mu);
    cairn_buf cur = CAIRN_BUF_INIT;
    int rc = ref_read(ls, name, &cur, NULL);
    if (rc == CAIRN_ENOTFOUND)
        rc = ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist in %s", name, ls->dir);
    else if (rc == CAIRN_OK)
        rc = ERR(CAIRN_EINVAL, "ref '%s' in %s is not damaged (its value reads): delete it with "
                 "a compare-and-swap", name, ls->dir);
    else if (rc == CAIRN_ECORRUPT) {
        cairn_error_clear();
        rc = ref_unlink(ls, name);
    }
    pthread_mutex_unlock(&ls->ref_mu);
    cairn_buf_dispose(&cur);
    return rc;
}

/* ---- damage: what repair reports about refs ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* The value as printable text (at most 80 characters) into out. */
static void value_text(char *out, size_t size, const uint8_t *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < size && i < 80; i++) {
        if (v[i] == '\n' && i + 1 == len) break;
        out[o++] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
    }
    if (len > 80 && o + 4 < size) out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = '\0';
}

/* Reports (and, when asked, repairs) ref file `name`. */
static int ref_damage_one(local_store *ls, const char *name, unsigned flags,
                          int (*cb)(const cairn_repair_item *, void *), void *payload,
                          cairn_repair_stats *st)
{
    char *path = cairn_sprintf("%s/%s", ls->refs_dir, name), *file = cairn_sprintf("refs/%s", name);
    uint8_t *d = cairn_malloc(REFSLOT_FILE_SIZE + 1);
    char msg[1024], val[96];
    int rc = CAIRN_OK;
    if (!path || !file || !d) {
        rc = ERR(CAIRN_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&ls->ref_mu);
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    size_t n = 0;
    if (fd < 0) {
        pthread_mutex_unlock(&ls->ref_mu);
        if (errno != ENOENT) rc = cairn_error_errno(errno, "local store %s: reading %s", ls->dir, path);
        goto out;
    }
    rc = sys_read_full(fd, d, REFSLOT_FILE_SIZE + 1, 0, &n, path);
    sys_close(fd);
    cairn_repair_item it = { 0, true, false, file, 0, 0, msg };
    const char *how = strncmp(name, "heads/", 6) == 0 ? "cairn branch -d"
                      : strncmp(name, "tags/", 5) == 0 ? "cairn tag -d" : NULL;
    const char *short_name = how ? strchr(name, '/') + 1 : name;
    bool report = false;
    if (rc == CAIRN_OK && n == REFSLOT_FILE_SIZE) {
        refslot_version v;
        if (refslot_decode(d, n, path, &v) != CAIRN_OK) {
            cairn_error_clear();
            it.kind = CAIRN_REPAIR_REF_DAMAGED;
            snprintf(msg, sizeof msg, "ref file %s (ref '%s') is damaged: neither of its two "
                     "slots is valid, so its value cannot be read and nothing reaches what it "
                     "named; repair cannot restore a value it cannot read: restore the file from "
                     "a backup, or delete the ref%s%s%s%s and create it again at a known commit",
                     file, name, how ? " (" : "", how ? how : "", how ? " " : "",
                     how ? short_name : "");
            if (how) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
            report = true;
        } else {
            const uint8_t *bad = d + (size_t)(1 - v.slot) * REFSLOT_SIZE;
            if (!refslot_valid(bad) && !all_zero(bad, REFSLOT_SIZE)) {
                it.kind = CAIRN_REPAIR_REF_SLOT;
                uint64_t bseq = load_le64(bad + 8);
                bool seq_readable = memcmp(bad, "CREF", 4) == 0;
                value_text(val, sizeof val, v.value, v.len);
                snprintf(msg, sizeof msg, "ref file %s (ref '%s'): slot %u fails its checksum; "
                         "the ref reads slot %u instead (sequence %llu): '%s'%s; %s", file, name,
                         1 - v.slot, v.slot, (unsigned long long)v.seq, val,
                         seq_readable && bseq > v.seq
                             ? ". The damaged slot's sequence number is newer, so it may have "
                               "held a later value: acknowledged moves of the ref may be lost "
                               "(or a crash tore a move that was never acknowledged)"
                             : "",
                         (flags & CAIRN_REPAIR_DRY_RUN)
                             ? "if that value is right, 'cairn repair' rewrites the damaged slot "
                               "from it; if not, restore the file from a backup"
                             : "the damaged slot was rewritten from it");
                report = true;
                if (!(flags & CAIRN_REPAIR_DRY_RUN)) {
                    rc = ref_overwrite(ls, name, &v, v.value, v.len);
                    if (rc == CAIRN_OK) {
                        it.fixed = true;
                        st->slots_rewritten++;
                    }
                }
            }
        }
    } else if (rc == CAIRN_OK && n > REF_VALUE_MAX) {
        it.kind = CAIRN_REPAIR_REF_DAMAGED;
        snprintf(msg, sizeof msg, "ref file %s (ref '%s') has %zu bytes, neither a value nor a "
                 "slotted ref file: it was not written by cairn; restore it from a backup, or "
                 "delete the ref and create it again", file, name, n);
        report = true;
    }
    pthread_mutex_unlock(&ls->ref_mu);
    if (rc == CAIRN_OK && report) {
        st->items++;
        st->problems++;
        if (it.fixed) st->fixed++;
        if (cb) rc = cb(&it, payload);
    }
out:
    free(path);
    free(file);
    free(d);
    return rc;
}

int local_refs_damage(local_store *ls, unsigned flags,
                      int (*cb)(const cairn_repair_item *, void *), void *payload,
                      cairn_repair_stats *st)
{
    namevec names = { 0 };
    int rc = ref_walk(ls, "", "", &names);
    if (rc == CAIRN_OK && names.n) qsort(names.v, names.n, sizeof *names.v, name_cmp);
    for (size_t i = 0; rc == CAIRN_OK && i < names.n; i++) {
        if (ref_check(names.v[i]) != CAIRN_OK) {
            cairn_error_clear();
            continue;
        }
        rc = ref_damage_one(ls, names.v[i], flags, cb, payload, st);
    }
    for (size_t i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    return rc;
}
