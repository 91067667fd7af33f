/*
 * cairn/doc.h - collections of JSON documents over cairn's tables: CRUD, queries in MongoDB's
 * shape, secondary and text indexes. Include after (or instead of) cairn.h.
 *
 * A collection COLL is the table "cairn_doc.COLL" (key: the document id's UTF-8 bytes; value:
 * the document in its stored form, docs/FORMAT.md "Stored documents": its metadata in a short
 * binary head, then the canonical JSON of the rest; cairn_doc_decode() gives the document's
 * canonical JSON, docs/FORMAT.md "Canonical JSON", back from it). Each index NAME is the table
 * "cairn_idx.COLL.NAME", and the index definitions are rows of the collection's catalog table
 * "cairn_dcat.COLL", so indexes version with commits like the data. Every write puts the
 * document, its index entries and (when it changes) the catalog in one atomic batch.
 *
 * Documents are JSON objects. cairn keeps four fields in each:
 *   _id    a string: given, or generated (26 characters, sortable by creation time: 16 hex
 *          digits of the creation time in nanoseconds, kept increasing within a collection
 *          handle, then 10 random hex digits); 1..CAIRN_DOC_ID_LEN_MAX bytes of UTF-8 without
 *          control characters, '/' or '\\'
 *   _v     the version: 1 when created, +1 on every change
 *   _ts    the UTC time of the last change, "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"
 *   _hash  hex SHA-256 of the document's canonical form without _hash
 * and, when the write was made with a signer (cairn_doc_write_options.signer), a fifth:
 *   _sig   {"key": hex Ed25519 public key, "sig": hex signature}: the signer's signature over
 *          "cairn document signature v1\n", the collection's name, one zero byte, and the
 *          document's canonical form without _hash and _sig (docs/FORMAT.md, "Document
 *          signatures"). It covers _id, _v and _ts, and _hash covers it.
 * Whatever the input says for _v, _ts, _hash and _sig is replaced (a write without a signer
 * stores no _sig). Other names beginning with '_' are the caller's.
 *
 * Values compare in one order across types (filters, sorts and index keys agree on it):
 *   missing < null < false < true < numbers < strings < arrays < objects.
 * Numbers compare by value (as doubles; two integers exactly; a real and an integer with the
 * same double value, possible only beyond 2^53, order the real first). Strings compare by their
 * UTF-8 bytes. Arrays compare element by element, a prefix first; objects member by member (in
 * canonical order, name then value), a prefix first. $gt $gte $lt $lte only match values of the
 * operand's type class (a number is never "greater" than a string).
 *
 * Concurrency: a collection handle may be used from several threads; its writes are serialised
 * by the handle. Writers through two handles on the same collection (or other processes) must
 * serialise themselves: the read that checks if_version, an existing id or a unique index and the
 * batch that writes are not one atomic step across handles (nor are the read and the rewrite
 * of a text index's posting blocks: unserialised writers could lose each other's words).
 */
#ifndef CAIRN_DOC_H
#define CAIRN_DOC_H

#include <stdbool.h>

#include "cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_DOC_ID_LEN_MAX 512u          /**< bytes of a document id */
#define CAIRN_DOC_COLL_PREFIX "cairn_doc." /**< table of a collection: this + its name */
#define CAIRN_DOC_INDEX_PREFIX "cairn_idx."/**< table of an index: this + COLL + "." + NAME */
#define CAIRN_DOC_CATALOG_PREFIX "cairn_dcat." /**< a collection's index catalog: this + COLL */
/** cairn_diff()'s table for every user table and, of every collection, its documents, index
 *  catalog and retention tables (CAIRN_DOC_CATALOG_PREFIX, CAIRN_DOC_RETENTION_PREFIX): all that
 *  a collection's changes write but its index tables (those follow the documents and the
 *  catalog), in one pass over both versions. */
#define CAIRN_DOC_DIFF_ALL CAIRN_DOC_COLL_PREFIX
#define CAIRN_DOC_COLL_NAME_LEN_MAX 64u    /**< bytes of a collection name */
#define CAIRN_DOC_INDEX_FIELDS_MAX 8u      /**< fields of one index */

typedef struct cairn_coll cairn_coll;

/** Flags for cairn_coll_open(). */
typedef enum cairn_coll_flag {
    CAIRN_COLL_CREATE = 0x1u,    /**< create the collection (empty) when it does not exist */
    CAIRN_COLL_VERIFY_SIG = 0x2u /**< every document this handle reads (cairn_doc_get(),
                                      cairn_doc_get_many(), cairn_doc_find() results) must carry
                                      a _sig that verifies (as cairn_doc_sig_check() says GOOD,
                                      or UNKNOWN when the repository trusts no key); else the
                                      read fails with CAIRN_EAUTH naming the document and the
                                      key's fingerprint */
} cairn_coll_flag;

/** Opens a collection. Names are 1..CAIRN_DOC_COLL_NAME_LEN_MAX bytes of letters, digits, '_'
 *  and '-'.
 *  @param[out] out  caller closes with cairn_coll_close(), before cairn_close()
 *  @param[in]  flags  cairn_coll_flag values: CAIRN_COLL_CREATE (needs a writable db),
 *                     CAIRN_COLL_VERIFY_SIG
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no such collection, no CREATE); CAIRN_EINVAL (bad name);
 *          CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ECORRUPT; CAIRN_ENOMEM. */
CAIRN_API int cairn_coll_open(cairn_coll **out, cairn_db *db, const char *name, unsigned flags);

/** Releases a collection handle. Accepts NULL. */
CAIRN_API void cairn_coll_close(cairn_coll *coll);

/** @return the collection's name; borrowed, valid until the handle is closed. */
CAIRN_API const char *cairn_coll_name(const cairn_coll *coll);

/** The root hash of the collection's documents table as of snap (NULL = the current state):
 *  one hash for every document's id and bytes (an export's manifest records it).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND (no collection in that state); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_coll_root(cairn_id *out, cairn_coll *coll, const cairn_snapshot *snap);

/** Calls cb once per collection, in name order, as of snap (NULL = the current state).
 *  @return CAIRN_OK, cb's non-zero value, or an error. */
CAIRN_API int cairn_coll_list(cairn_db *db, const cairn_snapshot *snap, cairn_name_fn cb,
                              void *payload);

/* ---- writes ---- */

#define CAIRN_DOC_ANY_VERSION (-1) /**< if_version: no check */

/** Options of one write. Initialise with CAIRN_DOC_WRITE_OPTIONS_INIT. */
typedef struct cairn_doc_write_options {
    unsigned version;   /**< CAIRN_DOC_WRITE_OPTIONS_VERSION */
    int64_t if_version; /**< the document's _v must be this (0: the document must not exist),
                             else CAIRN_ECONFLICT and nothing written; CAIRN_DOC_ANY_VERSION */
    size_t max_bytes;   /**< limits of the stored document (0: the defaults, 1 MiB canonical */
    unsigned max_depth; /**<  bytes (CAIRN_VALUE_LEN_MAX, also the most max_bytes can be), */
    size_t max_fields;  /**<  depth 64, 10000 members or elements in one object or array);
                             a document over one is CAIRN_EINVAL naming the limit */
    cairn_signer *signer; /**< version 2: sign each document written with it (its _sig); NULL:
                               unsigned. Borrowed: keep it open while the options are used (a
                               bulk's until it is freed). A signer's failure fails the write */
} cairn_doc_write_options;

#define CAIRN_DOC_WRITE_OPTIONS_VERSION 2 /**< 1 (without signer) is still accepted */
#define CAIRN_DOC_WRITE_OPTIONS_INIT \
    { CAIRN_DOC_WRITE_OPTIONS_VERSION, CAIRN_DOC_ANY_VERSION, 0, 0, 0, NULL }

/* The write calls below take the document as JSON text (json, len) and, when out_doc is not
 * NULL, return the stored document (canonical JSON, NUL-terminated; caller frees with
 * cairn_free()). opts may be NULL (the defaults). Each is one atomic batch.
 * Common return codes: CAIRN_OK; CAIRN_EINVAL (malformed JSON with line and column, not an
 * object, a limit passed, a bad _id); CAIRN_ECONFLICT (stale if_version; a unique index already
 * holds the value, the message names the other document); CAIRN_EREADONLY; CAIRN_EIO;
 * CAIRN_ENOSPC; CAIRN_ENOMEM. On any failure nothing is written. */

/** Inserts a new document (an id is generated when it has no _id).
 *  @return as above; CAIRN_EEXIST (the id exists). */
CAIRN_API int cairn_doc_insert(char **out_doc, cairn_coll *coll, const char *json, size_t len,
                               const cairn_doc_write_options *opts);

/** Inserts, or replaces the document with the same _id. */
CAIRN_API int cairn_doc_upsert(char **out_doc, cairn_coll *coll, const char *json, size_t len,
                               const cairn_doc_write_options *opts);

/** Replaces the document with the same _id (required).
 *  @return as above; CAIRN_ENOTFOUND (no such document). */
CAIRN_API int cairn_doc_replace(char **out_doc, cairn_coll *coll, const char *json, size_t len,
                                const cairn_doc_write_options *opts);

/** Applies a JSON Merge Patch (RFC 7386) to document id; the patch may not change _id.
 *  @return as above; CAIRN_ENOTFOUND. */
CAIRN_API int cairn_doc_patch(char **out_doc, cairn_coll *coll, const char *id,
                              const char *patch, size_t len, const cairn_doc_write_options *opts);

/** Deletes document id (and its index entries).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_ECONFLICT (stale if_version); as above. */
CAIRN_API int cairn_doc_delete(cairn_coll *coll, const char *id,
                               const cairn_doc_write_options *opts);

/** A bulk insert: documents added one at a time (each checked and its entries added to one
 *  batch as it comes), written all-or-nothing by cairn_doc_bulk_commit().
 *
 *  After its first 1000 documents (unless it signs), a bulk reads, canonicalises, hashes and
 *  computes the index keys of the documents on worker threads (one per processor, up to 4), up
 *  to CAIRN_DOC_BULK_AHEAD documents ahead of the calling thread, which then checks their ids and
 *  unique values against each other and fills the batch in the order they were added (the
 *  workers look ids and unique values up in the collection). The documents stored and
 *  the failures are the same either way, but a failure may then be reported by a later call
 *  than the one that added the document: by the cairn_doc_bulk_add() of a document at most
 *  CAIRN_DOC_BULK_AHEAD after it, or by cairn_doc_bulk_commit(). The message names the
 *  document by its position ("document K of the input: ..."), and cairn_doc_bulk_failed()
 *  gives K and the document's text. Memory: at most CAIRN_DOC_BULK_AHEAD documents and 16 MiB
 *  of their text wait for the calling thread (one document always may), each with its stored
 *  form and index keys; once a document is through, each of the CAIRN_DOC_BULK_AHEAD slots
 *  keeps at most 64 KiB of its text, of its stored form and of each index's keys, and each
 *  thread (the workers, the caller) at most 64 KiB of its canonical form and of its parser. */
typedef struct cairn_doc_bulk cairn_doc_bulk;

/** The most documents a bulk reads ahead of the calling thread: how many calls later than
 *  its own a document's failure can be reported. */
#define CAIRN_DOC_BULK_AHEAD 256

/** @param[out] out  caller frees with cairn_doc_bulk_free()
 *  @return CAIRN_OK; CAIRN_EREADONLY; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_bulk_new(cairn_doc_bulk **out, cairn_coll *coll,
                                 const cairn_doc_write_options *opts);

/** Adds one document (as cairn_doc_insert(); an id used earlier in the bulk is CAIRN_EEXIST).
 *  The failure returned may be that of a document added earlier (see cairn_doc_bulk): json is
 *  copied when it is read later. After a failure the bulk only accepts cairn_doc_bulk_free().
 *  @return as cairn_doc_insert(); CAIRN_ESTATE after an earlier failure. */
CAIRN_API int cairn_doc_bulk_add(cairn_doc_bulk *bulk, const char *json, size_t len);

/** Writes every document added, atomically; first checks those not checked yet, so it may
 *  fail for one of them as cairn_doc_bulk_add() would (nothing is then written).
 *  @return CAIRN_OK; CAIRN_ESTATE; as cairn_doc_bulk_add(); as cairn_batch_commit(). */
CAIRN_API int cairn_doc_bulk_commit(cairn_doc_bulk *bulk);

/** After cairn_doc_bulk_add() or cairn_doc_bulk_commit() failed: which document the failure is
 *  about, by position (1 for the first document added), and its text as it was added (into
 *  *out_json and *out_len when not NULL; borrowed, valid until the bulk is freed; NULL when it
 *  could not be kept or none was given).
 *  @return the position; 0 when nothing failed or the failure is about no one document (the
 *          commit's write). */
CAIRN_API size_t cairn_doc_bulk_failed(const cairn_doc_bulk *bulk, const char **out_json,
                                       size_t *out_len);

/** @return how many documents the bulk holds. */
CAIRN_API size_t cairn_doc_bulk_count(const cairn_doc_bulk *bulk);

/** Frees a bulk without writing what it holds. Accepts NULL. */
CAIRN_API void cairn_doc_bulk_free(cairn_doc_bulk *bulk);

/* ---- signatures ---- */

/** What cairn_doc_sig_check() found. */
typedef struct cairn_doc_sig_info {
    cairn_sig_status status;  /**< NONE (no _sig); BAD (_sig malformed or not verifying, or
                                   _hash not matching the document); GOOD (verifies, and the
                                   key is in the repository's trusted keys); UNKNOWN (verifies,
                                   the key is not trusted) */
    char signer[CAIRN_KEY_FINGERPRINT_SIZE]; /**< the key's fingerprint; "" without a key */
    uint8_t public_key[CAIRN_KEY_PUBLIC_SIZE];
    bool trust_list;          /**< the repository trusts some key (cairn_trust_key()) */
    char reason[160];         /**< for BAD: what does not verify */
} cairn_doc_sig_info;

/** Grades the signature of a document of this collection (canonical JSON as read; the
 *  collection's name is part of what is signed, so a document moved to another collection
 *  does not verify there).
 *  @return CAIRN_OK (out filled, whatever the status); CAIRN_EINVAL (NULL arguments, doc not a
 *          JSON object); CAIRN_ECORRUPT (reading the trusted keys); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_sig_check(cairn_doc_sig_info *out, cairn_coll *coll, const char *doc,
                                  size_t len);

/* ---- reads (snap NULL = the current state: a call that reads several trees, find, count
 * and get-many, takes one snapshot of it for its whole run, so that it sees one state while
 * writes go on) ---- */

/** Reads one document.
 *  @param[out] out_doc  canonical JSON, NUL-terminated; caller frees with cairn_free()
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EINVAL (bad id); CAIRN_EAUTH (CAIRN_COLL_VERIFY_SIG
 *          and the signature is missing, bad or by an untrusted key); CAIRN_ECORRUPT;
 *          CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_get(char **out_doc, size_t *out_len, cairn_coll *coll,
                            const cairn_snapshot *snap, const char *id);

/** Receives one result. doc (canonical JSON, NUL-terminated) is borrowed, valid until the
 *  callback returns; NULL from cairn_doc_get_many() for an id that does not exist. cursor (for
 *  cairn_doc_find(): resumes after this document with cairn_doc_query.after) is borrowed too.
 *  May call cairn for reads, not writes to the same collection.
 *  @return 0 to go on; anything else stops and is returned. */
typedef int (*cairn_doc_fn)(const char *id, const char *doc, size_t len, const char *cursor,
                            void *payload);

/** Reads several documents, calling cb once per id in the order given.
 *  @return CAIRN_OK, cb's non-zero value, or as cairn_doc_get() (never CAIRN_ENOTFOUND). */
CAIRN_API int cairn_doc_get_many(cairn_coll *coll, const cairn_snapshot *snap,
                                 const char *const *ids, size_t n, cairn_doc_fn cb,
                                 void *payload);

/** A query. Initialise with CAIRN_DOC_QUERY_INIT.
 *
 *  Filter: a JSON object. {"path": VALUE} is equality; {"path": {"$op": operand, ...}} applies
 *  every operator: $eq $ne $gt $gte $lt $lte (any value), $in $nin (an array), $exists (a
 *  boolean), $prefix $contains (a string: a string value starting with / containing it), $not
 *  (an operator object). At the top level and inside $and/$or (arrays of filters) and $not (a
 *  filter): {"$and": [...]}, {"$or": [...]}, {"$not": {...}}, and {"$text": "words"} (every
 *  word's lower-cased token is in the field of the collection's text index, which must exist).
 *  A path is names joined by '.'; through an array, a name applies to each element that is an
 *  object and a number picks an element. A condition holds when any value at the path satisfies
 *  it ($ne, $nin: when none equals), and an array value is tested both as a whole and element
 *  by element. An unknown operator or a wrong operand type is CAIRN_EINVAL naming the operator
 *  and its path.
 *
 *  Order: the sort fields ("path" ascending, "path:desc" descending), then _id in the direction
 *  of the last sort field (no sort: _id ascending). The sort value of a path is the value the
 *  path names directly (a name never fans out across an array). */
typedef struct cairn_doc_query {
    unsigned version;          /**< CAIRN_DOC_QUERY_VERSION */
    const char *filter;        /**< JSON text, or NULL (every document) */
    const char *const *sort;   /**< nsort sort fields */
    size_t nsort;
    uint64_t limit;            /**< at most this many results (0: no limit) */
    uint64_t offset;           /**< skip this many first */
    const char *after;         /**< a cursor from an earlier result: start after it, or NULL */
    const char *const *project;/**< nproject paths to return (with _id); 0: whole documents */
    size_t nproject;
    size_t max_sort_bytes;     /**< memory for a sort no index gives (0: 64 MiB); past it the
                                    query fails with CAIRN_EINVAL saying so */
    unsigned flags;            /**< CAIRN_DOC_QUERY_NO_INDEX: always scan the collection */
} cairn_doc_query;

#define CAIRN_DOC_QUERY_NO_INDEX 0x1u
#define CAIRN_DOC_QUERY_VERSION 1
#define CAIRN_DOC_QUERY_INIT { CAIRN_DOC_QUERY_VERSION, NULL, NULL, 0, 0, 0, NULL, NULL, 0, 0, 0 }

/** What a query did (cairn_doc_find()'s out_plan). */
typedef struct cairn_doc_plan {
    char index[128];       /**< the index used, "" for a scan of the collection */
    char how[64];          /**< "scan", "eq", "in", "range", "prefix", "text" or "sort" */
    int sorted_by_index;   /**< the index gave the order (else sorted in memory, or none) */
    int sorted_in_memory;
    uint64_t keys_examined;/**< index entries read */
    uint64_t docs_examined;/**< documents read and tested */
    uint64_t returned;
} cairn_doc_plan;

/** Runs a query, calling cb for each result in order (results stream; only a sort that no index
 *  gives collects the matches, within max_sort_bytes).
 *  @param[out] out_plan  may be NULL; filled on success
 *  @return CAIRN_OK; cb's non-zero value; CAIRN_EINVAL (bad filter, sort, cursor, projection,
 *          or the sort over its memory bound); CAIRN_EAUTH (CAIRN_COLL_VERIFY_SIG: a result's
 *          signature does not pass, checked before it is handed over); CAIRN_ECORRUPT;
 *          CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_find(cairn_doc_plan *out_plan, cairn_coll *coll,
                             const cairn_snapshot *snap, const cairn_doc_query *query,
                             cairn_doc_fn cb, void *payload);

/** Counts the documents a filter (JSON text, NULL: all) matches.
 *  @return as cairn_doc_find(). */
CAIRN_API int cairn_doc_count(uint64_t *out, cairn_coll *coll, const cairn_snapshot *snap,
                              const char *filter);

/** Checks a filter's syntax without a collection ($text is accepted without its index).
 *  @return CAIRN_OK; CAIRN_EINVAL naming the problem and its path; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_filter_check(const char *filter, size_t len);

/* ---- indexes ---- */

typedef enum cairn_index_flag {
    CAIRN_INDEX_UNIQUE = 0x1u, /**< no two documents with the same values (missing fields are
                                    not values: any number of documents may lack them) */
    CAIRN_INDEX_TEXT = 0x2u    /**< a text index on one string field: lower-cased tokens,
                                    each with its documents' ids in posting blocks */
} cairn_index_flag;

/** Creates an index on fields (paths) and fills it from the existing documents, in one atomic
 *  batch. Its name is the fields joined by ',' (a text index: "text:" + the field).
 *  @return CAIRN_OK; CAIRN_EEXIST (an index of that name); CAIRN_ECONFLICT (UNIQUE and two
 *          documents share values: the message names both); CAIRN_EINVAL (bad field, more than
 *          CAIRN_DOC_INDEX_FIELDS_MAX, TEXT with several fields or with UNIQUE, a second text
 *          index); CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_index_create(cairn_coll *coll, const char *const *fields, size_t n,
                                     unsigned flags);

/** Drops index name (its catalog row, then its table).
 *  @return CAIRN_OK; CAIRN_ENOTFOUND; CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_index_drop(cairn_coll *coll, const char *name);

/** One index, for cairn_doc_index_list(); strings borrowed, valid during the callback. */
typedef struct cairn_index_info {
    const char *name;
    const char *const *fields;
    size_t nfields;
    unsigned flags;            /**< cairn_index_flag values */
    int multikey;              /**< some document had an array on an indexed path */
} cairn_index_info;

/** Calls cb for each index of the collection as of snap, in name order.
 *  @return CAIRN_OK, cb's non-zero value, or an error. */
CAIRN_API int cairn_doc_index_list(cairn_coll *coll, const cairn_snapshot *snap,
                                   int (*cb)(const cairn_index_info *info, void *payload),
                                   void *payload);

/** What cairn_doc_check() found. */
typedef struct cairn_doc_check_stats {
    uint64_t documents;      /**< documents read */
    uint64_t entries;        /**< index entries the documents give (all indexes) */
    uint64_t problems;       /**< disagreements found (cairn_doc_check_each(), cairn_doc_verify()) */
} cairn_doc_check_stats;

/** Checks, as of snap, that every index of the collection holds exactly the entries its
 *  documents give (each one present and naming its document, none besides), and that every
 *  document is a JSON object whose _id is its key. Reads every document and index entry.
 *  @param[out] out  may be NULL; filled when the check ran to the end
 *  @return CAIRN_OK; CAIRN_ECORRUPT naming the index and the first document (or the number of
 *          entries no document gives) that disagree; CAIRN_ENOTFOUND; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_check(cairn_doc_check_stats *out, cairn_coll *coll,
                              const cairn_snapshot *snap);

/** One disagreement between a collection and its indexes. Borrowed during the callback. */
typedef struct cairn_doc_problem {
    const char *collection;
    const char *index;       /**< the index concerned; "" when it is the document itself */
    const char *id;          /**< the document concerned; NULL when no one document is (an
                                  index holding more entries than its documents give, none of
                                  them found wrong) */
    const char *state;       /**< cairn_doc_verify(): "working state" or "HEAD"; else NULL */
    const char *message;     /**< names the collection, the index and the document */
} cairn_doc_problem;

/** Receives one problem. May read through cairn. @return 0 to go on; anything else stops the
 *  check and is returned. */
typedef int (*cairn_doc_problem_fn)(const cairn_doc_problem *p, void *payload);

/** cairn_doc_check() that goes on past the first disagreement and reports each to cb: a document
 *  that is not a JSON object or whose _id is not its key, a key of a document missing from an
 *  index or naming another document, an index entry naming a document that does not exist or
 *  does not give that key (checked when an index's entries and its documents' disagree).
 *  @param[out] out  may be NULL; filled when the check ran to the end (out->problems)
 *  @return CAIRN_OK (whatever was found); cb's non-zero value; CAIRN_ENOTFOUND; CAIRN_EIO;
 *          CAIRN_ECORRUPT (a chunk that cannot be read); CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_check_each(cairn_doc_check_stats *out, cairn_coll *coll,
                                   const cairn_snapshot *snap, cairn_doc_problem_fn cb,
                                   void *payload);

/** What cairn_doc_verify() checked. */
typedef struct cairn_doc_verify_stats {
    uint64_t collections;    /**< collection versions checked (a collection whose documents and
                                  indexes are the same at HEAD as in the working state once) */
    uint64_t documents;      /**< documents read, over all of them */
    uint64_t entries;        /**< index entries checked */
    uint64_t problems;       /**< problems reported */
} cairn_doc_verify_stats;

/** Runs cairn_doc_check_each() on every collection of the working state and of HEAD (when
 *  there is a commit, and the collection's tables differ there), the part of `cairn verify`
 *  that the repository layer below cannot do.
 *  @param[out] out  may be NULL; filled when the walk ran to the end
 *  @return CAIRN_OK (out->problems says what was found); cb's non-zero value; as
 *          cairn_doc_check_each(). */
CAIRN_API int cairn_doc_verify(cairn_doc_verify_stats *out, cairn_db *db,
                               cairn_doc_problem_fn cb, void *payload);


/* ---- exports: a collection as plain files (docs/FORMAT.md, "Document exports") ----
 *
 * An export directory holds ID.json per document (the document, any JSON formatting: what
 * counts is its canonical form) and the manifest, a JSON file named "manifest" (no ".json", so
 * that no id's file can take its name; exports written before used "manifest.json", which then
 * is no document: readers take "manifest" when it is there, else "manifest.json"). It names the
 * collection, the
 * commit exported (or null for a working state), the collection's root hash, and, from format
 * 2 on, the SHA-256 of each document's canonical form. cairn_doc_manifest_* writes one;
 * cairn_doc_export_check_* checks a directory's documents against one with no repository: each
 * document's hash, none missing or extra, and the root rebuilt from the documents (the same
 * prolly tree, cut at the same boundaries, that the collection's table has). The caller reads
 * the files (so the library touches no file of the user's) and hands them over. */

#define CAIRN_DOC_MANIFEST_FILE "manifest"           /**< the manifest's name in an export */
#define CAIRN_DOC_MANIFEST_FILE_OLD "manifest.json" /**< its name in older exports */
#define CAIRN_DOC_EXPORT_FORMAT "cairn-doc-export 2" /**< what the manifest's "format" says */

typedef struct cairn_doc_manifest cairn_doc_manifest;

/** Starts a manifest of collection coll with root root, exported at commit (NULL: a working
 *  state). @param[out] out caller frees with cairn_doc_manifest_free()
 *  @return CAIRN_OK; CAIRN_EINVAL; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_manifest_new(cairn_doc_manifest **out, const char *coll,
                                     const cairn_id *root, const cairn_id *commit);

/** Records one document (its id and canonical JSON, as cairn_doc_find() gives it).
 *  @return CAIRN_OK; CAIRN_EEXIST (the id twice); CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_manifest_add(cairn_doc_manifest *m, const char *id, const char *doc,
                                     size_t len);

/** The manifest's text (pretty-printed JSON, NUL-terminated, ends in a newline).
 *  @param[out] out  caller frees with cairn_free()
 *  @return CAIRN_OK; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_manifest_text(char **out, const cairn_doc_manifest *m);

CAIRN_API void cairn_doc_manifest_free(cairn_doc_manifest *m); /**< Accepts NULL. */

/** What is wrong with an export. */
typedef enum cairn_doc_export_damage {
    CAIRN_EXPORT_CHANGED = 1,    /**< a file's document differs from what the manifest holds */
    CAIRN_EXPORT_MISSING = 2,    /**< the manifest names a document that has no file */
    CAIRN_EXPORT_EXTRA = 3,      /**< a file the manifest does not name */
    CAIRN_EXPORT_UNREADABLE = 4, /**< a file that is not a JSON object whose _id is its name */
    CAIRN_EXPORT_ROOT = 5        /**< the documents do not make the manifest's root */
} cairn_doc_export_damage;

/** One problem, borrowed during the callback. */
typedef struct cairn_doc_export_problem {
    cairn_doc_export_damage damage;
    const char *id;          /**< the document concerned; NULL for ROOT */
    const char *message;     /**< what is wrong, naming the file */
} cairn_doc_export_problem;

/** Receives a problem. @return 0 to go on; anything else stops the check and is returned. */
typedef int (*cairn_doc_export_problem_fn)(const cairn_doc_export_problem *p, void *payload);

typedef struct cairn_doc_export_check cairn_doc_export_check;

/** What a finished check found. Strings borrowed from the check, valid until it is freed. */
typedef struct cairn_doc_export_result {
    int format;              /**< the manifest's format version (1 or 2) */
    bool per_document;       /**< the manifest has per-document hashes (format 2): files are
                                  checked one by one; format 1: only together, by the root */
    const char *collection;
    bool has_commit;         /**< the manifest names the commit exported */
    cairn_id commit;
    cairn_id manifest_root;  /**< the root the manifest records */
    cairn_id root;           /**< the root the documents make */
    uint64_t documents;      /**< files checked */
    uint64_t problems;       /**< problems reported */
} cairn_doc_export_result;

/** Starts checking an export against its manifest (its text).
 *  @param[out] out  caller frees with cairn_doc_export_check_free()
 *  @param[in]  cb   receives each problem found by _add and _finish (may be NULL)
 *  @return CAIRN_OK; CAIRN_ECORRUPT (the manifest is damaged: not JSON, an unknown format, a
 *          member missing or malformed; the message says which); CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_export_check_new(cairn_doc_export_check **out, const char *manifest,
                                         size_t len, cairn_doc_export_problem_fn cb,
                                         void *payload);

/** Checks one file's document: id is its name without ".json", text its contents. Files must
 *  come in increasing byte order of their ids (the order of the collection's keys).
 *  @return CAIRN_OK (problems go to the callback); cb's value; CAIRN_EINVAL (out of order);
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_export_check_add(cairn_doc_export_check *x, const char *id,
                                         const char *text, size_t len);

/** Reports the documents the manifest names that were not added and compares the root.
 *  @return CAIRN_OK (out filled, out->problems says whether the export is sound); cb's value;
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_export_check_finish(cairn_doc_export_result *out,
                                            cairn_doc_export_check *x);

CAIRN_API void cairn_doc_export_check_free(cairn_doc_export_check *x); /**< Accepts NULL. */

/* ---- history ---- */

/** One version of a document, from cairn_doc_history(). Borrowed during the callback. */
typedef struct cairn_doc_version {
    cairn_id commit;      /**< the commit that made this version */
    const char *author;   /**< its author, "Name <email>" */
    int64_t time;         /**< its author time, nanoseconds since the Unix epoch, UTC */
    const char *message;  /**< its message */
    const char *doc;      /**< the document as of that commit (canonical JSON, NUL-terminated);
                               NULL: the commit deleted it */
    size_t len;
    const char *patch;    /**< the change from the version before, as a JSON Merge Patch
                               (RFC 7386; the whole document for the first version, "null" for
                               a deletion), NUL-terminated */
    size_t patch_len;
    bool created;         /**< no version before it (created, or created again after a
                               deletion) */
    int64_t pruned_time;  /**< 0, except on the oldest version listed when retention removed the
                               history before it (cairn_doc_retention_set()): when gc did, in
                               nanoseconds since the epoch. That version is then the oldest
                               kept, attributed to the oldest kept commit holding it, and its
                               patch is the whole document (created is false) */
} cairn_doc_version;

/** Receives one version. @return 0 to go on; anything else stops and is returned. */
typedef int (*cairn_doc_version_fn)(const cairn_doc_version *v, void *payload);

/** Lists the versions of document id in the commits rev (NULL: "HEAD") reaches, newest first
 *  (stopping where retention removed the collection's older versions; see pruned_time):
 *  each commit (in cairn_log()'s order) whose value of the document differs from the value at
 *  the commit after it in that order, the oldest compared with "no document". Uncommitted
 *  changes are not history. A document deleted and gone from the current state is found here
 *  as long as the commits that held it are kept. coll must belong to db.
 *  @return CAIRN_OK (also when the document never existed: no call); cb's value; the errors of
 *          cairn_log(); CAIRN_ECORRUPT; CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_history(cairn_db *db, cairn_coll *coll, const char *rev, const char *id,
                                cairn_doc_version_fn cb, void *payload);

/** Brings back document id as it was at rev: writes that value (metadata fields aside) as the
 *  document's next version (like cairn_doc_upsert(), so a deleted document comes back too, with
 *  _v 1). opts->if_version applies to the current document.
 *  @return as cairn_doc_upsert(); CAIRN_ENOTFOUND (the document did not exist at rev, no such
 *          revision, or retention removed the collection's version at rev: the message says
 *          which, and when). */
CAIRN_API int cairn_doc_restore(char **out_doc, cairn_db *db, cairn_coll *coll, const char *id,
                                const char *rev, const cairn_doc_write_options *opts);

/** Makes a self-contained proof that document id has its value (or is absent) in the
 *  collection, as of snap (refused with CAIRN_ENOTFOUND when retention removed the collection's
 *  version at snap's commit: there is nothing left to prove it from): a proof of key id in the
 *  collection's table (docs/FORMAT.md
 *  "Proofs"), which cairn_proof_verify() checks with no repository; its result names the table
 *  "cairn_doc.COLL" and the value is the document's stored form (cairn_doc_decode() gives its
 *  canonical JSON). Anchored as cairn_prove()
 *  anchors: at the commit of a snapshot opened at a commit (signed, when the commit is), else at
 *  the catalog root.
 *  @return as cairn_prove(); CAIRN_EINVAL (a bad id). */
CAIRN_API int cairn_doc_prove(void **out_proof, size_t *out_len, cairn_coll *coll,
                              const cairn_snapshot *snap, const char *id);

/** Rewrites, in one atomic batch, the documents of the collection that its table holds as
 *  canonical text (written before the packed form, docs/FORMAT.md "Stored documents") into
 *  the packed form. No document changes: each reads back byte for byte the same (a text that
 *  would not is left as it is), so no version, _v or _ts moves and history shows nothing; the
 *  table gets smaller, and an export of it is checked by its root again. Commit to keep it.
 *  @param[out] out_packed  how many documents were rewritten (may be NULL)
 *  @return CAIRN_OK; CAIRN_EIO; CAIRN_ECORRUPT; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_repack(uint64_t *out_packed, cairn_coll *coll);

/** The document that a value of a collection's table stands for (a proof's value, say): its
 *  canonical JSON with _id, _v, _ts and _hash, from the stored form (docs/FORMAT.md, "Stored
 *  documents"); id is the value's key. Needs no repository.
 *  @param[out] out  NUL-terminated; caller frees with cairn_free()
 *  @return CAIRN_OK; CAIRN_ECORRUPT (not a stored document); CAIRN_EINVAL; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_decode(char **out, size_t *out_len, const void *value, size_t len,
                               const char *id, size_t idlen);

/* ---- retention ----
 * A collection may say how long its old versions are kept. The policy is a row of the table
 * "cairn_dret.COLL" (CAIRN_DOC_RETENTION_PREFIX), so it versions with commits like the data;
 * gc applies the policy of the state it runs on (the db's branch), and a legal hold set in the
 * state of any branch. cairn_doc_gc() is the gc that honours policies (cairn_gc() keeps every
 * version): it lets go of the collection's table versions (documents and indexes) that only
 * commits outside the window hold. The commits themselves stay (signed, hash-chained), and so
 * does everything else: other tables, the working state, every branch and tag head, every
 * version a process pins, and commits off every branch's first-parent line (merged side
 * branches, commits only a reflog names). What was let go is recorded (ref
 * "retention/pruned", docs/FORMAT.md) before anything is deleted, so that verify, history and
 * reads at an old revision say "removed by retention" rather than "missing". Nothing brings it
 * back: a longer window later keeps more from then on, not what is gone. */

#define CAIRN_DOC_RETENTION_PREFIX "cairn_dret." /**< a collection's policy table: this + COLL */

/** What a policy keeps. */
typedef enum cairn_retention_kind {
    CAIRN_RETAIN_ALL = 0,      /**< every version (no policy) */
    CAIRN_RETAIN_DAYS = 1,     /**< versions held by commits of the last n days, and the state
                                    in force n days ago (the newest commit at or before then) */
    CAIRN_RETAIN_VERSIONS = 2  /**< the last n versions of every document: the commits from a
                                    branch's head back to the newest one holding some document's
                                    n-th latest version (a deletion counts as a version) */
} cairn_retention_kind;

/** A collection's retention policy. */
typedef struct cairn_doc_retention {
    unsigned kind;           /**< cairn_retention_kind */
    uint32_t n;              /**< days or versions, 1..CAIRN_DOC_RETENTION_MAX */
    bool legal_hold;         /**< keep everything whatever kind says (the policy stays, to apply
                                  again when the hold is lifted) */
} cairn_doc_retention;

#define CAIRN_DOC_RETENTION_MAX 1000000u /**< most days or versions a policy may name */

/** The collection's policy as of snap (NULL = the current state); no policy: kind
 *  CAIRN_RETAIN_ALL, no hold.
 *  @return CAIRN_OK; CAIRN_ECORRUPT (a malformed policy row); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_retention_get(cairn_doc_retention *out, cairn_coll *coll,
                                      const cairn_snapshot *snap);

/** Sets the collection's policy in the working state (commit to version it).
 *  @return CAIRN_OK; CAIRN_EINVAL (unknown kind, n out of range, n given with
 *          CAIRN_RETAIN_ALL); CAIRN_EREADONLY; CAIRN_EIO; CAIRN_ENOSPC; CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_retention_set(cairn_coll *coll, const cairn_doc_retention *policy);

/** cairn_gc() that also lets go of what the collections' retention policies allow (see above);
 *  out->versions_pruned counts the (commit, table) versions it let go. A --days window counts
 *  back from now.
 *  @return as cairn_gc(). */
CAIRN_API int cairn_doc_gc(cairn_gc_stats *out, cairn_db *db, const cairn_gc_options *opts);

/** What retention let go of one collection, from cairn_doc_retention_pruned(). Borrowed. */
typedef struct cairn_doc_pruned {
    const char *coll;        /**< the collection's name */
    uint64_t versions;       /**< commits whose version of the collection was let go */
    int64_t first_ns, last_ns; /**< when gc first and last let some go (ns since the epoch) */
} cairn_doc_pruned;

/** Receives one collection's summary. @return 0 to go on; else stops and is returned. */
typedef int (*cairn_doc_pruned_fn)(const cairn_doc_pruned *p, void *payload);

/** Calls cb for each collection retention let go of versions of, in name order.
 *  @return CAIRN_OK, cb's value, CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM. */
CAIRN_API int cairn_doc_retention_pruned(cairn_db *db, cairn_doc_pruned_fn cb, void *payload);

/** Whether retention let go of the collection's version at snap's commit.
 *  @param[out] out_when_ns  when it did (may be NULL)
 *  @return CAIRN_OK (let go: reads of the collection at snap fail); CAIRN_ENOTFOUND (kept, or
 *          snap is not at a commit), without a message; CAIRN_ECORRUPT; CAIRN_EIO. */
CAIRN_API int cairn_doc_pruned_at(int64_t *out_when_ns, cairn_coll *coll,
                                  const cairn_snapshot *snap);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_DOC_H */
