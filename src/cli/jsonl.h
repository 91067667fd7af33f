/*
 * jsonl.h - the JSON lines form of entries, written by `cairn scan --json` and read by
 * `cairn load --json`: one object a line,
 *
 *     {"key":"...","value":"..."}
 *
 * where a key or value that is valid UTF-8 is a JSON string (U+0000 included, as \u0000) and
 * any other is base64 under "key_b64" / "value_b64" instead. Reading accepts exactly what
 * writing can produce: an object with one of key/key_b64, one of value/value_b64, both strings,
 * no other members and no duplicates. So scan --json | load --json restores every byte.
 * One more form is read, never written: {"key":"...","delete":true} deletes the key.
 */
#ifndef CAIRN_CLI_JSONL_H
#define CAIRN_CLI_JSONL_H

#include <stdint.h>
#include <stdio.h>

struct json_t; /* jansson's */

/** Sets obj[name] to the bytes as a JSON string when they are valid UTF-8 (p may be NULL when n
 *  is 0), else obj[name "_b64"] to their base64. For the other JSON lines the CLI prints (log,
 *  diff), which follow the same rule.
 *  @return 0, or -1 when out of memory. */
int jsonl_set_bytes(struct json_t *obj, const char *name, const void *p, size_t n);

/** Writes obj compactly and a newline to out.
 *  @return 0, or -1 when the write failed (errno says why). */
int jsonl_dump(FILE *out, const struct json_t *obj);

/** Writes one entry as a JSON line (with its newline) to out.
 *  @return 0, or -1 when out of memory or the write failed (errno says which). */
int jsonl_write(FILE *out, const void *key, size_t klen, const void *val, size_t vlen);

/** A parsed line. key and val are borrowed from the entry: valid until jsonl_entry_dispose(). */
typedef struct jsonl_entry {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;      /* NULL for a delete ({"key":...,"delete":true}) */
    size_t vlen;
    void *priv_json;         /* the parsed document, and buffers for base64 decoding */
    uint8_t *priv_kbuf;
    uint8_t *priv_vbuf;
} jsonl_entry;

/** Parses one line (without its newline).
 *  @param[out] e    the entry; dispose of it with jsonl_entry_dispose() (also after failure)
 *  @param[out] err  on failure, what is wrong (jansson's message and column for bad JSON)
 *  @return 0, or -1 on bad input or lack of memory. */
int jsonl_parse(jsonl_entry *e, const char *line, size_t len, char *err, size_t errlen);

/** Frees what a parse held. Accepts an entry that was never parsed into if zeroed. */
void jsonl_entry_dispose(jsonl_entry *e);

#endif /* CAIRN_CLI_JSONL_H */
