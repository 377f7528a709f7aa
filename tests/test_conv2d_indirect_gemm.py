"""Forward by indirect GEMM (csrc/cpu/conv2d_fprop_indirect_gemm.cpp): channels-last input read in
place (NHWC) or through one channels-last copy (NCHW with 16 or more channels per group and several
taps), outputs stored per pixel (NHWC) or through 16 x 16 transposes into channel planes (NCHW)."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, R, S, stride, padding, groups)
CASES = [
    (2, 64, 13, 13, 128, 3, 3, 2, 1, 1),   # ResNet's strided 3x3, small: 49-pixel images split 16-pixel runs
    (1, 32, 30, 30, 40, 3, 3, 2, 1, 1),    # K = 40: a 32-channel block and 8 channels past whole 16s
    (3, 16, 9, 20, 70, 3, 3, 1, 1, 1),     # K = 70: two 64-channel blocks, the second of 6
    (2, 32, 11, 12, 48, 3, 2, (2, 1), (1, 0), 2),  # groups, anisotropic stride
    (1, 24, 40, 33, 20, 5, 5, 2, 2, 1),    # a 340-pixel image: runs across blocks of 96 pixels
    (2, 16, 5, 210, 24, 3, 3, 1, 1, 1),    # rows longer than a block: a band of one row in three blocks
    (1, 20, 7, 7, 16, 7, 7, 3, 3, 1),      # C = 20: a 16-channel block and 4 channels; taps in the padding
]


def _problem(rng, N, C, H, W, K, R, S, groups, layout, bias=True):
    x64 = rng.standard_normal((N, C, H, W))
    w64 = rng.standard_normal((K, C // groups, R, S))
    b = rng.standard_normal(K).astype(np.float32) if bias else None
    return to_layout(x64, layout).astype(np.float32), to_layout(w64, layout).astype(np.float32), b


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES)
def test_forward_vs_reference(case, layout, bias):
    N, C, H, W, K, R, S, stride, padding, groups = case
    rng = np.random.default_rng(1)
    x, w, b = _problem(rng, N, C, H, W, K, R, S, groups, layout, bias)
    y = fc.conv2d(x, w, b, stride, padding, 1, groups, layout=layout)
    y_ref = ref.conv2d(to_nchw(x, layout).astype(np.float64), to_nchw(w, layout).astype(np.float64),
                       None if b is None else b.astype(np.float64), stride, padding, 1, groups)
    assert_close(to_nchw(y, layout), y_ref, (C // groups) * R * S, np.float32)


def test_float64_vs_reference():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 64, 13, 13))
    w = rng.standard_normal((40, 64, 3, 3))
    b = rng.standard_normal(40)
    assert_close(fc.conv2d(x, w, b, 2, 1), ref.conv2d(x, w, b, 2, 1), 64 * 9, np.float64)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_strided_output_planes(layout):
    """Output rows that are not back to back (a view into wider rows): plane runs end at each row."""
    rng = np.random.default_rng(3)
    x, w, b = _problem(rng, 2, 32, 30, 30, 48, 3, 3, 1, layout)
    expected = fc.conv2d(x, w, b, 2, 1, layout=layout)
    wide = list(expected.shape)
    wide[3 if layout == "NCHW" else 2] += 5
    base = np.full(wide, np.nan, np.float32)
    out = base[..., :15] if layout == "NCHW" else base[:, :, :15, :]
    result = fc.conv2d(x, w, b, 2, 1, layout=layout, out=out)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(out, expected)
    assert np.isnan(base[..., 15:] if layout == "NCHW" else base[:, :, 15:, :]).all()


@pytest.mark.parametrize("view", ["every_other_column", "channel_slice", "rows_reversed"])
def test_planar_input_views(view):
    """Planar input of any strides: the bands' row copies read it where it lies."""
    rng = np.random.default_rng(6)
    base = rng.standard_normal((2, 48, 18, 34)).astype(np.float32)
    x = {"every_other_column": base[:, :32, :, ::2], "channel_slice": base[:, 5:37, :, :17],
         "rows_reversed": base[:, 7:39, ::-1, 3:20]}[view]
    w = rng.standard_normal((40, 32, 3, 3)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    y = fc.conv2d(x, w, b, 2, 1)
    assert_close(y, ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1), 32 * 9,
                 np.float32)
    np.testing.assert_array_equal(y, fc.conv2d(np.ascontiguousarray(x), w, b, 2, 1))


def test_layouts_give_the_same_bits():
    """Planar input (band copies) and channels-last input (read in place) run the same sums."""
    rng = np.random.default_rng(7)
    x, w, b = _problem(rng, 2, 64, 23, 23, 80, 3, 3, 1, "NCHW")
    y = fc.conv2d(x, w, b, 2, 1)
    y_nhwc = fc.conv2d(to_layout(x, "NHWC"), to_layout(w, "NHWC"), b, 2, 1, layout="NHWC")
    np.testing.assert_array_equal(y, to_nchw(y_nhwc, "NHWC"))


def test_exact_on_small_integers():
    """Integer data small enough that every partial sum is exact: any missing or doubled tap,
    channel or bias shows as an exact mismatch."""
    rng = np.random.default_rng(4)
    for layout in ("NCHW", "NHWC"):
        x = rng.integers(-3, 4, (2, 64, 15, 15)).astype(np.float32)
        w = rng.integers(-3, 4, (48, 64, 3, 3)).astype(np.float32)
        b = rng.integers(-3, 4, 48).astype(np.float32)
        y = fc.conv2d(to_layout(x, layout), to_layout(w, layout), b, 2, 1, layout=layout)
        np.testing.assert_array_equal(to_nchw(y, layout), ref.conv2d(x.astype(np.float64), w.astype(np.float64),
                                                                     b.astype(np.float64), 2, 1))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_same_bits_for_thread_counts(layout):
    rng = np.random.default_rng(5)
    x, w, b = _problem(rng, 2, 64, 21, 21, 128, 3, 3, 1, layout)
    assert_same_bits_for_thread_counts(lambda: fc.conv2d(x, w, b, 2, 1, layout=layout))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_indirect_gemm import CASES, _problem
from conv_cases import to_nchw
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close
for layout in ("NCHW", "NHWC"):
    for N, C, H, W, K, R, S, stride, padding, groups in CASES[:3]:
        x, w, b = _problem(rng, N, C, H, W, K, R, S, groups, layout)
        y = fc.conv2d(x, w, b, stride, padding, 1, groups, layout=layout)
        y_ref = ref.conv2d(to_nchw(x, layout).astype(np.float64), to_nchw(w, layout).astype(np.float64),
                           b.astype(np.float64), stride, padding, 1, groups)
        assert_close(to_nchw(y, layout), y_ref, (C // groups) * R * S, np.float32)
""")
