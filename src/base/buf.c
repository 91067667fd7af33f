/*
 * buf.c - cairn_buf, the growable byte buffer shared by the core and store backends.
 * Growth is geometric so that appending n bytes one at a time costs O(n).
 */
#include <stdlib.h>

#include "base.h"

int cairn_buf_reserve(cairn_buf *buf, size_t cap)
{
    if (cap <= buf->cap) return CAIRN_OK;
    size_t ncap = buf->cap ? buf->cap : 64;
    while (ncap < cap) {
        if (ncap > SIZE_MAX / 2) { ncap = cap; break; }
        ncap *= 2;
    }
    uint8_t *p = cairn_realloc(buf->data, ncap);
    if (!p) return ERR(CAIRN_ENOMEM, "out of memory growing a buffer to %zu bytes", ncap);
    cairn_advise_huge(p, ncap); /* a big one: a log record, a pack, a group of records */
    buf->data = p;
    buf->cap = ncap;
    return CAIRN_OK;
}

int cairn_buf_set(cairn_buf *buf, const void *data, size_t len)
{
    TRY(cairn_buf_reserve(buf, len));
    if (len) memcpy(buf->data, data, len);
    buf->len = len;
    return CAIRN_OK;
}

int cairn_buf_append(cairn_buf *buf, const void *data, size_t len)
{
    if (len > SIZE_MAX - buf->len) return ERR(CAIRN_ENOMEM, "buffer size overflow");
    TRY(cairn_buf_reserve(buf, buf->len + len));
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return CAIRN_OK;
}

void cairn_buf_dispose(cairn_buf *buf)
{
    if (!buf) return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
