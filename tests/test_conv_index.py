"""Index arithmetic of the GPU implicit-GEMM convolutions, checked on the CPU.

The CUDA kernels (csrc/cuda/conv2d_*_implicit_gemm.cu) take every index from
csrc/include/fastconv/conv_index.h. The private binding ``_C._conv_index`` compiles the same header
for the host; ``emulate_*`` runs the kernels' tile loop (tile loads with zero fill, per-thread 8x8
fragments, split-K partials and their fixed-order sum) in float64. On small-integer inputs every
partial sum is exact, so the emulation must equal the reference exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastconv import _C
from fastconv.testing import reference as ref

ix = _C._conv_index

TILES = ("128x128", "64x64", "128x32", "128x64")


# ----------------------------------------------------------------------------- FastDivmod

def _divisors():
    ds = list(range(1, 300)) + [2 ** k for k in range(31)] + [2 ** k + 1 for k in range(1, 30)]
    ds += [2 ** k - 1 for k in range(2, 32)] + [641, 6700417, 1000003, 3 * 224 * 224, 56 * 56, 7 * 7 * 3]
    return sorted(set(d for d in ds if 1 <= d < 2 ** 31))


def test_fastdivmod_matches_floor_division():
    rng = np.random.default_rng(0)
    top = 2 ** 31 - 1
    for d in _divisors():
        edges = [0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, top, top - 1, top - (top % d), top - (top % d) - 1]
        v = np.concatenate([np.array([e for e in edges if 0 <= e <= top], dtype=np.int64),
                            rng.integers(0, top, 200, endpoint=True),
                            rng.integers(0, min(top, 64 * d), 100, endpoint=True)])
        q, r = ix.fastdivmod(d, v)
        np.testing.assert_array_equal(q, v // d, err_msg=f"divisor {d}")
        np.testing.assert_array_equal(r, v % d, err_msg=f"divisor {d}")


def test_fastdivmod_rejects_out_of_range():
    with pytest.raises(ValueError):
        ix.fastdivmod(0, np.array([1]))
    with pytest.raises(ValueError):
        ix.fastdivmod(3, np.array([2 ** 31]))


# ----------------------------------------------------------------------------- split-K, fragments

@pytest.mark.parametrize("bk", [1, 8])
def test_splitk_range_partitions_the_reduction(bk):
    for k_total in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 25088]:
        for splits in [1, 2, 3, 5, 8, 13, 64]:
            ranges = [ix.splitk_range(k_total, splits, s, bk) for s in range(splits)]
            pos = 0
            for b, e in ranges:
                assert b == pos and b <= e <= k_total
                assert b % bk == 0 or b == e == k_total  # empty trailing splits
                pos = e
            assert pos == k_total


@pytest.mark.parametrize("extent", [128, 64, 32])
def test_fragment_index_is_a_bijection_on_the_tile(extent):
    owners = sorted(ix.fragment_index(extent, t, i) for t in range(extent // 8) for i in range(8))
    assert owners == list(range(extent))


@pytest.mark.parametrize("along_k", [False, True])
def test_tile_loads_cover_each_tile_once(along_k):
    """Every (row, k) of each operand tile is loaded by exactly one (thread, load), and the gather
    state a load uses (its slot) was computed for that load's row."""
    for name, bm, bn, bk in ix.tile_shapes():
        threads = (bm // 8) * (bn // 8)
        for extent in (bm, bn):
            iters = extent * bk // threads
            slots = ix.tile_load_slots(extent, bk, threads, along_k)
            seen = set()
            for tid in range(threads):
                for j in range(iters):
                    index, kl = ix.tile_load_coord(extent, bk, threads, along_k, tid, j)
                    assert 0 <= index < extent and 0 <= kl < bk
                    seen.add((index, kl))
                    slot = j % slots
                    assert ix.tile_load_coord(extent, bk, threads, along_k, tid, slot)[0] == index, (name, tid, j)
            assert len(seen) == extent * bk, name


# ----------------------------------------------------------------------------- dgrad phases

@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("pad", [0, 1, 2, 3])
def test_dgrad_axis_phase_lists_exactly_the_contributing_taps(stride, dilation, k, pad):
    size = 11
    covered = []
    for res in range(stride):
        x0, count, t0, tstep, taps = ix.dgrad_axis_phase(size, k, stride, pad, dilation, res)
        xs = [x0 + i * stride for i in range(count)]
        assert xs == [x for x in range(size) if (x + pad) % stride == res]
        covered += xs
        phase_taps = [t0 + i * tstep for i in range(taps)]
        assert all(0 <= t < k for t in phase_taps)
        for x in xs:
            # every tap whose product lands on a whole dy index, in or out of range
            assert phase_taps == [t for t in range(k) if (x + pad - t * dilation) % stride == 0]
    assert sorted(covered) == list(range(size))


# ----------------------------------------------------------------------------- kernel emulation

CASES = [
    # N, C, H, W, K, R, S, stride, padding, dilation, groups
    (2, 3, 9, 8, 5, 3, 3, 1, 1, 1, 1),
    (1, 1, 12, 12, 4, 3, 3, 1, 0, 1, 1),            # C = 1
    (2, 3, 13, 11, 6, 7, 7, 2, 3, 1, 1),            # stem-like, C = 3
    (2, 8, 7, 9, 16, 1, 1, 1, 0, 1, 1),             # 1x1
    (2, 8, 9, 9, 6, 1, 1, 2, 0, 1, 1),              # strided 1x1: phases without taps
    (1, 4, 10, 9, 6, 3, 3, (2, 3), (1, 2), 1, 1),   # per-axis stride and padding
    (2, 6, 11, 10, 6, 3, 2, 1, (2, 1), (2, 3), 1),  # dilation
    (1, 6, 12, 12, 4, 3, 3, 2, 1, 2, 2),            # stride with dilation, groups
    (2, 8, 8, 7, 12, 3, 3, 1, "same", 1, 4),        # asymmetric 'same', groups
    (1, 4, 8, 8, 4, 4, 4, 1, "same", 1, 1),         # even kernel 'same': pad 1 before, 2 after
    (1, 6, 7, 7, 6, 2, 2, 3, 0, 1, 6),              # stride > kernel, depthwise
    (1, 5, 5, 5, 3, 5, 5, 1, 0, 1, 1),              # kernel = input
    (3, 4, 17, 5, 40, 3, 3, 1, 1, 1, 1),            # K/groups > 32: the square tiles
]


def _int_array(rng, shape):
    return rng.integers(-3, 4, size=shape).astype(np.float64)


def _strided(a, layout):
    """The logical (N, C, H, W) array stored NCHW, NHWC or as a non-contiguous view."""
    if layout == "NCHW":
        return a
    if layout == "NHWC":
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    big = np.full(a.shape[:3] + (2 * a.shape[3] + 1,), np.nan)
    big[..., 1::2] = a
    return big[..., 1::2]


def _problem(case, rng):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    st = (stride, stride) if isinstance(stride, int) else stride
    dl = (dilation, dilation) if isinstance(dilation, int) else dilation
    top, _, left, _ = ref.conv2d_padding(padding, R, S, st, dl)
    P, Q = ref.conv2d_output_size(H, W, R, S, st, padding, dl)
    x = _int_array(rng, (N, C, H, W))
    w = _int_array(rng, (K, C // groups, R, S))
    b = _int_array(rng, (K,))
    dy = _int_array(rng, (N, K, P, Q))
    return x, w, b, dy, st, (top, left), dl, padding, groups


def _poisoned_like(shape, layout):
    a = np.full(shape, np.nan)
    if layout == "NCHW":
        return a
    if layout == "NHWC":
        return np.full((shape[0], shape[2], shape[3], shape[1]), np.nan).transpose(0, 3, 1, 2)
    big = np.full(shape[:3] + (2 * shape[3] + 1,), np.nan)
    return big[..., 1::2]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "view"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_emulated_kernels_match_reference(case, layout):
    rng = np.random.default_rng(CASES.index(case) * 3 + ["NCHW", "NHWC", "view"].index(layout))
    x, w, b, dy, st, pad, dl, padding, groups = _problem(case, rng)
    xs, ws, dys = _strided(x, layout), _strided(w, layout), _strided(dy, layout)

    y = _poisoned_like(dy.shape, layout)
    ix.emulate_fprop(xs, ws, b, y, st, pad, dl, groups)
    np.testing.assert_array_equal(y, ref.conv2d(x, w, b, st, padding, dl, groups))

    dx = _poisoned_like(x.shape, layout)
    ix.emulate_dgrad(dys, ws, dx, st, pad, dl, groups)
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy, x.shape, w, st, padding, dl, groups))

    dw_ref = ref.conv2d_wgrad(dy, x, w.shape, st, padding, dl, groups)
    for splits in (0, 1, 3):
        dw = _poisoned_like(w.shape, layout)
        ix.emulate_wgrad(dys, xs, dw, st, pad, dl, groups, splits=splits)
        np.testing.assert_array_equal(dw, dw_ref, err_msg=f"splits={splits}")


@pytest.mark.parametrize("tile", TILES)
def test_emulation_every_tile_shape(tile):
    rng = np.random.default_rng(7)
    for case in [CASES[2], CASES[7], CASES[8], CASES[12]]:
        x, w, b, dy, st, pad, dl, padding, groups = _problem(case, rng)
        y = np.full(dy.shape, np.nan)
        ix.emulate_fprop(x, w, None, y, st, pad, dl, groups, tile=tile)
        np.testing.assert_array_equal(y, ref.conv2d(x, w, None, st, padding, dl, groups))
        dx = np.full(x.shape, np.nan)
        ix.emulate_dgrad(dy, w, dx, st, pad, dl, groups, tile=tile)
        np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy, x.shape, w, st, padding, dl, groups))
        dw = np.full(w.shape, np.nan)
        ix.emulate_wgrad(dy, x, dw, st, pad, dl, groups, tile=tile, splits=2)
        np.testing.assert_array_equal(dw, ref.conv2d_wgrad(dy, x, w.shape, st, padding, dl, groups))


def test_emulation_random_real_inputs():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 10, 9))
    w = rng.standard_normal((10, 3, 3, 2))
    dy = rng.standard_normal((2, 10, 5, 4))
    st, dl, groups = (2, 2), (1, 2), 2
    y = np.full(dy.shape, np.nan)
    ix.emulate_fprop(x, w, None, y, st, (1, 0), dl, groups)
    np.testing.assert_allclose(y, ref.conv2d(x, w, None, st, (1, 0), dl, groups), rtol=1e-12, atol=1e-12)
    dx = np.full(x.shape, np.nan)
    ix.emulate_dgrad(dy, w, dx, st, (1, 0), dl, groups)
    np.testing.assert_allclose(dx, ref.conv2d_dgrad(dy, x.shape, w, st, (1, 0), dl, groups), rtol=1e-12, atol=1e-12)


def test_emulated_wgrad_split_is_fixed_order():
    """The split-K sum in float64 of non-integers: bits depend only on the partition."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8, 16, 16))
    dy = rng.standard_normal((4, 8, 16, 16))
    outs = []
    for _ in range(2):
        dw = np.full((8, 8, 3, 3), np.nan)
        ix.emulate_wgrad(dy, x, dw, (1, 1), (1, 1), (1, 1), 1, splits=5)
        outs.append(dw)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], ref.conv2d_wgrad(dy, x, (8, 8, 3, 3), 1, 1, 1, 1), rtol=1e-12, atol=1e-11)


# ----------------------------------------------------------------------------- plans

def _plan(N, C, H, W, K, R, S, stride=1, pad=0, dil=1, groups=1):
    P = (H + 2 * pad - dil * (R - 1) - 1) // stride + 1
    Q = (W + 2 * pad - dil * (S - 1) - 1) // stride + 1
    x = np.empty((N, C, H, W), np.float32)
    w = np.empty((K, C // groups, R, S), np.float32)
    y = np.empty((N, K, P, Q), np.float32)
    return ix.plan(x, w, y, (stride, stride), (pad, pad), (dil, dil), groups)


def test_plans_of_the_benchmark_cases():
    p = _plan(64, 64, 56, 56, 64, 3, 3, 1, 1)  # resnet.3x3.56 at N x 8: 64 output channels
    assert p["fprop_tile"] == "128x64" and p["fprop_gemm"] == (64 * 56 * 56, 64, 576)
    assert p["wgrad_gemm"] == (64, 576, 64 * 56 * 56)
    assert p["wgrad_splits"] > 1
    assert p["wgrad_workspace_bytes"] == p["wgrad_splits"] * 64 * 576 * 4
    assert p["fprop_workspace_bytes"] == p["dgrad_workspace_bytes"] == p["bgrad_workspace_bytes"] == 0
    assert p["dgrad_phase_gemms"] == [(64 * 56 * 56, 64, 576)]

    p = _plan(32, 64, 56, 56, 128, 3, 3, 2, 1)  # resnet.3x3.s2: four phases of 1, 2, 2 and 4 taps
    assert sorted(g[2] // 128 for g in p["dgrad_phase_gemms"]) == [1, 2, 2, 4]
    assert sum(g[0] for g in p["dgrad_phase_gemms"]) == 32 * 56 * 56

    p = _plan(64, 1, 28, 28, 32, 3, 3)  # seed.conv1: C = 1, K = 32
    assert p["fprop_tile"] == "128x32" and p["fprop_gemm"][2] == 9

    p = _plan(64, 128, 28, 28, 128, 3, 3, 1, 1)  # resnet.3x3.28
    assert p["fprop_tile"] == "128x128"

    p = _plan(1, 8, 4, 4, 8, 3, 3, 1, 1)  # tiny: no split
    assert p["wgrad_splits"] == 1 and p["wgrad_workspace_bytes"] == 0


def test_emulate_rejects_inconsistent_problems():
    x = np.zeros((1, 4, 5, 5))
    w = np.zeros((4, 3, 3, 3))  # 3 channels per group does not divide 4 input channels
    y = np.zeros((1, 4, 3, 3))
    with pytest.raises(ValueError):
        ix.emulate_fprop(x, w, None, y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError):
        ix.emulate_fprop(x, np.zeros((4, 4, 3, 3)), None, y, (1, 1), (0, 0), (1, 1), 1, tile="32x32")


def test_emulated_bgrad():
    rng = np.random.default_rng(12)
    for shape in [(2, 5, 7, 3), (1, 3, 1, 1), (3, 4, 30, 31)]:
        dy = rng.integers(-5, 6, size=shape).astype(np.float64)
        for layout in ("NCHW", "NHWC", "view"):
            db = np.full(2 * shape[1], np.nan)[::2]
            ix.emulate_bgrad(_strided(dy, layout), db)
            np.testing.assert_array_equal(db, ref.conv2d_bgrad(dy))

