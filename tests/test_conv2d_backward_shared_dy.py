"""conv2d_backward with planar dy where the forms of both gradients read dy with contiguous channels
(dgrad by col2im or by forward passes, wgrad by the planar indirect GEMM with 64 filters or on
channels-last copies): one channels-last copy of dy serves both. The gradients must be the same
bits as when each is asked for alone, match the float64 reference, and not depend on the thread
count or the ISA path."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = [
    (3, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1),          # the seed model's second layer: col2im + indirect GEMM
    (2, 16, 30, 31, 24, 3, 3, 2, 1, 1, 1),          # strided: forward passes + channels-last copies
    (2, 32, 17, 15, 48, 3, 3, (2, 1), 1, 1, 2),     # grouped, rows of 8 outputs
    (1, 9, 11, 10, 64, 3, 2, 1, (1, 0), (1, 2), 1),  # odd channels, dilation, uneven padding
    (2, 24, 10, 10, 40, 3, 3, 1, 1, 1, 1),          # 40 filters: the indirect GEMM packs dy itself (one pass each)
]


def gradients(case, dtype, rng, sliced_dy=False):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = fc.conv2d(x, w, b, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    if sliced_dy:  # planar dy whose planes are not dense
        wide = np.full(dy.shape[:3] + (dy.shape[3] + 2,), np.nan, dtype)
        wide[..., 2:] = dy
        dy = wide[..., 2:]
    args = (dy, x, w, b, stride, padding, dilation, groups)
    together = fc.conv2d_backward(*args)
    alone = [fc.conv2d_backward(*args, needs_input_grad=[i == j for j in range(3)])[i] for i in range(3)]
    return x, w, dy, together, alone


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_and_each_alone(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    x, w, dy, (dx, dw, db), alone = gradients(case, dtype, np.random.default_rng(len(str(case))))
    for got, single in zip((dx, dw, db), alone):
        assert got.dtype == dtype
        assert got.tobytes() == single.tobytes()
    dy64, x64, w64 = dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64)
    P, Q = dy.shape[2:]
    assert_close(dx, ref.conv2d_dgrad(dy64, x.shape, w64, stride, padding, dilation, groups),
                 (K // groups) * R * S, dtype)
    assert_close(dw, ref.conv2d_wgrad(dy64, x64, w.shape, stride, padding, dilation, groups), N * P * Q, dtype)
    assert_close(db, ref.conv2d_bgrad(dy64), N * P * Q, dtype)


def test_dy_planes_not_dense():
    case = CASES[0]
    _, _, dy, together, alone = gradients(case, np.float32, np.random.default_rng(7), sliced_dy=True)
    assert not dy.flags.c_contiguous
    for got, single in zip(together, alone):
        assert got.tobytes() == single.tobytes()


@pytest.mark.parametrize("case", CASES[:2], ids=["col2im", "strided"])
def test_same_bits_for_any_thread_count(case):
    assert_same_bits_for_thread_counts(lambda: gradients(case, np.float32, np.random.default_rng(5))[3])


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_backward_shared_dy import CASES, gradients
for case in CASES:
    _, _, _, together, alone = gradients(case, np.float32, rng)
    for got, single in zip(together, alone):
        assert got.tobytes() == single.tobytes()
""")
