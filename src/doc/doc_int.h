/*
 * doc_int.h - what the files of the document layer share: the value encoding that orders every
 * JSON value (value.c), paths (value.c), filters (filter.c), index definitions and the
 * collection handle (coll.c), the query runner (find.c), signatures (sig.c) and the index check
 * (check.c).
 *
 * One encoding decides every comparison: a value's sort encoding (docs/FORMAT.md, "Document
 * values") is a sequence of tuple elements whose byte order is the documented order of values.
 * Filters compare encodings, index keys are encodings, sorts compare encodings: so an index scan
 * and a full scan can never disagree on what is "greater".
 */
#ifndef CAIRN_DOC_INT_H
#define CAIRN_DOC_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"
#include "cairn/doc.h"
#include "doc/canon.h"

/* ---- values (value.c) ---- */

/* Type ranks: the first element of every value's encoding. */
enum dv_rank {
    DV_MISSING = 0,
    DV_NULL = 1,
    DV_BOOL = 2,
    DV_NUMBER = 3,
    DV_STRING = 4,
    DV_ARRAY = 5,
    DV_OBJECT = 6,
};

/** The rank of a value (NULL: missing). */
int dv_rank(const json_t *v);

/** Appends the sort encoding of v (NULL: missing) to out. @return CAIRN_OK or CAIRN_ENOMEM. */
int dv_encode(cairn_buf *out, const json_t *v);

/** Appends the encoding of a bare rank: a lower bound of every value of that rank. */
int dv_encode_rank(cairn_buf *out, int rank);

/** A parsed path: names split at '.'. */
#define DV_PATH_MAX_SEGS 32
typedef struct dv_path {
    char *text;                 /* the path as given (owned) */
    char *buf;                  /* the segments, NUL-separated (owned) */
    const char *seg[DV_PATH_MAX_SEGS];
    size_t nseg;
} dv_path;

/** Parses a path: 1..DV_PATH_MAX_SEGS non-empty names joined by '.'; what names the caller in
 *  messages. @return CAIRN_OK; CAIRN_EINVAL; CAIRN_ENOMEM. */
int dv_path_parse(dv_path *out, const char *text, const char *what);
void dv_path_dispose(dv_path *p);

/** Calls cb for every value at path p in doc: through objects by name; through an array, a
 *  number picks an element and any name applies to each element that is an object; a value
 *  reached that is an array is given as a whole and then element by element. *through_array is
 *  set when an array was met (the index is then multikey). @return CAIRN_OK or cb's status. */
typedef int (*dv_value_fn)(const json_t *v, void *payload);
int dv_each(const json_t *doc, const dv_path *p, bool *through_array, dv_value_fn cb,
            void *payload);

/** The value path p names directly (names through objects, numbers through arrays; no fan
 *  out), or NULL. Used by sorts and projections. */
const json_t *dv_direct(const json_t *doc, const dv_path *p);

/** Splits s into text-index tokens (runs of letters: ASCII letters lower-cased, and every byte
 *  of a multi-byte UTF-8 character; each cut at DV_TOKEN_MAX bytes), calling cb(token, len). */
#define DV_TOKEN_MAX 64
typedef int (*dv_token_fn)(const char *tok, size_t len, void *payload);
int dv_tokens(const char *s, size_t n, dv_token_fn cb, void *payload);

/* ---- filters (filter.c) ---- */

typedef struct dv_filter dv_filter;

/** Parses a filter (JSON text or a parsed object). text_path: the field of the collection's
 *  text index, or NULL ($text is then refused unless check_only). Caller frees with
 *  dv_filter_free(). */
int dv_filter_parse(dv_filter **out, const char *text, size_t len, const char *text_path,
                    bool check_only);
void dv_filter_free(dv_filter *f);

/** Whether doc matches. @return 1, 0, or CAIRN_ENOMEM. */
int dv_filter_match(const dv_filter *f, const json_t *doc);

/* What the planner may use from the top-level conjunction of a filter. */
typedef enum dv_cond_kind {
    DV_COND_EQ,     /* values: one encoding */
    DV_COND_IN,     /* values: several encodings, sorted and unique */
    DV_COND_RANGE,  /* lo/hi bounds (encodings) within one rank */
    DV_COND_PREFIX, /* lo: the prefix bytes of a string's encoding */
    DV_COND_TEXT,   /* tokens */
} dv_cond_kind;

typedef struct dv_bound {
    cairn_buf enc;
    bool inclusive;
} dv_bound;

typedef struct dv_cond {
    dv_cond_kind kind;
    const char *path;       /* borrowed from the filter */
    cairn_buf *vals;        /* EQ, IN: encodings; TEXT: tokens */
    size_t nvals;
    dv_bound lo, hi;        /* RANGE; PREFIX uses lo.enc */
    bool two_sided;         /* RANGE: bounds from two operators: an array value may meet each
                               with another element, so a multikey index cannot use both */
    const void *node;       /* the filter node it comes from (an identity, for covering) */
    bool whole;             /* the condition alone says all its node says (EQ, IN on scalar
                               operands; RANGE from every operator of the node; TEXT) */
} dv_cond;

/** The indexable conditions of the filter's top-level conjunction (borrowed from f, valid
 *  while f lives). */
void dv_filter_conds(const dv_cond **out, size_t *n, const dv_filter *f);

/** Calls cb with the path of every condition of f (fields and $text), at any depth.
 *  @return CAIRN_OK or cb's status. */
int dv_filter_paths(const dv_filter *f, int (*cb)(const dv_path *p, void *payload),
                    void *payload);

/** Whether the conditions used[0..n) (from dv_filter_conds of f), each applied exactly by an
 *  index scan over an index that is not multikey (a text index: every token intersected), say
 *  everything f says: f is a conjunction of their nodes. A NULL f is covered. Then the documents
 *  the scan finds need no test. */
bool dv_filter_covered(const dv_filter *f, const dv_cond *const *used, size_t n);

/* ---- index definitions and the collection handle (coll.c) ---- */

typedef struct dv_index {
    char *name;
    dv_path fields[CAIRN_DOC_INDEX_FIELDS_MAX];
    size_t nfields;
    unsigned flags;          /* cairn_index_flag, and DV_INDEX_POSTINGS */
    bool multikey;
} dv_index;

/* Catalog flag: a text index kept as posting blocks (doc/post.h). A text index without it
 * (made before them) holds one entry per word and document, and is read and kept so. */
#define DV_INDEX_POSTINGS 0x4u
#define DV_INDEX_PUBLIC_FLAGS (CAIRN_INDEX_UNIQUE | CAIRN_INDEX_TEXT)

/** Tests: creates a text index on field as versions before posting blocks made them (one
 *  entry per word and document), to show that such indexes are still read and kept. */
int dv_text_index_create_per_pair(cairn_coll *coll, const char *field);

/** Whether ix keeps posting blocks. */
static inline bool dv_postings(const dv_index *ix)
{
    return (ix->flags & DV_INDEX_POSTINGS) != 0;
}

typedef struct dv_catalog {
    dv_index *idx;
    size_t n;
    cairn_buf raw;           /* the catalog rows it was decoded from (see catalog_read) */
    size_t refs;             /* dv_catalog_get(): holders, the handle's cache among them */
} dv_catalog;

void dv_catalog_dispose(dv_catalog *c);
/** Loads the collection's index definitions as of snap (NULL: the current state), owned by
 *  the caller (dv_catalog_dispose()). */
int dv_catalog_load(dv_catalog *out, cairn_coll *coll, const cairn_snapshot *snap);
/** The same, shared and read-only: the handle keeps the last catalog it decoded and hands it
 *  out again while the catalog's rows (read on every call: a few bytes) are byte for byte the
 *  ones it was decoded from. So a create, a drop, an index becoming multikey, another process's
 *  write seen through a refresh, a checkout or a reset is seen by the next call, and a write
 *  does not parse the catalog again. Release with dv_catalog_put(). @return CAIRN_OK,
 *  CAIRN_ENOMEM, CAIRN_ECORRUPT, CAIRN_EIO. */
int dv_catalog_get(const dv_catalog **out, cairn_coll *coll, const cairn_snapshot *snap);
void dv_catalog_put(cairn_coll *coll, const dv_catalog *cat);
/** The text index of a catalog, or NULL. */
const dv_index *dv_catalog_text(const dv_catalog *c);

/** Checks a document id (docs/FORMAT.md, "Documents"). @return CAIRN_OK or CAIRN_EINVAL. */
int dv_id_check(const char *id, size_t n);

/** Opens index ix's table for reading as of snap (by name only). */
int dv_index_table(cairn_table **out, cairn_coll *coll, const dv_index *ix);

/** The keys of doc (id: its _id) in index ix, sorted and unique, appended to *keys (each a
 *  cairn_buf). *multikey is set when an array was met on an indexed path. */
typedef struct dv_key {
    cairn_buf key;           /* the field values' encodings, then the id as a tuple string
                                (a text index of posting blocks: the word alone, no id) */
    size_t vlen;             /* bytes of the values part (the key without the id) */
    bool missing;            /* some field is missing (such keys are not unique-checked) */
} dv_key;
typedef struct dv_keys {
    dv_key *k;
    size_t n, cap;
    size_t held;             /* k[n..held) keep their buffers for reuse (after dv_keys_reset) */
} dv_keys;
void dv_keys_dispose(dv_keys *k);
/** Empties k, keeping its memory for the next keys (a write reuses them document after
 *  document). */
void dv_keys_reset(dv_keys *k);
int dv_index_keys(dv_keys *out, bool *multikey, const dv_index *ix, const json_t *doc,
                  const char *id);

struct cairn_coll {
    cairn_db *db;
    char *name;
    cairn_table *docs;       /* "cairn_doc.NAME" */
    pthread_mutex_t lock;    /* serialises this handle's writes */
    int64_t last_id_ns;      /* the time part of the last id generated (kept increasing) */
    unsigned flags;          /* cairn_coll_flag values it was opened with */
    pthread_mutex_t cat_lock;/* guards cat and every shared catalog's refs */
    dv_catalog *cat;         /* the last catalog decoded (dv_catalog_get), or NULL */
    struct dv_batch *_Atomic spare; /* find.c: a query's batch memory, kept for the next
                                       query (taken by one query at a time) */
};

/** How many documents of bulk b applied so far took the one-pass path (coll.c; the rest took
 *  jansson's); after cairn_doc_bulk_commit(), of them all. */
size_t dv_bulk_one_pass(const cairn_doc_bulk *b);
/** Tests: bulk b starts its workers after pipe_from documents (0: with the first; SIZE_MAX:
 *  never), with workers threads (0: one per processor, up to 4), and stamps every document
 *  with fixed_now_ns (0: the clock), so that two bulks of the same documents store the same
 *  bytes. Call before the first add. */
void dv_bulk_tune(cairn_doc_bulk *b, size_t pipe_from, size_t workers, int64_t fixed_now_ns);
/** Tests: the bytes the bulk's slots and parsers hold between documents (waits for the workers
 *  to prepare what was added). */
size_t dv_bulk_held(cairn_doc_bulk *b);
/** Frees the batch memory a handle keeps for its queries (find.c; at close). */
void dv_find_spare_free(cairn_coll *coll);

/* ---- document signatures (sig.c) ---- */

/** The repository's trusted keys, loaded once for a read that checks many documents. */
typedef struct dv_trust {
    bool loaded;
    size_t n, cap;
    uint8_t (*keys)[CAIRN_KEY_PUBLIC_SIZE];
} dv_trust;

void dv_trust_dispose(dv_trust *t);

/** Signs canon0 (the canonical form of doc without _hash and _sig) for collection coll and
 *  sets doc's _sig. @return CAIRN_OK, or the signer's error. */
int dv_sig_add(json_t *doc, const cairn_buf *canon0, cairn_signer *signer, const char *coll);

/** Grades the signature of doc (canonical JSON) of collection c; t caches the trusted keys. */
int dv_sig_grade(cairn_doc_sig_info *out, cairn_coll *c, dv_trust *t, const char *doc,
                 size_t len);

/** For a handle opened with CAIRN_COLL_VERIFY_SIG: CAIRN_OK when doc's signature is acceptable,
 *  else CAIRN_EAUTH naming the collection, id and key. Without the flag: CAIRN_OK. */
int dv_sig_require(cairn_coll *c, dv_trust *t, const char *id, const char *doc, size_t len);
/* ---- retention (retain.c) ---- */

/** Whether retention let go of the collection's version at commit: CAIRN_OK with *when (may be
 *  NULL), or CAIRN_ENOTFOUND without a message. */
int dv_pruned_lookup(int64_t *out_when_ns, cairn_coll *coll, const cairn_id *commit);
/** Sets the error that a read of that version meets (CAIRN_ENOTFOUND, naming the collection,
 *  the commit and when) and returns its code. doing: what was being done, for the message. */
int dv_pruned_error(cairn_coll *coll, const cairn_id *commit, int64_t when_ns, const char *doing);
/** CAIRN_OK, or (with that error set) the code dv_pruned_error() gives when retention let go of
 *  the collection's version at snap (NULL: the current state, never let go). */
int dv_pruned_refuse(cairn_coll *coll, const cairn_snapshot *snap, const char *doing);
/** "YYYY-MM-DDTHH:MM:SSZ" of a time in ns since the epoch into out. */
void dv_time_text(char *out, size_t size, int64_t ns);

/* ---- the stored form (stored.c; docs/FORMAT.md, "Stored documents") ---- */

#define DV_STORED_FORM 0x01  /* the first byte of a packed document (canonical text: '{') */

/** A stored document taken apart, pointing into the value. */
typedef struct dv_stored {
    const uint8_t *hash;     /* _hash: CAIRN_ID_SIZE bytes (NULL: the value is canonical text) */
    int64_t ts;              /* _ts: microseconds since 1970-01-01T00:00:00Z */
    uint64_t v;              /* _v */
    const char *body;        /* the other members, canonical JSON (the whole text when !hash) */
    size_t blen;
} dv_stored;

/** The stored form of a document given as its canonical text (with _hash, _id equal to id,
 *  _ts and _v as cairn writes them) into out: packed, or the text itself when its metadata is
 *  not so. A pure function of the text and the id. @return CAIRN_OK or CAIRN_ENOMEM. */
int dv_stored_pack(cairn_buf *out, const void *canon, size_t len, const char *id, size_t idlen);

/** Takes a stored value apart. @return 1 (packed), 0 (canonical text) or CAIRN_ECORRUPT
 *  (neither; no message). */
int dv_stored_split(dv_stored *out, const void *val, size_t len);

/** The canonical text of a stored document (id: its key) into out (replaced).
 *  @return CAIRN_OK; CAIRN_ECORRUPT (naming coll and id); CAIRN_ENOMEM. */
int dv_stored_expand(cairn_buf *out, const void *val, size_t len, const char *id, size_t idlen,
                     const char *coll);

/** Whether name is one of the members a packed document's head holds (_hash, _id, _ts, _v). */
bool dv_stored_is_meta(const char *name, size_t nlen);

/** The value of member name of a packed document s (id: its key) when it is one its head
 *  holds, else NULL (and NULL out of memory). */
json_t *dv_stored_meta(const dv_stored *s, const char *name, size_t nlen, const char *id);

/** dv_stored_expand() of a packed document already taken apart (s->hash set). */
int dv_stored_text(cairn_buf *out, const dv_stored *s, const char *id, size_t idlen,
                   const char *coll);

/** dv_stored_expand() into a new NUL-terminated string (free with cairn_free()); check: also
 *  parse it, refusing what is not a JSON object (text from outside the collection's writers). */
int dv_stored_cstr(char **out, size_t *out_len, const void *val, size_t len, const char *id,
                   size_t idlen, const char *coll, bool check);

/** Parses a stored document (either form) into a JSON object. */
int dv_doc_parse(json_t **out, const void *val, size_t len, const char *coll, const char *id);

#endif /* CAIRN_DOC_INT_H */
