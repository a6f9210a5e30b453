/* predict — run a trained policy checkpoint (any kind the registry knows) on a sample stream:
 * write each sample's predicted action chunk (in the data's units) as a sample stream, or with
 * --loss print per-episode and overall L1/MSE against the stream's actions over non-padded
 * rows. A sample's observation history (chunkify --obs-steps) is replayed into the policy. See
 * predict(1). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/stream.h"
#include "policy/policy.h"
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
           "      --help, --version\n");
    exit(EXIT_SUCCESS);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { O_LOSS = 256, O_START, O_ARG, O_SEED, O_THREADS, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"loss", no_argument, 0, O_LOSS},
        {"action-start", no_argument, 0, O_START}, {"policy-arg", required_argument, 0, O_ARG},
        {"seed", required_argument, 0, O_SEED},    {"threads", required_argument, 0, O_THREADS},
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

/* ---------------------------------------------------------------- the stream as an environment */

#define IMAGE_PREFIX "observation.images."

/* What the first sample offers: state, velocity, cameras, other observation.<key> vectors; the
 * observation history length (1 without one). */
typedef struct {
    policy_env_t env;
    int history;
    char camera_fields[POLICY_MAX_CAMERAS][96], obs_fields[POLICY_MAX_OBS][96];   /* field names */
} stream_env;

/* The number of history steps of a field whose single-step rank is base_ndim (-1: not that shape). */
static int steps_of(const npy_array *a, int base_ndim)
{
    return a->ndim == base_ndim ? 1 : a->ndim == base_ndim + 1 ? (int)a->shape[0] : -1;
}

static int env_from(stream_env *e, const stream_sample *s, const char *checkpoint)
{
    memset(e, 0, sizeof *e);
    e->env.task = "stream";
    const npy_array *state = stream_sample_get(s, "observation.state");
    if (!state || state->dtype != NPY_F32 || steps_of(state, 1) < 1)
        return error_set("sample %s: observation.state must be float32 [S] or [N,S] (an observation history)", s->key);
    e->history = steps_of(state, 1);
    e->env.state_dim = (int)state->shape[state->ndim - 1];
    const npy_array *vel = stream_sample_get(s, "observation.velocity");
    if (vel && vel->dtype == NPY_F32 && steps_of(vel, 1) == e->history) e->env.velocity_dim = (int)vel->shape[vel->ndim - 1];
    for (size_t f = 0; f < s->n_fields; f++) {
        const char *name = s->fields[f].name;
        const npy_array *a = &s->fields[f].array;
        if (strncmp(name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0) {
            if (a->dtype != NPY_U8 || steps_of(a, 3) != e->history || a->shape[a->ndim - 1] != 3)
                return error_set("sample %s: %s must be uint8 [H,W,3] (or [%d,H,W,3])", s->key, name, e->history);
            int k = e->env.n_cameras;
            if (k == POLICY_MAX_CAMERAS) return error_set("sample %s: more than %d cameras", s->key, POLICY_MAX_CAMERAS);
            int h = (int)a->shape[a->ndim - 3], w = (int)a->shape[a->ndim - 2];
            if (k && (h != e->env.height || w != e->env.width))
                return error_set("sample %s: cameras of different sizes (%dx%d and %dx%d)", s->key, e->env.height,
                                 e->env.width, h, w);
            e->env.height = h, e->env.width = w;
            snprintf(e->camera_fields[k], sizeof e->camera_fields[k], "%s", name);
            e->env.camera_names[k] = e->camera_fields[k] + strlen(IMAGE_PREFIX);
            e->env.n_cameras++;
        } else if (strncmp(name, "observation.", 12) == 0 && strcmp(name, "observation.state") != 0 &&
                   strcmp(name, "observation.velocity") != 0 && a->dtype == NPY_F32 && steps_of(a, 1) == e->history) {
            int i = e->env.n_obs;
            if (i == POLICY_MAX_OBS) continue;
            snprintf(e->obs_fields[i], sizeof e->obs_fields[i], "%s", name);
            e->env.obs_names[i] = e->obs_fields[i] + 12;
            e->env.obs_dims[i] = (int)a->shape[a->ndim - 1];
            e->env.n_obs++;
        }
    }
    /* The action size: the stream's, or the checkpoint's when the stream has no actions. */
    const npy_array *action = stream_sample_get(s, "action");
    if (action && action->ndim >= 1) {
        e->env.action_dim = (int)action->shape[action->ndim - 1];
    } else {
        checkpoint_reader *r = checkpoint_open(checkpoint);
        const char *v = r ? checkpoint_config(r, "action_dim") : NULL;
        long a = 0;
        if (v && parse_long(v, 1, 1 << 20, &a) == 0) e->env.action_dim = (int)a;
        if (r) checkpoint_close(r);
        if (!e->env.action_dim) return error_set("%s: no action_dim in its configuration, and the stream has no action", checkpoint);
    }
    return 0;
}

/* Step t's observation of a sample (pointers into the sample's arrays). */
static int observation_at(const stream_env *e, const stream_sample *s, int t, policy_observation_t *obs)
{
    memset(obs, 0, sizeof *obs);
    obs->step = t;
    const npy_array *state = stream_sample_get(s, "observation.state");
    if (!state || state->dtype != NPY_F32 || steps_of(state, 1) != e->history || state->shape[state->ndim - 1] != e->env.state_dim)
        return error_set("sample %s: observation.state is not float32 [%d] like the first sample's", s->key, e->env.state_dim);
    obs->state = (const float *)state->data + (size_t)t * e->env.state_dim;
    if (e->env.velocity_dim) {
        const npy_array *vel = stream_sample_get(s, "observation.velocity");
        if (!vel || npy_array_count(vel) != (int64_t)e->history * e->env.velocity_dim)
            return error_set("sample %s: observation.velocity is not like the first sample's", s->key);
        obs->velocity = (const float *)vel->data + (size_t)t * e->env.velocity_dim;
    }
    size_t image = (size_t)e->env.height * e->env.width * 3;
    for (int k = 0; k < e->env.n_cameras; k++) {
        const npy_array *a = stream_sample_get(s, e->camera_fields[k]);
        if (!a || a->dtype != NPY_U8 || npy_array_count(a) != (int64_t)(e->history * image))
            return error_set("sample %s: %s is not like the first sample's", s->key, e->camera_fields[k]);
        obs->images[k] = (const uint8_t *)a->data + (size_t)t * image;
    }
    for (int i = 0; i < e->env.n_obs; i++) {
        const npy_array *a = stream_sample_get(s, e->obs_fields[i]);
        if (!a || a->dtype != NPY_F32 || npy_array_count(a) != (int64_t)e->history * e->env.obs_dims[i])
            return error_set("sample %s: %s is not like the first sample's", s->key, e->obs_fields[i]);
        obs->obs[i] = (const float *)a->data + (size_t)t * e->env.obs_dims[i];
    }
    return 0;
}

/* ---------------------------------------------------------------- errors against the stream */

/* Per-episode error sums over non-padded rows, in the data's units. */
typedef struct {
    int64_t episode, samples, rows;
    double abs_sum, sq_sum;
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

/* Compare chunk [K,A] with the sample's action rows from `offset` on. */
static int add_errors(errors *e, const stream_sample *s, const float *chunk, int K, int A, int offset)
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

static void print_error(const episode_error *x, int overall, int A)
{
    double n = (double)x->rows * A;
    if (overall) printf("{\"episode\":\"all\"");
    else printf("{\"episode\":%lld", (long long)x->episode);
    printf(",\"samples\":%lld,\"rows\":%lld", (long long)x->samples, (long long)x->rows);
    if (n > 0) printf(",\"l1\":%.6g,\"mse\":%.6g}\n", x->abs_sum / n, x->sq_sum / n);
    else printf(",\"l1\":null,\"mse\":null}\n");
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
    stream_env e;
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
            if (env_from(&e, &s, o.checkpoint) < 0) break;
            if (e.history > (int)(sizeof history / sizeof history[0])) {
                error_set("sample %s: an observation history of %d steps (at most %zu)", s.key, e.history,
                          sizeof history / sizeof history[0]);
                break;
            }
            if (!(p = policy_open(o.checkpoint, &e.env, &o.policy))) break;
            if (!(chunk = malloc(sizeof(float) * policy_chunk_size(p) * e.env.action_dim))) {
                error_set("out of memory");
                break;
            }
        }
        int t = 0;
        for (; t < e.history; t++)
            if (observation_at(&e, &s, t, &history[t]) < 0) break;
        if (t < e.history) break;
        const int K = policy_chunk_size(p), A = e.env.action_dim;
        if (policy_predict(p, history, e.history, (uint64_t)o.seed + (uint64_t)index, chunk) < 0) {
            error_prefix("sample %s: ", s.key);
            break;
        }
        if (o.loss ? add_errors(&err, &s, chunk, K, A, o.action_start ? e.history - 1 : 0) < 0
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
        for (size_t i = 0; i < err.n; i++) print_error(&err.list[i], 0, A);
        print_error(&err.all, 1, A);
    }
    free(err.list);
    free(chunk);
    policy_free(p);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
