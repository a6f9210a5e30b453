/* transformer_diffusion.c — Diffusion Policy's TransformerForDiffusion (observations and the
 * diffusion step as the decoder's memory, causal action tokens), its state_dict names and
 * initialisation, and its optimizer grouping (modules.h). */
#include <math.h>
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "util/error.h"

#define DP_INIT_STD 0.02f
/* input_emb, cond_obs_emb, encoder.0, encoder.2, head + per layer: two in_proj, two out_proj,
 * linear1, linear2 */
#define DECAYED_MAX (5 + 6 * MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS)

mod_transformer_diffusion_config mod_transformer_diffusion_defaults(int action_dim, int obs_dim, int horizon,
                                                                   int n_obs_steps)
{
    mod_transformer_diffusion_config cfg = {
        .action_dim = action_dim, .obs_dim = obs_dim, .horizon = horizon, .n_obs_steps = n_obs_steps,
        .n_layer = 8, .n_head = 4, .n_emb = 256, .p_drop_emb = 0.0f, .p_drop_attn = 0.3f,
    };
    return cfg;
}

/* The weights of its Linear and MultiheadAttention modules: what DP decays and draws from
 * N(0, 0.02). */
static int decayed_weights(const mod_transformer_diffusion *m, nn_tensor **w)
{
    int n = 0;
    w[n++] = m->input_emb.weight;
    w[n++] = m->cond_obs_emb.weight;
    w[n++] = m->encoder.layers[0].weight;
    w[n++] = m->encoder.layers[1].weight;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const mod_decoder_layer *d = &m->layers[l];
        w[n++] = d->self_attn.in_proj_weight;
        w[n++] = d->self_attn.out_proj.weight;
        w[n++] = d->multihead_attn.in_proj_weight;
        w[n++] = d->multihead_attn.out_proj.weight;
        w[n++] = d->linear1.weight;
        w[n++] = d->linear2.weight;
    }
    w[n++] = m->head.weight;
    return n;
}

/* PyTorch's additive masks: mask[t][s] = 0 where token t may attend to s (causal: s <= t),
 * -inf elsewhere; memory_mask[t][s] = 0 where t >= s-1 (memory token 0 is the time step). */
static void fill_masks(const mod_transformer_diffusion *m)
{
    int T = m->cfg.horizon, S = 1 + m->cfg.n_obs_steps;
    for (int t = 0; t < T; t++) {
        for (int s = 0; s < T; s++) m->mask->data[t * T + s] = s <= t ? 0.0f : -INFINITY;
        for (int s = 0; s < S; s++) m->memory_mask->data[t * S + s] = t >= s - 1 ? 0.0f : -INFINITY;
    }
}

static int check_config(const char *prefix, const mod_transformer_diffusion_config *cfg)
{
    if (cfg->action_dim < 1 || cfg->obs_dim < 1 || cfg->horizon < 1 || cfg->n_obs_steps < 1)
        return error_set("transformer for diffusion \"%s\": action_dim %d, obs_dim %d, horizon %d, n_obs_steps %d "
                         "(each must be at least 1)", prefix, cfg->action_dim, cfg->obs_dim, cfg->horizon,
                         cfg->n_obs_steps);
    if (cfg->n_layer < 1 || cfg->n_layer > MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS)
        return error_set("transformer for diffusion \"%s\": n_layer %d (1 to %d)", prefix, cfg->n_layer,
                         MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS);
    if (cfg->n_emb < 4 || cfg->n_emb % 2)
        return error_set("transformer for diffusion \"%s\": n_emb %d (the step embedding needs an even size of at least 4)",
                         prefix, cfg->n_emb);
    if (cfg->n_head < 1 || cfg->n_emb % cfg->n_head)
        return error_set("transformer for diffusion \"%s\": n_head %d does not divide n_emb %d", prefix, cfg->n_head,
                         cfg->n_emb);
    if (!(cfg->p_drop_emb >= 0 && cfg->p_drop_emb < 1) || !(cfg->p_drop_attn >= 0 && cfg->p_drop_attn < 1))
        return error_set("transformer for diffusion \"%s\": dropout %g and %g (each in [0, 1))", prefix,
                         (double)cfg->p_drop_emb, (double)cfg->p_drop_attn);
    return 0;
}

int mod_transformer_diffusion_init(mod_transformer_diffusion *m, nn_params *ps, rng_t *rng, const char *prefix,
                                   const mod_transformer_diffusion_config *cfg)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    if (check_config(prefix ? prefix : "", cfg) < 0) return -1;
    m->cfg = *cfg;
    const int E = cfg->n_emb, T = cfg->horizon, S = 1 + cfg->n_obs_steps;
    m->first_param = ps->count;
    /* the order of DP's state_dict: the module's own parameters, its buffers, then the children */
    if (!(m->dummy_variable = mod_register(ps, prefix, "_dummy_variable", NN_NO_DECAY, NN_DIMS(0))) ||
        !(m->pos_emb = mod_register(ps, prefix, "pos_emb", NN_NO_DECAY, NN_DIMS(1, T, E))) ||
        !(m->cond_pos_emb = mod_register(ps, prefix, "cond_pos_emb", NN_NO_DECAY, NN_DIMS(1, S, E))) ||
        !(m->mask = mod_register(ps, prefix, "mask", NN_BUFFER, NN_DIMS(T, T))) ||
        !(m->memory_mask = mod_register(ps, prefix, "memory_mask", NN_BUFFER, NN_DIMS(T, S))))
        return -1;
    if (mod_prefix(name, sizeof name, prefix, "input_emb.") < 0 ||
        mod_linear_init(&m->input_emb, ps, NULL, name, cfg->action_dim, E, 1) < 0)
        return -1;
    if (mod_prefix(name, sizeof name, prefix, "cond_obs_emb.") < 0 ||
        mod_linear_init(&m->cond_obs_emb, ps, NULL, name, cfg->obs_dim, E, 1) < 0)
        return -1;
    const int dims[3] = {E, 4 * E, E};
    if (mod_prefix(name, sizeof name, prefix, "encoder.") < 0 ||
        mod_mlp_init(&m->encoder, ps, NULL, name, dims, 2, MOD_ACT_MISH) < 0)
        return -1;
    const mod_transformer_config layer = {E, cfg->n_head, 4 * E, cfg->p_drop_attn, MOD_ACT_GELU, 1};
    for (int l = 0; l < cfg->n_layer; l++)
        if (mod_prefix(name, sizeof name, prefix, "decoder.layers.%d.", l) < 0 ||
            mod_decoder_layer_init(&m->layers[l], ps, NULL, name, &layer) < 0)
            return -1;
    if (mod_prefix(name, sizeof name, prefix, "ln_f.") < 0 ||
        mod_norm_init(&m->ln_f, ps, name, MOD_NORM_LAYER, E, 0) < 0)
        return -1;
    if (mod_prefix(name, sizeof name, prefix, "head.") < 0 ||
        mod_linear_init(&m->head, ps, NULL, name, E, cfg->action_dim, 1) < 0)
        return -1;
    m->n_params = ps->count - m->first_param;
    fill_masks(m);
    if (rng) {   /* biases are 0 and LayerNorm weights 1 from registration */
        nn_tensor *w[DECAYED_MAX];
        int n = decayed_weights(m, w);
        for (int i = 0; i < n; i++) nn_init_normal(w[i], rng, 0.0f, DP_INIT_STD);
        nn_init_normal(m->pos_emb, rng, 0.0f, DP_INIT_STD);
        nn_init_normal(m->cond_pos_emb, rng, 0.0f, DP_INIT_STD);
    }
    return 0;
}

nn_tensor *mod_transformer_diffusion_forward(nn_ctx *c, const mod_transformer_diffusion *m, nn_tensor *sample,
                                             const float *timesteps, nn_tensor *cond)
{
    if (!sample || !cond) return NULL;
    const mod_transformer_diffusion_config *cfg = &m->cfg;
    const int E = cfg->n_emb, T = cfg->horizon, To = cfg->n_obs_steps;
    if (sample->ndim != 3 || sample->shape[1] != T || sample->shape[2] != cfg->action_dim || cond->ndim != 3 ||
        cond->shape[0] != sample->shape[0] || cond->shape[1] != To || cond->shape[2] != cfg->obs_dim || !timesteps) {
        char a[64], b[64];
        error_set("transformer for diffusion: expected sample [B,%d,%d], cond [B,%d,%d] and timesteps; got %s, %s%s",
                  T, cfg->action_dim, To, cfg->obs_dim, nn_shape_str(sample, a, sizeof a),
                  nn_shape_str(cond, b, sizeof b), timesteps ? "" : " and no timesteps");
        return NULL;
    }
    const int B = sample->shape[0];
    nn_tensor *memory_parts[2] = {
        nn_reshape(c, nn_sinusoidal_pos_emb(c, timesteps, B, E), NN_DIMS(B, 1, E)),
        mod_linear_forward(c, &m->cond_obs_emb, cond),
    };
    nn_tensor *memory = nn_add(c, nn_concat(c, memory_parts, 2, 1), m->cond_pos_emb);
    memory = mod_mlp_forward(c, &m->encoder, nn_dropout(c, memory, cfg->p_drop_emb));
    nn_tensor *x = nn_add(c, mod_linear_forward(c, &m->input_emb, sample), m->pos_emb);
    x = nn_dropout(c, x, cfg->p_drop_emb);
    for (int l = 0; l < cfg->n_layer; l++)
        x = mod_decoder_layer_forward_masked(c, &m->layers[l], x, memory, NULL, NULL, m->mask->data,
                                             m->memory_mask->data, NULL);
    return mod_linear_forward(c, &m->head, mod_norm_forward(c, &m->ln_f, x));
}

int mod_transformer_diffusion_optim_groups(const mod_transformer_diffusion *m, nn_params *ps, int group)
{
    if (m->first_param < 0 || m->n_params < 1 || m->first_param + m->n_params > ps->count)
        return error_set("transformer for diffusion: its entries [%d, %d) are not in a store of %d",
                         m->first_param, m->first_param + m->n_params, ps->count);
    for (int i = m->first_param; i < m->first_param + m->n_params; i++) {
        ps->list[i].flags |= NN_NO_DECAY;
        ps->list[i].group = group;
    }
    nn_tensor *w[DECAYED_MAX];
    int n = decayed_weights(m, w);
    for (int i = 0; i < n; i++) {
        nn_param_info *p = nn_param_info_of(ps, w[i]);
        if (!p) return error_set("transformer for diffusion: %s is not in this store", w[i]->name);
        p->flags &= ~(unsigned)NN_NO_DECAY;
    }
    return n;
}
