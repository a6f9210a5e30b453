/* act.h — Action Chunking with Transformers (ACT, Zhao et al. 2023) and the CNNMLP baseline from
 * the same codebase: configuration, model, losses, normalisation, in-memory dataset, checkpoints.
 *
 * The model parts live in one file each: act_backbone.c (ResNet18 per camera, shared weights,
 * 1x1 input projection, DETR 2-D sine positions, cameras side by side along the width),
 * act_cvae.c (the CVAE encoder giving the style latent), act_model.c (the whole ACT network and
 * its L1 + KL loss), cnnmlp.c (the baseline), act_data.c (the data set's layout, batches),
 * act_checkpoint.c (save/load with the configuration and statistics), act_policy.c (the "act"
 * and "cnnmlp" classes of the policy interface).
 *
 * Parameter names are those of the reference PyTorch modules (tonyzhaozh/act: policy.model is a
 * DETRVAE or CNNMLP), prefixed "model.", so a PyTorch user loads our checkpoint's /params into
 * ACTPolicy with {k: torch.from_numpy(v[()]) for k, v in f["params"].items()}.
 *
 *   act_model m;  act_model_init(&m, &config, &rng);            // or rng NULL, then load
 *   act_batch b = ...;                                            // normalised inputs
 *   act_losses L; nn_tensor *loss = act_model_loss(c, &m, &b, &L);  nn_backward(c, loss) ...
 *   nn_tensor *a = act_model_predict(c, &m, &b);                  // [B, chunk, A] normalised
 */
#ifndef ILT_POLICY_ACT_H
#define ILT_POLICY_ACT_H

#include <stdint.h>

#include "io/dataset.h"
#include "nn/modules.h"

#define ACT_MAX_CAMERAS 8
#define ACT_MAX_LAYERS 16
#define ACT_NAME_MAX 64

typedef enum { ACT_KIND_ACT, ACT_KIND_CNNMLP } act_kind;
typedef enum { ACT_IMAGE_NORM_IMAGENET, ACT_IMAGE_NORM_DATASET } act_image_norm;

typedef struct act_config {
    act_kind kind;
    int state_dim, action_dim;
    int chunk;                       /* num_queries (ACT); CNNMLP predicts 1 action */
    int hidden_dim, dim_feedforward, enc_layers, dec_layers, nheads, latent_dim;
    float dropout, kl_weight;
    int n_cameras;
    char camera_names[ACT_MAX_CAMERAS][ACT_NAME_MAX];
    int height, width;               /* image size the model was built for */
    mod_norm_kind backbone_norm;
    act_image_norm image_norm;
} act_config;

/* The "cpu" defaults (see act-train(1)). */
void act_config_default(act_config *cfg);

/* Normalisation statistics (raw data units). */
typedef struct act_norm {
    float *state_mean, *state_std;       /* [state_dim], std clipped below at 1e-2 */
    float *action_mean, *action_std;     /* [action_dim] */
    float image_mean[ACT_MAX_CAMERAS][3], image_std[ACT_MAX_CAMERAS][3];   /* after /255 */
} act_norm;
#define ACT_STD_MIN 1e-2f

/* ---------------------------------------------------------------- model parts */
typedef struct act_backbone {
    mod_resnet18 resnet;             /* model.backbones.0.0.body.* (one, shared by the cameras) */
    mod_conv input_proj;             /* model.input_proj: 1x1 conv 512 -> hidden_dim (ACT only) */
} act_backbone;
int act_backbone_init(act_backbone *m, nn_params *ps, rng_t *rng, const act_config *cfg, int with_proj);
/* images: per camera [B,3,H,W] normalised; -> per camera layer4 features [B,512,h,w]. */
nn_tensor *act_backbone_features(nn_ctx *c, const act_backbone *m, nn_tensor *image);
/* ACT's image tokens: input_proj of every camera's features, cameras concatenated along the
 * width, flattened row-major -> *tokens [B, h*w*n_cam, hidden]; *pos [1, same, hidden] the DETR
 * sine embedding of each camera's map, concatenated the same way. */
int act_backbone_tokens(nn_ctx *c, const act_backbone *m, const act_config *cfg, nn_tensor **images,
                        nn_tensor **tokens, nn_tensor **pos);

typedef struct act_cvae {
    mod_linear encoder_action_proj, encoder_joint_proj, latent_proj;
    nn_tensor *cls_embed;            /* model.cls_embed.weight [1, hidden] */
    nn_tensor *pos_table;            /* model.pos_table buffer [1, chunk+2, hidden] */
    int n_layers;
    mod_encoder_layer layers[ACT_MAX_LAYERS];   /* model.encoder.layers.N */
} act_cvae;
int act_cvae_init(act_cvae *m, nn_params *ps, rng_t *rng, const act_config *cfg);
/* state [B,S], action [B,K,A], is_pad [B,K] -> *mu, *logvar [B, latent]. */
int act_cvae_encode(nn_ctx *c, const act_cvae *m, const act_config *cfg, nn_tensor *state, nn_tensor *action,
                    const unsigned char *is_pad, nn_tensor **mu, nn_tensor **logvar);

/* ---------------------------------------------------------------- whole models */
typedef struct act_model {
    act_config cfg;
    act_norm norm;
    nn_params *ps;
    rng_t *rng;                      /* the reparameterisation noise without a sample key */
    act_backbone backbone;
    /* ACT */
    act_cvae cvae;
    int n_enc, n_dec;
    mod_encoder_layer enc[ACT_MAX_LAYERS];      /* model.transformer.encoder.layers.N */
    mod_decoder_layer dec[ACT_MAX_LAYERS];      /* model.transformer.decoder.layers.N */
    mod_norm dec_norm;                          /* model.transformer.decoder.norm */
    mod_linear action_head, is_pad_head, input_proj_robot_state, latent_out_proj;
    nn_tensor *query_embed, *additional_pos_embed;
    /* CNNMLP */
    mod_conv down_proj[ACT_MAX_CAMERAS][3];     /* model.backbone_down_projs.K.{0,1,2} */
    mod_mlp mlp;                                /* model.mlp.{0,2,4} */
    mod_linear cnnmlp_action_head;              /* model.action_head [A,1000], unused as in the reference */
} act_model;

/* Build (registering every parameter in a new store) and initialise from rng as the reference
 * does (rng NULL: leave for a checkpoint). Statistics start as mean 0, std 1. */
int act_model_init(act_model *m, const act_config *cfg, rng_t *rng);
void act_model_free(act_model *m);

/* A batch of normalised inputs. */
typedef struct act_batch {
    int batch;
    float *state;                    /* [B, state_dim] */
    float *images;                   /* [n_cam][B][3][H][W] (camera-major) */
    float *action;                   /* [B, chunk, A] (training/validation), or NULL */
    unsigned char *is_pad;           /* [B, chunk] */
} act_batch;

typedef struct act_losses {
    float l1, kl, loss;              /* CNNMLP: l1 holds the MSE, kl 0 */
} act_losses;

/* Training loss (ACT: L1 over non-padded + kl_weight * KL; CNNMLP: MSE of the first action).
 * c->train decides dropout. The latent noise of sample i comes from
 * nn_sample_rng(c, i, ACT_LATENT_STREAM) when c has a sample key for the batch (training: the
 * draws do not depend on how the batch is split), else from m->rng. */
#define ACT_LATENT_STREAM 0x6c6174656e74ULL
#define ACT_SHIFT_STREAM 0x7368696674ULL
nn_tensor *act_model_loss(nn_ctx *c, act_model *m, const act_batch *b, act_losses *out);
/* Inference: ACT with z = 0 and no CVAE encoder -> [B, chunk, A]; CNNMLP -> [B, 1, A]. */
nn_tensor *act_model_predict(nn_ctx *c, act_model *m, const act_batch *b);
/* Actions predicted per query (chunk for ACT, 1 for CNNMLP). */
int act_model_chunk(const act_model *m);

/* ---------------------------------------------------------------- normalisation */
void act_normalize_state(const act_model *m, const float *raw, float *out);
void act_normalize_action(const act_model *m, const float *raw, int rows, float *out);
void act_denormalize_action(const act_model *m, const float *normalised, int rows, float *out);
/* One camera image HxWx3 uint8 (top row first) -> [3,H,W] normalised float. */
void act_normalize_image(const act_model *m, int camera, const uint8_t *hwc, float *chw);

/* ---------------------------------------------------------------- training data */
/* ACT's fields of a sample stream (io/dataset.h): observation.state [S], action [K,A] (chunkify)
 * or [A], action_is_pad [K] (optional), and one uint8 [H,W,3] image per camera. cameras: the
 * camera names (fields observation.images.<name>); NULL: every camera of the first sample,
 * sorted. Returns the number of requests written to want[0..max). */
int act_data_request(char **cameras, int n_cameras, dataset_request *want, int max);

/* Where ACT's inputs are in a data set read with that request, and their sizes. */
typedef struct act_data_layout {
    int state, action, is_pad;       /* field indices; action and is_pad -1 when absent */
    int image[ACT_MAX_CAMERAS];
    int state_dim, action_dim, rows; /* rows: action chunk rows in the stream */
    int n_cameras, height, width;
    char camera_names[ACT_MAX_CAMERAS][ACT_NAME_MAX];
} act_data_layout;
/* Check the data set's dtypes and shapes for ACT and fill *layout (-1 with error_set naming the
 * field and the shape expected). */
int act_data_layout_of(const dataset_t *ds, act_data_layout *layout);

/* Normalised batch of samples idx[0..B) into b's buffers (allocated by act_batch_alloc). */
int act_batch_alloc(act_batch *b, const act_model *m, int batch);
void act_batch_free(act_batch *b);
void act_batch_fill(act_batch *b, const act_model *m, const dataset_t *ds, const act_data_layout *layout,
                    const int64_t *idx, int batch);
/* Random-shift augmentation (DrQ's): every image of the batch moved by its own offset (dy, dx),
 * each drawn uniformly from [-pad, pad] in rng's order (per sample, per camera, dy then dx),
 * the border repeated into the uncovered edge: what padding by pad pixels with the edge values
 * and cropping the original size at a random place gives. pad 0 leaves the batch (and rng) as
 * they are. Returns -1 (error set) only when out of memory. */
int act_batch_random_shift(act_batch *b, const act_model *m, int pad, rng_t *rng);
/* The same with sample j's offsets from its own generator,
 * rng_keyed(seed ^ ACT_SHIFT_STREAM, step, first_index + j): per camera, dy then dx. */
int act_batch_random_shift_keyed(act_batch *b, const act_model *m, int pad, uint64_t seed, uint64_t step,
                                 int64_t first_index);

/* ---------------------------------------------------------------- checkpoints */
/* Write the model (params, config, stats; optimizer state when opt != NULL; step) to path
 * atomically, with the root attribute "policy" = "act" or "cnnmlp". extra: NULL-terminated
 * key, value pairs of further configuration (training options), may be NULL. */
struct nn_adamw;
int act_checkpoint_save(const char *path, const act_model *m, const struct nn_adamw *opt, long step,
                        const char *const *extra);
/* The model part of a checkpoint being written (root "policy" attribute, configuration,
 * statistics, /params): what act_checkpoint_save writes before the optimizer. */
struct checkpoint_writer;
int act_checkpoint_write(struct checkpoint_writer *w, const act_model *m);
/* Build the model from a checkpoint's configuration and load its weights and statistics. */
int act_checkpoint_load(const char *path, act_model *m);
/* The same with the weights a policy runs with (/ema when the run kept an EMA, else /params). */
int act_checkpoint_load_inference(const char *path, act_model *m);

/* ---------------------------------------------------------------- the policy classes */
/* "act" and "cnnmlp" for the registry (policy/registry.c). */
struct policy_class;
extern const struct policy_class act_policy_class, cnnmlp_policy_class;

#endif
