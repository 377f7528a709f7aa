"""max_pool2d, avg_pool2d and their backward ops: argument checks, layouts, output allocation, kernel calls.

The checks are torch's (``pool2d_shape_check`` and ``pooling_output_shape``), raised as ValueError /
TypeError naming the argument before any kernel runs:

- kernel_size, stride, dilation >= 1; padding >= 0 and at most half the kernel size
  (``padding <= kernel_size // 2`` on each axis, for both pools); each at most 2**31 - 1;
- input 3-D ``(C, H, W)`` or 4-D ``(N, C, H, W)`` (NHWC: ``(H, W, C)`` / ``(N, H, W, C)``) with C, H,
  W nonzero; N = 0 gives empty results;
- output extents >= 1 (floor, or ceil with ``ceil_mode`` where the last window must start inside the
  input or its leading padding);
- ``divisor_override`` None or a nonzero int; ``ceil_mode`` and ``count_include_pad`` bools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from . import _C, _args, _arrays, _gpu_arrays, _layout

# torch stores pooling parameters as C ints and refuses larger values.
MAX_PARAM = 2**31 - 1
_INT64_MAX = 2**63 - 1
_TooHardError = getattr(getattr(np, "exceptions", np), "TooHardError", Exception)


@dataclass
class Pool2dProblem:
    """A checked pooling call: the logical (N, C, H, W) input view and normalised parameters."""

    op: str
    x: np.ndarray                     # (N, C, H, W) view, kernel-ready
    kernel: Tuple[int, int]
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    layout: str
    unbatched: bool
    out_shape: Tuple[int, int, int, int]  # (N, C, P, Q)
    wrap: _arrays.Wrapper
    dtype: np.dtype
    source: np.ndarray                # the input as the caller stored it (NumPy view)

    def stored_output_shape(self) -> Tuple[int, ...]:
        shape = _layout.from_logical_shape(self.out_shape, self.layout)
        return shape[1:] if self.unbatched else shape

    def logical(self, a: np.ndarray) -> np.ndarray:
        """The logical (N, C, ., .) view of an array stored like this call's input or output."""
        return _layout.to_logical(a[None] if self.unbatched else a, self.layout)

    def allocate_input_like(self, op: str) -> Tuple[np.ndarray, np.ndarray]:
        stored, logical = _layout.allocate(self.x.shape, self.layout, self.dtype, op)
        return (stored[0] if self.unbatched else stored), logical

    def allocate_output(self, dtype, op: str) -> Tuple[np.ndarray, np.ndarray]:
        stored, logical = _layout.allocate(self.out_shape, self.layout, np.dtype(dtype), op)
        return (stored[0] if self.unbatched else stored), logical


def _flag(value, name: str, op: str) -> bool:
    """A bool argument: Python or NumPy bool only, as torch (ints are refused)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{op}: {name} must be a bool, got {type(value).__name__} {value!r}")


def _param_pair(value, name: str, op: str, minimum: int) -> Tuple[int, int]:
    pair = _args.as_pair(value, name, op, minimum)
    if max(pair) > MAX_PARAM:
        raise ValueError(f"{op}: {name} must be at most {MAX_PARAM}, got {value!r}")
    return pair


def _is_empty_sequence(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 0


def pool2d_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """One axis of torch's ``pooling_output_shape`` (mirrors ``fastconv::pool2d_output_size``; may be < 1)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _fmt(shape) -> str:
    return "x".join(str(v) for v in shape)


def check_pool2d(op: str, input, kernel_size, stride, padding, dilation, ceil_mode, layout,
                 intake=_arrays.to_numpy) -> Pool2dProblem:
    """Checks a pooling call. `intake` reads the input array: NumPy's here, the GPU's in _pool2d_gpu."""
    layout = _args.layout_2d(layout, op)
    x, wrap = intake(input, "input", op)
    kernel = _param_pair(kernel_size, "kernel_size", op, minimum=1)
    stride = kernel if stride is None or _is_empty_sequence(stride) else _param_pair(stride, "stride", op, minimum=1)
    pad = _param_pair(padding, "padding", op, minimum=0)
    dilation = _param_pair(dilation, "dilation", op, minimum=1)
    ceil_mode = _flag(ceil_mode, "ceil_mode", op)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding={pad} and "
                         f"kernel_size={kernel}")

    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input to be 3-D (unbatched) or 4-D (batched), got {x.ndim}-D input "
                         f"of shape {tuple(x.shape)}")
    unbatched = x.ndim == 3
    xl = _layout.to_logical(x[None] if unbatched else x, layout)
    n, c, h, w = xl.shape
    if c == 0 or h == 0 or w == 0:
        raise ValueError(f"{op}: expected input with nonzero channels, height and width (only the batch may be "
                         f"empty), got input of shape {tuple(x.shape)} with layout {layout}")
    p = pool2d_output_size(h, kernel[0], stride[0], pad[0], dilation[0], ceil_mode)
    q = pool2d_output_size(w, kernel[1], stride[1], pad[1], dilation[1], ceil_mode)
    if p < 1 or q < 1:
        raise ValueError(f"{op}: output size is too small: input of shape {tuple(x.shape)} (C, H, W = "
                         f"{_fmt((c, h, w))}) with kernel_size={kernel}, stride={stride}, padding={pad}, "
                         f"dilation={dilation}, ceil_mode={ceil_mode} gives output {_fmt((c, p, q))}")
    ready = _arrays.kernel_ready(xl) if isinstance(xl, np.ndarray) else xl  # GPU kernels take any strides
    return Pool2dProblem(op, ready, kernel, stride, pad, dilation, layout, unbatched, (n, c, p, q), wrap, x.dtype, x)


def _divisor(value, op: str) -> int:
    d = _args.optional_nonzero_int(value, "divisor_override", op)
    if d is None:
        return 0
    if abs(d) > _INT64_MAX:
        raise ValueError(f"{op}: divisor_override must fit in int64, got {value!r}")
    return d


def _as_output(out, shape, dtype, x: np.ndarray, op: str) -> np.ndarray:
    """``out=``: a NumPy array or a PyTorch CPU tensor of the output's shape and dtype, not overlapping x."""
    if _arrays._is_torch_tensor(out):
        if out.device.type != "cpu":
            raise TypeError(f"{op}: out must be a NumPy array or a CPU tensor, got a tensor on {out.device}")
        try:
            arr = out.detach().numpy()
        except (TypeError, RuntimeError) as exc:
            raise TypeError(f"{op}: out could not be used as an output array: {exc}") from None
    else:
        arr = out
    arr = _arrays.check_out(arr, shape, dtype, op)
    if any(s == 0 and d > 1 for s, d in zip(arr.strides, arr.shape)):
        raise ValueError(f"{op}: out must not have zero strides (several elements in one memory location)")
    if np.may_share_memory(arr, x):
        try:
            overlap = np.shares_memory(arr, x, max_work=10**6)
        except _TooHardError:  # pragma: no cover - undecided within max_work: assume the worst
            overlap = True
        if overlap:
            raise ValueError(f"{op}: out must not overlap the input")
    return arr


def _index_array(indices, shape, op: str) -> np.ndarray:
    """``indices=`` from ``max_pool2d(return_indices=True)``: int64, of the output's stored shape."""
    if _arrays._is_torch_tensor(indices):
        if indices.device.type != "cpu":
            raise TypeError(f"{op}: indices must be a NumPy array or a CPU tensor, got a tensor on {indices.device}")
        arr = indices.detach().numpy()
    elif isinstance(indices, np.ndarray):
        arr = indices
    else:
        raise TypeError(f"{op}: indices must be a NumPy array or a tensor, got {type(indices).__name__}")
    if arr.dtype != np.int64:
        raise TypeError(f"{op}: indices must be int64 (as returned by max_pool2d), got {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{op}: expected indices of shape {tuple(shape)} (the output of max_pool2d for these "
                         f"arguments), got {tuple(arr.shape)}")
    return _arrays.kernel_ready(arr)


def _grad_output(prob: Pool2dProblem, grad_output, fwd: str) -> np.ndarray:
    op = prob.op
    dy, _ = _arrays.to_numpy(grad_output, "grad_output", op)
    _arrays.same_dtype(op, grad_output=dy, input=prob.x)
    if dy.shape != prob.stored_output_shape():
        raise ValueError(f"{op}: expected grad_output of shape {prob.stored_output_shape()} (the output of {fwd} "
                         f"for these arguments), got {tuple(dy.shape)}")
    return _arrays.kernel_ready(prob.logical(dy))


def _output(prob: Pool2dProblem, out) -> Tuple[Any, np.ndarray]:
    """The result to return and the logical view to write."""
    if out is None:
        y, yl = prob.allocate_output(prob.dtype, prob.op)
        return prob.wrap(y), yl
    y = _as_output(out, prob.stored_output_shape(), prob.dtype, prob.source, prob.op)
    return out, prob.logical(y)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               layout: str = "NCHW", out=None):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Shapes with ``layout="NCHW"``: input ``(N, C, H, W)`` or unbatched ``(C, H, W)``, output
    ``(N, C, P, Q)`` (``(C, P, Q)``); with ``layout="NHWC"``: ``(N, H, W, C)`` -> ``(N, P, Q, C)``.
    ``P = floor((H + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1`` (ceil with ``ceil_mode``,
    the last window starting inside the input or the leading padding); likewise Q.
    ``stride`` defaults to ``kernel_size``; padding acts as -inf and is at most ``kernel_size // 2``.
    dtype: float32 or float64, output alike; NumPy arrays or PyTorch CPU tensors (tensors come back).

    With ``return_indices=True`` returns ``(output, indices)``: indices int64 of the output's shape,
    each the flat position ``h * W + w`` of the window's maximum in its input plane (ties: the first in
    row-major window order; a NaN wins). ``out``: optional array of the output's shape and dtype to
    write the values into (returned as given).
    """
    op = "max_pool2d"
    if _gpu_arrays.on_gpu(op, input=input, out=out):
        from . import _pool2d_gpu

        return _pool2d_gpu.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                                      layout=layout, out=out)
    prob = check_pool2d(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    want_indices = _args.as_bool(return_indices, "return_indices", op)
    result, yl = _output(prob, out)
    idx = idxl = None
    if want_indices:
        idx, idxl = prob.allocate_output(np.int64, op)
    if yl.size:
        _C.max_pool2d_fprop(prob.x, yl, idxl, prob.kernel, prob.stride, prob.padding, prob.dilation)
    if want_indices:
        return result, prob.wrap(idx)
    return result


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False, *, indices=None, layout: str = "NCHW"):
    """Gradient of :func:`max_pool2d` with respect to its input: ``grad_input``.

    Takes ``grad_output`` (the shape of max_pool2d's output) followed by exactly the arguments
    max_pool2d was called with (``return_indices`` is accepted and ignored). Each output gradient goes
    to its window's maximum; overlapping windows add up. ``indices=`` (from ``return_indices=True``,
    int64 of the output's shape) skips recomputing the argmax; indices outside the input plane are
    ignored. Returns an array of the input's shape, dtype and layout.
    """
    op = "max_pool2d_backward"
    if _gpu_arrays.on_gpu(op, grad_output=grad_output, input=input, indices=indices):
        from . import _pool2d_gpu

        return _pool2d_gpu.max_pool2d_backward(grad_output, input, kernel_size, stride, padding, dilation, ceil_mode,
                                               return_indices, indices=indices, layout=layout)
    prob = check_pool2d(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    _args.as_bool(return_indices, "return_indices", op)
    dyl = _grad_output(prob, grad_output, "max_pool2d")
    idxl = None
    if indices is not None:
        idxl = prob.logical(_index_array(indices, prob.stored_output_shape(), op))
    dx, dxl = prob.allocate_input_like(op)
    if dxl.size:
        _C.max_pool2d_dgrad(dyl, prob.x, idxl, dxl, prob.kernel, prob.stride, prob.padding, prob.dilation)
    return prob.wrap(dx)


def _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, layout,
               intake=_arrays.to_numpy):
    prob = check_pool2d(op, input, kernel_size, stride, padding, 1, ceil_mode, layout, intake)
    count_include_pad = _flag(count_include_pad, "count_include_pad", op)
    return prob, count_include_pad, _divisor(divisor_override, op)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout: str = "NCHW", out=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Shapes as :func:`max_pool2d` (no dilation). Each output is the sum of its window's taps inside the
    input divided by ``divisor_override`` if given (a nonzero int), else by the window size clipped to
    the padded input (``count_include_pad=True``) or by the number of taps inside the input (False).
    dtype: float32 or float64, output alike; NumPy arrays or PyTorch CPU tensors (tensors come back).
    ``out``: optional array of the output's shape and dtype to write into (returned as given).
    """
    op = "avg_pool2d"
    if _gpu_arrays.on_gpu(op, input=input, out=out):
        from . import _pool2d_gpu

        return _pool2d_gpu.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                      divisor_override, layout=layout, out=out)
    prob, cip, div = _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override, layout)
    result, yl = _output(prob, out)
    if yl.size:
        _C.avg_pool2d_fprop(prob.x, yl, prob.kernel, prob.stride, prob.padding, cip, div)
    return result


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, layout: str = "NCHW"):
    """Gradient of :func:`avg_pool2d` with respect to its input: ``grad_input``.

    Takes ``grad_output`` (the shape of avg_pool2d's output) followed by exactly the arguments
    avg_pool2d was called with; only the input's shape, dtype and layout are used. Returns an array of
    the input's shape, dtype and layout.
    """
    op = "avg_pool2d_backward"
    if _gpu_arrays.on_gpu(op, grad_output=grad_output, input=input):
        from . import _pool2d_gpu

        return _pool2d_gpu.avg_pool2d_backward(grad_output, input, kernel_size, stride, padding, ceil_mode,
                                               count_include_pad, divisor_override, layout=layout)
    prob, cip, div = _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override, layout)
    dyl = _grad_output(prob, grad_output, "avg_pool2d")
    dx, dxl = prob.allocate_input_like(op)
    if dxl.size:
        _C.avg_pool2d_dgrad(dyl, dxl, prob.kernel, prob.stride, prob.padding, cip, div)
    return prob.wrap(dx)
