/* test_nn_gemm.c — the engine's own matrix product (gemm.c) on every kernel variant this CPU
 * runs (gemm_tiles.c: avx512, avx2, portable; and the openblas slices) against a double-precision
 * reference: shapes with every tail (M, N, K not multiples of the tile, one row, one column,
 * K = 1, K across blocks, columns across column blocks), all four transposes, alpha and beta
 * (write, accumulate, scale); 1 and 2 threads bit for bit per variant; the AVX2 and AVX-512
 * tiles bit for bit; B read in place, B copied (nn_gemm_b_in_place forcing each) and B^T copied bit for bit; an operand in runs (nn_gemm_runs,
 * nn_gemm_conv_runs) and its plain copy bit for bit; the packed-weight product on each variant; and the variant ILT_KERNEL
 * forces is the one that runs (the test runs itself with each name, and an unknown one, and
 * reads which variant it reports).
 *
 *   test_nn_gemm              the checks
 *   test_nn_gemm --which      print the variant in effect (nn_kernel_name) and exit */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm_packed.h"
#include "nn/kernels.h"
#include "nn/threads.h"
#include "tap.h"
#include "util/error.h"
#include "util/rng.h"

static rng_t rng;

static float *rand_floats(long n)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (long i = 0; i < n; i++) p[i] = (float)rng_uniform(&rng) * 2.0f - 1.0f;
    return p;
}

typedef struct { int M, N, K; } shape;

/* C = alpha op(A) op(B) + beta C in double, rounded once */
static void reference(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, const float *C0, float *ref, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int c = 0; c < N; c++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[(long)k * lda + i] : A[(long)i * lda + k]) *
                     (tb ? B[(long)c * ldb + k] : B[(long)k * ldb + c]);
            double prior = beta == 0.0f ? 0.0 : (double)beta * C0[(long)i * ldc + c];
            ref[(long)i * ldc + c] = (float)(prior + alpha * s);
        }
}

/* one product on the variant in effect against the reference; pad: extra leading-dimension
 * elements (operands inside larger arrays) */
static void product_case(int variant, shape s, int ta, int tb, float alpha, float beta, int pad)
{
    const int M = s.M, N = s.N, K = s.K;
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    float *A = rand_floats((long)(ta ? K : M) * lda), *B = rand_floats((long)(tb ? N : K) * ldb);
    float *C0 = rand_floats((long)M * ldc), *C = malloc((size_t)M * ldc * sizeof *C), *ref = malloc((size_t)M * ldc * sizeof *ref);
    memcpy(C, C0, (size_t)M * ldc * sizeof *C);
    memcpy(ref, C0, (size_t)M * ldc * sizeof *ref);   /* the padding columns stay as they were */
    reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ref, ldc);
    nn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    char label[160];
    snprintf(label, sizeof label, "%s %dx%dx%d ta=%d tb=%d alpha=%g beta=%g ld+%d", nn_kernel_name(variant), M, N, K,
             ta, tb, alpha, beta, pad);
    tap_close(C, ref, (long)M * ldc, 1e-6 + 2e-7 * K, 1e-5, label);
    free(A); free(B); free(C0); free(C); free(ref);
}

/* 1 and 2 threads give the same bits (the products are large enough to be split) */
static void threads_case(int variant, shape s, int ta, int tb, float beta)
{
    const int M = s.M, N = s.N, K = s.K, lda = ta ? M : K, ldb = tb ? K : N;
    float *A = rand_floats((long)M * K), *B = rand_floats((long)K * N), *C0 = rand_floats((long)M * N);
    float *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2);
    memcpy(C1, C0, (size_t)M * N * sizeof *C1);
    memcpy(C2, C0, (size_t)M * N * sizeof *C2);
    nn_set_threads(1);
    nn_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C1, N);
    nn_set_threads(2);
    nn_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C2, N);
    tap_ok(memcmp(C1, C2, (size_t)M * N * sizeof *C1) == 0, "%s %dx%dx%d ta=%d tb=%d beta=%g: 1 and 2 threads give the same bits",
           nn_kernel_name(variant), M, N, K, ta, tb, beta);
    free(A); free(B); free(C0); free(C1); free(C2);
}

/* The AVX2 and AVX-512 tiles sum each element in the same order with the same FMAs (the same K
 * blocks): the same bits, so training gives the same parameters on either kind of CPU. */
static void same_bits_case(shape s, int ta, int tb)
{
    const int M = s.M, N = s.N, K = s.K, lda = ta ? M : K, ldb = tb ? K : N;
    float *A = rand_floats((long)M * K), *B = rand_floats((long)K * N), *C0 = rand_floats((long)M * N);
    float *C[2];
    for (int i = 0; i < 2; i++) {
        C[i] = malloc((size_t)M * N * sizeof *C[i]);
        memcpy(C[i], C0, (size_t)M * N * sizeof *C[i]);
        nn_kernel_set(i ? NN_KERNEL_AVX512 : NN_KERNEL_AVX2);
        nn_gemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 1.0f, C[i], N);
    }
    tap_ok(memcmp(C[0], C[1], (size_t)M * N * sizeof *C[0]) == 0, "avx2 and avx512 %dx%dx%d ta=%d tb=%d: the same bits", M,
           N, K, ta, tb);
    free(A); free(B); free(C0); free(C[0]); free(C[1]);
}

/* On the tiles, op(B) given as B (the 512-bit ones read its whole panels in place, gemm.c's b_in_place) or
 * as B^T stored (copied into panels): the same bits; threaded, over column blocks and K blocks,
 * with a panel tail, an operand inside a larger array, a row length of 1024 (always copied),
 * and slices over the in-place row limit */
static void layout_bits_case(int variant, shape s, int pad, float beta, const char *how)
{
    const int M = s.M, N = s.N, K = s.K, ldb = N + pad, lda = K + pad;
    float *A = rand_floats((long)M * lda), *B = rand_floats((long)K * ldb), *Bt = malloc((size_t)N * K * sizeof *Bt);
    float *At = malloc((size_t)K * M * sizeof *At), *C0 = rand_floats((long)M * N);
    float *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2), *C3 = malloc((size_t)M * N * sizeof *C3);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < N; c++) Bt[(long)c * K + k] = B[(long)k * ldb + c];
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) At[(long)k * M + i] = A[(long)i * lda + k];
    memcpy(C1, C0, (size_t)M * N * sizeof *C1);
    memcpy(C2, C0, (size_t)M * N * sizeof *C2);
    memcpy(C3, C0, (size_t)M * N * sizeof *C3);
    nn_gemm(0, 0, M, N, K, 1.0f, A, lda, B, ldb, beta, C1, N);
    nn_gemm(0, 1, M, N, K, 1.0f, A, lda, Bt, K, beta, C2, N);
    /* A^T: op(A) copied into tiles; A: its rows read in place where B is copied (gemm.c's a_in_place) */
    nn_gemm(1, 1, M, N, K, 1.0f, At, M, Bt, K, beta, C3, N);
    tap_ok(memcmp(C1, C2, (size_t)M * N * sizeof *C1) == 0, "%s %dx%dx%d ldb %d beta=%g, %s: B and B^T give the same bits",
           nn_kernel_name(variant), M, N, K, ldb, beta, how);
    tap_ok(memcmp(C2, C3, (size_t)M * N * sizeof *C2) == 0, "%s %dx%dx%d lda %d beta=%g, %s: A and A^T give the same bits",
           nn_kernel_name(variant), M, N, K, lda, beta, how);
    free(A); free(At); free(B); free(Bt); free(C0); free(C1); free(C2); free(C3);
}

/* the packed-weight product (its tile and panel layout follow the variant) against a double reference */
/* The stored matrix [rows, cols] in runs of L columns (row i of a run at i * L, run r at r * S,
 * S = rows * L + gap; the gaps hold NaN, so a read outside the runs shows in C), from a plain one */
static float *to_runs(const float *X, int rows, int cols, int L, long S)
{
    long runs = (cols + L - 1) / L;
    float *R = malloc((size_t)(runs * S) * sizeof *R);
    for (long i = 0; i < runs * S; i++) R[i] = NAN;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) R[(long)j / L * S + (long)i * L + j % L] = X[(long)i * cols + j];
    return R;
}

/* nn_gemm_runs with one operand in runs against nn_gemm on the plain copy: which = 0 A (ta 0,
 * runs along k), 1 A^T (ta 1, along m), 2 B^T (tb 1, along k), 3 B (tb 0, along n); bit for bit
 * on a tile variant, to a tolerance on OpenBLAS (one element at a time) */
static void runs_case(int variant, shape s, int which, int L, float beta)
{
    const int M = s.M, N = s.N, K = s.K, ta = which == 1, tb = which == 2;
    const int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    float *A = rand_floats((long)ar * ac), *B = rand_floats((long)br * bc), *C0 = rand_floats((long)M * N);
    float *want = malloc((size_t)M * N * sizeof *want), *got = malloc((size_t)M * N * sizeof *got);
    const int on_a = which < 2, rows = on_a ? ar : br, cols = on_a ? ac : bc;
    const long S = (long)rows * L + 3;
    float *R = to_runs(on_a ? A : B, rows, cols, L, S);
    nn_runs runs = { L, S };
    memcpy(want, C0, (size_t)M * N * sizeof *want);
    memcpy(got, C0, (size_t)M * N * sizeof *got);
    nn_gemm(ta, tb, M, N, K, 1.0f, A, ac, B, bc, beta, want, N);
    if (on_a) nn_gemm_runs(ta, tb, M, N, K, 1.0f, R, L, &runs, B, bc, NULL, beta, got, N);
    else nn_gemm_runs(ta, tb, M, N, K, 1.0f, A, ac, NULL, R, L, &runs, beta, got, N);
    static const char *names[] = { "A", "A^T", "B^T", "B" };
    if (variant != NN_KERNEL_OPENBLAS)
        tap_ok(!memcmp(want, got, (size_t)M * N * sizeof *got), "%s %dx%dx%d %s in runs of %d, beta %g: same bits as plain",
               nn_kernel_name(variant), M, N, K, names[which], L, beta);
    else {
        double worst = 0;
        for (long i = 0; i < (long)M * N; i++) {
            double e = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
            if (!(e <= worst)) worst = e;   /* NaN stays */
        }
        tap_ok(worst < 1e-5, "%s %dx%dx%d %s in runs of %d, beta %g: element by element (worst %.1e)",
               nn_kernel_name(variant), M, N, K, names[which], L, beta, worst);
    }
    free(A), free(B), free(C0), free(want), free(got), free(R);
}

/* A convolution's backward with dy read in runs and with dy gathered: dx, dw, db bit for bit */
static void conv_backward_runs_case(nn_conv_geom g, int O)
{
    g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    const long xs = (long)g.B * g.C * g.H * g.W, ws = (long)O * g.C * g.kh * g.kw, ys = (long)g.B * O * g.Ho * g.Wo;
    float *x = rand_floats(xs), *w = rand_floats(ws), *dy = rand_floats(ys), *work = malloc((size_t)nn_conv2d_work_floats(&g, O) * sizeof(float));
    float *out[2][3];
    for (int pass = 0; pass < 2; pass++) {
        nn_conv_dy_runs_min_p(pass ? 1 : 1L << 40);
        float *dx = calloc((size_t)xs, sizeof *dx), *dw = calloc((size_t)ws, sizeof *dw), *db = calloc((size_t)O, sizeof *db);
        nn_conv2d_backward(&g, O, x, w, dy, dx, 0, dw, db, work);
        out[pass][0] = dx, out[pass][1] = dw, out[pass][2] = db;
    }
    nn_conv_dy_runs_min_p(1);
    tap_ok(!memcmp(out[0][0], out[1][0], (size_t)xs * sizeof(float)) && !memcmp(out[0][1], out[1][1], (size_t)ws * sizeof(float)) &&
               !memcmp(out[0][2], out[1][2], (size_t)O * sizeof(float)),
           "%s: conv backward B%d C%d %dx%d k%dx%d s%d O%d: dy in runs and gathered give the same dx, dw, db bits",
           nn_kernel_name(nn_kernel()), g.B, g.C, g.H, g.W, g.kh, g.kw, g.sh, O);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 3; i++) free(out[pass][i]);
    free(x), free(w), free(dy), free(work);
}

static void packed_case(int variant, int M, int N, int K)
{
    float *W = rand_floats((long)N * K), *A = rand_floats((long)M * K), *bias = rand_floats(N);
    float *C = malloc((size_t)M * N * sizeof *C), *ref = malloc((size_t)M * N * sizeof *ref);
    for (int i = 0; i < M; i++)
        for (int c = 0; c < N; c++) {
            double s = bias[c];
            for (int k = 0; k < K; k++) s += (double)A[(long)i * K + k] * W[(long)c * K + k];
            ref[(long)i * N + c] = (float)s;
        }
    nn_packed *P = nn_pack_weights(W, N, K);
    int rc = P ? nn_gemm_packed(M, 0, N, A, K, 1, P, bias, C, N, 0) : -1;
    char label[96];
    snprintf(label, sizeof label, "%s packed weights %dx%dx%d with bias", nn_kernel_name(variant), M, N, K);
    tap_ok(rc == 0, "%s: accepted", label);
    tap_close(C, ref, (long)M * N, 1e-6 + 2e-7 * K, 1e-5, label);
    nn_packed_free(P);
    free(W); free(A); free(bias); free(C); free(ref);
}

/* nn_gemm_conv (the column matrix packed from x) against nn_im2col + nn_gemm, threaded and
 * serial, written and accumulated: bit for bit (tol 0; also for shapes nn_gemm_conv_suits turns
 * down: it computes them), or, on a tile that cannot pack from x (called although
 * nn_gemm_conv_suits says 0: element by element), within a relative tol */
static void conv_case(nn_conv_geom g, int O, double tol)
{
    g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    const int R = g.C * g.kh * g.kw, Np = g.B * g.Ho * g.Wo;
    float *x = rand_floats((long)g.B * g.C * g.H * g.W), *cols = malloc((size_t)R * Np * sizeof *cols);
    nn_im2col(&g, x, cols);
    for (int tb = 0; tb < 2; tb++) {
        const int M = O, K = tb ? Np : R, N = tb ? R : Np;
        float *A = rand_floats((long)M * K), *C0 = rand_floats((long)M * N);
        float *want = malloc((size_t)M * N * sizeof *want), *got = malloc((size_t)M * N * sizeof *got);
        for (int run = 0; run < 4; run++) {
            int threaded = run & 1;
            float beta = run & 2 ? 1.0f : 0.0f;
            memcpy(want, C0, (size_t)M * N * sizeof *want);
            memcpy(got, C0, (size_t)M * N * sizeof *got);
            if (threaded) nn_gemm(0, tb, M, N, K, 1.0f, A, K, cols, Np, beta, want, N);
            else nn_gemm_serial(0, tb, M, N, K, 1.0f, A, K, cols, Np, beta, want, N);
            if (tb && g.B > 1) {   /* A as a gradient dy [B, M, P] read in runs (tb: K = B*P) */
                const int P = g.Ho * g.Wo;
                float *R = to_runs(A, M, K, P, (long)M * P);
                nn_runs runs = { P, (long)M * P };
                nn_gemm_conv_runs(threaded, tb, M, 1.0f, R, P, &runs, &g, x, beta, got, N);
                free(R);
            } else nn_gemm_conv(threaded, tb, M, 1.0f, A, K, &g, x, beta, got, N);
            char what[160];
            snprintf(what, sizeof what, "%s: conv B%d C%d %dx%d k%dx%d s%d p%d O%d %s %s beta %g",
                     nn_kernel_name(nn_kernel()), g.B, g.C, g.H, g.W, g.kh, g.kw, g.sh, g.ph, O,
                     tb ? "cols^T" : "cols", threaded ? "threaded" : "serial", beta);
            if (tol == 0) {
                tap_ok(!memcmp(want, got, (size_t)M * N * sizeof *got), "%s: same bits as im2col + product", what);
                continue;
            }
            double worst = 0;
            for (long i = 0; i < (long)M * N; i++) {
                double e = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
                if (e > worst) worst = e;
            }
            tap_ok(worst < tol, "%s: element by element (worst relative error %.1e)", what, worst);
        }
        free(A), free(C0), free(want), free(got);
    }
    free(x), free(cols);
}

/* the variant ILT_KERNEL=name should give on this CPU: that one, or the widest the CPU has when
 * it lacks it (or when the name is unknown) */
static int expected_variant(const char *name, int widest)
{
    for (int v = 0; v < NN_KERNEL_COUNT; v++)
        if (!strcmp(name, nn_kernel_name(v)))
            return nn_kernel_supported(v) && (v <= widest || v == NN_KERNEL_OPENBLAS) ? v : widest;
    return widest;
}

/* ILT_KERNEL=name: the test run again under it reports that variant */
static void forced_case(const char *self, const char *name, int widest)
{
    char cmd[4200], got[64] = "";
    snprintf(cmd, sizeof cmd, "ILT_KERNEL=%s '%s' --which 2>/dev/null", name, self);
    FILE *f = popen(cmd, "r");
    if (f) {
        if (!fgets(got, sizeof got, f)) got[0] = 0;
        pclose(f);
    }
    got[strcspn(got, "\n")] = 0;
    const char *want = nn_kernel_name(expected_variant(name, widest));
    tap_ok(!strcmp(got, want), "ILT_KERNEL=%s runs %s (reported: %s)", name, want, got);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--which")) {
        printf("%s\n", nn_kernel_name(nn_kernel()));
        return 0;
    }
    rng_seed(&rng, 19);
    int widest = nn_kernel_supported(NN_KERNEL_AVX512) ? NN_KERNEL_AVX512
                 : nn_kernel_supported(NN_KERNEL_AVX2) ? NN_KERNEL_AVX2 : NN_KERNEL_PORTABLE;
    const char *forced = getenv("ILT_KERNEL");
    int start = nn_kernel();
    if (forced && *forced)
        tap_ok(start == expected_variant(forced, widest), "ILT_KERNEL=%s: the variant in effect is %s", forced,
               nn_kernel_name(start));
    tap_diag("this CPU runs up to %s", nn_kernel_name(widest));
    for (int v = 0; v < NN_KERNEL_COUNT; v++) forced_case(argv[0], nn_kernel_name(v), widest);
    forced_case(argv[0], "avx1024", widest);

    /* M, N, K: tails of every tile (12x32, 6x16), K over two and three blocks (256 deep), columns
     * over several column blocks (512) */
    static const shape shapes[] = { { 1, 1, 1 },     { 1, 37, 5 },     { 13, 1, 17 },   { 7, 33, 1 },
                                    { 12, 32, 256 }, { 25, 70, 300 },  { 37, 129, 40 }, { 100, 65, 513 },
                                    { 150, 47, 90 }, { 5, 2100, 9 },   { 2, 3, 700 } };
    static const float ab[][2] = { { 1.0f, 0.0f }, { 0.5f, 1.0f }, { -1.5f, 0.25f } };
    static const shape split[] = { { 97, 130, 300 }, { 260, 70, 150 }, { 800, 64, 48 }, { 512, 72, 600 } };
    for (int v = 0; v < NN_KERNEL_COUNT; v++) {
        if (!nn_kernel_supported(v)) {
            tap_ok(1, "# skip %s: this CPU lacks it", nn_kernel_name(v));
            continue;
        }
        tap_ok(nn_kernel_set(v) == 0 && nn_kernel() == v, "%s: set and in effect", nn_kernel_name(v));
        nn_set_threads(2);
        int n = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++, n++)
                product_case(v, shapes[s], t >> 1, t & 1, ab[n % 3][0], ab[n % 3][1], n % 2 ? 3 : 0);
        for (size_t s = 0; s < sizeof split / sizeof split[0]; s++)
            for (int t = 0; t < 4; t++) threads_case(v, split[s], t >> 1, t & 1, t == 3 ? 1.0f : 0.0f);
        packed_case(v, 13, 37, 300);
        static const shape layouts[] = { { 88, 3200, 512 }, { 25, 70, 300 }, { 800, 64, 48 }, { 2100, 100, 40 } };
        if (v != NN_KERNEL_OPENBLAS)
            for (int in_place = 1; in_place >= 0; in_place--) {   /* B read in place where the tile can; B copied */
                const char *how = in_place ? "B in place" : "B copied";
                nn_gemm_b_in_place(in_place);
                for (size_t s = 0; s < sizeof layouts / sizeof layouts[0]; s++)
                    layout_bits_case(v, layouts[s], s % 2 ? 3 : 0, s == 1 ? 1.0f : 0.0f, how);
                layout_bits_case(v, (shape){ 40, 1000, 300 }, 24, 0.0f, how);
                nn_gemm_b_in_place(-1);
            }
        /* operands in runs (a convolution's dy [B,O,P] read as [O, B*P]): a weight gradient as
         * C^T (64 x 576, the runs become B^T), in place on the 12- and 6-row tiles, runs shorter
         * than a tile's k loop and not dividing K, a data gradient's B along n */
        static const struct { shape s; int L; } rs[] = { { { 64, 576, 361 * 4 }, 361 }, { { 128, 200, 600 }, 100 },
                                                         { { 5, 70, 333 }, 37 },         { { 25, 33, 300 }, 7 },
                                                         { { 40, 130, 90 }, 9 } };
        for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
            for (int which = 0; which < 4; which++) {
                shape q = rs[i].s;
                if (v == NN_KERNEL_OPENBLAS && (long)q.M * q.N * q.K > 2000000) continue;   /* one element at a time */
                runs_case(v, q, which, rs[i].L, (i + which) % 2 ? 1.0f : 0.0f);
            }
    }
    /* A's copy over 16M floats: rows in blocks (gemm.c's A_COPY_FLOATS), on the widest tile and
     * one thread (two would halve the rows) */
    nn_kernel_set(widest);
    nn_set_threads(1);
    product_case(widest, (shape){ 8200, 3, 2048 }, 1, 1, 1.0f, 0.0f, 0);
    nn_set_threads(2);
    if (nn_kernel_supported(NN_KERNEL_AVX512) && nn_kernel_supported(NN_KERNEL_AVX2))
        for (int t = 0; t < 4; t++) {
            same_bits_case((shape){ 37, 70, 600 }, t >> 1, t & 1);
            same_bits_case((shape){ 260, 45, 130 }, t >> 1, t & 1);
            /* the 12x32 tile computes this one as C^T (gemm.c's swap_pays), the 6x16 as C */
            same_bits_case((shape){ 512, 72, 600 }, t >> 1, t & 1);
        }
    if (nn_kernel_supported(NN_KERNEL_AVX512)) {
        nn_kernel_set(NN_KERNEL_AVX512);
        /* 3x3 with padding, stride 2, conv1's 7x7, no padding, one sample, a 1-D kernel, and
         * shapes over several K and column blocks on two threads */
        static const int geoms[][11] = { { 3, 5, 11, 11, 3, 3, 1, 1, 1, 1, 7 },   { 2, 3, 17, 16, 7, 7, 2, 2, 3, 3, 13 },
                                         { 4, 9, 7, 9, 3, 3, 2, 2, 1, 1, 40 },     { 1, 2, 5, 5, 3, 3, 1, 1, 0, 0, 3 },
                                         { 3, 8, 1, 20, 1, 5, 1, 1, 0, 2, 9 },     { 6, 16, 19, 19, 3, 3, 1, 1, 1, 1, 64 },
                                         { 5, 64, 5, 5, 3, 3, 1, 1, 1, 1, 100 } };
        for (size_t i = 0; i < sizeof geoms / sizeof geoms[0]; i++) {
            const int *q = geoms[i];
            nn_conv_geom g = { q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], 0, 0 };
            conv_case(g, q[10], 0);
        }
        nn_set_threads(1);
        conv_case((nn_conv_geom){ 2, 4, 9, 9, 3, 3, 1, 1, 1, 1, 0, 0 }, 20, 0);
        nn_set_threads(2);
    }
    nn_conv_geom layer3 = { 64, 256, 5, 5, 3, 3, 1, 1, 1, 1, 5, 5 }, act_layer4 = { 8, 512, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3 };
    if (nn_kernel_supported(NN_KERNEL_AVX512)) {
        tap_ok(nn_gemm_conv_suits(0, 256, &layer3), "the product packed from x suits layer3 of a ResNet18 at batch 64, 76x76");
        tap_ok(!nn_gemm_conv_suits(0, 512, &act_layer4), "not layer4 at batch 8, 84x84 (nn_gemm computes it as C^T)");
    }
    for (int v = 0; v < NN_KERNEL_COUNT; v++)
        if (v != NN_KERNEL_AVX512 && nn_kernel_supported(v)) {
            nn_kernel_set(v);
            tap_ok(!nn_gemm_conv_suits(0, 256, &layer3),
                   "%s: the product over a convolution's columns needs the AVX-512 tile", nn_kernel_name(v));
            conv_case((nn_conv_geom){ 2, 4, 9, 9, 3, 3, 2, 2, 1, 1, 0, 0 }, 20, 1e-5);
        }
    /* dy in runs through each path of the convolution backward: a 3x3 stride-1 (weight gradient
     * packed from x, the data gradient as a convolution or by col2im), stride 2, a 1x1, conv1's 7x7
     * (its weight gradient as C^T), on every tile variant */
    static const int bgeoms[][11] = { { 3, 8, 19, 19, 3, 3, 1, 1, 1, 1, 64 }, { 4, 16, 10, 10, 3, 3, 1, 1, 1, 1, 32 },
                                      { 3, 8, 19, 19, 3, 3, 2, 2, 1, 1, 16 }, { 3, 16, 10, 10, 1, 1, 2, 2, 0, 0, 32 },
                                      { 2, 3, 30, 30, 7, 7, 2, 2, 3, 3, 64 } };
    for (int v = 0; v < NN_KERNEL_COUNT; v++)
        if (v != NN_KERNEL_OPENBLAS && nn_kernel_supported(v)) {
            nn_kernel_set(v);
            for (size_t i = 0; i < sizeof bgeoms / sizeof bgeoms[0]; i++) {
                const int *q = bgeoms[i];
                conv_backward_runs_case((nn_conv_geom){ q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], 0, 0 }, q[10]);
            }
        }
    nn_kernel_set(widest);
    /* a variant the CPU lacks is refused */
    for (int v = 0; v < NN_KERNEL_COUNT; v++)
        if (!nn_kernel_supported(v)) tap_ok(nn_kernel_set(v) < 0, "setting %s is refused: %s", nn_kernel_name(v), error_get());
    return tap_done();
}
