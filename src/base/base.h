/*
 * base.h - what every module of cairn includes: the public header, fixed-width helpers, the
 * error plumbing macros and the allocator. Nothing here knows about chunks or trees.
 */
#ifndef CAIRN_BASE_H
#define CAIRN_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cairn.h"
#include "cairn/sys/store.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define PRINTF_LIKE(f, a)
#endif

/* ---- errors (err.c) ---- */

/** Sets the thread's last error and returns code. The message names the thing and what to do. */
int cairn_error_set(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);
int cairn_error_setv(int code, const char *fmt, va_list ap);
/** Prepends "context: " to the thread's last message (keeps the code); returns the code. */
int cairn_error_prefix(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);
/** Translates an errno value into a status code (ENOSPC -> CAIRN_ENOSPC, ENOMEM...). */
int cairn_errno_code(int err);
/** Sets an error from errno: "<what>: <strerror>" and returns the translated code. */
int cairn_error_errno(int err, const char *fmt, ...) PRINTF_LIKE(2, 3);
/** Records where an error was first raised (debug builds print it in cairn_error_last()). */
void cairn_error_where(const char *file, int line);

#define CAIRN_ERROR_MSG_MAX 1024 /* the longest message kept, with its NUL */

/** A thread's last error, kept across work that must not change it (cairn_error_save()). */
typedef struct cairn_error_saved {
    int code;
    char msg[CAIRN_ERROR_MSG_MAX];
} cairn_error_saved;
/** Copies the thread's last error into s; cairn_error_restore(s) makes it the last again. */
void cairn_error_save(cairn_error_saved *s);
void cairn_error_restore(const cairn_error_saved *s);

#ifdef CAIRN_DEBUG
#define ERR_WHERE_() cairn_error_where(__FILE__, __LINE__)
#else
#define ERR_WHERE_() ((void)0)
#endif

/* Return `code` after setting the message. */
#define ERR(code, ...) (ERR_WHERE_(), cairn_error_set((code), __VA_ARGS__))
/* Propagate a failing status. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (UNLIKELY(try_rc_ < 0)) return try_rc_;                                                 \
    } while (0)
/* Propagate a failing status, first prefixing "what we were doing: " to its message. */
#define TRY_CTX(expr, ...)                                                                         \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (UNLIKELY(try_rc_ < 0)) return cairn_error_prefix(try_rc_, __VA_ARGS__);               \
    } while (0)
/* Fail with a message when cond holds. */
#define FAIL_IF(cond, code, ...)                                                                   \
    do {                                                                                           \
        if (UNLIKELY(cond)) return ERR((code), __VA_ARGS__);                                       \
    } while (0)
/* Corruption found while decoding `what`: one place to break on in a debugger. */
#define CORRUPT(...) ERR(CAIRN_ECORRUPT, __VA_ARGS__)

/* ---- callbacks run under a lock (util.c) ----
 * While cairn runs a caller's callback holding a handle's locks, the thread is marked with that
 * handle, so that a call back into it that would take those locks again fails instead of
 * deadlocking. Nesting restores the previous mark. */
/** Marks the thread as running a callback under owner's locks; returns the previous mark. */
const void *cairn_cb_enter(const void *owner);
/** Restores the mark cairn_cb_enter() returned. */
void cairn_cb_leave(const void *prev);
/** Whether the thread runs a callback under owner's locks. */
bool cairn_cb_inside(const void *owner);

/** Reports a diagnostic through the callback set with cairn_set_log() (if any). */
void cairn_diag(int level, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* ---- test points (err.c) ----
 * Named places in the engine where a test may act: the crash test kills its writer inside a
 * checkpoint by hearing when one begins and ends, rather than by matching a log message's
 * wording. Off (one atomic load) unless a test sets a callback. */
typedef enum cairn_test_point_id {
    CAIRN_TP_CHECKPOINT_BEGIN = 1, /* a checkpoint starts applying a frozen memtable */
    CAIRN_TP_CHECKPOINT_END,       /* ... its working state is published and the log tidied */
    CAIRN_TP_READER_REF_READ,      /* a read-only open read the working ref; it loads that next */
    CAIRN_TP_GROUP_QUEUED,         /* a logged write of a store without log files waits behind
                                      a checkpoint in flight (the next one will carry it) */
    CAIRN_TP_CHECKPOINT_PUBLISHED, /* a checkpoint published its working state; it retires the
                                      log segments the state holds next */
    CAIRN_TP_READER_LOG_LISTED     /* a read-only open listed the log's segments; it reads
                                      them next */
} cairn_test_point_id;
typedef void (*cairn_test_point_fn)(cairn_test_point_id point, void *payload);
/** Test hook: calls fn(point, payload) at each test point, from whatever thread reaches it
 *  (NULL: none). Process-wide. */
void cairn_test_point_set(cairn_test_point_fn fn, void *payload);
/** Reports reaching a test point. */
void cairn_test_point(cairn_test_point_id point);

/* ---- allocation (alloc.c) ----
 * Every allocation in the library goes through these, so that tests can make the Nth one fail. */
void *cairn_malloc(size_t n);
void *cairn_calloc(size_t count, size_t size);
void *cairn_realloc(void *p, size_t n);
/** Makes room for one more element in a growable array: *pp holds *cap elements of elem bytes,
 *  n of them in use. When full, the capacity doubles (from `first`).
 *  @return CAIRN_OK or CAIRN_ENOMEM (with a message; *pp and *cap unchanged). */
int cairn_array_room(void *pp, size_t *cap, size_t n, size_t elem, size_t first);
char *cairn_strdup(const char *s);
char *cairn_strndup(const char *s, size_t n);
char *cairn_sprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
/** Large, page-aligned memory for bulk buffers: mmap'd and backed by transparent huge pages
 *  when at least 2 MiB (fewer page faults and TLB misses when it is read in random order).
 *  Free with cairn_big_free(p, n) with the same n. NULL on failure. */
void *cairn_big_alloc(size_t n);
/** Resizes memory from cairn_big_alloc() (p may be NULL) from old to n bytes, keeping the
 *  first MIN(old, n); large blocks are remapped, not copied. NULL on failure (p unchanged). */
void *cairn_big_realloc(void *p, size_t old, size_t n);
void cairn_big_free(void *p, size_t n);
/** cairn_big_alloc() for a buffer about to be written whole: a large one's pages are made
 *  present at once (MADV_POPULATE_WRITE), not faulted in one by one as it is written (in a VM a
 *  fault per 4 KiB page cost a logged commit of 100k updates a fifth of its time). */
void *cairn_big_alloc_now(size_t n);
/** Advises transparent huge pages for the whole 2 MiB pages inside [p, p + n): for memory from
 *  malloc (glibc maps a large block afresh, and faulting 4 KiB pages in one at a time cost a
 *  commit of 100k operations over a third of its time in this VM) and cairn_big_alloc()'s.
 *  Nothing when no whole 2 MiB page lies inside, or without THP; memory stays what it was. */
void cairn_advise_huge(void *p, size_t n);
/** Test hook: the nth allocation from now fails (1 = the next one); 0 turns failures off. */
void cairn_alloc_fail_after(long nth);
/** Test hook: how many allocations have been made since the process started. */
long cairn_alloc_count(void);

/* ---- little- and big-endian loads and stores ---- */

static inline uint16_t load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t load_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v; /* little-endian hosts only; checked in err.c */
}
static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void store_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void store_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void store_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint64_t load_be64(const uint8_t *p) { return __builtin_bswap64(load_le64(p)); }
static inline void store_be64(uint8_t *p, uint64_t v) { store_le64(p, __builtin_bswap64(v)); }

/* ---- byte strings ---- */

/** memcmp order, shorter first on a common prefix (the order of keys everywhere in cairn). */
static inline int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen >= 8 && blen >= 8) { /* most keys differ in their first 8 bytes: no call */
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        x = __builtin_bswap64(x);
        y = __builtin_bswap64(y);
        if (x != y) return x < y ? -1 : 1;
    }
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return (alen > blen) - (alen < blen);
}

/** Hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hex_encode(char *out, const void *data, size_t n);
/** Reads the 64 lower-case hex digits at hex (exactly what hex_encode writes for an id; no
 *  terminator needed) into out. false for anything else (out is then garbage). */
bool id_from_lower_hex(cairn_id *out, const char *hex);
/** Writes a printable, escaped rendering of bytes for messages (at most out_size-1 chars,
 *  truncated with "..."), escaped as `cairn scan` prints keys (README, "Escaping"): \t \n \r
 *  \\ for tab, newline, carriage return and backslash, \xHH for other control bytes, 0x7f and
 *  bytes that are not valid UTF-8; valid UTF-8 as it is. So a key in a message can be passed
 *  back with --escaped. Returns out. */
char *bytes_show(char *out, size_t out_size, const void *data, size_t n);

/* ---- time ---- */

/** Monotonic seconds, for measuring. */
double clock_now(void);
/** Wall-clock time in nanoseconds since the Unix epoch (UTC). */
int64_t clock_wall_ns(void);
/** Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (m 1..12, d 1..31; not
 *  checked), without the C library's time zone. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
/** The date y-m-d that is `days` days from 1970-01-01 (the inverse of days_from_civil()). */
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
struct timespec;
/** *out = the CLOCK_REALTIME moment `seconds` from now (a pthread_cond_timedwait deadline). */
void clock_deadline(struct timespec *out, double seconds);

/* ---- the machine ---- */

/** CPUs online (at least 1), read once per process: glibc reads it from a file on every
 *  sysconf() call, which a caller on a hot path (every tree edit) should not pay. */
int base_cpus(void);

#endif /* CAIRN_BASE_H */
