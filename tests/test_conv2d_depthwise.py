"""Depthwise conv2d (groups == in_channels, any channel multiplier) on the direct kernels
(algorithm="direct", also what "auto" picks): fprop, dgrad, wgrad and bias grad against the float64
reference, in both layouts, float32 and float64, on every ISA path."""


import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import run_under_isa, to_layout, to_nchw


def check_depthwise(rng, N, C, M, H, W, R, S, stride=1, padding=0, dilation=1, dtype=np.float32, layout="NCHW",
                    algorithm="direct", bias=True, views=None):
    """conv2d and conv2d_backward with groups=C, K=C*M against the reference; returns the results.

    `views(a)` may present each input array through other strides (same values)."""
    K = C * M
    x = to_layout(rng.standard_normal((N, C, H, W)), layout).astype(dtype)
    w = to_layout(rng.standard_normal((K, 1, R, S)), layout).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    xr, wr = to_nchw(x, layout).astype(np.float64), to_nchw(w, layout).astype(np.float64)
    br = None if b is None else b.astype(np.float64)
    xv, wv = (x, w) if views is None else (views(x), views(w))

    y = fc.conv2d(xv, wv, b, stride, padding, dilation, C, layout=layout, algorithm=algorithm)
    y_ref = ref.conv2d(xr, wr, br, stride, padding, dilation, C)
    assert y.dtype == dtype and to_nchw(y, layout).shape == y_ref.shape
    assert_close(to_nchw(y, layout), y_ref, R * S, dtype)

    dy = rng.standard_normal(y.shape).astype(dtype)
    dyr = to_nchw(dy, layout).astype(np.float64)
    dyv = dy if views is None else views(dy)
    dx, dw, db = fc.conv2d_backward(dyv, xv, wv, b, stride, padding, dilation, C, layout=layout, algorithm=algorithm)
    assert dx.shape == x.shape and dw.shape == w.shape and dx.dtype == dtype and dw.dtype == dtype
    P, Q = y_ref.shape[2:]
    assert_close(to_nchw(dx, layout), ref.conv2d_dgrad(dyr, xr.shape, wr, stride, padding, dilation, C), M * R * S,
                 dtype)
    assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dyr, xr, wr.shape, stride, padding, dilation, C), N * P * Q,
                 dtype)
    if bias:
        assert_close(db, ref.conv2d_bgrad(dyr), N * P * Q, dtype)
    else:
        assert db is None
    return y, dx, dw, db


# (N, C, M, H, W, R, S, stride, padding, dilation)
CASES = [
    (2, 16, 1, 9, 10, 3, 3, 1, 1, 1),                 # SIMD width, the suite's shape in small
    (2, 7, 2, 11, 13, 3, 3, 2, 1, 1),                  # multiplier 2, strided
    (1, 17, 1, 12, 9, 5, 3, (2, 3), (2, 1), (2, 1)),   # anisotropic stride/padding/dilation
    (3, 33, 1, 8, 40, 3, 3, 1, "same", (1, 2)),        # 'same' with dilation, wide rows (several vectors)
    (1, 1, 1, 5, 5, 1, 1, 1, 0, 1),                    # one channel, 1x1
    (1, 1, 3, 6, 7, 3, 3, 1, 1, 1),                    # C = 1: K = multiplier
    (2, 15, 1, 7, 7, 7, 7, 1, 3, 1),                   # 7x7: 49 taps (several tap groups)
    (1, 128, 1, 10, 11, 3, 3, 3, 2, 1),                # stride 3, many channels
    (2, 3, 2, 9, 9, 2, 2, 1, 0, 3),                    # even kernel, dilation 3
    (1, 4, 1, 3, 3, 3, 3, 1, 2, 1),                    # padding wider than the input's margin
    (1, 5, 1, 4, 30, 3, 3, 1, 4, 3),                   # every pixel an edge pixel in places
    (2, 17, 2, 6, 5, 3, 3, 2, "valid", 1),             # odd sizes, stride 2, valid
    (1, 8, 1, 9, 9, 3, 3, 4, 0, 1),                    # stride > kernel: skipped input pixels
    (1, 6, 1, 5, 5, 5, 5, 1, 0, 1),                    # kernel = input: 1x1 output
    (2, 9, 2, 12, 20, 3, 3, (1, 2), "valid", (2, 1)),  # NHWC staged rows (multiplier) with strides
    (6, 3, 1, 30, 70, 3, 3, 1, 0, 1),                  # wgrad: 3 fixed chunks, crossing images
    (4, 5, 2, 41, 43, 3, 3, 1, 1, 1),                  # wgrad: 2 chunks, multiplier 2
    # 3x3, unit strides: rows read in place, padding columns under lane masks
    (2, 3, 1, 9, 56, 3, 3, 1, 1, 1),                   # the suite's row width: 3.5 vectors
    (1, 2, 1, 7, 1, 3, 3, 1, 1, 1),                    # one column: every lane of every tap masked
    (1, 2, 2, 6, 70, 3, 3, 1, (1, 3), 1),              # multiplier 2, padding 3 columns, 4.4 vectors
    (2, 3, 1, 13, 37, 3, 3, 1, (0, 2), 1),             # no row padding, odd row count
    (1, 2, 1, 5, 150, 3, 3, 1, 0, 1),                  # valid, rows of several full strips
    (2, 20, 1, 7, 1, 3, 3, 1, (1, 2), 1),              # NHWC: one column, channel tail, wide padding
    (1, 24, 1, 6, 9, 3, 3, 1, 0, 1),                   # NHWC: no padding, pixel blocks end mid-row
    (1, 2, 1, 4, 5, 3, 3, 1, (1, 300), 1),             # padding wider than 8 strips: edge masks rebuilt per use
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_vs_reference(case, layout, dtype):
    check_depthwise(np.random.default_rng(abs(hash((case, layout))) % 2**32), *case, dtype=dtype, layout=layout)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("C", [1, 7, 15, 16, 17, 33, 128])
@pytest.mark.parametrize("M", [1, 2])
def test_channel_counts_around_simd_widths(layout, C, M):
    rng = np.random.default_rng(C * 10 + M)
    check_depthwise(rng, 2, C, M, 6, 19, 3, 3, 1, 1, 1, np.float32, layout)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_no_bias_and_auto_is_direct(layout):
    rng = np.random.default_rng(1)
    y, dx, dw, db = check_depthwise(rng, 2, 8, 1, 7, 9, 3, 3, 1, 1, 1, np.float32, layout, algorithm="auto",
                                    bias=False)
    # auto picks the direct kernels for depthwise problems: the same bits
    rng = np.random.default_rng(1)
    y2, dx2, dw2, _ = check_depthwise(rng, 2, 8, 1, 7, 9, 3, 3, 1, 1, 1, np.float32, layout, bias=False)
    for a, b in ((y, y2), (dx, dx2), (dw, dw2)):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_direct_agrees_with_implicit_gemm(layout):
    rng = np.random.default_rng(2)
    x = to_layout(rng.standard_normal((2, 12, 11, 13)), layout).astype(np.float32)
    w = to_layout(rng.standard_normal((24, 1, 3, 3)), layout).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    args = (b, 2, 1, (1, 2), 12)
    y_d = fc.conv2d(x, w, *args, layout=layout, algorithm="direct")
    y_g = fc.conv2d(x, w, *args, layout=layout, algorithm="implicit_gemm")
    assert_close(y_d, y_g, 9, np.float32)
    dy = rng.standard_normal(y_d.shape).astype(np.float32)
    g_d = fc.conv2d_backward(dy, x, w, *args, layout=layout, algorithm="direct")
    g_g = fc.conv2d_backward(dy, x, w, *args, layout=layout, algorithm="implicit_gemm")
    assert_close(g_d[0], g_g[0], 18, np.float32)
    assert_close(g_d[1], g_g[1], dy.size // 24, np.float32)
    assert_close(g_d[2], g_g[2], dy.size // 24, np.float32)


def test_small_integers_are_exact():
    """Sums of small integers are exact in float32: fprop, dgrad and wgrad must match exactly."""
    rng = np.random.default_rng(3)
    for layout in ("NCHW", "NHWC"):
        x = rng.integers(-3, 4, (2, 5, 9, 8)).astype(np.float32)
        w = rng.integers(-3, 4, (10, 1, 3, 3)).astype(np.float32)
        y = fc.conv2d(to_layout(x, layout), to_layout(w, layout), None, 2, 1, 1, 5, layout=layout,
                      algorithm="direct")
        np.testing.assert_array_equal(to_nchw(y, layout), ref.conv2d(x, w, None, 2, 1, 1, 5))
        dy = rng.integers(-3, 4, to_nchw(y, layout).shape).astype(np.float32)
        dx, dw, _ = fc.conv2d_backward(to_layout(dy, layout), to_layout(x, layout), to_layout(w, layout), None, 2, 1,
                                       1, 5, layout=layout, algorithm="direct")
        np.testing.assert_array_equal(to_nchw(dx, layout), ref.conv2d_dgrad(dy, x.shape, w, 2, 1, 1, 5))
        np.testing.assert_array_equal(to_nchw(dw, layout), ref.conv2d_wgrad(dy, x, w.shape, 2, 1, 1, 5))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_unbatched_and_empty_batch(layout):
    rng = np.random.default_rng(4)
    x = to_layout(rng.standard_normal((1, 6, 8, 7)), layout).astype(np.float32)
    w = to_layout(rng.standard_normal((12, 1, 3, 3)), layout).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    y3 = fc.conv2d(x[0], w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    y4 = fc.conv2d(x, w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    np.testing.assert_array_equal(y3, y4[0])
    dy = rng.standard_normal(y4.shape).astype(np.float32)
    g3 = fc.conv2d_backward(dy[0], x[0], w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    g4 = fc.conv2d_backward(dy, x, w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    np.testing.assert_array_equal(g3[0], g4[0][0])
    np.testing.assert_array_equal(g3[1], g4[1])

    x0 = np.zeros((0,) + x.shape[1:], np.float32)
    y0 = fc.conv2d(x0, w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    assert y0.shape == (0,) + y4.shape[1:]
    dx0, dw0, db0 = fc.conv2d_backward(y0, x0, w, b, 1, 1, 1, 6, layout=layout, algorithm="direct")
    assert dx0.shape == x0.shape
    np.testing.assert_array_equal(dw0, np.zeros_like(w))
    np.testing.assert_array_equal(db0, np.zeros_like(b))


def _fortran(a):
    return np.asfortranarray(a)


def _strided(a):
    big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
    view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _negative(a):
    return np.ascontiguousarray(a[..., ::-1, ::-1])[..., ::-1, ::-1]


def _negative_rows(a):
    """Axes 1 and 2 reversed in memory: NHWC rows and pixels run backwards, channels stay contiguous."""
    return np.ascontiguousarray(a[:, ::-1, ::-1])[:, ::-1, ::-1]


@pytest.mark.parametrize("views", [_fortran, _strided, _negative, _negative_rows],
                         ids=["fortran", "strided", "negative", "negative_rows"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("M", [1, 2])
def test_any_strides(views, layout, M):
    """Views with other strides: checked against the reference, and close to the contiguous results
    (channel-contiguous arrays take the channels path, others the planes path: wgrad's summation order
    differs between them)."""
    base = check_depthwise(np.random.default_rng(5), 2, 5, M, 9, 8, 3, 3, 2, 1, 1, np.float32, layout)
    other = check_depthwise(np.random.default_rng(5), 2, 5, M, 9, 8, 3, 3, 2, 1, 1, np.float32, layout,
                            views=views)
    for a, c, L in zip(base, other, (9, 9 * M, 2 * 5 * 4, 2 * 5 * 4)):
        assert_close(c, a, L, np.float32, c=2.0)


@pytest.mark.parametrize("views", [_fortran, _strided, _negative, _negative_rows],
                         ids=["fortran", "strided", "negative", "negative_rows"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_3x3_rows_in_place_any_strides(views, layout):
    """3x3 stride 1 with enough channels for the channels-last kernels: rows and pixels in any order
    in memory (the zero rows standing in for padding must follow the pixel stride's sign)."""
    check_depthwise(np.random.default_rng(12), 2, 16, 1, 9, 11, 3, 3, 1, 1, 1, np.float32, layout, views=views)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_out_argument_every_element_written(layout):
    rng = np.random.default_rng(6)
    x = to_layout(rng.standard_normal((2, 9, 10, 9)), layout).astype(np.float32)
    w = to_layout(rng.standard_normal((18, 1, 3, 3)), layout).astype(np.float32)
    expected = fc.conv2d(x, w, None, 2, 1, 1, 9, layout=layout, algorithm="direct")
    out = np.full(expected.shape, np.nan, np.float32)
    fc.conv2d(x, w, None, 2, 1, 1, 9, layout=layout, algorithm="direct", out=out)
    np.testing.assert_array_equal(out, expected)
    # an output view with non-unit strides everywhere
    big = np.full(tuple(2 * s for s in expected.shape), np.nan, np.float32)
    view = big[::2, ::2, ::2, ::2]
    fc.conv2d(x, w, None, 2, 1, 1, 9, layout=layout, algorithm="direct", out=view)
    np.testing.assert_array_equal(view, expected)


@pytest.mark.parametrize("C, M, layout", [(3, 2, "NCHW"), (20, 1, "NHWC")])
@pytest.mark.parametrize("W, padding", [(37, (1, 2)), (16, 0), (3, 1)])
def test_rows_read_in_place_write_every_output(W, padding, C, M, layout):
    """3x3 stride 1 reads x's rows in place with the padding masked or zeroed: a NaN-filled output
    is fully overwritten, row ends, channel tails and the last rows of each band included."""
    rng = np.random.default_rng(W)
    x = rng.standard_normal((2, C, 35, W))
    w = rng.standard_normal((C * M, 1, 3, 3))
    y_ref = ref.conv2d(x, w, None, 1, padding, 1, C)
    out = np.full(to_layout(y_ref, layout).shape, np.nan, np.float32)
    fc.conv2d(to_layout(x, layout).astype(np.float32), to_layout(w, layout).astype(np.float32), None, 1, padding, 1,
              C, layout=layout, algorithm="direct", out=out)
    assert_close(to_nchw(out, layout), y_ref, 9, np.float32)


@pytest.mark.parametrize("layout, C", [("NCHW", 5), ("NHWC", 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_backward_matches_each_gradient_alone(dtype, layout, C):
    """3x3 stride 1: dx, dw and db come from one pass over dy. Each asked for alone (and through
    the separate kernels) gives the same bits; outputs start as NaN-filled recycled memory."""
    rng = np.random.default_rng(11)
    N, H, W = 3, 19, 23
    xr, wr, dyr = rng.standard_normal((N, C, H, W)), rng.standard_normal((C, 1, 3, 3)), rng.standard_normal((N, C, H, W))
    x, w, dy = (to_layout(a, layout).astype(dtype) for a in (xr, wr, dyr))
    b = rng.standard_normal(C).astype(dtype)
    xr, wr, dyr = (to_nchw(a, layout).astype(np.float64) for a in (x, w, dy))
    junk = np.full(4 * x.size, np.nan, dtype)
    del junk
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, 1, 1, 1, C, layout=layout)
    assert_close(to_nchw(dx, layout), ref.conv2d_dgrad(dyr, xr.shape, wr, 1, 1, 1, C), 9, dtype)
    assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dyr, xr, wr.shape, 1, 1, 1, C), N * H * W, dtype)
    assert_close(db, ref.conv2d_bgrad(dyr), N * H * W, dtype)
    for needs in [(True, False, False), (False, True, False), (True, True, False), (False, True, True)]:
        got = fc.conv2d_backward(dy, x, w, b, 1, 1, 1, C, layout=layout, needs_input_grad=needs)
        for g, full, need in zip(got, (dx, dw, db), needs):
            if need:
                np.testing.assert_array_equal(g, full)
            else:
                assert g is None
    from fastconv import _C  # the separate kernels the one pass stands in for

    dx_alone, dw_alone = np.full_like(dx, np.nan), np.full_like(dw, np.nan)
    geometry = ((1, 1), (1, 1), (1, 1), C)
    _C.conv2d_dgrad(to_nchw(dy, layout), to_nchw(w, layout), to_nchw(dx_alone, layout), *geometry)
    _C.conv2d_wgrad(to_nchw(dy, layout), to_nchw(x, layout), to_nchw(dw_alone, layout), *geometry)
    np.testing.assert_array_equal(dx_alone, dx)
    np.testing.assert_array_equal(dw_alone, dw)


@pytest.mark.parametrize("M", [1, 2])  # 1: the one-pass backward; 2: the separate kernels
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_same_bits_for_one_and_two_threads_and_every_run(layout, M):
    rng = np.random.default_rng(7)
    # N * P * Q spans several wgrad chunks, C several channel blocks
    x = to_layout(rng.standard_normal((3, 80, 40, 41)), layout).astype(np.float32)
    w = to_layout(rng.standard_normal((80 * M, 1, 3, 3)), layout).astype(np.float32)
    b = rng.standard_normal(80 * M).astype(np.float32)
    saved = fc.get_num_threads()
    results = []
    try:
        for n in (1, 2, 1, 2, 3):
            fc.set_num_threads(n)
            y = fc.conv2d(x, w, b, 1, 1, 1, 80, layout=layout, algorithm="direct")
            results.append((y,) + fc.conv2d_backward(y, x, w, b, 1, 1, 1, 80, layout=layout, algorithm="direct"))
    finally:
        fc.set_num_threads(saved)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            assert a.tobytes() == c.tobytes()


def test_adjoint_identities_float64():
    """<conv(x, w), dy> = <x, dgrad(dy, w)> = <w, wgrad(dy, x)>."""
    rng = np.random.default_rng(8)
    for layout in ("NCHW", "NHWC"):
        for stride, pad, dil, M in [(1, 1, 1, 1), (2, 0, 1, 2), (3, 2, 2, 1), (1, "same", (1, 2), 3)]:
            x = to_layout(rng.standard_normal((2, 4, 11, 10)), layout)
            w = to_layout(rng.standard_normal((4 * M, 1, 3, 2)), layout)
            y = fc.conv2d(x, w, None, stride, pad, dil, 4, layout=layout, algorithm="direct")
            dy = rng.standard_normal(y.shape)
            dx, dw, _ = fc.conv2d_backward(dy, x, w, None, stride, pad, dil, 4, layout=layout, algorithm="direct")
            lhs = np.vdot(y, dy)
            np.testing.assert_allclose(np.vdot(x, dx), lhs, rtol=1e-12)
            np.testing.assert_allclose(np.vdot(w, dw), lhs, rtol=1e-12)


def test_large_reduction_float32_accuracy():
    """wgrad sums over N*P*Q = 20000 terms in float32: within the sqrt(L) tolerance, both layouts."""
    rng = np.random.default_rng(9)
    for layout in ("NCHW", "NHWC"):
        x = rng.standard_normal((8, 3, 50, 50)).astype(np.float32)
        w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
        dy = rng.standard_normal((8, 3, 50, 50)).astype(np.float32)
        _, dw, _ = fc.conv2d_backward(to_layout(dy, layout), to_layout(x, layout), to_layout(w, layout), None, 1, 1,
                                      1, 3, layout=layout, algorithm="direct")
        assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape,
                                                           1, 1, 1, 3), 20000, np.float32)


@pytest.mark.parametrize("groups, K", [(1, 4), (2, 4), (2, 6)])
def test_direct_on_non_depthwise_is_a_value_error(groups, K):
    x = np.ones((1, 4, 6, 6), np.float32)
    w = np.ones((K, 4 // groups, 3, 3), np.float32)
    with pytest.raises(ValueError, match="direct"):
        fc.conv2d(x, w, None, 1, 1, 1, groups, algorithm="direct")
    with pytest.raises(ValueError, match="direct"):
        fc.conv2d_backward(np.ones((1, K, 6, 6), np.float32), x, w, None, 1, 1, 1, groups, algorithm="direct")


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    """FASTCONV_ISA caps the path: the lower ones (the default one runs everywhere above) must pass too."""
    run_under_isa(isa, """
from test_conv2d_depthwise import CASES, check_depthwise
for case in CASES[:4] + CASES[6:7] + CASES[-8:] + [(2, 17, 2, 6, 19, 3, 3, 1, 1, 1), (1, 33, 1, 5, 21, 3, 3, 1, 1, 1)]:
    for dt in (np.float32, np.float64):
        for layout in ("NCHW", "NHWC"):
            check_depthwise(rng, *case, dtype=dt, layout=layout)
""")
