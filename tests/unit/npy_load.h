/* npy_load.h — test helper: read the small float32 .npy reference files that
 * tests/torch_ref/make_refs.py writes, and reproduce its hash-filled parameter values.
 * Independent of lib/io on purpose (the tests of nn must not wait for io). */
#ifndef ILT_TESTS_NPY_LOAD_H
#define ILT_TESTS_NPY_LOAD_H

#define REF_MAX_DIMS 8

typedef struct ref_array {
    float *data;
    long size;
    int ndim;
    int shape[REF_MAX_DIMS];
} ref_array;

/* Read a little-endian float32 ('<f4') or float64 ('<f8', converted), C-order .npy file.
 * Returns 0, or -1 with a message on stderr (missing file, other dtype, bad header). */
int ref_load(const char *path, ref_array *a);
/* ref_load of "<dir>/<kind>.<name>.npy"; quiet = 1: a missing file returns -1 without a message. */
int ref_load_entry(const char *dir, const char *kind, const char *name, ref_array *a, int quiet);
void ref_free(ref_array *a);

/* make_refs.py hash_uniform: n floats in [-1, 1) from the name and the index (bit-identical). */
void ref_hash_uniform(const char *name, float *out, long n);
/* make_refs.py hash_fill rule for one tensor named `name` with shape (ndim, shape). */
void ref_hash_fill(const char *name, float *out, int ndim, const int *shape);

#endif
