/* test_nn_winograd.c — F(2x2, 3x3) convolutions (winograd.c) on frozen weights against a
 * double-precision direct convolution and against the ordinary (sgemm) path: odd and even
 * output sizes (partial last tiles), paddings 0-2, batches, bias, channel counts across the
 * packed product's blocks; bit-identical for 1 and 2 threads; taken only where it suits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/ops.h"
#include "nn/params.h"
#include "nn/winograd.h"
#include "tap.h"
#include "util/rng.h"

static rng_t rng;

static void fill(float *p, long n, float scale)
{
    for (long i = 0; i < n; i++) p[i] = (rng_uniform(&rng) * 2.0f - 1.0f) * scale;
}

static void conv_case(int B, int C, int H, int W, int O, int pad, int use_bias)
{
    nn_params *ps = nn_params_new();
    nn_tensor *w = nn_param(ps, "conv.weight", 0, NN_DIMS(O, C, 3, 3));
    nn_tensor *b = nn_param(ps, "conv.bias", 0, NN_DIMS(O));
    fill(w->data, w->size, 0.5f);
    fill(b->data, b->size, 0.5f);
    const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2;
    float *x = malloc(sizeof(float) * B * C * H * W);
    fill(x, (long)B * C * H * W, 1.0f);
    const long n = (long)B * O * Ho * Wo;
    float *ref = malloc(sizeof(float) * n);
    for (int s = 0; s < B; s++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    double acc = use_bias ? b->data[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int iy = i - pad + u, ix = j - pad + v;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                    acc += (double)x[((s * C + c) * H + iy) * W + ix] * w->data[((o * C + c) * 3 + u) * 3 + v];
                            }
                    ref[((s * O + o) * Ho + i) * Wo + j] = (float)acc;
                }
    nn_ctx *c = nn_ctx_new(16 << 20);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    float *out[3];
    for (int pass = 0; pass < 3; pass++) {   /* sgemm (2 threads), winograd 1 and 2 threads */
        nn_params_freeze(ps, pass > 0);
        nn_set_threads(pass == 1 ? 1 : 2);
        nn_tensor *y = nn_conv2d(c, nn_from(c, x, NN_DIMS(B, C, H, W)), w, use_bias ? b : NULL, 1, pad);
        out[pass] = malloc(sizeof(float) * n);
        if (y && y->size == n) memcpy(out[pass], y->data, sizeof(float) * n);
        else memset(out[pass], 0, sizeof(float) * n);
        nn_ctx_reset(c);
    }
    char label[128];
    snprintf(label, sizeof label, "winograd B%d C%d %dx%d -> O%d %dx%d pad %d%s", B, C, H, W, O, Ho, Wo, pad,
             use_bias ? " bias" : "");
    tap_ok(w->packed && nn_packed_rows(w->packed) == 16 * O && nn_packed_cols(w->packed) == C,
           "%s: the weight was transformed ([16*O, C])", label);
    /* atol: a few ulps of the largest partial sums (|x| <= 1, |w| <= .5, 9C terms) */
    double atol = 4e-7 * 9 * C;
    tap_close(out[1], ref, n, atol, 1e-5, label);
    char l2[200];
    snprintf(l2, sizeof l2, "%s: the sgemm path within the same tolerance", label);
    tap_close(out[0], ref, n, atol, 1e-5, l2);
    tap_ok(memcmp(out[1], out[2], sizeof(float) * n) == 0, "%s: 1 and 2 threads give the same bits", label);
    nn_params_freeze(ps, 0);
    for (int k = 0; k < 3; k++) free(out[k]);
    free(x);
    free(ref);
    nn_ctx_free(c);
    nn_params_free(ps);
}

int main(void)
{
    rng_seed(&rng, 11);
    conv_case(1, 5, 20, 20, 16, 1, 1);    /* even output */
    conv_case(2, 3, 17, 23, 32, 1, 0);    /* odd rows and columns: partial tiles; a batch */
    conv_case(1, 4, 18, 19, 16, 0, 1);    /* no padding */
    conv_case(1, 6, 16, 16, 16, 2, 1);    /* padding 2 */
    conv_case(1, 64, 30, 40, 64, 1, 0);   /* ResNet18 layer1 at 120x160 */
    conv_case(1, 300, 16, 17, 48, 1, 1);  /* C across the packed product's K block (256) */
    conv_case(1, 512, 4, 5, 512, 1, 1);   /* ResNet18 layer4 at 120x160: 6 tiles */
    conv_case(2, 64, 32, 32, 64, 1, 0);   /* a batch: all samples in one product per element */
    conv_case(2, 128, 16, 16, 128, 1, 0);
    conv_case(2, 256, 8, 8, 256, 1, 0);

    /* where it is not taken */
    nn_conv_geom g = { 1, 64, 30, 40, 3, 3, 1, 1, 1, 1, 30, 40 };
    tap_ok(nn_winograd_suits(&g, 64), "layer1 at 120x160 suits");
    nn_conv_geom s2 = { 1, 64, 60, 80, 3, 3, 2, 2, 1, 1, 30, 40 };
    tap_ok(!nn_winograd_suits(&s2, 64), "stride 2 does not");
    tap_ok(!nn_winograd_suits(&g, 20), "20 output channels (not a multiple of 16) do not");
    nn_conv_geom k1 = { 1, 64, 30, 40, 1, 1, 1, 1, 0, 0, 30, 40 };
    tap_ok(!nn_winograd_suits(&k1, 64), "a 1x1 kernel does not");
    nn_conv_geom l4 = { 1, 512, 4, 5, 3, 3, 1, 1, 1, 1, 4, 5 };
    tap_ok(nn_winograd_suits(&l4, 512), "layer4 at 120x160 (4x5 outputs, 6 tiles) suits");
    nn_conv_geom small = { 1, 512, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3 };
    tap_ok(!nn_winograd_suits(&small, 512), "3x3 outputs (4 tiles covering 16 positions for 9) do not");
    nn_conv_geom few = { 1, 64, 4, 4, 3, 3, 1, 1, 1, 1, 4, 4 };
    tap_ok(!nn_winograd_suits(&few, 64), "4x4 outputs (4 tiles: too few to pay) do not");
    return tap_done();
}
