"""Large outputs come from a pool of recycled buffers: a buffer is handed out again only when no
array (or view, or exporter) made from it is alive."""

import gc

import numpy as np
import pytest

import fastconv as F
from fastconv import _arrays, _output_pool

SHAPE = (8, 32, 32, 64)  # 2 MB of float32, above the pool's threshold


def _filled(value):
    a = _arrays.empty(SHAPE, np.float32, "test")
    a[...] = value
    return a


def test_buffer_reused_after_release():
    _output_pool.clear()
    a = _filled(1.0)
    address = a.ctypes.data
    assert _output_pool.pooled_bytes() >= a.nbytes
    del a
    gc.collect()
    b = _arrays.empty(SHAPE, np.float32, "test")
    assert b.ctypes.data == address
    assert b.ctypes.data % _arrays.ALIGNMENT == 0


@pytest.mark.parametrize("keep", ["array", "view", "reshape", "memoryview", "transpose"])
def test_live_references_keep_their_data(keep):
    a = _filled(1.0)
    held = {"array": lambda: a, "view": lambda: a[1:], "reshape": lambda: a.reshape(-1),
            "memoryview": lambda: memoryview(a), "transpose": lambda: a.T}[keep]()
    del a
    gc.collect()
    others = [_filled(float(i + 2)) for i in range(3)]
    assert np.all(np.asarray(held) == 1.0)
    assert all(np.all(o == i + 2) for i, o in enumerate(others))


def test_torch_tensor_keeps_its_data():
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(_filled(1.0))
    gc.collect()
    b = _filled(5.0)
    assert bool((t == 1.0).all())
    assert not np.shares_memory(b, t.numpy())


def test_conv_outputs_kept_by_caller_are_not_overwritten():
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((16, 28, 28, 1), dtype=np.float32)
    x2 = rng.standard_normal((16, 28, 28, 1), dtype=np.float32)
    w = rng.standard_normal((64, 3, 3, 1), dtype=np.float32)
    y1 = F.conv2d(x1, w, layout="NHWC")
    expected = y1.copy()
    for _ in range(3):
        y2 = F.conv2d(x2, w, layout="NHWC")
        assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, expected)


def test_pool_size_is_bounded(monkeypatch):
    monkeypatch.setattr(_output_pool, "MAX_BYTES", 8 * 1024 * 1024)
    _output_pool.clear()
    kept = []
    for i in range(12):
        a = _arrays.empty((1024 * 1024 + 4096 * i,), np.uint8, "test")
        if i % 3 == 0:
            kept.append(a)
    assert _output_pool.pooled_bytes() <= 8 * 1024 * 1024
    _output_pool.clear()


def test_small_outputs_are_not_pooled():
    _output_pool.clear()
    _arrays.empty((16, 16), np.float32, "test")
    assert _output_pool.pooled_bytes() == 0
