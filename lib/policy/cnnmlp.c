/* cnnmlp.c — the CNNMLP baseline of tonyzhaozh/act: per camera the shared ResNet18's layer4 map
 * goes through three 5x5 convolutions (512 -> 128 -> 64 -> 32, no activations, per-camera
 * weights model.backbone_down_projs.K.{0,1,2}), is flattened, joined with the state and mapped
 * by an MLP (model.mlp.{0,2,4}: 1024, ReLU, 1024, ReLU, action) to ONE action; loss MSE.
 * The reference's convolutions have no padding and need a layer4 map of at least 13x13
 * (480x640 images); for smaller maps they pad by 2 so the shape is kept. The reference's unused
 * model.action_head [A,1000] is registered too, so the names match its state_dict. */
#include "policy/act.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

static int feature_size(const act_config *cfg, int *padding, int *h, int *w)
{
    int h4 = (cfg->height + 31) / 32, w4 = (cfg->width + 31) / 32;
    *padding = (h4 >= 13 && w4 >= 13) ? 0 : 2;
    *h = *padding ? h4 : h4 - 12;
    *w = *padding ? w4 : w4 - 12;
    return 32 * *h * *w;
}

int cnnmlp_init(act_model *m, rng_t *rng)
{
    const act_config *cfg = &m->cfg;
    int padding, h, w;
    int per_camera = feature_size(cfg, &padding, &h, &w);
    if (act_backbone_init(&m->backbone, m->ps, rng, cfg, 0) < 0) return -1;
    static const int widths[4] = {512, 128, 64, 32};
    for (int k = 0; k < cfg->n_cameras; k++)
        for (int j = 0; j < 3; j++) {
            char prefix[MOD_NAME_MAX];
            snprintf(prefix, sizeof prefix, "model.backbone_down_projs.%d.%d.", k, j);
            if (mod_conv2d_init(&m->down_proj[k][j], m->ps, rng, prefix, widths[j], widths[j + 1], 5, 1, padding, 1) < 0)
                return -1;
        }
    int dims[4] = {per_camera * cfg->n_cameras + cfg->state_dim, 1024, 1024, cfg->action_dim};
    if (mod_mlp_init(&m->mlp, m->ps, rng, "model.mlp.", dims, 3, MOD_ACT_RELU) < 0) return -1;
    if (mod_linear_init(&m->cnnmlp_action_head, m->ps, rng, "model.action_head.", 1000, cfg->action_dim, 1) < 0)
        return -1;
    return 0;
}

static nn_tensor *cnnmlp_forward(nn_ctx *c, act_model *m, const act_batch *b)
{
    const act_config *cfg = &m->cfg;
    const int B = b->batch;
    nn_tensor *parts[ACT_MAX_CAMERAS + 1];
    size_t per = (size_t)B * 3 * cfg->height * cfg->width;
    for (int k = 0; k < cfg->n_cameras; k++) {
        nn_tensor *x = nn_wrap(c, b->images + per * k, NN_DIMS(B, 3, cfg->height, cfg->width));
        x = act_backbone_features(c, &m->backbone, x);
        for (int j = 0; j < 3; j++) x = mod_conv2d_forward(c, &m->down_proj[k][j], x);
        parts[k] = nn_reshape(c, x, NN_DIMS(B, -1));
    }
    parts[cfg->n_cameras] = nn_wrap(c, b->state, NN_DIMS(B, cfg->state_dim));
    nn_tensor *features = nn_concat(c, parts, cfg->n_cameras + 1, 1);
    return mod_mlp_forward(c, &m->mlp, features);
}

nn_tensor *cnnmlp_loss(nn_ctx *c, act_model *m, const act_batch *b, act_losses *out)
{
    const int B = b->batch, A = m->cfg.action_dim;
    nn_tensor *a_hat = cnnmlp_forward(c, m, b);
    nn_tensor *target = nn_wrap(c, b->action, NN_DIMS(B, A));    /* the batch holds 1 row per sample */
    nn_tensor *loss = nn_mse_loss(c, a_hat, target);
    if (!loss) return NULL;
    if (out) out->l1 = out->loss = loss->data[0], out->kl = 0;
    return loss;
}

nn_tensor *cnnmlp_predict(nn_ctx *c, act_model *m, const act_batch *b)
{
    return nn_reshape(c, cnnmlp_forward(c, m, b), NN_DIMS(b->batch, 1, m->cfg.action_dim));
}
