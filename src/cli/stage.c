/*
 * stage.c - the parsed-entry store of `cairn load` (see stage.h). A record is its two lengths
 * (4 bytes each, native order, unaligned) followed by the key and value bytes; a delete has the
 * value length DELETE_LEN (more than any value) and no value bytes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

#define STAGE_BLOCK (4u << 20)
#define REC_HEADER (2 * sizeof(uint32_t))
#define DELETE_LEN UINT32_MAX

struct stage_block {
    stage_block *next;
    size_t used, cap;
    uint8_t data[];
};

int stage_add(stage *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (!val) vlen = 0;
    size_t need = REC_HEADER + klen + vlen;
    stage_block *b = s->tail;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > STAGE_BLOCK ? need : STAGE_BLOCK;
        if (!(b = malloc(sizeof *b + cap))) return -1;
        b->next = NULL;
        b->used = 0;
        b->cap = cap;
        if (s->tail) s->tail->next = b;
        else s->head = b;
        s->tail = b;
    }
    uint32_t lens[2] = { (uint32_t)klen, val ? (uint32_t)vlen : DELETE_LEN };
    uint8_t *p = b->data + b->used;
    memcpy(p, lens, REC_HEADER);
    if (klen) memcpy(p + REC_HEADER, key, klen);
    if (vlen) memcpy(p + REC_HEADER + klen, val, vlen);
    b->used += need;
    s->n++;
    s->deletes += !val;
    return 0;
}

int stage_drain(stage *s, int (*fn)(const void *key, size_t klen, const void *val, size_t vlen,
                                    void *payload),
                void *payload)
{
    int rc = 0;
    while (s->head) {
        stage_block *b = s->head;
        for (size_t off = 0; rc == 0 && off < b->used;) {
            uint32_t lens[2];
            memcpy(lens, b->data + off, REC_HEADER);
            const uint8_t *k = b->data + off + REC_HEADER;
            bool del = lens[1] == DELETE_LEN;
            rc = fn(k, lens[0], del ? NULL : k + lens[0], del ? 0 : lens[1], payload);
            off += REC_HEADER + lens[0] + (del ? 0 : lens[1]);
        }
        s->head = b->next;
        free(b);
        if (rc) break;
    }
    stage_free(s);
    return rc;
}

void stage_free(stage *s)
{
    while (s->head) {
        stage_block *b = s->head;
        s->head = b->next;
        free(b);
    }
    s->tail = NULL;
    s->n = 0;
    s->deletes = 0;
}
