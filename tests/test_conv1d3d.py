"""conv1d and conv3d (forward, dgrad, wgrad, bgrad) against the float64 reference and torch, adjoint
identities, finite differences, edge shapes and bad arguments."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference_nd as ref
from fastconv.testing.tolerances import assert_close
from nd_cases import layouts, logical, poisoned, store, to_torch

# (N, C, spatial, K, taps, kwargs)
CASES_1D = [
    (2, 3, (11,), 4, (3,), {}),
    (1, 4, (9,), 6, (2,), dict(stride=2, padding=1)),
    (2, 6, (10,), 4, (3,), dict(padding="same", dilation=2, groups=2)),
    (3, 5, (17,), 7, (4,), dict(stride=3, dilation=2, padding=2)),
    (2, 4, (8,), 4, (3,), dict(groups=4, padding="valid")),
    (1, 3, (5,), 2, (5,), {}),
    (2, 17, (33,), 16, (1,), dict(stride=2)),
    (1, 2, (4,), 3, (2,), dict(padding="same")),
]
CASES_3D = [
    (2, 3, (5, 6, 7), 4, (3, 2, 3), {}),
    (1, 4, (6, 5, 5), 6, (3, 3, 3), dict(stride=2, padding=1)),
    (2, 4, (5, 6, 7), 6, (3, 2, 3), dict(stride=(2, 1, 3), dilation=(2, 1, 1), groups=2, padding=(3, 0, 1))),
    (1, 4, (4, 5, 6), 4, (2, 3, 2), dict(padding="same", groups=2)),
    (2, 3, (3, 4, 4), 3, (1, 1, 1), dict(stride=(3, 2, 1))),
    (1, 2, (2, 3, 3), 5, (2, 3, 3), {}),
]
FWD = {1: fc.conv1d, 3: fc.conv3d}
BWD = {1: fc.conv1d_backward, 3: fc.conv3d_backward}


def _problem(rng, N, C, spatial, K, taps, groups, layout, dtype, bias=True):
    x = store(rng.standard_normal((N, C) + spatial), layout, dtype)
    w = store(rng.standard_normal((K, C // groups) + taps), layout, dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    return x, w, b


def _check(rng, dims, case, layout, dtype, bias=True):
    N, C, spatial, K, taps, kw = case
    groups = kw.get("groups", 1)
    x, w, b = _problem(rng, N, C, spatial, K, taps, groups, layout, dtype, bias)
    xr, wr = logical(x, layout), logical(w, layout)
    br = None if b is None else b.astype(np.float64)
    y = FWD[dims](x, w, b, layout=layout, **kw)
    y_ref = ref.conv(xr, wr, br, **kw)
    L = (C // groups) * int(np.prod(taps))
    assert y.dtype == dtype
    assert_close(logical(y, layout), y_ref, L, dtype)

    dy = rng.standard_normal(y.shape).astype(dtype)
    dyr = logical(dy, layout)
    dx, dw, db = BWD[dims](dy, x, w, b, layout=layout, **kw)
    assert dx.shape == x.shape and dw.shape == w.shape and dx.dtype == dtype and dw.dtype == dtype
    assert_close(logical(dx, layout), ref.conv_dgrad(dyr, wr, xr.shape, **kw), (K // groups) * int(np.prod(taps)),
                 dtype)
    assert_close(logical(dw, layout), ref.conv_wgrad(dyr, xr, wr.shape, **kw), N * int(np.prod(y_ref.shape[2:])),
                 dtype)
    if b is None:
        assert db is None
    else:
        assert_close(db, ref.conv_bgrad(dyr), N * int(np.prod(y_ref.shape[2:])), dtype)


@pytest.mark.parametrize("case", CASES_1D)
@pytest.mark.parametrize("layout", layouts(1))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_vs_reference(case, layout, dtype):
    _check(np.random.default_rng(11), 1, case, layout, dtype)


@pytest.mark.parametrize("case", CASES_3D)
@pytest.mark.parametrize("layout", layouts(3))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv3d_vs_reference(case, layout, dtype):
    _check(np.random.default_rng(13), 3, case, layout, dtype)


@pytest.mark.parametrize("dims", [1, 3])
def test_no_bias(dims):
    case = (CASES_1D if dims == 1 else CASES_3D)[1]
    _check(np.random.default_rng(3), dims, case, "NCW" if dims == 1 else "NCDHW", np.float64, bias=False)


@pytest.mark.parametrize("dims, case", [(1, CASES_1D[3]), (1, CASES_1D[2]), (3, CASES_3D[2]), (3, CASES_3D[1])])
def test_vs_torch(dims, case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(5)
    N, C, spatial, K, taps, kw = case
    x, w, b = _problem(rng, N, C, spatial, K, taps, kw.get("groups", 1), "NCW", np.float32)
    xt, wt, bt = (to_torch(a).requires_grad_() for a in (x, w, b))
    yt = getattr(F, f"conv{dims}d")(xt, wt, bt, **kw)
    y = FWD[dims](to_torch(x), to_torch(w), to_torch(b), **kw)
    assert isinstance(y, torch.Tensor)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_torch(dy))
    grads = BWD[dims](to_torch(dy), to_torch(x), to_torch(w), to_torch(b), **kw)
    for g, t in zip(grads, (xt, wt, bt)):
        assert isinstance(g, torch.Tensor)
        np.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dims, case", [(1, CASES_1D[3]), (3, CASES_3D[2])])
def test_adjoint_identities(dims, case):
    rng = np.random.default_rng(7)
    N, C, spatial, K, taps, kw = case
    x, w, _ = _problem(rng, N, C, spatial, K, taps, kw.get("groups", 1), "NCW", np.float64, bias=False)
    y = FWD[dims](x, w, None, **kw)
    dy = rng.standard_normal(y.shape)
    dx, dw, _ = BWD[dims](dy, x, w, None, **kw)
    lhs = float(np.vdot(y, dy))
    assert abs(lhs - float(np.vdot(x, dx))) <= 1e-11 * max(1.0, abs(lhs)) * y.size
    assert abs(lhs - float(np.vdot(w, dw))) <= 1e-11 * max(1.0, abs(lhs)) * y.size


@pytest.mark.parametrize("dims", [1, 3])
def test_finite_differences(dims):
    rng = np.random.default_rng(9)
    spatial, taps = ((7,), (3,)) if dims == 1 else ((3, 4, 3), (2, 2, 2))
    kw = dict(stride=2, padding=1, dilation=1)
    x = rng.standard_normal((2, 2) + spatial)
    w = rng.standard_normal((3, 2) + taps)
    b = rng.standard_normal(3)
    dy = rng.standard_normal(FWD[dims](x, w, b, **kw).shape)
    dx, dw, db = BWD[dims](dy, x, w, b, **kw)
    loss = lambda x_, w_, b_: float(np.vdot(FWD[dims](x_, w_, b_, **kw), dy))
    h = 1e-6
    for arr, grad, which in ((x, dx, 0), (w, dw, 1), (b, db, 2)):
        for flat in rng.choice(arr.size, size=min(5, arr.size), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            args_p = [x.copy(), w.copy(), b.copy()]
            args_m = [x.copy(), w.copy(), b.copy()]
            args_p[which][idx] += h
            args_m[which][idx] -= h
            fd = (loss(*args_p) - loss(*args_m)) / (2 * h)
            assert abs(fd - grad[idx]) <= 1e-6 * max(1.0, abs(fd)), (which, idx, fd, grad[idx])


@pytest.mark.parametrize("dims", [1, 3])
def test_unbatched_and_empty_batch(dims):
    rng = np.random.default_rng(2)
    N, C, spatial, K, taps, kw = (CASES_1D if dims == 1 else CASES_3D)[1]
    x, w, b = _problem(rng, 2, C, spatial, K, taps, 1, "NCW", np.float32)
    y = FWD[dims](x, w, b, **kw)
    y0 = FWD[dims](x[0], w, b, **kw)
    assert y0.shape == y.shape[1:]
    np.testing.assert_array_equal(y0, FWD[dims](x[:1], w, b, **kw)[0])
    dx0, dw0, db0 = BWD[dims](y0, x[0], w, b, **kw)
    assert dx0.shape == x[0].shape and dw0.shape == w.shape
    empty = np.zeros((0,) + x.shape[1:], np.float32)
    ye = FWD[dims](empty, w, b, **kw)
    assert ye.shape == (0,) + y.shape[1:]
    dx, dw, db = BWD[dims](ye, empty, w, b, **kw)
    assert dx.shape == empty.shape
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)


@pytest.mark.parametrize("dims", [1, 3])
def test_zero_input_channels_gives_bias(dims):
    spatial, taps = ((6,), (3,)) if dims == 1 else ((3, 4, 4), (2, 2, 2))
    x = np.zeros((2, 0) + spatial, np.float32)
    w = np.zeros((3, 0) + taps, np.float32)
    b = np.array([1.0, -2.0, 3.0], np.float32)
    y = FWD[dims](x, w, b)
    np.testing.assert_array_equal(y, np.broadcast_to(b.reshape((1, 3) + (1,) * dims), y.shape))


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_out_argument_poisoned(dims, channels_last):
    rng = np.random.default_rng(4)
    layout = layouts(dims)[channels_last]
    N, C, spatial, K, taps, kw = (CASES_1D if dims == 1 else CASES_3D)[2]
    x, w, b = _problem(rng, N, C, spatial, K, taps, kw.get("groups", 1), layout, np.float32)
    expected = FWD[dims](x, w, b, layout=layout, **kw)
    out = poisoned(expected.shape, np.float32)
    result = FWD[dims](x, w, b, layout=layout, out=out, **kw)
    assert result is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dims", [1, 3])
def test_strided_views_and_inputs_untouched(dims):
    rng = np.random.default_rng(6)
    N, C, spatial, K, taps, kw = (CASES_1D if dims == 1 else CASES_3D)[0]
    big = rng.standard_normal((N, 2 * C) + tuple(2 * s for s in spatial))
    x = big[(slice(None), slice(None, None, 2)) + tuple(slice(None, None, 2) for _ in spatial)]
    w = np.asfortranarray(rng.standard_normal((K, C) + taps))
    x.flags.writeable = False
    before = x.copy()
    y = FWD[dims](x, w, None, **kw)
    assert_close(y, ref.conv(x, w, None, **kw), C * int(np.prod(taps)), np.float64)
    np.testing.assert_array_equal(x, before)


def test_conv3d_deterministic_across_threads():
    rng = np.random.default_rng(8)
    N, C, spatial, K, taps, kw = CASES_3D[1]
    x, w, b = _problem(rng, N, C, spatial, K, taps, 1, "NCDHW", np.float32)
    dy = rng.standard_normal(fc.conv3d(x, w, b, **kw).shape).astype(np.float32)
    saved = fc.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 2):
            fc.set_num_threads(threads)
            results.append((fc.conv3d(x, w, b, **kw),) + fc.conv3d_backward(dy, x, w, b, **kw))
    finally:
        fc.set_num_threads(saved)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


X1 = np.zeros((2, 4, 8), np.float32)
W1 = np.zeros((6, 4, 3), np.float32)
X3 = np.zeros((2, 4, 5, 5, 5), np.float32)
W3 = np.zeros((6, 4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input="2d"), ValueError, "input"),
    (dict(weight="1d"), ValueError, "weight"),
    (dict(weight="fewer_channels"), ValueError, "channels"),
    (dict(bias=np.zeros(5, np.float32)), ValueError, "bias"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding="same", stride=2), ValueError, "padding"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=4), ValueError, "groups"),
    (dict(dilation=9), ValueError, "kernel size"),
    (dict(input="int"), TypeError, "input"),
    (dict(weight="f64"), TypeError, "dtype"),
    (dict(layout="NCHW"), ValueError, "layout"),
    (dict(algorithm="fft"), ValueError, "algorithm"),
])
def test_bad_arguments(dims, kwargs, exc, match):
    x, w = (X1, W1) if dims == 1 else (X3, W3)
    args = dict(input=x, weight=w, bias=np.zeros(6, np.float32), stride=1, padding=0, dilation=1, groups=1)
    special = {"2d": np.zeros(x.shape[1:2], np.float32), "1d": np.zeros(w.shape[:-1], np.float32),
               "fewer_channels": w[:, :3], "int": x.astype(np.int32), "f64": w.astype(np.float64)}
    args.update({k: special[v] if isinstance(v, str) and v in special else v for k, v in kwargs.items()})
    with pytest.raises(exc, match=match):
        FWD[dims](**args)
    with pytest.raises(exc, match=match):
        BWD[dims](np.zeros((2, 6) + (x.shape[-1] - 2,) * dims, np.float32), **args)


def test_grad_output_shape_is_checked():
    with pytest.raises(ValueError, match="grad_output"):
        fc.conv1d_backward(np.zeros((2, 6, 5), np.float32), X1, W1)
