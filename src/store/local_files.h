/*
 * local_files.h - the local store's file namespace: the file_* methods of cairn/sys/store.h
 * over the repository directory (dirfiles.c), minus the names the local store keeps for itself.
 * The write-ahead log lives in DIR/wal/<branch>/ and reader pins in DIR/readers/, as they
 * always have, so repositories made before the namespace existed open unchanged.
 */
#ifndef CAIRN_LOCAL_FILES_H
#define CAIRN_LOCAL_FILES_H

#include "store/dirfiles.h"

/** Gives the local store st (which begins with a dirfiles_head) its file namespace rooted at
 *  dir. @return CAIRN_OK or CAIRN_ENOMEM. */
int local_files_attach(cairn_store *st, const char *dir, bool readonly);
/** Releases what local_files_attach() made (nothing when it was not called). */
void local_files_detach(cairn_store *st);

#endif /* CAIRN_LOCAL_FILES_H */
