/* dp_transformer.c — benchmark of Diffusion Policy's TransformerForDiffusion (mod_transformer_diffusion)
 * at DP's default size (8 layers, 4 heads, 256 features, horizon 10, 2 observation steps):
 * one denoising forward at batch 1 in inference mode (no tape, weights packed once, as a rollout
 * runs it 10-100 times per action chunk), and a training forward + backward at batch 64
 * (dropout on). Prints "name<TAB>median milliseconds<TAB>min milliseconds" per workload.
 *
 *   dp_transformer [--threads N] [--repeat R] [--action-dim A] [--obs-dim D]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/modules.h"
#include "util/error.h"
#include "util/parse.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One call of the module on random inputs; training: forward + backward of an MSE loss. */
static int run_once(nn_ctx *c, const mod_transformer_diffusion *m, nn_params *ps, int batch, int train, rng_t *rng)
{
    const mod_transformer_diffusion_config *cfg = &m->cfg;
    nn_ctx_reset(c);
    nn_tensor *sample = nn_new(c, NN_DIMS(batch, cfg->horizon, cfg->action_dim));
    nn_tensor *cond = nn_new(c, NN_DIMS(batch, cfg->n_obs_steps, cfg->obs_dim));
    float steps[64];
    if (!sample || !cond || batch > 64) return error_set("batch %d (at most 64)", batch);
    rng_fill_normal(rng, sample->data, (size_t)sample->size, 0, 1);
    rng_fill_normal(rng, cond->data, (size_t)cond->size, 0, 1);
    for (int b = 0; b < batch; b++) steps[b] = (float)(rng_u64(rng) % 100);
    nn_tensor *y = mod_transformer_diffusion_forward(c, m, sample, steps, cond);
    if (!y) return -1;
    if (!train) return 0;
    nn_tensor *loss = nn_mse_loss(c, y, sample);
    nn_params_zero_grad(ps);
    return loss ? nn_backward(c, loss) : -1;
}

static int bench(const char *name, nn_ctx *c, const mod_transformer_diffusion *m, nn_params *ps, int batch, int train,
                 int repeat)
{
    rng_t rng;
    rng_seed(&rng, 1);
    nn_ctx_set_train(c, train);
    nn_ctx_set_record(c, train);
    nn_params_freeze(ps, !train);
    double *t = malloc((size_t)repeat * sizeof *t);
    if (!t) return error_set("out of memory");
    for (int i = 0; i < 3; i++)   /* warm-up: arena pages, packed weights */
        if (run_once(c, m, ps, batch, train, &rng) < 0) { free(t); return -1; }
    for (int i = 0; i < repeat; i++) {
        double t0 = now();
        if (run_once(c, m, ps, batch, train, &rng) < 0) { free(t); return -1; }
        t[i] = now() - t0;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    printf("%s\t%.3f\t%.3f\n", name, 1e3 * t[repeat / 2], 1e3 * t[0]);
    free(t);
    nn_params_freeze(ps, 0);
    return 0;
}

int main(int argc, char **argv)
{
    long threads = 1, repeat = 200, action_dim = 10, obs_dim = 137;
    static const struct option opts[] = {
        {"threads", required_argument, 0, 't'}, {"repeat", required_argument, 0, 'r'},
        {"action-dim", required_argument, 0, 'a'}, {"obs-dim", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long *dst = o == 't' ? &threads : o == 'r' ? &repeat : o == 'a' ? &action_dim : o == 'o' ? &obs_dim : NULL;
        if (!dst || parse_long(optarg, 1, 1000000, dst) < 0) {
            fprintf(stderr, "usage: dp_transformer [--threads N] [--repeat R] [--action-dim A] [--obs-dim D]\n");
            return 2;
        }
    }
    nn_set_threads((int)threads);
    nn_params *ps = nn_params_new();
    nn_ctx *c = nn_ctx_new((size_t)512 << 20);
    rng_t rng;
    rng_seed(&rng, 42);
    rng_t dropout_rng;
    rng_seed(&dropout_rng, 7);
    if (c) nn_ctx_set_rng(c, &dropout_rng);
    mod_transformer_diffusion m;
    mod_transformer_diffusion_config cfg = mod_transformer_diffusion_defaults((int)action_dim, (int)obs_dim, 10, 2);
    if (!ps || !c || mod_transformer_diffusion_init(&m, ps, &rng, "model.", &cfg) < 0 ||
        bench("infer_b1", c, &m, ps, 1, 0, (int)repeat) < 0 ||
        bench("train_b64", c, &m, ps, 64, 1, repeat / 20 > 3 ? (int)repeat / 20 : 3) < 0) {
        fprintf(stderr, "dp_transformer: %s\n", error_get());
        return 1;
    }
    nn_ctx_free(c);
    nn_params_free(ps);
    return 0;
}
