"""The GPU path on any machine: the Python layer (array intake, layouts, unbatched inputs, strides,
allocation, streams, errors), the bindings' checks, and the CUDA kernels' per-element code.

Host NumPy memory stands in for device memory: ``HostCudaArray`` presents it through
``__cuda_array_interface__``, ``HostLibrary`` stands in for CuPy/PyTorch (allocation, streams), and
each ``_C.cuda_*`` kernel binding is replaced by ``_C._emulate_cuda_*``, which runs the kernels'
own per-element functions (csrc/include/fastconv/*_gpu_elements.h) serially on the same pointers,
with the same checks and Params. Where the build has CUDA but no GPU, each call is first given to
the real binding, which must accept the arguments and fail only at the CUDA runtime (no device), so
the argument formats of Python and C++ are checked against each other too. Launch geometry, shared
memory and streams on a device are tested in test_gpu_ops.py (GPU only).
"""

import contextlib

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C, _gpu_arrays
from fastconv.testing import reference as R
from fastconv.testing.tolerances import assert_close

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


class Emulator:
    """Replacements for the _C.cuda_* kernel bindings: the kernels' serial CPU emulation
    (_C._emulate_cuda_*: the same checks, Params and per-element code) on the same memory."""

    def __init__(self, real_without_gpu):
        self.calls = []
        self.waits = []
        self.real = real_without_gpu

    def _run(self, name, *args):
        device, stream = args[-2:]
        self.calls.append((name, device, stream))
        fn = self.real.get(name)
        if fn is not None:  # the real binding must accept these arguments and fail at the CUDA runtime
            with pytest.raises(RuntimeError, match="cuda|CUDA"):
                fn(*args)
        getattr(_C, "_emulate_" + name)(*args[:-2])

    def binding(self, name):
        return lambda *args: self._run(name, *args)

    def workspace(self, *args):
        return _C._emulate_cuda_conv2d_wgrad_depthwise_workspace(*args)

    def stream_wait(self, consumer, producer, device):
        self.waits.append((consumer, producer, device))


KERNELS = ("cuda_max_pool2d_fprop", "cuda_max_pool2d_dgrad", "cuda_avg_pool2d_fprop", "cuda_avg_pool2d_dgrad",
           "cuda_conv2d_fprop_depthwise", "cuda_conv2d_dgrad_depthwise", "cuda_conv2d_wgrad_depthwise",
           "cuda_conv2d_fprop_implicit_gemm", "cuda_conv2d_dgrad_implicit_gemm", "cuda_conv2d_wgrad_implicit_gemm",
           "cuda_conv2d_bgrad")


@pytest.fixture
def host_gpu(monkeypatch):
    """The GPU path wired to host memory; yields (library, emulator)."""
    if fc.cuda_available():
        pytest.skip("a real GPU is present: test_gpu_ops.py covers the path")
    real = {name: getattr(_C, name) for name in KERNELS if hasattr(_C, name)}
    emu = Emulator(real)
    lib = HostLibrary()
    monkeypatch.setattr(_gpu_arrays, "_cuda_built", lambda: True)
    monkeypatch.setattr(_gpu_arrays, "_device_count", lambda: 2)
    monkeypatch.setattr(_gpu_arrays, "_library_for", lambda obj, op, name: lib)
    monkeypatch.setattr(_gpu_arrays, "_poison_outputs", True)
    for name in KERNELS:
        monkeypatch.setattr(_C, name, emu.binding(name), raising=False)
    monkeypatch.setattr(_C, "cuda_conv2d_wgrad_depthwise_workspace", emu.workspace, raising=False)
    monkeypatch.setattr(_C, "cuda_max_pool2d_dgrad_workspace", _C._emulate_cuda_max_pool2d_dgrad_workspace,
                        raising=False)
    monkeypatch.setattr(_C, "cuda_conv2d_wgrad_implicit_gemm_workspace",
                        _C._emulate_cuda_conv2d_wgrad_implicit_gemm_workspace, raising=False)
    monkeypatch.setattr(_C, "cuda_stream_wait", emu.stream_wait, raising=False)
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

    dy = np.random.default_rng(1).integers(-8, 9, y.a.shape).astype(np.float32)  # exact sums
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
    assert_close(y.a, fc.avg_pool2d(xs, layout=layout, **args), 6)
    dy = rng_array(y.a.shape, 2)
    dx = fc.avg_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), layout=layout, **args)
    assert_close(dx.a, fc.avg_pool2d_backward(dy, xs, layout=layout, **args), 6)


def test_strided_views_are_read_in_place(host_gpu):
    lib, _ = host_gpu
    base = rng_array((2, 3, 10, 12))
    view = base[:, ::-1, 1::2, ::3]  # negative and non-unit strides
    y = fc.avg_pool2d(HostCudaArray(view), 2)
    assert_close(y.a, fc.avg_pool2d(np.ascontiguousarray(view), 2), 4)
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
    assert_close(y.a, expect, 9)

    dy = rng_array(expect.shape, 3)
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, **args)
    ex, ew, eb = fc.conv2d_backward(dy, xs, ws, b, layout=layout, **args)
    assert_close(gx.a, ex, 9 * multiplier)
    assert_close(gw.a, ew, dy.size // dy.shape[1 if layout == "NCHW" else 3])
    assert_close(gb.a, eb, dy.size // dy.shape[1 if layout == "NCHW" else 3])
    # workspace came from the library too
    assert any(dtype == np.float32 and len(shape) == 1 and shape != (C * multiplier,)
               for shape, dtype in lib.allocations)

    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, needs_input_grad=(False, False, True), **args)
    assert gx is None and gw is None
    assert_close(gb.a, eb, dy.size // dy.shape[1 if layout == "NCHW" else 3])


def test_unbatched_depthwise(host_gpu):
    x = rng_array((4, 6, 6))
    w = rng_array((4, 1, 3, 3), 1)
    y = fc.conv2d(HostCudaArray(x), HostCudaArray(w), None, 1, 1, 1, 4)
    assert_close(y.a, fc.conv2d(x, w, None, 1, 1, 1, 4), 9)
    dy = rng_array(y.a.shape, 2)
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(x), HostCudaArray(w), None, 1, 1, 1, 4)
    ex, ew, _ = fc.conv2d_backward(dy, x, w, None, 1, 1, 1, 4)
    assert_close(gx.a, ex, 9)
    assert_close(gw.a, ew, 36)
    assert gb is None


# --------------------------------------------------------------------------- implicit-GEMM conv2d

# N, C, H, W, K, R, S, stride, padding, dilation, groups
IMPLICIT_GEMM_CASES = [
    (2, 3, 9, 8, 5, 3, 3, (2, 1), (1, 2), (1, 2), 1),
    (2, 6, 10, 9, 9, 3, 3, 2, 1, 1, 3),
    (1, 8, 8, 7, 12, 4, 4, 1, "same", 1, 4),
    (2, 12, 16, 16, 10, 3, 3, 1, 1, 1, 1),  # wgrad splits its reduction: workspace from the library
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", IMPLICIT_GEMM_CASES, ids=[str(i) for i in range(len(IMPLICIT_GEMM_CASES))])
def test_implicit_gemm_conv2d_through_gpu_layer(host_gpu, case, layout):
    lib, emu = host_gpu
    N, C, H, W, K, R_, S, stride, padding, dilation, groups = case
    x = rng_array((N, C, H, W))
    w = rng_array((K, C // groups, R_, S), 1)
    b = rng_array((K,), 2)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    xs, ws = (nhwc(x), nhwc(w)) if layout == "NHWC" else (x, w)
    y = fc.conv2d(HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b), layout=layout, **args)
    assert emu.calls[-1][0] == "cuda_conv2d_fprop_implicit_gemm"
    expect = fc.conv2d(xs, ws, b, layout=layout, **args)
    assert_close(y.a, expect, (C // groups) * R_ * S)

    dy = rng_array(expect.shape, 3)
    lib.allocations.clear()
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, **args)
    assert [c[0] for c in emu.calls[-3:]] == ["cuda_conv2d_dgrad_implicit_gemm", "cuda_conv2d_wgrad_implicit_gemm",
                                              "cuda_conv2d_bgrad"]
    ex, ew, eb = fc.conv2d_backward(dy, xs, ws, b, layout=layout, **args)
    npq = dy.size // K
    assert_close(gx.a, ex, (K // groups) * R_ * S)
    assert_close(gw.a, ew, npq)
    assert_close(gb.a, eb, npq)
    floats = _C._emulate_cuda_conv2d_wgrad_implicit_gemm_workspace(
        *[_gpu_arrays_arg(a, layout) for a in (dy, xs, ws)], fc_pair(stride), _pad_lo(padding, R_, S, dilation),
        fc_pair(dilation), groups)
    assert ((max(floats, 1),), np.float32) in [(tuple(s_), np.dtype(d)) for s_, d in lib.allocations]
    if case is IMPLICIT_GEMM_CASES[-1]:
        assert floats > 0

    gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                    layout=layout, needs_input_grad=(False, True, False), **args)
    assert gx is None and gb is None
    assert_close(gw.a, ew, npq)


def fc_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad_lo(padding, R_, S, dilation):
    top, _, left, _ = R.conv2d_padding(padding, R_, S, 1, dilation)
    return (top, left)


def _gpu_arrays_arg(a, layout):
    """(pointer, logical NCHW shape, element strides) of a host array, as the bindings take them."""
    v = a if layout == "NCHW" else a.transpose(0, 3, 1, 2)
    return (v.ctypes.data, tuple(v.shape), tuple(st // v.itemsize for st in v.strides))


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


def test_gpu_algorithm_choice(host_gpu):
    _, emu = host_gpu
    x = rng_array((1, 4, 5, 5))
    w = rng_array((2, 4, 3, 3))
    with pytest.raises(ValueError, match="'direct' runs depthwise convolutions only"):
        fc.conv2d(HostCudaArray(x), HostCudaArray(w), algorithm="direct")
    with pytest.raises(ValueError, match="'winograd' has no CUDA kernel"):
        fc.conv2d(HostCudaArray(x), HostCudaArray(w), algorithm="winograd")
    wd = rng_array((4, 1, 3, 3))
    for algorithm, kernel in [("auto", "cuda_conv2d_fprop_depthwise"), ("direct", "cuda_conv2d_fprop_depthwise"),
                              ("implicit_gemm", "cuda_conv2d_fprop_implicit_gemm")]:
        fc.conv2d(HostCudaArray(x), HostCudaArray(wd), groups=4, algorithm=algorithm)
        assert emu.calls[-1][0] == kernel
    fc.conv2d(HostCudaArray(x), HostCudaArray(w))
    assert emu.calls[-1][0] == "cuda_conv2d_fprop_implicit_gemm"


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


# --------------------------------------------------------------------------- the kernels' element code


def _ref_layout(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("seed", range(12))
def test_pool_kernels_on_random_problems(host_gpu, seed):
    rng = np.random.default_rng(100 + seed)
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    ceil_mode = bool(rng.integers(0, 2))
    layout = ("NCHW", "NHWC")[seed % 2]
    N, C = int(rng.integers(1, 3)), int(rng.integers(1, 6))
    H = int(rng.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 12))
    W = int(rng.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 12))
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    x.reshape(-1)[::5] = 0.5  # ties
    if seed % 3 == 0:
        x.reshape(-1)[::11] = np.nan
    xs = stored_copy(x, layout)
    args = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode)
    y, idx = fc.max_pool2d(HostCudaArray(xs), return_indices=True, layout=layout, **args)
    y_cpu, i_cpu = fc.max_pool2d(xs, return_indices=True, layout=layout, **args)
    np.testing.assert_array_equal(y.a, y_cpu)
    np.testing.assert_array_equal(idx.a, i_cpu)
    dy = rng.integers(-8, 9, y_cpu.shape).astype(np.float32)
    dy[np.isneginf(y_cpu)] = 0  # windows without taps inside send nothing on the GPU
    dx_cpu = fc.max_pool2d_backward(dy, xs, layout=layout, **args)
    for indices in (None, idx):
        dx = fc.max_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), indices=indices, layout=layout, **args)
        np.testing.assert_array_equal(dx.a, dx_cpu)

    avg = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=bool(seed % 2),
               divisor_override=(None, 3, -2)[seed % 3])
    try:
        y_ref = R.avg_pool2d(x.astype(np.float64), **avg)
    except ValueError:
        return
    x = np.nan_to_num(x)
    xs = stored_copy(x, layout)
    y_ref = R.avg_pool2d(x.astype(np.float64), **avg)
    y = fc.avg_pool2d(HostCudaArray(xs), layout=layout, **avg)
    assert_close(_ref_layout(y.a, layout), y_ref, k[0] * k[1])
    dy = rng.standard_normal(y.a.shape).astype(np.float32)
    dx = fc.avg_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), layout=layout, **avg)
    dx_ref = R.avg_pool2d_dgrad(_ref_layout(dy, layout).astype(np.float64), x.shape, **avg)
    assert_close(_ref_layout(dx.a, layout), dx_ref, k[0] * k[1])


def stored_copy(a, layout):
    return np.ascontiguousarray(a if layout == "NCHW" else a.transpose(0, 2, 3, 1))


# (N, C, M, H, W, R, S, stride, padding, dilation): several wgrad chunks (N*P*Q > 4096 planar, > 128
# channels-last), tap rounds (R*S > 9), idle channel lanes (channels-last K not a multiple of 32).
DW_CASES = [
    (2, 3, 1, 9, 8, 3, 3, 1, 1, 1),
    (2, 3, 2, 9, 8, 3, 3, 2, 1, 1),
    (1, 4, 1, 7, 7, 5, 3, (1, 2), (2, 0), (1, 2)),
    (3, 33, 1, 6, 5, 3, 3, 1, 1, 1),
    (1, 2, 3, 4, 4, 4, 4, 1, 0, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1),
    (2, 5, 1, 12, 12, 7, 7, 2, 3, 1),
    (3, 2, 2, 40, 41, 3, 3, 1, 1, 1),
    (1, 35, 1, 3, 3, 3, 3, 1, 1, 1),
]


@pytest.mark.parametrize("case", DW_CASES)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_depthwise_kernels_against_reference(host_gpu, case, layout):
    N, C, M, H, W, Rk, Sk, s, p, d = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C * M, 1, Rk, Sk)).astype(np.float32)
    b = rng.standard_normal(C * M).astype(np.float32)
    args = dict(stride=s, padding=p, dilation=d, groups=C)
    xs, ws = stored_copy(x, layout), stored_copy(w, layout)
    y = fc.conv2d(HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b), layout=layout, **args)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    assert_close(_ref_layout(y.a, layout), R.conv2d(x64, w64, b.astype(np.float64), **args), Rk * Sk)
    dy = rng.standard_normal(y.a.shape).astype(np.float32)
    dyl = _ref_layout(dy, layout).astype(np.float64)
    for needs in ((True, True, True), (False, True, False), (False, False, True)):
        gx, gw, gb = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(xs), HostCudaArray(ws), HostCudaArray(b),
                                        layout=layout, needs_input_grad=needs, **args)
        L = dyl.shape[0] * dyl.shape[2] * dyl.shape[3]
        if needs[0]:
            assert_close(_ref_layout(gx.a, layout), R.conv2d_dgrad(dyl, x.shape, w64, **args), Rk * Sk * M)
        if needs[1]:
            assert_close(_ref_layout(gw.a, layout), R.conv2d_wgrad(dyl, x64, w.shape, **args), L)
        if needs[2]:
            assert_close(gb.a, R.conv2d_bgrad(dyl), L)
        assert (gx is None) != needs[0] and (gw is None) != needs[1] and (gb is None) != needs[2]


def test_depthwise_small_integers_exact(host_gpu):
    rng = np.random.default_rng(8)
    x = rng.integers(-4, 5, (2, 6, 10, 9)).astype(np.float32)
    w = rng.integers(-4, 5, (12, 1, 3, 3)).astype(np.float32)
    b = rng.integers(-4, 5, 12).astype(np.float32)
    y = fc.conv2d(HostCudaArray(x), HostCudaArray(w), HostCudaArray(b), 1, 1, 1, 6)
    np.testing.assert_array_equal(y.a, fc.conv2d(x, w, b, 1, 1, 1, 6))
    dy = rng.integers(-4, 5, y.a.shape).astype(np.float32)
    got = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(x), HostCudaArray(w), HostCudaArray(b), 1, 1, 1, 6)
    for g, e in zip(got, fc.conv2d_backward(dy, x, w, b, 1, 1, 1, 6)):
        np.testing.assert_array_equal(g.a, e)


def test_empty_reduction_gives_zero_weight_grads(host_gpu):
    x = np.zeros((0, 3, 6, 6), np.float32)
    w = np.ones((3, 1, 3, 3), np.float32)
    gx, gw, gb = fc.conv2d_backward(HostCudaArray(np.zeros((0, 3, 6, 6), np.float32)), HostCudaArray(x),
                                    HostCudaArray(w), HostCudaArray(np.ones(3, np.float32)), 1, 1, 1, 3)
    assert gx.a.shape == x.shape
    np.testing.assert_array_equal(gw.a, 0)
    np.testing.assert_array_equal(gb.a, 0)


# --------------------------------------------------------------------------- index widths


@contextlib.contextmanager
def index_bits(bits):
    """The element kernels (and their emulation) at index width `bits`: 64 forces the 64-bit path,
    0 lets each problem take the 32-bit path when it fits."""
    _C._set_gpu_index_bits(bits)
    try:
        yield
    finally:
        _C._set_gpu_index_bits(0)


def both_index_widths(fn):
    """fn() run on the 32-bit path and on the forced 64-bit path; the results as pairs of host arrays."""
    with index_bits(0):
        narrow = fn()
    with index_bits(64):
        wide = fn()
    return list(zip(narrow, wide))


@pytest.mark.parametrize("seed", range(6))
def test_pool_kernels_same_bits_at_both_index_widths(host_gpu, seed):
    rng = np.random.default_rng(200 + seed)
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    d = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    layout = ("NCHW", "NHWC")[seed % 2]
    H = int(rng.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 14))
    W = int(rng.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 14))
    x = rng.standard_normal((2, int(rng.integers(1, 6)), H, W)).astype(np.float32)
    x.reshape(-1)[::4] = 0.25  # ties
    xs = stored_copy(x, layout)
    if seed % 3 == 2:
        xs = xs[:, ::-1]  # negative strides
    args = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(seed % 2))
    avg = dict(kernel_size=k, stride=s, padding=p, ceil_mode=bool(seed % 2), count_include_pad=bool(seed % 2),
               divisor_override=(None, 3)[seed % 2])

    def run():
        y, idx = fc.max_pool2d(HostCudaArray(xs), return_indices=True, layout=layout, **args)
        dy = rng_array(y.a.shape, seed)
        out = [y.a, idx.a]
        for indices in (None, idx):
            out.append(fc.max_pool2d_backward(HostCudaArray(dy), HostCudaArray(xs), indices=indices, layout=layout,
                                              **args).a)
        if all(kk // 2 >= pp for kk, pp in zip(k, p)):
            ya = fc.avg_pool2d(HostCudaArray(xs), layout=layout, **avg)
            out += [ya.a, fc.avg_pool2d_backward(HostCudaArray(rng_array(ya.a.shape, seed)), HostCudaArray(xs),
                                                 layout=layout, **avg).a]
        return out

    for narrow, wide in both_index_widths(run):
        assert narrow.dtype == wide.dtype
        np.testing.assert_array_equal(narrow, wide)


@pytest.mark.parametrize("case", DW_CASES[:4] + DW_CASES[6:8])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_depthwise_kernels_same_bits_at_both_index_widths(host_gpu, case, layout):
    N, C, M, H, W, Rk, Sk, s, p, d = case
    x = stored_copy(rng_array((N, C, H, W), 3), layout)
    w = stored_copy(rng_array((C * M, 1, Rk, Sk), 4), layout)
    b = rng_array((C * M,), 5)
    args = dict(stride=s, padding=p, dilation=d, groups=C)

    def run():
        y = fc.conv2d(HostCudaArray(x), HostCudaArray(w), HostCudaArray(b), layout=layout, **args)
        dy = rng_array(y.a.shape, 6)
        gx, _, _ = fc.conv2d_backward(HostCudaArray(dy), HostCudaArray(x), HostCudaArray(w), None, layout=layout,
                                      needs_input_grad=(True, False, False), **args)
        return [y.a, gx.a]

    for narrow, wide in both_index_widths(run):
        np.testing.assert_array_equal(narrow, wide)


def test_max_pool2d_backward_without_indices_uses_an_argmax_workspace(host_gpu):
    lib, _ = host_gpu
    x = rng_array((2, 3, 9, 9))
    y = fc.max_pool2d(x, 3, 2)
    dy = rng_array(y.shape, 1)
    lib.allocations.clear()
    dx = fc.max_pool2d_backward(HostCudaArray(dy), HostCudaArray(x), 3, 2)
    np.testing.assert_array_equal(dx.a, fc.max_pool2d_backward(dy, x, 3, 2))
    # one int32 argmax per output element, as int64 words
    assert lib.allocations == [((2, 3, 9, 9), np.dtype(np.float32)), ((2 * 3 * 4 * 4 // 2,), np.dtype(np.int64))]
    lib.allocations.clear()
    _, idx = fc.max_pool2d(HostCudaArray(x), 3, 2, return_indices=True)
    lib.allocations.clear()
    fc.max_pool2d_backward(HostCudaArray(dy), HostCudaArray(x), 3, 2, indices=idx)
    assert lib.allocations == [((2, 3, 9, 9), np.dtype(np.float32))]  # no workspace with indices


def test_index32_fits_only_problems_whose_indices_fit():
    def dense(shape):
        return tuple(int(v) for v in np.cumprod((1,) + tuple(shape[:0:-1]))[::-1])

    def fits(x_shape, x_strides, y_shape, k=(3, 3), s=(2, 2), p=(1, 1), d=(1, 1)):
        return _C._gpu_index32_fits_pool2d((0, x_shape, x_strides), (0, y_shape, dense(y_shape)), k, s, p, d)

    assert fits((32, 64, 112, 112), dense((32, 64, 112, 112)), (32, 64, 56, 56))
    assert fits((1, 8, 8192, 8192), dense((1, 8, 8192, 8192)), (1, 8, 4096, 4096))  # 2^29 elements
    assert not fits((2, 8, 8192, 8192), dense((2, 8, 8192, 8192)), (2, 8, 4096, 4096))
    assert not fits((1, 1, 8, 8), (64, 64, 2**27, 1), (1, 1, 4, 4))  # offsets up to 7 * 2^27
    assert fits((1, 2, 8, 8), (128, -64, -8, -1), (1, 2, 4, 4))  # negative strides
    assert not fits((1, 1, 4, 4), (16, 16, 4, 1), (1, 1, 2, 2), s=(2**29, 1), p=(0, 0))  # window starts


def test_binding_checks_refuse_inconsistent_arguments():
    x = (0, (1, 2, 4, 4), (32, 16, 4, 1))
    with pytest.raises(ValueError, match="output has shape"):
        _C._emulate_cuda_max_pool2d_fprop(x, (0, (1, 3, 2, 2), (12, 4, 2, 1)), None, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="output size"):
        _C._emulate_cuda_max_pool2d_fprop(x, (0, (1, 2, 3, 3), (18, 9, 3, 1)), None, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="padding"):
        _C._emulate_cuda_avg_pool2d_fprop(x, (0, (1, 2, 2, 2), (8, 4, 2, 1)), (2, 2), (2, 2), (2, 2), True, 0)
    w = (0, (2, 2, 3, 3), (18, 9, 3, 1))
    with pytest.raises(ValueError, match="depthwise"):
        _C._emulate_cuda_conv2d_fprop_depthwise(x, w, None, (0, (1, 2, 2, 2), (8, 4, 2, 1)), (1, 1), (0, 0), (1, 1), 1)
    dy = (0, (1, 2, 2, 2), (8, 4, 2, 1))
    with pytest.raises(ValueError, match="workspace of at least 4 elements"):
        _C._emulate_cuda_max_pool2d_dgrad(dy, x, None, x, None, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="workspace"):
        _C._emulate_cuda_max_pool2d_dgrad(dy, x, None, x, (0, 3, 1), (2, 2), (2, 2), (0, 0), (1, 1))
    assert _C._emulate_cuda_max_pool2d_dgrad_workspace(dy, x, True, (2, 2), (2, 2), (0, 0), (1, 1)) == 0
    with pytest.raises(ValueError, match="bits"):
        _C._set_gpu_index_bits(32)
    w1 = (0, (2, 1, 3, 3), (9, 9, 3, 1))
    with pytest.raises(ValueError, match="workspace"):
        _C._emulate_cuda_conv2d_wgrad_depthwise((0, (1, 2, 2, 2), (8, 4, 2, 1)), x, w1, True, None, (0, 1, 1),
                                                (1, 1), (0, 0), (1, 1), 2)
