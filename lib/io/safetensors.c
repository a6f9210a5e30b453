/* safetensors.c — safetensors reading (checked offsets, jansson for the JSON header) and
 * writing (sorted names, header padded with spaces to a multiple of 8, through util/tempfile:
 * PATH.tmp.PID synced and renamed into place, stale temporaries of killed writers removed). */
#include "io/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/tempfile.h"

static const struct { const char *name; size_t size; } dtypes[] = {
    [SAFETENSORS_F64] = {"F64", 8}, [SAFETENSORS_F32] = {"F32", 4}, [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2}, [SAFETENSORS_I64] = {"I64", 8}, [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_I16] = {"I16", 2}, [SAFETENSORS_I8] = {"I8", 1}, [SAFETENSORS_U8] = {"U8", 1},
    [SAFETENSORS_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *safetensors_dtype_name(safetensors_dtype d) { return dtypes[d].name; }
size_t safetensors_dtype_size(safetensors_dtype d) { return dtypes[d].size; }

/* ---------------------------------------------------------------- reading */

void safetensors_free(safetensors_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) free(f->meta_keys[i]), free(f->meta_values[i]);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->bytes);
    free(f->name);
    memset(f, 0, sizeof *f);
}

static int parse_metadata(safetensors_file *f, json_t *meta)
{
    if (!json_is_object(meta)) return error_set("%s: __metadata__ is not an object", f->name);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return error_set("out of memory");
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value)) return error_set("%s: __metadata__ '%s' is not a string", f->name, key);
        f->meta_keys[f->n_meta] = strdup(key);
        f->meta_values[f->n_meta] = strdup(json_string_value(value));
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta]) return error_set("out of memory");
        f->n_meta++;
    }
    return 0;
}

/* One header entry into t, its offsets checked against data_size. */
static int parse_entry(safetensors_file *f, const char *name, json_t *e, const uint8_t *data, size_t data_size,
                       safetensors_tensor *t)
{
    if (!json_is_object(e)) return error_set("%s: tensor '%s': the header entry is not an object", f->name, name);
    json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape"),
           *offsets = json_object_get(e, "data_offsets");
    if (!json_is_string(dtype)) return error_set("%s: tensor '%s' has no dtype", f->name, name);
    size_t d = 0;
    while (d < N_DTYPES && strcmp(dtypes[d].name, json_string_value(dtype)) != 0) d++;
    if (d == N_DTYPES)
        return error_set("%s: tensor '%s' has the unknown dtype '%s' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                         f->name, name, json_string_value(dtype));
    t->dtype = (safetensors_dtype)d;
    if (!json_is_array(shape) || json_array_size(shape) > SAFETENSORS_MAX_DIMS)
        return error_set("%s: tensor '%s': shape is not a list of at most %d sizes", f->name, name, SAFETENSORS_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *s = json_array_get(shape, i);
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > (1LL << 40))
            return error_set("%s: tensor '%s': shape[%d] is not a size", f->name, name, i);
        t->shape[i] = json_integer_value(s);
        if (t->shape[i] && count > (UINT64_MAX >> 8) / (uint64_t)t->shape[i])
            return error_set("%s: tensor '%s': the shape is too large", f->name, name);
        count *= (uint64_t)t->shape[i];
    }
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 || !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)))
        return error_set("%s: tensor '%s': data_offsets is not [begin, end]", f->name, name);
    json_int_t begin = json_integer_value(json_array_get(offsets, 0)), end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < begin)
        return error_set("%s: tensor '%s': data_offsets [%lld, %lld] is not a range", f->name, name, (long long)begin, (long long)end);
    if ((uint64_t)end > data_size)
        return error_set("%s: tensor '%s': data_offsets [%lld, %lld] run past the end of the data (%zu bytes): truncated file?",
                         f->name, name, (long long)begin, (long long)end, data_size);
    uint64_t want = count * dtypes[d].size;
    if ((uint64_t)(end - begin) != want)
        return error_set("%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, its %s shape needs %llu", f->name, name,
                         (long long)begin, (long long)end, (long long)(end - begin), dtypes[d].name, (unsigned long long)want);
    t->data = data + begin;
    t->nbytes = (size_t)want;
    if (!(t->name = strdup(name))) return error_set("out of memory");
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const safetensors_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

int safetensors_parse(const uint8_t *bytes, size_t size, const char *name, safetensors_file *f)
{
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(name ? name : "safetensors"))) return error_set("out of memory");
    int rc = -1;
    json_t *root = NULL;
    if (size < 8) {
        error_set("%s: %zu bytes, too short for a safetensors header length (8 bytes)", f->name, size);
        goto done;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
    if (n > SAFETENSORS_MAX_HEADER) {
        error_set("%s: a header of %llu bytes, more than safetensors' limit of 100 MB: not a safetensors file?", f->name,
                  (unsigned long long)n);
        goto done;
    }
    if (n > size - 8) {
        error_set("%s: the header is %llu bytes, the file has only %zu after the length: truncated file?", f->name,
                  (unsigned long long)n, size - 8);
        goto done;
    }
    if (!(f->bytes = malloc(size ? size : 1))) {
        error_set("out of memory for %s (%zu bytes)", f->name, size);
        goto done;
    }
    memcpy(f->bytes, bytes, size);
    f->size = size;
    json_error_t jerr;
    root = json_loadb((const char *)f->bytes + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        error_set("%s: the header is not valid JSON: %s (at byte %d of the header)", f->name, jerr.text, jerr.position);
        goto done;
    }
    if (!json_is_object(root)) {
        error_set("%s: the header is not a JSON object", f->name);
        goto done;
    }
    size_t entries = json_object_size(root);
    if (!(f->tensors = calloc(entries ? entries : 1, sizeof *f->tensors))) {
        error_set("out of memory");
        goto done;
    }
    const uint8_t *data = f->bytes + 8 + n;
    size_t data_size = size - 8 - (size_t)n;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(f, value) < 0) goto done;
            continue;
        }
        if (parse_entry(f, key, value, data, data_size, &f->tensors[f->n_tensors]) < 0) goto done;
        f->n_tensors++;
    }
    /* no two tensors share a byte (checked on a sorted copy; the header's order is kept) */
    safetensors_tensor *sorted = malloc(sizeof *sorted * (f->n_tensors ? f->n_tensors : 1));
    if (!sorted) {
        error_set("out of memory");
        goto done;
    }
    memcpy(sorted, f->tensors, sizeof *sorted * f->n_tensors);
    qsort(sorted, f->n_tensors, sizeof *sorted, by_offset);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (sorted[i].nbytes && sorted[i - 1].data + sorted[i - 1].nbytes > sorted[i].data) {
            error_set("%s: tensors '%s' and '%s' overlap (data_offsets [%td, %td] and [%td, %td])", f->name,
                      sorted[i - 1].name, sorted[i].name, sorted[i - 1].data - data,
                      sorted[i - 1].data - data + (ptrdiff_t)sorted[i - 1].nbytes, sorted[i].data - data,
                      sorted[i].data - data + (ptrdiff_t)sorted[i].nbytes);
            free(sorted);
            goto done;
        }
    free(sorted);
    rc = 0;
done:
    json_decref(root);
    if (rc < 0) safetensors_free(f);
    return rc;
}

int safetensors_read(const char *path, safetensors_file *f)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set("%s:", path);
    uint8_t *bytes = NULL;
    size_t size = 0, cap = 0, got;
    int rc = 0;
    do {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            uint8_t *more = realloc(bytes, cap);
            if (!more) { rc = error_set("out of memory reading %s", path); break; }
            bytes = more;
        }
        got = fread(bytes + size, 1, cap - size, fp);
        size += got;
    } while (got > 0);
    if (rc == 0 && ferror(fp)) rc = error_set("%s: read error", path);
    fclose(fp);
    if (rc == 0) rc = safetensors_parse(bytes, size, path, f);
    free(bytes);
    return rc;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *safetensors_metadata(const safetensors_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    float v = exp == 0 ? ldexpf((float)mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexpf((float)(mant | 1024), exp - 25);
    return sign ? -v : v;
}

int safetensors_get_f32(const safetensors_file *f, const char *name, float **data, int *ndim,
                        int64_t shape[SAFETENSORS_MAX_DIMS])
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t) return error_set("%s: no tensor '%s'", f->name, name);
    if (t->dtype != SAFETENSORS_F32 && t->dtype != SAFETENSORS_F64 && t->dtype != SAFETENSORS_F16 && t->dtype != SAFETENSORS_BF16)
        return error_set("%s: tensor '%s' is %s, a floating-point tensor expected", f->name, name, dtypes[t->dtype].name);
    size_t count = t->nbytes / dtypes[t->dtype].size;
    float *out = malloc(sizeof(float) * (count ? count : 1));
    if (!out) return error_set("out of memory");
    const uint8_t *p = t->data;
    for (size_t i = 0; i < count; i++) {
        switch (t->dtype) {
        case SAFETENSORS_F32: {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&out[i], &u, 4);
            break;
        }
        case SAFETENSORS_F64: {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = u << 8 | p[8 * i + b];
            double v;
            memcpy(&v, &u, 8);
            out[i] = (float)v;
            break;
        }
        case SAFETENSORS_F16: out[i] = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8)); break;
        default: {
            uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&out[i], &u, 4);
        }
        }
    }
    *data = out;
    *ndim = t->ndim;
    memcpy(shape, t->shape, sizeof(int64_t) * t->ndim);
    return 0;
}

/* ---------------------------------------------------------------- writing */

typedef struct {
    char *name;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    float *data;
    size_t count;
} pending_tensor;

struct safetensors_writer {
    pending_tensor *tensors;
    size_t n, cap;
    json_t *metadata;
};

safetensors_writer *safetensors_writer_new(void)
{
    safetensors_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->metadata = json_object())) {
        free(w);
        error_set("out of memory");
        return NULL;
    }
    return w;
}

void safetensors_writer_free(safetensors_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->tensors[i].name), free(w->tensors[i].data);
    free(w->tensors);
    json_decref(w->metadata);
    free(w);
}

int safetensors_writer_add_f32(safetensors_writer *w, const char *name, const float *data, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > SAFETENSORS_MAX_DIMS) return error_set("safetensors: tensor '%s' has %d dimensions", name, ndim);
    if (strcmp(name, "__metadata__") == 0) return error_set("safetensors: '__metadata__' cannot name a tensor");
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return error_set("safetensors: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        pending_tensor *more = realloc(w->tensors, sizeof *more * cap);
        if (!more) return error_set("out of memory");
        w->tensors = more, w->cap = cap;
    }
    pending_tensor *t = &w->tensors[w->n];
    t->count = 1;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i], t->count *= (size_t)shape[i];
    t->ndim = ndim;
    t->name = strdup(name);
    t->data = malloc(sizeof(float) * (t->count ? t->count : 1));
    if (!t->name || !t->data) {
        free(t->name), free(t->data);
        return error_set("out of memory");
    }
    memcpy(t->data, data, sizeof(float) * t->count);
    w->n++;
    return 0;
}

int safetensors_writer_metadata(safetensors_writer *w, const char *key, const char *value)
{
    return json_object_set_new(w->metadata, key, json_string(value)) < 0 ? error_set("safetensors: bad metadata '%s'", key) : 0;
}

static int by_name(const void *a, const void *b) { return strcmp(((const pending_tensor *)a)->name, ((const pending_tensor *)b)->name); }

int safetensors_writer_save(safetensors_writer *w, const char *path)
{
    char tmp[TEMPFILE_MAX];
    int rc = 0, named = 0;
    char *header = NULL;
    FILE *fp = NULL;
    json_t *root = json_object();
    if (!root) { rc = error_set("out of memory"); goto done; }
    qsort(w->tensors, w->n, sizeof *w->tensors, by_name);
    size_t offset = 0;
    if (json_object_size(w->metadata) && json_object_set(root, "__metadata__", w->metadata) < 0) rc = error_set("out of memory");
    for (size_t i = 0; rc == 0 && i < w->n; i++) {
        pending_tensor *t = &w->tensors[i];
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)offset,
                              (json_int_t)(offset + 4 * t->count));
        if (!e || json_object_set_new(root, t->name, e) < 0) rc = error_set("out of memory");
        offset += 4 * t->count;
    }
    if (rc == 0 && !(header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER))) rc = error_set("out of memory");
    if (rc < 0) goto done;
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    if ((rc = tempfile_begin(path, tmp, sizeof tmp)) < 0) goto done;
    named = 1;
    if (!(fp = fopen(tmp, "wb"))) { rc = error_set("%s: cannot create %s:", path, tmp); goto done; }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len, 1, 8, fp);
    fwrite(header, 1, n, fp);
    for (size_t i = n; i < padded; i++) fputc(' ', fp);
    for (size_t i = 0; i < w->n; i++)
        for (size_t j = 0; j < w->tensors[i].count; j++) {
            uint32_t u;
            memcpy(&u, &w->tensors[i].data[j], 4);
            uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
            fwrite(b, 1, 4, fp);
        }
    if (ferror(fp) | (fclose(fp) != 0)) rc = error_set("%s: write error:", path);
    fp = NULL;
    if (rc == 0) {
        named = 0;
        rc = tempfile_commit(tmp, path);   /* removes the temporary on failure */
    }
done:
    if (fp) fclose(fp);
    if (named) tempfile_discard(tmp);
    free(header);
    json_decref(root);
    safetensors_writer_free(w);
    return rc;
}
