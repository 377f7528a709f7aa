"""max_pool1d/3d and avg_pool1d/3d with their backward ops against the float64 reference (exact for
max values and indices) and torch; layouts, edge shapes, NaN-poisoned out=, bad arguments."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference_nd as ref
from fastconv.testing.tolerances import assert_close
from nd_cases import layouts, logical, poisoned, store, to_torch

CASES = {
    1: [
        ((2, 3, 13), dict(kernel_size=3)),
        ((2, 3, 13), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ((1, 4, 9), dict(kernel_size=2, stride=1, dilation=3)),
        ((2, 2, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
        ((1, 17, 5), dict(kernel_size=5, stride=4)),
        ((1, 3, 4), dict(kernel_size=1, stride=5)),
    ],
    3: [
        ((2, 3, 5, 6, 7), dict(kernel_size=3)),
        ((2, 3, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ((1, 2, 6, 5, 7), dict(kernel_size=(2, 3, 2), stride=(1, 2, 3), dilation=(2, 1, 2), padding=(1, 1, 0))),
        ((1, 4, 7, 4, 6), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
        ((2, 2, 3, 3, 3), dict(kernel_size=3, stride=1)),
    ],
}
ALL = [(d, c) for d in (1, 3) for c in CASES[d]]


def _avg_kwargs(dims, kw, cip, divisor=None):
    out = {k: v for k, v in kw.items() if k != "dilation"}
    out["count_include_pad"] = cip
    if dims == 3 and divisor is not None:
        out["divisor_override"] = divisor
    return out


@pytest.mark.parametrize("dims, case", ALL)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_vs_reference(dims, case, channels_last, dtype):
    rng = np.random.default_rng(31)
    shape, kw = case
    layout = layouts(dims)[channels_last]
    x = store(rng.standard_normal(shape), layout, dtype)
    xr = logical(x, layout)
    pool = getattr(fc, f"max_pool{dims}d")
    backward = getattr(fc, f"max_pool{dims}d_backward")
    y, idx = pool(x, layout=layout, return_indices=True, **kw)
    y_ref, idx_ref = ref.max_pool(xr, **kw)
    np.testing.assert_array_equal(logical(y, layout), y_ref)
    np.testing.assert_array_equal(np.moveaxis(idx, -1, 1) if channels_last else idx, idx_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = ref.max_pool_dgrad(logical(dy, layout), xr, **kw)
    dx = backward(dy, x, layout=layout, **kw)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_close(logical(dx, layout), dx_ref, int(np.prod(kw["kernel_size"])), dtype)
    dx_idx = backward(dy, x, layout=layout, indices=idx, return_indices=True, **kw)
    np.testing.assert_array_equal(dx_idx, dx)


# avg_pool1d has no divisor_override (as torch).
AVG_MODES = [(d, c, cip, div) for d, c in ALL for cip, div in ((True, None), (False, None), (True, 5), (False, -3))
             if d == 3 or div is None]


@pytest.mark.parametrize("dims, case, cip, divisor", AVG_MODES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_avg_pool_vs_reference(dims, case, channels_last, cip, divisor):
    rng = np.random.default_rng(33)
    shape, kw = case
    kw = _avg_kwargs(dims, kw, cip, divisor)
    layout = layouts(dims)[channels_last]
    dtype = np.float32
    x = store(rng.standard_normal(shape), layout, dtype)
    xr = logical(x, layout)
    y = getattr(fc, f"avg_pool{dims}d")(x, layout=layout, **kw)
    L = int(np.prod(kw["kernel_size"])) if not isinstance(kw["kernel_size"], int) else kw["kernel_size"] ** dims
    assert_close(logical(y, layout), ref.avg_pool(xr, **kw), L, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = getattr(fc, f"avg_pool{dims}d_backward")(dy, x, layout=layout, **kw)
    assert_close(logical(dx, layout), ref.avg_pool_dgrad(logical(dy, layout), xr.shape, **kw), L, dtype)


@pytest.mark.parametrize("dims, case", [(1, CASES[1][1]), (1, CASES[1][2]), (3, CASES[3][2]), (3, CASES[3][3])])
def test_vs_torch(dims, case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(35)
    shape, kw = case
    x = rng.standard_normal(shape).astype(np.float32)
    xt = to_torch(x).requires_grad_()
    yt, it = getattr(F, f"max_pool{dims}d")(xt, return_indices=True, **kw)
    y, idx = getattr(fc, f"max_pool{dims}d")(to_torch(x), return_indices=True, **kw)
    assert isinstance(y, torch.Tensor) and isinstance(idx, torch.Tensor)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_torch(dy))
    dx = getattr(fc, f"max_pool{dims}d_backward")(to_torch(dy), to_torch(x), indices=idx, **kw)
    np.testing.assert_allclose(dx.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
    for cip in (True, False):
        akw = _avg_kwargs(dims, kw, cip, 7 if dims == 3 and not cip else None)
        xt = to_torch(x).requires_grad_()
        yt = getattr(F, f"avg_pool{dims}d")(xt, **akw)
        y = getattr(fc, f"avg_pool{dims}d")(x, **akw)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        yt.backward(to_torch(dy))
        dx = getattr(fc, f"avg_pool{dims}d_backward")(dy, x, **akw)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims", [1, 3])
def test_max_pool_ties_and_nan_follow_torch_rules(dims):
    shape = (1, 1, 6) if dims == 1 else (1, 1, 2, 2, 4)
    x = np.zeros(shape, np.float64)
    y, idx = getattr(fc, f"max_pool{dims}d")(x, 2, return_indices=True)
    _, idx_ref = ref.max_pool(x, 2)
    np.testing.assert_array_equal(idx, idx_ref)  # ties: the first in window order
    x.reshape(-1)[1] = np.nan
    y, idx = getattr(fc, f"max_pool{dims}d")(x, 2, return_indices=True)
    assert np.isnan(y.reshape(-1)[0]) and idx.reshape(-1)[0] == 1


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_unbatched_empty_batch_and_out(dims, kind):
    rng = np.random.default_rng(37)
    shape, kw = CASES[dims][1]
    if kind == "avg":
        kw = _avg_kwargs(dims, kw, True)
    pool = getattr(fc, f"{kind}_pool{dims}d")
    backward = getattr(fc, f"{kind}_pool{dims}d_backward")
    x = rng.standard_normal(shape).astype(np.float32)
    y = pool(x, **kw)
    np.testing.assert_array_equal(pool(x[1], **kw), y[1])
    assert backward(y[1], x[1], **kw).shape == x[1].shape
    out = poisoned(y.shape, np.float32)
    assert pool(x, out=out, **kw) is out
    np.testing.assert_array_equal(out, y)
    empty = np.zeros((0,) + x.shape[1:], np.float32)
    ye = pool(empty, **kw)
    assert ye.shape == (0,) + y.shape[1:]
    assert backward(ye, empty, **kw).shape == empty.shape


@pytest.mark.parametrize("dims", [1, 3])
def test_strided_input_untouched(dims):
    rng = np.random.default_rng(39)
    shape, kw = CASES[dims][2]
    big = rng.standard_normal(shape[:1] + (2 * shape[1],) + tuple(2 * s for s in shape[2:]))
    x = big[(slice(None), slice(None, None, 2)) + (slice(None, None, 2),) * dims]
    x.flags.writeable = False
    y, idx = getattr(fc, f"max_pool{dims}d")(x, return_indices=True, **kw)
    y_ref, idx_ref = ref.max_pool(x, **kw)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


X1 = np.zeros((2, 3, 8), np.float32)
X3 = np.zeros((2, 3, 6, 6, 6), np.float32)


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input="short"), ValueError, "input"),
    (dict(input="no_channels"), ValueError, "input"),
    (dict(kernel_size=0), ValueError, "kernel_size"),
    (dict(kernel_size=(2, 2)), ValueError, "kernel_size"),
    (dict(kernel_size=1.5), TypeError, "kernel_size"),
    (dict(stride=0), ValueError, "stride"),
    (dict(padding=2), ValueError, "padding"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(ceil_mode=1), TypeError, "ceil_mode"),
    (dict(kernel_size=9), ValueError, "output size"),
    (dict(input="int"), TypeError, "input"),
    (dict(layout="NCHW"), ValueError, "layout"),
])
def test_bad_arguments(dims, kwargs, exc, match):
    x = X1 if dims == 1 else X3
    special = {"short": np.zeros(x.shape[2:], np.float32), "no_channels": np.zeros((2, 0) + x.shape[2:], np.float32),
               "int": x.astype(np.int32)}
    args = dict(input=x, kernel_size=2)
    args.update({k: special[v] if isinstance(v, str) and v in special else v for k, v in kwargs.items()})
    dy = np.zeros((2, 3) + (4,) * dims, np.float32)
    for kind in ("max", "avg"):
        with pytest.raises(exc, match=match):
            getattr(fc, f"{kind}_pool{dims}d")(**args)
        with pytest.raises(exc, match=match):
            getattr(fc, f"{kind}_pool{dims}d_backward")(dy, **args)


def test_backward_argument_checks():
    with pytest.raises(ValueError, match="grad_output"):
        fc.max_pool1d_backward(np.zeros((2, 3, 5), np.float32), X1, 2)
    with pytest.raises(TypeError, match="indices"):
        fc.max_pool3d_backward(np.zeros((2, 3, 3, 3, 3), np.float32), X3, 2,
                               indices=np.zeros((2, 3, 3, 3, 3), np.int32))
    with pytest.raises(ValueError, match="indices"):
        fc.max_pool1d_backward(np.zeros((2, 3, 4), np.float32), X1, 2, indices=np.zeros((2, 3, 5), np.int64))
    with pytest.raises(ValueError, match="divisor_override"):
        fc.avg_pool3d(X3, 2, divisor_override=0)
    with pytest.raises(TypeError):
        fc.avg_pool1d(X1, 2, divisor_override=2)


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_max_pool3d_nan_in_channel_blocks(layout):
    """A NaN wins its windows in every channel block layout, with and without indices."""
    rng = np.random.default_rng(47)
    x = rng.standard_normal((1, 9, 4, 4, 4))
    x[0, 5, 1, 2, 3] = np.nan
    xs = store(x, layout, np.float32)
    y, idx = fc.max_pool3d(xs, 2, layout=layout, return_indices=True)
    y_only = fc.max_pool3d(xs, 2, layout=layout)
    y, idx, y_only = (logical(a, layout) for a in (y, idx, y_only))
    y_ref, idx_ref = ref.max_pool(x.astype(np.float32), 2)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(y_only, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    assert np.isnan(y[0, 5, 0, 1, 1]) and idx[0, 5, 0, 1, 1] == (1 * 4 + 2) * 4 + 3
