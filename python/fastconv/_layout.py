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


# N-D layouts (1-D "NCW"/"NWC", 2-D, 3-D "NCDHW"/"NDHWC"): channels-first or channels-last.

def channels_last(layout: str) -> bool:
    return layout[1] != "C"


def to_logical_nd(a: np.ndarray, layout: str) -> np.ndarray:
    """(N, C, *spatial) view of an array stored in `layout` (also weights: (K, C, *taps) or (K, *taps, C))."""
    if not channels_last(layout):
        return a
    return a.transpose(0, a.ndim - 1, *range(1, a.ndim - 1))


def from_logical_shape_nd(shape: Tuple[int, ...], layout: str) -> Tuple[int, ...]:
    if not channels_last(layout):
        return tuple(shape)
    return (shape[0],) + tuple(shape[2:]) + (shape[1],)


def allocate_nd(logical_shape: Tuple[int, ...], layout: str, dtype, op: str) -> Tuple[np.ndarray, np.ndarray]:
    """A new contiguous array in `layout` and its logical (N, C, *spatial) view."""
    stored = _arrays.empty(from_logical_shape_nd(logical_shape, layout), np.dtype(dtype), op)
    return stored, to_logical_nd(stored, layout)


def unit_axis(a: np.ndarray, axis: int) -> np.ndarray:
    """A view of `a` with a new axis of extent 1 at `axis`, whose stride is that of a dense layout
    (extent of the next axis times its stride), so kernels see ordinary planar or channels-last strides."""
    if axis < a.ndim:
        step = a.strides[axis] * a.shape[axis]
    else:
        step = a.itemsize
    shape = a.shape[:axis] + (1,) + a.shape[axis:]
    strides = a.strides[:axis] + (step,) + a.strides[axis:]
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=a.flags.writeable)
