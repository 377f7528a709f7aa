"""Float64 NumPy references for fastconv's 1-D, 2-D and 3-D convolutions, transposed convolutions,
windowed and adaptive pools, forward and backward.

Every function takes batched arrays in logical channels-first layout and computes in float64:

    x: (N, C, *spatial)    w: (K, C/groups, *taps)    transposed w: (C_in, C_out/groups, *taps)

The number of spatial axes is taken from ``x``. Sums run as one einsum per kernel tap over strided
slices of the zero-padded input (convolutions), or per output window (pools), so the code follows the
definitions of ``torch.nn.functional`` rather than any of fastconv's algorithms: the transposed
convolution is the scatter of each input pixel times the kernel, the pools scan each window.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence, Tuple

import numpy as np

__all__ = [
    "conv",
    "conv_dgrad",
    "conv_wgrad",
    "conv_bgrad",
    "conv_transpose",
    "max_pool",
    "max_pool_dgrad",
    "avg_pool",
    "avg_pool_dgrad",
    "adaptive_avg_pool",
    "adaptive_avg_pool_dgrad",
    "adaptive_max_pool",
    "adaptive_max_pool_dgrad",
    "pool_output_size",
]


def _tuple(v, n: int) -> Tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    return t * n if len(t) == 1 else t


def _pads(padding, taps, stride, dilation):
    """(lo, hi) per axis from an int, a tuple, 'valid' or 'same' (odd extra at the end, stride 1)."""
    n = len(taps)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        assert padding == "same" and all(s == 1 for s in stride), "'same' needs stride 1"
        totals = [d * (k - 1) for k, d in zip(taps, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in _tuple(padding, n)]


def _window_slices(tap, dilation, out, stride):
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out, stride))


def _conv_setup(x, taps, stride, padding, dilation):
    dims = x.ndim - 2
    stride, dilation = _tuple(stride, dims), _tuple(dilation, dims)
    pads = _pads(padding, taps, stride, dilation)
    padded = [s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads)]
    out = tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, taps, stride, dilation))
    return dims, stride, dilation, pads, out


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """y[n, k, o] = b[k] + sum over c, t of x_padded[n, g*Cg + c, o*stride + t*dilation] w[k, c, t]."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    taps = w.shape[2:]
    dims, stride, dilation, pads, out = _conv_setup(x, taps, stride, padding, dilation)
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    G = groups
    xp = np.pad(x, [(0, 0), (0, 0)] + pads).reshape((N, G, Cg) + tuple(s + lo + hi for s, (lo, hi) in
                                                                          zip(x.shape[2:], pads)))
    wg = w.reshape((G, K // G, Cg) + taps)
    y = np.zeros((N, G, K // G) + out)
    for tap in itertools.product(*(range(k) for k in taps)):
        patch = xp[(slice(None),) * 3 + _window_slices(tap, dilation, out, stride)]
        y += np.einsum("ngc...,gkc->ngk...", patch, wg[(Ellipsis,) + tap])
    y = y.reshape((N, K) + out)
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, K) + (1,) * dims)
    return y


def conv_dgrad(dy, w, input_shape, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """dx of ``conv`` for an input of ``input_shape``: each dy scattered back through the taps."""
    dy, w = np.asarray(dy, np.float64), np.asarray(w, np.float64)
    taps = w.shape[2:]
    probe = np.empty(tuple(input_shape), dtype=np.float64)
    dims, stride, dilation, pads, out = _conv_setup(probe, taps, stride, padding, dilation)
    N, C = input_shape[:2]
    K, Cg = w.shape[:2]
    G = groups
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(input_shape[2:], pads))
    dxp = np.zeros((N, G, Cg) + padded)
    dyg = dy.reshape((N, G, K // G) + out)
    wg = w.reshape((G, K // G, Cg) + taps)
    for tap in itertools.product(*(range(k) for k in taps)):
        dxp[(slice(None),) * 3 + _window_slices(tap, dilation, out, stride)] += np.einsum(
            "ngk...,gkc->ngc...", dyg, wg[(Ellipsis,) + tap])
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(input_shape[2:], pads))
    return dxp[(slice(None),) * 3 + crop].reshape(tuple(input_shape))


def conv_wgrad(dy, x, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """dw of ``conv``: per tap, the correlation of dy with the shifted input."""
    dy, x = np.asarray(dy, np.float64), np.asarray(x, np.float64)
    taps = tuple(weight_shape[2:])
    dims, stride, dilation, pads, out = _conv_setup(x, taps, stride, padding, dilation)
    N, C = x.shape[:2]
    K, Cg = weight_shape[:2]
    G = groups
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    xp = xp.reshape((N, G, Cg) + xp.shape[2:])
    dyg = dy.reshape((N, G, K // G) + out)
    dw = np.zeros((G, K // G, Cg) + taps)
    for tap in itertools.product(*(range(k) for k in taps)):
        patch = xp[(slice(None),) * 3 + _window_slices(tap, dilation, out, stride)]
        dw[(Ellipsis,) + tap] = np.einsum("ngkl,ngcl->gkc", dyg.reshape(N, G, K // G, -1),
                                          patch.reshape(N, G, Cg, -1))
    return dw.reshape(tuple(weight_shape))


def conv_bgrad(dy) -> np.ndarray:
    dy = np.asarray(dy, np.float64)
    return dy.sum(axis=(0,) + tuple(range(2, dy.ndim)))


def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> np.ndarray:
    """Transposed convolution by its definition: every input pixel i adds x[i] * w to the output
    window starting at i*stride - padding (taps spaced by dilation); extents
    ``(in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    dims = x.ndim - 2
    stride, dilation = _tuple(stride, dims), _tuple(dilation, dims)
    pad, out_pad = _tuple(padding, dims), _tuple(output_padding, dims)
    taps = w.shape[2:]
    N, Cin = x.shape[:2]
    G = groups
    Cog = w.shape[1]
    spatial = x.shape[2:]
    out = tuple((s - 1) * st - 2 * p + d * (k - 1) + op + 1
                for s, st, p, d, k, op in zip(spatial, stride, pad, dilation, taps, out_pad))
    full = tuple((s - 1) * st + d * (k - 1) + 1 + op for s, st, d, k, op in zip(spatial, stride, dilation, taps, out_pad))
    yf = np.zeros((N, G, Cog) + full)
    xg = x.reshape((N, G, Cin // G) + spatial)
    wg = w.reshape((G, Cin // G, Cog) + taps)
    for tap in itertools.product(*(range(k) for k in taps)):
        yf[(slice(None),) * 3 + _window_slices(tap, dilation, spatial, stride)] += np.einsum(
            "ngc...,gck->ngk...", xg, wg[(Ellipsis,) + tap])
    crop = tuple(slice(p, p + o) for p, o in zip(pad, out))
    y = yf[(slice(None),) * 3 + crop].reshape((N, G * Cog) + out)
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape((1, G * Cog) + (1,) * dims)
    return y


# ----------------------------------------------------------------------------- pools


def pool_output_size(L, k, s, p, d, ceil_mode) -> int:
    """One axis of torch's ``pooling_output_shape``."""
    out = (L + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= L + p:
        out -= 1
    return out


def _pool_params(x, kernel_size, stride, padding, dilation, ceil_mode):
    dims = x.ndim - 2
    k = _tuple(kernel_size, dims)
    s = k if stride is None else _tuple(stride, dims)
    p, d = _tuple(padding, dims), _tuple(dilation, dims)
    out = tuple(pool_output_size(L, *a, ceil_mode) for L, a in zip(x.shape[2:], zip(k, s, p, d)))
    return dims, k, s, p, d, out


def _flat(coords: Sequence[np.ndarray], spatial) -> np.ndarray:
    """Flat row-major positions of the grid spanned by per-axis coordinates."""
    grids = np.meshgrid(*coords, indexing="ij")
    return np.ravel_multi_index([g.ravel() for g in grids], spatial) if all(len(c) for c in coords) else \
        np.zeros(0, dtype=np.int64)


def _window_max(x, coords):
    """Maximum over the window (first of equal values) and its flat index, per (n, c)."""
    spatial = x.shape[2:]
    N, C = x.shape[:2]
    flat = _flat(coords, spatial)
    if flat.size == 0:
        return np.full((N, C), -np.inf), None
    vals = x.reshape(N, C, -1)[:, :, flat]
    arg = np.argmax(vals, axis=2)
    return np.take_along_axis(vals, arg[:, :, None], 2)[:, :, 0], flat[arg]


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(y, indices): each window's maximum over taps inside the input (padding is -inf) and its flat
    position in the input's spatial extent (first of equal values)."""
    x = np.asarray(x, np.float64)
    dims, k, s, p, d, out = _pool_params(x, kernel_size, stride, padding, dilation, ceil_mode)
    N, C = x.shape[:2]
    y = np.empty((N, C) + out)
    idx = np.zeros((N, C) + out, dtype=np.int64)
    for o in itertools.product(*(range(v) for v in out)):
        coords = [np.array([oi * si - pi + t * di for t in range(ki) if 0 <= oi * si - pi + t * di < L], dtype=np.int64)
                  for oi, si, pi, di, ki, L in zip(o, s, p, d, k, x.shape[2:])]
        val, arg = _window_max(x, coords)
        y[(slice(None), slice(None)) + o] = val
        if arg is not None:
            idx[(slice(None), slice(None)) + o] = arg
    return y, idx


def max_pool_dgrad(dy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    x = np.asarray(x, np.float64)
    _, idx = max_pool(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _scatter_to_indices(np.asarray(dy, np.float64), idx, x.shape)


def _scatter_to_indices(dy, idx, shape):
    N, C = shape[:2]
    dx = np.zeros((N * C, int(np.prod(shape[2:]))))
    rows = np.repeat(np.arange(N * C), int(np.prod(dy.shape[2:])))
    np.add.at(dx, (rows, idx.reshape(-1)), dy.reshape(-1))
    return dx.reshape(shape)


def _avg_windows(x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Yield (output position, per-axis input ranges, divisor) for torch's average pooling."""
    dims = len(x_shape) - 2
    k = _tuple(kernel_size, dims)
    s = k if stride is None else _tuple(stride, dims)
    p = _tuple(padding, dims)
    out = tuple(pool_output_size(L, ki, si, pi, 1, ceil_mode) for L, ki, si, pi in zip(x_shape[2:], k, s, p))
    for o in itertools.product(*(range(v) for v in out)):
        ranges, padded, inside = [], 1, 1
        for oi, si, pi, ki, L in zip(o, s, p, k, x_shape[2:]):
            lo = oi * si - pi
            hi = min(lo + ki, L + pi)
            padded *= hi - lo
            lo, hi = max(lo, 0), min(hi, L)
            ranges.append(slice(lo, hi))
            inside *= max(hi - lo, 0)
        div = divisor_override if divisor_override else (padded if count_include_pad else inside)
        yield o, tuple(ranges), div, out


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    x = np.asarray(x, np.float64)
    y = None
    for o, ranges, div, out in _avg_windows(x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                            divisor_override):
        if y is None:
            y = np.empty(x.shape[:2] + out)
        win = x[(slice(None), slice(None)) + ranges]
        y[(slice(None), slice(None)) + o] = win.sum(axis=tuple(range(2, x.ndim))) / div
    return y


def avg_pool_dgrad(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    dy = np.asarray(dy, np.float64)
    dx = np.zeros(tuple(x_shape))
    dims = len(x_shape) - 2
    for o, ranges, div, out in _avg_windows(tuple(x_shape), kernel_size, stride, padding, ceil_mode,
                                            count_include_pad, divisor_override):
        g = dy[(slice(None), slice(None)) + o] / div
        dx[(slice(None), slice(None)) + ranges] += g.reshape(g.shape + (1,) * dims)
    return dx


def _adaptive_ranges(spatial, out):
    for o in itertools.product(*(range(v) for v in out)):
        yield o, tuple(slice(math.floor(oi * L / O), math.ceil((oi + 1) * L / O)) for oi, L, O in zip(o, spatial, out))


def adaptive_avg_pool(x, output_size):
    x = np.asarray(x, np.float64)
    out = tuple(output_size)
    y = np.empty(x.shape[:2] + out)
    for o, ranges in _adaptive_ranges(x.shape[2:], out):
        y[(slice(None), slice(None)) + o] = x[(slice(None), slice(None)) + ranges].mean(axis=tuple(range(2, x.ndim)))
    return y


def adaptive_avg_pool_dgrad(dy, x_shape, output_size):
    dy = np.asarray(dy, np.float64)
    dx = np.zeros(tuple(x_shape))
    dims = len(x_shape) - 2
    for o, ranges in _adaptive_ranges(x_shape[2:], tuple(output_size)):
        size = np.prod([r.stop - r.start for r in ranges])
        g = dy[(slice(None), slice(None)) + o] / size
        dx[(slice(None), slice(None)) + ranges] += g.reshape(g.shape + (1,) * dims)
    return dx


def adaptive_max_pool(x, output_size):
    """(y, indices) with torch's windows; indices flat in the input's spatial extent."""
    x = np.asarray(x, np.float64)
    out = tuple(output_size)
    y = np.empty(x.shape[:2] + out)
    idx = np.zeros(x.shape[:2] + out, dtype=np.int64)
    for o, ranges in _adaptive_ranges(x.shape[2:], out):
        val, arg = _window_max(x, [np.arange(r.start, r.stop) for r in ranges])
        y[(slice(None), slice(None)) + o] = val
        idx[(slice(None), slice(None)) + o] = arg
    return y, idx


def adaptive_max_pool_dgrad(dy, x, output_size):
    x = np.asarray(x, np.float64)
    _, idx = adaptive_max_pool(x, output_size)
    return _scatter_to_indices(np.asarray(dy, np.float64), idx, x.shape)
