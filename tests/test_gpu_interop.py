"""The GPU path's Python layer on any machine: array intake, layouts, unbatched inputs, strides,
allocation, streams, the arguments each _C.cuda_* binding receives, and the errors.

Host NumPy memory stands in for device memory: ``HostCudaArray`` presents it through
``__cuda_array_interface__``, ``HostLibrary`` stands in for CuPy/PyTorch (allocation, streams), and
each ``_C.cuda_*`` kernel binding is replaced by an emulation that runs the CPU kernel on the same
pointers, shapes and strides. Where the build has CUDA but no GPU, each call is first given to the
real binding, which must accept the arguments and fail only at the CUDA runtime (no device) - so the
argument formats of Python and C++ are checked against each other here too. The real kernels are
tested in test_gpu_ops.py (GPU only).
"""

import contextlib
import ctypes

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C, _gpu_arrays
from fastconv.testing import reference as R

STREAM = 0x5000


class HostCudaArray:
    """A host array presented as a CUDA array (``__cuda_array_interface__`` v3)."""

    def __init__(self, a, stream=None, device=0):
        self.a = a
        self.stream = stream
        self.device = device

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.a.shape, "typestr": self.a.dtype.str, "data": (self.a.ctypes.data, False),
                "strides": self.a.strides, "version": 3, "stream": self.stream}

    @property
    def shape(self):
        return self.a.shape

    def __setitem__(self, key, value):
        self.a[key] = value


class HostLibrary:
    """Stands in for CuPy / PyTorch: allocation on the host, a fixed stream handle."""

    name = "host"

    def __init__(self):
        self.allocations = []
        self.devices_used = []

    def adopt(self, obj):
        return obj

    def describe(self, obj):
        a = obj.a
        return a.ctypes.data, a.shape, a.strides, a.dtype, obj.device

    def contiguous(self, obj):
        return HostCudaArray(np.ascontiguousarray(obj.a), device=obj.device)

    def empty(self, shape, dtype, device):
        self.allocations.append((tuple(shape), np.dtype(dtype)))
        return HostCudaArray(np.empty(shape, dtype), device=device)

    def stream(self, device):
        return STREAM + device

    @contextlib.contextmanager
    def use_device(self, device):
        self.devices_used.append(device)
        yield


def host_view(spec, dtype):
    """The host array a (pointer, shape, element strides) binding argument describes."""
    ptr, shape, strides = spec
    dtype = np.dtype(dtype)
    if 0 in shape:
        return np.empty(shape, dtype)
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides))
    buf = (ctypes.c_char * ((hi - lo + 1) * dtype.itemsize)).from_address(ptr + lo * dtype.itemsize)
    base = np.frombuffer(buf, dtype=dtype)
    return np.lib.stride_tricks.as_strided(base[-lo:], shape, [s * dtype.itemsize for s in strides])


def host_view1(spec, dtype=np.float32):
    ptr, n, stride = spec
    return host_view((ptr, (n,), (stride,)), dtype)


class Emulator:
    """Replacements for the _C.cuda_* kernel bindings: the CPU kernels on the same memory."""

    def __init__(self, real_without_gpu):
        self.calls = []
        self.waits = []
        self.real = real_without_gpu

    def _check_real(self, name, *args):
        self.calls.append((name, args[-2], args[-1]))  # device, stream
        fn = self.real.get(name)
        if fn is not None:  # the real binding must accept these arguments and fail at the CUDA runtime
            with pytest.raises(RuntimeError, match="cuda|CUDA"):
                fn(*args)

    def max_fprop(self, x, y, idx, kernel, stride, padding, dilation, device, stream):
        self._check_real("cuda_max_pool2d_fprop", x, y, idx, kernel, stride, padding, dilation, device, stream)
        _C.max_pool2d_fprop(host_view(x, np.float32), host_view(y, np.float32),
                            None if idx is None else host_view(idx, np.int64), kernel, stride, padding, dilation)

    def max_dgrad(self, dy, x, idx, dx, kernel, stride, padding, dilation, device, stream):
        self._check_real("cuda_max_pool2d_dgrad", dy, x, idx, dx, kernel, stride, padding, dilation, device, stream)
        _C.max_pool2d_dgrad(host_view(dy, np.float32), host_view(x, np.float32),
                            None if idx is None else host_view(idx, np.int64), host_view(dx, np.float32), kernel,
                            stride, padding, dilation)

    def avg_fprop(self, x, y, kernel, stride, padding, cip, div, device, stream):
        self._check_real("cuda_avg_pool2d_fprop", x, y, kernel, stride, padding, cip, div, device, stream)
        _C.avg_pool2d_fprop(host_view(x, np.float32), host_view(y, np.float32), kernel, stride, padding, cip, div)

    def avg_dgrad(self, dy, dx, kernel, stride, padding, cip, div, device, stream):
        self._check_real("cuda_avg_pool2d_dgrad", dy, dx, kernel, stride, padding, cip, div, device, stream)
        _C.avg_pool2d_dgrad(host_view(dy, np.float32), host_view(dx, np.float32), kernel, stride, padding, cip, div)

    def dw_fprop(self, x, w, b, y, stride, padding, dilation, groups, device, stream):
        self._check_real("cuda_conv2d_fprop_depthwise", x, w, b, y, stride, padding, dilation, groups, device, stream)
        _C.conv2d_fprop(host_view(x, np.float32), host_view(w, np.float32), None if b is None else host_view1(b),
                        host_view(y, np.float32), stride, padding, dilation, groups)

    def dw_dgrad(self, dy, w, dx, stride, padding, dilation, groups, device, stream):
        self._check_real("cuda_conv2d_dgrad_depthwise", dy, w, dx, stride, padding, dilation, groups, device, stream)
        _C.conv2d_dgrad(host_view(dy, np.float32), host_view(w, np.float32), host_view(dx, np.float32), stride,
                        padding, dilation, groups)

    def dw_workspace(self, dy, x, dw, stride, padding, dilation, groups):
        real = self.real.get("cuda_conv2d_wgrad_depthwise_workspace")
        return real(dy, x, dw, stride, padding, dilation, groups) if real else 1

    def dw_wgrad(self, dy, x, dw, want_dw, db, workspace, stride, padding, dilation, groups, device, stream):
        self._check_real("cuda_conv2d_wgrad_depthwise", dy, x, dw, want_dw, db, workspace, stride, padding, dilation,
                         groups, device, stream)
        if want_dw:
            _C.conv2d_wgrad(host_view(dy, np.float32), host_view(x, np.float32), host_view(dw, np.float32), stride,
                            padding, dilation, groups)
        if db is not None:
            _C.conv2d_bgrad(host_view(dy, np.float32), host_view1(db))

    def stream_wait(self, consumer, producer, device):
        self.waits.append((consumer, producer, device))


BINDINGS = {
    "cuda_max_pool2d_fprop": "max_fprop",
    "cuda_max_pool2d_dgrad": "max_dgrad",
    "cuda_avg_pool2d_fprop": "avg_fprop",
    "cuda_avg_pool2d_dgrad": "avg_dgrad",
    "cuda_conv2d_fprop_depthwise": "dw_fprop",
    "cuda_conv2d_dgrad_depthwise": "dw_dgrad",
    "cuda_conv2d_wgrad_depthwise_workspace": "dw_workspace",
    "cuda_conv2d_wgrad_depthwise": "dw_wgrad",
    "cuda_stream_wait": "stream_wait",
}


@pytest.fixture
def host_gpu(monkeypatch):
    """The GPU path wired to host memory; yields (library, emulator)."""
    if fc.cuda_available():
        pytest.skip("a real GPU is present: test_gpu_ops.py covers the path")
    real = {name: getattr(_C, name) for name in BINDINGS if hasattr(_C, name)}
    emu = Emulator(real)
    lib = HostLibrary()
    monkeypatch.setattr(_gpu_arrays, "_cuda_built", lambda: True)
    monkeypatch.setattr(_gpu_arrays, "_device_count", lambda: 2)
    monkeypatch.setattr(_gpu_arrays, "_library_for", lambda obj, op, name: lib)
    monkeypatch.setattr(_gpu_arrays, "_poison_outputs", True)
    for name, method in BINDINGS.items():
        monkeypatch.setattr(_C, name, getattr(emu, method), raising=False)
    yield lib, emu


def rng_array(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_max_pool2d_through_gpu_layer(host_gpu, layout, unbatched):
    lib, emu = host_gpu
    x = rng_array((2, 3, 9, 7))
    args = dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)
    y_ref, i_ref = R.max_pool2d(x.astype(np.float64), **args)
    xs = nhwc(x) if layout == "NHWC" else x
    if unbatched:
        xs = xs[0]
    y, idx = fc.max_pool2d(HostCudaArray(xs), return_indices=True, layout=layout, **args)
    assert isinstance(y, HostCudaArray) and isinstance(idx, HostCudaArray)
    y_ref_s = nhwc(y_ref) if layout == "NHWC" else y_ref
    i_ref_s = nhwc(i_ref) if layout == "NHWC" else i_ref
    if unbatched:
        y_ref_s, i_ref_s = y_ref_s[0], i_ref_s[0]
    np.testing.assert_array_equal(y.a, y_ref_s.astype(np.float32))
    np.testing.assert_array_equal(idx.a, i_ref_s)
    assert emu.calls == [("cuda_max_pool2d_fprop", 0, STREAM)]
    assert lib.devices_used == [0]

    dy = rng_array(y.a.shape, 1)
    for indices in (None, idx):
        dx = fc.max_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), indices=indices, layout=layout, **args)
        expect = fc.max_pool2d_backward(dy, xs, layout=layout, **args)
        np.testing.assert_array_equal(dx.a, expect)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_avg_pool2d_through_gpu_layer(host_gpu, layout):
    x = rng_array((2, 4, 8, 11))
    xs = nhwc(x) if layout == "NHWC" else x
    args = dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False,
                divisor_override=None)
    y = fc.avg_pool2d(HostCudaArray(xs), layout=layout, **args)
    np.testing.assert_array_equal(y.a, fc.avg_pool2d(xs, layout=layout, **args))
    dy = rng_array(y.a.shape, 2)
    dx = fc.avg_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), layout=layout, **args)
    np.testing.assert_array_equal(dx.a, fc.avg_pool2d_backward(dy, xs, layout=layout, **args))


def test_strided_views_are_read_in_place(host_gpu):
    lib, _ = host_gpu
    base = rng_array((2, 3, 10, 12))
    view = base[:, ::-1, 1::2, ::3]  # negative and non-unit strides
    y = fc.avg_pool2d(HostCudaArray(view), 2)
    np.testing.assert_array_equal(y.a, fc.avg_pool2d(np.ascontiguousarray(view), 2))
    assert lib.allocations == [((2, 3, 2, 2), np.dtype(np.float32))]  # the output only: no copy of the input


def test_misaligned_memory_is_copied_first(host_gpu):
    lib, _ = host_gpu
    raw = np.zeros(2 * 3 * 4 * 4 * 4 + 2, np.uint8)
    x = raw[2:].view(np.float32).reshape(2, 3, 4, 4)  # 2-byte aligned
    x[...] = rng_array(x.shape)
    y = fc.max_pool2d(HostCudaArray(x), 2)
    np.testing.assert_array_equal(y.a, fc.max_pool2d(np.ascontiguousarray(x), 2))


def test_empty_batch_launches_nothing(host_gpu):
    _, emu = host_gpu
    y = fc.max_pool2d(HostCudaArray(np.zeros((0, 3, 4, 4), np.float32)), 2)
    assert y.a.shape == (0, 3, 2, 2) and emu.calls == []


def test_interface_stream_is_waited_on(host_gpu):
    _, emu = host_gpu
    x = rng_array((1, 2, 4, 4))
    fc.max_pool2d(HostCudaArray(x, stream=0x77), 2)
    assert emu.waits == [(STREAM, 0x77, 0)]
    fc.max_pool2d(HostCudaArray(x, stream=None), 2)
    assert len(emu.waits) == 1


def test_device_of_the_arrays_is_used(host_gpu):
    lib, emu = host_gpu
    x = rng_array((1, 2, 4, 4))
    fc.max_pool2d(HostCudaArray(x, device=1), 2)
    assert lib.devices_used == [1] and emu.calls[-1] == ("cuda_max_pool2d_fprop", 1, STREAM + 1)


# --------------------------------------------------------------------------- depthwise conv2d


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv2d_through_gpu_layer(host_gpu, layout, multiplier):
    lib, _ = host_gpu
    C = 3
    x = rng_array((2, C, 9, 8))
    w = rng_array((C * multiplier, 1, 3, 3), 1)
    b = rng_array((C * multiplier,), 2)
    args = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=C)
    xs, ws = (nhwc(x), nhwc(w)) if layout == "NHWC" else (x, w)
    y = fc.conv2d(HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b), layout=layout, **args)
    expect = fc.conv2d(xs, ws, b, layout=layout, **args)
    np.testing.assert_array_equal(y.a, expect)

    dy = rng_array(expect.shape, 3)
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, **args)
    ex, ew, eb = fc.conv2d_backward(dy, xs, ws, b, layout=layout, **args)
    np.testing.assert_array_equal(gx.a, ex)
    np.testing.assert_array_equal(gw.a, ew)
    np.testing.assert_array_equal(gb.a, eb)
    # workspace came from the library too
    assert any(dtype == np.float32 and len(shape) == 1 and shape != (C * multiplier,)
               for shape, dtype in lib.allocations)

    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, needs_input_grad=(False, False, True), **args)
    assert gx is None and gw is None
    np.testing.assert_array_equal(gb.a, eb)


def test_unbatched_depthwise(host_gpu):
    x = rng_array((4, 6, 6))
    w = rng_array((4, 1, 3, 3), 1)
    y = fc.conv2d(HostCudaArray(x), HostCudaArray(w), None, 1, 1, 1, 4)
    np.testing.assert_array_equal(y.a, fc.conv2d(x, w, None, 1, 1, 1, 4))
    dy = rng_array(y.a.shape, 2)
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(x), HostCudaArray(w), None, 1, 1, 1, 4)
    ex, ew, _ = fc.conv2d_backward(dy, x, w, None, 1, 1, 1, 4)
    np.testing.assert_array_equal(gx.a, ex)
    np.testing.assert_array_equal(gw.a, ew)
    assert gb is None


# --------------------------------------------------------------------------- errors


def test_float64_gpu_input_is_a_type_error(host_gpu):
    with pytest.raises(TypeError, match="float64.*float32 only"):
        fc.max_pool2d(HostCudaArray(np.zeros((1, 1, 4, 4))), 2)


def test_integer_gpu_input_is_a_type_error(host_gpu):
    with pytest.raises(TypeError, match="input must be float32"):
        fc.avg_pool2d(HostCudaArray(np.zeros((1, 1, 4, 4), np.int32)), 2)


def test_mixed_cpu_and_gpu_is_a_value_error(host_gpu):
    x = rng_array((1, 2, 5, 5))
    w = rng_array((2, 1, 3, 3))
    with pytest.raises(ValueError, match="one device"):
        fc.conv2d(HostCudaArray(x), w, groups=2)
    with pytest.raises(ValueError, match="one device"):
        fc.max_pool2d_backward(rng_array((1, 2, 2, 2)), HostCudaArray(x), 2)


def test_two_gpus_is_a_value_error(host_gpu):
    x = rng_array((1, 2, 5, 5))
    w = rng_array((2, 1, 3, 3))
    with pytest.raises(ValueError, match="cuda:0 and weight on cuda:1"):
        fc.conv2d(HostCudaArray(x), HostCudaArray(w, device=1), groups=2)


def test_non_depthwise_conv_has_a_clear_error(host_gpu):
    x = rng_array((1, 4, 5, 5))
    w = rng_array((2, 4, 3, 3))
    with pytest.raises(ValueError, match="depthwise"):
        fc.conv2d(HostCudaArray(x), HostCudaArray(w))


def test_argument_errors_match_the_cpu_path(host_gpu):
    x = HostCudaArray(rng_array((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="padding should be at most half"):
        fc.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="grad_output of shape"):
        fc.avg_pool2d_backward(HostCudaArray(rng_array((1, 2, 3, 3))), x, 2)
    with pytest.raises(ValueError, match="out="):
        fc.max_pool2d(x, 2, out=HostCudaArray(rng_array((1, 2, 2, 2))))


def test_gpu_array_without_cuda_build(monkeypatch):
    monkeypatch.setattr(_gpu_arrays, "_cuda_built", lambda: False)
    with pytest.raises(RuntimeError, match="FASTCONV_CUDA=ON"):
        fc.max_pool2d(HostCudaArray(rng_array((1, 1, 4, 4))), 2)


def test_gpu_array_without_device(monkeypatch):
    monkeypatch.setattr(_gpu_arrays, "_cuda_built", lambda: True)
    monkeypatch.setattr(_gpu_arrays, "_device_count", lambda: 0)
    with pytest.raises(RuntimeError, match="no usable GPU"):
        fc.avg_pool2d(HostCudaArray(rng_array((1, 1, 4, 4))), 2)
