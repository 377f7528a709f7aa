"""cross_entropy and mse_loss and their ``_backward`` companions, as torch.nn.functional defines them."""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _C, _args, _arrays
from ._nn_common import checked_grad_output, contiguous, needs

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(size_average, reduce, reduction, op: str) -> str:
    """torch's rule: the deprecated size_average / reduce, when given, override ``reduction``."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else bool(size_average)
        reduce = True if reduce is None else bool(reduce)
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      "instead.", UserWarning, stacklevel=4)
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
    return reduction


def _loss_output(reduction: str, shape, dtype, op: str) -> np.ndarray:
    return _arrays.empty(tuple(shape) if reduction == "none" else (), dtype, op)


def _target_array(target, op: str) -> np.ndarray:
    """Class indices (any integer dtype) or probabilities (float32/float64)."""
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"{op}: target must be integer class indices or float probabilities, got bool")
    if isinstance(target, (int, np.integer)):
        return np.asarray(target, dtype=np.int64)
    if _arrays._is_torch_tensor(target):
        if target.device.type != "cpu":
            raise _arrays._gpu_refusal(op, "target")
        t = target.detach().resolve_conj().resolve_neg().numpy()
    elif isinstance(target, np.ndarray):
        t = target
    else:
        try:
            t = np.asarray(target)
        except Exception as exc:
            raise TypeError(f"{op}: target could not be read as an array: {exc}") from None
    if t.dtype.kind not in "iuf":
        raise TypeError(f"{op}: target must be integer class indices or float probabilities, got {t.dtype}")
    return t


class _CrossEntropy:
    def __init__(self, op: str, input, target, weight, size_average, ignore_index, reduce, reduction,
                 label_smoothing):
        x, self.wrap = _arrays.to_numpy(input, "input", op)
        w, _ = _arrays.to_numpy(weight, "weight", op, optional=True)
        self.dtype = _arrays.same_dtype(op, input=x, weight=w)
        self.reduction = _reduction(size_average, reduce, reduction, op)
        self.ignore_index = _args.as_int(ignore_index, "ignore_index", op)
        try:
            eps = float(label_smoothing)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: label_smoothing must be a float, got {label_smoothing!r}") from None
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
        self.label_smoothing = eps
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-D input")
        unbatched = x.ndim == 1
        xb = x[None] if unbatched else x
        n, c = xb.shape[0], xb.shape[1]
        if c == 0:
            raise ValueError(f"{op}: input of shape {x.shape} has no classes")
        if w is not None and w.shape != (c,):
            raise ValueError(f"{op}: expected weight of shape ({c},) (one per class), got {w.shape}")
        t = _target_array(target, op)
        self.prob = t.dtype.kind == "f"
        sample_shape = (n,) + xb.shape[2:]
        if self.prob:
            if t.dtype != self.dtype:
                raise TypeError(f"{op}: probability target must have the input's dtype {self.dtype}, got {t.dtype}")
            if t.shape != x.shape:
                raise ValueError(f"{op}: probability target must have the input's shape {x.shape}, got {t.shape}")
            self.target = contiguous(t[None] if unbatched else t)
            self.class_target, self.prob_target = None, self.target
        else:
            expected = () if unbatched else sample_shape
            if t.shape != expected:
                raise ValueError(f"{op}: class-index target of shape {expected} expected for input of shape "
                                 f"{x.shape}, got {t.shape}")
            t64 = contiguous(t.astype(np.int64, copy=False)).reshape(sample_shape)
            bad = (t64 != self.ignore_index) & ((t64 < 0) | (t64 >= c))
            if bad.any():
                raise ValueError(f"{op}: target {int(t64[bad].flat[0])} is out of bounds for {c} classes "
                                 f"(ignore_index={self.ignore_index})")
            self.class_target, self.prob_target = t64, None
        self.t = t
        self.x = x
        self.xc = contiguous(xb)
        self.w = None if w is None else contiguous(w)
        self.extents = (n, c, math.prod(xb.shape[2:]))
        self.loss_shape = () if unbatched else sample_shape
        self.unbatched = unbatched

    def kernel_args(self):
        return (*self.extents, self.ignore_index, self.label_smoothing, _REDUCTIONS[self.reduction])


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of logits, as ``torch.nn.functional.cross_entropy``.

    input ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``; target class indices (any integer
    dtype) of shape ``(N,)``, ``(N, d1, ...)`` or ``()``, or class probabilities of the input's shape
    and dtype. ``weight`` ``(C,)`` rescales each class; ``ignore_index`` (class targets) drops samples;
    ``label_smoothing`` mixes the target with the uniform distribution. ``reduction='mean'`` divides by
    the summed weight of the non-ignored targets (class targets) or by the number of samples
    (probability targets). Computed from a max-subtracted log-softmax; sums in a fixed order.
    """
    op = "cross_entropy"
    prob = _CrossEntropy(op, input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    lsm = _arrays.empty(prob.xc.shape, prob.dtype, op)
    loss = _loss_output(prob.reduction, prob.loss_shape, prob.dtype, op)
    _C.cross_entropy_fprop(prob.xc, prob.class_target, prob.prob_target, prob.w, lsm, loss, *prob.kernel_args())
    return prob.wrap(loss)


def cross_entropy_backward(grad_output, input, target, weight=None, size_average=None, ignore_index: int = -100,
                           reduce=None, reduction: str = "mean", label_smoothing: float = 0.0, *,
                           needs_input_grad: Sequence[bool] = (True, True, True)) -> Tuple[Any, Any, Any]:
    """Gradients of :func:`cross_entropy`: ``(grad_input, grad_target, grad_weight)``.

    ``grad_target`` is None for integer class targets (not differentiable) and the gradient with
    respect to the probabilities for float targets. ``grad_weight`` is always None: class weights
    are treated as constants and not differentiated. ``needs_input_grad`` (three bools) skips work.
    """
    op = "cross_entropy_backward"
    prob = _CrossEntropy(op, input, target, weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    need_x, need_t, _ = needs(needs_input_grad, 3, "input, target, weight", op)
    out_shape = prob.loss_shape if prob.reduction == "none" else ()
    dy = contiguous(checked_grad_output(grad_output, out_shape, prob.dtype, op, "cross_entropy"))
    need_t = need_t and prob.prob
    if not (need_x or need_t):
        return None, None, None
    lsm = _arrays.empty(prob.xc.shape, prob.dtype, op)
    _C.softmax_fprop(prob.xc, lsm, prob.extents[0], prob.extents[1], prob.extents[2], True)
    dx = _arrays.empty(prob.xc.shape, prob.dtype, op)
    dt = _arrays.empty(prob.xc.shape, prob.dtype, op) if need_t else None
    _C.cross_entropy_dgrad(dy, lsm, prob.class_target, prob.prob_target, prob.w, dx, dt, *prob.kernel_args())
    shape = prob.x.shape
    wrap = prob.wrap
    return (wrap(dx.reshape(shape)) if need_x else None), (wrap(dt.reshape(shape)) if need_t else None), None


class _Mse:
    def __init__(self, op: str, input, target, size_average, reduce, reduction):
        x, self.wrap = _arrays.to_numpy(input, "input", op)
        t, _ = _arrays.to_numpy(target, "target", op)
        self.dtype = _arrays.same_dtype(op, input=x, target=t)
        self.reduction = _reduction(size_average, reduce, reduction, op)
        if x.shape != t.shape:
            warnings.warn(f"Using a target size ({t.shape}) that is different to the input size ({x.shape}). "
                          "This will likely lead to incorrect results due to broadcasting. "
                          "Please ensure they have the same size.", UserWarning, stacklevel=4)
            try:
                shape = np.broadcast_shapes(x.shape, t.shape)
            except ValueError:
                raise ValueError(f"{op}: input of shape {x.shape} and target of shape {t.shape} cannot be "
                                 "broadcast together") from None
        else:
            shape = x.shape
        self.x, self.t, self.shape = x, t, shape
        self.xc = contiguous(np.broadcast_to(x, shape))
        self.tc = contiguous(np.broadcast_to(t, shape))


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Mean squared error, as ``torch.nn.functional.mse_loss``: ``(input - target)**2`` reduced by
    ``reduction`` ('mean', 'sum' or 'none'); shapes broadcast with torch's warning when they differ."""
    op = "mse_loss"
    prob = _Mse(op, input, target, size_average, reduce, reduction)
    loss = _loss_output(prob.reduction, prob.shape, prob.dtype, op)
    _C.mse_loss_fprop(prob.xc, prob.tc, loss, _REDUCTIONS[prob.reduction])
    return prob.wrap(loss)


def _sum_to_shape(g: np.ndarray, shape) -> np.ndarray:
    """Undo broadcasting: sum g over the axes that were broadcast to reach g.shape from shape."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def mse_loss_backward(grad_output, input, target, size_average=None, reduce=None, reduction: str = "mean", *,
                      needs_input_grad: Sequence[bool] = (True, True)) -> Tuple[Any, Any]:
    """Gradients of :func:`mse_loss`: ``(grad_input, grad_target)``, ``grad_target = -grad_input``
    (each summed back to its argument's shape where the forward broadcast)."""
    op = "mse_loss_backward"
    prob = _Mse(op, input, target, size_average, reduce, reduction)
    need_x, need_t = needs(needs_input_grad, 2, "input, target", op)
    out_shape = prob.shape if prob.reduction == "none" else ()
    dy = contiguous(checked_grad_output(grad_output, out_shape, prob.dtype, op, "mse_loss"))
    dx = _arrays.empty(prob.shape, prob.dtype, op) if need_x else None
    dt = _arrays.empty(prob.shape, prob.dtype, op) if need_t else None
    if need_x or need_t:
        _C.mse_loss_dgrad(dy, prob.xc, prob.tc, dx, dt, _REDUCTIONS[prob.reduction])
    if dx is not None:
        dx = _sum_to_shape(dx, prob.x.shape)
    if dt is not None:
        dt = _sum_to_shape(dt, prob.t.shape)
    return prob.wrap(dx), prob.wrap(dt)
