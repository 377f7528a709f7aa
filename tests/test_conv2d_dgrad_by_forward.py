"""Backward-data as forward passes of dy, one per stride phase (csrc/cpu/conv2d_dgrad_by_forward.cpp),
into planar dx: the phases written to dense planes of a workspace, then interleaved into dx."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa

# (N, C, H, W, K, R, S, stride, padding, dilation, groups): K/groups >= 16, several taps, and more
# than 144 dy pixels per image (smaller images take the col2im form).
CASES = [
    (2, 32, 30, 30, 64, 3, 3, 2, 1, 1, 1),         # ResNet's strided 3x3, small
    (1, 16, 31, 29, 32, 3, 3, 2, 1, 1, 1),         # odd H and W: phases of different sizes
    (1, 8, 50, 52, 24, 3, 3, 3, 0, 1, 1),          # stride 3, no padding: columns no tap reads
    (2, 12, 40, 50, 32, 2, 2, 3, 0, 1, 1),         # stride > kernel: phases no tap reaches
    (1, 16, 20, 35, 40, 3, 5, (1, 2), (1, 2), 1, 1),  # one row phase, two column phases
    (1, 16, 40, 50, 32, 3, 3, (2, 3), 1, (2, 1), 2),  # groups, dilation, anisotropic stride
    # Strided 1x1 layers on planes of fewer than 64 dy pixels and 6 or 7 channels per group (larger
    # planes take conv2d_dgrad_1x1_planar.cpp, more channels the col2im form).
    (2, 6, 13, 15, 32, 1, 1, 2, 0, 1, 1),          # strided 1x1: 3 of 4 phases all zeros, odd H
    (1, 14, 19, 14, 32, 1, 1, (3, 2), 0, 1, 2),    # strided 1x1, groups: rows and columns of zeros
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_dgrad_vs_reference(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    y = fc.conv2d(x, w, None, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, padding, dilation, groups)
    dx_alone = fc.conv2d_backward(dy, x, w, None, stride, padding, dilation, groups,
                                  needs_input_grad=(True, False, False))[0]
    dx_ref = ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, padding, dilation, groups)
    for d in (dx, dx_alone):
        assert_close(d, dx_ref, (K // groups) * R * S, dtype)
    assert_close(dw, ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape, stride, padding,
                                      dilation, groups), N * y.shape[2] * y.shape[3], dtype)


def test_exact_on_small_integers():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (2, 16, 31, 27)).astype(np.float32)
    w = rng.integers(-3, 4, (32, 16, 3, 3)).astype(np.float32)
    dy = rng.integers(-3, 4, (2, 32, 16, 14)).astype(np.float32)
    dx = fc.conv2d_backward(dy, x, w, None, 2, 1, needs_input_grad=(True, False, False))[0]
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), 2, 1))


@pytest.mark.parametrize("stride", [2, (2, 3)])
def test_strided_1x1_writes_every_value(stride):
    """The phases no tap reaches are never in the workspace: their zeros must still reach every value
    of a NaN-filled dx, and the rest be exact on small integers."""
    from fastconv import _C

    rng = np.random.default_rng(4)
    x = np.zeros((2, 6, 13, 15), np.float32)  # fewer than 64 dy pixels per plane (see CASES)
    w = rng.integers(-3, 4, (48, 6, 1, 1)).astype(np.float32)
    dy = rng.integers(-3, 4, fc.conv2d(x, w, None, stride).shape).astype(np.float32)
    dx = np.full(x.shape, np.nan, np.float32)
    s = (stride, stride) if isinstance(stride, int) else stride
    _C.conv2d_dgrad(dy, w, dx, s, (0, 0), (1, 1), 1)
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, 0))


def test_same_bits_for_thread_counts():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 32, 33, 31)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((2, 64, 17, 16)).astype(np.float32)
    assert_same_bits_for_thread_counts(lambda: fc.conv2d_backward(dy, x, w, None, 2, 1)[0])


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_dgrad_by_forward import CASES
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close
for N, C, H, W, K, R, S, stride, padding, dilation, groups in CASES[:4]:
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
    dy = rng.standard_normal(fc.conv2d(x, w, None, stride, padding, dilation, groups).shape).astype(np.float32)
    dx = fc.conv2d_backward(dy, x, w, None, stride, padding, dilation, groups, needs_input_grad=(True, False, False))[0]
    assert_close(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), stride, padding, dilation,
                                      groups), (K // groups) * R * S, np.float32)
""")
