"""conv2d with algorithm="winograd" (F(4x4, 3x3)) against the float64 reference.

Winograd trades multiplications for transforms whose rounding error is larger than a direct sum's.
algorithm="auto" picks it for float32 only because that error stays inside the tolerance every
algorithm is held to (C_WINOGRAD is the same factor as conv_cases.check_all_passes'), which these
tests check on several data distributions."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import to_layout, to_nchw

C_WINOGRAD = 8.0

CASES = [
    # (N, C, H, W, K, padding, groups)
    (2, 3, 9, 9, 4, 1, 1),
    (1, 5, 13, 10, 6, 0, 1),      # P, Q not multiples of 4
    (2, 16, 14, 14, 16, 1, 1),
    (1, 7, 6, 6, 5, 2, 1),        # padding 2: tiles reach past the input on both sides
    (3, 6, 11, 7, 9, "same", 3),  # grouped
    (1, 4, 3, 3, 2, 1, 1),        # a single tile
    (2, 70, 8, 9, 66, 1, 1),      # more than one GEMM panel and tile block of channels
    (5, 3, 17, 17, 4, 1, 1),      # several tile blocks over the batch
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(case, layout, dtype):
    N, C, H, W, K, padding, groups = case
    rng = np.random.default_rng(len(str(case)))
    x = to_layout(rng.standard_normal((N, C, H, W)), layout).astype(dtype)
    w = to_layout(rng.standard_normal((K, C // groups, 3, 3)), layout).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = fc.conv2d(x, w, b, 1, padding, 1, groups, layout=layout, algorithm="winograd")
    expected = ref.conv2d(to_nchw(x, layout).astype(np.float64), to_nchw(w, layout).astype(np.float64),
                          b.astype(np.float64), 1, padding, 1, groups)
    assert y.dtype == dtype
    assert_close(to_nchw(y, layout), expected, (C // groups) * 9, dtype, c=C_WINOGRAD)


def test_error_close_to_implicit_gemm():
    """Winograd's error stays within a small factor of the direct sum's on ResNet-like data."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 64, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 64, 3, 3)) / 24).astype(np.float32)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), None, 1, 1)
    err_w = np.abs(fc.conv2d(x, w, None, 1, 1, algorithm="winograd") - expected).max()
    err_g = np.abs(fc.conv2d(x, w, None, 1, 1, algorithm="implicit_gemm") - expected).max()
    assert err_w < 20 * err_g


def test_unbatched_and_empty():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 10, 10))
    w = rng.standard_normal((4, 3, 3, 3))
    y = fc.conv2d(x, w, None, 1, 1, algorithm="winograd")
    np.testing.assert_allclose(y, fc.conv2d(x[None], w, None, 1, 1)[0], rtol=1e-11, atol=1e-11)
    e = fc.conv2d(np.zeros((0, 3, 10, 10)), w, None, 1, 1, algorithm="winograd")
    assert e.shape == (0, 4, 10, 10)


def test_same_bits_for_any_thread_count():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 12, 21, 19)).astype(np.float32)
    w = rng.standard_normal((10, 12, 3, 3)).astype(np.float32)
    saved = fc.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            fc.set_num_threads(n)
            outs.append(fc.conv2d(x, w, None, 1, 1, algorithm="winograd").tobytes())
    finally:
        fc.set_num_threads(saved)
    assert outs[0] == outs[1] == outs[2]


@pytest.mark.parametrize("kwargs", [dict(weight_shape=(4, 3, 5, 5)), dict(stride=2), dict(dilation=2)])
def test_refused_where_it_does_not_apply(kwargs):
    x = np.zeros((1, 3, 12, 12), np.float32)
    w = np.zeros(kwargs.pop("weight_shape", (4, 3, 3, 3)), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        fc.conv2d(x, w, None, padding=1, algorithm="winograd", **kwargs)


@pytest.mark.parametrize("case", CASES + [(2, 4, 9, 8, 6, 3, 2)], ids=[str(i) for i in range(len(CASES) + 1)])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward(case, layout, dtype):
    """grad_input by Winograd on rotated filters (padding <= 2; larger padding takes the implicit
    GEMM), grad_weight and grad_bias as for any algorithm."""
    N, C, H, W, K, padding, groups = case
    rng = np.random.default_rng(len(str(case)) + 7)
    x = to_layout(rng.standard_normal((N, C, H, W)), layout).astype(dtype)
    w = to_layout(rng.standard_normal((K, C // groups, 3, 3)), layout).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = fc.conv2d(x, w, b, 1, padding, 1, groups, layout=layout)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, 1, padding, 1, groups, layout=layout, algorithm="winograd")
    xr, wr, dyr = (to_nchw(a, layout).astype(np.float64) for a in (x, w, dy))
    assert dx.dtype == dtype and dx.shape == x.shape
    assert_close(to_nchw(dx, layout), ref.conv2d_dgrad(dyr, xr.shape, wr, 1, padding, 1, groups),
                 (K // groups) * 9, dtype, c=C_WINOGRAD)
    want = fc.conv2d_backward(dy, x, w, b, 1, padding, 1, groups, layout=layout)
    np.testing.assert_array_equal(dw, want[1])
    np.testing.assert_array_equal(db, want[2])


@pytest.mark.parametrize("dist", ["normal", "uniform01", "lognormal"])
@pytest.mark.parametrize("C, K", [(16, 16), (64, 64), (256, 128)])
def test_float32_error_inside_the_common_tolerance(dist, C, K):
    """The condition under which algorithm="auto" may choose Winograd."""
    rng = np.random.default_rng(C + K)
    shape = (2, C, 12, 12)
    x = {"normal": rng.standard_normal(shape), "uniform01": rng.random(shape),
         "lognormal": rng.lognormal(0, 2, shape)}[dist].astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    y = fc.conv2d(x, w, None, 1, 1, algorithm="winograd")
    assert_close(y, ref.conv2d(x.astype(np.float64), w.astype(np.float64), None, 1, 1), C * 9, np.float32, c=8.0)


def test_auto_picks_winograd_for_large_float32_layers_only():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 32, 16, 16)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    auto = fc.conv2d(x, w, None, 1, 1)
    assert auto.tobytes() == fc.conv2d(x, w, None, 1, 1, algorithm="winograd").tobytes()
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert fc.conv2d(x64, w64, None, 1, 1).tobytes() == fc.conv2d(x64, w64, None, 1, 1,
                                                                   algorithm="implicit_gemm").tobytes()
    small = x[:, :8]
    assert fc.conv2d(small, w[:, :8], None, 1, 1).tobytes() == fc.conv2d(small, w[:, :8], None, 1, 1,
                                                                         algorithm="implicit_gemm").tobytes()
