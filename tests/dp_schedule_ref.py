#!/usr/bin/python3
"""dp_schedule_ref.py — a NumPy transcription of the diffusers 0.11.1 scheduler formulas that
Diffusion Policy uses (DDPMScheduler: squaredcos_cap_v2, fixed_small, clip_sample; DDIMScheduler:
set_alpha_to_one, steps_offset 0, eta 0), for tests/unit/test_diffusion.c. Every scalar is a
float32, as the reference's 0-dim tensors, in the reference's order of operations.

Writes tests/dp_ref/schedule/*.npy (float32):
    betas, alphas_cumprod                     [100]
    timesteps.ddpm_8, timesteps.ddpm_100, timesteps.ddim_8, timesteps.ddim_10
    model_output, sample, noise               [2, 16, 3] inputs of the steps below
    add_noise_t50                             x_t at t = 50 (x0 = sample, eps = noise)
    ddpm_t37, ddpm_t0                         DDPM steps, epsilon prediction
    ddpm_sample_t37                           DDPM step, sample prediction
    ddim_t72_n8, ddim_t0_n10                  DDIM steps (prev 60, prev -10)
    ddim_sample_t90_n10                       DDIM step, sample prediction (prev 80)

Run: /usr/bin/python3 tests/dp_schedule_ref.py
"""
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dp_ref", "schedule")
f32 = np.float32
T = 100


def save(name, value):
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(np.asarray(value, dtype=np.float32)))


def betas_for_alpha_bar(n, max_beta=0.999):
    alpha_bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)], dtype=np.float32)


BETAS = betas_for_alpha_bar(T)
ALPHAS = (f32(1.0) - BETAS).astype(np.float32)
# torch.cumprod on the CPU accumulates float32 in float64 and rounds each entry
ALPHAS_CUMPROD = np.cumprod(ALPHAS.astype(np.float64)).astype(np.float32)
ONE = f32(1.0)


def ddpm_timesteps(n):
    n = min(T, n)
    return np.arange(0, T, T // n)[::-1]


def ddim_timesteps(n):
    return (np.arange(0, n) * (T // n)).round()[::-1].astype(np.int64)


def add_noise(x0, noise, t):
    return np.sqrt(ALPHAS_CUMPROD[t]) * x0 + np.sqrt(f32(1) - ALPHAS_CUMPROD[t]) * noise


def ddpm_step(model_output, t, sample, noise, prediction="epsilon"):
    alpha_prod_t = ALPHAS_CUMPROD[t]
    alpha_prod_t_prev = ALPHAS_CUMPROD[t - 1] if t > 0 else ONE
    beta_prod_t = f32(1) - alpha_prod_t
    beta_prod_t_prev = f32(1) - alpha_prod_t_prev
    if prediction == "epsilon":
        pred_original_sample = (sample - np.sqrt(beta_prod_t) * model_output) / np.sqrt(alpha_prod_t)
    else:
        pred_original_sample = model_output
    pred_original_sample = np.clip(pred_original_sample, f32(-1), f32(1))
    pred_original_sample_coeff = (np.sqrt(alpha_prod_t_prev) * BETAS[t]) / beta_prod_t
    current_sample_coeff = np.sqrt(ALPHAS[t]) * beta_prod_t_prev / beta_prod_t
    pred_prev_sample = pred_original_sample_coeff * pred_original_sample + current_sample_coeff * sample
    if t > 0:
        variance = (f32(1) - alpha_prod_t_prev) / (f32(1) - alpha_prod_t) * BETAS[t]
        variance = np.maximum(variance, f32(1e-20))
        pred_prev_sample = pred_prev_sample + np.sqrt(variance) * noise
    return pred_prev_sample


def ddim_step(model_output, t, sample, n, prediction="epsilon"):
    prev_t = t - T // n
    alpha_prod_t = ALPHAS_CUMPROD[t]
    alpha_prod_t_prev = ALPHAS_CUMPROD[prev_t] if prev_t >= 0 else ONE
    beta_prod_t = f32(1) - alpha_prod_t
    if prediction == "epsilon":
        pred_original_sample = (sample - np.sqrt(beta_prod_t) * model_output) / np.sqrt(alpha_prod_t)
    else:
        pred_original_sample = model_output
    pred_original_sample = np.clip(pred_original_sample, f32(-1), f32(1))
    std_dev_t = f32(0)  # eta 0
    pred_sample_direction = np.sqrt(f32(1) - alpha_prod_t_prev - std_dev_t ** 2) * model_output
    return np.sqrt(alpha_prod_t_prev) * pred_original_sample + pred_sample_direction


def main():
    rng = np.random.default_rng(11)
    shape = (2, 16, 3)
    model_output = rng.normal(size=shape).astype(np.float32)
    sample = (rng.normal(size=shape) * 1.5).astype(np.float32)   # some x0 estimates outside [-1, 1]
    noise = rng.normal(size=shape).astype(np.float32)
    save("betas", BETAS)
    save("alphas_cumprod", ALPHAS_CUMPROD)
    save("timesteps.ddpm_8", ddpm_timesteps(8))
    save("timesteps.ddpm_100", ddpm_timesteps(100))
    save("timesteps.ddim_8", ddim_timesteps(8))
    save("timesteps.ddim_10", ddim_timesteps(10))
    save("model_output", model_output)
    save("sample", sample)
    save("noise", noise)
    save("add_noise_t50", add_noise(sample, noise, 50))
    save("ddpm_t37", ddpm_step(model_output, 37, sample, noise))
    save("ddpm_t0", ddpm_step(model_output, 0, sample, noise))
    save("ddpm_sample_t37", ddpm_step(model_output, 37, sample, noise, "sample"))
    save("ddim_t72_n8", ddim_step(model_output, 72, sample, 8))
    save("ddim_t0_n10", ddim_step(model_output, 0, sample, 10))
    save("ddim_sample_t90_n10", ddim_step(model_output, 90, sample, 10, "sample"))


if __name__ == "__main__":
    main()
