/* act.c — benchmark of the ACT model on the nn engine: median time of a training step (forward,
 * backward, AdamW) at a batch size and of an inference (batch 1, z = 0), random inputs, one
 * camera. Prints "train_step_ms X" and "infer_ms Y" (wall clock), and "train_step_cpu_ms" and
 * "infer_cpu_ms" (the process's CPU time, all threads: on a shared machine, the work done
 * whatever the other processes took). Built and run by bench/act.sh and bench/act_kernels.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"
#include "policy/act.h"
#include "act_bench.h"
#include "util/error.h"
#include "util/progress.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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
    act_config cfg;
    act_bench_config(&cfg, 84, 84);
    int batch = 8, repeat = 5, threads = 2, train = 1, infer = 1, packed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        int v = atoi(argv[i + 1]);
        if (act_bench_model_option(&cfg, k, v)) continue;
        if (!strcmp(k, "--batch")) batch = v;
        else if (!strcmp(k, "--repeat")) repeat = v;
        else if (!strcmp(k, "--threads")) threads = v;
        else if (!strcmp(k, "--train")) train = v;   /* 0: skip the training-step timing (profiling) */
        else if (!strcmp(k, "--infer")) infer = v;   /* 0: skip the inference timing */
        else if (!strcmp(k, "--packed")) packed = v; /* 0: inference through sgemm, not packed weights */
        else { fprintf(stderr, "act bench: unknown %s\n", k); return 2; }
    }
    if (repeat < 1) repeat = 1;
    nn_set_threads(threads);
    rng_t rng;
    rng_seed(&rng, 0);
    act_model m;
    if (act_model_init(&m, &cfg, &rng) < 0) { fprintf(stderr, "%s\n", error_get()); return 1; }
    m.rng = &rng;
    act_batch b, one;
    act_batch_alloc(&b, &m, batch);
    act_batch_alloc(&one, &m, 1);
    rng_fill_normal(&rng, b.state, (size_t)batch * 14, 0, 1);
    rng_fill_normal(&rng, b.images, (size_t)batch * 3 * cfg.height * cfg.width, 0, 1);
    rng_fill_normal(&rng, b.action, (size_t)batch * cfg.chunk * 14, 0, 1);
    memset(b.is_pad, 0, (size_t)batch * cfg.chunk);
    memcpy(one.state, b.state, sizeof(float) * 14);
    memcpy(one.images, b.images, sizeof(float) * 3 * cfg.height * cfg.width);
    nn_ctx *c = nn_ctx_new((size_t)256 << 20);
    nn_ctx_set_rng(c, &rng);
    nn_adamw opt;
    nn_adamw_init(&opt, m.ps, 1e-5f, 1e-4f);
    opt.zero_grad = 1;   /* as act-train: the step zeroes the gradients it reads */
    nn_params_zero_grad(m.ps);
    double *t = malloc(sizeof(double) * (repeat + 1)), *tc = malloc(sizeof(double) * (repeat + 1));
    /* two warm-up runs: the arena grows in the first and its consolidated block is faulted in by
     * the second (about 4 GB of fresh pages in the IBC step at 1024 counter-examples), as in a training run's first steps */
    for (int r = -2; train && r < repeat; r++) {
        double t0 = time_now(), c0 = cpu_now();
        nn_tensor *loss = act_model_loss(c, &m, &b, NULL);
        if (!loss || nn_backward(c, loss) < 0) { fprintf(stderr, "%s\n", error_get()); return 1; }
        nn_adamw_step(&opt, 1.0f);
        nn_ctx_reset(c);
        if (r >= 0) t[r] = time_now() - t0, tc[r] = cpu_now() - c0;
    }
    if (train) printf("train_step_ms %.1f\ntrain_step_cpu_ms %.1f\n", 1e3 * median(t, repeat), 1e3 * median(tc, repeat));
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    nn_params_freeze(m.ps, packed);   /* as rollout and predict: weights packed once */
    int n_inf = infer ? repeat * 4 : 0;
    double *ti = malloc(sizeof(double) * (n_inf + 1)), *tic = malloc(sizeof(double) * (n_inf + 1));
    for (int r = 0; r <= n_inf; r++) {
        double t0 = time_now(), c0 = cpu_now();
        if (!act_model_predict(c, &m, &one)) { fprintf(stderr, "%s\n", error_get()); return 1; }
        nn_ctx_reset(c);
        if (r) ti[r - 1] = time_now() - t0, tic[r - 1] = cpu_now() - c0;
    }
    if (infer) printf("infer_ms %.1f\ninfer_cpu_ms %.1f\n", 1e3 * median(ti, n_inf), 1e3 * median(tic, n_inf));
    return 0;
}
