/* tile.h — put several camera images side by side into one RGB frame, optionally with each
 * camera's name written in its top-left corner in a small built-in bitmap font (letters, digits,
 * space and _ - . / :).
 *
 * Tiles are placed left to right in the order given, top-aligned; a shorter tile leaves black
 * below it. Images are height x width x 3 uint8, row-major, top row first. */
#ifndef ILT_VIDEO_TILE_H
#define ILT_VIDEO_TILE_H

#include <stdint.h>

typedef struct {
    const char *name;   /* drawn when labelling; may be NULL */
    const uint8_t *rgb; /* height*width*3 */
    int height, width;
} video_tile_t;

/* Size of the frame that tiling these images gives. */
void video_tile_size(const video_tile_t *tiles, int n, int *height, int *width);
/* Compose into frame (size from video_tile_size). label != 0 draws the names. */
void video_tile_compose(const video_tile_t *tiles, int n, int label, uint8_t *frame);
/* Draw text at (x, y) (top-left corner) in white on a dark box, clipped to the image. scale >= 1
 * multiplies the 5x7 glyphs. Letters are drawn as capitals; unknown characters as '?'. */
void video_draw_text(uint8_t *rgb, int height, int width, int x, int y, int scale, const char *text);
/* The box video_draw_text darkens, and the scale the labels use for an image of this height
 * (1 below 200 rows, 2 below 360, else 3). */
int video_text_width(const char *text, int scale);
int video_text_height(int scale);
int video_text_scale(int height);

#endif
