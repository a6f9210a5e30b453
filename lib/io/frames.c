/* frames.c — the frame samples of frames.h, and reading a sample's camera images as RGB. */
#include "io/frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const char *const field_names[] = {"episode_index", "frame_index", "reward_stage", "max_reward", "success"};

static int64_t *field(frame_status_t *f, int i)
{
    int64_t *fields[] = {&f->episode, &f->frame, &f->stage, &f->max_reward, &f->success};
    return fields[i];
}

int frame_sample_begin(stream_sample *s, const frame_status_t *f)
{
    frame_status_t copy = *f;
    if (stream_sample_reset(s, "ep%06lld_t%06lld", (long long)f->episode, (long long)f->frame) < 0) return -1;
    for (int i = 0; i < 5; i++)
        if (stream_sample_add_i64(s, field_names[i], *field(&copy, i)) < 0) return -1;
    return 0;
}

void frame_sample_status(const stream_sample *s, frame_status_t *f)
{
    f->present = 0;
    for (int i = 0; i < 5; i++)
        if (stream_sample_get_i64(s, field_names[i], field(f, i)) == 0) f->present |= 1u << i;
    error_clear();
}

/* snprintf that never runs past size, whatever it returns */
static size_t append(char *text, size_t size, size_t n, const char *fmt, long long a, long long b)
{
    if (n >= size) return n;
    int k = snprintf(text + n, size - n, fmt, a, b);
    return k < 0 ? n : n + (size_t)k >= size ? size - 1 : n + (size_t)k;
}

size_t frame_caption(const frame_status_t *f, char *text, size_t size)
{
    size_t n = 0;
    if (size) text[0] = 0;
    if (f->present & FRAME_HAS_EPISODE) n = append(text, size, n, "seed %lld", (long long)f->episode, 0);
    if (f->present & FRAME_HAS_STAGE) {
        n = append(text, size, n, n ? "  stage %lld" : "stage %lld", (long long)f->stage, 0);
        if (f->present & FRAME_HAS_MAX_REWARD) n = append(text, size, n, "/%lld", (long long)f->max_reward, 0);
    }
    if ((f->present & FRAME_HAS_SUCCESS) && f->success) n = append(text, size, n, n ? "  success" : "success", 0, 0);
    return n;
}

int frame_sample_add_camera(stream_sample *s, const char *camera, int height, int width, const uint8_t *rgb)
{
    char name[128];
    if ((size_t)snprintf(name, sizeof name, "observation.images.%s", camera) >= sizeof name)
        return error_set("frame sample: camera name '%s' too long", camera);
    npy_array *a = stream_sample_add(s, name, NPY_U8, 3, (int64_t[]){height, width, 3});
    if (!a) return -1;
    memcpy(a->data, rgb, (size_t)height * width * 3);
    return 0;
}

/* ---------------------------------------------------------------- reading camera images */

const char *frame_camera_of_field(const char *field)
{
    static const char *prefixes[] = {"observation.images.", "images."};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(field, prefixes[i], n) == 0 && field[n]) return field + n;
    }
    return NULL;
}

const npy_array *frame_sample_camera(const stream_sample *s, const char *camera)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *name = frame_camera_of_field(s->fields[i].name);
        if (name && strcmp(name, camera) == 0) return &s->fields[i].array;
    }
    return NULL;
}

char **frame_sample_cameras(const stream_sample *s, size_t *count)
{
    char **list = calloc(s->n_fields + 1, sizeof *list);
    *count = 0;
    if (!list) return NULL;
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *name = frame_camera_of_field(s->fields[i].name);
        int seen = 0;
        for (size_t j = 0; name && j < *count; j++) seen |= strcmp(list[j], name) == 0;
        if (name && !seen) list[(*count)++] = strdup(name);
    }
    for (size_t i = 1; i < *count; i++)
        for (size_t j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
            char *t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    return list;
}

int frame_image_rgb(const npy_array *a, uint8_t **rgb, int *height, int *width)
{
    int channel_first = 0, channels;
    if (a->ndim == 2) {
        channels = 1;
    } else if (a->ndim == 3 && (a->shape[2] == 3 || a->shape[2] == 1)) {
        channels = (int)a->shape[2];
    } else if (a->ndim == 3 && a->shape[0] == 3) {
        channels = 3;
        channel_first = 1;
    } else {
        char desc[128];
        return error_set("expected an image (H,W,3), got %s", npy_array_describe(a, desc, sizeof desc));
    }
    if (a->dtype != NPY_U8 && !npy_dtype_is_float(a->dtype))
        return error_set("expected uint8 or float pixels, got %s", npy_dtype_name(a->dtype));
    int h = (int)a->shape[channel_first], w = (int)a->shape[channel_first + 1];
    if (h <= 0 || w <= 0 || h > 16384 || w > 16384) return error_set("bad image size %dx%d", h, w);
    uint8_t *out = realloc(*rgb, (size_t)h * w * 3);
    if (!out) return error_set("out of memory");
    *rgb = out;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int src_c = channels == 1 ? 0 : c;
                int64_t i = channel_first ? ((int64_t)src_c * h + y) * w + x : ((int64_t)y * w + x) * channels + src_c;
                uint8_t v;
                if (a->dtype == NPY_U8) {
                    v = ((const uint8_t *)a->data)[i];
                } else {
                    double f = npy_array_get_double(a, i) * 255.0 + 0.5;
                    v = (uint8_t)(f != f || f < 0 ? 0 : f > 255 ? 255 : f);
                }
                out[((size_t)y * w + x) * 3 + c] = v;
            }
    *height = h;
    *width = w;
    return 0;
}
