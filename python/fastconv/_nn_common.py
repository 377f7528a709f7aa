"""Helpers shared by the dense, activation and loss ops: contiguous kernel inputs, dims, dtypes,
``needs_input_grad``."""

from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np

from . import _arrays


class DimensionError(IndexError, ValueError):
    """A ``dim`` outside the array's axes: IndexError as torch raises, ValueError as fastconv's API says."""


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` itself when C-contiguous and aligned, else a C-contiguous copy (0-d stays 0-d)."""
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C", copy=True)


def normalize_dim(dim, ndim: int, op: str, name: str = "dim") -> int:
    from ._args import as_int

    d = as_int(dim, name, op)
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not lo <= d <= hi:
        raise DimensionError(f"{op}: Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d}) for {name} of a {ndim}-D input")
    return d % ndim if ndim else 0


def as_float_dtype(dtype, op: str) -> np.dtype:
    """A dtype argument given as a NumPy dtype, its name, or a torch dtype (float32/float64 only)."""
    if type(dtype).__module__.split(".")[0] == "torch":
        dtype = str(dtype).split(".")[-1]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _arrays.FLOAT_DTYPES:
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dt}")
    return dt


def needs(needs_input_grad: Sequence[bool], count: int, names: str, op: str) -> Tuple[bool, ...]:
    try:
        flags = tuple(bool(v) for v in needs_input_grad)
    except TypeError:
        raise TypeError(f"{op}: needs_input_grad must be a sequence of bools, got {needs_input_grad!r}") from None
    if len(flags) != count:
        raise ValueError(f"{op}: needs_input_grad must have {count} entries ({names}), got {needs_input_grad!r}")
    return flags


def checked_grad_output(obj: Any, shape: Tuple[int, ...], dtype: np.dtype, op: str, forward: str) -> np.ndarray:
    if shape == () and isinstance(obj, (float, int, np.floating)) and not isinstance(obj, bool):
        # the gradient of a reduced (scalar) loss may come as a Python or NumPy scalar
        obj = np.asarray(obj, dtype=obj.dtype if isinstance(obj, np.floating) else dtype)
    dy, _ = _arrays.to_numpy(obj, "grad_output", op)
    if dy.dtype != dtype:
        raise TypeError(f"{op}: expected grad_output of dtype {dtype} (the output of {forward}), got {dy.dtype}")
    if dy.shape != tuple(shape):
        raise ValueError(f"{op}: expected grad_output of shape {tuple(shape)} (the output of {forward} for these "
                         f"arguments), got {dy.shape}")
    return dy
