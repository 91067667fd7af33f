/*
 * fuzz_rootrec.c - the root record decoder (src/repo/repo.c: the working state a working ref
 * names, read by every open, checkpoint, gc and verify) must reject or decode any bytes
 * without crashing or reading outside them. It accepts only what rootrec_encode writes, so a
 * decoded record encodes again to the very same bytes.
 *
 * The corpus (corpus/rootrec/) holds the working state a repository wrote after a checkpoint,
 * records written by rootrec_encode (a fresh working state,
 * one with a base commit and log position, merges pending with one and with the most parents)
 * and damaged copies (truncated, a byte after the end, another kind or version, more merge
 * parents than allowed or than present); rebuild it with
 *   FUZZ_ROOTREC_WRITE_CORPUS=DIR ./fuzz_rootrec
 */
#include <stdio.h>
#include <stdlib.h>

#include "chunk/chunk.h"
#include "corpus_file.h"
#include "db/db.h"
#include "repo/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rootrec rec;
    int rc = rootrec_decode(&rec, data, size);
    if (rc != CAIRN_OK) {
        if (rc != CAIRN_ECORRUPT) abort();
        cairn_error_clear();
        return 0;
    }
    if (rec.nmerge > ROOTREC_MAX_MERGE || size > ROOTREC_MAX_SIZE) abort();
    uint8_t again[ROOTREC_MAX_SIZE];
    size_t n = rootrec_encode(again, &rec);
    if (n != size || memcmp(again, data, size) != 0) abort();
    return 0;
}

static void id_fill(cairn_id *id, uint8_t seed)
{
    for (int i = 0; i < CAIRN_ID_SIZE; i++) id->bytes[i] = (uint8_t)(seed * 31 + i * 5 + 1);
}

/* The record of the working state a repository wrote: a table of one key, checkpointed. */
static void write_repo_record(const char *dir)
{
    cairn_open_options o = CAIRN_OPEN_OPTIONS_INIT;
    o.flags = CAIRN_OPEN_CREATE;
    cairn_db *db;
    cairn_table *t;
    chunk *c;
    int rc = cairn_open(&db, "mem:", &o);
    if (rc == CAIRN_OK) rc = cairn_table_open(&t, db, "t", CAIRN_TABLE_CREATE);
    if (rc == CAIRN_OK) rc = cairn_put(t, "k", 1, "v", 1);
    if (rc == CAIRN_OK) rc = cairn_checkpoint(db);
    if (rc == CAIRN_OK) rc = cs_get(&db->r.cs, &c, &db->cur->rec_id);
    if (rc != CAIRN_OK) {
        fprintf(stderr, "fuzz_rootrec: %s\n", cairn_error_last()->message);
        exit(1);
    }
    corpus_write(dir, "repo_checkpointed", c->data, c->len);
    chunk_release(c);
    cairn_table_close(t);
    cairn_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_ROOTREC_WRITE_CORPUS");
    if (!dir) return 0;
    write_repo_record(dir);
    uint8_t b[ROOTREC_MAX_SIZE + 1];
    rootrec rec;
    memset(&rec, 0, sizeof rec);
    id_fill(&rec.catalog, 1); /* a new branch: no base commit, nothing logged yet */
    size_t n = rootrec_encode(b, &rec);
    corpus_write(dir, "fresh", b, n);
    id_fill(&rec.base_commit, 2);
    rec.wal_seq = 123456789;
    n = rootrec_encode(b, &rec);
    corpus_write(dir, "checkpointed", b, n);
    corpus_write(dir, "truncated", b, n - 1);
    b[n] = 0;
    corpus_write(dir, "extra_byte", b, n + 1);
    b[0] ^= 0xff;
    corpus_write(dir, "wrong_kind", b, n);
    b[0] ^= 0xff;
    b[1] = ROOTREC_VERSION + 1;
    corpus_write(dir, "version_2", b, n);
    rec.nmerge = 1; /* a merge waiting to be committed */
    id_fill(&rec.merge[0], 3);
    n = rootrec_encode(b, &rec);
    corpus_write(dir, "merge_one", b, n);
    b[n - 33] = 2; /* two parents declared, one present */
    corpus_write(dir, "merge_short", b, n);
    rec.nmerge = ROOTREC_MAX_MERGE;
    for (int i = 0; i < ROOTREC_MAX_MERGE; i++) id_fill(&rec.merge[i], (uint8_t)(4 + i));
    rec.wal_seq = UINT64_MAX;
    n = rootrec_encode(b, &rec);
    corpus_write(dir, "merge_most", b, n);
    b[n - 1 - ROOTREC_MAX_MERGE * 32] = ROOTREC_MAX_MERGE + 1; /* over the limit */
    corpus_write(dir, "merge_over", b, n);
    fprintf(stderr, "wrote the rootrec corpus to %s\n", dir);
    exit(0);
}
