/*
 * fuzz_canon.c - canonical JSON from hostile bytes. Whatever is accepted must come out in a form
 * that is itself accepted, canonicalises to the very same bytes (one form per value), and parses
 * to a value equal to the input's.
 */
#include <stdlib.h>

#include "doc/canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v;
    if (canon_parse(&v, (const char *)data, size, "fuzz") != CAIRN_OK) return 0;
    cairn_buf a = CAIRN_BUF_INIT, b = CAIRN_BUF_INIT;
    if (canon_write(&a, v, NULL, "fuzz") == CAIRN_OK) {
        json_t *w;
        if (canon_parse(&w, (const char *)a.data, a.len, "canonical") != CAIRN_OK) abort();
        if (canon_write(&b, w, NULL, "canonical") != CAIRN_OK) abort();
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
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
