"""max_pool1d/3d, avg_pool1d/3d and their backward ops (checks and dispatch in _poolnd).

Semantics are torch's, as for the 2-D pools: padding acts as -inf for max pools and is at most half
the kernel; ``ceil_mode`` lets the last window start inside the input or its leading padding; max-pool
indices are flat positions in the input's spatial volume (``w``; 3-D: ``(d * H + h) * W + w``).
"""

from __future__ import annotations

import numpy as np

from . import _args, _poolnd


def _max_forward(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, layout, out):
    prob = _poolnd.check_pool(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    want_indices = _args.as_bool(return_indices, "return_indices", op)
    result, yl = _poolnd.output(prob, out)
    idx = idxl = None
    if want_indices:
        idx, idxl = prob.allocate(prob.out_shape, np.int64, op)
    if yl.size:
        _poolnd.max_fprop(prob, yl, idxl)
    if want_indices:
        return result, prob.wrap(idx)
    return result


def _max_backward(op, fwd, dims, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode,
                  return_indices, indices, layout):
    prob = _poolnd.check_pool(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, layout)
    _args.as_bool(return_indices, "return_indices", op)
    dyl = _poolnd.grad_output(prob, grad_output, fwd)
    idxl = _poolnd.indices_input(prob, indices, fwd)
    dx, dxl = prob.allocate(prob.x.shape, prob.dtype, op)
    if dxl.size:
        _poolnd.max_dgrad(prob, dyl, idxl, dxl)
    return prob.wrap(dx)


def _avg_check(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
               layout):
    prob = _poolnd.check_pool(op, dims, input, kernel_size, stride, padding, 1, ceil_mode, layout)
    cip = _poolnd._flag(count_include_pad, "count_include_pad", op)
    return prob, cip, _poolnd.divisor(divisor_override, op)


def _avg_forward(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                 layout, out):
    prob, cip, div = _avg_check(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override, layout)
    result, yl = _poolnd.output(prob, out)
    if yl.size:
        _poolnd.avg_fprop(prob, yl, cip, div)
    return result


def _avg_backward(op, fwd, dims, grad_output, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  divisor_override, layout):
    prob, cip, div = _avg_check(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                divisor_override, layout)
    dyl = _poolnd.grad_output(prob, grad_output, fwd)
    dx, dxl = prob.allocate(prob.x.shape, prob.dtype, op)
    if dxl.size:
        _poolnd.avg_dgrad(prob, dyl, dxl, cip, div)
    return prob.wrap(dx)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               layout: str = "NCW", out=None):
    """1-D max pooling, as ``torch.nn.functional.max_pool1d``.

    Input ``(N, C, W)`` or unbatched ``(C, W)`` (``layout="NWC"``: ``(N, W, C)``), output ``(N, C, Q)``
    with ``Q = floor((W + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1`` (ceil with
    ``ceil_mode``). With ``return_indices=True`` returns ``(output, indices)``, indices int64 positions
    ``w`` of each window's maximum. ``out``: optional array to write the values into.
    """
    return _max_forward("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                        layout, out)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False, *, indices=None, layout: str = "NCW"):
    """Gradient of :func:`max_pool1d` w.r.t. its input (``indices=`` skips recomputing the argmax)."""
    return _max_backward("max_pool1d_backward", "max_pool1d", 1, grad_output, input, kernel_size, stride, padding,
                         dilation, ceil_mode, return_indices, indices, layout)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
               layout: str = "NCDHW", out=None):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d``.

    Input ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)`` (``layout="NDHWC"``: channels last), output
    ``(N, C, Z, P, Q)`` with extents per axis as max_pool2d's. With ``return_indices=True`` returns
    ``(output, indices)``, indices int64 flat positions ``(d * H + h) * W + w``.
    """
    return _max_forward("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                        layout, out)


def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False, *, indices=None, layout: str = "NCDHW"):
    """Gradient of :func:`max_pool3d` w.r.t. its input (``indices=`` skips recomputing the argmax)."""
    return _max_backward("max_pool3d_backward", "max_pool3d", 3, grad_output, input, kernel_size, stride, padding,
                         dilation, ceil_mode, return_indices, indices, layout)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, *,
               layout: str = "NCW", out=None):
    """1-D average pooling, as ``torch.nn.functional.avg_pool1d`` (which has no divisor_override).

    Shapes as :func:`max_pool1d`; the divisor is the window clipped to the padded input
    (``count_include_pad=True``) or the number of taps inside the input.
    """
    return _avg_forward("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None,
                        layout, out)


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, *, layout: str = "NCW"):
    """Gradient of :func:`avg_pool1d` w.r.t. its input."""
    return _avg_backward("avg_pool1d_backward", "avg_pool1d", 1, grad_output, input, kernel_size, stride, padding,
                         ceil_mode, count_include_pad, None, layout)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, layout: str = "NCDHW", out=None):
    """3-D average pooling, as ``torch.nn.functional.avg_pool3d``.

    Shapes as :func:`max_pool3d`. Each output is its window's sum over taps inside the input divided by
    ``divisor_override`` (a nonzero int) if given, else by the window clipped to the padded input
    (``count_include_pad=True``) or by the number of taps inside the input.
    """
    return _avg_forward("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, layout, out)


def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, layout: str = "NCDHW"):
    """Gradient of :func:`avg_pool3d` w.r.t. its input."""
    return _avg_backward("avg_pool3d_backward", "avg_pool3d", 3, grad_output, input, kernel_size, stride, padding,
                         ceil_mode, count_include_pad, divisor_override, layout)
