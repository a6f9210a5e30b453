/* hdf5_util.h — small shared helpers for the HDF5 episode reader and writer and the checkpoints
 * (internal to lib/io). */
#ifndef ILT_IO_HDF5_UTIL_H
#define ILT_IO_HDF5_UTIL_H

#include "io/npy.h"

#include <hdf5.h>

/* Silence HDF5's own error printing (we report errors ourselves). Idempotent. */
void h5u_quiet(void);
/* The memory type for an npy dtype (bool: h5py's enum FALSE/TRUE over int8). Close with
 * h5u_type_close. Returns a negative id on error. */
hid_t h5u_type_for(npy_dtype dtype);
void h5u_type_close(hid_t type);
/* The npy dtype matching a dataset's stored type (integers, floats, h5py bools); -1 if none. */
int h5u_dtype_of(hid_t type, npy_dtype *out);
/* String attribute of fixed length, ASCII (UTF-8 when it is not), which h5py reads as bytes:
 * its text is kept in the object header, under the file's metadata checksums, not in the
 * unchecksummed global heap where variable-length strings go. */
int h5u_attr_string(hid_t object, const char *name, const char *value);
/* Scalar int64 attribute. */
int h5u_attr_i64(hid_t object, const char *name, int64_t value);
/* Scalar bool attribute (h5py's enum), as h5py writes Python bools. */
int h5u_attr_bool(hid_t object, const char *name, int value);

/* Objects without modification times (HDF5 records them by default), so that the same content
 * written twice gives the same bytes: a group (with intermediate groups created when asked), and
 * a dataset creation property list to start from (close with H5Pclose). */
hid_t h5u_group_create(hid_t loc, const char *name, int intermediate);
hid_t h5u_dcpl_untimed(void);

/* Create (truncate) a file whose every metadata structure carries a checksum (the HDF5 1.10
 * format: superblock, object headers, chunk indexes), so that a flipped bit in a name, a shape,
 * a type or an address is an error on reading rather than a different file (such files need
 * HDF5 1.10 or later to read), and whose root group records no modification time. */
hid_t h5u_file_create(const char *path);
/* Flush and close a file written at path; 0, or -1 with errno from the failed write (ENOSPC on a
 * full disk). After a failed flush the file is truncated to nothing first, so that the close does
 * not fail too (libhdf5 keeps a file it could not close open to the end). The caller removes it. */
int h5u_file_finish(hid_t file, const char *path);
/* Chunk a dataset creation property list along its first dimension (chunks of at most 16 MiB)
 * and add the Fletcher-32 checksum of every chunk, so that a flipped bit in the data is an
 * error on reading. rank >= 1 and no zero dimension; returns dcpl, or -1. */
hid_t h5u_dcpl_checksummed(hid_t dcpl, int rank, const hsize_t *dims, size_t elem_size);

/* The most bytes one HDF5 chunk, or one frame of an episode dataset, may declare: a corrupt or
 * hostile file declaring more is refused before anything of that size is allocated. */
#define H5U_CHUNK_BYTES_MAX ((size_t)256 << 20)

/* Check that dataset dset (`name` in messages) is backed by stored data: a contiguous or
 * compact dataset stores exactly its declared bytes, a chunked one has every chunk of its
 * extent written (HDF5 would otherwise return fill values for the rest), nothing stored is
 * larger than the file, and no chunk is over H5U_CHUNK_BYTES_MAX. Virtual datasets are
 * refused. 0, or -1 with error_set naming the dataset, the declared and the stored size (the
 * caller prefixes the file). */
int h5u_check_stored(hid_t dset, const char *name);

#endif
