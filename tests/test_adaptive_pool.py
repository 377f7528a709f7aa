"""adaptive_avg_pool1d/2d/3d and adaptive_max_pool1d/2d/3d with their backward ops against the float64
reference (exact for max values and indices) and torch; output_size forms, layouts, edge shapes."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference_nd as ref
from fastconv.testing.tolerances import assert_close
from nd_cases import layouts, logical, poisoned, store, to_torch

CASES = {
    1: [((2, 3, 13), 5), ((1, 4, 7), 7), ((2, 2, 5), 8), ((1, 3, 9), 1), ((1, 17, 10), (3,))],
    2: [((2, 3, 7, 9), 3), ((1, 2, 5, 5), (2, 4)), ((2, 3, 6, 4), (None, 3)), ((1, 2, 3, 5), (7, 7)),
        ((1, 16, 8, 8), 1)],
    3: [((2, 3, 5, 6, 7), (3, 4, 5)), ((1, 2, 4, 4, 4), 2), ((1, 2, 3, 5, 4), (None, 2, 6))],
}
ALL = [(d, c) for d in (1, 2, 3) for c in CASES[d]]


def _out_size(spatial, output_size):
    if isinstance(output_size, int):
        return (output_size,) * len(spatial)
    sizes = tuple(output_size) * (len(spatial) if len(output_size) == 1 else 1)
    return tuple(s if o is None else o for s, o in zip(spatial, sizes))


@pytest.mark.parametrize("dims, case", ALL)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vs_reference(dims, case, channels_last, dtype):
    rng = np.random.default_rng(41)
    shape, osz = case
    layout = layouts(dims)[channels_last]
    x = store(rng.standard_normal(shape), layout, dtype)
    xr = logical(x, layout)
    out = _out_size(shape[2:], osz)

    y = getattr(fc, f"adaptive_avg_pool{dims}d")(x, osz, layout=layout)
    assert y.dtype == dtype
    window = int(np.prod([-(-s // o) + 1 for s, o in zip(shape[2:], out)]))
    assert_close(logical(y, layout), ref.adaptive_avg_pool(xr, out), window, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dyr = logical(dy, layout)
    dx = getattr(fc, f"adaptive_avg_pool{dims}d_backward")(dy, x, osz, layout=layout)
    assert_close(logical(dx, layout), ref.adaptive_avg_pool_dgrad(dyr, xr.shape, out), window, dtype)

    y, idx = getattr(fc, f"adaptive_max_pool{dims}d")(x, osz, True, layout=layout)
    y_ref, idx_ref = ref.adaptive_max_pool(xr, out)
    np.testing.assert_array_equal(logical(y, layout), y_ref)
    np.testing.assert_array_equal(np.moveaxis(idx, -1, 1) if channels_last else idx, idx_ref)
    backward = getattr(fc, f"adaptive_max_pool{dims}d_backward")
    dx = backward(dy, x, osz, layout=layout)
    assert_close(logical(dx, layout), ref.adaptive_max_pool_dgrad(dyr, xr, out), window, dtype)
    np.testing.assert_array_equal(backward(dy, x, osz, True, indices=idx, layout=layout), dx)


@pytest.mark.parametrize("dims, case", [(1, CASES[1][0]), (1, CASES[1][2]), (2, CASES[2][0]), (2, CASES[2][2]),
                                        (2, CASES[2][3]), (3, CASES[3][0])])
def test_vs_torch(dims, case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(43)
    shape, osz = case
    x = rng.standard_normal(shape).astype(np.float32)
    for kind in ("avg", "max"):
        xt = to_torch(x).requires_grad_()
        extra = (True,) if kind == "max" else ()
        rt = getattr(F, f"adaptive_{kind}_pool{dims}d")(xt, osz, *extra)
        r = getattr(fc, f"adaptive_{kind}_pool{dims}d")(to_torch(x), osz, *extra)
        yt, y = (rt[0], r[0]) if kind == "max" else (rt, r)
        assert isinstance(y, torch.Tensor)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
        if kind == "max":
            np.testing.assert_array_equal(r[1].numpy(), rt[1].numpy())
        dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(to_torch(dy))
        dx = getattr(fc, f"adaptive_{kind}_pool{dims}d_backward")(to_torch(dy), to_torch(x), osz)
        np.testing.assert_allclose(dx.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_unbatched_empty_batch_zero_output_and_out(dims, kind):
    rng = np.random.default_rng(45)
    shape, osz = CASES[dims][0]
    pool = getattr(fc, f"adaptive_{kind}_pool{dims}d")
    backward = getattr(fc, f"adaptive_{kind}_pool{dims}d_backward")
    x = rng.standard_normal(shape)
    y = pool(x, osz)
    np.testing.assert_array_equal(pool(x[1], osz), y[1])
    assert backward(y[1], x[1], osz).shape == x[1].shape
    out = poisoned(y.shape, np.float64)
    assert pool(x, osz, out=out) is out
    np.testing.assert_array_equal(out, y)
    empty = np.zeros((0,) + x.shape[1:])
    ye = pool(empty, osz)
    assert ye.shape == (0,) + y.shape[1:]
    assert backward(ye, empty, osz).shape == empty.shape
    zero = (0,) * dims
    yz = pool(x, zero)
    assert yz.shape == x.shape[:2] + zero
    np.testing.assert_array_equal(backward(yz, x, zero), 0)


X2 = np.zeros((2, 3, 6, 6), np.float32)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input=np.zeros((6, 6), np.float32)), ValueError, "input"),
    (dict(input=np.zeros((2, 3, 0, 6), np.float32)), ValueError, "input"),
    (dict(output_size=-1), ValueError, "output_size"),
    (dict(output_size=(2, 2, 2)), ValueError, "output_size"),
    (dict(output_size=1.5), TypeError, "output_size"),
    (dict(output_size=None), TypeError, "output_size"),
    (dict(input=X2.astype(np.int64)), TypeError, "input"),
    (dict(layout="NCW"), ValueError, "layout"),
])
def test_bad_arguments(kind, kwargs, exc, match):
    args = dict(input=X2, output_size=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        getattr(fc, f"adaptive_{kind}_pool2d")(**args)
    with pytest.raises(exc, match=match):
        getattr(fc, f"adaptive_{kind}_pool2d_backward")(np.zeros((2, 3, 2, 2), np.float32), **args)
