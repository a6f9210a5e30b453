/* stats.c — normalization statistics: stable double-precision accumulation over a sample stream,
 * the "stats" sample and stats.json, and loading a stats stream back. */
#include "io/stats.h"
#include "util/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const stat_names[4] = {"max", "mean", "min", "std"};

/* ---------------------------------------------------------------- accumulation */

typedef struct {
    char *name;
    npy_array layout;       /* dtype and shape of the field in the first sample (no data) */
    int is_image;
    int64_t n;              /* accumulated positions: elements, or 3 channels for images */
    double *mean, *m2, *min, *max;
    int64_t weight;         /* values merged into each position so far */
} acc_feature;

struct stats_accumulator {
    acc_feature *features;
    size_t n_features;
    int64_t count;
};

static int is_image_field(const char *name, const npy_array *a)
{
    return strncmp(name, "observation.images.", 19) == 0 && a->dtype == NPY_U8 && a->ndim >= 3 &&
           a->shape[a->ndim - 1] == 3;
}

stats_accumulator *stats_accumulator_new(void)
{
    stats_accumulator *acc = calloc(1, sizeof *acc);
    if (!acc) error_set("out of memory");
    return acc;
}

int64_t stats_accumulator_count(const stats_accumulator *acc) { return acc->count; }

void stats_accumulator_free(stats_accumulator *acc)
{
    if (!acc) return;
    for (size_t i = 0; i < acc->n_features; i++) {
        acc_feature *f = &acc->features[i];
        free(f->name);
        free(f->mean);
        free(f->m2);
        free(f->min);
        free(f->max);
    }
    free(acc->features);
    free(acc);
}

static int init_features(stats_accumulator *acc, const stream_sample *s)
{
    acc->features = calloc(s->n_fields ? s->n_fields : 1, sizeof *acc->features);
    if (!acc->features) return error_set("out of memory");
    for (size_t i = 0; i < s->n_fields; i++) {
        acc_feature *f = &acc->features[acc->n_features++];
        const npy_array *a = &s->fields[i].array;
        f->name = strdup(s->fields[i].name);
        f->layout = *a;
        f->layout.data = NULL;
        f->is_image = is_image_field(f->name, a);
        f->n = f->is_image ? 3 : npy_array_count(a);
        size_t n = (size_t)(f->n ? f->n : 1);
        f->mean = calloc(n, sizeof(double));
        f->m2 = calloc(n, sizeof(double));
        f->min = malloc(n * sizeof(double));
        f->max = malloc(n * sizeof(double));
        if (!f->name || !f->mean || !f->m2 || !f->min || !f->max) return error_set("out of memory");
        for (size_t k = 0; k < n; k++) {
            f->min[k] = INFINITY;
            f->max[k] = -INFINITY;
        }
    }
    return 0;
}

/* "episode 3 frame 17" from the sample, or "sample KEY". */
static void where(const stream_sample *s, char *buf, size_t size)
{
    int64_t ep, fr;
    if (stream_sample_get(s, "episode_index") && stream_sample_get(s, "frame_index") &&
        stream_sample_get_i64(s, "episode_index", &ep) == 0 && stream_sample_get_i64(s, "frame_index", &fr) == 0)
        snprintf(buf, size, "episode %" PRId64 " frame %" PRId64, ep, fr);
    else
        snprintf(buf, size, "sample %s", s->key ? s->key : "?");
    error_clear();
}

/* Merge a batch (n values with mean bm and sum of squared deviations bm2) into position k. */
static void merge(acc_feature *f, int64_t k, int64_t n, double bm, double bm2, double bmin, double bmax)
{
    double na = (double)f->weight, nb = (double)n, total = na + nb;
    double delta = bm - f->mean[k];
    f->mean[k] += delta * nb / total;
    f->m2[k] += bm2 + delta * delta * na * nb / total;
    if (bmin < f->min[k]) f->min[k] = bmin;
    if (bmax > f->max[k]) f->max[k] = bmax;
}

static void add_image(acc_feature *f, const npy_array *a)
{
    const uint8_t *p = a->data;
    int64_t pixels = npy_array_count(a) / 3;
    for (int c = 0; c < 3; c++) {
        uint64_t sum = 0, sumsq = 0;
        int lo = 255, hi = 0;
        for (int64_t i = 0; i < pixels; i++) {
            unsigned v = p[i * 3 + c];
            sum += v;
            sumsq += (uint64_t)v * v;
            if ((int)v < lo) lo = v;
            if ((int)v > hi) hi = v;
        }
        /* exact integer moments of this image, then Chan's merge (values in 0..255, scaled at the end) */
        double mean = (double)sum / (double)pixels;
        double m2 = (double)sumsq - (double)sum * (double)sum / (double)pixels;
        if (m2 < 0) m2 = 0;
        merge(f, c, pixels, mean, m2, lo, hi);
    }
    f->weight += pixels;
}

int stats_accumulator_add(stats_accumulator *acc, const stream_sample *s)
{
    if (acc->count == 0 && acc->n_features == 0 && init_features(acc, s) < 0) return -1;
    char at[128];
    if (s->n_fields != acc->n_features) {
        where(s, at, sizeof at);
        return error_set("%s has %zu fields, the first sample had %zu", at, s->n_fields, acc->n_features);
    }
    for (size_t i = 0; i < acc->n_features; i++) {
        acc_feature *f = &acc->features[i];
        const npy_array *a = stream_sample_get(s, f->name);
        if (!a || !npy_array_same_layout(a, &f->layout)) {
            char want[96], got[96];
            where(s, at, sizeof at);
            if (!a) return error_set("%s has no field %s", at, f->name);
            return error_set("%s: %s is %s, the first sample had %s", at, f->name, npy_array_describe(a, got, sizeof got),
                             npy_array_describe(&f->layout, want, sizeof want));
        }
        if (f->is_image) {
            add_image(f, a);
            continue;
        }
        int64_t n = f->n;
        double inv = 1.0 / (double)(f->weight + 1);
        for (int64_t k = 0; k < n; k++) {
            double x = npy_array_get_double(a, k);
            if (!isfinite(x)) {
                where(s, at, sizeof at);
                return error_set("%s in feature %s at %s (element %" PRId64 ")", isnan(x) ? "NaN" : "Inf", f->name, at, k);
            }
            /* Welford */
            double delta = x - f->mean[k];
            f->mean[k] += delta * inv;
            f->m2[k] += delta * (x - f->mean[k]);
            if (x < f->min[k]) f->min[k] = x;
            if (x > f->max[k]) f->max[k] = x;
        }
        f->weight++;
    }
    acc->count++;
    return 0;
}

/* Statistic `which` (index into stat_names) of position k, in output units. */
static double stat_value(const acc_feature *f, int which, int64_t k)
{
    double scale = f->is_image ? 1.0 / 255.0 : 1.0;
    switch (which) {
    case 0: return f->max[k] * scale;
    case 1: return f->mean[k] * scale;
    case 2: return f->min[k] * scale;
    default: return (f->weight > 0 ? sqrt(f->m2[k] / (double)f->weight) : 0) * scale;
    }
}

/* Shape of the statistics: [3,1,1] for images, the field's shape otherwise ([1] for scalars). */
static int stat_shape(const acc_feature *f, int64_t *shape)
{
    if (f->is_image) {
        shape[0] = 3;
        shape[1] = shape[2] = 1;
        return 3;
    }
    if (f->layout.ndim == 0) {
        shape[0] = 1;
        return 1;
    }
    memcpy(shape, f->layout.shape, sizeof(int64_t) * f->layout.ndim);
    return f->layout.ndim;
}

int stats_accumulator_sample(const stats_accumulator *acc, stream_sample *out)
{
    if (acc->count == 0) return error_set("no samples: cannot compute statistics");
    if (stream_sample_reset(out, "stats") < 0) return -1;
    for (size_t i = 0; i < acc->n_features; i++) {
        const acc_feature *f = &acc->features[i];
        char name[512];
        int64_t shape[NPY_MAX_DIMS];
        int ndim = stat_shape(f, shape);
        for (int which = 0; which < 4; which++) {
            snprintf(name, sizeof name, "%s.%s", f->name, stat_names[which]);
            npy_array *a = stream_sample_add(out, name, NPY_F32, ndim, shape);
            if (!a) return -1;
            for (int64_t k = 0; k < f->n; k++) ((float *)a->data)[k] = (float)stat_value(f, which, k);
        }
        snprintf(name, sizeof name, "%s.count", f->name);
        npy_array *c = stream_sample_add(out, name, NPY_I64, 1, (int64_t[]){1});
        if (!c) return -1;
        *(int64_t *)c->data = acc->count;
    }
    stream_sample_sort(out);
    return 0;
}

static int feature_cmp(const void *a, const void *b)
{
    return strcmp((*(const acc_feature *const *)a)->name, (*(const acc_feature *const *)b)->name);
}

static void json_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(fp, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(fp, "\\u%04x", *s);
        else fputc(*s, fp);
    }
    fputc('"', fp);
}

int stats_accumulator_json(const stats_accumulator *acc, FILE *fp)
{
    if (acc->count == 0) return error_set("no samples: cannot compute statistics");
    const acc_feature **sorted = malloc((acc->n_features ? acc->n_features : 1) * sizeof *sorted);
    if (!sorted) return error_set("out of memory");
    for (size_t i = 0; i < acc->n_features; i++) sorted[i] = &acc->features[i];
    qsort(sorted, acc->n_features, sizeof *sorted, feature_cmp);
    fprintf(fp, "{");
    for (size_t i = 0; i < acc->n_features; i++) {
        const acc_feature *f = sorted[i];
        fprintf(fp, "%s\n  ", i ? "," : "");
        json_string(fp, f->name);
        fprintf(fp, ": {");
        for (int which = 0; which < 4; which++) {
            fprintf(fp, "%s\"%s\": ", which ? ", " : "", stat_names[which]);
            if (f->is_image) { /* [[[r]], [[g]], [[b]]] like LeRobot's (3,1,1) */
                fprintf(fp, "[");
                for (int c = 0; c < 3; c++) fprintf(fp, "%s[[%.17g]]", c ? ", " : "", stat_value(f, which, c));
                fprintf(fp, "]");
                continue;
            }
            /* nested lists following the field's shape (a scalar field gives [x]) */
            int ndim = f->layout.ndim ? f->layout.ndim : 1;
            int64_t shape[NPY_MAX_DIMS], idx[NPY_MAX_DIMS] = {0};
            stat_shape(f, shape);
            for (int d = 0; d < ndim; d++) fputc('[', fp);
            for (int64_t k = 0; k < f->n; k++) {
                if (k) { /* close and reopen the dimensions whose index wrapped */
                    int d = ndim - 1;
                    idx[d]++;
                    int closed = 0;
                    while (d > 0 && idx[d] == shape[d]) {
                        idx[d] = 0;
                        idx[--d]++;
                        closed++;
                    }
                    for (int j = 0; j < closed; j++) fputc(']', fp);
                    fputs(", ", fp);
                    for (int j = 0; j < closed; j++) fputc('[', fp);
                }
                fprintf(fp, "%.17g", stat_value(f, which, k));
            }
            for (int d = 0; d < ndim; d++) fputc(']', fp);
        }
        fprintf(fp, ", \"count\": [%" PRId64 "]}", acc->count);
    }
    fprintf(fp, "\n}\n");
    free(sorted);
    return ferror(fp) ? error_set("write error:") : 0;
}

/* ---------------------------------------------------------------- loading */

void stats_free(stats_set *st)
{
    for (size_t i = 0; i < st->n_features; i++) {
        stats_feature *f = &st->features[i];
        free(f->feature);
        free(f->mean);
        free(f->std);
        free(f->min);
        free(f->max);
    }
    free(st->features);
    memset(st, 0, sizeof *st);
}

const stats_feature *stats_find(const stats_set *st, const char *feature)
{
    for (size_t i = 0; i < st->n_features; i++)
        if (strcmp(st->features[i].feature, feature) == 0) return &st->features[i];
    return NULL;
}

static stats_feature *find_or_add(stats_set *st, const char *name, size_t len)
{
    for (size_t i = 0; i < st->n_features; i++)
        if (strlen(st->features[i].feature) == len && strncmp(st->features[i].feature, name, len) == 0)
            return &st->features[i];
    stats_feature *nf = realloc(st->features, (st->n_features + 1) * sizeof *nf);
    if (!nf) return NULL;
    st->features = nf;
    stats_feature *f = &nf[st->n_features++];
    memset(f, 0, sizeof *f);
    f->n = -1;
    f->feature = strndup(name, len);
    return f->feature ? f : NULL;
}

int stats_from_sample(const stream_sample *s, stats_set *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *name = s->fields[i].name;
        const npy_array *a = &s->fields[i].array;
        const char *dot = strrchr(name, '.');
        if (!dot) {
            stats_free(out);
            return error_set("stats field %s is not <feature>.<statistic>", name);
        }
        stats_feature *f = find_or_add(out, name, (size_t)(dot - name));
        if (!f) {
            stats_free(out);
            return error_set("out of memory");
        }
        const char *stat = dot + 1;
        if (strcmp(stat, "count") == 0) {
            if (stream_sample_get_i64(s, name, &f->count) < 0) {
                stats_free(out);
                return -1;
            }
            if (f->count < 0) {
                error_set("stats field %s is %" PRId64 ", not a count", name, f->count);
                stats_free(out);
                return -1;
            }
            continue;
        }
        float **slot = strcmp(stat, "mean") == 0 ? &f->mean : strcmp(stat, "std") == 0 ? &f->std
                     : strcmp(stat, "min") == 0  ? &f->min : strcmp(stat, "max") == 0 ? &f->max : NULL;
        if (!slot) continue; /* statistics we do not use (quantiles, ...) */
        int64_t n = npy_array_count(a);
        if (*slot || (f->n >= 0 && f->n != n)) {
            stats_free(out);
            return error_set("stats for %s: %s has %" PRId64 " values, expected %" PRId64, f->feature, stat, n, f->n);
        }
        f->n = n;
        f->ndim = a->ndim;
        memcpy(f->shape, a->shape, sizeof f->shape);
        *slot = malloc((size_t)(n ? n : 1) * sizeof(float));
        if (!*slot) {
            stats_free(out);
            return error_set("out of memory");
        }
        for (int64_t k = 0; k < n; k++) {
            double x = npy_array_get_double(a, k);
            const char *bad = isnan(x) ? "NaN" : !isfinite((float)x) ? "Inf (or beyond float32)"
                            : slot == &f->std && x < 0 ? "negative" : NULL;
            if (bad) {
                error_set("stats field %s is %s at element %" PRId64 " (%g)", name, bad, k, x);
                stats_free(out);
                return -1;
            }
            (*slot)[k] = (float)x;
        }
    }
    for (size_t i = 0; i < out->n_features; i++) {
        stats_feature *f = &out->features[i];
        if (!f->mean || !f->std || !f->min || !f->max) {
            error_set("stats for %s lack one of mean, std, min, max", f->feature);
            stats_free(out);
            return -1;
        }
    }
    return 0;
}

int stats_load(const char *path, stats_set *out)
{
    memset(out, 0, sizeof *out);
    stream_reader *r = stream_reader_open(path);
    if (!r) return -1;
    stream_sample s;
    stream_sample_init(&s);
    int rc = stream_reader_next(r, &s);
    if (rc == 0) rc = error_set("%s: empty stream, expected a stats sample", path);
    else if (rc > 0) rc = stats_from_sample(&s, out) < 0 ? error_prefix("%s: ", path) : 0;
    stream_sample_free(&s);
    stream_reader_close(r);
    return rc;
}
