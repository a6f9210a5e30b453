/* gemm_tiles.c — the register tiles of the engine's matrix products (gemm_kernel.h) and the
 * choice of variant at run time.
 *
 * Each SIMD tile is compiled for its instruction set with a target attribute, whatever -march
 * the rest of the library is built for, and runs only when __builtin_cpu_supports says the CPU
 * (and the OS's saved register state) has it: one binary runs the 512-bit tile where the CPU has
 * AVX-512F and the 256-bit or plain C one elsewhere. ILT_KERNEL narrows the choice (kernels.h).
 *
 * The 12x32 tile keeps 24 accumulators in zmm registers (two vectors of B per k and a broadcast
 * of each A value, folded into the FMA's memory operand): 24 independent FMA chains cover the
 * FMA latency of two 512-bit pipes, and per k it loads 2 vectors + 12 scalars for 24 FMAs.
 * 26 of the 32 zmm registers hold accumulators and B; 14 rows (28 + 2) would also fit, but 12
 * leaves the compiler room and pads a 100-row product (ACT's decoder queries) to 108, not 112.
 * The tiles prefetch only when asked (npf: the packed weights' next block, gemm_packed.c). */
#include "nn/gemm_kernel.h"
#include "util/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TILES_X86 1
#endif

/* ---------------------------------------------------------------- portable 6x16 */
static void tile_6x16_portable(int mr, int kc, const float *a, const float *b, float *c, long ldc, int nv, int load,
                               float alpha, const float *bias, const float *pf, int npf)
{
    float acc[6][16];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++, a += 6, b += 16)
        for (int r = 0; r < 6; r++)
            for (int j = 0; j < 16; j++) acc[r][j] += a[r] * b[j];
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < nv; j++) {
            float v = alpha == 1.0f ? acc[r][j] : acc[r][j] * alpha;
            cr[j] = (load ? cr[j] : bias ? bias[j] : 0.0f) + v;
        }
    }
}

#ifdef TILES_X86
/* ---------------------------------------------------------------- AVX2 6x16 */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
store_row_256(float *cr, __m256 v0, __m256 v1, int nv, int load, float alpha, const float *bias)
{
    if (alpha != 1.0f) {
        v0 = _mm256_mul_ps(v0, _mm256_set1_ps(alpha));
        v1 = _mm256_mul_ps(v1, _mm256_set1_ps(alpha));
    }
    if (nv == 16) {
        if (load) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
        } else if (bias) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(bias), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(bias + 8), v1);
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
    } else {
        float t[16];
        _mm256_storeu_ps(t, v0);
        _mm256_storeu_ps(t + 8, v1);
        for (int j = 0; j < nv; j++) cr[j] = (load ? cr[j] : bias ? bias[j] : 0.0f) + t[j];
    }
}

/* The k loop is written in assembly: from intrinsics GCC 12 spilled and rotated the twelve
 * accumulators (register copies, B re-read as FMA memory operands), and the loop ran at ~80% of
 * the core's FMA rate with its operands in L1; this one runs at 85-98% (the same 6x16 tile
 * called 10^5 times on [256][6] x [256][16], interleaved with the intrinsics version: 74-86 ->
 * 84-97 GFLOP/s on one core whose FMA loop peaks at 87-100). Accumulators ymm0-11 (row r in
 * ymm(2r), ymm(2r+1)), B's two vectors in ymm12-13, A's broadcast in ymm14; every FMA adds
 * in the same k order as the scalar definition, so the results are those of the intrinsics
 * version bit for bit. */
#define AS_ROW(off, c0, c1)                                                                   \
    "vbroadcastss " #off "(%[a]), %%ymm14\n\t"                                                \
    "vfmadd231ps %%ymm12, %%ymm14, %%ymm" #c0 "\n\t"                                          \
    "vfmadd231ps %%ymm13, %%ymm14, %%ymm" #c1 "\n\t"
#define AS_STEP(kk)                                                                           \
    "vmovaps " #kk "*64(%[b]), %%ymm12\n\t"                                                   \
    "vmovaps " #kk "*64+32(%[b]), %%ymm13\n\t"                                                \
    AS_ROW(kk*24, 0, 1) AS_ROW(kk*24+4, 2, 3) AS_ROW(kk*24+8, 4, 5)                           \
    AS_ROW(kk*24+12, 6, 7) AS_ROW(kk*24+16, 8, 9) AS_ROW(kk*24+20, 10, 11)
#define AS_ZERO(r) "vxorps %%ymm" #r ", %%ymm" #r ", %%ymm" #r "\n\t"
#define AS_SAVE(r) "vmovaps %%ymm" #r ", " #r "*32(%[acc])\n\t"

__attribute__((target("avx2,fma"))) static void tile_6x16_avx2(int mr, int kc, const float *a, const float *b,
                                                               float *c, long ldc, int nv, int load, float alpha,
                                                               const float *bias, const float *pf, int npf)
{
    float acc[6 * 16] __attribute__((aligned(32)));
    long npf4 = (npf + 3) / 4, n4 = kc / 4, n1 = kc % 4;
    if (npf4 > n4) npf4 = n4;
    n4 -= npf4;
    if (!pf) pf = b;
    __asm__ volatile(AS_ZERO(0) AS_ZERO(1) AS_ZERO(2) AS_ZERO(3) AS_ZERO(4) AS_ZERO(5)
                     AS_ZERO(6) AS_ZERO(7) AS_ZERO(8) AS_ZERO(9) AS_ZERO(10) AS_ZERO(11)
                     "test %[npf4], %[npf4]\n\t"
                     "jz 2f\n\t"
                     ".p2align 5\n"
                     "1:\n\t"
                     "prefetcht1 (%[pf])\n\t"
                     "prefetcht1 64(%[pf])\n\t"
                     "prefetcht1 128(%[pf])\n\t"
                     "prefetcht1 192(%[pf])\n\t"
                     AS_STEP(0) AS_STEP(1) AS_STEP(2) AS_STEP(3)
                     "add $96, %[a]\n\t"
                     "add $256, %[b]\n\t"
                     "add $256, %[pf]\n\t"
                     "dec %[npf4]\n\t"
                     "jnz 1b\n"
                     "2:\n\t"
                     "test %[n4], %[n4]\n\t"
                     "jz 4f\n\t"
                     ".p2align 5\n"
                     "3:\n\t"
                     AS_STEP(0) AS_STEP(1) AS_STEP(2) AS_STEP(3)
                     "add $96, %[a]\n\t"
                     "add $256, %[b]\n\t"
                     "dec %[n4]\n\t"
                     "jnz 3b\n"
                     "4:\n\t"
                     "test %[n1], %[n1]\n\t"
                     "jz 6f\n"
                     "5:\n\t"
                     AS_STEP(0)
                     "add $24, %[a]\n\t"
                     "add $64, %[b]\n\t"
                     "dec %[n1]\n\t"
                     "jnz 5b\n"
                     "6:\n\t"
                     AS_SAVE(0) AS_SAVE(1) AS_SAVE(2) AS_SAVE(3) AS_SAVE(4) AS_SAVE(5)
                     AS_SAVE(6) AS_SAVE(7) AS_SAVE(8) AS_SAVE(9) AS_SAVE(10) AS_SAVE(11)
                     : [a] "+r"(a), [b] "+r"(b), [pf] "+r"(pf), [npf4] "+r"(npf4), [n4] "+r"(n4), [n1] "+r"(n1)
                     : [acc] "r"(acc)
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "cc", "memory");
    for (int r = 0; r < mr; r++)
        store_row_256(c + r * ldc, _mm256_load_ps(acc + r * 16), _mm256_load_ps(acc + r * 16 + 8), nv, load, alpha,
                      bias);
}

/* The same tile over a binary16 panel block (tile_h in gemm_kernel.h): each 8 values widened in
 * the register (vcvtph2ps, exact) where the tile above loads them, the same FMAs in the same
 * order, so the same bits. From intrinsics: bound by the weights' stream at the few rows it is
 * used for (batch-1 products over packed weights), where the assembly's FMA rate does not count. */
#define H_ROW(r)                                                                              \
    {                                                                                         \
        __m256 ar = _mm256_broadcast_ss(a + r);                                               \
        c##r##a = _mm256_fmadd_ps(ar, b0, c##r##a);                                           \
        c##r##b = _mm256_fmadd_ps(ar, b1, c##r##b);                                           \
    }
#define H_DECL(r) __m256 c##r##a = _mm256_setzero_ps(), c##r##b = _mm256_setzero_ps();
#define H_STORE(r) \
    if (r < mr) store_row_256(c + r * ldc, c##r##a, c##r##b, nv, load, alpha, bias);

__attribute__((target("avx2,fma,f16c"))) static void tile_6x16_avx2_h(int mr, int kc, const float *a, const uint16_t *b,
                                                                    float *c, long ldc, int nv, int load, float alpha,
                                                                    const float *bias, const void *pfv, int npf)
{
    H_DECL(0) H_DECL(1) H_DECL(2) H_DECL(3) H_DECL(4) H_DECL(5)
    const char *pf = pfv;
    int k = 0, kp = pf ? npf : 0;
    if (kp > kc) kp = kc;
#pragma GCC unroll 4
    for (; k < kp; k++, a += 6, b += 16, pf += 64) {
        _mm_prefetch(pf, _MM_HINT_T1);
        __m256 b0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)b));
        __m256 b1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(b + 8)));
        H_ROW(0) H_ROW(1) H_ROW(2) H_ROW(3) H_ROW(4) H_ROW(5)
    }
#pragma GCC unroll 4
    for (; k < kc; k++, a += 6, b += 16) {
        __m256 b0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)b));
        __m256 b1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(b + 8)));
        H_ROW(0) H_ROW(1) H_ROW(2) H_ROW(3) H_ROW(4) H_ROW(5)
    }
    H_STORE(0) H_STORE(1) H_STORE(2) H_STORE(3) H_STORE(4) H_STORE(5)
}

/* ---------------------------------------------------------------- AVX-512 12x32 */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
store_row_512(float *cr, __m512 v0, __m512 v1, int nv, int load, float alpha, const float *bias)
{
    if (alpha != 1.0f) {
        v0 = _mm512_mul_ps(v0, _mm512_set1_ps(alpha));
        v1 = _mm512_mul_ps(v1, _mm512_set1_ps(alpha));
    }
    if (nv == 32) {
        if (load) {
            v0 = _mm512_add_ps(_mm512_loadu_ps(cr), v0);
            v1 = _mm512_add_ps(_mm512_loadu_ps(cr + 16), v1);
        } else if (bias) {
            v0 = _mm512_add_ps(_mm512_loadu_ps(bias), v0);
            v1 = _mm512_add_ps(_mm512_loadu_ps(bias + 16), v1);
        }
        _mm512_storeu_ps(cr, v0);
        _mm512_storeu_ps(cr + 16, v1);
        return;
    }
    __mmask16 m0 = nv >= 16 ? 0xffff : (__mmask16)((1u << nv) - 1);
    __mmask16 m1 = nv <= 16 ? 0 : (__mmask16)((1u << (nv - 16)) - 1);
    if (load) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
    } else if (bias) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, bias), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, bias + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
}

#define Z_DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
#define Z_ROW(r)                                                                              \
    {                                                                                         \
        __m512 ar = _mm512_set1_ps(a[r]);                                                     \
        c##r##a = _mm512_fmadd_ps(ar, b0, c##r##a);                                           \
        c##r##b = _mm512_fmadd_ps(ar, b1, c##r##b);                                           \
    }
#define Z_STORE(r)                                                                            \
    if (r < mr) store_row_512(c + r * ldc, c##r##a, c##r##b, nv, load, alpha, bias);

/* the rows of a tile, for the macros above: ROWS6(Z_DECL) declares rows 0-5 */
#define ROWS4(X) X(0) X(1) X(2) X(3)
#define ROWS6(X) ROWS4(X) X(4) X(5)
#define ROWS8(X) ROWS6(X) X(6) X(7)
#define ROWS12(X) ROWS8(X) X(8) X(9) X(10) X(11)

/* The k loop of the tiles on R rows over 32-column panels, B's 16 values loaded by BLOAD; the
 * first k steps prefetch LPK lines each of the next packed block (the rate at which the tile
 * reads B: a 32-float row is two lines, a binary16 row one). */
#define B_F32(p) _mm512_load_ps(p)
#define B_F16(p) _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(p)))
#define TILE_X32_BODY(R, BLOAD, LPK)                                                          \
    ROWS##R(Z_DECL)                                                                           \
    const char *pfc = (const char *)pf;                                                       \
    int k = 0, kp = pfc ? (npf + LPK - 1) / LPK : 0;                                          \
    if (kp > kc) kp = kc;                                                                     \
    _Pragma("GCC unroll 4")                                                                   \
    for (; k < kp; k++, a += R, b += 32, pfc += 64 * LPK) {                                   \
        _mm_prefetch(pfc, _MM_HINT_T1);                                                       \
        if (LPK == 2) _mm_prefetch(pfc + 64, _MM_HINT_T1);                                    \
        __m512 b0 = BLOAD(b), b1 = BLOAD(b + 16);                                             \
        ROWS##R(Z_ROW)                                                                        \
    }                                                                                         \
    _Pragma("GCC unroll 4")                                                                   \
    for (; k < kc; k++, a += R, b += 32) {                                                    \
        __m512 b0 = BLOAD(b), b1 = BLOAD(b + 16);                                             \
        ROWS##R(Z_ROW)                                                                        \
    }                                                                                         \
    ROWS##R(Z_STORE)

/* tile_Rx32_avx512: the tile on R rows over 32-column panels */
#define TILE_X32_512(R)                                                                       \
    __attribute__((target("avx512f"))) static void tile_##R##x32_avx512(                      \
        int mr, int kc, const float *a, const float *b, float *c, long ldc, int nv, int load, \
        float alpha, const float *bias, const float *pf, int npf)                             \
    {                                                                                         \
        TILE_X32_BODY(R, B_F32, 2)                                                            \
    }

TILE_X32_512(12)
/* The same tile on 6 rows, for products of few rows over the same 32-column panels (a UNet's
 * 4 positions would leave 8 of 12 rows idle): 12 chains still cover the FMA latency. */
TILE_X32_512(6)
/* And on 4 and 8 rows, for the products of packed weights (gemm_packed.c) over at most 16 rows:
 * a UNet's 4, 8 and 16 positions at batch 1 ran as 6, 12 and 18 rows of the 6-row tile, half
 * the FMAs wasted at 8 positions. 8 accumulators still cover the FMA latency at two 512-bit FMAs
 * a cycle. */
TILE_X32_512(4)
TILE_X32_512(8)

/* tile_Rx32_avx512_h: the same tiles over a binary16 panel block (tile_h in gemm_kernel.h): each
 * 16 values widened in the register (vcvtph2ps, exact) where the tiles above load them, so
 * the same FMAs in the same order, B read at half the bytes. */
#define TILE_X32_512_H(R)                                                                     \
    __attribute__((target("avx512f"))) static void tile_##R##x32_avx512_h(                    \
        int mr, int kc, const float *a, const uint16_t *b, float *c, long ldc, int nv,        \
        int load, float alpha, const float *bias, const void *pf, int npf)                    \
    {                                                                                         \
        TILE_X32_BODY(R, B_F16, 1)                                                            \
    }

TILE_X32_512_H(12)
TILE_X32_512_H(6)
TILE_X32_512_H(4)
TILE_X32_512_H(8)

/* The two tiles reading B where it lies, rows ldb floats apart (tile_b in gemm_kernel.h): the
 * same FMAs in the same order as the tiles above, so the same bits as over a packed copy */
__attribute__((target("avx512f"))) static void tile_12x32_avx512_b(int mr, int kc, const float *a, const float *b,
                                                                   long ldb, float *c, long ldc, int nv, int load,
                                                                   float alpha)
{
    const float *bias = NULL;
    Z_DECL(0) Z_DECL(1) Z_DECL(2) Z_DECL(3) Z_DECL(4) Z_DECL(5)
    Z_DECL(6) Z_DECL(7) Z_DECL(8) Z_DECL(9) Z_DECL(10) Z_DECL(11)
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++, a += 12, b += ldb) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        Z_ROW(0) Z_ROW(1) Z_ROW(2) Z_ROW(3) Z_ROW(4) Z_ROW(5)
        Z_ROW(6) Z_ROW(7) Z_ROW(8) Z_ROW(9) Z_ROW(10) Z_ROW(11)
    }
    Z_STORE(0) Z_STORE(1) Z_STORE(2) Z_STORE(3) Z_STORE(4) Z_STORE(5)
    Z_STORE(6) Z_STORE(7) Z_STORE(8) Z_STORE(9) Z_STORE(10) Z_STORE(11)
}

__attribute__((target("avx512f"))) static void tile_6x32_avx512_b(int mr, int kc, const float *a, const float *b,
                                                                  long ldb, float *c, long ldc, int nv, int load,
                                                                  float alpha)
{
    const float *bias = NULL;
    Z_DECL(0) Z_DECL(1) Z_DECL(2) Z_DECL(3) Z_DECL(4) Z_DECL(5)
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++, a += 6, b += ldb) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        Z_ROW(0) Z_ROW(1) Z_ROW(2) Z_ROW(3) Z_ROW(4) Z_ROW(5)
    }
    Z_STORE(0) Z_STORE(1) Z_STORE(2) Z_STORE(3) Z_STORE(4) Z_STORE(5)
}

/* The two tiles reading A where it lies, row r of the tile at p + r * lda for each run p of its
 * columns (tile_as in gemm_kernel.h; tile_a is one run): the k loop once per run, the
 * accumulators kept across runs; rows past mr read the last row again (valid memory; never
 * stored). So the stored elements get the same FMAs in the same order as over a packed copy. */
#define AP_ROW(r) const float *a##r = p + (long)(r < mr ? r : mr - 1) * lda;
#define ZA_ROW(r)                                                                             \
    {                                                                                         \
        __m512 ar = _mm512_set1_ps(a##r[k]);                                                  \
        c##r##a = _mm512_fmadd_ps(ar, b0, c##r##a);                                           \
        c##r##b = _mm512_fmadd_ps(ar, b1, c##r##b);                                           \
    }

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void tile_12x32_avx512_runs(int mr, int kc, const float *a, long lda,
                                                                    int first, long len, long stride, const float *b,
                                                                    float *c, long ldc, int nv, int load, float alpha)
{
    const float *bias = NULL, *p = a;
    Z_DECL(0) Z_DECL(1) Z_DECL(2) Z_DECL(3) Z_DECL(4) Z_DECL(5)
    Z_DECL(6) Z_DECL(7) Z_DECL(8) Z_DECL(9) Z_DECL(10) Z_DECL(11)
    for (int done = 0, n = first < kc ? first : kc, s = 1;; s++) {
        AP_ROW(0) AP_ROW(1) AP_ROW(2) AP_ROW(3) AP_ROW(4) AP_ROW(5)
        AP_ROW(6) AP_ROW(7) AP_ROW(8) AP_ROW(9) AP_ROW(10) AP_ROW(11)
#pragma GCC unroll 4
        for (int k = 0; k < n; k++, b += 32) {
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
            ZA_ROW(0) ZA_ROW(1) ZA_ROW(2) ZA_ROW(3) ZA_ROW(4) ZA_ROW(5)
            ZA_ROW(6) ZA_ROW(7) ZA_ROW(8) ZA_ROW(9) ZA_ROW(10) ZA_ROW(11)
        }
        if ((done += n) >= kc) break;
        p = a + first - len + s * stride;
        n = kc - done < len ? kc - done : (int)len;
    }
    Z_STORE(0) Z_STORE(1) Z_STORE(2) Z_STORE(3) Z_STORE(4) Z_STORE(5)
    Z_STORE(6) Z_STORE(7) Z_STORE(8) Z_STORE(9) Z_STORE(10) Z_STORE(11)
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void tile_6x32_avx512_runs(int mr, int kc, const float *a, long lda,
                                                                   int first, long len, long stride, const float *b,
                                                                   float *c, long ldc, int nv, int load, float alpha)
{
    const float *bias = NULL, *p = a;
    Z_DECL(0) Z_DECL(1) Z_DECL(2) Z_DECL(3) Z_DECL(4) Z_DECL(5)
    for (int done = 0, n = first < kc ? first : kc, s = 1;; s++) {
        AP_ROW(0) AP_ROW(1) AP_ROW(2) AP_ROW(3) AP_ROW(4) AP_ROW(5)
#pragma GCC unroll 4
        for (int k = 0; k < n; k++, b += 32) {
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
            ZA_ROW(0) ZA_ROW(1) ZA_ROW(2) ZA_ROW(3) ZA_ROW(4) ZA_ROW(5)
        }
        if ((done += n) >= kc) break;
        p = a + first - len + s * stride;
        n = kc - done < len ? kc - done : (int)len;
    }
    Z_STORE(0) Z_STORE(1) Z_STORE(2) Z_STORE(3) Z_STORE(4) Z_STORE(5)
}

/* the tiles of the table: in runs, and in one run (each its own copy of the loop) */
__attribute__((target("avx512f"))) static void tile_12x32_avx512_as(int mr, int kc, const float *a, long lda,
                                                                    int first, long len, long stride, const float *b,
                                                                    float *c, long ldc, int nv, int load, float alpha)
{
    tile_12x32_avx512_runs(mr, kc, a, lda, first, len, stride, b, c, ldc, nv, load, alpha);
}

__attribute__((target("avx512f"))) static void tile_12x32_avx512_a(int mr, int kc, const float *a, long lda,
                                                                   const float *b, float *c, long ldc, int nv,
                                                                   int load, float alpha)
{
    tile_12x32_avx512_runs(mr, kc, a, lda, kc, kc, 0, b, c, ldc, nv, load, alpha);
}

__attribute__((target("avx512f"))) static void tile_6x32_avx512_as(int mr, int kc, const float *a, long lda,
                                                                   int first, long len, long stride, const float *b,
                                                                   float *c, long ldc, int nv, int load, float alpha)
{
    tile_6x32_avx512_runs(mr, kc, a, lda, first, len, stride, b, c, ldc, nv, load, alpha);
}

__attribute__((target("avx512f"))) static void tile_6x32_avx512_a(int mr, int kc, const float *a, long lda,
                                                                  const float *b, float *c, long ldc, int nv,
                                                                  int load, float alpha)
{
    tile_6x32_avx512_runs(mr, kc, a, lda, kc, kc, 0, b, c, ldc, nv, load, alpha);
}
#endif

/* ---------------------------------------------------------------- the table */
/* Blocking (gemm.c): a row tile of A (kc x MR floats: 12 KB for 256 x 12) stays in L1 while it
 * passes over the panels of the B block (kc x nc: 512 KB for 256 x 512, half of a 1 MB L2). */
static const nn_tile_kernel portable_6x16 = { 6, 16, 256, 512, tile_6x16_portable, NULL, NULL, NULL, NULL };
#ifdef TILES_X86
static const nn_tile_kernel avx2_6x16 = { 6, 16, 256, 512, tile_6x16_avx2, NULL, NULL, NULL, tile_6x16_avx2_h };
static const nn_tile_kernel avx512_12x32 = { 12, 32, 256, 512, tile_12x32_avx512, tile_12x32_avx512_b, tile_12x32_avx512_a,
                                             tile_12x32_avx512_as, tile_12x32_avx512_h };
static const nn_tile_kernel avx512_6x32 = { 6, 32, 256, 512, tile_6x32_avx512, tile_6x32_avx512_b, tile_6x32_avx512_a,
                                            tile_6x32_avx512_as, tile_6x32_avx512_h };
static const nn_tile_kernel avx512_4x32 = { 4, 32, 256, 512, tile_4x32_avx512, NULL, NULL, NULL, tile_4x32_avx512_h };
static const nn_tile_kernel avx512_8x32 = { 8, 32, 256, 512, tile_8x32_avx512, NULL, NULL, NULL, tile_8x32_avx512_h };
#endif

static int cpu_supports(int variant)
{
    switch (variant) {
    case NN_KERNEL_PORTABLE:
    case NN_KERNEL_OPENBLAS: return 1;
#ifdef TILES_X86
    case NN_KERNEL_AVX2:   /* f16c: the binary16 tile */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case NN_KERNEL_AVX512: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

static int widest(void)
{
    return cpu_supports(NN_KERNEL_AVX512) ? NN_KERNEL_AVX512 : cpu_supports(NN_KERNEL_AVX2) ? NN_KERNEL_AVX2
                                                                                          : NN_KERNEL_PORTABLE;
}

static const char *const names[NN_KERNEL_COUNT] = { "portable", "avx2", "avx512", "openblas" };
static int chosen = -1;
static int cpu_amd;                 /* where B read in place pays (gemm.c's b_in_place) */
static int b_in_place_mode = -1;    /* -1: from the CPU; 0 never; 1 where the tile can */
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    __builtin_cpu_init();
    cpu_amd = __builtin_cpu_is("amd") != 0;
    chosen = widest();
    const char *want = getenv("ILT_KERNEL");
    if (!want || !*want) return;
    for (int v = 0; v < NN_KERNEL_COUNT; v++)
        if (!strcmp(want, names[v])) {
            /* narrower than the widest, or the widest itself: taken; wider: the widest stays */
            if (v == NN_KERNEL_OPENBLAS || v < chosen) chosen = v;
            return;
        }
    fprintf(stderr, "ilt: ILT_KERNEL=%s: expected avx512, avx2, portable or openblas; using %s\n", want,
            names[chosen]);
}

int nn_kernel(void)
{
    pthread_once(&choose_once, choose);
    return chosen;
}

const char *nn_kernel_name(int variant)
{
    return variant >= 0 && variant < NN_KERNEL_COUNT ? names[variant] : "unknown";
}

int nn_kernel_supported(int variant)
{
    __builtin_cpu_init();
    return cpu_supports(variant);
}

int nn_kernel_set(int variant)
{
    pthread_once(&choose_once, choose);
    if (!nn_kernel_supported(variant))
        return error_set("nn kernel: this CPU does not run the %s variant", nn_kernel_name(variant));
    chosen = variant;
    return 0;
}

int nn_gemm_b_in_place(int mode)
{
    int was = b_in_place_mode;
    b_in_place_mode = mode < 0 ? -1 : mode > 0;
    return was;
}

int nn_tile_b_in_place(void)
{
    if (b_in_place_mode >= 0) return b_in_place_mode;
    pthread_once(&choose_once, choose);
    return cpu_amd;
}

/* the SIMD variant under "openblas": the widest the CPU has */
static int hardware(int variant)
{
    return variant == NN_KERNEL_OPENBLAS ? widest() : variant;
}

const nn_tile_kernel *nn_tile_general(int variant)
{
    switch (hardware(variant)) {
#ifdef TILES_X86
    case NN_KERNEL_AVX512: return &avx512_12x32;
    case NN_KERNEL_AVX2: return &avx2_6x16;
#endif
    default: return &portable_6x16;
    }
}

const nn_tile_kernel *nn_tile_short(const nn_tile_kernel *t)
{
#ifdef TILES_X86
    if (t == &avx512_12x32) return &avx512_6x32;
#endif
    return t;
}

static int padded_rows(int M, const nn_tile_kernel *t) { return (M + t->mr - 1) / t->mr * t->mr; }

const nn_tile_kernel *nn_tile_packed(const nn_tile_kernel *t, int M)
{
    /* the fewest padded rows; of equals, the first listed (12 before 6 at 9-12 rows, 8 before 4
     * at 7-8 and 13-16) */
    const nn_tile_kernel *c[4] = { t, nn_tile_short(t) }, *best = t;
    int n = 2;
#ifdef TILES_X86
    if (t == &avx512_12x32 && M <= 16) c[n++] = &avx512_8x32, c[n++] = &avx512_4x32;
#endif
    for (int i = 1; i < n; i++)
        if (padded_rows(M, c[i]) < padded_rows(M, best)) best = c[i];
    return best;
}
