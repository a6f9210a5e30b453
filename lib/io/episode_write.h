/* episode_write.h — record episodes as HDF5 files in the ACT/ALOHA or the robomimic layout,
 * frame by frame, atomically.
 *
 * ACT/ALOHA: one file per episode.
 *   /observations/qpos (T,D) /observations/qvel (T,D) /observations/images/<cam> (T,H,W,3) uint8
 *   /action (T,A), root attribute `sim` (bool).
 * robomimic: one file, demo after demo.
 *   /data/demo_<i>/{actions,rewards,dones,states,obs/<key>}, attribute data.total (sum of
 *   num_samples), data.env_args (JSON string), data/demo_<i>.num_samples; optional mask/<name>.
 *
 * Datasets are extendible along the time axis; images (uint8 of rank 3 per frame) are chunked one
 * frame per chunk, as the reference tools write them, optionally gzip-compressed; other datasets
 * are buffered and written in chunks of many frames. Every chunk has a Fletcher-32 checksum and
 * the file is in the HDF5 1.10 format, whose metadata carry checksums (h5py reads it as any
 * other; HDF5 1.10 or later is needed), so that a flipped bit is a read error, not different
 * data. The file is written under a temporary name
 * in the same directory ("<path>.tmp.<pid>") and renamed to `path` by episode_writer_close();
 * episode_writer_abort() (or any failing call followed by abort) removes it, so a crash or an
 * error never leaves a half-written episode under the final name.
 *
 *   episode_writer_options o = { .layout = EPISODE_LAYOUT_ACT, .sim = 1 };
 *   episode_writer *w = episode_writer_create("episodes/episode_3.hdf5", &o);
 *   episode_writer_begin(w);
 *   int qpos = episode_writer_dataset(w, "observations/qpos", NPY_F32, 1, (int64_t[]){14});
 *   int top  = episode_writer_dataset(w, "observations/images/top", NPY_U8, 3,
 *                                     (int64_t[]){480, 640, 3});
 *   int act  = episode_writer_dataset(w, "action", NPY_F32, 1, (int64_t[]){14});
 *   for (t = 0; t < T; t++) {
 *       episode_writer_append(w, qpos, qpos_t);   // one frame: 14 floats
 *       episode_writer_append(w, top, image_t);   // one frame: 480*640*3 bytes
 *       episode_writer_append(w, act, action_t);
 *   }
 *   if (episode_writer_end(w) < 0 || episode_writer_close(w) < 0) { ...error_get()... }
 *   // on any failure before close: episode_writer_abort(w);
 *
 * For robomimic, call begin / dataset... / append... / end once per demo (demo_0, demo_1, ...;
 * every demo declares its datasets again), then close. Dataset names are relative to the
 * episode's group: "obs/agentview_image", "actions", "rewards" (frame shape: ndim 0), "dones",
 * "states". Intermediate groups are created.
 *
 * Every function returning int gives -1 with error_set() naming the file and dataset; after a
 * failure the only valid call is episode_writer_abort(). */
#ifndef ILT_IO_EPISODE_WRITE_H
#define ILT_IO_EPISODE_WRITE_H

#include "io/episode.h"
#include "io/npy.h"

typedef struct {
    episode_layout layout;   /* EPISODE_LAYOUT_ACT or EPISODE_LAYOUT_ROBOMIMIC */
    int sim;                 /* ACT: value of the root attribute `sim` */
    const char *env_args;    /* robomimic: JSON for data.env_args (NULL: "{}") */
    int gzip_level;          /* 0: images uncompressed; 1..9: gzip on image chunks */
} episode_writer_options;

typedef struct episode_writer episode_writer;

/* Create the temporary file for `path`. NULL on error. */
episode_writer *episode_writer_create(const char *path, const episode_writer_options *options);
/* Start an episode (ACT: exactly once; robomimic: the next demo_<i>, i counting from 0). */
int episode_writer_begin(episode_writer *w);
/* Declare a dataset of the current episode with the shape of one frame (frame_ndim 0 for one
 * value per frame, e.g. rewards). Returns its id (>= 0) for episode_writer_append. */
int episode_writer_dataset(episode_writer *w, const char *name, npy_dtype dtype, int frame_ndim,
                           const int64_t *frame_shape);
/* Append one frame (prod(frame_shape) elements of the declared dtype) to dataset `id`. */
int episode_writer_append(episode_writer *w, int id, const void *frame);
/* Append n frames at once (contiguous). */
int episode_writer_append_n(episode_writer *w, int id, const void *frames, int64_t n);
/* A string attribute on the current episode's group (or the root when no episode is open). */
int episode_writer_attr_string(episode_writer *w, const char *name, const char *value);
/* Finish the episode: every dataset must have the same number of frames (>= 1); robomimic
 * writes num_samples. Returns the number of frames, or -1. */
int64_t episode_writer_end(episode_writer *w);
/* robomimic: write mask/<name> as the list of demo names "demo_<i>" for the given indices. */
int episode_writer_mask(episode_writer *w, const char *name, const int64_t *demos, size_t count);
/* Write the file attributes (data.total, data.env_args), close and rename to the final path.
 * Frees w. An episode still open is an error (the file is removed). */
int episode_writer_close(episode_writer *w);
/* Close and remove the temporary file; frees w. Safe with NULL. */
void episode_writer_abort(episode_writer *w);

#endif
