"""Any CPU DLPack producer in, the producer's arrays out, zero-copy: a generic ``__dlpack__``-only
wrapper (over torch tensors, so it runs wherever torch is) and JAX arrays where jax is installed."""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _arrays


class DLPackOnly:
    """An array that offers nothing but the DLPack protocol."""

    def __init__(self, base):
        self._base = base

    def __dlpack__(self, *args, **kwargs):
        return self._base.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._base.__dlpack_device__()


@pytest.fixture
def allocations(monkeypatch):
    """Data pointers of the output arrays fastconv allocates."""
    seen = []
    real = _arrays.aligned_empty

    def spy(shape, dtype, *args):
        a = real(shape, dtype, *args)
        seen.append(a.__array_interface__["data"][0])
        return a

    monkeypatch.setattr(_arrays, "aligned_empty", spy)
    return seen


def test_outputs_are_64_byte_aligned():
    for shape in [(3,), (2, 5, 7), (0, 4)]:
        assert _arrays.empty(shape, np.dtype(np.float32), "t").ctypes.data % 64 == 0


def test_generic_dlpack_producer_in_numpy_out_zero_copy(monkeypatch, allocations):
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    seen = []
    real = fc._conv2d._C.conv2d_fprop

    def fprop(xa, wa, *rest):
        seen.append((xa.__array_interface__["data"][0], wa.__array_interface__["data"][0]))
        return real(xa, wa, *rest)

    monkeypatch.setattr(fc._conv2d._C, "conv2d_fprop", fprop)
    y = fc.conv2d(DLPackOnly(x), DLPackOnly(w), None, 1, 1)
    assert seen == [(x.data_ptr(), w.data_ptr())]  # read in place
    assert isinstance(y, np.ndarray) and y.ctypes.data == allocations[-1]
    np.testing.assert_allclose(y, torch.nn.functional.conv2d(x, w, None, 1, 1).numpy(), rtol=1e-12, atol=1e-12)
    yt = torch.from_dlpack(y)  # and out again without a copy
    assert yt.data_ptr() == y.ctypes.data

    gx, gw, gb = fc.conv2d_backward(DLPackOnly(yt), DLPackOnly(x), DLPackOnly(w), None, 1, 1)
    assert isinstance(gx, np.ndarray) and gx.shape == (2, 3, 8, 8) and gw.shape == (4, 3, 3, 3) and gb is None
    p = fc.max_pool2d(DLPackOnly(x), 2)
    np.testing.assert_array_equal(p, torch.nn.functional.max_pool2d(x, 2).numpy())


def test_jax_arrays_in_and_out_zero_copy(allocations):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 3, 9, 8)))
    w = jnp.asarray(rng.standard_normal((4, 3, 3, 3)))
    b = jnp.asarray(rng.standard_normal(4))
    assert np.from_dlpack(x).ctypes.data == x.unsafe_buffer_pointer()  # what fastconv reads
    y = fc.conv2d(x, w, b, 2, 1)
    assert isinstance(y, jax.Array) and y.dtype == jnp.float64
    assert y.unsafe_buffer_pointer() == allocations[-1]
    ref = jax.lax.conv_general_dilated(x, w, (2, 2), [(1, 1), (1, 1)]) + b[None, :, None, None]
    np.testing.assert_allclose(np.asarray(y), np.asarray(ref), rtol=1e-12, atol=1e-12)

    dy = jnp.asarray(rng.standard_normal(y.shape))
    gx, gw, gb = fc.conv2d_backward(dy, x, w, b, 2, 1)
    assert all(isinstance(g, jax.Array) for g in (gx, gw, gb))
    _, vjp = jax.vjp(lambda a, c: jax.lax.conv_general_dilated(a, c, (2, 2), [(1, 1), (1, 1)]), x, w)
    rx, rw = vjp(dy)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(rx), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(gw), np.asarray(rw), rtol=1e-10, atol=1e-10)

    p = fc.avg_pool2d(x, 2)
    assert isinstance(p, jax.Array)
    np.testing.assert_allclose(np.asarray(p), np.asarray(x)[:, :, :8].reshape(2, 3, 4, 2, 4, 2).mean((3, 5)),
                               rtol=1e-12)
