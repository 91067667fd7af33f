/*
 * when.c - times out (see when.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "when.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

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

