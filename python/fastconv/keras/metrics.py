"""Metrics for ``compile(metrics=[...])``: 'accuracy' (resolved as Keras does from the targets' and the
predictions' shapes), 'sparse_categorical_accuracy', 'categorical_accuracy', 'binary_accuracy'."""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["Accuracy", "get"]

KINDS = ("sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


class Accuracy:
    """The fraction of samples classified right, accumulated over batches."""

    def __init__(self, name: str = "accuracy", kind: str = ""):
        self.name = name
        self.kind = kind
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def resolve(self, y_true_shape: Tuple[int, ...], y_pred_shape: Tuple[int, ...]) -> None:
        """Keras's rule for 'accuracy': binary with one output, sparse with fewer target axes (or a
        trailing 1), else categorical."""
        if self.kind:
            return
        if y_pred_shape[-1] == 1:
            self.kind = "binary_accuracy"
        elif len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
            self.kind = "sparse_categorical_accuracy"
        else:
            self.kind = "categorical_accuracy"

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.kind == "binary_accuracy":
            hits = (y_pred.reshape(y_true.shape) > 0.5) == (y_true > 0.5)
        elif self.kind == "sparse_categorical_accuracy":
            hits = np.argmax(y_pred, -1) == y_true.reshape(y_pred.shape[:-1])
        else:
            hits = np.argmax(y_pred, -1) == np.argmax(y_true, -1)
        self.correct += int(np.count_nonzero(hits))
        self.total += int(hits.size)

    def result(self) -> float:
        return self.correct / self.total if self.total else 0.0


def get(identifier) -> Accuracy:
    if isinstance(identifier, Accuracy):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return Accuracy(identifier)
        if key in KINDS:
            return Accuracy(key, key)
    raise ValueError(f"Unknown metric: {identifier!r}; expected 'accuracy' or one of {', '.join(KINDS)}")
