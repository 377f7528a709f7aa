"""Fused native kernels for training layers (used by ``fastconv.keras``): private, CPU, NumPy.

Signatures (arrays are C-contiguous NumPy float32/float64 unless said otherwise; ``C`` is the last
axis, the channels of a Dense or channels-last Conv2D output; every reduction has a fixed order, so
results do not depend on the thread count):

``bias_act(y, b, activation) -> y``
    In place: ``y = activation(y + b)``. ``y`` ``(..., C)``, ``b`` ``(C,)`` or None, ``activation``
    one of ``None``, ``"none"``/``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``
    (softmax over the last axis, max-subtracted).

``bias_act_backward(dy, y, activation, *, need_bias_grad=True, out=None) -> (dpre, db)``
    From the forward's output ``y`` (what ``bias_act`` left in place): ``dpre = dy * act'(pre)``
    (softmax: ``y * (dy - sum(dy * y, -1))``) and ``db = dpre`` summed over all axes but the last,
    fixed blocks of rows added in order (None when ``need_bias_grad`` is false). ``out`` may be ``dy``
    itself (in place).

``sparse_softmax_cross_entropy(x, labels, from_logits=True, *, need_grad=True, epsilon=1e-7) -> (loss, dx)``
    Keras's ``SparseCategoricalCrossentropy`` with its default ``sum_over_batch_size`` reduction:
    the mean over the rows of ``-log p[label]``, as a Python float, and ``dx``, the gradient of that
    mean with respect to ``x`` (None when ``need_grad`` is false). ``x`` ``(..., C)`` logits
    (``from_logits=True``: ``p = softmax(x)``, computed as a stable log-softmax) or probabilities
    (``from_logits=False``: ``p = clip(x / sum(x), epsilon, 1 - epsilon)``, Keras's torch-backend
    formula with ``keras.config.epsilon() = 1e-7``; the gradient is zero where the clip is active).
    ``labels``: integers of shape ``x.shape[:-1]`` (or with a trailing 1, which Keras squeezes), in
    ``[0, C)``.

``categorical_cross_entropy(x, target, *, need_grad=True, epsilon=1e-7) -> (loss, dx)``
    Keras's ``CategoricalCrossentropy(from_logits=False)``, mean over the rows: ``x`` ``(..., C)``
    probabilities, ``target`` of the same shape (one-hot or probabilities);
    ``p = clip(x / sum(x), epsilon, 1 - epsilon)``, ``loss = mean(-sum(target * log p, -1))``; ``dx`` its
    gradient (zero through the clip where it is active), None when ``need_grad`` is false.

``dropout(x, u, rate) -> y``
    ``y = x * (u >= rate ? 1 / (1 - rate) : 0)`` with ``u`` float32 uniforms in [0, 1) of ``x``'s shape
    (drawn by the caller, so the random stream is the caller's); the backward is ``dropout(dy, u, rate)``.

``adam_update(params, grads, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7) -> None``
    Keras's Adam in place over lists of same-dtype arrays (one native call for all of them);
    ``step`` is Keras's ``iterations + 1`` (1 on the first update):
    ``alpha = lr * sqrt(1 - beta_2**step) / (1 - beta_1**step)``; ``m = beta_1*m + (1 - beta_1)*g``;
    ``v = beta_2*v + (1 - beta_2)*g*g``; ``p -= alpha * m / (sqrt(v) + epsilon)`` (epsilon outside the
    square root, on the uncorrected v, as Keras does).

``rmsprop_update(params, grads, velocities, momentums=None, learning_rate=0.001, rho=0.9, momentum=0.0,
epsilon=1e-7) -> None``
    Keras's RMSprop (not centered) in place: ``v = rho*v + (1 - rho)*g*g``;
    ``inc = lr*g / sqrt(v + epsilon)``; ``p -= inc``, or with momentum ``m = momentum*m + inc`` then
    ``p -= m`` (``momentums`` needed when momentum != 0).

``sgd_update(params, grads, momentums=None, learning_rate=0.01, momentum=0.0, nesterov=False) -> None``
    Keras's SGD in place: without momentum ``p -= lr*g``; with momentum ``m = momentum*m - lr*g``
    then ``p += m``, or with ``nesterov=True`` ``p += momentum*m - lr*g`` (new m). ``momentums`` is
    a list of state arrays (needed when momentum != 0).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import _C, _arrays

ACTIVATIONS = {None: 0, "none": 0, "linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4}
KERAS_EPSILON = 1e-7


def _activation_code(activation, op: str) -> int:
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"{op}: activation must be a string or None, got {type(activation).__name__}")
    key = activation.lower() if isinstance(activation, str) else None
    if key not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of "
                         "'linear', 'relu', 'sigmoid', 'tanh', 'softmax' or None")
    return ACTIVATIONS[key]


def _float_array(a, name: str, op: str, writable: bool = False) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype not in _arrays.FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
    if not (a.flags.c_contiguous and a.flags.aligned):
        raise ValueError(f"{op}: {name} must be C-contiguous and aligned")
    if writable and not a.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only")
    if a.ndim < 1:
        raise ValueError(f"{op}: {name} must have at least 1 dimension")
    return a


def _bias(b, y: np.ndarray, op: str) -> Optional[np.ndarray]:
    if b is None:
        return None
    b = _float_array(b, "b", op)
    if b.dtype != y.dtype:
        raise TypeError(f"{op}: b has dtype {b.dtype} but y has {y.dtype}")
    if b.shape != (y.shape[-1],):
        raise ValueError(f"{op}: expected b of shape ({y.shape[-1]},) for y of shape {y.shape}, got {b.shape}")
    return b


def bias_act(y: np.ndarray, b: Optional[np.ndarray], activation) -> np.ndarray:
    op = "bias_act"
    act = _activation_code(activation, op)
    y = _float_array(y, "y", op, writable=True)
    _C.bias_act_fprop(y, _bias(b, y, op), act)
    return y


def bias_act_backward(dy: np.ndarray, y: np.ndarray, activation, *, need_bias_grad: bool = True,
                      out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    op = "bias_act_backward"
    act = _activation_code(activation, op)
    y = _float_array(y, "y", op)
    dy = _float_array(dy, "dy", op)
    if dy.shape != y.shape or dy.dtype != y.dtype:
        raise ValueError(f"{op}: dy {dy.shape} {dy.dtype} must match y {y.shape} {y.dtype}")
    if out is None:
        dpre = _arrays.empty(y.shape, y.dtype, op)
    else:
        dpre = _float_array(out, "out", op, writable=True)
        if dpre.shape != y.shape or dpre.dtype != y.dtype:
            raise ValueError(f"{op}: out {dpre.shape} {dpre.dtype} must match y {y.shape} {y.dtype}")
    db = _arrays.empty((y.shape[-1],), y.dtype, op) if need_bias_grad else None
    _C.bias_act_dgrad(dy, y, act, dpre, db)
    return dpre, db


def _labels(labels, x: np.ndarray, op: str) -> np.ndarray:
    if _arrays._is_torch_tensor(labels):
        labels = labels.detach().cpu().numpy()
    t = np.asarray(labels)
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and t.size and np.all(t == np.floor(t)):
            t = t.astype(np.int64)  # Keras casts float labels holding whole numbers
        elif t.size or t.dtype.kind not in "f":
            raise TypeError(f"{op}: labels must be integers, got {t.dtype}")
    if t.ndim == x.ndim and t.shape[-1:] == (1,):
        t = t[..., 0]
    if t.shape != x.shape[:-1]:
        raise ValueError(f"{op}: labels of shape {t.shape} do not match x of shape {x.shape} (expected "
                         f"{x.shape[:-1]})")
    t = np.ascontiguousarray(t, dtype=np.int64)
    c = x.shape[-1]
    bad = (t < 0) | (t >= c)
    if bad.any():
        raise ValueError(f"{op}: label {int(t[bad].flat[0])} is outside [0, {c}) for {c} classes")
    return t


def sparse_softmax_cross_entropy(x: np.ndarray, labels, from_logits: bool = True, *, need_grad: bool = True,
                                 epsilon: float = KERAS_EPSILON) -> Tuple[float, Optional[np.ndarray]]:
    op = "sparse_softmax_cross_entropy"
    x = _float_array(x, "x", op)
    if x.shape[-1] == 0:
        raise ValueError(f"{op}: x of shape {x.shape} has no classes")
    t = _labels(labels, x, op)
    dx = _arrays.empty(x.shape, x.dtype, op) if need_grad else None
    loss = _C.sparse_softmax_cross_entropy(x, t, bool(from_logits), float(epsilon), dx)
    return float(loss), dx


def _param_lists(op: str, params, grads, *states, names=None) -> Tuple[List[np.ndarray], ...]:
    lists = [list(params), list(grads)] + [None if s is None else list(s) for s in states]
    n = len(lists[0])
    if names is None:
        names = ["params", "grads", "m", "v"] if len(states) == 2 else ["params", "grads", "momentums"]
    for name, lst in zip(names, lists):
        if lst is not None and len(lst) != n:
            raise ValueError(f"{op}: {name} has {len(lst)} arrays but params has {n}")
    dtype = None
    for name, lst in zip(names, lists):
        for i, a in enumerate(lst or ()):
            a = _float_array(a, f"{name}[{i}]", op, writable=name != "grads")
            dtype = a.dtype if dtype is None else dtype
            if a.dtype != dtype:
                raise TypeError(f"{op}: {name}[{i}] has dtype {a.dtype}, expected {dtype} like params[0]")
            if a.shape != lists[0][i].shape:
                raise ValueError(f"{op}: {name}[{i}] has shape {a.shape}, expected {lists[0][i].shape} "
                                 f"like params[{i}]")
    return tuple(lists)


def adam_update(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], m: Sequence[np.ndarray],
                v: Sequence[np.ndarray], step: int, learning_rate: float = 0.001, beta_1: float = 0.9,
                beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
    op = "adam_update"
    if isinstance(step, bool) or int(step) != step or step < 1:
        raise ValueError(f"{op}: step must be an integer >= 1 (Keras's iterations + 1), got {step!r}")
    for name, val in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not 0.0 <= float(val) < 1.0:
            raise ValueError(f"{op}: {name} must be in [0, 1), got {val!r}")
    p, g, mm, vv = _param_lists(op, params, grads, m, v)
    _C.adam_update(p, g, mm, vv, int(step), float(learning_rate), float(beta_1), float(beta_2), float(epsilon))


def sgd_update(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
               momentums: Optional[Sequence[np.ndarray]] = None, learning_rate: float = 0.01,
               momentum: float = 0.0, nesterov: bool = False) -> None:
    op = "sgd_update"
    if not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum!r}")
    if float(momentum) != 0.0 and momentums is None:
        raise ValueError(f"{op}: momentum={momentum} needs the momentums state arrays")
    p, g, mm = _param_lists(op, params, grads, momentums)
    _C.sgd_update(p, g, mm if float(momentum) != 0.0 else None, float(learning_rate), float(momentum),
                  bool(nesterov))


def rmsprop_update(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], velocities: Sequence[np.ndarray],
                   momentums: Optional[Sequence[np.ndarray]] = None, learning_rate: float = 0.001, rho: float = 0.9,
                   momentum: float = 0.0, epsilon: float = 1e-7) -> None:
    op = "rmsprop_update"
    if not 0.0 <= float(rho) < 1.0:
        raise ValueError(f"{op}: rho must be in [0, 1), got {rho!r}")
    if float(momentum) < 0.0:
        raise ValueError(f"{op}: momentum must be >= 0, got {momentum!r}")
    if float(momentum) != 0.0 and momentums is None:
        raise ValueError(f"{op}: momentum={momentum} needs the momentums state arrays")
    if not float(epsilon) > 0.0:
        raise ValueError(f"{op}: epsilon must be > 0, got {epsilon!r}")
    p, g, vv, mm = _param_lists(op, params, grads, velocities, momentums if float(momentum) != 0.0 else None,
                                names=["params", "grads", "velocities", "momentums"])
    _C.rmsprop_update(p, g, vv, mm, float(learning_rate), float(rho), float(momentum), float(epsilon))


def categorical_cross_entropy(x: np.ndarray, target: np.ndarray, *, need_grad: bool = True,
                              epsilon: float = KERAS_EPSILON) -> Tuple[float, Optional[np.ndarray]]:
    op = "categorical_cross_entropy"
    x = _float_array(x, "x", op)
    target = _float_array(target, "target", op)
    if target.shape != x.shape or target.dtype != x.dtype:
        raise ValueError(f"{op}: target {target.shape} {target.dtype} must match x {x.shape} {x.dtype}")
    if x.shape[-1] == 0:
        raise ValueError(f"{op}: x of shape {x.shape} has no classes")
    dx = _arrays.empty(x.shape, x.dtype, op) if need_grad else None
    loss = _C.categorical_cross_entropy(x, target, float(epsilon), dx)
    return float(loss), dx


def dropout(x: np.ndarray, u: np.ndarray, rate: float) -> np.ndarray:
    op = "dropout"
    x = _float_array(x, "x", op)
    if not isinstance(u, np.ndarray) or u.dtype != np.float32 or u.shape != x.shape or not u.flags.c_contiguous:
        raise ValueError(f"{op}: u must be a contiguous float32 array of x's shape {x.shape}")
    if isinstance(rate, bool) or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{op}: rate must be in [0, 1), got {rate!r}")
    y = _arrays.empty(x.shape, x.dtype, op)
    _C.dropout(x, u, float(rate), y)
    return y
