/* unet1d.c — Diffusion Policy's 1-D building blocks: Conv1dBlock, the conditional residual block
 * with FiLM, and the diffusion-step encoder (modules.h). */
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "util/error.h"

int mod_conv1d_block_init(mod_conv1d_block *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out,
                          int kernel, int groups)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    if (mod_prefix(name, sizeof name, prefix, "block.0.") < 0 ||
        mod_conv1d_init(&m->conv, ps, rng, name, in, out, kernel, 1, kernel / 2, 1) < 0) return -1;
    if (mod_prefix(name, sizeof name, prefix, "block.1.") < 0 ||
        mod_norm_init(&m->norm, ps, name, MOD_NORM_GROUP, out, groups) < 0) return -1;
    return 0;
}

nn_tensor *mod_conv1d_block_forward(nn_ctx *c, const mod_conv1d_block *m, nn_tensor *x)
{
    return nn_mish(c, mod_norm_forward(c, &m->norm, mod_conv1d_forward(c, &m->conv, x)));
}

int mod_cond_res_block1d_init(mod_cond_res_block1d *m, nn_params *ps, rng_t *rng, const char *prefix, int in,
                              int out, int cond_dim, int kernel, int groups, int predict_scale)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    m->predict_scale = predict_scale;
    m->out_channels = out;
    for (int i = 0; i < 2; i++)
        if (mod_prefix(name, sizeof name, prefix, "blocks.%d.", i) < 0 ||
            mod_conv1d_block_init(&m->blocks[i], ps, rng, name, i ? out : in, out, kernel, groups) < 0) return -1;
    if (mod_prefix(name, sizeof name, prefix, "cond_encoder.1.") < 0 ||
        mod_linear_init(&m->cond_encoder, ps, rng, name, cond_dim, predict_scale ? 2 * out : out, 1) < 0) return -1;
    if (in != out) {
        m->has_residual_conv = 1;
        if (mod_prefix(name, sizeof name, prefix, "residual_conv.") < 0 ||
            mod_conv1d_init(&m->residual_conv, ps, rng, name, in, out, 1, 1, 0, 1) < 0) return -1;
    }
    return 0;
}

nn_tensor *mod_cond_res_block1d_forward(nn_ctx *c, const mod_cond_res_block1d *m, nn_tensor *x, nn_tensor *cond)
{
    if (!x || !cond) return NULL;
    int B = x->shape[0], C = m->out_channels;
    nn_tensor *out = mod_conv1d_block_forward(c, &m->blocks[0], x);
    nn_tensor *film = mod_linear_forward(c, &m->cond_encoder, nn_mish(c, cond));
    if (m->predict_scale) {
        film = nn_reshape(c, film, NN_DIMS(B, 2, C, 1));
        nn_tensor *scale = nn_reshape(c, nn_slice(c, film, 1, 0, 1), NN_DIMS(B, C, 1));
        nn_tensor *bias = nn_reshape(c, nn_slice(c, film, 1, 1, 2), NN_DIMS(B, C, 1));
        out = nn_add(c, nn_mul(c, scale, out), bias);
    } else {
        out = nn_add(c, out, nn_reshape(c, film, NN_DIMS(B, C, 1)));
    }
    out = mod_conv1d_block_forward(c, &m->blocks[1], out);
    nn_tensor *skip = m->has_residual_conv ? mod_conv1d_forward(c, &m->residual_conv, x) : x;
    return nn_add(c, out, skip);
}

int mod_step_encoder_init(mod_step_encoder *m, nn_params *ps, rng_t *rng, const char *prefix, int dim)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    if (dim < 4 || dim % 2) return error_set("%sstep encoder: dimension must be even and >= 4, not %d", prefix, dim);
    m->dim = dim;
    if (mod_prefix(name, sizeof name, prefix, "1.") < 0 || mod_linear_init(&m->linear1, ps, rng, name, dim, 4 * dim, 1) < 0)
        return -1;
    if (mod_prefix(name, sizeof name, prefix, "3.") < 0 || mod_linear_init(&m->linear2, ps, rng, name, 4 * dim, dim, 1) < 0)
        return -1;
    return 0;
}

nn_tensor *mod_step_encoder_forward(nn_ctx *c, const mod_step_encoder *m, const float *timesteps, int batch)
{
    nn_tensor *e = nn_sinusoidal_pos_emb(c, timesteps, batch, m->dim);
    return mod_linear_forward(c, &m->linear2, nn_mish(c, mod_linear_forward(c, &m->linear1, e)));
}
