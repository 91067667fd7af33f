/*
 * pg_int.h - the postgres store's private types, shared by pg.c (the store's methods) and
 * pg_conn.c (the URL, the connection, statements and what their errors mean).
 */
#ifndef CAIRN_PG_INT_H
#define CAIRN_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>

#include "store.h"

#define PG_SCHEMA_VERSION "2"    /* 2: chunks have a generation (gc) */
#define PG_SCHEMA_VERSION_OLD "1" /* migrated at a writable open */
#define PG_PREFIX_DEFAULT "cairn_"
#define PG_PREFIX_MAX 40
#define PG_CONNECT_TIMEOUT "10" /* seconds, unless the URL says connect_timeout */

/* Batches: rows per statement and bytes per statement (the smaller wins). */
#define PG_BATCH_ROWS 1000
#define PG_BATCH_BYTES (8u << 20)

/* A put kept in memory until the next flush (or until the buffer is full). */
typedef struct pg_pending {
    cairn_id key;
    uint8_t *data;
    size_t len;
} pg_pending;

typedef struct pg_store {
    cairn_store base;
    pthread_mutex_t mu;      /* the connection and everything below */
    PGconn *conn;            /* NULL or broken: the next statement reconnects */
    char *conninfo;          /* what libpq is given (the URL without table_prefix) */
    char *location;          /* the URL for messages, its password hidden */
    char *prefix;            /* the table prefix */
    char *t_chunks, *t_refs, *t_meta; /* the tables' quoted names */
    bool readonly;
    pg_pending *pend;
    size_t npend, cappend, pend_bytes;
    cairn_id *dels;          /* deletions kept until the next statement that must see them */
    size_t ndels, capdels;
    uint64_t requests, bytes_sent, bytes_received;
    char *t_gen;             /* the generation sequence's quoted name (gc_gen) */
    store_cands cands;       /* gc candidates (set_candidates) */
} pg_store;

/** Splits a store URL into what libpq takes and the table prefix; location is the URL with its
 *  password hidden. Accepts postgres://, postgresql:// and "pg:" + a libpq conninfo.
 *  @return CAIRN_OK; CAIRN_EINVAL (malformed, naming what); CAIRN_ENOMEM. */
int pg_parse_url(pg_store *p, const char *url);

/** Connects when there is no live connection (mu held). Errors name the host, port, user or
 *  database as libpq reports them: CAIRN_EIO (refused, unreachable), CAIRN_EAUTH (password,
 *  role), CAIRN_ENOTFOUND (no such database). */
int pg_connect(pg_store *p);

/** Runs one statement (mu held), connecting first when needed; params in binary format.
 *  Returns the result (caller PQclear()s) or NULL with the error set in *rc, its message saying
 *  what was being done (`what`). The statement must be safe to run twice: when the connection
 *  turns out to be dead it runs once more on a new one. */
PGresult *pg_exec(pg_store *p, const char *what, const char *sql, int nparams,
                  const char *const *vals, const int *lens, int binary_result, int *rc);

/** pg_exec without the second try, for a statement whose outcome is unknown when the connection
 *  breaks under it (a ref move); *lost then says so. */
PGresult *pg_exec_once(pg_store *p, const char *what, const char *sql, int nparams,
                       const char *const *vals, const int *lens, int binary_result, int *rc,
                       bool *lost);

/** libpq's message on one line, without its trailing newline (a per-thread buffer, valid until
 *  the next call). */
const char *pg_one_line(const char *msg);

/** Encodes n byte strings as a binary bytea[] parameter (the array wire format) into out. */
int pg_bytea_array(cairn_buf *out, const void *const *items, const size_t *lens, size_t n);

#endif /* CAIRN_PG_INT_H */
