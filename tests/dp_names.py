#!/usr/bin/python3
"""dp_names.py — checks of `ckpt-convert -f dp` files (tests/checkpoint_exchange.bats) from the
PyTorch side, with the modules of tests/dp_torch_ref.py and tests/torch_ref/make_refs.py (written
from Diffusion Policy's and robomimic's structure, with their state_dict names):

    load FILE.safetensors      build the policy its ilt.config describes in PyTorch (the hybrid or
                               ResNet encoder, ConditionalUnet1D or TransformerForDiffusion, or IBC's
                               dense0..dense4) and load the file's weights strictly (every name and
                               shape, robomimic's duplicate VisualCore names included); check each
                               normalizer.params_dict entry is DP's LinearNormalizer of its
                               input_stats (limits to [-1, 1], identity, maxabs, images [0,1] -> [-1,1])
    damage IN OUT KIND         write IN damaged one way (extra, alias, scale, missing, noconfig)
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dp_torch_ref as ref  # noqa: E402

make_refs = ref.make_refs


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(body[b:end], "<f4").reshape(e["shape"]).copy()
    return tensors, meta


def write(path, tensors, meta):
    header, chunks, offset = {}, [], 0
    for name, v in tensors.items():
        raw = np.ascontiguousarray(v, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def ints(text):
    return [int(x) for x in text.split(",") if x]


class IbcEnergy(nn.Module):
    def __init__(self, obs_encoder, in_dim, width):
        super().__init__()
        if obs_encoder is not None:
            self.obs_encoder = obs_encoder
        dims = [in_dim] + [width] * 4 + [1]
        for i in range(5):
            setattr(self, f"dense{i}", nn.Linear(dims[i], dims[i + 1]))


def build(cfg):
    cameras = [c for c in cfg["cameras"].split(",") if c]
    lowdim = sum(ints(cfg.get("lowdim_dims", "")))
    enc_kind, fd = cfg["obs_encoder"], int(cfg["feature_dim"])
    if enc_kind == "hybrid":
        enc = ref.HybridEncoder(cameras, int(cfg["crop_height"]), int(cfg["crop_width"]), int(cfg["num_keypoints"]), fd)
        per_step = len(cameras) * fd + lowdim
    elif enc_kind == "resnet":
        enc, per_step = ref.ResNetEncoder(cameras), len(cameras) * 512 + lowdim
    else:
        enc, per_step = None, lowdim
    A, To = int(cfg["action_dim"]), int(cfg["n_obs_steps"])
    if cfg["policy"] == "ibc":
        return IbcEnergy(enc, To * per_step + int(cfg["n_action_steps"]) * A, int(cfg["mlp_width"]))
    if cfg["net"] == "unet":
        net = make_refs.CondUnet1D(A, To * per_step, int(cfg["diffusion_step_embed_dim"]), ints(cfg["down_dims"]),
                                   int(cfg["kernel_size"]), int(cfg["n_groups"]), cfg["cond_predict_scale"] == "1")
    else:
        net = make_refs.TransformerForDiffusion(A, per_step, int(cfg["horizon"]), To, int(cfg["n_layer"]),
                                                int(cfg["n_head"]), int(cfg["n_emb"]), 0.0, 0.0)
    policy = nn.Module()
    if enc is not None:
        policy.obs_encoder = enc
    policy.model = net
    return policy


def load(path):
    tensors, meta = read(path)
    cfg = json.loads(meta["ilt.config"])
    policy = build(cfg)
    weights = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("normalizer.")}
    policy.load_state_dict(weights, strict=True)
    # the normaliser: DP's LinearNormalizer of input_stats
    keys = [k for k in cfg.get("lowdim_keys", "").split(",") if k]
    norms = cfg.get("lowdim_norm", "").split(",")
    entries = [("action", "limits")] + [(k.replace("observation.", "", 1), n) for k, n in zip(keys, norms)]
    entries += [(c + "_image", "image") for c in cfg["cameras"].split(",") if c]
    # DP's low-dim datasets' normaliser: one scale 1/max|x| over every maxabs key, no offset
    top = max([np.abs(tensors["normalizer.params_dict.%s.input_stats.%s" % (k, w)]).max()
               for k, n in entries if n == "maxabs" for w in ("min", "max")] or [1])
    for key, kind in entries:
        g = lambda what: tensors["normalizer.params_dict.%s.%s" % (key, what)]
        if kind == "maxabs":
            scale = torch.full(g("scale").shape, float(np.float32(1) / np.float32(top)))
            offset = torch.zeros(g("scale").shape)
        elif kind == "image":
            scale, offset = torch.tensor([2.0]), torch.tensor([-1.0])
        elif kind == "identity":
            scale, offset = torch.ones(g("scale").shape), torch.zeros(g("scale").shape)
        else:
            eps = 1e-4 if key == "action" else float(cfg.get("lowdim_range_eps", "1e-4"))
            scale, offset = ref.limits(g("input_stats.min"), g("input_stats.max"), eps)
        assert np.array_equal(g("scale"), scale.numpy()), (key, g("scale"), scale)
        assert np.array_equal(g("offset"), offset.numpy()), (key, g("offset"), offset)
    n_alias = sum(".nets.0." in k or ".nets.1." in k for k in weights if k.startswith("obs_encoder.obs_nets."))
    print("loaded strictly: %d tensors (%d robomimic aliases), %d normaliser entries" % (len(weights), n_alias, len(entries)))


def damage(src, dst, kind):
    tensors, meta = read(src)
    if kind == "extra":
        tensors["model.extra.weight"] = np.zeros((2, 2), np.float32)
    elif kind == "alias":
        name = next(k for k in tensors if "_image.nets.0." in k)
        tensors[name] = tensors[name] + 1
    elif kind == "scale":
        tensors["normalizer.params_dict.action.scale"] = tensors["normalizer.params_dict.action.scale"] * 2
    elif kind == "missing":
        del tensors[next(k for k in tensors if k.startswith("model.") or k.startswith("dense"))]
    elif kind == "noconfig":
        meta = {"format": "pt"}
    write(dst, tensors, meta)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "load":
        load(sys.argv[2])
    elif sys.argv[1] == "damage":
        damage(*sys.argv[2:5])
    else:
        sys.exit("usage: dp_names.py load FILE | damage IN OUT KIND")
