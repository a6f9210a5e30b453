/* checkpoint.c — HDF5 checkpoints: parameters with PyTorch names, optimizer state, EMA weights,
 * step, configuration and normalisation statistics; atomic writes and strict loading
 * (checkpoint.h). */
#include "io/checkpoint.h"
#include "io/hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/tempfile.h"

struct checkpoint_writer {
    hid_t file;
    char *path, *tmp;
};

struct checkpoint_reader {
    hid_t file;
    char *path;
    int n_config;
    char **keys, **values;
    unsigned char *asked;          /* per key: read by checkpoint_config (checkpoint_config_check_required) */
};

static void quiet_hdf5(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---------------------------------------------------------------- small HDF5 helpers */
/* Untimed objects: the same checkpoint content gives the same bytes. */
static hid_t group_create(hid_t parent, const char *name) { return h5u_group_create(parent, name, 1); }

/* Open a group, creating it if it is not there yet. */
static hid_t group_get(hid_t parent, const char *name)
{
    if (H5Lexists(parent, name, H5P_DEFAULT) > 0) return H5Gopen2(parent, name, H5P_DEFAULT);
    return group_create(parent, name);
}

static int write_floats(hid_t parent, const char *name, const float *data, int ndim, const int *shape)
{
    hsize_t dims[8];
    for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)shape[d];
    int empty = ndim == 0;
    for (int d = 0; d < ndim; d++) empty |= dims[d] == 0;
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = h5u_dcpl_untimed();
    if (!empty && h5u_dcpl_checksummed(dcpl, ndim, dims, sizeof(float)) < 0) {
        H5Pclose(dcpl);
        dcpl = -1;
    }
    hid_t set = space < 0 || dcpl < 0 ? -1
                                      : H5Dcreate2(parent, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    int r = set < 0 ? -1 : (H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0);
    /* the chunk cache writes the data on close: a failure there (a full disk) is a failed write,
     * or the file keeps a hole that reads as zeros (whose Fletcher-32 checksum is 0, valid) */
    int saved = errno;
    if (set >= 0 && H5Dclose(set) < 0 && r == 0) r = -1, saved = errno;
    if (space >= 0) H5Sclose(space);
    errno = saved;
    return r;
}

static int attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, int n, const void *value)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int r = a < 0 || H5Awrite(a, mem_type, value) < 0 ? -1 : 0;
    if (a >= 0 && H5Aclose(a) < 0) r = -1;
    H5Sclose(space);
    return r;
}

static hid_t string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_write_long(hid_t obj, const char *name, long value)
{
    long long v = value;
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, &v);
}

static int attr_read_long(hid_t obj, const char *name, long *value)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    long long v = 0;
    int r = a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    *value = (long)v;
    return r;
}

static int attr_read_float(hid_t obj, const char *name, float *value)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int r = a < 0 || H5Aread(a, H5T_NATIVE_FLOAT, value) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    return r;
}

/* A string attribute (variable or fixed length) as a malloc'ed C string. */
static char *attr_read_string(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = string_type();
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 converts no string between character sets */
            out = calloc(1, n + 1);
            if (out && H5Aread(a, mt, out) < 0) {
                free(out);
                out = NULL;
            }
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

/* ---------------------------------------------------------------- writing */
checkpoint_writer *checkpoint_create(const char *path)
{
    quiet_hdf5();
    checkpoint_writer *w = calloc(1, sizeof *w);
    if (!w) return error_set("%s: out of memory", path), NULL;
    w->file = -1;
    w->path = strdup(path);
    w->tmp = malloc(TEMPFILE_MAX);
    if (!w->path || !w->tmp) {
        checkpoint_abort(w);
        return error_set("%s: out of memory", path), NULL;
    }
    if (tempfile_begin(path, w->tmp, TEMPFILE_MAX) < 0) {
        free(w->tmp);
        w->tmp = NULL;
        checkpoint_abort(w);
        return NULL;
    }
    errno = 0;
    w->file = h5u_file_create(w->tmp); /* checksummed metadata: a flipped bit is a read error */
    if (w->file < 0) {
        if (errno) error_set("%s: cannot create the temporary checkpoint %s:", path, w->tmp);
        else error_set("%s: cannot create the temporary checkpoint %s", path, w->tmp);
        checkpoint_abort(w);
        return NULL;
    }
    if (h5u_attr_string(w->file, "format", CHECKPOINT_FORMAT) < 0) {
        checkpoint_abort(w);
        return error_set("%s: cannot write to the checkpoint", path), NULL;
    }
    return w;
}

/* "PATH: cannot write WHAT", with the system's reason when a write failed for lack of space
 * or an I/O error (errno is cleared before each writing function). */
static int write_error(const checkpoint_writer *w, const char *what)
{
    if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG || errno == EIO)
        return error_set("%s: cannot write %s:", w->path, what);
    return error_set("%s: cannot write %s", w->path, what);
}

static const char *kind_of(unsigned flags)
{
    return (flags & NN_BUFFER) ? "buffer" : (flags & NN_FROZEN) ? "frozen" : "parameter";
}

/* Datasets <group>/<name> for every entry of ps (trainable ones only if trainable_only),
 * taking the values from base + offset (ps->data, AdamW's m or v, the EMA shadow). */
static int write_store(checkpoint_writer *w, const char *group, const nn_params *ps, const float *base,
                       int trainable_only, int with_kind)
{
    errno = 0;
    char what[600];
    hid_t g = group_get(w->file, group);
    if (g < 0) {
        snprintf(what, sizeof what, "/%s", group);
        return write_error(w, what);
    }
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *p = &ps->list[i];
        if (trainable_only && (p->flags & (NN_BUFFER | NN_FROZEN))) continue;
        if (write_floats(g, p->t->name, base + p->offset, p->t->ndim, p->t->shape) < 0) {
            int saved = errno;
            H5Gclose(g);
            errno = saved;
            snprintf(what, sizeof what, "/%s/%s", group, p->t->name);
            return write_error(w, what);
        }
        if (with_kind) {
            hid_t set = H5Dopen2(g, p->t->name, H5P_DEFAULT);
            int r = set < 0 ? -1 : h5u_attr_string(set, "kind", kind_of(p->flags));
            int saved = errno;
            if (set >= 0 && H5Dclose(set) < 0) r = -1;
            if (r < 0) {
                H5Gclose(g);
                errno = saved;
                snprintf(what, sizeof what, "/%s/%s", group, p->t->name);
                return write_error(w, what);
            }
        }
    }
    H5Gclose(g);
    return 0;
}

int checkpoint_write_params(checkpoint_writer *w, const nn_params *ps)
{
    return write_store(w, "params", ps, ps->data, 0, 1);
}

int checkpoint_write_optim(checkpoint_writer *w, const nn_adamw *opt)
{
    if (write_store(w, "optim/exp_avg", opt->ps, opt->m, 1, 0) < 0 ||
        write_store(w, "optim/exp_avg_sq", opt->ps, opt->v, 1, 0) < 0) return -1;
    hid_t g = H5Gopen2(w->file, "optim", H5P_DEFAULT);
    float lr[NN_MAX_GROUPS], wd[NN_MAX_GROUPS];
    for (int i = 0; i < opt->n_groups && i < NN_MAX_GROUPS; i++) {
        lr[i] = opt->groups[i].lr;
        wd[i] = opt->groups[i].weight_decay;
    }
    int n = opt->n_groups > 0 ? opt->n_groups : 1;
    int r = g < 0 || attr_write_long(g, "step", opt->step) < 0 ||
            attr_write(g, "beta1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &opt->beta1) < 0 ||
            attr_write(g, "beta2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &opt->beta2) < 0 ||
            attr_write(g, "eps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &opt->eps) < 0 ||
            (opt->n_groups > 0 && (attr_write(g, "lr", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, lr) < 0 ||
                                   attr_write(g, "weight_decay", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, wd) < 0))
                ? -1 : 0;
    if (g >= 0) H5Gclose(g);
    return r < 0 ? error_set("%s: cannot write /optim attributes", w->path) : 0;
}

int checkpoint_write_ema(checkpoint_writer *w, const nn_ema *ema)
{
    if (write_store(w, "ema", ema->ps, ema->shadow, 0, 0) < 0) return -1;
    hid_t g = H5Gopen2(w->file, "ema", H5P_DEFAULT);
    int r = g < 0 || attr_write_long(g, "optimization_step", ema->optimization_step) < 0 ? -1 : 0;
    if (g >= 0) H5Gclose(g);
    return r < 0 ? error_set("%s: cannot write /ema attributes", w->path) : 0;
}

int checkpoint_write_step(checkpoint_writer *w, long step)
{
    return attr_write_long(w->file, "step", step) < 0 ? error_set("%s: cannot write the step", w->path) : 0;
}

int checkpoint_write_config(checkpoint_writer *w, const char *key, const char *value)
{
    hid_t g = group_get(w->file, "config");
    int r = g < 0 ? -1 : h5u_attr_string(g, key, value);
    if (g >= 0) H5Gclose(g);
    return r < 0 ? error_set("%s: cannot write configuration %s", w->path, key) : 0;
}

int checkpoint_write_configf(checkpoint_writer *w, const char *key, const char *fmt, ...)
{
    char value[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof value) return error_set("%s: configuration %s is too long", w->path, key);
    return checkpoint_write_config(w, key, value);
}

int checkpoint_write_root_attr(checkpoint_writer *w, const char *key, const char *value)
{
    return h5u_attr_string(w->file, key, value) < 0 ? error_set("%s: cannot write root attribute %s", w->path, key)
                                                      : 0;
}

int checkpoint_write_stat(checkpoint_writer *w, const char *feature, const char *name, const float *data,
                          int ndim, const int *shape)
{
    char group[512];
    if (!feature[0] || strchr(feature, '/') || !name[0] || strchr(name, '/'))
        return error_set("%s: bad statistics name %s/%s", w->path, feature, name);
    snprintf(group, sizeof group, "stats/%s", feature);
    errno = 0;
    hid_t g = group_get(w->file, group);
    int r = g < 0 ? -1 : write_floats(g, name, data, ndim, shape);
    int saved = errno;
    if (g >= 0) H5Gclose(g);
    errno = saved;
    char what[600];
    snprintf(what, sizeof what, "/stats/%s/%s", feature, name);
    return r < 0 ? write_error(w, what) : 0;
}

static void writer_free(checkpoint_writer *w)
{
    free(w->path);
    free(w->tmp);
    free(w);
}

int checkpoint_commit(checkpoint_writer *w)
{
    if (!w) return -1;
    int r = h5u_file_finish(w->file, w->tmp);
    w->file = -1;
    if (r < 0) {
        if (errno) error_set("%s: cannot finish writing %s:", w->path, w->tmp);
        else error_set("%s: cannot finish writing %s", w->path, w->tmp);
        tempfile_discard(w->tmp);
    } else {
        r = tempfile_commit(w->tmp, w->path); /* on disk before it takes the real name */
    }
    writer_free(w);
    return r;
}

void checkpoint_abort(checkpoint_writer *w)
{
    if (!w) return;
    if (w->file >= 0) h5u_file_finish(w->file, w->tmp);
    if (w->tmp) tempfile_discard(w->tmp);
    writer_free(w);
}

/* ---------------------------------------------------------------- reading */
static herr_t collect_config(hid_t obj, const char *name, const H5A_info_t *info, void *arg)
{
    checkpoint_reader *r = arg;
    char *value = attr_read_string(obj, name);
    if (!value) return 0;  /* not a string: not configuration */
    char **k = realloc(r->keys, (size_t)(r->n_config + 1) * sizeof *k);
    if (k) r->keys = k;
    char **v = realloc(r->values, (size_t)(r->n_config + 1) * sizeof *v);
    if (v) r->values = v;
    unsigned char *a = realloc(r->asked, (size_t)(r->n_config + 1));
    if (a) r->asked = a;
    if (!k || !v || !a) {
        free(value);
        return -1;
    }
    r->keys[r->n_config] = strdup(name);
    r->asked[r->n_config] = 0;
    r->values[r->n_config++] = value;
    return 0;
}

checkpoint_reader *checkpoint_open(const char *path)
{
    quiet_hdf5();
    checkpoint_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return error_set("%s: out of memory", path), NULL;
    }
    if (access(path, R_OK) < 0) {
        error_set("%s:", path);
        free(r->path);
        free(r);
        return NULL;
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        error_set("%s: not an HDF5 file, or a truncated one", path);
        free(r->path);
        free(r);
        return NULL;
    }
    if (H5Lexists(r->file, "params", H5P_DEFAULT) <= 0) {
        error_set("%s: not a checkpoint (no /params group)", path);
        checkpoint_close(r);
        return NULL;
    }
    char *format = H5Aexists(r->file, "format") > 0 ? attr_read_string(r->file, "format") : NULL;
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0) {
        if (format) error_set("%s: root attribute 'format' is '%s', expected '%s'", path, format, CHECKPOINT_FORMAT);
        else error_set("%s: no root attribute 'format' (a checkpoint has format = '%s')", path, CHECKPOINT_FORMAT);
        free(format);
        checkpoint_close(r);
        return NULL;
    }
    free(format);
    if (H5Lexists(r->file, "config", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(r->file, "config", H5P_DEFAULT);
        hsize_t idx = 0;
        if (g >= 0) {
            H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_config, r);
            H5Gclose(g);
        }
    }
    return r;
}

void checkpoint_close(checkpoint_reader *r)
{
    if (!r) return;
    if (r->file > 0) H5Fclose(r->file);
    for (int i = 0; i < r->n_config; i++) {
        free(r->keys[i]);
        free(r->values[i]);
    }
    free(r->keys);
    free(r->values);
    free(r->asked);
    free(r->path);
    free(r);
}

/* A growing list of differences, truncated in the message after a dozen. */
typedef struct problems {
    char text[1800];
    size_t len;
    int count;
} problems;

static void problem(problems *p, const char *fmt, ...)
{
    p->count++;
    if (p->count > 12) return;
    va_list ap;
    va_start(ap, fmt);
    if (p->len < sizeof p->text) {
        int n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s", p->count > 1 ? "; " : "");
        if (n > 0) p->len += (size_t)n;
        if (p->len < sizeof p->text) {
            n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
            if (n > 0) p->len += (size_t)n;
        }
    }
    va_end(ap);
    if (p->len >= sizeof p->text) p->len = sizeof p->text - 1;
}

static void shape_text(char *out, size_t len, int ndim, const hsize_t *dims)
{
    size_t n = (size_t)snprintf(out, len, "[");
    for (int d = 0; d < ndim && n < len; d++) n += (size_t)snprintf(out + n, len - n, d ? ",%llu" : "%llu", (unsigned long long)dims[d]);
    if (n < len) snprintf(out + n, len - n, "]");
}

static herr_t count_unexpected(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
    void **a = arg;
    const nn_params *ps = a[0];
    problems *p = a[1];
    if (!nn_param_find(ps, name)) problem(p, "unexpected %s", name);
    return 0;
}

/* NaN or Inf in n values read from dataset `name` is an error naming the first one; with
 * allow_minus_inf, -Inf passes (an additive attention mask's "never attend": a buffer). */
static int check_finite(const char *path, const char *name, const float *x, long n, int allow_minus_inf)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i]) && !(allow_minus_inf && isinf(x[i]) && x[i] < 0))
            return error_set("%s: %s holds %s at element %ld", path, name, isnan(x[i]) ? "NaN" : "Inf", i);
    return 0;
}

/* Check (and with `load`, read) every entry of ps, trainable only if asked, from <group>/<name>
 * into base + offset. All problems are listed before anything is read. */
static int read_store(checkpoint_reader *r, const char *group, nn_params *ps, float *base, int trainable_only)
{
    hid_t g = H5Lexists(r->file, group, H5P_DEFAULT) > 0 ? H5Gopen2(r->file, group, H5P_DEFAULT) : -1;
    if (g < 0) return error_set("%s: no /%s group", r->path, group);
    problems p = {.len = 0, .count = 0};
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *info = &ps->list[i];
        if (trainable_only && (info->flags & (NN_BUFFER | NN_FROZEN))) continue;
        const nn_tensor *t = info->t;
        hsize_t want[NN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) want[d] = (hsize_t)t->shape[d];
        char ws[96], hs[96];
        shape_text(ws, sizeof ws, t->ndim, want);
        if (H5Lexists(g, t->name, H5P_DEFAULT) <= 0) {
            problem(&p, "missing %s %s", t->name, ws);
            continue;
        }
        hid_t set = H5Dopen2(g, t->name, H5P_DEFAULT);
        if (set < 0) {
            problem(&p, "%s is not a dataset", t->name);
            continue;
        }
        hid_t space = H5Dget_space(set), type = H5Dget_type(set);
        hsize_t dims[32];
        int nd = H5Sget_simple_extent_ndims(space);
        if (nd >= 0 && nd <= 32) H5Sget_simple_extent_dims(space, dims, NULL);
        int same = nd == t->ndim;
        for (int d = 0; same && d < nd; d++) same = dims[d] == want[d];
        if (!same) {
            shape_text(hs, sizeof hs, nd < 0 ? 0 : nd > 32 ? 32 : nd, dims);
            problem(&p, "%s has shape %s in the file, %s expected", t->name, hs, ws);
        } else if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 4) {
            problem(&p, "%s is %s%zu-byte in the file, float32 expected", t->name,
                    H5Tget_class(type) == H5T_FLOAT ? "float " : "non-float ", H5Tget_size(type));
        } else {
            char where[600];
            snprintf(where, sizeof where, "/%s/%s", group, t->name);
            if (h5u_check_stored(set, where) < 0) problem(&p, "%s", error_get());
        }
        H5Tclose(type);
        H5Sclose(space);
        H5Dclose(set);
    }
    const void *arg[2] = {ps, &p};
    if (!trainable_only) H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, count_unexpected, (void *)arg);
    if (p.count) {
        H5Gclose(g);
        return error_set("%s: /%s does not match the model (%d difference%s): %s%s", r->path, group, p.count,
                         p.count > 1 ? "s" : "", p.text, p.count > 12 ? "; ..." : "");
    }
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *info = &ps->list[i];
        if (trainable_only && (info->flags & (NN_BUFFER | NN_FROZEN))) continue;
        hid_t set = H5Dopen2(g, info->t->name, H5P_DEFAULT);
        int bad = set < 0 || H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, base + info->offset) < 0;
        if (set >= 0) H5Dclose(set);
        if (bad) {
            H5Gclose(g);
            return error_set("%s: cannot read /%s/%s", r->path, group, info->t->name);
        }
        char where[600];
        snprintf(where, sizeof where, "/%s/%s", group, info->t->name);
        if (check_finite(r->path, where, base + info->offset, info->t->size, (info->flags & NN_BUFFER) != 0) < 0) {
            H5Gclose(g);
            return -1;
        }
    }
    H5Gclose(g);
    return 0;
}

int checkpoint_read_params(checkpoint_reader *r, nn_params *ps)
{
    return read_store(r, "params", ps, ps->data, 0);
}

int checkpoint_read_inference_params(checkpoint_reader *r, nn_params *ps)
{
    return read_store(r, H5Lexists(r->file, "ema", H5P_DEFAULT) > 0 ? "ema" : "params", ps, ps->data, 0);
}

int checkpoint_read_optim(checkpoint_reader *r, nn_adamw *opt)
{
    if (H5Lexists(r->file, "optim", H5P_DEFAULT) <= 0) return error_set("%s: no optimizer state (/optim)", r->path);
    hid_t g = H5Gopen2(r->file, "optim", H5P_DEFAULT);
    long step = 0;
    float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    int bad = g < 0 || attr_read_long(g, "step", &step) < 0;
    if (!bad) {
        attr_read_float(g, "beta1", &b1);
        attr_read_float(g, "beta2", &b2);
        attr_read_float(g, "eps", &eps);
    }
    if (g >= 0) H5Gclose(g);
    if (bad) return error_set("%s: /optim has no step attribute", r->path);
    if (step < 0) return error_set("%s: /optim attribute step is %ld, expected 0 or more", r->path, step);
    if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1))
        return error_set("%s: /optim attributes beta1 = %g, beta2 = %g: each must be in [0, 1)", r->path, b1, b2);
    if (!(eps > 0 && isfinite(eps))) return error_set("%s: /optim attribute eps is %g, expected a positive number", r->path, eps);
    if (read_store(r, "optim/exp_avg", opt->ps, opt->m, 1) < 0 || read_store(r, "optim/exp_avg_sq", opt->ps, opt->v, 1) < 0)
        return -1;
    opt->step = step;
    opt->beta1 = b1;
    opt->beta2 = b2;
    opt->eps = eps;
    return 0;
}

int checkpoint_read_ema(checkpoint_reader *r, nn_ema *ema)
{
    if (H5Lexists(r->file, "ema", H5P_DEFAULT) <= 0) return error_set("%s: no EMA weights (/ema)", r->path);
    if (read_store(r, "ema", ema->ps, ema->shadow, 0) < 0) return -1;
    hid_t g = H5Gopen2(r->file, "ema", H5P_DEFAULT);
    long k = 0;
    int have = g >= 0 && attr_read_long(g, "optimization_step", &k) == 0;
    if (g >= 0) H5Gclose(g);
    if (have && k < 0) return error_set("%s: /ema attribute optimization_step is %ld, expected 0 or more", r->path, k);
    if (have) ema->optimization_step = k;
    return 0;
}

int checkpoint_read_step(checkpoint_reader *r, long *step)
{
    if (attr_read_long(r->file, "step", step) < 0) return error_set("%s: no step attribute", r->path);
    return *step < 0 ? error_set("%s: root attribute step is %ld, expected 0 or more", r->path, *step) : 0;
}

char *checkpoint_root_attr(checkpoint_reader *r, const char *key)
{
    return H5Aexists(r->file, key) > 0 ? attr_read_string(r->file, key) : NULL;
}

int checkpoint_has(checkpoint_reader *r, const char *object)
{
    /* H5Lexists needs every intermediate link to exist: walk the path. */
    char path[512];
    snprintf(path, sizeof path, "%s", object);
    for (char *s = path; (s = strchr(s, '/')); s++) {
        *s = 0;
        int e = H5Lexists(r->file, path, H5P_DEFAULT) > 0;
        *s = '/';
        if (!e) return 0;
    }
    return H5Lexists(r->file, path, H5P_DEFAULT) > 0;
}

const char *checkpoint_config(checkpoint_reader *r, const char *key)
{
    for (int i = 0; i < r->n_config; i++)
        if (!strcmp(r->keys[i], key)) {
            r->asked[i] = 1;
            return r->values[i];
        }
    return NULL;
}

int checkpoint_config_check_required(checkpoint_reader *r)
{
    const char *list = checkpoint_config(r, CHECKPOINT_REQUIRES);
    if (!list) return 0;
    char key[256];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof key)
            return error_set("%s: configuration '%s' = '%s' is not a list of keys", r->path, CHECKPOINT_REQUIRES, list);
        memcpy(key, p, n);
        key[n] = 0;
        int i = 0;
        while (i < r->n_config && strcmp(r->keys[i], key) != 0) i++;
        if (i == r->n_config)
            return error_set("%s: configuration '%s' names '%s', which the configuration does not have", r->path,
                             CHECKPOINT_REQUIRES, key);
        if (!r->asked[i])
            return error_set("%s: the model relies on configuration '%s' = '%s', which this version of ilt does not "
                             "know (a newer one wrote the file)", r->path, key, r->values[i]);
        p += n + (p[n] == ',');
    }
    return 0;
}

int checkpoint_config_int(checkpoint_reader *r, const char *key, int *out)
{
    const char *v = checkpoint_config(r, key);
    char *end;
    if (!v) return error_set("%s: configuration has no '%s'", r->path, key);
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || end == v || errno || x < INT_MIN || x > INT_MAX)
        return error_set("%s: configuration '%s' = '%s' is not an integer", r->path, key, v);
    *out = (int)x;
    return 0;
}

int checkpoint_config_float(checkpoint_reader *r, const char *key, float *out)
{
    const char *v = checkpoint_config(r, key);
    char *end;
    if (!v) return error_set("%s: configuration has no '%s'", r->path, key);
    *out = strtof(v, &end);
    if (*end || end == v) return error_set("%s: configuration '%s' = '%s' is not a number", r->path, key, v);
    return 0;
}

int checkpoint_config_count(checkpoint_reader *r)
{
    return r->n_config;
}

int checkpoint_config_at(checkpoint_reader *r, int i, const char **key, const char **value)
{
    if (i < 0 || i >= r->n_config) return error_set("%s: no configuration entry %d", r->path, i);
    *key = r->keys[i];
    *value = r->values[i];
    return 0;
}

int checkpoint_read_stat(checkpoint_reader *r, const char *feature, const char *name, float **data, int *ndim,
                         int shape[8])
{
    char path[512];
    snprintf(path, sizeof path, "stats/%s/%s", feature, name);
    *data = NULL;
    if (!checkpoint_has(r, path)) return error_set("%s: no /%s", r->path, path);
    hid_t set = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (set < 0) return error_set("%s: /%s is not a dataset", r->path, path);
    char where[520];
    snprintf(where, sizeof where, "/%s", path);
    if (h5u_check_stored(set, where) < 0) {
        H5Dclose(set);
        return error_prefix("%s: ", r->path);
    }
    hid_t space = H5Dget_space(set), type = H5Dget_type(set);
    int nd = H5Sget_simple_extent_ndims(space);
    int is_number = H5Tget_class(type) == H5T_FLOAT || H5Tget_class(type) == H5T_INTEGER;
    H5Tclose(type);
    hsize_t dims[8];
    long n = 1;
    int r_ok = nd >= 0 && nd <= 8 && is_number;
    if (r_ok) {
        H5Sget_simple_extent_dims(space, dims, NULL);
        for (int d = 0; d < nd; d++) {
            r_ok &= dims[d] <= H5U_CHUNK_BYTES_MAX / sizeof(float) / (hsize_t)(n ? n : 1);
            if (!r_ok) break;
            shape[d] = (int)dims[d];
            n *= (long)dims[d];
        }
    }
    if (r_ok) {
        *ndim = nd;
        *data = malloc((size_t)(n ? n : 1) * sizeof(float));
        r_ok = *data && H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) >= 0;
    }
    H5Sclose(space);
    H5Dclose(set);
    if (!r_ok) {
        free(*data);
        *data = NULL;
        return error_set("%s: cannot read /%s (a numeric array of at most 8 dimensions and %zu bytes expected)",
                         r->path, path, H5U_CHUNK_BYTES_MAX);
    }
    if (check_finite(r->path, where, *data, n, 0) < 0) {
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}
