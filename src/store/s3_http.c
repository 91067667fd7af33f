/*
 * s3_http.c - the s3 store's HTTP layer: libcurl does the transfers and the SigV4 signing
 * (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"); curl multi keeps up to `parallel` requests in flight
 * on reused connections. Each request has its own deadline (timeout_ms from its first attempt)
 * and is retried within it, with exponential backoff and full jitter, on what a later attempt
 * can fix: connection failures and timeouts, 5xx, 429 and 503 SlowDown, and 409
 * ConditionalRequestConflict (a conditional write racing another on the same object).
 *
 * A session (a multi handle and its easy handles, which keep the connections) is taken from a
 * free list for each run, so that threads run requests at once without sharing a handle.
 */
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/s3_int.h"

#define SOCKETS_MAX 512 /* more than the connections a session keeps (parallel, at most 256) */

typedef struct s3_session {
    struct s3_session *next;
    CURLM *multi;
    CURL **easy;             /* conf->parallel handles */
    int fds[SOCKETS_MAX];    /* its open sockets; -1: none */
} s3_session;

struct s3_http {
    const s3_conf *conf;
    char *sigv4;             /* "aws:amz:REGION:s3" */
    char *userpwd;           /* "KEY:SECRET" */
    char *token_header;      /* "x-amz-security-token: ..." or NULL */
    pthread_mutex_t mu;
    s3_session *free_sessions;
    atomic_bool drop_conditions;
    atomic_uint_fast64_t requests, up, down;
    atomic_uint_fast64_t rng;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static double now_ms(void) { return clock_now() * 1000.0; }

int s3_http_new(s3_http **out, const s3_conf *conf)
{
    pthread_once(&curl_once, curl_init);
    FAIL_IF(curl_init_rc != CURLE_OK, CAIRN_EIO, "libcurl failed to initialise: %s",
            curl_easy_strerror(curl_init_rc));
    s3_http *h = cairn_calloc(1, sizeof *h);
    if (!h) return ERR(CAIRN_ENOMEM, "out of memory opening an s3 store");
    h->conf = conf;
    h->sigv4 = cairn_sprintf("aws:amz:%s:s3", conf->region);
    h->userpwd = cairn_sprintf("%s:%s", conf->access_key, conf->secret_key);
    if (conf->session_token)
        h->token_header = cairn_sprintf("x-amz-security-token: %s", conf->session_token);
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = (uint64_t)clock_wall_ns();
    atomic_init(&h->rng, seed | 1);
    pthread_mutex_init(&h->mu, NULL);
    if (!h->sigv4 || !h->userpwd || (conf->session_token && !h->token_header)) {
        s3_http_free(h);
        return ERR(CAIRN_ENOMEM, "out of memory opening an s3 store");
    }
    *out = h;
    return CAIRN_OK;
}

static void session_free(s3_session *ss, unsigned parallel)
{
    if (!ss) return;
    for (unsigned i = 0; i < parallel; i++)
        if (ss->easy[i]) curl_easy_cleanup(ss->easy[i]);
    if (ss->multi) curl_multi_cleanup(ss->multi);
    free(ss->easy);
    free(ss);
}

void s3_http_free(s3_http *h)
{
    if (!h) return;
    while (h->free_sessions) {
        s3_session *ss = h->free_sessions;
        h->free_sessions = ss->next;
        session_free(ss, h->conf->parallel);
    }
    pthread_mutex_destroy(&h->mu);
    free(h->sigv4);
    free(h->userpwd);
    free(h->token_header);
    free(h);
}

void s3_http_drop_conditions(s3_http *h, bool on) { atomic_store(&h->drop_conditions, on); }

void s3_http_counters(s3_http *h, uint64_t *requests, uint64_t *up, uint64_t *down)
{
    *requests = atomic_load(&h->requests);
    *up = atomic_load(&h->up);
    *down = atomic_load(&h->down);
}

static s3_session *session_take(s3_http *h)
{
    pthread_mutex_lock(&h->mu);
    s3_session *ss = h->free_sessions;
    if (ss) h->free_sessions = ss->next;
    pthread_mutex_unlock(&h->mu);
    if (ss) return ss;
    ss = cairn_calloc(1, sizeof *ss);
    if (!ss) return NULL;
    for (unsigned i = 0; i < SOCKETS_MAX; i++) ss->fds[i] = -1;
    ss->easy = cairn_calloc(h->conf->parallel, sizeof *ss->easy);
    ss->multi = curl_multi_init();
    bool ok = ss->easy && ss->multi;
    for (unsigned i = 0; ok && i < h->conf->parallel; i++) ok = (ss->easy[i] = curl_easy_init());
    if (!ok) {
        session_free(ss, h->conf->parallel);
        return NULL;
    }
    curl_multi_setopt(ss->multi, CURLMOPT_MAXCONNECTS, (long)h->conf->parallel);
    return ss;
}

static void session_give(s3_http *h, s3_session *ss)
{
    pthread_mutex_lock(&h->mu);
    ss->next = h->free_sessions;
    h->free_sessions = ss;
    pthread_mutex_unlock(&h->mu);
}

/* ---- one transfer ---- */

typedef struct xfer {
    s3_http *h;
    s3_session *ss;
    s3_req *r;
    struct curl_slist *headers;
    char *url;
} xfer;

/* radosgw (beast) writes a response's headers and body separately; with Nagle on its side and
 * delayed ACKs on ours, every GET on a reused connection waited 40 ms for the body (measured:
 * 47 ms a ranged GET, 1.7 ms a HEAD). Acknowledging at once when the status line arrives
 * removes the wait: 4.7 ms a ranged GET. The session's sockets are set, since curl does not say
 * which connection a transfer runs on while it runs. */
static void quick_ack(s3_session *ss)
{
    int one = 1;
    for (unsigned i = 0; i < SOCKETS_MAX; i++)
        if (ss->fds[i] >= 0) setsockopt(ss->fds[i], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

/* The session's sockets are remembered from their creation to their closing. */
static int on_socket(void *p, curl_socket_t fd, curlsocktype purpose)
{
    s3_session *ss = p;
    for (unsigned i = 0; purpose == CURLSOCKTYPE_IPCXN && i < SOCKETS_MAX; i++)
        if (ss->fds[i] < 0) {
            ss->fds[i] = fd;
            break;
        }
    return CURL_SOCKOPT_OK;
}

static int on_close(void *p, curl_socket_t fd)
{
    s3_session *ss = p;
    for (unsigned i = 0; i < SOCKETS_MAX; i++)
        if (ss->fds[i] == fd) ss->fds[i] = -1;
    return close(fd);
}

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
    xfer *x = p;
    size_t len = size * n;
    if (cairn_buf_append(&x->r->resp, data, len) != CAIRN_OK) return 0; /* curl: write error */
    atomic_fetch_add(&x->h->down, len);
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *p)
{
    xfer *x = p;
    size_t len = size * n;
    if (len > 5 && strncmp(data, "HTTP/", 5) == 0) quick_ack(x->ss);
    if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *v = data + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        if (vl < sizeof x->r->etag) {
            memcpy(x->r->etag, v, vl);
            x->r->etag[vl] = '\0';
        }
    }
    return len;
}

char *s3_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = cairn_malloc(3 * n + 1);
    if (!out) return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (plain) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static char *req_url(const s3_conf *c, const s3_req *r)
{
    char *obj = r->obj ? s3_encode(r->obj, true) : NULL;
    if (r->obj && !obj) return NULL;
    char *url = cairn_sprintf("%s/%s%s%s%s%s", c->endpoint, c->bucket, obj ? "/" : "",
                              obj ? obj : "", r->query ? "?" : "", r->query ? r->query : "");
    free(obj);
    return url;
}

static int xfer_setup(xfer *x, CURL *e)
{
    s3_http *h = x->h;
    const s3_conf *c = h->conf;
    s3_req *r = x->r;
    curl_easy_reset(e);
    x->url = req_url(c, r);
    if (!x->url) return ERR(CAIRN_ENOMEM, "out of memory building an s3 request");
    struct curl_slist *hd = NULL;
    char buf[160];
    hd = curl_slist_append(hd, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (strcmp(r->method, "PUT") == 0) /* (curl would say form data) */
        hd = curl_slist_append(hd, "Content-Type: application/octet-stream");
    if (h->token_header) hd = curl_slist_append(hd, h->token_header);
    if (!atomic_load(&h->drop_conditions)) {
        if (r->if_none_match) hd = curl_slist_append(hd, "If-None-Match: *");
        if (r->if_match) {
            snprintf(buf, sizeof buf, "If-Match: %s", r->if_match);
            hd = curl_slist_append(hd, buf);
        }
    }
    if (r->range) {
        (void)cairn_buf_reserve(&r->resp, r->len); /* one allocation (else on_body fails) */
        snprintf(buf, sizeof buf, "Range: bytes=%llu-%llu", (unsigned long long)r->off,
                 (unsigned long long)(r->off + r->len - 1));
        hd = curl_slist_append(hd, buf);
    }
    if (!hd) return ERR(CAIRN_ENOMEM, "out of memory building an s3 request");
    x->headers = hd;
    double left = r->deadline - now_ms();
    long timeout = left < 1 ? 1 : (long)left;
    long connect = (long)c->connect_timeout_ms < timeout ? (long)c->connect_timeout_ms : timeout;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, h->sigv4);
    curl_easy_setopt(e, CURLOPT_USERPWD, h->userpwd);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_socket);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, x->ss);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, x->ss);
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body_len ? (const char *)r->body : "");
        atomic_fetch_add(&h->up, r->body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    r->err[0] = '\0';
    r->etag[0] = '\0';
    r->resp.len = 0;
    r->status = 0;
    r->attempts++;
    atomic_fetch_add(&h->requests, 1);
    return CAIRN_OK;
}

static void xfer_done(xfer *x)
{
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->url);
    x->url = NULL;
}

void s3_req_code(const s3_req *r, char *out, size_t size)
{
    out[0] = '\0';
    if (!r->resp.len) return;
    const char *b = (const char *)r->resp.data, *end = b + r->resp.len;
    for (const char *p = b; p + 6 <= end; p++) {
        if (memcmp(p, "<Code>", 6) != 0) continue;
        const char *v = p + 6, *q = v;
        while (q < end && *q != '<') q++;
        size_t n = (size_t)(q - v) < size - 1 ? (size_t)(q - v) : size - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return;
    }
}

/* Whether another attempt could succeed. */
static bool retryable(const s3_req *r)
{
    if (r->curl_rc != CURLE_OK) {
        switch (r->curl_rc) {
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            return true;
        default:
            return false;
        }
    }
    if (r->status >= 500 || r->status == 429) return true;
    if (r->status == 409) {
        char code[64];
        s3_req_code(r, code, sizeof code);
        return strcmp(code, "ConditionalRequestConflict") == 0 ||
               strcmp(code, "OperationAborted") == 0;
    }
    return false;
}

static double backoff_ms(s3_http *h, unsigned attempt)
{
    double cap = S3_BACKOFF_BASE_MS * (double)(1u << (attempt < 16 ? attempt : 16));
    if (cap > S3_BACKOFF_CAP_MS) cap = S3_BACKOFF_CAP_MS;
    uint64_t x = atomic_fetch_add(&h->rng, 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return cap * (0.5 + 0.5 * (double)(x >> 11) / 9007199254740992.0); /* [cap/2, cap) */
}

int s3_http_run(s3_http *h, s3_req *reqs, size_t n)
{
    if (!n) return CAIRN_OK;
    s3_session *ss = session_take(h);
    if (!ss) return ERR(CAIRN_ENOMEM, "out of memory for s3 connections");
    unsigned par = h->conf->parallel;
    xfer *xs = cairn_calloc(par, sizeof *xs);
    size_t *waiting = cairn_calloc(n, sizeof *waiting); /* requests waiting for a retry */
    if (!xs || !waiting) {
        free(xs);
        free(waiting);
        session_give(h, ss);
        return ERR(CAIRN_ENOMEM, "out of memory running s3 requests");
    }
    size_t next = 0, nwait = 0, running = 0, done = 0;
    int rc = CAIRN_OK;
    double t0 = now_ms();
    for (size_t i = 0; i < n; i++) {
        reqs[i].attempts = 0;
        reqs[i].deadline = 0;
    }
    while (done < n && rc == CAIRN_OK) {
        /* start what can start: first retries that are due, then new requests */
        for (unsigned slot = 0; slot < par && rc == CAIRN_OK; slot++) {
            if (xs[slot].r) continue;
            s3_req *r = NULL;
            double t = now_ms();
            for (size_t w = 0; w < nwait; w++)
                if (reqs[waiting[w]].retry_at <= t) {
                    r = &reqs[waiting[w]];
                    waiting[w] = waiting[--nwait];
                    break;
                }
            if (!r && next < n) {
                r = &reqs[next++];
                r->deadline = t + h->conf->timeout_ms;
            }
            if (!r) break;
            xs[slot] = (xfer){ .h = h, .r = r, .ss = ss };
            rc = xfer_setup(&xs[slot], ss->easy[slot]);
            if (rc == CAIRN_OK) {
                curl_multi_add_handle(ss->multi, ss->easy[slot]);
                running++;
            }
        }
        if (rc != CAIRN_OK) break;
        int still = 0;
        curl_multi_perform(ss->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(ss->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            s3_req *r = x->r;
            r->curl_rc = m->data.result;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
            if (r->curl_rc != CURLE_OK) r->status = 0;
            curl_multi_remove_handle(ss->multi, m->easy_handle);
            xfer_done(x);
            x->r = NULL;
            running--;
            double t = now_ms();
            if (retryable(r) && r->attempts <= h->conf->retries) {
                double wait = backoff_ms(h, r->attempts);
                if (t + wait + 1 < r->deadline) {
                    r->retry_at = t + wait;
                    waiting[nwait++] = (size_t)(r - reqs);
                    continue;
                }
            }
            r->elapsed_ms = t - t0;
            done++;
        }
        if (done == n) break;
        /* wait for traffic, or for the next retry to be due */
        int wait_ms = 1000;
        if (nwait) {
            double t = now_ms(), soonest = 1e18;
            for (size_t w = 0; w < nwait; w++)
                if (reqs[waiting[w]].retry_at < soonest) soonest = reqs[waiting[w]].retry_at;
            wait_ms = soonest <= t ? 0 : (int)(soonest - t) + 1;
            if (wait_ms > 1000) wait_ms = 1000;
        }
        if (running) curl_multi_poll(ss->multi, NULL, 0, wait_ms, NULL);
        else if (wait_ms > 0 && next >= n) {
            struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    if (rc != CAIRN_OK) { /* out of memory: take back what runs */
        for (unsigned slot = 0; slot < par; slot++)
            if (xs[slot].r) {
                curl_multi_remove_handle(ss->multi, ss->easy[slot]);
                xfer_done(&xs[slot]);
            }
    }
    free(xs);
    free(waiting);
    session_give(h, ss);
    return rc;
}

/* ---- results ---- */

int s3_req_rc(const s3_conf *c, const s3_req *r)
{
    const char *obj = r->obj ? r->obj : "";
    if (r->status == 0) {
        if (r->curl_rc == CURLE_OPERATION_TIMEDOUT)
            return ERR(CAIRN_EIO,
                       "s3 %s of '%s' in bucket '%s': no answer from %s within %u ms "
                       "(%u attempts; set timeout_ms= in the URL to wait longer): %s",
                       r->method, obj, c->bucket, c->endpoint, c->timeout_ms, r->attempts,
                       r->err[0] ? r->err : curl_easy_strerror((CURLcode)r->curl_rc));
        return ERR(CAIRN_EIO,
                   "s3 %s of '%s' in bucket '%s': cannot reach endpoint %s (%u attempts): %s; "
                   "check that the server runs and the endpoint= in the URL",
                   r->method, obj, c->bucket, c->endpoint, r->attempts,
                   r->err[0] ? r->err : curl_easy_strerror((CURLcode)r->curl_rc));
    }
    if (r->status >= 200 && r->status < 300) return CAIRN_OK;
    char code[64];
    s3_req_code(r, code, sizeof code);
    switch (r->status) {
    case 404:
        if (strcmp(code, "NoSuchBucket") == 0)
            return ERR(CAIRN_ENOTFOUND,
                       "bucket '%s' does not exist at %s: create it with 'cairn init %s' (or "
                       "your S3 tools)",
                       c->bucket, c->endpoint, c->url);
        return ERR(CAIRN_ENOTFOUND, "object '%s' does not exist in bucket '%s' at %s", obj,
                   c->bucket, c->endpoint);
    case 412:
        return ERR(CAIRN_ECONFLICT,
                   "object '%s' in bucket '%s' changed concurrently (conditional %s failed)",
                   obj, c->bucket, r->method);
    case 403:
        return ERR(CAIRN_EAUTH,
                   "access denied (%s) to bucket '%s' at %s for access key id '%s': check "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the AWS_PROFILE in "
                   "~/.aws/credentials) and the bucket's permissions",
                   code[0] ? code : "403 Forbidden", c->bucket, c->endpoint, c->access_key);
    case 409:
        return ERR(CAIRN_ECONFLICT, "s3 %s of '%s' in bucket '%s' at %s: conflict (%s)",
                   r->method, obj, c->bucket, c->endpoint, code[0] ? code : "409");
    case 416:
        return ERR(CAIRN_ECORRUPT,
                   "object '%s' in bucket '%s' is shorter than its index says (range %llu+%llu "
                   "not satisfiable): it was overwritten or truncated",
                   obj, c->bucket, (unsigned long long)r->off, (unsigned long long)r->len);
    default:
        return ERR(CAIRN_EIO, "s3 %s of '%s' in bucket '%s' at %s failed: HTTP %ld %s%s", r->method,
                   obj, c->bucket, c->endpoint, r->status, code,
                   r->status >= 500 || r->status == 429 ? " (after retries)" : "");
    }
}

void s3_req_reset(s3_req *r)
{
    cairn_buf keep = r->resp;
    free(r->obj);
    free(r->query);
    memset(r, 0, sizeof *r);
    keep.len = 0;
    r->resp = keep;
}

void s3_req_dispose(s3_req *r)
{
    free(r->obj);
    free(r->query);
    cairn_buf_dispose(&r->resp);
    memset(r, 0, sizeof *r);
}

int s3_http_one(s3_http *h, const s3_conf *c, s3_req *r)
{
    TRY(s3_http_run(h, r, 1));
    return s3_req_rc(c, r);
}
