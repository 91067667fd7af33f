/*
 * cairn/audit.h - the access log: who read or queried what, and when.
 *
 * Who *changed* what is the signed commit log (cairn_log). Reads leave no trace there, so a
 * repository may keep an access log beside it: an append-only list of entries, each naming
 * who read (an identity and, when signed, the signing key), when (UTC), what was done ("get",
 * "scan", "count", "doc.find", ...), on which table or collection, with which keys or query,
 * and how many results came back. docs/FORMAT.md ("Audit log") gives every byte.
 *
 * Tamper evidence: each entry holds the SHA-256 of the entry before it (a hash chain) and its
 * position, and is signed with Ed25519 by the reader's key when one is given (the same keys
 * that sign commits: cairn_signer_open(), cairn_signer_new()). cairn_audit_verify() walks the
 * chain and names the first entry that was altered, removed, reordered or badly signed.
 * Removing the newest entries (moving the log back to an older head) cannot be seen from the
 * chain alone; keep the head an earlier verify printed (position and hash) somewhere else, and
 * check it with cairn_audit_verify_options.expect_*.
 *
 * Where it lives: in the repository's own store, through the store interface only (chunks and
 * one ref), so it works on every store: the entries are the values of a prolly tree keyed by
 * position, and the ref "audit/log" names the tree's root. An append writes the new tree's
 * nodes, flushes, and moves the ref by compare-and-swap from the root it read; a writer that
 * loses the race reads the new head and tries again, so concurrent appenders (threads, or
 * processes and machines sharing a store) never fork the chain or lose an entry. gc and verify
 * keep and check the tree like any tree a ref names.
 *
 * Recording is enabled per repository by the setting "audit.reads" ("true"/"false", with
 * cairn_config_set()). The library's read calls (cairn_get, cursors, counts) do not record by
 * themselves: a read is a few microseconds and an entry costs a durable write, so the caller
 * that knows what a user asked for (the cairn command, a server, the documents layer) records
 * one entry per request with cairn_audit_record().
 *
 * Read-only handles cannot record: an entry is a write to the store (CAIRN_EREADONLY). The
 * cairn command therefore opens the repository for writing for its reading commands when
 * "audit.reads" is on (waiting for another writer's lock up to a timeout).
 */
#ifndef CAIRN_AUDIT_H
#define CAIRN_AUDIT_H

#include "../cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_AUDIT_REF "audit/log"          /**< the ref naming the log's tree */
#define CAIRN_AUDIT_SETTING "audit.reads"    /**< the setting that turns recording on */
#define CAIRN_AUDIT_WHO_MAX 256u             /**< bytes of an identity */
#define CAIRN_AUDIT_OP_MAX 32u               /**< bytes of an operation name */
#define CAIRN_AUDIT_TARGET_MAX 1024u         /**< bytes of a table or collection name */
#define CAIRN_AUDIT_DETAIL_MAX 65536u        /**< bytes of the keys or query recorded */

/** Whether the repository records reads (its "audit.reads" setting is "true").
 *  @param[out] out  1 when enabled, else 0
 *  @return CAIRN_OK; CAIRN_ECORRUPT (the settings are damaged); CAIRN_EIO. */
CAIRN_API int cairn_audit_enabled(int *out, cairn_db *db);

#define CAIRN_AUDIT_ACCESS_VERSION 1
/** One access to record. Initialise with CAIRN_AUDIT_ACCESS_INIT. */
typedef struct cairn_audit_access {
    unsigned version;        /**< CAIRN_AUDIT_ACCESS_VERSION */
    const char *who;         /**< who read (UTF-8, at most CAIRN_AUDIT_WHO_MAX bytes); NULL:
                                  as a commit's author: $CAIRN_AUTHOR, else "$USER <$USER@host>" */
    const char *op;          /**< what was done: 1..CAIRN_AUDIT_OP_MAX bytes of [a-z0-9._-]
                                  ("get", "scan", "count", "doc.get", "doc.find", ...) */
    const char *target;      /**< the table or collection (UTF-8, may be ""), at most
                                  CAIRN_AUDIT_TARGET_MAX bytes */
    const void *detail;      /**< the keys, range or query asked for (any bytes; a query is its
                                  JSON text), at most CAIRN_AUDIT_DETAIL_MAX bytes; may be NULL
                                  when detail_len is 0 */
    size_t detail_len;
    uint64_t results;        /**< how many results were returned */
    cairn_signer *signer;    /**< signs the entry; NULL: unsigned (still hash-chained). An
                                  application's sign() runs under the repository's writer lock:
                                  cairn calls that take it fail there with CAIRN_EBUSY */
} cairn_audit_access;

#define CAIRN_AUDIT_ACCESS_INIT { CAIRN_AUDIT_ACCESS_VERSION, NULL, NULL, NULL, NULL, 0, 0, NULL }

/** Appends one entry, durably (the store is flushed before the log's ref moves), whether or
 *  not "audit.reads" is set (check cairn_audit_enabled() first). Safe from several threads and
 *  processes at once: each entry gets its own position, none is lost.
 *  @param[out] out_position  the entry's position (1 for the first entry); may be NULL
 *  @return CAIRN_OK; CAIRN_EINVAL (a field over its limit, a bad op, bad UTF-8);
 *          CAIRN_EREADONLY (a read-only handle); CAIRN_ECORRUPT (the log's newest entry or
 *          tree is damaged: nothing is appended to a log that cannot be chained);
 *          CAIRN_EBUSY (the log kept moving: 1000 lost races; or called from a callback cairn
 *          runs under the writer lock); CAIRN_EAUTH (the signer's
 *          signature does not verify); CAIRN_EIO; CAIRN_ENOMEM; the signer's own value. */
CAIRN_API int cairn_audit_record(uint64_t *out_position, cairn_db *db,
                                 const cairn_audit_access *access);

/** One entry, as read back. Borrowed: valid until the callback returns. */
typedef struct cairn_audit_entry {
    uint64_t position;       /**< 1, 2, 3, ... */
    int64_t time;            /**< nanoseconds since the Unix epoch, UTC */
    const char *who;
    const char *op;
    const char *target;
    const void *detail;
    size_t detail_len;
    uint64_t results;
    int is_signed;           /**< 1 when signed (the signature is checked by verify, not here) */
    uint8_t signer[CAIRN_KEY_PUBLIC_SIZE];        /**< the key's public half; zero unsigned */
    char fingerprint[CAIRN_KEY_FINGERPRINT_SIZE]; /**< its fingerprint; "" unsigned */
    cairn_id hash;           /**< SHA-256 of this entry's bytes: what the next entry chains to */
    cairn_id prev;           /**< the previous entry's hash (zero for the first) */
} cairn_audit_entry;

/** Receives one entry (borrowed during the call). May call cairn (an entry recorded meanwhile
 *  is not reported: the walk reads the log as it was when it started).
 *  @return 0 to go on; anything else stops and is returned as-is. */
typedef int (*cairn_audit_fn)(const cairn_audit_entry *entry, void *payload);

#define CAIRN_AUDIT_FILTER_VERSION 1
/** Which entries cairn_audit_entries() reports. Initialise with CAIRN_AUDIT_FILTER_INIT. */
typedef struct cairn_audit_filter {
    unsigned version;
    int64_t from;            /**< entries at or after this time (ns, UTC); INT64_MIN: no bound */
    int64_t to;              /**< entries before this time; INT64_MAX: no bound */
    const char *who;         /**< entries whose who equals this, or whose signing key has this
                                  fingerprint; NULL: anyone */
} cairn_audit_filter;

#define CAIRN_AUDIT_FILTER_INIT { CAIRN_AUDIT_FILTER_VERSION, INT64_MIN, INT64_MAX, NULL }

/** Calls cb for each entry the filter lets through, oldest position first. Entries are
 *  decoded, not verified (cairn_audit_verify() does that). An empty or never-used log has no
 *  entries.
 *  @return CAIRN_OK; cb's non-zero value; CAIRN_ECORRUPT (an entry cannot be decoded: the
 *          message names its position); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_audit_entries(cairn_db *db, const cairn_audit_filter *filter,
                                  cairn_audit_fn cb, void *payload);

/** What is wrong with the first broken entry. */
typedef enum cairn_audit_damage {
    CAIRN_AUDIT_INTACT = 0,
    CAIRN_AUDIT_UNREADABLE = 1,   /**< its bytes cannot be read or decoded */
    CAIRN_AUDIT_MISSING = 2,      /**< no entry at this position: removed */
    CAIRN_AUDIT_MISPLACED = 3,    /**< it holds another position's entry: reordered or moved */
    CAIRN_AUDIT_BROKEN_LINK = 4,  /**< its prev hash is not the hash of the entry before it:
                                       the entry before was altered, or entries were removed
                                       and the rest renumbered */
    CAIRN_AUDIT_BAD_SIGNATURE = 5,/**< its signature does not verify under the key it names:
                                       altered after signing, or signed by another key */
    CAIRN_AUDIT_HEAD_MISMATCH = 6 /**< the expected head (verify options) is not in the log */
} cairn_audit_damage;

#define CAIRN_AUDIT_VERIFY_VERSION 1
/** Options for cairn_audit_verify(). Initialise with CAIRN_AUDIT_VERIFY_INIT. */
typedef struct cairn_audit_verify_options {
    unsigned version;
    uint64_t expect_position;     /**< with expect_hash: the log must still hold this entry (a
                                       head an earlier verify reported); 0: no check */
    cairn_id expect_hash;
    int require_trusted;          /**< 1: an entry unsigned or signed by a key outside the
                                       repository's trusted keys (cairn_trust_key) is damage
                                       (BAD_SIGNATURE); 0: only counted */
} cairn_audit_verify_options;

#define CAIRN_AUDIT_VERIFY_INIT { CAIRN_AUDIT_VERIFY_VERSION, 0, { { 0 } }, 0 }

/** What cairn_audit_verify() found. */
typedef struct cairn_audit_verify_result {
    uint64_t entries;             /**< entries checked */
    uint64_t signed_entries;      /**< of which signed with a good signature */
    uint64_t untrusted;           /**< of those, by keys the repository does not trust */
    uint64_t head_position;       /**< the newest entry (0: empty log) */
    cairn_id head_hash;           /**< its hash: keep it to check later that no newer entries
                                       were cut off */
    uint64_t broken_position;     /**< the first broken entry's position; 0 when intact */
    cairn_audit_damage damage;    /**< what is wrong with it */
    char what[512];               /**< a sentence saying what is wrong; "" when intact */
} cairn_audit_verify_result;

/** Checks the whole log: every position from 1 to the newest present exactly once and in
 *  order, each entry decoding canonically, chaining to the hash of the one before it, and its
 *  signature verifying. Stops at the first broken entry.
 *  @param[out] out  the counts, the head, and the first broken entry
 *  @param[in]  opts NULL: defaults
 *  @return CAIRN_OK (intact); CAIRN_ECORRUPT (out->broken_position says where, out->what
 *          what; the thread's message says the same); CAIRN_EIO; CAIRN_ENOMEM. */
CAIRN_API int cairn_audit_verify(cairn_audit_verify_result *out, cairn_db *db,
                                 const cairn_audit_verify_options *opts);

/** Kinds of report rows. */
typedef enum cairn_audit_row_kind {
    CAIRN_AUDIT_ROW_READ = 1,     /**< accesses recorded in the access log */
    CAIRN_AUDIT_ROW_CHANGE = 2    /**< changes made by commits (the commit log) */
} cairn_audit_row_kind;

/** One row of a report: one (kind, who, target). Borrowed during the callback. */
typedef struct cairn_audit_row {
    cairn_audit_row_kind kind;
    const char *who;              /**< READ: the entry's who; CHANGE: the commit's author */
    const char *target;           /**< the table or collection */
    uint64_t events;              /**< READ: accesses; CHANGE: commits that changed it */
    uint64_t items;               /**< READ: results returned; CHANGE: keys added, modified or
                                       removed */
    int64_t first, last;          /**< time of the first and last event (ns, UTC) */
    uint64_t signed_events;       /**< of events, how many were signed: READ, entries carrying
                                       a signature (cairn_audit_verify checks them); CHANGE,
                                       commits whose signature verifies */
} cairn_audit_row;

typedef int (*cairn_audit_row_fn)(const cairn_audit_row *row, void *payload);

/** Summarises a period [from, to): the access log's entries per (who, target), then the
 *  commits of the current branch's history made in that period (by commit time) per (author,
 *  table), each commit compared with its first parent. Rows in (kind, who, target) order.
 *  @return CAIRN_OK; cb's non-zero value; the errors of cairn_audit_entries() and cairn_log();
 *          CAIRN_ENOMEM. */
CAIRN_API int cairn_audit_report(cairn_db *db, int64_t from, int64_t to, cairn_audit_row_fn cb,
                                 void *payload);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_AUDIT_H */
