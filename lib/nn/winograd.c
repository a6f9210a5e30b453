/* winograd.c — F(2x2, 3x3) convolution for inference (winograd.h).
 *
 * With the transforms of Lavin and Gray ("Fast Algorithms for Convolutional Neural Networks",
 * 2016): an input tile d (4x4, rows and columns 2t - pad .. 2t - pad + 3) becomes V = B^T d B, a
 * filter g (3x3) becomes U = G g G^T, and the 2x2 outputs are Y = A^T (U .* V) A, with
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 *
 * Summed over input channels, each of the 16 elements e of U .* V is a product
 * M_e [tiles, O] = V_e [tiles, C] U_e^T, run over U packed once (gemm_packed.h).
 *
 * Layout, for B samples of T tiles: V [16][C][B*T] (a channel's tiles are contiguous: the input
 * transform writes rows, and the packed product reads V_e as B*T x C with strides (1, B*T));
 * M [16][B*T][O]. Threads split the (sample, channel) pairs of the input transform, the 16
 * products, and the (sample, block of 16 output channels) pairs of the output transform; every
 * value is computed by one thread in a fixed order. */
#include "nn/winograd.h"
#include "nn/tensor.h"
#include "nn/threads.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Where it pays (packed direct convolution against this, weights streamed from memory, 1 and 2
 * threads): F(2x2, 3x3) spends 16 multiplications per tile, so per output 16 T / (Ho Wo)
 * against the direct 9, and its transformed weight is 16/9 the size. Measured faster at every
 * ResNet18 map from 4x5 (6 tiles, 4.8 per output: 1.94 -> 1.10 ms for layer4 at 120x160 on 2
 * threads) to 30x40 (1.91 -> 0.98 ms), slower at 3x3 (4 tiles, 7.1 per output: layer4 at 84x84,
 * 1.04 -> 1.13 ms). So: at least 6 tiles and at most 6 multiplications per output. */
#define WINOGRAD_MIN_TILES 6
#define WINOGRAD_MAX_W 1024   /* bounds the per-thread row buffers on the stack */

static int tiles_h(const nn_conv_geom *g) { return (g->Ho + 1) / 2; }
static int tiles_w(const nn_conv_geom *g) { return (g->Wo + 1) / 2; }

int nn_winograd_suits(const nn_conv_geom *g, int O)
{
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && O % 16 == 0 && g->W <= WINOGRAD_MAX_W &&
           g->ph <= 2 && g->pw <= 2 && (long)tiles_h(g) * tiles_w(g) >= WINOGRAD_MIN_TILES &&
           16L * tiles_h(g) * tiles_w(g) <= 6L * g->Ho * g->Wo;
}

/* U [16*O, C] from w [O, C, 3, 3]: U[e*O + o][c] = (G g G^T)[e / 4][e % 4], packed in precision */
static nn_packed *winograd_pack(const float *w, int O, int C, int precision)
{
    float *u = malloc(sizeof(float) * 16 * (size_t)O * C);
    if (!u) { error_set("nn winograd: out of memory for a [%d, %d, 3, 3] weight", O, C); return NULL; }
    static const double G[4][3] = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)o * C + c) * 9;
            double t[4][3];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    u[((size_t)(i * 4 + j) * O + o) * C + c] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
    nn_packed *p = nn_pack_weights_step(u, 16 * O, C, O, precision);   /* products start at e*O */
    free(u);
    return p;
}

const nn_packed *nn_weight_winograd(nn_tensor *w)
{
    if (!w->frozen || w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3) return NULL;
    const int O = w->shape[0], C = w->shape[1];
    if (w->packed && (nn_packed_rows(w->packed) != 16 * O || nn_packed_cols(w->packed) != C)) return NULL;
    if (w->packed && (nn_packed_stale(w->packed, O) || nn_packed_precision(w->packed) != w->frozen)) {
        /* packed under another kernel variant, or in another precision */
        nn_packed_free(w->packed);
        w->packed = NULL;
    }
    if (!w->packed) w->packed = winograd_pack(w->data, O, C, w->frozen);
    return w->packed;
}

long nn_winograd_work_floats(const nn_conv_geom *g, int O)
{
    long BT = (long)g->B * tiles_h(g) * tiles_w(g);
    return 16 * BT * ((long)g->C + O);
}

/* ---------------------------------------------------------------- input transform */
typedef struct {
    const nn_conv_geom *g;
    const float *x;       /* [B, C, H, W] */
    float *V;             /* [16][C][B*T] */
} input_job;

#define TW_MAX (WINOGRAD_MAX_W / 2 + 2)   /* tiles per row, with room for the padded row */

/* d B for input row iy of one channel, for every tile of the row: a[k][t] = column k of
 * (row segment xp[2t .. 2t+3]) B, where xp is the row zero-padded by pw on the left. */
static void row_transform(const nn_conv_geom *g, const float *xc, int iy, int tw, float *xp, float *a)
{
    float *restrict a0 = a, *restrict a1 = a + TW_MAX, *restrict a2 = a + 2 * TW_MAX, *restrict a3 = a + 3 * TW_MAX;
    if (iy < 0 || iy >= g->H) {
        memset(a, 0, sizeof(float) * 4 * TW_MAX);
        return;
    }
    const int len = 2 * tw + 2, hi = g->pw + g->W < len ? g->pw + g->W : len;
    memset(xp, 0, sizeof(float) * len);
    memcpy(xp + g->pw, xc + (size_t)iy * g->W, sizeof(float) * (hi - g->pw));
    const float *restrict p = xp;
    for (int t = 0; t < tw; t++) {
        a0[t] = p[2 * t] - p[2 * t + 2];
        a1[t] = p[2 * t + 1] + p[2 * t + 2];
        a2[t] = p[2 * t + 2] - p[2 * t + 1];
        a3[t] = p[2 * t + 1] - p[2 * t + 3];
    }
}

static void input_channels(void *arg, long i0, long i1)   /* items: (sample, channel) pairs */
{
    const input_job *j = arg;
    const nn_conv_geom *g = j->g;
    const int th = tiles_h(g), tw = tiles_w(g);
    const long T = (long)th * tw, BT = g->B * T, CT = (long)g->C * BT;
    float xp[2 * TW_MAX], rows[4][4 * TW_MAX];   /* the row transforms of a tile row's 4 input rows */
    for (long i = i0; i < i1; i++) {
        const long sample = i / g->C, c = i % g->C;
        const float *xc = j->x + (size_t)i * g->H * g->W;
        int slot[4] = { 0, 1, 2, 3 };
        for (int ty = 0; ty < th; ty++) {
            /* tile rows overlap by two input rows: the last two of the previous are the first two */
            if (ty > 0) {
                int s0 = slot[0], s1 = slot[1];
                slot[0] = slot[2], slot[1] = slot[3], slot[2] = s0, slot[3] = s1;
            }
            for (int r = ty > 0 ? 2 : 0; r < 4; r++) row_transform(g, xc, 2 * ty - g->ph + r, tw, xp, rows[slot[r]]);
            float *base = j->V + c * BT + sample * T + (long)ty * tw;
            for (int k = 0; k < 4; k++) {   /* B^T (d B), column k: rows 0..3 of V */
                const float *restrict r0 = rows[slot[0]] + k * TW_MAX, *restrict r1 = rows[slot[1]] + k * TW_MAX;
                const float *restrict r2 = rows[slot[2]] + k * TW_MAX, *restrict r3 = rows[slot[3]] + k * TW_MAX;
                float *restrict v0 = base + (0 * 4 + k) * CT, *restrict v1 = base + (1 * 4 + k) * CT;
                float *restrict v2 = base + (2 * 4 + k) * CT, *restrict v3 = base + (3 * 4 + k) * CT;
                for (int t = 0; t < tw; t++) {
                    v0[t] = r0[t] - r2[t];
                    v1[t] = r1[t] + r2[t];
                    v2[t] = r2[t] - r1[t];
                    v3[t] = r1[t] - r3[t];
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- the 16 products */
typedef struct {
    long BT;              /* rows: tiles of every sample */
    int O, C;
    const float *V;
    const nn_packed *U;
    float *M;             /* [16][B*T][O] */
    int failed;
} product_job;

static void products(void *arg, long e0, long e1)
{
    product_job *j = arg;
    for (long e = e0; e < e1; e++)
        if (nn_gemm_packed((int)j->BT, (int)e * j->O, j->O, j->V + e * j->C * j->BT, 1, j->BT, j->U, NULL,
                           j->M + e * j->BT * j->O, j->O, 0) < 0)
            j->failed = 1;
}

/* ---------------------------------------------------------------- output transform */
typedef struct {
    const nn_conv_geom *g;
    int O;
    const float *M, *b;
    float *y;             /* [B, O, Ho, Wo] */
} output_job;

#define OB 16   /* output channels per block */

static void output_blocks(void *arg, long i0, long i1)   /* items: (sample, block of OB channels) */
{
    const output_job *j = arg;
    const nn_conv_geom *g = j->g;
    const int th = tiles_h(g), tw = tiles_w(g), O = j->O, blocks = O / OB;
    const long T = (long)th * tw, TO = g->B * T * O, HWo = (long)g->Ho * g->Wo;
    for (long i = i0; i < i1; i++) {
        const long sample = i / blocks;
        const int o0 = (int)(i % blocks) * OB;
        float *ys = j->y + sample * O * HWo;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++) {
                const long t = sample * T + (long)ty * tw + tx;
                const float *m = j->M + t * O + o0;
                float y00[OB], y01[OB], y10[OB], y11[OB];
                for (int o = 0; o < OB; o++) {
                    float s0[4], s1[4];   /* A^T m: rows 0 and 1 */
                    for (int k = 0; k < 4; k++) {
                        float m0 = m[(0 * 4 + k) * TO + o], m1 = m[(1 * 4 + k) * TO + o];
                        float m2 = m[(2 * 4 + k) * TO + o], m3 = m[(3 * 4 + k) * TO + o];
                        s0[k] = m0 + m1 + m2;
                        s1[k] = m1 - m2 - m3;
                    }
                    float bias = j->b ? j->b[o0 + o] : 0.0f;
                    y00[o] = s0[0] + s0[1] + s0[2] + bias;
                    y01[o] = s0[1] - s0[2] - s0[3] + bias;
                    y10[o] = s1[0] + s1[1] + s1[2] + bias;
                    y11[o] = s1[1] - s1[2] - s1[3] + bias;
                }
                const int oy = 2 * ty, ox = 2 * tx, right = ox + 1 < g->Wo, down = oy + 1 < g->Ho;
                for (int o = 0; o < OB; o++) {
                    float *yo = ys + (long)(o0 + o) * HWo + (long)oy * g->Wo + ox;
                    yo[0] = y00[o];
                    if (right) yo[1] = y01[o];
                    if (down) {
                        yo[g->Wo] = y10[o];
                        if (right) yo[g->Wo + 1] = y11[o];
                    }
                }
            }
    }
}

int nn_conv2d_forward_winograd(const nn_conv_geom *g, int O, const float *x, const nn_packed *U, const float *b,
                               float *y, float *work)
{
    if (g->kh != 3 || g->kw != 3 || g->sh != 1 || g->sw != 1 || g->W > WINOGRAD_MAX_W || O % OB ||
        nn_packed_rows(U) != 16 * O || nn_packed_cols(U) != g->C)
        return error_set("nn conv2d winograd: a [%d, %d] transformed weight for %d x %d input channels, kernel %dx%d "
                         "stride %d",
                         nn_packed_rows(U), nn_packed_cols(U), O, g->C, g->kh, g->kw, g->sh);
    const long BT = (long)g->B * tiles_h(g) * tiles_w(g);
    if (BT > 0x7fffffffL) return error_set("nn conv2d winograd: %ld tiles", BT);
    float *V = work, *M = work + 16L * g->C * BT;
    input_job ij = { g, x, V };
    nn_parallel_for((long)g->B * g->C, 1, input_channels, &ij);
    product_job pj = { BT, O, g->C, V, U, M, 0 };
    nn_parallel_for(16, 1, products, &pj);
    if (pj.failed) return -1;
    output_job oj = { g, O, M, b, y };
    nn_parallel_for((long)g->B * (O / OB), 1, output_blocks, &oj);
    return 0;
}
