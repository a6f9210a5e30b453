/* gemm_packed.c — products against weights packed once, for inference with frozen parameters.
 *
 * At batch 1 a policy's products are a few rows of activations (100 decoder queries, a few
 * hundred image positions) times a large weight. sgemm copies ("packs") the whole weight into
 * its panel layout on every call, which at these shapes costs as much memory traffic as the
 * product itself: a 7-layer decoder streams its 120 MB of weights through the copy on every
 * inference. Here a weight W [N, K] (PyTorch's Linear [out, in]; a convolution's [out, in*kh*kw])
 * is packed once into panels of nr output columns (zero-padded), each panel's K contiguous in
 * blocks of KC, and the product C = A W^T runs an mr x nr register tile over
 * them: the tile of the kernel variant in effect when the weight was packed (gemm_kernel.h),
 * 12x32 on 512-bit registers, 6x16 on 256-bit ones or in plain C; the packed weight records it
 * and every product over it runs that tile (or, for few rows, a shorter one: nn_tile_packed). A, given through strides A(i, k) = A[i*ars + k*aks]
 * (rows of a linear's input: ars = K, aks = 1; an im2col matrix [K, P] read as positions x K:
 * ars = 1, aks = P), is copied per call into row tiles [ceil(M/mr)][K][mr] (it is small next to
 * the weight and read once per panel).
 *
 * Both layouts block K alike (KC) and their tiles add each element's products in k order, one
 * FMA per k: the 12x32 and 6x16 SIMD tiles give the same bits, and so do a policy's outputs.
 *
 * Blocking: K in blocks of KC (a 16 or 32 KiB panel block stays in L1, 48 KiB, while every row
 * tile passes over it, and the tiles prefetch the next block into L2), rows in blocks of up to
 * MC_MAX (the A block stays in L2 across the panels). When all the rows' A fits in 256 KiB, one panel at a
 * time runs through all of K instead, so that C's slice stays in L1 between K blocks (a
 * [100, 512] x [512, 3200] product: C is 1.3 MB, and the K-block-outer order wrote and re-read
 * it; measured 10% faster in interleaved runs, min and median). Threads split the panels (or, when there are too few, the rows); every
 * element of C is summed in the same order whatever the split, so results do not depend on the
 * thread count. */
#include "nn/gemm_packed.h"
#include "nn/gemm_kernel.h"
#include "nn/kernels.h"
#include "nn/scratch.h"
#include "nn/tensor.h"
#include "nn/threads.h"
#include "util/error.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KC 256
#define MC_MAX 128
#define PACKED_LINEAR_MAX_M 256   /* more rows: nn_gemm (nn_linear_product) */
#define NR_MAX 32                 /* the widest tile's columns */

/* Rows per block: at most MC_MAX, the blocks of equal size in whole tiles (M = 100: one block of
 * 102, not 96 + 4, whose 4-row block would walk every weight panel again for one tile). */
static int row_block(int M, int mr)
{
    int nb = (M + MC_MAX - 1) / MC_MAX, mc = (M + nb - 1) / nb;
    return (mc + mr - 1) / mr * mr;
}

struct nn_packed {
    int N, K, panels;
    int nr;                       /* columns per panel: the tile's */
    const nn_tile_kernel *kernel; /* the tile the layout was packed for */
    int transposed;               /* packed from W^T (nn_pack_weights_transposed) */
    int half;                     /* the values in IEEE binary16 (NN_PACK_F16) */
    void *data;           /* the panels one after the other, each K rows of nr in blocks of KC
                             ([kc][nr]): the block k0 of panel q starts at element
                             block_start(q, k0); floats, or binary16 when half */
};

uint16_t nn_f16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, e = (u >> 23) & 0xffu, m = u & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0));   /* Inf, NaN */
    int exp = (int)e - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {   /* subnormal or zero: the value is m' * 2^-24 */
        if (exp < -10) return (uint16_t)sign;
        m |= 0x800000u;
        int shift = 14 - exp;   /* 24-bit significand down to the subnormal's bits */
        uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (m >> 13), rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;   /* a carry into the exponent is right */
    return (uint16_t)(sign | h);
}

float nn_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0x1f) u = sign | 0x7f800000u | (m << 13);
    else if (e) u = sign | ((e - 15 + 127) << 23) | (m << 13);
    else if (!m) u = sign;
    else {   /* subnormal: normalise */
        int shift = 0;
        while (!(m & 0x400u)) { m <<= 1; shift++; }
        u = sign | ((uint32_t)(127 - 15 - shift + 1) << 23) | ((m & 0x3ffu) << 13);
    }
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Half-precision weights (NN_PACK_F16): stored as binary16, rounded to nearest even once when
 * packed, and widened (exactly) to single precision a block at a time just before the tile runs
 * over it, so the products equal those over single-precision weights rounded the same way and
 * read half the bytes from memory, which is what bounds a policy's products at batch 1. */
static void f16_from_f32(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) dst[i] = nn_f16_from_float(src[i]);
}

static void f32_from_f16(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) _mm256_store_ps(dst + i, _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = nn_f16_to_float(src[i]);
}


/* Panel-major: a thread walking its panels through all of K (few rows: pgemm_block) reads its
 * share of the weight in one ascending run, which the hardware prefetcher follows. The layout
 * with the panels of one K block adjacent instead broke that run every 32 KiB: a UNet's
 * [4, 5120] x [5120, 1024] products streaming 273 MB from memory, 2 threads, took 7.3 ms a
 * pass against 5.3 now (medians of 6 interleaved runs). */
static inline size_t block_start(const nn_packed *p, int q, int k0)
{
    return ((size_t)q * p->K + k0) * p->nr;
}

/* The address of the block k0 of panel q (of floats, or of binary16 values when half: the
 * tiles' prefetch reads it as bytes) */
static inline const float *block_at(const nn_packed *p, int q, int k0)
{
    return (const float *)((const char *)p->data + block_start(p, q, k0) * (p->half ? sizeof(uint16_t) : sizeof(float)));
}

/* The tile of the variant in effect, or of the widest narrower one whose panel width divides
 * col_step (0: any) */
static const nn_tile_kernel *layout_for(int col_step)
{
    const nn_tile_kernel *t = nn_tile_general(nn_kernel());
    if (col_step % t->nr)
        t = nn_tile_general(nn_kernel_supported(NN_KERNEL_AVX2) ? NN_KERNEL_AVX2 : NN_KERNEL_PORTABLE);
    return t;
}

int nn_packed_panel(const nn_packed *p) { return p->nr; }
int nn_packed_panel_now(void) { return layout_for(0)->nr; }
int nn_packed_stale(const nn_packed *p, int col_step) { return p->kernel != layout_for(col_step); }

int nn_packed_precision(const nn_packed *p) { return p->half ? NN_PACK_F16 : NN_PACK_F32; }

nn_packed *nn_pack_weights(const float *W, int N, int K) { return nn_pack_weights_step(W, N, K, 0, NN_PACK_F32); }

/* W(n, k) = W[n * sn + k * sk] */
static nn_packed *pack_strided(const float *W, long sn, long sk, int N, int K, int col_step, int transposed,
                               int precision);

nn_packed *nn_pack_weights_step(const float *W, int N, int K, int col_step, int precision)
{
    return pack_strided(W, K, 1, N, K, col_step, 0, precision);
}

nn_packed *nn_pack_weights_transposed(const float *Wt, int N, int K, int precision)
{
    return pack_strided(Wt, 1, N, N, K, 0, 1, precision);
}

static nn_packed *pack_strided(const float *W, long sn, long sk, int N, int K, int col_step, int transposed,
                               int precision)
{
    if (N <= 0 || K <= 0) { error_set("nn pack: weight [%d, %d]", N, K); return NULL; }
    if (precision != NN_PACK_F32 && precision != NN_PACK_F16) { error_set("nn pack: precision %d", precision); return NULL; }
    const nn_tile_kernel *t = layout_for(col_step);
    const int NR = t->nr, half = precision == NN_PACK_F16;
    nn_packed *p = calloc(1, sizeof *p);
    int panels = (N + NR - 1) / NR;
    size_t bytes = (size_t)panels * K * NR * (half ? sizeof(uint16_t) : sizeof(float));   /* a multiple of 32 */
    float *block = half ? aligned_alloc(64, (size_t)KC * NR * sizeof(float)) : NULL;
    if (!p || !(p->data = aligned_alloc(64, (bytes + 63) / 64 * 64)) || (half && !block)) {
        if (p) free(p->data);
        free(p);
        free(block);
        error_set("nn pack: out of memory for a [%d, %d] weight", N, K);
        return NULL;
    }
    p->N = N;
    p->K = K;
    p->panels = panels;
    p->nr = NR;
    p->kernel = t;
    p->transposed = transposed;
    p->half = half;
    for (int q = 0; q < panels; q++)
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            float *dst = half ? block : (float *)p->data + block_start(p, q, k0);
            for (int j = 0; j < NR; j++) {
                int n = q * NR + j;
                if (n < N)
                    for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = W[n * sn + (k0 + k) * sk];
                else
                    for (int k = 0; k < kc; k++) dst[(size_t)k * NR + j] = 0.0f;
            }
            if (half) f16_from_f32(block, (uint16_t *)p->data + block_start(p, q, k0), (size_t)kc * NR);
        }
    free(block);
    return p;
}

void nn_packed_free(nn_packed *p)
{
    if (!p) return;
    free(p->data);
    free(p);
}

int nn_packed_rows(const nn_packed *p) { return p->N; }
int nn_packed_cols(const nn_packed *p) { return p->K; }

/* ---------------------------------------------------------------- blocking and threads */
typedef struct {
    int M, n0, n, mr, nr;         /* this product's tile */
    const float *A;               /* packed: [ceil(M/mr)][K][mr] */
    const nn_packed *P;
    float *C;
    long ldc;
    const float *bias;
    int accumulate, by_rows, q0, q1;   /* panels [q0, q1) */
    int mc;                            /* rows per block (row_block) */
    nn_tile_fn *tile;
    nn_tile_h_fn *tile_h;              /* over binary16 blocks; NULL: widen them for tile */
} pgemm_job;

/* Rows [i0, i1) over panel q's block at k0 (kc deep). The row tiles share the prefetch of the
 * block used after this one (next_kc deep: next_kc * nr / 16 lines of 64 bytes from `next`, half
 * that for binary16) into L2, each a slice: the weights stream from DRAM once per inference, and a block fetched
 * on demand stalls its first tile (measured: 101 -> 129 GFLOP/s for a [100, 3200] x [3200, 512] product on 2 threads). */
static void panel_block(const pgemm_job *j, int i0, int i1, int q, int k0, int kc, const float *next, int next_kc)
{
    const int K = j->P->K, NR = j->nr, MR = j->mr, first = k0 == 0;
    const int col = q * NR - j->n0, nv = j->n - col < NR ? j->n - col : NR;
    int lines = j->P->half ? next_kc * NR / 32 : next_kc * NR / 16;
    const float *b = block_at(j->P, q, k0);
    _Alignas(64) float wide[KC * NR_MAX];   /* a binary16 block widened for a tile without tile_h (32 KiB of stack) */
    if (j->P->half && !j->tile_h) {
        f32_from_f16((const uint16_t *)b, wide, (size_t)kc * NR);
        b = wide;
    }
    const float *bias = j->bias && first && !j->accumulate ? j->bias + col : NULL;
    if (!next) lines = 0;
    int ntiles = (i1 - i0 + MR - 1) / MR, share = (lines + ntiles - 1) / ntiles;
    for (int i = i0, t = 0; i < i1; i += MR, t++) {
        int from = t * share, npf = lines - from < share ? lines - from : share;
        const float *a = j->A + ((size_t)(i / MR) * K + k0) * MR;
        float *c = j->C + i * j->ldc + col;
        const char *pf = next ? (const char *)next + (size_t)from * 64 : NULL;
        if (j->P->half && j->tile_h)
            j->tile_h(i1 - i < MR ? i1 - i : MR, kc, a, (const uint16_t *)b, c, j->ldc, nv, !first || j->accumulate,
                      1.0f, bias, pf, pf && npf > 0 ? npf : 0);
        else
            j->tile(i1 - i < MR ? i1 - i : MR, kc, a, b, c, j->ldc, nv, !first || j->accumulate, 1.0f, bias,
                    pf ? (const float *)pf : b, npf > 0 ? npf : 0);
    }
}

/* When all the rows' A fits in L2 beside a panel (it is re-read per panel), one panel at a
 * time through all of K: C's [rows, nr] slice stays in L1 between the K blocks instead of
 * leaving the cache between passes over all the panels. */
#define PANEL_FIRST_BYTES (256 << 10)

/* rows [i0, i1) x panels [q0, q1) */
static void pgemm_block(const pgemm_job *j, int i0, int i1, int q0, int q1)
{
    const int K = j->P->K;
    const nn_packed *P = j->P;
    if (K > KC && (size_t)(i1 - i0) * K * sizeof(float) <= PANEL_FIRST_BYTES) {
        for (int q = q0; q < q1; q++)
            for (int k0 = 0; k0 < K; k0 += KC) {
                /* next: this panel's next K block, or the next panel's first */
                if (k0 + KC < K)
                    panel_block(j, i0, i1, q, k0, KC, block_at(P, q, k0 + KC),
                                K - k0 - KC < KC ? K - k0 - KC : KC);
                else
                    panel_block(j, i0, i1, q, k0, K - k0, q + 1 < q1 ? block_at(P, q + 1, 0) : NULL, KC);
            }
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        for (int ib = i0; ib < i1; ib += j->mc) {
            int ie = ib + j->mc < i1 ? ib + j->mc : i1;
            for (int q = q0; q < q1; q++) {
                /* next: this K block of the next panel, else of the first panel for the next
                 * row block, else the first panel's next K block */
                if (q + 1 < q1) panel_block(j, ib, ie, q, k0, kc, block_at(P, q + 1, k0), kc);
                else if (ie < i1) panel_block(j, ib, ie, q, k0, kc, block_at(P, q0, k0), kc);
                else if (k0 + KC < K)
                    panel_block(j, ib, ie, q, k0, kc, block_at(P, q0, k0 + KC),
                                K - k0 - KC < KC ? K - k0 - KC : KC);
                else panel_block(j, ib, ie, q, k0, kc, NULL, kc);
            }
        }
    }
}

static void pgemm_range(void *arg, long s0, long s1)
{
    const pgemm_job *j = arg;
    if (j->by_rows) {
        long i0 = s0 * j->mc, i1 = s1 * j->mc < j->M ? s1 * j->mc : j->M;
        pgemm_block(j, (int)i0, (int)i1, j->q0, j->q1);
    } else {
        pgemm_block(j, 0, j->M, j->q0 + (int)s0, j->q0 + (int)s1);
    }
}

/* A packed into row tiles: dst [ceil(M/mr)][K][mr], rows past M zero */
typedef struct { const float *A; long ars, aks; int M, K, mr; float *dst; } apack_job;

/* tiles [t0, t1), k in [k0, k1) of an im2col matrix [K, P] (the rows of a tile adjacent in
 * memory): walk each k's row once per block of 16 tiles (16 * mr contiguous floats), writing 16
 * tile streams */
#define APACK_COPY(W) __builtin_memcpy(j->dst + ((size_t)t * j->K + k) * (W), a + t * (W), (W) * sizeof(float))

static void apack_columns(const apack_job *j, long t0, long t1, int k0, int k1)
{
    const int MR = j->mr;
    const long full = j->M / MR;   /* the tiles whose MR rows all lie in A */
    for (long tb = t0; tb < t1; tb += 16) {
        long te = tb + 16 < t1 ? tb + 16 : t1, fe = te < full ? te : full;
        for (int k = k0; k < k1; k++) {
            const float *a = j->A + (size_t)k * j->aks;
            long t = tb;
            /* full tiles: a copy of constant size, vector moves (the scalar walk below for every
             * tile was 12% of a DP observation encoder's time at batch 1) */
            switch (MR) {
            case 4: for (; t < fe; t++) APACK_COPY(4); break;
            case 6: for (; t < fe; t++) APACK_COPY(6); break;
            case 8: for (; t < fe; t++) APACK_COPY(8); break;
            case 12: for (; t < fe; t++) APACK_COPY(12); break;
            case 16: for (; t < fe; t++) APACK_COPY(16); break;
            default: break;
            }
            for (; t < te; t++) {
                float *d = j->dst + ((size_t)t * j->K + k) * MR;
                int i0 = (int)t * MR, mr = j->M - i0 < MR ? j->M - i0 : MR;
                for (int r = 0; r < MR; r++) d[r] = r < mr ? a[i0 + r] : 0.0f;
            }
        }
    }
}

/* k in [k0, k1) of every tile: a Diffusion Policy UNet's convolutions at batch 1 have one to
 * three tiles (4 to 16 positions) but K up to 10240, and their copy by one thread while the
 * other waited was about 8% of that thread's time in a DDIM call */
static void apack_depth(void *arg, long k0, long k1)
{
    const apack_job *j = arg;
    apack_columns(j, 0, (j->M + j->mr - 1) / j->mr, (int)k0, (int)k1);
}

/* tiles [t0, t1) */
static void apack_tiles(void *arg, long t0, long t1)
{
    const apack_job *j = arg;
    const int MR = j->mr;
    if (j->ars == 1) {
        apack_columns(j, t0, t1, 0, j->K);
        return;
    }
    for (long t = t0; t < t1; t++) {
        float *d = j->dst + (size_t)t * j->K * MR;
        int i0 = (int)t * MR, mr = j->M - i0 < MR ? j->M - i0 : MR;
        if (j->aks == 1) {   /* rows along k (a linear's input): transposed through vector registers */
            nn_pack_transposed(j->A + (size_t)i0 * j->ars, j->ars, mr, j->K, MR, d);
            continue;
        }
        for (int r = 0; r < MR; r++) {
            const float *a = j->A + (size_t)(i0 + r) * j->ars;
            if (r < mr)
                for (int k = 0; k < j->K; k++) d[(size_t)k * MR + r] = a[k * j->aks];
            else
                for (int k = 0; k < j->K; k++) d[(size_t)k * MR + r] = 0.0f;
        }
    }
}

/* the packed A: one buffer per application thread, grown as needed (scratch.h) */
static __thread nn_scratch apack;

int nn_gemm_packed(int M, int n0, int n, const float *A, long ars, long aks, const nn_packed *P, const float *bias,
                   float *C, long ldc, int accumulate)
{
    /* the rows' tile (nn_tile_packed): the packed weight's, or a shorter one of its columns where
     * that pads fewer rows: ACT's 100 queries on 6 rows, 102 instead of 108 (180-195 -> 203-205
     * GFLOP/s); a UNet's 4, 8 and 16 positions at batch 1 on the 4- and 8-row tiles. The choice
     * depends on M alone, and every tile sums each element in the same order. */
    const nn_tile_kernel *T = nn_tile_packed(P->kernel, M);
    const int NR = P->nr, MR = T->mr;
    if (n0 < 0 || n <= 0 || n0 % NR || n0 + n > P->N)
        return error_set("nn gemm_packed: columns [%d, %d) of a packed [%d, %d] weight", n0, n0 + n, P->N, P->K);
    if (M <= 0) return 0;
    const long tiles = (M + MR - 1) / MR;
    float *apack_buf = nn_scratch_grow(&apack, (size_t)tiles * P->K * MR);
    if (!apack_buf) return error_set("nn gemm_packed: out of memory for a [%d, %d] operand", M, P->K);
    int threads = nn_get_threads();
    double flop = 2.0 * M * n * P->K;
    int serial = threads == 1 || flop < 2e6;
    apack_job aj = { A, ars, aks, M, P->K, MR, apack_buf };
    /* split from 6 tiles up: 100 rows are 17 tiles of 6, and at K = 3200 their copy (1.3 MB) by one
     * thread while the other waited cost 5-9% of the product (interleaved runs). Reading A in
     * place instead, six row streams into the tile, was 5-10% slower than the copy at 100 rows. */
    /* one full tile of an im2col matrix [K, MR] (a UNet's convolution at 4 or 8 positions) is
     * laid out as the packed tile already: read in place (the copy was 6% of a DDIM call's
     * UNet time at batch 1, one thread's scalar walk down K per product) */
    const float *At = apack_buf;
    if (M == MR && ars == 1 && aks == MR) At = A;
    else if (serial) apack_tiles(&aj, 0, tiles);
    else if (ars == 1 && tiles < 6) nn_parallel_for(P->K, 512, apack_depth, &aj);
    else nn_parallel_for(tiles, 3, apack_tiles, &aj);
    pgemm_job j = { M, n0, n, MR, NR, At, P, C, ldc, bias, accumulate, 0, n0 / NR, (n0 + n + NR - 1) / NR,
                    row_block(M, MR), T->tile, T->tile_h };
    long panels = j.q1 - j.q0, row_blocks = (M + j.mc - 1) / j.mc;
    if (serial) {
        pgemm_block(&j, 0, M, j.q0, j.q1);
    } else if (panels >= 2L * threads || panels >= row_blocks) {
        nn_parallel_for(panels, 1, pgemm_range, &j);
    } else {
        j.by_rows = 1;
        nn_parallel_for(row_blocks, 1, pgemm_range, &j);
    }
    return 0;
}

static const nn_packed *weight_packed(nn_tensor *w, int N, int K, int transposed)
{
    if (!w->frozen) return NULL;
    if (w->packed && (w->packed->N != N || w->packed->K != K || w->packed->transposed != transposed)) return NULL;
    if (w->packed && (nn_packed_stale(w->packed, 0) || w->packed->half != (w->frozen == NN_PACK_F16))) {
        /* packed under another kernel variant, or in another precision */
        nn_packed_free(w->packed);
        w->packed = NULL;
    }
    if (!w->packed && (long)N * K == w->size)
        w->packed = transposed ? nn_pack_weights_transposed(w->data, N, K, w->frozen)
                               : nn_pack_weights_step(w->data, N, K, 0, w->frozen);
    return w->packed;   /* NULL when packing failed: the caller falls back to nn_gemm */
}

const nn_packed *nn_weight_packed(nn_tensor *w, int N, int K) { return weight_packed(w, N, K, 0); }

const nn_packed *nn_weight_packed_transposed(nn_tensor *w, int N, int K) { return weight_packed(w, N, K, 1); }

int nn_linear_product(struct nn_tensor *w, int row0, int rows, const float *x, int M, const float *b, float *y)
{
    const int in = w->shape[1];
    /* Many rows (IBC's 1024 candidate actions) amortise nn_gemm's copy of the weight (measured
     * when the packed tile was 6x16 AVX2 and nn_gemm's 12x32) */
    const nn_packed *wp = row0 % nn_packed_panel_now() == 0 && M <= PACKED_LINEAR_MAX_M
                              ? nn_weight_packed(w, w->shape[0], in) : NULL;
    if (wp) return nn_gemm_packed(M, row0, rows, x, in, 1, wp, b ? b + row0 : NULL, y, rows, 0);
    if (b) nn_bias_rows(y, b + row0, M, rows);
    nn_gemm(0, 1, M, rows, in, 1.0f, x, in, w->data + (long)row0 * in, in, b ? 1.0f : 0.0f, y, rows);
    return 0;
}
