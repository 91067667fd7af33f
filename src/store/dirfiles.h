/*
 * dirfiles.h - the file namespace of include/cairn/sys/store.h (version 3, the file_* methods)
 * over a directory: a name "a/b" is the file ROOT/a/b. Every call goes through base/sys, so a
 * test can fail any open, write, fsync or rename on the way.
 *
 * Used two ways: as a store of its own that has only files (store_files_open(), for the wal_dir
 * option: the log of a store that has no file namespace), and inside the local store, whose
 * file_* methods are these rooted at the repository directory, refusing the names the local
 * store keeps for itself (local_files.c).
 *
 * A store that carries a dirfiles begins with a dirfiles_head: its cairn_store, then the
 * dirfiles. The methods dirfiles_methods() installs find it there.
 */
#ifndef CAIRN_DIRFILES_H
#define CAIRN_DIRFILES_H

#include "base/base.h"

typedef struct dirfiles dirfiles;

/* The first two members of every store whose file methods are dirfiles'. */
typedef struct dirfiles_head {
    cairn_store base;
    dirfiles *files;
} dirfiles_head;

/** A namespace rooted at directory root (which must exist for anything to be found there).
 *  reserved: NULL, or a NULL-terminated list of first components that are not the
 *  namespace's (refused with CAIRN_EINVAL, left out of listings); borrowed for the dirfiles'
 *  life. readonly: every change fails with CAIRN_EREADONLY.
 *  @return CAIRN_OK or CAIRN_ENOMEM. */
int dirfiles_new(dirfiles **out, const char *root, bool readonly, const char *const *reserved);
/** With readonly, still lets names under the first component `dir` be written (the one thing
 *  a reader of a local repository writes: its pin in readers/). dir is borrowed. */
void dirfiles_allow(dirfiles *df, const char *dir);
/** Frees; open files stay valid until closed. Accepts NULL. */
void dirfiles_free(dirfiles *df);

/** Sets st's file_* members to dirfiles' own (st starts with a dirfiles_head whose files is
 *  set) and adds CAIRN_STORE_CAP_FILES | CAIRN_STORE_CAP_FILE_LOCKS to its caps. */
void dirfiles_methods(cairn_store *st);

#endif /* CAIRN_DIRFILES_H */
