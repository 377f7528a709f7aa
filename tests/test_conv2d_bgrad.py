"""conv2d's bias gradient on its own (conv2d_bgrad.cpp): planes whose rows follow each other are
summed as one run, others row by row, channels-last dy by pixel parts; against the float64
reference, the same bits for any thread count."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, to_layout


def bgrad(dy, layout="NCHW"):
    """db alone, through the extension's bgrad entry point (the path the Python layer takes for db
    alone on layers with many input channels)."""
    from fastconv import _C

    db = np.full(dy.shape[1 if layout == "NCHW" else 3], np.nan, dy.dtype)
    _C.conv2d_bgrad(dy if layout == "NCHW" else dy.transpose(0, 3, 1, 2), db)
    return db


# (N, K, P, Q): planes shorter than the 16 lanes, exactly 16, one past, the 11x11 of a small CNN,
# rows longer than the lanes
SHAPES = [(3, 5, 3, 5), (2, 4, 4, 4), (2, 3, 1, 17), (5, 7, 11, 11), (2, 3, 6, 37)]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vs_reference(shape, layout, dtype):
    rng = np.random.default_rng(sum(shape))
    dy64 = rng.standard_normal(shape)
    dy = to_layout(dy64, layout).astype(dtype)
    N, K, P, Q = shape
    assert_close(bgrad(dy, layout), ref.conv2d_bgrad(dy64.astype(dtype).astype(np.float64)), N * P * Q, dtype)


def test_planes_with_gaps_between_rows():
    """Rows that do not follow each other (a column slice, a Fortran-ordered array) go value by
    value, into the lanes and order of a contiguous plane: the same bits."""
    rng = np.random.default_rng(1)
    dy = rng.integers(-3, 4, (3, 6, 9, 20)).astype(np.float32)[:, :, :, 2:13]
    np.testing.assert_array_equal(bgrad(dy), ref.conv2d_bgrad(dy.astype(np.float64)))
    dy = rng.standard_normal((3, 6, 9, 20)).astype(np.float32)[:, :, :, 2:13]
    want = bgrad(np.ascontiguousarray(dy)).tobytes()
    assert bgrad(dy).tobytes() == want and bgrad(np.asfortranarray(dy)).tobytes() == want


def test_small_integers_are_exact():
    rng = np.random.default_rng(2)
    dy = rng.integers(-3, 4, (7, 9, 11, 11)).astype(np.float32)
    np.testing.assert_array_equal(bgrad(dy), ref.conv2d_bgrad(dy.astype(np.float64)))


def test_same_bits_for_any_thread_count_and_run():
    rng = np.random.default_rng(3)
    dy = rng.standard_normal((64, 64, 11, 11)).astype(np.float32)
    assert_same_bits_for_thread_counts(lambda: bgrad(dy))
