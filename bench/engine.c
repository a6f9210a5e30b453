/* engine.c — benchmark of the nn engine's training blocks (forward + backward): ResNet18 at
 * 84x84 (batch 8, FrozenBatchNorm as ACT, and GroupNorm as Diffusion Policy), a DETR/ACT
 * transformer encoder and decoder layer (batch 8, hidden 512, ff 3200, 8 heads, 11 encoder
 * tokens, 100 queries), Diffusion Policy conditional residual 1-D blocks and the whole
 * ConditionalUnet1D (batch 64, horizon 16, 256/512/1024), and the two-thread
 * sgemm rate for reference. Prints "name<TAB>median seconds<TAB>GFLOP<TAB>median CPU seconds (all
 * threads)" per workload, the format
 * bench/engine_torch.py prints for PyTorch; bench/engine.sh joins the two into a table.
 *
 *   engine [--threads N] [--repeat R] [--only NAME]
 */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/modules.h"
#include "util/error.h"
#include "util/parse.h"

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }
/* CPU time of the whole process (all threads): robust against other jobs on the machine */
static double cpu_now(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* ---------------------------------------------------------------- workloads */
typedef struct workload {
    const char *name;
    nn_params *ps;
    nn_ctx *c;
    double gflop;                                  /* forward + backward (forward for inference) */
    int inference;                                 /* forward only, no tape, eval mode */
    nn_tensor *(*forward)(struct workload *w);     /* builds the output in w->c */
    void *module;
    float *input, *input2;
    int shape[4], shape2[4], ndim, ndim2;
    const unsigned char *mask;
    float *out_grad;
} workload;

/* conv FLOPs: forward, weight gradient and input gradient (not for the network's first layer) */
static int flop_passes = 3;   /* 1: forward only */
static double conv_flops(long batch, long cout, long ho, long wo, long cin, long k2, int first)
{
    double f = 2.0 * batch * cout * ho * wo * cin * k2;
    return flop_passes == 1 ? f : first ? 2 * f : 3 * f;
}

/* frozen_stem: conv1 and layer1 frozen as DETR/ACT train the backbone (forward only there, and
 * no input gradient into layer2) */
static int frozen_stem;
static double resnet18_gflop(int batch, int h, int w)
{
    double total = 0;
    int H = (h + 6 - 7) / 2 + 1, W = (w + 6 - 7) / 2 + 1;
    int saved = flop_passes;
    if (frozen_stem) flop_passes = 1;
    total += conv_flops(batch, 64, H, W, 3, 49, 1);
    H = (H + 2 - 3) / 2 + 1;
    W = (W + 2 - 3) / 2 + 1;
    int in = 64;
    static const int widths[4] = {64, 128, 256, 512};
    for (int l = 0; l < 4; l++)
        for (int b = 0; b < 2; b++) {
            int stride = l > 0 && b == 0 ? 2 : 1, out = widths[l];
            int Ho = (H + 2 - 3) / stride + 1, Wo = (W + 2 - 3) / stride + 1;
            if (frozen_stem) flop_passes = l == 0 ? 1 : saved;
            int first = frozen_stem && l == 1 && b == 0;   /* its input needs no gradient */
            total += conv_flops(batch, out, Ho, Wo, in, 9, first) + conv_flops(batch, out, Ho, Wo, out, 9, 0);
            if (stride != 1 || in != out) total += conv_flops(batch, out, Ho, Wo, in, 1, first);
            H = Ho;
            W = Wo;
            in = out;
        }
    flop_passes = saved;
    return total / 1e9;
}

/* per attention block: projections (q,k,v,out) and the two attention products, x3 for backward */
static double attention_flops(long batch, long lq, long lk, long e)
{
    return 3.0 * (2.0 * batch * (2 * lq * e * e + 2 * lk * e * e) + 2.0 * 2 * batch * lq * lk * e);
}

static double ffn_flops(long tokens, long e, long f)
{
    return 3.0 * 2.0 * tokens * 2 * e * f;
}

static nn_tensor *fw_resnet(workload *w)
{
    nn_tensor *x = nn_wrap(w->c, w->input, w->ndim, w->shape);
    return mod_resnet18_forward(w->c, w->module, x);
}

static nn_tensor *fw_encoder(workload *w)
{
    nn_tensor *x = nn_wrap(w->c, w->input, w->ndim, w->shape);
    nn_tensor *pos = nn_wrap(w->c, w->input2, w->ndim2, w->shape2);
    x->requires_grad = 1;
    return mod_encoder_layer_forward(w->c, w->module, x, pos, w->mask);
}

typedef struct decoder_inputs {
    mod_decoder_layer layer;
    float *memory, *query_pos;
    int memory_shape[3], query_shape[3];
} decoder_inputs;

static nn_tensor *fw_decoder(workload *w)
{
    decoder_inputs *d = w->module;
    nn_tensor *tgt = nn_wrap(w->c, w->input, w->ndim, w->shape);
    nn_tensor *memory = nn_wrap(w->c, d->memory, 3, d->memory_shape);
    nn_tensor *pos = nn_wrap(w->c, w->input2, w->ndim2, w->shape2);
    nn_tensor *query_pos = nn_wrap(w->c, d->query_pos, 3, d->query_shape);
    memory->requires_grad = 1;
    tgt->requires_grad = 1;
    return mod_decoder_layer_forward(w->c, &d->layer, tgt, memory, pos, query_pos, w->mask);
}

static nn_tensor *fw_unet_block(workload *w)
{
    nn_tensor *x = nn_wrap(w->c, w->input, w->ndim, w->shape);
    nn_tensor *cond = nn_wrap(w->c, w->input2, w->ndim2, w->shape2);
    x->requires_grad = 1;
    cond->requires_grad = 1;
    return mod_cond_res_block1d_forward(w->c, w->module, x, cond);
}

typedef struct unet_inputs {
    mod_cond_unet1d net;
    float timesteps[64];
} unet_inputs;

static nn_tensor *fw_unet(workload *w)
{
    unet_inputs *u = w->module;
    nn_tensor *sample = nn_wrap(w->c, w->input, w->ndim, w->shape);
    nn_tensor *cond = nn_wrap(w->c, w->input2, w->ndim2, w->shape2);
    return mod_cond_unet1d_forward(w->c, &u->net, sample, u->timesteps, cond);
}

/* forward + backward FLOPs of one conditional residual block at length L */
static double res_block_flops(double B, double in, double out, double L, double k, double cond)
{
    return 3 * 2 * B * L * (in * out * k + out * out * k) + (in != out ? 3 * 2 * B * L * in * out : 0) +
           3 * 2 * B * cond * 2 * out;
}

static double unet_gflop(int B, int T, int input_dim, int cond, const int *down, int n, int k)
{
    int dims[5] = {input_dim};
    for (int i = 0; i < n; i++) dims[i + 1] = down[i];
    double f = 0, L = T;
    for (int i = 0; i < n; i++) {
        f += res_block_flops(B, dims[i], dims[i + 1], L, k, cond) + res_block_flops(B, dims[i + 1], dims[i + 1], L, k, cond);
        if (i + 1 < n) {
            f += 3 * 2.0 * B * (L / 2) * dims[i + 1] * dims[i + 1] * 3;
            L /= 2;
        }
    }
    f += 2 * res_block_flops(B, dims[n], dims[n], L, k, cond);
    for (int u = 0; u + 1 < n; u++) {
        double in = dims[n - u], out = dims[n - 1 - u];
        f += res_block_flops(B, 2 * in, out, L, k, cond) + res_block_flops(B, out, out, L, k, cond);
        f += 3 * 2.0 * B * L * out * out * 4;
        L *= 2;
    }
    f += 3 * 2.0 * B * T * dims[1] * dims[1] * k + 3 * 2.0 * B * T * dims[1] * input_dim;
    return f / 1e9;
}

static float *random_floats(rng_t *rng, long n)
{
    float *p = malloc((size_t)n * sizeof(float));
    if (p) rng_fill_normal(rng, p, (size_t)n, 0, 1);
    return p;
}

/* Time forward + backward; returns the median wall seconds (and CPU seconds) or -1. */
static double run(workload *w, int repeat, double *cpu)
{
    double times[64], cpus[64];
    if (repeat > 64) repeat = 64;
    nn_ctx_set_train(w->c, !w->inference);
    nn_ctx_set_record(w->c, !w->inference);
    nn_params_freeze(w->ps, w->inference);   /* inference as rollout runs it: weights packed once */
    for (int r = -1; r < repeat; r++) {   /* r = -1 warms up (arena growth, page faults) */
        double t0 = now(), c0 = cpu_now();
        if (!w->inference) nn_params_zero_grad(w->ps);
        nn_tensor *y = w->forward(w);
        if (!y) return -1;
        if (w->inference) {
            nn_ctx_reset(w->c);
            if (r >= 0) {
                times[r] = now() - t0;
                cpus[r] = cpu_now() - c0;
            }
            continue;
        }
        if (!w->out_grad) {
            rng_t rng;
            rng_seed(&rng, 5);
            w->out_grad = random_floats(&rng, y->size);
        }
        if (nn_backward_from(w->c, y, w->out_grad) < 0) return -1;
        nn_ctx_reset(w->c);
        if (r >= 0) {
            times[r] = now() - t0;
            cpus[r] = cpu_now() - c0;
        }
    }
    *cpu = median(cpus, repeat);
    return median(times, repeat);
}

static double sgemm_gflops(int m, int n, int k, int repeat)
{
    rng_t rng;
    rng_seed(&rng, 3);
    float *a = random_floats(&rng, (long)m * k), *b = random_floats(&rng, (long)k * n), *c = calloc((size_t)m * n, sizeof(float));
    double times[64];
    if (repeat > 64) repeat = 64;
    for (int r = -1; r < repeat; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        if (r >= 0) times[r] = now() - t0;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * k / median(times, repeat) / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: engine [--threads N] [--repeat R] [--only NAME]\n");
}

int main(int argc, char **argv)
{
    long threads = 2, repeat = 5;
    const char *only = NULL;
    static const struct option options[] = {{"threads", required_argument, 0, 't'},
                                            {"repeat", required_argument, 0, 'r'},
                                            {"only", required_argument, 0, 'o'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    tool_init("engine");
    for (int o; (o = getopt_long(argc, argv, "t:r:o:h", options, NULL)) != -1;) {
        switch (o) {
        case 't': if (parse_long(optarg, 1, 64, &threads) < 0) tool_usage_error("bad --threads %s", optarg); break;
        case 'r': if (parse_long(optarg, 1, 64, &repeat) < 0) tool_usage_error("bad --repeat %s", optarg); break;
        case 'o': only = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    nn_set_threads((int)threads);
    rng_t rng;
    rng_seed(&rng, 1);

    const int B = 8, E = 512, FF = 3200, HEADS = 8, S = 11, Q = 100;
    workload ws[14];
    int n = 0;

    /* ResNet18, FrozenBatchNorm (ACT) and GroupNorm (Diffusion Policy) */
    static mod_resnet18 r_frozen, r_group;
    const mod_norm_kind kinds[2] = {MOD_NORM_FROZEN_BATCH, MOD_NORM_GROUP};
    mod_resnet18 *nets[2] = {&r_frozen, &r_group};
    const char *names[2] = {"resnet18_frozenbn_b8_84x84", "resnet18_groupnorm_b8_84x84"};
    for (int i = 0; i < 2; i++) {
        workload *w = &ws[n++];
        memset(w, 0, sizeof *w);
        w->name = names[i];
        w->ps = nn_params_new();
        if (mod_resnet18_init(nets[i], w->ps, &rng, "", kinds[i]) < 0) tool_die(1, "%s", error_get());
        w->module = nets[i];
        w->ndim = 4;
        memcpy(w->shape, (int[]){B, 3, 84, 84}, sizeof(int) * 4);
        w->input = random_floats(&rng, (long)B * 3 * 84 * 84);
        w->forward = fw_resnet;
        w->gflop = resnet18_gflop(B, 84, 84);
    }

    /* ACT's backbone as trained: FrozenBatchNorm, conv1 and layer1 frozen (DETR's BackboneBase) */
    static mod_resnet18 r_act;
    {
        workload *w = &ws[n++];
        *w = ws[0];
        w->name = "resnet18_act_frozen_stem_b8_84x84";
        w->ps = nn_params_new();
        if (mod_resnet18_init(&r_act, w->ps, &rng, "", MOD_NORM_FROZEN_BATCH) < 0 ||
            nn_param_set_flags(w->ps, "conv1.", NN_FROZEN, 1) < 0 || nn_param_set_flags(w->ps, "layer1.", NN_FROZEN, 1) < 0)
            tool_die(1, "%s", error_get());
        w->module = &r_act;
        frozen_stem = 1;
        w->gflop = resnet18_gflop(B, 84, 84);
        frozen_stem = 0;
    }

    /* transformer layers as ACT (post-norm, ReLU, dropout 0.1 in training: kept 0 for the FLOP
     * comparison to be about the same work; dropout is measured separately by nn-core) */
    mod_transformer_config cfg = {E, HEADS, FF, 0.0f, MOD_ACT_RELU, 0};
    static mod_encoder_layer enc;
    {
        workload *w = &ws[n++];
        memset(w, 0, sizeof *w);
        w->name = "encoder_layer_b8_s11_d512_ff3200";
        w->ps = nn_params_new();
        if (mod_encoder_layer_init(&enc, w->ps, &rng, "", &cfg) < 0) tool_die(1, "%s", error_get());
        w->module = &enc;
        w->ndim = w->ndim2 = 3;
        memcpy(w->shape, (int[]){B, S, E}, sizeof(int) * 3);
        memcpy(w->shape2, (int[]){B, S, E}, sizeof(int) * 3);
        w->input = random_floats(&rng, (long)B * S * E);
        w->input2 = random_floats(&rng, (long)B * S * E);
        w->forward = fw_encoder;
        w->gflop = (attention_flops(B, S, S, E) + ffn_flops((long)B * S, E, FF)) / 1e9;
    }
    static decoder_inputs dec;
    {
        workload *w = &ws[n++];
        memset(w, 0, sizeof *w);
        w->name = "decoder_layer_b8_q100_s11_d512_ff3200";
        w->ps = nn_params_new();
        if (mod_decoder_layer_init(&dec.layer, w->ps, &rng, "", &cfg) < 0) tool_die(1, "%s", error_get());
        w->module = &dec;
        w->ndim = w->ndim2 = 3;
        memcpy(w->shape, (int[]){B, Q, E}, sizeof(int) * 3);
        memcpy(w->shape2, (int[]){B, S, E}, sizeof(int) * 3);
        memcpy(dec.memory_shape, (int[]){B, S, E}, sizeof(int) * 3);
        memcpy(dec.query_shape, (int[]){1, Q, E}, sizeof(int) * 3);
        w->input = random_floats(&rng, (long)B * Q * E);
        w->input2 = random_floats(&rng, (long)B * S * E);
        dec.memory = random_floats(&rng, (long)B * S * E);
        dec.query_pos = random_floats(&rng, (long)Q * E);
        w->forward = fw_decoder;
        w->gflop = (attention_flops(B, Q, Q, E) + attention_flops(B, Q, S, E) + ffn_flops((long)B * Q, E, FF)) / 1e9;
    }

    /* Diffusion Policy UNet blocks (batch 64, horizon 16: 256 channels at length 16, the
     * 1024-channel middle at length 4; condition = 256 step embedding + 2 x 256 observation
     * features, FiLM with scale) */
    static mod_cond_res_block1d unet[2];
    const int chans[2] = {256, 1024}, lens[2] = {16, 4}, ins[2] = {256, 1024};
    const char *unames[2] = {"unet_block_b64_c256_l16", "unet_block_b64_c1024_l4"};
    const int UB = 64, COND = 768;
    for (int i = 0; i < 2; i++) {
        workload *w = &ws[n++];
        memset(w, 0, sizeof *w);
        w->name = unames[i];
        w->ps = nn_params_new();
        if (mod_cond_res_block1d_init(&unet[i], w->ps, &rng, "", ins[i], chans[i], COND, 5, 8, 1) < 0)
            tool_die(1, "%s", error_get());
        w->module = &unet[i];
        w->ndim = 3;
        w->ndim2 = 2;
        memcpy(w->shape, (int[]){UB, ins[i], lens[i]}, sizeof(int) * 3);
        memcpy(w->shape2, (int[]){UB, COND}, sizeof(int) * 2);
        w->input = random_floats(&rng, (long)UB * ins[i] * lens[i]);
        w->input2 = random_floats(&rng, (long)UB * COND);
        w->forward = fw_unet_block;
        long C = chans[i], L = lens[i];
        w->gflop = (2 * 3.0 * 2.0 * UB * C * L * ins[i] * 5 + 3.0 * 2.0 * UB * COND * 2 * C) / 1e9;
    }

    /* the whole Diffusion Policy UNet: 10-D actions, horizon 16, down dims 256/512/1024, kernel 5,
     * 8 groups, step embedding 256, global condition 274 = 2 observation steps x (2 cameras x 64
     * keypoint features + 9 low-dim values), batch 64 */
    static unet_inputs unet_full;
    {
        static const int down[3] = {256, 512, 1024};
        const int T = 16, A = 10, G = 274;
        workload *w = &ws[n++];
        memset(w, 0, sizeof *w);
        w->name = "unet_full_b64_h16_256-512-1024";
        w->ps = nn_params_new();
        if (mod_cond_unet1d_init(&unet_full.net, w->ps, &rng, "", A, G, 256, down, 3, 5, 8, 1) < 0)
            tool_die(1, "%s", error_get());
        for (int i = 0; i < UB; i++) unet_full.timesteps[i] = (float)(i * 37 % 100);
        w->module = &unet_full;
        w->ndim = 3;
        w->ndim2 = 2;
        memcpy(w->shape, (int[]){UB, T, A}, sizeof(int) * 3);
        memcpy(w->shape2, (int[]){UB, G}, sizeof(int) * 2);
        w->input = random_floats(&rng, (long)UB * T * A);
        w->input2 = random_floats(&rng, (long)UB * G);
        w->forward = fw_unet;
        w->gflop = unet_gflop(UB, T, A, 256 + G, down, 3, 5);
    }

    /* batch-1 inference (one control step of a policy): the same modules, forward only */
    {
        workload *w = &ws[n++];
        *w = ws[0];
        w->name = "resnet18_frozenbn_b1_84x84_inference";
        w->shape[0] = 1;
        w->inference = 1;
        w->out_grad = NULL;
        flop_passes = 1;
        w->gflop = resnet18_gflop(1, 84, 84);
        flop_passes = 3;
        workload *u = &ws[n++];
        *u = ws[n - 3];   /* the whole UNet */
        u->name = "unet_full_b1_h16_inference";
        u->shape[0] = u->shape2[0] = 1;
        u->inference = 1;
        u->out_grad = NULL;
        u->gflop = unet_gflop(1, 16, 10, 256 + 274, (const int[]){256, 512, 1024}, 3, 5) / 3;
    }

    for (int i = 0; i < n; i++) {
        workload *w = &ws[i];
        if (only && !strstr(w->name, only)) continue;
        w->c = nn_ctx_new(256 << 20);
        double cpu = 0, t = run(w, (int)repeat, &cpu);
        if (t < 0) tool_die(1, "%s: %s", w->name, error_get());
        printf("%s\t%.6f\t%.4f\t%.6f\n", w->name, t, w->gflop, cpu);
        fflush(stdout);
        nn_ctx_free(w->c);
    }
    if (!only || strstr("sgemm", only)) {
        double g = sgemm_gflops(1024, 1024, 1024, (int)repeat);
        printf("sgemm_1024\t%.6f\t%.4f\t-\n", 2.0 * 1024 * 1024 * 1024 / g / 1e9, 2.0 * 1024 * 1024 * 1024 / 1e9);
    }
    return tool_close_stdout() < 0;
}
