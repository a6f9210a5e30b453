/* transfer_cube.c — bimanual cube transfer (ACT's sim_transfer_cube, our own scene): the right
 * arm picks up a cube placed at random in front of it and hands it to the left arm.
 * Reward stages: 1 right gripper touches the cube, 2 it holds it off the table, 3 the left
 * gripper touches it, 4 the left gripper holds it off the table. Success (strict): stage 4 while
 * the right gripper no longer touches the cube; lenient (ACT's check): stage 4. */
#include <string.h>

#include "sim/bimanual.h"
#include "util/error.h"

/* Cube centre region (m), in front of the right arm (base at x = +0.5). */
#define CUBE_X_MIN 0.06
#define CUBE_X_MAX 0.20
#define CUBE_Y_MIN -0.10
#define CUBE_Y_MAX 0.10
#define CUBE_HALF 0.02

typedef struct {
    bimanual_t robot;
    int cube_qpos, cube_geom, table_geom;
} transfer_cube_t;

static int tc_init(sim_task_t *t)
{
    transfer_cube_t *p = t->priv;
    if (bimanual_init(t, &p->robot) < 0) return -1;
    int joint = sim_id(t->m, mjOBJ_JOINT, "cube");
    if (joint < 0 || (p->cube_geom = sim_id(t->m, mjOBJ_GEOM, "cube")) < 0 ||
        (p->table_geom = sim_id(t->m, mjOBJ_GEOM, "table")) < 0)
        return -1;
    p->cube_qpos = t->m->jnt_qposadr[joint];
    bimanual_info(t);
    return 0;
}

static void tc_destroy(sim_task_t *t) { bimanual_destroy(&((transfer_cube_t *)t->priv)->robot); }

static int tc_reset(sim_task_t *t, rng_t *rng)
{
    transfer_cube_t *p = t->priv;
    double cx = CUBE_X_MIN + (CUBE_X_MAX - CUBE_X_MIN) * rng_uniform(rng);
    double cy = CUBE_Y_MIN + (CUBE_Y_MAX - CUBE_Y_MIN) * rng_uniform(rng);
    double *q = t->d->qpos + p->cube_qpos;
    q[0] = cx; q[1] = cy; q[2] = CUBE_HALF;
    q[3] = 1; q[4] = q[5] = q[6] = 0;

    /* Grip heights: the right fingertips stop 2 mm above the cube's centre (the right hand holds
     * the upper half), the left hand, pointing at the right one, takes the lower half. */
    const double tip = 0.014;                           /* grip site to fingertips */
    const double meet[3] = {0.06, 0.0, 0.22};          /* cube centre at the handover */
    double grasp_z = CUBE_HALF + 0.002 + tip;
    bimanual_waypoint_t right[] = {
        {0, {0.24, 0.0, 0.24}, 1},
        {60, {cx, cy, 0.14}, 1},
        {100, {cx, cy, grasp_z}, 1},
        {115, {cx, cy, grasp_z}, 0},
        {135, {cx, cy, grasp_z}, 0},
        {200, {meet[0], meet[1], meet[2] + 0.002 + tip}, 0},
        {255, {meet[0], meet[1], meet[2] + 0.002 + tip}, 0},
        {270, {meet[0], meet[1], meet[2] + 0.002 + tip}, 1},
        {310, {meet[0] + 0.02, meet[1], meet[2] + 0.13}, 1},
    };
    bimanual_waypoint_t left[] = {
        {0, {-0.24, 0.0, 0.24}, 1},
        {190, {meet[0] - 0.12, meet[1], meet[2] - 0.01}, 1},
        {235, {meet[0] - 0.002, meet[1], meet[2] - 0.01}, 1},
        {250, {meet[0] - 0.002, meet[1], meet[2] - 0.01}, 0},
        {275, {meet[0] - 0.002, meet[1], meet[2] - 0.01}, 0},
        {320, {meet[0] - 0.06, meet[1], meet[2] + 0.02}, 0},
    };
    return bimanual_plan(t, &p->robot, left, sizeof left / sizeof left[0], bimanual_left_forward,
                         right, sizeof right / sizeof right[0], bimanual_right_down);
}

static int tc_control(sim_task_t *t, const float *action)
{
    return bimanual_control(t, &((transfer_cube_t *)t->priv)->robot, action);
}

static void tc_evaluate(sim_task_t *t, sim_status_t *st, int *strict, int *lenient)
{
    transfer_cube_t *p = t->priv;
    const int *cube = &p->cube_geom, *table = &p->table_geom;
    int touch_left = sim_geoms_touch(t->d, p->robot.arm[0].hand_geoms, 3, cube, 1);
    int touch_right = sim_geoms_touch(t->d, p->robot.arm[1].hand_geoms, 3, cube, 1);
    int touch_table = sim_geoms_touch(t->d, cube, 1, table, 1);
    int stage = 0;
    if (touch_right) stage = 1;
    if (touch_right && !touch_table) stage = 2;
    if (touch_left) stage = 3;
    if (touch_left && !touch_table) stage = 4;
    st->stage = stage;
    st->reward = stage;
    *lenient = stage == 4;
    *strict = stage == 4 && !touch_right;
}

static void tc_state(const sim_task_t *t, float *out) { bimanual_state(t, &((transfer_cube_t *)t->priv)->robot, out); }
static void tc_velocity(const sim_task_t *t, float *out) { bimanual_velocity(t, &((transfer_cube_t *)t->priv)->robot, out); }
static int tc_expert(sim_task_t *t, float *action) { return bimanual_expert(t, &((transfer_cube_t *)t->priv)->robot, action); }

const sim_task_class_t sim_task_transfer_cube = {
    .name = "transfer_cube",
    .scene = "transfer_cube",
    .default_height = 120,
    .default_width = 160,
    .control_hz = 50,
    .max_steps = BIMANUAL_STEPS,
    .max_reward = 4,
    .action_space = "joint_position",
    .priv_size = sizeof(transfer_cube_t),
    .training_camera = "top",
    .init = tc_init,
    .reset = tc_reset,
    .control = tc_control,
    .evaluate = tc_evaluate,
    .state = tc_state,
    .velocity = tc_velocity,
    .expert = tc_expert,
    .destroy = tc_destroy,
};
