"""float64 NumPy references for the dense, activation and loss ops, written from the definitions in
torch.nn.functional's documentation (independently of the kernels' formulas where possible)."""

from __future__ import annotations

from typing import Optional

import numpy as np


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def linear(x, w, b=None) -> np.ndarray:
    x, w, b = _f64(x), _f64(w), _f64(b)
    y = np.einsum("...i,oi->...o", x, np.atleast_2d(w)) if w.ndim == 2 else x @ w
    return y if b is None else y + b


def linear_backward(dy, x, w, b=None):
    dy, x, w = _f64(dy), _f64(x), _f64(w)
    if w.ndim == 1:
        dy2, w2 = dy[..., None], w[None]
    else:
        dy2, w2 = dy, w
    dx = dy2 @ w2
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    dw = (dy2.reshape(rows, w2.shape[0]).T @ x.reshape(rows, w2.shape[1])).reshape(w.shape)
    db = None if b is None else dy2.reshape(rows, w2.shape[0]).sum(axis=0).reshape(np.shape(b))
    return dx, dw, db


def relu(x):
    x = _f64(x)
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))


def sigmoid(x):
    x = _f64(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def tanh(x):
    return np.tanh(_f64(x))


def softmax(x, dim: int):
    x = _f64(x)
    z = x - np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    e = np.exp(z)
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(x, dim: int):
    x = _f64(x)
    m = np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):
        return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


def softmax_backward(dy, x, dim: int):
    s = softmax(x, dim)
    dy = _f64(dy)
    # Jacobian-vector product written out: dx_i = sum_j dy_j s_j (delta_ij - s_i)
    return s * dy - s * np.sum(dy * s, axis=dim, keepdims=True)


def log_softmax_backward(dy, x, dim: int):
    dy = _f64(dy)
    return dy - softmax(x, dim) * np.sum(dy, axis=dim, keepdims=True)


def _reduce(loss, reduction: str, divisor: Optional[float] = None):
    if reduction == "none":
        return loss
    total = np.sum(loss)
    if reduction == "sum":
        return np.asarray(total)
    return np.asarray(total / (loss.size if divisor is None else divisor))


def cross_entropy(x, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """torch.nn.functional.cross_entropy by its documented formula, one sample at a time."""
    x = _f64(x)
    unbatched = x.ndim == 1
    xb = x[None] if unbatched else x
    n, c = xb.shape[:2]
    xs = np.moveaxis(xb, 1, -1).reshape(-1, c)  # samples x classes
    w = np.ones(c) if weight is None else _f64(weight)
    lsm = np.stack([row - np.log(np.sum(np.exp(row - row.max()))) - row.max() for row in xs]) if len(xs) else xs
    t = np.asarray(target)
    eps = label_smoothing
    if t.dtype.kind == "f":
        tb = _f64(t)[None] if unbatched else _f64(t)
        ts = np.moveaxis(tb, 1, -1).reshape(-1, c) * (1 - eps) + eps / c
        loss = -np.sum(w * ts * lsm, axis=1)
        divisor = float(len(xs))
    else:
        ts = np.asarray(t).reshape(-1)
        loss = np.zeros(len(xs))
        divisor = 0.0
        for s, k in enumerate(ts):
            if k == ignore_index:
                continue
            loss[s] = (1 - eps) * -w[k] * lsm[s, k] + eps / c * -np.sum(w * lsm[s])
            divisor += w[k]
    loss = loss.reshape(() if unbatched else (n,) + xb.shape[2:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return _reduce(loss, reduction, divisor)


def mse_loss(x, target, reduction: str = "mean"):
    x, t = np.broadcast_arrays(_f64(x), _f64(target))
    with np.errstate(invalid="ignore"):
        return _reduce((x - t) ** 2, reduction)


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function f at x (float64), one element at a time."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float(f(x))
        flat[i] = old - h
        fm = float(f(x))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g
