/* kernels.c — the machine's fp32 FMA peak per register width and the engine's matrix product
 * (nn_gemm) on the training shapes of ACT's paper configuration, its ResNet18 im2col
 * convolutions at 84x84 and Diffusion Policy's UNet, as GFLOP/s and as a share of that peak.
 * bench/kernels.sh runs it for each kernel variant and for OpenBLAS, interleaved.
 *
 *   kernels peak [--threads N]
 *       "peak WIDTH THREADS WALL CPU" for 512 (when the CPU has AVX-512F) and 256: twelve
 *       independent FMA chains per thread, the median of 5 runs of about 0.1 s
 *   kernels products [--threads N] [--repeat R]
 *       "NAME|M N K TA TB WALL CPU" per product through nn_gemm on the variant ILT_KERNEL
 *       selects (one warm-up call, the median of R calls; default 5)
 *   kernels tile
 *       "tile NAME KC WALL" for the register tiles of the variant ILT_KERNEL selects (nn_tile_general
 *       and nn_tile_short) on one thread, over a packed A tile and one B panel that stay in L1
 *       (kc 64 and 256): the tile's own rate, with no copies and no cache misses, for the share of
 *       the FMA peak a product on that tile could reach at best (median of 5 runs of about 0.1 s)
 *   kernels packed [--threads N] [--repeat R]
 *       "NAME|M N K WALL CPU" per batch-1 inference product through nn_gemm_packed, the weight
 *       packed once for the variant ILT_KERNEL selects (32-column panels on avx512, 16 on avx2)
 *
 * WALL is GFLOP/s by the wall clock. CPU is GFLOP/s by the CPU time the threads got: the flops
 * over (process CPU time / threads), the rate the code runs at while it has a core, which other
 * processes on a shared machine lower much less than the wall-clock rate (a pool thread waiting
 * for the other spins a little, then sleeps: the figure can only err a little either way). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "nn/gemm_kernel.h"
#include "nn/gemm_packed.h"
#include "nn/kernels.h"
#include "nn/threads.h"
#include "util/error.h"
#include "util/rng.h"

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---------------------------------------------------------------- FMA peak */
#define PEAK_STEPS 40000000L   /* ~70 ms a thread: long enough that two threads overlap by the wall clock */
#define CHAINS(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11)

__attribute__((target("avx512f"), noinline)) static float chains_512(long n)
{
#define D512(r) __m512 a##r = _mm512_set1_ps(1.0f + r);
#define F512(r) a##r = _mm512_fmadd_ps(a##r, x, y);
#define K512(r) __asm__ volatile("" : "+v"(a##r));
#define S512(r) s = _mm512_add_ps(s, a##r);
    CHAINS(D512)
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f), s = _mm512_setzero_ps();
    for (long i = 0; i < n; i++) {
        CHAINS(F512)
        CHAINS(K512)
    }
    CHAINS(S512)
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float chains_256(long n)
{
#define D256(r) __m256 a##r = _mm256_set1_ps(1.0f + r);
#define F256(r) a##r = _mm256_fmadd_ps(a##r, x, y);
#define K256(r) __asm__ volatile("" : "+x"(a##r));
#define S256(r) s = _mm256_add_ps(s, a##r);
    CHAINS(D256)
    __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f), s = _mm256_setzero_ps();
    for (long i = 0; i < n; i++) {
        CHAINS(F256)
        CHAINS(K256)
    }
    CHAINS(S256)
    float t[8];
    _mm256_storeu_ps(t, s);
    return t[0];
}

static double cpu_now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct { int width; float sink; double cpu; } peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    double t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
    j->sink = j->width == 512 ? chains_512(PEAK_STEPS) : chains_256(PEAK_STEPS);
    j->cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0;
    return NULL;
}

/* GFLOP/s of `threads` threads running the chains at once: by the wall clock, and the sum of
 * each thread's flops over its own CPU time */
static void peak_once(int width, int threads, double *wall, double *cpu)
{
    pthread_t tid[64];
    peak_job jobs[64];
    double flop = 2.0 * 12 * (width / 32) * PEAK_STEPS, t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i].width = width;
        pthread_create(&tid[i], NULL, peak_thread, &jobs[i]);
    }
    *cpu = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        *cpu += flop / jobs[i].cpu * 1e-9;
    }
    *wall = flop * threads / (now() - t0) * 1e-9;
}

static int run_peak(int threads)
{
    for (int w = 0; w < 2; w++) {
        int width = w == 0 ? 512 : 256;
        if (width == 512 && !nn_kernel_supported(NN_KERNEL_AVX512)) continue;
        if (width == 256 && !nn_kernel_supported(NN_KERNEL_AVX2)) continue;
        double wall[5], cpu[5];
        for (int r = 0; r < 5; r++) peak_once(width, threads, &wall[r], &cpu[r]);
        printf("peak %d %d %.1f %.1f\n", width, threads, median(wall, 5), median(cpu, 5));
    }
    return 0;
}

/* ---------------------------------------------------------------- products */
typedef struct { const char *name; int M, N, K, ta, tb; } product;

/* ACT paper configuration (hidden 512, ff 3200, batch 8, chunk 100: 800 decoder rows); a
 * linear [out, in] on R rows: forward x W^T (R, out, in, 0, 1), dX = dY W (R, in, out, 0, 0),
 * dW = dY^T X (out, in, R, 1, 0). ResNet18 at 84x84, batch 8: conv as W [O, C*k*k] times
 * im2col [C*k*k, 8*P]: forward (O, 8P, Ckk, 0, 0), dW (O, Ckk, 8P, 0, 1), dcols (Ckk, 8P, O, 1, 0).
 * Diffusion Policy's UNet1D (batch 64, kernel 5): conv1d the same way. */
static const product products[] = {
    { "act ff1 forward", 800, 3200, 512, 0, 1 },    { "act ff1 dX", 800, 512, 3200, 0, 0 },
    { "act ff1 dW", 3200, 512, 800, 1, 0 },         { "act ff2 forward", 800, 512, 3200, 0, 1 },
    { "act ff2 dX", 800, 3200, 512, 0, 0 },         { "act ff2 dW", 512, 3200, 800, 1, 0 },
    { "act proj forward", 800, 512, 512, 0, 1 },    { "act proj dX", 800, 512, 512, 0, 0 },
    { "act proj dW", 512, 512, 800, 1, 0 },         { "act infer ff1", 100, 3200, 512, 0, 1 },
    { "r18 conv1 forward", 64, 14112, 147, 0, 0 },  { "r18 conv1 dW", 64, 147, 14112, 0, 1 },
    { "r18 layer1 forward", 64, 3528, 576, 0, 0 },  { "r18 layer1 dW", 64, 576, 3528, 0, 1 },
    { "r18 layer1 dcols", 576, 3528, 64, 1, 0 },    { "r18 layer2 forward", 128, 968, 1152, 0, 0 },
    { "r18 layer2 dW", 128, 1152, 968, 0, 1 },      { "r18 layer2 dcols", 1152, 968, 128, 1, 0 },
    { "r18 layer3 forward", 256, 288, 2304, 0, 0 }, { "r18 layer3 dW", 256, 2304, 288, 0, 1 },
    { "r18 layer4 forward", 512, 72, 4608, 0, 0 },  { "r18 layer4 dW", 512, 4608, 72, 0, 1 },
    { "r18 layer4 dcols", 4608, 72, 512, 1, 0 },    { "unet 512->1024 forward", 1024, 512, 2560, 0, 0 },
    { "unet 512->1024 dW", 1024, 2560, 512, 0, 1 }, { "unet 1024->1024 dcols", 5120, 512, 1024, 1, 0 },
};

static int run_products(int repeat, int threads)
{
    long most = 0;
    for (size_t p = 0; p < sizeof products / sizeof products[0]; p++) {
        const product *q = &products[p];
        long a = (long)q->M * q->K, b = (long)q->K * q->N, c = (long)q->M * q->N;
        if (a > most) most = a;
        if (b > most) most = b;
        if (c > most) most = c;
    }
    float *A = malloc((size_t)most * sizeof *A), *B = malloc((size_t)most * sizeof *B), *C = malloc((size_t)most * sizeof *C);
    if (!A || !B || !C) {
        fprintf(stderr, "kernels: out of memory\n");
        return 1;
    }
    rng_t rng;
    rng_seed(&rng, 1);
    rng_fill_uniform(&rng, A, (size_t)most, -1, 1);
    rng_fill_uniform(&rng, B, (size_t)most, -1, 1);
    memset(C, 0, (size_t)most * sizeof *C);
    double *t = malloc((size_t)repeat * sizeof *t), *c = malloc((size_t)repeat * sizeof *c);
    for (size_t p = 0; p < sizeof products / sizeof products[0]; p++) {
        const product *q = &products[p];
        int lda = q->ta ? q->M : q->K, ldb = q->tb ? q->K : q->N;
        nn_gemm(q->ta, q->tb, q->M, q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f, C, q->N);
        for (int r = 0; r < repeat; r++) {
            double t0 = now(), c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
            nn_gemm(q->ta, q->tb, q->M, q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f, C, q->N);
            t[r] = now() - t0;
            c[r] = (cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0) / threads;
        }
        double flop = 2.0 * q->M * q->N * q->K;
        printf("%s|%d %d %d %d %d %.1f %.1f\n", q->name, q->M, q->N, q->K, q->ta, q->tb, flop / median(t, repeat) * 1e-9,
               flop / median(c, repeat) * 1e-9);
    }
    free(t);
    free(c);
    free(A); free(B); free(C);
    return 0;
}

/* ---------------------------------------------------------------- packed products */
/* Batch-1 inference against frozen weights (gemm_packed.c): C [M, N] = A [M, K] W^T with W
 * [N, K] packed once. ACT (chunk 100: 100 decoder rows; cpu default hidden 256, ff 1024; paper
 * hidden 512, ff 3200), ResNet18's layer3/4 3x3 convolutions at 120x160 as im2col products (A
 * read as [K, positions]), Diffusion Policy's UNet at horizon 16 (kernel-5 conv1d, 16 and 4
 * positions). */
typedef struct { const char *name; int M, N, K, cols, copies; } packed_product;

static const packed_product packed_products[] = {
    { "act-cpu ff1", 100, 1024, 256, 0, 1 },      { "act-cpu ff2", 100, 256, 1024, 0, 1 },
    { "act-cpu proj", 100, 256, 256, 0, 1 },      { "act-paper ff1", 100, 3200, 512, 0, 1 },
    { "act-paper ff2", 100, 512, 3200, 0, 1 },    { "act-paper proj", 100, 512, 512, 0, 1 },
    { "r18 layer3 120x160", 80, 256, 2304, 1, 1 }, { "r18 layer4 120x160", 20, 512, 4608, 1, 1 },
    { "unet 256->512 h16", 16, 512, 1280, 1, 1 }, { "unet 1024 h4", 4, 1024, 5120, 1, 1 },
    /* 13 copies of that weight (273 MB) cycled: each read from memory, not the cache, as a
     * whole UNet's 267 MB are at each denoising step */
    { "unet 1024 h4 x13 from memory", 4, 1024, 5120, 1, 13 },
};

static int run_packed(int repeat, int threads)
{
    double *t = malloc((size_t)repeat * sizeof *t), *c = malloc((size_t)repeat * sizeof *c);
    rng_t rng;
    rng_seed(&rng, 1);
    for (size_t p = 0; p < sizeof packed_products / sizeof packed_products[0]; p++) {
        const packed_product *q = &packed_products[p];
        float *A = malloc(sizeof(float) * (size_t)q->M * q->K), *W = malloc(sizeof(float) * (size_t)q->N * q->K);
        float *C = malloc(sizeof(float) * (size_t)q->M * q->N);
        if (!A || !W || !C || !t || !c) {
            fprintf(stderr, "kernels: out of memory\n");
            return 1;
        }
        rng_fill_uniform(&rng, A, (size_t)q->M * q->K, -1, 1);
        rng_fill_uniform(&rng, W, (size_t)q->N * q->K, -1, 1);
        const int copies = q->copies > 1 ? q->copies : 1;
        nn_packed *P[16] = { 0 };
        for (int k = 0; k < copies; k++)
            if (!(P[k] = nn_pack_weights(W, q->N, q->K))) {
                fprintf(stderr, "kernels: %s\n", error_get());
                return 1;
            }
        long ars = q->cols ? 1 : q->K, aks = q->cols ? q->M : 1;
        for (int k = 0; k < copies; k++) nn_gemm_packed(q->M, 0, q->N, A, ars, aks, P[k], NULL, C, q->N, 0);
        for (int r = 0; r < repeat; r++) {
            double t0 = now(), c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
            for (int k = 0; k < copies; k++) nn_gemm_packed(q->M, 0, q->N, A, ars, aks, P[k], NULL, C, q->N, 0);
            t[r] = now() - t0;
            c[r] = (cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0) / threads;
        }
        double flop = 2.0 * q->M * q->N * q->K * copies;
        printf("%s|%d %d %d %.1f %.1f\n", q->name, q->M, q->N, q->K, flop / median(t, repeat) * 1e-9,
               flop / median(c, repeat) * 1e-9);
        for (int k = 0; k < copies; k++) nn_packed_free(P[k]);
        free(A); free(W); free(C);
    }
    free(t);
    free(c);
    return 0;
}

/* ---------------------------------------------------------------- one register tile */
static double tile_once(const nn_tile_kernel *T, int kc, const float *a, const float *b, float *c)
{
    long calls = (long)(2e7 / ((double)T->mr * T->nr * kc)) + 1;
    double t0 = now();
    for (long i = 0; i < calls; i++) T->tile(T->mr, kc, a, b, c, T->nr, T->nr, 1, 1.0f, NULL, NULL, 0);
    return 2.0 * T->mr * T->nr * kc * calls / (now() - t0) / 1e9;
}

static int run_tile(void)
{
    const nn_tile_kernel *T0 = nn_tile_general(nn_kernel()), *tiles[2] = { T0, nn_tile_short(T0) };
    const int kcs[2] = { 64, 256 }, kmax = 256;
    float *a = aligned_alloc(64, sizeof(float) * T0->mr * kmax), *b = aligned_alloc(64, sizeof(float) * T0->nr * kmax),
          *c = calloc((size_t)T0->mr * T0->nr, sizeof(float));
    if (!a || !b || !c) return 1;
    for (int i = 0; i < T0->mr * kmax; i++) a[i] = 1e-3f * (float)(i % 7);
    for (int i = 0; i < T0->nr * kmax; i++) b[i] = 1e-3f * (float)(i % 5);
    for (int t = 0; t < 2 && (t == 0 || tiles[1] != T0); t++)   /* the short tile is T0 itself on 6 rows */
        for (int k = 0; k < 2; k++) {
            double g[5];
            for (int r = 0; r < 5; r++) g[r] = tile_once(tiles[t], kcs[k], a, b, c);
            printf("tile %dx%d %d %.1f\n", tiles[t]->mr, tiles[t]->nr, kcs[k], median(g, 5));
        }
    free(a); free(b); free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "peak") && strcmp(argv[1], "products") && strcmp(argv[1], "packed") &&
                      strcmp(argv[1], "tile"))) {
        fprintf(stderr, "usage: kernels peak|products|packed|tile [--threads N] [--repeat R]\n");
        return 2;
    }
    int threads = 1, repeat = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "kernels: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || repeat < 1 || repeat > 1000) {
        fprintf(stderr, "kernels: --threads 1..64, --repeat 1..1000\n");
        return 2;
    }
    nn_set_threads(threads);
    return !strcmp(argv[1], "peak")       ? run_peak(threads)
           : !strcmp(argv[1], "tile")   ? run_tile()
           : !strcmp(argv[1], "packed") ? run_packed(repeat, threads)
                                        : run_products(repeat, threads);
}
