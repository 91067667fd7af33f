/*
 * fuzz_canon.c - canonical JSON from hostile bytes. Whatever is accepted must come out in a form
 * that is itself accepted, canonicalises to the very same bytes (one form per value), and parses
 * to a value equal to the input's. canon_members() (the query's partial parse) reads any bytes
 * within bounds, and over the canonical text of an object gives exactly its members. The
 * one-pass parser (jparse.h) agrees with the jansson path: what it accepts jansson accepts with
 * the very same bytes (with the default limits and with tight ones), and it declines what
 * jansson accepts only for its documented reasons (a NUL byte jansson skips after a number or a
 * word, a number longer than JPARSE_NUMBER_MAX, nesting past JPARSE_DEPTH_MAX). canon_load()
 * reads the canonical form back as jansson does, and reads hostile text within its bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "doc/canon.h"
#include "doc/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* canon_members() over the canonical text of an object: each member it gives is one of the
 * object's, by name and (parsed) value, and it gives all of them. */
typedef struct members {
    const json_t *obj;
    size_t n;
} members;

static int member_of(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                     void *payload)
{
    (void)at;
    members *m = payload;
    json_t *v = json_loadb(val, vlen, JSON_DECODE_ANY, NULL);
    char *key = cairn_strndup(name, nlen);
    const json_t *want = key && !memchr(name, '\\', nlen) ? json_object_get(m->obj, key) : NULL;
    if (!v || (!memchr(name, '\\', nlen) && (!want || !json_equal(v, want)))) abort();
    free(key);
    json_decref(v);
    m->n++;
    return 0;
}

/* canon_members() over hostile text: reads every span it gives (ASan checks the bounds). */
static int member_any(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                      void *payload)
{
    (void)at;
    (void)payload;
    volatile char sink = 0;
    if (nlen) sink = (char)(sink ^ name[0] ^ name[nlen - 1]);
    if (vlen) sink = (char)(sink ^ val[0] ^ val[vlen - 1]);
    (void)sink;
    return 0;
}

/* Whether the parser may decline text that jansson accepts (see the head of this file). */
static bool may_decline(const uint8_t *d, size_t n)
{
    size_t run = 0, longest = 0, opens = 0;
    for (size_t i = 0; i < n; i++) {
        bool num = (d[i] >= '0' && d[i] <= '9') || d[i] == '.' || d[i] == 'e' || d[i] == 'E' ||
                   d[i] == '+' || d[i] == '-';
        run = num ? run + 1 : 0;
        if (run > longest) longest = run;
        opens += d[i] == '[' || d[i] == '{';
    }
    return memchr(d, 0, n) || longest > JPARSE_NUMBER_MAX || opens >= JPARSE_DEPTH_MAX;
}

/* Both paths on the same text and limits: abort() on any difference. */
static void compare_paths(const uint8_t *data, size_t size, const canon_limits *lim)
{
    cairn_buf fast = CAIRN_BUF_INIT, ref = CAIRN_BUF_INIT;
    jparse p = JPARSE_INIT;
    int f = jparse_canon(&p, &fast, (const char *)data, size, lim);
    int j = canon_json_jansson(&ref, (const char *)data, size, lim, "fuzz");
    if (f != CAIRN_OK && f != JPARSE_DECLINED) abort();
    if (f == CAIRN_OK && (j != CAIRN_OK || fast.len != ref.len ||
                          memcmp(fast.data, ref.data, ref.len) != 0))
        abort();
    if (f == JPARSE_DECLINED && j == CAIRN_OK && !may_decline(data, size)) abort();
    cairn_error_clear();
    jparse_dispose(&p);
    cairn_buf_dispose(&fast);
    cairn_buf_dispose(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v;
    canon_limits tight = { 128, 4, 8 };
    compare_paths(data, size, NULL);
    compare_paths(data, size, &tight);
    canon_members((const char *)data, size, member_any, NULL); /* hostile text: no crash */
    cairn_error_clear();
    if (canon_parse(&v, (const char *)data, size, "fuzz") != CAIRN_OK) return 0;
    cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
    if (canon_write(&a, v, NULL, "fuzz") == CAIRN_OK) {
        json_t *w;
        if (canon_parse(&w, (const char *)a.data, a.len, "canonical") != CAIRN_OK) abort();
        if (canon_write(&b, w, NULL, "canonical") != CAIRN_OK) abort();
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
        json_t *loaded; /* canon_load() reads the canonical form as jansson does */
        if (canon_load(&loaded, (const char *)a.data, a.len) != CAIRN_OK || !json_equal(loaded, w))
            abort();
        json_decref(loaded);
        canon_load(&loaded, (const char *)data, size); /* hostile text: within bounds */
        json_decref(loaded);
        cairn_error_clear();
        if (json_is_object(w)) {
            members m = { w, 0 };
            if (canon_members((const char *)a.data, a.len, member_of, &m) != CAIRN_OK ||
                m.n != json_object_size(w))
                abort();
        }
        /* equal values, but for doubles that were integral (1.0 reads back as the integer 1) */
        if (!json_equal(v, w)) {
            cairn_buf c = CAIRN_BUF_INIT;
            char *loose = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            if (!loose || canon_json(&c, loose, strlen(loose), NULL, "dump") != CAIRN_OK ||
                c.len != a.len || memcmp(c.data, a.data, a.len) != 0)
                abort();
            free(loose);
            cairn_buf_dispose(&c);
        }
        json_decref(w);
    }
    json_decref(v);
    cairn_buf_dispose(&a);
    cairn_buf_dispose(&b);
    return 0;
}
