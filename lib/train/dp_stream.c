/* dp_stream.c — the stream side of a model on Diffusion Policy's observation encoders (dp-train,
 * ibc-train): the fields to read (cameras, low-dimensional fields, action), where they are in the
 * data set and whether their shapes fit the model's To and horizon, the encoder's configuration
 * taken from the data (cameras, sizes, low-dim keys, action size, crop), and a batch filled from
 * samples. */
#include "train/trainers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

#define IMAGE_PREFIX "observation.images."

int dp_stream_fields(const dp_trainer_options *o, dataset_request *want, int max)
{
    int n = 0;
    if (o->model.encoder != DP_ENCODER_LOWDIM) {
        if (o->n_cameras == 0) {
            want[n++] = (dataset_request){IMAGE_PREFIX "*", 0};
        } else {
            for (size_t k = 0; k < o->n_cameras && n < max; k++) {
                want[n] = (dataset_request){"", 0};
                snprintf(want[n++].name, sizeof want[0].name, IMAGE_PREFIX "%s", o->cameras[k]);
            }
        }
    }
    for (size_t j = 0; j < o->n_lowdim && n < max; j++) {
        want[n] = (dataset_request){"", 0};
        snprintf(want[n++].name, sizeof want[0].name, "%s", o->lowdim[j]);
    }
    if (n >= max) return error_set("too many fields requested");
    want[n++] = (dataset_request){"action", 0};
    return n;
}

int dp_stream_locate(dp_stream *t, const dataset_t *ds, const dp_trainer_options *o, const dp_config *cfg)
{
    char shape[128];
    const int To = cfg ? cfg->n_obs_steps : o->model.n_obs_steps;
    int n_cam = 0, n_low = 0;
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *x = &ds->fields[f];
        int is_image = strncmp(x->name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0;
        if (strcmp(x->name, "action") == 0) {
            if (x->dtype != NPY_F32 || x->ndim != 2)
                return error_set("action is %s %s; float32 [K,A] expected (chunkify -k K)", npy_dtype_name(x->dtype),
                                 dataset_field_shape_text(x, shape, sizeof shape));
            if (t) t->action = f, t->action_rows = (int)x->shape[0];
            continue;
        }
        int base = is_image ? 3 : 1;
        if (x->ndim != base + 1 || x->shape[0] != To)
            return error_set("%s is %s %s; with --obs-steps %d it must be [%d,%s] (an observation history: chunkify "
                             "--obs-steps %d --action-start)",
                             x->name, npy_dtype_name(x->dtype), dataset_field_shape_text(x, shape, sizeof shape), To, To,
                             is_image ? "H,W,3" : "D", To);
        if (is_image) {
            if (x->dtype != NPY_U8 || x->shape[3] != 3)
                return error_set("%s is %s %s; uint8 [%d,H,W,3] expected", x->name, npy_dtype_name(x->dtype),
                                 dataset_field_shape_text(x, shape, sizeof shape), To);
            if (n_cam == DP_MAX_CAMERAS) return error_set("more than %d cameras", DP_MAX_CAMERAS);
            if (t) t->image[n_cam] = f;
            n_cam++;
        } else {
            if (x->dtype != NPY_F32)
                return error_set("%s is %s %s; float32 [%d,D] expected", x->name, npy_dtype_name(x->dtype),
                                 dataset_field_shape_text(x, shape, sizeof shape), To);
            if (n_low == DP_MAX_LOWDIM) return error_set("more than %d low-dimensional fields", DP_MAX_LOWDIM);
            if (t) t->lowdim[n_low] = f;
            n_low++;
        }
    }
    if (!cfg) return 0;
    if (t->action_rows < cfg->horizon)
        return error_set("the stream's action sequences have %d rows; the horizon %d needs at least that many "
                         "(chunkify -k %d --obs-steps %d --action-start)",
                         t->action_rows, cfg->horizon, cfg->horizon, cfg->n_obs_steps);
    if ((int)ds->fields[t->action].shape[1] != cfg->action_dim)
        return error_set("the model gives %d actions, the stream has %lld", cfg->action_dim,
                         (long long)ds->fields[t->action].shape[1]);
    if (n_cam != cfg->n_cameras || n_low != cfg->n_lowdim)
        return error_set("the model takes %d cameras and %d low-dimensional fields, the stream has %d and %d",
                         cfg->n_cameras, cfg->n_lowdim, n_cam, n_low);
    for (int k = 0; k < n_cam; k++) {
        const dataset_field *x = &ds->fields[t->image[k]];
        if (strcmp(x->name + strlen(IMAGE_PREFIX), cfg->camera_names[k]) != 0 || x->shape[1] != cfg->height ||
            x->shape[2] != cfg->width)
            return error_set("camera %d: the model takes %s at %dx%d, the stream has %s %s", k, cfg->camera_names[k],
                             cfg->height, cfg->width, x->name, dataset_field_shape_text(x, shape, sizeof shape));
    }
    for (int j = 0; j < n_low; j++) {
        const dataset_field *x = &ds->fields[t->lowdim[j]];
        if (strcmp(x->name, cfg->lowdim_names[j]) != 0 || x->shape[1] != cfg->lowdim_dims[j])
            return error_set("low-dimensional input %d: the model takes %s [%d,%d], the stream has %s %s", j,
                             cfg->lowdim_names[j], cfg->n_obs_steps, cfg->lowdim_dims[j], x->name,
                             dataset_field_shape_text(x, shape, sizeof shape));
    }
    return 0;
}

int dp_stream_config(dp_config *cfg, dp_stream *t, const dataset_t *ds, const dp_trainer_options *o)
{
    *cfg = o->model;
    if (dp_stream_locate(t, ds, o, NULL) < 0) return -1;
    cfg->n_cameras = 0;
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *x = &ds->fields[f];
        if (strncmp(x->name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0) {
            snprintf(cfg->camera_names[cfg->n_cameras++], DP_NAME_MAX, "%s", x->name + strlen(IMAGE_PREFIX));
            cfg->height = (int)x->shape[1], cfg->width = (int)x->shape[2];
        }
    }
    cfg->n_lowdim = 0;   /* DP's rule per key: quaternions as they are, the rest to [-1,1] */
    for (size_t j = 0; j < o->n_lowdim; j++) {
        if (dp_config_add_lowdim(cfg, ds->fields[t->lowdim[j]].name, (int)ds->fields[t->lowdim[j]].shape[1]) < 0)
            return -1;
        if (o->lowdim_norm >= 0) cfg->lowdim_norm[j] = (dp_norm_mode)o->lowdim_norm;
    }
    if (o->lowdim_range_eps > 0) cfg->lowdim_range_eps = o->lowdim_range_eps;
    cfg->action_dim = (int)ds->fields[t->action].shape[1];
    if (cfg->n_cameras && !o->crop_given) {   /* DP's 76 of 84, in proportion for other sizes */
        cfg->crop_height = (int)lround(cfg->height * 76.0 / 84.0);
        cfg->crop_width = (int)lround(cfg->width * 76.0 / 84.0);
    } else if (o->crop_given && (o->model.crop_height > cfg->height || o->model.crop_width > cfg->width)) {
        return error_set("--crop %dx%d: the images are %dx%d", o->model.crop_height, o->model.crop_width, cfg->height,
                         cfg->width);
    }
    if (!cfg->n_cameras) cfg->crop_height = cfg->height = 0, cfg->crop_width = cfg->width = 0;
    return 0;
}

int dp_stream_fill(const dp_stream *t, const dp_model *m, dp_batch *b, const dataset_t *ds, const int64_t *idx, int n)
{
    const dp_config *cfg = &m->cfg;
    for (int i = 0; i < n; i++) {
        const uint8_t *images[DP_MAX_CAMERAS];
        const float *lowdim[DP_MAX_LOWDIM];
        for (int k = 0; k < cfg->n_cameras; k++) images[k] = dataset_at(ds, t->image[k], idx[i]);
        for (int j = 0; j < cfg->n_lowdim; j++) lowdim[j] = dataset_at(ds, t->lowdim[j], idx[i]);
        /* the first horizon rows of the sample's action sequence */
        if (dp_batch_set(b, m, i, cfg->n_cameras ? images : NULL, cfg->n_lowdim ? lowdim : NULL,
                         dataset_at(ds, t->action, idx[i])) < 0)
            return -1;
    }
    b->batch = n;
    return 0;
}
