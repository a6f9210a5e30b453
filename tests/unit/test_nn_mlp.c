/* test_nn_mlp.c — the usage example of lib/nn/nn.h, compiled and run: a 2-layer MLP learns a
 * small regression with AdamW, clipping and a cosine schedule; the loss must fall, training
 * must be bit-identical for the same seed, and inference mode must reproduce the training-mode
 * forward. Keeps the header's example honest. */
#include "nn/nn.h"
#include "tap.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

enum { B = 16, IN = 10, HID = 64, OUT = 3, STEPS = 200 };

static void make_batch(rng_t *rng, float *x, float *y)
{
    rng_fill_uniform(rng, x, B * IN, -1, 1);
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OUT; o++) {
            float s = 0;
            for (int i = 0; i < IN; i++) s += sinf((float)(o + 1) * x[b * IN + i]) * (float)((i + o) % 3 - 1);
            y[b * OUT + o] = s;
        }
}

/* Train; returns the final weights' checksum and the first/last loss. */
static double train(unsigned seed, float *first, float *last, float *probe_train, float *probe_infer)
{
    rng_t rng;
    rng_seed(&rng, seed);
    nn_params *ps = nn_params_new();
    nn_tensor *w1 = nn_param(ps, "mlp.0.weight", 0, NN_DIMS(HID, IN));
    nn_tensor *b1 = nn_param(ps, "mlp.0.bias", NN_NO_DECAY, NN_DIMS(HID));
    nn_tensor *w2 = nn_param(ps, "mlp.2.weight", 0, NN_DIMS(OUT, HID));
    nn_tensor *b2 = nn_param(ps, "mlp.2.bias", NN_NO_DECAY, NN_DIMS(OUT));
    nn_init_kaiming_uniform_default(w1, &rng, IN);
    nn_init_kaiming_uniform_default(b1, &rng, IN);
    nn_init_kaiming_uniform_default(w2, &rng, HID);
    nn_init_kaiming_uniform_default(b2, &rng, HID);
    nn_adamw opt;
    nn_adamw_init(&opt, ps, 3e-3f, 1e-4f);
    nn_ctx *c = nn_ctx_new(1 << 20);
    nn_ctx_set_rng(c, &rng);
    float bx[B * IN], by[B * OUT];
    for (long step = 0; step < STEPS; step++) {
        make_batch(&rng, bx, by);
        nn_tensor *x = nn_from(c, bx, NN_DIMS(B, IN));
        nn_tensor *y = nn_from(c, by, NN_DIMS(B, OUT));
        nn_tensor *h = nn_dropout(c, nn_relu(c, nn_linear(c, x, w1, b1)), 0.1f);
        nn_tensor *loss = nn_mse_loss(c, nn_linear(c, h, w2, b2), y);
        if (!loss) { tap_diag("%s", error_get()); break; }
        if (step == 0) *first = loss->data[0];
        *last = loss->data[0];
        nn_params_zero_grad(ps);
        if (nn_backward(c, loss) < 0) { tap_diag("%s", error_get()); break; }
        nn_clip_grad_norm(ps, 10.0f);
        nn_adamw_step(&opt, nn_lr_cosine(step, 20, STEPS));
        nn_ctx_reset(c);
    }
    /* the same forward, recorded in eval mode and in inference mode */
    make_batch(&rng, bx, by);
    for (int rec = 1; rec >= 0; rec--) {
        nn_ctx_set_train(c, 0);
        nn_ctx_set_record(c, rec);
        nn_tensor *out = nn_linear(c, nn_dropout(c, nn_relu(c, nn_linear(c, nn_from(c, bx, NN_DIMS(B, IN)), w1, b1)), 0.1f), w2, b2);
        memcpy(rec ? probe_train : probe_infer, out->data, sizeof(float) * B * OUT);
        nn_ctx_reset(c);
    }
    double sum = 0;
    for (long i = 0; i < ps->total; i++) sum += ps->data[i] * (double)(i % 7 + 1);
    nn_ctx_free(c);
    nn_adamw_free(&opt);
    nn_params_free(ps);
    return sum;
}

int main(void)
{
    float f1, l1, f2, l2, pt[B * OUT], pi[B * OUT], pt2[B * OUT], pi2[B * OUT];
    double s1 = train(7, &f1, &l1, pt, pi);
    double s2 = train(7, &f2, &l2, pt2, pi2);
    tap_ok(l1 < 0.3f * f1, "MLP from nn.h's example learns: loss %.4f -> %.4f", f1, l1);
    tap_ok(s1 == s2 && l1 == l2, "same seed, same thread count: bit-identical weights");
    tap_ok(memcmp(pt, pi, sizeof pt) == 0, "inference mode (no tape) = eval-mode forward with recording");
    return tap_done();
}
