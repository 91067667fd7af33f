/*
 * rev.c - turning revision strings into commit ids (the grammar is in history.h): a base name
 * (HEAD, a branch, a tag, an id or a unique id prefix), then suffixes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "refs.h"

#define PREFIX_MIN 4
/* Times are i64 nanoseconds since 1970: whole seconds in [-TIME_SECS_MAX, TIME_SECS_MAX] fit
 * (1677-09-21 to 2262-04-11). */
#define NS_PER_SEC 1000000000LL
#define TIME_SECS_MAX (INT64_MAX / NS_PER_SEC - 1)
#define SECS_PER_DAY 86400LL
#define TIME_FORMS "2026-11-21, 2026-11-21T15:04:05Z, 2026-11-21 15:04:05.5+01:00, @SECONDS, " \
                   "SECONDS, now, yesterday, 3 hours ago, 2 days ago, last week"

/* ---- times: one grammar for @{TIME} and every time the CLI reads (cairn_time_parse()) ---- */

static int not_a_time(const char *s, const char *why)
{
    return ERR(CAIRN_EINVAL, "'%s' is not a time%s%s; use one of: " TIME_FORMS " (times without "
               "an offset are UTC)", s, why ? ": " : "", why ? why : "");
}

static int time_out_of_range(const char *s)
{
    return ERR(CAIRN_EINVAL, "'%s' is out of range: times run from 1677-09-21 to 2262-04-11 "
               "(nanoseconds since 1970 in 64 bits)", s);
}

static int days_in_month(int y, int m)
{
    static const int DAYS[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return DAYS[m - 1] + (m == 2 && leap);
}

/* Exactly n decimal digits at *p; advances past them. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool skip(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p)) return false;
    (*p)++;
    return true;
}

/* [T or space]HH:MM[:SS[.fraction]] after a date: seconds into the day and nanoseconds. */
static int parse_clock(const char *s, const char **p, int64_t *secs, int64_t *ns)
{
    int h, mi, sec = 0;
    if (!digits(p, 2, &h) || !skip(p, ":") || !digits(p, 2, &mi))
        return not_a_time(s, "the time of day is HH:MM or HH:MM:SS");
    if (skip(p, ":") && !digits(p, 2, &sec)) return not_a_time(s, "seconds are two digits");
    if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second, counted as the next minute's first */
        return not_a_time(s, "no such time of day");
    *ns = 0;
    if (skip(p, ".")) {
        const char *start = *p;
        for (int64_t scale = NS_PER_SEC / 10; isdigit((unsigned char)**p); (*p)++, scale /= 10)
            *ns += (**p - '0') * scale; /* digits past nanoseconds add 0 */
        if (*p == start) return not_a_time(s, "a '.' needs digits after it");
    }
    *secs = h * 3600 + mi * 60 + sec;
    return CAIRN_OK;
}

/* Z, or +HH:MM / -HH:MM (also +HHMM, +HH): seconds east of UTC. */
static int parse_offset(const char *s, const char **p, int64_t *out)
{
    *out = 0;
    if (skip(p, "Zz") || !**p) return CAIRN_OK;
    int sign = **p == '-' ? -1 : 1, oh, om = 0;
    if (!skip(p, "+-") || !digits(p, 2, &oh)) return not_a_time(s, "unexpected text after the time");
    bool colon = skip(p, ":");
    if ((colon || isdigit((unsigned char)**p)) && !digits(p, 2, &om))
        return not_a_time(s, "the offset from UTC is +HH:MM or -HH:MM");
    if (oh > 23 || om > 59) return not_a_time(s, "no such offset from UTC");
    *out = sign * (oh * 3600 + om * 60);
    return CAIRN_OK;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.F]]][Z|+HH:MM|-HH:MM]: seconds since 1970 and nanoseconds. */
static int parse_iso(const char *s, int64_t *secs, int64_t *ns)
{
    const char *p = s;
    int y, mo, d;
    if (!digits(&p, 4, &y) || !skip(&p, "-") || !digits(&p, 2, &mo) || !skip(&p, "-") ||
        !digits(&p, 2, &d))
        return not_a_time(s, NULL);
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return not_a_time(s, "no such date");
    int64_t clock = 0, offset = 0;
    *ns = 0;
    if (skip(&p, "Tt ")) TRY(parse_clock(s, &p, &clock, ns));
    TRY(parse_offset(s, &p, &offset));
    if (*p) return not_a_time(s, "unexpected text after the time");
    *secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * SECS_PER_DAY + clock - offset;
    return CAIRN_OK;
}

/* [-]digits as whole seconds. */
static int parse_seconds(const char *s, const char *digits_at, int64_t *secs)
{
    const char *d = digits_at + (*digits_at == '-');
    if (!isdigit((unsigned char)*d)) return not_a_time(s, NULL);
    char *end;
    errno = 0;
    long long v = strtoll(digits_at, &end, 10);
    if (*end) return not_a_time(s, NULL);
    if (errno == ERANGE || v > TIME_SECS_MAX || v < -TIME_SECS_MAX) return time_out_of_range(s);
    *secs = v;
    return CAIRN_OK;
}

/* Seconds in a unit of a relative time ("hours"), or 0. Months and years are 30 and 365 days,
 * as approximate as the words. */
static int64_t unit_seconds(const char *w, size_t n)
{
    static const struct { const char *name; int64_t secs; } UNITS[] = {
        { "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", SECS_PER_DAY },
        { "week", 7 * SECS_PER_DAY }, { "month", 30 * SECS_PER_DAY },
        { "year", 365 * SECS_PER_DAY },
    };
    if (n > 1 && w[n - 1] == 's') n--; /* plural */
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++)
        if (strlen(UNITS[i].name) == n && strncmp(UNITS[i].name, w, n) == 0) return UNITS[i].secs;
    return 0;
}

/* The words of a relative time, separated by spaces, dots or underscores as git allows
 * ("2.days.ago"): now, yesterday, N UNIT ago, last UNIT. *ago gets the seconds back from now. */
static int parse_relative(const char *s, int64_t *ago)
{
    char w[4][16];
    int n = 0;
    for (const char *p = s; *p && n <= 3;) {
        size_t len = strcspn(p, " ._");
        if (len == 0 || len >= sizeof w[0]) return not_a_time(s, NULL);
        for (size_t i = 0; i < len; i++) w[n][i] = (char)tolower((unsigned char)p[i]);
        w[n++][len] = '\0';
        p += len;
        while (*p && strchr(" ._", *p)) p++;
    }
    *ago = 0;
    if (n == 1 && strcmp(w[0], "now") == 0) return CAIRN_OK;
    if (n == 1 && strcmp(w[0], "yesterday") == 0) *ago = SECS_PER_DAY;
    else if (n == 2 && strcmp(w[0], "last") == 0) *ago = unit_seconds(w[1], strlen(w[1]));
    else if (n == 3 && strcmp(w[2], "ago") == 0 && w[0][strspn(w[0], "0123456789")] == '\0') {
        int64_t unit = unit_seconds(w[1], strlen(w[1]));
        errno = 0;
        long long count = strtoll(w[0], NULL, 10);
        if (errno == ERANGE || (unit && count > TIME_SECS_MAX / unit)) return time_out_of_range(s);
        *ago = count * unit;
        if (!unit) return not_a_time(s, "unknown unit (seconds, minutes, hours, days, weeks, "
                                     "months, years)");
        return CAIRN_OK;
    }
    return *ago ? CAIRN_OK : not_a_time(s, NULL);
}

int cairn_time_parse(int64_t *out, const char *text, int64_t now_ns)
{
    FAIL_IF(!out || !text, CAIRN_EINVAL, "cairn_time_parse needs a result and a text");
    int64_t secs = 0, ns = 0;
    if (!*text) return not_a_time(text, "it is empty");
    if (text[0] == '@') {
        TRY(parse_seconds(text, text + 1, &secs));
    } else if (isdigit((unsigned char)text[0]) && text[strspn(text, "0123456789")] == '\0') {
        TRY(parse_seconds(text, text, &secs));
    } else if (strspn(text, "0123456789") == 4 && text[4] == '-') {
        TRY(parse_iso(text, &secs, &ns));
    } else {
        int64_t ago;
        TRY(parse_relative(text, &ago));
        int64_t now = now_ns ? now_ns : clock_wall_ns();
        secs = now / NS_PER_SEC - ago;
        ns = now % NS_PER_SEC;
    }
    if (secs > TIME_SECS_MAX || secs < -TIME_SECS_MAX) return time_out_of_range(text);
    *out = secs * NS_PER_SEC + ns;
    return CAIRN_OK;
}

int history_parse_time(const char *s, int64_t *out) { return cairn_time_parse(out, s, 0); }

/* ---- id prefixes: matched against every commit reachable from the repository's refs ---- */

typedef struct prefix_search {
    const char *prefix;
    size_t len;
    cairn_id found;
    size_t matches;
} prefix_search;

static int match_prefix(const cairn_id *id, const commit *c, void *payload)
{
    (void)c;
    prefix_search *ps = payload;
    char hex[CAIRN_ID_HEX_SIZE];
    cairn_id_to_hex(hex, id);
    if (strncmp(hex, ps->prefix, ps->len) == 0) {
        if (ps->matches++ == 0) ps->found = *id;
    }
    return 0;
}

typedef struct starts {
    cairn_id *v;
    size_t n, cap;
    repo *r;
} starts;

static int add_start(starts *s, const cairn_id *id)
{
    if (id_is_zero(id)) return CAIRN_OK;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        cairn_id *nv = cairn_realloc(s->v, s->cap * sizeof *nv);
        if (!nv) return ERR(CAIRN_ENOMEM, "out of memory");
        s->v = nv;
    }
    s->v[s->n++] = *id;
    return CAIRN_OK;
}

static int collect_ref(const char *name, const void *val, size_t len, void *payload)
{
    starts *s = payload;
    (void)val;
    (void)len;
    cairn_id id;
    if (strncmp(name, "heads/", 6) == 0 || strncmp(name, "tags/", 5) == 0 ||
        strncmp(name, "remotes/", 8) == 0) {
        if (refs_target(s->r, name, &id) == CAIRN_OK) return add_start(s, &id);
    } else if (strncmp(name, "working/", 8) == 0) {
        rootrec rec;
        if (refs_read_id(s->r, name, &id) == CAIRN_OK && rootrec_load(s->r, &rec, &id) == CAIRN_OK) {
            TRY(add_start(s, &rec.base_commit));
            for (uint8_t i = 0; i < rec.nmerge; i++) TRY(add_start(s, &rec.merge[i]));
        }
    }
    return CAIRN_OK;
}

static int resolve_prefix(repo *r, const char *prefix, size_t len, cairn_id *out)
{
    starts s = { NULL, 0, 0, r };
    int rc = r->store->ref_list(r->store, "", collect_ref, &s);
    cairn_id head;
    char *branch = NULL;
    if (rc == CAIRN_OK && refs_head(r, &branch, &head) == CAIRN_OK && !branch)
        rc = add_start(&s, &head);
    free(branch);
    prefix_search ps = { prefix, len, { { 0 } }, 0 };
    if (rc == CAIRN_OK) rc = history_walk(r, s.v, s.n, match_prefix, &ps);
    free(s.v);
    TRY(rc);
    FAIL_IF(ps.matches == 0, CAIRN_ENOTFOUND, "no commit, branch or tag '%.*s' in %s",
            (int)len, prefix, r->url);
    FAIL_IF(ps.matches > 1, CAIRN_EINVAL,
            "'%.*s' is ambiguous: %zu commits start with it; give more digits", (int)len, prefix,
            ps.matches);
    *out = ps.found;
    return CAIRN_OK;
}

/* ---- the base name ---- */

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* name[0..64) as the full id of a commit: CAIRN_ENOTFOUND when no such commit is stored, and
 * any other failure (damage, I/O) as it came. */
static int full_id(repo *r, const char *name, cairn_id *out)
{
    char hex[CAIRN_ID_HEX_SIZE];
    memcpy(hex, name, 64);
    hex[64] = '\0';
    TRY(cairn_id_from_hex(out, hex));
    commit c; /* it must be a commit */
    TRY(history_load(r, out, &c));
    commit_dispose(&c);
    return CAIRN_OK;
}

/* Resolves name[0..len) to a ref ("heads/X", "tags/X") or a commit. *out_ref gets the ref name
 * when it was one (caller frees), for @{...}. */
static int resolve_base(repo *r, const char *name, size_t len, cairn_id *out, char **out_ref)
{
    *out_ref = NULL;
    char buf[BRANCH_MAX + 16];
    FAIL_IF(len == 0 || len > BRANCH_MAX, CAIRN_EINVAL, "'%.*s' is not a revision", (int)len, name);
    /* A full commit id names that commit before any ref is asked (git takes a full object name
     * so too): ids are what diff, log and programs pass around, and each ref asked is a file
     * opened (three namespaces: two thirds of a small diff's time went into not finding a
     * branch, tag or remote-tracking ref named like the id). A ref with such a name is still
     * found when no commit has that id. */
    if (len == 64 && all_hex(name, len)) {
        int rc = full_id(r, name, out);
        if (rc != CAIRN_ENOTFOUND) return rc; /* the commit, or damage reading it: said as such */
        cairn_error_clear();
    }
    if (len == 4 && memcmp(name, "HEAD", 4) == 0) {
        char *branch;
        TRY(refs_head(r, &branch, out));
        if (!branch) return CAIRN_OK;
        snprintf(buf, sizeof buf, "heads/%s", branch);
        free(branch);
        int rc = refs_target(r, buf, out);
        if (rc == CAIRN_ENOTFOUND)
            return ERR(CAIRN_ENOTFOUND, "HEAD is on branch '%s', which has no commits yet", buf + 6);
        if (rc == CAIRN_OK) *out_ref = cairn_strdup(buf);
        return rc;
    }
    /* as given (heads/X, tags/X, remotes/R/X), then a branch, a tag, a remote-tracking ref */
    const char *tries[4] = { "", "heads/", "tags/", "remotes/" };
    for (int t = 0; t < 4; t++) {
        if (t == 0 && !((len > 6 && memcmp(name, "heads/", 6) == 0) ||
                        (len > 5 && memcmp(name, "tags/", 5) == 0) ||
                        (len > 8 && memcmp(name, "remotes/", 8) == 0)))
            continue;
        snprintf(buf, sizeof buf, "%s%.*s", tries[t], (int)len, name);
        int rc = refs_target(r, buf, out);
        if (rc == CAIRN_OK && t == 1) { /* a branch: is there a tag of the same name too? */
            char tag[BRANCH_MAX + 8];
            cairn_id tid;
            snprintf(tag, sizeof tag, "tags/%.*s", (int)len, name);
            int trc = refs_target(r, tag, &tid);
            if (trc == CAIRN_OK)
                return ERR(CAIRN_EINVAL, "'%.*s' is both a branch and a tag: say heads/%.*s or "
                           "tags/%.*s", (int)len, name, (int)len, name, (int)len, name);
            if (trc != CAIRN_ENOTFOUND && trc != CAIRN_EINVAL) return trc;
        }
        if (rc == CAIRN_OK) {
            *out_ref = cairn_strdup(buf);
            return CAIRN_OK;
        }
        if (rc != CAIRN_ENOTFOUND && rc != CAIRN_EINVAL) return rc;
    }
    if (len == 64 && all_hex(name, len)) return full_id(r, name, out); /* (its message again) */
    if (len >= PREFIX_MIN && all_hex(name, len)) {
        char lower[65];
        for (size_t i = 0; i < len; i++) lower[i] = (char)tolower((unsigned char)name[i]);
        return resolve_prefix(r, lower, len, out);
    }
    return ERR(CAIRN_ENOTFOUND, "no branch, tag or commit '%.*s' in %s", (int)len, name, r->url);
}

/* ---- suffixes ---- */

static int nth_parent(repo *r, cairn_id *id, unsigned n, const char *rev)
{
    commit c;
    TRY(history_load(r, id, &c));
    int rc = CAIRN_OK;
    if (n == 0 || n > c.nparents)
        rc = ERR(CAIRN_ENOTFOUND, "'%s': the commit has %zu parent(s), not a parent %u", rev,
                 c.nparents, n);
    else
        *id = c.parents[n - 1];
    commit_dispose(&c);
    return rc;
}

/* The failure of ref_at when a reflog of moves + 1 entries, the oldest made at first (ns), does
 * not reach back far enough; the ref is named as the revision rev names it. */
static int reflog_too_short(const char *rev, long back, long moves, int64_t first)
{
    int n = (int)strcspn(rev, "@");
    if (back >= 0)
        return ERR(CAIRN_ENOTFOUND, "'%s': the reflog of %.*s has %ld entr%s (@{0} to @{%ld}; "
                   "cairn reflog lists them)", rev, n, rev, moves + 1, moves ? "ies" : "y", moves);
    time_t t = (time_t)(first / 1000000000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ERR(CAIRN_ENOTFOUND, "'%s': %.*s did not exist then: its reflog starts at %s", rev, n,
               rev, when);
}

/* Where ref was at time `when` (newest entry at or before it), or `back` moves ago. */
static int ref_at(repo *r, const char *ref, int64_t when, long back, cairn_id *out, const char *rev)
{
    cairn_id eid;
    reflog_entry e;
    TRY(refs_read(r, ref, &eid, &e));
    for (long moves = 0;; moves++) {
        bool hit = back >= 0 ? moves == back : e.time <= when;
        if (hit) {
            *out = e.new_target;
            reflog_dispose(&e);
            return CAIRN_OK;
        }
        cairn_id prev = e.prev;
        int64_t first = e.time;
        reflog_dispose(&e);
        if (id_is_zero(&prev)) return reflog_too_short(rev, back, moves, first);
        chunk *c;
        TRY(cs_get(&r->cs, &c, &prev));
        int rc = reflog_decode(&e, c->data, c->len);
        chunk_release(c);
        TRY(rc);
    }
}

int history_resolve(repo *r, const char *rev, cairn_id *out)
{
    FAIL_IF(!rev || !*rev, CAIRN_EINVAL, "empty revision");
    size_t base_len = strcspn(rev, "~^@");
    char *ref = NULL;
    cairn_id id;
    int rc = resolve_base(r, rev, base_len, &id, &ref);
    const char *p = rev + base_len;
    while (rc == CAIRN_OK && *p) {
        if (*p == '@') {
            const char *close = strchr(p, '}');
            if (p[1] != '{' || !close || !ref) {
                rc = ERR(CAIRN_EINVAL, "'%s': @{...} follows a branch or tag name", rev);
                break;
            }
            char inner[64];
            snprintf(inner, sizeof inner, "%.*s", (int)(close - p - 2), p + 2);
            size_t ndig = strspn(inner, "0123456789");
            int64_t when = 0;
            if (*inner && !inner[ndig]) { /* @{N}: N moves back */
                errno = 0;
                long back = strtol(inner, NULL, 10);
                rc = errno == ERANGE ? ERR(CAIRN_EINVAL, "'%s': %s moves back is too many", rev,
                                           inner)
                                     : ref_at(r, ref, 0, back, &id, rev);
            } else if (inner[0] == '-' && isdigit((unsigned char)inner[1]))
                rc = ERR(CAIRN_EINVAL, "'%s': @{N} counts moves back and cannot be negative; for a "
                         "time use @{@SECONDS}, an ISO 8601 date or @{2 days ago}", rev);
            else if ((rc = history_parse_time(inner, &when)) == CAIRN_OK)
                rc = ref_at(r, ref, when, -1, &id, rev);
            p = close + 1;
        } else {
            char op = *p++;
            char *end = (char *)p;
            unsigned long n = 1;
            if (isdigit((unsigned char)*p)) {
                errno = 0;
                n = strtoul(p, &end, 10);
                if (errno == ERANGE || n > UINT_MAX) {
                    rc = ERR(CAIRN_EINVAL, "'%s': the count after '%c' is too large", rev, op);
                    break;
                }
            } else if (*p && !strchr("~^@", *p)) {
                rc = ERR(CAIRN_EINVAL, "'%s': '%c' takes a count of 0 or more digits (%c, %c2), "
                         "not '%s'", rev, op, op, op, p);
                break;
            }
            p = end;
            if (op == '~')
                for (unsigned long i = 0; rc == CAIRN_OK && i < n; i++) rc = nth_parent(r, &id, 1, rev);
            else
                rc = nth_parent(r, &id, (unsigned)n, rev);
        }
        free(ref);
        ref = NULL;
    }
    free(ref);
    if (rc == CAIRN_OK) *out = id;
    return rc;
}
