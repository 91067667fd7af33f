/*
 * test_canon.c - canonical JSON (doc/canon.c): known answers for every rule, idempotence, and
 * each refusal with the place it names.
 */
#include "doc/canon.h"
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

TEST_MAIN(known_answers, refusals)
