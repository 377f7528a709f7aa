"""conv_transpose1d/2d/3d and their backward ops against the float64 reference (the scatter
definition) and torch; adjoint identities with conv, finite differences, edge shapes, bad arguments."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference_nd as ref
from fastconv.testing.tolerances import assert_close
from nd_cases import layouts, logical, poisoned, store, to_torch

# (N, C_in, spatial, C_out_per_group, taps, kwargs)
CASES = {
    1: [
        (2, 3, (7,), 4, (3,), {}),
        (1, 4, (6,), 3, (4,), dict(stride=2, padding=1, output_padding=1)),
        (2, 6, (5,), 2, (3,), dict(stride=3, dilation=2, groups=3, padding=2, output_padding=2)),
        (1, 2, (4,), 5, (1,), dict(stride=2)),
    ],
    2: [
        (2, 4, (5, 6), 3, (3, 2), {}),
        (2, 4, (5, 6), 3, (3, 3), dict(stride=2, padding=1, output_padding=1)),
        (1, 4, (4, 5), 3, (3, 2), dict(stride=(2, 3), dilation=2, groups=2)),
        (2, 4, (5, 3), 3, (3, 2), dict(stride=1, dilation=3, output_padding=2, padding=2, groups=2)),
        (1, 4, (3, 4), 3, (3, 2), dict(stride=2, dilation=3, output_padding=2, padding=1, groups=4)),
        (1, 17, (3, 3), 16, (1, 1), dict(stride=2, output_padding=1)),
    ],
    3: [
        (2, 4, (3, 4, 5), 3, (3, 2, 3), {}),
        (1, 4, (3, 3, 4), 3, (3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
        (2, 4, (3, 4, 3), 3, (3, 2, 3), dict(stride=(2, 1, 3), dilation=(2, 1, 1), groups=2, padding=(1, 0, 1))),
    ],
}
FWD = {1: fc.conv_transpose1d, 2: fc.conv_transpose2d, 3: fc.conv_transpose3d}
BWD = {1: fc.conv_transpose1d_backward, 2: fc.conv_transpose2d_backward, 3: fc.conv_transpose3d_backward}
ALL = [(d, c) for d in (1, 2, 3) for c in CASES[d]]


def _problem(rng, case, layout, dtype, bias=True):
    N, Cin, spatial, Cog, taps, kw = case
    groups = kw.get("groups", 1)
    x = store(rng.standard_normal((N, Cin) + spatial), layout, dtype)
    w = store(rng.standard_normal((Cin, Cog) + taps), layout, dtype)
    b = rng.standard_normal(Cog * groups).astype(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("dims, case", ALL)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vs_reference(dims, case, channels_last, dtype):
    rng = np.random.default_rng(21)
    layout = layouts(dims)[channels_last]
    N, Cin, spatial, Cog, taps, kw = case
    groups = kw.get("groups", 1)
    x, w, b = _problem(rng, case, layout, dtype)
    xr, wr, br = logical(x, layout), logical(w, layout), b.astype(np.float64)
    y = FWD[dims](x, w, b, layout=layout, **kw)
    y_ref = ref.conv_transpose(xr, wr, br, **kw)
    ntaps = int(np.prod(taps))
    assert y.dtype == dtype
    assert_close(logical(y, layout), y_ref, Cin // groups * ntaps, dtype)

    dy = rng.standard_normal(y.shape).astype(dtype)
    dyr = logical(dy, layout)
    dx, dw, db = BWD[dims](dy, x, w, b, layout=layout, **kw)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    # The transposed op's gradients by their definition: d<y, dy>/dx[i] = sum of dy over i's window
    # times w, i.e. a convolution of dy cropped to the input extent; dw correlates x with dy.
    conv_kw = dict(stride=kw.get("stride", 1), dilation=kw.get("dilation", 1), groups=groups)
    pad = kw.get("padding", 0)
    dy_padded = np.pad(dyr, [(0, 0), (0, 0)] + [(p, p + 1) for p in ref._tuple(pad, dims)])
    conv_dy = ref.conv(dy_padded, wr, None, **conv_kw)
    dx_ref = conv_dy[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)]
    assert_close(logical(dx, layout), dx_ref, Cog * ntaps, dtype)
    # Zero rows appended to x (in the role of the convolution's output gradient) change nothing.
    x_extended = np.pad(xr, [(0, 0), (0, 0)] + [(0, c - s) for c, s in zip(conv_dy.shape[2:], spatial)])
    dw_ref = ref.conv_wgrad(x_extended, dy_padded, wr.shape, **conv_kw)
    assert_close(logical(dw, layout), dw_ref, N * int(np.prod(spatial)), dtype)
    assert_close(db, ref.conv_bgrad(dyr), N * int(np.prod(y_ref.shape[2:])), dtype)


@pytest.mark.parametrize("dims, case", [(1, CASES[1][2]), (2, CASES[2][3]), (2, CASES[2][4]), (3, CASES[3][2])])
def test_vs_torch(dims, case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(23)
    x, w, b = _problem(rng, case, "NC", np.float32)
    kw = case[-1]
    xt, wt, bt = (to_torch(a).requires_grad_() for a in (x, w, b))
    yt = getattr(F, f"conv_transpose{dims}d")(xt, wt, bt, **kw)
    y = FWD[dims](to_torch(x), to_torch(w), to_torch(b), **kw)
    assert isinstance(y, torch.Tensor)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_torch(dy))
    grads = BWD[dims](to_torch(dy), to_torch(x), to_torch(w), to_torch(b), **kw)
    for g, t in zip(grads, (xt, wt, bt)):
        np.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dims, case", [(1, CASES[1][2]), (2, CASES[2][4]), (3, CASES[3][1])])
def test_adjoint_of_conv(dims, case):
    """<conv_transpose(x, w), z> == <x, conv(z, w)> for the convolution with the same parameters."""
    rng = np.random.default_rng(25)
    x, w, _ = _problem(rng, case, "NC", np.float64, bias=False)
    kw = case[-1]
    y = FWD[dims](x, w, None, **kw)
    z = rng.standard_normal(y.shape)
    conv = {1: fc.conv1d, 2: fc.conv2d, 3: fc.conv3d}[dims]
    cz = conv(z, w, None, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1), kw.get("groups", 1))
    cz = cz[(slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])]
    lhs = float(np.vdot(y, z))
    assert abs(lhs - float(np.vdot(x, cz))) <= 1e-12 * y.size * max(1.0, abs(lhs))
    dx, dw, _ = BWD[dims](z, x, w, None, **kw)
    assert abs(lhs - float(np.vdot(x, dx))) <= 1e-12 * y.size * max(1.0, abs(lhs))
    assert abs(lhs - float(np.vdot(w, dw))) <= 1e-12 * y.size * max(1.0, abs(lhs))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_finite_differences(dims):
    rng = np.random.default_rng(27)
    case = CASES[dims][1]
    x, w, b = _problem(rng, case, "NC", np.float64)
    kw = case[-1]
    dy = rng.standard_normal(FWD[dims](x, w, b, **kw).shape)
    grads = BWD[dims](dy, x, w, b, **kw)
    loss = lambda *a: float(np.vdot(FWD[dims](*a, **kw), dy))
    h = 1e-6
    for which, (arr, grad) in enumerate(zip((x, w, b), grads)):
        for flat in rng.choice(arr.size, size=min(4, arr.size), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            plus, minus = [x.copy(), w.copy(), b.copy()], [x.copy(), w.copy(), b.copy()]
            plus[which][idx] += h
            minus[which][idx] -= h
            fd = (loss(*plus) - loss(*minus)) / (2 * h)
            assert abs(fd - grad[idx]) <= 1e-6 * max(1.0, abs(fd)), (which, idx, fd, grad[idx])


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unbatched_empty_batch_out_and_needs_input_grad(dims):
    rng = np.random.default_rng(29)
    case = CASES[dims][1]
    kw = case[-1]
    x, w, b = _problem(rng, case, "NC", np.float32)
    y = FWD[dims](x, w, b, **kw)
    y0 = FWD[dims](x[0], w, b, **kw)
    np.testing.assert_array_equal(y0, y[0])
    out = poisoned(y.shape, np.float32)
    assert FWD[dims](x, w, b, out=out, **kw) is out
    np.testing.assert_array_equal(out, y)
    empty = np.zeros((0,) + x.shape[1:], np.float32)
    ye = FWD[dims](empty, w, b, **kw)
    assert ye.shape == (0,) + y.shape[1:]
    dx, dw, db = BWD[dims](ye, empty, w, b, **kw)
    assert dx.shape == empty.shape
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    dx, dw, db = BWD[dims](y, x, w, b, needs_input_grad=(False, True, False), **kw)
    assert dx is None and db is None and dw.shape == w.shape


X = np.zeros((2, 4, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input=np.zeros((5, 5), np.float32)), ValueError, "input"),
    (dict(input=np.zeros((2, 4, 0, 5), np.float32)), ValueError, "input"),
    (dict(weight=np.zeros((4, 3, 3), np.float32)), ValueError, "weight"),
    (dict(weight=np.zeros((3, 3, 3, 3), np.float32)), ValueError, "channels"),
    (dict(bias=np.zeros(4, np.float32)), ValueError, "bias"),
    (dict(stride=0), ValueError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="same"), TypeError, "padding"),
    (dict(output_padding=1), ValueError, "output_padding"),
    (dict(output_padding=2, stride=2), ValueError, "output_padding"),
    (dict(groups=3), ValueError, "groups"),
    (dict(padding=4), ValueError, "output size"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(weight=W.astype(np.float64)), TypeError, "dtype"),
    (dict(layout="NCDHW"), ValueError, "layout"),
])
def test_bad_arguments(kwargs, exc, match):
    args = dict(input=X, weight=W, bias=np.zeros(3, np.float32))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fc.conv_transpose2d(**args)
    with pytest.raises(exc, match=match):
        fc.conv_transpose2d_backward(np.zeros((2, 3, 7, 7), np.float32), **args)


def test_zero_output_channels():
    x = np.ones((2, 3, 5), np.float32)
    w = np.zeros((3, 0, 3), np.float32)
    y = fc.conv_transpose1d(x, w)
    assert y.shape == (2, 0, 7)
    dx, dw, _ = fc.conv_transpose1d_backward(y, x, w)
    np.testing.assert_array_equal(dx, 0)
    assert dw.shape == w.shape


@pytest.mark.parametrize("seed", range(4))
def test_random_parameters_vs_reference(seed):
    """Random strides, paddings, dilations, output paddings, groups and layouts (1-D and 2-D)."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(8):
        dims = int(rng.integers(1, 3))
        groups = int(rng.integers(1, 4))
        cin, cog = groups * int(rng.integers(1, 4)), int(rng.integers(1, 4))
        taps = tuple(int(v) for v in rng.integers(1, 5, dims))
        stride = tuple(int(v) for v in rng.integers(1, 4, dims))
        dilation = tuple(int(v) for v in rng.integers(1, 4, dims))
        out_pad = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        spatial = tuple(int(v) for v in rng.integers(1, 7, dims))
        pad = tuple(int(rng.integers(0, (t - 1) * d // 2 + 1)) for t, d in zip(taps, dilation))
        kw = dict(stride=stride, padding=pad, output_padding=out_pad, groups=groups, dilation=dilation)
        layout = layouts(dims)[int(rng.integers(0, 2))]
        case = (int(rng.integers(1, 3)), cin, spatial, cog, taps, kw)
        x, w, b = _problem(rng, case, layout, np.float64)
        y = FWD[dims](x, w, b, layout=layout, **kw)
        y_ref = ref.conv_transpose(logical(x, layout), logical(w, layout), b, **kw)
        assert_close(logical(y, layout), y_ref, cin * int(np.prod(taps)), np.float64)
        dy = rng.standard_normal(y.shape)
        dx, dw, db = BWD[dims](dy, x, w, b, layout=layout, **kw)
        lhs = float(np.vdot(FWD[dims](x, w, None, layout=layout, **kw), dy))
        assert abs(lhs - float(np.vdot(x, dx))) <= 1e-10 * max(1.0, abs(lhs))
        assert abs(lhs - float(np.vdot(w, dw))) <= 1e-10 * max(1.0, abs(lhs))
        assert_close(db, ref.conv_bgrad(logical(dy, layout)), dy.size, np.float64)
