/* ilt.h — run a trained imitation-learning policy (ACT, Diffusion Policy, IBC) inside a robot's
 * control loop, from C, without Python. Link with `pkg-config --cflags --libs ilt`.
 *
 *   ilt_policy *p;
 *   ilt_options o;
 *   ilt_options_init(&o);
 *   o.threads = 2;
 *   if (ilt_open("ckpt.h5", &o, &p) != ILT_OK) { fprintf(stderr, "%s\n", ilt_last_error(NULL)); exit(1); }
 *   ilt_description d;
 *   ilt_describe(p, &d);                       // sizes, cameras, chunk, control rate
 *   ilt_reset(p, seed);                        // at the start of every episode
 *   each control step:
 *       ilt_observation obs = {.state = qpos, .images = {top_rgb}};
 *       if (ilt_step(p, &obs, action) != ILT_OK) { fprintf(stderr, "%s\n", ilt_last_error(p)); ... }
 *   ilt_close(p);
 *
 * Every function returns ILT_OK (0) or a negative ilt_status; ilt_strerror names the status and
 * ilt_last_error(p) gives the message of p's last failure (file, field, what was expected). The
 * library keeps no global state: any number of policies may be open in one process, and each
 * handle may be used from any thread (calls on one handle are serialised by the handle). The
 * same checkpoint, seed, observations and thread count give the same actions bit for bit as
 * rollout(1) and predict(1). See ilt_open(3), ilt_describe(3), ilt_step(3), ilt_close(3). */
#ifndef ILT_H
#define ILT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ILT_API_VERSION 1       /* the interface of libilt.so.0 */
#define ILT_MAX_CAMERAS 8
#define ILT_MAX_OBS 16
#define ILT_NAME_MAX 64

typedef enum {
    ILT_OK = 0,
    ILT_ERR_ARGUMENT = -1,      /* a NULL pointer, a bad option or setting */
    ILT_ERR_CHECKPOINT = -2,    /* missing, unreadable or damaged checkpoint, unknown policy kind */
    ILT_ERR_OBSERVATION = -3,   /* an observation lacks a field the policy needs */
    ILT_ERR_MEMORY = -4,
    ILT_ERR_RUNTIME = -5        /* the computation failed (see ilt_last_error) */
} ilt_status;

typedef struct ilt_policy ilt_policy;

/* Options of ilt_open. Initialise with ilt_options_init, then set what you need. */
typedef struct {
    int threads;                /* computation threads; 0 = 1 (the process has one pool: the last
                                   ilt_open sets its size; actions do not depend on it) */
    int ddim_steps;             /* Diffusion Policy: run DDIM with this many steps; 0 = the checkpoint's sampler */
    int chunk_exec;             /* actions of each predicted chunk executed before asking again; 0 = the policy's */
    int temporal_agg;           /* 1: ACT temporal ensembling (predict every step) */
    double temporal_k;          /* ensembling weights exp(-k*i), i = 0 the oldest (default 0.01) */
    const char *const *policy_args;   /* NULL-terminated "KEY=VALUE" settings of the policy's class
                                         (as rollout --policy-arg), or NULL */
    int half_weights;           /* 1: hold the matrix products' weights in IEEE binary16, widened
                                   to single precision in the product: half the bytes read per
                                   inference, actions within binary16's rounding of the weights
                                   (rollout --weight-precision f16) */
    long reserved[7];
} ilt_options;

/* What a policy expects and gives. */
typedef struct {
    char kind[16];              /* "act", "cnnmlp", "diffusion", "ibc" */
    int state_dim;              /* observation.state (joint positions); 0 if unused */
    int velocity_dim;           /* observation.velocity; 0 if unused */
    int action_dim;
    int n_cameras;
    char camera_names[ILT_MAX_CAMERAS][ILT_NAME_MAX];
    int height, width;          /* every image: height x width x 3 uint8, top row first */
    int n_obs;                  /* named low-dimensional observations (robomimic keys) */
    char obs_names[ILT_MAX_OBS][ILT_NAME_MAX];
    int obs_dims[ILT_MAX_OBS];
    double control_hz;          /* control rate recorded in the checkpoint (a trainer's --control-hz); 0 when it has none */
    int chunk_size;             /* actions predicted per query */
    int chunk_exec;             /* actions executed per query (1 with temporal ensembling) */
    long reserved[8];
} ilt_description;

/* One control step's observation; pointers are read during ilt_step only. */
typedef struct {
    const float *state;                         /* state_dim values */
    const float *velocity;                      /* velocity_dim values */
    const uint8_t *images[ILT_MAX_CAMERAS];     /* in camera_names' order */
    const float *obs[ILT_MAX_OBS];              /* in obs_names' order */
} ilt_observation;

void ilt_options_init(ilt_options *options);
/* Open a checkpoint of any policy kind (options may be NULL). On failure *policy is NULL and
 * ilt_last_error(NULL) gives the message in the calling thread. */
int ilt_open(const char *path, const ilt_options *options, ilt_policy **policy);
int ilt_describe(const ilt_policy *policy, ilt_description *description);
/* Start an episode: forget the observation history and the chunk, seed the policy's noise. */
int ilt_reset(ilt_policy *policy, uint64_t seed);
/* Observe the current step and write the action to execute now (action_dim values). */
int ilt_step(ilt_policy *policy, const ilt_observation *observation, float *action);
void ilt_close(ilt_policy *policy);

/* A fixed sentence for a status. */
const char *ilt_strerror(int status);
/* The message of the handle's last failure ("" if none); NULL: the calling thread's last
 * failed ilt_open. */
const char *ilt_last_error(const ilt_policy *policy);
/* The library's version, "0.1.0". */
const char *ilt_version(void);

#ifdef __cplusplus
}
#endif

#endif
