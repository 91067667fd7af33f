/*
 * test_doc_post.c - a text index's posting blocks (doc/post.c, docs/FORMAT.md "Text index
 * postings"): the block form round-trips and every malformation is refused with a message; the
 * writer, driven by random rounds of additions and deletions, keeps a table whose pairs are
 * exactly a reference model's, whose blocks are cut where the rule says, and whose root is the
 * root of the same pairs written at once (history independence); probes and estimates agree
 * with the model; damaged blocks are reported naming their key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/varint.h"
#include "cairn/doc.h"
#include "db/tuple.h"
#include "doc/post.h"
#include "test.h"

#define ID_BUF (CAIRN_DOC_ID_LEN_MAX + 1)
#define WHAT "index t.words"

/* A helper's failed CHECK returns from the helper only: the case stops here too. */
#define SUB(call)                                                                                  \
    do {                                                                                           \
        int sub_f_ = test_failures;                                                                \
        call;                                                                                      \
        if (test_failures != sub_f_) return;                                                       \
    } while (0)

/* ---- ids ---- */

/* A byte an id may hold (printable ASCII without '/' and '\'). */
static char id_char(uint64_t *r)
{
    char c = (char)(0x20 + test_rand(r) % 95);
    return c == '/' || c == '\\' ? '_' : c;
}

/* A random id into out (ID_BUF bytes, NUL-terminated); returns its length. Kinds: short and
 * long random ones, long shared prefixes, the longest ids, numbers, UTF-8. */
static size_t gen_id(uint64_t *r, char *out)
{
    size_t n = 0;
    switch (test_rand(r) % 16) {
    case 9: case 10: case 11: /* long shared prefixes */
        n = (size_t)snprintf(out, ID_BUF, "customer-000000000000%02u-", (unsigned)(test_rand(r) % 4));
        for (size_t k = 1 + test_rand(r) % 6; k; k--) out[n++] = id_char(r);
        break;
    case 12: /* CAIRN_DOC_ID_LEN_MAX bytes, sharing most of them */
        n = CAIRN_DOC_ID_LEN_MAX;
        memset(out, 'L', n - 12);
        for (size_t k = n - 12; k < n; k++) out[k] = id_char(r);
        break;
    case 13:
        n = (size_t)snprintf(out, ID_BUF, "%08llu", (unsigned long long)(test_rand(r) % 100000000));
        break;
    case 14:
        for (size_t k = 1 + test_rand(r) % 2; k; k--) out[n++] = id_char(r);
        break;
    case 15: /* UTF-8 */
        n = (size_t)snprintf(out, ID_BUF, "\xc3\xa9t\xc3\xa9-%u", (unsigned)(test_rand(r) % 5000));
        break;
    default:
        for (size_t k = 1 + test_rand(r) % 40; k; k--) out[n++] = id_char(r);
        break;
    }
    out[n] = '\0';
    return n;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y); /* bytes order, shorter first */
}

/* ---- a sorted set of ids (the model of one word) ---- */

typedef struct idlist {
    char **v;
    size_t n, cap;
} idlist;

static void il_free(idlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Whether s is in l; *pos: where it is or would go. */
static bool il_find(const idlist *l, const char *s, size_t *pos)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid], s);
        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *pos = lo;
    return false;
}

static void il_set(idlist *l, const char *s, bool add)
{
    size_t pos;
    bool has = il_find(l, s, &pos);
    if (add && !has) {
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 64;
            l->v = realloc(l->v, l->cap * sizeof *l->v);
            if (!l->v) abort();
        }
        memmove(l->v + pos + 1, l->v + pos, (l->n - pos) * sizeof *l->v);
        l->v[pos] = strdup(s);
        if (!l->v[pos]) abort();
        l->n++;
    } else if (!add && has) {
        free(l->v[pos]);
        memmove(l->v + pos, l->v + pos + 1, (l->n - pos - 1) * sizeof *l->v);
        l->n--;
    }
}

/* ---- a: the block form round-trips ---- */

/* n random ids, sorted and unique, into l (ids pushed) and *strs (caller frees each and it). */
static size_t random_list(uint64_t *r, size_t n, post_ids *l, char ***strs)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    char id[ID_BUF];
    for (size_t i = 0; i < n; i++) {
        gen_id(r, id);
        v[i] = strdup(id);
    }
    qsort(v, n, sizeof *v, str_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(v[m - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[m++] = v[i];
    }
    post_ids_reset(l);
    for (size_t i = 0; i < m; i++)
        if (post_ids_push(l, v[i], strlen(v[i])) != CAIRN_OK) abort();
    *strs = v;
    return m;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Encodes ids [from, to) of l after some bytes already in a buffer, decodes, compares. */
static void round_trip(const post_ids *l, size_t from, size_t to)
{
    cairn_buf b = CAIRN_BUF_INIT;
    post_ids back = { 0 };
    CHECK_OK(cairn_buf_append(&b, "xyz", 3)); /* encode appends */
    CHECK_OK(post_encode(&b, l, from, to));
    CHECK_MEM(b.data, 3, "xyz", 3);
    CHECK_EQ(b.data[3], POST_FORM);
    CHECK_OK(post_decode(&back, b.data + 3, b.len - 3));
    CHECK_EQ(back.n, to - from);
    for (size_t i = from; i < to; i++) {
        size_t la, lb;
        const char *x = post_ids_at(l, i, &la), *y = post_ids_at(&back, i - from, &lb);
        CHECK_MEM(y, lb, x, la);
    }
    /* decoding into a list that held something empties it first */
    CHECK_OK(post_decode(&back, b.data + 3, b.len - 3));
    CHECK_EQ(back.n, to - from);
    cairn_buf_dispose(&b);
    post_ids_dispose(&back);
}

static void codec_round_trip(void)
{
    uint64_t r = test_rng(1);
    post_ids l = { 0 };
    for (int trial = 0; trial < 300; trial++) {
        size_t want = 1 + (trial < 200 ? test_rand(&r) % 80 : test_rand(&r) % POST_MAX);
        char **v;
        size_t n = random_list(&r, want, &l, &v);
        SUB(round_trip(&l, 0, n));
        size_t from = test_rand(&r) % n, to = from + 1 + test_rand(&r) % (n - from);
        SUB(round_trip(&l, from, to)); /* a slice: its first id stored whole */
        free_strs(v, n);
    }
    /* POST_MAX ids in one block: numbers (long shared prefixes), then the longest ids */
    post_ids_reset(&l);
    char id[ID_BUF];
    for (int i = 0; i < POST_MAX; i++) {
        int n = snprintf(id, sizeof id, "doc-%06d", i * 7);
        CHECK_OK(post_ids_push(&l, id, (size_t)n));
    }
    SUB(round_trip(&l, 0, POST_MAX));
    post_ids_reset(&l);
    for (int i = 0; i < POST_MAX; i++) {
        memset(id, 'a' + i / 26 % 26, CAIRN_DOC_ID_LEN_MAX); /* no sharing beyond a byte or so */
        id[CAIRN_DOC_ID_LEN_MAX - 1] = (char)('a' + i % 26);
        id[0] = (char)('A' + i / 26);
        CHECK_OK(post_ids_push(&l, id, CAIRN_DOC_ID_LEN_MAX));
    }
    SUB(round_trip(&l, 0, POST_MAX));
    /* exact bytes of a small block: "abc", "abd", "b" */
    post_ids_reset(&l);
    CHECK_OK(post_ids_push(&l, "abc", 3));
    CHECK_OK(post_ids_push(&l, "abd", 3));
    CHECK_OK(post_ids_push(&l, "b", 1));
    cairn_buf b = CAIRN_BUF_INIT;
    CHECK_OK(post_encode(&b, &l, 0, 3));
    static const uint8_t want[] = { 0x01, 3, 0, 3, 'a', 'b', 'c', 2, 1, 'd', 0, 1, 'b' };
    CHECK_MEM(b.data, b.len, want, sizeof want);
    cairn_buf_dispose(&b);
    post_ids_dispose(&l);
}

/* ---- b: every malformation refused ---- */

static void refused(const void *v, size_t n, const char *part, int line)
{
    post_ids l = { 0 };
    cairn_error_clear();
    int rc = post_decode(&l, v, n);
    post_ids_dispose(&l);
    CHECK_MSG(rc == CAIRN_ECORRUPT, "line %d: decode returned %d, not CAIRN_ECORRUPT", line, rc);
    CHECK_MSG(strstr(cairn_error_last()->message, part) != NULL &&
                  strstr(cairn_error_last()->message, "posting block") != NULL,
              "line %d: message \"%s\" lacks \"%s\"", line, cairn_error_last()->message, part);
}

static void accepted(const void *v, size_t n, size_t count, int line)
{
    post_ids l = { 0 };
    int rc = post_decode(&l, v, n);
    size_t got = l.n;
    post_ids_dispose(&l);
    CHECK_MSG(rc == CAIRN_OK, "line %d: decode returned %d: %s", line, rc,
              cairn_error_last()->message);
    CHECK_MSG(got == count, "line %d: %zu ids, not %zu", line, got, count);
}

#define BAD(lit, part) SUB(refused(lit, sizeof lit - 1, part, __LINE__))
#define GOOD(lit, count) SUB(accepted(lit, sizeof lit - 1, count, __LINE__))

#define NOT_FIRST "does not begin with"
#define COUNT "count is not a number"
#define SHORT "cut short or malformed"
#define LENGTH "impossible length"
#define ORDER "is not after the one before it"
#define BYTE "which no id may hold"
#define TRAIL "after its last id"

static void decode_refuses(void)
{
    GOOD("\x01\x01\x00\x01" "a", 1);
    GOOD("\x01\x03\x00\x03" "abc" "\x02\x01" "d" "\x00\x01" "b", 3);
    GOOD("\x01\x02\x00\x02" "ab" "\x02\x01" "c", 2); /* an id extending the one before */
    BAD("", NOT_FIRST);
    BAD("\x02\x01\x00\x01" "a", NOT_FIRST);
    BAD("a", NOT_FIRST);
    BAD("\x01", COUNT);                            /* no count */
    BAD("\x01\x00", COUNT);                        /* count 0 */
    BAD("\x01\x81\x04\x00\x01" "a", COUNT);        /* 513 */
    BAD("\x01\x80", COUNT);                        /* truncated count */
    BAD("\x01\x81\x00\x00\x01" "a", COUNT);        /* overlong count */
    /* an id cut short */
    BAD("\x01\x01", SHORT);                        /* no id at all */
    BAD("\x01\x01\x00", SHORT);                    /* no length of the rest */
    BAD("\x01\x01\x00\x85", SHORT);                /* a truncated varint */
    BAD("\x01\x01\x80\x00\x01" "a", SHORT);        /* an overlong varint */
    BAD("\x01\x02\x00\x01" "a", SHORT);            /* says 2, holds 1 */
    BAD("\x01\x01\x00\x03" "ab", LENGTH);          /* the rest cut short */
    BAD("\x01\x01\x00\xff\xff\xff\xff\x0f" "ab", LENGTH);
    BAD("\x01\x02\x00\x02" "ab" "\x02\x02" "c", LENGTH);
    /* lengths no id has */
    BAD("\x01\x02\x00\x02" "ab" "\x03\x01" "c", LENGTH); /* shares more than the one before has */
    BAD("\x01\x01\x01\x01" "a", LENGTH);           /* the first shares */
    BAD("\x01\x01\x00\x00", LENGTH);               /* an empty id */
    /* order, and the one shortest form */
    BAD("\x01\x02\x00\x02" "ab" "\x02\x00", ORDER);        /* equal */
    BAD("\x01\x02\x00\x02" "ab" "\x01\x01" "b", ORDER);    /* equal, shared too short */
    BAD("\x01\x02\x00\x01" "b" "\x00\x01" "a", ORDER);     /* smaller */
    BAD("\x01\x02\x00\x03" "abc" "\x02\x00", ORDER);       /* a prefix of the one before */
    BAD("\x01\x02\x00\x03" "abc" "\x02\x01" "a", ORDER);   /* "aba" after "abc" */
    BAD("\x01\x02\x00\x03" "abc" "\x01\x02" "bd", ORDER);  /* "abd", sharing 1 of 2 */
    BAD("\x01\x02\x00\x03" "abc" "\x00\x03" "abd", ORDER); /* "abd", sharing nothing */
    BAD("\x01\x03\x00\x01" "a" "\x00\x01" "c" "\x00\x01" "b", ORDER);
    /* not UTF-8: a byte that starts no character, and a character the shared part cuts */
    BAD("\x01\x01\x00\x01\xff", "not valid UTF-8");
    BAD("\x01\x02\x00\x02" "a\xc3" "\x02\x01" "b", "not valid UTF-8");
    GOOD("\x01\x02\x00\x03" "a\xc3\xa9" "\x02\x01" "\xb6", 2); /* "aé", "aö": the rest
                                                                       alone is no character */
    /* bytes no id holds, in a first id and in a later one's rest */
    BAD("\x01\x01\x00\x02" "a\x1f", BYTE);
    BAD("\x01\x01\x00\x01" "\x00", BYTE);
    BAD("\x01\x01\x00\x01" "\n", BYTE);
    BAD("\x01\x01\x00\x01" "\x7f", BYTE);
    BAD("\x01\x01\x00\x03" "a/b", BYTE);
    BAD("\x01\x01\x00\x03" "a\\b", BYTE);
    BAD("\x01\x02\x00\x01" "a" "\x01\x01" "/", BYTE);
    BAD("\x01\x02\x00\x01" "a" "\x00\x02" "b\x01", BYTE);
    /* bytes after the last id */
    BAD("\x01\x01\x00\x01" "a" "x", TRAIL);
    BAD("\x01\x01\x00\x01" "a" "\x00", TRAIL);
    BAD("\x01\x01\x00\x01" "a" "\x00\x01" "b", TRAIL);
    /* the longest id, and one byte more: whole, and through sharing */
    uint8_t v[2 * CAIRN_DOC_ID_LEN_MAX + 16] = { 0x01, 1, 0 };
    size_t at = 3; /* after the form, the count and the first id's shared 0 */
    size_t n = at + varint_put(v + at, CAIRN_DOC_ID_LEN_MAX);
    memset(v + n, 'a', CAIRN_DOC_ID_LEN_MAX);
    SUB(accepted(v, n + CAIRN_DOC_ID_LEN_MAX, 1, __LINE__));
    n = at;
    n += varint_put(v + n, CAIRN_DOC_ID_LEN_MAX + 1);
    memset(v + n, 'a', CAIRN_DOC_ID_LEN_MAX + 1);
    SUB(refused(v, n + CAIRN_DOC_ID_LEN_MAX + 1, LENGTH, __LINE__));
    n = at;
    n += varint_put(v + n, CAIRN_DOC_ID_LEN_MAX);
    memset(v + n, 'a', CAIRN_DOC_ID_LEN_MAX);
    n += CAIRN_DOC_ID_LEN_MAX;
    v[1] = 2;
    size_t second = n;
    n += varint_put(v + n, CAIRN_DOC_ID_LEN_MAX);
    v[n++] = 1, v[n++] = 'b';
    SUB(refused(v, n, LENGTH, __LINE__)); /* shares all 512 bytes, then one more */
    n = second;
    n += varint_put(v + n, CAIRN_DOC_ID_LEN_MAX - 1);
    v[n++] = 1, v[n++] = 'b';
    SUB(accepted(v, n, 2, __LINE__));
    /* POST_MAX ids pass, one more does not */
    cairn_buf b = CAIRN_BUF_INIT;
    post_ids l = { 0 };
    char id[16];
    for (int i = 0; i <= POST_MAX; i++) {
        int k = snprintf(id, sizeof id, "%04d", i);
        CHECK_OK(post_ids_push(&l, id, (size_t)k));
    }
    CHECK_OK(post_encode(&b, &l, 0, POST_MAX));
    SUB(accepted(b.data, b.len, POST_MAX, __LINE__));
    b.len = 0;
    CHECK_OK(post_encode(&b, &l, 0, POST_MAX + 1));
    SUB(refused(b.data, b.len, COUNT, __LINE__));
    cairn_buf_dispose(&b);
    post_ids_dispose(&l);
}

/* ---- the writer against a model ---- */

#define NWORDS 6
#define ROUNDS 40
#define DENSE 1 /* the word whose ids are mostly not cuts: blocks cut at POST_MAX */
#define GONE 4  /* the word deleted whole now and then */

typedef struct word {
    uint8_t prefix[32];
    size_t plen;
    idlist ids;
} word;

typedef struct world {
    cairn_db *db;
    cairn_table *t;
    dv_post_acc *acc;
    word w[NWORDS];
    size_t blocks[NWORDS]; /* as check_blocks() counted them */
    uint64_t r;
} world;

static void world_free(void *arg)
{
    world *W = arg;
    dv_post_acc_free(W->acc);
    for (size_t i = 0; i < NWORDS; i++) il_free(&W->w[i].ids);
    free(W);
}

static void set_prefix(word *w, const char *name)
{
    cairn_buf b = CAIRN_BUF_INIT;
    if (tuple_append_bytes(&b, name, strlen(name)) != CAIRN_OK || b.len > sizeof w->prefix)
        abort();
    memcpy(w->prefix, b.data, b.len);
    w->plen = b.len;
    cairn_buf_dispose(&b);
}

/* A new world: a memory repository, table "words", the words (the empty word among them). */
static world *world_new(void)
{
    world *W = calloc(1, sizeof *W);
    if (!W) abort();
    test_defer(world_free, W);
    W->r = test_rng(3);
    static const char *const names[NWORDS] = { "alpha", "dense", "", "\xc3\xa9t\xc3\xa9", "zz",
                                               "b" };
    for (size_t i = 0; i < NWORDS; i++) set_prefix(&W->w[i], names[i]);
    W->db = test_open_repo("mem:");
    if (cairn_table_open(&W->t, W->db, "words", CAIRN_TABLE_CREATE) != CAIRN_OK ||
        dv_post_acc_new(&W->acc) != CAIRN_OK)
        abort();
    return W;
}

/* A new id for word wi (for DENSE: a cut only one time in ten). */
static size_t word_id(world *W, size_t wi, char *out)
{
    for (;;) {
        size_t n = gen_id(&W->r, out);
        if (wi != DENSE || !post_cut(out, n) || test_rand(&W->r) % 10 == 0) return n;
    }
}

static int change(world *W, size_t wi, const char *id, bool add)
{
    il_set(&W->w[wi].ids, id, add);
    return dv_post_acc_add(W->acc, W->w[wi].prefix, W->w[wi].plen, id, strlen(id), add);
}

/* An id before the word's first (false: none to make). */
static bool before_first(const idlist *l, char *out)
{
    if (!l->n) return false;
    const char *s = l->v[0];
    size_t n = strlen(s);
    bool ascii = true;
    for (size_t i = 0; i + 1 < n; i++) ascii = ascii && (uint8_t)s[i] < 0x80;
    if (n > 1 && ascii) { /* a proper prefix sorts first */
        memcpy(out, s, n - 1);
        out[n - 1] = '\0';
        return true;
    }
    uint8_t c = (uint8_t)s[0];
    if (c <= 0x21) return false;
    c--;
    if (c == '/' || c == '\\') c--;
    out[0] = (char)c, out[1] = '\0';
    return true;
}

static bool after_last(const idlist *l, char *out)
{
    if (!l->n) return false;
    size_t n = strlen(l->v[l->n - 1]);
    if (n >= CAIRN_DOC_ID_LEN_MAX) return false;
    memcpy(out, l->v[l->n - 1], n);
    out[n] = '~', out[n + 1] = '\0';
    return true;
}

/* Adds count new ids to word wi, given in increasing order (a bulk's). */
static int bulk_add(world *W, size_t wi, size_t count)
{
    char id[ID_BUF];
    char **v = malloc(count * sizeof *v);
    for (size_t i = 0; i < count; i++) {
        word_id(W, wi, id);
        v[i] = strdup(id);
    }
    qsort(v, count, sizeof *v, str_cmp);
    int rc = CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < count; i++)
        if (i == 0 || strcmp(v[i - 1], v[i]) != 0) rc = change(W, wi, v[i], true);
    free_strs(v, count);
    return rc;
}

/* One random change to word wi. */
static int random_change(world *W, size_t wi)
{
    idlist *l = &W->w[wi].ids;
    char id[ID_BUF];
    uint64_t k = test_rand(&W->r) % 12;
    if (!l->n && k >= 4 && k != 6 && k != 8 && k != 11) k = 0;
    switch (k) {
    case 4: case 5: /* delete a present id */
        snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
        return change(W, wi, id, false);
    case 6: /* delete an absent id (mostly) */
        word_id(W, wi, id);
        return change(W, wi, id, false);
    case 7: /* add a present id */
        snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
        return change(W, wi, id, true);
    case 8: { /* several changes of one id in one batch, new or present: the last counts */
        if (l->n && test_rand(&W->r) % 2)
            snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
        else
            word_id(W, wi, id);
        bool last = test_rand(&W->r) % 2;
        TRY(change(W, wi, id, !last));
        if (test_rand(&W->r) % 2) TRY(change(W, wi, id, last));
        TRY(change(W, wi, id, !last));
        return change(W, wi, id, last);
    }
    case 9: /* before the first, after the last */
        if (test_rand(&W->r) % 2 ? before_first(l, id) : after_last(l, id))
            return change(W, wi, id, true);
        return CAIRN_OK;
    case 10: /* delete the first or the last */
        snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % 2 ? 0 : l->n - 1]);
        return change(W, wi, id, false);
    case 11: /* one id to several words in a row (a document's words) */
        word_id(W, wi, id);
        for (size_t j = 0; j < 3; j++) TRY(change(W, (wi + j * 2) % NWORDS, id, true));
        return CAIRN_OK;
    default:
        word_id(W, wi, id);
        return change(W, wi, id, true);
    }
}

/* A bulk of new documents: ids in increasing order, each given to some words one after
 * another, some added and removed again (the writer's path for changes given in order). */
static int bulk_documents(world *W, size_t count)
{
    char **v = malloc(count * sizeof *v), id[ID_BUF];
    for (size_t i = 0; i < count; i++) {
        gen_id(&W->r, id);
        v[i] = strdup(id);
    }
    qsort(v, count, sizeof *v, str_cmp);
    int rc = CAIRN_OK;
    for (size_t i = 0; i < count; i++) {
        for (size_t wi = 0; rc == CAIRN_OK && wi < NWORDS; wi++) {
            if (test_rand(&W->r) % 3 || (i && strcmp(v[i - 1], v[i]) == 0)) continue;
            rc = change(W, wi, v[i], true);
            if (rc == CAIRN_OK && test_rand(&W->r) % 8 == 0) rc = change(W, wi, v[i], false);
        }
    }
    free_strs(v, count);
    return rc;
}

/* The changes of one round. */
static int round_changes(world *W, int round)
{
    if (round % 4 == 2 && round % 6 != 4) return bulk_documents(W, 400);
    if (round == 0) { /* a first bulk, ids given sorted */
        static const size_t first[NWORDS] = { 2500, 1500, 80, 500, 120, 40 };
        for (size_t wi = 0; wi < NWORDS; wi++) TRY(bulk_add(W, wi, first[wi]));
        return CAIRN_OK;
    }
    if (round % 7 == 3) { /* more bulk */
        TRY(bulk_add(W, 0, 600));
        TRY(bulk_add(W, DENSE, 300));
    }
    if (round % 6 == 5) TRY(bulk_add(W, GONE, 100));
    if (round == 11 || round == 19) { /* a run of ids: whole blocks go, from the last down */
        idlist *l = &W->w[round == 11 ? 0 : DENSE].ids;
        size_t from = l->n / 3, to = MIN(l->n, from + 700);
        for (size_t i = to; i-- > from;) {
            char id[ID_BUF];
            snprintf(id, sizeof id, "%s", l->v[i]);
            TRY(change(W, round == 11 ? 0 : DENSE, id, false));
        }
    }
    if (round == 13 || round == 21) { /* the dense word's smallest id in and out: every cut
                                         made by the count moves */
        char id[] = " ";
        size_t pos;
        TRY(change(W, DENSE, id, !il_find(&W->w[DENSE].ids, id, &pos)));
    }
    for (size_t wi = 0; wi < NWORDS; wi++) {
        if (test_rand(&W->r) % 4 == 0) continue;
        size_t k = 1 + test_rand(&W->r) % (W->w[wi].ids.n / 8 + 30);
        while (k--) TRY(random_change(W, wi));
    }
    if (round % 6 == 4) { /* a word deleted whole, in random order, after changes to it */
        idlist *l = &W->w[GONE].ids;
        while (l->n) {
            char id[ID_BUF];
            snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
            TRY(change(W, GONE, id, false));
        }
    }
    return CAIRN_OK;
}

/* The words in key order. */
static void word_order(const world *W, size_t *order)
{
    for (size_t i = 0; i < NWORDS; i++) order[i] = i;
    for (size_t i = 1; i < NWORDS; i++)
        for (size_t j = i; j > 0; j--) {
            const word *a = &W->w[order[j - 1]], *b = &W->w[order[j]];
            if (bytes_cmp(a->prefix, a->plen, b->prefix, b->plen) < 0) break;
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* The key a per-pair entry has: prefix, then the id as a tuple string. */
static void pair_key(cairn_buf *out, const word *w, const char *id)
{
    out->len = 0;
    if (cairn_buf_append(out, w->prefix, w->plen) != CAIRN_OK ||
        tuple_append_string(out, id, strlen(id)) != CAIRN_OK)
        abort();
}

/* Every pair of the table, walked with dv_pcur, is the model's, in order. */
static void check_pairs(world *W, cairn_table *t)
{
    size_t order[NWORDS];
    word_order(W, order);
    dv_pcur *c;
    CHECK_OK(dv_pcur_open(&c, t, NULL, NULL, 0, WHAT));
    cairn_buf want = CAIRN_BUF_INIT;
    int rc = CAIRN_OK;
    for (size_t o = 0; o < NWORDS; o++) {
        const word *w = &W->w[order[o]];
        for (size_t i = 0; i < w->ids.n; i++) {
            rc = dv_pcur_next(c);
            if (rc != CAIRN_OK) break;
            const uint8_t *k;
            const char *id;
            size_t kl, plen, idlen;
            CHECK_OK(dv_pcur_get(c, &k, &kl, &plen, &id, &idlen));
            pair_key(&want, w, w->ids.v[i]);
            if (plen != w->plen || idlen != strlen(w->ids.v[i]) ||
                memcmp(id, w->ids.v[i], idlen) != 0 || kl != want.len ||
                memcmp(k, want.data, kl) != 0) {
                rc = CAIRN_EINVAL;
                char shown[128];
                test_fail(__FILE__, __LINE__, "word %zu pair %zu of %zu: \"%s\", want \"%s\"",
                          order[o], i, w->ids.n, bytes_show(shown, sizeof shown, id, idlen),
                          w->ids.v[i]);
                break;
            }
        }
        if (rc != CAIRN_OK) break;
    }
    if (rc == CAIRN_OK) CHECK_RC(dv_pcur_next(c), CAIRN_ENOTFOUND);
    cairn_buf_dispose(&want);
    dv_pcur_close(c);
    CHECK_OK(rc);
}

/* The blocks as the rule cuts them: each of 1..POST_MAX ids, no id but a block's last a
 * cut, every block but a word's last ending on a cut or at POST_MAX ids, its key naming its
 * first id. Counts each word's blocks. */
static void check_blocks(world *W)
{
    memset(W->blocks, 0, sizeof W->blocks);
    cairn_cursor *cur;
    CHECK_OK(cairn_cursor_open(&cur, W->t, NULL, NULL));
    post_ids l = { 0 };
    size_t prev = NWORDS; /* the word of the block before (NWORDS: none) */
    bool prev_ends = false;
    int rc;
    while ((rc = cairn_cursor_next(cur)) == CAIRN_OK) {
        const void *k, *v;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &v, &vl, cur);
        size_t plen = post_prefix_len(k, kl), wi = 0;
        while (wi < NWORDS && (W->w[wi].plen != plen || memcmp(W->w[wi].prefix, k, plen) != 0))
            wi++;
        CHECK(plen && wi < NWORDS);
        const uint8_t *first;
        size_t flen, len;
        CHECK(post_key_id(&first, &flen, k, kl, plen));
        CHECK_OK(post_decode(&l, v, vl));
        CHECK(l.n >= 1 && l.n <= POST_MAX);
        const char *id = post_ids_at(&l, 0, &len);
        CHECK_MEM(id, len, first, flen);
        for (size_t j = 0; j + 1 < l.n; j++) {
            id = post_ids_at(&l, j, &len);
            CHECK_MSG(!post_cut(id, len), "word %zu block %zu: id %zu of %zu is a cut", wi,
                      W->blocks[wi], j, l.n);
        }
        if (prev == wi)
            CHECK_MSG(prev_ends, "word %zu block %zu ends neither on a cut nor full", wi,
                      W->blocks[wi] - 1);
        id = post_ids_at(&l, l.n - 1, &len);
        prev_ends = post_cut(id, len) || l.n == POST_MAX;
        prev = wi;
        W->blocks[wi]++;
    }
    cairn_cursor_close(cur);
    post_ids_dispose(&l);
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    cairn_error_clear();
}

/* Puts in b the blocks of the model cut by the rule as written here (not the writer's). */
static void put_model_blocks(world *W, cairn_batch *b, cairn_table *t)
{
    post_ids l = { 0 };
    cairn_buf key = CAIRN_BUF_INIT, val = CAIRN_BUF_INIT;
    for (size_t wi = 0; wi < NWORDS; wi++) {
        const idlist *m = &W->w[wi].ids;
        post_ids_reset(&l);
        for (size_t i = 0; i < m->n; i++) {
            size_t n = strlen(m->v[i]);
            CHECK_OK(post_ids_push(&l, m->v[i], n));
            if (i + 1 < m->n && !post_cut(m->v[i], n) && l.n < POST_MAX) continue;
            size_t flen;
            const char *first = post_ids_at(&l, 0, &flen);
            key.len = val.len = 0;
            CHECK_OK(cairn_buf_append(&key, W->w[wi].prefix, W->w[wi].plen));
            CHECK_OK(tuple_append_string(&key, first, flen));
            CHECK_OK(post_encode(&val, &l, 0, l.n));
            CHECK_OK(cairn_batch_put(b, t, key.data, key.len, val.data, val.len));
            post_ids_reset(&l);
        }
    }
    post_ids_dispose(&l);
    cairn_buf_dispose(&key);
    cairn_buf_dispose(&val);
}

/* History independence: the model's pairs written at once to a new table, by the writer (in a
 * random order) and by the rule as written here, give the table's root. */
static void check_root(world *W, int round)
{
    cairn_id want;
    CHECK_OK(cairn_table_root(&want, W->t, NULL));
    for (int how = 0; how < 2; how++) {
        char name[32];
        snprintf(name, sizeof name, "scratch%d_%d", round, how);
        cairn_table *s;
        CHECK_OK(cairn_table_open(&s, W->db, name, CAIRN_TABLE_CREATE));
        cairn_batch *b;
        CHECK_OK(cairn_batch_new(&b, W->db));
        if (how == 0) {
            size_t total = 0;
            for (size_t wi = 0; wi < NWORDS; wi++) total += W->w[wi].ids.n;
            uint64_t *pick = malloc((total ? total : 1) * sizeof *pick);
            size_t k = 0;
            for (size_t wi = 0; wi < NWORDS; wi++)
                for (size_t i = 0; i < W->w[wi].ids.n; i++) pick[k++] = (uint64_t)wi << 32 | i;
            for (size_t i = total; i > 1; i--) { /* shuffled */
                size_t j = test_rand(&W->r) % i;
                uint64_t t = pick[i - 1];
                pick[i - 1] = pick[j];
                pick[j] = t;
            }
            dv_post_acc *a;
            CHECK_OK(dv_post_acc_new(&a));
            int rc = CAIRN_OK;
            for (size_t i = 0; rc == CAIRN_OK && i < total; i++) {
                const word *w = &W->w[pick[i] >> 32];
                const char *id = w->ids.v[pick[i] & 0xffffffffu];
                rc = dv_post_acc_add(a, w->prefix, w->plen, id, strlen(id), true);
            }
            free(pick);
            if (rc == CAIRN_OK) rc = dv_post_acc_flush(a, b, s, WHAT);
            dv_post_acc_free(a);
            CHECK_OK(rc);
        } else {
            SUB(put_model_blocks(W, b, s));
        }
        CHECK_OK(cairn_batch_commit(b));
        cairn_batch_free(b);
        cairn_id got;
        CHECK_OK(cairn_table_root(&got, s, NULL));
        CHECK_MSG(memcmp(&got, &want, sizeof got) == 0,
                  "round %d: the root of the pairs written at once (%s) is not the table's",
                  round, how ? "by the rule" : "by the writer");
        cairn_table_close(s);
        CHECK_OK(cairn_table_drop(W->db, name));
    }
}

/* dv_post_estimate: exact for few blocks, blocks times the average block for more. */
static void check_estimates(world *W)
{
    for (size_t wi = 0; wi < NWORDS; wi++) {
        uint64_t est, n = W->w[wi].ids.n, blocks = W->blocks[wi];
        CHECK_OK(dv_post_estimate(&est, W->t, NULL, W->w[wi].prefix, W->w[wi].plen, WHAT));
        if (blocks <= 4) {
            CHECK_EQ(est, n);
            continue;
        }
        CHECK_EQ(est, blocks * (POST_CUT_MASK + 1));
        CHECK(n >= blocks && n <= blocks * POST_MAX);
        if (wi != DENSE && blocks >= 16) /* random ids: blocks of 64 on average */
            CHECK_MSG(est <= 4 * n && n <= 4 * est, "word %zu: %llu ids, estimated %llu", wi,
                      (unsigned long long)n, (unsigned long long)est);
    }
}

/* Asks probe p about ids q[0..n) in that order, comparing with l. */
static void ask(dv_probe *p, const idlist *l, char **q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool has, want;
        size_t pos;
        CHECK_OK(dv_probe_has(p, &has, q[i], strlen(q[i])));
        want = il_find(l, q[i], &pos);
        CHECK_MSG(has == want, "probe of \"%s\" (%zu of %zu): %d, want %d", q[i], i, n, has,
                  want);
    }
}

/* dv_probe for every word against the model: ids present and absent (before the first, after
 * the last, between, each block's first and last), asked in increasing order, in random
 * order, and in increasing runs that go back; and the word's own walk (dv_pcur on its prefix). */
static void check_probes(world *W, const uint8_t *prefix, size_t plen, const idlist *l)
{
    size_t cap = 1200, n = 0;
    char **q = calloc(cap, sizeof *q);
    char id[ID_BUF + 1];
    /* present ones, each block's first and last (the word's walk gives them) */
    dv_pcur *c;
    CHECK_OK(dv_pcur_open(&c, W->t, NULL, prefix, plen, WHAT));
    size_t i = 0;
    int rc;
    while ((rc = dv_pcur_next(c)) == CAIRN_OK) {
        const char *x;
        size_t xl, kl, at, bn;
        const uint8_t *k;
        dv_pcur_get(c, NULL, NULL, NULL, &x, &xl);
        CHECK(i < l->n && xl == strlen(l->v[i]) && memcmp(x, l->v[i], xl) == 0);
        dv_pcur_block(c, &k, &kl, &at, &bn);
        if ((at == 0 || at + 1 == bn || test_rand(&W->r) % 16 == 0) && n < cap - 400)
            q[n++] = strdup(l->v[i]);
        i++;
    }
    dv_pcur_close(c);
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    CHECK_EQ(i, l->n);
    /* absent ones (mostly) */
    for (int k = 0; k < 150; k++) {
        gen_id(&W->r, id);
        q[n++] = strdup(id);
    }
    for (int k = 0; k < 100 && l->n; k++) { /* just after a present one */
        snprintf(id, sizeof id, "%s!", l->v[test_rand(&W->r) % l->n]);
        if (strlen(id) <= CAIRN_DOC_ID_LEN_MAX) q[n++] = strdup(id);
    }
    if (before_first(l, id)) q[n++] = strdup(id);
    if (after_last(l, id)) q[n++] = strdup(id);
    q[n++] = strdup(" ");
    q[n++] = strdup("~~~~");
    qsort(q, n, sizeof *q, str_cmp);
    dv_probe *p;
    CHECK_OK(dv_probe_open(&p, W->t, NULL, prefix, plen, WHAT));
    SUB(ask(p, l, q, n));              /* increasing */
    SUB(ask(p, l, q + n / 2, n - n / 2)); /* back to the middle, increasing again */
    SUB(ask(p, l, q, n));
    for (size_t k = n; k > 1; k--) {  /* random order */
        size_t j = test_rand(&W->r) % k;
        char *t = q[k - 1];
        q[k - 1] = q[j];
        q[j] = t;
    }
    SUB(ask(p, l, q, n));
    dv_probe_close(p);
    CHECK_OK(dv_probe_open(&p, W->t, NULL, prefix, plen, WHAT)); /* a fresh probe, random order */
    SUB(ask(p, l, q, n));
    dv_probe_close(p);
    free_strs(q, n);
}

static void check_all_probes(world *W)
{
    for (size_t wi = 0; wi < NWORDS; wi++)
        SUB(check_probes(W, W->w[wi].prefix, W->w[wi].plen, &W->w[wi].ids));
    word none; /* a word with no block */
    set_prefix(&none, "nothing");
    idlist empty = { 0 };
    SUB(check_probes(W, none.prefix, none.plen, &empty));
}

static void writer_model(void)
{
    world *W = world_new();
    for (int round = 0; round < ROUNDS; round++) {
        CHECK_OK(round_changes(W, round));
        cairn_batch *b;
        CHECK_OK(cairn_batch_new(&b, W->db));
        CHECK_OK(dv_post_acc_flush(W->acc, b, W->t, WHAT));
        CHECK(!dv_post_acc_any(W->acc));
        CHECK_OK(cairn_batch_commit(b));
        cairn_batch_free(b);
        if (round % 5 == 2) { /* a new accumulator now and then; the old one was reused */
            dv_post_acc_free(W->acc);
            CHECK_OK(dv_post_acc_new(&W->acc));
        }
        SUB(check_pairs(W, W->t));
        SUB(check_blocks(W));
        SUB(check_estimates(W));
        SUB(check_root(W, round));
        if (round % 5 == 4 || round == ROUNDS - 1) SUB(check_all_probes(W));
        if (round % 6 == 4) CHECK_EQ(W->blocks[GONE], 0);
        if (round == 0) { /* the bulk made blocks cut by the count */
            CHECK(W->blocks[DENSE] >= 3);
            CHECK(W->blocks[0] >= 20);
        }
    }
    CHECK(W->w[0].ids.n > 3000);
    /* changes that change nothing (absent ids deleted, present ones added): the same root */
    cairn_id before, after;
    CHECK_OK(cairn_table_root(&before, W->t, NULL));
    char id[ID_BUF];
    for (size_t wi = 0; wi < NWORDS; wi++) {
        const idlist *l = &W->w[wi].ids;
        for (int k = 0; k < 20 && l->n; k++) {
            snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
            CHECK_OK(change(W, wi, id, true));
            snprintf(id, sizeof id, "%s!", l->v[test_rand(&W->r) % l->n]);
            size_t pos;
            if (strlen(id) <= CAIRN_DOC_ID_LEN_MAX && !il_find(l, id, &pos))
                CHECK_OK(change(W, wi, id, false));
        }
    }
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, W->db));
    CHECK_OK(dv_post_acc_flush(W->acc, b, W->t, WHAT));
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    CHECK_OK(cairn_table_root(&after, W->t, NULL));
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    SUB(check_pairs(W, W->t));
    /* one change rewrites the block it falls in, and at most the one after it: a batch of at
     * most 4 operations (the word's ids are random: blocks are cut by their hashes) */
    for (int k = 0; k < 40; k++) {
        const idlist *l = &W->w[0].ids;
        bool add = k % 2;
        if (add) word_id(W, 0, id);
        else snprintf(id, sizeof id, "%s", l->v[test_rand(&W->r) % l->n]);
        CHECK_OK(change(W, 0, id, add));
        CHECK_OK(cairn_batch_new(&b, W->db));
        CHECK_OK(dv_post_acc_flush(W->acc, b, W->t, WHAT));
        CHECK_MSG(cairn_batch_count(b) <= 4, "one change, %zu operations", cairn_batch_count(b));
        CHECK_OK(cairn_batch_commit(b));
        cairn_batch_free(b);
    }
    SUB(check_pairs(W, W->t));
    SUB(check_blocks(W));
    /* everything deleted: no block left */
    for (size_t wi = 0; wi < NWORDS; wi++)
        while (W->w[wi].ids.n) {
            snprintf(id, sizeof id, "%s", W->w[wi].ids.v[W->w[wi].ids.n - 1]);
            CHECK_OK(change(W, wi, id, false));
        }
    CHECK_OK(cairn_batch_new(&b, W->db));
    CHECK_OK(dv_post_acc_flush(W->acc, b, W->t, WHAT));
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    uint64_t n;
    CHECK_OK(cairn_count(&n, W->t, NULL, NULL));
    CHECK_EQ(n, 0);
    SUB(check_pairs(W, W->t));
    cairn_table_close(W->t);
}

/* ---- d: a table never written ---- */

static void never_written(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "later", CAIRN_TABLE_CREATE | CAIRN_TABLE_DEFER));
    word w;
    set_prefix(&w, "word");
    cairn_cursor *cur = NULL;
    CHECK_RC(cairn_cursor_open(&cur, t, NULL, NULL), CAIRN_ENOTFOUND);
    dv_probe *p;
    CHECK_OK(dv_probe_open(&p, t, NULL, w.prefix, w.plen, WHAT));
    bool has = true;
    CHECK_OK(dv_probe_has(p, &has, "a", 1));
    CHECK(!has);
    has = true;
    CHECK_OK(dv_probe_has(p, &has, "zzz", 3));
    CHECK(!has);
    dv_probe_close(p);
    uint64_t est = 7;
    CHECK_OK(dv_post_estimate(&est, t, NULL, w.prefix, w.plen, WHAT));
    CHECK_EQ(est, 0);
    dv_pcur *c = NULL;
    CHECK_RC(dv_pcur_open(&c, t, NULL, NULL, 0, WHAT), CAIRN_ENOTFOUND);
    CHECK(c == NULL);
    /* the first flush reads no table; its commit makes it */
    dv_post_acc *a;
    CHECK_OK(dv_post_acc_new(&a));
    CHECK(!dv_post_acc_any(a));
    CHECK_OK(dv_post_acc_add(a, w.prefix, w.plen, "b", 1, true));
    CHECK_OK(dv_post_acc_add(a, w.prefix, w.plen, "a", 1, true));
    CHECK_OK(dv_post_acc_add(a, w.prefix, w.plen, "c", 1, false));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    int rc = dv_post_acc_flush(a, b, t, WHAT);
    dv_post_acc_free(a);
    CHECK_OK(rc);
    CHECK_OK(cairn_batch_commit(b));
    cairn_batch_free(b);
    CHECK_OK(dv_probe_open(&p, t, NULL, w.prefix, w.plen, WHAT));
    static const char *const q[] = { " ", "a", "a!", "b", "c" };
    static const bool want[] = { false, true, false, true, false };
    for (size_t i = 0; i < 5; i++) {
        CHECK_OK(dv_probe_has(p, &has, q[i], strlen(q[i])));
        CHECK_EQ(has, want[i]);
    }
    dv_probe_close(p);
    CHECK_OK(dv_post_estimate(&est, t, NULL, w.prefix, w.plen, WHAT));
    CHECK_EQ(est, 2);
    cairn_table_close(t);
}

/* ---- f: damaged blocks ---- */

/* Walks the whole table with dv_pcur; *n: pairs read before the end or the first failure. */
static int walk(cairn_table *t, size_t *n, dv_pcur **keep)
{
    dv_pcur *c = NULL;
    *n = 0;
    TRY(dv_pcur_open(&c, t, NULL, NULL, 0, WHAT));
    int rc;
    while ((rc = dv_pcur_next(c)) == CAIRN_OK) ++*n;
    if (keep) *keep = c;
    else dv_pcur_close(c);
    return rc;
}

/* The message must name the index, the key (as bytes_show() shows it) and what is wrong. */
static void names_key(const void *k, size_t kl, const char *what)
{
    char shown[96];
    bytes_show(shown, sizeof shown, k, kl);
    CHECK_ERRMSG(WHAT);
    CHECK_ERRMSG(shown);
    CHECK_ERRMSG(what);
}

static void acc_free(void *a) { dv_post_acc_free(a); }

static void damaged_blocks(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "words", CAIRN_TABLE_CREATE));
    word w, v;
    set_prefix(&w, "w");
    set_prefix(&v, "v");
    dv_post_acc *a;
    CHECK_OK(dv_post_acc_new(&a));
    test_defer(acc_free, a);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        int k = snprintf(id, sizeof id, "id-%04d", i);
        CHECK_OK(dv_post_acc_add(a, w.prefix, w.plen, id, (size_t)k, true));
    }
    CHECK_OK(dv_post_acc_add(a, v.prefix, v.plen, "only", 4, true));
    cairn_batch *b;
    CHECK_OK(cairn_batch_new(&b, db));
    CHECK_OK(dv_post_acc_flush(a, b, t, WHAT));
    CHECK_OK(cairn_batch_commit(b));
    /* the blocks of w: the second one's key and value, the third's first id */
    cairn_range r = CAIRN_RANGE_INIT;
    r.prefix = w.prefix;
    r.prefix_len = w.plen;
    cairn_cursor *cur;
    CHECK_OK(cairn_cursor_open(&cur, t, NULL, &r));
    uint8_t key2[64], val2[4096], first3[16];
    size_t kl2 = 0, vl2 = 0, fl3 = 0, n2 = 0;
    post_ids l = { 0 };
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cairn_cursor_next(cur));
        const void *k, *val;
        size_t kl, vl;
        cairn_cursor_get(&k, &kl, &val, &vl, cur);
        if (i == 1) {
            CHECK(kl <= sizeof key2 && vl <= sizeof val2);
            memcpy(key2, k, kl2 = kl);
            memcpy(val2, val, vl2 = vl);
            CHECK_OK(post_decode(&l, val, vl));
            n2 = l.n;
        }
        if (i == 2) {
            const uint8_t *f;
            CHECK(post_key_id(&f, &fl3, k, kl, w.plen) && fl3 <= sizeof first3);
            memcpy(first3, f, fl3);
        }
    }
    cairn_cursor_close(cur);
    post_ids_dispose(&l);
    size_t n;
    CHECK_RC(walk(t, &n, NULL), CAIRN_ENOTFOUND);
    CHECK_EQ(n, 1001);

    /* a block whose count is 0: the walk stops there naming the key, and can go on after it */
    CHECK_OK(cairn_put(t, key2, kl2, "\x01\x00", 2));
    dv_pcur *c = NULL;
    CHECK_RC(walk(t, &n, &c), CAIRN_ECORRUPT);
    SUB(names_key(key2, kl2, "count"));
    size_t before = n;
    CHECK(before >= 1 && before < 1000);
    CHECK(dv_pcur_skippable(c));
    CHECK_OK(dv_pcur_next(c));
    const char *x;
    size_t xl;
    dv_pcur_get(c, NULL, NULL, NULL, &x, &xl);
    CHECK_MEM(x, xl, first3, fl3);
    int rc;
    while ((rc = dv_pcur_next(c)) == CAIRN_OK) n++;
    dv_pcur_close(c);
    CHECK_RC(rc, CAIRN_ENOTFOUND);
    CHECK_EQ(n + 1, 1001 - n2); /* all but the damaged block's ids */
    /* a probe that reaches it, and a flush that must rewrite it */
    char in2[32];
    post_ids_reset(&l);
    CHECK_OK(post_decode(&l, val2, vl2));
    size_t il;
    const char *i2 = post_ids_at(&l, l.n - 1, &il);
    memcpy(in2, i2, il);
    in2[il] = '\0';
    post_ids_dispose(&l);
    dv_probe *p;
    bool has;
    CHECK_OK(dv_probe_open(&p, t, NULL, w.prefix, w.plen, WHAT));
    CHECK_RC(dv_probe_has(p, &has, in2, strlen(in2)), CAIRN_ECORRUPT);
    SUB(names_key(key2, kl2, "count"));
    dv_probe_close(p);
    CHECK_OK(dv_post_acc_add(a, w.prefix, w.plen, in2, strlen(in2), false));
    cairn_batch_clear(b);
    CHECK_RC(dv_post_acc_flush(a, b, t, WHAT), CAIRN_ECORRUPT);
    SUB(names_key(key2, kl2, "count"));
    CHECK(!dv_post_acc_any(a));
    cairn_batch_clear(b);
    /* a block holding an id no id may hold */
    uint8_t bad[4096];
    memcpy(bad, val2, vl2);
    bad[vl2 - 1] = '/';
    CHECK_OK(cairn_put(t, key2, kl2, bad, vl2));
    CHECK_RC(walk(t, &n, NULL), CAIRN_ECORRUPT);
    SUB(names_key(key2, kl2, "byte 0x2f"));
    CHECK_EQ(n, before);
    /* a key whose id is not its block's first */
    CHECK_OK(cairn_put(t, key2, kl2, val2, vl2));
    CHECK_RC(walk(t, &n, NULL), CAIRN_ENOTFOUND);
    CHECK_EQ(n, 1001);
    uint8_t k2[64]; /* block 2's first id and a '~': a key between blocks 2 and 3 */
    size_t kl = kl2 + 1;
    memcpy(k2, key2, kl2 - 1);
    k2[kl2 - 1] = '~', k2[kl2] = 0x00;
    CHECK_OK(cairn_put(t, k2, kl, val2, vl2));
    CHECK_RC(walk(t, &n, NULL), CAIRN_ECORRUPT);
    SUB(names_key(k2, kl, "not the block's first"));
    CHECK_EQ(n, before + n2);
    CHECK_OK(dv_probe_open(&p, t, NULL, w.prefix, w.plen, WHAT));
    CHECK_RC(dv_probe_has(p, &has, (const char *)k2 + w.plen + 1, kl - w.plen - 2),
             CAIRN_ECORRUPT);
    SUB(names_key(k2, kl, "not the block's first"));
    dv_probe_close(p);
    CHECK_OK(cairn_delete(t, k2, kl));
    /* keys that are not a word and an id */
    static const uint8_t notword[] = { 0x00, 0x02, 'a', 0x00 }; /* sorts first */
    CHECK_OK(cairn_put(t, notword, sizeof notword, val2, vl2));
    CHECK_RC(walk(t, &n, NULL), CAIRN_ECORRUPT);
    SUB(names_key(notword, sizeof notword, "not a word and an id"));
    CHECK_EQ(n, 0);
    CHECK_OK(cairn_delete(t, notword, sizeof notword));
    uint8_t other[64];
    memcpy(other, w.prefix, w.plen);
    memcpy(other + w.plen, "\x05junk\x00", 6);
    CHECK_OK(cairn_put(t, other, w.plen + 6, val2, vl2));
    CHECK_RC(walk(t, &n, NULL), CAIRN_ECORRUPT);
    SUB(names_key(other, w.plen + 6, "not a word and an id"));
    CHECK_EQ(n, 1001);
    CHECK_OK(cairn_delete(t, other, w.plen + 6));
    /* an estimate that reads a block without its count (v has one block) */
    cairn_buf vk = CAIRN_BUF_INIT;
    CHECK_OK(post_key(&vk, v.prefix, v.plen, "only", 4));
    CHECK_OK(cairn_put(t, vk.data, vk.len, "\x02", 1));
    uint64_t est;
    CHECK_RC(dv_post_estimate(&est, t, NULL, v.prefix, v.plen, WHAT), CAIRN_ECORRUPT);
    SUB(names_key(vk.data, vk.len, "count"));
    cairn_buf_dispose(&vk);
    cairn_batch_free(b);
    cairn_table_close(t);
}

/* ---- the key helpers ---- */

static void keys(void)
{
    word w;
    set_prefix(&w, "w\xff");
    cairn_buf k = CAIRN_BUF_INIT, want = CAIRN_BUF_INIT;
    CHECK_OK(cairn_buf_append(&k, "pre", 3));
    CHECK_OK(post_key(&k, w.prefix, w.plen, "id 1", 4));
    CHECK_OK(cairn_buf_append(&want, "pre", 3));
    CHECK_OK(cairn_buf_append(&want, w.prefix, w.plen));
    CHECK_OK(tuple_append_string(&want, "id 1", 4));
    CHECK_MEM(k.data, k.len, want.data, want.len);
    CHECK_EQ(post_prefix_len(k.data + 3, k.len - 3), w.plen);
    const uint8_t *id;
    size_t len;
    CHECK(post_key_id(&id, &len, k.data + 3, k.len - 3, w.plen));
    CHECK_MEM(id, len, "id 1", 4);
    CHECK(!post_key_id(&id, &len, k.data + 3, k.len - 4, w.plen)); /* no end */
    CHECK(!post_key_id(&id, &len, k.data + 3, w.plen + 2, w.plen)); /* no id */
    CHECK_EQ(post_prefix_len("\x02" "ab", 3), 0);
    CHECK_EQ(post_prefix_len("\x01" "ab", 3), 0);
    CHECK_EQ(post_prefix_len("\x01", 1), 0);
    cairn_buf_dispose(&k);
    cairn_buf_dispose(&want);
}

TEST_MAIN(codec_round_trip, decode_refuses, keys, writer_model, never_written, damaged_blocks)
