"""conv2d and conv2d_backward: argument checks, layouts, output allocation, kernel calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _C, _args, _arrays, _gpu_arrays, _layout

ALGORITHMS = ("auto", "implicit_gemm", "winograd", "direct")


@dataclass
class Conv2dProblem:
    """A checked conv2d call: logical (N, C, H, W) views and normalised parameters."""

    op: str
    x: np.ndarray                 # (N, C, H, W) view
    w: np.ndarray                 # (K, C/groups, R, S) view
    b: Optional[np.ndarray]       # (K,)
    stride: Tuple[int, int]
    pads: Tuple[int, int, int, int]  # top, bottom, left, right
    dilation: Tuple[int, int]
    groups: int
    layout: str
    unbatched: bool
    out_shape: Tuple[int, int, int, int]  # (N, K, P, Q)
    wrap: _arrays.Wrapper
    dtype: np.dtype
    algorithm: str

    @property
    def pad_lo(self) -> Tuple[int, int]:
        return (self.pads[0], self.pads[2])

    def stored_output_shape(self) -> Tuple[int, ...]:
        shape = _layout.from_logical_shape(self.out_shape, self.layout)
        return shape[1:] if self.unbatched else shape

    def stored_input_shape(self) -> Tuple[int, ...]:
        shape = _layout.from_logical_shape(self.x.shape, self.layout)
        return shape[1:] if self.unbatched else shape

    def kernel_args(self):
        return (self.stride, self.pad_lo, self.dilation, self.groups, self.algorithm)


def _shape(a: np.ndarray) -> str:
    return str(tuple(a.shape))


def check_conv2d(op: str, input, weight, bias, stride, padding, dilation, groups, layout, algorithm,
                 intake=_arrays.to_numpy) -> Conv2dProblem:
    """Checks a conv2d call. `intake` reads the arrays: NumPy's here, the GPU's in _conv2d_gpu."""
    layout = _args.layout_2d(layout, op)
    algorithm = _args.choice(algorithm, "algorithm", op, ALGORITHMS)
    x, wrap = intake(input, "input", op)
    w, _ = intake(weight, "weight", op)
    b, _ = intake(bias, "bias", op, optional=True)
    dtype = _arrays.same_dtype(op, input=x, weight=w, bias=b)

    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input to be 3-D (unbatched) or 4-D (batched), got {x.ndim}-D input "
                         f"of shape {_shape(x)}")
    if w.ndim != 4:
        raise ValueError(f"{op}: expected weight to be 4-D, got {w.ndim}-D weight of shape {_shape(w)}")
    groups = _args.as_int(groups, "groups", op)
    if groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups}")
    stride = _args.as_pair(stride, "stride", op, minimum=1)
    dilation = _args.as_pair(dilation, "dilation", op, minimum=1)

    unbatched = x.ndim == 3
    xb = x[None] if unbatched else x
    xl = _layout.to_logical(xb, layout)
    wl = _layout.to_logical(w, layout)
    n, c, h, wd = xl.shape
    k, cg, r, s = wl.shape
    if k % groups != 0:
        raise ValueError(f"{op}: weight out_channels ({k}, weight {_shape(w)}) must be divisible by groups={groups}")
    if cg * groups != c:
        raise ValueError(f"{op}: expected input with {cg * groups} channels to match weight {_shape(w)} with "
                         f"groups={groups}, got {c} (input {_shape(x)}, layout {layout})")
    if b is not None and (b.ndim != 1 or b.shape[0] != k):
        raise ValueError(f"{op}: expected bias of shape ({k},) to match weight {_shape(w)}, got {_shape(b)}")
    pads = _args.conv_padding(padding, (r, s), stride, dilation, op)
    padded = (h + pads[0] + pads[1], wd + pads[2] + pads[3])
    eff = (dilation[0] * (r - 1) + 1, dilation[1] * (s - 1) + 1)
    if padded[0] < eff[0] or padded[1] < eff[1]:
        raise ValueError(f"{op}: padded input size per channel ({padded[0]} x {padded[1]}) is smaller than the "
                         f"dilated kernel size ({eff[0]} x {eff[1]}); input {_shape(x)}, weight {_shape(w)}, "
                         f"padding={padding!r}, dilation={dilation}")
    p = (padded[0] - eff[0]) // stride[0] + 1
    q = (padded[1] - eff[1]) // stride[1] + 1
    ready = _arrays.kernel_ready if isinstance(xl, np.ndarray) else (lambda a: a)  # GPU kernels take any strides
    return Conv2dProblem(op, ready(xl), ready(wl), None if b is None else ready(b), stride, pads, dilation, groups,
                         layout, unbatched, (n, k, p, q), wrap, dtype, algorithm)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout: str = "NCHW",
           algorithm: str = "auto", out: Optional[np.ndarray] = None):
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Shapes with ``layout="NCHW"``: input ``(N, C, H, W)`` or unbatched ``(C, H, W)``, weight
    ``(K, C/groups, R, S)``, bias ``(K,)`` or None, output ``(N, K, P, Q)`` (``(K, P, Q)`` unbatched).
    With ``layout="NHWC"``: input ``(N, H, W, C)``, weight ``(K, R, S, C/groups)``, output ``(N, P, Q, K)``.
    ``P = floor((H + pad_top + pad_bottom - dilation*(R-1) - 1) / stride) + 1`` (likewise Q).
    ``padding``: int, pair, ``'valid'`` or ``'same'`` (stride 1; the odd extra pad goes at the end).
    dtype: float32 or float64 (all arrays alike); NumPy arrays or PyTorch CPU tensors.
    ``out``: optional array of the output's shape and dtype to write into.
    """
    if _gpu_arrays.on_gpu("conv2d", input=input, weight=weight, bias=bias, out=out):
        from . import _conv2d_gpu

        return _conv2d_gpu.conv2d(input, weight, bias, stride, padding, dilation, groups, layout=layout,
                                  algorithm=algorithm, out=out)
    prob = check_conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    if out is not None:
        y = _arrays.check_out(out, prob.stored_output_shape(), prob.dtype, "conv2d")
        yb = y[None] if prob.unbatched else y
        yl = _layout.to_logical(yb, prob.layout)
    else:
        y, yl = _layout.allocate(prob.out_shape, prob.layout, prob.dtype, "conv2d")
        if prob.unbatched:
            y = y[0]
    if yl.size:
        if prob.w.shape[1] == 0:  # no input channels: only the bias remains
            yl[...] = 0 if prob.b is None else prob.b[None, :, None, None]
        else:
            _C.conv2d_fprop(prob.x, prob.w, prob.b, yl, *prob.kernel_args())
    return prob.wrap(y)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                    needs_input_grad: Sequence[bool] = (True, True, True), layout: str = "NCHW",
                    algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    """Gradients of :func:`conv2d`: ``(grad_input, grad_weight, grad_bias)``.

    Takes ``grad_output`` (the shape of conv2d's output) followed by exactly the arguments conv2d was
    called with. Each result has the shape and dtype of its forward argument; ``grad_bias`` is None when
    ``bias`` is None. ``needs_input_grad`` (three bools) skips work: skipped entries are None.
    """
    op = "conv2d_backward"
    if _gpu_arrays.on_gpu(op, grad_output=grad_output, input=input, weight=weight, bias=bias):
        from . import _conv2d_gpu

        return _conv2d_gpu.conv2d_backward(grad_output, input, weight, bias, stride, padding, dilation, groups,
                                           needs_input_grad=needs_input_grad, layout=layout, algorithm=algorithm)
    prob = check_conv2d(op, input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    need_x, need_w, need_b = _needs(needs_input_grad, op)
    dy, _ = _arrays.to_numpy(grad_output, "grad_output", op)
    _arrays.same_dtype(op, grad_output=dy, input=prob.x)
    if dy.shape != prob.stored_output_shape():
        raise ValueError(f"{op}: expected grad_output of shape {prob.stored_output_shape()} (the output of conv2d "
                         f"for these arguments), got {_shape(dy)}")
    dyl = _arrays.kernel_ready(_layout.to_logical(dy[None] if prob.unbatched else dy, prob.layout))
    n, k, p, q = prob.out_shape
    empty_reduction = n * p * q == 0

    dx = dw = db = dxl = dwl = None
    if need_x:
        dx, dxl = _layout.allocate(prob.x.shape, prob.layout, prob.dtype, op)
    if need_w:
        dw = _arrays.empty(_layout.from_logical_shape(prob.w.shape, prob.layout), prob.dtype, op)
        dwl = _layout.to_logical(dw, prob.layout)
    if need_b and prob.b is not None:
        db = _arrays.empty((k,), prob.dtype, op)
    # One call for all three where the kernels share work (depthwise 3x3 on planes: one pass; planar dy
    # that both gradients read with contiguous channels: one copy; few input channels with unit
    # strides: one staged copy, db alone included); else one each.
    if (need_x or need_w or db is not None) and _C.conv2d_backward(dyl, prob.x, prob.w, dxl, dwl, db,
                                                                    *prob.kernel_args()):
        need_x = need_w = need_b = False
    if need_x and dxl.size:
        if k == 0:
            dxl[...] = 0
        else:
            _C.conv2d_dgrad(dyl, prob.w, dxl, *prob.kernel_args())
    if need_w and dwl.size:
        if empty_reduction:
            dwl[...] = 0
        else:
            _C.conv2d_wgrad(dyl, prob.x, dwl, *prob.kernel_args())
    if need_b and db is not None and k:
        if empty_reduction:
            db[...] = 0
        else:
            _C.conv2d_bgrad(dyl, db)
    if dx is not None and prob.unbatched:
        dx = dx[0]
    wrap = prob.wrap
    return wrap(dx), wrap(dw), wrap(db)


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
