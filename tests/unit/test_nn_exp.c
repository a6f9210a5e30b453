/* test_nn_exp.c — the engine's own exponential (vexp.h) against double precision over
 * [-87.3, 88], its edges (-inf, NaN, underflow), and the softmax row: the 8-lane and scalar
 * forms give the same bits for the same input, and rows sum to one. Then the activations built
 * on it (sigmoid, SiLU, Mish): values and derivatives against double precision from -90 to 90,
 * and the same bits for an element whichever lane or tail computes it. */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/ops.h"
#include "nn/threads.h"
#include "tap.h"
#include "util/error.h"

/* f and f' in double precision */
static double act_ref(int k, double x, double *d)
{
    double s = 1.0 / (1.0 + exp(-x));
    if (k == 0) { *d = s * (1 - s); return s; }
    if (k == 1) { *d = s * (1 + x * (1 - s)); return x * s; }
    double sp = x > 30 ? x : log1p(exp(x)), t = tanh(sp);
    *d = t + x * (1 - t * t) * s;                       /* softplus' = sigmoid */
    return x * t;
}

/* Forward and backward of sigmoid/SiLU/Mish on N values spanning [-90, 90] (with both tails of
 * the 8-lane loops), against act_ref: error within 4 ulp of max(|f|, 1e-30) plus 2e-7 absolute
 * (the derivative 1e-6); and the same bits whether an element is computed in 8 lanes or alone. */
static void check_activations(int threads)
{
    enum { N = 40003 };
    static float x[N], y1[N], y2[N], g[N], d1[N], d2[N];
    typedef nn_tensor *(*fn)(nn_ctx *, nn_tensor *);
    static const fn fns[3] = { nn_sigmoid, nn_silu, nn_mish };
    static const char *names[3] = { "sigmoid", "silu", "mish" };
    for (int i = 0; i < N; i++) x[i] = -90.0f + 180.0f * (float)i / (N - 1);
    x[N / 2] = 0.0f;
    for (int i = 0; i < N; i++) g[i] = 1.0f;
    for (int k = 0; k < 3; k++) {
        double worst_y = 0, worst_d = 0;
        float at_y = 0, at_d = 0;
        /* y1, d1: the whole array (8 lanes but for the last 3 of each thread's chunk); y2, d2: 7
         * values at a time (the scalar tail only) */
        for (int at = -7; at < N; at += 7) {
            int whole = at < 0, n = whole ? N : at + 7 <= N ? 7 : N - at;
            if (whole) at = 0;
            nn_ctx *c = nn_ctx_new(1 << 22);
            nn_tensor *tx = nn_wrap(c, x + at, 1, (int[]){ n });
            tx->requires_grad = 1;
            nn_tensor *ty = fns[k](c, tx);
            if (!ty || nn_backward_from(c, ty, g) < 0) { tap_ok(0, "%s: %s", names[k], error_get()); nn_ctx_free(c); return; }
            memcpy((whole ? y1 : y2) + at, ty->data, sizeof(float) * n);
            memcpy((whole ? d1 : d2) + at, tx->grad, sizeof(float) * n);
            nn_ctx_free(c);
            if (whole) at = -7;           /* then from 0 again, 7 at a time */
        }
        for (int i = 0; i < N; i++) {
            double d, ref = act_ref(k, x[i], &d);
            double ey = fabs(y1[i] - ref) / (4 * ldexp(1.0, ilogb(fmax(fabs(ref), 1e-30)) - 23) + 2e-7);
            double ed = fabs(d1[i] - d) / (4 * ldexp(1.0, ilogb(fmax(fabs(d), 1e-30)) - 23) + 1e-6);
            if (ey > worst_y) worst_y = ey, at_y = x[i];
            if (ed > worst_d) worst_d = ed, at_d = x[i];
        }
        tap_ok(worst_y <= 1.0, "%s (%d threads): values on [-90, 90] within tolerance (worst %.2f of it at %g)",
               names[k], threads, worst_y, at_y);
        tap_ok(worst_d <= 1.0, "%s (%d threads): derivative on [-90, 90] within tolerance (worst %.2f of it at %g)",
               names[k], threads, worst_d, at_d);
        tap_ok(!memcmp(y1, y2, sizeof y1) && !memcmp(d1, d2, sizeof d1),
               "%s (%d threads): the same bits for an element in a lane or in a tail", names[k], threads);
    }
}

int main(void)
{
    double worst = 0;
    float at = 0;
    for (long i = 0; i <= 2000000; i++) {
        float x = -87.3f + 175.3f * (float)i / 2000000.0f;   /* [-87.3, 88] */
        double ref = exp((double)x), got = nn_exp_softmax(x);
        double ulp = ldexp(1.0, ilogb(ref) - 23);
        double err = fabs(got - ref) / ulp;
        if (err > worst) worst = err, at = x;
    }
    tap_ok(worst <= 2.0, "exp within 2 ulp of double precision on [-87.3, 88] (worst %.2f ulp at %g)", worst, at);
    tap_ok(nn_exp_softmax(-INFINITY) == 0.0f && nn_exp_softmax(-100.0f) == 0.0f, "exp(-inf) = exp(-100) = 0");
    tap_ok(isnan(nn_exp_softmax(NAN)), "exp(NaN) is NaN");
    tap_ok(nn_exp_softmax(0.0f) == 1.0f, "exp(0) = 1 exactly");

    /* a row of 19: positions 0..15 go through the 8-lane form, 16..18 through the scalar one */
    float x[19], y[19];
    for (int k = 0; k < 19; k++) x[k] = (float)(k % 3) * -0.7f + (k == 5 ? 2.0f : 0.0f);
    nn_softmax_row(y, x, 19, NULL, NULL, 0);
    double sum = 0;
    for (int k = 0; k < 19; k++) sum += y[k];
    int same = y[16] == y[1] && y[17] == y[2] && y[18] == y[0] && y[15] == y[0];
    tap_ok(same, "softmax: equal inputs give equal bits in the vector and scalar parts (%.9g %.9g)", y[16], y[1]);
    tap_ok(fabs(sum - 1.0) < 1e-6, "softmax row sums to one (%.9g)", sum);
    /* masked keys are exactly zero; a NaN poisons its row as PyTorch's */
    unsigned char pad[19] = { 0 };
    pad[3] = pad[17] = 1;
    nn_softmax_row(y, x, 19, NULL, pad, 0);
    tap_ok(y[3] == 0.0f && y[17] == 0.0f, "softmax: padded keys are exactly 0");
    x[7] = NAN;
    nn_softmax_row(y, x, 19, NULL, NULL, 0);
    tap_ok(isnan(y[0]) && isnan(y[18]), "softmax: a NaN input gives a NaN row");

    check_activations(1);
    nn_set_threads(2);
    check_activations(2);
    return tap_done();
}
