/* dp-train — train a Diffusion Policy (CNN UNet or transformer noise predictor, DP's hybrid image
 * encoder or low-dimensional observations) on a chunkified stream with observation histories:
 * the model's options here, everything else on the shared training path (lib/train). See
 * dp-train(1) and ilt-train(7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainers.h"
#include "util/error.h"
#include "util/parse.h"

static void usage(void)
{
    printf("Usage: dp-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train a Diffusion Policy on a chunkified sample stream with observation histories\n"
           "(chunkify -k HORIZON --obs-steps TO --action-start), read whole into memory.\n\n"
           "Model options:\n"
           "      --net unet|transformer      noise-prediction network (default unet)\n"
           "      --encoder hybrid|resnet|lowdim  observation encoder (default hybrid: ResNet18 with\n"
           "                                  GroupNorm, spatial softmax; lowdim: no cameras)\n"
           "      --cameras LIST              cameras (default: every camera in the stream)\n"
           "      --lowdim FIELDS|none        low-dimensional stream fields (default observation.state)\n"
           "      --lowdim-norm MODE          limits, identity or maxabs for every low-dim field\n"
           "                                  (default: quaternions identity, the rest limits)\n"
           "      --lowdim-range-eps E        limits: a dimension whose range is below E is only\n"
           "                                  shifted, not scaled (default 1e-4, DP's range_eps)\n"
           "      --crop HxW                  random crop in training, centre crop at inference\n"
           "                                  (default 76x76 of 84x84, in proportion otherwise)\n"
           "      --obs-steps N               observation steps To (default 2)\n"
           "      --horizon N                 actions predicted (default 16)\n"
           "      --action-steps N            actions executed per query Ta (default 8)\n"
           "      --down-dims LIST            UNet widths (default 256,512,1024; paper 512,1024,2048)\n"
           "      --kernel-size N             UNet kernel (default 5)\n"
           "      --groups N                  UNet GroupNorm groups (default 8)\n"
           "      --step-embed N              diffusion-step embedding (default 128)\n"
           "      --film scale|bias           FiLM conditioning (default scale: scale and bias)\n"
           "      --keypoints N               spatial-softmax keypoints (default 32)\n"
           "      --feature-dim N             hybrid encoder's features per camera (default 64)\n"
           "      --prediction epsilon|sample what the network predicts (default epsilon)\n"
           "      --train-timesteps N         diffusion steps (default 100)\n"
           "      --sampler ddpm|ddim         the checkpoint's default sampler (default ddpm)\n"
           "      --inference-steps N         the checkpoint's default steps (default 100)\n"
           "      --eval-steps N              DDIM steps of train_action_mse in the log (default 10)\n"
           "Transformer (--net transformer):\n"
           "      --n-layer N                 decoder layers (default 8)\n"
           "      --n-head N                  attention heads (default 4)\n"
           "      --n-emb N                   width (default 256)\n"
           "      --p-drop-attn P             attention and feed-forward dropout (default 0.3)\n"
           "      --encoder-weight-decay W    the observation encoder's weight decay (default 1e-6)\n\n");
    train_usage(stdout);
    printf("dp-train's defaults: --lr 1e-4 --weight-decay 1e-6 --betas 0.95,0.999 --batch-size 64\n"
           "--steps 10000 --lr-schedule cosine --warmup 500 --ema on --save-every 1000; with --net\n"
           "transformer (DP-T): --weight-decay 1e-3 --betas 0.9,0.95 --warmup 1000.\n");
}

enum { O_NET = TRAIN_MODEL_OPTION, O_ENCODER, O_CAMERAS, O_LOWDIM, O_LOWDIM_NORM, O_RANGE_EPS, O_CROP, O_OBS, O_HORIZON, O_ACTIONS, O_DOWN,
       O_KERNEL, O_GROUPS, O_EMBED, O_FILM, O_KEYPOINTS, O_FEATURES, O_PREDICTION, O_TIMESTEPS, O_SAMPLER,
       O_INFERENCE, O_EVAL, O_LAYERS, O_HEADS, O_EMB, O_DROP, O_ENC_WD };

static const struct option model_longopts[] = {
    {"net", required_argument, 0, O_NET}, {"encoder", required_argument, 0, O_ENCODER},
    {"cameras", required_argument, 0, O_CAMERAS}, {"lowdim", required_argument, 0, O_LOWDIM},
    {"lowdim-norm", required_argument, 0, O_LOWDIM_NORM},
    {"lowdim-range-eps", required_argument, 0, O_RANGE_EPS},
    {"crop", required_argument, 0, O_CROP}, {"obs-steps", required_argument, 0, O_OBS},
    {"horizon", required_argument, 0, O_HORIZON}, {"action-steps", required_argument, 0, O_ACTIONS},
    {"down-dims", required_argument, 0, O_DOWN}, {"kernel-size", required_argument, 0, O_KERNEL},
    {"groups", required_argument, 0, O_GROUPS}, {"step-embed", required_argument, 0, O_EMBED},
    {"film", required_argument, 0, O_FILM}, {"keypoints", required_argument, 0, O_KEYPOINTS},
    {"feature-dim", required_argument, 0, O_FEATURES}, {"prediction", required_argument, 0, O_PREDICTION},
    {"train-timesteps", required_argument, 0, O_TIMESTEPS}, {"sampler", required_argument, 0, O_SAMPLER},
    {"inference-steps", required_argument, 0, O_INFERENCE}, {"eval-steps", required_argument, 0, O_EVAL},
    {"n-layer", required_argument, 0, O_LAYERS}, {"n-head", required_argument, 0, O_HEADS},
    {"n-emb", required_argument, 0, O_EMB}, {"p-drop-attn", required_argument, 0, O_DROP},
    {"encoder-weight-decay", required_argument, 0, O_ENC_WD},
    {0, 0, 0, 0}};

static int opt_int(const char *name, const char *text, long lo, long hi)
{
    long v;
    if (parse_long(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return (int)v;
}

static int opt_enum(const char *name, const char *text, int value, const char *choices)
{
    if (value < 0) tool_usage_error("--%s: '%s' is not %s", name, text, choices);
    return value;
}

static void parse_model_option(int id, const char *arg, void *context)
{
    dp_trainer_options *o = context;
    dp_config *m = &o->model;
    switch (id) {
    case O_NET:
        m->net = (dp_net_kind)opt_enum("net", arg, dp_net_parse(arg), "unet or transformer");
        if (m->net == DP_NET_TRANSFORMER && !o->horizon_given) m->horizon = 10;
        break;
    case O_ENCODER: m->encoder = (dp_encoder_kind)opt_enum("encoder", arg, dp_encoder_parse(arg), "hybrid, resnet or lowdim"); break;
    case O_CAMERAS:
        strlist_free(o->cameras);
        o->cameras = strlist_split(arg, ',', &o->n_cameras);
        if (!o->cameras || o->n_cameras < 1 || o->n_cameras > DP_MAX_CAMERAS)
            tool_usage_error("--cameras: give 1 to %d names separated by commas", DP_MAX_CAMERAS);
        break;
    case O_LOWDIM:
        strlist_free(o->lowdim);
        o->lowdim = NULL, o->n_lowdim = 0;
        if (strcmp(arg, "none") == 0) break;
        o->lowdim = strlist_split(arg, ',', &o->n_lowdim);
        if (!o->lowdim || o->n_lowdim < 1 || o->n_lowdim > DP_MAX_LOWDIM)
            tool_usage_error("--lowdim: give 1 to %d field names separated by commas, or none", DP_MAX_LOWDIM);
        break;
    case O_LOWDIM_NORM: o->lowdim_norm = opt_enum("lowdim-norm", arg, dp_norm_parse(arg), "limits, identity or maxabs"); break;
    case O_RANGE_EPS: {
        double v;
        if (parse_double(arg, 1e-30, 1e30, &v) < 0) tool_usage_error("--lowdim-range-eps: %s", error_get());
        o->lowdim_range_eps = (float)v;
        break;
    }
    case O_CROP:
        if (parse_size_hw(arg, &m->crop_height, &m->crop_width) < 0) tool_usage_error("--crop: %s", error_get());
        o->crop_given = 1;
        break;
    case O_OBS: m->n_obs_steps = opt_int("obs-steps", arg, 1, 64); break;
    case O_HORIZON: m->horizon = opt_int("horizon", arg, 1, 4096), o->horizon_given = 1; break;
    case O_ACTIONS: m->n_action_steps = opt_int("action-steps", arg, 1, 4096); break;
    case O_DOWN: {
        size_t n = 0;
        char **list = strlist_split(arg, ',', &n);
        if (!list || n < 1 || n > MOD_UNET_MAX_LEVELS) tool_usage_error("--down-dims: 1 to %d widths", MOD_UNET_MAX_LEVELS);
        m->n_levels = (int)n;
        for (size_t i = 0; i < n; i++) m->down_dims[i] = opt_int("down-dims", list[i], 8, 1 << 16);
        strlist_free(list);
        break;
    }
    case O_KERNEL: m->kernel_size = opt_int("kernel-size", arg, 1, 31); break;
    case O_GROUPS: m->n_groups = opt_int("groups", arg, 1, 1024); break;
    case O_EMBED: m->step_embed_dim = opt_int("step-embed", arg, 2, 1 << 16); break;
    case O_FILM:
        if (strcmp(arg, "scale") == 0) m->cond_predict_scale = 1;
        else if (strcmp(arg, "bias") == 0) m->cond_predict_scale = 0;
        else tool_usage_error("--film: '%s' is not scale or bias", arg);
        break;
    case O_KEYPOINTS: m->num_keypoints = opt_int("keypoints", arg, 1, 4096); break;
    case O_FEATURES: m->feature_dim = opt_int("feature-dim", arg, 1, 1 << 16); break;
    case O_PREDICTION:
        m->prediction = (dp_prediction)opt_enum("prediction", arg, dp_prediction_parse(arg), "epsilon or sample");
        break;
    case O_TIMESTEPS: m->train_steps = opt_int("train-timesteps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_SAMPLER: m->sampler = (dp_sampler)opt_enum("sampler", arg, dp_sampler_parse(arg), "ddpm or ddim"); break;
    case O_INFERENCE: m->inference_steps = opt_int("inference-steps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_EVAL: o->eval_steps = opt_int("eval-steps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_LAYERS: m->n_layer = opt_int("n-layer", arg, 1, 16); break;
    case O_HEADS: m->n_head = opt_int("n-head", arg, 1, 64); break;
    case O_EMB: m->n_emb = opt_int("n-emb", arg, 2, 1 << 14); break;
    case O_DROP: {
        double v;
        if (parse_double(arg, 0, 0.99, &v) < 0) tool_usage_error("--p-drop-attn: %s", error_get());
        m->p_drop_attn = (float)v;
        break;
    }
    case O_ENC_WD: {
        double v;
        if (parse_double(arg, 0, 10, &v) < 0) tool_usage_error("--encoder-weight-decay: %s", error_get());
        o->encoder_weight_decay = v;
        break;
    }
    }
}

int main(int argc, char **argv)
{
    tool_init("dp-train");
    train_options train;
    train_options_default(&train);
    /* Diffusion Policy's image configuration (real-stanford/diffusion_policy) */
    train.weight_decay = 1e-6;
    train.beta1 = 0.95;
    train.batch = 64;
    train.steps = 10000;
    train.cosine = 1;
    train.warmup = 500;
    train.ema = 1;
    /* DP-T's optimizer (transformer_weight_decay 1e-3, betas 0.9/0.95, 1000 warmup steps) when
     * the command line asks for the transformer; options given later still override */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--net=transformer") == 0 ||
            (strcmp(argv[i], "--net") == 0 && i + 1 < argc && strcmp(argv[i + 1], "transformer") == 0)) {
            train.weight_decay = 1e-3;
            train.beta1 = 0.9, train.beta2 = 0.95;
            train.warmup = 1000;
        }
    dp_trainer_options model = {.eval_steps = 10, .lowdim_norm = -1, .encoder_weight_decay = 1e-6, .train = &train};
    dp_config_default(&model.model);
    model.lowdim = strlist_split("observation.state", ',', &model.n_lowdim);
    train_parse(argc, argv, &train, model_longopts, parse_model_option, &model, usage);
    if (model.model.encoder == DP_ENCODER_LOWDIM && model.n_cameras)
        tool_usage_error("--cameras: the lowdim encoder takes no cameras");
    if (model.model.encoder == DP_ENCODER_LOWDIM && !model.n_lowdim)
        tool_usage_error("--lowdim none: the lowdim encoder needs a low-dimensional field");
    if (model.model.n_action_steps > model.model.horizon - model.model.n_obs_steps + 1)
        tool_usage_error("--action-steps %d: a horizon of %d with %d observation steps gives %d actions from the current step",
                         model.model.n_action_steps, model.model.horizon, model.model.n_obs_steps,
                         model.model.horizon - model.model.n_obs_steps + 1);
    int rc = train_run(&train, &dp_trainer_class, &model);
    strlist_free(model.cameras);
    strlist_free(model.lowdim);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return EXIT_SUCCESS;
}
