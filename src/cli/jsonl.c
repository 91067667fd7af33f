/*
 * jsonl.c - the JSON lines form of entries (see jsonl.h), with jansson doing all JSON syntax:
 * parsing, string escaping and output.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jsonl.h"
#include "tsv.h"

int jsonl_set_bytes(json_t *obj, const char *name, const void *p, size_t n)
{
    if (utf8_valid(p, n)) return json_object_set_new(obj, name, json_stringn(p ? p : "", n));
    char b64name[16];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    char *text = malloc(B64_ENCODED_LEN(n) + 1);
    if (!text) return -1;
    b64_encode(text, p, n);
    int rc = json_object_set_new(obj, b64name, json_stringn(text, B64_ENCODED_LEN(n)));
    free(text);
    return rc;
}

int jsonl_write(FILE *out, const void *key, size_t klen, const void *val, size_t vlen)
{
    json_t *obj = json_object();
    int rc = obj ? 0 : -1;
    if (rc == 0) rc = jsonl_set_bytes(obj, "key", key, klen);
    if (rc == 0) rc = jsonl_set_bytes(obj, "value", val, vlen);
    if (rc < 0) errno = ENOMEM;
    if (rc == 0) rc = jsonl_dump(out, obj);
    json_decref(obj);
    return rc;
}

int jsonl_dump(FILE *out, const json_t *obj)
{
    if (json_dumpf(obj, out, JSON_COMPACT) < 0) return -1;
    return putc('\n', out) == EOF ? -1 : 0;
}

/* Reads one of name / name_b64 from obj into *out (decoding base64 into *buf). */
static int get_bytes(const uint8_t **out, size_t *out_len, uint8_t **buf, json_t *obj,
                     const char *name, char *err, size_t errlen)
{
    char b64name[16];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    json_t *s = json_object_get(obj, name), *b = json_object_get(obj, b64name);
    if ((s != NULL) == (b != NULL)) {
        if (s) snprintf(err, errlen, "both \"%s\" and \"%s\" (give exactly one)", name, b64name);
        else snprintf(err, errlen, "missing \"%s\" (or \"%s\")", name, b64name);
        return -1;
    }
    json_t *v = s ? s : b;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" is not a string", s ? name : b64name);
        return -1;
    }
    const char *text = json_string_value(v);
    size_t n = json_string_length(v);
    if (s) {
        *out = (const uint8_t *)text;
        *out_len = n;
        return 0;
    }
    if (!(*buf = malloc(B64_DECODED_MAX(n) + 1))) {
        snprintf(err, errlen, "out of memory decoding \"%s\"", b64name);
        return -1;
    }
    if (b64_decode(*buf, out_len, text, n) < 0) {
        snprintf(err, errlen, "\"%s\" is not valid base64", b64name);
        return -1;
    }
    *out = *buf;
    return 0;
}

/* Rejects members other than the five known names. */
static int check_members(json_t *obj, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (strcmp(k, "key") && strcmp(k, "key_b64") && strcmp(k, "value") &&
            strcmp(k, "value_b64") && strcmp(k, "delete")) {
            snprintf(err, errlen, "unknown member \"%.40s\" (expected key or key_b64, value or "
                     "value_b64, or delete)", k);
            return -1;
        }
    }
    return 0;
}

int jsonl_parse(jsonl_entry *e, const char *line, size_t len, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    json_error_t je;
    json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!doc) {
        snprintf(err, errlen, "malformed JSON at column %d: %s", je.column, je.text);
        return -1;
    }
    e->priv_json = doc;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "expected a JSON object {\"key\":...,\"value\":...}");
        return -1;
    }
    if (check_members(doc, err, errlen) < 0) return -1;
    if (get_bytes(&e->key, &e->klen, &e->priv_kbuf, doc, "key", err, errlen) < 0) return -1;
    json_t *del = json_object_get(doc, "delete");
    if (del) {
        if (!json_is_true(del)) {
            snprintf(err, errlen, "\"delete\" must be true (leave it out to set the value)");
            return -1;
        }
        if (json_object_get(doc, "value") || json_object_get(doc, "value_b64")) {
            snprintf(err, errlen, "a delete has no value (give \"delete\" or a value, not both)");
            return -1;
        }
        return 0; /* e->val stays NULL: a delete */
    }
    return get_bytes(&e->val, &e->vlen, &e->priv_vbuf, doc, "value", err, errlen);
}

void jsonl_entry_dispose(jsonl_entry *e)
{
    json_decref(e->priv_json);
    free(e->priv_kbuf);
    free(e->priv_vbuf);
    memset(e, 0, sizeof *e);
}
