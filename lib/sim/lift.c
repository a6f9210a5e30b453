/* lift.c — the single-arm lift task (robomimic-style) and its scripted expert.
 *
 * Scene data/lift.xml: a 6-DoF arm with a parallel-jaw gripper and a 4 cm cube placed uniformly
 * at random (x, y within +-5 cm of the table centre, any yaw) on the table. 20 Hz control,
 * 400 steps; the episode is not cut short on success (a caller such as rollout may stop early).
 *
 * Action, 7 values in [-1, 1] (clipped), as robosuite's OSC_POSE controller reads them:
 * end-effector position delta (x 0.05 m per unit, world frame), rotation delta (axis-angle in the
 * world frame, 0.5 rad per unit), gripper (-1 open, +1 closed). A differential-IK controller turns
 * the pose delta into joint position targets: damped least squares on the grip site's Jacobian
 * (mj_jacSite), from the measured joint positions, with gravity compensation applied as a joint
 * force. The position actuators then track the targets for the 25 physics steps of the control
 * step; they cover about three quarters of a full-scale 5 cm step within it, and the next step
 * plans again from the measured pose (robosuite's OSC is softer still), so an action is closer to
 * a velocity command than to an exact displacement.
 *
 * lift_abs is the same world with absolute actions, as Diffusion Policy runs robomimic with
 * (its abs_action datasets, robosuite's OSC with control_delta off): 10 values, the grip site's
 * target position (3, world, metres), its target orientation as the first two columns of the
 * rotation matrix (6: the hand's x and y axes in the world, re-orthonormalised by Gram-Schmidt)
 * and the gripper (-1..1, as above). The controller turns the target into the twist the delta
 * action would have given, clipped to the same 5 cm and 0.5 rad per axis, from the measured pose:
 * a policy that executes several predicted targets in a row steers to each from where the hand
 * really is, instead of adding up steps. The expert computes its delta action and records the
 * target it leads to, so the two tasks' experts move the arm the same way.
 *
 * Observations (robomimic names): robot0_eef_pos (3, world), robot0_eef_quat (4, x y z w as
 * robosuite writes quaternions), robot0_gripper_qpos (2, finger openings in metres),
 * robot0_joint_pos (6), object (10: cube position, cube quaternion x y z w, eef position minus cube
 * position, as robosuite orders them). State (qpos) is the 6 arm joints and 2 fingers; qvel likewise.
 *
 * Reward is sparse: 1 while the cube's bottom is more than 4 cm above the table (stage 1 =
 * success), else 0.
 *
 * Expert: a small state machine over end-effector waypoints (above the cube with the fingers
 * across one pair of its faces; down to grasp height; close; lift 15 cm), each action the
 * proportional step towards the waypoint expressed in the action's units. */
#include "sim/task_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/parse.h"

enum { LIFT_ARM_JOINTS = 6, LIFT_FINGERS = 2, LIFT_ABS_ACTION_DIM = 10 };

#define LIFT_POS_SCALE 0.05   /* metres per unit of action */
#define LIFT_ROT_SCALE 0.5    /* radians per unit of action */
#define LIFT_IK_DAMPING 0.05  /* damped least squares lambda */
#define LIFT_FINGER_OPEN 0.04 /* metres per finger */
#define LIFT_CUBE_HALF 0.02
#define LIFT_TABLE_TOP 0.8
#define LIFT_SUCCESS_HEIGHT 0.04 /* cube bottom above the table */
#define LIFT_CUBE_RANGE 0.05     /* +- around the table centre */

/* Home pose: grip site about 0.25 m above the table, 0.45 m in front of the base, pointing down. */
static const double lift_home[LIFT_ARM_JOINTS] = {0, 0.15, 1.732, 0, 1.259, 0};
#define LIFT_HOME_NOISE 0.02 /* radians, uniform, per joint (robosuite's initialization noise) */

typedef enum { EXPERT_APPROACH, EXPERT_DESCEND, EXPERT_CLOSE, EXPERT_LIFT } expert_phase_t;

typedef struct {
    int arm_qpos[LIFT_ARM_JOINTS], arm_dof[LIFT_ARM_JOINTS], arm_ctrl[LIFT_ARM_JOINTS];
    int finger_qpos[LIFT_FINGERS], finger_dof[LIFT_FINGERS], finger_ctrl[LIFT_FINGERS];
    double arm_range[LIFT_ARM_JOINTS][2];
    int grip_site, cube_body, cube_qpos;
    /* expert */
    expert_phase_t phase;
    int phase_start;
    double grasp_pos[3], grasp_yaw;
    double gain, max_move;   /* settings (lift_expert_option); 0: the defaults below */
    int close_steps;         /* steps the closed hand holds still before lifting; 0: the default */
    int absolute;            /* lift_abs: 10-D absolute actions */
} lift_t;

static const char *const lift_arm_joint_names[LIFT_ARM_JOINTS] = {"j1", "j2", "j3", "j4", "j5", "j6"};
static const char *const lift_finger_names[LIFT_FINGERS] = {"finger_left", "finger_right"};

enum { OBS_EEF_POS, OBS_EEF_QUAT, OBS_GRIPPER_QPOS, OBS_JOINT_POS, OBS_OBJECT, OBS_COUNT };
static const char *const lift_obs_names[OBS_COUNT] = {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos",
                                                      "robot0_joint_pos", "object"};
static const int lift_obs_dims[OBS_COUNT] = {3, 4, 2, LIFT_ARM_JOINTS, 10};

/* ---------------------------------------------------------------- setup */
static int lift_init(sim_task_t *t)
{
    lift_t *p = t->priv;
    const mjModel *m = t->m;
    for (int i = 0; i < LIFT_ARM_JOINTS; i++) {
        int j = sim_id(m, mjOBJ_JOINT, lift_arm_joint_names[i]);
        int a = sim_id(m, mjOBJ_ACTUATOR, lift_arm_joint_names[i]);
        if (j < 0 || a < 0) return -1;
        p->arm_qpos[i] = m->jnt_qposadr[j];
        p->arm_dof[i] = m->jnt_dofadr[j];
        p->arm_ctrl[i] = a;
        p->arm_range[i][0] = m->jnt_range[2 * j];
        p->arm_range[i][1] = m->jnt_range[2 * j + 1];
    }
    for (int i = 0; i < LIFT_FINGERS; i++) {
        int j = sim_id(m, mjOBJ_JOINT, lift_finger_names[i]);
        int a = sim_id(m, mjOBJ_ACTUATOR, lift_finger_names[i]);
        if (j < 0 || a < 0) return -1;
        p->finger_qpos[i] = m->jnt_qposadr[j];
        p->finger_dof[i] = m->jnt_dofadr[j];
        p->finger_ctrl[i] = a;
    }
    int cube_joint = sim_id(m, mjOBJ_JOINT, "cube");
    if ((p->grip_site = sim_id(m, mjOBJ_SITE, "grip_site")) < 0 || (p->cube_body = sim_id(m, mjOBJ_BODY, "cube")) < 0 ||
        cube_joint < 0)
        return -1;
    p->cube_qpos = m->jnt_qposadr[cube_joint];

    sim_task_info_t *info = &t->info;
    info->state_dim = LIFT_ARM_JOINTS + LIFT_FINGERS;
    info->velocity_dim = LIFT_ARM_JOINTS + LIFT_FINGERS;
    p->absolute = t->cls == &sim_task_lift_abs;
    info->action_dim = p->absolute ? LIFT_ABS_ACTION_DIM : 7;
    info->n_obs = OBS_COUNT;
    for (int i = 0; i < OBS_COUNT; i++) {
        info->obs_names[i] = lift_obs_names[i];
        info->obs_dims[i] = lift_obs_dims[i];
    }
    return 0;
}

static int lift_reset(sim_task_t *t, rng_t *rng)
{
    lift_t *p = t->priv;
    mjData *d = t->d;
    for (int i = 0; i < LIFT_ARM_JOINTS; i++) {
        double q = lift_home[i] + LIFT_HOME_NOISE * (2 * rng_uniform(rng) - 1);
        d->qpos[p->arm_qpos[i]] = q;
        d->ctrl[p->arm_ctrl[i]] = q;
    }
    for (int i = 0; i < LIFT_FINGERS; i++) {
        d->qpos[p->finger_qpos[i]] = LIFT_FINGER_OPEN;
        d->ctrl[p->finger_ctrl[i]] = LIFT_FINGER_OPEN;
    }
    double x = LIFT_CUBE_RANGE * (2 * rng_uniform(rng) - 1);
    double y = LIFT_CUBE_RANGE * (2 * rng_uniform(rng) - 1);
    double yaw = 2 * M_PI * rng_uniform(rng);
    double *cube = d->qpos + p->cube_qpos;
    cube[0] = x;
    cube[1] = y;
    cube[2] = LIFT_TABLE_TOP + LIFT_CUBE_HALF;
    cube[3] = cos(yaw / 2);
    cube[4] = 0;
    cube[5] = 0;
    cube[6] = sin(yaw / 2);
    p->phase = EXPERT_APPROACH;
    p->phase_start = 0;
    return 0;
}

/* ---------------------------------------------------------------- controller */
/* Solve the symmetric positive definite system a x = b (n <= 6) in place by Cholesky. */
static int solve_spd(double *a, double *b, int n)
{
    if (mju_cholFactor(a, n, 1e-12) < n) return -1;
    mju_cholSolve(b, a, b, n);
    return 0;
}

/* Orthonormal frame from two approximate axes (Gram-Schmidt): the rotation matrix (row-major,
 * columns x, y, z) whose first two columns are c1 and c2 made unit and orthogonal. -1 when they
 * are (nearly) zero or parallel. */
static int frame_from_columns(const double *c1, const double *c2, double *mat)
{
    double x[3], y[3], z[3];
    double nx = mju_norm3(c1);
    if (!(nx > 1e-6)) return -1;
    mju_scl3(x, c1, 1 / nx);
    double dot = mju_dot3(x, c2);
    for (int i = 0; i < 3; i++) y[i] = c2[i] - dot * x[i];
    double ny = mju_norm3(y);
    if (!(ny > 1e-6)) return -1;
    mju_scl3(y, y, 1 / ny);
    mju_cross(z, x, y);
    for (int i = 0; i < 3; i++) {
        mat[3 * i] = x[i];
        mat[3 * i + 1] = y[i];
        mat[3 * i + 2] = z[i];
    }
    return 0;
}

/* World-frame axis * angle that turns the orientation `from` into `to` (quaternions w x y z),
 * the short way round. */
static void rotation_between(const double *to, const double *from, double *rot)
{
    double inverse[4], error_quat[4];
    mju_negQuat(inverse, from);
    mju_mulQuat(error_quat, to, inverse);
    if (error_quat[0] < 0) mju_scl(error_quat, error_quat, -1, 4);
    mju_quat2Vel(rot, error_quat, 1);
}

static double clampd(double v, double limit) { return v < -limit ? -limit : v > limit ? limit : v; }

static int lift_control(sim_task_t *t, const float *action)
{
    lift_t *p = t->priv;
    const mjModel *m = t->m;
    mjData *d = t->d;

    /* Kinematics, Jacobian and bias forces of the state the action was chosen in. */
    mj_forward(m, d);
    double twist[6], gripper;
    if (p->absolute) {
        const double *eef = d->site_xpos + 3 * p->grip_site;
        double c1[3], c2[3], target_mat[9], target[4], current[4], rot[3];
        for (int i = 0; i < 3; i++) {
            twist[i] = clampd(action[i] - eef[i], LIFT_POS_SCALE);
            c1[i] = action[3 + i];
            c2[i] = action[6 + i];
        }
        if (frame_from_columns(c1, c2, target_mat) < 0)
            return error_set("lift_abs: the orientation's two columns (actions 3-8) are zero or parallel");
        mju_mat2Quat(target, target_mat);
        mju_mat2Quat(current, d->site_xmat + 9 * p->grip_site);
        rotation_between(target, current, rot);
        for (int i = 0; i < 3; i++) twist[3 + i] = clampd(rot[i], LIFT_ROT_SCALE);
        gripper = clampd(action[9], 1);
    } else {
        for (int i = 0; i < 3; i++) {
            twist[i] = LIFT_POS_SCALE * clampd(action[i], 1);
            twist[i + 3] = LIFT_ROT_SCALE * clampd(action[i + 3], 1);
        }
        gripper = clampd(action[6], 1);
    }
    double jacp[3 * 64], jacr[3 * 64];
    if (m->nv > 64) return error_set("lift: model has too many degrees of freedom");
    mj_jacSite(m, d, jacp, jacr, p->grip_site);
    double jac[6][LIFT_ARM_JOINTS];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < LIFT_ARM_JOINTS; c++) {
            jac[r][c] = jacp[r * m->nv + p->arm_dof[c]];
            jac[r + 3][c] = jacr[r * m->nv + p->arm_dof[c]];
        }
    /* dq = J^T (J J^T + lambda^2 I)^-1 twist */
    double jjt[36];
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 6; c++) {
            double s = r == c ? LIFT_IK_DAMPING * LIFT_IK_DAMPING : 0;
            for (int k = 0; k < LIFT_ARM_JOINTS; k++) s += jac[r][k] * jac[c][k];
            jjt[r * 6 + c] = s;
        }
    if (solve_spd(jjt, twist, 6) < 0) return error_set("lift: the IK system is singular");
    for (int k = 0; k < LIFT_ARM_JOINTS; k++) {
        double dq = 0;
        for (int r = 0; r < 6; r++) dq += jac[r][k] * twist[r];
        double q = d->qpos[p->arm_qpos[k]] + dq;
        if (q < p->arm_range[k][0]) q = p->arm_range[k][0];
        if (q > p->arm_range[k][1]) q = p->arm_range[k][1];
        d->ctrl[p->arm_ctrl[k]] = q;
        d->qfrc_applied[p->arm_dof[k]] = d->qfrc_bias[p->arm_dof[k]]; /* gravity compensation */
    }
    double finger = LIFT_FINGER_OPEN * (1 - gripper) / 2;
    for (int i = 0; i < LIFT_FINGERS; i++) d->ctrl[p->finger_ctrl[i]] = finger;
    return 0;
}

/* ---------------------------------------------------------------- status and observations */
static double cube_bottom_height(const sim_task_t *t)
{
    const lift_t *p = t->priv;
    return t->d->qpos[p->cube_qpos + 2] - LIFT_CUBE_HALF - LIFT_TABLE_TOP;
}

static void lift_evaluate(sim_task_t *t, sim_status_t *status, int *strict_now, int *lenient_now)
{
    int lifted = cube_bottom_height(t) > LIFT_SUCCESS_HEIGHT;
    status->stage = lifted;
    status->reward = lifted;
    *strict_now = lifted;
    *lenient_now = lifted;
}

static void lift_state(const sim_task_t *t, float *out)
{
    const lift_t *p = t->priv;
    for (int i = 0; i < LIFT_ARM_JOINTS; i++) out[i] = (float)t->d->qpos[p->arm_qpos[i]];
    for (int i = 0; i < LIFT_FINGERS; i++) out[LIFT_ARM_JOINTS + i] = (float)t->d->qpos[p->finger_qpos[i]];
}

static void lift_velocity(const sim_task_t *t, float *out)
{
    const lift_t *p = t->priv;
    for (int i = 0; i < LIFT_ARM_JOINTS; i++) out[i] = (float)t->d->qvel[p->arm_dof[i]];
    for (int i = 0; i < LIFT_FINGERS; i++) out[LIFT_ARM_JOINTS + i] = (float)t->d->qvel[p->finger_dof[i]];
}

/* MuJoCo's w x y z to robosuite's x y z w. */
static void quat_xyzw(const double *wxyz, float *out)
{
    out[0] = (float)wxyz[1];
    out[1] = (float)wxyz[2];
    out[2] = (float)wxyz[3];
    out[3] = (float)wxyz[0];
}

static int lift_obs(const sim_task_t *t, int index, float *out)
{
    const lift_t *p = t->priv;
    const mjData *d = t->d;
    const double *eef = d->site_xpos + 3 * p->grip_site;
    switch (index) {
    case OBS_EEF_POS:
        for (int i = 0; i < 3; i++) out[i] = (float)eef[i];
        return 0;
    case OBS_EEF_QUAT: {
        double q[4];
        mju_mat2Quat(q, d->site_xmat + 9 * p->grip_site);
        quat_xyzw(q, out);
        return 0;
    }
    case OBS_GRIPPER_QPOS:
        for (int i = 0; i < LIFT_FINGERS; i++) out[i] = (float)d->qpos[p->finger_qpos[i]];
        return 0;
    case OBS_JOINT_POS:
        for (int i = 0; i < LIFT_ARM_JOINTS; i++) out[i] = (float)d->qpos[p->arm_qpos[i]];
        return 0;
    case OBS_OBJECT: {
        const double *cube = d->qpos + p->cube_qpos;
        for (int i = 0; i < 3; i++) out[i] = (float)cube[i];
        quat_xyzw(cube + 3, out + 3);
        for (int i = 0; i < 3; i++) out[7 + i] = (float)(eef[i] - cube[i]);
        return 0;
    }
    }
    return error_set("lift has no observation %d", index);
}

/* ---------------------------------------------------------------- expert */
/* Yaw of the cube's x axis, reduced to the face direction nearest `reference` (the cube looks the
 * same every quarter turn). */
static double cube_yaw_near(const double *cube_quat, double reference)
{
    double mat[9];
    mju_quat2Mat(mat, cube_quat);
    double yaw = atan2(mat[3], mat[0]);
    while (yaw - reference > M_PI / 4) yaw -= M_PI / 2;
    while (yaw - reference < -M_PI / 4) yaw += M_PI / 2;
    return yaw;
}

/* Yaw of the hand's finger axis (hand y) in the world. */
static double hand_yaw(const double *site_mat)
{
    return atan2(site_mat[4], site_mat[1]); /* column 1 = hand y axis */
}

/* Orientation with the fingers pointing down and opening along the world direction `yaw`. */
static void grasp_orientation(double yaw, double quat[4])
{
    double y_axis[3] = {cos(yaw), sin(yaw), 0}, z_axis[3] = {0, 0, -1}, x_axis[3];
    mju_cross(x_axis, y_axis, z_axis);
    double mat[9] = {x_axis[0], y_axis[0], z_axis[0], x_axis[1], y_axis[1], z_axis[1], x_axis[2], y_axis[2], z_axis[2]};
    mju_mat2Quat(quat, mat);
}

/* The defaults of the expert's settings gain and max_move (rollout -p scripted --policy-arg). With
 * them the expert moves over the cube in two or three steps and holds still in x and y after it:
 * a demonstration shows where the cube is only in its first actions and never a correction. A
 * lower gain (e.g. 0.3) approaches over about ten steps, each action proportional to the offset
 * left, which an image policy can read from its cameras at every step. */
#define EXPERT_GAIN 1.0     /* fraction of the remaining error corrected per step */
#define EXPERT_MAX_MOVE 0.35 /* action units per step */
#define EXPERT_HOVER 0.10   /* approach height above the cube centre */
#define EXPERT_LIFT_HEIGHT 0.15
#define EXPERT_CLOSE_STEPS 8 /* the fingers meet the cube in 1-3 steps; the hand then holds still */

static int lift_expert(sim_task_t *t, float *action)
{
    lift_t *p = t->priv;
    const mjData *d = t->d;
    const double *eef = d->site_xpos + 3 * p->grip_site;
    const double *eef_mat = d->site_xmat + 9 * p->grip_site;
    const double *cube = d->qpos + p->cube_qpos;
    int step = t->status.step;

    double target[3], yaw;
    double gripper = -1;
    for (;;) {
        int elapsed = step - p->phase_start;
        if (p->phase == EXPERT_APPROACH) {
            yaw = cube_yaw_near(cube + 3, hand_yaw(eef_mat));
            target[0] = cube[0];
            target[1] = cube[1];
            target[2] = cube[2] + EXPERT_HOVER;
        } else if (p->phase == EXPERT_DESCEND) {
            yaw = p->grasp_yaw;
            target[0] = cube[0];
            target[1] = cube[1];
            target[2] = cube[2] + 0.005;
        } else if (p->phase == EXPERT_CLOSE) {
            yaw = p->grasp_yaw;
            memcpy(target, p->grasp_pos, sizeof target);
            gripper = 1;
        } else {
            yaw = p->grasp_yaw;
            target[0] = p->grasp_pos[0];
            target[1] = p->grasp_pos[1];
            target[2] = p->grasp_pos[2] + EXPERT_LIFT_HEIGHT;
            gripper = 1;
        }
        double dist = sqrt((target[0] - eef[0]) * (target[0] - eef[0]) + (target[1] - eef[1]) * (target[1] - eef[1]) +
                           (target[2] - eef[2]) * (target[2] - eef[2]));
        double yaw_error = fabs(remainder(yaw - hand_yaw(eef_mat), M_PI));
        expert_phase_t next = p->phase;
        if (p->phase == EXPERT_APPROACH && ((dist < 0.01 && yaw_error < 0.05) || elapsed >= 80)) {
            p->grasp_yaw = yaw;
            next = EXPERT_DESCEND;
        } else if (p->phase == EXPERT_DESCEND && (dist < 0.005 || elapsed >= 50)) {
            memcpy(p->grasp_pos, eef, sizeof p->grasp_pos);
            next = EXPERT_CLOSE;
        } else if (p->phase == EXPERT_CLOSE && elapsed >= (p->close_steps > 0 ? p->close_steps : EXPERT_CLOSE_STEPS)) {
            next = EXPERT_LIFT;
        }
        if (next == p->phase) break;
        p->phase = next;
        p->phase_start = step;
    }

    double desired[4], current[4], rot[3];
    grasp_orientation(yaw, desired);
    mju_mat2Quat(current, eef_mat);
    rotation_between(desired, current, rot); /* world-frame axis * angle */
    const double gain = p->gain > 0 ? p->gain : EXPERT_GAIN, max_move = p->max_move > 0 ? p->max_move : EXPERT_MAX_MOVE;
    double delta[6]; /* the delta action, rounded to float as lift records it */
    for (int i = 0; i < 3; i++) {
        delta[i] = (float)clampd(gain * (target[i] - eef[i]) / LIFT_POS_SCALE, max_move);
        delta[3 + i] = (float)clampd(gain * rot[i] / LIFT_ROT_SCALE, max_move);
    }
    if (!p->absolute) {
        for (int i = 0; i < 6; i++) action[i] = (float)delta[i];
        action[6] = (float)gripper;
        return 0;
    }
    /* lift_abs: the pose the delta action leads to. */
    double turn[3], turn_quat[4], goal[4], goal_mat[9];
    for (int i = 0; i < 3; i++) turn[i] = LIFT_ROT_SCALE * delta[3 + i];
    double angle = mju_norm3(turn);
    turn_quat[0] = 1;
    turn_quat[1] = turn_quat[2] = turn_quat[3] = 0;
    if (angle > 0) {
        mju_scl3(turn, turn, 1 / angle);
        mju_axisAngle2Quat(turn_quat, turn, angle);
    }
    mju_mulQuat(goal, turn_quat, current);
    mju_quat2Mat(goal_mat, goal);
    for (int i = 0; i < 3; i++) {
        action[i] = (float)(eef[i] + LIFT_POS_SCALE * delta[i]);
        action[3 + i] = (float)goal_mat[3 * i];
        action[6 + i] = (float)goal_mat[3 * i + 1];
    }
    action[9] = (float)gripper;
    return 0;
}

static int lift_expert_option(sim_task_t *t, const char *key, const char *value)
{
    lift_t *p = t->priv;
    if (!strcmp(key, "close_steps")) {
        long n;
        if (parse_long(value, 1, 50, &n) < 0)
            return error_set("lift expert: close_steps=%s: expected a whole number from 1 to 50", value);
        p->close_steps = (int)n;
        return 0;
    }
    double *slot = !strcmp(key, "gain") ? &p->gain : !strcmp(key, "max_move") ? &p->max_move : NULL;
    if (!slot) return error_set("lift expert: no setting '%s' (it has gain, max_move and close_steps)", key);
    double v;
    if (parse_double(value, 0, 1, &v) < 0 || v == 0)
        return error_set("lift expert: %s=%s: expected a number in (0, 1]", key, value);
    *slot = v;
    return 0;
}

/* lift and lift_abs differ only in their name and action space (lift_control, lift_expert). */
#define LIFT_CLASS_COMMON                                                                                      \
    .scene = "lift", .default_height = 84, .default_width = 84, .control_hz = 20, .max_steps = 400,               \
    .max_reward = 1, .priv_size = sizeof(lift_t), .training_camera = "agentview", .init = lift_init,             \
    .reset = lift_reset, .control = lift_control, .evaluate = lift_evaluate, .state = lift_state,               \
    .velocity = lift_velocity, .obs = lift_obs, .expert = lift_expert, .expert_option = lift_expert_option

const sim_task_class_t sim_task_lift = {.name = "lift", .action_space = "eef_delta", LIFT_CLASS_COMMON};
const sim_task_class_t sim_task_lift_abs = {.name = "lift_abs", .action_space = "eef_absolute", LIFT_CLASS_COMMON};
