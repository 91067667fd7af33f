/*
 * test_canon.c - canonical JSON (doc/canon.c): known answers for every rule, idempotence, and
 * each refusal with the place it names. Then the one-pass parser (doc/jparse.c) against the
 * jansson path, differentially: on the fuzz corpus, on random documents written in every way
 * JSON allows (white space, escapes, number forms, member orders) and on mutations of them:
 * whatever it accepts, jansson accepts with the very same canonical bytes; it never accepts
 * what jansson refuses; it accepts every well-formed document within the limits; and
 * canon_json() (the fast path with its fallback) equals canon_json_jansson() in bytes and in
 * messages. canon_load() reads every canonical form back to what json_loadb() gives.
 */
#include <dirent.h>
#include <stdio.h>

#include "doc/canon.h"
#include "doc/jparse.h"
#include "test.h"

/* The canonical form of text, or NULL with the error left for CHECK_ERRMSG. */
static const char *canon(const char *text, const canon_limits *lim)
{
    static cairn_buf out;
    static char copy[1 << 16];
    if (canon_json(&out, text, strlen(text), lim, "test input") != CAIRN_OK) return NULL;
    snprintf(copy, sizeof copy, "%.*s", (int)out.len, (const char *)out.data);
    return copy;
}

static void expect(const char *in, const char *want)
{
    const char *got = canon(in, NULL);
    if (!got) {
        test_fail(__FILE__, __LINE__, "canon(%s) failed: %s", in, cairn_error_last()->message);
        return;
    }
    if (strcmp(got, want) != 0) {
        test_fail(__FILE__, __LINE__, "canon(%s) = %s, want %s", in, got, want);
        return;
    }
    char again[1 << 16];
    snprintf(again, sizeof again, "%s", got);
    const char *twice = canon(again, NULL);
    if (!twice || strcmp(twice, want) != 0)
        test_fail(__FILE__, __LINE__, "canon is not idempotent on %s", want);
}

static void known_answers(void)
{
    expect(" { \"b\" : 1 , \"a\" : [ true , false , null ] } ", "{\"a\":[true,false,null],\"b\":1}");
    /* names in the order of their UTF-8 bytes: upper case, lower case, then non-ASCII */
    expect("{\"\xc3\xa9\":1,\"z\":2,\"A\":3,\"\":4}", "{\"\":4,\"A\":3,\"z\":2,\"\xc3\xa9\":1}");
    /* nested objects sorted too */
    expect("{\"x\":{\"d\":[{\"b\":1,\"a\":2}],\"c\":{}}}",
           "{\"x\":{\"c\":{},\"d\":[{\"a\":2,\"b\":1}]}}");
    /* strings: escapes only where JSON needs them, the short forms, else \u00xx */
    expect("\"\\u0041\\u00e9\\/\\n\\t\\b\\f\\r\\\"\\\\\\u001f\\u007f\"",
           "\"A\xc3\xa9/\\n\\t\\b\\f\\r\\\"\\\\\\u001f\x7f\"");
    expect("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    /* numbers */
    expect("[0,-0,1,-1,9223372036854775807,-9223372036854775808]",
           "[0,0,1,-1,9223372036854775807,-9223372036854775808]");
    expect("[1.0,-0.0,2.50,1e3,1E+3,100e-2,0.1,1e-7,1.5e-7,123456.789]",
           "[1,0,2.5,1000,1000,1,0.1,1e-7,1.5e-7,123456.789]");
    expect("[9007199254740992.0,9007199254740993.0,1e20,1.5e300,-2.5e-300,0.30000000000000004]",
           "[9007199254740992,9007199254740992,1e20,1.5e300,-2.5e-300,0.30000000000000004]");
    expect("\"\"", "\"\"");
    expect("[]", "[]");
}

static void refusals(void)
{
    CHECK(!canon("{\"a\":1,\"a\":2}", NULL));
    CHECK_ERRMSG("duplicate object key");
    CHECK_ERRMSG("line 1");
    CHECK(!canon("{\"a\":\n  [1,,2]}", NULL));
    CHECK_ERRMSG("line 2, column");
    CHECK(!canon("{\"a\":1} x", NULL));
    CHECK_ERRMSG("test input: malformed JSON");
    CHECK(!canon("\"\xff\"", NULL));
    CHECK_ERRMSG("malformed JSON");
    CHECK(!canon("\"\\u0000\"", NULL));
    CHECK(!canon("\"\\ud800\"", NULL));
    CHECK(!canon("9223372036854775808", NULL));
    CHECK_ERRMSG("too big");
    CHECK(!canon("1e400", NULL));
    CHECK(!canon("", NULL));

    canon_limits lim = { 64, 3, 4 };
    CHECK(canon("{\"a\":{\"b\":[1]}}", &lim));
    CHECK(!canon("{\"a\":{\"b\":[[1]]}}", &lim));
    CHECK_ERRMSG("the value at $.a.b[0] is nested deeper than the limit of 3 levels");
    CHECK(!canon("{\"a\":[1,2,3,4,5]}", &lim));
    CHECK_ERRMSG("the array at $.a has 5 elements, over the limit of 4");
    CHECK(!canon("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}", &lim));
    CHECK_ERRMSG("the object at $ has 5 members");
    CHECK(!canon("{\"a\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
                 &lim));
    CHECK_ERRMSG("over the size limit of 64 bytes");
    CHECK_ERRMSG("at $.a");
}

/* ---- the one-pass parser against jansson ---- */

static struct {
    size_t accepted;          /* both accept, same bytes */
    size_t refused;           /* both refuse */
    size_t declined;          /* jansson accepts, the parser declines (see past_parser()) */
} diffs;

/* The top-level members p gives for out: each a quoted name, ':' and a value, joined by commas
 * they make out, the names in strictly increasing byte order. */
static void check_members(const jparse *p, const cairn_buf *out)
{
    if (!p->is_object) return;
    size_t at = 1;
    for (size_t i = 0; i < p->ntop; i++) {
        const jp_member *m = &p->m[i];
        CHECK_EQ(m->at, at);
        CHECK(out->data[m->at] == '"' && out->data[m->at + m->vat - 1] == ':');
        if (!m->escaped) CHECK_EQ(m->vat, m->nlen + 3);
        if (i) {
            const jp_member *prev = &p->m[i - 1];
            CHECK(bytes_cmp(jparse_name(p, out, prev), prev->nlen, jparse_name(p, out, m),
                            m->nlen) < 0);
        }
        at += m->len;
        CHECK(out->data[at] == (i + 1 < p->ntop ? ',' : '}'));
        at++;
    }
    CHECK_EQ(p->ntop ? at : at + 1, out->len); /* {} */
}

/* Whether text holds what the parser leaves to jansson even when jansson accepts it: a NUL byte
 * (jansson skips one after a number or a word), a number longer than JPARSE_NUMBER_MAX, nesting
 * that may pass JPARSE_DEPTH_MAX. */
static bool past_parser(const char *text, size_t len)
{
    size_t run = 0, longest = 0, opens = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool num = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
                   c == '-';
        run = num ? run + 1 : 0;
        longest = MAX(longest, run);
        opens += c == '[' || c == '{';
    }
    return memchr(text, '\0', len) || longest > JPARSE_NUMBER_MAX || opens >= JPARSE_DEPTH_MAX;
}

/* What a comparison expects of the parser besides agreeing with jansson. */
enum { ANY, MUST_ACCEPT, MAY_DECLINE };

/* Compares both paths on text. MUST_ACCEPT: a well-formed document within the limits (and
 * the parser's); MAY_DECLINE: past the parser's own limits, where it leaves jansson to answer;
 * ANY: the parser may decline what jansson accepts only for past_parser() reasons. */
static void differ(const char *text, size_t len, const canon_limits *lim, int expect)
{
    cairn_buf fast = CAIRN_BUF_INIT, ref = CAIRN_BUF_INIT, pub = CAIRN_BUF_INIT;
    jparse p = JPARSE_INIT;
    int f = jparse_canon(&p, &fast, text, len, lim);
    int j = canon_json_jansson(&ref, text, len, lim, "input");
    char msg[512] = "";
    if (j < 0) snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
    CHECK(f == CAIRN_OK || f == JPARSE_DECLINED);
    if (f == CAIRN_OK) {
        CHECK_MSG(j == CAIRN_OK, "the parser accepts what jansson refuses (%s): %.*s", msg,
                  (int)MIN(len, 300), text);
        if (j == CAIRN_OK) CHECK_MEM(fast.data, fast.len, ref.data, ref.len);
        check_members(&p, &fast);
        json_t *loaded = NULL, *want = json_loadb((const char *)fast.data, fast.len,
                                                  JSON_DECODE_ANY, NULL);
        CHECK_OK(canon_load(&loaded, (const char *)fast.data, fast.len));
        CHECK(want && loaded && json_equal(loaded, want));
        json_decref(loaded);
        json_decref(want);
        diffs.accepted++;
    } else if (j == CAIRN_OK) {
        CHECK_MSG(expect == MAY_DECLINE || past_parser(text, len), "the parser declines what jansson accepts: %.*s",
                  (int)MIN(len, 300), text);
        diffs.declined += expect != MAY_DECLINE;
    } else {
        diffs.refused++;
    }
    if (expect == MUST_ACCEPT)
        CHECK_MSG(f == CAIRN_OK, "a well-formed document declined (jansson: %d %s): %.*s", j,
                  msg, (int)MIN(len, 300), text);
    int c = canon_json(&pub, text, len, lim, "input");
    CHECK_EQ(c, j);
    if (c == CAIRN_OK && j == CAIRN_OK) CHECK_MEM(pub.data, pub.len, ref.data, ref.len);
    if (c < 0 && j < 0) CHECK_STR(cairn_error_last()->message, msg);
    cairn_error_clear();
    jparse_dispose(&p);
    cairn_buf_dispose(&fast);
    cairn_buf_dispose(&ref);
    cairn_buf_dispose(&pub);
}

/* The checked-in corpus of fuzz_canon, each file whole and with every prefix cut short. */
static void differential_corpus(void)
{
    DIR *d = opendir(CAIRN_FUZZ_CORPUS "/canon");
    CHECK(d);
    if (!d) return;
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4096], buf[1 << 16];
        snprintf(path, sizeof path, "%s/canon/%s", CAIRN_FUZZ_CORPUS, de->d_name);
        FILE *fp = fopen(path, "rb");
        CHECK(fp);
        if (!fp) continue;
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        files++;
        differ(buf, n, NULL, ANY);
        for (size_t cut = 0; cut < n && cut < 512; cut++) differ(buf, cut, NULL, ANY);
        canon_limits tight = { 96, 3, 4 };
        differ(buf, n, &tight, ANY);
    }
    closedir(d);
    CHECK(files >= 100);
}

/* ---- random JSON text ---- */

typedef struct gen {
    uint64_t rng;
    cairn_buf b;
} gen;

static uint64_t rnd(gen *g, uint64_t n)
{
    return test_rand(&g->rng) % n;
}

static void add(gen *g, const char *s)
{
    cairn_buf_append(&g->b, s, strlen(s));
}

static void ws(gen *g)
{
    static const char *const spaces[] = { "", "", "", " ", "\n", "\t", "\r\n  ", "  " };
    add(g, spaces[rnd(g, 8)]);
}

/* One character of a string or name, written in one of the ways JSON allows. */
static void gen_char(gen *g)
{
    char tmp[32];
    switch (rnd(g, 16)) {
    case 0: add(g, "\\\""); return;
    case 1: add(g, "\\\\"); return;
    case 2: add(g, rnd(g, 2) ? "/" : "\\/"); return;
    case 3: { /* a control character: short form or \u, either case */
        static const char *const ctl[] = { "\\n", "\\t", "\\b", "\\f", "\\r", "\\u001F",
                                           "\\u001f", "\\u0001", "\\u000A", "\\u007f" };
        add(g, ctl[rnd(g, 10)]);
        return;
    }
    case 4: { /* raw UTF-8 of 2, 3 and 4 bytes, the edges of each */
        static const char *const u[] = { "\xc3\xa9", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
                                         "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                                         "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\x7f" };
        add(g, u[rnd(g, 10)]);
        return;
    }
    case 5: { /* \u of a BMP character that is no surrogate and not NUL */
        unsigned cp;
        do cp = 1 + (unsigned)rnd(g, 0xFFFF);
        while (cp >= 0xD800 && cp <= 0xDFFF);
        snprintf(tmp, sizeof tmp, rnd(g, 2) ? "\\u%04x" : "\\u%04X", cp);
        add(g, tmp);
        return;
    }
    case 6: { /* a surrogate pair */
        unsigned cp = 0x10000 + (unsigned)rnd(g, 0x100000);
        snprintf(tmp, sizeof tmp, "\\u%04x\\u%04X", 0xD800 + ((cp - 0x10000) >> 10),
                 0xDC00 + ((cp - 0x10000) & 0x3FF));
        add(g, tmp);
        return;
    }
    default:
        tmp[0] = (char)(rnd(g, 2) ? 'a' + rnd(g, 26) : 0x20 + rnd(g, 0x5f));
        if (tmp[0] == '"' || tmp[0] == '\\') tmp[0] = 'q';
        tmp[1] = '\0';
        add(g, tmp);
    }
}

static void gen_string(gen *g, size_t max)
{
    add(g, "\"");
    for (size_t n = rnd(g, max + 1); n; n--) gen_char(g);
    add(g, "\"");
}

static void gen_number(gen *g)
{
    static const char *const edges[] = {
        "0", "-0", "9223372036854775807", "-9223372036854775808", "-0.0", "0e0", "1E+2",
        "1e-400", "4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
        "9007199254740993.0", "9007199254740992", "0.30000000000000004", "1e15", "-1e16",
        "123456.789", "1.5e-7", "100e-2", "0.1",
    };
    char tmp[64];
    switch (rnd(g, 4)) {
    case 0: add(g, edges[rnd(g, sizeof edges / sizeof *edges)]); return;
    case 1:
        snprintf(tmp, sizeof tmp, "%s%llu", rnd(g, 3) ? "" : "-",
                 (unsigned long long)(test_rand(&g->rng) >> (1 + rnd(g, 63))));
        add(g, tmp);
        return;
    default: /* mantissa, fraction, exponent, each optional */
        snprintf(tmp, sizeof tmp, "%s%llu", rnd(g, 3) ? "" : "-",
                 (unsigned long long)rnd(g, rnd(g, 2) ? 10 : 100000000));
        add(g, tmp);
        if (rnd(g, 2)) {
            snprintf(tmp, sizeof tmp, ".%0*llu", (int)(1 + rnd(g, 12)),
                     (unsigned long long)rnd(g, 1000000));
            add(g, tmp);
        }
        if (rnd(g, 2)) {
            static const char *const e[] = { "e", "E", "e+", "E-", "e-" };
            snprintf(tmp, sizeof tmp, "%s%u", e[rnd(g, 5)], (unsigned)rnd(g, 300));
            add(g, tmp);
        }
    }
}

static void gen_value(gen *g, unsigned depth);

/* An object whose names are distinct (as strings: "\u0061" is "a"), drawn so that many
 * share prefixes, need escapes, or sort differently escaped than unescaped. */
static void gen_object(gen *g, unsigned depth)
{
    static const char *const names[][2] = {
        { "a", "\\u0061" }, { "ab", "a\\u0062" }, { "b", "b" }, { "B", "\\u0042" },
        { "_id", "_id" }, { "_v", "_\\u0076" }, { "a\\\"", "a\\u0022" }, { "\\n", "\\u000a" },
        { "\xc3\xa9", "\\u00e9" }, { "\xf0\x9f\x98\x80", "\\ud83d\\ude00" },
        { "", "" }, { "z", "z" }, { "~", "\\u007e" }, { "a b", "a\\u0020b" },
        { "\\\\", "\\u005c" }, { "/", "\\/" },
    };
    size_t nnames = sizeof names / sizeof *names;
    bool used[sizeof names / sizeof *names] = { false };
    size_t n = rnd(g, depth < 2 && rnd(g, 8) == 0 ? 60 : 9);
    add(g, "{");
    ws(g);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            add(g, ",");
            ws(g);
        }
        size_t k = rnd(g, nnames);
        if (!used[k]) {
            used[k] = true;
            add(g, "\"");
            add(g, names[k][rnd(g, 2)]);
            add(g, "\"");
        } else { /* a fresh name: k0, k1, ... (distinct, sorting among the others) */
            char tmp[32];
            snprintf(tmp, sizeof tmp, "\"k%zu\"", i);
            add(g, tmp);
        }
        ws(g);
        add(g, ":");
        ws(g);
        gen_value(g, depth + 1);
        ws(g);
    }
    add(g, "}");
}

static void gen_value(gen *g, unsigned depth)
{
    unsigned pick = (unsigned)rnd(g, depth >= 5 ? 6 : 9);
    switch (pick) {
    case 0: gen_string(g, 12); return;
    case 1: gen_number(g); return;
    case 2: add(g, "true"); return;
    case 3: add(g, "false"); return;
    case 4: add(g, "null"); return;
    case 5: gen_string(g, 3); return;
    case 6:
    case 7: gen_object(g, depth); return;
    default:
        add(g, "[");
        ws(g);
        for (size_t i = 0, n = rnd(g, 6); i < n; i++) {
            if (i) {
                add(g, ",");
                ws(g);
            }
            gen_value(g, depth + 1);
            ws(g);
        }
        add(g, "]");
    }
}

/* Whether jansson's double of a number token overflows: such documents are not well-formed
 * for must_accept (the generator's exponents reach 1e300 with mantissas up to 1e8). */
static bool overflows(const char *text, size_t len)
{
    cairn_buf ref = CAIRN_BUF_INIT;
    bool over = canon_json_jansson(&ref, text, len, NULL, "g") < 0 &&
                strstr(cairn_error_last()->message, "real number overflow");
    cairn_error_clear();
    cairn_buf_dispose(&ref);
    return over;
}

/* Random documents: each must be accepted with jansson's bytes; each of its mutations (bytes
 * replaced by the ones that matter to a JSON reader, deleted, cut short, a span doubled) gets
 * the same answer from both paths. */
static void differential_random(void)
{
    static const unsigned char hot[] = { 0,    '"',  '\\', ',',  '}',  ']',  '{',  '[',
                                         ':',  '0',  'e',  '.',  '-',  '+',  'u',  'a',
                                         ' ',  '\n', 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2,
                                         0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff, 'D',  '8' };
    gen g = { test_rng(0xd0c), CAIRN_BUF_INIT };
    canon_limits tight = { 400, 4, 6 };
    for (int round = 0; round < 4000; round++) {
        g.b.len = 0;
        if (rnd(&g, 4)) gen_object(&g, 0);
        else gen_value(&g, 0);
        ws(&g);
        char *text = cairn_malloc(g.b.len + 1);
        size_t len = g.b.len;
        memcpy(text, g.b.data, len);
        differ(text, len, NULL, overflows(text, len) ? ANY : MUST_ACCEPT);
        differ(text, len, &tight, ANY);
        for (int m = 0; m < 8 && len; m++) {
            char *mut = cairn_malloc(2 * len + 1);
            size_t ml = len;
            memcpy(mut, text, len);
            for (int k = 0, edits = 1 + (int)rnd(&g, 3); k < edits && ml; k++) {
                size_t at = rnd(&g, ml);
                switch (rnd(&g, 4)) {
                case 0:
                case 1: mut[at] = (char)hot[rnd(&g, sizeof hot)]; break;
                case 2:
                    memmove(mut + at, mut + at + 1, ml - at - 1);
                    ml--;
                    break;
                default: { /* double a span: names twice, values twice */
                    size_t span = MIN(ml - at, 1 + rnd(&g, 24));
                    if (ml + span > 2 * len) break;
                    memmove(mut + at + span, mut + at, ml - at);
                    ml += span;
                }
                }
            }
            differ(mut, ml, NULL, ANY);
            differ(mut, rnd(&g, ml + 1), NULL, ANY);
            free(mut);
        }
        free(text);
    }
    cairn_buf_dispose(&g.b);
    printf("  differential: %zu accepted alike, %zu refused alike, %zu declined for the "
           "jansson path (a NUL byte it skips, a long number)\n", diffs.accepted, diffs.refused,
           diffs.declined);
    CHECK(diffs.accepted > 4000 && diffs.refused > 4000);
}

/* Duplicate names the parser must see through escapes and through its sort. */
static void differential_known(void)
{
#define T(s) { s, sizeof s - 1 }
    static const struct {
        const char *s;
        size_t n;
    } texts[] = {
        T("{\"a\":1,\"\\u0061\":2}"), T("{\"b\":1,\"a\":2,\"b\":3}"), T("{\"\\n\":1,\"\\u000a\":2}"),
        T("{\"x\":{\"a\":1,\"a\":1}}"), T("[1\0]"), T("0\0"), T("true\0 "), T("[\"\\ud800\\u0041\"]"),
        T("\"\\udc00\""), T("\"\\ud800\""), T("\"\xed\xa0\x80\""), T("\"\xc0\x80\""),
        T("\"\xf4\x90\x80\x80\""), T("\"\xe0\x9f\xbf\""), T("01"), T("-"), T("1."), T("1e"), T(".5"),
        T("+1"), T("[1,]"), T("{\"a\":1,}"), T("{,}"), T("9223372036854775808"),
        T("-9223372036854775809"), T("1e309"), T("-1e309"), T("\xef\xbb\xbf{}"), T("{\"a\" : 1 } \n"),
        T("  [ ]  "), T("\"\\u0000\""), T("{\"\\u0000\":1}"), T("nul"), T("truex"), T("[true false]"),
        T("{\"a\":1 \"b\":2}"), T("\"a\tb\""), T("[1e5x]"), T("-01"), T("-0"), T("[-0.0e-0]"),
        T("{\"a\":[1,{\"c\":2,\"b\":[]}],\"\":null}"),
    };
#undef T
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        differ(texts[i].s, texts[i].n, NULL, ANY);
    /* deep nesting: the parser takes up to the limit, declines past it, as jansson refuses */
    canon_limits deep = { 1 << 20, 5000, 10 };
    for (size_t d = JPARSE_DEPTH_MAX - 2; d < JPARSE_DEPTH_MAX + 2; d++) {
        char *t = cairn_malloc(2 * d + 1);
        memset(t, '[', d);
        memset(t + d, ']', d);
        differ(t, 2 * d, &deep, d <= JPARSE_DEPTH_MAX ? MUST_ACCEPT : MAY_DECLINE);
        free(t);
    }
    char num[JPARSE_NUMBER_MAX + 8] = "0.";
    memset(num + 2, '5', JPARSE_NUMBER_MAX + 4);
    differ(num, JPARSE_NUMBER_MAX, NULL, MUST_ACCEPT);
    differ(num, JPARSE_NUMBER_MAX + 6, NULL, MAY_DECLINE);
    char t[2 * 2100];
    memset(t, '[', 2049);
    memset(t + 2049, ']', 2049);
    differ(t, 2 * 2049, &deep, ANY); /* over jansson's own depth: both refuse */
}

TEST_MAIN(known_answers, refusals, differential_known, differential_corpus, differential_random)
