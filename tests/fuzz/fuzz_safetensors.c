/* fuzz_safetensors.c — fuzz harness: the safetensors reader (lib/io/safetensors.c) on arbitrary
 * bytes; every tensor of a file it accepts lies inside the file, and every float tensor converts
 * to float32. */
#include <stdlib.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    safetensors_file f;
    if (safetensors_parse(data, size, "fuzz.safetensors", &f) < 0) return 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const safetensors_tensor *t = &f.tensors[i];
        if (t->data < f.bytes || t->data + t->nbytes > f.bytes + f.size) abort();
        float *v = NULL;
        int ndim;
        int64_t shape[SAFETENSORS_MAX_DIMS];
        if (safetensors_get_f32(&f, t->name, &v, &ndim, shape) == 0) {
            volatile float sum = 0;
            for (size_t k = 0; k < t->nbytes / safetensors_dtype_size(t->dtype); k++) sum += v[k];
            free(v);
        }
    }
    safetensors_metadata(&f, "format");
    safetensors_free(&f);
    return 0;
}
