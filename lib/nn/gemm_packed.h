/* gemm_packed.h — products against a weight packed once (gemm_packed.c): the inference path of
 * linear and convolution ops when their weight is frozen (nn_params_freeze, params.h). */
#ifndef ILT_NN_GEMM_PACKED_H
#define ILT_NN_GEMM_PACKED_H

#include <stdint.h>

typedef struct nn_packed nn_packed;

/* The precision a weight is packed in: single (the default), or IEEE binary16 (half the bytes
 * to stream; rounded to nearest even when packed and widened exactly in the product, so a
 * product equals the single-precision one over the weight rounded to binary16). Also the
 * values of nn_params_freeze's freeze (params.h). */
enum { NN_PACK_F32 = 1, NN_PACK_F16 = 2 };

/* Pack W [N, K] (row-major: PyTorch's Linear [out, in], a convolution's [out, in*kh*kw]) in
 * panels for the tile of the kernel variant in effect (nn_kernel: 32 columns on AVX-512, else
 * 16); the packed weight keeps that tile for every product over it. NULL + error_set on failure.
 * nn_pack_weights_step: the same, in the widest layout whose panel width divides col_step (the
 * products will start at multiples of it; 0: any). */
nn_packed *nn_pack_weights(const float *W, int N, int K);   /* single precision */
nn_packed *nn_pack_weights_step(const float *W, int N, int K, int col_step, int precision);
/* The same for the transpose of Wt [K, N] (row-major): W(n, k) = Wt[k * N + n], e.g. a
 * ConvTranspose1d's [in, out*k] weight used as [out*k, in] */
nn_packed *nn_pack_weights_transposed(const float *Wt, int N, int K, int precision);
int nn_packed_precision(const nn_packed *p);   /* NN_PACK_F32 or NN_PACK_F16 */
/* IEEE binary16 from a float (round to nearest even; overflow to infinity; NaN stays NaN) and
 * back (exact) */
uint16_t nn_f16_from_float(float x);
float nn_f16_to_float(uint16_t h);
void nn_packed_free(nn_packed *p);
int nn_packed_rows(const nn_packed *p);   /* N */
int nn_packed_cols(const nn_packed *p);   /* K */
int nn_packed_panel(const nn_packed *p);  /* columns per panel: 32 or 16 */
int nn_packed_panel_now(void);            /* the panel width nn_pack_weights would use now */
/* 1 when p was packed for another variant than the one in effect (packed with this col_step):
 * pack again (nn_kernel_set changed it since) */
int nn_packed_stale(const nn_packed *p, int col_step);

/* C[i, c] (+)= sum_k A(i, k) W[n0 + c, k] (+ bias[c]) for i < M, c < n, where A(i, k) =
 * A[i*ars + k*aks] and C[i, c] = C[i*ldc + c]. Columns [n0, n0 + n) of W; n0 a multiple of the panel width.
 * accumulate = 1 adds to C (bias then ignored), else C is written. Each C element is summed in
 * the same order for any thread count. -1 + error_set on bad columns. */
int nn_gemm_packed(int M, int n0, int n, const float *A, long ars, long aks, const nn_packed *P, const float *bias,
                   float *C, long ldc, int accumulate);

/* The packed copy of a frozen parameter w seen as [N, K], in the precision it was frozen with,
 * made on first use (and again when the variant changed) and kept in w; NULL when w is not frozen, has another size, or could not be packed (use nn_gemm then). */
struct nn_tensor;
const nn_packed *nn_weight_packed(struct nn_tensor *w, int N, int K);
/* the same for w [K, N] used as its transpose [N, K] (nn_pack_weights_transposed) */
const nn_packed *nn_weight_packed_transposed(struct nn_tensor *w, int N, int K);

/* y [M, rows] = x [M, in] W[row0 : row0+rows]^T (+ b[row0 : row0+rows]) for a weight w [out, in]
 * (the forward of linear and linear_rows): over the packed copy when w is frozen, row0 is a
 * multiple of the panel width and M is at most 256 (more rows amortise nn_gemm's own copy of the weight, and
 * its tile is the CPU's widest), else through nn_gemm. -1 + error_set on failure. */
int nn_linear_product(struct nn_tensor *w, int row0, int rows, const float *x, int M, const float *b, float *y);

#endif
