/* test_nn_exp.c — the softmax's own exponential (ops_softmax.c) against double precision over
 * the range a softmax sees (x - max <= 0) and beyond, its edges (-inf, NaN, underflow), and the
 * softmax row: the 8-lane and scalar forms give the same bits for the same input, and rows
 * sum to one. */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "tap.h"

int main(void)
{
    double worst = 0;
    float at = 0;
    for (long i = 0; i <= 2000000; i++) {
        float x = -87.3f + 87.3f * 1.1f * (float)i / 2000000.0f;   /* [-87.3, 8.73] */
        double ref = exp((double)x), got = nn_exp_softmax(x);
        double ulp = ldexp(1.0, ilogb(ref) - 23);
        double err = fabs(got - ref) / ulp;
        if (err > worst) worst = err, at = x;
    }
    tap_ok(worst <= 2.0, "exp within 2 ulp of double precision on [-87.3, 8.7] (worst %.2f ulp at %g)", worst, at);
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
    return tap_done();
}
