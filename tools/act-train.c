/* act-train — train ACT (or the CNNMLP baseline) on a chunkified sample stream: the model's
 * options here, everything else on the shared training path (lib/train). See act-train(1) and
 * ilt-train(7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainers.h"
#include "util/error.h"
#include "util/parse.h"

static void usage(void)
{
    printf("Usage: act-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train ACT (Action Chunking with Transformers) or the CNNMLP baseline on a chunkified\n"
           "sample stream (default stdin), read whole into memory.\n\n"
           "Model options:\n"
           "      --policy act|cnnmlp   model (default act)\n"
           "      --chunk K             actions per query (default 100)\n"
           "      --hidden-dim N        transformer width (default 256)\n"
           "      --dim-feedforward N   feed-forward width (default 1024)\n"
           "      --enc-layers N        encoder layers, also the CVAE encoder's (default 2)\n"
           "      --dec-layers N        decoder layers, all used (default 4)\n"
           "      --nheads N            attention heads (default 8)\n"
           "      --latent-dim N        CVAE latent size (default 32)\n"
           "      --kl-weight W         KL weight (default 10)\n"
           "      --dropout P           transformer dropout (default 0.1)\n"
           "      --backbone-norm group|frozen|batch   ResNet18 normalisation (default group)\n"
           "      --image-norm imagenet|dataset        image normalisation (default imagenet)\n"
           "      --cameras LIST        cameras (default: every camera in the stream)\n"
           "      --lr-backbone LR      backbone learning rate (default: --lr)\n"
           "      --random-shift P      augment: move each training image by up to P pixels (default 0: off)\n\n");
    train_usage(stdout);
    printf("act-train's defaults: --lr 1e-4 --weight-decay 1e-4 --batch-size 8 --steps 4000\n"
           "--lr-schedule constant --save-every 1000 --ema off.\n");
}

enum { O_POLICY = TRAIN_MODEL_OPTION, O_CHUNK, O_HIDDEN, O_FF, O_ENC, O_DEC, O_HEADS, O_LATENT, O_KL, O_DROPOUT,
       O_BNORM, O_INORM, O_CAMERAS, O_LRB, O_SHIFT };

static const struct option model_longopts[] = {
    {"policy", required_argument, 0, O_POLICY}, {"chunk", required_argument, 0, O_CHUNK},
    {"hidden-dim", required_argument, 0, O_HIDDEN}, {"dim-feedforward", required_argument, 0, O_FF},
    {"enc-layers", required_argument, 0, O_ENC}, {"dec-layers", required_argument, 0, O_DEC},
    {"nheads", required_argument, 0, O_HEADS}, {"latent-dim", required_argument, 0, O_LATENT},
    {"kl-weight", required_argument, 0, O_KL}, {"dropout", required_argument, 0, O_DROPOUT},
    {"backbone-norm", required_argument, 0, O_BNORM}, {"image-norm", required_argument, 0, O_INORM},
    {"cameras", required_argument, 0, O_CAMERAS}, {"lr-backbone", required_argument, 0, O_LRB},
    {"random-shift", required_argument, 0, O_SHIFT}, {0, 0, 0, 0}};

static void parse_model_option(int id, const char *arg, void *context)
{
    act_trainer_options *o = context;
    act_config *m = &o->model;
    switch (id) {
    case O_POLICY:
        if (strcmp(arg, "act") == 0) m->kind = ACT_KIND_ACT;
        else if (strcmp(arg, "cnnmlp") == 0) m->kind = ACT_KIND_CNNMLP;
        else tool_usage_error("--policy: '%s' is not act or cnnmlp", arg);
        break;
    case O_CHUNK: m->chunk = (int)tool_option_long("chunk", arg, 1, 100000); break;
    case O_HIDDEN: m->hidden_dim = (int)tool_option_long("hidden-dim", arg, 2, 65536); break;
    case O_FF: m->dim_feedforward = (int)tool_option_long("dim-feedforward", arg, 1, 1 << 20); break;
    case O_ENC: m->enc_layers = (int)tool_option_long("enc-layers", arg, 1, ACT_MAX_LAYERS); break;
    case O_DEC: m->dec_layers = (int)tool_option_long("dec-layers", arg, 1, ACT_MAX_LAYERS); break;
    case O_HEADS: m->nheads = (int)tool_option_long("nheads", arg, 1, 1024); break;
    case O_LATENT: m->latent_dim = (int)tool_option_long("latent-dim", arg, 1, 65536); break;
    case O_KL: m->kl_weight = (float)tool_option_double("kl-weight", arg, 0, 1e9); break;
    case O_DROPOUT: m->dropout = (float)tool_option_double("dropout", arg, 0, 0.99); break;
    case O_BNORM: {
        int k = mod_norm_kind_parse(arg);
        if (k < 0 || k == MOD_NORM_LAYER) tool_usage_error("--backbone-norm: '%s' is not group, frozen or batch", arg);
        m->backbone_norm = (mod_norm_kind)k;
        break;
    }
    case O_INORM:
        if (strcmp(arg, "imagenet") == 0) m->image_norm = ACT_IMAGE_NORM_IMAGENET;
        else if (strcmp(arg, "dataset") == 0) m->image_norm = ACT_IMAGE_NORM_DATASET;
        else tool_usage_error("--image-norm: '%s' is not imagenet or dataset", arg);
        break;
    case O_CAMERAS:
        strlist_free(o->cameras);
        o->cameras = strlist_split(arg, ',', &o->n_cameras);
        if (!o->cameras || o->n_cameras < 1 || o->n_cameras > ACT_MAX_CAMERAS)
            tool_usage_error("--cameras: give 1 to %d names separated by commas", ACT_MAX_CAMERAS);
        break;
    case O_LRB: o->lr_backbone = tool_option_double("lr-backbone", arg, 0, 10); break;
    case O_SHIFT: o->random_shift = (int)tool_option_long("random-shift", arg, 0, 4096); break;
    }
}

int main(int argc, char **argv)
{
    tool_init("act-train");
    train_options train;
    train_options_default(&train);
    act_trainer_options model = {.lr_backbone = -1, .train = &train};
    act_config_default(&model.model);
    train_parse(argc, argv, &train, model_longopts, parse_model_option, &model, usage);
    int rc = train_run(&train, &act_trainer_class, &model);
    strlist_free(model.cameras);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return EXIT_SUCCESS;
}
