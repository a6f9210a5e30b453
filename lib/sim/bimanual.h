/* bimanual.h — what the two bimanual tasks (transfer_cube, insertion) share: the two arms of
 * data/bimanual_robots.xml (joint, actuator and geom ids), the 14-D state/action layout
 * [left 6 joints, left gripper, right 6 joints, right gripper] with grippers normalized 0 closed
 * .. 1 open, and the scripted-expert machinery: end-effector waypoints per arm, turned into a
 * joint-space trajectory by damped-least-squares inverse kinematics on a scratch copy of the
 * state, which the expert then replays as its actions. */
#ifndef ILT_SIM_BIMANUAL_H
#define ILT_SIM_BIMANUAL_H

#include "sim/task_impl.h"

#define BIMANUAL_DIM 14
#define BIMANUAL_STEPS 400
#define BIMANUAL_MAX_WAYPOINTS 16

typedef struct {
    int joint[8], qpos[8], dof[8];   /* 6 arm joints, finger a, finger b */
    int actuator[8];
    int grip_site;
    int hand_geoms[3];            /* palm, pad a, pad b */
} bimanual_arm_t;

/* Gripper pose target: grip-site position at a control step and gripper opening (0..1). */
typedef struct {
    int step;
    double pos[3];
    double gripper;
} bimanual_waypoint_t;

typedef struct {
    bimanual_arm_t arm[2];        /* 0 left, 1 right */
    mjData *scratch;              /* inverse kinematics works here */
    mjtNum *jacp, *jacr;          /* 3 x nv Jacobians of a grip site */
    float plan[BIMANUAL_STEPS][BIMANUAL_DIM];
} bimanual_t;

/* Orientations of the grip site (columns: gripper axes in world coordinates, row-major like
 * MuJoCo's xmat): pointing down with the fingers closing along y, or pointing horizontally
 * towards the other arm. */
extern const double bimanual_left_down[9], bimanual_right_down[9], bimanual_left_forward[9];

int bimanual_init(sim_task_t *task, bimanual_t *b);
void bimanual_destroy(bimanual_t *b);
/* Fill the plan from waypoints (linear interpolation between them, held after the last) and set
 * the robot's initial joint positions and controls to the plan's first step. Fails when a
 * waypoint cannot be reached. */
int bimanual_plan(sim_task_t *task, bimanual_t *b,
                  const bimanual_waypoint_t *left, int n_left, const double left_rotation[9],
                  const bimanual_waypoint_t *right, int n_right, const double right_rotation[9]);
void bimanual_state(const sim_task_t *task, const bimanual_t *b, float *out);
void bimanual_velocity(const sim_task_t *task, const bimanual_t *b, float *out);
int bimanual_control(sim_task_t *task, const bimanual_t *b, const float *action);
int bimanual_expert(sim_task_t *task, const bimanual_t *b, float *action);
/* Fill the info fields the two tasks share. */
void bimanual_info(sim_task_t *task);

#endif
