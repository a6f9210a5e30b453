/* fuzz_npy.c — fuzz harness: the .npy decoder (lib/io/npy.c) on arbitrary bytes; a decoded
 * array is re-encoded and decoded again, and must come back identical. */
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npy_array a;
    if (npy_decode(data, size, &a) < 0) return 0;
    char header[256];
    int hlen = npy_encode_header(a.dtype, a.ndim, a.shape, header, sizeof header);
    size_t nbytes = npy_array_nbytes(&a);
    if (hlen > 0) {
        char *again = malloc((size_t)hlen + nbytes);
        npy_array b;
        if (!again) abort();
        memcpy(again, header, (size_t)hlen);
        memcpy(again + hlen, a.data, nbytes);
        if (npy_decode(again, (size_t)hlen + nbytes, &b) < 0 || !npy_array_same_layout(&a, &b) ||
            memcmp(a.data, b.data, nbytes) != 0)
            abort();
        npy_array_free(&b);
        free(again);
    }
    npy_array_free(&a);
    return 0;
}
