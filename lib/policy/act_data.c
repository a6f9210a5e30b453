/* act_data.c — the training data of ACT in memory: a chunkified sample stream read whole
 * (images stay uint8, in blocks so that growing never copies them), with a check that stops
 * before the memory runs out; normalised batches for the model. */
#include "policy/act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static size_t available_memory(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp) return (size_t)1 << 62;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "MemAvailable: %zu kB", &kib) == 1) break;
    fclose(fp);
    return kib ? kib * 1024 : (size_t)1 << 62;
}

static size_t image_bytes(const act_dataset *ds) { return (size_t)ds->n_cameras * ds->height * ds->width * 3; }

static size_t sample_bytes(const act_dataset *ds)
{
    return image_bytes(ds) + sizeof(float) * ((size_t)ds->state_dim + (size_t)ds->rows * ds->action_dim) + ds->rows +
           2 * sizeof(int64_t);
}

const uint8_t *act_dataset_image(const act_dataset *ds, int64_t i, int camera)
{
    return ds->image_blocks[i / ACT_DATA_BLOCK] + image_bytes(ds) * (size_t)(i % ACT_DATA_BLOCK) +
           (size_t)camera * ds->height * ds->width * 3;
}

static int grow(act_dataset *ds)
{
    int64_t cap = ds->capacity ? ds->capacity * 2 : ACT_DATA_BLOCK;
    float *state = realloc(ds->state, sizeof(float) * cap * ds->state_dim);
    if (state) ds->state = state;
    float *action = realloc(ds->action, sizeof(float) * cap * ds->rows * ds->action_dim);
    if (action) ds->action = action;
    unsigned char *pad = realloc(ds->is_pad, (size_t)cap * ds->rows);
    if (pad) ds->is_pad = pad;
    int64_t *episode = realloc(ds->episode, sizeof(int64_t) * cap);
    if (episode) ds->episode = episode;
    int64_t *frame = realloc(ds->frame, sizeof(int64_t) * cap);
    if (frame) ds->frame = frame;
    uint8_t **blocks = realloc(ds->image_blocks, sizeof(uint8_t *) * (size_t)(cap / ACT_DATA_BLOCK));
    if (blocks) {
        ds->image_blocks = blocks;
        for (int64_t b = ds->capacity / ACT_DATA_BLOCK; b < cap / ACT_DATA_BLOCK; b++) blocks[b] = NULL;
    }
    if (!state || !action || !pad || !episode || !frame || !blocks)
        return error_set("out of memory after %lld samples", (long long)ds->n);
    ds->capacity = cap;
    return 0;
}

/* The first sample fixes the layout. */
static int layout_from(act_dataset *ds, const stream_sample *s, char **cameras, int n_cameras)
{
    const npy_array *state = stream_sample_require(s, "observation.state", NPY_F32);
    const npy_array *action = stream_sample_get(s, "action");
    if (!state) return -1;
    if (state->ndim != 1) return error_set("sample %s: observation.state must be a vector [S]", s->key);
    ds->state_dim = (int)state->shape[0];
    if (action) {
        if (action->dtype != NPY_F32) return error_set("sample %s: action must be float32", s->key);
        if (action->ndim == 2) ds->rows = (int)action->shape[0], ds->action_dim = (int)action->shape[1];
        else if (action->ndim == 1) ds->rows = 1, ds->action_dim = (int)action->shape[0];
        else return error_set("sample %s: action must be [K,A] (chunkify) or [A]", s->key);
    }
    if (!cameras) {   /* every observation.images.<name> field of the first sample (sorted) */
        n_cameras = 0;
        for (size_t f = 0; f < s->n_fields; f++)
            if (strncmp(s->fields[f].name, "observation.images.", 19) == 0) {
                if (n_cameras == ACT_MAX_CAMERAS) return error_set("sample %s has more than %d cameras", s->key, ACT_MAX_CAMERAS);
                snprintf(ds->camera_names[n_cameras++], ACT_NAME_MAX, "%s", s->fields[f].name + 19);
            }
        if (!n_cameras) return error_set("sample %s has no observation.images.* field (ACT needs a camera)", s->key);
    } else {
        if (n_cameras < 1 || n_cameras > ACT_MAX_CAMERAS) return error_set("ACT needs 1 to %d cameras", ACT_MAX_CAMERAS);
        for (int k = 0; k < n_cameras; k++) snprintf(ds->camera_names[k], ACT_NAME_MAX, "%s", cameras[k]);
    }
    ds->n_cameras = n_cameras;
    for (int k = 0; k < n_cameras; k++) {
        char name[128];
        snprintf(name, sizeof name, "observation.images.%s", ds->camera_names[k]);
        const npy_array *img = stream_sample_get(s, name);
        if (!img) return error_set("sample %s has no field %s (camera '%s')", s->key, name, ds->camera_names[k]);
        if (img->dtype != NPY_U8 || img->ndim != 3 || img->shape[2] != 3)
            return error_set("sample %s: %s must be uint8 [H,W,3]", s->key, name);
        if (k == 0) ds->height = (int)img->shape[0], ds->width = (int)img->shape[1];
        else if (img->shape[0] != ds->height || img->shape[1] != ds->width)
            return error_set("sample %s: camera %s is %lldx%lld, camera %s %dx%d (cameras must share one size)", s->key,
                             ds->camera_names[k], (long long)img->shape[0], (long long)img->shape[1], ds->camera_names[0], ds->height,
                             ds->width);
    }
    return 0;
}

int act_dataset_add(act_dataset *ds, const stream_sample *s, char **cameras, int n_cameras, size_t limit)
{
    if (ds->n == 0 && ds->state_dim == 0 && layout_from(ds, s, cameras, n_cameras) < 0) return -1;
    if (ds->n == ds->capacity && grow(ds) < 0) return -1;
    int64_t i = ds->n;
    if (!ds->image_blocks[i / ACT_DATA_BLOCK]) {
        size_t need = sample_bytes(ds) * (size_t)(i + ACT_DATA_BLOCK);
        if (limit && need > limit)
            return error_set("the stream does not fit in memory: %lld samples read (%.0f MiB) and more coming, "
                             "%.0f MiB usable; train on fewer episodes or smaller images",
                             (long long)i, sample_bytes(ds) * (double)i / 1048576.0, limit / 1048576.0);
        if (!(ds->image_blocks[i / ACT_DATA_BLOCK] = malloc(image_bytes(ds) * ACT_DATA_BLOCK)))
            return error_set("out of memory after %lld samples", (long long)i);
    }
    const npy_array *state = stream_sample_require(s, "observation.state", NPY_F32);
    if (!state) return -1;
    if (state->ndim != 1 || state->shape[0] != ds->state_dim)
        return error_set("sample %s: observation.state has %lld values, %d expected", s->key,
                         (long long)(state->ndim ? state->shape[0] : 1), ds->state_dim);
    memcpy(ds->state + i * ds->state_dim, state->data, sizeof(float) * ds->state_dim);
    if (ds->action_dim) {
        const npy_array *action = stream_sample_require(s, "action", NPY_F32);
        if (!action) return -1;
        if (npy_array_count(action) != (int64_t)ds->rows * ds->action_dim)
            return error_set("sample %s: action has %lld values, %dx%d expected", s->key,
                             (long long)npy_array_count(action), ds->rows, ds->action_dim);
        memcpy(ds->action + i * ds->rows * ds->action_dim, action->data, sizeof(float) * ds->rows * ds->action_dim);
        const npy_array *pad = stream_sample_get(s, "action_is_pad");
        unsigned char *out = ds->is_pad + i * ds->rows;
        if (pad) {
            if ((pad->dtype != NPY_BOOL && pad->dtype != NPY_U8) || npy_array_count(pad) != ds->rows)
                return error_set("sample %s: action_is_pad must be bool [%d]", s->key, ds->rows);
            memcpy(out, pad->data, ds->rows);
        } else {
            memset(out, 0, ds->rows);
        }
    }
    for (int k = 0; k < ds->n_cameras; k++) {
        char name[128];
        snprintf(name, sizeof name, "observation.images.%s", ds->camera_names[k]);
        const npy_array *img = stream_sample_require(s, name, NPY_U8);
        if (!img) return -1;
        if (img->ndim != 3 || img->shape[0] != ds->height || img->shape[1] != ds->width || img->shape[2] != 3)
            return error_set("sample %s: %s is not %dx%dx3 like the first sample", s->key, name, ds->height, ds->width);
        memcpy((uint8_t *)act_dataset_image(ds, i, k), img->data, (size_t)ds->height * ds->width * 3);
    }
    int64_t value = -1;
    ds->episode[i] = stream_sample_get(s, "episode_index") && stream_sample_get_i64(s, "episode_index", &value) == 0 ? value : 0;
    value = i;
    ds->frame[i] = stream_sample_get(s, "frame_index") && stream_sample_get_i64(s, "frame_index", &value) == 0 ? value : i;
    ds->n++;
    return 0;
}

int act_dataset_read(act_dataset *ds, stream_reader *r, char **cameras, int n_cameras, size_t memory_limit)
{
    memset(ds, 0, sizeof *ds);
    if (!memory_limit) {
        size_t avail = available_memory();
        memory_limit = avail > ((size_t)512 << 20) ? avail - ((size_t)512 << 20) : avail / 2;
    }
    stream_sample s;
    stream_sample_init(&s);
    int rc;
    while ((rc = stream_reader_next(r, &s)) > 0)
        if (act_dataset_add(ds, &s, cameras, n_cameras, memory_limit) < 0) {
            rc = -1;
            break;
        }
    stream_sample_free(&s);
    if (rc < 0) return -1;
    if (ds->n == 0) return error_set("%s: no samples in the stream", stream_reader_name(r));
    return 0;
}

void act_dataset_free(act_dataset *ds)
{
    if (!ds) return;
    for (int64_t b = 0; ds->image_blocks && b < ds->capacity / ACT_DATA_BLOCK; b++) free(ds->image_blocks[b]);
    free(ds->image_blocks);
    free(ds->state);
    free(ds->action);
    free(ds->is_pad);
    free(ds->episode);
    free(ds->frame);
    memset(ds, 0, sizeof *ds);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int act_dataset_episodes(const act_dataset *ds, int64_t **episodes, size_t *count)
{
    int64_t *e = malloc(sizeof *e * (size_t)(ds->n ? ds->n : 1));
    if (!e) return error_set("out of memory");
    memcpy(e, ds->episode, sizeof *e * (size_t)ds->n);
    qsort(e, (size_t)ds->n, sizeof *e, cmp_i64);
    size_t k = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (k == 0 || e[k - 1] != e[i]) e[k++] = e[i];
    *episodes = e;
    *count = k;
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

void act_batch_fill(act_batch *b, const act_model *m, const act_dataset *ds, const int64_t *idx, int batch)
{
    const act_config *cfg = &m->cfg;
    const int K = act_model_chunk(m), A = cfg->action_dim;
    const size_t image_floats = (size_t)3 * cfg->height * cfg->width;
    b->batch = batch;
    for (int j = 0; j < batch; j++) {
        int64_t i = idx[j];
        act_normalize_state(m, ds->state + i * ds->state_dim, b->state + (size_t)j * cfg->state_dim);
        for (int k = 0; k < cfg->n_cameras; k++)
            act_normalize_image(m, k, act_dataset_image(ds, i, k), b->images + ((size_t)k * batch + j) * image_floats);
        if (!ds->action_dim) continue;
        /* The first K rows of the stream's chunk (ACT takes actions[:, :num_queries]). */
        int rows = K < ds->rows ? K : ds->rows;
        act_normalize_action(m, ds->action + (size_t)i * ds->rows * A, rows, b->action + (size_t)j * K * A);
        memcpy(b->is_pad + (size_t)j * K, ds->is_pad + (size_t)i * ds->rows, rows);
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

int act_batch_random_shift(act_batch *b, const act_model *m, int pad, rng_t *rng)
{
    const act_config *cfg = &m->cfg;
    if (pad <= 0) return 0;
    const int H = cfg->height, W = cfg->width;
    const size_t plane = (size_t)H * W;
    float *tmp = malloc(sizeof(float) * 3 * plane);
    if (!tmp) return error_set("out of memory for a %dx%d image", H, W);
    for (int j = 0; j < b->batch; j++)
        for (int k = 0; k < cfg->n_cameras; k++) {
            int dy = (int)rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
            int dx = (int)rng_below(rng, (uint64_t)(2 * pad + 1)) - pad;
            if (dy == 0 && dx == 0) continue;
            float *img = b->images + ((size_t)k * b->batch + j) * 3 * plane;
            memcpy(tmp, img, sizeof(float) * 3 * plane);
            for (int ch = 0; ch < 3; ch++) shift_plane(tmp + ch * plane, img + ch * plane, H, W, dy, dx);
        }
    free(tmp);
    return 0;
}
