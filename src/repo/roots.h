/*
 * roots.h - the chunks that the repository's refs name: where garbage collection starts
 * marking and verify starts walking. One place decides what each ref holds:
 *
 *   heads/NAME, tags/NAME,  the id of the newest reflog entry (64 hex digits, newline)
 *   remotes/REMOTE/BRANCH   (remote-tracking refs: where a remote's branch was last seen)
 *   working/NAME            the id of a root record
 *   HEAD                    "ref: heads/NAME" (names no chunk) or "commit <id>" (detached)
 *   config                  the id of the settings chunk (JSON; no kind byte)
 *   any other ref           if it holds an id (64 hex digits, newline): that chunk, followed by
 *                           its kind byte; otherwise it names no chunk
 */
#ifndef CAIRN_ROOTS_H
#define CAIRN_ROOTS_H

#include "repo.h"

enum root_kind {
    ROOT_REFLOG = 1,         /* a reflog entry: its chain, and every commit it names */
    ROOT_ROOTREC,            /* a root record: catalog, base commit, pending merge parents */
    ROOT_COMMIT,             /* a commit: parents and catalog */
    ROOT_RAW,                /* opaque bytes that name nothing (the settings) */
    ROOT_ANY,                /* unknown ref: follow the chunk by its kind byte */
    ROOT_BAD                 /* a known ref whose value is malformed; `why` says how */
};

/* What a walk from the roots (gc's mark, verify) expects a chunk to be. */
enum walk_what { W_REFLOG = 1, W_COMMIT, W_ROOTREC, W_CATALOG, W_TABLE, W_RAW, W_ANY };

/** What a walk expects the chunk a root of kind root_kind names to be (W_ANY when the kind
 *  does not say). */
int roots_walk_what(int root_kind);
/** The name of a walk_what for messages ("reflog entry", "commit", ...). */
const char *roots_what_name(int what);

typedef struct repo_root {
    char *ref;               /* owned */
    int kind;                /* enum root_kind */
    cairn_id id;             /* zero for ROOT_BAD */
    char *why;               /* ROOT_BAD: owned message; else NULL */
} repo_root;

/** Reads every ref once, in name order, and lists the chunks they name (refs that name no
 *  chunk are left out). Caller frees with repo_roots_free().
 *  @return CAIRN_OK; CAIRN_EIO; CAIRN_ENOMEM. */
int repo_roots(repo *r, repo_root **out, size_t *out_n);
/** As repo_roots(), but when some refs cannot be read (damaged files) it still lists the
 *  others and sets *out_damaged (the thread's last error names the damaged ref); without
 *  damage *out_damaged is false. */
int repo_roots_partial(repo *r, repo_root **out, size_t *out_n, bool *out_damaged);
void repo_roots_free(repo_root *roots, size_t n);

#endif /* CAIRN_ROOTS_H */
