#!/usr/bin/python3
"""lerobot_act.py — an ACT laid out as LeRobot's ACTPolicy, in PyTorch, for checkpoint_exchange.bats.

  lerobot_act.py make DIR [--processor]    a random LeRobot ACT (two cameras): DIR/config.json and
                                           DIR/model.safetensors (the normalisation as normalize_inputs/
                                           unnormalize_outputs buffers, or with --processor in
                                           policy_preprocessor*.safetensors and policy_postprocessor*)
  lerobot_act.py stream DIR STREAM.tar     three random observations for DIR's model
  lerobot_act.py run DIR STREAM.tar OUT.npy          load DIR as LeRobot would (strict state dict) and
                                                     write its chunks [N,K,A] for the stream's samples
  lerobot_act.py compare PRED.tar WANT.npy           print the relative difference of predict's chunks

The modules are built the way LeRobot's modeling_act.py builds them (torchvision's resnet18 with
FrozenBatchNorm2d under IntermediateLayerGetter, post-norm DETR layers, one embedding per learned
position), so the state dict's names are LeRobot's by construction; the safetensors files are
written with json + numpy (LeRobot itself is not installable here). Inference as LeRobot's:
z = 0, tokens [latent, state, camera features camera after camera], inputs (x - mean) / (std + 1e-8)
with images scaled to [0, 1], outputs a * std + mean. Needs python3-torch, python3-torchvision."""
import io
import json
import math
import os
import struct
import sys
import tarfile

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops.misc import FrozenBatchNorm2d

torch.set_num_threads(2)
CAMERAS = ("top", "wrist")
S, A, K, E, FF, HEADS, Z, ENC, DEC, H, W = 14, 14, 6, 32, 64, 4, 8, 2, 1, 64, 64


# ---------------------------------------------------------------- the model
class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(E, HEADS)
        self.linear1, self.linear2 = nn.Linear(E, FF), nn.Linear(FF, E)
        self.norm1, self.norm2 = nn.LayerNorm(E), nn.LayerNorm(E)

    def forward(self, x, pos):
        q = x + pos
        x = self.norm1(x + self.self_attn(q, q, x)[0])
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn, self.multihead_attn = nn.MultiheadAttention(E, HEADS), nn.MultiheadAttention(E, HEADS)
        self.linear1, self.linear2 = nn.Linear(E, FF), nn.Linear(FF, E)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(E), nn.LayerNorm(E), nn.LayerNorm(E)

    def forward(self, x, memory, query_pos, memory_pos):
        q = x + query_pos
        x = self.norm1(x + self.self_attn(q, q, x)[0])
        x = self.norm2(x + self.multihead_attn(x + query_pos, memory + memory_pos, memory)[0])
        return self.norm3(x + self.linear2(torch.relu(self.linear1(x))))


class Stack(nn.Module):
    def __init__(self, layer, n, final_norm):
        super().__init__()
        self.layers = nn.ModuleList([layer() for _ in range(n)])
        self.norm = nn.LayerNorm(E) if final_norm else nn.Identity()


def sinusoid_table(n, d):
    pos = np.arange(n)[:, None] / np.power(10000, 2 * (np.arange(d) // 2) / d)[None, :]
    pos[:, 0::2], pos[:, 1::2] = np.sin(pos[:, 0::2]), np.cos(pos[:, 1::2])
    return torch.from_numpy(pos).float()


def sine_2d(h, w, d):
    """DETR's normalised 2-D sine embedding of an h x w map, [d, h, w] (d/2 for y, then d/2 for x)."""
    half, eps, scale = d // 2, 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
    y, x = y / (h + eps) * scale, x / (w + eps) * scale
    freq = 10000 ** (2 * (torch.arange(half, dtype=torch.float32) // 2) / half)
    py, px = y[..., None] / freq, x[..., None] / freq
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=-1).flatten(2)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=-1).flatten(2)
    return torch.cat((py, px), dim=2).permute(2, 0, 1)


class ACT(nn.Module):
    def __init__(self):
        super().__init__()
        self.vae_encoder = Stack(EncoderLayer, ENC, False)
        self.vae_encoder_cls_embed = nn.Embedding(1, E)
        self.vae_encoder_robot_state_input_proj = nn.Linear(S, E)
        self.vae_encoder_action_input_proj = nn.Linear(A, E)
        self.vae_encoder_latent_output_proj = nn.Linear(E, 2 * Z)
        self.register_buffer("vae_encoder_pos_enc", sinusoid_table(K + 2, E)[None])
        resnet = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
        self.backbone = IntermediateLayerGetter(resnet, return_layers={"layer4": "feature_map"})
        self.encoder = Stack(EncoderLayer, ENC, False)
        self.decoder = Stack(DecoderLayer, DEC, True)
        self.encoder_robot_state_input_proj = nn.Linear(S, E)
        self.encoder_latent_input_proj = nn.Linear(Z, E)
        self.encoder_img_feat_input_proj = nn.Conv2d(512, E, 1)
        self.encoder_1d_feature_pos_embed = nn.Embedding(2, E)
        self.decoder_pos_embed = nn.Embedding(K, E)
        self.action_head = nn.Linear(E, A)

    def forward(self, state, images):
        B = state.shape[0]
        tokens = [self.encoder_latent_input_proj(torch.zeros(B, Z)), self.encoder_robot_state_input_proj(state)]
        pos = list(self.encoder_1d_feature_pos_embed.weight[:, None, :].expand(2, B, E))
        tokens = [t[None] for t in tokens]
        pos = [p[None] for p in pos]
        for img in images:
            f = self.backbone(img)["feature_map"]
            p = sine_2d(f.shape[2], f.shape[3], E)
            f = self.encoder_img_feat_input_proj(f)
            tokens.append(f.flatten(2).permute(2, 0, 1))                       # (h w) b c
            pos.append(p.flatten(1).permute(1, 0)[:, None, :].expand(-1, B, -1))
        x, pos = torch.cat(tokens), torch.cat(pos)
        for layer in self.encoder.layers:
            x = layer(x, pos)
        query_pos = self.decoder_pos_embed.weight[:, None, :].expand(K, B, E)
        y = torch.zeros(K, B, E)
        for layer in self.decoder.layers:
            y = layer(y, x, query_pos, pos)
        return self.action_head(self.decoder.norm(y).transpose(0, 1))


class Policy(nn.Module):
    """ACTPolicy's state dict: model.* and the normalisation buffers."""
    def __init__(self):
        super().__init__()
        self.model = ACT()
        self.stats = {}

    def normalised(self, state, images):
        st = self.stats
        s = (state - st["observation.state.mean"]) / (st["observation.state.std"] + 1e-8)
        imgs = [((img - st["observation.images.%s.mean" % c]) / (st["observation.images.%s.std" % c] + 1e-8))
                for img, c in zip(images, CAMERAS)]
        return s, imgs

    def predict(self, state, images):
        s, imgs = self.normalised(state, images)
        a = self.model(s, imgs)
        return a * self.stats["action.std"] + self.stats["action.mean"]


def buffer_name(feature, which, prefix):
    return "%s.buffer_%s.%s" % (prefix, feature.replace(".", "_"), which)


# ---------------------------------------------------------------- safetensors with json + numpy
def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + end], "<f4").reshape(e["shape"]).copy()
    return out


# ---------------------------------------------------------------- streams
def write_stream(path, rng, n):
    with tarfile.open(path, "w") as tar:
        for i in range(n):
            fields = {"observation.state": rng.normal(0, 1, S).astype(np.float32)}
            for c in CAMERAS:
                fields["observation.images." + c] = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            for name in sorted(fields):
                buf = io.BytesIO()
                np.save(buf, fields[name])
                info = tarfile.TarInfo("s%06d.%s.npy" % (i, name))
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))


def read_stream(path):
    samples, order = {}, []
    with tarfile.open(path, "r") as tar:
        for m in tar:
            key, field = m.name.split(".", 1)
            if key not in samples:
                samples[key] = {}
                order.append(key)
            samples[key][field[:-4]] = np.load(io.BytesIO(tar.extractfile(m).read()))
    return [samples[k] for k in order]


def observations(sample):
    state = torch.from_numpy(sample["observation.state"])[None]
    images = [torch.from_numpy(sample["observation.images." + c]).permute(2, 0, 1)[None].float() / 255 for c in CAMERAS]
    return state, images


# ---------------------------------------------------------------- commands
def configure(config):
    """The sizes of a config.json (the module's globals, which the classes read)."""
    global S, A, K, E, FF, HEADS, Z, ENC, DEC, H, W, CAMERAS
    inputs = config["input_features"]
    S = inputs["observation.state"]["shape"][0]
    CAMERAS = tuple(k[len("observation.images."):] for k in inputs if k.startswith("observation.images."))
    _, H, W = inputs["observation.images." + CAMERAS[0]]["shape"]
    A = config["output_features"]["action"]["shape"][0]
    K, E, FF, HEADS, Z = config["chunk_size"], config["dim_model"], config["dim_feedforward"], config["n_heads"], config["latent_dim"]
    ENC, DEC = config["n_encoder_layers"], config["n_decoder_layers"]
    assert config["n_vae_encoder_layers"] == ENC and config["use_vae"] and not config["pre_norm"]


def config_json():
    inputs = {"observation.state": {"type": "STATE", "shape": [S]}}
    for c in CAMERAS:
        inputs["observation.images." + c] = {"type": "VISUAL", "shape": [3, H, W]}
    return {"type": "act", "n_obs_steps": 1, "normalization_mapping": {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
            "input_features": inputs, "output_features": {"action": {"type": "ACTION", "shape": [A]}},
            "device": "cpu", "use_amp": False, "chunk_size": K, "n_action_steps": K, "vision_backbone": "resnet18",
            "pretrained_backbone_weights": None, "replace_final_stride_with_dilation": False, "pre_norm": False,
            "dim_model": E, "n_heads": HEADS, "dim_feedforward": FF, "feedforward_activation": "relu",
            "n_encoder_layers": ENC, "n_decoder_layers": DEC, "use_vae": True, "latent_dim": Z, "n_vae_encoder_layers": ENC,
            "temporal_ensemble_coeff": None, "dropout": 0.1, "kl_weight": 10.0, "optimizer_lr": 1e-05,
            "optimizer_weight_decay": 0.0001, "optimizer_lr_backbone": 1e-05}


def make(directory, processor):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    policy = Policy()
    with torch.no_grad():   # every parameter and buffer away from its initial value
        for name, t in policy.model.state_dict().items():
            if name == "vae_encoder_pos_enc":
                continue
            if name.endswith("running_var") or (".bn" in name or "downsample.1" in name) and name.endswith("weight"):
                t.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, t.shape).astype(np.float32)))
            elif t.dim() > 1:
                t.copy_(torch.from_numpy(rng.normal(0, 1 / math.sqrt(t[0].numel()), t.shape).astype(np.float32)))
            else:
                t.copy_(torch.from_numpy(rng.normal(0, 0.1, t.shape).astype(np.float32)))
    stats = {"observation.state": (rng.normal(0, 1, S), rng.uniform(0.1, 2, S)),
             "action": (rng.normal(0, 1, A), rng.uniform(0.1, 2, A))}
    for c in CAMERAS:
        stats["observation.images." + c] = (rng.uniform(0.3, 0.6, (3, 1, 1)), rng.uniform(0.2, 0.3, (3, 1, 1)))
    os.makedirs(directory, exist_ok=True)
    tensors = {"model." + k: v.numpy() for k, v in policy.model.state_dict().items()}
    pre, post = {}, {}
    for feature, (mean, std) in stats.items():
        for which, v in (("mean", mean), ("std", std)):
            if processor:
                (post if feature == "action" else pre)["%s.%s" % (feature, which)] = v
            elif feature == "action":
                tensors[buffer_name(feature, which, "normalize_targets")] = v
                tensors[buffer_name(feature, which, "unnormalize_outputs")] = v
            else:
                tensors[buffer_name(feature, which, "normalize_inputs")] = v
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors, {"format": "pt"})
    if processor:
        write_safetensors(os.path.join(directory, "policy_preprocessor_step_3_normalizer_processor.safetensors"), pre)
        write_safetensors(os.path.join(directory, "policy_postprocessor_step_0_unnormalizer_processor.safetensors"), post)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config_json(), f, indent=4)


def run(directory, stream, out):
    config = json.load(open(os.path.join(directory, "config.json")))
    assert config["type"] == "act", config
    configure(config)
    tensors = read_safetensors(os.path.join(directory, "model.safetensors"))
    policy = Policy()
    model_sd = {k[len("model."):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("model.")}
    policy.model.load_state_dict(model_sd, strict=True)
    for k, v in tensors.items():
        if k.startswith("normalize_inputs.buffer_") or k.startswith("unnormalize_outputs.buffer_"):
            feature, which = k.split(".", 1)[1][len("buffer_"):].rsplit(".", 1)
            feature = feature.replace("observation_images_", "observation.images.").replace("observation_state", "observation.state")
            policy.stats["%s.%s" % (feature, which)] = torch.from_numpy(v)
    extra = sorted(k for k in tensors if not k.startswith(("model.", "normalize_inputs.", "normalize_targets.", "unnormalize_outputs.")))
    assert not extra, extra
    policy.eval()
    with torch.no_grad():
        chunks = [policy.predict(*observations(s))[0].numpy() for s in read_stream(stream)]
    np.save(out, np.stack(chunks).astype(np.float32))


def compare(pred, want):
    got = np.stack([s["action"] for s in read_stream(pred)])
    ref = np.load(want)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    print("shape %s, max |ref| %.4g, relative difference %.3g" % (got.shape, np.abs(ref).max(), rel))
    return rel


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], "--processor" in sys.argv[3:])
    elif cmd == "stream":
        configure(json.load(open(os.path.join(sys.argv[2], "config.json"))))
        write_stream(sys.argv[3], np.random.default_rng(1), 3)
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3]) < 1e-4 else 1)
    else:
        sys.exit(__doc__)
