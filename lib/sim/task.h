/* task.h — the simulated tasks (MuJoCo worlds) that rollout records and evaluates policies in.
 *
 * A task is created by name with options (cameras to render, image size), reset with a seed,
 * stepped with actions at its control rate, and observed: a state vector (qpos), its velocity
 * (qvel), named low-dimensional observations, rendered images (H,W,3 uint8, top row first) for
 * each chosen camera, a reward stage and success flags. Every task carries a scripted expert
 * whose actions are in the task's own action space, so that recorded demonstrations are what a
 * policy learns. The same seed gives the same episode bit for bit.
 *
 *   sim_task_options_t opt = sim_task_default_options();
 *   sim_task_t *task = sim_task_create("transfer_cube", &opt);   NULL + error_get() on failure
 *   sim_task_reset(task, seed);
 *   for (int t = 0; t < info->max_steps; t++) {
 *       sim_task_state(task, qpos); sim_task_image(task, 0, rgb);  observation at step t
 *       sim_task_expert_action(task, action);                      or a policy's action
 *       sim_task_step(task, action);
 *   }
 *   sim_task_status(task)->success ...
 *
 * Knows nothing of policies or files other than its scene. Not thread-safe per task; separate
 * tasks may live in separate threads (each owns its MuJoCo data and OSMesa context). */
#ifndef ILT_SIM_TASK_H
#define ILT_SIM_TASK_H

#include <stdint.h>

#define SIM_MAX_CAMERAS 8
#define SIM_MAX_OBS 16

typedef struct sim_task sim_task_t;

typedef struct {
    /* Cameras to render, by name. n_cameras < 0: the task's default (its training camera);
     * 0: render nothing (physics only, sim_task_image fails). */
    const char *cameras[SIM_MAX_CAMERAS];
    int n_cameras;
    /* Image size; 0 = the task's default (see sim_task_info). Any size up to 2048 works. */
    int height, width;
    /* Size of the frames sim_task_frame renders for people to watch (videos, stills), from the
     * same cameras with a renderer of their own, so the images above stay exactly what they are
     * without it; 0 = the image size. */
    int frame_height, frame_width;
} sim_task_options_t;

typedef struct {
    const char *name;            /* "transfer_cube", "insertion", "lift", "lift_abs" */
    int state_dim;               /* length of sim_task_state (qpos): 14 for the bimanual tasks */
    int velocity_dim;            /* length of sim_task_velocity (qvel) */
    int action_dim;              /* 14 bimanual (joint targets, grippers 0 closed..1 open), 7 lift,
                                  * 10 lift_abs */
    int sim_state_dim;           /* length of sim_task_sim_state (full MuJoCo state: time, qpos, qvel) */
    double control_hz;           /* 50 bimanual, 20 lift */
    int max_steps;               /* episode length: 400 */
    int max_reward;              /* highest reward stage (4 bimanual, 1 lift) */
    const char *action_space;    /* "joint_position", "eef_delta" (lift: 7-D in [-1,1]) or
                                  * "eef_absolute" (lift_abs: 10-D target pose) */
    /* Rendered cameras, in the order given in the options; images are height x width x 3. */
    int n_cameras;
    const char *camera_names[SIM_MAX_CAMERAS];
    int height, width;
    int frame_height, frame_width; /* sim_task_frame's size */
    /* Every camera the scene has (for --help and error messages), the training camera first. */
    int n_scene_cameras;
    const char *scene_camera_names[SIM_MAX_CAMERAS];
    /* Named low-dimensional observations (robomimic keys for lift: "robot0_eef_pos" 3, ...). */
    int n_obs;
    const char *obs_names[SIM_MAX_OBS];
    int obs_dims[SIM_MAX_OBS];
} sim_task_info_t;

typedef struct {
    int step;                    /* control steps taken since reset */
    int stage;                   /* reward stage now, 0..max_reward */
    int max_stage;               /* highest stage reached so far in the episode */
    double reward;               /* reward of the last step (the stage for bimanual tasks) */
    double episode_return;       /* sum of rewards since reset */
    int success_now;             /* the success condition holds at this step */
    int success;                 /* latched: success (strict for transfer_cube) at some step */
    int success_lenient;         /* latched: ACT's check, stage max_reward at some step */
} sim_status_t;

/* NULL-terminated list of the task names. */
const char *const *sim_task_names(void);
sim_task_options_t sim_task_default_options(void);

/* Load the task's scene, set up rendering. NULL with error_get() on an unknown task or camera. */
sim_task_t *sim_task_create(const char *name, const sim_task_options_t *options);
void sim_task_free(sim_task_t *task);
const sim_task_info_t *sim_task_info(const sim_task_t *task);

/* Start an episode: reset physics, randomize objects from the seed, plan the expert. */
int sim_task_reset(sim_task_t *task, uint64_t seed);
/* One control step (1/control_hz seconds of physics). Rejects NaN/Inf actions. */
int sim_task_step(sim_task_t *task, const float *action);
const sim_status_t *sim_task_status(const sim_task_t *task);

/* Observations of the current state. out has the length given in the info. */
void sim_task_state(const sim_task_t *task, float *out);
void sim_task_velocity(const sim_task_t *task, float *out);
void sim_task_sim_state(const sim_task_t *task, double *out);
/* Named observation by index in info->obs_names; -1 on a bad index. */
int sim_task_obs(const sim_task_t *task, int index, float *out);
/* Index of a named observation, or -1. */
int sim_task_obs_index(const sim_task_t *task, const char *name);
/* Render rendered-camera i (index into info->camera_names) into rgb[height*width*3], top row
 * first. */
int sim_task_image(sim_task_t *task, int camera, uint8_t *rgb);
/* The same camera at the frame size (info->frame_height x frame_width); the image itself when
 * no frame size was asked for. */
int sim_task_frame(sim_task_t *task, int camera, uint8_t *rgb);

/* The scripted expert's action for the current step (action_dim values). Deterministic given the
 * reset seed. */
int sim_task_expert_action(sim_task_t *task, float *action);

/* Set one of the expert's settings (lift: gain, max_move), kept for the later episodes. -1 +
 * error_set for a setting the task's expert does not have or a value out of its range. */
int sim_task_expert_option(sim_task_t *task, const char *key, const char *value);

#endif
