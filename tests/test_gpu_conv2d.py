"""The implicit-GEMM conv2d kernels on a real GPU (fprop, dgrad, wgrad, bgrad), through CuPy arrays
and PyTorch CUDA tensors: every conv parameter in both layouts against the CPU path and the float64
reference (outputs poisoned with NaN first), exact results on small integers, bitwise run-to-run
determinism, non-default streams, algorithm selection.

Skipped unless fastconv.cuda_available() and the array library are present (marker ``gpu``). The
kernels' index arithmetic is checked on every machine by test_conv_index.py.
"""

import numpy as np
import pytest

import fastconv as fc
from fastconv import _gpu_arrays
from fastconv.testing import reference as R
from fastconv.testing.tolerances import assert_close

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not fc.cuda_available(), reason="needs a CUDA build and a GPU"),
]


class Lib:
    def __init__(self, name):
        self.name = name
        if name == "cupy":
            self.cp = pytest.importorskip("cupy")
        else:
            self.torch = pytest.importorskip("torch")
            if not self.torch.cuda.is_available():
                pytest.skip("torch has no CUDA")

    def dev(self, a):
        if a is None:
            return None
        if self.name == "cupy":
            return self.cp.asarray(a)
        return self.torch.from_numpy(np.ascontiguousarray(a)).cuda()

    def host(self, a):
        if self.name == "cupy":
            assert isinstance(a, self.cp.ndarray)
            return self.cp.asnumpy(a)
        assert isinstance(a, self.torch.Tensor) and a.is_cuda
        return a.cpu().numpy()


@pytest.fixture(params=("cupy", "torch"))
def lib(request, monkeypatch):
    monkeypatch.setattr(_gpu_arrays, "_poison_outputs", True, raising=False)
    return Lib(request.param)


def stored(a, layout):
    return np.ascontiguousarray(a if layout == "NCHW" else a.transpose(0, 2, 3, 1))


def logical(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


# N, C, H, W, K, R, S, stride, padding, dilation, groups
CASES = [
    (2, 3, 9, 8, 5, 3, 3, 1, 1, 1, 1),
    (3, 1, 28, 28, 32, 3, 3, 1, 0, 1, 1),            # seed.conv1: C = 1, the 128x32 tile
    (2, 3, 23, 21, 16, 7, 7, 2, 3, 1, 1),            # stem: C = 3
    (2, 40, 13, 11, 36, 1, 1, 1, 0, 1, 1),           # 1x1
    (2, 24, 15, 15, 20, 1, 1, 2, 0, 1, 1),           # strided 1x1: dgrad phases without taps
    (1, 12, 19, 17, 40, 3, 3, (2, 3), (1, 2), 1, 1),
    (2, 10, 14, 15, 12, 3, 2, 1, (2, 1), (2, 3), 1),  # dilation
    (2, 12, 16, 16, 18, 3, 3, 2, 1, 2, 3),           # stride with dilation, groups
    (2, 16, 12, 11, 24, 4, 4, 1, "same", 1, 4),      # asymmetric 'same', groups
    (1, 8, 7, 7, 8, 2, 2, 3, 0, 1, 8),               # stride > kernel, depthwise through implicit GEMM
    (1, 6, 5, 5, 4, 5, 5, 1, 0, 1, 1),               # kernel = input
    (4, 64, 20, 20, 160, 3, 3, 1, 1, 1, 1),          # several 128x128 tiles, ragged edges, split-K
]


def _args(case):
    N, C, H, W, K, R_, S, stride, padding, dilation, groups = case
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _problem(case, rng, ints=False):
    N, C, H, W, K, R_, S, *_ = case
    groups = case[-1]
    gen = (lambda s: rng.integers(-4, 5, size=s).astype(np.float32)) if ints else \
        (lambda s: rng.standard_normal(s).astype(np.float32))
    x, w, b = gen((N, C, H, W)), gen((K, C // groups, R_, S)), gen((K,))
    y_ref = R.conv2d(x, w, b, **_args(case))
    dy = gen(y_ref.shape)
    return x, w, b, dy, y_ref


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_all_passes_match_cpu_and_reference(lib, case, layout):
    rng = np.random.default_rng(CASES.index(case))
    x, w, b, dy, y_ref = _problem(case, rng)
    args = _args(case)
    algorithm = "implicit_gemm"
    xs, ws, dys = stored(x, layout), stored(w, layout), stored(dy, layout)
    N, C, H, W, K, R_, S, *_ = case
    g = args["groups"]

    y = lib.host(fc.conv2d(lib.dev(xs), lib.dev(ws), lib.dev(b), layout=layout, algorithm=algorithm, **args))
    assert_close(logical(y, layout), y_ref, (C // g) * R_ * S, np.float32)
    assert_close(y, fc.conv2d(xs, ws, b, layout=layout, **args), (C // g) * R_ * S, np.float32)

    gx, gw, gb = fc.conv2d_backward(lib.dev(dys), lib.dev(xs), lib.dev(ws), lib.dev(b), layout=layout,
                                    algorithm=algorithm, **args)
    gx, gw, gb = lib.host(gx), lib.host(gw), lib.host(gb)
    P, Q = y_ref.shape[2:]
    assert_close(logical(gx, layout), R.conv2d_dgrad(dy, x.shape, w, **args), (K // g) * R_ * S, np.float32)
    assert_close(logical(gw, layout), R.conv2d_wgrad(dy, x, w.shape, **args), N * P * Q, np.float32)
    assert_close(gb, R.conv2d_bgrad(dy), N * P * Q, np.float32)
    cx, cw, cb = fc.conv2d_backward(dys, xs, ws, b, layout=layout, **args)
    assert_close(gx, cx, (K // g) * R_ * S, np.float32)
    assert_close(gw, cw, N * P * Q, np.float32)


@pytest.mark.parametrize("case", [CASES[2], CASES[7], CASES[8], CASES[11]], ids=["stem", "dil", "same", "big"])
def test_small_integers_are_exact(lib, case):
    rng = np.random.default_rng(5)
    x, w, b, dy, y_ref = _problem(case, rng, ints=True)
    args = _args(case)
    y = lib.host(fc.conv2d(lib.dev(x), lib.dev(w), lib.dev(b), **args))
    np.testing.assert_array_equal(y, y_ref.astype(np.float32))
    gx, gw, gb = fc.conv2d_backward(lib.dev(dy), lib.dev(x), lib.dev(w), lib.dev(b), **args)
    np.testing.assert_array_equal(lib.host(gx), R.conv2d_dgrad(dy, x.shape, w, **args).astype(np.float32))
    np.testing.assert_array_equal(lib.host(gw), R.conv2d_wgrad(dy, x, w.shape, **args).astype(np.float32))
    np.testing.assert_array_equal(lib.host(gb), R.conv2d_bgrad(dy).astype(np.float32))


def test_same_bits_every_run(lib):
    """wgrad's split-K partials are added in a fixed order: no run-to-run variation anywhere."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 64, 28, 28)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((8, 64, 28, 28)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    runs = []
    for _ in range(3):
        y = fc.conv2d(lib.dev(x), lib.dev(w), lib.dev(b), padding=1)
        gx, gw, gb = fc.conv2d_backward(lib.dev(dy), lib.dev(x), lib.dev(w), lib.dev(b), padding=1)
        runs.append([lib.host(a) for a in (y, gx, gw, gb)])
    for other in runs[1:]:
        for a, b_ in zip(runs[0], other):
            assert a.tobytes() == b_.tobytes()


def test_unbatched_empty_batch_and_views(lib):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 9, 9)).astype(np.float32)
    w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
    y = lib.host(fc.conv2d(lib.dev(x), lib.dev(w), None, 1, 1))
    assert_close(y, R.conv2d(x[None], w, None, 1, 1)[0], 45, np.float32)
    y0 = fc.conv2d(lib.dev(np.zeros((0, 5, 9, 9), np.float32)), lib.dev(w), None, 1, 1)
    assert tuple(y0.shape) == (0, 7, 9, 9)
    # a non-contiguous view is read in place
    big = lib.dev(rng.standard_normal((2, 5, 9, 18)).astype(np.float32))
    view = big[..., ::2]
    y = lib.host(fc.conv2d(view, lib.dev(w), None, 1, 1))
    assert_close(y, R.conv2d(lib.host(big)[..., ::2], w, None, 1, 1), 45, np.float32)


def test_algorithm_selection(lib):
    rng = np.random.default_rng(4)
    x = lib.dev(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
    w = lib.dev(rng.standard_normal((6, 4, 3, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="direct"):
        fc.conv2d(x, w, algorithm="direct")  # the direct kernels are depthwise only
    with pytest.raises(ValueError, match="winograd"):
        fc.conv2d(x, w, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm"):
        fc.conv2d(x, w, algorithm="fft")
    wd = lib.dev(rng.standard_normal((4, 1, 3, 3)).astype(np.float32))
    a = lib.host(fc.conv2d(x, wd, groups=4, algorithm="direct"))
    b = lib.host(fc.conv2d(x, wd, groups=4, algorithm="implicit_gemm"))
    c = lib.host(fc.conv2d(x, wd, groups=4))
    assert_close(a, b, 9, np.float32)
    np.testing.assert_array_equal(a, c)  # auto takes the depthwise kernels


def test_cupy_non_default_stream():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 32, 30, 30)).astype(np.float32)
    w = rng.standard_normal((48, 32, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 48, 28, 28)).astype(np.float32)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        xd, wd, dyd = cp.asarray(x), cp.asarray(w), cp.asarray(dy)
        y = fc.conv2d(xd, wd)
        gx, gw, _ = fc.conv2d_backward(dyd, xd, wd)
        y, gx, gw = cp.asnumpy(y, stream=stream), cp.asnumpy(gx, stream=stream), cp.asnumpy(gw, stream=stream)
        stream.synchronize()
    assert_close(y, R.conv2d(x, w), 288, np.float32)
    assert_close(gx, R.conv2d_dgrad(dy, x.shape, w), 432, np.float32)
    assert_close(gw, R.conv2d_wgrad(dy, x, w.shape), 4 * 28 * 28, np.float32)


def test_torch_stream():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    rng = np.random.default_rng(8)
    x = torch.from_numpy(rng.standard_normal((4, 16, 20, 20)).astype(np.float32)).cuda()
    w = torch.from_numpy(rng.standard_normal((24, 16, 3, 3)).astype(np.float32)).cuda()
    dy = torch.from_numpy(rng.standard_normal((4, 24, 10, 10)).astype(np.float32)).cuda()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        y = fc.conv2d(x, w, None, 2, 1)
        gx, gw, _ = fc.conv2d_backward(dy, x, w, None, 2, 1)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    xn, wn, dyn = x.cpu().numpy(), w.cpu().numpy(), dy.cpu().numpy()
    assert_close(y.cpu().numpy(), R.conv2d(xn, wn, None, 2, 1), 144, np.float32)
    assert_close(gx.cpu().numpy(), R.conv2d_dgrad(dyn, xn.shape, wn, 2, 1), 216, np.float32)
    assert_close(gw.cpu().numpy(), R.conv2d_wgrad(dyn, xn, wn.shape, 2, 1), 400, np.float32)


def _host_arg(a):
    """(pointer, logical shape, element strides) of a host array, as the emulation bindings take it."""
    return (a.ctypes.data, tuple(a.shape), tuple(s // a.itemsize for s in a.strides))


def _host_arg1(a):
    return (a.ctypes.data, a.shape[0], a.strides[0] // a.itemsize)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[7], CASES[8], CASES[11]],
                         ids=["basic", "stem", "s2-1x1", "dil-groups", "same", "big"])
def test_bits_match_the_cpu_emulation(lib, case, layout):
    """The serial CPU emulation of the kernels (implicit_gemm_emulation.h) accumulates every output with
    the same fma chain as its GPU thread, and reduces split-K partials and bias lanes in the same order:
    the GPU must give exactly its bits."""
    from fastconv import _C

    rng = np.random.default_rng(100 + CASES.index(case))
    x, w, b, dy, y_ref = _problem(case, rng)
    args = _args(case)
    N, C, H, W, K, R_, S, stride, padding, dilation, groups = case
    st = (stride, stride) if isinstance(stride, int) else tuple(stride)
    dl = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    top, _, left, _ = R.conv2d_padding(padding, R_, S, st, dl)
    geometry = (st, (top, left), dl, groups)
    xs, ws, dys = stored(x, layout), stored(w, layout), stored(dy, layout)

    def logical_view(a):
        return logical(a, layout)

    y = lib.host(fc.conv2d(lib.dev(xs), lib.dev(ws), lib.dev(b), layout=layout, algorithm="implicit_gemm", **args))
    gx, gw, gb = (lib.host(a) for a in fc.conv2d_backward(lib.dev(dys), lib.dev(xs), lib.dev(ws), lib.dev(b),
                                                           layout=layout, algorithm="implicit_gemm", **args))
    ey = np.full_like(y, np.nan)
    _C._emulate_cuda_conv2d_fprop_implicit_gemm(_host_arg(logical_view(xs)), _host_arg(logical_view(ws)),
                                                _host_arg1(b), _host_arg(logical_view(ey)), *geometry)
    ex = np.full_like(xs, np.nan)
    _C._emulate_cuda_conv2d_dgrad_implicit_gemm(_host_arg(logical_view(dys)), _host_arg(logical_view(ws)),
                                                _host_arg(logical_view(ex)), *geometry)
    ew = np.full_like(ws, np.nan)
    dw_args = [_host_arg(logical_view(dys)), _host_arg(logical_view(xs)), _host_arg(logical_view(ew))]
    floats = _C._emulate_cuda_conv2d_wgrad_implicit_gemm_workspace(*dw_args, *geometry)
    work = np.full(max(int(floats), 1), np.nan, np.float32)
    _C._emulate_cuda_conv2d_wgrad_implicit_gemm(*dw_args, _host_arg1(work), *geometry)
    eb = np.full_like(b, np.nan)
    _C._emulate_cuda_conv2d_bgrad(_host_arg(logical_view(dys)), _host_arg1(eb))
    for got, want, name in [(y, ey, "y"), (gx, ex, "dx"), (gw, ew, "dw"), (gb, eb, "db")]:
        assert got.tobytes() == want.tobytes(), f"{name}: max diff {np.nanmax(np.abs(got - want))}"
