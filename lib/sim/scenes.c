/* scenes.c — the MJCF scene files of data/ compiled into the library (assembler .incbin), so
 * that the tools need no installed data directory, and loading a scene from them through
 * MuJoCo's virtual file system (scenes <include> each other by file name). */
#include <stdlib.h>
#include <string.h>

#include "sim/task_impl.h"
#include "util/error.h"

/* The Makefile makes scenes.o depend on the data/ scenes; paths are relative to the repository root,
 * where make runs the compiler. */
#define SCENE_BLOB(sym, path)                                                                   \
    __asm__(".section .rodata\n.balign 16\n.global " #sym "_start\n" #sym "_start:\n"            \
            ".incbin \"" path "\"\n.global " #sym "_end\n" #sym "_end:\n.byte 0\n.previous\n");  \
    extern const char sym##_start[], sym##_end[];

SCENE_BLOB(ilt_scene_bimanual_world, "data/bimanual_world.xml")
SCENE_BLOB(ilt_scene_bimanual_robots, "data/bimanual_robots.xml")
SCENE_BLOB(ilt_scene_transfer_cube, "data/transfer_cube.xml")
SCENE_BLOB(ilt_scene_insertion, "data/insertion.xml")
SCENE_BLOB(ilt_scene_lift, "data/lift.xml")

static const struct { const char *file; const char *start, *end; } scene_files[] = {
    {"bimanual_world.xml", ilt_scene_bimanual_world_start, ilt_scene_bimanual_world_end},
    {"bimanual_robots.xml", ilt_scene_bimanual_robots_start, ilt_scene_bimanual_robots_end},
    {"transfer_cube.xml", ilt_scene_transfer_cube_start, ilt_scene_transfer_cube_end},
    {"insertion.xml", ilt_scene_insertion_start, ilt_scene_insertion_end},
    {"lift.xml", ilt_scene_lift_start, ilt_scene_lift_end},
};

mjModel *sim_scene_load(const char *scene, int height, int width)
{
    mjVFS *vfs = malloc(sizeof *vfs);
    if (!vfs) { error_set("out of memory loading scene %s", scene); return NULL; }
    mj_defaultVFS(vfs);
    for (size_t i = 0; i < sizeof scene_files / sizeof scene_files[0]; i++) {
        int size = (int)(scene_files[i].end - scene_files[i].start);
        if (mj_makeEmptyFileVFS(vfs, scene_files[i].file, size) != 0) {
            mj_deleteVFS(vfs);
            free(vfs);
            error_set("cannot add %s to MuJoCo's virtual file system", scene_files[i].file);
            return NULL;
        }
        int k = mj_findFileVFS(vfs, scene_files[i].file);
        memcpy(vfs->filedata[k], scene_files[i].start, (size_t)size);
    }
    char file[256], message[1000] = "";
    snprintf(file, sizeof file, "%s.xml", scene);
    mjModel *m = NULL;
    if (mj_findFileVFS(vfs, file) < 0)
        error_set("no scene named %s", scene);
    else if (!(m = mj_loadXML(file, vfs, message, sizeof message)))
        error_set("scene %s: %s", file, message);
    mj_deleteVFS(vfs);
    free(vfs);
    /* The offscreen buffer exactly as large as the images: software rendering pays per pixel. */
    if (m && height > 0 && width > 0) {
        m->vis.global.offheight = height;
        m->vis.global.offwidth = width;
    }
    return m;
}
