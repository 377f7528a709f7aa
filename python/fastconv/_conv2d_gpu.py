"""conv2d and conv2d_backward on GPU arrays (float32, CUDA build).

Reached from the ops in _conv2d.py when ``_gpu_arrays.on_gpu`` says so. The argument checks are the
CPU path's (``check_conv2d`` with a GPU intake); ``gpu_algorithm`` picks the CUDA kernel family for a
checked problem, and each pass calls that family's binding. Results are new arrays of the input's
library on its device, computed on that library's current stream; ``out=`` is not supported.
Workspace (the wgrads' partial sums) comes from the same library's allocator.

Kernel families: "depthwise" (direct kernels for groups == in_channels) and "implicit_gemm" (fp32
SIMT implicit GEMM for every other problem; it takes depthwise ones too when forced).
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np

from . import _C, _conv2d, _gpu_arrays

# What ``algorithm=`` may name on the GPU.
GPU_ALGORITHMS = ("auto", "direct", "implicit_gemm")


def _is_depthwise(prob: _conv2d.Conv2dProblem) -> bool:
    n, c, h, w = prob.x.shape
    k = prob.w.shape[0]
    return prob.groups == c and c > 0 and k % c == 0


def gpu_algorithm(prob: _conv2d.Conv2dProblem) -> str:
    """The CUDA kernel family for a checked problem: "auto" takes the depthwise kernels where groups ==
    in_channels (a per-channel stencil, which a GEMM would run with one-channel reductions) and the
    implicit GEMM elsewhere; "direct" and "implicit_gemm" force one. ValueError when it does not apply."""
    if prob.algorithm not in GPU_ALGORITHMS:
        raise ValueError(f"{prob.op}: algorithm={prob.algorithm!r} has no CUDA kernel; use one of "
                         f"{GPU_ALGORITHMS} with GPU arrays")
    if prob.algorithm == "implicit_gemm":
        return "implicit_gemm"
    if _is_depthwise(prob):
        return "depthwise"
    if prob.algorithm == "direct":
        n, c, h, w = prob.x.shape
        raise ValueError(f"{prob.op}: algorithm='direct' runs depthwise convolutions only on the GPU (groups == "
                         f"in_channels, out_channels a multiple of it), got in_channels={c}, "
                         f"out_channels={prob.w.shape[0]}, groups={prob.groups}; use 'auto' or 'implicit_gemm'")
    return "implicit_gemm"


def _check(op, input, weight, bias, stride, padding, dilation, groups, layout, algorithm):
    call = _gpu_arrays.GpuCall(op)
    prob = _conv2d.check_conv2d(op, input, weight, bias, stride, padding, dilation, groups, layout, algorithm,
                                intake=call.intake)
    return call, prob, gpu_algorithm(prob)


def _geometry(prob: _conv2d.Conv2dProblem):
    return prob.stride, prob.pad_lo, prob.dilation, prob.groups


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout: str = "NCHW",
           algorithm: str = "auto", out=None) -> Any:
    op = "conv2d"
    call, prob, family = _check(op, input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    if out is not None:
        raise ValueError(f"{op}: out= is supported for NumPy arrays only; with GPU arrays the result is returned "
                         "as a new array")
    with call.on_device():
        y, yl = call.allocate(prob.out_shape, prob.layout, prob.unbatched)
        if yl.size:
            b = prob.b.arg1() if prob.b is not None else None
            if family == "depthwise":
                _C.cuda_conv2d_fprop_depthwise(prob.x.arg(), prob.w.arg(), b, yl.arg(), *_geometry(prob),
                                               call.device, call.stream())
            else:
                _C.cuda_conv2d_fprop_implicit_gemm(prob.x.arg(), prob.w.arg(), b, yl.arg(), *_geometry(prob),
                                                   call.device, call.stream())
    return y


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                    needs_input_grad: Sequence[bool] = (True, True, True), layout: str = "NCHW",
                    algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    op = "conv2d_backward"
    call, prob, family = _check(op, input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    need_x, need_w, need_b = _conv2d._needs(needs_input_grad, op)
    need_b = need_b and prob.b is not None
    dy, _ = call.intake(grad_output, "grad_output", op)
    if dy.shape != prob.stored_output_shape():
        raise ValueError(f"{op}: expected grad_output of shape {prob.stored_output_shape()} (the output of conv2d "
                         f"for these arguments), got {tuple(dy.shape)}")
    dyl = dy[None] if prob.unbatched else dy
    dyl = dyl if prob.layout == "NCHW" else dyl.transpose(0, 3, 1, 2)
    geometry = _geometry(prob)

    dx = dw = db = None
    with call.on_device():
        stream = call.stream()
        if need_x:
            dx, dxl = call.allocate(prob.x.shape, prob.layout, prob.unbatched)
            if dxl.size and family == "depthwise":
                _C.cuda_conv2d_dgrad_depthwise(dyl.arg(), prob.w.arg(), dxl.arg(), *geometry, call.device, stream)
            elif dxl.size:
                _C.cuda_conv2d_dgrad_implicit_gemm(dyl.arg(), prob.w.arg(), dxl.arg(), *geometry, call.device,
                                                   stream)
        dwl = dbl = None
        if need_w:
            dw, dwl = call.allocate(prob.w.shape, prob.layout, False)
        if need_b:
            db, dbl = call.empty((prob.w.shape[0],))
        if (dwl is not None and dwl.size) or (dbl is not None and dbl.size):
            if family == "depthwise":
                w_like = dwl if dwl is not None else prob.w
                floats = _C.cuda_conv2d_wgrad_depthwise_workspace(dyl.arg(), prob.x.arg(), w_like.arg(), *geometry)
                _, ws = call.empty((max(int(floats), 1),), np.float32)
                _C.cuda_conv2d_wgrad_depthwise(dyl.arg(), prob.x.arg(), w_like.arg(), dwl is not None,
                                               dbl.arg1() if dbl is not None else None, ws.arg1(), *geometry,
                                               call.device, stream)
            else:
                if dwl is not None and dwl.size:
                    floats = _C.cuda_conv2d_wgrad_implicit_gemm_workspace(dyl.arg(), prob.x.arg(), dwl.arg(),
                                                                          *geometry)
                    _, ws = call.empty((max(int(floats), 1),), np.float32)
                    _C.cuda_conv2d_wgrad_implicit_gemm(dyl.arg(), prob.x.arg(), dwl.arg(), ws.arg1(), *geometry,
                                                       call.device, stream)
                if dbl is not None and dbl.size:
                    _C.cuda_conv2d_bgrad(dyl.arg(), dbl.arg1(), call.device, stream)
    return dx, dw, db
