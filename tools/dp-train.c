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
    dp_trainer_options d = {0};
    dp_config_default(&d.model);
    printf("Usage: dp-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train a Diffusion Policy on a chunkified sample stream with observation histories\n"
           "(chunkify -k HORIZON --obs-steps TO --action-start), read whole into memory.\n\n");
    dp_obs_usage(stdout, &d);
    printf("Model options:\n"
           "      --net unet|transformer      noise-prediction network (default unet)\n"
           "      --horizon N                 actions predicted (default %d; 10 with the transformer)\n"
           "      --action-norm MODE          limits (default: each dimension's range to [-1, 1]),\n"
           "                                  identity (DP's for robomimic's delta actions) or maxabs\n"
           "      --down-dims LIST            UNet widths (default 256,512,1024; paper 512,1024,2048)\n"
           "      --kernel-size N             UNet kernel (default 5)\n"
           "      --groups N                  UNet GroupNorm groups (default 8)\n"
           "      --step-embed N              diffusion-step embedding (default 128)\n"
           "      --film scale|bias           FiLM conditioning (default scale: scale and bias)\n"
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
           "      --encoder-weight-decay W    the observation encoder's weight decay (default 1e-6)\n"
           "      --encoder-lr LR             the observation encoder's learning rate (default --lr)\n\n",
           d.model.horizon);
    train_usage(stdout);
    printf("dp-train's defaults: --lr 1e-4 --weight-decay 1e-6 --betas 0.95,0.999 --batch-size 64\n"
           "--steps 10000 --lr-schedule cosine --warmup 500 --ema on --save-every 1000; with --net\n"
           "transformer (DP-T): --weight-decay 1e-3 --betas 0.9,0.95 --warmup 1000.\n");
}

enum { O_NET = DP_OBS_OPTION_END, O_HORIZON, O_DOWN, O_KERNEL, O_GROUPS, O_EMBED, O_FILM, O_PREDICTION, O_TIMESTEPS,
       O_SAMPLER, O_INFERENCE, O_EVAL, O_LAYERS, O_HEADS, O_EMB, O_DROP, O_ENC_WD, O_ENC_LR, O_ACTION_NORM };

static const struct option model_longopts[] = {
    DP_OBS_LONGOPTS,
    {"net", required_argument, 0, O_NET}, {"horizon", required_argument, 0, O_HORIZON},
    {"down-dims", required_argument, 0, O_DOWN}, {"kernel-size", required_argument, 0, O_KERNEL},
    {"groups", required_argument, 0, O_GROUPS}, {"step-embed", required_argument, 0, O_EMBED},
    {"film", required_argument, 0, O_FILM}, {"prediction", required_argument, 0, O_PREDICTION},
    {"train-timesteps", required_argument, 0, O_TIMESTEPS}, {"sampler", required_argument, 0, O_SAMPLER},
    {"inference-steps", required_argument, 0, O_INFERENCE}, {"eval-steps", required_argument, 0, O_EVAL},
    {"n-layer", required_argument, 0, O_LAYERS}, {"n-head", required_argument, 0, O_HEADS},
    {"n-emb", required_argument, 0, O_EMB}, {"p-drop-attn", required_argument, 0, O_DROP},
    {"encoder-weight-decay", required_argument, 0, O_ENC_WD}, {"encoder-lr", required_argument, 0, O_ENC_LR},
    {"action-norm", required_argument, 0, O_ACTION_NORM}, {0, 0, 0, 0}};

static int opt_enum(const char *name, const char *text, int value, const char *choices)
{
    if (value < 0) tool_usage_error("--%s: '%s' is not %s", name, text, choices);
    return value;
}

static void parse_model_option(int id, const char *arg, void *context)
{
    dp_trainer_options *o = context;
    dp_config *m = &o->model;
    if (dp_obs_option(id, arg, o)) return;
    switch (id) {
    case O_NET:
        m->net = (dp_net_kind)opt_enum("net", arg, dp_net_parse(arg), "unet or transformer");
        if (m->net == DP_NET_TRANSFORMER && !o->horizon_given) m->horizon = 10;
        break;
    case O_ACTION_NORM:
        m->action_norm = (dp_norm_mode)opt_enum("action-norm", arg, dp_norm_parse(arg), "limits, identity or maxabs");
        break;
    case O_HORIZON: m->horizon = (int)tool_option_long("horizon", arg, 1, 4096), o->horizon_given = 1; break;
    case O_DOWN: {
        size_t n = 0;
        char **list = strlist_split(arg, ',', &n);
        if (!list || n < 1 || n > MOD_UNET_MAX_LEVELS) tool_usage_error("--down-dims: 1 to %d widths", MOD_UNET_MAX_LEVELS);
        m->n_levels = (int)n;
        for (size_t i = 0; i < n; i++) m->down_dims[i] = (int)tool_option_long("down-dims", list[i], 8, 1 << 16);
        strlist_free(list);
        break;
    }
    case O_KERNEL: m->kernel_size = (int)tool_option_long("kernel-size", arg, 1, 31); break;
    case O_GROUPS: m->n_groups = (int)tool_option_long("groups", arg, 1, 1024); break;
    case O_EMBED: m->step_embed_dim = (int)tool_option_long("step-embed", arg, 2, 1 << 16); break;
    case O_FILM:
        if (strcmp(arg, "scale") == 0) m->cond_predict_scale = 1;
        else if (strcmp(arg, "bias") == 0) m->cond_predict_scale = 0;
        else tool_usage_error("--film: '%s' is not scale or bias", arg);
        break;
    case O_PREDICTION:
        m->prediction = (dp_prediction)opt_enum("prediction", arg, dp_prediction_parse(arg), "epsilon or sample");
        break;
    case O_TIMESTEPS: m->train_steps = (int)tool_option_long("train-timesteps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_SAMPLER: m->sampler = (dp_sampler)opt_enum("sampler", arg, dp_sampler_parse(arg), "ddpm or ddim"); break;
    case O_INFERENCE: m->inference_steps = (int)tool_option_long("inference-steps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_EVAL: o->eval_steps = (int)tool_option_long("eval-steps", arg, 1, DP_MAX_TRAIN_STEPS); break;
    case O_LAYERS: m->n_layer = (int)tool_option_long("n-layer", arg, 1, 16); break;
    case O_HEADS: m->n_head = (int)tool_option_long("n-head", arg, 1, 64); break;
    case O_EMB: m->n_emb = (int)tool_option_long("n-emb", arg, 2, 1 << 14); break;
    case O_DROP: m->p_drop_attn = (float)tool_option_double("p-drop-attn", arg, 0, 0.99); break;
    case O_ENC_WD: o->encoder_weight_decay = tool_option_double("encoder-weight-decay", arg, 0, 10); break;
    case O_ENC_LR: o->encoder_lr = tool_option_double("encoder-lr", arg, 0, 10); break;
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
    dp_trainer_options model = {.eval_steps = 10, .encoder_weight_decay = 1e-6, .encoder_lr = -1, .train = &train};
    dp_config_default(&model.model);
    dp_obs_init(&model);
    train_parse(argc, argv, &train, model_longopts, parse_model_option, &model, usage);
    dp_obs_check(&model);
    if (model.model.n_action_steps > model.model.horizon - model.model.n_obs_steps + 1)
        tool_usage_error("--action-steps %d: a horizon of %d with %d observation steps gives %d actions from the current step",
                         model.model.n_action_steps, model.model.horizon, model.model.n_obs_steps,
                         model.model.horizon - model.model.n_obs_steps + 1);
    int rc = train_run(&train, &dp_trainer_class, &model);
    dp_obs_free(&model);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return EXIT_SUCCESS;
}
