"""Checks and dispatch shared by the 1-D and 3-D windowed pools and the adaptive pools.

The checks are torch's (as _pool2d's): kernel_size, stride, dilation >= 1 and at most 2**31 - 1,
padding at most half the kernel, nonzero channel and spatial extents (only the batch may be empty),
output extents >= 1. 1-D pools run on the 2-D kernels through views with a unit height; 3-D pools and
all adaptive pools on the 3-D kernels (adaptive 1-D and 2-D through views with unit depth and height).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from . import _C, _args, _arrays, _layout
from ._pool2d import MAX_PARAM, _as_output, _divisor, _flag, _is_empty_sequence, pool2d_output_size

_NAMES = {1: "W", 2: "H, W", 3: "D, H, W"}


@dataclass
class PoolProblem:
    op: str
    dims: int
    x: np.ndarray                 # logical (N, C, *spatial), kernel-ready
    kernel: Tuple[int, ...]
    stride: Tuple[int, ...]
    padding: Tuple[int, ...]
    dilation: Tuple[int, ...]
    layout: str
    unbatched: bool
    out_shape: Tuple[int, ...]    # logical (N, C, *out)
    wrap: _arrays.Wrapper
    dtype: np.dtype
    source: np.ndarray            # the input as the caller stored it

    def stored_output_shape(self) -> Tuple[int, ...]:
        shape = _layout.from_logical_shape_nd(self.out_shape, self.layout)
        return shape[1:] if self.unbatched else shape

    def logical(self, a: np.ndarray) -> np.ndarray:
        return _layout.to_logical_nd(a[None] if self.unbatched else a, self.layout)

    def allocate(self, logical_shape, dtype, op: str) -> Tuple[np.ndarray, np.ndarray]:
        stored, logical = _layout.allocate_nd(logical_shape, self.layout, dtype, op)
        return (stored[0] if self.unbatched else stored), logical


def _params(value, dims: int, name: str, op: str, minimum: int) -> Tuple[int, ...]:
    t = _args.as_tuple(value, dims, name, op, minimum)
    if max(t) > MAX_PARAM:
        raise ValueError(f"{op}: {name} must be at most {MAX_PARAM}, got {value!r}")
    return t


def _intake(op: str, dims: int, input, layout):
    layout = _args.layout_nd(layout, dims, op)
    x, wrap = _arrays.to_numpy(input, "input", op)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected input to be {dims + 1}-D (unbatched) or {dims + 2}-D (batched), got "
                         f"{x.ndim}-D input of shape {tuple(x.shape)}")
    unbatched = x.ndim == dims + 1
    xl = _layout.to_logical_nd(x[None] if unbatched else x, layout)
    if any(s == 0 for s in xl.shape[1:]):
        raise ValueError(f"{op}: expected input with nonzero channels and spatial sizes (only the batch may be "
                         f"empty), got input of shape {tuple(x.shape)} with layout {layout}")
    return layout, x, wrap, unbatched, xl


def check_pool(op: str, dims: int, input, kernel_size, stride, padding, dilation, ceil_mode, layout) -> PoolProblem:
    layout = _args.layout_nd(layout, dims, op)
    kernel = _params(kernel_size, dims, "kernel_size", op, minimum=1)
    stride = kernel if stride is None or _is_empty_sequence(stride) else _params(stride, dims, "stride", op, 1)
    pad = _params(padding, dims, "padding", op, minimum=0)
    dilation = _params(dilation, dims, "dilation", op, minimum=1)
    ceil_mode = _flag(ceil_mode, "ceil_mode", op)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding={pad} and "
                         f"kernel_size={kernel}")
    layout, x, wrap, unbatched, xl = _intake(op, dims, input, layout)
    spatial = xl.shape[2:]
    out = tuple(pool2d_output_size(s, k, st, p, d, ceil_mode)
                for s, k, st, p, d in zip(spatial, kernel, stride, pad, dilation))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size is too small: input of shape {tuple(x.shape)} ({_NAMES[dims]} = "
                         f"{tuple(spatial)}) with kernel_size={kernel}, stride={stride}, padding={pad}, "
                         f"dilation={dilation}, ceil_mode={ceil_mode} gives output {out}")
    return PoolProblem(op, dims, _arrays.kernel_ready(xl), kernel, stride, pad, dilation, layout, unbatched,
                       xl.shape[:2] + out, wrap, x.dtype, x)


def check_adaptive(op: str, dims: int, input, output_size, layout) -> PoolProblem:
    layout, x, wrap, unbatched, xl = _intake(op, dims, input, layout)
    spatial = xl.shape[2:]
    if output_size is None:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {dims} ints (or None entries), got None")
    if isinstance(output_size, (str, bytes)) or not hasattr(output_size, "__len__"):
        sizes = [output_size] * dims
    else:
        sizes = list(output_size)
        if len(sizes) == 1 and dims > 1:
            sizes = sizes * dims
        if len(sizes) != dims:
            raise ValueError(f"{op}: output_size must be an int or a tuple of {dims} ints, got {output_size!r}")
    out = []
    for s, v in zip(spatial, sizes):
        if v is None:
            out.append(s)
            continue
        v = _args.as_int(v, "output_size", op)
        if v < 0:
            raise ValueError(f"{op}: elements of output_size must be >= 0, got {output_size!r}")
        out.append(v)
    return PoolProblem(op, dims, _arrays.kernel_ready(xl), (), (), (), (), layout, unbatched,
                       xl.shape[:2] + tuple(out), wrap, x.dtype, x)


def output(prob: PoolProblem, out) -> Tuple[Any, np.ndarray]:
    """The result to return and the logical view to write."""
    if out is None:
        y, yl = prob.allocate(prob.out_shape, prob.dtype, prob.op)
        return prob.wrap(y), yl
    y = _as_output(out, prob.stored_output_shape(), prob.dtype, prob.source, prob.op)
    return out, prob.logical(y)


def grad_output(prob: PoolProblem, grad_output, fwd: str) -> np.ndarray:
    op = prob.op
    dy, _ = _arrays.to_numpy(grad_output, "grad_output", op)
    _arrays.same_dtype(op, grad_output=dy, input=prob.x)
    if dy.shape != prob.stored_output_shape():
        raise ValueError(f"{op}: expected grad_output of shape {prob.stored_output_shape()} (the output of {fwd} "
                         f"for these arguments), got {tuple(dy.shape)}")
    return _arrays.kernel_ready(prob.logical(dy))


def indices_input(prob: PoolProblem, indices, fwd: str) -> Optional[np.ndarray]:
    """``indices=`` from ``fwd(return_indices=True)``: int64 of the output's stored shape, as a logical view."""
    if indices is None:
        return None
    op = prob.op
    if _arrays._is_torch_tensor(indices):
        if indices.device.type != "cpu":
            raise TypeError(f"{op}: indices must be a NumPy array or a CPU tensor, got a tensor on {indices.device}")
        arr = indices.detach().numpy()
    elif isinstance(indices, np.ndarray):
        arr = indices
    else:
        raise TypeError(f"{op}: indices must be a NumPy array or a tensor, got {type(indices).__name__}")
    if arr.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64 (as returned by {fwd}), got {arr.dtype}")
    if arr.shape != prob.stored_output_shape():
        raise ValueError(f"{op}: expected indices of shape {prob.stored_output_shape()} (the output of {fwd} for "
                         f"these arguments), got {tuple(arr.shape)}")
    return _arrays.kernel_ready(prob.logical(arr))


# ----------------------------------------------------------------------------- kernels


def _u(a: Optional[np.ndarray], count: int = 1) -> Optional[np.ndarray]:
    """`a` with `count` unit axes inserted after the channel axis."""
    if a is None:
        return None
    for _ in range(count):
        a = _layout.unit_axis(a, 2)
    return a


def _window_2d(prob: PoolProblem):
    return ((1,) + prob.kernel, (1,) + prob.stride, (0,) + prob.padding, (1,) + prob.dilation)


def max_fprop(prob: PoolProblem, yl, idxl) -> None:
    if prob.dims == 1:
        _C.max_pool2d_fprop(_u(prob.x), _u(yl), _u(idxl), *_window_2d(prob))
    else:
        _C.max_pool3d_fprop(prob.x, yl, idxl, prob.kernel, prob.stride, prob.padding, prob.dilation)


def max_dgrad(prob: PoolProblem, dyl, idxl, dxl) -> None:
    if prob.dims == 1:
        _C.max_pool2d_dgrad(_u(dyl), _u(prob.x), _u(idxl), _u(dxl), *_window_2d(prob))
    else:
        _C.max_pool3d_dgrad(dyl, prob.x, idxl, dxl, prob.kernel, prob.stride, prob.padding, prob.dilation)


def avg_fprop(prob: PoolProblem, yl, cip: bool, div: int) -> None:
    if prob.dims == 1:
        k, s, p, _ = _window_2d(prob)
        _C.avg_pool2d_fprop(_u(prob.x), _u(yl), k, s, p, cip, div)
    else:
        _C.avg_pool3d_fprop(prob.x, yl, prob.kernel, prob.stride, prob.padding, cip, div)


def avg_dgrad(prob: PoolProblem, dyl, dxl, cip: bool, div: int) -> None:
    if prob.dims == 1:
        k, s, p, _ = _window_2d(prob)
        _C.avg_pool2d_dgrad(_u(dyl), _u(dxl), k, s, p, cip, div)
    else:
        _C.avg_pool3d_dgrad(dyl, dxl, prob.kernel, prob.stride, prob.padding, cip, div)


def adaptive_avg_fprop(prob: PoolProblem, yl) -> None:
    pad = 3 - prob.dims
    _C.adaptive_avg_pool3d_fprop(_u(prob.x, pad), _u(yl, pad))


def adaptive_avg_dgrad(prob: PoolProblem, dyl, dxl) -> None:
    pad = 3 - prob.dims
    _C.adaptive_avg_pool3d_dgrad(_u(dyl, pad), _u(dxl, pad))


def adaptive_max_fprop(prob: PoolProblem, yl, idxl) -> None:
    pad = 3 - prob.dims
    _C.adaptive_max_pool3d_fprop(_u(prob.x, pad), _u(yl, pad), _u(idxl, pad))


def adaptive_max_dgrad(prob: PoolProblem, dyl, idxl, dxl) -> None:
    pad = 3 - prob.dims
    _C.adaptive_max_pool3d_dgrad(_u(dyl, pad), _u(prob.x, pad), _u(idxl, pad), _u(dxl, pad))


def divisor(value, op: str) -> int:
    return _divisor(value, op)
