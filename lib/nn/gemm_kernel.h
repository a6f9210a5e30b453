/* gemm_kernel.h — the register tiles under the engine's matrix products (gemm_tiles.c) and the
 * choice among them, made once per process from the CPU (cpuid through __builtin_cpu_supports)
 * and the ILT_KERNEL environment variable (kernels.h). Used by gemm.c (general products) and
 * gemm_packed.c (products against a weight packed once). */
#ifndef ILT_NN_GEMM_KERNEL_H
#define ILT_NN_GEMM_KERNEL_H

#include "nn/kernels.h"

#include <stdint.h>

/* tile(): C[mr, nv] (+)= alpha A[MR, kc] B[kc, NR] for one register tile of MR rows and NR
 * columns. A packed [kc][MR] (rows past mr are zeros), B [kc][NR], both 64-byte aligned.
 * load = 1 adds to C's values; else C is written, plus bias (nv values, or NULL). Each element
 * is summed over k in order, one FMA per k, then multiplied by alpha (skipped when alpha is 1).
 * The first k steps also prefetch npf lines of 64 bytes from pf into L2 (the packed weights'
 * next block; 0 for none), at the rate the tile reads B: the 6x16 AVX2 tile one line per k step
 * (npf rounded up to 4), the 32-column ones two (rounded up to 2); the portable one ignores them. */
typedef void nn_tile_fn(int mr, int kc, const float *a, const float *b, float *c, long ldc, int nv, int load,
                        float alpha, const float *bias, const float *pf, int npf);

/* tile_h(): tile() with B [kc][NR] in IEEE binary16 (a weight packed in half precision,
 * gemm_packed.c), each value widened exactly in the register: the same sums in the same order as
 * tile() over B widened, so the same bits. Prefetch: one 64-byte line per k step. */
typedef void nn_tile_h_fn(int mr, int kc, const float *a, const uint16_t *b, float *c, long ldc, int nv, int load,
                          float alpha, const float *bias, const void *pf, int npf);

/* tile_b(): the same with B read in place, row k of the NR columns at b + k * ldb (any alignment),
 * no bias and no prefetch; the same sums in the same order as tile() over a packed copy of B */
typedef void nn_tile_b_fn(int mr, int kc, const float *a, const float *b, long ldb, float *c, long ldc, int nv,
                          int load, float alpha);

/* tile_a(): the same with A read in place, row r of the tile at a + r * lda (rows of op(A) that
 * lie along k: A not transposed), B packed, no bias and no prefetch; the same sums in the same
 * order as tile() over a packed copy of A */
typedef void nn_tile_a_fn(int mr, int kc, const float *a, long lda, const float *b, float *c, long ldc, int nv,
                          int load, float alpha);

/* tile_as(): tile_a over A's stored columns in runs (nn_runs): k in [0, first) at a + k, then
 * runs of len, run s (s >= 1) at a + first - len + s * stride; the same sums in the same order
 * as tile() over a packed copy of A */
typedef void nn_tile_as_fn(int mr, int kc, const float *a, long lda, int first, long len, long stride, const float *b,
                           float *c, long ldc, int nv, int load, float alpha);

typedef struct {
    int mr, nr;          /* the tile's rows and columns */
    int kc, nc;          /* blocking: K per packed block, columns per packed B block */
    nn_tile_fn *tile;
    nn_tile_b_fn *tile_b;   /* NULL: B is always copied into panels (the 256-bit and portable tiles: the
                             * 6x16 AVX2 tile reading B in place, 64 bytes of a new row every 6 cycles,
                             * measured up to 2x slower than over the copy on Zen 5) */
    nn_tile_a_fn *tile_a;   /* NULL: A is always copied into tiles */
    nn_tile_as_fn *tile_as; /* NULL: A in runs is always copied into tiles */
    nn_tile_h_fn *tile_h;   /* NULL: a binary16 block is widened into a float copy for tile() */
} nn_tile_kernel;

/* The tile for a variant, of general products (gemm.c) and of the weights packed once
 * (gemm_packed.c, whose panel layout follows the tile's nr x mr): 12x32 on 512-bit registers,
 * 6x16 on 256-bit ones, 6x16 in plain C; under "openblas" the widest the CPU has. */
const nn_tile_kernel *nn_tile_general(int variant);
/* A tile of t's columns on at most 6 rows (6x32 for the 12x32 one), for products of few rows;
 * t itself when it is that short already */
const nn_tile_kernel *nn_tile_short(const nn_tile_kernel *t);
/* The tile a product over a weight packed for t (gemm_packed.c) runs for M rows: over at most 16
 * rows on 512-bit registers the one of 4, 6, 8 or 12 rows that pads M least (the taller of
 * equals); else t or nn_tile_short(t), whichever pads M less. All of t's column width, so the
 * same sums in the same order. */
const nn_tile_kernel *nn_tile_packed(const nn_tile_kernel *t, int M);

/* Whether the 512-bit tiles read a non-transposed B where it lies (gemm.c's b_in_place): as
 * nn_gemm_b_in_place (kernels.h) sets it, else from the CPU found with the variant (AMD: yes). */
int nn_tile_b_in_place(void);

/* dst[k * W + r] = src[r * lds + k] for r < rows, k < kc, and 0 for rows <= r < W: `rows` rows
 * of an operand laid out along k, transposed into a tile or panel W wide (gemm.c; 8x8 and 4x4
 * blocks through vector registers). */
void nn_pack_transposed(const float *src, long lds, int rows, int kc, int W, float *dst);

#endif
