/* encode.h — write RGB frames to a video file: H.264 (libx264, yuv420p) in MP4/MOV/MKV, an
 * animated GIF, or a PNG still of the last frame, chosen by the output file's extension. The file
 * appears only when video_writer_finish() succeeds: frames go to "<path>.tmp.<pid>"
 * (util/tempfile.h) that is synced and renamed at the end, and removed by video_writer_abort() or
 * a failed finish (and on SIGINT/SIGTERM/SIGHUP in a tool that called tempfile_remove_on_signals).
 *
 *   video_writer_t *v = video_writer_open("ep0.mp4", height, width, &options);
 *   for each frame: video_writer_add(v, rgb);          // height*width*3 bytes, top row first
 *   video_writer_finish(v);                            // or video_writer_abort(v) on an error
 *
 * Odd sizes are padded by repeating the last row/column (yuv420p needs even dimensions). */
#ifndef ILT_VIDEO_ENCODE_H
#define ILT_VIDEO_ENCODE_H

#include <stdint.h>

typedef struct video_writer video_writer_t;

typedef struct {
    int fps;            /* frames per second, > 0 */
    int crf;            /* x264 constant rate factor 0..51 (lower is better); ignored for GIF */
    const char *preset; /* x264 preset ("medium" when NULL); ignored for GIF */
} video_options_t;

typedef enum { VIDEO_KIND_H264, VIDEO_KIND_GIF, VIDEO_KIND_PNG } video_kind_t;

/* The kind of video a path asks for: ".gif" is GIF; ".mp4", ".m4v", ".mov", ".mkv" are H.264;
 * ".png" is one still image, the last frame added (RGB, 8 bits per channel).
 * Returns -1 with error_set() for any other extension. */
int video_kind_from_path(const char *path, video_kind_t *kind);

video_writer_t *video_writer_open(const char *path, int height, int width, const video_options_t *options);
/* One frame, height*width*3 bytes of RGB, row-major, top row first. */
int video_writer_add(video_writer_t *writer, const uint8_t *rgb);
int64_t video_writer_frames(const video_writer_t *writer);
/* The temporary file being written. */
const char *video_writer_temp_path(const video_writer_t *writer);
/* Flush the encoder, write the trailer, rename into place, free. On failure the temporary file is
 * removed and nothing is left at the path. The writer is freed either way. */
int video_writer_finish(video_writer_t *writer);
/* Drop everything written so far and free; NULL is allowed. */
void video_writer_abort(video_writer_t *writer);

#endif
