"""torch_flops.py — the multiply-add FLOPs a PyTorch computation runs in its matrix products and
convolutions (forward and backward), counted from the ATen operators it dispatches."""
from math import prod

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def _conv_flops(x_shape, w_shape, out_shape, transposed):
    # 2 * (output elements) * (input channels per group) * kernel size; for a transposed
    # convolution the input plays the output's part
    w = list(w_shape)
    k = prod(w[2:])
    if transposed:
        return 2 * prod(x_shape) * w[1] * k
    return 2 * prod(out_shape) * w[1] * k


class FlopCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        f = func.overloadpacket
        if f is aten.mm:
            self.flops += 2 * args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
        elif f is aten.addmm:
            self.flops += 2 * args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
        elif f is aten.bmm:
            a, b = args[0].shape, args[1].shape
            self.flops += 2 * a[0] * a[1] * a[2] * b[2]
        elif f is aten.baddbmm:
            a, b = args[1].shape, args[2].shape
            self.flops += 2 * a[0] * a[1] * a[2] * b[2]
        elif f is aten.convolution:
            self.flops += _conv_flops(args[0].shape, args[1].shape, out.shape, args[6])
        elif f is aten.convolution_backward:
            grad_out, x, w = args[0], args[1], args[2]
            transposed, mask = args[7], args[10]
            one = _conv_flops(x.shape, w.shape, grad_out.shape, transposed)
            self.flops += one * (int(mask[0]) + int(mask[1]))
        return out
