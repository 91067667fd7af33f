/*
 * pg_conn.c - the postgres store's link to the server: its URL (what libpq is given, the table
 * prefix, a location for messages that never shows the password), the connection (made again
 * after the server went away, on the next call), statements, and what their failures mean in
 * cairn's codes. One connection per store handle; pg.c holds the mutex around every use.
 */
#include <ctype.h>
#include <stdlib.h>

#include "pg_int.h"

/* ---- the URL ---- */

/* libpq's message on one line, without its trailing newline (static buffer per thread). */
const char *pg_one_line(const char *msg)
{
    static _Thread_local char buf[512];
    size_t n = 0;
    for (const char *c = msg ? msg : ""; *c && n + 1 < sizeof buf; c++) {
        if (*c == '\n' || *c == '\t') {
            if (n && buf[n - 1] != ' ') buf[n++] = ' ';
        } else {
            buf[n++] = *c;
        }
    }
    while (n && buf[n - 1] == ' ') n--;
    buf[n] = '\0';
    return buf;
}


static bool prefix_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PG_PREFIX_MAX || isdigit((unsigned char)s[0])) return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* Appends s[0..n) to *out (a malloc'd string). */
static int cat(char **out, const char *s, size_t n)
{
    size_t have = *out ? strlen(*out) : 0;
    char *r = cairn_realloc(*out, have + n + 1);
    FAIL_IF(!r, CAIRN_ENOMEM, "out of memory");
    memcpy(r + have, s, n);
    r[have + n] = '\0';
    *out = r;
    return CAIRN_OK;
}

/* postgres://[user[:password]@][host][:port][/db][?k=v&...]: table_prefix is ours, the rest
 * libpq's. */
static int parse_uri(pg_store *p, const char *url)
{
    const char *q = strchr(url, '?');
    size_t base = q ? (size_t)(q - url) : strlen(url);
    TRY(cat(&p->conninfo, url, base));
    /* the location: the password in the authority replaced */
    const char *auth = strstr(url, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *c = auth; c < auth + alen; c++)
        if (*c == '@') at = c;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        TRY(cat(&p->location, url, (size_t)(colon + 1 - url)));
        TRY(cat(&p->location, "***", 3));
        TRY(cat(&p->location, at, strlen(at)));
    } else {
        TRY(cat(&p->location, url, strlen(url)));
    }
    char sep = '?';
    for (const char *s = q ? q + 1 : NULL; s && *s;) {
        size_t n = strcspn(s, "&");
        if (n > 13 && strncmp(s, "table_prefix=", 13) == 0) {
            free(p->prefix);
            p->prefix = cairn_strndup(s + 13, n - 13);
            FAIL_IF(!p->prefix, CAIRN_ENOMEM, "out of memory");
        } else if (n) {
            TRY(cat(&p->conninfo, &sep, 1));
            TRY(cat(&p->conninfo, s, n));
            sep = '&';
        }
        s += n + (s[n] == '&');
    }
    return CAIRN_OK;
}

/* pg:key=value key='quoted value' ...: table_prefix=X is ours; password=X hidden in messages. */
static int parse_conninfo(pg_store *p, const char *ci)
{
    TRY(cat(&p->location, "pg:", 3));
    TRY(cat(&p->conninfo, "", 0));
    for (const char *s = ci; *s;) {
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        const char *e = s;
        bool quoted = false;
        while (*e && (quoted || !isspace((unsigned char)*e))) {
            if (*e == '\\' && e[1]) e++;
            else if (*e == '\'') quoted = !quoted;
            e++;
        }
        size_t n = (size_t)(e - s);
        const char *space = *p->conninfo ? " " : "";
        if (n > 13 && strncmp(s, "table_prefix=", 13) == 0) {
            free(p->prefix);
            p->prefix = cairn_strndup(s + 13, n - 13);
            FAIL_IF(!p->prefix, CAIRN_ENOMEM, "out of memory");
            TRY(cat(&p->location, " ", strcmp(p->location, "pg:") != 0));
            TRY(cat(&p->location, s, n));
        } else {
            TRY(cat(&p->conninfo, space, strlen(space)));
            TRY(cat(&p->conninfo, s, n));
            bool pw = strncmp(s, "password", 8) == 0 && memchr(s, '=', n);
            TRY(cat(&p->location, " ", strcmp(p->location, "pg:") != 0));
            if (pw) TRY(cat(&p->location, "password=***", 12));
            else TRY(cat(&p->location, s, n));
        }
        s = e;
    }
    return CAIRN_OK;
}

int pg_parse_url(pg_store *p, const char *url)
{
    if (strncmp(url, "pg:", 3) == 0) TRY(parse_conninfo(p, url + 3));
    else TRY(parse_uri(p, url));
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(p->conninfo, &err);
    if (!opts) {
        int rc = ERR(CAIRN_EINVAL,
                     "malformed postgres store URL '%s': %s; write "
                     "postgres://USER@HOST:PORT/DB?table_prefix=cairn_ or pg:host=H port=P "
                     "dbname=DB",
                     p->location, err ? pg_one_line(err) : "out of memory");
        PQfreemem(err);
        return rc;
    }
    PQconninfoFree(opts);
    if (!p->prefix) p->prefix = cairn_strdup(PG_PREFIX_DEFAULT);
    FAIL_IF(!p->prefix, CAIRN_ENOMEM, "out of memory");
    FAIL_IF(!prefix_ok(p->prefix), CAIRN_EINVAL,
            "postgres store %s: table_prefix '%s' must be 1..%d of [a-z0-9_], not starting with "
            "a digit",
            p->location, p->prefix, PG_PREFIX_MAX);
    p->t_chunks = cairn_sprintf("\"%schunks\"", p->prefix);
    p->t_refs = cairn_sprintf("\"%srefs\"", p->prefix);
    p->t_meta = cairn_sprintf("\"%smeta\"", p->prefix);
    FAIL_IF(!p->t_chunks || !p->t_refs || !p->t_meta, CAIRN_ENOMEM, "out of memory");
    return CAIRN_OK;
}

/* ---- the connection ---- */

static int connect_error(pg_store *p, const char *msg, const char *user)
{
    if (strstr(msg, "authentication failed") || strstr(msg, "no password supplied") ||
        strstr(msg, "role \"") || strstr(msg, "no pg_hba.conf entry"))
        return ERR(CAIRN_EAUTH,
                   "postgres store %s: the server refused the credentials of user '%s': %s; "
                   "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)",
                   p->location, user ? user : "?", msg);
    if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
        return ERR(CAIRN_ENOTFOUND, "postgres store %s: %s; create it with createdb", p->location,
                   msg);
    return ERR(CAIRN_EIO, "postgres store %s: cannot connect: %s", p->location, msg);
}

/* The server's notices (a table that exists already at init, a session ended by a shutdown)
 * go to cairn's log callback at debug level: a library does not write to stderr. */
static void on_notice(void *arg, const char *msg)
{
    pg_store *p = arg;
    cairn_diag(CAIRN_LOG_DEBUG, "postgres store %s: %s", p->location, pg_one_line(msg));
}

int pg_connect(pg_store *p)
{
    /* Whatever the server sent while we were idle (a restart ends sessions with a message and
     * closes them) is read without waiting, so that a connection known dead is replaced before
     * a statement is sent on it. */
    for (int i = 0; i < 2 && p->conn && PQstatus(p->conn) == CONNECTION_OK; i++) {
        PQconsumeInput(p->conn); /* the first read takes the message, the second sees the end */
        PQisBusy(p->conn);
    }
    if (p->conn && PQstatus(p->conn) == CONNECTION_OK) return CAIRN_OK;
    if (p->conn) PQfinish(p->conn);
    /* ours first, so that the URL's own settings (expanded from dbname) win */
    const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *vals[] = { PG_CONNECT_TIMEOUT, "cairn", p->conninfo, NULL };
    p->conn = PQconnectdbParams(keys, vals, 1);
    p->requests++;
    FAIL_IF(!p->conn, CAIRN_ENOMEM, "out of memory connecting to postgres store %s", p->location);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        int rc = connect_error(p, pg_one_line(PQerrorMessage(p->conn)), PQuser(p->conn));
        PQfinish(p->conn);
        p->conn = NULL;
        return rc;
    }
    PQsetNoticeProcessor(p->conn, on_notice, p);
    if (p->readonly) { /* the server itself refuses our writes */
        PGresult *r = PQexec(p->conn, "SET default_transaction_read_only = on");
        p->requests++;
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        FAIL_IF(!ok, CAIRN_EIO, "postgres store %s: cannot make the session read-only: %s",
                p->location, pg_one_line(PQerrorMessage(p->conn)));
    }
    return CAIRN_OK;
}

/* What a failed statement means (mu held). */
static int exec_error(pg_store *p, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = pg_one_line(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                                             : PQerrorMessage(p->conn));
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
        (state && strncmp(state, "57P", 3) == 0))
        return ERR(CAIRN_EIO,
                   "postgres store %s: lost the connection to the server while %s (%s); "
                   "puts not yet flushed may be missing; the next call connects again",
                   p->location, what, msg);
    if (!state) return ERR(CAIRN_EIO, "postgres store %s: %s failed: %s", p->location, what, msg);
    if (strcmp(state, "42P01") == 0)
        return ERR(CAIRN_ENOTFOUND,
                   "postgres store %s: %s: a table of the store is missing (%s); create the "
                   "schema with 'cairn init %s'",
                   p->location, what, msg, p->location);
    if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
        return ERR(CAIRN_EAUTH, "postgres store %s: %s: permission denied: %s", p->location, what,
                   msg);
    if (strcmp(state, "25006") == 0)
        return ERR(CAIRN_EREADONLY, "postgres store %s was opened read-only (%s)", p->location,
                   what);
    if (strncmp(state, "53", 2) == 0)
        return ERR(CAIRN_ENOSPC, "postgres store %s: %s: the server is out of resources: %s",
                   p->location, what, msg);
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return ERR(CAIRN_EBUSY, "postgres store %s: %s: %s; retry", p->location, what, msg);
    return ERR(CAIRN_EIO, "postgres store %s: %s failed: %s (SQLSTATE %s)", p->location, what,
               msg, state);
}

/* One try; *lost tells that the connection went away in it (it is then closed). */
static PGresult *exec_once(pg_store *p, const char *what, const char *sql, int nparams,
                           const char *const *vals, const int *lens, int binary_result, int *rc,
                           bool *lost)
{
    *lost = false;
    *rc = pg_connect(p);
    if (*rc < 0) return NULL;
    int fmts[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    if (nparams > 8) {
        *rc = ERR(CAIRN_EINVAL, "internal: a statement with %d parameters", nparams);
        return NULL;
    }
    for (int i = 0; i < nparams; i++) p->bytes_sent += (uint64_t)lens[i];
    p->bytes_sent += strlen(sql);
    p->requests++;
    PGresult *r = PQexecParams(p->conn, sql, nparams, NULL, vals, lens, fmts, binary_result);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
        for (int row = 0; row < PQntuples(r); row++)
            for (int c = 0; c < PQnfields(r); c++) p->bytes_received += (uint64_t)PQgetlength(r, row, c);
        *rc = CAIRN_OK;
        return r;
    }
    *rc = exec_error(p, r, what);
    PQclear(r);
    if (p->conn && PQstatus(p->conn) != CONNECTION_OK) { /* connect again next time */
        PQfinish(p->conn);
        p->conn = NULL;
        *lost = true;
    }
    return NULL;
}

PGresult *pg_exec(pg_store *p, const char *what, const char *sql, int nparams,
                  const char *const *vals, const int *lens, int binary_result, int *rc)
{
    bool lost;
    PGresult *r = exec_once(p, what, sql, nparams, vals, lens, binary_result, rc, &lost);
    /* A connection that died while idle (the server restarted since the last call) is found
     * only by the next statement: every statement but a ref move may simply run again, once,
     * on a new connection. */
    if (!r && lost) {
        cairn_error_clear();
        r = exec_once(p, what, sql, nparams, vals, lens, binary_result, rc, &lost);
    }
    return r;
}

PGresult *pg_exec_once(pg_store *p, const char *what, const char *sql, int nparams,
                       const char *const *vals, const int *lens, int binary_result, int *rc,
                       bool *lost)
{
    return exec_once(p, what, sql, nparams, vals, lens, binary_result, rc, lost);
}

/* ---- binary parameters ---- */

static void put_be32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
}

#define BYTEA_OID 17u

int pg_bytea_array(cairn_buf *out, const void *const *items, const size_t *lens, size_t n)
{
    size_t total = 20;
    for (size_t i = 0; i < n; i++) total += 4 + lens[i];
    FAIL_IF(n > INT32_MAX || total > INT32_MAX, CAIRN_EINVAL, "a batch of %zu bytes is too big",
            total);
    TRY(cairn_buf_reserve(out, total));
    uint8_t *d = out->data;
    put_be32(d, 1);              /* dimensions */
    put_be32(d + 4, 0);          /* no NULLs */
    put_be32(d + 8, BYTEA_OID);  /* element type */
    put_be32(d + 12, (uint32_t)n);
    put_be32(d + 16, 1);         /* lower bound */
    d += 20;
    for (size_t i = 0; i < n; i++) {
        put_be32(d, (uint32_t)lens[i]);
        if (lens[i]) memcpy(d + 4, items[i], lens[i]);
        d += 4 + lens[i];
    }
    out->len = total;
    return CAIRN_OK;
}
