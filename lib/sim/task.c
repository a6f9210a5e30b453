/* task.c — the generic part of every task: the registry of task classes, scene loading, camera
 * selection, the control loop (physics substeps per control step), latched success flags and
 * rendering. The task files (transfer_cube.c, insertion.c, lift.c) fill in the hooks of
 * task_impl.h. */
#include "sim/task_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const sim_task_class_t *const task_classes[] = {
    &sim_task_transfer_cube,
    &sim_task_insertion,
    &sim_task_lift,
    &sim_task_lift_abs,
};
#define N_TASK_CLASSES (sizeof task_classes / sizeof task_classes[0])

const char *const *sim_task_names(void)
{
    static const char *names[N_TASK_CLASSES + 1];
    for (size_t i = 0; i < N_TASK_CLASSES; i++) names[i] = task_classes[i]->name;
    return names;
}

sim_task_options_t sim_task_default_options(void)
{
    sim_task_options_t o;
    memset(&o, 0, sizeof o);
    o.n_cameras = -1;
    return o;
}

/* Scene cameras into info, the class's training camera first. */
static void list_scene_cameras(sim_task_t *t)
{
    sim_task_info_t *info = &t->info;
    info->n_scene_cameras = 0;
    int train = t->cls->training_camera ? mj_name2id(t->m, mjOBJ_CAMERA, t->cls->training_camera) : -1;
    if (train >= 0) info->scene_camera_names[info->n_scene_cameras++] = mj_id2name(t->m, mjOBJ_CAMERA, train);
    for (int c = 0; c < t->m->ncam && info->n_scene_cameras < SIM_MAX_CAMERAS; c++)
        if (c != train) info->scene_camera_names[info->n_scene_cameras++] = mj_id2name(t->m, mjOBJ_CAMERA, c);
}

sim_task_t *sim_task_create(const char *name, const sim_task_options_t *options)
{
    const sim_task_class_t *cls = NULL;
    for (size_t i = 0; i < N_TASK_CLASSES; i++)
        if (strcmp(task_classes[i]->name, name) == 0) cls = task_classes[i];
    if (!cls) {
        char list[256] = "";
        for (size_t i = 0; i < N_TASK_CLASSES; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", task_classes[i]->name);
        error_set("no task named '%s' (tasks: %s)", name, list);
        return NULL;
    }
    sim_task_options_t opt = options ? *options : sim_task_default_options();
    int height = opt.height > 0 ? opt.height : cls->default_height;
    int width = opt.width > 0 ? opt.width : cls->default_width;
    if (height > 2048 || width > 2048) {
        error_set("image size %dx%d is larger than 2048x2048", height, width);
        return NULL;
    }
    if (opt.frame_height < 0 || opt.frame_width < 0 || opt.frame_height > 2048 || opt.frame_width > 2048) {
        error_set("frame size %dx%d is not between 1x1 and 2048x2048", opt.frame_height, opt.frame_width);
        return NULL;
    }
    int own_frames = opt.frame_height > 0 && opt.frame_width > 0 &&
                     (opt.frame_height != height || opt.frame_width != width);

    sim_task_t *t = calloc(1, sizeof *t);
    if (!t) { error_set("out of memory creating task %s", name); return NULL; }
    t->cls = cls;
    if (cls->priv_size && !(t->priv = calloc(1, cls->priv_size))) goto oom;
    if (!(t->m = sim_scene_load(cls->scene, height, width))) goto fail;
    if (!(t->d = mj_makeData(t->m))) goto oom;
    t->info.name = cls->name;
    t->info.control_hz = cls->control_hz;
    t->info.max_steps = cls->max_steps;
    t->info.max_reward = cls->max_reward;
    t->info.action_space = cls->action_space;
    t->info.sim_state_dim = 1 + t->m->nq + t->m->nv;
    t->info.height = height;
    t->info.width = width;
    t->info.frame_height = own_frames ? opt.frame_height : height;
    t->info.frame_width = own_frames ? opt.frame_width : width;
    t->n_substeps = (int)lround(1.0 / (cls->control_hz * t->m->opt.timestep));
    if (t->n_substeps < 1) t->n_substeps = 1;
    list_scene_cameras(t);
    if (cls->init(t) < 0) goto fail;

    if (opt.n_cameras < 0) {
        opt.n_cameras = 1;
        opt.cameras[0] = t->info.scene_camera_names[0];
    }
    if (opt.n_cameras > SIM_MAX_CAMERAS) {
        error_set("too many cameras (%d, at most %d)", opt.n_cameras, SIM_MAX_CAMERAS);
        goto fail;
    }
    for (int c = 0; c < opt.n_cameras; c++) {
        int id = mj_name2id(t->m, mjOBJ_CAMERA, opt.cameras[c]);
        if (id < 0) {
            char list[512] = "";
            for (int k = 0; k < t->info.n_scene_cameras; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                         t->info.scene_camera_names[k]);
            error_set("task %s has no camera '%s' (cameras: %s)", name, opt.cameras[c], list);
            goto fail;
        }
        t->camera_ids[c] = id;
        t->info.camera_names[c] = mj_id2name(t->m, mjOBJ_CAMERA, id);
    }
    t->info.n_cameras = opt.n_cameras;
    if (opt.n_cameras > 0 && !(t->renderer = sim_renderer_create(t->m, height, width))) goto fail;
    if (opt.n_cameras > 0 && own_frames) {
        if (!(t->frame_m = mj_copyModel(NULL, t->m))) goto oom;
        t->frame_m->vis.global.offheight = opt.frame_height;
        t->frame_m->vis.global.offwidth = opt.frame_width;
        if (!(t->frame_renderer = sim_renderer_create(t->frame_m, opt.frame_height, opt.frame_width))) goto fail;
    }
    return t;
oom:
    error_set("out of memory creating task %s", name);
fail:
    sim_task_free(t);
    return NULL;
}

void sim_task_free(sim_task_t *t)
{
    if (!t) return;
    if (t->cls && t->cls->destroy && t->m) t->cls->destroy(t);
    sim_renderer_free(t->renderer);
    sim_renderer_free(t->frame_renderer);
    if (t->frame_m) mj_deleteModel(t->frame_m);
    if (t->d) mj_deleteData(t->d);
    if (t->m) mj_deleteModel(t->m);
    free(t->priv);
    free(t);
}

const sim_task_info_t *sim_task_info(const sim_task_t *t) { return &t->info; }
const sim_status_t *sim_task_status(const sim_task_t *t) { return &t->status; }

static void evaluate(sim_task_t *t)
{
    int strict = 0, lenient = 0;
    t->cls->evaluate(t, &t->status, &strict, &lenient);
    if (t->status.stage > t->status.max_stage) t->status.max_stage = t->status.stage;
    t->status.success_now = strict;
    if (strict) t->status.success = 1;
    if (lenient) t->status.success_lenient = 1;
}

int sim_task_reset(sim_task_t *t, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    t->seed = seed;
    mj_resetData(t->m, t->d);
    memset(&t->status, 0, sizeof t->status);
    if (t->cls->reset(t, &rng) < 0) return error_prefix("task %s, seed %llu: ", t->info.name, (unsigned long long)seed);
    mj_forward(t->m, t->d);
    evaluate(t);
    t->status.reward = 0;
    t->status.episode_return = 0;
    return 0;
}

int sim_task_step(sim_task_t *t, const float *action)
{
    for (int i = 0; i < t->info.action_dim; i++)
        if (!isfinite(action[i]))
            return error_set("task %s, step %d: action[%d] is not a finite number", t->info.name, t->status.step, i);
    if (t->cls->control(t, action) < 0) return -1;
    for (int k = 0; k < t->n_substeps; k++) mj_step(t->m, t->d);
    /* Positions, contacts and sensors of the final state, for observations and rewards (mj_step
     * leaves them at the state before its last integration). */
    mj_forward(t->m, t->d);
    for (int i = 0; i < t->m->nq; i++)
        if (!isfinite(t->d->qpos[i]))
            return error_set("task %s, step %d: the simulation became unstable", t->info.name, t->status.step);
    t->status.step++;
    evaluate(t);
    t->status.episode_return += t->status.reward;
    return 0;
}

void sim_task_state(const sim_task_t *t, float *out) { t->cls->state(t, out); }
void sim_task_velocity(const sim_task_t *t, float *out) { t->cls->velocity(t, out); }

void sim_task_sim_state(const sim_task_t *t, double *out)
{
    out[0] = t->d->time;
    for (int i = 0; i < t->m->nq; i++) out[1 + i] = t->d->qpos[i];
    for (int i = 0; i < t->m->nv; i++) out[1 + t->m->nq + i] = t->d->qvel[i];
}

int sim_task_obs(const sim_task_t *t, int index, float *out)
{
    if (index < 0 || index >= t->info.n_obs || !t->cls->obs)
        return error_set("task %s has no observation %d", t->info.name, index);
    return t->cls->obs(t, index, out);
}

int sim_task_obs_index(const sim_task_t *t, const char *name)
{
    for (int i = 0; i < t->info.n_obs; i++)
        if (strcmp(t->info.obs_names[i], name) == 0) return i;
    return -1;
}

int sim_task_image(sim_task_t *t, int camera, uint8_t *rgb)
{
    if (camera < 0 || camera >= t->info.n_cameras || !t->renderer)
        return error_set("task %s renders no camera %d", t->info.name, camera);
    return sim_renderer_render(t->renderer, t->m, t->d, t->camera_ids[camera], rgb);
}

int sim_task_frame(sim_task_t *t, int camera, uint8_t *rgb)
{
    if (!t->frame_renderer) return sim_task_image(t, camera, rgb);
    if (camera < 0 || camera >= t->info.n_cameras)
        return error_set("task %s renders no camera %d", t->info.name, camera);
    return sim_renderer_render(t->frame_renderer, t->frame_m, t->d, t->camera_ids[camera], rgb);
}

int sim_task_expert_action(sim_task_t *t, float *action) { return t->cls->expert(t, action); }

int sim_task_expert_option(sim_task_t *t, const char *key, const char *value)
{
    if (!t->cls->expert_option) return error_set("task %s: its scripted expert has no settings (given %s)", t->info.name, key);
    return t->cls->expert_option(t, key, value);
}

/* ---------------------------------------------------------------- helpers for the tasks */

int sim_id(const mjModel *m, int type, const char *name)
{
    int id = mj_name2id(m, type, name);
    if (id < 0) return error_set("the scene has no %s named '%s'", type == mjOBJ_BODY ? "body" : type == mjOBJ_GEOM ? "geom" : type == mjOBJ_SITE ? "site" : type == mjOBJ_JOINT ? "joint" : "object", name);
    return id;
}

static int in_set(int g, const int *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == g) return 1;
    return 0;
}

int sim_geoms_touch(const mjData *d, const int *set_a, int n_a, const int *set_b, int n_b)
{
    for (int i = 0; i < d->ncon; i++) {
        int g1 = d->contact[i].geom1, g2 = d->contact[i].geom2;
        if ((in_set(g1, set_a, n_a) && in_set(g2, set_b, n_b)) || (in_set(g2, set_a, n_a) && in_set(g1, set_b, n_b)))
            return 1;
    }
    return 0;
}
