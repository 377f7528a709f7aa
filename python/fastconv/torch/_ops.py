"""The table of fastconv ops registered under ``torch.ops.fastconv``.

Adding an op is one :class:`OpSpec`: its schema (fastconv's argument names and order, sizes as int
lists), which tensor arguments its ``_backward`` differentiates, and its torch.nn.functional twin for
shape inference.
"""

from __future__ import annotations

import torch.nn.functional as F

import fastconv as fc

from ._library import OpSpec, register

SPECS = [
    OpSpec(
        "conv2d",
        "(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, "
        "int groups) -> Tensor",
        grads=("input", "weight", "bias"),
        shape_like=F.conv2d,
        channels_last=True,
    ),
    OpSpec(
        "max_pool2d",
        "(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode) "
        "-> (Tensor, Tensor)",
        grads=("input",),
        shape_like=lambda x, k, s, p, d, c: F.max_pool2d(x, k, s, p, d, c, return_indices=True),
        call_kwargs={"return_indices": True},
        saved_outputs={"indices": 1},
        channels_last=True,
    ),
    OpSpec(
        "avg_pool2d",
        "(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, bool ceil_mode, "
        "bool count_include_pad, int? divisor_override) -> Tensor",
        grads=("input",),
        shape_like=F.avg_pool2d,
        channels_last=True,
    ),
]


def register_all() -> None:
    for spec in SPECS:
        if hasattr(fc, spec.name) and hasattr(fc, spec.name + "_backward"):
            register(spec)


register_all()
