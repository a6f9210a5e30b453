/* render.c — headless MuJoCo rendering through OSMesa (a software OpenGL context per renderer)
 * into the model's offscreen framebuffer; images come back top row first. */
#include "sim/render.h"

#include <GL/osmesa.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

struct sim_renderer {
    OSMesaContext gl;
    unsigned char *gl_buffer;   /* OSMesa's window buffer (unused by the offscreen FBO, but required) */
    int height, width;
    mjvScene scene;
    mjvCamera camera;
    mjvOption option;
    mjrContext context;
    unsigned char *flipped;     /* bottom-row-first pixels from mjr_readPixels */
};

sim_renderer_t *sim_renderer_create(const mjModel *m, int height, int width)
{
    if (height <= 0 || width <= 0 || height > m->vis.global.offheight || width > m->vis.global.offwidth) {
        error_set("image size %dx%d does not fit the offscreen buffer %dx%d", height, width,
                  m->vis.global.offheight, m->vis.global.offwidth);
        return NULL;
    }
    sim_renderer_t *r = calloc(1, sizeof *r);
    if (!r) { error_set("out of memory for a renderer"); return NULL; }
    r->height = height;
    r->width = width;
    r->gl = OSMesaCreateContextExt(OSMESA_RGBA, 24, 8, 8, NULL);
    r->gl_buffer = malloc((size_t)m->vis.global.offwidth * m->vis.global.offheight * 4);
    r->flipped = malloc((size_t)width * height * 3);
    if (!r->gl || !r->gl_buffer || !r->flipped) {
        sim_renderer_free(r);
        error_set("cannot create an OSMesa context for %dx%d rendering", height, width);
        return NULL;
    }
    if (!OSMesaMakeCurrent(r->gl, r->gl_buffer, GL_UNSIGNED_BYTE, m->vis.global.offwidth,
                           m->vis.global.offheight)) {
        sim_renderer_free(r);
        error_set("cannot make the OSMesa context current");
        return NULL;
    }
    mjv_defaultScene(&r->scene);
    mjv_defaultCamera(&r->camera);
    mjv_defaultOption(&r->option);
    mjr_defaultContext(&r->context);
    mjv_makeScene(m, &r->scene, 2000);
    mjr_makeContext(m, &r->context, mjFONTSCALE_100);
    mjr_setBuffer(mjFB_OFFSCREEN, &r->context);
    if (r->context.currentBuffer != mjFB_OFFSCREEN) {
        sim_renderer_free(r);
        error_set("the offscreen framebuffer is not available");
        return NULL;
    }
    return r;
}

int sim_renderer_render(sim_renderer_t *r, const mjModel *m, mjData *d, int camera_id, uint8_t *rgb)
{
    if (camera_id < 0 || camera_id >= m->ncam) return error_set("no camera with id %d", camera_id);
    if (!OSMesaMakeCurrent(r->gl, r->gl_buffer, GL_UNSIGNED_BYTE, m->vis.global.offwidth,
                           m->vis.global.offheight))
        return error_set("cannot make the OSMesa context current");
    mjr_setBuffer(mjFB_OFFSCREEN, &r->context);
    r->camera.type = mjCAMERA_FIXED;
    r->camera.fixedcamid = camera_id;
    mjv_updateScene(m, d, &r->option, NULL, &r->camera, mjCAT_ALL, &r->scene);
    mjrRect viewport = {0, 0, r->width, r->height};
    mjr_render(viewport, &r->scene, &r->context);
    mjr_readPixels(r->flipped, NULL, viewport, &r->context);
    size_t row = (size_t)r->width * 3;
    for (int y = 0; y < r->height; y++)
        memcpy(rgb + (size_t)y * row, r->flipped + (size_t)(r->height - 1 - y) * row, row);
    return 0;
}

void sim_renderer_free(sim_renderer_t *r)
{
    if (!r) return;
    if (r->gl) {
        if (r->gl_buffer)
            OSMesaMakeCurrent(r->gl, r->gl_buffer, GL_UNSIGNED_BYTE, 1, 1);
        mjr_freeContext(&r->context);
        mjv_freeScene(&r->scene);
        OSMesaDestroyContext(r->gl);
    }
    free(r->gl_buffer);
    free(r->flipped);
    free(r);
}
