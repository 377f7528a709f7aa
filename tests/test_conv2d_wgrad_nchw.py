"""Weight and bias gradients on planar (NCHW) data with 8+ input channels and 16+ filters per group,
on every form conv2d_wgrad_implicit_gemm picks for it: the indirect GEMM over padded planar rows
(one group, unit horizontal stride, rows of 8+ outputs, up to 64 filters or up to 128 on rows of
16+) and channels-last copies of x and dy otherwise (more filters, shorter rows, horizontal
stride, groups), including the copies' row-end blocks on widths that are not multiples of 16 and
inputs whose rows are not dense. Against the float64 reference, in both dtypes, on every ISA path,
with the same bits for 1, 2 and 3 threads."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (2, 16, 20, 21, 64, 3, 3, 1, 1, 1, 1),          # indirect GEMM: one block of filters, 420 output pixels
    (1, 8, 18, 19, 128, 3, 3, 1, 1, 1, 1),          # indirect GEMM: two blocks of filters, rows of 19
    (2, 12, 12, 18, 100, 3, 3, (2, 1), 1, 1, 1),    # indirect GEMM: vertical stride, a partial filter block
    (2, 16, 12, 12, 128, 3, 3, 1, 1, 1, 1),         # copies: 128 filters on rows of 12
    (1, 8, 9, 10, 160, 3, 3, 1, 1, 1, 1),           # copies: more than 128 filters
    (2, 16, 29, 30, 24, 3, 3, 2, 1, 1, 1),          # copies: horizontal stride; widths 30 and 15
    (2, 32, 17, 23, 48, 3, 3, 1, 2, 2, 2),          # copies: groups, dilation
    (3, 19, 9, 33, 17, 2, 3, 1, 0, 1, 1),           # indirect GEMM: odd channels and filters, even kernel height
]


def run_case(rng, case, dtype, sliced=False):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    x64 = rng.standard_normal((N, C, H, W))
    w64 = rng.standard_normal((K, C // groups, R, S))
    x = x64.astype(dtype)
    if sliced:  # rows that are not dense: a view into wider planes
        wide = np.full((N, C, H, W + 3), np.nan, dtype)
        wide[..., 1:W + 1] = x
        x = wide[..., 1:W + 1]
    w = w64.astype(dtype)
    b = np.zeros(K, dtype)
    y = fc.conv2d(x, w, b, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    _, dw, db = fc.conv2d_backward(dy, x, w, b, stride, padding, dilation, groups, needs_input_grad=(False, True, True))
    expected = ref.conv2d_wgrad(dy.astype(np.float64), x64.astype(dtype).astype(np.float64), w.shape, stride, padding,
                                dilation, groups)
    P, Q = dy.shape[2:]
    assert dw.dtype == dtype and db.dtype == dtype
    assert_close(dw, expected, N * P * Q, dtype)
    assert_close(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), N * P * Q, dtype)
    return dw


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wgrad_vs_reference(case, dtype):
    run_case(np.random.default_rng(sum(map(hash, map(str, case))) % 2**32), case, dtype)


@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=["indirect", "copies"])
def test_rows_not_dense(case):
    run_case(np.random.default_rng(3), case, np.float32, sliced=True)


@pytest.mark.parametrize("case", [CASES[1], CASES[4]], ids=["indirect", "copies"])
def test_same_bits_for_any_thread_count_and_run(case):
    assert_same_bits_for_thread_counts(lambda: run_case(np.random.default_rng(5), case, np.float32))


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_wgrad_nchw import CASES, run_case
for case in CASES:
    run_case(rng, case, np.float32)
""")
