/* test_diffusion_torch.c — Diffusion Policy against PyTorch (tests/dp_torch_ref.py, files under
 * tests/dp_ref/): the hybrid encoder's features with given crops (two cameras, SpatialSoftmax
 * keypoint order, low-dim keys after the images), the whole loss with given timesteps and noise
 * and its parameter gradients, and the ResNet encoder with the centre crop. Parameters come from
 * the hash fill by DP's names (so this also checks every name), normaliser limits from the files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_ROOT "dp_ref"
#include "nn_ref.h"
#include "policy/diffusion.h"

/* Every parameter of the store from the hash by its name; buffers (SpatialSoftmax's temperature
 * and grids) keep the values the model gave them. */
static void hash_fill_params(nn_params *ps)
{
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        if (!(ps->list[i].flags & NN_BUFFER)) ref_hash_fill(t->name, t->data, t->ndim, t->shape);
    }
}

static int load(const char *case_name, const char *kind, const char *name, ref_array *a)
{
    char dir[256];
    ref_dir(dir, sizeof dir, case_name);
    return ref_load_entry(dir, kind, name, a, 0);
}

/* Fill the batch from the reference's raw inputs: images [B][To][cams][H][W][3] (as floats),
 * low-dim keys [B][To][dim], actions [B][Hz][A] or none. */
static int fill_batch(const char *case_name, dp_model *m, dp_batch *b, int with_action)
{
    const dp_config *cfg = &m->cfg;
    const int B = b->batch, To = cfg->n_obs_steps, cams = cfg->n_cameras;
    const size_t frame = (size_t)cfg->height * cfg->width * 3;
    ref_array images, action = {0}, low[DP_MAX_LOWDIM];
    if (load(case_name, "in", "images", &images) < 0) return -1;
    for (int j = 0; j < cfg->n_lowdim; j++) {
        char name[128];
        snprintf(name, sizeof name, "lowdim.%s", cfg->lowdim_names[j]);
        if (load(case_name, "in", name, &low[j]) < 0) return -1;
    }
    if (with_action && load(case_name, "in", "action", &action) < 0) return -1;
    uint8_t *per_camera[DP_MAX_CAMERAS];
    for (int k = 0; k < cams; k++) per_camera[k] = malloc(To * frame);
    int rc = 0;
    for (int i = 0; i < B && rc == 0; i++) {
        for (int k = 0; k < cams; k++)
            for (int t = 0; t < To; t++)
                for (size_t p = 0; p < frame; p++)
                    per_camera[k][t * frame + p] = (uint8_t)images.data[(((size_t)i * To + t) * cams + k) * frame + p];
        const float *lowdim[DP_MAX_LOWDIM];
        for (int j = 0; j < cfg->n_lowdim; j++) lowdim[j] = low[j].data + (size_t)i * To * cfg->lowdim_dims[j];
        rc = dp_batch_set(b, m, i, (const uint8_t *const *)per_camera, lowdim,
                          with_action ? action.data + (size_t)i * cfg->horizon * cfg->action_dim : NULL);
    }
    for (int k = 0; k < cams; k++) free(per_camera[k]);
    for (int j = 0; j < cfg->n_lowdim; j++) ref_free(&low[j]);
    ref_free(&images);
    if (with_action) ref_free(&action);
    return rc;
}

static int set_limits(const char *case_name, dp_model *m, const char *feature)
{
    char name[128];
    ref_array lo, hi;
    snprintf(name, sizeof name, "min.%s", feature);
    if (load(case_name, "in", name, &lo) < 0) return -1;
    snprintf(name, sizeof name, "max.%s", feature);
    if (load(case_name, "in", name, &hi) < 0) return -1;
    int rc = dp_model_set_limits(m, feature, lo.data, hi.data, (int)lo.size);
    ref_free(&lo);
    ref_free(&hi);
    return rc;
}

static void hybrid(void)
{
    const char *case_name = "hybrid";
    dp_config cfg;
    dp_config_default(&cfg);
    cfg.n_cameras = 2;
    strcpy(cfg.camera_names[0], "agentview");
    strcpy(cfg.camera_names[1], "wrist");
    cfg.height = 40, cfg.width = 72, cfg.crop_height = 36, cfg.crop_width = 68;
    cfg.num_keypoints = 8, cfg.feature_dim = 6;
    cfg.n_lowdim = 2;
    strcpy(cfg.lowdim_names[0], "robot0_eef_pos"), cfg.lowdim_dims[0] = 3;
    strcpy(cfg.lowdim_names[1], "gripper"), cfg.lowdim_dims[1] = 2;
    cfg.action_dim = 3, cfg.n_obs_steps = 2, cfg.horizon = 8, cfg.n_action_steps = 4;
    cfg.n_levels = 2, cfg.down_dims[0] = 16, cfg.down_dims[1] = 32;
    cfg.kernel_size = 3, cfg.n_groups = 4, cfg.step_embed_dim = 8;
    dp_model m;
    if (dp_model_init(&m, &cfg, NULL) < 0) {
        tap_ok(0, "hybrid: init: %s", error_get());
        return;
    }
    hash_fill_params(m.ps);
    const int B = 2;
    dp_batch b;
    ref_array crops_f, t_f, noise;
    int ok = dp_batch_alloc(&b, &m, B) == 0 && set_limits(case_name, &m, "action") == 0 &&
             set_limits(case_name, &m, "robot0_eef_pos") == 0 && set_limits(case_name, &m, "gripper") == 0 &&
             fill_batch(case_name, &m, &b, 1) == 0 && load(case_name, "in", "crops", &crops_f) == 0 &&
             load(case_name, "in", "timesteps", &t_f) == 0 && load(case_name, "in", "noise", &noise) == 0;
    tap_ok(ok, "hybrid: model, limits and batch from the reference inputs (%s)", ok ? "ok" : error_get());
    if (!ok) return;
    int crops[64], timesteps[2];
    for (long i = 0; i < crops_f.size; i++) crops[i] = (int)crops_f.data[i];
    for (int i = 0; i < B; i++) timesteps[i] = (int)t_f.data[i];
    nn_ctx *c = nn_ctx_new(64 << 20);
    nn_tensor *features = dp_encode_obs(c, &m, &b, crops);
    ref_check_output(case_name, "features", features, 0, (ref_tol){2e-5, 1e-4});
    nn_ctx_reset(c);
    nn_params_zero_grad(m.ps);
    dp_losses L;
    nn_tensor *loss = dp_model_loss_given(c, &m, &b, timesteps, noise.data, crops, &L);
    ref_check_output(case_name, "loss", loss, 0, (ref_tol){1e-6, 1e-5});
    if (loss && nn_backward(c, loss) == 0) ref_check_param_grads(m.ps, case_name, (ref_tol){1e-5, 1e-3});
    else tap_ok(0, "hybrid: backward: %s", error_get());
    nn_ctx_free(c);
    ref_free(&crops_f);
    ref_free(&t_f);
    ref_free(&noise);
    dp_batch_free(&b);
    dp_model_free(&m);
}

static void resnet_encoder(void)
{
    const char *case_name = "resnet_encoder";
    dp_config cfg;
    dp_config_default(&cfg);
    cfg.encoder = DP_ENCODER_RESNET;
    cfg.n_cameras = 1;
    strcpy(cfg.camera_names[0], "front");
    cfg.height = 41, cfg.width = 43, cfg.crop_height = 36, cfg.crop_width = 36;
    cfg.n_lowdim = 1;
    strcpy(cfg.lowdim_names[0], "qpos"), cfg.lowdim_dims[0] = 2;
    cfg.action_dim = 2, cfg.horizon = 8, cfg.n_action_steps = 4;
    cfg.n_levels = 2, cfg.down_dims[0] = 16, cfg.down_dims[1] = 32, cfg.step_embed_dim = 8;
    dp_model m;
    dp_batch b;
    int ok = dp_model_init(&m, &cfg, NULL) == 0 && dp_batch_alloc(&b, &m, 1) == 0;
    if (ok) hash_fill_params(m.ps);
    ok = ok && fill_batch(case_name, &m, &b, 0) == 0;
    tap_ok(ok, "resnet encoder: model and batch (%s)", ok ? "ok" : error_get());
    if (!ok) return;
    nn_ctx *c = nn_ctx_new(64 << 20);
    nn_ctx_set_train(c, 0);
    /* the low-dim values pass through unnormalised (identity limits) as in the reference */
    ref_check_output(case_name, "features", dp_encode_obs(c, &m, &b, NULL), 0, (ref_tol){2e-5, 1e-4});
    nn_ctx_free(c);
    dp_batch_free(&b);
    dp_model_free(&m);
}

int main(void)
{
    nn_set_threads(1);
    hybrid();
    resnet_encoder();
    return tap_done();
}
