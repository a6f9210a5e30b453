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
    ibc_config c;
    ibc_config_default(&c);
    dp_trainer_options d = {.model = c.obs};
    printf("Usage: ibc-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train an Implicit BC energy model on a chunkified sample stream with observation\n"
           "histories (chunkify -k TO+TA-1 --obs-steps TO --action-start), read whole into memory.\n\n");
    dp_obs_usage(stdout, &d);
    printf("Model options:\n"
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

enum { O_WIDTH = DP_OBS_OPTION_END, O_DROPOUT, O_NEGATIVES, O_SAMPLER, O_SAMPLES, O_ITERATIONS, O_EVAL_SAMPLES,
       O_PENALTY, O_MARGIN, O_DFO_NEG, O_DFO_ITER };

static const struct option model_longopts[] = {
    DP_OBS_LONGOPTS,
    {"width", required_argument, 0, O_WIDTH}, {"dropout", required_argument, 0, O_DROPOUT},
    {"negatives", required_argument, 0, O_NEGATIVES}, {"sampler", required_argument, 0, O_SAMPLER},
    {"samples", required_argument, 0, O_SAMPLES}, {"iterations", required_argument, 0, O_ITERATIONS},
    {"eval-samples", required_argument, 0, O_EVAL_SAMPLES}, {"grad-penalty", required_argument, 0, O_PENALTY},
    {"grad-margin", required_argument, 0, O_MARGIN}, {"dfo-negatives", required_argument, 0, O_DFO_NEG},
    {"dfo-iterations", required_argument, 0, O_DFO_ITER},
    {0, 0, 0, 0}};

static void parse_model_option(int id, const char *arg, void *context)
{
    ibc_trainer_options *o = context;
    if (dp_obs_option(id, arg, &o->obs)) return;
    switch (id) {
    case O_WIDTH: o->model.width = (int)tool_option_long("width", arg, 1, 1 << 16); break;
    case O_DROPOUT: o->model.dropout = (float)tool_option_double("dropout", arg, 0, 0.99); break;
    case O_NEGATIVES: o->negatives = (int)tool_option_long("negatives", arg, 1, 1 << 20); break;
    case O_SAMPLER: {
        int s = ibc_sampler_parse(arg);
        if (s < 0) tool_usage_error("--sampler: '%s' is not dfo, dfo-argmax, ibc-dfo or langevin", arg);
        o->model.inference.sampler = (ibc_sampler)s;
        break;
    }
    case O_SAMPLES: o->model.inference.samples = (int)tool_option_long("samples", arg, 1, 1 << 20); break;
    case O_ITERATIONS: o->model.inference.iterations = (int)tool_option_long("iterations", arg, 1, 100000); break;
    case O_EVAL_SAMPLES: o->eval.samples = (int)tool_option_long("eval-samples", arg, 1, 1 << 20); break;
    case O_PENALTY: o->grad_penalty = (float)tool_option_double("grad-penalty", arg, 0, 1e6); break;
    case O_MARGIN: o->grad_margin = (float)tool_option_double("grad-margin", arg, 0, 1e6); break;
    case O_DFO_NEG: o->dfo_fraction = (float)tool_option_double("dfo-negatives", arg, 0, 1); break;
    case O_DFO_ITER: o->dfo_iterations = (int)tool_option_long("dfo-iterations", arg, 2, 1000); break;
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
    dp_obs_init(&model.obs);
    train_parse(argc, argv, &train, model_longopts, parse_model_option, &model, usage);
    dp_obs_check(&model.obs);
    int rc = train_run(&train, &ibc_trainer_class, &model);
    dp_obs_free(&model.obs);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return EXIT_SUCCESS;
}
