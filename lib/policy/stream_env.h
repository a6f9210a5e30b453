/* stream_env.h — a sample stream as a policy's environment, for running a policy on recorded
 * data (predict) instead of a simulator: the first sample says what the environment offers, and
 * each sample's observation fields, with or without an observation history (chunkify
 * --obs-steps), become the observations of steps 0..history-1.
 *
 *   policy_stream_env e;
 *   policy_stream_env_init(&e, &first_sample, "ckpt.h5");
 *   policy_t *p = policy_open("ckpt.h5", &e.env, &options);
 *   per sample s, per step t < e.history:
 *       policy_stream_observation(&e, &s, t, &obs); policy_observe / policy_step ...
 *
 * Fields: observation.state (qpos), observation.velocity, observation.images.<camera> (uint8
 * [H,W,3]), and any other float32 observation.<key> vector as the named observation <key>. Each
 * is one step ([D], [H,W,3]) or a history ([N,D], [N,H,W,3]) of the same N. */
#ifndef ILT_POLICY_STREAM_ENV_H
#define ILT_POLICY_STREAM_ENV_H

#include "io/stream.h"
#include "policy/policy.h"

typedef struct policy_stream_env {
    policy_env_t env;              /* task "stream"; the names point into the arrays below */
    int history;                   /* observation steps per sample (1 without a history) */
    char camera_fields[POLICY_MAX_CAMERAS][96], obs_fields[POLICY_MAX_OBS][96];   /* field names */
} policy_stream_env;

/* What the first sample s offers. The action size is the sample's action field's; without one,
 * the checkpoint's configured action_dim (checkpoint may be NULL when the stream has actions).
 * -1 with an error naming the sample and the field otherwise. */
int policy_stream_env_init(policy_stream_env *e, const stream_sample *s, const char *checkpoint);
/* Step t's observation of sample s (pointers into the sample's arrays, valid while it lives); -1
 * when a field is missing or not shaped like the first sample's. */
int policy_stream_observation(const policy_stream_env *e, const stream_sample *s, int t, policy_observation_t *obs);

#endif
