"""conv2d dgrad of small images by GEMM + channels-last col2im (conv2d_dgrad_col2im_channels_last.cpp).
With C/G a multiple of 16 the GEMM kernel adds each 16-channel piece of its tile into dx itself
(igemm_6x64_add), skipping pieces whose tap falls in the padding; other channel counts add a staged
tile. Both must match the float64 reference, write every value of a NaN-filled dx, and give the same
bits at any thread count and on every ISA path."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (3, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1),              # the seed model's second layer, 3 images
    (2, 32, 9, 8, 48, 3, 3, 2, 1, 2, 2),                # 16 channels per group, taps in the padding
    (5, 16, 6, 7, 17, 2, 3, (1, 2), (1, 0), 1, 1),      # 96 columns: a half block last
    (2, 64, 5, 5, 128, 3, 3, 1, 1, 1, 1),               # 128 filters, 9 blocks of 64 columns
    (3, 24, 9, 8, 32, 3, 3, 2, 1, 2, 2),                # 12 channels per group: the staged tile
]


def problem(case, dtype, rng, integers=False):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    draw = (lambda shape: rng.integers(-3, 4, shape)) if integers else rng.standard_normal
    x = draw((N, C, H, W)).astype(dtype)
    w = draw((K, C // groups, R, S)).astype(dtype)
    dy = draw(fc.conv2d(x, w, None, stride, padding, dilation, groups).shape).astype(dtype)
    return x, w, dy


def reference_dx(case, x, w, dy):
    stride, padding, dilation, groups = case[7:]
    return ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, padding, dilation, groups)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(case, layout, dtype):
    x, w, dy = problem(case, dtype, np.random.default_rng(len(str(case))))
    stride, padding, dilation, groups = case[7:]
    if layout == "NHWC":
        xs, ws, dys = (np.ascontiguousarray(a.transpose(0, 2, 3, 1)) for a in (x, w, dy))
    else:
        xs, ws, dys = x, w, dy
    dx = fc.conv2d_backward(dys, xs, ws, None, stride, padding, dilation, groups, layout=layout,
                            needs_input_grad=(True, False, False))[0]
    if layout == "NHWC":
        dx = dx.transpose(0, 3, 1, 2)
    K, R, S = w.shape[0], w.shape[2], w.shape[3]
    assert_close(dx, reference_dx(case, x, w, dy), (K // groups) * R * S, dtype)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_writes_every_value_of_nan_filled_dx(case, channels_last):
    """Small integers: every sum is exact, so dx must equal the reference exactly, NaN nowhere."""
    x, w, dy = problem(case, np.float32, np.random.default_rng(11), integers=True)
    stride, padding, dilation, groups = case[7:]
    N, C, H, W = x.shape
    if channels_last:
        dx = np.full((N, H, W, C), np.nan, np.float32).transpose(0, 3, 1, 2)
    else:
        dx = np.full(x.shape, np.nan, np.float32)
    pair = lambda v: (v, v) if isinstance(v, int) else v
    _C.conv2d_dgrad(dy, w, dx, pair(stride), pair(padding), pair(dilation), groups)
    np.testing.assert_array_equal(dx, reference_dx(case, x, w, dy))


def test_same_bits_for_thread_counts():
    x, w, dy = problem(CASES[0], np.float32, np.random.default_rng(5))
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    w = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
    dy = np.ascontiguousarray(dy.transpose(0, 2, 3, 1))
    assert_same_bits_for_thread_counts(
        lambda: fc.conv2d_backward(dy, x, w, None, layout="NHWC", needs_input_grad=(True, False, False))[0])


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_dgrad_col2im import CASES, problem, reference_dx
from fastconv.testing.tolerances import assert_close
for case in CASES:
    for dtype in (np.float32, np.float64):
        x, w, dy = problem(case, dtype, rng)
        stride, padding, dilation, groups = case[7:]
        dx = fc.conv2d_backward(dy, x, w, None, stride, padding, dilation, groups,
                                needs_input_grad=(True, False, False))[0]
        assert_close(dx, reference_dx(case, x, w, dy), (w.shape[0] // groups) * w.shape[2] * w.shape[3], dtype)
""")
