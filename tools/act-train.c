/* act-train — train ACT (or the CNNMLP baseline) on a chunkified sample stream read whole into
 * memory; validation split by episode; checkpoints (latest and best) written atomically;
 * exact resume; JSON-lines metrics. See act-train(1). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/stats.h"
#include "io/stream.h"
#include "nn/nn.h"
#include "policy/act.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"

typedef struct {
    act_config model;
    const char *stats, *output, *init, *log, *input;
    int resume, quiet, cosine, threads;
    char **cameras;
    size_t n_cameras;
    double lr, lr_backbone, weight_decay, grad_clip, val_fraction, epochs;
    long batch, steps, warmup, save_every, keep_every, log_every, val_batches, seed, max_memory_mib, random_shift;
    const char *val_episodes;
} options;

static _Noreturn void usage(void)
{
    printf("Usage: act-train --stats STATS -o CKPT.h5 [OPTIONS] [FILE|-]\n"
           "Train ACT (Action Chunking with Transformers) or the CNNMLP baseline on a chunkified\n"
           "sample stream (default stdin), read whole into memory.\n\n"
           "  -o, --output CKPT.h5      latest checkpoint (also CKPT.best.h5: lowest validation loss)\n"
           "      --stats FILE          normstats output (state/action mean and std)\n"
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
           "      --lr LR               learning rate (default 1e-4)\n"
           "      --lr-backbone LR      backbone learning rate (default: --lr)\n"
           "      --weight-decay W      AdamW weight decay (default 1e-4)\n"
           "      --batch-size B        (default 8)\n"
           "      --steps N             optimizer steps (default 4000); 0 writes the initial model\n"
           "      --epochs E            steps = E passes over the training samples\n"
           "      --lr-schedule constant|cosine   (default constant)\n"
           "      --warmup N            linear warmup steps (default 0)\n"
           "      --grad-clip X         clip the gradient norm at X (default 0: off)\n"
           "      --random-shift P      augment: move each training image by up to P pixels (default 0: off)\n"
           "      --val-episodes LIST   validation episodes, e.g. 0-4,9\n"
           "      --val-fraction F      else this fraction of the episodes, seeded (default 0.2)\n"
           "      --val-batches N       validation batches per evaluation (default 16)\n"
           "      --save-every N        checkpoint and validate every N steps (default 1000)\n"
           "      --keep-every N        also keep CKPT.step<S>.h5 every N steps (S < steps)\n"
           "      --log FILE            JSON-lines metrics\n"
           "      --log-every N         metrics every N steps (default 50)\n"
           "      --resume              continue the run in CKPT.h5 exactly\n"
           "      --init CKPT           start from the weights of CKPT\n"
           "      --max-memory MIB      memory for the data (default: what the system has free)\n"
           "      --seed S              (default 0)\n"
           "      --threads N           (default 2)\n"
           "  -q, --quiet               no progress on stderr\n"
           "      --help, --version\n");
    exit(0);
}

static double opt_double(const char *name, const char *text, double lo, double hi)
{
    double v;
    if (parse_double(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return v;
}

static long opt_long(const char *name, const char *text, long lo, long hi)
{
    long v;
    if (parse_long(text, lo, hi, &v) < 0) tool_usage_error("--%s: %s", name, error_get());
    return v;
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { O_STATS = 256, O_POLICY, O_CHUNK, O_HIDDEN, O_FF, O_ENC, O_DEC, O_HEADS, O_LATENT, O_KL, O_DROPOUT,
           O_BNORM, O_INORM, O_CAMERAS, O_LR, O_LRB, O_WD, O_BATCH, O_STEPS, O_EPOCHS, O_SCHED, O_WARMUP, O_CLIP,
           O_SHIFT, O_VALEP, O_VALFR, O_VALB, O_SAVE, O_KEEP, O_LOG, O_LOGE, O_RESUME, O_INIT, O_MEM, O_SEED, O_THREADS, O_HELP,
           O_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"stats", required_argument, 0, O_STATS},
        {"policy", required_argument, 0, O_POLICY}, {"chunk", required_argument, 0, O_CHUNK},
        {"hidden-dim", required_argument, 0, O_HIDDEN}, {"dim-feedforward", required_argument, 0, O_FF},
        {"enc-layers", required_argument, 0, O_ENC}, {"dec-layers", required_argument, 0, O_DEC},
        {"nheads", required_argument, 0, O_HEADS}, {"latent-dim", required_argument, 0, O_LATENT},
        {"kl-weight", required_argument, 0, O_KL}, {"dropout", required_argument, 0, O_DROPOUT},
        {"backbone-norm", required_argument, 0, O_BNORM}, {"image-norm", required_argument, 0, O_INORM},
        {"cameras", required_argument, 0, O_CAMERAS}, {"lr", required_argument, 0, O_LR},
        {"lr-backbone", required_argument, 0, O_LRB}, {"weight-decay", required_argument, 0, O_WD},
        {"batch-size", required_argument, 0, O_BATCH}, {"steps", required_argument, 0, O_STEPS},
        {"epochs", required_argument, 0, O_EPOCHS}, {"lr-schedule", required_argument, 0, O_SCHED},
        {"warmup", required_argument, 0, O_WARMUP}, {"grad-clip", required_argument, 0, O_CLIP},
        {"random-shift", required_argument, 0, O_SHIFT},
        {"val-episodes", required_argument, 0, O_VALEP}, {"val-fraction", required_argument, 0, O_VALFR},
        {"val-batches", required_argument, 0, O_VALB}, {"save-every", required_argument, 0, O_SAVE},
        {"keep-every", required_argument, 0, O_KEEP},
        {"log", required_argument, 0, O_LOG}, {"log-every", required_argument, 0, O_LOGE},
        {"resume", no_argument, 0, O_RESUME}, {"init", required_argument, 0, O_INIT},
        {"max-memory", required_argument, 0, O_MEM}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    act_config_default(&o->model);
    o->lr = 1e-4;
    o->lr_backbone = -1;
    o->weight_decay = 1e-4;
    o->batch = 8;
    o->steps = 4000;
    o->epochs = -1;
    o->val_fraction = 0.2;
    o->val_batches = 16;
    o->save_every = 1000;
    o->log_every = 50;
    o->threads = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "o:q", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o->output = optarg; break;
        case 'q': o->quiet = 1; break;
        case O_STATS: o->stats = optarg; break;
        case O_POLICY:
            if (strcmp(optarg, "act") == 0) o->model.kind = ACT_KIND_ACT;
            else if (strcmp(optarg, "cnnmlp") == 0) o->model.kind = ACT_KIND_CNNMLP;
            else tool_usage_error("--policy: '%s' is not act or cnnmlp", optarg);
            break;
        case O_CHUNK: o->model.chunk = (int)opt_long("chunk", optarg, 1, 100000); break;
        case O_HIDDEN: o->model.hidden_dim = (int)opt_long("hidden-dim", optarg, 2, 65536); break;
        case O_FF: o->model.dim_feedforward = (int)opt_long("dim-feedforward", optarg, 1, 1 << 20); break;
        case O_ENC: o->model.enc_layers = (int)opt_long("enc-layers", optarg, 1, ACT_MAX_LAYERS); break;
        case O_DEC: o->model.dec_layers = (int)opt_long("dec-layers", optarg, 1, ACT_MAX_LAYERS); break;
        case O_HEADS: o->model.nheads = (int)opt_long("nheads", optarg, 1, 1024); break;
        case O_LATENT: o->model.latent_dim = (int)opt_long("latent-dim", optarg, 1, 65536); break;
        case O_KL: o->model.kl_weight = (float)opt_double("kl-weight", optarg, 0, 1e9); break;
        case O_DROPOUT: o->model.dropout = (float)opt_double("dropout", optarg, 0, 0.99); break;
        case O_BNORM: {
            int k = mod_norm_kind_parse(optarg);
            if (k < 0 || k == MOD_NORM_LAYER) tool_usage_error("--backbone-norm: '%s' is not group, frozen or batch", optarg);
            o->model.backbone_norm = (mod_norm_kind)k;
            break;
        }
        case O_INORM:
            if (strcmp(optarg, "imagenet") == 0) o->model.image_norm = ACT_IMAGE_NORM_IMAGENET;
            else if (strcmp(optarg, "dataset") == 0) o->model.image_norm = ACT_IMAGE_NORM_DATASET;
            else tool_usage_error("--image-norm: '%s' is not imagenet or dataset", optarg);
            break;
        case O_CAMERAS:
            strlist_free(o->cameras);
            o->cameras = strlist_split(optarg, ',', &o->n_cameras);
            if (!o->cameras || o->n_cameras < 1 || o->n_cameras > ACT_MAX_CAMERAS)
                tool_usage_error("--cameras: give 1 to %d names separated by commas", ACT_MAX_CAMERAS);
            break;
        case O_LR: o->lr = opt_double("lr", optarg, 0, 10); break;
        case O_LRB: o->lr_backbone = opt_double("lr-backbone", optarg, 0, 10); break;
        case O_WD: o->weight_decay = opt_double("weight-decay", optarg, 0, 10); break;
        case O_BATCH: o->batch = opt_long("batch-size", optarg, 1, 1 << 16); break;
        case O_STEPS: o->steps = opt_long("steps", optarg, 0, 1L << 40); break;
        case O_EPOCHS: o->epochs = opt_double("epochs", optarg, 0, 1e9); break;
        case O_SCHED:
            if (strcmp(optarg, "constant") == 0) o->cosine = 0;
            else if (strcmp(optarg, "cosine") == 0) o->cosine = 1;
            else tool_usage_error("--lr-schedule: '%s' is not constant or cosine", optarg);
            break;
        case O_WARMUP: o->warmup = opt_long("warmup", optarg, 0, 1L << 40); break;
        case O_CLIP: o->grad_clip = opt_double("grad-clip", optarg, 0, 1e12); break;
        case O_SHIFT: o->random_shift = opt_long("random-shift", optarg, 0, 4096); break;
        case O_VALEP: o->val_episodes = optarg; break;
        case O_VALFR: o->val_fraction = opt_double("val-fraction", optarg, 0, 0.99); break;
        case O_VALB: o->val_batches = opt_long("val-batches", optarg, 0, 1L << 30); break;
        case O_SAVE: o->save_every = opt_long("save-every", optarg, 1, 1L << 40); break;
        case O_KEEP: o->keep_every = opt_long("keep-every", optarg, 1, 1L << 40); break;
        case O_LOG: o->log = optarg; break;
        case O_LOGE: o->log_every = opt_long("log-every", optarg, 1, 1L << 40); break;
        case O_RESUME: o->resume = 1; break;
        case O_INIT: o->init = optarg; break;
        case O_MEM: o->max_memory_mib = opt_long("max-memory", optarg, 1, 1L << 30); break;
        case O_SEED: o->seed = opt_long("seed", optarg, 0, 1L << 62); break;
        case O_THREADS: o->threads = (int)opt_long("threads", optarg, 1, 256); break;
        case O_HELP: usage();
        case O_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (optind < argc - 1) tool_usage_error("one input stream at most");
    o->input = optind < argc ? argv[optind] : "-";
    if (!o->output) tool_usage_error("-o CKPT.h5 is required");
    if (!o->stats && !o->resume && !o->init) tool_usage_error("--stats is required (normstats output)");
    if (o->resume && o->init) tool_usage_error("--resume and --init exclude each other");
    if (o->lr_backbone < 0) o->lr_backbone = o->lr;
}

/* ---------------------------------------------------------------- statistics */

static void set_stats(act_model *m, const stats_set *st, const char *path)
{
    const act_config *cfg = &m->cfg;
    const stats_feature *s = stats_find(st, "observation.state"), *a = stats_find(st, "action");
    if (!s || !a) tool_die(1, "%s: needs observation.state and action statistics", path);
    if (s->n != cfg->state_dim || a->n != cfg->action_dim)
        tool_die(1, "%s: statistics of %lld state and %lld action values, the data has %d and %d", path,
                 (long long)s->n, (long long)a->n, cfg->state_dim, cfg->action_dim);
    for (int i = 0; i < cfg->state_dim; i++)
        m->norm.state_mean[i] = s->mean[i], m->norm.state_std[i] = fmaxf(s->std[i], ACT_STD_MIN);
    for (int i = 0; i < cfg->action_dim; i++)
        m->norm.action_mean[i] = a->mean[i], m->norm.action_std[i] = fmaxf(a->std[i], ACT_STD_MIN);
    if (cfg->image_norm != ACT_IMAGE_NORM_DATASET) return;
    for (int k = 0; k < cfg->n_cameras; k++) {
        char name[128];
        snprintf(name, sizeof name, "observation.images.%s", cfg->camera_names[k]);
        const stats_feature *im = stats_find(st, name);
        if (!im || im->n != 3) tool_die(1, "%s: --image-norm dataset needs %s statistics [3,1,1]", path, name);
        for (int c = 0; c < 3; c++) m->norm.image_mean[k][c] = im->mean[c], m->norm.image_std[k][c] = fmaxf(im->std[c], ACT_STD_MIN);
    }
}

/* ---------------------------------------------------------------- validation split */

static void split(const options *o, const act_dataset *ds, int64_t **train, int64_t *n_train, int64_t **val,
                  int64_t *n_val)
{
    int64_t *episodes;
    size_t n_ep;
    if (act_dataset_episodes(ds, &episodes, &n_ep) < 0) tool_die(1, "%s", error_get());
    int64_t *val_ep = NULL;
    size_t n_val_ep = 0;
    if (o->val_episodes) {
        if (parse_index_list(o->val_episodes, episodes[n_ep - 1], &val_ep, &n_val_ep) < 0)
            tool_usage_error("--val-episodes: %s", error_get());
    } else if (n_ep > 1 && o->val_fraction > 0) {
        rng_t rng;
        rng_seed(&rng, (uint64_t)o->seed ^ 0x76616c5f73706c74ULL);
        int64_t *shuffled = malloc(sizeof *shuffled * n_ep);
        memcpy(shuffled, episodes, sizeof *shuffled * n_ep);
        rng_shuffle(&rng, shuffled, n_ep);
        n_val_ep = (size_t)llround(o->val_fraction * (double)n_ep);
        if (n_val_ep < 1) n_val_ep = 1;
        if (n_val_ep >= n_ep) n_val_ep = n_ep - 1;
        val_ep = shuffled;
        for (size_t i = 1; i < n_val_ep; i++)   /* sort the chosen ones for index_list_contains */
            for (size_t j = i; j > 0 && val_ep[j - 1] > val_ep[j]; j--) {
                int64_t t = val_ep[j]; val_ep[j] = val_ep[j - 1]; val_ep[j - 1] = t;
            }
    }
    *train = malloc(sizeof(int64_t) * ds->n);
    *val = malloc(sizeof(int64_t) * ds->n);
    *n_train = *n_val = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (index_list_contains(val_ep, n_val_ep, ds->episode[i])) (*val)[(*n_val)++] = i;
        else (*train)[(*n_train)++] = i;
    }
    if (*n_train == 0) tool_die(1, "no training samples left after taking the validation episodes");
    if (!o->quiet)
        fprintf(stderr, "act-train: %lld samples of %zu episodes: %lld for training, %lld in %zu validation episodes\n",
                (long long)ds->n, n_ep, (long long)*n_train, (long long)*n_val, n_val_ep);
    free(episodes);
    free(val_ep);
}

/* ---------------------------------------------------------------- run state */

static void rng_to_text(const rng_t *r, char *buf, size_t size)
{
    snprintf(buf, size, "%016llx%016llx%016llx%016llx", (unsigned long long)r->s[0], (unsigned long long)r->s[1],
             (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
}

static int rng_from_text(rng_t *r, const char *text)
{
    if (strlen(text) != 64) return -1;
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, text + 16 * i, 16);
        part[16] = 0;
        char *end;
        r->s[i] = strtoull(part, &end, 16);
        if (*end) return -1;
    }
    return 0;
}

static void save(const options *o, const char *path, const act_model *m, const nn_adamw *opt, long step,
                 const rng_t *rng, double best_val)
{
    char rng_text[80], best[64], seed[32], lr[32], lrb[32], wd[32], batch[32], shift[32];
    rng_to_text(rng, rng_text, sizeof rng_text);
    snprintf(best, sizeof best, "%.17g", best_val);
    snprintf(seed, sizeof seed, "%ld", o->seed);
    snprintf(lr, sizeof lr, "%.9g", o->lr);
    snprintf(lrb, sizeof lrb, "%.9g", o->lr_backbone);
    snprintf(wd, sizeof wd, "%.9g", o->weight_decay);
    snprintf(batch, sizeof batch, "%ld", o->batch);
    snprintf(shift, sizeof shift, "%ld", o->random_shift);
    const char *extra[] = {"train.rng_state", rng_text, "train.best_val_loss", best, "train.seed", seed, "train.lr", lr,
                           "train.lr_backbone", lrb, "train.weight_decay", wd, "train.batch_size", batch,
                           "train.random_shift", shift, NULL};
    if (act_checkpoint_save(path, m, opt, step, extra) < 0) tool_die(1, "%s", error_get());
}

/* Mean validation loss over a fixed set of batches (no dropout; the latent is drawn from a
 * generator seeded the same way every time, so the numbers are comparable across steps). */
static double validate(nn_ctx *c, act_model *m, act_batch *b, const act_dataset *ds, const int64_t *val,
                       int64_t n_val, long n_batches, long batch, long seed)
{
    if (n_val == 0 || n_batches == 0) return NAN;
    rng_t pick, noise, *saved = m->rng;
    rng_seed(&pick, (uint64_t)seed ^ 0x76616c696461ULL);
    rng_seed(&noise, (uint64_t)seed ^ 0x6e6f697365ULL);
    m->rng = &noise;
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    double sum = 0;
    int64_t *idx = malloc(sizeof *idx * batch);
    for (long k = 0; k < n_batches; k++) {
        for (long j = 0; j < batch; j++) idx[j] = val[rng_below(&pick, (uint64_t)n_val)];
        act_batch_fill(b, m, ds, idx, (int)batch);
        act_losses L;
        if (!act_model_loss(c, m, b, &L)) tool_die(1, "validation: %s", error_get());
        sum += L.loss;
        nn_ctx_reset(c);
    }
    free(idx);
    nn_ctx_set_train(c, 1);
    nn_ctx_set_record(c, 1);
    m->rng = saved;
    return sum / n_batches;
}

static void json_number(FILE *fp, const char *key, double v)
{
    if (isfinite(v)) fprintf(fp, ",\"%s\":%.6g", key, v);
    else fprintf(fp, ",\"%s\":null", key);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    tool_init("act-train");
    options o;
    parse_options(argc, argv, &o);
    nn_set_threads(o.threads);

    stream_reader *in = stream_reader_open(o.input);
    if (!in) tool_die(1, "%s", error_get());
    act_dataset ds;
    if (act_dataset_read(&ds, in, o.cameras, (int)o.n_cameras, (size_t)o.max_memory_mib << 20) < 0)
        tool_die(1, "%s: %s", stream_reader_name(in), error_get());
    stream_reader_close(in);
    if (!ds.action_dim) tool_die(1, "the stream has no action field (pipe it through chunkify)");

    /* The model: fresh, or from --init / --resume. */
    act_model m;
    rng_t rng;
    rng_seed(&rng, (uint64_t)o.seed);
    const char *from = o.resume ? o.output : o.init;
    if (from) {
        if (act_checkpoint_load(from, &m) < 0) tool_die(1, "%s", error_get());
    } else {
        o.model.state_dim = ds.state_dim;
        o.model.action_dim = ds.action_dim;
        o.model.n_cameras = ds.n_cameras;
        memcpy(o.model.camera_names, ds.camera_names, sizeof ds.camera_names);
        o.model.height = ds.height;
        o.model.width = ds.width;
        rng_t init_rng = rng_split(&rng);
        if (act_model_init(&m, &o.model, &init_rng) < 0) tool_die(1, "%s", error_get());
    }
    const act_config *cfg = &m.cfg;
    if (cfg->state_dim != ds.state_dim || cfg->action_dim != ds.action_dim || cfg->height != ds.height ||
        cfg->width != ds.width || cfg->n_cameras != ds.n_cameras)
        tool_die(1, "%s: the model takes %d state values, %d actions, %d cameras of %dx%d; the stream has %d, %d, %d of %dx%d",
                 from, cfg->state_dim, cfg->action_dim, cfg->n_cameras, cfg->height, cfg->width, ds.state_dim,
                 ds.action_dim, ds.n_cameras, ds.height, ds.width);
    for (int k = 0; k < cfg->n_cameras; k++)
        if (strcmp(cfg->camera_names[k], ds.camera_names[k]) != 0)
            tool_die(1, "%s: camera %d is '%s' in the model, '%s' in the stream", from, k, cfg->camera_names[k], ds.camera_names[k]);
    if (o.random_shift >= cfg->height || o.random_shift >= cfg->width)
        tool_usage_error("--random-shift %ld: the images are %dx%d; shift by less than their size", o.random_shift,
                         cfg->height, cfg->width);
    if (act_model_chunk(&m) > ds.rows)
        tool_die(1, "the stream's action chunks have %d rows; --chunk %d needs at least that many (chunkify -k %d)", ds.rows,
                 act_model_chunk(&m), act_model_chunk(&m));
    if (o.stats) {
        stats_set st;
        if (stats_load(o.stats, &st) < 0) tool_die(1, "%s", error_get());
        set_stats(&m, &st, o.stats);
        stats_free(&st);
    }

    int64_t *train, *val, n_train, n_val;
    split(&o, &ds, &train, &n_train, &val, &n_val);
    long steps = o.epochs >= 0 ? (long)ceil(o.epochs * (double)n_train / (double)o.batch) : o.steps;

    nn_param_set_group(m.ps, "model.backbones.", 1);
    nn_adamw opt;
    if (nn_adamw_init(&opt, m.ps, (float)o.lr, (float)o.weight_decay) < 0) tool_die(1, "%s", error_get());
    nn_adamw_set_group(&opt, 1, (float)o.lr_backbone, (float)o.weight_decay);
    opt.zero_grad = 1;   /* each step leaves the gradients zeroed for the next backward */
    nn_params_zero_grad(m.ps);
    long step = 0;
    double best_val = INFINITY;
    if (o.resume) {
        char text[128];
        if (act_checkpoint_load_optim(o.output, &opt, &step) < 0) tool_die(1, "%s", error_get());
        if (act_checkpoint_config(o.output, "train.rng_state", text, sizeof text) < 0 || rng_from_text(&rng, text) < 0)
            tool_die(1, "%s: no training state to resume (train.rng_state)", o.output);
        if (act_checkpoint_config(o.output, "train.best_val_loss", text, sizeof text) == 0) best_val = strtod(text, NULL);
    }
    m.rng = &rng;

    char best_path[4096];
    size_t len = strlen(o.output);
    if (len > 3 && strcmp(o.output + len - 3, ".h5") == 0) len -= 3; /* the stem: CKPT.best.h5, CKPT.step<S>.h5 */
    snprintf(best_path, sizeof best_path, "%.*s.best.h5", (int)len, o.output);

    FILE *log = NULL;
    if (o.log && !(log = fopen(o.log, o.resume ? "a" : "w"))) tool_die(1, "%s:", o.log);

    nn_ctx *c = nn_ctx_new((size_t)64 << 20);
    if (!c) tool_die(1, "%s", error_get());
    nn_ctx_set_rng(c, &rng);
    act_batch b, vb;
    if (act_batch_alloc(&b, &m, (int)o.batch) < 0 || act_batch_alloc(&vb, &m, (int)o.batch) < 0)
        tool_die(1, "%s", error_get());
    int64_t *idx = malloc(sizeof *idx * o.batch);

    if (steps == 0 || step >= steps) {   /* nothing to train: write the model as it is */
        save(&o, o.output, &m, &opt, step, &rng, best_val);
    }
    progress_t progress;
    progress_start(&progress, "act-train", steps, o.quiet);
    double window_start = time_now();
    long window_steps = 0;
    double l1_sum = 0, kl_sum = 0, loss_sum = 0;
    while (step < steps) {
        for (long j = 0; j < o.batch; j++) idx[j] = train[rng_below(&rng, (uint64_t)n_train)];
        act_batch_fill(&b, &m, &ds, idx, (int)o.batch);
        if (act_batch_random_shift(&b, &m, (int)o.random_shift, &rng) < 0) tool_die(1, "%s", error_get());
        act_losses L;
        nn_tensor *loss = act_model_loss(c, &m, &b, &L);
        if (!loss) tool_die(1, "step %ld: %s", step, error_get());
        if (!isfinite(L.loss)) tool_die(1, "step %ld: the loss is not finite (%g); lower --lr?", step, L.loss);
        if (nn_backward(c, loss) < 0) tool_die(1, "step %ld: %s", step, error_get());
        if (o.grad_clip > 0) nn_clip_grad_norm(m.ps, (float)o.grad_clip);
        float factor = o.cosine ? nn_lr_cosine(step, o.warmup, steps) : nn_lr_constant(step, o.warmup);
        nn_adamw_step(&opt, factor);
        nn_ctx_reset(c);
        step++;
        window_steps++;
        l1_sum += L.l1, kl_sum += L.kl, loss_sum += L.loss;

        int at_keep = o.keep_every && step % o.keep_every == 0 && step < steps;
        int at_save = step % o.save_every == 0 || step == steps || at_keep;
        double val_loss = NAN;
        if (at_save) {
            val_loss = validate(c, &m, &vb, &ds, val, n_val, o.val_batches, o.batch, o.seed);
            if (isfinite(val_loss) && val_loss < best_val) {
                best_val = val_loss;
                save(&o, best_path, &m, NULL, step, &rng, best_val);
            }
            save(&o, o.output, &m, &opt, step, &rng, best_val);
            if (at_keep) {
                char keep_path[4200];
                snprintf(keep_path, sizeof keep_path, "%.*s.step%ld.h5", (int)len, o.output, step);
                save(&o, keep_path, &m, &opt, step, &rng, best_val);
            }
        }
        if (log && (step % o.log_every == 0 || at_save)) {
            double now = time_now();
            fprintf(log, "{\"step\":%ld", step);
            json_number(log, "l1", l1_sum / window_steps);
            json_number(log, "kl", kl_sum / window_steps);
            json_number(log, "loss", loss_sum / window_steps);
            json_number(log, "val_loss", val_loss);
            json_number(log, "lr", o.lr * factor);
            json_number(log, "samples_per_s", window_steps * o.batch / fmax(now - window_start, 1e-9));
            fprintf(log, "}\n");
            fflush(log);
            window_start = now;
            window_steps = 0;
            l1_sum = kl_sum = loss_sum = 0;
        }
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f l1 %.4f kl %.4f", L.loss, L.l1, L.kl);
        progress_update(&progress, step, extra);
    }
    progress_finish(&progress, step, NULL);
    if (log && fclose(log) != 0) tool_die(1, "%s:", o.log);

    free(idx);
    act_batch_free(&b);
    act_batch_free(&vb);
    nn_ctx_free(c);
    nn_adamw_free(&opt);
    act_model_free(&m);
    act_dataset_free(&ds);
    free(train);
    free(val);
    strlist_free(o.cameras);
    return 0;
}
