"""conv2d forward and backward against the float64 reference, on chosen and random shapes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import check_all_passes, to_layout

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
EDGE_CASES = [
    (2, 3, 7, 6, 4, 3, 3, 1, 0, 1, 1),         # odd sizes
    (1, 1, 5, 5, 1, 1, 1, 1, 0, 1, 1),         # 1x1 everything
    (2, 4, 5, 5, 3, 5, 5, 1, 0, 1, 1),         # kernel = input: 1x1 output
    (2, 3, 9, 9, 5, 2, 2, 3, 0, 1, 1),         # stride > kernel: skipped pixels
    (1, 16, 6, 7, 16, 3, 3, 1, 1, 1, 1),       # channels = SIMD width
    (1, 17, 6, 7, 15, 3, 3, 1, 1, 1, 1),       # +-1
    (2, 13, 11, 7, 11, 3, 3, 2, 1, 1, 1),      # primes, strided
    (2, 6, 10, 9, 6, 3, 3, 1, 1, 1, 6),        # depthwise
    (2, 6, 10, 9, 12, 3, 3, 1, 1, 1, 3),       # grouped, channel multiplier 4
    (1, 4, 12, 11, 4, 3, 3, 1, 2, 2, 2),       # dilated
    (2, 3, 13, 14, 5, 3, 2, 1, "same", (2, 3), 1),  # asymmetric 'same'
    (1, 5, 10, 9, 3, 4, 2, 1, "same", 1, 1),   # even kernel 'same': odd extra pad at the end
    (2, 3, 6, 5, 4, 3, 3, 1, "valid", 1, 1),
    (1, 3, 23, 21, 8, 7, 7, 2, 3, 1, 1),       # stem-like 7x7 s2
    (2, 8, 9, 9, 4, 1, 1, 2, 0, 1, 1),         # strided 1x1
    (1, 2, 3, 3, 3, 3, 3, 1, 2, 1, 1),         # padding larger than the input's margin
    (1, 70, 9, 9, 66, 3, 3, 1, 1, 1, 1),       # more than one tile of channels
    (1, 2, 40, 37, 3, 3, 3, 1, 1, 1, 1),       # several pixel tiles with a remainder
    (3, 4, 8, 8, 6, 3, 3, (1, 2), (0, 1), (2, 1), 2),  # anisotropic everything
    (4, 3, 15, 13, 8, 7, 7, 2, 3, 1, 1),       # few input channels, batch: GEMM + col2im backward
    (5, 1, 12, 11, 7, 3, 3, 1, 0, 1, 1),       # one input channel (the seed model's first layer)
    (4, 4, 9, 10, 6, 3, 3, 2, 1, 2, 2),        # two input channels per group, strided, dilated
    # Small images with 16+ filters per group: GEMM + channels-last col2im backward, several images
    # per task, columns that do not fill the last block of 64.
    (7, 16, 5, 5, 32, 3, 3, 1, 0, 1, 1),       # the seed model's third layer, shrunk
    (3, 24, 9, 8, 32, 3, 3, 2, 1, 2, 2),       # grouped, strided, dilated
    (5, 9, 4, 5, 17, 2, 3, (1, 2), (1, 0), 1, 1),  # anisotropic, odd channel counts
    # 1x1 over 64k channels per group: channels-last wgrad reads full 256-pixel chunks of x in place
    # and copies the last, partial one.
    (3, 128, 10, 11, 12, 1, 1, 1, 0, 1, 1),
    (2, 128, 9, 16, 10, 1, 1, 1, 0, 1, 2),
    # planar input copied to channels-last in 16 x 16 blocks (full ones and the remainders)
    (2, 36, 7, 21, 8, 3, 3, 2, 1, 1, 1),
]


@pytest.mark.parametrize("case", EDGE_CASES, ids=[str(i) for i in range(len(EDGE_CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fprop_dgrad_wgrad_vs_reference(case, layout, dtype):
    rng = np.random.default_rng(abs(hash((case, layout))) % 2**32)
    check_all_passes(rng, *case, dtype=dtype, layout=layout)


def test_no_bias():
    check_all_passes(np.random.default_rng(1), 2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, bias=False)


@settings(max_examples=60, deadline=None)
@given(
    N=st.integers(1, 3), cg=st.integers(1, 5), kg=st.integers(1, 5), groups=st.integers(1, 3),
    H=st.integers(1, 12), W=st.integers(1, 12), R=st.integers(1, 4), S=st.integers(1, 4),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad=st.one_of(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.just("same"), st.just("valid")),
    layout=st.sampled_from(["NCHW", "NHWC"]), dtype=st.sampled_from([np.float32, np.float64]),
    bias=st.booleans(), seed=st.integers(0, 2**31),
)
def test_fuzz_against_reference(N, cg, kg, groups, H, W, R, S, stride, dilation, pad, layout, dtype, bias, seed):
    if pad == "same":
        stride = (1, 1)
        total_h, total_w = dilation[0] * (R - 1), dilation[1] * (S - 1)
    elif pad == "valid":
        total_h, total_w = 0, 0
    else:
        total_h, total_w = 2 * pad[0], 2 * pad[1]
    if H + total_h < dilation[0] * (R - 1) + 1 or W + total_w < dilation[1] * (S - 1) + 1:
        return  # no valid output; the error path is tested elsewhere
    check_all_passes(np.random.default_rng(seed), N, cg * groups, H, W, kg * groups, R, S, stride, pad, dilation,
                     groups, dtype=dtype, layout=layout, bias=bias)


def test_small_integers_are_exact():
    """Sums of small integers are exact in float32, so the kernels must match exactly."""
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (2, 5, 9, 8)).astype(np.float32)
    w = rng.integers(-3, 4, (6, 5, 3, 3)).astype(np.float32)
    b = rng.integers(-3, 4, 6).astype(np.float32)
    y = fc.conv2d(x, w, b, 2, 1)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, b, 2, 1))
    dy = rng.integers(-3, 4, y.shape).astype(np.float32)
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, 2, 1)
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy, x.shape, w, 2, 1))
    np.testing.assert_array_equal(dw, ref.conv2d_wgrad(dy, x, w.shape, 2, 1))
    np.testing.assert_array_equal(db, ref.conv2d_bgrad(dy))


def test_adjoint_identities():
    """<conv(x, w), dy> = <x, dgrad(dy, w)> = <w, wgrad(dy, x)> in float64."""
    rng = np.random.default_rng(3)
    for stride, pad, dil, groups in [(1, 1, 1, 1), (2, 0, 1, 2), (3, 2, 2, 1), (1, "same", (1, 2), 4)]:
        x = rng.standard_normal((2, 4, 11, 10))
        w = rng.standard_normal((8, 4 // groups, 3, 2))
        y = fc.conv2d(x, w, None, stride, pad, dil, groups)
        dy = rng.standard_normal(y.shape)
        dx, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, pad, dil, groups)
        lhs = np.vdot(y, dy)
        np.testing.assert_allclose(np.vdot(x, dx), lhs, rtol=1e-12)
        np.testing.assert_allclose(np.vdot(w, dw), lhs, rtol=1e-12)


def test_finite_differences():
    """Central differences of L = sum(conv2d(x, w, b) * dy) in float64."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((4, 1, 2, 3))
    b = rng.standard_normal(4)
    args = (2, 1, (1, 2), 2)  # stride, padding, dilation, groups
    dy = rng.standard_normal(fc.conv2d(x, w, b, *args).shape)
    grads = fc.conv2d_backward(dy, x, w, b, *args)
    h = 1e-6
    for i, arr in enumerate((x, w, b)):
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            saved = arr[idx]
            arr[idx] = saved + h
            plus = np.vdot(fc.conv2d(x, w, b, *args), dy)
            arr[idx] = saved - h
            minus = np.vdot(fc.conv2d(x, w, b, *args), dy)
            arr[idx] = saved
            numeric[idx] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-8)


def test_unbatched_matches_batched():
    rng = np.random.default_rng(5)
    for layout in ("NCHW", "NHWC"):
        x = rng.standard_normal((3, 9, 8) if layout == "NCHW" else (9, 8, 3)).astype(np.float32)
        w = to_layout(rng.standard_normal((4, 3, 3, 3)), layout).astype(np.float32)
        b = rng.standard_normal(4).astype(np.float32)
        y = fc.conv2d(x, w, b, 1, 1, layout=layout)
        y4 = fc.conv2d(x[None], w, b, 1, 1, layout=layout)
        assert y.shape == y4.shape[1:]
        np.testing.assert_array_equal(y, y4[0])
        dy = rng.standard_normal(y.shape).astype(np.float32)
        g3 = fc.conv2d_backward(dy, x, w, b, 1, 1, layout=layout)
        g4 = fc.conv2d_backward(dy[None], x[None], w, b, 1, 1, layout=layout)
        assert g3[0].shape == x.shape
        np.testing.assert_array_equal(g3[0], g4[0][0])
        np.testing.assert_array_equal(g3[1], g4[1])
        np.testing.assert_array_equal(g3[2], g4[2])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_empty_batch(layout):
    x = np.zeros((0, 3, 8, 8) if layout == "NCHW" else (0, 8, 8, 3), np.float32)
    w = to_layout(np.ones((4, 3, 3, 3)), layout).astype(np.float32)
    b = np.ones(4, np.float32)
    y = fc.conv2d(x, w, b, 1, 1, layout=layout)
    assert y.shape == ((0, 4, 8, 8) if layout == "NCHW" else (0, 8, 8, 4))
    dx, dw, db = fc.conv2d_backward(y, x, w, b, 1, 1, layout=layout)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros_like(w))
    np.testing.assert_array_equal(db, np.zeros_like(b))


def test_zero_output_channels():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((0, 3, 3, 3), np.float32)
    y = fc.conv2d(x, w)
    assert y.shape == (2, 0, 3, 3)
    dx, dw, _ = fc.conv2d_backward(y, x, w)
    np.testing.assert_array_equal(dx, np.zeros_like(x))
    assert dw.shape == w.shape


def _views(x):
    """The same values presented through different memory layouts."""
    yield "contiguous", x
    yield "fortran", np.asfortranarray(x)
    big = np.zeros(tuple(2 * s + 1 for s in x.shape), x.dtype)
    view = big[1::2, 1::2, 1::2, 1::2]
    view[...] = x
    yield "strided", view
    rev = np.ascontiguousarray(x[:, :, ::-1, ::-1])[:, :, ::-1, ::-1]
    yield "negative", rev
    ro = x.copy()
    ro.flags.writeable = False
    yield "readonly", ro


def test_any_strides_and_inputs_untouched():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 9, 7)).astype(np.float32)
    w = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y0 = fc.conv2d(x, w, b, 2, 1)
    dy = rng.standard_normal(y0.shape).astype(np.float32)
    g0 = fc.conv2d_backward(dy, x, w, b, 2, 1)
    for name, xv in _views(x):
        for wname, wv in _views(w):
            for dname, dyv in _views(dy):
                copies = [a.copy() for a in (xv, wv, dyv)]
                np.testing.assert_array_equal(fc.conv2d(xv, wv, b, 2, 1), y0, err_msg=f"{name}/{wname}")
                g = fc.conv2d_backward(dyv, xv, wv, b, 2, 1)
                for got, want in zip(g, g0):
                    np.testing.assert_array_equal(got, want, err_msg=f"{name}/{wname}/{dname}")
                for a, c in zip((xv, wv, dyv), copies):
                    np.testing.assert_array_equal(a, c)


def test_unaligned_input_is_handled():
    raw = np.zeros(2 * 3 * 6 * 6 * 4 + 1, np.uint8)
    x = np.frombuffer(raw.data, dtype=np.float32, offset=1, count=2 * 3 * 6 * 6).reshape(2, 3, 6, 6)
    assert not x.flags.aligned
    w = np.ones((2, 3, 3, 3), np.float32)
    np.testing.assert_array_equal(fc.conv2d(x, w), np.zeros((2, 2, 4, 4), np.float32))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_out_argument_every_element_written(layout):
    rng = np.random.default_rng(7)
    x = to_layout(rng.standard_normal((2, 3, 10, 9)), layout).astype(np.float32)
    w = to_layout(rng.standard_normal((5, 3, 3, 3)), layout).astype(np.float32)
    expected = fc.conv2d(x, w, None, 2, 1, layout=layout)
    out = np.full(expected.shape, np.nan, np.float32)
    result = fc.conv2d(x, w, None, 2, 1, layout=layout, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)


def test_outputs_fully_written_despite_garbage_memory():
    """Fresh outputs come from np.empty: fill the allocator's recycled memory with NaN first."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 10, 9))
    w = rng.standard_normal((5, 3, 3, 3))
    for _ in range(3):
        junk = np.full(10**5, np.nan)
        del junk
        y = fc.conv2d(x, w, None, 1, 1)
        assert np.isfinite(y).all()
        g = fc.conv2d_backward(y, x, w, None, 1, 1)
        assert np.isfinite(g[0]).all() and np.isfinite(g[1]).all()


def test_needs_input_grad_skips_work():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    dy = rng.standard_normal((1, 3, 3, 3))
    full = fc.conv2d_backward(dy, x, w, b)
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, needs_input_grad=(False, True, False))
    assert dx is None and db is None
    np.testing.assert_array_equal(dw, full[1])


def test_same_bits_for_one_and_two_threads_and_every_run():
    rng = np.random.default_rng(10)
    saved = fc.get_num_threads()
    # grouped 3x3; few input channels (col2im backward); 1x1 stride 2 (stride phases)
    for shape_x, shape_w, groups, stride in [((3, 24, 20, 19), (20, 12, 3, 3), 2, 1),
                                             ((5, 3, 20, 19), (8, 3, 5, 5), 1, 2),
                                             ((4, 16, 15, 15), (8, 16, 1, 1), 1, 2)]:
        x = rng.standard_normal(shape_x).astype(np.float32)
        w = rng.standard_normal(shape_w).astype(np.float32)
        b = rng.standard_normal(shape_w[0]).astype(np.float32)
        results = []
        try:
            for n in (1, 2, 1, 2, 3):
                fc.set_num_threads(n)
                y = fc.conv2d(x, w, b, stride, 1, 1, groups)
                results.append((y,) + fc.conv2d_backward(y, x, w, b, stride, 1, 1, groups))
        finally:
            fc.set_num_threads(saved)
        for other in results[1:]:
            for a, c in zip(results[0], other):
                assert a.tobytes() == c.tobytes()


def test_large_reduction_float32_accuracy():
    """wgrad sums over N*P*Q = 20000 terms: float32 must stay within the sqrt(L) tolerance."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 2, 50, 50)).astype(np.float32)
    w = rng.standard_normal((3, 2, 1, 1)).astype(np.float32)
    dy = rng.standard_normal((8, 3, 50, 50)).astype(np.float32)
    _, dw, _ = fc.conv2d_backward(dy, x, w)
    assert_close(dw, ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape), 20000, np.float32)
