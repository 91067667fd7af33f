/*
 * stored.c - the form a document takes in its collection's table (docs/FORMAT.md, "Stored
 * documents").
 *
 * A document is its canonical JSON, which carries _hash, _id, _ts and _v: about 135 bytes of a
 * typical 300-byte document, and so of every leaf and of every cache that holds one. The table
 * holds instead a short binary head (the hash as 32 bytes, the time as microseconds, the version
 * as a varint; _id is the key already) and the canonical JSON of the other members. The form is
 * a pure function of the canonical text and the id, so equal documents still have equal bytes,
 * and expanding it gives that canonical text back byte for byte: everything above this file
 * (hashes, signatures, filters, exports, history) sees the canonical text it always saw.
 *
 * A document whose metadata is not as cairn writes it (a table written through the KV API, or
 * by a version before this form) is stored, and read, as its canonical text: a value whose
 * first byte is '{'.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "base/varint.h"
#include "doc/doc_int.h"

#define HEAD_HASH 1                      /* offset of the hash */
#define HEAD_TS (HEAD_HASH + CAIRN_ID_SIZE) /* offset of the time */
#define HEAD_V (HEAD_TS + 8)             /* offset of the version's varint */
#define TS_TEXT_LEN 27                   /* YYYY-MM-DDTHH:MM:SS.uuuuuuZ */
#define US_PER_DAY INT64_C(86400000000)

/* The members the head holds, in canonical (byte) order. */
enum { M_HASH, M_ID, M_TS, M_V, M_COUNT };
static const struct {
    const char *name;
    size_t len;
} META[M_COUNT] = { { "_hash", 5 }, { "_id", 3 }, { "_ts", 3 }, { "_v", 2 } };

/* ---- the time: civil dates of the proleptic Gregorian calendar, years 0000-9999 ---- */

/* The first and the last microsecond the text form can write (0000-01-01, 9999-12-31). */
#define TS_MIN (-INT64_C(719528) * US_PER_DAY)
#define TS_MAX (INT64_C(2932897) * US_PER_DAY - 1)

static void put_digits(char *out, uint64_t v, size_t width)
{
    for (size_t i = width; i-- > 0; v /= 10) out[i] = (char)('0' + v % 10);
}

/* us (TS_MIN..TS_MAX) as YYYY-MM-DDTHH:MM:SS.uuuuuuZ (TS_TEXT_LEN bytes, no NUL). The date of
 * the last day written is kept per thread: the documents a query reads were mostly written on
 * few days. */
static void ts_text(char out[TS_TEXT_LEN], int64_t us)
{
    static _Thread_local struct {
        int64_t days;
        char text[11];
        bool set;
    } last;
    int64_t days = us >= 0 ? us / US_PER_DAY : -((-us + US_PER_DAY - 1) / US_PER_DAY);
    uint64_t rest = (uint64_t)(us - days * US_PER_DAY);
    if (!last.set || last.days != days) {
        int64_t y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        put_digits(last.text, (uint64_t)y, 4);
        last.text[4] = '-';
        put_digits(last.text + 5, m, 2);
        last.text[7] = '-';
        put_digits(last.text + 8, d, 2);
        last.text[10] = 'T';
        last.days = days;
        last.set = true;
    }
    memcpy(out, last.text, 11);
    uint64_t secs = rest / 1000000;
    put_digits(out + 11, secs / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, secs / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, secs % 60, 2);
    out[19] = '.';
    put_digits(out + 20, rest % 1000000, 6);
    out[26] = 'Z';
}

static bool digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* The time a _ts text stands for, when it is one ts_text() writes (then writing it again
 * gives the same bytes). */
static bool ts_parse(int64_t *out, const char *s, size_t n)
{
    uint64_t y, mo, d, h, mi, sec, us;
    if (n != TS_TEXT_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[26] != 'Z' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec) || !digits(s + 20, 6, &us) ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t v = days_from_civil((int64_t)y, (unsigned)mo, (unsigned)d) * US_PER_DAY +
                (int64_t)((h * 3600 + mi * 60 + sec) * 1000000 + us);
    char back[TS_TEXT_LEN];
    ts_text(back, v);
    if (memcmp(back, s, TS_TEXT_LEN) != 0) return false; /* 2026-02-30 and the like */
    *out = v;
    return true;
}

/* ---- packing: the canonical text into the stored form ---- */

typedef struct pack_ctx {
    const char *text;
    const char *id;
    size_t idlen;
    cairn_buf *out;           /* the members that are not in the head, as an object from start */
    size_t start;
    cairn_id hash;
    int64_t ts;
    uint64_t v;
    unsigned seen;            /* bit per META member met, each once */
} pack_ctx;

static int meta_of(const char *name, size_t nlen)
{
    for (int i = 0; i < M_COUNT; i++)
        if (nlen == META[i].len && memcmp(name, META[i].name, nlen) == 0) return i;
    return -1;
}

/* Whether val is id's canonical string: the id between quotes, '"' escaped (an id holds no
 * control character and no '\'). */
static bool is_id_text(const char *val, size_t vlen, const char *id, size_t idlen)
{
    if (vlen < 2 || val[0] != '"' || val[vlen - 1] != '"') return false;
    size_t j = 1;
    for (size_t i = 0; i < idlen; i++) {
        if (id[i] == '"' && (j + 1 >= vlen - 1 || val[j++] != '\\')) return false;
        if (j >= vlen - 1 || val[j++] != id[i]) return false;
    }
    return j == vlen - 1;
}

#define PACK_NO 1 /* a member is not as cairn writes it: the text is stored as it is */

static int pack_member(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                       void *payload)
{
    pack_ctx *p = payload;
    int m = meta_of(name, nlen);
    if (m < 0) {
        if (p->out->len > p->start + 1 && cairn_buf_append(p->out, ",", 1) < 0)
            return CAIRN_ENOMEM;
        size_t end = (size_t)(val + vlen - p->text);
        return cairn_buf_append(p->out, p->text + at, end - at) < 0 ? CAIRN_ENOMEM : 0;
    }
    if (p->seen & (1u << m)) return PACK_NO;
    p->seen |= 1u << m;
    switch (m) {
    case M_HASH: /* 64 lower-case hex digits: those that read back as they were written */
        if (vlen != 2 * CAIRN_ID_SIZE + 2 || val[0] != '"' || val[vlen - 1] != '"') return PACK_NO;
        return id_from_lower_hex(&p->hash, val + 1) ? 0 : PACK_NO;
    case M_ID:
        return is_id_text(val, vlen, p->id, p->idlen) ? 0 : PACK_NO;
    case M_TS:
        return vlen == TS_TEXT_LEN + 2 && val[0] == '"' && ts_parse(&p->ts, val + 1, TS_TEXT_LEN)
                   ? 0 : PACK_NO;
    default: /* M_V: a canonical integer, 0..INT64_MAX */
        if (vlen == 0 || vlen > 19 || (val[0] == '0' && vlen > 1) || !digits(val, vlen, &p->v) ||
            p->v > INT64_MAX)
            return PACK_NO;
        return 0;
    }
}

int dv_stored_pack(cairn_buf *out, const void *canon, size_t len, const char *id, size_t idlen)
{
    const char *text = canon;
    /* the body is written after room for the longest head, then moved down to the head */
    size_t room = HEAD_V + VARINT_MAX;
    pack_ctx p = { .text = text, .id = id, .idlen = idlen, .out = out, .start = room };
    out->len = 0;
    TRY(cairn_buf_reserve(out, room + len + 1));
    out->len = room;
    TRY(cairn_buf_append(out, "{", 1));
    int rc = len && text[0] == '{' ? canon_members(text, len, pack_member, &p) : PACK_NO;
    if (rc == CAIRN_ENOMEM) return ERR(CAIRN_ENOMEM, "out of memory storing a document");
    if (rc == CAIRN_OK && p.seen != (1u << M_COUNT) - 1) rc = PACK_NO;
    if (rc != CAIRN_OK) { /* not as cairn writes it: stored as its text */
        cairn_error_clear();
        return cairn_buf_set(out, canon, len);
    }
    TRY(cairn_buf_append(out, "}", 1));
    uint8_t head[HEAD_V + VARINT_MAX];
    head[0] = DV_STORED_FORM;
    memcpy(head + HEAD_HASH, p.hash.bytes, CAIRN_ID_SIZE);
    uint64_t ts = (uint64_t)p.ts;
    for (int i = 0; i < 8; i++) head[HEAD_TS + i] = (uint8_t)(ts >> (56 - 8 * i));
    size_t hl = HEAD_V + varint_put(head + HEAD_V, p.v);
    memmove(out->data + hl, out->data + room, out->len - room);
    memcpy(out->data, head, hl);
    out->len -= room - hl;
    return CAIRN_OK;
}

/* ---- reading ---- */


/* dv_stored_split(), and *why a value is refused. */
static int split_why(dv_stored *out, const void *val, size_t len, const char **why)
{
    const uint8_t *b = val;
    memset(out, 0, sizeof *out);
    if (len && b[0] == '{') {
        out->body = val;
        out->blen = len;
        return 0;
    }
#define REFUSE(text) do { *why = (text); return CAIRN_ECORRUPT; } while (0)
    if (!len) REFUSE("it is empty");
    if (b[0] != DV_STORED_FORM)
        REFUSE("its first byte is neither '{' nor a form this build knows");
    if (len < HEAD_V + 1 + 2) REFUSE("its head is cut short");
    out->hash = b + HEAD_HASH;
    uint64_t ts = 0;
    for (int i = 0; i < 8; i++) ts = ts << 8 | b[HEAD_TS + i];
    out->ts = (int64_t)ts;
    if (out->ts < TS_MIN || out->ts > TS_MAX) REFUSE("its time is outside years 0000-9999");
    size_t at = HEAD_V + varint_get(b + HEAD_V, b + len, &out->v);
    if (at == HEAD_V) REFUSE("its version is cut short, or not in its shortest form");
    if (out->v > INT64_MAX) REFUSE("its version is over 2^63 - 1");
    out->body = (const char *)b + at;
    out->blen = len - at;
    if (out->blen < 2 || out->body[0] != '{' || out->body[out->blen - 1] != '}')
        REFUSE("its body is not a JSON object");
#undef REFUSE
    return 1;
}

int dv_stored_split(dv_stored *out, const void *val, size_t len)
{
    const char *why;
    return split_why(out, val, len, &why);
}

/* Where each head member goes among the body's members: before the first member whose name
 * sorts after it. The walk stops at the first name past "_v", most often the first one. */
typedef struct place_ctx {
    const char *body;
    size_t at[M_COUNT];      /* offset in the body of the member it goes before, or 0: the end */
    int next;                /* the first head member not placed yet */
    bool clash;              /* the body holds a head member's name */
} place_ctx;

static int place_member(const char *name, size_t nlen, const char *val, size_t vlen, size_t at,
                        void *payload)
{
    (void)val;
    (void)vlen;
    place_ctx *p = payload;
    /* an escape only stands for a byte below '_' ('"', '\\', a control character), as '\\'
     * itself is: a name's escaped text sorts against these names as the name does */
    while (p->next < M_COUNT) {
        int c = bytes_cmp(name, nlen, META[p->next].name, META[p->next].len);
        if (c == 0) {
            p->clash = true;
            return 1;
        }
        if (c < 0) return 0;
        p->at[p->next++] = at;
    }
    return 1;
}

/* Writes "name":value for head member m of s (id: the key) at w; returns the end. */
static char *meta_write(char *w, int m, const dv_stored *s, const char *id, size_t idlen)
{
    *w++ = '"';
    memcpy(w, META[m].name, META[m].len);
    w += META[m].len;
    *w++ = '"';
    *w++ = ':';
    switch (m) {
    case M_HASH:
        *w++ = '"';
        hex_encode(w, s->hash, CAIRN_ID_SIZE); /* its NUL is written over next */
        w += 2 * CAIRN_ID_SIZE;
        *w++ = '"';
        break;
    case M_ID:
        *w++ = '"';
        for (size_t i = 0; i < idlen; i++) { /* an id holds no control character and no '\' */
            if (id[i] == '"') *w++ = '\\';
            *w++ = id[i];
        }
        *w++ = '"';
        break;
    case M_TS:
        *w++ = '"';
        ts_text(w, s->ts);
        w += TS_TEXT_LEN;
        *w++ = '"';
        break;
    default:
        w += canon_decimal(w, s->v, false, 1);
        break;
    }
    return w;
}

/* The most bytes the head's four members take written, with their commas, for an id of idlen
 * bytes: "_hash":"<64>" 74, "_id":"<id, '"' escaped>" 8 + 2 idlen, "_ts":"<27>" 35, "_v":<20
 * digits at most> 25, and 5 commas. */
#define META_TEXT_MAX(idlen) (74 + 8 + 2 * (idlen) + 35 + 25 + 5)

/* A comma at w, unless the text so far ends an opening brace or a comma. */
static char *sep(char *w)
{
    if (w[-1] != '{' && w[-1] != ',') *w++ = ',';
    return w;
}

/* The refusal of a stored value (why: what is wrong with it). */
static int refuse(const char *why, const char *id, size_t idlen, const char *coll)
{
    if (!coll)
        return ERR(CAIRN_ECORRUPT, "the value of key %.*s is not a stored document: %s",
                   (int)MIN(idlen, 200), id ? id : "", why);
    return ERR(CAIRN_ECORRUPT, "collection %s: document %.*s is stored in a form this build "
               "cannot read (%s): it was not written by cairn's document layer, or by a newer "
               "cairn", coll, (int)MIN(idlen, 200), id, why);
}

int dv_stored_expand(cairn_buf *out, const void *val, size_t len, const char *id, size_t idlen,
                     const char *coll)
{
    out->len = 0;
    dv_stored s;
    const char *why = NULL;
    int form = split_why(&s, val, len, &why);
    if (form == 0) return cairn_buf_append(out, val, len);
    if (form < 0) return refuse(why, id, idlen, coll);
    return dv_stored_text(out, &s, id, idlen, coll);
}

int dv_stored_text(cairn_buf *out, const dv_stored *sp, const char *id, size_t idlen,
                   const char *coll)
{
    const dv_stored s = *sp;
    place_ctx p = { .body = s.body };
    int rc = CAIRN_OK;
    if (s.blen == 2 || (s.body[1] == '"' && (uint8_t)s.body[2] > '_')) {
        /* the first name sorts after every head member (its first byte does): all go first */
        for (; p.next < M_COUNT; p.next++) p.at[p.next] = 1;
    } else {
        rc = canon_members(s.body, s.blen, place_member, &p);
    }
    if (rc < 0 || p.clash)
        return refuse(p.clash ? "its body repeats a member of its head"
                              : "its body is not a JSON object", id, idlen, coll);
    TRY(cairn_buf_reserve(out, s.blen + META_TEXT_MAX(idlen)));
    char *start = (char *)out->data, *w = start;
    size_t from = 1, end = s.blen - 1; /* the body copied so far; its closing brace */
    *w++ = '{';
    for (int m = 0; m < M_COUNT; m++) {
        size_t at = m < p.next ? p.at[m] : end; /* the member it goes before, or the end */
        if (at > from) { /* the body's members before it */
            w = sep(w);
            memcpy(w, s.body + from, at - from);
            w += at - from;
            from = at;
        }
        w = meta_write(sep(w), m, &s, id, idlen);
    }
    if (end > from) {
        w = sep(w);
        memcpy(w, s.body + from, end - from);
        w += end - from;
    }
    *w++ = '}';
    out->len = (size_t)(w - start);
    return CAIRN_OK;
}

int dv_doc_parse(json_t **out, const void *val, size_t len, const char *coll, const char *id)
{
    cairn_buf full = CAIRN_BUF_INIT;
    const void *text = val;
    if (len && *(const uint8_t *)val != '{') {
        int rc = dv_stored_expand(&full, val, len, id, strlen(id), coll);
        if (rc < 0) {
            cairn_buf_dispose(&full);
            return rc;
        }
        text = full.data;
        len = full.len;
    }
    json_error_t e;
    /* duplicates refused: a body out of order could repeat a member of the head */
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    cairn_buf_dispose(&full);
    FAIL_IF(!j || !json_is_object(j), CAIRN_ECORRUPT,
            "collection %s: the stored document %s is not a JSON object", coll, id);
    *out = j;
    return CAIRN_OK;
}

int dv_stored_cstr(char **out, size_t *out_len, const void *val, size_t len, const char *id,
                   size_t idlen, const char *coll, bool check)
{
    *out = NULL;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = dv_stored_expand(&b, val, len, id, idlen, coll);
    if (rc == CAIRN_OK && check) { /* parsed, as a reader would */
        json_t *j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(j)) rc = refuse("it is not a JSON object", id, idlen, coll);
        json_decref(j);
    }
    if (rc == CAIRN_OK) rc = cairn_buf_append(&b, "", 1);
    if (rc < 0) {
        cairn_buf_dispose(&b);
        return rc;
    }
    if (out_len) *out_len = b.len - 1;
    *out = (char *)b.data; /* cairn_buf memory is cairn_malloc()'s: cairn_free() frees it */
    return CAIRN_OK;
}

int cairn_doc_decode(char **out, size_t *out_len, const void *value, size_t len, const char *id,
                     size_t idlen)
{
    FAIL_IF(!out || (!value && len) || !id, CAIRN_EINVAL,
            "cairn_doc_decode: out, value and id are required");
    *out = NULL;
    TRY(dv_id_check(id, idlen)); /* else its JSON string would not be one */
    return dv_stored_cstr(out, out_len, value, len, id, idlen, NULL, true);
}

bool dv_stored_is_meta(const char *name, size_t nlen) { return meta_of(name, nlen) >= 0; }

json_t *dv_stored_meta(const dv_stored *s, const char *name, size_t nlen, const char *id)
{
    char text[2 * CAIRN_ID_SIZE + 1];
    switch (meta_of(name, nlen)) {
    case M_HASH:
        hex_encode(text, s->hash, CAIRN_ID_SIZE);
        return json_stringn_nocheck(text, 2 * CAIRN_ID_SIZE);
    case M_ID:
        return json_string_nocheck(id);
    case M_TS:
        ts_text(text, s->ts);
        return json_stringn_nocheck(text, TS_TEXT_LEN);
    case M_V:
        return json_integer((json_int_t)s->v);
    default:
        return NULL;
    }
}
