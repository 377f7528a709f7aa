"""Weight gradient on small images as an indirect GEMM over planar input rows
(conv2d_wgrad_planar_indirect_gemm: one group, unit horizontal stride, 8..64 input channels,
16..64 filters, rows of at least 8 outputs, at most 144 output pixels), against the float64
reference, in both layouts and on every ISA path."""


import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, R, S, stride, padding, dilation)
CASES = [
    (3, 32, 13, 13, 64, 3, 3, 1, 0, 1),              # the seed model's second layer, dy used in place (NHWC)
    (2, 9, 10, 12, 17, 3, 2, (2, 1), 1, (1, 2)),     # vertical stride, dilation, padding; J = 54: a partial tile
    (2, 12, 9, 8, 40, 3, 3, 1, "same", 1),           # 'same', K = 40 (dy packed)
    (1, 8, 9, 9, 64, 2, 2, 1, 0, 1),                 # one image, even kernel
    (20, 16, 10, 10, 16, 3, 3, 1, 0, 1),             # several reduction parts
    (2, 64, 12, 14, 63, 3, 3, 1, (2, 0), 1),         # 64 channels, K = 63, rows padded above and below
]


def run_case(rng, case, dtype, layout):
    N, C, H, W, K, R, S, stride, padding, dilation = case
    x64 = rng.standard_normal((N, C, H, W))
    w64 = rng.standard_normal((K, C, R, S))
    x, w = to_layout(x64, layout).astype(dtype), to_layout(w64, layout).astype(dtype)
    y = fc.conv2d(x, w, None, stride, padding, dilation, layout=layout)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for _ in range(2):  # recycled memory full of NaN: every element must be written
        junk = np.full(w.size, np.nan, dtype)
        del junk
        _, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, padding, dilation, layout=layout,
                                      needs_input_grad=(False, True, False))
        xr, dyr = to_nchw(x, layout).astype(np.float64), to_nchw(dy, layout).astype(np.float64)
        expected = ref.conv2d_wgrad(dyr, xr, (K, C, R, S), stride, padding, dilation)
        P, Q = dyr.shape[2:]
        assert_close(to_nchw(dw, layout), expected, N * P * Q, dtype)
    return dw


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wgrad_vs_reference(case, layout, dtype):
    run_case(np.random.default_rng(abs(hash(case)) % 2**32), case, dtype, layout)


def test_same_bits_for_any_thread_count_and_run():
    assert_same_bits_for_thread_counts(lambda: run_case(np.random.default_rng(5), CASES[4], np.float32, "NHWC"))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_wgrad_planar import CASES, run_case
for case in CASES:
    run_case(rng, case, np.float32, "NHWC")
""")
