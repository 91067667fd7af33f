/*
 * fuzz_post.c - a text index's posting blocks (doc/post.c) from hostile bytes. The first byte
 * chooses what the rest is:
 *   even: a block value. Decoding returns CAIRN_OK or CAIRN_ECORRUPT (with a message), never
 *         reads outside it; a block it accepts holds 1..POST_MAX ids, strictly increasing,
 *         each of valid length and bytes, and encodes back to the very same bytes (one form
 *         per list of ids).
 *   odd:  a list of ids (cut at bytes below 0x20; after 0x01 an id starts as a copy of the one
 *         before, so ids share long prefixes), sorted and made unique: it encodes, decodes to
 *         itself, and so does each slice of it.
 *
 * The corpus (corpus/post/) holds blocks as the encoder writes them, damaged ones, and lists;
 * rebuild it with
 *   FUZZ_POST_WRITE_CORPUS=DIR ./fuzz_post
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "cairn/doc.h"
#include "corpus_file.h"
#include "db/tuple.h"
#include "doc/post.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool id_byte_ok(uint8_t c)
{
    return c >= 0x20 && c != 0x7f && c != '/' && c != '\\';
}

/* data as a block value */
static void as_block(const uint8_t *data, size_t size)
{
    post_ids l = { 0 };
    cairn_buf again = CAIRN_BUF_INIT;
    cairn_error_clear();
    int rc = post_decode(&l, data, size);
    if (rc == CAIRN_ECORRUPT && !strstr(cairn_error_last()->message, "posting block")) abort();
    if (rc != CAIRN_OK && rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM) abort();
    if (rc == CAIRN_OK) {
        if (l.n < 1 || l.n > POST_MAX) abort();
        for (size_t i = 0; i < l.n; i++) {
            size_t len, pl;
            const char *id = post_ids_at(&l, i, &len);
            if (len < 1 || len > CAIRN_DOC_ID_LEN_MAX) abort();
            for (size_t j = 0; j < len; j++)
                if (!id_byte_ok((uint8_t)id[j])) abort();
            const char *before = i ? post_ids_at(&l, i - 1, &pl) : NULL; /* pl set first */
            if (before && bytes_cmp(before, pl, id, len) >= 0) abort();
        }
        if (post_encode(&again, &l, 0, l.n) == CAIRN_OK &&
            (again.len != size || memcmp(again.data, data, size) != 0))
            abort();
        /* the walk without decoding agrees: every id found in one walk; each id, and each
         * with a byte more, a byte less or cut at its middle, found by a walk of its own
         * exactly when the block holds it */
        post_walk w;
        if (post_walk_init(&w, data, size) != CAIRN_OK) abort();
        for (size_t i = 0; i < l.n; i++) {
            size_t len;
            const char *id = post_ids_at(&l, i, &len);
            bool found = false;
            if (post_walk_to(&w, &found, id, len) != CAIRN_OK || !found) abort();
            char probe[CAIRN_DOC_ID_LEN_MAX + 1];
            size_t plens[4] = { len, len + 1, len - 1, len / 2 };
            for (int v = 0; v < 4; v++) {
                size_t pl = plens[v];
                if (pl == 0 || pl > CAIRN_DOC_ID_LEN_MAX) continue;
                memcpy(probe, id, MIN(len, pl));
                if (pl > len) probe[len] = (char)(0x20 + (int)(i % 90));
                bool want = false, got = false;
                for (size_t j = 0; j < l.n && !want; j++) {
                    size_t jl;
                    const char *x = post_ids_at(&l, j, &jl);
                    want = jl == pl && memcmp(x, probe, pl) == 0;
                }
                post_walk one;
                if (post_walk_init(&one, data, size) != CAIRN_OK ||
                    post_walk_to(&one, &got, probe, pl) != CAIRN_OK || got != want)
                    abort();
            }
        }
    }
    cairn_error_clear();
    post_ids_dispose(&l);
    cairn_buf_dispose(&again);
}

/* An id in the list's buffer: a 2-byte length, then its bytes. */
static size_t len_at(const uint8_t *p)
{
    return (size_t)p[0] | (size_t)p[1] << 8;
}

static int ptr_cmp(const void *x, const void *y)
{
    const uint8_t *a = *(const uint8_t *const *)x, *b = *(const uint8_t *const *)y;
    return bytes_cmp(a + 2, len_at(a), b + 2, len_at(b));
}

/* Encodes ids [from, to) of l, decodes, and compares. */
static void slice_round_trip(const post_ids *l, size_t from, size_t to)
{
    cairn_buf b = CAIRN_BUF_INIT;
    post_ids back = { 0 };
    if (post_encode(&b, l, from, to) != CAIRN_OK) goto out;
    int rc = post_decode(&back, b.data, b.len);
    if (rc == CAIRN_ENOMEM) goto out;
    if (rc != CAIRN_OK || back.n != to - from) abort();
    for (size_t i = from; i < to; i++) {
        size_t la, lb;
        const char *x = post_ids_at(l, i, &la), *y = post_ids_at(&back, i - from, &lb);
        if (la != lb || memcmp(x, y, la) != 0) abort();
    }
out:
    cairn_error_clear();
    cairn_buf_dispose(&b);
    post_ids_dispose(&back);
}

/* Splits data into ids in buf (each a 2-byte length, then its bytes); returns how many. */
static size_t split(cairn_buf *buf, const uint8_t *data, size_t size)
{
    size_t cur = SIZE_MAX, prev = SIZE_MAX, n = 0; /* the id being made, the one before */
    for (size_t i = 0; i <= size; i++) {
        uint8_t c = i < size ? data[i] : 0;
        if (c < 0x20) { /* the end of an id */
            if (cur != SIZE_MAX && len_at(buf->data + cur) == 0) buf->len = cur; /* empty */
            else if (cur != SIZE_MAX) prev = cur, n++;
            cur = SIZE_MAX;
            if (c == 0x01 && prev != SIZE_MAX) { /* the next starts as a copy of this one */
                cur = buf->len;
                if (cairn_buf_reserve(buf, buf->len + 2 + len_at(buf->data + prev)) != CAIRN_OK)
                    return 0;
                memcpy(buf->data + cur, buf->data + prev, 2 + len_at(buf->data + prev));
                buf->len += 2 + len_at(buf->data + prev);
            }
            continue;
        }
        if (c == 0x7f || c == '/' || c == '\\') c = '_';
        if (cur == SIZE_MAX) {
            cur = buf->len;
            if (cairn_buf_append(buf, (const uint8_t[]){ 0, 0 }, 2) != CAIRN_OK) return 0;
        }
        size_t len = len_at(buf->data + cur);
        if (len == CAIRN_DOC_ID_LEN_MAX) continue;
        if (cairn_buf_append(buf, &c, 1) != CAIRN_OK) return 0;
        len++;
        buf->data[cur] = (uint8_t)len, buf->data[cur + 1] = (uint8_t)(len >> 8);
    }
    return n;
}

/* data as a list of ids */
static void as_list(const uint8_t *data, size_t size)
{
    cairn_buf buf = CAIRN_BUF_INIT;
    post_ids l = { 0 };
    size_t n = split(&buf, data, size);
    const uint8_t **ptrs = n ? malloc(n * sizeof *ptrs) : NULL;
    if (!ptrs) goto out;
    size_t k = 0;
    for (size_t off = 0; off < buf.len && k < n; off += 2 + len_at(buf.data + off))
        ptrs[k++] = buf.data + off;
    qsort(ptrs, k, sizeof *ptrs, ptr_cmp);
    for (size_t i = 0; i < k && l.n < POST_MAX; i++) {
        if (i && ptr_cmp(&ptrs[i - 1], &ptrs[i]) == 0) continue;
        if (tuple_utf8_check(ptrs[i] + 2, len_at(ptrs[i])) < len_at(ptrs[i])) continue; /* no id */
        if (post_ids_push(&l, ptrs[i] + 2, len_at(ptrs[i])) != CAIRN_OK) goto out;
    }
    if (l.n) {
        slice_round_trip(&l, 0, l.n);
        slice_round_trip(&l, l.n / 2, l.n);
        if (l.n - l.n / 3 > l.n / 3) slice_round_trip(&l, l.n / 3, l.n - l.n / 3);
    }
out:
    cairn_error_clear();
    free(ptrs);
    post_ids_dispose(&l);
    cairn_buf_dispose(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] & 1) as_list(data + 1, size - 1);
    else as_block(data + 1, size - 1);
    return 0;
}

/* ---- the corpus ---- */

/* Writes a seed: the mode byte, then len bytes. */
static void seed(const char *dir, const char *name, uint8_t mode, const void *p, size_t len)
{
    uint8_t *b = malloc(len + 1);
    if (!b) exit(1);
    b[0] = mode;
    memcpy(b + 1, p, len);
    corpus_write(dir, name, b, len + 1);
    free(b);
}

/* A block of the ids given as one string, separated by spaces. */
static void seed_block(const char *dir, const char *name, const char *ids)
{
    post_ids l = { 0 };
    cairn_buf b = CAIRN_BUF_INIT;
    for (const char *s = ids; *s;) {
        size_t n = strcspn(s, " ");
        if (post_ids_push(&l, s, n) != CAIRN_OK) exit(1);
        s += n + (s[n] == ' ');
    }
    if (post_encode(&b, &l, 0, l.n) != CAIRN_OK) exit(1);
    seed(dir, name, 0, b.data, b.len);
    post_ids_dispose(&l);
    cairn_buf_dispose(&b);
}

#define SEED(name, lit) seed(dir, name, 0, lit, sizeof lit - 1)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_POST_WRITE_CORPUS");
    if (!dir) return 0;
    seed_block(dir, "block_one", "doc-1");
    seed_block(dir, "block_shared", "abc abd abde b customer-0001 customer-0002 customer-0010");
    seed_block(dir, "block_utf8", "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9-2 \xe2\x82\xac");
    /* POST_MAX ids; the longest id, and one extending it */
    post_ids l = { 0 };
    cairn_buf b = CAIRN_BUF_INIT;
    char id[CAIRN_DOC_ID_LEN_MAX];
    for (int i = 0; i < POST_MAX; i++) {
        int n = snprintf(id, sizeof id, "%06d", i * 13);
        if (post_ids_push(&l, id, (size_t)n) != CAIRN_OK) exit(1);
    }
    if (post_encode(&b, &l, 0, l.n) != CAIRN_OK) exit(1);
    seed(dir, "block_full", 0, b.data, b.len);
    post_ids_reset(&l);
    b.len = 0;
    memset(id, 'L', sizeof id);
    if (post_ids_push(&l, id, sizeof id - 1) != CAIRN_OK ||
        post_ids_push(&l, id, sizeof id) != CAIRN_OK || post_encode(&b, &l, 0, 2) != CAIRN_OK)
        exit(1);
    seed(dir, "block_longest", 0, b.data, b.len);
    b.data[b.len - 1] = 'M'; /* then one byte more: over the limit */
    uint8_t more = 'x';
    if (cairn_buf_append(&b, &more, 1) != CAIRN_OK) exit(1);
    b.data[b.len - 3] = 2; /* the rest is now 2 bytes */
    seed(dir, "bad_too_long", 0, b.data, b.len);
    post_ids_dispose(&l);
    cairn_buf_dispose(&b);
    /* damaged blocks */
    SEED("bad_empty", "");
    SEED("bad_form", "\x02\x01\x00\x01" "a");
    SEED("bad_count_zero", "\x01\x00");
    SEED("bad_count_513", "\x01\x81\x04\x00\x01" "a");
    SEED("bad_truncated_varint", "\x01\x01\x00\x85");
    SEED("bad_truncated_suffix", "\x01\x01\x00\x03" "ab");
    SEED("bad_shares_too_much", "\x01\x02\x00\x02" "ab" "\x03\x01" "c");
    SEED("bad_first_shares", "\x01\x01\x01\x01" "a");
    SEED("bad_equal", "\x01\x02\x00\x02" "ab" "\x02\x00");
    SEED("bad_smaller", "\x01\x02\x00\x01" "b" "\x00\x01" "a");
    SEED("bad_not_shortest", "\x01\x02\x00\x03" "abc" "\x01\x02" "bd");
    SEED("bad_control_byte", "\x01\x01\x00\x02" "a\x1f");
    SEED("bad_slash", "\x01\x01\x00\x03" "a/b");
    SEED("bad_trailing", "\x01\x01\x00\x01" "a" "x");
    /* lists */
    static const char list_words[] = "beta\nalpha\nalpha\ngamma\n\xc3\xa9t\xc3\xa9\nz/\\\x7f";
    seed(dir, "list_words", 1, list_words, sizeof list_words - 1);
    static const char list_shared[] = "customer-\x01" "1\x01" "2\x01" "3\ncustomer-\x01" "9";
    seed(dir, "list_shared", 1, list_shared, sizeof list_shared - 1);
    fprintf(stderr, "wrote the post corpus to %s\n", dir);
    exit(0);
}
