/*
 * fuzz_pins.c - the reader pin file decoder (src/repo/pins.c) must reject or decode any bytes
 * without crashing or reading outside them; a decoded file holds the ids it declares (bytes
 * after them are ignored), and writing them again through pins_set gives the same bytes.
 *
 * The corpus (corpus/pins/) holds files written by pins_set (no ids, one, several) and damaged
 * copies; rebuild it with
 *   FUZZ_PINS_WRITE_CORPUS=DIR ./fuzz_pins
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "corpus_file.h"
#include "repo/pins.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char repo_dir[] = "/tmp/cairn-fuzz-pins-XXXXXX";
static pins *writer;
static cairn_store *files; /* the pins' files: a files-only store over repo_dir */

/* The bytes of writer's file (the only one in readers/). */
static uint8_t *file_bytes(size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/readers", repo_dir);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && de->d_name[0] == '.') {}
    if (!d || !de) abort();
    snprintf(path, sizeof path, "%s/readers/%s", repo_dir, de->d_name);
    closedir(d);
    size_t max = PINS_HEADER + (size_t)PINS_MAX * CAIRN_ID_SIZE + 1;
    uint8_t *buf = malloc(max);
    int fd = open(path, O_RDONLY);
    ssize_t r = buf && fd >= 0 ? pread(fd, buf, max, 0) : -1;
    if (r < 0) abort();
    close(fd);
    *len = (size_t)r;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *ids;
    size_t n;
    if (pins_decode(data, size, &ids, &n) != CAIRN_OK) return 0;
    if (n > PINS_MAX || size < PINS_HEADER + n * CAIRN_ID_SIZE || ids != data + PINS_HEADER)
        abort();
    size = PINS_HEADER + n * CAIRN_ID_SIZE; /* what follows is ignored, and not written again */
    if (n > 64) return 0; /* re-encoding is checked on small files: a file write per input */
    cairn_id v[64];
    for (size_t i = 0; i < n; i++) memcpy(v[i].bytes, ids + i * CAIRN_ID_SIZE, CAIRN_ID_SIZE);
    if (pins_set(writer, v, n) != CAIRN_OK) abort();
    size_t len;
    uint8_t *again = file_bytes(&len);
    if (len != size || memcmp(again, data, size) != 0) abort();
    free(again);
    return 0;
}

static void cleanup(void)
{
    pins_close(writer);
    files->close(files);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", repo_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", repo_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(repo_dir) || store_files_open(&files, repo_dir, 0) != CAIRN_OK ||
        pins_register(&writer, files) != CAIRN_OK) {
        fprintf(stderr, "fuzz_pins: cannot register a pin file under /tmp\n");
        exit(1);
    }
    atexit(cleanup);
    const char *dir = getenv("FUZZ_PINS_WRITE_CORPUS");
    if (!dir) return 0;
    cairn_id v[3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < CAIRN_ID_SIZE; j++) v[i].bytes[j] = (uint8_t)(i * 37 + j);
    const char *names[] = { "none", "one", "three" };
    size_t counts[] = { 0, 1, 3 };
    for (int k = 0; k < 3; k++) {
        if (pins_set(writer, v, counts[k]) != CAIRN_OK) exit(1);
        size_t len;
        uint8_t *b = file_bytes(&len);
        corpus_write(dir, names[k], b, len);
        if (k == 2) {
            b[PINS_HEADER + 5] ^= 1; /* CRC no longer matches */
            corpus_write(dir, "bad_crc", b, len);
            corpus_write(dir, "torn", b, len - 7); /* caught while shrinking */
            b[4] = 0xff;                          /* declares more than it holds */
            corpus_write(dir, "overcount", b, len);
        }
        free(b);
    }
    fprintf(stderr, "wrote the pins corpus to %s\n", dir);
    exit(0);
}
