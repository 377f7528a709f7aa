"""relu, sigmoid, tanh, softmax, log_softmax and their backward ops: float64 reference, torch,
finite differences, stability at extreme inputs, NaN-poisoned outputs, dims, dtypes, errors."""

import warnings

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference_nn as ref
from fastconv.testing.tolerances import assert_close

DTYPES = [np.float32, np.float64]
SHAPES = [(0,), (1,), (15,), (16,), (17,), (3, 65), (2, 0, 3), (4, 3, 5, 7)]
ELEMENTWISE = ["relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_forward_backward(name, shape, dtype):
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = getattr(fc, name)(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, getattr(ref, name)(x), 1, c=4)
    dy = rng.standard_normal(shape).astype(dtype)
    dx = getattr(fc, name + "_backward")(dy, x)
    h = 1e-6
    x64 = x.astype(np.float64)
    fd = (getattr(ref, name)(x64 + h) - getattr(ref, name)(x64 - h)) / (2 * h) * dy
    mask = np.abs(x64) > 1e-3  # relu's kink
    np.testing.assert_allclose(np.asarray(dx, np.float64)[mask], fd[mask], rtol=1e-4 if dtype == np.float32 else 1e-7,
                               atol=1e-6)


def test_elementwise_extremes_and_nan():
    x = np.array([-np.inf, -1000.0, -0.0, 0.0, 1000.0, np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(fc.relu(x)[:6], [0, 0, 0, 0, 1000, np.inf])
    assert np.isnan(fc.relu(x)[6])
    np.testing.assert_array_equal(fc.sigmoid(x)[:6], [0, 0, 0.5, 0.5, 1, 1])
    np.testing.assert_array_equal(fc.tanh(x)[:6], [-1, -1, 0, 0, 1, 1])
    assert np.isnan(fc.sigmoid(x)[6]) and np.isnan(fc.tanh(x)[6])


def test_relu_inplace():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    out = fc.relu(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x, [[0, 2], [3, 0]])
    base = np.array([[-1.0, 2.0], [3.0, -4.0]])
    view = base.T                        # not C-contiguous: still written in place
    assert fc.relu(view, True) is view
    np.testing.assert_array_equal(base, [[0, 2], [3, 0]])
    ro = np.ones(3)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="inplace"):
        fc.relu(ro, inplace=True)
    x = np.array([-1.0, 2.0])
    fc.relu(x)
    np.testing.assert_array_equal(x, [-1.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(1,), (17,), (5, 16), (3, 65), (2, 3, 5, 7), (0, 4), (4, 0), (2, 1, 3)])
def test_softmax_every_dim(name, shape, dtype):
    rng = np.random.default_rng(sum(shape) + 3)
    x = (4 * rng.standard_normal(shape)).astype(dtype)
    for dim in list(range(len(shape))) + [-1]:
        y = getattr(fc, name)(x, dim)
        assert y.dtype == dtype and y.shape == x.shape
        L = shape[dim]
        assert_close(y, getattr(ref, name)(x, dim), L + 1)
        dy = rng.standard_normal(shape).astype(dtype)
        dx = getattr(fc, name + "_backward")(dy, x, dim)
        assert_close(dx, getattr(ref, name + "_backward")(dy, x, dim), L + 1)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_finite_differences(name):
    rng = np.random.default_rng(9)
    x, dy = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    for dim in range(3):
        dx = getattr(fc, name + "_backward")(dy, x, dim)
        fd = ref.numerical_gradient(lambda v: np.vdot(getattr(fc, name)(v, dim), dy), x)
        np.testing.assert_allclose(dx, fd, rtol=1e-6, atol=1e-8)


def test_softmax_is_stable_for_large_logits():
    x = np.array([[1000.0, 1001.0, 999.0], [-1e30, 0.0, -1e30]], np.float32)
    y = fc.softmax(x, 1)
    assert np.all(np.isfinite(y))
    assert_close(y, ref.softmax(x, 1), 3)
    ly = fc.log_softmax(x, 1)
    assert np.all(np.isfinite(ly))
    assert_close(ly, ref.log_softmax(x, 1), 3, scale=1.0)
    nan_row = fc.softmax(np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]]), 1)
    assert np.isnan(nan_row[0]).all() and np.isfinite(nan_row[1]).all()


def test_softmax_kernel_writes_every_element():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 70, 5))
    for log in (False, True):
        y = np.full_like(x, np.nan)
        _C.softmax_fprop(x, y, 3, 70, 5, log)
        want = ref.log_softmax(x, 1) if log else ref.softmax(x, 1)
        assert_close(y, want, 71)
        dy = rng.standard_normal(x.shape)
        dx = np.full_like(x, np.nan)
        _C.softmax_dgrad(dy, y, dx, 3, 70, 5, log)
        assert_close(dx, (ref.log_softmax_backward if log else ref.softmax_backward)(dy, x, 1), 71)
    for act in (1, 2, 3):
        y = np.full_like(x, np.nan)
        _C.activation_fprop(act, x, y)
        assert not np.isnan(y).any()


def test_softmax_implicit_dim_follows_torch_legacy_rule():
    x3 = np.random.default_rng(11).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = fc.softmax(x3)
    np.testing.assert_allclose(y, ref.softmax(x3, 0))
    x2 = x3[0]
    with pytest.warns(UserWarning, match="log_softmax"):
        np.testing.assert_allclose(fc.log_softmax(x2), ref.log_softmax(x2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc.softmax(x2, dim=1)


def test_softmax_dtype_argument_and_scalar():
    x = np.random.default_rng(12).standard_normal((3, 4)).astype(np.float32)
    y = fc.softmax(x, 1, dtype=np.float64)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref.softmax(x, 1), rtol=1e-14)
    dx = fc.softmax_backward(np.ones((3, 4)), x, 1, dtype="float64")
    assert dx.dtype == np.float32
    assert fc.softmax(np.array(2.0), 0) == 1.0


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(13)
    x = torch.from_numpy(rng.standard_normal((3, 5, 4)).astype(np.float32))
    for name in ELEMENTWISE:
        xt = x.clone().requires_grad_()
        want = getattr(F, name)(xt)
        got = getattr(fc, name)(xt)
        assert isinstance(got, torch.Tensor)
        torch.testing.assert_close(got, want.detach())
        dy = torch.randn(x.shape)
        want.backward(dy)
        torch.testing.assert_close(getattr(fc, name + "_backward")(dy, xt), xt.grad)
    for name in ("softmax", "log_softmax"):
        for dim in (0, 1, 2, -1):
            xt = x.clone().requires_grad_()
            want = getattr(F, name)(xt, dim)
            torch.testing.assert_close(getattr(fc, name)(xt, dim), want.detach())
            dy = torch.randn(x.shape)
            want.backward(dy)
            torch.testing.assert_close(getattr(fc, name + "_backward")(dy, xt, dim), xt.grad)
    t = x.clone()
    assert fc.relu(t, inplace=True) is t
    torch.testing.assert_close(t, F.relu(x))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: fc.softmax(np.zeros((2, 3)), 2), IndexError, "Dimension out of range"),
    (lambda: fc.softmax(np.zeros((2, 3)), -3), ValueError, "dim"),
    (lambda: fc.log_softmax(np.zeros((2, 3)), 1.5), TypeError, "dim"),
    (lambda: fc.softmax(np.zeros((2, 3)), 1, dtype=np.int32), TypeError, "dtype"),
    (lambda: fc.relu(np.zeros(3, np.int64)), TypeError, "input"),
    (lambda: fc.tanh("x"), TypeError, "input"),
    (lambda: fc.sigmoid_backward(np.zeros(4), np.zeros(3)), ValueError, "grad_output"),
    (lambda: fc.softmax_backward(np.zeros(3, np.float32), np.zeros(3), 0), TypeError, "grad_output"),
    (lambda: _C.softmax_fprop(np.zeros(6), np.zeros(6), 2, 4, 1, False), ValueError, "elements"),
    (lambda: _C.activation_fprop(4, np.zeros(3), np.zeros(3)), ValueError, "activation"),
])
def test_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
