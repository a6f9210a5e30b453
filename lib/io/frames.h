/* frames.h — the frame samples rollout streams for videos and stills (ilt-stream(5), "Frame
 * samples"): a sample's key "ep<seed>_t<step>", the scalars below, and one
 * observation.images.<camera> (H,W,3) uint8 field per camera (frame_sample_add_camera).
 *
 *   frame_status_t f = {.episode = seed, .frame = t, .stage = 2, .max_reward = 4, .success = 0};
 *   frame_sample_begin(&sample, &f);        // key and scalars; then the images
 *   ...
 *   frame_sample_status(&sample, &f);       // reader: which scalars the sample has
 *   frame_caption(&f, text, sizeof text);   // "seed 7  stage 2/4"
 */
#ifndef ILT_IO_FRAMES_H
#define ILT_IO_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "io/stream.h"

/* Where an episode stands at a frame. */
typedef struct {
    int64_t episode;     /* episode_index: rollout's episode seed */
    int64_t frame;       /* frame_index: the step (the step count for a final state) */
    int64_t stage;       /* reward_stage: the reward stage now */
    int64_t max_reward;  /* max_reward: the task's highest stage */
    int64_t success;     /* success: 1 once the episode has succeeded */
    unsigned present;    /* FRAME_HAS_* of the fields a read sample had */
} frame_status_t;

enum { FRAME_HAS_EPISODE = 1, FRAME_HAS_FRAME = 2, FRAME_HAS_STAGE = 4, FRAME_HAS_MAX_REWARD = 8, FRAME_HAS_SUCCESS = 16 };

/* Reset s to a frame sample of f (key and every scalar). 0, or -1 with error_set. */
int frame_sample_begin(stream_sample *s, const frame_status_t *f);
/* Add camera's image, height x width x 3 uint8 rgb, as field observation.images.<camera>. 0, or -1
 * with error_set. */
int frame_sample_add_camera(stream_sample *s, const char *camera, int height, int width, const uint8_t *rgb);
/* The scalars a sample has, their bits in f->present (0: none of them). */
void frame_sample_status(const stream_sample *s, frame_status_t *f);
/* "seed S  stage K/M  success" from the fields present; "" when none of seed, stage and success
 * is there. Returns the text's length. */
size_t frame_caption(const frame_status_t *f, char *text, size_t size);

/* Reading a sample's cameras (vidwrite): fields observation.images.<camera> or images.<camera>. */
/* The camera name of an image field, or NULL when the field is not a camera image. */
const char *frame_camera_of_field(const char *field);
/* The image field of camera in s, or NULL. */
const npy_array *frame_sample_camera(const stream_sample *s, const char *camera);
/* The cameras of s, sorted by name, in a list to free with strlist_free (util/parse.h); NULL when
 * out of memory. */
char **frame_sample_cameras(const stream_sample *s, size_t *count);
/* An image field as height x width x 3 uint8 in *rgb (realloc'd): uint8, or float in [0,1]
 * (rounded, clamped, NaN as 0), laid out HWC with 3 or 1 channels, HW (grey), or CHW with 3
 * channels. 0, or -1 with error_set naming what the field is. */
int frame_image_rgb(const npy_array *a, uint8_t **rgb, int *height, int *width);

#endif
