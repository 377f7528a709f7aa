"""The fused training kernels in fastconv._training against float64 NumPy implementations of
Keras's formulas (bias + activation, sparse categorical cross-entropy, Adam, SGD)."""

import numpy as np
import pytest

from fastconv import _training as tr
from fastconv import get_num_threads, set_num_threads
from fastconv.testing import reference_nn as ref
from fastconv.testing.tolerances import assert_close

DTYPES = [np.float32, np.float64]
ACTS = ["linear", "relu", "sigmoid", "tanh", "softmax"]


def _act(pre, name):
    if name == "linear":
        return pre
    if name == "softmax":
        return ref.softmax(pre, -1)
    return getattr(ref, name)(pre)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(0, 5), (1, 1), (32, 64), (7, 17), (3, 5, 5, 65), (10,)])
def test_bias_act_forward_backward(shape, act, dtype):
    rng = np.random.default_rng(sum(shape))
    pre0 = (2 * rng.standard_normal(shape)).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    y = pre0.copy()
    assert tr.bias_act(y, b, act) is y
    pre = pre0.astype(np.float64) + b
    assert_close(y, _act(pre, act), shape[-1] + 1)
    dy = rng.standard_normal(shape).astype(dtype)
    dpre, db = tr.bias_act_backward(dy, y, act)
    # the derivative from the float64 pre-activation
    if act == "softmax":
        s = _act(pre, act)
        want = s * (dy - np.sum(dy * s, -1, keepdims=True))
    elif act == "linear":
        want = dy.astype(np.float64)
    elif act == "relu":
        want = np.where(pre > 0, dy, 0.0)
    elif act == "sigmoid":
        want = dy * ref.sigmoid(pre) * (1 - ref.sigmoid(pre))
    else:
        want = dy * (1 - np.tanh(pre) ** 2)
    assert_close(dpre, want, shape[-1], c=16)
    assert_close(db, dpre.astype(np.float64).reshape(-1, shape[-1]).sum(0), max(1, dpre.size // shape[-1]))
    dpre2, db2 = tr.bias_act_backward(dy, y, act, need_bias_grad=False, out=dy)
    assert dpre2 is dy and db2 is None
    np.testing.assert_array_equal(dy, dpre)


def test_bias_act_none_bias_and_bias_grad_determinism():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((300, 70)).astype(np.float32)
    before = get_num_threads()
    try:
        results = []
        for n in (1, 2):
            set_num_threads(n)
            results.append(tr.bias_act_backward(y, np.abs(y), "relu")[1])
    finally:
        set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])
    z = y.copy()
    tr.bias_act(z, None, None)
    np.testing.assert_array_equal(z, y)


def keras_sparse_ce(x, labels, from_logits, eps=1e-7):
    """Keras 3 (torch backend) sparse_categorical_crossentropy + sum_over_batch_size, in float64."""
    x = np.asarray(x, np.float64)
    if from_logits:
        logp = ref.log_softmax(x, -1)
    else:
        p = x / x.sum(-1, keepdims=True)
        logp = np.log(np.clip(p, eps, 1 - eps))
    per = -np.take_along_axis(logp, labels[..., None].astype(np.int64), -1)[..., 0]
    return per.mean()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (32, 10), (7, 17), (4, 3, 5)])
def test_sparse_softmax_cross_entropy(shape, from_logits, dtype):
    rng = np.random.default_rng(sum(shape) + from_logits)
    if from_logits:
        x = (3 * rng.standard_normal(shape)).astype(dtype)
    else:
        x = ref.softmax(3 * rng.standard_normal(shape), -1).astype(dtype)
        if shape[-1] > 1:
            x.reshape(-1)[0] = 0.0  # a zero probability meets the clip
    labels = rng.integers(0, shape[-1], shape[:-1])
    loss, dx = tr.sparse_softmax_cross_entropy(x, labels, from_logits)
    want = keras_sparse_ce(x, labels, from_logits)
    assert isinstance(loss, float)
    assert abs(loss - want) <= 64 * np.finfo(dtype).eps * max(1.0, abs(want)) * np.sqrt(x.size)
    x64 = x.astype(np.float64)
    fd = ref.numerical_gradient(lambda v: keras_sparse_ce(v, labels, from_logits), x64, h=1e-8 if from_logits else 1e-9)
    if not from_logits:
        # away from the clip's kinks, finite differences are the true gradient
        p = x64 / x64.sum(-1, keepdims=True)
        near = (np.abs(p - 1e-7) < 1e-6) | (np.abs(p - (1 - 1e-7)) < 1e-6)
        fd = np.where(near, dx, fd)
    np.testing.assert_allclose(dx, fd, rtol=1e-3 if dtype == np.float32 else 1e-5,
                               atol=1e-4 if dtype == np.float32 else 1e-6)
    # labels with a trailing 1 (as Keras accepts), and no gradient requested
    loss2, none = tr.sparse_softmax_cross_entropy(x, labels[..., None], from_logits, need_grad=False)
    assert none is None and loss2 == loss


def test_sparse_softmax_cross_entropy_clip_gradient_is_zero_where_clipped():
    x = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    loss, dx = tr.sparse_softmax_cross_entropy(x, np.array([0, 2]), from_logits=False)
    assert np.isclose(loss, 0.5 * (-np.log(1 - 1e-7) - np.log(1e-7)))
    np.testing.assert_array_equal(dx, 0)


def test_sparse_softmax_cross_entropy_against_keras_formula_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 32)
    xt = torch.from_numpy(x).requires_grad_()
    want = torch.nn.functional.cross_entropy(xt, torch.from_numpy(labels))
    want.backward()
    loss, dx = tr.sparse_softmax_cross_entropy(x, labels, True)
    assert abs(loss - want.item()) < 1e-6
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def keras_adam(p, g, m, v, step, lr=0.001, b1=0.9, b2=0.999, eps=1e-7):
    alpha = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    return p - m * alpha / (np.sqrt(v) + eps), m, v


def keras_sgd(p, g, m, lr=0.01, momentum=0.0, nesterov=False):
    if momentum == 0:
        return p - g * lr, m
    m = m * momentum - g * lr
    return (p + m * momentum - g * lr if nesterov else p + m), m


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_matches_keras_over_several_steps(dtype):
    rng = np.random.default_rng(4)
    shapes = [(3, 3, 1, 32), (32,), (576, 64), (64,), (0,), (10,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    m = [np.zeros(s, dtype) for s in shapes]
    v = [np.zeros(s, dtype) for s in shapes]
    ref_state = [(p.astype(np.float64), np.zeros(s), np.zeros(s)) for p, s in zip(params, shapes)]
    for step in range(1, 6):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        tr.adam_update(params, grads, m, v, step, learning_rate=0.01)
        ref_state = [keras_adam(rp, g.astype(np.float64), rm, rv, step, lr=0.01)
                     for (rp, rm, rv), g in zip(ref_state, grads)]
    for p, mm, vv, (rp, rm, rv) in zip(params, m, v, ref_state):
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(p, rp, rtol=tol, atol=tol)
        np.testing.assert_allclose(mm, rm, rtol=tol, atol=tol)
        np.testing.assert_allclose(vv, rv, rtol=tol, atol=tol)


def test_adam_defaults_are_keras_defaults():
    p, g = [np.array([1.0])], [np.array([0.5])]
    m, v = [np.zeros(1)], [np.zeros(1)]
    tr.adam_update(p, g, m, v, 1)
    want, _, _ = keras_adam(np.array([1.0]), np.array([0.5]), 0.0, 0.0, 1)
    np.testing.assert_allclose(p[0], want, rtol=1e-15)
    # epsilon is added to sqrt(v), not to the bias-corrected sqrt(v_hat) (which would give 0.9990000002)
    alpha = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    assert abs(p[0][0] - (1.0 - 0.05 * alpha / (np.sqrt(0.00025) + 1e-7))) < 1e-13
    assert abs(p[0][0] - 0.9990000063245) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.5, True)])
def test_sgd_matches_keras(momentum, nesterov, dtype):
    rng = np.random.default_rng(5)
    shapes = [(5, 7), (7,), (20000,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    moms = [np.zeros(s, dtype) for s in shapes]
    ref_state = [(p.astype(np.float64), np.zeros(s)) for p, s in zip(params, shapes)]
    for _ in range(4):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        tr.sgd_update(params, grads, moms if momentum else None, learning_rate=0.05, momentum=momentum,
                      nesterov=nesterov)
        ref_state = [keras_sgd(rp, g.astype(np.float64), rm, 0.05, momentum, nesterov)
                     for (rp, rm), g in zip(ref_state, grads)]
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for p, (rp, _) in zip(params, ref_state):
        np.testing.assert_allclose(p, rp, rtol=tol, atol=tol)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: tr.bias_act(np.zeros((2, 3), np.float32), np.zeros(4, np.float32), "relu"), ValueError, "b"),
    (lambda: tr.bias_act(np.zeros((2, 3)), None, "gelu"), ValueError, "activation"),
    (lambda: tr.bias_act(np.zeros((3, 2)).T, None, "relu"), ValueError, "contiguous"),
    (lambda: tr.bias_act(np.zeros((2, 3), np.float32), np.zeros(3), "relu"), TypeError, "dtype"),
    (lambda: tr.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "outside"),
    (lambda: tr.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError, "labels"),
    (lambda: tr.sparse_softmax_cross_entropy(np.zeros((2, 3)), np.array([0.5, 1])), TypeError, "labels"),
    (lambda: tr.adam_update([np.zeros(2)], [np.zeros(3)], [np.zeros(2)], [np.zeros(2)], 1), ValueError, "grads"),
    (lambda: tr.adam_update([np.zeros(2)], [np.zeros(2)], [np.zeros(2)], [np.zeros(2)], 0), ValueError, "step"),
    (lambda: tr.adam_update([np.zeros(2)], [np.zeros(2, np.float32)], [np.zeros(2)], [np.zeros(2)], 1), TypeError,
     "dtype"),
    (lambda: tr.sgd_update([np.zeros(2)], [np.zeros(2)], None, momentum=0.9), ValueError, "momentums"),
    (lambda: tr.sgd_update([np.zeros(2)], [np.zeros(2)], momentum=1.5), ValueError, "momentum"),
])
def test_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
