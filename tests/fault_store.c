/*
 * fault_store.c - the fault-injecting wrapper store (see fault_store.h). Each method counts the
 * call, then either fails it as armed or forwards it to the inner store. A NULL method of the
 * inner store stays NULL in the wrapper, so the core sees the same capabilities.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_store.h"

typedef struct armed {
    bool on;
    unsigned long at; /* fires when the method's call count reaches this */
    int code;
    bool sticky, after;
} armed;

typedef struct fault_store {
    cairn_store base;
    cairn_store *inner;
    bool own;
    pthread_mutex_t mu;
    unsigned long calls[FAULT_NMETHODS];
    armed arm[FAULT_NMETHODS];
    bool flip_on;
    unsigned long flip_at;
    uint64_t flip_bit;
    unsigned long injected;
    void (*hook[FAULT_NMETHODS])(fault_method method, unsigned long n, void *arg);
    void *hook_arg[FAULT_NMETHODS];
} fault_store;

static const char *const method_names[FAULT_NMETHODS] = {
    "get", "put", "has", "del", "list", "flush", "ref_get", "ref_cas", "ref_list", "stat",
    "compact", "locate",
};

/* Counts a call of m. Returns the code to fail it with (0: none); *after says whether to
 * forward it first; *out_n is the call's number. */
static int tick(fault_store *f, fault_method m, bool *after, unsigned long *out_n)
{
    pthread_mutex_lock(&f->mu);
    unsigned long n = ++f->calls[m];
    armed *a = &f->arm[m];
    void (*hook)(fault_method, unsigned long, void *) = f->hook[m];
    void *hook_arg = f->hook_arg[m];
    pthread_mutex_unlock(&f->mu);
    if (hook) hook(m, n, hook_arg); /* it may arm a fault for this very call */
    pthread_mutex_lock(&f->mu);
    int code = 0;
    if (a->on && (n == a->at || (a->sticky && n > a->at))) {
        code = a->code;
        *after = a->after;
        f->injected++;
        if (!a->sticky) a->on = false;
    }
    pthread_mutex_unlock(&f->mu);
    *out_n = n;
    return code;
}

static int injected_error(fault_store *f, fault_method m, unsigned long n, int code)
{
    return cairn_store_error(code, "injected fault: %s call #%lu on the %s store at %s",
                             method_names[m], n, f->inner->kind, f->inner->location);
}

/* The body of every forwarding method. */
#define FORWARD(f, m, call)                                                                        \
    do {                                                                                           \
        bool after_ = false;                                                                       \
        unsigned long n_;                                                                          \
        int code_ = tick((f), (m), &after_, &n_);                                                  \
        if (code_ && !after_) return injected_error((f), (m), n_, code_);                          \
        int rc_ = (call);                                                                          \
        if (code_) return injected_error((f), (m), n_, code_);                                     \
        return rc_;                                                                                \
    } while (0)

static int f_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    fault_store *f = (fault_store *)st;
    bool after = false;
    unsigned long n;
    int code = tick(f, FAULT_GET, &after, &n);
    if (code && !after) return injected_error(f, FAULT_GET, n, code);
    int rc = f->inner->get(f->inner, out, key);
    if (code) return injected_error(f, FAULT_GET, n, code);
    if (rc == CAIRN_OK) {
        pthread_mutex_lock(&f->mu);
        if (f->flip_on && n == f->flip_at && out->len) {
            uint64_t bit = f->flip_bit % ((uint64_t)out->len * 8);
            out->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            f->flip_on = false;
            f->injected++;
        }
        pthread_mutex_unlock(&f->mu);
    }
    return rc;
}

static int f_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_PUT, f->inner->put(f->inner, key, data, len));
}

static int f_has(cairn_store *st, const cairn_id *key)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_HAS, f->inner->has(f->inner, key));
}

static int f_del(cairn_store *st, const cairn_id *key)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_DEL, f->inner->del(f->inner, key));
}

static int f_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *), void *payload)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_LIST, f->inner->list(f->inner, cb, payload));
}

static int f_flush(cairn_store *st)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_FLUSH, f->inner->flush(f->inner));
}

static int f_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_REF_GET, f->inner->ref_get(f->inner, out, name));
}

static int f_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                     const void *val, size_t vlen)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_REF_CAS, f->inner->ref_cas(f->inner, name, expect, elen, val, vlen));
}

static int f_ref_list(cairn_store *st, const char *prefix,
                      int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_REF_LIST, f->inner->ref_list(f->inner, prefix, cb, payload));
}

static int f_stat(cairn_store *st, cairn_store_stats *out)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_STAT, f->inner->stat(f->inner, out));
}

static int f_compact(cairn_store *st, double min_live, unsigned flags,
                     cairn_store_compact_stats *out)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_COMPACT, f->inner->compact(f->inner, min_live, flags, out));
}

static int f_locate(cairn_store *st, const cairn_id *key, cairn_store_location *out)
{
    fault_store *f = (fault_store *)st;
    FORWARD(f, FAULT_LOCATE, f->inner->locate(f->inner, key, out));
}

/* The file namespace is forwarded as it is (the inner store's handles pass through): faults in
 * it are injected below, through base/sys. */
#define INNER(st) (((fault_store *)(st))->inner)

static int f_file_open(cairn_store *st, cairn_store_file **out, const char *name, unsigned flags)
{
    return INNER(st)->file_open(INNER(st), out, name, flags);
}

static int f_file_read(cairn_store *st, cairn_store_file *f, void *buf, size_t len, uint64_t off,
                       size_t *out_n)
{
    return INNER(st)->file_read(INNER(st), f, buf, len, off, out_n);
}

static int f_file_write(cairn_store *st, cairn_store_file *f, const void *buf, size_t len,
                        uint64_t off)
{
    return INNER(st)->file_write(INNER(st), f, buf, len, off);
}

static int f_file_sync(cairn_store *st, cairn_store_file *f, unsigned how)
{
    return INNER(st)->file_sync(INNER(st), f, how);
}

static int f_file_size(cairn_store *st, cairn_store_file *f, uint64_t *out)
{
    return INNER(st)->file_size(INNER(st), f, out);
}

static int f_file_resize(cairn_store *st, cairn_store_file *f, uint64_t size)
{
    return INNER(st)->file_resize(INNER(st), f, size);
}

static int f_file_reserve(cairn_store *st, cairn_store_file *f, uint64_t size)
{
    return INNER(st)->file_reserve(INNER(st), f, size);
}

static int f_file_map(cairn_store *st, cairn_store_file *f, size_t len, const uint8_t **out)
{
    return INNER(st)->file_map(INNER(st), f, len, out);
}

static void f_file_unmap(cairn_store *st, const uint8_t *map, size_t len)
{
    INNER(st)->file_unmap(INNER(st), map, len);
}

static int f_file_lock(cairn_store *st, cairn_store_file *f, unsigned mode)
{
    return INNER(st)->file_lock(INNER(st), f, mode);
}

static void f_file_close(cairn_store *st, cairn_store_file *f)
{
    INNER(st)->file_close(INNER(st), f);
}

static int f_file_remove(cairn_store *st, const char *name)
{
    return INNER(st)->file_remove(INNER(st), name);
}

static int f_file_rename(cairn_store *st, const char *from, const char *to, bool replace)
{
    return INNER(st)->file_rename(INNER(st), from, to, replace);
}

static int f_file_list(cairn_store *st, const char *dir,
                       int (*cb)(const char *name, uint64_t size, void *payload), void *payload)
{
    return INNER(st)->file_list(INNER(st), dir, cb, payload);
}

static int f_file_sync_dir(cairn_store *st, const char *dir)
{
    return INNER(st)->file_sync_dir(INNER(st), dir);
}

static void f_close(cairn_store *st)
{
    fault_store *f = (fault_store *)st;
    if (!f) return;
    if (f->own && f->inner) f->inner->close(f->inner);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int fault_store_wrap(cairn_store **out, cairn_store *inner, bool own)
{
    fault_store *f = calloc(1, sizeof *f);
    if (!f) return cairn_store_error(CAIRN_ENOMEM, "out of memory wrapping a store");
    pthread_mutex_init(&f->mu, NULL);
    f->inner = inner;
    f->own = own;
    f->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = inner->caps,
        .kind = "fault",
        .location = inner->location,
        .get = inner->get ? f_get : NULL,
        .put = inner->put ? f_put : NULL,
        .has = inner->has ? f_has : NULL,
        .del = inner->del ? f_del : NULL,
        .list = inner->list ? f_list : NULL,
        .flush = inner->flush ? f_flush : NULL,
        .ref_get = inner->ref_get ? f_ref_get : NULL,
        .ref_cas = inner->ref_cas ? f_ref_cas : NULL,
        .ref_list = inner->ref_list ? f_ref_list : NULL,
        .stat = inner->stat ? f_stat : NULL,
        .close = f_close,
    };
    if (inner->version >= 3) { /* a NULL method of the inner store stays NULL */
#define FWD(m) f->base.m = inner->m ? f_##m : NULL
        FWD(compact); FWD(locate);
        FWD(file_open); FWD(file_read); FWD(file_write); FWD(file_sync); FWD(file_size);
        FWD(file_resize); FWD(file_reserve); FWD(file_map); FWD(file_unmap); FWD(file_lock);
        FWD(file_close); FWD(file_remove); FWD(file_rename); FWD(file_list); FWD(file_sync_dir);
#undef FWD
    } else {
        f->base.caps &= ~(CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS);
    }
    f->base.caps &= ~(CAIRN_STORE_CAP_COMPACT | CAIRN_STORE_CAP_LOCATE | CAIRN_STORE_CAP_REPAIR);
    if (f->base.compact) f->base.caps |= CAIRN_STORE_CAP_COMPACT;
    if (f->base.locate) f->base.caps |= CAIRN_STORE_CAP_LOCATE;
    *out = &f->base;
    return CAIRN_OK;
}

void fault_store_arm(cairn_store *st, const fault_spec *spec)
{
    fault_store *f = (fault_store *)st;
    if (spec->method >= FAULT_NMETHODS) return;
    pthread_mutex_lock(&f->mu);
    f->arm[spec->method] = (armed){
        .on = spec->nth > 0,
        .at = f->calls[spec->method] + spec->nth,
        .code = spec->code,
        .sticky = spec->sticky,
        .after = spec->after,
    };
    pthread_mutex_unlock(&f->mu);
}

void fault_store_flip_get(cairn_store *st, unsigned long nth, uint64_t bit)
{
    fault_store *f = (fault_store *)st;
    pthread_mutex_lock(&f->mu);
    f->flip_on = nth > 0;
    f->flip_at = f->calls[FAULT_GET] + nth;
    f->flip_bit = bit;
    pthread_mutex_unlock(&f->mu);
}

void fault_store_hook(cairn_store *st, fault_method method,
                      void (*hook)(fault_method method, unsigned long n, void *arg), void *arg)
{
    fault_store *f = (fault_store *)st;
    if (method >= FAULT_NMETHODS) return;
    pthread_mutex_lock(&f->mu);
    f->hook[method] = hook;
    f->hook_arg[method] = arg;
    pthread_mutex_unlock(&f->mu);
}

void fault_store_disarm(cairn_store *st)
{
    fault_store *f = (fault_store *)st;
    pthread_mutex_lock(&f->mu);
    memset(f->arm, 0, sizeof f->arm);
    f->flip_on = false;
    pthread_mutex_unlock(&f->mu);
}

unsigned long fault_store_calls(cairn_store *st, fault_method method)
{
    fault_store *f = (fault_store *)st;
    pthread_mutex_lock(&f->mu);
    unsigned long n = method < FAULT_NMETHODS ? f->calls[method] : 0;
    pthread_mutex_unlock(&f->mu);
    return n;
}

unsigned long fault_store_injected(cairn_store *st)
{
    fault_store *f = (fault_store *)st;
    pthread_mutex_lock(&f->mu);
    unsigned long n = f->injected;
    pthread_mutex_unlock(&f->mu);
    return n;
}

cairn_store *fault_store_inner(cairn_store *st) { return ((fault_store *)st)->inner; }
