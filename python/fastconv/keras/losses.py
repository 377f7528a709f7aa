"""Losses (Keras's names, arguments and formulas), each the mean over the batch.

``SparseCategoricalCrossentropy(from_logits=False)``: integer labels; ``CategoricalCrossentropy``:
one-hot (or probability) targets; ``MeanSquaredError``. By object or by name ('mse', ...).
With ``from_logits=False`` the predictions are probabilities: Keras divides them by their sum and
clips them to [1e-7, 1 - 1e-7] before the log, and so does this.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _ops

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "MeanSquaredError", "get",
           "sparse_categorical_crossentropy", "categorical_crossentropy", "mean_squared_error"]

EPSILON = 1e-7  # keras.config.epsilon()


class Loss:
    name = ""

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{type(self).__name__}: only reduction='sum_over_batch_size' is supported, "
                             f"got {reduction!r}")
        if name is not None:
            self.name = name

    def __call__(self, y_true, y_pred) -> float:
        y_pred = np.asarray(y_pred)
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float32)
        return self.compute(self.prepare_targets(y_true, y_pred.shape), y_pred, need_grad=False)[0]

    def prepare_targets(self, y_true, pred_shape) -> np.ndarray:
        """Check and convert the targets once per fit/evaluate (clear errors, no per-batch cost)."""
        raise NotImplementedError

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray, need_grad: bool) -> Tuple[float, np.ndarray]:
        """(mean loss, dL/dy_pred or None)."""
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}

    @property
    def keras_fn_name(self) -> str:
        return ""


class SparseCategoricalCrossentropy(Loss):
    """Integer labels (batch,) or (batch, 1) in [0, classes) against (batch, classes) predictions."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, name="sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported")
        self.from_logits = bool(from_logits)

    keras_fn_name = "sparse_categorical_crossentropy"

    def prepare_targets(self, y_true, pred_shape):
        y = np.asarray(y_true)
        if y.ndim == len(pred_shape) and y.ndim >= 1 and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        if y.shape != tuple(pred_shape[:-1]):
            raise ValueError(f"{self.name}: expected integer labels of shape {tuple(pred_shape[:-1])} (one class "
                             f"index per sample) for predictions of shape {tuple(pred_shape)}, got labels of shape "
                             f"{y.shape}")
        if y.dtype.kind == "f":
            if y.size and not np.all(y == np.round(y)):
                raise ValueError(f"{self.name}: labels must be integer class indices, got non-integer values")
        elif y.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: labels must be integers, got dtype {y.dtype}")
        classes = pred_shape[-1]
        if y.size and (y.min() < 0 or y.max() >= classes):
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(f"{self.name}: labels must be in [0, {classes}) for {classes} output classes, got a "
                             f"label {int(bad)}")
        return y.astype(np.int64)

    def compute(self, y_true, y_pred, need_grad):
        return _ops.sparse_cross_entropy(y_pred, y_true, self.from_logits, need_grad, EPSILON)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """One-hot (or probability) targets of the predictions' shape (batch, classes)."""

    name = "categorical_crossentropy"
    keras_fn_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, name="categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if label_smoothing or axis != -1:
            raise ValueError("CategoricalCrossentropy: only label_smoothing=0 and axis=-1 are supported")
        self.from_logits = bool(from_logits)

    def prepare_targets(self, y_true, pred_shape):
        y = np.asarray(y_true)
        if y.shape != tuple(pred_shape):
            raise ValueError(f"{self.name}: expected one-hot targets of the predictions' shape {tuple(pred_shape)}, "
                             f"got shape {y.shape} (integer labels need SparseCategoricalCrossentropy)")
        return y

    def compute(self, y_true, y_pred, need_grad):
        t = y_true.astype(y_pred.dtype, copy=False)
        if self.from_logits:
            return _ops.softmax_cross_entropy(y_pred, t, need_grad)
        return _ops.probability_cross_entropy(y_pred, t, need_grad, EPSILON)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """mean((y_pred - y_true) ** 2) over the last axis, then over the batch."""

    name = "mean_squared_error"

    def __init__(self, name="mean_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def prepare_targets(self, y_true, pred_shape):
        y = np.asarray(y_true)
        if y.shape != tuple(pred_shape):
            if y.size == int(np.prod(pred_shape)) and len(pred_shape) == 2 and pred_shape[-1] == 1:
                y = y.reshape(pred_shape)
            else:
                raise ValueError(f"{self.name}: expected targets of the predictions' shape {tuple(pred_shape)}, "
                                 f"got shape {y.shape}")
        return y

    def compute(self, y_true, y_pred, need_grad):
        return _ops.mean_squared_error(y_pred, y_true.astype(y_pred.dtype, copy=False), need_grad)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}
_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy, MeanSquaredError)}


def get(identifier) -> Loss:
    """A loss from a Loss object, a name ('sparse_categorical_crossentropy', 'mse', ...) or a class name."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"Unknown loss: {identifier!r}; expected one of {', '.join(sorted(_BY_NAME))} or a Loss "
                         f"object")
    raise TypeError(f"loss must be a name or a fastconv.keras.losses.Loss, got {type(identifier).__name__}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(entry: dict) -> Loss:
    name = entry.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"unknown loss class {name!r} in saved model")
    return _CLASSES[name](**entry.get("config", {}))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False) -> float:
    return SparseCategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False) -> float:
    return CategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> float:
    return MeanSquaredError()(y_true, y_pred)
