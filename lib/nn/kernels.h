/* kernels.h — plain kernels over float* with explicit sizes, used by the ops and timed by the
 * benchmarks. Backward kernels accumulate (+=) into gradients. Shapes in comments. */
#ifndef ILT_NN_KERNELS_H
#define ILT_NN_KERNELS_H

/* C[M,N] = alpha * op(A) op(B) + beta * C, row-major (cblas_sgemm's arguments), on the engine's
 * own blocked kernel (gemm.c) over the pool's threads: one slice of C per thread. Each element
 * of C is summed in one order for a given kernel variant whatever the thread count: results are
 * bit-identical on 1 and N threads. beta = 0 writes C without reading it. Code multiplies
 * through nn_gemm or the ops (nn_gemm_serial inside a task of our pool). A benchmark that wants
 * OpenBLAS's own threaded rate calls cblas_sgemm with openblas_set_num_threads around it. */
void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* The same on the calling thread only (for products inside a parallel loop). */
void nn_gemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);

/* An operand whose stored columns lie in runs: column j of the stored matrix [rows, cols] is at
 * (j / len) * stride + j % len from its row's start (row i at i * ld, ld >= len). A convolution's
 * gradient dy [B,O,P] is dy^T's [O, B*P] in runs of P, stride O*P: the products read it where it
 * lies instead of from a copy (nn_gather_obp). len = 0: the plain layout. */
typedef struct nn_runs { long len, stride; } nn_runs;
/* nn_gemm with A's and/or B's stored columns in runs (NULL: plain); the same bits as nn_gemm on
 * gathered copies. For where nn_gemm_runs_suit() is 1 (a tile variant, not OpenBLAS); on
 * OpenBLAS it still gives the product, one element at a time. */
int nn_gemm_runs_suit(void);
void nn_gemm_runs(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const nn_runs *ar, const float *B, int ldb, const nn_runs *br, float beta, float *C, int ldc);

/* The product's kernel variant, chosen once per process: the widest the CPU supports
 * (__builtin_cpu_supports), or a narrower one forced by the environment variable
 *   ILT_KERNEL=avx512|avx2|portable|openblas
 * (a variant the CPU lacks falls back to the widest it has; an unknown name is reported on
 * stderr once and ignored). avx512: a 12x32 tile of AVX-512F FMAs; avx2: a 6x16 tile of AVX2
 * FMAs; portable: a 6x16 tile in plain C; openblas: the general product calls OpenBLAS's
 * cblas_sgemm on each thread's slice of C (the reference), and the packed-weight products use
 * the widest variant. */
enum { NN_KERNEL_PORTABLE, NN_KERNEL_AVX2, NN_KERNEL_AVX512, NN_KERNEL_OPENBLAS, NN_KERNEL_COUNT };
int nn_kernel(void);                          /* the variant in effect */
const char *nn_kernel_name(int variant);      /* "avx512", "avx2", "portable", "openblas" */
int nn_kernel_supported(int variant);         /* 1 if this CPU runs the variant */
/* Switch the variant (tests and benchmarks; not while a product runs). -1 + error_set if the
 * CPU does not run it. */
int nn_kernel_set(int variant);
/* Whether products read a non-transposed B's panels where B lies instead of copying them (gemm.c's
 * b_in_place; the same bits either way): -1 as the CPU suits (AMD: in place; others: copied), 0
 * never, 1 wherever the tile can. Returns the previous setting (tests and benchmarks; not while
 * a product runs). */
int nn_gemm_b_in_place(int mode);

/* One row of a (masked) softmax: y = softmax(x + am) over D entries, entries with pad[k] set
 * excluded (am, pad may be NULL); log: log-softmax. A row with every entry masked gives zeros. */
void nn_softmax_row(float *y, const float *x, long D, const float *am, const unsigned char *pad, int log);
/* The exponential nn_softmax_row uses (ops_softmax.c): about 2 ulp for x <= 88, 0 below -87.33. */
float nn_exp_softmax(float x);

/* y[m, :] = b for each of the M rows of y [M,N] (the bias a linear's product then adds to). */
void nn_bias_rows(float *y, const float *b, int M, int N);
/* db[n] += sum over m of dy[m, n], dy [M,N]; each db[n] summed in row order (any thread count). */
void nn_bias_grad(float *db, const float *dy, int M, int N);

/* Convolution geometry (2-D; 1-D is H = kh = 1, ph = 0, sh = 1). */
typedef struct nn_conv_geom {
    int B, C, H, W;        /* input */
    int kh, kw, sh, sw, ph, pw;
    int Ho, Wo;            /* output */
} nn_conv_geom;

/* cols [C*kh*kw, B*Ho*Wo] from x [B,C,H,W] (zero padding); parallel over rows. */
void nn_im2col(const nn_conv_geom *g, const float *x, float *cols);
/* dx [B,C,H,W] += scatter of dcols [C*kh*kw, B*Ho*Wo]; parallel over channels. */
void nn_col2im_add(const nn_conv_geom *g, const float *dcols, float *dx);
/* y [B,O,P] (+)= t [O, B*P] (add = 1 accumulates); bias[O] added if non-NULL. */
void nn_scatter_obp(int B, int O, long P, const float *t, const float *bias, float *y, int add);
/* t [O, B*P] = y [B,O,P] */
void nn_gather_obp(int B, int O, long P, const float *y, float *t);

/* C[M, N] = alpha A op(B) + beta C (A [M, K] row-major, lda) where B = cols, the column matrix
 * nn_im2col(g, x) would write ([C*kh*kw, B*Ho*Wo]; trans_b 0: op(B) = cols, K = C*kh*kw,
 * N = B*Ho*Wo, a forward; trans_b 1: op(B) = cols^T, K = B*Ho*Wo, N = C*kh*kw, a weight
 * gradient), without writing it: the product packs its panels straight from x. The same bits
 * as nn_im2col followed by nn_gemm (threaded 1) or nn_gemm_serial (0). For where
 * nn_gemm_conv_suits(trans_b, M, g) is 1: the AVX-512 tile in effect (the panels are packed by
 * AVX-512 loads and gathers), x small enough for 32-bit offsets, and a shape nn_gemm would not
 * compute transposed; on another tile it still gives the product, one element at a time. */
int nn_gemm_conv_suits(int trans_b, int M, const nn_conv_geom *g);
void nn_gemm_conv(int threaded, int trans_b, int M, float alpha, const float *A, int lda, const nn_conv_geom *g,
                  const float *x, float beta, float *C, int ldc);
/* The same with A's columns in runs (ar, as nn_gemm_runs; NULL: plain) */
void nn_gemm_conv_runs(int threaded, int trans_b, int M, float alpha, const float *A, int lda, const nn_runs *ar,
                       const nn_conv_geom *g, const float *x, float beta, float *C, int ldc);

/* The convolution backward reads dy in runs (no gathered copy) for maps of at least p positions
 * (tests and benchmarks; 0 or 1: always, a huge p: never). */
void nn_conv_dy_runs_min_p(long p);

/* y[B,O,Ho,Wo] = conv(x[B,C,H,W], w[O,C,kh,kw]) + b[O]; work: C*kh*kw * B*Ho*Wo + O*B*Ho*Wo floats. */
void nn_conv2d_forward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *b,
                       float *y, float *work);
/* Accumulates dx (may be NULL), dw (may be NULL), db (may be NULL). Same work size. dx_fresh:
 * dx holds no values yet (uninitialised): it is written, not accumulated. */
void nn_conv2d_backward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *dy,
                        float *dx, int dx_fresh, float *dw, float *db, float *work);
long nn_conv2d_work_floats(const nn_conv_geom *g, int O);
/* The forward with the weight packed once (gemm_packed.h; frozen parameters): sample by sample,
 * each an im2col and a packed product into positions x channels, transposed into y.
 * work: nn_conv2d_packed_work_floats. -1 + error_set if wp is not [O, C*kh*kw]. */
struct nn_packed;
int nn_conv2d_forward_packed(const nn_conv_geom *g, int O, const float *x, const struct nn_packed *wp,
                             const float *b, float *y, float *work);
long nn_conv2d_packed_work_floats(const nn_conv_geom *g, int O);

#endif
