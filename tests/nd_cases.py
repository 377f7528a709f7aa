"""Helpers of the 1-D / 3-D / transposed / adaptive tests: layouts, random data, torch comparison."""

from __future__ import annotations

import numpy as np

CHANNELS_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def layouts(dims):
    return (CHANNELS_FIRST[dims], CHANNELS_LAST[dims])


def store(a: np.ndarray, layout: str, dtype) -> np.ndarray:
    """A logical channels-first array stored (contiguous) in `layout` and cast to `dtype`."""
    if layout[1] != "C":
        a = np.moveaxis(a, 1, -1)
    return np.ascontiguousarray(a, dtype=dtype)


def logical(a: np.ndarray, layout: str) -> np.ndarray:
    """The channels-first float64 view of an array stored in `layout` (batched or weight)."""
    a = np.asarray(a)
    if layout[1] != "C":
        a = np.moveaxis(a, -1, 1)
    return a.astype(np.float64)


def poisoned(shape, dtype) -> np.ndarray:
    return np.full(shape, np.nan, dtype=dtype)


def to_torch(a):
    import torch

    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))
