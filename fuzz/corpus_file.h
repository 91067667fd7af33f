/*
 * corpus_file.h - writing a seed file into a corpus directory, for the targets that rebuild
 * their checked-in corpus (FUZZ_<NAME>_WRITE_CORPUS=DIR).
 */
#ifndef CAIRN_FUZZ_CORPUS_FILE_H
#define CAIRN_FUZZ_CORPUS_FILE_H

#include <stdio.h>
#include <stdlib.h>

/* Writes dir/name whole, or exits naming it. */
static inline void corpus_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

#endif /* CAIRN_FUZZ_CORPUS_FILE_H */
