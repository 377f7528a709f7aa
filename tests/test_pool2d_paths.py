"""The vectorised float32 pooling paths (csrc/cpu/*pool2d_rows.cpp, csrc/cpu/ukernels/pool2d*).

float32 goes through the row kernels, float64 and unusual strides through the generic loops, so the
float64 results of float32-valued inputs are an exact oracle for max pooling (values, indices, and
gradients with integer-valued dy). Average pooling sums in the same order on every path, so the
float32 results must be the same bits on every path, layout and ISA. Shapes straddle the vector
widths (8 and 16 lanes, two-vector groups), strides 1-3, dilation, ceil_mode, borders.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv as fc
from fastconv import _C

NEG_INF = -np.inf


def stored(a, layout):
    return np.ascontiguousarray(a if layout == "NCHW" else a.transpose(0, 2, 3, 1))


def logical(a, layout):
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


def ties_input(rng, shape):
    """float32-valued input with ties (small integers), some -0.0 and +0.0."""
    x = rng.integers(-4, 5, size=shape).astype(np.float32)
    x[x == 0] = np.where(rng.random(np.count_nonzero(x == 0)) < 0.5, -0.0, 0.0)
    return x


def max_both(x32, layout, **kw):
    """(float32 path, float64 oracle) for values, indices and both backward variants."""
    xs = stored(x32, layout)
    y, idx = fc.max_pool2d(xs, return_indices=True, layout=layout, **kw)
    y64, idx64 = fc.max_pool2d(xs.astype(np.float64), return_indices=True, layout=layout, **kw)
    dy = np.random.default_rng(1).integers(-8, 9, size=y.shape).astype(np.float32)
    dx = fc.max_pool2d_backward(dy, xs, layout=layout, **kw)
    dxi = fc.max_pool2d_backward(dy, xs, layout=layout, indices=idx, **kw)
    dx64 = fc.max_pool2d_backward(dy.astype(np.float64), xs.astype(np.float64), layout=layout, **kw)
    return (y, idx, dx, dxi), (y64, idx64, dx64)


def assert_max_exact(x32, layout, **kw):
    (y, idx, dx, dxi), (y64, idx64, dx64) = max_both(x32, layout, **kw)
    assert y.tobytes() == y64.astype(np.float32).tobytes()  # the sign of zero too
    np.testing.assert_array_equal(idx, idx64)
    np.testing.assert_array_equal(dx, dx64.astype(np.float32))
    assert dx.tobytes() == dxi.tobytes()


WIDTHS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("k,s,p", [(3, 2, 1), (2, 2, 0), (3, 1, 1), (1, 1, 0), (2, 1, 1), (3, 3, 1), (5, 2, 2),
                                   (4, 3, 0), (7, 1, 3)])
def test_max_widths_around_vector_sizes(layout, k, s, p):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    for w in WIDTHS:
        if w + 2 * p < k:
            continue
        for ceil_mode in (False, True):
            x = ties_input(rng, (2, 3, 5 + (w % 4), w))
            assert_max_exact(x, layout, kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, dilation=2),
                                dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(3, 2),
                                     ceil_mode=True),
                                dict(kernel_size=(1, 4), stride=(2, 1), padding=(0, 2), dilation=(1, 3))])
def test_max_dilation(layout, kw):
    rng = np.random.default_rng(5)
    for w in (7, 16, 17, 33, 40):
        assert_max_exact(ties_input(rng, (1, 2, 9, w)), layout, **kw)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("c", [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 130])
def test_max_channel_blocks(layout, c):
    """NHWC blocks of up to four vectors of channels, with partial vectors."""
    rng = np.random.default_rng(c)
    assert_max_exact(ties_input(rng, (2, c, 9, 11)), layout, kernel_size=3, stride=2, padding=1)
    assert_max_exact(ties_input(rng, (1, c, 6, 7)), layout, kernel_size=2, stride=1, ceil_mode=True)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_max_special_values_at_borders(layout):
    """NaN (exact path), -inf everywhere (index fix-up at border windows), +-0 ties."""
    rng = np.random.default_rng(7)
    for w in (3, 16, 17, 40):
        for fill in ("nan", "neg_inf", "zeros"):
            x = ties_input(rng, (2, 3, 8, w))
            if fill == "nan":
                x[rng.random(x.shape) < 0.1] = np.nan
            elif fill == "neg_inf":
                x[rng.random(x.shape) < 0.7] = NEG_INF
                x[:, 0] = NEG_INF
            else:
                x = np.where(rng.random(x.shape) < 0.5, -0.0, 0.0).astype(np.float32)
            for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=4, stride=1, padding=2),
                       dict(kernel_size=2, stride=2, ceil_mode=True)):
                (y, idx, dx, dxi), (y64, idx64, dx64) = max_both(x, layout, **kw)
                np.testing.assert_array_equal(y, y64.astype(np.float32))
                assert np.array_equal(np.signbit(y), np.signbit(y64))
                np.testing.assert_array_equal(idx, idx64)
                np.testing.assert_array_equal(dx, dx64.astype(np.float32))
                np.testing.assert_array_equal(dxi, dx)


def test_max_against_torch_large():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(8)
    for shape, kw in [((2, 5, 57, 61), dict(kernel_size=3, stride=2, padding=1)),
                      ((3, 4, 26, 26), dict(kernel_size=2, stride=2)),
                      ((1, 3, 40, 70), dict(kernel_size=3, stride=1, padding=1, ceil_mode=True))]:
        x = ties_input(rng, shape)
        for layout in ("NCHW", "NHWC"):
            xt = torch.from_numpy(x)
            if layout == "NHWC":
                xt = xt.contiguous(memory_format=torch.channels_last)
            yt, it = F.max_pool2d(xt, return_indices=True, **kw)
            y, idx = fc.max_pool2d(stored(x, layout), return_indices=True, layout=layout, **kw)
            assert logical(y, layout).tobytes() == np.ascontiguousarray(yt.numpy()).tobytes()
            np.testing.assert_array_equal(logical(idx, layout), it.numpy())


# --------------------------------------------------------------------------- average pooling


@pytest.mark.parametrize("k,s,p", [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2), (4, 1, 2)])
def test_avg_same_bits_on_every_path(k, s, p):
    """Row kernels (both layouts) and the generic loops (channel-strided NHWC view) agree bitwise."""
    rng = np.random.default_rng(k + 10 * s)
    for w in (5, 16, 17, 33, 64, 65):
        if w + 2 * p < k:
            continue
        for cip, ceil_mode, div in [(True, False, None), (False, True, None), (True, True, 3)]:
            kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode, count_include_pad=cip,
                      divisor_override=div)
            x = rng.standard_normal((2, 19, 7, w)).astype(np.float32)
            outs, grads = [], []
            y0 = fc.avg_pool2d(x, **kw)
            dy = rng.standard_normal(y0.shape).astype(np.float32)
            for layout, view in [("NCHW", None), ("NHWC", None), ("NHWC", "strided_c")]:
                xs = stored(x, layout)
                dys = stored(dy, layout)
                if view == "strided_c":  # channels not contiguous: the generic loops
                    buf = np.zeros(xs.shape[:-1] + (2 * xs.shape[-1],), np.float32)
                    buf[..., ::2] = xs
                    xs = buf[..., ::2]
                outs.append(np.ascontiguousarray(logical(fc.avg_pool2d(xs, layout=layout, **kw), layout)))
                grads.append(np.ascontiguousarray(logical(fc.avg_pool2d_backward(dys, xs, layout=layout, **kw),
                                                          layout)))
            for o in outs[1:]:
                assert o.tobytes() == outs[0].tobytes()
            for g in grads[1:]:
                assert g.tobytes() == grads[0].tobytes()
            y64 = fc.avg_pool2d(x.astype(np.float64), **kw)
            np.testing.assert_allclose(outs[0], y64, rtol=1e-5, atol=1e-6)


def test_avg_dgrad_generic_vs_rows_direct():
    """dx written through a strided view (generic loops) equals the row path's dx."""
    rng = np.random.default_rng(11)
    for shape, k, s, p in [((2, 3, 20, 37), 3, 2, 1), ((1, 2, 9, 33), 2, 2, 0), ((1, 1, 40, 50), 3, 1, 1)]:
        x = rng.standard_normal(shape).astype(np.float32)
        y = fc.avg_pool2d(x, k, s, p)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        fast = fc.avg_pool2d_backward(dy, x, k, s, p)
        buf = np.full(shape[:-1] + (2 * shape[-1],), np.nan, np.float32)
        slow = buf[..., ::2]
        _C.avg_pool2d_dgrad(dy, slow, (k, k), (s, s), (p, p), True, 0)
        assert slow.tobytes() == np.ascontiguousarray(fast).tobytes()


# --------------------------------------------------------------------------- backward specifics


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_max_dgrad_foreign_indices_fall_back_to_scatter(layout):
    """Indices outside their window (but inside the plane) are honoured: the unit is scattered."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 20, 33, 35)).astype(np.float32)
    xs = stored(x, layout)
    y, idx = fc.max_pool2d(xs, 3, 2, 1, return_indices=True, layout=layout)
    dy = rng.integers(-5, 6, size=y.shape).astype(np.float32)
    bad = idx.copy()
    flat = bad.reshape(-1)
    pick = rng.random(flat.shape) < 0.01
    flat[pick] = rng.integers(0, 33 * 35, size=np.count_nonzero(pick))  # anywhere in the plane
    flat[rng.random(flat.shape) < 0.01] = -1  # outside: dropped
    dx = fc.max_pool2d_backward(dy, xs, 3, 2, 1, indices=bad, layout=layout)
    ref = np.zeros(x.shape, np.float64).reshape(2, 20, -1)
    bl, dyl = logical(bad, layout).reshape(2, 20, -1), logical(dy, layout).reshape(2, 20, -1)
    for n in range(2):
        for c in range(20):
            keep = (bl[n, c] >= 0) & (bl[n, c] < 33 * 35)
            np.add.at(ref[n, c], bl[n, c][keep], dyl[n, c][keep])
    np.testing.assert_array_equal(logical(dx, layout), ref.reshape(x.shape).astype(np.float32))


@pytest.fixture
def restore_threads():
    n = fc.get_num_threads()
    yield
    fc.set_num_threads(n)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_large_planes_split_into_row_blocks(layout, restore_threads):
    """Few large planes: items are row blocks; any thread count gives the same bits."""
    rng = np.random.default_rng(13)
    x = ties_input(rng, (1, 2, 301, 257))
    xs = stored(x, layout)
    res = {}
    for t in (1, 2, 3):
        fc.set_num_threads(t)
        y, idx = fc.max_pool2d(xs, 3, 2, 1, return_indices=True, layout=layout)
        dy = np.random.default_rng(1).integers(-3, 4, size=y.shape).astype(np.float32)
        res[t] = [y, idx, fc.max_pool2d_backward(dy, xs, 3, 2, 1, layout=layout),
                  fc.max_pool2d_backward(dy, xs, 3, 2, 1, indices=idx, layout=layout),
                  fc.avg_pool2d(xs, 3, 2, 1, layout=layout), fc.avg_pool2d_backward(dy, xs, 3, 2, 1, layout=layout)]
    for t in (2, 3):
        for a, b in zip(res[1], res[t]):
            assert a.tobytes() == b.tobytes()
    assert_max_exact(x, layout, kernel_size=3, stride=2, padding=1)


def test_strided_input_rows_and_outputs():
    """Planar rows with a w stride, outputs through strided views (copied rows and row buffers)."""
    rng = np.random.default_rng(14)
    x = ties_input(rng, (2, 3, 20, 41))
    buf = np.zeros(x.shape[:-1] + (3 * x.shape[-1],), np.float32)
    buf[..., ::3] = x
    xv = buf[..., ::3]
    y, idx = fc.max_pool2d(x, 3, 2, 1, return_indices=True)
    yv = np.full((2, 3, 10, 2 * 21), np.nan, np.float32)[..., ::2]
    iv = np.full((2, 3, 10, 2 * 21), -7, np.int64)[..., ::2]
    _C.max_pool2d_fprop(xv, yv, iv, (3, 3), (2, 2), (1, 1), (1, 1))
    np.testing.assert_array_equal(yv, y)
    np.testing.assert_array_equal(iv, idx)
    np.testing.assert_array_equal(fc.avg_pool2d(xv, 3, 2, 1), fc.avg_pool2d(x, 3, 2, 1))


# --------------------------------------------------------------------------- 2x2 windows, stride 2


@pytest.mark.parametrize("shape", [(4, 32, 26, 26), (1, 1, 301, 257), (2, 3, 7, 31), (2, 3, 9, 32), (1, 2, 5, 33),
                                   (1, 2, 3, 65), (3, 1, 2, 2)])
def test_2x2_stride2(shape, restore_threads):
    """The in-register 2x2 stride-2 kernels: values, indices, both backwards; row blocks; any threads."""
    rng = np.random.default_rng(sum(shape))
    x = ties_input(rng, shape)
    x.reshape(-1)[rng.random(x.size) < 0.01] = np.nan
    for ceil_mode in (False, True):
        kw = dict(kernel_size=2, stride=2, ceil_mode=ceil_mode)
        res = {}
        for t in (1, 2, 3):
            fc.set_num_threads(t)
            y, idx = fc.max_pool2d(x, return_indices=True, **kw)
            dy = np.random.default_rng(2).integers(-3, 4, size=y.shape).astype(np.float32)
            dy.reshape(-1)[::5] = -0.0
            res[t] = [y, idx, fc.max_pool2d_backward(dy, x, **kw), fc.max_pool2d_backward(dy, x, indices=idx, **kw),
                      fc.avg_pool2d(x, **kw), fc.avg_pool2d_backward(dy, x, **kw)]
        for t in (2, 3):
            for a, b in zip(res[1], res[t]):
                assert a.tobytes() == b.tobytes()
        y, idx, dx, dxi, ya, dxa = res[1]
        y64, idx64 = fc.max_pool2d(x.astype(np.float64), return_indices=True, **kw)
        np.testing.assert_array_equal(y, y64.astype(np.float32))
        np.testing.assert_array_equal(idx, idx64)
        dx64 = fc.max_pool2d_backward(dy.astype(np.float64), x.astype(np.float64), **kw)
        np.testing.assert_array_equal(dx, dx64.astype(np.float32))
        assert dx.tobytes() == dxi.tobytes()
        # average pooling: the same bits as the generic loops (x and dx through strided views)
        buf = np.zeros(shape[:-1] + (2 * shape[-1],), np.float32)
        buf[..., ::2] = x
        xv = buf[..., ::2]
        slow = np.full(shape[:-1] + (2 * shape[-1],), np.nan, np.float32)[..., ::2]
        _C.avg_pool2d_dgrad(dy, slow, (2, 2), (2, 2), (0, 0), True, 0)
        assert np.ascontiguousarray(slow).tobytes() == dxa.tobytes()  # -0 addends give +0 there too
        np.testing.assert_allclose(ya, fc.avg_pool2d(xv.astype(np.float64), **kw), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- every ISA path

_ISA_SCRIPT = r"""
import sys, numpy as np, fastconv as fc
assert fc.build_info()["cpu_isa_selected"] == sys.argv[1], fc.build_info()["cpu_isa_selected"]
rng = np.random.default_rng(0)
out = {}
cases = [((2, 3, 11, 37), dict(kernel_size=3, stride=2, padding=1)),
         ((2, 5, 9, 17), dict(kernel_size=2, stride=2, ceil_mode=True)),
         ((1, 4, 8, 33), dict(kernel_size=3, stride=1, padding=1)),
         ((1, 3, 10, 40), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
         ((2, 2, 9, 16), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
         ((1, 37, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
         ((2, 3, 26, 26), dict(kernel_size=2, stride=2)),
         ((1, 2, 9, 35), dict(kernel_size=2, stride=2, ceil_mode=True))]
for i, (shape, kw) in enumerate(cases):
    x = rng.integers(-4, 5, size=shape).astype(np.float32)
    x[0, 0, 0, :3] = [np.nan, -np.inf, -0.0]
    for layout in ("NCHW", "NHWC"):
        xs = np.ascontiguousarray(x if layout == "NCHW" else x.transpose(0, 2, 3, 1))
        y, idx = fc.max_pool2d(xs, return_indices=True, layout=layout, **kw)
        dy = np.random.default_rng(i).integers(-4, 5, size=y.shape).astype(np.float32)
        akw = {k: v for k, v in kw.items() if k != "dilation"}
        xa = rng.standard_normal(xs.shape).astype(np.float32)
        ya = fc.avg_pool2d(xa, layout=layout, **akw)
        out[f"{i}{layout}"] = [y, idx, fc.max_pool2d_backward(dy, xs, layout=layout, **kw),
                               fc.max_pool2d_backward(dy, xs, layout=layout, indices=idx, **kw),
                               ya, fc.avg_pool2d_backward(ya, xa, layout=layout, **akw)]
np.savez(sys.argv[2], **{f"{k}_{j}": a for k, v in out.items() for j, a in enumerate(v)})
print("ok")
"""


def test_every_isa_path_gives_the_same_bits(tmp_path):
    info = fc.build_info()
    supported = {"scalar": True, "avx2": "avx2" in info["cpu_features"] and "fma" in info["cpu_features"],
                 "avx512": "avx512f" in info["cpu_features"]}
    isas = [i for i in ("scalar", "avx2", "avx512") if i in info["cpu_isa_compiled"] and supported[i]]
    results = {}
    for isa in isas:
        path = tmp_path / f"{isa}.npz"
        proc = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, isa, str(path)],
                              env=dict(os.environ, FASTCONV_ISA=isa), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
        results[isa] = dict(np.load(path))
    first = results[isas[0]]
    for isa in isas[1:]:
        assert results[isa].keys() == first.keys()
        for key in first:
            assert results[isa][key].tobytes() == first[key].tobytes(), (isa, key)
    # and the oracle for max pooling: float64 through the generic loops
    for key, a in first.items():
        if key.endswith("_0"):
            assert np.isnan(a).any() or np.isfinite(a).any()
