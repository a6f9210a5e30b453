/* policy.h — the policy interface rollout (and later robots) call: reset, observe, act.
 *
 * A policy class (ACT, Diffusion Policy, IBC, the task's scripted expert) implements three hooks:
 * reset at the start of an episode, observe once per control step (so that a policy with an
 * observation history, like Diffusion Policy, can keep one), and act, which predicts a chunk of
 * future actions from what it has observed. policy_step() turns chunks into one action per step:
 *
 *   - chunk execution: the first `chunk_exec` actions of a chunk are executed before the policy
 *     is asked again (0 = the class's default, e.g. Diffusion Policy's n_action_steps, ACT's
 *     whole chunk);
 *   - ACT temporal ensembling (`temporal_agg`): the policy is asked at every step, and the action
 *     for step t is the weighted mean of every chunk's prediction for t, with weights exp(-k*i)
 *     where i = 0 is the OLDEST prediction (ACT's convention; k = 0.01 by default).
 *
 *   policy_options_t o = policy_default_options();
 *   policy_t *p = policy_open("ckpt.h5", &env, &o);       or policy_open("scripted", ...)
 *   policy_reset(p, seed);
 *   each step: fill a policy_observation_t; policy_step(p, &obs, action); sim_task_step(...)
 *   policy_free(p);
 *
 * Checkpoints are HDF5 files whose root attribute "policy" (a string) names the policy kind
 * ("act", "cnnmlp", "diffusion", "ibc"); policy_open dispatches on it through the registry in
 * registry.c, where each policy's code adds its class. A file that is not HDF5, is truncated, has
 * no "policy" attribute or names an unknown kind is an error naming the file. */
#ifndef ILT_POLICY_POLICY_H
#define ILT_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_CAMERAS 8
#define POLICY_MAX_OBS 16
#define POLICY_MAX_ARGS 16

/* What the environment offers a policy (from the task's info). */
typedef struct {
    const char *task;              /* task name */
    int state_dim, velocity_dim, action_dim;
    int n_cameras;                 /* rendered cameras, in this order in every observation */
    const char *camera_names[POLICY_MAX_CAMERAS];
    int height, width;             /* image size */
    int n_obs;                     /* named low-dimensional observations (robomimic keys) */
    const char *obs_names[POLICY_MAX_OBS];
    int obs_dims[POLICY_MAX_OBS];
    double control_hz;
    int max_steps;
} policy_env_t;

/* One control step's observation. Pointers are valid during the observe call only. */
typedef struct {
    int step;                      /* control step since reset */
    const float *state;            /* state_dim (qpos) */
    const float *velocity;         /* velocity_dim (qvel) */
    const uint8_t *images[POLICY_MAX_CAMERAS];   /* per camera: height x width x 3, top row first */
    const float *obs[POLICY_MAX_OBS];            /* per named observation */
} policy_observation_t;

typedef struct {
    int chunk_exec;                /* actions of a chunk executed per query; 0 = class default */
    int temporal_agg;              /* 1: ACT temporal ensembling (query every step) */
    double temporal_k;             /* ensembling weight exp(-k*i), i = 0 the oldest */
    int n_threads;                 /* for the policy's own computation; 0 = its default */
    int half_weights;              /* 1: the products' weights held in binary16 (NN_PACK_F16:
                                      half the bytes read per inference; rollout/predict
                                      --weight-precision f16) */
    int n_args;                    /* class-specific settings, "KEY=VALUE" (rollout/predict
                                      --policy-arg): e.g. Diffusion Policy's ddim_steps=10 */
    const char *args[POLICY_MAX_ARGS];
} policy_options_t;

typedef struct policy policy_t;

/* Split one --policy-arg "KEY=VALUE" and hand it to set(context, KEY, VALUE): its result, or -1
 * + error_set when arg is not KEY=VALUE (a key of 1 to 63 characters). */
int policy_apply_arg(const char *arg, int (*set)(void *context, const char *key, const char *value), void *context);

/* A policy class. `self` is the class's own state (allocated by open). */
typedef struct policy_class {
    const char *kind;              /* "scripted", "act", ... (the checkpoint's "policy" attribute) */
    /* Load from a checkpoint (path NULL for built-ins) for this environment; check that the
     * checkpoint's cameras/dims match env. Return the state or NULL with error_set. Set
     * *chunk_size (actions per act call) and *default_exec (actions executed per query). */
    void *(*open)(const char *path, const policy_env_t *env, const policy_options_t *options,
                  int *chunk_size, int *default_exec);
    int (*reset)(void *self, uint64_t seed);
    int (*observe)(void *self, const policy_observation_t *obs);
    /* Predict chunk_size actions (chunk[chunk_size * action_dim]) from the observations so far;
     * chunk[0] is the action for the current step. */
    int (*act)(void *self, float *chunk);
    void (*close)(void *self);
    /* Optional: a class-specific setting (from policy_options_t.args), applied after open and
     * before the first reset; -1 with error_set for a bad value. settings lists the keys the
     * class knows, with a few words each ("ddim_steps=N  denoising steps (DDIM)\n..."); a key
     * not listed is refused by policy_open before set_option is called. */
    int (*set_option)(void *self, const char *key, const char *value);
    const char *settings;
    /* Optional: the model's own training loss (named loss_name, e.g. Diffusion Policy's
     * "denoising_mse") on the observations so far and the demonstrated actions [rows][action_dim]
     * in data units, starting at the first observation of the history (a training sample's
     * chunk); its random draws from seed. */
    int (*loss)(void *self, const float *actions, int rows, uint64_t seed, double *value);
    const char *loss_name;
} policy_class_t;

policy_options_t policy_default_options(void);
/* "f32" or "f16" (rollout/predict --weight-precision) into o->half_weights; -1 with error_set
 * for anything else */
int policy_set_weight_precision(policy_options_t *o, const char *name);
/* For a class's open: freeze ps for inference in the precision options ask for (products over
 * weights packed once, nn_params_freeze) and drop its gradients (nn_params_inference_only) */
struct nn_params;
void policy_freeze_for_inference(struct nn_params *ps, const policy_options_t *options);

/* For a class's open: the index of camera `name` among the environment's, or -1 with an error
 * that says how to render it; and 0 when the environment's images are height x width, else -1
 * with an error giving both sizes. */
int policy_env_camera(const policy_env_t *env, const char *name);
int policy_env_check_image_size(const policy_env_t *env, int height, int width);

/* "scripted" gives the task's expert (it needs the callback below); anything else is a
 * checkpoint path. NULL with error_set on failure. */
policy_t *policy_open(const char *spec, const policy_env_t *env, const policy_options_t *options);
/* The scripted policy asks the environment for the expert's action: rollout passes a function
 * that calls sim_task_expert_action (policy/ knows nothing of sim/). */
typedef int (*policy_expert_fn)(void *context, float *action);
policy_t *policy_open_scripted(const policy_env_t *env, policy_expert_fn expert, void *context);

/* Wrap an opened class state (takes ownership of self, closing it on failure); for built-ins
 * and tests. */
policy_t *policy_wrap(const policy_class_t *cls, void *self, const policy_env_t *env,
                      const policy_options_t *options, int chunk_size, int default_exec);

/* The policy kind of a checkpoint file ("act", ...) into kind[size]; -1 with error_set when the
 * file is not a policy checkpoint. */
int policy_checkpoint_kind(const char *path, char *kind, size_t size);
/* The registered class for a kind, or NULL. */
const policy_class_t *policy_class_find(const char *kind);
/* NULL-terminated list of registered checkpoint kinds (for messages). */
const policy_class_t *const *policy_classes(void);

const char *policy_kind(const policy_t *p);
/* Actions per act call (the chunk policy_predict writes) and the environment's action size. */
int policy_chunk_size(const policy_t *p);
int policy_action_dim(const policy_t *p);
/* Actions executed per query: 1 with temporal ensembling, else the chunk execution count. */
int policy_chunk_exec(const policy_t *p);
/* One chunk from a history of observations, as predict does for a stream sample: reset with
 * seed, observe history[0..n_steps) in turn (the last is the current step), act. chunk:
 * [chunk_size][action_dim], chunk[0] the action for the current step. */
int policy_predict(policy_t *p, const policy_observation_t *history, int n_steps, uint64_t seed, float *chunk);
/* The class's training loss on a history and its demonstrated actions (see policy_class_t.loss):
 * the loss's name, or NULL when the class has none. */
const char *policy_loss_name(const policy_t *p);
int policy_loss(policy_t *p, const policy_observation_t *history, int n_steps, const float *actions, int rows,
                uint64_t seed, double *value);
int policy_reset(policy_t *p, uint64_t seed);
/* Observe the current step and write the action to execute now (action_dim values). */
int policy_step(policy_t *p, const policy_observation_t *obs, float *action);
void policy_free(policy_t *p);

#endif
