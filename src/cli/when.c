/*
 * when.c - times in and out (see when.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "when.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define S_PER_DAY 86400LL
#define MAX_UNIX_DIGITS 11 /* a Unix time in seconds within the range of 64-bit nanoseconds */

void when_format_ms(char out[WHEN_MS_SIZE], int64_t ns)
{
    int64_t s = ns / NS_PER_S, rem = ns % NS_PER_S;
    if (rem < 0) { /* floor, so that times before 1970 name the second they fall in */
        s--;
        rem += NS_PER_S;
    }
    time_t t = (time_t)s;
    struct tm tm;
    char day[20]; /* "2026-11-21T10:00:00" */
    if (!gmtime_r(&t, &tm) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
        snprintf(out, WHEN_MS_SIZE, "@%lld", (long long)s);
    else
        snprintf(out, WHEN_MS_SIZE, "%s.%03dZ", day, (int)(rem / NS_PER_MS));
}

/* Days since 1970-01-01 of a date in the proleptic Gregorian calendar (after Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int DAYS[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return DAYS[m - 1] + (m == 2 && leap);
}

/* Reads exactly n decimal digits at *p; advances *p past them. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Skips one character of set at *p. */
static int expect(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p)) return -1;
    (*p)++;
    return 0;
}

/* "2026-11-21T10:00:00" as seconds since the epoch (as if it were UTC). */
static int parse_date_time(int64_t *out, const char **p)
{
    int y, mo, d, h, mi, s;
    if (digits(p, 4, &y) || expect(p, "-") || digits(p, 2, &mo) || expect(p, "-") ||
        digits(p, 2, &d) || expect(p, "Tt") || digits(p, 2, &h) || expect(p, ":") ||
        digits(p, 2, &mi) || expect(p, ":") || digits(p, 2, &s))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
        return -1; /* (60: a leap second, which counts as the next minute's first) */
    *out = days_from_civil(y, mo, d) * S_PER_DAY + h * 3600 + mi * 60 + s;
    return 0;
}

/* ".123456789" (any number of digits, at least one; those past nanoseconds are ignored). */
static int parse_fraction(int64_t *out, const char **p)
{
    *out = 0;
    if (**p != '.') return 0;
    (*p)++;
    const char *start = *p;
    for (int64_t scale = NS_PER_S / 10; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
        *out += (**p - '0') * scale;
    return *p > start ? 0 : -1;
}

/* "Z", or "+HH:MM" / "-HH:MM": the offset of local time from UTC, in seconds. */
static int parse_offset(int64_t *out, const char **p)
{
    *out = 0;
    if (expect(p, "Zz") == 0) return 0;
    int sign = **p == '-' ? -1 : 1, h, m;
    if (expect(p, "+-") || digits(p, 2, &h) || expect(p, ":") || digits(p, 2, &m) || h > 23 ||
        m > 59)
        return -1;
    *out = sign * (h * 3600 + m * 60);
    return 0;
}

static int parse_rfc3339(int64_t *out_s, int64_t *out_ns, const char *s)
{
    int64_t secs, frac, offset;
    if (parse_date_time(&secs, &s) || parse_fraction(&frac, &s) || parse_offset(&offset, &s) ||
        *s)
        return -1;
    *out_s = secs - offset;
    *out_ns = frac;
    return 0;
}

static int parse_unix(int64_t *out_s, const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > MAX_UNIX_DIGITS || s[n]) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
    *out_s = v;
    return 0;
}

int when_parse(int64_t *out, const char *s)
{
    int64_t secs, frac = 0;
    if (parse_unix(&secs, s) != 0 && parse_rfc3339(&secs, &frac, s) != 0) return -1;
    if (secs >= INT64_MAX / NS_PER_S || secs <= INT64_MIN / NS_PER_S) return -1;
    *out = secs * NS_PER_S + frac;
    return 0;
}
