/* test_nn_packed.c — the packed-weight product (gemm_packed.c) on every kernel variant this CPU
 * runs (its 12x32 AVX-512 tile on 32-column panels, the 6x16 AVX2 and plain C ones on 16-column
 * panels) against a double-precision reference over every edge the blocking has (row tails of
 * every tile, M = 1..17, column tails, K across several blocks, rows across several blocks,
 * column ranges, both A layouts, bias, accumulation), its independence of the thread count, the
 * AVX-512 and AVX2 tiles bit for bit, the layout following the variant (ILT_KERNEL, and a
 * frozen weight packed again when the variant changes), the frozen-parameter paths of
 * linear, linear_rows, conv2d and conv1d against the ordinary (sgemm) paths, and weights packed
 * in half precision: the binary16 conversions against F16C's, and every product over a
 * binary16 weight bit for bit the single-precision one over the weight rounded to binary16.
 *
 *   test_nn_packed            the checks
 *   test_nn_packed --panel    print the panel width of a weight packed now and exit */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm_packed.h"
#include "nn/kernels.h"
#include "nn/nn.h"
#include "nn/ops.h"
#include "nn/params.h"
#include "tap.h"
#include "util/error.h"
#include "util/rng.h"

static rng_t rng;

static float *rand_floats(long n)
{
    float *p = malloc((size_t)n * sizeof *p);
    for (long i = 0; i < n; i++) p[i] = rng_uniform(&rng) * 2.0f - 1.0f;
    return p;
}

/* one case: C [M, n] from columns [n0, n0+n) of W [N, K]; cols_layout: A is [K, M] */
static void gemm_case(int M, int N, int K, int n0, int n, int cols_layout, int use_bias, int accumulate)
{
    float *W = rand_floats((long)N * K), *A = rand_floats((long)M * K), *bias = rand_floats(N);
    float *C = rand_floats((long)M * n), *ref = malloc((size_t)M * n * sizeof *ref);
    long ars = cols_layout ? 1 : K, aks = cols_layout ? M : 1;
    for (int i = 0; i < M; i++)
        for (int c = 0; c < n; c++) {
            double s = accumulate ? C[(long)i * n + c] : use_bias ? bias[n0 + c] : 0.0;
            for (int k = 0; k < K; k++) s += (double)A[i * ars + k * aks] * W[(long)(n0 + c) * K + k];
            ref[(long)i * n + c] = (float)s;
        }
    nn_packed *P = nn_pack_weights(W, N, K);
    float *C1 = malloc((size_t)M * n * sizeof *C1), *C2 = malloc((size_t)M * n * sizeof *C2);
    memcpy(C1, C, (size_t)M * n * sizeof *C1);
    memcpy(C2, C, (size_t)M * n * sizeof *C2);
    nn_set_threads(1);
    int rc1 = nn_gemm_packed(M, n0, n, A, ars, aks, P, use_bias ? bias + n0 : NULL, C1, n, accumulate);
    nn_set_threads(2);
    int rc2 = nn_gemm_packed(M, n0, n, A, ars, aks, P, use_bias ? bias + n0 : NULL, C2, n, accumulate);
    char label[160];
    snprintf(label, sizeof label, "%s packed M%d N%d K%d cols [%d,%d) %s%s%s", nn_kernel_name(nn_kernel()), M, N, K,
             n0, n0 + n,
             cols_layout ? "A as [K,M]" : "A as [M,K]", use_bias ? " bias" : "", accumulate ? " accumulate" : "");
    tap_ok(rc1 == 0 && rc2 == 0, "%s: accepted", label);
    tap_close(C1, ref, (long)M * n, 1e-5, 1e-5 * K, label);
    tap_ok(memcmp(C1, C2, (size_t)M * n * sizeof *C1) == 0, "%s: 1 and 2 threads give the same bits", label);
    nn_packed_free(P);
    free(W); free(A); free(bias); free(C); free(ref); free(C1); free(C2);
}

/* the weight rounded to binary16 and back */
static float *rounded_f16(const float *W, long n)
{
    float *r = malloc((size_t)n * sizeof *r);
    for (long i = 0; i < n; i++) r[i] = nn_f16_to_float(nn_f16_from_float(W[i]));
    return r;
}

/* a product over W packed in binary16 = the single-precision product over W rounded to binary16,
 * bit for bit, on 1 and 2 threads; and near the product over W itself */
static void half_case(int M, int N, int K, int n0, int n, int cols_layout, int use_bias, int accumulate)
{
    float *W = rand_floats((long)N * K), *A = rand_floats((long)M * K), *bias = rand_floats(N);
    float *C = rand_floats((long)M * n), *Wr = rounded_f16(W, (long)N * K);
    long ars = cols_layout ? 1 : K, aks = cols_layout ? M : 1;
    nn_packed *Ph = nn_pack_weights_step(W, N, K, 0, NN_PACK_F16), *Pr = nn_pack_weights(Wr, N, K);
    size_t bytes = (size_t)M * n * sizeof(float);
    float *out[3];
    int ok = Ph && Pr && nn_packed_precision(Ph) == NN_PACK_F16 && nn_packed_precision(Pr) == NN_PACK_F32;
    for (int r = 0; r < 3; r++) {
        out[r] = malloc(bytes);
        memcpy(out[r], C, bytes);
        nn_set_threads(r == 1 ? 2 : 1);
        ok &= nn_gemm_packed(M, n0, n, A, ars, aks, r < 2 ? Ph : Pr, use_bias ? bias + n0 : NULL, out[r], n,
                             accumulate) == 0;
    }
    double worst = 0;   /* against the double-precision product over W: within binary16's rounding */
    for (int i = 0; i < M; i++)
        for (int c = 0; c < n; c++) {
            double s = accumulate ? C[(long)i * n + c] : use_bias ? bias[n0 + c] : 0.0, mag = fabs(s);
            for (int k = 0; k < K; k++) {
                double t = (double)A[i * ars + k * aks] * W[(long)(n0 + c) * K + k];
                s += t;
                mag += fabs(t);
            }
            double e = fabs(out[0][(long)i * n + c] - s) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    tap_ok(ok && !memcmp(out[0], out[2], bytes) && !memcmp(out[0], out[1], bytes) && worst < 1e-3,
           "%s binary16 packed M%d N%d K%d cols [%d,%d)%s%s%s: the single-precision product over the rounded weight "
           "bit for bit, on 1 and 2 threads; error %.1e of the terms' magnitude", nn_kernel_name(nn_kernel()), M, N,
           K, n0, n0 + n, cols_layout ? " A as [K,M]" : "", use_bias ? " bias" : "", accumulate ? " accumulate" : "",
           worst);
    for (int r = 0; r < 3; r++) free(out[r]);
    nn_packed_free(Ph);
    nn_packed_free(Pr);
    free(W); free(A); free(bias); free(C); free(Wr);
}

/* nn_f16_from_float against F16C's rounding on every edge (ties to even, subnormals, the
 * smallest subnormal's half, overflow, infinities, NaN) and random values; every binary16 value
 * back to a float and again exactly */
static void f16_conversions(void)
{
    int bad = 0, n = 0;
    uint32_t special[] = { 0x00000000u, 0x80000000u, 0x3f800000u, 0x477fe000u, 0x477ff000u, 0x477fefffu,
                           0x47800000u, 0x7f7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x33800000u,
                           0x33000000u, 0x33000001u, 0x387fc000u, 0x38800000u, 0x3f801000u, 0x3f803000u,
                           0x3f801001u, 0x00000001u, 0xb3c00000u, 0x38000000u };
    for (int i = 0; i < 200000 + (int)(sizeof special / sizeof special[0]); i++) {
        uint32_t u;
        if (i < (int)(sizeof special / sizeof special[0])) u = special[i];
        else u = (uint32_t)(rng_u64(&rng) >> 32);
        if (i % 3 == 1 && i >= 22) u = (u & 0x807fffffu) | ((uint32_t)(100 + u % 50) << 23);   /* near binary16's range */
        float x;
        memcpy(&x, &u, sizeof x);
        uint16_t ours = nn_f16_from_float(x), f16c = (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
        if (isnan(x) ? (ours & 0x7c00u) != 0x7c00u || !(ours & 0x3ffu) : ours != f16c) bad++;
        n++;
    }
    tap_ok(bad == 0, "nn_f16_from_float: F16C's bits for %d floats (edges and random), %d differ", n, bad);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float x = nn_f16_to_float((uint16_t)h), y = _cvtsh_ss((unsigned short)h);
        if (((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff)) bad += !isnan(x);
        else bad += memcmp(&x, &y, sizeof x) != 0 || nn_f16_from_float(x) != h;
    }
    tap_ok(bad == 0, "nn_f16_to_float: F16C's float for all 65536 binary16 values, and back to the same bits");
}

/* A given as rows (here with a row step past K) and the same values given as [K, M] (an im2col
 * matrix's layout) are copied into the same row tiles: the same bits, on 1 and 2 threads. */
static void in_place_case(int M, int N, int K, int n0, int n, int use_bias, int accumulate)
{
    const long lda = K + 5;
    float *W = rand_floats((long)N * K), *A = rand_floats((long)M * lda), *bias = rand_floats(N);
    float *At = malloc((size_t)K * M * sizeof *At), *C = rand_floats((long)M * n);
    float *Cr = malloc((size_t)M * n * sizeof *Cr), *Ct = malloc((size_t)M * n * sizeof *Ct);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) At[(long)k * M + i] = A[i * lda + k];
    nn_packed *P = nn_pack_weights(W, N, K);
    int same = 1;
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        memcpy(Cr, C, (size_t)M * n * sizeof *Cr);
        memcpy(Ct, C, (size_t)M * n * sizeof *Ct);
        int rc = nn_gemm_packed(M, n0, n, A, lda, 1, P, use_bias ? bias + n0 : NULL, Cr, n, accumulate);
        rc |= nn_gemm_packed(M, n0, n, At, 1, M, P, use_bias ? bias + n0 : NULL, Ct, n, accumulate);
        same &= rc == 0 && memcmp(Cr, Ct, (size_t)M * n * sizeof *Cr) == 0;
    }
    tap_ok(same, "%s packed M%d N%d K%d: A as rows (row step %ld) and as [K, M] give the same bits%s%s",
           nn_kernel_name(nn_kernel()), M, N, K, lda, use_bias ? ", bias" : "", accumulate ? ", accumulate" : "");
    nn_packed_free(P);
    free(W); free(A); free(bias); free(At); free(C); free(Cr); free(Ct);
}

/* ops on frozen parameters against the same ops before freezing */
static void frozen_ops(void)
{
    nn_params *ps = nn_params_new();
    nn_tensor *lw = nn_param(ps, "lin.weight", 0, NN_DIMS(70, 33));
    nn_tensor *lb = nn_param(ps, "lin.bias", 0, NN_DIMS(70));
    nn_tensor *iw = nn_param(ps, "attn.in_proj_weight", 0, NN_DIMS(96, 33));
    nn_tensor *ib = nn_param(ps, "attn.in_proj_bias", 0, NN_DIMS(96));
    nn_tensor *cw = nn_param(ps, "conv.weight", 0, NN_DIMS(20, 5, 3, 3));
    nn_tensor *cb = nn_param(ps, "conv.bias", 0, NN_DIMS(20));
    nn_tensor *pw = nn_param(ps, "pw.weight", 0, NN_DIMS(24, 5, 1, 1));
    nn_tensor *c1w = nn_param(ps, "c1.weight", 0, NN_DIMS(18, 5, 5));
    nn_tensor *c1b = nn_param(ps, "c1.bias", 0, NN_DIMS(18));
    nn_tensor *bw = nn_param(ps, "big.weight", 0, NN_DIMS(8, 5, 3, 3));   /* used on 400 positions */
    nn_tensor *tw = nn_param(ps, "up.weight", 0, NN_DIMS(37, 19, 4));      /* ConvTranspose1d [in, out, k] */
    nn_tensor *tb = nn_param(ps, "up.bias", 0, NN_DIMS(19));
    nn_tensor *gw = nn_param(ps, "wg.weight", 0, NN_DIMS(16, 5, 3, 3));    /* Winograd F(2,3) on 20x20 */
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        for (long k = 0; k < t->size; k++) t->data[k] = rng_uniform(&rng) - 0.5f;
    }
    float *xl = rand_floats(13 * 33), *xc = rand_floats(2 * 5 * 11 * 9), *x1 = rand_floats(3 * 5 * 16);
    float *xb = rand_floats(5 * 20 * 20), *xt = rand_floats(2 * 37 * 5);
    nn_ctx *c = nn_ctx_new(1 << 20);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    nn_set_threads(2);
    nn_tensor *out[2][9];
    for (int pass = 0; pass < 2; pass++) {
        nn_params_freeze(ps, pass);
        nn_tensor *a = nn_from(c, xl, NN_DIMS(13, 33)), *im = nn_from(c, xc, NN_DIMS(2, 5, 11, 9));
        nn_tensor *s1 = nn_from(c, x1, NN_DIMS(3, 5, 16));
        out[pass][0] = nn_linear(c, a, lw, lb);
        out[pass][1] = nn_linear_rows(c, a, iw, ib, 32, 32);      /* a panel-aligned block */
        out[pass][2] = nn_linear_rows(c, a, iw, ib, 8, 40);       /* not aligned: sgemm */
        out[pass][3] = nn_conv2d(c, im, cw, cb, 2, 1);
        out[pass][4] = nn_conv2d(c, im, cw, NULL, 1, 1);
        out[pass][5] = nn_conv2d(c, im, pw, NULL, 1, 0);          /* pointwise */
        out[pass][6] = nn_conv1d(c, s1, c1w, c1b, 1, 2);
        out[pass][7] = nn_conv2d(c, nn_from(c, xb, NN_DIMS(1, 5, 20, 20)), bw, NULL, 1, 1);
        out[pass][8] = nn_conv_transpose1d(c, nn_from(c, xt, NN_DIMS(2, 37, 5)), tw, tb, 2, 1);   /* a UNet's upsampling */
    }
    const char *names[9] = { "linear", "linear_rows [32,64)", "linear_rows [8,48)", "conv2d s2 p1 bias",
                             "conv2d s1 p1", "conv2d 1x1", "conv1d k5 p2", "conv2d on 400 positions (sgemm)",
                             "conv_transpose1d k4 s2 p1" };
    for (int k = 0; k < 9; k++) {
        char label[96];
        snprintf(label, sizeof label, "frozen %s equals the sgemm path", names[k]);
        if (tap_ok(out[0][k] && out[1][k] && out[0][k]->size == out[1][k]->size, "%s: computed", label))
            tap_close(out[1][k]->data, out[0][k]->data, out[0][k]->size, 1e-5, 1e-5, label);
    }
    tap_ok(lw->packed && cw->packed && c1w->packed && iw->packed && tw->packed, "frozen weights used as weights were packed");
    tap_ok(!lb->packed && !cb->packed, "biases were not packed");
    tap_ok(!bw->packed, "a convolution over many positions (400 > 128) keeps sgemm: not packed");
    {   /* frozen in binary16: the packed ops equal the single-precision frozen ops over weights
         * rounded to binary16, bit for bit; the ops that keep sgemm use the weights as they are */
        nn_tensor *half[9], *rounded[9];
        nn_tensor *ws[7] = { lw, iw, cw, pw, c1w, tw, gw };
        nn_params_freeze(ps, NN_PACK_F16);
        for (int pass = 0; pass < 2; pass++) {
            nn_tensor **o = pass ? rounded : half;
            nn_tensor *a = nn_from(c, xl, NN_DIMS(13, 33)), *im = nn_from(c, xc, NN_DIMS(2, 5, 11, 9));
            o[0] = nn_linear(c, a, lw, lb);
            o[1] = nn_linear_rows(c, a, iw, ib, 32, 32);
            o[2] = nn_conv2d(c, im, cw, cb, 2, 1);
            o[3] = nn_conv2d(c, nn_from(c, xb, NN_DIMS(1, 5, 20, 20)), gw, NULL, 1, 1);   /* Winograd */
            o[4] = nn_conv2d(c, im, pw, NULL, 1, 0);
            o[5] = nn_conv1d(c, nn_from(c, x1, NN_DIMS(3, 5, 16)), c1w, c1b, 1, 2);
            o[6] = nn_conv_transpose1d(c, nn_from(c, xt, NN_DIMS(2, 37, 5)), tw, tb, 2, 1);
            if (!pass) {
                tap_ok(lw->packed && nn_packed_precision(lw->packed) == NN_PACK_F16 && cw->packed &&
                           nn_packed_precision(cw->packed) == NN_PACK_F16 && tw->packed &&
                           nn_packed_precision(tw->packed) == NN_PACK_F16 && gw->packed &&
                           nn_packed_precision(gw->packed) == NN_PACK_F16,
                       "frozen in binary16: the weights are packed in binary16");
                /* round the weights in place, freeze in single precision, run again */
                nn_params_freeze(ps, 0);
                for (int i = 0; i < 7; i++)
                    for (long k = 0; k < ws[i]->size; k++) ws[i]->data[k] = nn_f16_to_float(nn_f16_from_float(ws[i]->data[k]));
                nn_params_freeze(ps, NN_PACK_F32);
            }
        }
        const char *hn[7] = { "linear", "linear_rows [32,64)", "conv2d s2 p1 bias", "conv2d 3x3 on 20x20 (Winograd)",
                              "conv2d 1x1", "conv1d k5 p2", "conv_transpose1d k4 s2 p1" };
        for (int k = 0; k < 7; k++) {
            int same = half[k] && rounded[k] && half[k]->size == rounded[k]->size;
            if (k == 3 && same)   /* Winograd rounds its transformed weights, not the weights */
                tap_close(half[k]->data, rounded[k]->data, half[k]->size, 2e-3, 2e-3,
                          "frozen conv2d 3x3 on 20x20 (Winograd) in binary16: near the op over the rounded weights");
            else
                tap_ok(same && !memcmp(half[k]->data, rounded[k]->data, sizeof(float) * half[k]->size),
                       "frozen %s in binary16: the single-precision frozen op over the rounded weights bit for bit", hn[k]);
        }
        nn_params_freeze(ps, 1);
    }
    {   /* many rows (IBC's candidate actions): the frozen linear takes nn_gemm, bit for bit */
        nn_params *ps2 = nn_params_new();
        nn_tensor *mw = nn_param(ps2, "many.weight", 0, NN_DIMS(48, 33));
        for (long k = 0; k < mw->size; k++) mw->data[k] = rng_uniform(&rng) - 0.5f;
        float *xm = rand_floats(300 * 33);
        nn_tensor *ym[2];
        for (int pass = 0; pass < 2; pass++) {
            nn_params_freeze(ps2, pass);
            ym[pass] = nn_linear(c, nn_from(c, xm, NN_DIMS(300, 33)), mw, NULL);
        }
        tap_ok(ym[0] && ym[1] && memcmp(ym[0]->data, ym[1]->data, sizeof(float) * ym[0]->size) == 0 && !mw->packed,
               "a frozen linear on 300 rows (> 256) runs nn_gemm: the unfrozen result bit for bit, nothing packed");
        nn_params_freeze(ps2, 0);
        nn_params_free(ps2);
        free(xm);
    }
    /* unfreezing drops the copies: new values are seen */
    nn_params_freeze(ps, 0);
    tap_ok(!lw->packed && !cw->packed && !lw->frozen, "unfreezing drops the packed copies");
    for (long k = 0; k < lw->size; k++) lw->data[k] *= 2.0f;
    nn_params_freeze(ps, 1);
    nn_tensor *a = nn_from(c, xl, NN_DIMS(13, 33));
    nn_tensor *y = nn_linear(c, a, lw, NULL), *y0 = nn_linear(c, a, lw, lb);
    int doubled = y && y0;
    for (long i = 0; y && i < y->size; i++) {
        double ref = 0;
        int r = (int)(i / 70), o = (int)(i % 70);
        for (int k = 0; k < 33; k++) ref += (double)xl[r * 33 + k] * lw->data[o * 33 + k];
        if (fabs(ref - y->data[i]) > 1e-4) doubled = 0;
    }
    tap_ok(doubled, "after unfreeze, change and freeze the product uses the new weights");
    nn_params_freeze(ps, 0);
    nn_ctx_free(c);
    nn_params_free(ps);
    free(xl); free(xc); free(x1); free(xb); free(xt);
}

/* the AVX-512 tile (32-column panels) and the AVX2 one (16-column panels) add each element's
 * products in the same order: the same bits, for any thread count */
static void same_bits_case(int M, int N, int K, int n0, int n, int cols_layout, int use_bias, int accumulate)
{
    float *W = rand_floats((long)N * K), *A = rand_floats((long)M * K), *bias = rand_floats(N);
    float *C = rand_floats((long)M * n), *out[2][2];
    long ars = cols_layout ? 1 : K, aks = cols_layout ? M : 1;
    int ok = 1, panel[2];
    for (int v = 0; v < 2; v++) {
        nn_kernel_set(v ? NN_KERNEL_AVX512 : NN_KERNEL_AVX2);
        nn_packed *P = nn_pack_weights(W, N, K);
        panel[v] = P ? nn_packed_panel(P) : 0;
        for (int t = 0; t < 2; t++) {
            nn_set_threads(t + 1);
            out[v][t] = malloc((size_t)M * n * sizeof(float));
            memcpy(out[v][t], C, (size_t)M * n * sizeof(float));
            ok &= P && nn_gemm_packed(M, n0, n, A, ars, aks, P, use_bias ? bias + n0 : NULL, out[v][t], n,
                                      accumulate) == 0;
        }
        nn_packed_free(P);
    }
    size_t bytes = (size_t)M * n * sizeof(float);
    tap_ok(ok && panel[0] == 16 && panel[1] == 32 && !memcmp(out[0][0], out[1][0], bytes) &&
               !memcmp(out[0][0], out[0][1], bytes) && !memcmp(out[1][0], out[1][1], bytes),
           "avx2 (16-column panels) and avx512 (32-column panels) packed M%d N%d K%d cols [%d,%d)%s%s: the same bits "
           "on 1 and 2 threads", M, N, K, n0, n0 + n, use_bias ? " bias" : "", accumulate ? " accumulate" : "");
    for (int v = 0; v < 2; v++)
        for (int t = 0; t < 2; t++) free(out[v][t]);
    free(W); free(A); free(bias); free(C);
}

/* ILT_KERNEL=name: a weight packed by the test run again under it has the panel width `want` */
static void forced_panel(const char *self, const char *name, int want)
{
    char cmd[4200], got[64] = "";
    snprintf(cmd, sizeof cmd, "ILT_KERNEL=%s '%s' --panel 2>/dev/null", name, self);
    FILE *f = popen(cmd, "r");
    if (f) {
        if (!fgets(got, sizeof got, f)) got[0] = 0;
        pclose(f);
    }
    tap_ok(atoi(got) == want, "ILT_KERNEL=%s packs %d-column panels (got: %d)", name, want, atoi(got));
}

/* a frozen weight packed under one variant is packed again for the next one */
static void repack_case(void)
{
    nn_params *ps = nn_params_new();
    nn_tensor *w = nn_param(ps, "w.weight", 0, NN_DIMS(64, 20));
    for (long k = 0; k < w->size; k++) w->data[k] = rng_uniform(&rng) - 0.5f;
    nn_params_freeze(ps, 1);
    nn_kernel_set(NN_KERNEL_AVX2);
    const nn_packed *p16 = nn_weight_packed(w, 64, 20);
    int w16 = p16 ? nn_packed_panel(p16) : 0;
    nn_kernel_set(NN_KERNEL_AVX512);
    const nn_packed *p32 = nn_weight_packed(w, 64, 20);
    tap_ok(w16 == 16 && p32 && nn_packed_panel(p32) == 32 && w->packed == p32 && !nn_packed_stale(p32, 0),
           "a frozen weight packed under avx2 (16 columns) is packed again under avx512 (32 columns)");
    nn_params_freeze(ps, 0);
    nn_params_free(ps);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--panel")) {
        float w[16] = { 0 };
        nn_packed *P = nn_pack_weights(w, 4, 4);
        printf("%d\n", P ? nn_packed_panel(P) : 0);
        nn_packed_free(P);
        return 0;
    }
    rng_seed(&rng, 7);
    f16_conversions();
    int widest = nn_kernel_supported(NN_KERNEL_AVX512) ? NN_KERNEL_AVX512
                 : nn_kernel_supported(NN_KERNEL_AVX2) ? NN_KERNEL_AVX2 : NN_KERNEL_PORTABLE;
    tap_diag("this CPU runs up to %s", nn_kernel_name(widest));
    forced_panel(argv[0], "portable", 16);
    forced_panel(argv[0], "avx2", 16);
    forced_panel(argv[0], "avx512", widest == NN_KERNEL_AVX512 ? 32 : 16);
    /* row tails of both tiles and exact tiles; N tails of both panels; K below, at and across
     * KC = 256; both loop orders; column starts at multiples of 32 (a panel start in both layouts) */
    int cases[][8] = {
        /* M, N, K, n0, n, cols_layout, bias, accumulate */
        { 1, 16, 8, 0, 16, 0, 0, 0 },   { 5, 14, 33, 0, 14, 0, 1, 0 },  { 6, 32, 256, 0, 32, 0, 1, 0 },
        { 7, 40, 257, 0, 40, 0, 0, 1 }, { 100, 256, 520, 0, 256, 0, 1, 0 }, { 100, 768, 64, 256, 256, 0, 1, 0 },
        { 100, 768, 64, 512, 256, 0, 0, 1 }, { 203, 48, 600, 0, 48, 1, 1, 0 }, { 20, 512, 300, 0, 512, 1, 0, 0 },
        { 9, 64, 576, 0, 64, 1, 1, 0 },  { 300, 24, 27, 0, 24, 1, 0, 0 },  { 4, 49, 5, 32, 17, 1, 1, 0 },
        { 200, 3, 12, 0, 3, 0, 1, 0 },   { 300, 16, 600, 0, 16, 1, 1, 0 }, { 12, 32, 256, 0, 32, 0, 1, 0 },
        { 24, 70, 513, 0, 70, 0, 1, 0 }, { 37, 100, 300, 32, 68, 1, 0, 1 },
        /* all rows' A within 256 KiB and K > KC: one panel at a time through all of K */
        { 50, 40, 700, 0, 40, 0, 1, 0 }, { 23, 90, 1100, 32, 50, 1, 0, 1 },
    };
    for (int v = 0; v < NN_KERNEL_OPENBLAS; v++) {
        if (!nn_kernel_supported(v)) {
            tap_ok(1, "# skip %s: this CPU lacks it", nn_kernel_name(v));
            continue;
        }
        nn_kernel_set(v);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int *k = cases[i];
            gemm_case(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
        }
        /* M = 1..17 (every row tail of the 4-, 6-, 8- and 12-row tiles, and the first row count past
         * the short tiles' range), N and K off the panel and KC */
        for (int M = 1; M <= 17; M++) gemm_case(M, 50, 300, 0, 50, M % 2, M % 3 == 0, M % 4 == 1);
        /* an im2col matrix of exactly one tile's rows, read in place (4, 6, 8 and 12 rows on avx512;
         * 6 rows on the 6x16 tiles) */
        gemm_case(4, 70, 600, 32, 38, 1, 1, 1);
        gemm_case(6, 50, 520, 0, 50, 1, 0, 1);
        gemm_case(8, 96, 1100, 0, 96, 1, 0, 0);
        gemm_case(12, 40, 300, 0, 40, 1, 1, 0);
        /* partial row tiles, K across blocks, both loop orders, column offsets */
        in_place_case(100, 40, 300, 0, 40, 1, 0);
        in_place_case(7, 90, 1100, 32, 50, 0, 1);
        in_place_case(1, 48, 20, 32, 16, 1, 0);
        in_place_case(203, 48, 600, 0, 48, 0, 0);
        float w[64 * 4] = { 0 }, a[4] = { 0 }, cbuf[64];
        nn_packed *P = nn_pack_weights(w, 64, 4);
        int panel = P ? nn_packed_panel(P) : 0;
        tap_ok(panel == (v == NN_KERNEL_AVX512 ? 32 : 16) && panel == nn_packed_panel_now(), "%s packs %d-column panels",
               nn_kernel_name(v), panel);
        tap_ok(nn_gemm_packed(1, 56, 16, a, 4, 1, P, NULL, cbuf, 16, 0) < 0, "%s: columns outside the weight are refused: %s",
               nn_kernel_name(v), error_get());
        tap_ok(nn_gemm_packed(1, 4, 4, a, 4, 1, P, NULL, cbuf, 8, 0) < 0 &&
                   (nn_gemm_packed(1, 16, 16, a, 4, 1, P, NULL, cbuf, 16, 0) < 0) == (panel == 32),
               "%s: a column start off a %d-column panel is refused", nn_kernel_name(v), panel);
        nn_packed_free(P);
        P = nn_pack_weights_step(w, 64, 4, 16, NN_PACK_F32);
        tap_ok(P && nn_packed_panel(P) == 16 && nn_gemm_packed(1, 16, 16, a, 4, 1, P, NULL, cbuf, 16, 0) == 0,
               "%s: packed for column starts at multiples of 16: 16-column panels", nn_kernel_name(v));
        nn_packed_free(P);
        tap_ok(nn_pack_weights(w, 0, 4) == NULL, "%s: an empty weight is refused", nn_kernel_name(v));
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int *k = cases[i];
            half_case(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
        }
        for (int M = 1; M <= 17; M += 3) half_case(M, 50, 300, 0, 50, M % 2, M % 3 == 0, M % 4 == 1);
        half_case(4, 70, 600, 32, 38, 1, 1, 1);   /* one tile's im2col matrix, read in place */
        frozen_ops();
    }
    if (nn_kernel_supported(NN_KERNEL_AVX512) && nn_kernel_supported(NN_KERNEL_AVX2)) {
        same_bits_case(100, 512, 3200, 0, 512, 0, 1, 0);   /* ACT's decoder feed-forward, 100 queries */
        same_bits_case(13, 70, 300, 0, 70, 1, 1, 0);
        same_bits_case(4, 96, 1300, 0, 96, 1, 1, 0);   /* a UNet's 4, 8 and 16 positions: the 4- and 8-row tiles */
        same_bits_case(8, 64, 700, 0, 64, 1, 0, 1);
        same_bits_case(16, 130, 520, 0, 130, 1, 1, 0);
        same_bits_case(1, 50, 513, 0, 50, 0, 0, 1);
        same_bits_case(203, 96, 600, 32, 64, 1, 1, 0);
        same_bits_case(23, 90, 1100, 64, 26, 0, 0, 1);
        repack_case();
    }
    nn_kernel_set(widest);
    return tap_done();
}
