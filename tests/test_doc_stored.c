/*
 * test_doc_stored.c - the stored form of documents (doc/stored.c, docs/FORMAT.md "Stored
 * documents"): packing gives back the canonical text byte for byte whatever members sort
 * around the metadata, the head's fields at their limits, text whose metadata is not as cairn
 * writes it stored as it is, and every malformed value refused with a message naming the
 * document. Then the documents a collection writes: stored packed, read back unchanged.
 */
#include <stdio.h>

#include "doc/doc_int.h"
#include "test.h"

#define HASH_HEX "00112233445566778899aabbccddeeff0123456789abcdef00ff10e0d0c0b0a0"

/* A canonical document with the four metadata members, and other members around them. */
static void doc_text(char *out, size_t size, const char *before, const char *id_text,
                     const char *ts, const char *v, const char *after)
{
    snprintf(out, size, "{%s%s\"_hash\":\"%s\",\"_id\":%s,\"_ts\":\"%s\",\"_v\":%s%s%s}", before,
             before[0] ? "," : "", HASH_HEX, id_text, ts, v, after[0] ? "," : "", after);
}

/* Packs text under id, checks it packed (or not) and that it expands to text again; *out:
 * the stored size. */
static void round_trip_n(size_t *out, const char *text, const char *id, bool packed)
{
    *out = 0;
    cairn_buf st = CAIRN_BUF_INIT, back = CAIRN_BUF_INIT;
    CHECK_OK(dv_stored_pack(&st, text, strlen(text), id, strlen(id)));
    dv_stored s;
    CHECK_EQ(dv_stored_split(&s, st.data, st.len), packed ? 1 : 0);
    CHECK_OK(dv_stored_expand(&back, st.data, st.len, id, strlen(id), "c"));
    CHECK_MEM(back.data, back.len, text, strlen(text));
    json_t *j = NULL;
    CHECK_OK(dv_doc_parse(&j, st.data, st.len, "c", id));
    CHECK(json_is_object(j));
    json_decref(j);
    *out = st.len;
    cairn_buf_dispose(&st);
    cairn_buf_dispose(&back);
}

static void round_trip(const char *text, const char *id, bool packed)
{
    size_t n;
    round_trip_n(&n, text, id, packed);
}

static void pack_round_trips(void)
{
    char t[1024];
    const char *ts = "2026-12-05T21:10:23.123456Z";
    /* members before, between and after the metadata (they sort by bytes: upper case, digits
     * and '_a' before "_hash"; "_i" between "_hash" and "_id"; "_sig" between "_id" and
     * "_ts"; "_u" between "_ts" and "_v"; lower case after) */
    static const char *const before[] = { "", "\"A\":1", "\"0\":[1,2],\"Z\":{\"_v\":3}",
                                          "\"_a\":null", "\"A\":\"x\",\"_a\":true" };
    static const char *const after[] = { "", "\"a\":1", "\"n\":{\"_id\":\"q\"},\"z\":[]" };
    for (size_t b = 0; b < sizeof before / sizeof *before; b++)
        for (size_t a = 0; a < sizeof after / sizeof *after; a++) {
            doc_text(t, sizeof t, before[b], "\"id1\"", ts, "1", after[a]);
            size_t n;
            round_trip_n(&n, t, "id1", true);
            /* the head (42 bytes) for "_hash":"<64>","_id":"id1","_ts":"<27>","_v":1 (129
             * bytes) and the comma between them and the other members */
            CHECK_EQ(n, strlen(t) - 129 + 42 - (before[b][0] || after[a][0]));
        }
    /* members that sort between the metadata: written back at their places */
    snprintf(t, sizeof t, "{\"_hash\":\"%s\",\"_i\":1,\"_id\":\"x\",\"_sig\":{\"key\":\"k\","
             "\"sig\":\"s\"},\"_ts\":\"%s\",\"_u\":[],\"_v\":7,\"a\":0}", HASH_HEX, ts);
    round_trip(t, "x", true);
    /* ids with a quote (escaped in the text) and non-ASCII bytes */
    doc_text(t, sizeof t, "", "\"a\\\"b\\\"\"", ts, "2", "\"k\":\"v\"");
    round_trip(t, "a\"b\"", true);
    doc_text(t, sizeof t, "", "\"\xc3\xa9t\xc3\xa9\"", ts, "3", "");
    round_trip(t, "\xc3\xa9t\xc3\xa9", true);
    /* the head's fields at their limits */
    static const char *const times[] = { "0000-01-01T00:00:00.000000Z",
                                         "9999-12-31T23:59:59.999999Z",
                                         "1969-12-31T23:59:59.999999Z",
                                         "1970-01-01T00:00:00.000000Z",
                                         "2000-02-29T12:00:00.000001Z",
                                         "1600-03-01T00:00:00.000000Z" };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        doc_text(t, sizeof t, "", "\"x\"", times[i], "1", "");
        round_trip(t, "x", true);
    }
    static const char *const versions[] = { "0", "127", "128", "16383", "16384",
                                            "9223372036854775807" };
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        doc_text(t, sizeof t, "", "\"x\"", ts, versions[i], "\"a\":1");
        round_trip(t, "x", true);
    }
}

/* Text whose metadata cairn would not write is stored as it is, and read back as it is. */
static void pack_declines(void)
{
    char t[1024];
    const char *ts = "2026-12-05T21:10:23.123456Z";
    doc_text(t, sizeof t, "", "\"other\"", ts, "1", ""); /* _id is not the key */
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", "2026-02-30T00:00:00.000000Z", "1", "");
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", "2026-12-05 21:10:23.123456Z", "1", "");
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", "2026-12-05T24:00:00.000000Z", "1", "");
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", ts, "-1", "");
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", ts, "1.5", "");
    round_trip(t, "x", false);
    doc_text(t, sizeof t, "", "\"x\"", ts, "\"1\"", "");
    round_trip(t, "x", false);
    snprintf(t, sizeof t, "{\"_hash\":\"%.63sA\",\"_id\":\"x\",\"_ts\":\"%s\",\"_v\":1}", HASH_HEX,
             ts); /* upper-case hex */
    round_trip(t, "x", false);
    snprintf(t, sizeof t, "{\"_id\":\"x\",\"_ts\":\"%s\",\"_v\":1}", ts); /* no _hash */
    round_trip(t, "x", false);
    round_trip("{}", "x", false);
    round_trip("{\"a\":1}", "x", false);
}

/* A value built by hand: head fields as given, then body. */
static size_t hand_value(uint8_t *out, uint64_t ts, const uint8_t *varint, size_t vn,
                         const char *body)
{
    size_t n = 0;
    out[n++] = DV_STORED_FORM;
    for (size_t i = 0; i < CAIRN_ID_SIZE; i++) out[n++] = (uint8_t)i;
    for (int i = 0; i < 8; i++) out[n++] = (uint8_t)(ts >> (56 - 8 * i));
    memcpy(out + n, varint, vn);
    n += vn;
    memcpy(out + n, body, strlen(body));
    return n + strlen(body);
}

static void expect_damaged(const uint8_t *v, size_t n, const char *why)
{
    cairn_buf out = CAIRN_BUF_INIT;
    dv_stored s;
    CHECK_RC(dv_stored_expand(&out, v, n, "doc1", 4, "coll"), CAIRN_ECORRUPT);
    CHECK_ERRMSG("collection coll: document doc1 is stored in a form this build cannot read (");
    CHECK_ERRMSG(why);
    json_t *j = NULL;
    CHECK_RC(dv_doc_parse(&j, v, n, "coll", "doc1"), CAIRN_ECORRUPT);
    char *text = NULL;
    CHECK_RC(cairn_doc_decode(&text, NULL, v, n, "doc1", 4), CAIRN_ECORRUPT);
    CHECK_ERRMSG("the value of key doc1 is not a stored document: ");
    CHECK_ERRMSG(why);
    CHECK(!text);
    (void)s;
    cairn_buf_dispose(&out);
}

static void damaged_values(void)
{
    uint8_t v[256];
    static const uint8_t one[] = { 1 }, long0[] = { 0x81, 0x00 }, ten[] = { 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    size_t n = hand_value(v, 0, one, 1, "{\"a\":1}");
    cairn_buf out = CAIRN_BUF_INIT;
    CHECK_OK(dv_stored_expand(&out, v, n, "doc1", 4, "coll")); /* the hand-made value is sound */
    CHECK_MEM(out.data, out.len,
              "{\"_hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
              "\"_id\":\"doc1\",\"_ts\":\"1970-01-01T00:00:00.000000Z\",\"_v\":1,\"a\":1}",
              strlen("{\"_hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
                     "1d1e1f\",\"_id\":\"doc1\",\"_ts\":\"1970-01-01T00:00:00.000000Z\",\"_v\":1,"
                     "\"a\":1}"));
    cairn_buf_dispose(&out);
    for (size_t cut = 1; cut < n; cut++) /* every prefix */
        expect_damaged(v, cut, cut < 44 ? "its head is cut short"
                               : cut < n ? "its body is not a JSON object" : "");
    v[0] = 2; /* an unknown form */
    expect_damaged(v, n, "its first byte is neither '{' nor a form this build knows");
    n = hand_value(v, 0, long0, 2, "{}"); /* a varint not the shortest */
    expect_damaged(v, n, "its version is cut short, or not in its shortest form");
    n = hand_value(v, 0, ten, 10, "{}"); /* 2^64 - 1 */
    expect_damaged(v, n, "its version is over 2^63 - 1");
    static const uint8_t over64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    n = hand_value(v, 0, over64, 10, "{}"); /* past 64 bits */
    expect_damaged(v, n, "its version is cut short, or not in its shortest form");
    static const uint8_t big[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
    n = hand_value(v, 0, big, 10, "{}"); /* 2^63 */
    expect_damaged(v, n, "its version is over 2^63 - 1");
    n = hand_value(v, (uint64_t)INT64_C(253402300800000000), one, 1, "{}"); /* year 10000 */
    expect_damaged(v, n, "its time is outside years 0000-9999");
    n = hand_value(v, (uint64_t)(INT64_C(-62167219200000000) - 1), one, 1, "{}"); /* year -1 */
    expect_damaged(v, n, "its time is outside years 0000-9999");
    n = hand_value(v, 0, one, 1, "[1]"); /* a body not an object */
    expect_damaged(v, n, "its body is not a JSON object");
    n = hand_value(v, 0, one, 1, "{\"_id\":\"doc2\"}"); /* a body repeating the head */
    expect_damaged(v, n, "its body repeats a member of its head");
    n = hand_value(v, 0, one, 1, "{\"_v\":2,\"a\":1}");
    expect_damaged(v, n, "its body repeats a member of its head");
    n = hand_value(v, 0, one, 1, "{\"a\":1"); /* unterminated */
    expect_damaged(v, n, "its body is not a JSON object");
    /* a body out of order repeating a head member after the place of _v: the expansion (a
     * walk up to that place) lets it through, a parse refuses the duplicate */
    n = hand_value(v, 0, one, 1, "{\"z\":1,\"_id\":\"evil\"}");
    json_t *dup = NULL;
    CHECK_RC(dv_doc_parse(&dup, v, n, "coll", "doc1"), CAIRN_ECORRUPT);
    char *text = NULL;
    CHECK_RC(cairn_doc_decode(&text, NULL, v, n, "doc1", 4), CAIRN_ECORRUPT);
    CHECK_RC(cairn_doc_decode(&text, NULL, "{garbage", 8, "doc1", 4), CAIRN_ECORRUPT);
    CHECK_RC(cairn_doc_decode(&text, NULL, "{\"a\":1}", 7, "a\\", 2), CAIRN_EINVAL);
    CHECK_RC(cairn_doc_decode(&text, NULL, "{\"a\":1}", 7, "", 0), CAIRN_EINVAL);
    CHECK(!text);
    /* the empty value, and text that is not an object, are not documents either */
    json_t *j = NULL;
    CHECK_RC(dv_doc_parse(&j, "", 0, "coll", "doc1"), CAIRN_ECORRUPT);
    CHECK_RC(dv_doc_parse(&j, "{\"a\":", 5, "coll", "doc1"), CAIRN_ECORRUPT);
    CHECK_ERRMSG("collection coll: the stored document doc1 is not a JSON object");
}

/* What a collection writes is packed, and reads back as written; a collection written
 * before the packed form (canonical text under the ids, through the KV API) reads as before,
 * and its next write packs the document. */
static void collection_stores_packed(void)
{
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "p", CAIRN_COLL_CREATE));
    char *doc = NULL;
    const char *in = "{\"_id\":\"q\\\"1\",\"name\":\"Ada\",\"_a\":1}";
    CHECK_OK(cairn_doc_insert(&doc, c, in, strlen(in), NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.p", CAIRN_TABLE_INTERNAL));
    void *v;
    size_t n;
    CHECK_OK(cairn_get(&v, &n, t, NULL, "q\"1", 3));
    CHECK_EQ(((uint8_t *)v)[0], DV_STORED_FORM);
    CHECK(n + 60 < strlen(doc));
    char *got = NULL;
    size_t glen = 0;
    CHECK_OK(cairn_doc_decode(&got, &glen, v, n, "q\"1", 3));
    CHECK_STR(got, doc);
    cairn_free(got);
    cairn_free(v);
    char *read = NULL;
    CHECK_OK(cairn_doc_get(&read, NULL, c, NULL, "q\"1"));
    CHECK_STR(read, doc);
    cairn_free(read);
    /* an older repository's document: its text, as it was stored */
    const char *old = "{\"_hash\":\"" HASH_HEX "\",\"_id\":\"old\",\"_ts\":\"2025-01-01T00:00:00."
                      "000000Z\",\"_v\":4,\"k\":1}";
    CHECK_OK(cairn_put(t, "old", 3, old, strlen(old)));
    CHECK_OK(cairn_doc_get(&read, NULL, c, NULL, "old"));
    CHECK_STR(read, old);
    cairn_free(read);
    uint64_t count = 0;
    CHECK_OK(cairn_doc_count(&count, c, NULL, "{\"_v\":4}"));
    CHECK_EQ(count, 1);
    CHECK_OK(cairn_doc_count(&count, c, NULL, "{\"_v\":1,\"_id\":\"q\\\"1\",\"name\":\"Ada\"}"));
    CHECK_EQ(count, 1);
    char *patched = NULL;
    CHECK_OK(cairn_doc_patch(&patched, c, "old", "{\"k\":2}", 7, NULL));
    CHECK_OK(cairn_get(&v, &n, t, NULL, "old", 3));
    CHECK_EQ(((uint8_t *)v)[0], DV_STORED_FORM);
    cairn_free(v);
    CHECK(strstr(patched, "\"_v\":5") != NULL);
    cairn_free(patched);
    CHECK_OK(cairn_doc_check(NULL, c, NULL));
    cairn_free(doc);
    cairn_table_close(t);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

/* A collection written before the packed form (its documents as canonical text) is repacked:
 * every document reads the same, the table is the one cairn writes now (its root equal to that
 * of the same documents written packed), and text that would not read back the same stays. */
static void repack_text_documents(void)
{
    enum { N = 200 };
    cairn_db *db = test_open_repo("mem:");
    cairn_coll *c;
    CHECK_OK(cairn_coll_open(&c, db, "r", CAIRN_COLL_CREATE));
    uint64_t n = 99;
    CHECK_OK(cairn_doc_repack(&n, c)); /* nothing written yet */
    CHECK_EQ(n, 0);
    static const char *const f[] = { "n" };
    CHECK_OK(cairn_doc_index_create(c, f, 1, 0));
    for (int i = 0; i < N; i++) {
        char doc[96];
        snprintf(doc, sizeof doc, "{\"_id\":\"r%03d\",\"n\":%d,\"A\":[%d]}", i, i % 7, i);
        CHECK_OK(cairn_doc_insert(NULL, c, doc, strlen(doc), NULL));
    }
    cairn_id packed_root, text_root, root;
    CHECK_OK(cairn_coll_root(&packed_root, c, NULL));
    cairn_table *t;
    CHECK_OK(cairn_table_open(&t, db, "cairn_doc.r", CAIRN_TABLE_INTERNAL));
    char *texts[N];
    for (int i = 0; i < N; i++) { /* each as its text, as cairn stored it before */
        char id[8];
        size_t len;
        snprintf(id, sizeof id, "r%03d", i);
        CHECK_OK(cairn_doc_get(&texts[i], &len, c, NULL, id));
        CHECK_OK(cairn_put(t, id, strlen(id), texts[i], len));
    }
    const char *loose = "{ \"_id\": \"zz\", \"n\": 1 }"; /* not canonical: left alone */
    CHECK_OK(cairn_put(t, "zz", 2, loose, strlen(loose)));
    CHECK_OK(cairn_coll_root(&text_root, c, NULL));
    CHECK_OK(cairn_doc_repack(&n, c));
    CHECK_EQ(n, N);
    for (int i = 0; i < N; i++) {
        char id[8], *got;
        snprintf(id, sizeof id, "r%03d", i);
        CHECK_OK(cairn_doc_get(&got, NULL, c, NULL, id));
        CHECK_STR(got, texts[i]);
        cairn_free(got);
        cairn_free(texts[i]);
        void *v;
        size_t vl;
        CHECK_OK(cairn_get(&v, &vl, t, NULL, id, strlen(id)));
        CHECK_EQ(((uint8_t *)v)[0], DV_STORED_FORM);
        cairn_free(v);
    }
    void *v;
    size_t vl;
    CHECK_OK(cairn_get(&v, &vl, t, NULL, "zz", 2));
    CHECK_MEM(v, vl, loose, strlen(loose));
    cairn_free(v);
    CHECK_OK(cairn_delete(t, "zz", 2));
    CHECK_OK(cairn_coll_root(&root, c, NULL));
    CHECK_MEM(&root, sizeof root, &packed_root, sizeof root); /* as written packed */
    CHECK(memcmp(&text_root, &root, sizeof root) != 0);
    CHECK_OK(cairn_doc_repack(&n, c));
    CHECK_EQ(n, 0);
    CHECK_OK(cairn_doc_check(NULL, c, NULL));
    cairn_table_close(t);
    cairn_coll_close(c);
    CHECK_OK(cairn_close(db));
}

TEST_MAIN(pack_round_trips, pack_declines, damaged_values, collection_stores_packed,
          repack_text_documents)
