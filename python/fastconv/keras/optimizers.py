"""Optimizers with Keras's defaults and update rules: ``SGD`` (momentum, nesterov), ``Adam`` and
``RMSprop`` (compile's default).

The model hands an optimizer its parameters as flat buffers (one per dtype) with their gradients, so
each step is one fused update over all parameters.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from . import _ops

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get"]


def _positive(value, name: str, owner: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (v >= 0 if allow_zero else v > 0) or not np.isfinite(v):
        raise ValueError(f"{owner}: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


class Optimizer:
    name = ""

    def __init__(self, learning_rate: float):
        self.learning_rate = _positive(learning_rate, "learning_rate", type(self).__name__)
        self.iterations = 0
        self._slots: Dict[int, List[np.ndarray]] = {}

    def apply(self, params: List[np.ndarray], grads: List[np.ndarray]) -> None:
        """One step over parameter buffers and their gradients (same shapes), in place."""
        self.iterations += 1
        for i, (w, g) in enumerate(zip(params, grads)):
            if i not in self._slots:
                self._slots[i] = [np.zeros_like(w) for _ in range(self._slot_count())]
            self._update(w, g, self._slots[i])

    def _slot_count(self) -> int:
        return 0

    def _update(self, w, g, slots) -> None:
        raise NotImplementedError

    def variables(self) -> List[np.ndarray]:
        return [s for i in sorted(self._slots) for s in self._slots[i]]

    def get_config(self):
        return {"learning_rate": self.learning_rate}


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``."""

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate)
        self.momentum = _positive(momentum, "momentum", "SGD", allow_zero=True)
        if self.momentum > 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.nesterov = bool(nesterov)

    def _slot_count(self):
        return 1 if self.momentum else 0

    def _update(self, w, g, slots):
        _ops.sgd_update([w], [g], slots or None, self.learning_rate, self.momentum, self.nesterov)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``, Keras's update (epsilon added
    to sqrt(v), the bias corrections folded into the step size)."""

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name=None):
        super().__init__(learning_rate)
        if amsgrad:
            raise ValueError("Adam: amsgrad=True is not supported")
        for value, arg in ((beta_1, "beta_1"), (beta_2, "beta_2")):
            if not 0 <= float(value) < 1:
                raise ValueError(f"Adam: {arg} must be in [0, 1), got {value!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive(epsilon, "epsilon", "Adam")

    def _slot_count(self):
        return 2

    def _update(self, w, g, slots):
        _ops.adam_update([w], [g], slots[:1], slots[1:], self.learning_rate, self.beta_1, self.beta_2, self.epsilon,
                         self.iterations)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7)`` (not centered), Keras's update."""

    name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name=None):
        super().__init__(learning_rate)
        if centered:
            raise ValueError("RMSprop: centered=True is not supported")
        if not 0 <= float(rho) < 1:
            raise ValueError(f"RMSprop: rho must be in [0, 1), got {rho!r}")
        self.rho = float(rho)
        self.momentum = _positive(momentum, "momentum", "RMSprop", allow_zero=True)
        self.epsilon = _positive(epsilon, "epsilon", "RMSprop")

    def _slot_count(self):
        return 2 if self.momentum else 1

    def _update(self, w, g, slots):
        _ops.rmsprop_update(w, g, slots[0], slots[1] if self.momentum else None, self.learning_rate, self.rho,
                            self.momentum, self.epsilon)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    """An optimizer from an Optimizer object or a name ('adam', 'sgd'), with Keras's defaults."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"Unknown optimizer: {identifier!r}; expected one of {', '.join(sorted(_BY_NAME))} or an "
                             f"Optimizer object")
        return _BY_NAME[key]()
    raise TypeError(f"optimizer must be a name or a fastconv.keras.optimizers.Optimizer, got "
                    f"{type(identifier).__name__}")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config(), "iterations": opt.iterations}


def deserialize(entry: dict) -> Optimizer:
    classes = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}
    name = entry.get("class_name")
    if name not in classes:
        raise ValueError(f"unknown optimizer class {name!r} in saved model")
    opt = classes[name](**entry.get("config", {}))
    opt.iterations = int(entry.get("iterations", 0))
    return opt
