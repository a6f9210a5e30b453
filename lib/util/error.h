/* error.h — error reporting: library functions record a message and return -1 (or NULL);
 * only a tool's main() prints it and decides the exit status.
 *
 *   if (npy_read(...) < 0) tool_die(1, "%s", error_get());
 *
 * A format ending in ':' appends strerror(errno). Messages are per thread. */
#ifndef ILT_UTIL_ERROR_H
#define ILT_UTIL_ERROR_H

#include <stdio.h>

/* Exit statuses shared by every tool. */
enum { EXIT_DATA = 1, EXIT_USAGE = 2 };

/* Record an error message; returns -1 so that `return error_set(...)` reads naturally. */
int error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Put context in front of the recorded message ("episode_3.hdf5: " + message). */
int error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message ("" if none). */
const char *error_get(void);
void error_clear(void);

/* ---- for tools */
/* Remember the tool's name for messages (basename of argv[0] or a fixed name). */
void tool_init(const char *name);
const char *tool_name(void);
/* "tool: message" on stderr. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tool: message" on stderr, then exit(status). */
_Noreturn void tool_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: "tool: message", "Try 'tool --help'.", exit 2. */
_Noreturn void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An option's value in [lo, hi], or a usage error "--NAME: why" (exit 2). */
long tool_option_long(const char *name, const char *text, long lo, long hi);
double tool_option_double(const char *name, const char *text, double lo, double hi);
/* Flush and close stdout; a write error (full disk, closed pipe) is reported and returns -1. */
int tool_close_stdout(void);
/* Print "tool (ilt) VERSION" and exit 0. */
_Noreturn void tool_version(void);

#endif
