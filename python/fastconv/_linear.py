"""linear and linear_backward: argument checks, output allocation, kernel calls.

The kernels read ``input`` and ``weight`` through their strides, so a transposed weight view
(``kernel.T`` of a Keras ``(in, out)`` kernel) is used without a copy.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _C, _arrays
from ._nn_common import checked_grad_output, needs


class _Linear:
    def __init__(self, op: str, input, weight, bias):
        x, self.wrap = _arrays.to_numpy(input, "input", op)
        w, _ = _arrays.to_numpy(weight, "weight", op)
        b, _ = _arrays.to_numpy(bias, "bias", op, optional=True)
        self.dtype = _arrays.same_dtype(op, input=x, weight=w, bias=b)
        if x.ndim < 1:
            raise ValueError(f"{op}: input must have at least 1 dimension, got a 0-D input")
        if w.ndim not in (1, 2):
            raise ValueError(f"{op}: weight must be 2-D (out_features, in_features) or 1-D (in_features,), "
                             f"got shape {w.shape}")
        in_features = w.shape[-1]
        if x.shape[-1] != in_features:
            raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[-1]} features, but weight of shape "
                             f"{w.shape} expects {in_features} (mat1 and mat2 shapes cannot be multiplied)")
        out_features = w.shape[0] if w.ndim == 2 else 1
        bias_shape = (out_features,) if w.ndim == 2 else ()
        if b is not None and b.shape != bias_shape and not (w.ndim == 1 and b.shape == (1,)):
            raise ValueError(f"{op}: expected bias of shape {bias_shape} to match weight {w.shape}, got {b.shape}")
        self.x, self.w, self.b = x, w, b
        self.rows = math.prod(x.shape[:-1])
        self.x2 = _arrays.kernel_ready(x.reshape(self.rows, in_features))
        self.w2 = _arrays.kernel_ready(w if w.ndim == 2 else w[None, :])
        self.b1 = None if b is None else np.ascontiguousarray(b.reshape(out_features))
        self.out_shape = x.shape[:-1] + ((out_features,) if w.ndim == 2 else ())
        self.out_features = out_features


def linear(input, weight, bias=None):
    """Affine map ``y = x W^T + b``, as ``torch.nn.functional.linear``.

    Shapes: input ``(*, in_features)``, weight ``(out_features, in_features)`` (or ``(in_features,)``,
    which drops the last output axis), bias ``(out_features,)`` or None, output ``(*, out_features)``.
    Any strides are read in place. float32 runs on the tile GEMM microkernels, multithreaded; results
    do not depend on the thread count. dtype: float32 or float64; NumPy arrays or PyTorch CPU tensors.
    """
    prob = _Linear("linear", input, weight, bias)
    y2 = _arrays.empty((prob.rows, prob.out_features), prob.dtype, "linear")
    _C.linear_fprop(prob.x2, prob.w2, prob.b1, y2)
    return prob.wrap(y2.reshape(prob.out_shape))


def linear_backward(grad_output, input, weight, bias=None, *,
                    needs_input_grad: Sequence[bool] = (True, True, True)) -> Tuple[Any, Any, Optional[Any]]:
    """Gradients of :func:`linear`: ``(grad_input, grad_weight, grad_bias)``.

    Takes ``grad_output`` (the shape of linear's output) followed by the arguments linear was called
    with. ``grad_bias`` is None when ``bias`` is None; ``needs_input_grad`` (three bools) skips work,
    skipped entries are None. The weight and bias gradients sum over all leading axes in a fixed order.
    ``grad_weight`` has ``weight``'s memory order: Fortran order for a transposed view such as a Keras
    ``(in, out)`` kernel passed as ``kernel.T``, so that ``grad_weight.T`` is C-contiguous.
    """
    op = "linear_backward"
    prob = _Linear(op, input, weight, bias)
    need_x, need_w, need_b = needs(needs_input_grad, 3, "input, weight, bias", op)
    dy = checked_grad_output(grad_output, prob.out_shape, prob.dtype, op, "linear")
    dy2 = _arrays.kernel_ready(dy.reshape(prob.rows, prob.out_features))
    dx = dw = db = None
    if need_x:
        dx2 = _arrays.empty(prob.x2.shape, prob.dtype, op)
        _C.linear_dgrad(dy2, prob.w2, dx2)
        dx = dx2.reshape(prob.x.shape)
    if need_w:
        if prob.w.ndim == 2 and not prob.w.flags.c_contiguous and prob.w.flags.f_contiguous:
            # A transposed view (a Keras (in, out) kernel passed as kernel.T) gets its gradient in the
            # same layout, so that dw.T is the kernel's gradient without a copy: dw^T = x^T dy.
            dwt = _arrays.empty(prob.w2.shape[::-1], prob.dtype, op)
            _C.linear_wgrad(prob.x2, dy2, dwt)
            dw = dwt.T
        else:
            dw2 = _arrays.empty(prob.w2.shape, prob.dtype, op)
            _C.linear_wgrad(dy2, prob.x2, dw2)
            dw = dw2.reshape(prob.w.shape)
    if need_b and prob.b is not None:
        db1 = _arrays.empty((prob.out_features,), prob.dtype, op)
        _C.column_sum(dy2, db1)
        db = db1.reshape(prob.b.shape)
    wrap = prob.wrap
    return wrap(dx), wrap(dw), wrap(db)
