/* episode.h — read HDF5 episodes in the ACT/ALOHA and robomimic layouts as per-frame samples
 * with LeRobot feature names (the work behind h5slice).
 *
 * ACT/ALOHA: one episode per file: /observations/qpos -> observation.state,
 *   /observations/qvel -> observation.velocity, /observations/images/<cam> ->
 *   observation.images.<cam>, /action -> action.
 * robomimic: /data/demo_N per episode: the obs keys chosen as state concatenated ->
 *   observation.state, obs/<cam>_image -> observation.images.<cam>, actions -> action,
 *   rewards -> next.reward, dones -> next.done; mask/<name> lists demo names.
 * Every sample also has episode_index and frame_index (int64 scalars); its key is
 * "ep%06d_t%06d". Floating datasets (float32 or float64) come out as float32, images as uint8
 * [H,W,3]. Frames are read a block at a time (a block of at most a few MB, aligned to the HDF5
 * chunks), so memory is bounded by one block per dataset, not by the episode.
 *
 *   episode_file *f = episode_file_open("demo.hdf5", EPISODE_LAYOUT_AUTO);
 *   for (size_t i = 0; i < episode_file_count(f); i++) {
 *       episode_reader *r = episode_reader_open(f, i, episode_file_number(f, i), &options);
 *       for (int64_t t = 0; t < episode_reader_length(r); t++)
 *           episode_reader_frame(r, t, &sample);  ...
 *       episode_reader_close(r);
 *   }
 *   episode_file_close(f);
 */
#ifndef ILT_IO_EPISODE_H
#define ILT_IO_EPISODE_H

#include "io/stream.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { EPISODE_LAYOUT_AUTO, EPISODE_LAYOUT_ACT, EPISODE_LAYOUT_ROBOMIMIC } episode_layout;

/* "act" / "robomimic" / "auto". */
const char *episode_layout_name(episode_layout layout);
int episode_layout_parse(const char *text, episode_layout *layout);

/* Default robomimic state keys, in order. */
#define EPISODE_DEFAULT_STATE_KEYS "robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos"

/* ---------------------------------------------------------------- files */

typedef struct episode_file episode_file;

/* Open an HDF5 file, detect (or check) the layout and list its episodes; robomimic demos sorted
 * by their number. NULL with error_set() naming the file on error. */
episode_file *episode_file_open(const char *path, episode_layout layout);
episode_layout episode_file_layout(const episode_file *f);
const char *episode_file_path(const episode_file *f);
/* Number of episodes (1 for ACT). */
size_t episode_file_count(const episode_file *f);
/* robomimic: N of demo_N; ACT: -1 (the caller numbers ACT files, e.g. from the file name). */
int64_t episode_file_number(const episode_file *f, size_t i);
/* Keep only the demos listed in mask/<name> (robomimic). */
int episode_file_apply_mask(episode_file *f, const char *name);
void episode_file_close(episode_file *f);

/* The episode number in an ACT file name: the last run of digits in its base name without the
 * extension ("episode_12.hdf5" -> 12), or -1 if there is none. */
int64_t episode_number_from_path(const char *path);

/* ---------------------------------------------------------------- episodes */

typedef struct {
    /* Features to output, by canonical name ("observation.state", "observation.images.top",
     * "action", ...; "observation.images" selects every camera). NULL: every feature found.
     * A requested feature that the episode lacks is an error. */
    char **features;
    /* robomimic low-dim obs keys concatenated into observation.state; NULL: the default. */
    char **state_keys;
    /* robomimic low-dim obs keys written each as its own field observation.<key> (what
     * Diffusion Policy's low-dimensional observations are); NULL: none. */
    char **obs_keys;
    /* Resample every image to this size (0: keep): area averaging when shrinking, bilinear
     * when enlarging. */
    int resize_height, resize_width;
} episode_read_options;

typedef struct episode_reader episode_reader;

/* Open episode i of f; samples carry episode_index = index. Checks that every dataset has
 * the same number of frames and the expected rank/dtype. */
episode_reader *episode_reader_open(episode_file *f, size_t i, int64_t index, const episode_read_options *o);
/* Number of frames T. */
int64_t episode_reader_length(const episode_reader *r);
/* Frame t (0 <= t < T) into *s (reset first). Reading frames in increasing order is fastest. */
int episode_reader_frame(episode_reader *r, int64_t t, stream_sample *s);
void episode_reader_close(episode_reader *r);

#endif
