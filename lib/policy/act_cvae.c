/* act_cvae.c — ACT's CVAE encoder: a transformer encoder over [CLS, projected state, projected
 * action chunk] with a fixed 1-D sine position table and the chunk's padded rows masked as keys;
 * the CLS output gives the mean and log-variance of the style latent. Used in training only
 * (inference takes z = 0). Names: model.encoder.layers.N.*, model.cls_embed,
 * model.encoder_action_proj, model.encoder_joint_proj, model.latent_proj, model.pos_table. */
#include "policy/act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int act_cvae_init(act_cvae *m, nn_params *ps, rng_t *rng, const act_config *cfg)
{
    memset(m, 0, sizeof *m);
    const int E = cfg->hidden_dim;
    mod_transformer_config tc = {.d_model = E, .heads = cfg->nheads, .dim_feedforward = cfg->dim_feedforward,
                                 .dropout = cfg->dropout, .activation = MOD_ACT_RELU, .pre_norm = 0};
    m->n_layers = cfg->enc_layers;
    for (int i = 0; i < m->n_layers; i++) {
        char prefix[MOD_NAME_MAX];
        snprintf(prefix, sizeof prefix, "model.encoder.layers.%d.", i);
        if (mod_encoder_layer_init(&m->layers[i], ps, rng, prefix, &tc) < 0) return -1;
    }
    if (!(m->cls_embed = nn_param(ps, "model.cls_embed.weight", 0, NN_DIMS(1, E)))) return -1;
    if (mod_linear_init(&m->encoder_action_proj, ps, rng, "model.encoder_action_proj.", cfg->action_dim, E, 1) < 0 ||
        mod_linear_init(&m->encoder_joint_proj, ps, rng, "model.encoder_joint_proj.", cfg->state_dim, E, 1) < 0 ||
        mod_linear_init(&m->latent_proj, ps, rng, "model.latent_proj.", E, 2 * cfg->latent_dim, 1) < 0)
        return -1;
    if (!(m->pos_table = nn_param(ps, "model.pos_table", NN_BUFFER, NN_DIMS(1, cfg->chunk + 2, E)))) return -1;
    if (rng) nn_init_normal(m->cls_embed, rng, 0.0f, 1.0f);     /* nn.Embedding's default */
    /* The fixed table: get_sinusoid_encoding_table(chunk + 2, hidden), computed by the engine. */
    nn_ctx *c = nn_ctx_new((size_t)(cfg->chunk + 2) * E * sizeof(float) + 4096);
    if (!c) return -1;
    nn_tensor *table = nn_sine_table_1d(c, cfg->chunk + 2, E);
    if (!table) { nn_ctx_free(c); return -1; }
    memcpy(m->pos_table->data, table->data, sizeof(float) * table->size);
    nn_ctx_free(c);
    return 0;
}

int act_cvae_encode(nn_ctx *c, const act_cvae *m, const act_config *cfg, nn_tensor *state, nn_tensor *action,
                    const unsigned char *is_pad, nn_tensor **mu, nn_tensor **logvar)
{
    const int B = state ? state->shape[0] : 0, E = cfg->hidden_dim, K = cfg->chunk, L = K + 2;
    nn_tensor *action_embed = mod_linear_forward(c, &m->encoder_action_proj, action);          /* [B,K,E] */
    nn_tensor *state_embed = nn_reshape(c, mod_linear_forward(c, &m->encoder_joint_proj, state), NN_DIMS(B, 1, E));
    nn_tensor *cls = nn_repeat0(c, nn_reshape(c, m->cls_embed, NN_DIMS(1, 1, E)), B);          /* [B,1,E] */
    nn_tensor *x = nn_concat(c, (nn_tensor *[]){cls, state_embed, action_embed}, 3, 1);         /* [B,L,E] */
    unsigned char *padding = nn_arena_alloc(c->arena, (size_t)B * L + 1);
    if (!padding) return -1;
    for (int b = 0; b < B; b++) {
        padding[(size_t)b * L] = padding[(size_t)b * L + 1] = 0;   /* CLS and state are never padding */
        for (int t = 0; t < K; t++) padding[(size_t)b * L + 2 + t] = is_pad ? is_pad[(size_t)b * K + t] : 0;
    }
    /* only the CLS output is used: the last layer computes that row alone (the same values) */
    for (int i = 0; i + 1 < m->n_layers; i++) x = mod_encoder_layer_forward(c, &m->layers[i], x, m->pos_table, padding);
    if (m->n_layers > 0) x = mod_encoder_layer_forward_first(c, &m->layers[m->n_layers - 1], x, m->pos_table, padding, 1);
    nn_tensor *cls_out = nn_reshape(c, nn_slice(c, x, 1, 0, 1), NN_DIMS(B, E));
    nn_tensor *latent = mod_linear_forward(c, &m->latent_proj, cls_out);
    *mu = nn_slice(c, latent, 1, 0, cfg->latent_dim);
    *logvar = nn_slice(c, latent, 1, cfg->latent_dim, 2 * cfg->latent_dim);
    return *mu && *logvar ? 0 : -1;
}
