"""Every bad-argument path of the pooling ops: the exception type, a message naming the argument,
and no crash for malformed calls (also straight into the native kernels)."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C

X = np.zeros((2, 3, 6, 6), np.float32)


def _max(x, *args, **kw):
    return fc.max_pool2d(x, *args, **kw)


def _avg(x, *args, **kw):
    return fc.avg_pool2d(x, *args, **kw)


def _max_bwd(x, *args, **kw):
    # grad_output is checked after the arguments: any array reaches the argument checks
    return fc.max_pool2d_backward(x, x, *args, **kw)


def _avg_bwd(x, *args, **kw):
    return fc.avg_pool2d_backward(x, x, *args, **kw)


ALL_OPS = [_max, _avg, _max_bwd, _avg_bwd]
MAX_OPS = [_max, _max_bwd]
AVG_OPS = [_avg, _avg_bwd]


# --------------------------------------------------------------------------- shared arguments


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("kernel,exc", [
    (0, ValueError), (-1, ValueError), ((2, 0), ValueError), ((2, 2, 2), ValueError), ((), ValueError),
    (2.0, TypeError), ("2", TypeError), (None, TypeError), (True, TypeError), ((2, 1.5), TypeError),
    (2**31, ValueError), (2**40, ValueError), (2**70, ValueError),
])
def test_kernel_size(op, kernel, exc):
    with pytest.raises(exc, match="kernel_size"):
        op(X, kernel)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("stride,exc", [
    (0, ValueError), (-2, ValueError), ((1, 0), ValueError), ((1, 2, 3), ValueError), (1.5, TypeError),
    ("1", TypeError), (False, TypeError), (2**31, ValueError),
])
def test_stride(op, stride, exc):
    with pytest.raises(exc, match="stride"):
        op(X, 2, stride)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("padding,exc", [
    (-1, ValueError), ((0, -1), ValueError), ((1, 1, 1), ValueError), (0.5, TypeError), ("same", TypeError),
    (2**31, ValueError),
])
def test_padding(op, padding, exc):
    with pytest.raises(exc, match="padding"):
        op(X, 3, 1, padding)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("kernel,padding", [(2, 2), (3, 2), ((4, 1), (1, 1)), (1, 1), (2**31 - 1, 2**30)])
def test_padding_at_most_half_kernel(op, kernel, padding):
    with pytest.raises(ValueError, match="padding.*kernel_size"):
        op(X, kernel, 1, padding)


@pytest.mark.parametrize("op", MAX_OPS)
@pytest.mark.parametrize("dilation,exc", [
    (0, ValueError), (-1, ValueError), ((1, 0), ValueError), ((1, 1, 1), ValueError), (1.0, TypeError),
    (2**31, ValueError),
])
def test_dilation(op, dilation, exc):
    with pytest.raises(exc, match="dilation"):
        op(X, 2, 1, 0, dilation)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("value", [1, 0, None, "True", 1.0])
def test_ceil_mode_must_be_bool(op, value):
    with pytest.raises(TypeError, match="ceil_mode"):
        op(X, 2, ceil_mode=value)


@pytest.mark.parametrize("op", MAX_OPS)
@pytest.mark.parametrize("value", ["yes", None, 1.0])
def test_return_indices_must_be_bool(op, value):
    with pytest.raises(TypeError, match="return_indices"):
        op(X, 2, return_indices=value)


@pytest.mark.parametrize("op", AVG_OPS)
@pytest.mark.parametrize("value", [1, None, "no"])
def test_count_include_pad_must_be_bool(op, value):
    with pytest.raises(TypeError, match="count_include_pad"):
        op(X, 2, count_include_pad=value)


@pytest.mark.parametrize("op", AVG_OPS)
@pytest.mark.parametrize("value,exc", [(0, ValueError), (np.int64(0), ValueError), (2.5, TypeError),
                                       (True, TypeError), ("2", TypeError), (2**63, ValueError)])
def test_divisor_override(op, value, exc):
    with pytest.raises(exc, match="divisor_override"):
        op(X, 2, divisor_override=value)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("layout,exc", [("NCWH", ValueError), ("", ValueError), (3, TypeError), (None, TypeError)])
def test_layout(op, layout, exc):
    with pytest.raises(exc, match="layout"):
        op(X, 2, layout=layout)


# --------------------------------------------------------------------------- input


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("x", [np.zeros((1, 2, 3, 4, 4), np.float32), np.zeros((4, 4), np.float32),
                               np.zeros(4, np.float32), np.zeros((), np.float32)])
def test_input_rank(op, x):
    with pytest.raises(ValueError, match="input"):
        op(x, 2)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("shape", [(1, 0, 4, 4), (1, 3, 0, 4), (1, 3, 4, 0), (0, 4, 4), (3, 4, 0)])
def test_input_empty_non_batch_axes(op, shape):
    with pytest.raises(ValueError, match="input"):
        op(np.zeros(shape, np.float32), 2)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.float16, np.complex64])
def test_input_dtype(op, dtype):
    with pytest.raises(TypeError, match="input"):
        op(np.zeros((1, 3, 4, 4), dtype), 2)


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("x", [None, [[[[1.0, 2.0]]]], 3.0, "x", object()])
def test_input_not_an_array(op, x):
    with pytest.raises(TypeError, match="input"):
        op(x, 1)


@pytest.mark.parametrize("op,kw", [(op, kw) for op in ALL_OPS for kw in (dict(kernel_size=7), dict(kernel_size=(2, 7)))]
                         + [(op, dict(kernel_size=4, padding=2, stride=1, dilation=4)) for op in MAX_OPS])
def test_output_too_small(op, kw):
    with pytest.raises(ValueError, match="(?s)output size is too small.*kernel_size"):
        op(X, **kw)


def test_output_too_small_ceil_mode():
    # as torch, ceil_mode lets a kernel larger than the input give one window; dilation can still be too much
    assert fc.max_pool2d(np.zeros((1, 1, 1, 5)), (3, 1), ceil_mode=True).shape == (1, 1, 1, 5)
    with pytest.raises(ValueError, match="output size is too small"):
        fc.max_pool2d(np.zeros((1, 1, 1, 5)), (3, 1), dilation=(2, 1), ceil_mode=True)


def test_huge_output_is_a_memory_error_not_a_crash():
    x = np.broadcast_to(np.zeros((1, 1, 1, 1), np.float32), (1, 1, 2**30, 2**30))
    with pytest.raises((MemoryError, ValueError)):
        fc.max_pool2d(x, 1)
    with pytest.raises((MemoryError, ValueError)):
        fc.avg_pool2d(x, 1)


def test_empty_batch_with_huge_planes_does_not_allocate_or_crash():
    x = np.zeros((0, 1, 2**20, 2**20), np.float32)
    y = fc.max_pool2d(x, 2**10)
    assert y.shape == (0, 1, 2**10, 2**10)


# --------------------------------------------------------------------------- backward arguments


@pytest.mark.parametrize("bwd,fwd", [(fc.max_pool2d_backward, fc.max_pool2d),
                                     (fc.avg_pool2d_backward, fc.avg_pool2d)])
def test_grad_output_shape(bwd, fwd):
    y = fwd(X, 2)
    for bad in (y[:1], y[..., :2], y[0], y[None], np.zeros((2, 3, 6, 6), np.float32)):
        with pytest.raises(ValueError, match="grad_output"):
            bwd(bad, X, 2)


@pytest.mark.parametrize("bwd,fwd", [(fc.max_pool2d_backward, fc.max_pool2d),
                                     (fc.avg_pool2d_backward, fc.avg_pool2d)])
def test_grad_output_dtype(bwd, fwd):
    y = fwd(X, 2)
    with pytest.raises(TypeError, match="grad_output"):
        bwd(y.astype(np.float64), X, 2)
    with pytest.raises(TypeError, match="grad_output"):
        bwd(y.astype(np.int32), X, 2)
    with pytest.raises(TypeError, match="grad_output"):
        bwd(None, X, 2)


def test_indices_shape_dtype_and_kind():
    y, idx = fc.max_pool2d(X, 2, return_indices=True)
    for bad in (idx[:1], idx[..., :1], idx[0], np.zeros((2, 3, 6, 6), np.int64)):
        with pytest.raises(ValueError, match="indices"):
            fc.max_pool2d_backward(y, X, 2, indices=bad)
    for bad in (idx.astype(np.int32), idx.astype(np.float64), idx.astype(np.uint64)):
        with pytest.raises(TypeError, match="indices"):
            fc.max_pool2d_backward(y, X, 2, indices=bad)
    with pytest.raises(TypeError, match="indices"):
        fc.max_pool2d_backward(y, X, 2, indices=idx.tolist())
    with pytest.raises(TypeError, match="indices"):
        fc.max_pool2d_backward(y, X, 2, indices=3)


def test_indices_from_another_call_do_not_crash():
    y, _ = fc.max_pool2d(X, 2, return_indices=True)
    rng = np.random.default_rng(0)
    for wild in (rng.integers(-2**62, 2**62, size=y.shape), np.full(y.shape, 2**63 - 1, np.int64),
                 np.full(y.shape, -(2**63), np.int64)):
        dx = fc.max_pool2d_backward(y, X, 2, indices=wild.astype(np.int64))
        assert dx.shape == X.shape and np.isfinite(dx).all()


# --------------------------------------------------------------------------- out=


@pytest.mark.parametrize("op", [fc.max_pool2d, fc.avg_pool2d])
def test_out(op):
    y = op(X, 2)
    with pytest.raises(ValueError, match="out"):
        op(X, 2, out=np.zeros((2, 3, 3, 4), np.float32))
    with pytest.raises(TypeError, match="out"):
        op(X, 2, out=np.zeros(y.shape, np.float64))
    with pytest.raises(TypeError, match="out"):
        op(X, 2, out=y.tolist())
    ro = np.zeros(y.shape, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="out"):
        op(X, 2, out=ro)
    with pytest.raises(ValueError, match="out"):
        op(X, 2, out=np.broadcast_to(np.zeros((1, 1, 1, 1), np.float32), y.shape))
    buf = np.zeros((2, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match="out"):
        op(buf, 2, 2, out=buf[:, :, :3, :3])  # out overlaps the input


# --------------------------------------------------------------------------- the native entry points


def test_native_entry_points_refuse_inconsistent_arrays():
    x = np.zeros((2, 3, 6, 6), np.float32)
    y = np.zeros((2, 3, 3, 3), np.float32)
    idx = np.zeros((2, 3, 3, 3), np.int64)
    k = s = (2, 2)
    p, d = (0, 0), (1, 1)
    _C.max_pool2d_fprop(x, y, idx, k, s, p, d)  # consistent: fine
    cases = [
        (ValueError, lambda: _C.max_pool2d_fprop(x, np.zeros((2, 3, 2, 3), np.float32), None, k, s, p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, np.zeros((2, 4, 3, 3), np.float32), None, k, s, p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x[0], y[0], None, k, s, p, d)),
        (TypeError, lambda: _C.max_pool2d_fprop(x, y.astype(np.float64), None, k, s, p, d)),
        (TypeError, lambda: _C.max_pool2d_fprop(x.astype(np.int32), y.astype(np.int32), None, k, s, p, d)),
        (TypeError, lambda: _C.max_pool2d_fprop(x, y, idx.astype(np.int32), k, s, p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, idx[:, :, :2], k, s, p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, (0, 2), s, p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, k, (0, 2), p, d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, k, s, (-1, 0), d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, k, s, (2, 0), d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, k, s, p, (0, 1))),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, (2**40, 2), s, (2**39, 0), d)),
        (ValueError, lambda: _C.max_pool2d_fprop(x, y, None, (2**62, 2), s, (2**61, 0), (4, 1))),
        (TypeError, lambda: _C.max_pool2d_fprop(x, y, None, (2**64, 2), s, p, d)),
        (ValueError, lambda: _C.max_pool2d_dgrad(y, x, None, x[:1].copy(), k, s, p, d)),
        (TypeError, lambda: _C.max_pool2d_dgrad(y, x, None, x.astype(np.float64), k, s, p, d)),
        (ValueError, lambda: _C.max_pool2d_dgrad(y, x, idx[:1], x.copy(), k, s, p, d)),
        (ValueError, lambda: _C.avg_pool2d_fprop(x, np.zeros((2, 3, 4, 4), np.float32), k, s, p, True, 0)),
        (ValueError, lambda: _C.avg_pool2d_fprop(x, y, k, s, (1, 3), True, 0)),
        (TypeError, lambda: _C.avg_pool2d_dgrad(y, x.astype(np.float64), k, s, p, True, 0)),
        (ValueError, lambda: _C.avg_pool2d_dgrad(y[:1], x, k, s, p, True, 0)),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    with pytest.raises(ValueError, match="read-only"):
        _C.max_pool2d_fprop(x, _ro(y), None, k, s, p, d)
    with pytest.raises(ValueError, match="read-only"):
        _C.max_pool2d_fprop(x, y, _ro(idx), k, s, p, d)
    with pytest.raises(ValueError, match="read-only"):
        _C.max_pool2d_dgrad(y, x, None, _ro(x), k, s, p, d)
    with pytest.raises(ValueError, match="read-only"):
        _C.avg_pool2d_dgrad(y, _ro(x), k, s, p, True, 0)


def _ro(a):
    r = np.zeros_like(a)
    r.setflags(write=False)
    return r


def test_native_ceil_mode_extents_are_accepted_and_others_refused():
    x = np.zeros((1, 1, 5, 5))
    for P in (2, 3):  # floor and ceil extents for kernel 2, stride 2
        _C.avg_pool2d_fprop(x, np.zeros((1, 1, P, P)), (2, 2), (2, 2), (0, 0), True, 0)
    for P in (1, 4):
        with pytest.raises(ValueError, match="output size"):
            _C.avg_pool2d_fprop(x, np.zeros((1, 1, P, P)), (2, 2), (2, 2), (0, 0), True, 0)
