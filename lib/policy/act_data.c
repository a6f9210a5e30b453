/* act_data.c — ACT's view of a training data set (io/dataset.h): which fields it reads, their
 * layout checked, and normalised batches for the model (with DrQ's random-shift augmentation). */
#include "policy/act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define IMAGE_PREFIX "observation.images."

int act_data_request(char **cameras, int n_cameras, dataset_request *want, int max)
{
    if (max < 3 + (cameras ? n_cameras : 1)) return error_set("too many fields requested");
    if (cameras && (n_cameras < 1 || n_cameras > ACT_MAX_CAMERAS)) return error_set("ACT needs 1 to %d cameras", ACT_MAX_CAMERAS);
    int n = 0;
    want[n++] = (dataset_request){"observation.state", 0};
    want[n++] = (dataset_request){"action", 1};
    want[n++] = (dataset_request){"action_is_pad", 1};
    if (!cameras) {
        want[n++] = (dataset_request){IMAGE_PREFIX "*", 0};
        return n;
    }
    for (int k = 0; k < n_cameras; k++) {
        want[n] = (dataset_request){"", 0};
        snprintf(want[n++].name, sizeof want[0].name, IMAGE_PREFIX "%s", cameras[k]);
    }
    return n;
}

int act_data_layout_of(const dataset_t *ds, act_data_layout *L)
{
    memset(L, 0, sizeof *L);
    char shape[128];
    L->state = dataset_find(ds, "observation.state");
    L->action = dataset_find(ds, "action");
    L->is_pad = dataset_find(ds, "action_is_pad");
    if (L->state < 0) return error_set("the stream has no observation.state field");
    const dataset_field *state = &ds->fields[L->state];
    if (state->dtype != NPY_F32 || state->ndim != 1)
        return error_set("observation.state is %s %s; ACT needs float32 [S]", npy_dtype_name(state->dtype),
                         dataset_field_shape_text(state, shape, sizeof shape));
    L->state_dim = (int)state->shape[0];
    if (L->action >= 0) {
        const dataset_field *action = &ds->fields[L->action];
        if (action->dtype != NPY_F32 || action->ndim < 1 || action->ndim > 2)
            return error_set("action is %s %s; ACT needs float32 [K,A] (chunkify) or [A]", npy_dtype_name(action->dtype),
                             dataset_field_shape_text(action, shape, sizeof shape));
        L->rows = action->ndim == 2 ? (int)action->shape[0] : 1;
        L->action_dim = (int)action->shape[action->ndim - 1];
        if (L->is_pad >= 0) {
            const dataset_field *pad = &ds->fields[L->is_pad];
            if ((pad->dtype != NPY_BOOL && pad->dtype != NPY_U8) || pad->ndim != 1 || pad->shape[0] != L->rows)
                return error_set("action_is_pad is %s %s; bool [%d] expected", npy_dtype_name(pad->dtype),
                                 dataset_field_shape_text(pad, shape, sizeof shape), L->rows);
        }
    }
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *img = &ds->fields[f];
        if (strncmp(img->name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) != 0) continue;
        if (L->n_cameras == ACT_MAX_CAMERAS) return error_set("the stream has more than %d cameras", ACT_MAX_CAMERAS);
        if (img->dtype != NPY_U8 || img->ndim != 3 || img->shape[2] != 3)
            return error_set("%s is %s %s; uint8 [H,W,3] expected", img->name, npy_dtype_name(img->dtype),
                             dataset_field_shape_text(img, shape, sizeof shape));
        int k = L->n_cameras++;
        L->image[k] = f;
        snprintf(L->camera_names[k], ACT_NAME_MAX, "%s", img->name + strlen(IMAGE_PREFIX));
        if (k == 0) L->height = (int)img->shape[0], L->width = (int)img->shape[1];
        else if (img->shape[0] != L->height || img->shape[1] != L->width)
            return error_set("camera %s is %lldx%lld, camera %s %dx%d (cameras must share one size)", L->camera_names[k],
                             (long long)img->shape[0], (long long)img->shape[1], L->camera_names[0], L->height, L->width);
    }
    if (!L->n_cameras) return error_set("the stream has no observation.images.* field (ACT needs a camera)");
    return 0;
}

/* ---------------------------------------------------------------- batches */

int act_batch_alloc(act_batch *b, const act_model *m, int batch)
{
    const act_config *cfg = &m->cfg;
    int K = act_model_chunk(m);
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->state = malloc(sizeof(float) * batch * cfg->state_dim);
    b->images = malloc(sizeof(float) * (size_t)cfg->n_cameras * batch * 3 * cfg->height * cfg->width);
    b->action = malloc(sizeof(float) * (size_t)batch * K * cfg->action_dim);
    b->is_pad = malloc((size_t)batch * K);
    if (!b->state || !b->images || !b->action || !b->is_pad) {
        act_batch_free(b);
        return error_set("out of memory for a batch of %d", batch);
    }
    return 0;
}

void act_batch_free(act_batch *b)
{
    free(b->state);
    free(b->images);
    free(b->action);
    free(b->is_pad);
    memset(b, 0, sizeof *b);
}

void act_batch_fill(act_batch *b, const act_model *m, const dataset_t *ds, const act_data_layout *L,
                    const int64_t *idx, int batch)
{
    const act_config *cfg = &m->cfg;
    const int K = act_model_chunk(m), A = cfg->action_dim;
    const size_t image_floats = (size_t)3 * cfg->height * cfg->width;
    b->batch = batch;
    for (int j = 0; j < batch; j++) {
        int64_t i = idx[j];
        act_normalize_state(m, dataset_at(ds, L->state, i), b->state + (size_t)j * cfg->state_dim);
        for (int k = 0; k < cfg->n_cameras; k++)
            act_normalize_image(m, k, dataset_at(ds, L->image[k], i), b->images + ((size_t)k * batch + j) * image_floats);
        if (L->action < 0) continue;
        /* The first K rows of the stream's chunk (ACT takes actions[:, :num_queries]). */
        int rows = K < L->rows ? K : L->rows;
        act_normalize_action(m, dataset_at(ds, L->action, i), rows, b->action + (size_t)j * K * A);
        if (L->is_pad >= 0) memcpy(b->is_pad + (size_t)j * K, dataset_at(ds, L->is_pad, i), rows);
        else memset(b->is_pad + (size_t)j * K, 0, rows);
        for (int r = rows; r < K; r++) {   /* a shorter stream chunk: the rest is padding */
            memset(b->action + ((size_t)j * K + r) * A, 0, sizeof(float) * A);
            b->is_pad[(size_t)j * K + r] = 1;
        }
    }
}

/* out[y][x] = in[clamp(y + dy)][clamp(x + dx)] for one [H,W] plane. */
static void shift_plane(const float *in, float *out, int H, int W, int dy, int dx)
{
    for (int y = 0; y < H; y++) {
        int sy = y + dy < 0 ? 0 : y + dy >= H ? H - 1 : y + dy;
        const float *row = in + (size_t)sy * W;
        float *o = out + (size_t)y * W;
        for (int x = 0; x < W; x++) {
            int sx = x + dx < 0 ? 0 : x + dx >= W ? W - 1 : x + dx;
            o[x] = row[sx];
        }
    }
}

/* Sample j's images moved by offsets from rng (per camera, dy then dx); tmp: one image. */
static void shift_sample(act_batch *b, const act_model *m, int pad, int j, rng_t *rng, float *tmp)
{
    const act_config *cfg = &m->cfg;
    const int H = cfg->height, W = cfg->width;
    const size_t plane = (size_t)H * W;
    for (int k = 0; k < cfg->n_cameras; k++) {
        int dy = (int)rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
        int dx = (int)rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
        if (dy == 0 && dx == 0) continue;
        float *img = b->images + ((size_t)k * b->batch + j) * 3 * plane;
        memcpy(tmp, img, sizeof(float) * 3 * plane);
        for (int ch = 0; ch < 3; ch++) shift_plane(tmp + ch * plane, img + ch * plane, H, W, dy, dx);
    }
}

/* rng: one generator for the batch; else sample j's own keyed one. */
static int random_shift(act_batch *b, const act_model *m, int pad, rng_t *rng, uint64_t seed, uint64_t step,
                        int64_t first_index)
{
    if (pad <= 0) return 0;
    float *tmp = malloc(sizeof(float) * 3 * (size_t)m->cfg.height * m->cfg.width);
    if (!tmp) return error_set("out of memory for a %dx%d image", m->cfg.height, m->cfg.width);
    for (int j = 0; j < b->batch; j++) {
        rng_t sample;
        if (!rng) sample = rng_keyed(seed ^ ACT_SHIFT_STREAM, step, (uint64_t)(first_index + j));
        shift_sample(b, m, pad, j, rng ? rng : &sample, tmp);
    }
    free(tmp);
    return 0;
}

int act_batch_random_shift(act_batch *b, const act_model *m, int pad, rng_t *rng)
{
    return random_shift(b, m, pad, rng, 0, 0, 0);
}

int act_batch_random_shift_keyed(act_batch *b, const act_model *m, int pad, uint64_t seed, uint64_t step,
                                 int64_t first_index)
{
    return random_shift(b, m, pad, NULL, seed, step, first_index);
}
