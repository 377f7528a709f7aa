"""The index arithmetic the CUDA kernels use (csrc/include/fastconv/pool_index.h), compiled into the
CPU extension and checked here against brute force, so that every CI run covers the GPU's indexing.
Each function is checked as the 64-bit entry points (_C._index_*) and at both widths of the element
kernels (_C._index64_*, _C._index32_*: divisions by precomputed divisors, FastDivmod for 32 bits)."""

import itertools

import numpy as np
import pytest

from fastconv import _C


class Index:
    """The _C index functions with one prefix: ix.inside_taps is _C._index32_inside_taps, ..."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __getattr__(self, name):
        return getattr(_C, self.prefix + name)


@pytest.fixture(params=["_index_", "_index64_", "_index32_"])
def ix(request):
    return Index(request.param)


def test_floor_and_ceil_div(ix):
    for a in range(-40, 41):
        for b in range(1, 9):
            assert ix.floor_div(a, b) == a // b
            assert ix.ceil_div(a, b) == -((-a) // b)


def brute_pool_out(L, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape, written out (negative extents as 0)."""
    out = (L + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= L + p:
        out -= 1
    return max(out, 0)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool2d_output_size(ceil_mode):
    for L, k, s, d in itertools.product(range(1, 12), range(1, 5), range(1, 5), range(1, 4)):
        for p in range(0, k // 2 + 1):
            assert _C._index_pool2d_output_size(L, k, s, p, d, ceil_mode) == brute_pool_out(L, k, s, p, d, ceil_mode)


def test_conv2d_output_size():
    for L, k, s, d, lo, hi in itertools.product(range(0, 10), range(1, 5), range(1, 4), range(1, 3), range(3), range(3)):
        span = L + lo + hi - d * (k - 1) - 1
        assert _C._index_conv2d_output_size(L, k, s, lo, hi, d) == (span // s + 1 if span >= 0 else 0)


def test_inside_taps(ix):
    for start, k, d, L in itertools.product(range(-6, 12), range(1, 5), range(1, 4), range(1, 8)):
        inside = [t for t in range(k) if 0 <= start + t * d < L]
        lo, hi = ix.inside_taps(start, k, d, L)
        if inside:
            assert (lo, hi) == (inside[0], inside[-1] + 1)
            assert inside == list(range(lo, hi))  # the inside taps are contiguous
        else:
            assert lo == hi
            # torch's "first tap moved inside" coordinate lies outside the input
            assert not 0 <= start + lo * d < L or lo >= k


def test_avg_window_and_divisor(ix):
    for o, k, s, L in itertools.product(range(0, 8), range(1, 5), range(1, 4), range(1, 8)):
        for pad in range(0, k // 2 + 1):
            start = o * s - pad
            end = min(start + k, L + pad)
            size, lo, hi = ix.avg_window(o, k, s, pad, L)
            assert size == end - start
            assert (lo, hi) == (max(start, 0), min(end, L))
            taps = [i for i in range(start, end) if 0 <= i < L]
            assert max(hi - lo, 0) == len(taps)
    h = ix.avg_window(0, 3, 2, 1, 5)  # size 3 with 2 inside
    w = ix.avg_window(2, 3, 2, 1, 5)  # window [3, 6) clipped to [3, 6): size 3, 2 inside
    assert ix.avg_divisor(h, w, True, 0) == 9
    assert ix.avg_divisor(h, w, False, 0) == 4
    assert ix.avg_divisor(h, w, False, -7) == -7


def test_covering_outputs(ix):
    for i, extent, s, pad, out in itertools.product(range(0, 12), range(1, 7), range(1, 5), range(0, 3), range(1, 8)):
        covering = [o for o in range(out) if o * s - pad <= i < o * s - pad + extent]
        lo, hi = ix.covering_outputs(i, extent, s, pad, out)
        assert list(range(lo, hi)) == covering, (i, extent, s, pad, out)


def test_covering_outputs_find_every_dilated_window_tap(ix):
    """With dilation the range is a superset: every window with a tap on i is in it."""
    for i, k, d, s, out in itertools.product(range(0, 10), range(1, 4), range(1, 4), range(1, 4), range(1, 7)):
        for pad in range(0, k // 2 + 1):
            lo, hi = ix.covering_outputs(i, d * (k - 1) + 1, s, pad, out)
            with_tap = [o for o in range(out) if any(o * s - pad + r * d == i for r in range(k))]
            assert set(with_tap) <= set(range(lo, hi))


def test_tap_output(ix):
    for i, tap, s, pad, out in itertools.product(range(0, 12), range(0, 7), range(1, 4), range(0, 3), range(1, 8)):
        match = [o for o in range(out) if o * s - pad + tap == i]
        assert ix.tap_output(i, tap, s, pad, out) == (match[0] if match else -1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_unravel(channels_last, ix):
    N, C, H, W = 2, 3, 4, 5
    order = (0, 2, 3, 1) if channels_last else (0, 1, 2, 3)
    stored = tuple((N, C, H, W)[a] for a in order)
    for i in range(N * C * H * W):
        coord = np.unravel_index(i, stored)
        logical = [0] * 4
        for axis, v in zip(order, coord):
            logical[axis] = int(v)
        assert ix.unravel(i, C, H, W, channels_last) == tuple(logical)


def test_index32_division_over_its_range():
    """FastDivmod's quotients at the sizes the 32-bit path admits (up to 2^29) and at the edges."""
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.integers(-(2**29), 2**29, 300), [0, 1, -1, 2**29, -(2**29), 2**30 - 1]])
    b = np.concatenate([rng.integers(1, 2**29, 300), [1, 2, 3, 2**29 - 1, 2**29, 7]])
    for a_, b_ in zip(a.tolist(), b.tolist()):
        assert _C._index32_floor_div(a_, b_) == a_ // b_
        assert _C._index32_ceil_div(a_, b_) == -((-a_) // b_)
    C, H, W = 1000, 700, 513
    for i in rng.integers(0, 1500 * C * H * W // 1000, 200).tolist():
        for channels_last in (False, True):
            assert _C._index32_unravel(i, C, H, W, channels_last) == _C._index_unravel(i, C, H, W, channels_last)
