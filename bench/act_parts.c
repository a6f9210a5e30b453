/* act_parts.c — where an ACT batch-1 inference spends its time: the ResNet18's stem and its
 * eight BasicBlocks one by one, the whole backbone, and the whole inference (the transformer,
 * the projections and the head are the difference). Each repetition times every part in turn on
 * the same image, so the parts see the same minutes of this shared machine; medians and minima
 * over the repetitions. Weights frozen and packed as in rollout and predict.
 *
 *   build/bench/act_parts [--hidden 256 --ff 1024 --enc 2 --dec 4 --chunk 100] [--height 120
 *                         --width 160] [--frozen 0|1] [--threads 2] [--repeat 101]
 *
 * Not part of `make bench` (a diagnosis, not a comparison); build with
 * `make build/bench/act_parts`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "policy/act.h"
#include "act_bench.h"
#include "util/error.h"
#include "util/progress.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { STEM, BLOCK0, BACKBONE = BLOCK0 + 8, WHOLE, N_PARTS };

int main(int argc, char **argv)
{
    act_config cfg;
    act_bench_config(&cfg, 120, 160);
    int threads = 2, repeat = 101;
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i];
        if (i + 1 >= argc) { fprintf(stderr, "act_parts: %s needs a value\n", k); return 2; }
        int v = atoi(argv[i + 1]);
        if (act_bench_model_option(&cfg, k, v)) continue;
        if (!strcmp(k, "--threads")) threads = v;
        else if (!strcmp(k, "--repeat")) repeat = v;
        else { fprintf(stderr, "act_parts: unknown %s\n", k); return 2; }
    }
    if (repeat < 1 || repeat > 100000) { fprintf(stderr, "act_parts: bad --repeat %d\n", repeat); return 2; }
    nn_set_threads(threads);
    rng_t rng;
    rng_seed(&rng, 0);
    act_model m;
    if (act_model_init(&m, &cfg, &rng) < 0) { fprintf(stderr, "act_parts: %s\n", error_get()); return 1; }
    m.rng = &rng;
    nn_params_freeze(m.ps, 1);
    act_batch one;
    act_batch_alloc(&one, &m, 1);
    rng_fill_normal(&rng, one.state, 14, 0, 1);
    rng_fill_normal(&rng, one.images, (size_t)3 * cfg.height * cfg.width, 0, 1);
    nn_ctx *c = nn_ctx_new((size_t)256 << 20);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    double *t = malloc(sizeof(double) * N_PARTS * (repeat + 1));
    const mod_resnet18 *rn = &m.backbone.resnet;
    for (int r = 0; r <= repeat; r++) {   /* the first pass warms up (packing, Winograd weights) */
        double *tr = t + (size_t)N_PARTS * (r ? r - 1 : repeat);
        nn_tensor *x = nn_wrap(c, one.images, NN_DIMS(1, 3, cfg.height, cfg.width));
        double t0 = time_now(), t1;
        nn_tensor *h = mod_resnet18_stem_forward(c, rn, x);
        t1 = time_now(), tr[STEM] = t1 - t0, t0 = t1;
        for (int b = 0; b < 8; b++) {
            h = mod_basic_block_forward(c, &rn->blocks[b], h);
            t1 = time_now(), tr[BLOCK0 + b] = t1 - t0, t0 = t1;
        }
        if (!h || !mod_resnet18_forward(c, rn, x)) { fprintf(stderr, "act_parts: %s\n", error_get()); return 1; }
        t1 = time_now(), tr[BACKBONE] = t1 - t0, t0 = t1;
        if (!act_model_predict(c, &m, &one)) { fprintf(stderr, "act_parts: %s\n", error_get()); return 1; }
        tr[WHOLE] = time_now() - t0;
        nn_ctx_reset(c);
    }
    static const char *names[N_PARTS] = { "stem (conv1 bn1 relu maxpool)", "layer1.0", "layer1.1", "layer2.0",
                                          "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1",
                                          "backbone (ResNet18)", "whole inference" };
    double med[N_PARTS], *v = malloc(sizeof(double) * repeat);
    printf("# ACT inference parts, %dx%d, hidden %d ff %d, %d enc / %d dec layers, chunk %d, %d threads, %d runs\n",
           cfg.height, cfg.width, cfg.hidden_dim, cfg.dim_feedforward, cfg.enc_layers, cfg.dec_layers, cfg.chunk,
           threads, repeat);
    printf("%-30s %10s %10s\n", "part", "median ms", "min ms");
    for (int p = 0; p < N_PARTS; p++) {
        for (int r = 0; r < repeat; r++) v[r] = t[(size_t)N_PARTS * r + p];
        qsort(v, repeat, sizeof *v, cmp_double);
        med[p] = v[repeat / 2];
        printf("%-30s %10.3f %10.3f\n", names[p], 1e3 * med[p], 1e3 * v[0]);
    }
    printf("%-30s %10.3f\n", "rest (medians' difference)", 1e3 * (med[WHOLE] - med[BACKBONE]));
    return 0;
}
