/* diffusion_schedule.c — the noise schedule and the two samplers' steps exactly as diffusers 0.11.1
 * computes them for Diffusion Policy: squaredcos_cap_v2 betas, forward noising, DDPMScheduler.step
 * (fixed_small variance, clipped x0) and DDIMScheduler.step (eta 0, set_alpha_to_one). Every
 * scalar is a float32 as in the reference's 0-dim tensors, in the same order of operations, so
 * the steps agree with PyTorch to the last bit or so. */
#include "policy/diffusion.h"

#include <math.h>

#include "util/error.h"

static double alpha_bar(double t)
{
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

int dp_schedule_init(dp_schedule *s, int train_steps)
{
    if (train_steps < 1 || train_steps > DP_MAX_TRAIN_STEPS)
        return error_set("Diffusion Policy: num_train_timesteps must be 1..%d, got %d", DP_MAX_TRAIN_STEPS, train_steps);
    s->train_steps = train_steps;
    double cumprod = 1.0;   /* torch's CPU cumprod accumulates a float tensor in double */
    for (int i = 0; i < train_steps; i++) {
        double beta = 1.0 - alpha_bar((double)(i + 1) / train_steps) / alpha_bar((double)i / train_steps);
        s->betas[i] = (float)(beta < 0.999 ? beta : 0.999);
        s->alphas[i] = 1.0f - s->betas[i];
        cumprod *= (double)s->alphas[i];
        s->alphas_cumprod[i] = (float)cumprod;
    }
    return 0;
}

int dp_schedule_timesteps(const dp_schedule *s, dp_sampler sampler, int steps, int *t, int max)
{
    const int T = s->train_steps;
    if (steps > T) steps = T;
    if (steps < 1) steps = 1;
    const int ratio = T / steps;
    int n = sampler == DP_SAMPLER_DDIM ? steps : (T + ratio - 1) / ratio;   /* len(arange(0, T, ratio)) */
    for (int i = 0; i < n && i < max; i++) t[i] = (n - 1 - i) * ratio;
    return n;
}

void dp_add_noise(const dp_schedule *s, int t, const float *x0, const float *noise, float *xt, long n)
{
    const float a = sqrtf(s->alphas_cumprod[t]), b = sqrtf(1.0f - s->alphas_cumprod[t]);
    for (long i = 0; i < n; i++) xt[i] = a * x0[i] + b * noise[i];
}

/* The clipped x0 estimate of one element. */
static inline float predicted_x0(dp_prediction pred, float sample, float output, float sqrt_beta_prod, float sqrt_alpha_prod)
{
    float x0 = pred == DP_PREDICT_EPSILON ? (sample - sqrt_beta_prod * output) / sqrt_alpha_prod : output;
    return x0 < -1.0f ? -1.0f : x0 > 1.0f ? 1.0f : x0;
}

void dp_ddpm_step(const dp_schedule *s, dp_prediction pred, int t, const float *model_output, const float *sample,
                  const float *noise, float *prev, long n)
{
    const float alpha_prod = s->alphas_cumprod[t], alpha_prod_prev = t > 0 ? s->alphas_cumprod[t - 1] : 1.0f;
    const float beta_prod = 1.0f - alpha_prod, beta_prod_prev = 1.0f - alpha_prod_prev;
    const float sqrt_beta_prod = sqrtf(beta_prod), sqrt_alpha_prod = sqrtf(alpha_prod);
    const float x0_coeff = sqrtf(alpha_prod_prev) * s->betas[t] / beta_prod;
    const float sample_coeff = sqrtf(s->alphas[t]) * beta_prod_prev / beta_prod;
    float variance = (1.0f - alpha_prod_prev) / (1.0f - alpha_prod) * s->betas[t];
    if (variance < 1e-20f) variance = 1e-20f;
    const float std = sqrtf(variance);
    for (long i = 0; i < n; i++) {
        float x0 = predicted_x0(pred, sample[i], model_output[i], sqrt_beta_prod, sqrt_alpha_prod);
        float mean = x0_coeff * x0 + sample_coeff * sample[i];
        prev[i] = t > 0 ? mean + std * noise[i] : mean;
    }
}

void dp_ddim_step(const dp_schedule *s, dp_prediction pred, int t, int prev_t, const float *model_output,
                  const float *sample, float *prev, long n)
{
    const float alpha_prod = s->alphas_cumprod[t], alpha_prod_prev = prev_t >= 0 ? s->alphas_cumprod[prev_t] : 1.0f;
    const float sqrt_beta_prod = sqrtf(1.0f - alpha_prod), sqrt_alpha_prod = sqrtf(alpha_prod);
    /* eta 0: std_dev_t = 0, so the direction's factor is sqrt(1 - abar_prev - 0) */
    const float direction = sqrtf(1.0f - alpha_prod_prev - 0.0f), sqrt_alpha_prod_prev = sqrtf(alpha_prod_prev);
    for (long i = 0; i < n; i++) {
        float x0 = predicted_x0(pred, sample[i], model_output[i], sqrt_beta_prod, sqrt_alpha_prod);
        prev[i] = sqrt_alpha_prod_prev * x0 + direction * model_output[i];
    }
}
