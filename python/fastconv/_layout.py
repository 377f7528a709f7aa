"""Layouts: every op computes on logical (N, C, H, W) views; NHWC arrays are transposed views of
the same memory, so channels-last data is never copied."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _arrays


def to_logical(a: np.ndarray, layout: str) -> np.ndarray:
    """(N, C, H, W) view of a 4-D array stored as NCHW or NHWC (also weights: KCRS or KRSC)."""
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


def from_logical_shape(shape: Tuple[int, int, int, int], layout: str) -> Tuple[int, int, int, int]:
    """The stored shape of a logical (N, C, H, W) shape."""
    n, c, h, w = shape
    return (n, c, h, w) if layout == "NCHW" else (n, h, w, c)


def to_logical_shape(shape: Tuple[int, ...], layout: str) -> Tuple[int, int, int, int]:
    if layout == "NCHW":
        return tuple(shape)  # type: ignore[return-value]
    n, h, w, c = shape
    return (n, c, h, w)


def allocate(logical_shape: Tuple[int, int, int, int], layout: str, dtype: np.dtype, op: str,
             zero: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """A new contiguous array in `layout` and its logical (N, C, H, W) view."""
    stored = _arrays.empty(from_logical_shape(logical_shape, layout), dtype, op)
    if zero:
        stored[...] = 0
    return stored, to_logical(stored, layout)


def spatial_shape(a_shape: Tuple[int, ...], layout: str) -> Tuple[int, int]:
    """(H, W) of a batched or unbatched array shape."""
    if layout == "NCHW":
        return a_shape[-2], a_shape[-1]
    return a_shape[-3], a_shape[-2]


def channel_axis(ndim: int, layout: str) -> int:
    return ndim - 3 if layout == "NCHW" else ndim - 1
