/* ibc.h — Implicit Behavioral Cloning (Florence et al. 2021; google-research/ibc; the IbcDfo
 * policies of real-stanford/diffusion_policy): the energy model on Diffusion Policy's observation
 * encoders, its InfoNCE training loss with counter-examples, inference by derivative-free
 * optimisation or Langevin MCMC, checkpoints and the "ibc" policy class.
 *
 * One job per file: ibc_model.c (configuration, model, the energy network, the loss),
 * ibc_infer.c (the samplers), ibc_checkpoint.c (save/load), ibc_policy.c (the policy class).
 *
 * The model is DP's IbcDfoLowdimPolicy / IbcDfoHybridImagePolicy: per observation step a feature
 * vector from DP's encoder (the hybrid image encoder with GroupNorm and crop, or the normalised
 * low-dimensional observations alone: diffusion.h); the To vectors flattened, concatenated with
 * the flattened Ta x A action sequence (normalised by DP's limits normaliser), go through four
 * Linear layers of `width` units, each followed by ReLU and dropout, and a final Linear to one
 * value: the logit; the energy is its negative. Parameter names are DP's state_dict names:
 * obs_encoder.* (diffusion.h) and dense0 ... dense4.{weight,bias}.
 *
 * Training (DP's compute_loss): the positive is the normalised action sequence starting at index
 * To-1 plus N(0, 1e-4) noise; N counter-examples are uniform in the normalised action bounds
 * (the normaliser's output range of the data's min and max: [-1, 1]); the loss is the
 * cross-entropy over the N+1 logits with the positive, at index 0, as the target. The draws of
 * one sample (its positive's noise, counter-examples, crop offsets and dropout masks) come from
 * rng_keyed(seed, step, the sample's global index), so that a loss does not depend on how a batch
 * is split.
 *
 * The network's first layer is computed in two parts, W0 [obs | act]: the observation part once
 * per observation (W0_obs f + b0), the action part per candidate (W0_act a), so that inference
 * over N candidates multiplies the observation features once.
 *
 *   ibc_config cfg;  ibc_config_default(&cfg);  ... cfg.obs: cameras, low-dim keys, action_dim ...
 *   ibc_model m;  ibc_model_init(&m, &cfg, &rng);  ibc_model_set_stats(&m, &stats);
 *   dp_batch b;  dp_batch_alloc(&b, &m.obs, B);  ... dp_batch_set(&b, &m.obs, i, images, lowdim, action) ...
 *   nn_tensor *loss = ibc_model_loss(c, &m, &b, 1024, seed, step, first_index, &L);
 *   ibc_infer(c, &m, &b, &settings, &rng, actions);        // [B][Ta][A] in data units
 */
#ifndef ILT_POLICY_IBC_H
#define ILT_POLICY_IBC_H

#include <stdint.h>

#include "policy/diffusion.h"

#define IBC_LAYERS 4                 /* hidden Linear layers (dense0..dense3); dense4 is the output */

/* Inference by derivative-free optimisation or Langevin MCMC:
 *   dfo         DP's default: N samples uniform in the bounds; K iterations of logits, softmax,
 *               multinomial resampling with replacement and N(0, noise) added (noise 0.03), the
 *               last iteration without resampling; the action is one draw from its softmax.
 *   dfo-argmax  DP's other variant: each iteration resamples, adds noise and clamps to the
 *               bounds; then one more evaluation and the argmax.
 *   ibc-dfo     google-research/ibc's iterative_dfo: logits and resampling, then K-1 times noise
 *               (0.33, halved each time) clamped to the bounds, logits and resampling; the action
 *               is the argmax of the last logits over the samples they were computed on.
 *   langevin    google-research/ibc's Langevin MCMC: N samples uniform in the bounds; K steps
 *               (100) a <- clip(a + clip(s_k (0.5 dlogit/da + noise * N(0,1)), +-0.1 of half the
 *               range), bounds), s_k = (0.1 - 1e-5)(1 - k/(K-1))^2 + 1e-5, noise 1; the chain run
 *               twice; the action is the argmax of the final logits. */
typedef enum { IBC_DFO, IBC_DFO_ARGMAX, IBC_DFO_IBC, IBC_LANGEVIN } ibc_sampler;
const char *ibc_sampler_name(ibc_sampler s);
int ibc_sampler_parse(const char *s);          /* -1 for an unknown name (no error set) */

typedef struct ibc_inference {
    ibc_sampler sampler;
    int samples;                     /* N (1024) */
    int iterations;                  /* K; 0: the sampler's default (5 for DFO, 100 for Langevin) */
    float noise;                     /* < 0: the sampler's default (0.03 dfo, 0.33 ibc-dfo, 1 langevin) */
} ibc_inference;
/* dfo, 1024 samples, the sampler's default iterations and noise. */
void ibc_inference_default(ibc_inference *s);
/* The iterations and noise a setting uses (its own, or its sampler's defaults). */
int ibc_inference_iterations(const ibc_inference *s);
float ibc_inference_noise(const ibc_inference *s);
/* 0, or -1 with an error naming the bad value. */
int ibc_inference_check(const ibc_inference *s);

typedef struct ibc_config {
    dp_config obs;                   /* DP's observation side (diffusion.h): encoder, cameras, low-dim
                                        keys, action_dim, n_obs_steps To, n_action_steps Ta;
                                        horizon = To + Ta - 1 (the action rows a sample needs);
                                        the denoising fields are unused */
    int width;                       /* hidden units (1024) */
    float dropout;                   /* after every hidden ReLU (0.1) */
    ibc_inference inference;         /* the checkpoint's default inference */
} ibc_config;

/* DP's IBC configuration: the lowdim encoder, To 2, Ta 1, width 1024, dropout 0.1, dfo 1024 x 5. */
void ibc_config_default(ibc_config *cfg);
/* Sets obs.horizon to To + Ta - 1 and checks everything; -1 with an error naming the field. */
int ibc_config_check(ibc_config *cfg);
/* Feature size of the energy network's input: To * obs features + Ta * A. */
int ibc_input_dim(const ibc_config *cfg);

typedef struct ibc_model {
    ibc_config cfg;
    dp_model obs;                    /* encoders, normaliser and the parameter store (obs.ps) */
    mod_linear dense[IBC_LAYERS + 1];
    /* Training only, not in checkpoints: google-research/ibc's gradient penalty, added to the
     * loss with weight grad_penalty (0: off, the default) and margin grad_margin (1). */
    float grad_penalty, grad_margin;
    /* Training only: google-research/ibc's DFO counter-examples (fraction_dfo_samples): this
     * fraction of each sample's counter-examples comes from iterative DFO on the current weights
     * (ibc_dfo_counter_examples) with dfo_iterations iterations (3); 0: all uniform (the default). */
    float dfo_fraction;
    int dfo_iterations;
} ibc_model;

/* Build (every parameter in obs.ps) and initialise from rng as PyTorch does (rng NULL: leave for
 * a checkpoint). Every parameter decays (DP trains with AdamW(model.parameters())). */
int ibc_model_init(ibc_model *m, const ibc_config *cfg, rng_t *rng);
void ibc_model_free(ibc_model *m);
/* The normaliser's limits from normstats output (dp_model_set_stats), then the rule for IBC's
 * sampling bounds: an action dimension whose range (max - min) is below 1e-4 is an error naming
 * it, since counter-examples and samples are drawn within the range. */
int ibc_model_set_stats(ibc_model *m, const stats_set *st);
/* The normalised action bounds [A] (the limits normaliser maps min, max to -1, 1). */
void ibc_action_bounds(const ibc_model *m, float *lo, float *hi);

/* Logits [B, K] of candidates [B, K, Ta*A] (normalised) given the observation features [B, F]
 * (dp_encode_obs). masks: NULL, or with c->train the dropout multipliers (0 or 1/(1-p)) of the
 * four hidden layers, [IBC_LAYERS][B][K][width] (ibc_sample_draws); without them there is no
 * dropout. */
nn_tensor *ibc_logits(nn_ctx *c, const ibc_model *m, nn_tensor *features, nn_tensor *candidates, const float *masks);

/* The random draws of training sample `index` from rng_keyed(seed, step, index), in this order:
 * the positive's noise [Ta*A] (N(0, 1e-4)), the counter-examples [negatives][Ta*A] (uniform in the
 * bounds), the crop offsets [To][n_cam][2] (as dp_sample_draws: y then x), then, when masks is not
 * NULL, the dropout multipliers of the four layers, each [negatives+1][width]; mask_stride is the
 * distance in floats between one layer's block and the next's. */
void ibc_sample_draws(const ibc_model *m, uint64_t seed, long step, long index, int negatives, float *noise,
                      float *counter, int *crops, float *masks, long mask_stride);

typedef struct ibc_losses {
    float loss;                      /* what is minimised: info_nce + grad_penalty weight x penalty */
    float info_nce;                  /* InfoNCE: mean cross-entropy over the batch */
    float positive_rank;             /* mean fraction of counter-examples whose logit is above the positive's */
    float grad_penalty;              /* the penalty's value (0 when off) */
} ibc_losses;
/* The loss with the draws given: candidates [B][K][Ta*A] normalised, the positive at index 0;
 * crops as dp_encode_obs (NULL: centre); masks as ibc_logits.
 *
 * With m->grad_penalty > 0 the loss adds google-research/ibc's gradient penalty (grad_norm_type
 * inf, square_grad_penalty, only the final step): the mean over the batch's B x K candidates of
 * max(0, ||dE/da||_inf - grad_margin)^2, dE/da the energy's gradient with respect to the
 * candidate (normalised units) under the same dropout masks. google-research/ibc takes it at the
 * candidates of its loss (Langevin's counter-examples and the positive); here they are the
 * uniform counter-examples and the positive. For a ReLU network dE/da is a product of the
 * weights and the layers' ReLU and dropout masks; it is built on the tape from the weights (the
 * masks constant, as their derivative is zero almost everywhere), so the penalty's gradient
 * reaches every weight. */
nn_tensor *ibc_model_loss_given(nn_ctx *c, ibc_model *m, const dp_batch *b, const float *candidates, int K,
                                const int *crops, const float *masks, ibc_losses *out);
/* The training loss of a batch (b->action normalised, at least To + Ta - 1 rows): the positive,
 * `negatives` counter-examples, crops and (with c->train and dropout) masks of sample i drawn by
 * ibc_sample_draws(seed, step, first_index + i); with m->dfo_fraction > 0 the last
 * floor(dfo_fraction x negatives) counter-examples replaced by ibc_dfo_counter_examples (noise
 * 0.33, google-research/ibc's iteration_std). With c->train 0 the images are centre-cropped
 * and there is no dropout; the counter-examples are drawn all the same. */
nn_tensor *ibc_model_loss(nn_ctx *c, ibc_model *m, const dp_batch *b, int negatives, uint64_t seed, long step,
                          long first_index, ibc_losses *out);

/* ---------------------------------------------------------------- inference (ibc_infer.c) */
/* The sampler alone for one observation: features [F] (one sample's dp_encode_obs row); samples
 * drawn from rng; the chosen action sequence into action [Ta*A] (normalised). The context's
 * recording and training flags are restored; its tensors are gone afterwards. Langevin's
 * gradients come from the engine's autograd and also accumulate into the parameters' gradients
 * (clear them with nn_params_zero_grad before training on). */
int ibc_optimize(nn_ctx *c, const ibc_model *m, const float *features, const ibc_inference *s, rng_t *rng,
                 float *action);
/* Actions for every observation of a batch (b->action unused): the features once (centre crop),
 * then ibc_optimize per sample; actions [B][Ta][A] in data units. */
int ibc_infer(nn_ctx *c, const ibc_model *m, const dp_batch *b, const ibc_inference *s, rng_t *rng, float *actions);
/* google-research/ibc's DFO counter-examples: per sample i of the batch (features [B, F], the
 * loss's own dp_encode_obs output), its N = K-1 uniform counter-examples (candidates [B][K][D],
 * normalised, the positive at index 0) seed a population that goes through `iterations` - 1
 * rounds of iterative DFO on the current weights without dropout and without recording (logits,
 * resampling in proportion to their softmax, + N(0, std) clamped to the bounds, std from `noise`
 * halved each round); the counter-examples [first, first + count) are then replaced by the
 * population's same slots. The draws come from rng_keyed(seed ^ a constant, step, first_index +
 * i); the context's arena is released to where it was and its flags restored. */
int ibc_dfo_counter_examples(nn_ctx *c, const ibc_model *m, nn_tensor *features, float *candidates, int K, int first,
                             int count, int iterations, float noise, uint64_t seed, long step, long first_index);
/* dlogit/da [K][Ta*A] of candidates [K][Ta*A] for one observation's features [F], by autograd. */
int ibc_logit_grad(nn_ctx *c, const ibc_model *m, const float *features, const float *candidates, int K, float *logits,
                   float *grad);

/* ---------------------------------------------------------------- checkpoints (ibc_checkpoint.c) */
/* Layout (io/checkpoint.h): /params with DP's names, /stats/<feature>/{min,max} the normaliser
 * limits, /config the configuration (DP's encoder keys, n_action_steps, width, dropout and the
 * default inference: sampler, samples, iterations, noise), root attribute policy = "ibc". The
 * training layer adds the optimizer, the EMA when kept, and the run state. */
struct checkpoint_writer;
int ibc_checkpoint_write(struct checkpoint_writer *w, const ibc_model *m);
/* Build the model from a checkpoint: /ema weights with DP_WEIGHTS_EMA when the file has them,
 * else /params. */
int ibc_checkpoint_load(const char *path, ibc_model *m, dp_weights weights);

/* ---------------------------------------------------------------- the policy class */
/* "ibc": keeps the last To observations (dp_history), per query computes the observation
 * features once and runs the sampler with samples drawn from a generator seeded at reset; returns
 * and executes Ta actions. Options (--policy-arg KEY=VALUE): sampler, samples, iterations, noise.
 * Loss (predict --loss): "info_nce", the training loss with 1024 counter-examples. */
struct policy_class;
extern const struct policy_class ibc_policy_class;

#endif
