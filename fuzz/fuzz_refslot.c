/*
 * fuzz_refslot.c - the two-slot ref file decoder (src/store/refslot.c) must reject or decode
 * any bytes without crashing or reading outside them. The input is taken whole (almost always
 * the wrong size, which must be refused) and also laid out as a file: its first half at the
 * start of slot 0, its second half at the start of slot 1, zeros elsewhere. A decoded version
 * must point inside the file, and encoding its sequence number and value again must give the
 * chosen slot's bytes; the other slot must be invalid or older.
 *
 * The corpus (corpus/refslot/) holds slot pairs written by the encoder (both valid, one valid,
 * one damaged, empty values, the longest value); rebuild it with
 *   FUZZ_REFSLOT_WRITE_CORPUS=DIR ./fuzz_refslot
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "corpus_file.h"
#include "store/refslot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uint8_t file[REFSLOT_FILE_SIZE];

/* The halves of an input as the starts of the two slots. */
static void lay_out(const uint8_t *data, size_t size)
{
    memset(file, 0, sizeof file);
    size_t half = size / 2, a = MIN(half, REFSLOT_SIZE), b = MIN(size - half, REFSLOT_SIZE);
    if (a) memcpy(file, data, a);
    if (b) memcpy(file + REFSLOT_SIZE, data + half, b);
}

static void check(const uint8_t *p, size_t n)
{
    refslot_version v;
    if (refslot_decode(p, n, "fuzz", &v) != CAIRN_OK) return;
    if (n != REFSLOT_FILE_SIZE || v.slot > 1 || v.len > REFSLOT_VALUE_MAX) abort();
    const uint8_t *s = p + (size_t)v.slot * REFSLOT_SIZE;
    if (v.value != s + REFSLOT_HEADER) abort();
    static uint8_t again[REFSLOT_SIZE];
    refslot_encode(again, v.seq, v.value, v.len);
    if (memcmp(again, s, REFSLOT_HEADER + v.len) != 0) abort();
    /* the other slot alone: invalid, or not newer */
    static uint8_t other[REFSLOT_FILE_SIZE];
    memset(other, 0, sizeof other);
    memcpy(other, p + (size_t)(1 - v.slot) * REFSLOT_SIZE, REFSLOT_SIZE);
    refslot_version o;
    if (refslot_decode(other, sizeof other, "fuzz", &o) == CAIRN_OK && o.seq > v.seq) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    lay_out(data, size);
    check(file, sizeof file);
    return 0;
}

/* An input whose halves become the two slots given. */
static void write_pair(const char *dir, const char *name, const uint8_t *s0, size_t n0,
                       const uint8_t *s1, size_t n1)
{
    size_t n = MAX(n0, n1);
    uint8_t *in = calloc(1, 2 * n);
    if (!in) exit(1);
    memcpy(in, s0, n0);
    memcpy(in + n, s1, n1);
    corpus_write(dir, name, in, 2 * n);
    free(in);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_REFSLOT_WRITE_CORPUS");
    if (!dir) return 0;
    static uint8_t a[REFSLOT_SIZE], b[REFSLOT_SIZE], longest[REFSLOT_VALUE_MAX];
    const char *hex = "4f1c0e0d2b9a7c3e5d6f8a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3\n";
    refslot_encode(a, 7, hex, 65);
    refslot_encode(b, 6, "older", 5);
    write_pair(dir, "both_valid", a, REFSLOT_HEADER + 65, b, REFSLOT_HEADER + 5);
    write_pair(dir, "newer_second", b, REFSLOT_HEADER + 5, a, REFSLOT_HEADER + 65);
    write_pair(dir, "one_valid", a, REFSLOT_HEADER + 65, (const uint8_t *)"", 0);
    refslot_encode(b, 8, "", 0);
    write_pair(dir, "empty_value", a, REFSLOT_HEADER + 65, b, REFSLOT_HEADER);
    a[30] ^= 1;
    write_pair(dir, "newest_damaged", b, REFSLOT_HEADER, a, REFSLOT_HEADER + 65);
    memset(longest, 'x', sizeof longest);
    refslot_encode(a, 1, longest, sizeof longest);
    write_pair(dir, "longest", a, REFSLOT_SIZE, b, REFSLOT_HEADER);
    fprintf(stderr, "wrote the refslot corpus to %s\n", dir);
    exit(0);
}
