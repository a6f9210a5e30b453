/* modules.h — the layers models are built from: Linear, Conv, MLP, normalisation layers,
 * ResNet18 (torchvision), multi-head attention (PyTorch's parameterisation), DETR/ACT transformer
 * encoder and decoder layers, and Diffusion Policy's conditional residual 1-D block with FiLM
 * and diffusion-step encoder, ConditionalUnet1D and TransformerForDiffusion.
 *
 * A module is a small struct of parameter pointers. *_init registers its parameters in a store
 * under "<prefix><pytorch name>" (so a checkpoint uses the names and layouts PyTorch's
 * state_dict would) and fills them with PyTorch's default initialisation drawn from rng (rng NULL:
 * leave them for a checkpoint to fill; norm weights and running variances still start at 1).
 * *_forward builds the forward pass from ops (ops.h) in a context; gradients follow from the
 * tape. Every *_init returns 0, or -1 with error_set; every *_forward returns NULL on error.
 *
 * Weight decay: biases and normalisation weights are registered NN_NO_DECAY (the usual grouping,
 * as Diffusion Policy's transformer optimizer); a policy that decays everything, as
 * torch.optim.AdamW(model.parameters()) does (ACT), clears it: nn_param_set_flags(ps, "", NN_NO_DECAY, 0).
 * Running statistics and FrozenBatchNorm tensors are NN_BUFFER (saved, never trained).
 *
 * Layouts: images [B,C,H,W]; 1-D signals [B,C,L]; token sequences are batch-first [B,L,E]
 * (PyTorch's nn.MultiheadAttention defaults to [L,B,E]; the parameters are the same).
 *
 *   mod_resnet18 r;  mod_resnet18_init(&r, ps, rng, "model.backbones.0.0.body.", MOD_NORM_FROZEN_BATCH);
 *   nn_tensor *features = mod_resnet18_forward(c, &r, images);      // [B,512,H/32,W/32]
 */
#ifndef ILT_NN_MODULES_H
#define ILT_NN_MODULES_H

#include "nn/nn.h"

#define MOD_NAME_MAX 256

/* ---------------------------------------------------------------- Linear and convolutions */
typedef struct mod_linear {
    nn_tensor *weight;      /* [out, in] */
    nn_tensor *bias;        /* [out] or NULL */
} mod_linear;
int mod_linear_init(mod_linear *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int bias);
nn_tensor *mod_linear_forward(nn_ctx *c, const mod_linear *m, nn_tensor *x);   /* [..., in] -> [..., out] */

typedef struct mod_conv {
    nn_tensor *weight;      /* Conv2d [out,in,kh,kw]; Conv1d [out,in,k]; ConvTranspose1d [in,out,k] */
    nn_tensor *bias;        /* [out] or NULL */
    int stride, padding;
} mod_conv;
int mod_conv2d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int kernel,
                    int stride, int padding, int bias);
int mod_conv1d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out, int kernel,
                    int stride, int padding, int bias);
int mod_conv_transpose1d_init(mod_conv *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out,
                              int kernel, int stride, int padding, int bias);
nn_tensor *mod_conv2d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x);
nn_tensor *mod_conv1d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x);
nn_tensor *mod_conv_transpose1d_forward(nn_ctx *c, const mod_conv *m, nn_tensor *x);

/* ---------------------------------------------------------------- normalisation layers */
typedef enum mod_norm_kind {
    MOD_NORM_BATCH,         /* nn.BatchNorm2d: weight, bias; running_mean/var buffers; momentum 0.1 */
    MOD_NORM_FROZEN_BATCH,  /* torchvision FrozenBatchNorm2d: all four tensors are buffers */
    MOD_NORM_GROUP,         /* nn.GroupNorm(C/16, C) as Diffusion Policy puts in ResNets */
    MOD_NORM_LAYER,         /* nn.LayerNorm over the last dim */
} mod_norm_kind;

typedef struct mod_norm {
    mod_norm_kind kind;
    int groups;             /* GroupNorm */
    float eps;
    nn_tensor *weight, *bias, *running_mean, *running_var;
} mod_norm;
/* groups: GroupNorm's group count (<= 0: channels/16). */
int mod_norm_init(mod_norm *m, nn_params *ps, const char *prefix, mod_norm_kind kind, int channels, int groups);
nn_tensor *mod_norm_forward(nn_ctx *c, const mod_norm *m, nn_tensor *x);
/* "batch", "frozen", "group" (also "batchnorm", "frozenbatchnorm", "groupnorm") -> kind; -1 if unknown. */
int mod_norm_kind_parse(const char *text);

/* ---------------------------------------------------------------- MLP */
typedef enum mod_activation { MOD_ACT_NONE, MOD_ACT_RELU, MOD_ACT_GELU, MOD_ACT_MISH, MOD_ACT_SILU } mod_activation;
nn_tensor *mod_activate(nn_ctx *c, mod_activation act, nn_tensor *x);

#define MOD_MLP_MAX_LAYERS 8
/* nn.Sequential(Linear, act, Linear, act, ..., Linear): Linear i is named "<prefix><2i>.weight". */
typedef struct mod_mlp {
    int n_layers;
    mod_activation act;
    mod_linear layers[MOD_MLP_MAX_LAYERS];
} mod_mlp;
/* dims[0] = input size, dims[n_layers] = output size. */
int mod_mlp_init(mod_mlp *m, nn_params *ps, rng_t *rng, const char *prefix, const int *dims, int n_layers,
                 mod_activation act);
nn_tensor *mod_mlp_forward(nn_ctx *c, const mod_mlp *m, nn_tensor *x);

/* ---------------------------------------------------------------- ResNet18 */
typedef struct mod_basic_block {
    mod_conv conv1, conv2, down_conv;
    mod_norm bn1, bn2, down_norm;
    int has_downsample;
} mod_basic_block;

/* torchvision resnet18 up to layer4 (no avgpool/fc): conv1, bn1, layer1..layer4 (two BasicBlocks
 * each, 64/128/256/512 channels), with torchvision's names and initialisation (conv
 * kaiming_normal fan_out, norm weight 1, bias 0). */
typedef struct mod_resnet18 {
    mod_conv conv1;
    mod_norm bn1;
    mod_basic_block blocks[8];   /* layer1.0, layer1.1, layer2.0, ... layer4.1 */
} mod_resnet18;
int mod_resnet18_init(mod_resnet18 *m, nn_params *ps, rng_t *rng, const char *prefix, mod_norm_kind norm);
/* Its parts, for timing them one by one (bench/act_parts.c): conv1, bn1, relu and the max-pool;
 * one BasicBlock (relu(bn2(conv2(relu(bn1(conv1 x)))) + identity or downsample)). The forward is
 * the stem followed by blocks[0..7]. */
nn_tensor *mod_resnet18_stem_forward(nn_ctx *c, const mod_resnet18 *m, nn_tensor *x);
nn_tensor *mod_basic_block_forward(nn_ctx *c, const mod_basic_block *b, nn_tensor *x);
/* Parameter names: MOD_RESNET_TORCHVISION ("conv1.", "bn1.", "layer1." ... as resnet18 itself, and
 * DETR/ACT's backbone body) or MOD_RESNET_SEQUENTIAL ("0.", "1.", "4." ... "7.": robomimic's
 * ResNet18Conv, nn.Sequential(*list(resnet18.children())[:-2]), which Diffusion Policy's image
 * encoder uses under "...backbone.nets."). */
typedef enum mod_resnet_names { MOD_RESNET_TORCHVISION, MOD_RESNET_SEQUENTIAL } mod_resnet_names;
int mod_resnet18_init_named(mod_resnet18 *m, nn_params *ps, rng_t *rng, const char *prefix, mod_norm_kind norm,
                            mod_resnet_names names);
/* x [B,3,H,W] -> layer4 feature map [B,512,ceil(H/32),ceil(W/32)]. */
nn_tensor *mod_resnet18_forward(nn_ctx *c, const mod_resnet18 *m, nn_tensor *x);

/* ---------------------------------------------------------------- multi-head attention */
/* nn.MultiheadAttention: in_proj_weight [3E,E] (q, k, v rows), in_proj_bias [3E],
 * out_proj.weight [E,E], out_proj.bias [E]; dropout on the attention weights. Initialised as
 * PyTorch: in_proj_weight xavier_uniform, biases 0, out_proj.weight Linear's default. */
typedef struct mod_attention {
    int embed_dim, heads;
    float dropout;
    nn_tensor *in_proj_weight, *in_proj_bias;
    mod_linear out_proj;
} mod_attention;
int mod_attention_init(mod_attention *m, nn_params *ps, rng_t *rng, const char *prefix, int embed_dim,
                       int heads, float dropout);
/* q [B,Lq,E], k and v [B,Lk,E] -> [B,Lq,E]. attn_mask [Lq,Lk] additive (-INFINITY = not allowed)
 * or NULL; key_padding [B,Lk] (nonzero = padded key) or NULL. Passing the same tensor for q and
 * k (and v), or for k and v, shares their projection. */
nn_tensor *mod_attention_forward(nn_ctx *c, const mod_attention *m, nn_tensor *q, nn_tensor *k, nn_tensor *v,
                                 const float *attn_mask, const unsigned char *key_padding);

/* ---------------------------------------------------------------- transformer layers (DETR / ACT) */
typedef struct mod_transformer_config {
    int d_model, heads, dim_feedforward;
    float dropout;
    mod_activation activation;   /* MOD_ACT_RELU (ACT) or MOD_ACT_GELU */
    int pre_norm;                /* 0: post-norm (ACT default), 1: pre-norm */
} mod_transformer_config;

/* Names: self_attn.*, linear1, linear2, norm1, norm2. Positions are added to queries and keys
 * only, as DETR does. */
typedef struct mod_encoder_layer {
    mod_transformer_config cfg;
    mod_attention self_attn;
    mod_linear linear1, linear2;
    mod_norm norm1, norm2;
} mod_encoder_layer;
int mod_encoder_layer_init(mod_encoder_layer *m, nn_params *ps, rng_t *rng, const char *prefix,
                           const mod_transformer_config *cfg);
/* src [B,L,E]; pos [B,L,E] or [1,L,E] (broadcast) or NULL; key_padding [B,L] or NULL. */
nn_tensor *mod_encoder_layer_forward(nn_ctx *c, const mod_encoder_layer *m, nn_tensor *src, nn_tensor *pos,
                                     const unsigned char *key_padding);
/* The same layer's output for the first n tokens only, [B,n,E] (every token still serves as a
 * key and value): what a last layer computes when only its first outputs are used (ACT's CVAE
 * encoder reads the [CLS] output alone). Equal to rows [0, n) of the full output. */
nn_tensor *mod_encoder_layer_forward_first(nn_ctx *c, const mod_encoder_layer *m, nn_tensor *src, nn_tensor *pos,
                                           const unsigned char *key_padding, int n);

/* Names: self_attn.*, multihead_attn.*, linear1, linear2, norm1..norm3. */
typedef struct mod_decoder_layer {
    mod_transformer_config cfg;
    mod_attention self_attn, multihead_attn;
    mod_linear linear1, linear2;
    mod_norm norm1, norm2, norm3;
} mod_decoder_layer;
int mod_decoder_layer_init(mod_decoder_layer *m, nn_params *ps, rng_t *rng, const char *prefix,
                           const mod_transformer_config *cfg);
/* tgt [B,T,E], memory [B,S,E]; pos (memory's) and query_pos as in the encoder (may be NULL);
 * memory_key_padding [B,S] or NULL. */
nn_tensor *mod_decoder_layer_forward(nn_ctx *c, const mod_decoder_layer *m, nn_tensor *tgt, nn_tensor *memory,
                                     nn_tensor *pos, nn_tensor *query_pos, const unsigned char *memory_key_padding);
/* The same with additive attention masks (-INFINITY = not allowed), either may be NULL:
 * tgt_mask [T,T] on the self-attention, memory_mask [T,S] on the cross-attention (PyTorch's
 * float tgt_mask / memory_mask). */
nn_tensor *mod_decoder_layer_forward_masked(nn_ctx *c, const mod_decoder_layer *m, nn_tensor *tgt, nn_tensor *memory,
                                            nn_tensor *pos, nn_tensor *query_pos, const float *tgt_mask,
                                            const float *memory_mask, const unsigned char *memory_key_padding);
/* The same layer for tgt = 0 [B,T,E] (DETR's and ACT's first decoder layer): without dropout
 * (inference, or dropout 0) its self-attention block gives one row for every query, so it is
 * computed once instead of over T queries; equal to the general layer up to rounding. */
nn_tensor *mod_decoder_layer_forward_zero(nn_ctx *c, const mod_decoder_layer *m, int B, int T, nn_tensor *memory,
                                          nn_tensor *pos, nn_tensor *query_pos,
                                          const unsigned char *memory_key_padding);

/* ---------------------------------------------------------------- Diffusion Policy 1-D blocks */
/* Conv1dBlock: Conv1d(k, padding k/2) -> GroupNorm(groups) -> Mish; names block.0.*, block.1.*. */
typedef struct mod_conv1d_block {
    mod_conv conv;
    mod_norm norm;
} mod_conv1d_block;
int mod_conv1d_block_init(mod_conv1d_block *m, nn_params *ps, rng_t *rng, const char *prefix, int in, int out,
                          int kernel, int groups);
nn_tensor *mod_conv1d_block_forward(nn_ctx *c, const mod_conv1d_block *m, nn_tensor *x);

/* ConditionalResidualBlock1D: blocks.0, blocks.1 (Conv1dBlocks), cond_encoder.1 (Linear after a
 * Mish), residual_conv (1x1 Conv1d when in != out). FiLM: with predict_scale the condition gives
 * a per-channel scale and bias (out = scale*out + bias), else only a bias. */
typedef struct mod_cond_res_block1d {
    mod_conv1d_block blocks[2];
    mod_linear cond_encoder;
    mod_conv residual_conv;
    int has_residual_conv, predict_scale, out_channels;
} mod_cond_res_block1d;
int mod_cond_res_block1d_init(mod_cond_res_block1d *m, nn_params *ps, rng_t *rng, const char *prefix, int in,
                              int out, int cond_dim, int kernel, int groups, int predict_scale);
/* x [B,in,L], cond [B,cond_dim] -> [B,out,L]. */
nn_tensor *mod_cond_res_block1d_forward(nn_ctx *c, const mod_cond_res_block1d *m, nn_tensor *x, nn_tensor *cond);

/* diffusion_step_encoder: SinusoidalPosEmb(dim) -> Linear(dim, 4dim) -> Mish -> Linear(4dim, dim);
 * the Linears are named "<prefix>1." and "<prefix>3.". */
typedef struct mod_step_encoder {
    int dim;
    mod_linear linear1, linear2;
} mod_step_encoder;
int mod_step_encoder_init(mod_step_encoder *m, nn_params *ps, rng_t *rng, const char *prefix, int dim);
/* timesteps [batch] (float, as the diffusion step index) -> [batch, dim]. */
nn_tensor *mod_step_encoder_forward(nn_ctx *c, const mod_step_encoder *m, const float *timesteps, int batch);

/* Diffusion Policy ConditionalUnet1D with a global condition (no local condition): names
 * diffusion_step_encoder.{1,3}, down_modules.<i>.{0,1} (residual blocks) and .2.conv (Conv1d k3
 * s2, all levels but the last), mid_modules.{0,1}, up_modules.<i>.{0,1} and .2.conv
 * (ConvTranspose1d k4 s2), final_conv.0 (Conv1dBlock with 8 groups, as DP's default) and
 * final_conv.1 (1x1 Conv1d). FiLM condition = [step embedding, global_cond]. */
#define MOD_UNET_MAX_LEVELS 4
typedef struct mod_cond_unet1d {
    int input_dim, n_levels, global_cond_dim;
    mod_step_encoder step;
    mod_cond_res_block1d down[MOD_UNET_MAX_LEVELS][2], mid[2], up[MOD_UNET_MAX_LEVELS - 1][2];
    mod_conv downsample[MOD_UNET_MAX_LEVELS - 1], upsample[MOD_UNET_MAX_LEVELS - 1];
    mod_conv1d_block final_block;
    mod_conv final_conv;
} mod_cond_unet1d;
/* down_dims[0..n_levels) (DP: 256, 512, 1024); step_dim: diffusion_step_embed_dim (DP: 256);
 * kernel 5 and groups 8 in DP's image configs; predict_scale = cond_predict_scale. */
int mod_cond_unet1d_init(mod_cond_unet1d *m, nn_params *ps, rng_t *rng, const char *prefix, int input_dim,
                         int global_cond_dim, int step_dim, const int *down_dims, int n_levels, int kernel,
                         int groups, int predict_scale);
/* sample [B,T,input_dim] (T divisible by 2^(n_levels-1)), timesteps [B], global_cond
 * [B,global_cond_dim] or NULL (when global_cond_dim is 0) -> [B,T,input_dim]. */
nn_tensor *mod_cond_unet1d_forward(nn_ctx *c, const mod_cond_unet1d *m, nn_tensor *sample, const float *timesteps,
                                   nn_tensor *global_cond);
/* For sampling, where the global condition stays while the step changes: every residual block's
 * FiLM output (cond_encoder(Mish([step embedding, global_cond]))) for `steps` timesteps at once,
 * so that each cond_encoder weight is read once a query instead of once a step. film receives
 * mod_cond_unet1d_film_floats(m, steps * B) floats: block by block in the forward order (down,
 * mid, up), each [steps * B, rows] with row s*B+b for timesteps[s] and global_cond row b. Each
 * row is what mod_cond_unet1d_forward computes for that step. Inference only (no gradient). */
long mod_cond_unet1d_film_floats(const mod_cond_unet1d *m, int rows);
int mod_cond_unet1d_films(nn_ctx *c, const mod_cond_unet1d *m, const float *timesteps, int steps, int B,
                          nn_tensor *global_cond, float *film);
/* mod_cond_unet1d_forward at step `step` of a table from mod_cond_unet1d_films (sample [B,T,D]). */
nn_tensor *mod_cond_unet1d_forward_film(nn_ctx *c, const mod_cond_unet1d *m, nn_tensor *sample, const float *film,
                                        int step, int steps);

/* ---------------------------------------------------------------- Diffusion Policy transformer */
/* TransformerForDiffusion as Diffusion Policy's transformer policies build it (obs_as_cond,
 * time_as_cond, causal_attn, n_cond_layers 0):
 *   tokens = drop(input_emb(sample) + pos_emb)                                  [B,T,E]
 *   memory = encoder(drop([time_emb(t); cond_obs_emb(cond)] + cond_pos_emb))   [B,1+To,E]
 *     time_emb: the sinusoidal step embedding (sines then cosines, no MLP);
 *     encoder: Linear(E,4E) - Mish - Linear(4E,E) ("encoder.0.", "encoder.2.")
 *   n_layer pre-norm decoder layers (exact GELU, feed-forward 4E, dropout p_drop_attn; no final
 *     norm) with the causal mask [T,T] and the memory mask [T,1+To] (token t sees memory token
 *     s when t >= s-1: the time token and the observations up to its own step)
 *   out = head(ln_f(x))                                                         [B,T,A]
 * Names in the order of its state_dict: _dummy_variable, pos_emb, cond_pos_emb, mask,
 * memory_mask, input_emb.*, cond_obs_emb.*, encoder.{0,2}.*, decoder.layers.<i>.*, ln_f.*,
 * head.*. `mask` and `memory_mask` are NN_BUFFER entries holding PyTorch's additive masks
 * (0 / -inf), which the forward reads; `_dummy_variable` is DP's empty parameter (shape [0], no
 * floats), kept so that a checkpoint holds exactly the names of DP's state_dict. Initialised as
 * DP (rng NULL: only the masks, LayerNorm weights 1): Linear and attention weights N(0, 0.02),
 * biases 0, LayerNorm 1 and 0, pos_emb and cond_pos_emb N(0, 0.02). */
#define MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS 16
typedef struct mod_transformer_diffusion_config {
    int action_dim;         /* A: DP's input_dim = output_dim */
    int obs_dim;            /* cond_dim: observation features per step */
    int horizon;            /* T: action tokens */
    int n_obs_steps;        /* To: observation tokens */
    int n_layer, n_head, n_emb;
    float p_drop_emb, p_drop_attn;
} mod_transformer_diffusion_config;
/* DP's transformer configs: n_layer 8, n_head 4, n_emb 256, p_drop_emb 0, p_drop_attn 0.3. */
mod_transformer_diffusion_config mod_transformer_diffusion_defaults(int action_dim, int obs_dim, int horizon,
                                                                   int n_obs_steps);

typedef struct mod_transformer_diffusion {
    mod_transformer_diffusion_config cfg;
    nn_tensor *dummy_variable, *pos_emb, *cond_pos_emb, *mask, *memory_mask;
    mod_linear input_emb, cond_obs_emb, head;
    mod_mlp encoder;
    mod_decoder_layer layers[MOD_TRANSFORMER_DIFFUSION_MAX_LAYERS];
    mod_norm ln_f;
    int first_param, n_params;   /* its entries in the store's list */
} mod_transformer_diffusion;
int mod_transformer_diffusion_init(mod_transformer_diffusion *m, nn_params *ps, rng_t *rng, const char *prefix,
                                   const mod_transformer_diffusion_config *cfg);
/* sample [B,T,A], timesteps [B] (each sample's diffusion step, as float), cond [B,To,obs_dim]
 * -> [B,T,A]. T and To must be the configured horizon and n_obs_steps (the masks' sizes). */
nn_tensor *mod_transformer_diffusion_forward(nn_ctx *c, const mod_transformer_diffusion *m, nn_tensor *sample,
                                             const float *timesteps, nn_tensor *cond);
/* DP's get_optim_groups: the weights of the Linear and attention layers decay; biases, LayerNorm
 * weights, pos_emb, cond_pos_emb and _dummy_variable do not (NN_NO_DECAY set or cleared to
 * match, whatever the flags were). Every entry of the module moves to optimizer group `group`,
 * whose weight decay the caller sets (DP: transformer_weight_decay 1e-3; its observation
 * encoder's group 1e-6). Returns the number of decayed tensors, or -1 with error_set. */
int mod_transformer_diffusion_optim_groups(const mod_transformer_diffusion *m, nn_params *ps, int group);

#endif
