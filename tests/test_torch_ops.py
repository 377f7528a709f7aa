"""torch.ops.fastconv: values against torch.nn.functional, gradcheck, opcheck, channels-last without
copies, refusals (double backward, bad arguments, GPU tensors without a GPU path)."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import fastconv as fc  # noqa: E402
import fastconv.torch as fct  # noqa: E402

ops = torch.ops.fastconv

# (N, C, H, W, K, R, S, stride, padding, dilation, groups, bias)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, True),
    (1, 4, 8, 7, 6, 3, 2, (2, 1), (1, 0), (1, 2), 2, False),
    (2, 2, 5, 5, 2, 1, 1, 2, 0, 1, 1, True),
    (1, 3, 6, 6, 3, 3, 3, 1, 2, 2, 3, True),
]
# (kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = [(2, None, 0, 1, False), (3, 2, 1, 1, True), ((3, 2), (1, 2), (1, 0), (2, 1), False)]
# (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [(2, None, 0, False, True, None), (3, 2, 1, True, False, None), ((3, 2), (2, 1), (1, 1), False, True, 5)]


def _conv_args(case, dtype=torch.float64, seed=0):
    n, c, h, w, k, r, s, stride, padding, dilation, groups, bias = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, dtype=dtype, generator=g)
    wt = torch.randn(k, c // groups, r, s, dtype=dtype, generator=g)
    b = torch.randn(k, dtype=dtype, generator=g) if bias else None
    return x, wt, b, stride, padding, dilation, groups


def _pairs(v):
    return list(v) if isinstance(v, tuple) else [v, v]


def test_import_gets_real_torch():
    import torch as real

    assert fct.torch is real and sys.modules["torch"] is real and hasattr(real, "library")
    assert "fastconv" not in real.__file__


def test_registered_ops():
    assert {"conv2d", "max_pool2d", "avg_pool2d"} <= set(fct.registered_ops())
    for name in fct.registered_ops():
        assert hasattr(fc, name) and hasattr(fc, name + "_backward")
        assert hasattr(ops, name) and hasattr(ops, name + "_backward")


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conv2d_matches_torch(case, dtype):
    x, w, b, stride, padding, dilation, groups = _conv_args(case, dtype)
    tensors = [t.requires_grad_() for t in (x, w, b) if t is not None]
    y = fct.conv2d(x, w, b, stride, padding, dilation, groups)
    ref = F.conv2d(x, w, b, stride, padding, dilation, groups)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, ref, **tol)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, tensors, dy)
    want = torch.autograd.grad(ref, tensors, dy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, **tol)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradcheck(case):
    x, w, b, stride, padding, dilation, groups = _conv_args(case)
    inputs = tuple(t.requires_grad_() for t in (x, w, b) if t is not None)

    def f(*ts):
        return fct.conv2d(ts[0], ts[1], ts[2] if len(ts) > 2 else None, stride, padding, dilation, groups)

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_matches_torch_and_gradcheck(case):
    k, s, p, d, ceil = case
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, requires_grad=True)
    y, idx = fct.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    assert idx.dtype == torch.int64 and torch.equal(idx, ref_idx) and not idx.requires_grad
    assert torch.autograd.gradcheck(lambda t: fct.max_pool2d(t, k, s, p, d, ceil), (x,))


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d_matches_torch_and_gradcheck(case):
    k, s, p, ceil, cip, div = case
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, requires_grad=True)
    y = fct.avg_pool2d(x, k, s, p, ceil, cip, div)
    torch.testing.assert_close(y, F.avg_pool2d(x, k, s, p, ceil, cip, div), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: fct.avg_pool2d(t, k, s, p, ceil, cip, div), (x,))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_unbatched_and_same_padding_with_even_kernel():
    x = torch.randn(3, 9, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 3, 4, 2, dtype=torch.float64, requires_grad=True)
    y = fct.conv2d(x, w, None, 1, "same", (1, 3))
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, "same", (1, 3)))
    assert y.shape == (5, 9, 8)
    assert torch.autograd.gradcheck(lambda a, b: fct.conv2d(a, b, None, 1, "same", (1, 3)), (x, w))
    torch.testing.assert_close(fct.max_pool2d(x, 2), F.max_pool2d(x, 2))


def _opcheck_cases():
    x, w, b, *_ = _conv_args(CONV_CASES[0])
    cl = x.contiguous(memory_format=torch.channels_last)
    ones = [1, 1]
    return [
        (ops.conv2d, (x, w, b, [2, 2], [1, 1], [1, 1], 1)),
        (ops.conv2d, (cl, w, None, [1, 1], [0, 0], [1, 1], 1)),
        (ops.max_pool2d, (x, [3, 3], [2, 2], [1, 1], ones, True)),
        (ops.max_pool2d, (cl, [2, 2], [2, 2], [0, 0], ones, False)),
        (ops.avg_pool2d, (x, [3, 3], [2, 2], [1, 1], False, False, None)),
        (ops.avg_pool2d, (cl, [2, 2], [1, 1], [0, 0], True, True, 3)),
    ]


@pytest.mark.parametrize("case", range(6))
def test_opcheck_forward(case):
    op, args = _opcheck_cases()[case]
    args = tuple(a.clone().requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                 for a in args)
    torch.library.opcheck(op, args)


def test_opcheck_backward_ops():
    x, w, b, *_ = _conv_args(CONV_CASES[0])
    y = ops.conv2d(x, w, b, [1, 1], [1, 1], [1, 1], 1)
    dy = torch.randn_like(y)
    for needs in ([True, True, True], [False, True, False], [True, False, True]):
        torch.library.opcheck(ops.conv2d_backward, (dy, x, w, b, [1, 1], [1, 1], [1, 1], 1, needs))
    p, idx = ops.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False)
    torch.library.opcheck(ops.max_pool2d_backward,
                          (torch.randn_like(p), x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx, [True]))
    a = ops.avg_pool2d(x, [2, 2], [1, 1], [1, 1], False, True, None)
    torch.library.opcheck(ops.avg_pool2d_backward,
                          (torch.randn_like(a), x, [2, 2], [1, 1], [1, 1], False, True, None, [True]))


def test_backward_skips_what_is_not_needed(monkeypatch):
    """The weight gradient is computed only when asked for: by the wgrad entry point, or by the
    one-call backward given a grad_weight array (few input channels, unit strides)."""
    calls = []
    real_wgrad, real_backward = fc._conv2d._C.conv2d_wgrad, fc._conv2d._C.conv2d_backward

    def spy_wgrad(*args):
        calls.append("wgrad")
        return real_wgrad(*args)

    def spy_backward(dy, x, w, dx, dw, db, *args):
        done = real_backward(dy, x, w, dx, dw, db, *args)
        if done and dw is not None:
            calls.append("wgrad")
        return done

    monkeypatch.setattr(fc._conv2d._C, "conv2d_wgrad", spy_wgrad)
    monkeypatch.setattr(fc._conv2d._C, "conv2d_backward", spy_backward)
    x, w, b, *_ = _conv_args(CONV_CASES[0])
    x.requires_grad_()
    y = fct.conv2d(x, w, b, 1, 1)
    (dx,) = torch.autograd.grad(y.sum(), x)
    assert calls == [] and dx.shape == x.shape
    w.requires_grad_()
    torch.autograd.grad(fct.conv2d(x, w, b, 1, 1).sum(), w)
    assert calls == ["wgrad"]


def test_double_backward_is_refused_clearly():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(fct.conv2d(x, w).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward .* not supported"):
        gx.sum().backward()
    (gp,) = torch.autograd.grad(fct.max_pool2d(x, 2).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gp.sum().backward()


def test_bad_arguments_raise_fastconv_errors():
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="conv2d: expected input with 4 channels"):
        fct.conv2d(x, torch.randn(2, 4, 3, 3))
    with pytest.raises(TypeError, match="float32 or float64"):
        fct.conv2d(x.half(), torch.randn(2, 3, 3, 3).half())
    with pytest.raises(ValueError, match="padding should be at most half"):
        fct.max_pool2d(x, 2, 2, 2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        fct.conv2d(x, torch.randn(2, 3, 3, 3), stride=2, padding="same")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_go_to_fastconv():
    x = torch.randn(1, 3, 8, 8, device="cuda")
    w = torch.randn(2, 3, 3, 3, device="cuda")
    try:
        y = fct.conv2d(x, w, None, 1, 1)
    except RuntimeError as exc:  # fastconv's own refusal: no CUDA build or no GPU kernel for the op
        assert "GPU" in str(exc)
        return
    assert y.is_cuda
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 1), rtol=1e-4, atol=1e-4)


# --- channels-last ------------------------------------------------------------------------------

class _Spy:
    """Records the arrays a fastconv kernel receives (pointer, element strides, shape)."""

    def __init__(self, monkeypatch, name):
        self.real = getattr(fc._C, name)
        self.calls = []
        monkeypatch.setattr(fc._C, name, self)

    def __call__(self, *args):
        self.calls.append([(a.__array_interface__["data"][0], tuple(s // a.itemsize for s in a.strides), a.shape)
                           for a in args if isinstance(a, np.ndarray)])
        return self.real(*args)


def _cl_strides(n, c, h, w):
    return (h * w * c, 1, w * c, c)


def test_channels_last_conv2d_runs_nhwc_in_place(monkeypatch):
    fprop = _Spy(monkeypatch, "conv2d_fprop")
    x = torch.randn(2, 8, 9, 7).contiguous(memory_format=torch.channels_last)
    w = torch.randn(6, 8, 3, 3)
    b = torch.randn(6)
    y = fct.conv2d(x, w, b, 1, 1)
    torch.testing.assert_close(y, F.conv2d(x, w, b, 1, 1), rtol=1e-5, atol=1e-5)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    (xa, wa, ba, ya), = fprop.calls
    assert xa == (x.data_ptr(), _cl_strides(2, 8, 9, 7), (2, 8, 9, 7))
    assert wa[0] == w.data_ptr() and wa[1] == w.stride()
    assert ya[0] == y.data_ptr() and ya[1] == y.stride()


def test_channels_last_weights_and_gradients(monkeypatch):
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, 4, 3, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(), w.requires_grad_()
    fprop = _Spy(monkeypatch, "conv2d_fprop")
    y = fct.conv2d(x, w, None, 2, 1)
    assert fprop.calls[0][1][:2] == (w.data_ptr(), w.stride())  # KRSC weights read in place
    dy = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), dy)
    rx, rw = torch.autograd.grad(F.conv2d(x, w, None, 2, 1), (x, w), dy)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)
    assert gx.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(lambda a, b: fct.conv2d(a, b, None, 2, 1), (x, w))


def test_channels_last_pools(monkeypatch):
    fprop = _Spy(monkeypatch, "max_pool2d_fprop")
    x = torch.randn(2, 5, 8, 8, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    y, idx = fct.max_pool2d(x, 3, 2, 1, return_indices=True)
    ry, ridx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    torch.testing.assert_close(y, ry, rtol=0, atol=0)
    assert torch.equal(idx, ridx)
    assert fprop.calls[0][0] == (x.data_ptr(), _cl_strides(2, 5, 8, 8), (2, 5, 8, 8))
    assert y.is_contiguous(memory_format=torch.channels_last) and idx.is_contiguous(memory_format=torch.channels_last)
    a = fct.avg_pool2d(x, 2)
    assert a.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, F.avg_pool2d(x, 2))
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: fct.max_pool2d(t, 3, 2, 1), (x,))
    assert torch.autograd.gradcheck(lambda t: fct.avg_pool2d(t, 3, 2, 1, count_include_pad=False), (x,))


def test_contiguous_input_stays_nchw(monkeypatch):
    fprop = _Spy(monkeypatch, "conv2d_fprop")
    x = torch.randn(1, 3, 5, 5)
    y = fct.conv2d(x, torch.randn(2, 3, 3, 3))
    assert y.is_contiguous()
    assert fprop.calls[0][0] == (x.data_ptr(), x.stride(), (1, 3, 5, 5))


def test_empty_batch():
    x = torch.randn(0, 3, 8, 8, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    y = fct.conv2d(x, w, None, 1, 1)
    assert y.shape == (0, 4, 8, 8)
    y.sum().backward()
    assert x.grad.shape == x.shape and torch.equal(w.grad, torch.zeros_like(w))
    torch.library.opcheck(ops.conv2d, (x, w, None, [1, 1], [1, 1], [1, 1], 1))
    torch.library.opcheck(ops.max_pool2d, (x, [2, 2], [2, 2], [0, 0], [1, 1], False))


def test_fastconv_alone_never_imports_torch():
    code = ("import sys, numpy as np, fastconv as fc\n"
            "x = np.ones((1, 3, 6, 6), np.float32); w = np.ones((2, 3, 3, 3), np.float32)\n"
            "y = fc.conv2d(x, w); fc.conv2d_backward(y, x, w); fc.max_pool2d(x, 2); fc.avg_pool2d(x, 2)\n"
            "assert 'torch' not in sys.modules, 'fastconv imported torch'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=os.path.dirname(os.path.abspath(__file__)))
