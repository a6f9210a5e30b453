/* gemm.c — the sgemm floor of the transformer decoder-layer benchmark: every matrix product of
 * one forward+backward of the engine.sh decoder layer (batch 8, 100 queries, 11 memory tokens,
 * hidden 512, ff 3200), timed alone through nn_gemm (the engine's split over its threads) and
 * summed. Their sum is the time the layer would take if everything around the products were
 * free; the layer's own time is in engine.sh. Prints one line per product and the total, then
 * the rate of a 2048^3 sgemm on OpenBLAS's own threads (the machine's sgemm rate in this run).
 *
 *   gemm [--threads N] [--repeat R]        (defaults 2 and 7; medians)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "nn/kernels.h"
#include "nn/threads.h"
#include "util/rng.h"

typedef struct { const char *pass; int ta, tb, M, N, K, count; } product;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = 2, repeat = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else { fprintf(stderr, "gemm: unknown option %s\n", argv[i]); return 2; }
    }
    if (repeat < 1 || repeat > 64) repeat = 7;
    nn_set_threads(threads);
    const int T = 800, S = 88, E = 512, F = 3200;   /* query rows, memory rows */
    /* y = x W^T: forward (0,1) M=rows N=out K=in; dx = dy W: (0,0) M=rows N=in K=out;
     * dW = dy^T x: (1,0) M=out N=in K=rows */
    static const char *names[] = { "forward", "dx", "dW" };
    struct { const char *what; int rows, in, out, count; } linears[] = {
        { "self q,k proj", T, E, 2 * E, 1 }, { "self v proj", T, E, E, 1 }, { "self out proj", T, E, E, 1 },
        { "cross q proj", T, E, E, 1 },      { "cross k,v proj", S, E, E, 2 }, { "cross out proj", T, E, E, 1 },
        { "linear1", T, E, F, 1 },           { "linear2", T, F, E, 1 },
    };
    product list[32];
    int n = 0;
    for (size_t i = 0; i < sizeof linears / sizeof linears[0]; i++)
        for (int k = 0; k < 3; k++) {
            int r = linears[i].rows, in = linears[i].in, out = linears[i].out;
            list[n++] = (product){ names[k], k == 2, k == 0, k == 2 ? out : r, k == 0 ? out : in,
                                   k == 0 ? in : k == 1 ? out : r, linears[i].count };
        }
    long max_floats = (long)F * F;
    float *A = malloc(sizeof(float) * (size_t)max_floats), *B = malloc(sizeof(float) * (size_t)max_floats),
          *C = malloc(sizeof(float) * (size_t)max_floats);
    rng_t rng;
    rng_seed(&rng, 1);
    rng_fill_uniform(&rng, A, (size_t)max_floats, -1, 1);
    rng_fill_uniform(&rng, B, (size_t)max_floats, -1, 1);
    memset(C, 0, sizeof(float) * (size_t)max_floats);
    double total = 0, flops = 0;
    printf("# sgemm through nn_gemm, %d threads, median of %d\n", threads, repeat);
    printf("%-16s %-8s %5s %5s %5s %9s %9s\n", "product", "pass", "M", "N", "K", "ms", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        product *p = &list[i];
        int lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
        double t[64];
        for (int r = -1; r < repeat; r++) {
            double t0 = now();
            nn_gemm(p->ta, p->tb, p->M, p->N, p->K, 1.0f, A, lda, B, ldb, p->pass[0] == 'f' ? 0.0f : 1.0f, C, p->N);
            if (r >= 0) t[r] = now() - t0;
        }
        qsort(t, (size_t)repeat, sizeof(double), cmp);
        double med = t[repeat / 2], f = 2.0 * p->M * p->N * p->K;
        total += med * p->count;
        flops += f * p->count;
        printf("%-16s %-8s %5d %5d %5d %9.2f %9.1f\n", linears[i / 3].what, p->pass, p->M, p->N, p->K, 1e3 * med, f / med * 1e-9);
    }
    printf("total_ms %.1f gflop %.2f gflop_per_s %.1f\n", 1e3 * total, flops * 1e-9, flops / total * 1e-9);
    /* The machine's sgemm rate in this run, for the "60% of the two-core sgemm rate":
     * a large square product on OpenBLAS's own threads, as FACTS.md measured it (207 GFLOP/s on
     * 2 free cores); it drifts with the machine's load, so a run compares with its own rate. */
    const int Q = 2048;
    double tq[64];
    openblas_set_num_threads(threads);
    for (int r = -1; r < repeat; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Q, Q, Q, 1.0f, A, Q, B, Q, 0.0f, C, Q);
        if (r >= 0) tq[r] = now() - t0;
    }
    openblas_set_num_threads(1);
    qsort(tq, (size_t)repeat, sizeof(double), cmp);
    printf("square_ms %.1f n %d gflop_per_s %.1f\n", 1e3 * tq[repeat / 2], Q, 2.0 * Q * Q * Q / tq[repeat / 2] * 1e-9);
    free(A);
    free(B);
    free(C);
    return 0;
}
