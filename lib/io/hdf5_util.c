/* hdf5_util.c — HDF5 type and attribute helpers shared by the episode reader and writer and the
 * checkpoints, and the check that a dataset's declared extent is backed by stored data. */
#include "io/hdf5_util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* No cleanup of HDF5 at exit: after a file whose close failed (a full disk), libhdf5 1.10's atexit
 * handler crashes closing it again. Every file is closed explicitly, so the handler has nothing
 * else to do; it must be turned off before the first HDF5 call, hence a constructor. */
__attribute__((constructor)) static void h5u_no_atexit(void) { H5dont_atexit(); }

static hid_t bool_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    if (t < 0) return t;
    int8_t v = 0;
    H5Tenum_insert(t, "FALSE", &v);
    v = 1;
    H5Tenum_insert(t, "TRUE", &v);
    return t;
}

hid_t h5u_type_for(npy_dtype dtype)
{
    switch (dtype) {
    case NPY_BOOL: return bool_type();
    case NPY_U8: return H5T_NATIVE_UINT8;
    case NPY_I8: return H5T_NATIVE_INT8;
    case NPY_U16: return H5T_NATIVE_UINT16;
    case NPY_I16: return H5T_NATIVE_INT16;
    case NPY_U32: return H5T_NATIVE_UINT32;
    case NPY_I32: return H5T_NATIVE_INT32;
    case NPY_U64: return H5T_NATIVE_UINT64;
    case NPY_I64: return H5T_NATIVE_INT64;
    case NPY_F32: return H5T_NATIVE_FLOAT;
    case NPY_F64: return H5T_NATIVE_DOUBLE;
    default: return -1;
    }
}

void h5u_type_close(hid_t type)
{
    /* native types are predefined and must not be closed; only our enum is a transient type */
    if (type >= 0 && H5Tget_class(type) == H5T_ENUM) H5Tclose(type);
}

int h5u_dtype_of(hid_t type, npy_dtype *out)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_FLOAT) {
        if (size == 4) { *out = NPY_F32; return 0; }
        if (size == 8) { *out = NPY_F64; return 0; }
        return -1;
    }
    if (cls == H5T_ENUM && size == 1) { /* h5py bool */
        *out = NPY_BOOL;
        return 0;
    }
    if (cls == H5T_INTEGER) {
        int is_signed = H5Tget_sign(type) == H5T_SGN_2;
        switch (size) {
        case 1: *out = is_signed ? NPY_I8 : NPY_U8; return 0;
        case 2: *out = is_signed ? NPY_I16 : NPY_U16; return 0;
        case 4: *out = is_signed ? NPY_I32 : NPY_U32; return 0;
        case 8: *out = is_signed ? NPY_I64 : NPY_U64; return 0;
        }
    }
    return -1;
}

static int write_attr(hid_t object, const char *name, hid_t type, const void *value)
{
    if (H5Aexists(object, name) > 0) H5Adelete(object, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = attr >= 0 && H5Awrite(attr, type, value) >= 0 ? 0 : -1;
    if (attr >= 0 && H5Aclose(attr) < 0) rc = -1;
    H5Sclose(space);
    return rc;
}

int h5u_attr_string(hid_t object, const char *name, const char *value)
{
    /* fixed length: the text lives in the (checksummed) object header, not in the global heap */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) ? strlen(value) : 1);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    int ascii = 1;
    for (const char *p = value; *p && ascii; p++) ascii = (unsigned char)*p < 0x80;
    H5Tset_cset(type, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8); /* ASCII: what readers expect most */
    int rc = write_attr(object, name, type, value);
    H5Tclose(type);
    return rc;
}

int h5u_attr_i64(hid_t object, const char *name, int64_t value)
{
    return write_attr(object, name, H5T_NATIVE_INT64, &value);
}

int h5u_attr_bool(hid_t object, const char *name, int value)
{
    hid_t type = bool_type();
    int8_t v = value != 0;
    int rc = write_attr(object, name, type, &v);
    H5Tclose(type);
    return rc;
}

/* A group's (or the root's) creation properties: no modification times, and links and
 * attributes kept in the object header however many there are (HDF5 moves them to a fractal heap
 * past 8, whose blocks carry no checksum). */
static herr_t untimed_compact(hid_t gcpl)
{
    if (H5Pset_obj_track_times(gcpl, 0) < 0 || H5Pset_link_phase_change(gcpl, 65535, 65535) < 0 ||
        H5Pset_attr_phase_change(gcpl, 65535, 65535) < 0)
        return -1;
    return 0;
}

hid_t h5u_group_create(hid_t loc, const char *name, int intermediate)
{
    /* the missing intermediate groups are created here, each untimed too (HDF5's own
     * intermediate creation would give them the default, timed, properties) */
    char path[1024];
    snprintf(path, sizeof path, "%s", name);
    for (char *slash = path + 1; intermediate && (slash = strchr(slash, '/')); slash++) {
        *slash = 0;
        int exists = H5Lexists(loc, path, H5P_DEFAULT);
        if (exists == 0) {
            hid_t g = h5u_group_create(loc, path, 0);
            if (g < 0) return -1;
            H5Gclose(g);
        }
        *slash = '/';
        if (exists < 0) return -1;
    }
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    hid_t g = gcpl >= 0 && untimed_compact(gcpl) >= 0 ? H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
    H5Pclose(gcpl);
    return g;
}

hid_t h5u_dcpl_untimed(void)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    return dcpl;
}

hid_t h5u_file_create(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE), file = -1;
    if (fapl >= 0 && fcpl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) >= 0 &&
        untimed_compact(fcpl) >= 0)
        file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    return file;
}

int h5u_file_finish(hid_t file, const char *path)
{
    errno = 0;
    int ok = H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0;
    int saved = errno;
    if (!ok) (void)!truncate(path, 0); /* frees the space, so that closing can write what it must */
    if (H5Fclose(file) < 0 && ok) {
        saved = errno;
        ok = 0;
    }
    errno = ok ? 0 : saved;
    return ok ? 0 : -1;
}

hid_t h5u_dcpl_checksummed(hid_t dcpl, int rank, const hsize_t *dims, size_t elem_size)
{
    hsize_t chunk[H5S_MAX_RANK];
    size_t row = elem_size;
    for (int i = 1; i < rank; i++) {
        chunk[i] = dims[i];
        row *= dims[i];
    }
    chunk[0] = row < ((size_t)16 << 20) ? ((size_t)16 << 20) / row : 1;
    if (chunk[0] > dims[0]) chunk[0] = dims[0];
    if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_fletcher32(dcpl) < 0) return -1;
    return dcpl;
}

/* a * b, or UINT64_MAX when it overflows */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static void dims_text(char *buf, size_t size, int rank, const hsize_t *dims)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

int h5u_check_stored(hid_t dset, const char *name)
{
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset), dcpl = H5Dget_create_plist(dset);
    hid_t file_id = H5Iget_file_id(dset);
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    hsize_t file_bytes = 0;
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    size_t elem = type < 0 ? 0 : H5Tget_size(type);
    H5D_layout_t layout = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : 0;
    int filtered = layout == H5D_CHUNKED && H5Pget_nfilters(dcpl) > 0;
    int ok = rank >= 0 && rank <= H5S_MAX_RANK && elem > 0 && layout != H5D_LAYOUT_ERROR && chunk_rank >= 0 &&
             file_id >= 0 && H5Fget_filesize(file_id, &file_bytes) >= 0;
    if (ok && rank > 0) ok = H5Sget_simple_extent_dims(space, dims, NULL) == rank;
    hsize_t stored = ok ? H5Dget_storage_size(dset) : 0;
    hsize_t n_chunks = 0;
    /* chunks within the whole extent (HDF5 1.10 takes the dataset's space, not H5S_ALL) */
    if (ok && layout == H5D_CHUNKED) ok = chunk_rank == rank && H5Dget_num_chunks(dset, space, &n_chunks) >= 0;
    if (file_id >= 0) H5Fclose(file_id);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (!ok) return error_set("cannot read the layout of dataset %s (corrupt file?)", name);

    char shape[160];
    dims_text(shape, sizeof shape, rank, dims);
    uint64_t declared = elem;
    for (int i = 0; i < rank; i++) declared = mul_sat(declared, dims[i]);
    if (layout == H5D_VIRTUAL) return error_set("dataset %s is a virtual dataset (not read)", name);
    if (stored > file_bytes)
        return error_set("dataset %s claims %llu stored bytes, more than the file's %llu (corrupt file)",
                         name, (unsigned long long)stored, (unsigned long long)file_bytes);
    if (layout != H5D_CHUNKED) {
        if (stored != declared)
            return error_set("dataset %s declares %s (%llu bytes) but stores %llu bytes", name, shape,
                             (unsigned long long)declared, (unsigned long long)stored);
        return 0;
    }
    uint64_t chunk_bytes = elem, expected = 1;
    for (int i = 0; i < rank; i++) {
        if (chunk[i] == 0) return error_set("dataset %s has a zero chunk dimension (corrupt file)", name);
        chunk_bytes = mul_sat(chunk_bytes, chunk[i]);
        expected = mul_sat(expected, dims[i] / chunk[i] + (dims[i] % chunk[i] != 0));
    }
    if (chunk_bytes > H5U_CHUNK_BYTES_MAX)
        return error_set("dataset %s has chunks of %llu bytes (at most %zu accepted)", name,
                         (unsigned long long)chunk_bytes, H5U_CHUNK_BYTES_MAX);
    if (n_chunks != expected)
        return error_set("dataset %s declares %s (%llu bytes in %llu chunks) but stores %llu chunk%s (%llu bytes)",
                         name, shape, (unsigned long long)declared, (unsigned long long)expected,
                         (unsigned long long)n_chunks, n_chunks == 1 ? "" : "s", (unsigned long long)stored);
    if (!filtered && stored != mul_sat(n_chunks, chunk_bytes))
        return error_set("dataset %s stores %llu bytes in %llu unfiltered chunks of %llu bytes (corrupt file)", name,
                         (unsigned long long)stored, (unsigned long long)n_chunks, (unsigned long long)chunk_bytes);
    return 0;
}
