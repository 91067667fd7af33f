/*
 * s3_int.h - what the files of the s3 store share. Private to src/store/s3*.c; the rest of the
 * engine sees only store.h (store_s3_open).
 *
 *   s3.c        open and close, the URL, the marker object, the conditional-write probe, the
 *               chunk methods and the vtable
 *   s3_http.c   HTTP: libcurl easy handles driven by curl multi (many requests in flight),
 *               SigV4 signing by libcurl, timeouts, retries with backoff and jitter, mapping
 *               HTTP and S3 results onto cairn's codes with messages
 *   s3_cred.c   credentials: the AWS_* environment variables or a profile in ~/.aws/credentials
 *   s3_log.c    the chunk index: pack objects and the numbered log of index objects that names
 *               what each pack holds and what was deleted (docs/FORMAT.md, "S3 store")
 *   s3_refs.c   refs: one object each, moved by conditional PUT
 *   s3_snap.c   snapshots of the index (snap/N: the log applied up to entry N), so that an
 *               open reads the newest snapshot and the entries after it, not the whole log
 *
 * Lock order: bg_mu, flush_mu, then mu. HTTP requests are made without mu held, except that a
 * flush holds flush_mu (one flush at a time per handle) while it uploads.
 */
#ifndef CAIRN_S3_INT_H
#define CAIRN_S3_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "store.h"

/* ---- object layout (docs/FORMAT.md, "S3 store: objects in a bucket") ---- */

#define S3_MARKER_OBJ "cairn-store"
/* format 2: the store may hold snap/ snapshots and have removed the log entries they cover;
 * builds that know only format 1 refuse it. Format 1 stores are read, and moved to format 2
 * by the first writer's open. */
#define S3_MARKER_TEXT "cairn s3 store\nformat 2\n"
#define S3_MARKER_TEXT_V1 "cairn s3 store\nformat 1\n"
#define S3_PACK_DIR "packs/"
#define S3_LOG_DIR "log/"
#define S3_REF_DIR "refs/"
#define S3_PROBE_DIR "probe/"
#define S3_SNAP_DIR "snap/"
#define S3_SEQ_DIGITS 20

#define S3_PACK_MAGIC "CAIRNS3P"
#define S3_LOG_MAGIC "CAIRNS3L"
#define S3_REF_MAGIC "CAIRNS3R"
#define S3_SNAP_MAGIC "CAIRNS3S"
#define S3_MAGIC_SIZE 8
#define S3_FORMAT_VERSION 1
#define S3_PACK_HEADER_SIZE 16   /* magic, u32 version, u32 zero */
#define S3_LOG_HEADER_SIZE 28    /* magic, version, flags, npacks, ndel, nadd */
#define S3_LOG_ADD_SIZE 56       /* key, u32 pack, u64 offset, u32 len, u64 check */
#define S3_LOG_PACK_FIXED 10     /* u16 name length, u64 pack size (and the name between) */
#define S3_CHECK_SIZE 8          /* u64 XXH3 trailer */
#define S3_REF_HEADER_SIZE 24    /* magic, u8 state, 3 zero, u32 len, u64 nonce */
#define S3_SNAP_HEADER_SIZE 32   /* magic, u32 version, u32 npacks, u64 seq, u64 nchunks */
#define S3_LOG_BASE 0x1u         /* flag: this entry holds the whole index; ignore those before */
#define S3_LOG_DEL_PACK 0x2u     /* flag: each deletion names the pack it applies to (gc) */
#define S3_LOG_DEL_PACK_SIZE 36  /* with it: key, u32 index into the entry's packs */
#define S3_FORMAT_VERSION_DEL_PACK 2 /* the version of an entry with S3_LOG_DEL_PACK */
#define S3_REF_VALUE 1
#define S3_REF_DELETED 0

/* ---- settings (URL query parameters) and their defaults ---- */

#define S3_TIMEOUT_MS_DEFAULT 30000u
#define S3_CONNECT_TIMEOUT_MS_DEFAULT 5000u
#define S3_RETRIES_DEFAULT 6u
#define S3_PARALLEL_DEFAULT 16u
#define S3_PACK_TARGET_DEFAULT (16ull << 20)
#define S3_ASYNC_PACKS 2u            /* the write buffer starts flushing itself in the
                                        background at this many packs ... */
#define S3_FLUSH_PACKS 4u            /* ... and waits for that flush at this many */
#define S3_BUDGET_PACKS 4u           /* the write buffer and the batch a flush uploads hold at
                                        most this many pack sizes together: a put past it waits
                                        for that flush to end (s3.c, over_budget) */
#define S3_PACK_TARGET_MIN (64ull << 10)
#define S3_PACK_TARGET_MAX (1ull << 30)
#define S3_BACKOFF_BASE_MS 50.0
#define S3_BACKOFF_CAP_MS 2000.0
#define S3_LIST_PAGE 1000
#define S3_SNAP_EVERY_DEFAULT 100u   /* a snapshot once this many entries follow the last one */
#define S3_SNAP_EVERY_MAX 1000000u
#define S3_PACK_AGE_MAX 20.0         /* seconds: the oldest pack an entry may name (counted
                                        from the start of its upload); gc's grace must exceed
                                        it plus timeout_ms (docs/ARCHITECTURE.md) */

#define S3_PENDING UINT32_MAX        /* s3_loc.pack: in s3_store.pend's buffer */
#define S3_FLUSHING (UINT32_MAX - 1) /* s3_loc.pack: in s3_store.flushing's buffer */
#define S3_GONE (UINT32_MAX - 2)     /* s3_loc.pack: a hole of the index's sorted array */
#define S3_FREE (UINT32_MAX - 3)     /* s3_loc.pack: an empty slot of the index's recent */

/* ---- HTTP (s3_http.c) ---- */

typedef struct s3_conf {
    char *endpoint;        /* "http://127.0.0.1:7480", no trailing '/' */
    char *region;
    char *bucket;
    char *prefix;          /* "" or "some/prefix/" (always ends in '/') */
    char *access_key, *secret_key, *session_token;
    char *url;             /* the store's URL as given, for messages */
    unsigned timeout_ms, connect_timeout_ms, retries, parallel;
    uint64_t pack_target;
    unsigned snap_every;   /* snapshot_every: entries between snapshots; 0: never write one */
} s3_conf;

/* One request. The caller fills the first group, s3_http_run fills the second. */
typedef struct s3_req {
    const char *method;     /* "GET", "PUT", "DELETE", "HEAD" */
    char *obj;              /* object name below the bucket, unencoded ("p/packs/x.pack");
                               NULL: the bucket itself; owned by the request */
    char *query;            /* NULL or an already-encoded, sorted query string; owned */
    const uint8_t *body;    /* PUT body (borrowed) */
    size_t body_len;
    bool range;             /* GET bytes [off, off + len) */
    uint64_t off, len;
    bool if_none_match;     /* If-None-Match: * */
    const char *if_match;   /* If-Match: this value, sent as given (borrowed) */
    size_t tag;             /* the caller's */

    long status;            /* HTTP status of the last attempt; 0: no response */
    int curl_rc;            /* CURLcode of the last attempt */
    cairn_buf resp;         /* response body */
    char etag[80];          /* the ETag header as the server sent it (quotes kept) */
    char err[256];          /* curl's error text */
    unsigned attempts;
    double elapsed_ms;
    /* internal */
    double deadline, retry_at;
} s3_req;

typedef struct s3_http s3_http;

int s3_http_new(s3_http **out, const s3_conf *conf);
void s3_http_free(s3_http *h);
/** Runs reqs[0..n-1], up to conf->parallel at once, each retried on 5xx, 429, 409
 *  ConditionalRequestConflict, timeouts and connection failures with exponential backoff and
 *  jitter, within its own deadline (timeout_ms from its first attempt). Never fails as a whole
 *  except for CAIRN_ENOMEM: each request's outcome is in its fields (see s3_req_rc). */
int s3_http_run(s3_http *h, s3_req *reqs, size_t n);
/** Test hook: send no If-None-Match / If-Match headers (a server that ignores them). */
void s3_http_drop_conditions(s3_http *h, bool on);
/** Counters: requests sent (every attempt), bytes sent and received (bodies). */
void s3_http_counters(s3_http *h, uint64_t *requests, uint64_t *up, uint64_t *down);

/** The outcome of a request as a cairn code, with a message naming the object, the bucket and
 *  the endpoint: 2xx (206 for a range) CAIRN_OK; 404 CAIRN_ENOTFOUND (a missing bucket says so
 *  and how to create it); 412 CAIRN_ECONFLICT; 403 CAIRN_EAUTH naming the access key id; no
 *  response CAIRN_EIO naming the endpoint (and the timeout, when it ran out); else CAIRN_EIO. */
int s3_req_rc(const s3_conf *c, const s3_req *r);
/** The S3 error code (<Code>) of a failed request's body into out ("" when none). */
void s3_req_code(const s3_req *r, char *out, size_t size);
/** Resets a request for reuse, keeping its response buffer's memory. */
void s3_req_reset(s3_req *r);
void s3_req_dispose(s3_req *r);
/** Runs one request and returns s3_req_rc. */
int s3_http_one(s3_http *h, const s3_conf *c, s3_req *r);

/* ---- credentials (s3_cred.c) ---- */

/** Fills the keys of c: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else
 *  the profile AWS_PROFILE (or "default") of $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
 *  @return CAIRN_OK; CAIRN_EAUTH (none found: the message says where it looked); ENOMEM. */
int s3_cred_load(s3_conf *c);

/* ---- the store ---- */

/* Where a chunk is: a pack of s3_store.packs (or S3_PENDING: the write buffer) and a range. */
typedef struct s3_loc {
    cairn_id key;
    uint32_t pack;
    uint32_t len;
    uint64_t off;
    uint64_t check;         /* XXH3 of the chunk's bytes */
} s3_loc;

/* A pack object the log names. */
typedef struct s3_pack {
    char *name;             /* below the prefix: "packs/<32 hex>.pack" */
    uint64_t size;          /* bytes of the object */
} s3_pack;

/* The upload of one pack of the write buffer, started in the background as soon as the pack
 * is complete (the next one begins), while the writer goes on filling the buffer. */
typedef enum s3_up_state { S3_UP_NONE, S3_UP_RUNNING, S3_UP_DONE, S3_UP_FAILED } s3_up_state;

typedef struct s3_up {
    s3_up_state state;
    char *name;             /* "packs/<32 hex>.pack" (owned), set when started */
    double started;         /* clock_now() when its upload began (the pack's age) */
} s3_up;

/* Writes not yet in the bucket: the bytes of one or more packs back to back (pack k starts,
 * with its header, at parts[k], and ends where the next starts), the chunks in them (offsets
 * into buf), the deletions. Complete packs of the write buffer are uploaded in the background
 * (ups[k]); a flush waits for them, uploads the rest in parallel (and again any that failed)
 * and names them all in one log entry. buf is never reallocated while an upload reads it. */
typedef struct s3_batch {
    cairn_buf buf;
    uint64_t *parts;
    s3_up *ups;                     /* [nparts] (the write buffer only) */
    size_t nparts, capparts, capups;
    s3_loc *adds;
    size_t nadds, capadds;
    cairn_id *dels;
    size_t ndels, capdels;
    char **dpack;                   /* [ndels]: NULL, or the pack the deletion applies to (a
                                       gc's: the chunk is deleted only if it is still there);
                                       owned */
    size_t capdpack;
    bool restored;                  /* holds a failed flush's chunks put back after later
                                       puts (batch_restore): flushed whole, never split */
    bool hides;                     /* a write here hides what the log says of a chunk: a put
                                       over a chunk the log has (a gc candidate written again),
                                       or an entry's addition passed over for a chunk written
                                       here; until it is flushed the index without this
                                       handle's writes is not the log's (s3_snap.c) */
    uint64_t hide_lo, hide_hi;      /* (with hides) the offsets in buf of the first and the
                                       last such write: a split (s3_log.c, batch_split) marks
                                       only the parts that hold one */
    uint64_t id;                    /* which batch (s3_store.batches): background uploads find
                                       theirs by it when it has become the one flushing */
} s3_batch;

/* get_many's read-ahead (s3.c): a long run of neighbouring chunks (a transfer or a scan
 * reading a pack in order) is followed by reading the bytes after it in the background, so
 * that the next batches find their chunks in memory instead of waiting for a GET each. */
#define S3_RA_PARTS 4

#define S3_NO_PACK UINT32_MAX         /* s3_window.pack: no window */

typedef struct s3_window {
    uint32_t pack;                  /* its pack (a number of s3_store.packs); S3_NO_PACK: none */
    uint64_t off, len;              /* the bytes it stands for: [off, off + len) of the pack */
    s3_req part[S3_RA_PARTS];       /* its ranged GETs, read in parallel (s3.c) */
    size_t nparts;
    bool ok;                        /* every part was read whole */
} s3_window;

typedef struct s3_ahead {
    pthread_mutex_t mu;             /* one get_many uses the windows at a time (trylock) */
    s3_window win;                  /* read */
    s3_window next;                 /* the one after it, read by `thread` */
    pthread_t thread;
    bool started;                   /* thread runs or has not been joined yet */
} s3_ahead;

typedef struct s3_store {
    cairn_store base;
    s3_conf conf;
    s3_http *http;
    unsigned flags;                 /* CAIRN_OPEN_* */
    pthread_mutex_t mu;             /* the index, the buffer, the log position */
    pthread_mutex_t flush_mu;
    /* the flush the write buffer started in the background (s3.c): one at a time, joined by
     * the next one, by flush and by close, under bg_mu */
    pthread_mutex_t bg_mu;
    pthread_t bg;
    bool bg_on;                     /* bg was started and not joined yet */
    atomic_bool bg_running;         /* bg has not finished yet (its result below) */
    int bg_rc;
    char bg_msg[512];               /* its error message (cairn's errors are per thread) */
    /* the index (s3_log.c): sorted, by key, with holes (pack S3_GONE) left by removals;
     * recent, an open-addressing table of the keys sorted lacks (pack S3_FREE: empty) */
    s3_loc *sorted;
    size_t nsorted, nholes;         /* entries of sorted (holes too), holes */
    s3_loc *recent;
    size_t rmask, nrecent;          /* capacity - 1, entries */
    size_t count;                   /* chunks present */
    uint64_t bytes;                 /* sum of the lengths of the chunks present */
    s3_pack *packs;                 /* the packs the log names, by number */
    uint32_t npacks, cappacks;
    uint64_t seq;                   /* the last log entry applied */
    /* what this handle wrote and has not flushed: the next pack's bytes (header first), the
     * chunks in it (stale ones are skipped: the index says which are current) and deletions */
    s3_batch pend;
    s3_batch flushing;              /* what a flush in progress uploads (still readable) */
    pthread_cond_t up_cv;           /* (with mu) signalled when a background upload ends,
                                       and when a flush lets go of its batch (flushing) */
    unsigned up_running;            /* background uploads of pend's packs in flight */
    /* conditional writes, from the probe at open */
    bool cond_ok;
    bool etag_quoted;               /* If-Match wants the ETag with its quotes */
    char cond_problem[200];
    /* snapshots (s3_snap.c) */
    uint64_t snap_seq;              /* the newest snapshot this handle knows of (0: none) */
    bool snap_running;              /* one is being written in the background (ends: up_cv) */
    uint64_t seq_hi;                /* the highest s->seq ever was: a refresh that starts over
                                       from a snapshot sets seq to 0 for a while, and a pack
                                       named meanwhile must not look born before the log */
    store_cands cands;              /* gc candidates (set_candidates): has says absent, put
                                       writes them again */
    double pack_age_max;            /* seconds: a pack is named by a log entry only this long
                                       after its upload began (S3_PACK_AGE_MAX; tests shorten
                                       it), else uploaded again (s3_log.c, upload_batch) */
    /* tests only (NULL otherwise): called at the named moments of gc's methods, so that a
     * test can make another writer act exactly there ("orphans listed": s3_remove_orphans
     * between listing packs/ and reading the log; "deletions decided": s3_del_older between
     * choosing its deletions and writing their entry; "pack upload": a background upload of
     * a complete pack of the write buffer, before its request, on the upload's thread) */
    void (*test_hook)(void *arg, const char *where);
    void *test_hook_arg;
    s3_ahead ahead;                 /* get_many's read-ahead (s3.c) */
    /* what has_many may answer from the index (s3.c, s3_has_many): refs read so far (counted
     * when each read ends), and that count as it was when the last log refresh began (mu) */
    atomic_uint_fast64_t ref_reads;
    uint64_t refs_covered;
    atomic_uint_fast64_t listings;  /* LIST requests made (tests count them) */
    uint64_t batches;               /* batch ids handed out (s3_batch.id) */
} s3_store;

/** A new pack's name (mu held; caller frees): "packs/<16 hex>-<hex>.pack", the first part the
 *  number of the log entry this handle would take next (the last it applied, plus one): the
 *  pack is written after every entry up to it. A gc's deletion reads it (s3_pack_born). */
char *s3_pack_name(const s3_store *s, const char *hex);
/** The number a pack's name was made with (s3_pack_name); 0 for a name without one (packs
 *  written before names carried it, which are older than any gc record that has a generation). */
uint64_t s3_pack_born(const char *name);
/** The full object name of `rel` (below the prefix): "prefix/rel". Caller frees. */
char *s3_obj(const s3_store *s, const char *rel);
/** Refuses a write when the server does not honour conditional writes or the handle is
 *  read-only (CAIRN_EUNSUPPORTED / CAIRN_EREADONLY with a message). */
int s3_check_writable(s3_store *s, const char *what);

/* s3_log.c: the index and the log */
int s3_index_init(s3_store *s);
void s3_index_free(s3_store *s);
/** The location of key, or NULL (mu held). Its fields but the key may be changed in place;
 *  borrowed, valid until the next s3_index_set or s3_index_remove. */
s3_loc *s3_index_find(s3_store *s, const cairn_id *key);
/** Sets key's location (mu held). @return CAIRN_OK; CAIRN_ENOMEM (nothing changed). */
int s3_index_set(s3_store *s, const s3_loc *loc);
/** Removes key (mu held); absent is fine. */
void s3_index_remove(s3_store *s, const cairn_id *key);
/** Walks the index (mu held): the next location from *pos (start at 0) and moves *pos past
 *  it; NULL at the end. In no particular order; the index must not change during the walk.
 *  Borrowed, as s3_index_find's. */
s3_loc *s3_index_next(s3_store *s, size_t *pos);
/** Reads log entries after s->seq and applies them; at open (s->seq 0) first the newest
 *  readable snapshot, then the entries after it. Entries apply only in unbroken order (or at a
 *  base entry); meeting a gap or a vanished entry, it starts over from the newest snapshot.
 *  Takes mu itself. @return CAIRN_OK; CAIRN_ECORRUPT naming a damaged entry, or a damaged
 *  snapshot with nothing to fall back on; CAIRN_EIO... */
int s3_log_refresh(s3_store *s);
/** Uploads the write buffer's packs (in parallel) and then one log entry naming them, with the
 *  pending deletions (flush_mu held, not mu). When any pack fails to upload, no entry is
 *  written (nothing names what was not stored), the writes stay pending and the error names
 *  the pack. Nothing to write: nothing happens. */
int s3_log_flush(s3_store *s);
/** As s3_log_flush, for the background flush of a writer that goes on putting: publishes only
 *  the write buffer's complete packs (the last one, still filling, stays pending) and waits
 *  only for their uploads, not for those of packs completed meanwhile. With deletions pending,
 *  or fewer than two packs, it is s3_log_flush. */
int s3_log_flush_packs(s3_store *s);
/** Marks batch b as hiding what the log says (s3_batch.hides), by its write at offset off. */
void s3_batch_hide(s3_batch *b, uint64_t off);
/** Appends a deletion of key to batch b (mu held): unconditional (pack NULL), or only if the
 *  chunk is still in pack `pack` when the entry is applied (copied). */
int s3_batch_del(s3_batch *b, const cairn_id *key, const char *pack);
/** Makes room in the write buffer for a chunk of len bytes (mu held): starts a pack (its start
 *  in parts and its header in buf) when the buffer is empty or its last pack has reached the
 *  pack size, and then starts uploading the pack just completed in the background; waits for
 *  running uploads before buf must grow. */
int s3_batch_room(s3_store *s, size_t len);
/** Waits until no background upload runs (mu held). */
void s3_uploads_wait(s3_store *s);
/** Reads chunk bytes from a pack by ranged GET and checks them against loc->check. */
int s3_pack_read(s3_store *s, cairn_buf *out, const s3_loc *loc);
/** Rewrites sparse packs (the compact method). */
int s3_compact(cairn_store *st, double min_live, unsigned flags, cairn_store_compact_stats *out);

/** Checks what every log entry and snapshot starts and ends with: at least header + 8 bytes,
 *  magic, the XXH3 trailer, the u32 format version after the magic (S3_FORMAT_VERSION to
 *  newest); CAIRN_ECORRUPT naming
 *  obj, a `what` ("log entry"), otherwise. */
int s3_check_framed(const uint8_t *p, size_t n, const char *magic, size_t header,
                    uint32_t newest, const char *what, const char *obj);
/** Appends packs (u16 name length, name, u64 size each) / chunk records (S3_LOG_ADD_SIZE
 *  each) as log entries and snapshots lay them out, and the XXH3 trailer of all of out. */
int s3_append_packs(cairn_buf *out, const s3_pack *packs, uint32_t n);
int s3_append_locs(cairn_buf *out, const s3_loc *locs, size_t n);
int s3_append_check(cairn_buf *out);
/** The numbers of the objects named dir + 20 digits ("log/", "snap/"), ascending, others
 *  ignored (caller frees *out). */
int s3_list_numbered(s3_store *s, const char *dir, uint64_t **out, size_t *n);
/** A set of names (borrowed), each with a number: one hash lookup instead of a strcmp over a
 *  list. Sized at init for the names it will hold; never grows. */
typedef struct s3_names {
    const char **keys;
    uint32_t *vals;
    size_t mask;
} s3_names;
int s3_names_init(s3_names *t, size_t n);
void s3_names_free(s3_names *t);
/** Adds name with val (a name already there keeps its first val). */
void s3_names_put(s3_names *t, const char *name, uint32_t val);
/** The val of name, or UINT32_MAX. */
uint32_t s3_names_get(const s3_names *t, const char *name);
/** Deletes the log entries numbered up to `upto` (a snapshot covers them), best effort. */
void s3_log_drop(s3_store *s, uint64_t upto);
/** Deletes objects (full names, taken over and freed), in parallel, best effort: what cannot
 *  be deleted now is garbage a later run finds. */
void s3_delete_objects(s3_store *s, char **objs, size_t n);

/* s3_snap.c: snapshots of the index (docs/FORMAT.md, "Snapshot") */
/** A checked snapshot: its pack list and chunk records, laid out as in a log entry. */
typedef struct s3_snap_view {
    uint64_t seq;           /* the last log entry it covers */
    uint64_t nchunks;
    uint32_t npacks;
    const uint8_t *names;   /* npacks × (u16 len, name, u64 size), names ascending */
    const uint8_t *chunks;  /* nchunks × S3_LOG_ADD_SIZE, keys ascending */
} s3_snap_view;

/** Checks and decodes the bytes of snapshot object obj (for messages).
 *  @return CAIRN_OK; CAIRN_ECORRUPT naming obj (magic, version, checksum, lengths, order). */
int s3_snap_decode(s3_snap_view *v, const uint8_t *p, size_t n, const char *obj);
/** The bytes of a snapshot at seq: packs[0..npacks) ascending by name, locs[0..n) ascending by
 *  key, each locs[i].pack an index into packs. Caller disposes out. */
int s3_snap_encode(cairn_buf *out, uint64_t seq, const s3_pack *packs, uint32_t npacks,
                   const s3_loc *locs, size_t n);
/** The numbers of the snapshots in the bucket, ascending (one LIST request for up to 1000;
 *  caller frees *out). */
int s3_snap_list(s3_store *s, uint64_t **out, size_t *n);
/** GETs snapshot seq into buf and decodes it into v (pointing into buf); its number must be
 *  the one it says. @return CAIRN_OK; CAIRN_ENOTFOUND without a message (removed since it was
 *  listed); CAIRN_ECORRUPT naming the object; CAIRN_EIO... */
int s3_snap_read(s3_store *s, uint64_t seq, cairn_buf *buf, s3_snap_view *v);
/** When snapshot_every entries have been applied since the newest snapshot, copies the index
 *  without this handle's unflushed writes and writes it as snapshot s->seq in the background
 *  (mu held). Nothing happens while one is being written, or while those writes hide what the
 *  log says of a chunk (deletions, s3_batch.hides): a later flush tries again. */
void s3_snap_maybe(s3_store *s);
/** Waits until no snapshot is being written (mu held). */
void s3_snap_wait(s3_store *s);

/* s3_compact.c */
/** Removes pack objects that no log entry names (the remove_orphans method). */
int s3_remove_orphans(cairn_store *st, double min_age_seconds, uint64_t *out_objects,
                      uint64_t *out_bytes);
/** Reads the chunks locs[0..n-1] of pack object obj (pack_size bytes) that compaction keeps:
 *  nothing when n is 0, ranged GETs of runs of neighbours when they are less than half of the
 *  pack, else the whole object. Sorts locs by offset; at[i] is where chunk i's bytes start in
 *  body (UINT64_MAX: the object was shorter). The caller checks each chunk's XXH3. */
int s3_compact_read_live(s3_store *s, const char *obj, uint64_t pack_size, s3_loc *locs, size_t n,
                         cairn_buf *body, uint64_t *at);

/* s3_refs.c */
int s3_ref_get(cairn_store *st, cairn_buf *out, const char *name);
int s3_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
               const void *val, size_t vlen);
int s3_ref_list(cairn_store *st, const char *prefix,
                int (*cb)(const char *, const void *, size_t, void *), void *payload);
/** Probes that the server honours If-None-Match and If-Match on PUT, and which ETag form
 *  If-Match takes; sets s->cond_ok, s->etag_quoted and s->cond_problem. Fails only when the
 *  server cannot be used at all (its message says why). */
int s3_probe_conditions(s3_store *s);

/* ---- small helpers shared by the files ---- */

/** Percent-encodes s for a URL path (keeps '/' when keep_slash) or a query value. */
char *s3_encode(const char *s, bool keep_slash);
/** Parses an S3 ListObjectsV2 page: calls cb for each <Key> (decoded) and its <Size>; sets
 *  *truncated and the next continuation token (caller frees *next; NULL when none). */
int s3_parse_list(const cairn_buf *xml, int (*cb)(const char *key, uint64_t size, void *p),
                  void *p, bool *truncated, char **next);
/** An object of a listing with its <LastModified> (wall-clock ns; 0 when the server sent
 *  none or one that does not parse). */
typedef int (*s3_dated_cb)(const char *rel, uint64_t size, int64_t mtime_ns, void *p);
/** s3_list with each object's LastModified. */
int s3_list_dated(s3_store *s, const char *rel, s3_dated_cb cb, void *p);
/** Lists every object whose name starts with the store's prefix + rel, after start_after
 *  (full object name, or NULL), in name order: cb gets the name relative to the prefix. */
int s3_list(s3_store *s, const char *rel, const char *start_after,
            int (*cb)(const char *rel, uint64_t size, void *p), void *p);

#endif /* CAIRN_S3_INT_H */
