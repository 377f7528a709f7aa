"""Backward passes of strided 1x1 convolutions on channels-last data: the dgrad that writes the GEMM
results and the zeros between them in one pass (conv2d_dgrad_1x1_channels_last) and the wgrad on the
row-pointer GEMM (conv2d_wgrad_1x1_channels_last), against the float64 reference, with every output
element poisoned first, on odd shapes, strided views, every ISA path and any thread count."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, stride, groups)
DGRAD_CASES = [
    (2, 256, 14, 14, 128, 2, 1),       # a ResNet downsampling shortcut, smaller
    (2, 70, 9, 11, 13, (2, 3), 1),     # C = 70: a partial block of 64; rows and columns past the last output
    (1, 8, 7, 5, 6, 3, 1),             # two output columns, W = 5 not a multiple of the stride
    (2, 12, 8, 9, 10, 2, 2),           # two groups
    (3, 16, 6, 13, 7, (1, 2), 1),      # stride along the rows only: no zero rows
    (1, 5, 4, 4, 64, (3, 1), 1),       # stride along the columns only, C < a GEMM panel
]


def dgrad_case(rng, case, dtype):
    N, C, H, W, K, stride, groups = case
    x64 = rng.standard_normal((N, C, H, W))
    w = to_layout(rng.standard_normal((K, C // groups, 1, 1)), "NHWC").astype(dtype)
    y_shape = fc.conv2d(to_layout(x64, "NHWC").astype(dtype), w, None, stride, 0, 1, groups, layout="NHWC").shape
    dy = rng.standard_normal(y_shape).astype(dtype)
    expected = ref.conv2d_dgrad(to_nchw(dy, "NHWC").astype(np.float64), (N, C, H, W),
                                to_nchw(w, "NHWC").astype(np.float64), stride, 0, 1, groups)
    return dy, w, expected


def run_dgrad(rng, case, dtype):
    dy, w, expected = dgrad_case(rng, case, dtype)
    stride, groups = case[5], case[6]
    for _ in range(2):  # recycled memory full of NaN: every element must be written
        junk = np.full(expected.size, np.nan, dtype)
        del junk
        dx, _, _ = fc.conv2d_backward(dy, np.zeros(to_layout(expected, "NHWC").shape, dtype), w, None, stride,
                                      groups=groups, layout="NHWC", needs_input_grad=(True, False, False))
        assert_close(to_nchw(dx, "NHWC"), expected, w.shape[0] // groups, dtype)
    return dx


@pytest.mark.parametrize("case", DGRAD_CASES, ids=[str(i) for i in range(len(DGRAD_CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dgrad_vs_reference(case, dtype):
    run_dgrad(np.random.default_rng(abs(hash(case)) % 2**32), case, dtype)


def test_dgrad_strided_views():
    """dy and dx as views whose pixels lie further apart than their channels: dx's zeros go pixel by
    pixel, and the padding between pixels stays untouched."""
    rng = np.random.default_rng(3)
    N, C, H, W, K, stride = 2, 20, 7, 9, 12, 2
    dy_full, w, expected = dgrad_case(rng, (N, C, H, W, K, stride, 1), np.float32)
    dy_store = np.full(dy_full.shape[:3] + (K + 5,), np.nan, np.float32)
    dy_store[..., :K] = dy_full
    dx_store = np.full((N, H, W, C + 3), np.nan, np.float32)
    dx_store[..., C:] = 7.0
    _C.conv2d_dgrad(dy_store[..., :K].transpose(0, 3, 1, 2), to_nchw(w, "NHWC"),
                    dx_store[..., :C].transpose(0, 3, 1, 2), (stride, stride), (0, 0), (1, 1), 1, "auto")
    assert_close(dx_store[..., :C].transpose(0, 3, 1, 2), expected, K, np.float32)
    assert np.all(dx_store[..., C:] == 7.0)


def test_dgrad_same_bits_for_any_thread_count_and_run():
    assert_same_bits_for_thread_counts(lambda: run_dgrad(np.random.default_rng(5), DGRAD_CASES[1], np.float32))


# (N, C, H, W, K, stride, groups): C / groups a multiple of 64
WGRAD_CASES = [
    (2, 256, 14, 14, 128, 2, 1),       # a ResNet downsampling shortcut, smaller
    (3, 64, 9, 11, 13, (2, 3), 1),     # K = 13: a short last panel of 6 rows; odd image sizes
    (2, 128, 7, 5, 4, 3, 2),           # two groups of 64 channels, K / groups = 2 rows
    (25, 64, 40, 24, 7, 2, 1),         # 6000 output pixels: several reduction parts and a short last chunk
    (1, 192, 3, 20, 64, (1, 4), 1),    # stride along the columns only, three column blocks
]


def run_wgrad(rng, case, dtype, views=False):
    N, C, H, W, K, stride, groups = case
    x = to_layout(rng.standard_normal((N, C, H, W)), "NHWC").astype(dtype)
    w = to_layout(rng.standard_normal((K, C // groups, 1, 1)), "NHWC").astype(dtype)
    dy = rng.standard_normal(fc.conv2d(x, w, None, stride, 0, 1, groups, layout="NHWC").shape).astype(dtype)
    if views:  # pixels further apart than their channels, the gaps poisoned
        x_store = np.full(x.shape[:3] + (C + 3,), np.nan, dtype)
        dy_store = np.full(dy.shape[:3] + (K + 2,), np.nan, dtype)
        x_store[..., :C], dy_store[..., :K] = x, dy
        x, dy = x_store[..., :C], dy_store[..., :K]
    xr, dyr = to_nchw(x, "NHWC").astype(np.float64), to_nchw(dy, "NHWC").astype(np.float64)
    expected = ref.conv2d_wgrad(dyr, xr, (K, C // groups, 1, 1), stride, 0, 1, groups)
    for _ in range(2):  # recycled memory full of NaN: every element must be written
        junk = np.full(w.size, np.nan, dtype)
        del junk
        _, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, groups=groups, layout="NHWC",
                                      needs_input_grad=(False, True, False))
        assert_close(to_nchw(dw, "NHWC"), expected, dyr.shape[0] * dyr.shape[2] * dyr.shape[3], dtype)
    return dw


@pytest.mark.parametrize("case", WGRAD_CASES, ids=[str(i) for i in range(len(WGRAD_CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wgrad_vs_reference(case, dtype):
    run_wgrad(np.random.default_rng(abs(hash(case)) % 2**32), case, dtype)


def test_wgrad_strided_views():
    run_wgrad(np.random.default_rng(4), WGRAD_CASES[1], np.float32, views=True)


def test_wgrad_same_bits_for_any_thread_count_and_run():
    assert_same_bits_for_thread_counts(lambda: run_wgrad(np.random.default_rng(6), WGRAD_CASES[3], np.float32))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_1x1_channels_last import DGRAD_CASES, WGRAD_CASES, run_dgrad, run_wgrad
for case in DGRAD_CASES:
    run_dgrad(rng, case, np.float32)
for case in WGRAD_CASES:
    run_wgrad(rng, case, np.float32)
""")
