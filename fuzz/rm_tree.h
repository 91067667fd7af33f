/*
 * rm_tree.h - removing a scratch repository directory, for the targets that make one.
 */
#ifndef CAIRN_FUZZ_RM_TREE_H
#define CAIRN_FUZZ_RM_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int rm_tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes dir and everything under it (what cannot be removed is left). */
static inline void rm_tree(const char *dir) { nftw(dir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS); }

#endif /* CAIRN_FUZZ_RM_TREE_H */
