/* bimanual.c — the two-arm robot of the bimanual tasks: 14-D state/action mapping, gripper
 * normalization, and the scripted expert's planner (waypoints -> damped-least-squares IK ->
 * joint trajectory replayed as actions, as ACT's scripted policies do with mocap). */
#include "sim/bimanual.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Finger slide range (m): 0 = closed target, 1 = open. The closed target lies inside any
 * object, so a closed gripper squeezes with kp * depth. */
#define FINGER_CLOSED 0.003
#define FINGER_OPEN 0.047

const double bimanual_left_down[9] = {0, 0, 1, 0, 1, 0, -1, 0, 0};
const double bimanual_right_down[9] = {0, 0, -1, 0, -1, 0, -1, 0, 0};
const double bimanual_left_forward[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

static const char *const joint_names[8] = {"waist", "shoulder", "elbow", "forearm_roll",
                                           "wrist_angle", "wrist_rotate", "finger_a", "finger_b"};

int bimanual_init(sim_task_t *t, bimanual_t *b)
{
    static const char *const sides[2] = {"left", "right"};
    char name[64];
    for (int s = 0; s < 2; s++) {
        bimanual_arm_t *a = &b->arm[s];
        for (int j = 0; j < 8; j++) {
            snprintf(name, sizeof name, "%s_%s", sides[s], joint_names[j]);
            int id = sim_id(t->m, mjOBJ_JOINT, name);
            if (id < 0) return -1;
            a->joint[j] = id;
            a->qpos[j] = t->m->jnt_qposadr[id];
            a->dof[j] = t->m->jnt_dofadr[id];
            if ((a->actuator[j] = sim_id(t->m, mjOBJ_ACTUATOR, name)) < 0) return -1;
        }
        snprintf(name, sizeof name, "%s_grip", sides[s]);
        if ((a->grip_site = sim_id(t->m, mjOBJ_SITE, name)) < 0) return -1;
        static const char *const hand[3] = {"palm", "pad_a", "pad_b"};
        for (int g = 0; g < 3; g++) {
            snprintf(name, sizeof name, "%s_%s", sides[s], hand[g]);
            if ((a->hand_geoms[g] = sim_id(t->m, mjOBJ_GEOM, name)) < 0) return -1;
        }
    }
    b->jacp = calloc(3 * (size_t)t->m->nv, sizeof *b->jacp);
    b->jacr = calloc(3 * (size_t)t->m->nv, sizeof *b->jacr);
    if (!(b->scratch = mj_makeData(t->m)) || !b->jacp || !b->jacr)
        return error_set("out of memory for the expert's scratch state");
    return 0;
}

void bimanual_destroy(bimanual_t *b)
{
    if (b->scratch) mj_deleteData(b->scratch);
    free(b->jacp);
    free(b->jacr);
    b->scratch = NULL;
    b->jacp = b->jacr = NULL;
}

void bimanual_info(sim_task_t *t)
{
    t->info.state_dim = BIMANUAL_DIM;
    t->info.velocity_dim = BIMANUAL_DIM;
    t->info.action_dim = BIMANUAL_DIM;
    t->info.n_obs = 0;
}

void bimanual_state(const sim_task_t *t, const bimanual_t *b, float *out)
{
    for (int s = 0; s < 2; s++) {
        const bimanual_arm_t *a = &b->arm[s];
        for (int j = 0; j < 6; j++) out[7 * s + j] = (float)t->d->qpos[a->qpos[j]];
        double finger = 0.5 * (t->d->qpos[a->qpos[6]] + t->d->qpos[a->qpos[7]]);
        out[7 * s + 6] = (float)((finger - FINGER_CLOSED) / (FINGER_OPEN - FINGER_CLOSED));
    }
}

void bimanual_velocity(const sim_task_t *t, const bimanual_t *b, float *out)
{
    for (int s = 0; s < 2; s++) {
        const bimanual_arm_t *a = &b->arm[s];
        for (int j = 0; j < 6; j++) out[7 * s + j] = (float)t->d->qvel[a->dof[j]];
        double finger = 0.5 * (t->d->qvel[a->dof[6]] + t->d->qvel[a->dof[7]]);
        out[7 * s + 6] = (float)(finger / (FINGER_OPEN - FINGER_CLOSED));
    }
}

static double clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

int bimanual_control(sim_task_t *t, const bimanual_t *b, const float *action)
{
    const mjModel *m = t->m;
    for (int s = 0; s < 2; s++) {
        const bimanual_arm_t *a = &b->arm[s];
        for (int j = 0; j < 6; j++) {
            int u = a->actuator[j];
            t->d->ctrl[u] = clamp(action[7 * s + j], m->actuator_ctrlrange[2 * u], m->actuator_ctrlrange[2 * u + 1]);
        }
        double g = clamp(action[7 * s + 6], 0, 1);
        double finger = FINGER_CLOSED + g * (FINGER_OPEN - FINGER_CLOSED);
        t->d->ctrl[a->actuator[6]] = finger;
        t->d->ctrl[a->actuator[7]] = finger;
    }
    return 0;
}

int bimanual_expert(sim_task_t *t, const bimanual_t *b, float *action)
{
    /* The action at step t is the planned pose of step t+1: where the arm should be after it. */
    int step = t->status.step + 1 < BIMANUAL_STEPS ? t->status.step + 1 : BIMANUAL_STEPS - 1;
    memcpy(action, b->plan[step], sizeof b->plan[step]);
    return 0;
}

/* ---------------------------------------------------------------- inverse kinematics */

/* Solve A x = y for a 6x6 symmetric positive definite A (Gaussian elimination, partial pivot). */
static void solve6(double A[6][6], double y[6])
{
    for (int c = 0; c < 6; c++) {
        int p = c;
        for (int r = c + 1; r < 6; r++)
            if (fabs(A[r][c]) > fabs(A[p][c])) p = r;
        for (int k = 0; k < 6; k++) { double tmp = A[c][k]; A[c][k] = A[p][k]; A[p][k] = tmp; }
        double tmp = y[c]; y[c] = y[p]; y[p] = tmp;
        for (int r = c + 1; r < 6; r++) {
            double f = A[r][c] / A[c][c];
            for (int k = c; k < 6; k++) A[r][k] -= f * A[c][k];
            y[r] -= f * y[c];
        }
    }
    for (int c = 5; c >= 0; c--) {
        for (int k = c + 1; k < 6; k++) y[c] -= A[c][k] * y[k];
        y[c] /= A[c][c];
    }
}

/* Move arm a's six joints in b->scratch (warm-started from their current values) so that its
 * grip site reaches pos with orientation rot. Returns the remaining position error (m). */
static double solve_ik(const mjModel *m, mjData *d, const bimanual_t *b, const bimanual_arm_t *a,
                       const double pos[3], const double rot[9], int iterations)
{
    mjtNum *jp = b->jacp, *jr = b->jacr;
    double error_pos = 1e9;
    for (int it = 0; it < iterations; it++) {
        mj_kinematics(m, d);
        mj_comPos(m, d);
        const double *x = d->site_xpos + 3 * a->grip_site, *R = d->site_xmat + 9 * a->grip_site;
        double e[6];
        for (int i = 0; i < 3; i++) e[i] = pos[i] - x[i];
        /* rotation error: 0.5 * sum_j current_axis_j x desired_axis_j */
        e[3] = e[4] = e[5] = 0;
        for (int j = 0; j < 3; j++) {
            double c[3] = {R[0 + j], R[3 + j], R[6 + j]}, w[3] = {rot[0 + j], rot[3 + j], rot[6 + j]};
            e[3] += 0.5 * (c[1] * w[2] - c[2] * w[1]);
            e[4] += 0.5 * (c[2] * w[0] - c[0] * w[2]);
            e[5] += 0.5 * (c[0] * w[1] - c[1] * w[0]);
        }
        error_pos = sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
        double error_rot = sqrt(e[3] * e[3] + e[4] * e[4] + e[5] * e[5]);
        if (error_pos < 1e-6 && error_rot < 1e-5) break;
        mj_jacSite(m, d, jp, jr, a->grip_site);
        double J[6][6], A[6][6], y[6];
        for (int j = 0; j < 6; j++)
            for (int i = 0; i < 3; i++) {
                J[i][j] = jp[i * m->nv + a->dof[j]];
                J[3 + i][j] = jr[i * m->nv + a->dof[j]];
            }
        const double damping = 1e-4;
        for (int r = 0; r < 6; r++) {
            for (int c = 0; c < 6; c++) {
                double sum = 0;
                for (int k = 0; k < 6; k++) sum += J[r][k] * J[c][k];
                A[r][c] = sum + (r == c ? damping : 0);
            }
            y[r] = e[r];
        }
        solve6(A, y);
        double step_norm = 0;
        double dq[6];
        for (int j = 0; j < 6; j++) {
            dq[j] = 0;
            for (int r = 0; r < 6; r++) dq[j] += J[r][j] * y[r];
            step_norm += dq[j] * dq[j];
        }
        double scale = sqrt(step_norm) > 0.5 ? 0.5 / sqrt(step_norm) : 1;
        for (int j = 0; j < 6; j++) {
            int jid = a->joint[j];
            double q = d->qpos[a->qpos[j]] + scale * dq[j];
            if (m->jnt_limited[jid]) q = clamp(q, m->jnt_range[2 * jid], m->jnt_range[2 * jid + 1]);
            d->qpos[a->qpos[j]] = q;
        }
    }
    return error_pos;
}

static void interpolate(const bimanual_waypoint_t *w, int n, int step, double pos[3], double *gripper)
{
    if (step <= w[0].step) {
        memcpy(pos, w[0].pos, sizeof w[0].pos);
        *gripper = w[0].gripper;
        return;
    }
    for (int i = 0; i + 1 < n; i++)
        if (step <= w[i + 1].step) {
            double f = (double)(step - w[i].step) / (w[i + 1].step - w[i].step);
            for (int k = 0; k < 3; k++) pos[k] = w[i].pos[k] + f * (w[i + 1].pos[k] - w[i].pos[k]);
            *gripper = w[i].gripper + f * (w[i + 1].gripper - w[i].gripper);
            return;
        }
    memcpy(pos, w[n - 1].pos, sizeof w[n - 1].pos);
    *gripper = w[n - 1].gripper;
}

/* A comfortable elbow-up starting guess for the first IK solve of each arm. */
static const double initial_guess[6] = {0, 0.3, 1.0, 0, 0.8, 0};

int bimanual_plan(sim_task_t *t, bimanual_t *b,
                  const bimanual_waypoint_t *left, int n_left, const double left_rotation[9],
                  const bimanual_waypoint_t *right, int n_right, const double right_rotation[9])
{
    const mjModel *m = t->m;
    mjData *d = b->scratch;
    const bimanual_waypoint_t *w[2] = {left, right};
    int n[2] = {n_left, n_right};
    const double *rot[2] = {left_rotation, right_rotation};
    mju_copy(d->qpos, t->d->qpos, m->nq);
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 6; j++) d->qpos[b->arm[s].qpos[j]] = initial_guess[j];
    for (int step = 0; step < BIMANUAL_STEPS; step++)
        for (int s = 0; s < 2; s++) {
            double pos[3], gripper;
            interpolate(w[s], n[s], step, pos, &gripper);
            double err = solve_ik(m, d, b, &b->arm[s], pos, rot[s], step == 0 ? 200 : 30);
            if (err > 2e-3)
                return error_set("the expert cannot reach (%.3f, %.3f, %.3f) with the %s arm at step %d (off by %.1f mm)",
                                 pos[0], pos[1], pos[2], s ? "right" : "left", step, 1e3 * err);
            for (int j = 0; j < 6; j++) b->plan[step][7 * s + j] = (float)d->qpos[b->arm[s].qpos[j]];
            b->plan[step][7 * s + 6] = (float)gripper;
        }
    /* The episode starts at rest in the plan's first pose, the fingers open as planned. */
    for (int s = 0; s < 2; s++) {
        const bimanual_arm_t *a = &b->arm[s];
        for (int j = 0; j < 6; j++) t->d->qpos[a->qpos[j]] = b->plan[0][7 * s + j];
        double finger = FINGER_CLOSED + b->plan[0][7 * s + 6] * (FINGER_OPEN - FINGER_CLOSED);
        t->d->qpos[a->qpos[6]] = t->d->qpos[a->qpos[7]] = finger;
    }
    bimanual_control(t, b, b->plan[0]);
    return 0;
}
