/* dp_options.c — the observation options of the trainers on Diffusion Policy's observation
 * encoders (dp-train, ibc-train), parsed and documented in one place: the encoder, its cameras and
 * low-dimensional fields with their normalisation, the crop, the spatial softmax, To and Ta. */
#include "train/trainers.h"

#include <string.h>

#include "util/error.h"
#include "util/parse.h"

void dp_obs_usage(FILE *fp, const dp_trainer_options *d)
{
    fprintf(fp,
            "Observation options:\n"
            "      --encoder hybrid|resnet|lowdim  observation encoder (default %s); hybrid: ResNet18\n"
            "                                  with GroupNorm and spatial softmax, as DP's image\n"
            "                                  policies; resnet: global average pool; lowdim: no cameras\n"
            "      --cameras LIST              cameras (default: every camera in the stream)\n"
            "      --lowdim FIELDS|none        low-dimensional stream fields (default observation.state)\n"
            "      --lowdim-norm MODE          limits, identity or maxabs for every low-dim field\n"
            "                                  (default: quaternions identity, the rest limits)\n"
            "      --lowdim-range-eps E        limits: a dimension whose range is below E is only\n"
            "                                  shifted, not scaled (default 1e-4, DP's range_eps)\n"
            "      --crop HxW                  random crop in training, centre crop at inference\n"
            "                                  (default 76x76 of 84x84, in proportion otherwise)\n"
            "      --keypoints N               spatial-softmax keypoints (default %d)\n"
            "      --feature-dim N             hybrid encoder's features per camera (default %d)\n"
            "      --obs-steps N               observation steps To (default %d)\n"
            "      --action-steps N            actions executed per query Ta (default %d)\n",
            dp_encoder_name(d->model.encoder), d->model.num_keypoints, d->model.feature_dim, d->model.n_obs_steps,
            d->model.n_action_steps);
}

int dp_obs_option(int id, const char *arg, dp_trainer_options *o)
{
    dp_config *m = &o->model;
    switch (id) {
    case DP_OBS_ENCODER: {
        int e = dp_encoder_parse(arg);
        if (e < 0) tool_usage_error("--encoder: '%s' is not hybrid, resnet or lowdim", arg);
        m->encoder = (dp_encoder_kind)e;
        return 1;
    }
    case DP_OBS_CAMERAS:
        strlist_free(o->cameras);
        o->cameras = strlist_split(arg, ',', &o->n_cameras);
        if (!o->cameras || o->n_cameras < 1 || o->n_cameras > DP_MAX_CAMERAS)
            tool_usage_error("--cameras: give 1 to %d names separated by commas", DP_MAX_CAMERAS);
        return 1;
    case DP_OBS_LOWDIM:
        strlist_free(o->lowdim);
        o->lowdim = NULL, o->n_lowdim = 0;
        if (strcmp(arg, "none") == 0) return 1;
        o->lowdim = strlist_split(arg, ',', &o->n_lowdim);
        if (!o->lowdim || o->n_lowdim < 1 || o->n_lowdim > DP_MAX_LOWDIM)
            tool_usage_error("--lowdim: give 1 to %d field names separated by commas, or none", DP_MAX_LOWDIM);
        return 1;
    case DP_OBS_LOWDIM_NORM: {
        int v = dp_norm_parse(arg);
        if (v < 0) tool_usage_error("--lowdim-norm: '%s' is not limits, identity or maxabs", arg);
        o->lowdim_norm = v;
        return 1;
    }
    case DP_OBS_RANGE_EPS: o->lowdim_range_eps = (float)tool_option_double("lowdim-range-eps", arg, 1e-30, 1e30); return 1;
    case DP_OBS_CROP:
        if (parse_size_hw(arg, &m->crop_height, &m->crop_width) < 0) tool_usage_error("--crop: %s", error_get());
        o->crop_given = 1;
        return 1;
    case DP_OBS_KEYPOINTS: m->num_keypoints = (int)tool_option_long("keypoints", arg, 1, 4096); return 1;
    case DP_OBS_FEATURES: m->feature_dim = (int)tool_option_long("feature-dim", arg, 1, 1 << 16); return 1;
    case DP_OBS_STEPS: m->n_obs_steps = (int)tool_option_long("obs-steps", arg, 1, 64); return 1;
    case DP_OBS_ACTIONS: m->n_action_steps = (int)tool_option_long("action-steps", arg, 1, 4096); return 1;
    }
    return 0;
}

void dp_obs_check(const dp_trainer_options *o)
{
    if (o->model.encoder == DP_ENCODER_LOWDIM && o->n_cameras)
        tool_usage_error("--cameras: the lowdim encoder takes no cameras");
    if (o->model.encoder == DP_ENCODER_LOWDIM && !o->n_lowdim)
        tool_usage_error("--lowdim none: the lowdim encoder needs a low-dimensional field");
}

void dp_obs_init(dp_trainer_options *o)
{
    o->lowdim_norm = -1;
    o->lowdim = strlist_split("observation.state", ',', &o->n_lowdim);
    if (!o->lowdim) tool_die(EXIT_DATA, "out of memory");
}

void dp_obs_free(dp_trainer_options *o)
{
    strlist_free(o->cameras);
    strlist_free(o->lowdim);
    o->cameras = o->lowdim = NULL;
    o->n_cameras = o->n_lowdim = 0;
}
