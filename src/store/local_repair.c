/*
 * local_repair.c - the local store's repair method: what it knows to be damaged or set aside,
 * and the repairs that lose nothing (docs/FORMAT.md, "Reading and recovery on open").
 *
 *   - damaged pack ranges (found by the scans at open and refresh): reported; the valid
 *     records after them are read already; nothing to repair in place (the bytes are kept);
 *     likewise a torn tail kept in place for lack of room (its marker in quarantine/ is not
 *     listed as a quarantine file);
 *   - quarantine/: each file is scanned for valid records (at any byte offset); its chunk
 *     records whose keys are not in the store are put back (appended to the current pack);
 *   - refs/: a slot that fails its checksum while the other is valid is rewritten from the
 *     valid one (local_refs.c); a file neither of whose slots is valid is reported.
 *
 * Nothing here deletes or truncates a file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/sys.h"
#include "store/local_int.h"

#define MSG_MAX 1024

typedef int (*item_fn)(const cairn_repair_item *, void *);

static int emit(cairn_repair_item *it, item_fn cb, void *payload, cairn_repair_stats *st)
{
    st->items++;
    if (it->problem) st->problems++;
    if (it->fixed) st->fixed++;
    return cb ? cb(it, payload) : CAIRN_OK;
}

/* Damaged ranges of the packs, as the scans found them. */
static int packs_damage(local_store *ls, item_fn cb, void *payload, cairn_repair_stats *st)
{
    pthread_rwlock_rdlock(&ls->mu);
    size_t total = 0;
    for (size_t i = 0; i < ls->npacks; i++) total += ls->packs[i]->ndamage;
    typedef struct { uint32_t num; pack_damage d; } one;
    one *v = cairn_malloc((total ? total : 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < ls->npacks; i++)
        for (size_t j = 0; j < ls->packs[i]->ndamage; j++)
            v[n++] = (one){ ls->packs[i]->num, ls->packs[i]->damage[j] };
    pthread_rwlock_unlock(&ls->mu);
    if (!v) return ERR(CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        char file[64], msg[MSG_MAX];
        snprintf(file, sizeof file, "packs/pack-%08u.pack", v[i].num);
        bool header = v[i].d.off == 0;
        if (v[i].d.kept_tail)
            snprintf(msg, sizeof msg,
                     "%s: a torn tail of %llu bytes at offset %llu (the unflushed writes of a "
                     "crash) is kept in place: there was no room on the disk to set it aside in "
                     "quarantine/; the pack takes no more writes and nothing is lost; free some "
                     "space and open the repository for writing, which sets the tail aside and "
                     "cuts the pack", file, (unsigned long long)v[i].d.len,
                     (unsigned long long)v[i].d.off);
        else
            snprintf(msg, sizeof msg,
                     "%s: %llu bytes at offset %llu are damaged (%s)%s; the pack is kept as it "
                     "is and new chunks go to a newer pack. The records in the damaged range are "
                     "lost unless a replica or a backup holds them: 'cairn verify' names every "
                     "chunk the repository needs that is missing; if one is, restore %s from a "
                     "backup", file, (unsigned long long)v[i].d.len,
                     (unsigned long long)v[i].d.off, v[i].d.why,
                     header ? " (its 16-byte header: the valid records after it are read)"
                            : "; the valid records after them are read",
                     file);
        cairn_repair_item it = { CAIRN_REPAIR_PACK_DAMAGE, true, false, file, v[i].d.off,
                                 v[i].d.len, msg };
        rc = emit(&it, cb, payload, st);
    }
    free(v);
    return rc;
}

/* Is key present in the index? */
static bool present(local_store *ls, const cairn_id *key)
{
    pthread_rwlock_rdlock(&ls->mu);
    slot tmp;
    bool yes = local_idx_lookup(ls, key, &tmp) != NULL;
    pthread_rwlock_unlock(&ls->mu);
    if (!yes && local_idx_damaged(ls) && local_idx_full_locked(ls) == CAIRN_OK)
        return present(ls, key);
    return yes;
}

/* Scans one quarantine file: its valid chunk records, how many are in the store, and (when
 * restoring) puts the others back. */
static int quarantine_one(local_store *ls, const char *name, unsigned flags, item_fn cb,
                          void *payload, cairn_repair_stats *st)
{
    char *path = cairn_sprintf("%s/%s", ls->quar_dir, name), *file = cairn_sprintf("quarantine/%s", name);
    if (!path || !file) {
        free(path);
        free(file);
        return ERR(CAIRN_ENOMEM, "out of memory");
    }
    int rc = CAIRN_OK;
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    struct stat sb;
    if (fd < 0 || sys_fstat(fd, &sb) != 0) {
        rc = cairn_error_errno(errno, "local store %s: reading %s", ls->dir, path);
        if (fd >= 0) sys_close(fd);
        free(path);
        free(file);
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size, pos = 0, off;
    uint64_t chunks = 0, in_store = 0, restored = 0;
    bool dry = flags & CAIRN_REPAIR_DRY_RUN;
    cairn_buf rb = CAIRN_BUF_INIT;
    while (rc == CAIRN_OK) {
        int frc = local_find_next_record(fd, path, pos, size, &off);
        if (frc <= 0) {
            rc = frc;
            break;
        }
        uint8_t lenb[REC_LEN_SIZE];
        size_t got;
        rc = sys_read_full(fd, lenb, sizeof lenb, off, &got, path);
        if (rc != CAIRN_OK) break;
        uint32_t body_len = load_le32(lenb);
        size_t need = REC_LEN_SIZE + (size_t)body_len + REC_CHECK_SIZE;
        rc = cairn_buf_reserve(&rb, need);
        if (rc == CAIRN_OK) rc = sys_read_full(fd, rb.data, need, off, &got, path);
        if (rc != CAIRN_OK) break;
        pos = off + need;
        const uint8_t *body = rb.data + REC_LEN_SIZE;
        if (body[0] != REC_CHUNK) continue;
        chunks++;
        cairn_id key;
        memcpy(key.bytes, body + 1, CAIRN_ID_SIZE);
        if (present(ls, &key)) {
            in_store++;
        } else if (!dry) {
            rc = ls->base.put(&ls->base, &key, body + REC_BODY_MIN, body_len - REC_BODY_MIN);
            if (rc == CAIRN_OK) restored++;
        }
    }
    sys_close(fd);
    cairn_buf_dispose(&rb);
    if (rc == CAIRN_OK && restored) rc = ls->base.flush(&ls->base);
    if (rc == CAIRN_OK) {
        char msg[MSG_MAX];
        uint64_t missing = chunks - in_store;
        if (!chunks)
            snprintf(msg, sizeof msg, "%s (%llu bytes cut from a pack's torn tail) holds no valid "
                     "chunk record: nothing to restore; delete it when you no longer want it",
                     file, (unsigned long long)size);
        else if (!missing)
            snprintf(msg, sizeof msg, "%s (%llu bytes cut from a pack's torn tail) holds %llu "
                     "valid chunk record%s, all in the store already: nothing to restore; delete "
                     "it when you no longer want it", file, (unsigned long long)size,
                     (unsigned long long)chunks, chunks == 1 ? "" : "s");
        else if (dry)
            snprintf(msg, sizeof msg, "%s (%llu bytes cut from a pack's torn tail) holds %llu "
                     "valid chunk record%s, %llu of them not in the store: 'cairn repair' puts "
                     "them back", file, (unsigned long long)size, (unsigned long long)chunks,
                     chunks == 1 ? "" : "s", (unsigned long long)missing);
        else
            snprintf(msg, sizeof msg, "%s (%llu bytes cut from a pack's torn tail) held %llu "
                     "valid chunk record%s not in the store: put back (the file is kept; delete "
                     "it when you no longer want it)", file, (unsigned long long)size,
                     (unsigned long long)restored, restored == 1 ? "" : "s");
        cairn_repair_item it = { CAIRN_REPAIR_QUARANTINE, missing > 0, !dry && missing > 0, file,
                                 0, size, msg };
        st->chunks_restored += restored;
        rc = emit(&it, cb, payload, st);
    } else if (rc < 0) {
        rc = cairn_error_prefix(rc, "local store %s: %s %s", ls->dir,
                                dry ? "reading" : "restoring the chunks of", path);
    }
    free(path);
    free(file);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int quarantine_damage(local_store *ls, unsigned flags, item_fn cb, void *payload,
                             cairn_repair_stats *st)
{
    DIR *d = sys_opendir(ls->quar_dir);
    if (!d) {
        if (errno == ENOENT) return CAIRN_OK;
        return cairn_error_errno(errno, "local store %s: listing %s", ls->dir, ls->quar_dir);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = CAIRN_OK;
    struct dirent *de;
    while (rc == CAIRN_OK && (de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name), sl = strlen(KEPT_TAIL_SUFFIX);
        bool marker = nl > sl && strcmp(de->d_name + nl - sl, KEPT_TAIL_SUFFIX) == 0;
        if (de->d_name[0] == '.' || marker)
            continue; /* a marker: its tail is in its pack, reported with the packs */
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = cairn_realloc(names, cap * sizeof *nv);
            if (!nv) {
                rc = ERR(CAIRN_ENOMEM, "out of memory");
                break;
            }
            names = nv;
        }
        if (!(names[n] = cairn_strdup(de->d_name))) rc = ERR(CAIRN_ENOMEM, "out of memory");
        else n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++)
        rc = quarantine_one(ls, names[i], flags, cb, payload, st);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int local_repair(cairn_store *st, unsigned flags, item_fn cb, void *payload,
                 cairn_repair_stats *out)
{
    local_store *ls = (local_store *)st;
    cairn_repair_stats s;
    memset(&s, 0, sizeof s);
    if (out) memset(out, 0, sizeof *out);
    if (!(flags & CAIRN_REPAIR_DRY_RUN) && ls->readonly) return local_readonly_error(ls, "repair");
    TRY(local_idx_full_locked(ls));
    int rc = packs_damage(ls, cb, payload, &s);
    if (rc == CAIRN_OK) rc = quarantine_damage(ls, flags, cb, payload, &s);
    if (rc == CAIRN_OK) rc = local_refs_damage(ls, flags, cb, payload, &s);
    if (out) *out = s;
    return rc;
}
