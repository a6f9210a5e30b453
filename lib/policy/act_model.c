/* act_model.c — the whole ACT network (DETRVAE of tonyzhaozh/act): CVAE encoder -> latent;
 * image tokens, projected state and projected latent through a post-norm transformer encoder
 * (learned position embeddings for the latent and state tokens, sine ones for the image);
 * a decoder of `chunk` learned queries whose EVERY layer is applied (the reference returns the
 * first layer's output only) followed by the final LayerNorm; the action head. Loss: L1 over
 * the non-padded rows + kl_weight * KL. Also the configuration defaults and normalisation. */
#include "policy/act.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void act_config_default(act_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = ACT_KIND_ACT;
    cfg->chunk = 100;
    cfg->hidden_dim = 256;
    cfg->dim_feedforward = 1024;
    cfg->enc_layers = 2;
    cfg->dec_layers = 4;
    cfg->nheads = 8;
    cfg->latent_dim = 32;
    cfg->dropout = 0.1f;
    cfg->kl_weight = 10.0f;
    cfg->backbone_norm = MOD_NORM_GROUP;
    cfg->image_norm = ACT_IMAGE_NORM_IMAGENET;
}

/* CNNMLP lives in cnnmlp.c. */
int cnnmlp_init(act_model *m, rng_t *rng);
nn_tensor *cnnmlp_loss(nn_ctx *c, act_model *m, const act_batch *b, act_losses *out);
nn_tensor *cnnmlp_predict(nn_ctx *c, act_model *m, const act_batch *b);

static int check_config(const act_config *cfg)
{
    if (cfg->state_dim < 1 || cfg->action_dim < 1) return error_set("ACT: state and action sizes must be positive");
    if (cfg->n_cameras < 1 || cfg->n_cameras > ACT_MAX_CAMERAS)
        return error_set("ACT: needs 1 to %d cameras, got %d", ACT_MAX_CAMERAS, cfg->n_cameras);
    if (cfg->height < 1 || cfg->width < 1) return error_set("ACT: bad image size %dx%d", cfg->height, cfg->width);
    if (cfg->kind == ACT_KIND_CNNMLP) return 0;
    if (cfg->chunk < 1) return error_set("ACT: chunk must be at least 1");
    if (cfg->hidden_dim < 2 || cfg->hidden_dim % 2)
        return error_set("ACT: hidden_dim must be even (the 2-D sine embedding splits it), got %d", cfg->hidden_dim);
    if (cfg->nheads < 1 || cfg->hidden_dim % cfg->nheads)
        return error_set("ACT: nheads %d must divide hidden_dim %d", cfg->nheads, cfg->hidden_dim);
    if (cfg->enc_layers < 1 || cfg->enc_layers > ACT_MAX_LAYERS || cfg->dec_layers < 1 || cfg->dec_layers > ACT_MAX_LAYERS)
        return error_set("ACT: encoder/decoder layers must be 1..%d", ACT_MAX_LAYERS);
    if (cfg->latent_dim < 1 || cfg->dim_feedforward < 1) return error_set("ACT: latent_dim and dim_feedforward must be positive");
    return 0;
}

static int norm_alloc(act_norm *n, const act_config *cfg)
{
    n->state_mean = malloc(sizeof(float) * cfg->state_dim);
    n->state_std = malloc(sizeof(float) * cfg->state_dim);
    n->action_mean = malloc(sizeof(float) * cfg->action_dim);
    n->action_std = malloc(sizeof(float) * cfg->action_dim);
    if (!n->state_mean || !n->state_std || !n->action_mean || !n->action_std) return error_set("out of memory");
    for (int i = 0; i < cfg->state_dim; i++) n->state_mean[i] = 0, n->state_std[i] = 1;
    for (int i = 0; i < cfg->action_dim; i++) n->action_mean[i] = 0, n->action_std[i] = 1;
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    for (int k = 0; k < ACT_MAX_CAMERAS; k++)
        for (int ch = 0; ch < 3; ch++) n->image_mean[k][ch] = imagenet_mean[ch], n->image_std[k][ch] = imagenet_std[ch];
    return 0;
}

static int act_init(act_model *m, rng_t *rng)
{
    const act_config *cfg = &m->cfg;
    nn_params *ps = m->ps;
    const int E = cfg->hidden_dim;
    mod_transformer_config tc = {.d_model = E, .heads = cfg->nheads, .dim_feedforward = cfg->dim_feedforward,
                                 .dropout = cfg->dropout, .activation = MOD_ACT_RELU, .pre_norm = 0};
    char prefix[MOD_NAME_MAX];
    m->n_enc = cfg->enc_layers;
    m->n_dec = cfg->dec_layers;
    for (int i = 0; i < m->n_enc; i++) {
        snprintf(prefix, sizeof prefix, "model.transformer.encoder.layers.%d.", i);
        if (mod_encoder_layer_init(&m->enc[i], ps, rng, prefix, &tc) < 0) return -1;
    }
    for (int i = 0; i < m->n_dec; i++) {
        snprintf(prefix, sizeof prefix, "model.transformer.decoder.layers.%d.", i);
        if (mod_decoder_layer_init(&m->dec[i], ps, rng, prefix, &tc) < 0) return -1;
    }
    if (mod_norm_init(&m->dec_norm, ps, "model.transformer.decoder.norm.", MOD_NORM_LAYER, E, 0) < 0) return -1;
    if (act_cvae_init(&m->cvae, ps, rng, cfg) < 0) return -1;
    if (mod_linear_init(&m->action_head, ps, rng, "model.action_head.", E, cfg->action_dim, 1) < 0 ||
        mod_linear_init(&m->is_pad_head, ps, rng, "model.is_pad_head.", E, 1, 1) < 0) return -1;
    if (!(m->query_embed = nn_param(ps, "model.query_embed.weight", 0, NN_DIMS(cfg->chunk, E)))) return -1;
    if (act_backbone_init(&m->backbone, ps, rng, cfg, 1) < 0) return -1;
    if (mod_linear_init(&m->input_proj_robot_state, ps, rng, "model.input_proj_robot_state.", cfg->state_dim, E, 1) < 0 ||
        mod_linear_init(&m->latent_out_proj, ps, rng, "model.latent_out_proj.", cfg->latent_dim, E, 1) < 0) return -1;
    if (!(m->additional_pos_embed = nn_param(ps, "model.additional_pos_embed.weight", 0, NN_DIMS(2, E)))) return -1;
    if (rng) {
        nn_init_normal(m->query_embed, rng, 0.0f, 1.0f);
        nn_init_normal(m->additional_pos_embed, rng, 0.0f, 1.0f);
        /* DETR's Transformer._reset_parameters: xavier_uniform on every matrix of the transformer. */
        for (int i = 0; i < ps->count; i++) {
            nn_tensor *t = ps->list[i].t;
            if (t->ndim > 1 && strncmp(t->name, "model.transformer.", 18) == 0) nn_init_xavier_uniform(t, rng);
        }
    }
    return 0;
}

int act_model_init(act_model *m, const act_config *cfg, rng_t *rng)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (check_config(cfg) < 0) return -1;
    if (!(m->ps = nn_params_new())) return -1;
    if (norm_alloc(&m->norm, cfg) < 0) return -1;
    int rc = cfg->kind == ACT_KIND_CNNMLP ? cnnmlp_init(m, rng) : act_init(m, rng);
    if (rc < 0) return -1;
    /* The reference's AdamW decays every parameter (one weight decay for all groups). */
    nn_param_set_flags(m->ps, "", NN_NO_DECAY, 0);
    return 0;
}

void act_model_free(act_model *m)
{
    if (!m) return;
    nn_params_free(m->ps);
    free(m->norm.state_mean);
    free(m->norm.state_std);
    free(m->norm.action_mean);
    free(m->norm.action_std);
    memset(m, 0, sizeof *m);
}

int act_model_chunk(const act_model *m) { return m->cfg.kind == ACT_KIND_CNNMLP ? 1 : m->cfg.chunk; }

/* ---------------------------------------------------------------- forward */

/* Camera k of the batch's camera-major image block, as [B,3,H,W]. */
static nn_tensor *camera_images(nn_ctx *c, const act_model *m, const act_batch *b, int k)
{
    const act_config *cfg = &m->cfg;
    size_t per = (size_t)b->batch * 3 * cfg->height * cfg->width;
    return nn_wrap(c, b->images + per * k, NN_DIMS(b->batch, 3, cfg->height, cfg->width));
}

/* The decoder side given the latent's projection [B,E] -> actions [B,K,A]. */
static nn_tensor *act_decode(nn_ctx *c, act_model *m, const act_batch *b, nn_tensor *latent_input)
{
    const act_config *cfg = &m->cfg;
    const int B = b->batch, E = cfg->hidden_dim, K = cfg->chunk;
    nn_tensor *images[ACT_MAX_CAMERAS], *tokens = NULL, *pos = NULL;
    for (int k = 0; k < cfg->n_cameras; k++) images[k] = camera_images(c, m, b, k);
    if (act_backbone_tokens(c, &m->backbone, cfg, images, &tokens, &pos) < 0) return NULL;
    nn_tensor *state = nn_wrap(c, b->state, NN_DIMS(B, cfg->state_dim));
    nn_tensor *proprio = nn_reshape(c, mod_linear_forward(c, &m->input_proj_robot_state, state), NN_DIMS(B, 1, E));
    nn_tensor *latent = nn_reshape(c, latent_input, NN_DIMS(B, 1, E));
    nn_tensor *src = nn_concat(c, (nn_tensor *[]){latent, proprio, tokens}, 3, 1);
    nn_tensor *extra_pos = nn_reshape(c, m->additional_pos_embed, NN_DIMS(1, 2, E));
    nn_tensor *src_pos = nn_concat(c, (nn_tensor *[]){extra_pos, pos}, 2, 1);
    for (int i = 0; i < m->n_enc; i++) src = mod_encoder_layer_forward(c, &m->enc[i], src, src_pos, NULL);
    nn_tensor *query_pos = nn_reshape(c, m->query_embed, NN_DIMS(1, K, E));
    /* the decoder's input is zeros: its first layer's self-attention is one row (modules.h) */
    nn_tensor *tgt = mod_decoder_layer_forward_zero(c, &m->dec[0], B, K, src, src_pos, query_pos, NULL);
    for (int i = 1; i < m->n_dec; i++)
        tgt = mod_decoder_layer_forward(c, &m->dec[i], tgt, src, src_pos, query_pos, NULL);
    tgt = mod_norm_forward(c, &m->dec_norm, tgt);
    return mod_linear_forward(c, &m->action_head, tgt);
}

nn_tensor *act_model_loss(nn_ctx *c, act_model *m, const act_batch *b, act_losses *out)
{
    if (m->cfg.kind == ACT_KIND_CNNMLP) return cnnmlp_loss(c, m, b, out);
    const act_config *cfg = &m->cfg;
    const int B = b->batch, Z = cfg->latent_dim;
    nn_tensor *state = nn_wrap(c, b->state, NN_DIMS(B, cfg->state_dim));
    nn_tensor *action = nn_wrap(c, b->action, NN_DIMS(B, cfg->chunk, cfg->action_dim));
    nn_tensor *mu = NULL, *logvar = NULL;
    if (act_cvae_encode(c, &m->cvae, cfg, state, action, b->is_pad, &mu, &logvar) < 0) return NULL;
    /* z = mu + exp(logvar / 2) * eps */
    nn_tensor *eps = nn_new(c, NN_DIMS(B, Z));
    if (!eps) return NULL;
    if (c->key.batch == B)
        for (int i = 0; i < B; i++) {
            rng_t sample = nn_sample_rng(c, i, ACT_LATENT_STREAM);
            rng_fill_normal(&sample, eps->data + (size_t)i * Z, (size_t)Z, 0.0f, 1.0f);
        }
    else if (m->rng)
        rng_fill_normal(m->rng, eps->data, (size_t)B * Z, 0.0f, 1.0f);
    else
        return error_set("ACT loss: no sample key of a batch of %d nor generator for the latent noise", B), NULL;
    nn_tensor *z = nn_add(c, mu, nn_mul(c, nn_exp(c, nn_scale(c, logvar, 0.5f, 0.0f)), eps));
    nn_tensor *a_hat = act_decode(c, m, b, mod_linear_forward(c, &m->latent_out_proj, z));
    nn_tensor *l1 = nn_l1_loss_masked(c, a_hat, action, b->is_pad);
    nn_tensor *kl = nn_kl_normal(c, mu, logvar);
    nn_tensor *loss = nn_add(c, l1, nn_scale(c, kl, cfg->kl_weight, 0.0f));
    if (!loss) return NULL;
    if (out) {
        out->l1 = l1->data[0];
        out->kl = kl->data[0];
        out->loss = loss->data[0];
    }
    return loss;
}

nn_tensor *act_model_predict(nn_ctx *c, act_model *m, const act_batch *b)
{
    if (m->cfg.kind == ACT_KIND_CNNMLP) return cnnmlp_predict(c, m, b);
    nn_tensor *z = nn_zeros(c, NN_DIMS(b->batch, m->cfg.latent_dim));
    return act_decode(c, m, b, mod_linear_forward(c, &m->latent_out_proj, z));
}

/* ---------------------------------------------------------------- normalisation */

void act_normalize_state(const act_model *m, const float *raw, float *out)
{
    for (int i = 0; i < m->cfg.state_dim; i++) out[i] = (raw[i] - m->norm.state_mean[i]) / m->norm.state_std[i];
}

void act_normalize_action(const act_model *m, const float *raw, int rows, float *out)
{
    const int A = m->cfg.action_dim;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < A; i++)
            out[(size_t)r * A + i] = (raw[(size_t)r * A + i] - m->norm.action_mean[i]) / m->norm.action_std[i];
}

void act_denormalize_action(const act_model *m, const float *normalised, int rows, float *out)
{
    const int A = m->cfg.action_dim;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < A; i++)
            out[(size_t)r * A + i] = normalised[(size_t)r * A + i] * m->norm.action_std[i] + m->norm.action_mean[i];
}

void act_normalize_image(const act_model *m, int camera, const uint8_t *hwc, float *chw)
{
    const size_t HW = (size_t)m->cfg.height * m->cfg.width;
    for (int ch = 0; ch < 3; ch++) {
        float scale = 1.0f / (255.0f * m->norm.image_std[camera][ch]);
        float shift = m->norm.image_mean[camera][ch] / m->norm.image_std[camera][ch];
        float *o = chw + ch * HW;
        for (size_t p = 0; p < HW; p++) o[p] = hwc[p * 3 + ch] * scale - shift;
    }
}
