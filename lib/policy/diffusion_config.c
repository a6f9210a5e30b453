/* diffusion_config.c — Diffusion Policy's configuration: DP's image defaults, the checks that
 * name a bad field, the feature sizes, and the names of the enumerations as they appear in
 * checkpoints and on command lines. */
#include "policy/diffusion.h"

#include <string.h>

#include "util/error.h"

void dp_config_default(dp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->encoder = DP_ENCODER_HYBRID;
    cfg->height = cfg->width = 84;
    cfg->crop_height = cfg->crop_width = 76;
    cfg->num_keypoints = 32;
    cfg->feature_dim = 64;
    cfg->n_obs_steps = 2;
    cfg->horizon = 16;
    cfg->n_action_steps = 8;
    cfg->net = DP_NET_UNET;
    cfg->n_levels = 3;
    cfg->down_dims[0] = 256;
    cfg->down_dims[1] = 512;
    cfg->down_dims[2] = 1024;
    cfg->kernel_size = 5;
    cfg->n_groups = 8;
    cfg->step_embed_dim = 128;
    cfg->cond_predict_scale = 1;
    cfg->n_layer = 8;
    cfg->n_head = 4;
    cfg->n_emb = 256;
    cfg->p_drop_emb = 0.0f;
    cfg->p_drop_attn = 0.3f;
    cfg->prediction = DP_PREDICT_EPSILON;
    cfg->train_steps = 100;
    cfg->sampler = DP_SAMPLER_DDPM;
    cfg->inference_steps = 100;
    cfg->lowdim_range_eps = DP_RANGE_EPS;
}

int dp_config_add_lowdim(dp_config *cfg, const char *name, int dim)
{
    if (cfg->n_lowdim >= DP_MAX_LOWDIM) return error_set("Diffusion Policy: more than %d low-dim keys", DP_MAX_LOWDIM);
    if (strlen(name) >= DP_NAME_MAX) return error_set("Diffusion Policy: low-dim key name '%s' is too long", name);
    const int j = cfg->n_lowdim++;
    const size_t n = strlen(name);
    strcpy(cfg->lowdim_names[j], name);
    cfg->lowdim_dims[j] = dim;
    cfg->lowdim_norm[j] = n >= 4 && strcmp(name + n - 4, "quat") == 0 ? DP_NORM_IDENTITY : DP_NORM_LIMITS;
    return 0;
}

int dp_lowdim_total(const dp_config *cfg)
{
    int n = 0;
    for (int j = 0; j < cfg->n_lowdim; j++) n += cfg->lowdim_dims[j];
    return n;
}

int dp_obs_feature_dim(const dp_config *cfg)
{
    int per_camera = cfg->encoder == DP_ENCODER_HYBRID ? cfg->feature_dim : 512;
    return (cfg->encoder == DP_ENCODER_LOWDIM ? 0 : cfg->n_cameras * per_camera) + dp_lowdim_total(cfg);
}

/* The ConditionalUnet1D's settings: the horizon halves at every level but the last. */
static int check_unet(const dp_config *cfg)
{
    if (cfg->n_levels < 1 || cfg->n_levels > MOD_UNET_MAX_LEVELS)
        return error_set("Diffusion Policy: 1 to %d UNet levels (down_dims), got %d", MOD_UNET_MAX_LEVELS, cfg->n_levels);
    const int divisor = 1 << (cfg->n_levels - 1);
    if (cfg->horizon % divisor)
        return error_set("Diffusion Policy: horizon %d must be a multiple of %d (%d UNet levels)", cfg->horizon, divisor,
                         cfg->n_levels);
    if (cfg->n_groups < 1) return error_set("Diffusion Policy: n_groups must be positive, got %d", cfg->n_groups);
    for (int l = 0; l < cfg->n_levels; l++)
        if (cfg->down_dims[l] < 1 || cfg->down_dims[l] % cfg->n_groups)
            return error_set("Diffusion Policy: down_dims[%d] = %d must be a positive multiple of n_groups %d", l,
                             cfg->down_dims[l], cfg->n_groups);
    if (cfg->down_dims[0] % 8)
        return error_set("Diffusion Policy: down_dims[0] = %d must be a multiple of 8 (final_conv's GroupNorm(8))",
                         cfg->down_dims[0]);
    if (cfg->kernel_size < 1 || cfg->kernel_size % 2 == 0)
        return error_set("Diffusion Policy: kernel_size must be odd, got %d", cfg->kernel_size);
    if (cfg->step_embed_dim < 4 || cfg->step_embed_dim % 2)
        return error_set("Diffusion Policy: diffusion_step_embed_dim must be even and >= 4, got %d", cfg->step_embed_dim);
    return 0;
}

/* TransformerForDiffusion's settings (its init checks the rest and names them). */
static int check_transformer(const dp_config *cfg)
{
    if (cfg->n_layer < 1 || cfg->n_layer > MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS)
        return error_set("Diffusion Policy: n_layer must be 1..%d, got %d", MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS,
                         cfg->n_layer);
    if (cfg->n_head < 1 || cfg->n_emb < 4 || cfg->n_emb % 2 || cfg->n_emb % cfg->n_head)
        return error_set("Diffusion Policy: n_emb %d must be even, at least 4 and a multiple of n_head %d", cfg->n_emb,
                         cfg->n_head);
    if (!(cfg->p_drop_emb >= 0 && cfg->p_drop_emb < 1) || !(cfg->p_drop_attn >= 0 && cfg->p_drop_attn < 1))
        return error_set("Diffusion Policy: dropout p_drop_emb %g and p_drop_attn %g must be in [0, 1)",
                         (double)cfg->p_drop_emb, (double)cfg->p_drop_attn);
    return 0;
}

int dp_config_check_encoder(const dp_config *cfg)
{
    if (cfg->action_dim < 1) return error_set("Diffusion Policy: action_dim must be positive, got %d", cfg->action_dim);
    if (cfg->encoder == DP_ENCODER_LOWDIM) {
        if (cfg->n_cameras != 0)
            return error_set("Diffusion Policy: the lowdim encoder takes no cameras, got %d", cfg->n_cameras);
    } else if (cfg->encoder == DP_ENCODER_HYBRID || cfg->encoder == DP_ENCODER_RESNET) {
        if (cfg->n_cameras < 1 || cfg->n_cameras > DP_MAX_CAMERAS)
            return error_set("Diffusion Policy: the %s encoder needs 1 to %d cameras, got %d",
                             dp_encoder_name(cfg->encoder), DP_MAX_CAMERAS, cfg->n_cameras);
        if (cfg->height < 1 || cfg->width < 1) return error_set("Diffusion Policy: bad image size %dx%d", cfg->height, cfg->width);
        if (cfg->crop_height < 1 || cfg->crop_width < 1 || cfg->crop_height > cfg->height || cfg->crop_width > cfg->width)
            return error_set("Diffusion Policy: crop %dx%d must fit in the %dx%d image", cfg->crop_height,
                             cfg->crop_width, cfg->height, cfg->width);
        for (int k = 0; k < cfg->n_cameras; k++)
            if (!cfg->camera_names[k][0] || strchr(cfg->camera_names[k], ','))
                return error_set("Diffusion Policy: camera %d has an empty name or one with a comma", k);
        if (cfg->encoder == DP_ENCODER_HYBRID && (cfg->num_keypoints < 1 || cfg->feature_dim < 1))
            return error_set("Diffusion Policy: num_keypoints %d and feature_dim %d must be positive",
                             cfg->num_keypoints, cfg->feature_dim);
    } else {
        return error_set("Diffusion Policy: unknown encoder kind %d", (int)cfg->encoder);
    }
    if (cfg->n_lowdim < 0 || cfg->n_lowdim > DP_MAX_LOWDIM)
        return error_set("Diffusion Policy: 0 to %d low-dim keys allowed, got %d", DP_MAX_LOWDIM, cfg->n_lowdim);
    for (int j = 0; j < cfg->n_lowdim; j++) {
        if (cfg->lowdim_dims[j] < 1) return error_set("Diffusion Policy: low-dim key '%s' has size %d", cfg->lowdim_names[j], cfg->lowdim_dims[j]);
        if ((unsigned)cfg->lowdim_norm[j] > DP_NORM_MAXABS)
            return error_set("Diffusion Policy: low-dim key '%s' has unknown normalisation %d", cfg->lowdim_names[j],
                             (int)cfg->lowdim_norm[j]);
        if (!cfg->lowdim_names[j][0] || strchr(cfg->lowdim_names[j], ',') || strcmp(cfg->lowdim_names[j], "action") == 0)
            return error_set("Diffusion Policy: low-dim key %d: '%s' is not a usable name", j, cfg->lowdim_names[j]);
    }
    if ((unsigned)cfg->action_norm > DP_NORM_MAXABS)
        return error_set("Diffusion Policy: unknown action normalisation %d", (int)cfg->action_norm);
    if (!(cfg->lowdim_range_eps > 0 && cfg->lowdim_range_eps < 1e30f))
        return error_set("Diffusion Policy: lowdim_range_eps must be positive, got %g", (double)cfg->lowdim_range_eps);
    if (dp_obs_feature_dim(cfg) < 1) return error_set("Diffusion Policy: no observation (no camera and no low-dim key)");
    if (cfg->n_obs_steps < 1) return error_set("Diffusion Policy: n_obs_steps must be at least 1, got %d", cfg->n_obs_steps);
    return 0;
}

int dp_config_check(const dp_config *cfg)
{
    if (cfg->net != DP_NET_UNET && cfg->net != DP_NET_TRANSFORMER)
        return error_set("Diffusion Policy: unknown net kind %d", (int)cfg->net);
    if (dp_config_check_encoder(cfg) < 0) return -1;
    if (cfg->horizon < 1) return error_set("Diffusion Policy: horizon must be positive, got %d", cfg->horizon);
    if (cfg->n_obs_steps > cfg->horizon)
        return error_set("Diffusion Policy: n_obs_steps %d exceeds the horizon %d", cfg->n_obs_steps, cfg->horizon);
    if (cfg->n_action_steps < 1 || cfg->n_action_steps > cfg->horizon - cfg->n_obs_steps + 1)
        return error_set("Diffusion Policy: n_action_steps %d must be 1..%d (horizon - n_obs_steps + 1)",
                         cfg->n_action_steps, cfg->horizon - cfg->n_obs_steps + 1);
    if ((cfg->net == DP_NET_UNET ? check_unet(cfg) : check_transformer(cfg)) < 0) return -1;
    if (cfg->prediction != DP_PREDICT_EPSILON && cfg->prediction != DP_PREDICT_SAMPLE)
        return error_set("Diffusion Policy: unknown prediction type %d", (int)cfg->prediction);
    if (cfg->train_steps < 1 || cfg->train_steps > DP_MAX_TRAIN_STEPS)
        return error_set("Diffusion Policy: num_train_timesteps must be 1..%d, got %d", DP_MAX_TRAIN_STEPS, cfg->train_steps);
    if (cfg->sampler != DP_SAMPLER_DDPM && cfg->sampler != DP_SAMPLER_DDIM)
        return error_set("Diffusion Policy: unknown sampler %d", (int)cfg->sampler);
    if (cfg->inference_steps < 1)
        return error_set("Diffusion Policy: inference steps must be positive, got %d", cfg->inference_steps);
    return 0;
}

static const char *const encoder_names[] = {"hybrid", "resnet", "lowdim", NULL};
static const char *const net_names[] = {"unet", "transformer", NULL};
static const char *const prediction_names[] = {"epsilon", "sample", NULL};
static const char *const sampler_names[] = {"ddpm", "ddim", NULL};
static const char *const norm_names[] = {"limits", "identity", "maxabs", NULL};

static int find_name(const char *const *names, const char *s)
{
    for (int i = 0; s && names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

const char *dp_encoder_name(dp_encoder_kind k) { return (unsigned)k < 3 ? encoder_names[k] : "?"; }
const char *dp_net_name(dp_net_kind k) { return (unsigned)k < 2 ? net_names[k] : "?"; }
const char *dp_prediction_name(dp_prediction p) { return (unsigned)p < 2 ? prediction_names[p] : "?"; }
const char *dp_sampler_name(dp_sampler s) { return (unsigned)s < 2 ? sampler_names[s] : "?"; }
int dp_encoder_parse(const char *s) { return find_name(encoder_names, s); }
int dp_net_parse(const char *s) { return find_name(net_names, s); }
int dp_prediction_parse(const char *s) { return find_name(prediction_names, s); }
int dp_sampler_parse(const char *s) { return find_name(sampler_names, s); }
const char *dp_norm_name(dp_norm_mode m) { return (unsigned)m < 3 ? norm_names[m] : "?"; }
int dp_norm_parse(const char *s) { return find_name(norm_names, s); }
