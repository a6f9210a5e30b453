/* npy.c — n-dimensional arrays and the .npy codec (NumPy format 1.0 written, 1.0-3.0 read). */
#include "io/npy.h"
#include "util/error.h"
#include "util/tempfile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *descr, *name;
    size_t size;
    int is_float;
} dtype_table[NPY_DTYPE_COUNT] = {
    [NPY_BOOL] = {"|b1", "bool", 1, 0},  [NPY_U8] = {"|u1", "uint8", 1, 0},
    [NPY_I8] = {"|i1", "int8", 1, 0},    [NPY_U16] = {"<u2", "uint16", 2, 0},
    [NPY_I16] = {"<i2", "int16", 2, 0},  [NPY_U32] = {"<u4", "uint32", 4, 0},
    [NPY_I32] = {"<i4", "int32", 4, 0},  [NPY_U64] = {"<u8", "uint64", 8, 0},
    [NPY_I64] = {"<i8", "int64", 8, 0},  [NPY_F32] = {"<f4", "float32", 4, 1},
    [NPY_F64] = {"<f8", "float64", 8, 1},
};

size_t npy_dtype_size(npy_dtype d) { return (unsigned)d < NPY_DTYPE_COUNT ? dtype_table[d].size : 0; }
const char *npy_dtype_descr(npy_dtype d) { return (unsigned)d < NPY_DTYPE_COUNT ? dtype_table[d].descr : "?"; }
const char *npy_dtype_name(npy_dtype d) { return (unsigned)d < NPY_DTYPE_COUNT ? dtype_table[d].name : "?"; }
int npy_dtype_is_float(npy_dtype d) { return (unsigned)d < NPY_DTYPE_COUNT && dtype_table[d].is_float; }

int64_t npy_array_count(const npy_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

size_t npy_array_nbytes(const npy_array *a) { return (size_t)npy_array_count(a) * npy_dtype_size(a->dtype); }

int npy_array_alloc(npy_array *a, npy_dtype dtype, int ndim, const int64_t *shape)
{
    memset(a, 0, sizeof *a);
    if ((unsigned)dtype >= NPY_DTYPE_COUNT) return error_set("unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return error_set("%d dimensions (at most %d supported)", ndim, NPY_MAX_DIMS);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return error_set("negative dimension %" PRId64, shape[i]);
        if (shape[i] > 0 && count > INT64_MAX / 16 / shape[i]) return error_set("array too large");
        count *= shape[i];
    }
    size_t bytes = (size_t)count * npy_dtype_size(dtype);
    void *data = calloc(bytes ? bytes : 1, 1);
    if (!data) return error_set("out of memory for %zu bytes", bytes);
    a->dtype = dtype;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    a->data = data;
    return 0;
}

int npy_array_copy(npy_array *dst, const npy_array *src)
{
    if (npy_array_alloc(dst, src->dtype, src->ndim, src->shape) < 0) return -1;
    memcpy(dst->data, src->data, npy_array_nbytes(src));
    return 0;
}

void npy_array_free(npy_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

char *npy_array_describe(const npy_array *a, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s [", npy_dtype_name(a->dtype));
    for (int i = 0; i < a->ndim && n >= 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - n, "%s%" PRId64, i ? "," : "", a->shape[i]);
    if (n >= 0 && (size_t)n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

int npy_array_same_layout(const npy_array *a, const npy_array *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

double npy_array_get_double(const npy_array *a, int64_t i)
{
    const void *p = a->data;
    switch (a->dtype) {
    case NPY_BOOL: return ((const uint8_t *)p)[i] != 0;
    case NPY_U8: return ((const uint8_t *)p)[i];
    case NPY_I8: return ((const int8_t *)p)[i];
    case NPY_U16: return ((const uint16_t *)p)[i];
    case NPY_I16: return ((const int16_t *)p)[i];
    case NPY_U32: return ((const uint32_t *)p)[i];
    case NPY_I32: return ((const int32_t *)p)[i];
    case NPY_U64: return (double)((const uint64_t *)p)[i];
    case NPY_I64: return (double)((const int64_t *)p)[i];
    case NPY_F32: return ((const float *)p)[i];
    case NPY_F64: return ((const double *)p)[i];
    default: return 0;
    }
}

/* ---------------------------------------------------------------- encoding */

int npy_encode_header(npy_dtype dtype, int ndim, const int64_t *shape, char *buf, size_t size)
{
    char dict[200], dims[160] = "";
    size_t used = 0;
    for (int i = 0; i < ndim; i++) {
        int n = snprintf(dims + used, sizeof dims - used, "%" PRId64 "%s", shape[i],
                         ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        if (n < 0 || (size_t)n >= sizeof dims - used) return -1;
        used += n;
    }
    int dict_len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                            npy_dtype_descr(dtype), dims);
    if (dict_len < 0 || (size_t)dict_len >= sizeof dict) return -1;
    size_t total = 10 + (size_t)dict_len + 1; /* magic(6) version(2) len(2) dict '\n' */
    total = (total + 63) / 64 * 64;
    if (total > size || total - 10 > 65535) return -1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hlen = (uint16_t)(total - 10);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, dict_len);
    memset(buf + 10 + dict_len, ' ', total - 10 - dict_len - 1);
    buf[total - 1] = '\n';
    return (int)total;
}

int npy_write(FILE *fp, const npy_array *a)
{
    char header[256];
    int hlen = npy_encode_header(a->dtype, a->ndim, a->shape, header, sizeof header);
    if (hlen < 0) return error_set("cannot encode a .npy header for %d dimensions", a->ndim);
    size_t n = npy_array_nbytes(a);
    if (fwrite(header, 1, hlen, fp) != (size_t)hlen || fwrite(a->data, 1, n, fp) != n)
        return error_set("write error:");
    return 0;
}

int npy_save(const char *path, const npy_array *a)
{
    char tmp[TEMPFILE_MAX];
    if (tempfile_begin(path, tmp, sizeof tmp) < 0) return -1;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        error_set("%s: cannot create:", tmp);
        tempfile_discard(tmp);
        return -1;
    }
    int bad = npy_write(fp, a) < 0;
    if (fclose(fp) != 0 && !bad) bad = error_set("%s: write error:", path) < 0;
    if (bad) {
        tempfile_discard(tmp);
        return error_prefix("%s: ", path);
    }
    return tempfile_commit(tmp, path);
}

/* ---------------------------------------------------------------- decoding */

/* A tiny parser for the Python dict literal of the header: {'key': value, ...} where value is
 * a string, True/False, or a tuple of integers. */
typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int expect(cursor *c, char ch)
{
    skip_space(c);
    if (c->p >= c->end || *c->p != ch) return -1;
    c->p++;
    return 0;
}

static int parse_string(cursor *c, char *out, size_t size)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= size) return -1;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[n] = 0;
    return 0;
}

static int parse_shape(cursor *c, npy_array *meta)
{
    if (expect(c, '(') < 0) return error_set("bad .npy header: shape is not a tuple");
    meta->ndim = 0;
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            return 0;
        }
        if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return error_set("bad .npy header: bad shape");
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > INT64_MAX / 10 - 10) return error_set("bad .npy header: dimension too large");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
        if (meta->ndim >= NPY_MAX_DIMS) return error_set("unsupported .npy: more than %d dimensions", NPY_MAX_DIMS);
        meta->shape[meta->ndim++] = v;
        skip_space(c);
        if (c->p < c->end && *c->p == ',') c->p++;
    }
}

static int dtype_from_descr(const char *descr, npy_dtype *out)
{
    /* single-byte types may be written with '|', '<', '>' or '='; others must be little-endian */
    if (strcmp(descr, "?") == 0) { *out = NPY_BOOL; return 0; }
    if (strlen(descr) < 2 || strlen(descr) > 4) return -1;
    char order = descr[0];
    const char *kind = descr + 1;
    for (int d = 0; d < NPY_DTYPE_COUNT; d++) {
        if (strcmp(dtype_table[d].descr + 1, kind) != 0) continue;
        if (dtype_table[d].size == 1 ? (order == '|' || order == '<' || order == '>' || order == '=')
                                     : (order == '<' || order == '='))
        {
            *out = (npy_dtype)d;
            return 0;
        }
        return -1;
    }
    return -1;
}

int npy_parse_header(const void *bytes, size_t size, npy_array *meta, size_t *header_size)
{
    const unsigned char *b = bytes;
    *header_size = 0;
    memset(meta, 0, sizeof *meta);
    if (size < 10) {
        if (size >= 6 && memcmp(b, "\x93NUMPY", 6) != 0) return error_set("not a .npy (bad magic)");
        *header_size = 10;
        return error_set("truncated .npy header");
    }
    if (memcmp(b, "\x93NUMPY", 6) != 0) return error_set("not a .npy (bad magic)");
    int major = b[6];
    size_t prefix, hlen;
    if (major == 1) {
        prefix = 10;
        hlen = b[8] | (size_t)b[9] << 8;
    } else if (major == 2 || major == 3) {
        if (size < 12) {
            *header_size = 12;
            return error_set("truncated .npy header");
        }
        prefix = 12;
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    } else {
        return error_set("unsupported .npy version %d.%d", major, b[7]);
    }
    if (hlen > NPY_MAX_HEADER) return error_set("corrupt .npy header: %zu bytes (limit %d)", hlen, NPY_MAX_HEADER);
    if (size < prefix + hlen) {
        *header_size = prefix + hlen;
        return error_set("truncated .npy header");
    }
    cursor c = {(const char *)b + prefix, (const char *)b + prefix + hlen};
    int have_descr = 0, have_order = 0, have_shape = 0;
    char descr[64] = "";
    if (expect(&c, '{') < 0) return error_set("corrupt .npy header: not a dictionary");
    for (;;) {
        skip_space(&c);
        if (c.p < c.end && *c.p == '}') break;
        char key[32];
        if (parse_string(&c, key, sizeof key) < 0 || expect(&c, ':') < 0)
            return error_set("corrupt .npy header: bad key");
        if (strcmp(key, "descr") == 0) {
            skip_space(&c);
            if (c.p < c.end && *c.p == '[') return error_set("unsupported .npy dtype: structured array");
            if (parse_string(&c, descr, sizeof descr) < 0) return error_set("corrupt .npy header: bad descr");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            skip_space(&c);
            if (c.end - c.p >= 4 && memcmp(c.p, "True", 4) == 0)
                return error_set("unsupported .npy: Fortran order");
            if (c.end - c.p >= 5 && memcmp(c.p, "False", 5) == 0) c.p += 5;
            else return error_set("corrupt .npy header: bad fortran_order");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (parse_shape(&c, meta) < 0) return -1;
            have_shape = 1;
        } else {
            return error_set("corrupt .npy header: unknown key '%s'", key);
        }
        skip_space(&c);
        if (c.p < c.end && *c.p == ',') c.p++;
    }
    if (!have_descr || !have_order || !have_shape) return error_set("corrupt .npy header: missing descr, fortran_order or shape");
    npy_dtype d;
    if (dtype_from_descr(descr, &d) < 0) return error_set("unsupported .npy dtype '%s'", descr);
    /* the element count must stay far from overflowing (npy_array_count, byte sizes) */
    int64_t count = 1;
    for (int i = 0; i < meta->ndim; i++) {
        if (meta->shape[i] > 0 && count > INT64_MAX / 16 / meta->shape[i])
            return error_set("corrupt .npy header: the shape's element count overflows");
        count *= meta->shape[i];
    }
    meta->dtype = d;
    *header_size = prefix + hlen;
    return 0;
}

int npy_decode(const void *bytes, size_t size, npy_array *out)
{
    npy_array meta;
    size_t hsize;
    if (npy_parse_header(bytes, size, &meta, &hsize) < 0) return -1;
    size_t need = npy_array_nbytes(&meta);
    if (size - hsize != need)
        return error_set(".npy data is %zu bytes, its shape needs %zu", size - hsize, need);
    if (npy_array_alloc(out, meta.dtype, meta.ndim, meta.shape) < 0) return -1;
    memcpy(out->data, (const char *)bytes + hsize, need);
    return 0;
}

int npy_load(const char *path, npy_array *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set("%s: cannot open:", path);
    char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return error_set("%s: out of memory", path);
            }
            buf = nb;
        }
        size_t n = fread(buf + size, 1, cap - size, fp);
        size += n;
        if (n == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    int rc = bad ? error_set("%s: read error", path) : npy_decode(buf, size, out);
    free(buf);
    if (rc < 0 && !bad) error_prefix("%s: ", path);
    return rc;
}
