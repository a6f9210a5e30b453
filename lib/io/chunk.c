/* chunk.c — action chunks with padding, observation histories, and the input-order check. */
#include "io/chunk.h"
#include "util/error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int is_observation(const char *name) { return strncmp(name, "observation.", 12) == 0; }

static int same_or_error(const stream_sample *frame, const char *name, const npy_array *a, const npy_array *first)
{
    if (a && npy_array_same_layout(a, first)) return 0;
    char want[96], got[96];
    if (!a) return error_set("sample %s has no field %s", frame->key, name);
    return error_set("sample %s: %s is %s, earlier frames of the episode had %s", frame->key, name,
                     npy_array_describe(a, got, sizeof got), npy_array_describe(first, want, sizeof want));
}

static int build_action(const stream_sample *frames, int64_t n, int64_t i, const chunk_options *o, stream_sample *out)
{
    const npy_array *first = stream_sample_get(&frames[i], "action");
    if (!first) return error_set("sample %s has no field action", frames[i].key);
    size_t row_bytes = npy_array_nbytes(first);
    int64_t shape[NPY_MAX_DIMS];
    shape[0] = o->chunk;
    for (int d = 0; d < first->ndim && d + 1 < NPY_MAX_DIMS; d++) shape[d + 1] = first->shape[d];
    if (first->ndim + 1 > NPY_MAX_DIMS) return error_set("action of sample %s has too many dimensions", frames[i].key);
    npy_array *action = stream_sample_add(out, "action", first->dtype, first->ndim + 1, shape);
    npy_array *pad = stream_sample_add(out, "action_is_pad", NPY_BOOL, 1, (int64_t[]){o->chunk});
    if (!action || !pad) return -1;
    int64_t start = o->action_start && o->obs_steps > 1 ? i - (o->obs_steps - 1) : i;
    for (int64_t j = 0; j < o->chunk; j++) {
        int64_t t = start + j;
        int outside = t < 0 || t >= n;
        ((uint8_t *)pad->data)[j] = (uint8_t)outside;
        unsigned char *dst = (unsigned char *)action->data + (size_t)j * row_bytes;
        if (outside && o->pad_zero) continue; /* already zero */
        int64_t src_t = t < 0 ? 0 : t >= n ? n - 1 : t;
        const npy_array *a = stream_sample_get(&frames[src_t], "action");
        if (same_or_error(&frames[src_t], "action", a, first) < 0) return -1;
        memcpy(dst, a->data, row_bytes);
    }
    return 0;
}

static int build_history(const stream_sample *frames, int64_t i, const char *name, const npy_array *cur,
                         const chunk_options *o, stream_sample *out)
{
    int64_t shape[NPY_MAX_DIMS];
    if (cur->ndim + 1 > NPY_MAX_DIMS) return error_set("%s of sample %s has too many dimensions", name, frames[i].key);
    shape[0] = o->obs_steps;
    for (int d = 0; d < cur->ndim; d++) shape[d + 1] = cur->shape[d];
    npy_array *h = stream_sample_add(out, name, cur->dtype, cur->ndim + 1, shape);
    if (!h) return -1;
    size_t step_bytes = npy_array_nbytes(cur);
    for (int64_t j = 0; j < o->obs_steps; j++) {
        int64_t t = i - (o->obs_steps - 1) + j;
        if (t < 0) t = 0;
        const npy_array *a = stream_sample_get(&frames[t], name);
        if (same_or_error(&frames[t], name, a, cur) < 0) return -1;
        memcpy((unsigned char *)h->data + (size_t)j * step_bytes, a->data, step_bytes);
    }
    return 0;
}

int chunk_build(const stream_sample *frames, int64_t n, int64_t i, const chunk_options *o, stream_sample *out)
{
    if (o->chunk < 1 || o->obs_steps < 0) return error_set("bad chunk options");
    const stream_sample *frame = &frames[i];
    if (stream_sample_reset(out, "%s", frame->key) < 0) return -1;
    if (build_action(frames, n, i, o, out) < 0) return -1;
    for (size_t k = 0; k < frame->n_fields; k++) {
        const stream_field *f = &frame->fields[k];
        if (strcmp(f->name, "action") == 0) continue;
        if (strcmp(f->name, "action_is_pad") == 0)
            return error_set("sample %s already has action_is_pad (chunkify applied twice?)", frame->key);
        int rc = o->obs_steps > 0 && is_observation(f->name) ? build_history(frames, i, f->name, &f->array, o, out)
                                                             : stream_sample_add_copy(out, f->name, &f->array);
        if (rc < 0) return -1;
    }
    return 0;
}

int chunk_order_next(chunk_order *order, const stream_sample *s, int *new_episode)
{
    int64_t ep, fr;
    if (stream_sample_get_i64(s, "episode_index", &ep) < 0 || stream_sample_get_i64(s, "frame_index", &fr) < 0)
        return -1;
    *new_episode = !order->started || ep != order->episode;
    if (*new_episode) {
        for (size_t k = 0; k < order->n_seen; k++)
            if (order->seen[k] == ep)
                return error_set("episode %" PRId64 " frame %" PRId64 " comes after episode %" PRId64
                                 ": the input is not grouped by episode",
                                 ep, fr, order->episode);
        if (order->started) {
            if (order->n_seen == order->cap_seen) {
                size_t cap = order->cap_seen ? order->cap_seen * 2 : 64;
                int64_t *ns = realloc(order->seen, cap * sizeof *ns);
                if (!ns) return error_set("out of memory");
                order->seen = ns;
                order->cap_seen = cap;
            }
            order->seen[order->n_seen++] = order->episode;
        }
    } else if (fr != order->frame + 1) {
        return error_set("episode %" PRId64 ": frame %" PRId64 " follows frame %" PRId64
                         " (frames must be in order, without gaps)",
                         ep, fr, order->frame);
    }
    order->started = 1;
    order->episode = ep;
    order->frame = fr;
    return 0;
}

void chunk_order_free(chunk_order *order)
{
    free(order->seen);
    memset(order, 0, sizeof *order);
}
