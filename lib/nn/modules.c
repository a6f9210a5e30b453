/* modules.c — Linear, Conv1d/2d/Transpose1d, normalisation layers and MLP (modules.h). */
#include "nn/modules.h"

#include <stdio.h>
#include <string.h>

#include "nn/modules_internal.h"
#include "util/error.h"

/* ---------------------------------------------------------------- registration helpers */
nn_tensor *mod_register(nn_params *ps, const char *prefix, const char *name, unsigned flags, int ndim,
                        const int *shape)
{
    char full[MOD_NAME_MAX];
    if (snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name) >= (int)sizeof full) {
        error_set("parameter name too long: %s%s", prefix ? prefix : "", name);
        return NULL;
    }
    return nn_param(ps, full, flags, ndim, shape);
}

int mod_prefix(char *out, size_t len, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(out, len, "%s", prefix ? prefix : "");
    if (n < 0 || (size_t)n >= len) return error_set("module name prefix too long: %s", prefix);
    va_start(ap, fmt);
    int m = vsnprintf(out + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= len) return error_set("module name too long under %s", prefix);
    return 0;
}

/* ---------------------------------------------------------------- Linear */
int mod_linear_init(mod_linear *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int bias)
{
    memset(m, 0, sizeof *m);
    m->weight = mod_register(ps, prefix, "weight", 0, NN_DIMS(out, in));
    if (!m->weight) return -1;
    if (rng) nn_init_kaiming_uniform_default(m->weight, rng, in);
    if (bias) {
        m->bias = mod_register(ps, prefix, "bias", NN_NO_DECAY, NN_DIMS(out));
        if (!m->bias) return -1;
        if (rng) nn_init_kaiming_uniform_default(m->bias, rng, in);
    }
    return 0;
}

nn_tensor *mod_linear_forward(nn_ctx *c, const mod_linear *m, nn_tensor *x)
{
    return nn_linear(c, x, m->weight, m->bias);
}

/* ---------------------------------------------------------------- convolutions */
static int conv_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int ndim, const int *shape,
                     int out, long fan_in, int stride, int padding, int bias)
{
    memset(m, 0, sizeof *m);
    m->stride = stride;
    m->padding = padding;
    m->weight = mod_register(ps, prefix, "weight", 0, ndim, shape);
    if (!m->weight) return -1;
    if (rng) nn_init_kaiming_uniform_default(m->weight, rng, fan_in);
    if (bias) {
        m->bias = mod_register(ps, prefix, "bias", NN_NO_DECAY, NN_DIMS(out));
        if (!m->bias) return -1;
        if (rng) nn_init_kaiming_uniform_default(m->bias, rng, fan_in);
    }
    return 0;
}

int mod_conv2d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int kernel,
                    int stride, int padding, int bias)
{
    return conv_init(m, ps, rng, prefix, NN_DIMS(out, in, kernel, kernel), out, (long)in * kernel * kernel,
                     stride, padding, bias);
}

int mod_conv1d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int kernel,
                    int stride, int padding, int bias)
{
    return conv_init(m, ps, rng, prefix, NN_DIMS(out, in, kernel), out, (long)in * kernel, stride, padding, bias);
}

int mod_conv_transpose1d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out,
                              int kernel, int stride, int padding, int bias)
{
    /* PyTorch computes fan_in of the [in,out,k] weight as out*k (dim 1 times the kernel). */
    return conv_init(m, ps, rng, prefix, NN_DIMS(in, out, kernel), out, (long)out * kernel, stride, padding, bias);
}

nn_tensor *mod_conv2d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x)
{
    return nn_conv2d(c, x, m->weight, m->bias, m->stride, m->padding);
}

nn_tensor *mod_conv1d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x)
{
    return nn_conv1d(c, x, m->weight, m->bias, m->stride, m->padding);
}

nn_tensor *mod_conv_transpose1d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x)
{
    return nn_conv_transpose1d(c, x, m->weight, m->bias, m->stride, m->padding);
}

/* ---------------------------------------------------------------- normalisation */
int mod_norm_init(mod_norm *m, nn_params *ps, const char *prefix, mod_norm_kind kind, int channels, int groups)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->eps = 1e-5f;
    unsigned affine_flags = NN_NO_DECAY;
    if (kind == MOD_NORM_GROUP) {
        m->groups = groups > 0 ? groups : channels / 16;
        if (m->groups <= 0 || channels % m->groups)
            return error_set("%s: GroupNorm needs groups dividing %d channels (got %d)", prefix, channels, m->groups);
    }
    if (kind == MOD_NORM_FROZEN_BATCH) affine_flags = NN_BUFFER;
    m->weight = mod_register(ps, prefix, "weight", affine_flags, NN_DIMS(channels));
    if (!m->weight) return -1;
    nn_init_const(m->weight, 1.0f);
    m->bias = mod_register(ps, prefix, "bias", affine_flags, NN_DIMS(channels));
    if (!m->bias) return -1;
    if (kind == MOD_NORM_BATCH || kind == MOD_NORM_FROZEN_BATCH) {
        m->running_mean = mod_register(ps, prefix, "running_mean", NN_BUFFER, NN_DIMS(channels));
        if (!m->running_mean) return -1;
        m->running_var = mod_register(ps, prefix, "running_var", NN_BUFFER, NN_DIMS(channels));
        if (!m->running_var) return -1;
        nn_init_const(m->running_var, 1.0f);
    }
    return 0;
}

nn_tensor *mod_norm_forward(nn_ctx *c, const mod_norm *m, nn_tensor *x)
{
    switch (m->kind) {
    case MOD_NORM_BATCH:
        return nn_batch_norm(c, x, m->weight, m->bias, m->running_mean, m->running_var, 0.1f, m->eps);
    case MOD_NORM_FROZEN_BATCH:
        return nn_frozen_batch_norm(c, x, m->weight, m->bias, m->running_mean, m->running_var, m->eps);
    case MOD_NORM_GROUP:
        return nn_group_norm(c, x, m->groups, m->weight, m->bias, m->eps);
    case MOD_NORM_LAYER:
        return nn_layer_norm(c, x, m->weight, m->bias, m->eps);
    }
    error_set("unknown normalisation kind %d", (int)m->kind);
    return NULL;
}

int mod_norm_kind_parse(const char *text)
{
    if (!strcmp(text, "batch") || !strcmp(text, "batchnorm")) return MOD_NORM_BATCH;
    if (!strcmp(text, "frozen") || !strcmp(text, "frozenbatchnorm")) return MOD_NORM_FROZEN_BATCH;
    if (!strcmp(text, "group") || !strcmp(text, "groupnorm")) return MOD_NORM_GROUP;
    if (!strcmp(text, "layer") || !strcmp(text, "layernorm")) return MOD_NORM_LAYER;
    return -1;
}

/* ---------------------------------------------------------------- activations and MLP */
nn_tensor *mod_activate(nn_ctx *c, mod_activation act, nn_tensor *x)
{
    switch (act) {
    case MOD_ACT_NONE: return x;
    case MOD_ACT_RELU: return nn_relu(c, x);
    case MOD_ACT_GELU: return nn_gelu(c, x);
    case MOD_ACT_MISH: return nn_mish(c, x);
    case MOD_ACT_SILU: return nn_silu(c, x);
    }
    error_set("unknown activation %d", (int)act);
    return NULL;
}

int mod_mlp_init(mod_mlp *m, nn_params *ps, rng_t *rng, const char *prefix, const int *dims, int n_layers,
                 mod_activation act)
{
    memset(m, 0, sizeof *m);
    if (n_layers < 1 || n_layers > MOD_MLP_MAX_LAYERS)
        return error_set("%s: an MLP has 1 to %d layers, not %d", prefix, MOD_MLP_MAX_LAYERS, n_layers);
    m->n_layers = n_layers;
    m->act = act;
    for (int i = 0; i < n_layers; i++) {
        char name[MOD_NAME_MAX];
        if (mod_prefix(name, sizeof name, prefix, "%d.", 2 * i) < 0) return -1;
        if (mod_linear_init(&m->layers[i], ps, rng, name, dims[i], dims[i + 1], 1) < 0) return -1;
    }
    return 0;
}

nn_tensor *mod_mlp_forward(nn_ctx *c, const mod_mlp *m, nn_tensor *x)
{
    for (int i = 0; i < m->n_layers; i++) {
        x = mod_linear_forward(c, &m->layers[i], x);
        if (i + 1 < m->n_layers) x = mod_activate(c, m->act, x);
    }
    return x;
}
