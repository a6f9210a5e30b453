/* diffusion.h — Diffusion Policy (Chi et al. 2023, real-stanford/diffusion_policy): configuration,
 * observation encoders, noise schedule and samplers (diffusers 0.11.1), "limits" normaliser,
 * the whole model with its training loss and sampling, checkpoints and the "diffusion" policy
 * class.
 *
 * One job per file: diffusion_config.c (defaults, checks, names), diffusion_encoder.c (the
 * observation encoders), diffusion_schedule.c (DDPM/DDIM), diffusion_normalizer.c (limits),
 * diffusion_model.c (model, batches, loss, sampling), diffusion_checkpoint.c (save/load),
 * diffusion_policy.c (the policy class).
 *
 * The model is DP's DiffusionUnetHybridImagePolicy (and its relatives): per time step an
 * observation feature vector [camera features in camera order, then the low-dimensional keys
 * in key order]; the features of the To = n_obs_steps observation steps, flattened step-major,
 * are the global condition of a ConditionalUnet1D over a horizon of actions (net "unet"), or
 * one condition token per step of TransformerForDiffusion (net "transformer", DP's
 * DiffusionTransformerHybridImagePolicy with obs_as_cond). Training: for every
 * sample t ~ U{0..T-1}, eps ~ N(0,1), x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps, loss =
 * MSE(model(x_t, t, cond), eps) (or x0 for prediction "sample"). Inference: x_T ~ N(0,1), then
 * DDPM or DDIM steps; the executed actions start at index To-1.
 *
 * Encoders (dp_encoder_kind):
 *   hybrid  robomimic's VisualCore per camera, as DP's hybrid policies use it: ResNet18 conv
 *           layers (no avgpool/fc) with every BatchNorm replaced by GroupNorm(C/16, C);
 *           SpatialSoftmax (1x1 conv 512 -> num_kp, softmax over H*W, expected (x, y) per
 *           keypoint on linspace(-1,1) grids, flattened [kp0.x, kp0.y, kp1.x, ...]); Linear
 *           2*num_kp -> feature_dim; ReLU (ObservationEncoder's feature activation).
 *   resnet  DP's MultiImageObsEncoder: torchvision ResNet18 (GroupNorm) with global average
 *           pooling, 512 features per camera.
 *   lowdim  no cameras: the normalised low-dimensional observations alone.
 * Images enter as uint8 HxWx3, become [0,1] then [-1,1] (DP's image range normaliser, no
 * ImageNet normalisation), and are cropped to crop_height x crop_width: at a random offset
 * floor((H-h)*U[0,1)) per image in training (drawn per sample, observation step and camera),
 * the centre offset round((H-h)/2) (round half to even, as Python) at evaluation.
 *
 * Parameter names are DP's state_dict names:
 *   obs_encoder.obs_nets.<cam>_image.backbone.nets.{0,1,4,5,6,7}.*   ResNet18Conv (hybrid)
 *   obs_encoder.obs_nets.<cam>_image.pool.nets.{weight,bias}         SpatialSoftmax's 1x1 conv
 *   obs_encoder.obs_nets.<cam>_image.pool.{temperature,pos_x,pos_y}  its buffers
 *   obs_encoder.obs_nets.<cam>_image.nets.3.{weight,bias}            VisualCore's Linear
 *   obs_encoder.key_model_map.<cam>_image.*                          torchvision names (resnet)
 *   model.*                                    ConditionalUnet1D or TransformerForDiffusion
 * where <cam> is the camera name (the robomimic obs key is "<cam>_image"). robomimic's
 * VisualCore registers its backbone and pool a second time inside its Sequential
 * (nets.0.* = backbone.*, nets.1.* = pool.*): we store one copy, the backbone.* and pool.*
 * names; a PyTorch user duplicates those keys before load_state_dict(strict=True). DP's
 * normalizer.* entries are not parameters here: the statistics are under /stats.
 *
 *   dp_config cfg;  dp_config_default(&cfg);  ... cameras, low-dim keys, action_dim ...
 *   dp_model m;  dp_model_init(&m, &cfg, &rng);  dp_model_set_stats(&m, &stats);
 *   dp_batch b;  dp_batch_alloc(&b, &m, B);  for each i: dp_batch_set(&b, &m, i, images, lowdim, action);
 *   dp_losses L;  nn_tensor *loss = dp_model_loss(c, &m, &b, seed, step, first_index, &L);  nn_backward(c, loss);
 *   dp_model_sample(c, &m, &b, DP_SAMPLER_DDIM, 10, &rng, actions);     // [B, horizon, A] raw units
 */
#ifndef ILT_POLICY_DIFFUSION_H
#define ILT_POLICY_DIFFUSION_H

#include <stdint.h>

#include "io/stats.h"
#include "nn/modules.h"
#include "policy/policy.h"

#define DP_MAX_CAMERAS 8
#define DP_MAX_LOWDIM 16
#define DP_NAME_MAX 64
#define DP_MAX_TRAIN_STEPS 1000

typedef enum { DP_ENCODER_HYBRID, DP_ENCODER_RESNET, DP_ENCODER_LOWDIM } dp_encoder_kind;
typedef enum { DP_NET_UNET, DP_NET_TRANSFORMER } dp_net_kind;
typedef enum { DP_PREDICT_EPSILON, DP_PREDICT_SAMPLE } dp_prediction;
typedef enum { DP_SAMPLER_DDPM, DP_SAMPLER_DDIM } dp_sampler;
/* How a low-dim key is normalised: "limits" to [-1,1] from its min and max, "identity" (DP's
 * robomimic image datasets keep quaternions, keys ending in "quat", as they are), or "maxabs":
 * DP's low-dim datasets' rule, x / m with no offset, m the largest |min| or |max| over every
 * dimension of every maxabs key (one scale for the concatenated observation vector), so that a
 * dimension that barely moves in the demonstrations is not magnified. */
typedef enum { DP_NORM_LIMITS, DP_NORM_IDENTITY, DP_NORM_MAXABS } dp_norm_mode;

typedef struct dp_config {
    dp_encoder_kind encoder;
    int n_cameras;                           /* 0 with the lowdim encoder */
    char camera_names[DP_MAX_CAMERAS][DP_NAME_MAX];
    int height, width;                       /* image size the model takes */
    int crop_height, crop_width;             /* crop (76x76 of 84x84); equal to the image: none */
    int num_keypoints, feature_dim;          /* hybrid: SpatialSoftmax keypoints (32), Linear out (64) */
    int n_lowdim;                            /* low-dimensional observation keys, in feature order */
    char lowdim_names[DP_MAX_LOWDIM][DP_NAME_MAX];   /* the statistics' feature names */
    int lowdim_dims[DP_MAX_LOWDIM];
    dp_norm_mode lowdim_norm[DP_MAX_LOWDIM]; /* limits (the default), identity or maxabs */
    float lowdim_range_eps;                  /* limits: a low-dim dimension whose range is below this is
                                                only shifted (DP's range_eps, 1e-4) */
    int action_dim;
    dp_norm_mode action_norm;                /* limits (the default), identity (DP's robomimic delta
                                                actions, already in [-1,1]) or maxabs */
    int n_obs_steps;                         /* To (2) */
    int horizon;                             /* actions predicted (16 for the UNet) */
    int n_action_steps;                      /* Ta (8): executed per query */
    dp_net_kind net;
    int n_levels, down_dims[MOD_UNET_MAX_LEVELS];   /* 256,512,1024 (paper image: 512,1024,2048) */
    int kernel_size, n_groups;               /* 5, 8 */
    int step_embed_dim;                      /* diffusion_step_embed_dim (128) */
    int cond_predict_scale;                  /* FiLM scale and bias (1) or bias only */
    int n_layer, n_head, n_emb;              /* transformer: 8, 4, 256 */
    float p_drop_emb, p_drop_attn;           /* transformer: 0, 0.3 */
    dp_prediction prediction;                /* epsilon */
    int train_steps;                         /* num_train_timesteps (100) */
    dp_sampler sampler;                      /* inference default: DDPM */
    int inference_steps;                     /* default: train_steps */
} dp_config;

/* DP's image defaults: hybrid encoder, To 2, horizon 16, Ta 8, UNet 256,512,1024, kernel 5,
 * groups 8, step embedding 128, FiLM scale, epsilon, 100 steps, crop 76x76 of 84x84, DDPM 100;
 * the transformer's 8 layers, 4 heads, 256 features, dropout 0 (embeddings) and 0.3 (attention)
 * (DP runs it with horizon 10). */
void dp_config_default(dp_config *cfg);
/* 0, or -1 with an error naming the field, its value and what is allowed. */
int dp_config_check(const dp_config *cfg);
/* The observation side alone (encoder, cameras, image and crop sizes, low-dim keys, action_dim,
 * n_obs_steps): what a model on DP's encoders (IBC's energy model) needs checked. */
int dp_config_check_encoder(const dp_config *cfg);
/* Append a low-dim key with DP's normalisation rule for robomimic keys: identity for names ending
 * in "quat", limits otherwise. -1 with an error when the list is full or the name too long. */
int dp_config_add_lowdim(dp_config *cfg, const char *name, int dim);
/* Sum of lowdim_dims. */
int dp_lowdim_total(const dp_config *cfg);
/* Feature size of one observation step (64 or 512 per camera, plus the low-dim total). */
int dp_obs_feature_dim(const dp_config *cfg);
/* Names <-> enums ("hybrid"/"resnet"/"lowdim", "unet"/"transformer", "epsilon"/"sample",
 * "ddpm"/"ddim"); a parse returns -1 (no error set) for an unknown name. */
const char *dp_encoder_name(dp_encoder_kind k);
const char *dp_net_name(dp_net_kind k);
const char *dp_prediction_name(dp_prediction p);
const char *dp_sampler_name(dp_sampler s);
int dp_encoder_parse(const char *s);
int dp_net_parse(const char *s);
int dp_prediction_parse(const char *s);
int dp_sampler_parse(const char *s);
const char *dp_norm_name(dp_norm_mode m);
int dp_norm_parse(const char *s);

/* ---------------------------------------------------------------- noise schedule (diffusers 0.11.1) */
/* squaredcos_cap_v2: beta_i = min(1 - abar((i+1)/T)/abar(i/T), 0.999), abar(t) = cos^2((t+0.008)/1.008
 * * pi/2), computed in double and stored as float; alpha = 1 - beta (float); alphas_cumprod
 * accumulated in double and rounded to float per entry (torch's CPU cumprod). */
typedef struct dp_schedule {
    int train_steps;
    float betas[DP_MAX_TRAIN_STEPS], alphas[DP_MAX_TRAIN_STEPS], alphas_cumprod[DP_MAX_TRAIN_STEPS];
} dp_schedule;
int dp_schedule_init(dp_schedule *s, int train_steps);
/* The timesteps of an inference run, first to last, into t[0..max); returns their count.
 * DDPM: arange(0, T, T // N) reversed (N not dividing T gives more than N: N=8 -> 96, 84, ..., 0);
 * DDIM ("leading", steps_offset 0): arange(N) * (T // N) reversed. N is clamped to T. */
int dp_schedule_timesteps(const dp_schedule *s, dp_sampler sampler, int steps, int *t, int max);
/* x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, n floats. */
void dp_add_noise(const dp_schedule *s, int t, const float *x0, const float *noise, float *xt, long n);
/* DDPMScheduler.step (variance fixed_small, clip_sample): x0 from the model output, clamped to
 * [-1,1]; the posterior mean with abar_{t-1} (1 at t = 0); plus sqrt(max(var, 1e-20)) * noise
 * when t > 0 (noise: n standard normals, unused at t = 0, may then be NULL). */
void dp_ddpm_step(const dp_schedule *s, dp_prediction pred, int t, const float *model_output, const float *sample,
                  const float *noise, float *prev, long n);
/* DDIMScheduler.step with eta 0, set_alpha_to_one: x0 clamped to [-1,1], prev = sqrt(abar_prev)
 * x0 + sqrt(1 - abar_prev) * model_output (the unclipped output, as diffusers 0.11.1 does for
 * either prediction type); abar_prev = 1 when prev_t < 0. */
void dp_ddim_step(const dp_schedule *s, dp_prediction pred, int t, int prev_t, const float *model_output,
                  const float *sample, float *prev, long n);

/* ---------------------------------------------------------------- "limits" normaliser */
#define DP_RANGE_EPS 1e-4f   /* DP's range_eps: a dimension whose range is below it is only shifted */

/* Per dimension from the data's min and max: scale = 2/(max-min), offset = -1 - scale*min, so
 * that [min,max] -> [-1,1]; a range below DP_RANGE_EPS gives scale 1, offset -min (DP's LinearNormalizer
 * mode "limits", computed in float as torch does). dp_limits_eps: with range_eps eps instead. */
void dp_limits(const float *min, const float *max, int n, float *scale, float *offset);
void dp_limits_eps(const float *min, const float *max, int n, float eps, float *scale, float *offset);

typedef struct dp_normalizer {
    float *action_min, *action_max, *action_scale, *action_offset;   /* [action_dim] */
    float *lowdim_min, *lowdim_max, *lowdim_scale, *lowdim_offset;   /* [lowdim total], keys concatenated */
} dp_normalizer;

/* ---------------------------------------------------------------- the model */
typedef struct dp_camera_encoder {
    mod_resnet18 backbone;
    mod_conv keypoints;                      /* hybrid: pool.nets, 1x1 conv 512 -> num_kp */
    nn_tensor *temperature, *pos_x, *pos_y;  /* hybrid: pool buffers [1], [1,h*w], [1,h*w] */
    mod_linear linear;                       /* hybrid: nets.3 */
} dp_camera_encoder;

typedef struct dp_model {
    dp_config cfg;
    nn_params *ps;
    dp_camera_encoder cameras[DP_MAX_CAMERAS];
    mod_cond_unet1d unet;                    /* model.* (net unet) */
    mod_transformer_diffusion transformer;   /* model.* (net transformer) */
    dp_schedule schedule;
    dp_normalizer norm;                      /* starts as min -1, max 1 (the identity) */
} dp_model;

/* Build (registering every parameter in a new store) and initialise from rng as DP does (rng
 * NULL: leave for a checkpoint). Optimizer groups as DP's: with the UNet, one group (0) in which
 * every parameter decays; with the transformer, its entries in group 0 (DP's
 * transformer_weight_decay, 1e-3, on its Linear and attention weights only) and obs_encoder.* in
 * group 1 (obs_encoder_weight_decay, 1e-6, on every entry): the trainer sets the groups' values. */
int dp_model_init(dp_model *m, const dp_config *cfg, rng_t *rng);
/* The observation side alone: the checked encoder configuration (dp_config_check_encoder), the
 * parameter store, the normaliser and the camera encoders under DP's obs_encoder.* names; no
 * denoising network (the net fields are ignored). A model on DP's encoders (IBC's energy model)
 * adds its own parameters to m->ps. dp_model_free releases it. */
int dp_model_init_encoder(dp_model *m, const dp_config *cfg, rng_t *rng);
void dp_model_free(dp_model *m);
/* Normaliser limits of one feature: "action" or a low-dim key name; n must match its size. A key
 * normalised by identity keeps its min and max (saved in checkpoints) with scale 1, offset 0. */
int dp_model_set_limits(dp_model *m, const char *feature, const float *min, const float *max, int n);
/* Every limit from normstats output (the min and max of "action" and of each low-dim key);
 * an absent feature or a size mismatch is an error naming it. */
int dp_model_set_stats(dp_model *m, const stats_set *st);

/* A batch: raw images (cropped and scaled inside the model) and normalised low-dim/actions. */
typedef struct dp_batch {
    int batch;
    uint8_t *images;                         /* [B][To][n_cam][H][W][3] */
    float *lowdim;                           /* [B][To][lowdim total] normalised */
    float *action;                           /* [B][horizon][A] normalised */
} dp_batch;
int dp_batch_alloc(dp_batch *b, const dp_model *m, int batch);
void dp_batch_free(dp_batch *b);
/* Fill sample i from raw arrays: images[k] = camera k's To frames [To][H][W][3] (NULL when there
 * are no cameras); lowdim[j] = key j's values [To][dim_j] (NULL when there are no keys); action
 * [horizon][A] in data units, or NULL (inference). Normalises low-dim values and actions.
 * Non-finite values are an error naming the key, the step and the sample. */
int dp_batch_set(dp_batch *b, const dp_model *m, int i, const uint8_t *const *images, const float *const *lowdim,
                 const float *action);

/* Observation features [B, To * dp_obs_feature_dim] of a batch. crops: per sample, step and
 * camera the (y, x) crop offsets, [B][To][n_cam][2]; NULL: the centre crop (evaluation). */
nn_tensor *dp_encode_obs(nn_ctx *c, const dp_model *m, const dp_batch *b, const int *crops);

/* The random draws of one training sample from rng_keyed(seed, step, index): timestep
 * (rng_below(T)), noise [horizon*A] (standard normal), then crop offsets [To][n_cam][2]
 * (y then x, floor((H-h)*U)). */
void dp_sample_draws(const dp_model *m, uint64_t seed, long step, long index, int *timestep, float *noise,
                     int *crops);

typedef struct dp_losses {
    float loss;                              /* MSE over [B, horizon, A] */
} dp_losses;
/* Training loss with the randomness of global sample first_index + i drawn by dp_sample_draws,
 * so that the result does not depend on how a batch is split. With c->train 0 (validation, DP's
 * policy.eval()) the images are centre-cropped; timesteps and noise are drawn all the same. The
 * transformer's dropout masks (training) come from each sample's own streams under the same key
 * (nn_ctx_set_sample_key), so with dropout too the loss does not depend on the split. */
nn_tensor *dp_model_loss(nn_ctx *c, dp_model *m, const dp_batch *b, uint64_t seed, long step, long first_index,
                         dp_losses *out);
/* The same loss with the draws given: timesteps [B], noise [B][horizon][A], crops as in
 * dp_encode_obs (NULL: centre). */
nn_tensor *dp_model_loss_given(nn_ctx *c, dp_model *m, const dp_batch *b, const int *timesteps, const float *noise,
                               const int *crops, dp_losses *out);

/* Sample actions for a batch of observations (b->action unused): x ~ N(0,1) from rng, then the
 * sampler's steps (steps <= 0: the configuration's), each DDPM step's noise from rng too; the
 * encoder uses the centre crop. actions [B][horizon][A] in data units. The context is reset
 * between denoising steps (its earlier tensors are gone afterwards). */
int dp_model_sample(nn_ctx *c, dp_model *m, const dp_batch *b, dp_sampler sampler, int steps, rng_t *rng,
                    float *actions);

/* The denoising loop alone: x [B][horizon][A] holds x_T (normalised units) on entry and the
 * sampled actions (normalised) on return; DDPM's per-step noise comes from rng (DDIM uses none;
 * rng may then be NULL). dp_model_sample is x_T ~ N(0,1) from rng, this, and denormalising. */
int dp_model_denoise(nn_ctx *c, dp_model *m, const dp_batch *b, dp_sampler sampler, int steps, rng_t *rng, float *x);

/* ---------------------------------------------------------------- checkpoints */
/* Layout (io/checkpoint.h): /params the trained (live) weights, /ema the EMA weights when ema is
 * given (DP evaluates the EMA model: dp_checkpoint_load with DP_WEIGHTS_EMA, the policy class's
 * choice, takes them), /stats/<feature>/{min,max} the normaliser limits ("action" and every
 * low-dim key), /config the configuration, /optim the AdamW state when opt is given, the step,
 * root attribute policy = "diffusion". extra: NULL-terminated key, value pairs of further
 * configuration (training options), may be NULL. Written atomically. */
struct nn_adamw;
struct nn_ema;
int dp_checkpoint_save(const char *path, const dp_model *m, const struct nn_ema *ema, const struct nn_adamw *opt,
                       long step, const char *const *extra);
/* The model part of a checkpoint being written (root attribute, configuration, limits, /params):
 * what dp_checkpoint_save writes before the EMA and optimizer; the training loop's writer. */
struct checkpoint_writer;
int dp_checkpoint_write(struct checkpoint_writer *w, const dp_model *m);
/* The observation side of a checkpoint, for a model on DP's encoders (IBC): write the encoder's
 * configuration keys (obs_encoder, cameras, sizes, lowdim_*, action_dim, n_obs_steps) and the
 * limits under /stats; read those keys into cfg (its other fields untouched) and check them;
 * read the limits into a model built from them. */
struct checkpoint_reader;
int dp_checkpoint_write_encoder(struct checkpoint_writer *w, const dp_model *m);
int dp_checkpoint_read_encoder(struct checkpoint_reader *r, const char *path, dp_config *cfg);
int dp_checkpoint_read_limits(struct checkpoint_reader *r, const char *path, dp_model *m);
typedef enum { DP_WEIGHTS_EMA, DP_WEIGHTS_TRAINED } dp_weights;
/* Build the model from a checkpoint's configuration, load its statistics and weights: with
 * DP_WEIGHTS_EMA the /ema weights when the file has them (else /params), with
 * DP_WEIGHTS_TRAINED /params (to resume training). */
int dp_checkpoint_load(const char *path, dp_model *m, dp_weights weights);
/* Resume: the EMA shadow (ema may be NULL; an ema with a file lacking /ema is an error), the
 * optimizer state and the step. */
int dp_checkpoint_load_state(const char *path, struct nn_ema *ema, struct nn_adamw *opt, long *step);

/* ---------------------------------------------------------------- the policy class */
/* The observation history of a policy on DP's encoders (the "diffusion" and "ibc" classes): the
 * model's cameras and low-dim keys matched to the environment's (observation.state,
 * observation.velocity or a named observation, with or without the "observation." prefix), and
 * the last To observations, the first of an episode repeated to fill the history as DP's
 * rollouts do. observed = 0 starts an episode. */
typedef enum { DP_SOURCE_STATE, DP_SOURCE_VELOCITY, DP_SOURCE_OBS } dp_lowdim_source;
typedef struct dp_history {
    int camera_index[DP_MAX_CAMERAS];            /* model camera k = environment camera camera_index[k] */
    dp_lowdim_source source[DP_MAX_LOWDIM];
    int obs_index[DP_MAX_LOWDIM];                /* DP_SOURCE_OBS: which named observation */
    uint8_t *images[DP_MAX_CAMERAS];             /* per camera the history [To][H][W][3], oldest first */
    float *lowdim[DP_MAX_LOWDIM];                /* per key the history [To][dim] */
    int observed;                                /* observations since reset */
} dp_history;
/* Match cfg to env (action size, cameras, image size, low-dim keys) and allocate; -1 with an
 * error naming what does not match (dp_history_free releases a partial one). */
int dp_history_open(dp_history *h, const dp_config *cfg, const policy_env_t *env);
int dp_history_observe(dp_history *h, const dp_config *cfg, const policy_observation_t *obs);
/* Sample 0 of b from the history (action in data units, or NULL); an error before any observation. */
int dp_history_set_batch(const dp_history *h, dp_batch *b, const dp_model *m, const float *action);
void dp_history_free(dp_history *h);

/* What a policy on DP's observation encoder keeps between queries ("diffusion", "ibc"): the
 * history, a batch of one, an inference context of ctx_bytes, an actions buffer of
 * action_floats, and the generator of its draws, seeded at reset. dp_query_open freezes m's
 * weights for inference (policy_freeze_for_inference) and sets the engine's threads from
 * options (1 by default); -1 with an error, and dp_query_free releases a partial one. */
typedef struct dp_query {
    dp_history h;
    dp_batch b;
    nn_ctx *c;
    rng_t rng;
    float *actions;
} dp_query;
int dp_query_open(dp_query *q, dp_model *m, const policy_env_t *env, const policy_options_t *options, size_t ctx_bytes,
                  size_t action_floats);
void dp_query_reset(dp_query *q, uint64_t seed);   /* a new episode: history emptied, generator seeded */
void dp_query_free(dp_query *q);

/* "diffusion": keeps the last To observations (the first one repeated at reset), samples with
 * noise seeded from the reset seed, returns the horizon - (To-1) actions from index To-1 and
 * executes Ta of them by default. Options (policy --policy-arg KEY=VALUE): sampler = ddpm|ddim,
 * steps = N (inference steps). */
struct policy_class;
extern const struct policy_class diffusion_policy_class;
/* Set an option on an opened class state; -1 with an error naming the key or value. */
int dp_policy_set_option(void *self, const char *key, const char *value);

#endif
