/* fuzz_stats.c — fuzz harness: the statistics loader (stats_load, lib/io/stats.c) on an
 * arbitrary stream file; every loaded value must be finite and every std non-negative. */
#include <math.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "io/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stats_set st;
    if (stats_load(fuzz_input_path(data, size), &st) < 0) return 0;
    for (size_t i = 0; i < st.n_features; i++) {
        const stats_feature *f = &st.features[i];
        for (int64_t k = 0; k < f->n; k++)
            if (!isfinite(f->mean[k]) || !isfinite(f->min[k]) || !isfinite(f->max[k]) || !(f->std[k] >= 0)) abort();
    }
    stats_free(&st);
    return 0;
}
