/* fuzz_input.h — hand a fuzz input to a reader that wants a path: the bytes go into one
 * temporary file per process (in $TMPDIR or /tmp, removed at exit). A memfd's /proc/self/fd
 * name does not do: HDF5 resolves the link to a name that does not exist. */
#ifndef ILT_FUZZ_INPUT_H
#define ILT_FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_input_name[4096];

static void fuzz_input_remove(void) { unlink(fuzz_input_name); }

static const char *fuzz_input_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        snprintf(fuzz_input_name, sizeof fuzz_input_name, "%s/ilt-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkstemp(fuzz_input_name);
        if (fd < 0) {
            perror(fuzz_input_name);
            abort();
        }
        atexit(fuzz_input_remove);
    }
    if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror(fuzz_input_name);
        abort();
    }
    return fuzz_input_name;
}

#endif
