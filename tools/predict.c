/* predict — run a trained ACT or CNNMLP checkpoint on a sample stream: write each sample's
 * predicted action chunk (denormalised) as a sample stream, or with --loss print per-episode
 * and overall L1/MSE against the stream's actions over non-padded rows. See predict(1). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/stream.h"
#include "nn/nn.h"
#include "policy/act.h"
#include "util/error.h"
#include "util/parse.h"

typedef struct {
    const char *checkpoint, *input;
    int loss, threads;
    long batch;
} options;

static _Noreturn void usage(void)
{
    printf("Usage: predict -c CKPT.h5 [--loss] [OPTIONS] [FILE|-]\n"
           "Run a trained policy (act, cnnmlp) on a sample stream (default stdin) and write, per\n"
           "sample, the predicted action chunk in the data's units as a sample stream; with --loss\n"
           "print per-episode and overall L1/MSE against the stream's action over non-padded rows.\n\n"
           "  -c, --checkpoint CKPT  the trained policy (act-train output)\n"
           "      --loss             print errors as JSON lines instead of writing predictions\n"
           "  -b, --batch-size B     samples per forward pass (default 8)\n"
           "      --threads N        (default 2)\n"
           "      --help, --version\n");
    exit(0);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { O_LOSS = 256, O_THREADS, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"loss", no_argument, 0, O_LOSS},
        {"batch-size", required_argument, 0, 'b'}, {"threads", required_argument, 0, O_THREADS},
        {"help", no_argument, 0, O_HELP},          {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->batch = 8;
    o->threads = 2;
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "c:b:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->checkpoint = optarg; break;
        case O_LOSS: o->loss = 1; break;
        case 'b':
            if (parse_long(optarg, 1, 1 << 16, &v) < 0) tool_usage_error("--batch-size: %s", error_get());
            o->batch = v;
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
}

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
        if (!e->list) tool_die(1, "out of memory");
    }
    memset(&e->list[e->n], 0, sizeof e->list[0]);
    e->list[e->n].episode = episode;
    return &e->list[e->n++];
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

typedef struct {
    act_model m;
    act_dataset ds;
    act_batch b;
    nn_ctx *c;
    char **cameras;
    char **keys;
    int has_episode_fields;
    float *chunk;
} predictor;

/* Predict the buffered samples; write them or add their errors. */
static void flush(predictor *p, const options *o, stream_writer *w, errors *e)
{
    const int n = (int)p->ds.n, K = act_model_chunk(&p->m), A = p->m.cfg.action_dim;
    if (n == 0) return;
    int64_t idx[n];
    for (int i = 0; i < n; i++) idx[i] = i;
    act_batch_fill(&p->b, &p->m, &p->ds, idx, n);
    nn_tensor *a = act_model_predict(p->c, &p->m, &p->b);
    if (!a) tool_die(1, "%s", error_get());
    for (int i = 0; i < n; i++) {
        act_denormalize_action(&p->m, a->data + (size_t)i * K * A, K, p->chunk);
        if (o->loss) {
            episode_error *x = episode_of(e, p->ds.episode[i]);
            int rows = K < p->ds.rows ? K : p->ds.rows;
            const float *truth = p->ds.action + (size_t)i * p->ds.rows * A;
            x->samples++, e->all.samples++;
            for (int r = 0; r < rows; r++) {
                if (p->ds.is_pad[(size_t)i * p->ds.rows + r]) continue;
                x->rows++, e->all.rows++;
                for (int j = 0; j < A; j++) {
                    double d = (double)p->chunk[r * A + j] - truth[r * A + j];
                    x->abs_sum += fabs(d), x->sq_sum += d * d;
                    e->all.abs_sum += fabs(d), e->all.sq_sum += d * d;
                }
            }
            continue;
        }
        stream_sample s;
        stream_sample_init(&s);
        if (stream_sample_reset(&s, "%s", p->keys[i]) < 0) tool_die(1, "%s", error_get());
        npy_array *out = stream_sample_add(&s, "action", NPY_F32, 2, (int64_t[]){K, A});
        if (!out) tool_die(1, "%s", error_get());
        memcpy(out->data, p->chunk, sizeof(float) * K * A);
        if (p->has_episode_fields && (stream_sample_add_i64(&s, "episode_index", p->ds.episode[i]) < 0 ||
                                      stream_sample_add_i64(&s, "frame_index", p->ds.frame[i]) < 0))
            tool_die(1, "%s", error_get());
        if (stream_writer_put(w, &s) < 0) {
            stream_writer_abort(w);
            tool_die(1, "%s", error_get());
        }
        stream_sample_free(&s);
    }
    nn_ctx_reset(p->c);
    for (int i = 0; i < n; i++) free(p->keys[i]);
    p->ds.n = 0;
}

int main(int argc, char **argv)
{
    tool_init("predict");
    options o;
    parse_options(argc, argv, &o);
    nn_set_threads(o.threads);

    predictor p;
    memset(&p, 0, sizeof p);
    if (act_checkpoint_load(o.checkpoint, &p.m) < 0) tool_die(1, "%s", error_get());
    nn_params_freeze(p.m.ps, 1);   /* inference only: products use weights packed once */
    const act_config *cfg = &p.m.cfg;
    const int K = act_model_chunk(&p.m), A = cfg->action_dim;
    p.cameras = calloc(cfg->n_cameras, sizeof *p.cameras);
    for (int k = 0; k < cfg->n_cameras; k++) p.cameras[k] = (char *)cfg->camera_names[k];
    p.keys = calloc(o.batch, sizeof *p.keys);
    p.chunk = malloc(sizeof(float) * K * A);
    if (act_batch_alloc(&p.b, &p.m, (int)o.batch) < 0 || !(p.c = nn_ctx_new((size_t)64 << 20)))
        tool_die(1, "%s", error_get());
    nn_ctx_set_train(p.c, 0);
    nn_ctx_set_record(p.c, 0);

    stream_reader *r = stream_reader_open(o.input);
    if (!r) tool_die(1, "%s", error_get());
    stream_writer *w = NULL;
    if (!o.loss && !(w = stream_writer_open(stdout))) tool_die(1, "%s", error_get());
    errors e;
    memset(&e, 0, sizeof e);
    stream_sample s;
    stream_sample_init(&s);
    int rc, first = 1;
    while ((rc = stream_reader_next(r, &s)) > 0) {
        if (act_dataset_add(&p.ds, &s, p.cameras, cfg->n_cameras, 0) < 0) {
            if (w) stream_writer_abort(w);
            tool_die(1, "%s: %s", stream_reader_name(r), error_get());
        }
        if (first) {
            first = 0;
            p.has_episode_fields = stream_sample_get(&s, "episode_index") != NULL;
            const act_dataset *ds = &p.ds;
            const char *problem = NULL;
            if (ds->state_dim != cfg->state_dim) problem = "state size";
            else if (ds->height != cfg->height || ds->width != cfg->width) problem = "image size";
            else if (o.loss && !ds->action_dim) problem = "action field (needed by --loss)";
            else if (ds->action_dim && ds->action_dim != A) problem = "action size";
            if (problem) {
                if (w) stream_writer_abort(w);
                tool_die(1, "%s: sample %s: its %s does not match %s (state %d, action %d, images %dx%d)",
                         stream_reader_name(r), s.key, problem, o.checkpoint, cfg->state_dim, A, cfg->height, cfg->width);
            }
        }
        p.keys[p.ds.n - 1] = strdup(s.key);
        if (p.ds.n == o.batch) flush(&p, &o, w, &e);
    }
    if (rc < 0) {
        if (w) stream_writer_abort(w);
        tool_die(1, "%s", error_get());
    }
    flush(&p, &o, w, &e);
    stream_sample_free(&s);
    stream_reader_close(r);
    if (w && stream_writer_close(w) < 0) tool_die(1, "%s", error_get());
    if (o.loss) {
        for (size_t i = 0; i < e.n; i++) print_error(&e.list[i], 0, A);
        print_error(&e.all, 1, A);
    }
    free(e.list);
    free(p.keys);
    free(p.cameras);
    free(p.chunk);
    act_batch_free(&p.b);
    nn_ctx_free(p.c);
    act_dataset_free(&p.ds);
    act_model_free(&p.m);
    return tool_close_stdout() < 0 ? 1 : 0;
}
