"""conv1d, conv3d, conv_transpose1d/2d/3d and their backward ops: argument checks, layouts, output
allocation, kernel calls (_conv_kernels: 1-D on the 2-D kernels through views, 3-D native).

A transposed convolution is the adjoint of a convolution with the same weight: its forward is the
convolution's input gradient (dgrad), its input gradient is the convolution's forward, and its
weight gradient is the convolution's weight gradient with the roles of input and output swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _args, _arrays, _conv_kernels, _layout

ALGORITHMS_BY_DIMS = {1: ("auto", "implicit_gemm", "direct"), 2: ("auto", "implicit_gemm", "winograd", "direct"),
                      3: ("auto", "implicit_gemm")}
_AXES = {1: "W", 2: "H x W", 3: "D x H x W"}


def _shape(a) -> str:
    return str(tuple(a.shape))


def _fmt(values) -> str:
    return " x ".join(str(v) for v in values)


@dataclass
class ConvProblem:
    """A checked call: logical views, normalised parameters and the output's logical shape.

    For a convolution x is the input and y the output; for a transposed convolution the kernels see
    the problem from the underlying convolution's side: ``conv_x`` is the transposed op's output and
    ``conv_y`` its input.
    """

    op: str
    dims: int
    transposed: bool
    x: np.ndarray                 # the op's input, logical (N, C_in, *spatial), kernel-ready
    w: np.ndarray                 # logical (K, C/groups, *taps) (transposed: (C_in, C_out/groups, *taps))
    b: Optional[np.ndarray]
    stride: Tuple[int, ...]
    pad_lo: Tuple[int, ...]
    dilation: Tuple[int, ...]
    groups: int
    layout: str
    unbatched: bool
    out_shape: Tuple[int, ...]    # the op's output, logical (N, C_out, *spatial)
    wrap: _arrays.Wrapper
    dtype: np.dtype
    algorithm: str

    def stored(self, logical_shape) -> Tuple[int, ...]:
        shape = _layout.from_logical_shape_nd(logical_shape, self.layout)
        return shape[1:] if self.unbatched else shape

    def logical(self, a: np.ndarray) -> np.ndarray:
        return _layout.to_logical_nd(a[None] if self.unbatched else a, self.layout)

    def allocate(self, logical_shape, op: str) -> Tuple[np.ndarray, np.ndarray]:
        stored, logical = _layout.allocate_nd(logical_shape, self.layout, self.dtype, op)
        return (stored[0] if self.unbatched else stored), logical

    def kernel_args(self):
        return (self.stride, self.pad_lo, self.dilation, self.groups, self.algorithm)


def _intake(op: str, dims: int, input, weight, bias, layout, algorithm):
    layout = _args.layout_nd(layout, dims, op)
    algorithm = _args.choice(algorithm, "algorithm", op, ALGORITHMS_BY_DIMS[dims])
    x, wrap = _arrays.to_numpy(input, "input", op)
    w, _ = _arrays.to_numpy(weight, "weight", op)
    b, _ = _arrays.to_numpy(bias, "bias", op, optional=True)
    dtype = _arrays.same_dtype(op, input=x, weight=w, bias=b)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected input to be {dims + 1}-D (unbatched) or {dims + 2}-D (batched), got "
                         f"{x.ndim}-D input of shape {_shape(x)}")
    if w.ndim != dims + 2:
        raise ValueError(f"{op}: expected weight to be {dims + 2}-D, got {w.ndim}-D weight of shape {_shape(w)}")
    if b is not None and b.ndim != 1:
        raise ValueError(f"{op}: expected bias to be 1-D, got bias of shape {_shape(b)}")
    unbatched = x.ndim == dims + 1
    xl = _layout.to_logical_nd(x[None] if unbatched else x, layout)
    wl = _layout.to_logical_nd(w, layout)
    return layout, algorithm, x, w, b, wrap, dtype, unbatched, xl, wl


def check_conv(op: str, dims: int, input, weight, bias, stride, padding, dilation, groups, layout,
               algorithm) -> ConvProblem:
    layout, algorithm, x, w, b, wrap, dtype, unbatched, xl, wl = _intake(op, dims, input, weight, bias, layout,
                                                                         algorithm)
    groups = _args.as_int(groups, "groups", op)
    if groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups}")
    stride = _args.as_tuple(stride, dims, "stride", op, minimum=1)
    dilation = _args.as_tuple(dilation, dims, "dilation", op, minimum=1)
    n, c = xl.shape[:2]
    k, cg = wl.shape[:2]
    taps = wl.shape[2:]
    if k < groups or k % groups != 0:
        raise ValueError(f"{op}: weight out_channels ({k}, weight {_shape(w)}) must be a positive multiple of "
                         f"groups={groups}")
    if cg * groups != c:
        raise ValueError(f"{op}: expected input with {cg * groups} channels to match weight {_shape(w)} with "
                         f"groups={groups}, got {c} (input {_shape(x)}, layout {layout})")
    if b is not None and b.shape[0] != k:
        raise ValueError(f"{op}: expected bias of shape ({k},) to match weight {_shape(w)}, got {_shape(b)}")
    if any(t < 1 for t in taps):
        raise ValueError(f"{op}: weight must have at least one tap per spatial axis, got weight {_shape(w)}")
    pads = _args.conv_padding_nd(padding, taps, stride, dilation, op)
    spatial = xl.shape[2:]
    padded = [s + lo + hi for s, (lo, hi) in zip(spatial, pads)]
    eff = [d * (t - 1) + 1 for t, d in zip(taps, dilation)]
    if any(p < e for p, e in zip(padded, eff)):
        raise ValueError(f"{op}: padded input size per channel ({_fmt(padded)}) is smaller than the dilated kernel "
                         f"size ({_fmt(eff)}); input {_shape(x)}, weight {_shape(w)}, padding={padding!r}, "
                         f"dilation={dilation}")
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded, eff, stride))
    return ConvProblem(op, dims, False, _arrays.kernel_ready(xl), _arrays.kernel_ready(wl),
                       None if b is None else _arrays.kernel_ready(b), stride, tuple(lo for lo, _ in pads), dilation,
                       groups, layout, unbatched, (n, k) + out, wrap, dtype, algorithm)


def check_conv_transpose(op: str, dims: int, input, weight, bias, stride, padding, output_padding, groups,
                         dilation, layout, algorithm) -> ConvProblem:
    layout, algorithm, x, w, b, wrap, dtype, unbatched, xl, wl = _intake(op, dims, input, weight, bias, layout,
                                                                         algorithm)
    groups = _args.as_int(groups, "groups", op)
    if groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups}")
    stride = _args.as_tuple(stride, dims, "stride", op, minimum=1)
    dilation = _args.as_tuple(dilation, dims, "dilation", op, minimum=1)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of {dims} ints (transposed convolutions take no "
                        f"padding modes), got {padding!r}")
    pad = _args.as_tuple(padding, dims, "padding", op, minimum=0)
    out_pad = _args.as_tuple(output_padding, dims, "output_padding", op, minimum=0)
    for op_, s, d in zip(out_pad, stride, dilation):
        if op_ >= s and op_ >= d:
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={out_pad}, stride={stride}, dilation={dilation}")
    n, c_in = xl.shape[:2]
    wk, cg_out = wl.shape[:2]
    taps = wl.shape[2:]
    if wk < groups or wk % groups != 0:
        raise ValueError(f"{op}: weight in_channels ({wk}, weight {_shape(w)}) must be a positive multiple of "
                         f"groups={groups}")
    if wk != c_in:
        raise ValueError(f"{op}: expected input with {wk} channels to match weight {_shape(w)} (in_channels first), "
                         f"got {c_in} (input {_shape(x)}, layout {layout})")
    c_out = cg_out * groups
    if b is not None and b.shape[0] != c_out:
        raise ValueError(f"{op}: expected bias of shape ({c_out},) to match weight {_shape(w)} with groups={groups}, "
                         f"got {_shape(b)}")
    if any(t < 1 for t in taps):
        raise ValueError(f"{op}: weight must have at least one tap per spatial axis, got weight {_shape(w)}")
    spatial = xl.shape[2:]
    if any(s == 0 for s in spatial):
        raise ValueError(f"{op}: expected input with nonzero spatial size (only the batch may be empty), got input "
                         f"of shape {_shape(x)}")
    out = tuple((s - 1) * st - 2 * p + d * (t - 1) + op_ + 1
                for s, st, p, d, t, op_ in zip(spatial, stride, pad, dilation, taps, out_pad))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size is too small: input size per channel ({_fmt(spatial)}) with "
                         f"stride={stride}, padding={pad}, dilation={dilation}, output_padding={out_pad} and weight "
                         f"{_shape(w)} gives ({_fmt(out)})")
    return ConvProblem(op, dims, True, _arrays.kernel_ready(xl), _arrays.kernel_ready(wl),
                       None if b is None else _arrays.kernel_ready(b), stride, pad, dilation, groups, layout,
                       unbatched, (n, c_out) + out, wrap, dtype, algorithm)


def _needs(needs_input_grad, op: str) -> Tuple[bool, bool, bool]:
    try:
        flags = [bool(v) for v in needs_input_grad]
    except TypeError:
        raise TypeError(f"{op}: needs_input_grad must be a sequence of bools, got {needs_input_grad!r}") from None
    if len(flags) == 2:
        flags.append(True)
    if len(flags) != 3:
        raise ValueError(f"{op}: needs_input_grad must have 3 entries (input, weight, bias), got {needs_input_grad!r}")
    return flags[0], flags[1], flags[2]


def _grad_output(prob: ConvProblem, grad_output, fwd: str) -> np.ndarray:
    op = prob.op
    dy, _ = _arrays.to_numpy(grad_output, "grad_output", op)
    _arrays.same_dtype(op, grad_output=dy, input=prob.x)
    expected = prob.stored(prob.out_shape)
    if dy.shape != expected:
        raise ValueError(f"{op}: expected grad_output of shape {expected} (the output of {fwd} for these arguments), "
                         f"got {_shape(dy)}")
    return _arrays.kernel_ready(prob.logical(dy))


def _output(prob: ConvProblem, out) -> Tuple[np.ndarray, np.ndarray]:
    if out is None:
        return prob.allocate(prob.out_shape, prob.op)
    y = _arrays.check_out(out, prob.stored(prob.out_shape), prob.dtype, prob.op)
    if np.may_share_memory(y, prob.x) or np.may_share_memory(y, prob.w):
        raise ValueError(f"{prob.op}: out must not overlap the input or the weight")
    return y, prob.logical(y)


# ----------------------------------------------------------------------------- convolution


def conv_forward(prob: ConvProblem, out) -> Any:
    y, yl = _output(prob, out)
    if yl.size:
        if prob.w.shape[1] == 0:  # no input channels: only the bias remains
            yl[...] = 0
            if prob.b is not None:
                _conv_kernels.bias_add(yl, prob.b)
        else:
            _conv_kernels.fprop(prob.x, prob.w, prob.b, yl, *prob.kernel_args())
    return prob.wrap(y) if out is None else out


def conv_backward(prob: ConvProblem, grad_output, needs_input_grad, fwd: str):
    op = prob.op
    need_x, need_w, need_b = _needs(needs_input_grad, op)
    dyl = _grad_output(prob, grad_output, fwd)
    n, k = prob.out_shape[:2]
    empty_reduction = n * int(np.prod(prob.out_shape[2:])) == 0
    dx = dw = db = None
    if need_x:
        dx, dxl = prob.allocate(prob.x.shape, op)
        if dxl.size:
            _conv_kernels.dgrad(dyl, prob.w, dxl, *prob.kernel_args())
    if need_w:
        dw, dwl = _layout.allocate_nd(prob.w.shape, prob.layout, prob.dtype, op)
        if dwl.size:
            if empty_reduction:
                dwl[...] = 0
            else:
                _conv_kernels.wgrad(dyl, prob.x, dwl, *prob.kernel_args())
    if need_b and prob.b is not None:
        db = _arrays.empty((k,), prob.dtype, op)
        if k:
            if empty_reduction:
                db[...] = 0
            else:
                _conv_kernels.bgrad(dyl, db)
    wrap = prob.wrap
    return wrap(dx), wrap(dw), wrap(db)


# ----------------------------------------------------------------------------- transposed convolution


def conv_transpose_forward(prob: ConvProblem, out) -> Any:
    y, yl = _output(prob, out)
    if yl.size:
        _conv_kernels.dgrad(prob.x, prob.w, yl, *prob.kernel_args())
        if prob.b is not None:
            _conv_kernels.bias_add(yl, prob.b)
    return prob.wrap(y) if out is None else out


def conv_transpose_backward(prob: ConvProblem, grad_output, needs_input_grad, fwd: str):
    op = prob.op
    need_x, need_w, need_b = _needs(needs_input_grad, op)
    dyl = _grad_output(prob, grad_output, fwd)
    n, c_out = prob.out_shape[:2]
    dx = dw = db = None
    if need_x:
        dx, dxl = prob.allocate(prob.x.shape, op)
        if dxl.size:
            if c_out == 0:  # no output channels: nothing flows back
                dxl[...] = 0
            else:
                _conv_kernels.fprop(dyl, prob.w, None, dxl, *prob.kernel_args())
    if need_w:
        dw, dwl = _layout.allocate_nd(prob.w.shape, prob.layout, prob.dtype, op)
        if dwl.size:
            if n == 0:
                dwl[...] = 0
            else:
                _conv_kernels.wgrad(prob.x, dyl, dwl, *prob.kernel_args())
    if need_b and prob.b is not None:
        db = _arrays.empty((c_out,), prob.dtype, op)
        if c_out:
            if n == 0:
                db[...] = 0
            else:
                _conv_kernels.bgrad(dyl, db)
    wrap = prob.wrap
    return wrap(dx), wrap(dw), wrap(db)
