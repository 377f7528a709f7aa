"""Float64 NumPy references for fastconv's 2-D convolution and pooling, forward and backward.

They mirror ``torch.nn.functional`` exactly (output sizes, ``padding="same"``, ``ceil_mode``,
``count_include_pad``, ``divisor_override``, max-pool NaN/tie rules and indices), in logical NCHW
layout and for 4-D (batched) inputs only:

    x: (N, C, H, W)    w: (K, C/groups, R, S)    b: (K,)    y: (N, K, P, Q)

Every function computes in float64 and returns float64 (max-pool indices: int64). Each op has two
implementations selected by ``method``:

- ``"naive"``: plain Python loops over every multiply (or window element); obviously correct,
  for tiny shapes only.
- ``"im2col"``: vectorised NumPy over sliding windows (the full im2col matrix + matmul for convs).
- ``"auto"``: ``"naive"`` when the work is tiny, else ``"im2col"``.

tests/test_reference.py pins the two to each other, to finite differences and to PyTorch.
"""

import math

import numpy as np

__all__ = [
    "conv2d",
    "conv2d_dgrad",
    "conv2d_wgrad",
    "conv2d_bgrad",
    "max_pool2d",
    "max_pool2d_dgrad",
    "avg_pool2d",
    "avg_pool2d_dgrad",
    "conv2d_output_size",
    "conv2d_padding",
    "pool2d_output_size",
]

# "auto" runs the loops up to this many multiply-adds (or window elements): a few ms of Python.
NAIVE_MAX_WORK = 4096

_METHODS = ("auto", "naive", "im2col")


# --------------------------------------------------------------------------- argument handling


def _int(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}")
    return int(v)


def _pair(v, name):
    """int or 1-/2-sequence -> (int, int), like torch's ``_pair`` / ``expand_param_if_needed``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return (int(v), int(v))
    t = tuple(v)
    if len(t) == 1:
        t = t * 2
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return (_int(t[0], name), _int(t[1], name))


def _positive_pair(v, name):
    t = _pair(v, name)
    if min(t) < 1:
        raise ValueError(f"{name} must be positive, got {v!r}")
    return t


def _as_f64(a, name, ndim=4):
    """Any real array-like -> float64 ndarray with ``ndim`` axes."""
    a = np.asarray(a)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real (integer or float) array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a.astype(np.float64)


def _shape4(s, name):
    s = tuple(_int(v, name) for v in s)
    if len(s) != 4 or min(s) < 0:
        raise ValueError(f"{name} must be 4 non-negative ints, got {s!r}")
    return s


def _pick(method, work):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "auto":
        return "naive" if work <= NAIVE_MAX_WORK else "im2col"
    return method


def conv2d_padding(padding, R, S, stride=1, dilation=1):
    """Conv padding (int, pair, (top, bottom, left, right), 'valid' or 'same') -> 4-tuple.

    'same' pads dilation*(k-1) in total per axis, total//2 at the top/left and the odd extra at the
    bottom/right (as torch does); it is refused with a stride other than 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(
                f"padding must be 'valid', 'same', an int or a tuple, got {padding!r}")
        if _positive_pair(stride, "stride") != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        dh, dw = _positive_pair(dilation, "dilation")
        th, tw = dh * (R - 1), dw * (S - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if not isinstance(padding, (int, np.integer)) and len(tuple(padding)) == 4:
        pad = tuple(_int(p, "padding") for p in padding)
    else:
        ph, pw = _pair(padding, "padding")
        pad = (ph, ph, pw, pw)
    if min(pad) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pad


def conv2d_output_size(H, W, R, S, stride, padding, dilation):
    """(P, Q) of a conv; ``padding`` takes every form ``conv2d`` does. ValueError if < 1."""
    sh, sw = _positive_pair(stride, "stride")
    dh, dw = _positive_pair(dilation, "dilation")
    top, bottom, left, right = conv2d_padding(padding, R, S, (sh, sw), (dh, dw))
    P = (H + top + bottom - dh * (R - 1) - 1) // sh + 1
    Q = (W + left + right - dw * (S - 1) - 1) // sw + 1
    if P < 1 or Q < 1:
        raise ValueError(
            f"conv2d: padded input ({H + top + bottom}, {W + left + right}) is smaller than the "
            f"dilated kernel ({dh * (R - 1) + 1}, {dw * (S - 1) + 1})")
    return P, Q


def _pool_out(L, k, s, p, d, ceil_mode):
    """One axis of torch's ``pooling_output_shape``."""
    out = (L + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= L + p:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def pool2d_output_size(H, W, kernel, stride, padding, dilation, ceil_mode):
    """(P, Q) of a pool, exactly as PyTorch. ValueError if < 1 or if padding > kernel // 2."""
    kh, kw = _positive_pair(kernel, "kernel_size")
    sh, sw = _positive_pair(kernel if stride is None or stride == () else stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _positive_pair(dilation, "dilation")
    if ph < 0 or pw < 0 or ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"pad should be non-negative and at most half of kernel size, "
                         f"got padding ({ph}, {pw}) and kernel_size ({kh}, {kw})")
    P = _pool_out(H, kh, sh, ph, dh, ceil_mode)
    Q = _pool_out(W, kw, sw, pw, dw, ceil_mode)
    if P < 1 or Q < 1:
        raise ValueError(f"pool2d: input size ({H}, {W}) gives output size ({P}, {Q}), too small")
    return P, Q


def _conv_problem(x_shape, w_shape, stride, padding, dilation, groups):
    """Check a conv and return (pad4, stride2, dilation2, (P, Q))."""
    N, C, H, W = x_shape
    K, Cg, R, S = w_shape
    groups = _int(groups, "groups")
    if groups < 1 or K % groups:
        raise ValueError(f"conv2d: out_channels {K} must be divisible by groups={groups} >= 1")
    if C != Cg * groups:
        raise ValueError(f"conv2d: expected input with {Cg * groups} channels to match weight "
                         f"{tuple(w_shape)} with groups={groups}, got {C}")
    st = _positive_pair(stride, "stride")
    dl = _positive_pair(dilation, "dilation")
    pad = conv2d_padding(padding, R, S, st, dl)
    return pad, st, dl, conv2d_output_size(H, W, R, S, st, pad, dl)


def _pool_problem(x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a pool and return (kernel2, stride2, pad2, dilation2, (P, Q))."""
    H, W = x_shape[2:]
    k = _positive_pair(kernel_size, "kernel_size")
    st = _positive_pair(k if stride is None or stride == () else stride, "stride")
    pd = _pair(padding, "padding")
    dl = _positive_pair(dilation, "dilation")
    return k, st, pd, dl, pool2d_output_size(H, W, k, st, pd, dl, ceil_mode)


def _check_dy(dy, shape):
    if dy.shape != tuple(shape):
        raise ValueError(f"dy must have the forward output's shape {tuple(shape)}, got {dy.shape}")


# --------------------------------------------------------------------------- sliding windows


def _windows(xp, R, S, stride, dilation, P, Q):
    """xp: (N, C, Hp, Wp) already padded -> (N, C, R, S, P, Q): the input seen by tap (r, s)."""
    (sh, sw), (dh, dw) = stride, dilation
    rows = []
    for r in range(R):
        h = slice(r * dh, r * dh + sh * (P - 1) + 1, sh)
        taps = [xp[:, :, h, s * dw: s * dw + sw * (Q - 1) + 1: sw] for s in range(S)]
        rows.append(np.stack(taps, axis=2))
    return np.stack(rows, axis=2)


def _add_windows(cols, Hp, Wp, stride, dilation):
    """Adjoint of ``_windows``: cols (N, C, R, S, P, Q) -> (N, C, Hp, Wp), overlaps summed."""
    N, C, R, S, P, Q = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.zeros((N, C, Hp, Wp))
    for r in range(R):
        for s in range(S):
            xp[:, :, r * dh: r * dh + sh * (P - 1) + 1: sh,
               s * dw: s * dw + sw * (Q - 1) + 1: sw] += cols[:, :, r, s]
    return xp


def _pad_hw(x, top, bottom, left, right, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _cover(L, k, s, p, d, out):
    """Bottom/right padding so that every window of ``out`` fits in the padded axis."""
    return max(0, (out - 1) * s + d * (k - 1) + 1 - p - L)


# --------------------------------------------------------------------------- conv2d: naive


def _conv_terms(x_shape, w_shape, pad, stride, dilation, groups, PQ):
    """Yield (x index, w index, y index) for every multiply-add of the conv, in loop order."""
    N, C, H, W = x_shape
    K, Cg, R, S = w_shape
    top, _, left, _ = pad
    (sh, sw), (dh, dw), (P, Q) = stride, dilation, PQ
    Kg = K // groups
    for n, k, p, q in np.ndindex(N, K, P, Q):
        g = k // Kg
        for c, r, s in np.ndindex(Cg, R, S):
            h, w = p * sh - top + r * dh, q * sw - left + s * dw
            if 0 <= h < H and 0 <= w < W:
                yield (n, g * Cg + c, h, w), (k, c, r, s), (n, k, p, q)


def _conv2d_naive(x, w, pad, stride, dilation, groups, PQ):
    y = np.zeros((x.shape[0], w.shape[0]) + PQ)
    for xi, wi, yi in _conv_terms(x.shape, w.shape, pad, stride, dilation, groups, PQ):
        y[yi] += x[xi] * w[wi]
    return y


def _conv2d_dgrad_naive(dy, x_shape, w, pad, stride, dilation, groups, PQ):
    dx = np.zeros(x_shape)
    for xi, wi, yi in _conv_terms(x_shape, w.shape, pad, stride, dilation, groups, PQ):
        dx[xi] += dy[yi] * w[wi]
    return dx


def _conv2d_wgrad_naive(dy, x, w_shape, pad, stride, dilation, groups, PQ):
    dw = np.zeros(w_shape)
    for xi, wi, yi in _conv_terms(x.shape, w_shape, pad, stride, dilation, groups, PQ):
        dw[wi] += dy[yi] * x[xi]
    return dw


# --------------------------------------------------------------------------- conv2d: im2col


def _im2col(x, R, S, pad, stride, dilation, groups, PQ):
    """x: (N, C, H, W) -> cols (N, G, C/G*R*S, P*Q)."""
    N, C = x.shape[:2]
    cols = _windows(_pad_hw(x, *pad), R, S, stride, dilation, *PQ)
    return cols.reshape(N, groups, C // groups * R * S, PQ[0] * PQ[1])


def _conv2d_im2col(x, w, pad, stride, dilation, groups, PQ):
    K, Cg, R, S = w.shape
    cols = _im2col(x, R, S, pad, stride, dilation, groups, PQ)
    y = np.matmul(w.reshape(groups, K // groups, Cg * R * S), cols)  # (N, G, K/G, P*Q)
    return y.reshape((x.shape[0], K) + PQ)


def _conv2d_dgrad_im2col(dy, x_shape, w, pad, stride, dilation, groups, PQ):
    N, C, H, W = x_shape
    K, Cg, R, S = w.shape
    top, bottom, left, right = pad
    wt = w.reshape(groups, K // groups, Cg * R * S).transpose(0, 2, 1)   # (G, C/G*R*S, K/G)
    cols = np.matmul(wt, dy.reshape(N, groups, K // groups, PQ[0] * PQ[1]))  # (N, G, C/G*R*S, P*Q)
    cols = cols.reshape((N, C, R, S) + PQ)
    dxp = _add_windows(cols, H + top + bottom, W + left + right, stride, dilation)
    return dxp[:, :, top: top + H, left: left + W]


def _conv2d_wgrad_im2col(dy, x, w_shape, pad, stride, dilation, groups, PQ):
    N = x.shape[0]
    K, Cg, R, S = w_shape
    cols = _im2col(x, R, S, pad, stride, dilation, groups, PQ)           # (N, G, L, P*Q)
    NPQ = N * PQ[0] * PQ[1]
    cols = cols.transpose(1, 0, 3, 2).reshape(groups, NPQ, Cg * R * S)    # (G, N*P*Q, L)
    dyg = dy.reshape(N, groups, K // groups, PQ[0] * PQ[1]).transpose(1, 2, 0, 3)
    dw = np.matmul(dyg.reshape(groups, K // groups, NPQ), cols)          # (G, K/G, L)
    return dw.reshape(w_shape)


# --------------------------------------------------------------------------- conv2d: public


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, method="auto"):
    """Forward conv. x: (N, C, H, W), w: (K, C/groups, R, S), b: (K,) or None -> y: (N, K, P, Q).

    padding: int, (ph, pw), (top, bottom, left, right), 'valid' or 'same'.
    """
    x, w = _as_f64(x, "x"), _as_f64(w, "w")
    pad, st, dl, PQ = _conv_problem(x.shape, w.shape, stride, padding, dilation, groups)
    work = x.shape[0] * w.size * PQ[0] * PQ[1]
    impl = _conv2d_naive if _pick(method, work) == "naive" else _conv2d_im2col
    y = impl(x, w, pad, st, dl, groups, PQ)
    if b is not None:
        b = _as_f64(b, "b", ndim=1)
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), got {b.shape}")
        y = y + b[:, None, None]
    return y


def conv2d_dgrad(dy, x_shape, w, stride=1, padding=0, dilation=1, groups=1, method="auto"):
    """Gradient wrt x. dy: (N, K, P, Q), x_shape: (N, C, H, W), w: (K, C/groups, R, S) -> dx."""
    dy, w = _as_f64(dy, "dy"), _as_f64(w, "w")
    x_shape = _shape4(x_shape, "x_shape")
    pad, st, dl, PQ = _conv_problem(x_shape, w.shape, stride, padding, dilation, groups)
    _check_dy(dy, (x_shape[0], w.shape[0]) + PQ)
    impl = _conv2d_dgrad_naive if _pick(method, dy.size * w[0].size) == "naive" \
        else _conv2d_dgrad_im2col
    return impl(dy, x_shape, w, pad, st, dl, groups, PQ)


def conv2d_wgrad(dy, x, w_shape, stride=1, padding=0, dilation=1, groups=1, method="auto"):
    """Gradient wrt w. dy: (N, K, P, Q), x: (N, C, H, W), w_shape: (K, C/groups, R, S) -> dw."""
    dy, x = _as_f64(dy, "dy"), _as_f64(x, "x")
    w_shape = _shape4(w_shape, "w_shape")
    pad, st, dl, PQ = _conv_problem(x.shape, w_shape, stride, padding, dilation, groups)
    _check_dy(dy, (x.shape[0], w_shape[0]) + PQ)
    work = dy.size * w_shape[1] * w_shape[2] * w_shape[3]
    impl = _conv2d_wgrad_naive if _pick(method, work) == "naive" else _conv2d_wgrad_im2col
    return impl(dy, x, w_shape, pad, st, dl, groups, PQ)


def conv2d_bgrad(dy):
    """Gradient wrt b. dy: (N, K, P, Q) -> db: (K,)."""
    return _as_f64(dy, "dy").sum(axis=(0, 2, 3))


# --------------------------------------------------------------------------- max pool


def _first_inside(start, d):
    """torch's ``while (start < 0) start += dilation``."""
    return start if start >= 0 else start + (-start + d - 1) // d * d


def _max_pool_naive(x, k, st, pd, dl, PQ):
    """torch's CPU loop: scan the in-bounds taps, update when ``v > best or isnan(v)``."""
    N, C, H, W = x.shape
    y, idx = np.empty((N, C) + PQ), np.empty((N, C) + PQ, dtype=np.int64)
    for n, c, p, q in np.ndindex(N, C, *PQ):
        h0, w0 = p * st[0] - pd[0], q * st[1] - pd[1]
        best, arg = -math.inf, _first_inside(h0, dl[0]) * W + _first_inside(w0, dl[1])
        for r, s in np.ndindex(*k):
            h, w = h0 + r * dl[0], w0 + s * dl[1]
            if 0 <= h < H and 0 <= w < W:
                v = x[n, c, h, w]
                if v > best or math.isnan(v):
                    best, arg = v, h * W + w
        y[n, c, p, q], idx[n, c, p, q] = best, arg
    return y, idx


def _tap_coords(L, k, s, p, d, out):
    """(k, out) input coordinate of tap i of window o, and (out,) torch's first in-bounds one."""
    start = np.arange(out) * s - p
    coords = start[None, :] + d * np.arange(k)[:, None]
    first = np.array([_first_inside(int(v), d) for v in start], dtype=np.int64)
    return coords, first


def _max_pool_vectorized(x, k, st, pd, dl, PQ):
    """Same rules as ``_max_pool_naive`` over all windows at once: vals (N, C, kH*kW, P, Q)."""
    N, C, H, W = x.shape
    (P, Q), KK = PQ, k[0] * k[1]
    xp = _pad_hw(x, pd[0], _cover(H, k[0], st[0], pd[0], dl[0], P),
                 pd[1], _cover(W, k[1], st[1], pd[1], dl[1], Q), value=-np.inf)
    vals = _windows(xp, k[0], k[1], st, dl, P, Q).reshape(N, C, KK, P, Q)
    hh, h_first = _tap_coords(H, k[0], st[0], pd[0], dl[0], P)
    ww, w_first = _tap_coords(W, k[1], st[1], pd[1], dl[1], Q)
    valid = (((hh >= 0) & (hh < H))[:, None, :, None]
             & ((ww >= 0) & (ww < W))[None, :, None, :]).reshape(KK, P, Q)
    flat = (hh[:, None, :, None] * W + ww[None, :, None, :]).reshape(KK, P, Q)

    nan = np.isnan(vals) & valid
    last_nan = KK - 1 - np.argmax(nan[:, :, ::-1], axis=2)       # NaN wins; the last one sticks
    best = np.where(valid, vals, -np.inf).max(axis=2, keepdims=True)
    hit = valid & (vals == best)
    first_hit = np.argmax(hit, axis=2)                             # ties: first in (r, s) order
    tap = np.where(nan.any(axis=2), last_nan, first_hit)

    y = np.take_along_axis(vals, tap[:, :, None], axis=2)[:, :, 0]
    idx = np.take_along_axis(np.broadcast_to(flat, vals.shape), tap[:, :, None], axis=2)[:, :, 0]
    empty = ~valid.any(axis=0)                                     # no in-bounds tap at all
    y = np.where(empty, -np.inf, y)
    idx = np.where(empty, h_first[:, None] * W + w_first[None, :], idx)
    return y, idx.astype(np.int64)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               method="auto"):
    """x: (N, C, H, W) -> (y, indices), both (N, C, P, Q); indices int64, flat h*W + w.

    Padding acts as -inf and is never chosen; ties pick the first max in (r, s) order; a NaN in
    the window wins (the last NaN when several). A window with no in-bounds tap (possible with
    dilation, e.g. H=1, kernel 2, padding 1, dilation 2) gives -inf and torch's index ``h0*W + w0`` of its first tap moved
    inside, which may lie outside the plane (torch does the same).
    """
    x = _as_f64(x, "x")
    k, st, pd, dl, PQ = _pool_problem(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    work = x.shape[0] * x.shape[1] * PQ[0] * PQ[1] * k[0] * k[1]
    impl = _max_pool_naive if _pick(method, work) == "naive" else _max_pool_vectorized
    return impl(x, k, st, pd, dl, PQ)


def max_pool2d_dgrad(dy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     method="auto"):
    """dy: (N, C, P, Q), x: (N, C, H, W) -> dx: (N, C, H, W); dy goes to each window's argmax.

    Several windows choosing the same input add up. Indices outside the plane (windows with no
    in-bounds tap) are dropped, where torch would write out of bounds.
    """
    x, dy = _as_f64(x, "x"), _as_f64(dy, "dy")
    _, idx = max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, method)
    _check_dy(dy, idx.shape)
    N, C, H, W = x.shape
    dx = np.zeros((N * C, H * W))
    if _pick(method, dy.size) == "naive":
        for n, c, p, q in np.ndindex(*dy.shape):
            i = idx[n, c, p, q]
            if 0 <= i < H * W:
                dx[n * C + c, i] += dy[n, c, p, q]
        return dx.reshape(x.shape)
    PQ = dy.shape[2] * dy.shape[3]
    plane = np.arange(N * C)[:, None]
    idx, g = idx.reshape(N * C, PQ), dy.reshape(N * C, PQ)
    keep = (idx >= 0) & (idx < H * W)
    flat = np.bincount((plane * H * W + idx)[keep], weights=g[keep], minlength=N * C * H * W)
    return flat.reshape(x.shape)


# --------------------------------------------------------------------------- avg pool


def _avg_spans(L, k, s, p, out):
    """Per window on one axis: (size incl. padding, in-bounds start, in-bounds end), as torch."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, L + p)
    size = end - start
    return size, np.maximum(start, 0), np.minimum(end, L)


def _avg_divisor(H, W, k, st, pd, PQ, count_include_pad, divisor_override):
    """(P, Q) float64 divisors, exactly as torch's CPU avg_pool2d kernel."""
    sh, h0, h1 = _avg_spans(H, k[0], st[0], pd[0], PQ[0])
    sw, w0, w1 = _avg_spans(W, k[1], st[1], pd[1], PQ[1])
    if divisor_override is not None:
        return np.full(PQ, float(divisor_override))
    if count_include_pad:
        return np.outer(sh, sw).astype(np.float64)
    return np.outer(h1 - h0, w1 - w0).astype(np.float64)


def _avg_problem(x_shape, kernel_size, stride, padding, ceil_mode, divisor_override):
    if divisor_override is not None and _int(divisor_override, "divisor_override") == 0:
        raise ValueError("divisor_override must be non-zero")
    return _pool_problem(x_shape, kernel_size, stride, padding, 1, ceil_mode)


def _avg_pool_naive(x, k, st, pd, PQ, div):
    N, C, H, W = x.shape
    y = np.zeros((N, C) + PQ)
    for n, c, p, q in np.ndindex(N, C, *PQ):
        for r, s in np.ndindex(*k):
            h, w = p * st[0] - pd[0] + r, q * st[1] - pd[1] + s
            if 0 <= h < H and 0 <= w < W:
                y[n, c, p, q] += x[n, c, h, w]
        y[n, c, p, q] /= div[p, q]
    return y


def _avg_pool_dgrad_naive(dy, x_shape, k, st, pd, PQ, div):
    H, W = x_shape[2:]
    dx = np.zeros(x_shape)
    for n, c, p, q in np.ndindex(*dy.shape):
        for r, s in np.ndindex(*k):
            h, w = p * st[0] - pd[0] + r, q * st[1] - pd[1] + s
            if 0 <= h < H and 0 <= w < W:
                dx[n, c, h, w] += dy[n, c, p, q] / div[p, q]
    return dx


def _avg_pads(H, W, k, st, pd, PQ):
    return (pd[0], _cover(H, k[0], st[0], pd[0], 1, PQ[0]),
            pd[1], _cover(W, k[1], st[1], pd[1], 1, PQ[1]))


def _avg_pool_vectorized(x, k, st, pd, PQ, div):
    pads = _avg_pads(*x.shape[2:], k, st, pd, PQ)
    win = _windows(_pad_hw(x, *pads), k[0], k[1], st, (1, 1), *PQ)
    return win.sum(axis=(2, 3)) / div


def _avg_pool_dgrad_vectorized(dy, x_shape, k, st, pd, PQ, div):
    N, C, H, W = x_shape
    top, bottom, left, right = _avg_pads(H, W, k, st, pd, PQ)
    g = np.broadcast_to((dy / div)[:, :, None, None], (N, C) + tuple(k) + PQ)
    dxp = _add_windows(g, top + H + bottom, left + W + right, st, (1, 1))
    return dxp[:, :, top: top + H, left: left + W]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, method="auto"):
    """x: (N, C, H, W) -> y: (N, C, P, Q), the window sums over in-bounds taps / divisor.

    divisor = divisor_override, else the window size clipped to the padded input
    (count_include_pad=True), else the number of in-bounds taps; as torch's CPU kernel.
    """
    x = _as_f64(x, "x")
    k, st, pd, _, PQ = _avg_problem(x.shape, kernel_size, stride, padding, ceil_mode,
                                    divisor_override)
    div = _avg_divisor(*x.shape[2:], k, st, pd, PQ, count_include_pad, divisor_override)
    work = x.shape[0] * x.shape[1] * PQ[0] * PQ[1] * k[0] * k[1]
    impl = _avg_pool_naive if _pick(method, work) == "naive" else _avg_pool_vectorized
    return impl(x, k, st, pd, PQ, div)


def avg_pool2d_dgrad(dy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, divisor_override=None, method="auto"):
    """dy: (N, C, P, Q), x_shape: (N, C, H, W) -> dx: (N, C, H, W); the adjoint of avg_pool2d."""
    dy = _as_f64(dy, "dy")
    x_shape = _shape4(x_shape, "x_shape")
    k, st, pd, _, PQ = _avg_problem(x_shape, kernel_size, stride, padding, ceil_mode,
                                    divisor_override)
    _check_dy(dy, x_shape[:2] + PQ)
    div = _avg_divisor(*x_shape[2:], k, st, pd, PQ, count_include_pad, divisor_override)
    work = dy.size * k[0] * k[1]
    impl = _avg_pool_dgrad_naive if _pick(method, work) == "naive" else _avg_pool_dgrad_vectorized
    return impl(dy, x_shape, k, st, pd, PQ, div)
