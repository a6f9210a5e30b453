/* exchange.h — ACT checkpoints to and from the PyTorch world: LeRobot's pretrained-model
 * directory (config.json + model.safetensors with LeRobot's parameter names and normalisation
 * buffers) and a plain safetensors file with the original ACT code's names (ours).
 *
 * Names: our checkpoints use tonyzhaozh/act's names; LeRobot renames most of them
 * (exchange_act_to_lerobot, the table in exchange.c) and has no is_pad_head, which travels in
 * the file's metadata so that a round trip gives back every parameter bit for bit. Our whole
 * configuration travels in the metadata too ("ilt.config", a JSON object), which LeRobot ignores;
 * a LeRobot model without it is described by its config.json alone.
 *
 *   exchange_export("ckpt.h5", EXCHANGE_LEROBOT, "pretrained_model");   // a directory
 *   exchange_import("pretrained_model", EXCHANGE_LEROBOT, "ckpt.h5");
 *
 * Normalisation: LeRobot divides by std + 1e-8, we by std: the buffers are copied as they are
 * (a relative difference of at most 1e-6 where std >= 1e-2, our lower clip).
 * Functions return 0, or -1 with error_set naming the file and the tensor or key. */
#ifndef ILT_POLICY_EXCHANGE_H
#define ILT_POLICY_EXCHANGE_H

#include <stddef.h>

/* EXCHANGE_DP: a Diffusion Policy or IBC checkpoint as one safetensors file with Diffusion
 * Policy's state_dict names and its LinearNormalizer (exchange_dp.c). */
typedef enum { EXCHANGE_LEROBOT, EXCHANGE_ACT, EXCHANGE_DP } exchange_format;

/* Our (original ACT) name -> LeRobot's into out[size]; 0, or 1 when LeRobot has no such tensor
 * (is_pad_head), -1 when the name is not an ACT parameter. */
int exchange_act_to_lerobot(const char *name, char *out, size_t size);
/* LeRobot's name -> ours; -1 when the name is not one of LeRobot ACT's parameters. */
int exchange_lerobot_to_act(const char *name, char *out, size_t size);

/* An ACT checkpoint -> out: LeRobot: a directory (created if needed) with config.json and
 * model.safetensors; ACT: one safetensors file. The weights a policy runs with are written. */
int exchange_export(const char *checkpoint, exchange_format format, const char *out);
/* A LeRobot directory (or its config.json), or a safetensors file we wrote (original ACT names,
 * or DP's names: the format follows the policy of its ilt.config metadata) -> our checkpoint. */
int exchange_import(const char *in, exchange_format format, const char *checkpoint);

/* The EXCHANGE_DP halves (exchange_dp.c). */
int exchange_export_dp(const char *checkpoint, const char *out);
#endif
