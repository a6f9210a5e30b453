/* image_resize.h — resample 8-bit interleaved images (H,W,C): area averaging along an axis that
 * shrinks (every source pixel weighted by how much of it the output pixel covers, like OpenCV's
 * INTER_AREA) and bilinear interpolation with pixel centres at +0.5 along an axis that grows.
 * The two axes are filtered separately, in float, and rounded to nearest at the end. */
#ifndef ILT_IO_IMAGE_RESIZE_H
#define ILT_IO_IMAGE_RESIZE_H

#include <stdint.h>

typedef struct image_resizer image_resizer;

/* Precompute the weights for one (source, destination) size pair. NULL on error. */
image_resizer *image_resizer_new(int src_height, int src_width, int dst_height, int dst_width, int channels);
/* src: src_height*src_width*channels bytes; dst: dst_height*dst_width*channels bytes. */
void image_resizer_run(image_resizer *r, const uint8_t *src, uint8_t *dst);
void image_resizer_free(image_resizer *r);

#endif
