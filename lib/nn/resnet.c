/* resnet.c — torchvision's ResNet18 up to layer4 with a selectable normalisation layer
 * (BatchNorm, FrozenBatchNorm, GroupNorm), names as torchvision's state_dict or as robomimic's
 * nn.Sequential of its children (modules.h). */
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "util/error.h"

static int conv_kaiming(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int kernel,
                        int stride, int padding)
{
    if (mod_conv2d_init(m, ps, NULL, prefix, in, out, kernel, stride, padding, 0) < 0) return -1;
    if (rng) nn_init_kaiming_normal_fan_out(m->weight, rng);
    return 0;
}

static int block_init(mod_basic_block *b, nn_params *ps, rng_t *rng, const char *prefix, mod_norm_kind norm,
                      int in, int out, int stride)
{
    char name[MOD_NAME_MAX];
    memset(b, 0, sizeof *b);
    if (mod_prefix(name, sizeof name, prefix, "conv1.") < 0 ||
        conv_kaiming(&b->conv1, ps, rng, name, in, out, 3, stride, 1) < 0) return -1;
    if (mod_prefix(name, sizeof name, prefix, "bn1.") < 0 || mod_norm_init(&b->bn1, ps, name, norm, out, 0) < 0)
        return -1;
    if (mod_prefix(name, sizeof name, prefix, "conv2.") < 0 ||
        conv_kaiming(&b->conv2, ps, rng, name, out, out, 3, 1, 1) < 0) return -1;
    if (mod_prefix(name, sizeof name, prefix, "bn2.") < 0 || mod_norm_init(&b->bn2, ps, name, norm, out, 0) < 0)
        return -1;
    if (stride != 1 || in != out) {
        b->has_downsample = 1;
        if (mod_prefix(name, sizeof name, prefix, "downsample.0.") < 0 ||
            conv_kaiming(&b->down_conv, ps, rng, name, in, out, 1, stride, 0) < 0) return -1;
        if (mod_prefix(name, sizeof name, prefix, "downsample.1.") < 0 ||
            mod_norm_init(&b->down_norm, ps, name, norm, out, 0) < 0) return -1;
    }
    return 0;
}

int mod_resnet18_init_named(mod_resnet18 *m, nn_params *ps, rng_t *rng, const char *prefix, mod_norm_kind norm,
                            mod_resnet_names names)
{
    char name[MOD_NAME_MAX];
    int sequential = names == MOD_RESNET_SEQUENTIAL;
    memset(m, 0, sizeof *m);
    if (norm != MOD_NORM_BATCH && norm != MOD_NORM_FROZEN_BATCH && norm != MOD_NORM_GROUP)
        return error_set("ResNet18: normalisation must be batch, frozen batch or group norm");
    if (mod_prefix(name, sizeof name, prefix, sequential ? "0." : "conv1.") < 0 ||
        conv_kaiming(&m->conv1, ps, rng, name, 3, 64, 7, 2, 3) < 0)
        return -1;
    if (mod_prefix(name, sizeof name, prefix, sequential ? "1." : "bn1.") < 0 ||
        mod_norm_init(&m->bn1, ps, name, norm, 64, 0) < 0)
        return -1;
    static const int widths[4] = {64, 128, 256, 512};
    int in = 64;
    for (int layer = 0; layer < 4; layer++) {
        for (int i = 0; i < 2; i++) {
            int stride = (layer > 0 && i == 0) ? 2 : 1;
            /* nn.Sequential indices: conv1 bn1 relu maxpool layer1..layer4 = 0 1 2 3 4..7 */
            if (mod_prefix(name, sizeof name, prefix, sequential ? "%d.%d." : "layer%d.%d.",
                           sequential ? layer + 4 : layer + 1, i) < 0) return -1;
            if (block_init(&m->blocks[2 * layer + i], ps, rng, name, norm, in, widths[layer], stride) < 0) return -1;
            in = widths[layer];
        }
    }
    return 0;
}

int mod_resnet18_init(mod_resnet18 *m, nn_params *ps, rng_t *rng, const char *prefix, mod_norm_kind norm)
{
    return mod_resnet18_init_named(m, ps, rng, prefix, norm, MOD_RESNET_TORCHVISION);
}

/* relu(norm(x) + residual); FrozenBatchNorm uses the engine's fused one-pass op (same values) */
static nn_tensor *norm_relu(nn_ctx *c, const mod_norm *n, nn_tensor *x, nn_tensor *residual)
{
    if (n->kind == MOD_NORM_FROZEN_BATCH)
        return nn_frozen_batch_norm_relu(c, x, n->weight, n->bias, n->running_mean, n->running_var, n->eps, residual);
    nn_tensor *h = mod_norm_forward(c, n, x);
    return nn_relu(c, residual ? nn_add(c, h, residual) : h);
}

nn_tensor *mod_basic_block_forward(nn_ctx *c, const mod_basic_block *b, nn_tensor *x)
{
    nn_tensor *h = norm_relu(c, &b->bn1, mod_conv2d_forward(c, &b->conv1, x), NULL);
    nn_tensor *identity = b->has_downsample ? mod_norm_forward(c, &b->down_norm, mod_conv2d_forward(c, &b->down_conv, x))
                                            : x;
    return norm_relu(c, &b->bn2, mod_conv2d_forward(c, &b->conv2, h), identity);
}

nn_tensor *mod_resnet18_forward(nn_ctx *c, const mod_resnet18 *m, nn_tensor *x)
{
    if (x && (x->ndim != 4 || x->shape[1] != 3)) {
        char s[64];
        error_set("ResNet18: input must be [B,3,H,W], got %s", nn_shape_str(x, s, sizeof s));
        return NULL;
    }
    nn_tensor *h = mod_resnet18_stem_forward(c, m, x);
    for (int i = 0; i < 8; i++) h = mod_basic_block_forward(c, &m->blocks[i], h);
    return h;
}

nn_tensor *mod_resnet18_stem_forward(nn_ctx *c, const mod_resnet18 *m, nn_tensor *x)
{
    return nn_max_pool2d(c, norm_relu(c, &m->bn1, mod_conv2d_forward(c, &m->conv1, x), NULL), 3, 2, 1);
}
