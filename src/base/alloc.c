/*
 * alloc.c - the library's allocator: plain malloc, plus a test hook that makes the Nth
 * allocation fail so that every ENOMEM path can be exercised (after SQLite's test_malloc.c).
 * The counters are the only global mutable state outside a handle; they are atomics.
 */
#include <stdint.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base.h"

static atomic_long alloc_count;
static atomic_long alloc_fail_at; /* 0 = never */

static bool should_fail(void)
{
    long n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
    return at != 0 && n >= at;
}

void cairn_alloc_fail_after(long nth)
{
    long now = atomic_load(&alloc_count);
    atomic_store(&alloc_fail_at, nth > 0 ? now + nth : 0);
}

long cairn_alloc_count(void) { return atomic_load(&alloc_count); }

void *cairn_malloc(size_t n)
{
    if (UNLIKELY(should_fail())) return NULL;
    return malloc(n ? n : 1);
}

void *cairn_calloc(size_t count, size_t size)
{
    if (UNLIKELY(should_fail())) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *cairn_realloc(void *p, size_t n)
{
    if (UNLIKELY(should_fail())) return NULL;
    return realloc(p, n ? n : 1);
}

int cairn_array_room(void *pp, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap) return CAIRN_OK;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return cairn_error_set(CAIRN_ENOMEM, "an array of %zu entries is too large", *cap);
    void *p = cairn_realloc(*(void **)pp, ncap * elem);
    if (!p) return cairn_error_set(CAIRN_ENOMEM, "out of memory growing an array to %zu entries",
                                   ncap);
    *(void **)pp = p;
    *cap = ncap;
    return CAIRN_OK;
}

char *cairn_strndup(const char *s, size_t n)
{
    char *d = cairn_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cairn_strdup(const char *s) { return cairn_strndup(s, strlen(s)); }

char *cairn_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = cairn_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

#define HUGE_PAGE (2u << 20)

void cairn_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    if (!p || n < HUGE_PAGE) return;
    uintptr_t from = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t to = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (to > from) (void)madvise((void *)from, to - from, MADV_HUGEPAGE); /* advice only */
#else
    (void)p;
    (void)n;
#endif
}

static void *big_alloc(size_t n)
{
    if (n < HUGE_PAGE) return malloc(n ? n : 1);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    cairn_advise_huge(p, n);
    return p;
}

void *cairn_big_alloc(size_t n)
{
    if (UNLIKELY(should_fail())) return NULL;
    return big_alloc(n);
}

void *cairn_big_alloc_now(size_t n)
{
    if (UNLIKELY(should_fail())) return NULL;
    void *p = big_alloc(n);
#ifdef MADV_POPULATE_WRITE
    if (p && n >= HUGE_PAGE) (void)madvise(p, n, MADV_POPULATE_WRITE); /* else faulted in */
#endif
    return p;
}

void *cairn_big_realloc(void *p, size_t old, size_t n)
{
    if (!p) return cairn_big_alloc(n);
    if (old < HUGE_PAGE && n < HUGE_PAGE) return cairn_realloc(p, n);
    if (UNLIKELY(should_fail())) return NULL;
    if (old >= HUGE_PAGE && n >= HUGE_PAGE) { /* the pages move, their bytes are not copied */
        void *q = mremap(p, old, n, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) return NULL;
        cairn_advise_huge(q, n);
        return q;
    }
    void *q = big_alloc(n);
    if (!q) return NULL;
    memcpy(q, p, MIN(old, n));
    cairn_big_free(p, old);
    return q;
}

void cairn_big_free(void *p, size_t n)
{
    if (!p) return;
    if (n < HUGE_PAGE) free(p);
    else munmap(p, n);
}
