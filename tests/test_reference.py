"""Tests of fastconv.testing.reference: the float64 NumPy references everything else is checked by.

Four independent checks: the loop ("naive") and vectorised ("im2col") implementations against each
other, adjoint (dot-product) identities, central finite differences, and torch.nn.functional in
float64 (skipped where torch is missing).
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastconv.testing import reference as R

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SEEDS = st.integers(0, 2**32 - 1)


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def dot(a, b):
    return float(np.vdot(np.asarray(a, np.float64), np.asarray(b, np.float64)))


# --------------------------------------------------------------------------- problem generators


@st.composite
def conv_problems(draw, max_hw=7):
    """A valid conv: shapes, kwargs for reference.conv2d (padding in every accepted form)."""
    if draw(st.booleans()):  # depthwise, with channel multiplier 1 or 2
        groups, Cg, Kg = draw(st.integers(1, 4)), 1, draw(st.integers(1, 2))
    else:
        groups, Cg, Kg = draw(st.sampled_from([1, 1, 2, 3])), draw(st.integers(1, 3)), \
            draw(st.integers(1, 3))
    N = draw(st.sampled_from([0, 1, 1, 2, 2]))
    R_, S_ = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    dilation = draw(st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    kind = draw(st.sampled_from(["int", "pair", "quad", "valid", "same"]))
    stride = 1 if kind == "same" else draw(
        st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = {
        "int": lambda: draw(st.integers(0, 2)),
        "pair": lambda: draw(st.tuples(st.integers(0, 2), st.integers(0, 2))),
        "quad": lambda: draw(st.tuples(*[st.integers(0, 3)] * 4)),
        "valid": lambda: "valid",
        "same": lambda: "same",
    }[kind]()
    try:
        R.conv2d_output_size(H, W, R_, S_, stride, padding, dilation)
    except ValueError:
        assume(False)
    return dict(x_shape=(N, groups * Cg, H, W), w_shape=(groups * Kg, Cg, R_, S_),
                seed=draw(SEEDS),
                kw=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


@st.composite
def pool_problems(draw, dilation=True):
    """A valid pool: x shape and kwargs shared by max and avg pool."""
    N, C = draw(st.sampled_from([0, 1, 2, 2])), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    kernel = k[0] if k[0] == k[1] and draw(st.booleans()) else k
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3),
                                                                     st.integers(1, 3))))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    kw = dict(kernel_size=kernel, stride=stride, padding=padding,
              ceil_mode=draw(st.booleans()))
    if dilation:
        kw["dilation"] = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    try:
        R.pool2d_output_size(H, W, k, stride, padding, kw.get("dilation", 1), kw["ceil_mode"])
    except ValueError:
        assume(False)
    return dict(x_shape=(N, C, H, W), seed=draw(SEEDS), kw=kw)


AVG_EXTRAS = st.fixed_dictionaries({
    "count_include_pad": st.booleans(),
    "divisor_override": st.one_of(st.none(), st.integers(1, 5)),
})


def values(shape, rng, flavour="normal"):
    """Random float64 inputs; 'ties' are small integers, 'special' has NaN and +-inf sprinkled."""
    if flavour == "ties":
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    if flavour == "special":
        for v in (np.nan, -np.inf, np.inf):
            x[rng.random(shape) < 0.1] = v
    return x


def conv_arrays(p):
    rng = np.random.default_rng(p["seed"])
    x, w = rng.standard_normal(p["x_shape"]), rng.standard_normal(p["w_shape"])
    b = rng.standard_normal(p["w_shape"][0])
    y_shape = (p["x_shape"][0], p["w_shape"][0]) + R.conv2d_output_size(
        *p["x_shape"][2:], *p["w_shape"][2:], p["kw"]["stride"], p["kw"]["padding"],
        p["kw"]["dilation"])
    return x, w, b, rng.standard_normal(y_shape)


def pool_dy(p, rng):
    k = p["kw"]
    PQ = R.pool2d_output_size(*p["x_shape"][2:], k["kernel_size"], k["stride"], k["padding"],
                              k.get("dilation", 1), k["ceil_mode"])
    return rng.standard_normal(p["x_shape"][:2] + PQ)


# --------------------------------------------------------------------------- naive == im2col


@FUZZ
@given(conv_problems())
def test_conv2d_naive_matches_im2col(p):
    x, w, b, dy = conv_arrays(p)
    kw = p["kw"]
    close(R.conv2d(x, w, b, **kw, method="naive"), R.conv2d(x, w, b, **kw, method="im2col"))
    close(R.conv2d_dgrad(dy, x.shape, w, **kw, method="naive"),
          R.conv2d_dgrad(dy, x.shape, w, **kw, method="im2col"))
    close(R.conv2d_wgrad(dy, x, w.shape, **kw, method="naive"),
          R.conv2d_wgrad(dy, x, w.shape, **kw, method="im2col"))
    close(R.conv2d_bgrad(dy), dy.sum(axis=(0, 2, 3)))


@FUZZ
@given(pool_problems(), st.sampled_from(["normal", "ties", "special"]))
def test_max_pool2d_naive_matches_vectorized(p, flavour):
    rng = np.random.default_rng(p["seed"])
    x = values(p["x_shape"], rng, flavour)
    y0, i0 = R.max_pool2d(x, **p["kw"], method="naive")
    y1, i1 = R.max_pool2d(x, **p["kw"], method="im2col")
    np.testing.assert_array_equal(y0, y1)  # exact, NaN == NaN
    np.testing.assert_array_equal(i0, i1)
    assert i0.dtype == i1.dtype == np.int64 and y0.dtype == np.float64
    dy = pool_dy(p, rng)
    close(R.max_pool2d_dgrad(dy, x, **p["kw"], method="naive"),
          R.max_pool2d_dgrad(dy, x, **p["kw"], method="im2col"))


@FUZZ
@given(pool_problems(dilation=False), AVG_EXTRAS)
def test_avg_pool2d_naive_matches_vectorized(p, extra):
    rng = np.random.default_rng(p["seed"])
    x, dy = rng.standard_normal(p["x_shape"]), pool_dy(p, rng)
    kw = dict(p["kw"], **extra)
    close(R.avg_pool2d(x, **kw, method="naive"), R.avg_pool2d(x, **kw, method="im2col"))
    close(R.avg_pool2d_dgrad(dy, x.shape, **kw, method="naive"),
          R.avg_pool2d_dgrad(dy, x.shape, **kw, method="im2col"))


# --------------------------------------------------------------------------- adjoint identities


@FUZZ
@given(conv_problems(), st.sampled_from(["naive", "im2col"]))
def test_conv2d_adjoint(p, method):
    x, w, _, dy = conv_arrays(p)
    kw = dict(p["kw"], method=method)
    lhs = dot(R.conv2d(x, w, **kw), dy)
    assert math.isclose(lhs, dot(x, R.conv2d_dgrad(dy, x.shape, w, **kw)), rel_tol=1e-10,
                        abs_tol=1e-10)
    assert math.isclose(lhs, dot(w, R.conv2d_wgrad(dy, x, w.shape, **kw)), rel_tol=1e-10,
                        abs_tol=1e-10)


@FUZZ
@given(pool_problems(dilation=False), AVG_EXTRAS, st.sampled_from(["naive", "im2col"]))
def test_avg_pool2d_adjoint(p, extra, method):
    rng = np.random.default_rng(p["seed"])
    x, dy = rng.standard_normal(p["x_shape"]), pool_dy(p, rng)
    kw = dict(p["kw"], **extra, method=method)
    assert math.isclose(dot(R.avg_pool2d(x, **kw), dy),
                        dot(x, R.avg_pool2d_dgrad(dy, x.shape, **kw)), rel_tol=1e-10,
                        abs_tol=1e-10)


@FUZZ
@given(pool_problems(), st.sampled_from(["naive", "im2col"]))
def test_max_pool2d_adjoint(p, method):
    # With the argmax fixed, max pooling is the linear map x -> x[indices].
    rng = np.random.default_rng(p["seed"])
    x, dy = rng.standard_normal(p["x_shape"]), pool_dy(p, rng)
    y, _ = R.max_pool2d(x, **p["kw"], method=method)
    assume(np.isfinite(y).all())  # windows with no in-bounds tap give -inf
    assert math.isclose(dot(y, dy), dot(x, R.max_pool2d_dgrad(dy, x, **p["kw"], method=method)),
                        rel_tol=1e-10, abs_tol=1e-10)


# --------------------------------------------------------------------------- finite differences


def fd_grad(f, a, eps=1e-6):
    """Central differences of the scalar f at every element of a."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[i] += eps
        am[i] -= eps
        g[i] = (f(ap) - f(am)) / (2 * eps)
    return g


CONV_FD_CASES = [
    dict(x_shape=(2, 3, 5, 4), w_shape=(2, 3, 3, 2), kw=dict()),
    dict(x_shape=(1, 4, 6, 5), w_shape=(4, 2, 2, 3),
         kw=dict(stride=2, padding=1, dilation=(2, 1), groups=2)),
    dict(x_shape=(2, 3, 5, 5), w_shape=(6, 1, 3, 3), kw=dict(padding="same", groups=3)),
    dict(x_shape=(1, 2, 4, 6), w_shape=(3, 2, 2, 2),
         kw=dict(stride=(1, 3), padding=(0, 2, 1, 0))),
    dict(x_shape=(1, 2, 3, 3), w_shape=(2, 2, 4, 2), kw=dict(padding="same", dilation=2)),
]


@pytest.mark.parametrize("case", CONV_FD_CASES)
def test_conv2d_finite_differences(case):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(case["x_shape"]), rng.standard_normal(case["w_shape"])
    b = rng.standard_normal(case["w_shape"][0])
    kw = case["kw"]
    dy = rng.standard_normal(R.conv2d(x, w, b, **kw).shape)

    def loss(x_, w_, b_):
        return dot(R.conv2d(x_, w_, b_, **kw), dy)

    close(R.conv2d_dgrad(dy, x.shape, w, **kw), fd_grad(lambda a: loss(a, w, b), x), 1e-7)
    close(R.conv2d_wgrad(dy, x, w.shape, **kw), fd_grad(lambda a: loss(x, a, b), w), 1e-7)
    close(R.conv2d_bgrad(dy), fd_grad(lambda a: loss(x, w, a), b), 1e-7)


POOL_FD_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True),
    dict(kernel_size=2, stride=1, padding=1, ceil_mode=True),
]


@pytest.mark.parametrize("case", POOL_FD_CASES)
@pytest.mark.parametrize("avg_extra", [dict(), dict(count_include_pad=False),
                                       dict(divisor_override=3)])
def test_avg_pool2d_finite_differences(case, avg_extra):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 6))
    kw = dict(case, **avg_extra)
    dy = rng.standard_normal(R.avg_pool2d(x, **kw).shape)
    close(R.avg_pool2d_dgrad(dy, x.shape, **kw),
          fd_grad(lambda a: dot(R.avg_pool2d(a, **kw), dy), x), 1e-7)


@pytest.mark.parametrize("case", POOL_FD_CASES + [dict(kernel_size=2, stride=1, dilation=2),
                                                  dict(kernel_size=3, padding=1, dilation=(1, 2),
                                                       ceil_mode=True)])
def test_max_pool2d_finite_differences(case):
    rng = np.random.default_rng(3)
    shape = (2, 2, 5, 6)
    # Distinct values 0.1 apart: a 1e-6 step never changes an argmax.
    x = (rng.permutation(np.prod(shape)) * 0.1).reshape(shape)
    dy = rng.standard_normal(R.max_pool2d(x, **case)[0].shape)
    close(R.max_pool2d_dgrad(dy, x, **case),
          fd_grad(lambda a: dot(R.max_pool2d(a, **case)[0], dy), x), 1e-7)


# --------------------------------------------------------------------------- semantics by hand


def test_same_padding_puts_the_odd_extra_at_the_end():
    assert R.conv2d_padding("same", 2, 4) == (0, 1, 1, 2)
    assert R.conv2d_padding("same", 3, 2, dilation=(1, 3)) == (1, 1, 1, 2)
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1.0  # picks the top-left tap: y == x when the extra pad is at the bottom/right
    for method in ("naive", "im2col"):
        np.testing.assert_array_equal(R.conv2d(x, w, padding="same", method=method), x)


def test_max_pool2d_nan_ties_and_infinities():
    x = np.array([[[[1.0, np.nan, 2.0, np.nan, 5.0],
                    [3.0, 3.0, 1.0, 3.0, -np.inf],
                    [-np.inf, -np.inf, -np.inf, -np.inf, -np.inf]]]])
    for method in ("naive", "im2col"):
        y, i = R.max_pool2d(x, (1, 5), method=method)
        assert np.isnan(y[0, 0, 0, 0]) and i[0, 0, 0, 0] == 3  # NaN wins; the last one sticks
        assert y[0, 0, 1, 0] == 3.0 and i[0, 0, 1, 0] == 5   # ties: the first max
        assert y[0, 0, 2, 0] == -np.inf and i[0, 0, 2, 0] == 10  # all -inf: the first tap
        y, i = R.max_pool2d(x[:, :, 2:], (1, 3), stride=1, padding=(0, 1), method=method)
        np.testing.assert_array_equal(i[0, 0, 0], [0, 0, 1, 2, 3])  # padding is never the argmax


def test_max_pool2d_window_without_inbounds_tap():
    # H = W = 1, kernel 2, padding 1, dilation 2: the taps are at -1 and 1, both outside.
    for method in ("naive", "im2col"):
        y, i = R.max_pool2d(np.ones((1, 1, 1, 1)), 2, stride=1, padding=1, dilation=2,
                            method=method)
        assert y[0, 0, 0, 0] == -np.inf and i[0, 0, 0, 0] == 2  # torch's h0*W + w0 = 1*1 + 1
        dx = R.max_pool2d_dgrad(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), 2, stride=1,
                                padding=1, dilation=2, method=method)
        np.testing.assert_array_equal(dx, np.zeros((1, 1, 1, 1)))


def test_max_pool2d_dgrad_accumulates_shared_argmax():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0
    for method in ("naive", "im2col"):
        dx = R.max_pool2d_dgrad(np.ones((1, 1, 2, 2)), x, 2, stride=1, method=method)
        assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_avg_pool2d_divisors_by_hand():
    x = np.ones((1, 1, 3, 3))
    kw = dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)
    # Windows on each axis: [-1, 1) and [1, 3); the padded input ends at 4, so all are 2 wide.
    np.testing.assert_array_equal(R.avg_pool2d(x, **kw), [[[[0.25, 0.5], [0.5, 1.0]]]])
    np.testing.assert_array_equal(R.avg_pool2d(x, **kw, count_include_pad=False),
                                  np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(R.avg_pool2d(x, **kw, divisor_override=3),
                                  [[[[1 / 3, 2 / 3], [2 / 3, 4 / 3]]]])
    # ceil_mode window clipped at H + pad: H=4, k=3, s=2, p=1 -> starts -1, 1, 3; the last
    # window [3, 6) is clipped to [3, 5): pool_size 2, one real element.
    y = R.avg_pool2d(np.ones((1, 1, 4, 1)), (3, 1), stride=(2, 1), padding=(1, 0), ceil_mode=True)
    np.testing.assert_array_equal(y[0, 0, :, 0], [2 / 3, 1.0, 0.5])


def test_pool_output_size_drops_window_starting_in_right_padding():
    # floor((5 + 2 - 2 + 1) / 2) + 1 = 4 but the 4th window would start at 6 - 1 = 5 >= H.
    assert R.pool2d_output_size(5, 5, 2, 2, 1, 1, True) == (3, 3)
    assert R.pool2d_output_size(5, 5, 2, 2, 1, 1, False) == (3, 3)
    assert R.pool2d_output_size(6, 6, 2, 2, 0, 1, True) == (3, 3)
    assert R.pool2d_output_size(5, 5, 2, 2, 0, 1, True) == (3, 3)
    assert R.pool2d_output_size(5, 5, 2, 2, 0, 1, False) == (2, 2)


def test_inputs_of_any_real_dtype_give_float64():
    rng = np.random.default_rng(4)
    x, w = rng.integers(-3, 4, (1, 2, 4, 4)), rng.integers(-3, 4, (2, 2, 2, 2))
    y = R.conv2d(x.astype(np.float32), w)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, R.conv2d(x, w.astype(np.float64)))
    assert R.max_pool2d(x.astype(np.float32), 2)[0].dtype == np.float64
    assert R.avg_pool2d(x, 2).dtype == np.float64
    with pytest.raises(TypeError):
        R.conv2d(x.astype(np.complex128), w)


def test_empty_batch():
    x, w = np.zeros((0, 3, 5, 5)), np.ones((4, 3, 3, 3))
    for method in ("naive", "im2col"):
        assert R.conv2d(x, w, method=method).shape == (0, 4, 3, 3)
        dy = np.zeros((0, 4, 3, 3))
        assert R.conv2d_dgrad(dy, x.shape, w, method=method).shape == x.shape
        np.testing.assert_array_equal(R.conv2d_wgrad(dy, x, w.shape, method=method), 0 * w)
        assert R.max_pool2d(x, 2, method=method)[1].shape == (0, 3, 2, 2)
        assert R.avg_pool2d_dgrad(np.zeros((0, 3, 2, 2)), x.shape, 2, method=method).shape == \
            x.shape


def test_auto_matches_explicit_methods_on_larger_shapes():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 8, 12, 11)), rng.standard_normal((6, 4, 3, 3))
    kw = dict(stride=2, padding=(1, 2, 0, 1), groups=2)
    close(R.conv2d(x, w, **kw), R.conv2d(x, w, **kw, method="im2col"))
    xs, ws = x[:1, :, :6, :5], w[:, :, :2, :2]  # small enough for loops, big enough for auto
    close(R.conv2d(xs, ws, **kw, method="naive"), R.conv2d(xs, ws, **kw, method="im2col"))


@pytest.mark.parametrize("call, exc", [
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), stride=2, padding="same"),
     ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 2, 2)), np.ones((2, 3, 3, 3))), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3))), ValueError),
    (lambda: R.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), padding="full"), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), padding=-1), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), stride=0), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.ones(3)), ValueError),
    (lambda: R.conv2d(np.ones((3, 5, 5)), np.ones((2, 3, 3, 3))), ValueError),
    (lambda: R.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), method="fast"), ValueError),
    (lambda: R.conv2d_dgrad(np.ones((1, 2, 4, 4)), (1, 3, 5, 5), np.ones((2, 3, 3, 3))),
     ValueError),
    (lambda: R.max_pool2d(np.ones((1, 1, 5, 5)), 2, padding=2), ValueError),
    (lambda: R.max_pool2d(np.ones((1, 1, 2, 2)), 3), ValueError),
    (lambda: R.max_pool2d_dgrad(np.ones((1, 1, 3, 3)), np.ones((1, 1, 5, 5)), 2), ValueError),
    (lambda: R.avg_pool2d(np.ones((1, 1, 5, 5)), 2, divisor_override=0), ValueError),
    (lambda: R.avg_pool2d(np.ones((1, 1, 5, 5)), 0), ValueError),
])
def test_bad_arguments_raise(call, exc):
    with pytest.raises(exc):
        call()


# --------------------------------------------------------------------------- against PyTorch


def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def torch_conv2d(F, xt, wt, bt, stride, padding, dilation, groups):
    """torch conv2d with our padding forms; the asymmetric 4-tuple goes through F.pad."""
    if not isinstance(padding, (str, int)) and len(padding) == 4:
        top, bottom, left, right = padding
        xt, padding = F.pad(xt, (left, right, top, bottom)), 0
    return F.conv2d(xt, wt, bt, stride, padding, dilation, groups)


def check_conv_against_torch(x, w, b, dy, kw):
    torch, F = _torch()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch_conv2d(F, xt, wt, bt, **kw)
    yt.backward(torch.from_numpy(dy))
    close(R.conv2d(x, w, b, **kw), yt.detach().numpy(), 1e-11)
    close(R.conv2d_dgrad(dy, x.shape, w, **kw), xt.grad.numpy(), 1e-11)
    close(R.conv2d_wgrad(dy, x, w.shape, **kw), wt.grad.numpy(), 1e-11)
    close(R.conv2d_bgrad(dy), bt.grad.numpy(), 1e-11)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@FUZZ
@given(conv_problems())
def test_conv2d_matches_torch(p):
    _torch()
    x, w, b, dy = conv_arrays(p)
    check_conv_against_torch(x, w, b, dy, p["kw"])


@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 16, 20, 17), (8, 16, 3, 3), dict(padding=1)),                    # im2col territory
    ((1, 12, 15, 15), (12, 1, 5, 5), dict(stride=2, padding=2, groups=12)),  # depthwise
    ((2, 6, 9, 10), (4, 3, 1, 1), dict(stride=(2, 3), groups=2)),         # strided 1x1
    ((1, 3, 7, 7), (2, 3, 7, 7), dict()),                                 # kernel == input
    ((1, 3, 7, 6), (2, 3, 2, 2), dict(stride=4)),                         # stride > kernel
    ((1, 4, 8, 9), (6, 4, 3, 4), dict(padding="same", dilation=(2, 3))),  # odd 'same' extras
    ((1, 4, 6, 6), (6, 2, 3, 3), dict(padding=(3, 0, 0, 2), stride=2, groups=2)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch_cases(x_shape, w_shape, kw):
    _torch()
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), \
        rng.standard_normal(w_shape[0])
    full = dict(dict(stride=1, padding=0, dilation=1, groups=1), **kw)
    dy = rng.standard_normal(R.conv2d(x, w, b, **kw).shape)
    check_conv_against_torch(x, w, b, dy, full)


def check_max_pool_against_torch(x, dy, kw):
    torch, F = _torch()
    xt = torch.tensor(x, requires_grad=True)
    yt, it = F.max_pool2d(xt, **kw, return_indices=True)
    y, i = R.max_pool2d(x, **kw)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(i, it.numpy())
    if ((i >= 0) & (i < x.shape[2] * x.shape[3])).all():  # else torch writes out of bounds
        yt.backward(torch.from_numpy(dy))
        close(R.max_pool2d_dgrad(dy, x, **kw), xt.grad.numpy())


@FUZZ
@given(pool_problems(), st.sampled_from(["normal", "ties", "special"]))
def test_max_pool2d_matches_torch(p, flavour):
    _torch()
    rng = np.random.default_rng(p["seed"])
    x = values(p["x_shape"], rng, flavour)
    check_max_pool_against_torch(x, pool_dy(p, rng), p["kw"])


@FUZZ
@given(pool_problems(dilation=False), AVG_EXTRAS)
def test_avg_pool2d_matches_torch(p, extra):
    torch, F = _torch()
    rng = np.random.default_rng(p["seed"])
    x, dy = rng.standard_normal(p["x_shape"]), pool_dy(p, rng)
    kw = dict(p["kw"], **extra)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.avg_pool2d(xt, **kw)
    yt.backward(torch.from_numpy(dy))
    close(R.avg_pool2d(x, **kw), yt.detach().numpy())
    close(R.avg_pool2d_dgrad(dy, x.shape, **kw), xt.grad.numpy())


def test_pool_larger_shapes_match_torch():
    torch, F = _torch()
    rng = np.random.default_rng(7)
    x = values((2, 8, 23, 19), rng, "ties")
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    check_max_pool_against_torch(x, rng.standard_normal(R.max_pool2d(x, **kw)[0].shape), kw)
    kw = dict(kernel_size=(3, 4), stride=(2, 3), padding=(1, 2), ceil_mode=True,
              count_include_pad=False)
    np.testing.assert_allclose(R.avg_pool2d(x, **kw), F.avg_pool2d(torch.from_numpy(x), **kw),
                               rtol=1e-12, atol=1e-12)


def test_max_pool2d_window_without_inbounds_tap_matches_torch():
    torch, F = _torch()
    x = np.array([[[[0.5]]]])
    y, i = R.max_pool2d(x, 2, stride=1, padding=1, dilation=2)
    yt, it = F.max_pool2d(torch.from_numpy(x), 2, 1, 1, 2, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(i, it.numpy())


def test_output_sizes_and_errors_match_torch():
    torch, F = _torch()
    for H, k, s, p, d, ceil in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(3),
                                                 range(1, 3), (False, True)):
        try:
            want = F.max_pool2d(torch.zeros(1, 1, H, 1), (k, 1), (s, 1), (p, 0), (d, 1),
                                ceil).shape[2]
        except RuntimeError:
            want = None
        try:
            got = R.pool2d_output_size(H, 1, (k, 1), (s, 1), (p, 0), (d, 1), ceil)[0]
        except ValueError:
            got = None
        assert got == want, (H, k, s, p, d, ceil)
    for H, k, s, p, d in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(3),
                                           range(1, 4)):
        try:
            want = F.conv2d(torch.zeros(1, 1, H, 1), torch.zeros(1, 1, k, 1), None, (s, 1),
                            (p, 0), (d, 1)).shape[2]
        except RuntimeError:
            want = None
        try:
            got = R.conv2d_output_size(H, 1, k, 1, (s, 1), (p, 0), (d, 1))[0]
        except ValueError:
            got = None
        assert got == want, (H, k, s, p, d)
