/* diffusion_internal.h — what the diffusion_*.c files share and nothing else uses: the
 * normaliser's storage and the observation encoders' construction. */
#ifndef ILT_POLICY_DIFFUSION_INTERNAL_H
#define ILT_POLICY_DIFFUSION_INTERNAL_H

#include "policy/diffusion.h"

/* Limits start as min -1, max 1 (scale 1, offset 0). */
int dp_normalizer_alloc(dp_normalizer *z, const dp_config *cfg);
void dp_normalizer_free(dp_normalizer *z);

/* Register (and with rng initialise) camera k's encoder under DP's names. */
int dp_camera_encoder_init(dp_camera_encoder *e, nn_params *ps, rng_t *rng, const dp_config *cfg, int k);

#endif
