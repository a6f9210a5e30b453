/* nn_conv.c — conv2d kernel benchmark on ResNet18's convolution shapes (batch 8, 3x84x84
 * input): forward (inference, no tape) and forward+backward (dx and dW), GFLOP/s, and the sgemm
 * rate of the same matrix product for comparison. Prints a table; medians of R runs.
 *
 *   nn_conv [--threads N] [--repeat R] [--batch B] [--size S] [--min] [--only LAYER-SUBSTRING]
 */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"
#include "util/error.h"

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

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int use_min;   /* --min: report the fastest run (A/B comparisons on a busy machine) */

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    if (use_min) return t[0];
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct { const char *name; int C, O, k, s, p, H, count; } conv_shape;

int main(int argc, char **argv)
{
    int threads = 2, repeat = 7, B = 8, S = 84;
    static const struct option opts[] = { { "threads", 1, 0, 't' }, { "repeat", 1, 0, 'r' }, { "batch", 1, 0, 'b' },
                                          { "size", 1, 0, 's' }, { "min", 0, 0, 'm' },
                                          { "only", 1, 0, 'o' }, { 0, 0, 0, 0 } };
    const char *only = NULL;
    for (int o; (o = getopt_long(argc, argv, "t:r:b:s:", opts, NULL)) != -1;) {
        if (o == 't') threads = atoi(optarg);
        else if (o == 'r') { repeat = atoi(optarg); if (repeat < 1) repeat = 1; if (repeat > 255) repeat = 255; }
        else if (o == 'b') B = atoi(optarg);
        else if (o == 's') S = atoi(optarg);
        else if (o == 'm') use_min = 1;
        else if (o == 'o') only = optarg;
        else return 2;
    }
    nn_set_threads(threads);
    int h1 = (S + 6 - 7) / 2 + 1, h2 = (h1 + 2 - 3) / 2 + 1, h3 = (h2 + 2 - 3) / 2 + 1, h4 = (h3 + 2 - 3) / 2 + 1,
        h5 = (h4 + 2 - 3) / 2 + 1;
    conv_shape shapes[] = {
        { "conv1 7x7 s2 3->64", 3, 64, 7, 2, 3, S, 1 },
        { "layer1 3x3 64->64", 64, 64, 3, 1, 1, h2, 4 },
        { "layer2.0 3x3 s2 64->128", 64, 128, 3, 2, 1, h2, 1 },
        { "layer2 3x3 128->128", 128, 128, 3, 1, 1, h3, 3 },
        { "layer2 down 1x1 s2", 64, 128, 1, 2, 0, h2, 1 },
        { "layer3.0 3x3 s2 128->256", 128, 256, 3, 2, 1, h3, 1 },
        { "layer3 3x3 256->256", 256, 256, 3, 1, 1, h4, 3 },
        { "layer3 down 1x1 s2", 128, 256, 1, 2, 0, h3, 1 },
        { "layer4.0 3x3 s2 256->512", 256, 512, 3, 2, 1, h4, 1 },
        { "layer4 3x3 512->512", 512, 512, 3, 1, 1, h5, 3 },
        { "layer4 down 1x1 s2", 256, 512, 1, 2, 0, h4, 1 },
    };
    (void)h1;
    rng_t rng;
    rng_seed(&rng, 1);
    nn_ctx *c = nn_ctx_new(256 << 20);
    printf("# conv2d, batch %d, %dx%d input, %d threads, %s of %d runs (ms; GFLOP/s; sgemm = the forward's product alone,\n"
           "# cblas_sgemm on OpenBLAS's own threads; ratio = our forward rate / that sgemm rate)\n",
           B, S, S, threads, use_min ? "fastest" : "median", repeat);
    printf("%-26s %5s %8s %7s %9s %7s %8s %7s %8s\n", "layer", "count", "fwd ms", "GF/s", "fwd+bwd", "GF/s", "sgemm", "ratio",
           "GF/cpu-s");
    double tot_f = 0, tot_fb = 0, tot_flop = 0, res[16][3], tot_cpu = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_shape *sh = &shapes[i];
        if (only && !strstr(sh->name, only)) continue;
        int Ho = (sh->H + 2 * sh->p - sh->k) / sh->s + 1;
        long N = (long)B * Ho * Ho, K = (long)sh->C * sh->k * sh->k;
        double flop = 2.0 * sh->O * K * N;
        nn_params *ps = nn_params_new();
        nn_tensor *w = nn_param(ps, "w", 0, NN_DIMS(sh->O, sh->C, sh->k, sh->k));
        nn_init_normal(w, &rng, 0, 0.05f);
        float *x = malloc((size_t)B * sh->C * sh->H * sh->H * sizeof(float));
        rng_fill_normal(&rng, x, (size_t)B * sh->C * sh->H * sh->H, 0, 1);
        double tf[256], tfb[256], tcpu[256];
        for (int r = 0; r < repeat + 1; r++) {
            nn_ctx_set_record(c, 0);
            double t0 = now();
            nn_tensor *y = nn_conv2d(c, nn_wrap(c, x, NN_DIMS(B, sh->C, sh->H, sh->H)), w, NULL, sh->s, sh->p);
            double t1 = now();
            nn_ctx_reset(c);
            if (!y) { fprintf(stderr, "nn_conv: %s\n", error_get()); return 1; }
            nn_ctx_set_record(c, 1);
            double t2 = now(), c2 = cpu_now();
            nn_tensor *xt = nn_wrap(c, x, NN_DIMS(B, sh->C, sh->H, sh->H));
            xt->requires_grad = 1;
            y = nn_conv2d(c, xt, w, NULL, sh->s, sh->p);
            nn_backward_from(c, y, y->data);     /* any output gradient */
            double t3 = now(), c3 = cpu_now();
            nn_ctx_reset(c);
            if (r > 0) { tf[r - 1] = t1 - t0; tfb[r - 1] = t3 - t2; tcpu[r - 1] = c3 - c2; }
        }
        double mf = median(tf, repeat), mfb = median(tfb, repeat);
        res[i][0] = mf;
        res[i][1] = mfb;
        res[i][2] = median(tcpu, repeat);
        tot_f += sh->count * mf;
        tot_fb += sh->count * mfb;
        tot_cpu += sh->count * res[i][2];
        tot_flop += sh->count * flop;
        free(x);
        nn_params_free(ps);
    }
    /* The sgemm references run after all of ours: OpenBLAS's own workers keep spinning for a
     * while after a threaded call and would steal the cores from the next measurement. */
    openblas_set_num_threads(threads);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_shape *sh = &shapes[i];
        if (only && !strstr(sh->name, only)) continue;
        int Ho = (sh->H + 2 * sh->p - sh->k) / sh->s + 1;
        long N = (long)B * Ho * Ho, K = (long)sh->C * sh->k * sh->k;
        double flop = 2.0 * sh->O * K * N, tg[256];
        float *A = calloc((size_t)(sh->O * K), sizeof(float)), *Bm = calloc((size_t)(K * N), sizeof(float)),
              *Cm = malloc((size_t)sh->O * N * sizeof(float));
        for (int r = 0; r < repeat + 1; r++) {
            double t4 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sh->O, (int)N, (int)K, 1.0f, A, (int)K, Bm, (int)N, 0.0f, Cm, (int)N);
            double t5 = now();
            if (r > 0) tg[r - 1] = t5 - t4;
        }
        free(A); free(Bm); free(Cm);
        double mf = res[i][0], mfb = res[i][1], mg = median(tg, repeat);
        printf("%-26s %5d %8.2f %7.1f %9.2f %7.1f %8.1f %6.0f%% %8.1f\n", sh->name, sh->count, 1e3 * mf, flop / mf * 1e-9,
               1e3 * mfb, 3 * flop / mfb * 1e-9, flop / mg * 1e-9, 100.0 * (flop / mf) / (flop / mg),
               3 * flop / res[i][2] * 1e-9);
    }
    printf("%-26s %5s %8.2f %7.1f %9.2f %7.1f %8s %7s %8.1f\n", "ResNet18 convs total", "", 1e3 * tot_f, tot_flop / tot_f * 1e-9,
           1e3 * tot_fb, 3 * tot_flop / tot_fb * 1e-9, "", "", 3 * tot_flop / tot_cpu * 1e-9);
    printf("# GF/cpu-s: forward+backward GFLOP per CPU-second of the process (per-core efficiency; less\n"
           "# sensitive than wall time to other load on the machine). fwd+bwd counts 3x the forward's FLOP.\n");
    nn_ctx_free(c);
    return 0;
}
