"""The math of the layers, losses and optimizers: every kernel call of fastconv.keras goes through here.

Layers keep arrays in fastconv's compute layouts (NHWC activations, conv weights (K, R, S, C), dense
weights (units, in)) so that no call copies. Each layer's forward and backward is one function here:
an affine op (conv2d or linear) followed by the fused bias + activation kernel (in place on the affine
op's output), and its chain-rule backward (fused activation derivative and bias gradient, then the
affine op's backward). The cross-entropies, the Adam / SGD / RMSprop updates and dropout's mask are
native kernels too; no step does heavy NumPy math.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

import fastconv as F
from fastconv import _C, _arrays, _training
from fastconv._pool2d import pool2d_output_size

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")


# --------------------------------------------------------------------------- activations

def activation(z: np.ndarray, name: str) -> np.ndarray:
    """y = act(z); softmax over the last axis, as Keras."""
    if name == "linear":
        return z
    if name == "softmax":
        return F.softmax(z, -1)
    return getattr(F, name)(z)


def activation_backward(dy: np.ndarray, z: np.ndarray, name: str) -> np.ndarray:
    """dL/dz from dL/dy for y = act(z)."""
    if name == "linear":
        return dy
    if name == "softmax":
        return F.softmax_backward(dy, z, -1)
    return getattr(F, name + "_backward")(dy, z)


# --------------------------------------------------------------------------- affine + activation

def bias_act(z: np.ndarray, b: Optional[np.ndarray], act: str) -> np.ndarray:
    """In place: z = act(z + b), z (..., C) contiguous, b (C,) or None."""
    return _training.bias_act(z, b, act)


def bias_act_backward(dy: np.ndarray, y: np.ndarray, act: str, has_bias: bool):
    """From y = act(z + b): (dL/dz, dL/db or None)."""
    return _training.bias_act_backward(np.ascontiguousarray(dy), y, act, need_bias_grad=has_bias)


# The affine ops and max pooling go straight to the kernels, without fastconv.functional's per-call
# argument normalisation (about 20 us of Python a call, several times a step): the layers checked
# their arguments and shapes when they were built and the model checks every input batch, and the
# kernels' C++ entries still check each problem. NHWC arrays are passed as (N, C, H, W) views.

def _nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2)


def conv2d(x: np.ndarray, w: np.ndarray, stride, padding, dilation) -> np.ndarray:
    """x: (N, H, W, C), w: (K, R, S, C), symmetric padding (pad_h, pad_w) -> conv(x, w): (N, P, Q, K)."""
    n, h, wd, _ = x.shape
    k, r, s, _ = w.shape
    p = (h + 2 * padding[0] - dilation[0] * (r - 1) - 1) // stride[0] + 1
    q = (wd + 2 * padding[1] - dilation[1] * (s - 1) - 1) // stride[1] + 1
    y = _arrays.empty((n, p, q, k), x.dtype, "conv2d")
    if y.size:
        _C.conv2d_fprop(_nchw(_arrays.kernel_ready(x)), _nchw(w), None, _nchw(y), stride, padding, dilation, 1, "auto")
    return y


def conv2d_backward(dz: np.ndarray, x: np.ndarray, w: np.ndarray, dw: np.ndarray, stride, padding, dilation,
                    need_dx: bool) -> Optional[np.ndarray]:
    """From dL/dz for z = conv(x, w): writes dL/dw into dw (K, R, S, C); returns dL/dx or None."""
    dzl = _nchw(_arrays.kernel_ready(dz))
    if dz.size:
        _C.conv2d_wgrad(dzl, _nchw(_arrays.kernel_ready(x)), _nchw(dw), stride, padding, dilation, 1, "auto")
    else:
        dw[...] = 0
    if not need_dx:
        return None
    dx = _arrays.empty(x.shape, x.dtype, "conv2d_backward")
    if dx.size:
        _C.conv2d_dgrad(dzl, _nchw(w), _nchw(dx), stride, padding, dilation, 1, "auto")
    return dx


def conv2d_act(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], stride, padding, dilation, act: str):
    """x: (N, H, W, C), w: (K, R, S, C), b: (K,) -> y = act(conv(x, w) + b): (N, P, Q, K)."""
    return bias_act(conv2d(x, w, stride, padding, dilation), b, act)


def linear_act(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], act: str):
    """x: (N, in), w: (units, in), b: (units,) -> y = act(x w^T + b): (N, units)."""
    y = _arrays.empty((x.shape[0], w.shape[0]), x.dtype, "linear")
    _C.linear_fprop(_arrays.kernel_ready(x), w, None, y)
    return bias_act(y, b, act)


def linear_act_backward(dy: np.ndarray, y: np.ndarray, x: np.ndarray, w: np.ndarray, dw: np.ndarray,
                        has_bias: bool, act: str, need_dx: bool) -> Tuple:
    """From the forward's output y: writes dL/dw into dw (units, in); returns (dx or None, db or None)."""
    dz, db = bias_act_backward(dy, y, act, has_bias)
    _C.linear_wgrad(dz, _arrays.kernel_ready(x), dw)
    dx = None
    if need_dx:
        dx = _arrays.empty(x.shape, x.dtype, "linear_backward")
        _C.linear_dgrad(dz, w, dx)
    return dx, db


# --------------------------------------------------------------------------- pooling
# Keras pooling windows as torch-style arguments: padding (pair), ceil_mode, and the leading output
# rows/columns to drop (see layers/pooling.py, which derives them).

def _crop(y, crop):
    return y[:, crop[0]:, crop[1]:, :] if any(crop) else y


def _uncrop(dy, crop, full_shape):
    if not any(crop):
        return dy
    full = np.zeros(full_shape, dy.dtype)
    full[:, crop[0]:, crop[1]:, :] = dy
    return full


def max_pool(x, pool, stride, padding, ceil_mode, crop):
    """x: (N, H, W, C) -> (N, P, Q, C); returns the output and the uncropped output shape."""
    n, h, w, c = x.shape
    shape = (n, pool2d_output_size(h, pool[0], stride[0], padding[0], 1, ceil_mode),
             pool2d_output_size(w, pool[1], stride[1], padding[1], 1, ceil_mode), c)
    y = _arrays.empty(shape, x.dtype, "max_pool2d")
    if y.size:
        _C.max_pool2d_fprop(_nchw(_arrays.kernel_ready(x)), _nchw(y), None, pool, stride, padding, (1, 1))
    return _crop(y, crop), shape


def max_pool_backward(dy, x, pool, stride, padding, ceil_mode, crop, full_shape):
    dy = _arrays.kernel_ready(_uncrop(dy, crop, full_shape))
    dx = _arrays.empty(x.shape, x.dtype, "max_pool2d_backward")
    if dx.size:
        _C.max_pool2d_dgrad(_nchw(dy), _nchw(_arrays.kernel_ready(x)), None, _nchw(dx), pool, stride, padding,
                            (1, 1))
    return dx


def avg_pool(x, pool, stride, padding, ceil_mode, crop):
    """Windows average the taps inside the input (Keras's 'same' excludes the padding)."""
    y = F.avg_pool2d(x, pool, stride, padding, ceil_mode=ceil_mode, count_include_pad=False, layout="NHWC")
    return _crop(y, crop), y.shape


def avg_pool_backward(dy, x, pool, stride, padding, ceil_mode, crop, full_shape):
    return F.avg_pool2d_backward(_uncrop(dy, crop, full_shape), x, pool, stride, padding, ceil_mode=ceil_mode,
                                 count_include_pad=False, layout="NHWC")


# --------------------------------------------------------------------------- losses

def sparse_cross_entropy(y_pred: np.ndarray, labels: np.ndarray, from_logits: bool, need_grad: bool, eps: float):
    """Keras's SparseCategoricalCrossentropy, mean over the batch: -log p[label] with p = softmax(y_pred)
    (from_logits) or clip(y_pred / sum(y_pred), eps, 1 - eps); labels int64 (N,), which the loss's
    prepare_targets checked once per fit (the kernel still refuses a label out of range)."""
    if labels.dtype != np.int64 or not labels.flags.c_contiguous or not y_pred.flags.c_contiguous:
        return _training.sparse_softmax_cross_entropy(y_pred, labels, from_logits, need_grad=need_grad, epsilon=eps)
    dx = _arrays.empty(y_pred.shape, y_pred.dtype, "sparse_categorical_crossentropy") if need_grad else None
    return float(_C.sparse_softmax_cross_entropy(y_pred, labels, bool(from_logits), float(eps), dx)), dx


def softmax_cross_entropy(logits: np.ndarray, target: np.ndarray, need_grad: bool):
    """Mean over the batch of -sum(target * log_softmax(logits)); target (N, classes) probabilities."""
    loss = F.cross_entropy(logits, target)
    grad = None
    if need_grad:
        grad = F.cross_entropy_backward(np.ones((), logits.dtype), logits, target,
                                        needs_input_grad=(True, False, False))[0]
    return float(loss), grad


def probability_cross_entropy(probs: np.ndarray, target: np.ndarray, need_grad: bool, eps: float):
    """Keras's cross-entropy of probabilities: p / sum(p), clipped to [eps, 1 - eps], -sum(t * log p),
    mean over the batch; ``target`` (N, classes) one-hot or probabilities (CategoricalCrossentropy)."""
    return _training.categorical_cross_entropy(np.ascontiguousarray(probs), np.ascontiguousarray(target),
                                               need_grad=need_grad, epsilon=eps)


def mean_squared_error(y_pred: np.ndarray, y_true: np.ndarray, need_grad: bool):
    """Mean over the batch of the mean over the last axis of (y_pred - y_true)**2."""
    loss = F.mse_loss(y_pred, y_true)
    grad = None
    if need_grad:
        grad = F.mse_loss_backward(np.ones((), y_pred.dtype), y_pred, y_true, needs_input_grad=(True, False))[0]
    return float(loss), grad


# --------------------------------------------------------------------------- optimizer updates
# The model keeps all its parameters (and gradients, moments) in one flat buffer per dtype, so a step
# is one fused update over everything.

def adam_update(params, grads, m, v, lr: float, beta_1: float, beta_2: float, epsilon: float, step: int) -> None:
    """Keras's Adam, in place over lists of buffers (step = iterations, 1 on the first update)."""
    _training.adam_update(params, grads, m, v, step, lr, beta_1, beta_2, epsilon)


def sgd_update(params, grads, momentums, lr: float, momentum: float, nesterov: bool) -> None:
    """Keras's SGD, in place over lists of buffers; momentums None without momentum."""
    _training.sgd_update(params, grads, momentums, lr, momentum, nesterov)


def rmsprop_update(w: np.ndarray, g: np.ndarray, v: np.ndarray, m: Optional[np.ndarray], lr: float, rho: float,
                   momentum: float, epsilon: float) -> None:
    """Keras's RMSprop, in place: v = rho v + (1 - rho) g^2; step = lr g / sqrt(v + epsilon);
    w -= step (with momentum: m = momentum m + step; w -= m)."""
    _training.rmsprop_update([w], [g], [v], None if m is None else [m], lr, rho, momentum, epsilon)


# --------------------------------------------------------------------------- dropout

def dropout(x: np.ndarray, u: np.ndarray, rate: float) -> np.ndarray:
    """x * (u >= rate) / (1 - rate) for float32 uniforms u; the backward is dropout(dy, u, rate)."""
    return _training.dropout(np.ascontiguousarray(x), u, rate)
