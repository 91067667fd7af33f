/*
 * test_cli_codec.c - the text codecs of the cairn command, as units: the TSV escaping of scan
 * and load (round trips of random bytes, the exact escaped form, every bad escape rejected at
 * its column), the UTF-8 check that decides what passes unescaped (exhaustively against a
 * reference decoder), base64, and the JSON lines form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/b64.h"
#include "cli/jsonl.h"
#include "cli/tsv.h"
#include "test.h"

/* Random bytes biased towards what exercises the codec: specials, controls, UTF-8 pieces. */
static void random_bytes(uint8_t *p, size_t n, uint64_t *rng)
{
    static const uint8_t pieces[] = { '\t', '\n', '\r', '\\', 0, 0x7f, 'x', 0xc3, 0xa9, 0xe2,
                                      0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0xc0, 0xff };
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(rng);
        p[i] = (r & 3) ? (uint8_t)(r >> 8) : pieces[(r >> 8) % sizeof pieces];
    }
}

static void escape_round_trip(void)
{
    uint64_t rng = test_rng(1);
    static uint8_t in[600], back[600];
    static char esc[TSV_ESCAPED_MAX(600)];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = test_rand(&rng) % (iter < 1000 ? 8 : sizeof in);
        random_bytes(in, n, &rng);
        size_t el = tsv_escape(esc, in, n);
        CHECK(el <= TSV_ESCAPED_MAX(n));
        CHECK(memchr(esc, '\t', el) == NULL && memchr(esc, '\n', el) == NULL);
        CHECK(memchr(esc, '\r', el) == NULL);
        CHECK(utf8_valid(esc, el)); /* the escaped text is always clean UTF-8 */
        tsv_error err;
        size_t bl = 0;
        CHECK(tsv_unescape(back, &bl, esc, el, &err) == 0);
        CHECK_MEM(back, bl, in, n);
        /* unescaping in place gives the same */
        CHECK(tsv_unescape((uint8_t *)esc, &bl, esc, el, &err) == 0);
        CHECK_MEM(esc, bl, in, n);
    }
}

static void line_round_trip(void)
{
    uint64_t rng = test_rng(2);
    static uint8_t k[300], v[300];
    static char line[TSV_ESCAPED_MAX(600) + 1];
    for (int iter = 0; iter < 5000; iter++) {
        size_t kl = test_rand(&rng) % sizeof k, vl = test_rand(&rng) % sizeof v;
        random_bytes(k, kl, &rng);
        random_bytes(v, vl, &rng);
        size_t n = tsv_escape(line, k, kl);
        line[n++] = '\t';
        n += tsv_escape(line + n, v, vl);
        tsv_line tl;
        tsv_error err;
        CHECK(tsv_parse_line(&tl, line, n, &err) == 0);
        CHECK_MEM(tl.key, tl.klen, k, kl);
        CHECK_MEM(tl.val, tl.vlen, v, vl);
    }
}

/* The exact escaped form, byte by byte. */
static void escaped_form(void)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        { "plain text", 10, "plain text" },
        { "a\tb\nc\rd\\e", 9, "a\\tb\\nc\\rd\\\\e" },
        { "\0\x01\x1f\x7f", 4, "\\x00\\x01\\x1f\\x7f" },
        { " ~", 2, " ~" },
        { "\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9" },                /* valid: as is */
        { "\xe2\x82\xac\xf0\x9f\x98\x80", 7, "\xe2\x82\xac\xf0\x9f\x98\x80" },
        { "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" },                  /* U+10FFFF */
        { "\xc3", 1, "\\xc3" },                                          /* truncated */
        { "\xc3x", 2, "\\xc3x" },
        { "\xe2\x82x", 3, "\\xe2\\x82x" },
        { "\x80", 1, "\\x80" },                                          /* stray continuation */
        { "\xc0\x80", 2, "\\xc0\\x80" },                                 /* overlong NUL */
        { "\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf" },                        /* overlong */
        { "\xed\xa0\x80", 3, "\\xed\\xa0\\x80" },                        /* surrogate */
        { "\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80" },               /* > U+10FFFF */
        { "\xf5\x80\x80\x80", 4, "\\xf5\\x80\\x80\\x80" },
        { "\xff\xfe", 2, "\\xff\\xfe" },
        { "\xc2\x80", 2, "\xc2\x80" },                                   /* U+0080: valid */
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = tsv_escape(out, cases[i].in, cases[i].n);
        CHECK_MSG(n == strlen(cases[i].out) && memcmp(out, cases[i].out, n) == 0,
                  "case %zu: escaped to \"%.*s\", expected \"%s\"", i, (int)n, out, cases[i].out);
    }
}

/* Every single byte value escapes and comes back. */
static void every_byte(void)
{
    for (int b = 0; b < 256; b++) {
        uint8_t in = (uint8_t)b, back[4];
        char esc[4];
        size_t n = tsv_escape(esc, &in, 1), bl;
        tsv_error err;
        CHECK(tsv_unescape(back, &bl, esc, n, &err) == 0);
        CHECK_MEM(back, bl, &in, 1);
        CHECK_EQ(n, (b >= 0x20 && b < 0x7f && b != '\\') ? 1 : (b == '\t' || b == '\n' || b == '\r' || b == '\\') ? 2 : 4);
    }
}

static void input_leniency(void)
{
    uint8_t out[16];
    size_t n;
    tsv_error err;
    CHECK(tsv_unescape(out, &n, "\\x4A\\x4a\\x41", 12, &err) == 0); /* either case, needless ok */
    CHECK_MEM(out, n, "JJA", 3);
    CHECK(tsv_unescape(out, &n, "", 0, &err) == 0);
    CHECK_EQ(n, 0);
    /* raw bytes that scan would have escaped are taken as they are, except CR */
    CHECK(tsv_unescape(out, &n, "\x01\xff", 2, &err) == 0);
    CHECK_MEM(out, n, "\x01\xff", 2);
}

/* Every bad input is rejected at its 0-based offset (column - 1) with a message. */
static void bad_lines(void)
{
    static const struct {
        const char *line;
        size_t offset;
        const char *msg;
    } cases[] = {
        { "ab\\q\tv", 2, "key: bad escape '\\q'" },
        { "k\tab\\q", 4, "value: bad escape '\\q'" },
        { "k\\\tv", 1, "key: backslash at the end" },
        { "k\tv\\", 3, "value: backslash at the end" },
        { "k\\x\tv", 1, "key: bad escape: \\x needs two hex digits" },
        { "k\\x4\tv", 1, "\\x needs two hex digits" },
        { "k\t\\xg1", 2, "value: bad escape: \\x needs two hex digits" },
        { "k\t\\x1", 2, "\\x needs two hex digits" },
        { "k\t\\0", 2, "bad escape '\\0'" },
        { "k\t\\\x01", 2, "backslash before byte 0x01" },
        { "k\tv\r", 3, "value: raw carriage return" },
        { "k\rk\tv", 1, "key: raw carriage return" },
        { "no tab here", 11, "no tab" },
        { "a\tb\tc", 3, "a second tab" },
        { "\t\t", 1, "a second tab" },
        { "", 0, "empty line" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[64];
        size_t n = strlen(cases[i].line);
        memcpy(line, cases[i].line, n);
        tsv_line tl;
        tsv_error err;
        CHECK_MSG(tsv_parse_line(&tl, line, n, &err) < 0, "case %zu accepted", i);
        CHECK_MSG(err.offset == cases[i].offset, "case %zu: offset %zu, expected %zu", i,
                  err.offset, cases[i].offset);
        CHECK_MSG(strstr(err.msg, cases[i].msg) != NULL, "case %zu: message \"%s\" lacks \"%s\"",
                  i, err.msg, cases[i].msg);
    }
    char ok[] = "\tv"; /* an empty key is fine */
    tsv_line tl;
    tsv_error err;
    CHECK(tsv_parse_line(&tl, ok, 2, &err) == 0);
    CHECK_EQ(tl.klen, 0);
}

/* A straightforward reference: decode, then check the ranges. */
static size_t ref_utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static void utf8_exhaustive(void)
{
    uint8_t p[4];
    for (uint32_t v = 0; v < (1u << 24); v++) { /* every 3-byte string, then as a 4-byte head */
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
        for (size_t n = 1; n <= 3; n++)
            CHECK_MSG(utf8_seq_len(p, n) == ref_utf8_len(p, n), "%02x %02x %02x (n=%zu)", p[0],
                      p[1], p[2], n);
        if (p[0] < 0xf0 || p[0] > 0xf7) continue;
        p[3] = 0x80 | (uint8_t)(v & 0x3f);
        CHECK_MSG(utf8_seq_len(p, 4) == ref_utf8_len(p, 4), "%02x %02x %02x %02x", p[0], p[1],
                  p[2], p[3]);
        p[3] = 'x';
        CHECK(utf8_seq_len(p, 4) == 0);
    }
}

static void base64(void)
{
    static const char *const vec[][2] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
                                          { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
                                          { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
    char enc[16];
    uint8_t dec[16];
    size_t n;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t l = strlen(vec[i][0]);
        b64_encode(enc, vec[i][0], l);
        CHECK_MEM(enc, B64_ENCODED_LEN(l), vec[i][1], strlen(vec[i][1]));
        CHECK(b64_decode(dec, &n, vec[i][1], strlen(vec[i][1])) == 0);
        CHECK_MEM(dec, n, vec[i][0], l);
    }
    static const char *const bad[] = { "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v!A==",
                                       "Zm 9", "=Zg=" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(b64_decode(dec, &n, bad[i], strlen(bad[i])) < 0, "accepted \"%s\"", bad[i]);
    uint64_t rng = test_rng(3);
    static uint8_t in[300], out[300];
    static char text[B64_ENCODED_LEN(300)];
    for (int iter = 0; iter < 2000; iter++) {
        size_t l = test_rand(&rng) % sizeof in;
        random_bytes(in, l, &rng);
        b64_encode(text, in, l);
        CHECK(b64_decode(out, &n, text, B64_ENCODED_LEN(l)) == 0);
        CHECK_MEM(out, n, in, l);
    }
}

/* One entry through jsonl_write and jsonl_parse. */
static int json_round(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, char *text,
                      size_t cap)
{
    FILE *f = fmemopen(text, cap, "w");
    if (!f) return -1;
    int rc = jsonl_write(f, k, kl, v, vl);
    fclose(f);
    size_t n = strlen(text);
    if (rc < 0 || n == 0 || text[n - 1] != '\n' || memchr(text, '\n', n - 1)) return -1;
    jsonl_entry e;
    char err[256];
    rc = jsonl_parse(&e, text, n - 1, err, sizeof err);
    if (rc == 0 && (e.klen != kl || e.vlen != vl || (kl && memcmp(e.key, k, kl)) ||
                    (vl && memcmp(e.val, v, vl))))
        rc = -1;
    jsonl_entry_dispose(&e);
    return rc;
}

static void json_lines(void)
{
    static char text[8192];
    CHECK(json_round((const uint8_t *)"k", 1, (const uint8_t *)"v", 1, text, sizeof text) == 0);
    CHECK_STR(text, "{\"key\":\"k\",\"value\":\"v\"}\n");
    CHECK(json_round((const uint8_t *)"a\0b", 3, (const uint8_t *)"\xff", 1, text, sizeof text) == 0);
    CHECK_STR(text, "{\"key\":\"a\\u0000b\",\"value_b64\":\"/w==\"}\n");
    uint64_t rng = test_rng(4);
    static uint8_t k[300], v[300];
    for (int iter = 0; iter < 3000; iter++) {
        size_t kl = test_rand(&rng) % sizeof k, vl = test_rand(&rng) % sizeof v;
        random_bytes(k, kl, &rng);
        random_bytes(v, vl, &rng);
        if (iter & 1) /* half of them valid UTF-8: replace bytes >= 0x80 */
            for (size_t i = 0; i < kl; i++) k[i] &= 0x7f;
        CHECK_MSG(json_round(k, kl, v, vl, text, sizeof text) == 0, "iteration %d: %s", iter, text);
    }
}

static void json_rejects(void)
{
    static const struct {
        const char *line;
        const char *msg;
    } cases[] = {
        { "{\"key\":\"a\"", "malformed JSON" },
        { "[1]", "expected a JSON object" },
        { "{\"key\":\"a\"}", "missing \"value\" (or \"value_b64\")" },
        { "{\"value\":\"a\"}", "missing \"key\" (or \"key_b64\")" },
        { "{\"key\":\"a\",\"key_b64\":\"YQ==\",\"value\":\"\"}", "both \"key\" and \"key_b64\"" },
        { "{\"key\":1,\"value\":\"a\"}", "\"key\" is not a string" },
        { "{\"key\":\"a\",\"value_b64\":\"*\"}", "\"value_b64\" is not valid base64" },
        { "{\"key\":\"a\",\"value\":\"b\",\"extra\":1}", "unknown member \"extra\"" },
        { "{\"key\":\"a\",\"key\":\"b\",\"value\":\"c\"}", "malformed JSON" }, /* duplicate */
        { "{\"key\":\"\\ud800\",\"value\":\"c\"}", "malformed JSON" },          /* lone surrogate */
        { "{\"key\":\"a\",\"value\":\"b\"} x", "malformed JSON" },
        { "{\"key\":\"a\",\"delete\":false}", "\"delete\" must be true" },
        { "{\"key\":\"a\",\"delete\":1}", "\"delete\" must be true" },
        { "{\"key\":\"a\",\"delete\":true,\"value\":\"b\"}", "a delete has no value" },
        { "{\"key\":\"a\",\"delete\":true,\"value_b64\":\"\"}", "a delete has no value" },
        { "{\"delete\":true}", "missing \"key\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jsonl_entry e;
        char err[256];
        int rc = jsonl_parse(&e, cases[i].line, strlen(cases[i].line), err, sizeof err);
        jsonl_entry_dispose(&e);
        CHECK_MSG(rc < 0, "case %zu accepted", i);
        CHECK_MSG(strstr(err, cases[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].msg);
    }
}

/* The delete forms `load` reads (issue 10: load could only put): KEY<TAB>\- in TSV, which scan
 * never prints (it escapes a backslash as \\), and {"key":..,"delete":true} in JSON lines. */
static void delete_forms(void)
{
    char line[] = "k\\x00ey\t\\-";
    tsv_line tl;
    tsv_error err;
    CHECK(tsv_parse_line(&tl, line, strlen(line), &err) == 0);
    CHECK(tl.val == NULL && tl.vlen == 0);
    CHECK_MEM(tl.key, tl.klen, "k\0ey", 4);
    char value[] = "k\t\\\\-"; /* the value "\-": a put, not a delete */
    CHECK(tsv_parse_line(&tl, value, strlen(value), &err) == 0);
    CHECK(tl.val != NULL);
    CHECK_MEM(tl.val, tl.vlen, "\\-", 2);
    char longer[] = "k\t\\-x";
    CHECK(tsv_parse_line(&tl, longer, strlen(longer), &err) < 0);
    jsonl_entry e;
    char msg[256];
    const char *j = "{\"key_b64\":\"AAE=\",\"delete\":true}";
    CHECK(jsonl_parse(&e, j, strlen(j), msg, sizeof msg) == 0);
    CHECK(e.val == NULL);
    CHECK_MEM(e.key, e.klen, "\0\1", 2);
    jsonl_entry_dispose(&e);
    j = "{\"key\":\"a\",\"value\":\"\"}"; /* an empty value is a value */
    CHECK(jsonl_parse(&e, j, strlen(j), msg, sizeof msg) == 0);
    CHECK(e.val != NULL && e.vlen == 0);
    jsonl_entry_dispose(&e);
}

TEST_MAIN(escape_round_trip, line_round_trip, escaped_form, every_byte, input_leniency, bad_lines,
          utf8_exhaustive, base64, json_lines, json_rejects, delete_forms)
