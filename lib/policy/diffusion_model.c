/* diffusion_model.c — the whole Diffusion Policy model: building it (observation encoders and
 * ConditionalUnet1D under DP's names), batches filled from raw arrays, the per-sample random draws
 * keyed by (seed, step, global index), the denoising loss, and sampling by DDPM or DDIM. */
#include "policy/diffusion_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int dp_model_init_encoder(dp_model *m, const dp_config *cfg, rng_t *rng)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (dp_config_check_encoder(cfg) < 0) return -1;
    if (!(m->ps = nn_params_new()) || dp_normalizer_alloc(&m->norm, cfg) < 0) goto fail;
    if (cfg->encoder != DP_ENCODER_LOWDIM)
        for (int k = 0; k < cfg->n_cameras; k++)
            if (dp_camera_encoder_init(&m->cameras[k], m->ps, rng, cfg, k) < 0) goto fail;
    return 0;
fail:
    dp_model_free(m);
    return -1;
}

int dp_model_init(dp_model *m, const dp_config *cfg, rng_t *rng)
{
    memset(m, 0, sizeof *m);
    if (dp_config_check(cfg) < 0) return -1;
    if (dp_model_init_encoder(m, cfg, rng) < 0) return -1;
    if (dp_schedule_init(&m->schedule, cfg->train_steps) < 0) goto fail;
    const int obs_dim = dp_obs_feature_dim(cfg);
    if (cfg->net == DP_NET_TRANSFORMER) {
        mod_transformer_diffusion_config tc =
            mod_transformer_diffusion_defaults(cfg->action_dim, obs_dim, cfg->horizon, cfg->n_obs_steps);
        tc.n_layer = cfg->n_layer, tc.n_head = cfg->n_head, tc.n_emb = cfg->n_emb;
        tc.p_drop_emb = cfg->p_drop_emb, tc.p_drop_attn = cfg->p_drop_attn;
        if (mod_transformer_diffusion_init(&m->transformer, m->ps, rng, "model.", &tc) < 0) goto fail;
        /* DP's transformer policies: model.get_optim_groups() and the observation encoder's own
         * group, in which every entry decays */
        if (mod_transformer_diffusion_optim_groups(&m->transformer, m->ps, 0) < 0) goto fail;
        if (cfg->encoder != DP_ENCODER_LOWDIM &&
            (nn_param_set_flags(m->ps, "obs_encoder.", NN_NO_DECAY, 0) < 0 || nn_param_set_group(m->ps, "obs_encoder.", 1) < 0))
            goto fail;
    } else {
        if (mod_cond_unet1d_init(&m->unet, m->ps, rng, "model.", cfg->action_dim, cfg->n_obs_steps * obs_dim,
                                 cfg->step_embed_dim, cfg->down_dims, cfg->n_levels, cfg->kernel_size, cfg->n_groups,
                                 cfg->cond_predict_scale) < 0)
            goto fail;
        /* DP's UNet policies train with torch.optim.AdamW(model.parameters()): every weight decays;
         * the observation encoder is a group of its own only for its learning rate */
        nn_param_set_flags(m->ps, "", NN_NO_DECAY, 0);
        if (cfg->encoder != DP_ENCODER_LOWDIM && nn_param_set_group(m->ps, "obs_encoder.", 1) < 0) goto fail;
    }
    return 0;
fail:
    dp_model_free(m);
    return -1;
}

void dp_model_free(dp_model *m)
{
    if (!m) return;
    nn_params_free(m->ps);
    dp_normalizer_free(&m->norm);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- batches */

int dp_batch_alloc(dp_batch *b, const dp_model *m, int batch)
{
    const dp_config *cfg = &m->cfg;
    memset(b, 0, sizeof *b);
    if (batch < 1) return error_set("Diffusion Policy: batch size must be positive, got %d", batch);
    b->batch = batch;
    const size_t steps = (size_t)batch * cfg->n_obs_steps;
    const size_t image_bytes = cfg->encoder == DP_ENCODER_LOWDIM ? 0 : steps * cfg->n_cameras * cfg->height * cfg->width * 3;
    b->images = malloc(image_bytes ? image_bytes : 1);
    b->lowdim = malloc(sizeof(float) * (steps * dp_lowdim_total(cfg) + 1));
    b->action = malloc(sizeof(float) * (size_t)batch * cfg->horizon * cfg->action_dim);
    if (!b->images || !b->lowdim || !b->action) {
        dp_batch_free(b);
        return error_set("out of memory for a batch of %d", batch);
    }
    return 0;
}

void dp_batch_free(dp_batch *b)
{
    free(b->images);
    free(b->lowdim);
    free(b->action);
    memset(b, 0, sizeof *b);
}

int dp_batch_set(dp_batch *b, const dp_model *m, int i, const uint8_t *const *images, const float *const *lowdim,
                 const float *action)
{
    const dp_config *cfg = &m->cfg;
    const int To = cfg->n_obs_steps, L = dp_lowdim_total(cfg), A = cfg->action_dim;
    if (i < 0 || i >= b->batch) return error_set("Diffusion Policy: sample %d outside a batch of %d", i, b->batch);
    if (cfg->encoder != DP_ENCODER_LOWDIM) {
        const size_t frame = (size_t)cfg->height * cfg->width * 3;
        for (int t = 0; t < To; t++)
            for (int k = 0; k < cfg->n_cameras; k++)
                memcpy(b->images + (((size_t)i * To + t) * cfg->n_cameras + k) * frame, images[k] + t * frame, frame);
    }
    for (int t = 0; t < To; t++) {
        float *out = b->lowdim + ((size_t)i * To + t) * L;
        for (int j = 0, offset = 0; j < cfg->n_lowdim; offset += cfg->lowdim_dims[j], j++)
            for (int d = 0; d < cfg->lowdim_dims[j]; d++) {
                float v = lowdim[j][(size_t)t * cfg->lowdim_dims[j] + d];
                if (!isfinite(v))
                    return error_set("Diffusion Policy: %s[%d] of observation step %d (sample %d) is %g",
                                     cfg->lowdim_names[j], d, t, i, v);
                out[offset + d] = v * m->norm.lowdim_scale[offset + d] + m->norm.lowdim_offset[offset + d];
            }
    }
    if (action)
        for (int r = 0; r < cfg->horizon; r++)
            for (int d = 0; d < A; d++) {
                float v = action[(size_t)r * A + d];
                if (!isfinite(v)) return error_set("Diffusion Policy: action[%d][%d] (sample %d) is %g", r, d, i, v);
                b->action[((size_t)i * cfg->horizon + r) * A + d] = v * m->norm.action_scale[d] + m->norm.action_offset[d];
            }
    return 0;
}

/* ---------------------------------------------------------------- the denoising network */

/* The network's output for noisy actions x [B,Hz,A] at timesteps t [B] given the observation
 * features [B, To*D]: the UNet's global condition, or (step-major) the transformer's To tokens. */
static nn_tensor *denoise(nn_ctx *c, const dp_model *m, nn_tensor *x, const float *t, nn_tensor *features)
{
    if (m->cfg.net == DP_NET_UNET) return mod_cond_unet1d_forward(c, &m->unet, x, t, features);
    const int B = features->shape[0], To = m->cfg.n_obs_steps;
    nn_tensor *tokens = nn_reshape(c, features, NN_DIMS(B, To, features->shape[1] / To));
    return mod_transformer_diffusion_forward(c, &m->transformer, x, t, tokens);
}

/* ---------------------------------------------------------------- training loss */

void dp_sample_draws(const dp_model *m, uint64_t seed, long step, long index, int *timestep, float *noise, int *crops)
{
    const dp_config *cfg = &m->cfg;
    rng_t rng = rng_keyed(seed, (uint64_t)step, (uint64_t)index);
    *timestep = (int)rng_below(&rng, (uint64_t)cfg->train_steps);
    rng_fill_normal(&rng, noise, (size_t)cfg->horizon * cfg->action_dim, 0.0f, 1.0f);
    if (cfg->encoder == DP_ENCODER_LOWDIM) return;
    const int range_y = cfg->height - cfg->crop_height, range_x = cfg->width - cfg->crop_width;
    for (int j = 0; j < cfg->n_obs_steps * cfg->n_cameras; j++) {
        crops[2 * j] = (int)((float)range_y * rng_uniformf(&rng));
        crops[2 * j + 1] = (int)((float)range_x * rng_uniformf(&rng));
    }
}

nn_tensor *dp_model_loss_given(nn_ctx *c, dp_model *m, const dp_batch *b, const int *timesteps, const float *noise,
                               const int *crops, dp_losses *out)
{
    const dp_config *cfg = &m->cfg;
    const int B = b->batch, Hz = cfg->horizon, A = cfg->action_dim;
    const long per = (long)Hz * A;
    nn_tensor *cond = dp_encode_obs(c, m, b, crops);
    nn_tensor *noisy = nn_new(c, NN_DIMS(B, Hz, A));
    float *t = nn_arena_alloc(c->arena, sizeof(float) * B);
    if (!cond || !noisy || !t) return NULL;
    for (int i = 0; i < B; i++) {
        if (timesteps[i] < 0 || timesteps[i] >= cfg->train_steps) {
            error_set("Diffusion Policy: timestep %d of sample %d outside 0..%d", timesteps[i], i, cfg->train_steps - 1);
            return NULL;
        }
        dp_add_noise(&m->schedule, timesteps[i], b->action + i * per, noise + i * per, noisy->data + i * per, per);
        t[i] = (float)timesteps[i];
    }
    nn_tensor *pred = denoise(c, m, noisy, t, cond);
    const float *target = cfg->prediction == DP_PREDICT_EPSILON ? noise : b->action;
    nn_tensor *loss = nn_mse_loss(c, pred, nn_wrap(c, (float *)target, NN_DIMS(B, Hz, A)));
    if (loss && out) out->loss = loss->data[0];
    return loss;
}

nn_tensor *dp_model_loss(nn_ctx *c, dp_model *m, const dp_batch *b, uint64_t seed, long step, long first_index,
                         dp_losses *out)
{
    const dp_config *cfg = &m->cfg;
    const int B = b->batch, per_crops = cfg->n_obs_steps * cfg->n_cameras * 2;
    const long per = (long)cfg->horizon * cfg->action_dim;
    float *noise = nn_arena_alloc(c->arena, sizeof(float) * B * per);
    int *timesteps = nn_arena_alloc(c->arena, sizeof(int) * B);
    int *crops = nn_arena_alloc(c->arena, sizeof(int) * ((size_t)B * per_crops + 1));
    if (!noise || !timesteps || !crops) return NULL;
    for (int i = 0; i < B; i++)
        dp_sample_draws(m, seed, step, first_index + i, &timesteps[i], noise + i * per, crops + (size_t)i * per_crops);
    /* dropout masks (the transformer's) per sample under the same key, in streams of their own */
    nn_sample_key saved = c->key;
    nn_ctx_set_sample_key(c, seed, (uint64_t)step, first_index, B);
    /* evaluation mode (validation) crops the centre, as DP's policy.eval() does */
    nn_tensor *loss = dp_model_loss_given(c, m, b, timesteps, noise, c->train ? crops : NULL, out);
    c->key = saved;
    return loss;
}

/* ---------------------------------------------------------------- sampling */

int dp_model_denoise(nn_ctx *c, dp_model *m, const dp_batch *b, dp_sampler sampler, int steps, rng_t *rng, float *x)
{
    const dp_config *cfg = &m->cfg;
    const int B = b->batch, Hz = cfg->horizon, A = cfg->action_dim, T = cfg->train_steps;
    const long n = (long)B * Hz * A;
    const int train = c->train, record = c->record;
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    if (steps <= 0) steps = cfg->inference_steps;
    if (steps > T) steps = T;
    int *timesteps = malloc(sizeof(int) * (T + 1));
    float *noise = sampler == DP_SAMPLER_DDPM ? malloc(sizeof(float) * n) : NULL, *cond = NULL, *film = NULL;
    int rc = -1, cond_dim = 0;
    if (!timesteps || (sampler == DP_SAMPLER_DDPM && !noise)) {
        error_set("out of memory");
        goto done;
    }
    nn_tensor *features = dp_encode_obs(c, m, b, NULL);
    if (!features) goto done;
    cond_dim = features->shape[1];
    if (!(cond = malloc(sizeof(float) * features->size))) {
        error_set("out of memory");
        goto done;
    }
    memcpy(cond, features->data, sizeof(float) * features->size);
    nn_ctx_reset(c);
    const int count = dp_schedule_timesteps(&m->schedule, sampler, steps, timesteps, T + 1);
    if (cfg->net == DP_NET_UNET) {   /* every step's FiLM at once: each cond_encoder weight read once */
        film = malloc(sizeof(float) * mod_cond_unet1d_film_floats(&m->unet, count * B));
        float *tf = malloc(sizeof(float) * count);
        if (film && tf) {
            for (int i = 0; i < count; i++) tf[i] = (float)timesteps[i];
            rc = mod_cond_unet1d_films(c, &m->unet, tf, count, B, nn_wrap(c, cond, NN_DIMS(B, cond_dim)), film);
        } else {
            rc = error_set("out of memory");
        }
        free(tf);
        nn_ctx_reset(c);
        if (rc < 0) goto done;
        rc = -1;
    }
    for (int i = 0; i < count; i++) {
        const int t = timesteps[i];
        float tf[B];
        for (int j = 0; j < B; j++) tf[j] = (float)t;
        nn_tensor *xt = nn_wrap(c, x, NN_DIMS(B, Hz, A));
        nn_tensor *out = film ? mod_cond_unet1d_forward_film(c, &m->unet, xt, film, i, count)
                              : denoise(c, m, xt, tf, nn_wrap(c, cond, NN_DIMS(B, cond_dim)));
        if (!out) goto done;
        if (sampler == DP_SAMPLER_DDIM) {
            dp_ddim_step(&m->schedule, cfg->prediction, t, t - T / steps, out->data, x, x, n);
        } else {
            if (t > 0) rng_fill_normal(rng, noise, (size_t)n, 0.0f, 1.0f);
            dp_ddpm_step(&m->schedule, cfg->prediction, t, out->data, x, noise, x, n);
        }
        nn_ctx_reset(c);
    }
    rc = 0;
done:
    nn_ctx_reset(c);
    nn_ctx_set_train(c, train);
    nn_ctx_set_record(c, record);
    free(timesteps);
    free(noise);
    free(cond);
    free(film);
    return rc;
}

int dp_model_sample(nn_ctx *c, dp_model *m, const dp_batch *b, dp_sampler sampler, int steps, rng_t *rng,
                    float *actions)
{
    const dp_config *cfg = &m->cfg;
    const int A = cfg->action_dim;
    const long rows = (long)b->batch * cfg->horizon;
    float *x = malloc(sizeof(float) * rows * A);
    if (!x) return error_set("out of memory");
    rng_fill_normal(rng, x, (size_t)(rows * A), 0.0f, 1.0f);
    int rc = dp_model_denoise(c, m, b, sampler, steps, rng, x);
    for (long r = 0; rc == 0 && r < rows; r++)
        for (int d = 0; d < A; d++)
            actions[r * A + d] = (x[r * A + d] - m->norm.action_offset[d]) / m->norm.action_scale[d];
    free(x);
    return rc;
}
