/* test_nn_dp_transformer.c — Diffusion Policy's TransformerForDiffusion (mod_transformer_diffusion)
 * against PyTorch (tests/torch_ref/transformer_diffusion, make_refs.py): state_dict names, order
 * and shapes, the causal and memory masks, output, input gradients and every parameter gradient;
 * DP's weight-decay grouping; DP's initialisation; a random-direction gradient check of the
 * whole module with dropout on; shape and configuration errors; and a checkpoint round trip of
 * its buffers and empty _dummy_variable. */
#include <math.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "nn/modules.h"
#include "nn_ref.h"

static const char *CASE = "transformer_diffusion";
static const ref_tol NORMAL = {1e-4, 1e-3};

/* the reference's tiny configuration, dropout off */
static mod_transformer_diffusion_config tiny_config(void)
{
    mod_transformer_diffusion_config cfg = mod_transformer_diffusion_defaults(3, 5, 4, 2);
    cfg.n_layer = 2;
    cfg.n_head = 2;
    cfg.n_emb = 16;
    cfg.p_drop_attn = 0.0f;
    return cfg;
}

/* names.txt ("name d0xd1x..." in state_dict order) against the store's list, entry by entry */
static void check_state_dict_order(const nn_params *ps)
{
    char path[512], line[512], shape[128];
    snprintf(path, sizeof path, REF_ROOT "/%s/names.txt", CASE);
    FILE *f = fopen(path, "r");
    if (!f) {
        tap_ok(0, "%s readable", path);
        return;
    }
    int i = 0, good = 1;
    while (fgets(line, sizeof line, f)) {
        char name[400], dims[100] = "";
        if (sscanf(line, "%399s %99s", name, dims) < 1) continue;
        const nn_tensor *t = i < ps->count ? ps->list[i].t : NULL;
        int n = 0;
        shape[0] = 0;
        for (int d = 0; t && d < t->ndim; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? "x%d" : "%d", t->shape[d]);
        if (!t || strcmp(t->name, name) || strcmp(shape, dims)) {
            tap_diag("state_dict entry %d: PyTorch %s [%s], here %s [%s]", i, name, dims, t ? t->name : "(none)", shape);
            good = 0;
        }
        i++;
    }
    fclose(f);
    tap_ok(good && i == ps->count, "%s: the store's %d entries are PyTorch's state_dict (%d) in order, names and shapes",
           CASE, ps->count, i);
}

/* The masks as DP builds them (T 4, To 2): causal; memory token s visible to token t when t >= s-1 */
static void check_masks(const mod_transformer_diffusion *m)
{
    static const char causal[4][4] = {{1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}};
    static const char memory[4][3] = {{1, 1, 0}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
    int good = m->mask->ndim == 2 && m->mask->shape[0] == 4 && m->mask->shape[1] == 4 && m->memory_mask->ndim == 2 &&
               m->memory_mask->shape[0] == 4 && m->memory_mask->shape[1] == 3;
    for (int t = 0; good && t < 4; t++) {
        for (int s = 0; s < 4; s++) {
            float v = m->mask->data[t * 4 + s];
            good &= causal[t][s] ? v == 0.0f : (isinf(v) && v < 0);
        }
        for (int s = 0; s < 3; s++) {
            float v = m->memory_mask->data[t * 3 + s];
            good &= memory[t][s] ? v == 0.0f : (isinf(v) && v < 0);
        }
    }
    tap_ok(good, "masks: causal [4,4] and memory [4,3] (token 0 sees the step and the first observation only)");
    const nn_tensor *masks[2] = {m->mask, m->memory_mask};
    for (int k = 0; k < 2; k++) {
        char dir[512];
        ref_dir(dir, sizeof dir, CASE);
        ref_array a;
        int same = ref_load_entry(dir, "param", masks[k]->name, &a, 0) == 0;
        same = same && a.size == masks[k]->size && memcmp(a.data, masks[k]->data, (size_t)a.size * sizeof(float)) == 0;
        if (a.data) ref_free(&a);
        tap_ok(same, "%s: %s equals PyTorch's buffer (0 and -inf, bit for bit)", CASE, masks[k]->name);
    }
}

/* decay.txt (DP's get_optim_groups decay set, sorted) against the entries without NN_NO_DECAY */
static int decay_set_matches(const nn_params *ps, int *n_out)
{
    char path[512], line[512];
    snprintf(path, sizeof path, REF_ROOT "/%s/decay.txt", CASE);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int good = 1, n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line) continue;
        const nn_tensor *t = nn_param_find(ps, line);
        const nn_param_info *p = t ? nn_param_info_of(ps, t) : NULL;
        if (!p || (p->flags & NN_NO_DECAY)) {
            tap_diag("%s: PyTorch decays it, here %s", line, p ? "NN_NO_DECAY" : "absent");
            good = 0;
        }
        n++;
    }
    fclose(f);
    int decayed = 0;
    for (int i = 0; i < ps->count; i++)
        decayed += !(ps->list[i].flags & (NN_NO_DECAY | NN_BUFFER | NN_FROZEN));
    *n_out = n;
    return good && decayed == n;
}

static void test_reference(void)
{
    nn_params *ps = nn_params_new();
    nn_ctx *c = nn_ctx_new(8 << 20);
    mod_transformer_diffusion m;
    mod_transformer_diffusion_config cfg = tiny_config();
    if (mod_transformer_diffusion_init(&m, ps, NULL, "", &cfg) < 0) {
        tap_ok(0, "init: %s", error_get());
        return;
    }
    check_state_dict_order(ps);
    check_masks(&m);
    int n_decay = 0, same_set = decay_set_matches(ps, &n_decay);
    tap_ok(same_set, "registration flags: the %d decayed tensors are DP's decay set", n_decay);
    nn_param_set_flags(ps, "", NN_NO_DECAY, 0);   /* as a policy that decays everything would */
    int n = mod_transformer_diffusion_optim_groups(&m, ps, 1);
    int grouped = 1;
    for (int i = 0; i < ps->count; i++) grouped &= ps->list[i].group == 1;
    tap_ok(n == n_decay && decay_set_matches(ps, &n_decay) && grouped,
           "optim groups: DP's decay set restored (%d tensors), every entry in group 1", n);

    ref_load_params(ps, CASE);
    nn_tensor *sample = ref_input(c, CASE, "sample", 1);
    nn_tensor *cond = ref_input(c, CASE, "cond", 1);
    ref_array steps;
    if (ref_load(REF_ROOT "/transformer_diffusion/in.timesteps.npy", &steps) < 0) {
        tap_ok(0, "%s: in.timesteps.npy", CASE);
    } else {
        nn_tensor *y = mod_transformer_diffusion_forward(c, &m, sample, steps.data, cond);
        ref_check_output(CASE, "y", y, 0, NORMAL);
        if (ref_backward(c, CASE, "y", y, 0)) {
            ref_check_input_grad(CASE, "sample", sample, 0, NORMAL);
            ref_check_input_grad(CASE, "cond", cond, 0, NORMAL);
            ref_check_param_grads(ps, CASE, NORMAL);
        }
        ref_free(&steps);
    }
    nn_ctx_free(c);
    nn_params_free(ps);
}

/* DP's _init_weights: Linear/attention weights N(0, 0.02), biases 0, LayerNorm 1/0, position
 * embeddings N(0, 0.02); under a prefix */
static void test_init(void)
{
    nn_params *ps = nn_params_new();
    rng_t rng;
    rng_seed(&rng, 7);
    mod_transformer_diffusion m;
    mod_transformer_diffusion_config cfg = mod_transformer_diffusion_defaults(7, 20, 10, 2);
    if (mod_transformer_diffusion_init(&m, ps, &rng, "model.", &cfg) < 0) {
        tap_ok(0, "init default size: %s", error_get());
        nn_params_free(ps);
        return;
    }
    const nn_tensor *w = nn_param_find(ps, "model.decoder.layers.7.multihead_attn.in_proj_weight");
    double s = 0, s2 = 0;
    for (long i = 0; w && i < w->size; i++) s += w->data[i], s2 += (double)w->data[i] * w->data[i];
    double std = w ? sqrt(s2 / (double)w->size - (s / (double)w->size) * (s / (double)w->size)) : 0;
    const nn_tensor *b = nn_param_find(ps, "model.decoder.layers.0.linear1.bias");
    const nn_tensor *g = nn_param_find(ps, "model.ln_f.weight");
    const nn_tensor *pe = nn_param_find(ps, "model.pos_emb");
    const nn_tensor *dummy = nn_param_find(ps, "model._dummy_variable");
    int zero_bias = b && b->size == 1024, ones = g && g->size == 256;
    for (long i = 0; zero_bias && i < b->size; i++) zero_bias &= b->data[i] == 0.0f;
    for (long i = 0; ones && i < g->size; i++) ones &= g->data[i] == 1.0f;
    tap_ok(w && w->shape[0] == 768 && fabs(std - 0.02) < 1e-3 && zero_bias && ones && pe && pe->shape[1] == 10 &&
               fabsf(pe->data[0]) > 0 && dummy && dummy->size == 0 && !nn_param_find(ps, "model.decoder.layers.8.norm1.weight"),
           "default size under model.: in_proj N(0, 0.02) (std %.4f), biases 0, LayerNorm 1, pos_emb drawn, "
           "_dummy_variable empty, 8 layers", std);
    long trainable = nn_params_trainable(ps);
    /* 8 layers x (2 x (3E^2+3E + E^2+E) + 2 x 4E^2 + 5E + 6E) + 2 x 4E^2 + 5E + embeddings and head */
    const long E = 256, layer = 2 * (4 * E * E + 4 * E) + 8 * E * E + 5 * E + 6 * E;
    const long expect = 8 * layer + (8 * E * E + 5 * E) + (7 * E + E) + 10 * E + (20 * E + E) + 3 * E + 2 * E +
                        (E * 7 + 7);
    tap_ok(trainable == expect, "default size: %ld trainable floats (expected %ld)", trainable, expect);
    nn_params_free(ps);
}

/* ---------------------------------------------------------------- random-direction gradient check */
typedef struct {
    mod_transformer_diffusion *m;
    float *sample, *cond, *target, steps[2];
} gc_case;

static nn_tensor *loss_of(nn_ctx *c, const gc_case *g, rng_t *dropout_rng)
{
    rng_t r = *dropout_rng;   /* the same dropout masks in every evaluation */
    nn_ctx_set_rng(c, &r);
    const mod_transformer_diffusion_config *cfg = &g->m->cfg;
    nn_tensor *sample = nn_from(c, g->sample, NN_DIMS(2, cfg->horizon, cfg->action_dim));
    nn_tensor *cond = nn_from(c, g->cond, NN_DIMS(2, cfg->n_obs_steps, cfg->obs_dim));
    nn_tensor *target = nn_from(c, g->target, NN_DIMS(2, cfg->horizon, cfg->action_dim));
    return nn_mse_loss(c, mod_transformer_diffusion_forward(c, g->m, sample, g->steps, cond), target);
}

static void test_gradient_direction(void)
{
    rng_t rng, drop;
    rng_seed(&rng, 11);
    rng_seed(&drop, 12);
    nn_params *ps = nn_params_new();
    mod_transformer_diffusion m;
    mod_transformer_diffusion_config cfg = tiny_config();
    cfg.p_drop_emb = 0.1f;
    cfg.p_drop_attn = 0.2f;
    if (mod_transformer_diffusion_init(&m, ps, &rng, "", &cfg) < 0) {
        tap_ok(0, "gradcheck init: %s", error_get());
        nn_params_free(ps);
        return;
    }
    /* weights of order one, so that every path carries gradient well above float32 noise */
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        if (ps->list[i].flags & NN_BUFFER) continue;
        for (long j = 0; j < t->size; j++) t->data[j] += (t->ndim == 1 ? 0.2f : 0.3f) * (float)rng_normal(&rng);
    }
    float sample[2 * 4 * 3], cond[2 * 2 * 5], target[2 * 4 * 3];
    rng_fill_normal(&rng, sample, 24, 0, 1);
    rng_fill_normal(&rng, cond, 20, 0, 1);
    rng_fill_normal(&rng, target, 24, 0, 1);
    gc_case g = {&m, sample, cond, target, {5, 60}};
    nn_ctx *c = nn_ctx_new(8 << 20);
    nn_ctx_set_train(c, 1);
    long total = ps->total;
    float *base = malloc((size_t)total * sizeof(float)), *dir = calloc((size_t)total, sizeof(float));
    memcpy(base, ps->data, (size_t)total * sizeof(float));
    for (int trial = 0; trial < 3; trial++) {
        double norm = 0;
        for (int i = 0; i < ps->count; i++) {
            const nn_param_info *p = &ps->list[i];
            if (p->flags & (NN_BUFFER | NN_FROZEN)) continue;
            for (long j = 0; j < p->t->size; j++) {
                dir[p->offset + j] = (float)rng_normal(&rng);
                norm += (double)dir[p->offset + j] * dir[p->offset + j];
            }
        }
        for (long j = 0; j < total; j++) dir[j] /= (float)sqrt(norm);
        memcpy(ps->data, base, (size_t)total * sizeof(float));
        nn_params_zero_grad(ps);
        nn_ctx_reset(c);
        nn_tensor *loss = loss_of(c, &g, &drop);
        if (!loss || nn_backward(c, loss) < 0) {
            tap_ok(0, "gradcheck: %s", error_get());
            break;
        }
        double analytic = 0;
        for (long j = 0; j < total; j++) analytic += (double)ps->grad[j] * dir[j];
        const float eps = 1e-2f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            for (long j = 0; j < total; j++) ps->data[j] = base[j] + (s ? -eps : eps) * dir[j];
            nn_ctx_reset(c);
            nn_tensor *lv = loss_of(c, &g, &drop);
            l[s] = lv ? lv->data[0] : NAN;
        }
        double numeric = (l[0] - l[1]) / (2 * eps);
        double rel = fabs(numeric - analytic) / fmax(1e-3, fabs(numeric));
        tap_ok(rel < 2e-3, "random-direction gradient check %d (dropout on): analytic %.6g, central difference %.6g "
               "(relative error %.2g)", trial, analytic, numeric, rel);
    }
    memcpy(ps->data, base, (size_t)total * sizeof(float));
    free(base);
    free(dir);
    nn_ctx_free(c);
    nn_params_free(ps);
}

/* ---------------------------------------------------------------- errors and checkpoints */
static void test_errors(const char *dir)
{
    nn_params *ps = nn_params_new();
    nn_ctx *c = nn_ctx_new(1 << 20);
    mod_transformer_diffusion m;
    mod_transformer_diffusion_config cfg = tiny_config();
    cfg.n_head = 3;
    tap_ok(mod_transformer_diffusion_init(&m, ps, NULL, "model.", &cfg) < 0 && strstr(error_get(), "\"model.\": n_head 3"),
           "3 heads for 16 features: %s", error_get());
    cfg = tiny_config();
    if (mod_transformer_diffusion_init(&m, ps, NULL, "", &cfg) < 0) {
        tap_ok(0, "init: %s", error_get());
        nn_ctx_free(c);
        nn_params_free(ps);
        return;
    }
    float steps[1] = {0}, x[5 * 3 * 5] = {0};
    nn_tensor *y = mod_transformer_diffusion_forward(c, &m, nn_from(c, x, NN_DIMS(1, 5, 3)), steps,
                                                     nn_from(c, x, NN_DIMS(1, 2, 5)));
    tap_ok(!y && strstr(error_get(), "sample [B,4,3]") && strstr(error_get(), "[1,5,3]"),
           "a horizon other than the masks' is an error: %s", error_get());

    /* the buffers (with -inf) and the empty parameter survive a checkpoint */
    char path[600];
    snprintf(path, sizeof path, "%s/transformer.h5", dir);
    for (long j = 0; j < ps->total; j++)
        if (isfinite(ps->data[j])) ps->data[j] = 0.001f * (float)(j % 997);
    checkpoint_writer *w = checkpoint_create(path);
    int ok = w && checkpoint_write_params(w, ps) == 0 && checkpoint_commit(w) == 0;
    nn_params *back = nn_params_new();
    mod_transformer_diffusion m2;
    checkpoint_reader *r = ok ? checkpoint_open(path) : NULL;
    ok = ok && r && mod_transformer_diffusion_init(&m2, back, NULL, "", &cfg) == 0;
    for (long j = 0; ok && j < back->total; j++) back->data[j] = 5.0f;
    ok = ok && checkpoint_read_params(r, back) == 0 && back->count == ps->count;
    for (int i = 0; ok && i < ps->count; i++)
        ok = memcmp(back->list[i].t->data, ps->list[i].t->data, (size_t)ps->list[i].t->size * sizeof(float)) == 0;
    if (r) checkpoint_close(r);
    tap_ok(ok, "checkpoint round trip: masks (0/-inf), empty _dummy_variable and every parameter%s%s",
           ok ? "" : ": ", ok ? "" : error_get());
    unlink(path);
    nn_params_free(back);
    nn_ctx_free(c);
    nn_params_free(ps);
}

int main(void)
{
    test_reference();
    test_init();
    test_gradient_direction();
    char dir[] = "/tmp/ilt_dp_transformer_XXXXXX";
    if (mkdtemp(dir)) {
        test_errors(dir);
        rmdir(dir);
    } else {
        tap_ok(0, "temporary directory");
    }
    return tap_done();
}
