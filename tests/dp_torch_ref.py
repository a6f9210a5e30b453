#!/usr/bin/python3
"""dp_torch_ref.py — PyTorch references for Diffusion Policy's observation encoders and training
loss (tests/unit/test_diffusion_torch.c).

The modules are written here from the reference code's structure (real-stanford/diffusion_policy's
DiffusionUnetHybridImagePolicy with robomimic's ObservationEncoder/VisualCore/SpatialSoftmax, and
its MultiImageObsEncoder), with the same state_dict names, so that parameter values can be given
by name: every parameter comes from tests/torch_ref/make_refs.py's hash_fill (reproduced in C by
ref_hash_fill), the SpatialSoftmax buffers keep their true values. Files follow make_refs.py's
conventions (in./out./grad.<name>.npy, float32) under tests/dp_ref/<case>/ (tests/dp_ref/schedule/
is tests/dp_schedule_ref.py's):

    hybrid          two cameras + two low-dim keys: features with given crop offsets, the MSE
                    loss of the UNet for given timesteps and noise, parameter gradients, and
                    DDIM sampling (4 steps, centre crop) from a given x_T
    transformer     the same with one camera and TransformerForDiffusion
    resnet_encoder  the global-average-pool ResNet encoder with the centre crop (odd margins:
                    Python's round half to even)

Computation is in float64 from float32 inputs and parameters, except what DP computes in float32
before the network (the limits normaliser, image scaling), done here in float32 as DP does.

Run: /usr/bin/python3 tests/dp_torch_ref.py
"""
import importlib.util
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TVF

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dp_ref")
HEAD = 256  # elements of a large gradient that are stored

spec = importlib.util.spec_from_file_location("make_refs", os.path.join(HERE, "torch_ref", "make_refs.py"))
make_refs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_refs)


def save(case, kind, name, value):
    folder = os.path.join(OUT, case)
    os.makedirs(folder, exist_ok=True)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    np.save(os.path.join(folder, f"{kind}.{name}.npy"), np.ascontiguousarray(np.asarray(value, dtype=np.float32)))


# ---------------------------------------------------------------- the modules
def resnet18_groupnorm():
    """torchvision resnet18 with every BatchNorm2d(C) replaced by GroupNorm(C // 16, C)."""
    return torchvision.models.resnet18(weights=None, norm_layer=lambda c: nn.GroupNorm(c // 16, c))


class ResNet18Conv(nn.Module):
    """robomimic: the resnet's children up to layer4 as one Sequential named `nets`."""

    def __init__(self):
        super().__init__()
        self.nets = nn.Sequential(*list(resnet18_groupnorm().children())[:-2])

    def forward(self, x):
        return self.nets(x)


class SpatialSoftmax(nn.Module):
    """robomimic: 1x1 conv to the keypoints, softmax over H*W, expected (x, y) on linspace grids."""

    def __init__(self, c, h, w, num_kp):
        super().__init__()
        self.h, self.w, self.num_kp = h, w, num_kp
        self.nets = nn.Conv2d(c, num_kp, kernel_size=1)
        self.register_buffer("temperature", torch.ones(1))
        px, py = np.meshgrid(np.linspace(-1.0, 1.0, w), np.linspace(-1.0, 1.0, h))
        self.register_buffer("pos_x", torch.from_numpy(px.reshape(1, h * w)).float())
        self.register_buffer("pos_y", torch.from_numpy(py.reshape(1, h * w)).float())

    def forward(self, x):
        att = F.softmax(self.nets(x).reshape(-1, self.h * self.w) / self.temperature, dim=-1)
        ex = torch.sum(self.pos_x * att, dim=1, keepdim=True)
        ey = torch.sum(self.pos_y * att, dim=1, keepdim=True)
        return torch.cat([ex, ey], 1).view(-1, self.num_kp, 2)


class VisualCore(nn.Module):
    """robomimic: backbone, pool, and nets = Sequential(backbone, pool, Flatten, Linear)."""

    def __init__(self, crop_h, crop_w, num_kp, feature_dim):
        super().__init__()
        self.backbone = ResNet18Conv()
        self.pool = SpatialSoftmax(512, (crop_h + 31) // 32, (crop_w + 31) // 32, num_kp)
        self.nets = nn.Sequential(self.backbone, self.pool, nn.Flatten(1), nn.Linear(2 * num_kp, feature_dim))

    def forward(self, x):
        return self.nets(x)


class HybridEncoder(nn.Module):
    """robomimic ObservationEncoder as DP's hybrid policy uses it: per camera a VisualCore then
    ReLU, low-dim keys flattened, concatenated in key order (cameras first here)."""

    def __init__(self, cameras, crop_h, crop_w, num_kp, feature_dim):
        super().__init__()
        self.cameras = cameras
        self.obs_nets = nn.ModuleDict({c + "_image": VisualCore(crop_h, crop_w, num_kp, feature_dim) for c in cameras})

    def forward(self, images, lowdim):
        feats = [F.relu(self.obs_nets[c + "_image"](images[c])) for c in self.cameras]
        return torch.cat(feats + [lowdim], dim=-1)


class ResNetEncoder(nn.Module):
    """DP's MultiImageObsEncoder: a resnet18 (fc removed) per camera, global average pooled."""

    def __init__(self, cameras):
        super().__init__()
        self.cameras = cameras
        self.key_model_map = nn.ModuleDict()
        for c in cameras:
            net = resnet18_groupnorm()
            net.fc = nn.Identity()
            self.key_model_map[c + "_image"] = net

    def forward(self, images, lowdim):
        return torch.cat([self.key_model_map[c + "_image"](images[c]) for c in self.cameras] + [lowdim], dim=-1)


class Policy(nn.Module):
    def __init__(self, obs_encoder, unet):
        super().__init__()
        self.obs_encoder = obs_encoder
        self.model = unet


def fill(policy):
    """make_refs.py's hash_fill by full name, then the SpatialSoftmax buffers back to their values."""
    buffers = {k: v.clone() for k, v in policy.named_buffers()}
    make_refs.hash_fill(policy)
    with torch.no_grad():
        for k, v in policy.named_buffers():
            v.copy_(buffers[k])


# ---------------------------------------------------------------- preprocessing as DP does it (float32)
def limits(xmin, xmax, eps=1e-4):
    """LinearNormalizer mode 'limits' to [-1, 1], range_eps eps (DP's 1e-4; float32)."""
    xmin, xmax = torch.from_numpy(xmin).float(), torch.from_numpy(xmax).float()
    rng = xmax - xmin
    ignore = rng < torch.tensor(eps, dtype=torch.float32)
    rng[ignore] = 2.0
    scale = 2.0 / rng
    offset = -1.0 - scale * xmin
    offset[ignore] = 0.0 - xmin[ignore]
    return scale, offset


def image_float(u8):
    """uint8 [..., H, W, 3] -> [..., 3, H, W] in [-1, 1] (dataset /255, image range normaliser)."""
    x = torch.from_numpy(np.moveaxis(u8, -1, -3).astype(np.float32) / np.float32(255.0))
    return x * torch.tensor(2.0, dtype=torch.float32) + torch.tensor(-1.0, dtype=torch.float32)


def crop(x, crops, h, w):
    """x [N, 3, H, W], crops [N, 2] (y, x) -> [N, 3, h, w]."""
    return torch.stack([x[n, :, oy:oy + h, ox:ox + w] for n, (oy, ox) in enumerate(crops)])


def betas(T=100):
    """squaredcos_cap_v2 as diffusers 0.11.1: computed in float64, stored as float32."""
    ab = lambda t: np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
    return torch.tensor([min(1 - ab((i + 1) / T) / ab(i / T), 0.999) for i in range(T)], dtype=torch.float32)


def alphas_cumprod(T=100):
    return torch.cumprod(1.0 - betas(T), dim=0)


# ---------------------------------------------------------------- the cases
def loss_case(case, cameras, Hz, make_net, seed):
    """The hybrid encoder with the given cameras, two low-dim keys and the network make_net(A, To, D)
    returns (a module, its call on noisy actions, timesteps and the [B, To*D] features)."""
    B, To, A = 2, 2, 3
    H, W, ch, cw = 40, 72, 36, 68
    keys, dims = ["robot0_eef_pos", "gripper"], [3, 2]
    num_kp, feature_dim = 8, 6
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(B, To, len(cameras), H, W, 3)).astype(np.uint8)
    lowdim = {k: rng.normal(size=(B, To, d)).astype(np.float32) * 2 + 1 for k, d in zip(keys, dims)}
    action = (rng.normal(size=(B, Hz, A)) * 0.5).astype(np.float32)
    lim = {"action": (action.reshape(-1, A).min(0) - 0.1, action.reshape(-1, A).max(0) + 0.2)}
    for k in keys:
        v = lowdim[k].reshape(-1, lowdim[k].shape[-1])
        lo, hi = v.min(0), v.max(0)
        lo[0] = hi[0] = 0.5  # a constant dimension: scale 1, offset -min
        lim[k] = (lo.astype(np.float32), hi.astype(np.float32))
    crops = np.stack([rng.integers(0, H - ch + 1, size=(B, To, len(cameras))),
                      rng.integers(0, W - cw + 1, size=(B, To, len(cameras)))], axis=-1)
    timesteps = np.array([7, 93])
    noise = rng.normal(size=(B, Hz, A)).astype(np.float32)

    save(case, "in", "images", images)
    for k in keys:
        save(case, "in", "lowdim." + k, lowdim[k])
    save(case, "in", "action", action)
    for k, (lo, hi) in lim.items():
        save(case, "in", "min." + k, lo)
        save(case, "in", "max." + k, hi)
    save(case, "in", "crops", crops)
    save(case, "in", "timesteps", timesteps)
    save(case, "in", "noise", noise)

    # normalisation and image preprocessing in float32, as DP
    nlow = []
    for k in keys:
        s, o = limits(*lim[k])
        nlow.append(torch.from_numpy(lowdim[k]) * s + o)
    nlow = torch.cat(nlow, dim=-1).reshape(B * To, -1).double()
    s, o = limits(*lim["action"])
    naction = (torch.from_numpy(action) * s + o).double()
    imgs = {}
    for k, c in enumerate(cameras):
        x = image_float(images[:, :, k].reshape(B * To, H, W, 3))
        imgs[c] = crop(x, crops[:, :, k].reshape(B * To, 2), ch, cw).double()

    torch.set_default_dtype(torch.float64)
    enc = HybridEncoder(cameras, ch, cw, num_kp, feature_dim)
    D = len(cameras) * feature_dim + sum(dims)
    net, call = make_net(A, To, D)
    policy = Policy(enc, net)
    fill(policy)
    features = enc(imgs, nlow).reshape(B, To * D)
    ac = alphas_cumprod().double()
    t = torch.from_numpy(timesteps)
    a, b = ac[t].sqrt()[:, None, None], (1 - ac[t]).sqrt()[:, None, None]
    eps = torch.from_numpy(noise).double()
    noisy = a * naction + b * eps
    pred = call(noisy, t.double(), features)
    loss = F.mse_loss(pred, eps)
    loss.backward()
    save(case, "out", "features", features)
    save(case, "out", "loss", loss.reshape(1))

    # sampling: DDIM with 4 steps (75, 50, 25, 0) from a given x_T, on centre-cropped images
    x_T = rng.normal(size=(B, Hz, A)).astype(np.float32)
    save(case, "in", "x_T", x_T)
    with torch.no_grad():
        centre = {c: TVF.center_crop(image_float(images[:, :, k].reshape(B * To, H, W, 3)), [ch, cw]).double()
                  for k, c in enumerate(cameras)}
        cond = enc(centre, nlow).reshape(B, To * D)
        x = torch.from_numpy(x_T).double()
        for t in (75, 50, 25, 0):
            out = call(x, torch.full((B,), float(t)), cond)
            ab, abp = ac[t], (ac[t - 25] if t >= 25 else torch.tensor(1.0).double())
            x0 = ((x - (1 - ab).sqrt() * out) / ab.sqrt()).clamp(-1, 1)
            x = abp.sqrt() * x0 + (1 - abp).sqrt() * out
    save(case, "out", "ddim4", x)
    for name, p in policy.named_parameters():
        if p.grad is None:   # TransformerForDiffusion's empty _dummy_variable
            continue
        g = p.grad.detach().reshape(-1)
        save(case, "grad", name, g[:HEAD] if g.numel() > 8 * HEAD else p.grad)
    torch.set_default_dtype(torch.float32)


def case_hybrid():
    """Two cameras and the UNet (down_dims 16,32, kernel 3, 4 groups, step embedding 8, FiLM scale)."""
    def unet(A, To, D):
        m = make_refs.CondUnet1D(A, To * D, 8, [16, 32], 3, 4, True)
        return m, lambda x, t, features: m(x, t, features)
    loss_case("hybrid", ["agentview", "wrist"], 8, unet, 3)


def case_transformer():
    """One camera and TransformerForDiffusion (2 layers, 2 heads, 16 features, no dropout), the
    features as one condition token per observation step; horizon 6 (no halving needed)."""
    def transformer(A, To, D):
        m = make_refs.TransformerForDiffusion(A, D, 6, To, 2, 2, 16, 0.0, 0.0)
        return m, lambda x, t, features: m(x, t, features.reshape(x.shape[0], To, D))
    loss_case("transformer", ["agentview"], 6, transformer, 5)


def case_resnet_encoder():
    case = "resnet_encoder"
    B, To, H, W, ch, cw = 1, 2, 41, 43, 36, 36   # margins 5 and 7: centre offsets round(2.5) = 2, round(3.5) = 4
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(B, To, 1, H, W, 3)).astype(np.uint8)
    lowdim = rng.normal(size=(B, To, 2)).astype(np.float32)
    save(case, "in", "images", images)
    save(case, "in", "lowdim.qpos", lowdim)
    x = TVF.center_crop(image_float(images[:, :, 0].reshape(B * To, H, W, 3)), [ch, cw]).double()
    torch.set_default_dtype(torch.float64)
    enc = ResNetEncoder(["front"])
    policy = Policy(enc, nn.Identity())
    fill(policy)
    features = enc({"front": x}, torch.from_numpy(lowdim).reshape(B * To, 2).double()).reshape(B, -1)
    save(case, "out", "features", features)
    torch.set_default_dtype(torch.float32)


CASES = {"hybrid": case_hybrid, "transformer": case_transformer, "resnet_encoder": case_resnet_encoder}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # torch's CPU cumprod of a float32 tensor accumulates in float64 (a float32 running product
    # differs in most entries): the C schedule relies on it
    expect = np.cumprod((1.0 - betas()).numpy().astype(np.float64)).astype(np.float32)
    assert np.array_equal(expect, alphas_cumprod().numpy()), "torch's cumprod is not a float64 accumulation"
    for case in CASES:
        if os.path.isdir(os.path.join(OUT, case)):
            shutil.rmtree(os.path.join(OUT, case))
    for fn in CASES.values():
        fn()
    total = sum(os.path.getsize(os.path.join(OUT, c, f)) for c in CASES for f in os.listdir(os.path.join(OUT, c)))
    print(f"dp_torch_ref: wrote {total / 1e6:.2f} MB under {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
