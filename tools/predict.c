/* predict — run a trained policy checkpoint (any kind the registry knows) on a sample stream:
 * write each sample's predicted action chunk (in the data's units) as a sample stream, or with
 * --loss print per-episode and overall L1/MSE against the stream's actions over non-padded
 * rows. A sample's observation history (chunkify --obs-steps) is replayed into the policy. See
 * predict(1); the stream-to-observation mapping is lib/policy/stream_env.c. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/stream.h"
#include "policy/policy.h"
#include "policy/stream_env.h"
#include "util/error.h"
#include "util/parse.h"

typedef struct {
    const char *checkpoint, *input;
    int loss, threads, action_start;
    long seed;
    policy_options_t policy;
} options;

static _Noreturn void usage(void)
{
    printf("Usage: predict -c CKPT.h5 [--loss] [OPTIONS] [FILE|-]\n"
           "Run a trained policy (act, cnnmlp, diffusion, ...) on a sample stream (default stdin) and\n"
           "write, per sample, the predicted action chunk in the data's units as a sample stream; with\n"
           "--loss print per-episode and overall L1/MSE against the stream's action over non-padded rows.\n\n"
           "  -c, --checkpoint CKPT    the trained policy (a trainer's output)\n"
           "      --loss               print errors as JSON lines instead of writing predictions\n"
           "      --action-start       the stream's chunks start at the first observation step\n"
           "                           (chunkify --action-start): compare from row N-1 on\n"
           "      --policy-arg KEY=VAL a setting of the policy's class (see predict(1)); repeatable\n"
           "      --seed S             sample i's noise is seeded with S+i (default 0)\n"
           "      --threads N          (default 2)\n"
           "      --weight-precision f32|f16  the matrix-product weights in single (default) or\n"
           "                           half precision\n"
           "      --help, --version\n");
    exit(EXIT_SUCCESS);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { O_LOSS = 256, O_START, O_ARG, O_SEED, O_THREADS, O_PRECISION, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"loss", no_argument, 0, O_LOSS},
        {"action-start", no_argument, 0, O_START}, {"policy-arg", required_argument, 0, O_ARG},
        {"seed", required_argument, 0, O_SEED},    {"threads", required_argument, 0, O_THREADS},
        {"weight-precision", required_argument, 0, O_PRECISION},
        {"help", no_argument, 0, O_HELP},          {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->policy = policy_default_options();
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->checkpoint = optarg; break;
        case O_LOSS: o->loss = 1; break;
        case O_START: o->action_start = 1; break;
        case O_ARG:
            if (o->policy.n_args == POLICY_MAX_ARGS) tool_usage_error("--policy-arg: at most %d", POLICY_MAX_ARGS);
            o->policy.args[o->policy.n_args++] = optarg;
            break;
        case O_SEED:
            if (parse_long(optarg, 0, 1L << 62, &o->seed) < 0) tool_usage_error("--seed: %s", error_get());
            break;
        case O_THREADS:
            if (parse_long(optarg, 1, 256, &v) < 0) tool_usage_error("--threads: %s", error_get());
            o->threads = (int)v;
            break;
        case O_PRECISION:
            if (policy_set_weight_precision(&o->policy, optarg) < 0)
                tool_usage_error("--weight-precision: %s", error_get());
            break;
        case O_HELP: usage();
        case O_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (!o->checkpoint) tool_usage_error("-c CKPT.h5 is required");
    if (optind < argc - 1) tool_usage_error("one input stream at most");
    o->input = optind < argc ? argv[optind] : "-";
    o->policy.n_threads = o->threads;
}

/* ---------------------------------------------------------------- errors against the stream */

/* Per-episode error sums over non-padded rows, in the data's units. */
typedef struct {
    int64_t episode, samples, rows;
    double abs_sum, sq_sum;
    double model_loss_sum;          /* the policy's own loss (policy_loss_name), summed over samples */
} episode_error;

typedef struct {
    episode_error *list;
    size_t n, cap;
    episode_error all;
} errors;

static episode_error *episode_of(errors *e, int64_t episode)
{
    if (e->n && e->list[e->n - 1].episode == episode) return &e->list[e->n - 1];
    for (size_t i = 0; i < e->n; i++)
        if (e->list[i].episode == episode) return &e->list[i];
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->list = realloc(e->list, sizeof *e->list * e->cap);
        if (!e->list) tool_die(EXIT_DATA, "out of memory");
    }
    memset(&e->list[e->n], 0, sizeof e->list[0]);
    e->list[e->n].episode = episode;
    return &e->list[e->n++];
}

/* Compare chunk [K,A] with the sample's action rows from `offset` on; add the policy's own loss. */
static int add_errors(errors *e, const stream_sample *s, const float *chunk, int K, int A, int offset, double model_loss)
{
    const npy_array *truth = stream_sample_get(s, "action");
    if (!truth || truth->dtype != NPY_F32 || truth->ndim < 1 || truth->shape[truth->ndim - 1] != A)
        return error_set("sample %s: --loss needs an action field float32 [K,%d]", s->key, A);
    int rows = truth->ndim == 2 ? (int)truth->shape[0] : 1;
    const npy_array *pad = stream_sample_get(s, "action_is_pad");
    if (pad && npy_array_count(pad) != rows) pad = NULL;
    int64_t episode = 0;
    if (stream_sample_get(s, "episode_index")) stream_sample_get_i64(s, "episode_index", &episode);
    episode_error *x = episode_of(e, episode);
    x->samples++, e->all.samples++;
    x->model_loss_sum += model_loss, e->all.model_loss_sum += model_loss;
    for (int r = 0; r < K && r + offset < rows; r++) {
        if (pad && ((const uint8_t *)pad->data)[r + offset]) continue;
        x->rows++, e->all.rows++;
        const float *t = (const float *)truth->data + (size_t)(r + offset) * A;
        for (int j = 0; j < A; j++) {
            double d = (double)chunk[r * A + j] - t[j];
            x->abs_sum += fabs(d), x->sq_sum += d * d;
            e->all.abs_sum += fabs(d), e->all.sq_sum += d * d;
        }
    }
    return 0;
}

static void print_error(const episode_error *x, int overall, int A, const char *loss_name)
{
    double n = (double)x->rows * A;
    if (overall) printf("{\"episode\":\"all\"");
    else printf("{\"episode\":%lld", (long long)x->episode);
    printf(",\"samples\":%lld,\"rows\":%lld", (long long)x->samples, (long long)x->rows);
    if (n > 0) printf(",\"l1\":%.6g,\"mse\":%.6g", x->abs_sum / n, x->sq_sum / n);
    else printf(",\"l1\":null,\"mse\":null");
    if (loss_name && x->samples) printf(",\"%s\":%.6g", loss_name, x->model_loss_sum / x->samples);
    printf("}\n");
}

/* The prediction as a sample: action [K,A], plus the input's episode_index and frame_index. */
static int write_prediction(stream_writer *w, const stream_sample *in, const float *chunk, int K, int A)
{
    stream_sample s;
    stream_sample_init(&s);
    int rc = stream_sample_reset(&s, "%s", in->key);
    npy_array *out = rc == 0 ? stream_sample_add(&s, "action", NPY_F32, 2, (int64_t[]){K, A}) : NULL;
    if (!out) rc = -1;
    else memcpy(out->data, chunk, sizeof(float) * K * A);
    int64_t v;
    const char *ids[] = {"episode_index", "frame_index"};
    for (int i = 0; rc == 0 && i < 2; i++)
        if (stream_sample_get(in, ids[i]) && stream_sample_get_i64(in, ids[i], &v) == 0) rc = stream_sample_add_i64(&s, ids[i], v);
    if (rc == 0) rc = stream_writer_put(w, &s);
    stream_sample_free(&s);
    return rc;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    tool_init("predict");
    options o;
    parse_options(argc, argv, &o);

    stream_reader *r = stream_reader_open(o.input);
    if (!r) tool_die(EXIT_DATA, "%s", error_get());
    stream_writer *w = NULL;
    if (!o.loss && !(w = stream_writer_open(stdout))) tool_die(EXIT_DATA, "%s", error_get());
    policy_stream_env e;
    policy_t *p = NULL;
    float *chunk = NULL;
    errors err;
    memset(&err, 0, sizeof err);
    policy_observation_t history[64];
    stream_sample s;
    stream_sample_init(&s);
    int rc;
    int64_t index = 0;
    while ((rc = stream_reader_next(r, &s)) > 0) {
        if (!p) {
            if (policy_stream_env_init(&e, &s, o.checkpoint) < 0) break;
            if (e.history > (int)(sizeof history / sizeof history[0])) {
                error_set("sample %s: an observation history of %d steps (at most %zu)", s.key, e.history,
                          sizeof history / sizeof history[0]);
                break;
            }
            if (!(p = policy_open(o.checkpoint, &e.env, &o.policy))) {
                if (w) stream_writer_abort(w);
                tool_die(EXIT_DATA, "%s", error_get());   /* the checkpoint names itself */
            }
            if (!(chunk = malloc(sizeof(float) * policy_chunk_size(p) * e.env.action_dim))) {
                error_set("out of memory");
                break;
            }
        }
        int t = 0;
        for (; t < e.history; t++)
            if (policy_stream_observation(&e, &s, t, &history[t]) < 0) break;
        if (t < e.history) break;
        const int K = policy_chunk_size(p), A = e.env.action_dim;
        if (policy_predict(p, history, e.history, (uint64_t)o.seed + (uint64_t)index, chunk) < 0) {
            error_prefix("sample %s: ", s.key);
            break;
        }
        double model_loss = 0;
        if (o.loss && o.action_start && policy_loss_name(p)) {
            /* the policy's own loss on the sample's chunk, which starts at its first observation */
            const npy_array *truth = stream_sample_get(&s, "action");
            if (!truth || truth->dtype != NPY_F32 || truth->ndim != 2 || truth->shape[1] != A) {
                error_set("sample %s: --loss needs an action field float32 [K,%d]", s.key, A);
                break;
            }
            if (policy_loss(p, history, e.history, truth->data, (int)truth->shape[0], (uint64_t)o.seed + (uint64_t)index,
                            &model_loss) < 0) {
                error_prefix("sample %s: ", s.key);
                break;
            }
        }
        if (o.loss ? add_errors(&err, &s, chunk, K, A, o.action_start ? e.history - 1 : 0, model_loss) < 0
                   : write_prediction(w, &s, chunk, K, A) < 0)
            break;
        index++;
    }
    if (rc > 0) rc = -1;   /* left the loop on an error */
    if (rc < 0) {
        if (w) stream_writer_abort(w);
        tool_die(EXIT_DATA, "%s: %s", stream_reader_name(r), error_get());
    }
    stream_sample_free(&s);
    stream_reader_close(r);
    if (w && stream_writer_close(w) < 0) tool_die(EXIT_DATA, "%s", error_get());
    if (o.loss) {
        int A = p ? e.env.action_dim : 1;
        const char *loss_name = p && o.action_start ? policy_loss_name(p) : NULL;
        for (size_t i = 0; i < err.n; i++) print_error(&err.list[i], 0, A, loss_name);
        print_error(&err.all, 1, A, loss_name);
    }
    free(err.list);
    free(chunk);
    policy_free(p);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
