/* ibc.c — benchmark of the Implicit BC energy model on the nn engine: median time of one batch-1
 * inference by derivative-free optimisation with the observation features given (N samples x K
 * iterations through the 4 x width MLP, weights packed as the policy class runs them), and of one
 * training step (InfoNCE with keyed counter-examples and dropout masks, backward, AdamW) at a
 * batch size. The model is DP's low-dimensional lift configuration: 19 low-dim values, To 2, Ta 1,
 * 7-D actions. Random inputs. Prints "dfo_ms X gflop G" (G: the products' GFLOP of one inference)
 * and "train_step_ms Y". Built and run by bench/ibc.sh.
 *
 *   build/bench/ibc [--width W] [--samples N] [--iterations K] [--batch B] [--negatives M]
 *                   [--repeat R] [--threads T]      (defaults 1024 1024 5 64 1024 5 2; --batch 0:
 *                                                    inference only) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "policy/ibc.h"
#include "util/error.h"
#include "util/progress.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    int width = 1024, samples = 1024, iterations = 5, batch = 64, negatives = 1024, repeat = 5, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        int v = atoi(argv[i + 1]);
        if (!strcmp(k, "--width")) width = v;
        else if (!strcmp(k, "--samples")) samples = v;
        else if (!strcmp(k, "--iterations")) iterations = v;
        else if (!strcmp(k, "--batch")) batch = v;
        else if (!strcmp(k, "--negatives")) negatives = v;
        else if (!strcmp(k, "--repeat")) repeat = v;
        else if (!strcmp(k, "--threads")) threads = v;
        else { fprintf(stderr, "ibc bench: unknown %s\n", k); return 2; }
    }
    if (repeat < 1) repeat = 1;
    nn_set_threads(threads);
    ibc_config cfg;
    ibc_config_default(&cfg);
    static const char *keys[4] = {"object", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos"};
    static const int dims[4] = {10, 3, 4, 2};
    for (int j = 0; j < 4; j++) dp_config_add_lowdim(&cfg.obs, keys[j], dims[j]);
    cfg.obs.action_dim = 7;
    cfg.width = width;
    rng_t rng;
    rng_seed(&rng, 0);
    ibc_model m;
    dp_batch b;
    if (ibc_model_init(&m, &cfg, &rng) < 0 || (batch > 0 && dp_batch_alloc(&b, &m.obs, batch) < 0)) {
        fprintf(stderr, "%s\n", error_get());
        return 1;
    }
    nn_ctx *c = nn_ctx_new((size_t)256 << 20);
    double *t = malloc(sizeof(double) * (repeat + 1));
    if (batch > 0) {
        rng_fill_uniform(&rng, b.lowdim, (size_t)batch * cfg.obs.n_obs_steps * 19, -1, 1);
        rng_fill_uniform(&rng, b.action, (size_t)batch * m.cfg.obs.horizon * 7, -1, 1);
        nn_adamw opt;
        nn_adamw_init(&opt, m.obs.ps, 1e-4f, 1e-6f);
        opt.zero_grad = 1;
        nn_params_zero_grad(m.obs.ps);
        /* two warm-up runs: the arena grows in the first and its consolidated block is faulted in by
         * the second (about 4 GB of fresh pages in the IBC step at 1024 counter-examples), as in a training run's first steps */
        for (int r = -2; r < repeat; r++) {
            double t0 = time_now();
            nn_tensor *loss = ibc_model_loss(c, &m, &b, negatives, 0, r + 2, 0, NULL);
            if (!loss || nn_backward(c, loss) < 0) { fprintf(stderr, "%s\n", error_get()); return 1; }
            nn_adamw_step(&opt, 1.0f);
            nn_ctx_reset(c);
            if (r >= 0) t[r] = time_now() - t0;
        }
        printf("train_step_ms %.1f\n", 1e3 * median(t, repeat));
    }
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    nn_params_freeze(m.obs.ps, 1);   /* as the policy class: weights packed once */
    float features[38], action[7];
    rng_fill_uniform(&rng, features, 38, -1, 1);
    ibc_inference set;
    ibc_inference_default(&set);
    set.samples = samples;
    set.iterations = iterations;
    for (int r = 0; r <= repeat; r++) {
        double t0 = time_now();
        if (ibc_optimize(c, &m, features, &set, &rng, action) < 0) { fprintf(stderr, "%s\n", error_get()); return 1; }
        if (r) t[r - 1] = time_now() - t0;
    }
    /* per evaluation: the action part of dense0, three width^2 layers, dense4 (the observation part once) */
    const double flops = 2.0 * iterations * samples * ((double)7 * width + 3.0 * width * width + width);
    printf("dfo_ms %.2f gflop %.3f\n", 1e3 * median(t, repeat), flops * 1e-9);
    return 0;
}
