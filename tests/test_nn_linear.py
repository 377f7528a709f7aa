"""linear and linear_backward: float64 reference, torch, adjoint identities, finite differences,
strided and transposed weights, NaN-poisoned outputs, thread-count determinism, errors."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C
from fastconv.testing import reference_nn as ref
from fastconv.testing.tolerances import assert_close

DTYPES = [np.float32, np.float64]
# (N, in, out): batch 0 and 1, SIMD/tile widths +-1 (16, 64), primes, a Keras dense shape.
SHAPES = [(0, 5, 3), (1, 1, 1), (1, 17, 65), (3, 0, 4), (5, 16, 15), (7, 63, 64), (6, 65, 17), (13, 31, 129),
          (32, 576, 64), (32, 64, 10), (97, 11, 7)]


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_fprop_dgrad_wgrad_match_reference(shape, dtype):
    n, k, o = shape
    rng = np.random.default_rng(n * 1000 + k * 10 + o)
    x, w, b = _rand(rng, (n, k), dtype), _rand(rng, (o, k), dtype), _rand(rng, (o,), dtype)
    y = fc.linear(x, w, b)
    assert y.dtype == dtype and y.shape == (n, o)
    assert_close(y, ref.linear(x, w, b), k + 1)
    dy = _rand(rng, (n, o), dtype)
    dx, dw, db = fc.linear_backward(dy, x, w, b)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w, b)
    assert_close(dx, rdx, o)
    assert_close(dw, rdw, n)
    assert_close(db, rdb, n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_write_every_output_element(dtype):
    rng = np.random.default_rng(1)
    n, k, o = 11, 70, 67
    x, w, b, dy = _rand(rng, (n, k), dtype), _rand(rng, (o, k), dtype), _rand(rng, (o,), dtype), _rand(rng, (n, o), dtype)
    y = np.full((n, o), np.nan, dtype)
    _C.linear_fprop(x, w, b, y)
    assert_close(y, ref.linear(x, w, b), k + 1)
    dx = np.full((n, k), np.nan, dtype)
    _C.linear_dgrad(dy, w, dx)
    dw = np.full((o, k), np.nan, dtype)
    _C.linear_wgrad(dy, x, dw)
    db = np.full((o,), np.nan, dtype)
    _C.column_sum(dy, db)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w, b)
    assert_close(dx, rdx, o)
    assert_close(dw, rdw, n)
    assert_close(db, rdb, n)
    # a row stride wider than the row: the gap must stay untouched
    wide = np.full((n, o + 5), np.nan, dtype)
    _C.linear_fprop(x, w, None, wide[:, :o])
    assert_close(wide[:, :o], ref.linear(x, w), k)
    assert np.isnan(wide[:, o:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_strides_and_transposed_weight(dtype):
    rng = np.random.default_rng(2)
    kernel = _rand(rng, (40, 24), dtype)         # Keras layout (in, out): weight = kernel.T
    x = _rand(rng, (9, 80), dtype)[:, ::2]       # strided columns
    b = _rand(rng, (24,), dtype)
    expected = ref.linear(x, kernel.T, b)
    assert_close(fc.linear(x, kernel.T, b), expected, 41)
    assert_close(fc.linear(np.asfortranarray(x), np.asfortranarray(kernel.T), b), expected, 41)
    assert_close(fc.linear(x[::-1], kernel.T[::-1], b[::-1]), ref.linear(x[::-1], kernel.T[::-1], b[::-1]), 41)
    ro = x.copy()
    ro.setflags(write=False)
    assert_close(fc.linear(ro, kernel.T, b), expected, 41)
    dy = _rand(rng, (9, 24), dtype)
    for got, want, L in zip(fc.linear_backward(dy, x, kernel.T, b), ref.linear_backward(dy, x, kernel.T, b),
                            (24, 9, 9)):
        assert_close(got, want, L)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extra_batch_dims_and_unbatched(dtype):
    rng = np.random.default_rng(3)
    w, b = _rand(rng, (6, 5), dtype), _rand(rng, (6,), dtype)
    for shape in [(5,), (2, 3, 5), (2, 0, 5), (1, 2, 1, 5)]:
        x = _rand(rng, shape, dtype)
        y = fc.linear(x, w, b)
        assert y.shape == shape[:-1] + (6,)
        assert_close(y, ref.linear(x, w, b), 6)
        dy = _rand(rng, y.shape, dtype)
        dx, dw, db = fc.linear_backward(dy, x, w, b)
        rdx, rdw, rdb = ref.linear_backward(dy, x, w, b)
        assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
        assert_close(dx, rdx, 6)
        assert_close(dw, rdw, max(1, dy.size))
        assert_close(db, rdb, max(1, dy.size))
    # 1-D weight: the output drops the feature axis
    w1 = _rand(rng, (5,), dtype)
    x = _rand(rng, (4, 5), dtype)
    assert fc.linear(x, w1).shape == (4,)
    assert_close(fc.linear(x, w1), ref.linear(x, w1), 5)


def test_adjoint_identities():
    rng = np.random.default_rng(4)
    x, w, dy = rng.standard_normal((7, 13)), rng.standard_normal((19, 13)), rng.standard_normal((7, 19))
    y = fc.linear(x, w)
    dx, dw, _ = fc.linear_backward(dy, x, w)
    assert np.isclose(np.vdot(y, dy), np.vdot(x, dx), rtol=1e-12)
    assert np.isclose(np.vdot(y, dy), np.vdot(w, dw), rtol=1e-12)


def test_finite_differences():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    dy = rng.standard_normal((3, 5))
    dx, dw, db = fc.linear_backward(dy, x, w, b)
    np.testing.assert_allclose(dx, ref.numerical_gradient(lambda v: np.vdot(fc.linear(v, w, b), dy), x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(dw, ref.numerical_gradient(lambda v: np.vdot(fc.linear(x, v, b), dy), w), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(db, ref.numerical_gradient(lambda v: np.vdot(fc.linear(x, w, v), dy), b), rtol=1e-6,
                               atol=1e-8)


def test_needs_input_grad_and_no_bias():
    rng = np.random.default_rng(6)
    x, w, dy = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((3, 5))
    dx, dw, db = fc.linear_backward(dy, x, w)
    assert db is None
    dx2, dw2, db2 = fc.linear_backward(dy, x, w, np.zeros(5), needs_input_grad=(False, True, False))
    assert dx2 is None and db2 is None
    np.testing.assert_array_equal(dw2, dw)


def test_same_bits_for_one_and_two_threads():
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(200, 300), (130, 300), (130,)])
    dy = rng.standard_normal((200, 130)).astype(np.float32)
    before = fc.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            fc.set_num_threads(n)
            results.append((fc.linear(x, w, b), *fc.linear_backward(dy, x, w, b)))
    finally:
        fc.set_num_threads(before)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


def test_torch_tensors_and_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = torch.from_numpy(rng.standard_normal((4, 3, 9)).astype(np.float32)).requires_grad_()
    w = torch.from_numpy(rng.standard_normal((10, 9)).astype(np.float32)).requires_grad_()
    b = torch.from_numpy(rng.standard_normal(10).astype(np.float32)).requires_grad_()
    y = fc.linear(x, w, b)
    assert isinstance(y, torch.Tensor)
    want = F.linear(x, w, b)
    torch.testing.assert_close(y, want.detach())
    dy = torch.randn(want.shape)
    want.backward(dy)
    for got, t in zip(fc.linear_backward(dy, x, w, b), (x, w, b)):
        assert isinstance(got, torch.Tensor)
        torch.testing.assert_close(got, t.grad)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: fc.linear(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)), ValueError, "features"),
    (lambda: fc.linear(np.zeros((2, 3)), np.zeros((4, 3), np.float32)), TypeError, "dtype"),
    (lambda: fc.linear(np.zeros((2, 3), np.int32), np.zeros((4, 3), np.int32)), TypeError, "input"),
    (lambda: fc.linear(np.zeros((2, 3)), np.zeros((4, 3, 1))), ValueError, "weight"),
    (lambda: fc.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(5)), ValueError, "bias"),
    (lambda: fc.linear(np.zeros(()), np.zeros((4, 3))), ValueError, "input"),
    (lambda: fc.linear(np.zeros((1, 1)), None), TypeError, "weight"),
    (lambda: fc.linear([[1.0]], np.zeros((1, 1))), TypeError, "input"),
    (lambda: fc.linear_backward(np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3))), ValueError, "grad_output"),
    (lambda: fc.linear_backward(np.zeros((2, 4)), np.zeros((2, 3)), np.zeros((4, 3)), needs_input_grad=(True,)),
     ValueError, "needs_input_grad"),
    (lambda: _C.linear_fprop(np.zeros((2, 3)), np.zeros((4, 3)), None, np.zeros((2, 5))), ValueError, "output"),
    (lambda: _C.linear_fprop(np.zeros((2, 3)), np.zeros((4, 3)), None, np.zeros((2, 4)).T.copy().T), ValueError,
     "output"),
])
def test_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_transposed_weight_gets_its_gradient_in_its_own_layout():
    rng = np.random.default_rng(9)
    kernel = rng.standard_normal((20, 7)).astype(np.float32)   # Keras (in, out)
    x, dy = rng.standard_normal((5, 20)).astype(np.float32), rng.standard_normal((5, 7)).astype(np.float32)
    _, dw, _ = fc.linear_backward(dy, x, kernel.T)
    assert dw.shape == (7, 20) and dw.T.flags.c_contiguous
    assert_close(dw, ref.linear_backward(dy, x, kernel.T)[1], 5)
    _, dw_c, _ = fc.linear_backward(dy, x, np.ascontiguousarray(kernel.T))
    assert dw_c.flags.c_contiguous
