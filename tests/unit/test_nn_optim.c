/* test_nn_optim.c — the parameter store, arena, AdamW with groups + clipping + cosine schedule
 * against PyTorch (tests/nn_optim_ref.py), the EMA schedule of Diffusion Policy, and
 * bit-identical results for a fixed thread count. */
#include "nn_gradcheck.h"
#include "npy_load.h"
#include "nn/kernels.h"

#include <cblas.h>

#define REF "nn_optim_ref/"

static void init_vals(float *x, int n, double k)
{
    for (int i = 0; i < n; i++) x[i] = (float)sin(0.37 * i + k);
}

static void grad_vals(float *g, int n, double k, int t)
{
    for (int i = 0; i < n; i++) g[i] = (float)(cos(0.23 * i * (t + 1) + k) * (t % 2 ? 1.5 : 0.4));
}

static void check_params(void)
{
    nn_params *ps = nn_params_new();
    nn_tensor *w = nn_param(ps, "layer.weight", 0, NN_DIMS(3, 4));
    nn_tensor *b = nn_param(ps, "layer.bias", NN_NO_DECAY, NN_DIMS(4));
    nn_tensor *rm = nn_param(ps, "bn.running_mean", NN_BUFFER, NN_DIMS(4));
    tap_ok(w && b && rm && w->grad && b->grad && !rm->grad && !rm->requires_grad, "params: trainable have grads, buffers not");
    tap_ok(nn_param(ps, "layer.bias", 0, NN_DIMS(2)) == NULL && strstr(error_get(), "twice"), "params: duplicate name refused (%s)", error_get());
    /* registering more moves the block: tensors are re-pointed */
    w->data[5] = 7.0f;
    w->grad[3] = -2.0f;
    int fresh_zero = 1;
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "extra.%d", i);
        nn_tensor *e = nn_param(ps, name, 0, NN_DIMS(64));
        for (int k = 0; k < 64; k++) fresh_zero &= e->data[k] == 0.0f && e->grad[k] == 0.0f;
        e->data[i % 64] = (float)i;   /* written before the next growth, read after it */
    }
    nn_tensor *big = nn_param(ps, "big", 0, NN_DIMS(1 << 20));   /* several doublings at once */
    for (long k = 0; k < big->size; k += 4093) fresh_zero &= big->data[k] == 0.0f && big->grad[k] == 0.0f;
    int kept = 1;
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "extra.%d", i);
        kept &= nn_param_find(ps, name)->data[i % 64] == (float)i;
    }
    tap_ok(w->data[5] == 7.0f && w->grad[3] == -2.0f && kept && w->data == ps->data + nn_param_info_of(ps, w)->offset,
           "params: values and gradients survive growth, pointers follow");
    tap_ok(fresh_zero, "params: a new parameter's values and gradient start at zero");
    tap_ok(((uintptr_t)b->data & 63) == 0, "params: each parameter 64-byte aligned");
    tap_ok(nn_param_set_flags(ps, "layer.", NN_FROZEN, 1) == 2 && !w->grad && !w->requires_grad, "params: freeze by prefix");
    nn_param_set_flags(ps, "layer.", NN_FROZEN, 0);
    tap_ok(w->grad != NULL && nn_params_trainable(ps) == 12 + 4 + 200 * 64 + (1 << 20), "params: unfreeze; trainable count %ld",
           nn_params_trainable(ps));
    big->data[big->size - 1] = 3.0f;
    nn_params_inference_only(ps);   /* the block shrinks to the parameters */
    tap_ok(ps->capacity == ps->total && !ps->grad && w->data[5] == 7.0f && big->data[big->size - 1] == 3.0f &&
           nn_param_find(ps, "extra.199")->data[199 % 64] == 199.0f, "params: inference only keeps the values in a block of their size");
    nn_params_free(ps);
}

static void check_arena(void)
{
    nn_arena *a = nn_arena_new(1024);
    void *p1 = nn_arena_alloc(a, 100);
    size_t m = nn_arena_mark(a);
    void *p2 = nn_arena_alloc(a, 5000);   /* forces a second block */
    tap_ok(p1 && p2 && ((uintptr_t)p2 & 63) == 0, "arena: grows past the first block, aligned");
    nn_arena_release(a, m);
    void *p3 = nn_arena_alloc(a, 64);
    tap_ok(p3 != NULL && nn_arena_used(a) <= m + 5000 + 64, "arena: release to mark");
    size_t peak = nn_arena_peak(a);
    nn_arena_reset(a);
    void *q = nn_arena_alloc(a, 5000);
    void *r = nn_arena_alloc(a, 100);
    tap_ok(q && r && (char *)r == (char *)q + 5056 && peak >= 5100, "arena: reset merges blocks into one (peak %zu)", peak);
    nn_arena_free(a);
}

static void check_adamw(void)
{
    nn_params *ps = nn_params_new();
    nn_tensor *w = nn_param(ps, "w", 0, NN_DIMS(3, 4));
    nn_tensor *b = nn_param(ps, "b", NN_NO_DECAY, NN_DIMS(4));
    nn_tensor *buf = nn_param(ps, "buf", NN_BUFFER, NN_DIMS(2));
    nn_param_set_group(ps, "b", 1);
    init_vals(w->data, 12, 0.0);
    init_vals(b->data, 4, 1.0);
    buf->data[0] = 3.0f;
    nn_adamw opt;
    nn_adamw_init(&opt, ps, 1e-2f, 0.1f);
    nn_adamw_set_group(&opt, 1, 3e-3f, 0.5f);   /* weight decay ignored: NN_NO_DECAY */
    ref_array rw, rb, rn, rf;
    if (ref_load(REF "w.npy", &rw) || ref_load(REF "b.npy", &rb) || ref_load(REF "grad_norms.npy", &rn) ||
        ref_load(REF "lr_factors.npy", &rf)) {
        tap_ok(0, "adamw: reference files missing");
        return;
    }
    float norms[6], factors[6];
    for (int t = 0; t < 6; t++) {
        grad_vals(w->grad, 12, 0.0, t);
        grad_vals(b->grad, 4, 1.0, t);
        norms[t] = nn_clip_grad_norm(ps, 1.0f);
        factors[t] = nn_lr_cosine(t, 2, 6);
        nn_adamw_step(&opt, factors[t]);
    }
    tap_close(factors, rf.data, 6, 1e-6, 0, "cosine schedule with warmup = diffusers' lambda");
    tap_close(norms, rn.data, 6, 1e-5, 1e-5, "clip_grad_norm total norms = torch");
    tap_close(w->data, rw.data, 12, 2e-6, 1e-5, "adamw weights (group 0, decay 0.1) = torch.optim.AdamW");
    tap_close(b->data, rb.data, 4, 2e-6, 1e-5, "adamw bias (group 1, lr 3e-3, no decay) = torch.optim.AdamW");
    tap_ok(buf->data[0] == 3.0f, "adamw leaves buffers alone");
    ref_free(&rw); ref_free(&rb); ref_free(&rn); ref_free(&rf);

    /* EMA: decay schedule of Diffusion Policy's EMAModel(power=0.75) */
    ref_array rd;
    if (ref_load(REF "ema_decay.npy", &rd) == 0) {
        nn_ema ema;
        nn_ema_init(&ema, ps);
        float d[9];
        for (int k = 0; k < 8; k++) d[k] = nn_ema_decay(&ema, k);
        d[8] = nn_ema_decay(&ema, 1000000);
        tap_close(d, rd.data, 9, 1e-6, 1e-6, "ema decay schedule = diffusion_policy EMAModel");
        /* two updates with decay 0 copy the weights; the third averages with 0.405 */
        float w0 = w->data[0];
        nn_ema_update(&ema);
        w->data[0] = w0 + 1.0f;
        nn_ema_update(&ema);
        float s1 = ema.shadow[nn_param_info_of(ps, w)->offset];
        w->data[0] = w0 + 3.0f;
        nn_ema_update(&ema);
        float s2 = ema.shadow[nn_param_info_of(ps, w)->offset];
        tap_ok(s1 == w0 + 1.0f && fabsf(s2 - (rd.data[2] * (w0 + 1) + (1 - rd.data[2]) * (w0 + 3))) < 1e-6f,
               "ema update: copy while decay is 0, then decay*shadow + (1-decay)*w");
        nn_ema_swap(&ema);
        tap_ok(w->data[0] == s2, "ema swap puts the averaged weights in place");
        nn_ema_free(&ema);
        ref_free(&rd);
    }
    nn_adamw_free(&opt);
    nn_params_free(ps);
}

/* zero_grad = 1: the same weights as zero_grad = 0, and the gradients are zero after the step
 * (a large tensor, so that the pool splits it). */
static void check_adamw_zero_grad(void)
{
    static float w_plain[70000];
    int ok = 1;
    for (int z = 0; z < 2; z++) {
        nn_set_threads(2);
        nn_params *ps = nn_params_new();
        nn_tensor *w = nn_param(ps, "w", 0, NN_DIMS(70000));
        init_vals(w->data, 70000, 0.5);
        nn_adamw opt;
        nn_adamw_init(&opt, ps, 1e-2f, 0.1f);
        opt.zero_grad = z;
        for (int t = 0; t < 3; t++) {
            if (!z) nn_params_zero_grad(ps);
            for (int i = 0; i < 70000; i++) w->grad[i] += (float)cos(0.01 * i + t);
            nn_adamw_step(&opt, 1.0f);
        }
        if (!z) memcpy(w_plain, w->data, sizeof w_plain);
        else {
            ok = memcmp(w_plain, w->data, sizeof w_plain) == 0;
            for (int i = 0; i < 70000; i++) if (w->grad[i] != 0.0f) ok = 0;
        }
        nn_adamw_free(&opt);
        nn_params_free(ps);
    }
    nn_set_threads(1);
    tap_ok(ok, "adamw zero_grad: same weights as zeroing before each backward, gradients zero after the step");
}

/* A small conv net forward + backward twice with 2 threads: bit-identical outputs and grads. */
static void run_net(float *out, float *gw, int threads)
{
    nn_set_threads(threads);
    rng_t r;
    rng_seed(&r, 5);
    nn_params *ps = nn_params_new();
    nn_tensor *w1 = nn_param(ps, "c1.weight", 0, NN_DIMS(16, 3, 3, 3));
    nn_tensor *w2 = nn_param(ps, "c2.weight", 0, NN_DIMS(8, 16, 3, 3));
    nn_tensor *g = nn_param(ps, "gn.weight", 0, NN_DIMS(16));
    nn_tensor *bb = nn_param(ps, "gn.bias", 0, NN_DIMS(16));
    nn_init_normal(w1, &r, 0, 0.3f);
    nn_init_normal(w2, &r, 0, 0.1f);
    nn_init_const(g, 1);
    float *x = malloc(4 * 3 * 20 * 20 * sizeof(float));
    rng_fill_normal(&r, x, 4 * 3 * 20 * 20, 0, 1);
    nn_ctx *c = nn_ctx_new(1 << 20);
    nn_ctx_set_rng(c, &r);
    nn_tensor *h = nn_conv2d(c, nn_wrap(c, x, NN_DIMS(4, 3, 20, 20)), w1, NULL, 1, 1);
    h = nn_dropout(c, nn_mish(c, nn_group_norm(c, h, 4, g, bb, 1e-5f)), 0.1f);
    h = nn_conv2d(c, h, w2, NULL, 2, 1);
    nn_tensor *loss = nn_mean(c, nn_mul(c, h, h));
    nn_backward(c, loss);
    memcpy(out, h->data, (size_t)h->size * sizeof(float));
    memcpy(gw, w1->grad, (size_t)w1->size * sizeof(float));
    nn_ctx_free(c);
    nn_params_free(ps);
    free(x);
}

static void check_determinism(void)
{
    static float o1[4 * 8 * 10 * 10], o2[4 * 8 * 10 * 10], o3[4 * 8 * 10 * 10], g1[432], g2[432], g3[432];
    run_net(o1, g1, 2);
    run_net(o2, g2, 2);
    run_net(o3, g3, 1);
    tap_ok(!memcmp(o1, o2, sizeof o1) && !memcmp(g1, g2, sizeof g1), "2 threads, same seed: bit-identical outputs and gradients");
    tap_close(o3, o1, 3200, 1e-5, 1e-4, "1 thread vs 2 threads: same values");
    tap_close(g3, g1, 432, 1e-5, 1e-3, "1 thread vs 2 threads: same gradients");
    nn_set_threads(1);
}

/* The pool under thread-count changes between loops: every index of every loop is visited
 * exactly once (a worker created after earlier loops must not rerun or miscount them). */
static int visits[4096];
static void visit(void *arg, long b, long e)
{
    for (long i = b; i < e; i++) __atomic_fetch_add(&visits[i], 1, __ATOMIC_RELAXED);
}

static void check_pool_switching(void)
{
    int ok = 1;
    for (int r = 0; r < 300 && ok; r++) {
        if (r % 10 == 0) nn_set_threads(1 + (r / 10) % 3);
        long n = 1 + (r * 37) % 4096;
        memset(visits, 0, sizeof visits);
        nn_parallel_for(n, 1, visit, NULL);
        for (long i = 0; i < 4096; i++)
            if (visits[i] != (i < n)) ok = 0;
    }
    nn_set_threads(1);
    tap_ok(ok, "thread pool: 300 loops across 1/2/3-thread switches visit every index exactly once");
}

/* nn_gemm (the engine's kernel) split over the pool against one direct cblas_sgemm call. */
static void check_gemm_split(void)
{
    static const int dims[][3] = { { 100, 333, 200 }, { 333, 100, 200 }, { 64, 1000, 70 }, { 17, 40, 3000 } };
    nn_set_threads(2);
    rng_t r;
    rng_seed(&r, 3);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K * N * 4), *C1 = malloc((size_t)M * N * 4),
                      *C2 = malloc((size_t)M * N * 4);
                rng_fill_uniform(&r, A, (size_t)M * K, -1, 1);
                rng_fill_uniform(&r, B, (size_t)K * N, -1, 1);
                rng_fill_uniform(&r, C1, (size_t)M * N, -1, 1);
                memcpy(C2, C1, (size_t)M * N * 4);
                nn_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 1.0f, C1, N);
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 0.5f, A,
                            ta ? M : K, B, tb ? K : N, 1.0f, C2, N);
                char label[96];
                snprintf(label, sizeof label, "nn_gemm split on 2 threads %dx%dx%d ta=%d tb=%d = sgemm", M, N, K, ta, tb);
                /* two summation orders of K products of magnitude <= 0.5 differ by about sqrt(K) ulps of
                 * the partial sums, so the absolute bound grows with sqrt(K) (K = 3000: 5.5e-4) */
                tap_close(C1, C2, (long)M * N, 1e-5 * sqrt((double)K), 1e-5, label);
                free(A); free(B); free(C1); free(C2);
            }
    nn_set_threads(1);
}

/* Constant position tables against tests/nn_optim_ref.py (reference formulas in PyTorch). */
static void check_positions(void)
{
    nn_ctx *c = nn_ctx_new(1 << 20);
    ref_array a;
    float steps[3] = { 0, 10, 999 };
    if (ref_load(REF "sine_pos_2d.npy", &a) == 0) {
        nn_tensor *t = nn_sine_pos_2d(c, 16, 3, 5);
        tap_close(t->data, a.data, a.size, 1e-5, 1e-5, "sine_pos_2d = DETR PositionEmbeddingSine(normalize=True) [1,16,3,5]");
        ref_free(&a);
    }
    if (ref_load(REF "sine_table_1d.npy", &a) == 0) {
        nn_tensor *t = nn_sine_table_1d(c, 7, 10);
        tap_close(t->data, a.data, a.size, 1e-5, 1e-5, "sine_table_1d = ACT get_sinusoid_encoding_table(7, 10)");
        ref_free(&a);
    }
    if (ref_load(REF "sinusoidal_pos_emb.npy", &a) == 0) {
        nn_tensor *t = nn_sinusoidal_pos_emb(c, steps, 3, 16);
        tap_close(t->data, a.data, a.size, 2e-4, 1e-4, "sinusoidal_pos_emb = Diffusion Policy SinusoidalPosEmb(16)");
        ref_free(&a);
    }
    nn_ctx_free(c);
}

int main(void)
{
    check_positions();
    check_gemm_split();
    check_pool_switching();
    check_params();
    check_arena();
    check_adamw();
    check_adamw_zero_grad();
    check_determinism();
    return tap_done();
}
