"""The CUDA kernels on a real GPU, through CuPy arrays and PyTorch CUDA tensors: every op against the
CPU path and the float64 reference on random and edge shapes (outputs poisoned with NaN first),
streams, array kinds in and out, bitwise run-to-run determinism, and the errors.

Skipped unless fastconv.cuda_available() and the array library are present (marker ``gpu``).
"""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C, _gpu_arrays
from fastconv.testing import reference as R
from fastconv.testing.tolerances import assert_close

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not fc.cuda_available(), reason="needs a CUDA build and a GPU"),
]

LIBS = ("cupy", "torch")


class Lib:
    """to_device / to_host for one array library."""

    def __init__(self, name):
        self.name = name
        if name == "cupy":
            self.cp = pytest.importorskip("cupy")
        else:
            self.torch = pytest.importorskip("torch")
            if not self.torch.cuda.is_available():
                pytest.skip("torch has no CUDA")

    def dev(self, a):
        if self.name == "cupy":
            return self.cp.asarray(a)
        return self.torch.from_numpy(np.ascontiguousarray(a)).cuda()

    def host(self, a):
        if self.name == "cupy":
            assert isinstance(a, self.cp.ndarray)
            return self.cp.asnumpy(a)
        assert isinstance(a, self.torch.Tensor) and a.is_cuda
        return a.cpu().numpy()

    def sync(self):
        if self.name == "cupy":
            self.cp.cuda.get_current_stream().synchronize()
        else:
            self.torch.cuda.synchronize()


@pytest.fixture(params=LIBS)
def lib(request, monkeypatch):
    monkeypatch.setattr(_gpu_arrays, "_poison_outputs", True)
    return Lib(request.param)


def rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def ints(rng, shape):
    """Small integers: sums of them are exact in float32, so results compare bit for bit."""
    return rng.integers(-8, 9, size=shape).astype(np.float32)


def stored(a, layout):
    return np.ascontiguousarray(a if layout == "NCHW" else a.transpose(0, 2, 3, 1))


def logical(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


# (N, C, H, W, kernel, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    (2, 3, 9, 7, 3, 2, 1, 1, False),
    (2, 3, 9, 7, 3, 2, 1, 1, True),
    (1, 5, 8, 8, 2, 2, 0, 1, False),
    (3, 4, 11, 6, (3, 2), (1, 3), (1, 1), (2, 1), True),
    (1, 1, 1, 1, 1, 1, 0, 1, False),
    (2, 33, 7, 5, 3, 1, 1, 2, False),
    (1, 2, 5, 5, 5, 5, 2, 1, True),      # kernel = input
    (2, 3, 6, 9, 2, 4, 1, 1, False),     # stride > kernel
    (1, 3, 1, 6, (2, 1), 1, (1, 0), (2, 1), False),  # windows without a tap inside (dilation)
    (2, 3, 2, 5, (2, 3), (1, 2), (1, 1), (2, 3), True),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_max_pool2d(lib, case, layout):
    N, C, H, W, k, s, p, d, ceil_mode = case
    rng = np.random.default_rng(0)
    x = rand(rng, (N, C, H, W))
    x.reshape(-1)[::7] = x.reshape(-1)[-1]  # ties
    args = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
    xs = stored(x, layout)
    y_cpu, i_cpu = fc.max_pool2d(xs, return_indices=True, layout=layout, **args)
    y, idx = fc.max_pool2d(lib.dev(xs), return_indices=True, layout=layout, **args)
    np.testing.assert_array_equal(lib.host(y), y_cpu)
    np.testing.assert_array_equal(lib.host(idx), i_cpu)
    y_ref, _ = R.max_pool2d(x.astype(np.float64), **args)
    np.testing.assert_array_equal(logical(lib.host(y), layout), y_ref.astype(np.float32))

    # Backward: integer dy, exact. Windows without a tap inside (y = -inf) send their gradient
    # nowhere on the GPU (see cuda_pool.h), so their dy is zero for the comparison with the CPU.
    dy = ints(rng, y_cpu.shape)
    dy[np.isneginf(y_cpu)] = 0
    dx_cpu = fc.max_pool2d_backward(dy, xs, layout=layout, **args)
    for indices in (None, idx):
        dx = fc.max_pool2d_backward(lib.dev(dy), lib.dev(xs), indices=indices, layout=layout, **args)
        np.testing.assert_array_equal(lib.host(dx), dx_cpu)


def test_max_pool2d_nan_and_inf(lib):
    x = np.array([[[[1, np.nan, 3], [np.inf, 2, -np.inf], [np.nan, 0, 5]]]], np.float32)
    y_cpu, i_cpu = fc.max_pool2d(x, 2, 1, return_indices=True)
    y, idx = fc.max_pool2d(lib.dev(x), 2, 1, return_indices=True)
    np.testing.assert_array_equal(lib.host(y), y_cpu)
    np.testing.assert_array_equal(lib.host(idx), i_cpu)


AVG_CASES = [
    (2, 3, 9, 7, 3, 2, 1, False, True, None),
    (2, 3, 9, 7, 3, 2, 1, True, False, None),
    (1, 4, 8, 8, 2, 2, 0, False, True, 3),
    (3, 5, 11, 6, (3, 2), (1, 3), (1, 1), True, True, -2),
    (1, 1, 1, 1, 1, 1, 0, False, True, None),
    (2, 33, 7, 5, 3, 1, 1, True, False, None),
]


@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_avg_pool2d(lib, case, layout):
    N, C, H, W, k, s, p, ceil_mode, cip, div = case
    rng = np.random.default_rng(1)
    x = rand(rng, (N, C, H, W))
    args = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=cip,
                divisor_override=div)
    xs = stored(x, layout)
    y = lib.host(fc.avg_pool2d(lib.dev(xs), layout=layout, **args))
    kk = k if isinstance(k, tuple) else (k, k)
    assert_close(logical(y, layout), R.avg_pool2d(x.astype(np.float64), **args), kk[0] * kk[1])
    assert_close(y, fc.avg_pool2d(xs, layout=layout, **args), kk[0] * kk[1])
    dy = rand(rng, y.shape)
    dx = lib.host(fc.avg_pool2d_backward(lib.dev(dy), lib.dev(xs), layout=layout, **args))
    dx_ref = R.avg_pool2d_dgrad(logical(dy, layout).astype(np.float64), x.shape, **args)
    assert_close(logical(dx, layout), dx_ref, kk[0] * kk[1])


# (N, C, M, H, W, R, S, stride, padding, dilation)
DW_CASES = [
    (2, 3, 1, 9, 8, 3, 3, 1, 1, 1),
    (2, 3, 2, 9, 8, 3, 3, 2, 1, 1),
    (1, 4, 1, 7, 7, 5, 3, (1, 2), (2, 0), (1, 2)),
    (3, 33, 1, 6, 5, 3, 3, 1, 1, 1),
    (1, 2, 3, 4, 4, 4, 4, 1, 0, 1),          # 16 taps: two tap groups in wgrad
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1),
    (2, 8, 1, 12, 12, 7, 7, 2, 3, 1),        # 49 taps
]


@pytest.mark.parametrize("case", DW_CASES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("bias", [True, False])
def test_depthwise_conv2d(lib, case, layout, bias):
    N, C, M, H, W, Rk, Sk, s, p, d = case
    rng = np.random.default_rng(2)
    x = rand(rng, (N, C, H, W))
    w = rand(rng, (C * M, 1, Rk, Sk))
    b = rand(rng, (C * M,)) if bias else None
    args = dict(stride=s, padding=p, dilation=d, groups=C)
    xs, ws = stored(x, layout), stored(w, layout)
    y = lib.host(fc.conv2d(lib.dev(xs), lib.dev(ws), None if b is None else lib.dev(b), layout=layout, **args))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert_close(logical(y, layout), R.conv2d(x64, w64, None if b is None else b.astype(np.float64), **args), Rk * Sk)

    dy = rand(rng, y.shape)
    dyl = logical(dy, layout).astype(np.float64)
    gx, gw, gb = fc.conv2d_backward(lib.dev(dy), lib.dev(xs), lib.dev(ws), None if b is None else lib.dev(b),
                                    layout=layout, **args)
    assert_close(logical(lib.host(gx), layout), R.conv2d_dgrad(dyl, x.shape, w64, **args), Rk * Sk * M)
    P, Q = y.shape[2:] if layout == "NCHW" else y.shape[1:3]
    assert_close(logical(lib.host(gw), layout), R.conv2d_wgrad(dyl, x64, w.shape, **args), N * P * Q)
    if bias:
        assert_close(lib.host(gb), R.conv2d_bgrad(dyl), N * P * Q)
    else:
        assert gb is None


def test_depthwise_small_integers_exact(lib):
    rng = np.random.default_rng(3)
    x, w, b = ints(rng, (2, 6, 10, 9)), ints(rng, (12, 1, 3, 3)), ints(rng, (12,))
    y = lib.host(fc.conv2d(lib.dev(x), lib.dev(w), lib.dev(b), 1, 1, 1, 6))
    np.testing.assert_array_equal(y, fc.conv2d(x, w, b, 1, 1, 1, 6))
    dy = ints(rng, y.shape)
    got = fc.conv2d_backward(lib.dev(dy), lib.dev(x), lib.dev(w), lib.dev(b), 1, 1, 1, 6)
    for g, e in zip(got, fc.conv2d_backward(dy, x, w, b, 1, 1, 1, 6)):
        np.testing.assert_array_equal(lib.host(g), e)


def test_unbatched_and_empty_batch(lib):
    rng = np.random.default_rng(4)
    x = rand(rng, (3, 6, 6))
    np.testing.assert_array_equal(lib.host(fc.max_pool2d(lib.dev(x), 2)), fc.max_pool2d(x, 2))
    w = rand(rng, (3, 1, 3, 3))
    assert_close(lib.host(fc.conv2d(lib.dev(x), lib.dev(w), None, 1, 1, 1, 3)), fc.conv2d(x, w, None, 1, 1, 1, 3), 9)
    e = np.zeros((0, 3, 6, 6), np.float32)
    assert lib.host(fc.avg_pool2d(lib.dev(e), 2)).shape == (0, 3, 3, 3)
    gx, gw, gb = fc.conv2d_backward(lib.dev(np.zeros((0, 3, 6, 6), np.float32)), lib.dev(e), lib.dev(w),
                                    lib.dev(np.ones(3, np.float32)), 1, 1, 1, 3)
    assert lib.host(gx).shape == e.shape
    np.testing.assert_array_equal(lib.host(gw), 0)
    np.testing.assert_array_equal(lib.host(gb), 0)


def test_non_contiguous_inputs_read_in_place(lib):
    rng = np.random.default_rng(5)
    base = rand(rng, (2, 4, 12, 14))
    dev = lib.dev(base)
    view = dev[:, ::-1, 1::2, ::2] if lib.name == "cupy" else dev[:, :, 1::2, ::2].transpose(2, 3)
    host_view = base[:, ::-1, 1::2, ::2] if lib.name == "cupy" else base[:, :, 1::2, ::2].transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(lib.host(fc.max_pool2d(view, 2)), fc.max_pool2d(np.ascontiguousarray(host_view), 2))


def test_same_bits_every_run(lib):
    rng = np.random.default_rng(6)
    x = lib.dev(rand(rng, (8, 32, 40, 40)))
    w = lib.dev(rand(rng, (32, 1, 3, 3)))
    b = lib.dev(rand(rng, (32,)))
    dy = lib.dev(rand(rng, (8, 32, 40, 40)))
    dyp = lib.dev(rand(rng, (8, 32, 20, 20)))
    runs = []
    for _ in range(3):
        out = list(fc.conv2d_backward(dy, x, w, b, 1, 1, 1, 32))
        out.append(fc.conv2d(x, w, b, 1, 1, 1, 32))
        out.append(fc.max_pool2d_backward(dyp, x, 3, 2, 1))
        out.append(fc.avg_pool2d_backward(dyp, x, 3, 2, 1))
        runs.append([lib.host(a).tobytes() for a in out])
    assert runs[0] == runs[1] == runs[2]


def test_same_bits_at_both_index_widths(lib):
    """The element kernels' 32-bit index path (taken here) against the 64-bit one (forced)."""
    rng = np.random.default_rng(7)
    for layout in ("NCHW", "NHWC"):
        x = lib.dev(stored(rand(rng, (4, 24, 30, 26)), layout))
        w = lib.dev(stored(rand(rng, (48, 1, 3, 3)), layout))
        dy = lib.dev(stored(rand(rng, (4, 48, 15, 13)), layout))
        dyp = lib.dev(stored(rand(rng, (4, 24, 15, 13)), layout))
        conv = dict(stride=2, padding=1, dilation=1, groups=24, layout=layout)
        pool = dict(kernel_size=3, stride=2, padding=1, layout=layout)
        runs = []
        for bits in (0, 64):
            _C._set_gpu_index_bits(bits)
            try:
                y, idx = fc.max_pool2d(x, return_indices=True, **pool)
                out = [y, idx, fc.max_pool2d_backward(dyp, x, indices=idx, **pool),
                       fc.max_pool2d_backward(dyp, x, **pool), fc.avg_pool2d(x, **pool),
                       fc.avg_pool2d_backward(dyp, x, **pool), fc.conv2d(x, w, None, **conv),
                       fc.conv2d_backward(dy, x, w, None, needs_input_grad=(True, False, False), **conv)[0]]
                runs.append([lib.host(a).tobytes() for a in out])
            finally:
                _C._set_gpu_index_bits(0)
        assert runs[0] == runs[1]


def _spy_streams(monkeypatch):
    seen = []
    real = _C.cuda_max_pool2d_fprop

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(_C, "cuda_max_pool2d_fprop", spy)
    return seen


def test_cupy_non_default_stream(monkeypatch):
    cp = pytest.importorskip("cupy")
    seen = _spy_streams(monkeypatch)
    x = np.random.default_rng(7).standard_normal((4, 8, 64, 64)).astype(np.float32)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        xd = cp.asarray(x)
        y = fc.max_pool2d(xd, 3, 2, 1)
        assert isinstance(y, cp.ndarray)
    s.synchronize()
    assert seen == [s.ptr]
    np.testing.assert_array_equal(cp.asnumpy(y), fc.max_pool2d(x, 3, 2, 1))


def test_torch_stream_and_graph_capture(monkeypatch):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    seen = _spy_streams(monkeypatch)
    x = np.random.default_rng(8).standard_normal((4, 8, 32, 32)).astype(np.float32)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        xd = torch.from_numpy(x).cuda()
        y = fc.max_pool2d(xd, 2)
    torch.cuda.synchronize()
    assert seen == [s.cuda_stream]
    assert isinstance(y, torch.Tensor) and y.device == xd.device
    np.testing.assert_array_equal(y.cpu().numpy(), fc.max_pool2d(x, 2))
    # Graph capture fails if a kernel is launched anywhere but the capturing (current) stream.
    static_x = torch.from_numpy(x).cuda()
    fc.max_pool2d(static_x, 2)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        static_y = fc.max_pool2d(static_x, 2)
    x2 = x[::-1].copy()
    static_x.copy_(torch.from_numpy(x2))
    g.replay()
    torch.cuda.synchronize()
    np.testing.assert_array_equal(static_y.cpu().numpy(), fc.max_pool2d(x2, 2))


def test_requires_grad_tensor_is_accepted():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    x = torch.randn(2, 3, 8, 8, device="cuda", requires_grad=True)
    y = fc.avg_pool2d(x, 2)
    np.testing.assert_allclose(y.cpu().numpy(), fc.avg_pool2d(x.detach().cpu().numpy(), 2), rtol=1e-6)


class CaiOnly:
    """A foreign producer with only __cuda_array_interface__ (as Numba's device arrays)."""

    def __init__(self, a):
        self._a = a
        self.__cuda_array_interface__ = a.__cuda_array_interface__


class DlpackOnly:
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_foreign_producers():
    cp = pytest.importorskip("cupy")
    x = np.random.default_rng(9).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for wrapper in (CaiOnly, DlpackOnly):
        y = fc.max_pool2d(wrapper(cp.asarray(x)), 2)
        assert isinstance(y, cp.ndarray)
        np.testing.assert_array_equal(cp.asnumpy(y), fc.max_pool2d(x, 2))


def test_errors(lib):
    x = lib.dev(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(TypeError, match="float64.*float32 only"):
        fc.max_pool2d(lib.dev(np.zeros((1, 2, 4, 4))), 2)
    with pytest.raises(ValueError, match="one device"):
        fc.conv2d(x, np.zeros((2, 1, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match="one device"):
        fc.avg_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), x, 2)
    with pytest.raises(ValueError, match="depthwise"):
        fc.conv2d(x, lib.dev(np.zeros((3, 2, 3, 3), np.float32)), algorithm="direct")
    with pytest.raises(ValueError, match="padding should be at most half"):
        fc.max_pool2d(x, 2, padding=2)


def test_two_gpus_is_an_error():
    cp = pytest.importorskip("cupy")
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    x = cp.zeros((1, 2, 5, 5), np.float32)
    with cp.cuda.Device(1):
        w = cp.zeros((2, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="cuda:0 and weight on cuda:1"):
        fc.conv2d(x, w, groups=2)
