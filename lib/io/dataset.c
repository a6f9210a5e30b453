/* dataset.c — a stream's samples in memory, any fields, stored as they came (see dataset.h);
 * the validation split by episode. */
#include "io/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/parse.h"
#include "util/rng.h"

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

size_t dataset_default_memory_limit(void)
{
    size_t avail = available_memory();
    return avail > ((size_t)512 << 20) ? avail - ((size_t)512 << 20) : avail / 2;
}

const char *dataset_field_shape_text(const dataset_field *f, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < f->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "", (long long)f->shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

static size_t sample_bytes(const dataset_t *ds)
{
    size_t bytes = 2 * sizeof(int64_t);
    for (int f = 0; f < ds->n_fields; f++) bytes += ds->fields[f].bytes;
    return bytes;
}

static int add_field(dataset_t *ds, const char *key, const char *name, const npy_array *a)
{
    if (ds->n_fields == DATASET_MAX_FIELDS) return error_set("sample %s: more than %d fields wanted", key, DATASET_MAX_FIELDS);
    if (strlen(name) >= sizeof ds->fields[0].name) return error_set("sample %s: field name %s is too long", key, name);
    dataset_field *f = &ds->fields[ds->n_fields++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->dtype = a->dtype;
    f->ndim = a->ndim;
    memcpy(f->shape, a->shape, sizeof f->shape);
    f->bytes = (size_t)npy_array_count(a) * npy_dtype_size(a->dtype);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const dataset_field *)a)->name, ((const dataset_field *)b)->name);
}

/* The first sample: which fields, with which dtype and shape. */
static int layout_from(dataset_t *ds, const stream_sample *s, const dataset_request *want, int n_want)
{
    for (int w = 0; w < n_want; w++) {
        size_t len = strlen(want[w].name);
        if (len >= 2 && strcmp(want[w].name + len - 2, ".*") == 0) {
            int first = ds->n_fields;
            for (size_t k = 0; k < s->n_fields; k++)
                if (strncmp(s->fields[k].name, want[w].name, len - 1) == 0 &&
                    add_field(ds, s->key, s->fields[k].name, &s->fields[k].array) < 0)
                    return -1;
            if (ds->n_fields == first && !want[w].optional)
                return error_set("sample %s has no %s field", s->key, want[w].name);
            qsort(ds->fields + first, (size_t)(ds->n_fields - first), sizeof ds->fields[0], cmp_name);
            continue;
        }
        const npy_array *a = stream_sample_get(s, want[w].name);
        if (!a) {
            if (want[w].optional) continue;
            return error_set("sample %s has no field %s", s->key, want[w].name);
        }
        if (dataset_find(ds, want[w].name) < 0 && add_field(ds, s->key, want[w].name, a) < 0) return -1;
    }
    return 0;
}

static int grow(dataset_t *ds)
{
    int64_t cap = ds->capacity ? ds->capacity * 2 : DATASET_BLOCK;
    int64_t *episode = realloc(ds->episode, sizeof(int64_t) * cap);
    if (episode) ds->episode = episode;
    int64_t *frame = realloc(ds->frame, sizeof(int64_t) * cap);
    if (frame) ds->frame = frame;
    if (!episode || !frame) return error_set("out of memory after %lld samples", (long long)ds->n);
    for (int f = 0; f < ds->n_fields; f++) {
        dataset_field *x = &ds->fields[f];
        uint8_t **blocks = realloc(x->blocks, sizeof(uint8_t *) * (size_t)(cap / DATASET_BLOCK));
        if (!blocks) return error_set("out of memory after %lld samples", (long long)ds->n);
        for (int64_t b = ds->capacity / DATASET_BLOCK; b < cap / DATASET_BLOCK; b++) blocks[b] = NULL;
        x->blocks = blocks;
    }
    ds->capacity = cap;
    return 0;
}

int dataset_add(dataset_t *ds, const stream_sample *s, const dataset_request *want, int n_want,
                      size_t limit)
{
    if (ds->n == 0 && ds->n_fields == 0 && layout_from(ds, s, want, n_want) < 0) return -1;
    if (ds->n == ds->capacity && grow(ds) < 0) return -1;
    int64_t i = ds->n, block = i / DATASET_BLOCK;
    if (i % DATASET_BLOCK == 0) {
        size_t need = sample_bytes(ds) * (size_t)(i + DATASET_BLOCK);
        if (limit && need > limit)
            return error_set("the stream does not fit in memory: %lld samples read (%.0f MiB) and more coming, "
                             "%.0f MiB usable; train on fewer episodes or smaller images",
                             (long long)i, sample_bytes(ds) * (double)i / 1048576.0, limit / 1048576.0);
        for (int f = 0; f < ds->n_fields; f++)
            if (!ds->fields[f].blocks[block] &&
                !(ds->fields[f].blocks[block] = malloc(ds->fields[f].bytes ? ds->fields[f].bytes * DATASET_BLOCK : 1)))
                return error_set("out of memory after %lld samples", (long long)i);
    }
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *x = &ds->fields[f];
        const npy_array *a = stream_sample_get(s, x->name);
        if (!a) return error_set("sample %s has no field %s (the first sample had it)", s->key, x->name);
        int same = a->dtype == x->dtype && a->ndim == x->ndim;
        for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == x->shape[d];
        if (!same) {
            char want_shape[128], got_shape[128];
            dataset_field got;
            got.ndim = a->ndim;
            memcpy(got.shape, a->shape, sizeof got.shape);
            return error_set("sample %s: %s is %s %s, %s %s expected (as in the first sample)", s->key, x->name,
                             npy_dtype_name(a->dtype), dataset_field_shape_text(&got, got_shape, sizeof got_shape),
                             npy_dtype_name(x->dtype), dataset_field_shape_text(x, want_shape, sizeof want_shape));
        }
        memcpy((uint8_t *)dataset_at(ds, f, i), a->data, x->bytes);
    }
    int64_t value = -1;
    ds->episode[i] = stream_sample_get(s, "episode_index") && stream_sample_get_i64(s, "episode_index", &value) == 0 ? value : 0;
    value = i;
    ds->frame[i] = stream_sample_get(s, "frame_index") && stream_sample_get_i64(s, "frame_index", &value) == 0 ? value : i;
    ds->n++;
    return 0;
}

int dataset_read(dataset_t *ds, stream_reader *r, const dataset_request *want, int n_want,
                       size_t memory_limit, int (*check)(const dataset_t *ds, void *context), void *context)
{
    memset(ds, 0, sizeof *ds);
    if (!memory_limit) memory_limit = dataset_default_memory_limit();
    stream_sample s;
    stream_sample_init(&s);
    int rc;
    while ((rc = stream_reader_next(r, &s)) > 0) {
        if (dataset_add(ds, &s, want, n_want, memory_limit) < 0 || (ds->n == 1 && check && check(ds, context) < 0)) {
            rc = -1;
            break;
        }
    }
    stream_sample_free(&s);
    if (rc < 0) return -1;
    if (ds->n == 0) return error_set("%s: no samples in the stream", stream_reader_name(r));
    return 0;
}

void dataset_free(dataset_t *ds)
{
    if (!ds) return;
    for (int f = 0; f < ds->n_fields; f++) {
        for (int64_t b = 0; ds->fields[f].blocks && b < ds->capacity / DATASET_BLOCK; b++) free(ds->fields[f].blocks[b]);
        free(ds->fields[f].blocks);
    }
    free(ds->episode);
    free(ds->frame);
    memset(ds, 0, sizeof *ds);
}

int dataset_find(const dataset_t *ds, const char *name)
{
    for (int f = 0; f < ds->n_fields; f++)
        if (strcmp(ds->fields[f].name, name) == 0) return f;
    return -1;
}

/* ---------------------------------------------------------------- episodes and the split */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int dataset_episodes(const dataset_t *ds, int64_t **episodes, size_t *count)
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

int dataset_split(const dataset_t *ds, const char *val_episodes, double val_fraction, uint64_t seed,
                        int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val, size_t *n_val_episodes,
                        size_t *n_episodes)
{
    int64_t *episodes;
    size_t n_ep;
    if (dataset_episodes(ds, &episodes, &n_ep) < 0) return -1;
    int64_t *val_ep = NULL;
    size_t n_val_ep = 0;
    if (val_episodes) {
        if (parse_index_list(val_episodes, episodes[n_ep - 1], &val_ep, &n_val_ep) < 0) {
            free(episodes);
            return error_prefix("--val-episodes: ");
        }
    } else if (n_ep > 1 && val_fraction > 0) {
        rng_t rng;
        rng_seed(&rng, seed ^ 0x76616c5f73706c74ULL);
        val_ep = malloc(sizeof *val_ep * n_ep);
        if (!val_ep) {
            free(episodes);
            return error_set("out of memory");
        }
        memcpy(val_ep, episodes, sizeof *val_ep * n_ep);
        rng_shuffle(&rng, val_ep, n_ep);
        n_val_ep = (size_t)llround(val_fraction * (double)n_ep);
        if (n_val_ep < 1) n_val_ep = 1;
        if (n_val_ep >= n_ep) n_val_ep = n_ep - 1;
        qsort(val_ep, n_val_ep, sizeof *val_ep, cmp_i64);   /* for index_list_contains */
    }
    *train = malloc(sizeof(int64_t) * (size_t)ds->n);
    *val = malloc(sizeof(int64_t) * (size_t)ds->n);
    *n_train = *n_val = 0;
    if (!*train || !*val) {
        free(*train), free(*val), free(val_ep), free(episodes);
        return error_set("out of memory");
    }
    for (int64_t i = 0; i < ds->n; i++) {
        if (index_list_contains(val_ep, n_val_ep, ds->episode[i])) (*val)[(*n_val)++] = i;
        else (*train)[(*n_train)++] = i;
    }
    free(episodes);
    free(val_ep);
    *n_val_episodes = n_val_ep;
    *n_episodes = n_ep;
    if (*n_train == 0) {
        free(*train), free(*val);
        *train = *val = NULL;
        return error_set("no training samples left after taking the validation episodes");
    }
    return 0;
}
