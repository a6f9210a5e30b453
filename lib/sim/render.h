/* render.h — headless rendering of a MuJoCo scene through OSMesa into RGB arrays, top row first.
 * Each renderer owns its OSMesa context and makes it current before drawing, so several
 * renderers may exist in one thread (one drawing at a time). */
#ifndef ILT_SIM_RENDER_H
#define ILT_SIM_RENDER_H

#include <stdint.h>
#include <mujoco/mujoco.h>

typedef struct sim_renderer sim_renderer_t;

/* The model's offscreen buffer (visual/global offwidth, offheight) must be at least
 * height x width; sim_scene_load takes care of it. NULL with error_set on failure. */
sim_renderer_t *sim_renderer_create(const mjModel *m, int height, int width);
/* Render camera camera_id (a model camera id) of the current state into rgb[h*w*3]. */
int sim_renderer_render(sim_renderer_t *r, const mjModel *m, mjData *d, int camera_id, uint8_t *rgb);
void sim_renderer_free(sim_renderer_t *r);

#endif
