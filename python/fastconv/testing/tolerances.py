"""Tolerances for comparing kernels with the float64 reference.

A sum of L products in a dtype with unit roundoff eps has an error that grows like sqrt(L) * eps on
random data, so the relative tolerance scales with the reduction length (DESIGN.md section 5).
"""

from __future__ import annotations

import numpy as np


def tolerance(dtype, reduction_length: int, c: float = 8.0):
    """(rtol, atol) for outputs summed over `reduction_length` terms of unit-scale data."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    rtol = c * eps * np.sqrt(max(1, reduction_length))
    return rtol, rtol


def assert_close(actual, expected, reduction_length: int, dtype=None, c: float = 8.0, scale: float = None):
    """|actual - expected| <= atol * scale + rtol * |expected| elementwise.

    `scale` is the magnitude of the terms summed (default: the largest |expected|, at least 1), so
    that outputs that cancel to near zero are judged against the size of what was summed.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    dtype = actual.dtype if dtype is None else dtype
    rtol, atol = tolerance(dtype, reduction_length, c)
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    err = np.abs(actual.astype(np.float64) - expected)
    bound = atol * scale + rtol * np.abs(expected)
    bad = ~(err <= bound)
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), err.shape)
        raise AssertionError(
            f"{int(bad.sum())} of {err.size} elements out of tolerance (rtol={rtol:.3g}, atol={atol * scale:.3g}); "
            f"worst at {i}: got {actual[i]!r}, expected {expected[i]!r}")
