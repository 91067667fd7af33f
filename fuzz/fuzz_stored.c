/*
 * fuzz_stored.c - the stored form of documents (doc/stored.c) from hostile bytes. Any value is
 * taken apart, expanded and parsed within its bounds, and refused with CAIRN_ECORRUPT when it
 * is neither form. A packed value whose expansion is canonical JSON packs back to the very
 * same bytes (one stored form per document). And the other way: any JSON object, given the
 * metadata cairn writes, packs, and expands to its canonical text byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "doc/canon.h"
#include "doc/doc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ID[] = "f\"z\xc3\xa9";

/* data as a stored value */
static void as_value(const uint8_t *data, size_t size)
{
    cairn_buf text = CAIRN_BUF_INIT, canon = CAIRN_BUF_INIT, again = CAIRN_BUF_INIT;
    dv_stored s;
    int form = dv_stored_split(&s, data, size);
    int rc = dv_stored_expand(&text, data, size, ID, strlen(ID), "fuzz");
    if ((form < 0 && rc != CAIRN_ECORRUPT) || (rc < 0 && rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM))
        abort();
    json_t *j = NULL;
    if (dv_doc_parse(&j, data, size, "fuzz", ID) == CAIRN_OK && !json_is_object(j)) abort();
    json_decref(j);
    cairn_error_clear();
    if (rc == CAIRN_OK && form == 1 &&
        canon_json(&canon, (const char *)text.data, text.len, NULL, "fuzz") == CAIRN_OK &&
        canon.len == text.len && memcmp(canon.data, text.data, text.len) == 0) {
        if (dv_stored_pack(&again, text.data, text.len, ID, strlen(ID)) != CAIRN_OK ||
            again.len != size || memcmp(again.data, data, size) != 0)
            abort();
    }
    cairn_error_clear();
    cairn_buf_dispose(&text);
    cairn_buf_dispose(&canon);
    cairn_buf_dispose(&again);
}

/* data as JSON text of a document */
static void as_document(const uint8_t *data, size_t size)
{
    json_t *doc;
    if (canon_parse(&doc, (const char *)data, size, "fuzz") != CAIRN_OK) {
        cairn_error_clear();
        return;
    }
    char ts[] = "2026-12-05T21:10:23.123456Z";
    ts[3] = (char)('0' + size % 10); /* other years */
    ts[22] = (char)('0' + size / 10 % 10);
    cairn_buf text = CAIRN_BUF_INIT, st = CAIRN_BUF_INIT, back = CAIRN_BUF_INIT;
    if (json_is_object(doc) &&
        !json_object_set_new(doc, "_hash", json_string("0123456789abcdef0123456789abcdef"
                                                         "0123456789abcdef0123456789abcdef")) &&
        !json_object_set_new(doc, "_id", json_string(ID)) &&
        !json_object_set_new(doc, "_ts", json_string(ts)) &&
        !json_object_set_new(doc, "_v", json_integer((json_int_t)size)) &&
        canon_write(&text, doc, NULL, "fuzz") == CAIRN_OK) {
        dv_stored s;
        if (dv_stored_pack(&st, text.data, text.len, ID, strlen(ID)) != CAIRN_OK ||
            dv_stored_split(&s, st.data, st.len) != 1 ||
            dv_stored_expand(&back, st.data, st.len, ID, strlen(ID), "fuzz") != CAIRN_OK ||
            back.len != text.len || memcmp(back.data, text.data, text.len) != 0)
            abort();
    }
    cairn_error_clear();
    json_decref(doc);
    cairn_buf_dispose(&text);
    cairn_buf_dispose(&st);
    cairn_buf_dispose(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_value(data, size);
    as_document(data, size);
    return 0;
}
