"""Backward passes of 1x1 layers on planar (NCHW) arrays: dgrad as a GEMM per image on dy in place
(csrc/cpu/conv2d_dgrad_1x1_planar.cpp), wgrad at unit stride on the reduction GEMM with x and dy in
place (csrc/cpu/conv2d_wgrad_1x1_planar.cpp); the strided cases check dgrad's zeros and that wgrad's
strided form still agrees."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa

# (N, C, H, W, K, stride, groups): at least 64 output pixels per image (dgrad) and C/G, K/G
# multiples of 4 (wgrad).
CASES = [
    (2, 24, 12, 16, 16, 1, 1),       # planes of 3 whole tiles; wgrad chunks a multiple of 16
    (3, 12, 9, 10, 8, 1, 1),         # 90 pixels: a partial last tile; wgrad's partial chunk
    (2, 32, 20, 27, 20, 2, 1),       # stride 2, odd W: the zero columns end inside a row
    (1, 16, 31, 40, 24, (3, 2), 2),  # groups, anisotropic stride: 2 zero rows per value row
    (2, 8, 5, 300, 12, 1, 1),        # rows longer than a band: bands of 1 row, tiles across none
    (1, 8, 9, 300, 12, 2, 1),        # strided bands of several long rows
    (1, 8, 40, 40, 64, 1, 1),        # wgrad: 2 chunks per plane
    (20, 8, 8, 8, 8, 1, 1),          # wgrad: 20 chunks, 2 per part
    (1, 68, 9, 9, 4, 1, 1),          # wgrad: a block of 4 channels after one of 64
]


def _data(case, dtype, seed=1):
    N, C, H, W, K, stride, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, 1, 1)).astype(dtype)
    dy = rng.standard_normal(fc.conv2d(x, w, None, stride, 0, 1, groups).shape).astype(dtype)
    return x, w, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_vs_reference(case, dtype):
    N, C, H, W, K, stride, groups = case
    x, w, dy = _data(case, dtype)
    b = np.zeros(K, dtype)
    dx_ref = ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, 0, 1, groups)
    dw_ref = ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape, stride, 0, 1, groups)
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, stride, 0, 1, groups)
    dx_alone = fc.conv2d_backward(dy, x, w, b, stride, 0, 1, groups, needs_input_grad=(True, False, False))[0]
    dw_alone = fc.conv2d_backward(dy, x, w, b, stride, 0, 1, groups, needs_input_grad=(False, True, False))[1]
    for d in (dx, dx_alone):
        assert_close(d, dx_ref, K // groups, dtype)
    for d in (dw, dw_alone):
        assert_close(d, dw_ref, N * dy.shape[2] * dy.shape[3], dtype)
    assert_close(db, ref.conv2d_bgrad(dy.astype(np.float64)), N * dy.shape[2] * dy.shape[3], dtype)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[5], CASES[7], CASES[8]])
def test_writes_every_value(case):
    """NaN-filled dx and dw: every value written (the zeros of the pixels no output reaches too) and
    exact on small integers."""
    N, C, H, W, K, stride, groups = case
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, (N, C, H, W)).astype(np.float32)
    w = rng.integers(-3, 4, (K, C // groups, 1, 1)).astype(np.float32)
    dy = rng.integers(-3, 4, fc.conv2d(x, w, None, stride, 0, 1, groups).shape).astype(np.float32)
    s = (stride, stride) if isinstance(stride, int) else stride
    dx = np.full(x.shape, np.nan, np.float32)
    dw = np.full(w.shape, np.nan, np.float32)
    _C.conv2d_dgrad(dy, w, dx, s, (0, 0), (1, 1), groups)
    _C.conv2d_wgrad(dy, x, dw, s, (0, 0), (1, 1), groups)
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride,
                                                       0, 1, groups))
    np.testing.assert_array_equal(dw, ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape, stride,
                                                       0, 1, groups))


@pytest.mark.parametrize("case", [CASES[2], CASES[7]])
def test_same_bits_for_thread_counts(case):
    x, w, dy = _data(case, np.float32, seed=3)
    N, C, H, W, K, stride, groups = case
    assert_same_bits_for_thread_counts(
        lambda: fc.conv2d_backward(dy, x, w, None, stride, 0, 1, groups, needs_input_grad=(True, True, False))[:2])


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_1x1_planar import CASES, _data
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close
for case in CASES[:4] + CASES[7:]:
    N, C, H, W, K, stride, groups = case
    x, w, dy = _data(case, np.float32)
    dx, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, 0, 1, groups)
    assert_close(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, 0, 1, groups),
                 K // groups, np.float32)
    assert_close(dw, ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape, stride, 0, 1, groups),
                 N * dy.shape[2] * dy.shape[3], np.float32)
""")


@pytest.mark.parametrize("stride", [1, 2])
def test_large_dx_streamed(stride):
    """A dx of 8 MB or more goes out with non-temporal stores: every value still written, exact."""
    rng = np.random.default_rng(5)
    # Planes of 182 x 184 (a multiple of 16 floats) in a 64-byte aligned dx: the unit-stride kernel
    # streams only whole aligned rows.
    x = np.zeros((1, 64, 182, 184), np.float32)
    assert x.nbytes >= 8 << 20  # the streaming threshold (kStreamOutputBytes)
    w = rng.integers(-3, 4, (8, 64, 1, 1)).astype(np.float32)
    dy = rng.integers(-3, 4, fc.conv2d(x, w, None, stride).shape).astype(np.float32)
    buf = np.empty(x.size + 16, np.float32)
    start = (-buf.ctypes.data % 64) // 4
    dx = buf[start:start + x.size].reshape(x.shape)
    dx.fill(np.nan)
    _C.conv2d_dgrad(dy, w, dx, (stride, stride), (0, 0), (1, 1), 1)
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, 0))
