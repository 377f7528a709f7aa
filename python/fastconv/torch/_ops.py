"""The table of fastconv ops registered under ``torch.ops.fastconv``.

Adding an op is one :class:`OpSpec`: its schema (fastconv's argument names and order, sizes as int
lists), which tensor arguments its ``_backward`` differentiates, and its torch.nn.functional twin for
shape inference. Ops this fastconv build lacks are skipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import fastconv as fc

from ._library import OpSpec, register


def conv(d: int) -> OpSpec:
    return OpSpec(f"conv{d}d", f"(Tensor input, Tensor weight, Tensor? bias, int[{d}] stride, int[{d}] padding, "
                               f"int[{d}] dilation, int groups) -> Tensor",
                  grads=("input", "weight", "bias"), shape_like=getattr(F, f"conv{d}d"), spatial=d)


def conv_transpose(d: int) -> OpSpec:
    return OpSpec(f"conv_transpose{d}d",
                  f"(Tensor input, Tensor weight, Tensor? bias, int[{d}] stride, int[{d}] padding, "
                  f"int[{d}] output_padding, int groups, int[{d}] dilation) -> Tensor",
                  grads=("input", "weight", "bias"), shape_like=getattr(F, f"conv_transpose{d}d"), spatial=d)


def max_pool(d: int) -> OpSpec:
    torch_fn = getattr(F, f"max_pool{d}d")
    return OpSpec(f"max_pool{d}d", f"(Tensor input, int[{d}] kernel_size, int[{d}] stride, int[{d}] padding, "
                                   f"int[{d}] dilation, bool ceil_mode) -> (Tensor, Tensor)",
                  grads=("input",), shape_like=lambda x, k, s, p, dil, c: torch_fn(x, k, s, p, dil, c, True),
                  call_kwargs={"return_indices": True}, saved_outputs={"indices": 1}, spatial=d)


def avg_pool(d: int) -> OpSpec:
    divisor = "" if d == 1 else ", int? divisor_override"  # torch's avg_pool1d has none
    return OpSpec(f"avg_pool{d}d", f"(Tensor input, int[{d}] kernel_size, int[{d}] stride, int[{d}] padding, "
                                   f"bool ceil_mode, bool count_include_pad{divisor}) -> Tensor",
                  grads=("input",), shape_like=getattr(F, f"avg_pool{d}d"), spatial=d)


def adaptive_avg_pool(d: int) -> OpSpec:
    return OpSpec(f"adaptive_avg_pool{d}d", f"(Tensor input, int[{d}] output_size) -> Tensor",
                  grads=("input",), shape_like=getattr(F, f"adaptive_avg_pool{d}d"), spatial=d)


def adaptive_max_pool(d: int) -> OpSpec:
    torch_fn = getattr(F, f"adaptive_max_pool{d}d")
    return OpSpec(f"adaptive_max_pool{d}d", f"(Tensor input, int[{d}] output_size) -> (Tensor, Tensor)",
                  grads=("input",), shape_like=lambda x, size: torch_fn(x, size, True),
                  call_kwargs={"return_indices": True}, saved_outputs={"indices": 1}, spatial=d)


def unary(name: str, shape_like) -> OpSpec:
    return OpSpec(name, "(Tensor input) -> Tensor", grads=("input",), shape_like=shape_like)


def softmax(name: str) -> OpSpec:
    # dim resolved and dtype applied by the wrappers: the op sees fastconv's (input, dim).
    torch_fn = getattr(F, name)
    return OpSpec(name, "(Tensor input, int dim) -> Tensor", grads=("input",),
                  shape_like=lambda x, dim: torch_fn(x, dim))


SPECS = [family(d) for family in (conv, conv_transpose, max_pool, avg_pool, adaptive_avg_pool, adaptive_max_pool)
         for d in (1, 2, 3)] + [
    OpSpec("linear", "(Tensor input, Tensor weight, Tensor? bias) -> Tensor", grads=("input", "weight", "bias"),
           shape_like=F.linear),
    unary("relu", F.relu),
    unary("sigmoid", torch.sigmoid),
    unary("tanh", torch.tanh),
    softmax("softmax"),
    softmax("log_softmax"),
    OpSpec("cross_entropy", "(Tensor input, Tensor target, Tensor? weight, bool? size_average, int ignore_index, "
                            "bool? reduce, str reduction, float label_smoothing) -> Tensor",
           grads=("input", "target", "weight"), constants=("weight",), shape_like=F.cross_entropy),
    OpSpec("mse_loss", "(Tensor input, Tensor target, bool? size_average, bool? reduce, str reduction) -> Tensor",
           grads=("input", "target"), shape_like=F.mse_loss),
]


def register_all() -> None:
    for spec in SPECS:
        if hasattr(fc, spec.name) and hasattr(fc, spec.name + "_backward"):
            register(spec)


register_all()
