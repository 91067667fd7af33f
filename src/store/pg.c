/*
 * pg.c - the postgres store: chunks as rows of PREFIXchunks (id bytea primary key, data bytea),
 * refs as rows of PREFIXrefs moved by one conditional statement each (compare-and-swap done by
 * the server: UPDATE ... WHERE value = expected, INSERT ... ON CONFLICT DO NOTHING, a
 * conditional DELETE), and PREFIXmeta with the schema version, checked at open. The tables are
 * created when the store is opened with CAIRN_OPEN_CREATE (`cairn init URL`); the schema is in
 * docs/FORMAT.md ("PostgreSQL store: tables").
 *
 * Round trips are what a remote store costs, so: puts are kept in memory and sent as one
 * multi-row statement per batch (at flush, when the buffer is full, and before anything that
 * must see them: list, stat, a ref move); get_many/has_many ask for a whole batch with
 * `id = ANY($1)`; put_many sends its chunks in batches at once; deletions (gc) are kept too and
 * sent as one `DELETE ... WHERE id = ANY($1)` per batch before the next call that touches
 * chunks or refs, so every call sees them done. Every statement runs in its own
 * transaction with the server's synchronous commit, so what a flush sent is durable in
 * PostgreSQL when it returns (CAIRN_STORE_CAP_DURABLE). There is no file namespace: a
 * repository here has no write-ahead log and checkpoints every write.
 *
 * One connection per handle, behind a mutex; several processes and machines may share the
 * store (CAIRN_STORE_CAP_SHARED, CAIRN_STORE_CAP_REF_CAS). When the server goes away the call
 * fails with CAIRN_EIO and the next call connects again.
 */
#include <stdlib.h>

#include "pg_int.h"
#include "store/refname.h"

static inline pg_store *pg_of(cairn_store *st) { return (pg_store *)st; }

static const char *hex_of(char *buf, const cairn_id *key)
{
    cairn_id_to_hex(buf, key);
    return buf;
}

/* ---- batches of chunks ---- */

static int key_cmp(const void *a, const void *b) { return memcmp(a, b, sizeof(cairn_id)); }

static int chunk_cmp(const void *a, const void *b)
{
    return memcmp(&((const cairn_store_chunk *)a)->key, &((const cairn_store_chunk *)b)->key,
                  sizeof(cairn_id));
}

/* Inserts chunks c[0..n) in one statement, skipping those already there (mu held). Sorted by id
 * first: two writers inserting overlapping batches then take their row locks in one order and
 * cannot deadlock. */
static int insert_rows(pg_store *p, cairn_store_chunk *c, size_t n, bool renew)
{
    if (!n) return CAIRN_OK;
    qsort(c, n, sizeof *c, chunk_cmp);
    if (renew) { /* DO UPDATE may touch a row once per statement */
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (!u || memcmp(&c[u - 1].key, &c[i].key, sizeof c[i].key) != 0) c[u++] = c[i];
        n = u;
    }
    const void **items = cairn_malloc(2 * n * sizeof *items);
    size_t *lens = cairn_malloc(2 * n * sizeof *lens);
    cairn_buf ids = CAIRN_BUF_INIT, datas = CAIRN_BUF_INIT;
    int rc = !items || !lens ? ERR(CAIRN_ENOMEM, "out of memory") : CAIRN_OK;
    for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
        items[i] = c[i].key.bytes;
        lens[i] = CAIRN_ID_SIZE;
        items[n + i] = c[i].data;
        lens[n + i] = c[i].len;
    }
    if (rc == CAIRN_OK) rc = pg_bytea_array(&ids, items, lens, n);
    if (rc == CAIRN_OK) rc = pg_bytea_array(&datas, items + n, lens + n, n);
    if (rc == CAIRN_OK) {
        /* a gc candidate written again gets a new generation, so that the deletion spares it */
        char *sql = renew ? cairn_sprintf("INSERT INTO %s (id, data) SELECT * FROM unnest("
                                          "$1::bytea[], $2::bytea[]) ON CONFLICT (id) DO UPDATE "
                                          "SET gen = nextval('%s')", p->t_chunks, p->t_gen)
                          : cairn_sprintf("INSERT INTO %s (id, data) SELECT * FROM unnest("
                                          "$1::bytea[], $2::bytea[]) ON CONFLICT (id) DO NOTHING",
                                          p->t_chunks);
        const char *vals[2] = { (const char *)ids.data, (const char *)datas.data };
        int vlens[2] = { (int)ids.len, (int)datas.len };
        char what[64];
        snprintf(what, sizeof what, "storing %zu chunks", n);
        PGresult *r = sql ? pg_exec(p, what, sql, 2, vals, vlens, 1, &rc) : NULL;
        if (!sql) rc = ERR(CAIRN_ENOMEM, "out of memory");
        PQclear(r);
        free(sql);
    }
    cairn_buf_dispose(&ids);
    cairn_buf_dispose(&datas);
    free(items);
    free(lens);
    return rc;
}

/* Sends the deletions kept in memory (mu held), PG_BATCH_ROWS ids a statement, before anything
 * that reads or writes chunks, so that every other call sees them done. Those not sent stay. */
static int send_dels(pg_store *p)
{
    char *sql = p->ndels ? cairn_sprintf("DELETE FROM %s WHERE id = ANY($1::bytea[])",
                                         p->t_chunks) : NULL;
    FAIL_IF(p->ndels && !sql, CAIRN_ENOMEM, "out of memory");
    int rc = CAIRN_OK;
    while (rc == CAIRN_OK && p->ndels) {
        size_t n = MIN(p->ndels, (size_t)PG_BATCH_ROWS);
        const void **items = cairn_malloc(n * sizeof *items);
        size_t *lens = cairn_malloc(n * sizeof *lens);
        cairn_buf ids = CAIRN_BUF_INIT;
        rc = items && lens ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
        for (size_t i = 0; rc == CAIRN_OK && i < n; i++) {
            items[i] = p->dels[i].bytes;
            lens[i] = CAIRN_ID_SIZE;
        }
        if (rc == CAIRN_OK) rc = pg_bytea_array(&ids, items, lens, n);
        if (rc == CAIRN_OK) {
            const char *vals[1] = { (const char *)ids.data };
            int vlens[1] = { (int)ids.len };
            char what[64];
            snprintf(what, sizeof what, "deleting %zu chunks", n);
            PQclear(pg_exec(p, what, sql, 1, vals, vlens, 1, &rc));
        }
        if (rc == CAIRN_OK) {
            memmove(p->dels, p->dels + n, (p->ndels - n) * sizeof *p->dels);
            p->ndels -= n;
        }
        cairn_buf_dispose(&ids);
        free(items);
        free(lens);
    }
    free(sql);
    return rc;
}

/* Sends the puts kept in memory (mu held), after the deletions kept. They stay kept when the
 * statement fails, so that a later flush sends them again. */
static int send_pending(pg_store *p)
{
    TRY(send_dels(p));
    size_t done = 0;
    while (done < p->npend) {
        size_t n = 0, bytes = 0;
        while (done + n < p->npend && n < PG_BATCH_ROWS &&
               (n == 0 || bytes + p->pend[done + n].len <= PG_BATCH_BYTES))
            bytes += p->pend[done + n++].len;
        cairn_store_chunk *c = cairn_malloc(n * sizeof *c);
        FAIL_IF(!c, CAIRN_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            c[i] = (cairn_store_chunk){ p->pend[done + i].key, p->pend[done + i].data,
                                        p->pend[done + i].len };
        int rc = insert_rows(p, c, n, false);
        free(c);
        if (rc < 0) { /* keep what was not sent */
            for (size_t i = 0; i < done; i++) free(p->pend[i].data);
            memmove(p->pend, p->pend + done, (p->npend - done) * sizeof *p->pend);
            p->npend -= done;
            p->pend_bytes = 0;
            for (size_t i = 0; i < p->npend; i++) p->pend_bytes += p->pend[i].len;
            return rc;
        }
        done += n;
    }
    for (size_t i = 0; i < p->npend; i++) free(p->pend[i].data);
    p->npend = 0;
    p->pend_bytes = 0;
    return CAIRN_OK;
}

/* The kept put of key, or NULL (mu held). */
static pg_pending *pending_find(pg_store *p, const cairn_id *key)
{
    for (size_t i = p->npend; i-- > 0;)
        if (memcmp(p->pend[i].key.bytes, key->bytes, CAIRN_ID_SIZE) == 0) return &p->pend[i];
    return NULL;
}

/* ---- chunks ---- */

static int pg_get(cairn_store *st, cairn_buf *out, const cairn_id *key)
{
    pg_store *p = pg_of(st);
    int rc;
    pthread_mutex_lock(&p->mu);
    pg_pending *k = pending_find(p, key);
    if (k) {
        rc = cairn_buf_set(out, k->data, k->len);
    } else if ((rc = send_dels(p)) == CAIRN_OK) {
        const char *vals[1] = { (const char *)key->bytes };
        int lens[1] = { CAIRN_ID_SIZE };
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT data FROM %s WHERE id = $1", p->t_chunks);
        PGresult *r = pg_exec(p, "reading a chunk", sql, 1, vals, lens, 1, &rc);
        if (r && PQntuples(r) == 0) rc = CAIRN_ENOTFOUND;
        else if (r) rc = cairn_buf_set(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
        PQclear(r);
    }
    pthread_mutex_unlock(&p->mu);
    char hex[CAIRN_ID_HEX_SIZE];
    if (rc == CAIRN_ENOTFOUND)
        return ERR(CAIRN_ENOTFOUND, "chunk %s is not in the postgres store %s", hex_of(hex, key),
                   p->location);
    return rc;
}

static int pg_put(cairn_store *st, const cairn_id *key, const void *data, size_t len)
{
    pg_store *p = pg_of(st);
    FAIL_IF(p->readonly, CAIRN_EREADONLY, "postgres store %s was opened read-only", p->location);
    uint8_t *copy = cairn_malloc(len ? len : 1);
    FAIL_IF(!copy, CAIRN_ENOMEM, "out of memory keeping a chunk of %zu bytes", len);
    if (len) memcpy(copy, data, len);
    pthread_mutex_lock(&p->mu);
    int rc = send_dels(p); /* a put after a delete of the same key must win */
    /* a gc candidate: written again at once (rare) */
    if (rc == CAIRN_OK && store_cands_pending(&p->cands, key, false)) {
        cairn_store_chunk c = { *key, copy, len };
        rc = insert_rows(p, &c, 1, true);
        if (rc == CAIRN_OK) store_cands_pending(&p->cands, key, true);
        free(copy);
    } else if (rc < 0) {
        free(copy);
    } else if (cairn_array_room(&p->pend, &p->cappend, p->npend, sizeof *p->pend, 64) != CAIRN_OK) {
        free(copy);
        rc = ERR(CAIRN_ENOMEM, "out of memory");
    } else {
        p->pend[p->npend++] = (pg_pending){ *key, copy, len };
        p->pend_bytes += len;
        if (p->npend >= PG_BATCH_ROWS || p->pend_bytes >= PG_BATCH_BYTES) rc = send_pending(p);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pg_has(cairn_store *st, const cairn_id *key)
{
    pg_store *p = pg_of(st);
    int rc;
    pthread_mutex_lock(&p->mu);
    if (pending_find(p, key)) {
        rc = CAIRN_OK;
    } else if (store_cands_pending(&p->cands, key, false)) {
        rc = CAIRN_ENOTFOUND; /* to be written again: a gc may delete this copy */
    } else if ((rc = send_dels(p)) == CAIRN_OK) {
        const char *vals[1] = { (const char *)key->bytes };
        int lens[1] = { CAIRN_ID_SIZE };
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = $1", p->t_chunks);
        PGresult *r = pg_exec(p, "looking for a chunk", sql, 1, vals, lens, 1, &rc);
        if (r && PQntuples(r) == 0) rc = CAIRN_ENOTFOUND;
        PQclear(r);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pg_del(cairn_store *st, const cairn_id *key)
{
    pg_store *p = pg_of(st);
    FAIL_IF(p->readonly, CAIRN_EREADONLY, "postgres store %s was opened read-only", p->location);
    int rc;
    pthread_mutex_lock(&p->mu);
    for (pg_pending *k; (k = pending_find(p, key));) {
        free(k->data);
        p->pend_bytes -= k->len;
        *k = p->pend[--p->npend];
    }
    /* kept, and sent with others in one statement before the next call that touches chunks */
    rc = cairn_array_room(&p->dels, &p->capdels, p->ndels, sizeof *p->dels, 256);
    if (rc == CAIRN_OK) p->dels[p->ndels++] = *key;
    if (rc == CAIRN_OK && p->ndels >= PG_BATCH_ROWS) rc = send_dels(p);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static uint32_t get_be32(const char *s)
{
    const uint8_t *d = (const uint8_t *)s;
    return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

#define LIST_PAGE 10000

/* Pages through the chunks in id order (keyset pagination: each page is a range scan of the
 * primary key from the last id of the page before), calling cb without the mutex held so that
 * cb may call the store. */
static int pg_list(cairn_store *st, int (*cb)(const cairn_id *, uint64_t, void *), void *payload)
{
    pg_store *p = pg_of(st);
    cairn_id after = { { 0 } };
    char first_sql[256], next_sql[256];
    snprintf(first_sql, sizeof first_sql,
             "SELECT id, length(data) FROM %s ORDER BY id LIMIT %d", p->t_chunks, LIST_PAGE);
    snprintf(next_sql, sizeof next_sql,
             "SELECT id, length(data) FROM %s WHERE id > $1 ORDER BY id LIMIT %d", p->t_chunks,
             LIST_PAGE);
    for (bool first = true;; first = false) {
        int rc;
        pthread_mutex_lock(&p->mu);
        PGresult *r = NULL;
        rc = send_pending(p);
        if (rc == CAIRN_OK) {
            const char *vals[1] = { (const char *)after.bytes };
            int lens[1] = { CAIRN_ID_SIZE };
            r = pg_exec(p, "listing chunks", first ? first_sql : next_sql, first ? 0 : 1, vals,
                        lens, 1, &rc);
        }
        pthread_mutex_unlock(&p->mu);
        if (rc < 0) return rc;
        int n = PQntuples(r);
        for (int i = 0; rc == CAIRN_OK && i < n; i++) {
            if (PQgetlength(r, i, 0) != CAIRN_ID_SIZE || PQgetlength(r, i, 1) != 4) {
                rc = CORRUPT("postgres store %s: a row of %s has an id of %d bytes", p->location,
                             p->t_chunks, PQgetlength(r, i, 0));
                break;
            }
            memcpy(after.bytes, PQgetvalue(r, i, 0), CAIRN_ID_SIZE);
            rc = cb(&after, get_be32(PQgetvalue(r, i, 1)), payload);
        }
        PQclear(r);
        if (rc != CAIRN_OK || n < LIST_PAGE) return rc;
    }
}

static int pg_flush(cairn_store *st)
{
    pg_store *p = pg_of(st);
    pthread_mutex_lock(&p->mu);
    int rc = send_pending(p);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pg_stat(cairn_store *st, cairn_store_stats *out)
{
    pg_store *p = pg_of(st);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*), coalesce(sum(length(data)), 0) FROM %s",
             p->t_chunks);
    pthread_mutex_lock(&p->mu);
    int rc = send_pending(p);
    PGresult *r = rc == CAIRN_OK ? pg_exec(p, "counting chunks", sql, 0, NULL, NULL, 0, &rc) : NULL;
    if (r) {
        out->chunks = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        out->bytes = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        out->files = 0;
        out->requests = p->requests;
        out->bytes_sent = p->bytes_sent;
        out->bytes_received = p->bytes_received;
    }
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- version 5: batches ---- */

/* keys[0..n) sorted, with their positions: the positions of one id are found by binary search
 * when the server's rows come back (in no particular order, once per distinct id). */
typedef struct keyed {
    cairn_id key;
    size_t at;
} keyed;

static int keyed_cmp(const void *a, const void *b) { return key_cmp(a, b); }

/* The range of sorted[] holding key: [*lo, *hi). */
static void keyed_range(const keyed *sorted, size_t n, const void *key, size_t *lo, size_t *hi)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (memcmp(sorted[m].key.bytes, key, CAIRN_ID_SIZE) < 0) a = m + 1;
        else b = m;
    }
    size_t e = a;
    while (e < n && memcmp(sorted[e].key.bytes, key, CAIRN_ID_SIZE) == 0) e++;
    *lo = a;
    *hi = e;
}

/* Asks the server for the rows of keys[0..n) (at most PG_BATCH_ROWS), with data or not. */
static PGresult *select_batch(pg_store *p, const cairn_id *keys, size_t n, bool data, int *rc)
{
    const void **items = cairn_malloc(n * sizeof *items);
    size_t *lens = cairn_malloc(n * sizeof *lens);
    cairn_buf arr = CAIRN_BUF_INIT;
    PGresult *r = NULL;
    *rc = !items || !lens ? ERR(CAIRN_ENOMEM, "out of memory") : CAIRN_OK;
    for (size_t i = 0; *rc == CAIRN_OK && i < n; i++) {
        items[i] = keys[i].bytes;
        lens[i] = CAIRN_ID_SIZE;
    }
    if (*rc == CAIRN_OK) *rc = pg_bytea_array(&arr, items, lens, n);
    if (*rc == CAIRN_OK) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT id%s FROM %s WHERE id = ANY($1::bytea[])",
                 data ? ", data" : "", p->t_chunks);
        const char *vals[1] = { (const char *)arr.data };
        int vlens[1] = { (int)arr.len };
        r = pg_exec(p, data ? "reading a batch of chunks" : "looking for a batch of chunks", sql,
                    1, vals, vlens, 1, rc);
    }
    cairn_buf_dispose(&arr);
    free(items);
    free(lens);
    return r;
}

static keyed *sort_keys(const cairn_id *keys, size_t n)
{
    keyed *s = cairn_malloc((n ? n : 1) * sizeof *s);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = (keyed){ keys[i], i };
    qsort(s, n, sizeof *s, keyed_cmp);
    return s;
}

static int pg_has_many(cairn_store *st, const cairn_id *keys, size_t n, int *rcs)
{
    pg_store *p = pg_of(st);
    int rc = CAIRN_OK;
    for (size_t off = 0; rc == CAIRN_OK && off < n; off += PG_BATCH_ROWS) {
        size_t m = MIN(n - off, (size_t)PG_BATCH_ROWS);
        keyed *s = sort_keys(keys + off, m);
        FAIL_IF(!s, CAIRN_ENOMEM, "out of memory");
        /* One hold of the mutex a batch: what is pending, what gc's candidates hold back (as
         * pg_has: written again, a gc may delete the stored copy), and the query. */
        enum { HELD_BACK = 1 }; /* not a status: no row may make it CAIRN_OK */
        pthread_mutex_lock(&p->mu);
        for (size_t i = 0; i < m; i++)
            rcs[off + i] = pending_find(p, &keys[off + i]) ? CAIRN_OK
                           : store_cands_pending(&p->cands, &keys[off + i], false) ? HELD_BACK
                                                                                   : CAIRN_ENOTFOUND;
        rc = send_dels(p);
        PGresult *r = rc == CAIRN_OK ? select_batch(p, keys + off, m, false, &rc) : NULL;
        pthread_mutex_unlock(&p->mu);
        for (int row = 0; r && row < PQntuples(r); row++) {
            size_t lo, hi;
            if (PQgetlength(r, row, 0) != CAIRN_ID_SIZE) continue;
            keyed_range(s, m, PQgetvalue(r, row, 0), &lo, &hi);
            for (size_t j = lo; j < hi; j++)
                if (rcs[off + s[j].at] != HELD_BACK) rcs[off + s[j].at] = CAIRN_OK;
        }
        for (size_t i = 0; i < m; i++)
            if (rcs[off + i] == HELD_BACK) rcs[off + i] = CAIRN_ENOTFOUND;
        PQclear(r);
        free(s);
    }
    return rc;
}

/* Delivers one batch's results (no mutex held: cb may call the store). */
static int deliver(pg_store *p, const cairn_id *keys, const keyed *s, size_t m, size_t off,
                   PGresult *r, bool *done, cairn_store_get_cb cb, void *payload)
{
    for (int row = 0; row < PQntuples(r); row++) {
        size_t lo, hi;
        if (PQgetlength(r, row, 0) != CAIRN_ID_SIZE) continue;
        keyed_range(s, m, PQgetvalue(r, row, 0), &lo, &hi);
        for (size_t j = lo; j < hi; j++) {
            if (done[s[j].at]) continue;
            done[s[j].at] = true;
            int rc = cb(off + s[j].at, CAIRN_OK, PQgetvalue(r, row, 1),
                        (size_t)PQgetlength(r, row, 1), payload);
            if (rc) return rc;
        }
    }
    for (size_t i = 0; i < m; i++) {
        if (done[i]) continue;
        char hex[CAIRN_ID_HEX_SIZE];
        ERR(CAIRN_ENOTFOUND, "chunk %s is not in the postgres store %s", hex_of(hex, &keys[i]),
            p->location);
        int rc = cb(off + i, CAIRN_ENOTFOUND, NULL, 0, payload);
        if (rc) return rc;
    }
    return CAIRN_OK;
}

static int pg_get_many(cairn_store *st, const cairn_id *keys, size_t n, cairn_store_get_cb cb,
                       void *payload)
{
    pg_store *p = pg_of(st);
    int rc = CAIRN_OK;
    for (size_t off = 0; rc == CAIRN_OK && off < n; off += PG_BATCH_ROWS) {
        size_t m = MIN(n - off, (size_t)PG_BATCH_ROWS);
        keyed *s = sort_keys(keys + off, m);
        bool *done = cairn_calloc(m, sizeof *done);
        cairn_buf *kept = cairn_calloc(m, sizeof *kept); /* copies of puts not yet sent */
        if (!s || !done || !kept) rc = ERR(CAIRN_ENOMEM, "out of memory");
        PGresult *r = NULL;
        if (rc == CAIRN_OK) {
            pthread_mutex_lock(&p->mu);
            for (size_t i = 0; rc == CAIRN_OK && i < m; i++) {
                pg_pending *k = pending_find(p, &keys[off + i]);
                if (k && (rc = cairn_buf_set(&kept[i], k->data, k->len)) == CAIRN_OK)
                    done[i] = true;
            }
            if (rc == CAIRN_OK) rc = send_dels(p);
            if (rc == CAIRN_OK) r = select_batch(p, keys + off, m, true, &rc);
            pthread_mutex_unlock(&p->mu);
        }
        for (size_t i = 0; rc == CAIRN_OK && i < m; i++)
            if (done[i]) rc = cb(off + i, CAIRN_OK, kept[i].data, kept[i].len, payload);
        if (rc == CAIRN_OK) rc = deliver(p, keys + off, s, m, off, r, done, cb, payload);
        PQclear(r);
        for (size_t i = 0; kept && i < m; i++) cairn_buf_dispose(&kept[i]);
        free(kept);
        free(done);
        free(s);
    }
    return rc;
}

static int pg_put_many(cairn_store *st, const cairn_store_chunk *chunks, size_t n)
{
    pg_store *p = pg_of(st);
    FAIL_IF(p->readonly, CAIRN_EREADONLY, "postgres store %s was opened read-only", p->location);
    int rc = CAIRN_OK;
    size_t done = 0;
    while (rc == CAIRN_OK && done < n) {
        size_t m = 0, bytes = 0;
        while (done + m < n && m < PG_BATCH_ROWS &&
               (m == 0 || bytes + chunks[done + m].len <= PG_BATCH_BYTES))
            bytes += chunks[done + m++].len;
        cairn_store_chunk *c = cairn_malloc(m * sizeof *c);
        FAIL_IF(!c, CAIRN_ENOMEM, "out of memory");
        memcpy(c, chunks + done, m * sizeof *c);
        pthread_mutex_lock(&p->mu);
        size_t plain = 0; /* gc candidates to the end, written again in their own statement */
        for (size_t i = 0; i < m; i++)
            if (!store_cands_pending(&p->cands, &c[i].key, false)) {
                cairn_store_chunk t = c[plain];
                c[plain++] = c[i];
                c[i] = t;
            }
        rc = send_dels(p); /* a put after a delete of the same key must win */
        if (rc == CAIRN_OK) rc = insert_rows(p, c, plain, false);
        if (rc == CAIRN_OK) rc = insert_rows(p, c + plain, m - plain, true);
        for (size_t i = plain; rc == CAIRN_OK && i < m; i++)
            store_cands_pending(&p->cands, &c[i].key, true);
        pthread_mutex_unlock(&p->mu);
        free(c);
        done += m;
    }
    return rc;
}

/* ---- version 6: gc generations ---- */

/* A new value of the generation sequence: every row inserted or written again after this has
 * a larger one (a sequence never goes back, whatever the transactions do). */
static int pg_gc_gen(cairn_store *st, uint64_t *out)
{
    pg_store *p = pg_of(st);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT nextval('%s')", p->t_gen);
    int rc;
    pthread_mutex_lock(&p->mu);
    PGresult *r = pg_exec(p, "reading the generation", sql, 0, NULL, NULL, 0, &rc);
    if (r) *out = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pg_set_candidates(cairn_store *st, const cairn_id *keys, size_t n)
{
    pg_store *p = pg_of(st);
    return store_cands_set(&p->cands, &p->mu, keys, n);
}

/* One statement per batch: deletes the rows not written again after gen and, from the same
 * snapshot, names the rows it spares for that reason. A concurrent write again that commits
 * first is seen by the DELETE (PostgreSQL re-checks a row updated under it) and spared too. */
static int pg_del_older(cairn_store *st, const cairn_id *keys, size_t n, uint64_t gen, bool *kept)
{
    pg_store *p = pg_of(st);
    FAIL_IF(p->readonly, CAIRN_EREADONLY, "postgres store %s was opened read-only", p->location);
    char *sql = cairn_sprintf("WITH d AS (DELETE FROM %s WHERE id = ANY($1::bytea[]) AND gen <= "
                              "$2::bigint RETURNING 1) SELECT id FROM %s WHERE id = "
                              "ANY($1::bytea[]) AND gen > $2::bigint",
                              p->t_chunks, p->t_chunks);
    FAIL_IF(!sql, CAIRN_ENOMEM, "out of memory");
    char genbuf[8];
    for (int i = 0; i < 8; i++) genbuf[i] = (char)(gen >> (56 - 8 * i)); /* int8, big-endian */
    pthread_mutex_lock(&p->mu);
    int rc = send_pending(p); /* puts and deletions before, in order */
    for (size_t off = 0; rc == CAIRN_OK && off < n; off += PG_BATCH_ROWS) {
        size_t m = MIN(n - off, (size_t)PG_BATCH_ROWS);
        keyed *s = sort_keys(keys + off, m);
        const void **items = cairn_malloc(m * sizeof *items);
        size_t *lens = cairn_malloc(m * sizeof *lens);
        cairn_buf ids = CAIRN_BUF_INIT;
        rc = s && items && lens ? CAIRN_OK : ERR(CAIRN_ENOMEM, "out of memory");
        for (size_t i = 0; rc == CAIRN_OK && i < m; i++) {
            items[i] = keys[off + i].bytes;
            lens[i] = CAIRN_ID_SIZE;
            kept[off + i] = false;
        }
        if (rc == CAIRN_OK) rc = pg_bytea_array(&ids, items, lens, m);
        PGresult *r = NULL;
        if (rc == CAIRN_OK) {
            const char *vals[2] = { (const char *)ids.data, genbuf };
            int vlens[2] = { (int)ids.len, 8 };
            char what[64];
            snprintf(what, sizeof what, "deleting %zu gc candidates", m);
            r = pg_exec(p, what, sql, 2, vals, vlens, 1, &rc);
        }
        for (int row = 0; r && row < PQntuples(r); row++) {
            size_t lo, hi;
            if (PQgetlength(r, row, 0) != CAIRN_ID_SIZE) continue;
            keyed_range(s, m, PQgetvalue(r, row, 0), &lo, &hi);
            for (size_t j = lo; j < hi; j++) kept[off + s[j].at] = true;
        }
        PQclear(r);
        cairn_buf_dispose(&ids);
        free(items);
        free(lens);
        free(s);
    }
    pthread_mutex_unlock(&p->mu);
    free(sql);
    return rc;
}

/* ---- refs ---- */

static int pg_ref_get(cairn_store *st, cairn_buf *out, const char *name)
{
    pg_store *p = pg_of(st);
    TRY(store_check_ref_name(name));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT value FROM %s WHERE name = $1", p->t_refs);
    const char *vals[1] = { name };
    int lens[1] = { (int)strlen(name) };
    int rc;
    pthread_mutex_lock(&p->mu);
    PGresult *r = pg_exec(p, "reading a ref", sql, 1, vals, lens, 1, &rc);
    if (r && PQntuples(r) == 0) rc = CAIRN_ENOTFOUND;
    else if (r) rc = cairn_buf_set(out, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    if (rc == CAIRN_ENOTFOUND)
        return ERR(CAIRN_ENOTFOUND, "ref '%s' does not exist in the postgres store %s", name,
                   p->location);
    return rc;
}

/* The one statement that moves a ref, and how many rows it must touch to have won. */
static const char *cas_sql(pg_store *p, bool expect, bool val, char *buf, size_t size)
{
    if (!expect && val) /* create: only when absent */
        snprintf(buf, size,
                 "INSERT INTO %s (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                 p->t_refs);
    else if (expect && val)
        snprintf(buf, size, "UPDATE %s SET value = $3 WHERE name = $1 AND value = $2", p->t_refs);
    else if (expect)
        snprintf(buf, size, "DELETE FROM %s WHERE name = $1 AND value = $2", p->t_refs);
    else /* absent and to stay absent: nothing moves, the ref must not exist */
        snprintf(buf, size, "SELECT 1 FROM %s WHERE name = $1", p->t_refs);
    return buf;
}

static int pg_ref_cas(cairn_store *st, const char *name, const void *expect, size_t elen,
                      const void *val, size_t vlen)
{
    pg_store *p = pg_of(st);
    TRY(store_check_ref_name(name));
    TRY(store_check_ref_value(name, vlen));
    FAIL_IF(p->readonly, CAIRN_EREADONLY, "postgres store %s was opened read-only", p->location);
    char sql[256];
    cas_sql(p, expect != NULL, val != NULL, sql, sizeof sql);
    /* $1 name, then $2 the expected value and $3 the new one; when only one of them is given
     * it is $2 */
    const char *vals[3] = { name, expect ? expect : val, val };
    int lens[3] = { (int)strlen(name), (int)(expect ? elen : vlen), (int)vlen };
    int np = 1 + (expect != NULL) + (val != NULL);
    static const char empty = 0;
    for (int i = 1; i < np; i++)
        if (!vals[i]) vals[i] = &empty; /* an empty value is a value */
    int rc;
    pthread_mutex_lock(&p->mu);
    rc = send_pending(p); /* the chunks a ref names go first (the caller flushed anyway) */
    bool lost = false;
    PGresult *r = rc == CAIRN_OK ? pg_exec_once(p, "moving a ref", sql, np, vals, lens, 1, &rc,
                                                &lost)
                                 : NULL;
    if (lost) { /* the statement may have run: never guess */
        char msg[768];
        snprintf(msg, sizeof msg, "%s", cairn_error_last()->message);
        rc = ERR(rc, "%s; ref '%s' may or may not have moved: read it to find out", msg, name);
    }
    if (r) {
        bool won = !expect && !val ? PQntuples(r) == 0 : strcmp(PQcmdTuples(r), "1") == 0;
        if (!won)
            rc = ERR(CAIRN_ECONFLICT,
                     "ref '%s' changed concurrently (compare-and-swap failed) in the postgres "
                     "store %s",
                     name, p->location);
    }
    PQclear(r);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int pg_ref_list(cairn_store *st, const char *prefix,
                       int (*cb)(const char *, const void *, size_t, void *), void *payload)
{
    pg_store *p = pg_of(st);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT name, value FROM %s WHERE starts_with(name, $1) ORDER BY name", p->t_refs);
    const char *vals[1] = { prefix };
    int lens[1] = { (int)strlen(prefix) };
    int rc;
    pthread_mutex_lock(&p->mu);
    PGresult *r = pg_exec(p, "listing refs", sql, 1, vals, lens, 1, &rc);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; r && rc == CAIRN_OK && i < PQntuples(r); i++) {
        char *nm = cairn_strndup(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        if (!nm) rc = ERR(CAIRN_ENOMEM, "out of memory");
        else rc = cb(nm, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), payload);
        free(nm);
    }
    PQclear(r);
    return rc;
}

/* ---- open and close ---- */

/* Frees what pg_parse_url() (and open) made, and p. */
static void parsed_free(pg_store *p)
{
    free(p->conninfo);
    free(p->location);
    free(p->prefix);
    free(p->t_chunks);
    free(p->t_refs);
    free(p->t_gen);
    free(p->t_meta);
    free(p);
}

static void pg_close(cairn_store *st)
{
    pg_store *p = pg_of(st);
    if (!p) return;
    if (p->npend || p->ndels) { /* connecting again if need be */
        pthread_mutex_lock(&p->mu);
        if (send_pending(p) < 0)
            cairn_diag(CAIRN_LOG_ERROR, "closing postgres store %s: %s", p->location,
                       cairn_error_last()->message);
        pthread_mutex_unlock(&p->mu);
    }
    for (size_t i = 0; i < p->npend; i++) free(p->pend[i].data);
    free(p->pend);
    free(p->dels);
    if (p->conn) PQfinish(p->conn);
    pthread_mutex_destroy(&p->mu);
    store_cands_free(&p->cands);
    parsed_free(p);
}

/* Runs a script of several statements in one transaction (BEGIN ... COMMIT in sql). */
static int exec_script(pg_store *p, const char *sql, const char *what)
{
    int rc = pg_connect(p);
    if (rc < 0) return rc;
    p->requests++;
    PGresult *r = PQexec(p->conn, sql); /* several statements: not through PQexecParams */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = ERR(CAIRN_EIO, "postgres store %s: %s failed: %s", p->location, what,
                 pg_one_line(PQerrorMessage(p->conn)));
        PQclear(r);
        r = PQexec(p->conn, "ROLLBACK");
    }
    PQclear(r);
    return rc;
}

/* Creates the tables (idempotent; concurrent inits wait for each other on an advisory lock
 * named by the prefix). The chunks' data is stored uncompressed (they are compressed already)
 * and inline up to a page (toast_tuple_target), so that a chunk read is one index lookup and one
 * heap page, not a TOAST table too. */
static int create_schema(pg_store *p)
{
    char *sql = cairn_sprintf(
        "BEGIN;"
        "SELECT pg_advisory_xact_lock(hashtext('cairn schema %s'));"
        "CREATE TABLE IF NOT EXISTS %s (key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL);"
        "CREATE SEQUENCE IF NOT EXISTS %s;"
        "CREATE TABLE IF NOT EXISTS %s (id bytea PRIMARY KEY, data bytea NOT NULL,"
        " gen bigint NOT NULL DEFAULT nextval('%s'))"
        " WITH (toast_tuple_target = 8160);"
        "ALTER TABLE %s ALTER COLUMN data SET STORAGE EXTERNAL;"
        "CREATE TABLE IF NOT EXISTS %s (name text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL);"
        "INSERT INTO %s (key, value) VALUES ('schema_version', '" PG_SCHEMA_VERSION "')"
        " ON CONFLICT (key) DO NOTHING;"
        "COMMIT",
        p->prefix, p->t_meta, p->t_gen, p->t_chunks, p->t_gen, p->t_chunks, p->t_refs, p->t_meta);
    FAIL_IF(!sql, CAIRN_ENOMEM, "out of memory");
    int rc = exec_script(p, sql, "creating the tables");
    free(sql);
    return rc;
}

/* Schema 1 to 2 (the chunks' generation): rows there are generation 0, older than any gc
 * record; new ones take the sequence's next value. One transaction, under the same lock as
 * creating: two processes opening at once migrate once. */
static int migrate_schema(pg_store *p)
{
    char *sql = cairn_sprintf(
        "BEGIN;"
        "SELECT pg_advisory_xact_lock(hashtext('cairn schema %s'));"
        "CREATE SEQUENCE IF NOT EXISTS %s;"
        "ALTER TABLE %s ADD COLUMN IF NOT EXISTS gen bigint NOT NULL DEFAULT 0;"
        "ALTER TABLE %s ALTER COLUMN gen SET DEFAULT nextval('%s');"
        "UPDATE %s SET value = '" PG_SCHEMA_VERSION "' WHERE key = 'schema_version';"
        "COMMIT",
        p->prefix, p->t_gen, p->t_chunks, p->t_chunks, p->t_gen, p->t_meta);
    FAIL_IF(!sql, CAIRN_ENOMEM, "out of memory");
    int rc = exec_script(p, sql, "migrating the tables from schema version "
                         PG_SCHEMA_VERSION_OLD " to " PG_SCHEMA_VERSION);
    free(sql);
    if (rc == CAIRN_OK)
        cairn_diag(CAIRN_LOG_INFO, "postgres store %s: migrated from schema version "
                   PG_SCHEMA_VERSION_OLD " to " PG_SCHEMA_VERSION " (chunks have a generation)",
                   p->location);
    return rc;
}

/* Checks the schema version row; creates the schema when missing and asked to. */
static int check_schema(pg_store *p, unsigned flags)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT value FROM %s WHERE key = 'schema_version'", p->t_meta);
    int rc;
    PGresult *r = pg_exec(p, "reading the schema version", sql, 0, NULL, NULL, 0, &rc);
    bool create = (flags & CAIRN_OPEN_CREATE) && !(flags & CAIRN_OPEN_READONLY);
    if (rc == CAIRN_ENOTFOUND && create) {
        cairn_error_clear();
        TRY(create_schema(p));
        r = pg_exec(p, "reading the schema version", sql, 0, NULL, NULL, 0, &rc);
    } else if (rc == CAIRN_ENOTFOUND) {
        return ERR(CAIRN_ENOTFOUND,
                   "postgres store %s holds no cairn schema (table %s is missing); create it "
                   "with 'cairn init %s'",
                   p->location, p->t_meta, p->location);
    } else if (rc == CAIRN_OK && create && (flags & CAIRN_OPEN_EXCL)) {
        PQclear(r);
        return ERR(CAIRN_EEXIST, "postgres store %s exists already (table %s)", p->location,
                   p->t_meta);
    }
    if (rc < 0) return rc;
    bool old = PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), PG_SCHEMA_VERSION_OLD) == 0;
    if (PQntuples(r) == 0) rc = CORRUPT("postgres store %s: table %s has no schema_version row",
                                        p->location, p->t_meta);
    else if (strcmp(PQgetvalue(r, 0, 0), PG_SCHEMA_VERSION) != 0 && !old)
        rc = ERR(CAIRN_EUNSUPPORTED,
                 "postgres store %s has schema version %s; this build of cairn reads versions "
                 PG_SCHEMA_VERSION_OLD " and " PG_SCHEMA_VERSION " only",
                 p->location, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rc == CAIRN_OK && old && !(flags & CAIRN_OPEN_READONLY)) rc = migrate_schema(p);
    else if (rc == CAIRN_OK && old) /* read-only: reads need no generation; gc is a write */
        p->base.caps &= ~CAIRN_STORE_CAP_GC_GEN;
    return rc;
}

int store_pg_url_check(const char *url)
{
    pg_store *p = cairn_calloc(1, sizeof *p);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory");
    int rc = pg_parse_url(p, url);
    parsed_free(p);
    return rc;
}

int store_pg_open(cairn_store **out, const char *url, unsigned flags)
{
    pg_store *p = cairn_calloc(1, sizeof *p);
    FAIL_IF(!p, CAIRN_ENOMEM, "out of memory opening a postgres store");
    pthread_mutex_init(&p->mu, NULL);
    p->readonly = (flags & CAIRN_OPEN_READONLY) != 0;
    p->base = (cairn_store){
        .version = CAIRN_STORE_VERSION,
        .caps = CAIRN_STORE_CAP_DURABLE | CAIRN_STORE_CAP_SHARED | CAIRN_STORE_CAP_REF_CAS |
                CAIRN_STORE_CAP_REMOTE | CAIRN_STORE_CAP_GC_GEN,
        .kind = "postgres",
        .get = pg_get,
        .put = pg_put,
        .has = pg_has,
        .del = pg_del,
        .list = pg_list,
        .flush = pg_flush,
        .ref_get = pg_ref_get,
        .ref_cas = pg_ref_cas,
        .ref_list = pg_ref_list,
        .stat = pg_stat,
        .close = pg_close,
        .get_many = pg_get_many,
        .has_many = pg_has_many,
        .put_many = pg_put_many,
        .gc_gen = pg_gc_gen,
        .set_candidates = pg_set_candidates,
        .del_older = pg_del_older,
    };
    int rc = pg_parse_url(p, url);
    p->base.location = p->location ? p->location : url;
    if (rc == CAIRN_OK && !(p->t_gen = cairn_sprintf("\"%sgen\"", p->prefix)))
        rc = ERR(CAIRN_ENOMEM, "out of memory");
    if (rc == CAIRN_OK) rc = pg_connect(p);
    if (rc == CAIRN_OK) rc = check_schema(p, flags);
    if (rc < 0) {
        pg_close(&p->base);
        return rc;
    }
    *out = &p->base;
    return CAIRN_OK;
}
