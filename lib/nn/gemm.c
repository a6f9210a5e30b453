/* gemm.c — the engine's single-precision matrix product C = alpha op(A) op(B) + beta C
 * (nn_gemm, kernels.h): the products of training (a linear's forward x W^T and its backward
 * dX = dY W and dW = dY^T X, matmul, im2col convolutions) on the register tile of the variant in
 * effect (gemm_tiles.c: 12x32 AVX-512, 6x16 AVX2, 6x16 plain C).
 *
 * Blocking (per thread, over its slice of C): K in blocks of at most kc (equal blocks: K = 520
 * is two of 260, not 256 + 256 + 8), columns in blocks of nc. op(A)'s rows are copied once into
 * tiles of MR rows [kc][MR] per K block; for each column block of a K block, op(B) into
 * panels of NR columns [kc][NR] (zero-padded), sized to stay in L2; then each row tile, staying
 * in L1 (its values are broadcast one at a time), passes over every panel of the B block, whose
 * vectors stream from L2 (the loop order of BLIS, with the broadcast operand in L1). Each
 * operand is copied once per product (copying A again for every column block was 15% of an
 * [800, 512] x [512, 3200] product). Each element of C is summed over its K blocks in order,
 * and within a block in k order by one FMA chain; the first block writes C (beta = 0) or adds
 * to it, the later ones add. So an element's value depends on K and the variant only, not on
 * where the slices and blocks fall: any thread count gives the same bits. A product whose shape
 * fits the tile much better transposed runs as C^T = op(B)^T op(A)^T (swap_pays), same bits.
 *
 * Threads: one slice of C per pool thread, whole tiles of rows when M >= N (each thread then
 * copies all of B) or of columns otherwise (each copies all of A): the copied operand is the
 * smaller one. Products under 4 MFLOP run on the calling thread. ILT_KERNEL=openblas sends each
 * slice to OpenBLAS's cblas_sgemm instead (kernels.h), in pieces of 64 rows or columns at fixed
 * places, for the same bits on any thread count.
 *
 * nn_gemm_conv: the same product with op(B) a convolution's column matrix that is never
 * written; its panels are gathered from the convolution's input (pack_cols_conv). */
#include "nn/gemm_kernel.h"
#include "nn/kernels.h"
#include "nn/scratch.h"
#include "nn/threads.h"

#include <cblas.h>
#ifdef __SSE__
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, by_rows, unit;
    float alpha, beta;
    const float *A, *B;
    float *C;
    const nn_tile_kernel *T;   /* NULL: OpenBLAS */
    const nn_conv_geom *conv;  /* non-NULL: B is a convolution's input x, op(B) its column matrix (nn_gemm_conv) */
    nn_runs ar, br;            /* the stored columns of A and B in runs (len 0: plain) */
} gemm_job;

/* where column j of a stored row lies, from the row's start */
static inline long col_at(const nn_runs *r, long j) { return r->len ? j / r->len * r->stride + j % r->len : j; }

/* the columns [j, j + n) of a stored row as they lie: up to the end of j's run */
static inline int run_piece(const nn_runs *r, long j, int n)
{
    if (!r->len) return n;
    long left = r->len - j % r->len;
    return left < n ? (int)left : n;
}

/* Per-thread copies of the operands, grown as needed, kept between products and freed when
 * their thread exits (scratch.h). */
static __thread nn_scratch pack_a, pack_b;

/* dst[k][r] = src[r * lds + k] for r < rows, k < kc, and 0 for rows <= r < W: `rows` rows of
 * an operand laid out along k, transposed into a tile or panel W wide. 8x8 blocks go through
 * AVX registers, 4x4 ones through SSE (a scalar loop stored one float per cycle with a W-float
 * stride, and was a sixth of a product's time). */
#ifdef __AVX__
/* an 8x8 block: dst[k * W + r] = src[r * lds + k] for r, k < 8 */
static inline void transpose8(const float *src, long lds, float *dst, int W)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
           r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds),
           r5 = _mm256_loadu_ps(src + 5 * lds), r6 = _mm256_loadu_ps(src + 6 * lds),
           r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + W, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * W, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * W, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * W, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * W, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * W, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * W, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

void nn_pack_transposed(const float *src, long lds, int rows, int kc, int W, float *dst)
{
    int r = 0;
#ifdef __AVX__
    /* 8x8 blocks through AVX registers where 8 rows and 8 k remain, the rest as below */
    for (; r + 8 <= rows; r += 8) {
        const float *s = src + r * lds;
        int k = 0;
        for (; k + 8 <= kc; k += 8) transpose8(s + k, lds, dst + (size_t)k * W + r, W);
        for (; k < kc; k++) {
            float *d = dst + (size_t)k * W + r;
            for (int i = 0; i < 8; i++) d[i] = s[i * lds + k];
        }
    }
#endif
#ifdef __SSE__
    for (; r + 4 <= rows; r += 4) {
        const float *s0 = src + r * lds, *s1 = s0 + lds, *s2 = s1 + lds, *s3 = s2 + lds;
        int k = 0;
        for (; k + 4 <= kc; k += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + k), x1 = _mm_loadu_ps(s1 + k), x2 = _mm_loadu_ps(s2 + k),
                   x3 = _mm_loadu_ps(s3 + k);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float *d = dst + (size_t)k * W + r;
            _mm_storeu_ps(d, x0);
            _mm_storeu_ps(d + W, x1);
            _mm_storeu_ps(d + 2 * W, x2);
            _mm_storeu_ps(d + 3 * W, x3);
        }
        for (; k < kc; k++) {
            float *d = dst + (size_t)k * W + r;
            d[0] = s0[k];
            d[1] = s1[k];
            d[2] = s2[k];
            d[3] = s3[k];
        }
    }
    /* two rows (a 6-row tile's last two), 4 k at a time: interleaved pairs, 8 bytes per k */
    for (; r + 2 <= rows; r += 2) {
        const float *s0 = src + r * lds, *s1 = s0 + lds;
        int k = 0;
        for (; k + 4 <= kc; k += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + k), x1 = _mm_loadu_ps(s1 + k);
            __m128 lo = _mm_unpacklo_ps(x0, x1), hi = _mm_unpackhi_ps(x0, x1);
            float *d = dst + (size_t)k * W + r;
            _mm_storel_pi((__m64 *)d, lo);
            _mm_storeh_pi((__m64 *)(d + W), lo);
            _mm_storel_pi((__m64 *)(d + 2 * W), hi);
            _mm_storeh_pi((__m64 *)(d + 3 * W), hi);
        }
        for (; k < kc; k++) {
            float *d = dst + (size_t)k * W + r;
            d[0] = s0[k];
            d[1] = s1[k];
        }
    }
#endif
    for (; r < rows; r++) {
        const float *s = src + r * lds;
        for (int k = 0; k < kc; k++) dst[(size_t)k * W + r] = s[k];
    }
    for (; r < W; r++)
        for (int k = 0; k < kc; k++) dst[(size_t)k * W + r] = 0.0f;
}

/* d[0..n) = s[0..n), zeros up to W. Whole rows of 32 or 16 floats (the panels) go through a
 * fixed-size memcpy, which GCC inlines as 16-byte moves (32-byte AVX moves measured no faster on
 * a ResNet18 block: the panel stores are the limit); a row tile's 12 or 6 (op(A) transposed) moves
 * through SSE registers instead of a libc call per 48 bytes (measured on one Zen 5 core: the
 * [3200, 512] x K 800 weight gradient 170 -> 182 GFLOP/s; SSE for the 32-float rows cost the
 * ResNet18 forwards 8-12%). */
static inline void copy_row(float *d, const float *s, int n, int W)
{
    if (n == W && W == 32) memcpy(d, s, 32 * sizeof(float));
    else if (n == W && W == 16) memcpy(d, s, 16 * sizeof(float));
#ifdef __SSE__
    else if (n == W) {
        int c = 0;
        for (; c + 4 <= W; c += 4) _mm_storeu_ps(d + c, _mm_loadu_ps(s + c));
        for (; c < W; c++) d[c] = s[c];
    }
#endif
    else {
        memcpy(d, s, (size_t)n * sizeof(float));
        for (int c = n; c < W; c++) d[c] = 0.0f;
    }
}

/* d[0..n) = the stored row's columns [j0, j0 + n) (in runs r), zeros up to W */
static inline void copy_row_runs(float *d, const float *row, const nn_runs *r, long j0, int n, int W)
{
    if (!r->len) {
        copy_row(d, row + j0, n, W);
        return;
    }
    int c = 0;
    for (int q; c < n; c += q) {
        q = run_piece(r, j0 + c, n - c);
        memcpy(d + c, row + col_at(r, j0 + c), (size_t)q * sizeof(float));
    }
    for (; c < W; c++) d[c] = 0.0f;
}

/* op(A) rows [i0, i0+m) x all of K into tiles of MR rows, K block by K block: the block at k0
 * (kc deep) at dst + k0 * round_up(m, MR), as [tiles][kc][MR]. All of K at once, so that A is
 * read along its rows in one pass (per K block, the rows' short runs defeated the prefetcher:
 * the copy of an [800, 3200] A was 12% of its product). */
static void pack_rows(const gemm_job *j, int i0, int m, int KC, float *dst)
{
    const int MR = j->T->mr, K = j->K, mp = (m + MR - 1) / MR * MR;
    if (j->ta) {   /* op(A)(i, k) = A[k, i]: row k of A holds a stretch of every tile */
        for (int k = 0; k < K; k++) {
            int k0 = k / KC * KC, kc = K - k0 < KC ? K - k0 : KC;
            const float *a = j->A + (size_t)k * j->lda;
            float *d = dst + (size_t)k0 * mp + (size_t)(k - k0) * MR;
            for (int t = 0; t < m; t += MR) copy_row_runs(d + (size_t)t * kc, a, &j->ar, i0 + t, m - t < MR ? m - t : MR, MR);
        }
        return;
    }
    for (int t = 0; t < m; t += MR)
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            for (int q = 0, n; q < kc; q += n) {   /* the columns of A as they lie, run by run */
                n = run_piece(&j->ar, k0 + q, kc - q);
                nn_pack_transposed(j->A + (size_t)(i0 + t) * j->lda + col_at(&j->ar, k0 + q), j->lda,
                                   m - t < MR ? m - t : MR, n, MR, dst + (size_t)k0 * mp + (size_t)t * kc + (size_t)q * MR);
            }
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_GATHER 1
/* The lanes of one 16-position group whose window corners lie in one row of x, consecutively
 * (stride 1 along the row): their values for any (c, ki, kj) are one contiguous stretch of x */
typedef struct { int n; __mmask16 mask[4]; int off[4]; } conv_runs;

/* The group's runs from its lanes' corner offsets (base) and rows (iy0); n = 0 when more than
 * four (short rows: layer4's 3-wide maps) or the stride is not 1 */
static void conv_group_runs(const nn_conv_geom *g, const int *iy0, const int *base, int valid, conv_runs *r)
{
    r->n = 0;
    if (g->sw != 1) return;
    for (int l = 0; l < valid; l++) {
        if (l > 0 && iy0[l] == iy0[l - 1] && base[l] == base[l - 1] + 1) {
            r->mask[r->n - 1] |= (__mmask16)(1u << l);
            continue;
        }
        if (r->n == 4) { r->n = 0; return; }
        r->mask[r->n] = (__mmask16)(1u << l);
        r->off[r->n++] = base[l] - l;   /* lane l reads x[off + l] */
    }
}

/* Rows [r0, r0+nr) x columns [n0, n0+nv) (nv <= 32) of a convolution's column matrix
 * cols [C*kh*kw, B*Ho*Wo] (row r = (c, ki, kj), column n = (b, oy, ox),
 * cols[r][n] = x[b][c][oy*sh - ph + ki][ox*sw - pw + kj]) read straight from x into
 * out [nr][32] (columns past nv zero). Each 16 positions of a row are one masked AVX-512
 * gather, or, where they lie in at most four stretches of x's rows (stride 1 and rows long
 * enough), as many masked loads (about a fifth of a gather's time each); lanes whose input
 * element lies in the padding are zero. */
__attribute__((target("avx512f"))) static void conv_cols_block(const nn_conv_geom *g, const float *x, int n0, int nv,
                                                              int r0, int nr, float *out)
{
    const int kk = g->kh * g->kw, P = g->Ho * g->Wo, HW = g->H * g->W;
    const long CHW = (long)g->C * HW;
    const __m512i Hv = _mm512_set1_epi32(g->H), Wv = _mm512_set1_epi32(g->W);
    const __m512 zero = _mm512_setzero_ps();
    /* per lane (a position): its window's corner and the corner's offset in x */
    int iy0[32] __attribute__((aligned(64))), ix0[32] __attribute__((aligned(64))), base[32] __attribute__((aligned(64)));
    conv_runs runs[2];
    for (int l = 0; l < 32; l++) {
        if (l >= nv) { iy0[l] = ix0[l] = -(1 << 28); base[l] = 0; continue; }   /* never inside */
        int n = n0 + l, b = n / P, q = n % P, oy = q / g->Wo, ox = q % g->Wo;
        iy0[l] = oy * g->sh - g->ph;
        ix0[l] = ox * g->sw - g->pw;
        base[l] = (int)(b * CHW + (long)iy0[l] * g->W + ix0[l]);
    }
    for (int h = 0; h < 2; h++) {
        int valid = nv - 16 * h;
        conv_group_runs(g, iy0 + 16 * h, base + 16 * h, valid > 16 ? 16 : valid > 0 ? valid : 0, &runs[h]);
    }
    const __m512i ya = _mm512_load_si512(iy0), yb = _mm512_load_si512(iy0 + 16), xa = _mm512_load_si512(ix0),
                  xb = _mm512_load_si512(ix0 + 16), ba = _mm512_load_si512(base), bb = _mm512_load_si512(base + 16);
    int c = r0 / kk, ki = r0 % kk / g->kw, kj = r0 % g->kw;
    for (int k = 0; k < nr; k++, out += 32) {
        const int o = c * HW + ki * g->W + kj;
        const __m512i ky = _mm512_set1_epi32(ki), kx = _mm512_set1_epi32(kj), off = _mm512_set1_epi32(o);
        /* 0 <= iy < H and 0 <= ix < W, as one unsigned compare each */
        __mmask16 m[2] = { _mm512_cmplt_epu32_mask(_mm512_add_epi32(ya, ky), Hv) &
                               _mm512_cmplt_epu32_mask(_mm512_add_epi32(xa, kx), Wv),
                           _mm512_cmplt_epu32_mask(_mm512_add_epi32(yb, ky), Hv) &
                               _mm512_cmplt_epu32_mask(_mm512_add_epi32(xb, kx), Wv) };
        for (int h = 0; h < 2; h++) {
            const conv_runs *r = &runs[h];
            __m512 v = zero;
            if (r->n)
                for (int i = 0; i < r->n; i++) v = _mm512_mask_loadu_ps(v, m[h] & r->mask[i], x + r->off[i] + o);
            else v = _mm512_mask_i32gather_ps(zero, m[h], _mm512_add_epi32(h ? bb : ba, off), x, 4);
            _mm512_store_ps(out + 16 * h, v);
        }
        if (++kj == g->kw) {
            kj = 0;
            if (++ki == g->kh) { ki = 0; c++; }
        }
    }
}

/* op(B) rows [k0, k0+kc) x columns [n0, n0+nc) of a product over a convolution's column matrix
 * (j->conv; x is j->B) into panels of 32 columns, straight from x: the values nn_im2col writes,
 * so the product's bits are the same, without the column matrix's trip through memory (9x the
 * input for a 3x3 kernel: 13 MB for layer3 of a ResNet18 at batch 64, 76x76). !tb: op(B) = cols,
 * a panel's rows are conv_cols_block's rows; tb: op(B) = cols^T (a weight gradient), each 32x32
 * block of a panel is conv_cols_block's transposed (through L1). */
static void pack_cols_conv(const gemm_job *j, int n0, int nc, int k0, int kc, float *dst)
{
    if (!j->tb) {
        for (int p = 0; p < nc; p += 32)
            conv_cols_block(j->conv, j->B, n0 + p, nc - p < 32 ? nc - p : 32, k0, kc, dst + (size_t)p * kc);
        return;
    }
    float block[32 * 32] __attribute__((aligned(64)));
    for (int p = 0; p < nc; p += 32) {
        int nr = nc - p < 32 ? nc - p : 32;
        for (int q = 0; q < kc; q += 32) {
            int nv = kc - q < 32 ? kc - q : 32;
            conv_cols_block(j->conv, j->B, k0 + q, nv, n0 + p, nr, block);
            nn_pack_transposed(block, 32, nr, nv, 32, dst + (size_t)p * kc + (size_t)q * 32);
        }
    }
}
#endif

/* op(B) rows [k0, k0+kc) x columns [n0, n0+nc) into panels of NR columns: dst [panels][kc][NR] */
static void pack_cols(const gemm_job *j, int n0, int nc, int k0, int kc, float *dst)
{
    const int NR = j->T->nr;
#ifdef CONV_GATHER
    if (j->conv) {
        pack_cols_conv(j, n0, nc, k0, kc, dst);
        return;
    }
#endif
    if (!j->tb) {   /* op(B)(k, n) = B[k, n]: each row of B in one pass over the panels */
        for (int k = 0; k < kc; k++) {
            const float *b = j->B + (size_t)(k0 + k) * j->ldb;
            for (int p = 0; p < nc; p += NR)
                copy_row_runs(dst + (size_t)p * kc + (size_t)k * NR, b, &j->br, n0 + p, nc - p < NR ? nc - p : NR, NR);
        }
        return;
    }
    for (int p = 0; p < nc; p += NR)
        for (int q = 0, n; q < kc; q += n) {   /* the columns of B as they lie, run by run */
            n = run_piece(&j->br, k0 + q, kc - q);
            nn_pack_transposed(j->B + (size_t)(n0 + p) * j->ldb + col_at(&j->br, k0 + q), j->ldb,
                               nc - p < NR ? nc - p : NR, n, NR, dst + (size_t)p * kc + (size_t)q * NR);
        }
}

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* op(B)(k, n) of a product over a convolution's column matrix (j->conv), from x */
static float conv_cols_at(const gemm_job *j, long k, long n)
{
    const nn_conv_geom *g = j->conv;
    long P = (long)g->Ho * g->Wo;
    if (j->tb) { long t = k; k = n; n = t; }   /* op(B) = cols^T */
    int kk = g->kh * g->kw, c = (int)(k / kk), ki = (int)(k % kk / g->kw), kj = (int)(k % g->kw);
    long b = n / P, oy = n % P / g->Wo, ox = n % g->Wo;
    long iy = oy * g->sh - g->ph + ki, ix = ox * g->sw - g->pw + kj;
    if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) return 0.0f;
    return j->B[((b * g->C + c) * g->H + iy) * g->W + ix];
}

/* op(A)(i, k) and op(B)(k, n) wherever and however they lie */
static float a_at(const gemm_job *j, long i, long k)
{
    return j->ta ? j->A[k * j->lda + col_at(&j->ar, i)] : j->A[i * j->lda + col_at(&j->ar, k)];
}

static float b_at(const gemm_job *j, long k, long n)
{
    if (j->conv) return conv_cols_at(j, k, n);
    return j->tb ? j->B[n * j->ldb + col_at(&j->br, k)] : j->B[k * j->ldb + col_at(&j->br, n)];
}

/* C rows [i0, i1) x columns [n0, n1) without copies (no memory for them, or no other way to read
 * the operands), in k order like the tile */
static void rows_direct(const gemm_job *j, int i0, int i1, int n0, int n1)
{
    for (int i = i0; i < i1; i++)
        for (int n = n0; n < n1; n++) {
            float *c = j->C + (size_t)i * j->ldc + n, s = 0.0f;
            for (int k = 0; k < j->K; k++) s = fmaf(a_at(j, i, k), b_at(j, k, n), s);
            *c = j->alpha * s + (j->beta == 0.0f ? 0.0f : j->beta * *c);
        }
}

/* Whether the tile reads op(B)'s whole panels where B lies (tile_b) instead of from copies: B
 * not transposed (each of its rows holds a k row of every panel), not a convolution's, a slice
 * of at most B_IN_PLACE_ROWS rows, on a CPU where it pays (nn_tile_b_in_place). Copying B costs a
 * read and a write per element whatever the slice's rows; the product does 2 x rows FLOP per
 * element: for a linear's data gradient at 88 tokens (dX = dY W, B the weight) the copies of W
 * were a tenth of an ACT encoder layer's training step (perf). In place, a 32-float stretch of
 * each of kc rows, ldb apart, stays in L2 for the passes of the slice's row tiles as the copy
 * did; a row length that is a multiple of 1024 floats would put those stretches in a few of
 * L2's sets (1 MB, 16-way), so it is copied. Measured on Zen 5, two threads, interleaved
 * (results.md 2026-12-06): the encoder layer's step 10.2-11.6 -> 9.1-10.8 ms, the decoder
 * layer's (800 rows) 82-101 -> 81-92, ResNet18 convolutions (data gradients of 576-4608 rows)
 * unchanged; over 1024 rows not measured as a gain, so those keep the copy. On an Intel Xeon
 * with AVX-512 (results.md 2026-12-07) the same reads cost: the ACT data and weight gradients
 * 135-145 -> 168-178 GFLOP/s on one thread with the copy, the paper ACT step 1165 -> 1084 ms,
 * ResNet18 blocks 7-9%; each row of a stretch is a new page there, beyond the L1 prefetcher.
 * So B is read in place on AMD CPUs only, unless nn_gemm_b_in_place says otherwise. Same FMAs
 * in the same order either way: the same bits. */
#define B_IN_PLACE_ROWS 1024
static int b_in_place(const gemm_job *j, int rows)
{
    return rows <= B_IN_PLACE_ROWS && j->T->tile_b && !j->tb && !j->conv && !j->br.len && j->ldb % 1024 != 0 &&
           nn_tile_b_in_place();
}

/* Whether the tile reads op(A)'s rows where A lies (tile_a) instead of from a copy: A not
 * transposed (each row of A is a row of op(A) along k) and B copied into panels. The copy
 * transposes A into [kc][MR] tiles (nn_pack_transposed) and writes all of the slice's rows x K
 * before the first tile runs; for a product of long K and few columns that is a trip through
 * memory per element for a handful of uses: a ResNet18 weight gradient computed as C^T (the
 * column matrix as A: [576, 46208] for layer1 at batch 128, 76x76, against 64 columns) spent a
 * fifth of its time there (perf). In place, a tile's 12 rows are 12 streams along k, each
 * broadcast from where it lies. Measured on Zen 5, two threads, alternating builds (results.md
 * 2026-12-06): layer1 and conv1 forward + backward 1.18-1.19x, all ResNet18 convolutions 1.09x,
 * the transformer and UNet blocks the same or faster. Same FMAs in the same order: the same bits. */
static int a_in_place(const gemm_job *j, int rows)
{
    return (j->ar.len ? j->T->tile_as != NULL : j->T->tile_a != NULL) && !j->ta && !b_in_place(j, rows);
}

/* C rows [i0, i1) x columns [n0, n1) on the tile kernel, on this thread; A's copy (rows x K)
 * is all in memory at once */
static void gemm_rows(const gemm_job *j, int i0, int i1, int n0, int n1)
{
    const nn_tile_kernel *T = j->T;
    const int MR = T->mr, NR = T->nr, K = j->K, rows = i1 - i0;
    const int kblocks = (K + T->kc - 1) / T->kc, KC = (K + kblocks - 1) / kblocks;
    const int in_place = b_in_place(j, rows), a_direct = a_in_place(j, rows);
    float *ap = a_direct ? NULL : nn_scratch_grow(&pack_a, (size_t)round_up(rows, MR) * K);
    float *bp = nn_scratch_grow(&pack_b, (size_t)round_up(T->nc, NR) * KC);
    const int no_copies = (!ap && !a_direct) || !bp;
    if (no_copies && (j->conv || j->ar.len || j->br.len)) {   /* out of memory for the copies: the values one by one */
        rows_direct(j, i0, i1, n0, n1);
        return;
    }
    if (no_copies) {   /* out of memory for the copies: OpenBLAS computes the region instead */
        const float *A = j->ta ? j->A + i0 : j->A + (size_t)i0 * j->lda;
        const float *B = j->tb ? j->B + (size_t)n0 * j->ldb : j->B + n0;
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, rows,
                    n1 - n0, K, j->alpha, A, j->lda, B, j->ldb, j->beta, j->C + (size_t)i0 * j->ldc + n0, j->ldc);
        return;
    }
    if (j->beta != 0.0f && j->beta != 1.0f)
        for (int i = i0; i < i1; i++)
            for (int c = n0; c < n1; c++) j->C[(size_t)i * j->ldc + c] *= j->beta;
    if (!a_direct) pack_rows(j, i0, rows, KC, ap);
    for (int pc = 0; pc < K; pc += KC) {
        int kc = K - pc < KC ? K - pc : KC, load = pc > 0 || j->beta != 0.0f;
        const float *apc = a_direct ? NULL : ap + (size_t)pc * round_up(rows, MR);
        for (int jc = n0; jc < n1; jc += T->nc) {
            int nc = n1 - jc < T->nc ? n1 - jc : T->nc, whole = in_place ? nc / NR * NR : 0;
            if (whole < nc) pack_cols(j, jc + whole, nc - whole, pc, kc, bp);   /* the panels read from copies */
            for (int t = 0; t < rows; t += MR) {
                const float *a = a_direct ? NULL : apc + (size_t)t * kc;
                int mr = rows - t < MR ? rows - t : MR;
                float *c = j->C + (size_t)(i0 + t) * j->ldc + jc;
                for (int p = 0; p < whole; p += NR)
                    T->tile_b(mr, kc, a, j->B + (size_t)pc * j->ldb + jc + p, j->ldb, c + p, j->ldc, NR, load, j->alpha);
                if (a_direct && j->ar.len)
                    for (int p = whole; p < nc; p += NR)
                        T->tile_as(mr, kc, j->A + (size_t)(i0 + t) * j->lda + col_at(&j->ar, pc), j->lda,
                                   (int)(j->ar.len - pc % j->ar.len), j->ar.len, j->ar.stride,
                                   bp + (size_t)(p - whole) * kc, c + p, j->ldc, nc - p < NR ? nc - p : NR, load, j->alpha);
                else if (a_direct)
                    for (int p = whole; p < nc; p += NR)
                        T->tile_a(mr, kc, j->A + (size_t)(i0 + t) * j->lda + pc, j->lda, bp + (size_t)(p - whole) * kc,
                                  c + p, j->ldc, nc - p < NR ? nc - p : NR, load, j->alpha);
                else
                    for (int p = whole; p < nc; p += NR)
                        T->tile(mr, kc, a, bp + (size_t)(p - whole) * kc, c + p, j->ldc, nc - p < NR ? nc - p : NR,
                                load, j->alpha, NULL, NULL, 0);
            }
        }
    }
}

/* A's copy is at most this many floats (64 MB): more rows go through in row blocks, each
 * copying B again (an element's sum does not depend on the blocks) */
#define A_COPY_FLOATS (16L << 20)
/* rows or columns per cblas_sgemm call under ILT_KERNEL=openblas; slices are whole pieces */
#define OPENBLAS_UNIT 64

static void gemm_run(const gemm_job *j, int i0, int i1, int n0, int n1)
{
    if (j->T) {
        long rows = A_COPY_FLOATS / j->K / j->T->mr * j->T->mr;
        if (rows < j->T->mr) rows = j->T->mr;
        for (long r = i0; r < i1; r += rows) gemm_rows(j, (int)r, (int)(r + rows < i1 ? r + rows : i1), n0, n1);
        return;
    }
    if (j->ar.len || j->br.len) {   /* operands in runs: OpenBLAS cannot read them */
        rows_direct(j, i0, i1, n0, n1);
        return;
    }
    /* OpenBLAS's bits depend on the shape it is given (its AVX2 kernels on some CPUs sum a
     * product of 130 columns differently from one of 64 + 66): the same fixed pieces of
     * OPENBLAS_UNIT rows or columns whatever the slice, so any thread count gives the same bits */
    int by_rows = j->by_rows;
    for (int p = by_rows ? i0 : n0, end = by_rows ? i1 : n1; p < end; p += OPENBLAS_UNIT) {
        int q = p + OPENBLAS_UNIT < end ? p + OPENBLAS_UNIT : end;
        int r0 = by_rows ? p : i0, r1 = by_rows ? q : i1, c0 = by_rows ? n0 : p, c1 = by_rows ? n1 : q;
        const float *A = j->ta ? j->A + r0 : j->A + (size_t)r0 * j->lda;
        const float *B = j->tb ? j->B + (size_t)c0 * j->ldb : j->B + c0;
        cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, r1 - r0,
                    c1 - c0, j->K, j->alpha, A, j->lda, B, j->ldb, j->beta, j->C + (size_t)r0 * j->ldc + c0, j->ldc);
    }
}

/* slices [s0, s1) of `unit` rows or columns */
static void gemm_slice(void *arg, long s0, long s1)
{
    const gemm_job *j = arg;
    long lim = j->by_rows ? j->M : j->N, lo = s0 * j->unit, hi = s1 * j->unit < lim ? s1 * j->unit : lim;
    if (hi <= lo) return;
    if (j->by_rows) gemm_run(j, (int)lo, (int)hi, 0, j->N);
    else gemm_run(j, 0, j->M, (int)lo, (int)hi);
}

/* C = beta C when there is nothing to sum (K = 0 or alpha = 0) */
static void scale_only(int M, int N, float beta, float *C, int ldc)
{
    if (beta == 1.0f) return;
    for (int i = 0; i < M; i++)
        for (int c = 0; c < N; c++) C[(long)i * ldc + c] = beta == 0.0f ? 0.0f : C[(long)i * ldc + c] * beta;
}

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: in 32x32 blocks (a row-by-row
 * loop strides one of the two matrices by a whole row per float) */
static void transpose(const float *src, long lds, int rows, int cols, float *dst, long ldd)
{
    for (int r0 = 0; r0 < rows; r0 += 32)
        for (int c0 = 0; c0 < cols; c0 += 32) {
            int r1 = r0 + 32 < rows ? r0 + 32 : rows, c1 = c0 + 32 < cols ? c0 + 32 : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++) dst[(long)c * ldd + r] = src[(long)r * lds + c];
        }
}

/* Tiles cover C in whole MR x NR blocks; a dimension that is not a multiple of its side pays for
 * the padding (ResNet18's layer4 at 84x84: 72 columns in 96, three panels of 32; its 512 rows
 * are 43 tiles of 12). Computing C^T = op(B)^T op(A)^T instead puts N on the rows and M on the
 * columns (72 rows are six tiles of 12, 512 columns sixteen panels). C's transposition there and
 * back costs about a nanosecond per element, the product K/100 ns per element (2K flops at
 * 200 GFLOP/s): so the swap is taken when it covers at least a tenth less padded area and that
 * share times K is at least 100. Measured on one Zen 5 core (bench/kernels): layer4's forward
 * [512, 72] K 4608 and its dcols [4608, 72] K 512 gain about 40% and 60%; layer1's forward
 * [64, 3528] K 576 (a ninth less area, 64 by the rule) lost 10%, conv1's [64, 14112] K 147 a
 * third. Each element of C^T is the same k-ordered FMA chain (a b = b a), started from the same
 * C value, so the bits do not change. */
static int swap_pays(const nn_tile_kernel *T, int M, int N, int K)
{
    if (!T) return 0;
    long as_is = (long)round_up(M, T->mr) * round_up(N, T->nr), swapped = (long)round_up(N, T->mr) * round_up(M, T->nr);
    double saved = 1.0 - (double)swapped / (double)as_is;
    return saved >= 0.1 && saved * K >= 100.0;
}

/* The tile's 6-row form (6x32 for 12x32) where it pads at least a twentieth fewer rows: a
 * ResNet18's 64 output channels are 66 rows of 6 against 72 of 12, a transformer's 88 tokens
 * 90 against 96. Both tiles sum each element in the same order, so the bits do not change; the
 * choice depends on M alone. */
static int short_pays(const nn_tile_kernel *T, int M)
{
    const nn_tile_kernel *S = nn_tile_short(T);
    if (S == T) return 0;
    return (double)round_up(M, S->mr) <= 0.95 * round_up(M, T->mr);
}

/* C^T's scratch, per calling thread */
static __thread nn_scratch swap_c;

static const nn_runs no_runs = { 0, 0 };

static void gemm(int threaded, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc, const nn_conv_geom *conv, const nn_runs *ar,
                 const nn_runs *br);

/* C = alpha op(A) op(B) + beta C as C^T = alpha op(B)^T op(A)^T + beta C^T in a scratch; 0 when
 * the scratch cannot be had */
static int gemm_swapped(int threaded, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                        int lda, const nn_runs *ar, const float *B, int ldb, const nn_runs *br, float beta, float *C,
                        int ldc)
{
    float *ct = nn_scratch_grow(&swap_c, (size_t)M * N);
    if (!ct) return 0;
    if (beta != 0.0f) transpose(C, ldc, M, N, ct, M);
    /* op(B)^T is B as stored read with the other transposition flag, and likewise op(A)^T */
    gemm(threaded, !trans_b, !trans_a, N, M, K, alpha, B, ldb, A, lda, beta, ct, M, NULL, br, ar);
    transpose(ct, M, N, M, C, ldc);
    return 1;
}

static void gemm(int threaded, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc, const nn_conv_geom *conv, const nn_runs *ar,
                 const nn_runs *br)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_only(M, N, beta, C, ldc);
        return;
    }
    int variant = nn_kernel();
    const nn_tile_kernel *T = variant == NN_KERNEL_OPENBLAS ? NULL : nn_tile_general(variant);
    if (!conv && swap_pays(T, M, N, K) &&
        gemm_swapped(threaded, trans_a, trans_b, M, N, K, alpha, A, lda, ar, B, ldb, br, beta, C, ldc))
        return;
    if (T && short_pays(T, M)) T = nn_tile_short(T);
    int by_rows = M >= N, unit = T ? (by_rows ? T->mr : T->nr) : OPENBLAS_UNIT;
    gemm_job j = { trans_a, trans_b, M, N, K, lda, ldb, ldc, by_rows, unit, alpha, beta, A, B, C, T, conv, *ar, *br };
    long units = ((by_rows ? M : N) + unit - 1) / unit;
    int threads = threaded ? nn_get_threads() : 1;
    if (threads == 1 || 2.0 * M * N * K < 4e6 || units < 2) {
        gemm_run(&j, 0, M, 0, N);
        return;
    }
    /* exactly one slice per thread: every slice copies the whole shared operand again, so more,
     * thinner slices cost more copying */
    nn_parallel_for(units, units / threads > 0 ? units / threads : 1, gemm_slice, &j);
}

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
             int ldb, float beta, float *C, int ldc)
{
    gemm(1, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, &no_runs, &no_runs);
}

void nn_gemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm(0, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, &no_runs, &no_runs);
}

int nn_gemm_runs_suit(void) { return nn_kernel() != NN_KERNEL_OPENBLAS; }

void nn_gemm_runs(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                  const nn_runs *ar, const float *B, int ldb, const nn_runs *br, float beta, float *C, int ldc)
{
    gemm(1, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, ar ? ar : &no_runs,
         br ? br : &no_runs);
}

/* The column matrix as op(B) [K, N]: [C*kh*kw, B*Ho*Wo], or transposed */
static void conv_cols_shape(const nn_conv_geom *g, int trans_b, long *K, long *N)
{
    long rows = (long)g->C * g->kh * g->kw, cols = (long)g->B * g->Ho * g->Wo;
    *K = trans_b ? cols : rows;
    *N = trans_b ? rows : cols;
}

int nn_gemm_conv_suits(int trans_b, int M, const nn_conv_geom *g)
{
#ifdef CONV_GATHER
    if (nn_kernel() != NN_KERNEL_AVX512) return 0;
    const nn_tile_kernel *T = nn_tile_general(NN_KERNEL_AVX512);
    long K, N;
    conv_cols_shape(g, trans_b, &K, &N);
    /* offsets into x as 32-bit gather indices; a shape nn_gemm computes as C^T would need x as
     * its A operand */
    return T->nr == 32 && (long)g->B * g->C * g->H * g->W < (1L << 30) && K < (1L << 30) && N < (1L << 30) &&
           !swap_pays(T, M, (int)N, (int)K);
#else
    (void)trans_b, (void)M, (void)g;
    return 0;
#endif
}

void nn_gemm_conv_runs(int threaded, int trans_b, int M, float alpha, const float *A, int lda, const nn_runs *ar,
                       const nn_conv_geom *g, const float *x, float beta, float *C, int ldc)
{
    long K, N;
    conv_cols_shape(g, trans_b, &K, &N);
    if (!ar) ar = &no_runs;
#ifdef CONV_GATHER
    if (nn_kernel() == NN_KERNEL_AVX512) {
        gemm(threaded, 0, trans_b, M, (int)N, (int)K, alpha, A, lda, x, 0, beta, C, ldc, g, ar, &no_runs);
        return;
    }
#endif
    /* no packing from x on this tile (nn_gemm_conv_suits says 0): element by element, correct */
    gemm_job j = { 0, trans_b, M, (int)N, (int)K, lda, 0, ldc, 1, 1, alpha, beta, A, x, C, NULL, g, *ar, no_runs };
    rows_direct(&j, 0, M, 0, (int)N);
}

void nn_gemm_conv(int threaded, int trans_b, int M, float alpha, const float *A, int lda, const nn_conv_geom *g,
                  const float *x, float beta, float *C, int ldc)
{
    nn_gemm_conv_runs(threaded, trans_b, M, alpha, A, lda, NULL, g, x, beta, C, ldc);
}
