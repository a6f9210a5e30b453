/* parse.h — strict parsing of option values: numbers, index lists ("0-39,45"), sizes ("96x128"),
 * comma-separated names. Every function returns 0 on success and -1 with error_set() otherwise,
 * so that a tool can turn a bad value into a usage error naming the option. */
#ifndef ILT_UTIL_PARSE_H
#define ILT_UTIL_PARSE_H

#include <stddef.h>
#include <stdint.h>

int parse_long(const char *text, long min, long max, long *out);
int parse_double(const char *text, double min, double max, double *out);

/* "0-39,45,50-" style list of non-negative indices. An open range "50-" means 50..max_open.
 * Result: sorted, without duplicates, in a malloc'd array (*out, *count). */
int parse_index_list(const char *text, int64_t max_open, int64_t **out, size_t *count);
/* Binary search in a list from parse_index_list. */
int index_list_contains(const int64_t *list, size_t count, int64_t value);

/* "START:STOP" with either side optional; missing START is 0, missing STOP is -1 (to the end). */
int parse_span(const char *text, int64_t *start, int64_t *stop);
/* "HxW", both positive. */
int parse_size_hw(const char *text, int *height, int *width);

/* Split "a,b,c" into a NULL-terminated malloc'd array of malloc'd strings; free with strlist_free. */
char **strlist_split(const char *text, char separator, size_t *count);
void strlist_free(char **list);

#endif
