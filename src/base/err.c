/*
 * err.c - the per-thread last error (code + message) behind cairn_error_last(), and the
 * translation of errno values into cairn status codes. Messages are formatted where a failure is
 * found, so they can name the file, key or chunk involved; callers up the stack may prefix
 * context ("table users: ...") without losing the original code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base.h"

#define ERR_MSG_MAX CAIRN_ERROR_MSG_MAX

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "cairn assumes a little-endian host");

static _Thread_local struct {
    cairn_error pub;
    char msg[ERR_MSG_MAX];
    const char *file;
    int line;
} tls_err = { { CAIRN_OK, "" }, "", NULL, 0 };

const cairn_error *cairn_error_last(void)
{
    tls_err.pub.message = tls_err.msg;
    return &tls_err.pub;
}

void cairn_error_clear(void)
{
    tls_err.pub.code = CAIRN_OK;
    tls_err.msg[0] = '\0';
    tls_err.file = NULL;
}

void cairn_error_save(cairn_error_saved *s)
{
    s->code = tls_err.pub.code;
    memcpy(s->msg, tls_err.msg, sizeof s->msg);
}

void cairn_error_restore(const cairn_error_saved *s)
{
    tls_err.pub.code = s->code;
    memcpy(tls_err.msg, s->msg, sizeof tls_err.msg);
    tls_err.file = NULL;
}

void cairn_error_where(const char *file, int line)
{
    tls_err.file = file;
    tls_err.line = line;
}

int cairn_error_setv(int code, const char *fmt, va_list ap)
{
    tls_err.pub.code = code;
    vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
#ifdef CAIRN_DEBUG
    if (tls_err.file) {
        size_t n = strlen(tls_err.msg);
        snprintf(tls_err.msg + n, sizeof tls_err.msg - n, " [%s:%d]", tls_err.file, tls_err.line);
        tls_err.file = NULL;
    }
#endif
    return code;
}

int cairn_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cairn_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int cairn_store_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cairn_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int cairn_error_prefix(int code, const char *fmt, ...)
{
    char old[ERR_MSG_MAX];
    va_list ap;
    memcpy(old, tls_err.msg, sizeof old);
    va_start(ap, fmt);
    int n = vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
    va_end(ap);
    if (old[0] && n >= 0 && (size_t)n < sizeof tls_err.msg - 2) {
        size_t room = sizeof tls_err.msg - (size_t)n;
        tls_err.msg[n] = ':';
        tls_err.msg[n + 1] = ' ';
        memcpy(tls_err.msg + n + 2, old, MIN(room - 2, strlen(old) + 1));
        tls_err.msg[sizeof tls_err.msg - 1] = '\0';
    }
    tls_err.pub.code = code;
    return code;
}

int cairn_errno_code(int err)
{
    switch (err) {
    case ENOENT: return CAIRN_ENOTFOUND;
    case ENOSPC:
    case EDQUOT: return CAIRN_ENOSPC;
    case ENOMEM: return CAIRN_ENOMEM;
    case EEXIST: return CAIRN_EEXIST;
    case EACCES:
    case EPERM: return CAIRN_EPERM;
    case EROFS: return CAIRN_EREADONLY;
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR: return CAIRN_EINVAL;
    case EAGAIN:
    case EBUSY: return CAIRN_EBUSY;
    default: return CAIRN_EIO;
    }
}

int cairn_error_errno(int err, const char *fmt, ...)
{
    char what[ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = cairn_errno_code(err);
    const char *hint = "";
    if (code == CAIRN_ENOSPC) hint = " (free some space, then retry)";
    else if (code == CAIRN_EPERM) hint = " (check the file's owner and mode)";
    return cairn_error_set(code, "%s: %s%s", what, strerror(err), hint);
}

const char *cairn_strerror(int code)
{
    switch (code) {
    case CAIRN_OK: return "ok";
    case CAIRN_ENOTFOUND: return "not found";
    case CAIRN_ECORRUPT: return "corrupt data";
    case CAIRN_ECONFLICT: return "conflict";
    case CAIRN_EIO: return "I/O error";
    case CAIRN_EINVAL: return "invalid argument";
    case CAIRN_ENOMEM: return "out of memory";
    case CAIRN_EBUSY: return "busy";
    case CAIRN_EAUTH: return "not authorised";
    case CAIRN_ENOSPC: return "no space left";
    case CAIRN_EEXIST: return "already exists";
    case CAIRN_EUNSUPPORTED: return "not supported";
    case CAIRN_ESTATE: return "not allowed in this state";
    case CAIRN_EREADONLY: return "read-only";
    case CAIRN_EPERM: return "permission denied";
    case CAIRN_EUSER: return "stopped by a callback";
    default: return "unknown error";
    }
}

static _Atomic(cairn_log_fn) log_fn;
static void *_Atomic log_payload;

void cairn_set_log(cairn_log_fn fn, void *payload)
{
    atomic_store(&log_payload, payload);
    atomic_store(&log_fn, fn);
}

void cairn_diag(int level, const char *fmt, ...)
{
    cairn_log_fn fn = atomic_load(&log_fn);
    if (!fn) return;
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(level, msg, atomic_load(&log_payload));
}

static _Atomic(cairn_test_point_fn) test_point_fn;
static void *_Atomic test_point_payload;

void cairn_test_point_set(cairn_test_point_fn fn, void *payload)
{
    atomic_store(&test_point_payload, payload);
    atomic_store(&test_point_fn, fn);
}

void cairn_test_point(cairn_test_point_id point)
{
    cairn_test_point_fn fn = atomic_load_explicit(&test_point_fn, memory_order_acquire);
    if (UNLIKELY(fn != NULL)) fn(point, atomic_load(&test_point_payload));
}

const char *cairn_version(void) { return CAIRN_BUILD_VERSION; } /* CMake's project version */
void cairn_free(void *ptr) { free(ptr); }
size_t cairn_id_size(void) { return CAIRN_ID_SIZE; }
size_t cairn_key_len_max(void) { return CAIRN_KEY_LEN_MAX; }
size_t cairn_value_len_max(void) { return CAIRN_VALUE_LEN_MAX; }
size_t cairn_table_name_len_max(void) { return CAIRN_TABLE_NAME_LEN_MAX; }
