/* error.c — per-thread error messages for the library, and the message/exit helpers of tools. */
#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

static _Thread_local char error_message[2048];
static char tool_name_buf[64] = "ilt";

static void format_with_errno(char *buf, size_t size, const char *fmt, va_list ap, int saved_errno)
{
    vsnprintf(buf, size, fmt, ap);
    size_t n = strlen(fmt);
    if (n > 0 && fmt[n - 1] == ':') {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, " %s", strerror(saved_errno));
    }
}

int error_set(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    format_with_errno(error_message, sizeof error_message, fmt, ap, saved_errno);
    va_end(ap);
    return -1;
}

int error_prefix(const char *fmt, ...)
{
    char prefix[1024], old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    /* truncation of an overlong message is acceptable: copy by hand, no format warning */
    size_t p = strnlen(prefix, sizeof error_message - 1);
    memcpy(error_message, prefix, p);
    size_t rest = strnlen(old, sizeof error_message - 1 - p);
    memcpy(error_message + p, old, rest);
    error_message[p + rest] = 0;
    return -1;
}

const char *error_get(void) { return error_message; }
void error_clear(void) { error_message[0] = 0; }

void tool_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    snprintf(tool_name_buf, sizeof tool_name_buf, "%s", slash ? slash + 1 : name);
}

const char *tool_name(void) { return tool_name_buf; }

static void tool_vmessage(const char *fmt, va_list ap, int saved_errno)
{
    char buf[4096];
    format_with_errno(buf, sizeof buf, fmt, ap, saved_errno);
    fprintf(stderr, "%s: %s\n", tool_name_buf, buf);
}

void tool_warn(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(fmt, ap, saved_errno);
    va_end(ap);
}

void tool_die(int status, const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(fmt, ap, saved_errno);
    va_end(ap);
    exit(status);
}

void tool_usage_error(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(fmt, ap, saved_errno);
    va_end(ap);
    fprintf(stderr, "Try '%s --help'.\n", tool_name_buf);
    exit(EXIT_USAGE);
}

long tool_option_long(const char *name, const char *text, long lo, long hi)
{
    long v;
    if (parse_long(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return v;
}

double tool_option_double(const char *name, const char *text, double lo, double hi)
{
    double v;
    if (parse_double(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return v;
}

int tool_close_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_warn("write error on standard output:");
        return -1;
    }
    if (fclose(stdout) != 0) {
        tool_warn("close of standard output failed:");
        return -1;
    }
    return 0;
}

void tool_version(void)
{
    printf("%s (ilt) %s\n", tool_name_buf, ILT_VERSION);
    exit(0);
}
