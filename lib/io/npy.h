/* npy.h — in-memory n-dimensional arrays and the NumPy .npy codec (format version 1.0).
 *
 * An npy_array owns its data (malloc'd, C order, little-endian in memory on the machines we
 * run on). The encoder writes version 1.0, C order, little-endian, with the header padded so
 * the data starts at a multiple of 64 bytes (NumPy's ARRAY_ALIGN). The decoder accepts
 * versions 1.0 to 3.0 and rejects, with a message saying which: Fortran order, a dtype not in
 * npy_dtype (or big-endian), a header over NPY_MAX_HEADER bytes, and a data size that does not
 * match the shape.
 *
 *   npy_array a;
 *   if (npy_array_alloc(&a, NPY_F32, 2, (int64_t[]){10, 14}) < 0) return -1;
 *   float *x = a.data;                      // 140 floats, zeroed
 *   ...
 *   npy_array_free(&a);
 */
#ifndef ILT_IO_NPY_H
#define ILT_IO_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NPY_MAX_DIMS 8
#define NPY_MAX_HEADER 10000 /* header bytes beyond this are rejected (corrupt input) */

typedef enum {
    NPY_BOOL, /* '|b1', one byte 0/1 */
    NPY_U8,   /* '|u1' */
    NPY_I8,   /* '|i1' */
    NPY_U16,  /* '<u2' */
    NPY_I16,  /* '<i2' */
    NPY_U32,  /* '<u4' */
    NPY_I32,  /* '<i4' */
    NPY_U64,  /* '<u8' */
    NPY_I64,  /* '<i8' */
    NPY_F32,  /* '<f4' */
    NPY_F64,  /* '<f8' */
    NPY_DTYPE_COUNT
} npy_dtype;

typedef struct {
    npy_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[NPY_MAX_DIMS];
    void *data;                    /* owned; npy_array_count(a) * npy_dtype_size(dtype) bytes */
} npy_array;

/* Bytes per element (1, 2, 4 or 8). */
size_t npy_dtype_size(npy_dtype dtype);
/* NumPy descr string: "<f4", "|u1", ... */
const char *npy_dtype_descr(npy_dtype dtype);
/* Short name for messages: "float32", "uint8", "bool", ... */
const char *npy_dtype_name(npy_dtype dtype);
/* 1 for NPY_F32/NPY_F64. */
int npy_dtype_is_float(npy_dtype dtype);

/* Number of elements (1 for a scalar) and bytes of data. */
int64_t npy_array_count(const npy_array *a);
size_t npy_array_nbytes(const npy_array *a);

/* Allocate a zeroed array of the given shape (shape may be NULL when ndim is 0).
 * On failure *a is left empty (data NULL) and -1 is returned. */
int npy_array_alloc(npy_array *a, npy_dtype dtype, int ndim, const int64_t *shape);
/* Deep copy of src into *dst (dst must not own data). */
int npy_array_copy(npy_array *dst, const npy_array *src);
/* Free the data and leave an empty array (safe to call twice). */
void npy_array_free(npy_array *a);
/* "float32 [10,14]" into buf, for messages. Returns buf. */
char *npy_array_describe(const npy_array *a, char *buf, size_t size);
/* 1 when dtype and shape are equal. */
int npy_array_same_layout(const npy_array *a, const npy_array *b);

/* Read element i (flat index) of any numeric dtype as a double. */
double npy_array_get_double(const npy_array *a, int64_t i);

/* ---- encoding */
/* The complete .npy header (magic .. padding '\n') for dtype/shape into buf. Returns its length
 * (a multiple of 64), or -1 when buf is too small (256 bytes always suffice). */
int npy_encode_header(npy_dtype dtype, int ndim, const int64_t *shape, char *buf, size_t size);
/* Header + data to a FILE*. */
int npy_write(FILE *fp, const npy_array *a);
/* Write a .npy file atomically (temporary name + rename). */
int npy_save(const char *path, const npy_array *a);

/* ---- decoding */
/* Parse a header from the first `size` bytes of a .npy member. On success fills dtype, ndim and
 * shape of *meta (data stays NULL) and the offset where the data starts. If the buffer is too
 * short to hold the whole header, returns -1 with *header_size set to the bytes needed
 * (0 when the prefix itself is invalid). */
int npy_parse_header(const void *bytes, size_t size, npy_array *meta, size_t *header_size);
/* Decode a whole .npy held in memory (copies the data). */
int npy_decode(const void *bytes, size_t size, npy_array *out);
/* Read one .npy from a file path. */
int npy_load(const char *path, npy_array *out);

#endif
