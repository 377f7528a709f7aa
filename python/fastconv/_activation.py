"""relu, sigmoid, tanh, softmax, log_softmax and their ``_backward`` companions."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from . import _C, _arrays
from ._nn_common import as_float_dtype, checked_grad_output, contiguous, needs, normalize_dim

_ELEMENTWISE = {"relu": 1, "sigmoid": 2, "tanh": 3}


def _elementwise_forward(op: str, input, inplace: bool = False):
    x, wrap = _arrays.to_numpy(input, "input", op)
    if inplace and not x.flags.writeable:
        raise ValueError(f"{op}: inplace=True needs a writable input")
    xc = contiguous(x)
    if inplace and xc is x:
        _C.activation_fprop(_ELEMENTWISE[op], x, x)
        return input
    y = _arrays.empty(x.shape, x.dtype, op)
    _C.activation_fprop(_ELEMENTWISE[op], xc, y)
    if inplace:
        x[...] = y
        return input
    return wrap(y)


def _elementwise_backward(op: str, grad_output, input, needs_input_grad):
    (need_x,) = needs(needs_input_grad, 1, "input", op + "_backward")
    x, wrap = _arrays.to_numpy(input, "input", op + "_backward")
    dy = contiguous(checked_grad_output(grad_output, x.shape, x.dtype, op + "_backward", op))
    if not need_x:
        return None
    y = _arrays.empty(x.shape, x.dtype, op)
    _C.activation_fprop(_ELEMENTWISE[op], contiguous(x), y)
    _C.activation_dgrad(_ELEMENTWISE[op], dy, y, y)
    return wrap(y)


def relu(input, inplace: bool = False):
    """max(x, 0) element-wise, as ``torch.nn.functional.relu`` (NaN stays NaN).

    ``inplace=True`` writes into ``input`` and returns it. Any shape; float32 or float64.
    """
    return _elementwise_forward("relu", input, bool(inplace))


def relu_backward(grad_output, input, inplace: bool = False, *, needs_input_grad: Sequence[bool] = (True,)):
    """Gradient of :func:`relu`: ``grad_output`` where ``input > 0``, else 0."""
    return _elementwise_backward("relu", grad_output, input, needs_input_grad)


def sigmoid(input):
    """1 / (1 + exp(-x)) element-wise, as ``torch.sigmoid`` (no overflow for large |x|)."""
    return _elementwise_forward("sigmoid", input)


def sigmoid_backward(grad_output, input, *, needs_input_grad: Sequence[bool] = (True,)):
    """Gradient of :func:`sigmoid`: ``grad_output * s * (1 - s)``, ``s = sigmoid(input)``."""
    return _elementwise_backward("sigmoid", grad_output, input, needs_input_grad)


def tanh(input):
    """Hyperbolic tangent element-wise, as ``torch.tanh``."""
    return _elementwise_forward("tanh", input)


def tanh_backward(grad_output, input, *, needs_input_grad: Sequence[bool] = (True,)):
    """Gradient of :func:`tanh`: ``grad_output * (1 - tanh(input)**2)``."""
    return _elementwise_backward("tanh", grad_output, input, needs_input_grad)


def _softmax_dim(ndim: int, name: str, stacklevel: int) -> int:
    # torch's legacy rule for dim=None, with its warning.
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_setup(op: str, name: str, input, dim, stacklevel, dtype):
    x, wrap = _arrays.to_numpy(input, "input", op)
    if dim is None:
        dim = _softmax_dim(x.ndim, name, stacklevel + 1)
    d = normalize_dim(dim, x.ndim, op)
    compute = x.dtype if dtype is None else as_float_dtype(dtype, op)
    xc = contiguous(x.astype(compute, copy=False))
    shape = x.shape if x.ndim else (1,)
    outer = math.prod(shape[:d])
    inner = math.prod(shape[d + 1:])
    return x, xc, wrap, (outer, shape[d], inner)


def _softmax_forward(op: str, log: bool, input, dim, stacklevel, dtype):
    x, xc, wrap, extents = _softmax_setup(op, op, input, dim, stacklevel + 1, dtype)
    y = _arrays.empty(x.shape, xc.dtype, op)
    _C.softmax_fprop(xc, y, *extents, log)
    return wrap(y)


def _softmax_backward(op: str, log: bool, grad_output, input, dim, stacklevel, dtype, needs_input_grad):
    bop = op + "_backward"
    (need_x,) = needs(needs_input_grad, 1, "input", bop)
    x, xc, wrap, extents = _softmax_setup(bop, op, input, dim, stacklevel + 1, dtype)
    dy = contiguous(checked_grad_output(grad_output, x.shape, xc.dtype, bop, op))
    if not need_x:
        return None
    y = _arrays.empty(x.shape, xc.dtype, bop)
    _C.softmax_fprop(xc, y, *extents, log)
    _C.softmax_dgrad(dy, y, y, *extents, log)
    return wrap(y.astype(x.dtype, copy=False))


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, as ``torch.nn.functional.softmax`` (max-subtracted, stable).

    ``dim=None`` follows torch's deprecated implicit choice (dim 0 for 0-, 1- and 3-D inputs, else
    dim 1) with its UserWarning. ``dtype`` (float32/float64) casts the input first and sets the
    output's dtype.
    """
    return _softmax_forward("softmax", False, input, dim, _stacklevel, dtype)


def softmax_backward(grad_output, input, dim=None, _stacklevel: int = 3, dtype=None, *,
                     needs_input_grad: Sequence[bool] = (True,)):
    """Gradient of :func:`softmax`: ``s * (dy - sum(dy * s, dim))``, in the input's dtype."""
    return _softmax_backward("softmax", False, grad_output, input, dim, _stacklevel, dtype, needs_input_grad)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """x - logsumexp(x) along ``dim``, as ``torch.nn.functional.log_softmax`` (stable; see :func:`softmax`)."""
    return _softmax_forward("log_softmax", True, input, dim, _stacklevel, dtype)


def log_softmax_backward(grad_output, input, dim=None, _stacklevel: int = 3, dtype=None, *,
                         needs_input_grad: Sequence[bool] = (True,)):
    """Gradient of :func:`log_softmax`: ``dy - exp(y) * sum(dy, dim)``, in the input's dtype."""
    return _softmax_backward("log_softmax", True, grad_output, input, dim, _stacklevel, dtype, needs_input_grad)
