/*
 * local_files.c - the local store's file namespace (local_files.h): dirfiles rooted at the
 * repository directory, refusing (and not listing) the first components the store's own files
 * use, so that nothing written through the namespace can touch a pack, a ref or the lock.
 */
#include "store/local_files.h"

/* The local store's own names at the top of DIR (docs/FORMAT.md, "Directory layout"). */
static const char *const own_names[] = { "packs", "refs", "tmp", "quarantine", "CAIRN", "LOCK",
                                         NULL };

int local_files_attach(cairn_store *st, const char *dir, bool readonly)
{
    dirfiles_head *h = (dirfiles_head *)st;
    TRY(dirfiles_new(&h->files, dir, readonly, own_names));
    /* a reader writes nothing to the repository but its pin (docs/FORMAT.md, "Opening") */
    if (readonly) dirfiles_allow(h->files, "readers");
    dirfiles_methods(st);
    return CAIRN_OK;
}

void local_files_detach(cairn_store *st)
{
    dirfiles_head *h = (dirfiles_head *)st;
    dirfiles_free(h->files);
    h->files = NULL;
}
