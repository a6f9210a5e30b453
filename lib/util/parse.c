/* parse.c — strict option-value parsers (numbers, index lists, spans, sizes, name lists). */
#include "util/parse.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno) return error_set("'%s' is not an integer", text);
    if (v < min || v > max) return error_set("%ld is out of range [%ld, %ld]", v, min, max);
    *out = v;
    return 0;
}

int parse_double(const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || v != v) return error_set("'%s' is not a number", text);
    if (v < min || v > max) return error_set("%g is out of range [%g, %g]", v, min, max);
    *out = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int parse_index_list(const char *text, int64_t max_open, int64_t **out, size_t *count)
{
    size_t cap = 16, n = 0;
    int64_t *list = malloc(cap * sizeof *list);
    if (!list) return error_set("out of memory");
    const char *p = text;
    if (!*p) goto bad;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p)) goto bad;
        int64_t lo = strtoll(p, &end, 10), hi = lo;
        p = end;
        if (*p == '-') {
            p++;
            if (isdigit((unsigned char)*p)) { hi = strtoll(p, &end, 10); p = end; }
            else hi = max_open;
        }
        if (hi < lo) goto bad;
        for (int64_t v = lo; v <= hi; v++) {
            if (n == cap) {
                int64_t *grown = realloc(list, (cap *= 2) * sizeof *list);
                if (!grown) { free(list); return error_set("out of memory"); }
                list = grown;
            }
            list[n++] = v;
        }
        if (*p == ',') { p++; if (!*p) goto bad; }
        else if (*p) goto bad;
    }
    qsort(list, n, sizeof *list, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) if (u == 0 || list[u - 1] != list[i]) list[u++] = list[i];
    *out = list;
    *count = u;
    return 0;
bad:
    free(list);
    return error_set("'%s' is not a list of indices such as 0-39,45", text);
}

int index_list_contains(const int64_t *list, size_t count, int64_t value)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (list[mid] == value) return 1;
        if (list[mid] < value) lo = mid + 1; else hi = mid;
    }
    return 0;
}

int parse_span(const char *text, int64_t *start, int64_t *stop)
{
    const char *colon = strchr(text, ':');
    if (!colon) return error_set("'%s' is not START:STOP", text);
    char *end;
    *start = 0;
    *stop = -1;
    if (colon != text) {
        *start = strtoll(text, &end, 10);
        if (end != colon || *start < 0) return error_set("'%s' is not START:STOP", text);
    }
    if (colon[1]) {
        *stop = strtoll(colon + 1, &end, 10);
        if (*end || *stop < 0) return error_set("'%s' is not START:STOP", text);
        if (*stop < *start) return error_set("'%s': STOP is before START", text);
    }
    return 0;
}

int parse_size_hw(const char *text, int *height, int *width)
{
    char *end;
    long h = strtol(text, &end, 10);
    if (end == text || (*end != 'x' && *end != 'X')) return error_set("'%s' is not HxW", text);
    const char *w_text = end + 1;
    long w = strtol(w_text, &end, 10);
    if (end == w_text || *end || h <= 0 || w <= 0 || h > 65535 || w > 65535)
        return error_set("'%s' is not HxW with positive sizes", text);
    *height = (int)h;
    *width = (int)w;
    return 0;
}

char **strlist_split(const char *text, char separator, size_t *count)
{
    size_t n = 1;
    for (const char *p = text; *p; p++) n += (*p == separator);
    char **list = calloc(n + 1, sizeof *list);
    if (!list) { error_set("out of memory"); return NULL; }
    const char *start = text;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(start, separator);
        size_t len = end ? (size_t)(end - start) : strlen(start);
        list[i] = strndup(start, len);
        if (!list[i]) { strlist_free(list); error_set("out of memory"); return NULL; }
        start = end ? end + 1 : start + len;
    }
    if (count) *count = n;
    return list;
}

void strlist_free(char **list)
{
    if (!list) return;
    for (char **p = list; *p; p++) free(*p);
    free(list);
}
