/* act_backbone.c — ACT's vision side: one ResNet18 (to layer4) shared by every camera
 * (model.backbones.0.0.body.*), the 1x1 input projection to hidden_dim (model.input_proj), and
 * DETR's 2-D sine position embedding of each camera's feature map; cameras are joined along the
 * width, as the reference folds the camera dimension into the width before flattening. */
#include "policy/act.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

int act_backbone_init(act_backbone *m, nn_params *ps, rng_t *rng, const act_config *cfg, int with_proj)
{
    memset(m, 0, sizeof *m);
    if (mod_resnet18_init(&m->resnet, ps, rng, "model.backbones.0.0.body.", cfg->backbone_norm) < 0) return -1;
    if (with_proj && mod_conv2d_init(&m->input_proj, ps, rng, "model.input_proj.", 512, cfg->hidden_dim, 1, 1, 0, 1) < 0)
        return -1;
    return 0;
}

nn_tensor *act_backbone_features(nn_ctx *c, const act_backbone *m, nn_tensor *image)
{
    return mod_resnet18_forward(c, &m->resnet, image);
}

/* [B,C,h,W] -> [B, h*W, C] (DETR's flatten(2).permute). */
static nn_tensor *flatten_tokens(nn_ctx *c, nn_tensor *x)
{
    if (!x) return NULL;
    int B = x->shape[0], C = x->shape[1], L = x->shape[2] * x->shape[3];
    return nn_permute(c, nn_reshape(c, x, NN_DIMS(B, C, L)), (const int[]){0, 2, 1});
}

int act_backbone_tokens(nn_ctx *c, const act_backbone *m, const act_config *cfg, nn_tensor **images,
                        nn_tensor **tokens, nn_tensor **pos)
{
    nn_tensor *features[ACT_MAX_CAMERAS] = {0}, *positions[ACT_MAX_CAMERAS] = {0};
    for (int k = 0; k < cfg->n_cameras; k++) {
        nn_tensor *f = mod_conv2d_forward(c, &m->input_proj, act_backbone_features(c, m, images[k]));
        if (!f) return -1;
        features[k] = f;
        positions[k] = nn_sine_pos_2d(c, cfg->hidden_dim, f->shape[2], f->shape[3]);
    }
    nn_tensor *src = cfg->n_cameras > 1 ? nn_concat(c, features, cfg->n_cameras, 3) : features[0];
    nn_tensor *p = cfg->n_cameras > 1 ? nn_concat(c, positions, cfg->n_cameras, 3) : positions[0];
    *tokens = flatten_tokens(c, src);
    *pos = flatten_tokens(c, p);
    return *tokens && *pos ? 0 : -1;
}
