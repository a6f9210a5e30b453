/* ops.h — differentiable operations on nn_tensor. Each op checks shapes, computes the forward
 * value into a fresh arena tensor and, when c->record is on and an input requires grad, records
 * a tape node whose backward accumulates (+=) into the inputs' gradients.
 *
 * Conventions: layouts are PyTorch's (NCHW images, [B,C,L] sequences for conv1d, Linear weight
 * [out,in], Conv2d weight [out,in,kh,kw], ConvTranspose1d weight [in,out,k]). Any input may be
 * NULL (an earlier op failed): the op returns NULL. Bad shapes: NULL + error_set.
 * Constant inputs (masks, index lists) are plain C arrays and get no gradient. */
#ifndef ILT_NN_OPS_H
#define ILT_NN_OPS_H

#include "nn/tensor.h"

/* ---------------------------------------------------------------- linear algebra */
/* y[..., out] = x[..., in] @ w[out, in]^T + b[out]   (b may be NULL) */
nn_tensor *nn_linear(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b);
/* Batched matrix product over the leading dims (same leading dims on both, or b 2-D shared):
 * a [..., M, K] (or [..., K, M] with trans_a), b [..., K, N] (or [..., N, K] with trans_b)
 * -> [..., M, N]. */
nn_tensor *nn_matmul(nn_ctx *c, nn_tensor *a, nn_tensor *b, int trans_a, int trans_b);
/* nn_linear through rows [row0, row0+rows) of w (and of b) read in place: y [..., rows]. The
 * q / k / v parts of attention's in_proj_weight without copying it. */
nn_tensor *nn_linear_rows(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int row0, int rows);
/* Multi-head scaled dot-product attention, heads merged:
 *   out[b, i, h*Dh:(h+1)*Dh] = dropout(softmax(Q_bh K_bh^T / sqrt(Dh) + mask)) V_bh
 * where Q_bh is columns [qoff + h*Dh, qoff + (h+1)*Dh) of q [B, Lq, *] (likewise K from k
 * [B, Lk, *] at koff, V from v [B, Lk, *] at voff), Dh = E / heads. q, k and v may be the same
 * tensor (one qkv projection). attn_mask [Lq, Lk] additive or NULL; key_padding [B, Lk]
 * (nonzero = excluded) or NULL; a row with every key masked gives zeros. Dropout on the
 * attention weights in training mode. -> [B, Lq, E]. */
nn_tensor *nn_attention(nn_ctx *c, nn_tensor *q, int qoff, nn_tensor *k, int koff, nn_tensor *v, int voff, int E,
                        int heads, const float *attn_mask, const unsigned char *key_padding, float dropout);

/* ---------------------------------------------------------------- convolutions and pooling */
/* x [B,C,H,W], w [O,C,kh,kw], b [O] or NULL -> [B,O,Ho,Wo]; Ho = (H + 2p - kh)/stride + 1. */
nn_tensor *nn_conv2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding);
/* x [B,C,L], w [O,C,k], b [O] or NULL -> [B,O,Lo]. */
nn_tensor *nn_conv1d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding);
/* x [B,C,L], w [C,O,k] (PyTorch's ConvTranspose1d layout), b [O] or NULL -> [B,O,Lo] with
 * Lo = (L-1)*stride - 2*padding + k (output_padding 0). */
nn_tensor *nn_conv_transpose1d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding);
/* x [B,C,H,W]; padding with -inf as PyTorch. */
nn_tensor *nn_max_pool2d(nn_ctx *c, nn_tensor *x, int kernel, int stride, int padding);
/* count_include_pad=True as PyTorch's default. */
nn_tensor *nn_avg_pool2d(nn_ctx *c, nn_tensor *x, int kernel, int stride, int padding);
/* PyTorch's adaptive bins: start = floor(i*H/oh), end = ceil((i+1)*H/oh). (1,1) = global mean. */
nn_tensor *nn_adaptive_avg_pool2d(nn_ctx *c, nn_tensor *x, int out_h, int out_w);

/* ---------------------------------------------------------------- normalisation */
/* x [B,C,H,W] (or [B,C,L] / [B,C]). c->train: batch statistics (biased var to normalise), and
 * running_mean/var (buffers [C]) updated with momentum (0.1 in PyTorch) using the unbiased var;
 * eval: running statistics. weight/bias [C] (may be NULL for affine=False). */
nn_tensor *nn_batch_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                         nn_tensor *running_mean, nn_tensor *running_var, float momentum, float eps);
/* relu(batch_norm(x) + residual) in one op (residual NULL, or x's shape), train or eval. */
nn_tensor *nn_batch_norm_relu(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias, nn_tensor *running_mean,
                              nn_tensor *running_var, float momentum, float eps, nn_tensor *residual);
/* torchvision FrozenBatchNorm2d: y = (x - rm) * w / sqrt(rv + eps) + b, every [C] tensor frozen
 * (eps 1e-5 as torchvision >= 0.5; DETR used 1e-5 too). Gradient flows to x only. */
nn_tensor *nn_frozen_batch_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                nn_tensor *running_mean, nn_tensor *running_var, float eps);
/* ResNet's FrozenBatchNorm -> (+ residual) -> ReLU in one pass: y = relu(frozen_bn(x) + residual)
 * (residual NULL, or x's shape). Same values as the three ops, half the memory traffic. */
nn_tensor *nn_frozen_batch_norm_relu(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                     nn_tensor *running_mean, nn_tensor *running_var, float eps, nn_tensor *residual);
/* x [B,C,*] (any trailing dims, or none), groups dividing C, weight/bias [C] or NULL. */
nn_tensor *nn_group_norm(nn_ctx *c, nn_tensor *x, int groups, nn_tensor *weight, nn_tensor *bias, float eps);
/* Diffusion Policy's GroupNorm ResNet: y = relu(group_norm(x) + residual) in one op (residual NULL,
 * or x's shape). Same values as the three ops. */
nn_tensor *nn_group_norm_relu(nn_ctx *c, nn_tensor *x, int groups, nn_tensor *weight, nn_tensor *bias, float eps,
                              nn_tensor *residual);
/* Over the last dim D: x [..., D], weight/bias [D] or NULL. */
nn_tensor *nn_layer_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias, float eps);

/* ---------------------------------------------------------------- elementwise */
nn_tensor *nn_relu(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_gelu(nn_ctx *c, nn_tensor *x);       /* erf form (PyTorch default) */
nn_tensor *nn_mish(nn_ctx *c, nn_tensor *x);       /* x * tanh(softplus(x)) */
nn_tensor *nn_silu(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_sigmoid(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_tanh(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_exp(nn_ctx *c, nn_tensor *x);
/* Inverted dropout with probability p of zeroing (mask from c->rng); identity if !c->train or p==0. */
nn_tensor *nn_dropout(nn_ctx *c, nn_tensor *x, float p);
/* Broadcasting add/mul (NumPy rules on right-aligned dims; sizes equal or 1). */
nn_tensor *nn_add(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_sub(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_mul(nn_ctx *c, nn_tensor *a, nn_tensor *b);
/* y = alpha * x + beta */
nn_tensor *nn_scale(nn_ctx *c, nn_tensor *x, float alpha, float beta);

/* ---------------------------------------------------------------- softmax and reductions */
nn_tensor *nn_softmax(nn_ctx *c, nn_tensor *x);       /* over the last dim */
nn_tensor *nn_log_softmax(nn_ctx *c, nn_tensor *x);   /* over the last dim */
/* Attention weights: x [B, heads, Lq, Lk] scores; attn_mask [Lq, Lk] additive (e.g. -inf above
 * the diagonal) or NULL; key_padding [B, Lk] (nonzero = padded key, excluded) or NULL.
 * A row whose keys are all masked gives zeros (PyTorch gives NaN). */
nn_tensor *nn_softmax_masked(nn_ctx *c, nn_tensor *x, const float *attn_mask, const unsigned char *key_padding);
nn_tensor *nn_sum(nn_ctx *c, nn_tensor *x);           /* -> [1] */
nn_tensor *nn_mean(nn_ctx *c, nn_tensor *x);          /* -> [1] */
/* Mean over dim `dim` (dim removed). */
nn_tensor *nn_mean_dim(nn_ctx *c, nn_tensor *x, int dim);

/* ---------------------------------------------------------------- shapes */
/* Same data, new shape (one dim may be -1). No copy in forward. */
nn_tensor *nn_reshape(nn_ctx *c, nn_tensor *x, int ndim, const int *shape);
/* perm[i] = which input dim becomes output dim i (torch.permute). */
nn_tensor *nn_permute(nn_ctx *c, nn_tensor *x, const int *perm);
nn_tensor *nn_transpose(nn_ctx *c, nn_tensor *x, int dim0, int dim1);
/* Concatenate n tensors along dim (other dims equal). */
nn_tensor *nn_concat(nn_ctx *c, nn_tensor **xs, int n, int dim);
/* x[..., start:stop, ...] along dim (copy). Split = several slices. */
nn_tensor *nn_slice(nn_ctx *c, nn_tensor *x, int dim, int start, int stop);
/* Repeat x [1, ...] (or any shape) along dim 0 `times` times: [times*x0, ...]. */
nn_tensor *nn_repeat0(nn_ctx *c, nn_tensor *x, int times);

/* ---------------------------------------------------------------- embeddings and positions */
/* Rows of weight [N, D] picked by idx[0..n) -> [n, D]. Using the whole table as a tensor
 * (DETR's query_embed.weight) needs no op: pass the parameter itself. */
nn_tensor *nn_embedding(nn_ctx *c, nn_tensor *weight, const int *idx, int n);
/* Constant [L, D] table: sin at even, cos at odd columns, angle = pos / 10000^(2i/D)
 * (the ACT/DETR get_sinusoid_encoding_table). */
nn_tensor *nn_sine_table_1d(nn_ctx *c, int length, int dim);
/* Diffusion Policy SinusoidalPosEmb: t [B] -> [B, dim]: first half sin(t*f_i), second cos,
 * f_i = exp(-i*log(10000)/(dim/2-1)). Constant (no gradient to t). */
nn_tensor *nn_sinusoidal_pos_emb(nn_ctx *c, const float *t, int batch, int dim);
/* DETR PositionEmbeddingSine(num_pos_feats = dim/2, temperature 10000, normalize=True,
 * scale 2*pi) for an unpadded H x W map -> constant [1, dim, H, W] (y features first). */
nn_tensor *nn_sine_pos_2d(nn_ctx *c, int dim, int h, int w);

/* ---------------------------------------------------------------- vision heads */
/* robomimic SpatialSoftmax core: x [B,C,H,W] -> [B,C,2] expected (x, y) under softmax(x/T) over
 * H*W, with pos_x, pos_y = linspace(-1, 1) over W and H. */
nn_tensor *nn_spatial_softmax(nn_ctx *c, nn_tensor *x, float temperature);

/* ---------------------------------------------------------------- losses (-> [1]) */
/* ACT: mean over every element of |a-b| * (1 - is_pad[b,t]): a, b [B,T,D], is_pad [B,T] (1 =
 * padded) or NULL. Note: divided by B*T*D (padded entries count in the denominator), exactly
 * as ACT's (all_l1 * ~is_pad.unsqueeze(-1)).mean(). */
nn_tensor *nn_l1_loss_masked(nn_ctx *c, nn_tensor *a, nn_tensor *b, const unsigned char *is_pad);
nn_tensor *nn_mse_loss(nn_ctx *c, nn_tensor *a, nn_tensor *b);
/* ACT kl_divergence: mu, logvar [B, Z]: mean over B of sum over Z of
 * -0.5 * (1 + logvar - mu^2 - exp(logvar)). */
nn_tensor *nn_kl_normal(nn_ctx *c, nn_tensor *mu, nn_tensor *logvar);
/* logits [N, K], labels[N] in [0,K): mean over N of -log_softmax(logits)[label]
 * (IBC InfoNCE = this with the positive's index as label). */
nn_tensor *nn_cross_entropy(nn_ctx *c, nn_tensor *logits, const int *labels);

#endif
