/* vexp.h — the engine's own e^x, scalar and 8 lanes (AVX2+FMA), shared by the softmax and the
 * activations (ops_softmax.c, ops_elementwise.c). */
#ifndef ILT_NN_VEXP_H
#define ILT_NN_VEXP_H

#include <math.h>
#include <stdint.h>

/* e^x (exact to about 2 ulp for x <= 88, e^88 above; 0 below -87.33, where e^x is
 * no longer a normal float; NaN stays NaN): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
 * degree-6 polynomial for e^r (Cephes' expf coefficients) and 2^n into the exponent bits. The
 * scalar and the 8-lane forms do the same operations, so an element's value does not depend on
 * which one computed it. glibc's expf was 2-3% of a batch-1 ACT inference
 * (softmax) and Mish's 8% of a Diffusion Policy UNet block's training step. */
#define EXP_LO -87.33654f
#define EXP_HI 88.0f
static inline float exp_scalar(float x)
{
    if (x != x) return x;
    if (x < EXP_LO) return 0.0f;
    float c = x > EXP_HI ? EXP_HI : x;
    float n = rintf(c * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, c);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float e = fmaf(p, r * r, r) + 1.0f;
    union { float f; int32_t i; } scale = { .i = ((int32_t)n + 127) << 23 };
    return e * scale.f;
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static inline __m256 exp_8(__m256 x)
{
    __m256 c = _mm256_min_ps(x, _mm256_set1_ps(EXP_HI));   /* NaN: x (second operand) */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), c);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    /* n is NaN for a NaN x: its integer conversion is garbage, replaced below */
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    e = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
    e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ));
    return _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
#endif

#endif
