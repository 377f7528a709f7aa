"""max_pool2d / avg_pool2d, forward and backward, against fastconv.testing.reference and torch.

Max-pool values, indices and (with integer-valued grad_output) gradients are compared exactly;
avg pool within rtol = c * eps * sqrt(L), L the reduction length.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference as R

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = (np.float32, np.float64)
VIEWS = ("contiguous", "fortran", "strided", "negative", "other_layout", "readonly", "misaligned")


# --------------------------------------------------------------------------- helpers


def stored(a, layout):
    """A logical (N, C, H, W) array as the caller stores it in `layout` (a copy)."""
    return np.ascontiguousarray(a if layout == "NCHW" else a.transpose(0, 2, 3, 1))


def logical(a, layout, unbatched=False):
    """The logical (N, C, H, W) view of an array stored in `layout`."""
    a = a[None] if unbatched else a
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


def as_view(a, kind):
    """An array equal to `a` whose memory is laid out as `kind` says."""
    if kind == "contiguous":
        return np.ascontiguousarray(a)
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided":
        buf = np.full(a.shape[:-1] + (2 * a.shape[-1] + 1,), np.nan, dtype=a.dtype)
        buf[..., 1::2] = a
        return buf[..., 1::2]
    if kind == "negative":
        flip = (slice(None, None, -1),) * a.ndim
        return np.ascontiguousarray(a[flip])[flip]
    if kind == "other_layout":  # the axes stored in reverse order
        axes = tuple(range(a.ndim))[::-1]
        return np.ascontiguousarray(a.transpose(axes)).transpose(np.argsort(axes))
    if kind == "readonly":
        v = np.array(a)
        v.setflags(write=False)
        return v
    if kind == "misaligned":
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        v = raw[1:].view(a.dtype).reshape(a.shape)
        v[...] = a
        return v
    raise AssertionError(kind)


def out_size(L, k, s, p, d, ceil_mode):
    return fc._pool2d.pool2d_output_size(L, k, s, p, d, ceil_mode)


def avg_tol(dtype, L, scale):
    eps = np.finfo(dtype).eps
    return dict(rtol=4 * eps * np.sqrt(L), atol=2 * eps * L * max(scale, 1e-30))


@st.composite
def pool_cases(draw, kind="max"):
    """A valid pooling call: shapes, parameters, layout, dtype, input view."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if kind == "max" else (1, 1)
    ceil_mode = draw(st.booleans())
    hw = []
    for i in range(2):
        lo = max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i])
        hw.append(draw(st.integers(lo, lo + 9)))
    n = draw(st.sampled_from([1, 2, 3, 0]))
    c = draw(st.integers(1, 5))
    case = dict(shape=(n, c, hw[0], hw[1]), kernel=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode,
                layout=draw(st.sampled_from(["NCHW", "NHWC"])), dtype=draw(st.sampled_from(DTYPES)),
                view=draw(st.sampled_from(VIEWS)), unbatched=draw(st.booleans()) and n == 1,
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))
    if kind == "avg":
        case["count_include_pad"] = draw(st.booleans())
        case["divisor_override"] = draw(st.sampled_from([None, None, 1, 3, -2, 7]))
    # a stride given as an int, a pair, or left out (= kernel_size)
    case["stride_arg"] = draw(st.sampled_from(["pair", "none"])) if s == k else "pair"
    return case


def make_input(case):
    """(argument array as stored, logical float64 copy for the reference)."""
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    x = rng.integers(-3, 4, size=shape).astype(np.float64) if case["ties"] else rng.standard_normal(shape)
    x = x.astype(case["dtype"])
    a = stored(x, case["layout"])
    if case["unbatched"]:
        a = a[0]
    return as_view(a, case["view"]), x.astype(np.float64)


def pool_kwargs(case, kind):
    kw = dict(kernel_size=case["kernel"], stride=None if case["stride_arg"] == "none" else case["stride"],
              padding=case["padding"], ceil_mode=case["ceil_mode"])
    if kind == "max":
        kw["dilation"] = case["dilation"]
    else:
        kw["count_include_pad"] = case["count_include_pad"]
        kw["divisor_override"] = case["divisor_override"]
    return kw


def unchanged(before, after):
    np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------- max pool vs reference


@settings(max_examples=150, **SETTINGS)
@given(pool_cases("max"))
def test_max_fprop_matches_reference(case):
    xa, x64 = make_input(case)
    before = xa.copy()
    kw = pool_kwargs(case, "max")
    y, idx = fc.max_pool2d(xa, return_indices=True, layout=case["layout"], **kw)
    unchanged(before, xa)
    yr, ir = R.max_pool2d(x64, **kw)
    assert y.dtype == case["dtype"] and idx.dtype == np.int64
    expected_shape = stored(yr, case["layout"]).shape
    if case["unbatched"]:
        expected_shape = expected_shape[1:]
    assert y.shape == idx.shape == expected_shape
    np.testing.assert_array_equal(logical(y, case["layout"], case["unbatched"]), yr.astype(case["dtype"]))
    np.testing.assert_array_equal(logical(idx, case["layout"], case["unbatched"]), ir)
    # without indices: the same values
    y2 = fc.max_pool2d(xa, layout=case["layout"], **kw)
    np.testing.assert_array_equal(y2, y)


@settings(max_examples=150, **SETTINGS)
@given(pool_cases("max"))
def test_max_dgrad_matches_reference(case):
    xa, x64 = make_input(case)
    kw = pool_kwargs(case, "max")
    y, idx = fc.max_pool2d(xa, return_indices=True, layout=case["layout"], **kw)
    rng = np.random.default_rng(case["seed"] + 1)
    dy = rng.integers(-8, 9, size=y.shape).astype(case["dtype"])  # integer-valued: sums are exact
    dy = as_view(dy, case["view"])
    before_x, before_dy, before_idx = xa.copy(), dy.copy(), idx.copy()
    dx = fc.max_pool2d_backward(dy, xa, layout=case["layout"], **kw)
    dx_i = fc.max_pool2d_backward(dy, xa, layout=case["layout"], indices=idx, return_indices=True, **kw)
    unchanged(before_x, xa), unchanged(before_dy, dy), unchanged(before_idx, idx)
    assert dx.shape == xa.shape and dx.dtype == case["dtype"]
    ref = R.max_pool2d_dgrad(logical(dy, case["layout"], case["unbatched"]).astype(np.float64), x64,
                             kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"])
    np.testing.assert_array_equal(logical(dx, case["layout"], case["unbatched"]), ref)
    np.testing.assert_array_equal(dx_i, dx)


# --------------------------------------------------------------------------- avg pool vs reference


@settings(max_examples=150, **SETTINGS)
@given(pool_cases("avg"))
def test_avg_fprop_matches_reference(case):
    xa, x64 = make_input(case)
    before = xa.copy()
    kw = pool_kwargs(case, "avg")
    y = fc.avg_pool2d(xa, layout=case["layout"], **kw)
    unchanged(before, xa)
    yr = R.avg_pool2d(x64, **kw)
    assert y.dtype == case["dtype"]
    yl = logical(y, case["layout"], case["unbatched"])
    assert yl.shape == yr.shape
    L = kw["kernel_size"][0] * kw["kernel_size"][1]
    np.testing.assert_allclose(yl, yr, **avg_tol(case["dtype"], L, np.abs(x64).max(initial=0) * L))


@settings(max_examples=150, **SETTINGS)
@given(pool_cases("avg"))
def test_avg_dgrad_matches_reference(case):
    xa, x64 = make_input(case)
    kw = pool_kwargs(case, "avg")
    y = fc.avg_pool2d(xa, layout=case["layout"], **kw)
    dy = as_view(np.random.default_rng(case["seed"] + 2).standard_normal(y.shape).astype(case["dtype"]),
                 case["view"])
    before_x, before_dy = xa.copy(), dy.copy()
    dx = fc.avg_pool2d_backward(dy, xa, layout=case["layout"], **kw)
    unchanged(before_x, xa), unchanged(before_dy, dy)
    assert dx.shape == xa.shape and dx.dtype == case["dtype"]
    dyl = logical(dy, case["layout"], case["unbatched"]).astype(np.float64)
    ref = R.avg_pool2d_dgrad(dyl, x64.shape, kw["kernel_size"], kw["stride"], kw["padding"], kw["ceil_mode"],
                             kw["count_include_pad"], kw["divisor_override"])
    L = kw["kernel_size"][0] * kw["kernel_size"][1]
    np.testing.assert_allclose(logical(dx, case["layout"], case["unbatched"]), ref,
                               **avg_tol(case["dtype"], L, np.abs(dyl).max(initial=0) * L))


@settings(max_examples=60, **SETTINGS)
@given(pool_cases("avg"))
def test_avg_adjoint_identity(case):
    """<avg_pool2d(x), dy> == <x, avg_pool2d_backward(dy)> in float64."""
    case = dict(case, dtype=np.float64, ties=False)
    xa, x64 = make_input(case)
    kw = pool_kwargs(case, "avg")
    y = fc.avg_pool2d(xa, layout=case["layout"], **kw)
    dy = np.random.default_rng(case["seed"] + 3).standard_normal(y.shape)
    dx = fc.avg_pool2d_backward(dy, xa, layout=case["layout"], **kw)
    lhs, rhs = np.vdot(y, dy), np.vdot(np.asarray(xa), dx)
    L = kw["kernel_size"][0] * kw["kernel_size"][1]
    assert abs(lhs - rhs) <= 1e-14 * L * (np.abs(xa).sum() * np.abs(dy).max(initial=0) + 1)


# --------------------------------------------------------------------------- finite differences


def _numeric_grad(f, x, dy, h):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (np.vdot(f(xp), dy) - np.vdot(f(xm), dy)) / (2 * h)
    return g


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), ceil_mode=True, count_include_pad=False),
    dict(kernel_size=3, stride=1, padding=1, divisor_override=5),
])
def test_avg_finite_differences(kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    y = fc.avg_pool2d(x, **kw)
    dy = rng.standard_normal(y.shape)
    g = fc.avg_pool2d_backward(dy, x, **kw)
    np.testing.assert_allclose(g, _numeric_grad(lambda a: fc.avg_pool2d(a, **kw), x, dy, 1e-3), atol=1e-9)


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=2, stride=3),
])
def test_max_finite_differences(kw):
    rng = np.random.default_rng(1)
    shape = (2, 2, 5, 6)
    x = rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)  # distinct: no ties
    y = fc.max_pool2d(x, **kw)
    assert np.isfinite(y).all()
    dy = rng.standard_normal(y.shape)
    g = fc.max_pool2d_backward(dy, x, **kw)
    num = _numeric_grad(lambda a: fc.max_pool2d(a, **kw), x, dy, 1e-6)
    np.testing.assert_allclose(g, num, atol=1e-7)


# --------------------------------------------------------------------------- shapes, layouts, outputs


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_empty_batch(layout):
    x = np.zeros((0, 3, 5, 5) if layout == "NCHW" else (0, 5, 5, 3), np.float32)
    y, idx = fc.max_pool2d(x, 2, return_indices=True, layout=layout)
    expected = (0, 3, 2, 2) if layout == "NCHW" else (0, 2, 2, 3)
    assert y.shape == idx.shape == expected and idx.dtype == np.int64 and y.dtype == np.float32
    assert fc.avg_pool2d(x, 3, 1, 1, layout=layout).shape == x.shape
    dy = np.zeros(expected, np.float32)
    assert fc.max_pool2d_backward(dy, x, 2, layout=layout).shape == x.shape
    assert fc.max_pool2d_backward(dy, x, 2, layout=layout, indices=idx).shape == x.shape
    assert fc.avg_pool2d_backward(dy, x, 2, layout=layout).shape == x.shape


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_unbatched(layout):
    rng = np.random.default_rng(2)
    x4 = rng.standard_normal((1, 3, 7, 6))
    xs = stored(x4, layout)
    y4, i4 = fc.max_pool2d(xs, 3, 2, 1, return_indices=True, layout=layout)
    y3, i3 = fc.max_pool2d(xs[0], 3, 2, 1, return_indices=True, layout=layout)
    np.testing.assert_array_equal(y3, y4[0])
    np.testing.assert_array_equal(i3, i4[0])
    np.testing.assert_array_equal(fc.avg_pool2d(xs[0], 3, 2, 1, layout=layout),
                                  fc.avg_pool2d(xs, 3, 2, 1, layout=layout)[0])
    dy = rng.standard_normal(y3.shape)
    np.testing.assert_array_equal(fc.max_pool2d_backward(dy, xs[0], 3, 2, 1, layout=layout),
                                  fc.max_pool2d_backward(dy[None], xs, 3, 2, 1, layout=layout)[0])
    np.testing.assert_array_equal(fc.avg_pool2d_backward(dy, xs[0], 3, 2, 1, layout=layout),
                                  fc.avg_pool2d_backward(dy[None], xs, 3, 2, 1, layout=layout)[0])


@pytest.mark.parametrize("shape,kw", [
    ((2, 3, 5, 5), dict(kernel_size=5)),                          # kernel = input
    ((2, 3, 1, 1), dict(kernel_size=1)),                          # 1x1
    ((1, 2, 9, 7), dict(kernel_size=2, stride=5)),                # stride > kernel
    ((1, 63, 6, 5), dict(kernel_size=3, stride=2, padding=1)),    # channel blocks: 64 - 1
    ((2, 64, 5, 6), dict(kernel_size=2, stride=1, padding=1)),    # 64
    ((1, 65, 4, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True)),  # 64 + 1
    ((1, 131, 5, 5), dict(kernel_size=3, stride=2, ceil_mode=True)),  # several blocks, a prime
    ((1, 1, 1, 17), dict(kernel_size=(1, 4), stride=(1, 3), padding=(0, 2), ceil_mode=True)),
])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_edge_shapes(shape, kw, layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    xs = stored(x, layout)
    y, idx = fc.max_pool2d(xs, return_indices=True, layout=layout, **kw)
    yr, ir = R.max_pool2d(x, **kw)
    np.testing.assert_array_equal(logical(y, layout), yr)
    np.testing.assert_array_equal(logical(idx, layout), ir)
    dy = rng.integers(-4, 5, size=y.shape).astype(np.float64)
    np.testing.assert_array_equal(logical(fc.max_pool2d_backward(dy, xs, layout=layout, **kw), layout),
                                  R.max_pool2d_dgrad(logical(dy, layout), x, **kw))
    ya = fc.avg_pool2d(xs, layout=layout, **kw)
    np.testing.assert_allclose(logical(ya, layout), R.avg_pool2d(x, **kw), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(logical(fc.avg_pool2d_backward(dy, xs, layout=layout, **kw), layout),
                               R.avg_pool2d_dgrad(logical(dy, layout), x.shape, **kw), rtol=1e-13, atol=1e-14)


def test_windows_without_inside_taps():
    """Dilation can put every tap of a window in the padding: -inf and torch's default index."""
    x = np.arange(8.0).reshape(1, 1, 4, 2)
    y, idx = fc.max_pool2d(x, 2, padding=1, dilation=3, return_indices=True)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 1), -np.inf))
    np.testing.assert_array_equal(idx, [[[[6], [4]]]])
    yr, ir = R.max_pool2d(x, 2, padding=1, dilation=3)
    np.testing.assert_array_equal(idx, ir)
    dy = np.array([[[[1.0], [2.0]]]])
    np.testing.assert_array_equal(fc.max_pool2d_backward(dy, x, 2, padding=1, dilation=3),
                                  R.max_pool2d_dgrad(dy, x, 2, None, 1, 3, False))


def test_special_values():
    """NaN wins (the last one), ties keep the first, -inf and inf are ordinary values."""
    x = np.array([[[[1, np.nan, 3, np.nan], [5, 5, 2, 2], [0, 0, 0, 0], [np.inf, -np.inf, -np.inf, -np.inf]]]])
    for dtype in DTYPES:
        y, idx = fc.max_pool2d(x.astype(dtype), 2, 1, return_indices=True)
        yr, ir = R.max_pool2d(x, 2, 1)
        np.testing.assert_array_equal(y, yr.astype(dtype))
        np.testing.assert_array_equal(idx, ir)
    np.testing.assert_array_equal(idx, [[[[1, 1, 3], [4, 5, 6], [12, 9, 10]]]])
    y, idx = fc.max_pool2d(np.full((1, 1, 3, 3), -np.inf), 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx, R.max_pool2d(np.full((1, 1, 3, 3), -np.inf), 2, 1, 1)[1])


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_out_poisoned_and_guarded(op, layout, unbatched):
    """out= (a strided view into a NaN buffer): every element written, nothing outside touched."""
    rng = np.random.default_rng(4)
    x = stored(rng.standard_normal((1 if unbatched else 2, 3, 9, 8)), layout)
    if unbatched:
        x = x[0]
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    fn = fc.max_pool2d if op == "max" else fc.avg_pool2d
    expected = fn(x, layout=layout, **kw)
    buf = np.full(tuple(2 * s + 1 for s in expected.shape), np.nan)
    out = buf[(slice(1, None, 2),) * expected.ndim]
    assert out.shape == expected.shape
    result = fn(x, layout=layout, out=out, **kw)
    assert result is out
    np.testing.assert_array_equal(out, expected)
    outside = np.ones(buf.shape, bool)
    outside[(slice(1, None, 2),) * expected.ndim] = False
    assert np.isnan(buf[outside]).all()


def _guarded(shape, dtype, fill):
    """A strided logical array inside a guard buffer filled with `fill`; returns (view, buffer, mask)."""
    buf = np.full(tuple(2 * s + 2 for s in shape), fill, dtype=dtype)
    view = buf[1:1 + shape[0], 1:2 * shape[1] + 1:2, 2::2, 2::2][::-1]
    mask = np.ones(buf.shape, bool)
    mask[1:1 + shape[0], 1:2 * shape[1] + 1:2, 2::2, 2::2] = False
    assert view.shape == tuple(shape)
    return view, buf, mask


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_write_every_output_and_nothing_else(dtype):
    """Direct kernel calls with NaN-poisoned (and -1 poisoned indices) outputs in guard buffers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 7, 9)).astype(dtype)
    k, s, p, d = (3, 2), (2, 2), (1, 1), (1, 2)
    y_ref, i_ref = fc.max_pool2d(x, k, s, p, d, ceil_mode=True, return_indices=True)
    y, ybuf, ymask = _guarded(y_ref.shape, dtype, np.nan)
    idx, ibuf, imask = _guarded(y_ref.shape, np.int64, -7)
    _C.max_pool2d_fprop(x, y, idx, k, s, p, d)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, i_ref)
    assert np.isnan(ybuf[ymask]).all() and (ibuf[imask] == -7).all()

    dy = rng.integers(-3, 4, size=y_ref.shape).astype(dtype)
    for indices in (None, i_ref):
        dx, dxbuf, dxmask = _guarded(x.shape, dtype, np.nan)
        _C.max_pool2d_dgrad(dy, x, indices, dx, k, s, p, d)
        np.testing.assert_array_equal(dx, fc.max_pool2d_backward(dy, x, k, s, p, d, ceil_mode=True))
        assert np.isnan(dxbuf[dxmask]).all()

    ya_ref = fc.avg_pool2d(x, k, s, p, True, False)
    ya, yabuf, yamask = _guarded(ya_ref.shape, dtype, np.nan)
    _C.avg_pool2d_fprop(x, ya, k, s, p, False, 0)
    np.testing.assert_array_equal(ya, ya_ref)
    assert np.isnan(yabuf[yamask]).all()
    dx, dxbuf, dxmask = _guarded(x.shape, dtype, np.nan)
    _C.avg_pool2d_dgrad(ya_ref, dx, k, s, p, False, 0)
    np.testing.assert_array_equal(dx, fc.avg_pool2d_backward(ya_ref, x, k, s, p, True, False))
    assert np.isnan(dxbuf[dxmask]).all()


def test_foreign_indices_are_ignored_outside_the_plane():
    x = np.zeros((1, 2, 4, 4))
    dy = np.ones((1, 2, 2, 2))
    bad = np.array([-1, 16, 2**40, -(2**62)], dtype=np.int64).reshape(1, 1, 2, 2).repeat(2, axis=1)
    np.testing.assert_array_equal(fc.max_pool2d_backward(dy, x, 2, indices=bad), np.zeros_like(x))
    same = np.full((1, 2, 2, 2), 5, dtype=np.int64)  # all windows name (1, 1): they add up
    dx = fc.max_pool2d_backward(dy, x, 2, indices=same)
    assert dx[0, 0, 1, 1] == 4 and dx.sum() == 8


def test_large_shapes_threaded_against_reference():
    """Shapes big enough for many parallel chunks, and the two-phase dgrad (few planes)."""
    rng = np.random.default_rng(6)
    for shape, layout in [((1, 1, 61, 53), "NCHW"), ((2, 70, 13, 11), "NHWC"), ((3, 5, 33, 29), "NCHW")]:
        x = rng.standard_normal(shape)
        xs = stored(x, layout)
        kw = dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)
        y, idx = fc.max_pool2d(xs, return_indices=True, layout=layout, **kw)
        yr, ir = R.max_pool2d(x, **kw)
        np.testing.assert_array_equal(logical(y, layout), yr)
        np.testing.assert_array_equal(logical(idx, layout), ir)
        dy = rng.integers(-4, 5, size=y.shape).astype(np.float64)
        np.testing.assert_array_equal(logical(fc.max_pool2d_backward(dy, xs, layout=layout, **kw), layout),
                                      R.max_pool2d_dgrad(logical(dy, layout), x, **kw))
        del kw["dilation"]
        ya = fc.avg_pool2d(xs, layout=layout, **kw)
        np.testing.assert_allclose(logical(ya, layout), R.avg_pool2d(x, **kw), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(logical(fc.avg_pool2d_backward(ya, xs, layout=layout, **kw), layout),
                                   R.avg_pool2d_dgrad(logical(ya, layout), x.shape, **kw), rtol=1e-13, atol=1e-14)


# --------------------------------------------------------------------------- determinism


@pytest.fixture
def restore_threads():
    n = fc.get_num_threads()
    yield
    fc.set_num_threads(n)


def _all_results(x, dy_seed, layout):
    kw = dict(kernel_size=3, stride=1, padding=1)
    y, idx = fc.max_pool2d(x, return_indices=True, layout=layout, **kw)
    dy = np.random.default_rng(dy_seed).standard_normal(y.shape).astype(x.dtype)
    return [y, idx, fc.max_pool2d_backward(dy, x, layout=layout, **kw),
            fc.max_pool2d_backward(dy, x, layout=layout, indices=idx, **kw),
            fc.avg_pool2d(x, layout=layout, **kw), fc.avg_pool2d_backward(dy, x, layout=layout, **kw),
            fc.avg_pool2d(x, 4, 2, 2, ceil_mode=True, count_include_pad=False, layout=layout),
            fc.avg_pool2d_backward(np.ones_like(fc.avg_pool2d(x, 4, 2, 2, ceil_mode=True, layout=layout)), x, 4, 2,
                                   2, ceil_mode=True, count_include_pad=False, layout=layout)]


@pytest.mark.parametrize("shape,layout", [((1, 1, 80, 70), "NCHW"), ((2, 3, 40, 30), "NCHW"),
                                          ((1, 70, 20, 18), "NHWC"), ((4, 9, 12, 12), "NHWC")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_for_any_thread_count(shape, layout, dtype, restore_threads):
    rng = np.random.default_rng(7)
    x = stored(rng.standard_normal(shape).astype(dtype), layout)
    x[..., ::7] = np.round(x[..., ::7])  # some ties
    results = {}
    for n in (1, 2, 3):
        fc.set_num_threads(n)
        results[n] = _all_results(x, 8, layout)
    for n in (2, 3):
        for a, b in zip(results[1], results[n]):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_max_dgrad_few_planes_path_matches_many_planes_path(layout, restore_threads):
    """With few planes the argmax is precomputed in parallel over rows: the same bits as per plane."""
    fc.set_num_threads(2)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((8, 3, 23, 19))
    x[..., ::3] = np.round(x[..., ::3])
    kw = dict(kernel_size=3, stride=1, padding=1, dilation=(2, 1), ceil_mode=True)
    dy = stored(rng.integers(-3, 4, size=R.max_pool2d(x, **kw)[0].shape).astype(np.float64), layout)
    many = logical(fc.max_pool2d_backward(dy, stored(x, layout), layout=layout, **kw), layout)
    one = logical(fc.max_pool2d_backward(dy[:1], stored(x[:1], layout), layout=layout, **kw), layout)
    np.testing.assert_array_equal(many[:1], one)
    np.testing.assert_array_equal(many, R.max_pool2d_dgrad(logical(dy, layout), x, **kw))


def test_threads_concurrent_calls_agree():
    """Calls from several Python threads at once (the GIL is released) give the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((2, 4, 31, 29)) for _ in range(6)]
    serial = [_all_results(x, i, "NCHW") for i, x in enumerate(xs)]
    with ThreadPoolExecutor(4) as ex:
        threaded = list(ex.map(lambda ix: _all_results(ix[1], ix[0], "NCHW"), enumerate(xs)))
    for a_list, b_list in zip(serial, threaded):
        for a, b in zip(a_list, b_list):
            assert a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- torch oracle


def _torch_case(case, kind):
    torch = pytest.importorskip("torch")
    xa, x64 = make_input(dict(case, unbatched=False, view="contiguous"))
    kw = pool_kwargs(case, kind)
    xt = torch.from_numpy(np.ascontiguousarray(x64.astype(case["dtype"])))
    if case["layout"] == "NHWC":
        xt = xt.to(memory_format=torch.channels_last)
    return torch, xa, xt, kw


@settings(max_examples=80, **SETTINGS)
@given(pool_cases("max"))
def test_max_against_torch(case):
    torch, xa, xt, kw = _torch_case(case, "max")
    import torch.nn.functional as F

    xt.requires_grad_(True)
    yt, it = F.max_pool2d(xt, return_indices=True, **kw)
    y, idx = fc.max_pool2d(xa, return_indices=True, layout=case["layout"], **kw)
    np.testing.assert_array_equal(logical(y, case["layout"]), yt.detach().numpy())
    np.testing.assert_array_equal(logical(idx, case["layout"]), it.numpy())
    if yt.numel() and np.isfinite(y).all():  # torch writes out of bounds for windows without inside taps
        dy = np.random.default_rng(case["seed"]).standard_normal(y.shape).astype(case["dtype"])
        yt.backward(torch.from_numpy(np.ascontiguousarray(logical(dy, case["layout"]))))
        dx = fc.max_pool2d_backward(dy, xa, layout=case["layout"], **kw)
        np.testing.assert_array_equal(logical(dx, case["layout"]), xt.grad.numpy())


@settings(max_examples=80, **SETTINGS)
@given(pool_cases("avg"))
def test_avg_against_torch(case):
    torch, xa, xt, kw = _torch_case(case, "avg")
    import torch.nn.functional as F

    xt.requires_grad_(True)
    yt = F.avg_pool2d(xt, **kw)
    y = fc.avg_pool2d(xa, layout=case["layout"], **kw)
    L = kw["kernel_size"][0] * kw["kernel_size"][1]
    tol = avg_tol(case["dtype"], L, np.abs(xa).max(initial=0) * L)
    np.testing.assert_allclose(logical(y, case["layout"]), yt.detach().numpy(), **tol)
    if yt.numel():
        dy = np.random.default_rng(case["seed"]).standard_normal(y.shape).astype(case["dtype"])
        yt.backward(torch.from_numpy(np.ascontiguousarray(logical(dy, case["layout"]))))
        dx = fc.avg_pool2d_backward(dy, xa, layout=case["layout"], **kw)
        tol = avg_tol(case["dtype"], L, np.abs(dy).max(initial=0) * L)
        np.testing.assert_allclose(logical(dx, case["layout"]), xt.grad.numpy(), **tol)


def test_torch_tensors_in_torch_tensors_out():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    xt = torch.randn(2, 3, 9, 8, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    xt.requires_grad_(True)
    y, idx = fc.max_pool2d(xt, 3, 2, 1, return_indices=True)
    assert isinstance(y, torch.Tensor) and isinstance(idx, torch.Tensor)
    assert y.dtype == torch.float32 and idx.dtype == torch.int64
    yt, it = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    assert torch.equal(y, yt.detach()) and torch.equal(idx, it)
    dy = torch.randn(yt.shape, generator=torch.Generator().manual_seed(1))
    dx = fc.max_pool2d_backward(dy, xt, 3, 2, 1, indices=idx)
    yt.backward(dy)
    assert isinstance(dx, torch.Tensor) and torch.equal(dx, xt.grad)

    xt.grad = None
    ya = fc.avg_pool2d(xt, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    yat = F.avg_pool2d(xt, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert isinstance(ya, torch.Tensor)
    torch.testing.assert_close(ya, yat.detach())
    dya = torch.ones_like(ya)
    dxa = fc.avg_pool2d_backward(dya, xt, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    yat.backward(dya)
    assert isinstance(dxa, torch.Tensor)
    torch.testing.assert_close(dxa, xt.grad)

    out = torch.full(tuple(y.shape), float("nan"))
    assert fc.max_pool2d(xt, 3, 2, 1, out=out) is out
    assert torch.equal(out, y)
    # channels-last tensors through layout="NHWC" (a permuted view of the same memory)
    xcl = xt.detach().to(memory_format=torch.channels_last)
    ycl = fc.max_pool2d(xcl.permute(0, 2, 3, 1), 3, 2, 1, layout="NHWC")
    assert torch.equal(ycl.permute(0, 3, 1, 2), y)


def test_torch_special_values_and_unbatched():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = np.array([[[1, np.nan, 3, np.nan], [5, 5, 2, 2], [0, 0, 0, 0], [np.inf, -np.inf, -np.inf, -np.inf]]])
    yt, it = F.max_pool2d(torch.from_numpy(x), 2, 1, return_indices=True)
    y, idx = fc.max_pool2d(x, 2, 1, return_indices=True)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    x = np.arange(8.0).reshape(1, 1, 4, 2)
    yt, it = F.max_pool2d(torch.from_numpy(x), 2, padding=1, dilation=3, return_indices=True)
    y, idx = fc.max_pool2d(x, 2, padding=1, dilation=3, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())
