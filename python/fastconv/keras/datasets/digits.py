"""The 8x8 handwritten digits bundled with fastconv (see data/README.md), as 28x28x1 images.

``load_data()`` returns ``((x_train, y_train), (x_test, y_test))``: x float32 (N, 28, 28, 1) in [0, 1],
y uint8 (N,). The split is fixed: the first 1,400 images train, the last 397 test (each class 135-144
and 39-41 times). Images are upsampled from 8x8 by bilinear interpolation with half-pixel centres
(``torch.nn.functional.interpolate(mode='bilinear', align_corners=False)``: sample positions
(i + 0.5) * 8 / 28 - 0.5, clamped to the edge pixels), after scaling the counts 0..16 to [0, 1].
"""

from __future__ import annotations

import gzip
import os
from typing import Tuple

import numpy as np

__all__ = ["load_data", "TRAIN_SIZE", "SIZE"]

TRAIN_SIZE = 1400
SIZE = 28
_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.csv.gz")


def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def load_raw() -> Tuple[np.ndarray, np.ndarray]:
    """The 1,797 images as float64 (N, 8, 8) counts 0..16 and their labels int64 (N,)."""
    with gzip.open(_PATH, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)


def load_data():
    """((x_train, y_train), (x_test, y_test)): 1,400 and 397 images, float32 (N, 28, 28, 1) in [0, 1]."""
    images, labels = load_raw()
    m = _bilinear_matrix(SIZE, 8)
    x = np.einsum("ij,njk,lk->nil", m, images / 16.0, m).astype(np.float32)[..., None]
    np.clip(x, 0.0, 1.0, out=x)
    y = labels.astype(np.uint8)
    return (x[:TRAIN_SIZE], y[:TRAIN_SIZE]), (x[TRAIN_SIZE:], y[TRAIN_SIZE:])
