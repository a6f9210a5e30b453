/* unet1d.c — Diffusion Policy's 1-D building blocks: Conv1dBlock, the conditional residual block
 * with FiLM, and the diffusion-step encoder (modules.h). */
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "nn/tape.h"
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

/* The block with its FiLM output given: film [B, rows of cond_encoder]. */
static nn_tensor *res_block_with_film(nn_ctx *c, const mod_cond_res_block1d *m, nn_tensor *x, nn_tensor *film)
{
    if (!x || !film) return NULL;
    int B = x->shape[0], C = m->out_channels;
    nn_tensor *out = mod_conv1d_block_forward(c, &m->blocks[0], x);
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

nn_tensor *mod_cond_res_block1d_forward(nn_ctx *c, const mod_cond_res_block1d *m, nn_tensor *x, nn_tensor *cond)
{
    if (!x || !cond) return NULL;
    return res_block_with_film(c, m, x, mod_linear_forward(c, &m->cond_encoder, nn_mish(c, cond)));
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

/* ---------------------------------------------------------------- ConditionalUnet1D */
int mod_cond_unet1d_init(mod_cond_unet1d *m, nn_params *ps, rng_t *rng, const char *prefix, int input_dim,
                         int global_cond_dim, int step_dim, const int *down_dims, int n_levels, int kernel,
                         int groups, int predict_scale)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    if (n_levels < 1 || n_levels > MOD_UNET_MAX_LEVELS)
        return error_set("%sUNet: 1 to %d levels, not %d", prefix, MOD_UNET_MAX_LEVELS, n_levels);
    m->input_dim = input_dim;
    m->n_levels = n_levels;
    m->global_cond_dim = global_cond_dim;
    int cond_dim = step_dim + global_cond_dim;
    if (mod_prefix(name, sizeof name, prefix, "diffusion_step_encoder.") < 0 ||
        mod_step_encoder_init(&m->step, ps, rng, name, step_dim) < 0) return -1;
    int dims[MOD_UNET_MAX_LEVELS + 1] = {input_dim};
    for (int i = 0; i < n_levels; i++) dims[i + 1] = down_dims[i];
    for (int i = 0; i < n_levels; i++) {
        for (int j = 0; j < 2; j++)
            if (mod_prefix(name, sizeof name, prefix, "down_modules.%d.%d.", i, j) < 0 ||
                mod_cond_res_block1d_init(&m->down[i][j], ps, rng, name, j ? dims[i + 1] : dims[i], dims[i + 1],
                                          cond_dim, kernel, groups, predict_scale) < 0) return -1;
        if (i + 1 < n_levels &&
            (mod_prefix(name, sizeof name, prefix, "down_modules.%d.2.conv.", i) < 0 ||
             mod_conv1d_init(&m->downsample[i], ps, rng, name, dims[i + 1], dims[i + 1], 3, 2, 1, 1) < 0)) return -1;
    }
    for (int j = 0; j < 2; j++)
        if (mod_prefix(name, sizeof name, prefix, "mid_modules.%d.", j) < 0 ||
            mod_cond_res_block1d_init(&m->mid[j], ps, rng, name, dims[n_levels], dims[n_levels], cond_dim, kernel,
                                      groups, predict_scale) < 0) return -1;
    /* up level u pairs with down level n_levels-1-u (skip connection), and ends at dims[n_levels-1-u] */
    for (int u = 0; u + 1 < n_levels; u++) {
        int out = dims[n_levels - 1 - u], in = dims[n_levels - u];
        for (int j = 0; j < 2; j++)
            if (mod_prefix(name, sizeof name, prefix, "up_modules.%d.%d.", u, j) < 0 ||
                mod_cond_res_block1d_init(&m->up[u][j], ps, rng, name, j ? out : 2 * in, out, cond_dim, kernel, groups,
                                          predict_scale) < 0) return -1;
        if (mod_prefix(name, sizeof name, prefix, "up_modules.%d.2.conv.", u) < 0 ||
            mod_conv_transpose1d_init(&m->upsample[u], ps, rng, name, out, out, 4, 2, 1, 1) < 0) return -1;
    }
    if (mod_prefix(name, sizeof name, prefix, "final_conv.0.") < 0 ||
        mod_conv1d_block_init(&m->final_block, ps, rng, name, dims[1], dims[1], kernel, 8) < 0) return -1;
    if (mod_prefix(name, sizeof name, prefix, "final_conv.1.") < 0 ||
        mod_conv1d_init(&m->final_conv, ps, rng, name, dims[1], input_dim, 1, 1, 0, 1) < 0) return -1;
    return 0;
}

/* The residual blocks in the order the forward pass runs them (down, mid, up); returns how many. */
static int unet_blocks(const mod_cond_unet1d *m, const mod_cond_res_block1d **list)
{
    int n = 0;
    for (int i = 0; i < m->n_levels; i++) list[n++] = &m->down[i][0], list[n++] = &m->down[i][1];
    list[n++] = &m->mid[0], list[n++] = &m->mid[1];
    for (int u = 0; u + 1 < m->n_levels; u++) list[n++] = &m->up[u][0], list[n++] = &m->up[u][1];
    return n;
}

#define UNET_BLOCKS (4 * MOD_UNET_MAX_LEVELS)

static int film_rows(const mod_cond_res_block1d *b) { return b->cond_encoder.weight->shape[0]; }

long mod_cond_unet1d_film_floats(const mod_cond_unet1d *m, int rows)
{
    const mod_cond_res_block1d *list[UNET_BLOCKS];
    long n = 0;
    for (int k = unet_blocks(m, list); k-- > 0;) n += (long)rows * film_rows(list[k]);
    return n;
}

static int check_global_cond(const mod_cond_unet1d *m, nn_tensor *global_cond, int B)
{
    if ((global_cond == NULL) != (m->global_cond_dim == 0) ||
        (global_cond && (global_cond->ndim != 2 || global_cond->shape[0] != B || global_cond->shape[1] != m->global_cond_dim)))
        return error_set("UNet: global condition must be [%d,%d]", B, m->global_cond_dim);
    return 0;
}

/* [step embedding, global_cond]: timesteps [rows], global_cond [B, G] repeated rows / B times */
static nn_tensor *unet_cond(nn_ctx *c, const mod_cond_unet1d *m, const float *timesteps, int rows, nn_tensor *global_cond)
{
    nn_tensor *cond = mod_step_encoder_forward(c, &m->step, timesteps, rows);
    if (!global_cond || !cond) return cond;
    nn_tensor *g = rows == global_cond->shape[0] ? global_cond : nn_repeat0(c, global_cond, rows / global_cond->shape[0]);
    nn_tensor *parts[2] = {cond, g};
    return nn_concat(c, parts, 2, 1);
}

int mod_cond_unet1d_films(nn_ctx *c, const mod_cond_unet1d *m, const float *timesteps, int steps, int B,
                          nn_tensor *global_cond, float *film)
{
    if (check_global_cond(m, global_cond, B) < 0) return -1;
    const int rows = steps * B;
    float *t = nn_alloc_floats(c, rows);
    if (!t) return -1;
    for (int r = 0; r < rows; r++) t[r] = timesteps[r / B];
    nn_tensor *cond = unet_cond(c, m, t, rows, global_cond);
    nn_tensor *act = cond ? nn_mish(c, cond) : NULL;
    if (!act) return -1;
    const mod_cond_res_block1d *list[UNET_BLOCKS];
    for (int k = 0, n = unet_blocks(m, list); k < n; k++) {
        nn_tensor *f = mod_linear_forward(c, &list[k]->cond_encoder, act);
        if (!f) return -1;
        memcpy(film, f->data, sizeof(float) * f->size);
        film += f->size;
    }
    return 0;
}

/* Where a residual block's FiLM comes from: the condition (film NULL), or row `step` of each
 * block's [steps * B, rows] part of a table from mod_cond_unet1d_films, taken in the forward order. */
typedef struct {
    nn_tensor *cond;
    const float *film;
    int B, step, steps;
} film_source;

static nn_tensor *res_block(nn_ctx *c, const mod_cond_res_block1d *blk, nn_tensor *x, film_source *s)
{
    if (!s->film) return mod_cond_res_block1d_forward(c, blk, x, s->cond);
    const int rows = film_rows(blk);
    nn_tensor *film = nn_wrap(c, (float *)s->film + (long)s->step * s->B * rows, NN_DIMS(s->B, rows));
    s->film += (long)s->steps * s->B * rows;
    return res_block_with_film(c, blk, x, film);
}

static nn_tensor *unet_pass(nn_ctx *c, const mod_cond_unet1d *m, nn_tensor *sample, film_source *s)
{
    static const int perm[3] = {0, 2, 1};
    nn_tensor *x = nn_permute(c, sample, perm);                            /* [B,D,T] */
    nn_tensor *skips[MOD_UNET_MAX_LEVELS];
    for (int i = 0; i < m->n_levels; i++) {
        x = res_block(c, &m->down[i][0], x, s);
        x = res_block(c, &m->down[i][1], x, s);
        skips[i] = x;
        if (i + 1 < m->n_levels) x = mod_conv1d_forward(c, &m->downsample[i], x);
    }
    for (int j = 0; j < 2; j++) x = res_block(c, &m->mid[j], x, s);
    for (int u = 0; u + 1 < m->n_levels; u++) {
        nn_tensor *parts[2] = {x, skips[m->n_levels - 1 - u]};
        x = nn_concat(c, parts, 2, 1);
        x = res_block(c, &m->up[u][0], x, s);
        x = res_block(c, &m->up[u][1], x, s);
        x = mod_conv_transpose1d_forward(c, &m->upsample[u], x);
    }
    x = mod_conv1d_forward(c, &m->final_conv, mod_conv1d_block_forward(c, &m->final_block, x));
    return nn_permute(c, x, perm);                                         /* [B,T,D] */
}

static int check_sample(const mod_cond_unet1d *m, nn_tensor *sample)
{
    if (sample->ndim == 3 && sample->shape[2] == m->input_dim && sample->shape[1] % (1 << (m->n_levels - 1)) == 0)
        return 0;
    char s[64];
    return error_set("UNet: sample must be [B,T,%d] with T divisible by %d, got %s", m->input_dim,
                     1 << (m->n_levels - 1), nn_shape_str(sample, s, sizeof s));
}

nn_tensor *mod_cond_unet1d_forward(nn_ctx *c, const mod_cond_unet1d *m, nn_tensor *sample, const float *timesteps,
                                   nn_tensor *global_cond)
{
    if (!sample || check_sample(m, sample) < 0 || check_global_cond(m, global_cond, sample->shape[0]) < 0) return NULL;
    film_source s = {unet_cond(c, m, timesteps, sample->shape[0], global_cond), NULL, sample->shape[0], 0, 1};
    return s.cond ? unet_pass(c, m, sample, &s) : NULL;
}

nn_tensor *mod_cond_unet1d_forward_film(nn_ctx *c, const mod_cond_unet1d *m, nn_tensor *sample, const float *film,
                                        int step, int steps)
{
    if (!sample || check_sample(m, sample) < 0) return NULL;
    if (step < 0 || step >= steps) {
        error_set("UNet: step %d of a FiLM table of %d", step, steps);
        return NULL;
    }
    film_source s = {NULL, film, sample->shape[0], step, steps};
    return unet_pass(c, m, sample, &s);
}
