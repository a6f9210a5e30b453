/* tap.h — a tiny TAP producer for the C unit tests: each check prints "ok N - name" or
 * "not ok N - name" with the values that differed; tap_done() returns the exit status. */
#ifndef ILT_TESTS_TAP_H
#define ILT_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failures;

static __attribute__((unused, format(printf, 2, 3))) int tap_ok(int condition, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s %d - ", condition ? "ok" : "not ok", ++tap_count);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!condition) tap_failures++;
    fflush(stdout);
    return condition;
}

static __attribute__((unused)) void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Compare two float arrays: |a-b| <= atol + rtol*|b| everywhere; prints the worst element. */
static __attribute__((unused)) int tap_close(const float *a, const float *b, long n, double atol, double rtol,
                                             const char *label)
{
    double worst = 0;
    long worst_i = -1;
    int good = 1;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double excess = d - (atol + rtol * fabs((double)b[i]));
        if (!(excess <= 0)) good = 0;
        if (worst_i < 0 || d > worst || d != d) { worst = d; worst_i = i; }
    }
    if (!good && worst_i >= 0)
        tap_diag("%s: max |diff| %.3g at %ld (%.8g vs %.8g)", label, worst, worst_i, a[worst_i], b[worst_i]);
    return tap_ok(good, "%s (max diff %.2g over %ld)", label, worst, n);
}

static __attribute__((unused)) int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failures ? 1 : 0;
}

#endif
