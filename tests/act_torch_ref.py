#!/usr/bin/python3
"""act_torch_ref.py — reference predictions of an ACT checkpoint from PyTorch, for act.bats.

  act_torch_ref.py CKPT.h5 STREAM.tar OUT.npy

Loads the checkpoint's /params into the PyTorch ACT of bench/act_torch.py (names mapped from the
reference's DETRVAE names), normalises every sample of the stream with the checkpoint's /stats
exactly as ACT does (state and action by mean/std, images /255 then mean/std), predicts the chunk
with z = 0 and writes the denormalised chunks [N,K,A] in stream order. Needs python3-torch."""
import importlib.util
import io
import os
import sys
import tarfile
import types

import h5py
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("act_torch", os.path.join(here, "..", "bench", "act_torch.py"))
act_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(act_torch)


def torch_name(name):
    n = name[len("model."):]
    body = "backbones.0.0.body."
    if n.startswith(body):
        rest = n[len(body):]
        if rest.startswith("conv1."):
            return "body.0." + rest[6:]
        if rest.startswith("bn1."):
            return "body.1." + rest[4:]
        layer = int(rest[5])
        return "body.%d.%s" % (layer + 3, rest[7:])
    for ours, theirs in (("transformer.encoder.layers.", "enc."), ("transformer.decoder.layers.", "dec."),
                         ("transformer.decoder.norm.", "dec_norm."), ("encoder.layers.", "cvae.")):
        if n.startswith(ours):
            return theirs + n[len(ours):]
    return n


def main():
    ckpt, stream, out = sys.argv[1:4]
    f = h5py.File(ckpt, "r")
    cfg = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
    a = types.SimpleNamespace(hidden=int(cfg["hidden_dim"]), ff=int(cfg["dim_feedforward"]), enc=int(cfg["enc_layers"]),
                              dec=int(cfg["dec_layers"]), chunk=int(cfg["chunk"]), nheads=int(cfg["nheads"]),
                              latent=int(cfg["latent_dim"]), frozen=int(cfg["backbone_norm"] == "frozen"))
    assert cfg["backbone_norm"] in ("group", "frozen") and cfg["cameras"].count(",") == 0
    torch.manual_seed(0)
    model = act_torch.ACT(a)
    sd = {torch_name(k): torch.from_numpy(v[()]) for k, v in f["params"].items() if not k.startswith("model.is_pad_head")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert all(m.endswith("num_batches_tracked") for m in missing), missing
    model.eval()
    cam = cfg["cameras"]
    st = {k: f["stats"][k]["mean"][()] for k in f["stats"]}, {k: f["stats"][k]["std"][()] for k in f["stats"]}
    mean, std = st
    samples = {}
    order = []
    for m in tarfile.open(stream):
        key, field = m.name.split(".", 1)
        if key not in samples:
            samples[key] = {}
            order.append(key)
        samples[key][field[:-4]] = np.load(io.BytesIO(tarfile.open(stream).extractfile(m).read()))
    preds = []
    with torch.no_grad():
        for key in order:
            s = samples[key]
            state = (s["observation.state"] - mean["observation.state"]) / std["observation.state"]
            img = s["observation.images." + cam].astype(np.float32) / 255.0
            img = (img.transpose(2, 0, 1) - mean["observation.images." + cam]) / std["observation.images." + cam]
            a_hat, _, _ = model(torch.from_numpy(state[None].astype(np.float32)), torch.from_numpy(img[None].astype(np.float32)))
            preds.append(a_hat[0].numpy() * std["action"] + mean["action"])
    np.save(out, np.stack(preds).astype(np.float32))


if __name__ == "__main__":
    main()
