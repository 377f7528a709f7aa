"""torch.nn.functional-style calls into the registered ops: the same names, signatures and defaults,
sizes normalised to the ops' int lists (``padding='same'`` with an odd total pads the extra at the
end, as torch does; adaptive ``output_size`` entries of None keep the input's extent).

Each function is differentiable (autograd through fastconv's backward ops) and traceable by
torch.compile. Only the ops this fastconv build has are defined.
"""

from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F

from ._library import registered

_ops = torch.ops.fastconv


def _tuple(value, d: int, name: str, op: str) -> List[int]:
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return [value[0]] * d
        if len(value) != d:
            raise ValueError(f"{op}: {name} must be an int or {d} ints, got {value!r}")
        return list(value)
    return [value] * d


def _conv_padding(input: torch.Tensor, padding, kernel, stride, dilation, op: str):
    """(input, padding list) with string paddings resolved; 'same' with an odd total pads the end."""
    d = len(kernel)
    if not isinstance(padding, str):
        return input, _tuple(padding, d, "padding", op)
    if padding == "valid":
        return input, [0] * d
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, got stride={stride}")
    totals = [dil * (k - 1) for k, dil in zip(kernel, dilation)]
    if any(t % 2 for t in totals):
        extra = []
        for t in reversed(totals):  # F.pad lists the last dim first
            extra += [0, t % 2]
        input = F.pad(input, extra)
    return input, [t // 2 for t in totals]


def _pool_stride(stride, kernel: List[int], op: str) -> List[int]:
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return _tuple(stride, len(kernel), "stride", op)


def _make_conv(d: int):
    op = f"conv{d}d"

    def conv(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride=1, padding=0,
             dilation=1, groups: int = 1) -> torch.Tensor:
        stride_ = _tuple(stride, d, "stride", op)
        dilation_ = _tuple(dilation, d, "dilation", op)
        input, pad = _conv_padding(input, padding, weight.shape[2:], stride_, dilation_, op)
        return getattr(_ops, op)(input, weight, bias, stride_, pad, dilation_, groups)

    return conv


def _make_conv_transpose(d: int):
    op = f"conv_transpose{d}d"

    def conv_transpose(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride=1,
                       padding=0, output_padding=0, groups: int = 1, dilation=1) -> torch.Tensor:
        return getattr(_ops, op)(input, weight, bias, _tuple(stride, d, "stride", op),
                                 _tuple(padding, d, "padding", op), _tuple(output_padding, d, "output_padding", op),
                                 groups, _tuple(dilation, d, "dilation", op))

    return conv_transpose


def _make_max_pool(d: int):
    op = f"max_pool{d}d"

    def max_pool(input: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                 return_indices: bool = False):
        kernel = _tuple(kernel_size, d, "kernel_size", op)
        y, indices = getattr(_ops, op)(input, kernel, _pool_stride(stride, kernel, op),
                                       _tuple(padding, d, "padding", op), _tuple(dilation, d, "dilation", op),
                                       bool(ceil_mode))
        return (y, indices) if return_indices else y

    return max_pool


def _make_avg_pool(d: int):
    op = f"avg_pool{d}d"

    def args(kernel_size, stride, padding, ceil_mode, count_include_pad):
        kernel = _tuple(kernel_size, d, "kernel_size", op)
        return (kernel, _pool_stride(stride, kernel, op), _tuple(padding, d, "padding", op), bool(ceil_mode),
                bool(count_include_pad))

    if d == 1:  # torch.nn.functional.avg_pool1d has no divisor_override
        def avg_pool1d(input: torch.Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                       count_include_pad: bool = True) -> torch.Tensor:
            return _ops.avg_pool1d(input, *args(kernel_size, stride, padding, ceil_mode, count_include_pad))

        return avg_pool1d

    def avg_pool(input: torch.Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: Optional[int] = None) -> torch.Tensor:
        return getattr(_ops, op)(input, *args(kernel_size, stride, padding, ceil_mode, count_include_pad),
                                 divisor_override)

    return avg_pool


def _output_size(input: torch.Tensor, output_size, d: int, op: str) -> List[int]:
    sizes = _tuple(output_size, d, "output_size", op)
    return [input.shape[input.dim() - d + i] if s is None else s for i, s in enumerate(sizes)]


def _make_adaptive_avg_pool(d: int):
    op = f"adaptive_avg_pool{d}d"

    def adaptive_avg_pool(input: torch.Tensor, output_size) -> torch.Tensor:
        return getattr(_ops, op)(input, _output_size(input, output_size, d, op))

    return adaptive_avg_pool


def _make_adaptive_max_pool(d: int):
    op = f"adaptive_max_pool{d}d"

    def adaptive_max_pool(input: torch.Tensor, output_size, return_indices: bool = False):
        y, indices = getattr(_ops, op)(input, _output_size(input, output_size, d, op))
        return (y, indices) if return_indices else y

    return adaptive_max_pool


_FAMILIES = {
    "conv{}d": _make_conv,
    "conv_transpose{}d": _make_conv_transpose,
    "max_pool{}d": _make_max_pool,
    "avg_pool{}d": _make_avg_pool,
    "adaptive_avg_pool{}d": _make_adaptive_avg_pool,
    "adaptive_max_pool{}d": _make_adaptive_max_pool,
}

def linear(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    return _ops.linear(input, weight, bias)


def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    if inplace:
        raise ValueError("relu: inplace=True is not supported by fastconv.torch (its backward reads the "
                         "unmodified input); call it with inplace=False")
    return _ops.relu(input)


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    return _ops.sigmoid(input)


def tanh(input: torch.Tensor) -> torch.Tensor:
    return _ops.tanh(input)


def _softmax_input(name: str, input: torch.Tensor, dim, stacklevel: int, dtype):
    if dim is None:  # torch's deprecated implicit choice, with its warning
        import warnings

        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=stacklevel)
        dim = 0 if input.dim() in (0, 1, 3) else 1
    return (input if dtype is None else input.to(dtype)), dim


def softmax(input: torch.Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    return _ops.softmax(*_softmax_input("softmax", input, dim, _stacklevel, dtype))


def log_softmax(input: torch.Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    return _ops.log_softmax(*_softmax_input("log_softmax", input, dim, _stacklevel, dtype))


def cross_entropy(input: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor] = None,
                  size_average=None, ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> torch.Tensor:
    return _ops.cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction,
                              float(label_smoothing))


def mse_loss(input: torch.Tensor, target: torch.Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> torch.Tensor:
    return _ops.mse_loss(input, target, size_average, reduce, reduction)


_SINGLE = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, log_softmax, cross_entropy, mse_loss)}

__all__ = []
for _name, _fn in _SINGLE.items():
    if _name in registered():
        _fn.__doc__ = (f"``torch.nn.functional.{_name}`` computed by ``torch.ops.fastconv.{_name}`` "
                       f"(differentiable; see fastconv.{_name} for shapes and semantics).")
        __all__.append(_name)
    else:
        del globals()[_name]
for _pattern, _make in _FAMILIES.items():
    for _d in (1, 2, 3):
        _name = _pattern.format(_d)
        if _name in registered():
            _fn = _make(_d)
            _fn.__name__ = _fn.__qualname__ = _name
            _fn.__module__ = __name__
            _fn.__doc__ = (f"``torch.nn.functional.{_name}`` computed by ``torch.ops.fastconv.{_name}`` "
                           f"(differentiable; see fastconv.{_name} for shapes and semantics).")
            globals()[_name] = _fn
            __all__.append(_name)
del _pattern, _make, _d, _name, _fn
