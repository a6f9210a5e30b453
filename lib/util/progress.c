/* progress.c — terminal progress bar or periodic plain lines on stderr. */
#include "util/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress_t *p, const char *label, int64_t total, int quiet)
{
    p->label = label;
    p->total = total;
    p->first_done = 0;
    p->start_time = p->last_print = time_now();
    p->is_tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
}

static void progress_print(progress_t *p, int64_t done, const char *extra, int final)
{
    double elapsed = time_now() - p->start_time;
    double rate = elapsed > 0 ? (double)(done - p->first_done) / elapsed : 0;
    char bar[32] = "";
    if (p->total > 0) {
        int width = 24, filled = (int)(width * (double)done / (double)p->total);
        if (filled > width) filled = width;
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
    }
    if (p->total > 0)
        fprintf(stderr, "%s%s [%s] %lld/%lld %.1f/s %s%s", p->is_tty ? "\r" : "", p->label, bar,
                (long long)done, (long long)p->total, rate, extra ? extra : "", p->is_tty && !final ? "\033[K" : "\n");
    else
        fprintf(stderr, "%s%s %lld %.1f/s %s%s", p->is_tty ? "\r" : "", p->label, (long long)done, rate,
                extra ? extra : "", p->is_tty && !final ? "\033[K" : "\n");
}

void progress_update(progress_t *p, int64_t done, const char *extra)
{
    if (p->quiet) return;
    double now = time_now();
    double interval = p->is_tty ? 0.2 : 10.0;
    if (now - p->last_print < interval) return;
    p->last_print = now;
    progress_print(p, done, extra, 0);
}

void progress_finish(progress_t *p, int64_t done, const char *extra)
{
    if (p->quiet) return;
    progress_print(p, done, extra, 1);
}
