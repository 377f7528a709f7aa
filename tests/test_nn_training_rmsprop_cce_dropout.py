"""fastconv._training's RMSprop update, categorical cross-entropy of probabilities and dropout mask
against float64 NumPy implementations of Keras's formulas (and finite differences for the loss)."""

import numpy as np
import pytest

from fastconv import _arrays
from fastconv import _training as tr
from fastconv.testing.gradcheck import gradcheck
from fastconv.testing.tolerances import assert_close

DTYPES = [np.float32, np.float64]


@pytest.fixture
def poisoned(monkeypatch):
    """Outputs start as NaN, so an element a kernel forgets to write shows."""
    real = _arrays.empty

    def nan_empty(shape, dtype, op):
        a = real(shape, dtype, op)
        a.fill(np.nan)
        return a

    monkeypatch.setattr(_arrays, "empty", nan_empty)


def keras_rmsprop(p, g, v, m, lr, rho, momentum, eps):
    v = rho * v + (1 - rho) * g * g
    inc = lr * g / np.sqrt(v + eps)
    if momentum:
        m = momentum * m + inc
        return p - m, v, m
    return p - inc, v, m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_matches_keras_over_several_steps(momentum, dtype):
    rng = np.random.default_rng(6)
    shapes = [(3, 3, 1, 32), (32,), (0,), (20000,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    vel = [np.zeros(s, dtype) for s in shapes]
    moms = [np.zeros(s, dtype) for s in shapes]
    ref = [(p.astype(np.float64), np.zeros(s), np.zeros(s)) for p, s in zip(params, shapes)]
    for _ in range(5):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        tr.rmsprop_update(params, grads, vel, moms if momentum else None, learning_rate=0.01, rho=0.8,
                          momentum=momentum, epsilon=1e-7)
        ref = [keras_rmsprop(rp, g.astype(np.float64), rv, rm, 0.01, 0.8, momentum, 1e-7)
               for (rp, rv, rm), g in zip(ref, grads)]
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for p, v, m, (rp, rv, rm) in zip(params, vel, moms, ref):
        np.testing.assert_allclose(p, rp, rtol=tol, atol=tol)
        np.testing.assert_allclose(v, rv, rtol=tol, atol=tol)
        np.testing.assert_allclose(m, rm, rtol=tol, atol=tol)


def keras_cce(x, t, eps=1e-7):
    x = x.astype(np.float64)
    p = np.clip(x / x.sum(-1, keepdims=True), eps, 1 - eps)
    return np.mean(-np.sum(t * np.log(p), -1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (32, 10), (7, 17), (4, 3, 5)])
def test_categorical_cross_entropy(shape, dtype, poisoned):
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(0.05, 1.0, shape).astype(dtype)
    t = rng.dirichlet(np.ones(shape[-1]), shape[:-1]).astype(dtype)
    loss, dx = tr.categorical_cross_entropy(x, t)
    rows = int(np.prod(shape[:-1]))
    assert abs(loss - keras_cce(x, t)) <= 16 * np.finfo(dtype).eps * max(1.0, abs(loss)) * np.sqrt(shape[-1] * rows)
    xs = x.astype(np.float64)
    s = xs.sum(-1, keepdims=True)
    dp = -t / (xs / s) / rows
    assert_close(dx, (dp - np.sum(dp * xs / s, -1, keepdims=True)) / s, shape[-1], c=16)
    loss2, dx2 = tr.categorical_cross_entropy(x, t, need_grad=False)
    assert loss2 == loss and dx2 is None


def test_categorical_cross_entropy_gradcheck_and_clip():
    rng = np.random.default_rng(7)
    x = rng.uniform(0.1, 1.0, (5, 4))
    t = np.eye(4)[rng.integers(0, 4, 5)]
    _, dx = tr.categorical_cross_entropy(x, t)
    gradcheck(lambda: tr.categorical_cross_entropy(x, t, need_grad=False)[0], [x], [dx])
    # a class whose probability is clipped (below epsilon) passes no gradient through the clip
    x = np.array([[1.0, 1e-12, 1.0]])
    t = np.array([[0.0, 1.0, 0.0]])
    loss, dx = tr.categorical_cross_entropy(x, t)
    assert abs(loss + np.log(1e-7)) < 1e-12
    np.testing.assert_array_equal(dx, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9])
def test_dropout_is_the_mask_product(rate, dtype, poisoned):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 7, 33)).astype(dtype)
    x[0, 0, :3] = [np.inf, -np.inf, np.nan]
    u = rng.random(x.shape, dtype=np.float32)
    u[1, 1, :3] = [np.float32(rate), np.nextafter(np.float32(rate), np.float32(0)), 0.0]  # the boundary
    y = tr.dropout(x, u, rate)
    with np.errstate(invalid="ignore"):  # inf * 0
        want = x * ((u >= rate).astype(dtype) * dtype(1.0 / (1.0 - rate)))
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: tr.rmsprop_update([np.zeros(2)], [np.zeros(2)], [np.zeros(3)]), ValueError, "velocities"),
    (lambda: tr.rmsprop_update([np.zeros(2)], [np.zeros(2)], [np.zeros(2)], momentum=0.5), ValueError, "momentums"),
    (lambda: tr.rmsprop_update([np.zeros(2)], [np.zeros(2)], [np.zeros(2)], rho=1.0), ValueError, "rho"),
    (lambda: tr.rmsprop_update([np.zeros(2)], [np.zeros(2, np.float32)], [np.zeros(2)]), TypeError, "dtype"),
    (lambda: tr.categorical_cross_entropy(np.ones((2, 3)), np.ones((2, 4))), ValueError, "target"),
    (lambda: tr.categorical_cross_entropy(np.ones((2, 0)), np.ones((2, 0))), ValueError, "classes"),
    (lambda: tr.dropout(np.ones(3), np.ones(3), 0.5), ValueError, "float32"),
    (lambda: tr.dropout(np.ones(3), np.ones(3, np.float32), 1.0), ValueError, "rate"),
])
def test_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
