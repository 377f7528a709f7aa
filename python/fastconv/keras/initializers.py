"""Weight initialisers (Keras's names and formulas): glorot_uniform, he_uniform, zeros, ones."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from . import utils

__all__ = ["GlorotUniform", "HeUniform", "Zeros", "Ones", "get"]


def _fans(shape: Tuple[int, ...]) -> Tuple[float, float]:
    """Keras's fans: dense (in, out); conv (kh, kw, in, out) -> receptive field times in / out."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    name = ""

    def __init__(self, seed: Optional[int] = None):
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else utils.rng()

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(Initializer):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""

    name = "glorot_uniform"

    def __call__(self, shape, dtype=np.float32) -> np.ndarray:
        fan_in, fan_out = _fans(tuple(shape))
        limit = np.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return self.generator().uniform(-limit, limit, size=shape).astype(dtype)


class HeUniform(Initializer):
    """U(-limit, limit), limit = sqrt(6 / fan_in)."""

    name = "he_uniform"

    def __call__(self, shape, dtype=np.float32) -> np.ndarray:
        fan_in, _ = _fans(tuple(shape))
        limit = np.sqrt(6.0 / max(1.0, fan_in))
        return self.generator().uniform(-limit, limit, size=shape).astype(dtype)


class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, dtype=np.float32) -> np.ndarray:
        return np.zeros(shape, dtype)


class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, dtype=np.float32) -> np.ndarray:
        return np.ones(shape, dtype)


_BY_NAME = {c.name: c for c in (GlorotUniform, HeUniform, Zeros, Ones)}


def get(identifier) -> Callable:
    """An initialiser from a name ('glorot_uniform', ...), an Initializer or a callable(shape, dtype)."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"Unknown initializer: {identifier!r}; expected one of {', '.join(sorted(_BY_NAME))}")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name or a callable, got {type(identifier).__name__}")


def name_of(initializer) -> str:
    """The name an initialiser is saved under; only the named ones can be saved."""
    if isinstance(initializer, str):
        return initializer.lower()
    if isinstance(initializer, Initializer):
        return initializer.name
    raise ValueError(f"cannot save a custom initializer {initializer!r}; use one of {', '.join(sorted(_BY_NAME))}")
