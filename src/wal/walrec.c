/*
 * walrec.c - encoding and strict decoding of write-ahead log payloads (see walrec.h).
 */
#include <stdio.h>

#include "wal/walrec.h"

#include "base/varint.h"
#include "repo/repo.h"

int walrec_batch_encode(cairn_buf *out, const walrec_table *tables, size_t ntables,
                        const walrec_op *ops, size_t nops)
{
    size_t size = varint_len(ntables) + varint_len(nops);
    for (size_t i = 0; i < ntables; i++) {
        size_t n = strlen(tables[i].name);
        size += 1 + varint_len(n) + n;
    }
    for (size_t i = 0; i < nops; i++) {
        const walrec_op *o = &ops[i];
        size += 1 + varint_len(o->table) + varint_len(o->klen) + o->klen;
        if (o->type == WALREC_PUT) size += varint_len(o->vlen) + o->vlen;
    }
    out->len = 0;
    TRY(cairn_buf_reserve(out, size));
    uint8_t *p = out->data;
    p += varint_put(p, ntables);
    for (size_t i = 0; i < ntables; i++) {
        size_t n = strlen(tables[i].name);
        *p++ = (uint8_t)(tables[i].flags & WALREC_CREATE);
        p += varint_put(p, n);
        memcpy(p, tables[i].name, n);
        p += n;
    }
    p += varint_put(p, nops);
    for (size_t i = 0; i < nops; i++) {
        const walrec_op *o = &ops[i];
        walrec_op_ahead(ops, i, nops);
        *p++ = o->type;
        p += varint_put(p, o->table);
        p += varint_put(p, o->klen);
        if (o->klen) memcpy(p, o->key, o->klen);
        p += o->klen;
        if (o->type == WALREC_PUT) {
            p += varint_put(p, o->vlen);
            if (o->vlen) memcpy(p, o->val, o->vlen);
            p += o->vlen;
        }
    }
    out->len = (size_t)(p - out->data);
    return CAIRN_OK;
}

/* Reads a varint no larger than max; what names it in the message. */
static int get_count(const uint8_t **p, const uint8_t *end, uint64_t max, uint64_t *out,
                     const char *what)
{
    size_t n = varint_get(*p, end, out);
    if (!n) return CORRUPT("write-ahead log batch: %s is truncated or not canonical", what);
    if (*out > max)
        return CORRUPT("write-ahead log batch: %s %llu is over the limit %llu", what,
                       (unsigned long long)*out, (unsigned long long)max);
    *p += n;
    return CAIRN_OK;
}

static int get_bytes(const uint8_t **p, const uint8_t *end, uint64_t max, const uint8_t **out,
                     uint32_t *len, const char *what)
{
    uint64_t n;
    TRY(get_count(p, end, max, &n, what));
    if ((uint64_t)(end - *p) < n)
        return CORRUPT("write-ahead log batch: %s runs past the end of the record", what);
    *out = *p;
    *len = (uint32_t)n;
    *p += n;
    return CAIRN_OK;
}

int walrec_batch_decode(const uint8_t *p, size_t len, const walrec_visitor *v)
{
    const uint8_t *end = p + len;
    uint64_t ntables, nops;
    TRY(get_count(&p, end, UINT16_MAX, &ntables, "table count"));
    for (uint64_t i = 0; i < ntables; i++) {
        if (p == end) return CORRUPT("write-ahead log batch: table %llu is truncated",
                                     (unsigned long long)i);
        uint8_t flags = *p++;
        if (flags & ~WALREC_CREATE)
            return CORRUPT("write-ahead log batch: table %llu has unknown flags 0x%02x",
                           (unsigned long long)i, flags);
        const uint8_t *name = NULL;
        uint32_t nlen = 0;
        TRY(get_bytes(&p, end, CAIRN_TABLE_NAME_LEN_MAX, &name, &nlen, "table name"));
        char buf[CAIRN_TABLE_NAME_LEN_MAX + 1];
        memcpy(buf, name, nlen);
        buf[nlen] = '\0';
        if (memchr(name, 0, nlen)) return CORRUPT("write-ahead log batch: a table name holds NUL");
        if (table_name_check(buf) < 0) {
            char why[256];
            snprintf(why, sizeof why, "%s", cairn_error_last()->message);
            return CORRUPT("write-ahead log batch: %s", why);
        }
        walrec_table t = { buf, flags };
        if (v && v->table) TRY(v->table(v->ctx, (uint32_t)i, &t));
    }
    TRY(get_count(&p, end, UINT32_MAX, &nops, "operation count"));
    const uint8_t *prev_key = NULL;
    uint32_t prev_klen = 0, prev_table = 0;
    for (uint64_t i = 0; i < nops; i++) {
        if (p == end) return CORRUPT("write-ahead log batch: operation %llu is truncated",
                                     (unsigned long long)i);
        walrec_op o;
        memset(&o, 0, sizeof o);
        o.type = *p++;
        if (o.type != WALREC_PUT && o.type != WALREC_DEL)
            return CORRUPT("write-ahead log batch: operation %llu has unknown type %u",
                           (unsigned long long)i, o.type);
        uint64_t table;
        TRY(get_count(&p, end, ntables ? ntables - 1 : 0, &table, "operation table"));
        if (!ntables) return CORRUPT("write-ahead log batch: operations without tables");
        o.table = (uint32_t)table;
        TRY(get_bytes(&p, end, CAIRN_KEY_LEN_MAX, &o.key, &o.klen, "key"));
        if (o.type == WALREC_PUT)
            TRY(get_bytes(&p, end, CAIRN_VALUE_LEN_MAX, &o.val, &o.vlen, "value"));
        if (i > 0 && (o.table < prev_table ||
                      (o.table == prev_table && bytes_cmp(prev_key, prev_klen, o.key, o.klen) >= 0)))
            return CORRUPT("write-ahead log batch: operation %llu is out of order (or repeats a "
                           "key)", (unsigned long long)i);
        prev_key = o.key;
        prev_klen = o.klen;
        prev_table = o.table;
        if (v && v->op) TRY(v->op(v->ctx, &o));
    }
    if (p != end)
        return CORRUPT("write-ahead log batch: %zu bytes follow the last operation",
                       (size_t)(end - p));
    return CAIRN_OK;
}

void walrec_checkpoint_encode(uint8_t out[WALREC_CHECKPOINT_SIZE], const walrec_checkpoint *c)
{
    out[0] = 1;
    store_le64(out + 1, c->through);
    memcpy(out + 9, c->catalog_before.bytes, 32);
    memcpy(out + 41, c->catalog_after.bytes, 32);
    memcpy(out + 73, c->rootrec.bytes, 32);
}

int walrec_checkpoint_decode(walrec_checkpoint *out, const uint8_t *p, size_t len)
{
    if (len != WALREC_CHECKPOINT_SIZE || p[0] != 1)
        return CORRUPT("write-ahead log checkpoint record: %zu bytes, version %u (expected %u "
                       "bytes, version 1)", len, len ? p[0] : 0, WALREC_CHECKPOINT_SIZE);
    out->through = load_le64(p + 1);
    memcpy(out->catalog_before.bytes, p + 9, 32);
    memcpy(out->catalog_after.bytes, p + 41, 32);
    memcpy(out->rootrec.bytes, p + 73, 32);
    return CAIRN_OK;
}

void walrec_bulk_encode(uint8_t out[WALREC_BULK_SIZE], const walrec_bulk *b)
{
    out[0] = 1;
    store_le64(out + 1, b->ops);
    memcpy(out + 9, b->catalog_before.bytes, 32);
    memcpy(out + 41, b->catalog_after.bytes, 32);
}

int walrec_bulk_decode(walrec_bulk *out, const uint8_t *p, size_t len)
{
    if (len != WALREC_BULK_SIZE || p[0] != 1)
        return CORRUPT("write-ahead log bulk record: %zu bytes, version %u (expected %u bytes, "
                       "version 1)", len, len ? p[0] : 0, WALREC_BULK_SIZE);
    out->ops = load_le64(p + 1);
    memcpy(out->catalog_before.bytes, p + 9, 32);
    memcpy(out->catalog_after.bytes, p + 41, 32);
    return CAIRN_OK;
}
