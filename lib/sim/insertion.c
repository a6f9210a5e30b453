/* insertion.c — bimanual peg insertion (ACT's sim_insertion, our own scene): the left arm picks
 * up a peg, the right arm a socket (a square tube with a pin inside), both placed at random,
 * and the peg goes into the socket until it touches the pin, both held in the air.
 * Reward stages: 1 both grippers touch their objects, 2 both objects are off the table, 3 the peg
 * touches the socket with both in the air, 4 the peg touches the pin with both in the air.
 * Success (strict and lenient alike): stage 4. */
#include <string.h>

#include "sim/bimanual.h"
#include "util/error.h"

#define PEG_X_MIN -0.20
#define PEG_X_MAX -0.08
#define SOCKET_X_MIN 0.08
#define SOCKET_X_MAX 0.20
#define Y_MIN -0.10
#define Y_MAX 0.10
#define PEG_HALF_LENGTH 0.07
#define PEG_HALF_HEIGHT 0.015
#define SOCKET_HALF_HEIGHT 0.03
#define PIN_FACE_X 0.032        /* the pin's face towards the opening, from the socket centre */

typedef struct {
    bimanual_t robot;
    int peg_qpos, socket_qpos;
    int peg_geom, pin_geom, table_geom;
    int socket_geoms[5];
} insertion_t;

static int ins_init(sim_task_t *t)
{
    insertion_t *p = t->priv;
    if (bimanual_init(t, &p->robot) < 0) return -1;
    int peg = sim_id(t->m, mjOBJ_JOINT, "peg"), socket = sim_id(t->m, mjOBJ_JOINT, "socket");
    if (peg < 0 || socket < 0) return -1;
    p->peg_qpos = t->m->jnt_qposadr[peg];
    p->socket_qpos = t->m->jnt_qposadr[socket];
    static const char *const parts[5] = {"socket_bottom", "socket_top", "socket_side_a", "socket_side_b", "pin"};
    for (int i = 0; i < 5; i++)
        if ((p->socket_geoms[i] = sim_id(t->m, mjOBJ_GEOM, parts[i])) < 0) return -1;
    if ((p->peg_geom = sim_id(t->m, mjOBJ_GEOM, "peg")) < 0 || (p->table_geom = sim_id(t->m, mjOBJ_GEOM, "table")) < 0)
        return -1;
    p->pin_geom = p->socket_geoms[4];
    bimanual_info(t);
    return 0;
}

static void ins_destroy(sim_task_t *t) { bimanual_destroy(&((insertion_t *)t->priv)->robot); }

static void place(double *q, double x, double y, double z)
{
    q[0] = x; q[1] = y; q[2] = z;
    q[3] = 1; q[4] = q[5] = q[6] = 0;
}

static int ins_reset(sim_task_t *t, rng_t *rng)
{
    insertion_t *p = t->priv;
    double px = PEG_X_MIN + (PEG_X_MAX - PEG_X_MIN) * rng_uniform(rng);
    double py = Y_MIN + (Y_MAX - Y_MIN) * rng_uniform(rng);
    double sx = SOCKET_X_MIN + (SOCKET_X_MAX - SOCKET_X_MIN) * rng_uniform(rng);
    double sy = Y_MIN + (Y_MAX - Y_MIN) * rng_uniform(rng);
    place(t->d->qpos + p->peg_qpos, px, py, PEG_HALF_HEIGHT);
    place(t->d->qpos + p->socket_qpos, sx, sy, SOCKET_HALF_HEIGHT);

    /* Both hands point down and hold the upper half of their object: the left one 45 mm behind
     * the peg's centre, the right one 35 mm past the socket's centre (over the pin). */
    const double tip = 0.014, peg_grip = -0.045, socket_grip = 0.035;
    const double meet[3] = {0.04, 0.0, 0.21};           /* socket centre during insertion */
    const double inserted = meet[0] + PIN_FACE_X - PEG_HALF_LENGTH + 0.004;   /* peg centre x */
    double peg_z = PEG_HALF_HEIGHT + tip, socket_z = SOCKET_HALF_HEIGHT + tip;
    /* Lift first, meet with the peg's tip 3 cm before the opening, then push it in. */
    const double lift_z = meet[2] + tip, before = inserted - 0.13;
    bimanual_waypoint_t left[] = {
        {0, {-0.22, 0.0, 0.24}, 1},
        {60, {px + peg_grip, py, 0.14}, 1},
        {100, {px + peg_grip, py, peg_z}, 1},
        {115, {px + peg_grip, py, peg_z}, 0},
        {135, {px + peg_grip, py, peg_z}, 0},
        {175, {px + peg_grip, py, lift_z}, 0},
        {225, {before + peg_grip, meet[1], lift_z}, 0},
        {245, {before + peg_grip, meet[1], lift_z}, 0},
        {310, {inserted + peg_grip, meet[1], lift_z}, 0},
    };
    bimanual_waypoint_t right[] = {
        {0, {0.22, 0.0, 0.24}, 1},
        {60, {sx + socket_grip, sy, 0.14}, 1},
        {100, {sx + socket_grip, sy, socket_z}, 1},
        {115, {sx + socket_grip, sy, socket_z}, 0},
        {135, {sx + socket_grip, sy, socket_z}, 0},
        {175, {sx + socket_grip, sy, lift_z}, 0},
        {220, {meet[0] + socket_grip, meet[1], lift_z}, 0},
    };
    return bimanual_plan(t, &p->robot, left, sizeof left / sizeof left[0], bimanual_left_down,
                         right, sizeof right / sizeof right[0], bimanual_right_down);
}

static int ins_control(sim_task_t *t, const float *action)
{
    return bimanual_control(t, &((insertion_t *)t->priv)->robot, action);
}

static void ins_evaluate(sim_task_t *t, sim_status_t *st, int *strict, int *lenient)
{
    insertion_t *p = t->priv;
    const int *peg = &p->peg_geom, *table = &p->table_geom;
    int touch_left = sim_geoms_touch(t->d, p->robot.arm[0].hand_geoms, 3, peg, 1);
    int touch_right = sim_geoms_touch(t->d, p->robot.arm[1].hand_geoms, 3, p->socket_geoms, 4);
    int peg_table = sim_geoms_touch(t->d, peg, 1, table, 1);
    int socket_table = sim_geoms_touch(t->d, p->socket_geoms, 5, table, 1);
    int peg_socket = sim_geoms_touch(t->d, peg, 1, p->socket_geoms, 4);
    int peg_pin = sim_geoms_touch(t->d, peg, 1, &p->pin_geom, 1);
    int lifted = !peg_table && !socket_table;
    int stage = 0;
    if (touch_left && touch_right) stage = 1;
    if (touch_left && touch_right && lifted) stage = 2;
    if (peg_socket && lifted) stage = 3;
    if (peg_pin && lifted) stage = 4;
    st->stage = stage;
    st->reward = stage;
    *strict = *lenient = stage == 4;
}

static void ins_state(const sim_task_t *t, float *out) { bimanual_state(t, &((insertion_t *)t->priv)->robot, out); }
static void ins_velocity(const sim_task_t *t, float *out) { bimanual_velocity(t, &((insertion_t *)t->priv)->robot, out); }
static int ins_expert(sim_task_t *t, float *action) { return bimanual_expert(t, &((insertion_t *)t->priv)->robot, action); }

const sim_task_class_t sim_task_insertion = {
    .name = "insertion",
    .scene = "insertion",
    .default_height = 120,
    .default_width = 160,
    .control_hz = 50,
    .max_steps = BIMANUAL_STEPS,
    .max_reward = 4,
    .action_space = "joint_position",
    .priv_size = sizeof(insertion_t),
    .training_camera = "top",
    .init = ins_init,
    .reset = ins_reset,
    .control = ins_control,
    .evaluate = ins_evaluate,
    .state = ins_state,
    .velocity = ins_velocity,
    .expert = ins_expert,
    .destroy = ins_destroy,
};
