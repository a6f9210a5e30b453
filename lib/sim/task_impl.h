/* task_impl.h — what a task implementation (transfer_cube.c, insertion.c, lift.c) provides and
 * what it gets: the class table of hooks below, filled by the task file, and the generic code of
 * task.c around it (scene loading, physics substeps, rendering, status bookkeeping).
 *
 * To add a task: write lib/sim/<task>.c defining `const sim_task_class_t sim_task_<task>`, its
 * scene data/<task>.xml (listed in lib/sim/scenes.c), and add it to the registry in task.c. */
#ifndef ILT_SIM_TASK_IMPL_H
#define ILT_SIM_TASK_IMPL_H

#include <mujoco/mujoco.h>

#include "sim/render.h"
#include "sim/task.h"
#include "util/rng.h"

typedef struct sim_task_class {
    const char *name;
    const char *scene;            /* scene name, as in scenes.c ("transfer_cube") */
    int default_height, default_width;
    double control_hz;            /* physics substeps per control step = 1/(control_hz * timestep) */
    int max_steps;
    int max_reward;
    const char *action_space;
    size_t priv_size;             /* bytes of task-private state, zeroed, at task->priv */
    /* After the model is loaded: look up ids, fill task->info (state_dim, velocity_dim,
     * action_dim, obs names/dims; the scene cameras are filled already, training camera first
     * if the class names it below). */
    const char *training_camera;
    int (*init)(sim_task_t *task);
    /* New episode: mj_resetData has been called; place objects from rng, set the initial robot
     * pose and ctrl, plan the expert. task.c calls mj_forward and evaluate afterwards. */
    int (*reset)(sim_task_t *task, rng_t *rng);
    /* Set d->ctrl (and anything else) from an action, once per control step, before physics. */
    int (*control)(sim_task_t *task, const float *action);
    /* After physics (and after reset): set status->stage, reward, success_now, and the
     * strict/lenient per-step flags in *strict_now / *lenient_now. task.c latches them. */
    void (*evaluate)(sim_task_t *task, sim_status_t *status, int *strict_now, int *lenient_now);
    void (*state)(const sim_task_t *task, float *out);
    void (*velocity)(const sim_task_t *task, float *out);
    int (*obs)(const sim_task_t *task, int index, float *out);  /* may be NULL when n_obs = 0 */
    int (*expert)(sim_task_t *task, float *action);
    /* A setting of the expert (rollout -p scripted --policy-arg KEY=VALUE), kept across
     * episodes; -1 + error_set for a key or value it does not take. May be NULL: no settings. */
    int (*expert_option)(sim_task_t *task, const char *key, const char *value);
    void (*destroy)(sim_task_t *task);                           /* may be NULL */
} sim_task_class_t;

struct sim_task {
    const sim_task_class_t *cls;
    mjModel *m;
    mjData *d;
    sim_task_info_t info;
    sim_status_t status;
    int n_substeps;
    uint64_t seed;
    sim_renderer_t *renderer;     /* NULL when no camera is rendered */
    mjModel *frame_m;             /* a copy of m with the frame size's offscreen buffer */
    sim_renderer_t *frame_renderer; /* NULL: frames are the images */
    int camera_ids[SIM_MAX_CAMERAS];
    void *priv;
};

/* Load a scene compiled into the library (scenes.c) with the offscreen buffer of
 * height x width. NULL with error_set on failure. */
mjModel *sim_scene_load(const char *scene, int height, int width);

/* Helpers the tasks share. */
int sim_id(const mjModel *m, int type, const char *name);   /* mj_name2id or error_set, -1 */
/* Is there a contact between a geom of set a and a geom of set b? */
int sim_geoms_touch(const mjData *d, const int *set_a, int n_a, const int *set_b, int n_b);

extern const sim_task_class_t sim_task_transfer_cube;
extern const sim_task_class_t sim_task_insertion;
extern const sim_task_class_t sim_task_lift;
extern const sim_task_class_t sim_task_lift_abs;

#endif
