/* registry.c — the policy classes a checkpoint can name in its "policy" attribute. Each policy's
 * code (ACT, Diffusion Policy, IBC) adds its class here: declare it and list it before NULL. */
#include "policy/policy.h"
#include "policy/act.h"
#include "policy/diffusion.h"
#include "policy/ibc.h"

static const policy_class_t *const registered[] = {
    &act_policy_class,
    &cnnmlp_policy_class,
    &diffusion_policy_class,
    &ibc_policy_class,
    NULL,
};

const policy_class_t *const *policy_classes(void) { return registered; }
