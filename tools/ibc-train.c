/* ibc-train — train an Implicit BC energy model (DP's IbcDfo policies: DP's observation encoder,
 * four Linear+ReLU+dropout layers, one logit) with the InfoNCE loss over counter-examples, on a
 * chunkified stream with observation histories: the model's options here, everything else on the
 * shared training path (lib/train). See ibc-train(1) and ilt-train(7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainers.h"
#include "util/error.h"
#include "util/parse.h"

static void usage(void)
{
    printf("Usage: ibc-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train an Implicit BC energy model on a chunkified sample stream with observation\n"
           "histories (chunkify -k TO+TA-1 --obs-steps TO --action-start), read whole into memory.\n\n"
           "Model options:\n"
           "      --encoder lowdim|hybrid|resnet  observation encoder (default lowdim; hybrid: ResNet18\n"
           "                                  with GroupNorm, spatial softmax, as DP's image IBC)\n"
           "      --cameras LIST              cameras (default: every camera in the stream)\n"
           "      --lowdim FIELDS|none        low-dimensional stream fields (default observation.state)\n"
           "      --lowdim-norm MODE          limits, identity or maxabs for every low-dim field\n"
           "                                  (default: quaternions identity, the rest limits)\n"
           "      --lowdim-range-eps E        limits: a dimension whose range is below E is only\n"
           "                                  shifted, not scaled (default 1e-4, DP's range_eps)\n"
           "      --crop HxW                  random crop in training, centre crop at inference\n"
           "                                  (default 76x76 of 84x84, in proportion otherwise)\n"
           "      --keypoints N               spatial-softmax keypoints (default 32)\n"
           "      --feature-dim N             hybrid encoder's features per camera (default 64)\n"
           "      --obs-steps N               observation steps To (default 2)\n"
           "      --action-steps N            action sequence Ta scored and executed (default 1)\n"
           "      --width N                   hidden units of the four layers (default 1024)\n"
           "      --dropout P                 dropout after every hidden layer (default 0.1)\n"
           "      --negatives N               counter-examples per sample (default 1024)\n"
           "      --sampler NAME              the checkpoint's default inference: dfo, dfo-argmax,\n"
           "                                  ibc-dfo or langevin (default dfo)\n"
           "      --samples N                 its samples (default 1024)\n"
           "      --iterations K              its iterations (default 5 for DFO, 100 for Langevin)\n"
           "      --eval-samples N            samples of train_action_mse's DFO (default 1024)\n"
           "      --grad-penalty W            add google-research/ibc's gradient penalty with weight W\n"
           "                                  (default 0: off; 1 in its Langevin configurations)\n"
           "      --grad-margin M             the penalty's margin on ||dE/da||_inf (default 1)\n"
           "      --dfo-negatives F           this fraction of the counter-examples from iterative DFO\n"
           "                                  on the current model, as google-research/ibc's\n"
           "                                  fraction_dfo_samples (default 0: all uniform)\n"
           "      --dfo-iterations K          that DFO's iterations (default 3)\n\n");
    train_usage(stdout);
    printf("ibc-train's defaults: --lr 1e-4 --weight-decay 1e-6 --betas 0.95,0.999 --batch-size 128\n"
           "--steps 10000 --lr-schedule cosine --warmup 500 --ema off --save-every 1000.\n");
}

enum { O_ENCODER = TRAIN_MODEL_OPTION, O_CAMERAS, O_LOWDIM, O_LOWDIM_NORM, O_RANGE_EPS, O_CROP, O_KEYPOINTS, O_FEATURES, O_OBS, O_ACTIONS,
       O_WIDTH, O_DROPOUT, O_NEGATIVES, O_SAMPLER, O_SAMPLES, O_ITERATIONS, O_EVAL_SAMPLES, O_PENALTY, O_MARGIN,
       O_DFO_NEG, O_DFO_ITER };

static const struct option model_longopts[] = {
    {"encoder", required_argument, 0, O_ENCODER}, {"cameras", required_argument, 0, O_CAMERAS},
    {"lowdim", required_argument, 0, O_LOWDIM}, {"lowdim-norm", required_argument, 0, O_LOWDIM_NORM},
    {"lowdim-range-eps", required_argument, 0, O_RANGE_EPS}, {"crop", required_argument, 0, O_CROP},
    {"keypoints", required_argument, 0, O_KEYPOINTS}, {"feature-dim", required_argument, 0, O_FEATURES},
    {"obs-steps", required_argument, 0, O_OBS}, {"action-steps", required_argument, 0, O_ACTIONS},
    {"width", required_argument, 0, O_WIDTH}, {"dropout", required_argument, 0, O_DROPOUT},
    {"negatives", required_argument, 0, O_NEGATIVES}, {"sampler", required_argument, 0, O_SAMPLER},
    {"samples", required_argument, 0, O_SAMPLES}, {"iterations", required_argument, 0, O_ITERATIONS},
    {"eval-samples", required_argument, 0, O_EVAL_SAMPLES}, {"grad-penalty", required_argument, 0, O_PENALTY},
    {"grad-margin", required_argument, 0, O_MARGIN}, {"dfo-negatives", required_argument, 0, O_DFO_NEG},
    {"dfo-iterations", required_argument, 0, O_DFO_ITER},
    {0, 0, 0, 0}};

static int opt_int(const char *name, const char *text, long lo, long hi)
{
    long v;
    if (parse_long(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return (int)v;
}

static void parse_model_option(int id, const char *arg, void *context)
{
    ibc_trainer_options *o = context;
    dp_config *m = &o->obs.model;
    switch (id) {
    case O_ENCODER: {
        int e = dp_encoder_parse(arg);
        if (e < 0) tool_usage_error("--encoder: '%s' is not lowdim, hybrid or resnet", arg);
        m->encoder = (dp_encoder_kind)e;
        break;
    }
    case O_CAMERAS:
        strlist_free(o->obs.cameras);
        o->obs.cameras = strlist_split(arg, ',', &o->obs.n_cameras);
        if (!o->obs.cameras || o->obs.n_cameras < 1 || o->obs.n_cameras > DP_MAX_CAMERAS)
            tool_usage_error("--cameras: give 1 to %d names separated by commas", DP_MAX_CAMERAS);
        break;
    case O_LOWDIM:
        strlist_free(o->obs.lowdim);
        o->obs.lowdim = NULL, o->obs.n_lowdim = 0;
        if (strcmp(arg, "none") == 0) break;
        o->obs.lowdim = strlist_split(arg, ',', &o->obs.n_lowdim);
        if (!o->obs.lowdim || o->obs.n_lowdim < 1 || o->obs.n_lowdim > DP_MAX_LOWDIM)
            tool_usage_error("--lowdim: give 1 to %d field names separated by commas, or none", DP_MAX_LOWDIM);
        break;
    case O_LOWDIM_NORM: {
        int v = dp_norm_parse(arg);
        if (v < 0) tool_usage_error("--lowdim-norm: '%s' is not limits, identity or maxabs", arg);
        o->obs.lowdim_norm = v;
        break;
    }
    case O_RANGE_EPS: {
        double v;
        if (parse_double(arg, 1e-30, 1e30, &v) < 0) tool_usage_error("--lowdim-range-eps: %s", error_get());
        o->obs.lowdim_range_eps = (float)v;
        break;
    }
    case O_CROP:
        if (parse_size_hw(arg, &m->crop_height, &m->crop_width) < 0) tool_usage_error("--crop: %s", error_get());
        o->obs.crop_given = 1;
        break;
    case O_KEYPOINTS: m->num_keypoints = opt_int("keypoints", arg, 1, 4096); break;
    case O_FEATURES: m->feature_dim = opt_int("feature-dim", arg, 1, 1 << 16); break;
    case O_OBS: m->n_obs_steps = opt_int("obs-steps", arg, 1, 64); break;
    case O_ACTIONS: m->n_action_steps = opt_int("action-steps", arg, 1, 4096); break;
    case O_WIDTH: o->model.width = opt_int("width", arg, 1, 1 << 16); break;
    case O_DROPOUT: {
        double v;
        if (parse_double(arg, 0, 0.99, &v) < 0) tool_usage_error("--dropout: %s", error_get());
        o->model.dropout = (float)v;
        break;
    }
    case O_NEGATIVES: o->negatives = opt_int("negatives", arg, 1, 1 << 20); break;
    case O_SAMPLER: {
        int s = ibc_sampler_parse(arg);
        if (s < 0) tool_usage_error("--sampler: '%s' is not dfo, dfo-argmax, ibc-dfo or langevin", arg);
        o->model.inference.sampler = (ibc_sampler)s;
        break;
    }
    case O_SAMPLES: o->model.inference.samples = opt_int("samples", arg, 1, 1 << 20); break;
    case O_ITERATIONS: o->model.inference.iterations = opt_int("iterations", arg, 1, 100000); break;
    case O_EVAL_SAMPLES: o->eval.samples = opt_int("eval-samples", arg, 1, 1 << 20); break;
    case O_PENALTY:
    case O_MARGIN: {
        double v;
        if (parse_double(arg, 0, 1e6, &v) < 0)
            tool_usage_error("--%s: %s", id == O_PENALTY ? "grad-penalty" : "grad-margin", error_get());
        *(id == O_PENALTY ? &o->grad_penalty : &o->grad_margin) = (float)v;
        break;
    }
    case O_DFO_NEG: {
        double v;
        if (parse_double(arg, 0, 1, &v) < 0) tool_usage_error("--dfo-negatives: %s", error_get());
        o->dfo_fraction = (float)v;
        break;
    }
    case O_DFO_ITER: o->dfo_iterations = opt_int("dfo-iterations", arg, 2, 1000); break;
    }
}

int main(int argc, char **argv)
{
    tool_init("ibc-train");
    train_options train;
    train_options_default(&train);
    /* the IBC configuration of real-stanford/diffusion_policy */
    train.weight_decay = 1e-6;
    train.beta1 = 0.95;
    train.batch = 128;
    train.steps = 10000;
    train.cosine = 1;
    train.warmup = 500;
    ibc_trainer_options model = {.negatives = 1024, .grad_margin = 1.0f, .dfo_iterations = 3, .train = &train};
    ibc_config_default(&model.model);
    ibc_inference_default(&model.eval);
    model.obs.model = model.model.obs;
    model.obs.lowdim_norm = -1;
    model.obs.lowdim = strlist_split("observation.state", ',', &model.obs.n_lowdim);
    train_parse(argc, argv, &train, model_longopts, parse_model_option, &model, usage);
    if (model.obs.model.encoder == DP_ENCODER_LOWDIM && model.obs.n_cameras)
        tool_usage_error("--cameras: the lowdim encoder takes no cameras");
    if (model.obs.model.encoder == DP_ENCODER_LOWDIM && !model.obs.n_lowdim)
        tool_usage_error("--lowdim none: the lowdim encoder needs a low-dimensional field");
    int rc = train_run(&train, &ibc_trainer_class, &model);
    strlist_free(model.obs.cameras);
    strlist_free(model.obs.lowdim);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return EXIT_SUCCESS;
}
