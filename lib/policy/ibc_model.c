/* ibc_model.c — IBC's configuration, the energy model (DP's observation encoder, dense0..dense4),
 * the logits of candidate action sequences with the first layer split into its observation and
 * action parts, the per-sample draws keyed by (seed, step, global index) and the InfoNCE loss. */
#include "policy/ibc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const char *const sampler_names[] = {"dfo", "dfo-argmax", "ibc-dfo", "langevin", NULL};

const char *ibc_sampler_name(ibc_sampler s) { return (unsigned)s < 4 ? sampler_names[s] : "?"; }

int ibc_sampler_parse(const char *s)
{
    for (int i = 0; s && sampler_names[i]; i++)
        if (strcmp(sampler_names[i], s) == 0) return i;
    return -1;
}

void ibc_inference_default(ibc_inference *s) { *s = (ibc_inference){IBC_DFO, 1024, 0, -1.0f}; }

int ibc_inference_iterations(const ibc_inference *s)
{
    return s->iterations > 0 ? s->iterations : s->sampler == IBC_LANGEVIN ? 100 : 5;
}

float ibc_inference_noise(const ibc_inference *s)
{
    if (s->noise >= 0) return s->noise;
    return s->sampler == IBC_DFO_IBC ? 0.33f : s->sampler == IBC_LANGEVIN ? 1.0f : 0.03f;
}

int ibc_inference_check(const ibc_inference *s)
{
    if ((unsigned)s->sampler > IBC_LANGEVIN) return error_set("IBC: unknown sampler %d", (int)s->sampler);
    if (s->samples < 1 || s->samples > 1 << 20) return error_set("IBC: samples must be 1..%d, got %d", 1 << 20, s->samples);
    if (s->iterations < 0 || s->iterations > 100000)
        return error_set("IBC: iterations must be 0 (the sampler's default) to 100000, got %d", s->iterations);
    if (!(s->noise < 100)) return error_set("IBC: noise %g is not a usable standard deviation", (double)s->noise);
    return 0;
}

void ibc_config_default(ibc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    dp_config_default(&cfg->obs);
    cfg->obs.encoder = DP_ENCODER_LOWDIM;
    cfg->obs.n_cameras = 0;
    cfg->obs.n_obs_steps = 2;
    cfg->obs.n_action_steps = 1;
    cfg->obs.horizon = 2;
    cfg->width = 1024;
    cfg->dropout = 0.1f;
    ibc_inference_default(&cfg->inference);
}

int ibc_config_check(ibc_config *cfg)
{
    dp_config *o = &cfg->obs;
    if (dp_config_check_encoder(o) < 0) return -1;
    if (o->n_action_steps < 1 || o->n_action_steps > 4096)
        return error_set("IBC: n_action_steps must be 1..4096, got %d", o->n_action_steps);
    o->horizon = o->n_obs_steps + o->n_action_steps - 1;
    if (cfg->width < 1 || cfg->width > 1 << 16) return error_set("IBC: width must be 1..65536, got %d", cfg->width);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1)) return error_set("IBC: dropout %g must be in [0, 1)", (double)cfg->dropout);
    return ibc_inference_check(&cfg->inference);
}

int ibc_input_dim(const ibc_config *cfg)
{
    return cfg->obs.n_obs_steps * dp_obs_feature_dim(&cfg->obs) + cfg->obs.n_action_steps * cfg->obs.action_dim;
}

int ibc_model_init(ibc_model *m, const ibc_config *cfg, rng_t *rng)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->grad_margin = 1.0f;
    m->dfo_iterations = 3;
    if (ibc_config_check(&m->cfg) < 0) return -1;
    if (dp_model_init_encoder(&m->obs, &m->cfg.obs, rng) < 0) return -1;
    int in = ibc_input_dim(&m->cfg);
    for (int l = 0; l <= IBC_LAYERS; l++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "dense%d.", l);
        int out = l == IBC_LAYERS ? 1 : m->cfg.width;
        if (mod_linear_init(&m->dense[l], m->obs.ps, rng, prefix, in, out, 1) < 0) {
            ibc_model_free(m);
            return -1;
        }
        in = out;
    }
    /* DP's IBC policies train with AdamW(model.parameters()): every entry decays */
    nn_param_set_flags(m->obs.ps, "", NN_NO_DECAY, 0);
    return 0;
}

void ibc_model_free(ibc_model *m)
{
    if (!m) return;
    dp_model_free(&m->obs);
    memset(m, 0, sizeof *m);
}

int ibc_model_set_stats(ibc_model *m, const stats_set *st)
{
    if (dp_model_set_stats(&m->obs, st) < 0) return -1;
    const dp_normalizer *z = &m->obs.norm;
    for (int a = 0; a < m->cfg.obs.action_dim; a++)
        if (!(z->action_max[a] - z->action_min[a] >= 1e-4f))
            return error_set("IBC: action[%d] has range %g (min %g, max %g) in the statistics; counter-examples and "
                             "samples are drawn within each action dimension's range, which must be at least 1e-4 "
                             "(drop the constant dimension from the data)",
                             a, (double)(z->action_max[a] - z->action_min[a]), (double)z->action_min[a],
                             (double)z->action_max[a]);
    return 0;
}

void ibc_action_bounds(const ibc_model *m, float *lo, float *hi)
{
    const dp_normalizer *z = &m->obs.norm;
    for (int a = 0; a < m->cfg.obs.action_dim; a++) {
        lo[a] = z->action_min[a] * z->action_scale[a] + z->action_offset[a];
        hi[a] = z->action_max[a] * z->action_scale[a] + z->action_offset[a];
    }
}

/* ---------------------------------------------------------------- the energy network */

/* hidden (may be NULL): the hidden layers' ReLU outputs before dropout, [B][K][W] each */
static nn_tensor *logits_hidden(nn_ctx *c, const ibc_model *m, nn_tensor *features, nn_tensor *candidates,
                                const float *masks, nn_tensor **hidden)
{
    if (!features || !candidates) return NULL;
    const int B = features->shape[0], F = features->shape[1], W = m->cfg.width;
    const int D = m->cfg.obs.n_action_steps * m->cfg.obs.action_dim;
    if (candidates->ndim != 3 || candidates->shape[0] != B || candidates->shape[2] != D ||
        F + D != m->dense[0].weight->shape[1]) {
        char a[64], b[64];
        error_set("IBC: features %s and candidates %s do not fit the energy network's %d inputs",
                  nn_shape_str(features, a, sizeof a), nn_shape_str(candidates, b, sizeof b), m->dense[0].weight->shape[1]);
        return NULL;
    }
    const int K = candidates->shape[1];
    /* dense0 split: W0 [W, F + D] = [W0_obs | W0_act]; the observation part once per observation */
    nn_tensor *w_obs = nn_slice(c, m->dense[0].weight, 1, 0, F), *w_act = nn_slice(c, m->dense[0].weight, 1, F, F + D);
    nn_tensor *h_obs = nn_reshape(c, nn_linear(c, features, w_obs, m->dense[0].bias), NN_DIMS(B, 1, W));
    nn_tensor *h = nn_add(c, nn_linear(c, candidates, w_act, NULL), h_obs);
    const int drop = masks && c->train && m->cfg.dropout > 0;
    for (int l = 0; l < IBC_LAYERS && h; l++) {
        if (l > 0) h = mod_linear_forward(c, &m->dense[l], h);
        h = nn_relu(c, h);
        if (hidden) hidden[l] = h;
        if (drop) h = nn_mul(c, h, nn_wrap(c, (float *)masks + (size_t)l * B * K * W, NN_DIMS(B, K, W)));
    }
    return nn_reshape(c, mod_linear_forward(c, &m->dense[IBC_LAYERS], h), NN_DIMS(B, K));
}

nn_tensor *ibc_logits(nn_ctx *c, const ibc_model *m, nn_tensor *features, nn_tensor *candidates, const float *masks)
{
    return logits_hidden(c, m, features, candidates, masks, NULL);
}

/* The layer's derivative mask: ReLU's (hidden > 0) times the dropout multiplier, [N][W] */
static nn_tensor *relu_drop_mask(nn_ctx *c, const nn_tensor *hidden, const float *drop, int N, int W)
{
    float *mask = nn_arena_alloc(c->arena, sizeof(float) * (size_t)N * W);
    if (!hidden || !mask) return NULL;
    for (size_t j = 0; j < (size_t)N * W; j++) mask[j] = hidden->data[j] > 0 ? (drop ? drop[j] : 1.0f) : 0.0f;
    return nn_wrap(c, mask, NN_DIMS(N, W));
}

/* max(0, ||dE/da||_inf - margin)^2 averaged over the N = B x K candidates (ibc.h). dlogit/da as
 * row vectors: u3 = w4 * M3, u_{l-1} = (u_l W_l) * M_{l-1}, g = u0 W0_act; the sign is that of
 * dlogit/da, the norm the same as dE/da's. */
static nn_tensor *grad_penalty(nn_ctx *c, const ibc_model *m, nn_tensor *const *hidden, const float *masks, int N,
                               int F, int D, float margin)
{
    const int W = m->cfg.width;
    const float *drop[IBC_LAYERS] = {0};
    if (masks)
        for (int l = 0; l < IBC_LAYERS; l++) drop[l] = masks + (size_t)l * N * W;
    nn_tensor *u = nn_mul(c, relu_drop_mask(c, hidden[IBC_LAYERS - 1], drop[IBC_LAYERS - 1], N, W),
                          m->dense[IBC_LAYERS].weight);
    for (int l = IBC_LAYERS - 1; l > 0; l--)
        u = nn_mul(c, nn_matmul(c, u, m->dense[l].weight, 0, 0), relu_drop_mask(c, hidden[l - 1], drop[l - 1], N, W));
    nn_tensor *g = nn_matmul(c, u, nn_slice(c, m->dense[0].weight, 1, F, F + D), 0, 0);
    float *pick = nn_arena_alloc(c->arena, sizeof(float) * (size_t)N * D);
    if (!g || !pick) return NULL;
    /* the inf-norm as a product with a constant selector: the sign at each row's largest |g| */
    memset(pick, 0, sizeof(float) * (size_t)N * D);
    for (int n = 0; n < N; n++) {
        const float *row = g->data + (size_t)n * D;
        int best = 0;
        for (int j = 1; j < D; j++)
            if (fabsf(row[j]) > fabsf(row[best])) best = j;
        pick[(size_t)n * D + best] = row[best] < 0 ? -1.0f : 1.0f;
    }
    nn_tensor *norm = nn_scale(c, nn_mean_dim(c, nn_mul(c, g, nn_wrap(c, pick, NN_DIMS(N, D))), 1), (float)D, -margin);
    nn_tensor *excess = nn_relu(c, norm);
    return nn_mean(c, nn_mul(c, excess, excess));
}

/* ---------------------------------------------------------------- training loss */

void ibc_sample_draws(const ibc_model *m, uint64_t seed, long step, long index, int negatives, float *noise,
                      float *counter, int *crops, float *masks, long mask_stride)
{
    const dp_config *cfg = &m->cfg.obs;
    const int A = cfg->action_dim, Ta = cfg->n_action_steps;
    rng_t rng = rng_keyed(seed, (uint64_t)step, (uint64_t)index);
    rng_fill_normal(&rng, noise, (size_t)Ta * A, 0.0f, 1e-4f);
    float lo[A], hi[A];
    ibc_action_bounds(m, lo, hi);
    for (long r = 0; r < (long)negatives * Ta; r++)
        for (int a = 0; a < A; a++) counter[r * A + a] = lo[a] + (hi[a] - lo[a]) * rng_uniformf(&rng);
    if (cfg->encoder != DP_ENCODER_LOWDIM) {
        const int range_y = cfg->height - cfg->crop_height, range_x = cfg->width - cfg->crop_width;
        for (int j = 0; j < cfg->n_obs_steps * cfg->n_cameras; j++) {
            crops[2 * j] = (int)((float)range_y * rng_uniformf(&rng));
            crops[2 * j + 1] = (int)((float)range_x * rng_uniformf(&rng));
        }
    }
    if (!masks) return;
    const float keep = 1.0f - m->cfg.dropout;
    for (int l = 0; l < IBC_LAYERS; l++)
        rng_fill_dropout(&rng, masks + l * mask_stride, (size_t)(negatives + 1) * m->cfg.width, keep, 1.0f / keep);
}

/* The loss on the observation features [B, F] (dp_encode_obs) and the candidates. */
static nn_tensor *loss_on_features(nn_ctx *c, ibc_model *m, nn_tensor *features, const float *candidates, int K,
                                   const float *masks, ibc_losses *out)
{
    if (!features) return NULL;
    const int B = features->shape[0], D = m->cfg.obs.n_action_steps * m->cfg.obs.action_dim;
    nn_tensor *hidden[IBC_LAYERS] = {0};
    const int penalty = m->grad_penalty > 0;
    nn_tensor *logits = logits_hidden(c, m, features, nn_wrap(c, (float *)candidates, NN_DIMS(B, K, D)),
                                      masks, penalty ? hidden : NULL);
    int *labels = nn_arena_alloc(c->arena, sizeof(int) * B);
    if (!logits || !labels) return NULL;
    memset(labels, 0, sizeof(int) * B);   /* the positive is candidate 0 */
    nn_tensor *info_nce = nn_cross_entropy(c, logits, labels), *loss = info_nce, *gp = NULL;
    if (penalty && info_nce) {
        const int drop = masks && c->train && m->cfg.dropout > 0;
        gp = grad_penalty(c, m, hidden, drop ? masks : NULL, B * K, features->shape[1], D, m->grad_margin);
        loss = nn_add(c, info_nce, nn_scale(c, gp, m->grad_penalty, 0.0f));
    }
    if (loss && out) {
        double above = 0;
        for (int i = 0; i < B; i++)
            for (int k = 1; k < K; k++) above += logits->data[(size_t)i * K + k] > logits->data[(size_t)i * K];
        out->loss = loss->data[0];
        out->info_nce = info_nce->data[0];
        out->grad_penalty = gp ? gp->data[0] : 0.0f;
        out->positive_rank = K > 1 ? (float)(above / ((double)B * (K - 1))) : 0.0f;
    }
    return loss;
}

nn_tensor *ibc_model_loss_given(nn_ctx *c, ibc_model *m, const dp_batch *b, const float *candidates, int K,
                                const int *crops, const float *masks, ibc_losses *out)
{
    return loss_on_features(c, m, dp_encode_obs(c, &m->obs, b, crops), candidates, K, masks, out);
}

nn_tensor *ibc_model_loss(nn_ctx *c, ibc_model *m, const dp_batch *b, int negatives, uint64_t seed, long step,
                          long first_index, ibc_losses *out)
{
    const dp_config *cfg = &m->cfg.obs;
    const int B = b->batch, K = negatives + 1, To = cfg->n_obs_steps, Ta = cfg->n_action_steps, A = cfg->action_dim;
    const int D = Ta * A, per_crops = To * cfg->n_cameras * 2, W = m->cfg.width;
    if (negatives < 1) return error_set("IBC: at least one counter-example is needed, got %d", negatives), NULL;
    const int drop = c->train && m->cfg.dropout > 0;
    const long mask_stride = (long)B * K * W;
    float *candidates = nn_arena_alloc(c->arena, sizeof(float) * (size_t)B * K * D);
    float *noise = nn_arena_alloc(c->arena, sizeof(float) * (size_t)D);
    int *crops = nn_arena_alloc(c->arena, sizeof(int) * ((size_t)B * per_crops + 1));
    float *masks = drop ? nn_arena_alloc(c->arena, sizeof(float) * (size_t)IBC_LAYERS * mask_stride) : NULL;
    if (!candidates || !noise || !crops || (drop && !masks)) return NULL;
    for (int i = 0; i < B; i++) {
        float *cand = candidates + (size_t)i * K * D;
        ibc_sample_draws(m, seed, step, first_index + i, negatives, noise, cand + D, crops + (size_t)i * per_crops,
                         drop ? masks + (size_t)i * K * W : NULL, mask_stride);
        /* the positive: the normalised actions from index To-1, plus the noise */
        const float *action = b->action + ((size_t)i * cfg->horizon + (To - 1)) * A;
        for (int j = 0; j < D; j++) cand[j] = action[j] + noise[j];
    }
    /* evaluation mode (validation) crops the centre, as DP's policy.eval() does; the features
     * serve both the DFO counter-examples and the loss (DP's encoders have no dropout or batch
     * statistics, so training and evaluation mode give the same features for the same crops) */
    nn_tensor *features = dp_encode_obs(c, &m->obs, b, c->train ? crops : NULL);
    const int n_dfo = (int)(m->dfo_fraction * (float)negatives);
    if (!features || (n_dfo > 0 && ibc_dfo_counter_examples(c, m, features, candidates, K, negatives - n_dfo, n_dfo,
                                                            m->dfo_iterations, 0.33f, seed, step, first_index) < 0))
        return NULL;
    return loss_on_features(c, m, features, candidates, K, masks, out);
}
