/*
 * fuzz_filter.c - document query filters (doc/filter.c) from hostile bytes. Whatever parses
 * must match a few fixed documents without failing, and {"$not": F} must match exactly the
 * documents F does not.
 */
#include <stdlib.h>

#include "doc/doc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const DOCS[] = {
    "{\"_id\":\"a\",\"age\":36,\"name\":\"Ada\",\"tags\":[\"x\",\"y\"],\"t\":\"Wrote the first program\"}",
    "{\"_id\":\"b\",\"age\":4.5,\"n\":{\"x\":[1,{\"y\":null}]},\"tags\":[],\"ok\":true}",
    "{\"_id\":\"c\",\"a\":[[1,2],{\"b\":\"s\"}],\"name\":null}",
    "{\"_id\":\"d\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dv_filter *f;
    if (dv_filter_parse(&f, (const char *)data, size, "t", false) != CAIRN_OK) return 0;
    char *neg = malloc(size + 16);
    if (!neg) abort();
    memcpy(neg, "{\"$not\":", 8);
    memcpy(neg + 8, data, size);
    neg[8 + size] = '}';
    dv_filter *nf;
    if (dv_filter_parse(&nf, neg, size + 9, "t", false) != CAIRN_OK) { /* one level too deep */
        dv_filter_free(f);
        free(neg);
        return 0;
    }
    for (size_t i = 0; i < sizeof DOCS / sizeof DOCS[0]; i++) {
        json_t *doc = json_loads(DOCS[i], 0, NULL);
        if (!doc) abort();
        int m = dv_filter_match(f, doc), n = dv_filter_match(nf, doc);
        if (m < 0 || n < 0 || m == n) abort();
        json_decref(doc);
    }
    const dv_cond *conds;
    size_t nconds;
    dv_filter_conds(&conds, &nconds, f);
    for (size_t i = 0; i < nconds; i++)
        if (!conds[i].path) abort();
    dv_filter_free(nf);
    dv_filter_free(f);
    free(neg);
    return 0;
}
