/* fuzz_stream.c — fuzz harness: the tar sample stream reader (lib/io/stream.c, libarchive) on
 * arbitrary bytes, every sample read to the end or to the first error. */
#include <stdio.h>

#include "io/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *fp = fmemopen((void *)data, size ? size : 1, "rb");
    if (!fp) return 0;
    stream_reader *r = stream_reader_open_fp(fp, "fuzz");
    if (r) {
        stream_sample s;
        stream_sample_init(&s);
        while (stream_reader_next(r, &s) > 0)
            for (size_t i = 0; i < s.n_fields; i++) npy_array_count(&s.fields[i].array);
        stream_sample_free(&s);
        stream_reader_close(r);
    }
    fclose(fp);
    return 0;
}
