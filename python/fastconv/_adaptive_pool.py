"""adaptive_avg_pool1d/2d/3d, adaptive_max_pool1d/2d/3d and their backward ops.

Output position ``o`` on an axis of ``L`` inputs and ``O`` outputs covers ``[floor(o*L/O),
ceil((o+1)*L/O))`` (torch's windows). ``output_size`` is an int or a tuple with one entry per spatial
axis, an entry None keeping that axis's input size. Max-pool indices are flat positions in the
input's spatial extent (``w``; ``h * W + w``; ``(d * H + h) * W + w``).
"""

from __future__ import annotations

import numpy as np

from . import _args, _poolnd



def _avg(dims, input, output_size, layout, out):
    op = f"adaptive_avg_pool{dims}d"
    prob = _poolnd.check_adaptive(op, dims, input, output_size, layout)
    result, yl = _poolnd.output(prob, out)
    if yl.size:
        _poolnd.adaptive_avg_fprop(prob, yl)
    return result


def _avg_backward(dims, grad_output, input, output_size, layout):
    fwd = f"adaptive_avg_pool{dims}d"
    prob = _poolnd.check_adaptive(fwd + "_backward", dims, input, output_size, layout)
    dyl = _poolnd.grad_output(prob, grad_output, fwd)
    dx, dxl = prob.allocate(prob.x.shape, prob.dtype, prob.op)
    if dxl.size:
        if dyl.size:
            _poolnd.adaptive_avg_dgrad(prob, dyl, dxl)
        else:
            dxl[...] = 0
    return prob.wrap(dx)


def _max(dims, input, output_size, return_indices, layout, out):
    op = f"adaptive_max_pool{dims}d"
    prob = _poolnd.check_adaptive(op, dims, input, output_size, layout)
    want_indices = _args.as_bool(return_indices, "return_indices", op)
    result, yl = _poolnd.output(prob, out)
    idx = idxl = None
    if want_indices:
        idx, idxl = prob.allocate(prob.out_shape, np.int64, op)
    if yl.size:
        _poolnd.adaptive_max_fprop(prob, yl, idxl)
    if want_indices:
        return result, prob.wrap(idx)
    return result


def _max_backward(dims, grad_output, input, output_size, return_indices, indices, layout):
    fwd = f"adaptive_max_pool{dims}d"
    prob = _poolnd.check_adaptive(fwd + "_backward", dims, input, output_size, layout)
    _args.as_bool(return_indices, "return_indices", prob.op)
    dyl = _poolnd.grad_output(prob, grad_output, fwd)
    idxl = _poolnd.indices_input(prob, indices, fwd)
    dx, dxl = prob.allocate(prob.x.shape, prob.dtype, prob.op)
    if dxl.size:
        if dyl.size:
            _poolnd.adaptive_max_dgrad(prob, dyl, idxl, dxl)
        else:
            dxl[...] = 0
    return prob.wrap(dx)


def adaptive_avg_pool1d(input, output_size, *, layout: str = "NCW", out=None):
    """1-D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool1d``: ``(N, C, W)`` ->
    ``(N, C, output_size)`` (``layout="NWC"``: channels last; unbatched ``(C, W)`` accepted)."""
    return _avg(1, input, output_size, layout, out)


def adaptive_avg_pool2d(input, output_size, *, layout: str = "NCHW", out=None):
    """2-D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``: ``(N, C, H, W)`` ->
    ``(N, C, *output_size)`` (``layout="NHWC"``: channels last; unbatched accepted)."""
    return _avg(2, input, output_size, layout, out)


def adaptive_avg_pool3d(input, output_size, *, layout: str = "NCDHW", out=None):
    """3-D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool3d``: ``(N, C, D, H, W)``
    -> ``(N, C, *output_size)`` (``layout="NDHWC"``: channels last; unbatched accepted)."""
    return _avg(3, input, output_size, layout, out)


def adaptive_avg_pool1d_backward(grad_output, input, output_size, *, layout: str = "NCW"):
    """Gradient of :func:`adaptive_avg_pool1d` w.r.t. its input."""
    return _avg_backward(1, grad_output, input, output_size, layout)


def adaptive_avg_pool2d_backward(grad_output, input, output_size, *, layout: str = "NCHW"):
    """Gradient of :func:`adaptive_avg_pool2d` w.r.t. its input."""
    return _avg_backward(2, grad_output, input, output_size, layout)


def adaptive_avg_pool3d_backward(grad_output, input, output_size, *, layout: str = "NCDHW"):
    """Gradient of :func:`adaptive_avg_pool3d` w.r.t. its input."""
    return _avg_backward(3, grad_output, input, output_size, layout)


def adaptive_max_pool1d(input, output_size, return_indices=False, *, layout: str = "NCW", out=None):
    """1-D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool1d``; with
    ``return_indices=True`` returns ``(output, indices)`` (int64 positions ``w``)."""
    return _max(1, input, output_size, return_indices, layout, out)


def adaptive_max_pool2d(input, output_size, return_indices=False, *, layout: str = "NCHW", out=None):
    """2-D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d``; with
    ``return_indices=True`` returns ``(output, indices)`` (int64 flat positions ``h * W + w``)."""
    return _max(2, input, output_size, return_indices, layout, out)


def adaptive_max_pool3d(input, output_size, return_indices=False, *, layout: str = "NCDHW", out=None):
    """3-D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool3d``; with
    ``return_indices=True`` returns ``(output, indices)`` (int64 flat positions ``(d * H + h) * W + w``)."""
    return _max(3, input, output_size, return_indices, layout, out)


def adaptive_max_pool1d_backward(grad_output, input, output_size, return_indices=False, *, indices=None,
                                 layout: str = "NCW"):
    """Gradient of :func:`adaptive_max_pool1d` w.r.t. its input (``indices=`` skips the argmax)."""
    return _max_backward(1, grad_output, input, output_size, return_indices, indices, layout)


def adaptive_max_pool2d_backward(grad_output, input, output_size, return_indices=False, *, indices=None,
                                 layout: str = "NCHW"):
    """Gradient of :func:`adaptive_max_pool2d` w.r.t. its input (``indices=`` skips the argmax)."""
    return _max_backward(2, grad_output, input, output_size, return_indices, indices, layout)


def adaptive_max_pool3d_backward(grad_output, input, output_size, return_indices=False, *, indices=None,
                                 layout: str = "NCDHW"):
    """Gradient of :func:`adaptive_max_pool3d` w.r.t. its input (``indices=`` skips the argmax)."""
    return _max_backward(3, grad_output, input, output_size, return_indices, indices, layout)
