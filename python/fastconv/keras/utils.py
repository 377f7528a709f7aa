"""Random seeds: ``set_random_seed`` makes weight initialisation, shuffling and dropout reproducible."""

from __future__ import annotations

import random
from typing import Optional

import numpy as np

__all__ = ["set_random_seed", "rng"]

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed fastconv.keras's generator (initial weights, shuffling, dropout), Python's and NumPy's, as
    ``keras.utils.set_random_seed`` does."""
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _rng = np.random.default_rng(int(seed))


def rng(seed: Optional[int] = None) -> np.random.Generator:
    """A generator of its own for an explicit seed, else the shared one."""
    return _rng if seed is None else np.random.default_rng(seed)
