"""The math of the layers, losses and optimizers: every kernel call of fastconv.keras goes through here.

Layers keep arrays in fastconv's compute layouts (NHWC activations, conv weights (K, R, S, C), dense
weights (units, in)) so that no call copies. Each layer's forward and backward is one function here:
an affine op (conv2d or linear) followed by a bias and an activation, and its chain-rule backward.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

import fastconv as F

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

def conv2d_act(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], stride, padding, dilation, act: str):
    """x: (N, H, W, C), w: (K, R, S, C), b: (K,) -> y: (N, P, Q, K) and what the backward needs."""
    z = F.conv2d(x, w, b, stride, padding, dilation, layout="NHWC")
    return activation(z, act), z


def conv2d_act_backward(dy: np.ndarray, z: np.ndarray, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray],
                        stride, padding, dilation, act: str, need_dx: bool) -> Tuple:
    """(dx or None, dw (K, R, S, C), db (K,) or None)."""
    dz = activation_backward(dy, z, act)
    return F.conv2d_backward(dz, x, w, b, stride, padding, dilation, layout="NHWC",
                             needs_input_grad=(need_dx, True, b is not None))


def linear_act(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], act: str):
    """x: (N, in), w: (units, in), b: (units,) -> y: (N, units) and what the backward needs."""
    z = F.linear(x, w, b)
    return activation(z, act), z


def linear_act_backward(dy: np.ndarray, z: np.ndarray, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray],
                        act: str, need_dx: bool) -> Tuple:
    """(dx or None, dw (units, in), db (units,) or None)."""
    dz = activation_backward(dy, z, act)
    return F.linear_backward(dz, x, w, b, needs_input_grad=(need_dx, True, b is not None))


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
    y = F.max_pool2d(x, pool, stride, padding, ceil_mode=ceil_mode, layout="NHWC")
    return _crop(y, crop), y.shape


def max_pool_backward(dy, x, pool, stride, padding, ceil_mode, crop, full_shape):
    return F.max_pool2d_backward(_uncrop(dy, crop, full_shape), x, pool, stride, padding, ceil_mode=ceil_mode,
                                 layout="NHWC")


def avg_pool(x, pool, stride, padding, ceil_mode, crop):
    """Windows average the taps inside the input (Keras's 'same' excludes the padding)."""
    y = F.avg_pool2d(x, pool, stride, padding, ceil_mode=ceil_mode, count_include_pad=False, layout="NHWC")
    return _crop(y, crop), y.shape


def avg_pool_backward(dy, x, pool, stride, padding, ceil_mode, crop, full_shape):
    return F.avg_pool2d_backward(_uncrop(dy, crop, full_shape), x, pool, stride, padding, ceil_mode=ceil_mode,
                                 count_include_pad=False, layout="NHWC")


# --------------------------------------------------------------------------- losses

def softmax_cross_entropy(logits: np.ndarray, target: np.ndarray, need_grad: bool):
    """Mean over the batch of -log softmax(logits)[target] (target int64 (N,)) or of
    -sum(target * log_softmax(logits)) (target (N, classes) probabilities); logits (N, classes)."""
    loss = F.cross_entropy(logits, target)
    grad = None
    if need_grad:
        grad = F.cross_entropy_backward(np.ones((), logits.dtype), logits, target,
                                        needs_input_grad=(True, False, False))[0]
    return float(loss), grad


def probability_cross_entropy(probs: np.ndarray, target: np.ndarray, need_grad: bool, eps: float):
    """Keras's cross-entropy of probabilities: p / sum(p), clipped to [eps, 1 - eps], -sum(t * log p).

    ``target`` (N, classes). Small (batch x classes) arrays only: this runs once per batch.
    """
    total = probs.sum(-1, keepdims=True)
    p = probs / total
    clipped = np.clip(p, eps, 1.0 - eps)
    n = probs.shape[0]
    loss = -float(np.vdot(target, np.log(clipped))) / n
    grad = None
    if need_grad:
        inside = (p >= eps) & (p <= 1.0 - eps)
        dp = np.where(inside, -target / clipped, 0.0) / n
        # p = probs / total: dp/dprobs = (I - p 1^T) / total
        grad = ((dp - (dp * p).sum(-1, keepdims=True)) / total).astype(probs.dtype)
    return loss, grad


def mean_squared_error(y_pred: np.ndarray, y_true: np.ndarray, need_grad: bool):
    """Mean over the batch of the mean over the last axis of (y_pred - y_true)**2."""
    loss = F.mse_loss(y_pred, y_true)
    grad = None
    if need_grad:
        grad = F.mse_loss_backward(np.ones((), y_pred.dtype), y_pred, y_true, needs_input_grad=(True, False))[0]
    return float(loss), grad


# --------------------------------------------------------------------------- optimizer updates
# One call per parameter buffer; the model keeps all its parameters (and gradients, moments) in one
# flat buffer per dtype, so a step is one update over everything.

def adam_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float, beta_1: float,
                beta_2: float, epsilon: float, step: int) -> None:
    """Keras's Adam, in place: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= m * lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + epsilon)."""
    alpha = lr * np.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
    m += (g - m) * (1.0 - beta_1)
    v += (g * g - v) * (1.0 - beta_2)
    w -= (m * alpha) / (np.sqrt(v) + epsilon)


def sgd_update(w: np.ndarray, g: np.ndarray, m: Optional[np.ndarray], lr: float, momentum: float,
               nesterov: bool) -> None:
    """Keras's SGD, in place: m = momentum m - lr g; w += m (nesterov: w += momentum m - lr g)."""
    if m is None:
        w -= lr * g
        return
    m *= momentum
    m -= lr * g
    if nesterov:
        w += momentum * m - lr * g
    else:
        w += m


def rmsprop_update(w: np.ndarray, g: np.ndarray, v: np.ndarray, m: Optional[np.ndarray], lr: float, rho: float,
                   momentum: float, epsilon: float) -> None:
    """Keras's RMSprop, in place: v = rho v + (1 - rho) g^2; step = lr g / sqrt(v + epsilon);
    w -= step (with momentum: m = momentum m + step; w -= m)."""
    v *= rho
    v += (1.0 - rho) * (g * g)
    step = lr * g / np.sqrt(v + epsilon)
    if m is None:
        w -= step
        return
    m *= momentum
    m += step
    w -= m
