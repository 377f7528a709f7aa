"""torch.nn.functional-style calls into the registered ops: the same signatures, sizes normalised to
the ops' int lists (``padding='same'`` with an odd total pads the extra row/column at the end, as
torch does)."""

from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F

from . import _ops  # noqa: F401  (registers torch.ops.fastconv)

_ops_ns = torch.ops.fastconv


def _pair(value, name: str, op: str) -> List[int]:
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return [value[0], value[0]]
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        return list(value)
    return [value, value]


def _conv_padding(input: torch.Tensor, padding, kernel, stride, dilation):
    """(input, [pad_h, pad_w]) with string paddings resolved; 'same' with an odd total pads the end."""
    if not isinstance(padding, str):
        return input, _pair(padding, "padding", "conv2d")
    if padding == "valid":
        return input, [0, 0]
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if list(stride) != [1, 1]:
        raise ValueError(f"conv2d: padding='same' is not supported for strided convolutions, got stride={stride}")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if any(t % 2 for t in totals):
        input = F.pad(input, (0, totals[1] % 2, 0, totals[0] % 2))
    return input, [t // 2 for t in totals]


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> torch.Tensor:
    """``torch.nn.functional.conv2d`` computed by ``torch.ops.fastconv.conv2d`` (differentiable)."""
    stride = _pair(stride, "stride", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    input, pad = _conv_padding(input, padding, weight.shape[-2:], stride, dilation)
    return _ops_ns.conv2d(input, weight, bias, stride, pad, dilation, groups)


def _pool_stride(stride, kernel: List[int], op: str) -> List[int]:
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return _pair(stride, "stride", op)


def max_pool2d(input: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """``torch.nn.functional.max_pool2d`` computed by ``torch.ops.fastconv.max_pool2d`` (differentiable)."""
    kernel = _pair(kernel_size, "kernel_size", "max_pool2d")
    y, indices = _ops_ns.max_pool2d(input, kernel, _pool_stride(stride, kernel, "max_pool2d"),
                                    _pair(padding, "padding", "max_pool2d"),
                                    _pair(dilation, "dilation", "max_pool2d"), bool(ceil_mode))
    return (y, indices) if return_indices else y


def avg_pool2d(input: torch.Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> torch.Tensor:
    """``torch.nn.functional.avg_pool2d`` computed by ``torch.ops.fastconv.avg_pool2d`` (differentiable)."""
    kernel = _pair(kernel_size, "kernel_size", "avg_pool2d")
    return _ops_ns.avg_pool2d(input, kernel, _pool_stride(stride, kernel, "avg_pool2d"),
                              _pair(padding, "padding", "avg_pool2d"), bool(ceil_mode), bool(count_include_pad),
                              divisor_override)
