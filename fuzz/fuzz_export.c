/*
 * fuzz_export.c - checking an export against its manifest (src/doc/export.c) from hostile
 * bytes. The input is a manifest, then documents, each part ended by a zero byte: MANIFEST \0
 * ID \0 TEXT \0 ID \0 TEXT ... A damaged manifest must be refused with CAIRN_ECORRUPT, files out
 * of order with CAIRN_EINVAL, and everything else must end in a result whose problems say
 * whether the rebuilt root is the manifest's.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next zero-terminated part of [*p, end), or NULL. */
static const char *part(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *z = *p < end ? memchr(*p, 0, (size_t)(end - *p)) : NULL;
    if (!z) return NULL;
    const char *s = (const char *)*p;
    *len = (size_t)(z - *p);
    *p = z + 1;
    return s;
}

static int count(const cairn_doc_export_problem *pr, void *payload)
{
    if (!pr->message || pr->damage < CAIRN_EXPORT_CHANGED || pr->damage > CAIRN_EXPORT_ROOT)
        abort();
    ++*(uint64_t *)payload;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    size_t mlen;
    const char *manifest = part(&p, end, &mlen);
    if (!manifest) return 0;
    uint64_t seen = 0;
    cairn_doc_export_check *x;
    int rc = cairn_doc_export_check_new(&x, manifest, mlen, count, &seen);
    if (rc != CAIRN_OK) {
        if (rc != CAIRN_ECORRUPT) abort();
        return 0;
    }
    size_t il, tl;
    const char *id, *text;
    while ((id = part(&p, end, &il)) && (text = part(&p, end, &tl))) {
        rc = cairn_doc_export_check_add(x, id, text, tl);
        if (rc != CAIRN_OK && rc != CAIRN_EINVAL) abort();
    }
    cairn_doc_export_result r;
    if (cairn_doc_export_check_finish(&r, x) != CAIRN_OK) abort();
    if (r.problems != seen) abort();
    bool same = memcmp(&r.root, &r.manifest_root, sizeof r.root) == 0;
    if (!r.problems && !same) abort();
    cairn_doc_export_check_free(x);
    return 0;
}
