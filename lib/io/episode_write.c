/* episode_write.c — write ACT/ALOHA and robomimic HDF5 episodes frame by frame into a temporary
 * file that is renamed into place on close. */
#include "io/episode_write.h"
#include "io/hdf5_util.h"
#include "util/error.h"
#include "util/tempfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Low-dim datasets are buffered and written this many bytes (at least one frame) at a time. */
#define LOWDIM_CHUNK_BYTES 65536

typedef struct {
    char *name;
    hid_t dset, mem_type;
    npy_dtype dtype;
    int rank;                       /* 1 + frame_ndim */
    hsize_t dims[NPY_MAX_DIMS + 1]; /* dims[0]: frames in the file */
    size_t frame_bytes;
    int64_t chunk_frames;           /* frames per HDF5 chunk = frames buffered */
    unsigned char *buf;             /* chunk_frames frames not yet written (low-dim only) */
    int64_t buffered;
} wdataset;

struct episode_writer {
    char *path, *tmp;
    episode_writer_options o;
    hid_t file, data_group, episode_group;
    int in_episode;
    int64_t n_episodes, total_frames;
    wdataset *ds;
    int n_ds;
};

static int fail(episode_writer *w, const char *fmt, const char *what)
{
    error_set(fmt, what);
    return error_prefix("%s: ", w->path);
}

/* Objects are created without modification times (h5u_group_create, h5u_dcpl_untimed), so that
 * the same episode written twice gives the same bytes. */
/* Create the groups leading to path ("a/b/c" creates a and a/b) where missing. */
static int create_parent_groups(hid_t loc, const char *path)
{
    char prefix[512];
    for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
        size_t n = (size_t)(slash - path);
        if (n == 0 || n >= sizeof prefix) continue;
        memcpy(prefix, path, n);
        prefix[n] = 0;
        if (H5Lexists(loc, prefix, H5P_DEFAULT) > 0) continue;
        hid_t g = h5u_group_create(loc, prefix, 0);
        if (g < 0) return -1;
        H5Gclose(g);
    }
    return 0;
}

episode_writer *episode_writer_create(const char *path, const episode_writer_options *options)
{
    h5u_quiet();
    if (options->layout != EPISODE_LAYOUT_ACT && options->layout != EPISODE_LAYOUT_ROBOMIMIC)
        return error_set("%s: the episode layout must be act or robomimic", path), NULL;
    episode_writer *w = calloc(1, sizeof *w);
    if (!w) return error_set("out of memory"), NULL;
    w->o = *options;
    w->file = w->data_group = w->episode_group = -1;
    w->path = strdup(path);
    w->tmp = malloc(TEMPFILE_MAX);
    if (!w->path || !w->tmp) {
        episode_writer_abort(w);
        return error_set("out of memory"), NULL;
    }
    if (tempfile_begin(path, w->tmp, TEMPFILE_MAX) < 0) {
        free(w->tmp);
        w->tmp = NULL;
        episode_writer_abort(w);
        return NULL;
    }
    errno = 0;
    w->file = h5u_file_create(w->tmp); /* checksummed metadata: a flipped bit is a read error */
    if (w->file < 0) {
        if (errno) error_set("%s: cannot create %s:", path, w->tmp);
        else error_set("%s: cannot create %s", path, w->tmp);
        episode_writer_abort(w); /* forgets the temporary (tempfile_discard) */
        return NULL;
    }
    if (options->layout == EPISODE_LAYOUT_ACT) {
        if (h5u_attr_bool(w->file, "sim", options->sim) < 0) goto fail_attr;
    } else {
        w->data_group = h5u_group_create(w->file, "data", 0);
        if (w->data_group < 0) goto fail_attr;
    }
    return w;
fail_attr:
    fail(w, "cannot write the file structure%s", "");
    episode_writer_abort(w);
    return NULL;
}

int episode_writer_begin(episode_writer *w)
{
    if (w->in_episode) return fail(w, "an episode is already open%s", "");
    if (w->o.layout == EPISODE_LAYOUT_ACT) {
        if (w->n_episodes > 0) return fail(w, "an ACT file holds exactly one episode%s", "");
        w->episode_group = H5Gopen2(w->file, "/", H5P_DEFAULT);
    } else {
        char name[64];
        snprintf(name, sizeof name, "demo_%" PRId64, w->n_episodes);
        w->episode_group = h5u_group_create(w->data_group, name, 0);
    }
    if (w->episode_group < 0) return fail(w, "cannot create the episode group%s", "");
    w->in_episode = 1;
    return 0;
}

int episode_writer_dataset(episode_writer *w, const char *name, npy_dtype dtype, int frame_ndim,
                           const int64_t *frame_shape)
{
    if (!w->in_episode) return fail(w, "dataset %s declared outside an episode", name);
    if (frame_ndim < 0 || frame_ndim > NPY_MAX_DIMS - 1) return fail(w, "dataset %s: bad rank", name);
    for (int i = 0; i < w->n_ds; i++)
        if (strcmp(w->ds[i].name, name) == 0) return fail(w, "dataset %s declared twice", name);
    wdataset *nds = realloc(w->ds, (w->n_ds + 1) * sizeof *nds);
    if (!nds) return fail(w, "out of memory%s", "");
    w->ds = nds;
    wdataset *d = &w->ds[w->n_ds];
    memset(d, 0, sizeof *d);
    d->dset = d->mem_type = -1;
    d->name = strdup(name);
    d->dtype = dtype;
    d->rank = frame_ndim + 1;
    d->frame_bytes = npy_dtype_size(dtype);
    hsize_t maxdims[NPY_MAX_DIMS + 1], chunk[NPY_MAX_DIMS + 1];
    d->dims[0] = 0;
    maxdims[0] = H5S_UNLIMITED;
    for (int i = 0; i < frame_ndim; i++) {
        if (frame_shape[i] <= 0) return fail(w, "dataset %s: dimensions must be positive", name);
        d->dims[i + 1] = maxdims[i + 1] = chunk[i + 1] = (hsize_t)frame_shape[i];
        d->frame_bytes *= (size_t)frame_shape[i];
    }
    int is_image = dtype == NPY_U8 && frame_ndim == 3;
    d->chunk_frames = is_image ? 1 : (int64_t)(LOWDIM_CHUNK_BYTES / d->frame_bytes);
    if (d->chunk_frames < 1) d->chunk_frames = 1;
    chunk[0] = (hsize_t)d->chunk_frames;
    d->mem_type = h5u_type_for(dtype);
    if (!d->name || d->mem_type < 0) return fail(w, "dataset %s: bad dtype or out of memory", name);
    w->n_ds++; /* from here on, abort frees it */
    if (!is_image) {
        d->buf = malloc((size_t)d->chunk_frames * d->frame_bytes);
        if (!d->buf) return fail(w, "dataset %s: out of memory", name);
    }
    hid_t space = H5Screate_simple(d->rank, d->dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    H5Pset_chunk(dcpl, d->rank, chunk);
    if (is_image && w->o.gzip_level > 0) H5Pset_deflate(dcpl, (unsigned)w->o.gzip_level);
    H5Pset_fletcher32(dcpl); /* after compression: a flipped bit in a stored chunk is a read error */
    d->dset = create_parent_groups(w->episode_group, name) < 0
                  ? -1
                  : H5Dcreate2(w->episode_group, name, d->mem_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (d->dset < 0) return fail(w, "cannot create dataset %s", name);
    return w->n_ds - 1;
}

/* Write n frames from src at the end of the dataset. */
static int write_frames(episode_writer *w, wdataset *d, const void *src, int64_t n)
{
    if (n == 0) return 0;
    hsize_t start[NPY_MAX_DIMS + 1] = {0}, count[NPY_MAX_DIMS + 1];
    start[0] = d->dims[0];
    count[0] = (hsize_t)n;
    for (int i = 1; i < d->rank; i++) count[i] = d->dims[i];
    d->dims[0] += (hsize_t)n;
    if (H5Dset_extent(d->dset, d->dims) < 0) return fail(w, "cannot extend dataset %s", d->name);
    hid_t fspace = H5Dget_space(d->dset);
    hid_t mspace = H5Screate_simple(d->rank, count, NULL);
    int rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
                     H5Dwrite(d->dset, d->mem_type, mspace, fspace, H5P_DEFAULT, src) >= 0
                 ? 0
                 : fail(w, "cannot write dataset %s (disk full?)", d->name);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return rc;
}

static int flush_dataset(episode_writer *w, wdataset *d)
{
    int rc = write_frames(w, d, d->buf, d->buffered);
    d->buffered = 0;
    return rc;
}

int episode_writer_append_n(episode_writer *w, int id, const void *frames, int64_t n)
{
    if (!w->in_episode || id < 0 || id >= w->n_ds) return fail(w, "append to an unknown dataset%s", "");
    wdataset *d = &w->ds[id];
    if (!d->buf) return write_frames(w, d, frames, n);
    const unsigned char *src = frames;
    while (n > 0) {
        int64_t take = d->chunk_frames - d->buffered;
        if (take > n) take = n;
        memcpy(d->buf + (size_t)d->buffered * d->frame_bytes, src, (size_t)take * d->frame_bytes);
        d->buffered += take;
        src += (size_t)take * d->frame_bytes;
        n -= take;
        if (d->buffered == d->chunk_frames && flush_dataset(w, d) < 0) return -1;
    }
    return 0;
}

int episode_writer_append(episode_writer *w, int id, const void *frame)
{
    return episode_writer_append_n(w, id, frame, 1);
}

int episode_writer_attr_string(episode_writer *w, const char *name, const char *value)
{
    hid_t obj = w->in_episode ? w->episode_group : w->file;
    if (h5u_attr_string(obj, name, value) < 0) return fail(w, "cannot write attribute %s", name);
    return 0;
}

/* -1 when a dataset fails to close: its last chunks are written then (a full disk), and the file
 * would otherwise keep a hole that reads as zeros under a valid checksum. */
static int close_datasets(episode_writer *w)
{
    int rc = 0;
    for (int i = 0; i < w->n_ds; i++) {
        wdataset *d = &w->ds[i];
        if (d->dset >= 0 && H5Dclose(d->dset) < 0 && rc == 0) rc = -1;
        h5u_type_close(d->mem_type);
        free(d->buf);
        free(d->name);
    }
    free(w->ds);
    w->ds = NULL;
    w->n_ds = 0;
    return rc;
}

int64_t episode_writer_end(episode_writer *w)
{
    if (!w->in_episode) return fail(w, "no episode is open%s", "");
    int64_t frames = -1;
    for (int i = 0; i < w->n_ds; i++) {
        wdataset *d = &w->ds[i];
        if (flush_dataset(w, d) < 0) return -1;
        if (frames < 0) frames = (int64_t)d->dims[0];
        else if ((int64_t)d->dims[0] != frames) {
            error_set("episode %" PRId64 ": dataset %s has %" PRId64 " frames, %s has %" PRId64, w->n_episodes,
                      d->name, (int64_t)d->dims[0], w->ds[0].name, frames);
            return error_prefix("%s: ", w->path);
        }
    }
    if (frames <= 0) return fail(w, "episode without frames%s", "");
    if (w->o.layout == EPISODE_LAYOUT_ROBOMIMIC && h5u_attr_i64(w->episode_group, "num_samples", frames) < 0)
        return fail(w, "cannot write num_samples%s", "");
    errno = 0;
    if (close_datasets(w) < 0) {
        if (errno) error_set("episode %" PRId64 ": cannot write its data:", w->n_episodes);
        else error_set("episode %" PRId64 ": cannot write its data", w->n_episodes);
        return error_prefix("%s: ", w->path);
    }
    H5Gclose(w->episode_group);
    w->episode_group = -1;
    w->in_episode = 0;
    w->n_episodes++;
    w->total_frames += frames;
    return frames;
}

int episode_writer_mask(episode_writer *w, const char *name, const int64_t *demos, size_t count)
{
    if (w->o.layout != EPISODE_LAYOUT_ROBOMIMIC) return fail(w, "mask %s: only robomimic files have masks", name);
    size_t width = 5;
    for (size_t i = 0; i < count; i++) {
        char buf[32];
        size_t n = (size_t)snprintf(buf, sizeof buf, "demo_%" PRId64, demos[i]);
        if (n > width) width = n;
    }
    char *names = calloc(count ? count : 1, width);
    if (!names) return fail(w, "out of memory%s", "");
    for (size_t i = 0; i < count; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "demo_%" PRId64, demos[i]);
        memcpy(names + i * width, buf, strlen(buf)); /* fixed-length, NUL padded, like h5py's 'S' */
    }
    char path[512];
    snprintf(path, sizeof path, "mask/%s", name);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hsize_t dims[1] = {count};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    hid_t dset = create_parent_groups(w->file, path) < 0
                     ? -1
                     : H5Dcreate2(w->file, path, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = dset >= 0 && (count == 0 || H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0)
                 ? 0
                 : fail(w, "cannot write mask %s", name);
    if (dset >= 0) H5Dclose(dset);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Tclose(type);
    free(names);
    return rc;
}

int episode_writer_close(episode_writer *w)
{
    if (w->in_episode) {
        fail(w, "closed with an episode still open%s", "");
        episode_writer_abort(w);
        return -1;
    }
    if (w->n_episodes == 0) {
        fail(w, "no episode was written%s", "");
        episode_writer_abort(w);
        return -1;
    }
    if (w->o.layout == EPISODE_LAYOUT_ROBOMIMIC &&
        (h5u_attr_i64(w->data_group, "total", w->total_frames) < 0 ||
         h5u_attr_string(w->data_group, "env_args", w->o.env_args ? w->o.env_args : "{}") < 0))
    {
        fail(w, "cannot write the data attributes%s", "");
        episode_writer_abort(w);
        return -1;
    }
    if (w->data_group >= 0) H5Gclose(w->data_group);
    w->data_group = -1;
    int closed = h5u_file_finish(w->file, w->tmp);
    w->file = -1;
    if (closed < 0) {
        if (errno) error_set("%s: cannot finish writing %s:", w->path, w->tmp);
        else error_set("%s: cannot finish writing %s", w->path, w->tmp);
        episode_writer_abort(w);
        return -1;
    }
    int committed = tempfile_commit(w->tmp, w->path); /* removes the temporary on failure */
    free(w->tmp);
    w->tmp = NULL;
    episode_writer_abort(w); /* frees what is left */
    return committed;
}

void episode_writer_abort(episode_writer *w)
{
    if (!w) return;
    close_datasets(w);
    if (w->episode_group >= 0) H5Gclose(w->episode_group);
    if (w->data_group >= 0) H5Gclose(w->data_group);
    if (w->file >= 0) h5u_file_finish(w->file, w->tmp);
    if (w->tmp) tempfile_discard(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w);
}
