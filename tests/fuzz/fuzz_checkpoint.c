/* fuzz_checkpoint.c — fuzz harness: the checkpoint loader (lib/io/checkpoint.c) on an arbitrary
 * file, into the store of tests/unit/test_checkpoint.c's model (the seed corpus is that test's
 * checkpoint): configuration, parameters, AdamW state, EMA, step and a statistic. Whatever
 * loads must be finite, and nothing of the file may stay open afterwards. */
#include <math.h>
#include <stdlib.h>

#include <hdf5.h>

#include "fuzz_input.h"
#include "io/checkpoint.h"

static const struct {
    const char *name;
    unsigned flags;
    int ndim, shape[4];
} entries[] = {
    {"backbone.conv1.weight", 0, 4, {4, 3, 3, 3}}, {"backbone.conv1.bias", 0, 1, {4}},
    {"backbone.bn1.weight", NN_NO_DECAY, 1, {4}},  {"backbone.bn1.bias", NN_NO_DECAY, 1, {4}},
    {"backbone.bn1.running_mean", NN_BUFFER, 1, {4}}, {"backbone.bn1.running_var", NN_BUFFER, 1, {4}},
    {"head.weight", 0, 2, {3, 100}},               {"head.bias", 0, 1, {3}},
    {"scale", NN_FROZEN, 1, {1}},
};

static void all_finite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nn_params *ps;
    static nn_adamw opt;
    static nn_ema ema;
    if (!ps) {
        ps = nn_params_new();
        for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
            if (!nn_param(ps, entries[i].name, entries[i].flags, entries[i].ndim, entries[i].shape)) abort();
        if (nn_adamw_init(&opt, ps, 1e-3f, 1e-2f) < 0 || nn_ema_init(&ema, ps) < 0) abort();
    }
    checkpoint_reader *r = checkpoint_open(fuzz_input_path(data, size));
    if (!r) return 0;
    const char *key, *value;
    for (int i = 0; i < checkpoint_config_count(r); i++) checkpoint_config_at(r, i, &key, &value);
    checkpoint_config(r, "policy");
    if (checkpoint_read_params(r, ps) == 0) all_finite(ps->data, ps->total);
    if (checkpoint_read_optim(r, &opt) == 0) {
        all_finite(opt.m, ps->total);
        all_finite(opt.v, ps->total);
    }
    if (checkpoint_read_ema(r, &ema) == 0) all_finite(ema.shadow, ps->total);
    long step;
    checkpoint_read_step(r, &step);
    float *stat;
    int ndim, shape[8];
    if (checkpoint_read_stat(r, "qpos", "std", &stat, &ndim, shape) == 0) {
        long n = 1;
        for (int d = 0; d < ndim; d++) n *= shape[d];
        all_finite(stat, n);
        free(stat);
    }
    free(checkpoint_root_attr(r, "policy"));
    checkpoint_close(r);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort(); /* an HDF5 object left open */
    return 0;
}
