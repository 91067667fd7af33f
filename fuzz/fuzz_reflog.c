/*
 * fuzz_reflog.c - the reflog entry decoder (src/repo/commit.c, read by refs_read and by gc and
 * verify walking a ref's history) must reject or decode any bytes without crashing or reading
 * outside them. It accepts only the canonical encoding, so a decoded entry encodes again to the
 * very same bytes, and those decode to the same entry.
 *
 * The corpus (corpus/reflog/) holds the entries a repository wrote (a branch's first commit
 * and its second), entries written by reflog_encode (a ref created, moved, deleted; empty,
 * longest and non-ASCII text) and damaged copies (truncated, a byte after the end,
 * another kind or version, a non-shortest length, a NUL or a bad UTF-8 byte in the text, text
 * over the limit); rebuild it with
 *   FUZZ_REFLOG_WRITE_CORPUS=DIR ./fuzz_reflog
 */
#include <stdio.h>
#include <stdlib.h>

#include "chunk/chunk.h"
#include "corpus_file.h"
#include "db/db.h"
#include "repo/commit.h"
#include "repo/refs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool same_entry(const reflog_entry *a, const reflog_entry *b)
{
    return memcmp(&a->prev, &b->prev, sizeof a->prev) == 0 &&
           memcmp(&a->old_target, &b->old_target, sizeof a->old_target) == 0 &&
           memcmp(&a->new_target, &b->new_target, sizeof a->new_target) == 0 &&
           a->time == b->time && strcmp(a->who, b->who) == 0 && strcmp(a->why, b->why) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reflog_entry e;
    int rc = reflog_decode(&e, data, size);
    if (rc != CAIRN_OK) {
        if (rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM) abort();
        cairn_error_clear();
        return 0;
    }
    if (!e.who || !e.why) abort();
    cairn_buf again = CAIRN_BUF_INIT;
    if (reflog_encode(&again, &e) != CAIRN_OK) abort();
    if (again.len != size || memcmp(again.data, data, size) != 0) abort();
    reflog_entry e2;
    if (reflog_decode(&e2, again.data, again.len) != CAIRN_OK || !same_entry(&e, &e2)) abort();
    reflog_dispose(&e2);
    reflog_dispose(&e);
    cairn_buf_dispose(&again);
    return 0;
}

/* ---- the corpus ---- */

static const char *corpus_dir;

static void write_buf(const char *name, const cairn_buf *b)
{
    corpus_write(corpus_dir, name, b->data, b->len);
}

static void encode(cairn_buf *b, const reflog_entry *e)
{
    if (reflog_encode(b, e) != CAIRN_OK) {
        fprintf(stderr, "fuzz_reflog: %s\n", cairn_error_last()->message);
        exit(1);
    }
}

static void id_fill(cairn_id *id, uint8_t seed)
{
    for (int i = 0; i < CAIRN_ID_SIZE; i++) id->bytes[i] = (uint8_t)(seed * 29 + i * 7);
}

/* Writes the bytes of the entry heads/main names in a repository. */
static void write_from_repo(cairn_db *db, const char *name)
{
    cairn_id id;
    chunk *c;
    if (refs_read_id(&db->r, "heads/main", &id) != CAIRN_OK ||
        cs_get(&db->r.cs, &c, &id) != CAIRN_OK) {
        fprintf(stderr, "fuzz_reflog: %s\n", cairn_error_last()->message);
        exit(1);
    }
    corpus_write(corpus_dir, name, c->data, c->len);
    chunk_release(c);
}

/* Two entries as a repository writes them: a branch's first commit, then its second. */
static void write_repo_entries(void)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db;
    cairn_table *t;
    cairn_commit_options co = CAIRN_COMMIT_OPTIONS_INIT;
    co.author = "Fuzz Seed <seed@example.com>";
    setenv("CAIRN_AUTHOR", co.author, 1); /* the entries' who: not this machine's user and host */
    int rc = cairn_open(&db, "mem:", &o);
    if (rc == CAIRN_OK) rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    for (int i = 0; rc == CAIRN_OK && i < 2; i++) {
        rc = cairn_put(t, "k", 1, i ? "2" : "1", 1);
        co.message = i ? "second" : "first";
        if (rc == CAIRN_OK) rc = cairn_commit(NULL, db, &co);
        if (rc == CAIRN_OK) write_from_repo(db, i ? "repo_second_commit" : "repo_first_commit");
    }
    if (rc != CAIRN_OK) {
        fprintf(stderr, "fuzz_reflog: %s\n", cairn_error_last()->message);
        exit(1);
    }
    cairn_table_close(t);
    cairn_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    corpus_dir = getenv("FUZZ_REFLOG_WRITE_CORPUS");
    if (!corpus_dir) return 0;
    write_repo_entries();
    cairn_buf b = CAIRN_BUF_INIT;
    /* a branch created by a commit, as cairn_commit writes it */
    reflog_entry e = { { { 0 } }, { { 0 } }, { { 0 } }, 1764806400123456789LL,
                       "Test <test@example.com>", "commit (initial): data" };
    id_fill(&e.new_target, 1);
    encode(&b, &e);
    write_buf("created", &b);
    /* moved on: the previous entry and the old target named */
    id_fill(&e.prev, 2);
    id_fill(&e.old_target, 1);
    id_fill(&e.new_target, 3);
    e.why = "merge feature: 2 parents";
    encode(&b, &e);
    write_buf("moved", &b);
    /* damaged copies of it */
    size_t full = b.len;
    b.len = full - 3;
    write_buf("truncated", &b);
    b.len = full;
    if (cairn_buf_append(&b, "x", 1) != CAIRN_OK) exit(1);
    write_buf("extra_byte", &b);
    b.len = full;
    b.data[0] ^= 0xff;
    write_buf("wrong_kind", &b);
    b.data[0] ^= 0xff;
    b.data[1] = REFLOG_VERSION + 1;
    write_buf("version_2", &b);
    b.data[1] = REFLOG_VERSION;
    size_t who_at = 2 + 3 * CAIRN_ID_SIZE + 8; /* the who length, then its text */
    b.data[who_at + 1 + 4] = 0;
    write_buf("nul_in_text", &b);
    b.data[who_at + 1 + 4] = 0xc0; /* an overlong encoding's lead byte */
    write_buf("bad_utf8", &b);
    /* the length as two bytes where one does */
    encode(&b, &e);
    uint8_t two[2] = { (uint8_t)(b.data[who_at] | 0x80), 0 };
    cairn_buf nonshort = CAIRN_BUF_INIT;
    if (cairn_buf_append(&nonshort, b.data, who_at) || cairn_buf_append(&nonshort, two, 2) ||
        cairn_buf_append(&nonshort, b.data + who_at + 1, b.len - who_at - 1))
        exit(1);
    write_buf("long_varint", &nonshort);
    cairn_buf_dispose(&nonshort);
    /* deleted (no new target), empty texts, a time before 1970 */
    memset(&e.new_target, 0, sizeof e.new_target);
    e.time = -1;
    e.who = "";
    e.why = "";
    encode(&b, &e);
    write_buf("deleted_empty", &b);
    /* text: non-ASCII, and the longest allowed (then one byte over, by hand) */
    e.who = "Zoë Ångström <zoe@example.org>";
    e.why = "branch: renamed from \xe6\x97\xa5\xe6\x9c\xac to \xf0\x9f\x8c\xb2";
    encode(&b, &e);
    write_buf("utf8", &b);
    char *longest = malloc(REFLOG_MAX_TEXT + 2);
    if (!longest) exit(1);
    memset(longest, 'w', REFLOG_MAX_TEXT);
    longest[REFLOG_MAX_TEXT] = '\0';
    e.why = longest;
    encode(&b, &e);
    write_buf("longest", &b);
    /* over the limit: the last field's length and bytes grown by one */
    size_t why_at = b.len - REFLOG_MAX_TEXT - 2; /* 4096 is a two-byte varint */
    cairn_buf over = CAIRN_BUF_INIT;
    uint8_t len2[2] = { (uint8_t)(((REFLOG_MAX_TEXT + 1) & 0x7f) | 0x80),
                        (uint8_t)((REFLOG_MAX_TEXT + 1) >> 7) };
    if (cairn_buf_append(&over, b.data, why_at) || cairn_buf_append(&over, len2, 2) ||
        cairn_buf_append(&over, longest, REFLOG_MAX_TEXT) || cairn_buf_append(&over, "w", 1))
        exit(1);
    write_buf("over_limit", &over);
    cairn_buf_dispose(&over);
    free(longest);
    cairn_buf_dispose(&b);
    fprintf(stderr, "wrote the reflog corpus to %s\n", corpus_dir);
    exit(0);
}
