"""max_pool2d, avg_pool2d and their backward ops on GPU arrays (float32, CUDA build).

Reached from the ops in _pool2d.py when ``_gpu_arrays.on_gpu`` says so. The argument checks are the
CPU path's (``check_pool2d``, with a GPU intake), so errors read the same; results are new arrays of
the input's library on its device, computed on that library's current stream. ``out=`` is not
supported for GPU arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _C, _args, _gpu_arrays, _pool2d


def _refuse_out(out, op: str) -> None:
    if out is not None:
        raise ValueError(f"{op}: out= is supported for NumPy arrays and CPU tensors only; with GPU arrays the "
                         "result is returned as a new array")


def _check(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout):
    call = _gpu_arrays.GpuCall(op)
    prob = _pool2d.check_pool2d(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout,
                                intake=call.intake)
    return call, prob


def _grad_output(call: _gpu_arrays.GpuCall, prob: _pool2d.Pool2dProblem, grad_output, fwd: str):
    dy, _ = call.intake(grad_output, "grad_output", prob.op)
    if dy.shape != prob.stored_output_shape():
        raise ValueError(f"{prob.op}: expected grad_output of shape {prob.stored_output_shape()} (the output of "
                         f"{fwd} for these arguments), got {tuple(dy.shape)}")
    return prob.logical(dy)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               layout: str = "NCHW", out=None):
    op = "max_pool2d"
    call, prob = _check(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    want_indices = _args.as_bool(return_indices, "return_indices", op)
    _refuse_out(out, op)
    with call.on_device():
        y, yl = call.allocate(prob.out_shape, prob.layout, prob.unbatched)
        idx = idxl = None
        if want_indices:
            idx, idxl = call.allocate(prob.out_shape, prob.layout, prob.unbatched, np.int64)
        if yl.size:
            _C.cuda_max_pool2d_fprop(prob.x.arg(), yl.arg(), idxl.arg() if idxl is not None else None, prob.kernel,
                                     prob.stride, prob.padding, prob.dilation, call.device, call.stream())
    return (y, idx) if want_indices else y


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False, *, indices=None, layout: str = "NCHW"):
    op = "max_pool2d_backward"
    call, prob = _check(op, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    _args.as_bool(return_indices, "return_indices", op)
    dyl = _grad_output(call, prob, grad_output, "max_pool2d")
    idxl = None
    if indices is not None:
        idx, _ = call.intake(indices, "indices", op, dtype=np.dtype(np.int64))
        if idx.shape != prob.stored_output_shape():
            raise ValueError(f"{op}: expected indices of shape {prob.stored_output_shape()} (the output of "
                             f"max_pool2d for these arguments), got {tuple(idx.shape)}")
        idxl = prob.logical(idx)
    geometry = (prob.kernel, prob.stride, prob.padding, prob.dilation)
    with call.on_device():
        dx, dxl = call.allocate(prob.x.shape, prob.layout, prob.unbatched)
        if dxl.size:
            # Without indices the kernel first finds each window's argmax once, into this workspace.
            words = int(_C.cuda_max_pool2d_dgrad_workspace(dyl.arg(), prob.x.arg(), idxl is not None, *geometry))
            _, ws = call.empty((words,), np.int64) if words else (None, None)
            _C.cuda_max_pool2d_dgrad(dyl.arg(), prob.x.arg(), idxl.arg() if idxl is not None else None, dxl.arg(),
                                     ws.arg1() if ws is not None else None, *geometry, call.device, call.stream())
    return dx


def _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, layout):
    call = _gpu_arrays.GpuCall(op)
    prob, cip, div = _pool2d._check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                        divisor_override, layout, intake=call.intake)
    return call, prob, cip, div


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout: str = "NCHW", out=None) -> Any:
    op = "avg_pool2d"
    call, prob, cip, div = _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                      divisor_override, layout)
    _refuse_out(out, op)
    with call.on_device():
        y, yl = call.allocate(prob.out_shape, prob.layout, prob.unbatched)
        if yl.size:
            _C.cuda_avg_pool2d_fprop(prob.x.arg(), yl.arg(), prob.kernel, prob.stride, prob.padding, cip, div,
                                     call.device, call.stream())
    return y


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, layout: str = "NCHW") -> Any:
    op = "avg_pool2d_backward"
    call, prob, cip, div = _check_avg(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                      divisor_override, layout)
    dyl = _grad_output(call, prob, grad_output, "avg_pool2d")
    with call.on_device():
        dx, dxl = call.allocate(prob.x.shape, prob.layout, prob.unbatched)
        if dxl.size:
            _C.cuda_avg_pool2d_dgrad(dyl.arg(), dxl.arg(), prob.kernel, prob.stride, prob.padding, cip, div,
                                     call.device, call.stream())
    return dx
