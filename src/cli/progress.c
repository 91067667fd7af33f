/*
 * progress.c - the progress line of `cairn load` (see progress.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define CHECK_EVERY 1024 /* lines between clock reads */
#define MIB (1024.0 * 1024.0)

void progress_start(progress *p, const char *table, uint64_t total)
{
    p->on = isatty(STDERR_FILENO) == 1;
    p->drawn = false;
    p->last = cli_now();
    p->total = total;
    p->table = table;
}

void progress_read(progress *p, uint64_t bytes, uint64_t lines)
{
    if (!p->on || lines % CHECK_EVERY) return;
    double now = cli_now();
    if (now - p->last < 1.0 / PROGRESS_HZ) return;
    p->last = now;
    p->drawn = true;
    if (p->total)
        fprintf(stderr, "\r\033[Kloading %s: %3.0f%% (%.1f of %.1f MiB, %" PRIu64 " lines)",
                p->table, 100.0 * (double)bytes / (double)p->total, (double)bytes / MIB,
                (double)p->total / MIB, lines);
    else
        fprintf(stderr, "\r\033[Kloading %s: %.1f MiB, %" PRIu64 " lines", p->table,
                (double)bytes / MIB, lines);
}

void progress_commit(progress *p, uint64_t keys)
{
    if (!p->on) return;
    p->drawn = true;
    fprintf(stderr, "\r\033[Kloading %s: committing %" PRIu64 " keys...", p->table, keys);
}

void progress_transfer_start(progress *p, const char *what) { progress_start(p, what, 0); }

void progress_transfer(progress *p, uint64_t chunks, uint64_t bytes, double seconds)
{
    if (!p->on) return;
    p->drawn = true;
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " chunks, %.1f MiB, %.1f MiB/s", p->table, chunks,
            (double)bytes / MIB, seconds > 0 ? (double)bytes / MIB / seconds : 0.0);
}

void progress_end(progress *p)
{
    if (p->on && p->drawn) fputs("\r\033[K", stderr);
    p->drawn = false;
}
