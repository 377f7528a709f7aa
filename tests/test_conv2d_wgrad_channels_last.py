"""Backward-weight on channels-last x and dy (conv2d_wgrad_channels_last): the 1x1 stride-1 form that
reads x in place and the gathered form of larger filters, over several reduction parts and a short
last chunk, with K/G not a multiple of the 6-row panels, against the float64 reference over memory
poisoned with NaN first; the same bits at every thread count; every ISA path."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, R, padding, groups)
CASES = [
    (3, 128, 32, 41, 13, 1, 0, 1),   # 3936 pixels: four parts, the last short; K = 13: a 1-row last panel
    (2, 64, 30, 30, 64, 1, 0, 1),    # K = 64: ten full panels and one of 4 rows (the ResNet 1x1 layer's shape)
    (2, 16, 23, 25, 7, 3, 1, 1),     # 3x3 with padding: the gathered form
    (2, 128, 17, 19, 10, 1, 0, 2),   # two groups of 64 channels
]


def run_wgrad(rng, case, dtype=np.float32):
    N, C, H, W, K, R, pad, groups = case
    x = to_layout(rng.standard_normal((N, C, H, W)), "NHWC").astype(dtype)
    w = to_layout(rng.standard_normal((K, C // groups, R, R)), "NHWC").astype(dtype)
    dy = rng.standard_normal(fc.conv2d(x, w, None, 1, pad, 1, groups, layout="NHWC").shape).astype(dtype)
    junk = np.full(w.size, np.nan, dtype)  # recycled by dw: every element must be written
    del junk
    _, dw, _ = fc.conv2d_backward(dy, x, w, None, 1, pad, 1, groups, layout="NHWC",
                                  needs_input_grad=(False, True, False))
    return x, dy, dw


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wgrad_vs_reference(case, dtype):
    x, dy, dw = run_wgrad(np.random.default_rng(abs(hash(case)) % 2**32), case, dtype)
    N, C, H, W, K, R, pad, groups = case
    dyr = to_nchw(dy, "NHWC").astype(np.float64)
    expected = ref.conv2d_wgrad(dyr, to_nchw(x, "NHWC").astype(np.float64), (K, C // groups, R, R), 1, pad, 1, groups)
    assert_close(to_nchw(dw, "NHWC"), expected, dyr.shape[0] * dyr.shape[2] * dyr.shape[3], dtype)


@pytest.mark.parametrize("case", CASES[:2], ids=["0", "1"])
def test_wgrad_same_bits_for_any_thread_count_and_run(case):
    assert_same_bits_for_thread_counts(lambda: run_wgrad(np.random.default_rng(8), case)[2])


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_wgrad_channels_last import CASES, test_wgrad_vs_reference
for case in CASES:
    test_wgrad_vs_reference(case, np.float32)
""")
