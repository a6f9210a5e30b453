/* progress.h — progress on stderr: a redrawn bar when stderr is a terminal, a plain line every
 * few seconds otherwise (logs stay readable). */
#ifndef ILT_UTIL_PROGRESS_H
#define ILT_UTIL_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    int64_t total;      /* 0 when unknown */
    int64_t first_done; /* units done before this process began (a resumed run); the rate counts the rest */
    double start_time, last_print;
    int is_tty, quiet;
} progress_t;

double time_now(void); /* monotonic seconds */
void progress_start(progress_t *p, const char *label, int64_t total, int quiet);
/* done = units finished so far; extra = short text appended (loss values), may be NULL. */
void progress_update(progress_t *p, int64_t done, const char *extra);
void progress_finish(progress_t *p, int64_t done, const char *extra);

#endif
