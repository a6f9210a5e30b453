/* winograd.h — 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3), for
 * inference with frozen weights (winograd.c).
 *
 * Each 2x2 block of outputs is computed from a 4x4 input tile with 16 multiplications per
 * channel pair instead of 36: the convolution becomes 16 independent products [tiles, C] x
 * [C, O] over transformed inputs and weights (2.25x fewer multiply-adds than im2col + GEMM).
 * The weight transform is done once, when the weight is frozen (nn_params_freeze), and packed
 * for the packed product (gemm_packed.h). F(2x2, 3x3)'s transforms only add, subtract and
 * halve, so the result differs from the direct convolution by rounding alone (a few float
 * ulps per output, measured in tests/unit/test_nn_winograd.c). Not used in training: there it
 * measured no faster at batch 8 (84x84), and in a train-mode BatchNorm ResNet its rounding
 * (relative to the input tiles, not to the outputs) moved the input gradient 0.4% from
 * PyTorch's, against 1e-5 for the direct convolution. */
#ifndef ILT_NN_WINOGRAD_H
#define ILT_NN_WINOGRAD_H

#include "nn/gemm_packed.h"
#include "nn/kernels.h"

struct nn_tensor;

/* 1 if the convolution g with O output channels runs as F(2x2, 3x3) at inference: a 3x3
 * kernel, stride 1, O a multiple of 16, and an output map the 2x2 tiles cover with little
 * waste, large enough for the transforms to pay (see winograd.c). */
int nn_winograd_suits(const nn_conv_geom *g, int O);

/* The transformed weight of a frozen conv weight w [O, C, 3, 3], packed as [16*O, C] (the 16
 * transform elements' [O, C] blocks one after the other), made on first use and kept in w;
 * NULL when w is not frozen or could not be packed (use the direct convolution then). */
const nn_packed *nn_weight_winograd(struct nn_tensor *w);

/* Scratch floats nn_conv2d_forward_winograd needs for geometry g and O outputs. */
long nn_winograd_work_floats(const nn_conv_geom *g, int O);

/* y [B,O,Ho,Wo] = conv(x [B,C,H,W], w) + b, with U = nn_weight_winograd(w). All samples'
 * tiles go through one product per transform element. -1 + error_set when U does not fit g.
 * Results do not depend on the thread count. */
int nn_conv2d_forward_winograd(const nn_conv_geom *g, int O, const float *x, const nn_packed *U, const float *b,
                               float *y, float *work);

#endif
