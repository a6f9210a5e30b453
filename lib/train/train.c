/* train.c — the shared training loop (see train.h): options, the run's state, validation,
 * checkpoints and the log. */
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"

/* ---------------------------------------------------------------- options */

void train_options_default(train_options *o)
{
    memset(o, 0, sizeof *o);
    o->input = "-";
    o->lr = 1e-4;
    o->weight_decay = 1e-4;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->batch = 8;
    o->steps = 4000;
    o->epochs = -1;
    o->val_fraction = 0.2;
    o->val_batches = 16;
    o->save_every = 1000;
    o->log_every = 50;
    o->threads = 2;
    o->grad_accum = 1;
    o->ema_power = 0.75;
    o->ema_max = 0.9999;
}

void train_usage(FILE *fp)
{
    fprintf(fp,
            "Training options (every trainer; see ilt-train(7)):\n"
            "  -o, --output CKPT.h5      latest checkpoint (also CKPT.best.h5: lowest validation loss)\n"
            "      --stats FILE          normstats output (the normalisation statistics)\n"
            "      --lr LR               learning rate\n"
            "      --weight-decay W      AdamW weight decay\n"
            "      --betas B1,B2         AdamW betas\n"
            "      --batch-size B        samples per step (the global batch, over every process)\n"
            "      --grad-accum N        sum the gradients of N micro-batches per process (default 1)\n"
            "      --shard               under MPI, each process keeps only its share of the episodes\n"
            "      --steps N             optimizer steps; 0 writes the initial model\n"
            "      --epochs E            steps = E passes over the training samples\n"
            "      --lr-schedule constant|cosine\n"
            "      --warmup N            linear warmup steps\n"
            "      --grad-clip X         clip the gradient norm at X (0: off)\n"
            "      --ema on|off          keep an EMA of the weights (validation and inference use it)\n"
            "      --ema-power P         EMA warmup power (default 0.75)\n"
            "      --ema-max D           EMA's largest decay (default 0.9999)\n"
            "      --val-episodes LIST   validation episodes, e.g. 0-4,9\n"
            "      --val-fraction F      else this fraction of the episodes, seeded (default 0.2)\n"
            "      --val-batches N       validation batches per evaluation (default 16)\n"
            "      --save-every N        checkpoint and validate every N steps\n"
            "      --keep-every N        also keep CKPT.step<S>.h5 every N steps (S < steps)\n"
            "      --log FILE            JSON-lines metrics\n"
            "      --log-every N         metrics every N steps (default 50)\n"
            "      --resume              continue the run in CKPT.h5 exactly\n"
            "      --init CKPT           start from the weights of CKPT\n"
            "      --max-memory MIB      memory for the data (default: what the system has free)\n"
            "      --control-hz HZ       the control rate the data was recorded at (in the checkpoint)\n"
            "      --seed S              (default 0)\n"
            "      --threads N           (default 2)\n"
            "  -q, --quiet               no progress on stderr\n"
            "      --help, --version\n");
}

enum {
    O_STATS = 256, O_LR, O_WD, O_BETAS, O_BATCH, O_STEPS, O_EPOCHS, O_SCHED, O_WARMUP, O_CLIP, O_EMA, O_EMA_POWER,
    O_EMA_MAX, O_VALEP, O_VALFR, O_VALB, O_SAVE, O_KEEP, O_LOG, O_LOGE, O_RESUME, O_INIT, O_MEM, O_SEED, O_THREADS,
    O_ACCUM, O_SHARD, O_HZ, O_HELP, O_VERSION
};

static const struct option shared_longopts[] = {
    {"output", required_argument, 0, 'o'}, {"stats", required_argument, 0, O_STATS},
    {"lr", required_argument, 0, O_LR}, {"weight-decay", required_argument, 0, O_WD},
    {"betas", required_argument, 0, O_BETAS}, {"batch-size", required_argument, 0, O_BATCH},
    {"steps", required_argument, 0, O_STEPS}, {"epochs", required_argument, 0, O_EPOCHS},
    {"lr-schedule", required_argument, 0, O_SCHED}, {"warmup", required_argument, 0, O_WARMUP},
    {"grad-clip", required_argument, 0, O_CLIP}, {"ema", required_argument, 0, O_EMA},
    {"ema-power", required_argument, 0, O_EMA_POWER}, {"ema-max", required_argument, 0, O_EMA_MAX},
    {"val-episodes", required_argument, 0, O_VALEP}, {"val-fraction", required_argument, 0, O_VALFR},
    {"val-batches", required_argument, 0, O_VALB}, {"save-every", required_argument, 0, O_SAVE},
    {"keep-every", required_argument, 0, O_KEEP}, {"log", required_argument, 0, O_LOG},
    {"log-every", required_argument, 0, O_LOGE}, {"resume", no_argument, 0, O_RESUME},
    {"init", required_argument, 0, O_INIT}, {"max-memory", required_argument, 0, O_MEM},
    {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
    {"grad-accum", required_argument, 0, O_ACCUM}, {"shard", no_argument, 0, O_SHARD},
    {"control-hz", required_argument, 0, O_HZ},
    {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION},
};

void train_parse(int argc, char **argv, train_options *o, const struct option *model_longopts,
                 void (*parse_model)(int id, const char *arg, void *context), void *context, void (*usage)(void))
{
    enum { N_SHARED = sizeof shared_longopts / sizeof shared_longopts[0] };
    size_t n_model = 0;
    while (model_longopts && model_longopts[n_model].name) n_model++;
    struct option *longopts = calloc(N_SHARED + n_model + 1, sizeof *longopts);
    if (!longopts) tool_die(1, "out of memory");
    memcpy(longopts, shared_longopts, sizeof shared_longopts);
    for (size_t i = 0; i < n_model; i++) longopts[N_SHARED + i] = model_longopts[i];
    int ch;
    while ((ch = getopt_long(argc, argv, "o:q", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o->output = optarg; break;
        case 'q': o->quiet = 1; break;
        case O_STATS: o->stats = optarg; break;
        case O_LR: o->lr = tool_option_double("lr", optarg, 0, 10); break;
        case O_WD: o->weight_decay = tool_option_double("weight-decay", optarg, 0, 10); break;
        case O_BETAS: {
            char *comma = strchr(optarg, ',');
            if (!comma) tool_usage_error("--betas: give two numbers separated by a comma, e.g. 0.9,0.999");
            *comma = 0;
            o->beta1 = tool_option_double("betas", optarg, 0, 0.999999);
            o->beta2 = tool_option_double("betas", comma + 1, 0, 0.999999999);
            *comma = ',';
            break;
        }
        case O_BATCH: o->batch = tool_option_long("batch-size", optarg, 1, 1 << 16); break;
        case O_STEPS: o->steps = tool_option_long("steps", optarg, 0, 1L << 40); break;
        case O_EPOCHS: o->epochs = tool_option_double("epochs", optarg, 0, 1e9); break;
        case O_SCHED:
            if (strcmp(optarg, "constant") == 0) o->cosine = 0;
            else if (strcmp(optarg, "cosine") == 0) o->cosine = 1;
            else tool_usage_error("--lr-schedule: '%s' is not constant or cosine", optarg);
            break;
        case O_WARMUP: o->warmup = tool_option_long("warmup", optarg, 0, 1L << 40); break;
        case O_CLIP: o->grad_clip = tool_option_double("grad-clip", optarg, 0, 1e12); break;
        case O_EMA:
            if (strcmp(optarg, "on") == 0) o->ema = 1;
            else if (strcmp(optarg, "off") == 0) o->ema = 0;
            else tool_usage_error("--ema: '%s' is not on or off", optarg);
            break;
        case O_EMA_POWER: o->ema_power = tool_option_double("ema-power", optarg, 1e-3, 10); break;
        case O_EMA_MAX: o->ema_max = tool_option_double("ema-max", optarg, 0, 1); break;
        case O_VALEP: o->val_episodes = optarg; break;
        case O_VALFR: o->val_fraction = tool_option_double("val-fraction", optarg, 0, 0.99); break;
        case O_VALB: o->val_batches = tool_option_long("val-batches", optarg, 0, 1L << 30); break;
        case O_SAVE: o->save_every = tool_option_long("save-every", optarg, 1, 1L << 40); break;
        case O_KEEP: o->keep_every = tool_option_long("keep-every", optarg, 1, 1L << 40); break;
        case O_LOG: o->log = optarg; break;
        case O_LOGE: o->log_every = tool_option_long("log-every", optarg, 1, 1L << 40); break;
        case O_RESUME: o->resume = 1; break;
        case O_INIT: o->init = optarg; break;
        case O_MEM: o->max_memory_mib = tool_option_long("max-memory", optarg, 1, 1L << 30); break;
        case O_SEED: o->seed = tool_option_long("seed", optarg, 0, 1L << 62); break;
        case O_THREADS: o->threads = (int)tool_option_long("threads", optarg, 1, 256); break;
        case O_ACCUM: o->grad_accum = (int)tool_option_long("grad-accum", optarg, 1, 1 << 16); break;
        case O_SHARD: o->shard = 1; break;
        case O_HZ: o->control_hz = tool_option_double("control-hz", optarg, 1e-3, 1e5); break;
        case O_HELP: usage(); exit(0);
        case O_VERSION: tool_version();
        default:
            if (ch >= TRAIN_MODEL_OPTION && parse_model) parse_model(ch, optarg, context);
            else tool_usage_error("unknown option");
        }
    }
    free(longopts);
    if (optind < argc - 1) tool_usage_error("one input stream at most");
    o->input = optind < argc ? argv[optind] : "-";
    if (!o->output) tool_usage_error("-o CKPT.h5 is required");
    if (!o->stats && !o->resume && !o->init) tool_usage_error("--stats is required (normstats output)");
    if (o->resume && o->init) tool_usage_error("--resume and --init exclude each other");
    if (o->grad_accum > o->batch)
        tool_usage_error("--grad-accum %d: more micro-batches than the %ld samples of --batch-size", o->grad_accum,
                         o->batch);
}

/* ---------------------------------------------------------------- the run's state */

void train_checkpoint_stem(const char *path, char *buf, size_t size)
{
    size_t len = strlen(path);
    if (len > 3 && strcmp(path + len - 3, ".h5") == 0) len -= 3;
    snprintf(buf, size, "%.*s", (int)len, path);
}

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

typedef struct {
    const train_options *o;
    const train_model_class *cls;
    void *context, *model;
    nn_params *ps;
    nn_adamw opt;
    nn_ema ema;
    int has_ema;
    rng_t rng;
    long step, steps, last_save;   /* last_save: the step of the checkpoints on disk */
    double best_val;
    double control_hz;             /* written as the checkpoints' control_hz when > 0 */
    char stem[4096];
    /* the data of this process (all of it without --shard) */
    const dataset_t *ds;
    int64_t *train, *val, n_train, n_val;
    int64_t n_val_all;             /* validation samples of every process */
    /* micro-batches: micro of them in the global batch, this process's from first_micro on */
    int micro, first_micro, writer;
    float *accum;                  /* the gradient summed over micro-batches (--grad-accum > 1) */
} run_t;

static int put_config(checkpoint_writer *w, const char *key, const char *fmt, double value)
{
    char text[64];
    snprintf(text, sizeof text, fmt, value);
    return checkpoint_write_config(w, key, text);
}

/* with_optim: the latest and kept checkpoints carry the optimizer for --resume. */
static int save(run_t *r, const char *path, int with_optim)
{
    const train_options *o = r->o;
    checkpoint_writer *w = checkpoint_create(path);
    if (!w) return -1;
    char rng_text[80];
    rng_to_text(&r->rng, rng_text, sizeof rng_text);
    int rc = r->cls->write(r->model, w);
    if (rc == 0 && with_optim) rc = checkpoint_write_optim(w, &r->opt);
    if (rc == 0 && r->has_ema) rc = checkpoint_write_ema(w, &r->ema);
    if (rc == 0) rc = checkpoint_write_step(w, r->step);
    if (rc == 0 && r->control_hz > 0) rc = put_config(w, "control_hz", "%.9g", r->control_hz);
    if (rc == 0)
        rc = checkpoint_write_config(w, "train.rng_state", rng_text) < 0 ||
                     put_config(w, "train.best_val_loss", "%.17g", r->best_val) < 0 ||
                     put_config(w, "train.seed", "%.0f", (double)o->seed) < 0 ||
                     put_config(w, "train.lr", "%.9g", o->lr) < 0 ||
                     put_config(w, "train.weight_decay", "%.9g", o->weight_decay) < 0 ||
                     put_config(w, "train.betas.0", "%.9g", o->beta1) < 0 ||
                     put_config(w, "train.betas.1", "%.9g", o->beta2) < 0 ||
                     put_config(w, "train.batch_size", "%.0f", (double)o->batch) < 0 ||
                     put_config(w, "train.steps", "%.0f", (double)r->steps) < 0 ||
                     put_config(w, "train.warmup", "%.0f", (double)o->warmup) < 0 ||
                     checkpoint_write_config(w, "train.lr_schedule", o->cosine ? "cosine" : "constant") < 0 ||
                     put_config(w, "train.grad_clip", "%.9g", o->grad_clip) < 0 ||
                     checkpoint_write_config(w, "train.ema", r->has_ema ? "on" : "off") < 0
                 ? -1 : 0;
    if (rc < 0) {
        checkpoint_abort(w);
        return -1;
    }
    return checkpoint_commit(w);
}

static int resume_state(run_t *r, const char *path)
{
    checkpoint_reader *cr = checkpoint_open(path);
    if (!cr) return -1;
    int rc = 0;
    if (!checkpoint_has(cr, "optim")) rc = error_set("%s: no optimizer state to resume from", path);
    if (rc == 0) rc = checkpoint_read_optim(cr, &r->opt);
    if (rc == 0) rc = checkpoint_read_step(cr, &r->step);
    if (rc == 0 && !r->has_ema && checkpoint_has(cr, "ema"))
        rc = error_set("%s: the run keeps an EMA of the weights; resume it with --ema on", path);
    if (rc == 0 && r->has_ema) {
        if (!checkpoint_has(cr, "ema")) rc = error_set("%s: the run keeps an EMA but the checkpoint has none (--ema off?)", path);
        else rc = checkpoint_read_ema(cr, &r->ema);
    }
    const char *text = rc == 0 ? checkpoint_config(cr, "train.rng_state") : NULL;
    if (rc == 0 && (!text || rng_from_text(&r->rng, text) < 0))
        rc = error_set("%s: no training state to resume (train.rng_state)", path);
    if (rc == 0 && (text = checkpoint_config(cr, "train.best_val_loss"))) r->best_val = strtod(text, NULL);
    checkpoint_close(cr);
    return rc;
}

/* ---------------------------------------------------------------- micro-batches */

static int metric_index(const train_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->names[i], name) == 0) return i;
    return -1;
}

/* Salts of the keyed draws of --shard's sample indices. */
#define SHARD_TRAIN_KEY 0x7368617264747261ULL
#define SHARD_VAL_KEY 0x73686172647661ULL

/* The sample indices of the global batch idx[0..B): every one from rng in order (every process
 * draws the same), or with --shard this process's part only, each from a generator keyed by
 * (seed ^ salt, key_step, its index in the global batch) over this process's list. */
static void draw_indices(run_t *r, rng_t *rng, const int64_t *list, int64_t n, uint64_t key_step, uint64_t salt,
                         int64_t *idx)
{
    const train_options *o = r->o;
    if (!o->shard) {
        for (long j = 0; j < o->batch; j++) idx[j] = list[rng_below(rng, (uint64_t)n)];
        return;
    }
    long lo = o->batch * r->first_micro / r->micro, hi = o->batch * (r->first_micro + o->grad_accum) / r->micro;
    for (long j = lo; j < hi; j++) {
        rng_t key = rng_keyed((uint64_t)o->seed ^ salt, key_step, (uint64_t)j);
        idx[j] = list[rng_below(&key, (uint64_t)n)];
    }
}

/* This process's micro-batches of the global batch idx[0..B), whose first sample has index base:
 * *sum gets the metrics, each micro-batch's weighted by its share of B. Training: each
 * micro-batch's loss is so scaled, and its gradient computed alone and added to the earlier
 * ones' in micro-batch order, the sum left in the parameters' gradients. */
static int micro_batches(run_t *r, nn_ctx *c, void *batch, const int64_t *idx, int training, int64_t base,
                         train_metrics *sum)
{
    const train_options *o = r->o;
    const long B = o->batch;
    const int M = r->micro, first = r->first_micro, last = first + o->grad_accum - 1;
    nn_params *ps = r->ps;
    memset(sum, 0, sizeof *sum);
    for (int k = first; k <= last; k++) {
        long lo = B * k / M, n = B * (k + 1) / M - lo;
        train_batch_info info = {training, r->step, (uint64_t)o->seed, base + lo};
        train_metrics m = {0};
        if (r->cls->batch_fill(r->model, batch, r->ds, idx + lo, (int)n, &info) < 0) return -1;
        nn_tensor *loss = r->cls->loss(c, r->model, batch, &info, &m);
        if (!loss) return -1;
        if (sum->n == 0) *sum = m, memset(sum->values, 0, sizeof sum->values);
        for (int i = 0; i < m.n; i++) sum->values[i] += M > 1 ? m.values[i] * (double)n / (double)B : m.values[i];
        if (training) {
            if (M > 1) loss = nn_scale(c, loss, (float)n / (float)B, 0.0f);
            if (nn_backward(c, loss) < 0) return -1;
            if (o->grad_accum > 1) {
                float *restrict g = ps->grad, *restrict acc = r->accum;
                if (k == first)
                    memcpy(acc, g, sizeof *g * (size_t)ps->total);
                else if (k < last)
                    for (long i = 0; i < ps->total; i++) acc[i] += g[i];
                else   /* the last one's sum in place (a + b is b + a) */
                    for (long i = 0; i < ps->total; i++) g[i] = acc[i] + g[i];
                if (k < last) nn_params_zero_grad(ps);
            }
        }
        nn_ctx_reset(c);
    }
    return 0;
}

/* ---------------------------------------------------------------- validation */

/* Mean validation loss over a fixed set of batches (no dropout, the EMA weights when the run
 * keeps them; the model's noise keyed by sample as in training, with a step no training batch
 * has, so the numbers are comparable across steps). Each batch's loss summed over processes
 * before the mean, as for a training batch. NAN without validation samples. */
static int validate(run_t *r, nn_ctx *c, void *batch, int64_t *idx, double *out)
{
    const train_options *o = r->o;
    *out = NAN;
    if (r->n_val_all == 0 || o->val_batches == 0) return 0;
    rng_t pick;
    rng_seed(&pick, (uint64_t)o->seed ^ 0x76616c696461ULL);
    double *losses = calloc((size_t)o->val_batches, sizeof *losses);
    if (!losses) return error_set("out of memory");
    if (r->has_ema) nn_ema_swap(&r->ema);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    int rc = 0;
    for (long k = 0; rc == 0 && k < o->val_batches; k++) {
        draw_indices(r, &pick, r->val, r->n_val, (uint64_t)k, SHARD_VAL_KEY, idx);
        train_metrics m;
        if (micro_batches(r, c, batch, idx, 0, k * o->batch, &m) < 0) {
            rc = error_prefix("validation: ");
            break;
        }
        int li = metric_index(&m, "loss");
        losses[k] = m.values[li < 0 ? 0 : li];
    }
    nn_ctx_set_train(c, 1);
    nn_ctx_set_record(c, 1);
    if (r->has_ema) nn_ema_swap(&r->ema);
    if (rc == 0) rc = dist_sum_doubles(losses, (int)o->val_batches);
    if (rc == 0) {
        double sum = 0;
        for (long k = 0; k < o->val_batches; k++) sum += losses[k];
        *out = sum / o->val_batches;
    }
    free(losses);
    return rc;
}

static void json_number(FILE *fp, const char *key, double v)
{
    if (isfinite(v)) fprintf(fp, ",\"%s\":%.6g", key, v);
    else fprintf(fp, ",\"%s\":null", key);
}

/* ---------------------------------------------------------------- the run */

/* The model (fresh, or from --init / --resume), its statistics and optimizer. */
static int setup(run_t *r, const dataset_t *ds)
{
    const train_options *o = r->o;
    const train_model_class *cls = r->cls;
    rng_seed(&r->rng, (uint64_t)o->seed);
    const char *from = o->resume ? o->output : o->init;
    if (from) {
        r->model = cls->load(r->context, from, ds);
    } else {
        rng_t init_rng = rng_split(&r->rng);
        r->model = cls->build(r->context, ds, &init_rng);
    }
    if (!r->model) return -1;
    r->ps = cls->params(r->model);
    r->control_hz = o->control_hz;
    if (from && r->control_hz <= 0) {   /* --resume / --init without --control-hz: the checkpoint's rate */
        checkpoint_reader *cr = checkpoint_open(from);
        if (!cr) return -1;
        const char *hz = checkpoint_config(cr, "control_hz");
        if (hz) r->control_hz = strtod(hz, NULL);
        checkpoint_close(cr);
    }
    if (o->stats) {
        stats_set st;
        if (stats_load(o->stats, &st) < 0) return -1;
        int rc = cls->set_stats(r->model, &st, o->stats);
        stats_free(&st);
        if (rc < 0) return -1;
    }
    return 0;
}

static int optimizer(run_t *r)
{
    const train_options *o = r->o;
    if (nn_adamw_init(&r->opt, r->ps, (float)o->lr, (float)o->weight_decay) < 0) return -1;
    r->opt.beta1 = (float)o->beta1;
    r->opt.beta2 = (float)o->beta2;
    if (r->cls->set_groups && r->cls->set_groups(r->model, r->context, &r->opt) < 0) return -1;
    r->opt.zero_grad = 1;   /* each step leaves the gradients zeroed for the next backward */
    nn_params_zero_grad(r->ps);
    r->has_ema = o->ema;
    if (r->has_ema) {
        if (nn_ema_init(&r->ema, r->ps) < 0) return -1;
        r->ema.power = (float)o->ema_power;
        r->ema.max_decay = (float)o->ema_max;
    }
    r->step = 0;
    r->best_val = INFINITY;
    int rc = o->resume ? resume_state(r, o->output) : 0;
    r->last_save = r->step;
    return rc;
}

static int save_at(run_t *r, nn_ctx *c, void *vbatch, int64_t *idx, int at_keep, double *val_loss)
{
    /* weights that overflowed are never written over the last good checkpoint (buffers may
     * hold infinities on purpose: attention masks) */
    for (int k = 0; k < r->ps->count; k++) {
        const nn_param_info *p = &r->ps->list[k];
        if (p->flags & (NN_BUFFER | NN_FROZEN)) continue;
        const float *x = r->ps->data + p->offset;
        for (long i = 0; i < p->t->size; i++)
            if (!isfinite(x[i]))
                return error_set("step %ld: the weights are not finite; the checkpoints on disk stay those of step %ld; "
                                 "lower --lr?", r->step, r->last_save);
    }
    if (validate(r, c, vbatch, idx, val_loss) < 0) return -1;
    char path[4200];
    if (isfinite(*val_loss) && *val_loss < r->best_val) {
        r->best_val = *val_loss;
        snprintf(path, sizeof path, "%s.best.h5", r->stem);
        if (r->writer && save(r, path, 0) < 0) return -1;
    }
    /* the kept copy before the latest: a kill in between leaves the latest behind, and --resume
     * writes the kept one again (the same bytes), never a latest ahead of a missing kept one;
     * only the writing process (rank 0) writes */
    if (at_keep && r->writer) {
        snprintf(path, sizeof path, "%s.step%ld.h5", r->stem, r->step);
        if (save(r, path, 1) < 0) return -1;
    }
    if (r->writer && save(r, r->o->output, 1) < 0) return -1;
    r->last_save = r->step;
    return 0;
}

/* The model's own metrics on a fixed training batch of the first micro-batch's size, drawn the
 * same way at every save (the writer's data). */
static int eval_metrics(run_t *r, nn_ctx *c, void *vbatch, int64_t *idx, train_metrics *extra)
{
    const train_options *o = r->o;
    rng_t pick;
    rng_seed(&pick, (uint64_t)o->seed ^ 0x6576616c5f6d6574ULL);
    long n = o->batch / r->micro;
    for (long j = 0; j < n; j++) idx[j] = r->train[rng_below(&pick, (uint64_t)r->n_train)];
    train_batch_info einfo = {0, r->step, (uint64_t)o->seed, 0};
    if (r->has_ema) nn_ema_swap(&r->ema);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    int rc = r->cls->batch_fill(r->model, vbatch, r->ds, idx, (int)n, &einfo);
    if (rc == 0) rc = r->cls->eval_metrics(c, r->model, vbatch, extra);
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 1);
    nn_ctx_set_record(c, 1);
    if (r->has_ema) nn_ema_swap(&r->ema);
    return rc;
}

typedef struct {
    FILE *log;
    double window_start, exchange_start;   /* exchange: dist_seconds() at the window's start */
    long window_steps;
    train_metrics sum;
} log_window;

static void log_line(log_window *lw, const run_t *r, double val_loss, double lr, const train_metrics *extra)
{
    double now = time_now();
    fprintf(lw->log, "{\"step\":%ld", r->step);
    for (int i = 0; i < lw->sum.n; i++) json_number(lw->log, lw->sum.names[i], lw->sum.values[i] / lw->window_steps);
    json_number(lw->log, "val_loss", val_loss);
    for (int i = 0; extra && i < extra->n; i++) json_number(lw->log, extra->names[i], extra->values[i]);
    json_number(lw->log, "lr", lr);
    json_number(lw->log, "samples_per_s", lw->window_steps * r->o->batch / fmax(now - lw->window_start, 1e-9));
    if (dist_size() > 1) json_number(lw->log, "exchange_s", dist_seconds() - lw->exchange_start);
    fprintf(lw->log, "}\n");
    fflush(lw->log);
    lw->window_start = now;
    lw->exchange_start = dist_seconds();
    lw->window_steps = 0;
    for (int i = 0; i < lw->sum.n; i++) lw->sum.values[i] = 0;
}

static int loop(run_t *r)
{
    const train_options *o = r->o;
    const train_model_class *cls = r->cls;
    int rc = 0;
    log_window lw = {0};
    if (r->writer && o->log && !(lw.log = fopen(o->log, o->resume ? "a" : "w"))) return error_set("%s:", o->log);
    const int most = (int)((o->batch + r->micro - 1) / r->micro);   /* the largest micro-batch */
    nn_ctx *c = nn_ctx_new((size_t)64 << 20);
    void *batch = cls->batch_new(r->model, most), *vbatch = cls->batch_new(r->model, most);
    int64_t *idx = malloc(sizeof *idx * (size_t)o->batch);
    if (o->grad_accum > 1) r->accum = malloc(sizeof(float) * (size_t)r->ps->total);
    if (!c || !batch || !vbatch || !idx || (o->grad_accum > 1 && !r->accum)) {
        rc = error_set("out of memory for a batch of %d", most);
        goto done;
    }
    if (r->writer && (r->steps == 0 || r->step >= r->steps)) rc = save(r, o->output, 1);   /* the model as it is */
    progress_t progress;
    progress_start(&progress, tool_name(), r->steps, o->quiet || !r->writer);
    progress.first_done = r->step;
    lw.window_start = time_now();
    while (rc == 0 && r->step < r->steps) {
        draw_indices(r, &r->rng, r->train, r->n_train, (uint64_t)r->step, SHARD_TRAIN_KEY, idx);
        train_metrics m;
        if (micro_batches(r, c, batch, idx, 1, 0, &m) < 0) {
            rc = error_prefix("step %ld: ", r->step);
            break;
        }
        if (dist_sum_doubles(m.values, m.n) < 0 || dist_sum_floats(r->ps->grad, r->ps->total) < 0) {
            rc = -1;
            break;
        }
        int li = metric_index(&m, "loss");
        double loss_value = m.values[li < 0 ? 0 : li];
        if (!isfinite(loss_value)) {
            rc = error_set("step %ld: the loss is not finite (%g); the checkpoints on disk stay those of step %ld; "
                           "lower --lr?", r->step, loss_value, r->last_save);
            break;
        }
        if (o->grad_clip > 0) nn_clip_grad_norm(r->ps, (float)o->grad_clip);
        float factor = o->cosine ? nn_lr_cosine(r->step, o->warmup, r->steps) : nn_lr_constant(r->step, o->warmup);
        if (nn_adamw_step(&r->opt, factor) < 0 || (r->has_ema && nn_ema_update(&r->ema) < 0)) {
            rc = -1;
            break;
        }
        r->step++;
        lw.window_steps++;
        if (lw.sum.n == 0) lw.sum = m, memset(lw.sum.values, 0, sizeof lw.sum.values);
        for (int i = 0; i < m.n; i++) lw.sum.values[i] += m.values[i];

        int at_keep = o->keep_every && r->step % o->keep_every == 0 && r->step < r->steps;
        int at_save = r->step % o->save_every == 0 || r->step == r->steps || at_keep;
        double val_loss = NAN;
        train_metrics extra = {0};
        if (at_save) {
            if (save_at(r, c, vbatch, idx, at_keep, &val_loss) < 0 ||
                (r->writer && cls->eval_metrics && eval_metrics(r, c, vbatch, idx, &extra) < 0)) {
                rc = -1;
                break;
            }
        }
        if (lw.log && (r->step % o->log_every == 0 || at_save)) log_line(&lw, r, val_loss, o->lr * factor, &extra);
        char text[160] = "";
        for (int i = 0; i < m.n; i++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s %.4f", i ? " " : "", m.names[i], m.values[i]);
        progress_update(&progress, r->step, text);
    }
    progress_finish(&progress, r->step, NULL);
done:
    if (lw.log && fclose(lw.log) != 0 && rc == 0) rc = error_set("%s:", o->log);
    free(idx);
    free(r->accum);
    if (batch) cls->batch_free(batch);
    if (vbatch) cls->batch_free(vbatch);
    nn_ctx_free(c);
    return rc;
}

/* ---------------------------------------------------------------- the data */

/* What the data may take: --max-memory, else dataset_read's default. */
static size_t memory_limit(const train_options *o)
{
    return o->max_memory_mib ? (size_t)o->max_memory_mib << 20 : dataset_default_memory_limit();
}

/* --shard: the samples of the episodes whose episode_index is this process's rank modulo the
 * processes. */
static int read_shard(dataset_t *ds, stream_reader *in, const dataset_request *want, int n_want,
                      const train_options *o, const train_model_class *cls, void *context)
{
    memset(ds, 0, sizeof *ds);
    size_t limit = memory_limit(o);
    stream_sample s;
    stream_sample_init(&s);
    int rc;
    while ((rc = stream_reader_next(in, &s)) > 0) {
        int64_t episode = 0;
        if (stream_sample_get(&s, "episode_index") && stream_sample_get_i64(&s, "episode_index", &episode) < 0) {
            rc = -1;
            break;
        }
        if ((episode % dist_size() + dist_size()) % dist_size() != dist_rank()) continue;
        if (dataset_add(ds, &s, want, n_want, limit) < 0 || (ds->n == 1 && cls->check_layout && cls->check_layout(ds, context) < 0)) {
            rc = -1;
            break;
        }
    }
    stream_sample_free(&s);
    if (rc < 0) return -1;
    if (ds->n == 0)
        return error_set("--shard: no episode of the stream is this process's (episode_index %% %d == %d)", dist_size(),
                         dist_rank());
    return 0;
}

static double dataset_mib(const dataset_t *ds)
{
    double bytes = 0;
    for (int f = 0; f < ds->n_fields; f++) bytes += (double)ds->fields[f].bytes * (double)ds->n;
    return bytes / (1 << 20);
}

static int run(run_t *r, dataset_t *ds)
{
    const train_options *o = r->o;
    const train_model_class *cls = r->cls;
    dataset_request want[DATASET_MAX_FIELDS];
    int n_want = cls->fields(r->context, want, DATASET_MAX_FIELDS);
    if (n_want < 0) return -1;
    stream_reader *in = stream_reader_open(o->input);
    if (!in) return -1;
    int rc = o->shard ? read_shard(ds, in, want, n_want, o, cls, r->context)
                      : dataset_read(ds, in, want, n_want, (size_t)o->max_memory_mib << 20, cls->check_layout, r->context);
    if (rc < 0) error_prefix("%s: ", stream_reader_name(in));
    stream_reader_close(in);
    if (rc < 0) return -1;
    r->ds = ds;

    size_t n_val_ep = 0, n_ep = 0;
    if (setup(r, ds) < 0 ||
        dataset_split(ds, o->val_episodes, o->val_fraction, (uint64_t)o->seed, &r->train, &r->n_train, &r->val,
                      &r->n_val, &n_val_ep, &n_ep) < 0)
        return -1;
    /* every process's counts: --epochs and whether there is validation are the job's */
    int64_t counts[2] = {r->n_train, r->n_val};
    if (o->shard && dist_sum_i64(counts, 2) < 0) return -1;
    r->n_val_all = counts[1];
    if (o->shard && r->n_val_all && !r->n_val)
        return error_set("--shard: no validation episode among this process's %zu episodes", n_ep);
    if (!o->quiet && (r->writer || o->shard)) {
        char who[32] = "";
        if (o->shard) snprintf(who, sizeof who, "rank %d: ", dist_rank());
        fprintf(stderr, "%s: %s%lld samples of %zu episodes (%.2f MiB): %lld for training, %lld in %zu validation episodes\n",
                tool_name(), who, (long long)ds->n, n_ep, dataset_mib(ds), (long long)r->n_train, (long long)r->n_val,
                n_val_ep);
    }
    if (!o->quiet && r->writer && dist_size() > 1)
        fprintf(stderr, "%s: %d processes x %d micro-batches of about %ld samples\n", tool_name(), dist_size(),
                o->grad_accum, o->batch / r->micro);
    r->steps = o->epochs >= 0 ? (long)ceil(o->epochs * (double)counts[0] / (double)o->batch) : o->steps;
    if (optimizer(r) < 0) return -1;
    return loop(r);
}

int train_run(const train_options *o, const train_model_class *cls, void *context)
{
    if (dist_init() < 0) return -1;
    nn_set_threads(o->threads);
    run_t r;
    memset(&r, 0, sizeof r);
    r.o = o, r.cls = cls, r.context = context;
    train_checkpoint_stem(o->output, r.stem, sizeof r.stem);
    r.micro = dist_size() * o->grad_accum;
    r.first_micro = dist_rank() * o->grad_accum;
    r.writer = dist_rank() == 0;
    dataset_t ds = {0};
    int rc;
    if (o->batch < r.micro)
        rc = error_set("--batch-size %ld: fewer samples than the %d micro-batches of %d processes x --grad-accum %d",
                       o->batch, r.micro, dist_size(), o->grad_accum);
    else
        rc = run(&r, &ds);
    if (rc < 0) dist_abort(error_get(), EXIT_DATA);
    free(r.train);
    free(r.val);
    if (r.has_ema) nn_ema_free(&r.ema);
    if (r.ps) nn_adamw_free(&r.opt);
    if (r.model) cls->free(r.model);
    dataset_free(&ds);
    dist_finish();
    return rc;
}
