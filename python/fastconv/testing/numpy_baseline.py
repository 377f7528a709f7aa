"""The NumPy baselines that ``fastconv bench`` times: float32 im2col + one GEMM per group for
convolutions, sliding-window reductions for pools.

These are what a NumPy user would write, not references: correctness is pinned by
``fastconv.testing.reference`` (float64) and tests/test_cli.py. Every function takes and returns
arrays in the benchmark's stored layout (``"NCHW"`` or ``"NHWC"``), float32 in, float32 out.

    x: (N, C, H, W) | (N, H, W, C)   w: (K, C/G, R, S) | (K, R, S, C/G)   y: (N, K, P, Q) | (N, P, Q, K)
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv2d", "conv2d_backward", "pool2d", "pool2d_backward", "im2col_bytes"]


def _windows(x, layout, kernel, stride, pad, value):
    """Padded windows (pad filled with `value`): (N, C, P, Q, R, S) for NCHW, (N, P, Q, C, R, S) for NHWC (views)."""
    axes = (2, 3) if layout == "NCHW" else (1, 2)
    if pad:
        widths = [(0, 0)] * 4
        widths[axes[0]] = widths[axes[1]] = (pad, pad)
        x = np.pad(x, widths, constant_values=value)
    win = sliding_window_view(x, (kernel, kernel), axis=axes)
    return win[:, :, ::stride, ::stride] if layout == "NCHW" else win[:, ::stride, ::stride]


def im2col_bytes(N: int, C: int, P: int, Q: int, kernel: int) -> int:
    """Size of the float32 im2col matrix (what the baseline must allocate)."""
    return 4 * N * P * Q * C * kernel * kernel


def _cols_nhwc(x_nhwc, kernel, stride, pad, groups):
    """NHWC im2col: (G, N*P*Q, R*S*C/G) and (N, P, Q)."""
    win = _windows(x_nhwc, "NHWC", kernel, stride, pad, 0.0)      # (N, P, Q, C, R, S)
    N, P, Q, C = win.shape[:4]
    cols = win.reshape(N * P * Q, groups, C // groups, kernel, kernel).transpose(1, 0, 3, 4, 2)
    return np.ascontiguousarray(cols).reshape(groups, N * P * Q, -1), (N, P, Q)


def _cols_nchw(x, kernel, stride, pad, groups):
    """NCHW im2col: (N, G, C/G*R*S, P*Q) and (N, P, Q)."""
    win = _windows(x, "NCHW", kernel, stride, pad, 0.0)           # (N, C, P, Q, R, S)
    N, C, P, Q = win.shape[:4]
    cols = np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3))   # (N, C, R, S, P, Q)
    return cols.reshape(N, groups, -1, P * Q), (N, P, Q)


def _col2im_nchw(dcols, x_shape, kernel, stride, pad):
    """Adjoint of ``_cols_nchw``: dcols (N, C, R, S, P, Q) -> dx (N, C, H, W), overlaps summed."""
    N, C, H, W = x_shape
    P, Q = dcols.shape[-2:]
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), np.float32)
    span_h, span_w = stride * (P - 1) + 1, stride * (Q - 1) + 1
    for r in range(kernel):
        for s in range(kernel):
            dxp[:, :, r:r + span_h:stride, s:s + span_w:stride] += dcols[:, :, r, s]
    return dxp[:, :, pad:pad + H, pad:pad + W]


def conv2d(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], stride: int, pad: int, groups: int,
           layout: str = "NCHW") -> np.ndarray:
    """Forward conv: im2col, then one GEMM per group (and per image with NCHW)."""
    K = w.shape[0]
    if layout == "NCHW":
        kernel = w.shape[2]
        cols, (N, P, Q) = _cols_nchw(x, kernel, stride, pad, groups)          # (N, G, C/G*R*S, P*Q)
        y = np.matmul(w.reshape(groups, K // groups, -1), cols).reshape(N, K, P, Q)
        if b is not None:
            y += b[:, None, None]
        return y
    kernel = w.shape[1]
    cols, (N, P, Q) = _cols_nhwc(x, kernel, stride, pad, groups)              # (G, N*P*Q, R*S*C/G)
    wm = w.reshape(groups, K // groups, -1).transpose(0, 2, 1)                # (G, R*S*C/G, K/G)
    y = np.matmul(cols, wm)                                                   # (G, N*P*Q, K/G)
    y = (y[0] if groups == 1 else y.transpose(1, 0, 2)).reshape(N, P, Q, K)
    if b is not None:
        y += b
    return np.ascontiguousarray(y)


def conv2d_backward(dy: np.ndarray, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], stride: int,
                    pad: int, groups: int, layout: str = "NCHW", needs: Tuple[bool, bool, bool] = (True, True, True)
                    ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """(dx, dw, db): dx = col2im(W^T dy), dw = dy cols^T, db = the sum of dy.

    ``needs`` (dx, dw, db) skips the gradients not wanted (returned as None), like fastconv's
    ``needs_input_grad``; db is None also when ``b`` is None.
    """
    need_dx, need_dw, need_db = (bool(v) for v in needs)
    K = w.shape[0]
    G, kg = groups, K // groups
    dx = dw = None
    if layout == "NCHW":
        N, C, H, W = x.shape
        kernel = w.shape[2]
        P, Q = dy.shape[2:]
        dy_g = dy.reshape(N, G, kg, P * Q)
        if need_dx:
            wm = w.reshape(G, kg, -1)                                         # (G, K/G, C/G*R*S)
            dcols = np.matmul(wm.transpose(0, 2, 1), dy_g)                    # (N, G, C/G*R*S, P*Q)
            dx = _col2im_nchw(dcols.reshape(N, C, kernel, kernel, P, Q), x.shape, kernel, stride, pad)
            dx = np.ascontiguousarray(dx)
        if need_dw:
            cols, _ = _cols_nchw(x, kernel, stride, pad, groups)              # (N, G, C/G*R*S, P*Q)
            dy_t = dy_g.transpose(1, 2, 0, 3).reshape(G, kg, N * P * Q)       # (G, K/G, N*P*Q)
            cols_t = cols.transpose(1, 0, 3, 2).reshape(G, N * P * Q, -1)     # (G, N*P*Q, C/G*R*S)
            dw = np.matmul(dy_t, cols_t).reshape(w.shape)
        db = None if b is None or not need_db else dy.sum(axis=(0, 2, 3))
        return dx, dw, db

    N, H, W, C = x.shape
    kernel = w.shape[1]
    P, Q = dy.shape[1:3]
    cg = C // G
    dy_g = dy.reshape(N * P * Q, G, kg).transpose(1, 0, 2)                    # (G, N*P*Q, K/G)
    if need_dx:
        wm = w.reshape(G, kg, -1)                                             # (G, K/G, R*S*C/G)
        dcols = np.matmul(dy_g, wm).reshape(G, N, P, Q, kernel, kernel, cg)
        dxp = np.zeros((N, H + 2 * pad, W + 2 * pad, G, cg), np.float32)
        span_h, span_w = stride * (P - 1) + 1, stride * (Q - 1) + 1
        for r in range(kernel):
            for s in range(kernel):
                dxp[:, r:r + span_h:stride, s:s + span_w:stride] += dcols[:, :, :, :, r, s].transpose(1, 2, 3, 0, 4)
        dx = np.ascontiguousarray(dxp[:, pad:pad + H, pad:pad + W]).reshape(N, H, W, C)
    if need_dw:
        cols, _ = _cols_nhwc(x, kernel, stride, pad, groups)                  # (G, N*P*Q, R*S*C/G)
        dw = np.matmul(dy_g.transpose(0, 2, 1), cols).reshape(w.shape)       # KRSC
    db = None if b is None or not need_db else dy.reshape(-1, K).sum(axis=0)
    return dx, dw, db


def pool2d(x: np.ndarray, kind: str, kernel: int, stride: int, pad: int, layout: str = "NCHW") -> np.ndarray:
    """max or avg pool (avg counts padding, as torch's default; floor mode)."""
    if kind == "max":
        return _windows(x, layout, kernel, stride, pad, -np.inf).max(axis=(-2, -1))
    win = _windows(x, layout, kernel, stride, pad, 0.0)
    return win.sum(axis=(-2, -1), dtype=np.float32) / np.float32(kernel * kernel)


def pool2d_backward(dy: np.ndarray, x: np.ndarray, kind: str, kernel: int, stride: int, pad: int,
                    layout: str = "NCHW") -> np.ndarray:
    """dx: max sends each dy to its window's (first) argmax, avg spreads it evenly."""
    if layout == "NCHW":
        N, C, H, W = x.shape
        P, Q = dy.shape[2:]
    else:
        N, H, W, C = x.shape
        P, Q = dy.shape[1:3]
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if kind == "max":
        win = _windows(x, layout, kernel, stride, pad, -np.inf)
        arg = win.reshape(win.shape[:4] + (kernel * kernel,)).argmax(axis=-1)
        hp = np.arange(P)[:, None] * stride + arg // kernel if layout == "NCHW" else \
            np.arange(P)[:, None, None] * stride + arg // kernel
        wp = np.arange(Q) * stride + arg % kernel if layout == "NCHW" else \
            np.arange(Q)[:, None] * stride + arg % kernel
        if layout == "NCHW":    # flat index into (N, C, Hp, Wp)
            flat = (np.arange(N * C).reshape(N, C, 1, 1) * Hp + hp) * Wp + wp
        else:                   # flat index into (N, Hp, Wp, C)
            flat = ((np.arange(N).reshape(N, 1, 1, 1) * Hp + hp) * Wp + wp) * C + np.arange(C)
        dxp = np.bincount(flat.ravel(), weights=dy.ravel(), minlength=N * C * Hp * Wp).astype(np.float32)
    else:
        g = dy / np.float32(kernel * kernel)
        shape = (N, C, Hp, Wp) if layout == "NCHW" else (N, Hp, Wp, C)
        dxp = np.zeros(shape, np.float32)
        span_h, span_w = stride * (P - 1) + 1, stride * (Q - 1) + 1
        for r in range(kernel):
            for s in range(kernel):
                if layout == "NCHW":
                    dxp[:, :, r:r + span_h:stride, s:s + span_w:stride] += g
                else:
                    dxp[:, r:r + span_h:stride, s:s + span_w:stride] += g
    if layout == "NCHW":
        return np.ascontiguousarray(dxp.reshape(N, C, Hp, Wp)[:, :, pad:pad + H, pad:pad + W])
    return np.ascontiguousarray(dxp.reshape(N, Hp, Wp, C)[:, pad:pad + H, pad:pad + W])
