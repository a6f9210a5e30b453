/* diffusion_encoder.c — Diffusion Policy's observation encoders: robomimic's VisualCore per camera
 * (ResNet18 conv layers with GroupNorm, SpatialSoftmax keypoints, Linear, ReLU: the "hybrid"
 * encoder), DP's MultiImageObsEncoder (ResNet18 with global average pooling: "resnet"), or the
 * low-dimensional observations alone ("lowdim"); the image preprocessing (uint8 -> [-1,1], the
 * random or centre crop); the per-step feature vectors flattened over the observation steps. */
#include "policy/diffusion_internal.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

int dp_camera_encoder_init(dp_camera_encoder *e, nn_params *ps, rng_t *rng, const dp_config *cfg, int k)
{
    char prefix[128], name[MOD_NAME_MAX];   /* camera names are under DP_NAME_MAX: the prefix fits */
    memset(e, 0, sizeof *e);
    if (cfg->encoder == DP_ENCODER_RESNET) {
        snprintf(prefix, sizeof prefix, "obs_encoder.key_model_map.%s_image.", cfg->camera_names[k]);
        return mod_resnet18_init_named(&e->backbone, ps, rng, prefix, MOD_NORM_GROUP, MOD_RESNET_TORCHVISION);
    }
    snprintf(prefix, sizeof prefix, "obs_encoder.obs_nets.%s_image.", cfg->camera_names[k]);
    snprintf(name, sizeof name, "%sbackbone.nets.", prefix);
    if (mod_resnet18_init_named(&e->backbone, ps, rng, name, MOD_NORM_GROUP, MOD_RESNET_SEQUENTIAL) < 0) return -1;
    /* SpatialSoftmax over the layer4 map of the crop: ceil(h/32) x ceil(w/32) */
    const int fh = (cfg->crop_height + 31) / 32, fw = (cfg->crop_width + 31) / 32;
    snprintf(name, sizeof name, "%spool.temperature", prefix);
    if (!(e->temperature = nn_param(ps, name, NN_BUFFER, NN_DIMS(1)))) return -1;
    snprintf(name, sizeof name, "%spool.pos_x", prefix);
    if (!(e->pos_x = nn_param(ps, name, NN_BUFFER, NN_DIMS(1, fh * fw)))) return -1;
    snprintf(name, sizeof name, "%spool.pos_y", prefix);
    if (!(e->pos_y = nn_param(ps, name, NN_BUFFER, NN_DIMS(1, fh * fw)))) return -1;
    snprintf(name, sizeof name, "%spool.nets.", prefix);
    if (mod_conv2d_init(&e->keypoints, ps, rng, name, 512, cfg->num_keypoints, 1, 1, 0, 1) < 0) return -1;
    snprintf(name, sizeof name, "%snets.3.", prefix);
    if (mod_linear_init(&e->linear, ps, rng, name, 2 * cfg->num_keypoints, cfg->feature_dim, 1) < 0) return -1;
    /* the buffers' values (a checkpoint overwrites them with the same): temperature 1 and
     * meshgrid(linspace(-1, 1, w), linspace(-1, 1, h)) flattened row-major */
    e->temperature->data[0] = 1.0f;
    for (int y = 0; y < fh; y++)
        for (int x = 0; x < fw; x++) {
            e->pos_x->data[y * fw + x] = fw > 1 ? (float)(x == fw - 1 ? 1.0 : -1.0 + x * (2.0 / (fw - 1))) : -1.0f;
            e->pos_y->data[y * fw + x] = fh > 1 ? (float)(y == fh - 1 ? 1.0 : -1.0 + y * (2.0 / (fh - 1))) : -1.0f;
        }
    return 0;
}

/* Python's round((full - crop) / 2): halves go to the even neighbour. */
static int centre_offset(int full, int crop)
{
    int d = full - crop, half = d / 2;
    return d % 2 == 0 || half % 2 == 0 ? half : half + 1;
}

/* Camera k's images of the whole batch as [B*To, 3, h, w] in [-1,1], cropped. */
static nn_tensor *camera_input(nn_ctx *c, const dp_model *m, const dp_batch *b, int k, const int *crops)
{
    const dp_config *cfg = &m->cfg;
    const int N = b->batch * cfg->n_obs_steps, H = cfg->height, W = cfg->width;
    const int h = cfg->crop_height, w = cfg->crop_width, cams = cfg->n_cameras;
    nn_tensor *x = nn_new(c, NN_DIMS(N, 3, h, w));
    if (!x) return NULL;
    const int y_centre = centre_offset(H, h), x_centre = centre_offset(W, w);
    for (int n = 0; n < N; n++) {
        const int oy = crops ? crops[((long)n * cams + k) * 2] : y_centre;
        const int ox = crops ? crops[((long)n * cams + k) * 2 + 1] : x_centre;
        const uint8_t *image = b->images + ((size_t)n * cams + k) * H * W * 3;
        for (int ch = 0; ch < 3; ch++) {
            float *out = x->data + ((size_t)n * 3 + ch) * h * w;
            for (int y = 0; y < h; y++) {
                const uint8_t *row = image + ((size_t)(oy + y) * W + ox) * 3 + ch;
                for (int xx = 0; xx < w; xx++) out[(size_t)y * w + xx] = (float)row[xx * 3] / 255.0f * 2.0f - 1.0f;
            }
        }
    }
    return x;
}

/* One camera's features [N, 64] (hybrid) or [N, 512] (resnet). */
static nn_tensor *camera_features(nn_ctx *c, const dp_model *m, const dp_camera_encoder *e, nn_tensor *x)
{
    nn_tensor *f = mod_resnet18_forward(c, &e->backbone, x);
    if (!f) return NULL;
    const int N = f->shape[0];
    if (m->cfg.encoder == DP_ENCODER_RESNET)
        return nn_reshape(c, nn_adaptive_avg_pool2d(c, f, 1, 1), NN_DIMS(N, 512));
    nn_tensor *kp = nn_spatial_softmax(c, mod_conv2d_forward(c, &e->keypoints, f), e->temperature->data[0]);
    nn_tensor *flat = nn_reshape(c, kp, NN_DIMS(N, 2 * m->cfg.num_keypoints));
    return nn_relu(c, mod_linear_forward(c, &e->linear, flat));
}

nn_tensor *dp_encode_obs(nn_ctx *c, const dp_model *m, const dp_batch *b, const int *crops)
{
    const dp_config *cfg = &m->cfg;
    const int B = b->batch, To = cfg->n_obs_steps, N = B * To, L = dp_lowdim_total(cfg);
    nn_tensor *parts[DP_MAX_CAMERAS + 1];
    int n_parts = 0;
    if (cfg->encoder != DP_ENCODER_LOWDIM)
        for (int k = 0; k < cfg->n_cameras; k++) {
            nn_tensor *x = camera_input(c, m, b, k, crops);
            if (!(parts[n_parts++] = x ? camera_features(c, m, &m->cameras[k], x) : NULL)) return NULL;
        }
    if (L > 0 && !(parts[n_parts++] = nn_wrap(c, b->lowdim, NN_DIMS(N, L)))) return NULL;
    nn_tensor *features = n_parts > 1 ? nn_concat(c, parts, n_parts, 1) : parts[0];
    return nn_reshape(c, features, NN_DIMS(B, To * dp_obs_feature_dim(cfg)));
}
