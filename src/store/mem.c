/*
 * mem.c - the in-memory store: chunks in a hash table, refs in a sorted array, one mutex.
 * Used for "mem:" repositories and as the reference backend in the conformance suite.
 * flush() is a no-op: nothing here survives the process.
 *
 * The file namespace (for the write-ahead log and reader pins of "mem:" repositories): files
 * are growable byte arrays in a list, under their own mutex; directories exist while a file is
 * below them. A removed or replaced file lives on for the handles still open on it, as on a
 * POSIX file system. There is no file_reserve (memory is not reserved ahead: the log's
 * segments then grow as they are written). Locks are kept per handle; they exclude every other holder there can be,
 * since no other process can reach this memory (so the store has CAIRN_STORE_CAP_FILE_LOCKS).
 */
#include <pthread.h>
#include <stdlib.h>

#include "store.h"
#include "store/refname.h"

typedef struct mem_chunk {
    struct mem_chunk *next;
    cairn_id key;
    size_t len;
    uint8_t data[];
} mem_chunk;

typedef struct mem_ref {
    char *name;
    uint8_t *val;
    size_t len;
} mem_ref;

typedef struct mem_file {
    char *name;              /* NULL once removed or replaced */
    uint8_t *data;
    size_t len, cap;
    unsigned handles;        /* open handles */
    unsigned shared;         /* shared locks held */
    bool exclusive;          /* an exclusive lock is held */
} mem_file;

typedef struct mem_handle {
    mem_file *f;
    unsigned lock;           /* CAIRN_FILE_UNLOCK, _LOCK_SHARED or _LOCK_EXCLUSIVE */
    bool writable;
} mem_handle;

typedef struct mem_store {
    cairn_store base;
    pthread_mutex_t mu;
    mem_chunk **buckets;
    size_t mask, n, bytes;
    mem_ref *refs;
    size_t nrefs, caprefs;
    /* the file namespace */
    pthread_mutex_t fmu;
    pthread_cond_t fcv;      /* a lock was released */
    mem_file **files;        /* the named ones */
    size_t nfiles, capfiles;
} mem_store;

static mem_chunk **mem_find(mem_store *m, const cairn_id *key)
{
    mem_chunk **pp = &m->buckets[load_le64(key->bytes) & m->mask];
    while (*pp && memcmp((*pp)->key.bytes, key->bytes, CAIRN_ID_SIZE) != 0) pp = &(*pp)->next;
    return pp;
}

static int mem_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    mem_chunk *c = *mem_find(m, key);
    int rc = c ? cairn_buf_set(out, c->data, c->len) : CAIRN_ENOTFOUND;
    pthread_mutex_unlock(&m->mu);
    if (rc == CAIRN_ENOTFOUND) {
        char hex[CAIRN_ID_HEX_SIZE];
        cairn_id_to_hex(hex, key);
        return ERR(CAIRN_ENOTFOUND, "chunk %s is not in the mem store", hex);
    }
    return rc;
}

static void mem_grow(mem_store *m)
{
    size_t nmask = m->mask * 2 + 1;
    mem_chunk **nb = cairn_calloc(nmask + 1, sizeof *nb);
    if (!nb) return;
    for (size_t i = 0; i <= m->mask; i++) {
        for (mem_chunk *c = m->buckets[i]; c;) {
            mem_chunk *next = c->next;
            size_t b = load_le64(c->key.bytes) & nmask;
            c->next = nb[b];
            nb[b] = c;
            c = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->mask = nmask;
}

static int mem_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    mem_store *m = (mem_store *)st;
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->mu);
    mem_chunk **slot = mem_find(m, key);
    if (!*slot) {
        mem_chunk *c = cairn_malloc(sizeof *c + len);
        if (!c) {
            rc = ERR(CAIRN_ENOMEM, "mem store: out of memory storing %zu bytes", len);
        } else {
            c->next = NULL;
            c->key = *key;
            c->len = len;
            if (len) memcpy(c->data, data, len);
            *slot = c;
            m->n++;
            m->bytes += len;
            if (m->n > 2 * (m->mask + 1)) mem_grow(m);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_has(cairn_store *st, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    bool present = *mem_find(m, key) != NULL;
    pthread_mutex_unlock(&m->mu);
    return present ? CAIRN_OK : CAIRN_ENOTFOUND;
}

static int mem_del(cairn_store *st, const cairn_id *key)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    mem_chunk **slot = mem_find(m, key);
    if (*slot) {
        mem_chunk *c = *slot;
        *slot = c->next;
        m->n--;
        m->bytes -= c->len;
        free(c);
    }
    pthread_mutex_unlock(&m->mu);
    return CAIRN_OK;
}

static int mem_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *), void *payload)
{
    mem_store *m = (mem_store *)st;
    /* Snapshot the keys first so that cb may call back into the store. */
    pthread_mutex_lock(&m->mu);
    size_t n = m->n, i = 0;
    cairn_id *keys = cairn_malloc((n ? n : 1) * sizeof *keys);
    uint64_t *lens = cairn_malloc((n ? n : 1) * sizeof *lens);
    if (keys && lens) {
        for (size_t b = 0; b <= m->mask; b++)
            for (mem_chunk *c = m->buckets[b]; c; c = c->next) {
                keys[i] = c->key;
                lens[i++] = c->len;
            }
    }
    pthread_mutex_unlock(&m->mu);
    int rc = CAIRN_OK;
    if (!keys || !lens) rc = ERR(CAIRN_ENOMEM, "mem store: out of memory listing chunks");
    for (size_t j = 0; rc == CAIRN_OK && j < i; j++) rc = cb(&keys[j], lens[j], payload);
    free(keys);
    free(lens);
    return rc;
}

static int mem_flush(cairn_store *st)
{
    (void)st;
    return CAIRN_OK;
}

/* Binary search: index of name, or where it would go (*found = false). */
static size_t ref_pos(mem_store *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->nrefs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->refs[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

static int mem_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_ref_name(name));
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t i = ref_pos(m, name, &found);
    int rc = found ? cairn_buf_set(out, m->refs[i].val, m->refs[i].len) : CAIRN_ENOTFOUND;
    pthread_mutex_unlock(&m->mu);
    if (rc == CAIRN_ENOTFOUND) return ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist", name);
    return rc;
}

static int mem_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                       const void *val, size_t vlen)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_ref_name(name));
    TRY(store_check_ref_value(name, vlen));
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t i = ref_pos(m, name, &found);
    if (expect ? !(found && m->refs[i].len == elen && memcmp(m->refs[i].val, expect, elen) == 0)
               : found) {
        rc = ERR(CAIRN_ECONFLICT, "ref '%s' changed concurrently (compare-and-swap failed)", name);
    } else if (!val) {
        if (found) {
            free(m->refs[i].name);
            free(m->refs[i].val);
            memmove(&m->refs[i], &m->refs[i + 1], (m->nrefs - i - 1) * sizeof *m->refs);
            m->nrefs--;
        }
    } else {
        uint8_t *copy = cairn_malloc(vlen);
        char *nm = found ? NULL : cairn_strdup(name);
        if (!copy || (!found && !nm)) {
            free(copy);
            free(nm);
            rc = ERR(CAIRN_ENOMEM, "mem store: out of memory setting ref '%s'", name);
        } else if (found) {
            memcpy(copy, val, vlen);
            free(m->refs[i].val);
            m->refs[i].val = copy;
            m->refs[i].len = vlen;
        } else {
            if (m->nrefs == m->caprefs) {
                size_t ncap = m->caprefs ? m->caprefs * 2 : 8;
                mem_ref *nr = cairn_realloc(m->refs, ncap * sizeof *nr);
                if (!nr) {
                    free(copy);
                    free(nm);
                    pthread_mutex_unlock(&m->mu);
                    return ERR(CAIRN_ENOMEM, "mem store: out of memory setting ref '%s'", name);
                }
                m->refs = nr;
                m->caprefs = ncap;
            }
            memcpy(copy, val, vlen);
            memmove(&m->refs[i + 1], &m->refs[i], (m->nrefs - i) * sizeof *m->refs);
            m->refs[i] = (mem_ref){ nm, copy, vlen };
            m->nrefs++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_ref_list(cairn_store *st, const char *prefix,
                        int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    mem_store *m = (mem_store *)st;
    size_t plen = strlen(prefix);
    /* Copy matching refs out first so that cb may call back into the store. */
    pthread_mutex_lock(&m->mu);
    mem_ref *copy = cairn_calloc(m->nrefs ? m->nrefs : 1, sizeof *copy);
    size_t n = 0;
    int rc = CAIRN_OK;
    if (!copy) rc = ERR(CAIRN_ENOMEM, "mem store: out of memory listing refs");
    for (size_t i = 0; rc == CAIRN_OK && i < m->nrefs; i++) {
        if (strncmp(m->refs[i].name, prefix, plen) != 0) continue;
        copy[n].name = cairn_strdup(m->refs[i].name);
        copy[n].val = cairn_malloc(m->refs[i].len);
        copy[n].len = m->refs[i].len;
        if (!copy[n].name || !copy[n].val) rc = ERR(CAIRN_ENOMEM, "out of memory listing refs");
        else memcpy(copy[n].val, m->refs[i].val, m->refs[i].len);
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++)
        rc = cb(copy[i].name, copy[i].val, copy[i].len, payload);
    for (size_t i = 0; copy && i < n; i++) {
        free(copy[i].name);
        free(copy[i].val);
    }
    free(copy);
    return rc;
}

static int mem_stat(cairn_store *st, cairn_store_stats *out)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->mu);
    out->chunks = m->n;
    out->bytes = m->bytes;
    out->files = 0;
    pthread_mutex_unlock(&m->mu);
    return CAIRN_OK;
}

/* ---- the file namespace ---- */

/* The named file `name` (fmu held), or NULL; *at gets its index. */
static mem_file *file_find(mem_store *m, const char *name, size_t *at)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i]->name, name) == 0) {
            if (at) *at = i;
            return m->files[i];
        }
    return NULL;
}

/* Whether name would be both a file and a directory (fmu held): "a" and "a/b". */
static bool file_clashes(mem_store *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->nfiles; i++) {
        const char *o = m->files[i]->name;
        size_t on = strlen(o);
        if ((on > n && o[n] == '/' && memcmp(o, name, n) == 0) ||
            (n > on && name[on] == '/' && memcmp(o, name, on) == 0))
            return true;
    }
    return false;
}

/* Drops a file from the names (fmu held); frees it when no handle has it open. */
static void file_unname(mem_store *m, size_t at)
{
    mem_file *f = m->files[at];
    m->files[at] = m->files[--m->nfiles];
    free(f->name);
    f->name = NULL;
    if (!f->handles) {
        free(f->data);
        free(f);
    }
}

static int mem_file_open(cairn_store *st, cairn_store_file **out, const char *name, unsigned flags)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_file_name(name, false));
    mem_handle *h = cairn_calloc(1, sizeof *h);
    FAIL_IF(!h, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->fmu);
    mem_file *f = file_find(m, name, NULL);
    if (f && (flags & CAIRN_FILE_CREATE) && (flags & CAIRN_FILE_EXCL))
        rc = ERR(CAIRN_EEXIST, "file %s exists in the mem store", name);
    else if (!f && !(flags & CAIRN_FILE_CREATE))
        rc = ERR(CAIRN_ENOTFOUND, "file %s does not exist in the mem store", name);
    else if (!f && file_clashes(m, name))
        rc = ERR(CAIRN_EINVAL, "file %s: a file cannot also be a directory", name);
    else if (!f) {
        f = cairn_calloc(1, sizeof *f);
        if (f) f->name = cairn_strdup(name);
        if (!f || !f->name || cairn_array_room(&m->files, &m->capfiles, m->nfiles,
                                               sizeof *m->files, 16) != CAIRN_OK) {
            if (f) free(f->name);
            free(f);
            f = NULL;
            rc = ERR(CAIRN_ENOMEM, "out of memory");
        } else {
            m->files[m->nfiles++] = f;
        }
    }
    if (rc == CAIRN_OK) {
        if (flags & CAIRN_FILE_TRUNC) f->len = 0;
        f->handles++;
        h->f = f;
        h->writable = (flags & CAIRN_FILE_WRITE) != 0;
    }
    pthread_mutex_unlock(&m->fmu);
    if (rc < 0) free(h);
    else *out = (cairn_store_file *)(void *)h;
    return rc;
}

static inline mem_handle *handle_of(cairn_store_file *f) { return (mem_handle *)(void *)f; }

static int mem_file_read(cairn_store *st, cairn_store_file *file, void *buf, size_t len,
                         uint64_t off, size_t *out_n)
{
    mem_store *m = (mem_store *)st;
    mem_file *f = handle_of(file)->f;
    pthread_mutex_lock(&m->fmu);
    size_t n = off < f->len ? MIN(len, f->len - (size_t)off) : 0;
    if (n) memcpy(buf, f->data + off, n);
    pthread_mutex_unlock(&m->fmu);
    *out_n = n;
    return CAIRN_OK;
}

/* Makes f at least size bytes (fmu held), the new ones zero. */
static int file_grow(mem_file *f, uint64_t size)
{
    FAIL_IF(size > SIZE_MAX / 2, CAIRN_ENOSPC, "a mem store file cannot hold %llu bytes",
            (unsigned long long)size);
    if (size > f->cap) {
        size_t cap = MAX((size_t)size, f->cap * 2);
        uint8_t *d = cairn_realloc(f->data, cap);
        FAIL_IF(!d, CAIRN_ENOMEM, "out of memory growing a mem store file to %zu bytes", cap);
        f->data = d;
        f->cap = cap;
    }
    if (size > f->len) {
        memset(f->data + f->len, 0, (size_t)size - f->len);
        f->len = (size_t)size;
    }
    return CAIRN_OK;
}

static int mem_file_write(cairn_store *st, cairn_store_file *file, const void *buf, size_t len,
                          uint64_t off)
{
    mem_store *m = (mem_store *)st;
    mem_handle *h = handle_of(file);
    FAIL_IF(!h->writable, CAIRN_EINVAL, "writing a mem store file opened for reading");
    pthread_mutex_lock(&m->fmu);
    int rc = file_grow(h->f, off + len);
    if (rc == CAIRN_OK && len) memcpy(h->f->data + off, buf, len);
    pthread_mutex_unlock(&m->fmu);
    return rc;
}

static int mem_file_sync(cairn_store *st, cairn_store_file *f, unsigned how)
{
    return CAIRN_OK; /* nothing here outlives the process anyway */
}

static int mem_file_size(cairn_store *st, cairn_store_file *file, uint64_t *out)
{
    mem_store *m = (mem_store *)st;
    pthread_mutex_lock(&m->fmu);
    *out = handle_of(file)->f->len;
    pthread_mutex_unlock(&m->fmu);
    return CAIRN_OK;
}

static int mem_file_resize(cairn_store *st, cairn_store_file *file, uint64_t size)
{
    mem_store *m = (mem_store *)st;
    mem_handle *h = handle_of(file);
    FAIL_IF(!h->writable, CAIRN_EINVAL, "resizing a mem store file opened for reading");
    pthread_mutex_lock(&m->fmu);
    int rc = CAIRN_OK;
    if (size < h->f->len) h->f->len = (size_t)size;
    else rc = file_grow(h->f, size);
    pthread_mutex_unlock(&m->fmu);
    return rc;
}

/* Whether handle h may take `kind` (fmu held), counting the lock it holds already. */
static bool lock_free(const mem_handle *h, unsigned kind)
{
    const mem_file *f = h->f;
    unsigned others_shared = f->shared - (h->lock == CAIRN_FILE_LOCK_SHARED);
    bool others_excl = f->exclusive && h->lock != CAIRN_FILE_LOCK_EXCLUSIVE;
    if (kind == CAIRN_FILE_LOCK_SHARED) return !others_excl;
    return !others_excl && others_shared == 0;
}

static void lock_drop(mem_store *m, mem_handle *h)
{
    if (h->lock == CAIRN_FILE_LOCK_SHARED) h->f->shared--;
    else if (h->lock == CAIRN_FILE_LOCK_EXCLUSIVE) h->f->exclusive = false;
    if (h->lock) pthread_cond_broadcast(&m->fcv);
    h->lock = CAIRN_FILE_UNLOCK;
}

static int mem_file_lock(cairn_store *st, cairn_store_file *file, unsigned mode)
{
    mem_store *m = (mem_store *)st;
    mem_handle *h = handle_of(file);
    unsigned kind = mode & ~CAIRN_FILE_LOCK_NOWAIT;
    FAIL_IF(kind > CAIRN_FILE_LOCK_EXCLUSIVE, CAIRN_EINVAL, "unknown lock mode %u", mode);
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->fmu);
    if (kind == CAIRN_FILE_UNLOCK) {
        lock_drop(m, h);
    } else if (kind != h->lock) {
        while (!lock_free(h, kind) && !(mode & CAIRN_FILE_LOCK_NOWAIT))
            pthread_cond_wait(&m->fcv, &m->fmu);
        if (!lock_free(h, kind)) {
            rc = ERR(CAIRN_EBUSY, "file %s is locked by another holder",
                     h->f->name ? h->f->name : "(removed)");
        } else { /* as flock: a conversion drops the old lock first */
            lock_drop(m, h);
            if (kind == CAIRN_FILE_LOCK_SHARED) h->f->shared++;
            else h->f->exclusive = true;
            h->lock = kind;
        }
    }
    pthread_mutex_unlock(&m->fmu);
    return rc;
}

static void mem_file_close(cairn_store *st, cairn_store_file *file)
{
    if (!file) return;
    mem_store *m = (mem_store *)st;
    mem_handle *h = handle_of(file);
    pthread_mutex_lock(&m->fmu);
    lock_drop(m, h);
    mem_file *f = h->f;
    if (--f->handles == 0 && !f->name) {
        free(f->data);
        free(f);
    }
    pthread_mutex_unlock(&m->fmu);
    free(h);
}

/* dir as a name prefix: "" or ending in '/'. Caller frees. */
static char *dir_prefix(const char *dir)
{
    size_t n = strlen(dir);
    return n == 0 || dir[n - 1] == '/' ? cairn_strdup(dir) : cairn_sprintf("%s/", dir);
}

static int mem_file_remove(cairn_store *st, const char *name)
{
    mem_store *m = (mem_store *)st;
    size_t n = name ? strlen(name) : 0;
    bool dir = n > 0 && name[n - 1] == '/';
    TRY(store_check_file_name(name, dir));
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->fmu);
    if (dir) { /* a directory exists while something is below it: then it is not empty (and an
                * empty one is gone already) */
        bool any = false;
        for (size_t i = 0; i < m->nfiles && !any; i++)
            any = strncmp(m->files[i]->name, name, n) == 0;
        if (any) rc = ERR(CAIRN_EIO, "removing directory %s of the mem store: not empty", name);
    } else {
        size_t at;
        if (file_find(m, name, &at)) file_unname(m, at);
        else rc = ERR(CAIRN_ENOTFOUND, "file %s does not exist in the mem store", name);
    }
    pthread_mutex_unlock(&m->fmu);
    return rc;
}

static int mem_file_rename(cairn_store *st, const char *from, const char *to, bool replace)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_file_name(from, false));
    TRY(store_check_file_name(to, false));
    char *nn = cairn_strdup(to);
    FAIL_IF(!nn, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    pthread_mutex_lock(&m->fmu);
    size_t fi, ti;
    mem_file *f = file_find(m, from, &fi), *t = file_find(m, to, &ti);
    if (!f) rc = ERR(CAIRN_ENOTFOUND, "renaming %s: it does not exist in the mem store", from);
    else if (t && !replace) rc = ERR(CAIRN_EEXIST, "renaming %s: %s exists", from, to);
    else if (!t && file_clashes(m, to))
        rc = ERR(CAIRN_EINVAL, "renaming %s: %s cannot be both a file and a directory", from, to);
    if (rc == CAIRN_OK && f != t) {
        if (t) {
            file_unname(m, ti);
            file_find(m, from, &fi); /* unname moved the last entry */
        }
        free(f->name);
        f->name = nn;
        nn = NULL;
    }
    pthread_mutex_unlock(&m->fmu);
    free(nn);
    return rc;
}

typedef struct listed {
    char *name;
    uint64_t size;
} listed;

static int mem_file_list(cairn_store *st, const char *dir,
                         int (*cb)(const char *name, uint64_t size, void *payload), void *payload)
{
    mem_store *m = (mem_store *)st;
    TRY(store_check_file_name(dir, true));
    char *pre = dir_prefix(dir);
    FAIL_IF(!pre, CAIRN_ENOMEM, "out of memory");
    size_t pn = strlen(pre), n = 0, cap = 0;
    listed *v = NULL;
    int rc = CAIRN_OK;
    /* a copy first: cb may call the store */
    pthread_mutex_lock(&m->fmu);
    for (size_t i = 0; rc == CAIRN_OK && i < m->nfiles; i++) {
        const char *name = m->files[i]->name;
        if (strncmp(name, pre, pn) != 0) continue;
        const char *rest = name + pn, *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) + 1 : strlen(rest);
        bool dup = false;
        for (size_t k = 0; slash && k < n && !dup; k++)
            dup = strncmp(v[k].name, rest, len) == 0 && v[k].name[len] == '\0';
        if (dup) continue;
        rc = cairn_array_room(&v, &cap, n, sizeof *v, 16);
        char *copy = rc == CAIRN_OK ? cairn_strndup(rest, len) : NULL;
        if (rc == CAIRN_OK && !copy) rc = ERR(CAIRN_ENOMEM, "out of memory");
        if (rc == CAIRN_OK) v[n++] = (listed){ copy, slash ? 0 : m->files[i]->len };
    }
    pthread_mutex_unlock(&m->fmu);
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) rc = cb(v[i].name, v[i].size, payload);
    for (size_t i = 0; i < n; i++) free(v[i].name);
    free(v);
    free(pre);
    return rc;
}

static int mem_file_sync_dir(cairn_store *st, const char *dir)
{
    return store_check_file_name(dir, true);
}

static void mem_files_free(mem_store *m)
{
    for (size_t i = 0; i < m->nfiles; i++) { /* handles left open: the core closes its own */
        free(m->files[i]->name);
        free(m->files[i]->data);
        free(m->files[i]);
    }
    free(m->files);
    pthread_mutex_destroy(&m->fmu);
    pthread_cond_destroy(&m->fcv);
}

static void mem_close(cairn_store *st)
{
    mem_store *m = (mem_store *)st;
    if (!m) return;
    for (size_t b = 0; m->buckets && b <= m->mask; b++)
        for (mem_chunk *c = m->buckets[b]; c;) {
            mem_chunk *next = c->next;
            free(c);
            c = next;
        }
    for (size_t i = 0; i < m->nrefs; i++) {
        free(m->refs[i].name);
        free(m->refs[i].val);
    }
    free(m->refs);
    free(m->buckets);
    pthread_mutex_destroy(&m->mu);
    mem_files_free(m);
    free(m);
}

int store_mem_open(cairn_store **out)
{
    mem_store *m = cairn_calloc(1, sizeof *m);
    if (!m) return ERR(CAIRN_ENOMEM, "out of memory opening a mem store");
    m->mask = 1023;
    m->buckets = cairn_calloc(m->mask + 1, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return ERR(CAIRN_ENOMEM, "out of memory opening a mem store");
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->fmu, NULL);
    pthread_cond_init(&m->fcv, NULL);
    m->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS,
        .kind = "mem",
        .location = "mem:",
        .get = mem_get,
        .put = mem_put,
        .has = mem_has,
        .del = mem_del,
        .list = mem_list,
        .flush = mem_flush,
        .ref_get = mem_ref_get,
        .ref_cas = mem_ref_cas,
        .ref_list = mem_ref_list,
        .stat = mem_stat,
        .close = mem_close,
        .file_open = mem_file_open,
        .file_read = mem_file_read,
        .file_write = mem_file_write,
        .file_sync = mem_file_sync,
        .file_size = mem_file_size,
        .file_resize = mem_file_resize,
        .file_lock = mem_file_lock,
        .file_close = mem_file_close,
        .file_remove = mem_file_remove,
        .file_rename = mem_file_rename,
        .file_list = mem_file_list,
        .file_sync_dir = mem_file_sync_dir,
    };
    *out = &m->base;
    return CAIRN_OK;
}
