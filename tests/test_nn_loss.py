"""cross_entropy, mse_loss and their backward ops: float64 reference, torch, finite differences,
class and probability targets, weights, ignore_index, label smoothing, reductions, shapes, errors."""

import itertools

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference_nn as ref
from fastconv.testing.tolerances import assert_close

DTYPES = [np.float32, np.float64]
CE_SHAPES = [(7,), (1, 7), (0, 5), (5, 16), (4, 17, 3), (2, 3, 2, 5), (6, 1)]


def _case(rng, shape, dtype, prob):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    if prob:
        t = rng.random(shape).astype(dtype)
        t /= t.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
        t = rng.integers(0, c, tshape)
        if t.size > 1:
            t.reshape(-1)[0] = -100
    return x, t, c


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("prob", [False, True])
def test_cross_entropy_matches_reference(shape, dtype, prob):
    rng = np.random.default_rng(sum(shape) + 31 * prob)
    x, t, c = _case(rng, shape, dtype, prob)
    weight = (rng.random(c) + 0.5).astype(dtype)
    for reduction, ls, w in itertools.product(["none", "mean", "sum"], [0.0, 0.3], [None, weight]):
        got = fc.cross_entropy(x, t, w, reduction=reduction, label_smoothing=ls)
        want = ref.cross_entropy(x, t, w, reduction=reduction, label_smoothing=ls)
        assert got.dtype == dtype and got.shape == want.shape
        if want.size and np.isnan(want).all():
            assert np.isnan(got).all()
            continue
        assert_close(got, want, max(1, x.size), c=16)


def test_cross_entropy_gradients_by_finite_differences():
    rng = np.random.default_rng(40)
    for shape, prob in itertools.product([(4,), (3, 4), (2, 4, 3)], [False, True]):
        x, t, c = _case(rng, shape, np.float64, prob)
        w = rng.random(c) + 0.5
        for reduction, ls, weight in itertools.product(["none", "mean", "sum"], [0.0, 0.2], [None, w]):
            kw = dict(reduction=reduction, label_smoothing=ls)
            y = fc.cross_entropy(x, t, weight, **kw)
            dy = rng.standard_normal(y.shape)
            gx, gt, gw = fc.cross_entropy_backward(dy, x, t, weight, **kw)
            assert gw is None
            fd = ref.numerical_gradient(lambda v: np.vdot(fc.cross_entropy(v, t, weight, **kw), dy), x)
            np.testing.assert_allclose(gx, fd, rtol=1e-6, atol=1e-8)
            if prob:
                fdt = ref.numerical_gradient(lambda v: np.vdot(fc.cross_entropy(x, v, weight, **kw), dy), t)
                np.testing.assert_allclose(gt, fdt, rtol=1e-6, atol=1e-8)
            else:
                assert gt is None


def test_cross_entropy_ignore_index_and_stability():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0]], np.float32)
    loss = fc.cross_entropy(x, np.array([2, 1]), reduction="none")
    assert np.all(np.isfinite(loss))
    assert_close(loss, ref.cross_entropy(x, np.array([2, 1]), reduction="none"), 3, scale=1.0)
    # a custom ignore_index inside [0, C) drops those samples from the mean's divisor
    t = np.array([1, 1])
    assert fc.cross_entropy(x, t, ignore_index=1) != fc.cross_entropy(x, t)
    assert np.isnan(fc.cross_entropy(x, t, ignore_index=1))  # every target ignored: 0 / 0, as torch
    gx, _, _ = fc.cross_entropy_backward(np.float32(1.0), x, np.array([1, -100]))
    np.testing.assert_array_equal(gx[1], 0)


def test_cross_entropy_kernel_writes_every_element():
    rng = np.random.default_rng(41)
    x = rng.standard_normal((5, 6, 3))
    t = rng.integers(0, 6, (5, 3))
    lsm, loss = np.full_like(x, np.nan), np.full((5, 3), np.nan)
    _C.cross_entropy_fprop(x, t, None, None, lsm, loss, 5, 6, 3, -100, 0.1, 0)
    assert not np.isnan(lsm).any() and not np.isnan(loss).any()
    dx = np.full_like(x, np.nan)
    _C.cross_entropy_dgrad(np.ones((5, 3)), lsm, t, None, None, dx, None, 5, 6, 3, -100, 0.1, 0)
    assert not np.isnan(dx).any()
    with pytest.raises(ValueError, match="out of bounds"):
        _C.cross_entropy_fprop(x, t + 6, None, None, lsm, loss, 5, 6, 3, -100, 0.0, 0)


def test_cross_entropy_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(42)
    for shape, prob in itertools.product([(6,), (4, 6), (3, 6, 2, 2)], [False, True]):
        x, t, c = _case(rng, shape, np.float32, prob)
        w = (rng.random(c) + 0.5).astype(np.float32)
        for reduction, ls, weight in itertools.product(["none", "mean", "sum"], [0.0, 0.1], [None, w]):
            xt = torch.from_numpy(x).requires_grad_()
            tt = torch.from_numpy(t).requires_grad_(prob)
            wt = None if weight is None else torch.from_numpy(weight)
            want = F.cross_entropy(xt, tt, wt, reduction=reduction, label_smoothing=ls)
            got = fc.cross_entropy(xt, tt, wt, reduction=reduction, label_smoothing=ls)
            assert isinstance(got, torch.Tensor)
            torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-5)
            dy = torch.randn(want.shape)
            want.backward(dy)
            gx, gt, _ = fc.cross_entropy_backward(dy, xt, tt, wt, reduction=reduction, label_smoothing=ls)
            torch.testing.assert_close(gx, xt.grad, rtol=1e-5, atol=1e-6)
            if prob:
                torch.testing.assert_close(gt, tt.grad, rtol=1e-5, atol=1e-6)


def test_legacy_size_average_and_reduce():
    x = np.random.default_rng(43).standard_normal((4, 3))
    t = np.array([0, 1, 2, 1])
    with pytest.warns(UserWarning, match="reduction='sum'"):
        np.testing.assert_allclose(fc.cross_entropy(x, t, size_average=False), fc.cross_entropy(x, t, reduction="sum"))
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert fc.mse_loss(x, x + 1, reduce=False).shape == (4, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (17,), (3, 65), (2, 3, 4)])
def test_mse_loss(shape, dtype):
    rng = np.random.default_rng(sum(shape) + 50)
    x, t = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    for reduction in ("none", "mean", "sum"):
        got = fc.mse_loss(x, t, reduction=reduction)
        want = ref.mse_loss(x, t, reduction)
        assert got.dtype == dtype and got.shape == want.shape
        if want.size and np.isnan(want).all():
            assert np.isnan(got).all()
            continue
        assert_close(got, want, max(1, x.size))
        dy = rng.standard_normal(got.shape).astype(dtype)
        gx, gt = fc.mse_loss_backward(dy, x, t, reduction=reduction)
        scale = 2.0 / max(1, x.size) if reduction == "mean" else 2.0
        expect = scale * (x.astype(np.float64) - t) * dy
        assert_close(gx, expect, 1)
        assert_close(gt, -expect, 1)


def test_mse_loss_finite_differences_and_broadcasting():
    rng = np.random.default_rng(51)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((1, 4))
    with pytest.warns(UserWarning, match="different to the input size"):
        y = fc.mse_loss(x, t, reduction="sum")
    np.testing.assert_allclose(y, ref.mse_loss(x, t, "sum"))
    with pytest.warns(UserWarning):
        gx, gt = fc.mse_loss_backward(np.float64(1.0), x, t, reduction="sum")
    assert gt.shape == t.shape
    with pytest.warns(UserWarning):
        fdt = ref.numerical_gradient(lambda v: fc.mse_loss(x, v, reduction="sum"), t)
    np.testing.assert_allclose(gt, fdt, rtol=1e-6)
    x, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    gx, _ = fc.mse_loss_backward(np.float64(1.0), x, t)
    np.testing.assert_allclose(gx, ref.numerical_gradient(lambda v: fc.mse_loss(v, t), x), rtol=1e-6)


def test_mse_loss_against_torch():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    for reduction in ("none", "mean", "sum"):
        want = torch.nn.functional.mse_loss(x, t, reduction=reduction)
        torch.testing.assert_close(fc.mse_loss(x, t, reduction=reduction), want.detach())
        dy = torch.randn(want.shape)
        gx_t, gt_t = torch.autograd.grad(want, (x, t), dy)
        gx, gt = fc.mse_loss_backward(dy, x, t, reduction=reduction)
        torch.testing.assert_close(gx, gx_t)
        torch.testing.assert_close(gt, gt_t)


X = np.zeros((4, 3))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: fc.cross_entropy(X, np.array([0, 1, 3, 0])), ValueError, "out of bounds"),
    (lambda: fc.cross_entropy(X, np.array([0, 1, -1, 0])), ValueError, "out of bounds"),
    (lambda: fc.cross_entropy(X, np.array([0, 1, 2])), ValueError, "target"),
    (lambda: fc.cross_entropy(X, np.zeros((4, 3), np.float32)), TypeError, "dtype"),
    (lambda: fc.cross_entropy(X, np.zeros((4, 2))), ValueError, "shape"),
    (lambda: fc.cross_entropy(X, np.zeros(4, bool)), TypeError, "target"),
    (lambda: fc.cross_entropy(X, np.zeros(4, np.int64), reduction="avg"), ValueError, "reduction"),
    (lambda: fc.cross_entropy(X, np.zeros(4, np.int64), label_smoothing=1.5), ValueError, "label_smoothing"),
    (lambda: fc.cross_entropy(X, np.zeros(4, np.int64), np.ones(4)), ValueError, "weight"),
    (lambda: fc.cross_entropy(X, np.zeros(4, np.int64), ignore_index=1.5), TypeError, "ignore_index"),
    (lambda: fc.cross_entropy(np.zeros(()), np.zeros((), np.int64)), ValueError, "input"),
    (lambda: fc.cross_entropy(np.zeros((4, 0)), np.zeros(4, np.int64)), ValueError, "classes"),
    (lambda: fc.cross_entropy_backward(np.zeros(4), X, np.zeros(4, np.int64)), ValueError, "grad_output"),
    (lambda: fc.mse_loss(X, np.zeros((4, 2))), ValueError, "broadcast"),
    (lambda: fc.mse_loss(X, np.zeros((4, 3), np.float32)), TypeError, "dtype"),
    (lambda: fc.mse_loss(X, X, reduction=None), ValueError, "reduction"),
    (lambda: fc.mse_loss_backward(np.zeros(3), X, X), ValueError, "grad_output"),
])
def test_errors(call, exc, words):
    with pytest.warns(UserWarning) if "broadcast" in words else _nothing():
        with pytest.raises(exc, match=words):
            call()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
