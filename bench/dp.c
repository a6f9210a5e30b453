/* dp.c — benchmark of the Diffusion Policy model on the nn engine: median time of a training step
 * (loss with keyed per-sample draws, backward, AdamW) at a batch size, and of one batch-1
 * inference (observation encoding plus DDIM and DDPM denoising) as the policy class runs it (weights
 * packed). The model is DP's image configuration for robomimic lift: two 84x84 cameras cropped to
 * 76x76 (hybrid encoder), 9 low-dim values, 7-D actions, To 2, horizon 16. Random inputs.
 * Prints "train_step_ms X", "encode_ms E" (the observation encoder alone, the part of a query
 * paid once whatever the sampler), "ddim<N>_ms Y" and "ddpm<N>_ms Z", then the memory-bandwidth floor of
 * the DDIM call: the bytes of weights one call must read (the encoder's once, the noise-prediction
 * network's once per denoising step) over the read bandwidth measured here with the same threads
 * ("weights_MB", "read_GBps", "ddim<N>_floor_ms"). Then the DDIM call again with the weights
 * packed in binary16 (rollout --weight-precision f16): "ddim<N>_f16_ms", its floor (the products'
 * weights at 2 bytes, the other parameters at 4) and the largest difference of its actions from
 * the single-precision call's on the same noise ("ddim<N>_f16_max_diff", action units).
 * Built and run by bench/dp.sh.
 *
 *   build/bench/dp [--down 256|512] [--batch B] [--repeat R] [--threads T] [--ddim N] [--ddpm N]
 *   (--down 512: down_dims 512,1024,2048 as the paper's image runs; 256: 256,512,1024; --ddim 0 or
 *   --ddpm 0: that sampler is not timed) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm_packed.h"
#include "nn/nn.h"
#include "nn/threads.h"
#include "policy/diffusion.h"
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

typedef struct {
    const float *data;
    double sum[64];    /* one slot per part, so the reads cannot be optimised away */
} read_job;

static void read_part(void *arg, long begin, long end)
{
    read_job *j = arg;
    float acc[16] = {0};
    for (long i = begin * 16; i < end * 16; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += j->data[i + k];
    double s = 0;
    for (int k = 0; k < 16; k++) s += acc[k];
    j->sum[(begin / (end - begin)) & 63] += s;   /* parts are equal and contiguous */
}

/* Read bandwidth in bytes/s: the best of 5 passes over 512 MiB on the engine's threads. */
static double read_bandwidth(void)
{
    const long n = 128L << 20;   /* floats */
    float *data = malloc(sizeof(float) * n);
    if (!data) return 0;
    for (long i = 0; i < n; i++) data[i] = (float)(i & 1023);
    read_job job = {.data = data};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = time_now();
        nn_parallel_for(n / 16, 1 << 16, read_part, &job);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    free(data);
    return (double)n * sizeof(float) / best;
}

/* the median of repeat sampling calls after one warm-up, in ms (t: repeat + 1 slots); -1 on failure */
static double sample_ms(nn_ctx *c, dp_model *m, const dp_batch *one, dp_sampler sampler, int steps, rng_t *rng,
                        float *actions, double *t, int repeat)
{
    for (int r = 0; r <= repeat; r++) {
        double t0 = time_now();
        if (dp_model_sample(c, m, one, sampler, steps, rng, actions) < 0) {
            fprintf(stderr, "%s\n", error_get());
            return -1;
        }
        if (r) t[r - 1] = time_now() - t0;
    }
    return 1e3 * median(t, repeat);
}

int main(int argc, char **argv)
{
    int down = 256, batch = 8, repeat = 3, threads = 2, ddim = 10, ddpm = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        int v = atoi(argv[i + 1]);
        if (!strcmp(k, "--down")) down = v;
        else if (!strcmp(k, "--batch")) batch = v;
        else if (!strcmp(k, "--repeat")) repeat = v;
        else if (!strcmp(k, "--threads")) threads = v;
        else if (!strcmp(k, "--ddim")) ddim = v;
        else if (!strcmp(k, "--ddpm")) ddpm = v;
        else { fprintf(stderr, "dp bench: unknown %s\n", k); return 2; }
    }
    if (repeat < 1) repeat = 1;
    nn_set_threads(threads);
    dp_config cfg;
    dp_config_default(&cfg);
    cfg.n_cameras = 2;
    strcpy(cfg.camera_names[0], "agentview");
    strcpy(cfg.camera_names[1], "robot0_eye_in_hand");
    cfg.n_lowdim = 3;
    static const char *keys[3] = {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos"};
    static const int dims[3] = {3, 4, 2};
    for (int j = 0; j < 3; j++) strcpy(cfg.lowdim_names[j], keys[j]), cfg.lowdim_dims[j] = dims[j];
    cfg.action_dim = 7;
    for (int l = 0; l < 3; l++) cfg.down_dims[l] = down << l;
    rng_t rng;
    rng_seed(&rng, 0);
    dp_model m;
    dp_batch b, one;
    const int nb = batch > 0 ? batch : 1;   /* --batch 0: inference only */
    if (dp_model_init(&m, &cfg, &rng) < 0 || dp_batch_alloc(&b, &m, nb) < 0 || dp_batch_alloc(&one, &m, 1) < 0) {
        fprintf(stderr, "%s\n", error_get());
        return 1;
    }
    const size_t images = (size_t)nb * cfg.n_obs_steps * cfg.n_cameras * cfg.height * cfg.width * 3;
    for (size_t i = 0; i < images; i++) b.images[i] = (uint8_t)rng_below(&rng, 256);
    rng_fill_uniform(&rng, b.lowdim, (size_t)nb * cfg.n_obs_steps * dp_lowdim_total(&cfg), -1, 1);
    rng_fill_uniform(&rng, b.action, (size_t)nb * cfg.horizon * cfg.action_dim, -1, 1);
    memcpy(one.images, b.images, images / nb);
    memcpy(one.lowdim, b.lowdim, sizeof(float) * cfg.n_obs_steps * dp_lowdim_total(&cfg));
    nn_ctx *c = nn_ctx_new((size_t)256 << 20);
    nn_adamw opt;
    nn_adamw_init(&opt, m.ps, 1e-4f, 1e-6f);
    opt.zero_grad = 1;
    nn_params_zero_grad(m.ps);
    double *t = malloc(sizeof(double) * (repeat + 1));
    /* two warm-up runs: the arena grows in the first and its consolidated block is faulted in by
     * the second (about 4 GB of fresh pages in the IBC step at 1024 counter-examples), as in a training run's first steps */
    for (int r = -2; batch > 0 && r < repeat; r++) {
        double t0 = time_now();
        nn_tensor *loss = dp_model_loss(c, &m, &b, 0, r + 2, 0, NULL);
        if (!loss || nn_backward(c, loss) < 0) { fprintf(stderr, "%s\n", error_get()); return 1; }
        nn_adamw_step(&opt, 1.0f);
        nn_ctx_reset(c);
        if (r >= 0) t[r] = time_now() - t0;
    }
    if (batch > 0) printf("train_step_ms %.1f\n", 1e3 * median(t, repeat));
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    nn_params_freeze(m.ps, 1);   /* as the policy class: weights packed once */
    float *actions = malloc(sizeof(float) * cfg.horizon * cfg.action_dim);
    for (int r = 0; r <= repeat; r++) {   /* the observation encoder alone: the part paid once a query */
        double t0 = time_now();
        if (!dp_encode_obs(c, &m, &one, NULL)) {
            fprintf(stderr, "%s\n", error_get());
            return 1;
        }
        nn_ctx_reset(c);
        if (r) t[r - 1] = time_now() - t0;
    }
    printf("encode_ms %.1f\n", 1e3 * median(t, repeat));
    for (int s = 0; s < 2; s++) {
        const dp_sampler sampler = s ? DP_SAMPLER_DDPM : DP_SAMPLER_DDIM;
        const int steps = s ? ddpm : ddim;
        if (steps <= 0) continue;   /* --ddim 0 / --ddpm 0: that sampler is not timed */
        double ms = sample_ms(c, &m, &one, sampler, steps, &rng, actions, t, repeat);
        if (ms < 0) return 1;
        printf("%s%d_ms %.1f\n", s ? "ddpm" : "ddim", steps, ms);
    }
    /* bytes read per DDIM call: [0] single precision, [1] the products' weights (2-D and up) in binary16 */
    double encoder_bytes[2] = { 0, 0 }, net_bytes[2] = { 0, 0 };
    for (int i = 0; i < m.ps->count; i++) {
        const nn_tensor *p = m.ps->list[i].t;
        double n = (double)nn_shape_size(p->ndim, p->shape);
        double *to = !strncmp(p->name, "obs_encoder.", 12) ? encoder_bytes : net_bytes;
        to[0] += 4 * n;
        to[1] += (p->ndim >= 2 ? 2 : 4) * n;
    }
    const double bandwidth = read_bandwidth();
    printf("weights_MB %.1f\n", (encoder_bytes[0] + net_bytes[0]) / 1e6);
    printf("read_GBps %.1f\n", bandwidth / 1e9);
    if (ddim <= 0) return 0;
    printf("ddim%d_floor_ms %.1f\n", ddim,
           bandwidth > 0 ? 1e3 * (encoder_bytes[0] + ddim * net_bytes[0]) / bandwidth : 0);
    /* binary16 weights: the same call, timed, and its actions against single precision's on the same noise */
    float *half_actions = malloc(sizeof(float) * cfg.horizon * cfg.action_dim);
    for (int h = 0; h < 2; h++) {
        nn_params_freeze(m.ps, 0);
        nn_params_freeze(m.ps, h ? NN_PACK_F16 : NN_PACK_F32);
        rng_seed(&rng, 1);
        if (dp_model_sample(c, &m, &one, DP_SAMPLER_DDIM, ddim, &rng, h ? half_actions : actions) < 0) {
            fprintf(stderr, "%s\n", error_get());
            return 1;
        }
    }
    double diff = 0;
    for (int i = 0; i < cfg.horizon * cfg.action_dim; i++)
        if (fabs(half_actions[i] - actions[i]) > diff) diff = fabs(half_actions[i] - actions[i]);
    double ms = sample_ms(c, &m, &one, DP_SAMPLER_DDIM, ddim, &rng, half_actions, t, repeat);
    if (ms < 0) return 1;
    printf("ddim%d_f16_ms %.1f\n", ddim, ms);
    printf("ddim%d_f16_floor_ms %.1f\n", ddim,
           bandwidth > 0 ? 1e3 * (encoder_bytes[1] + ddim * net_bytes[1]) / bandwidth : 0);
    printf("ddim%d_f16_max_diff %.2g\n", ddim, diff);
    return 0;
}
