/* nn.h — the numerical engine in one include: tensors and arena (tensor.h), parameter store
 * (params.h), differentiable ops (ops.h), AdamW/clipping/schedules/EMA (optim.h), threads
 * (threads.h). Modules (ResNet, transformer, UNet) build on these in lib/nn/modules*.
 *
 * A 2-layer MLP, trained one step, then run in inference mode:
 *
 *   nn_params *ps = nn_params_new();
 *   nn_tensor *w1 = nn_param(ps, "mlp.0.weight", 0, NN_DIMS(64, 10));
 *   nn_tensor *b1 = nn_param(ps, "mlp.0.bias", NN_NO_DECAY, NN_DIMS(64));
 *   nn_tensor *w2 = nn_param(ps, "mlp.2.weight", 0, NN_DIMS(3, 64));
 *   nn_tensor *b2 = nn_param(ps, "mlp.2.bias", NN_NO_DECAY, NN_DIMS(3));
 *   nn_init_kaiming_uniform_default(w1, &rng, 10);  nn_init_kaiming_uniform_default(b1, &rng, 10);
 *   nn_init_kaiming_uniform_default(w2, &rng, 64);  nn_init_kaiming_uniform_default(b2, &rng, 64);
 *   nn_adamw opt;  nn_adamw_init(&opt, ps, 1e-3f, 1e-4f);
 *   nn_ctx *c = nn_ctx_new(64 << 20);   nn_ctx_set_rng(c, &rng);
 *   nn_set_threads(2);
 *
 *   for (long step = 0; step < n_steps; step++) {            // training
 *       nn_tensor *x = nn_from(c, batch_x, NN_DIMS(B, 10));
 *       nn_tensor *y = nn_from(c, batch_y, NN_DIMS(B, 3));
 *       nn_tensor *h = nn_relu(c, nn_linear(c, x, w1, b1));
 *       nn_tensor *loss = nn_mse_loss(c, nn_linear(c, h, w2, b2), y);
 *       if (!loss) return -1;                                 // error_get() says which op/shape
 *       nn_params_zero_grad(ps);
 *       if (nn_backward(c, loss) < 0) return -1;
 *       nn_clip_grad_norm(ps, 10.0f);
 *       nn_adamw_step(&opt, nn_lr_cosine(step, 500, n_steps));
 *       nn_ctx_reset(c);                                      // activations, grads, tape gone
 *   }
 *
 *   nn_ctx_set_train(c, 0); nn_ctx_set_record(c, 0);          // inference: no tape, no saves
 *   nn_tensor *out = nn_linear(c, nn_relu(c, nn_linear(c, nn_from(c, x1, NN_DIMS(1, 10)), w1, b1)), w2, b2);
 *   ... read out->data ...; nn_ctx_reset(c);
 *
 * Freeing: nn_ctx_free(c); nn_adamw_free(&opt); nn_params_free(ps).
 */
#ifndef ILT_NN_NN_H
#define ILT_NN_NN_H

#include "nn/tensor.h"
#include "nn/params.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "nn/threads.h"

#endif
